/**
 * The one place this project talks to the GitHub REST API.
 *
 * Transport: `@actions/github`'s `getOctokit(token, { baseUrl })`, used only for its `request` primitive.
 * Why not plain `fetch`: Node's global fetch ignores HTTPS_PROXY/NO_PROXY, and self-hosted runners behind a
 * proxy are common; getOctokit wires @actions/http-client's proxy dispatcher, the auth header and the
 * runner's user agent. Why not Octokit's own pagination/retry/throttling plugins: the CI gate needs every
 * wait (rate limits, 5xx backoff, polling) charged against ONE deadline, so status codes and headers are
 * handled here, by hand, and nothing retries behind our back. Both paths were checked under Node 20 and
 * inside an ncc ESM bundle run by Node 24 (see test/unit/github-bundle.test.ts).
 *
 * The token only ever goes into the Authorization header that Octokit builds; it is never logged, and
 * pagination links are only followed on the API's own origin so it cannot be sent anywhere else.
 */
import { getOctokit } from '@actions/github';

export interface ApiResponse<T = unknown> {
  status: number;
  headers: Record<string, string>;
  data: T;
}

export type ApiFailure = 'rate-limit' | 'unavailable' | 'http' | 'deadline' | 'protocol';

export class GitHubApiError extends Error {
  constructor(
    message: string,
    readonly reason: ApiFailure,
    readonly status?: number,
    /** for rate limits: epoch ms when requests may resume */
    readonly resumeAt?: number,
  ) {
    super(message);
    this.name = 'GitHubApiError';
  }
}

export interface GitHubApiOptions {
  apiUrl: string;
  token: string;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  log?: (line: string) => void;
  /** attempts per request on 5xx / network errors (default 4) */
  maxAttempts?: number;
  /** first backoff step; doubles per attempt, capped at 8 s (default 1 s) */
  retryBaseMs?: number;
  /** per request, never beyond the caller's deadline (default 30 s) */
  requestTimeoutMs?: number;
}

export interface RequestOptions {
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  /** epoch ms (same clock as `now`): no wait may end after it, no request starts after it */
  deadline: number;
  /** retry on 5xx / network errors; only for idempotent calls (default: GET only) */
  retry?: boolean;
}

export interface RateLimitWait {
  kind: 'primary' | 'secondary';
  /** epoch ms */
  until: number;
}

const SECONDARY_DEFAULT_WAIT_MS = 60_000; // GitHub: "wait at least one minute" when it gives no header
const RESET_MARGIN_MS = 1_000; // x-ratelimit-reset has one-second resolution
const MIN_TIMEOUT_MS = 10_000; // the last poll near the deadline still gets a fair chance to answer

/** Is this response a rate-limit refusal, and until when? Undefined for any other response. */
export function rateLimitWait(
  status: number,
  headers: Record<string, string>,
  data: unknown,
  nowMs: number,
): RateLimitWait | undefined {
  if (status !== 403 && status !== 429) return undefined;
  const retryAfter = headers['retry-after'];
  if (retryAfter !== undefined) {
    const seconds = Number(retryAfter);
    if (Number.isFinite(seconds) && seconds >= 0) return { kind: 'secondary', until: nowMs + seconds * 1000 };
    const date = Date.parse(retryAfter); // the header may also be an HTTP date
    if (Number.isFinite(date)) return { kind: 'secondary', until: Math.max(nowMs, date) };
  }
  if (headers['x-ratelimit-remaining'] === '0') {
    const reset = Number(headers['x-ratelimit-reset']);
    const until =
      Number.isFinite(reset) && reset > 0 ? reset * 1000 + RESET_MARGIN_MS : nowMs + SECONDARY_DEFAULT_WAIT_MS;
    return { kind: 'primary', until: Math.max(until, nowMs) };
  }
  const message = messageOf(data);
  if (status === 429 || /secondary rate limit|abuse/i.test(message)) {
    return { kind: 'secondary', until: nowMs + SECONDARY_DEFAULT_WAIT_MS };
  }
  return undefined; // a 403 that is a permission problem
}

