/**
 * Steps the bench and the zero-downtime test share: run the CLI while timing its phases as they happen, find
 * the switch window of an operation, read what the app counted, and the naive switch the reference uses
 * (rewrite the Caddyfile to the new colour only, then `caddy reload`) for comparison.
 */
import { spawn } from 'node:child_process';
import { hostDocker, hostSsh } from '../harness/host.js';
import { CLI, ROOT, cliArgs, type TestEnv } from '../e2e/support.js';
import type { Window } from './load.js';
import { caddyReloadCmd } from '../../src/engine/stack/commands.js';

export type Colour = 'blue' | 'green';
export const other = (c: Colour): Colour => (c === 'blue' ? 'green' : 'blue');

export interface TimedLine {
  /** epoch ms when the line reached us */
  t: number;
  text: string;
}

export interface StreamedRun {
  code: number;
  stdout: string;
  stderr: string;
  lines: TimedLine[];
  startedAt: number;
  endedAt: number;
}

/**
 * The CLI for one environment, its stderr read line by line as it comes so each phase's start and end get a
 * wall-clock time (the load generator's requests are compared with these).
 */
export function runCliStreaming(
  env: TestEnv,
  args: string[],
  timeoutMs = 240_000,
  entry = CLI,
  extraEnv: Record<string, string> = {},
): Promise<StreamedRun> {
  const argv = cliArgs(env, args);
  const startedAt = Date.now();
  return new Promise((resolve) => {
    // the source through tsx, or a bundle (dist/cli/index.js), which starts as an operator's CLI does
    const child = spawn(process.execPath, [...(entry.endsWith('.ts') ? ['--import', 'tsx'] : []), entry, ...argv], {
      cwd: ROOT,
      env: { HOME: process.env.HOME ?? '/root', ...env.info.runnerEnv, ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let partial = '';
    const lines: TimedLine[] = [];
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => {
      const t = Date.now();
      stderr += d;
      const parts = (partial + d.toString()).split('\n');
      partial = parts.pop() ?? '';
      for (const text of parts) lines.push({ t, text });
    });
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (partial) lines.push({ t: Date.now(), text: partial });
      resolve({ code: code ?? 1, stdout, stderr, lines, startedAt, endedAt: Date.now() });
    });
  });
}

export interface PhaseSpan {
  name: string;
  start: number;
  end: number;
  ok: boolean;
}

/** "▶ name" opens a phase, "✔ name (1.2s)" or "✘ name (…)" closes it (the CLI's console reporter). */
export function phaseSpans(lines: readonly TimedLine[]): PhaseSpan[] {
  const open = new Map<string, number>();
  const spans: PhaseSpan[] = [];
  for (const { t, text } of lines) {
    const started = /^▶ (.+)$/.exec(text);
    if (started) {
      open.set(started[1]!, t);
      continue;
    }
    const ended = /^([✔✘]) (.+) \([^)]*\)$/.exec(text);
    if (ended && open.has(ended[2]!)) {
      spans.push({ name: ended[2]!, start: open.get(ended[2]!)!, end: t, ok: ended[1] === '✔' });
      open.delete(ended[2]!);
    }
  }
  return spans.sort((a, b) => a.start - b.start);
}

/** "start green" → "start", "retire blue" → "retire": the same column whatever the colour */
export function phaseKey(name: string): string {
  return name.replace(/ (blue|green)( \(.*\))?$/, '');
}

export interface OperationTiming {
  label: string;
  code: number;
  totalMs: number;
  phases: { name: string; ms: number; ok: boolean }[];
  /** from the start of the switch phase to the end of the retire phase */
  window?: Window & { from?: Colour; to?: Colour };
  /** how long both colours' apps ran at once: start of the new colour to the end of the old one's retire */
  overlapMs?: number;
  /** the CLI's progress lines with their time from its start (its output is redacted by the tool itself) */
  output?: string[];
}

