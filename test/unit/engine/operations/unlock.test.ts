/**
 * unlock, shared by both adapters: it shows the lock before it asks, removes only when confirmed, and audits
 * the removal; the adapters word the outcome.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { unlock } from '../../../../src/engine/operations/unlock.js';
import { fakeEngine } from '../../../fakes/host.js';

const HOLDER = {
  lock_id: '01JTESTLOCKHELDBYCIBOT0000',
  environment: 'staging',
  acquired_at: '2026-01-15T12:00:00Z',
  acquired_by: 'ci-bot',
  deployment_id: 'dep-held',
  operation: 'deploy',
  pid: 4242,
  hostname: 'another-runner',
  expires_at: '2026-01-15T13:00:00Z',
};

/** a host whose lock is `inspect`'s answer; force removal answers `removeCode` */
function locked(inspect: { code?: number; stdout?: string }, removeCode = 0) {
  const e = fakeEngine();
  e.host.on(/noinfo_age=/, inspect);
  e.host.on(/\.removed\./, { code: removeCode });
  const shown: string[] = [];
  const asked: string[] = [];
  return { ...e, shown, asked, show: (t: string) => void shown.push(t) };
}

const held = { stdout: JSON.stringify(HOLDER) };
const removals = (ran: string[]) => ran.filter((l) => /\.removed\./.test(l));
const audits = (ran: string[]) => ran.filter((l) => /audit\.jsonl$/.test(l));

describe('unlock', () => {
  test('no lock: says so and removes nothing', async () => {
    const e = locked({ code: 3 });
    const r = await unlock(e.ctx, { confirmed: true, show: e.show });
    assert.deepEqual([r.result, r.exitCode], ['not-locked', 0]);
    assert.deepEqual(e.shown, ['staging is not locked']);
    assert.deepEqual(removals(e.host.ran), []);
  });

  test('held, not confirmed and nobody to ask: shown, refused (13), left in place', async () => {
    const e = locked(held);
    const r = await unlock(e.ctx, { confirmed: false, show: e.show });
    assert.deepEqual([r.result, r.exitCode], ['refused', 13]);
    assert.match(e.shown[0]!, /^lock held by ci-bot \(deploy dep-held, pid 4242 on another-runner\)/);
    assert.deepEqual(removals(e.host.ran), []);
    assert.deepEqual(audits(e.host.ran), []);
  });

  test('held and asked: the holder is shown before the question; a no leaves it, a yes removes it and audits who did', async () => {
    for (const answer of [false, true]) {
      const e = locked(held);
      const r = await unlock(e.ctx, {
        confirmed: false,
        show: e.show,
        ask: async (q) => {
          assert.equal(e.shown.length, 1, 'the holder is shown first');
          e.asked.push(q);
          return answer;
        },
      });
      assert.deepEqual(e.asked, ['remove it? only if that operation is really gone [y/N] ']);
      assert.equal(r.result, answer ? 'removed' : 'refused');
      assert.equal(removals(e.host.ran).length, answer ? 1 : 0);
      const audit = e.host.stdin[e.host.ran.findIndex((l) => /audit\.jsonl$/.test(l))];
      if (answer) {
        const line = JSON.parse(audit!);
        assert.deepEqual([line.action, line.by, line.removed.acquired_by], ['unlock', 'tester@unit', 'ci-bot']);
      } else assert.equal(audit, undefined);
    }
  });

  test('confirmed up front: removed without asking', async () => {
    const e = locked(held);
    const r = await unlock(e.ctx, {
      confirmed: true,
      show: e.show,
      ask: () => assert.fail('asked although confirmed'),
    });
    assert.deepEqual([r.result, r.exitCode], ['removed', 0]);
    assert.equal(audits(e.host.ran).length, 1);
  });

  test('the lock changed before removal: changed (5), nothing audited', async () => {
    const e = locked(held, 5);
    const r = await unlock(e.ctx, { confirmed: true, show: e.show });
    assert.deepEqual([r.result, r.exitCode], ['changed', 5]);
    assert.deepEqual(audits(e.host.ran), []);
  });

  test('a young directory without info.json is shown but not removed: it may be a holder taking it right now', async () => {
    const e = locked({ code: 4, stdout: 'noinfo_age=3\n' });
    const r = await unlock(e.ctx, { confirmed: true, show: e.show });
    assert.deepEqual([r.result, r.exitCode], ['changed', 5]);
    assert.match(e.shown[0]!, /without holder information, 3s old/);
  });

  test('without show, the lock goes to the reporter', async () => {
    const e = locked(held);
    await unlock(e.ctx, { confirmed: false });
    assert.match(e.said.info[0]!, /^lock held by ci-bot/);
  });
});
