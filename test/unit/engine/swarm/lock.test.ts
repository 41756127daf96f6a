import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as sw from '../../../../src/engine/swarm/commands.js';
import { describeSwarmLockView, lockLabels, parseHeld, SwarmLock } from '../../../../src/engine/swarm/lock.js';
import { APPEND_FILE } from '../../../../src/engine/stack/commands.js';
import type { LockInfo } from '../../../../src/engine/stack/lock.js';
import { DeployError } from '../../../../src/errors.js';
import { fakeContext } from '../../../fakes/context.js';
import { FakeClock, ScriptedHost } from '../../../fakes/host.js';

const ID_OLD = 'oldlockserviceid000000001';
const ID_NEW = 'newlockserviceid000000002';
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** a rule matching script(text, …) */
const scriptRe = (text: string) => new RegExp(`^${escape(`sh -c ${text} togather-deploy`)}`);

function setup() {
  const clock = new FakeClock();
  const host = new ScriptedHost(clock);
  const ctx = fakeContext({ host, clock });
  const lock = new SwarmLock(ctx, {
    stack: 'togather-staging',
    image: 'busybox:1.36',
    auditFile: '/srv/e/audit.jsonl',
  });
  return { clock, host, ctx, lock, nowS: Math.floor(clock.t / 1000) };
}

const IN_AN_HOUR = new Date(Date.now() + 3_600_000).toISOString();

function holder(over: Partial<LockInfo> = {}): LockInfo {
  return {
    lock_id: '01HOLDER',
    environment: 'staging',
    acquired_at: '2026-12-07T13:00:00.000Z',
    acquired_by: 'alice@ci',
    deployment_id: '01DEPLOY',
    operation: 'deploy',
    pid: 4242,
    hostname: 'another-runner',
    expires_at: IN_AN_HOUR,
    ...over,
  };
}

/** what the scripts print for a held lock: its ID, its last update and its labels, and the manager's clock */
const heldOut = (id: string, updatedS: number, nowS: number, labels: Record<string, string>) =>
  `held=${id} ${updatedS} ${JSON.stringify(labels)}\nnow=${nowS}\n`;

