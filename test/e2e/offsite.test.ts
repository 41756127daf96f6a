/**
 * Snapshots off the host on the real loopback host: `snapshot create` encrypts the snapshot with age on the
 * deployer and uploads it with the deployer's rclone (an sftp remote on the harness's sshd, in a directory outside
 * the environment's stack, configured only through RCLONE_CONFIG_* variables); the host's copy is deleted; the data
 * changes; `snapshot restore --from-offsite` brings the snapshot back and the table is exactly as it was. The copy
 * on the remote is unreadable without the key (the age CLI with another key fails; neither a marker row nor the
 * gzip magic shows in its bytes), retention removes expired copies above keep_min, and `snapshot check` fails once
 * the newest snapshot is older than max_age.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { generateIdentity } from '../../src/crypto/age.js';
import { hostSsh } from '../harness/host.js';
import { dbPsql, newEnv, type CliResult, type TestEnv } from './support.js';

const MARKER = `offsite-marker-${process.pid}-Zx81q`;
const SNAP_RE = /^togather_\d{8}_\d{6}_[0-9a-f]{7}\.sql\.gz$/;
/** under the deploy user's home on the harness host, beside (not inside) the environments' stacks */
const REMOTE_DIR = `offsite-e2e-${process.pid}-${Date.now().toString(36)}`;
const keys = generateIdentity();
const other = generateIdentity();

const outputs: CliResult[] = [];

