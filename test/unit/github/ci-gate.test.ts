import { test } from 'node:test';
import assert from 'node:assert/strict';
import { verifyCommitPassed, judge, type CiGateOptions, type CiGateResult } from '../../../src/github/ci-gate.js';
import { DeployError, ExitCode } from '../../../src/errors.js';
import { FakeGitHubApi, fakeClock, responses } from '../../fakes/github-api.js';

const SHA = '3f786850e387550fdab836ed7e6dc881de23001b';
const TOKEN = 'ghs_FAKEtokenFAKEtokenFAKEtoken0123456789';
const OWN_RUN = 777001;
const MIN = 60_000;

interface Rig {
  fake: FakeGitHubApi;
  clock: ReturnType<typeof fakeClock>;
  logs: string[];
  gate(o?: Partial<CiGateOptions>): Promise<CiGateResult>;
  /** runs the gate, expects a DeployError, returns it */
  gateFails(o?: Partial<CiGateOptions>): Promise<DeployError>;
}

async function withRig(fn: (rig: Rig) => Promise<void>): Promise<void> {
  const clock = fakeClock();
  const fake = await FakeGitHubApi.start({ token: TOKEN, now: clock.now });
  const logs: string[] = [];
  const options = (o: Partial<CiGateOptions> = {}): CiGateOptions => ({
    apiUrl: fake.url,
    token: TOKEN,
    owner: fake.owner,
    repo: fake.repo,
    sha: SHA,
    required: [],
    ownRunId: String(OWN_RUN),
    deadlineMs: 20 * MIN,
    pollIntervalMs: 15_000,
    now: clock.now,
    sleep: clock.sleep,
    log: (l) => logs.push(l),
    ...o,
  });
  const gate = (o?: Partial<CiGateOptions>) => verifyCommitPassed(options(o));
  const gateFails = async (o?: Partial<CiGateOptions>) => {
    try {
      await gate(o);
    } catch (err) {
      assert.ok(err instanceof DeployError, `expected DeployError, got ${String(err)}`);
      assert.equal(err.kind, 'ciGate');
      assert.equal(err.exitCode, ExitCode.ciGate);
      assert.ok(!err.message.includes(TOKEN) && !(err.remedy ?? '').includes(TOKEN), 'token leaked into the error');
      return err;
    }
    assert.fail('the gate passed but should have failed');
  };
  try {
    await fn({ fake, clock, logs, gate, gateFails });
    for (const line of logs) assert.ok(!line.includes(TOKEN), `token leaked into the log: ${line}`);
  } finally {
    await fake.close();
  }
}

const checkRunPolls = (fake: FakeGitHubApi) =>
  fake.requestsTo('/check-runs').filter((r) => !r.query.page || r.query.page === '1');

test('checks-only repo: all check runs green → pass, with the token and API headers sent', () =>
  withRig(async ({ fake, gate }) => {
    fake.setCommit(SHA, { checkRuns: [fake.checkRun({ name: 'build' }), fake.checkRun({ name: 'test' })] });
    const r = await gate();
    assert.deepEqual(r.checks.map((c) => [c.name, c.source, c.state]).sort(), [
      ['build', 'check-run', 'success'],
      ['test', 'check-run', 'success'],
    ]);
    assert.equal(r.waitedMs, 0);
    assert.equal(r.requests, 2, 'one check-runs page and one statuses page');
    const req = fake.requestsTo('/check-runs')[0]!;
    assert.equal(req.headers.authorization, `token ${TOKEN}`);
    assert.equal(req.query.per_page, '100');
    assert.equal(req.headers.accept, 'application/vnd.github+json');
    assert.equal(req.headers['x-github-api-version'], '2022-11-28');
    assert.equal(fake.requestsTo(`/commits/${SHA}/statuses`).length, 1);
  }));

test('statuses-only repo (external CI): green statuses → pass', () =>
  withRig(async ({ fake, gate }) => {
    fake.setCommit(SHA, {
      statuses: [
        fake.status({ context: 'ci/jenkins', state: 'success' }),
        fake.status({ context: 'coverage', state: 'success' }),
      ],
    });
    const r = await gate();
    assert.deepEqual(r.checks.map((c) => `${c.source}:${c.name}`).sort(), ['status:ci/jenkins', 'status:coverage']);
  }));

