import { DeployError } from '../../errors.js';
import { script, type Command, type RunResult } from '../../host/host.js';
import { describeError } from '../../errors.js';
import { flagCmd, type StackFacts } from '../stack/colours.js';
import { COLOUR_HOSTS, INTERNAL_PORT, UPSTREAM_HEADER } from './caddyfile.js';
import type { EngineContext } from '../context.js';
import { commitMatches, parseWgetOutput } from './health.js';
import type { Layout } from '../stack/layout.js';
import type { Colour } from '../types.js';
import type { Target } from './target.js';

/**
 * By when every Caddy handler has seen a flag flip: each site that imports the upstreams runs its own health
 * checker, at most one interval away from its next check, which answers within the timeout; `marginMs` on top.
 */
function flipSeenMs(ctx: EngineContext, marginMs: number): number {
  const p = ctx.cfg.proxy;
  return p.health_interval + p.health_timeout + marginMs;
}

/** the fixed wait after a flip the tool cannot watch through the proxy: at least the configured settle */
export function settleMs(ctx: EngineContext): number {
  return Math.max(ctx.cfg.config.deployment.switch_settle, flipSeenMs(ctx, 200));
}

/**
 * The least time after a flag flip by which every Caddy handler has seen it. Verification sees one handler (the
 * internal site); the retire waits for the others by the clock.
 */
export function seenByAllMs(ctx: EngineContext): number {
  return flipSeenMs(ctx, 100);
}

/** when the last switch flipped the flags, by this process's clock; the retire waits from it */
const flippedAt = new WeakMap<Layout, number>();

/*
 * The switch without a proxy reload, in one round trip: both colours are Caddy upstreams with `lb_policy first`
 * and an active health check answered by each colour's gate. The new flag goes on and the old one off together:
 * every handler checks both gates at the same tick, so it moves new requests to the new colour at its next
 * check. Then, still in the same command, the version endpoint is asked through Caddy's internal site every
 * 20 ms from inside the new colour's gate until it answers from the new colour three times in a row — Caddy's
 * own view, not a fixed wait. Requests already on the old colour finish there: its app runs until the retire.
 *
 * A check that lands between the two flips (a few milliseconds a tick) can see neither colour in rotation for one
 * interval; the upstream retries (lb_retry_match) make requests wait for it rather than fail.
 */
/**
 * Inside a gate container: asks the version endpoint ($0) through the proxy until the header line $1 shows in
 * $2 answers in a row, at most $3 times, 20 ms apart; prints every answer as a "--- i" block (parseVerify).
 * No single quote inside: it travels as one sh -c argument.
 */
export const VERIFY_LOOP = `
n=0; i=0
while [ "$i" -lt "$3" ]; do
  i=$((i+1))
  out=$(timeout 3 wget -q -S -O - "$0" 2>&1)
  echo "--- $i"; echo "$out"; echo
  case "$out" in *"$1"*) n=$((n+1));; *) n=0;; esac
  [ "$n" -ge "$2" ] && break
  sleep 0.02
done
`;

/** where the verification runs: a container name, or "label=k=v" for the container of a Swarm service on this node */
export const VIA = `c=$1; case "$c" in label=*) c=$(docker ps -q --filter "$c" | head -n 1);; esac`;

/** $1 the gate container (or label=…, see VIA), $2… VERIFY_LOOP's arguments */
export const VERIFY_UNTIL = `${VIA}
docker exec "$c" sh -c '${VERIFY_LOOP}' "$2" "$3" "$4" "$5"`;

/**
 * $1 the new colour's flag directory, $2 the old one's ('' when none), then VERIFY_UNTIL's arguments. Prints how
 * long ago (ns, by the host's clock) the flags were flipped when the host's date can say it.
 */
export const SWITCH = `
set -e
mkdir -p -- "$1"; touch -- "$1/ready"
if [ -n "$2" ]; then rm -f -- "$2/ready"; fi
t0=$(date +%s%N 2>/dev/null) || t0=
set +e
shift 2
${VIA}
docker exec "$c" sh -c '${VERIFY_LOOP}' "$2" "$3" "$4" "$5"
t1=$(date +%s%N 2>/dev/null) || t1=
case "$t0$t1" in *[!0-9]*|'') ;; *) echo "flipped_ns_ago=$((t1 - t0))";; esac
`;

/** answers in a row from the new colour that verify a switch */
const IN_A_ROW = 3;

function verifyArgs(ctx: EngineContext, colour: Colour, polls: number): string[] {
  const url = `http://caddy:${INTERNAL_PORT}${ctx.cfg.config.app.health.version_path}`;
  return [url, `${UPSTREAM_HEADER}: ${COLOUR_HOSTS[colour]}`, String(IN_A_ROW), String(polls)];
}

/** the polls one round trip makes at most: about two health intervals' worth, so a slow proxy costs a few trips */
function pollsPerTrip(ctx: EngineContext): number {
  return Math.max(10, Math.ceil((2 * ctx.cfg.proxy.health_interval + ctx.cfg.proxy.health_timeout) / 25));
}

export function switchCmd(
  ctx: EngineContext,
  layout: Layout,
  to: Colour,
  from: Colour | undefined,
  via = layout.gate(to),
): Command {
  const off = from && from !== to ? layout.path('gates', from) : '';
  return script(SWITCH, layout.path('gates', to), off, via, ...verifyArgs(ctx, to, pollsPerTrip(ctx)));
}

