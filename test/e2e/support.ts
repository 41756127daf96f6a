/**
 * Shared set-up of the end-to-end tests: one real loopback host (test/harness), one sample-app git repo, and
 * per test an environment of its own (config file, env file, Caddy port) so tests never see each other's stacks.
 */
import { spawn } from 'node:child_process';
import { after } from 'node:test';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { stringify } from 'yaml';
import { hostDocker, hostSsh, upHost, type HarnessInfo } from '../harness/host.js';
import { freePort } from '../harness/proc.js';
import { makeSampleRepo, type SampleShas } from '../harness/sample-repo.js';

export interface SampleRepo {
  dir: string;
  shas: SampleShas;
}

import { CLI, ROOT, runCli, type CliResult } from '../harness/run-cli.js';

export { CLI, ROOT, runCli, type CliResult };

let shared: Promise<{ info: HarnessInfo; repo: SampleRepo }> | undefined;

/** the harness and the sample repo, created once per test process */
export function sharedHost(): Promise<{ info: HarnessInfo; repo: SampleRepo }> {
  shared ??= (async () => {
    const info = await upHost();
    const dir = mkdtempSync(join(tmpdir(), 'tgd-repo-'));
    const repo = { dir, shas: await makeSampleRepo(dir) };
    return { info, repo };
  })();
  return shared;
}

export interface TestEnv {
  info: HarnessInfo;
  repo: SampleRepo;
  name: string;
  dir: string;
  configPath: string;
  envFilePath: string;
  httpPort: number;
  /** distinctive secret values written to the env file, for leak searches */
  secrets: Record<string, string>;
  cli(args: string[], opts?: { env?: Record<string, string> }): Promise<CliResult>;
  /** GET through the environment's published Caddy port */
  get(path: string): Promise<{ status: number; body: string; headers: Record<string, string> }>;
  /** a file under the environment's root on the host, read as the deploy user */
  hostFile(rel: string): Promise<string | undefined>;
  stackPrefix: string;
}

let counter = 0;
const created: TestEnv[] = [];

/**
 * Every environment a test file made is removed when the file's tests end (containers, volumes, network and
 * its directory on the host): dozens of idle stacks would otherwise load the shared machine. Set
 * TOGATHER_KEEP_ENVS=1 to keep them for a look after a failure.
 */
after(async () => {
  if (process.env.TOGATHER_KEEP_ENVS) return;
  for (const env of created.splice(0)) await destroyEnv(env).catch(() => undefined);
});

/**
 * A CLI command line for an environment: the command and its environment (the first two arguments), then the
 * environment's config, the harness's deploy key and known_hosts and the sample repository, then the rest.
 */
export function cliArgs(
  env: Pick<TestEnv, 'configPath' | 'info' | 'repo'>,
  args: string[],
  o: { config?: string; repo?: string } = {},
): string[] {
  const { privateKeyPath, knownHostsPath } = env.info.ssh;
  const flags = ['--config', o.config ?? env.configPath, '--identity', privateKeyPath, '--known-hosts', knownHostsPath];
  return [...args.slice(0, 2), ...flags, '--repo', o.repo ?? env.repo.dir, ...args.slice(2)];
}

/** psql as the database's superuser over the db container's socket: the tests' own view, independent of the tool */
export async function dbPsql(env: TestEnv, sql: string): Promise<string> {
  const psql = ['psql', '-X', '-q', '-U', 'togather', '-d', 'togather', '-A', '-t', '-v', 'ON_ERROR_STOP=1'];
  const r = await hostDocker(env.info, ['exec', `${env.stackPrefix}-db`, ...psql, '-c', sql]);
  return r.stdout.trim();
}

