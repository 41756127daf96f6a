/**
 * A private ACME CA for the front proxy's tests: pebble (Let's Encrypt's test server) with pebble-challtestsrv as
 * its DNS, both on this machine, everything under a temp dir.
 *
 *  - challtestsrv answers every A query with `dnsAnswer` (default 127.0.0.1, where the harness publishes the
 *    front Caddy's ports) and no AAAA; its HTTP-01/TLS-ALPN-01 servers are off, its management API on a free
 *    loopback port (it has no "off": an empty address would bind :80);
 *  - pebble validates a name by connecting to <dnsAnswer>:httpPort (HTTP-01) or :httpsPort (TLS-ALPN-01): the
 *    front Caddy's HTTP/HTTPS ports as seen from this machine (where the container's 80/443 are published);
 *  - pebble's ACME API listens on listenHost: an address the front Caddy reaches this machine at (the docker
 *    bridge's gateway for a container, which extra_hosts host-gateway also names host.docker.internal; 127.0.0.1
 *    for a Caddy running here). Its HTTPS certificate is made here, self-signed, for listenHost, 127.0.0.1,
 *    localhost and host.docker.internal: `caCertPem`, what the front Caddy's acme_ca_root must point at. Its
 *    management API (roots) stays on 127.0.0.1;
 *  - pebble signs issued certificates (leaf + one intermediate, SAN = the domain, valid ~5 years) with a root it
 *    generates at each start: issuerRootPem() fetches it. A front Caddy whose certificate storage outlives this
 *    pebble keeps serving certificates under a root nobody trusts any more: give it fresh storage.
 *
 * PEBBLE_VA_NOSLEEP=1 (no random validation delay) and PEBBLE_WFE_NONCEREJECT=0 (no deliberate bad nonces) keep
 * issuance to about a second. Both processes die on stop() and when this process exits.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanEnv, logTail, textAnswer, waitFor } from './proc.js';

export interface AcmeOptions {
  /** the front Caddy's HTTP and HTTPS ports as reachable from this machine at dnsAnswer (pebble validates there) */
  httpPort: number;
  httpsPort: number;
  /** address pebble's ACME API listens on: one the front Caddy can reach this machine at */
  listenHost: string;
  /** what every name resolves to for pebble; default 127.0.0.1 */
  dnsAnswer?: string;
}

export interface Acme {
  /** https://<listenHost>:<port>/dir */
  directoryUrl: string;
  /** PEM of the certificate pebble's API serves (self-signed): the front Caddy's acme_ca_root */
  caCertPem: string;
  /** the same, as a file */
  caCertFile: string;
  /** the root that signs the certificates pebble issues (new at every pebble start) */
  issuerRootPem(): Promise<string>;
  /** pebble's log so far (each ACME request, and the names of issued orders) */
  pebbleLog(): string;
  /** the temp dir holding configs, certificate and logs */
  dir: string;
  stop(): Promise<void>;
}

const PEBBLE = process.env.PEBBLE_BIN ?? 'pebble';
const CHALLTESTSRV = process.env.PEBBLE_CHALLTESTSRV_BIN ?? 'pebble-challtestsrv';

const live = new Set<ChildProcess>();
let exitHook = false;
function killAllOnExit(): void {
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });
}

