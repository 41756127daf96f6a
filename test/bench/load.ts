/**
 * Load generator for the zero-downtime bench and test: lanes of HTTP requests through the environment's Caddy
 * port, each lane in a child process of its own so neither the deployer's CPU use nor another lane's event loop
 * delays its requests. Every request is recorded (start, latency, outcome, which colour served it); the parent
 * classifies them afterwards against the switch windows it learnt from the deployer.
 *
 * Lanes:  ka-get / ka-post       keep-alive connections, GET or POST /echo (small JSON body)
 *         fresh-get / fresh-post  a new TCP connection per request
 *         slow                    GET /slow?ms=<random in slowMs>, `concurrency` always in flight
 * A failure is any non-2xx answer, socket error or timeout, named by kind (http-503, ECONNRESET, timeout, …).
 * With `tls` the lanes speak HTTPS to the same 127.0.0.1:port (a front proxy's): SNI and Host are the domain, the
 * server's chain must lead to `ca`; a TLS failure is named by its code (ERR_TLS_CERT_ALTNAME_INVALID, EPROTO, …).
 *
 * Optional extra keep-alive GET volume from wrk (`startWrk`): counted, but it only reports totals.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

export const LANES = ['ka-get', 'ka-post', 'fresh-get', 'fresh-post', 'slow'] as const;
export type LaneName = (typeof LANES)[number];

export interface LaneSpec {
  name: LaneName;
  /** requests in flight at all times */
  concurrency: number;
}

/**
 * The lanes and the slow requests' range as the benches' options give them (--ka, --fresh, --slow, --slow-ms),
 * each checked by `int` (which reports a bad value); the keep-alive lanes may go up to `kaMax` connections.
 */
export function laneOptions(
  o: { ka?: string; fresh?: string; slow?: string; 'slow-ms'?: string },
  int: (v: string, name: string, min: number, max: number) => number,
  fail: (msg: string) => never,
  kaMax: number,
): { lanes: LaneSpec[]; slowMs: [number, number] } {
  const [slowMin, slowMax] = o['slow-ms']!.split('-').map(Number) as [number, number];
  if (!(slowMin > 0 && slowMax >= slowMin && slowMax <= 20_000)) fail('--slow-ms A-B: 0 < A <= B <= 20000');
  const lanes: LaneSpec[] = [
    { name: 'ka-get', concurrency: int(o.ka!, 'ka', 1, kaMax) },
    { name: 'ka-post', concurrency: int(o.ka!, 'ka', 1, kaMax) },
    { name: 'fresh-get', concurrency: int(o.fresh!, 'fresh', 1, 32) },
    { name: 'fresh-post', concurrency: int(o.fresh!, 'fresh', 1, 32) },
    { name: 'slow', concurrency: int(o.slow!, 'slow', 1, 32) },
  ];
  return { lanes, slowMs: [slowMin, slowMax] };
}

export interface LoadOptions {
  /** the proxy's published port on 127.0.0.1, or on `host` */
  port: number;
  /** where the proxy listens (127.0.0.1); the swarm bench dials the edge node from the deployer's namespace */
  host?: string;
  lanes: LaneSpec[];
  /** slow lane: request durations drawn from [min, max] ms */
  slowMs?: [number, number];
  /** a fast-lane request with no answer after this long is a failure */
  timeoutMs?: number;
  /** the same for the slow lane (on top of the requested duration) */
  slowTimeoutMs?: number;
  /** hard bounds: a lane stops on its own after this long or this many requests, whatever the parent does */
  maxDurationMs?: number;
  maxRequestsPerLane?: number;
  /** pause after each request of a fast lane (0: as fast as answers come); keeps a CI run from saturating the host */
  pauseMs?: number;
  /** HTTPS instead of HTTP, still to 127.0.0.1:port: SNI and Host header = servername, trusting only `ca` (PEM) */
  tls?: { servername: string; ca: string };
}

