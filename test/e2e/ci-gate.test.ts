/**
 * Issue 4, must-show 1: a deploy whose commit failed a required check is refused before any SSH connection is
 * opened. The environment's host is reached only through a loopback TCP relay in front of the harness's sshd
 * that counts every connection it accepts, so "no connection attempt reached sshd" is a number: 0. The same
 * relay counts the connections of a deploy whose checks pass, which shows it would have seen one.
 */
import assert from 'node:assert/strict';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FakeGitHubApi } from '../fakes/github-api.js';
import { actionWorkspace, runStep } from './action-runner.js';
import { newEnv, runCli, sharedHost, type TestEnv } from './support.js';
import { hostSnapshot, snapshotDiff } from './untouched.js';

const RUN_ID = '7055501234';
const FAILED_LINK = 'https://github.com/togather/server/actions/runs/8101/job/9202';

/** a TCP relay to `port` that counts accepted connections */
async function countingRelay(port: number): Promise<{ port: number; accepted(): number; close(): Promise<void> }> {
  let accepted = 0;
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    accepted++;
    const upstream = createConnection({ host: '127.0.0.1', port });
    open.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const addr = server.address();
  if (!addr || typeof addr === 'string') throw new Error('relay has no port');
  return {
    port: addr.port,
    accepted: () => accepted,
    close: () =>
      new Promise<void>((res) => {
        for (const sock of open) sock.destroy();
        server.close(() => res());
      }),
  };
}

describe('the CI gate refuses a failed commit before any SSH connection', { timeout: 300_000 }, () => {
  let env: TestEnv;
  let relay: Awaited<ReturnType<typeof countingRelay>>;
  let fake: FakeGitHubApi;
  let workspace: string;
  let knownHosts: string;
  let token: string;

  const runAction = (sha: string, inputs: Record<string, string> = {}) =>
    runStep({
      inputs: {
        environment: env.name,
        'env-file': readFileSync(env.envFilePath, 'utf8'),
        'ssh-private-key': readFileSync(env.info.ssh.privateKeyPath, 'utf8'),
        'ssh-known-hosts': knownHosts,
        ...inputs,
      },
      env: {
        GITHUB_SHA: sha,
        GITHUB_REPOSITORY: 'togather/server',
        GITHUB_RUN_ID: RUN_ID,
        GITHUB_ACTOR: 'octo-deployer',
        GITHUB_SERVER_URL: 'https://github.com',
        GITHUB_API_URL: fake.url,
        ...env.info.runnerEnv,
      },
      workspace,
      token,
    });

  before(async () => {
    const { info } = await sharedHost();
    relay = await countingRelay(info.ssh.port);
    env = await newEnv('cigate', {
      config: (c) => {
        const e = Object.values(c.environments as Record<string, Record<string, unknown>>)[0]!;
        e.port = relay.port;
      },
    });
    // the host key pinned for the relay's address: the relay is transparent, the key is sshd's own
    knownHosts = info.ssh.knownHostsLine.replace(/^\[127\.0\.0\.1\]:\d+ /, `[127.0.0.1]:${relay.port} `);
    token = `ghs_${env.name}GateTokenN4kd8Wq1`;
    fake = await FakeGitHubApi.start({ token });
    const { v1, v6 } = env.repo.shas;
    fake.setCommit(v1, {
      checkRuns: [fake.checkRun({ name: 'build', sha: v1 }), fake.checkRun({ name: 'integration tests', sha: v1 })],
    });
    fake.setCommit(v6, {
      checkRuns: [
        fake.checkRun({ name: 'build', sha: v6 }),
        // a re-run: the first attempt passed, the latest failed — the latest counts
        fake.checkRun({ name: 'integration tests', sha: v6, suiteId: 77, id: 5001 }),
        fake.checkRun({
          name: 'integration tests',
          sha: v6,
          suiteId: 77,
          id: 5002,
          conclusion: 'failure',
          url: FAILED_LINK,
        }),
      ],
      statuses: [fake.status({ context: 'ci/external', state: 'success' })],
    });
    workspace = actionWorkspace(env, v6);
  });

  after(async () => {
    await fake?.close();
    await relay?.close();
  });

  test('through the bundle: exit 3 naming the failed check and its link; 0 connections reached sshd', async () => {
    const before = await hostSnapshot(env.info, env.name);
    const r = await runAction(env.repo.shas.v6, { 'required-checks': 'build, integration tests' });
    assert.equal(r.code, 3, `${r.log}\n${r.stderr}`);
    assert.match(
      r.log,
      /^::error::CI failed for togather\/server@[0-9a-f]{7}[^]*✗ integration tests \(check run: failure\)/m,
    );
    assert.ok(r.log.includes(FAILED_LINK), `the failed check's link is in the output:\n${r.log}`);
    assert.ok(r.summary.includes('integration tests'));
    assert.equal(relay.accepted(), 0, 'no SSH connection attempt reached the host');
    assert.ok(fake.requestsTo(`/commits/${env.repo.shas.v6}/check-runs`).length >= 1, 'the gate asked GitHub');
    assert.equal(snapshotDiff(before, await hostSnapshot(env.info, env.name)), '');
    // the post step has nothing to close (no master was opened) and must still succeed
    const post = await runStep({
      inputs: { environment: env.name, 'ssh-private-key': 'x', 'ssh-known-hosts': 'x' },
      env: {},
      workspace,
      token,
      state: r.state,
    });
    assert.equal(post.code, 0, post.stderr);
    assert.equal(relay.accepted(), 0);
  });

  test('through the CLI: the same refusal, still no connection', async () => {
    const r = await runCli(
      [
        'deploy',
        env.name,
        '--config',
        join(workspace, 'config/deployment.yml'),
        '--env-file',
        env.envFilePath,
        '--identity',
        env.info.ssh.privateKeyPath,
        '--known-hosts',
        writeKnownHosts(env.dir, knownHosts),
        '--repo',
        workspace,
        '--version',
        'v6',
      ],
      { GITHUB_TOKEN: token, GITHUB_REPOSITORY: 'togather/server', GITHUB_API_URL: fake.url, ...env.info.runnerEnv },
    );
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /integration tests/);
    assert.ok(r.stderr.includes(FAILED_LINK), r.stderr);
    assert.equal(relay.accepted(), 0);
  });

  test('control: the relay does count a deploy whose checks pass (dry run through the bundle)', async () => {
    const r = await runAction(env.repo.shas.v1, { 'dry-run': 'true', 'required-checks': 'build, integration tests' });
    assert.equal(r.code, 0, `${r.log}\n${r.stderr}`);
    assert.ok(relay.accepted() >= 1, `the relay saw ${relay.accepted()} connection(s)`);
  });
});

function writeKnownHosts(dir: string, line: string): string {
  const file = join(dir, 'known_hosts.relay');
  writeFileSync(file, `${line}\n`, { mode: 0o600 });
  return file;
}
