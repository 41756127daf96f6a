import { DeployError, describeError } from '../../errors.js';
import { resumeAppCmd } from '../stack/commands.js';
import { inspectStack, liveColour, setFlag, stopColour } from '../stack/colours.js';
import type { EngineContext } from '../context.js';
import { openDb, readSchemaVersion } from '../database/database.js';
import { healthGate } from '../release/health.js';
import type { Layout } from '../stack/layout.js';
import { restoreCommand } from '../database/migrate.js';
import type { Phases } from '../phases.js';
import {
  cleanupSnapshots,
  createSnapshot,
  describeSnapshot,
  formatBytes,
  listSnapshots,
  referencedSnapshots,
  restoreInto,
  SNAPSHOT_NAME_RE,
  verifySnapshot,
  type SnapshotEntry,
  type SnapshotMeta,
  type VerifyResult,
} from '../database/snapshot.js';
import { readState } from '../stack/state.js';
import { settleMs } from '../release/switch.js';
import type { Colour, EnvironmentState, OperationReport } from '../types.js';
import { runOperation, type Operation } from './operation.js';

export const SNAPSHOT_SUBCOMMANDS = ['create', 'list', 'verify', 'cleanup', 'restore'] as const;
export type SnapshotSub = (typeof SNAPSHOT_SUBCOMMANDS)[number];

export interface SnapshotRequest {
  sub: SnapshotSub;
  /** verify/restore: a snapshot file name (verify without one checks them all) */
  file?: string;
  /** restore: stop the app for the restore (required while it serves) */
  stopApp?: boolean;
  /** restore: the operator confirmed (CLI --yes, action confirm = environment name) */
  confirmed?: boolean;
  /** restore: ask interactively when not confirmed (CLI on a terminal) */
  ask?: (question: string) => Promise<boolean>;
}

export interface SnapshotOutcome {
  report: OperationReport;
  /** what the adapters print */
  text: string;
  /** machine-readable result (--json) */
  data: unknown;
}

export async function snapshotCommand(ctx: EngineContext, req: SnapshotRequest): Promise<SnapshotOutcome> {
  if (req.file !== undefined && !SNAPSHOT_NAME_RE.test(req.file)) {
    throw new DeployError(
      'config',
      `"${req.file}" is not a snapshot name (DATABASE_YYYYMMDD_HHMMSS_SHA7.sql.gz)`,
      'see `togather-deploy snapshot list`',
    );
  }
  if (req.sub === 'restore' && !req.file)
    throw new DeployError(
      'config',
      'snapshot restore needs the snapshot file name',
      'pick one from `togather-deploy snapshot list`',
    );
  return runOperation(
    ctx,
    'snapshot',
    async (op) => {
      await op.connect();
      const done = outcome(op);
      if (req.sub === 'list') return list(ctx, op, done);
      if (req.sub === 'verify') return verify(ctx, op, req, done);
      // the rest changes the host: under the environment's lock, like a deploy; a dry run changes nothing, so it
      // neither waits for a deploy's lock nor leaves a log on the host
      if (!ctx.dryRun) await op.takeLock(`snapshot ${req.sub}`);
      op.event(`snapshot.${req.sub}.started`, { actor: ctx.actor, file: req.file ?? null });
      const state = await readState(ctx, op.layout);
      if (req.sub === 'cleanup') return cleanup(ctx, op, state, done);
      if (req.sub === 'create') return create(ctx, op, state, done);
      return restore(ctx, op, req, state, done);
    },
    `snapshot.${req.sub}`,
  );
}

type Done = (ok: boolean, message: string, text: string, data: unknown) => SnapshotOutcome;

function outcome(op: Operation): Done {
  return (ok, message, text, data) => ({
    report: op.report({ operation: 'snapshot', ok, message, url: undefined }),
    text,
    data,
  });
}

async function list(ctx: EngineContext, op: Operation, done: Done): Promise<SnapshotOutcome> {
  const [listing, state] = await Promise.all([listSnapshots(ctx, op.layout), readState(ctx, op.layout)]);
  const refs = referencedSnapshots(state);
  const rows = listing.snapshots.map((s) => `  ${describeSnapshot(s)}${refs.has(s.file) ? '  [in history]' : ''}`);
  const text = listing.snapshots.length
    ? `snapshots in ${listing.dir} (newest first):\n${rows.join('\n')}`
    : `no snapshots in ${listing.dir}`;
  const data = { dir: listing.dir, snapshots: listing.snapshots.map((s) => ({ ...s, referenced: refs.has(s.file) })) };
  return done(true, `${listing.snapshots.length} snapshot(s)`, text, data);
}

