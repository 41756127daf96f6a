/**
 * The rollback sequence, end to end through the real rollback() against a modelled host (test/fakes/host.ts):
 * the previous version's colour is started (its kept container as it is, or recreated from its image), routed
 * only after its health gate, recorded, and the lock released last; a failed gate leaves the current colour
 * routed. The host has served OLD from blue, then NEW from green (blue stopped and kept, as a deploy leaves it).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { rollback } from '../../../../src/engine/operations/rollback.js';
import { assertBefore, assertLockReleasedLast, assertNone, failsWith, fakeStack } from '../../../fakes/host.js';

const OLD = 'c3'.repeat(20);
const NEW = 'd4'.repeat(20);

const host = () => fakeStack().serving(OLD, 'blue').serving(NEW, 'green');

describe('rollback: the sequence on the host', () => {
  test('to the previous version: its kept colour is started as it is, routed only after its gate, recorded, and the lock released last', async () => {
    const stack = host();
    const r = await rollback(stack.e.ctx, {});
    const ops = stack.ops;
    assert.equal(r.ok, true, r.message);
    assert.equal(r.version, OLD);
    assert.equal(r.colour, 'blue');
    assertBefore(ops, 'lock acquire', /^(state read|start blue)$/, 'the lock comes before anything is read or started');
    assertNone(ops, /^up app-/, 'the kept container is reused, not recreated');
    assertBefore(ops, 'start blue', 'probe blue', 'health-gated once started');
    assertBefore(ops, 'probe blue', 'switch blue', 'the rollback colour is routed only after every health probe');
    assertBefore(ops, 'switch blue', 'state write', 'recorded once switched and verified through the proxy');
    assertBefore(ops, 'state write', 'stop green', 'the rolled-back colour is retired after the record');
    assertLockReleasedLast(stack);
    assert.deepEqual(stack.routed, ['blue']);
    assert.equal(stack.apps.green.state, 'exited');
    assert.equal(stack.state?.current?.version, OLD);
    assert.equal(stack.state?.current?.kind, 'rollback');
    assert.equal(stack.state?.history.find((h) => h.version === NEW)?.status, 'rolled_back');
    assert.equal(stack.history.at(-1)?.status, 'active');
  });

  test('round trips: the lock, then the light preflight and every read, in one; the old colour stopped, then the host log and the unlock, in one', async () => {
    const stack = host();
    const r = await rollback(stack.e.ctx, {});
    assert.equal(r.ok, true, r.message);
    assert.deepEqual(stack.batchedOps, [
      ['lock acquire', 'preflight', 'state read', 'stack inspect', 'image list'],
      ['start blue', 'probe blue'],
      ['stop green', 'host log', 'lock release'],
    ]);
    assertLockReleasedLast(stack);
  });

  test('a warm start that fails: its error, no probe sent, nothing stopped, the current colour routed', async () => {
    const stack = host().fail('start blue', { code: 1, stderr: 'Error response from daemon: injected' });
    await assert.rejects(rollback(stack.e.ctx, {}), /docker start[^]*injected/);
    const ops = stack.ops;
    assertNone(ops, 'probe blue', 'no probe after a failed start');
    assertNone(ops, /^stop /, 'nothing was started, nothing is stopped');
    assertLockReleasedLast(stack);
    assert.deepEqual(stack.routed, ['green']);
  });

  test('a lock not taken at the first try: what was read beside it is read again once the lock is held', async () => {
    const stack = host().fail('lock acquire', { code: 4, stdout: '' }, 1); // its holder is still writing info.json
    const r = await rollback(stack.e.ctx, {});
    assert.equal(r.ok, true, r.message);
    const ops = stack.ops;
    const taken = ops.lastIndexOf('lock acquire');
    assert.ok(taken > 0, `taken at the second try\n  ops: ${ops.join(', ')}`);
    for (const read of ['state read', 'stack inspect', 'image list'])
      assert.ok(ops.indexOf(read, taken) > taken, `${read} again after the lock was taken\n  ops: ${ops.join(', ')}`);
    assert.equal(stack.state?.current?.version, OLD);
  });

  test('a rollback colour whose container is gone is recreated from its image, and gated before it is routed', async () => {
    const stack = host();
    stack.apps.blue = { state: 'absent' }; // removed by hand; its image is still there
    const r = await rollback(stack.e.ctx, {});
    const ops = stack.ops;
    assert.equal(r.ok, true, r.message);
    assertNone(ops, 'start blue', 'no warm start of a missing container');
    assertBefore(ops, 'up app-blue', 'probe blue', 'health-gated once started');
    assertBefore(ops, 'probe blue', 'switch blue', 'the rollback colour is routed only after every health probe');
    assertLockReleasedLast(stack);
    assert.equal(stack.apps.blue.image, stack.ref(OLD));
    assert.deepEqual(stack.routed, ['blue']);
  });

  test('a failed gate during rollback stops the rollback colour, leaves the current colour routed, records failed, and unlocks last', async () => {
    const stack = host().fail('probe blue', { stdout: 'state=exited 1 0\n\nrc=1\n' }); // the old release no longer boots
    const err = await failsWith(rollback(stack.e.ctx, {}));
    const ops = stack.ops;
    assert.equal(err.kind, 'health');
    assert.match(err.message, /the old colour keeps serving/);
    assertBefore(ops, 'probe blue', 'stop blue', 'the failed colour is stopped after its gate');
    assertNone(ops, /^(flag |verify |switch )/, 'no flag is touched, nothing verified');
    assertNone(ops, 'stop green', 'the current colour keeps running');
    assertLockReleasedLast(stack);
    assert.deepEqual(stack.routed, ['green'], 'green still serves');
    assert.deepEqual(stack.flags, { blue: false, green: true });
    const written = stack.history.filter((h) => h.kind === 'rollback');
    assert.deepEqual(
      written.map((h) => h.status),
      ['failed'],
      'the rollback is recorded once, as failed, never as active',
    );
    assert.equal(written[0]?.failure?.class, 'health');
    assert.equal(stack.state?.current?.version, NEW, 'the current release is unchanged');
  });

  // the point of no return, as in deploy: once switched, a failed record write is not recorded as a failed rollback
  test('a failed state write after the rollback switch does not switch back, and is not recorded as a failed rollback', async () => {
    const stack = host().fail('state write', { code: 1, stderr: 'No space left on device' }, 1);
    const err = await failsWith(rollback(stack.e.ctx, {}));
    const ops = stack.ops;
    assert.equal(err.kind, 'state');
    assertNone(ops, /^(flag |stop )/, 'no flag change or stop after the failed write', ops.indexOf('state write'));
    assert.deepEqual(stack.routed, ['blue'], 'blue keeps serving');
    assert.equal(
      ops.filter((o) => o === 'state write').length,
      1,
      'no second write that records the serving rollback as failed',
    );
    assertLockReleasedLast(stack);
  });
});