test('both kinds: a failing status fails the gate even when every check run is green', () =>
  withRig(async ({ fake, gateFails }) => {
    fake.setCommit(SHA, {
      checkRuns: [fake.checkRun({ name: 'build' })],
      statuses: [fake.status({ context: 'ci/jenkins', state: 'error', targetUrl: 'https://jenkins.example/job/42' })],
    });
    const err = await gateFails();
    assert.match(err.message, /ci\/jenkins \(status: error\) https:\/\/jenkins\.example\/job\/42/);
    assert.doesNotMatch(err.message, /build/);
  }));

test('both kinds green → pass, both listed', () =>
  withRig(async ({ fake, gate }) => {
    fake.setCommit(SHA, {
      checkRuns: [fake.checkRun({ name: 'build' }), fake.checkRun({ name: 'docs', conclusion: 'skipped' })],
      statuses: [fake.status({ context: 'ci/jenkins', state: 'success' })],
    });
    const r = await gate();
    assert.equal(r.checks.length, 3);
    assert.equal(r.checks.find((c) => c.name === 'docs')?.state, 'skipped');
  }));

test('pagination: 230 check runs are read across 3 pages through the Link header', () =>
  withRig(async ({ fake, gate }) => {
    const runs = Array.from({ length: 230 }, (_, i) => fake.checkRun({ name: `shard-${i}` }));
    fake.setCommit(SHA, { checkRuns: runs });
    const r = await gate();
    assert.equal(r.checks.length, 230);
    const pages = fake.requestsTo('/check-runs').map((q) => q.query.page ?? '1');
    assert.deepEqual(pages, ['1', '2', '3']);
    assert.equal(r.requests, 4);
  }));

test('pagination: a failure on the last page is found', () =>
  withRig(async ({ fake, gateFails }) => {
    const runs = Array.from({ length: 230 }, (_, i) => fake.checkRun({ name: `shard-${i}` }));
    runs[0] = fake.checkRun({ name: 'shard-0', conclusion: 'failure', id: 1 }); // lowest id → listed last
    fake.setCommit(SHA, { checkRuns: runs.slice(1).concat(runs[0]!) });
    const err = await gateFails();
    assert.match(err.message, /shard-0 \(check run: failure\)/);
  }));

test('pagination: statuses are paginated too', () =>
  withRig(async ({ fake, gate }) => {
    const statuses = Array.from({ length: 150 }, (_, i) => fake.status({ context: `ctx-${i}`, state: 'success' }));
    fake.setCommit(SHA, { statuses });
    const r = await gate();
    assert.equal(r.checks.length, 150);
    assert.equal(fake.requestsTo('/statuses').length, 2);
  }));

test('re-run: an older failure and a newer success of the same check → pass', () =>
  withRig(async ({ fake, gate }) => {
    fake.setCommit(SHA, {
      checkRuns: [
        fake.checkRun({ name: 'test', conclusion: 'failure', startedAt: '2026-01-15T10:00:00Z', suiteId: 1 }),
        fake.checkRun({ name: 'test', conclusion: 'success', startedAt: '2026-01-15T10:20:00Z', suiteId: 2 }),
      ],
    });
    const r = await gate();
    assert.deepEqual(
      r.checks.map((c) => [c.name, c.state]),
      [['test', 'success']],
    );
  }));

test('re-run: an older success and a newer failure of the same check → fail', () =>
  withRig(async ({ fake, gateFails }) => {
    fake.setCommit(SHA, {
      checkRuns: [
        fake.checkRun({ name: 'test', conclusion: 'success', startedAt: '2026-01-15T10:00:00Z', suiteId: 1 }),
        fake.checkRun({ name: 'test', conclusion: 'timed_out', startedAt: '2026-01-15T10:20:00Z', suiteId: 2 }),
      ],
    });
    const err = await gateFails();
    assert.match(err.message, /test \(check run: timed_out\)/);
  }));

