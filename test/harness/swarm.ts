/**
 * A real multi-node Docker Swarm on one machine, for the swarm provider's tests and measurements.
 *
 * Each node is a network namespace `tgs-n<i>` (10.231.0.1<i>) with its own dockerd (the modern stack, Engine 26)
 * and sshd; a switch namespace `tgs-sw` holds the bridge they all hang off, and the deployer namespace `tgs-ctl`
 * (10.231.0.2) is where the CLI, the load generator and ssh run (`nsenter --net=…`: only the network is
 * private, so files and the runner's socket are shared). Overlays take 10.240.0.0/16. The root namespace's
 * networking is never touched.
 *
 * Runtime state (sockets, exec roots, pidfiles) and the engines' data roots live on a tmpfs at /run/tgs (unix
 * socket paths must stay short); logs, sshd configs, known_hosts and info.json under <harness>/swarm. The
 * loopback harness (host.ts) is reused, not changed: its deploy user and key log in to every node, its runner
 * engine builds, and its host engine provides the infra images loaded into n1.
 * Everything started is recorded by pidfile, and swarmDown ends exactly that.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DEFAULT_GROUP,
  enginePid,
  ensureEngine,
  harnessDir,
  pinnedSshArgv,
  sshdConfigFor,
  stopPid,
  unmountUnder,
  upHost,
  withLock,
  type EngineSpec,
  type HarnessInfo,
} from './host.js';
import { cleanEnv, dockerPing, logTail, pidMatches, pipeline, readPid, run, sleep, waitFor, type Ran } from './proc.js';
import { stackFor, stackName, stackPath } from './stack.js';
import { CLI } from './run-cli.js';

/**
 * TOGATHER_SWARM_PREFIX (default tgs) names the fabric's namespaces, run dir and addresses, so a second fabric
 * (a bench beside a test run) can live on the same machine: tgs → 10.231.0.0/24, any other prefix → 10.233.0.0/24.
 */
const P = /^[a-z]{2,5}$/.test(process.env.TOGATHER_SWARM_PREFIX ?? '') ? process.env.TOGATHER_SWARM_PREFIX! : 'tgs';
const NET = P === 'tgs' ? 231 : 233;
export const RUN_DIR = `/run/${P}`;
export const UNDERLAY = `10.${NET}.0.0/24`;
export const OVERLAY_POOL = `10.${NET + 9}.0.0/16`;
export const CTL_NETNS = `${P}-ctl`;
export const SWITCH_NETNS = `${P}-sw`;
export const CTL_ADDR = `10.${NET}.0.2`;
export const PROBE_NETWORK = `${P}-probe`;
export const PROBE_SERVICE = `${P}-probe-svc`;
const MAX_NODES = 3;
const SSHD = '/usr/sbin/sshd';
/** an upper bound, not a reservation: infra images on n1 (~0.7 GB) plus a few app releases per node */
const TMPFS_SIZE = '8g';

export interface SwarmNode {
  /** n1, n2, n3 */
  name: string;
  /** its network namespace (tgs-n<i>) and hostname (set with unshare --uts, so `node ls` tells them apart) */
  netns: string;
  hostname: string;
  addr: string;
  dockerHost: string;
  nodeId: string;
  role: 'manager' | 'worker';
  labels: string[];
  sshPort: number;
}

export interface SwarmInfo {
  nodeCount: 1 | 3;
  nodes: SwarmNode[];
  /** n1: the manager, the edge and the db node; the one the tool reaches over ssh */
  manager: { name: string; addr: string; dockerHost: string; nodeId: string; sshPort: number };
  ssh: { user: string; privateKeyPath: string; knownHostsPath: string };
  /** prefix a command with this to run it in the deployer's namespace */
  ctlExec: string[];
  ctlAddr: string;
  /** the edge Caddy's published port on n1, as seen from tgs-ctl */
  edgeUrl: string;
  underlay: string;
  overlayPool: string;
  /** the modern stack's docker CLI */
  dockerClient: string;
  /** loaded into n1 by the harness (the tool ships app images itself) */
  images: { caddy: string; gate: string; postgres: string; migrateFixture: string };
  /** the loopback harness this fabric borrows its user, key, runner and images from */
  harnessDir: string;
  runnerDockerHost: string;
  dir: string;
  runDir: string;
}