describe('snapshots off the host', { timeout: 900_000 }, () => {
  let env: TestEnv;
  /** the rclone remote "off": sftp to the harness's sshd as the deploy user, by environment variables only */
  let rcloneEnv: Record<string, string>;
  let snapshot = '';
  let atSnapshot = '';

  const cli = async (args: string[], extra: Record<string, string> = {}) => {
    const r = await env.cli(args, { env: { ...rcloneEnv, ...extra } });
    outputs.push(r);
    return r;
  };
  const rclone = (args: string[], input?: Buffer) =>
    spawnSync('rclone', args, { env: { ...process.env, ...rcloneEnv }, input, maxBuffer: 1 << 30 });
  const remoteNames = () => {
    const r = rclone(['lsjson', '--files-only', `off:${REMOTE_DIR}`]);
    assert.equal(r.status, 0, r.stderr.toString());
    return (JSON.parse(r.stdout.toString()) as { Name: string }[]).map((e) => e.Name).sort();
  };
  /** rows and a checksum of the whole table, the tests' own view through psql */
  const tableState = () =>
    dbPsql(env, "SELECT count(*) || ' ' || md5(string_agg(t::text, ',' ORDER BY id)) FROM offsite_probe t");

  before(async () => {
    env = await newEnv('offsite', {
      config: (c) => {
        (c.deployment as Record<string, unknown>).verify_timeout = '40s';
        (c.app as { health: Record<string, unknown> }).health.start_timeout = '60s';
        const db = c.database as Record<string, unknown>;
        db.snapshots = {
          retention_days: 7,
          max_age: '1s', // nothing else runs `snapshot check`; the last test waits past it
          offsite: { remote: `off:${REMOTE_DIR}`, recipients: [keys.recipient], keep_min: 2 },
        };
      },
    });
    const { ssh } = env.info;
    rcloneEnv = {
      RCLONE_CONFIG_OFF_TYPE: 'sftp',
      RCLONE_CONFIG_OFF_HOST: ssh.host,
      RCLONE_CONFIG_OFF_PORT: String(ssh.port),
      RCLONE_CONFIG_OFF_USER: ssh.user,
      RCLONE_CONFIG_OFF_KEY_FILE: ssh.privateKeyPath,
      RCLONE_CONFIG_OFF_KNOWN_HOSTS_FILE: ssh.knownHostsPath,
      // no rclone.conf of the machine running the tests may interfere
      RCLONE_CONFIG: '/dev/null',
    };
    const d = await cli(['deploy', env.name, '--version', 'v1', '--skip-ci-check']);
    assert.equal(d.code, 0, d.stderr);
    await dbPsql(
      env,
      'CREATE TABLE offsite_probe (id serial PRIMARY KEY, note text NOT NULL, n int NOT NULL); ' +
        `INSERT INTO offsite_probe (note, n) SELECT '${MARKER}-' || i, i * 7 FROM generate_series(1, 500) i;`,
    );
  });

  test('snapshot create copies the snapshot off the host, encrypted, under its final name', async () => {
    atSnapshot = await tableState();
    assert.match(atSnapshot, /^500 [0-9a-f]{32}$/);
    const r = await cli(['snapshot', 'create', env.name, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { snapshot: { file: string }; offsite: { copied: { file: string } } };
    snapshot = out.snapshot.file;
    assert.match(snapshot, SNAP_RE);
    assert.equal(out.offsite.copied.file, snapshot);
    assert.deepEqual(remoteNames(), [`${snapshot.replace(/\.sql\.gz$/, '.json')}.age`, `${snapshot}.age`].sort());
    const list = await cli(['snapshot', 'list', env.name]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(
      list.stdout,
      new RegExp(`off-site copies in off:${REMOTE_DIR} \\(newest first, encrypted\\):\\n {2}${snapshot}`),
    );
  });

  test('the copy is unreadable without the key: another key fails, no marker, no gzip magic', () => {
    const raw = rclone(['cat', `off:${REMOTE_DIR}/${snapshot}.age`]);
    assert.equal(raw.status, 0, raw.stderr.toString());
    const bytes = raw.stdout;
    assert.ok(bytes.length > 100);
    assert.ok(bytes.subarray(0, 21).toString() === 'age-encryption.org/v1', 'an age file');
    assert.ok(!bytes.includes(MARKER), 'the marker rows are not readable');
    assert.ok(!bytes.includes(Buffer.from([0x1f, 0x8b, 0x08])), 'no gzip stream inside, in the clear');
    const dir = mkdtempSync(join(tmpdir(), 'tgd-age-'));
    writeFileSync(join(dir, 'other.key'), `${other.identity}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'right.key'), `${keys.identity}\n`, { mode: 0o600 });
    const wrong = spawnSync('/usr/bin/age', ['-d', '-i', join(dir, 'other.key')], { input: bytes });
    assert.notEqual(wrong.status, 0, 'age -d with another key fails');
    assert.equal(wrong.stdout.length, 0);
    // and the age CLI reads what we wrote with the right key: a gzip'd pg_dump
    const right = spawnSync('/usr/bin/age', ['-d', '-i', join(dir, 'right.key')], { input: bytes, maxBuffer: 1 << 30 });
    assert.equal(right.status, 0, right.stderr.toString());
    assert.deepEqual([...right.stdout.subarray(0, 2)], [0x1f, 0x8b]);
  });

  test('restore --from-offsite after the host lost its copy: the table is as it was at the snapshot', async () => {
    const meta = snapshot.replace(/\.sql\.gz$/, '.json');
    await hostSsh(env.info, `rm -f -- stacks/${env.name}/snapshots/${snapshot} stacks/${env.name}/snapshots/${meta}`);
    const gone = await hostSsh(env.info, `ls stacks/${env.name}/snapshots`, { check: false });
    assert.ok(!gone.stdout.includes(snapshot), 'the host copy is gone');
    // the data changes after the snapshot, so the restore is visible
    await dbPsql(
      env,
      "DELETE FROM offsite_probe WHERE id % 3 = 0; UPDATE offsite_probe SET note = 'changed' WHERE id < 20; " +
        "INSERT INTO offsite_probe (note, n) VALUES ('after-the-snapshot', 1);",
    );
    assert.notEqual(await tableState(), atSnapshot);

    // without --from-offsite, the error points to it and nothing changes
    const plain = await cli(['snapshot', 'restore', env.name, snapshot, '--stop-app', '--yes']);
    assert.equal(plain.code, 8, plain.stderr);
    assert.match(plain.stderr, /--from-offsite/);
    // without the identity: a config error, nothing fetched
    const nokey = await cli(['snapshot', 'restore', env.name, snapshot, '--from-offsite', '--stop-app', '--yes']);
    assert.equal(nokey.code, 2, nokey.stderr);
    assert.match(nokey.stderr, /TOGATHER_SNAPSHOT_IDENTITY/);

    // the restore takes rclone's configuration as an rclone.conf's content this time
    const conf = [
      '[off]',
      'type = sftp',
      `host = ${env.info.ssh.host}`,
      `port = ${env.info.ssh.port}`,
      `user = ${env.info.ssh.user}`,
      `key_file = ${env.info.ssh.privateKeyPath}`,
      `known_hosts_file = ${env.info.ssh.knownHostsPath}`,
      '',
    ].join('\n');
    const r = await env.cli(['snapshot', 'restore', env.name, snapshot, '--from-offsite', '--stop-app', '--yes'], {
      env: { TOGATHER_RCLONE_CONFIG: conf, TOGATHER_SNAPSHOT_IDENTITY: keys.identity },
    });
    outputs.push(r);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout + r.stderr, /fetched .* decrypted and verified/);
    assert.equal(await tableState(), atSnapshot, 'rows and checksum as at snapshot time');
    assert.equal(await dbPsql(env, "SELECT count(*) FROM offsite_probe WHERE note = 'after-the-snapshot'"), '0');
    const back = await hostSsh(env.info, `ls stacks/${env.name}/snapshots`);
    assert.ok(back.stdout.includes(snapshot), 'the fetched snapshot is on the host again');
    // the app serves again
    const health = await env.get('/health');
    assert.equal(health.status, 200);
  });

  test('a wrong identity stops the fetch and leaves nothing on the host', async () => {
    const meta = snapshot.replace(/\.sql\.gz$/, '.json');
    await hostSsh(env.info, `rm -f -- stacks/${env.name}/snapshots/${snapshot} stacks/${env.name}/snapshots/${meta}`);
    const before = (await hostSsh(env.info, `ls -A stacks/${env.name}/snapshots`)).stdout;
    const r = await cli(['snapshot', 'restore', env.name, snapshot, '--from-offsite', '--stop-app', '--yes'], {
      TOGATHER_SNAPSHOT_IDENTITY: other.identity,
    });
    assert.equal(r.code, 8, r.stderr);
    assert.match(r.stderr, /nothing was left on the host/);
    assert.equal((await hostSsh(env.info, `ls -A stacks/${env.name}/snapshots`)).stdout, before);
  });

  test('retention removes expired copies above keep_min, never the newest', async () => {
    // three old copies, named as if taken in January 2020 (a copy's age is its snapshot's, from its name)
    const old = [
      'togather_20200101_020000_0000000',
      'togather_20200102_020000_0000000',
      'togather_20200103_020000_0000000',
    ];
    for (const o of old)
      for (const n of [`${o}.sql.gz.age`, `${o}.json.age`]) {
        const w = rclone(['rcat', `off:${REMOTE_DIR}/${n}`], Buffer.from('old copy'));
        assert.equal(w.status, 0, w.stderr.toString());
      }
    const dry = await cli(['snapshot', 'cleanup', env.name, '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /off-site \(off:[^)]+\): would remove 2 expired copies/);
    assert.equal(remoteNames().length, 8, 'a dry run removes nothing');
    const r = await cli(['snapshot', 'cleanup', env.name, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { offsite: { removed: string[]; kept: { file: string; why: string }[] } };
    assert.deepEqual(out.offsite.removed.sort(), [`${old[0]}.sql.gz`, `${old[1]}.sql.gz`]);
    assert.deepEqual(
      out.offsite.kept.map((k) => `${k.file} ${k.why}`),
      [`${snapshot} newest`, `${old[2]}.sql.gz keep_min`],
    );
    assert.deepEqual(
      remoteNames(),
      [
        `${old[2]}.json.age`,
        `${old[2]}.sql.gz.age`,
        `${snapshot.replace(/\.sql\.gz$/, '.json')}.age`,
        `${snapshot}.age`,
      ].sort(),
    );
  });

  test('snapshot check fails, with its own message, once the newest snapshot is older than max_age', async () => {
    await new Promise((r) => setTimeout(r, 2500));
    const r = await cli(['snapshot', 'check', env.name]);
    assert.equal(r.code, 8, r.stdout + r.stderr);
    assert.match(
      r.stderr,
      /STALE SNAPSHOTS: the newest snapshot of \S+, togather_\S+ (on the host|in off:\S+), is \d+[smhd]\w* old \(max_age 1s\)/,
    );
  });

  test('no output holds the age identity or the rclone configuration', () => {
    for (const o of outputs) {
      const text = o.stdout + o.stderr;
      assert.ok(!text.includes(keys.identity) && !text.includes(other.identity), 'identity leaked');
      assert.ok(!text.includes(keys.identity.slice(16, 40)), 'part of the identity leaked');
    }
  });

  test('cleanup of the remote directory', () => {
    const r = rclone(['purge', `off:${REMOTE_DIR}`]);
    assert.equal(r.status, 0, r.stderr.toString());
  });
});
