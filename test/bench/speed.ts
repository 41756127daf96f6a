/**
 * Bench part: how fast the tool serves, against a reference build of the tool (default: the commit before the
 * speed work) run in the same environment, on the same host, in the same run. Both bundled CLIs take turns, on
 * an idle host, doing what an operator does most:
 *   - a deploy of a release whose image is already on the host: how long after the new colour's app was ready
 *     (its "listening" log line) the proxy served the new version, the switch phase, and how long after the old
 *     colour's app exited (its last in-flight request — one slow request is kept in flight on it) the command ended;
 *   - a warm rollback (the previous version's container kept): how long after the command started the proxy
 *     served the previous version.
 * Round trips are counted for both by an `ssh` shim first on the CLI's PATH (one session = one round trip;
 * the connection itself counts one).
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostDocker } from '../harness/host.js';
import { run } from '../harness/proc.js';
import { ROOT, type TestEnv } from '../e2e/support.js';
import { runCliStreaming, servingColour, timeOperation, type Colour } from './scenario.js';

export interface SpeedSample {
  tool: 'before' | 'after';
  kind: 'deploy' | 'rollback';
  version: string;
  code: number;
  totalMs: number;
  switchMs?: number;
  /** deploy: the new version served this long after its app logged that it listens */
  servedAfterReadyMs?: number;
  /** rollback: the previous version served this long after the command started */
  servedAfterStartMs?: number;
  /** deploy: the command ended this long after the old colour's app exited */
  endAfterOldExitMs?: number;
  /** the slow request kept in flight on the old colour: its status (0 = failed) */
  slowStatus?: number;
  roundTrips: number;
  phases: { name: string; ms: number }[];
}

export interface SpeedBench {
  reference: string;
  samples: SpeedSample[];
}

/** the bundled CLI of `rev`, unpacked beside its assets; undefined when the commit is not in this clone */
async function referenceCli(rev: string): Promise<{ entry: string; dir: string } | undefined> {
  const dir = mkdtempSync(join(tmpdir(), 'tgd-reference-'));
  const r = await run(
    ['sh', '-c', 'git -C "$1" archive "$2" dist docker config package.json | tar -x -C "$3"', 'sh', ROOT, rev, dir],
    { check: false },
  );
  if (r.code !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  return { entry: join(dir, 'dist', 'cli', 'index.js'), dir };
}

/** a PATH directory whose `ssh` counts its calls in `file`, then runs the real one */
function sshShim(): { dir: string; file: string; count: () => number; reset: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'tgd-ssh-count-'));
  const file = join(dir, 'calls');
  const real = process.env.TOGATHER_REAL_SSH ?? '/usr/bin/ssh';
  writeFileSync(join(dir, 'ssh'), `#!/bin/sh\necho x >> "${file}"\nexec "${real}" "$@"\n`);
  chmodSync(join(dir, 'ssh'), 0o755);
  const count = () => {
    try {
      return readFileSync(file, 'utf8').split('\n').filter(Boolean).length;
    } catch {
      return 0;
    }
  };
  return { dir, file, count, reset: () => writeFileSync(file, '') };
}

/** epoch ms of the last "listening" line of a colour's app since `sinceMs` */
async function readyAt(env: TestEnv, colour: Colour, sinceMs: number): Promise<number | undefined> {
  return lastLogTime(env, colour, sinceMs, /sample-app\[\w+\] listening on/);
}

async function exitedAt(env: TestEnv, colour: Colour, sinceMs: number): Promise<number | undefined> {
  return lastLogTime(env, colour, sinceMs, /sample-app\[\w+\] (all requests finished, exiting|shutdown took over)/);
}

async function lastLogTime(env: TestEnv, colour: Colour, sinceMs: number, re: RegExp): Promise<number | undefined> {
  const since = String(Math.floor(sinceMs / 1000) - 1);
  const r = await hostDocker(env.info, ['logs', '--since', since, `${env.stackPrefix}-app-${colour}`], {
    check: false,
    timeoutMs: 20_000,
  });
  const times = (r.stdout + '\n' + r.stderr)
    .split('\n')
    .filter((l) => re.test(l))
    .map((l) => Date.parse(l.split(' ')[0]!))
    .filter((t) => Number.isFinite(t) && t >= sinceMs - 1000);
  return times.at(-1);
}