test('re-run queued after a failure: the new attempt is awaited, not the old failure', () =>
  withRig(async ({ fake, gate }) => {
    const old = fake.checkRun({ name: 'test', conclusion: 'failure', startedAt: '2026-01-15T10:00:00Z', suiteId: 1 });
    fake.setCommit(SHA, {
      checkRuns: [old, fake.checkRun({ name: 'test', status: 'queued', startedAt: null, suiteId: 2, id: 5001 })],
    });
    fake.setCommit(
      SHA,
      { checkRuns: [old, fake.checkRun({ name: 'test', conclusion: 'success', suiteId: 2, id: 5001 })] },
      2 * MIN,
    );
    const r = await gate();
    assert.equal(r.checks[0]?.state, 'success');
    assert.ok(r.waitedMs >= 2 * MIN);
  }));

test('re-run of statuses: the newest status per context counts', () =>
  withRig(async ({ fake, gate, gateFails }) => {
    fake.setCommit(SHA, {
      statuses: [
        fake.status({ context: 'ci/jenkins', state: 'failure', createdAt: '2026-01-15T10:00:00Z' }),
        fake.status({ context: 'ci/jenkins', state: 'success', createdAt: '2026-01-15T10:30:00Z' }),
      ],
    });
    assert.equal((await gate()).checks[0]?.state, 'success');
    fake.setCommit(SHA, {
      statuses: [
        fake.status({ context: 'ci/jenkins', state: 'success', createdAt: '2026-01-15T10:00:00Z' }),
        fake.status({ context: 'ci/jenkins', state: 'failure', createdAt: '2026-01-15T10:30:00Z' }),
      ],
    });
    assert.match((await gateFails()).message, /ci\/jenkins \(status: failure\)/);
  }));

test("this workflow run's own check runs are ignored (the deploy job itself is in progress)", () =>
  withRig(async ({ fake, gate }) => {
    fake.setCommit(SHA, {
      checkRuns: [
        fake.checkRun({ name: 'deploy', conclusion: null, runId: OWN_RUN }),
        fake.checkRun({ name: 'lint-own', conclusion: 'failure', runId: OWN_RUN }),
        fake.checkRun({ name: 'build' }),
      ],
    });
    const r = await gate();
    assert.deepEqual(
      r.checks.map((c) => c.name),
      ['build'],
    );
  }));

test('only our own run on the commit → "nothing reported CI" at the deadline, never a silent pass', () =>
  withRig(async ({ fake, clock, gateFails }) => {
    fake.setCommit(SHA, { checkRuns: [fake.checkRun({ name: 'deploy', conclusion: null, runId: OWN_RUN })] });
    const start = clock.now();
    const err = await gateFails({ deadlineMs: 2 * MIN });
    assert.match(err.message, /nothing reported CI for this commit/);
    assert.match(err.message, /ignored as this workflow run: deploy/);
    assert.equal(clock.now() - start, 2 * MIN);
  }));

test('no checks at all with required=[] → fail at the deadline', () =>
  withRig(async ({ fake, clock, gateFails }) => {
    fake.setCommit(SHA, {});
    const start = clock.now();
    const err = await gateFails({ deadlineMs: 5 * MIN, pollIntervalMs: MIN });
    assert.match(err.message, /nothing reported CI for this commit/);
    assert.match(err.message, /Seen: nothing at all/);
    assert.equal(clock.now() - start, 5 * MIN);
    assert.equal(checkRunPolls(fake).length, 6, 'polls at 0,1,2,3,4,5 min');
  }));

test('a named required check counts even when it ran in this workflow run (deploy job needs: test)', () =>
  withRig(async ({ fake, gate }) => {
    fake.setCommit(SHA, {
      checkRuns: [
        fake.checkRun({ name: 'test', runId: OWN_RUN }),
        fake.checkRun({ name: 'deploy', conclusion: null, runId: OWN_RUN }),
      ],
    });
    const r = await gate({ required: ['test'] });
    assert.deepEqual(
      r.checks.map((c) => c.name),
      ['test'],
    );
  }));

