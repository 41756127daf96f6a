/**
 * Bench lane: what the build-layer cache buys a deploy that builds on a fresh CI runner.
 *
 * A commit is built cold on one runner engine through the engine's own buildImage (buildx with the local cache
 * directory); then a changed commit is built on a FRESH engine (new data root: nothing in its build cache)
 * with that directory restored, as the action restores it from @actions/cache on a new runner. Optionally the
 * same changed commit is built on another fresh engine without any cache, for a like-for-like figure.
 *
 * The sample Dockerfile has the shape of docker/Dockerfile: dependency and toolchain steps before the sources,
 * per-commit ARGs last. Its RUN steps use --network=none because runner engines here have no bridge network.
 * The base image is built once and moved to every fresh engine with docker save/load, standing in for a pull
 * of a pinned base image (same layers on every runner, which is what lets cached steps match).
 *
 * Standalone: `npx tsx test/bench/build-cache.ts [--no-uncached] [--no-fallback] [--json]` starts its own
 * private engines (Docker 26 from $TOGATHER_MODERN_PREFIX or /opt/togather-harness/modern, containerd image
 * store) under a temp dir, prints the figures and removes everything it started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { EngineContext } from '../../src/engine/context.js';
import type { BuildCache } from '../../src/engine/context.js';
import { buildImage } from '../../src/engine/release/image.js';
import { LocalMachine } from '../../src/host/local.js';
import { Redactor } from '../../src/log/redact.js';
import { ensureImage, IMAGE_NAMES } from '../harness/images.js';
import { run } from '../harness/proc.js';
import { MODERN_PREFIX } from '../harness/stack.js';

export { MODERN_PREFIX };
const DOCKER = join(MODERN_PREFIX, 'bin', 'docker');

export interface PrivateEngine {
  socket: string;
  /** PATH, DOCKER_CONFIG (with the buildx plugin) and DOCKER_HOST for a docker client of this engine */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** Whether the modern stack (dockerd 26 + buildx) this lane needs is installed; a reason when it is not. */
export function modernStackMissing(): string | undefined {
  for (const f of ['bin/dockerd', 'bin/docker', 'cli-plugins/docker-buildx']) {
    if (!existsSync(join(MODERN_PREFIX, f)))
      return `${join(MODERN_PREFIX, f)} is missing (test/harness/stack/install-modern.sh installs it)`;
  }
  return undefined;
}

/**
 * A dockerd of our own under `root`: own data, exec root, socket and pidfile; no bridge and no iptables (a
 * runner engine only builds and saves). `containerdStore` turns on the containerd image store, without which
 * buildx's docker driver cannot export a layer cache.
 */
