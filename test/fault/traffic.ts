/**
 * Steady traffic through an environment's proxy while a fault is injected: three paced lanes — keep-alive GET,
 * keep-alive POST and a fresh connection per GET — so every way a client meets the switch is exercised without
 * starving the deployer of CPU on a small machine. Any non-2xx answer, socket error or timeout is a failure.
 * Only 127.0.0.1 is ever addressed, and a lane stops by itself after `maxMs`.
 */
import http from 'node:http';

export interface TrafficResult {
  total: number;
  failed: number;
  /** failures by kind: http-502, ECONNRESET, timeout, … */
  kinds: Record<string, number>;
  lanes: Record<string, { total: number; failed: number }>;
  /** git_commit values seen in answers */
  versions: Set<string>;
  /** first failures, for the report: lane, kind, ms since start */
  samples: string[];
  /** every failure: lane, kind and the epoch ms the request was sent */
  failures: { lane: string; kind: string; at: number }[];
}

interface Lane {
  name: string;
  method: 'GET' | 'POST';
  path: string;
  keepAlive: boolean;
  periodMs: number;
}

const LANES: Lane[] = [
  { name: 'ka-get', method: 'GET', path: '/echo?lane=ka-get', keepAlive: true, periodMs: 15 },
  { name: 'ka-post', method: 'POST', path: '/echo?lane=ka-post', keepAlive: true, periodMs: 30 },
  { name: 'fresh-get', method: 'GET', path: '/version', keepAlive: false, periodMs: 30 },
];

export function startTraffic(
  port: number,
  opts: { maxMs?: number; timeoutMs?: number } = {},
): { stop(): Promise<TrafficResult> } {
  const started = Date.now();
  const hardStop = started + (opts.maxMs ?? 10 * 60_000);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const result: TrafficResult = {
    total: 0,
    failed: 0,
    kinds: {},
    lanes: {},
    versions: new Set(),
    samples: [],
    failures: [],
  };
  let running = true;

  const one = (lane: Lane, agent: http.Agent | false, seq: number) =>
    new Promise<void>((resolve) => {
      const sent = Date.now();
      let done = false;
      const finish = (kind: string | undefined, body?: string) => {
        if (done) return;
        done = true;
        const l = (result.lanes[lane.name] ??= { total: 0, failed: 0 });
        result.total++;
        l.total++;
        if (kind) {
          result.failed++;
          l.failed++;
          result.kinds[kind] = (result.kinds[kind] ?? 0) + 1;
          if (result.failures.length < 1000) result.failures.push({ lane: lane.name, kind, at: sent });
          if (result.samples.length < 10) result.samples.push(`${lane.name} ${kind} at +${Date.now() - started}ms`);
        } else if (body) {
          try {
            const c = (JSON.parse(body) as { git_commit?: unknown }).git_commit;
            if (typeof c === 'string') result.versions.add(c);
          } catch {
            // an answer without JSON is still a success by status
          }
        }
        resolve();
      };
      const payload = lane.method === 'POST' ? JSON.stringify({ lane: lane.name, seq }) : undefined;
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          method: lane.method,
          path: lane.path,
          agent,
          headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {},
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (d: Buffer) => chunks.push(d));
          res.on('aborted', () => finish('aborted'));
          res.on('error', (e: NodeJS.ErrnoException) => finish(e.code ?? 'response-error'));
          res.on('end', () => {
            const ok = res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300;
            finish(ok ? undefined : `http-${res.statusCode}`, Buffer.concat(chunks).toString('utf8'));
          });
        },
      );
      req.setTimeout(timeoutMs, () => {
        finish('timeout');
        req.destroy();
      });
      req.on('error', (e: NodeJS.ErrnoException) => finish(e.code ?? e.message));
      req.end(payload);
    });

  const loops = LANES.map(async (lane) => {
    const agent = lane.keepAlive ? new http.Agent({ keepAlive: true, maxSockets: 1 }) : false;
    let seq = 0;
    while (running && Date.now() < hardStop) {
      const t0 = Date.now();
      await one(lane, agent, seq++);
      const wait = lane.periodMs - (Date.now() - t0);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    if (agent) agent.destroy();
  });

  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      return result;
    },
  };
}

export function describeTraffic(t: TrafficResult): string {
  const kinds = Object.entries(t.kinds)
    .map(([k, n]) => `${k}×${n}`)
    .join(', ');
  return `${t.total} requests, ${t.failed} failed${kinds ? ` (${kinds})` : ''}`;
}
