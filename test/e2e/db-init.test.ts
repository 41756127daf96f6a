/**
 * The database's first start on the real PostGIS image: the project's own docker/db-init creates the extensions
 * the Togather server needs, a first deploy with migrations never races an init script that is still running,
 * and an init script that fails makes the first deploy fail with the script's own message.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { hostDocker, hostSsh } from '../harness/host.js';
import { dbPsql, newEnv, ROOT } from './support.js';

/** an init directory: the project's real 10-extensions.sql plus the given extra files */
function initDir(extra: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'tgd-db-init-'));
  copyFileSync(join(ROOT, 'docker/db-init/10-extensions.sql'), join(dir, '10-extensions.sql'));
  for (const [name, text] of Object.entries(extra)) writeFileSync(join(dir, name), text);
  return dir;
}

const withInitDir = (dir: string) => (c: Record<string, unknown>) => {
  (c.database as Record<string, unknown>).init_dir = dir;
};

describe('the database at its first start', { timeout: 600_000 }, () => {
  test('docker/db-init creates postgis, vector and pg_trgm in a freshly deployed environment', async () => {
    const env = await newEnv('dbinit');
    const r = await env.cli(['deploy', env.name, '--version', 'v1', '--skip-ci-check']);
    assert.equal(r.code, 0, r.stderr);
    const exts = (await dbPsql(env, "SELECT extname || ' ' || extversion FROM pg_extension ORDER BY 1")).split('\n');
    assert.deepEqual(
      exts.map((e) => e.split(' ')[0]),
      ['pg_trgm', 'plpgsql', 'postgis', 'vector'],
      exts.join(', '),
    );
    // the database's user reads the scripts through the bind mount: the directory is not the deploy user's alone
    assert.match((await hostSsh(env.info, `stat -c %a stacks/${env.name}/db-init`)).stdout.trim(), /^755$/);
    assert.equal(
      await dbPsql(
        env,
        [
          'SELECT ST_AsText(ST_SetSRID(ST_MakePoint(1, 2), 4326)::geography)',
          "|| ' ' || ('[1,2]'::vector <-> '[1,3]'::vector) || ' ' || similarity('togather', 'together')",
        ].join(' '),
      ),
      'POINT(1 2) 1 0.5',
    );
  });

  test('a slow init script: the first deploy with migrations waits until the database accepts the app over TCP', async () => {
    // 6 s of init: the temporary server answers on its unix socket all along, but not on TCP
    const env = await newEnv('dbslow', {
      config: withInitDir(initDir({ '20-slow.sh': 'echo "slow init: 6 s"; sleep 6\n' })),
    });
    const r = await env.cli(['deploy', env.name, '--version', 'm1', '--skip-ci-check']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await dbPsql(env, 'SELECT version::text || dirty::text FROM schema_migrations'), '2false');
    assert.match(
      (await hostDocker(env.info, ['logs', `${env.stackPrefix}-db`])).stdout,
      /slow init: 6 s/,
      'the slow script ran',
    );
  });

  test('an init script that fails makes the first deploy fail with its message; nothing is switched', async () => {
    const env = await newEnv('dbfail', {
      config: withInitDir(initDir({ '20-broken.sql': 'SELECT togather_no_such_function(1);\n' })),
    });
    const r = await env.cli(['deploy', env.name, '--version', 'v1', '--skip-ci-check']);
    assert.notEqual(r.code, 0, r.stderr);
    assert.match(r.stderr, /init scripts failed at its first start: .*togather_no_such_function/);
    assert.match(r.stderr, /docker volume rm tg-[a-z0-9]+_db-data/);
    assert.equal((await env.get('/version').catch(() => ({ status: 0 }))).status === 200, false, 'nothing serves');
  });
});
