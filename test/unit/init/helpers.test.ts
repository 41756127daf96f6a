/** The small decisions of init on their own: appending lines, telling a filled-in env file, reading the origin. */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { askOn } from '../../../src/init/terminal.js';
import { renderEnvFile } from '../../../src/init/config-template.js';
import { holdsOperatorValues, withLines } from '../../../src/init/files.js';
import { knownHostsName, parseKnownHosts } from '../../../src/init/host-keys.js';
import { dockerfileGaps, imageOf, parseGitHubUrl, readRepoFile } from '../../../src/init/repository.js';
import { readAsset } from '../../../src/engine/assets.js';
import { deployKeys, nextSteps } from '../../../src/init/next-steps.js';
import { HOST_KEY } from './support.js';

test('withLines appends only what is missing, after a final newline, and never a lone comment', () => {
  assert.equal(withLines(undefined, ['# c', 'a']), '# c\na\n');
  assert.equal(withLines('x', ['# c', 'a']), 'x\n# c\na\n');
  assert.equal(withLines('a\n', ['# c', 'a']), 'a\n', 'a missing comment alone is not added');
  assert.equal(withLines('  a  \n', ['a', 'b']), '  a  \nb\n');
});

test('an env file holds the operator values once a value is neither a placeholder, empty, nor the template', () => {
  const ours = renderEnvFile('staging');
  assert.equal(holdsOperatorValues(ours, ours), false);
  assert.equal(holdsOperatorValues(`${ours}\n# a note\n`, ours), false);
  assert.equal(holdsOperatorValues(ours.replace('JWT_SECRET=CHANGE_ME', 'JWT_SECRET=abc'), ours), true);
  assert.equal(holdsOperatorValues(ours.replace('SENTRY_DSN=', 'SENTRY_DSN=https://k@sentry.example/1'), ours), true);
  assert.equal(holdsOperatorValues(`${ours}EXTRA="unclosed\n`, ours), true, 'unparsable: kept');
});

test('the GitHub origin gives the image name, in every URL form git prints', () => {
  for (const url of [
    'git@github.com:Acme/Server.git',
    'https://github.com/Acme/Server.git',
    'https://github.com/Acme/Server',
    'ssh://git@github.com/Acme/Server.git',
    'https://token@github.com/Acme/Server.git',
  ])
    assert.deepEqual(parseGitHubUrl(url), { owner: 'Acme', name: 'Server' }, url);
  assert.equal(parseGitHubUrl('https://gitlab.com/Acme/Server.git'), undefined);
  assert.equal(imageOf({ owner: 'Acme', name: 'Server' }), 'ghcr.io/acme/server');
  assert.equal(imageOf(undefined), 'ghcr.io/owner/server');
});

test('known_hosts lines are read by name, and a port other than 22 is [host]:port', () => {
  assert.equal(knownHostsName('h.example.org', 22), 'h.example.org');
  assert.equal(knownHostsName('h.example.org', 2222), '[h.example.org]:2222');
  const text = `# comment\nh.example.org,10.0.0.1 ${HOST_KEY.pub}\n[h.example.org]:2222 ${HOST_KEY.pub}\n`;
  assert.deepEqual(
    parseKnownHosts(text, '10.0.0.1').map((k) => k.line),
    [`10.0.0.1 ${HOST_KEY.pub}`],
  );
  assert.equal(parseKnownHosts(text, '[h.example.org]:2222').length, 1);
  assert.equal(parseKnownHosts(text, 'other.example.org').length, 0);
});

test("the tool's own Dockerfile meets the image contract that init checks others against", () => {
  assert.deepEqual(dockerfileGaps(readAsset('docker', 'Dockerfile')), []);
  assert.deepEqual(dockerfileGaps('FROM scratch\nARG VERSION=unknown\n'), [
    'no ARG GIT_COMMIT',
    'no ARG GIT_SHORT_COMMIT',
    'no ARG BUILD_TIMESTAMP',
    'nothing copied to /app/migrations',
  ]);
  assert.equal(readRepoFile('/nonexistent', 'x'), undefined);
});

test('a terminal question shows its default and an empty answer takes it', async () => {
  const input = new PassThrough();
  const output = new PassThrough();
  let shown = '';
  output.on('data', (d: Buffer) => (shown += d.toString()));
  const ask = askOn(input, output);
  const first = ask('SSH user', 'deploy');
  setImmediate(() => input.write('\n'));
  assert.equal(await first, 'deploy');
  const second = ask('Public domain');
  setImmediate(() => input.write(' events.example.org \n'));
  assert.equal(await second, 'events.example.org');
  assert.equal(shown, 'SSH user [deploy]: Public domain: ');
});

test('next steps: every environment restricted to main, no push before they exist, one key per host', () => {
  const text = nextSteps({ environments: ['staging', 'production'], repo: undefined }).join('\n');
  for (const g of ['staging', 'production', 'production-snapshots']) {
    assert.ok(
      text.includes(
        `echo '{"deployment_branch_policy":{"protected_branches":false,"custom_branch_policies":true}}' | ` +
          `gh api -X PUT repos/OWNER/REPO/environments/${g} --input -`,
      ),
      g,
    );
    assert.ok(
      text.includes(
        `gh api -X POST repos/OWNER/REPO/environments/${g}/deployment-branch-policies -f name=main -f type=branch`,
      ),
      g,
    );
  }
  assert.match(text, /do not push yet/);
  assert.ok(text.indexOf('do not push yet') < text.indexOf('gh api'), 'commit before the environments');
  assert.ok(text.indexOf('gh secret set') < text.indexOf('Now push to main'), 'push last');
  assert.match(text, /gh secret set SSH_PRIVATE_KEY --env production-snapshots < ~\/\.ssh\/togather_deploy$/m);

  const oneHost = deployKeys(['staging', 'production'], { staging: 'vps.example.org', production: 'vps.example.org' });
  assert.deepEqual([...new Set(oneHost.values())], ['~/.ssh/togather_deploy']);
  const twoHosts = nextSteps({
    environments: ['staging', 'production'],
    repo: undefined,
    hosts: { staging: 'st.example.org', production: 'pr.example.org' },
  }).join('\n');
  assert.match(twoHosts, /togather-deploy validate staging -i ~\/\.ssh\/togather_deploy_st\.example\.org/);
  assert.match(
    twoHosts,
    /gh secret set SSH_PRIVATE_KEY --env production-snapshots < ~\/\.ssh\/togather_deploy_pr\.example\.org/,
  );
});
