/**
 * The environment's side of the shared front proxy: the compose override compose itself accepts (both compose
 * versions), the ports it no longer publishes, the config rules on domains, and the registration script that
 * routes a domain to an environment — run for real with sh on a temp directory.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { loadConfig } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/config/problems.js';
import { Redactor } from '../../../src/log/redact.js';
import {
  formatFront,
  inspectFront,
  prepareFront,
  registerSitesCmd,
  renderFrontOverride,
} from '../../../src/engine/front/stack.js';
import { composeCmd } from '../../../src/engine/stack/commands.js';
import { Layout } from '../../../src/engine/stack/layout.js';
import { imagesEnv } from '../../../src/engine/release/provision.js';
import { renderEnvFile } from '../../../src/engine/stack/files.js';
import { fakeContext } from '../../fakes/context.js';
import { fakeConfig, fakeEngine } from '../../fakes/host.js';

const root = join(import.meta.dirname, '../../..');

function configDir(config: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'tgd-front-'));
  writeFileSync(join(dir, 'deployment.yml'), stringify(config));
  writeFileSync(
    join(dir, '.env.staging'),
    'ENVIRONMENT=staging\nDATABASE_URL=postgres://togather:x1@db:5432/togather\nPOSTGRES_PASSWORD=x1\nJWT_SECRET=abcdefghijklmnopqrstuvwxyz0123456789\nADMIN_PASSWORD=pw-123456\n',
    { mode: 0o600 },
  );
  writeFileSync(
    join(dir, '.env.production'),
    readFileSync(join(dir, '.env.staging'), 'utf8').replace('ENVIRONMENT=staging', 'ENVIRONMENT=production'),
    { mode: 0o600 },
  );
  return dir;
}

function baseConfig(): Record<string, unknown> {
  return {
    app: { image: 'ghcr.io/togather/server' },
    proxy: { front: true },
    environments: {
      staging: { host: 'vps.example.org', env_file: '.env.staging', proxy: { domains: ['staging.example.org'] } },
      production: { host: 'vps.example.org', env_file: '.env.production', proxy: { domains: ['example.org'] } },
    },
  };
}

function load(config: Record<string, unknown>, environment = 'staging') {
  const dir = configDir(config);
  return loadConfig({ configPath: join(dir, 'deployment.yml'), environment, redactor: new Redactor() });
}

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.map((p) => `${p.path}: ${p.message}`);
    throw e;
  }
  return [];
}

describe('front proxy: config', () => {
  test('an environment behind the front has its domains, its Caddy joins the network, publishes nothing public', () => {
    const cfg = load(baseConfig());
    assert.equal(cfg.proxy.front, true);
    const layout = new Layout(cfg);
    assert.deepEqual(layout.composeFiles, ['togather/staging/compose.yml', 'togather/staging/compose.front.yml']);
    const argv = composeCmd(['docker', 'compose'], layout, 'up', '-d').argv;
    assert.deepEqual(argv.slice(0, 9), [
      'docker',
      'compose',
      '-p',
      'togather-staging',
      '-f',
      'togather/staging/compose.yml',
      '-f',
      'togather/staging/compose.front.yml',
      '--env-file',
    ]);
    const env = imagesEnv(fakeContext({ cfg }), layout, { blue: 'a:1', green: 'a:1' });
    assert.equal(env.TOGATHER_BIND, '127.0.0.1');
    assert.equal(env.TOGATHER_HTTP_PORT, '');
    assert.equal(env.TOGATHER_HTTPS_PORT, '');
    assert.equal(cfg.config.front_proxy.name, 'togather-front');
  });

  test('without proxy.front nothing changes', () => {
    const c = baseConfig();
    c.proxy = {};
    const cfg = load(c);
    assert.deepEqual(new Layout(cfg).composeFiles, ['togather/staging/compose.yml']);
    const env = imagesEnv(fakeContext({ cfg }), new Layout(cfg), { blue: 'a:1', green: 'a:1' });
    assert.equal(env.TOGATHER_HTTP_PORT, '80');
  });

  test('front without domains, with a port or a wildcard, or one domain for two environments: named errors', () => {
    const none = baseConfig();
    delete ((none.environments as Record<string, Record<string, unknown>>).staging as Record<string, unknown>).proxy;
    assert.deepEqual(
      problemsOf(() => load(none)),
      ['proxy.domains: is empty, but proxy.front routes requests by domain'],
    );
    const port = baseConfig();
    (port.environments as Record<string, Record<string, unknown>>).staging!.proxy = {
      domains: ['staging.example.org:8443'],
    };
    assert.match(problemsOf(() => load(port)).join('\n'), /staging\.example\.org:8443.*not a plain host name/);
    const twice = baseConfig();
    (twice.environments as Record<string, Record<string, unknown>>).staging!.proxy = { domains: ['example.org'] };
    assert.match(problemsOf(() => load(twice)).join('\n'), /example\.org also belongs to environment production/);
  });
});

test("environments on one host: each environment's own monitoring ports, the rest from the top level", () => {
  const c = baseConfig();
  c.monitoring = { enabled: true, prometheus: { port: 9090 }, grafana: { port: 3000 } };
  (c.environments as Record<string, Record<string, unknown>>).staging!.monitoring = {
    prometheus: { port: 9091 },
    grafana: { port: 3001 },
  };
  const staging = load(c).config.monitoring;
  const production = load(c, 'production').config.monitoring;
  assert.deepEqual(
    [staging.enabled, staging.prometheus.port, staging.grafana.port, staging.prometheus.bind],
    [true, 9091, 3001, '127.0.0.1'],
  );
  assert.deepEqual([production.prometheus.port, production.grafana.port], [9090, 3000]);
});

describe('front proxy: compose override', () => {
  const compose = (bin: string[]): { code: number; out: string } => {
    const dir = mkdtempSync(join(tmpdir(), 'tgd-front-compose-'));
    copyFileSync(join(root, 'docker/compose.yml'), join(dir, 'compose.yml'));
    writeFileSync(
      join(dir, 'compose.front.yml'),
      renderFrontOverride('togather-front', ['staging.example.org', 'www.staging.example.org']),
    );
    for (const f of ['app.env', 'db.env']) writeFileSync(join(dir, f), 'X=1\n');
    mkdirSync(join(dir, 'db-init'));
    writeFileSync(
      join(dir, '.env'),
      renderEnvFile({
        TOGATHER_STACK: 's',
        TOGATHER_APP_IMAGE_BLUE: 'a:1',
        TOGATHER_APP_IMAGE_GREEN: 'a:1',
        TOGATHER_BIND: '127.0.0.1',
        TOGATHER_HTTP_PORT: '',
        TOGATHER_HTTPS_PORT: '',
      }),
    );
    const r = spawnSync(
      bin[0]!,
      [
        ...bin.slice(1),
        '-p',
        's',
        '-f',
        join(dir, 'compose.yml'),
        '-f',
        join(dir, 'compose.front.yml'),
        '--env-file',
        join(dir, '.env'),
        'config',
      ],
      { encoding: 'utf8' },
    );
    return { code: r.status ?? 1, out: r.stdout + r.stderr };
  };

  test(
    'docker-compose v1 reads it: the Caddy on both networks, the domains as aliases, loopback-only ephemeral ports',
    { skip: spawnSync('docker-compose', ['version']).status !== 0 && 'docker-compose is not installed' },
    () => {
      const r = compose(['docker-compose']);
      assert.equal(r.code, 0, r.out);
      const caddy = (parse(r.out) as { services: Record<string, Record<string, unknown>> }).services.caddy!;
      assert.deepEqual(caddy.networks, {
        front: { aliases: ['staging.example.org', 'www.staging.example.org'] },
        togather: {},
      });
      assert.deepEqual(caddy.ports, ['127.0.0.1::80/tcp', '127.0.0.1::443/tcp']);
    },
  );
});

describe('front proxy: domain registration (sh, for real)', () => {
  const run = (dir: string, stack: string, domains: string[]) => {
    const front = new Layout({ hostPath: dir, stack: 'togather-front' });
    const argv = registerSitesCmd(front, stack, domains).argv;
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
    return { code: r.status, out: r.stdout.trim().split('\n').filter(Boolean) };
  };
  const sites = (dir: string) =>
    Object.fromEntries(
      readdirSync(join(dir, 'caddy/sites')).map((f) => [f, readFileSync(join(dir, 'caddy/sites', f), 'utf8').trim()]),
    );

  test("adds, keeps, drops its own, refuses another stack's domain without changing anything", () => {
    const dir = mkdtempSync(join(tmpdir(), 'tgd-front-sites-'));
    assert.deepEqual(run(dir, 'tg-staging', ['staging.example.org', 'www.staging.example.org']), {
      code: 0,
      out: ['added staging.example.org', 'added www.staging.example.org'],
    });
    assert.deepEqual(run(dir, 'tg-production', ['example.org']), { code: 0, out: ['added example.org'] });
    assert.deepEqual(run(dir, 'tg-staging', ['staging.example.org']), {
      code: 0,
      out: ['removed www.staging.example.org'],
    });
    assert.deepEqual(run(dir, 'tg-staging', ['example.org', 'new.example.org']), {
      code: 3,
      out: ['taken example.org tg-production'],
    });
    assert.deepEqual(sites(dir), { 'example.org': 'tg-production', 'staging.example.org': 'tg-staging' });
  });
});

describe('front proxy: the provision sequence (scripted host)', () => {
  const frontCfg = () =>
    fakeConfig({ proxy: { front: true, domains: ['staging.example.org'] }, front_proxy: { email: 'ops@example.org' } });
  const step = (line: string): string | undefined => {
    if (line.includes('network inspect')) return 'network';
    if (line.includes('publish=$1')) return 'port-holders';
    if (line.includes('until mkdir')) return 'lock';
    if (line.startsWith('rmdir')) return 'unlock';
    if (/ up --no-start /.test(line)) return 'create';
    if (/togather-front .* up -d /.test(line) || line === 'docker start togather-front') return 'start';
    if (line.includes('dir=$1; stack=$2')) return 'route';
    if (line.startsWith('docker inspect -f {{.State.Status}}')) return 'inspect';
    return undefined;
  };

  test('a host without a front: created before the environment changes, started after, routed, unlocked', async () => {
    const { ctx, host } = fakeEngine(frontCfg());
    host.on(/^docker inspect -f \{\{\.State\.Status\}\}/, { code: 1, stderr: 'No such object' });
    host.on(/dir=\$1; stack=\$2/, { stdout: 'added staging.example.org\n' });
    const session = await prepareFront(ctx, ['docker', 'compose'], 'togather-staging-caddy');
    host.ran.push('-- the environment compose --');
    await session.startAndRoute('togather-staging');
    await session.release(); // a second release does nothing
    const seq = host.ran.map((l) => (l.startsWith('-- ') ? 'env' : step(l))).filter(Boolean);
    assert.deepEqual(seq, ['port-holders', 'network', 'lock', 'inspect', 'create', 'env', 'start', 'route', 'unlock']);
  });

  test("another container on the front's ports: refused before anything changes", async () => {
    const { ctx, host } = fakeEngine(frontCfg());
    host.on(/publish=\$1/, { stdout: 'togather-staging-caddy\nother-app-caddy\n' });
    await assert.rejects(prepareFront(ctx, ['docker', 'compose'], 'togather-staging-caddy'), (e: Error) => {
      assert.match(e.message, /published by other-app-caddy; nothing was changed/);
      return true;
    });
    assert.deepEqual(host.ran.map(step).filter(Boolean), ['port-holders']);
  });

  test('a domain another environment registered: a config error naming both, and the lock is released', async () => {
    const { ctx, host } = fakeEngine(frontCfg());
    host.on(/^docker inspect -f \{\{\.State\.Status\}\}/, { stdout: 'running\n' });
    host.on(/dir=\$1; stack=\$2/, { code: 3, stdout: 'taken staging.example.org togather-production\n' });
    const session = await prepareFront(ctx, ['docker', 'compose'], 'togather-staging-caddy');
    await assert.rejects(
      session.startAndRoute('togather-staging'),
      /staging\.example\.org is already served .* by togather-production/,
    );
    assert.equal(host.ran.map(step).filter(Boolean).at(-1), 'unlock');
  });
});

test("status: the front's container and where each of the environment's domains routes", async () => {
  const { ctx, host } = fakeEngine(
    fakeConfig({ proxy: { front: true, domains: ['staging.example.org', 'www.staging.example.org'] } }),
  );
  host.on(/echo "state/, {
    stdout: 'state running\nsite staging.example.org togather-staging\nsite www.staging.example.org -\n',
  });
  const f = await inspectFront(ctx);
  assert.deepEqual(f, {
    container: 'togather-front',
    state: 'running',
    domains: { 'staging.example.org': 'togather-staging', 'www.staging.example.org': null },
  });
  assert.equal(
    formatFront(f, 'togather-staging'),
    'togather-front running; staging.example.org, www.staging.example.org (not registered)',
  );
});
