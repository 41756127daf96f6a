import { createGzip, constants as zc } from 'node:zlib';
import { DeployError } from '../../errors.js';
import type { Command, Host, RunResult } from '../../host/host.js';
import type { EngineContext } from '../context.js';
import { engineAnswer } from '../engine-api.js';
import {
  buildCommand,
  buildxInspectCmd,
  buildxVersionCmd,
  cacheClearNewCmd,
  cacheSwapCmd,
  containerImagesCmd,
  dockerLoadCmd,
  dockerPullCmd,
  dockerSaveCmd,
  driverStatusCmd,
  gitArchiveCmd,
  imageInspectCmd,
  imageRmCmd,
  imageTagsByDateCmd,
  imageTagsCmd,
  hostLayerChainsCmd,
  imageLayersCmd,
} from './commands.js';
import {
  countLayers,
  fallbackReason,
  layerFilter,
  parseLayerChains,
  parseLayers,
  planLayers,
  shipLine,
  type LayerPlan,
  type ShipSummary,
  type TarFilter,
} from './layers.js';
import { short } from '../types.js';

export { buildCommand };

export function imageRef(repo: string, sha: string): string {
  return `${repo}:${sha}`;
}

export interface ImageOutcome {
  ref: string;
  how: 'present' | 'shipped' | 'pulled' | 'built+shipped';
  /** gzip bytes on the wire, when shipped */
  bytes?: number;
  /** when shipped: layers of the image, how many crossed the wire, how many the host already held */
  layers?: { total: number; sent: number; skipped: number };
}

/** whether `host` (default: the context's host) holds the image `ref` */
export async function hostHas(ctx: EngineContext, ref: string, host: Host = ctx.host): Promise<boolean> {
  const r = await host.run(imageInspectCmd(ref), { check: false, timeoutMs: 30_000 });
  return r.code === 0;
}

/** whether this machine's docker holds the image `ref` */
export async function localHas(ctx: EngineContext, ref: string): Promise<boolean> {
  const r = await ctx.local.run(imageInspectCmd(ref), { check: false, env: ctx.localDockerEnv, timeoutMs: 30_000 });
  return r.code === 0;
}

/** the driver of the builder `docker buildx inspect` describes */
function builderDriver(inspect: RunResult | undefined): string | undefined {
  return inspect?.code === 0 ? /^Driver:\s*(\S+)/m.exec(inspect.stdout)?.[1] : undefined;
}

/** What the builder buildx would use can do with a local layer cache: `undefined` = it can export one. */
export function cacheUnsupportedReason(p: {
  buildx: RunResult;
  inspect?: RunResult;
  driverStatus?: RunResult;
}): string | undefined {
  if (p.buildx.code !== 0) return 'docker buildx is not available here';
  if (!p.inspect || p.inspect.code !== 0)
    return `docker buildx inspect failed${p.inspect?.stderr.trim() ? `: ${p.inspect.stderr.trim().split('\n')[0]}` : ''}`;
  const driver = builderDriver(p.inspect);
  if (!driver) return 'docker buildx inspect names no driver';
  // the docker driver exports a cache only from an engine with the containerd image store (measured: buildx
  // 0.13.1 on Docker 26 refuses with overlay2, succeeds with containerd-snapshotter); other drivers always can
  if (driver !== 'docker') return undefined;
  if (p.driverStatus?.code === 0 && p.driverStatus.stdout.includes('io.containerd.snapshotter')) return undefined;
  return 'the builder uses the docker driver on an engine without the containerd image store, which cannot export a layer cache';
}

/** buildx's own refusal, should the check above pass and the build still be refused */
const CACHE_EXPORT_REFUSED = /cache export is not supported/i;

/** How to get a layer cache, said once with the reason it is not used. */
const CACHE_REMEDY =
  'enable the containerd image store on this machine\'s Docker ({"features":{"containerd-snapshotter":true}} in daemon.json) ' +
  'or use a docker-container builder (docker/setup-buildx-action)';

/** Whether this machine's builder can read and write the layer cache; says why not, once, when it cannot. */
async function cacheUsable(ctx: EngineContext): Promise<boolean> {
  const run = (c: Command) => ctx.local.run(c, { check: false, env: ctx.localDockerEnv, timeoutMs: 30_000 });
  const buildx = await run(buildxVersionCmd());
  const inspect = buildx.code === 0 ? await run(buildxInspectCmd()) : undefined;
  const driverStatus = builderDriver(inspect) === 'docker' ? await run(driverStatusCmd()) : undefined;
  const why = cacheUnsupportedReason({ buildx, inspect, driverStatus });
  if (why)
    ctx.reporter.info(
      `building without a layer cache: ${why}${buildx.code === 0 ? ` (to use one: ${CACHE_REMEDY})` : ''}`,
    );
  return why === undefined;
}

