/**
 * The Caddy files are checked by the real `caddy adapt` (Debian's caddy 2.6.2, the oldest Caddy we support),
 * not by string matching: each Caddyfile is placed in a temp dir beside a rendered togather.caddy, adapted to
 * JSON, and the JSON is asserted on.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DeployError } from '../../../../src/errors.js';
import {
  NO_STORE_PATHS,
  UPSTREAMS_FILE,
  checkDomain,
  renderDefaultSite,
  renderUpstreams,
} from '../../../../src/engine/release/caddyfile.js';

const CADDY = process.env.CADDY_BIN ?? 'caddy';
const DOCKER_DIR = fileURLToPath(new URL('../../../../docker/', import.meta.url));
const UPSTREAMS = { appPort: 8080, healthInterval: '500ms', healthTimeout: '400ms' };

const work = mkdtempSync(join(tmpdir(), 'togather-caddy-'));
after(() => rmSync(work, { recursive: true, force: true }));

function caddyAvailable(): void {
  const r = spawnSync(CADDY, ['version'], { encoding: 'utf8' });
  if (r.status !== 0)
    throw new Error(`these tests run the real Caddy: install it (apt-get install caddy) or set CADDY_BIN`);
}

let n = 0;
/** Adapt `caddyfile` placed beside a rendered togather.caddy; cwd elsewhere, so the import must be file-relative. */
function adapt(caddyfile: string, upstreams = renderUpstreams(UPSTREAMS)): { json: CaddyJson; stderr: string } {
  caddyAvailable();
  const dir = join(work, String(++n));
  execFileSync('mkdir', ['-p', dir]);
  writeFileSync(join(dir, UPSTREAMS_FILE), upstreams);
  writeFileSync(join(dir, 'Caddyfile'), caddyfile);
  const r = spawnSync(CADDY, ['adapt', '--config', join(dir, 'Caddyfile'), '--adapter', 'caddyfile', '--validate'], {
    cwd: work,
    encoding: 'utf8',
    // --validate provisions the TLS app, which wants a storage dir: keep it in the temp dir
    env: { ...process.env, HOME: dir, XDG_DATA_HOME: join(dir, 'data'), XDG_CONFIG_HOME: join(dir, 'config') },
  });
  assert.equal(r.status, 0, `caddy adapt failed:\n${r.stderr}`);
  return { json: JSON.parse(r.stdout) as CaddyJson, stderr: r.stderr };
}

// Just the parts of Caddy's JSON that the assertions walk.
type Handler = { handler: string; routes?: Route[]; [k: string]: unknown };
type Route = { match?: Array<Record<string, unknown>>; handle?: Handler[] };
type Server = { listen: string[]; routes?: Route[] };
type CaddyJson = { apps: { http: { servers: Record<string, Server> }; tls?: unknown } };

/** Every handler in a server, with the matchers on the path to it. */
function handlers(server: Server): Array<{ h: Handler; match: Array<Record<string, unknown>> }> {
  const out: Array<{ h: Handler; match: Array<Record<string, unknown>> }> = [];
  const walk = (routes: Route[] | undefined, match: Array<Record<string, unknown>>) => {
    for (const r of routes ?? []) {
      const m = [...match, ...(r.match ?? [])];
      for (const h of r.handle ?? []) {
        out.push({ h, match: m });
        if (h.handler === 'subroute') walk(h.routes, m);
      }
    }
  };
  walk(server.routes, []);
  return out;
}

function server(json: CaddyJson, listen: string): Server {
  const s = Object.values(json.apps.http.servers).find((x) => x.listen.includes(listen));
  assert.ok(
    s,
    `no server listens on ${listen}: ${JSON.stringify(Object.values(json.apps.http.servers).map((x) => x.listen))}`,
  );
  return s;
}

function assertUpstreams(s: Server): void {
  const proxies = handlers(s).filter((x) => x.h.handler === 'reverse_proxy');
  assert.equal(proxies.length, 1, 'one reverse_proxy per server');
  const rp = proxies[0]!.h as Handler & {
    upstreams: Array<{ dial: string }>;
    load_balancing: {
      selection_policy: { policy: string };
      try_duration: number;
      try_interval: number;
      retry_match: unknown;
    };
    health_checks: { active: { port: number; uri: string; interval: number; timeout: number }; passive?: unknown };
    headers: { response: { set: Record<string, string[]> } };
  };
  assert.deepEqual(
    rp.upstreams.map((u) => u.dial),
    ['app-blue:8080', 'app-green:8080'],
  );
  assert.equal(rp.load_balancing.selection_policy.policy, 'first');
  assert.equal(rp.load_balancing.try_duration, 5e9);
  assert.equal(rp.load_balancing.try_interval, 50e6);
  // GET keeps Caddy's default retries; any other method is retried only while no upstream has received it
  assert.deepEqual(rp.load_balancing.retry_match, [
    { method: ['GET'] },
    { expression: '{http.reverse_proxy.upstream.hostport} == null' },
  ]);
  assert.deepEqual(rp.health_checks.active, { port: 8081, uri: '/ready', interval: 500e6, timeout: 400e6 });
  assert.equal(rp.health_checks.passive, undefined, 'no passive checks (fail_duration): see switch.md');
  assert.deepEqual(rp.headers.response.set['X-Togather-Upstream'], ['{http.reverse_proxy.upstream.host}']);
}

