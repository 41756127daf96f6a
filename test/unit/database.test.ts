import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HealthSchema } from '../../src/config/schema.js';
import { parseDatabaseUrl, parseSchemaVersion, renderDbEnv, sqlIdent, urlForDatabase } from '../../src/engine/database/database.js';
import { judgeHealth, reportedSchemaVersion } from '../../src/engine/release/health.js';
import { migrateArgs, parseMigrationFiles, pendingMigrations } from '../../src/engine/database/migrate.js';
import { judgeRetention, nameTime, parseListing, referencedSnapshots, snapshotName, type SnapshotEntry } from '../../src/engine/database/snapshot.js';
import { emptyState } from '../../src/engine/stack/state.js';
import type { DeploymentRecord } from '../../src/engine/types.js';
import { DeployError } from '../../src/errors.js';

test('DATABASE_URL: the password leaves the URL for PGPASSWORD; golang-migrate parameters stay only for migrate', () => {
  const t = parseDatabaseUrl('postgres://app:s3cr%2Ft%40x@db:5432/togather?sslmode=disable&x-migrations-table=mig', true);
  assert.equal(t.name, 'togather');
  assert.equal(t.password, 's3cr/t@x');
  assert.equal(t.url, 'postgres://app@db:5432/togather?sslmode=disable');
  assert.equal(t.migrateUrl, 'postgres://app@db:5432/togather?sslmode=disable&x-migrations-table=mig');
  assert.ok(!t.url.includes('s3cr') && !t.migrateUrl.includes('s3cr'));
  assert.equal(renderDbEnv(t), 'PGPASSWORD=s3cr/t@x\n');
  assert.equal(urlForDatabase(t, 'postgres'), 'postgres://app@db:5432/postgres?sslmode=disable');
  assert.equal(renderDbEnv(parseDatabaseUrl('postgresql://app@db/x', false)), '');
  for (const bad of [undefined, 'not a url', 'mysql://u:p@h/db', 'postgres://u:p@h/', 'postgres://u:p@h/a;b']) {
    assert.throws(() => parseDatabaseUrl(bad, true), (e: unknown) => e instanceof DeployError && e.kind === 'config' && !e.message.includes('p@h'));
  }
  assert.equal(sqlIdent('we"ird'), '"we""ird"');
});

test('schema_migrations as psql prints it', () => {
  assert.deepEqual(parseSchemaVersion('version=3 dirty=true\n'), { version: 3, dirty: true, table: true });
  assert.deepEqual(parseSchemaVersion('version=none dirty=false'), { version: undefined, dirty: false, table: true });
  assert.deepEqual(parseSchemaVersion('version=absent dirty=false'), { version: undefined, dirty: false, table: false });
  assert.equal(parseSchemaVersion('psql: error'), undefined);
});

test('migration files follow golang-migrate naming; pending = versions above the current one', () => {
  const { ups, problems } = parseMigrationFiles(['001_a.up.sql', '001_a.down.sql', '2_b.up.sql', '010_c.up.sql', 'README.md', '003_x.sql']);
  assert.deepEqual(problems, []);
  assert.deepEqual(ups.map((u) => u.version), [1, 2, 10]);
  assert.deepEqual(pendingMigrations(ups, undefined).map((u) => u.version), [1, 2, 10]);
  assert.deepEqual(pendingMigrations(ups, 2).map((u) => u.version), [10]);
  assert.deepEqual(pendingMigrations(ups, 10), []);
  assert.match(parseMigrationFiles(['1_a.up.sql', '01_b.up.sql']).problems[0]!, /same version 1/);
  assert.deepEqual(migrateArgs(['-path', '{path}', '-database', '{database}', 'up'], '/migrations', 'postgres://u@db/x'), ['-path', '/migrations', '-database', 'postgres://u@db/x', 'up']);
});

