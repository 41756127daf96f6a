import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  postDeploymentStatus,
  description,
  type DeploymentStatusOptions,
} from '../../../src/github/deployment-status.js';
import { Redactor } from '../../../src/log/redact.js';
import { FakeGitHubApi, fakeClock, responses } from '../../fakes/github-api.js';

const SHA = '9fceb02d0ae598e95dc970b74767f19372d61af8';
const TOKEN = 'ghs_deployTOKENdeployTOKENdeploy0123';

async function withFake(
  fn: (fake: FakeGitHubApi, opts: (o?: Partial<DeploymentStatusOptions>) => DeploymentStatusOptions) => Promise<void>,
) {
  const clock = fakeClock();
  const fake = await FakeGitHubApi.start({ token: TOKEN, now: clock.now });
  const opts = (o: Partial<DeploymentStatusOptions> = {}): DeploymentStatusOptions => ({
    apiUrl: fake.url,
    token: TOKEN,
    owner: fake.owner,
    repo: fake.repo,
    sha: SHA,
    environment: 'production',
    state: 'success',
    environmentUrl: 'https://togather.example.org',
    logUrl: 'https://github.com/togather/server/actions/runs/42',
    description: 'deployed 9fceb02 to green',
    now: clock.now,
    sleep: clock.sleep,
    ...o,
  });
  try {
    await fn(fake, opts);
  } finally {
    await fake.close();
  }
}

test("posts a status on the newest deployment of this job's environment", () =>
  withFake(async (fake, opts) => {
    const older = fake.addDeployment({ sha: SHA, environment: 'production' });
    const newest = fake.addDeployment({ sha: SHA, environment: 'production' });
    fake.addDeployment({ sha: SHA, environment: 'staging' });
    const r = await postDeploymentStatus(opts());
    assert.equal(r.ok, true, r.detail);
    assert.equal(r.deploymentId, newest.id);
    assert.equal(r.created, false);
    assert.equal(r.warning, undefined);
    assert.equal(r.requests, 2);
    const list = fake.requestsTo(/\/deployments$/)[0]!;
    assert.equal(list.query.sha, SHA);
    assert.equal(list.query.environment, 'production');
    assert.equal(fake.deploymentStatuses.get(older.id), undefined);
    const [status] = fake.deploymentStatuses.get(newest.id)!;
    assert.equal(status?.state, 'success');
    assert.equal(status?.environment_url, 'https://togather.example.org/');
    assert.equal(status?.log_url, 'https://github.com/togather/server/actions/runs/42');
    assert.equal(status?.description, 'deployed 9fceb02 to green');
    const post = fake.requestsTo('/statuses').find((q) => q.method === 'POST')!;
    assert.equal(post.headers.authorization, `token ${TOKEN}`);
  }));

test('failure and in_progress states are posted as given', () =>
  withFake(async (fake, opts) => {
    const d = fake.addDeployment({ sha: SHA, environment: 'production' });
    await postDeploymentStatus(opts({ state: 'in_progress' }));
    await postDeploymentStatus(opts({ state: 'failure', environmentUrl: undefined }));
    const states = fake.deploymentStatuses.get(d.id)!.map((s) => [s.state, s.environment_url]);
    assert.deepEqual(states, [
      ['in_progress', 'https://togather.example.org/'],
      ['failure', ''],
    ]);
  }));

test('no deployment (a CLI run): nothing is created unless asked, and it is not a warning', () =>
  withFake(async (fake, opts) => {
    const r = await postDeploymentStatus(opts());
    assert.equal(r.ok, false);
    assert.equal(r.warning, undefined);
    assert.match(r.detail, /no GitHub deployment for production/);
    assert.equal(fake.deployments.length, 0);
    assert.equal(fake.requests.filter((q) => q.method === 'POST').length, 0);
  }));

test('createIfMissing creates one with auto_merge false and no required contexts, then posts', () =>
  withFake(async (fake, opts) => {
    // a pending status on the commit would make GitHub refuse (409) a deployment that checks contexts
    fake.setCommit(SHA, { statuses: [fake.status({ context: 'ci/slow', state: 'pending' })] });
    const r = await postDeploymentStatus(opts({ createIfMissing: true, environment: 'staging' }));
    assert.equal(r.ok, true, r.detail);
    assert.equal(r.created, true);
    const create = fake.requests.find((q) => q.method === 'POST' && q.path.endsWith('/deployments'))!;
    const body = create.body as Record<string, unknown>;
    assert.equal(body.auto_merge, false);
    assert.deepEqual(body.required_contexts, []);
    assert.equal(body.ref, SHA);
    assert.equal(body.environment, 'staging');
    assert.equal(fake.deploymentStatuses.get(r.deploymentId!)?.[0]?.state, 'success');
  }));