/** `<https://…?page=2>; rel="next", <…>; rel="last"` → the "next" URL */
export function nextLink(link: string | undefined): string | undefined {
  if (!link) return undefined;
  for (const part of link.split(',')) {
    const m = /<([^>]+)>\s*;\s*rel="?([^";]+)"?/.exec(part.trim());
    if (m && m[2]?.split(/\s+/).includes('next')) return m[1];
  }
  return undefined;
}

export function messageOf(data: unknown): string {
  if (typeof data === 'string') return data.slice(0, 300);
  if (data && typeof data === 'object' && 'message' in data && typeof data.message === 'string') {
    return data.message.slice(0, 300);
  }
  return '';
}

export class GitHubApi {
  /** HTTP requests sent, retries included */
  requestCount = 0;
  private readonly octokit: ReturnType<typeof getOctokit>;
  private readonly base: URL;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly log: (line: string) => void;
  private readonly maxAttempts: number;
  private readonly retryBaseMs: number;
  private readonly requestTimeoutMs: number;
  /** set when a successful response says the quota is spent: wait before the next request */
  private notBefore = 0;

  constructor(opts: GitHubApiOptions) {
    if (!opts.token) throw new GitHubApiError('no GitHub token was given', 'http');
    this.base = new URL(opts.apiUrl.replace(/\/+$/, '') + '/');
    if (this.base.protocol !== 'https:' && this.base.protocol !== 'http:') {
      throw new GitHubApiError(`GitHub API URL must be http(s): ${opts.apiUrl}`, 'protocol');
    }
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.log = opts.log ?? (() => {});
    this.maxAttempts = Math.max(1, opts.maxAttempts ?? 4);
    this.retryBaseMs = opts.retryBaseMs ?? 1_000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
    const quiet = () => {};
    this.octokit = getOctokit(opts.token, {
      baseUrl: this.base.href.replace(/\/$/, ''),
      userAgent: 'togather-deploy',
      // Octokit only logs deprecation notices; keep them, drop its debug chatter
      log: { debug: quiet, info: quiet, warn: (m: string) => this.log(m), error: (m: string) => this.log(m) },
    });
  }

  /** Absolute URL of an API path; refuses absolute URLs on another origin (the token would follow). */
  resolve(pathOrUrl: string, query?: RequestOptions['query']): string {
    const url = new URL(pathOrUrl.replace(/^\/+/, ''), this.base);
    if (url.origin !== this.base.origin) {
      throw new GitHubApiError(`refusing to send the token to ${url.origin} (API is ${this.base.origin})`, 'protocol');
    }
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    return url.href;
  }