export function timeOperation(label: string, run: StreamedRun): OperationTiming {
  const spans = phaseSpans(run.lines);
  const sw = spans.find((s) => s.name.startsWith('switch'));
  const retire = [...spans].reverse().find((s) => s.name.startsWith('retire'));
  const start = spans.find((s) => /^start (blue|green)\b/.test(s.name));
  const from = retire ? (/(blue|green)$/.exec(retire.name)?.[1] as Colour | undefined) : undefined;
  const to = start ? (/(blue|green)/.exec(start.name)?.[1] as Colour | undefined) : from && other(from);
  const window = sw ? { label, start: sw.start, end: (retire ?? sw).end, from, to } : undefined;
  return {
    label,
    code: run.code,
    totalMs: run.endedAt - run.startedAt,
    phases: spans.map((s) => ({ name: s.name, ms: s.end - s.start, ok: s.ok })),
    window,
    overlapMs: start && retire ? retire.end - start.start : undefined,
    output: run.lines.slice(-120).map((l) => `+${((l.t - run.startedAt) / 1000).toFixed(2)}s ${l.text}`),
  };
}

export interface Retired {
  /** POSTs the app served in this life: its exit line, else the line it logs when it closes its listener */
  posts?: number;
  /** 0: it exited by itself after its in-flight requests; 137: docker killed it at the drain timeout */
  exitCode?: number;
  /** its last log lines (since the switch), for the report */
  tail: string[];
}

/**
 * What a retired colour's app said on its way out. Only lines logged since `sinceMs` count: a restarted
 * container keeps the lines of its earlier lives.
 */
export async function retiredReport(env: TestEnv, colour: Colour, sinceMs: number): Promise<Retired> {
  const name = `${env.stackPrefix}-app-${colour}`;
  const since = String(Math.floor(sinceMs / 1000) - 1); // whole seconds; the previous exit is always longer ago
  const r = await hostDocker(env.info, ['logs', '--since', since, name], { check: false, timeoutMs: 20_000 });
  const lines = (r.stdout + '\n' + r.stderr).split('\n').filter(Boolean);
  const last = [...lines.join('\n').matchAll(/posts=(\d+)/g)].at(-1);
  const st = await hostDocker(env.info, ['inspect', '-f', '{{.State.ExitCode}}', name], {
    check: false,
    timeoutMs: 20_000,
  });
  return {
    posts: last ? Number(last[1]) : undefined,
    exitCode: st.code === 0 ? Number(st.stdout.trim()) : undefined,
    tail: lines.slice(-8),
  };
}

/** The POSTs the serving app has counted so far (its /echo answer says). */
export async function livePosts(env: TestEnv): Promise<{ posts: number; slot: string }> {
  const r = await env.get('/echo?lane=probe');
  const doc = JSON.parse(r.body) as { posts: number; slot: string };
  return { posts: doc.posts, slot: doc.slot };
}

export async function servingColour(env: TestEnv): Promise<Colour> {
  return (await livePosts(env)).slot as Colour;
}

/** Does the CLI know this command? (read from --help) */
export async function cliHasCommand(env: TestEnv, command: string): Promise<boolean> {
  const r = await runCliStreaming(env, ['--help'], 60_000);
  return new RegExp(`^\\s+${command}\\s`, 'm').test(r.stdout + r.stderr);
}

// ---------------------------------------------------------------------------------------------------------------
// The naive switch, for comparison only: never used by the engine.

/** The upstream snippet as the reference has it: one colour, no health checks, so every switch is a reload. */
export function naiveUpstreams(colour: Colour, appPort = 8080): string {
  return [
    '# bench baseline: the reference switch (one upstream, rewritten and reloaded per switch)',
    '(togather_upstreams) {',
    `\treverse_proxy app-${colour}:${appPort} {`,
    '\t\theader_down X-Togather-Upstream {http.reverse_proxy.upstream.host}',
    '\t}',
    '}',
    '',
    'http://:8088 {',
    '\timport togather_upstreams',
    '}',
    '',
  ].join('\n');
}

async function writeHostFile(env: TestEnv, rel: string, content: string): Promise<void> {
  // write then rename: Caddy must never read half a file
  await hostSsh(env.info, `cd stacks/${env.name} && cat > ${rel}.tmp && mv -f ${rel}.tmp ${rel}`, {
    input: content,
    timeoutMs: 30_000,
  });
}

export async function reloadCaddy(env: TestEnv): Promise<void> {
  // the engine's own command, minus `docker` (hostDocker adds the host engine's)
  await hostDocker(env.info, caddyReloadCmd(`${env.stackPrefix}-caddy`).argv.slice(1), { timeoutMs: 60_000 });
}

