import { ulid } from 'ulid';
import { DeployError, describeError, exitCodeOf } from '../../errors.js';
import type { EventInput } from '../../notify/event.js';
import type { EngineContext } from '../context.js';
import { notify, settleNotifications } from '../observe/notify.js';
import { Phases } from '../phases.js';
import type { Target, TargetLock } from '../release/target.js';
import { WatchRolledBack } from '../release/watch.js';
import { HostLog } from '../stack/hostlog.js';
import { Layout } from '../stack/layout.js';
import { applyRecord, writeState } from '../stack/state.js';
import { targetFor } from './target.js';
import { batching, type BatchHost } from '../batch.js';
import {
  short,
  seconds,
  type Colour,
  type DeploymentRecord,
  type EnvironmentState,
  type OperationReport,
} from '../types.js';

export type OperationKind = 'deploy' | 'rollback' | 'snapshot';

/** what the notification of an operation says, apart from what the operation fills in itself */
type Announcement = Omit<EventInput, 'deployment_id'>;

const failures = new WeakMap<object, OperationReport>();

/** The report of a failed operation, kept with its error: the adapters show its real duration, phases and what serves. */
export function failedReport(e: unknown): OperationReport | undefined {
  return typeof e === 'object' && e !== null ? failures.get(e) : undefined;
}

/**
 * One operation on one environment: its id, phases and layout, the lock, the host log, the deployment record's
 * lifecycle (begin → commit, or fail) and the event fan-out. runOperation() ends every operation the same way,
 * whatever path it took.
 */
export class Operation {
  readonly id = ulid();
  readonly started: number;
  readonly phases: Phases;
  readonly layout: Layout;
  /** the record this operation writes to the history (deploy, rollback), once it begins one */
  record?: DeploymentRecord;
  /** the environment's state as read under the lock; the record is applied to it */
  state?: EnvironmentState;
  /** the release under way, and the colours as the operation found them (null: none served), for a failure report */
  readonly seen: { sha?: string; live?: Colour | null; target?: Colour } = {};
  /**
   * The point of no return: the new version took the traffic. A failure after it neither switches back nor
   * records the release as failed — it serves.
   */
  switched = false;
  /** where the colours run (config provider) */
  readonly target: Target;
  /** ctx.host, able to send independent commands in one round trip (batch.ts) */
  readonly host: BatchHost;
  private lock?: TargetLock;
  private readonly cleanups: (() => Promise<void>)[] = [];
  private readonly tripsAtStart: number | undefined;

  constructor(
    readonly ctx: EngineContext,
    readonly kind: OperationKind,
    /** what its host-log events are named after: deployment.failed, rollback.failed, snapshot.restore.failed */
    private readonly logName: string = kind === 'deploy' ? 'deployment' : kind,
  ) {
    this.started = ctx.clock.now();
    // every step (and what keeps ctx, such as the lock and the host log) sends through it; outside a batch it
    // only passes commands on
    this.host = batching(ctx.host, (t) => ctx.redactor.redact(t));
    ctx.host = this.host;
    this.phases = new Phases(ctx.reporter, ctx.clock, ctx.host.roundTrips !== undefined);
    this.tripsAtStart = ctx.host.roundTrips;
    this.layout = new Layout(ctx.cfg);
    this.target = targetFor(ctx);
    ctx.hostLog = undefined; // each operation writes its own log, opened with its lock
  }

  phase<T>(name: string, fn: () => Promise<T>): Promise<T> {
    return this.phases.run(name, fn);
  }

  connect(): Promise<void> {
    return this.phase('connect', async () => this.ctx.host.connect?.());
  }

  /** takes the environment's lock (released in runOperation's finally) and opens the host log */
  async takeLock(what: string = this.kind): Promise<void> {
    const lock = this.target.lock(this.ctx, this.layout);
    await this.phase('lock', () => lock.acquire(this.id, what));
    this.lock = lock;
    this.ctx.hostLog = new HostLog(
      this.ctx.host,
      this.ctx.redactor,
      this.layout.path('logs', `${this.id}.jsonl`),
      this.id,
    );
  }