test('required checks: only the named ones matter; names match case-insensitively across both kinds', () =>
  withRig(async ({ fake, gate }) => {
    fake.setCommit(SHA, {
      checkRuns: [fake.checkRun({ name: 'Build' }), fake.checkRun({ name: 'flaky-optional', conclusion: 'failure' })],
      statuses: [fake.status({ context: 'ci/jenkins', state: 'success' })],
    });
    const r = await gate({ required: ['build', 'ci/jenkins'] });
    assert.deepEqual(r.checks.map((c) => c.name).sort(), ['Build', 'ci/jenkins']);
  }));

test('a missing required check fails at the deadline, listing what was seen', () =>
  withRig(async ({ fake, clock, gateFails }) => {
    fake.setCommit(SHA, { checkRuns: [fake.checkRun({ name: 'build' }), fake.checkRun({ name: 'test' })] });
    const start = clock.now();
    const err = await gateFails({ required: ['build', 'e2e'], deadlineMs: 3 * MIN });
    assert.match(err.message, /e2e: required but never reported/);
    assert.match(err.message, /seen on this commit: .*build \(success\)/);
    assert.match(err.message, /test \(success\)/);
    assert.match(err.remedy ?? '', /required-checks/);
    assert.equal(clock.now() - start, 3 * MIN);
  }));

test('pending, then success: polls until green', () =>
  withRig(async ({ fake, gate, logs }) => {
    fake.setCommit(SHA, { checkRuns: [fake.checkRun({ name: 'build', status: 'in_progress', id: 1 })] });
    fake.setCommit(SHA, { checkRuns: [fake.checkRun({ name: 'build', conclusion: 'success', id: 1 })] }, 40_000);
    const r = await gate();
    assert.equal(r.waitedMs, 45_000, 'polls at 0, 15, 30, 45 s');
    assert.equal(checkRunPolls(fake).length, 4);
    assert.ok(logs.some((l) => /waiting for build \(in_progress\)/.test(l)));
    assert.equal(logs.filter((l) => /waiting for build/.test(l)).length, 1, 'an unchanged state is logged once');
  }));

test('pending past the deadline: fails with the pending check and its link, after one last poll at the deadline', () =>
  withRig(async ({ fake, clock, gateFails }) => {
    fake.setCommit(SHA, {
      checkRuns: [
        fake.checkRun({ name: 'build' }),
        fake.checkRun({ name: 'e2e', status: 'queued', id: 4242, runId: 55 }),
      ],
    });
    const start = clock.now();
    const err = await gateFails({ deadlineMs: 100_000, pollIntervalMs: 30_000 });
    assert.match(err.message, /did not finish .* within 1m40s/);
    assert.match(
      err.message,
      /e2e \(check run: queued\) https:\/\/github\.com\/togather\/server\/actions\/runs\/55\/job\/4242/,
    );
    assert.deepEqual(clock.slept, [30_000, 30_000, 30_000, 10_000]);
    assert.equal(clock.now() - start, 100_000);
    assert.match(err.remedy ?? '', /ci-timeout/);
  }));

test('a failure stops the gate at once, even while other checks are pending', () =>
  withRig(async ({ fake, clock, gateFails }) => {
    fake.setCommit(SHA, {
      checkRuns: [
        fake.checkRun({ name: 'e2e', status: 'in_progress' }),
        fake.checkRun({ name: 'lint', conclusion: 'failure' }),
      ],
    });
    const start = clock.now();
    const err = await gateFails();
    assert.match(err.message, /lint/);
    assert.equal(clock.now(), start);
  }));

