/**
 * A real target host on loopback for end-to-end tests, the demo and the benchmark.
 *
 * Under one directory (default <repo>/.harness, or TOGATHER_HARNESS_DIR) it runs:
 *  - a RUNNER Docker engine (plays the CI runner: builds and saves images; no bridge, no iptables),
 *  - a HOST Docker engine (plays the target host; normal networking; its socket group-owned by the deploy group),
 *  - an sshd on 127.0.0.1:<free port> that lets only the non-root deploy user in, by key, and points its
 *    commands' DOCKER_HOST at the HOST engine,
 * and builds the images the stack needs from this machine's binaries (see images.ts). Everything it starts is
 * recorded by pidfile, so a second upHost reuses it and downHost ends exactly that.
 */
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureImage, IMAGE_NAMES, missingInputs, type ImageKey } from './images.js';
import { stackFor, stackMissing, stackName, stackPath, type Stack, type StackName } from './stack.js';
import {
  cleanEnv,
  dockerApi,
  dockerPing,
  freePort,
  logTail,
  pidMatches,
  pipeline,
  portFree,
  readBanner,
  readPid,
  run,
  sleep,
  spawnDetached,
  waitFor,
  type Ran,
  type RunOpts,
} from './proc.js';

export interface HarnessInfo {
  dir: string;
  /** the Docker stack the engines run (TOGATHER_HARNESS_STACK) */
  stack: StackName;
  /** what a process on the runner needs to reach the runner engine with the stack's CLI and plugins */
  runnerEnv: { DOCKER_HOST: string; PATH: string; DOCKER_CONFIG: string };
  /** unix://… of the engine playing the CI runner */
  runnerDockerHost: string;
  /** unix://… of the engine playing the target host (what the deploy user's commands reach) */
  hostDockerHost: string;
  /** the docker CLI verified against both engines */
  dockerClient: string;
  ssh: {
    host: string;
    port: number;
    user: string;
    privateKeyPath: string;
    knownHostsPath: string;
    /** `[127.0.0.1]:PORT ssh-ed25519 AAAA…` — what a deploy's known-hosts secret would hold */
    knownHostsLine: string;
  };
  images: { caddy: string; postgres: string; gate: string; keeper: string; nodeBase: string; migrateFixture: string };
  /** the deploy user's home on the host (writable by it; where a deployer would keep its stacks) */
  deployHome: string;
}

export interface UpOptions {
  /** harness directory; default $TOGATHER_HARNESS_DIR or <repo>/.harness (<repo>/.harness-legacy for legacy) */
  dir?: string;
  /** deploy user on the host; default $TOGATHER_HARNESS_USER or the stack's own (one per harness directory) */
  user?: string;
  /** group owning the host engine's socket; default tgdocker */
  group?: string;
  /** progress lines (the CLI prints them); silent by default */
  log?: (line: string) => void;
}

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const DEFAULT_GROUP = 'tgdocker';
const SSHD = '/usr/sbin/sshd'; // sshd refuses to re-exec itself from a relative path
const SAFE_PATH = /^\/[A-Za-z0-9._/-]+$/;

export function harnessDir(dir?: string): string {
  return resolve(dir ?? process.env.TOGATHER_HARNESS_DIR ?? join(REPO_ROOT, stackFor(stackName()).defaultDirName));
}

interface Layout {
  dir: string;
  stack: Stack;
  /** DOCKER_CONFIG of the runner's CLI (root) and of the deploy user on the host: where the CLI finds plugins */
  runnerDockerConfig: string;
  hostDockerConfig: string;
  runner: EngineSpec;
  host: EngineSpec;
  sshDir: string;
  sshdConfig: string;
  sshdPid: string;
  sshdLog: string;
  hostKey: string;
  clientKey: string;
  authorizedKeys: string;
  knownHosts: string;
  home: string;
  buildDir: string;
  infoFile: string;
  lockFile: string;
}

/** One private dockerd: its own sockets, roots and pidfile (the swarm fabric's node engines use it too). */
export interface EngineSpec {
  name: string;
  /** its daemon.json, its pidfile and (unless execRoot says otherwise) its exec root live here */
  root: string;
  /** where containerd's pidfile sits when the exec root is not <root>/exec */
  execRoot?: string;
  /** further directories whose leftover mounts a restart or a stop must clear (a data root elsewhere) */
  extraRoots?: string[];
  socket: string;
  pidfile: string;
  log: string;
  flags: string[];
}