/** polls /version through the proxy every 20 ms until it reports `sha`; resolves with when it first did */
function servingWatch(env: TestEnv, sha: string): { stop: () => Promise<number | undefined> } {
  let at: number | undefined;
  let on = true;
  const loop = (async () => {
    while (on && at === undefined) {
      try {
        const r = await env.get('/version');
        if (r.status === 200 && (JSON.parse(r.body) as { git_commit?: string }).git_commit === sha) at = Date.now();
      } catch {
        /* not answering */
      }
      await new Promise((res) => setTimeout(res, 20));
    }
  })();
  return {
    stop: async () => {
      on = false;
      await loop;
      return at;
    },
  };
}

async function currentVersion(env: TestEnv): Promise<string> {
  const r = await env.get('/version');
  return (JSON.parse(r.body) as { git_commit: string }).git_commit;
}

/**
 * `rounds` × for each tool (the order alternates): deploy `other` (an image already on the host) with a slow
 * request in flight on the old colour, then a warm rollback back. `versions` are two refs whose images are both
 * on the host, one of them serving.
 */
export async function benchSpeed(
  env: TestEnv,
  opts: { rounds: number; reference: string; versions: [string, string]; flags: string[] },
  say: (s: string) => void,
): Promise<SpeedBench> {
  const ref = await referenceCli(opts.reference);
  const shim = sshShim();
  const tools: { tool: SpeedSample['tool']; entry: string }[] = [
    ...(ref ? [{ tool: 'before' as const, entry: ref.entry }] : []),
    { tool: 'after', entry: join(ROOT, 'dist', 'cli', 'index.js') },
  ];
  if (!ref) say(`  reference ${opts.reference} is not in this clone: the new build alone is measured`);
  const env2 = { PATH: `${shim.dir}:${env.info.runnerEnv.PATH}` };
  const samples: SpeedSample[] = [];
  const shas = env.repo.shas as unknown as Record<string, string>;
  try {
    for (let i = 0; i < opts.rounds; i++) {
      const order = i % 2 === 0 ? tools : [...tools].reverse();
      for (const t of order) {
        const now = await currentVersion(env);
        const target = opts.versions.find((v) => shas[v] !== now) ?? opts.versions[0];
        const sha = shas[target]!;
        // deploy, with one slow request in flight on the old colour
        const oldColour = await servingColour(env);
        shim.reset();
        const t0 = Date.now();
        const slow = env.get('/slow?ms=4000').then(
          (r) => r.status,
          () => 0,
        );
        const watch = servingWatch(env, sha);
        const d = await runCliStreaming(
          env,
          ['deploy', env.name, '--version', target, ...opts.flags],
          240_000,
          t.entry,
          env2,
        );
        const servedAt = await watch.stop();
        const slowStatus = await slow;
        const op = timeOperation(`${t.tool} deploy`, d);
        const newColour: Colour = oldColour === 'blue' ? 'green' : 'blue';
        const ready = await readyAt(env, newColour, t0);
        const exited = await exitedAt(env, oldColour, t0);
        samples.push({
          tool: t.tool,
          kind: 'deploy',
          version: sha,
          code: d.code,
          totalMs: op.totalMs,
          switchMs: op.phases.find((p) => p.name === 'switch')?.ms,
          servedAfterReadyMs: servedAt && ready ? servedAt - ready : undefined,
          endAfterOldExitMs: exited ? d.endedAt - exited : undefined,
          slowStatus,
          roundTrips: shim.count(),
          phases: op.phases.map((p) => ({ name: p.name, ms: p.ms })),
        });
        say(
          `  ${t.tool} deploy ${target}: ${d.code === 0 ? 'ok' : `exit ${d.code}`} in ${(op.totalMs / 1000).toFixed(2)}s`,
        );
        if (d.code !== 0) throw new Error(`${t.tool} deploy failed (exit ${d.code}):\n${d.stderr.slice(-2000)}`);

        // the warm rollback back to what served before
        shim.reset();
        const back = servingWatch(env, now);
        const r = await runCliStreaming(env, ['rollback', env.name, '--yes'], 240_000, t.entry, env2);
        const backAt = await back.stop();
        const rop = timeOperation(`${t.tool} rollback`, r);
        samples.push({
          tool: t.tool,
          kind: 'rollback',
          version: now,
          code: r.code,
          totalMs: rop.totalMs,
          switchMs: rop.phases.find((p) => p.name === 'switch')?.ms,
          servedAfterStartMs: backAt ? backAt - r.startedAt : undefined,
          roundTrips: shim.count(),
          phases: rop.phases.map((p) => ({ name: p.name, ms: p.ms })),
        });
        say(`  ${t.tool} rollback: ${r.code === 0 ? 'ok' : `exit ${r.code}`} in ${(rop.totalMs / 1000).toFixed(2)}s`);
        if (r.code !== 0) throw new Error(`${t.tool} rollback failed (exit ${r.code}):\n${r.stderr.slice(-2000)}`);
      }
    }
  } finally {
    rmSync(shim.dir, { recursive: true, force: true });
    if (ref) rmSync(ref.dir, { recursive: true, force: true });
  }
  return { reference: ref ? opts.reference : '', samples };
}

