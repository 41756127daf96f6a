/**
 * A loopback stand-in for the parts of the GitHub REST API this project uses: check runs and commit
 * statuses of a commit, deployments and deployment statuses. It answers with the real response shapes,
 * Link-header pagination and rate-limit headers, lets a test script what a commit looks like over time
 * (pending, then green) and inject faults (rate limits, 5xx, dropped connections), and records every request.
 *
 * Msw/nock cannot intercept @actions/github (it ships its own undici fetch), hence a real socket on
 * 127.0.0.1:0 reached through `baseUrl`.
 */
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeCheckRun {
  id: number;
  node_id: string;
  head_sha: string;
  external_id: string;
  url: string;
  html_url: string | null;
  details_url: string | null;
  status: 'queued' | 'in_progress' | 'completed' | 'waiting' | 'requested' | 'pending';
  conclusion:
    | 'success'
    | 'failure'
    | 'neutral'
    | 'cancelled'
    | 'skipped'
    | 'timed_out'
    | 'action_required'
    | 'startup_failure'
    | 'stale'
    | null;
  started_at: string | null;
  completed_at: string | null;
  name: string;
  check_suite: { id: number };
  app: { id: number; slug: string; name: string };
  output: {
    title: string | null;
    summary: string | null;
    text: string | null;
    annotations_count: number;
    annotations_url: string;
  };
  pull_requests: unknown[];
}

export interface FakeStatus {
  id: number;
  node_id: string;
  url: string;
  avatar_url: string;
  state: 'error' | 'failure' | 'pending' | 'success';
  description: string | null;
  target_url: string | null;
  context: string;
  created_at: string;
  updated_at: string;
  creator: { login: string; id: number; type: string };
}

export interface FakeDeployment {
  id: number;
  node_id: string;
  url: string;
  sha: string;
  ref: string;
  task: string;
  payload: unknown;
  original_environment: string;
  environment: string;
  description: string | null;
  creator: { login: string; id: number; type: string };
  created_at: string;
  updated_at: string;
  statuses_url: string;
  repository_url: string;
  transient_environment: boolean;
  production_environment: boolean;
}

export interface FakeDeploymentStatus {
  id: number;
  node_id: string;
  url: string;
  state: string;
  creator: { login: string; id: number; type: string };
  description: string;
  environment: string;
  target_url: string;
  log_url: string;
  environment_url: string;
  created_at: string;
  updated_at: string;
  deployment_url: string;
  repository_url: string;
}

export interface FakeResponse {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
  /** close the socket without answering (a network error for the client) */
  destroy?: boolean;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  body?: unknown;
  /** the fake's clock when the request arrived */
  at: number;
  status?: number;
}

interface Match {
  method?: string;
  path?: RegExp | string;
}

interface CommitState {
  checkRuns: FakeCheckRun[];
  statuses: FakeStatus[];
}

const DOCS = 'https://docs.github.com/rest';

/** Canned answers with the headers and bodies GitHub sends. */
export const responses = {
  /** primary quota exhausted: 403 (or 429) with x-ratelimit-remaining 0 and the reset time */
  primaryRateLimit(resetEpochSeconds: number, status: 403 | 429 = 403): FakeResponse {
    return {
      status,
      headers: {
        'x-ratelimit-limit': '1000',
        'x-ratelimit-remaining': '0',
        'x-ratelimit-used': '1000',
        'x-ratelimit-reset': String(resetEpochSeconds),
        'x-ratelimit-resource': 'core',
      },
      body: {
        message: 'API rate limit exceeded for installation ID 4242.',
        documentation_url: `${DOCS}/overview/rate-limits-for-the-rest-api#about-primary-rate-limits`,
        status: String(status),
      },
    };
  },
  /** secondary (burst) limit: 403 or 429, retry-after when GitHub gives one, quota headers not at 0 */
  secondaryRateLimit(opts: { retryAfterSeconds?: number; status?: 403 | 429 } = {}): FakeResponse {
    const status = opts.status ?? 403;
    return {
      status,
      headers: {
        'x-ratelimit-limit': '1000',
        'x-ratelimit-remaining': '917',
        'x-ratelimit-used': '83',
        'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 3600),
        'x-ratelimit-resource': 'core',
        ...(opts.retryAfterSeconds !== undefined ? { 'retry-after': String(opts.retryAfterSeconds) } : {}),
      },
      body: {
        message:
          'You have exceeded a secondary rate limit. Please wait a few minutes before you try again. ' +
          'If you reach out to GitHub Support for help, please include the request ID 0000:1111:2222:3333.',
        documentation_url: `${DOCS}/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits`,
        status: String(status),
      },
    };
  },
  serverError(status = 502): FakeResponse {
    return status === 502
      ? { status, headers: { 'content-type': 'text/html' }, body: '<html><body><h1>502 Bad Gateway</h1></body></html>' }
      : { status, body: { message: 'Server Error', status: String(status) } };
  },
  /** what a GITHUB_TOKEN without the needed permission gets */
  forbidden(): FakeResponse {
    return {
      status: 403,
      body: { message: 'Resource not accessible by integration', documentation_url: DOCS, status: '403' },
    };
  },
  notFound(): FakeResponse {
    return { status: 404, body: { message: 'Not Found', documentation_url: DOCS, status: '404' } };
  },
  dropConnection(): FakeResponse {
    return { status: 0, destroy: true };
  },
};

