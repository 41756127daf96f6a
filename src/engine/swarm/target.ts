import { DeployError } from '../../errors.js';
import type { SwarmProviderConfig } from '../../config/schema.js';
import type { EngineContext } from '../context.js';
import { imageRef, imagesOnHost } from '../release/image.js';
import type { HostFacts } from '../release/preflight.js';
import type { Target } from '../release/target.js';
import { flagCmd } from '../stack/colours.js';
import type { Layout } from '../stack/layout.js';
import type { Colour } from '../types.js';
import {
  createColourCmd,
  parseSwarmInspect,
  removeServiceCmd,
  parseNow,
  scaleUpCmd,
  scaleDownCmd,
  swarmInspectCmd,
  swarmPreflightCmd,
  nodeIdCmd,
  swarmNames,
  SERVICE_NAME_LABEL,
  type SwarmStackFacts,
} from './commands.js';
import { swarmHealthGate } from './health.js';
import { ensureOnNodes, onNode, pruneOnNodes, type SwarmNode } from './images.js';
import { describeSwarmLockView, SwarmLock, type SwarmLockView } from './lock.js';
import { judgeSwarm, parseSwarmPreflight } from './preflight.js';
import { describeScaleDown } from './tasks.js';
import { absoluteRoot, provisionSwarm } from './provision.js';

/** the cluster-wide lock: a 0-replica service named after the stack, its holder in its labels (lock.ts) */
function swarmLock(ctx: EngineContext, layout: Layout): SwarmLock {
  return new SwarmLock(ctx, {
    stack: layout.stack,
    image: ctx.cfg.config.images.gate,
    auditFile: layout.path('audit.jsonl'),
  });
}

/** what the preflight found that later steps need: this manager's node ID, the environment's absolute root */
interface SwarmSeen {
  nodeId: string;
  root?: string;
}
const seen = new WeakMap<EngineContext, SwarmSeen>();

export function swarmConfig(ctx: EngineContext): SwarmProviderConfig {
  const p = ctx.cfg.provider;
  if (p.kind !== 'swarm') throw new Error('swarm target used without provider.kind swarm');
  return p;
}

function seenBy(ctx: EngineContext): SwarmSeen {
  const s = seen.get(ctx);
  if (!s) throw new Error('swarm: the preflight has not run');
  return s;
}

async function rootOf(ctx: EngineContext, layout: Layout): Promise<string> {
  const s = seenBy(ctx);
  s.root ??= await absoluteRoot(ctx, layout);
  return s.root;
}

/**
 * The cluster's fitness in one round trip to the manager, judged by judgeSwarm (every problem at once). The
 * facts are returned in the single host's shape (no compose: swarm needs none); the node ID is kept for the
 * stack file's tools placement.
 */
async function swarmPreflight(
  ctx: EngineContext,
  layout: Layout,
  p: SwarmProviderConfig,
): Promise<{ host: HostFacts; nodeId: string; root: string }> {
  // side by side: the manager's view of the cluster, and each listed node's own swarm ID over its SSH (nodes are
  // told apart by ID, never by hostname: several may share one)
  const [r, listed] = await Promise.all([
    ctx.host.run(swarmPreflightCmd(swarmNames(layout.stack).overlay, layout.root), { timeoutMs: 30_000 }),
    Promise.all(
      nodesOf(ctx)
        .slice(1)
        .map(async (n) => ({
          name: n.name,
          id: (await n.host.run(nodeIdCmd(), { check: false, timeoutMs: 30_000 })).stdout.trim(),
        })),
    ),
  ]);
  const v = judgeSwarm(parseSwarmPreflight(r.stdout), {
    edgeLabel: p.edge_label,
    ...(ctx.cfg.config.database.managed ? { dbLabel: p.db_label } : {}),
    placement: p.placement,
    listed,
    minFreeMb: ctx.cfg.config.deployment.min_free_mb,
  });
  // without a registry a task runs only where the image was shipped: every node that may run the app is reached
  const unreached = ctx.cfg.config.app.pull
    ? []
    : v.appNodes.filter((n) => n.id !== v.selfId && !listed.some((l) => l.id === n.id));
  if (unreached.length)
    throw new DeployError(
      'preflight',
      `node(s) ${unreached.map((n) => `${n.id.slice(0, 12)} (${n.hostname || n.addr})`).join(', ')} may run the app, ` +
        'but are not listed under provider.nodes: without a registry their tasks would fail with "No such image"',
      'list each under provider.nodes (reached by SSH through the manager by default), narrow provider.placement, or set app.pull: true with a registry',
    );
  // the database's image is built and its init scripts written on the manager: its node is the manager (v1)
  if (v.dbNodeId !== undefined && v.dbNodeId !== v.selfId)
    throw new DeployError(
      'preflight',
      `the database label ${p.db_label}=true is on node ${v.dbNodeId.slice(0, 12)}, not on the manager the deployer connects to (${v.selfId.slice(0, 12)})`,
      `move the label to the manager (docker node update --label-add ${p.db_label}=true <manager>), or use an external database (database.managed: false)`,
    );
  for (const w of v.warnings) ctx.reporter.warn(w);
  ctx.reporter.info(
    `swarm via ${ctx.host.name}: docker ${v.dockerVersion}, ${v.nodes.length} node(s), ` +
      `${v.appNodes.length} can run the app`,
  );
  const host: HostFacts = { dockerVersion: v.dockerVersion, compose: [], composeVersion: '' };
  if (v.freeMb !== undefined) host.freeMb = v.freeMb;
  return { host, nodeId: v.selfId, root: v.root };
}

/** the manager first (migrations run there), then every node listed under provider.nodes */
function nodesOf(ctx: EngineContext): SwarmNode[] {
  return [{ name: 'manager', host: ctx.host }, ...(ctx.nodeHosts?.() ?? [])];
}

