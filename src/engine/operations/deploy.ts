import type { EngineContext } from '../context.js';
import { databaseStep, holdRelease, releaseHold, type DatabaseStep } from '../database/migrate.js';
import { copyTakenSnapshot } from '../database/offsite.js';
import type { SnapshotMeta } from '../database/snapshot.js';
import { monitoringStep } from '../observe/monitoring.js';
import { buildArgs } from '../release/build-args.js';
import { imageRef, type ImageOutcome } from '../release/image.js';
import type { HostFacts } from '../release/preflight.js';
import { resolveVersion } from '../release/version.js';
import { watchAfterDeploy } from '../release/watch.js';
import { renderEnvFile } from '../stack/files.js';
import { versionsOfNeighbours } from '../stack/neighbours.js';
import { short, type OperationReport } from '../types.js';
import { runOperation, type Operation } from './operation.js';
import { planDeploy } from './plan.js';
import {
  connectPreflightAndLock,
  cutOverTo,
  openStack,
  provisionFor,
  retireLast,
  retireOld,
  type StackNow,
} from './steps.js';

export { failedReport } from './operation.js';

export interface DeployRequest {
  version: string;
  skipCiCheck?: boolean;
  skipMigrations?: boolean;
  /** redeploy even when the version is already live */
  force?: boolean;
  /** the CI gate, injected by the adapter (needs GitHub); runs before any host is touched */
  ciGate?: (sha: string) => Promise<void>;
}

/**
 * validate → CI gate → connect → preflight → lock → image → provision → snapshot + migrations → start the idle
 * colour → health gate → switch → verify through the proxy → record → retire the old colour → prune → watch →
 * unlock. Any failure before the switch stops the new colour; a failed verification switches back. The old
 * colour, if there was one, keeps serving in both cases.
 */
export async function deploy(ctx: EngineContext, req: DeployRequest): Promise<OperationReport> {
  renderEnvFile(ctx.cfg.appEnv); // refuses values compose cannot carry, before anything is touched
  return runOperation(ctx, 'deploy', async (op) => {
    const { sha, ref } = await resolveAndGate(ctx, op, req);
    if (ctx.dryRun) return plan(ctx, op, await connectPreflightAndLock(ctx, op, false), sha, req);
    // the record begins once the preflight passed and the lock is held, before what was read is judged
    const { facts, at } = await openStack(ctx, op, { begin: () => beginRecord(ctx, op, sha, ref, req) });
    const record = op.record!;
    if (alreadyServing(at, sha) && !req.force) return unchanged(ctx, op, at, sha);
    announceStart(ctx, op, at, sha, ref);
    const image = await shipImage(ctx, op, sha, ref);
    await provisionFor(ctx, op, facts, at, image.ref);
    const db = await migrate(ctx, op, at, image.ref, req);
    await op.phase(`start ${at.target}`, () => op.target.startColour(ctx, op.layout, facts, at.target, at.stack));
    record.health_status = await cutOverTo(ctx, op, at, sha, { schemaVersion: db.schemaVersion });
    await op.commit('deployed');
    const pruneImages = () => op.phase('prune images', () => prune(ctx, op, at, sha));
    if (retireIsLast(ctx, db.snapshot)) {
      // old images go while the proxy takes in the flip; the command ends with the old colour's last request
      announceCompleted(ctx, op, at, sha, ref);
      await retireLast(ctx, op, at.live, pruneImages);
    } else {
      await Promise.all([retireOld(ctx, op, at.live), pruneImages()]);
      await updateMonitoring(ctx, op, facts);
      await copySnapshotOffsite(ctx, op, db.snapshot);
      await watch(ctx, op, at, facts); // the lock stays held; a failed watch switches back and throws WatchRolledBack
      announceCompleted(ctx, op, at, sha, ref);
    }
    return completed(op, at, sha);
  });
}

/** nothing follows the retire: no monitoring to update, no snapshot to copy off-site, no watch window */
function retireIsLast(ctx: EngineContext, snapshot: SnapshotMeta | undefined): boolean {
  const c = ctx.cfg.config;
  return !c.monitoring.enabled && !(snapshot && c.database.snapshots.offsite) && c.deployment.watch.duration === 0;
}

async function resolveAndGate(
  ctx: EngineContext,
  op: Operation,
  req: DeployRequest,
): Promise<{ sha: string; ref?: string }> {
  const v = await op.phase('resolve version', () => resolveVersion(ctx.local, req.version));
  op.seen.sha = v.sha;
  if (req.skipCiCheck)
    ctx.reporter.warn(`CI check skipped for ${short(v.sha)} (skip-ci-check); recorded in the history`);
  else if (req.ciGate) await op.phase('CI check', () => req.ciGate!(v.sha));
  return v;
}

async function plan(
  ctx: EngineContext,
  op: Operation,
  facts: HostFacts,
  sha: string,
  req: DeployRequest,
): Promise<OperationReport> {
  const { plan, live } = await planDeploy(ctx, op.layout, op.phases, facts, sha, !!req.skipMigrations);
  return op.report({ ok: true, message: 'dry run: nothing was changed', version: sha, colour: live, plan });
}

function beginRecord(ctx: EngineContext, op: Operation, sha: string, ref: string | undefined, req: DeployRequest) {
  const flags = { skip_ci_check: !!req.skipCiCheck, skip_migrations: !!req.skipMigrations, force: !!req.force };
  // the colour and the previous version are filled in once the stack is read
  return op.begin({
    kind: 'deploy',
    version: sha,
    ref,
    image: imageRef(ctx.cfg.config.app.image, sha),
    colour: 'blue',
    flags,
  });
}

