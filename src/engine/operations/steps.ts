import { NotRun } from '../batch.js';
import type { EngineContext } from '../context.js';
import type { HostFacts } from '../release/preflight.js';
import { retireColour, untilFlipSeen } from '../release/switch.js';
import { settleNotifications } from '../observe/notify.js';
import { cutOver } from '../release/cutover.js';
import type { HealthExpectation } from '../release/health.js';
import { colourImages, liveColour, type StackFacts } from '../stack/colours.js';
import { readState, reconcileState } from '../stack/state.js';
import { otherColour, type Colour, type EnvironmentState, type HealthStatus } from '../types.js';
import type { Operation } from './operation.js';

/** Steps deploy and rollback share, each named for what it does on the host. */

/**
 * Connects, then runs the preflight and takes the lock side by side: the preflight only reads, and a refusal
 * still fails the operation before anything changes (the lock is released on the way out). A refused preflight
 * is the error reported even when the lock was refused too: it is the one to fix first.
 */
export async function connectPreflightAndLock(
  ctx: EngineContext,
  op: Operation,
  lock: boolean,
  light = false,
): Promise<HostFacts> {
  await op.connect();
  const [facts, locked] = await Promise.allSettled([
    op.phase('preflight', () => op.target.preflight(ctx, op.layout, light)),
    lock ? op.takeLock() : Promise.resolve(),
  ]);
  if (facts.status === 'rejected') throw facts.reason;
  if (locked.status === 'rejected') throw locked.reason;
  return facts.value;
}

/** the environment as it stands: what state.json says, what runs, which colour serves and which one is next */
export interface StackNow {
  state: EnvironmentState;
  stack: StackFacts;
  /** the colour the proxy routes to, if any */
  live: Colour | undefined;
  /** the idle colour this operation starts */
  target: Colour;
  /** the app images on the host, by tag (read only when asked for) */
  images: Set<string>;
}

/**
 * Connects, then in one round trip: the lock, and once it is taken the preflight and every read of readStack,
 * all side by side. A lock refused at the first try stops the rest of that round trip (a held lock fails as fast as
 * before): the preflight then runs beside the lock's next tries, and the reads once the lock is ours, since
 * they could predate its holder's last write. A refused preflight is the error reported even when the lock was
 * refused too: it is the one to fix first. Under the lock, state.json is then reconciled with what the proxy
 * really routes to.
 */
export async function openStack(
  ctx: EngineContext,
  op: Operation,
  opts: { light?: boolean; images?: boolean; begin?: () => void },
): Promise<{ facts: HostFacts; at: StackNow }> {
  await op.connect();
  const alone = op.host.sentAlone;
  const preflight = () => op.target.preflight(ctx, op.layout, opts.light);
  // the preflight and the reads side by side once the lock is taken: they only read, so neither waits for the other
  const [locked, afterLock] = op.host.inTurn(
    () => op.takeLock(),
    () => {
      const facts = op.phase('preflight', () =>
        preflight().catch((e: unknown) => (e instanceof NotRun ? preflight() : Promise.reject(e))),
      );
      const read = readAll(ctx, op, opts.images);
      // handled below, once the pair is unpacked
      facts.catch(() => undefined);
      read.catch(() => undefined);
      return Promise.resolve({ facts, read });
    },
  );
  const { facts, read } = await afterLock;
  const [f, l, r] = await Promise.allSettled([facts, locked, read]);
  if (f.status === 'rejected') throw f.reason;
  if (l.status === 'rejected') throw l.reason;
  opts.begin?.();
  // the batch's lock attempt took the lock, and its reads came after it
  const fresh = op.host.sentAlone === alone && !(r.status === 'rejected' && r.reason instanceof NotRun);
  if (fresh && r.status === 'rejected') throw r.reason;
  const got = fresh && r.status === 'fulfilled' ? r.value : await readAll(ctx, op, opts.images);
  return { facts: f.value, at: await settle(ctx, op, got, true) };
}

