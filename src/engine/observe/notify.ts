import { describeError } from '../../errors.js';
import type { DeploymentEvent, EventInput } from '../../notify/event.js';
import type { DeliveryReport } from '../../notify/notifier.js';
import type { EngineContext } from '../context.js';
import { Layout } from '../stack/layout.js';
import { recordOutcomeMetrics } from './metrics.js';

export type { DeploymentEvent, EventInput } from '../../notify/event.js';

/** fills in what every event carries; pure apart from the clock, so it is unit-tested */
export function buildEvent(
  ctx: Pick<EngineContext, 'cfg' | 'clock' | 'actor' | 'runUrl' | 'host'>,
  input: EventInput,
): DeploymentEvent {
  return {
    schema_version: 1,
    event: input.event,
    deployment_id: input.deployment_id,
    environment: ctx.cfg.environment,
    version: input.version ?? null,
    previous_version: input.previous_version ?? null,
    colour: input.colour ?? null,
    timestamp: new Date(ctx.clock.now()).toISOString(),
    duration_seconds: input.duration_seconds ?? null,
    failure: input.failure ?? null,
    run_url: ctx.runUrl ?? null,
    metadata: {
      actor: ctx.actor,
      host: ctx.host.name,
      ...(ctx.cfg.env.url ? { url: ctx.cfg.env.url } : {}),
      ...input.metadata,
    },
  };
}

/**
 * Reports an outcome of a deploy or rollback: to every configured notification channel (from the runner) and,
 * with monitoring enabled, to the deployment metrics on the host. Never throws and never fails the operation:
 * a failed delivery is reported as a warning once its retries are spent. The returned promise settles when
 * this event is done; callers that must not wait (deployment.started) leave it, and settleNotifications()
 * waits for everything before the lock is released. Events are redacted as a whole before they leave.
 */
export function notify(ctx: EngineContext, input: EventInput): Promise<void> {
  return announce(ctx, input, true);
}

/**
 * An alert that is no deployment outcome (stale snapshots: `snapshot check`): to the notification channels, as
 * deployment.failed with its own trigger, but never into the deployment metrics. Settled like notify().
 */
export function alert(ctx: EngineContext, input: EventInput): Promise<void> {
  return announce(ctx, input, false);
}

function announce(ctx: EngineContext, input: EventInput, withMetrics: boolean): Promise<void> {
  if (ctx.dryRun) return Promise.resolve();
  const warn = (what: string) => (e: unknown) => ctx.reporter.warn(ctx.redactor.redact(`${what}: ${describeError(e)}`));
  let event: DeploymentEvent;
  try {
    event = ctx.redactor.redactDeep(buildEvent(ctx, input));
  } catch (e) {
    warn(`notification ${input.event} was not sent`)(e);
    return Promise.resolve();
  }
  const metrics = withMetrics
    ? recordOutcomeMetrics(ctx, new Layout(ctx.cfg), event).catch(
        warn('the deployment metrics file on the host could not be updated'),
      )
    : Promise.resolve();
  const n = ctx.notifier;
  const sent = n?.enabled
    ? n
        .send(event)
        .then(
          (reports) => reports.forEach((r) => reportDelivery(ctx, r)),
          warn(`notification ${input.event} was not sent`),
        )
    : Promise.resolve();
  const done = Promise.all([metrics, sent]).then(() => undefined);
  const list = pending.get(ctx) ?? [];
  list.push(done);
  pending.set(ctx, list);
  return done;
}

const pending = new WeakMap<EngineContext, Promise<void>[]>();

function reportDelivery(ctx: EngineContext, r: DeliveryReport): void {
  if (r.ok) {
    ctx.reporter.debug(
      `notification ${r.event} delivered to ${r.channel} (HTTP ${r.status}, ${r.attempts} attempt(s), ${r.ms} ms)`,
    );
    return;
  }
  ctx.reporter.warn(
    ctx.redactor.redact(
      `notification ${r.event} to ${r.channel} failed after ${r.attempts} attempt(s): ${r.error ?? `HTTP ${r.status}`} — the operation itself is not affected`,
    ),
  );
}

/** waits until every reported outcome is recorded and every notification delivered or given up */
export async function settleNotifications(ctx: EngineContext): Promise<void> {
  await Promise.all(pending.get(ctx) ?? []);
  pending.delete(ctx);
  await ctx.notifier?.settle().catch(() => undefined);
}
