import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { HealthSchema } from '../../../../src/config/schema.js';
import {
  commitMatches,
  judgeHealth,
  parseProbe,
  parseRawHttp,
  reportedSchemaVersion,
  PROBE_LOOP,
} from '../../../../src/engine/release/health.js';

const health = HealthSchema.parse({ required_checks: ['database', 'migrations'] });
const SHA = 'a'.repeat(40);

test('health verdicts follow the app contract', () => {
  const body = (status: string, checks: Record<string, string>) =>
    JSON.stringify({
      status,
      git_commit: SHA.slice(0, 7),
      checks: Object.fromEntries(Object.entries(checks).map(([k, v]) => [k, { status: v }])),
    });
  assert.equal(judgeHealth(200, body('healthy', { database: 'pass', migrations: 'pass' }), health).ok, true);
  assert.equal(judgeHealth(503, body('unhealthy', { database: 'fail', migrations: 'pass' }), health).ok, false);
  assert.equal(judgeHealth(200, body('degraded', { database: 'pass', migrations: 'warn' }), health).ok, false);
  assert.equal(
    judgeHealth(200, body('degraded', { database: 'pass', migrations: 'warn' }), { ...health, allow_degraded: true })
      .ok,
    true,
  );
  const missing = judgeHealth(200, body('healthy', { database: 'pass' }), health);
  assert.equal(missing.ok, false);
  assert.match(missing.reason, /migrations missing/);
  assert.equal(judgeHealth(503, JSON.stringify({ status: 'shutting_down' }), health).ok, false);
  // a 503 names what the app says is failing, so a refused database password reads as such
  const refused = JSON.stringify({
    status: 'unhealthy',
    checks: {
      database: { status: 'fail', message: 'password authentication failed for user "togather"' },
      migrations: { status: 'pass' },
    },
  });
  assert.equal(
    judgeHealth(503, refused, health).reason,
    'HTTP 503 status unhealthy: database failing (password authentication failed for user "togather")',
  );
  assert.equal(judgeHealth(0, '', health).status, 'unknown');
  assert.equal(judgeHealth(200, 'not json', { ...health, required_checks: [] }).ok, true);
});

test('a raw HTTP/1.0 answer is split into status and body; anything else is no answer', () => {
  assert.deepEqual(
    parseRawHttp('HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\r\n{"status":"unhealthy"}'),
    { code: 503, body: '{"status":"unhealthy"}' },
  );
  assert.deepEqual(parseRawHttp('HTTP/1.0 200 OK\r\n'), { code: 200, body: '' });
  assert.equal(parseRawHttp(''), undefined);
  assert.equal(parseRawHttp("nc: can't connect"), undefined);
});

test('commit comparison accepts short and full SHAs, ignores version names', () => {
  assert.ok(commitMatches(SHA.slice(0, 7), SHA));
  assert.ok(commitMatches(SHA, SHA));
  assert.ok(!commitMatches('b'.repeat(7), SHA));
  assert.ok(commitMatches('v1.2.3', SHA));
  assert.ok(commitMatches(undefined, SHA));
});

test('probe output: state line, wget headers and body', () => {
  const ok = parseProbe(
    'state=running 0 0\n  HTTP/1.1 200 OK\n  Content-Type: application/json\n{"status":"healthy"}\n\nrc=0\n',
  );
  assert.deepEqual([ok.state, ok.code, ok.body, ok.restarts], ['running', 200, '{"status":"healthy"}', 0]);
  const bad = parseProbe(
    'state=running 0 0\n  HTTP/1.1 503 Service Unavailable\nwget: server returned error: HTTP/1.1 503 Service Unavailable\n\nrc=1\n',
  );
  assert.equal(bad.code, 503);
  const down = parseProbe(
    "state=restarting 1 2\nwget: can't connect to remote host (127.0.0.1): Connection refused\n\nrc=1\n",
  );
  assert.deepEqual([down.state, down.code, down.exitCode, down.restarts], ['restarting', 0, 1, 2]);
  // a round of probes inside the gate: its counts first, the last answer, then the container's state
  const round = parseProbe('passes=2 probes=7\n  HTTP/1.1 200 OK\n{"status":"healthy"}\n\nrc=0\nstate=running 0 0\n');
  assert.deepEqual(
    [round.state, round.code, round.body, round.passes, round.probes],
    ['running', 200, '{"status":"healthy"}', 2, 7],
  );
  assert.match(down.error ?? '', /Connection refused/);
  assert.equal(parseProbe('state=absent\n\nrc=1\n').state, 'absent');
});

test('the health gate compares the migrations check with the schema just migrated to', () => {
  const cfg = HealthSchema.parse({ required_checks: ['database', 'migrations'] });
  const body = (version: unknown) =>
    JSON.stringify({
      status: 'healthy',
      checks: { database: { status: 'pass' }, migrations: { status: 'pass', details: { version, dirty: false } } },
    });
  assert.equal(judgeHealth(200, body(4), cfg, { schemaVersion: 4 }).ok, true);
  const stale = judgeHealth(200, body(3), cfg, { schemaVersion: 4 });
  assert.equal(stale.ok, false);
  assert.match(stale.reason, /reports schema version 3, but the database was migrated to 4/);
  assert.equal(judgeHealth(200, body(null), cfg, { schemaVersion: 4 }).ok, false);
  assert.equal(judgeHealth(200, body('4'), cfg, { schemaVersion: 4 }).ok, true);
  assert.equal(judgeHealth(200, body(3), cfg).ok, true, 'no expectation (skip-migrations): not compared');
  assert.equal(reportedSchemaVersion({ status: 'pass' }), undefined, 'an app that does not say is not judged on it');
});

test('probe output cut short (no rc= line): no answer, never a healthy one; no state line: unknown, not absent', () => {
  const cut = parseProbe('passes=2 probes=2\n  HTTP/1.1 200 OK\n{"status":"hea');
  assert.deepEqual([cut.code, cut.passes, cut.body, cut.state], [0, 0, '', 'unknown']);
  assert.match(cut.error ?? '', /cut short/);
  assert.equal(parseProbe('').state, 'unknown');
});

test('a round of probes: refused connections are cheap, but a probe the time limit ended counts as an answer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tgd-probe-loop-'));
  try {
    // the loop calls `timeout S wget …`: a fake timeout applet stands for both outcomes
    const round = (rc: number): string => {
      writeFileSync(join(dir, 'timeout'), `#!/bin/sh\nexit ${rc}\n`);
      chmodSync(join(dir, 'timeout'), 0o755);
      // 1 s limit, 2 passes needed, 5 answers at most, no pauses, 4 refused probes count as one answer
      const r = spawnSync(
        'sh',
        ['-c', PROBE_LOOP, 'togather-deploy', '1', 'http://x/health', '2', '5', '0', '0', '4'],
        {
          env: { PATH: `${dir}:/usr/bin:/bin` },
          encoding: 'utf8',
        },
      );
      return /probes=(\d+)/.exec(r.stdout)?.[1] ?? r.stdout;
    };
    assert.equal(round(1), '20', 'refused: 5 × 4 quick probes');
    assert.equal(round(143), '5', "busybox timeout's 143: each is an answer, 5 at most");
    assert.equal(round(124), '5', "the timeout applet's 124 likewise");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
