import type { Host } from '../../host/host.js';
import type { Redactor } from '../../log/redact.js';
import type { EventLog } from '../context.js';
import { appendFileCmd } from './commands.js';

/**
 * The deployment's JSON-lines log on the host (logs/<deployment id>.jsonl). Lines are buffered and appended
 * in one round trip per phase rather than one per line; every line is redacted before it is buffered.
 */
export class HostLog implements EventLog {
  private buffer: string[] = [];
  constructor(
    private readonly host: Host,
    private readonly redactor: Redactor,
    readonly path: string,
    private readonly deploymentId: string,
  ) {}

  add(event: string, data: Record<string, unknown> = {}): void {
    const line = JSON.stringify({ ts: new Date().toISOString(), deployment_id: this.deploymentId, event, ...data });
    this.buffer.push(this.redactor.redact(line));
  }

  async flush(): Promise<void> {
    if (this.buffer.length === 0) return;
    const text = this.buffer.join('\n') + '\n';
    this.buffer = [];
    await this.host.run(appendFileCmd(this.path), { stdin: text, check: false });
  }
}
