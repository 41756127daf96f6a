import { DeployError, describeError } from '../../errors.js';
import type { EngineContext } from '../context.js';
import {
  dbEnvPath,
  extractMigrationsCmd,
  holdCreateCmd,
  holdRemoveCmd,
  migrateArgs,
  runMigrateCmd,
} from './commands.js';
import { openDb, readSchemaVersion, stackNetwork, type DbSession, type SchemaVersion } from './database.js';
import type { Layout } from '../stack/layout.js';
import type { Phases } from '../phases.js';
import { cleanupSnapshots, createSnapshot, formatBytes, listSnapshots, type SnapshotMeta } from './snapshot.js';
import { stillServing } from '../stack/colours.js';
import type { Colour, DeploymentRecord, EnvironmentState } from '../types.js';

/*
 * Migrations in the deploy, between provisioning and the start of the new colour (the old colour serves all
 * along, so migrations must be backward compatible with it: docs/migrations.md).
 *
 * Where the files come from: the release image itself. The deployer creates (never starts) a container of the
 * release image and copies its migrations directory out with `docker cp` into migrations/<sha>/ on the host,
 * which the stock migrate image then gets as a read-only bind mount. Nothing of the release image runs, so
 * it works for images without a shell; the files that run are exactly the ones the release's binary was
 * built against; the migrate image stays the unmodified upstream one; and the copy on the host shows an
 * operator precisely what ran.
 */

export interface MigrationFile {
  version: number;
  name: string;
  file: string;
}

const FILE_RE = /^(\d+)_(.+)\.(up|down)\.sql$/;

/** golang-migrate's file naming: NNN_name.up.sql / .down.sql; a version may appear once per direction */
export function parseMigrationFiles(names: string[]): { ups: MigrationFile[]; problems: string[] } {
  const ups = new Map<number, MigrationFile>();
  const problems: string[] = [];
  for (const file of names) {
    const m = FILE_RE.exec(file);
    if (!m || m[3] !== 'up') continue;
    const version = Number(m[1]);
    if (!Number.isSafeInteger(version)) problems.push(`${file}: version too large`);
    else if (ups.has(version)) problems.push(`${file} and ${ups.get(version)!.file} have the same version ${version}`);
    else ups.set(version, { version, name: m[2]!, file });
  }
  return { ups: [...ups.values()].sort((a, b) => a.version - b.version), problems };
}

/** what `migrate up` would run: every version above the current one (all of them when nothing ran yet) */
export function pendingMigrations(ups: MigrationFile[], current: number | undefined): MigrationFile[] {
  return ups.filter((u) => current === undefined || u.version > current);
}

export { migrateArgs };

/** Takes the hold on the release image (see HOLD in commands.ts); best effort: without it, only the protection is lost. */
export async function holdRelease(ctx: EngineContext, layout: Layout, image: string): Promise<void> {
  const r = await ctx.host.run(holdCreateCmd(layout, image), { check: false, timeoutMs: 60_000 });
  if (r.code !== 0)
    ctx.reporter.warn(
      `could not create the container that protects ${image} from image pruning: ${ctx.redactor.redact(r.stderr.trim())}`,
    );
}

/** removes the hold container; the new colour's own container protects the image from now on */
export async function releaseHold(ctx: EngineContext, layout: Layout): Promise<void> {
  await ctx.host.run(holdRemoveCmd(layout), { check: false, timeoutMs: 30_000 });
}

export function migrationsDir(layout: Layout, sha: string): string {
  return layout.path('migrations', sha);
}

/** Copies the release's migrations out of its image; undefined when the image has none at that path. */
export async function extractMigrations(
  ctx: EngineContext,
  layout: Layout,
  image: string,
  sha: string,
): Promise<{ dir: string; ups: MigrationFile[] } | undefined> {
  const dir = migrationsDir(layout, sha);
  const src = ctx.cfg.config.database.migrations.path.replace(/\/+$/, '') || '/';
  const r = await ctx.host.run(extractMigrationsCmd(layout, dir, image, src, 10), { check: false, timeoutMs: 120_000 });
  if (r.code === 3) return undefined;
  if (r.code !== 0)
    throw new DeployError(
      'migration',
      `could not copy the migrations (${src}) out of ${image} (exit ${r.code}): ${ctx.redactor.redact(r.stderr.trim())}`,
    );
  const { ups, problems } = parseMigrationFiles(
    r.stdout
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean),
  );
  if (problems.length)
    throw new DeployError(
      'migration',
      `the release's migrations are not usable:\n  - ${problems.join('\n  - ')}`,
      'fix the migration files in the release; nothing was run',
    );
  return { dir, ups };
}

export interface MigrateRun {
  code: number;
  output: string;
  durationMs: number;
}

export async function runMigrateContainer(
  ctx: EngineContext,
  layout: Layout,
  db: DbSession,
  dir: string,
  network: string,
  args: string[],
): Promise<MigrateRun> {
  const m = ctx.cfg.config.database.migrations;
  const t0 = ctx.clock.now();
  const r = await ctx.host.run(runMigrateCmd(layout, { dir, network, image: m.image, args, timeoutMs: m.timeout }), {
    check: false,
    timeoutMs: m.timeout + 60_000,
  });
  return {
    code: r.code,
    output: ctx.redactor.redact(`${r.stdout}\n${r.stderr}`.trim()),
    durationMs: ctx.clock.now() - t0,
  };
}