export function verifyCmd(ctx: EngineContext, layout: Layout, colour: Colour, via = layout.gate(colour)): Command {
  return script(VERIFY_UNTIL, via, ...verifyArgs(ctx, colour, pollsPerTrip(ctx)));
}

/**
 * Routes to `to` and takes `from` out, then verifies through the proxy: the version endpoint must answer from
 * the new colour with the new commit. Throws when it does not within deployment.verify_timeout.
 */
export async function switchTo(
  ctx: EngineContext,
  layout: Layout,
  to: Colour,
  from: Colour | undefined,
  sha: string,
  /** where the verification runs (Target.verifyVia); the new colour's gate on one host */
  via = layout.gate(to),
): Promise<void> {
  const deadline = ctx.clock.now() + ctx.cfg.config.deployment.verify_timeout;
  const r = await ctx.host.run(switchCmd(ctx, layout, to, from, via), { check: false, timeoutMs: 30_000 });
  const ago = /^flipped_ns_ago=(\d+)$/m.exec(r.stdout);
  // without the host's clock, the end of the command is a later, so safe, flip time
  flippedAt.set(layout, ctx.clock.now() - (ago ? Math.round(Number(ago[1]) / 1e6) : 0));
  if (r.code !== 0 && !/^--- \d+$/m.test(r.stdout)) {
    throw new DeployError(
      'switch',
      `switching to ${to} failed before the proxy could be asked: ${ctx.redactor.redact(r.stderr.trim()) || `exit code ${r.code}`}`,
    );
  }
  await verifyThroughProxy(ctx, layout, to, sha, r, deadline, via);
}

/** the last IN_A_ROW answers all from the new colour with the new commit */
function verified(samples: VerifySample[], colour: Colour, sha: string): boolean {
  const want = COLOUR_HOSTS[colour];
  const last = samples.slice(-IN_A_ROW);
  return (
    last.length === IN_A_ROW &&
    last.every(
      (s) =>
        s.code === 200 && (s.upstream === undefined || s.upstream.startsWith(want)) && commitMatches(s.commit, sha),
    )
  );
}

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

/**
 * Through the proxy, the version endpoint must answer from the new colour with the new commit, three times in a
 * row. `first` is what the switch's own round trip already saw; more round trips only when it was not enough.
 */
export async function verifyThroughProxy(
  ctx: EngineContext,
  layout: Layout,
  colour: Colour,
  sha: string,
  first?: RunResult,
  deadline = ctx.clock.now() + ctx.cfg.config.deployment.verify_timeout,
  via = layout.gate(colour),
): Promise<void> {
  let r = first ?? (await ctx.host.run(verifyCmd(ctx, layout, colour, via), { check: false, timeoutMs: 30_000 }));
  for (;;) {
    const samples = parseVerify(r.stdout);
    if (verified(samples, colour, sha)) {
      if (samples.slice(-IN_A_ROW).some((s) => s.upstream === undefined))
        ctx.reporter.warn('the proxy does not send X-Togather-Upstream; verified by version only');
      return;
    }
    if (ctx.clock.now() >= deadline) {
      const last =
        samples
          .slice(-IN_A_ROW)
          .map((s) => `HTTP ${s.code} from ${s.upstream ?? '?'} (${s.commit?.slice(0, 12) ?? 'no commit'})`)
          .join('; ') ||
        ctx.redactor.redact(r.stderr.trim()) ||
        'no answer';
      throw new DeployError(
        'switch',
        `the proxy does not serve the new version from ${colour}: ${last}`,
        'check the proxy (caddy) container and its logs; the routing was put back as it was before the switch',
      );
    }
    await ctx.clock.sleep(50);
    r = await ctx.host.run(verifyCmd(ctx, layout, colour, via), { check: false, timeoutMs: 30_000 });
  }
}

export async function ensureProxyRunning(
  ctx: EngineContext,
  target: Target,
  layout: Layout,
  known?: StackFacts,
): Promise<void> {
  // facts read moments ago are good enough when they say running; anything else is looked at again
  const facts = known?.caddy === 'running' ? known : await target.inspect(ctx, layout);
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
  provider: Target,
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
    await provider.stopColour(ctx, layout, target, ctx.cfg.config.deployment.drain_timeout);
    ctx.reporter.warn(live ? `switched back to ${live}` : `took ${target} out of the proxy`);
  } catch (e) {
    ctx.reporter.error(`switching back failed: ${describeError(e)}`);
  }
}

/**
 * Retires the colour that no longer receives traffic: once every proxy handler's health checker can have seen
 * its flag gone (seenByAllMs after the switch's flip; usually already past by now), `docker stop` gives its
 * in-flight requests the drain timeout to finish, and returns when the app has exited. The container and its
 * image stay for a fast rollback.
 */
export async function retireColour(ctx: EngineContext, target: Target, layout: Layout, colour: Colour): Promise<void> {
  await untilFlipSeen(ctx, layout);
  await target.stopColour(ctx, layout, colour, ctx.cfg.config.deployment.drain_timeout);
}

/** until every Caddy handler has seen the last switch's flip: only then may the old colour stop */
export async function untilFlipSeen(ctx: EngineContext, layout: Layout): Promise<void> {
  const flip = flippedAt.get(layout);
  const wait = flip === undefined ? settleMs(ctx) : flip + seenByAllMs(ctx) - ctx.clock.now();
  if (wait > 0) await ctx.clock.sleep(wait);
}
