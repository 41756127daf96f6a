import { DeployError, describeError } from '../../errors.js';
import { resumeAppCmd } from '../stack/commands.js';
import { liveColour, setFlag } from '../stack/colours.js';
import { targetFor } from './target.js';
import type { EngineContext } from '../context.js';
import { openDb, readSchemaVersion } from '../database/database.js';
import { alert } from '../observe/notify.js';
import type { Layout } from '../stack/layout.js';
import { restoreCommand } from '../database/migrate.js';
import {
  cleanupOffsite,
  copyOffsite,
  decryptionKeys,
  fetchOffsite,
  listOffsite,
  offsiteOf,
  type OffsiteCleanup,
  type OffsiteListing,
} from '../database/offsite.js';
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

export const SNAPSHOT_SUBCOMMANDS = ['create', 'list', 'verify', 'cleanup', 'restore', 'copy', 'check'] as const;
export type SnapshotSub = (typeof SNAPSHOT_SUBCOMMANDS)[number];

export interface SnapshotRequest {
  sub: SnapshotSub;
  /** verify/restore/copy: a snapshot file name (verify without one checks them all, copy takes the newest) */
  file?: string;
  /** restore: fetch the file from the off-site copies first (database.snapshots.offsite) */
  fromOffsite?: boolean;
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
  // off-site work without its configuration is an input problem, found before anything connects
  if (req.fromOffsite && req.sub !== 'restore')
    throw new DeployError('config', '--from-offsite belongs to snapshot restore', 'leave it out');
  if (req.sub === 'copy' || req.fromOffsite) offsiteOf(ctx);
  if (req.fromOffsite && !ctx.dryRun) decryptionKeys(ctx);
  return runOperation(
    ctx,
    'snapshot',
    async (op) => {
      await op.connect();
      const done = outcome(op);
      if (req.sub === 'list') return list(ctx, op, done);
      if (req.sub === 'verify') return verify(ctx, op, req, done);
      if (req.sub === 'check') return check(ctx, op, done);
      // the rest changes the host: under the environment's lock, like a deploy; a dry run changes nothing, so it
      // neither waits for a deploy's lock nor leaves a log on the host
      if (!ctx.dryRun) await op.takeLock(`snapshot ${req.sub}`);
      op.event(`snapshot.${req.sub}.started`, { actor: ctx.actor, file: req.file ?? null });
      const state = await readState(ctx, op.layout);
      if (req.sub === 'cleanup') return cleanup(ctx, op, state, done);
      if (req.sub === 'create') return create(ctx, op, state, done);
      if (req.sub === 'copy') return copy(ctx, op, req, done);
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
  const [listing, state, off] = await Promise.all([
    listSnapshots(ctx, op.layout),
    readState(ctx, op.layout),
    ctx.cfg.config.database.snapshots.offsite ? op.phase('list off-site', () => listOffsite(ctx)) : undefined,
  ]);
  const refs = referencedSnapshots(state);
  const now = ctx.clock.now();
  const rows = listing.snapshots.map(
    (s) => `  ${describeSnapshot(s)}  (${ageOf(now, s.createdAt)} old)${refs.has(s.file) ? '  [in history]' : ''}`,
  );
  const text = [
    listing.snapshots.length
      ? `snapshots in ${listing.dir} (newest first):\n${rows.join('\n')}`
      : `no snapshots in ${listing.dir}`,
    ...(off ? [describeOffsite(off, now)] : []),
  ].join('\n');
  const data = {
    dir: listing.dir,
    snapshots: listing.snapshots.map((s) => ({ ...s, referenced: refs.has(s.file) })),
    ...(off ? { offsite: off } : {}),
  };
  const copies = off ? `, ${off.copies.length} off-site cop${off.copies.length === 1 ? 'y' : 'ies'}` : '';
  return done(true, `${listing.snapshots.length} snapshot(s)${copies}`, text, data);
}

function describeOffsite(off: OffsiteListing, now: number): string {
  if (!off.copies.length) return `no off-site copies in ${off.remote}`;
  const rows = off.copies.map(
    (c) =>
      `  ${c.file}  ${formatBytes(c.bytes)}  ${new Date(c.createdAt).toISOString().replace(/\.\d+Z$/, 'Z')}  ` +
      `(${ageOf(now, c.createdAt)} old)${c.meta ? '' : '  [no metadata: cannot be restored]'}`,
  );
  const parts = off.partials.length ? `\n  (${off.partials.length} unfinished upload(s))` : '';
  return `off-site copies in ${off.remote} (newest first, encrypted):\n${rows.join('\n')}${parts}`;
}

/** how long ago, for people: 3d4h, 5h12m, 40s */
export function ageOf(now: number, then: number): string {
  const s = Math.max(0, Math.round((now - then) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 120) return `${m}m`;
  const h = Math.floor(m / 60);
  return h < 48 ? `${h}h${m % 60 ? `${m % 60}m` : ''}` : `${Math.floor(h / 24)}d${h % 24 ? `${h % 24}h` : ''}`;
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
  const off = ctx.cfg.config.database.snapshots.offsite
    ? await op.phase('off-site retention', () => cleanupOffsite(ctx))
    : undefined;
  if (off) op.event('snapshot.offsite.cleanup', { removed: off.removed, partials: off.partials, dry_run: ctx.dryRun });
  const verb = ctx.dryRun ? 'would remove' : 'removed';
  const text = [
    `${verb} ${c.removed.length} expired snapshot(s)${c.removed.length ? `: ${c.removed.join(', ')}` : ''}`,
    ...(c.partials.length ? [`${verb} ${c.partials.length} leftover partial file(s)`] : []),
    ...c.kept.map((k) => `  kept ${k.file} (${k.why})`),
    ...(off ? [offsiteCleanupText(off, verb)] : []),
  ].join('\n');
  return done(true, `${verb} ${c.removed.length} snapshot(s)`, text, { ...c, ...(off ? { offsite: off } : {}) });
}

function offsiteCleanupText(off: OffsiteCleanup, verb: string): string {
  return [
    `off-site (${off.remote}): ${verb} ${off.removed.length} expired cop${off.removed.length === 1 ? 'y' : 'ies'}` +
      `${off.removed.length ? `: ${off.removed.join(', ')}` : ''}`,
    ...(off.partials.length ? [`  ${verb} ${off.partials.length} unfinished upload(s)`] : []),
    ...off.kept.map((k) => `  kept ${k.file} (${k.why})`),
  ].join('\n');
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
      `would take a snapshot (pg_dump, verified)${ctx.cfg.config.database.snapshots.offsite ? ', copy it off the host' : ''} and apply retention`,
      {},
    );
  const db = await openDb(ctx, op.layout);
  const live = state.current?.version;
  const options = { reason: 'manual' as const, liveVersion: live, gitCommit: live, deploymentId: op.id };
  const meta = await op.phase('snapshot', () => createSnapshot(ctx, op.layout, db, options));
  op.event('snapshot', { file: meta.file, bytes: meta.file_size_bytes, sha256: meta.sha256, ms: meta.duration_ms });
  const c = await op.phase('cleanup', () => cleanupSnapshots(ctx, op.layout, state, [meta.file]));
  const took = `${formatBytes(meta.file_size_bytes)}, verified, in ${(meta.duration_ms / 1000).toFixed(1)}s (schema ${meta.pre_migration_version ?? 'none'})`;
  let text =
    `snapshot ${meta.file}: ${took}; kept until ${meta.retention_until.slice(0, 10)}` +
    `${c.removed.length ? `\nretention removed: ${c.removed.join(', ')}` : ''}`;
  if (!ctx.cfg.config.database.snapshots.offsite)
    return done(true, `snapshot ${meta.file} taken`, text, { snapshot: meta, removed: c.removed });
  const entry: SnapshotEntry = {
    file: meta.file,
    bytes: meta.file_size_bytes,
    mtime: Date.parse(meta.created_at),
    meta,
    createdAt: Date.parse(meta.created_at),
    retentionUntil: Date.parse(meta.retention_until),
  };
  const off = await copyAndPrune(ctx, op, entry);
  text += `\n${off.text}`;
  return done(true, `snapshot ${meta.file} taken and copied off the host`, text, {
    snapshot: meta,
    removed: c.removed,
    offsite: off.data,
  });
}

/** snapshot copy [file]: the newest snapshot (or the one named) off the host, then the copies' retention */
async function copy(ctx: EngineContext, op: Operation, req: SnapshotRequest, done: Done): Promise<SnapshotOutcome> {
  const listing = await listSnapshots(ctx, op.layout);
  const entry = req.file ? listing.snapshots.find((s) => s.file === req.file) : listing.snapshots[0];
  if (!entry)
    throw new DeployError(
      'snapshot',
      req.file ? `no snapshot ${req.file} in ${listing.dir}` : `no snapshots in ${listing.dir} to copy`,
      req.file ? 'see `togather-deploy snapshot list`' : 'take one first: togather-deploy snapshot create',
    );
  const { remote } = offsiteOf(ctx);
  if (ctx.dryRun) return done(true, 'dry run: nothing was changed', `would copy ${entry.file} to ${remote}`, {});
  const off = await copyAndPrune(ctx, op, entry);
  return done(true, `${entry.file} copied to ${remote}`, off.text, off.data);
}

/**
 * Copies one snapshot off the host and applies the copies' retention. A failed copy fails the operation; the
 * snapshot on the host is untouched either way.
 */
async function copyAndPrune(
  ctx: EngineContext,
  op: Operation,
  entry: SnapshotEntry,
): Promise<{ text: string; data: unknown }> {
  let copied;
  try {
    copied = await op.phase('copy off-site', () => copyOffsite(ctx, op.layout, entry));
  } catch (e) {
    throw new DeployError(
      'snapshot',
      `${entry.file} is on the host, but its copy off the host failed: ${e instanceof DeployError ? e.message : describeError(e)}`,
      `${e instanceof DeployError && e.remedy ? `${e.remedy}; then ` : ''}copy it again: togather-deploy snapshot copy ${ctx.cfg.environment} ${entry.file}`,
    );
  }
  op.event('snapshot.copied', { file: copied.file, remote: copied.remote, bytes: copied.bytes, ms: copied.ms });
  const pruned = await op.phase('off-site retention', () => cleanupOffsite(ctx, [entry.file]));
  op.event('snapshot.offsite.cleanup', { removed: pruned.removed, partials: pruned.partials, dry_run: false });
  const text =
    `copied off the host to ${copied.remote}: ${copied.file}.age (${formatBytes(copied.bytes)} encrypted, ` +
    `${(copied.ms / 1000).toFixed(1)}s)${pruned.removed.length ? `\noff-site retention removed: ${pruned.removed.join(', ')}` : ''}`;
  return { text, data: { copied, removed: pruned.removed } };
}

/**
 * snapshot check: fails, and alerts the notification channels, when the newest snapshot (on the host or off it)
 * is older than database.snapshots.max_age — or, with off-site copies configured, when the newest copy is.
 * What it catches: a nightly schedule that stopped (GitHub disables it after 60 days without activity), a
 * snapshot job that keeps failing, copies that stopped arriving.
 */
async function check(ctx: EngineContext, op: Operation, done: Done): Promise<SnapshotOutcome> {
  const maxAge = ctx.cfg.config.database.snapshots.max_age;
  if (maxAge === undefined)
    return done(true, 'no max_age set', 'database.snapshots.max_age is not set: there is no staleness to check', {
      max_age_ms: null,
    });
  const now = ctx.clock.now();
  const listing = await listSnapshots(ctx, op.layout);
  const off = ctx.cfg.config.database.snapshots.offsite
    ? await op.phase('list off-site', () => listOffsite(ctx))
    : undefined;
  const host = listing.snapshots[0];
  const copy = off?.copies[0];
  const newest = [host && { where: 'on the host', ...host }, copy && { where: `in ${off!.remote}`, ...copy }]
    .filter((x) => !!x)
    .sort((a, b) => b.createdAt - a.createdAt)[0];
  const at = (t: number | undefined) => (t === undefined ? null : new Date(t).toISOString());
  const data = {
    max_age_ms: maxAge,
    newest: newest ? { file: newest.file, where: newest.where, created_at: at(newest.createdAt) } : null,
    host_newest: host ? { file: host.file, created_at: at(host.createdAt) } : null,
    ...(off ? { offsite_newest: copy ? { file: copy.file, created_at: at(copy.createdAt) } : null } : {}),
  };
  const limit = ageOf(maxAge, 0);
  const problems: string[] = [];
  if (!newest) problems.push(`there is no snapshot of ${ctx.cfg.environment} at all`);
  else if (now - newest.createdAt > maxAge)
    problems.push(
      `the newest snapshot of ${ctx.cfg.environment}, ${newest.file} ${newest.where}, is ${ageOf(now, newest.createdAt)} old`,
    );
  if (off && newest && !problems.length && (!copy || now - copy.createdAt > maxAge))
    problems.push(
      copy
        ? `the newest off-site copy, ${copy.file}, is ${ageOf(now, copy.createdAt)} old`
        : `there is no off-site copy in ${off.remote}`,
    );
  if (problems.length) {
    const reason = `STALE SNAPSHOTS: ${problems.join('; ')} (max_age ${limit})`;
    op.event('snapshot.stale', { problems, max_age_ms: maxAge });
    void alert(ctx, {
      event: 'deployment.failed',
      deployment_id: op.id,
      failure: { class: 'snapshot', exit_code: 8, reason },
      metadata: { trigger: 'snapshot-check' },
    });
    throw new DeployError(
      'snapshot',
      reason,
      'is the nightly snapshot workflow still scheduled and passing? (GitHub disables the schedule of a repository ' +
        `without activity for 60 days) Take one now: togather-deploy snapshot create ${ctx.cfg.environment}`,
    );
  }
  const text =
    `newest snapshot: ${newest!.file} ${newest!.where}, ${ageOf(now, newest!.createdAt)} old (max_age ${limit})` +
    (off && copy ? `\nnewest off-site copy: ${copy.file}, ${ageOf(now, copy.createdAt)} old` : '');
  return done(true, `snapshots are fresh (max_age ${limit})`, text, data);
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
  if (req.fromOffsite) {
    const { remote } = offsiteOf(ctx);
    if (ctx.dryRun) {
      if (!(await listOffsite(ctx)).copies.some((c) => c.file === req.file))
        throw new DeployError('snapshot', `no copy of ${req.file} in ${remote}`, 'see `togather-deploy snapshot list`');
      return done(
        true,
        'dry run: nothing was changed',
        `would fetch ${req.file} from ${remote}, verify and restore it`,
        {},
      );
    }
    await phases.run('fetch off-site', () => fetchOffsite(ctx, layout, req.file!));
    ctx.reporter.info(
      `fetched ${req.file} from ${remote}, decrypted and verified; it stays in the snapshots directory`,
    );
    op.event('snapshot.fetched', { file: req.file, remote });
  }
  const listing = await listSnapshots(ctx, layout);
  const entry = listing.snapshots.find((s) => s.file === req.file);
  if (!entry)
    throw new DeployError(
      'snapshot',
      `no snapshot ${req.file} in ${listing.dir}`,
      ctx.cfg.config.database.snapshots.offsite
        ? 'to restore an off-site copy, add --from-offsite (action: from-offsite: true); see `togather-deploy snapshot list`'
        : 'see `togather-deploy snapshot list`',
    );
  const check = await phases.run('verify', () => verifySnapshot(ctx, layout, entry));
  if (!check.ok)
    throw new DeployError(
      'snapshot',
      `${entry.file} failed verification: ${check.problems.join('; ')}; nothing was restored`,
    );

  const stack = await targetFor(ctx).inspect(ctx, layout);
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
    await phases.run(`stop ${c}`, () =>
      targetFor(ctx).stopColour(ctx, layout, c, ctx.cfg.config.deployment.drain_timeout),
    );
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
    await phases.run('health gate', () => targetFor(ctx).healthGate(ctx, layout, colour, sha ?? '', { schemaVersion }));
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
