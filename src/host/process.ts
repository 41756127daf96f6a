import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { RunResult } from './host.js';

export interface ProcessOptions {
  stdin?: string | Buffer | Readable;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** The one place a process is spawned: no shell, bounded time, stdout/stderr captured. */
export function runProcess(file: string, args: readonly string[], opts: ProcessOptions = {}): Promise<RunResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(file, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    if (opts.timeoutMs) {
      timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, opts.timeoutMs);
    }
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.stdin.on('error', () => undefined); // the command may exit before reading all input
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      resolve({ code: 127, stdout: '', stderr: `${file}: ${e.message}`, durationMs: Date.now() - started });
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const stderr =
        Buffer.concat(err).toString('utf8') + (timedOut ? `\n${file}: timed out after ${opts.timeoutMs} ms` : '');
      resolve({
        code: code ?? (signal ? 128 + 9 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr,
        durationMs: Date.now() - started,
      });
    });
    const input = opts.stdin;
    if (input === undefined) child.stdin.end();
    else if (typeof input === 'string' || Buffer.isBuffer(input)) child.stdin.end(input);
    else input.pipe(child.stdin);
  });
}

/**
 * A process whose stdout is consumed as a stream (docker save → docker load, a snapshot to rclone): `done`
 * settles with its exit code and stderr once it has ended; its stdout is left to the caller.
 */
export function streamProcess(
  file: string,
  args: readonly string[],
  opts: Omit<ProcessOptions, 'stdin'> = {},
): { stdout: Readable; done: Promise<RunResult> } {
  const started = Date.now();
  const child = spawn(file, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const err: Buffer[] = [];
  child.stderr.on('data', (d: Buffer) => err.push(d));
  let timer: NodeJS.Timeout | undefined;
  if (opts.timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
  const done = new Promise<RunResult>((resolve) => {
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      resolve({ code: 127, stdout: '', stderr: `${file}: ${e.message}`, durationMs: Date.now() - started });
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({
        code: code ?? (signal ? 128 + 9 : 1),
        stdout: '',
        stderr: Buffer.concat(err).toString('utf8'),
        durationMs: Date.now() - started,
      });
    });
  });
  return { stdout: child.stdout, done };
}