export interface SwarmUpOptions {
  nodes: 1 | 3;
  log?: (line: string) => void;
}

export function swarmDir(dir?: string): string {
  return join(harnessDir(dir), P === 'tgs' ? 'swarm' : `swarm-${P}`);
}

export function readSwarmInfo(dir?: string): SwarmInfo | undefined {
  try {
    return JSON.parse(readFileSync(join(swarmDir(dir), 'info.json'), 'utf8')) as SwarmInfo;
  } catch {
    return undefined;
  }
}

const nodeAddr = (i: number) => `10.${NET}.0.1${i}`;
const nodeRun = (i: number) => join(RUN_DIR, `n${i}`);

function engineSpec(i: number, dir: string): EngineSpec {
  const root = nodeRun(i);
  const pidfile = join(root, 'dockerd.pid');
  const data = join(dir, `n${i}`);
  return {
    name: `n${i}`,
    root,
    execRoot: join(root, 'exec'),
    extraRoots: [data],
    socket: join(root, 'docker.sock'),
    pidfile,
    log: join(data, 'dockerd.log'),
    flags: [
      '--data-root',
      join(root, 'data'),
      '--exec-root',
      join(root, 'exec'),
      '--pidfile',
      pidfile,
      '-H',
      `unix://${join(root, 'docker.sock')}`,
      '--config-file',
      join(root, 'daemon.json'),
      '--log-level',
      'warn',
      '-G',
      DEFAULT_GROUP,
      '--cgroup-parent',
      `/${P}-n${i}`,
    ],
  };
}

/** docker against one node's engine */
export function nodeDocker(
  info: SwarmInfo,
  node: number,
  args: readonly string[],
  opts: { check?: boolean; input?: string; timeoutMs?: number } = {},
): Promise<Ran> {
  const n = info.nodes[node - 1];
  if (!n) throw new Error(`no node n${node} in a ${info.nodeCount}-node swarm`);
  return run([info.dockerClient, '-H', n.dockerHost, ...args], { env: cleanEnv(), ...opts });
}

/**
 * The migrate containers created on every node of the fabric since `sinceS` (epoch seconds), read back from each
 * engine's own event log: what proves that a deploy ran its migrations once in the whole cluster, not per node.
 */
export async function migrateRunsSince(info: SwarmInfo, sinceS: number): Promise<{ node: string; id: string }[]> {
  const until = String(Math.ceil(Date.now() / 1000) + 1);
  const runs: { node: string; id: string }[] = [];
  for (const [i, n] of info.nodes.entries()) {
    const r = await nodeDocker(info, i + 1, [
      'events',
      '--since',
      String(sinceS),
      '--until',
      until,
      '--filter',
      'type=container',
      '--filter',
      'event=create',
      '--filter',
      'label=org.togather.role=migrate',
      '--format',
      '{{.Actor.ID}}',
    ]);
    for (const id of r.stdout.split('\n').filter(Boolean)) runs.push({ node: n.name, id: id.slice(0, 12) });
  }
  return runs;
}

/** `version|dirty` of schema_migrations in the stack's managed database (its task on n1), '' when there is none */
export async function swarmSchema(info: SwarmInfo, stack: string): Promise<string> {
  const ps = await nodeDocker(info, 1, [
    'ps',
    '-q',
    '--filter',
    `label=com.docker.swarm.service.name=${stack}_db`,
    '--filter',
    'status=running',
  ]);
  const id = ps.stdout.split('\n').find(Boolean);
  if (!id) throw new Error(`no running ${stack}_db task on n1`);
  const q = await nodeDocker(
    info,
    1,
    ['exec', id, 'psql', '-U', 'togather', '-d', 'togather', '-tAc', 'SELECT version, dirty FROM schema_migrations'],
    { check: false },
  );
  return q.code === 0 ? q.stdout.trim() : '';
}

/**
 * The CLI under test (node + tsx on the sources) in the deployer's namespace: the verb and environment, then the
 * fabric's deploy key and known_hosts, the config and the sample repository, then the rest of `args`.
 */
