import { DeployError } from '../../errors.js';

/**
 * Caddy configuration for the stack. The switch between colours never reloads Caddy (a reload resets
 * connections under load, see docs/zero-downtime.md): both colours are always upstreams, `lb_policy first` sends
 * everything to the first healthy one, and an active health check asks each colour's gate (:8081, /ready) whether
 * it is in rotation. The deployer flips the gate's flag file; Caddy notices within one health interval.
 *
 * Two files, both in the directory compose mounts as /etc/caddy:
 *   togather.caddy - owned by the deployer, rewritten from renderUpstreams(): the upstream snippet and the
 *                    internal verification site;
 *   Caddyfile      - the operator's (renderDefaultSite() writes a first one): `import togather.caddy`, then sites
 *                    that `import togather_upstreams`.
 */

/** Name of the file renderUpstreams() output goes to, beside the Caddyfile that imports it. */
export const UPSTREAMS_FILE = 'togather.caddy';
/** Snippet the sites import. */
export const UPSTREAMS_SNIPPET = 'togather_upstreams';
/** Port of the internal site: reachable on the stack's network only (compose publishes 80/443, never this). */
export const INTERNAL_PORT = 8088;
/** Port and path each colour's gate answers Caddy's health check on. */
export const GATE_PORT = 8081;
export const GATE_READY_PATH = '/ready';
/** Network aliases of the colours (compose: the gates own the colours' addresses). */
export const COLOUR_HOSTS = { blue: 'app-blue', green: 'app-green' } as const;
/** Response header naming the upstream that served; the deployer verifies a switch by it. */
export const UPSTREAM_HEADER = 'X-Togather-Upstream';
/** Paths whose answers must never be cached by anything between a client and the app. */
export const NO_STORE_PATHS = ['/health', '/healthz', '/readyz', '/version'] as const;

export interface UpstreamsParams {
  appPort: number;
  /** Caddy duration, e.g. "500ms" */
  healthInterval: string;
  /** Caddy duration, below healthInterval (a longer timeout made the measured switch flap) */
  healthTimeout: string;
  /** how long Caddy keeps retrying to find a healthy upstream for a request; default 5s */
  tryDuration?: string;
  /** behind the host's front proxy: keep the client address and scheme it forwards (X-Forwarded-*) */
  behindFront?: boolean;
}

/**
 * Which requests a reverse_proxy retries: GETs, and any request that never reached an upstream. Caddy < 2.7.5
 * answers a non-GET 503 at once when no upstream is in rotation for a moment (both gates' checks timed out on a
 * busy host: measured under load, docs/zero-downtime.md); retrying only requests that never reached an upstream
 * makes them wait like GETs, and a non-GET that an upstream received is never resent.
 */
export const RETRY_UNSENT: readonly string[] = [
  '\t\tlb_retry_match {',
  '\t\t\tmethod GET',
  '\t\t}',
  '\t\tlb_retry_match {',
  '\t\t\texpression `{http.reverse_proxy.upstream.hostport} == null`',
  '\t\t}',
];

export function renderUpstreams(p: UpstreamsParams): string {
  const port = checkPort(p.appPort, 'app port');
  const interval = checkDuration(p.healthInterval, 'health interval');
  const timeout = checkDuration(p.healthTimeout, 'health timeout');
  const tryDuration = checkDuration(p.tryDuration ?? '5s', 'try duration');
  if (durationMs(timeout) >= durationMs(interval)) {
    throw configError(`health timeout ${timeout} must be shorter than the health interval ${interval}`);
  }
  return [
    '# Written by togather-deploy on every deploy: edit the Caddyfile, not this file.',
    '# Both colours stay listed; `first` picks the first one whose gate answers /ready. No fail_duration: after a',
    '# failed dial it would mark the healthy colour down as well.',
    `(${UPSTREAMS_SNIPPET}) {`,
    `\treverse_proxy ${COLOUR_HOSTS.blue}:${port} ${COLOUR_HOSTS.green}:${port} {`,
    '\t\tlb_policy first',
    `\t\tlb_try_duration ${tryDuration}`,
    '\t\tlb_try_interval 50ms',
    ...RETRY_UNSENT,
    `\t\thealth_uri ${GATE_READY_PATH}`,
    `\t\thealth_port ${GATE_PORT}`,
    `\t\thealth_interval ${interval}`,
    `\t\thealth_timeout ${timeout}`,
    `\t\theader_down ${UPSTREAM_HEADER} {http.reverse_proxy.upstream.host}`,
    // only the front proxy reaches this Caddy on a private network; anyone else's X-Forwarded-For is replaced
    ...(p.behindFront ? ['\t\ttrusted_proxies private_ranges'] : []),
    '\t}',
    '}',
    '',
    '# Internal: the deployer verifies what the public sites would serve through this, from inside the network.',
    `http://:${INTERNAL_PORT} {`,
    `\timport ${UPSTREAMS_SNIPPET}`,
    '}',
    '',
  ].join('\n');
}

