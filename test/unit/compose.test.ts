/**
 * docker/compose.yml is the one stack file: production and the end-to-end harness use it unchanged, only the
 * .env the deployer writes differs. docker-compose itself validates it here with both kinds of .env.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import type { ResolvedConfig } from '../../src/config/load.js';
import { ConfigSchema } from '../../src/config/schema.js';
import { Layout } from '../../src/engine/stack/layout.js';
import { imagesEnv } from '../../src/engine/release/provision.js';
import { renderEnvFile } from '../../src/engine/stack/files.js';
import { fakeContext } from '../fakes/context.js';

const root = join(import.meta.dirname, '../..');

function compose(env: Record<string, string>): { code: number; out: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tgd-compose-'));
  copyFileSync(join(root, 'docker/compose.yml'), join(dir, 'compose.yml'));
  for (const f of ['app.env', 'db.env', 'db-client.env']) writeFileSync(join(dir, f), 'X=1\n');
  mkdirSync(join(dir, 'db-init'));
  writeFileSync(join(dir, '.env'), renderEnvFile(env));
  const r = spawnSync(
    'docker-compose',
    ['-p', env.TOGATHER_STACK ?? 'x', '-f', join(dir, 'compose.yml'), '--env-file', join(dir, '.env'), 'config'],
    { encoding: 'utf8' },
  );
  return { code: r.status ?? 1, out: r.stdout + r.stderr };
}

function envFor(images: Record<string, string>): Record<string, string> {
  const config = ConfigSchema.parse({
    app: { image: 'ghcr.io/togather/server' },
    images,
    environments: { production: { host: 'deploy.example.org' } },
  });
  const cfg: ResolvedConfig = {
    config,
    environment: 'production',
    env: config.environments.production!,
    stack: 'togather-production',
    hostPath: 'togather/production',
    proxy: config.proxy,
    provider: config.provider,
    appEnv: {},
    configPath: 'deployment.yml',
    configDir: '.',
    envFileSource: '.env.production',
  };
  const ctx = fakeContext({ cfg });
  const sha = 'a'.repeat(40);
  return imagesEnv(ctx, new Layout(cfg), {
    blue: `ghcr.io/togather/server:${sha}`,
    green: `ghcr.io/togather/server:${sha}`,
  });
}

test(
  "docker-compose validates the stack with the production defaults and with the harness's local images",
  {
    skip:
      spawnSync('docker-compose', ['version'], { encoding: 'utf8' }).status !== 0 &&
      'docker-compose is not installed (bash .ci/install.sh)',
  },
  () => {
    const variants: Record<string, string>[] = [
      {},
      { caddy: 'togather-test/caddy:2.6.2', postgres: 'togather-test/postgres:15', gate: 'togather-test/gate:1' },
    ];
    for (const images of variants) {
      const r = compose(envFor(images));
      assert.equal(r.code, 0, r.out);
      const doc = parse(r.out) as {
        services: Record<string, { image?: string; ports?: unknown[]; network_mode?: string }>;
      };
      assert.deepEqual(Object.keys(doc.services).sort(), [
        'app-blue',
        'app-green',
        'caddy',
        'db',
        'gate-blue',
        'gate-green',
        'keeper',
      ]);
      // only Caddy publishes ports; the colours live in their gates' network namespaces
      for (const [name, s] of Object.entries(doc.services))
        if (name !== 'caddy') assert.equal(s.ports, undefined, `${name} publishes no port`);
      assert.equal(doc.services['app-blue']!.network_mode, 'service:gate-blue');
      // the keeper reaches the Docker socket, so it gets no network at all
      assert.equal(doc.services.keeper!.network_mode, 'none');
      if ('caddy' in images) assert.equal(doc.services.caddy!.image, 'togather-test/caddy:2.6.2');
    }
  },
);

test(
  "the stack refuses to render without the deployer's variables",
  { skip: spawnSync('docker-compose', ['version']).status !== 0 && 'no docker-compose' },
  () => {
    const r = compose({});
    assert.notEqual(r.code, 0);
    assert.match(r.out, /TOGATHER_STACK|TOGATHER_APP_IMAGE/);
  },
);
