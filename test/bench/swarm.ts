/**
 * npm run bench -- --swarm [options]: the Swarm provider on a 3-node fabric (test/harness/swarm.ts) under load.
 *
 * n1 is the manager, edge and db node; the app's tasks (2 per colour) are placed on n2/n3 only, so every request
 * crosses the overlay from Caddy's node to another. Sequence: deploy m1 (no load, its migrations run: counted
 * across the nodes, they must run in one container) to the swarm, then the same release from the same
 * deployment.yml to the single-host harness (its environment differs only in provider and address), start the
 * lanes, deploy v2 — while it runs, a second deploy must be refused naming it — deploy v6, rollback, deploy v4
 * (unhealthy: must exit 10 while the old colour serves), stop the lanes.
 * Reports per-lane failures, the clients' POST successes against what the app's tasks counted, each operation's
 * phases (switch included), per-node image shipping, and what reached the v4 tasks (their own request counters).
 *
 * The fabric is the one TOGATHER_SWARM_PREFIX names (tgx unless set: never the tests' default tgs). The CLI and
 * the load lanes run in the fabric's deployer namespace (the root namespace has no route to the nodes); the
 * lanes dial the edge on n1 directly. The fabric is taken down at the end unless --keep.
 *
 * Options:
 *   --gap S           seconds of load before, between and after the operations (3)
 *   --ka N, --fresh N, --slow N   concurrency of the keep-alive, fresh-connection and slow lanes (2, 2, 2)
 *   --slow-ms A-B     duration of the slow requests (3000-5000)
 *   --pause MS        pause after each fast-lane request (2): 2 CPUs also run 3 engines, the CLI and Caddy
 *   --keep            leave the fabric and the stack up
 *   --max-minutes M   the whole run is abandoned past this (20)
 *   --node-loss       then a deploy during whose health gate n3's link is cut (its outcome recorded, whatever it
 *                     is), and once n3 is Ready again a deploy that must succeed
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import type { SwarmInfo } from '../harness/swarm.js';
import { ROOT, runCli } from '../harness/run-cli.js';
import { cleanEnv, freePort, run } from '../harness/proc.js';
import {
  COLOUR_NAMES,
  laneOptions,
  startLoad,
  summarize,
  type LaneRaw,
  type LaneSummary,
  type LoadOptions,
} from './load.js';
import { fmtMs, LANE_HEADER, laneRow, table } from './report.js';
import {
  other,
  phaseKey,
  phaseSpans,
  timeOperation,
  type Colour,
  type OperationTiming,
  type StreamedRun,
  type TimedLine,
} from './scenario.js';

const CHILD_FLAG = '--tgd-swarm-load';
const APP = 'tg';
const ENV = 'bench';
const STACK = `${APP}-${ENV}`;
const SINGLE = 'bench-single';
const APP_PORT = 8080;

// ---------------------------------------------------------------------------------------------------------------
// The load child: runs in the deployer's namespace (its lanes are its children, so they are there too).

if (process.argv.includes(CHILD_FLAG) && process.send) {
  let load: Awaited<ReturnType<typeof startLoad>> | undefined;
  process.on('message', (m: { type: string; opts?: LoadOptions }) => {
    if (m.type === 'start' && m.opts) {
      void startLoad(m.opts).then(
        (l) => {
          load = l;
          process.send!({ type: 'ready' });
        },
        (e: unknown) => process.send!({ type: 'error', message: String(e) }),
      );
    }
    if (m.type === 'stop' && load) {
      void load.stop().then((raws) => process.send!({ type: 'result', raws }, () => process.exit(0)));
    }
  });
  process.on('disconnect', () => process.exit(0));
}

interface ShipEvent {
  node: string;
  text: string;
  bytes?: number;
  /** from the end of the previous node's line (or the start of the phase it belongs to) to this line */
  ms: number;
  phase?: string;
}

interface SwarmOp extends OperationTiming {
  shipping: ShipEvent[];
}

interface TaskCount {
  node: string;
  service: string;
  container: string;
  version?: string;
  state: string;
  exitCode?: number;
  /** POSTs this task served: its exit line, or its /echo answer while it runs */
  posts?: number;
}

interface V4Probe {
  /** per task container: the request counters last read from its own /metrics while it ran */
  tasks: { node: string; container: string; requests: Record<string, number> }[];
  /** client requests answered by the v4 colour while the v4 deploy ran (the edge names the upstream) */
  clientAnswers: number;
  /** the v4 tasks' whole logs, followed while they ran (the sample app logs no request: its counters tell) */
  logs: string[];
}

/** `bytes` out of a size such as "12.3 MB" / "512 kB" (formatBytes's units) */
function parseSize(text: string): number | undefined {
  const m = /([\d.]+)\s*(B|kB|KB|KiB|MB|MiB|GB|GiB)\b/.exec(text);
  if (!m) return undefined;
  const mult: Record<string, number> = {
    B: 1,
    kB: 1e3,
    KB: 1e3,
    KiB: 1024,
    MB: 1e6,
    MiB: 1024 ** 2,
    GB: 1e9,
    GiB: 1024 ** 3,
  };
  return Math.round(Number(m[1]) * (mult[m[2]!] ?? 1));
}