test('failure names each failing check with its URL', () =>
  withRig(async ({ fake, gateFails }) => {
    fake.setCommit(SHA, {
      checkRuns: [
        fake.checkRun({ name: 'test (node 20)', conclusion: 'failure', id: 11, runId: 1 }),
        fake.checkRun({ name: 'typecheck', conclusion: 'cancelled', id: 12, runId: 1 }),
        fake.checkRun({ name: 'codeql', conclusion: 'action_required', app: 'github-code-scanning', id: 13 }),
        fake.checkRun({ name: 'ok', id: 14 }),
      ],
      statuses: [fake.status({ context: 'ci/circle', state: 'failure', targetUrl: 'https://circleci.example/gh/1' })],
    });
    const err = await gateFails();
    const lines = err.message.split('\n');
    assert.match(lines[0]!, new RegExp(`CI failed for togather/server@${SHA.slice(0, 7)}`));
    const expected = [
      'test (node 20) (check run: failure) https://github.com/togather/server/actions/runs/1/job/11',
      'typecheck (check run: cancelled) https://github.com/togather/server/actions/runs/1/job/12',
      'codeql (check run: action_required) https://github.com/togather/server/runs/13',
      'ci/circle (status: failure) https://circleci.example/gh/1',
    ];
    for (const e of expected)
      assert.ok(
        lines.some((l) => l.endsWith(e)),
        `missing line: ${e}\n${err.message}`,
      );
    assert.equal(lines.length, 5);
    assert.match(err.remedy ?? '', /skip-ci-check/);
  }));

test('startup_failure and stale count as failures', () =>
  withRig(async ({ fake, gateFails }) => {
    fake.setCommit(SHA, {
      checkRuns: [
        fake.checkRun({ name: 'a', conclusion: 'startup_failure' }),
        fake.checkRun({ name: 'b', conclusion: 'stale' }),
      ],
    });
    const err = await gateFails();
    assert.match(err.message, /a \(check run: startup_failure\)/);
    assert.match(err.message, /b \(check run: stale\)/);
  }));

test('primary rate limit (403, x-ratelimit-remaining 0): waits for the reset, then passes', () =>
  withRig(async ({ fake, clock, gate, logs }) => {
    fake.setCommit(SHA, { checkRuns: [fake.checkRun({ name: 'build' })] });
    const reset = Math.floor(clock.now() / 1000) + 120;
    fake.inject({ path: '/check-runs' }, responses.primaryRateLimit(reset));
    const r = await gate();
    assert.equal(r.checks.length, 1);
    assert.equal(clock.now(), reset * 1000 + 1000, 'resumes one second after x-ratelimit-reset');
    assert.equal(r.requests, 3);
    assert.ok(logs.some((l) => /primary rate limit/.test(l)));
  }));

test('primary rate limit from the quota (429): waits out the reset', () =>
  withRig(async ({ fake, clock, gate }) => {
    fake.setCommit(SHA, { checkRuns: [fake.checkRun({ name: 'build' })] });
    const reset = Math.floor(clock.now() / 1000) + 300;
    fake.setQuota(0, reset);
    const r = await gate();
    assert.equal(r.checks.length, 1);
    assert.ok(clock.now() >= reset * 1000);
    assert.equal(fake.requests[0]?.status, 403);
  }));

test('a successful response announcing an empty quota delays the next request until the reset', () =>
  withRig(async ({ fake, clock, gate }) => {
    fake.setCommit(SHA, { checkRuns: [fake.checkRun({ name: 'build' })] });
    const reset = Math.floor(clock.now() / 1000) + 90;
    fake.setQuota(1, reset); // the check-runs request spends the last one
    const r = await gate();
    assert.equal(r.checks.length, 1);
    assert.ok(
      fake.requests.every((q) => q.status === 200),
      'no request was refused',
    );
    assert.equal(fake.requestsTo('/statuses')[0]?.at, reset * 1000 + 1000);
  }));

test('primary rate limit that resets after the deadline: fails at once, clearly', () =>
  withRig(async ({ fake, clock, gateFails }) => {
    fake.setCommit(SHA, { checkRuns: [fake.checkRun({ name: 'build' })] });
    fake.inject({ path: '/check-runs' }, responses.primaryRateLimit(Math.floor(clock.now() / 1000) + 3600));
    const start = clock.now();
    const err = await gateFails({ deadlineMs: 10 * MIN });
    assert.match(err.message, /rate limit/);
    assert.match(err.message, /after the deadline/);
    assert.equal(clock.now(), start, 'did not sleep towards a reset it cannot reach');
  }));