async function verify(ctx: EngineContext, op: Operation, req: SnapshotRequest, done: Done): Promise<SnapshotOutcome> {
  const listing = await listSnapshots(ctx, op.layout);
  const chosen = req.file ? listing.snapshots.filter((s) => s.file === req.file) : listing.snapshots;
  if (req.file && !chosen.length) throw new DeployError('snapshot', `no snapshot ${req.file} in ${listing.dir}`);
  const results: VerifyResult[] = [];
  for (const s of chosen) results.push(await op.phase(`verify ${s.file}`, () => verifySnapshot(ctx, op.layout, s)));
  const bad = results.filter((r) => !r.ok);
  const line = (r: VerifyResult) =>
    `  ${r.ok ? 'ok     ' : 'FAILED '} ${r.file}${r.ok ? '' : `: ${r.problems.join('; ')}`}`;
  const text = results.map(line).join('\n') || `no snapshots in ${listing.dir}`;
  if (bad.length) {
    const message = `${bad.length} of ${results.length} snapshot(s) failed verification:\n${text}`;
    throw new DeployError(
      'snapshot',
      message,
      'do not rely on the failed ones; take a fresh snapshot (snapshot create)',
    );
  }
  return done(true, `${results.length} snapshot(s) verified`, text, results);
}

async function cleanup(
  ctx: EngineContext,
  op: Operation,
  state: EnvironmentState,
  done: Done,
): Promise<SnapshotOutcome> {
  const c = await op.phase('cleanup', () => cleanupSnapshots(ctx, op.layout, state));
  op.event('snapshot.cleanup', { removed: c.removed, partials: c.partials, dry_run: ctx.dryRun });
  const verb = ctx.dryRun ? 'would remove' : 'removed';
  const text = [
    `${verb} ${c.removed.length} expired snapshot(s)${c.removed.length ? `: ${c.removed.join(', ')}` : ''}`,
    ...(c.partials.length ? [`${verb} ${c.partials.length} leftover partial file(s)`] : []),
    ...c.kept.map((k) => `  kept ${k.file} (${k.why})`),
  ].join('\n');
  return done(true, `${verb} ${c.removed.length} snapshot(s)`, text, c);
}

async function create(
  ctx: EngineContext,
  op: Operation,
  state: EnvironmentState,
  done: Done,
): Promise<SnapshotOutcome> {
  if (ctx.dryRun)
    return done(
      true,
      'dry run: nothing was changed',
      'would take a snapshot (pg_dump, verified) and apply retention',
      {},
    );
  const db = await openDb(ctx, op.layout);
  const live = state.current?.version;
  const options = { reason: 'manual' as const, liveVersion: live, gitCommit: live, deploymentId: op.id };
  const meta = await op.phase('snapshot', () => createSnapshot(ctx, op.layout, db, options));
  op.event('snapshot', { file: meta.file, bytes: meta.file_size_bytes, sha256: meta.sha256, ms: meta.duration_ms });
  const c = await op.phase('cleanup', () => cleanupSnapshots(ctx, op.layout, state, [meta.file]));
  const took = `${formatBytes(meta.file_size_bytes)}, verified, in ${(meta.duration_ms / 1000).toFixed(1)}s (schema ${meta.pre_migration_version ?? 'none'})`;
  const text =
    `snapshot ${meta.file}: ${took}; kept until ${meta.retention_until.slice(0, 10)}` +
    `${c.removed.length ? `\nretention removed: ${c.removed.join(', ')}` : ''}`;
  return done(true, `snapshot ${meta.file} taken`, text, { snapshot: meta, removed: c.removed });
}

/**
 * Restore: confirmation, then — so that no write is lost silently — the app is taken out of the proxy and
 * stopped (clients get 503 meanwhile instead of writing into a database about to be replaced), a safety
 * snapshot of the current database is taken, the chosen snapshot is swapped in, and the app that served is
 * started again and put back behind the proxy once healthy. While an app serves, it refuses without stopApp.
 */