/** Everything one lane recorded; index i is one request. */
export interface LaneRaw {
  lane: LaneName;
  /** epoch ms (sub-ms precision) when the request was sent */
  start: Float64Array;
  /** ms until the answer was complete (or the failure) */
  latency: Float64Array;
  /** 0 = success, else 1 + index into `kinds` */
  outcome: Uint16Array;
  /** colour that answered, from X-Togather-Upstream: 0 unknown, 1 blue, 2 green */
  upstream: Uint8Array;
  kinds: string[];
  /** successful POSTs (to compare with what the app counted) */
  postOk: number;
  /** the lane stopped because it hit a hard bound rather than the parent's stop */
  bounded: boolean;
}

export interface LoadRun {
  /** stop sending; in-flight requests finish (bounded by their timeouts); the lanes' records */
  stop(): Promise<LaneRaw[]>;
  /** pids of the lane processes (for the report) */
  pids: number[];
}

const COLOURS: Record<string, number> = { 'app-blue': 1, 'app-green': 2 };
export const COLOUR_NAMES = ['?', 'blue', 'green'] as const;

const WORKER_FLAG = '--tgd-load-lane';

/** Forks one child per lane and resolves once each has its first answer or failure (they are warm). */
export async function startLoad(opts: LoadOptions): Promise<LoadRun> {
  const self = fileURLToPath(import.meta.url);
  const children: { child: ChildProcess; result: Promise<LaneRaw> }[] = [];
  for (const spec of opts.lanes) {
    const child = fork(self, [WORKER_FLAG], {
      execArgv: ['--import', 'tsx'],
      serialization: 'advanced', // typed arrays cross the channel as they are
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const ready = new Promise<void>((res, rej) => {
      child.once('message', (m: { type: string }) =>
        m.type === 'ready' ? res() : rej(new Error(`lane ${spec.name}: ${JSON.stringify(m)}`)),
      );
      child.once('exit', (code) => rej(new Error(`lane ${spec.name} exited early (${code})`)));
    });
    const result = new Promise<LaneRaw>((res, rej) => {
      child.on('message', (m: { type: string; raw?: LaneRaw }) => {
        if (m.type === 'result' && m.raw) res(m.raw);
      });
      child.once('exit', (code) => rej(new Error(`lane ${spec.name} exited (${code}) without a result`)));
    });
    result.catch(() => undefined); // surfaced by stop()
    child.send({ type: 'start', opts, lane: spec });
    children.push({ child, result });
    await ready;
  }
  return {
    pids: children.map((c) => c.child.pid ?? 0),
    async stop() {
      for (const c of children) if (c.child.connected) c.child.send({ type: 'stop' });
      return Promise.all(children.map((c) => c.result));
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The lane process.

function runLane(opts: LoadOptions, spec: LaneSpec): Promise<LaneRaw> {
  const lane = spec.name;
  const post = lane === 'ka-post' || lane === 'fresh-post';
  const keepAlive = lane === 'ka-get' || lane === 'ka-post' || lane === 'slow';
  const secure = opts.tls;
  const agentOpts = { keepAlive: true, maxSockets: spec.concurrency };
  const agent = keepAlive ? (secure ? new https.Agent(agentOpts) : new http.Agent(agentOpts)) : undefined;
  // the TLS settings go with each request: a fresh lane (agent false) has no agent to carry them
  const tlsOpts = secure ? { servername: secure.servername, ca: secure.ca } : {};
  const hostHeader: Record<string, string> = secure ? { host: secure.servername } : {};
  const request = secure ? https.request : http.request;
  const [slowMin, slowMax] = opts.slowMs ?? [3000, 5000];
  const timeoutMs = lane === 'slow' ? slowMax + (opts.slowTimeoutMs ?? 10_000) : (opts.timeoutMs ?? 10_000);
  const maxRequests = opts.maxRequestsPerLane ?? 2_000_000;
  const hardStop = Date.now() + (opts.maxDurationMs ?? 15 * 60_000);
  const pauseMs = lane === 'slow' ? 0 : (opts.pauseMs ?? 0);

  const start: number[] = [];
  const latency: number[] = [];
  const outcome: number[] = [];
  const upstream: number[] = [];
  const kinds: string[] = [];
  let postOk = 0;
  let running = true;
  let bounded = false;
  const now = () => performance.timeOrigin + performance.now();
  const kindIndex = (k: string) => {
    let i = kinds.indexOf(k);
    if (i < 0) i = kinds.push(k) - 1;
    return i + 1;
  };

  const one = (seq: number) =>
    new Promise<void>((resolve) => {
      const t0 = now();
      let done = false;
      const finish = (kind: string | undefined, up: number) => {
        if (done) return;
        done = true;
        start.push(t0);
        latency.push(now() - t0);
        outcome.push(kind === undefined ? 0 : kindIndex(kind));
        upstream.push(up);
        if (kind === undefined && post) postOk++;
        resolve();
      };
      const body = post ? JSON.stringify({ lane, seq, at: Date.now() }) : undefined;
      const path =
        lane === 'slow'
          ? `/slow?ms=${Math.round(slowMin + Math.random() * (slowMax - slowMin))}`
          : `/echo?lane=${lane}`;
      const req = request(
        {
          host: opts.host ?? '127.0.0.1',
          port: opts.port,
          method: post ? 'POST' : 'GET',
          path,
          agent: agent ?? false, // false: a new connection, closed after the answer
          headers: body
            ? { ...hostHeader, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }
            : { ...hostHeader },
          ...tlsOpts,
        },
        (res) => {
          const up = COLOURS[String(res.headers['x-togather-upstream'] ?? '')] ?? 0;
          res.on('data', () => undefined);
          res.on('aborted', () => finish('aborted', up));
          res.on('error', (e: NodeJS.ErrnoException) => finish(e.code ?? 'response-error', up));
          res.on('end', () =>
            finish(
              res.statusCode && res.statusCode >= 200 && res.statusCode < 300 ? undefined : `http-${res.statusCode}`,
              up,
            ),
          );
        },
      );
      req.setTimeout(timeoutMs, () => {
        finish('timeout', 0);
        req.destroy();
      });
      req.on('error', (e: NodeJS.ErrnoException) => finish(e.code ?? e.message, 0));
      req.end(body);
    });

  let seq = 0;
  const loop = async () => {
    while (running) {
      if (seq >= maxRequests || Date.now() > hardStop) {
        bounded = true;
        running = false;
        break;
      }
      await one(seq++);
      if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
    }
  };

  return new Promise((resolve) => {
    process.on('message', (m: { type: string }) => {
      if (m.type === 'stop') running = false;
    });
    const loops = Array.from({ length: spec.concurrency }, loop);
    process.send!({ type: 'ready' });
    void Promise.all(loops).then(() => {
      agent?.destroy();
      resolve({
        lane,
        start: Float64Array.from(start),
        latency: Float64Array.from(latency),
        outcome: Uint16Array.from(outcome),
        upstream: Uint8Array.from(upstream),
        kinds,
        postOk,
        bounded,
      });
    });
  });
}

if (process.argv[2] === WORKER_FLAG && process.send) {
  process.once('message', (m: { type: string; opts: LoadOptions; lane: LaneSpec }) => {
    if (m.type !== 'start') return;
    void runLane(m.opts, m.lane).then((raw) => {
      process.send!({ type: 'result', raw }, () => process.exit(0));
    });
  });
  // the parent went away: nothing to report to
  process.on('disconnect', () => process.exit(0));
}

// ---------------------------------------------------------------------------------------------------------------
// wrk: extra keep-alive GET volume. It reports totals only (no timestamps), so it is a lane of its own.

export interface WrkResult {
  requests: number;
  failures: Record<string, number>;
  p50Ms?: number;
  p99Ms?: number;
  raw: string;
}

export function startWrk(port: number, connections: number, maxSeconds: number): { stop(): Promise<WrkResult> } {
  const child = spawn(
    'wrk',
    [
      '-t1',
      `-c${connections}`,
      `-d${maxSeconds}s`,
      '--timeout',
      '10s',
      '--latency',
      `http://127.0.0.1:${port}/echo?lane=wrk`,
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<void>((res) => child.on('close', () => res()));
  return {
    async stop() {
      if (child.exitCode === null) child.kill('SIGINT'); // wrk prints its totals on SIGINT
      await exited;
      return parseWrk(out);
    },
  };
}

export function parseWrk(out: string): WrkResult {
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? 0);
  const failures: Record<string, number> = {};
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  if (sock) {
    (['connect', 'read', 'write', 'timeout'] as const).forEach((k, i) => {
      const n = Number(sock[i + 1]);
      if (n) failures[`socket-${k}`] = n;
    });
  }
  const non2xx = num(/Non-2xx or 3xx responses: (\d+)/);
  if (non2xx) failures['non-2xx'] = non2xx;
  const ms = (label: string) => {
    const m = new RegExp(`^\\s+${label}%\\s+([\\d.]+)(us|ms|s)`, 'm').exec(out);
    if (!m) return undefined;
    return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1);
  };
  return { requests: num(/(\d+) requests in/), failures, p50Ms: ms('50'), p99Ms: ms('99'), raw: out };
}

// ---------------------------------------------------------------------------------------------------------------
// Analysis: requests split by switch windows.

export interface Window {
  label: string;
  start: number;
  end: number;
}

export interface LaneSummary {
  lane: string;
  requests: number;
  ok: number;
  failures: Record<string, number>;
  /** failures that happened inside a switch window */
  failuresInWindows: number;
  postOk?: number;
  inside: { n: number; p50?: number; p99?: number };
  outside: { n: number; p50?: number; p99?: number };
  /** first few failures: when (relative to the nearest window start) and what */
  samples: { at: string; kind: string; latencyMs: number }[];
}

/** a request belongs to a window when its lifetime overlaps it */
export function inWindow(start: number, end: number, windows: readonly Window[]): Window | undefined {
  return windows.find((w) => start <= w.end && end >= w.start);
}

function percentile(sorted: number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export function summarize(raw: LaneRaw, windows: readonly Window[], t0: number): LaneSummary {
  const inside: number[] = [];
  const outside: number[] = [];
  const failures: Record<string, number> = {};
  const samples: LaneSummary['samples'] = [];
  let ok = 0;
  let failuresInWindows = 0;
  for (let i = 0; i < raw.start.length; i++) {
    const s = raw.start[i]!;
    const l = raw.latency[i]!;
    const w = inWindow(s, s + l, windows);
    const o = raw.outcome[i]!;
    if (o === 0) {
      ok++;
      (w ? inside : outside).push(l);
      continue;
    }
    const kind = raw.kinds[o - 1] ?? '?';
    failures[kind] = (failures[kind] ?? 0) + 1;
    if (w) failuresInWindows++;
    if (samples.length < 10)
      samples.push({
        at: `${((s - t0) / 1000).toFixed(3)}s${w ? ` (${w.label} +${((s - w.start) / 1000).toFixed(3)}s)` : ''}`,
        kind,
        latencyMs: Math.round(l),
      });
  }
  inside.sort((a, b) => a - b);
  outside.sort((a, b) => a - b);
  const stats = (a: number[]) => ({ n: a.length, p50: round(percentile(a, 50)), p99: round(percentile(a, 99)) });
  return {
    lane: raw.lane,
    requests: raw.start.length,
    ok,
    failures,
    failuresInWindows,
    postOk: raw.lane.endsWith('post') ? raw.postOk : undefined,
    inside: stats(inside),
    outside: stats(outside),
    samples,
  };
}

function round(n: number | undefined): number | undefined {
  return n === undefined ? undefined : Math.round(n * 10) / 10;
}

/**
 * Slow requests that were in flight when a window opened: they must finish with a success, on the colour that
 * served before the switch. Returns per window how many there were and how many did not.
 */
export function slowAcrossSwitches(
  raw: LaneRaw,
  windows: readonly (Window & { from?: 'blue' | 'green' })[],
): { label: string; inFlight: number; ok: number; onOldColour: number }[] {
  return windows.map((w) => {
    let inFlight = 0;
    let ok = 0;
    let onOld = 0;
    for (let i = 0; i < raw.start.length; i++) {
      const s = raw.start[i]!;
      if (s < w.start && s + raw.latency[i]! > w.start) {
        inFlight++;
        if (raw.outcome[i] === 0) ok++;
        if (w.from && COLOUR_NAMES[raw.upstream[i]!] === w.from) onOld++;
      }
    }
    return { label: w.label, inFlight, ok, onOldColour: onOld };
  });
}
