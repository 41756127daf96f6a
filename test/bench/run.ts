/**
 * npm run bench [-- options]: deploys under load through the proxy and reports what every request saw.
 *
 * On the loopback harness (brought up or reused), one environment of its own: v1 is deployed, then under load
 * (five lanes, see load.ts) N back-to-back deploys alternate v2 / v6, then one rollback when the CLI has that
 * command. Then, unless --no-baseline, the same load across the same number of switches done the reference's
 * way (rewrite the Caddyfile to the new colour, `caddy reload`). Prints per-operation phase timings and per-lane
 * requests, failures by kind and p50/p99 latency inside/outside switch windows; writes the whole result to
 * bench-results/bench-<timestamp>.json. The environment is taken down at the end unless --keep.
 *
 * Options:
 *   --deploys N       back-to-back deploys under load (3)
 *   --gap S           seconds of load before, between and after the operations (3)
 *   --ka N, --fresh N, --slow N   concurrency of the keep-alive, fresh-connection and slow lanes (8, 3, 6)
 *   --slow-ms A-B     duration of the slow requests (3000-5000)
 *   --wrk N           extra keep-alive GET connections from wrk (4; 0 = off)
 *   --drain S         the environment's drain_timeout, above the slowest request (8)
 *   --no-baseline     skip the reference switch; --keep leaves the environment up
 *   --max-minutes M   the whole run is abandoned past this (15)
 *   --migrations      run the migrations step (skipped by default: the sample app has none)
 *   --idle-rollbacks N  rounds of one warm and one cold rollback with no load, through the bundled CLI (3; 0 = skip)
 *   --speed-rounds N  rounds of the speed part (speed.ts): the bundled CLI of this build and of --reference take
 *                     turns deploying an image already on the host and rolling back warm, idle (3; 0 = skip)
 *   --reference REV   the build the speed part compares with (ebd64b5: the commit before the speed work)
 *   --no-shipping     skip the shipping part (shipping.ts): bytes and seconds of a one-line release, layer-aware
 *                     and whole, and of a first deploy to a host without the app's images
 *   --db-rows N       the database part (database.ts): snapshot + migration of an events table of N rows in
 *                     an environment of its own, then a restore (1000000; 0 = skip)
 *   --swarm           instead of all the above: the Swarm provider on 3 nodes under load (swarm.ts, own options)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, newEnv, sharedHost, type TestEnv } from '../e2e/support.js';
import { benchDatabase, formatDatabaseBench, type DatabaseBench } from './database.js';
import { formatIdleRollbacks, idleRollbacks, type IdleRollback } from './rollback-idle.js';
import { benchShipping, formatShipping, type ShippingBench } from './shipping.js';
import { benchSpeed, formatSpeed, type SpeedBench } from './speed.js';
import {
  LANES,
  laneOptions,
  slowAcrossSwitches,
  startLoad,
  startWrk,
  summarize,
  type LaneRaw,
  type LaneSummary,
  type Window,
  type WrkResult,
} from './load.js';
import { fmtMs, LANE_HEADER, laneRow, table } from './report.js';
import {
  caddyHealthEvents,
  cliHasCommand,
  retiredReport,
  livePosts,
  naiveSwitch,
  other,
  phaseKey,
  readUpstreamsFile,
  restoreGateSwitch,
  runCliStreaming,
  servingColour,
  teardownEnv,
  timeOperation,
  type Colour,
  type OperationTiming,
  type Retired,
} from './scenario.js';

// --swarm: the Swarm provider on a 3-node fabric of its own (swarm.ts, its own options); none of the parts below
if (process.argv.includes('--swarm')) {
  const { benchSwarm } = await import('./swarm.js');
  process.exit(await benchSwarm(process.argv.slice(2).filter((a) => a !== '--swarm')));
}

const { values: o } = parseArgs({
  options: {
    deploys: { type: 'string', default: '3' },
    gap: { type: 'string', default: '3' },
    ka: { type: 'string', default: '8' },
    fresh: { type: 'string', default: '3' },
    slow: { type: 'string', default: '6' },
    'slow-ms': { type: 'string', default: '3000-5000' },
    wrk: { type: 'string', default: '4' },
    'no-baseline': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    'max-minutes': { type: 'string', default: '15' },
    drain: { type: 'string', default: '8' },
    migrations: { type: 'boolean', default: false },
    'db-rows': { type: 'string', default: '1000000' },
    'idle-rollbacks': { type: 'string', default: '3' },
    'speed-rounds': { type: 'string', default: '3' },
    reference: { type: 'string', default: 'ebd64b5' },
    'no-shipping': { type: 'boolean', default: false },
  },
});
const dbRows = int(o['db-rows']!, 'db-rows', 0, 20_000_000);
const idleRounds = int(o['idle-rollbacks']!, 'idle-rollbacks', 0, 20);
const speedRounds = int(o['speed-rounds']!, 'speed-rounds', 0, 20);
const deploys = int(o.deploys!, 'deploys', 1, 20);
const gapMs = int(o.gap!, 'gap', 0, 60) * 1000;
const {
  lanes,
  slowMs: [slowMin, slowMax],
} = laneOptions(o, int, fail, 64);
const wrkConns = int(o.wrk!, 'wrk', 0, 64);
const maxMs = int(o['max-minutes']!, 'max-minutes', 1, 60) * 60_000;
// the old colour's drain (deployment.drain_timeout = docker stop -t): above the longest request, with a margin
const drainS = int(o.drain!, 'drain', 1, 120);
const DRAIN = `${drainS}s`;
// the switch is what is measured: the sample app has no migrations, so by default the deploys skip that step
const deployFlags = ['--skip-ci-check', '--force', ...(o.migrations ? [] : ['--skip-migrations'])];

const say = (s = '') => process.stdout.write(s + '\n');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function int(v: string, name: string, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) fail(`--${name} ${v}: a whole number from ${min} to ${max}`);
  return n;
}
function fail(msg: string): never {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(2);
}

// the whole bench is bounded: past the limit it stops where it is (lanes are children: they end with us)
const watchdog = setTimeout(() => {
  process.stderr.write(`bench: over ${maxMs / 60_000} minutes, abandoned\n`);
  process.exit(3);
}, maxMs);
watchdog.unref();

interface PartResult {
  mechanism: string;
  operations: OperationTiming[];
  loadSeconds: number;
  lanes: LaneSummary[];
  wrk?: WrkResult;
  /** client successes vs the app's own count: retired instances' exit lines + the live one, minus what it had before */
  posts: { clientOk: number; appCounted?: number; retired: (number | null)[]; before: number; live: number };
  /** how each retired app ended: by itself (exit 0) or killed at the drain timeout (137) */
  retired: Retired[];
  /** Caddy's view: gate health checks that timed out or failed to connect, and requests it found no upstream for */
  caddy: { failedChecks: number; noUpstream: number };
  slowAcrossSwitches: ReturnType<typeof slowAcrossSwitches>;
  totalRequests: number;
  totalFailures: number;
}