for (const status of [403, 429] as const) {
  test(`secondary rate limit (${status} with retry-after): waits retry-after seconds`, () =>
    withRig(async ({ fake, clock, gate }) => {
      fake.setCommit(SHA, { checkRuns: [fake.checkRun({ name: 'build' })] });
      fake.inject({ path: '/statuses' }, responses.secondaryRateLimit({ retryAfterSeconds: 37, status }));
      const r = await gate();
      assert.equal(r.checks.length, 1);
      assert.deepEqual(clock.slept, [37_000]);
    }));
}

test('secondary rate limit without retry-after: waits a minute', () =>
  withRig(async ({ fake, clock, gate }) => {
    fake.setCommit(SHA, { checkRuns: [fake.checkRun({ name: 'build' })] });
    fake.inject({ path: '/check-runs' }, responses.secondaryRateLimit());
    await gate();
    assert.deepEqual(clock.slept, [60_000]);
  }));

test('secondary rate limit longer than the time left: fails clearly', () =>
  withRig(async ({ fake, gateFails }) => {
    fake.setCommit(SHA, { checkRuns: [fake.checkRun({ name: 'build' })] });
    fake.inject({ path: '/check-runs' }, responses.secondaryRateLimit({ retryAfterSeconds: 600, status: 429 }));
    const err = await gateFails({ deadlineMs: 2 * MIN });
    assert.match(err.message, /secondary rate limit/);
  }));

test('a 403 that is not a rate limit (missing permission) fails at once with the permission remedy', () =>
  withRig(async ({ fake, clock, gateFails }) => {
    fake.setCommit(SHA, { checkRuns: [fake.checkRun({ name: 'build' })] });
    fake.inject({ path: '/check-runs' }, responses.forbidden());
    const start = clock.now();
    const err = await gateFails();
    assert.match(err.message, /may not read check runs .* Resource not accessible by integration/);
    assert.match(err.remedy ?? '', /checks: read/);
    assert.equal(clock.now(), start);
  }));

test('a bad token (401) fails with the token remedy', () =>
  withRig(async ({ fake, gateFails }) => {
    fake.setCommit(SHA, { checkRuns: [fake.checkRun({ name: 'build' })] });
    const err = await gateFails({ token: 'ghs_wrongwrongwrong' });
    assert.match(err.message, /rejected the token .*Bad credentials/);
  }));

test('an unknown commit (422) fails at once', () =>
  withRig(async ({ gateFails }) => {
    const err = await gateFails({ sha: 'f'.repeat(40) });
    assert.match(err.message, /does not know commit f{40}/);
  }));

test('5xx and dropped connections are retried with backoff', () =>
  withRig(async ({ fake, clock, gate }) => {
    fake.setCommit(SHA, { checkRuns: [fake.checkRun({ name: 'build' })] });
    fake.inject({ path: '/check-runs' }, [
      responses.serverError(502),
      responses.dropConnection(),
      responses.serverError(503),
    ]);
    const r = await gate();
    assert.equal(r.checks.length, 1);
    assert.deepEqual(clock.slept, [1000, 2000, 4000]);
    assert.equal(r.requests, 5);
  }));

test('a persistent 5xx fails after bounded retries', () =>
  withRig(async ({ fake, gateFails }) => {
    fake.setCommit(SHA, { checkRuns: [fake.checkRun({ name: 'build' })] });
    fake.inject(
      { path: '/check-runs' },
      Array.from({ length: 10 }, () => responses.serverError(500)),
    );
    const err = await gateFails();
    assert.match(err.message, /failed after 4 attempts: HTTP 500/);
    assert.equal(fake.requestsTo('/check-runs').length, 4);
  }));

