/**
 * The CI gate: before any host is touched, the exact commit must have passed CI.
 *
 * GitHub has two independent ways of reporting CI on a commit: check runs (GitHub Actions and GitHub Apps)
 * and commit statuses (older integrations, external CI). A gate that reads only one of them waits forever
 * or passes blindly on repos that use the other, so both are read on every poll. Only the latest attempt
 * of each check counts, so a re-run that turned red into green (or green into red) is judged as it is now.
 */
import { z } from 'zod';
import { DeployError } from '../errors.js';
import { GitHubApi, GitHubApiError, messageOf, type ApiResponse } from './api.js';

export interface CiGateOptions {
  apiUrl: string;
  token: string;
  owner: string;
  repo: string;
  sha: string;
  /** check/status names; empty = every check run and status on the SHA except this run's own */
  required: string[];
  /** GITHUB_RUN_ID: check runs whose details_url/html_url point into this workflow run are ignored */
  ownRunId?: string;
  deadlineMs: number;
  pollIntervalMs: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  log?: (line: string) => void;
}

export interface CheckOutcome {
  name: string;
  source: 'check-run' | 'status';
  state: 'success' | 'failure' | 'pending' | 'skipped' | 'neutral';
  conclusion?: string;
  url?: string;
}

export interface CiGateResult {
  checks: CheckOutcome[];
  waitedMs: number;
  requests: number;
}

const CheckRunSchema = z.object({
  id: z.number(),
  name: z.string(),
  status: z.string(),
  conclusion: z.string().nullish(),
  started_at: z.string().nullish(),
  html_url: z.string().nullish(),
  details_url: z.string().nullish(),
});
const CheckRunsPageSchema = z.object({ total_count: z.number(), check_runs: z.array(CheckRunSchema) });
const StatusSchema = z.object({
  id: z.number(),
  state: z.string(),
  context: z.string(),
  target_url: z.string().nullish(),
  created_at: z.string().nullish(),
});
const StatusesPageSchema = z.array(StatusSchema);

export type RawCheckRun = z.infer<typeof CheckRunSchema>;
export type RawStatus = z.infer<typeof StatusSchema>;

/** A check as judged, plus what the gate needs to know about it but does not report. */
interface Judged extends CheckOutcome {
  ownRun: boolean;
}

export interface Verdict {
  /** the checks that decide the outcome (required ones, or all foreign ones when none are named) */
  relevant: Judged[];
  failed: Judged[];
  pending: Judged[];
  /** required names that no check or status carries yet */
  missing: string[];
  /** every latest check seen, own run included (for messages) */
  seen: Judged[];
  passed: boolean;
}

export async function verifyCommitPassed(opts: CiGateOptions): Promise<CiGateResult> {
  validate(opts);
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const log = opts.log ?? (() => {});
  const start = now();
  const deadline = start + opts.deadlineMs;
  const where = `${opts.owner}/${opts.repo}@${opts.sha.slice(0, 7)}`;
  const required = [...new Set(opts.required.map((r) => r.trim()).filter(Boolean))];

  let api: GitHubApi;
  try {
    api = new GitHubApi({ apiUrl: opts.apiUrl, token: opts.token, now, sleep, log });
  } catch (err) {
    throw new DeployError('ciGate', `CI gate cannot start: ${(err as Error).message}`, TOKEN_REMEDY);
  }
  let lastSummary = '';
  for (;;) {
    const { checkRuns, statuses } = await readCommit(api, opts, deadline);
    const verdict = judge(checkRuns, statuses, required, opts.ownRunId);

    if (verdict.failed.length > 0) {
      throw new DeployError(
        'ciGate',
        `CI failed for ${where} (${opts.sha}):\n` + verdict.failed.map((c) => `  ✗ ${describe(c)}`).join('\n'),
        'fix the failing checks or re-run them, then deploy again; skip-ci-check deploys anyway and is recorded in the history',
      );
    }
    if (verdict.passed) {
      const checks = verdict.relevant.map(({ ownRun: _own, ...c }) => c);
      log(`CI passed for ${where}: ${checks.map((c) => `${c.name} (${c.conclusion ?? c.state})`).join(', ')}`);
      return { checks, waitedMs: now() - start, requests: api.requestCount };
    }

    const left = deadline - now();
    if (left <= 0) throw timedOut(verdict, required, opts, where);
    const summary = progress(verdict, required);
    if (summary !== lastSummary) {
      log(`CI for ${where}: ${summary}; checking every ${fmt(opts.pollIntervalMs)}, giving up in ${fmt(left)}`);
      lastSummary = summary;
    }
    await sleep(Math.min(opts.pollIntervalMs, left));
  }
}