  /** runs at the end of the operation, whatever happens, before the lock is released */
  onFinish(fn: () => Promise<void>): void {
    this.cleanups.push(fn);
  }

  /**
   * One event, everywhere it goes: the host log always, and the notification channels (and deployment metrics)
   * when it is an outcome worth announcing. Notifications are not awaited; runOperation settles them.
   */
  event(name: string, fields: Record<string, unknown>, announce?: Announcement): void {
    this.ctx.hostLog?.add(name, fields);
    if (announce) void notify(this.ctx, { ...announce, deployment_id: this.id });
  }

  /** the record of the release this operation puts live, 'deploying' until committed */
  begin(
    record: Omit<
      DeploymentRecord,
      'id' | 'environment' | 'deployed_at' | 'deployed_by' | 'status' | 'health_status' | 'phases'
    >,
  ): DeploymentRecord {
    this.record = {
      id: this.id,
      environment: this.ctx.cfg.environment,
      deployed_at: new Date(this.started).toISOString(),
      deployed_by: this.ctx.actor,
      status: 'deploying',
      health_status: 'unknown',
      phases: this.phases.timings,
      ...record,
    };
    return this.record;
  }

  /**
   * The release serves (the caller switched): marks the record active and writes it to state.json. A failed
   * write is a `state` failure that leaves the release serving — the gate flags are the truth the next run reads.
   */
  async commit(verb: string): Promise<void> {
    const { record, state, ctx } = this;
    if (!record || !state) throw new Error('commit without a record');
    this.switched = true;
    record.status = 'active';
    record.duration_seconds = this.elapsedSeconds();
    try {
      await this.phase('record', () =>
        writeState(ctx, this.layout, applyRecord(state, record, ctx.cfg.config.deployment.history_limit), record),
      );
    } catch (e) {
      ctx.reporter.error(
        `${short(record.version)} is live on ${record.colour}, but recording it failed: ${describeError(e)}`,
      );
      throw new DeployError(
        'state',
        `${verb} and serving, but state.json could not be written: ${describeError(e)}`,
        "fix the host path's permissions or disk; the next deploy reads the live colour from the proxy gates, not from state.json",
      );
    }
  }

  elapsedSeconds(): number {
    return seconds(this.ctx.clock.now() - this.started);
  }

  report(partial: Partial<OperationReport> & { ok: boolean; message: string }): OperationReport {
    return {
      operation: this.ctx.dryRun ? 'plan' : this.kind,
      exitCode: 0,
      environment: this.ctx.cfg.environment,
      deploymentId: this.id,
      url: this.ctx.cfg.env.url,
      durationMs: this.ctx.clock.now() - this.started,
      phases: this.phases.timings,
      ...(this.tripsAtStart !== undefined && this.ctx.host.roundTrips !== undefined
        ? { roundTrips: this.ctx.host.roundTrips - this.tripsAtStart }
        : {}),
      ...partial,
    };
  }

  /** a failure: the record (when the release never served) says failed, the channels hear it, the adapters get a report */
  async fail(e: unknown): Promise<void> {
    const { ctx, record } = this;
    if (e instanceof WatchRolledBack) return; // the watch window recorded and announced its rollback
    if (!record) {
      this.event(`${this.logName}.failed`, { error: ctx.redactor.redact(describeError(e)).slice(0, 2000) });
      return;
    }
    const failure = {
      class: e instanceof DeployError ? e.kind : 'unexpected',
      exit_code: exitCodeOf(e),
      message: ctx.redactor.redact(describeError(e)).slice(0, 2000),
    };
    record.duration_seconds = this.elapsedSeconds();
    if (!this.switched) {
      record.status = 'failed';
      record.failure = failure;
      if (this.kind === 'deploy' && record.health_status === 'unknown') record.health_status = 'unhealthy';
    }
    this.event(
      `${this.logName}.failed`,
      { failure },
      {
        event: 'deployment.failed',
        version: record.version,
        previous_version: record.previous_version,
        colour: record.colour,
        duration_seconds: record.duration_seconds,
        failure: { class: failure.class, exit_code: failure.exit_code, reason: failure.message },
        metadata: {
          trigger: this.kind === 'rollback' ? 'rollback' : 'deploy',
          ...(record.ref ? { ref: record.ref } : {}),
        },
      },
    );
    if (this.state && !this.switched) {
      await writeState(
        ctx,
        this.layout,
        applyRecord(this.state, record, ctx.cfg.config.deployment.history_limit),
        record,
      ).catch((w: unknown) => ctx.reporter.warn(`could not record the failure: ${describeError(w)}`));
    }
  }

