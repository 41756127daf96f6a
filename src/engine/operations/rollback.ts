import { ulid } from 'ulid';
import { DeployError, describeError, exitCodeOf } from '../../errors.js';
import { cmd } from '../../host/host.js';
import { colourImages, inspectStack, liveColour, startColour, type StackFacts } from '../stack/colours.js';
import type { EngineContext } from '../context.js';
import { formatCandidates, migrationsCrossed, pickCandidate, rollbackCandidates, type RollbackCandidate } from '../stack/history.js';
import { HostLog } from '../stack/hostlog.js';
import { notify, settleNotifications } from '../observe/notify.js';
import { imageRef, imagesOnHost } from '../release/image.js';
import { Layout } from '../stack/layout.js';
import { DeployLock } from '../stack/lock.js';
import { Phases } from '../phases.js';
import { preflight } from '../release/preflight.js';
import { provision } from '../release/provision.js';
import { applyRecord, readState, reconcileState, writeState } from '../stack/state.js';
import { cutOver } from '../release/cutover.js';
import { retireColour } from '../release/switch.js';
import { otherColour, type Colour, type DeploymentRecord, type EnvironmentState, type OperationReport } from '../types.js';

export interface RollbackRequest {
  /** full or short SHA, or a ref recorded in the history; empty = the previous good version */
  version?: string;
  /** the operator confirmed a rollback across migrations (action input, CLI --yes or prompt) */
  confirmed?: boolean;
  /** asked when confirmation is needed and not given up front; absent = refuse */
  ask?: (question: string) => Promise<boolean>;
}

/** `versions`: the rollback picker. */
export async function listVersions(ctx: EngineContext): Promise<{ current?: DeploymentRecord; candidates: RollbackCandidate[] }> {
  const layout = new Layout(ctx.cfg);
  const [state, images] = await Promise.all([readState(ctx, layout), imagesOnHost(ctx)]);
  return { current: state.current, candidates: rollbackCandidates(state, images) };
}

/**
 * Rollback goes through the same lock, health gate, switch and verification as a deploy. When the target's
 * container is still there (the colour retired by the last deploy), it is started as it is — no compose
 * recreate — which is what makes a rollback to the previous version fast.
 */
