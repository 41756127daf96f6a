import { NotRun } from '../batch.js';
import type { StackFacts } from '../stack/colours.js';
import { stillServing } from '../stack/colours.js';
import type { EngineContext } from '../context.js';
import type { HealthExpectation, HealthVerdict } from './health.js';
import type { Layout } from '../stack/layout.js';
import type { Phases } from '../phases.js';
import { ensureProxyRunning, switchBack, switchTo } from './switch.js';
import type { Colour } from '../types.js';
import type { Target } from './target.js';

export interface CutOver {
  target: Colour;
  /** the colour serving now; undefined on a first deploy */
  live: Colour | undefined;
  sha: string;
  stack: StackFacts;
  expect?: HealthExpectation;
}

/**
 * The part deploy and rollback share once the target colour's container is started: health-gate it, make
 * sure the proxy runs, switch, verify through the proxy. A failed gate stops the target; a failed switch or
 * verification puts the old colour back. Either way the old colour, if there was one, keeps serving.
 */
export async function cutOver(
  ctx: EngineContext,
  target: Target,
  layout: Layout,
  phases: Phases,
  c: CutOver,
): Promise<HealthVerdict> {
  let verdict: HealthVerdict;
  try {
    verdict = await phases.run('health gate', () =>
      target.healthGate(ctx, layout, c.target, c.sha, c.expect, stillServing(c.live)),
    );
  } catch (e) {
    // not run: its start (batched before it, BatchHost.inTurn) failed, and left nothing running to stop
    if (!(e instanceof NotRun)) await target.stopColour(ctx, layout, c.target, 10_000);
    throw e;
  }
  try {
    await ensureProxyRunning(ctx, target, layout, c.stack);
  } catch (e) {
    // nothing was switched: the healthy new colour would only idle, so it is stopped like a failed one
    await target.stopColour(ctx, layout, c.target, 10_000);
    throw e;
  }
  try {
    await phases.run('switch', () =>
      switchTo(ctx, layout, c.target, c.live, c.sha, target.verifyVia(layout, c.target)),
    );
  } catch (e) {
    await switchBack(ctx, target, layout, c.target, c.live);
    throw e;
  }
  return verdict;
}
