/**
 * Layer-aware shipping on the real loopback host: a first deploy to a host without the app's images sends the
 * whole image; the next release, one line changed, sends only its new layer, and the host then holds exactly
 * the runner's image (same layer chain) and serves it. The app's image repository is one of this run's own, so
 * no earlier test's images make the host "already have" anything.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { hostDocker, runnerDocker } from '../harness/host.js';
import { ChangingRepo, appConfig, deployMeasured, removeRepoImages, withConfig } from '../bench/shipping.js';
import { newEnv, type TestEnv } from './support.js';

const layersOf = async (docker: typeof hostDocker, env: TestEnv, ref: string) =>
  JSON.parse((await docker(env.info, ['image', 'inspect', '-f', '{{json .RootFS.Layers}}', ref])).stdout) as string[];

describe('layer-aware image shipping', { timeout: 300_000 }, () => {
  const repo = `togather-test/ship-e2e-${process.pid}`;
  let env: TestEnv;
  let view: TestEnv;
  let git: ChangingRepo;
  before(async () => {
    env = await newEnv('shiplayers');
    git = await ChangingRepo.from(env.repo.dir);
    view = withConfig(env, git.dir, appConfig(repo));
  });
  after(async () => {
    if (env && !process.env.TOGATHER_KEEP_ENVS) await removeRepoImages(env, repo);
  });

  test('first deploy sends the whole image; a one-line change sends only its new layers and the host runs it', async () => {
    const c1 = await git.commit();
    const first = await deployMeasured(view, 'first', c1);
    assert.match(first.line ?? '', /^shipped the whole image, \d+ layers/, first.line);
    assert.ok((first.bytes ?? 0) > 10e6, `first deploy sent ${first.bytes} bytes`);

    const c2 = await git.commit();
    const next = await deployMeasured(view, 'one line', c2);
    const m = /^shipped (\d+) of (\d+) layers, .* \((\d+) layers? already on the host\)$/.exec(next.line ?? '');
    assert.ok(m, `the deploy log says: ${next.line}`);
    assert.equal(Number(m[1]) + Number(m[3]), Number(m[2]));
    assert.ok(Number(m[3]) >= 1, next.line);
    assert.ok(next.bytes !== undefined && next.bytes < first.bytes! / 20, `${next.bytes} vs ${first.bytes}`);

    // the host holds the runner's image, layer for layer, and serves the new commit
    const ref = `${repo}:${c2}`;
    assert.deepEqual(await layersOf(hostDocker, env, ref), await layersOf(runnerDocker, env, ref));
    const ids = await Promise.all(
      [hostDocker, runnerDocker].map(
        async (d) => (await d(env.info, ['image', 'inspect', '-f', '{{.Id}}', ref])).stdout,
      ),
    );
    assert.equal(ids[0], ids[1]);
    const version = JSON.parse((await env.get('/version')).body) as { git_commit: string };
    assert.equal(version.git_commit, c2);
  });

  test('app.ship: full sends the whole image although the host has its base layers', async () => {
    const whole = withConfig(env, git.dir, appConfig(repo, 'full'));
    const c3 = await git.commit();
    const s = await deployMeasured(whole, 'full', c3);
    assert.match(s.line ?? '', /^shipped the whole image/, s.line);
    assert.ok((s.bytes ?? 0) > 10e6, `${s.bytes}`);
    const version = JSON.parse((await env.get('/version')).body) as { git_commit: string };
    assert.equal(version.git_commit, c3);
  });
});