  /**
   * One API call. Returns any response that is not a rate limit or a 5xx (the caller decides what a 404
   * means). Rate limits are waited out when the wait ends before the deadline; 5xx and network errors are
   * retried with backoff when `retry` allows.
   */
  async request<T = unknown>(method: string, pathOrUrl: string, opts: RequestOptions): Promise<ApiResponse<T>> {
    const url = this.resolve(pathOrUrl, opts.query);
    const label = `${method} ${new URL(url).pathname}`;
    const retry = opts.retry ?? method === 'GET';
    let attempt = 0;
    let lastProblem = '';
    for (;;) {
      await this.waitUntil(this.notBefore, opts.deadline, label, 'primary');
      // A request may still start AT the deadline (the gate's last look); only waits must end before it.
      const remaining = opts.deadline - this.now();
      if (remaining < 0) throw new GitHubApiError(`deadline passed before ${label}`, 'deadline');
      attempt++;
      this.requestCount++;
      let res: ApiResponse | undefined;
      try {
        res = await this.send(
          method,
          url,
          opts.body,
          Math.min(this.requestTimeoutMs, Math.max(remaining, MIN_TIMEOUT_MS)),
        );
      } catch (err) {
        lastProblem = `network error: ${err instanceof Error ? err.message : String(err)}`;
      }
      if (res) {
        const limited = rateLimitWait(res.status, res.headers, res.data, this.now());
        if (limited) {
          this.log(
            `GitHub ${limited.kind} rate limit on ${label}; waiting until ${new Date(limited.until).toISOString()}`,
          );
          // at least a second, so a "retry-after: 0" cannot spin
          await this.waitUntil(Math.max(limited.until, this.now() + 1_000), opts.deadline, label, limited.kind);
          attempt--; // a rate-limit wait is not a failed attempt
          continue;
        }
        if (res.status < 500) {
          if (res.status < 300 && res.headers['x-ratelimit-remaining'] === '0') {
            const reset = Number(res.headers['x-ratelimit-reset']);
            if (Number.isFinite(reset)) this.notBefore = reset * 1000 + RESET_MARGIN_MS;
          }
          return res as ApiResponse<T>;
        }
        lastProblem = `HTTP ${res.status}${messageOf(res.data) ? ` ${messageOf(res.data)}` : ''}`;
      }
      if (!retry || attempt >= this.maxAttempts) {
        throw new GitHubApiError(
          `${label} failed after ${attempt} attempt${attempt === 1 ? '' : 's'}: ${lastProblem}`,
          'unavailable',
          res?.status,
        );
      }
      const backoff = Math.min(this.retryBaseMs * 2 ** (attempt - 1), 8_000);
      if (this.now() + backoff >= opts.deadline) {
        throw new GitHubApiError(
          `${label} failed (${lastProblem}) and the deadline leaves no time to retry`,
          'unavailable',
          res?.status,
        );
      }
      this.log(`${label}: ${lastProblem}; retrying in ${Math.round(backoff / 1000)}s`);
      await this.sleep(backoff);
    }
  }

  /** Every page of a list endpoint, following Link rel="next" (at most `maxPages`). */
  async paginate<T>(
    path: string,
    query: RequestOptions['query'],
    deadline: number,
    items: (data: unknown) => T[],
    maxPages = 50,
  ): Promise<{ items: T[]; pages: number; refused?: ApiResponse }> {
    const out: T[] = [];
    let url: string | undefined = this.resolve(path, { per_page: 100, ...query });
    let pages = 0;
    while (url) {
      if (pages >= maxPages) {
        throw new GitHubApiError(`${path} has more than ${maxPages} pages; refusing to read further`, 'protocol');
      }
      const res: ApiResponse = await this.request('GET', url, { deadline });
      pages++;
      if (res.status !== 200) return { items: out, pages, refused: res };
      out.push(...items(res.data));
      url = nextLink(res.headers['link']);
    }
    return { items: out, pages };
  }

  private async waitUntil(
    until: number,
    deadline: number,
    label: string,
    kind: 'primary' | 'secondary',
  ): Promise<void> {
    const wait = until - this.now();
    if (wait <= 0) return;
    if (until > deadline) {
      throw new GitHubApiError(
        `GitHub API ${kind} rate limit: ${label} may resume at ${new Date(until).toISOString()}, after the deadline ` +
          `(${new Date(deadline).toISOString()})`,
        'rate-limit',
        undefined,
        until,
      );
    }
    await this.sleep(wait);
  }

  private async send(method: string, url: string, body: unknown, timeoutMs: number): Promise<ApiResponse> {
    try {
      const res = await this.octokit.request({
        method: method as 'GET',
        url,
        headers: { accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28' },
        ...(body === undefined ? {} : { data: body }),
        request: { signal: AbortSignal.timeout(timeoutMs) },
      });
      return { status: res.status, headers: lowerKeys(res.headers), data: res.data };
    } catch (err) {
      // Octokit throws for every status ≥ 400; keep those as responses, rethrow transport failures
      const response = (err as { response?: { status: number; headers: Record<string, unknown>; data: unknown } })
        .response;
      if (response && typeof response.status === 'number') {
        return { status: response.status, headers: lowerKeys(response.headers), data: response.data };
      }
      throw err;
    }
  }
}

function lowerKeys(h: Record<string, unknown> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h ?? {})) if (v !== undefined && v !== null) out[k.toLowerCase()] = String(v);
  return out;
}
