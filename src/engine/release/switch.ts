import { DeployError } from '../../errors.js';
import { script } from '../../host/host.js';
import { describeError } from '../../errors.js';
import { flagCmd, inspectStack, setFlag, stopColour, type StackFacts } from '../stack/colours.js';
import type { EngineContext } from '../context.js';
import { commitMatches, parseWgetOutput } from './health.js';
import type { Layout } from '../stack/layout.js';
import type { Colour } from '../types.js';

/** Caddy must see a flag change: one health interval plus the check's timeout and a margin, at least the configured settle. */
export function settleMs(ctx: EngineContext): number {
  const p = ctx.cfg.proxy;
  // a flag flip is seen by Caddy's next check: at most one interval away, answered within the timeout
  return Math.max(ctx.cfg.config.deployment.switch_settle, p.health_interval + p.health_timeout + 200);
}

/*
 * The switch without a proxy reload: both colours are Caddy upstreams with `lb_policy first` and an active
 * health check answered by each colour's gate. Turning the new flag on and then the old one off moves new
 * requests to the new colour within one health interval, while requests already on the old colour finish
 * there (its app keeps serving until it is stopped after the drain).
 */
export async function switchTo(
  ctx: EngineContext,
  layout: Layout,
  to: Colour,
  from: Colour | undefined,
): Promise<void> {
  const settle = settleMs(ctx);
  await setFlag(ctx, layout, to, true);
  // Caddy must count the new colour healthy before the old one goes: otherwise requests wait for an upstream
  await ctx.clock.sleep(settle);
  if (from && from !== to) await setFlag(ctx, layout, from, false);
  // no wait here: verifyThroughProxy polls until the proxy answers from the new colour only, which is also
  // the moment the old colour stops receiving new requests and may start draining
}

// Several requests through Caddy's internal site, from inside the stack network; each prints a block.
export const VERIFY = `
i=0
while [ "$i" -lt "$4" ]; do
  i=$((i+1))
  echo "--- $i"
  docker exec "$1" sh -c 'timeout 3 wget -q -S -O - "$0" 2>&1' "http://$2:8088$3"
  echo
done
`;

export interface VerifySample {
  upstream?: string;
  commit?: string;
  code: number;
}

export function parseVerify(out: string): VerifySample[] {
  return out
    .split(/^--- \d+$/m)
    .slice(1)
    .map((block) => {
      const w = parseWgetOutput(block.split('\n'));
      let commit: string | undefined;
      try {
        const doc = JSON.parse(w.body) as { git_commit?: unknown; version?: unknown };
        commit =
          typeof doc.git_commit === 'string'
            ? doc.git_commit
            : typeof doc.version === 'string'
              ? doc.version
              : undefined;
      } catch {
        /* not JSON: judged by code and upstream */
      }
      return { upstream: w.headers['x-togather-upstream'], commit, code: w.code };
    });
}

/** Through the proxy, the version endpoint must answer from the new colour with the new commit, every time. */
export async function verifyThroughProxy(
  ctx: EngineContext,
  layout: Layout,
  colour: Colour,
  sha: string,
): Promise<void> {
  const deadline = ctx.clock.now() + ctx.cfg.config.deployment.verify_timeout;
  const want = `app-${colour}`;
  for (;;) {
    const r = await ctx.host.run(
      script(VERIFY, layout.gate(colour), 'caddy', ctx.cfg.config.app.health.version_path, '3'),
      { check: false, timeoutMs: 30_000 },
    );
    const samples = parseVerify(r.stdout);
    const good = samples.filter(
      (s) =>
        s.code === 200 && (s.upstream === undefined || s.upstream.startsWith(want)) && commitMatches(s.commit, sha),
    );
    if (samples.length >= 3 && good.length === samples.length) {
      if (samples.some((s) => s.upstream === undefined))
        ctx.reporter.warn('the proxy does not send X-Togather-Upstream; verified by version only');
      return;
    }
    const last =
      samples
        .map((s) => `HTTP ${s.code} from ${s.upstream ?? '?'} (${s.commit?.slice(0, 12) ?? 'no commit'})`)
        .join('; ') ||
      ctx.redactor.redact(r.stderr.trim()) ||
      'no answer';
    if (ctx.clock.now() >= deadline) {
      throw new DeployError(
        'switch',
        `the proxy does not serve the new version from ${colour}: ${last}`,
        'check the proxy (caddy) container and its logs; the routing was put back as it was before the switch',
      );
    }
    await ctx.clock.sleep(300);
  }
}

export async function ensureProxyRunning(ctx: EngineContext, layout: Layout, known?: StackFacts): Promise<void> {
  // facts read moments ago are good enough when they say running; anything else is looked at again
  const facts = known?.caddy === 'running' ? known : await inspectStack(ctx, layout);
  if (facts.caddy !== 'running') {
    throw new DeployError(
      'switch',
      `the proxy container ${layout.caddy} is ${facts.caddy}: switching now would route nothing`,
      `start it (docker start ${layout.caddy}) or look at its logs; nothing was switched`,
    );
  }
}

/** After a failed verification: the old colour takes the traffic back, then the new one is stopped. */
export async function switchBack(
  ctx: EngineContext,
  layout: Layout,
  target: Colour,
  live: Colour | undefined,
): Promise<void> {
  try {
    if (live) {
      await ctx.host.run(flagCmd(layout, live, true));
      await ctx.clock.sleep(settleMs(ctx));
    }
    await ctx.host.run(flagCmd(layout, target, false));
    await ctx.clock.sleep(settleMs(ctx));
    await stopColour(ctx, layout, target, ctx.cfg.config.deployment.drain_timeout);
    ctx.reporter.warn(live ? `switched back to ${live}` : `took ${target} out of the proxy`);
  } catch (e) {
    ctx.reporter.error(`switching back failed: ${describeError(e)}`);
  }
}

/**
 * Retires the colour that no longer receives traffic: one more settle period lets every proxy handler's health
 * checker see its flag gone, then `docker stop` gives its in-flight requests the drain timeout to finish.
 * The container and its image stay for a fast rollback.
 */
export async function retireColour(ctx: EngineContext, layout: Layout, colour: Colour): Promise<void> {
  await ctx.clock.sleep(settleMs(ctx));
  await stopColour(ctx, layout, colour, ctx.cfg.config.deployment.drain_timeout);
}
