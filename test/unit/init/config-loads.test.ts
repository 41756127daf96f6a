/**
 * What init writes must pass the loader every command runs (openSession: config, env file, notification and
 * monitoring settings): refused while a CHANGE_ME is left, naming each such key, and accepted once they are
 * replaced, with the answers in place.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../../../src/config/problems.js';
import { ConsoleReporter } from '../../../src/log/console-reporter.js';
import { Redactor } from '../../../src/log/redact.js';
import { openSession } from '../../../src/session.js';
import { emptyRepo, FULL, HOST_KEY, PROD_KEY, runInit } from './support.js';

function open(dir: string, environment: string) {
  const key = join(mkdtempSync(join(tmpdir(), 'tgd-init-id-')), 'id');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  return openSession({
    configPath: join(dir, 'config/deployment.yml'),
    environment,
    credentials: { privateKeyPath: key, knownHostsPath: join(dir, 'config/known_hosts') },
    actor: 'test',
    dryRun: true,
    redactor: new Redactor(),
    makeReporter: (r) => new ConsoleReporter(r, () => undefined),
    repoDir: dir,
  });
}

/** every placeholder replaced by one value, so that DATABASE_URL's password equals POSTGRES_PASSWORD */
function fillIn(dir: string, env: string): void {
  const file = join(dir, `config/environments/.env.${env}`);
  writeFileSync(file, readFileSync(file, 'utf8').replace(/CHANGE_ME/g, '5e3c0ffee0123456789abcdef'));
}

test('the generated config and env files are refused while a CHANGE_ME is left, naming each key', async () => {
  const dir = emptyRepo();
  assert.equal((await runInit(dir, FULL)).code, 0);
  for (const env of ['staging', 'production']) {
    assert.throws(
      () => open(dir, env),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError, String(e));
        const placeholders = e.problems.filter((p) => p.code === 'placeholder').map((p) => p.path);
        assert.deepEqual(placeholders.sort(), [
          'ADMIN_PASSWORD',
          'CSRF_KEY',
          'DATABASE_URL',
          'JWT_SECRET',
          'POSTGRES_PASSWORD',
        ]);
        assert.deepEqual(
          e.problems.filter((p) => p.code !== 'placeholder'),
          [],
          'nothing but the placeholders',
        );
        return true;
      },
    );
  }
});

test('once the placeholders are replaced, every environment loads with the answers given', async () => {
  const dir = emptyRepo();
  assert.equal((await runInit(dir, { ...FULL, sshPort: '2222', httpPort: ['8080'], user: 'ops' })).code, 0);
  for (const env of ['staging', 'production']) fillIn(dir, env);

  const staging = open(dir, 'staging').cfg;
  assert.equal(staging.env.host, 'staging.example.org');
  assert.equal(staging.env.port, 2222);
  assert.equal(staging.env.user, 'ops');
  assert.equal(staging.env.url, 'http://staging.example.org:8080');
  assert.deepEqual(staging.proxy.domains, []);
  assert.equal(staging.proxy.http_port, 8080);
  assert.equal(staging.hostPath, 'togather/staging');
  assert.equal(staging.config.app.image, 'ghcr.io/acme/events');
  assert.equal(staging.config.app.build?.dockerfile, 'docker/Dockerfile');
  assert.equal(staging.config.deployment.watch.duration, 0);
  assert.equal(staging.config.monitoring.enabled, false);
  assert.deepEqual(staging.config.notifications, {}, 'no notification channel');
  assert.equal(staging.appEnv.ENVIRONMENT, 'staging');

  const production = open(dir, 'production').cfg;
  assert.equal(production.env.host, '203.0.113.10');
  assert.equal(production.env.url, 'https://events.example.org');
  assert.deepEqual(production.proxy.domains, ['events.example.org']);
  assert.equal(production.hostPath, 'togather/production');
  const url = new URL(production.appEnv.DATABASE_URL!);
  assert.equal(decodeURIComponent(url.password), production.appEnv.POSTGRES_PASSWORD);
});

