/**
 * The action's build cache (src/action/build-cache.ts) against a loopback stand-in of the Actions cache service
 * (test/fakes/actions-cache-service.ts), through the real @actions/cache 6.3.0, its tar + zstd/gzip and the
 * Azure storage SDK. The last test builds with the engine's buildImage on two private Docker 26 engines, so
 * the directory saved and restored is a real buildx layer cache.
 *
 * @actions/cache reads its settings from process.env at each call: ACTIONS_RESULTS_URL, ACTIONS_RUNTIME_TOKEN,
 * ACTIONS_CACHE_SERVICE_V2 (service v2), GITHUB_SERVER_URL (unset = github.com; a GHES URL would force v1),
 * ACTIONS_CACHE_MODE (unset = read and write), RUNNER_TEMP (archives, and our cache directory),
 * GITHUB_WORKSPACE (tar's -C; paths outside it are stored relative to it) and the HTTP(S)_PROXY/NO_PROXY
 * family. Each test sets them and puts the previous values back.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { BlockBlobClient } from '@azure/storage-blob';
import { actionsBuildCache } from '../../src/action/build-cache.js';
import { buildImage } from '../../src/engine/release/image.js';
import {
  buildContext,
  depsChecksum,
  makeBenchRepo,
  modernStackMissing,
  MODERN_PREFIX,
  startPrivateEngine,
  timedCache,
  type PrivateEngine,
} from '../bench/build-cache.js';
import { startActionsCacheService, type ActionsCacheService } from '../fakes/actions-cache-service.js';
import { ensureImage, IMAGE_NAMES } from '../harness/images.js';
import { run } from '../harness/proc.js';

const SHA_A = 'a1'.repeat(20);
const SHA_B = 'b2'.repeat(20);
const PREFIX = 'togather-deploy-build-Linux-';

const CLEARED = [
  'GITHUB_SERVER_URL',
  'ACTIONS_CACHE_URL',
  'ACTIONS_CACHE_MODE',
  'HTTP_PROXY',
  'http_proxy',
  'HTTPS_PROXY',
  'https_proxy',
  'ALL_PROXY',
  'all_proxy',
  'NO_PROXY',
  'no_proxy',
];

/** Sets the runner's environment for @actions/cache; returns the function that puts the old one back. */
function runnerEnv(service: ActionsCacheService, root: string, extra: Record<string, string> = {}): () => void {
  const set: Record<string, string> = {
    ...service.env,
    RUNNER_TEMP: join(root, 'runner-temp'),
    GITHUB_WORKSPACE: join(root, 'workspace'),
    RUNNER_OS: 'Linux',
    ...extra,
  };
  mkdirSync(set.RUNNER_TEMP!, { recursive: true });
  mkdirSync(set.GITHUB_WORKSPACE!, { recursive: true });
  const before = new Map([...CLEARED, ...Object.keys(set)].map((k) => [k, process.env[k]]));
  for (const k of CLEARED) delete process.env[k];
  Object.assign(process.env, set);
  return () => {
    for (const [k, v] of before) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

/** path → sha256 of every file under dir, directories as '/' (a buildx cache holds no symlinks) */
function tree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const p = join(e.parentPath, e.name);
    if (e.isFile()) out.set(relative(dir, p), createHash('sha256').update(readFileSync(p)).digest('hex'));
    else if (e.isDirectory()) out.set(relative(dir, p), '/');
    else out.set(relative(dir, p), 'unexpected file type');
  }
  return out;
}