function layout(dir: string, user: string, group: string, stack: Stack = stackFor(stackName())): Layout {
  const engine = (name: 'runner' | 'host', extra: string[]): EngineSpec => {
    const root = join(dir, name);
    const socket = join(root, 'docker.sock');
    const pidfile = join(root, 'dockerd.pid');
    return {
      name,
      root,
      socket,
      pidfile,
      log: join(root, 'dockerd.log'),
      flags: [
        '--data-root',
        join(root, 'data'),
        '--exec-root',
        join(root, 'exec'),
        '--pidfile',
        pidfile,
        '-H',
        `unix://${socket}`,
        // our own (empty) daemon.json: a machine-wide /etc/docker/daemon.json must not leak in
        '--config-file',
        join(root, 'daemon.json'),
        '--log-level',
        'warn',
        ...extra,
      ],
    };
  };
  const sshDir = join(dir, 'ssh');
  return {
    dir,
    stack,
    runnerDockerConfig: join(dir, 'runner', 'docker-config'),
    hostDockerConfig: join(dir, 'host', 'docker-config'),
    // the runner only builds and saves: no networking of its own, so two engines never fight over iptables
    runner: engine('runner', ['-G', 'root', '--bridge=none', '--iptables=false', '--ip-masq=false']),
    host: engine('host', ['-G', group]),
    sshDir,
    sshdConfig: join(sshDir, 'sshd_config'),
    sshdPid: join(sshDir, 'sshd.pid'),
    sshdLog: join(sshDir, 'sshd.log'),
    hostKey: join(sshDir, 'ssh_host_ed25519_key'),
    clientKey: join(sshDir, 'id_ed25519'),
    authorizedKeys: join(sshDir, 'authorized_keys'),
    knownHosts: join(sshDir, 'known_hosts'),
    home: join(dir, 'home', user),
    buildDir: join(dir, 'build'),
    infoFile: join(dir, 'info.json'),
    lockFile: join(dir, 'up.lock'),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// public API

const inFlight = new Map<string, Promise<HarnessInfo>>();

/** Bring the harness up, or reuse the one already running in the same directory. */
export function upHost(opts: UpOptions = {}): Promise<HarnessInfo> {
  const dir = harnessDir(opts.dir);
  let p = inFlight.get(dir);
  if (!p) {
    p = withLock(dir, () => up(dir, opts)).finally(() => inFlight.delete(dir));
    inFlight.set(dir, p);
  }
  return p;
}

/** Remove every container, network and volume of the host engine, stop sshd and both engines. */
export async function downHost(dirArg?: string, opts: { log?: (line: string) => void } = {}): Promise<void> {
  const dir = harnessDir(dirArg);
  const log = opts.log ?? (() => {});
  const info = readInfo(dir);
  const stack = stackFor(info?.stack ?? stackName());
  const L = layout(dir, info?.ssh.user ?? stack.defaultUser, DEFAULT_GROUP, stack);
  await withLock(dir, async () => {
    const hostPid = enginePid(L.host);
    if (hostPid !== undefined && (await dockerPing(L.host.socket))) {
      const client = info?.dockerClient ?? 'docker';
      await wipeEngine(client, L.host.socket, { volumes: true, images: false });
      log('host engine: containers, networks and volumes removed');
    }
    const sshdPid = readPid(L.sshdPid);
    if (sshdPid !== undefined && pidMatches(sshdPid, ['sshd', L.sshdConfig])) {
      log(`sshd (pid ${sshdPid}) ${await stopPid(sshdPid, 5000)}`);
    }
    const sessions = await endSessions(info?.ssh.user ?? stack.defaultUser);
    if (sessions) log(`${sessions} process(es) of the deploy user ended (sessions of killed deploys)`);
    for (const e of [L.host, L.runner]) {
      const pid = enginePid(e);
      if (pid === undefined) continue;
      const how = await stopPid(pid, 30_000);
      await unmountUnder(e.root);
      log(`${e.name} engine (pid ${pid}) ${how}`);
    }
    rmSync(L.infoFile, { force: true });
  });
}

/**
 * Return the host to a just-built state without restarting anything: no containers, networks or volumes, no
 * images but the harness's own, an empty deploy home. For tests that need a host that has never seen a deploy.
 */
export async function resetHost(info: HarnessInfo): Promise<void> {
  const socket = info.hostDockerHost.replace(/^unix:\/\//, '');
  await wipeEngine(info.dockerClient, socket, { volumes: true, images: true });
  const home = info.deployHome;
  if (existsSync(home) && home.startsWith(info.dir)) {
    for (const name of readdirSync(home)) rmSync(join(home, name), { recursive: true, force: true });
  }
}

export function hostDocker(info: HarnessInfo, args: readonly string[], opts: RunOpts = {}): Promise<Ran> {
  return run([info.dockerClient, '-H', info.hostDockerHost, ...args], { env: cleanEnv(), ...opts });
}

export function runnerDocker(info: HarnessInfo, args: readonly string[], opts: RunOpts = {}): Promise<Ran> {
  return run([info.dockerClient, '-H', info.runnerDockerHost, ...args], { env: cleanEnv(), ...opts });
}

/** `ssh …options… user@host` with a pinned host key and one key, never a prompt: append the remote command */
export function pinnedSshArgv(
  to: { user: string; host: string; port: number; privateKeyPath: string; knownHostsPath: string },
  extraOptions: readonly string[] = [],
): string[] {
  // ssh keeps the first value it sees for an option: the caller's come first so they can override ours
  return [
    'ssh',
    ...extraOptions,
    '-F',
    '/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    `UserKnownHostsFile=${to.knownHostsPath}`,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'LogLevel=ERROR',
    '-i',
    to.privateKeyPath,
    '-p',
    String(to.port),
    `${to.user}@${to.host}`,
  ];
}

/** `ssh …options… user@127.0.0.1` with the pinned host key: append the remote command (one string). */
export function sshArgv(info: HarnessInfo, extraOptions: readonly string[] = []): string[] {
  return pinnedSshArgv(info.ssh, extraOptions);
}

const EXTRA_KEY_TAG = 'togather-harness-extra';

/**
 * Let one more public key log in as the deploy user (e.g. a passphrase-protected key a test generated).
 * sshd reads the list at every login, so it takes effect at once; the returned function removes it again.
 */
export async function authorizeKey(info: HarnessInfo, publicKey: string, label: string): Promise<() => Promise<void>> {
  const [type, key] = publicKey.trim().split(/\s+/);
  if (
    !type ||
    !key ||
    !/^[a-z0-9@.-]+$/.test(type) ||
    !/^[A-Za-z0-9+/=]+$/.test(key) ||
    !/^[A-Za-z0-9_.-]+$/.test(label)
  ) {
    throw new Error(
      `authorizeKey: not an OpenSSH public key line, or a label with odd characters: ${publicKey.slice(0, 40)}`,
    );
  }
  const line = `${type} ${key} ${EXTRA_KEY_TAG}:${label}`;
  const file = join(info.dir, 'ssh', 'authorized_keys');
  const edit = (fn: (lines: string[]) => string[]) =>
    withLock(info.dir, async () => {
      const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
      writeFileSync(
        file,
        fn(lines)
          .map((l) => `${l}\n`)
          .join(''),
        { mode: 0o600 },
      );
    });
  await edit((lines) => [...lines.filter((l) => l !== line), line]);
  return () => edit((lines) => lines.filter((l) => l !== line));
}

/** Run one command line on the host as the deploy user. */
export function hostSsh(info: HarnessInfo, remoteCommand: string, opts: RunOpts = {}): Promise<Ran> {
  return run([...sshArgv(info), remoteCommand], { env: cleanEnv(), ...opts });
}

/**
 * Move an image from the runner engine to the host engine the way a deploy does without a registry:
 * `docker save | gzip -1 | ssh host 'gunzip | docker load'`. Returns how long it took.
 */
export async function shipImage(info: HarnessInfo, image: string): Promise<{ ms: number }> {
  const t0 = Date.now();
  await pipeline(
    [
      [info.dockerClient, '-H', info.runnerDockerHost, 'save', image],
      ['gzip', '-1'],
      [...sshArgv(info), 'gunzip | docker load -q'],
    ],
    { env: cleanEnv() },
  );
  return { ms: Date.now() - t0 };
}

export function readInfo(dirArg?: string): HarnessInfo | undefined {
  const file = join(harnessDir(dirArg), 'info.json');
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as HarnessInfo;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// bring-up

async function up(dir: string, opts: UpOptions): Promise<HarnessInfo> {
  const log = opts.log ?? (() => {});
  const stack = stackFor(stackName());
  const user = opts.user ?? process.env.TOGATHER_HARNESS_USER ?? stack.defaultUser;
  if (!/^[a-z_][a-z0-9_-]{0,30}$/.test(user))
    throw new Error(`deploy user name ${JSON.stringify(user)} is not a valid user name`);
  const group = opts.group ?? DEFAULT_GROUP;
  const L = layout(dir, user, group, stack);
  const t0 = Date.now();
  const previous = readInfo(dir);
  if (
    previous &&
    (previous.stack ?? 'legacy') !== stack.name &&
    (enginePid(L.host) !== undefined || enginePid(L.runner) !== undefined)
  ) {
    throw new Error(
      `harness ${dir} runs the ${previous.stack ?? 'legacy'} stack, not ${stack.name}: take it down first (npm run host:down)`,
    );
  }

  preflight(dir, stack);
  for (const d of [dir, L.runner.root, L.host.root, L.sshDir, L.buildDir, dirname(L.home)]) {
    mkdirSync(d, { recursive: true });
  }
  // the deploy user must reach the host engine's socket and its home through these
  for (const d of [dir, L.host.root, dirname(L.home)]) chmodSync(d, 0o755);
  chmodSync(L.runner.root, 0o700);
  chmodSync(L.sshDir, 0o700);

  const fresh = await ensureAccount(L, user, group);
  ensureDockerConfig(L.runnerDockerConfig, stack);
  ensureDockerConfig(L.hostDockerConfig, stack, passwdEntry(user));
  await ensureKeys(L);

  const [runnerStarted, hostStarted] = await Promise.all([ensureEngine(L.runner, stack), ensureEngine(L.host, stack)]);
  if (runnerStarted) log(`runner engine started (${L.runner.socket})`);
  if (hostStarted) log(`host engine started (${L.host.socket})`);

  const dockerClient =
    previous?.dockerClient && !runnerStarted && existsSync(previous.dockerClient)
      ? previous.dockerClient
      : await pickDockerClient(L.runner.socket, stack);

  const { port, started: sshdStarted } = await ensureSshd(L, user, previous?.ssh.port);
  if (sshdStarted) log(`sshd started on 127.0.0.1:${port}`);
  const knownHostsLine = writeKnownHosts(L, port);

  // one import at a time per engine: on two cores, parallel imports on one engine were twice as slow in total
  const buildSeq = async (keys: ImageKey[], socket: string) => {
    for (const k of keys) {
      const b = await ensureImage(k, socket, dockerClient, L.buildDir);
      if (b.built) log(`built ${b.image} in ${(b.ms / 1000).toFixed(1)} s`);
    }
  };
  await Promise.all([
    buildSeq(['gate', 'keeper', 'caddy', 'postgres', 'migrateFixture'], L.host.socket),
    buildSeq(['nodeBase'], L.runner.socket),
  ]);

  const info: HarnessInfo = {
    dir,
    stack: stack.name,
    runnerEnv: {
      DOCKER_HOST: `unix://${L.runner.socket}`,
      PATH: stackPath(stack),
      DOCKER_CONFIG: L.runnerDockerConfig,
    },
    runnerDockerHost: `unix://${L.runner.socket}`,
    hostDockerHost: `unix://${L.host.socket}`,
    dockerClient,
    ssh: {
      host: '127.0.0.1',
      port,
      user,
      privateKeyPath: L.clientKey,
      knownHostsPath: L.knownHosts,
      knownHostsLine,
    },
    images: { ...IMAGE_NAMES },
    deployHome: L.home,
  };

  // anything (re)started or (re)created: prove the whole path once, so a broken harness fails here, clearly
  if (fresh || sshdStarted || hostStarted) {
    // the deploy user's commands must reach the host engine with the stack's CLI and compose
    const compose = stack.name === 'modern' ? 'docker compose version --short' : 'docker-compose version --short';
    const probe = await hostSsh(info, `id -un && docker info --format "{{.DockerRootDir}}" && ${compose}`, {
      check: false,
      timeoutMs: 15_000,
    });
    const [who, root, composeVersion] = probe.stdout.trim().split('\n');
    const wantCompose = stack.name === 'modern' ? /^v?2\./ : /^1\./;
    if (
      probe.code !== 0 ||
      who !== user ||
      root !== join(L.host.root, 'data') ||
      !wantCompose.test(composeVersion ?? '')
    ) {
      throw new Error(
        `harness self-check failed: ssh ${user}@127.0.0.1:${port} 'docker info; ${compose}' gave exit ${probe.code}, ` +
          `user ${who ?? '?'}, docker root ${root ?? '?'} (want ${join(L.host.root, 'data')}), compose ${composeVersion ?? '?'}\n` +
          `${probe.stderr.trim()}\nsshd log:\n${logTail(L.sshdLog)}`,
      );
    }
  }

  writeFileSync(L.infoFile, `${JSON.stringify(info, null, 2)}\n`);
  log(`harness ready in ${((Date.now() - t0) / 1000).toFixed(2)} s (${dir})`);
  return info;
}

const REQUIRED: [cmd: string, pkg: string][] = [
  ['sshd', 'openssh-server'],
  ['ssh', 'openssh-client'],
  ['ssh-keygen', 'openssh-client'],
  ['tar', 'tar'],
  ['gzip', 'gzip'],
  ['ldd', 'libc-bin'],
  ['useradd', 'passwd'],
  ['git', 'git'],
  ['iptables', 'iptables'],
];

function onPath(cmd: string): boolean {
  const dirs = (cleanEnv().PATH ?? '').split(':');
  return dirs.some((d) => existsSync(join(d, cmd)));
}

function preflight(dir: string, stack: Stack): void {
  if (process.getuid?.() !== 0) {
    throw new Error('the harness must run as root (it starts dockerd and sshd and creates the deploy user)');
  }
  if (!SAFE_PATH.test(dir)) {
    throw new Error(
      `harness dir ${dir}: use a path of letters, digits, '.', '_', '-' and '/' only (it ends up in sshd_config)`,
    );
  }
  // unix socket paths are limited to 107 bytes; containerd's lives deepest, under the exec root
  if (join(dir, 'runner/exec/containerd/containerd-debug.sock').length > 100) {
    throw new Error(`harness dir ${dir} is too long for unix socket paths; set TOGATHER_HARNESS_DIR to a shorter path`);
  }
  const missing = REQUIRED.filter(([cmd]) => !onPath(cmd)).map(([cmd, pkg]) => `${cmd} (package ${pkg})`);
  missing.push(...stackMissing(stack, onPath));
  missing.push(...missingInputs(Object.keys(IMAGE_NAMES) as ImageKey[]));
  if (missing.length > 0) {
    throw new Error(
      `the harness needs: ${missing.join(', ')}.\n  fix: run .ci/install.sh (as root), which installs all of them`,
    );
  }
  // every ancestor must be searchable by others, or the deploy user cannot reach the socket and its home
  for (let d = dirname(dir); ; d = dirname(d)) {
    if (existsSync(d) && (statSync(d).mode & 0o001) === 0) {
      throw new Error(
        `${d} is not searchable by other users, so the deploy user cannot reach ${dir}; ` +
          `chmod o+x it or set TOGATHER_HARNESS_DIR elsewhere`,
      );
    }
    if (d === '/') break;
  }
}

/**
 * Is the harness whose deploy home this is (<dir>/home/<user>) still running? A stopped one (a session's
 * work tree left on the machine, an earlier clone) leaves its user behind, and that user may be taken over.
 */
function otherHarnessRunning(home: string, user: string, group: string): boolean {
  const other = layout(dirname(dirname(home)), user, group);
  const pid = readPid(other.sshdPid);
  return pid !== undefined && pidMatches(pid, ['sshd', other.sshdConfig]);
}

/** The deploy group and user: created if absent, unlocked for key login, clean shell, home under the harness. */
async function ensureAccount(L: Layout, user: string, group: string): Promise<boolean> {
  let changed = false;
  const groups = readFileSync('/etc/group', 'utf8')
    .split('\n')
    .map((l) => l.split(':'));
  if (!groups.some((g) => g[0] === group)) {
    await run(['groupadd', '--system', group]);
    changed = true;
  }
  const entry = passwdEntry(user);
  if (!entry) {
    // /bin/sh (dash) reads no rc file for `ssh host cmd`: nothing can print into a streamed stdout
    await run([
      'useradd',
      '--no-create-home',
      '--home-dir',
      L.home,
      '--shell',
      '/bin/sh',
      '--groups',
      group,
      '--user-group',
      user,
    ]);
    changed = true;
  } else if (entry.home !== L.home && existsSync(entry.home) && otherHarnessRunning(entry.home, user, group)) {
    // the deploy user of another harness directory that is running: taking it over would break that harness
    throw new Error(
      `user ${user} already has its home at ${entry.home}, not ${L.home}; a second harness needs its own deploy ` +
        `user: set TOGATHER_HARNESS_USER (or the user option) to another name, or remove ${entry.home}`,
    );
  } else if (entry.home !== L.home || entry.shell !== '/bin/sh') {
    // usermod refuses a user with running processes: sessions a killed deploy left on a stopped harness
    await endSessions(user);
    await run(['usermod', '--home', L.home, '--shell', '/bin/sh', user]);
    changed = true;
  }
  const members =
    (
      readFileSync('/etc/group', 'utf8')
        .split('\n')
        .find((l) => l.startsWith(`${group}:`)) ?? ''
    )
      .split(':')[3]
      ?.split(',') ?? [];
  if (!members.includes(user)) {
    await run(['usermod', '--append', '--groups', group, user]);
    changed = true;
  }
  // useradd leaves '!' (locked); with UsePAM no, sshd refuses even key logins to a locked account. '*' = no
  // password but not locked.
  const shadow = readFileSync('/etc/shadow', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${user}:`));
  if (shadow?.split(':')[1] !== '*') {
    await run(['usermod', '--password', '*', user]);
    changed = true;
  }
  const fresh = passwdEntry(user);
  if (!fresh) throw new Error(`user ${user} missing after useradd`);
  if (!existsSync(L.home)) {
    mkdirSync(L.home, { recursive: true });
    changed = true;
  }
  chownSync(L.home, fresh.uid, fresh.gid);
  chmodSync(L.home, 0o750);
  return changed;
}

/**
 * A DOCKER_CONFIG directory whose cli-plugins/ holds the stack's plugins (none for legacy, so `docker compose`
 * is absent there, as on a Docker 20.10 host with only docker-compose v1). Owned by whoever uses it: buildx
 * writes its state beside the plugins.
 */
function ensureDockerConfig(dir: string, stack: Stack, owner?: { uid: number; gid: number }): void {
  const plugins = join(dir, 'cli-plugins');
  rmSync(plugins, { recursive: true, force: true });
  mkdirSync(plugins, { recursive: true });
  if (stack.pluginsDir) {
    for (const name of readdirSync(stack.pluginsDir)) symlinkSync(join(stack.pluginsDir, name), join(plugins, name));
  }
  chmodSync(dir, 0o755);
  if (owner) {
    chownSync(dir, owner.uid, owner.gid);
    chownSync(plugins, owner.uid, owner.gid);
  }
}

/**
 * End every process of the deploy user: sshd sessions (and the docker commands under them) that a killed deploy
 * left behind, kept alive by its control master after the listening sshd stopped. Only harness sessions run as
 * this user. Returns how many there were.
 */
async function endSessions(user: string): Promise<number> {
  if (!passwdEntry(user)) return 0;
  const r = await run(['pgrep', '-u', user], { check: false });
  const pids = r.stdout.split('\n').filter(Boolean);
  if (pids.length === 0) return 0;
  await run(['pkill', '-KILL', '-u', user], { check: false });
  for (let i = 0; i < 50 && (await run(['pgrep', '-u', user], { check: false })).code === 0; i++) await sleep(100);
  return pids.length;
}

function passwdEntry(user: string): { uid: number; gid: number; home: string; shell: string } | undefined {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${user}:`));
  if (!line) return undefined;
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '', shell: f[6] ?? '' };
}

async function ensureKeys(L: Layout): Promise<void> {
  const gen = async (file: string, comment: string) => {
    if (existsSync(file) && existsSync(`${file}.pub`)) return;
    rmSync(file, { force: true });
    rmSync(`${file}.pub`, { force: true });
    await run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
  };
  await Promise.all([gen(L.hostKey, 'togather-harness-host'), gen(L.clientKey, 'togather-harness-deployer')]);
  chmodSync(L.clientKey, 0o600);
  const pub = readFileSync(`${L.clientKey}.pub`, 'utf8').trim();
  // keys a test authorised with authorizeKey stay across bring-ups (another test process may be using them)
  const extra = existsSync(L.authorizedKeys)
    ? readFileSync(L.authorizedKeys, 'utf8')
        .split('\n')
        .filter((l) => l.includes(` ${EXTRA_KEY_TAG}:`))
    : [];
  writeFileSync(L.authorizedKeys, [pub, ...extra].map((l) => `${l}\n`).join(''), { mode: 0o600 });
}

function writeKnownHosts(L: Layout, port: number): string {
  const [type, key] = readFileSync(`${L.hostKey}.pub`, 'utf8').trim().split(/\s+/);
  const line = `[127.0.0.1]:${port} ${type} ${key}`;
  writeFileSync(L.knownHosts, `${line}\n`, { mode: 0o644 });
  return line;
}

export function enginePid(e: EngineSpec): number | undefined {
  const pid = readPid(e.pidfile);
  return pid !== undefined && pidMatches(pid, ['dockerd', e.pidfile]) ? pid : undefined;
}

/**
 * Start the engine unless ours is already running; true when it had to be started. `launch` goes before
 * `dockerd` (e.g. nsenter into a node's network namespace); it must exec, so the pid stays dockerd's.
 */
export async function ensureEngine(e: EngineSpec, stack: Stack, launch: readonly string[] = []): Promise<boolean> {
  let running = enginePid(e);
  // the host engine's default bridge is docker0, which any other dockerd on the machine that stops removes:
  // builds with RUN steps then fail with "adding interface … to bridge docker0 failed"; a restart recreates it
  if (running !== undefined && e.name === 'host' && !existsSync('/sys/class/net/docker0')) {
    await stopPid(running, 30_000);
    running = undefined;
  }
  if (running !== undefined) {
    // running: it may still be initialising after a concurrent start
    await waitFor(`${e.name} dockerd (pid ${running})`, async () => ((await dockerPing(e.socket)) ? true : undefined), {
      timeoutMs: 30_000,
      failFast: () => (enginePid(e) === undefined ? `exited; log:\n${logTail(e.log)}` : undefined),
    });
    return false;
  }
  // a killed dockerd leaves its pidfile (and refuses to start while that pid exists, even as a zombie) and
  // its mounts (the data root's private bind, network namespaces, container filesystems)
  rmSync(e.pidfile, { force: true });
  // same for the containerd dockerd manages: a pidfile naming a zombie makes dockerd wait on a dead socket
  const execRoot = e.execRoot ?? join(e.root, 'exec');
  const containerdPidfile = join(execRoot, 'containerd', 'containerd.pid');
  const containerdPid = readPid(containerdPidfile);
  if (containerdPid === undefined || !pidMatches(containerdPid, ['containerd', execRoot])) {
    rmSync(containerdPidfile, { force: true });
  }
  for (const r of [e.root, ...(e.extraRoots ?? [])]) await unmountUnder(r);
  writeFileSync(join(e.root, 'daemon.json'), '{}\n');
  const child = spawnDetached([...launch, 'dockerd', ...e.flags], e.log, cleanEnv({ PATH: stackPath(stack) }));
  await waitFor(`${e.name} dockerd`, async () => ((await dockerPing(e.socket)) ? true : undefined), {
    timeoutMs: 30_000,
    failFast: () =>
      child.exitCode !== null || child.signalCode !== null
        ? `exited with ${child.exitCode ?? child.signalCode}; log (${e.log}):\n${logTail(e.log)}`
        : undefined,
  });
  return true;
}

/**
 * The first docker CLI on PATH may be newer than the engine (here a 28.x client and a 20.10 engine); it
 * negotiates the API version down. Fall back to the engine's own client if it cannot.
 */
async function pickDockerClient(socket: string, stack: Stack): Promise<string> {
  const candidates = (
    stack.binDir ? [join(stack.binDir, 'docker')] : ['/usr/local/bin/docker', '/usr/bin/docker']
  ).filter((c) => existsSync(c));
  const tried: string[] = [];
  for (const c of candidates) {
    const r = await run([c, '-H', `unix://${socket}`, 'version', '--format', '{{.Server.APIVersion}}'], {
      check: false,
      env: cleanEnv(),
      timeoutMs: 10_000,
    });
    if (r.code === 0 && r.stdout.trim()) return c;
    tried.push(`${c}: ${r.stderr.trim().split('\n').pop() ?? `exit ${r.code}`}`);
  }
  throw new Error(
    `no docker CLI works against the harness engines:\n  ${tried.join('\n  ')}\n  fix: run .ci/install.sh`,
  );
}

function sshdConfigText(L: Layout, user: string, port: number): string {
  return sshdConfigFor({
    comment: 'a loopback-only sshd for the harness',
    listen: '127.0.0.1',
    port,
    user,
    hostKey: L.hostKey,
    pidFile: L.sshdPid,
    authorizedKeys: L.authorizedKeys,
    dockerHost: `unix://${L.host.socket}`,
    path: stackPath(L.stack),
    dockerConfig: L.hostDockerConfig,
    tcpForwarding: 'yes',
  });
}

export interface SshdSpec {
  comment: string;
  listen: string;
  port: number;
  user: string;
  hostKey: string;
  pidFile: string;
  authorizedKeys: string;
  /** unix://… the deploy user's docker commands reach */
  dockerHost: string;
  path: string;
  dockerConfig: string;
  tcpForwarding: 'yes' | 'local' | 'no';
}

/** An sshd that lets only the deploy user in, by the harness's key, with its docker commands pointed at one engine. */
export function sshdConfigFor(s: SshdSpec): string {
  return [
    `# written by test/harness/host.ts — ${s.comment}`,
    `Port ${s.port}`,
    `ListenAddress ${s.listen}`,
    `HostKey ${s.hostKey}`,
    `PidFile ${s.pidFile}`,
    'UsePAM no',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PubkeyAuthentication yes',
    'PermitRootLogin no',
    `AllowUsers ${s.user}`,
    // StrictModes refuses key files under world-writable dirs; a command handing over the key works everywhere
    'StrictModes yes',
    'AuthorizedKeysFile none',
    `AuthorizedKeysCommand /bin/cat ${s.authorizedKeys}`,
    'AuthorizedKeysCommandUser root',
    // the deploy user's docker commands reach the HOST engine, not whatever /var/run/docker.sock may be, with
    // the stack's CLI first on PATH and its plugins (compose v2, buildx) found through DOCKER_CONFIG
    `SetEnv DOCKER_HOST=${s.dockerHost} PATH=${s.path} DOCKER_CONFIG=${s.dockerConfig}`,
    'PermitUserEnvironment no',
    `AllowTcpForwarding ${s.tcpForwarding}`,
    'AllowStreamLocalForwarding yes',
    'X11Forwarding no',
    'PrintMotd no',
    'PrintLastLog no',
    // tests open many connections and multiplexed sessions at once
    'MaxStartups 100:30:200',
    'MaxSessions 64',
    'LoginGraceTime 30',
    'LogLevel INFO',
    'Subsystem sftp internal-sftp',
    '',
  ].join('\n');
}

/** Start sshd unless ours is running; returns its port. */
async function ensureSshd(L: Layout, user: string, previousPort?: number): Promise<{ port: number; started: boolean }> {
  const pid = readPid(L.sshdPid);
  if (pid !== undefined && pidMatches(pid, ['sshd', L.sshdConfig]) && existsSync(L.sshdConfig)) {
    const cfg = readFileSync(L.sshdConfig, 'utf8');
    const port = Number(/^Port (\d+)$/m.exec(cfg)?.[1]);
    const banner = port ? await readBanner('127.0.0.1', port) : undefined;
    if (cfg === sshdConfigText(L, user, port) && banner?.startsWith('SSH-2.0-')) return { port, started: false };
    await stopPid(pid, 5000); // configuration changed (e.g. another deploy user): restart
  }
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // privilege separation dir; nothing else makes it here
  let lastError = '';
  for (let attempt = 0; attempt < 4; attempt++) {
    const port = attempt === 0 && previousPort && (await portFree(previousPort)) ? previousPort : await freePort();
    writeFileSync(L.sshdConfig, sshdConfigText(L, user, port), { mode: 0o600 });
    rmSync(L.sshdPid, { force: true });
    const check = await run([SSHD, '-t', '-f', L.sshdConfig], { check: false, env: cleanEnv() });
    if (check.code !== 0) throw new Error(`sshd rejects its configuration ${L.sshdConfig}:\n${check.stderr.trim()}`);
    // sshd forks into the background once its socket is bound; a bind failure is in its log
    const started = await run([SSHD, '-f', L.sshdConfig, '-E', L.sshdLog], { check: false, env: cleanEnv() });
    if (started.code !== 0) {
      lastError = `${started.stderr.trim()}\n${logTail(L.sshdLog, 5)}`;
      continue;
    }
    try {
      await waitFor(
        `sshd on 127.0.0.1:${port}`,
        async () => ((await readBanner('127.0.0.1', port))?.startsWith('SSH-2.0-') ? true : undefined),
        {
          timeoutMs: 10_000,
          failFast: () => {
            const p = readPid(L.sshdPid);
            return p !== undefined && !pidMatches(p, ['sshd']) ? `exited; log:\n${logTail(L.sshdLog)}` : undefined;
          },
        },
      );
      return { port, started: true };
    } catch (e) {
      lastError = e instanceof Error ? e.message : String(e);
      const p = readPid(L.sshdPid);
      if (p !== undefined && pidMatches(p, ['sshd', L.sshdConfig])) await stopPid(p, 3000);
    }
  }
  throw new Error(`sshd did not start: ${lastError}`);
}

/** Remove containers (and optionally volumes and non-harness images) of one engine, then unused networks. */
async function wipeEngine(client: string, socket: string, what: { volumes: boolean; images: boolean }): Promise<void> {
  const docker = (args: string[]) => run([client, '-H', `unix://${socket}`, ...args], { env: cleanEnv() });
  const ids = (await docker(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
  if (ids.length > 0) await docker(['rm', '-f', '-v', ...ids]);
  await docker(['network', 'prune', '-f']);
  if (what.volumes) await docker(['volume', 'prune', '-f']);
  if (what.images) {
    const keep = new Set<string>([...Object.values(IMAGE_NAMES), `${IMAGE_NAMES.postgres}-rootfs`]);
    const res = await dockerApi(socket, '/images/json');
    const images = JSON.parse(res.body) as { Id: string; RepoTags: string[] | null }[];
    const drop = images.filter((i) => !(i.RepoTags ?? []).some((t) => keep.has(t))).map((i) => i.Id);
    if (drop.length > 0)
      await run([client, '-H', `unix://${socket}`, 'rmi', '-f', ...drop], { env: cleanEnv(), check: false });
  }
}

/** Unmount whatever is still mounted under `root`, deepest first (left behind by a killed dockerd). */
export async function unmountUnder(root: string): Promise<void> {
  const points = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4]?.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p): p is string => !!p && (p === root || p.startsWith(`${root}/`)))
    .sort((a, b) => b.length - a.length);
  for (const p of points) {
    const r = await run(['umount', p], { check: false });
    if (r.code !== 0) await run(['umount', '-l', p], { check: false });
  }
}

/** SIGTERM, wait, then SIGKILL; says which it took. */
export async function stopPid(pid: number, timeoutMs: number): Promise<'stopped' | 'killed'> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return 'stopped';
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!pidMatches(pid, [])) return 'stopped';
    await sleep(50);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // exited meanwhile
  }
  return 'killed';
}

/**
 * One bring-up or tear-down per harness dir at a time, across processes (tests run files in parallel). The lock
 * file holds the owner's pid; a lock whose owner is gone is taken over.
 */
export async function withLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'up.lock');
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = readPid(file);
      // an empty lock file is one being written right now, unless it is old
      let young = false;
      try {
        young = Date.now() - statSync(file).mtimeMs < 5000;
      } catch {
        // removed meanwhile: the next attempt will tell
      }
      if (owner === undefined ? !young : !pidMatches(owner, [])) {
        rmSync(file, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new Error(`harness ${dir} is locked by pid ${owner ?? '?'} for too long`, { cause: e });
      }
      await sleep(100);
    }
  }
  try {
    return await fn();
  } finally {
    try {
      unlinkSync(file);
    } catch {
      // already gone
    }
  }
}
