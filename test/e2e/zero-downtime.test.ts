/**
 * Zero failed requests across two deploys under load (the short CI form of `npm run bench`): five lanes through
 * the proxy — keep-alive GET and POST, fresh-connection GET and POST, slow requests — while v2 then v6 replace
 * v1. Every lane must see no failure at all, the app must have counted exactly the POSTs the clients saw
 * succeed, and the slow requests in flight when a switch began must finish on the colour they started on.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { slowAcrossSwitches, startLoad, summarize, type LaneRaw, type Window } from '../bench/load.js';
import {
  livePosts,
  retiredReport,
  runCliStreaming,
  teardownEnv,
  timeOperation,
  type Colour,
  type OperationTiming,
  type Retired,
} from '../bench/scenario.js';
import { newEnv, type TestEnv } from './support.js';

const FLAGS = ['--skip-ci-check', '--force', '--skip-migrations'];

describe('zero-downtime switch under load', { timeout: 300_000 }, () => {
  let env: TestEnv;
  const ops: OperationTiming[] = [];
  const retired: Retired[] = [];
  let raws: LaneRaw[] = [];
  let t0 = 0;
  const deployErrors: string[] = [];

  before(async () => {
    env = await newEnv('zd', {
      config: (c) => {
        // drain above the slowest request (3.5 s); boot and verify slack for a host shared with other suites
        Object.assign(c.deployment as Record<string, unknown>, { drain_timeout: '6s', verify_timeout: '30s' });
        ((c.app as Record<string, unknown>).health as Record<string, unknown>).start_timeout = '60s';
      },
    });
    const first = await runCliStreaming(env, ['deploy', env.name, '--version', 'v1', ...FLAGS]);
    assert.equal(first.code, 0, first.stderr);
  });

  test('two deploys under five lanes of load: no failed request', async () => {
    const postsBefore = (await livePosts(env)).posts;
    const load = await startLoad({
      port: env.httpPort,
      lanes: [
        { name: 'ka-get', concurrency: 4 },
        { name: 'ka-post', concurrency: 4 },
        { name: 'fresh-get', concurrency: 2 },
        { name: 'fresh-post', concurrency: 2 },
        { name: 'slow', concurrency: 4 },
      ],
      slowMs: [2000, 3500],
      pauseMs: 5,
      maxDurationMs: 200_000,
    });
    t0 = Date.now();
    try {
      await new Promise((r) => setTimeout(r, 1500));
      for (const version of ['v2', 'v6']) {
        const r = await runCliStreaming(env, ['deploy', env.name, '--version', version, ...FLAGS]);
        const op = timeOperation(`deploy ${version}`, r);
        ops.push(op);
        if (r.code !== 0) {
          deployErrors.push(`deploy ${version} exited ${r.code}:\n${r.stderr.slice(-2500)}`);
          break;
        }
        if (op.window?.from) retired.push(await retiredReport(env, op.window.from, op.window.start));
      }
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      raws = await load.stop();
    }
    const windows: Window[] = ops.flatMap((op) => (op.window ? [op.window] : []));
    const lanes = raws.map((r) => summarize(r, windows, t0));
    const report = lanes
      .map(
        (l) =>
          `${l.lane}: ${l.requests} requests, failures ${JSON.stringify(l.failures)} ${l.samples.map((s) => `${s.kind}@${s.at}`).join(' ')}`,
      )
      .join('\n');
    // the lanes are reported even when a deploy failed: what the clients saw is the point of this test
    assert.deepEqual(deployErrors, [], `lanes:\n${report}`);
    assert.equal(retired.length, 2, `no switch/retire phases in the output of a deploy: ${JSON.stringify(ops)}`);
    for (const l of lanes) {
      assert.deepEqual(l.failures, {}, `failed requests in lane ${l.lane}:\n${report}`);
      assert.ok(l.requests >= (l.lane === 'slow' ? 8 : 50), `too few requests to judge lane ${l.lane}:\n${report}`);
      assert.ok(l.inside.n > 0, `lane ${l.lane} had no request inside a switch window:\n${report}`);
    }
    // what the clients saw succeed is what the apps served: retired ones say so on exit, the live one on /echo
    const clientPosts = lanes.reduce((n, l) => n + (l.postOk ?? 0), 0);
    assert.ok(
      retired.every((r) => r.posts !== undefined),
      `a retired app did not report its POST count: ${JSON.stringify(retired)}`,
    );
    const appPosts = retired.reduce((n, r) => n + r.posts!, 0) - postsBefore + (await livePosts(env)).posts;
    assert.equal(appPosts, clientPosts);
  });

  test('slow requests in flight when a switch began finish on the old colour', () => {
    assert.ok(retired.length === 2 && deployErrors.length === 0, 'needs the two deploys of the previous test');
    const slow = raws.find((r) => r.lane === 'slow');
    assert.ok(slow);
    const windows = ops.map((op) => op.window!).filter(Boolean) as (Window & { from?: Colour })[];
    const across = slowAcrossSwitches(slow, windows);
    assert.equal(across.length, 2);
    for (const w of across) {
      assert.ok(w.inFlight >= 1, `no slow request was in flight when ${w.label} switched`);
      assert.equal(w.ok, w.inFlight, `${w.label}: a slow request that started before the switch failed`);
      assert.equal(w.onOldColour, w.inFlight, `${w.label}: a slow request did not finish on the colour it started on`);
    }
  });

  after(async () => {
    if (env) await teardownEnv(env);
  });
});
