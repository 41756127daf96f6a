/**
 * The runner's GitHub context, read from its environment variables and checked, so that a malformed value
 * fails here with its name instead of turning into a strange API URL later. Outside Actions (CLI runs)
 * the run-specific values are simply absent.
 */
import { DeployError } from '../errors.js';

export interface GitHubContext {
  /** REST API root without trailing slash (GHES: https://host/api/v3) */
  apiUrl: string;
  /** web root without trailing slash */
  serverUrl: string;
  owner?: string;
  repo?: string;
  runId?: string;
  runAttempt?: string;
  sha?: string;
  actor?: string;
  ref?: string;
  /** true inside a GitHub Actions job */
  actions: boolean;
}

type Env = Record<string, string | undefined>;

const NAME = /^[A-Za-z0-9_.-]+$/;

export function readGitHubContext(env: Env = process.env): GitHubContext {
  const problems: string[] = [];
  const get = (key: string): string | undefined => {
    const v = env[key]?.trim();
    return v ? v : undefined;
  };

  const url = (key: string, fallback: string): string => {
    const raw = get(key) ?? fallback;
    try {
      const u = new URL(raw);
      if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error('not http(s)');
      if (u.username || u.password) throw new Error('credentials in URL');
      return u.href.replace(/\/+$/, '');
    } catch (err) {
      // never echo a password that someone put in the URL
      const shown = raw.replace(/\/\/[^/@\s]*@/, '//***@');
      problems.push(`${key} must be an http(s) URL without credentials (${(err as Error).message}): "${shown}"`);
      return fallback;
    }
  };
  const ctx: GitHubContext = {
    apiUrl: url('GITHUB_API_URL', 'https://api.github.com'),
    serverUrl: url('GITHUB_SERVER_URL', 'https://github.com'),
    actions: env.GITHUB_ACTIONS === 'true',
  };

  const repository = get('GITHUB_REPOSITORY');
  if (repository) {
    const [owner, repo, ...extra] = repository.split('/');
    if (owner && repo && extra.length === 0 && NAME.test(owner) && NAME.test(repo)) {
      ctx.owner = owner;
      ctx.repo = repo;
    } else {
      problems.push(`GITHUB_REPOSITORY must be owner/repo: "${repository}"`);
    }
  }
  const digits = (key: string, field: 'runId' | 'runAttempt') => {
    const v = get(key);
    if (v === undefined) return;
    if (/^\d+$/.test(v)) ctx[field] = v;
    else problems.push(`${key} must be a number: "${v}"`);
  };
  digits('GITHUB_RUN_ID', 'runId');
  digits('GITHUB_RUN_ATTEMPT', 'runAttempt');

  const sha = get('GITHUB_SHA');
  if (sha !== undefined) {
    if (/^[0-9a-f]{40}([0-9a-f]{24})?$/i.test(sha)) ctx.sha = sha.toLowerCase();
    else problems.push(`GITHUB_SHA must be a full commit SHA: "${sha}"`);
  }
  const actor = get('GITHUB_ACTOR');
  if (actor !== undefined) {
    // `_` appears in managed (EMU) logins, `[bot]` in app actors
    if (/^[A-Za-z0-9_-]+(\[bot\])?$/.test(actor)) ctx.actor = actor;
    else problems.push(`GITHUB_ACTOR is not a GitHub login: "${actor}"`);
  }
  const ref = get('GITHUB_REF');
  if (ref !== undefined) {
    // eslint-disable-next-line no-control-regex
    if (/^refs\/[^\s\u0000-\u001f~^:?*[\\]+$/.test(ref)) ctx.ref = ref;
    else problems.push(`GITHUB_REF must be a full ref (refs/…): "${ref}"`);
  }

  if (problems.length) {
    throw new DeployError(
      'config',
      `the GitHub context in the environment is malformed:\n  ${problems.join('\n  ')}`,
      'these are set by the runner; outside Actions, unset them or fix their values',
    );
  }
  return ctx;
}

/** owner and repo, or a DeployError naming what is missing */
export function requireRepository(ctx: GitHubContext): { owner: string; repo: string } {
  if (!ctx.owner || !ctx.repo) {
    throw new DeployError(
      'config',
      'GITHUB_REPOSITORY is not set',
      'set GITHUB_REPOSITORY=owner/repo (the runner sets it in Actions)',
    );
  }
  return { owner: ctx.owner, repo: ctx.repo };
}

/** Link to this workflow run (its attempt when known); undefined outside Actions. */
export function runUrl(ctx: GitHubContext): string | undefined {
  if (!ctx.owner || !ctx.repo || !ctx.runId) return undefined;
  const base = `${ctx.serverUrl}/${ctx.owner}/${ctx.repo}/actions/runs/${ctx.runId}`;
  return ctx.runAttempt && ctx.runAttempt !== '1' ? `${base}/attempts/${ctx.runAttempt}` : base;
}

/** Link to a commit on the web UI. */
export function commitUrl(ctx: GitHubContext, sha: string): string | undefined {
  if (!ctx.owner || !ctx.repo) return undefined;
  return `${ctx.serverUrl}/${ctx.owner}/${ctx.repo}/commit/${sha}`;
}