export function swarmCliArgv(info: SwarmInfo, o: { config: string; repo: string }, args: readonly string[]): string[] {
  const [verb, environment, ...rest] = args;
  return [
    ...info.ctlExec,
    process.execPath,
    '--import',
    'tsx',
    CLI,
    verb!,
    environment!,
    '--config',
    o.config,
    '--identity',
    info.ssh.privateKeyPath,
    '--known-hosts',
    info.ssh.knownHostsPath,
    '--repo',
    o.repo,
    ...rest,
  ];
}

/** `ssh … user@<node>` from the deployer namespace with the pinned host key; append the remote command */
export function swarmSshArgv(info: SwarmInfo, node = 1): string[] {
  const n = info.nodes[node - 1];
  if (!n) throw new Error(`no node n${node}`);
  return [
    ...info.ctlExec,
    ...pinnedSshArgv({ ...info.ssh, host: n.addr, port: n.sshPort }, ['-o', 'ConnectTimeout=10']),
  ];
}

// ---------------------------------------------------------------------------------------------------------------
// up

export async function swarmUp(opts: SwarmUpOptions): Promise<SwarmInfo> {
  const log = opts.log ?? (() => {});
  const n = opts.nodes;
  if (n !== 1 && n !== 3) throw new Error(`swarm: --nodes must be 1 or 3, not ${String(n)}`);
  if (stackName() !== 'modern') throw new Error('swarm: the fabric runs on the modern stack only (Engine 26)');
  const harness = await upHost({ log });
  const dir = swarmDir(harness.dir);
  mkdirSync(dir, { recursive: true });
  return withLock(dir, async () => {
    const prev = readSwarmInfo(harness.dir);
    if (prev && prev.nodeCount === n && (await healthy(prev))) {
      log(`swarm: ${n} node(s) already up (${dir})`);
      return prev;
    }
    if (prev || existsSync(RUN_DIR) || (await ourNetns()).length > 0) {
      log('swarm: taking down what a previous run left');
      await teardown(dir, log);
    }
    const t0 = Date.now();
    try {
      const info = await build(harness, dir, n, log);
      writeFileSync(join(dir, 'info.json'), `${JSON.stringify(info, null, 2)}\n`);
      log(`swarm: ${n} node(s) ready in ${((Date.now() - t0) / 1000).toFixed(1)} s (${join(dir, 'info.json')})`);
      return info;
    } catch (e) {
      // a half-built fabric is worth nothing to a rerun; its logs are kept for the message only
      const logs = [1, 2, 3]
        .map((i) => engineSpec(i, dir).log)
        .filter((f) => existsSync(f))
        .map((f) => `${f}:\n${logTail(f, 10)}`)
        .join('\n');
      await teardown(dir, () => {}).catch(() => undefined);
      throw new Error(`swarm up failed: ${e instanceof Error ? e.message : String(e)}${logs ? `\n${logs}` : ''}`, {
        cause: e,
      });
    }
  });
}

async function healthy(info: SwarmInfo): Promise<boolean> {
  for (const [k, node] of info.nodes.entries()) {
    const e = engineSpec(k + 1, info.dir);
    if (enginePid(e) === undefined || !(await dockerPing(e.socket))) return false;
    const sp = readPid(join(nodeRun(k + 1), 'sshd.pid'));
    if (sp === undefined || !pidMatches(sp, ['sshd'])) return false;
    void node;
  }
  const ls = await nodeDocker(info, 1, ['node', 'ls', '--format', '{{.Status}}'], { check: false, timeoutMs: 10_000 });
  const states = ls.stdout.split('\n').filter(Boolean);
  return ls.code === 0 && states.length === info.nodeCount && states.every((s) => s === 'Ready');
}

async function ip(args: string[]): Promise<Ran> {
  return run(['ip', ...args], { env: cleanEnv() });
}

