/**
 * How the engine fails, driven through a scripted host on a fake clock: a health answer no wait can change
 * fails the gate at once (and only such an answer), failure messages and the failed deploy's report say what
 * really serves, and that report carries the real elapsed time.
 */
import { composeTarget } from '../../../../src/engine/release/target.js';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { failureReport } from '../../../../src/action/main.js';
import { cutOver } from '../../../../src/engine/release/cutover.js';
import { deploy, failedReport } from '../../../../src/engine/operations/deploy.js';
import { healthGate, judgeHealth, permanentFailure } from '../../../../src/engine/release/health.js';
import { Layout } from '../../../../src/engine/stack/layout.js';
import { Phases } from '../../../../src/engine/phases.js';
import { parseStackFacts } from '../../../../src/engine/stack/colours.js';
import { DeployError } from '../../../../src/errors.js';
import { renderSummary } from '../../../../src/github/summary.js';
import { Redactor } from '../../../../src/log/redact.js';
import { fakeConfig, fakeEngine, type FakeEngine } from '../../../fakes/host.js';

const SHA = 'c0ffee'.padEnd(40, '0');
const PROBE = /echo "state=\$s"/; // the health probe script
const RAW = /nc 127\.0\.0\.1/; // the raw fetch of an error answer's body
const BOOTING = "state=running 0 0\nwget: can't connect to remote host (127.0.0.1): Connection refused\n\nrc=1\n";
const ERROR_503 =
  'state=running 0 0\n  HTTP/1.1 503 Service Unavailable\nwget: server returned error: HTTP/1.1 503 Service Unavailable\n\nrc=1\n';
const HEALTHY = `passes=2 probes=2\nstate=running 0 0\n  HTTP/1.1 200 OK\n{"status":"healthy","git_commit":"${SHA.slice(0, 7)}","checks":{}}\n\nrc=0\n`;

function raw503(checks: Record<string, unknown>): string {
  return `HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n\r\n${JSON.stringify({ status: 'unhealthy', checks })}`;
}
const DIRTY = {
  database: { status: 'pass' },
  migrations: { status: 'fail', message: 'schema_migrations is dirty', details: { version: 7, dirty: true } },
};
const DB_DOWN = {
  database: { status: 'fail', message: 'dial tcp 172.18.0.3:5432: connect: connection refused' },
  migrations: { status: 'fail', message: 'cannot read schema_migrations: connection refused' },
};

/** probe answers in order, the last one repeated */
function probes(e: FakeEngine, answers: string[]): void {
  e.host.on(PROBE, (_l, n) => ({ stdout: answers[Math.min(n, answers.length - 1)] }));
}

async function gateError(e: FakeEngine, serving?: string): Promise<{ err: DeployError; ms: number; probes: number }> {
  const t0 = e.clock.now();
  try {
    await healthGate(e.ctx, new Layout(e.ctx.cfg), 'green', SHA, {}, serving);
  } catch (err) {
    assert.ok(err instanceof DeployError, String(err));
    return { err, ms: e.clock.now() - t0, probes: e.host.ran.filter((l) => PROBE.test(l)).length };
  }
  assert.fail('the gate passed');
}