describe('SwarmLock', () => {
  test('a free lock is created with the holder in its labels, beats by ID, and is released by ID', async () => {
    const { host, lock } = setup();
    host.on(scriptRe(sw.SWARM_LOCK_CREATE), { stdout: `id=${ID_NEW}\n` });
    const info = await lock.acquire('01DEPLOY', 'deploy');
    assert.equal(lock.id, ID_NEW);
    assert.deepEqual(lock.info, info);
    const create = host.ran[0]!;
    assert.ok(create.endsWith(`togather-staging-deploy-lock busybox:1.36 ${flagsOf(info)}`), create);
    assert.equal(await lock.heartbeat(), true);
    assert.equal(host.ran[1], `docker service update --detach --label-add org.togather.lock.beat=1 ${ID_NEW}`);
    await lock.release();
    assert.equal(host.ran[2], `docker service rm ${ID_NEW}`);
    assert.equal(lock.info, undefined);
  });

  test('a held lock with a live holder is refused, naming the holder (exit 5)', async () => {
    const { host, lock, nowS } = setup();
    host.on(scriptRe(sw.SWARM_LOCK_CREATE), {
      code: 4,
      stdout: heldOut(ID_OLD, nowS - 10, nowS, lockLabels(holder())),
    });
    await assert.rejects(lock.acquire('01ME', 'deploy'), (e: unknown) => {
      assert.ok(e instanceof DeployError);
      assert.equal(e.kind, 'lock');
      assert.equal(e.exitCode, 5);
      assert.match(e.message, /staging is locked by alice@ci \(deploy 01DEPLOY, pid 4242 on another-runner\)/);
      return true;
    });
    assert.ok(!host.ran.some((l) => l.startsWith('docker service rm')), 'nothing removed');
  });

  for (const [why, labels, ageS, reason] of [
    ['its heartbeat stopped (managers’ clock)', lockLabels(holder()), 500, /no heartbeat for 500s/],
    ['it expired', lockLabels(holder({ expires_at: '2020-01-01T00:00:00.000Z' })), 5, /expired/],
  ] as const) {
    test(`a stale lock is taken over by its service ID when ${why}`, async () => {
      const { host, lock, ctx, nowS } = setup();
      host.on(scriptRe(sw.SWARM_LOCK_CREATE), (_l, nth) =>
        nth === 0 ? { code: 4, stdout: heldOut(ID_OLD, nowS - ageS, nowS, labels) } : { stdout: `id=${ID_NEW}\n` },
      );
      await lock.acquire('01ME', 'deploy');
      assert.deepEqual(
        host.ran.map((l) => (scriptRe(sw.SWARM_LOCK_CREATE).test(l) ? 'create' : l)),
        ['create', `docker service rm ${ID_OLD}`, 'create'],
      );
      assert.equal(lock.id, ID_NEW);
      assert.match(ctx.reporter.said.warn.join('\n'), reason);
    });
  }

  test('two deployers see the same stale lock: the loser’s removal fails, and the winner’s new lock is not touched', async () => {
    const { host, lock, nowS } = setup();
    const winner = lockLabels(holder({ lock_id: '01WINNER', acquired_by: 'bob@ci' }));
    host.on(scriptRe(sw.SWARM_LOCK_CREATE), (_l, nth) =>
      nth === 0
        ? { code: 4, stdout: heldOut(ID_OLD, nowS - 600, nowS, lockLabels(holder())) }
        : { code: 4, stdout: heldOut(ID_NEW, nowS - 1, nowS, winner) },
    );
    host.on(/^docker service rm /, { code: 1, stderr: `Error: No such service: ${ID_OLD}` });
    await assert.rejects(lock.acquire('01ME', 'deploy'), /locked by bob@ci/);
    assert.deepEqual(
      host.ran.filter((l) => l.startsWith('docker service rm')),
      [`docker service rm ${ID_OLD}`],
    );
  });

  test('a lock service without holder labels is never taken over', async () => {
    const { host, lock, nowS } = setup();
    host.on(scriptRe(sw.SWARM_LOCK_CREATE), {
      code: 4,
      stdout: heldOut(ID_OLD, nowS - 9999, nowS, { made: 'by hand' }),
    });
    await assert.rejects(lock.acquire('01ME', 'deploy'), /without holder labels \(ID oldlockserviceid000000001\)/);
  });

  test('a create that fails with no lock there is retried, then reported', async () => {
    const { host, lock } = setup();
    host.on(scriptRe(sw.SWARM_LOCK_CREATE), (_l, nth) =>
      nth === 0 ? { code: 3, stderr: 'Error: name conflicts' } : { stdout: `id=${ID_NEW}\n` },
    );
    await lock.acquire('01ME', 'deploy');
    assert.equal(lock.id, ID_NEW);

    const b = setup();
    b.host.on(scriptRe(sw.SWARM_LOCK_CREATE), {
      code: 3,
      stderr: 'Error response from daemon: This node is not a swarm manager.',
    });
    await assert.rejects(b.lock.acquire('01ME', 'deploy'), /could not create the lock service .*not a swarm manager/);
    assert.equal(b.host.ran.length, 3);
  });

  test('a lost lock shows at the next heartbeat; release then leaves whatever is there alone', async () => {
    const { host, lock, ctx } = setup();
    host.on(scriptRe(sw.SWARM_LOCK_CREATE), { stdout: `id=${ID_NEW}\n` });
    await lock.acquire('01ME', 'deploy');
    host.on(/^docker service update/, { code: 1, stderr: `Error: No such service: ${ID_NEW}` });
    assert.equal(await lock.heartbeat(), false);
    assert.equal(lock.lost, true);
    assert.match(ctx.reporter.said.warn.join('\n'), /is gone/);
    host.on(/^docker service rm /, { code: 1, stderr: 'Error: No such service' });
    await lock.release();
    assert.match(ctx.reporter.said.warn.join('\n'), /no longer ours at release/);
  });

  test('unlock: inspect shows the holder; forceRemove removes that service by ID and audits it', async () => {
    const { host, lock, nowS } = setup();
    host.on(scriptRe(sw.SWARM_LOCK_INSPECT), { stdout: heldOut(ID_OLD, nowS - 30, nowS, lockLabels(holder())) });
    const view = await lock.inspect();
    assert.equal(view.kind, 'held');
    assert.deepEqual(view, { kind: 'held', holder: holder(), serviceId: ID_OLD, ageS: 30 });
    assert.equal(await lock.forceRemove(view), true);
    assert.equal(host.ran[1], `docker service rm ${ID_OLD}`);
    assert.equal(host.ran[2], `sh -c ${APPEND_FILE} togather-deploy /srv/e/audit.jsonl`);
    assert.match(host.stdin[2]!, /"action":"unlock","by":"tester@unit".*"lock_id":"01HOLDER"/);

    // a view from elsewhere (no service ID): only the service with that lock id goes
    const other = setup();
    assert.equal(await other.lock.forceRemove({ kind: 'held', holder: holder() }), true);
    assert.equal(
      other.host.ran[0],
      `sh -c ${sw.SWARM_LOCK_REMOVE_HELD} togather-deploy togather-staging-deploy-lock 01HOLDER`,
    );

    const free = setup();
    free.host.on(scriptRe(sw.SWARM_LOCK_INSPECT), { code: 3 });
    assert.deepEqual(await free.lock.inspect(), { kind: 'free' });
    assert.equal(await free.lock.forceRemove({ kind: 'free' }), false);
  });

  test('unlock’s words for each view', () => {
    assert.match(
      describeSwarmLockView({ kind: 'held', holder: holder(), serviceId: ID_OLD, ageS: 7 }),
      /^lock held by alice@ci \(deploy 01DEPLOY, pid 4242 on another-runner\) since .*; last heartbeat 7s ago$/,
    );
    assert.match(
      describeSwarmLockView({ kind: 'no-info', ageS: 90, serviceId: ID_OLD }),
      /oldlockservi without holder labels/,
    );
    assert.equal(describeSwarmLockView({ kind: 'free' }), 'not locked');
  });

  test('parseHeld: ages by the managers’ clock; unreadable labels name no holder', () => {
    const h = parseHeld(heldOut(ID_OLD, 1000, 1130, lockLabels(holder())));
    assert.equal(h?.beatAgeS, 130);
    assert.equal(h?.holder?.pid, 4242);
    assert.equal(parseHeld(`held=${ID_OLD} 1000 {not json\nnow=1001`)?.holder, undefined);
    assert.equal(parseHeld('nothing'), undefined);
  });

  test('a holder name that would break a label line is refused before anything runs', async () => {
    const { host, ctx, lock } = setup();
    ctx.actor = 'mallory\n--label x=y';
    await assert.rejects(
      lock.acquire('01ME', 'deploy'),
      (e: unknown) => e instanceof DeployError && e.kind === 'config',
    );
    assert.equal(host.ran.length, 0);
  });
});

function flagsOf(info: LockInfo): string {
  return Object.entries(lockLabels(info))
    .map(([k, v]) => `--label ${k}=${v}`)
    .join(' ');
}
