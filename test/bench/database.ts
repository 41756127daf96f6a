/**
 * The database part of `npm run bench`: how long the deploy's snapshot and migration take on a large table.
 * One environment of its own: m1 is deployed (events, venues), `events` is filled with N rows, then m3 is
 * deployed — a verified snapshot of the whole database, then 003 (a column with a default, an index) and 004
 * (rewrites every row, adds a NOT NULL column and an index) — while requests poll the proxy. Then the snapshot
 * is restored (--stop-app) and the table compared with what it was. Times come from the deployment record.
 */
import { hostSsh } from '../harness/host.js';
import { dbPsql, newEnv, pollDuring, type TestEnv } from '../e2e/support.js';
import { phaseSpans, runCliStreaming, teardownEnv } from './scenario.js';

export interface DatabaseBench {
  rows: number;
  seedMs: number;
  tableMb: number;
  deploy: { totalMs: number; snapshotMs?: number; migrateMs?: number; phases: { name: string; ms: number }[] };
  snapshot: { file: string; bytes: number; dumpMs: number };
  migrations: { from?: number; to?: number; ran: number };
  requestsDuringDeploy: { total: number; failed: number };
  restore?: { totalMs: number; restoreMs?: number; safetyMs?: number; exact: boolean };
  verifyMs?: number;
}

const digest = (env: TestEnv) =>
  dbPsql(
    env,
    "SELECT count(*) || ' ' || md5(string_agg(id::text || title || starts_at::text, ',' ORDER BY id)) FROM events",
  );

export async function benchDatabase(rows: number, say: (s: string) => void, keep = false): Promise<DatabaseBench> {
  const env = await newEnv('benchdb', {
    config: (c) => {
      (c.deployment as Record<string, unknown>).verify_timeout = '40s';
      (c.app as { health: Record<string, unknown> }).health.start_timeout = '90s';
      (c.database as Record<string, unknown>).snapshots = { timeout: '20m' };
    },
  });
  try {
    const m1 = await runCliStreaming(env, ['deploy', env.name, '--version', 'm1', '--skip-ci-check']);
    if (m1.code !== 0) throw new Error(`deploy m1 failed (exit ${m1.code}):\n${m1.stderr.slice(-2000)}`);
    say(`  m1 deployed; filling events with ${rows.toLocaleString('en')} rows…`);
    const t0 = Date.now();
    await dbPsql(
      env,
      [
        'INSERT INTO events (title, starts_at, venue_id)',
        "SELECT 'event #' || g, timestamptz '2026-01-01' + g * interval '1 minute', 1 + g % 2",
        `FROM generate_series(1, ${rows}) g; ANALYZE events`,
      ].join(' '),
    );
    const seedMs = Date.now() - t0;
    const tableMb = Number(await dbPsql(env, "SELECT round(pg_total_relation_size('events') / 1048576.0)"));
    const before = await digest(env);
    say(
      `  seeded in ${(seedMs / 1000).toFixed(1)}s (events: ${tableMb} MiB with indexes); ` +
        'deploying m3 (snapshot, then 003 + 004 on every row) while polling the proxy…',
    );

    const poll = pollDuring(env.httpPort, '/version', 50);
    const m3 = await runCliStreaming(env, ['deploy', env.name, '--version', 'm3', '--skip-ci-check']);
    const seen = await poll.stop();
    if (m3.code !== 0) throw new Error(`deploy m3 failed (exit ${m3.code}):\n${m3.stderr.slice(-2000)}`);
    const state = JSON.parse((await hostSsh(env.info, `cat stacks/${env.name}/state.json`)).stdout);
    const rec = state.current;
    const phase = (n: string) => rec.phases.find((p: { name: string }) => p.name === n)?.ms as number | undefined;
    const meta = JSON.parse(
      (await hostSsh(env.info, `cat stacks/${env.name}/snapshots/${rec.snapshot.replace(/\.sql\.gz$/, '.json')}`))
        .stdout,
    );
    const result: DatabaseBench = {
      rows,
      seedMs,
      tableMb,
      deploy: {
        totalMs: m3.endedAt - m3.startedAt,
        snapshotMs: phase('snapshot'),
        migrateMs: phase('migrate'),
        phases: rec.phases,
      },
      snapshot: { file: rec.snapshot, bytes: meta.file_size_bytes, dumpMs: meta.duration_ms },
      migrations: rec.migrations,
      requestsDuringDeploy: { total: seen.total, failed: seen.failures.length },
    };

    const v0 = Date.now();
    const verify = await runCliStreaming(env, ['snapshot', 'verify', env.name, rec.snapshot]);
    result.verifyMs = Date.now() - v0;
    if (verify.code !== 0) throw new Error(`snapshot verify failed:\n${verify.stderr.slice(-2000)}`);

    say('  restoring the pre-migration snapshot (--stop-app)…');
    const restore = await runCliStreaming(env, ['snapshot', 'restore', env.name, rec.snapshot, '--stop-app', '--yes']);
    if (restore.code !== 0) throw new Error(`restore failed (exit ${restore.code}):\n${restore.stderr.slice(-2000)}`);
    const spans = phaseSpans(restore.lines);
    const timing = (n: string) => {
      const sp = spans.find((x) => x.name === n);
      return sp && sp.end - sp.start;
    };
    result.restore = {
      totalMs: restore.endedAt - restore.startedAt,
      restoreMs: timing('restore'),
      safetyMs: timing('safety snapshot'),
      exact: (await digest(env)) === before,
    };
    return result;
  } finally {
    if (!keep) await teardownEnv(env).catch(() => undefined);
  }
}

export function formatDatabaseBench(d: DatabaseBench): string {
  const s = (ms?: number) => (ms === undefined ? '—' : `${(ms / 1000).toFixed(2)}s`);
  return [
    `== database: events with ${d.rows.toLocaleString('en')} rows (${d.tableMb} MiB with indexes; seeded in ${s(d.seedMs)})`,
    `deploy m3: ${s(d.deploy.totalMs)} end to end — snapshot phase ${s(d.deploy.snapshotMs)} ` +
      `(pg_dump + gzip + verification ${s(d.snapshot.dumpMs)}, ${(d.snapshot.bytes / 1048576).toFixed(1)} MiB gzipped), ` +
      `migrate phase ${s(d.deploy.migrateMs)} ` +
      `(${d.migrations.ran} migrations, schema ${d.migrations.from ?? '—'} → ${d.migrations.to ?? '—'})`,
    `requests through the proxy during that deploy: ${d.requestsDuringDeploy.total}, failed ${d.requestsDuringDeploy.failed}`,
    `snapshot verify: ${s(d.verifyMs)}`,
    d.restore
      ? `restore with --stop-app: ${s(d.restore.totalMs)} end to end ` +
        `(safety snapshot ${s(d.restore.safetyMs)}, load + swap ${s(d.restore.restoreMs)}); ` +
        `table after restore equals the pre-deploy one: ${d.restore.exact ? 'yes' : 'NO'}`
      : 'restore: not run',
  ].join('\n');
}
