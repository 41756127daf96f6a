import { formatDuration } from '../config/duration.js';
import type { Redactor } from './redact.js';
import type { Reporter } from './reporter.js';

/** The CLI's reporter: phases as headed, timed blocks on stderr; everything redacted. */
export class ConsoleReporter implements Reporter {
  constructor(
    private readonly redactor: Redactor,
    private readonly out: (line: string) => void = (l) => process.stderr.write(l + '\n'),
    private readonly verbose = false,
  ) {}

  async phase<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const start = Date.now();
    this.out(`▶ ${name}`);
    try {
      const v = await fn();
      this.out(`✔ ${name} (${formatDuration(Date.now() - start)})`);
      return v;
    } catch (e) {
      this.out(`✘ ${name} (${formatDuration(Date.now() - start)})`);
      throw e;
    }
  }
  info(m: string): void {
    this.out(`  ${this.redactor.redact(m)}`);
  }
  warn(m: string): void {
    this.out(`  warning: ${this.redactor.redact(m)}`);
  }
  error(m: string): void {
    this.out(`  error: ${this.redactor.redact(m)}`);
  }
  debug(m: string): void {
    if (this.verbose) this.out(`  debug: ${this.redactor.redact(m)}`);
  }
}
