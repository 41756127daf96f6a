/** Notification settings: URLs and keys from the env file by name, masked, and refused when missing or in clear. */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { stringify } from 'yaml';
import { loadConfig, type ResolvedConfig } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/config/problems.js';
import { ConfigSchema } from '../../../src/config/schema.js';
import { Redactor } from '../../../src/log/redact.js';
import { resolveNotifySettings } from '../../../src/notify/settings.js';
import { ALL, PRIORITY } from './fixtures.js';

function loadWith(notifications: unknown, envFile: string): ResolvedConfig {
  const dir = mkdtempSync(join(tmpdir(), 'notify-cfg-'));
  writeFileSync(
    join(dir, 'deployment.yml'),
    stringify({
      app: { image: 'ghcr.io/togather/server' },
      notifications,
      environments: { staging: { host: 'h.example', env_file: '.env' } },
    }),
  );
  writeFileSync(join(dir, '.env'), envFile);
  chmodSync(join(dir, '.env'), 0o600);
  return loadConfig({ configPath: join(dir, 'deployment.yml'), environment: 'staging', redactor: new Redactor() });
}
const ENV =
  'ENVIRONMENT=staging\nDATABASE_URL=postgres://togather:pw-123456@db:5432/togather\nJWT_SECRET=jwt-0123456789abcdef\n';

