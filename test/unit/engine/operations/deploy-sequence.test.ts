/**
 * The deploy sequence, end to end through the real deploy() against a modelled host (test/fakes/host.ts): what
 * is sent in which order, and what the host is left with. The orderings are the blue-green guarantees: nothing
 * touches the release before the lock; a colour is routed only once its health gate passed, and the old one
 * only taken off after; a failure before the switch leaves the old colour serving; after the switch, nothing
 * switches back; and the lock is released last on every path.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { deploy, failedReport } from '../../../../src/engine/operations/deploy.js';
import {
  assertBefore,
  assertLockReleasedLast,
  assertNone,
  failsWith,
  fakeStack,
  type FakeStack,
} from '../../../fakes/host.js';

const OLD = 'a1'.repeat(20);
const NEW = 'b2'.repeat(20);

/** a host with the base services up; `live` serves OLD from blue */
const host = (live: boolean) => (live ? fakeStack().serving(OLD, 'blue') : fakeStack());
const deployFails = (stack: FakeStack) => failsWith(deploy(stack.e.ctx, { version: NEW, skipCiCheck: true }));

describe('deploy: the sequence on the host', () => {
  test('a first deploy takes the lock before any image work, routes blue only after its health gate, records it, and unlocks last', async () => {
    const stack = host(false);
    const r = await deploy(stack.e.ctx, { version: NEW, skipCiCheck: true });
    const ops = stack.ops;
    assert.equal(r.ok, true, r.message);
    assertBefore(ops, 'lock acquire', /^image /, 'the lock comes before the release image is looked at or shipped');
    assert.ok(ops.includes('image load'), 'the image was shipped');
    assertBefore(ops, 'probe blue', 'switch blue', 'the new colour is routed only after every health probe');
    assertBefore(ops, 'switch blue', 'state write', 'recorded once switched and verified (one command)');
    assertLockReleasedLast(stack);
    assert.deepEqual(stack.routed, ['blue']);
    assert.equal(stack.apps.blue.image, stack.ref(NEW));
    assert.equal(stack.state?.current?.version, NEW);
    assert.equal(stack.state?.current?.status, 'active');
    assert.equal(stack.history.at(-1)?.status, 'active');
  });

  test('with blue live: green is routed after its gate, blue taken off only after green is on, then retired', async () => {
    const stack = host(true);
    const r = await deploy(stack.e.ctx, { version: NEW, skipCiCheck: true });
    const ops = stack.ops;
    assert.equal(r.ok, true, r.message);
    assert.equal(r.colour, 'green');
    assertBefore(ops, 'lock acquire', /^image /, 'the lock comes before the release image is looked at or shipped');
    assertBefore(ops, 'probe green', 'switch green', 'the new colour is routed only after every health probe');
    assertBefore(ops, 'switch green', 'stop blue', 'the old colour is stopped only once it is off');
    assertLockReleasedLast(stack);
    assert.deepEqual(stack.routed, ['green']);
    assert.equal(stack.apps.blue.state, 'exited', 'kept for a fast rollback');
    assert.equal(stack.state?.current?.version, NEW);
    assert.equal(stack.state?.previous?.version, OLD);
  });

  test('round trips: the lock, then the preflight and the reads, in one; the old colour stopped, then hold removal, host log and unlock, in one', async () => {
    const stack = host(true);
    const r = await deploy(stack.e.ctx, { version: NEW, skipCiCheck: true });
    assert.equal(r.ok, true, r.message);
    const batches = stack.batchedOps;
    assert.deepEqual(batches[0], ['lock acquire', 'preflight', 'state read', 'stack inspect']);
    assert.ok(
      batches.some((b) => b.join() === 'up gate-green,flag off green,up app-green'),
      `gate, flag and app in one: ${JSON.stringify(batches)}`,
    );
    // the retire is the last step: its stop and the ending share the last round trip
    assert.deepEqual(batches.at(-1), ['stop blue', 'hold rm', 'host log', 'lock release']);
    assertLockReleasedLast(stack);
  });

  test('a held lock: the first round trip stops at it, the preflight still runs, nothing is read; a failing preflight is the error', async () => {
    const holder = JSON.stringify({
      lock_id: 'L1',
      environment: 'staging',
      acquired_at: new Date().toISOString(),
      acquired_by: 'alice@elsewhere',
      deployment_id: 'D1',
      operation: 'deploy',
      pid: 1,
      hostname: 'elsewhere',
      expires_at: new Date(Date.now() + 3_600_000).toISOString(),
    });
    const held = { code: 4, stdout: `${holder}\nheartbeat_age=0\ndir_mtime=1\n` };
    const stack = host(true).fail('lock acquire', held);
    const err = await failsWith(deploy(stack.e.ctx, { version: NEW, skipCiCheck: true }));
    assert.equal(err.kind, 'lock');
    assert.match(err.message, /locked by alice@elsewhere/);
    assert.deepEqual(stack.batchedOps[0], ['lock acquire'], 'the rest of the first round trip was not run');
    assert.ok(stack.ops.includes('preflight'), 'the preflight ran beside the lock');
    assertNone(stack.ops, 'state read', 'nothing is read without the lock');

    const both = host(true).fail('lock acquire', held).fail('preflight', { stdout: 'docker=\n' });
    const err2 = await failsWith(deploy(both.e.ctx, { version: NEW, skipCiCheck: true }));
    assert.equal(err2.kind, 'preflight', 'the preflight is the error to fix first');
  });

  test('a gate that does not come up: the app is not started, its flag left as it was, blue still routed', async () => {
    const stack = host(true).fail('up gate-green');
    await assert.rejects(deploy(stack.e.ctx, { version: NEW, skipCiCheck: true }), /up gate-green: injected failure/);
    const ops = stack.ops;
    assertNone(ops, 'up app-green', 'no app without its gate');
    assertNone(ops, 'flag off green', 'nothing after the failed command');
    assertLockReleasedLast(stack);
    assert.deepEqual(stack.routed, ['blue']);
  });

  test('a failed health gate stops the new colour, leaves the flags alone, records failed, and unlocks last', async () => {
    const stack = host(true).fail('probe green', { stdout: 'state=exited 2 0\n\nrc=1\n' }); // green crashes at boot
    const err = await deployFails(stack);
    const ops = stack.ops;
    assert.equal(err.kind, 'health');
    assert.match(err.message, /the old colour keeps serving/);
    assertBefore(ops, 'probe green', 'stop green', 'the failed colour is stopped after its gate');
    assertNone(ops, /^flag /, 'no flag changes once the gate began', ops.indexOf('probe green'));
    assertNone(ops, /^(flag on|verify|switch)/, 'nothing is routed');
    assertLockReleasedLast(stack);
    assert.deepEqual(stack.routed, ['blue'], 'blue still serves');
    assert.deepEqual(stack.flags, { blue: true, green: false });
    assert.equal(stack.apps.green.state, 'exited');
    const failed = stack.history.at(-1);
    assert.equal(failed?.version, NEW);
    assert.equal(failed?.status, 'failed', 'history.jsonl records the deploy as failed');
    assert.equal(failed?.failure?.class, 'health');
    assert.equal(stack.state?.history[0]?.status, 'failed', "state.json's history records the deploy as failed");
    assert.equal(stack.state?.current?.version, OLD, 'the current release is unchanged');
    assert.equal(failedReport(err)?.serving, 'previous', 'the failure report says the previous version serves');
  });

  test('a failed state write after the switch does not switch back: the new version serves, and the deploy fails', async () => {
    const stack = host(true).fail('state write', { code: 1, stderr: 'No space left on device' });
    const err = await deployFails(stack);
    const ops = stack.ops;
    assert.equal(err.kind, 'state');
    assert.match(err.message, /deployed and serving, but state\.json could not be written: .*No space left on device/);
    assertBefore(ops, 'switch green', 'state write', 'the switch was done before the record');
    assertNone(
      ops,
      /^(flag |stop |switch )/,
      'no flag change or stop after the failed write',
      ops.indexOf('state write'),
    );
    assert.equal(ops.filter((o) => o === 'state write').length, 1, 'no second write over the failed one');
    assertLockReleasedLast(stack);
    assert.deepEqual(stack.routed, ['green'], 'green keeps serving');
    const report = failedReport(err);
    assert.equal(report?.serving, 'new', 'the failure report says the new version serves');
    assert.equal(report?.colour, 'green');
  });

  test('a failure at the image step touches no colour, records failed, and unlocks last', async () => {
    const stack = host(true).fail('image load', {
      code: 1,
      stderr: 'write /var/lib/docker/tmp: no space left on device',
    });
    const err = await deployFails(stack);
    const ops = stack.ops;
    assert.equal(err.kind, 'image');
    assertNone(ops, /^(up app-|flag |probe |stop )/, 'no colour is started, routed or stopped');
    assertLockReleasedLast(stack);
    assert.deepEqual(stack.routed, ['blue']);
    assert.equal(stack.history.at(-1)?.status, 'failed', 'history.jsonl records the deploy as failed');
    assert.equal(stack.history.at(-1)?.failure?.class, 'image');
    assert.equal(stack.state?.current?.version, OLD);
  });
});
