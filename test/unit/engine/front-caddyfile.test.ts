/**
 * The front Caddyfile: rendered, then adapted to JSON by the real `caddy adapt` (Debian's 2.6.2) and asserted on;
 * every value that reaches the file is checked (no way to smuggle a directive in). The running proof, with real
 * certificates, is front-acme.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DeployError } from '../../../src/errors.js';
import {
  FRONT_ASK_PORT,
  FRONT_HSTS,
  FRONT_SITES_DIR,
  parseSiteRegistration,
  renderFrontCaddyfile,
  renderSiteRegistration,
  siteFileName,
  type FrontParams,
} from '../../../src/engine/front/caddyfile.js';

const CADDY = process.env.CADDY_BIN ?? '/usr/bin/caddy';
const noCaddy = !existsSync(CADDY) ? `${CADDY} is missing` : false;

const work = mkdtempSync(join(tmpdir(), 'togather-front-caddyfile-'));
after(() => rmSync(work, { recursive: true, force: true }));

// the parts of Caddy's JSON these tests look at
interface Route {
  match?: Record<string, unknown>[];
  handle?: Handler[];
  terminal?: boolean;
}
interface Handler {
  handler: string;
  routes?: Route[];
  [k: string]: unknown;
}
interface CaddyJson {
  admin?: { disabled?: boolean; listen?: string };
  apps: {
    http: {
      http_port?: number;
      https_port?: number;
      servers: Record<
        string,
        { listen: string[]; routes: Route[]; read_header_timeout?: number; idle_timeout?: number; protocols?: string[] }
      >;
    };
    tls: {
      automation: {
        policies: { on_demand?: boolean; issuers?: Record<string, unknown>[] }[];
        on_demand?: { ask?: string };
      };
    };
  };
}

let n = 0;
function adapt(text: string): CaddyJson {
  const file = join(work, `Caddyfile.${++n}`);
  writeFileSync(file, text);
  const r = spawnSync(CADDY, ['adapt', '--config', file, '--adapter', 'caddyfile'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /"level":"warn"/, `caddy adapt warned:\n${r.stderr}`);
  return JSON.parse(r.stdout) as CaddyJson;
}

/** every handler in a route tree, depth first */
function handlers(routes: Route[]): Handler[] {
  return routes.flatMap((r) => (r.handle ?? []).flatMap((h) => [h, ...handlers(h.routes ?? [])]));
}

function server(j: CaddyJson, listen: string) {
  const s = Object.values(j.apps.http.servers).find((v) => v.listen.includes(listen));
  assert.ok(
    s,
    `a server listening on ${listen}: ${JSON.stringify(Object.values(j.apps.http.servers).map((v) => v.listen))}`,
  );
  return s;
}