function alreadyServing(at: StackNow, sha: string): boolean {
  return !!at.live && at.state.current?.version === sha && at.state.current.colour === at.live;
}

function unchanged(ctx: EngineContext, op: Operation, at: StackNow, sha: string): OperationReport {
  ctx.reporter.info(`${short(sha)} is already serving from ${at.live}; nothing to do (use --force to redeploy it)`);
  return op.report({
    ok: true,
    message: 'already deployed',
    version: sha,
    colour: at.live,
    previousVersion: at.state.previous?.version,
  });
}

function trigger(ref: string | undefined) {
  return { trigger: 'deploy' as const, ...(ref ? { ref } : {}) };
}

function announceStart(ctx: EngineContext, op: Operation, at: StackNow, sha: string, ref: string | undefined): void {
  const previous_version = op.record?.previous_version;
  const fields = { version: sha, ref, actor: ctx.actor, host: ctx.host.name };
  op.event('deployment.started', fields, {
    event: 'deployment.started',
    version: sha,
    previous_version,
    colour: at.target,
    metadata: trigger(ref),
  });
  const serving = at.live ? `; ${at.live} keeps serving until the switch` : ' (first deploy)';
  ctx.reporter.info(`deploying ${short(sha)}${ref ? ` (${ref})` : ''} to ${at.target}${serving}`);
}

/** the release image onto the host, held by a container so no prune takes it away before its colour starts */
async function shipImage(
  ctx: EngineContext,
  op: Operation,
  sha: string,
  ref: string | undefined,
): Promise<ImageOutcome> {
  const image = await op.phase('image', () =>
    op.target.ensureImage(ctx, sha, buildArgs(sha, ref ?? sha.slice(0, 7), new Date(op.started))),
  );
  op.event('image', { ref: image.ref, how: image.how, bytes: image.bytes, layers: image.layers });
  op.onFinish(() => releaseHold(ctx, op.layout));
  await holdRelease(ctx, op.layout, image.ref);
  return image;
}

/** the monitoring stack follows the release; a failure there is only a warning */
async function updateMonitoring(ctx: EngineContext, op: Operation, facts: HostFacts): Promise<void> {
  if (ctx.cfg.config.monitoring.enabled)
    await op.phase('monitoring', () => monitoringStep(ctx, op.layout, facts.compose));
}

/** the snapshot taken before this deploy's migrations leaves the host too, after the switch (never delaying it) */
async function copySnapshotOffsite(ctx: EngineContext, op: Operation, snapshot: SnapshotMeta | undefined) {
  if (!snapshot || !ctx.cfg.config.database.snapshots.offsite) return;
  const copied = await op.phase('copy snapshot off-site', () => copyTakenSnapshot(ctx, op.layout, snapshot.file));
  if (copied)
    op.event('snapshot.copied', { file: copied.file, remote: copied.remote, bytes: copied.bytes, ms: copied.ms });
}

function watch(ctx: EngineContext, op: Operation, at: StackNow, facts: HostFacts): Promise<void> {
  const previous = at.live ? at.state.current : undefined;
  const subject = { record: op.record!, previous, previousColour: at.live, target: op.target, facts };
  return watchAfterDeploy(ctx, op.layout, op.phases, subject);
}

/** snapshot + migrations before the new colour starts; the old colour keeps serving (docs/migrations.md) */
async function migrate(
  ctx: EngineContext,
  op: Operation,
  at: StackNow,
  image: string,
  req: DeployRequest,
): Promise<DatabaseStep> {
  await ctx.hostLog?.flush();
  const liveVersion = at.live ? at.state.current?.version : undefined;
  const input = {
    record: op.record!,
    state: at.state,
    image,
    sha: op.record!.version,
    skip: !!req.skipMigrations,
    liveVersion,
    live: at.live,
  };
  const db = await databaseStep(ctx, op.layout, op.phases, input);
  await ctx.hostLog?.flush();
  return db;
}

/** app images beyond keep_images go, except what this environment or a neighbour on the host may roll back to */
async function prune(ctx: EngineContext, op: Operation, at: StackNow, sha: string): Promise<void> {
  const keep = ctx.cfg.config.deployment.keep_images;
  const recent = at.state.history
    .filter((h) => h.status !== 'failed')
    .slice(0, keep)
    .map((h) => h.version);
  const neighbours = await versionsOfNeighbours(ctx);
  const protect = [sha, at.state.current?.version, ...recent, ...neighbours].filter((v): v is string => !!v);
  const removed = await op.target.prune(ctx, keep, protect);
  if (removed.length) ctx.reporter.info(`removed ${removed.length} old image(s): ${removed.map(short).join(', ')}`);
}

/** deployment.completed, to the host log and the channels: once the release serves and nothing can undo it */
function announceCompleted(ctx: EngineContext, op: Operation, at: StackNow, sha: string, ref: string | undefined) {
  const { record } = op;
  const duration_seconds = op.elapsedSeconds();
  const announce = {
    event: 'deployment.completed' as const,
    version: sha,
    previous_version: record?.previous_version,
    colour: at.target,
    duration_seconds,
    metadata: trigger(ref),
  };
  op.event('deployment.completed', { version: sha, colour: at.target, duration_seconds }, announce);
}

function completed(op: Operation, at: StackNow, sha: string): OperationReport {
  const { record } = op;
  const previousVersion = at.live ? at.state.current?.version : undefined;
  return op.report({
    ok: true,
    message: `${short(sha)} is live on ${at.target}`,
    version: sha,
    colour: at.target,
    previousVersion,
    record,
  });
}