  /** what the adapters show of a failure, taken once the operation has ended (its duration includes the ending) */
  keepFailureReport(e: unknown): void {
    if (typeof e === 'object' && e !== null) failures.set(e, this.failureReport(e));
  }

  private failureReport(e: unknown): OperationReport {
    const { seen } = this;
    let serving: OperationReport['serving'];
    if (e instanceof WatchRolledBack) serving = 'previous';
    else if (this.switched) serving = 'new';
    else if (seen.live !== undefined) serving = seen.live ? 'previous' : 'none';
    const colour = serving === 'previous' ? (seen.live ?? undefined) : serving === 'new' ? seen.target : undefined;
    const message = this.ctx.redactor.redact(describeError(e));
    return this.report({
      ok: false,
      exitCode: exitCodeOf(e),
      message,
      version: seen.sha,
      colour,
      serving,
      record: this.record,
    });
  }

  /**
   * the one ending, on every path (it never throws): notifications settled (they go out while the lock is still
   * held), then in one round trip the registered cleanups and the host log side by side, and after them the lock
   * released — the command ends one round trip after its last step, or with it (endWith)
   */
  async finish(): Promise<void> {
    const { ctx } = this;
    await settleNotifications(ctx);
    // the ending rode with the last step (endWith): only what was logged since (its failure) is left to write
    if (this.ended) return void (await ctx.hostLog?.flush().catch(() => undefined));
    const [ended, unlocked] = this.host.together(...this.ending());
    await this.awaitEnding(ended, unlocked);
  }

  /**
   * The operation's last step and the ending in one round trip (a last step that sends one command): its
   * command, the cleanups and the host log side by side, then the lock release once they have all ended,
   * whatever they returned — the lock is released after a failed last step too. The command ends as soon as
   * the last step has; finish() then has nothing left but what a failure logs.
   */
  async endWith(last: () => Promise<void>): Promise<void> {
    await settleNotifications(this.ctx); // they go out while the lock is still held
    this.ended = true;
    const [cleanUp, unlock] = this.ending();
    let done: Promise<void> = Promise.resolve();
    const [ended, unlocked] = this.host.together(() => {
      done = last();
      done.catch(() => undefined); // awaited below, once the ending has been waited for
      return cleanUp();
    }, unlock);
    await this.awaitEnding(ended, unlocked);
    await done;
  }

  private ended = false;

  /** the ending's two groups: the registered cleanups and the host log side by side, then the lock release */
  private ending() {
    const { ctx } = this;
    const warn = (e: unknown) => ctx.reporter.warn(describeError(e));
    const cleanups = this.cleanups.splice(0);
    return [
      () => Promise.all([...cleanups.map((fn) => fn().catch(warn)), ctx.hostLog?.flush().catch(() => undefined)]),
      async () => this.lock?.release(),
    ] as const;
  }

  private async awaitEnding(ended: Promise<unknown>, unlocked: Promise<unknown>): Promise<void> {
    await ended;
    await unlocked.catch((e: unknown) => this.ctx.reporter.warn(`releasing the lock failed: ${describeError(e)}`));
  }
}

/** Runs an operation's steps inside the one skeleton: a failure is recorded and reported, and the ending always runs. */
export async function runOperation<T>(
  ctx: EngineContext,
  kind: OperationKind,
  body: (op: Operation) => Promise<T>,
  logName?: string,
): Promise<T> {
  const op = new Operation(ctx, kind, logName);
  let result: T;
  try {
    result = await body(op);
  } catch (e) {
    await op.fail(e);
    await op.finish();
    op.keepFailureReport(e); // after the ending, so its duration and phases are the whole operation's
    throw e;
  }
  await op.finish();
  return result;
}