describe('notification settings', () => {
  test('URLs and keys come from the env file by name, are masked, and leave the app environment', () => {
    const cfg = loadWith(
      {
        webhook: { url_env: 'DEPLOY_HOOK_URL', secret_env: 'DEPLOY_HOOK_SECRET', retries: 1, timeout: '2s' },
        ntfy: { url: 'https://ntfy.example/togather-Q7x9Zt3kLm2P', token_env: 'NTFY_TOKEN', priority: { failed: 4 } },
      },
      `${ENV}DEPLOY_HOOK_URL=https://hooks.example/T000/B000/Xy7Zq91LmN0p\nDEPLOY_HOOK_SECRET=hmac-Key-Of-Test-77\nNTFY_TOKEN=tk_abcdef123456\n`,
    );
    const redactor = new Redactor();
    const s = resolveNotifySettings(cfg, { processEnv: {}, redactor });
    assert.deepEqual(s.webhook, {
      url: 'https://hooks.example/T000/B000/Xy7Zq91LmN0p',
      secret: 'hmac-Key-Of-Test-77',
      events: [...ALL],
      timeoutMs: 2000,
      retries: 1,
    });
    assert.equal(s.ntfy?.token, 'tk_abcdef123456');
    assert.deepEqual(s.ntfy?.priority, { ...PRIORITY, failed: 4 });
    for (const k of ['DEPLOY_HOOK_URL', 'DEPLOY_HOOK_SECRET', 'NTFY_TOKEN'])
      assert.equal(cfg.appEnv[k], undefined, `${k} is not passed to the app`);
    assert.equal(cfg.appEnv.JWT_SECRET, 'jwt-0123456789abcdef');
    const line = redactor.redact(
      'posting to https://hooks.example/T000/B000/Xy7Zq91LmN0p (path Xy7Zq91LmN0p) with hmac-Key-Of-Test-77, topic togather-Q7x9Zt3kLm2P',
    );
    assert.ok(!/Xy7Zq91LmN0p|hmac-Key|Q7x9Zt3kLm2P/.test(line), line);
    assert.equal(new Redactor().redact('stacks/togather/x'), 'stacks/togather/x');
  });

  test('the webhook-secret input wins; the process environment is a fallback', () => {
    const cfg = loadWith({ webhook: { url_env: 'HOOK', secret_env: 'HOOK_KEY' } }, ENV);
    const s = resolveNotifySettings(cfg, {
      processEnv: { HOOK: 'https://h.example/x', HOOK_KEY: 'from-env-1234' },
      webhookSecret: 'from-input-5678',
      redactor: new Redactor(),
    });
    assert.equal(s.webhook?.secret, 'from-input-5678');
    assert.equal(s.webhook?.url, 'https://h.example/x');
  });

  test('a variable that nothing defines is a configuration error naming it', () => {
    const cfg = loadWith(
      { webhook: { url: 'https://h.example/x', secret_env: 'MISSING_KEY' }, ntfy: { url_env: 'NO_TOPIC' } },
      ENV,
    );
    assert.throws(
      () => resolveNotifySettings(cfg, { processEnv: {}, redactor: new Redactor() }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.problems.length === 2 &&
        e.problems.some((p) => p.path === 'notifications.webhook.secret_env' && /MISSING_KEY/.test(p.message)),
    );
  });

  test("a missing webhook value's fix also offers to remove the channel from the config", () => {
    const cfg = loadWith({ webhook: { url_env: 'DEPLOY_WEBHOOK_URL', secret_env: 'DEPLOY_WEBHOOK_SECRET' } }, ENV);
    assert.throws(
      () => resolveNotifySettings(cfg, { processEnv: {}, redactor: new Redactor() }),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.equal(e.problems.length, 2);
        for (const p of e.problems) {
          assert.match(p.remedy ?? '', /add DEPLOY_WEBHOOK_(URL|SECRET)=… to the env file/);
          assert.ok(p.remedy?.includes(`remove notifications.webhook from ${cfg.configPath}`), p.remedy);
        }
        return true;
      },
    );
    // empty values, as a template filled in without the feature, are missing too
    const empty = loadWith({ webhook: { url_env: 'DEPLOY_WEBHOOK_URL' } }, `${ENV}DEPLOY_WEBHOOK_URL=\n`);
    assert.throws(
      () => resolveNotifySettings(empty, { processEnv: {}, redactor: new Redactor() }),
      (e: unknown) =>
        e instanceof ConfigError && /remove notifications\.webhook from/.test(e.problems[0]?.remedy ?? ''),
    );
  });

  test("an ntfy URL that still holds the example's placeholder is refused, with a fix", () => {
    for (const url of [
      'https://ntfy.sh/togather-deploys-CHANGE-THIS-TOPIC',
      'https://ntfy.sh/CHANGE_ME',
      'https://ntfy.example/topic-change_this',
    ]) {
      const cfg = loadWith({ ntfy: { url } }, ENV);
      assert.throws(
        () => resolveNotifySettings(cfg, { processEnv: {}, redactor: new Redactor() }),
        (e: unknown) => {
          assert.ok(e instanceof ConfigError, url);
          assert.equal(e.problems.length, 1);
          const p = e.problems[0]!;
          assert.equal(p.path, 'notifications.ntfy.url');
          assert.equal(p.code, 'placeholder');
          assert.match(p.message, /placeholder/);
          assert.match(p.remedy ?? '', /openssl rand -hex/);
          assert.ok(p.remedy?.includes(`remove notifications.ntfy from ${cfg.configPath}`), p.remedy);
          return true;
        },
      );
    }
    // the same placeholder reaching url_env from the deployer's environment
    const viaEnv = loadWith({ ntfy: { url_env: 'NTFY_URL' } }, ENV);
    assert.throws(
      () =>
        resolveNotifySettings(viaEnv, {
          processEnv: { NTFY_URL: 'https://ntfy.sh/togather-CHANGE-THIS' },
          redactor: new Redactor(),
        }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.problems.length === 1 &&
        e.problems[0]!.path === 'notifications.ntfy.url_env' &&
        /NTFY_URL still holds a placeholder/.test(e.problems[0]!.message),
    );
    // a topic of one's own passes
    const own = loadWith({ ntfy: { url: 'https://ntfy.sh/togather-3f9a1c07e2b4d865aa01' } }, ENV);
    assert.equal(
      resolveNotifySettings(own, { processEnv: {}, redactor: new Redactor() }).ntfy?.url,
      'https://ntfy.sh/togather-3f9a1c07e2b4d865aa01',
    );
  });

  test('schema: exactly one of url/url_env; no key in clear; watch as a duration or an object, bounded by the lock', () => {
    const base = { app: { image: 'ghcr.io/togather/server' }, environments: { s: { host: 'h' } } };
    assert.equal(
      ConfigSchema.safeParse({ ...base, notifications: { webhook: { url: 'https://a.example', url_env: 'X' } } })
        .success,
      false,
    );
    assert.equal(ConfigSchema.safeParse({ ...base, notifications: { webhook: {} } }).success, false);
    assert.equal(
      ConfigSchema.safeParse({ ...base, notifications: { webhook: { url: 'https://a.example', secret: 'in-clear' } } })
        .success,
      false,
    );
    assert.deepEqual(ConfigSchema.parse({ ...base, deployment: { watch: '10m' } }).deployment.watch, {
      duration: 600_000,
      interval: 2000,
      failure_threshold: 3,
    });
    assert.deepEqual(
      ConfigSchema.parse({ ...base, deployment: { watch: { duration: '2m', interval: '1s', failure_threshold: 5 } } })
        .deployment.watch,
      { duration: 120_000, interval: 1000, failure_threshold: 5 },
    );
    assert.equal(ConfigSchema.parse(base).deployment.watch.duration, 0, 'off by default');
    assert.equal(
      ConfigSchema.safeParse({ ...base, deployment: { watch: '20m' } }).success,
      false,
      'longer than half the 30m lock',
    );
    assert.equal(
      ConfigSchema.safeParse({ ...base, deployment: { watch: '20m', lock: { timeout: '1h' } } }).success,
      true,
    );
  });

  test('a config key written in clear is pointed to secret_env', () => {
    const dir = mkdtempSync(join(tmpdir(), 'notify-cfg-'));
    writeFileSync(
      join(dir, 'deployment.yml'),
      stringify({
        app: { image: 'ghcr.io/togather/server' },
        notifications: { webhook: { url: 'https://h.example/x', secret: 'oops-in-clear' } },
        environments: { staging: { host: 'h.example', env_file: '.env' } },
      }),
    );
    writeFileSync(join(dir, '.env'), ENV, { mode: 0o600 });
    chmodSync(join(dir, '.env'), 0o600);
    assert.throws(
      () => loadConfig({ configPath: join(dir, 'deployment.yml'), environment: 'staging', redactor: new Redactor() }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.problems.some((p) => p.path === 'notifications.webhook.secret' && /secret_env/.test(p.remedy ?? '')),
    );
  });
});