/**
 * Pure decision over one snapshot of the commit. Exported so the rules can be read and tested apart from
 * the polling.
 */
export function judge(checkRuns: RawCheckRun[], statuses: RawStatus[], required: string[], ownRunId?: string): Verdict {
  const seen: Judged[] = [...latestCheckRuns(checkRuns, ownRunId), ...latestStatuses(statuses, ownRunId)];
  let relevant: Judged[];
  const missing: string[] = [];
  if (required.length === 0) {
    relevant = seen.filter((c) => !c.ownRun);
  } else {
    // Named checks count wherever they ran, this workflow run included: a job this deploy job `needs:`
    // has already finished, and naming it is how single-workflow repos gate on their tests.
    relevant = [];
    for (const name of required) {
      const matches = seen.filter((c) => c.name.toLowerCase() === name.toLowerCase());
      if (matches.length === 0) missing.push(name);
      relevant.push(...matches);
    }
  }
  const failed = relevant.filter((c) => c.state === 'failure');
  const pending = relevant.filter((c) => c.state === 'pending');
  const passed = relevant.length > 0 && missing.length === 0 && failed.length === 0 && pending.length === 0;
  return { relevant, failed, pending, missing, seen, passed };
}

function latestCheckRuns(runs: RawCheckRun[], ownRunId?: string): Judged[] {
  const latest = new Map<string, RawCheckRun>();
  for (const run of runs) {
    const prev = latest.get(run.name);
    if (!prev || newerRun(run, prev)) latest.set(run.name, run);
  }
  return [...latest.values()].map((run) => {
    const url = run.html_url ?? run.details_url ?? undefined;
    const ownRun = !!ownRunId && [run.html_url, run.details_url].some((u) => pointsIntoRun(u, ownRunId));
    let state: CheckOutcome['state'];
    if (run.status !== 'completed') state = 'pending';
    else if (run.conclusion === 'success') state = 'success';
    else if (run.conclusion === 'neutral') state = 'neutral';
    else if (run.conclusion === 'skipped') state = 'skipped';
    // failure, cancelled, timed_out, action_required, startup_failure, stale — and anything new: fail closed
    else state = 'failure';
    const conclusion = run.status === 'completed' ? (run.conclusion ?? 'none') : run.status;
    return {
      name: clean(run.name),
      source: 'check-run' as const,
      state,
      conclusion,
      ...(url ? { url: clean(url) } : {}),
      ownRun,
    };
  });
}

/** A later attempt has a later start; a queued re-run has no start yet and is the newest of all. */
function newerRun(a: RawCheckRun, b: RawCheckRun): boolean {
  const ta = a.started_at ? Date.parse(a.started_at) : Infinity;
  const tb = b.started_at ? Date.parse(b.started_at) : Infinity;
  if (ta !== tb) return ta > tb;
  return a.id > b.id;
}

