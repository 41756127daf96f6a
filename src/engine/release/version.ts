import { DeployError } from '../../errors.js';
import { cmd, type Local } from '../../host/host.js';

export const SHA_RE = /^[0-9a-f]{40}$/;
/** what an operator may name: a SHA (7-40 hex), a tag or a branch; nothing a shell or git could misread */
export const REF_RE = /^(?!-)(?!.*\.\.)(?!.*\/\/)(?!.*@\{)[A-Za-z0-9._/-]{1,200}$/;

export interface ResolvedVersion {
  sha: string;
  ref?: string;
}

/**
 * Resolves the requested version to the full SHA once; that SHA is what is gated, built, deployed and
 * recorded. A full SHA is taken as it is (the action may run without the commit fetched when the image is
 * pulled); anything else is looked up in the local clone.
 */
export async function resolveVersion(local: Local, requested: string): Promise<ResolvedVersion> {
  const v = requested.trim();
  if (SHA_RE.test(v.toLowerCase())) return { sha: v.toLowerCase() };
  if (!REF_RE.test(v)) {
    throw new DeployError(
      'config',
      `version "${v.slice(0, 80)}" is not a commit SHA, tag or branch name`,
      'pass a 7-40 character hex SHA, a tag (v1.2.3) or a branch name',
    );
  }
  const r = await local.run(cmd('git', 'rev-parse', '--verify', '--quiet', '--end-of-options', `${v}^{commit}`), {
    check: false,
    timeoutMs: 30_000,
  });
  const sha = r.stdout.trim();
  if (r.code !== 0 || !SHA_RE.test(sha)) {
    throw new DeployError(
      'config',
      `version "${v}" does not name a commit in this clone`,
      'fetch it first (git fetch --tags; in the deploy workflow the fetch-depth: 0 input, or actions/checkout with fetch-depth: 0) or pass the full SHA',
    );
  }
  return { sha, ref: v };
}
