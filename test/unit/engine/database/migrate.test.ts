import assert from 'node:assert/strict';
import { test } from 'node:test';
import { migrateArgs, parseMigrationFiles, pendingMigrations } from '../../../../src/engine/database/migrate.js';

test('migration files follow golang-migrate naming; pending = versions above the current one', () => {
  const { ups, problems } = parseMigrationFiles([
    '001_a.up.sql',
    '001_a.down.sql',
    '2_b.up.sql',
    '010_c.up.sql',
    'README.md',
    '003_x.sql',
  ]);
  assert.deepEqual(problems, []);
  assert.deepEqual(
    ups.map((u) => u.version),
    [1, 2, 10],
  );
  assert.deepEqual(
    pendingMigrations(ups, undefined).map((u) => u.version),
    [1, 2, 10],
  );
  assert.deepEqual(
    pendingMigrations(ups, 2).map((u) => u.version),
    [10],
  );
  assert.deepEqual(pendingMigrations(ups, 10), []);
  assert.match(parseMigrationFiles(['1_a.up.sql', '01_b.up.sql']).problems[0]!, /same version 1/);
  assert.deepEqual(
    migrateArgs(['-path', '{path}', '-database', '{database}', 'up'], '/migrations', 'postgres://u@db/x'),
    ['-path', '/migrations', '-database', 'postgres://u@db/x', 'up'],
  );
});
