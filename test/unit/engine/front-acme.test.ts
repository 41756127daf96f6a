/**
 * The front proxy's design, for real and without Docker: the rendered front Caddyfile run by the real Caddy
 * (Debian's 2.6.2), certificates issued on demand by pebble (test/harness/acme.ts: pebble + challtestsrv as its
 * DNS), and a backend standing in for an environment's Caddy. All on 127.0.0.1, free ports, one temp dir.
 *
 * Upstream: in production the front proxies to `{host}:80` and Docker's DNS resolves each domain (a network alias
 * of the environment's Caddy). Caddy resolves upstreams with the system resolver, which knows nothing of
 * *.togather.test here, so this test renders `upstreamHost: 127.0.0.1` (the backend's address) instead; the
 * routing by Host is still checked: only registered hosts reach the backend, and the backend sees the Host.
 * Domains end in .test (RFC 2606): certmagic treats .localhost/.local names as internal and would not ask an
 * ACME CA for them; pebble resolves every name through challtestsrv to 127.0.0.1.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { renderFrontCaddyfile, renderSiteRegistration, siteFileName } from '../../../src/engine/front/caddyfile.js';
import { startAcme, freePortOn, type Acme } from '../../harness/acme.js';
import { startLoad } from '../../bench/load.js';
import { logTail, waitFor } from '../../harness/proc.js';

const CADDY = process.env.CADDY_BIN ?? '/usr/bin/caddy';
const PEBBLE = process.env.PEBBLE_BIN ?? '/usr/bin/pebble';
const have = (bin: string) => spawnSync(bin, ['-h'], { stdio: 'ignore' }).error === undefined;
const missing = [CADDY, PEBBLE, 'pebble-challtestsrv', 'openssl'].filter((b) => !have(b));
const skip = missing.length > 0 ? `needs ${missing.join(', ')}` : false;

const STAGING = 'staging.togather.test';
const PRODUCTION = 'production.togather.test';
const UNKNOWN = 'unknown.togather.test';

describe('front proxy: on-demand certificates from pebble, sites registered by file, no reload', { skip }, () => {
  let work: string;
  let sites: string;
  let acme: Acme;
  let caddy: ChildProcess;
  let caddyLog: string;
  let backend: http.Server;
  let httpPort: number;
  let httpsPort: number;
  let askPort: number;
  let issuerRoot: string;
  let caddyfile: string;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'togather-front-'));
    sites = join(work, 'sites');
    mkdirSync(sites);
    backend = http.createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          backend: true,
          host: req.headers.host,
          xff: req.headers['x-forwarded-for'],
          xfp: req.headers['x-forwarded-proto'],
          xfh: req.headers['x-forwarded-host'],
        }),
      );
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
    const backendPort = (backend.address() as { port: number }).port;
    [httpPort, httpsPort, askPort] = [
      await freePortOn('127.0.0.1'),
      await freePortOn('127.0.0.1'),
      await freePortOn('127.0.0.1'),
    ];
    acme = await startAcme({ httpPort, httpsPort, listenHost: '127.0.0.1' });
    issuerRoot = await acme.issuerRootPem();

    caddyfile = join(work, 'Caddyfile');
    writeFileSync(
      caddyfile,
      renderFrontCaddyfile({
        admin: 'off', // never the machine's :2019
        email: 'ops@togather.test',
        acmeCa: acme.directoryUrl,
        acmeCaRootFile: acme.caCertFile,
        askPort,
        sitesDir: sites,
        httpPort,
        httpsPort,
        upstreamHost: '127.0.0.1',
        upstreamPort: backendPort,
        // HTTP-01 goes through the rendered http:// site, TLS-ALPN-01 never leaves Caddy's handshake: prove the
        // former (left to choose, Caddy 2.6.2 picked TLS-ALPN-01, which worked as well)
        challenge: 'http-01',
      }),
    );
    caddyLog = join(work, 'caddy.log');
    await startCaddy(caddyfile);
  });

  /** `caddy run` on the rendered file; its certificate storage and autosave in the temp dir */
  async function startCaddy(caddyfile: string): Promise<void> {
    const xdg = join(work, 'xdg');
    caddy = spawn(CADDY, ['run', '--config', caddyfile, '--adapter', 'caddyfile'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        PATH: process.env.PATH,
        HOME: work,
        XDG_DATA_HOME: join(xdg, 'data'),
        XDG_CONFIG_HOME: join(xdg, 'config'),
      },
    });
    const proc = caddy;
    process.once('exit', () => proc.exitCode === null && proc.signalCode === null && proc.kill('SIGKILL'));
    proc.stderr!.on('data', (d: Buffer) => appendFileSync(caddyLog, d));
    await waitFor('front caddy', async () => ((await plainGet(httpPort, 'x.test')).status === 404 ? true : undefined), {
      timeoutMs: 15_000,
      failFast: () => (proc.exitCode !== null ? `caddy exited ${proc.exitCode}: ${logTail(caddyLog)}` : undefined),
    });
  }

  async function stopCaddy(): Promise<void> {
    if (caddy && caddy.exitCode === null && caddy.signalCode === null) {
      const gone = new Promise((r) => caddy.once('exit', r));
      caddy.kill('SIGTERM');
      await gone;
    }
  }

  after(async () => {
    if (process.env.FRONT_ACME_DEBUG)
      console.log(`--- pebble\n${acme?.pebbleLog()}\n--- caddy\n${logTail(caddyLog, 200)}`);
    await stopCaddy();
    await acme?.stop();
    await new Promise((r) => backend?.close(r));
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const register = (domain: string, env: string) =>
    writeFileSync(join(sites, siteFileName(domain)), renderSiteRegistration(env));
  const unregister = (domain: string) => unlinkSync(join(sites, siteFileName(domain)));

  it('asks itself: 200 only for a registered domain, whatever the query tries', async () => {
    register(STAGING, 'staging');
    const ask = async (q: string) => (await plainGet(askPort, '127.0.0.1', `/?${q}`)).status;
    assert.equal(await ask(`domain=${STAGING}`), 200);
    assert.equal(await ask(`domain=${UNKNOWN}`), 404);
    assert.equal(await ask('domain='), 404, 'an empty name must not match the directory itself');
    assert.equal(await ask(''), 404);
    assert.equal(await ask('domain=.'), 404);
    assert.equal(await ask('domain=..%2F..%2Fetc%2Fpasswd'), 404, 'no way out of the sites directory');
    assert.equal(await ask('domain=..%2Fsites%2F' + STAGING), 404);
    unregister(STAGING);
    assert.equal(await ask(`domain=${STAGING}`), 404);
  });

  it('an unregistered domain gets no certificate, and pebble is never asked for it', async () => {
    const r = await handshake(httpsPort, UNKNOWN, issuerRoot);
    assert.ok(r.error, `the handshake for ${UNKNOWN} must fail, got a certificate for ${r.subjectAltName}`);
    assert.doesNotMatch(acme.pebbleLog(), new RegExp(UNKNOWN.replace(/\./g, '\\.')));
    assert.doesNotMatch(acme.pebbleLog(), /new-order|order-plz/i, 'no order at all so far');
  });

  it('writing the sites file is enough: same Caddy process, a certificate from pebble, the backend answers', async () => {
    const pid = caddy.pid;
    register(STAGING, 'staging');
    const t0 = Date.now();
    const res = await httpsGet(httpsPort, STAGING, issuerRoot, '/hello', { 'x-forwarded-for': '203.0.113.9' });
    const issuanceMs = Date.now() - t0;
    console.log(`# first request for ${STAGING} (issuance included): ${issuanceMs} ms`);
    assert.equal(res.status, 200, res.body);
    assert.equal(res.authorized, true, `chains to pebble's root: ${res.authError}`);
    assert.match(res.subjectAltName ?? '', new RegExp(`DNS:${STAGING.replace(/\./g, '\\.')}`));
    assert.equal(res.issuerRootVerified, true);
    const body = JSON.parse(res.body) as Record<string, string>;
    assert.equal(body.backend, true);
    assert.equal(body.host, `${STAGING}:${httpsPort}`, 'the Host goes to the environment as it came');
    assert.equal(body.xff, '127.0.0.1', "a client's own X-Forwarded-For is dropped, not passed on");
    assert.equal(body.xfp, 'https');
    assert.equal(res.headers['strict-transport-security'], 'max-age=31536000');
    assert.equal(res.headers.server, undefined);
    assert.equal(res.headers['alt-svc'], undefined, 'no HTTP/3 advertised');
    assert.equal(caddy.pid, pid);
    assert.equal(caddy.exitCode, null, 'never restarted');
    assert.match(acme.pebbleLog(), /order-plz|new-order/i);
    assert.match(logTail(caddyLog, 200), /"challenge_type":"http-01"/);

    const again = await httpsGet(httpsPort, STAGING, issuerRoot, '/again');
    assert.equal(again.status, 200);
  });

  it("the load generator's HTTPS lanes (SNI, Host, pinned root) get through the front", async () => {
    const run = await startLoad({
      port: httpsPort,
      tls: { servername: STAGING, ca: issuerRoot },
      lanes: [
        { name: 'ka-get', concurrency: 2 },
        { name: 'fresh-post', concurrency: 1 },
        { name: 'slow', concurrency: 1 },
      ],
      slowMs: [10, 20],
      maxRequestsPerLane: 25,
    });
    await new Promise((r) => setTimeout(r, 500));
    const raws = await run.stop();
    for (const raw of raws) {
      assert.ok(raw.start.length > 0, `${raw.lane} sent nothing`);
      assert.deepEqual(raw.kinds, [], `${raw.lane} failed: ${raw.kinds.join(', ')}`);
    }
    assert.ok((raws.find((r) => r.lane === 'fresh-post')?.postOk ?? 0) > 0);
    // a wrong name: every request fails, by its TLS code
    const wrong = await startLoad({
      port: httpsPort,
      tls: { servername: UNKNOWN, ca: issuerRoot },
      lanes: [{ name: 'ka-get', concurrency: 1 }],
      maxRequestsPerLane: 2,
    });
    const [raw] = await wrong.stop();
    assert.equal(
      raw?.outcome.every((o) => o !== 0),
      true,
    );
    assert.ok(raw?.kinds.length, 'a named failure');
  });

  it('plain HTTP: a registered host is redirected to HTTPS, anything else is 404', async () => {
    const r = await plainGet(httpPort, STAGING, '/x?y=1');
    assert.equal(r.status, 308);
    assert.equal(r.headers.location, `https://${STAGING}/x?y=1`);
    assert.equal((await plainGet(httpPort, UNKNOWN, '/x')).status, 404);
  });

  it('a known certificate with an unregistered Host: 421, the backend never sees it', async () => {
    const r = await httpsGet(httpsPort, STAGING, issuerRoot, '/', {}, UNKNOWN);
    assert.equal(r.status, 421);
    assert.doesNotMatch(r.body, /backend/);
    const upper = await httpsGet(httpsPort, STAGING, issuerRoot, '/', {}, STAGING.toUpperCase());
    // the file matcher compares the Host as sent (case-sensitive file names): browsers send it lowercase
    assert.equal(upper.status, 421, 'an upper-case Host is not registered');
  });

  it('a second environment comes and goes without a reload; once removed its cached certificate still handshakes, requests get 421', async () => {
    const pid = caddy.pid;
    register(PRODUCTION, 'production');
    const t0 = Date.now();
    const r = await httpsGet(httpsPort, PRODUCTION, issuerRoot, '/');
    console.log(`# first request for ${PRODUCTION} (issuance included): ${Date.now() - t0} ms`);
    assert.equal(r.status, 200);
    assert.equal(r.authorized, true);

    unregister(PRODUCTION);
    // Caddy 2.6.2 keeps the issued certificate in memory (and in storage): a new handshake still succeeds, the
    // file matcher then turns every request away. Nothing reaches the environment.
    const h = await handshake(httpsPort, PRODUCTION, issuerRoot);
    assert.equal(h.error, undefined, 'the cached certificate is still served');
    const gone = await httpsGet(httpsPort, PRODUCTION, issuerRoot, '/');
    assert.equal(gone.status, 421);
    assert.doesNotMatch(gone.body, /backend/);
    assert.equal(caddy.pid, pid);
  });

  it('a name registered then removed before its first handshake never gets a certificate', async () => {
    const name = 'removed.togather.test';
    register(name, 'review');
    unregister(name);
    const h = await handshake(httpsPort, name, issuerRoot);
    assert.ok(h.error, 'no certificate');
    assert.doesNotMatch(acme.pebbleLog(), /removed\.togather\.test/);
    // the staging site is untouched by all this
    assert.equal((await httpsGet(httpsPort, STAGING, issuerRoot, '/')).status, 200);
  });

  // Caddy 2.6.2 does not consult `ask` for a certificate it finds in storage
  it('after a restart, stored certificates serve: no new order; a removed name still handshakes, gets 421', async () => {
    const issued = () => acme.pebbleLog().match(/Issued certificate serial/g)?.length ?? 0;
    const before = issued();
    await stopCaddy();
    await startCaddy(caddyfile);
    const r = await httpsGet(httpsPort, STAGING, issuerRoot, '/');
    assert.equal(r.status, 200);
    assert.equal(r.authorized, true);
    const h = await handshake(httpsPort, PRODUCTION, issuerRoot);
    assert.equal(h.error, undefined, 'the stored certificate of a removed name is loaded without asking');
    assert.equal((await httpsGet(httpsPort, PRODUCTION, issuerRoot, '/')).status, 421);
    assert.ok((await handshake(httpsPort, UNKNOWN, issuerRoot)).error);
    assert.equal(issued(), before, 'nothing new was ordered');
  });
});

