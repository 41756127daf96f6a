/**
 * The Swarm provider end to end on a real single-node swarm (test/harness/swarm.ts): the same sample app and
 * config as the single-host tests, only the provider block differs. A first deploy creates the stack (edge Caddy,
 * gates, tools, the managed database) and the blue colour service; the next deploy starts green, health-gates
 * its tasks, flips the gates and scales blue to 0; a rollback scales blue back up (warm); an unhealthy release
 * fails with exit 10 while the previous version keeps answering; a failing migration stops before any colour
 * service is created; a held cluster lock refuses a second deploy naming its holder — a lock made by hand, and the
 * lock of a deploy in progress; a release with migrations runs them in exactly one container in the cluster.
 *
 * The CLI runs in the deployer's namespace (tgs-ctl) and reaches the manager over SSH with its pinned key.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { CLI, runCommand, type CliResult } from '../harness/run-cli.js';
import {
  migrateRunsSince,
  nodeDocker,
  swarmCliArgv,
  swarmDown,
  swarmSchema,
  swarmUp,
  type SwarmInfo,
} from '../harness/swarm.js';
import { destroyEnv, httpGet, sharedHost, type SampleRepo } from './support.js';
import { freePort } from '../harness/proc.js';
import { hostSsh } from '../harness/host.js';
import type { HarnessInfo } from '../harness/host.js';

const STACK = 'tg-swarm';
let info: SwarmInfo;
let host: HarnessInfo;
let repo: SampleRepo;
let configPath: string;
let envFilePath: string;
const t0 = Date.now();

function cli(args: string[]): Promise<CliResult> {
  return runCommand(swarmCliArgv(info, { config: configPath, repo: repo.dir }, args), { ...host.runnerEnv });
}

/** GET through the edge Caddy on n1, from the deployer's namespace */
async function edge(path: string): Promise<{ status: number; body: string }> {
  const r = await runCommand([
    ...info.ctlExec,
    'curl',
    '-s',
    '-m',
    '5',
    '-w',
    '\n%{http_code}',
    `${info.edgeUrl}${path}`,
  ]);
  const at = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(at + 1)) || 0, body: r.stdout.slice(0, at) };
}

async function servingCommit(): Promise<string | undefined> {
  const r = await edge('/version');
  if (r.status !== 200) return undefined;
  return (JSON.parse(r.body) as { git_commit?: string }).git_commit;
}

async function replicas(colour: string): Promise<string> {
  const r = await nodeDocker(
    info,
    1,
    ['service', 'ls', '--filter', `name=${STACK}_app-${colour}`, '--format', '{{.Name}} {{.Replicas}}'],
    {
      check: false,
    },
  );
  const line = r.stdout.split('\n').find((l) => l.startsWith(`${STACK}_app-${colour} `));
  return line ? line.split(' ')[1]! : 'absent';
}

let singlePort = 0;
let live = '';
/** the commit the swarm serves after the last test */
let serving = '';
const other = (c: string) => (c === 'blue' ? 'green' : 'blue');
/** the single-host environment's containers, volumes, network and directory */
const removeSingle = () => destroyEnv({ info: host, stackPrefix: 'tg-single', name: 'single' });

const show = (r: CliResult) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