/** the restore command an operator runs; printed, never run by the deployer */
export function restoreCommand(ctx: EngineContext, file: string): string {
  return `togather-deploy snapshot restore ${ctx.cfg.environment} ${file} --stop-app`;
}

function restoreHint(ctx: EngineContext, file: string): string {
  return (
    `${restoreCommand(ctx, file)}   (add your usual --config/--identity/--known-hosts; it asks for confirmation, or --yes). ` +
    `From GitHub Actions: command: snapshot-restore, snapshot: ${file}, stop-app: true, confirm: ${ctx.cfg.environment}`
  );
}

function forceCommand(
  ctx: EngineContext,
  layout: Layout,
  db: DbSession,
  network: string,
  dir: string,
  version: number,
): string {
  const m = ctx.cfg.config.database.migrations;
  return (
    `docker run --rm --network ${network} --env-file ${dbEnvPath(layout)} -v "$(cd ${dir} && pwd):/migrations:ro" ` +
    `${m.image} -path /migrations -database '${db.target.migrateUrl}' force ${version}`
  );
}

export interface DatabaseStep {
  /** the schema version the new colour must report (undefined: not known, not checked) */
  schemaVersion?: number;
  snapshot?: SnapshotMeta;
}

export interface DatabaseStepInput {
  record: DeploymentRecord;
  state: EnvironmentState;
  image: string;
  sha: string;
  skip: boolean;
  liveVersion?: string;
  /** the colour serving now; undefined when none is */
  live?: Colour;
}

/**
 * The deploy's database step: read schema_migrations, take a verified snapshot when migrations are pending
 * (or always, per database.snapshots.when), run `migrate up` in a one-off container, read the version again.
 * Fills record.snapshot and record.migrations. Never restores anything by itself.
 */
