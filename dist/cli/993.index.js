export const id = 993;
export const ids = [993];
export const modules = {

/***/ 7993:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {


// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  makeCiGate: () => (/* binding */ makeCiGate)
});

// UNUSED EXPORTS: DEFAULT_CI_POLL_MS, DEFAULT_CI_TIMEOUT_MS, parseRequiredChecks

// EXTERNAL MODULE: ./src/config/duration.ts
var duration = __webpack_require__(7840);
// EXTERNAL MODULE: ./src/errors.ts
var errors = __webpack_require__(3916);
// EXTERNAL MODULE: ./node_modules/zod/v4/classic/schemas.js + 15 modules
var schemas = __webpack_require__(9691);
// EXTERNAL MODULE: ./node_modules/@actions/github/lib/github.js + 22 modules
var github = __webpack_require__(2413);
;// CONCATENATED MODULE: ./src/github/api.ts
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

class GitHubApiError extends Error {
    reason;
    status;
    resumeAt;
    constructor(message, reason, status, 
    /** for rate limits: epoch ms when requests may resume */
    resumeAt) {
        super(message);
        this.reason = reason;
        this.status = status;
        this.resumeAt = resumeAt;
        this.name = 'GitHubApiError';
    }
}
const SECONDARY_DEFAULT_WAIT_MS = 60_000; // GitHub: "wait at least one minute" when it gives no header
const RESET_MARGIN_MS = 1_000; // x-ratelimit-reset has one-second resolution
const MIN_TIMEOUT_MS = 10_000; // the last poll near the deadline still gets a fair chance to answer
/** Is this response a rate-limit refusal, and until when? Undefined for any other response. */
function rateLimitWait(status, headers, data, nowMs) {
    if (status !== 403 && status !== 429)
        return undefined;
    const retryAfter = headers['retry-after'];
    if (retryAfter !== undefined) {
        const seconds = Number(retryAfter);
        if (Number.isFinite(seconds) && seconds >= 0)
            return { kind: 'secondary', until: nowMs + seconds * 1000 };
        const date = Date.parse(retryAfter); // the header may also be an HTTP date
        if (Number.isFinite(date))
            return { kind: 'secondary', until: Math.max(nowMs, date) };
    }
    if (headers['x-ratelimit-remaining'] === '0') {
        const reset = Number(headers['x-ratelimit-reset']);
        const until = Number.isFinite(reset) && reset > 0 ? reset * 1000 + RESET_MARGIN_MS : nowMs + SECONDARY_DEFAULT_WAIT_MS;
        return { kind: 'primary', until: Math.max(until, nowMs) };
    }
    const message = messageOf(data);
    if (status === 429 || /secondary rate limit|abuse/i.test(message)) {
        return { kind: 'secondary', until: nowMs + SECONDARY_DEFAULT_WAIT_MS };
    }
    return undefined; // a 403 that is a permission problem
}
/** `<https://…?page=2>; rel="next", <…>; rel="last"` → the "next" URL */
function nextLink(link) {
    if (!link)
        return undefined;
    for (const part of link.split(',')) {
        const m = /<([^>]+)>\s*;\s*rel="?([^";]+)"?/.exec(part.trim());
        if (m && m[2]?.split(/\s+/).includes('next'))
            return m[1];
    }
    return undefined;
}
function messageOf(data) {
    if (typeof data === 'string')
        return data.slice(0, 300);
    if (data && typeof data === 'object' && 'message' in data && typeof data.message === 'string') {
        return data.message.slice(0, 300);
    }
    return '';
}
class GitHubApi {
    /** HTTP requests sent, retries included */
    requestCount = 0;
    octokit;
    base;
    now;
    sleep;
    log;
    maxAttempts;
    retryBaseMs;
    requestTimeoutMs;
    /** set when a successful response says the quota is spent: wait before the next request */
    notBefore = 0;
    constructor(opts) {
        if (!opts.token)
            throw new GitHubApiError('no GitHub token was given', 'http');
        this.base = new URL(opts.apiUrl.replace(/\/+$/, '') + '/');
        if (this.base.protocol !== 'https:' && this.base.protocol !== 'http:') {
            throw new GitHubApiError(`GitHub API URL must be http(s): ${opts.apiUrl}`, 'protocol');
        }
        this.now = opts.now ?? Date.now;
        this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
        this.log = opts.log ?? (() => { });
        this.maxAttempts = Math.max(1, opts.maxAttempts ?? 4);
        this.retryBaseMs = opts.retryBaseMs ?? 1_000;
        this.requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
        const quiet = () => { };
        this.octokit = (0,github/* getOctokit */.Q)(opts.token, {
            baseUrl: this.base.href.replace(/\/$/, ''),
            userAgent: 'togather-deploy',
            // Octokit only logs deprecation notices; keep them, drop its debug chatter
            log: { debug: quiet, info: quiet, warn: (m) => this.log(m), error: (m) => this.log(m) },
        });
    }
    /** Absolute URL of an API path; refuses absolute URLs on another origin (the token would follow). */
    resolve(pathOrUrl, query) {
        const url = new URL(pathOrUrl.replace(/^\/+/, ''), this.base);
        if (url.origin !== this.base.origin) {
            throw new GitHubApiError(`refusing to send the token to ${url.origin} (API is ${this.base.origin})`, 'protocol');
        }
        for (const [k, v] of Object.entries(query ?? {}))
            if (v !== undefined)
                url.searchParams.set(k, String(v));
        return url.href;
    }
    /**
     * One API call. Returns any response that is not a rate limit or a 5xx (the caller decides what a 404
     * means). Rate limits are waited out when the wait ends before the deadline; 5xx and network errors are
     * retried with backoff when `retry` allows.
     */
    async request(method, pathOrUrl, opts) {
        const url = this.resolve(pathOrUrl, opts.query);
        const label = `${method} ${new URL(url).pathname}`;
        const retry = opts.retry ?? method === 'GET';
        let attempt = 0;
        let lastProblem = '';
        for (;;) {
            await this.waitUntil(this.notBefore, opts.deadline, label, 'primary');
            // A request may still start AT the deadline (the gate's last look); only waits must end before it.
            const remaining = opts.deadline - this.now();
            if (remaining < 0)
                throw new GitHubApiError(`deadline passed before ${label}`, 'deadline');
            attempt++;
            this.requestCount++;
            let res;
            try {
                res = await this.send(method, url, opts.body, Math.min(this.requestTimeoutMs, Math.max(remaining, MIN_TIMEOUT_MS)));
            }
            catch (err) {
                lastProblem = `network error: ${err instanceof Error ? err.message : String(err)}`;
            }
            if (res) {
                const limited = rateLimitWait(res.status, res.headers, res.data, this.now());
                if (limited) {
                    this.log(`GitHub ${limited.kind} rate limit on ${label}; waiting until ${new Date(limited.until).toISOString()}`);
                    // at least a second, so a "retry-after: 0" cannot spin
                    await this.waitUntil(Math.max(limited.until, this.now() + 1_000), opts.deadline, label, limited.kind);
                    attempt--; // a rate-limit wait is not a failed attempt
                    continue;
                }
                if (res.status < 500) {
                    if (res.status < 300 && res.headers['x-ratelimit-remaining'] === '0') {
                        const reset = Number(res.headers['x-ratelimit-reset']);
                        if (Number.isFinite(reset))
                            this.notBefore = reset * 1000 + RESET_MARGIN_MS;
                    }
                    return res;
                }
                lastProblem = `HTTP ${res.status}${messageOf(res.data) ? ` ${messageOf(res.data)}` : ''}`;
            }
            if (!retry || attempt >= this.maxAttempts) {
                throw new GitHubApiError(`${label} failed after ${attempt} attempt${attempt === 1 ? '' : 's'}: ${lastProblem}`, 'unavailable', res?.status);
            }
            const backoff = Math.min(this.retryBaseMs * 2 ** (attempt - 1), 8_000);
            if (this.now() + backoff >= opts.deadline) {
                throw new GitHubApiError(`${label} failed (${lastProblem}) and the deadline leaves no time to retry`, 'unavailable', res?.status);
            }
            this.log(`${label}: ${lastProblem}; retrying in ${Math.round(backoff / 1000)}s`);
            await this.sleep(backoff);
        }
    }
    /** Every page of a list endpoint, following Link rel="next" (at most `maxPages`). */
    async paginate(path, query, deadline, items, maxPages = 50) {
        const out = [];
        let url = this.resolve(path, { per_page: 100, ...query });
        let pages = 0;
        while (url) {
            if (pages >= maxPages) {
                throw new GitHubApiError(`${path} has more than ${maxPages} pages; refusing to read further`, 'protocol');
            }
            const res = await this.request('GET', url, { deadline });
            pages++;
            if (res.status !== 200)
                return { items: out, pages, refused: res };
            out.push(...items(res.data));
            url = nextLink(res.headers['link']);
        }
        return { items: out, pages };
    }
    async waitUntil(until, deadline, label, kind) {
        const wait = until - this.now();
        if (wait <= 0)
            return;
        if (until > deadline) {
            throw new GitHubApiError(`GitHub API ${kind} rate limit: ${label} may resume at ${new Date(until).toISOString()}, after the deadline ` +
                `(${new Date(deadline).toISOString()})`, 'rate-limit', undefined, until);
        }
        await this.sleep(wait);
    }
    async send(method, url, body, timeoutMs) {
        try {
            const res = await this.octokit.request({
                method: method,
                url,
                headers: { accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28' },
                ...(body === undefined ? {} : { data: body }),
                request: { signal: AbortSignal.timeout(timeoutMs) },
            });
            return { status: res.status, headers: lowerKeys(res.headers), data: res.data };
        }
        catch (err) {
            // Octokit throws for every status ≥ 400; keep those as responses, rethrow transport failures
            const response = err
                .response;
            if (response && typeof response.status === 'number') {
                return { status: response.status, headers: lowerKeys(response.headers), data: response.data };
            }
            throw err;
        }
    }
}
function lowerKeys(h) {
    const out = {};
    for (const [k, v] of Object.entries(h ?? {}))
        if (v !== undefined && v !== null)
            out[k.toLowerCase()] = String(v);
    return out;
}

;// CONCATENATED MODULE: ./src/github/ci-gate.ts
/**
 * The CI gate: before any host is touched, the exact commit must have passed CI.
 *
 * GitHub has two independent ways of reporting CI on a commit: check runs (GitHub Actions and GitHub Apps)
 * and commit statuses (older integrations, external CI). A gate that reads only one of them waits forever
 * or passes blindly on repos that use the other, so both are read on every poll. Only the latest attempt
 * of each check counts, so a re-run that turned red into green (or green into red) is judged as it is now.
 */



const CheckRunSchema = schemas/* object */.Ikc({
    id: schemas/* number */.aig(),
    name: schemas/* string */.YjP(),
    status: schemas/* string */.YjP(),
    conclusion: schemas/* string */.YjP().nullish(),
    started_at: schemas/* string */.YjP().nullish(),
    html_url: schemas/* string */.YjP().nullish(),
    details_url: schemas/* string */.YjP().nullish(),
});
const CheckRunsPageSchema = schemas/* object */.Ikc({ total_count: schemas/* number */.aig(), check_runs: schemas/* array */.YOg(CheckRunSchema) });
const StatusSchema = schemas/* object */.Ikc({
    id: schemas/* number */.aig(),
    state: schemas/* string */.YjP(),
    context: schemas/* string */.YjP(),
    target_url: schemas/* string */.YjP().nullish(),
    created_at: schemas/* string */.YjP().nullish(),
});
const StatusesPageSchema = schemas/* array */.YOg(StatusSchema);
async function verifyCommitPassed(opts) {
    validate(opts);
    const now = opts.now ?? Date.now;
    const sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    const log = opts.log ?? (() => { });
    const start = now();
    const deadline = start + opts.deadlineMs;
    const where = `${opts.owner}/${opts.repo}@${opts.sha.slice(0, 7)}`;
    const required = [...new Set(opts.required.map((r) => r.trim()).filter(Boolean))];
    let api;
    try {
        api = new GitHubApi({ apiUrl: opts.apiUrl, token: opts.token, now, sleep, log });
    }
    catch (err) {
        throw new errors/* DeployError */.sH('ciGate', `CI gate cannot start: ${err.message}`, TOKEN_REMEDY);
    }
    let lastSummary = '';
    for (;;) {
        const { checkRuns, statuses } = await readCommit(api, opts, deadline);
        const verdict = judge(checkRuns, statuses, required, opts.ownRunId);
        if (verdict.failed.length > 0) {
            throw new errors/* DeployError */.sH('ciGate', `CI failed for ${where} (${opts.sha}):\n` + verdict.failed.map((c) => `  ✗ ${describe(c)}`).join('\n'), 'fix the failing checks or re-run them, then deploy again; skip-ci-check deploys anyway and is recorded in the history');
        }
        if (verdict.passed) {
            const checks = verdict.relevant.map(({ ownRun: _own, ...c }) => c);
            log(`CI passed for ${where}: ${checks.map((c) => `${c.name} (${c.conclusion ?? c.state})`).join(', ')}`);
            return { checks, waitedMs: now() - start, requests: api.requestCount };
        }
        const left = deadline - now();
        if (left <= 0)
            throw timedOut(verdict, required, opts, where);
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
function judge(checkRuns, statuses, required, ownRunId) {
    const seen = [...latestCheckRuns(checkRuns, ownRunId), ...latestStatuses(statuses, ownRunId)];
    let relevant;
    const missing = [];
    if (required.length === 0) {
        relevant = seen.filter((c) => !c.ownRun);
    }
    else {
        // Named checks count wherever they ran, this workflow run included: a job this deploy job `needs:`
        // has already finished, and naming it is how single-workflow repos gate on their tests.
        relevant = [];
        for (const name of required) {
            const matches = seen.filter((c) => c.name.toLowerCase() === name.toLowerCase());
            if (matches.length === 0)
                missing.push(name);
            relevant.push(...matches);
        }
    }
    const failed = relevant.filter((c) => c.state === 'failure');
    const pending = relevant.filter((c) => c.state === 'pending');
    const passed = relevant.length > 0 && missing.length === 0 && failed.length === 0 && pending.length === 0;
    return { relevant, failed, pending, missing, seen, passed };
}
function latestCheckRuns(runs, ownRunId) {
    const latest = new Map();
    for (const run of runs) {
        const prev = latest.get(run.name);
        if (!prev || newerRun(run, prev))
            latest.set(run.name, run);
    }
    return [...latest.values()].map((run) => {
        const url = run.html_url ?? run.details_url ?? undefined;
        const ownRun = !!ownRunId && [run.html_url, run.details_url].some((u) => pointsIntoRun(u, ownRunId));
        let state;
        if (run.status !== 'completed')
            state = 'pending';
        else if (run.conclusion === 'success')
            state = 'success';
        else if (run.conclusion === 'neutral')
            state = 'neutral';
        else if (run.conclusion === 'skipped')
            state = 'skipped';
        // failure, cancelled, timed_out, action_required, startup_failure, stale — and anything new: fail closed
        else
            state = 'failure';
        const conclusion = run.status === 'completed' ? (run.conclusion ?? 'none') : run.status;
        return {
            name: clean(run.name),
            source: 'check-run',
            state,
            conclusion,
            ...(url ? { url: clean(url) } : {}),
            ownRun,
        };
    });
}
/** A later attempt has a later start; a queued re-run has no start yet and is the newest of all. */
function newerRun(a, b) {
    const ta = a.started_at ? Date.parse(a.started_at) : Infinity;
    const tb = b.started_at ? Date.parse(b.started_at) : Infinity;
    if (ta !== tb)
        return ta > tb;
    return a.id > b.id;
}
function latestStatuses(statuses, ownRunId) {
    const latest = new Map();
    for (const s of statuses) {
        const prev = latest.get(s.context);
        if (!prev) {
            latest.set(s.context, s);
            continue;
        }
        const ta = s.created_at ? Date.parse(s.created_at) : 0;
        const tb = prev.created_at ? Date.parse(prev.created_at) : 0;
        if (ta > tb || (ta === tb && s.id > prev.id))
            latest.set(s.context, s);
    }
    return [...latest.values()].map((s) => {
        const state = s.state === 'success' ? 'success' : s.state === 'pending' ? 'pending' : 'failure'; // failure, error, unknown
        const url = s.target_url ?? undefined;
        return {
            name: clean(s.context),
            source: 'status',
            state,
            conclusion: s.state,
            ...(url ? { url: clean(url) } : {}),
            ownRun: !!ownRunId && pointsIntoRun(s.target_url, ownRunId),
        };
    });
}
function pointsIntoRun(url, runId) {
    if (!url)
        return false;
    return new RegExp(`/actions/runs/${runId}(?:[/?#]|$)`).test(url);
}
async function readCommit(api, opts, deadline) {
    const base = `repos/${encodeURIComponent(opts.owner)}/${encodeURIComponent(opts.repo)}/commits/${opts.sha}`;
    try {
        // GitHub's default filter=latest already drops superseded attempts within one check suite; re-runs
        // that landed in another suite are resolved by judge()
        const runs = await api.paginate(`${base}/check-runs`, {}, deadline, (data) => parse(CheckRunsPageSchema, data, 'check runs').check_runs);
        if (runs.refused)
            throw refused(runs.refused, 'check runs', opts);
        const statuses = await api.paginate(`${base}/statuses`, {}, deadline, (data) => parse(StatusesPageSchema, data, 'commit statuses'));
        if (statuses.refused)
            throw refused(statuses.refused, 'commit statuses', opts);
        return { checkRuns: runs.items, statuses: statuses.items };
    }
    catch (err) {
        if (!(err instanceof GitHubApiError))
            throw err;
        if (err.reason === 'rate-limit') {
            throw new errors/* DeployError */.sH('ciGate', `CI gate stopped by the GitHub API rate limit: ${err.message}`, 'wait for the rate limit to reset, raise ci-timeout, or use a token with its own quota');
        }
        if (err.reason === 'deadline') {
            throw new errors/* DeployError */.sH('ciGate', `CI gate ran out of time while reading ${opts.owner}/${opts.repo}: ${err.message}`, 'raise ci-timeout');
        }
        throw new errors/* DeployError */.sH('ciGate', `CI gate could not read checks for ${opts.owner}/${opts.repo}@${opts.sha.slice(0, 7)}: ${err.message}`, 'GitHub may be having trouble (https://www.githubstatus.com); deploy again later');
    }
}
function parse(schema, data, what) {
    const r = schema.safeParse(data);
    if (!r.success)
        throw new GitHubApiError(`unexpected ${what} response shape: ${r.error.issues[0]?.message ?? ''}`, 'protocol');
    return r.data;
}
const TOKEN_REMEDY = 'pass github-token (the default ${{ github.token }} works) and give the job `permissions: { checks: read, statuses: read }`';
function refused(res, what, opts) {
    const msg = messageOf(res.data);
    const detail = `HTTP ${res.status}${msg ? ` ${msg}` : ''}`;
    switch (res.status) {
        case 401:
            return new errors/* DeployError */.sH('ciGate', `GitHub rejected the token while reading ${what} (${detail})`, TOKEN_REMEDY);
        case 403:
            return new errors/* DeployError */.sH('ciGate', `the token may not read ${what} of ${opts.owner}/${opts.repo} (${detail})`, TOKEN_REMEDY);
        case 404:
            return new errors/* DeployError */.sH('ciGate', `${opts.owner}/${opts.repo} not found, or the token cannot see it (${detail})`, TOKEN_REMEDY);
        case 422:
            return new errors/* DeployError */.sH('ciGate', `GitHub does not know commit ${opts.sha} in ${opts.owner}/${opts.repo} (${detail})`, 'push the commit first, or check the version you asked to deploy');
        default:
            return new errors/* DeployError */.sH('ciGate', `reading ${what} failed: ${detail}`);
    }
}
function timedOut(v, required, opts, where) {
    const waited = fmt(opts.deadlineMs);
    const foreign = v.seen.filter((c) => !c.ownRun);
    const own = v.seen.filter((c) => c.ownRun);
    const seenLine = v.seen.length === 0
        ? 'nothing at all'
        : [
            foreign.map((c) => `${c.name} (${c.conclusion ?? c.state})`).join(', '),
            own.length ? `ignored as this workflow run: ${own.map((c) => c.name).join(', ')}` : '',
        ]
            .filter(Boolean)
            .join('; ');
    if (required.length === 0 && v.relevant.length === 0) {
        return new errors/* DeployError */.sH('ciGate', `nothing reported CI for this commit (${where}) within ${waited}: no check run or commit status ` +
            `other than this workflow run's own. Seen: ${seenLine}`, 'make CI run on this commit (is the workflow triggered for this branch?), name the checks in ' +
            'required-checks, or set skip-ci-check to deploy without CI');
    }
    const lines = [];
    for (const c of v.pending)
        lines.push(`  … ${describe(c)}`);
    for (const name of v.missing)
        lines.push(`  ? ${name}: required but never reported`);
    return new errors/* DeployError */.sH('ciGate', `CI did not finish for ${where} within ${waited}:\n${lines.join('\n')}\n  seen on this commit: ${seenLine}`, v.missing.length
        ? 'check the names in required-checks against the checks listed as seen (names must match exactly, case aside), or raise ci-timeout'
        : 'raise ci-timeout, or wait for CI and deploy again');
}
function progress(v, required) {
    if (required.length === 0 && v.relevant.length === 0)
        return 'nothing reported yet';
    const done = v.relevant.length - v.pending.length;
    const parts = [`${done}/${v.relevant.length} finished`];
    if (v.pending.length)
        parts.push(`waiting for ${v.pending.map((c) => `${c.name} (${c.conclusion})`).join(', ')}`);
    if (v.missing.length)
        parts.push(`not reported yet: ${v.missing.join(', ')}`);
    return parts.join('; ');
}
function describe(c) {
    const kind = c.source === 'check-run' ? 'check run' : 'status';
    return `${c.name} (${kind}: ${c.conclusion ?? c.state})${c.url ? ` ${c.url}` : ''}`;
}
/** Remote text goes into log lines: no newlines (a line starting "::" would be a workflow command). */
function clean(s) {
    // eslint-disable-next-line no-control-regex
    return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').slice(0, 300);
}
function fmt(ms) {
    if (ms < 1000)
        return `${ms}ms`;
    const s = Math.round(ms / 1000);
    if (s < 60)
        return `${s}s`;
    const m = Math.floor(s / 60);
    return s % 60 ? `${m}m${s % 60}s` : `${m}m`;
}
function validate(opts) {
    const problems = [];
    if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/i.test(opts.sha))
        problems.push(`sha must be a full commit SHA, got "${opts.sha}"`);
    if (!/^[A-Za-z0-9_.-]+$/.test(opts.owner) || !/^[A-Za-z0-9_.-]+$/.test(opts.repo)) {
        problems.push(`repository must be owner/repo, got "${opts.owner}/${opts.repo}"`);
    }
    if (!opts.token)
        problems.push('no GitHub token');
    if (!(opts.deadlineMs >= 0))
        problems.push('deadline must be ≥ 0');
    if (!(opts.pollIntervalMs > 0))
        problems.push('poll interval must be > 0');
    if (opts.ownRunId !== undefined && !/^\d+$/.test(opts.ownRunId))
        problems.push(`run id must be digits, got "${opts.ownRunId}"`);
    if (problems.length) {
        throw new errors/* DeployError */.sH('ciGate', `CI gate misconfigured: ${problems.join('; ')}`, opts.token ? undefined : TOKEN_REMEDY);
    }
}

;// CONCATENATED MODULE: ./src/github/context.ts
/**
 * The runner's GitHub context, read from its environment variables and checked, so that a malformed value
 * fails here with its name instead of turning into a strange API URL later. Outside Actions (CLI runs)
 * the run-specific values are simply absent.
 */

const NAME = /^[A-Za-z0-9_.-]+$/;
function readGitHubContext(env = process.env) {
    const problems = [];
    const get = (key) => {
        const v = env[key]?.trim();
        return v ? v : undefined;
    };
    const url = (key, fallback) => {
        const raw = get(key) ?? fallback;
        try {
            const u = new URL(raw);
            if (u.protocol !== 'https:' && u.protocol !== 'http:')
                throw new Error('not http(s)');
            if (u.username || u.password)
                throw new Error('credentials in URL');
            return u.href.replace(/\/+$/, '');
        }
        catch (err) {
            // never echo a password that someone put in the URL
            const shown = raw.replace(/\/\/[^/@\s]*@/, '//***@');
            problems.push(`${key} must be an http(s) URL without credentials (${err.message}): "${shown}"`);
            return fallback;
        }
    };
    const ctx = {
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
        }
        else {
            problems.push(`GITHUB_REPOSITORY must be owner/repo: "${repository}"`);
        }
    }
    const digits = (key, field) => {
        const v = get(key);
        if (v === undefined)
            return;
        if (/^\d+$/.test(v))
            ctx[field] = v;
        else
            problems.push(`${key} must be a number: "${v}"`);
    };
    digits('GITHUB_RUN_ID', 'runId');
    digits('GITHUB_RUN_ATTEMPT', 'runAttempt');
    const sha = get('GITHUB_SHA');
    if (sha !== undefined) {
        if (/^[0-9a-f]{40}([0-9a-f]{24})?$/i.test(sha))
            ctx.sha = sha.toLowerCase();
        else
            problems.push(`GITHUB_SHA must be a full commit SHA: "${sha}"`);
    }
    const actor = get('GITHUB_ACTOR');
    if (actor !== undefined) {
        // `_` appears in managed (EMU) logins, `[bot]` in app actors
        if (/^[A-Za-z0-9_-]+(\[bot\])?$/.test(actor))
            ctx.actor = actor;
        else
            problems.push(`GITHUB_ACTOR is not a GitHub login: "${actor}"`);
    }
    const ref = get('GITHUB_REF');
    if (ref !== undefined) {
        // eslint-disable-next-line no-control-regex
        if (/^refs\/[^\s\u0000-\u001f~^:?*[\\]+$/.test(ref))
            ctx.ref = ref;
        else
            problems.push(`GITHUB_REF must be a full ref (refs/…): "${ref}"`);
    }
    if (problems.length) {
        throw new errors/* DeployError */.sH('config', `the GitHub context in the environment is malformed:\n  ${problems.join('\n  ')}`, 'these are set by the runner; outside Actions, unset them or fix their values');
    }
    return ctx;
}
/** owner and repo, or a DeployError naming what is missing */
function requireRepository(ctx) {
    if (!ctx.owner || !ctx.repo) {
        throw new DeployError('config', 'GITHUB_REPOSITORY is not set', 'set GITHUB_REPOSITORY=owner/repo (the runner sets it in Actions)');
    }
    return { owner: ctx.owner, repo: ctx.repo };
}
/** Link to this workflow run (its attempt when known); undefined outside Actions. */
function runUrl(ctx) {
    if (!ctx.owner || !ctx.repo || !ctx.runId)
        return undefined;
    const base = `${ctx.serverUrl}/${ctx.owner}/${ctx.repo}/actions/runs/${ctx.runId}`;
    return ctx.runAttempt && ctx.runAttempt !== '1' ? `${base}/attempts/${ctx.runAttempt}` : base;
}
/** Link to a commit on the web UI. */
function commitUrl(ctx, sha) {
    if (!ctx.owner || !ctx.repo)
        return undefined;
    return `${ctx.serverUrl}/${ctx.owner}/${ctx.repo}/commit/${sha}`;
}

;// CONCATENATED MODULE: ./src/github/gate-adapter.ts
/**
 * Builds the engine's `ciGate(sha)` port from the environment (CLI) or from action inputs, so the engine
 * never reads GitHub settings itself.
 */




const DEFAULT_CI_TIMEOUT_MS = 20 * 60_000;
const DEFAULT_CI_POLL_MS = 15_000;
/**
 * The gate, or undefined when there is no token or no repository to ask (the caller decides whether that
 * is an error or a deliberate skip). Throws DeployError('config') on a malformed GitHub context.
 */
function makeCiGate(env, reporter, settings = {}) {
    const token = settings.token || env.GITHUB_TOKEN || env.GH_TOKEN;
    const ctx = readGitHubContext(env);
    if (!token || !ctx.owner || !ctx.repo)
        return undefined;
    const { owner, repo } = ctx;
    let deadlineMs = settings.timeoutMs ?? DEFAULT_CI_TIMEOUT_MS;
    if (settings.timeoutMs === undefined && settings.timeout) {
        const parsed = (0,duration/* parseDuration */.E)(settings.timeout);
        if (parsed === undefined) {
            throw new errors/* DeployError */.sH('config', `CI timeout "${settings.timeout}" is not a duration`, 'write it like 20m, 90s or 1h');
        }
        deadlineMs = parsed;
    }
    return async (sha) => {
        const result = await verifyCommitPassed({
            apiUrl: ctx.apiUrl,
            token,
            owner,
            repo,
            sha,
            required: settings.required ?? [],
            ...(ctx.runId ? { ownRunId: ctx.runId } : {}),
            deadlineMs,
            pollIntervalMs: settings.pollIntervalMs ?? DEFAULT_CI_POLL_MS,
            log: (line) => reporter.info(line),
        });
        settings.onResult?.(result);
    };
}
/** "a, b\nc" → ["a", "b", "c"]: the required-checks input takes lines or commas */
function parseRequiredChecks(text) {
    return [
        ...new Set((text ?? '')
            .split(/[\n,]/)
            .map((s) => s.trim())
            .filter(Boolean)),
    ];
}


/***/ })

};
