/**
 * The CLI's snapshot subcommands for the copies off the host: parsing, help, and the input problems it refuses
 * with exit 2 before connecting (the example config's host does not exist, so any connection would be exit 4).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { generateIdentity } from '../../../src/crypto/age.js';

const ROOT = new URL('../../..', import.meta.url).pathname;
const keys = generateIdentity();

/** the example config with a filled-in staging env file, a deploy key and a known_hosts pinning it */
function repo(): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'tgd-offsite-cli-'));
  cpSync(join(ROOT, 'config'), join(dir, 'config'), { recursive: true });
  const env = readFileSync(join(dir, 'config/environments/.env.staging.example'), 'utf8');
  writeFileSync(join(dir, 'config/environments/.env.staging'), env.replace(/CHANGE_ME\w*/g, 'n0t-a-real-Secret-77'), {
    mode: 0o600,
  });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'key')]);
  const pub = readFileSync(join(dir, 'key.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
  writeFileSync(join(dir, 'known_hosts'), `staging.togather.example ${pub}\n`);
  return ['-c', join(dir, 'config/deployment.yml'), '-i', join(dir, 'key'), '--known-hosts', join(dir, 'known_hosts')];
}

function run(argv: string[], env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  const cli = join(ROOT, 'src/cli/index.ts');
  const r = spawnSync(process.execPath, ['--import', 'tsx', cli, ...argv], {
    env: { ...process.env, DEPLOY_WEBHOOK_URL: 'https://hooks.example/deploys', ...env },
    encoding: 'utf8',
    cwd: ROOT,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('help and subcommands: copy, check and --from-offsite are known; an unknown subcommand lists them', () => {
  const help = run(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /snapshot copy <environment> \[file\]/);
  assert.match(help.stdout, /snapshot check <environment>/);
  assert.match(help.stdout, /--from-offsite/);
  assert.match(help.stdout, /TOGATHER_RCLONE_CONFIG/);
  assert.match(help.stdout, /TOGATHER_SNAPSHOT_IDENTITY/);
  const bad = run(['snapshot', 'upload', 'staging']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /create, list, verify, cleanup, restore, copy, check/);
});

test('off-site commands without database.snapshots.offsite: exit 2, named key, nothing connected', () => {
  const args = repo();
  const copy = run(['snapshot', 'copy', 'staging', ...args]);
  assert.equal(copy.code, 2, copy.stderr);
  assert.match(copy.stderr, /database\.snapshots\.offsite is not configured/);
  const restore = run([
    'snapshot',
    'restore',
    'staging',
    'togather_20261127_021500_9f86d08.sql.gz',
    '--from-offsite',
    ...args,
  ]);
  assert.equal(restore.code, 2, restore.stderr);
  assert.match(restore.stderr, /offsite is not configured/);
  const misplaced = run(['snapshot', 'list', 'staging', '--from-offsite', ...args]);
  assert.equal(misplaced.code, 2, misplaced.stderr);
  assert.match(misplaced.stderr, /--from-offsite belongs to snapshot restore/);
});

test('TOGATHER_SNAPSHOT_IDENTITY is checked before anything runs, and never printed', () => {
  const args = repo();
  const recipient = run(['snapshot', 'list', 'staging', ...args], { TOGATHER_SNAPSHOT_IDENTITY: keys.recipient });
  assert.equal(recipient.code, 2, recipient.stderr);
  const broken = `${keys.identity.slice(0, -4)}QQQQ`;
  const typo = run(['snapshot', 'list', 'staging', ...args], { TOGATHER_SNAPSHOT_IDENTITY: broken });
  assert.equal(typo.code, 2, typo.stderr);
  assert.ok(!(typo.stdout + typo.stderr).includes(broken.slice(20)), 'the key is not echoed');
  const good = run(['snapshot', 'copy', 'staging', ...args], {
    TOGATHER_SNAPSHOT_IDENTITY: keys.identity,
    TOGATHER_RCLONE_CONFIG: '[vault]\ntype = s3\nsecret_access_key = s3cr3t-Acc355-K3y-value\n',
  });
  assert.equal(good.code, 2, good.stderr);
  const all = good.stdout + good.stderr;
  assert.ok(!all.includes(keys.identity.slice(20)) && !all.includes('s3cr3t-Acc355'));
});
