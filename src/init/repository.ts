// What init reads from the operator's repository and from the tool itself: the GitHub origin (for the image name
// and the gh commands), the app's Dockerfile, and the release the generated workflows pin.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readAsset } from '../engine/assets.js';
import { runProcess } from '../host/process.js';

export interface GitHubRepo {
  owner: string;
  name: string;
}

/** used when the repository has no GitHub origin; lowercase, as an image repository must be */
export const FALLBACK_IMAGE = 'ghcr.io/owner/server';

/** owner/name of `git remote get-url origin` when it is a GitHub repository */
export async function githubOrigin(dir: string): Promise<GitHubRepo | undefined> {
  const r = await runProcess('git', ['-C', dir, 'remote', 'get-url', 'origin'], { timeoutMs: 10_000 });
  return r.code === 0 ? parseGitHubUrl(r.stdout.trim()) : undefined;
}

export function parseGitHubUrl(url: string): GitHubRepo | undefined {
  const m =
    /^(?:https:\/\/(?:[^@/]+@)?github\.com\/|(?:ssh:\/\/)?git@github\.com[:/])([A-Za-z0-9-]+)\/([A-Za-z0-9._-]+?)(?:\.git)?\/?$/.exec(
      url,
    );
  return m ? { owner: m[1]!, name: m[2]! } : undefined;
}

/** ghcr.io/<owner>/<repo>, the name GitHub's registry would give the repository's image */
export function imageOf(repo: GitHubRepo | undefined): string {
  if (!repo) return FALLBACK_IMAGE;
  const part = (s: string) => s.toLowerCase().replace(/[^a-z0-9._-]/g, '-');
  return `ghcr.io/${part(repo.owner)}/${part(repo.name)}`;
}

/** where Togather server checkouts keep a Dockerfile, most conventional first */
export const DOCKERFILE_CANDIDATES = ['Dockerfile', 'docker/Dockerfile', 'deploy/docker/Dockerfile'];
/** where init puts the tool's own Dockerfile when the repository has none */
export const BUNDLED_DOCKERFILE_PATH = 'docker/Dockerfile';
export const BUILD_ARGS = ['GIT_COMMIT', 'GIT_SHORT_COMMIT', 'VERSION', 'BUILD_TIMESTAMP'];
const MIGRATIONS_PATH = '/app/migrations';

/**
 * What an existing Dockerfile visibly lacks of the image contract the deployer relies on: the four build args
 * (the release is verified by the git_commit /version reports) and the migrations at /app/migrations. A text
 * check only: it cannot prove the contract, but it catches the Dockerfile that was never written for it.
 */
export function dockerfileGaps(text: string): string[] {
  const gaps = BUILD_ARGS.filter((a) => !new RegExp(`^\\s*ARG\\s+${a}\\b`, 'm').test(text)).map((a) => `no ARG ${a}`);
  if (!text.includes(MIGRATIONS_PATH)) gaps.push(`nothing copied to ${MIGRATIONS_PATH}`);
  return gaps;
}

export function bundledDockerfile(): string {
  return readAsset('docker', 'Dockerfile');
}

export function readRepoFile(dir: string, path: string): string | undefined {
  try {
    return readFileSync(join(dir, path), 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * The tag the generated workflows pin, v<major> of this installation. Read from the installed package.json
 * rather than imported, so that the bundled CLI (dist/cli) finds it beside its assets as well.
 */
export function releaseTag(): string {
  const version = (JSON.parse(readAsset('package.json')) as { version?: unknown }).version;
  const major = typeof version === 'string' ? /^(\d+)\./.exec(version)?.[1] : undefined;
  if (major === undefined)
    throw new Error(`package.json of togather-deploy has no usable version (${String(version)})`);
  return `v${major}`;
}
