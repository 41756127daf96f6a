import { DeployError } from '../../errors.js';
import type { EngineContext } from '../context.js';
import { composeTarget, type Target } from '../release/target.js';
import { swarmTarget } from '../swarm/target.js';

/** the provider the environment's config names (config `provider.kind`) */
export function targetFor(ctx: EngineContext): Target {
  const kind = ctx.cfg.provider?.kind ?? 'compose';
  if (kind === 'compose') return composeTarget;
  if (kind === 'swarm') return swarmTarget;
  throw new DeployError(
    'config',
    `provider.kind ${kind} is not available in this build`,
    'use provider.kind compose (one Docker host) for this environment',
  );
}
