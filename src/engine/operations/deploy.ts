import { ulid } from 'ulid';
import { DeployError, describeError, exitCodeOf } from '../../errors.js';
import { buildArgs } from '../release/build-args.js';
import { versionsOfNeighbours } from '../stack/neighbours.js';
import { colourImages, inspectStack, liveColour, startColour } from '../stack/colours.js';
import type { EngineContext } from '../context.js';
import { databaseStep, holdRelease, releaseHold } from '../database/migrate.js';
import { HostLog } from '../stack/hostlog.js';
import { ensureImage, imageRef, pruneImages } from '../release/image.js';
import { Layout } from '../stack/layout.js';
import { DeployLock } from '../stack/lock.js';
import { Phases } from '../phases.js';
import { preflight } from '../release/preflight.js';
import { provision } from '../release/provision.js';
import { renderEnvFile } from '../stack/files.js';
import { applyRecord, readState, reconcileState, writeState } from '../stack/state.js';
import { cutOver } from '../release/cutover.js';
import { retireColour } from '../release/switch.js';
import { otherColour, type Colour, type DeploymentRecord, type EnvironmentState, type OperationReport } from '../types.js';
import { resolveVersion } from '../release/version.js';
import { planDeploy } from './plan.js';
import { notify, settleNotifications } from '../observe/notify.js';
import { watchAfterDeploy, WatchRolledBack } from '../release/watch.js';
import { monitoringStep } from '../observe/monitoring.js';

export interface DeployRequest {
  version: string;
  skipCiCheck?: boolean;
  skipMigrations?: boolean;
  /** redeploy even when the version is already live */
  force?: boolean;
  /** the CI gate, injected by the adapter (needs GitHub); runs before any host is touched */
  ciGate?: (sha: string) => Promise<void>;
}

const failures = new WeakMap<object, OperationReport>();

/** The report of a failed deploy, kept with its error: the adapters show its real duration, phases and what serves. */
export function failedReport(e: unknown): OperationReport | undefined {
  return typeof e === 'object' && e !== null ? failures.get(e) : undefined;
}

type ReportFn = (partial: Partial<OperationReport> & { ok: boolean; message: string }) => OperationReport;

/** what a failure report can say, filled in as the deploy learns it */
interface Progress {
  sha?: string;
  record?: DeploymentRecord;
  /** the colour serving when the deploy looked (null: none); undefined until it looked */
  live?: Colour | null;
  target?: Colour;
  /** the new colour took the traffic (cutOver returned) */
  switched?: boolean;
}

/**
 * validate → CI gate → connect → preflight → lock → image → provision → start idle colour → health gate →
 * switch → verify through the proxy → record → retire the old colour → prune → unlock.
 * Any failure before the switch stops the new colour; a failed verification switches back. The old colour,
 * if there was one, keeps serving in both cases.
 */
export async function deploy(ctx: EngineContext, req: DeployRequest): Promise<OperationReport> {
  const started = ctx.clock.now();
  const phases = new Phases(ctx.reporter, ctx.clock);
  const id = ulid();
  const report: ReportFn = (partial) => ({
    operation: ctx.dryRun ? 'plan' : 'deploy',
    exitCode: 0,
    environment: ctx.cfg.environment,
    deploymentId: id,
    url: ctx.cfg.env.url,
    durationMs: ctx.clock.now() - started,
    phases: phases.timings,
    ...partial,
  });
  const seen: Progress = {};
  try {
    return await deploySteps(ctx, req, { started, phases, id, report, seen });
  } catch (e) {
    if (typeof e === 'object' && e !== null) failures.set(e, failureReport(ctx, e, seen, report));
    throw e;
  }
}

function failureReport(ctx: EngineContext, e: unknown, seen: Progress, report: ReportFn): OperationReport {
  let serving: OperationReport['serving'];
  if (e instanceof WatchRolledBack) serving = 'previous';
  else if (seen.switched) serving = 'new'; // a failure after the switch (state write, watch window) leaves it routed
  else if (seen.live !== undefined) serving = seen.live ? 'previous' : 'none';
  const colour = serving === 'previous' ? seen.live ?? undefined : serving === 'new' ? seen.target : undefined;
  return report({ ok: false, exitCode: exitCodeOf(e), message: ctx.redactor.redact(describeError(e)), version: seen.sha, colour, serving, record: seen.record });
}