async function underLoad(
  env: TestEnv,
  mechanism: string,
  body: (windows: OperationTiming[]) => Promise<Retired[]>,
): Promise<PartResult> {
  const postsBefore = (await livePosts(env)).posts; // before any load: the serving app's count so far
  const load = await startLoad({ port: env.httpPort, lanes, slowMs: [slowMin, slowMax], maxDurationMs: maxMs });
  const wrk = wrkConns > 0 ? startWrk(env.httpPort, wrkConns, Math.ceil(maxMs / 1000)) : undefined;
  const t0 = Date.now();
  const ops: OperationTiming[] = [];
  let retired: Retired[];
  let raws: LaneRaw[];
  let wrkResult: WrkResult | undefined;
  try {
    await sleep(gapMs);
    retired = await body(ops);
  } finally {
    // a tail of load after the last switch, then in-flight requests finish (lanes are bounded by their timeouts)
    await sleep(gapMs);
    raws = await load.stop();
    wrkResult = await wrk?.stop();
  }
  const loadSeconds = (Date.now() - t0) / 1000;
  const windows: (Window & { from?: Colour })[] = ops.flatMap((op) => (op.window ? [op.window] : []));
  const summaries = raws.map((r) => summarize(r, windows, t0));
  const live = await livePosts(env);
  const caddy = await caddyHealthEvents(env, t0);
  const clientOk = summaries.reduce((n, s) => n + (s.postOk ?? 0), 0);
  const appCounted = retired.some((r) => r.posts === undefined)
    ? undefined
    : retired.reduce((a, r) => a + r.posts!, 0) - postsBefore + live.posts;
  const totalRequests = summaries.reduce((n, s) => n + s.requests, 0) + (wrkResult?.requests ?? 0);
  const totalFailures =
    summaries.reduce((n, s) => n + Object.values(s.failures).reduce((a, b) => a + b, 0), 0) +
    Object.values(wrkResult?.failures ?? {}).reduce((a, b) => a + b, 0);
  const slow = raws.find((r) => r.lane === 'slow');
  return {
    mechanism,
    operations: ops,
    loadSeconds,
    lanes: summaries,
    wrk: wrkResult && { ...wrkResult, raw: wrkResult.raw.slice(0, 2000) },
    posts: {
      clientOk,
      appCounted,
      retired: retired.map((r) => r.posts ?? null),
      before: postsBefore,
      live: live.posts,
    },
    retired,
    caddy,
    slowAcrossSwitches: slow ? slowAcrossSwitches(slow, windows) : [],
    totalRequests,
    totalFailures,
  };
}