describe('swarm provider on one node', { timeout: 1_200_000 }, () => {
  before(
    async () => {
      ({ info: host, repo } = await sharedHost());
      info = await swarmUp({ nodes: 1 });
      // the deploy user's home outlives a fabric: a state.json from an earlier fabric would describe nothing here
      await hostSsh(host, 'rm -rf stacks/swarm', { check: false });
      const dir = mkdtempSync(join(tmpdir(), 'tgd-swarm-'));
      const dbPassword = 'pg-swarm-Zq9x';
      singlePort = await freePort();
      const config = {
        app: {
          name: 'tg',
          port: 8080,
          image: 'togather-test/app',
          build: { context: '.', dockerfile: 'Dockerfile' },
          health: {
            interval: '200ms',
            timeout: '2s',
            consecutive: 2,
            start_timeout: '30s',
            required_checks: ['database'],
          },
        },
        deployment: { drain_timeout: '5s', min_free_mb: 64, verify_timeout: '20s', keep_images: 50 },
        proxy: { http_port: Number(new URL(info.edgeUrl).port || 80) },
        images: {
          caddy: info.images.caddy,
          postgres: info.images.postgres,
          gate: info.images.gate,
          keeper: host.images.keeper,
          postgres_dockerfile: 'none',
        },
        database: { migrations: { image: info.images.migrateFixture } },
        environments: {
          swarm: {
            host: info.manager.addr,
            port: info.manager.sshPort,
            user: info.ssh.user,
            path: 'stacks/swarm',
            env_file: 'app.env',
            // the only difference from the single-host environment below: where the colours run
            provider: { kind: 'swarm', replicas: 1, scale_timeout: '90s' },
          },
          single: {
            host: host.ssh.host,
            port: host.ssh.port,
            user: host.ssh.user,
            path: 'stacks/single',
            env_file: 'single.env',
            proxy: { bind: '127.0.0.1', http_port: singlePort },
          },
        },
      };
      configPath = join(dir, 'deployment.yml');
      writeFileSync(configPath, stringify(config));
      envFilePath = join(dir, 'app.env');
      writeFileSync(
        envFilePath,
        [
          'ENVIRONMENT=swarm',
          `DATABASE_URL=postgres://togather:${dbPassword}@db:5432/togather`,
          'JWT_SECRET=jwt-swarm-7f3a9c1e5b2d4f6a8c0e2b4d6f8a0c2e',
          `POSTGRES_PASSWORD=${dbPassword}`,
          'LOG_LEVEL=info',
        ].join('\n') + '\n',
        { mode: 0o600 },
      );
      const single = readFileSync(envFilePath, 'utf8').replace('ENVIRONMENT=swarm', 'ENVIRONMENT=single');
      writeFileSync(join(dir, 'single.env'), single, { mode: 0o600 });
    },
    { timeout: 900_000 },
  );

  after(async () => {
    await removeSingle().catch(() => undefined);
    if (!process.env.TOGATHER_KEEP_ENVS) await swarmDown().catch(() => undefined);
    process.stdout.write(`# swarm-deploy: ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  });

  test('first deploy: the stack and a colour service, serving v1 through the edge', async () => {
    const r = await cli(['deploy', 'swarm', '--version', 'v1', '--skip-ci-check']);
    assert.equal(r.code, 0, show(r));
    assert.equal(await servingCommit(), repo.shas.v1);
    live = /is live on (blue|green)/.exec(r.stdout + r.stderr)?.[1] ?? '';
    assert.ok(live, show(r));
    assert.equal(await replicas(live), '1/1');
  });

  test('a second deploy: the other colour health-gated, switched, the old one scaled to 0 and kept', async () => {
    const r = await cli(['deploy', 'swarm', '--version', 'v2', '--skip-ci-check']);
    assert.equal(r.code, 0, show(r));
    assert.equal(await servingCommit(), repo.shas.v2);
    const old = live;
    live = other(live);
    assert.equal(await replicas(live), '1/1');
    assert.equal(await replicas(old), '0/0');
  });

  test('rollback: the kept colour scaled back up as it was (warm), v1 serves again', async () => {
    const r = await cli(['rollback', 'swarm']);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stderr + r.stdout, /warm/);
    assert.equal(await servingCommit(), repo.shas.v1);
    const old = live;
    live = other(live);
    assert.equal(await replicas(live), '1/1');
    assert.equal(await replicas(old), '0/0');
  });

  test('an unhealthy release fails with exit 10; the previous version keeps serving', async () => {
    const r = await cli(['deploy', 'swarm', '--version', 'v4', '--skip-ci-check']);
    assert.equal(r.code, 10, show(r));
    assert.equal(await servingCommit(), repo.shas.v1);
    assert.equal(await replicas(live), '1/1');
    assert.equal(await replicas(other(live)), '0/0');
  });

  test('a held cluster lock refuses a second deploy naming its holder; status shows it, unlock removes it', async () => {
    const labels = {
      'org.togather.lock.id': '01JTESTLOCKHOLDER000000000',
      'org.togather.lock.environment': 'swarm',
      'org.togather.lock.acquired_at': new Date().toISOString(),
      'org.togather.lock.by': 'someone-else',
      'org.togather.lock.deployment': '01JTESTDEPLOY0000000000000',
      'org.togather.lock.operation': 'deploy',
      'org.togather.lock.pid': '1',
      'org.togather.lock.host': 'elsewhere',
      'org.togather.lock.expires_at': new Date(Date.now() + 3600_000).toISOString(),
    };
    const lock = await nodeDocker(info, 1, [
      'service',
      'create',
      '--detach',
      '--name',
      `${STACK}-deploy-lock`,
      '--replicas',
      '0',
      ...Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
      info.images.gate,
    ]);
    assert.equal(lock.code, 0, lock.stderr);
    try {
      const r = await cli(['deploy', 'swarm', '--version', 'v2', '--skip-ci-check']);
      assert.equal(r.code, 5, show(r));
      assert.match(r.stderr, /someone-else/);
      assert.equal(await servingCommit(), repo.shas.v1);
      // status names the holder and what serves; unlock removes exactly that lock service
      const st = await cli(['status', 'swarm']);
      assert.equal(st.code, 0, show(st));
      assert.match(st.stdout, /someone-else/);
      assert.ok(st.stdout.includes(repo.shas.v1.slice(0, 12)), show(st));
      const u = await cli(['unlock', 'swarm', '--yes']);
      assert.equal(u.code, 0, show(u));
      const left = await nodeDocker(info, 1, ['service', 'inspect', `${STACK}-deploy-lock`], { check: false });
      assert.notEqual(left.code, 0, 'the lock service is gone');
    } finally {
      await nodeDocker(info, 1, ['service', 'rm', `${STACK}-deploy-lock`], { check: false });
    }
  });

  test('a deploy in progress holds the cluster lock: a second one started meanwhile is refused naming it', async () => {
    // v5 starts slowly (3 s): its deploy holds the lock long enough for the second one to meet it
    const first = cli(['deploy', 'swarm', '--version', 'v5', '--skip-ci-check']);
    const until = Date.now() + 120_000;
    let held = false;
    while (!held && Date.now() < until) {
      held = (await nodeDocker(info, 1, ['service', 'inspect', `${STACK}-deploy-lock`], { check: false })).code === 0;
      if (!held) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(held, 'the first deploy took the lock');
    const second = await cli(['deploy', 'swarm', '--version', 'v6', '--skip-ci-check']);
    const a = await first;
    assert.equal(a.code, 0, show(a));
    assert.equal(second.code, 5, show(second));
    // the holder named is the first deploy: its deployment ID, as its record on the manager has it
    const state = JSON.parse((await hostSsh(host, 'cat stacks/swarm/state.json')).stdout) as {
      current: { id: string; version: string };
    };
    assert.equal(state.current.version, repo.shas.v5);
    assert.match(second.stderr, /is locked by/);
    assert.ok(second.stderr.includes(`deploy ${state.current.id}`), show(second));
    assert.equal(await servingCommit(), repo.shas.v5);
    live = other(live);
    serving = repo.shas.v5;
  });

  test('migrations run exactly once in the cluster: one migrate container on one node, the schema at its version', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    const r = await cli(['deploy', 'swarm', '--version', 'm1', '--skip-ci-check']);
    assert.equal(r.code, 0, show(r));
    const runs = await migrateRunsSince(info, since);
    assert.equal(runs.length, 1, `migrate containers: ${JSON.stringify(runs)}`);
    assert.equal(await swarmSchema(info, STACK), '2|f');
    assert.equal(await servingCommit(), repo.shas.m1);
    live = other(live);
    serving = repo.shas.m1;
  });

  test('a failing migration stops the deploy before any colour service starts; the live one keeps serving', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    const r = await cli(['deploy', 'swarm', '--version', 'm2', '--skip-ci-check']);
    assert.equal(r.code, 9, show(r));
    assert.doesNotMatch(r.stderr, /start (blue|green)/, 'no colour was started');
    assert.equal(await servingCommit(), serving);
    assert.equal((await migrateRunsSince(info, since)).length, 1, 'migrate ran once');
    assert.equal(await swarmSchema(info, STACK), '3|t', 'the failing file left its version dirty');
    assert.equal(await replicas(other(live)), '0/0');
    const label = await nodeDocker(
      info,
      1,
      ['service', 'inspect', '-f', '{{index .Spec.Labels "org.togather.version"}}', `${STACK}_app-${other(live)}`],
      { check: false },
    );
    assert.notEqual(label.stdout.trim(), repo.shas.m2, 'the idle colour was not recreated with the release');
  });

  test('the same deployment.yml deploys the same release to a single host, its environment differing only in provider and address', async () => {
    const r = await runCommand(
      [
        process.execPath,
        '--import',
        'tsx',
        CLI,
        'deploy',
        'single',
        '--config',
        configPath,
        '--identity',
        host.ssh.privateKeyPath,
        '--known-hosts',
        host.ssh.knownHostsPath,
        '--repo',
        repo.dir,
        '--version',
        'm1',
        '--skip-ci-check',
      ],
      { ...host.runnerEnv },
    );
    assert.equal(r.code, 0, show(r));
    const v = await httpGet(singlePort, '/version');
    assert.equal((JSON.parse(v.body) as { git_commit: string }).git_commit, repo.shas.m1);
    assert.equal(await servingCommit(), repo.shas.m1, 'the swarm serves the same release');
  });
});