/** the first release on the swarm and on the single host, from one deployment.yml */
interface FirstRelease {
  version: string;
  /** migrate containers created on the nodes during the swarm's deploy */
  migrateRuns: { node: string; id: string }[];
  /** schema_migrations after it, `version|dirty` */
  schema: string;
  singleCode: number;
  /** the single host's error line, when its deploy failed */
  singleError?: string;
  /** the commit each target serves afterwards */
  servedSwarm?: string;
  servedSingle?: string;
}

/** a deploy started while another one held the cluster lock */
interface LockClash {
  code: number;
  /** the holder as the refusal names it */
  holder?: string;
  /** the first deploy's ID, from the state it recorded */
  firstId?: string;
}

/** what a deploy did while a node was lost, and the deploy after the node came back */
interface NodeLoss {
  code: number;
  error?: string;
  /** when the link was cut, from the deploy's start */
  cutAfterMs?: number;
  /** how long n3 took to be Ready again once its link was back */
  readyAfterMs?: number;
  nextCode: number;
  servingAfter: { commit?: string; slot?: string };
}

export async function benchSwarm(argv: string[]): Promise<number> {
  const { values: o } = parseArgs({
    args: argv,
    options: {
      gap: { type: 'string', default: '3' },
      ka: { type: 'string', default: '2' },
      fresh: { type: 'string', default: '2' },
      slow: { type: 'string', default: '2' },
      'slow-ms': { type: 'string', default: '3000-5000' },
      pause: { type: 'string', default: '2' },
      keep: { type: 'boolean', default: false },
      'max-minutes': { type: 'string', default: '20' },
      'node-loss': { type: 'boolean', default: false },
    },
  });
  const say = (s = '') => process.stdout.write(s + '\n');
  const fail = (msg: string): never => {
    process.stderr.write(`bench --swarm: ${msg}\n`);
    process.exit(2);
  };
  const int = (v: string, name: string, min: number, max: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) fail(`--${name} ${v}: a whole number from ${min} to ${max}`);
    return n;
  };
  const gapMs = int(o.gap!, 'gap', 0, 60) * 1000;
  const {
    lanes,
    slowMs: [slowMin, slowMax],
  } = laneOptions(o, int, fail, 32);
  const pauseMs = int(o.pause!, 'pause', 0, 1000);
  const maxMs = int(o['max-minutes']!, 'max-minutes', 1, 60) * 60_000;
  // the harness reads the prefix when it is first imported: set it before that
  process.env.TOGATHER_SWARM_PREFIX ||= 'tgx';
  const { swarmUp, swarmDown, nodeDocker, swarmSshArgv, swarmCliArgv, migrateRunsSince, swarmSchema, SWITCH_NETNS } =
    await import('../harness/swarm.js');
  const { sharedHost, cliArgs, destroyEnv, httpGet } = await import('../e2e/support.js');
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  const watchdog = setTimeout(() => {
    process.stderr.write(`bench --swarm: over ${maxMs / 60_000} minutes, abandoned (the fabric is left up)\n`);
    process.exit(3);
  }, maxMs);
  watchdog.unref();

  const startedAt = new Date();
  say(
    `togather-deploy bench --swarm — ${startedAt.toISOString()} · ${cpus().length} CPUs, load average ${loadavg()
      .map((n) => n.toFixed(2))
      .join(' ')} · fabric prefix ${process.env.TOGATHER_SWARM_PREFIX}`,
  );
  const { info: host, repo } = await sharedHost();
  const info: SwarmInfo = await swarmUp({ nodes: 3, log: (l) => say(l) });
  const apps = info.nodes.filter((n) => n.labels.includes('togather.app=true'));
  const edge = new URL(info.edgeUrl);

  const dir = mkdtempSync(join(tmpdir(), 'tgd-bench-swarm-'));
  const dbPassword = 'pg-bench-swarm-Xk4';
  const configPath = join(dir, 'deployment.yml');
  const singlePort = await freePort();
  writeFileSync(
    configPath,
    stringify({
      app: {
        name: APP,
        port: APP_PORT,
        image: 'togather-test/app',
        build: { context: '.', dockerfile: 'Dockerfile' },
        // a loaded 2-CPU machine is slow to start tasks; failing a deploy for that would end the bench early
        health: {
          interval: '200ms',
          timeout: '2s',
          consecutive: 2,
          start_timeout: '40s',
          required_checks: ['database'],
        },
      },
      // above the slowest request (5 s): a retired task drains its slow requests
      deployment: { drain_timeout: '8s', min_free_mb: 64, verify_timeout: '30s', keep_images: 50, watch: '0s' },
      monitoring: { enabled: false },
      proxy: { http_port: Number(edge.port || 80) },
      images: {
        caddy: info.images.caddy,
        postgres: info.images.postgres,
        gate: info.images.gate,
        keeper: host.images.keeper,
        postgres_dockerfile: 'none',
      },
      database: { migrations: { image: info.images.migrateFixture } },
      environments: {
        [ENV]: {
          host: info.manager.addr,
          port: info.manager.sshPort,
          user: info.ssh.user,
          path: `stacks/${ENV}`,
          env_file: 'app.env',
          provider: {
            kind: 'swarm',
            replicas: 2,
            scale_timeout: '90s',
            placement: ['node.labels.togather.app == true'],
            nodes: apps.map((n) => ({ host: n.addr, via: 'manager' })),
          },
        },
        // the same release on the single-host harness: only the provider block and the address differ
        [SINGLE]: {
          host: host.ssh.host,
          port: host.ssh.port,
          user: host.ssh.user,
          path: `stacks/${SINGLE}`,
          env_file: 'single.env',
          proxy: { bind: '127.0.0.1', http_port: singlePort },
        },
      },
    }),
  );
  writeFileSync(
    join(dir, 'app.env'),
    [
      `ENVIRONMENT=${ENV}`,
      `DATABASE_URL=postgres://togather:${dbPassword}@db:5432/togather`,
      'JWT_SECRET=jwt-bench-swarm-5c1e9a7b3d2f4e6a8c0b2d4f6a8c0e2b',
      `POSTGRES_PASSWORD=${dbPassword}`,
      'LOG_LEVEL=info',
    ].join('\n') + '\n',
    { mode: 0o600 },
  );
  // the same credentials; ENVIRONMENT names the environment it belongs to
  writeFileSync(
    join(dir, 'single.env'),
    readFileSync(join(dir, 'app.env'), 'utf8').replace(`ENVIRONMENT=${ENV}`, `ENVIRONMENT=${SINGLE}`),
    { mode: 0o600 },
  );

  /** the CLI in the deployer's namespace, every output line timed as it comes (phases, ship lines) */
  const cli = (args: string[], timeoutMs = 300_000, onLine?: (text: string) => void): Promise<StreamedRun> => {
    const argv = swarmCliArgv(info, { config: configPath, repo: repo.dir }, args);
    const startedAt = Date.now();
    return new Promise((resolve) => {
      const child = spawn(argv[0]!, argv.slice(1), {
        cwd: ROOT,
        env: { HOME: process.env.HOME ?? '/root', ...host.runnerEnv },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const out = { stdout: '', stderr: '' };
      const lines: TimedLine[] = [];
      const partial = { stdout: '', stderr: '' };
      const take = (k: 'stdout' | 'stderr') => (d: Buffer) => {
        const t = Date.now();
        out[k] += d;
        const parts = (partial[k] + d.toString()).split('\n');
        partial[k] = parts.pop() ?? '';
        for (const text of parts) {
          lines.push({ t, text });
          onLine?.(text);
        }
      };
      child.stdout.on('data', take('stdout'));
      child.stderr.on('data', take('stderr'));
      const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
      child.on('close', (code) => {
        clearTimeout(timer);
        for (const k of ['stdout', 'stderr'] as const) if (partial[k]) lines.push({ t: Date.now(), text: partial[k] });
        resolve({ code: code ?? 1, ...out, lines, startedAt, endedAt: Date.now() });
      });
    });
  };

  const timeSwarmOp = (label: string, r: StreamedRun): SwarmOp => {
    const op = timeOperation(label, r);
    const spans = phaseSpans(r.lines);
    const shipping: ShipEvent[] = [];
    let prev: number | undefined;
    for (const l of r.lines) {
      const m = /node (\S+?): (shipped .*|pulled .*)$/.exec(l.text);
      if (!m) continue;
      const span = spans.find((s) => s.start <= l.t && l.t <= s.end);
      const from = prev !== undefined && (!span || prev >= span.start) ? prev : (span?.start ?? r.startedAt);
      shipping.push({ node: m[1]!, text: m[2]!, bytes: parseSize(m[2]!), ms: l.t - from, phase: span?.name });
      prev = l.t;
    }
    return { ...op, shipping };
  };

  /** GET through the edge from the deployer's namespace */
  const edgeGet = async (path: string): Promise<{ status: number; body: string }> => {
    const r = await run([...info.ctlExec, 'curl', '-s', '-m', '5', '-w', '\n%{http_code}', `${info.edgeUrl}${path}`], {
      env: cleanEnv(),
      check: false,
    });
    const at = r.stdout.lastIndexOf('\n');
    return { status: Number(r.stdout.slice(at + 1)) || 0, body: r.stdout.slice(0, at) };
  };
  const serving = async (): Promise<{ commit?: string; slot?: string }> => {
    const r = await edgeGet('/echo?lane=probe');
    if (r.status !== 200) return {};
    const j = JSON.parse(r.body) as { git_commit?: string; slot?: string };
    return { commit: j.git_commit, slot: j.slot };
  };

  /** the app's task containers on the app nodes, running or not, of one colour or both */
  const appContainers = async (colour?: Colour, extra: string[] = []) => {
    const rows: { node: number; id: string; service: string }[] = [];
    for (const n of apps) {
      const i = info.nodes.indexOf(n) + 1;
      for (const c of colour ? [colour] : (['blue', 'green'] as const)) {
        const filter = `label=com.docker.swarm.service.name=${STACK}_app-${c}`;
        const args = ['ps', '-aq', '--no-trunc', '--filter', filter, ...extra.flatMap((f) => ['--filter', f])];
        const r = await nodeDocker(info, i, args, { check: false });
        for (const id of r.stdout.split('\n').filter(Boolean)) rows.push({ node: i, id, service: `${STACK}_app-${c}` });
      }
    }
    return rows;
  };
  /** a GET the task answers on its own loopback (node is in the sample image) */
  const inTask = async (node: number, id: string, path: string): Promise<string | undefined> => {
    const js = `fetch('http://127.0.0.1:${APP_PORT}${path}').then(r=>r.text()).then(t=>process.stdout.write(t),()=>process.exit(1))`;
    const r = await nodeDocker(info, node, ['exec', id, 'node', '-e', js], { check: false, timeoutMs: 15_000 });
    return r.code === 0 ? r.stdout : undefined;
  };

  /**
   * Follows the log of every app task container on the app nodes from now on (`docker events` for the new ones):
   * Swarm removes a retired task's container a second or two after it exits, so its exit line ("posts=N") is
   * only ours if we were reading already. count() then gives each task's POSTs: the exit line of one that ended,
   * the /echo answer of one still running.
   */
  const followTasks = async () => {
    const followed = new Map<string, { node: number; service: string; text: string }>();
    const procs: ChildProcess[] = [];
    const follow = (node: number, id: string, service: string) => {
      if (followed.has(id)) return;
      const rec = { node, service, text: '' };
      followed.set(id, rec);
      const p = spawn(info.dockerClient, ['-H', info.nodes[node - 1]!.dockerHost, 'logs', '-f', id], {
        env: cleanEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      p.stdout.on('data', (d) => (rec.text += d));
      p.stderr.on('data', (d) => (rec.text += d));
      procs.push(p);
    };
    for (const n of apps) {
      const i = info.nodes.indexOf(n) + 1;
      const fmt = '{{.Actor.ID}} {{index .Actor.Attributes "com.docker.swarm.service.name"}}';
      const ev = spawn(
        info.dockerClient,
        ['-H', n.dockerHost, 'events', '--filter', 'type=container', '--filter', 'event=start', '--format', fmt],
        { env: cleanEnv(), stdio: ['ignore', 'pipe', 'ignore'] },
      );
      let partial = '';
      ev.stdout.on('data', (d) => {
        const lines = (partial + d.toString()).split('\n');
        partial = lines.pop() ?? '';
        for (const l of lines) {
          const [id, svc] = l.split(' ');
          if (id && svc?.startsWith(`${STACK}_app-`)) follow(i, id, svc);
        }
      });
      procs.push(ev);
    }
    await sleep(1000); // the event streams are subscribed; what started before them is listed now
    for (const c of await appContainers(undefined, ['status=running'])) follow(c.node, c.id, c.service);
    return {
      followed,
      async count(): Promise<TaskCount[]> {
        const out: TaskCount[] = [];
        for (const [id, f] of followed) {
          const ins = await nodeDocker(info, f.node, ['inspect', '-f', '{{.State.Status}}|{{.State.ExitCode}}', id], {
            check: false,
          });
          const [state = 'removed', exit] = ins.code === 0 ? ins.stdout.trim().split('|') : [];
          let posts: number | undefined;
          if (state === 'running') {
            const body = await inTask(f.node, id, '/echo?lane=count');
            posts = body ? (JSON.parse(body) as { posts: number }).posts : undefined;
          } else {
            const m = [...f.text.matchAll(/(?:exiting|cut); posts=(\d+)/g)].at(-1);
            posts = m ? Number(m[1]) : undefined;
          }
          out.push({
            node: info.nodes[f.node - 1]!.name,
            service: f.service,
            container: id.slice(0, 12),
            state,
            exitCode: exit === undefined || state === 'running' ? undefined : Number(exit),
            posts,
          });
        }
        return out;
      },
      stop() {
        for (const p of procs) if (p.exitCode === null) p.kill();
      },
    };
  };

  /** read the v4 colour's tasks' request counters (their /metrics) every second until stop() */
  const watchV4 = (colour: Colour) => {
    const seen = new Map<string, { node: string; container: string; requests: Record<string, number> }>();
    let on = true;
    const loop = (async () => {
      while (on) {
        for (const c of await appContainers(colour)) {
          const text = await inTask(c.node, c.id, '/metrics');
          if (!text) continue;
          const requests: Record<string, number> = {};
          for (const m of text.matchAll(
            /togather_http_requests_total\{method="(\w+)",path="([^"]*)",status="(\d+)"\} (\d+)/g,
          ))
            requests[`${m[1]} ${m[2]} ${m[3]}`] = Number(m[4]);
          seen.set(c.id, { node: info.nodes[c.node - 1]!.name, container: c.id.slice(0, 12), requests });
        }
        await sleep(1000);
      }
    })();
    return {
      async stop() {
        on = false;
        await loop;
        return [...seen.values()];
      },
    };
  };

  // ---------------------------------------------------------------------------------------------------------
  const ops: SwarmOp[] = [];
  let aborted: string | undefined;
  let summaries: LaneSummary[] = [];
  let posts: { clientOk: number; appCounted?: number; tasks: TaskCount[] } | undefined;
  let v4: V4Probe | undefined;
  let loadSeconds = 0;
  let servingAfter: { commit?: string; slot?: string } = {};
  const deployFlags = ['--skip-ci-check', '--force', '--skip-migrations'];
  let loadChild: ChildProcess | undefined;
  let nodeLoss: NodeLoss | undefined;
  let firstRelease: FirstRelease | undefined;
  let clash: LockClash | undefined;
  const singleEnv = { info: host, stackPrefix: `${APP}-${SINGLE}`, name: SINGLE };

  /**
   * A deploy started once `first` holds the cluster lock (the lock service exists on the manager): it must be
   * refused (exit 5) naming the first deploy.
   */
  const clashWith = async (first: Promise<StreamedRun>): Promise<LockClash> => {
    let settled = false;
    void first.then(() => (settled = true));
    let held = false;
    while (!held && !settled) {
      held = (await nodeDocker(info, 1, ['service', 'inspect', `${STACK}-deploy-lock`], { check: false })).code === 0;
      if (!held) await sleep(100);
    }
    if (!held) throw new Error('the deploy ended before its lock was seen: no second deploy was tried');
    const second = await cli(['deploy', ENV, '--version', 'v6', ...deployFlags]);
    await first;
    const state = await run([...swarmSshArgv(info, 1), `cat stacks/${ENV}/state.json`], {
      env: cleanEnv(),
      check: false,
    });
    const firstId =
      state.code === 0 ? (JSON.parse(state.stdout) as { current?: { id?: string } }).current?.id : undefined;
    return { code: second.code, holder: /is locked by (.*)$/m.exec(second.stderr)?.[1], firstId };
  };

  /** n3's link into the fabric's switch, down or up: the node vanishes from the others as a cut cable would do it */
  const link = (state: 'down' | 'up') => run(['ip', '-n', SWITCH_NETNS, 'link', 'set', 'p3', state]);
  const nodeStates = async () =>
    (await nodeDocker(info, 1, ['node', 'ls', '--format', '{{.Hostname}}={{.Status}}'], { check: false })).stdout
      .trim()
      .split('\n');

  /**
   * A deploy during whose health gate n3 is cut off (the outcome is recorded, not assumed: docs/swarm.md says what
   * the code does), then, with n3 back and Ready, a deploy that must succeed.
   */
  const loseNode = async (into: SwarmOp[]): Promise<NodeLoss> => {
    let cutAt: number | undefined;
    say('  deploy v6, n3 cut during its health gate…');
    const r = await cli(['deploy', ENV, '--version', 'v6', ...deployFlags], 300_000, (text) => {
      if (cutAt === undefined && /health gate/.test(text)) {
        cutAt = Date.now();
        void link('down');
      }
    });
    const op = timeSwarmOp('deploy v6 (n3 cut)', r);
    into.push(op);
    say(`    exit ${r.code} in ${(op.totalMs / 1000).toFixed(1)} s; nodes: ${(await nodeStates()).join(' ')}`);
    const error = /^error: (.*)$/m.exec(r.stderr)?.[1];
    await link('up');
    const upAt = Date.now();
    let ready = false;
    while (!ready && Date.now() - upAt < 60_000) {
      await sleep(500);
      ready = (await nodeStates()).every((l) => l.endsWith('=Ready'));
    }
    const readyMs = Date.now() - upAt;
    await sleep(gapMs);
    say('  deploy v2, n3 back…');
    const next = await cli(['deploy', ENV, '--version', 'v2', ...deployFlags]);
    into.push(timeSwarmOp('deploy v2 (n3 back)', next));
    say(`    exit ${next.code}`);
    await sleep(gapMs);
    return {
      code: r.code,
      ...(error ? { error } : {}),
      cutAfterMs: cutAt === undefined ? undefined : cutAt - r.startedAt,
      readyAfterMs: ready ? readyMs : undefined,
      nextCode: next.code,
      servingAfter: await serving(),
    };
  };
  let stopFollowing: (() => void) | undefined;
  try {
    // the environment's directory is in the deploy user's home, which outlives the fabric: an earlier run's
    // state.json and history would make v1 no first deploy
    await run([...swarmSshArgv(info, 1), `rm -rf stacks/${ENV}`], { env: cleanEnv() });
    await destroyEnv(singleEnv);
    say(`deploy m1 (no load, migrations): ${STACK} on ${info.nodes.map((n) => `${n.name} ${n.addr}`).join(', ')}…`);
    const since = Math.floor(Date.now() / 1000) - 1;
    const first = await cli(['deploy', ENV, '--version', 'm1', '--skip-ci-check', '--force']);
    ops.push(timeSwarmOp('deploy m1 (no load)', first));
    if (first.code !== 0) throw new Error(`deploy m1 failed (exit ${first.code}):\n${first.stderr.slice(-3000)}`);
    const now = await serving();
    let live = now.slot as Colour;
    if (live !== 'blue' && live !== 'green') throw new Error('m1 deployed but the edge does not answer /echo');
    say('deploy m1 to the single host, same deployment.yml…');
    const single = await runCli(
      cliArgs({ configPath, info: host, repo }, ['deploy', SINGLE, '--version', 'm1', '--skip-ci-check', '--force']),
      host.runnerEnv,
    );
    const v = single.code === 0 ? await httpGet(singlePort, '/version').catch(() => undefined) : undefined;
    firstRelease = {
      version: repo.shas.m1,
      migrateRuns: await migrateRunsSince(info, since),
      schema: await swarmSchema(info, STACK),
      singleCode: single.code,
      ...(single.code !== 0 ? { singleError: (single.stderr.match(/^(error: .*|.*— fix: .*)$/m) ?? [])[0] } : {}),
      servedSwarm: now.commit,
      servedSingle: v?.status === 200 ? (JSON.parse(v.body) as { git_commit?: string }).git_commit : undefined,
    };
    await destroyEnv(singleEnv); // the swarm's nodes share this machine's 2 CPUs with it

    // the lanes, in a child of ours inside the deployer's namespace
    loadChild = fork(fileURLToPath(import.meta.url), [CHILD_FLAG], {
      execPath: info.ctlExec[0],
      execArgv: [...info.ctlExec.slice(1), process.execPath, '--import', 'tsx'],
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const child = loadChild;
    const msg = <T>(type: string) =>
      new Promise<T>((res, rej) => {
        const on = (m: { type: string; message?: string } & T) => {
          if (m.type === type) {
            child.off('message', on);
            res(m);
          } else if (m.type === 'error') rej(new Error(`load: ${m.message}`));
        };
        child.on('message', on);
        child.once('exit', (code) => rej(new Error(`the load child exited (${code})`)));
      });
    const ready = msg<object>('ready');
    const opts: LoadOptions = {
      host: edge.hostname,
      port: Number(edge.port || 80),
      lanes,
      slowMs: [slowMin, slowMax],
      pauseMs,
      maxDurationMs: maxMs,
    };
    child.send({ type: 'start', opts });
    await ready;
    say(`load: ${lanes.map((l) => `${l.name}×${l.concurrency}`).join(', ')} → ${edge.host} (pause ${pauseMs} ms)`);
    const t0 = Date.now();
    const tasksLog = await followTasks();
    stopFollowing = () => tasksLog.stop();
    let raws: LaneRaw[] = [];
    let v4From = 0;
    let v4End = 0;
    let v4Colour: Colour | undefined;
    try {
      await sleep(gapMs);
      for (const [label, args, want] of [
        ['deploy v2', ['deploy', ENV, '--version', 'v2', ...deployFlags], 0],
        ['deploy v6', ['deploy', ENV, '--version', 'v6', ...deployFlags], 0],
        ['rollback', ['rollback', ENV, '--yes'], 0],
        ['deploy v4 (unhealthy)', ['deploy', ENV, '--version', 'v4', ...deployFlags], 10],
      ] as const) {
        say(`  ${label}…`);
        const unhealthy = want !== 0;
        const watch = unhealthy ? watchV4((v4Colour = other(live))) : undefined;
        if (unhealthy) v4From = Date.now();
        const running = cli([...args]);
        if (label === 'deploy v2') clash = await clashWith(running);
        const r = await running;
        if (unhealthy) v4End = Date.now();
        const probed = await watch?.stop();
        const op = timeSwarmOp(label, r);
        ops.push(op);
        say(`    exit ${r.code} in ${(op.totalMs / 1000).toFixed(1)} s`);
        if (r.code !== want)
          throw new Error(`${label}: exit ${r.code}, expected ${want}:\n${(r.stdout + r.stderr).slice(-3000)}`);
        if (probed) v4 = { tasks: probed, clientAnswers: 0, logs: [] };
        else live = other(live);
        await sleep(gapMs);
      }
      if (o['node-loss']) nodeLoss = await loseNode(ops);
    } finally {
      const result = msg<{ raws: LaneRaw[] }>('result');
      child.send({ type: 'stop' });
      raws = (await result).raws;
      loadSeconds = (Date.now() - t0) / 1000;
    }
    const windows = ops.flatMap((op) => (op.window ? [op.window] : []));
    summaries = raws.map((r) => summarize(r, windows, t0));
    if (v4 && v4Colour) {
      const code = COLOUR_NAMES.indexOf(v4Colour);
      v4.clientAnswers = raws.reduce((n, r) => {
        for (let i = 0; i < r.start.length; i++)
          if (r.upstream[i] === code && r.start[i]! + r.latency[i]! >= v4From && r.start[i]! <= v4End) n++;
        return n;
      }, 0);
    }
    servingAfter = await serving();
    const tasks = await tasksLog.count();
    tasksLog.stop();
    if (v4)
      v4.logs = [...tasksLog.followed]
        .filter(([id]) => v4!.tasks.some((t) => id.startsWith(t.container)))
        .flatMap(([id, f]) =>
          f.text
            .split('\n')
            .filter(Boolean)
            .map((l) => `${id.slice(0, 12)} ${l}`),
        );
    const clientOk = summaries.reduce((n, s) => n + (s.postOk ?? 0), 0);
    posts = {
      clientOk,
      appCounted: tasks.some((t) => t.posts === undefined) ? undefined : tasks.reduce((a, t) => a + t.posts!, 0),
      tasks,
    };
  } catch (e) {
    aborted = e instanceof Error ? e.message : String(e);
  } finally {
    if (loadChild && loadChild.exitCode === null) loadChild.kill();
    stopFollowing?.();
  }

  // -------------------------------------------------------------------------------------------------------
  say(
    `\n== Swarm, 3 nodes (app tasks on ${apps.map((n) => n.name).join('/')}, edge on n1): ${loadSeconds.toFixed(1)}s of load`,
  );
  const keys: string[] = [];
  for (const op of ops) for (const ph of op.phases) if (!keys.includes(phaseKey(ph.name))) keys.push(phaseKey(ph.name));
  const rows = [['operation', 'exit', ...keys, 'total', 'window']];
  for (const op of ops) {
    const by = new Map(op.phases.map((ph) => [phaseKey(ph.name), ph.ms]));
    rows.push([
      op.label,
      String(op.code),
      ...keys.map((k) => fmtMs(by.get(k))),
      fmtMs(op.totalMs),
      fmtMs(op.window && op.window.end - op.window.start),
    ]);
  }
  say(table(rows));
  const ship = ops.flatMap((op) => op.shipping.map((s) => [op.label, s.node, s.text, fmtMs(s.ms)]));
  // time: since the previous node's line, the first since its phase began (the local build/save included); the
  // nodes ship side by side, so the image phase's own time is the figure to compare
  if (ship.length) say(`\nimage shipping\n${table([['operation', 'node', 'what', 'time'], ...ship])}`);
  if (summaries.length) {
    const lrows = [LANE_HEADER, ...summaries.map(laneRow)];
    say(`\n${table(lrows)}`);
    for (const l of summaries)
      for (const s of l.samples.slice(0, 3)) say(`  e.g. ${l.lane} ${s.kind} at ${s.at} after ${s.latencyMs}ms`);
  }
  const totalRequests = summaries.reduce((n, s) => n + s.requests, 0);
  const totalFailures = summaries.reduce((n, s) => n + Object.values(s.failures).reduce((a, b) => a + b, 0), 0);
  say(`total: ${totalRequests} requests, ${totalFailures} failed`);
  if (posts) {
    const a = posts.appCounted;
    say(
      `POSTs: ${posts.clientOk} succeeded for the clients; the app's ${posts.tasks.length} tasks counted ${a ?? '? (a task left no count)'}` +
        (a === undefined
          ? ''
          : a === posts.clientOk
            ? ' (equal)'
            : ` (${a - posts.clientOk > 0 ? '+' : ''}${a - posts.clientOk})`),
    );
    say(
      table([
        ['task', 'node', 'service', 'state', 'exit', 'posts'],
        ...posts.tasks.map((t) => [
          t.container,
          t.node,
          t.service,
          t.state,
          String(t.exitCode ?? '—'),
          String(t.posts ?? '?'),
        ]),
      ]),
    );
  }
  if (v4) {
    const kinds = new Set(v4.tasks.flatMap((t) => Object.keys(t.requests)));
    say(
      `v4 (unhealthy): ${v4.tasks.length} task(s) read while the deploy ran; requests they counted: ` +
        `${v4.tasks.map((t) => `${t.node}/${t.container} ${JSON.stringify(t.requests)}`).join('; ') || 'none read'}; ` +
        `client answers from the v4 colour: ${v4.clientAnswers}; paths: ${[...kinds].join(', ') || '—'}`,
    );
  }
  if (v4?.logs.length) say(`v4 tasks' log since its deploy began:\n${v4.logs.map((l) => `  ${l}`).join('\n')}`);
  if (nodeLoss)
    say(
      `node lost: n3 cut ${
        nodeLoss.cutAfterMs === undefined
          ? 'never (no health gate seen)'
          : `${(nodeLoss.cutAfterMs / 1000).toFixed(1)} s into the deploy`
      }` +
        ` → exit ${nodeLoss.code}${nodeLoss.error ? ` (${nodeLoss.error})` : ''}; n3 Ready ` +
        `${nodeLoss.readyAfterMs === undefined ? 'not within 60 s' : `${(nodeLoss.readyAfterMs / 1000).toFixed(1)} s after its link came back`}` +
        `; the next deploy: exit ${nodeLoss.nextCode}; failed requests over the whole run: ${totalFailures}`,
    );
  const sha = (c?: string) => c?.slice(0, 12) ?? '?';
  if (firstRelease) {
    const f = firstRelease;
    say(
      `first release m1 ${sha(f.version)} from one deployment.yml: the swarm serves ${sha(f.servedSwarm)}, ` +
        `the single host (exit ${f.singleCode}${f.singleError ? `: ${f.singleError}` : ''}) serves ${sha(f.servedSingle)}; migrate containers on the swarm's ` +
        `nodes: ${f.migrateRuns.length} (${f.migrateRuns.map((m) => `${m.node}/${m.id}`).join(', ') || 'none'}); ` +
        `schema_migrations ${f.schema || 'absent'}`,
    );
  }
  if (clash)
    say(
      `second deploy while deploy v2 held the lock: exit ${clash.code}, refused naming ${clash.holder ?? '(no holder named)'}; ` +
        `deploy v2's ID ${clash.firstId ?? '?'}`,
    );
  say(`after the run the edge serves ${sha(servingAfter.commit)} on ${servingAfter.slot ?? '?'}`);

  const results = join(ROOT, 'bench-results');
  mkdirSync(results, { recursive: true });
  const file = join(results, `bench-swarm-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    JSON.stringify(
      {
        startedAt: startedAt.toISOString(),
        finishedAt: new Date().toISOString(),
        machine: { cpus: cpus().length, loadavgAtEnd: loadavg() },
        fabric: {
          prefix: process.env.TOGATHER_SWARM_PREFIX,
          nodes: info.nodes.map((n) => ({ name: n.name, addr: n.addr, labels: n.labels })),
          edge: info.edgeUrl,
        },
        params: { gapMs, lanes, slowMs: [slowMin, slowMax], pauseMs, replicas: 2, drainTimeout: '8s' },
        shas: repo.shas,
        aborted,
        operations: ops,
        loadSeconds,
        lanes: summaries,
        totalRequests,
        totalFailures,
        posts,
        v4,
        nodeLoss,
        firstRelease,
        clash,
        servingAfter,
      },
      null,
      2,
    ) + '\n',
  );
  say(`\nresults: ${file}`);
  if (aborted) say(`\nbench aborted: ${aborted}`);

  if (!o.keep) {
    say('taking the fabric down…');
    await swarmDown({ log: (l) => say(l) }).catch((e: unknown) => say(`swarm down failed: ${String(e)}`));
  } else say(`kept: the fabric (${info.dir}) and the stack ${STACK}; config ${configPath}`);
  const v4Clean =
    !!v4 &&
    v4.clientAnswers === 0 &&
    // GET /metrics is this bench's own reading; anything but /health would be a request that reached v4
    v4.tasks.every((t) => Object.keys(t.requests).every((k) => / \/(health|metrics) /.test(k)));
  // a lost node takes its in-flight requests (and its tasks' counts) with it: measured and reported, not zero
  const parity =
    !!firstRelease &&
    firstRelease.servedSwarm === repo.shas.m1 &&
    firstRelease.servedSingle === repo.shas.m1 &&
    firstRelease.migrateRuns.length === 1 &&
    firstRelease.schema === '2|f';
  const refused = !!clash && clash.code === 5 && !!clash.firstId && !!clash.holder?.includes(clash.firstId);
  const ok =
    !aborted &&
    parity &&
    refused &&
    (nodeLoss ? nodeLoss.nextCode === 0 : totalFailures === 0 && posts?.appCounted === posts?.clientOk) &&
    v4Clean &&
    servingAfter.commit === repo.shas.v2;
  const passed = nodeLoss
    ? `swarm: the deploy after the lost node succeeded, ${totalFailures} failed requests (a node was lost), v4 refused and unreached`
    : 'swarm: 0 failed requests, POSTs equal, v4 refused and unreached';
  const also = 'm1 served by both targets, its migrations run once, the second deploy refused naming the first';
  say(ok ? `${passed}; ${also}` : 'swarm: FAILED (see above)');
  return ok ? 0 : 1;
}