/** the tools container on the manager: the switch's verification runs in it, as the gate's does on one host */
export function toolsFilter(layout: Layout): string {
  return `label=${SERVICE_NAME_LABEL}=${swarmNames(layout.stack).tools}`;
}

/**
 * A Docker Swarm reached through one SSH manager (docs/swarm.md). Each colour is a service of its own; the edge
 * Caddy, the colours' gates (flags on the manager's disk, as on one host) and a tools container are a stack.
 */
export const swarmTarget: Target = {
  kind: 'swarm',

  async preflight(ctx, layout) {
    const facts = await swarmPreflight(ctx, layout, swarmConfig(ctx));
    // the preflight already resolved the root when it exists: only a first deploy asks again, after creating it
    seen.set(ctx, { nodeId: facts.nodeId, ...(facts.root ? { root: facts.root } : {}) });
    return facts.host;
  },

  lock: (ctx, layout) => swarmLock(ctx, layout),
  lockView: (ctx, layout) => swarmLock(ctx, layout).inspect(),
  describeLock: (view) => describeSwarmLockView(view as SwarmLockView),
  removeLock: (ctx, layout, view) => swarmLock(ctx, layout).forceRemove(view),

  async inspect(ctx, layout) {
    const r = await ctx.host.run(swarmInspectCmd(layout.stack, layout.root), { check: false, timeoutMs: 30_000 });
    return parseSwarmInspect(r.stdout, layout.stack);
  },

  async ensureImage(ctx, sha, buildArgs) {
    const ref = imageRef(ctx.cfg.config.app.image, sha);
    return ensureOnNodes(ctx, nodesOf(ctx), ref, { sha, buildArgs });
  },

  // a version can start again only where every node has its image (a task may land on any of them): the
  // rollback picker then offers only those, and names the rest as gone instead of failing at the scale-up
  async imagesPresent(ctx) {
    const sets = await Promise.all(nodesOf(ctx).map((n) => onNode(ctx, n, () => imagesOnHost(ctx, n.host))));
    return new Set([...sets[0]!].filter((sha) => sets.every((s) => s.has(sha))));
  },

  async provision(ctx, layout, _facts, stack, images) {
    imagesOf.set(layout, images);
    const root = await rootOf(ctx, layout);
    return provisionSwarm(ctx, layout, swarmConfig(ctx), stack as SwarmStackFacts, root, seenBy(ctx).nodeId);
  },

  async startColour(ctx, layout, _facts: HostFacts, colour, stack) {
    const p = swarmConfig(ctx);
    const names = swarmNames(layout.stack);
    const root = await rootOf(ctx, layout);
    await ctx.host.run(flagCmd(layout, colour, false), { check: false });
    // the release provision named for the colour, else the image the colour's service last ran
    const image = imagesOf.get(layout)?.[colour] ?? (stack as SwarmStackFacts | undefined)?.[colour].image;
    const sha = /:([0-9a-f]{7,40})$/.exec(image ?? '')?.[1];
    if (!image || !sha) throw new Error(`swarm: no release image named for ${colour}`);
    // recreated, not updated: only `service create` reads the env file, and an idle colour at 0 costs nothing
    await ctx.host.run(removeServiceCmd(names.app(colour)), { check: false, timeoutMs: 60_000 });
    await ctx.host.run(
      createColourCmd({
        stack: layout.stack,
        colour,
        image,
        sha,
        replicas: p.replicas,
        network: names.overlay,
        envFile: `${root}/app.env`,
        drainMs: ctx.cfg.config.deployment.drain_timeout,
        constraints: p.placement,
        registryAuth: ctx.cfg.config.app.pull,
      }),
      { timeoutMs: 120_000 },
    );
  },

  async resumeColour(ctx, layout, colour) {
    const r = await ctx.host.run(scaleUpCmd(swarmNames(layout.stack).app(colour), swarmConfig(ctx).replicas), {
      timeoutMs: 60_000,
    });
    // the colour's earlier tasks (failed ones included) are history: only what this scale-up starts is judged
    const now = parseNow(r.stdout);
    if (now !== undefined) resumedAt.set(layout, { ...resumedAt.get(layout), [colour]: now });
  },

  healthGate: (ctx, layout, colour, sha, expect, serving) =>
    swarmHealthGate(ctx, layout, swarmConfig(ctx), colour, sha, expect, serving, resumedAt.get(layout)?.[colour]),

  async stopColour(ctx, layout, colour, drainMs) {
    // swarm takes the task out of DNS, waits about 2 s, then signals it; its grace is the drain
    const waitMs = drainMs + 17_000;
    const r = await ctx.host.run(scaleDownCmd(swarmNames(layout.stack).app(colour), waitMs), {
      check: false,
      timeoutMs: waitMs + 30_000,
    });
    if (r.code === 2) ctx.reporter.warn(`scaling ${colour} down failed: ${ctx.redactor.redact(r.stderr.trim())}`);
    const left = describeScaleDown(r.stdout, swarmNames(layout.stack).app(colour));
    if (left) ctx.reporter.warn(left);
  },

  verifyVia: (layout) => toolsFilter(layout),

  async prune(ctx, keep, protect, dryRun) {
    const pruned = await pruneOnNodes(ctx, nodesOf(ctx), keep, protect, dryRun);
    return [...new Set(pruned.flatMap((n) => n.removed))];
  },
};

/** when each colour was last scaled up as it was (the manager's epoch seconds) */
const resumedAt = new WeakMap<Layout, Partial<Record<Colour, number>>>();

/** each colour's image as provision was told (colourImages): what startColour creates the colour's service with */
const imagesOf = new WeakMap<Layout, Record<Colour, string>>();
