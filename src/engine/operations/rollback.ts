import { allInOrder } from '../../util/settled.js';
import { DeployError } from '../../errors.js';
import type { EngineContext } from '../context.js';
import { imageRef } from '../release/image.js';
import { targetFor } from './target.js';
import type { HostFacts } from '../release/preflight.js';
import type { StackFacts } from '../stack/colours.js';
import {
  formatCandidates,
  migrationsCrossed,
  pickCandidate,
  rollbackCandidates,
  type RollbackCandidate,
} from '../stack/history.js';
import { Layout } from '../stack/layout.js';
import { readState } from '../stack/state.js';
import {
  seconds,
  short,
  type Colour,
  type DeploymentRecord,
  type HealthStatus,
  type OperationReport,
} from '../types.js';
import { runOperation, type Operation } from './operation.js';
import {
  connectPreflightAndLock,
  cutOverTo,
  openStack,
  provisionFor,
  readStack,
  retireLast,
  type StackNow,
} from './steps.js';

export interface RollbackRequest {
  /** full or short SHA, or a ref recorded in the history; empty = the previous good version */
  version?: string;
  /** the operator confirmed a rollback across migrations (action input, CLI --yes or prompt) */
  confirmed?: boolean;
  /** asked when confirmation is needed and not given up front; absent = refuse */
  ask?: (question: string) => Promise<boolean>;
}

/** `versions`: the rollback picker. */
export async function listVersions(
  ctx: EngineContext,
): Promise<{ current?: DeploymentRecord; candidates: RollbackCandidate[] }> {
  const layout = new Layout(ctx.cfg);
  const [state, images] = await Promise.all([readState(ctx, layout), targetFor(ctx).imagesPresent(ctx)]);
  return { current: state.current, candidates: rollbackCandidates(state, images) };
}

/**
 * Rollback goes through the same lock, health gate, switch and verification as a deploy. When the target's
 * container is still there (the colour retired by the last deploy), it is started as it is — no compose
 * recreate — which is what makes a rollback to the previous version fast.
 */
export async function rollback(ctx: EngineContext, req: RollbackRequest): Promise<OperationReport> {
  return runOperation(ctx, 'rollback', async (op) => {
    // the engine and the disk only: a warm start needs no compose; a cold one checks the rest before it starts
    const { facts, at } = ctx.dryRun
      ? {
          facts: await connectPreflightAndLock(ctx, op, false, true),
          at: await readStack(ctx, op, { images: true, reconcile: false }),
        }
      : await openStack(ctx, op, { light: true, images: true });
    const chosen = pickTarget(ctx, at, req.version);
    op.seen.sha = chosen.version;
    await confirmCrossing(ctx, at, chosen.version, req);
    const ref = imageRef(ctx.cfg.config.app.image, chosen.version);
    if (ctx.dryRun) return plan(ctx, op, at, chosen.version, ref);
    const record = beginRecord(ctx, op, at, chosen, ref, req);
    const warm = warmStart(at.stack, at.target, ref);
    record.health_status = warm
      ? await resumeAndCutOver(ctx, op, at, chosen.version)
      : await startCold(ctx, op, facts, at, ref).then(() => cutOverTo(ctx, op, at, chosen.version));
    const servingMs = ctx.clock.now() - op.started;
    await op.commit('rolled back');
    announceCompleted(ctx, op, servingMs);
    await retireLast(ctx, op, at.live);
    return completed(op, at, servingMs, warm);
  });
}

/** the requested version (or the default one) among those that served and whose image is still on the host */
function pickTarget(ctx: EngineContext, at: StackNow, wanted: string | undefined): RollbackCandidate {
  const candidates = rollbackCandidates(at.state, at.images);
  const chosen = pickCandidate(candidates, wanted);
  if (chosen?.imagePresent) return chosen;
  const why = !wanted
    ? 'there is no earlier successful deployment whose image is still on the host'
    : chosen
      ? `the image of ${short(chosen.version)} is no longer on the host`
      : `"${wanted}" is not a version this environment served successfully`;
  const list = `Versions that can be rolled back to:\n${formatCandidates(candidates)}`;
  throw new DeployError(
    'refused',
    `cannot roll back ${ctx.cfg.environment}: ${why}. ${list}`,
    'pick one of the versions above (--version), or deploy the version you want',
  );
}