test('a pagination link to another origin is refused, so the token is not sent there', () =>
  withRig(async ({ fake, gateFails }) => {
    fake.setCommit(SHA, {});
    fake.inject(
      { path: '/check-runs' },
      {
        status: 200,
        headers: { link: '<https://evil.example/repos/x/y/commits/z/check-runs?page=2>; rel="next"' },
        body: { total_count: 200, check_runs: [] },
      },
    );
    const err = await gateFails();
    assert.match(err.message, /refusing to send the token to https:\/\/evil\.example/);
  }));

test('an unexpected response shape fails clearly instead of passing', () =>
  withRig(async ({ fake, gateFails }) => {
    fake.setCommit(SHA, {});
    fake.inject({ path: '/check-runs' }, { status: 200, body: { message: 'surprise' } });
    const err = await gateFails();
    assert.match(err.message, /unexpected check runs response shape/);
  }));

test('remote names cannot inject lines (workflow commands) into the log or the error', () =>
  withRig(async ({ fake, gateFails }) => {
    fake.setCommit(SHA, {
      checkRuns: [fake.checkRun({ name: 'evil\n::add-mask::x\r\n::error::pwned', conclusion: 'failure' })],
    });
    const err = await gateFails();
    assert.ok(!err.message.split('\n').some((l) => l.startsWith('::')), err.message);
    assert.match(err.message, /evil ::add-mask::x ::error::pwned/);
  }));

test('misconfiguration (short SHA, bad repo, no token) is refused before any request', () =>
  withRig(async ({ fake, gateFails }) => {
    const err = await gateFails({ sha: 'abc1234', owner: 'a b', token: '' });
    assert.match(err.message, /full commit SHA/);
    assert.match(err.message, /owner\/repo/);
    assert.match(err.message, /no GitHub token/);
    assert.equal(fake.requests.length, 0);
  }));

test('real time: pending for ~300 ms, then green, with a short deadline', async () => {
  const fake = await FakeGitHubApi.start({ token: TOKEN });
  try {
    fake.setCommit(SHA, { checkRuns: [fake.checkRun({ name: 'build', status: 'in_progress', id: 1 })] });
    fake.setCommit(SHA, { checkRuns: [fake.checkRun({ name: 'build', id: 1 })] }, 300);
    const r = await verifyCommitPassed({
      apiUrl: fake.url,
      token: TOKEN,
      owner: fake.owner,
      repo: fake.repo,
      sha: SHA,
      required: ['build'],
      deadlineMs: 5_000,
      pollIntervalMs: 100,
    });
    assert.equal(r.checks[0]?.state, 'success');
    assert.ok(r.waitedMs >= 250 && r.waitedMs < 4_000, `waited ${r.waitedMs} ms`);
  } finally {
    await fake.close();
  }
});

test('judge: pure rules over one snapshot', () => {
  const run = (name: string, status: string, conclusion: string | null, id: number, started: string | null = null) => ({
    id,
    name,
    status,
    conclusion,
    started_at: started,
    html_url: `https://github.com/o/r/actions/runs/${id}/job/${id}`,
  });
  // a queued re-run (no start yet) supersedes a finished failure
  let v = judge([run('t', 'completed', 'failure', 1, '2026-01-01T00:00:00Z'), run('t', 'queued', null, 2)], [], []);
  assert.equal(v.pending.length, 1);
  assert.equal(v.failed.length, 0);
  // same start time: the higher id wins
  v = judge(
    [
      run('t', 'completed', 'success', 3, '2026-01-01T00:00:00Z'),
      run('t', 'completed', 'failure', 4, '2026-01-01T00:00:00Z'),
    ],
    [],
    [],
  );
  assert.equal(v.failed.length, 1);
  // own run is matched on the run id exactly, not as a prefix
  v = judge([run('t', 'completed', 'failure', 12345)], [], [], '1234');
  assert.equal(v.failed.length, 1);
  v = judge([run('t', 'completed', 'failure', 1234)], [], [], '1234');
  assert.equal(v.failed.length, 0);
  assert.equal(v.passed, false, 'nothing foreign → not passed');
  // an unknown conclusion fails closed
  v = judge([run('t', 'completed', 'mystery', 9, '2026-01-01T00:00:00Z')], [], []);
  assert.equal(v.failed.length, 1);
});
