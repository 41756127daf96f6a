/**
 * Rollback on the real loopback host (issue 5): to the previous version (warm: its container is still there)
 * and to a named older version (cold: recreated from its image), with traffic polled through the proxy, and
 * the refusals that leave the host unchanged.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { hostDocker, hostSsh } from '../harness/host.js';
import { hostContainers, newEnv, pollDuring, type TestEnv } from './support.js';

const served = async (env: TestEnv) => JSON.parse((await env.get('/version')).body).git_commit as string;

describe('rollback', { timeout: 600_000 }, () => {
  let env: TestEnv;
  before(async () => {
    env = await newEnv('rollback');
    for (const v of ['v1', 'v2', 'v6']) {
      const r = await env.cli(['deploy', env.name, '--version', v, '--skip-ci-check']);
      assert.equal(r.code, 0, r.stderr);
    }
  });

  test('versions lists what can be rolled back to, newest first, the previous one as default', async () => {
    const r = await env.cli(['versions', env.name, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const v = JSON.parse(r.stdout);
    assert.equal(v.current.version, env.repo.shas.v6);
    assert.deepEqual(
      v.candidates.map((c: { version: string }) => c.version),
      [env.repo.shas.v2, env.repo.shas.v1],
    );
    assert.equal(v.candidates[0].isDefault, true);
    assert.ok(v.candidates.every((c: { imagePresent: boolean }) => c.imagePresent));
  });

  test('rollback → v2 served (warm), then rollback --version v1 → v1 served (cold); zero failed requests', async () => {
    const poll = pollDuring(env.httpPort, '/version', 10);
    const warm = await env.cli(['rollback', env.name]);
    assert.equal(warm.code, 0, warm.stderr);
    assert.equal(await served(env), env.repo.shas.v2);
    assert.match(warm.stdout + warm.stderr, /warm/);
    const cold = await env.cli(['rollback', env.name, '--version', 'v1']);
    const seen = await poll.stop();
    assert.equal(cold.code, 0, cold.stderr);
    assert.equal(await served(env), env.repo.shas.v1);
    assert.deepEqual(seen.failures, [], seen.failures.slice(0, 5).join(', '));
    assert.ok(seen.total > 50);
    const state = JSON.parse((await env.hostFile('state.json'))!);
    assert.equal(state.current.kind, 'rollback');
    assert.equal(state.current.version, env.repo.shas.v1);
    const statuses = state.history.map(
      (h: { kind: string; version: string; status: string }) => `${h.kind}:${h.version.slice(0, 7)}:${h.status}`,
    );
    assert.deepEqual(statuses.slice(0, 3), [
      `rollback:${env.repo.shas.v1.slice(0, 7)}:active`,
      `rollback:${env.repo.shas.v2.slice(0, 7)}:rolled_back`,
      `deploy:${env.repo.shas.v6.slice(0, 7)}:rolled_back`,
    ]);
    process.stdout.write(`# rollback timings: warm ${warm.ms} ms, cold ${cold.ms} ms (CLI wall clock incl. connect)\n`);
  });

  test('rolling back to a version this environment never served, or whose image is gone, is refused; host unchanged', async () => {
    const snapshot = async () => [
      await hostContainers(env.info, env.stackPrefix),
      (await hostSsh(env.info, `cd stacks/${env.name} && cat state.json && ls gates/*`)).stdout,
    ];
    const before = await snapshot();
    const unknown = await env.cli(['rollback', env.name, '--version', env.repo.shas.v4]);
    assert.equal(unknown.code, 13, unknown.stderr);
    assert.match(unknown.stderr, /not a version this environment served successfully/);
    assert.match(unknown.stderr, /Versions that can be rolled back to/);
    // v6's image: no container uses it any more after the cold rollback recreated blue with v1
    await hostDocker(env.info, ['image', 'rm', `togather-test/app:${env.repo.shas.v6}`]);
    const gone = await env.cli(['rollback', env.name, '--version', 'v6']);
    assert.equal(gone.code, 13, gone.stderr);
    assert.match(gone.stderr, /(no longer on the host|not a version)/);
    assert.deepEqual(await snapshot(), before);
  });

  test('an environment with a single deployment has nothing to roll back to', async () => {
    const solo = await newEnv('solo');
    assert.equal((await solo.cli(['deploy', solo.name, '--version', 'v1', '--skip-ci-check'])).code, 0);
    const r = await solo.cli(['rollback', solo.name]);
    assert.equal(r.code, 13, r.stderr);
    assert.match(r.stderr, /no earlier successful deployment/);
    assert.equal(await served(solo), solo.repo.shas.v1);
  });

  test('cleanup removes only what retention allows; a rollback to the previous version still works after it', async () => {
    const small = await newEnv('cleanup', {
      config: (c) => Object.assign(c.deployment as object, { keep_images: 1, keep_logs: 5 }),
    });
    for (const v of ['v1', 'v2', 'v6', 'v1', 'v2']) {
      const r = await small.cli(['deploy', small.name, '--version', v, '--skip-ci-check']);
      assert.equal(r.code, 0, r.stderr);
    }
    const images = async () =>
      (await hostDocker(small.info, ['image', 'ls', '--format', '{{.Tag}}', 'togather-test/app'])).stdout
        .split('\n')
        .filter(Boolean)
        .sort();
    const before = await images();
    const dry = await small.cli(['cleanup', small.name, '--dry-run', '--json']);
    assert.equal(dry.code, 0, dry.stderr);
    const plan = JSON.parse(dry.stdout);
    assert.deepEqual(await images(), before, 'a dry run removes nothing');
    assert.equal(plan.logs.length, 0, 'five deployments, five logs kept');
    // the rollback environment was deployed from another config file: its versions are kept all the same
    for (const v of ['v1', 'v2'] as const)
      assert.ok(plan.keptForNeighbours.includes(env.repo.shas[v]), `${v} is kept for the other environment`);
    const real = await small.cli(['cleanup', small.name, '--json']);
    assert.equal(real.code, 0, real.stderr);
    const after = await images();
    const shas = small.repo.shas;
    // current (v2) and previous (v1) survive; v6 is neither, and beyond keep_images: removed, unless another env uses it
    assert.ok(after.includes(shas.v2) && after.includes(shas.v1), after.join(' '));
    const rb = await small.cli(['rollback', small.name]);
    assert.equal(rb.code, 0, rb.stderr);
    assert.equal(await served(small), shas.v1);
  });

  test('a rollback across a migration asks for confirmation, names the snapshot and the restore command', async () => {
    const mig = await newEnv('rbmig');
    for (const v of ['v1', 'm1']) {
      const r = await mig.cli(['deploy', mig.name, '--version', v, '--skip-ci-check']);
      assert.equal(r.code, 0, r.stderr);
    }
    const state = JSON.parse((await mig.hostFile('state.json'))!);
    const snap = state.current.snapshot as string;
    assert.ok(snap, 'the migrating deploy recorded its snapshot');
    const refused = await mig.cli(['rollback', mig.name]);
    assert.equal(refused.code, 13, refused.stderr);
    assert.match(refused.stderr, /crosses migrations/);
    assert.ok(refused.stderr.includes(snap), refused.stderr);
    assert.match(refused.stderr, new RegExp(`togather-deploy snapshot restore ${mig.name} \\S+ --stop-app`));
    assert.equal(await served(mig), mig.repo.shas.m1, 'nothing changed without confirmation');
    const confirmed = await mig.cli(['rollback', mig.name, '--yes']);
    assert.equal(confirmed.code, 0, confirmed.stderr);
    assert.equal(await served(mig), mig.repo.shas.v1);
  });

  test('unlock shows the holder, removes the lock only when confirmed and records who did; a lock left without info too', async () => {
    const lock = `stacks/${env.name}/lock`;
    const holder = {
      lock_id: '01JTESTLOCKHELDBYCIBOT0000',
      environment: env.name,
      acquired_at: new Date().toISOString(),
      acquired_by: 'ci-bot',
      deployment_id: 'dep-held',
      operation: 'deploy',
      pid: 4242,
      hostname: 'another-runner',
      expires_at: new Date(Date.now() + 3_600_000).toISOString(),
    };
    await hostSsh(env.info, `mkdir ${lock} && cat > ${lock}/info.json && touch ${lock}/heartbeat`, {
      input: JSON.stringify(holder),
    });
    const blocked = await env.cli(['deploy', env.name, '--version', 'v2', '--skip-ci-check']);
    assert.equal(blocked.code, 5, blocked.stderr);
    assert.match(blocked.stderr, /locked by ci-bot/);
    // no terminal to confirm on: shown, left in place
    const asked = await env.cli(['unlock', env.name]);
    assert.equal(asked.code, 13, asked.stderr);
    assert.match(
      asked.stdout,
      /lock held by ci-bot \(deploy dep-held, pid 4242 on another-runner\)[\s\S]*left in place/,
    );
    assert.ok(await env.hostFile('lock/info.json'), 'the lock is still there');
    const removed = await env.cli(['unlock', env.name, '--yes']);
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, /removed \(by /);
    assert.equal(await env.hostFile('lock/info.json'), undefined);
    const audit = (await env.hostFile('audit.jsonl'))!
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(audit.at(-1).action, 'unlock');
    assert.equal(audit.at(-1).removed.acquired_by, 'ci-bot');
    assert.match((await env.cli(['unlock', env.name])).stdout, /is not locked/);

    // a directory its creator left without info.json: young, it may be a holder taking it right now; old, removable
    await hostSsh(env.info, `mkdir ${lock}`);
    assert.match(
      (await env.cli(['status', env.name])).stdout,
      /^lock\s+a directory without holder information, \d+s old/m,
    );
    const young = await env.cli(['unlock', env.name, '--yes']);
    assert.equal(young.code, 5, young.stdout);
    assert.match(young.stdout, /without holder information, \d+s old[\s\S]*being taken right now; nothing removed/);
    await hostSsh(env.info, `touch -d @$(( $(date +%s) - 120 )) ${lock}`);
    const old = await env.cli(['unlock', env.name, '--yes']);
    assert.equal(old.code, 0, old.stdout + old.stderr);
    assert.equal((await hostSsh(env.info, `test -e ${lock}`, { check: false })).code, 1, 'the directory is gone');
    const deploy = await env.cli(['deploy', env.name, '--version', 'v2', '--skip-ci-check', '--dry-run']);
    assert.equal(deploy.code, 0, deploy.stderr);
  });
});
