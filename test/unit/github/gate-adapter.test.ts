import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeCiGate, parseRequiredChecks } from '../../../src/github/gate-adapter.js';
import { FakeGitHubApi } from '../../fakes/github-api.js';

const SHA = '9fceb02d0ae598e95dc970b74767f19372d61af8';

test('parseRequiredChecks takes lines or commas', () => {
  assert.deepEqual(parseRequiredChecks('build, test\n lint \n\ntest'), ['build', 'test', 'lint']);
  assert.deepEqual(parseRequiredChecks(''), []);
  assert.deepEqual(parseRequiredChecks(undefined), []);
});

test('makeCiGate: undefined without a token or a repository', () => {
  const reporter = { info: () => {} };
  assert.equal(makeCiGate({ GITHUB_REPOSITORY: 'a/b' }, reporter), undefined);
  assert.equal(makeCiGate({ GITHUB_TOKEN: 'ghs_x1234' }, reporter), undefined);
  assert.equal(typeof makeCiGate({ GITHUB_REPOSITORY: 'a/b', GH_TOKEN: 'ghs_x1234' }, reporter), 'function');
  assert.throws(
    () => makeCiGate({ GITHUB_REPOSITORY: 'a/b', GITHUB_TOKEN: 't1234' }, reporter, { timeout: 'soon' }),
    /not a duration/,
  );
});

test('makeCiGate: runs the gate against the API in the environment, ignoring its own run', async () => {
  const fake = await FakeGitHubApi.start({ token: 'ghs_gateTOKEN1234' });
  try {
    fake.setCommit(SHA, {
      checkRuns: [
        fake.checkRun({ name: 'test' }),
        fake.checkRun({ name: 'deploy', status: 'in_progress', runId: 4242 }),
      ],
    });
    const lines: string[] = [];
    let seen = 0;
    const gate = makeCiGate(
      { GITHUB_API_URL: fake.url, GITHUB_REPOSITORY: `${fake.owner}/${fake.repo}`, GITHUB_RUN_ID: '4242' },
      { info: (l) => lines.push(l) },
      { token: 'ghs_gateTOKEN1234', timeout: '1s', pollIntervalMs: 50, onResult: (r) => (seen = r.checks.length) },
    );
    assert.ok(gate);
    await gate(SHA);
    assert.equal(seen, 1);
    assert.ok(
      lines.some((l) => /CI passed .*test \(success\)/.test(l)),
      lines.join('\n'),
    );
  } finally {
    await fake.close();
  }
});
