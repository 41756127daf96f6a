import { checkDomain, checkEmail, checkPort, configError } from '../release/caddyfile.js';

/**
 * The host's front Caddy: one per Docker host, shared by every environment on it. It alone publishes 80/443,
 * gets certificates by ACME, and routes each environment's domains to that environment's own Caddy (which keeps
 * doing the zero-reload blue-green switch inside). Adding or removing an environment never reloads it:
 *
 *  - registering a domain = writing a file named after it into the sites directory (renderSiteRegistration());
 *    removing it = deleting the file;
 *  - certificates are on-demand: at the first handshake for a name, Caddy asks its own `ask` endpoint (a site on
 *    127.0.0.1 inside the container) which answers 200 only when the domain's file exists, so nothing is ever
 *    issued for a name the deployer did not register;
 *  - the HTTPS catch-all proxies a registered host to `{host}:80`: each environment's Caddy joins the shared
 *    network FRONT_NETWORK with its domains as network aliases, so Docker's DNS resolves the domain itself to that
 *    environment's Caddy (resolved per request: an environment Caddy recreated with a new address is found);
 *  - unknown hosts: no certificate (the handshake fails), and 421 for a request whose Host is not registered
 *    (compared as sent: file names are case-sensitive, clients send host names lowercase).
 *
 * Removal, as measured with Caddy 2.6.2 (test/unit/engine/front-acme.test.ts): requests for the name get 421 at
 * once, but a certificate already issued stays in Caddy's memory and its storage and is still presented; after a
 * restart it is loaded from storage without asking. Delete it from the storage too to stop presenting it.
 *
 * Every value that reaches the file is checked: a stray space, brace or newline would change the config's
 * structure, not just a value.
 */

/** Where the sites directory is mounted in the front container (one file per registered domain). */
export const FRONT_SITES_DIR = '/etc/caddy/sites';
/** Port of the on-demand `ask` endpoint, on the container's own loopback (never published). */
export const FRONT_ASK_PORT = 5555;
/** Port the environment Caddies serve plain HTTP on, on the front's network (front_proxy.name). */
export const FRONT_UPSTREAM_PORT = 80;
/** Placeholder: the request's host without port (Docker's DNS resolves it to the environment's Caddy). */
export const FRONT_UPSTREAM_HOST = '{host}';
/** HSTS the front adds to every HTTPS answer: one year, no includeSubDomains/preload (the operator's decision). */
export const FRONT_HSTS = 'max-age=31536000';

export interface FrontParams {
  /** ACME account e-mail (expiry notices) */
  email?: string;
  /** ACME directory URL (https); default: Caddy's (Let's Encrypt, ZeroSSL as fallback when an e-mail is set) */
  acmeCa?: string;
  /** PEM file (path inside the container) of the root that signs the ACME server's own HTTPS certificate */
  acmeCaRootFile?: string;
  /** port of the `ask` endpoint on 127.0.0.1; default FRONT_ASK_PORT */
  askPort?: number;
  /** directory of the registration files (inside the container); default FRONT_SITES_DIR */
  sitesDir?: string;
  /** Caddy's http_port/https_port; default 80/443 (the container's own ports; tests run on free ports) */
  httpPort?: number;
  httpsPort?: number;
  /** where a registered host is proxied to: FRONT_UPSTREAM_HOST (default), a host name or an IPv4 address */
  upstreamHost?: string;
  /** default FRONT_UPSTREAM_PORT */
  upstreamPort?: number;
  /** Caddy's admin endpoint: "off", or localhost:PORT / 127.0.0.1:PORT; default Caddy's own (localhost:2019) */
  admin?: string;
  /**
   * only this ACME challenge; default both HTTP-01 (through the http:// site) and TLS-ALPN-01 (in the handshake
   * on the HTTPS port), Caddy picks. Naming one replaces Caddy's default issuers (no ZeroSSL fallback) by one ACME
   * issuer that takes acme_ca, acme_ca_root and email from the global options.
   */
  challenge?: 'http-01' | 'tls-alpn-01';
}