export async function startAcme(opts: AcmeOptions): Promise<Acme> {
  const dir = mkdtempSync(join(tmpdir(), 'togather-acme-'));
  const dnsAnswer = opts.dnsAnswer ?? '127.0.0.1';
  const children: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(children.map(stopChild));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // pebble's own HTTPS certificate, for every address a client may name it by
    const caCertFile = join(dir, 'pebble-cert.pem');
    const keyFile = join(dir, 'pebble-key.pem');
    // host.docker.internal: what a container with extra_hosts host-gateway calls this machine
    const sans = [...new Set([opts.listenHost, '127.0.0.1', 'localhost', 'host.docker.internal'])].map((h) =>
      net.isIP(h) ? `IP:${h}` : `DNS:${h}`,
    );
    const ssl = spawnSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        keyFile,
        '-out',
        caCertFile,
        '-days',
        '2',
        '-subj',
        '/CN=togather test pebble',
        '-addext',
        `subjectAltName=${sans.join(',')}`,
      ],
      { encoding: 'utf8' },
    );
    if (ssl.status !== 0) throw new Error(`openssl req failed: ${ssl.stderr || ssl.error?.message}`);
    const caCertPem = readFileSync(caCertFile, 'utf8');

    const dnsPort = await freePortOn('127.0.0.1');
    const ctsMgmtPort = await freePortOn('127.0.0.1');
    const ctsLog = join(dir, 'challtestsrv.log');
    children.push(
      start(
        CHALLTESTSRV,
        [
          '-defaultIPv4',
          dnsAnswer,
          '-defaultIPv6',
          '',
          '-dns01',
          `127.0.0.1:${dnsPort}`,
          '-http01',
          '',
          '-https01',
          '',
          '-tlsalpn01',
          '',
          '-management',
          `127.0.0.1:${ctsMgmtPort}`,
        ],
        ctsLog,
        {},
      ),
    );
    const resolver = new Resolver({ timeout: 500, tries: 1 });
    resolver.setServers([`127.0.0.1:${dnsPort}`]);
    await waitFor(
      'pebble-challtestsrv DNS',
      async () => ((await resolver.resolve4('probe.togather.test')).includes(dnsAnswer) ? true : undefined),
      { timeoutMs: 10_000, failFast: exited(children[0]!, ctsLog) },
    );

    const port = await freePortOn(opts.listenHost);
    const mgmtPort = await freePortOn('127.0.0.1');
    const config = join(dir, 'pebble-config.json');
    writeFileSync(
      config,
      JSON.stringify({
        pebble: {
          listenAddress: `${opts.listenHost}:${port}`,
          managementListenAddress: `127.0.0.1:${mgmtPort}`,
          certificate: caCertFile,
          privateKey: keyFile,
          httpPort: opts.httpPort,
          tlsPort: opts.httpsPort,
          ocspResponderURL: '',
          externalAccountBindingRequired: false,
        },
      }),
    );
    const pebbleLog = join(dir, 'pebble.log');
    children.push(
      start(PEBBLE, ['-config', config, '-dnsserver', `127.0.0.1:${dnsPort}`], pebbleLog, {
        PEBBLE_VA_NOSLEEP: '1',
        PEBBLE_WFE_NONCEREJECT: '0',
      }),
    );
    const directoryUrl = `https://${hostPort(opts.listenHost, port)}/dir`;
    await waitFor('pebble', async () => ((await get(directoryUrl, caCertPem)).status === 200 ? true : undefined), {
      timeoutMs: 15_000,
      failFast: exited(children[1]!, pebbleLog),
    });

    return {
      directoryUrl,
      caCertPem,
      caCertFile,
      dir,
      pebbleLog: () => {
        try {
          return readFileSync(pebbleLog, 'utf8');
        } catch {
          return '';
        }
      },
      async issuerRootPem() {
        const r = await get(`https://127.0.0.1:${mgmtPort}/roots/0`, caCertPem);
        if (r.status !== 200) throw new Error(`pebble /roots/0 answered ${r.status}`);
        return r.body;
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

function start(prog: string, args: string[], logFile: string, env: Record<string, string>): ChildProcess {
  killAllOnExit();
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(prog, args, { stdio: ['ignore', fd, fd], env: cleanEnv(env) });
    child.on('error', () => {}); // surfaced by the readiness wait
    live.add(child);
    child.once('exit', () => live.delete(child));
    return child;
  } finally {
    closeSync(fd);
  }
}

function exited(child: ChildProcess, logFile: string): () => string | undefined {
  return () =>
    child.exitCode !== null || child.signalCode !== null || child.pid === undefined
      ? `exited (${child.exitCode ?? child.signalCode ?? 'not started'}):\n${logTail(logFile)}`
      : undefined;
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function hostPort(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A TCP port free on `host` right now (the kernel picks it). */
export function freePortOn(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

function get(url: string, ca: string): Promise<{ status: number; body: string }> {
  return textAnswer(https.get(url, { ca, timeout: 2000 }));
}