export async function startPrivateEngine(root: string, opts: { containerdStore: boolean }): Promise<PrivateEngine> {
  mkdirSync(root, { recursive: true });
  const plugins = join(root, 'docker-config', 'cli-plugins');
  mkdirSync(plugins, { recursive: true });
  for (const p of ['docker-buildx', 'docker-compose']) {
    if (existsSync(join(MODERN_PREFIX, 'cli-plugins', p)) && !existsSync(join(plugins, p)))
      symlinkSync(join(MODERN_PREFIX, 'cli-plugins', p), join(plugins, p));
  }
  const config = join(root, 'daemon.json');
  writeFileSync(config, JSON.stringify(opts.containerdStore ? { features: { 'containerd-snapshotter': true } } : {}));
  const socket = join(root, 'docker.sock');
  const path = `${join(MODERN_PREFIX, 'bin')}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`;
  const env = {
    PATH: path,
    DOCKER_CONFIG: join(root, 'docker-config'),
    DOCKER_HOST: `unix://${socket}`,
    HOME: process.env.HOME ?? '/root',
  };
  const args = [
    '--data-root',
    join(root, 'data'),
    '--exec-root',
    join(root, 'exec'),
    '--pidfile',
    join(root, 'docker.pid'),
    '-H',
    `unix://${socket}`,
  ];
  args.push('--bridge=none', '--iptables=false', '--ip-masq=false', '--config-file', config);
  const log = join(root, 'dockerd.log');
  const child: ChildProcess = spawn(join(MODERN_PREFIX, 'bin', 'dockerd'), args, {
    env: { PATH: path, HOME: env.HOME },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const logLines: Buffer[] = [];
  child.stderr?.on('data', (b: Buffer) => logLines.push(b));
  let exited = false;
  const gone = new Promise<void>((resolve) => child.on('exit', () => ((exited = true), resolve())));
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const late = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await gone;
      clearTimeout(late);
    }
    writeFileSync(log, Buffer.concat(logLines));
    // the engine unmounts its overlays on a clean stop; anything left (a killed engine) would block rm -rf
    const mounts = readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(`${root}/`));
    for (const m of mounts.reverse()) await run(['umount', '-l', m], { check: false });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    const r = await run(['docker', 'version', '--format', '{{.Server.Version}}'], { env, check: false });
    if (r.code === 0) break;
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(
        `dockerd under ${root} did not answer: ${Buffer.concat(logLines).toString('utf8').trim().split('\n').slice(-5).join('\n')}`,
      );
    }
    await new Promise((r2) => setTimeout(r2, 100));
  }
  return { socket, env, stop };
}

/**
 * The bench's app: dependency + toolchain steps of a few seconds each, then the sources and a "compile".
 * `scale` multiplies the work of every step (tests use a fraction).
 */
export const benchDockerfile = (scale = 1): string => {
  const modcache = [
    "const c=require('crypto');let h=require('fs').readFileSync('deps.txt');const out=[];",
    `for(let i=0;i<${Math.round(1_500_000 * scale)};i++){h=c.createHash('sha256').update(h).digest();`,
    `if(i%${Math.max(1, Math.round(1500 * scale))}===0)`,
    "out.push(c.createHash('sha512').update(h).digest().toString('hex').repeat(256))}",
    "out.push(c.randomBytes(16).toString('hex'));require('fs').writeFileSync('/src/modcache',out.join(''))",
  ].join('');
  const toolchain = [
    "const c=require('crypto');let h=Buffer.from('toolchain');",
    `for(let i=0;i<${Math.round(1_500_000 * scale)};i++)h=c.createHash('sha256').update(h).digest();`,
    "require('fs').writeFileSync('/src/toolchain',h)",
  ].join('');
  const compile = [
    "const c=require('crypto');let h=require('fs').readFileSync('app.mjs');",
    `for(let i=0;i<${Math.round(300_000 * scale)};i++)h=c.createHash('sha256').update(h).digest();`,
    "require('fs').writeFileSync('/src/app.bin',h)",
  ].join('');
  return `FROM ${IMAGE_NAMES.nodeBase}
WORKDIR /src
COPY deps.txt ./
# stand-in for go mod download: CPU and ~32 MB written, from the dependency list only; the random tail
# tells a step that ran from one that came from the cache
RUN --network=none node -e "${modcache}"
# stand-in for a toolchain set-up step
RUN --network=none node -e "${toolchain}"
COPY app.mjs mode ./
# stand-in for the compile of the sources: runs on every commit
RUN --network=none node -e "${compile}"
ARG GIT_COMMIT=unknown
ARG BUILD_TIMESTAMP=unknown
LABEL org.opencontainers.image.revision="\${GIT_COMMIT}" org.opencontainers.image.created="\${BUILD_TIMESTAMP}"
CMD ["node", "/src/app.mjs"]
`;
};