/** Our namespaces that exist now (named by us, so taking them down touches nothing else). */
async function ourNetns(): Promise<string[]> {
  const r = await run(['ip', 'netns', 'list'], { env: cleanEnv(), check: false });
  const names = r.stdout.split('\n').map((l) => l.split(' ')[0] ?? '');
  const ours = new Set([SWITCH_NETNS, CTL_NETNS, ...Array.from({ length: MAX_NODES }, (_, i) => `${P}-n${i + 1}`)]);
  return names.filter((x) => ours.has(x));
}

function toInt(a: string): number {
  return a.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}
function overlaps(a: string, b: string): boolean {
  const [an, al] = a.split('/');
  const [bn, bl] = b.split('/');
  const len = Math.min(Number(al ?? 32), Number(bl ?? 32));
  const mask = len === 0 ? 0 : (~0 << (32 - len)) >>> 0;
  return (toInt(an ?? '') & mask) >>> 0 === (toInt(bn ?? '') & mask) >>> 0;
}

/** Refuse to start if the root namespace already routes either range: our nodes would shadow or be shadowed. */
async function checkRanges(): Promise<void> {
  const r = await run(['ip', '-4', '-o', 'route', 'show', 'table', 'all'], { env: cleanEnv() });
  for (const line of r.stdout.split('\n')) {
    const dest = line.trim().split(/\s+/)[0] === 'local' ? line.trim().split(/\s+/)[1] : line.trim().split(/\s+/)[0];
    if (!dest || !/^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(dest)) continue;
    const cidr = dest.includes('/') ? dest : `${dest}/32`;
    if (cidr.endsWith('/0')) continue;
    for (const ours of [UNDERLAY, OVERLAY_POOL]) {
      if (overlaps(cidr, ours))
        throw new Error(`swarm: ${ours} is already in use on this machine (route ${line.trim()})`);
    }
  }
}

