import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import {
  TarFilter,
  blobDigest,
  countLayers,
  fallbackReason,
  parseLayerChains,
  planLayers,
  shipLine,
} from '../../../../src/engine/release/layers.js';
import { shipLayers } from '../../../../src/engine/release/image.js';
import { HOST_LAYER_CHAINS, hostLayerChainsCmd, imageLayersCmd } from '../../../../src/engine/release/commands.js';
import type { Local } from '../../../../src/host/host.js';
import { ScriptedHost, fakeConfig, fakeEngine } from '../../../fakes/host.js';
import { archive, entry, hex, id, listing, loaded, pax, shipLocal, tar } from './ship-fixtures.js';

/** the filter over `input` fed in chunks of `size` bytes */
async function filtered(input: Buffer, drop: (n: string) => boolean, size: number) {
  const f = new TarFilter(drop);
  const chunks: Buffer[] = [];
  for (let i = 0; i < input.length; i += size) chunks.push(input.subarray(i, i + size));
  const out: Buffer[] = [];
  for await (const c of Readable.from(chunks).pipe(f)) out.push(c as Buffer);
  return { out: Buffer.concat(out), stats: f.stats };
}

describe('the listing commands', () => {
  it('are argv arrays: the ref and the repository are arguments, never part of a script', () => {
    assert.deepEqual(imageLayersCmd('app:1').argv, [
      'docker',
      'image',
      'inspect',
      '--format',
      '{{json .RootFS.Layers}}',
      'app:1',
    ]);
    const repo = 'ghcr.io/x/y;rm -rf /';
    assert.deepEqual(hostLayerChainsCmd(repo).argv, ['sh', '-c', HOST_LAYER_CHAINS, 'togather-deploy', repo]);
  });
});

describe('parseLayerChains', () => {
  it('reads one JSON array of diff IDs a line, skipping null, noise and malformed lines', () => {
    const out = [
      JSON.stringify([id('a'), id('b')]),
      'null',
      '',
      'Error: No such image: x',
      '[not json',
      JSON.stringify(['sha256:short']),
      JSON.stringify([id('a'), id('c'), id('d')]),
    ].join('\n');
    assert.deepEqual(parseLayerChains(out), [
      [id('a'), id('b')],
      [id('a'), id('c'), id('d')],
    ]);
    assert.deepEqual(parseLayerChains(''), []);
  });
});

describe('planLayers', () => {
  const target = [id('a'), id('b'), id('c'), id('d')];
  it('skips the longest prefix some host image shares, as the same chain', () => {
    const p = planLayers(target, [[id('a'), id('f')], [id('a'), id('b'), id('e')], [id('9')]]);
    assert.equal(p.shared, 2);
    assert.deepEqual([...p.skip], [hex('a'), hex('b')]);
  });
  it('a layer the host holds on another parent is not skipped (a different chain)', () => {
    const p = planLayers(target, [[id('f'), id('b'), id('c')]]);
    assert.equal(p.shared, 0);
    assert.equal(p.skip.size, 0);
  });
  it('nothing on the host: nothing skipped; the same image there: every layer skipped', () => {
    assert.equal(planLayers(target, []).skip.size, 0);
    assert.equal(planLayers(target, [[...target, id('e')]]).skip.size, 4);
    assert.equal(planLayers(target, [target]).shared, 4);
  });
  it('keeps a shared layer the image uses again above the prefix (an archive holds each blob once)', () => {
    const p = planLayers([id('a'), id('e'), id('b'), id('e')], [[id('a'), id('e'), id('f')]]);
    assert.equal(p.shared, 2);
    assert.deepEqual([...p.skip], [hex('a')]);
  });
});

