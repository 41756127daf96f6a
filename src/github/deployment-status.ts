/**
 * Deployment statuses on the repository's Environments page.
 *
 * A job with `environment:` already has a deployment that GitHub created when the job started; we add a
 * status to it (with the app URL, the run log and a one-line description). A CLI run has no such
 * deployment and gets none unless asked. Reporting is a courtesy: every failure here becomes a warning
 * string, never an exception, because a deploy that worked must not turn red over a status post.
 */
import { GitHubApi, GitHubApiError, messageOf } from './api.js';

export type DeploymentState = 'success' | 'failure' | 'in_progress';

export interface DeploymentStatusOptions {
  apiUrl: string;
  token: string;
  owner: string;
  repo: string;
  /**
   * The commit GitHub recorded on the job's deployment: the run's GITHUB_SHA, which is not necessarily the
   * version deployed (a workflow_dispatch from main can deploy any SHA).
   */
  sha: string;
  environment: string;
  state: DeploymentState;
  environmentUrl?: string;
  logUrl?: string;
  description?: string;
  /** create a deployment when none exists for sha + environment (CLI runs); default false */
  createIfMissing?: boolean;
  /** ref recorded on a created deployment; default the sha */
  ref?: string;
  /** masks secrets in the description (pass Redactor.redact bound) */
  redact?: (text: string) => string;
  /** overall budget for all calls (default 30 s) */
  timeoutMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  log?: (line: string) => void;
}

export interface DeploymentStatusResult {
  /** a status was posted */
  ok: boolean;
  deploymentId?: number;
  /** the deployment was created by this call */
  created: boolean;
  /** what went wrong, for a runner warning; absent when ok or when there was simply nothing to report to */
  warning?: string;
  /** one line for the log, always set */
  detail: string;
  requests: number;
}

export const DESCRIPTION_MAX = 140;

export async function postDeploymentStatus(opts: DeploymentStatusOptions): Promise<DeploymentStatusResult> {
  const now = opts.now ?? Date.now;
  let api: GitHubApi | undefined;
  let created = false;
  let deploymentId: number | undefined;
  const result = (
    r: Omit<DeploymentStatusResult, 'created' | 'requests' | 'deploymentId'>,
  ): DeploymentStatusResult => ({
    ...r,
    created,
    ...(deploymentId !== undefined ? { deploymentId } : {}),
    requests: api?.requestCount ?? 0,
  });
  const warn = (what: string) => result({ ok: false, warning: what, detail: what });
  try {
    api = new GitHubApi({
      apiUrl: opts.apiUrl,
      token: opts.token,
      now,
      ...(opts.sleep ? { sleep: opts.sleep } : {}),
      ...(opts.log ? { log: opts.log } : {}),
      maxAttempts: 3,
    });
    const deadline = now() + (opts.timeoutMs ?? 30_000);
    const repoPath = `repos/${encodeURIComponent(opts.owner)}/${encodeURIComponent(opts.repo)}`;

    const list = await api.request<unknown>('GET', `${repoPath}/deployments`, {
      query: { sha: opts.sha, environment: opts.environment, per_page: 1 }, // newest first
      deadline,
    });
    if (list.status !== 200) return warn(refusal('list deployments', list.status, list.data));
    const newest = Array.isArray(list.data) ? (list.data[0] as { id?: unknown } | undefined) : undefined;
    if (newest && typeof newest.id === 'number') deploymentId = newest.id;

    if (deploymentId === undefined) {
      if (!opts.createIfMissing) {
        return result({
          ok: false,
          detail: `no GitHub deployment for ${opts.environment} at ${opts.sha.slice(0, 7)}; none created`,
        });
      }
      const made = await api.request<unknown>('POST', `${repoPath}/deployments`, {
        body: {
          ref: opts.ref ?? opts.sha,
          environment: opts.environment,
          description: description(opts.description, opts.redact) || `togather-deploy ${opts.sha.slice(0, 7)}`,
          // without these GitHub would merge the default branch into ref and demand green commit statuses;
          // the CI gate has already judged this commit
          auto_merge: false,
          required_contexts: [],
          production_environment: /^prod(uction)?$/i.test(opts.environment),
        },
        deadline,
        retry: false, // a repeated POST could create a second deployment
      });
      const id = (made.data as { id?: unknown } | undefined)?.id;
      if (made.status !== 201 || typeof id !== 'number') {
        return warn(refusal('create a deployment', made.status, made.data));
      }
      deploymentId = id;
      created = true;
    }

    const body: Record<string, unknown> = { state: opts.state, environment: opts.environment };
    const desc = description(opts.description, opts.redact);
    if (desc) body.description = desc;
    const envUrl = httpUrl(opts.environmentUrl);
    if (envUrl) body.environment_url = envUrl;
    const logUrl = httpUrl(opts.logUrl);
    if (logUrl) body.log_url = logUrl;
    const posted = await api.request<unknown>('POST', `${repoPath}/deployments/${deploymentId}/statuses`, {
      body,
      deadline,
      retry: true, // a duplicate status is harmless; a missing one is not
    });
    if (posted.status !== 201) return warn(refusal('post the deployment status', posted.status, posted.data));
    return result({
      ok: true,
      detail: `GitHub deployment ${deploymentId}${created ? ' (created)' : ''} marked ${opts.state}`,
    });
  } catch (err) {
    const what = err instanceof GitHubApiError ? err.message : err instanceof Error ? err.message : String(err);
    return warn(`could not report the deployment status to GitHub: ${what}`);
  }
}

function refusal(action: string, status: number, data: unknown): string {
  const msg = messageOf(data);
  const detail = `HTTP ${status}${msg ? ` ${msg}` : ''}`;
  if (status === 403 || status === 404) {
    return `could not ${action} on GitHub (${detail}); give the job \`permissions: deployments: write\` to get deployment statuses`;
  }
  return `could not ${action} on GitHub (${detail})`;
}

/** Redact first (a cut could split a secret past recognition), then one line, then ≤ 140 characters. */
export function description(text: string | undefined, redact?: (t: string) => string): string {
  if (!text) return '';
  const masked = redact ? redact(text) : text;
  // eslint-disable-next-line no-control-regex
  const line = masked.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\s]+/g, ' ').trim();
  const chars = [...line];
  return chars.length <= DESCRIPTION_MAX ? line : `${chars.slice(0, DESCRIPTION_MAX - 1).join('')}…`;
}

function httpUrl(u: string | undefined): string | undefined {
  if (!u) return undefined;
  try {
    const parsed = new URL(u);
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.href : undefined;
  } catch {
    return undefined;
  }
}