export interface FakeGitHubOptions {
  /** when set, requests must carry `token <t>` or `Bearer <t>` */
  token?: string;
  owner?: string;
  repo?: string;
  /** the fake's clock (share a test's fake clock to script time); default Date.now */
  now?: () => number;
  serverUrl?: string;
}

export class FakeGitHubApi {
  readonly requests: RecordedRequest[] = [];
  readonly deployments: FakeDeployment[] = [];
  readonly deploymentStatuses = new Map<number, FakeDeploymentStatus[]>();
  /** deployments endpoints answer this instead (403/404 when the token lacks `deployments: write`) */
  deploymentsDenied?: { status: 403 | 404; methods?: string[] };
  readonly owner: string;
  readonly repo: string;
  readonly serverUrl: string;
  url = '';

  private server: Server | undefined;
  private readonly now: () => number;
  private readonly t0: number;
  private readonly token: string | undefined;
  private nextId = 1000;
  private readonly timelines = new Map<string, { at: number; state: CommitState }[]>();
  private readonly injected: { match: Match; response: FakeResponse }[] = [];
  private quota = { limit: 5000, remaining: 5000, reset: 0 };

  private constructor(opts: FakeGitHubOptions) {
    this.owner = opts.owner ?? 'togather';
    this.repo = opts.repo ?? 'server';
    this.now = opts.now ?? Date.now;
    this.t0 = this.now();
    this.token = opts.token;
    this.serverUrl = opts.serverUrl ?? 'https://github.com';
    this.quota.reset = Math.floor(this.t0 / 1000) + 3600;
  }