test('a staging env file is refused for production (ENVIRONMENT guards it)', async () => {
  const dir = emptyRepo();
  assert.equal((await runInit(dir, FULL)).code, 0);
  fillIn(dir, 'staging');
  const prod = join(dir, 'config/environments/.env.production');
  writeFileSync(prod, readFileSync(join(dir, 'config/environments/.env.staging'), 'utf8'));
  assert.throws(() => open(dir, 'production'), /ENVIRONMENT.*"staging" but this deploy targets "production"/);
});

test('an IPv6 address or an all-digit host name stays a string in the YAML and loads', async () => {
  const dir = emptyRepo();
  const flags = { ...FULL, host: ['staging=2001:db8::10', 'production=1234'], domain: [] };
  const keys = (host: string) => [host === '1234' ? PROD_KEY : HOST_KEY];
  assert.equal((await runInit(dir, flags, { keys })).code, 0);
  for (const env of ['staging', 'production']) fillIn(dir, env);
  const staging = open(dir, 'staging').cfg;
  assert.equal(staging.env.host, '2001:db8::10');
  assert.equal(staging.env.url, 'http://[2001:db8::10]');
  assert.equal(open(dir, 'production').cfg.env.host, '1234');
});

test('two environments on one server, each with a domain, load behind the front proxy', async () => {
  const dir = emptyRepo();
  const flags = {
    ...FULL,
    host: ['vps.example.org'],
    domain: ['staging=staging.example.org', 'production=example.org', 'production=www.example.org'],
    fingerprint: [HOST_KEY.fingerprint],
  };
  const r = await runInit(dir, flags);
  assert.equal(r.code, 0, r.err.join('\n'));
  assert.deepEqual(r.err, [], 'no refusal, no warning');
  for (const env of ['staging', 'production']) fillIn(dir, env);
  const config = join(dir, 'config/deployment.yml');
  assert.match(readFileSync(config, 'utf8'), /^ {2}# email: you@example\.org /m, 'init knows no e-mail: a comment');

  const staging = open(dir, 'staging').cfg;
  assert.equal(staging.proxy.front, true);
  assert.deepEqual(staging.proxy.domains, ['staging.example.org']);
  assert.equal(staging.env.url, 'https://staging.example.org');
  assert.equal(staging.config.front_proxy.http_port, 80);
  assert.equal(staging.config.front_proxy.https_port, 443);
  assert.equal(staging.config.front_proxy.email, undefined);
  const production = open(dir, 'production').cfg;
  assert.equal(production.proxy.front, true);
  assert.deepEqual(production.proxy.domains, ['example.org', 'www.example.org']);

  // the e-mail line, uncommented as its comment says, is front_proxy.email
  writeFileSync(config, readFileSync(config, 'utf8').replace('# email: you@example.org', 'email: ops@example.org'));
  assert.equal(open(dir, 'production').cfg.config.front_proxy.email, 'ops@example.org');
});

test('--front puts an environment alone on its server behind the front proxy too, and the config loads', async () => {
  const dir = emptyRepo();
  const r = await runInit(dir, {
    ...FULL,
    domain: ['staging=staging.example.org', 'production=events.example.org'],
    front: true,
  });
  assert.equal(r.code, 0, r.err.join('\n'));
  for (const env of ['staging', 'production']) fillIn(dir, env);
  for (const env of ['staging', 'production']) assert.equal(open(dir, env).cfg.proxy.front, true, env);
});

test('without a front proxy the config has no front_proxy block and loads as before', async () => {
  const dir = emptyRepo();
  assert.equal((await runInit(dir, FULL)).code, 0);
  assert.doesNotMatch(readFileSync(join(dir, 'config/deployment.yml'), 'utf8'), /^front_proxy:|^ +front: true/m);
  fillIn(dir, 'production');
  assert.equal(open(dir, 'production').cfg.proxy.front, false);
});
