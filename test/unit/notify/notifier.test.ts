/**
 * Notifications: event shape, HMAC signatures, bounded retries with backoff, the ntfy request, ordering per
 * channel, and that neither a secret nor a failing channel ever reaches a payload or fails an operation.
 * Deliveries go to a real HTTP server on loopback.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { loadConfig, type ResolvedConfig } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/config/problems.js';
import { ConfigSchema } from '../../../src/config/schema.js';
import type { EngineContext } from '../../../src/engine/context.js';
import { buildEvent, notify, settleNotifications } from '../../../src/engine/observe/notify.js';
import { Redactor } from '../../../src/log/redact.js';
import type { DeploymentEvent } from '../../../src/notify/event.js';
import { backoffMs, Notifier, signPayload, type NotifySettings } from '../../../src/notify/notifier.js';
import { resolveNotifySettings } from '../../../src/notify/settings.js';

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  at: number;
}

/** a loopback receiver whose answer per request is chosen by the test */
class Receiver {
  readonly got: Received[] = [];
  answer: (r: Received, n: number) => { status: number; delayMs?: number; headers?: Record<string, string> } = () => ({ status: 200 });
  private server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      const r = { path: req.url ?? '/', headers: req.headers, body, at: Date.now() };
      this.got.push(r);
      const a = this.answer(r, this.got.length);
      setTimeout(() => {
        res.writeHead(a.status, a.headers ?? {});
        res.end('ok');
      }, a.delayMs ?? 0);
    });
  });
  port = 0;
  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }
  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }
  reset(): void {
    this.got.length = 0;
    this.answer = () => ({ status: 200 });
  }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

const SHA1 = '1'.repeat(40);
const SHA2 = '2'.repeat(40);
const noSleep = () => Promise.resolve();

function event(over: Partial<DeploymentEvent> = {}): DeploymentEvent {
  return {
    schema_version: 1,
    event: 'deployment.completed',
    deployment_id: '01JTESTDEPLOYMENT000000000',
    environment: 'staging',
    version: SHA2,
    previous_version: SHA1,
    colour: 'green',
    timestamp: '2026-01-01T00:00:00.000Z',
    duration_seconds: 12.3,
    failure: null,
    run_url: 'https://github.com/togather/server/actions/runs/42',
    metadata: { ref: 'v2', actor: 'alice', trigger: 'deploy' },
    ...over,
  };
}

const ALL = ['deployment.started', 'deployment.completed', 'deployment.failed', 'deployment.rolled_back'] as const;
const PRIORITY = { started: 2, completed: 3, failed: 5, rolled_back: 4 };
const TAGS = { started: ['rocket'], completed: ['white_check_mark'], failed: ['x'], rolled_back: ['rewind', 'warning'] };

