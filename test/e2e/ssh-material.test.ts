/**
 * SSH material (issue 2 must-show 5, issue 9's SSH part): an unknown or changed host key, a wrong key, a key
 * file readable by others, a passphrase-protected key without, with a wrong and with the right passphrase, and
 * no key at all. Each refusal is a clear message with exit code 4 and leaves the host exactly as it was (file
 * tree, containers, state); the right passphrase works through the CLI and the action. An ssh-agent holding the
 * right key is running throughout, advertised in SSH_AUTH_SOCK, and is never consulted.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { authorizeKey } from '../harness/host.js';
import { run } from '../harness/proc.js';
import { actionWorkspace, runStep } from './action-runner.js';
import { newEnv, runCli, type CliResult, type TestEnv } from './support.js';
import { hostSnapshot, snapshotDiff, type HostSnapshot } from './untouched.js';

const PASSPHRASE = 'correct horse $battery "staple" \'x\'';

/** generous timeouts: these tests are about SSH material, and run beside other suites on a busy machine */
const patient = (c: Record<string, unknown>): void => {
  (c.deployment as Record<string, unknown>).verify_timeout = '60s';
  ((c.app as Record<string, unknown>).health as Record<string, unknown>).start_timeout = '90s';
};

describe('SSH material: refused clearly, nothing run on the host', { timeout: 600_000 }, () => {
  let env: TestEnv;
  let workspace: string;
  let otherKey: string;
  let protectedKey: string;
  let hostKeyFingerprint: string;
  let revoke: (() => Promise<void>) | undefined;
  let agent: ChildProcess | undefined;
  let agentSock: string;
  let agentLog = '';
  let agentBaseline = 0;
  const seen: string[] = [];
  const agentConnections = () => agentLog.split('\n').filter((l) => l.includes('new_socket: type = CONNECTION')).length;

  const keyFile = (name: string, text: string, mode = 0o600) => {
    const f = join(env.dir, name);
    writeFileSync(f, text, { mode });
    chmodSync(f, mode);
    return f;
  };
  /** the CLI with explicit SSH material (env.cli always passes the harness's) */
  const cli = (
    args: string[],
    ssh: { identity?: string; knownHosts?: string },
    extraEnv: Record<string, string> = {},
  ): Promise<CliResult> =>
    runCli(
      [
        ...args.slice(0, 2),
        '--config',
        env.configPath,
        '--repo',
        env.repo.dir,
        ...(ssh.identity ? ['--identity', ssh.identity] : []),
        ...(ssh.knownHosts ? ['--known-hosts', ssh.knownHosts] : []),
        ...args.slice(2),
      ],
      { ...env.info.runnerEnv, SSH_AUTH_SOCK: agentSock, ...extraEnv },
    );

  /** runs `attempt`, then checks: exit 4, the message, the failure at the connect phase, the host unchanged */
  async function refused(attempt: () => Promise<{ code: number; text: string }>, message: RegExp): Promise<string> {
    const before: HostSnapshot = await hostSnapshot(env.info, env.name);
    const agentBefore = agentConnections();
    const r = await attempt();
    assert.equal(r.code, 4, r.text);
    assert.match(r.text, message);
    // it stopped at the connection: no phase after it started
    assert.doesNotMatch(r.text, /✔ connect|▶ preflight|::group::preflight/);
    assert.equal(snapshotDiff(before, await hostSnapshot(env.info, env.name)), '', 'the host changed');
    assert.equal(agentConnections(), agentBefore, 'the ssh-agent was consulted');
    seen.push(
      `exit ${r.code} | ${
        r.text
          .split('\n')
          .find((l) => /error/.test(l))
          ?.trim()
          .slice(0, 160) ?? ''
      }`,
    );
    return r.text;
  }

  before(async () => {
    env = await newEnv('sshmat', { config: patient });
    const v1 = await env.cli(['deploy', env.name, '--version', 'v1', '--skip-ci-check']);
    assert.equal(v1.code, 0, v1.stderr);
    workspace = actionWorkspace(env, env.repo.shas.v1);

    await run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'not-authorised', '-f', join(env.dir, 'other')]);
    otherKey = join(env.dir, 'other');
    await run([
      'ssh-keygen',
      '-q',
      '-t',
      'ed25519',
      '-N',
      PASSPHRASE,
      '-C',
      'protected',
      '-f',
      join(env.dir, 'protected'),
    ]);
    protectedKey = join(env.dir, 'protected');
    revoke = await authorizeKey(env.info, readFileSync(`${protectedKey}.pub`, 'utf8'), `${env.name}-protected`);
    const hostPub = join(env.info.dir, 'ssh', 'ssh_host_ed25519_key.pub');
    hostKeyFingerprint = (await run(['ssh-keygen', '-l', '-f', hostPub])).stdout.split(' ')[1]!;

    // an agent holding the RIGHT key: if anything consulted it, the wrong-key cases would log in
    agentSock = join(env.dir, 'agent.sock');
    agent = spawn('ssh-agent', ['-d', '-a', agentSock], { stdio: ['ignore', 'ignore', 'pipe'] });
    agent.stderr!.on('data', (d) => (agentLog += d));
    for (let i = 0; i < 50 && !agentLog.includes('new_socket'); i++) await new Promise((r) => setTimeout(r, 50));
    await run(['ssh-add', env.info.ssh.privateKeyPath], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', SSH_AUTH_SOCK: agentSock },
    });
    assert.match(agentLog, /process_add_identity: add ssh-ed25519/);
    agentBaseline = agentConnections(); // ssh-add's own connection
  });

  after(async () => {
    // the matrix, for the closing note
    for (const line of seen) console.log(`ssh material | ${line}`);
    await revoke?.();
    if (agent?.pid) agent.kill('SIGTERM');
  });

  test('unknown host key: the known_hosts pins another host only', async () => {
    const kh = keyFile(
      'kh-unknown',
      `[127.0.0.1]:1 ${readFileSync(`${otherKey}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}\n`,
    );
    const text = await refused(async () => {
      const r = await cli(['status', env.name], { identity: env.info.ssh.privateKeyPath, knownHosts: kh });
      return { code: r.code, text: r.stderr };
    }, /host key of tgdeploy(-legacy)?@127\.0\.0\.1:\d+ is unknown.*nothing was run/);
    assert.match(text, /fix: add the host's line to the known_hosts secret/);
  });

  test('changed host key: the pinned line for this host and port holds another key', async () => {
    const kh = keyFile(
      'kh-changed',
      `[127.0.0.1]:${env.info.ssh.port} ${readFileSync(`${otherKey}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}\n`,
    );
    const text = await refused(async () => {
      const r = await cli(['deploy', env.name, '--version', 'v2', '--skip-ci-check'], {
        identity: env.info.ssh.privateKeyPath,
        knownHosts: kh,
      });
      return { code: r.code, text: r.stderr };
    }, /host key of .* has CHANGED/);
    assert.ok(text.includes(hostKeyFingerprint), `names the fingerprint the host presented (${hostKeyFingerprint})`);
    assert.match(text, /treat this as an attack/);
  });

  test('unknown host key through the action (ssh-known-hosts input)', async () => {
    await refused(async () => {
      const r = await runStep({
        inputs: {
          environment: env.name,
          command: 'status',
          'ssh-private-key': readFileSync(env.info.ssh.privateKeyPath, 'utf8'),
          'ssh-known-hosts': `other.example.org ${readFileSync(`${otherKey}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}`,
          'env-file': readFileSync(env.envFilePath, 'utf8'),
        },
        env: { SSH_AUTH_SOCK: agentSock },
        workspace,
      });
      return { code: r.code, text: r.log + r.stderr };
    }, /::error::.*host key of .* is unknown/);
  });

  test("wrong private key (not authorised on the host): refused, naming the key's fingerprint", async () => {
    const fp = (await run(['ssh-keygen', '-l', '-f', otherKey])).stdout.split(' ')[1]!;
    const text = await refused(async () => {
      const r = await cli(['deploy', env.name, '--version', 'v2', '--skip-ci-check'], {
        identity: otherKey,
        knownHosts: env.info.ssh.knownHostsPath,
      });
      return { code: r.code, text: r.stderr };
    }, /refused the key/);
    assert.ok(text.includes(fp), `the message names ${fp}:\n${text}`);
    assert.match(text, /authorized_keys/);
  });

  test('a key file readable by others: OpenSSH ignores it, and the message says so and how to fix it', async () => {
    const loose = join(env.dir, 'loose_key');
    copyFileSync(env.info.ssh.privateKeyPath, loose);
    chmodSync(loose, 0o644);
    const text = await refused(async () => {
      const r = await cli(['status', env.name], { identity: loose, knownHosts: env.info.ssh.knownHostsPath });
      return { code: r.code, text: r.stderr };
    }, /private key file .*loose_key is readable by other users, so OpenSSH ignores it/);
    assert.match(text, /Permissions 0644 for '.*loose_key' are too open/);
    assert.match(text, /fix: chmod 600 .*loose_key/);
  });

  test('a passphrase-protected key without its passphrase', async () => {
    await refused(async () => {
      const r = await cli(['status', env.name], { identity: protectedKey, knownHosts: env.info.ssh.knownHostsPath });
      return { code: r.code, text: r.stderr };
    }, /protected by a passphrase and none was given[\s\S]*fix: pass the passphrase/);
  });

  test('the same key with a wrong passphrase (CLI and action)', async () => {
    const text = await refused(async () => {
      const r = await runCli(
        [
          'status',
          env.name,
          '--config',
          env.configPath,
          '--identity',
          protectedKey,
          '--known-hosts',
          env.info.ssh.knownHostsPath,
          '--passphrase-env',
          'TGD_PASS',
        ],
        { TGD_PASS: 'not the passphrase', SSH_AUTH_SOCK: agentSock },
      );
      return { code: r.code, text: r.stderr };
    }, /the passphrase given does not decrypt the private key/);
    assert.ok(!text.includes('not the passphrase'));
    const action = await refused(async () => {
      const r = await runStep({
        inputs: {
          environment: env.name,
          command: 'status',
          'ssh-private-key': readFileSync(protectedKey, 'utf8'),
          'ssh-passphrase': 'not the passphrase',
          'ssh-known-hosts': env.info.ssh.knownHostsLine,
          'env-file': readFileSync(env.envFilePath, 'utf8'),
        },
        env: { SSH_AUTH_SOCK: agentSock },
        workspace,
      });
      return { code: r.code, text: r.log + r.stderr };
    }, /::error::.*the passphrase given does not decrypt/);
    assert.ok(!action.includes('not the passphrase'));
  });

  test('no identity at all (and an agent with the right key at hand): refused before any connection', async () => {
    await refused(async () => {
      const r = await cli(['status', env.name], { knownHosts: env.info.ssh.knownHostsPath });
      return { code: r.code, text: r.stderr };
    }, /no SSH private key given[\s\S]*fix: pass ssh-private-key \(action\) or --identity FILE \(CLI\)/);
  });

  test('the passphrase-protected key WITH its passphrase works: a deploy through the CLI, status through the action', async () => {
    const r = await runCli(
      [
        'deploy',
        env.name,
        '--config',
        env.configPath,
        '--repo',
        env.repo.dir,
        '--identity',
        protectedKey,
        '--known-hosts',
        env.info.ssh.knownHostsPath,
        '--passphrase-env',
        'TGD_PASS',
        '--version',
        'v2',
        '--skip-ci-check',
      ],
      { TGD_PASS: PASSPHRASE, ...env.info.runnerEnv, SSH_AUTH_SOCK: agentSock },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse((await env.get('/version')).body).git_commit, env.repo.shas.v2);
    assert.ok(!r.stderr.includes(PASSPHRASE) && !r.stdout.includes(PASSPHRASE));
    const s = await runStep({
      inputs: {
        environment: env.name,
        command: 'status',
        'ssh-private-key': readFileSync(protectedKey, 'utf8'),
        'ssh-passphrase': PASSPHRASE,
        'ssh-known-hosts': env.info.ssh.knownHostsLine,
        'env-file': readFileSync(env.envFilePath, 'utf8'),
      },
      env: {},
      workspace,
    });
    assert.equal(s.code, 0, s.log + s.stderr);
    assert.equal(s.outputs.version, env.repo.shas.v2);
    assert.ok(!s.log.includes(PASSPHRASE) && !s.summary.includes(PASSPHRASE) && !s.files.includes(PASSPHRASE));
    assert.equal(agentConnections(), agentBaseline, 'the ssh-agent was never consulted');
  });
});
