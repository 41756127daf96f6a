/**
 * Bench lane: what layer-aware shipping saves. Three deploys of the sample app to one environment, each of a
 * fresh commit of its own (a clone of the sample repo, one line changed per commit) under an app image
 * repository no host holds yet, so the first deploy finds none of the app's images there:
 *   (c) the first deploy to a host without the app's images: everything crosses the wire;
 *   (a) a release that changes one line, layer-aware (app.ship: layers, the default);
 *   (b) the same kind of release with the whole image forced (app.ship: full, the troubleshooting switch).
 * Each commit's image is built on the runner before its deploy, so the image phase measures the shipping
 * (the host's check, the transfer and docker load), not the build. Bytes are the gzip bytes on the wire, from
 * the deploy's own log on the host. The app images it made are removed from both engines afterwards.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { hostDocker, hostSsh, runnerDocker } from '../harness/host.js';
import { pipeline, run } from '../harness/proc.js';
import type { TestEnv } from '../e2e/support.js';
import { phaseSpans, runCliStreaming } from './scenario.js';

export interface ShippedRelease {
  label: string;
  sha: string;
  code: number;
  /** gzip bytes on the wire (the deploy's "image" event) */
  bytes?: number;
  /** the image phase's wall time: the host's check, the transfer, docker load */
  imageSeconds?: number;
  /** the deploy log's line, e.g. "shipped 1 of 3 layers, 1.20 KiB (2 layers already on the host)" */
  line?: string;
}

export interface ShippingBench {
  repo: string;
  /** (c) first deploy to a host without the app's images */
  first: ShippedRelease;
  /** (a) a one-line change, layer-aware */
  layers: ShippedRelease;
  /** (b) a one-line change, the whole image (app.ship: full) */
  full: ShippedRelease;
}

/** A clone of the sample repo whose commits each change one line; a commit never repeats a SHA of another run. */
export class ChangingRepo {
  readonly dir = mkdtempSync(join(tmpdir(), 'tgd-ship-repo-'));
  private n = 0;
  private constructor() {}

  static async from(sampleRepoDir: string): Promise<ChangingRepo> {
    const r = new ChangingRepo();
    await run(['git', 'clone', '-q', sampleRepoDir, r.dir]);
    return r;
  }

  /** commits a one-line change of server.mjs; returns its full SHA */
  async commit(): Promise<string> {
    const file = join(this.dir, 'server.mjs');
    const tag = `// ship-layers change ${++this.n} ${process.pid}-${Date.now()}`;
    const lines = readFileSync(file, 'utf8').split('\n');
    if (this.n === 1) lines.push(tag);
    else lines[lines.length - 1] = tag;
    writeFileSync(file, lines.join('\n'));
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: this.dir,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_AUTHOR_NAME: 'Togather Tests',
      GIT_AUTHOR_EMAIL: 'tests@togather.invalid',
      GIT_COMMITTER_NAME: 'Togather Tests',
      GIT_COMMITTER_EMAIL: 'tests@togather.invalid',
    };
    await run(['git', '-c', 'commit.gpgsign=false', 'commit', '-q', '-am', `one line ${this.n}`], {
      cwd: this.dir,
      env,
    });
    return (await run(['git', 'rev-parse', 'HEAD'], { cwd: this.dir, env })).stdout.trim();
  }
}

/**
 * The environment seen through another config file (the env's own, with `edit` applied) and another repository:
 * what runCliStreaming and cliArgs read.
 */
export function withConfig(env: TestEnv, repoDir: string, edit: (c: Record<string, unknown>) => void): TestEnv {
  const config = parse(readFileSync(env.configPath, 'utf8')) as Record<string, unknown>;
  edit(config);
  const configPath = join(mkdtempSync(join(tmpdir(), 'tgd-ship-cfg-')), 'deployment.yml');
  // relative paths of the config (env_file) are read beside it: the env file goes along
  writeFileSync(configPath, stringify(config));
  writeFileSync(join(configPath, '..', 'app.env'), readFileSync(env.envFilePath), { mode: 0o600 });
  return { ...env, configPath, repo: { ...env.repo, dir: repoDir } };
}

/** the app config of a derived env: its image repository, and how images travel */
export function appConfig(repo: string, ship?: 'layers' | 'full') {
  return (c: Record<string, unknown>) => {
    const app = c.app as Record<string, unknown>;
    app.image = repo;
    if (ship) app.ship = ship;
  };
}