/**
 * Builds exactly the commit: its tree from `git archive` is the build context (never the working tree, which
 * may hold other changes), with the version metadata as build args and OCI labels.
 */
export async function buildImage(
  ctx: EngineContext,
  ref: string,
  sha: string,
  buildArgs: Record<string, string>,
): Promise<void> {
  const build = ctx.cfg.config.app.build;
  if (!build)
    throw new DeployError(
      'image',
      `image ${ref} is neither on the host nor on this machine, and app.build is not configured`,
      'configure app.build, build and load the image here, or set app.pull with a registry image',
    );
  const context = build.context.replace(/^\.\/?/, '').replace(/\/$/, '');
  const tree = context ? `${sha}:${context}` : `${sha}^{tree}`;
  let cacheDir: string | undefined;
  if (ctx.buildCache && (await cacheUsable(ctx))) {
    const hit = await ctx.buildCache.restore().catch((e: unknown) => {
      ctx.reporter.warn(`restoring the build cache failed: ${(e as Error).message}`);
      return false;
    });
    ctx.reporter.info(`build cache ${hit ? 'restored' : 'empty (first build or evicted)'}`);
    cacheDir = ctx.buildCache.dir;
    // a .new left by an interrupted build would be written into, and grow, rather than replaced
    await ctx.local.run(cacheClearNewCmd(cacheDir), { check: false });
  }
  let r = await buildFromGit(
    ctx,
    tree,
    sha,
    buildCommand({ ref, sha, dockerfile: build.dockerfile, buildArgs, cacheDir }),
  );
  if (r.code !== 0 && cacheDir && CACHE_EXPORT_REFUSED.test(r.stdout + r.stderr)) {
    ctx.reporter.info(
      `building without a layer cache: the builder refused to export one (to use one: ${CACHE_REMEDY})`,
    );
    cacheDir = undefined;
    r = await buildFromGit(ctx, tree, sha, buildCommand({ ref, sha, dockerfile: build.dockerfile, buildArgs }));
  }
  if (r.code !== 0)
    throw new DeployError(
      'image',
      `docker build of ${ref} failed:\n${ctx.redactor.redact((r.stdout + r.stderr).trim().split('\n').slice(-20).join('\n'))}`,
    );
  if (cacheDir && ctx.buildCache) {
    // replace the cache only with a complete export; without one, the restored cache stays as it was
    const swap = await ctx.local.run(cacheSwapCmd(cacheDir), { check: false });
    if (swap.code !== 0)
      ctx.reporter.warn(`the build wrote no layer cache to ${cacheDir}.new; the cache is not updated`);
    else
      await ctx.buildCache
        .save()
        .catch((e: unknown) => ctx.reporter.warn(`saving the build cache failed: ${(e as Error).message}`));
  }
}

/** One build: the commit's tree streamed by git archive into the build's stdin. */
async function buildFromGit(ctx: EngineContext, tree: string, sha: string, argv: string[]): Promise<RunResult> {
  const archive = ctx.local.stream(gitArchiveCmd(tree));
  const r = await ctx.local.run(
    { argv },
    { stdin: archive.stdout, env: ctx.localDockerEnv, check: false, timeoutMs: 30 * 60_000 },
  );
  const g = await archive.done;
  if (g.code !== 0)
    throw new DeployError(
      'image',
      `git archive of ${short(sha)} failed: ${g.stderr.trim()}`,
      'run the deploy from a clone that contains the commit (fetch-depth 0 or the commit fetched)',
    );
  return r;
}

/** what one shipping attempt did: gzip bytes that crossed the wire, the load's and the save's results */
interface Shipped {
  bytes: number;
  load: RunResult;
  saved: RunResult;
}

/**
 * docker save on this machine, through `filter` when given (the layer-aware path), gzip in-process, docker load
 * on `host`: no registry, one stream.
 */
async function ship(ctx: EngineContext, ref: string, filter: TarFilter | undefined, host: Host): Promise<Shipped> {
  const save = ctx.local.stream(dockerSaveCmd(ref), ctx.localDockerEnv);
  const gzip = createGzip({ level: zc.Z_BEST_SPEED });
  let bytes = 0;
  gzip.on('data', (d: Buffer) => (bytes += d.length));
  // a broken archive ends the upload early; docker load then fails and the caller decides what follows
  const end = () => gzip.end();
  if (filter) {
    filter.on('error', end);
    save.stdout.pipe(filter).pipe(gzip);
  } else save.stdout.pipe(gzip);
  let load: RunResult;
  try {
    load = await host.run(dockerLoadCmd(), { stdin: gzip, check: false, timeoutMs: 30 * 60_000 });
  } finally {
    // an upload that died leaves the pipe paused and docker save blocked on it, which would keep this process
    // alive for ever; after a good upload both streams have ended already
    save.stdout.destroy();
    filter?.destroy();
    gzip.destroy();
  }
  const saved = await save.done;
  return { bytes, load, saved };
}