export async function databaseStep(
  ctx: EngineContext,
  layout: Layout,
  phases: Phases,
  input: DatabaseStepInput,
): Promise<DatabaseStep> {
  const { record } = input;
  if (input.skip) {
    ctx.reporter.warn('migrations and the snapshot before them are skipped (skip-migrations); recorded in the history');
    ctx.hostLog?.add('migrations.skipped', {});
    return {};
  }
  const found = await phases.run('migrations: read', () => extractMigrations(ctx, layout, input.image, input.sha));
  const policy = ctx.cfg.config.database.snapshots.when;
  if (!found && policy === 'pending-migrations') {
    // nothing to run, nothing to protect: the database is not touched at all
    ctx.reporter.warn(
      `the release image has no ${ctx.cfg.config.database.migrations.path}: no migrations to run, no snapshot`,
    );
    return {};
  }
  const db = await openDb(ctx, layout);
  let net = db.network;
  const network = async () => (net ??= await stackNetwork(ctx, layout));

  // the database is first touched by the snapshot step: if it cannot be read, no snapshot, nothing migrated
  let before: SchemaVersion | undefined;
  let snapshot: SnapshotMeta | undefined;
  let pending: ReturnType<typeof pendingMigrations> = [];
  await phases.run('snapshot', async () => {
    before = await readSchemaVersion(ctx, db, 'snapshot');
    if (before.dirty) {
      const latest = (await listSnapshots(ctx, layout)).snapshots[0];
      const which = latest ? `: ${restoreHint(ctx, latest.file)}` : ' (togather-deploy snapshot list shows them)';
      throw new DeployError(
        'migration',
        `schema_migrations is dirty at version ${before.version}: an earlier migration failed midway and the schema is in an unknown state. ` +
          `Nothing was run; ${stillServing(input.live)}.`,
        [
          `either restore the snapshot taken before that migration${which}`,
          '  or repair the schema by hand, then mark the version as clean on the host:',
          `    ${forceCommand(ctx, layout, db, await network(), migrationsDir(layout, input.sha), before.version ?? 0)}` +
            '   (use the version the schema really is at)',
          '  then deploy again',
        ].join('\n'),
      );
    }
    if (!found) {
      ctx.reporter.warn(`the release image has no ${ctx.cfg.config.database.migrations.path}: no migrations to run`);
    } else {
      pending = pendingMigrations(found.ups, before.version);
      const newest = found.ups.at(-1)?.version;
      if (
        before.version !== undefined &&
        !found.ups.some((u) => u.version === before!.version) &&
        (newest === undefined || before.version > newest)
      ) {
        ctx.reporter.warn(
          `the database is at schema version ${before.version}, newer than this release's newest migration (${newest ?? 'none'}): ` +
            'nothing to migrate; the release must cope with the newer schema',
        );
        pending = [];
      }
    }
    if (pending.length === 0 && policy === 'pending-migrations') {
      ctx.reporter.info(
        `schema at ${before.version ?? 'no version'}; no pending migration, so no snapshot (database.snapshots.when: pending-migrations)`,
      );
      return;
    }
    snapshot = await createSnapshot(ctx, layout, db, {
      reason: 'pre-migration',
      gitCommit: input.sha,
      liveVersion: input.liveVersion,
      deploymentId: record.id,
      schema: before,
    });
    record.snapshot = snapshot.file;
    ctx.hostLog?.add('snapshot', {
      file: snapshot.file,
      bytes: snapshot.file_size_bytes,
      sha256: snapshot.sha256,
      ms: snapshot.duration_ms,
      pre_migration_version: snapshot.pre_migration_version,
    });
    ctx.reporter.info(
      `snapshot ${snapshot.file} (${formatBytes(snapshot.file_size_bytes)}, verified) in ${(snapshot.duration_ms / 1000).toFixed(1)}s`,
    );
    try {
      const c = await cleanupSnapshots(ctx, layout, input.state, [snapshot.file]);
      if (c.removed.length)
        ctx.reporter.info(`retention removed ${c.removed.length} expired snapshot(s): ${c.removed.join(', ')}`);
    } catch (e) {
      ctx.reporter.warn(`snapshot retention cleanup failed (the deploy goes on): ${describeError(e)}`);
    }
  });
  const from = before!.version;
  if (!found || pending.length === 0) {
    if (found) record.migrations = { from, to: from, ran: 0 };
    return { schemaVersion: from, snapshot };
  }

  const target = pending.at(-1)!.version;
  const m = ctx.cfg.config.database.migrations;
  const run = await phases.run('migrate', async () => {
    ctx.reporter.info(
      `migrating ${from ?? 'an empty schema'} → ${target}: ${pending.map((p) => `${p.version}_${p.name}`).join(', ')}`,
    );
    return runMigrateContainer(
      ctx,
      layout,
      db,
      found.dir,
      await network(),
      migrateArgs(m.command, '/migrations', db.target.migrateUrl),
    );
  });
  let after: SchemaVersion | undefined;
  try {
    after = await readSchemaVersion(ctx, db);
  } catch {
    /* reported below with the migrate output */
  }
  const to = after?.version;
  const ran = found.ups.filter(
    (u) => u.version > (from ?? -1) && to !== undefined && (after!.dirty ? u.version < to : u.version <= to),
  ).length;
  record.migrations = { from, to, ran, ...(after?.dirty ? { dirty: true } : {}) };
  ctx.hostLog?.add('migrations', {
    from: from ?? null,
    to: to ?? null,
    ran,
    dirty: after?.dirty ?? null,
    exit: run.code,
    ms: run.durationMs,
    output: run.output.slice(-4000),
  });
  const ok = run.code === 0 && after !== undefined && !after.dirty && to === target;
  if (!ok) {
    const force = forceCommand(ctx, layout, db, await network(), found.dir, from ?? 0);
    const why =
      run.code === 124
        ? `the migrate container ran longer than database.migrations.timeout (${Math.round(m.timeout / 1000)}s) and was removed`
        : run.code !== 0
          ? `migrate exited with ${run.code}`
          : `migrate exited 0 but the schema is at ${to ?? 'no version'}${after?.dirty ? ' (dirty)' : ''}, not ${target}`;
    const state = after
      ? `The database is now at version ${to ?? 'none'}` +
        `${after.dirty ? ' and DIRTY (that migration stopped midway)' : ''}; ${ran} migration(s) completed.`
      : 'The schema version could not be read afterwards.';
    const tail = run.output
      .split('\n')
      .filter(Boolean)
      .slice(-8)
      .map((l) => `    ${l.slice(0, 400)}`)
      .join('\n');
    throw new DeployError(
      'migration',
      `migrations failed: ${why}. ${state} The new colour was not started; ${stillServing(input.live)}.` +
        `${tail ? `\n  migrate output:\n${tail}` : ''}${snapshot ? `\n  snapshot taken before migrating: ${snapshot.file}` : ''}`,
      snapshot
        ? `to put the database back exactly as it was before this deploy: ${restoreHint(ctx, snapshot.file)}\n` +
            `  nothing is restored automatically; you may instead fix the schema by hand and mark it clean: ${force}`
        : `fix the schema by hand and mark it clean: ${force}`,
    );
  }
  ctx.reporter.info(`schema ${from ?? 'empty'} → ${to}: ${ran} migration(s) in ${(run.durationMs / 1000).toFixed(1)}s`);
  return { schemaVersion: to, snapshot };
}

export function describeDatabasePlan(ctx: EngineContext, skip: boolean): string[] {
  if (skip) return ['skip the migrations and the snapshot before them (skip-migrations; recorded)'];
  const d = ctx.cfg.config.database;
  const snap =
    d.snapshots.when === 'every-deploy' ? 'snapshot the database' : 'if migrations are pending: snapshot the database';
  return [
    `copy ${d.migrations.path} out of the release image; read schema_migrations`,
    `${snap} (pg_dump, verified; keep ${d.snapshots.retention_days} days), then run ${d.migrations.image} ${d.migrations.command.join(' ')}`,
  ];
}