describe('TarFilter', () => {
  const blobA = entry(`blobs/sha256/${hex('a')}`, 'A'.repeat(1500));
  const blobB = entry(`blobs/sha256/${hex('b')}`, 'B'.repeat(512));
  const blobC = entry(`blobs/sha256/${hex('c')}`, 'config');
  const manifest = entry('manifest.json', '[{"Layers":[]}]');
  const dir = entry('blobs/', '', '5');
  const drop = (n: string) => blobDigest(n) === hex('a') || blobDigest(n) === hex('b');

  it('drops the named entries whole and passes every other byte unchanged, however the input is chunked', async () => {
    const input = tar(dir, blobA, blobC, blobB, manifest);
    const want = tar(dir, blobC, manifest);
    for (const size of [1, 7, 511, 512, 513, 4096, input.length]) {
      const { out, stats } = await filtered(input, drop, size);
      assert.ok(out.equals(want), `chunks of ${size}`);
      assert.deepEqual(stats.dropped, [hex('a'), hex('b')]);
      assert.equal(stats.droppedBytes, blobA.length + blobB.length);
      assert.equal(stats.oci, true);
    }
  });
  it('drops a PAX header with the entry it describes, and uses its path', async () => {
    const long = entry('short-name', 'A');
    const input = tar(pax(`blobs/sha256/${hex('a')}`), long, pax('manifest.json'), manifest);
    const { out, stats } = await filtered(input, drop, 100);
    assert.ok(out.equals(tar(pax('manifest.json'), manifest)));
    assert.deepEqual(stats.dropped, [hex('a')]);
  });
  it('drops a GNU long-name entry with the entry it names', async () => {
    const input = tar(entry('././@LongLink', `./blobs/sha256/${hex('b')}\0`, 'L'), entry('x', 'B'), manifest);
    const { out } = await filtered(input, drop, 300);
    assert.ok(out.equals(tar(manifest)));
  });
  it('passes trailing padding after the end blocks', async () => {
    const input = Buffer.concat([tar(blobA, manifest), Buffer.alloc(8192)]);
    const { out } = await filtered(input, drop, 1000);
    assert.ok(out.equals(Buffer.concat([tar(manifest), Buffer.alloc(8192)])));
  });
  it('sees a legacy archive (<id>/layer.tar) as not OCI, and drops nothing from it', async () => {
    const input = tar(entry(`${hex('a')}/layer.tar`, 'L'), manifest);
    const { out, stats } = await filtered(input, drop, 512);
    assert.ok(out.equals(input));
    assert.equal(stats.oci, false);
    assert.deepEqual(stats.dropped, []);
  });
  it('fails on an archive cut in the middle of an entry', async () => {
    const input = tar(blobA, manifest).subarray(0, 700);
    const f = new TarFilter(() => false);
    await assert.rejects(async () => {
      for await (const _ of Readable.from([input]).pipe(f));
    }, /ended in the middle/);
    assert.match(f.failure ?? '', /ended in the middle/);
  });
});

describe('fallbackReason, countLayers, shipLine', () => {
  const plan = planLayers([id('a'), id('b'), id('c')], [[id('a'), id('b')]]);
  const stats = { dropped: [hex('a'), hex('b')], droppedBytes: 0, oci: true };
  it('a refused load is retried whole; a legacy archive is only said; a good partial load stands', () => {
    const refused = fallbackReason({
      loadCode: 1,
      loadStderr: 'open /x/blobs/sha256/aa: no such file\nmore',
      stats,
      plan,
    });
    assert.equal(refused?.retry, true);
    assert.match(refused!.why, /refused .* \(open \/x\/blobs\/sha256\/aa: no such file\)$/);
    const legacy = fallbackReason({ loadCode: 0, loadStderr: '', stats: { ...stats, dropped: [], oci: false }, plan });
    assert.equal(legacy?.retry, false);
    assert.match(legacy!.why, /legacy/);
    assert.equal(fallbackReason({ loadCode: 0, loadStderr: '', stats, plan }), undefined);
    const cut = fallbackReason({ loadCode: 0, loadStderr: '', stats, plan, filterFailure: 'ended early' });
    assert.deepEqual(cut, { retry: true, why: 'the image archive could not be filtered (ended early)' });
  });
  it('counts a layer as skipped when its blob was left out', () => {
    assert.deepEqual(countLayers(plan, stats), { sent: 1, skipped: 2 });
    assert.deepEqual(countLayers(plan, { ...stats, dropped: [] }), { sent: 3, skipped: 0 });
  });
  it('says what went', () => {
    assert.equal(
      shipLine({ mode: 'layers', layers: 9, layersSent: 3, layersSkipped: 6, bytes: 1_258_291 }),
      'shipped 3 of 9 layers, 1.20 MiB (6 layers already on the host)',
    );
    assert.equal(
      shipLine({ mode: 'full', layers: 3, layersSent: 3, layersSkipped: 0, bytes: 2048, fallback: 'why' }),
      'shipped the whole image, 3 layers, 2.0 KiB',
    );
  });
});