test('the health gate compares the migrations check with the schema just migrated to', () => {
  const cfg = HealthSchema.parse({ required_checks: ['database', 'migrations'] });
  const body = (version: unknown) => JSON.stringify({ status: 'healthy', checks: { database: { status: 'pass' }, migrations: { status: 'pass', details: { version, dirty: false } } } });
  assert.equal(judgeHealth(200, body(4), cfg, { schemaVersion: 4 }).ok, true);
  const stale = judgeHealth(200, body(3), cfg, { schemaVersion: 4 });
  assert.equal(stale.ok, false);
  assert.match(stale.reason, /reports schema version 3, but the database was migrated to 4/);
  assert.equal(judgeHealth(200, body(null), cfg, { schemaVersion: 4 }).ok, false);
  assert.equal(judgeHealth(200, body('4'), cfg, { schemaVersion: 4 }).ok, true);
  assert.equal(judgeHealth(200, body(3), cfg).ok, true, 'no expectation (skip-migrations): not compared');
  assert.equal(reportedSchemaVersion({ status: 'pass' }), undefined, 'an app that does not say is not judged on it');
});

test('snapshot names and listing', () => {
  const at = new Date(Date.UTC(2026, 0, 2, 3, 4, 5));
  const name = snapshotName('togather', at, 'abcdef0123456789');
  assert.equal(name, 'togather_20260102_030405_abcdef0.sql.gz');
  assert.equal(nameTime(name), at.getTime());
  const meta = { created_at: '2026-01-02T03:04:05.000Z', retention_until: '2026-01-09T03:04:05.000Z', status: 'verified' };
  const listing = parseListing(
    [`F 100 1767323045 ${name}`, `M ${name} ${JSON.stringify(meta)}`, 'F 5 1 notes.txt', 'F 7 1767400000 togather_20260103_000000_0000000.sql.gz', 'P 1767000000 .partial-01ABC.sql.gz', 'M evil.sql.gz {}'].join('\n'),
    7,
  );
  assert.deepEqual(listing.snapshots.map((s) => s.file), ['togather_20260103_000000_0000000.sql.gz', name]);
  assert.equal(listing.snapshots[1]!.retentionUntil, Date.parse(meta.retention_until));
  assert.equal(listing.snapshots[0]!.retentionUntil, Date.UTC(2026, 0, 3) + 7 * 86_400_000, 'no metadata: the name\'s time + retention');
  assert.deepEqual(listing.partials, [{ file: '.partial-01ABC.sql.gz', mtime: 1767000000 * 1000 }]);
});

test('retention: expired and unprotected go; the newest and those the history names stay', () => {
  const day = 86_400_000;
  const now = Date.UTC(2026, 5, 1);
  const snap = (file: string, ageDays: number, leftDays: number): SnapshotEntry => ({ file, bytes: 1, mtime: 0, createdAt: now - ageDays * day, retentionUntil: now + leftDays * day });
  const all = [snap('a', 30, -23), snap('b', 20, -13), snap('c', 10, -3), snap('d', 2, 5), snap('e', 1, -1)];
  const state = emptyState('prod');
  state.history = [{ snapshot: 'a' } as DeploymentRecord, { snapshot: 'zzz-gone' } as DeploymentRecord];
  const v = judgeRetention(all, referencedSnapshots(state), now);
  assert.deepEqual(v.remove.map((s) => s.file), ['b', 'c']);
  assert.deepEqual(Object.fromEntries(v.keep.map((k) => [k.entry.file, k.why])), { a: 'referenced', d: 'within retention', e: 'newest' });
  assert.deepEqual(judgeRetention([snap('only', 99, -90)], new Set(), now).remove, [], 'a lone expired snapshot is the newest');
});

test('action inputs: the snapshot commands, a snapshot name and stop-app', async () => {
  const { readInputs } = await import('../../src/action/inputs.js');
  const base = { 'INPUT_ENVIRONMENT': 'staging', 'INPUT_SSH-PRIVATE-KEY': 'k', 'INPUT_SSH-KNOWN-HOSTS': 'h' };
  const i = readInputs({ ...base, INPUT_COMMAND: 'snapshot-restore', INPUT_SNAPSHOT: 'togather_20260101_000000_abcdef0.sql.gz', 'INPUT_STOP-APP': 'true', INPUT_CONFIRM: 'staging' });
  assert.equal(i.command, 'snapshot-restore');
  assert.equal(i.snapshot, 'togather_20260101_000000_abcdef0.sql.gz');
  assert.equal(i['stop-app'], true);
  assert.equal(readInputs({ ...base, INPUT_COMMAND: 'snapshot' }).snapshot, '');
  assert.throws(() => readInputs({ ...base, INPUT_COMMAND: 'snapshot-verify', INPUT_SNAPSHOT: '../etc/passwd' }), /snapshot/);
});