/** A git repository with two commits of the bench app that differ in their sources only; returns their SHAs. */
export async function makeBenchRepo(dir: string, scale = 1): Promise<[string, string]> {
  mkdirSync(dir, { recursive: true });
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: dir,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: 'Bench',
    GIT_AUTHOR_EMAIL: 'bench@togather.invalid',
    GIT_COMMITTER_NAME: 'Bench',
    GIT_COMMITTER_EMAIL: 'bench@togather.invalid',
  };
  const git = (...a: string[]) => run(['git', '-c', 'commit.gpgsign=false', ...a], { cwd: dir, env });
  await git('init', '-q', '-b', 'main');
  writeFileSync(join(dir, 'Dockerfile'), benchDockerfile(scale));
  writeFileSync(join(dir, 'deps.txt'), 'example.org/a v1.2.3\nexample.org/b v0.9.0\n');
  writeFileSync(join(dir, 'app.mjs'), 'console.log("togather bench app");\n');
  const shas: string[] = [];
  for (const mode of ['one', 'two']) {
    writeFileSync(join(dir, 'mode'), `${mode}\n`);
    await git('add', '-A');
    await git('commit', '-q', '-m', `bench app ${mode}`);
    shas.push((await git('rev-parse', 'HEAD')).stdout.trim());
  }
  return [shas[0]!, shas[1]!];
}

/** A cache directory that a "restore" finds as the previous runner left it: the lane copies it between runners. */
export function directoryCache(dir: string): BuildCache {
  return {
    dir,
    restore: async () => existsSync(join(dir, 'index.json')),
    save: async () => undefined,
  };
}

/** Times restore() and save() of a cache as buildImage calls them. */
export function timedCache(inner: BuildCache): BuildCache & { restoreMs: number; saveMs: number; restored?: boolean } {
  const t: BuildCache & { restoreMs: number; saveMs: number; restored?: boolean } = {
    dir: inner.dir,
    restoreMs: 0,
    saveMs: 0,
    async restore() {
      const t0 = Date.now();
      try {
        t.restored = await inner.restore();
        return t.restored;
      } finally {
        t.restoreMs = Date.now() - t0;
      }
    },
    async save() {
      const t0 = Date.now();
      try {
        await inner.save();
      } finally {
        t.saveMs = Date.now() - t0;
      }
    },
  };
  return t;
}

/** An engine context with just what buildImage needs; the reporter keeps what it is told. */
export function buildContext(
  repoDir: string,
  dockerEnv: Record<string, string>,
  buildCache?: BuildCache,
): { ctx: EngineContext; said: string[] } {
  const said: string[] = [];
  const redactor = new Redactor();
  const ctx = {
    cfg: { config: { app: { image: 'togather-bench/app', build: { context: '.', dockerfile: 'Dockerfile' } } } },
    local: new LocalMachine(
      redactor,
      { PATH: dockerEnv.PATH ?? process.env.PATH, HOME: process.env.HOME ?? '/root' },
      repoDir,
    ),
    localDockerEnv: dockerEnv,
    reporter: {
      phase: <T>(_n: string, fn: () => Promise<T>) => fn(),
      info: (m: string) => void said.push(m),
      warn: (m: string) => void said.push(`warning: ${m}`),
      error: (m: string) => void said.push(`error: ${m}`),
      debug: () => undefined,
    },
    redactor,
    dryRun: false,
    buildCache,
  } as unknown as EngineContext;
  return { ctx, said };
}

function dirBytes(dir: string): { bytes: number; files: number } {
  let bytes = 0;
  let files = 0;
  if (!existsSync(dir)) return { bytes, files };
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) {
      bytes += statSync(join(e.parentPath, e.name)).size;
      files++;
    }
  }
  return { bytes, files };
}

