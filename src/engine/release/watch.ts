import { ulid } from 'ulid';
import { DeployError, ExitCode, describeError } from '../../errors.js';
import { script } from '../../host/host.js';
import type { EngineContext } from '../context.js';
import { judgeHealth, parseWgetOutput } from './health.js';
import type { HostFacts } from './preflight.js';
import type { Target } from './target.js';
import type { Layout } from '../stack/layout.js';
import { notify } from '../observe/notify.js';
import type { Phases } from '../phases.js';
import { applyRecord, readState, writeState } from '../stack/state.js';
import { retireColour, switchTo } from './switch.js';
import { seconds, short, type Colour, type DeploymentRecord } from '../types.js';

export interface WatchPolicy {
  durationMs: number;
  intervalMs: number;
  threshold: number;
}

export interface WatchProbe {
  /** clock time the probe was sent */
  at: number;
  ok: boolean;
  code: number;
  upstream?: string;
  reason: string;
}

export interface WatchResult {
  ok: boolean;
  probes: number;
  failures: number;
  /** start of the run of failed probes that reached the threshold */
  firstFailureAt?: number;
  reason?: string;
}

// The app's health as the public sees it: through Caddy's internal site, from inside the stack's network.
export const PROXY_HEALTH = `
docker exec "$1" sh -c 'timeout "$0" wget -q -S -O - "$1" 2>&1' "$2" "http://$3:8088$4"; rc=$?
echo; echo "rc=$rc"
`;

export function parseProxyHealth(stdout: string): { code: number; upstream?: string; body: string; error?: string } {
  const lines = stdout.split('\n');
  const rcIdx = lines.findIndex((l) => /^rc=\d+$/.test(l));
  const w = parseWgetOutput(lines.slice(0, rcIdx < 0 ? undefined : rcIdx));
  return {
    code: w.code,
    upstream: w.headers['x-togather-upstream'],
    body: w.body,
    error: w.code === 0 ? (w.error ?? 'no answer') : w.error,
  };
}

export async function probeThroughProxy(ctx: EngineContext, layout: Layout, via: Colour): Promise<WatchProbe> {
  const h = ctx.cfg.config.app.health;
  const at = ctx.clock.now();
  const timeoutS = String(Math.max(1, Math.ceil(h.timeout / 1000)));
  const r = await ctx.host.run(script(PROXY_HEALTH, layout.gate(via), timeoutS, 'caddy', h.path), {
    check: false,
    timeoutMs: h.timeout + 15_000,
  });
  const p = parseProxyHealth(r.stdout);
  const verdict = judgeHealth(p.code, p.body, h);
  // busybox wget prints no body for an error status: the code is the reason then
  const reason =
    p.code === 0 ? (p.error ?? verdict.reason) : !p.body.trim() && !verdict.ok ? `HTTP ${p.code}` : verdict.reason;
  return { at, ok: verdict.ok, code: p.code, upstream: p.upstream, reason };
}

/**
 * Polls health through the proxy until the window ends (ok) or `threshold` probes in a row fail (not ok).
 * A probe that passes resets the count, so one slow answer does not trigger a switch back.
 */
export async function watchHealth(
  ctx: EngineContext,
  policy: WatchPolicy,
  probe: () => Promise<WatchProbe>,
): Promise<WatchResult> {
  const deadline = ctx.clock.now() + policy.durationMs;
  let probes = 0;
  let failures = 0;
  let run = 0;
  let firstFailureAt: number | undefined;
  for (;;) {
    const p = await probe();
    probes++;
    if (p.ok) {
      run = 0;
      firstFailureAt = undefined;
    } else {
      failures++;
      run++;
      firstFailureAt ??= p.at;
      ctx.reporter.warn(
        `watch: probe failed (${run}/${policy.threshold} in a row): ${p.reason}${p.upstream ? ` from ${p.upstream}` : ''}`,
      );
      if (run >= policy.threshold) return { ok: false, probes, failures, firstFailureAt, reason: p.reason };
    }
    if (ctx.clock.now() + policy.intervalMs > deadline) return { ok: true, probes, failures };
    await ctx.clock.sleep(policy.intervalMs);
  }
}

/** The deploy failed its watch window and the previous version serves again (exit code 11). */
export class WatchRolledBack extends DeployError {
  constructor(
    message: string,
    readonly servingAfterMs: number,
  ) {
    super(
      'switch',
      message,
      "the previous version serves again; look at the new version's logs (docker logs on the host) before deploying it again",
    );
  }
}

export interface WatchSubject {
  /** the deployment being watched (its record is already written as active) */
  record: DeploymentRecord;
  /** what served before it: its record and its (retired, kept) colour; absent on a first deploy */
  previous?: DeploymentRecord;
  previousColour?: Colour;
  /** where the colours run, and what its preflight found */
  target: Target;
  facts: HostFacts;
}

/**
 * The post-deploy watch window, run with the deploy lock still held. When health through the proxy fails
 * `failure_threshold` times in a row, the previous colour's retained container is started again, health-gated,
 * switched to and verified; then the new colour is retired, the history records a rollback, and
 * deployment.rolled_back is sent. Throws WatchRolledBack then, so the deploy exits non-zero.
 */