/**
 * Reads state.json, the stack and (for a rollback) the images side by side over the one connection (in one
 * round trip inside a batch). With `reconcile` (only under the lock), state.json is reconciled with what the
 * proxy really routes to before anything acts on it.
 */
export async function readStack(
  ctx: EngineContext,
  op: Operation,
  opts: { images?: boolean; reconcile: boolean },
): Promise<StackNow> {
  return settle(ctx, op, await readAll(ctx, op, opts.images), opts.reconcile);
}

type Read = Pick<StackNow, 'stack' | 'images'> & { state: EnvironmentState };

async function readAll(ctx: EngineContext, op: Operation, images = false): Promise<Read> {
  const [state, stack, present] = await Promise.all([
    readState(ctx, op.layout),
    op.target.inspect(ctx, op.layout),
    images ? op.target.imagesPresent(ctx) : Promise.resolve(new Set<string>()),
  ]);
  return { state, stack, images: present };
}

async function settle(ctx: EngineContext, op: Operation, read: Read, reconcile: boolean): Promise<StackNow> {
  const { stack, images } = read;
  const live = liveColour(stack, read.state.current?.colour);
  const state = reconcile ? await reconcileState(ctx, op.layout, read.state, stack, live) : read.state;
  const target: Colour = live ? otherColour(live) : 'blue';
  op.state = state;
  Object.assign(op.seen, { live: live ?? null, target });
  if (op.record) {
    op.record.colour = target;
    op.record.previous_version = state.current?.version;
  }
  return { state, stack, live, target, images };
}

/** the stack's files written for the target colour running `image` (the other colour keeps its own) */
export function provisionFor(ctx: EngineContext, op: Operation, facts: HostFacts, at: StackNow, image: string) {
  return op.phase('provision', () =>
    op.target.provision(ctx, op.layout, facts, at.stack, colourImages(at.stack, at.target, image)),
  );
}

/** health gate → switch → verify through the proxy (release/cutover.ts); the old colour serves until it passes */
export async function cutOverTo(
  ctx: EngineContext,
  op: Operation,
  at: StackNow,
  sha: string,
  expect?: HealthExpectation,
): Promise<HealthStatus> {
  const c = { target: at.target, live: at.live, sha, stack: at.stack, expect };
  const verdict = await cutOver(ctx, op.target, op.layout, op.phases, c);
  op.event('switched', { colour: at.target, from: at.live ?? null });
  return verdict.status;
}

/** the colour that served before stops once its in-flight requests drain; the new one serves */
export async function retireOld(ctx: EngineContext, op: Operation, live: Colour | undefined): Promise<void> {
  if (live) await op.phase(`retire ${live}`, () => retireColour(ctx, op.target, op.layout, live));
}

/**
 * The retire as the operation's last step: on one Docker host its `docker stop` and the operation's ending
 * (cleanups, host log, lock release) go in one round trip, so the command ends right after the old colour's
 * app has exited. `alongside` (the image prune) and the notifications run while the proxy takes in the flip.
 * Elsewhere (a stop of several commands) the retire goes as retireOld does and the ending follows it.
 */
export async function retireLast(
  ctx: EngineContext,
  op: Operation,
  live: Colour | undefined,
  alongside?: () => Promise<unknown>,
): Promise<void> {
  if (!live || op.target.kind !== 'compose') {
    await Promise.all([retireOld(ctx, op, live), alongside?.()]);
    return;
  }
  const stop = () => op.target.stopColour(ctx, op.layout, live, ctx.cfg.config.deployment.drain_timeout);
  const side = alongside?.();
  await op.phase(`retire ${live}`, async () => {
    // the old colour stops even when the prune failed; the prune has ended before the lock is released
    await Promise.allSettled([untilFlipSeen(ctx, op.layout), side, settleNotifications(ctx)]);
    await op.endWith(stop);
  });
  await side;
}