function latestStatuses(statuses: RawStatus[], ownRunId?: string): Judged[] {
  const latest = new Map<string, RawStatus>();
  for (const s of statuses) {
    const prev = latest.get(s.context);
    if (!prev) {
      latest.set(s.context, s);
      continue;
    }
    const ta = s.created_at ? Date.parse(s.created_at) : 0;
    const tb = prev.created_at ? Date.parse(prev.created_at) : 0;
    if (ta > tb || (ta === tb && s.id > prev.id)) latest.set(s.context, s);
  }
  return [...latest.values()].map((s) => {
    const state: CheckOutcome['state'] =
      s.state === 'success' ? 'success' : s.state === 'pending' ? 'pending' : 'failure'; // failure, error, unknown
    const url = s.target_url ?? undefined;
    return {
      name: clean(s.context),
      source: 'status' as const,
      state,
      conclusion: s.state,
      ...(url ? { url: clean(url) } : {}),
      ownRun: !!ownRunId && pointsIntoRun(s.target_url, ownRunId),
    };
  });
}

function pointsIntoRun(url: string | null | undefined, runId: string): boolean {
  if (!url) return false;
  return new RegExp(`/actions/runs/${runId}(?:[/?#]|$)`).test(url);
}

async function readCommit(
  api: GitHubApi,
  opts: CiGateOptions,
  deadline: number,
): Promise<{ checkRuns: RawCheckRun[]; statuses: RawStatus[] }> {
  const base = `repos/${encodeURIComponent(opts.owner)}/${encodeURIComponent(opts.repo)}/commits/${opts.sha}`;
  try {
    // GitHub's default filter=latest already drops superseded attempts within one check suite; re-runs
    // that landed in another suite are resolved by judge()
    const runs = await api.paginate(
      `${base}/check-runs`,
      {},
      deadline,
      (data) => parse(CheckRunsPageSchema, data, 'check runs').check_runs,
    );
    if (runs.refused) throw refused(runs.refused, 'check runs', opts);
    const statuses = await api.paginate(`${base}/statuses`, {}, deadline, (data) =>
      parse(StatusesPageSchema, data, 'commit statuses'),
    );
    if (statuses.refused) throw refused(statuses.refused, 'commit statuses', opts);
    return { checkRuns: runs.items, statuses: statuses.items };
  } catch (err) {
    if (!(err instanceof GitHubApiError)) throw err;
    if (err.reason === 'rate-limit') {
      throw new DeployError(
        'ciGate',
        `CI gate stopped by the GitHub API rate limit: ${err.message}`,
        'wait for the rate limit to reset, raise ci-timeout, or use a token with its own quota',
      );
    }
    if (err.reason === 'deadline') {
      throw new DeployError(
        'ciGate',
        `CI gate ran out of time while reading ${opts.owner}/${opts.repo}: ${err.message}`,
        'raise ci-timeout',
      );
    }
    throw new DeployError(
      'ciGate',
      `CI gate could not read checks for ${opts.owner}/${opts.repo}@${opts.sha.slice(0, 7)}: ${err.message}`,
      'GitHub may be having trouble (https://www.githubstatus.com); deploy again later',
    );
  }
}

function parse<T>(schema: z.ZodType<T>, data: unknown, what: string): T {
  const r = schema.safeParse(data);
  if (!r.success)
    throw new GitHubApiError(`unexpected ${what} response shape: ${r.error.issues[0]?.message ?? ''}`, 'protocol');
  return r.data;
}

const TOKEN_REMEDY =
  'pass github-token (the default ${{ github.token }} works) and give the job `permissions: { checks: read, statuses: read }`';

function refused(res: ApiResponse, what: string, opts: CiGateOptions): DeployError {
  const msg = messageOf(res.data);
  const detail = `HTTP ${res.status}${msg ? ` ${msg}` : ''}`;
  switch (res.status) {
    case 401:
      return new DeployError('ciGate', `GitHub rejected the token while reading ${what} (${detail})`, TOKEN_REMEDY);
    case 403:
      return new DeployError(
        'ciGate',
        `the token may not read ${what} of ${opts.owner}/${opts.repo} (${detail})`,
        TOKEN_REMEDY,
      );
    case 404:
      return new DeployError(
        'ciGate',
        `${opts.owner}/${opts.repo} not found, or the token cannot see it (${detail})`,
        TOKEN_REMEDY,
      );
    case 422:
      return new DeployError(
        'ciGate',
        `GitHub does not know commit ${opts.sha} in ${opts.owner}/${opts.repo} (${detail})`,
        'push the commit first, or check the version you asked to deploy',
      );
    default:
      return new DeployError('ciGate', `reading ${what} failed: ${detail}`);
  }
}