// ---------------------------------------------------------------------------------------------------------------

const startedAt = new Date();
say(
  `togather-deploy bench — ${startedAt.toISOString()} · ${cpus().length} CPUs, load average ${loadavg()
    .map((n) => n.toFixed(2))
    .join(' ')}`,
);
say('bringing up (or reusing) the loopback harness…');
const { info } = await sharedHost();
const env = await newEnv('bench', {
  config: (c) => {
    (c.deployment as Record<string, unknown>).drain_timeout = DRAIN;
    // a loaded test host is slow to boot and verify; failing a deploy for that would end the bench early
    (c.deployment as Record<string, unknown>).verify_timeout = '30s';
    const health = (c.app as Record<string, unknown>).health as Record<string, unknown>;
    health.start_timeout = '60s';
    // the tool's default probe interval (the tests' environments probe every 200 ms): the speed part times what
    // an operator who keeps the defaults gets
    delete health.interval;
  },
});
say(
  `environment ${env.name}: proxy on http://127.0.0.1:${env.httpPort}, host ${info.ssh.user}@${info.ssh.host}:${info.ssh.port}, drain_timeout ${DRAIN}`,
);

let gate: PartResult | undefined;
let baseline: PartResult | undefined;
let rollbackNote: string | undefined;
let aborted: string | undefined;
let database: DatabaseBench | undefined;
let dbAborted: string | undefined;
let idle: IdleRollback[] | undefined;
let speed: SpeedBench | undefined;
let speedAborted: string | undefined;
let shipping: ShippingBench | undefined;
let shippingAborted: string | undefined;
try {
  const first = await runCliStreaming(env, ['deploy', env.name, '--version', 'v1', ...deployFlags]);
  if (first.code !== 0)
    throw new Error(`the first deploy (v1) failed (exit ${first.code}):\n${first.stderr.slice(-3000)}`);
  const firstOp = timeOperation('deploy v1 (no load)', first);
  say(
    `v1 deployed in ${(firstOp.totalMs / 1000).toFixed(1)}s; ` +
      `load starts: ${lanes.map((l) => `${l.name}×${l.concurrency}`).join(', ')}${wrkConns ? `, wrk×${wrkConns}` : ''}`,
  );
  const hasRollback = await cliHasCommand(env, 'rollback');

  gate = await underLoad(env, 'gate flags (togather-deploy)', async (ops) => {
    const retired: Retired[] = [];
    for (let i = 1; i <= deploys; i++) {
      const version = i % 2 === 1 ? 'v2' : 'v6';
      const label = `deploy ${i} (${version})`;
      say(`  ${label}…`);
      const r = await runCliStreaming(env, ['deploy', env.name, '--version', version, ...deployFlags]);
      const op = timeOperation(label, r);
      ops.push(op);
      if (r.code !== 0) throw new Error(`${label} failed (exit ${r.code}):\n${r.stderr.slice(-3000)}`);
      if (op.window?.from) retired.push(await retiredReport(env, op.window.from, op.window.start));
      await sleep(gapMs);
    }
    if (hasRollback) {
      say('  rollback…');
      const r = await runCliStreaming(env, ['rollback', env.name, '--yes']);
      const op = timeOperation('rollback', r);
      ops.push(op);
      if (r.code !== 0) throw new Error(`rollback failed (exit ${r.code}):\n${r.stderr.slice(-3000)}`);
      if (op.window?.from) retired.push(await retiredReport(env, op.window.from, op.window.start));
    } else {
      rollbackNote = 'skipped: `togather-deploy --help` lists no rollback command yet';
      say(`  rollback ${rollbackNote}`);
    }
    return retired;
  });

  if (!o['no-baseline']) {
    const switches = gate.operations.length;
    const original = await readUpstreamsFile(env);
    let live: Colour = await servingColour(env);
    say(`baseline: ${switches} switches the reference's way (rewrite the Caddyfile, caddy reload), same load…`);
    try {
      baseline = await underLoad(env, 'rewrite Caddyfile + caddy reload (reference)', async (ops) => {
        const retired: Retired[] = [];
        for (let i = 1; i <= switches; i++) {
          const label = `switch ${i}`;
          const op = await naiveSwitch(env, live, label, { settleMs: 1400, drainS });
          ops.push(op);
          retired.push(await retiredReport(env, live, op.window!.start));
          live = other(live);
          await sleep(gapMs);
        }
        return retired;
      });
    } finally {
      await restoreGateSwitch(env, original, live).catch((e: unknown) =>
        say(`could not restore the gate switch: ${String(e)}`),
      );
    }
  }
  if (speedRounds > 0) {
    say(`speed: ${speedRounds} rounds, this build and ${o.reference} taking turns (idle host, bundled CLIs)…`);
    try {
      speed = await benchSpeed(
        env,
        { rounds: speedRounds, reference: o.reference!, versions: ['v2', 'v6'], flags: deployFlags },
        say,
      );
    } catch (e) {
      speedAborted = e instanceof Error ? e.message : String(e);
    }
  }
  if (idleRounds > 0) {
    say(`idle host: ${idleRounds} × (warm rollback, cold rollback), no load, bundled CLI…`);
    idle = [];
    idle.push(...(await idleRollbacks(env, idleRounds, say)));
  }
  // last: it deploys releases of an image repository of its own into this environment
  if (!o['no-shipping']) {
    say('shipping: a first deploy, a one-line release layer-aware and the same whole…');
    try {
      shipping = await benchShipping(env, say);
    } catch (e) {
      shippingAborted = e instanceof Error ? e.message : String(e);
    }
  }
} catch (e) {
  aborted = e instanceof Error ? e.message : String(e);
} finally {
  if (!o.keep) await teardownEnv(env).catch(() => undefined);
  else say(`kept: environment ${env.name} (stack ${env.stackPrefix}), config ${env.configPath}`);
}
if (dbRows > 0) {
  say(`database: snapshot and migrations on ${dbRows.toLocaleString('en')} rows (an environment of its own)…`);
  try {
    database = await benchDatabase(dbRows, (l) => say(l), o.keep);
  } catch (e) {
    dbAborted = e instanceof Error ? e.message : String(e);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Report.

function printPart(p: PartResult): void {
  say(`\n== ${p.mechanism}: ${p.operations.length} switches, ${p.loadSeconds.toFixed(1)}s of load`);
  const keys: string[] = [];
  for (const op of p.operations)
    for (const ph of op.phases) if (!keys.includes(phaseKey(ph.name))) keys.push(phaseKey(ph.name));
  const rows = [['operation', ...keys, 'total', 'window', 'both up']];
  for (const op of p.operations) {
    const by = new Map(op.phases.map((ph) => [phaseKey(ph.name), ph.ms]));
    rows.push([
      op.label,
      ...keys.map((k) => fmtMs(by.get(k))),
      fmtMs(op.totalMs),
      fmtMs(op.window && op.window.end - op.window.start),
      fmtMs(op.overlapMs),
    ]);
  }
  say(table(rows));
  const lrows = [LANE_HEADER, ...p.lanes.map(laneRow)];
  if (p.wrk) {
    const failed = Object.values(p.wrk.failures).reduce((a, b) => a + b, 0);
    lrows.push([
      'ka-get (wrk)',
      String(p.wrk.requests),
      String(failed),
      '?',
      '—',
      fmtMs(p.wrk.p50Ms),
      '—',
      fmtMs(p.wrk.p99Ms),
      Object.entries(p.wrk.failures)
        .map(([k, n]) => `${k}:${n}`)
        .join(' ') || '—',
    ]);
  }
  say(table(lrows));
  say(`total: ${p.totalRequests} requests, ${p.totalFailures} failed`);
  const app = p.posts.appCounted;
  const vsClients =
    app === undefined
      ? ''
      : app === p.posts.clientOk
        ? ' (equal)'
        : ` (${app - p.posts.clientOk > 0 ? '+' : ''}${app - p.posts.clientOk}: ran on the app, failed for the client)`;
  say(
    `POSTs: ${p.posts.clientOk} succeeded for the clients; the app counted ${app ?? '? (an exit count was missing)'}${vsClients}`,
  );
  say(
    `Caddy: ${p.caddy.failedChecks} gate health checks failed (host stalls, not flag flips); ` +
      `${p.caddy.noUpstream} requests answered 503 "no upstreams available"`,
  );
  if (p.retired.length) {
    const how = (c?: number) =>
      c === 0 ? 'exited by itself' : c === 137 ? `killed at the ${DRAIN} drain timeout` : `exit ${c ?? '?'}`;
    say(`old colours: ${p.retired.map((r, i) => `${p.operations[i]?.label ?? i + 1}: ${how(r.exitCode)}`).join('; ')}`);
  }
  const slow = p.slowAcrossSwitches;
  if (slow.length) {
    say(
      `slow requests in flight when a switch began: ${slow.map((s) => `${s.label}: ${s.ok}/${s.inFlight} ok, ${s.onOldColour} on the old colour`).join('; ')}`,
    );
  }
  for (const l of p.lanes)
    for (const s of l.samples.slice(0, 3)) say(`  e.g. ${l.lane} ${s.kind} at ${s.at} after ${s.latencyMs}ms`);
}

if (gate) printPart(gate);
if (rollbackNote) say(`rollback: ${rollbackNote}`);
else if (gate) {
  const rb = gate.operations.find((op) => op.label === 'rollback');
  if (rb)
    say(
      `rollback: ${fmtMs(rb.totalMs)} end to end (switch window ${fmtMs(rb.window && rb.window.end - rb.window.start)})`,
    );
}
if (baseline) printPart(baseline);

if (gate) {
  say('\n== side by side (failed / requests per lane)');
  const rows = [['lane', 'gate flags', ...(baseline ? ['reload (reference)'] : [])]];
  for (const lane of LANES) {
    const cell = (p: PartResult) => {
      const l = p.lanes.find((x) => x.lane === lane);
      return l ? `${Object.values(l.failures).reduce((a, b) => a + b, 0)} / ${l.requests}` : '—';
    };
    rows.push([lane, cell(gate), ...(baseline ? [cell(baseline)] : [])]);
  }
  rows.push([
    'total',
    `${gate.totalFailures} / ${gate.totalRequests}`,
    ...(baseline ? [`${baseline.totalFailures} / ${baseline.totalRequests}`] : []),
  ]);
  say(table(rows));
}

if (speed) say(`\n${formatSpeed(speed)}`);
if (speedAborted) say(`\nspeed part aborted: ${speedAborted}`);
if (shipping) say(`\n${formatShipping(shipping)}`);
if (shippingAborted) say(`\nshipping part aborted: ${shippingAborted}`);
if (idle?.length) say(`\n${formatIdleRollbacks(idle)}`);
if (database) say(`\n${formatDatabaseBench(database)}`);
if (dbAborted) say(`\ndatabase part aborted: ${dbAborted}`);

const dir = join(ROOT, 'bench-results');
mkdirSync(dir, { recursive: true });
const file = join(dir, `bench-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(
  file,
  JSON.stringify(
    {
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      machine: { cpus: cpus().length, loadavgAtEnd: loadavg() },
      params: {
        deploys,
        gapMs,
        lanes,
        slowMs: [slowMin, slowMax],
        wrkConnections: wrkConns,
        drainTimeout: DRAIN,
        baseline: !o['no-baseline'],
      },
      rollback: rollbackNote ?? 'ran',
      aborted,
      gate,
      baseline,
      idleRollbacks: idle,
      speed,
      speedAborted,
      shipping,
      shippingAborted,
      database,
      dbAborted,
    },
    null,
    2,
  ) + '\n',
);
say(`\nresults: ${file}`);
if (aborted) say(`\nbench aborted: ${aborted}`);
const dbOk =
  dbRows === 0 || (!!database && database.requestsDuringDeploy.failed === 0 && database.restore?.exact === true);
const ok = !aborted && !!gate && gate.totalFailures === 0 && dbOk && !speedAborted && !shippingAborted;
const gateOk = !aborted && !!gate && gate.totalFailures === 0;
say(gateOk ? 'gate mechanism: 0 failed requests' : 'gate mechanism: FAILED requests (see above)');
if (dbRows > 0)
  say(dbOk ? 'database: snapshot, migrations and an exact restore, 0 failed requests' : 'database: FAILED (see above)');
process.exit(ok ? 0 : 1);