export interface BuildCacheBench {
  coldMs: number;
  warmMs: number;
  /** the changed commit on another fresh engine without a cache (undefined when skipped) */
  uncachedWarmMs?: number;
  /** whether the engine used the cache in the cold and warm builds (false: it fell back and said why) */
  cacheUsed: { cold: boolean; warm: boolean };
  /** the cache directory after the cold build */
  cacheBytes: number;
  cacheFiles: number;
  /** copying the cache into the fresh runner's directory (what a restore from @actions/cache ends with) */
  restoreCopyMs: number;
  /** loading the base image into the fresh engine (a pull's stand-in), not part of warmMs */
  baseLoadMs: number;
  /** the warm image's dependency layer is byte-for-byte the cold one's (the step ran from the cache) */
  warmReusedLayers: boolean;
  messages: { cold: string[]; warm: string[] };
}

async function loadBase(engine: { env: Record<string, string> }, baseTar: string): Promise<number> {
  const t0 = Date.now();
  await run(['docker', 'load', '--quiet', '--input', baseTar], { env: engine.env });
  return Date.now() - t0;
}

/** The /src/modcache file's checksum in an image: equal when the step came from the cache. */
export async function depsChecksum(env: Record<string, string>, ref: string): Promise<string> {
  const r = await run(
    [
      'docker',
      'run',
      '--rm',
      '--network',
      'none',
      ref,
      'node',
      '-e',
      "process.stdout.write(require('crypto').createHash('sha256').update(require('fs').readFileSync('/src/modcache')).digest('hex'))",
    ],
    { env },
  );
  return r.stdout.trim();
}

/**
 * Cold build of commit 1 on the engine at `socket` (driven with `env`), then commit 2 on a fresh engine from
 * `freshEngine()` with the cache directory copied over; optionally commit 2 again on another fresh engine with
 * no cache. The base image is built on the first engine and loaded into the fresh ones.
 */
export async function measureBuildCache(
  socket: string,
  env: Record<string, string>,
  opts: { workDir: string; freshEngine: (name: string) => Promise<PrivateEngine>; uncached?: boolean },
): Promise<BuildCacheBench> {
  const dockerEnv = { ...env, DOCKER_HOST: `unix://${socket}` };
  const repo = join(opts.workDir, 'repo');
  const [sha1, sha2] = await makeBenchRepo(repo);
  await ensureImage('nodeBase', socket, DOCKER, join(opts.workDir, 'stage'));
  const baseTar = join(opts.workDir, 'base.tar');
  await run(['docker', 'save', '--output', baseTar, IMAGE_NAMES.nodeBase], { env: dockerEnv });

  // the runner's temp dir has the same path on every runner (as RUNNER_TEMP on GitHub's)
  const cacheDir = join(opts.workDir, 'runner-temp', 'togather-build-cache');
  const build = async (engineEnv: Record<string, string>, sha: string, cache?: BuildCache) => {
    const { ctx, said } = buildContext(repo, engineEnv, cache);
    const t0 = Date.now();
    await buildImage(ctx, `togather-bench/app:${sha}`, sha, {
      GIT_COMMIT: sha,
      BUILD_TIMESTAMP: new Date().toISOString(),
    });
    return { ms: Date.now() - t0, said, used: !said.some((m) => m.startsWith('building without a layer cache')) };
  };

  const cold = await build(dockerEnv, sha1, directoryCache(cacheDir));
  const coldDeps = await depsChecksum(dockerEnv, `togather-bench/app:${sha1}`);
  const size = dirBytes(cacheDir);
  const saved = join(opts.workDir, 'saved-cache');
  if (existsSync(cacheDir)) await run(['mv', cacheDir, saved]);

  const fresh = await opts.freshEngine('warm');
  try {
    const baseLoadMs = await loadBase(fresh, baseTar);
    const t0 = Date.now();
    if (existsSync(saved)) await run(['cp', '-a', saved, cacheDir]);
    const restoreCopyMs = Date.now() - t0;
    const warm = await build(fresh.env, sha2, directoryCache(cacheDir));
    const warmDeps = await depsChecksum(fresh.env, `togather-bench/app:${sha2}`);
    let uncachedWarmMs: number | undefined;
    if (opts.uncached !== false) {
      const other = await opts.freshEngine('uncached');
      try {
        await loadBase(other, baseTar);
        uncachedWarmMs = (await build(other.env, sha2)).ms;
      } finally {
        await other.stop();
      }
    }
    return {
      coldMs: cold.ms,
      warmMs: warm.ms,
      uncachedWarmMs,
      cacheUsed: { cold: cold.used, warm: warm.used },
      cacheBytes: size.bytes,
      cacheFiles: size.files,
      restoreCopyMs,
      baseLoadMs,
      warmReusedLayers: coldDeps === warmDeps,
      messages: { cold: cold.said, warm: warm.said },
    };
  } finally {
    await fresh.stop();
  }
}

