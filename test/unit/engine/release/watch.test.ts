/**
 * The post-deploy watch window's decision logic, on a fake clock: when failures trigger a switch back, when a
 * pass resets the count, when the window ends; and how a probe through the proxy is read.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseProxyHealth, watchHealth, type WatchProbe } from '../../../../src/engine/release/watch.js';
import { fakeContext } from '../../../fakes/context.js';
import { FakeClock } from '../../../fakes/host.js';

function fakeCtx() {
  const clock = new FakeClock();
  const ctx = fakeContext({ clock });
  return { ctx, warnings: ctx.reporter.said.warn, clock };
}

/** probes answering from a script of results; each takes 100 ms of the fake clock */
function scripted(clock: { t: number }, results: boolean[]): { probe: () => Promise<WatchProbe>; sent: number[] } {
  const sent: number[] = [];
  let i = 0;
  return {
    sent,
    probe: async () => {
      const at = clock.t;
      sent.push(at);
      clock.t += 100;
      const ok = results[i++] ?? true;
      return { at, ok, code: ok ? 200 : 503, upstream: 'app-green:8080', reason: ok ? 'healthy' : 'HTTP 503' };
    },
  };
}

test('three failures in a row end the window, timed from the first of them', async () => {
  const { ctx, warnings, clock } = fakeCtx();
  const s = scripted(clock, [true, true, false, false, false, true]);
  const r = await watchHealth(ctx, { durationMs: 60_000, intervalMs: 1000, threshold: 3 }, s.probe);
  assert.equal(r.ok, false);
  assert.equal(r.probes, 5);
  assert.equal(r.failures, 3);
  assert.equal(r.firstFailureAt, s.sent[2]);
  assert.equal(r.reason, 'HTTP 503');
  assert.equal(warnings.length, 3);
  assert.match(warnings[2]!, /probe failed \(3\/3 in a row\): HTTP 503 from app-green:8080/);
});

test('a passing probe resets the count: scattered failures never switch back', async () => {
  const { ctx, clock } = fakeCtx();
  const s = scripted(clock, [false, false, true, false, false, true, false, true, true, true]);
  const r = await watchHealth(ctx, { durationMs: 9_500, intervalMs: 1000, threshold: 3 }, s.probe);
  assert.equal(r.ok, true);
  assert.equal(r.failures, 5);
  assert.equal(r.firstFailureAt, undefined);
});

test('the window ends on time; probes are spaced by the interval', async () => {
  const { ctx, clock } = fakeCtx();
  const start = clock.t;
  const s = scripted(clock, []);
  const r = await watchHealth(ctx, { durationMs: 10_000, intervalMs: 2000, threshold: 3 }, s.probe);
  assert.equal(r.ok, true);
  assert.equal(r.probes, 5);
  assert.ok(clock.t - start <= 10_000, `${clock.t - start} ms`);
  assert.deepEqual(
    s.sent.map((t, i) => (i ? t - s.sent[i - 1]! : 0)),
    [0, 2100, 2100, 2100, 2100],
  );
});

test('a threshold of one switches back at the first failure', async () => {
  const { ctx, clock } = fakeCtx();
  const r = await watchHealth(
    ctx,
    { durationMs: 60_000, intervalMs: 1000, threshold: 1 },
    scripted(clock, [true, false]).probe,
  );
  assert.equal(r.ok, false);
  assert.equal(r.probes, 2);
});

test('a probe through the proxy: status, upstream and body from busybox wget -S; errors without a body', () => {
  const ok = parseProxyHealth(
    [
      '  HTTP/1.1 200 OK',
      '  Content-Type: application/json',
      '  X-Togather-Upstream: app-green:8080',
      '  Connection: close',
      '',
      '{"status":"healthy","checks":{}}',
      'rc=0',
    ].join('\n'),
  );
  assert.deepEqual(ok, {
    code: 200,
    upstream: 'app-green:8080',
    body: '{"status":"healthy","checks":{}}',
    error: undefined,
  });
  const bad = parseProxyHealth(
    [
      '  HTTP/1.1 503 Service Unavailable',
      '  X-Togather-Upstream: app-green:8080',
      'wget: server returned error: HTTP/1.1 503 Service Unavailable',
      '',
      'rc=1',
    ].join('\n'),
  );
  assert.equal(bad.code, 503);
  assert.equal(bad.body, '');
  const none = parseProxyHealth(
    ["wget: can't connect to remote host (172.18.0.5): Connection refused", '', 'rc=1'].join('\n'),
  );
  assert.equal(none.code, 0);
  assert.match(none.error!, /Connection refused/);
});