describe('renderFrontCaddyfile', () => {
  it(
    'defaults: ports 80/443, ask on 127.0.0.1:FRONT_ASK_PORT, the sites dir, {host}:80 upstream',
    { skip: noCaddy },
    () => {
      const text = renderFrontCaddyfile();
      const j = adapt(text);
      assert.equal(j.admin, undefined, "Caddy's own admin default (localhost:2019 in the container)");
      assert.equal(j.apps.tls.automation.on_demand?.ask, `http://127.0.0.1:${FRONT_ASK_PORT}/`);
      assert.equal(j.apps.tls.automation.policies[0]?.on_demand, true);
      assert.equal(j.apps.tls.automation.policies[0]?.issuers, undefined, "Caddy's default issuers");

      const ask = server(j, `127.0.0.1:${FRONT_ASK_PORT}`);
      const askFiles = handlers(ask.routes);
      assert.ok(askFiles.some((h) => h.handler === 'static_response' && h.status_code === 200));
      assert.match(
        JSON.stringify(ask.routes),
        new RegExp(`"root":"${FRONT_SITES_DIR}","try_files":\\["/\\{http.request.uri.query.domain\\}"\\]`),
      );

      const tlsSrv = server(j, ':443');
      assert.equal(tlsSrv.read_header_timeout, 10e9);
      assert.equal(tlsSrv.idle_timeout, 120e9);
      assert.deepEqual(tlsSrv.protocols, ['h1', 'h2'], 'no HTTP/3: only TCP is published');
      const hs = handlers(tlsSrv.routes);
      const proxy = hs.find((h) => h.handler === 'reverse_proxy');
      assert.ok(proxy);
      assert.deepEqual(proxy.upstreams, [{ dial: '{http.request.host}:80' }]);
      assert.equal((proxy.load_balancing as { try_duration: number }).try_duration, 5e9);
      assert.equal(JSON.stringify(proxy).includes('fail_duration'), false);
      assert.ok(hs.some((h) => h.handler === 'static_response' && h.status_code === 421));
      const headers = hs.find((h) => h.handler === 'headers');
      assert.deepEqual((headers?.response as { set: unknown }).set, { 'Strict-Transport-Security': [FRONT_HSTS] });
      assert.match(JSON.stringify(tlsSrv.routes), /"try_files":\["\/\{http.request.host\}"\]/);

      const plain = server(j, ':80');
      const ph = handlers(plain.routes);
      assert.ok(ph.some((h) => h.handler === 'static_response' && h.status_code === 308));
      assert.ok(ph.some((h) => h.handler === 'static_response' && h.status_code === 404));
    },
  );

  it('every option reaches the JSON', { skip: noCaddy }, () => {
    const p: FrontParams = {
      email: 'ops@example.org',
      acmeCa: 'https://172.17.0.1:14000/dir',
      acmeCaRootFile: '/etc/caddy/acme-ca.pem',
      askPort: 9123,
      sitesDir: '/srv/front/sites',
      httpPort: 8080,
      httpsPort: 8443,
      upstreamHost: '127.0.0.1',
      upstreamPort: 9000,
      admin: 'off',
      challenge: 'http-01',
    };
    const j = adapt(renderFrontCaddyfile(p));
    assert.equal(j.admin?.disabled, true);
    assert.equal(j.apps.http.http_port, 8080);
    assert.equal(j.apps.http.https_port, 8443);
    const issuer = j.apps.tls.automation.policies[0]?.issuers?.[0];
    assert.deepEqual(issuer, {
      ca: 'https://172.17.0.1:14000/dir',
      challenges: { 'tls-alpn': { disabled: true } },
      email: 'ops@example.org',
      module: 'acme',
      trusted_roots_pem_files: ['/etc/caddy/acme-ca.pem'],
    });
    assert.equal(j.apps.tls.automation.on_demand?.ask, 'http://127.0.0.1:9123/');
    const tlsSrv = server(j, ':8443');
    assert.deepEqual(handlers(tlsSrv.routes).find((h) => h.handler === 'reverse_proxy')?.upstreams, [
      { dial: '127.0.0.1:9000' },
    ]);
    assert.match(JSON.stringify(tlsSrv.routes), /"root":"\/srv\/front\/sites"/);
    server(j, ':8080');
    server(j, '127.0.0.1:9123');

    const tlsAlpn = adapt(renderFrontCaddyfile({ challenge: 'tls-alpn-01', admin: 'localhost:2999' }));
    assert.deepEqual(tlsAlpn.apps.tls.automation.policies[0]?.issuers?.[0]?.challenges, { http: { disabled: true } });
    assert.equal(tlsAlpn.admin?.listen, 'localhost:2999');
  });

  const rejects = (p: FrontParams, re: RegExp) =>
    assert.throws(
      () => renderFrontCaddyfile(p),
      (e: unknown) => e instanceof DeployError && e.kind === 'config' && re.test(e.message),
    );

  it('rejects anything that could change the structure: e-mail', () => {
    for (const email of ['a@b.org\n}\nhttp://evil {', 'a@b.org {', 'a b@c.org', 'a@b.org}', '', '{env.X}@b.org'])
      rejects({ email }, /e-mail/);
  });

  it('rejects anything that could change the structure: ACME directory URL', () => {
    for (const acmeCa of [
      'http://acme.example.org/dir', // ACME is HTTPS
      'https://acme.example.org/dir\n\tadmin 0.0.0.0:2019',
      'https://acme.example.org/dir {',
      'https://acme.example.org/dir}',
      'https://acme.example.org/d ir',
      'https://user:pw@acme.example.org/dir',
      'https://acme.example.org/dir?x=1',
      'https://acme.example.org/{env.HOME}',
      'https://acme.example.org:99999/dir',
      'https://-bad-.example.org/dir',
      'https://acme.example.org:14000/dir#x',
      'file:///etc/passwd',
    ])
      rejects({ acmeCa }, /ACME directory/);
  });

  it('rejects anything that could change the structure: paths, hosts, ports, admin, challenge', () => {
    for (const acmeCaRootFile of [
      'relative.pem',
      '/etc/caddy/a b.pem',
      '/etc/caddy/{x}.pem',
      '/etc/../etc/passwd',
      '/a\n}',
    ])
      rejects({ acmeCaRootFile }, /ACME CA root file/);
    for (const sitesDir of ['sites', '/etc/caddy/sites }', '/etc/caddy/../..', '/x\ny'])
      rejects({ sitesDir }, /sites directory/);
    for (const upstreamHost of ['{http.request.uri}', 'a b', 'host:80', 'h/x', '{host}x'])
      rejects({ upstreamHost }, /upstream/);
    rejects({ askPort: 0 }, /ask port/);
    rejects({ httpPort: 70000 }, /HTTP port/);
    rejects({ httpsPort: 1.5 }, /HTTPS port/);
    rejects({ upstreamPort: -1 }, /upstream port/);
    rejects({ httpPort: 8080, httpsPort: 8080 }, /must differ/);
    for (const admin of ['0.0.0.0:2019', ':2019', 'off }', 'localhost:2019\n', 'localhost:0'])
      rejects({ admin }, /admin/);
    rejects({ challenge: 'dns-01' as 'http-01' }, /challenge/);
  });

  it('a valid render never contains a value it did not check (no stray brace or newline)', () => {
    const text = renderFrontCaddyfile({ email: 'o@x.org', acmeCa: 'https://acme.x.org/dir', acmeCaRootFile: '/r.pem' });
    const opens = text.split('').filter((c) => c === '{').length;
    const closes = text.split('').filter((c) => c === '}').length;
    assert.equal(opens, closes);
  });
});

describe('sites registration files', () => {
  it('names the file after the lowercased domain; rejects anything else', () => {
    assert.equal(siteFileName('Staging.Example.org'), 'staging.example.org');
    for (const bad of ['../x', 'a/b.org', '.', '..', '', 'x.org\n', '*.example.org', 'example.org:443'])
      assert.throws(() => siteFileName(bad), DeployError);
  });

  it('records the environment, and reads it back', () => {
    assert.equal(renderSiteRegistration('staging'), 'environment=staging\n');
    assert.equal(parseSiteRegistration(renderSiteRegistration('review-42')), 'review-42');
    assert.equal(parseSiteRegistration('garbage'), undefined);
    assert.equal(parseSiteRegistration(''), undefined);
    for (const bad of ['Staging', 'a b', 'x\nenvironment=y', '', '-x'])
      assert.throws(() => renderSiteRegistration(bad), DeployError);
  });
});
