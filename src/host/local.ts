import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { Redactor } from '../log/redact.js';
import { quoteArgv } from '../util/shell.js';
import { CommandFailed, type Command, type Local, type RunOptions, type RunResult } from './host.js';
import { runProcess } from './process.js';

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
    const started = Date.now();
    const child = spawn(file!, args, {
      env: { ...this.baseEnv, ...env },
      cwd: this.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const err: Buffer[] = [];
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const done = new Promise<RunResult>((resolve) => {
      child.on('error', (e) => resolve({ code: 127, stdout: '', stderr: e.message, durationMs: Date.now() - started }));
      child.on('close', (code) =>
        resolve({
          code: code ?? 1,
          stdout: '',
          stderr: Buffer.concat(err).toString('utf8'),
          durationMs: Date.now() - started,
        }),
      );
    });
    return { stdout: child.stdout, done };
  }
}