export async function watchAfterDeploy(
  ctx: EngineContext,
  layout: Layout,
  phases: Phases,
  s: WatchSubject,
): Promise<void> {
  const c = ctx.cfg.config.deployment.watch;
  if (c.duration === 0) return;
  const w: WatchPolicy = { durationMs: c.duration, intervalMs: c.interval, threshold: c.failure_threshold };
  const { record } = s;
  const colour = record.colour;
  ctx.reporter.info(
    `watching ${short(record.version)} on ${colour} for ${Math.round(w.durationMs / 1000)}s ` +
      `(probe every ${w.intervalMs / 1000}s, switch back after ${w.threshold} failures in a row); the lock stays held`,
  );
  const result = await phases.run('watch', () => watchHealth(ctx, w, () => probeThroughProxy(ctx, layout, colour)));
  ctx.hostLog?.add('watch', { ok: result.ok, probes: result.probes, failures: result.failures });
  if (result.ok) {
    ctx.reporter.info(`watch passed: ${result.probes} probes, ${result.failures} failed`);
    return;
  }
  const firstFailureAt = result.firstFailureAt ?? ctx.clock.now();
  const prev = s.previous;
  const back = s.previousColour;
  if (!prev || !back) {
    throw new DeployError(
      'health',
      `${short(record.version)} became unhealthy during the watch window (${result.reason}); ` +
        'there is no earlier version to switch back to, so it keeps serving',
      'fix the release and deploy again',
    );
  }
  ctx.reporter.error(
    `watch: ${w.threshold} failed probes in a row; switching back to ${back} (${short(prev.version)})`,
  );
  let servingAt: number;
  try {
    servingAt = await phases.run(`switch back to ${back}`, () =>
      restorePrevious(ctx, s, layout, back, colour, prev.version),
    );
  } catch (e) {
    throw new DeployError(
      'switch',
      `${short(record.version)} became unhealthy during the watch window (${result.reason}) and switching back to ${back} failed: ${describeError(e)}`,
      `the new version is still routed; roll back by hand (togather-deploy rollback ${ctx.cfg.environment}) after checking the host`,
    );
  }
  const servingAfterMs = servingAt - firstFailureAt;
  ctx.reporter.warn(
    `${short(prev.version)} serves again from ${back}, ${(servingAfterMs / 1000).toFixed(1)}s after the first failed probe`,
  );
  ctx.hostLog?.add('watch.rolled_back', { to: prev.version, colour: back, serving_after_ms: servingAfterMs });

  await phases.run(`retire ${colour}`, () => retireColour(ctx, s.target, layout, colour));
  const rb: DeploymentRecord = {
    id: ulid(),
    kind: 'rollback',
    environment: ctx.cfg.environment,
    version: prev.version,
    ...(prev.ref ? { ref: prev.ref } : {}),
    image: prev.image,
    colour: back,
    deployed_at: new Date(firstFailureAt).toISOString(),
    deployed_by: `${ctx.actor} (watch window of ${record.id})`,
    status: 'active',
    health_status: 'healthy',
    previous_version: record.version,
    phases: [],
    duration_seconds: seconds(servingAfterMs),
    flags: {},
  };
  const reason = `unhealthy during the watch window: ${result.reason}`;
  try {
    const state = await readState(ctx, layout);
    // the watched release becomes rolled_back (applyRecord marks the record a rollback replaces)
    const marked = {
      ...state,
      current:
        state.current?.id === record.id
          ? {
              ...state.current,
              failure: {
                class: 'watch',
                exit_code: ExitCode.switch,
                message: ctx.redactor.redact(reason).slice(0, 2000),
              },
            }
          : state.current,
    };
    await writeState(ctx, layout, applyRecord(marked, rb, ctx.cfg.config.deployment.history_limit), rb);
  } catch (e) {
    ctx.reporter.error(`the previous version serves again, but recording the rollback failed: ${describeError(e)}`);
  }
  await notify(ctx, {
    event: 'deployment.rolled_back',
    deployment_id: record.id,
    version: prev.version,
    previous_version: record.version,
    colour: back,
    // the whole operation, like the other events; the rollback's own speed is in serving_after_seconds
    duration_seconds: seconds(ctx.clock.now() - Date.parse(record.deployed_at)),
    failure: { class: 'watch', exit_code: ExitCode.switch, reason },
    metadata: {
      trigger: 'watch',
      rollback_id: rb.id,
      serving_after_seconds: seconds(servingAfterMs),
      ...(prev.ref ? { ref: prev.ref } : {}),
    },
  });
  throw new WatchRolledBack(
    `${short(record.version)} failed its watch window (${result.reason}); switched back to ${short(prev.version)} on ${back}, ` +
      `serving ${(servingAfterMs / 1000).toFixed(1)}s after the first failed probe`,
    servingAfterMs,
  );
}

/**
 * Starts the retained previous colour as it is (its container kept by the retire), health-gates it, switches
 * to it and verifies through the proxy. Returns the clock time the previous version was verified serving.
 */
async function restorePrevious(
  ctx: EngineContext,
  s: WatchSubject,
  layout: Layout,
  back: Colour,
  from: Colour,
  version: string,
): Promise<number> {
  try {
    await s.target.resumeColour(ctx, layout, back);
  } catch (e) {
    // the container is gone or its gate was recreated: the colour is started again from its image
    ctx.reporter.warn(`starting ${back} as it was failed (${ctx.redactor.redact(describeError(e))}); recreating it`);
    await s.target.startColour(ctx, layout, s.facts, back);
  }
  await s.target.healthGate(ctx, layout, back, version);
  try {
    await switchTo(ctx, layout, back, from, version, s.target.verifyVia(layout, back));
  } catch (e) {
    // the flags now route to the previous colour; switching to the failing release again would be worse
    ctx.reporter.warn(
      `switched back to ${back}, but the proxy did not confirm it in time: ${ctx.redactor.redact(describeError(e))}`,
    );
  }
  return ctx.clock.now();
}
