import type { EngineContext } from '../context.js';
import { inspectStack, startColour, stopColour, type StackFacts } from '../stack/colours.js';
import { resumeAppCmd } from '../stack/commands.js';
import type { Layout } from '../stack/layout.js';
import {
  DeployLock,
  describeLockView,
  forceRemoveLock,
  inspectLock,
  type LockInfo,
  type LockView,
} from '../stack/lock.js';
import type { Colour } from '../types.js';
import { healthGate, type HealthExpectation, type HealthVerdict } from './health.js';
import { ensureImage, imagesOnHost, pruneImages, type ImageOutcome } from './image.js';
import { preflight, type HostFacts } from './preflight.js';
import { provision } from './provision.js';

/** the environment's deploy lock, whatever keeps it (a directory on the host, a service in a swarm) */
export interface TargetLock {
  readonly info: LockInfo | undefined;
  acquire(deploymentId: string, operation: string): Promise<LockInfo>;
  release(): Promise<void>;
}

/**
 * Where the colours run (config `provider`): the steps of an operation that depend on it. Everything else —
 * the operation skeleton, the flags and the switch through Caddy, state, history, the database step — is the
 * same for every provider. `compose` is one Docker host; `swarm` (src/engine/swarm) a Docker Swarm reached
 * through a manager.
 */
export interface Target {
  readonly kind: 'compose' | 'swarm';
  /** the host's (or cluster's) fitness, read-only; `light` checks only what a warm rollback needs */
  preflight(ctx: EngineContext, layout: Layout, light?: boolean): Promise<HostFacts>;
  lock(ctx: EngineContext, layout: Layout): TargetLock;
  /** the lock as status and unlock show it, without taking it */
  lockView(ctx: EngineContext, layout: Layout): Promise<LockView>;
  describeLock(view: LockView): string;
  /** removes exactly the lock `view` shows (unlock); false when it is not that lock any more */
  removeLock(ctx: EngineContext, layout: Layout, view: LockView): Promise<boolean>;
  /** what runs: both colours, their images, the proxy, the flags */
  inspect(ctx: EngineContext, layout: Layout): Promise<StackFacts>;
  /** the release image wherever a colour may run it */
  ensureImage(ctx: EngineContext, sha: string, buildArgs: Record<string, string>): Promise<ImageOutcome>;
  /** the app images present, by tag (the rollback candidates) */
  imagesPresent(ctx: EngineContext): Promise<Set<string>>;
  /** the stack's files and shared services, the colours' images named */
  provision(
    ctx: EngineContext,
    layout: Layout,
    facts: HostFacts,
    stack: StackFacts,
    images: Record<Colour, string>,
  ): Promise<unknown>;
  /** the colour's app started (or recreated) with its gate closed */
  startColour(ctx: EngineContext, layout: Layout, facts: HostFacts, colour: Colour, stack?: StackFacts): Promise<void>;
  /** the colour's kept app started again as it is (a warm start); throws when it cannot be */
  resumeColour(ctx: EngineContext, layout: Layout, colour: Colour): Promise<void>;
  /** the colour's app judged healthy before any request may reach it; throws with the reason when it is not */
  healthGate(
    ctx: EngineContext,
    layout: Layout,
    colour: Colour,
    sha: string,
    expect?: HealthExpectation,
    serving?: string,
  ): Promise<HealthVerdict>;
  /** the colour's app stopped, its in-flight requests given `drainMs` */
  stopColour(ctx: EngineContext, layout: Layout, colour: Colour, drainMs: number): Promise<void>;
  /** where the switch's verification asks the proxy from: a container name, or label=… (release/switch.ts) */
  verifyVia(layout: Layout, colour: Colour): string;
  /** app images beyond `keep` removed except `protect`; returns the tags removed */
  prune(ctx: EngineContext, keep: number, protect: string[], dryRun?: boolean): Promise<string[]>;
}

/** one Docker host over SSH, the stack run by compose: release/*, stack/* */
export const composeTarget: Target = {
  kind: 'compose',
  preflight: (ctx, layout, light) => preflight(ctx, layout, light),
  lock: (ctx, layout) => new DeployLock(ctx, layout),
  lockView: (ctx, layout) => inspectLock(ctx, layout),
  describeLock: (view) => describeLockView(view),
  removeLock: (ctx, layout, view) => forceRemoveLock(ctx, layout, view),
  inspect: (ctx, layout) => inspectStack(ctx, layout),
  ensureImage: (ctx, sha, args) => ensureImage(ctx, sha, args),
  imagesPresent: (ctx) => imagesOnHost(ctx),
  provision: (ctx, layout, facts, stack, images) => provision(ctx, layout, facts, stack, images),
  startColour: (ctx, layout, facts, colour, stack) => startColour(ctx, layout, facts.compose, colour, stack),
  resumeColour: async (ctx, layout, colour) => {
    await ctx.host.run(resumeAppCmd(layout, colour), { timeoutMs: 60_000 });
  },
  healthGate: (ctx, layout, colour, sha, expect, serving) => healthGate(ctx, layout, colour, sha, expect, serving),
  stopColour: (ctx, layout, colour, drainMs) => stopColour(ctx, layout, colour, drainMs),
  verifyVia: (layout, colour) => layout.gate(colour),
  prune: (ctx, keep, protect, dryRun) => pruneImages(ctx, keep, protect, dryRun),
};