/** The engine on an overlay2 image store, cache configured: it must build without the cache and say so once. */
export async function measureFallback(
  engine: PrivateEngine,
  workDir: string,
  baseTar?: string,
): Promise<{ ms: number; messages: string[] }> {
  const repo = join(workDir, 'repo-fallback');
  const [sha] = await makeBenchRepo(repo);
  if (baseTar) await loadBase(engine, baseTar);
  else await ensureImage('nodeBase', engine.socket, DOCKER, join(workDir, 'stage-fallback'));
  const { ctx, said } = buildContext(repo, engine.env, directoryCache(join(workDir, 'fallback-cache')));
  const t0 = Date.now();
  await buildImage(ctx, `togather-bench/app:${sha}`, sha, { GIT_COMMIT: sha });
  return { ms: Date.now() - t0, messages: said };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { 'no-uncached': { type: 'boolean' }, 'no-fallback': { type: 'boolean' }, json: { type: 'boolean' } },
  });
  const missing = modernStackMissing();
  if (missing) throw new Error(missing);
  const work = mkdtempSync(join(tmpdir(), 'tgd-bench-cache-'));
  const started: PrivateEngine[] = [];
  const engine = async (name: string, containerdStore = true) => {
    const e = await startPrivateEngine(join(work, `engine-${name}`), { containerdStore });
    started.push(e);
    return e;
  };
  try {
    const cold = await engine('cold');
    const result = await measureBuildCache(cold.socket, cold.env, {
      workDir: work,
      freshEngine: (n) => engine(n),
      uncached: !values['no-uncached'],
    });
    let fallback: { ms: number; messages: string[] } | undefined;
    if (!values['no-fallback'])
      fallback = await measureFallback(await engine('overlay2', false), work, join(work, 'base.tar'));
    if (values.json) {
      console.log(JSON.stringify({ ...result, fallback }, null, 2));
      return;
    }
    const s = (ms?: number) => (ms === undefined ? '-' : `${(ms / 1000).toFixed(1)} s`);
    console.log('build-layer cache (buildx 0.13.1, docker driver, Docker 26 with the containerd image store)');
    console.log(
      `  cold build, commit 1, fresh engine, empty cache      ${s(result.coldMs)}   cache used: ${result.cacheUsed.cold}`,
    );
    console.log(
      `  warm build, commit 2, fresh engine, cache restored   ${s(result.warmMs)}   cache used: ${result.cacheUsed.warm}, ` +
        `dependency layers reused: ${result.warmReusedLayers}`,
    );
    console.log(`  same commit 2, fresh engine, no cache                ${s(result.uncachedWarmMs)}`);
    console.log(
      `  cache directory: ${(result.cacheBytes / 1e6).toFixed(1)} MB in ${result.cacheFiles} files; ` +
        `copied in ${s(result.restoreCopyMs)}; base image load ${s(result.baseLoadMs)} (not in the build times)`,
    );
    if (fallback)
      console.log(
        `  overlay2 engine, cache configured: built in ${s(fallback.ms)} without it; ` +
          `said: ${fallback.messages.filter((m) => m.includes('layer cache')).join(' | ')}`,
      );
  } finally {
    for (const e of started.reverse()) await e.stop().catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').at(-1)!)) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exitCode = 1;
  });
}