export function renderFrontCaddyfile(p: FrontParams = {}): string {
  const email = p.email === undefined ? undefined : checkEmail(p.email);
  const acmeCa = p.acmeCa === undefined ? undefined : checkAcmeUrl(p.acmeCa);
  const acmeCaRoot = p.acmeCaRootFile === undefined ? undefined : checkPath(p.acmeCaRootFile, 'ACME CA root file');
  const askPort = checkPort(p.askPort ?? FRONT_ASK_PORT, 'ask port');
  const sitesDir = checkPath(p.sitesDir ?? FRONT_SITES_DIR, 'sites directory');
  const httpPort = checkPort(p.httpPort ?? 80, 'HTTP port');
  const httpsPort = checkPort(p.httpsPort ?? 443, 'HTTPS port');
  const upstreamHost = checkUpstreamHost(p.upstreamHost ?? FRONT_UPSTREAM_HOST);
  const upstreamPort = checkPort(p.upstreamPort ?? FRONT_UPSTREAM_PORT, 'upstream port');
  const admin = p.admin === undefined ? undefined : checkAdmin(p.admin);
  if (p.challenge !== undefined && p.challenge !== 'http-01' && p.challenge !== 'tls-alpn-01') {
    throw configError(`ACME challenge ${JSON.stringify(p.challenge)}: write http-01 or tls-alpn-01`);
  }
  const issuer =
    p.challenge === undefined
      ? []
      : [
          '\t\tissuer acme {',
          `\t\t\t${p.challenge === 'http-01' ? 'disable_tlsalpn_challenge' : 'disable_http_challenge'}`,
          '\t\t}',
        ];
  const ports = new Set([askPort, httpPort, httpsPort]);
  if (ports.size !== 3)
    throw configError(`ask, HTTP and HTTPS ports must differ (${askPort}, ${httpPort}, ${httpsPort})`);

  const global: string[] = [];
  if (admin !== undefined) global.push(`\tadmin ${admin}`);
  if (email !== undefined) global.push(`\temail ${email}`);
  if (acmeCa !== undefined) global.push(`\tacme_ca ${acmeCa}`);
  if (acmeCaRoot !== undefined) global.push(`\tacme_ca_root ${acmeCaRoot}`);
  global.push(`\thttp_port ${httpPort}`, `\thttps_port ${httpsPort}`);

  // the matched requests get `inner`, every other one the status `otherwise`
  const handleOr = (matcher: string, inner: string[], otherwise: number) => [
    `\thandle ${matcher} {`,
    ...inner.map((l) => `\t\t${l}`),
    '\t}',
    '\thandle {',
    `\t\trespond ${otherwise}`,
    '\t}',
  ];
  const known = (placeholder: string) => [
    `\t@known file {`,
    `\t\troot ${sitesDir}`,
    `\t\ttry_files /${placeholder}`,
    '\t}',
  ];

  return [
    '# Front proxy of this host, written by togather-deploy: it is never reloaded. A domain is served when a file',
    `# named after it exists in ${sitesDir}; certificates are obtained at its first handshake (on-demand TLS).`,
    '{',
    ...global,
    '\ton_demand_tls {',
    `\t\task http://127.0.0.1:${askPort}/`,
    '\t}',
    '\tservers {',
    // no HTTP/3: the front publishes TCP 80/443 only, and an Alt-Svc naming an unreachable UDP port costs clients
    '\t\tprotocols h1 h2',
    // read_header bounds slow-header clients; idle frees quiet keep-alive connections. No read_body or write
    // timeout: uploads and slow or streamed answers are the app's business, each environment's Caddy sees them too.
    '\t\ttimeouts {',
    '\t\t\tread_header 10s',
    '\t\t\tidle 2m',
    '\t\t}',
    '\t}',
    '}',
    '',
    '# The on-demand `ask` endpoint: 200 when the domain is registered, else 404 (no certificate). Loopback only.',
    `http://127.0.0.1:${askPort} {`,
    '\tbind 127.0.0.1',
    '\t@registered {',
    '\t\tnot query domain=',
    '\t\tfile {',
    `\t\t\troot ${sitesDir}`,
    '\t\t\ttry_files /{query.domain}',
    '\t\t}',
    '\t}',
    ...handleOr('@registered', ['respond 200'], 404),
    '}',
    '',
    "# Every registered domain: TLS here, plain HTTP to the environment's own Caddy.",
    'https:// {',
    '\ttls {',
    '\t\ton_demand',
    ...issuer,
    '\t}',
    // HSTS belongs where TLS ends; the other security headers stay in each environment's Caddyfile (the operator
    // edits them there, per site). The front removes its own Server header.
    '\theader {',
    `\t\tStrict-Transport-Security "${FRONT_HSTS}"`,
    '\t\t-Server',
    '\t}',
    ...known('{host}'),
    // Caddy sets X-Forwarded-For (the client's address: this front trusts no proxy, so a client's own
    // X-Forwarded-For is dropped, not passed on), X-Forwarded-Proto https and X-Forwarded-Host; the environment's
    // Caddy trusts them from private_ranges (this container). Host is passed as it came: the environment's Caddy
    // routes on it. A dial failure (the environment's Caddy restarting) is retried for up to 5s, any method: no
    // request reached it. No fail_duration: one upstream per host, nothing to fail over to.
    ...handleOr(
      '@known',
      [
        `reverse_proxy ${upstreamHost}:${upstreamPort} {`,
        '\tlb_try_duration 5s',
        '\tlb_try_interval 250ms',
        '\ttransport http {',
        '\t\tdial_timeout 3s',
        '\t}',
        '}',
      ],
      421,
    ),
    '}',
    '',
    '# Plain HTTP: ACME HTTP-01 challenges are answered by Caddy before these routes; a registered host is sent to',
    '# HTTPS, anything else gets 404.',
    'http:// {',
    ...known('{host}'),
    ...handleOr('@known', ['redir https://{host}{uri} 308'], 404),
    '}',
    '',
  ].join('\n');
}