describe('notifier against a loopback receiver', () => {
  const rx = new Receiver();
  before(() => rx.start());
  after(() => rx.stop());

  test('signatures are HMAC-SHA256 over "<timestamp>.<body>" (checked against openssl)', () => {
    // printf '%s' '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'k3y-Sup3r-S3cret'
    assert.equal(signPayload('k3y-Sup3r-S3cret', '1700000000', '{"a":1}'), 'sha256=8cba36ecd4cd3dc5c0c7c85444046b0cf3c5eaecb391be47adfda71be092a1d0');
  });

  test('webhook: the event as JSON with event, delivery, timestamp and a valid signature', async () => {
    rx.reset();
    const n = new Notifier({ webhook: { url: rx.url('/hook'), secret: 'whsec-Alpha-7781', events: ALL, timeoutMs: 2000, retries: 2 } }, { sleep: noSleep });
    const [r] = await n.send(event());
    assert.equal(r!.ok, true);
    assert.equal(r!.attempts, 1);
    const got = rx.got[0]!;
    assert.equal(got.path, '/hook');
    assert.equal(got.headers['content-type'], 'application/json');
    assert.equal(got.headers['x-togather-event'], 'deployment.completed');
    assert.match(String(got.headers['x-togather-delivery']), /^[0-9a-f-]{36}$/);
    const ts = String(got.headers['x-togather-timestamp']);
    assert.ok(Math.abs(Number(ts) - Date.now() / 1000) < 5);
    const want = 'sha256=' + createHmac('sha256', 'whsec-Alpha-7781').update(`${ts}.${got.body}`).digest('hex');
    assert.equal(got.headers['x-togather-signature-256'], want);
    assert.deepEqual(JSON.parse(got.body), event());
  });

  test('webhook without a secret is sent unsigned', async () => {
    rx.reset();
    const n = new Notifier({ webhook: { url: rx.url('/plain'), events: ALL, timeoutMs: 2000, retries: 0 } });
    await n.send(event());
    assert.equal(rx.got[0]!.headers['x-togather-signature-256'], undefined);
  });

  test('retries 5xx, 429 and timeouts with one delivery id, re-signing each attempt; gives up after the bound', async () => {
    rx.reset();
    rx.answer = (_r, i) => (i === 1 ? { status: 503 } : i === 2 ? { status: 429, headers: { 'retry-after': '1' } } : i === 3 ? { status: 200, delayMs: 600 } : { status: 200 });
    const sleeps: number[] = [];
    const n = new Notifier(
      { webhook: { url: rx.url('/flaky'), secret: 's3cr3t-key-for-test', events: ALL, timeoutMs: 300, retries: 4 } },
      { sleep: async (ms) => void sleeps.push(ms) },
    );
    const [r] = await n.send(event());
    assert.equal(r!.ok, true);
    assert.equal(r!.attempts, 4);
    assert.equal(rx.got.length, 4);
    assert.equal(new Set(rx.got.map((g) => g.headers['x-togather-delivery'])).size, 1, 'one delivery id for every attempt');
    for (const g of rx.got) {
      const want = signPayload('s3cr3t-key-for-test', String(g.headers['x-togather-timestamp']), g.body);
      assert.equal(g.headers['x-togather-signature-256'], want);
    }
    assert.equal(sleeps[1], 1000, 'Retry-After is honoured');

    rx.reset();
    rx.answer = () => ({ status: 500 });
    const [down] = await new Notifier({ webhook: { url: rx.url('/down'), events: ALL, timeoutMs: 1000, retries: 2 } }, { sleep: noSleep }).send(event());
    assert.equal(down!.ok, false);
    assert.equal(down!.attempts, 3);
    assert.equal(down!.status, 500);
  });

  test('4xx other than 408/429 and redirects are not retried', async () => {
    rx.reset();
    rx.answer = () => ({ status: 404 });
    const [r] = await new Notifier({ webhook: { url: rx.url('/nope'), events: ALL, timeoutMs: 1000, retries: 3 } }, { sleep: noSleep }).send(event());
    assert.equal(r!.attempts, 1);
    rx.reset();
    rx.answer = () => ({ status: 302, headers: { location: 'http://127.0.0.1:1/elsewhere' } });
    const [m] = await new Notifier({ webhook: { url: rx.url('/moved'), events: ALL, timeoutMs: 1000, retries: 3 } }, { sleep: noSleep }).send(event());
    assert.equal(m!.ok, false);
    assert.match(m!.error!, /redirects are not followed/);
    assert.equal(rx.got.length, 1);
  });

  test('an unreachable endpoint is reported, not thrown', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const [r] = await new Notifier({ webhook: { url: `http://127.0.0.1:${port}/x`, events: ALL, timeoutMs: 500, retries: 1 } }, { sleep: noSleep }).send(event());
    assert.equal(r!.ok, false);
    assert.equal(r!.attempts, 2);
    assert.match(r!.error!, /ECONNREFUSED/);
  });

  test('backoff doubles from 0.5 s to a cap of 8 s, jittered', () => {
    for (const [i, base] of [[0, 500], [1, 1000], [2, 2000], [3, 4000], [4, 8000], [9, 8000]] as const) {
      const v = backoffMs(i);
      assert.ok(v >= base * 0.8 && v <= base * 1.2, `attempt ${i}: ${v}`);
    }
    assert.equal(backoffMs(0, 60_000), 15_000);
  });

  test('ntfy: message body, title, priority and tags by event, click link, bearer token', async () => {
    rx.reset();
    const n = new Notifier({ ntfy: { url: rx.url('/togather-deploys'), token: 'tk_NtfyToken123', events: ALL, priority: PRIORITY, tags: TAGS, timeoutMs: 2000, retries: 0 } });
    await n.send(event({ event: 'deployment.failed', failure: { class: 'health', exit_code: 10, reason: 'the new green colour crashed\n  last log lines: …' } }));
    await n.send(event({ event: 'deployment.rolled_back', version: SHA1, previous_version: SHA2, colour: 'blue', metadata: { trigger: 'watch', serving_after_seconds: 6.4 } }));
    const [failed, rolled] = rx.got;
    assert.equal(failed!.path, '/togather-deploys');
    assert.equal(failed!.headers.title, 'togather staging: deploy FAILED');
    assert.equal(failed!.headers.priority, '5');
    assert.equal(failed!.headers.tags, 'x');
    assert.equal(failed!.headers.click, 'https://github.com/togather/server/actions/runs/42');
    assert.equal(failed!.headers.authorization, 'Bearer tk_NtfyToken123');
    assert.match(failed!.headers['content-type']!, /^text\/plain/);
    assert.match(failed!.body, /^deploy of 222222222222 to staging failed \(exit 10, health\)\nreason: the new green colour crashed\n/);
    assert.ok(!failed!.body.includes('last log lines'), 'only the first line of the reason');
    assert.equal(rolled!.headers.priority, '4');
    assert.equal(rolled!.headers.tags, 'rewind,warning');
    assert.match(rolled!.body, /^staging rolled back to 111111111111 on blue, away from 222222222222\nold version serving 6\.4 s after the first failed probe/);
  });

  test('events filter per channel; each channel delivers in order even while an earlier event is retried', async () => {
    rx.reset();
    rx.answer = (r, i) => (r.path === '/order' && i === 1 ? { status: 500 } : { status: 200 });
    const settings: NotifySettings = {
      webhook: { url: rx.url('/order'), events: ALL, timeoutMs: 1000, retries: 2 },
      ntfy: { url: rx.url('/only-failures'), events: ['deployment.failed'], priority: PRIORITY, tags: TAGS, timeoutMs: 1000, retries: 0 },
    };
    const n = new Notifier(settings, { sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 50))) });
    void n.send(event({ event: 'deployment.started' }));
    void n.send(event({ event: 'deployment.completed' }));
    await n.settle();
    const hooks = rx.got.filter((g) => g.path === '/order').map((g) => g.headers['x-togather-event']);
    assert.deepEqual(hooks, ['deployment.started', 'deployment.started', 'deployment.completed']);
    assert.equal(rx.got.filter((g) => g.path === '/only-failures').length, 0);
    assert.equal(n.deliveries.length, 2);
  });
});