describe('shipLayers against a scripted host', () => {
  const ref = 'ghcr.io/togather/server:1234';
  const local = shipLocal;

  it('leaves out the layers the host holds as the same chain and loads the rest', async () => {
    const { ctx, host, said } = fakeEngine(fakeConfig(), local());
    host.on(listing, { stdout: `${JSON.stringify([id('a'), id('e')])}\nnull\n` });
    const s = await shipLayers(ctx, ref);
    assert.deepEqual(
      { mode: s.mode, layers: s.layers, sent: s.layersSent, skipped: s.layersSkipped },
      { mode: 'layers', layers: 2, sent: 1, skipped: 1 },
    );
    const loads = host.ran.flatMap((l, i) => (l.startsWith('docker load') ? [i] : []));
    assert.equal(loads.length, 1);
    const sent = loaded(host.stdin[loads[0]!]!);
    assert.ok(sent.equals(tar(archive.subarray(4608, archive.length - 1024))), 'the archive without blob a');
    assert.ok(s.bytes > 0 && s.bytes < 600, `${s.bytes}`);
    assert.deepEqual(said.warn, []);
  });

  it('a refused partial load is followed by the whole image, said once with the reason, redacted', async () => {
    const { ctx, host, said } = fakeEngine(fakeConfig(), local());
    ctx.redactor.add('s3cr3t-value');
    host.on(listing, { stdout: JSON.stringify([id('a')]) });
    host.on(/^docker load/, (_l, nth) =>
      nth === 0 ? { code: 1, stderr: 'open blobs/sha256/aaa: no such file or directory s3cr3t-value' } : {},
    );
    const s = await shipLayers(ctx, ref);
    assert.equal(s.mode, 'full');
    assert.equal(s.layersSkipped, 0);
    const loads = host.ran.flatMap((l, i) => (l.startsWith('docker load') ? [i] : []));
    assert.equal(loads.length, 2);
    assert.ok(loaded(host.stdin[loads[1]!]!).equals(archive), 'the second load carries the whole archive');
    assert.equal(said.warn.length, 1);
    assert.match(said.warn[0]!, /^shipping the whole image: the host refused the image without its layers/);
    assert.doesNotMatch(said.warn[0]!, /s3cr3t/);
  });

  it('an archive the filter cannot read is followed by the whole image', async () => {
    let n = 0;
    const cutFirst: Local = {
      run: local().run,
      stream: (c) => {
        const s = local().stream(c);
        // the first save is cut short in the middle of an entry, the second is whole
        return n++ === 0 ? { ...s, stdout: Readable.from([archive.subarray(0, 700)]) } : s;
      },
    };
    const { ctx, host, said } = fakeEngine(fakeConfig(), cutFirst);
    host.on(listing, { stdout: JSON.stringify([id('a')]) });
    const s = await shipLayers(ctx, ref);
    assert.equal(s.mode, 'full');
    const loads = host.ran.flatMap((l, i) => (l.startsWith('docker load') ? [i] : []));
    assert.equal(loads.length, 2);
    assert.ok(loaded(host.stdin[loads[1]!]!).equals(archive));
    assert.match(said.warn.join('\n'), /could not be filtered \(the image archive ended in the middle of an entry\)/);
  });

  it('ships to the host it is given, and asks only that host', async () => {
    const { ctx, host, clock } = fakeEngine(fakeConfig(), local());
    const other = new ScriptedHost(clock);
    other.on(listing, { stdout: JSON.stringify([id('a')]) });
    const s = await shipLayers(ctx, ref, other);
    assert.deepEqual([s.mode, s.layersSent, s.layersSkipped], ['layers', 1, 1]);
    assert.deepEqual(host.ran, []);
    assert.ok(other.ran.some((l) => listing.test(l)));
    assert.equal(other.ran.filter((l) => l.startsWith('docker load')).length, 1);
  });

  it('app.ship: full ships the whole image without asking the host what it has', async () => {
    const { ctx, host, said } = fakeEngine(
      fakeConfig({ app: { image: 'ghcr.io/togather/server', ship: 'full' } }),
      local(),
    );
    const s = await shipLayers(ctx, ref);
    assert.equal(s.mode, 'full');
    assert.ok(!host.ran.some((l) => listing.test(l)));
    assert.deepEqual(host.ran.filter((l) => l.startsWith('docker load')).length, 1);
    assert.deepEqual(said.warn, []);
  });

  it('a host that cannot list its images gets the whole image, said once', async () => {
    const { ctx, host, said } = fakeEngine(fakeConfig(), local());
    host.on(listing, { code: 127, stderr: 'sh: docker: not found' });
    const s = await shipLayers(ctx, ref);
    assert.equal(s.mode, 'full');
    assert.equal(said.warn.length, 1);
    assert.match(said.warn[0]!, /could not be listed/);
  });
});
