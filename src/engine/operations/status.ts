import { script } from '../../host/host.js';
import { liveColour, type StackFacts } from '../stack/colours.js';
import { targetFor } from './target.js';
import type { EngineContext } from '../context.js';
import { Layout } from '../stack/layout.js';
import { formatFront, inspectFront, type FrontStatus } from '../front/stack.js';
import { NOINFO_STALE_S, type LockInfo } from '../stack/lock.js';
import { readState } from '../stack/state.js';
import { parseVerify, VIA } from '../release/switch.js';
import { short, type Colour, type EnvironmentState } from '../types.js';

export interface EnvironmentStatus {
  environment: string;
  /** the compose project, which the front's site files name */
  stackName: string;
  host: string;
  live?: Colour;
  /** what answers through the proxy right now */
  proxy: { code: number; upstream?: string; commit?: string };
  state: EnvironmentState;
  stack: StackFacts;
  lock?: LockInfo;
  /** a lock directory without info.json (its creator died while taking it, or is taking it now): its age */
  lockWithoutInfoAgeS?: number;
  /** the state file and the proxy disagree (e.g. a deploy died after the switch): the proxy is the truth */
  drift?: string;
  /** behind the host's front proxy: its container and this environment's domains there */
  front?: FrontStatus;
}

export const PROXY_PROBE = `
echo "--- 1"
${VIA}
docker exec "$c" sh -c 'timeout 3 wget -q -S -O - "$0" 2>&1' "http://$2:8088$3" || true
`;

export async function status(ctx: EngineContext): Promise<EnvironmentStatus> {
  const layout = new Layout(ctx.cfg);
  const [state, stack, lockView, front] = await Promise.all([
    readState(ctx, layout),
    targetFor(ctx).inspect(ctx, layout),
    targetFor(ctx).lockView(ctx, layout),
    layout.front ? inspectFront(ctx) : undefined,
  ]);
  const lock = lockView.kind === 'held' ? lockView.holder : undefined;
  const live = liveColour(stack, state.current?.colour);
  let proxy: EnvironmentStatus['proxy'] = { code: 0 };
  const probeFrom = live ?? 'blue';
  if (stack[probeFrom].gate === 'running') {
    const r = await ctx.host.run(
      script(PROXY_PROBE, targetFor(ctx).verifyVia(layout, probeFrom), 'caddy', ctx.cfg.config.app.health.version_path),
      { check: false, timeoutMs: 20_000 },
    );
    const s = parseVerify(r.stdout)[0];
    if (s) proxy = { code: s.code, upstream: s.upstream, commit: s.commit };
  }
  let drift: string | undefined;
  if (state.current && live && state.current.colour !== live)
    drift = `state.json says ${state.current.colour} is live, the proxy routes to ${live}`;
  if (state.current && !live) drift = 'state.json names a live deployment, but no colour is routed by the proxy';
  return {
    environment: ctx.cfg.environment,
    stackName: layout.stack,
    host: ctx.host.name,
    live,
    proxy,
    state,
    stack,
    lock,
    ...(lockView.kind === 'no-info' ? { lockWithoutInfoAgeS: lockView.ageS } : {}),
    drift,
    ...(front ? { front } : {}),
  };
}

export function formatStatus(s: EnvironmentStatus): string {
  const cur = s.state.current;
  const prev = s.state.previous;
  const held = s.lock
    ? `held by ${s.lock.acquired_by} (${s.lock.operation} ${s.lock.deployment_id}) until ${s.lock.expires_at}`
    : s.lockWithoutInfoAgeS !== undefined
      ? `a directory without holder information, ${s.lockWithoutInfoAgeS}s old (taken over by the next operation after ${NOINFO_STALE_S}s; see unlock)`
      : 'free';
  const lines = [
    `environment  ${s.environment} on ${s.host}`,
    `serving      ${s.live ? `${s.live}` : 'nothing'}` +
      `${cur ? ` — ${short(cur.version)}${cur.ref ? ` (${cur.ref})` : ''}, deployed ${cur.deployed_at} by ${cur.deployed_by}` : ''}`,
    `previous     ${prev ? `${short(prev.version)}${prev.ref ? ` (${prev.ref})` : ''} (${prev.status})` : 'none'}`,
    `proxy        ${s.proxy.code ? `HTTP ${s.proxy.code} from ${s.proxy.upstream ?? '?'}, commit ${s.proxy.commit?.slice(0, 12) ?? '?'}` : 'no answer'}`,
    `containers   caddy ${s.stack.caddy}, db ${s.stack.db}, blue ${s.stack.blue.app}${s.stack.blue.flag ? ' (routed)' : ''}, ` +
      `green ${s.stack.green.app}${s.stack.green.flag ? ' (routed)' : ''}` +
      `${s.stack.keeper !== 'absent' ? `, keeper ${s.stack.keeper}` : ''}`,
    `lock         ${held}`,
  ];
  if (s.front) lines.push(`front proxy  ${formatFront(s.front, s.stackName)}`);
  if (s.drift) lines.push(`drift        ${s.drift}`);
  return lines.join('\n');
}