// --- the engine side: notify(ctx, event) -------------------------------------------------------------------

function fakeCtx(over: { redactor: Redactor; notifier?: Notifier; warnings?: string[]; cfg?: Partial<ResolvedConfig> }): EngineContext {
  const config = ConfigSchema.parse({ app: { image: 'ghcr.io/togather/server' }, environments: { staging: { host: 'h.example', url: 'https://staging.example' } } });
  const warnings = over.warnings ?? [];
  return {
    cfg: { config, environment: 'staging', env: config.environments.staging!, stack: 'togather-staging', hostPath: 'togather/staging', proxy: config.proxy, appEnv: {}, configPath: 'deployment.yml', configDir: '.', envFileSource: '.env', ...over.cfg },
    host: { name: 'deploy@h.example:22', run: () => Promise.reject(new Error('no host in this test')), close: () => Promise.resolve() },
    local: { run: () => Promise.reject(new Error('no')), stream: () => { throw new Error('no'); } },
    reporter: { phase: (_n, fn) => fn(), info: () => undefined, warn: (m) => void warnings.push(m), error: (m) => void warnings.push(m), debug: () => undefined },
    redactor: over.redactor,
    clock: { now: () => Date.parse('2026-02-03T04:05:06.000Z'), sleep: noSleep },
    actor: 'alice@laptop',
    dryRun: false,
    notifier: over.notifier,
    runUrl: 'https://github.com/togather/server/actions/runs/7',
  };
}

