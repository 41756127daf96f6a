import { quoteArgv } from '../../util/shell.js';
import type { EngineContext } from '../context.js';
import { describeDatabasePlan } from '../database/migrate.js';
import type { Phases } from '../phases.js';
import type { HostFacts } from '../release/preflight.js';
import { colourImages, liveColour } from '../stack/colours.js';
import { targetFor } from './target.js';
import { flagCmd, startAppCmd, startGateCmd, stopAppCmd } from '../stack/commands.js';
import type { Layout } from '../stack/layout.js';
import { describeHolder, readLock } from '../stack/lock.js';
import { readState } from '../stack/state.js';
import { short, otherColour, type Colour } from '../types.js';

export interface DeployPlan {
  /** the steps a real deploy would take; a command is printed from the builder the real run uses, so it reads as it would run */
  plan: string[];
  /** the colour serving now */
  live: Colour | undefined;
}

/** --dry-run: everything read-only ran for real; what would change is listed, nothing is run. */
export async function planDeploy(
  ctx: EngineContext,
  layout: Layout,
  phases: Phases,
  facts: HostFacts,
  sha: string,
  skipMigrations: boolean,
): Promise<DeployPlan> {
  const [holder, state, stack] = await Promise.all([
    readLock(ctx, layout),
    readState(ctx, layout),
    targetFor(ctx).inspect(ctx, layout),
  ]);
  if (holder) ctx.reporter.warn(`the environment is locked by ${describeHolder(holder)}: a real deploy would fail now`);
  const live = liveColour(stack, state.current?.colour);
  const target: Colour = live ? otherColour(live) : 'blue';
  const image = await phases.run('image', () => targetFor(ctx).ensureImage(ctx, sha, {}));
  await targetFor(ctx).provision(ctx, layout, facts, stack, colourImages(stack, target, image.ref));
  const c = (argv: readonly string[]) => ctx.redactor.redact(quoteArgv(argv));
  const plan = [
    `take the lock ${layout.lockDir}`,
    image.how === 'present'
      ? `image ${image.ref} is already on the host`
      : `get ${image.ref} onto the host (${image.how})`,
    `write compose.yml, .env, app.env (0600), caddy/, db-init/ under ${layout.root} and start missing services`,
    ...describeDatabasePlan(ctx, skipMigrations),
    // startColour: the gate up, the new colour's flag cleared, its app (re)created
    c(startGateCmd(facts.compose, layout, target).argv),
    c(flagCmd(layout, target, false).argv),
    c(startAppCmd(facts.compose, layout, target).argv),
    `probe ${ctx.cfg.config.app.health.path} on ${target} until ${ctx.cfg.config.app.health.consecutive} passes in a row ` +
      `(at most ${ctx.cfg.config.app.health.start_timeout / 1000}s)`,
    // switchTo: both flags in one command, which then verifies through the proxy
    `switch: ${layout.path('gates', target, 'ready')} created${live ? `, ${layout.path('gates', live, 'ready')} removed` : ''}, ` +
      `then ${ctx.cfg.config.app.health.version_path} through the proxy must report ${short(sha)} from ${target}`,
    `record the deployment in ${layout.stateFile}`,
    // retireColour: once every proxy handler saw the switch, the old colour stopped with the drain timeout
    ...(live ? [c(stopAppCmd(layout, live, ctx.cfg.config.deployment.drain_timeout).argv)] : []),
    `prune app images beyond the newest ${ctx.cfg.config.deployment.keep_images}`,
    'release the lock',
  ];
  ctx.reporter.info(
    `plan for ${ctx.cfg.environment} (${short(sha)} → ${target}${live ? `, ${live} serving now` : ', first deploy'}):\n` +
      plan.map((p, i) => `  ${i + 1}. ${p}`).join('\n'),
  );
  return { plan, live };
}
