import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { buildImage, cacheUnsupportedReason } from '../../../../src/engine/release/image.js';
import type { Command, Local, RunOptions, RunResult } from '../../../../src/host/host.js';
import { fakeContext } from '../../../fakes/context.js';
import { fakeConfig } from '../../../fakes/host.js';

const SHA = 'b'.repeat(40);
const ok = (stdout = ''): RunResult => ({ code: 0, stdout, stderr: '', durationMs: 1 });
const fail = (stderr: string, code = 1): RunResult => ({ code, stdout: '', stderr, durationMs: 1 });

// Answers captured from buildx 0.13.1 and dockerd 26.1.5 on this machine kind
const INSPECT_DOCKER =
  'Name:   default\nDriver: docker\n\nNodes:\nName:             default\nEndpoint:         default\nStatus:           running\n';
const INSPECT_CONTAINER =
  'Name:          ci\nDriver:        docker-container\nLast Activity: 2026-12-06 20:07:00 +0000 UTC\n';
const STATUS_OVERLAY2 =
  '[["Backing Filesystem","extfs"],["Supports d_type","true"],["Using metacopy","false"],["Native Overlay Diff","true"],["userxattr","false"]]\n';
const STATUS_CONTAINERD = '[["driver-type","io.containerd.snapshotter.v1"]]\n';
const REFUSED =
  'ERROR: Cache export is not supported for the docker driver.\nSwitch to a different driver, or turn on the containerd image store, and try again.\nLearn more at https://docs.docker.com/go/build-cache-backends/\n';

test('cache support: no buildx, a failing inspect, docker driver per image store, other drivers', () => {
  const buildx = ok('github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3\n');
  assert.match(
    cacheUnsupportedReason({ buildx: fail("docker: 'buildx' is not a docker command.") }) ?? '',
    /buildx is not available/,
  );
  assert.match(
    cacheUnsupportedReason({ buildx, inspect: fail('ERROR: no builder "ci" found\n') }) ?? '',
    /inspect failed: ERROR: no builder "ci" found$/,
  );
  assert.match(cacheUnsupportedReason({ buildx, inspect: ok('Name: x\n') }) ?? '', /names no driver/);
  assert.match(
    cacheUnsupportedReason({ buildx, inspect: ok(INSPECT_DOCKER), driverStatus: ok(STATUS_OVERLAY2) }) ?? '',
    /without the containerd image store/,
  );
  assert.match(
    cacheUnsupportedReason({ buildx, inspect: ok(INSPECT_DOCKER), driverStatus: fail('Cannot connect') }) ?? '',
    /without the containerd image store/,
  );
  assert.equal(
    cacheUnsupportedReason({ buildx, inspect: ok(INSPECT_DOCKER), driverStatus: ok(STATUS_CONTAINERD) }),
    undefined,
  );
  assert.equal(cacheUnsupportedReason({ buildx, inspect: ok(INSPECT_CONTAINER) }), undefined);
});

/**
 * The runner side behind the Local port, answering docker as the machine described by `engine` would; builds
 * with `--cache-to` succeed (and write the export) only when `exports` says so.
 */
function runner(engine: { inspect: string; status: string; exports: boolean; writesNew?: boolean }) {
  const ran: string[][] = [];
  const local: Local = {
    async run(c: Command, _opts?: RunOptions) {
      const a = [...c.argv];
      ran.push(a);
      const line = a.join(' ');
      if (line === 'docker buildx version') return ok('github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3\n');
      if (line === 'docker buildx inspect') return ok(engine.inspect);
      if (line.startsWith('docker info')) return ok(engine.status);
      if (line.startsWith('docker buildx build')) return engine.exports ? ok() : fail(REFUSED);
      if (line.startsWith('docker build ')) return ok();
      if (a[0] === 'sh' && a[2]?.startsWith('test -f'))
        return engine.exports && engine.writesNew !== false ? ok() : fail('', 3);
      if (a[0] === 'sh') return ok();
      throw new Error(`unexpected command ${line}`);
    },
    stream: () => ({ stdout: Readable.from([Buffer.from('tar')]), done: Promise.resolve(ok()) }),
  };
  return { local, ran, builds: () => ran.filter((a) => a[0] === 'docker' && (a[1] === 'build' || a[2] === 'build')) };
}

function context(local: Local) {
  const calls = { restore: 0, save: 0 };
  const ctx = fakeContext({
    cfg: fakeConfig({ app: { image: 'app', build: { context: '.', dockerfile: 'Dockerfile' } } }),
    local,
    buildCache: {
      dir: '/runner/tmp/togather-build-cache',
      restore: async () => (calls.restore++, true),
      save: async () => void calls.save++,
    },
  });
  return { ctx, said: ctx.reporter.said, calls };
}

const noCache = (m: string) => m.startsWith('building without a layer cache');