function checkShipped(ctx: EngineContext, ref: string, s: Shipped): void {
  if (s.saved.code !== 0) throw new DeployError('image', `docker save ${ref} failed: ${s.saved.stderr.trim()}`);
  if (s.load.code !== 0)
    throw new DeployError(
      'image',
      `docker load on the host failed: ${ctx.redactor.redact(s.load.stderr.trim())}`,
      'check free disk space on the host',
    );
}

/** The whole image: docker save | gzip | docker load. Returns the bytes on the wire. */
export async function shipImage(ctx: EngineContext, ref: string, host: Host = ctx.host): Promise<number> {
  const s = await ship(ctx, ref, undefined, host);
  checkShipped(ctx, ref, s);
  return s.bytes;
}

/** which of the release image's layers the host holds; a reason when either side cannot say */
export async function layerPlan(ctx: EngineContext, ref: string, host: Host = ctx.host): Promise<LayerPlan | string> {
  const mine = await ctx.local.run(imageLayersCmd(ref), { check: false, env: ctx.localDockerEnv, timeoutMs: 30_000 });
  const layers = mine.code === 0 ? parseLayers(mine.stdout) : undefined;
  if (!layers) return 'the layers of the image on this machine could not be read';
  const theirs = await host.run(hostLayerChainsCmd(ctx.cfg.config.app.image), { check: false, timeoutMs: 60_000 });
  if (theirs.code !== 0) return "the host's image layers could not be listed";
  return planLayers(layers, parseLayerChains(theirs.stdout));
}

/**
 * Ships the release image, only the layers the host lacks when it can (app.ship: layers): those it holds, as the
 * same chain, in an earlier release of the app are left out of the archive, and docker load finds them in its
 * store. Any doubt or failure falls back, once and said, to the whole image.
 */
export async function shipLayers(ctx: EngineContext, ref: string, host: Host = ctx.host): Promise<ShipSummary> {
  // `tried`: bytes a refused thin attempt already put on the wire, counted in the total
  const full = async (fallback?: string, tried = 0): Promise<ShipSummary> => {
    if (fallback) ctx.reporter.warn(`shipping the whole image: ${fallback}`);
    const bytes = tried + (await shipImage(ctx, ref, host));
    const mine = await ctx.local.run(imageLayersCmd(ref), { check: false, env: ctx.localDockerEnv });
    const layers = (mine.code === 0 ? parseLayers(mine.stdout) : undefined)?.length ?? 0;
    return { mode: 'full', layers, layersSent: layers, layersSkipped: 0, bytes, fallback };
  };
  if (ctx.cfg.config.app.ship === 'full') return full();
  const plan = await layerPlan(ctx, ref, host);
  if (typeof plan === 'string') return full(plan);
  if (plan.skip.size === 0) {
    const s = await ship(ctx, ref, undefined, host);
    checkShipped(ctx, ref, s);
    return {
      mode: 'layers',
      layers: plan.layers.length,
      layersSent: plan.layers.length,
      layersSkipped: 0,
      bytes: s.bytes,
    };
  }
  const filter = layerFilter(plan);
  const s = await ship(ctx, ref, filter, host);
  if (s.saved.code !== 0) checkShipped(ctx, ref, s);
  const why = fallbackReason({
    loadCode: s.load.code,
    loadStderr: ctx.redactor.redact(s.load.stderr),
    stats: filter.stats,
    plan,
    filterFailure: filter.failure,
  });
  if (why?.retry) return full(why.why, s.bytes);
  if (why) ctx.reporter.info(`the whole image went: ${why.why}`);
  const { sent, skipped } = countLayers(plan, filter.stats);
  return { mode: 'layers', layers: plan.layers.length, layersSent: sent, layersSkipped: skipped, bytes: s.bytes };
}

/** what a dry run says it would do to get the release image onto a host that lacks it */
export function wouldGet(ctx: EngineContext): string {
  if (ctx.cfg.config.app.pull) return 'docker pull';
  const layers = ctx.cfg.config.app.ship === 'full' ? '' : ' of the layers the host lacks';
  return `build if needed, then docker save | docker load${layers}`;
}