export async function readUpstreamsFile(env: TestEnv): Promise<string> {
  const text = await env.hostFile('caddy/togather.caddy');
  if (text === undefined) throw new Error('caddy/togather.caddy is missing on the host');
  return text;
}

/** Put the engine's own proxy configuration back (and the flags to match what serves), then reload once. */
export async function restoreGateSwitch(env: TestEnv, original: string, live: Colour): Promise<void> {
  await hostSsh(env.info, `cd stacks/${env.name}/gates && touch ${live}/ready && rm -f ${other(live)}/ready`);
  await writeHostFile(env, 'caddy/togather.caddy', original);
  await reloadCaddy(env);
}

async function waitHealthy(env: TestEnv, colour: Colour, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 300 && Date.now() < deadline; i++) {
    const r = await hostDocker(
      env.info,
      [
        'exec',
        `${env.stackPrefix}-gate-${colour}`,
        'timeout',
        '2',
        'wget',
        '-q',
        '-O',
        '-',
        'http://127.0.0.1:8080/health',
      ],
      { check: false, timeoutMs: 10_000 },
    );
    if (r.code === 0 && r.stdout.includes('"healthy"')) return;
    await new Promise((res) => setTimeout(res, 200));
  }
  throw new Error(`baseline: ${colour} did not become healthy within ${timeoutMs} ms`);
}

/**
 * One switch the reference's way, on the same stack: start the idle colour (its container is kept from the last
 * deploy), wait for its health, rewrite the upstream to it alone and reload Caddy, wait as long as the gate
 * switch settles, then stop the old colour with the same drain. The window is timed like a deploy's.
 */
export async function naiveSwitch(
  env: TestEnv,
  from: Colour,
  label: string,
  opts: { settleMs: number; drainS: number },
): Promise<OperationTiming> {
  const to = other(from);
  const t0 = Date.now();
  const phases: OperationTiming['phases'] = [];
  const phase = async (name: string, fn: () => Promise<unknown>) => {
    const s = Date.now();
    await fn();
    phases.push({ name, ms: Date.now() - s, ok: true });
    return s;
  };
  const startAt = await phase(`start ${to}`, () =>
    hostDocker(env.info, ['start', `${env.stackPrefix}-app-${to}`], { timeoutMs: 60_000 }),
  );
  await phase('health gate', () => waitHealthy(env, to));
  const switchAt = await phase('switch', async () => {
    await writeHostFile(env, 'caddy/togather.caddy', naiveUpstreams(to));
    await reloadCaddy(env);
    await new Promise((res) => setTimeout(res, opts.settleMs));
  });
  await phase(`retire ${from}`, () =>
    hostDocker(env.info, ['stop', '-t', String(opts.drainS), `${env.stackPrefix}-app-${from}`], {
      timeoutMs: (opts.drainS + 30) * 1000,
    }),
  );
  const end = Date.now();
  return {
    label,
    code: 0,
    totalMs: end - t0,
    phases,
    window: { label, start: switchAt, end, from, to },
    overlapMs: end - startAt,
  };
}

/** Take the environment's stack down (its containers, network and volumes) and remove its directory. */
export async function teardownEnv(env: TestEnv): Promise<void> {
  await hostSsh(
    env.info,
    [
      `cd stacks/${env.name} 2>/dev/null || exit 0;`,
      `docker-compose -p ${env.stackPrefix} -f compose.yml --env-file .env down -v --remove-orphans -t 5 >/dev/null 2>&1;`,
      `cd .. && rm -rf ${env.name}`,
    ].join(' '),
    { check: false, timeoutMs: 120_000 },
  );
}

/**
 * From Caddy's log since `sinceMs`: health checks of a gate that failed outright (a timeout or refused
 * connection: the host stalled, not a flag turned off) and requests Caddy answered "no upstreams available".
 */
export async function caddyHealthEvents(
  env: TestEnv,
  sinceMs: number,
): Promise<{ failedChecks: number; noUpstream: number }> {
  const r = await hostDocker(
    env.info,
    ['logs', '--since', String(Math.floor(sinceMs / 1000)), `${env.stackPrefix}-caddy`],
    { check: false, timeoutMs: 30_000 },
  );
  const text = r.stdout + r.stderr;
  return {
    failedChecks: (text.match(/"msg":"HTTP request failed"/g) ?? []).length,
    noUpstream: (text.match(/no upstreams available/g) ?? []).length,
  };
}