function timedOut(v: Verdict, required: string[], opts: CiGateOptions, where: string): DeployError {
  const waited = fmt(opts.deadlineMs);
  const foreign = v.seen.filter((c) => !c.ownRun);
  const own = v.seen.filter((c) => c.ownRun);
  const seenLine =
    v.seen.length === 0
      ? 'nothing at all'
      : [
          foreign.map((c) => `${c.name} (${c.conclusion ?? c.state})`).join(', '),
          own.length ? `ignored as this workflow run: ${own.map((c) => c.name).join(', ')}` : '',
        ]
          .filter(Boolean)
          .join('; ');
  if (required.length === 0 && v.relevant.length === 0) {
    return new DeployError(
      'ciGate',
      `nothing reported CI for this commit (${where}) within ${waited}: no check run or commit status ` +
        `other than this workflow run's own. Seen: ${seenLine}`,
      'make CI run on this commit (is the workflow triggered for this branch?), name the checks in ' +
        'required-checks, or set skip-ci-check to deploy without CI',
    );
  }
  const lines: string[] = [];
  for (const c of v.pending) lines.push(`  … ${describe(c)}`);
  for (const name of v.missing) lines.push(`  ? ${name}: required but never reported`);
  return new DeployError(
    'ciGate',
    `CI did not finish for ${where} within ${waited}:\n${lines.join('\n')}\n  seen on this commit: ${seenLine}`,
    v.missing.length
      ? 'check the names in required-checks against the checks listed as seen (names must match exactly, case aside), or raise ci-timeout'
      : 'raise ci-timeout, or wait for CI and deploy again',
  );
}

function progress(v: Verdict, required: string[]): string {
  if (required.length === 0 && v.relevant.length === 0) return 'nothing reported yet';
  const done = v.relevant.length - v.pending.length;
  const parts = [`${done}/${v.relevant.length} finished`];
  if (v.pending.length) parts.push(`waiting for ${v.pending.map((c) => `${c.name} (${c.conclusion})`).join(', ')}`);
  if (v.missing.length) parts.push(`not reported yet: ${v.missing.join(', ')}`);
  return parts.join('; ');
}

function describe(c: CheckOutcome): string {
  const kind = c.source === 'check-run' ? 'check run' : 'status';
  return `${c.name} (${kind}: ${c.conclusion ?? c.state})${c.url ? ` ${c.url}` : ''}`;
}

/** Remote text goes into log lines: no newlines (a line starting "::" would be a workflow command). */
function clean(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').slice(0, 300);
}

function fmt(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return s % 60 ? `${m}m${s % 60}s` : `${m}m`;
}

function validate(opts: CiGateOptions): void {
  const problems: string[] = [];
  if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/i.test(opts.sha))
    problems.push(`sha must be a full commit SHA, got "${opts.sha}"`);
  if (!/^[A-Za-z0-9_.-]+$/.test(opts.owner) || !/^[A-Za-z0-9_.-]+$/.test(opts.repo)) {
    problems.push(`repository must be owner/repo, got "${opts.owner}/${opts.repo}"`);
  }
  if (!opts.token) problems.push('no GitHub token');
  if (!(opts.deadlineMs >= 0)) problems.push('deadline must be ≥ 0');
  if (!(opts.pollIntervalMs > 0)) problems.push('poll interval must be > 0');
  if (opts.ownRunId !== undefined && !/^\d+$/.test(opts.ownRunId))
    problems.push(`run id must be digits, got "${opts.ownRunId}"`);
  if (problems.length) {
    throw new DeployError(
      'ciGate',
      `CI gate misconfigured: ${problems.join('; ')}`,
      opts.token ? undefined : TOKEN_REMEDY,
    );
  }
}