describe('notify(ctx, event)', () => {
  const rx = new Receiver();
  before(() => rx.start());
  after(() => rx.stop());

  test('fills in environment, timestamp, run URL and actor', () => {
    const e = buildEvent(fakeCtx({ redactor: new Redactor() }), { event: 'deployment.started', deployment_id: 'D1', version: SHA2, metadata: { ref: 'v2' } });
    assert.deepEqual(e, {
      schema_version: 1,
      event: 'deployment.started',
      deployment_id: 'D1',
      environment: 'staging',
      version: SHA2,
      previous_version: null,
      colour: null,
      timestamp: '2026-02-03T04:05:06.000Z',
      duration_seconds: null,
      failure: null,
      run_url: 'https://github.com/togather/server/actions/runs/7',
      metadata: { actor: 'alice@laptop', host: 'deploy@h.example:22', url: 'https://staging.example', ref: 'v2' },
    });
  });

  test('no secret reaches a payload, in any form, even inside a failure reason', async () => {
    rx.reset();
    const redactor = new Redactor();
    const secrets = ['jwt-Zx81-SECRET-value-0042', 'postgres://togather:Pw0rd%2Fq@db:5432/togather', 'whsec-Hook-Key-9911'];
    for (const s of secrets) redactor.add(s);
    const n = new Notifier({
      webhook: { url: rx.url('/s'), secret: 'whsec-Hook-Key-9911', events: ALL, timeoutMs: 1000, retries: 0 },
      ntfy: { url: rx.url('/t'), events: ALL, priority: PRIORITY, tags: TAGS, timeoutMs: 1000, retries: 0 },
    });
    const ctx = fakeCtx({ redactor, notifier: n });
    await notify(ctx, {
      event: 'deployment.failed',
      deployment_id: 'D2',
      version: SHA2,
      failure: { class: 'health', exit_code: 10, reason: `boom: JWT_SECRET=jwt-Zx81-SECRET-value-0042 url=postgres://togather:Pw0rd%2Fq@db:5432/togather b64=${Buffer.from('jwt-Zx81-SECRET-value-0042').toString('base64')}` },
      metadata: { note: 'key whsec-Hook-Key-9911' },
    });
    assert.equal(rx.got.length, 2);
    const forms = secrets.flatMap((s) => [s, encodeURIComponent(s), Buffer.from(s).toString('base64'), 'Pw0rd%2Fq', 'Pw0rd/q']);
    for (const g of rx.got) for (const f of forms) assert.ok(!g.body.includes(f), `${f.slice(0, 8)}… leaked to ${g.path}`);
    assert.match(rx.got[0]!.body, /JWT_SECRET=\*\*\*/);
  });

  test('a failing channel is reported as a warning and never throws', async () => {
    rx.reset();
    rx.answer = () => ({ status: 500 });
    const warnings: string[] = [];
    const n = new Notifier({ webhook: { url: rx.url('/broken/abc'), events: ALL, timeoutMs: 500, retries: 1 } }, { sleep: noSleep });
    const redactor = new Redactor();
    redactor.add(rx.url('/broken/abc'));
    const ctx = fakeCtx({ redactor, notifier: n, warnings });
    await notify(ctx, { event: 'deployment.completed', deployment_id: 'D3', version: SHA2 });
    await settleNotifications(ctx);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /notification deployment\.completed to webhook failed after 2 attempt\(s\): HTTP 500 — the operation itself is not affected/);
  });

  test('a dry run sends nothing', async () => {
    rx.reset();
    const n = new Notifier({ webhook: { url: rx.url('/dry'), events: ALL, timeoutMs: 500, retries: 0 } });
    const ctx = { ...fakeCtx({ redactor: new Redactor(), notifier: n }), dryRun: true };
    await notify(ctx, { event: 'deployment.started', deployment_id: 'D4' });
    assert.equal(rx.got.length, 0);
  });
});

// --- configuration -------------------------------------------------------------------------------------------

function loadWith(notifications: unknown, envFile: string): ResolvedConfig {
  const dir = mkdtempSync(join(tmpdir(), 'notify-cfg-'));
  writeFileSync(join(dir, 'deployment.yml'), stringify({ app: { image: 'ghcr.io/togather/server' }, notifications, environments: { staging: { host: 'h.example', env_file: '.env' } } }));
  writeFileSync(join(dir, '.env'), envFile);
  chmodSync(join(dir, '.env'), 0o600);
  return loadConfig({ configPath: join(dir, 'deployment.yml'), environment: 'staging', redactor: new Redactor() });
}
const ENV = 'ENVIRONMENT=staging\nDATABASE_URL=postgres://togather:pw-123456@db:5432/togather\nJWT_SECRET=jwt-0123456789abcdef\n';