  static async start(opts: FakeGitHubOptions = {}): Promise<FakeGitHubApi> {
    const fake = new FakeGitHubApi(opts);
    const server = createServer((req, res) => {
      fake.handle(req, res).catch((err: unknown) => {
        res.statusCode = 500;
        res.end(JSON.stringify({ message: `fake crashed: ${String(err)}` }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    fake.server = server;
    fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return fake;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  // ---- scripting -------------------------------------------------------------------------------------

  /** What the commit shows from `atMs` (relative to the fake's start, on its clock) onwards. */
  setCommit(sha: string, state: { checkRuns?: FakeCheckRun[]; statuses?: FakeStatus[] }, atMs = 0): void {
    const timeline = this.timelines.get(sha) ?? [];
    timeline.push({ at: atMs, state: { checkRuns: state.checkRuns ?? [], statuses: state.statuses ?? [] } });
    timeline.sort((a, b) => a.at - b.at);
    this.timelines.set(sha, timeline);
  }

  /** The next request(s) matching get these answers, in order, instead of the normal ones. */
  inject(match: Match, answers: FakeResponse | FakeResponse[]): void {
    for (const response of Array.isArray(answers) ? answers : [answers]) this.injected.push({ match, response });
  }

  /** Primary quota: when `remaining` hits 0, requests get the real 403 until `resetEpochSeconds` passes. */
  setQuota(remaining: number, resetEpochSeconds: number, limit = 1000): void {
    this.quota = { limit, remaining, reset: resetEpochSeconds };
  }

  /** A check run as the API returns it; `runId` makes it a GitHub Actions job of that workflow run. */
  checkRun(spec: {
    name: string;
    sha?: string;
    status?: FakeCheckRun['status'];
    conclusion?: FakeCheckRun['conclusion'];
    startedAt?: string | null;
    completedAt?: string | null;
    runId?: number;
    suiteId?: number;
    app?: string;
    url?: string | null;
    id?: number;
  }): FakeCheckRun {
    const id = spec.id ?? this.nextId++;
    const status =
      spec.status ??
      (spec.conclusion === undefined ? 'completed' : spec.conclusion === null ? 'in_progress' : 'completed');
    const conclusion = status === 'completed' ? (spec.conclusion ?? 'success') : null;
    const app = spec.app ?? 'github-actions';
    const runId = spec.runId ?? 9_000_000 + id;
    const html =
      spec.url !== undefined
        ? spec.url
        : app === 'github-actions'
          ? `${this.serverUrl}/${this.owner}/${this.repo}/actions/runs/${runId}/job/${id}`
          : `${this.serverUrl}/${this.owner}/${this.repo}/runs/${id}`;
    const started = spec.startedAt !== undefined ? spec.startedAt : new Date(this.t0 - 600_000 + id).toISOString();
    return {
      id,
      node_id: `CR_${id}`,
      head_sha: spec.sha ?? '0'.repeat(40),
      external_id: String(id),
      url: `${this.url}/repos/${this.owner}/${this.repo}/check-runs/${id}`,
      html_url: html,
      details_url: html,
      status,
      conclusion,
      started_at: started,
      completed_at:
        spec.completedAt !== undefined
          ? spec.completedAt
          : status === 'completed'
            ? new Date(this.t0 - 60_000 + id).toISOString()
            : null,
      name: spec.name,
      check_suite: { id: spec.suiteId ?? 5_000_000 + runId },
      app: {
        id: app === 'github-actions' ? 15368 : 777,
        slug: app,
        name: app === 'github-actions' ? 'GitHub Actions' : app,
      },
      output: {
        title: null,
        summary: null,
        text: null,
        annotations_count: 0,
        annotations_url: `${this.url}/annotations/${id}`,
      },
      pull_requests: [],
    };
  }

  status(spec: {
    context: string;
    state: FakeStatus['state'];
    targetUrl?: string | null;
    description?: string | null;
    createdAt?: string;
    id?: number;
  }): FakeStatus {
    const id = spec.id ?? this.nextId++;
    const created = spec.createdAt ?? new Date(this.t0 - 600_000 + id * 1000).toISOString();
    return {
      id,
      node_id: `SC_${id}`,
      url: `${this.url}/repos/${this.owner}/${this.repo}/statuses/${'0'.repeat(40)}`,
      avatar_url: 'https://avatars.githubusercontent.com/u/0',
      state: spec.state,
      description: spec.description ?? null,
      target_url: spec.targetUrl === undefined ? `https://ci.example.com/build/${id}` : spec.targetUrl,
      context: spec.context,
      created_at: created,
      updated_at: created,
      creator: { login: 'ci-bot', id: 1, type: 'Bot' },
    };
  }

  /** A deployment that already exists (e.g. the one Actions creates for a job with `environment:`). */
  addDeployment(spec: {
    sha: string;
    environment: string;
    ref?: string;
    createdAt?: string;
    creator?: string;
  }): FakeDeployment {
    const id = this.nextId++;
    const created = spec.createdAt ?? new Date(this.now()).toISOString();
    const d: FakeDeployment = {
      id,
      node_id: `DE_${id}`,
      url: `${this.url}/repos/${this.owner}/${this.repo}/deployments/${id}`,
      sha: spec.sha,
      ref: spec.ref ?? 'main',
      task: 'deploy',
      payload: {},
      original_environment: spec.environment,
      environment: spec.environment,
      description: null,
      creator: { login: spec.creator ?? 'github-actions[bot]', id: 41898282, type: 'Bot' },
      created_at: created,
      updated_at: created,
      statuses_url: `${this.url}/repos/${this.owner}/${this.repo}/deployments/${id}/statuses`,
      repository_url: `${this.url}/repos/${this.owner}/${this.repo}`,
      transient_environment: false,
      production_environment: spec.environment === 'production',
    };
    this.deployments.push(d);
    return d;
  }

  requestsTo(pathPart: string | RegExp): RecordedRequest[] {
    return this.requests.filter((r) =>
      typeof pathPart === 'string' ? r.path.includes(pathPart) : pathPart.test(r.path),
    );
  }

  // ---- serving ---------------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const raw = await readBody(req);
    let body: unknown = undefined;
    if (raw) {
      try {
        body = JSON.parse(raw);
      } catch {
        body = raw;
      }
    }
    const rec: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      ...(body !== undefined ? { body } : {}),
      at: this.now(),
    };
    this.requests.push(rec);
    const answer = this.answer(rec, url);
    rec.status = answer.status;
    if (answer.destroy) {
      req.socket.destroy();
      return;
    }
    const headers: Record<string, string> = {
      'content-type': 'application/json; charset=utf-8',
      'x-github-media-type': 'github.v3; format=json',
      'x-github-api-version-selected': '2022-11-28',
      'x-github-request-id': `FAKE:${this.requests.length}`,
      ...this.quotaHeaders(),
      ...answer.headers,
    };
    res.writeHead(answer.status, headers);
    res.end(
      answer.body === undefined ? '' : typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body),
    );
  }

  private answer(rec: RecordedRequest, url: URL): FakeResponse {
    const i = this.injected.findIndex(({ match }) => matches(match, rec));
    if (i >= 0) return this.injected.splice(i, 1)[0]!.response;

    if (this.token !== undefined) {
      const auth = String(rec.headers.authorization ?? '');
      if (auth !== `token ${this.token}` && auth !== `Bearer ${this.token}`) {
        return { status: 401, body: { message: 'Bad credentials', documentation_url: DOCS, status: '401' } };
      }
    }
    // quota: reset passes on the fake's clock
    if (this.now() >= this.quota.reset * 1000)
      this.quota = { ...this.quota, remaining: this.quota.limit, reset: this.quota.reset + 3600 };
    if (this.quota.remaining <= 0) return responses.primaryRateLimit(this.quota.reset);
    this.quota.remaining--;

    const prefix = `/repos/${this.owner}/${this.repo}/`;
    if (!rec.path.startsWith(prefix)) return responses.notFound();
    const rest = rec.path.slice(prefix.length);
    let m: RegExpExecArray | null;

    if (rec.method === 'GET' && (m = /^commits\/([^/]+)\/check-runs$/.exec(rest)))
      return this.listCheckRuns(m[1]!, rec, url);
    if (rec.method === 'GET' && (m = /^commits\/([^/]+)\/statuses$/.exec(rest)))
      return this.listStatuses(m[1]!, rec, url);
    if (/^deployments(\/|$)/.test(rest)) {
      const denied = this.deploymentsDenied;
      if (denied && (!denied.methods || denied.methods.includes(rec.method))) {
        return denied.status === 403 ? responses.forbidden() : responses.notFound();
      }
      if (rest === 'deployments' && rec.method === 'GET') return this.listDeployments(rec, url);
      if (rest === 'deployments' && rec.method === 'POST') return this.createDeployment(rec);
      if ((m = /^deployments\/(\d+)\/statuses$/.exec(rest))) {
        return rec.method === 'POST'
          ? this.createDeploymentStatus(Number(m[1]), rec)
          : this.listDeploymentStatuses(Number(m[1]), rec, url);
      }
    }
    return responses.notFound();
  }

  private commitAt(sha: string): CommitState | undefined {
    const timeline = this.timelines.get(sha);
    if (!timeline) return undefined;
    const elapsed = this.now() - this.t0;
    let state: CommitState | undefined;
    for (const entry of timeline) if (entry.at <= elapsed) state = entry.state;
    return state ?? { checkRuns: [], statuses: [] };
  }

  private listCheckRuns(sha: string, rec: RecordedRequest, url: URL): FakeResponse {
    const commit = this.commitAt(sha);
    if (!commit) return unprocessable(`No commit found for SHA: ${sha}`);
    let runs = commit.checkRuns.map((r) => ({ ...r, head_sha: sha }));
    // filter=latest (the default) keeps the newest run per name within a check suite
    if ((rec.query.filter ?? 'latest') === 'latest') {
      const newest = new Map<string, FakeCheckRun>();
      for (const r of runs) {
        const key = `${r.check_suite.id}\u0000${r.name}`;
        const prev = newest.get(key);
        if (!prev || r.id > prev.id) newest.set(key, r);
      }
      runs = [...newest.values()];
    }
    if (rec.query.check_name) runs = runs.filter((r) => r.name === rec.query.check_name);
    if (rec.query.status) runs = runs.filter((r) => r.status === rec.query.status);
    runs.sort((a, b) => b.id - a.id);
    const page = paginate(runs, url, this.url);
    if ('error' in page) return page.error;
    return { status: 200, headers: page.headers, body: { total_count: runs.length, check_runs: page.items } };
  }

  private listStatuses(sha: string, _rec: RecordedRequest, url: URL): FakeResponse {
    const commit = this.commitAt(sha);
    const statuses = [...(commit?.statuses ?? [])].sort((a, b) => b.id - a.id); // newest first
    const page = paginate(statuses, url, this.url);
    if ('error' in page) return page.error;
    return { status: 200, headers: page.headers, body: page.items };
  }

  private listDeployments(rec: RecordedRequest, url: URL): FakeResponse {
    const q = rec.query;
    const list = this.deployments
      .filter((d) => (!q.sha || d.sha === q.sha) && (!q.ref || d.ref === q.ref) && (!q.task || d.task === q.task))
      .filter((d) => !q.environment || d.environment === q.environment)
      .sort((a, b) => b.id - a.id);
    const page = paginate(list, url, this.url);
    if ('error' in page) return page.error;
    return { status: 200, headers: page.headers, body: page.items };
  }

  private createDeployment(rec: RecordedRequest): FakeResponse {
    const b = (rec.body ?? {}) as Record<string, unknown>;
    if (typeof b.ref !== 'string' || !b.ref) return unprocessable('Invalid request.\n\n"ref" wasn\'t supplied.');
    // the API checks commit statuses unless required_contexts is an empty list
    const contexts = b.required_contexts;
    if (!(Array.isArray(contexts) && contexts.length === 0)) {
      const state = this.commitAt(b.ref) ?? { checkRuns: [], statuses: [] };
      if (state.statuses.some((s) => s.state !== 'success') || state.statuses.length === 0) {
        return {
          status: 409,
          body: {
            message: `Conflict: Commit status checks failed for ${b.ref}.`,
            documentation_url: DOCS,
            status: '409',
          },
        };
      }
    }
    const d = this.addDeployment({
      sha: typeof b.sha === 'string' ? b.sha : /^[0-9a-f]{40}$/.test(b.ref) ? b.ref : '0'.repeat(40),
      ref: b.ref,
      environment: typeof b.environment === 'string' ? b.environment : 'production',
      creator: 'togather-deploy',
    });
    if (typeof b.description === 'string') d.description = b.description;
    if (typeof b.task === 'string') d.task = b.task;
    if (typeof b.transient_environment === 'boolean') d.transient_environment = b.transient_environment;
    if (typeof b.production_environment === 'boolean') d.production_environment = b.production_environment;
    return { status: 201, body: d };
  }

  private createDeploymentStatus(id: number, rec: RecordedRequest): FakeResponse {
    const d = this.deployments.find((x) => x.id === id);
    if (!d) return responses.notFound();
    const b = (rec.body ?? {}) as Record<string, unknown>;
    const states = ['error', 'failure', 'inactive', 'in_progress', 'queued', 'pending', 'success'];
    if (typeof b.state !== 'string' || !states.includes(b.state))
      return unprocessable('Validation Failed: state is not included in the list');
    if (typeof b.description === 'string' && b.description.length > 140) {
      return unprocessable('Validation Failed: description is too long (maximum is 140 characters)');
    }
    for (const key of ['environment_url', 'log_url', 'target_url']) {
      const v = b[key];
      if (v !== undefined && v !== '' && (typeof v !== 'string' || !/^https?:\/\//.test(v))) {
        return unprocessable(`Validation Failed: ${key} is not a valid URL`);
      }
    }
    const sid = this.nextId++;
    const at = new Date(this.now()).toISOString();
    const s: FakeDeploymentStatus = {
      id: sid,
      node_id: `DES_${sid}`,
      url: `${d.url}/statuses/${sid}`,
      state: b.state,
      creator: { login: 'github-actions[bot]', id: 41898282, type: 'Bot' },
      description: typeof b.description === 'string' ? b.description : '',
      environment: typeof b.environment === 'string' ? b.environment : d.environment,
      target_url: typeof b.log_url === 'string' ? b.log_url : typeof b.target_url === 'string' ? b.target_url : '',
      log_url: typeof b.log_url === 'string' ? b.log_url : typeof b.target_url === 'string' ? b.target_url : '',
      environment_url: typeof b.environment_url === 'string' ? b.environment_url : '',
      created_at: at,
      updated_at: at,
      deployment_url: d.url,
      repository_url: d.repository_url,
    };
    const list = this.deploymentStatuses.get(id) ?? [];
    list.push(s);
    this.deploymentStatuses.set(id, list);
    return { status: 201, body: s };
  }

  private listDeploymentStatuses(id: number, _rec: RecordedRequest, url: URL): FakeResponse {
    if (!this.deployments.some((d) => d.id === id)) return responses.notFound();
    const list = [...(this.deploymentStatuses.get(id) ?? [])].reverse();
    const page = paginate(list, url, this.url);
    if ('error' in page) return page.error;
    return { status: 200, headers: page.headers, body: page.items };
  }

  private quotaHeaders(): Record<string, string> {
    return {
      'x-ratelimit-limit': String(this.quota.limit),
      'x-ratelimit-remaining': String(Math.max(0, this.quota.remaining)),
      'x-ratelimit-used': String(this.quota.limit - Math.max(0, this.quota.remaining)),
      'x-ratelimit-reset': String(this.quota.reset),
      'x-ratelimit-resource': 'core',
    };
  }
}

/** GitHub's page/per_page rules (default 30, max 100) and its Link header. */
function paginate<T>(
  all: T[],
  url: URL,
  base: string,
): { items: T[]; headers: Record<string, string> } | { error: FakeResponse } {
  const perPageRaw = url.searchParams.get('per_page');
  const pageRaw = url.searchParams.get('page');
  const perPage = Math.min(100, Math.max(1, perPageRaw ? Number(perPageRaw) || 30 : 30));
  const page = Math.max(1, pageRaw ? Number(pageRaw) || 1 : 1);
  const last = Math.max(1, Math.ceil(all.length / perPage));
  const items = all.slice((page - 1) * perPage, page * perPage);
  const link = (p: number, rel: string): string => {
    const u = new URL(url.pathname + url.search, base);
    u.searchParams.set('per_page', String(perPage));
    u.searchParams.set('page', String(p));
    return `<${u.href}>; rel="${rel}"`;
  };
  const parts: string[] = [];
  if (page > 1) parts.push(link(page - 1, 'prev'));
  if (page < last) parts.push(link(page + 1, 'next'), link(last, 'last'));
  if (page > 1) parts.push(link(1, 'first'));
  return { items, headers: parts.length ? { link: parts.join(', ') } : {} };
}

function unprocessable(message: string): FakeResponse {
  return { status: 422, body: { message, documentation_url: DOCS, status: '422' } };
}

function matches(m: Match, r: RecordedRequest): boolean {
  if (m.method && m.method !== r.method) return false;
  if (m.path === undefined) return true;
  return typeof m.path === 'string' ? r.path.includes(m.path) : m.path.test(r.path);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** A clock for tests: `sleep` advances time instantly (yielding once so sockets make progress). */
export function fakeClock(startMs = Date.UTC(2026, 0, 15, 12, 0, 0)): {
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  slept: number[];
} {
  let t = startMs;
  const slept: number[] = [];
  return {
    now: () => t,
    sleep: async (ms: number) => {
      slept.push(ms);
      t += Math.max(0, ms);
      await new Promise((r) => setImmediate(r));
    },
    slept,
  };
}
