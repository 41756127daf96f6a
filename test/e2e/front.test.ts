/**
 * One host, several environments behind the shared front proxy (docker/front/compose.yml), certificates from a
 * local ACME server (pebble, test/harness/acme.ts) standing in for Let's Encrypt. In order, on one front:
 *   1. a host with one environment in the old layout (its own Caddy on the ports, TLS from Caddy's internal CA)
 *      moves to the front proxy in one deploy, under HTTPS load: the failed requests are counted and reported;
 *   2. staging and production join; under load on both, back-to-back deploys and a rollback of staging fail no
 *      request of either and production keeps being served by the same colour; then the other way round;
 *   3. a third environment is added while staging and production are under load: their failed requests, 0.
 * Every request goes over HTTPS through the front's published port with the environment's domain as SNI, and
 * its certificate must chain to pebble's root (or, before the move, to the old Caddy's internal root).
 */
import assert from 'node:assert/strict';
import https from 'node:https';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startLoad, summarize, type LaneRaw, type LaneSpec } from '../bench/load.js';
import { runCliStreaming, teardownEnv } from '../bench/scenario.js';
import { startAcme, type Acme } from '../harness/acme.js';
import { hostDocker, hostSsh } from '../harness/host.js';
import { freePort, textAnswer } from '../harness/proc.js';
import { newEnv, sharedHost, type TestEnv } from './support.js';

const FLAGS = ['--skip-ci-check', '--force', '--skip-migrations'];
// light lanes: two environments are loaded at once on a small CI machine, and each fresh request is a full TLS
// handshake at the front
const LANES: LaneSpec[] = [
  { name: 'ka-get', concurrency: 1 },
  { name: 'ka-post', concurrency: 1 },
  { name: 'fresh-get', concurrency: 1 },
  { name: 'fresh-post', concurrency: 1 },
];

interface Front {
  name: string;
  path: string;
  httpPort: number;
  httpsPort: number;
  acme: Acme;
  rootFile: string;
}

function frontConfig(front: Front, domain: string) {
  return (c: Record<string, unknown>) => {
    c.proxy = { ...(c.proxy as object), front: true, domains: [domain] };
    c.front_proxy = {
      path: front.path,
      name: front.name,
      bind: '127.0.0.1',
      http_port: front.httpPort,
      https_port: front.httpsPort,
      email: 'ops@tgd.test',
      acme_ca: front.acme.directoryUrl,
      acme_ca_root: front.rootFile,
    };
    Object.assign(c.deployment as Record<string, unknown>, { drain_timeout: '4s', verify_timeout: '30s' });
    ((c.app as Record<string, unknown>).health as Record<string, unknown>).start_timeout = '60s';
  };
}

/** GET over HTTPS through the front's port, SNI and Host = domain, trusting only `ca` */
function httpsGet(port: number, domain: string, path: string, ca: string[]): Promise<{ status: number; body: string }> {
  return textAnswer(
    https.get({
      host: '127.0.0.1',
      port,
      path,
      servername: domain,
      headers: { host: domain },
      ca,
      agent: false,
      timeout: 20_000,
    }),
  );
}

async function waitServed(port: number, domain: string, ca: string[], timeoutMs = 90_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const r = await httpsGet(port, domain, '/version', ca);
      if (r.status === 200) return r.body;
      last = `HTTP ${r.status} ${r.body.slice(0, 200)}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${domain} was not served over HTTPS within ${timeoutMs} ms: ${last}`);
}

interface LoadedDomain {
  domain: string;
  stop(): Promise<LaneRaw[]>;
}

async function loadOn(port: number, domain: string, ca: string[]): Promise<LoadedDomain> {
  const run = await startLoad({
    port,
    tls: { servername: domain, ca: ca.join('\n') },
    lanes: LANES,
    pauseMs: 20,
    maxDurationMs: 400_000,
  });
  return { domain, stop: () => run.stop() };
}

function judge(raws: LaneRaw[]) {
  const lanes = raws.map((r) => summarize(r, [], 0));
  const requests = lanes.reduce((n, l) => n + l.requests, 0);
  const failed = lanes.reduce((n, l) => n + Object.values(l.failures).reduce((a, b) => a + b, 0), 0);
  const colours = new Set<number>();
  let first = Infinity;
  let last = -Infinity;
  for (const r of raws) {
    for (const u of r.upstream) colours.add(u);
    r.outcome.forEach((o, i) => {
      if (o === 0) return;
      first = Math.min(first, r.start[i]!);
      last = Math.max(last, r.start[i]! + r.latency[i]!);
    });
  }
  const report = lanes.map((l) => `${l.lane}: ${l.requests} req, failures ${JSON.stringify(l.failures)}`).join('; ');
  // from the first failed request's start to the last one's end: how long clients saw failures
  const failureWindowMs = failed ? Math.round(last - first) : 0;
  return { requests, failed, failureWindowMs, colours: [...colours], report };
}

