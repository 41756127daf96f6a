/**
 * Database safety on the real loopback host, real PostgreSQL and real pg_dump: a verified snapshot before
 * every migration, migrations in the deploy (the golang-migrate stand-in is a test fixture), the snapshot
 * commands, retention, and failures that must leave the old colour serving and no half-made snapshot.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { hostDocker, hostSsh } from '../harness/host.js';
import { run } from '../harness/proc.js';
import { SAMPLE_SCHEMA } from '../harness/sample-repo.js';
import { dbPsql, newEnv, pollDuring, type CliResult, type TestEnv } from './support.js';

const SNAP_RE = /^togather_\d{8}_\d{6}_[0-9a-f]{7}\.sql\.gz$/;

const outputs: CliResult[] = [];
async function cli(env: TestEnv, args: string[]): Promise<CliResult> {
  const r = await env.cli(args);
  outputs.push(r);
  return r;
}

async function snapshotFiles(env: TestEnv): Promise<string[]> {
  const r = await hostSsh(env.info, `ls -A stacks/${env.name}/snapshots`, { check: false });
  return r.stdout.split('\n').filter(Boolean).sort();
}

/** samples every process's command line on this machine (the loopback host, containers included) until stopped */
function sampleArgv(): { stop(): Promise<{ samples: number; lines: Set<string> }> } {
  let running = true;
  const lines = new Set<string>();
  let samples = 0;
  const loop = (async () => {
    while (running) {
      const r = await run(['ps', '-eo', 'args'], { check: false });
      samples++;
      for (const l of r.stdout.split('\n')) lines.add(l);
      await new Promise((res) => setTimeout(res, 25));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { samples, lines };
    },
  };
}

const created: TestEnv[] = [];
async function dbEnv(label: string): Promise<TestEnv> {
  // generous timeouts: these tests share two cores with other sessions' suites
  const e = await newEnv(label, {
    config: (c) => {
      (c.deployment as Record<string, unknown>).verify_timeout = '40s';
      (c.app as { health: Record<string, unknown> }).health.start_timeout = '60s';
    },
  });
  created.push(e);
  return e;
}

/** this file's stacks go when it ends: the host engine has a limited number of network address pools */
async function removeStack(e: TestEnv): Promise<void> {
  const project = e.stackPrefix;
  const ids = (
    await hostDocker(e.info, ['ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`], { check: false })
  ).stdout
    .split('\n')
    .filter(Boolean);
  if (ids.length) await hostDocker(e.info, ['rm', '-f', ...ids], { check: false });
  await hostDocker(e.info, ['network', 'rm', `${project}_togather`], { check: false });
  const vols = (
    await hostDocker(e.info, ['volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${project}`], {
      check: false,
    })
  ).stdout
    .split('\n')
    .filter(Boolean);
  if (vols.length) await hostDocker(e.info, ['volume', 'rm', ...vols], { check: false });
  await hostSsh(e.info, `rm -rf stacks/${e.name}`, { check: false });
}

const state = async (env: TestEnv) => JSON.parse((await env.hostFile('state.json'))!);
const schemaRow = (env: TestEnv) => dbPsql(env, 'SELECT version, dirty FROM schema_migrations');
/** row count and a checksum over every row, in id order */
const tableDigest = (env: TestEnv, table: string) =>
  dbPsql(env, `SELECT count(*) || ' ' || coalesce(md5(string_agg(t::text, ',' ORDER BY t.id)), '-') FROM ${table} t`);

describe('database safety: snapshots and migrations', { timeout: 900_000 }, () => {
  let env: TestEnv;
  before(async () => {
    env = await dbEnv('db');
  });
  after(async () => {
    if (process.env.KEEP_STACKS) return;
    for (const e of created) await removeStack(e);
  });

  test('must-show 1: a deploy with two new migrations takes a verified snapshot first; the record shows from/to and the snapshot', async () => {
    const v1 = await cli(env, ['deploy', env.name, '--version', 'v1', '--skip-ci-check']);
    assert.equal(v1.code, 0, v1.stderr);
    assert.match(v1.stderr, /has no \/app\/migrations: no migrations to run, no snapshot/);
    assert.deepEqual(
      (await snapshotFiles(env)).filter((f) => !f.startsWith('.')),
      [],
      'no migration pending: no snapshot',
    );
    await dbPsql(
      env,
      "CREATE TABLE guestbook (id serial PRIMARY KEY, note text); INSERT INTO guestbook (note) SELECT 'before m1 #' || g FROM generate_series(1, 100) g",
    );

    const m1 = await cli(env, ['deploy', env.name, '--version', 'm1', '--skip-ci-check']);
    assert.equal(m1.code, 0, m1.stderr);
    const s = await state(env);
    const rec = s.current;
    assert.equal(rec.version, env.repo.shas.m1);
    assert.deepEqual(rec.migrations, { to: 2, ran: 2 }, 'from is absent: the database had no schema_migrations');
    assert.match(rec.snapshot, SNAP_RE);
    assert.ok(rec.snapshot.endsWith(`_${env.repo.shas.m1.slice(0, 7)}.sql.gz`), rec.snapshot);
    const names = rec.phases.map((p: { name: string }) => p.name);
    assert.ok(
      names.indexOf('snapshot') < names.indexOf('migrate') && names.indexOf('migrate') < names.indexOf('start green'),
      names.join(', '),
    );

    // the snapshot on the host: complete, verified, described
    const files = await snapshotFiles(env);
    assert.deepEqual(files, [rec.snapshot, rec.snapshot.replace(/\.sql\.gz$/, '.json')].sort());
    const meta = JSON.parse((await env.hostFile(`snapshots/${rec.snapshot.replace(/\.sql\.gz$/, '.json')}`))!);
    assert.equal(meta.status, 'verified');
    assert.equal(meta.pre_migration_version, null);
    assert.equal(meta.reason, 'pre-migration');
    assert.equal(meta.git_commit, env.repo.shas.m1);
    assert.equal(meta.database_name, 'togather');
    const onDisk = await hostSsh(
      env.info,
      `cd stacks/${env.name}/snapshots && wc -c < ${rec.snapshot} && sha256sum < ${rec.snapshot} && gzip -dc < ${rec.snapshot} | grep -c 'before m1 #'`,
    );
    const [bytes, sum, rows] = onDisk.stdout.trim().split('\n');
    assert.equal(Number(bytes), meta.file_size_bytes);
    assert.equal(sum!.split(' ')[0], meta.sha256);
    assert.equal(Number(rows), 100, 'the seeded rows are in the dump');
    assert.ok(Date.parse(meta.retention_until) - Date.parse(meta.created_at) === 7 * 86_400_000);

    // the schema advanced, and the new colour reports it through the proxy
    assert.equal(await schemaRow(env), '2|f');
    const health = JSON.parse((await env.get('/health')).body);
    assert.deepEqual(health.checks.migrations.details, { version: SAMPLE_SCHEMA.m1, dirty: false });
    assert.equal(health.git_commit, env.repo.shas.m1);

    // a redeploy with nothing pending takes no snapshot (database.snapshots.when: pending-migrations)
    const again = await cli(env, ['deploy', env.name, '--version', 'm1', '--skip-ci-check', '--force']);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /no pending migration, so no snapshot/);
    const s2 = await state(env);
    assert.deepEqual(s2.current.migrations, { from: 2, to: 2, ran: 0 });
    assert.equal(s2.current.snapshot, undefined);
    assert.equal((await snapshotFiles(env)).length, 2);
  });

  let seeded: { events: string; venues: string; guestbook: string };
  let brokenSnapshot: string;

  test('must-show 2: a migration breaking midway fails the deploy (exit 9), the old colour serves; the printed restore command restores exactly', async () => {
    // rows with what the Togather schema stores: vectors in events, PostGIS points in venues (the digests
    // below are over each row's text form, so the restore must bring both back bit for bit)
    await dbPsql(
      env,
      [
        'INSERT INTO events (title, starts_at, venue_id, embedding)',
        "SELECT 'event #' || g, timestamptz '2026-03-01' + g * interval '17 minutes', 1 + g % 2,",
        "('[' || g || ',' || (g / 7.0)::real || ',' || -g || ']')::vector",
        'FROM generate_series(1, 5000) g',
      ].join(' '),
    );
    await dbPsql(
      env,
      [
        'INSERT INTO venues (name, city, location)',
        "SELECT 'Venue ' || g, 'City ' || g % 10, ST_SetSRID(ST_MakePoint(-80 + g / 1000.0, 43 + g / 3000.0), 4326)::geography",
        'FROM generate_series(1, 500) g',
      ].join(' '),
    );
    seeded = {
      events: await tableDigest(env, 'events'),
      venues: await tableDigest(env, 'venues'),
      guestbook: await tableDigest(env, 'guestbook'),
    };
    assert.match(seeded.events, /^5000 [0-9a-f]{32}$/);
    assert.match(seeded.venues, /^502 [0-9a-f]{32}$/);
    // the indexes the migrations made are the extensions' own: trigram GIN on titles, GiST on geography
    assert.match(
      await dbPsql(env, "SELECT indexdef FROM pg_indexes WHERE indexname = 'events_title_trgm_idx'"),
      /gin \(title gin_trgm_ops\)/,
    );
    assert.match(
      await dbPsql(env, "SELECT indexdef FROM pg_indexes WHERE indexname = 'venues_location_idx'"),
      /gist \(location\)/,
    );
    assert.equal(
      await dbPsql(
        env,
        'SELECT count(*) FROM venues WHERE ST_DWithin(location, ST_SetSRID(ST_MakePoint(-79.3832, 43.6532), 4326)::geography, 5000)',
      ),
      '2',
    );

    const poll = pollDuring(env.httpPort);
    const argv = sampleArgv();
    const r = await cli(env, ['deploy', env.name, '--version', 'm2', '--skip-ci-check']);
    const seen = await poll.stop();
    const ps = await argv.stop();
    // pg_dump, psql and the migrate tool ran meanwhile: none had the password on its command line
    assert.ok(ps.samples > 20, `ps sampled ${ps.samples} times`);
    assert.ok(
      [...ps.lines].some((l) => /pg_dump .*postgres:\/\/togather@db:5432\/togather/.test(l)) ||
        [...ps.lines].some((l) => /-database postgres:\/\/togather@db/.test(l)),
      'the sampler saw the database tools',
    );
    const pw = env.secrets.POSTGRES_PASSWORD!;
    for (const l of ps.lines)
      assert.ok(
        !l.includes(pw) && !l.includes(encodeURIComponent(pw)),
        `password on a command line: ${l.slice(0, 60)}…`,
      );
    assert.equal(r.code, 9, r.stderr);
    assert.deepEqual(
      seen.failures,
      [],
      `failed requests during the broken deploy: ${seen.failures.slice(0, 5).join(', ')}`,
    );
    assert.ok(seen.total > 20, `polled ${seen.total}`);
    assert.deepEqual([...seen.versions], [env.repo.shas.m1], 'm1 served throughout');
    assert.match(r.stderr, /The database is now at version 3 and DIRTY/);
    assert.match(r.stderr, /the old colour keeps serving/);
    const cmd = /togather-deploy snapshot restore (\S+) (\S+) --stop-app/.exec(r.stderr);
    assert.ok(cmd, r.stderr);
    assert.equal(cmd[1], env.name);
    brokenSnapshot = cmd[2]!;
    assert.match(brokenSnapshot, SNAP_RE);

    // the database is dirty and half-changed: the first half of 003 was committed
    assert.equal(await schemaRow(env), '3|t');
    assert.notEqual(await tableDigest(env, 'events'), seeded.events);
    assert.equal(await dbPsql(env, "SELECT count(*) FROM events WHERE title LIKE '% (m2)'"), '5000');
    const s = await state(env);
    assert.equal(s.current.version, env.repo.shas.m1, 'm1 is still the live deployment');
    const failed = s.history[0];
    assert.equal(failed.status, 'failed');
    assert.equal(failed.failure.exit_code, 9);
    assert.equal(failed.snapshot, brokenSnapshot);
    assert.deepEqual(failed.migrations, { from: 2, to: 3, ran: 0, dirty: true });
    assert.match(failed.failure.message, /snapshot restore/);
    assert.ok(
      !(await hostDocker(env.info, ['ps', '--format', '{{.Names}}'])).stdout.includes(`${env.stackPrefix}-migrate`),
      'no migrate container left',
    );

    // a deploy onto a dirty schema stops before touching anything, with the recovery steps
    const dirty = await cli(env, ['deploy', env.name, '--version', 'm3', '--skip-ci-check']);
    assert.equal(dirty.code, 9, dirty.stderr);
    assert.match(dirty.stderr, /schema_migrations is dirty at version 3/);
    assert.match(dirty.stderr, /snapshot restore/);
    assert.match(dirty.stderr, / force 3/);

    // the restore refuses while the app serves, unless told to stop it; and it needs a confirmation
    const refused = await cli(env, ['snapshot', 'restore', env.name, brokenSnapshot]);
    assert.equal(refused.code, 13, refused.stderr);
    assert.match(refused.stderr, /--stop-app/);
    const unconfirmed = await cli(env, ['snapshot', 'restore', env.name, brokenSnapshot, '--stop-app']);
    assert.equal(unconfirmed.code, 13, unconfirmed.stderr);
    assert.equal(await schemaRow(env), '3|t', 'nothing changed');

    const restored = await cli(env, ['snapshot', 'restore', env.name, brokenSnapshot, '--stop-app', '--yes']);
    assert.equal(restored.code, 0, restored.stderr);
    assert.match(restored.stdout, /safety snapshot of what was replaced: togather_/);
    assert.equal(await schemaRow(env), '2|f');
    assert.deepEqual(
      {
        events: await tableDigest(env, 'events'),
        venues: await tableDigest(env, 'venues'),
        guestbook: await tableDigest(env, 'guestbook'),
      },
      seeded,
    );
    assert.equal(
      await dbPsql(env, "SELECT count(*) FROM events WHERE embedding <-> '[1,0,-1]' < 1"),
      '1',
      'pgvector works on the restored rows',
    );
    assert.equal(
      await dbPsql(
        env,
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'events' AND column_name = 'capacity'",
      ),
      '0',
    );
    // the app is back behind the proxy, reporting the restored schema
    const health = JSON.parse((await env.get('/health')).body);
    assert.equal(health.git_commit, env.repo.shas.m1);
    assert.deepEqual(health.checks.migrations.details, { version: 2, dirty: false });

    // and the fixed release goes through
    const m3 = await cli(env, ['deploy', env.name, '--version', 'm3', '--skip-ci-check']);
    assert.equal(m3.code, 0, m3.stderr);
    assert.deepEqual((await state(env)).current.migrations, { from: 2, to: 4, ran: 2 });
    assert.equal(await schemaRow(env), '4|f');
  });

  test('must-show 4: retention removes exactly the expired snapshots that are neither the newest nor named by the history', async () => {
    const dir = `stacks/${env.name}/snapshots`;
    const list = async () => (await snapshotFiles(env)).filter((f) => f.endsWith('.sql.gz'));
    const setAge = async (file: string, createdDaysAgo: number, expiresInDays: number) => {
      const metaPath = `${dir}/${file.replace(/\.sql\.gz$/, '.json')}`;
      const meta = JSON.parse((await hostSsh(env.info, `cat ${metaPath}`)).stdout);
      meta.created_at = new Date(Date.now() - createdDaysAgo * 86_400_000).toISOString();
      meta.retention_until = new Date(Date.now() + expiresInDays * 86_400_000).toISOString();
      await hostSsh(env.info, `cat > ${metaPath}`, { input: JSON.stringify(meta) + '\n' });
    };
    const s = await state(env);
    const inHistory = new Set<string>(s.history.map((h: { snapshot?: string }) => h.snapshot).filter(Boolean));
    const before = await list();
    // m1's and m3's pre-migration snapshots (successful deploys), m2's (a failed one), the restore's safety snapshot
    assert.equal(before.length, 4, before.join(' '));
    const safety = before.find((f) => !inHistory.has(f))!;
    assert.ok(safety, 'the safety snapshot is named by no deployment');
    const created = await cli(env, ['snapshot', 'create', env.name]);
    assert.equal(created.code, 0, created.stderr);
    const fresh = (await list()).find((f) => !before.includes(f))!;
    const created2 = await cli(env, ['snapshot', 'create', env.name]);
    assert.equal(created2.code, 0, created2.stderr);
    const newest = (await list()).find((f) => !before.includes(f) && f !== fresh)!;
    assert.ok(fresh && newest, (await list()).join(' '));

    // ages: every snapshot named by the history expired long ago; the safety one expired; `fresh` is within
    // retention; the newest one is expired too (it is kept anyway)
    for (const f of inHistory) await setAge(f, 30, -23);
    await setAge(safety, 20, -13);
    await setAge(fresh, 2, 5);
    await setAge(newest, 1, -1);
    const dry = await cli(env, ['snapshot', 'cleanup', env.name, '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, new RegExp(`would remove 1 expired snapshot\\(s\\): ${safety.replace(/\./g, '\\.')}`));
    assert.equal((await list()).length, 6);
    const cleaned = await cli(env, ['snapshot', 'cleanup', env.name]);
    assert.equal(cleaned.code, 0, cleaned.stderr);
    assert.deepEqual(await list(), [...inHistory, fresh, newest].sort());
    assert.match(cleaned.stdout, /kept .* \(newest\)/);
    assert.match(cleaned.stdout, /kept .* \(referenced\)/);
    assert.match(cleaned.stdout, /kept .* \(within retention\)/);
    assert.ok(!(await snapshotFiles(env)).includes(safety.replace(/\.sql\.gz$/, '.json')), 'its metadata went with it');

    // retention runs after every snapshot: once `newest` is no longer the newest, it goes, and so does `fresh` once expired
    await setAge(fresh, 9, -2);
    const third = await cli(env, ['snapshot', 'create', env.name]);
    assert.equal(third.code, 0, third.stderr);
    const latest = (await list()).filter((f) => !inHistory.has(f));
    assert.equal(latest.length, 1, latest.join(' '));
    assert.match(third.stdout, /retention removed: /);

    // list and verify
    const listed = await cli(env, ['snapshot', 'list', env.name, '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    const data = JSON.parse(listed.stdout);
    assert.equal(data.snapshots.length, inHistory.size + 1);
    assert.ok(data.snapshots.every((x: { meta?: { status: string } }) => x.meta?.status === 'verified'));
    const verified = await cli(env, ['snapshot', 'verify', env.name]);
    assert.equal(verified.code, 0, verified.stderr);
    // a damaged copy under a snapshot's name is caught
    const victim = latest[0]!;
    const fake = victim.replace(
      /_(\d{6})_/,
      (_m, t: string) => `_${String((Number(t) + 1) % 240000).padStart(6, '0')}_`,
    );
    await hostSsh(
      env.info,
      `cd ${dir} && head -c 2000 ${victim} > ${fake} && cp ${victim.replace(/\.sql\.gz$/, '.json')} ${fake.replace(/\.sql\.gz$/, '.json')}`,
    );
    const bad = await cli(env, ['snapshot', 'verify', env.name, fake]);
    assert.equal(bad.code, 8, bad.stderr);
    assert.match(bad.stderr, /FAILED.*(gzip integrity|truncated|differs)/);
    await hostSsh(env.info, `cd ${dir} && rm -f ${fake} ${fake.replace(/\.sql\.gz$/, '.json')}`);
  });

  test('an external database (database.managed: false) is dumped through a one-off container of the postgres image on the stack network', async () => {
    const original = readFileSync(env.configPath, 'utf8');
    const cfg = parseYaml(original) as { database: Record<string, unknown> };
    cfg.database.managed = false; // the bundled db keeps running: here it plays a database the stack does not manage
    writeFileSync(env.configPath, stringifyYaml(cfg));
    try {
      const since = Math.floor(Date.now() / 1000) - 1;
      const r = await cli(env, ['snapshot', 'create', env.name]);
      assert.equal(r.code, 0, r.stderr);
      const events = await hostDocker(env.info, [
        'events',
        '--since',
        String(since),
        '--until',
        String(Math.ceil(Date.now() / 1000) + 1),
        '--filter',
        'label=org.togather.role=db-tool',
        '--filter',
        'event=create',
        '--format',
        '{{.Actor.Attributes.image}}',
      ]);
      assert.ok(events.stdout.trim().split('\n').filter(Boolean).length >= 2, `one-off containers: ${events.stdout}`);
      assert.ok(events.stdout.includes(env.info.images.postgres));
      const name = /snapshot (\S+\.sql\.gz)/.exec(r.stdout)![1]!;
      const v = await cli(env, ['snapshot', 'verify', env.name, name]);
      assert.equal(v.code, 0, v.stderr);
    } finally {
      writeFileSync(env.configPath, original);
    }
  });

  test('only one migration per environment at a time: two concurrent first deploys, one migrates, the other is refused', async () => {
    const twin = await dbEnv('dbtwin');
    const [a, b] = await Promise.all([
      twin.cli(['deploy', twin.name, '--version', 'm1', '--skip-ci-check']),
      twin.cli(['deploy', twin.name, '--version', 'm1', '--skip-ci-check']),
    ]);
    outputs.push(a, b);
    const codes = [a.code, b.code].sort();
    assert.deepEqual(codes, [0, 5], `${a.stderr}\n-----\n${b.stderr}`);
    assert.match((a.code === 5 ? a : b).stderr, /locked by/);
    assert.equal(await schemaRow(twin), '2|f');
    // 002 inserts two venues: run twice, there would be four (or a unique violation)
    assert.equal(await dbPsql(twin, 'SELECT count(*) FROM venues'), '2');
    const logs = await hostSsh(twin.info, `cat stacks/${twin.name}/logs/*.jsonl | grep -c '"event":"migrations"'`, {
      check: false,
    });
    assert.equal(logs.stdout.trim(), '1', 'the migrate container ran once');
  });

  test('must-show 3a: wrong database credentials — refused by the new database: a first deploy exits 6, snapshot create exits 8; no file is left', async () => {
    const bad = await dbEnv('dbcred');
    const wrong = `wrong-${bad.secrets.POSTGRES_PASSWORD}`;
    writeFileSync(
      bad.envFilePath,
      readFileSync(bad.envFilePath, 'utf8').replace(
        /^DATABASE_URL=.*$/m,
        `DATABASE_URL=postgres://togather:${encodeURIComponent(wrong)}@db:5432/togather`,
      ),
      { mode: 0o600 },
    );
    const r = await cli(bad, ['deploy', bad.name, '--version', 'm1', '--skip-ci-check']);
    // the deployer waits for the new database to accept the app's own credentials: refused, it stops there
    assert.equal(r.code, 6, r.stderr);
    assert.match(r.stderr, /the database refuses the app's credentials: .*password authentication failed/);
    assert.match(r.stderr, /nothing was (changed|migrated)/);
    assert.deepEqual(await snapshotFiles(bad), [], 'no snapshot, no partial file');
    assert.equal(await dbPsql(bad, "SELECT to_regclass('schema_migrations') IS NULL"), 't', 'nothing migrated');
    const st = await state(bad);
    assert.equal(st.history[0].status, 'failed');
    assert.equal(st.history[0].failure.exit_code, 6);
    assert.equal(st.history[0].snapshot, undefined);
    for (const o of [r.stdout, r.stderr, JSON.stringify(st)])
      assert.ok(!o.includes(wrong) && !o.includes(encodeURIComponent(wrong)), 'the password never shows');
    // the same through the snapshot command
    const c = await cli(bad, ['snapshot', 'create', bad.name]);
    assert.equal(c.code, 8, c.stderr);
    assert.deepEqual(await snapshotFiles(bad), []);
  });

  test('must-show 3b: the snapshot directory fills up — exit 8 before any migration, no partial file, the old colour serves throughout', async () => {
    const full = await dbEnv('dbfull');
    const v1 = await cli(full, ['deploy', full.name, '--version', 'v1', '--skip-ci-check']);
    assert.equal(v1.code, 0, v1.stderr);
    // ~1 MB of incompressible-ish data: its dump does not fit in 256 KiB
    await dbPsql(
      full,
      'CREATE TABLE ballast AS SELECT g AS id, md5(random()::text) || md5(random()::text) AS junk FROM generate_series(1, 15000) g',
    );
    const dir = `${full.info.deployHome}/stacks/${full.name}/snapshots`;
    const uid = (await run(['id', '-u', full.info.ssh.user])).stdout.trim();
    await run(['mount', '-t', 'tmpfs', '-o', `size=256k,uid=${uid},mode=0700`, 'tmpfs', dir]);
    try {
      const poll = pollDuring(full.httpPort);
      const r = await cli(full, ['deploy', full.name, '--version', 'm1', '--skip-ci-check']);
      const seen = await poll.stop();
      assert.equal(r.code, 8, r.stderr);
      assert.match(r.stderr, /No space left on device|disk .* full/);
      assert.match(r.stderr, /No snapshot file was left behind/);
      assert.deepEqual(await snapshotFiles(full), [], 'no snapshot, no partial file');
      assert.equal(
        (await run(['df', '--output=used', dir])).stdout.split('\n')[1]!.trim(),
        '0',
        'the space is free again',
      );
      assert.equal(await dbPsql(full, "SELECT to_regclass('schema_migrations') IS NULL"), 't', 'nothing migrated');
      assert.deepEqual(seen.failures, []);
      assert.deepEqual([...seen.versions], [full.repo.shas.v1]);
    } finally {
      await run(['umount', dir], { check: false });
    }
  });

  test('no env-file value appears in any output, host log, state, snapshot metadata or the db client env of another name', async () => {
    const host = await hostSsh(
      env.info,
      `cd stacks/${env.name} && cat state.json history.jsonl logs/*.jsonl snapshots/*.json`,
    );
    const haystacks = [...outputs.map((o) => o.stdout + o.stderr), host.stdout];
    for (const value of Object.values(env.secrets)) {
      for (const form of [value, encodeURIComponent(value), Buffer.from(value).toString('base64')]) {
        for (const h of haystacks) assert.ok(!h.includes(form), `secret form ${form.slice(0, 6)}… leaked`);
      }
    }
    const mode = await hostSsh(
      env.info,
      `stat -c %a stacks/${env.name}/db-client.env stacks/${env.name}/snapshots/*.sql.gz | sort -u`,
    );
    assert.equal(mode.stdout.trim(), '600');
  });
});