async function build(harness: HarnessInfo, dir: string, n: 1 | 3, log: (l: string) => void): Promise<SwarmInfo> {
  await checkRanges();
  const stack = stackFor('modern');
  mkdirSync(RUN_DIR, { recursive: true });
  // the node engines' data roots live in memory: loading the 634 MB postgis image and removing it again took
  // 26 s and 16-18 s on this machine's disk; a tmpfs is unmounted in no time
  if (!isMountPoint(RUN_DIR)) await run(['mount', '-t', 'tmpfs', '-o', `size=${TMPFS_SIZE},mode=0755`, P, RUN_DIR]);
  chmodSync(RUN_DIR, 0o755); // the deploy user reaches its node's socket through it
  chmodSync(dir, 0o755);

  // the switch, the nodes' and the deployer's links
  await ip(['netns', 'add', SWITCH_NETNS]);
  await ip(['-n', SWITCH_NETNS, 'link', 'add', 'br0', 'type', 'bridge']);
  await ip(['-n', SWITCH_NETNS, 'link', 'set', 'br0', 'up']);
  await ip(['-n', SWITCH_NETNS, 'link', 'set', 'lo', 'up']);
  const attach = async (ns: string, port: string, addr: string) => {
    await ip(['netns', 'add', ns]);
    await ip(['-n', SWITCH_NETNS, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    await ip(['-n', SWITCH_NETNS, 'link', 'set', port, 'master', 'br0', 'up']);
    await ip(['-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0']);
    await ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
    await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
  };
  const idx = Array.from({ length: n }, (_, k) => k + 1);
  for (const i of idx) await attach(`${P}-n${i}`, `p${i}`, nodeAddr(i));
  await attach(CTL_NETNS, 'pc', CTL_ADDR);

  // one dockerd per node, in its own network and UTS namespace (only those: a new mount namespace, as
  // `ip netns exec` makes, hides the cgroup mounts dockerd needs)
  const t0 = Date.now();
  await Promise.all(
    idx.map(async (i) => {
      const e = engineSpec(i, dir);
      mkdirSync(e.root, { recursive: true, mode: 0o755 });
      chmodSync(e.root, 0o755);
      mkdirSync(join(dir, `n${i}`), { recursive: true });
      await ensureEngine(e, stack, [
        'unshare',
        '--uts',
        'sh',
        '-c',
        'hostname "$0" && exec "$@"',
        `${P}-n${i}`,
        'nsenter',
        `--net=/run/netns/${P}-n${i}`,
      ]);
    }),
  );
  log(`swarm: ${n} dockerd(s) up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const client = join(stack.binDir ?? '', 'docker');
  const d = (i: number, args: string[], o: { check?: boolean; input?: string } = {}) =>
    run([client, '-H', `unix://${engineSpec(i, dir).socket}`, ...args], { env: cleanEnv(), timeoutMs: 60_000, ...o });

  await d(1, [
    'swarm',
    'init',
    '--advertise-addr',
    nodeAddr(1),
    '--listen-addr',
    `${nodeAddr(1)}:2377`,
    '--default-addr-pool',
    OVERLAY_POOL,
  ]);
  // no IP_VS in this kernel: the routing mesh cannot work, and host-mode ports need no ingress
  await d(1, ['network', 'rm', 'ingress'], { input: 'y\n' });
  const token = (await d(1, ['swarm', 'join-token', '-q', 'worker'])).stdout.trim();
  for (const i of idx.slice(1)) {
    await d(i, ['swarm', 'join', '--token', token, '--advertise-addr', nodeAddr(i), `${nodeAddr(1)}:2377`]);
  }
  const ids: string[] = [];
  for (const i of idx) ids.push((await d(i, ['info', '-f', '{{.Swarm.NodeID}}'])).stdout.trim());
  const labels = (i: number) => [
    ...(i === 1 ? ['togather.edge=true', 'togather.db=true'] : []),
    ...(n === 1 || i > 1 ? ['togather.app=true'] : []),
  ];
  for (const i of idx) {
    await d(1, ['node', 'update', ...labels(i).flatMap((l) => ['--label-add', l]), ids[i - 1] ?? '']);
  }
  await waitFor(
    `${n} swarm node(s) Ready`,
    async () => {
      const r = await d(1, ['node', 'ls', '--format', '{{.Status}}'], { check: false });
      const s = r.stdout.split('\n').filter(Boolean);
      return s.length === n && s.every((x) => x === 'Ready') ? true : undefined;
    },
    { timeoutMs: 60_000 },
  );
  log(`swarm: initialised, ${n} node(s) Ready, ingress removed, labels set`);

  // infra images on n1 only (edge, db, manager); app images are the tool's to ship
  const images = {
    caddy: harness.images.caddy,
    gate: harness.images.gate,
    postgres: harness.images.postgres,
    migrateFixture: harness.images.migrateFixture,
  };
  // the small probe image first; the rest (postgres is ~600 MB, ~25 s to load on 2 cores) meanwhile
  const load = (refs: string[]) =>
    pipeline(
      [
        [client, '-H', harness.hostDockerHost, 'save', ...refs],
        [client, '-H', `unix://${engineSpec(1, dir).socket}`, 'load', '-q'],
      ],
      { env: cleanEnv() },
    );
  await load([images.gate]);
  const t1 = Date.now();
  const rest = load([images.caddy, images.migrateFixture, images.postgres]).then(() =>
    log(`swarm: infra images loaded into n1 in ${((Date.now() - t1) / 1000).toFixed(1)} s`),
  );
  rest.catch(() => undefined); // awaited below; a failure meanwhile must not be an unhandled rejection

  // sshd per node on its own address, the harness's deploy user and key
  const knownHosts = join(dir, 'known_hosts');
  const khLines: string[] = [];
  for (const i of idx) {
    const nd = join(dir, `n${i}`);
    const hostKey = join(nd, 'ssh_host_ed25519_key');
    rmSync(hostKey, { force: true });
    rmSync(`${hostKey}.pub`, { force: true });
    await run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `${P}-n${i}`, '-f', hostKey]);
    const cfg = join(nd, 'sshd_config');
    writeFileSync(
      cfg,
      sshdConfigFor({
        comment: `sshd of swarm node n${i} (netns ${P}-n${i})`,
        listen: nodeAddr(i),
        port: 22,
        user: harness.ssh.user,
        hostKey,
        pidFile: join(nodeRun(i), 'sshd.pid'),
        authorizedKeys: join(harness.dir, 'ssh', 'authorized_keys'),
        dockerHost: `unix://${engineSpec(i, dir).socket}`,
        path: stackPath(stack),
        dockerConfig: join(harness.dir, 'host', 'docker-config'),
        // only the manager forwards: the other nodes are reached through it (ProxyCommand … -W)
        tcpForwarding: i === 1 ? 'local' : 'no',
      }),
      { mode: 0o600 },
    );
    const check = await run([SSHD, '-t', '-f', cfg], { check: false, env: cleanEnv() });
    if (check.code !== 0) throw new Error(`sshd rejects ${cfg}:\n${check.stderr.trim()}`);
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    await run(['nsenter', `--net=/run/netns/${P}-n${i}`, SSHD, '-f', cfg, '-E', join(nd, 'sshd.log')], {
      env: cleanEnv(),
    });
    const [type, key] = readFileSync(`${hostKey}.pub`, 'utf8').trim().split(/\s+/);
    khLines.push(`${nodeAddr(i)} ${type} ${key}`);
  }
  writeFileSync(knownHosts, khLines.map((l) => `${l}\n`).join(''), { mode: 0o644 });

  const nodes: SwarmNode[] = idx.map((i) => ({
    name: `n${i}`,
    netns: `${P}-n${i}`,
    hostname: `${P}-n${i}`,
    addr: nodeAddr(i),
    dockerHost: `unix://${engineSpec(i, dir).socket}`,
    nodeId: ids[i - 1] ?? '',
    role: i === 1 ? 'manager' : 'worker',
    labels: labels(i),
    sshPort: 22,
  }));
  const n1 = nodes[0] as SwarmNode;
  const info: SwarmInfo = {
    nodeCount: n,
    nodes,
    manager: { name: n1.name, addr: n1.addr, dockerHost: n1.dockerHost, nodeId: n1.nodeId, sshPort: 22 },
    ssh: { user: harness.ssh.user, privateKeyPath: harness.ssh.privateKeyPath, knownHostsPath: knownHosts },
    ctlExec: ['nsenter', `--net=/run/netns/${CTL_NETNS}`],
    ctlAddr: CTL_ADDR,
    edgeUrl: `http://${n1.addr}:80`,
    underlay: UNDERLAY,
    overlayPool: OVERLAY_POOL,
    dockerClient: client,
    images,
    harnessDir: harness.dir,
    runnerDockerHost: harness.runnerDockerHost,
    dir,
    runDir: RUN_DIR,
  };

  // the manager over ssh, pinned key, from the deployer's namespace: the path the tool takes
  await waitFor(
    'ssh to the manager',
    async () => {
      const r = await run(
        [...swarmSshArgv(info, 1), "docker info -f '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}'"],
        {
          check: false,
          env: cleanEnv(),
          timeoutMs: 15_000,
        },
      );
      return r.code === 0 && r.stdout.trim() === 'active true' ? true : undefined;
    },
    { timeoutMs: 30_000, failFast: () => undefined },
  ).catch((e: unknown) => {
    throw new Error(
      `${e instanceof Error ? e.message : String(e)}\nsshd log:\n${logTail(join(dir, 'n1', 'sshd.log'))}`,
    );
  });

  const t2 = Date.now();
  const probe = await overlayProbe(info);
  log(
    `swarm: overlay sanity in ${((Date.now() - t2) / 1000).toFixed(1)} s: ${probe.tasks.map((t) => `${t.node}/${t.ip}`).join(', ')} reached from n1`,
  );
  await rest;
  return info;
}

// ---------------------------------------------------------------------------------------------------------------
// overlay sanity

export interface ProbeResult {
  /** one per task: the node it ran on, its overlay address, the container hostname it answered with */
  tasks: { node: string; ip: string; answer: string }[];
  /** answers to the dnsrr service name, from n1 */
  byName: string[];
}

/**
 * An attachable overlay, a 2-task dnsrr service on the app node(s), and a container on n1 that fetches from each
 * task's address and from the service name. Everything it made is removed again (the probe image too, from
 * nodes other than n1: app nodes must start with no images, so the tool's shipping is exercised).
 */
export async function overlayProbe(info: SwarmInfo): Promise<ProbeResult> {
  const d1 = (args: string[], o: { check?: boolean } = {}) => nodeDocker(info, 1, args, { timeoutMs: 60_000, ...o });
  const img = info.images.gate;
  const others = info.nodes.slice(1).map((_, k) => k + 2);
  const cleanup = async () => {
    await d1(['service', 'rm', PROBE_SERVICE], { check: false });
    for (let k = 0; k < 50; k++) {
      if ((await d1(['network', 'rm', PROBE_NETWORK], { check: false })).code === 0) break;
      if (!(await d1(['network', 'ls', '-q', '--filter', `name=^${PROBE_NETWORK}$`])).stdout.trim()) break;
      await sleep(200);
    }
    // a stopped task container keeps the image (untagged), and one still stopping holds its engine's shutdown
    // (httpd as pid 1 ignores SIGTERM); the agent removes them only later, so we do
    for (const i of info.nodes.map((_, k) => k + 1)) {
      const left = await nodeDocker(
        info,
        i,
        ['ps', '-aq', '--filter', `label=com.docker.swarm.service.name=${PROBE_SERVICE}`],
        { check: false },
      );
      const ids = left.stdout.split('\n').filter(Boolean);
      if (ids.length > 0) await nodeDocker(info, i, ['rm', '-f', ...ids], { check: false });
      if (i > 1) await nodeDocker(info, i, ['image', 'rm', img], { check: false });
    }
  };
  await cleanup();
  try {
    for (const i of others) {
      await pipeline(
        [
          [info.dockerClient, '-H', info.manager.dockerHost, 'save', img],
          [info.dockerClient, '-H', info.nodes[i - 1]?.dockerHost ?? '', 'load', '-q'],
        ],
        { env: cleanEnv() },
      );
    }
    await d1(['network', 'create', '-d', 'overlay', '--attachable', PROBE_NETWORK]);
    await d1([
      'service',
      'create',
      '--detach',
      '--name',
      PROBE_SERVICE,
      '--network',
      PROBE_NETWORK,
      '--endpoint-mode',
      'dnsrr',
      '--replicas',
      '2',
      '--placement-pref',
      'spread=node.id',
      '--constraint',
      'node.labels.togather.app==true',
      '--stop-grace-period',
      '1s',
      '--no-resolve-image',
      img,
      'sh',
      '-c',
      'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www',
    ]);
    const names = new Map(info.nodes.map((x) => [x.nodeId, x.name]));
    const tasks = await waitFor(
      `${PROBE_SERVICE}: 2 tasks running`,
      async () => {
        const ids = (
          await d1(['service', 'ps', '-q', '--no-trunc', '--filter', 'desired-state=running', PROBE_SERVICE])
        ).stdout
          .split('\n')
          .filter(Boolean);
        if (ids.length !== 2) return undefined;
        const addr = `{{if eq .Network.Spec.Name "${PROBE_NETWORK}"}}{{index .Addresses 0}}{{end}}`;
        const fmt = `{{.NodeID}} {{.Status.State}} {{range .NetworksAttachments}}${addr}{{end}}`;
        const rows = (await d1(['inspect', '--type', 'task', '-f', fmt, ...ids])).stdout
          .split('\n')
          .filter(Boolean)
          .map((l) => l.split(' '));
        if (!rows.every((r) => r[1] === 'running' && r[2])) return undefined;
        return rows.map((r) => ({ node: names.get(r[0] ?? '') ?? r[0] ?? '?', ip: (r[2] ?? '').split('/')[0] ?? '' }));
      },
      { timeoutMs: 90_000 },
    );
    // one container, every address then the name twice: VXLAN across nodes and the embedded DNS (dnsrr)
    const script = [
      ...tasks.map((t) => `echo "${t.ip} $(wget -qO- http://${t.ip}:8080/)"`),
      `echo "name $(wget -qO- http://${PROBE_SERVICE}:8080/)"`,
      `echo "name $(wget -qO- http://${PROBE_SERVICE}:8080/)"`,
    ].join('; ');
    const out = await waitFor(
      'the probe service over the overlay from n1',
      async () => {
        const r = await d1(['run', '--rm', '--network', PROBE_NETWORK, img, 'sh', '-c', script], { check: false });
        const lines = r.stdout.split('\n').filter(Boolean);
        const ok = lines.length === tasks.length + 2 && lines.every((l) => /^\S+ \S+$/.test(l));
        return ok ? lines : undefined;
      },
      { timeoutMs: 60_000 },
    );
    const answers = new Map(out.map((l) => l.split(' ') as [string, string]));
    return {
      tasks: tasks.map((t) => ({ ...t, answer: answers.get(t.ip) ?? '' })),
      byName: out.filter((l) => l.startsWith('name ')).map((l) => l.slice(5)),
    };
  } finally {
    await cleanup();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// down

/** Stop every sshd and dockerd of the fabric by pidfile, remove its namespaces and directories. */
export async function swarmDown(opts: { dir?: string; log?: (line: string) => void } = {}): Promise<void> {
  const log = opts.log ?? (() => {});
  const dir = swarmDir(opts.dir);
  if (!existsSync(dir) && !existsSync(RUN_DIR) && (await ourNetns()).length === 0) return;
  mkdirSync(dir, { recursive: true });
  await withLock(dir, () => teardown(dir, log));
  rmSync(dir, { recursive: true, force: true });
}

async function teardown(dir: string, log: (l: string) => void): Promise<void> {
  const nodes = Array.from({ length: MAX_NODES }, (_, k) => k + 1);
  for (const i of nodes) {
    const pid = readPid(join(nodeRun(i), 'sshd.pid'));
    if (pid !== undefined && pidMatches(pid, ['sshd', join(dir, `n${i}`, 'sshd_config')])) {
      log(`swarm: n${i} sshd (pid ${pid}) ${await stopPid(pid, 5000)}`);
    }
  }
  await Promise.all(
    nodes.map(async (i) => {
      const e = engineSpec(i, dir);
      const pid = enginePid(e);
      if (pid !== undefined) log(`swarm: n${i} dockerd (pid ${pid}) ${await stopPid(pid, 20_000)}`);
      // what a killed dockerd leaves: its containerd and the shims, each named by its own pidfile
      const exec = e.execRoot ?? join(e.root, 'exec');
      const cpid = readPid(join(exec, 'containerd', 'containerd.pid'));
      if (cpid !== undefined && pidMatches(cpid, ['containerd', exec])) await stopPid(cpid, 5000);
      for (const f of shimPidfiles(exec)) {
        const sp = readPid(f);
        if (sp !== undefined && pidMatches(sp, ['containerd-shim', exec])) await stopPid(sp, 3000);
      }
      for (const r of [e.root, ...(e.extraRoots ?? [])]) await unmountUnder(r);
    }),
  );
  log('swarm: engines stopped, mounts cleared');
  for (const ns of await ourNetns()) {
    // a process still in one of our namespaces is ours (a session of a killed test): it would keep the veths
    const left = (await run(['ip', 'netns', 'pids', ns], { check: false, env: cleanEnv() })).stdout
      .split('\n')
      .filter(Boolean)
      .map(Number);
    for (const p of left) {
      log(`swarm: pid ${p} still in ${ns}: ended`);
      await stopPid(p, 3000);
    }
    await run(['ip', 'netns', 'del', ns], { check: false, env: cleanEnv() });
  }
  log('swarm: namespaces removed');
  await unmountUnder(RUN_DIR);
  // rm(1) is several times faster than node's recursive rmSync on an image store (tens of thousands of files)
  await run(['rm', '-rf', '--one-file-system', RUN_DIR, ...nodes.map((i) => join(dir, `n${i}`))], { env: cleanEnv() });
  log('swarm: directories removed');
  rmSync(join(dir, 'info.json'), { force: true });
  rmSync(join(dir, 'known_hosts'), { force: true });
}

function isMountPoint(path: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4] === path);
}

function shimPidfiles(exec: string): string[] {
  const base = join(exec, 'containerd', 'daemon', 'io.containerd.runtime.v2.task', 'moby');
  try {
    return readdirSync(base).map((id) => join(base, id, 'shim.pid'));
  } catch {
    return [];
  }
}