/** The content of a domain's file in the sites directory: which environment registered it (Caddy ignores it). */
export function renderSiteRegistration(environment: string): string {
  return `environment=${checkEnvironment(environment)}\n`;
}

/** The environment a sites file names, or undefined when it is not one renderSiteRegistration() wrote. */
export function parseSiteRegistration(content: string): string | undefined {
  const m = /^environment=([a-z][a-z0-9-]{0,39})\n?$/.exec(content);
  return m?.[1];
}

/** The name of a domain's file in the sites directory: the checked, lowercased domain (Caddy lowercases SNI). */
export function siteFileName(domain: string): string {
  return checkDomain(domain);
}

// ---------------------------------------------------------------------------------------------------------------

function checkEnvironment(s: string): string {
  if (!/^[a-z][a-z0-9-]{0,39}$/.test(s)) {
    throw configError(`environment ${JSON.stringify(s)} is not a plain name (lowercase letters, digits, "-")`);
  }
  return s;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function checkHost(h: string, what: string): string {
  if (IPV4.test(h)) return h;
  try {
    return checkDomain(h);
  } catch {
    throw configError(`${what} host ${JSON.stringify(h)} is not a plain host name or IPv4 address`);
  }
}

/** https://host[:port][/path]: ACME requires HTTPS; no user info, query, fragment or unusual character */
function checkAcmeUrl(s: string): string {
  const m = /^https:\/\/([^/:]+)(?::(\d{1,5}))?(\/[A-Za-z0-9._~/-]*)?$/.exec(s);
  if (!m) {
    throw configError(
      `ACME directory ${JSON.stringify(s)} is not a plain https URL`,
      'write e.g. https://acme-v02.api.letsencrypt.org/directory',
    );
  }
  checkHost(m[1]!, 'ACME directory');
  if (m[2] !== undefined) checkPort(Number(m[2]), 'ACME directory port');
  return s;
}

/** an absolute path of plain characters, no `..` */
function checkPath(s: string, what: string): string {
  if (!/^\/[A-Za-z0-9._/-]*$/.test(s) || s.split('/').includes('..')) {
    throw configError(`${what} ${JSON.stringify(s)} is not a plain absolute path`);
  }
  return s;
}

function checkUpstreamHost(s: string): string {
  return s === FRONT_UPSTREAM_HOST ? s : checkHost(s, 'upstream');
}

function checkAdmin(s: string): string {
  const m = /^(?:localhost|127\.0\.0\.1):(\d{1,5})$/.exec(s);
  if (s !== 'off' && !(m && checkPort(Number(m[1]), 'admin port'))) {
    throw configError(`admin ${JSON.stringify(s)}: write off, localhost:PORT or 127.0.0.1:PORT`);
  }
  return s;
}
