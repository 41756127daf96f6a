/**
 * `togather-deploy validate <environment>`: the config, env file, SSH key and pinned host key are checked on the
 * machine alone, in milliseconds; nothing is connected to. Runs the CLI on an operator's files in a temp dir.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const ROOT = new URL('../../..', import.meta.url).pathname;

/** an operator's repository: the example config, a filled-in staging env file, a deploy key and a known_hosts */
function repo(pinned: boolean): { dir: string; args: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'tgd-validate-'));
  cpSync(join(ROOT, 'config'), join(dir, 'config'), { recursive: true });
  const env = readFileSync(join(dir, 'config/environments/.env.staging.example'), 'utf8');
  writeFileSync(
    join(dir, 'config/environments/.env.staging'),
    env.replace(/CHANGE_ME\w*/g, 'n0t-a-real-Secret-4c3b2a19'),
    {
      mode: 0o600,
    },
  );
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'key')]);
  const pub = readFileSync(join(dir, 'key.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
  writeFileSync(join(dir, 'known_hosts'), `${pinned ? 'staging.togather.example' : 'elsewhere.example'} ${pub}\n`);
  const args = [
    '-c',
    join(dir, 'config/deployment.yml'),
    '-i',
    join(dir, 'key'),
    '--known-hosts',
    join(dir, 'known_hosts'),
  ];
  return { dir, args };
}

/** the CLI in a process of its own, as an operator runs it */
async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env, DEPLOY_WEBHOOK_URL: 'https://hooks.example/deploys' };
  const cli = join(ROOT, 'src/cli/index.ts');
  const r = spawnSync(process.execPath, ['--import', 'tsx', cli, ...argv], { env, encoding: 'utf8', cwd: ROOT });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('a complete set-up is valid: host, pinned key fingerprint, image and settings, without connecting', async () => {
  const { args } = repo(true);
  const r = await run(['validate', 'staging', ...args]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^valid: staging/);
  assert.match(r.stdout, /host key {3}pinned in .*: ED25519 SHA256:/);
  assert.match(r.stdout, /nothing was connected to/);
  assert.doesNotMatch(r.stdout, /n0t-a-real-Secret/, 'no setting value is printed');
});

test('a known_hosts without the host refuses with exit 2 and names ssh-keyscan', async () => {
  const { args } = repo(false);
  const r = await run(['validate', 'staging', ...args]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /has no key for staging\.togather\.example/);
  assert.match(r.stderr, /ssh-keyscan -p 22 staging\.togather\.example/);
});

test('--json gives the same facts to machines', async () => {
  const { args } = repo(true);
  const r = await run(['validate', 'staging', '--json', ...args]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { environment: string; hostKeys: string[]; settings: number };
  assert.equal(j.environment, 'staging');
  assert.equal(j.hostKeys.length, 1);
  assert.ok(j.settings > 0);
});