test('docker driver on an overlay2 engine: a plain build, no cache restored or saved, said once', async () => {
  const r = runner({ inspect: INSPECT_DOCKER, status: STATUS_OVERLAY2, exports: false });
  const { ctx, said, calls } = context(r.local);
  await buildImage(ctx, `app:${SHA}`, SHA, { GIT_COMMIT: SHA });
  assert.equal(r.builds().length, 1);
  assert.deepEqual(r.builds()[0]!.slice(0, 2), ['docker', 'build']);
  assert.deepEqual(calls, { restore: 0, save: 0 });
  assert.equal(said.info.filter(noCache).length, 1);
  assert.match(said.info.find(noCache)!, /containerd image store.*containerd-snapshotter.*docker-container builder/);
  assert.deepEqual(said.warn, []);
});

test('docker driver on a containerd image store: buildx reads and writes the cache, which is swapped and saved', async () => {
  const r = runner({ inspect: INSPECT_DOCKER, status: STATUS_CONTAINERD, exports: true });
  const { ctx, said, calls } = context(r.local);
  await buildImage(ctx, `app:${SHA}`, SHA, {});
  const [build] = r.builds();
  assert.deepEqual(build!.slice(0, 4), ['docker', 'buildx', 'build', '--load']);
  assert.ok(build!.includes('type=local,src=/runner/tmp/togather-build-cache'));
  assert.ok(build!.includes('type=local,dest=/runner/tmp/togather-build-cache.new,mode=max'));
  // a stale .new is cleared before the build, the export replaces the cache only after it
  const shells = r.ran.filter((a) => a[0] === 'sh');
  assert.deepEqual(
    shells.map((a) => a.at(-1)),
    ['/runner/tmp/togather-build-cache', '/runner/tmp/togather-build-cache'],
  );
  assert.ok(r.ran.indexOf(shells[0]!) < r.ran.indexOf(build!) && r.ran.indexOf(build!) < r.ran.indexOf(shells[1]!));
  assert.deepEqual(calls, { restore: 1, save: 1 });
  assert.deepEqual(said.info.filter(noCache), []);
  assert.ok(said.info.includes('build cache restored'));
});

test('a docker-container builder is trusted without asking the engine for its image store', async () => {
  const r = runner({ inspect: INSPECT_CONTAINER, status: STATUS_OVERLAY2, exports: true });
  const { ctx, calls } = context(r.local);
  await buildImage(ctx, `app:${SHA}`, SHA, {});
  assert.ok(!r.ran.some((a) => a[1] === 'info'));
  assert.deepEqual(calls, { restore: 1, save: 1 });
});

test('a builder that refuses the export after all: one plain rebuild, said once, the deploy goes on', async () => {
  // e.g. a builder selected by BUILDX_BUILDER that the check could not judge
  const r = runner({ inspect: INSPECT_DOCKER, status: STATUS_CONTAINERD, exports: false });
  const { ctx, said, calls } = context(r.local);
  await buildImage(ctx, `app:${SHA}`, SHA, {});
  assert.deepEqual(
    r.builds().map((a) => a.slice(0, 3).join(' ')),
    ['docker buildx build', 'docker build --file'],
  );
  assert.equal(said.info.filter(noCache).length, 1);
  assert.match(said.info.find(noCache)!, /refused to export/);
  assert.equal(calls.save, 0);
});

test('a build that wrote no cache export keeps the restored cache and does not save', async () => {
  const r = runner({ inspect: INSPECT_DOCKER, status: STATUS_CONTAINERD, exports: true, writesNew: false });
  const { ctx, said, calls } = context(r.local);
  await buildImage(ctx, `app:${SHA}`, SHA, {});
  assert.equal(calls.save, 0);
  assert.equal(said.warn.length, 1);
  assert.match(said.warn[0]!, /wrote no layer cache/);
});

test('a cache that cannot be restored is a warning, not a failed deploy', async () => {
  const r = runner({ inspect: INSPECT_DOCKER, status: STATUS_CONTAINERD, exports: true });
  const { ctx, said } = context(r.local);
  ctx.buildCache!.restore = () => Promise.reject(new Error('cache service unreachable'));
  await buildImage(ctx, `app:${SHA}`, SHA, {});
  assert.match(said.warn[0] ?? '', /restoring the build cache failed: cache service unreachable/);
  assert.ok(said.info.includes('build cache empty (first build or evicted)'));
});

test('build argv: classic build without a cache, buildx with a read and a fresh write cache', async () => {
  const { buildCommand } = await import('../../../../src/engine/release/image.js');
  const plain = buildCommand({
    ref: `app:${SHA}`,
    sha: SHA,
    dockerfile: 'docker/Dockerfile',
    buildArgs: { GIT_COMMIT: SHA },
  });
  assert.deepEqual(plain.slice(0, 2), ['docker', 'build']);
  assert.ok(plain.includes(`GIT_COMMIT=${SHA}`));
  assert.equal(plain.at(-1), '-');
  const cached = buildCommand({
    ref: `app:${SHA}`,
    sha: SHA,
    dockerfile: 'Dockerfile',
    buildArgs: {},
    cacheDir: '/tmp/c',
  });
  assert.deepEqual(cached.slice(0, 4), ['docker', 'buildx', 'build', '--load']);
  assert.ok(cached.includes('type=local,src=/tmp/c') && cached.includes('type=local,dest=/tmp/c.new,mode=max'));
});