for (const status of [403, 404] as const) {
  test(`no deployments permission (${status}) → a warning, never a throw`, () =>
    withFake(async (fake, opts) => {
      fake.addDeployment({ sha: SHA, environment: 'production' });
      fake.deploymentsDenied = { status, methods: ['POST'] };
      const r = await postDeploymentStatus(opts());
      assert.equal(r.ok, false);
      assert.match(r.warning ?? '', new RegExp(`HTTP ${status}`));
      assert.match(r.warning ?? '', /deployments: write/);
    }));
}

test('listing refused (403) → a warning', () =>
  withFake(async (fake, opts) => {
    fake.deploymentsDenied = { status: 403 };
    const r = await postDeploymentStatus(opts());
    assert.match(r.warning ?? '', /could not list deployments .*Resource not accessible by integration/);
  }));

test('an unreachable API or a rate limit beyond the budget → a warning, never a throw', async () => {
  const r = await postDeploymentStatus({
    apiUrl: 'http://127.0.0.1:9', // discard port: connection refused
    token: TOKEN,
    owner: 'togather',
    repo: 'server',
    sha: SHA,
    environment: 'production',
    state: 'success',
    sleep: async () => {},
  });
  assert.equal(r.ok, false);
  assert.match(r.warning ?? '', /could not report the deployment status/);
  assert.ok(!(r.warning ?? '').includes(TOKEN));

  await withFake(async (fake, opts) => {
    fake.inject({ path: '/deployments' }, responses.primaryRateLimit(Math.floor(Date.UTC(2026, 0, 16) / 1000)));
    const r2 = await postDeploymentStatus(opts());
    assert.match(r2.warning ?? '', /rate limit/);
  });
});

test('the description is redacted, put on one line and cut to 140 characters', () =>
  withFake(async (fake, opts) => {
    const d = fake.addDeployment({ sha: SHA, environment: 'production' });
    const redactor = new Redactor();
    redactor.add('hunter2-secret-password');
    const long = `health check failed:\npostgres://app:hunter2-secret-password@db/app refused\n${'x'.repeat(300)}`;
    const r = await postDeploymentStatus(opts({ description: long, redact: (t) => redactor.redact(t) }));
    assert.equal(r.ok, true, r.detail);
    const desc = fake.deploymentStatuses.get(d.id)![0]!.description;
    assert.ok(!desc.includes('hunter2'));
    assert.ok(!desc.includes('\n'));
    assert.equal([...desc].length, 140);
    assert.ok(desc.endsWith('…'));
    assert.match(desc, /^health check failed: postgres:\/\/app:\*\*\*@db/);
  }));

test('description(): short text passes unchanged; non-http URLs are dropped from the status', () =>
  withFake(async (fake, opts) => {
    assert.equal(description('ok'), 'ok');
    assert.equal(description(undefined), '');
    const d = fake.addDeployment({ sha: SHA, environment: 'production' });
    const r = await postDeploymentStatus(opts({ environmentUrl: 'javascript:alert(1)', logUrl: 'not a url' }));
    assert.equal(r.ok, true, r.detail);
    const body = fake.requests.find((q) => q.method === 'POST')!.body as Record<string, unknown>;
    assert.equal(body.environment_url, undefined);
    assert.equal(body.log_url, undefined);
    assert.equal(fake.deploymentStatuses.get(d.id)!.length, 1);
  }));

test('a transient 502 on the status post is retried', () =>
  withFake(async (fake, opts) => {
    const d = fake.addDeployment({ sha: SHA, environment: 'production' });
    fake.inject({ method: 'POST', path: '/statuses' }, responses.serverError(502));
    const r = await postDeploymentStatus(opts());
    assert.equal(r.ok, true, r.detail);
    assert.equal(fake.deploymentStatuses.get(d.id)!.length, 1);
  }));

test('creating a deployment is never retried (a second POST could create a second one)', () =>
  withFake(async (fake, opts) => {
    fake.inject({ method: 'POST', path: /\/deployments$/ }, responses.serverError(502));
    const r = await postDeploymentStatus(opts({ createIfMissing: true }));
    assert.equal(r.ok, false);
    assert.match(r.warning ?? '', /502/);
    assert.equal(fake.requests.filter((q) => q.method === 'POST').length, 1);
  }));