/** an environment's containers, volumes, network and directory on the harness host */
export async function destroyEnv(env: Pick<TestEnv, 'info' | 'stackPrefix' | 'name'>): Promise<void> {
  const ids = (
    await hostDocker(env.info, ['ps', '-aq', '--filter', `name=^${env.stackPrefix}-`], { check: false })
  ).stdout
    .split('\n')
    .filter(Boolean);
  if (ids.length) await hostDocker(env.info, ['rm', '-f', '-v', ...ids], { check: false });
  const vols = (
    await hostDocker(
      env.info,
      ['volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${env.stackPrefix}`],
      { check: false },
    )
  ).stdout
    .split('\n')
    .filter(Boolean);
  if (vols.length) await hostDocker(env.info, ['volume', 'rm', '-f', ...vols], { check: false });
  await hostDocker(env.info, ['network', 'rm', `${env.stackPrefix}_togather`], { check: false });
  await hostSsh(env.info, `rm -rf stacks/${env.name}`, { check: false });
}

export async function newEnv(
  label: string,
  over: { config?: (c: Record<string, unknown>) => void; envFile?: string } = {},
): Promise<TestEnv> {
  const { info, repo } = await sharedHost();
  const name = `e${process.pid % 10000}${label}${counter++}`
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '')
    .slice(0, 20);
  const dir = mkdtempSync(join(tmpdir(), `tgd-${name}-`));
  const httpPort = await freePort();
  const httpsPort = await freePort();
  const dbPassword = `pg-${name}-Zq9!x`;
  const secrets = {
    JWT_SECRET: `jwt-${name}-7f3a9c1e5b2d4f6a8c0e2b4d6f8a0c2e`,
    POSTGRES_PASSWORD: dbPassword,
    ADMIN_PASSWORD: `admin-${name}-Pw%2F/+x`,
  };
  const config: Record<string, unknown> = {
    app: {
      name: 'tg',
      port: 8080,
      image: 'togather-test/app',
      build: { context: '.', dockerfile: 'Dockerfile' },
      health: { interval: '200ms', timeout: '2s', consecutive: 2, start_timeout: '20s', required_checks: ['database'] },
    },
    // every test environment has a config file of its own, so none protects another's images from pruning
    // (environments in one deployment.yml do protect each other): keep them all for the run
    deployment: { drain_timeout: '5s', min_free_mb: 64, verify_timeout: '10s', keep_images: 50 },
    proxy: { bind: '127.0.0.1', http_port: httpPort, https_port: httpsPort },
    images: {
      caddy: info.images.caddy,
      postgres: info.images.postgres,
      gate: info.images.gate,
      keeper: info.images.keeper,
      postgres_dockerfile: join(ROOT, 'test/fixtures/db-image/Dockerfile'),
    },
    // the migrate image is the harness's golang-migrate stand-in (a TEST FIXTURE: test/harness/image-files/migrate-fixture.sh)
    database: { migrations: { image: info.images.migrateFixture } },
    environments: {
      [name]: {
        host: info.ssh.host,
        port: info.ssh.port,
        user: info.ssh.user,
        path: `stacks/${name}`,
        env_file: 'app.env',
        url: `http://127.0.0.1:${httpPort}`,
      },
    },
  };
  over.config?.(config);
  const configPath = join(dir, 'deployment.yml');
  writeFileSync(configPath, stringify(config));
  const envFilePath = join(dir, 'app.env');
  const envFile =
    over.envFile ??
    [
      `ENVIRONMENT=${name}`,
      `DATABASE_URL=postgres://togather:${encodeURIComponent(dbPassword)}@db:5432/togather`,
      `JWT_SECRET=${secrets.JWT_SECRET}`,
      `POSTGRES_PASSWORD=${dbPassword}`,
      `ADMIN_PASSWORD=${secrets.ADMIN_PASSWORD}`,
      'LOG_LEVEL=info',
    ].join('\n') + '\n';
  writeFileSync(envFilePath, envFile, { mode: 0o600 });
  chmodSync(envFilePath, 0o600);
  const stackPrefix = `tg-${name}`;
  const env: TestEnv = {
    info,
    repo,
    name,
    dir,
    configPath,
    envFilePath,
    httpPort,
    secrets,
    stackPrefix,
    cli: (args, opts = {}) => runCli(cliArgs({ configPath, info, repo }, args), { ...info.runnerEnv, ...opts.env }),
    get: (path) => httpGet(httpPort, path),
    hostFile: async (rel) => {
      const r = await hostSsh(info, `cat stacks/${name}/${rel}`, { check: false });
      return r.code === 0 ? r.stdout : undefined;
    },
  };
  created.push(env);
  return env;
}

export async function httpGet(
  port: number,
  path: string,
): Promise<{ status: number; body: string; headers: Record<string, string> }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5000) });
  const headers: Record<string, string> = {};
  r.headers.forEach((v, k) => (headers[k] = v));
  return { status: r.status, body: await r.text(), headers };
}

/** container names on the host engine (for before/after comparisons) */
export async function hostContainers(info: HarnessInfo, prefix: string): Promise<string[]> {
  const r = await hostDocker(info, ['ps', '-a', '--format', '{{.Names}} {{.Status}}', '--filter', `name=${prefix}`]);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => l.replace(/ (Up|Exited).*$/, ' $1'))
    .sort();
}

/**
 * Polls GET path through the proxy until stop() is called; counts every non-2xx and error. Proves the old
 * colour keeps serving while a deploy fails or switches.
 */
export function pollDuring(
  port: number,
  path = '/version',
  intervalMs = 20,
): { stop(): Promise<{ total: number; failures: string[]; versions: Set<string> }> } {
  let running = true;
  const failures: string[] = [];
  const versions = new Set<string>();
  let total = 0;
  const loop = (async () => {
    while (running) {
      total++;
      try {
        const r = await httpGet(port, path);
        if (r.status < 200 || r.status >= 300) failures.push(`HTTP ${r.status}`);
        else versions.add((JSON.parse(r.body) as { git_commit?: string }).git_commit ?? '?');
      } catch (e) {
        failures.push((e as Error).message);
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { total, failures, versions };
    },
  };
}

export function writeFile(path: string, text: string, mode = 0o600): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text, { mode });
  chmodSync(path, mode);
}

/** the CLI with stderr streamed, for tests that act at a moment of an operation (waitFor a line, then act) */
export function startCli(
  env: TestEnv,
  args: string[],
): { pid: number; stderr: () => string; done: Promise<CliResult>; waitFor(re: RegExp, ms: number): Promise<void> } {
  const started = Date.now();
  const argv = cliArgs(env, args);
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...argv], {
    cwd: ROOT,
    env: { HOME: process.env.HOME ?? '/root', ...env.info.runnerEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((res) =>
    child.on('close', (code) => res({ code: code ?? 1, stdout, stderr, ms: Date.now() - started })),
  );
  return {
    pid: child.pid ?? -1,
    stderr: () => stderr,
    done,
    async waitFor(re, ms) {
      const deadline = Date.now() + ms;
      while (!re.test(stderr)) {
        if (Date.now() > deadline) throw new Error(`not seen within ${ms} ms: ${re}\n--- stderr so far:\n${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}
