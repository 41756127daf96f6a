import { DeployError } from '../../errors.js';
import { allInOrder } from '../../util/settled.js';
import type { Host } from '../../host/host.js';
import type { EngineContext } from '../context.js';
import {
  ensureLocal,
  hostHas,
  layerCounts,
  localHas,
  pruneImages,
  pullOnto,
  shipOnto,
  wouldGet,
  type ImageOutcome,
} from '../release/image.js';
import { shipLine } from '../release/layers.js';

/*
 * The release image onto every node that may run the app's tasks, without a registry: Swarm starts a task only
 * from an image its node holds, and a registry-free scheme through the manager alone would need an image on the
 * nodes first. So each node gets the same layer-aware docker save | docker load a single host gets, over SSH.
 */

/** a node of the swarm and the host that reaches it (directly or through the manager) */
export interface SwarmNode {
  name: string;
  host: Host;
}

/** what one node needed */
export interface NodeImage {
  name: string;
  how: 'present' | 'shipped' | 'pulled';
  /** gzip bytes on the wire to this node, when shipped */
  bytes?: number;
}

/** the single-host outcome with the bytes and layers of every node summed, and each node's part */
export interface NodesOutcome extends ImageOutcome {
  nodes: NodeImage[];
}

/** how to build the image on this machine when it is not there (as ensureImage does) */
export interface LocalBuild {
  sha: string;
  buildArgs: Record<string, string>;
}

/** any failure on one node, as the image error that names it */
function nodeFailure(ctx: EngineContext, node: SwarmNode, e: unknown): DeployError {
  const message = ctx.redactor.redact(e instanceof Error ? e.message : String(e));
  return new DeployError(
    'image',
    `node ${node.name} (${node.host.name}): ${message}`,
    e instanceof DeployError ? e.remedy : undefined,
  );
}

/** `fn`'s failure as the image error naming the node */
export async function onNode<T>(ctx: EngineContext, node: SwarmNode, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw nodeFailure(ctx, node, e);
  }
}

/**
 * Gets `ref` onto each node, the nodes side by side: skipped where it is already, pulled there with app.pull,
 * else shipped with a plan of its own (each node holds other earlier releases). The image is built here at most
 * once, before any node is shipped to, and only when some node lacks it; without `build` it must be here already.
 * A node that fails is an image error naming it (the first in node order when several fail); the others still
 * get the image, which the next deploy then finds there.
 */
export async function ensureOnNodes(
  ctx: EngineContext,
  nodes: SwarmNode[],
  ref: string,
  build?: LocalBuild,
): Promise<NodesOutcome> {
  const pull = !!ctx.cfg.config.app.pull;
  const present = await Promise.all(nodes.map((node) => onNode(ctx, node, () => hostHas(ctx, ref, node.host))));
  const lacking = nodes.filter((_, i) => !present[i]);
  // outside onNode: a build that fails is this machine's failure, not a node's
  const built = lacking.length > 0 && !pull && !ctx.dryRun ? await localImage(ctx, ref, build) : undefined;
  // every node's outcome, then the first failing node in node order
  const gotten = await allInOrder(lacking.map((node) => getOnto(ctx, node, ref, pull)));
  const done = nodes.map(
    (node): NodeGot => gotten.find((g) => g.name === node.name) ?? { name: node.name, how: 'present' },
  );
  let bytes = 0;
  const layers = { total: 0, sent: 0, skipped: 0 };
  for (const n of done) {
    bytes += n.bytes ?? 0;
    if (!n.layers) continue;
    layers.total += n.layers.total;
    layers.sent += n.layers.sent;
    layers.skipped += n.layers.skipped;
  }
  const shipped = done.some((n) => n.how === 'shipped');
  const how: ImageOutcome['how'] = shipped
    ? built
      ? 'built+shipped'
      : 'shipped'
    : done.some((n) => n.how === 'pulled')
      ? 'pulled'
      : 'present';
  const plain = done.map(({ layers: _l, ...n }) => n);
  return shipped && !ctx.dryRun ? { ref, how, bytes, layers, nodes: plain } : { ref, how, nodes: plain };
}

/** what one node needed, with the layers its ship counted */
type NodeGot = NodeImage & { layers?: NonNullable<ImageOutcome['layers']> };

/** one node that lacks `ref`: said (dry run), pulled there, or shipped from this machine */
async function getOnto(ctx: EngineContext, node: SwarmNode, ref: string, pull: boolean): Promise<NodeGot> {
  const { name, host } = node;
  if (ctx.dryRun) {
    ctx.reporter.info(`would get ${ref} onto node ${name} (${wouldGet(ctx)})`);
    return { name, how: pull ? 'pulled' : 'shipped' };
  }
  if (pull) {
    await onNode(ctx, node, () => pullOnto(ctx, ref, host));
    ctx.reporter.info(`node ${name}: pulled ${ref}`);
    return { name, how: 'pulled' };
  }
  const s = await onNode(ctx, node, () => shipOnto(ctx, ref, host));
  ctx.reporter.info(`node ${name}: ${shipLine(s)}`);
  return { name, how: 'shipped', bytes: s.bytes, layers: layerCounts(s) };
}

/** the image on this machine: built from `build` when missing (true when it was) */
async function localImage(ctx: EngineContext, ref: string, build: LocalBuild | undefined): Promise<boolean> {
  if (build) return ensureLocal(ctx, ref, build.sha, build.buildArgs);
  if (await localHas(ctx, ref)) return false;
  throw new DeployError(
    'image',
    `${ref} is not on this machine, so it cannot be shipped to the nodes`,
    'build or load the image here first, or set app.pull with a registry image',
  );
}

/** what pruning did on one node; `unreachable` says why nothing was done there */
export interface NodePrune {
  name: string;
  removed: string[];
  unreachable?: string;
}

/**
 * pruneImages on each node with the one `protect` set (the union of what any node must keep). A node that cannot
 * be reached is a warning, never a failure: its old images wait for the next deploy.
 */
export async function pruneOnNodes(
  ctx: EngineContext,
  nodes: SwarmNode[],
  keep: number,
  protect: string[],
  dryRun = false,
): Promise<NodePrune[]> {
  const out: NodePrune[] = [];
  for (const { name, host } of nodes) {
    try {
      out.push({ name, removed: await pruneImages(ctx, keep, protect, dryRun, host) });
    } catch (e) {
      const why = ctx.redactor.redact(e instanceof Error ? e.message : String(e)).split('\n')[0]!;
      ctx.reporter.warn(`node ${name}: old images not pruned (${why}); the next deploy tries again`);
      out.push({ name, removed: [], unreachable: why });
    }
  }
  return out;
}
