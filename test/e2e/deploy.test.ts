/**
 * The foundation's must-shows on the real loopback host: first deploy and upgrade, failed releases that leave
 * the old colour serving, the lock, dry-run, and no secret anywhere it should not be.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { hostDocker, hostSsh } from '../harness/host.js';
import { run } from '../harness/proc.js';
import { hostContainers, newEnv, pollDuring, startCli, type CliResult, type TestEnv } from './support.js';

const outputs: CliResult[] = [];
async function cli(env: TestEnv, args: string[]): Promise<CliResult> {
  const r = await env.cli(args);
  outputs.push(r);
  return r;
}

describe('blue-green deploy over SSH', { timeout: 600_000 }, () => {
  let env: TestEnv;
  before(async () => {
    env = await newEnv('deploy', {
      config: (c) => ((c.app as { health: { start_timeout: string } }).health.start_timeout = '8s'),
    });
  });

  test('first deploy of v1 to an empty host, then v2: the served version changes, state and history follow', async () => {
    const v1 = await cli(env, ['deploy', env.name, '--version', 'v1', '--skip-ci-check']);
    assert.equal(v1.code, 0, v1.stderr);
    let r = await env.get('/version');
    assert.equal(JSON.parse(r.body).git_commit, env.repo.shas.v1);
    assert.equal(r.headers['x-togather-upstream'], 'app-blue');

    const poll = pollDuring(env.httpPort);
    const v2 = await cli(env, ['deploy', env.name, '--version', 'v2', '--skip-ci-check']);
    const seen = await poll.stop();
    assert.equal(v2.code, 0, v2.stderr);
    r = await env.get('/version');
    assert.equal(JSON.parse(r.body).git_commit, env.repo.shas.v2);
    assert.equal(r.headers['x-togather-upstream'], 'app-green');
    assert.deepEqual(seen.failures, [], `failed requests during the switch: ${seen.failures.slice(0, 5).join(', ')}`);
    assert.ok(seen.total > 20, `polled ${seen.total}`);

    const state = JSON.parse((await env.hostFile('state.json'))!);
    assert.equal(state.current.version, env.repo.shas.v2);
    assert.equal(state.current.status, 'active');
    assert.equal(state.current.colour, 'green');
    assert.equal(state.previous.version, env.repo.shas.v1);
    assert.equal(state.previous.status, 'superseded');
    assert.equal(state.history.length, 2);
    assert.ok(state.current.phases.some((p: { name: string }) => p.name === 'health gate'));
    // the old colour is stopped but kept, with its image, for a fast rollback
    const containers = await hostContainers(env.info, env.stackPrefix);
    assert.ok(containers.includes(`${env.stackPrefix}-app-blue Exited`), containers.join('\n'));
    assert.equal(
      (await hostDocker(env.info, ['image', 'inspect', `togather-test/app:${env.repo.shas.v1}`], { check: false }))
        .code,
      0,
    );
    const history = (await env.hostFile('history.jsonl'))!.trim().split('\n');
    assert.equal(history.length, 2);
    const logs = await hostSsh(env.info, `ls stacks/${env.name}/logs`);
    assert.equal(logs.stdout.trim().split('\n').length, 2);
    // the database runs images.postgres extended by images.postgres_dockerfile, built on the host by content
    const dbImage = (
      await hostDocker(env.info, ['inspect', '-f', '{{.Config.Image}}', `${env.stackPrefix}-db`])
    ).stdout.trim();
    assert.match(dbImage, /^togather-postgres:[0-9a-f]{16}$/);
    assert.equal(
      (await hostDocker(env.info, ['exec', `${env.stackPrefix}-db`, 'cat', '/togather-db-image'])).stdout.trim(),
      'extended by togather-deploy',
    );
    // and the stack's keeper is up, with no network
    const keeper = (
      await hostDocker(env.info, [
        'inspect',
        '-f',
        '{{.State.Status}} {{.HostConfig.NetworkMode}}',
        `${env.stackPrefix}-keeper`,
      ])
    ).stdout.trim();
    assert.equal(keeper, 'running none');
  });

  test('a release that crashes at boot fails with exit code 10; v2 keeps serving throughout', async () => {
    const poll = pollDuring(env.httpPort);
    const r = await cli(env, ['deploy', env.name, '--version', 'v3', '--skip-ci-check']);
    const seen = await poll.stop();
    assert.equal(r.code, 10, r.stderr);
    assert.match(r.stderr, /crashed/);
    assert.deepEqual(seen.failures, []);
    assert.deepEqual([...seen.versions], [env.repo.shas.v2]);
    const containers = await hostContainers(env.info, env.stackPrefix);
    assert.ok(containers.includes(`${env.stackPrefix}-app-blue Exited`), containers.join('\n'));
    const state = JSON.parse((await env.hostFile('state.json'))!);
    assert.equal(state.current.version, env.repo.shas.v2);
    assert.equal(state.history[0].status, 'failed');
    assert.equal(state.history[0].failure.exit_code, 10);
  });

  test('a release that reports a dirty schema fails without waiting out the health timeout; v2 keeps serving', async () => {
    // the sample app's "unhealthy" mode answers 503 with migrations failing on a dirty schema_migrations: an
    // answer no wait can change, so the gate gives up after `consecutive` of them (a timeout is faults.test.ts')
    const poll = pollDuring(env.httpPort);
    const r = await cli(env, ['deploy', env.name, '--version', 'v4', '--skip-ci-check']);
    const seen = await poll.stop();
    assert.equal(r.code, 10, r.stderr);
    assert.match(r.stderr, /reports what no wait can change: migrations failing \(schema_migrations is dirty/);
    assert.match(r.stderr, /the old colour keeps serving/);
    assert.match(r.stderr, /✘ health gate \((\d+ms|[0-7]\.\d+s)\)/, 'well before the 8 s start timeout');
    assert.deepEqual(seen.failures, []);
    assert.deepEqual([...seen.versions], [env.repo.shas.v2]);
    assert.equal(JSON.parse((await env.get('/version')).body).git_commit, env.repo.shas.v2);
    const containers = await hostContainers(env.info, env.stackPrefix);
    assert.ok(containers.includes(`${env.stackPrefix}-app-blue Exited`), containers.join('\n'));
  });

  test('a held lock fails a second deploy fast, naming the holder; an expired one is taken over', async () => {
    const lock = (expires: string) =>
      JSON.stringify({
        lock_id: '01JTESTLOCK0000000000000000',
        environment: env.name,
        acquired_at: new Date().toISOString(),
        acquired_by: 'alice@workstation',
        deployment_id: '01JDEPLOY',
        operation: 'deploy',
        pid: 4242,
        hostname: 'workstation',
        expires_at: expires,
      });
    await hostSsh(env.info, `mkdir stacks/${env.name}/lock && cat > stacks/${env.name}/lock/info.json`, {
      input: lock(new Date(Date.now() + 600_000).toISOString()),
    });
    const held = await cli(env, ['deploy', env.name, '--version', 'v6', '--skip-ci-check']);
    assert.equal(held.code, 5, held.stderr);
    assert.match(held.stderr, /locked by alice@workstation/);
    // fails fast: the lock phase itself returns at once instead of waiting (the whole CLI run includes start-up)
    const lockPhase = /✘ lock \(([\d.]+)(ms|s)\)/.exec(held.stderr);
    assert.ok(lockPhase, held.stderr);
    assert.ok(Number(lockPhase[1]) * (lockPhase[2] === 's' ? 1000 : 1) < 2000, `the lock phase took ${lockPhase[0]}`);
    await hostSsh(env.info, `cat > stacks/${env.name}/lock/info.json`, {
      input: lock(new Date(Date.now() - 1000).toISOString()),
    });
    const taken = await cli(env, ['deploy', env.name, '--version', 'v6', '--skip-ci-check']);
    assert.equal(taken.code, 0, taken.stderr);
    assert.match(taken.stderr, /took over the lock of \S+ because it expired: alice@workstation/);
    assert.equal(
      (await hostSsh(env.info, `test -d stacks/${env.name}/lock`, { check: false })).code,
      1,
      'the lock is released',
    );
  });

  test('--dry-run connects, plans and changes nothing', async () => {
    const before = [
      await hostContainers(env.info, env.stackPrefix),
      (await hostSsh(env.info, `cd stacks/${env.name} && find . -type f | sort && cat state.json`)).stdout,
    ];
    const r = await cli(env, ['deploy', env.name, '--version', 'v1', '--skip-ci-check', '--dry-run']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /plan for/);
    // the compose the host has: the v2 plugin on the modern stack, docker-compose v1 on the legacy one
    const compose =
      env.info.stack === 'modern'
        ? /\bdocker compose -p .* up -d --no-deps --force-recreate --no-color app-/
        : /\bdocker-compose -p .* up -d --no-deps --force-recreate --no-color app-/;
    assert.match(r.stderr, compose);
    const afterwards = [
      await hostContainers(env.info, env.stackPrefix),
      (await hostSsh(env.info, `cd stacks/${env.name} && find . -type f | sort && cat state.json`)).stdout,
    ];
    assert.deepEqual(afterwards, before);
  });

  test('no env-file value appears in any output, host log, state or history file', async () => {
    const host = await hostSsh(env.info, `cd stacks/${env.name} && cat state.json history.jsonl logs/*.jsonl`);
    const haystacks = [...outputs.map((o) => o.stdout + o.stderr), host.stdout];
    for (const value of Object.values(env.secrets)) {
      for (const form of [value, encodeURIComponent(value), Buffer.from(value).toString('base64')]) {
        for (const h of haystacks) assert.ok(!h.includes(form), `secret form ${form.slice(0, 6)}… leaked`);
      }
    }
    assert.ok(outputs.length >= 6);
  });

  after(async () => {
    await hostSsh(env.info, `true`);
  });

  test('a CLI killed with kill -9 mid-deploy leaves no SSH master connection behind', async () => {
    const masters = async () => {
      // the deployer's master: `ssh … -p PORT -l USER -M -N -f …`, connected to this harness's sshd
      const r = await run(['pgrep', '-f', `^ssh .* -p ${env.info.ssh.port} -l \\S+ -M -N -f `], { check: false });
      return r.stdout.split('\n').filter(Boolean);
    };
    const before = await masters();
    const cli = startCli(env, ['deploy', env.name, '--version', 'v5', '--skip-ci-check']);
    await cli.waitFor(/▶ (start|health)/, 120_000);
    const during = (await masters()).filter((p) => !before.includes(p));
    assert.equal(during.length, 1, `one master while the deploy runs: ${during.join(' ')}`);
    process.kill(cli.pid, 'SIGKILL');
    await cli.done;
    const deadline = Date.now() + 15_000;
    let left = during;
    while (left.length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      const now = await masters();
      left = during.filter((p) => now.includes(p));
    }
    assert.deepEqual(left, [], 'the master outlived the killed deployer by more than 15 s');
    // the lock the killed deploy held is left for the next deploy to take over; this environment is done
  });
});
