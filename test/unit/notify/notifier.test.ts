/**
 * The notifier: event shape, HMAC signatures, bounded retries with backoff, the ntfy request, ordering per
 * channel. Deliveries go to a real HTTP server on loopback.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { DeploymentEvent } from '../../../src/notify/event.js';
import { backoffMs, Notifier, signPayload, type NotifySettings } from '../../../src/notify/notifier.js';
import { ALL, PRIORITY, Receiver, SHA1, SHA2, TAGS, noSleep } from './fixtures.js';

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

describe('notifier against a loopback receiver', () => {
  const rx = new Receiver();
  before(() => rx.start());
  after(() => rx.stop());

  test('signatures are HMAC-SHA256 over "<timestamp>.<body>" (checked against openssl)', () => {
    // printf '%s' '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'k3y-Sup3r-S3cret'
    assert.equal(
      signPayload('k3y-Sup3r-S3cret', '1700000000', '{"a":1}'),
      'sha256=8cba36ecd4cd3dc5c0c7c85444046b0cf3c5eaecb391be47adfda71be092a1d0',
    );
  });

  test('webhook: the event as JSON with event, delivery, timestamp and a valid signature', async () => {
    rx.reset();
    const n = new Notifier(
      { webhook: { url: rx.url('/hook'), secret: 'whsec-Alpha-7781', events: ALL, timeoutMs: 2000, retries: 2 } },
      { sleep: noSleep },
    );
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
    rx.answer = (_r, i) =>
      i === 1
        ? { status: 503 }
        : i === 2
          ? { status: 429, headers: { 'retry-after': '1' } }
          : i === 3
            ? { status: 200, delayMs: 600 }
            : { status: 200 };
    const sleeps: number[] = [];
    const n = new Notifier(
      { webhook: { url: rx.url('/flaky'), secret: 's3cr3t-key-for-test', events: ALL, timeoutMs: 300, retries: 4 } },
      { sleep: async (ms) => void sleeps.push(ms) },
    );
    const [r] = await n.send(event());
    assert.equal(r!.ok, true);
    assert.equal(r!.attempts, 4);
    assert.equal(rx.got.length, 4);
    assert.equal(
      new Set(rx.got.map((g) => g.headers['x-togather-delivery'])).size,
      1,
      'one delivery id for every attempt',
    );
    for (const g of rx.got) {
      const want = signPayload('s3cr3t-key-for-test', String(g.headers['x-togather-timestamp']), g.body);
      assert.equal(g.headers['x-togather-signature-256'], want);
    }
    assert.equal(sleeps[1], 1000, 'Retry-After is honoured');

    rx.reset();
    rx.answer = () => ({ status: 500 });
    const [down] = await new Notifier(
      { webhook: { url: rx.url('/down'), events: ALL, timeoutMs: 1000, retries: 2 } },
      { sleep: noSleep },
    ).send(event());
    assert.equal(down!.ok, false);
    assert.equal(down!.attempts, 3);
    assert.equal(down!.status, 500);
  });

  test('4xx other than 408/429 and redirects are not retried', async () => {
    rx.reset();
    rx.answer = () => ({ status: 404 });
    const [r] = await new Notifier(
      { webhook: { url: rx.url('/nope'), events: ALL, timeoutMs: 1000, retries: 3 } },
      { sleep: noSleep },
    ).send(event());
    assert.equal(r!.attempts, 1);
    rx.reset();
    rx.answer = () => ({ status: 302, headers: { location: 'http://127.0.0.1:1/elsewhere' } });
    const [m] = await new Notifier(
      { webhook: { url: rx.url('/moved'), events: ALL, timeoutMs: 1000, retries: 3 } },
      { sleep: noSleep },
    ).send(event());
    assert.equal(m!.ok, false);
    assert.match(m!.error!, /redirects are not followed/);
    assert.equal(rx.got.length, 1);
  });

  test('an unreachable endpoint is reported, not thrown', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const [r] = await new Notifier(
      { webhook: { url: `http://127.0.0.1:${port}/x`, events: ALL, timeoutMs: 500, retries: 1 } },
      { sleep: noSleep },
    ).send(event());
    assert.equal(r!.ok, false);
    assert.equal(r!.attempts, 2);
    assert.match(r!.error!, /ECONNREFUSED/);
  });

  test('backoff doubles from 0.5 s to a cap of 8 s, jittered', () => {
    for (const [i, base] of [
      [0, 500],
      [1, 1000],
      [2, 2000],
      [3, 4000],
      [4, 8000],
      [9, 8000],
    ] as const) {
      const v = backoffMs(i);
      assert.ok(v >= base * 0.8 && v <= base * 1.2, `attempt ${i}: ${v}`);
    }
    assert.equal(backoffMs(0, 60_000), 15_000);
  });

  test('ntfy: message body, title, priority and tags by event, click link, bearer token', async () => {
    rx.reset();
    const n = new Notifier({
      ntfy: {
        url: rx.url('/togather-deploys'),
        token: 'tk_NtfyToken123',
        events: ALL,
        priority: PRIORITY,
        tags: TAGS,
        timeoutMs: 2000,
        retries: 0,
      },
    });
    await n.send(
      event({
        event: 'deployment.failed',
        failure: { class: 'health', exit_code: 10, reason: 'the new green colour crashed\n  last log lines: …' },
      }),
    );
    await n.send(
      event({
        event: 'deployment.rolled_back',
        version: SHA1,
        previous_version: SHA2,
        colour: 'blue',
        metadata: { trigger: 'watch', serving_after_seconds: 6.4 },
      }),
    );
    const [failed, rolled] = rx.got;
    assert.equal(failed!.path, '/togather-deploys');
    assert.equal(failed!.headers.title, 'togather staging: deploy FAILED');
    assert.equal(failed!.headers.priority, '5');
    assert.equal(failed!.headers.tags, 'x');
    assert.equal(failed!.headers.click, 'https://github.com/togather/server/actions/runs/42');
    assert.equal(failed!.headers.authorization, 'Bearer tk_NtfyToken123');
    assert.match(failed!.headers['content-type']!, /^text\/plain/);
    assert.match(
      failed!.body,
      /^deploy of 222222222222 to staging failed \(exit 10, health\)\nreason: the new green colour crashed\n/,
    );
    assert.ok(!failed!.body.includes('last log lines'), 'only the first line of the reason');
    assert.equal(rolled!.headers.priority, '4');
    assert.equal(rolled!.headers.tags, 'rewind,warning');
    assert.match(
      rolled!.body,
      /^staging rolled back to 111111111111 on blue, away from 222222222222\nold version serving 6\.4 s after the first failed probe/,
    );
  });

  test('events filter per channel; each channel delivers in order even while an earlier event is retried', async () => {
    rx.reset();
    rx.answer = (r, i) => (r.path === '/order' && i === 1 ? { status: 500 } : { status: 200 });
    const settings: NotifySettings = {
      webhook: { url: rx.url('/order'), events: ALL, timeoutMs: 1000, retries: 2 },
      ntfy: {
        url: rx.url('/only-failures'),
        events: ['deployment.failed'],
        priority: PRIORITY,
        tags: TAGS,
        timeoutMs: 1000,
        retries: 0,
      },
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