test('save, miss, restore under another commit by the prefix, byte-identical; a second save is no failure', async () => {
  const service = await startActionsCacheService();
  const root = mkdtempSync(join(tmpdir(), 'tgd-actions-cache-'));
  const restoreEnv = runnerEnv(service, root);
  try {
    const a = actionsBuildCache(process.env, SHA_A);
    assert.ok(a, 'the cache is available with ACTIONS_RESULTS_URL + ACTIONS_CACHE_SERVICE_V2 + RUNNER_TEMP');
    assert.equal(a.dir, join(root, 'runner-temp', 'togather-build-cache'));

    assert.equal(await a.restore(), false, 'nothing saved yet: a miss');

    // the shape of a buildx local cache: an OCI layout with blobs, one of them large and incompressible
    mkdirSync(join(a.dir, 'blobs', 'sha256'), { recursive: true });
    mkdirSync(join(a.dir, 'ingest'), { recursive: true });
    writeFileSync(join(a.dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    writeFileSync(join(a.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [] }));
    const big = randomBytes(6 * 1024 * 1024 + 17);
    writeFileSync(join(a.dir, 'blobs', 'sha256', createHash('sha256').update(big).digest('hex')), big);
    writeFileSync(join(a.dir, 'blobs', 'sha256', 'small'), 'x'.repeat(1000));
    writeFileSync(join(a.dir, 'empty'), '');
    const saved = tree(a.dir);
    await a.save();

    const entries = service.entries();
    assert.equal(entries.length, 1);
    assert.deepEqual([entries[0]!.key, entries[0]!.finalized], [`${PREFIX}${SHA_A}`, true]);
    assert.deepEqual(
      service.calls.map((c) => `${c.method} ${c.status}`),
      ['GetCacheEntryDownloadURL 200', 'CreateCacheEntry 200', 'FinalizeCacheEntryUpload 200'],
    );
    // what the client sends: snake_case fields, the restore prefix, size as an int64 string
    assert.deepEqual(service.calls[0]!.body.restore_keys, [PREFIX]);
    assert.equal(typeof service.calls[2]!.body.size_bytes, 'string');
    // archives up to 128 MiB go up in one put
    assert.deepEqual(
      service.blobRequests.map((r) => `${r.method} ${r.comp} ${r.status}`),
      ['PUT  201'],
    );

    // a new runner: the directory is gone; another commit finds the earlier cache by the key prefix
    rmSync(a.dir, { recursive: true });
    const b = actionsBuildCache(process.env, SHA_B)!;
    assert.equal(b.dir, a.dir);
    assert.equal(await b.restore(), true);
    assert.deepEqual(tree(b.dir), saved);
    // a loopback blob URL is downloaded with one plain GET (the SDK path is the next test's)
    assert.deepEqual(
      service.blobRequests.slice(1).map((r) => `${r.method} ${r.range ?? ''} ${r.status}`),
      ['GET  200'],
    );

    // the same key again (a re-run of the job): the service answers 409, the save says so and returns
    const calls = service.calls.length;
    await a.save();
    assert.deepEqual(
      service.calls.slice(calls).map((c) => `${c.method} ${c.status}`),
      ['CreateCacheEntry 409'],
    );
    assert.equal(service.entries().length, 1);

    // another version of the paths (e.g. another directory) is not a match, whatever the key
    const other = actionsBuildCache({ ...process.env, RUNNER_TEMP: join(root, 'elsewhere') }, SHA_B)!;
    process.env.RUNNER_TEMP = join(root, 'elsewhere');
    assert.equal(await other.restore(), false);
  } finally {
    restoreEnv();
    await service.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test('a wrong runtime token: restore is a miss and save does not throw', async () => {
  const service = await startActionsCacheService();
  const root = mkdtempSync(join(tmpdir(), 'tgd-actions-cache-'));
  const restoreEnv = runnerEnv(service, root, { ACTIONS_RUNTIME_TOKEN: 'not-the-token' });
  try {
    const c = actionsBuildCache(process.env, SHA_A)!;
    mkdirSync(c.dir, { recursive: true });
    writeFileSync(join(c.dir, 'index.json'), '{}');
    assert.equal(await c.restore(), false);
    await c.save();
    assert.ok(service.calls.length >= 2 && service.calls.every((x) => x.status === 401));
    assert.equal(service.entries().length, 0);
  } finally {
    restoreEnv();
    await service.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test('the storage SDK block upload (archives over 128 MiB) commits the staged blocks in order', async () => {
  const service = await startActionsCacheService();
  const root = mkdtempSync(join(tmpdir(), 'tgd-actions-cache-'));
  const restoreEnv = runnerEnv(service, root);
  try {
    // a reservation through the Twirp API, as the client makes it, gives the signed upload URL
    const r = await fetch(new URL('twirp/github.actions.results.api.v1.CacheService/CreateCacheEntry', service.url), {
      method: 'POST',
      headers: { authorization: `Bearer ${service.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ key: 'blocks', version: 'v' }),
    });
    const { signed_upload_url: url } = (await r.json()) as { signed_upload_url: string };
    const file = join(root, 'archive');
    const data = randomBytes(1024 * 1024 + 5);
    writeFileSync(file, data);
    // the client's own options with the thresholds scaled down, so that a small file takes the block path
    await new BlockBlobClient(url).uploadFile(file, {
      blockSize: 256 * 1024,
      concurrency: 8,
      maxSingleShotSize: 512 * 1024,
    });
    assert.deepEqual(
      service.blobRequests.map((q) => `${q.method} ${q.comp}`),
      [...Array<string>(5).fill('PUT block'), 'PUT blocklist'],
    );
    const fin = await fetch(
      new URL('twirp/github.actions.results.api.v1.CacheService/FinalizeCacheEntryUpload', service.url),
      {
        method: 'POST',
        headers: { authorization: `Bearer ${service.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ key: 'blocks', version: 'v', size_bytes: String(data.length) }),
      },
    );
    assert.deepEqual(await fin.json(), { ok: true, entry_id: '1' });
    const dl = await fetch(
      new URL('twirp/github.actions.results.api.v1.CacheService/GetCacheEntryDownloadURL', service.url),
      {
        method: 'POST',
        headers: { authorization: `Bearer ${service.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ key: 'blocks', version: 'v' }),
      },
    );
    const { signed_download_url: down } = (await dl.json()) as { signed_download_url: string };
    const got = await new BlockBlobClient(down).downloadToBuffer(0, undefined, {
      blockSize: 300 * 1024,
      concurrency: 4,
    });
    assert.ok(got.equals(data));
    assert.ok(
      service.blobRequests.some((q) => q.method === 'GET' && q.range?.startsWith('bytes=') && q.status === 206),
    );
  } finally {
    restoreEnv();
    await service.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test(
  'a real buildx layer cache: built on one engine, saved, restored on a fresh engine through the SDK download, reused',
  { skip: modernStackMissing(), timeout: 600_000 },
  async () => {
    // blobs under an Azure name reached through the fake as proxy: the path GitHub's URLs take (HEAD + ranged GETs)
    const service = await startActionsCacheService({ blobHost: 'azure' });
    const root = mkdtempSync(join(tmpdir(), 'tgd-actions-cache-'));
    const restoreEnv = runnerEnv(service, root, { HTTP_PROXY: service.url, NO_PROXY: '127.0.0.1,localhost' });
    const engines: PrivateEngine[] = [];
    try {
      const [sha1, sha2] = await makeBenchRepo(join(root, 'repo'), 0.05);
      const one = await startPrivateEngine(join(root, 'engine-1'), { containerdStore: true });
      engines.push(one);
      await ensureImage('nodeBase', one.socket, join(MODERN_PREFIX, 'bin', 'docker'), join(root, 'stage'));
      await run(['docker', 'save', '--output', join(root, 'base.tar'), IMAGE_NAMES.nodeBase], { env: one.env });

      const first = timedCache(actionsBuildCache(process.env, sha1)!);
      const a = buildContext(join(root, 'repo'), one.env, first);
      await buildImage(a.ctx, `togather-bench/app:${sha1}`, sha1, { GIT_COMMIT: sha1 });
      assert.deepEqual(
        a.said.filter((m) => /cache/.test(m)),
        ['build cache empty (first build or evicted)'],
        a.said.join('\n'),
      );
      assert.ok(
        existsSync(join(first.dir, 'index.json')),
        'the build left a buildx cache export in place of the old directory',
      );
      assert.deepEqual(
        service.entries().map((e) => [e.key, e.finalized]),
        [[`${PREFIX}${sha1}`, true]],
      );
      const deps1 = await depsChecksum(one.env, `togather-bench/app:${sha1}`);
      const saved = tree(first.dir);
      await one.stop();
      engines.pop();

      // a new runner: fresh engine, empty temp dir, only the pinned base image
      rmSync(join(root, 'runner-temp'), { recursive: true });
      mkdirSync(join(root, 'runner-temp'));
      const two = await startPrivateEngine(join(root, 'engine-2'), { containerdStore: true });
      engines.push(two);
      await run(['docker', 'load', '--quiet', '--input', join(root, 'base.tar')], { env: two.env });
      const second = timedCache(actionsBuildCache(process.env, sha2)!);
      const requestsBefore = service.blobRequests.length;
      const b = buildContext(join(root, 'repo'), two.env, second);
      await buildImage(b.ctx, `togather-bench/app:${sha2}`, sha2, { GIT_COMMIT: sha2 });
      assert.equal(second.restored, true, b.said.join('\n'));
      const fetched = service.blobRequests.slice(requestsBefore);
      assert.ok(
        fetched.some((q) => q.method === 'HEAD' && q.proxied),
        'the SDK asked for the blob properties',
      );
      assert.ok(
        fetched.some((q) => q.method === 'GET' && q.status === 206 && q.proxied),
        'the SDK downloaded by ranges',
      );
      // the dependency step ran from the restored cache: its output is the first build's, byte for byte
      assert.equal(await depsChecksum(two.env, `togather-bench/app:${sha2}`), deps1);
      // and the new commit's cache was saved under its own key
      assert.deepEqual(
        service.entries().map((e) => e.key),
        [`${PREFIX}${sha1}`, `${PREFIX}${sha2}`],
      );
      console.log(
        `buildx cache: ${saved.size} files; save ${first.saveMs} ms, restore ${second.restoreMs} ms; ` +
          `blob requests: ${fetched.map((q) => `${q.method}${q.range ? ` ${q.range}` : ''}`).join(', ')}`,
      );
    } finally {
      restoreEnv();
      for (const e of engines.reverse()) await e.stop().catch(() => undefined);
      await service.close();
      rmSync(root, { recursive: true, force: true });
    }
  },
);