describe('notification settings', () => {
  test('URLs and keys come from the env file by name, are masked, and leave the app environment', () => {
    const cfg = loadWith(
      { webhook: { url_env: 'DEPLOY_HOOK_URL', secret_env: 'DEPLOY_HOOK_SECRET', retries: 1, timeout: '2s' }, ntfy: { url: 'https://ntfy.example/togather-Q7x9Zt3kLm2P', token_env: 'NTFY_TOKEN', priority: { failed: 4 } } },
      `${ENV}DEPLOY_HOOK_URL=https://hooks.example/T000/B000/Xy7Zq91LmN0p\nDEPLOY_HOOK_SECRET=hmac-Key-Of-Test-77\nNTFY_TOKEN=tk_abcdef123456\n`,
    );
    const redactor = new Redactor();
    const s = resolveNotifySettings(cfg, { processEnv: {}, redactor });
    assert.deepEqual(s.webhook, { url: 'https://hooks.example/T000/B000/Xy7Zq91LmN0p', secret: 'hmac-Key-Of-Test-77', events: [...ALL], timeoutMs: 2000, retries: 1 });
    assert.equal(s.ntfy?.token, 'tk_abcdef123456');
    assert.deepEqual(s.ntfy?.priority, { ...PRIORITY, failed: 4 });
    for (const k of ['DEPLOY_HOOK_URL', 'DEPLOY_HOOK_SECRET', 'NTFY_TOKEN']) assert.equal(cfg.appEnv[k], undefined, `${k} is not passed to the app`);
    assert.equal(cfg.appEnv.JWT_SECRET, 'jwt-0123456789abcdef');
    const line = redactor.redact('posting to https://hooks.example/T000/B000/Xy7Zq91LmN0p (path Xy7Zq91LmN0p) with hmac-Key-Of-Test-77, topic togather-Q7x9Zt3kLm2P');
    assert.ok(!/Xy7Zq91LmN0p|hmac-Key|Q7x9Zt3kLm2P/.test(line), line);
    assert.equal(new Redactor().redact('stacks/togather/x'), 'stacks/togather/x');
  });

  test('the webhook-secret input wins; the process environment is a fallback', () => {
    const cfg = loadWith({ webhook: { url_env: 'HOOK', secret_env: 'HOOK_KEY' } }, ENV);
    const s = resolveNotifySettings(cfg, { processEnv: { HOOK: 'https://h.example/x', HOOK_KEY: 'from-env-1234' }, webhookSecret: 'from-input-5678', redactor: new Redactor() });
    assert.equal(s.webhook?.secret, 'from-input-5678');
    assert.equal(s.webhook?.url, 'https://h.example/x');
  });

  test('a variable that nothing defines is a configuration error naming it', () => {
    const cfg = loadWith({ webhook: { url: 'https://h.example/x', secret_env: 'MISSING_KEY' }, ntfy: { url_env: 'NO_TOPIC' } }, ENV);
    assert.throws(
      () => resolveNotifySettings(cfg, { processEnv: {}, redactor: new Redactor() }),
      (e: unknown) => e instanceof ConfigError && e.problems.length === 2 && e.problems.some((p) => p.path === 'notifications.webhook.secret_env' && /MISSING_KEY/.test(p.message)),
    );
  });

  test('schema: exactly one of url/url_env; no key in clear; watch as a duration or an object, bounded by the lock', () => {
    const base = { app: { image: 'ghcr.io/togather/server' }, environments: { s: { host: 'h' } } };
    assert.equal(ConfigSchema.safeParse({ ...base, notifications: { webhook: { url: 'https://a.example', url_env: 'X' } } }).success, false);
    assert.equal(ConfigSchema.safeParse({ ...base, notifications: { webhook: {} } }).success, false);
    assert.equal(ConfigSchema.safeParse({ ...base, notifications: { webhook: { url: 'https://a.example', secret: 'in-clear' } } }).success, false);
    assert.deepEqual(ConfigSchema.parse({ ...base, deployment: { watch: '10m' } }).deployment.watch, { duration: 600_000, interval: 2000, failure_threshold: 3 });
    assert.deepEqual(ConfigSchema.parse({ ...base, deployment: { watch: { duration: '2m', interval: '1s', failure_threshold: 5 } } }).deployment.watch, { duration: 120_000, interval: 1000, failure_threshold: 5 });
    assert.equal(ConfigSchema.parse(base).deployment.watch.duration, 0, 'off by default');
    assert.equal(ConfigSchema.safeParse({ ...base, deployment: { watch: '20m' } }).success, false, 'longer than half the 30m lock');
    assert.equal(ConfigSchema.safeParse({ ...base, deployment: { watch: '20m', lock: { timeout: '1h' } } }).success, true);
  });

  test('a config key written in clear is pointed to secret_env', () => {
    const dir = mkdtempSync(join(tmpdir(), 'notify-cfg-'));
    writeFileSync(join(dir, 'deployment.yml'), stringify({ app: { image: 'ghcr.io/togather/server' }, notifications: { webhook: { url: 'https://h.example/x', secret: 'oops-in-clear' } }, environments: { staging: { host: 'h.example', env_file: '.env' } } }));
    writeFileSync(join(dir, '.env'), ENV, { mode: 0o600 });
    chmodSync(join(dir, '.env'), 0o600);
    assert.throws(
      () => loadConfig({ configPath: join(dir, 'deployment.yml'), environment: 'staging', redactor: new Redactor() }),
      (e: unknown) => e instanceof ConfigError && e.problems.some((p) => p.path === 'notifications.webhook.secret' && /secret_env/.test(p.remedy ?? '')),
    );
  });
});
