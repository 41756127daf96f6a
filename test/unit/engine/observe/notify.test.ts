/**
 * notify(ctx, event), the engine's side of notifications: the event filled in from the context, no secret in any
 * payload, and a failing channel never fails an operation. Deliveries go to a real HTTP server on loopback.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { EngineContext } from '../../../../src/engine/context.js';
import { buildEvent, notify, settleNotifications } from '../../../../src/engine/observe/notify.js';
import { Redactor } from '../../../../src/log/redact.js';
import { Notifier } from '../../../../src/notify/notifier.js';
import { fakeContext, RecordingReporter } from '../../../fakes/context.js';
import { fakeConfig } from '../../../fakes/host.js';
import { ALL, PRIORITY, Receiver, SHA2, TAGS, noSleep } from '../../notify/fixtures.js';

/** staging with a URL, a host that runs nothing, a fixed time; warnings and errors both go to `warnings` */
function fakeCtx(over: { redactor: Redactor; notifier?: Notifier; warnings?: string[] }): EngineContext {
  const warnings = over.warnings ?? [];
  return fakeContext({
    cfg: fakeConfig({
      environments: { staging: { host: 'h.example', env_file: '.env', url: 'https://staging.example' } },
    }),
    host: {
      name: 'deploy@h.example:22',
      run: () => Promise.reject(new Error('no host in this test')),
      close: () => Promise.resolve(),
    },
    reporter: new RecordingReporter({ warn: warnings, error: warnings }),
    redactor: over.redactor,
    clock: { now: () => Date.parse('2026-02-03T04:05:06.000Z'), sleep: noSleep },
    actor: 'alice@laptop',
    notifier: over.notifier,
    runUrl: 'https://github.com/togather/server/actions/runs/7',
  });
}

describe('notify(ctx, event)', () => {
  const rx = new Receiver();
  before(() => rx.start());
  after(() => rx.stop());

  test('fills in environment, timestamp, run URL and actor', () => {
    const e = buildEvent(fakeCtx({ redactor: new Redactor() }), {
      event: 'deployment.started',
      deployment_id: 'D1',
      version: SHA2,
      metadata: { ref: 'v2' },
    });
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
    const secrets = [
      'jwt-Zx81-SECRET-value-0042',
      'postgres://togather:Pw0rd%2Fq@db:5432/togather',
      'whsec-Hook-Key-9911',
    ];
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
      failure: {
        class: 'health',
        exit_code: 10,
        reason: `boom: JWT_SECRET=jwt-Zx81-SECRET-value-0042 url=postgres://togather:Pw0rd%2Fq@db:5432/togather b64=${Buffer.from('jwt-Zx81-SECRET-value-0042').toString('base64')}`,
      },
      metadata: { note: 'key whsec-Hook-Key-9911' },
    });
    assert.equal(rx.got.length, 2);
    const forms = secrets.flatMap((s) => [
      s,
      encodeURIComponent(s),
      Buffer.from(s).toString('base64'),
      'Pw0rd%2Fq',
      'Pw0rd/q',
    ]);
    for (const g of rx.got)
      for (const f of forms) assert.ok(!g.body.includes(f), `${f.slice(0, 8)}… leaked to ${g.path}`);
    assert.match(rx.got[0]!.body, /JWT_SECRET=\*\*\*/);
  });

  test('a failing channel is reported as a warning and never throws', async () => {
    rx.reset();
    rx.answer = () => ({ status: 500 });
    const warnings: string[] = [];
    const n = new Notifier(
      { webhook: { url: rx.url('/broken/abc'), events: ALL, timeoutMs: 500, retries: 1 } },
      { sleep: noSleep },
    );
    const redactor = new Redactor();
    redactor.add(rx.url('/broken/abc'));
    const ctx = fakeCtx({ redactor, notifier: n, warnings });
    await notify(ctx, { event: 'deployment.completed', deployment_id: 'D3', version: SHA2 });
    await settleNotifications(ctx);
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0]!,
      /notification deployment\.completed to webhook failed after 2 attempt\(s\): HTTP 500 — the operation itself is not affected/,
    );
  });

  test('a dry run sends nothing', async () => {
    rx.reset();
    const n = new Notifier({ webhook: { url: rx.url('/dry'), events: ALL, timeoutMs: 500, retries: 0 } });
    const ctx = { ...fakeCtx({ redactor: new Redactor(), notifier: n }), dryRun: true };
    await notify(ctx, { event: 'deployment.started', deployment_id: 'D4' });
    assert.equal(rx.got.length, 0);
  });
});
