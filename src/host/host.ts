import type { Readable } from 'node:stream';

/** A command is data: a program and its arguments, never a shell string. Quoting happens once, at the transport. */
export interface Command {
  readonly argv: readonly string[];
}

export interface RunOptions {
  /** bytes or a stream fed to the command's standard input (secrets travel this way, never in argv) */
  stdin?: string | Buffer | Readable;
  timeoutMs?: number;
  /** default true: a non-zero exit throws a CommandFailed */
  check?: boolean;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export class CommandFailed extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly result: RunResult,
    /** the argv as it may be shown (already redacted by whoever builds the message) */
    shown: string,
  ) {
    super(`command failed (exit ${result.code}): ${shown}${result.stderr.trim() ? `\n${tail(result.stderr)}` : ''}`);
    this.name = 'CommandFailed';
  }
}

function tail(text: string, lines = 12): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

/** The one port the engine uses to act on a target host. OpenSSH implements it; unit tests use a fake. */
export interface Host {
  /** how the host is named in messages, e.g. deploy@203.0.113.7:22 */
  readonly name: string;
  /** commands sent so far, one session (one round trip) each; the phases report how many each of them cost */
  readonly roundTrips?: number;
  /** opens the transport up front (one connection every later run reuses); a host without one may omit it */
  connect?(): Promise<void>;
  run(cmd: Command, opts?: RunOptions): Promise<RunResult>;
  /**
   * start a command whose stdout is read as a stream, binary and unbuffered (a snapshot leaving the host);
   * `done` settles like run() once it has ended. Optional: only the off-host snapshot copies need it.
   */
  stream?(cmd: Command, opts?: Pick<RunOptions, 'timeoutMs' | 'check'>): { stdout: Readable; done: Promise<RunResult> };
  close(): Promise<void>;
}

/** The machine the deployer runs on (the CI runner or a workstation): builds, git, image export. */
export interface Local {
  run(cmd: Command, opts?: RunOptions & { env?: Record<string, string> }): Promise<RunResult>;
  /** start a command whose stdout is streamed into something else (docker save → host docker load) */
  stream(cmd: Command, env?: Record<string, string>): { stdout: Readable; done: Promise<RunResult> };
}

export function cmd(...argv: string[]): Command {
  return { argv };
}

/**
 * A fixed POSIX sh script with its data passed as positional parameters ($1, $2, …): the script text is a
 * constant of this codebase, so no value can change what runs.
 */
export function script(text: string, ...args: string[]): Command {
  return { argv: ['sh', '-c', text, 'togather-deploy', ...args] };
}