const opSeconds: Record<string, number[]> = {};

async function deployOk(env: TestEnv, args: string[]): Promise<void> {
  const t = Date.now();
  const r = await runCliStreaming(env, args);
  assert.equal(r.code, 0, `${args.join(' ')} exited ${r.code}:\n${r.stderr.slice(-3000)}`);
  (opSeconds[args[0]!] ??= []).push((Date.now() - t) / 1000);
}

describe('shared front proxy: several environments on one host over HTTPS', { timeout: 900_000 }, () => {
  let front: Front;
  let issuer = '';
  const envs: TestEnv[] = [];
  const figures: Record<string, unknown> = {};

  before(async () => {
    const { info } = await sharedHost();
    const gw = (
      await hostDocker(info, ['network', 'inspect', 'bridge', '-f', '{{(index .IPAM.Config 0).Gateway}}'])
    ).stdout.trim();
    const httpPort = await freePort();
    const httpsPort = await freePort();
    const acme = await startAcme({ httpPort, httpsPort, listenHost: gw });
    const rootFile = join(acme.dir, 'acme-listener-ca.pem');
    writeFileSync(rootFile, acme.caCertPem);
    const tag = `${process.pid % 10000}`;
    front = { name: `tgfront${tag}`, path: `stacks/front${tag}`, httpPort, httpsPort, acme, rootFile };
  });

  after(async () => {
    for (const e of envs) await teardownEnv(e).catch(() => undefined);
    if (front) {
      const { info } = await sharedHost();
      await hostDocker(info, ['rm', '-f', front.name], { check: false });
      await hostDocker(info, ['network', 'rm', front.name], { check: false });
      await hostDocker(info, ['volume', 'rm', `${front.name}_data`, `${front.name}_config`], { check: false });
      await hostSsh(info, `rm -rf ${front.path}`, { check: false });
      await front.acme.stop();
    }
    console.log(`front proxy figures: ${JSON.stringify({ ...figures, opSeconds })}`);
  });

  test('a host in the old layout moves to the front proxy in one deploy (failed requests measured)', async () => {
    const domain = 'legacy.tgd.test';
    // today's layout: the environment's own Caddy holds the ports and terminates TLS (Caddy's internal CA here)
    const env = await newEnv('lgc', {
      config: (c) => {
        c.proxy = { bind: '127.0.0.1', http_port: front.httpPort, https_port: front.httpsPort, caddyfile: 'Caddyfile' };
        Object.assign(c.deployment as Record<string, unknown>, { drain_timeout: '4s', verify_timeout: '30s' });
      },
    });
    envs.push(env);
    writeFileSync(
      join(env.dir, 'Caddyfile'),
      `{\n\tskip_install_trust\n}\nimport togather.caddy\n\n${domain} {\n\ttls internal\n\timport togather_upstreams\n}\n`,
    );
    await deployOk(env, ['deploy', env.name, '--version', 'v1', ...FLAGS]);
    const internalRoot = (
      await hostDocker(env.info, [
        'exec',
        `${env.stackPrefix}-caddy`,
        'cat',
        '/data/caddy/pki/authorities/local/root.crt',
      ])
    ).stdout;
    issuer = await front.acme.issuerRootPem();
    const ca = [internalRoot, issuer];
    await waitServed(front.httpsPort, domain, [internalRoot]);

    // the same environment, now behind the front proxy
    const { stringify, parse } = await import('yaml');
    const { readFileSync } = await import('node:fs');
    const cfg = parse(readFileSync(env.configPath, 'utf8')) as Record<string, unknown>;
    frontConfig(front, domain)(cfg);
    delete (cfg.proxy as Record<string, unknown>).caddyfile;
    writeFileSync(env.configPath, stringify(cfg));

    const load = await loadOn(front.httpsPort, domain, ca);
    const t0 = Date.now();
    let raws: LaneRaw[];
    try {
      await new Promise((r) => setTimeout(r, 1500));
      await deployOk(env, ['deploy', env.name, '--version', 'v2', ...FLAGS]);
      await waitServed(front.httpsPort, domain, [issuer]);
      await new Promise((r) => setTimeout(r, 1500));
    } finally {
      raws = await load.stop();
    }
    const j = judge(raws);
    figures.upgrade = { ...j, seconds: (Date.now() - t0) / 1000 };
    // the front now holds the ports and serves a certificate from the ACME server
    const served = await httpsGet(front.httpsPort, domain, '/version', [issuer]);
    assert.equal(served.status, 200);
    assert.ok(j.requests > 50, `too few requests to judge: ${j.report}`);
  });

  test('staging and production: deploys and a rollback of one fail no request of either', async () => {
    for (const label of ['staging', 'production']) {
      const env = await newEnv(label.slice(0, 4), { config: frontConfig(front, `${label}.tgd.test`) });
      envs.push(env);
      await deployOk(env, ['deploy', env.name, '--version', 'v1', ...FLAGS]);
      await waitServed(front.httpsPort, `${label}.tgd.test`, [issuer]);
    }
    const [staging, production] = envs.slice(1) as [TestEnv, TestEnv];
    for (const [active, idle] of [
      [staging, production],
      [production, staging],
    ] as const) {
      const activeDomain = active === staging ? 'staging.tgd.test' : 'production.tgd.test';
      const idleDomain = active === staging ? 'production.tgd.test' : 'staging.tgd.test';
      const loads = [
        await loadOn(front.httpsPort, activeDomain, [issuer]),
        await loadOn(front.httpsPort, idleDomain, [issuer]),
      ];
      let raws: LaneRaw[][];
      try {
        await new Promise((r) => setTimeout(r, 1000));
        await deployOk(active, ['deploy', active.name, '--version', 'v2', ...FLAGS]);
        await deployOk(active, ['deploy', active.name, '--version', 'v6', ...FLAGS]);
        await deployOk(active, ['rollback', active.name, '--yes']);
        if (active === staging) {
          // and a failed deploy (v3 crashes at boot): staging keeps its colour, production sees nothing
          const bad = await runCliStreaming(active, ['deploy', active.name, '--version', 'v3', ...FLAGS]);
          assert.notEqual(bad.code, 0, 'the deploy of a version that crashes at boot must fail');
        }
        await new Promise((r) => setTimeout(r, 1000));
      } finally {
        raws = await Promise.all(loads.map((l) => l.stop()));
      }
      const a = judge(raws[0]!);
      const b = judge(raws[1]!);
      figures[`deploys of ${activeDomain}`] = { active: a, other: b };
      assert.equal(a.failed, 0, `${activeDomain}: ${a.report}`);
      assert.equal(b.failed, 0, `${idleDomain}: ${b.report}`);
      assert.ok(a.requests > 100 && b.requests > 100, `too few requests: ${a.report} / ${b.report}`);
      // the untouched environment kept serving from one colour: no switch reached it
      assert.equal(
        b.colours.filter((c) => c !== 0).length,
        1,
        `${idleDomain} was switched: ${JSON.stringify(b.colours)}`,
      );
      void idle;
    }
  });

  test('adding, then removing, a third environment while two are under load fails none of their requests', async () => {
    const loads = [
      await loadOn(front.httpsPort, 'staging.tgd.test', [issuer]),
      await loadOn(front.httpsPort, 'production.tgd.test', [issuer]),
    ];
    let raws: LaneRaw[][];
    const env = await newEnv('third', { config: frontConfig(front, 'third.tgd.test') });
    envs.push(env);
    try {
      await new Promise((r) => setTimeout(r, 1000));
      await deployOk(env, ['deploy', env.name, '--version', 'v1', ...FLAGS]);
      await waitServed(front.httpsPort, 'third.tgd.test', [issuer]);
      await new Promise((r) => setTimeout(r, 1000));
      // removed as docs/configuration.md says: its stack down, its site file deleted; nothing else reloads
      await teardownEnv(env);
      const { info } = await sharedHost();
      await hostSsh(info, `rm -f ${front.path}/caddy/sites/third.tgd.test`);
      const gone = await httpsGet(front.httpsPort, 'third.tgd.test', '/version', [issuer]);
      assert.equal(gone.status, 421, `a removed environment's domain: ${gone.status} ${gone.body.slice(0, 200)}`);
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      raws = await Promise.all(loads.map((l) => l.stop()));
    }
    const [s, p] = raws.map(judge) as [ReturnType<typeof judge>, ReturnType<typeof judge>];
    figures.addThird = { staging: s, production: p };
    assert.equal(s.failed, 0, s.report);
    assert.equal(p.failed, 0, p.report);
    // the front proxy was never restarted nor reloaded for any of this: one container since the move
    const { info } = await sharedHost();
    const restarts = (await hostDocker(info, ['inspect', '-f', '{{.RestartCount}}', front.name])).stdout.trim();
    assert.equal(restarts, '0');
  });
});