// ---------------------------------------------------------------------------------------------------------------

interface HttpsAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  authorized: boolean;
  authError?: string;
  subjectAltName?: string;
  /** the chain the server sent ends in a certificate that `root` signed */
  issuerRootVerified: boolean;
}

function plainGet(
  port: number,
  host: string,
  path = '/',
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers: { host }, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** GET over TLS to 127.0.0.1:port with SNI `servername`, trusting only `root`; Host defaults to servername:port. */
function httpsGet(
  port: number,
  servername: string,
  root: string,
  path: string,
  headers: Record<string, string> = {},
  host = `${servername}:${port}`,
): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      {
        host: '127.0.0.1',
        port,
        servername,
        ca: root,
        path,
        agent: false,
        headers: { ...headers, host },
        timeout: 30_000,
      },
      (res) => {
        const sock = res.socket as tls.TLSSocket;
        const peer = sock.getPeerCertificate(true);
        let last = peer;
        while (last.issuerCertificate && last.issuerCertificate !== last) last = last.issuerCertificate;
        const rootCert = new X509Certificate(root);
        const lastCert = new X509Certificate(last.raw);
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            authorized: sock.authorized,
            authError: sock.authorizationError?.toString(),
            subjectAltName: peer.subjectaltname,
            issuerRootVerified: lastCert.fingerprint256 === rootCert.fingerprint256 || lastCert.checkIssued(rootCert),
          }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** A bare TLS handshake with SNI `servername`: the certificate's SANs, or the error. */
function handshake(
  port: number,
  servername: string,
  root: string,
): Promise<{ error?: string; subjectAltName?: string }> {
  return new Promise((resolve) => {
    const sock = tls.connect({ host: '127.0.0.1', port, servername, ca: root, timeout: 30_000 }, () => {
      const san = sock.getPeerCertificate().subjectaltname;
      sock.end();
      resolve({ subjectAltName: san });
    });
    sock.on('timeout', () => {
      sock.destroy();
      resolve({ error: 'timeout' });
    });
    sock.on('error', (e) => resolve({ error: e.message }));
  });
}