async function restore(
  ctx: EngineContext,
  op: Operation,
  req: SnapshotRequest,
  state: EnvironmentState,
  done: Done,
): Promise<SnapshotOutcome> {
  const { layout, phases, id } = op;
  const liveVersion = state.current?.version;
  const listing = await listSnapshots(ctx, layout);
  const entry = listing.snapshots.find((s) => s.file === req.file);
  if (!entry)
    throw new DeployError(
      'snapshot',
      `no snapshot ${req.file} in ${listing.dir}`,
      'see `togather-deploy snapshot list`',
    );
  const check = await phases.run('verify', () => verifySnapshot(ctx, layout, entry));
  if (!check.ok)
    throw new DeployError(
      'snapshot',
      `${entry.file} failed verification: ${check.problems.join('; ')}; nothing was restored`,
    );

  const stack = await inspectStack(ctx, layout);
  const live = liveColour(stack, state.current?.colour);
  const running = (['blue', 'green'] as const).filter(
    (c) => stack[c].app === 'running' || stack[c].app === 'restarting',
  );
  const effect = running.length
    ? `the app (${running.join(' and ')}${live ? `, ${live} serving` : ''}) is taken out of the proxy and stopped for the restore ` +
      '— requests get 503 until it is back — so that no write lands in the database being replaced; ' +
      'a safety snapshot of the current database is taken first; ' +
      `afterwards ${live ? `${live} is started again and put back behind the proxy once healthy` : 'the stopped app is left stopped'}`
    : 'no app is running; a safety snapshot of the current database is taken first';
  ctx.reporter.warn(
    `restoring ${entry.file} (${describeSnapshot(entry)}) into database ${ctx.cfg.environment}: ${effect}. ` +
      'Changes made since the snapshot was taken will be gone from the live database (they stay in the safety snapshot).',
  );
  if (running.length && !req.stopApp) {
    throw new DeployError(
      'refused',
      `the app is running (${running.join(', ')}): restoring under it would silently lose the writes it makes meanwhile; nothing was changed`,
      `run it again with --stop-app (action: stop-app: true) to stop the app for the restore and bring it back afterwards: ${restoreCommand(ctx, entry.file)}`,
    );
  }
  if (ctx.dryRun) return done(true, 'dry run: nothing was changed', `would restore ${entry.file}: ${effect}`, {});
  const ok =
    req.confirmed || (req.ask ? await req.ask(`restore ${entry.file} into ${ctx.cfg.environment}? [y/N] `) : false);
  if (!ok)
    throw new DeployError(
      'refused',
      `restoring ${entry.file} needs confirmation; nothing was changed`,
      `confirm with --yes (CLI) or confirm: ${ctx.cfg.environment} (action)`,
    );

  const db = await openDb(ctx, layout);
  // stop writers first: the gate flag off (the proxy answers 503 instead of routing), then the app
  for (const c of running) await setFlag(ctx, layout, c, false);
  if (running.length) await ctx.clock.sleep(settleMs(ctx));
  for (const c of running)
    await phases.run(`stop ${c}`, () => stopColour(ctx, layout, c, ctx.cfg.config.deployment.drain_timeout));
  let safety: SnapshotMeta | undefined;
  let restoredVersion: number | undefined;
  try {
    safety = await phases.run('safety snapshot', () =>
      createSnapshot(ctx, layout, db, { reason: 'pre-restore', liveVersion, gitCommit: liveVersion, deploymentId: id }),
    );
    ctx.reporter.info(`safety snapshot ${safety.file} (${formatBytes(safety.file_size_bytes)}, verified)`);
    op.event('snapshot', { file: safety.file, reason: 'pre-restore', bytes: safety.file_size_bytes });
    await phases.run('restore', () => restoreInto(ctx, layout, db, entry));
    const v = await readSchemaVersion(ctx, db, 'snapshot');
    restoredVersion = v.version;
    op.event('snapshot.restored', {
      file: entry.file,
      safety: safety.file,
      schema_version: v.version ?? null,
      dirty: v.dirty,
    });
  } catch (e) {
    // the database is unchanged (the restore swaps only after a complete load): the app can come back as it was
    if (live)
      await bringBack(ctx, layout, phases, live, liveVersion, undefined).catch((w: unknown) =>
        ctx.reporter.error(`bringing ${live} back failed: ${describeError(w)}`),
      );
    throw e;
  }
  if (live) await bringBack(ctx, layout, phases, live, liveVersion, restoredVersion);
  const text = [
    `restored ${entry.file} into database ${db.target.name} (schema ${restoredVersion ?? 'none'})`,
    `safety snapshot of what was replaced: ${safety.file}`,
    live
      ? `${live} serves again`
      : running.length
        ? `the app (${running.join(', ')}) was stopped and left stopped: deploy or start it`
        : 'no app was running',
  ].join('\n');
  return done(true, `restored ${entry.file}`, text, {
    restored: entry.file,
    safety: safety.file,
    schema_version: restoredVersion ?? null,
  });
}

async function bringBack(
  ctx: EngineContext,
  layout: Layout,
  phases: Phases,
  colour: Colour,
  sha: string | undefined,
  schemaVersion: number | undefined,
): Promise<void> {
  await phases.run(`start ${colour}`, async () => {
    const r = await ctx.host.run(resumeAppCmd(layout, colour), { check: false, timeoutMs: 60_000 });
    if (r.code !== 0)
      throw new DeployError(
        'health',
        `could not start ${layout.app(colour)} again: ${ctx.redactor.redact(r.stderr.trim())}`,
      );
  });
  try {
    await phases.run('health gate', () => healthGate(ctx, layout, colour, sha ?? '', { schemaVersion }));
  } catch (e) {
    throw new DeployError(
      'health',
      `the database was restored, but ${colour} did not come back healthy, so it stays out of the proxy: ${describeError(e)}`,
      'deploy a version that matches the restored schema, or roll back',
    );
  }
  await setFlag(ctx, layout, colour, true);
  await ctx.clock.sleep(settleMs(ctx));
}

export type { SnapshotEntry };
