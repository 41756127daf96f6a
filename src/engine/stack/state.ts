import { DeployError } from '../../errors.js';
import type { EngineContext } from '../context.js';
import { readStateCmd, writeStateCmd } from './commands.js';
import type { Layout } from './layout.js';
import type { StackFacts } from './colours.js';
import { ulid } from 'ulid';
import { short, type Colour, type DeploymentRecord, type EnvironmentState } from '../types.js';

export function emptyState(environment: string): EnvironmentState {
  return { schema: 1, environment, history: [], updated_at: new Date(0).toISOString() };
}

export async function readState(ctx: EngineContext, layout: Layout): Promise<EnvironmentState> {
  const r = await ctx.host.run(readStateCmd(layout), { check: false });
  if (r.code === 3) return emptyState(ctx.cfg.environment);
  if (r.code !== 0)
    throw new DeployError('state', `cannot read ${layout.stateFile}: ${ctx.redactor.redact(r.stderr.trim())}`);
  try {
    const s = JSON.parse(r.stdout) as EnvironmentState;
    if (s.schema !== 1 || !Array.isArray(s.history)) throw new Error('unknown schema');
    return s;
  } catch (e) {
    throw new DeployError(
      'state',
      `${layout.stateFile} is not a valid state file (${(e as Error).message})`,
      'restore it from history.jsonl beside it, or move it away to start a fresh history',
    );
  }
}

/**
 * Applies a finished record to the state: pure, so the transitions are unit-tested.
 * An active record supersedes the current one; a failed one leaves current/previous untouched.
 */
export function applyRecord(state: EnvironmentState, record: DeploymentRecord, historyLimit: number): EnvironmentState {
  const history = [record, ...state.history.filter((h) => h.id !== record.id)];
  let { current, previous } = state;
  if (record.status === 'active') {
    if (current && current.id !== record.id) {
      // a rollback abandons the release it replaces; a deploy supersedes it
      const next = record.kind === 'rollback' ? ('rolled_back' as const) : ('superseded' as const);
      const superseded = { ...current, status: current.status === 'active' ? next : current.status };
      const i = history.findIndex((h) => h.id === superseded.id);
      if (i >= 0) history[i] = superseded;
      // after a rollback, "previous" stays the version before the rolled-back one; the abandoned release is not a target
      previous = record.kind === 'rollback' ? findPreviousGood(history, record) : superseded;
    }
    current = record;
  }
  return { ...state, current, previous, history: history.slice(0, historyLimit), updated_at: new Date().toISOString() };
}

function findPreviousGood(history: DeploymentRecord[], record: DeploymentRecord): DeploymentRecord | undefined {
  return history.find(
    (h) => h.id !== record.id && h.version !== record.version && (h.status === 'superseded' || h.status === 'active'),
  );
}

/** Writes state.json atomically and appends the record to history.jsonl; both redacted. */
export async function writeState(
  ctx: EngineContext,
  layout: Layout,
  state: EnvironmentState,
  record: DeploymentRecord,
): Promise<void> {
  // one round trip: the first stdin line is appended to history.jsonl, the rest replaces state.json atomically
  const stdin =
    JSON.stringify(ctx.redactor.redactDeep(record)) +
    '\n' +
    JSON.stringify(ctx.redactor.redactDeep(state), null, 2) +
    '\n';
  const r = await ctx.host.run(writeStateCmd(layout), { stdin, check: false });
  if (r.code !== 0)
    throw new DeployError('state', `could not write ${layout.stateFile}: ${ctx.redactor.redact(r.stderr.trim())}`);
}

/**
 * The proxy's routing is the truth. When state.json disagrees with it (a deploy died after the switch but
 * before recording, or the state file was restored from an old copy), the state is reconciled from what is
 * live: a record for the routed colour's image is made current. Pure; the caller logs and persists it.
 */
export function reconcile(
  state: EnvironmentState,
  live: { colour: Colour; image?: string } | undefined,
  now: Date,
  historyLimit: number,
): { state: EnvironmentState; record?: DeploymentRecord } {
  if (!live?.image) return { state };
  const sha = /:([0-9a-f]{40})$/.exec(live.image)?.[1];
  if (!sha) return { state };
  if (state.current && state.current.colour === live.colour && state.current.version === sha) return { state };
  const record: DeploymentRecord = {
    id: ulid(),
    kind: 'deploy',
    environment: state.environment,
    version: sha,
    image: live.image,
    colour: live.colour,
    deployed_at: now.toISOString(),
    deployed_by: 'reconciled from the proxy',
    status: 'active',
    health_status: 'unknown',
    previous_version: state.current?.version,
    phases: [],
    flags: {},
  };
  return { state: applyRecord(state, record, historyLimit), record };
}

/** state.json follows the proxy's truth; a disagreement is logged and written back at once */
export async function reconcileState(
  ctx: EngineContext,
  layout: Layout,
  state: EnvironmentState,
  stack: StackFacts,
  live: Colour | undefined,
): Promise<EnvironmentState> {
  const r = reconcile(
    state,
    live ? { colour: live, image: stack[live].image } : undefined,
    new Date(ctx.clock.now()),
    ctx.cfg.config.deployment.history_limit,
  );
  if (!r.record) {
    if (!live && state.current)
      ctx.reporter.warn(
        `state.json says ${short(state.current.version)} is live on ${state.current.colour}, but the proxy routes to no colour`,
      );
    return state;
  }
  const was = state.current ? `${short(state.current.version)} on ${state.current.colour}` : 'nothing';
  ctx.reporter.warn(
    `state.json said ${was} is live, the proxy routes to ${short(r.record.version)} on ${r.record.colour}: state reconciled from the proxy`,
  );
  ctx.hostLog?.add('state.reconciled', { was: state.current?.id ?? null, now: r.record });
  await writeState(ctx, layout, r.state, r.record);
  return r.state;
}
