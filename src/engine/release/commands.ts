import { cmd, script, type Command } from '../../host/host.js';
import { ENGINE_API, engineFilters } from '../engine-api.js';

/*
 * The release image's commands, as data: pure builders of each command's argv, on this machine (build, git
 * archive, docker save) and on the host (docker load, pull, image listing and removal); the two cache scripts
 * are exported constants (their data arrives as $1: see script() in host/host.ts). image.ts only runs them.
 */

/** the image's id when it is there (exit 0), else a failure: on the host and on this machine alike */
export function imageInspectCmd(ref: string): Command {
  return cmd('docker', 'image', 'inspect', '--format', '{{.Id}}', ref);
}

/**
 * The docker build argv. With a layer cache (and buildx present) the build reads the cache directory and
 * writes a fresh one beside it, so the saved cache holds this build's layers and never grows without bound.
 */
export function buildCommand(p: {
  ref: string;
  sha: string;
  dockerfile: string;
  buildArgs: Record<string, string>;
  cacheDir?: string;
}): string[] {
  const args = p.cacheDir
    ? [
        'docker',
        'buildx',
        'build',
        '--load',
        '--cache-from',
        `type=local,src=${p.cacheDir}`,
        '--cache-to',
        `type=local,dest=${p.cacheDir}.new,mode=max`,
      ]
    : ['docker', 'build'];
  args.push('--file', p.dockerfile, '--tag', p.ref);
  for (const [k, v] of Object.entries(p.buildArgs)) args.push('--build-arg', `${k}=${v}`);
  args.push('--label', `org.opencontainers.image.revision=${p.sha}`, '-');
  return args;
}

/** the commit's tree as a tar stream: the build context */
export function gitArchiveCmd(tree: string): Command {
  return cmd('git', 'archive', '--format=tar', tree);
}

// what the builder can do with a layer cache: buildx at all, its builder's driver, the engine's image store
export function buildxVersionCmd(): Command {
  return cmd('docker', 'buildx', 'version');
}

export function buildxInspectCmd(): Command {
  return cmd('docker', 'buildx', 'inspect');
}

export function driverStatusCmd(): Command {
  return cmd('docker', 'info', '--format', '{{json .DriverStatus}}');
}

/** $1 the cache directory: a .new beside it, left by an interrupted build, goes */
export const CACHE_CLEAR_NEW = 'rm -rf -- "$1.new"';
/** $1 the cache directory: replaced by the build's export only when that is complete (exit 3: it is not) */
export const CACHE_SWAP = 'test -f "$1.new/index.json" || exit 3; rm -rf -- "$1" && mv -- "$1.new" "$1"';

export function cacheClearNewCmd(cacheDir: string): Command {
  return script(CACHE_CLEAR_NEW, cacheDir);
}

export function cacheSwapCmd(cacheDir: string): Command {
  return script(CACHE_SWAP, cacheDir);
}

/** this machine's image as a tar stream, for dockerLoadCmd on the host */
export function dockerSaveCmd(ref: string): Command {
  return cmd('docker', 'save', ref);
}

/** on the host: an image from stdin (gzip or plain tar) */
export function dockerLoadCmd(): Command {
  return cmd('docker', 'load', '--quiet');
}

export function dockerPullCmd(ref: string): Command {
  return cmd('docker', 'pull', '--quiet', ref);
}

/** the app images' tags with their creation times, tab-separated, for pruning */
export function imageTagsByDateCmd(repo: string): Command {
  return cmd('docker', 'image', 'ls', '--format', '{{.Tag}}\t{{.CreatedAt}}', repo);
}

/** $1 the repository; $2 the engine's filter for it: the engine's image list as an engine= line, else the CLI's tags */
export const IMAGE_TAGS = `${ENGINE_API}
if j=$(api "/images/json?filters=$2" 2>/dev/null); then printf 'engine=%s\\n' "$j"; exit 0; fi
docker image ls --format '{{.Tag}}' "$1"`;

/** the app images' tags (parseImageTags) */
export function imageTagsCmd(repo: string): Command {
  return script(IMAGE_TAGS, repo, engineFilters({ reference: [repo] }));
}

/** the image of every container, running or not: an image in use is never pruned */
export function containerImagesCmd(): Command {
  return cmd('docker', 'ps', '-a', '--format', '{{.Image}}');
}

export function imageRmCmd(ref: string): Command {
  return cmd('docker', 'image', 'rm', ref);
}

/** the layers of one image, bottom first, as a JSON array of diff IDs (this machine's release image) */
export function imageLayersCmd(ref: string): Command {
  return cmd('docker', 'image', 'inspect', '--format', '{{json .RootFS.Layers}}', ref);
}

/**
 * $1 the app's image repository: the layer chain of each of its images on the host, one JSON array a line.
 * One round trip; no image yet prints nothing. Images of other repositories are left out on purpose: what the
 * release can reuse is what earlier releases of the app left, and the listing stays as small as the repository.
 */
export const HOST_LAYER_CHAINS =
  'docker image ls --quiet --no-trunc -- "$1" | sort -u | ' +
  "xargs -r docker image inspect --format '{{json .RootFS.Layers}}'";

export function hostLayerChainsCmd(repo: string): Command {
  return script(HOST_LAYER_CHAINS, repo);
}