export interface DefaultSiteParams {
  /** public host names; empty: plain HTTP on :httpPort (behind another TLS terminator, or for tests) */
  domains: string[];
  /** port of the plain-HTTP site when there are no domains; with domains, Caddy's http_port; default 80 */
  httpPort?: number;
  /** ACME account e-mail (expiry notices) */
  email?: string;
}

export function renderDefaultSite(p: DefaultSiteParams): string {
  const domains = p.domains.map(checkDomain);
  const dup = domains.find((d, i) => domains.indexOf(d) !== i);
  if (dup !== undefined) throw configError(`domain ${dup} is listed twice`);
  const httpPort = checkPort(p.httpPort ?? 80, 'HTTP port');
  const email = p.email === undefined ? undefined : checkEmail(p.email);

  const global: string[] = [];
  if (email) global.push(`\temail ${email}`);
  if (domains.length > 0 && httpPort !== 80) global.push(`\thttp_port ${httpPort}`);

  const headers = [
    ...(domains.length > 0 ? ['\t\tStrict-Transport-Security "max-age=31536000"'] : []),
    '\t\tX-Content-Type-Options nosniff',
    '\t\tReferrer-Policy strict-origin-when-cross-origin',
    '\t\tX-Frame-Options SAMEORIGIN',
    '\t\t-Server',
  ];
  const out = [
    '# Default Caddyfile written by togather-deploy when the host has none. It is yours to edit: keep',
    `# \`import ${UPSTREAMS_FILE}\` and \`import ${UPSTREAMS_SNIPPET}\` in each site that serves the app.`,
    ...(global.length > 0 ? ['{', ...global, '}', ''] : []),
    `import ${UPSTREAMS_FILE}`,
    '',
    `${domains.length > 0 ? domains.join(', ') : `:${httpPort}`} {`,
    `\timport ${UPSTREAMS_SNIPPET}`,
    '',
    '\theader {',
    ...headers,
    '\t}',
    '',
    `\t@no_store path ${NO_STORE_PATHS.join(' ')}`,
    '\theader @no_store {',
    '\t\tCache-Control no-store',
    '\t\tdefer',
    '\t}',
    '}',
    '',
  ];
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// Every value that reaches a Caddyfile passes one of these: a stray space, brace or newline would change the
// config's structure, not just a value.

const LABEL = '(?!-)[a-z0-9-]{1,63}(?<!-)';
const HOSTNAME = new RegExp(`^${LABEL}(\\.${LABEL})+$`);

export function checkDomain(raw: string): string {
  const d = raw.toLowerCase();
  if (d.length > 253 || !(HOSTNAME.test(d) || d === 'localhost')) {
    throw configError(
      `domain ${JSON.stringify(raw)} is not a plain host name`,
      'use names like app.example.org (letters, digits, hyphens and dots; no scheme, port, path or wildcard)',
    );
  }
  return d;
}

export function checkPort(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw configError(`${what} ${String(n)} is not a port (1-65535)`);
  return n;
}

const DURATION = /^(\d+(\.\d+)?(ms|s|m|h))+$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function checkDuration(s: string, what: string): string {
  if (!DURATION.test(s) || durationMs(s) <= 0) {
    throw configError(`${what} ${JSON.stringify(s)} is not a duration`, 'write e.g. 500ms, 2s or 1m30s');
  }
  return s;
}

function durationMs(s: string): number {
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) total += Number(m[1]) * UNIT_MS[m[2]!]!;
  return total;
}

export function checkEmail(s: string): string {
  if (!/^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/.test(s)) {
    throw configError(`e-mail ${JSON.stringify(s)} is not a plain address`);
  }
  return s;
}

export function configError(message: string, remedy?: string): DeployError {
  return new DeployError('config', `Caddy configuration: ${message}`, remedy);
}