/** builds the commit on the runner as the deployer would (its tree as the context), tagged repo:sha */
export async function buildOnRunner(env: TestEnv, repoDir: string, repo: string, sha: string): Promise<void> {
  const docker = [env.info.dockerClient, '-H', env.info.runnerDockerHost];
  await pipeline(
    [
      ['git', '-C', repoDir, 'archive', '--format=tar', sha],
      [...docker, 'build', '-q', '--build-arg', `GIT_COMMIT=${sha}`, '--tag', `${repo}:${sha}`, '-'],
    ],
    { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' }, timeoutMs: 300_000 },
  );
}

/** the image event of the environment's newest deploy log on the host */
async function imageEvent(env: TestEnv): Promise<{ bytes?: number } | undefined> {
  const r = await hostSsh(
    env.info,
    `cd stacks/${env.name}/logs && f=$(ls -1 | sort | tail -n 1) && grep '"event":"image"' "$f" | tail -n 1`,
    { check: false },
  );
  if (r.code !== 0 || !r.stdout.trim()) return undefined;
  return JSON.parse(r.stdout.trim()) as { bytes?: number };
}

/** one deploy of `sha` through `view`, measured */
export async function deployMeasured(view: TestEnv, label: string, sha: string): Promise<ShippedRelease> {
  const r = await runCliStreaming(view, ['deploy', view.name, '--version', sha, '--skip-ci-check'], 300_000);
  const span = phaseSpans(r.lines).find((p) => p.name === 'image');
  const line = /shipped (?:the whole image|\d+ of \d+ layers)[^\n]*/.exec(r.stderr + r.stdout)?.[0];
  const out: ShippedRelease = { label, sha, code: r.code, line };
  if (span) out.imageSeconds = (span.end - span.start) / 1000;
  if (r.code !== 0) throw new Error(`deploy ${label} failed (exit ${r.code}):\n${r.stderr.slice(-3000)}`);
  out.bytes = (await imageEvent(view))?.bytes;
  return out;
}

/** the app images of `repo` on both engines go (an image a container still uses is only untagged) */
export async function removeRepoImages(env: TestEnv, repo: string): Promise<void> {
  for (const docker of [hostDocker, runnerDocker]) {
    const ids = (
      await docker(env.info, ['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}', repo], { check: false })
    ).stdout
      .split('\n')
      .filter(Boolean);
    if (ids.length) await docker(env.info, ['image', 'rm', '-f', ...ids], { check: false });
  }
}

export async function benchShipping(env: TestEnv, say: (s: string) => void): Promise<ShippingBench> {
  const repo = `togather-test/ship-bench-${process.pid}`;
  const git = await ChangingRepo.from(env.repo.dir);
  const layered = withConfig(env, git.dir, appConfig(repo, 'layers'));
  const whole = withConfig(env, git.dir, appConfig(repo, 'full'));
  try {
    const step = async (label: string, view: TestEnv) => {
      const sha = await git.commit();
      await buildOnRunner(env, git.dir, repo, sha);
      const s = await deployMeasured(view, label, sha);
      say(`  ${label}: ${s.line ?? '(no shipping line)'} in ${s.imageSeconds?.toFixed(1) ?? '?'} s`);
      return s;
    };
    const first = await step('first deploy, host without the app images', layered);
    const layers = await step('one-line change, layer-aware', layered);
    const full = await step('one-line change, whole image (app.ship: full)', whole);
    return { repo, first, layers, full };
  } finally {
    await removeRepoImages(env, repo);
  }
}

const mb = (n?: number) => (n === undefined ? '?' : `${(n / 1e6).toFixed(n < 1e6 ? 3 : 1)} MB`);
const secs = (n?: number) => (n === undefined ? '?' : `${n.toFixed(1)} s`);

export function formatShipping(b: ShippingBench): string {
  const rows: [string, ShippedRelease][] = [
    ['(a) one-line change, layer-aware', b.layers],
    ['(b) one-line change, whole image', b.full],
    ['(c) first deploy, no app images', b.first],
  ];
  const w = Math.max(...rows.map(([l]) => l.length));
  const lines = rows.map(
    ([l, s]) => `  ${l.padEnd(w)}  ${mb(s.bytes).padStart(9)}  ${secs(s.imageSeconds).padStart(7)}  ${s.line ?? ''}`,
  );
  const ratio =
    b.layers.bytes && b.full.bytes ? ` (layer-aware sends ${((100 * b.layers.bytes) / b.full.bytes).toFixed(2)}%)` : '';
  return [`Image shipping, bytes on the wire (gzip) and image-phase seconds${ratio}:`, ...lines].join('\n');
}
