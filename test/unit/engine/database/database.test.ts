import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  parseDatabaseUrl,
  parseSchemaVersion,
  renderDbEnv,
  sqlIdent,
  urlForDatabase,
} from '../../../../src/engine/database/database.js';
import { DeployError } from '../../../../src/errors.js';

test('DATABASE_URL: the password leaves the URL for PGPASSWORD; golang-migrate parameters stay only for migrate', () => {
  const t = parseDatabaseUrl(
    'postgres://app:s3cr%2Ft%40x@db:5432/togather?sslmode=disable&x-migrations-table=mig',
    true,
  );
  assert.equal(t.name, 'togather');
  assert.equal(t.password, 's3cr/t@x');
  assert.equal(t.url, 'postgres://app@db:5432/togather?sslmode=disable');
  assert.equal(t.migrateUrl, 'postgres://app@db:5432/togather?sslmode=disable&x-migrations-table=mig');
  assert.ok(!t.url.includes('s3cr') && !t.migrateUrl.includes('s3cr'));
  assert.equal(renderDbEnv(t), 'PGPASSWORD=s3cr/t@x\n');
  assert.equal(urlForDatabase(t, 'postgres'), 'postgres://app@db:5432/postgres?sslmode=disable');
  assert.equal(renderDbEnv(parseDatabaseUrl('postgresql://app@db/x', false)), '');
  for (const bad of [undefined, 'not a url', 'mysql://u:p@h/db', 'postgres://u:p@h/', 'postgres://u:p@h/a;b']) {
    assert.throws(
      () => parseDatabaseUrl(bad, true),
      (e: unknown) => e instanceof DeployError && e.kind === 'config' && !e.message.includes('p@h'),
    );
  }
  assert.equal(sqlIdent('we"ird'), '"we""ird"');
});

test('schema_migrations as psql prints it', () => {
  assert.deepEqual(parseSchemaVersion('version=3 dirty=true\n'), { version: 3, dirty: true, table: true });
  assert.deepEqual(parseSchemaVersion('version=none dirty=false'), { version: undefined, dirty: false, table: true });
  assert.deepEqual(parseSchemaVersion('version=absent dirty=false'), {
    version: undefined,
    dirty: false,
    table: false,
  });
  assert.equal(parseSchemaVersion('psql: error'), undefined);
});
