import type { Readable } from 'node:stream';
import type { Redactor } from '../log/redact.js';
import { quoteArgv } from '../util/shell.js';
import { CommandFailed, type Command, type Local, type RunOptions, type RunResult } from './host.js';
import { runProcess, streamProcess } from './process.js';

/** The deployer's own machine: git, docker build/save. Runs argv directly, never through a shell. */
export class LocalMachine implements Local {
  constructor(
    private readonly redactor: Redactor,
    private readonly baseEnv: NodeJS.ProcessEnv = process.env,
    private readonly cwd?: string,
  ) {}

  async run(command: Command, opts: RunOptions & { env?: Record<string, string> } = {}): Promise<RunResult> {
    const [file, ...args] = command.argv;
    const r = await runProcess(file!, args, {
      stdin: opts.stdin,
      timeoutMs: opts.timeoutMs,
      env: { ...this.baseEnv, ...opts.env },
      cwd: this.cwd,
    });
    if (r.code !== 0 && opts.check !== false) {
      throw new CommandFailed(
        command.argv,
        { ...r, stderr: this.redactor.redact(r.stderr) },
        this.redactor.redact(quoteArgv(command.argv)),
      );
    }
    return r;
  }

  stream(command: Command, env?: Record<string, string>): { stdout: Readable; done: Promise<RunResult> } {
    const [file, ...args] = command.argv;
    return streamProcess(file!, args, { env: { ...this.baseEnv, ...env }, cwd: this.cwd });
  }
}