describe('the health gate: answers no wait can change', () => {
  test('a dirty schema_migrations fails the gate after `consecutive` such answers, naming the check and its message', async () => {
    const e = fakeEngine();
    probes(e, [BOOTING, BOOTING, ERROR_503]);
    e.host.on(RAW, { stdout: raw503(DIRTY) });
    const { err, ms, probes: n } = await gateError(e);
    assert.equal(err.kind, 'health');
    assert.match(
      err.message,
      /the new green colour reports what no wait can change: migrations failing \(schema_migrations is dirty\), 2 rounds of probes in a row/,
    );
    assert.match(err.remedy ?? '', /migrate force/);
    assert.equal(n, 4, 'two boot probes, then two dirty answers');
    assert.ok(ms < 5_000, `failed after ${ms} ms, not at the 60 s start timeout`);
  });

  test('a database still starting is waited for: the same 503 without a dirty schema passes once the app is up', async () => {
    const e = fakeEngine();
    probes(e, [BOOTING, ERROR_503, ERROR_503, ERROR_503, ERROR_503, HEALTHY]);
    e.host.on(RAW, { stdout: raw503(DB_DOWN) });
    const v = await healthGate(e.ctx, new Layout(e.ctx.cfg), 'green', SHA);
    assert.equal(v.ok, true);
  });

  test('a failing check that is not a dirty schema waits out start_timeout, and says which check failed', async () => {
    const e = fakeEngine();
    probes(e, [ERROR_503]);
    e.host.on(RAW, { stdout: raw503(DB_DOWN) });
    const { err, ms } = await gateError(e);
    assert.ok(ms >= 60_000, `gave up after ${ms} ms`);
    assert.match(
      err.message,
      /did not become healthy within 60s: HTTP 503 status unhealthy: database failing \(dial tcp/,
    );
  });

  test('only the migrations check failing on a dirty schema is permanent', () => {
    assert.ok(permanentFailure(DIRTY));
    assert.ok(
      permanentFailure({ migrations: { status: 'fail', details: { version: 3, dirty: true } } }),
      'details alone',
    );
    assert.ok(
      permanentFailure({ migrations: { status: 'fail', message: 'schema_migrations is dirty at version 3' } }),
      'message alone',
    );
    assert.equal(permanentFailure(DB_DOWN), undefined);
    assert.equal(
      permanentFailure({ migrations: { status: 'warn', message: 'schema_migrations is dirty' } }),
      undefined,
      'a warning is not a failure',
    );
    assert.equal(
      permanentFailure({ migrations: { status: 'fail', details: { version: 3, dirty: false } } }),
      undefined,
    );
    assert.equal(permanentFailure({ database: { status: 'fail', message: 'dirty' } }), undefined, 'another check');
    const health = fakeConfig().config.app.health;
    assert.equal(judgeHealth(503, JSON.stringify({ status: 'shutting_down' }), health).permanent, undefined);
    assert.match(
      judgeHealth(503, JSON.stringify({ status: 'unhealthy', checks: DIRTY }), health).permanent?.what ?? '',
      /schema_migrations is dirty/,
    );
  });
});

describe('what a failure leaves serving', () => {
  const stackWith = (live: boolean) =>
    parseStackFacts(live ? 'blue.app=running img:1\nblue.flag=on\ncaddy=running c\n' : 'caddy=running c\n');

  test('a failed health gate with no colour live does not claim an old colour keeps serving', async () => {
    for (const live of [undefined, 'blue'] as const) {
      const e = fakeEngine();
      probes(e, ['state=exited 1 0\n\nrc=1\n']);
      const err = await cutOver(e.ctx, composeTarget, new Layout(e.ctx.cfg), new Phases(e.ctx.reporter, e.ctx.clock), {
        target: 'green',
        live,
        sha: SHA,
        stack: stackWith(!!live),
      }).then(
        () => assert.fail('the cut-over passed'),
        (x: unknown) => x as Error,
      );
      if (live)
        assert.match(err.message, /crashed \(state exited, exit code 1, 0 restarts\); the old colour keeps serving\./);
      else {
        assert.match(
          err.message,
          /crashed \(state exited, exit code 1, 0 restarts\); nothing was serving before and nothing serves now\./,
        );
        assert.doesNotMatch(err.message, /keeps serving/);
      }
    }
  });

  /** a deploy that fails getting its image (docker pull refused) on a host whose stack shows `stack` */
  async function failedDeploy(stack: string) {
    const e = fakeEngine(fakeConfig({ app: { image: 'ghcr.io/togather/server', pull: true } }));
    e.host
      .on(/compose2=/, { stdout: 'docker=26.1.5\ncompose2=2.26.1\nfree_kb=99999999\n' }) // preflight
      .on(/if \[ -f "\$1" \]; then cat/, { code: 3 }) // no state.json
      .on(/\.gate=\$\(st /, { stdout: stack }) // the stack's containers and gate flags
      .on(/^docker image inspect/, { code: 1 })
      .on(/^docker pull/, { code: 1, stderr: 'Error response from daemon: manifest unknown' });
    const t0 = e.clock.now();
    const err = await deploy(e.ctx, { version: SHA, skipCiCheck: true }).then(
      () => assert.fail('the deploy passed'),
      (x: unknown) => x,
    );
    assert.ok(err instanceof DeployError && err.kind === 'image', String(err));
    return { err, elapsed: e.clock.now() - t0 };
  }

  test('a failed first deploy: its report has the real duration and phases, and its summary says nothing serves', async () => {
    const { err, elapsed } = await failedDeploy('caddy=running c\ndb=running p\n');
    const r = failedReport(err);
    assert.ok(r, 'the error carries its report');
    assert.ok(elapsed > 0);
    assert.equal(r.durationMs, elapsed);
    assert.equal(r.serving, 'none');
    assert.equal(r.colour, undefined);
    assert.equal(r.version, SHA);
    assert.deepEqual(
      r.phases.find((p) => p.name === 'image'),
      { name: 'image', ms: r.phases.find((p) => p.name === 'image')!.ms, ok: false },
    );
    const md = renderSummary(r);
    assert.match(md, /^## ❌ Deploy to staging failed at <code>c0ffee0<\/code>/);
    assert.ok(elapsed < 1000);
    assert.match(md, new RegExp(`Duration</th><td>${elapsed} ms</td>`));
    assert.doesNotMatch(md, /kept serving|keeps serving/);
    assert.match(md, /No version was serving before, and none serves now/);
    assert.doesNotMatch(md, /🔵|🟢/, 'no colour serves');
  });

  test('a failed deploy with blue live: the report and summary say the previous version kept serving', async () => {
    const { err } = await failedDeploy(
      'blue.app=running ghcr.io/togather/server:' + 'b'.repeat(40) + '\nblue.flag=on\ncaddy=running c\n',
    );
    const r = failedReport(err)!;
    assert.equal(r.serving, 'previous');
    assert.equal(r.colour, 'blue');
    assert.match(renderSummary(r), /The previous version kept serving/);
  });

  test("the action's failure summary: the engine's report when there is one, else the time the step ran", async () => {
    const { err } = await failedDeploy('caddy=running c\n');
    assert.equal(failureReport(err, 'staging', new Redactor(), 1).durationMs, failedReport(err)!.durationMs);
    const early = failureReport(new DeployError('ciGate', 'no token'), 'staging', new Redactor(), 1_234);
    assert.equal(early.durationMs, 1_234);
    assert.equal(early.serving, undefined);
    assert.match(renderSummary(early), /stopped before it changed what serves/);
  });
});