/** docker pull of the release image on `host` (app.pull: a registry holds it) */
export async function pullOnto(ctx: EngineContext, ref: string, host: Host = ctx.host): Promise<void> {
  const r = await host.run(dockerPullCmd(ref), { check: false, timeoutMs: 30 * 60_000 });
  if (r.code !== 0)
    throw new DeployError(
      'image',
      `docker pull ${ref} on the host failed: ${ctx.redactor.redact(r.stderr.trim())}`,
      'check the registry credentials of the deploy user on the host (docker login) and that CI pushed this tag',
    );
}

/** The release image on this machine, built from the commit when it is not: whether it was built. */
export async function ensureLocal(
  ctx: EngineContext,
  ref: string,
  sha: string,
  buildArgs: Record<string, string>,
): Promise<boolean> {
  if (await localHas(ctx, ref)) return false;
  await buildImage(ctx, ref, sha, buildArgs);
  return true;
}

/** shipLayers, then the check that docker load left the image on `host` */
export async function shipOnto(ctx: EngineContext, ref: string, host: Host = ctx.host): Promise<ShipSummary> {
  const shipped = await shipLayers(ctx, ref, host);
  if (!(await hostHas(ctx, ref, host))) throw new DeployError('image', `${ref} is not on the host after docker load`);
  return shipped;
}

/** the outcome's layer counts of one ship */
export function layerCounts(s: ShipSummary): NonNullable<ImageOutcome['layers']> {
  return { total: s.layers, sent: s.layersSent, skipped: s.layersSkipped };
}

/** Gets the release image onto the host by the cheapest way that works; skipped when it is already there. */
export async function ensureImage(
  ctx: EngineContext,
  sha: string,
  buildArgs: Record<string, string>,
): Promise<ImageOutcome> {
  const ref = imageRef(ctx.cfg.config.app.image, sha);
  if (await hostHas(ctx, ref)) return { ref, how: 'present' };
  if (ctx.dryRun) {
    ctx.reporter.info(`would get ${ref} onto the host (${wouldGet(ctx)})`);
    return { ref, how: ctx.cfg.config.app.pull ? 'pulled' : 'shipped' };
  }
  if (ctx.cfg.config.app.pull) {
    await pullOnto(ctx, ref);
    return { ref, how: 'pulled' };
  }
  const built = await ensureLocal(ctx, ref, sha, buildArgs);
  const shipped = await shipOnto(ctx, ref);
  ctx.reporter.info(shipLine(shipped));
  return { ref, how: built ? 'built+shipped' : 'shipped', bytes: shipped.bytes, layers: layerCounts(shipped) };
}

/**
 * Removes app images beyond the newest `keep`, never one in `protect` (current, previous, rollback targets)
 * nor one a container still uses (the stopped colour is the fast rollback). dryRun lists instead.
 */
export async function pruneImages(
  ctx: EngineContext,
  keep: number,
  protect: string[],
  dryRun = false,
  host: Host = ctx.host,
): Promise<string[]> {
  const repo = ctx.cfg.config.app.image;
  const r = await host.run(imageTagsByDateCmd(repo), { check: false });
  if (r.code !== 0) return [];
  const used = await host.run(containerImagesCmd(), { check: false });
  const inUse = new Set(used.stdout.split('\n').map((l) => l.trim()));
  const tags = r.stdout
    .split('\n')
    .map((l) => l.split('\t'))
    .filter((p): p is [string, string] => p.length === 2 && /^[0-9a-f]{40}$/.test(p[0]!))
    .sort((a, b) => b[1].localeCompare(a[1]))
    .map((p) => p[0]);
  const removable = tags.slice(keep).filter((t) => !protect.includes(t) && !inUse.has(imageRef(repo, t)));
  if (dryRun) return removable;
  const removed: string[] = [];
  for (const tag of removable) {
    const d = await host.run(imageRmCmd(imageRef(repo, tag)), { check: false });
    if (d.code === 0) removed.push(tag);
  }
  return removed;
}

/** the app's release tags (commit SHAs) that `host` holds */
export async function imagesOnHost(ctx: EngineContext, host: Host = ctx.host): Promise<Set<string>> {
  const repo = ctx.cfg.config.app.image;
  const r = await host.run(imageTagsCmd(repo), { check: false });
  return parseImageTags(r.stdout, repo);
}

/** IMAGE_TAGS's answer: the commit tags of `repo`, from the engine's list (RepoTags) or the CLI's lines */
export function parseImageTags(out: string, repo: string): Set<string> {
  const listed = engineAnswer<{ RepoTags?: string[] | null }[]>(out);
  const tags = listed
    ? listed
        .flatMap((i) => i.RepoTags ?? [])
        .flatMap((t) => (t.startsWith(`${repo}:`) ? [t.slice(repo.length + 1)] : []))
    : out.split('\n').map((l) => l.trim());
  return new Set(tags.filter((t) => /^[0-9a-f]{40}$/.test(t)));
}
