import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GitHubApi, GitHubApiError, nextLink, rateLimitWait } from '../../../src/github/api.js';
import { FakeGitHubApi, fakeClock, responses } from '../../fakes/github-api.js';

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);

test('rateLimitWait: primary limit waits until x-ratelimit-reset (+1 s)', () => {
  const reset = NOW / 1000 + 90;
  const h = { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(reset) };
  assert.deepEqual(rateLimitWait(403, h, {}, NOW), { kind: 'primary', until: reset * 1000 + 1000 });
  assert.deepEqual(rateLimitWait(429, h, {}, NOW), { kind: 'primary', until: reset * 1000 + 1000 });
});

test('rateLimitWait: retry-after (seconds or HTTP date) wins; a secondary message without it waits a minute', () => {
  assert.deepEqual(rateLimitWait(403, { 'retry-after': '30' }, {}, NOW), { kind: 'secondary', until: NOW + 30_000 });
  const date = new Date(NOW + 45_000).toUTCString();
  assert.deepEqual(rateLimitWait(429, { 'retry-after': date }, {}, NOW), { kind: 'secondary', until: NOW + 45_000 });
  assert.deepEqual(rateLimitWait(403, {}, { message: 'You have exceeded a secondary rate limit.' }, NOW), {
    kind: 'secondary',
    until: NOW + 60_000,
  });
  assert.deepEqual(rateLimitWait(429, {}, '', NOW), { kind: 'secondary', until: NOW + 60_000 });
});

test('rateLimitWait: a permission 403 and other statuses are not rate limits', () => {
  assert.equal(
    rateLimitWait(403, { 'x-ratelimit-remaining': '4000' }, { message: 'Resource not accessible by integration' }, NOW),
    undefined,
  );
  assert.equal(rateLimitWait(404, { 'retry-after': '5' }, {}, NOW), undefined);
  assert.equal(rateLimitWait(200, { 'x-ratelimit-remaining': '0' }, {}, NOW), undefined);
});

test('nextLink reads rel="next" among the others', () => {
  const link =
    '<https://api.github.com/x?page=1>; rel="prev", <https://api.github.com/x?page=3>; rel="next", ' +
    '<https://api.github.com/x?page=9>; rel="last", <https://api.github.com/x?page=1>; rel="first"';
  assert.equal(nextLink(link), 'https://api.github.com/x?page=3');
  assert.equal(nextLink('<https://api.github.com/x?page=9>; rel="last"'), undefined);
  assert.equal(nextLink(undefined), undefined);
});

test('resolve keeps the GHES path prefix and refuses other origins', async () => {
  const api = new GitHubApi({ apiUrl: 'https://ghe.example.com/api/v3/', token: 'ghs_x1234' });
  assert.equal(api.resolve('/repos/o/r', { per_page: 100 }), 'https://ghe.example.com/api/v3/repos/o/r?per_page=100');
  assert.equal(
    api.resolve('https://ghe.example.com/api/v3/repos/o/r?page=2'),
    'https://ghe.example.com/api/v3/repos/o/r?page=2',
  );
  assert.throws(
    () => api.resolve('https://evil.example/x'),
    (e) => e instanceof GitHubApiError && e.reason === 'protocol',
  );
  assert.throws(() => new GitHubApi({ apiUrl: 'https://api.github.com', token: '' }), /no GitHub token/);
});

test('request: rate-limit waits are not counted as failed attempts; 4xx come back to the caller', async () => {
  const clock = fakeClock(NOW);
  const fake = await FakeGitHubApi.start({ now: clock.now });
  try {
    const api = new GitHubApi({
      apiUrl: fake.url,
      token: 'ghs_x1234',
      now: clock.now,
      sleep: clock.sleep,
      maxAttempts: 1,
    });
    fake.inject({ path: '/deployments' }, [
      responses.secondaryRateLimit({ retryAfterSeconds: 2 }),
      responses.secondaryRateLimit({ retryAfterSeconds: 0, status: 429 }),
    ]);
    const res = await api.request('GET', `/repos/${fake.owner}/${fake.repo}/deployments`, { deadline: NOW + 60_000 });
    assert.equal(res.status, 200);
    assert.deepEqual(clock.slept, [2_000, 1_000], 'retry-after: 0 still waits a second');
    const missing = await api.request('GET', '/repos/nobody/nothing/deployments', { deadline: NOW + 60_000 });
    assert.equal(missing.status, 404);
    assert.equal(api.requestCount, 4);
  } finally {
    await fake.close();
  }
});

test('request: POST is not retried unless asked', async () => {
  const clock = fakeClock(NOW);
  const fake = await FakeGitHubApi.start({ now: clock.now });
  try {
    const api = new GitHubApi({ apiUrl: fake.url, token: 'ghs_x1234', now: clock.now, sleep: clock.sleep });
    fake.inject({ method: 'POST' }, responses.serverError(503));
    await assert.rejects(
      api.request('POST', `/repos/${fake.owner}/${fake.repo}/deployments`, {
        body: { ref: 'main' },
        deadline: NOW + 60_000,
      }),
      (e) => e instanceof GitHubApiError && e.reason === 'unavailable' && e.status === 503,
    );
    assert.equal(fake.requests.length, 1);
  } finally {
    await fake.close();
  }
});