export async function rollback(ctx: EngineContext, req: RollbackRequest): Promise<OperationReport> {
  const started = ctx.clock.now();
  const phases = new Phases(ctx.reporter, ctx.clock);
  const layout = new Layout(ctx.cfg);
  const id = ulid();
  await phases.run('connect', async () => ctx.host.connect?.());
  const facts = await phases.run('preflight', () => preflight(ctx, layout));
  const lock = new DeployLock(ctx, layout);
  if (!ctx.dryRun) await phases.run('lock', () => lock.acquire(id, 'rollback'));
  let state: EnvironmentState | undefined;
  let record: DeploymentRecord | undefined;
  let switched = false; // past the record write's switch: a failure no longer undoes or re-records anything
  try {
    // three independent reads, side by side over the one SSH connection
    const [read, stack, images] = await Promise.all([readState(ctx, layout), inspectStack(ctx, layout), imagesOnHost(ctx)]);
    state = read;
    if (!ctx.dryRun) state = await reconcileState(ctx, layout, state, stack, liveColour(stack, state.current?.colour));
    const candidates = rollbackCandidates(state, images);
    const chosen = pickCandidate(candidates, req.version);
    if (!chosen || !chosen.imagePresent) {
      const why = !req.version
        ? 'there is no earlier successful deployment whose image is still on the host'
        : chosen
          ? `the image of ${chosen.version.slice(0, 12)} is no longer on the host`
          : `"${req.version}" is not a version this environment served successfully`;
      throw new DeployError('refused', `cannot roll back ${ctx.cfg.environment}: ${why}. Versions that can be rolled back to:\n${formatCandidates(candidates)}`, 'pick one of the versions above (--version), or deploy the version you want');
    }
    const sha = chosen.version;
    const crossed = migrationsCrossed(state, sha);
    if (crossed.length) {
      const first = crossed[0]!;
      const snap = first.snapshot;
      const msg =
        `rolling back to ${sha.slice(0, 12)} crosses migrations run by ${crossed.map((c) => `${c.version.slice(0, 12)} (${c.migrations?.from ?? '?'} → ${c.migrations?.to ?? '?'})`).join(', ')}. ` +
        `The old version will run against the newer schema; migrations should be backward compatible, but if they are not, restore the snapshot taken before them: ` +
        (snap ? `${snap} — togather-deploy snapshot restore ${ctx.cfg.environment} ${snap} --stop-app` : 'no snapshot is recorded for them');
      ctx.reporter.warn(msg);
      const ok = req.confirmed || (req.ask ? await req.ask('roll back anyway? [y/N] ') : false);
      if (!ok) throw new DeployError('refused', `rollback across migrations needs confirmation: ${msg}`, `confirm with --yes (CLI) or confirm: ${ctx.cfg.environment} (action)`);
    }
    const live = liveColour(stack, state.current?.colour);
    const target: Colour = live ? otherColour(live) : 'blue';
    const ref = imageRef(ctx.cfg.config.app.image, sha);
    if (ctx.dryRun) {
      ctx.reporter.info(`plan: start ${ref} on ${target}${warmStart(stack, target, ref) ? ' (its stopped container, as it is)' : ''}, health-gate it, switch from ${live ?? 'nothing'}, verify, retire ${live ?? 'nothing'}`);
      return { operation: 'plan', ok: true, exitCode: 0, environment: ctx.cfg.environment, version: sha, colour: live, durationMs: ctx.clock.now() - started, phases: phases.timings, message: 'dry run: nothing was changed' };
    }
    record = {
      id,
      kind: 'rollback',
      environment: ctx.cfg.environment,
      version: sha,
      ref: chosen.ref,
      image: ref,
      colour: target,
      deployed_at: new Date(started).toISOString(),
      deployed_by: ctx.actor,
      status: 'deploying',
      health_status: 'unknown',
      previous_version: state.current?.version,
      phases: phases.timings,
      flags: { force: !!req.confirmed },
    };
    ctx.hostLog = new HostLog(ctx.host, ctx.redactor, layout.path('logs', `${id}.jsonl`), id);
    ctx.hostLog.add('rollback.started', { version: sha, from: state.current?.version ?? null, actor: ctx.actor });
    ctx.reporter.info(`rolling back ${ctx.cfg.environment} to ${sha.slice(0, 12)}${chosen.ref ? ` (${chosen.ref})` : ''} on ${target}`);

    const warm = warmStart(stack, target, ref);
    if (warm) {
      await phases.run(`start ${target} (warm)`, async () => {
        await ctx.host.run(cmd('docker', 'start', layout.app(target)), { timeoutMs: 60_000 });
      });
    } else {
      await phases.run('provision', () => provision(ctx, layout, facts, stack, colourImages(stack, target, ref)));
      await phases.run(`start ${target}`, () => startColour(ctx, layout, facts.compose, target));
    }
    record.health_status = (await cutOver(ctx, layout, phases, { target, live, sha, stack })).status;
    const servingMs = ctx.clock.now() - started;
    record.status = 'active';
    record.duration_seconds = Math.round(servingMs / 100) / 10;
    try {
      await phases.run('record', () => writeState(ctx, layout, applyRecord(state!, record!, ctx.cfg.config.deployment.history_limit), record!));
    } catch (e) {
      // past the switch the rolled-back version serves: as in deploy, no switch back and no "failed" record
      switched = true;
      ctx.reporter.error(`${sha.slice(0, 12)} is live on ${target} again, but recording it failed: ${describeError(e)}`);
      throw new DeployError('state', `rolled back and serving, but state.json could not be written: ${describeError(e)}`, 'fix the host path\'s permissions or disk; the next deploy reads the live colour from the proxy gates, not from state.json');
    }
    if (live) {
      const from = live;
      await phases.run(`retire ${from}`, () => retireColour(ctx, layout, from));
    }
    ctx.hostLog.add('rollback.completed', { version: sha, colour: target, serving_after_ms: servingMs });
    void notify(ctx, { event: 'deployment.rolled_back', deployment_id: id, version: sha, previous_version: record.previous_version, colour: target, duration_seconds: record.duration_seconds, metadata: { trigger: 'rollback', serving_after_seconds: Math.round(servingMs / 100) / 10, ...(chosen.ref ? { ref: chosen.ref } : {}) } });
    return {
      operation: 'rollback',
      ok: true,
      exitCode: 0,
      environment: ctx.cfg.environment,
      deploymentId: id,
      version: sha,
      colour: target,
      previousVersion: state.current?.version,
      url: ctx.cfg.env.url,
      durationMs: ctx.clock.now() - started,
      phases: phases.timings,
      message: `${sha.slice(0, 12)} is live on ${target} again (serving after ${(servingMs / 1000).toFixed(1)}s${warm ? ', warm start' : ''})`,
      record,
    };
  } catch (e) {
    if (record && state && !switched) {
      record.status = 'failed';
      record.failure = { class: e instanceof DeployError ? e.kind : 'unexpected', exit_code: exitCodeOf(e), message: ctx.redactor.redact(describeError(e)).slice(0, 2000) };
      ctx.hostLog?.add('rollback.failed', { failure: record.failure });
      await writeState(ctx, layout, applyRecord(state, record, ctx.cfg.config.deployment.history_limit), record).catch(() => undefined);
    }
    if (record) void notify(ctx, { event: 'deployment.failed', deployment_id: id, version: record.version, previous_version: record.previous_version, colour: record.colour, duration_seconds: record.duration_seconds ?? null, failure: record.failure ? { class: record.failure.class, exit_code: record.failure.exit_code, reason: record.failure.message } : undefined, metadata: { trigger: 'rollback' } });
    throw e;
  } finally {
    await ctx.hostLog?.flush().catch(() => undefined);
    await settleNotifications(ctx); // delivered (or given up) while the lock is still held
    await lock.release().catch(() => undefined);
  }
}

function warmStart(stack: StackFacts, colour: Colour, ref: string): boolean {
  const c = stack[colour];
  return c.app !== 'absent' && c.app !== 'running' && c.image === ref;
}