type HeadersHandler = Handler & { response: { set?: Record<string, string[]>; delete?: string[]; deferred?: boolean } };

function assertSecurityHeaders(s: Server, hsts: boolean, extra: Record<string, string> = {}): void {
  const hs = handlers(s)
    .filter((x) => x.h.handler === 'headers' && x.match.every((m) => !('path' in m)))
    .map((x) => x.h as HeadersHandler);
  const set = Object.assign({}, ...hs.map((h) => h.response.set ?? {})) as Record<string, string[]>;
  const deleted = hs.flatMap((h) => h.response.delete ?? []);
  assert.deepEqual(set['X-Content-Type-Options'], ['nosniff']);
  assert.ok(set['Referrer-Policy']?.[0], 'Referrer-Policy');
  assert.ok(set['X-Frame-Options']?.[0], 'X-Frame-Options');
  assert.ok(deleted.includes('Server'), 'Server header removed');
  assert.ok(
    hs.every((h) => h.response.deferred),
    'deferred, so they override what the app sends',
  );
  if (hsts) assert.match(set['Strict-Transport-Security']?.[0] ?? '', /^max-age=\d{7,}/);
  else assert.equal(set['Strict-Transport-Security'], undefined, 'no HSTS on plain HTTP');
  for (const [k, v] of Object.entries(extra)) assert.deepEqual(set[k], [v]);

  const noStore = handlers(s).find(
    (x) => x.h.handler === 'headers' && (x.h as HeadersHandler).response.set?.['Cache-Control']?.[0] === 'no-store',
  );
  assert.ok(noStore, 'Cache-Control: no-store handler');
  assert.deepEqual(
    noStore.match.flatMap((m) => (m.path as string[] | undefined) ?? []),
    [...NO_STORE_PATHS],
  );
  assert.equal((noStore.h as HeadersHandler).response.deferred, true);
}

function assertInternalSite(json: CaddyJson): void {
  const internal = server(json, ':8088');
  assertUpstreams(internal);
  assert.equal(handlers(internal).filter((x) => x.h.handler === 'headers').length, 0, 'internal site has no extras');
}

const notFormatted = (stderr: string) => /not formatted/.test(stderr);

describe('rendered togather.caddy + default Caddyfile, through caddy adapt', () => {
  it('without domains: :80 serves both colours, first-healthy, gate health checks; internal :8088', () => {
    const { json, stderr } = adapt(renderDefaultSite({ domains: [] }));
    assert.ok(!notFormatted(stderr), stderr);
    assertUpstreams(server(json, ':80'));
    assertSecurityHeaders(server(json, ':80'), false);
    assertInternalSite(json);
    assert.equal(Object.keys(json.apps.http.servers).length, 2);
  });

  it('with domains: automatic HTTPS on :443 for exactly those names, HSTS, internal :8088 still plain HTTP', () => {
    const { json, stderr } = adapt(
      renderDefaultSite({ domains: ['togather.example.org', 'WWW.Togather.example.org'], email: 'ops@example.org' }),
    );
    assert.ok(!notFormatted(stderr), stderr);
    const https = server(json, ':443');
    assertUpstreams(https);
    assertSecurityHeaders(https, true);
    const hosts = (https.routes ?? []).flatMap((r) =>
      (r.match ?? []).flatMap((m) => (m.host as string[] | undefined) ?? []),
    );
    assert.deepEqual(hosts, ['togather.example.org', 'www.togather.example.org']);
    assertInternalSite(json);
    assert.match(JSON.stringify(json.apps.tls), /"email":"ops@example\.org"/);
  });

  it('honours a non-default health interval/timeout, app port and HTTP port', () => {
    const up = renderUpstreams({ appPort: 9000, healthInterval: '1s', healthTimeout: '750ms', tryDuration: '2s' });
    const { json } = adapt(renderDefaultSite({ domains: [], httpPort: 8000 }), up);
    const rp = handlers(server(json, ':8000')).find((x) => x.h.handler === 'reverse_proxy')!.h as Handler & {
      upstreams: Array<{ dial: string }>;
      health_checks: { active: { interval: number; timeout: number } };
      load_balancing: { try_duration: number };
    };
    assert.deepEqual(
      rp.upstreams.map((u) => u.dial),
      ['app-blue:9000', 'app-green:9000'],
    );
    assert.equal(rp.health_checks.active.interval, 1e9);
    assert.equal(rp.health_checks.active.timeout, 750e6);
    assert.equal(rp.load_balancing.try_duration, 2e9);
  });

  it('the assertions do catch a fail_duration, a round_robin policy or a site without the snippet', () => {
    const base = renderUpstreams(UPSTREAMS);
    const site = renderDefaultSite({ domains: [] });
    const withFail = base.replace('\t\tlb_policy first\n', '\t\tlb_policy first\n\t\tfail_duration 10s\n');
    const roundRobin = base.replace('lb_policy first', 'lb_policy round_robin');
    assert.throws(() => assertUpstreams(server(adapt(site, withFail).json, ':80')), /passive/);
    assert.throws(() => assertUpstreams(server(adapt(site, roundRobin).json, ':80')), /round_robin/);
    const noSnippet = site.replace('\timport togather_upstreams\n', '\trespond "hi"\n');
    assert.throws(() => assertUpstreams(server(adapt(noSnippet).json, ':80')), /one reverse_proxy/);
  });

  it('togather.caddy alone is formatted as caddy fmt would write it', () => {
    const dir = join(work, 'fmt');
    execFileSync('mkdir', ['-p', dir]);
    writeFileSync(join(dir, UPSTREAMS_FILE), renderUpstreams(UPSTREAMS));
    const r = spawnSync(CADDY, ['fmt', join(dir, UPSTREAMS_FILE)], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, renderUpstreams(UPSTREAMS));
  });
});

