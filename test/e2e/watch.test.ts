/**
 * The post-deploy watch window on the real loopback host: the live colour is made unhealthy after the switch
 * (POST /admin/fail on the sample app, through the proxy), the deployer sees it through the proxy, starts the
 * retained previous colour, switches back and records a rollback — while the lock stays held. Timed from the
 * first failing probe to the old version serving.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { before, describe, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { hostSsh } from '../harness/host.js';
import { hostContainers, newEnv, pollDuring, startCli, type TestEnv } from './support.js';

function setWatch(env: TestEnv, watch: unknown): void {
  const doc = parse(readFileSync(env.configPath, 'utf8')) as { deployment: Record<string, unknown> };
  doc.deployment.watch = watch;
  writeFileSync(env.configPath, stringify(doc));
}

async function commitServed(env: TestEnv): Promise<string | undefined> {
  try {
    const r = await env.get('/version');
    return r.status === 200 ? (JSON.parse(r.body) as { git_commit?: string }).git_commit : undefined;
  } catch {
    return undefined;
  }
}

describe('post-deploy watch window', { timeout: 600_000 }, () => {
  let env: TestEnv;
  before(async () => {
    env = await newEnv('watch');
  });

  test('the live colour turns unhealthy after the switch: the previous version serves again, timed, lock held throughout', async () => {
    const v1 = await env.cli(['deploy', env.name, '--version', 'v1', '--skip-ci-check']);
    assert.equal(v1.code, 0, v1.stderr);

    setWatch(env, { duration: '90s', interval: '1s', failure_threshold: 3 });
    const run = startCli(env, ['deploy', env.name, '--version', 'v2', '--skip-ci-check']);
    await run.waitFor(/watching [0-9a-f]{12} on green/, 120_000);
    assert.equal(await commitServed(env), env.repo.shas.v2);

    // the lock is held through the window: a second deploy is refused at once
    const second = await env.cli(['deploy', env.name, '--version', 'v6', '--skip-ci-check']);
    assert.equal(second.code, 5, second.stderr);
    assert.match(second.stderr, /locked by .*deploy/);

    const poll = pollDuring(env.httpPort, '/version', 20);
    const injected = Date.now();
    const fail = await fetch(`http://127.0.0.1:${env.httpPort}/admin/fail`, { method: 'POST' });
    assert.equal(fail.status, 200);
    assert.equal(((await fail.json()) as { slot: string }).slot, 'green');

    let backAt = 0;
    while (Date.now() - injected < 60_000) {
      if ((await commitServed(env)) === env.repo.shas.v1) {
        backAt = Date.now();
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const r = await run.done;
    const seen = await poll.stop();
    assert.ok(backAt > 0, `v1 never came back:\n${r.stderr}`);
    assert.equal(r.code, 11, r.stderr);
    assert.match(r.stderr, /watch: 3 failed probes in a row; switching back to blue/);
    const m = /serves again from blue, ([0-9.]+)s after the first failed probe/.exec(r.stderr);
    assert.ok(m, r.stderr);
    const reported = Number(m[1]);
    const observed = (backAt - injected) / 1000;
    const phase = (name: string) => new RegExp(`✔ ${name} \\(([0-9.]+m?s)\\)`).exec(r.stderr)?.[1] ?? '?';
    process.stdout.write(
      `# watch rollback: deployer reports ${reported.toFixed(1)} s from the first failing probe to v1 serving; ` +
        `the test saw v1 ${observed.toFixed(1)} s after the failure was injected ` +
        `(phases: watch ${phase('watch')}, switch back to blue ${phase('switch back to blue')})\n`,
    );
    assert.ok(reported <= 30, `${reported} s`);
    assert.ok(observed <= 30, `${observed} s`);
    // the switch back is itself zero-downtime: /version answered 200 throughout
    assert.deepEqual(seen.failures, []);
    assert.deepEqual(new Set(seen.versions), new Set([env.repo.shas.v2, env.repo.shas.v1]));

    const state = JSON.parse((await env.hostFile('state.json'))!);
    assert.equal(state.current.version, env.repo.shas.v1);
    assert.equal(state.current.kind, 'rollback');
    assert.equal(state.current.colour, 'blue');
    assert.match(state.current.deployed_by, /watch window of/);
    const v2 = state.history.find(
      (h: { version: string; kind: string }) => h.version === env.repo.shas.v2 && h.kind === 'deploy',
    );
    assert.equal(v2.status, 'rolled_back');
    assert.equal(v2.failure.class, 'watch');
    const containers = await hostContainers(env.info, env.stackPrefix);
    assert.ok(containers.includes(`${env.stackPrefix}-app-green Exited`), containers.join('\n'));
    assert.ok(containers.includes(`${env.stackPrefix}-app-blue Up`), containers.join('\n'));
    assert.equal(
      (await hostSsh(env.info, `test -d stacks/${env.name}/lock`, { check: false })).code,
      1,
      'the lock is released at the end',
    );
  });

  test('a healthy release passes its watch window and the deploy completes', async () => {
    // a loaded test machine can miss a probe or two: this test is about the window ending, not the threshold
    setWatch(env, { duration: '4s', interval: '1s', failure_threshold: 10 });
    const r = await env.cli(['deploy', env.name, '--version', 'v6', '--skip-ci-check']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /watch passed: \d+ probes, \d+ failed/);
    assert.match(r.stdout, /watch/);
    assert.equal(await commitServed(env), env.repo.shas.v6);
  });
});
