import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readGitHubContext, requireRepository, runUrl, commitUrl } from '../../../src/github/context.js';
import { DeployError } from '../../../src/errors.js';

const SHA = '9fceb02d0ae598e95dc970b74767f19372d61af8';
const RUNNER = {
  GITHUB_ACTIONS: 'true',
  GITHUB_API_URL: 'https://api.github.com',
  GITHUB_SERVER_URL: 'https://github.com',
  GITHUB_REPOSITORY: 'togather/server',
  GITHUB_RUN_ID: '12345678901',
  GITHUB_RUN_ATTEMPT: '1',
  GITHUB_SHA: SHA,
  GITHUB_ACTOR: 'dependabot[bot]',
  GITHUB_REF: 'refs/heads/main',
};

test('reads the runner context', () => {
  const ctx = readGitHubContext(RUNNER);
  assert.deepEqual(ctx, {
    apiUrl: 'https://api.github.com',
    serverUrl: 'https://github.com',
    actions: true,
    owner: 'togather',
    repo: 'server',
    runId: '12345678901',
    runAttempt: '1',
    sha: SHA,
    actor: 'dependabot[bot]',
    ref: 'refs/heads/main',
  });
  assert.equal(runUrl(ctx), 'https://github.com/togather/server/actions/runs/12345678901');
  assert.equal(
    runUrl({ ...ctx, runAttempt: '3' }),
    'https://github.com/togather/server/actions/runs/12345678901/attempts/3',
  );
  assert.equal(commitUrl(ctx, SHA), `https://github.com/togather/server/commit/${SHA}`);
  assert.deepEqual(requireRepository(ctx), { owner: 'togather', repo: 'server' });
});

test('outside Actions: defaults for the URLs, the rest absent', () => {
  const ctx = readGitHubContext({});
  assert.deepEqual(ctx, { apiUrl: 'https://api.github.com', serverUrl: 'https://github.com', actions: false });
  assert.equal(runUrl(ctx), undefined);
  assert.throws(
    () => requireRepository(ctx),
    (e) => e instanceof DeployError && /GITHUB_REPOSITORY is not set/.test(e.message),
  );
});

test('GitHub Enterprise Server URLs keep their path, without a trailing slash', () => {
  const ctx = readGitHubContext({
    GITHUB_API_URL: 'https://ghe.example.com/api/v3/',
    GITHUB_SERVER_URL: 'https://ghe.example.com/',
  });
  assert.equal(ctx.apiUrl, 'https://ghe.example.com/api/v3');
  assert.equal(ctx.serverUrl, 'https://ghe.example.com');
});

test('malformed values are all reported at once, by name', () => {
  assert.throws(
    () =>
      readGitHubContext({
        GITHUB_API_URL: 'ftp://x',
        GITHUB_SERVER_URL: 'https://user:pw@github.com',
        GITHUB_REPOSITORY: 'togather/server/extra',
        GITHUB_RUN_ID: '12a',
        GITHUB_SHA: 'abc123',
        GITHUB_ACTOR: 'bad actor',
        GITHUB_REF: 'main',
      }),
    (e) => {
      assert.ok(e instanceof DeployError);
      assert.equal(e.kind, 'config');
      for (const key of [
        'GITHUB_API_URL',
        'GITHUB_SERVER_URL',
        'GITHUB_REPOSITORY',
        'GITHUB_RUN_ID',
        'GITHUB_SHA',
        'GITHUB_ACTOR',
        'GITHUB_REF',
      ]) {
        assert.match(e.message, new RegExp(key));
      }
      assert.ok(!e.message.includes('user:pw'), 'credentials in a URL are not echoed');
      return true;
    },
  );
});
