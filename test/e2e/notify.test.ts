/**
 * Notifications end to end: a webhook receiver and an ntfy-shaped receiver on loopback record the events of a
 * deploy, a failed deploy (while ntfy is down: the deploy's outcome is unchanged) and an automatic rollback.
 * Payloads, HMAC signatures and ntfy headers are checked, and no secret appears in any of them.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { newEnv, startCli, type CliResult, type TestEnv } from './support.js';

interface Hit {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const HOOK_TOKEN = 'Tq8Zk29XfLm1Wv7R';
const HOOK_SECRET = 'whsec-E2e-Signing-Key-4471';
const NTFY_TOKEN = 'tk_E2eNtfyToken90210';
const TOPIC = 'togather-e2e-deploys';

describe('deployment notifications', { timeout: 600_000 }, () => {
  let env: TestEnv;
  const hits: Hit[] = [];
  let ntfyDown = false;
  const outputs: CliResult[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      hits.push({ path: req.url ?? '', headers: req.headers, body });
      res.writeHead(req.url?.startsWith('/ntfy/') && ntfyDown ? 500 : 200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });

  const webhook = () => hits.filter((h) => h.path === `/hooks/${HOOK_TOKEN}`);
  const ntfy = () => hits.filter((h) => h.path === `/ntfy/${TOPIC}`);
  const events = (list: Hit[]) =>
    list.map(
      (h) =>
        JSON.parse(h.body) as Record<string, unknown> & {
          event: string;
          deployment_id: string;
          failure: { class: string; exit_code: number; reason: string } | null;
          metadata: Record<string, unknown>;
        },
    );
  async function cli(args: string[]): Promise<CliResult> {
    const r = await env.cli(args);
    outputs.push(r);
    return r;
  }

  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    env = await newEnv('notify', {
      config: (c) => {
        c.notifications = {
          webhook: { url_env: 'DEPLOY_WEBHOOK_URL', secret_env: 'DEPLOY_WEBHOOK_SECRET', timeout: '3s', retries: 2 },
          ntfy: { url: `http://127.0.0.1:${port}/ntfy/${TOPIC}`, token_env: 'NTFY_TOKEN', timeout: '2s', retries: 1 },
        };
      },
    });
    appendFileSync(
      env.envFilePath,
      `DEPLOY_WEBHOOK_URL=http://127.0.0.1:${port}/hooks/${HOOK_TOKEN}\nDEPLOY_WEBHOOK_SECRET=${HOOK_SECRET}\nNTFY_TOKEN=${NTFY_TOKEN}\n`,
    );
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  test('deploy: started then completed, signed, with ids, versions, colour, duration', async () => {
    const r = await cli(['deploy', env.name, '--version', 'v1', '--skip-ci-check']);
    assert.equal(r.code, 0, r.stderr);
    const [started, completed] = events(webhook());
    assert.equal(webhook().length, 2);
    assert.equal(started!.event, 'deployment.started');
    assert.equal(completed!.event, 'deployment.completed');
    assert.equal(started!.deployment_id, completed!.deployment_id);
    assert.match(completed!.deployment_id, /^[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.equal(completed!.environment, env.name);
    assert.equal(completed!.version, env.repo.shas.v1);
    assert.equal(completed!.previous_version, null);
    assert.equal(completed!.colour, 'blue');
    assert.equal(typeof completed!.duration_seconds, 'number');
    assert.equal(completed!.failure, null);
    assert.equal(completed!.schema_version, 1);
    assert.deepEqual(completed!.metadata.ref, 'v1');
    for (const h of webhook()) {
      const ts = String(h.headers['x-togather-timestamp']);
      const want = 'sha256=' + createHmac('sha256', HOOK_SECRET).update(`${ts}.${h.body}`).digest('hex');
      assert.equal(h.headers['x-togather-signature-256'], want, 'valid HMAC signature');
      assert.equal(h.headers['x-togather-event'], JSON.parse(h.body).event);
    }
    const [ns, nc] = ntfy();
    assert.equal(ntfy().length, 2);
    assert.equal(ns!.headers.title, `togather ${env.name}: deploy started`);
    assert.equal(ns!.headers.priority, '2');
    assert.equal(nc!.headers.title, `togather ${env.name}: deploy completed`);
    assert.equal(nc!.headers.priority, '3');
    assert.equal(nc!.headers.tags, 'white_check_mark');
    assert.equal(nc!.headers.authorization, `Bearer ${NTFY_TOKEN}`);
    assert.match(
      nc!.body,
      new RegExp(`^${env.repo.shas.v1.slice(0, 12)} \\(v1\\) is live on ${env.name} \\(blue\\)\\n`),
    );
  });

  test('a failed deploy notifies with its reason; ntfy being down changes nothing but a warning', async () => {
    const before = hits.length;
    ntfyDown = true;
    const r = await cli(['deploy', env.name, '--version', 'v3', '--skip-ci-check']);
    ntfyDown = false;
    assert.equal(r.code, 10, r.stderr);
    assert.match(
      r.stderr,
      /notification deployment\.(started|failed) to ntfy failed after 2 attempt\(s\): HTTP 500 — the operation itself is not affected/,
    );
    const fresh = events(hits.slice(before).filter((h) => h.path.startsWith('/hooks/')));
    assert.deepEqual(
      fresh.map((e) => e.event),
      ['deployment.started', 'deployment.failed'],
    );
    const failed = fresh[1]!;
    assert.equal(failed.version, env.repo.shas.v3);
    assert.equal(failed.previous_version, env.repo.shas.v1);
    assert.equal(failed.colour, 'green');
    assert.equal(failed.failure!.class, 'health');
    assert.equal(failed.failure!.exit_code, 10);
    assert.match(failed.failure!.reason, /crashed/);
    const ntfyTries = hits.slice(before).filter((h) => h.path.startsWith('/ntfy/'));
    assert.equal(ntfyTries.length, 4, 'two events × (1 + 1 retry)');
    assert.equal(ntfyTries[2]!.headers.priority, '5');
    assert.equal(ntfyTries[2]!.headers.title, `togather ${env.name}: deploy FAILED`);
  });

  test('an automatic rollback (watch window) notifies deployment.rolled_back', async () => {
    const doc = parse(readFileSync(env.configPath, 'utf8')) as { deployment: Record<string, unknown> };
    doc.deployment.watch = { duration: '90s', interval: '1s', failure_threshold: 3 };
    writeFileSync(env.configPath, stringify(doc));
    const before = hits.length;
    const run = startCli(env, ['deploy', env.name, '--version', 'v2', '--skip-ci-check']);
    await run.waitFor(/watching [0-9a-f]{12} on green/, 180_000);
    const f = await fetch(`http://127.0.0.1:${env.httpPort}/admin/fail`, { method: 'POST' });
    assert.equal(f.status, 200);
    const r = await run.done;
    outputs.push(r);
    assert.equal(r.code, 11, r.stderr);
    const fresh = events(hits.slice(before).filter((h) => h.path.startsWith('/hooks/')));
    assert.deepEqual(
      fresh.map((e) => e.event),
      ['deployment.started', 'deployment.rolled_back'],
    );
    const rb = fresh[1]!;
    assert.equal(rb.version, env.repo.shas.v1, 'the version serving again');
    assert.equal(rb.previous_version, env.repo.shas.v2, 'the release abandoned');
    assert.equal(rb.colour, 'blue');
    assert.equal(rb.failure!.class, 'watch');
    assert.equal(rb.metadata.trigger, 'watch');
    assert.equal(typeof rb.metadata.serving_after_seconds, 'number');
    const n = hits
      .slice(before)
      .filter((h) => h.path.startsWith('/ntfy/'))
      .at(-1)!;
    assert.equal(n.headers.title, `togather ${env.name}: ROLLED BACK`);
    assert.equal(n.headers.priority, '4');
    assert.equal(n.headers.tags, 'rewind,warning');
    assert.match(
      n.body,
      new RegExp(
        `^${env.name} rolled back to ${env.repo.shas.v1.slice(0, 12)} on blue, away from ${env.repo.shas.v2.slice(0, 12)}`,
      ),
    );
  });

  test('a manual rollback notifies deployment.rolled_back with the version serving again and the one abandoned', async () => {
    const doc = parse(readFileSync(env.configPath, 'utf8')) as { deployment: Record<string, unknown> };
    doc.deployment.watch = '0s';
    writeFileSync(env.configPath, stringify(doc));
    const deployed = await cli(['deploy', env.name, '--version', 'v2', '--skip-ci-check']);
    assert.equal(deployed.code, 0, deployed.stderr);
    const before = hits.length;
    const r = await cli(['rollback', env.name]);
    assert.equal(r.code, 0, r.stderr);
    const fresh = events(hits.slice(before).filter((h) => h.path.startsWith('/hooks/')));
    assert.deepEqual(
      fresh.map((e) => e.event),
      ['deployment.rolled_back'],
    );
    const rb = fresh[0]!;
    assert.equal(rb.version, env.repo.shas.v1);
    assert.equal(rb.previous_version, env.repo.shas.v2);
    assert.equal(rb.metadata.trigger, 'rollback');
    assert.equal(rb.failure, null);
    assert.equal(
      hits
        .slice(before)
        .filter((h) => h.path.startsWith('/ntfy/'))
        .at(-1)!.headers.title,
      `togather ${env.name}: ROLLED BACK`,
    );
  });

  test('every event has its own delivery id; no secret in any payload, webhook header or output', () => {
    const ids = webhook().map((h) => h.headers['x-togather-delivery']);
    assert.equal(new Set(ids).size, ids.length);
    const secrets = [...Object.values(env.secrets), HOOK_SECRET, NTFY_TOKEN, HOOK_TOKEN];
    const forms = secrets.flatMap((s) => [s, encodeURIComponent(s), Buffer.from(s).toString('base64')]);
    for (const h of hits) {
      const shown = h.path.startsWith('/ntfy/') ? { ...h.headers, authorization: undefined } : h.headers;
      const hay = `${h.body}\n${JSON.stringify(shown)}`;
      for (const f of forms)
        assert.ok(
          !hay.includes(f),
          `${f.slice(0, 6)}… in a request to ${h.path.startsWith('/hooks/') ? 'the webhook' : 'ntfy'}`,
        );
    }
    for (const o of outputs)
      for (const f of forms) assert.ok(!(o.stdout + o.stderr).includes(f), `${f.slice(0, 6)}… in the CLI output`);
    assert.ok(hits.length >= 12);
  });
});