describe('docker/Caddyfile.production and Caddyfile.staging, through caddy adapt', () => {
  for (const [file, extra] of [
    ['Caddyfile.production', {}],
    ['Caddyfile.staging', { 'X-Robots-Tag': 'noindex, nofollow' }],
  ] as const) {
    it(`${file}: follows the contract`, () => {
      const text = readFileSync(join(DOCKER_DIR, file), 'utf8');
      assert.match(text, /^import togather\.caddy$/m);
      assert.doesNotMatch(
        text.replace(/#.*$/gm, ''),
        /app-(blue|green)|reverse_proxy/,
        'colours only through the snippet',
      );
      const { json, stderr } = adapt(text);
      assert.ok(!notFormatted(stderr), stderr);
      const https = server(json, ':443');
      assertUpstreams(https);
      assertSecurityHeaders(https, true, extra);
      assertInternalSite(json);
    });
  }
});

describe('values interpolated into Caddy config are validated', () => {
  const isConfigError = (e: unknown) => e instanceof DeployError && e.kind === 'config';

  it('rejects domains that are not plain host names, injection attempts included', () => {
    for (const bad of [
      'example.com { }',
      'example.com {\n\trespond "pwned"\n}',
      'example.com\nevil.example.org',
      'example.com, evil.org',
      'https://example.com',
      'example.com:8443',
      'example.com/path',
      '*.example.com',
      '-bad.example.com',
      'example..com',
      'example',
      '',
      `${'a'.repeat(64)}.example.com`,
      'exa mple.com',
      'example.com{',
      'import /etc/passwd',
    ]) {
      assert.throws(() => renderDefaultSite({ domains: [bad] }), isConfigError, JSON.stringify(bad));
    }
    assert.throws(() => renderDefaultSite({ domains: ['a.example.org', 'A.example.org'] }), /twice/);
    assert.equal(checkDomain('Togather.Example.ORG'), 'togather.example.org');
    assert.equal(checkDomain('localhost'), 'localhost');
  });

  it('rejects bad ports, e-mails and durations', () => {
    for (const port of [0, 65536, 80.5, -1, Number.NaN]) {
      assert.throws(() => renderDefaultSite({ domains: [], httpPort: port }), isConfigError);
      assert.throws(() => renderUpstreams({ ...UPSTREAMS, appPort: port }), isConfigError);
    }
    for (const email of ['ops@example.org\n}', 'ops example.org', 'ops@', '"a"@example.org']) {
      assert.throws(() => renderDefaultSite({ domains: ['example.org'], email }), isConfigError, email);
    }
    for (const d of ['', '500', '0s', '5 s', '1s\n}', '-1s', '1d']) {
      assert.throws(() => renderUpstreams({ ...UPSTREAMS, healthInterval: d }), isConfigError, JSON.stringify(d));
      assert.throws(() => renderUpstreams({ ...UPSTREAMS, tryDuration: d }), isConfigError, JSON.stringify(d));
    }
  });

  it('rejects a health timeout not shorter than the interval (measured to flap)', () => {
    assert.throws(() => renderUpstreams({ ...UPSTREAMS, healthTimeout: '500ms' }), /shorter than the health interval/);
    assert.throws(() => renderUpstreams({ ...UPSTREAMS, healthInterval: '1s', healthTimeout: '1m' }), /shorter/);
    assert.doesNotThrow(() => renderUpstreams({ ...UPSTREAMS, healthInterval: '1m', healthTimeout: '59s' }));
  });
});