interface DeployRun {
  started: number;
  phases: Phases;
  id: string;
  report: ReportFn;
  seen: Progress;
}

async function deploySteps(ctx: EngineContext, req: DeployRequest, run: DeployRun): Promise<OperationReport> {
  const { started, phases, id, report, seen } = run;
  const layout = new Layout(ctx.cfg);
  renderEnvFile(ctx.cfg.appEnv); // refuses values compose cannot carry, before anything is touched
  const { sha, ref } = await phases.run('resolve version', () => resolveVersion(ctx.local, req.version));
  seen.sha = sha;
  if (req.skipCiCheck) ctx.reporter.warn(`CI check skipped for ${sha.slice(0, 12)} (skip-ci-check); recorded in the history`);
  else if (req.ciGate) await phases.run('CI check', () => req.ciGate!(sha));
  await phases.run('connect', async () => ctx.host.connect?.());
  const facts = await phases.run('preflight', () => preflight(ctx, layout));

  if (ctx.dryRun) {
    const { plan, live } = await planDeploy(ctx, layout, phases, facts, sha, !!req.skipMigrations);
    return report({ ok: true, message: 'dry run: nothing was changed', version: sha, colour: live, plan });
  }

  const lock = new DeployLock(ctx, layout);
  await phases.run('lock', () => lock.acquire(id, 'deploy'));
  const record: DeploymentRecord = {
    id,
    kind: 'deploy',
    environment: ctx.cfg.environment,
    version: sha,
    ref,
    image: imageRef(ctx.cfg.config.app.image, sha),
    colour: 'blue',
    deployed_at: new Date(started).toISOString(),
    deployed_by: ctx.actor,
    status: 'deploying',
    health_status: 'unknown',
    phases: phases.timings,
    flags: { skip_ci_check: !!req.skipCiCheck, skip_migrations: !!req.skipMigrations, force: !!req.force },
  };
  seen.record = record;
  let held = false; // a container keeps the release image from being pruned while migrations run
  ctx.hostLog = new HostLog(ctx.host, ctx.redactor, layout.path('logs', `${id}.jsonl`), id);
  ctx.hostLog.add('deployment.started', { version: sha, ref, actor: ctx.actor, host: ctx.host.name });
  let state: EnvironmentState | undefined;
  let target: Colour = 'blue';
  let live: Colour | undefined;
  try {
    const [read, stack] = await Promise.all([readState(ctx, layout), inspectStack(ctx, layout)]);
    state = read;
    live = liveColour(stack, state.current?.colour);
    state = await reconcileState(ctx, layout, state, stack, live);
    target = live ? otherColour(live) : 'blue';
    Object.assign(seen, { live: live ?? null, target });
    record.colour = target;
    record.previous_version = state.current?.version;
    if (live && state.current?.version === sha && state.current.colour === live && !req.force) {
      ctx.reporter.info(`${sha.slice(0, 12)} is already serving from ${live}; nothing to do (use --force to redeploy it)`);
      return report({ ok: true, message: 'already deployed', version: sha, colour: live, previousVersion: state.previous?.version });
    }
    void notify(ctx, { event: 'deployment.started', deployment_id: id, version: sha, previous_version: record.previous_version, colour: target, metadata: { trigger: 'deploy', ...(ref ? { ref } : {}) } });
    ctx.reporter.info(`deploying ${sha.slice(0, 12)}${ref ? ` (${ref})` : ''} to ${target}${live ? `; ${live} keeps serving until the switch` : ' (first deploy)'}`);

    const image = await phases.run('image', () => ensureImage(ctx, sha, buildArgs(sha, ref ?? sha.slice(0, 7), new Date(started))));
    ctx.hostLog.add('image', { ref: image.ref, how: image.how, bytes: image.bytes });
    held = true;
    await holdRelease(ctx, layout, image.ref); // no prune may take the release away before its colour starts
    await phases.run('provision', () => provision(ctx, layout, facts, stack, colourImages(stack, target, image.ref)));
    await ctx.hostLog.flush();
    // snapshot + migrations before the new colour starts; the old colour keeps serving (docs/migrations.md)
    const db = await databaseStep(ctx, layout, phases, { record, state, image: image.ref, sha, skip: !!req.skipMigrations, liveVersion: live ? state.current?.version : undefined, live });
    await ctx.hostLog.flush();

    await phases.run(`start ${target}`, () => startColour(ctx, layout, facts.compose, target, stack));
    record.health_status = (await cutOver(ctx, layout, phases, { target, live, sha, stack, expect: { schemaVersion: db.schemaVersion } })).status;
    seen.switched = true;
    ctx.hostLog.add('switched', { colour: target, from: live ?? null });

    record.status = 'active';
    record.duration_seconds = round((ctx.clock.now() - started) / 1000);
    try {
      await phases.run('record', () => writeState(ctx, layout, applyRecord(state!, record, ctx.cfg.config.deployment.history_limit), record));
    } catch (e) {
      // the switch happened: the new version serves. The gate flags are the truth the next deploy reads.
      ctx.reporter.error(`the new version is live on ${target}, but recording it failed: ${describeError(e)}`);
      throw new DeployError('state', `deployed and serving, but state.json could not be written: ${describeError(e)}`, 'fix the host path\'s permissions or disk; the next deploy reads the live colour from the proxy gates, not from state.json');
    }
    if (live) {
      const from = live;
      await phases.run(`retire ${from}`, () => retireColour(ctx, layout, from));
    }
    await phases.run('prune images', async () => {
      const keep = ctx.cfg.config.deployment.keep_images;
      const protect = [sha, state!.current?.version, ...state!.history.filter((h) => h.status !== 'failed').slice(0, keep).map((h) => h.version), ...(await versionsOfNeighbours(ctx))].filter((v): v is string => !!v);
      const removed = await pruneImages(ctx, keep, protect);
      if (removed.length) ctx.reporter.info(`removed ${removed.length} old image(s): ${removed.map((t) => t.slice(0, 12)).join(', ')}`);
    });
    if (ctx.cfg.config.monitoring.enabled) await phases.run('monitoring', () => monitoringStep(ctx, layout, facts.compose)); // a failure is only a warning
    // the lock stays held through the watch; a failed watch switches back and throws WatchRolledBack
    await watchAfterDeploy(ctx, layout, phases, { record, previous: live ? state.current : undefined, previousColour: live, compose: facts.compose });
    void notify(ctx, { event: 'deployment.completed', deployment_id: id, version: sha, previous_version: record.previous_version, colour: target, duration_seconds: round((ctx.clock.now() - started) / 1000), metadata: { trigger: 'deploy', ...(ref ? { ref } : {}) } });
    ctx.hostLog.add('deployment.completed', { version: sha, colour: target, duration_seconds: round((ctx.clock.now() - started) / 1000) });
    return report({ ok: true, message: `${sha.slice(0, 12)} is live on ${target}`, version: sha, colour: target, previousVersion: live ? state.current?.version : undefined, record });
  } catch (e) {
    if (e instanceof WatchRolledBack) throw e; // recorded and announced as a rollback already
    record.status = 'failed';
    record.health_status = record.health_status === 'unknown' ? 'unhealthy' : record.health_status;
    record.failure = { class: e instanceof DeployError ? e.kind : 'unexpected', exit_code: exitCodeOf(e), message: ctx.redactor.redact(describeError(e)).slice(0, 2000) };
    record.duration_seconds = round((ctx.clock.now() - started) / 1000);
    ctx.hostLog.add('deployment.failed', { failure: record.failure });
    void notify(ctx, { event: 'deployment.failed', deployment_id: id, version: sha, previous_version: record.previous_version, colour: record.colour, duration_seconds: record.duration_seconds, failure: { class: record.failure.class, exit_code: record.failure.exit_code, reason: record.failure.message }, metadata: { trigger: 'deploy', ...(ref ? { ref } : {}) } });
    if (state && !(e instanceof DeployError && e.kind === 'state')) {
      await writeState(ctx, layout, applyRecord(state, record, ctx.cfg.config.deployment.history_limit), record).catch((w: unknown) => ctx.reporter.warn(`could not record the failure: ${describeError(w)}`));
    }
    throw e;
  } finally {
    if (held) await releaseHold(ctx, layout);
    await ctx.hostLog.flush().catch(() => undefined);
    await settleNotifications(ctx); // metrics and notifications go out while the lock is still held
    await lock.release().catch((e: unknown) => ctx.reporter.warn(`releasing the lock failed: ${describeError(e)}`));
  }
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