const median = (xs: (number | undefined)[]): number | undefined => {
  const s = xs.filter((x): x is number => x !== undefined).sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : undefined;
};

export function formatSpeed(b: SpeedBench): string {
  const f = (ms?: number) => (ms === undefined ? '—' : `${(ms / 1000).toFixed(2)}s`);
  const of = (tool: SpeedSample['tool'], kind: SpeedSample['kind']) =>
    b.samples.filter((s) => s.tool === tool && s.kind === kind);
  const tools = (['before', 'after'] as const).filter((t) => b.samples.some((s) => s.tool === t));
  const metrics: [string, SpeedSample['kind'], (s: SpeedSample) => number | undefined, boolean][] = [
    ['switch phase (deploy and rollback)', 'deploy', (s) => s.switchMs, false],
    ['deploy: served after the new app was ready', 'deploy', (s) => s.servedAfterReadyMs, false],
    ['deploy: ended after the old app exited', 'deploy', (s) => s.endAfterOldExitMs, false],
    ['deploy: whole command', 'deploy', (s) => s.totalMs, false],
    ['deploy: round trips', 'deploy', (s) => s.roundTrips, true],
    ['warm rollback: served after the command started', 'rollback', (s) => s.servedAfterStartMs, false],
    ['warm rollback: whole command', 'rollback', (s) => s.totalMs, false],
    ['warm rollback: round trips', 'rollback', (s) => s.roundTrips, true],
  ];
  const lines = [
    `== speed on an idle host (medians; before = ${b.reference || 'not available'}, after = this build)`,
    ['metric'.padEnd(50), ...tools.map((t) => t.padStart(9)), tools.length === 2 ? '  after/before' : ''].join(' '),
  ];
  for (const [name, kind, get, count] of metrics) {
    const pool = (t: SpeedSample['tool']) =>
      name.startsWith('switch') ? b.samples.filter((s) => s.tool === t).map(get) : of(t, kind).map(get);
    const m = tools.map((t) => median(pool(t)));
    const cell = (v?: number) => (v === undefined ? '—' : count ? String(v) : f(v));
    const ratio = m.length === 2 && m[0] && m[1] !== undefined ? `  ${(m[1] / m[0]).toFixed(2)}` : '';
    lines.push([name.padEnd(50), ...m.map((v) => cell(v).padStart(9)), ratio].join(' '));
  }
  const slow = b.samples.filter((s) => s.kind === 'deploy');
  lines.push(
    `slow requests kept in flight on the old colour: ${slow.filter((s) => s.slowStatus === 200).length}/${slow.length} answered 200`,
  );
  return lines.join('\n');
}