/** going back across migrations is allowed, but only knowingly: the operator confirms or is asked */
async function confirmCrossing(ctx: EngineContext, at: StackNow, sha: string, req: RollbackRequest): Promise<void> {
  const crossed = migrationsCrossed(at.state, sha);
  if (!crossed.length) return;
  const snap = crossed[0]!.snapshot;
  const ran = crossed
    .map((c) => `${short(c.version)} (${c.migrations?.from ?? '?'} → ${c.migrations?.to ?? '?'})`)
    .join(', ');
  const restore = snap
    ? `${snap} — togather-deploy snapshot restore ${ctx.cfg.environment} ${snap} --stop-app`
    : 'no snapshot is recorded for them';
  const msg = [
    `rolling back to ${short(sha)} crosses migrations run by ${ran}.`,
    'The old version will run against the newer schema; migrations should be backward compatible, but if they are not,',
    `restore the snapshot taken before them: ${restore}`,
  ].join(' ');
  ctx.reporter.warn(msg);
  const ok = req.confirmed || (req.ask ? await req.ask('roll back anyway? [y/N] ') : false);
  if (!ok)
    throw new DeployError(
      'refused',
      `rollback across migrations needs confirmation: ${msg}`,
      `confirm with --yes (CLI) or confirm: ${ctx.cfg.environment} (action)`,
    );
}

function plan(ctx: EngineContext, op: Operation, at: StackNow, sha: string, ref: string): OperationReport {
  const how = warmStart(at.stack, at.target, ref) ? ' (its stopped container, as it is)' : '';
  const from = at.live ?? 'nothing';
  ctx.reporter.info(
    `plan: start ${ref} on ${at.target}${how}, health-gate it, switch from ${from}, verify, retire ${from}`,
  );
  return op.report({
    ok: true,
    message: 'dry run: nothing was changed',
    version: sha,
    colour: at.live,
    deploymentId: undefined,
    url: undefined,
  });
}

function beginRecord(
  ctx: EngineContext,
  op: Operation,
  at: StackNow,
  chosen: RollbackCandidate,
  ref: string,
  req: RollbackRequest,
): DeploymentRecord {
  const sha = chosen.version;
  const record = op.begin({
    kind: 'rollback',
    version: sha,
    ref: chosen.ref,
    image: ref,
    colour: at.target,
    previous_version: at.state.current?.version,
    flags: { force: !!req.confirmed },
  });
  op.event('rollback.started', { version: sha, from: at.state.current?.version ?? null, actor: ctx.actor });
  ctx.reporter.info(
    `rolling back ${ctx.cfg.environment} to ${short(sha)}${chosen.ref ? ` (${chosen.ref})` : ''} on ${at.target}`,
  );
  return record;
}

/**
 * The kept container started as it is (a warm start), and its health gate → switch → verify. On one Docker host
 * the start and the gate's first round of probes go in one round trip, the probes only once `docker start` has
 * succeeded (a failed start is its own error, and leaves nothing to stop).
 */
async function resumeAndCutOver(ctx: EngineContext, op: Operation, at: StackNow, sha: string): Promise<HealthStatus> {
  const start = () => op.phase(`start ${at.target} (warm)`, () => op.target.resumeColour(ctx, op.layout, at.target));
  // elsewhere a start may take several commands, and the gate must not probe before the last one
  if (op.target.kind !== 'compose') return start().then(() => cutOverTo(ctx, op, at, sha));
  const [, status] = await allInOrder(op.host.inTurn(start, () => cutOverTo(ctx, op, at, sha)));
  return status;
}

/** the target's container recreated by compose from the version's image (it was removed, or holds another image) */
async function startCold(ctx: EngineContext, op: Operation, facts: HostFacts, at: StackNow, ref: string) {
  const full = await op.phase('preflight (compose)', () => op.target.preflight(ctx, op.layout));
  await provisionFor(ctx, op, full, at, ref);
  await op.phase(`start ${at.target}`, () => op.target.startColour(ctx, op.layout, full, at.target));
}

/** rollback.completed, to the host log and the channels, before the retire that ends the operation */
function announceCompleted(ctx: EngineContext, op: Operation, servingMs: number): void {
  const record = op.record!;
  const { version: sha, colour } = record;
  const metadata = {
    trigger: 'rollback' as const,
    serving_after_seconds: seconds(servingMs),
    ...(record.ref ? { ref: record.ref } : {}),
  };
  const announce = {
    event: 'deployment.rolled_back' as const,
    version: sha,
    previous_version: record.previous_version,
    colour,
    duration_seconds: record.duration_seconds,
    metadata,
  };
  op.event('rollback.completed', { version: sha, colour, serving_after_ms: servingMs }, announce);
}

function completed(op: Operation, at: StackNow, servingMs: number, warm: boolean): OperationReport {
  const record = op.record!;
  const { version: sha, colour } = record;
  const message = `${short(sha)} is live on ${colour} again (serving after ${(servingMs / 1000).toFixed(1)}s${warm ? ', warm start' : ''})`;
  return op.report({ ok: true, message, version: sha, colour, previousVersion: at.state.current?.version, record });
}

function warmStart(stack: StackFacts, colour: Colour, ref: string): boolean {
  const c = stack[colour];
  return c.app !== 'absent' && c.app !== 'running' && c.image === ref;
}
