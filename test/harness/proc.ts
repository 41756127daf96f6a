/**
 * Process and socket helpers for the harness: run a program and capture its output, chain two programs with
 * pipefail semantics, start detached daemons, poll sockets until they answer. Kept apart from host.ts so that
 * the orchestration reads as a sequence of steps.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync, existsSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOpts {
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** default true: a non-zero exit throws */
  check?: boolean;
  timeoutMs?: number;
}

/** The environment daemons and tools get: predictable PATH, none of the caller's DOCKER_* or SSH_* settings. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: process.env.HOME ?? '/root',
    LANG: 'C.UTF-8',
    ...extra,
  };
}

export class RunError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly result: Ran,
  ) {
    const tail = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-15).join('\n');
    super(`${argv.join(' ')} exited ${result.code}${tail ? `:\n${tail}` : ''}`);
    this.name = 'RunError';
  }
}

/** `piped`: the child's stdout feeds another process, so it is not kept (an image tarball would not fit a string) */
function collect(child: ChildProcess, argv: readonly string[], opts: RunOpts, piped = false): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    if (!piped) child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) {
      timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    }
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(new Error(`cannot run ${argv[0]}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const res: Ran = {
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      };
      if (opts.check !== false && res.code !== 0) reject(new RunError(argv, res));
      else resolve(res);
    });
  });
}

export function run(argv: readonly string[], opts: RunOpts = {}): Promise<Ran> {
  const [prog, ...args] = argv;
  if (!prog) throw new Error('run: empty argv');
  const child = spawn(prog, args, {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const done = collect(child, argv, opts);
  child.stdin?.on('error', () => {}); // a program that exits without reading its input is not our failure
  child.stdin?.end(opts.input ?? '');
  return done;
}

/**
 * `a | b | …` where every stage must succeed (pipefail): a failing producer is an error even when the consumer
 * was happy with what it got. Returns the last stage's output.
 */
export async function pipeline(stages: readonly (readonly string[])[], opts: RunOpts = {}): Promise<Ran> {
  const children: ChildProcess[] = [];
  const results: Promise<Ran>[] = [];
  for (const [i, argv] of stages.entries()) {
    const [prog, ...args] = argv;
    if (!prog) throw new Error('pipeline: empty stage');
    const last = i === stages.length - 1;
    const child = spawn(prog, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['pipe', last ? 'pipe' : 'pipe', 'pipe'],
    });
    const prev = children[children.length - 1];
    if (prev?.stdout && child.stdin) prev.stdout.pipe(child.stdin);
    else child.stdin?.end(opts.input ?? '');
    child.stdin?.on('error', () => {});
    children.push(child);
    // non-last stages: their stdout is piped onward, so collect() only sees stderr
    results.push(collect(child, argv, { ...opts, check: false }, !last));
  }
  const all = await Promise.all(results);
  for (const [i, r] of all.entries()) {
    if (r.code !== 0 && opts.check !== false) throw new RunError(stages[i] ?? [], r);
  }
  return all[all.length - 1] as Ran;
}

/** Start a long-running program detached from us, its output appended to a log file. */
export function spawnDetached(argv: readonly string[], logFile: string, env: NodeJS.ProcessEnv): ChildProcess {
  const [prog, ...args] = argv;
  if (!prog) throw new Error('spawnDetached: empty argv');
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(prog, args, { detached: true, stdio: ['ignore', fd, fd], env });
    child.on('error', () => {}); // surfaced by the readiness wait instead
    child.unref();
    return child;
  } finally {
    closeSync(fd);
  }
}

/** A pid that is running (not a zombie) and whose command line contains every given fragment. */
export function pidMatches(pid: number, fragments: readonly string[]): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return false;
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
    return fragments.every((f) => cmdline.includes(f));
  } catch {
    return false;
  }
}

export function readPid(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  const n = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
  return Number.isInteger(n) && n > 1 ? n : undefined;
}

export function alive(pid: number): boolean {
  return pidMatches(pid, []);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Poll `probe` until it returns a value (not undefined) or the deadline passes; `failFast` aborts early. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  opts: { timeoutMs: number; intervalMs?: number; failFast?: () => string | undefined },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let interval = opts.intervalMs ?? 25;
  let lastErr = '';
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      lastErr = e instanceof Error ? e.message : String(e);
    }
    const fatal = opts.failFast?.();
    if (fatal) throw new Error(`${what}: ${fatal}`);
    if (Date.now() > deadline) {
      throw new Error(`${what}: not ready after ${opts.timeoutMs} ms${lastErr ? ` (last error: ${lastErr})` : ''}`);
    }
    await sleep(interval);
    interval = Math.min(interval * 1.5, 250);
  }
}

/** The status and text body of a request once sent; a timeout (the request's own option) or an error rejects. */
export function textAnswer(req: http.ClientRequest): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** One request to the Docker Engine API over its unix socket — far cheaper than spawning the CLI. */
export function dockerApi(
  socketPath: string,
  path: string,
  timeoutMs = 2000,
): Promise<{ status: number; body: string }> {
  const req = http.request({ socketPath, path, method: 'GET', timeout: timeoutMs });
  const answer = textAnswer(req);
  req.end();
  return answer;
}

export async function dockerPing(socketPath: string): Promise<boolean> {
  try {
    const r = await dockerApi(socketPath, '/_ping', 1000);
    return r.status === 200 && r.body === 'OK';
  } catch {
    return false;
  }
}

/** Connect to host:port and read the first line the server sends (an SSH banner), or undefined. */
export function readBanner(host: string, port: number, timeoutMs = 1000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    let buf = '';
    const finish = (v: string | undefined) => {
      sock.destroy();
      resolve(v);
    };
    sock.setTimeout(timeoutMs, () => finish(undefined));
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      const nl = buf.indexOf('\n');
      if (nl >= 0) finish(buf.slice(0, nl).trim());
    });
    sock.on('error', () => finish(undefined));
    sock.on('end', () => finish(buf ? buf.trim() : undefined));
  });
}

/** A TCP port on 127.0.0.1 that nothing listens on right now (the kernel picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** Last lines of a log file, for error messages. */
export function logTail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
