import { Transform, type TransformCallback } from 'node:stream';
import { formatBytes } from '../database/snapshot.js';

/*
 * Layer-aware shipping, the pure half: which of the release image's layers the host already holds (from the
 * diff IDs of the app images there), and a streaming tar filter that leaves those layers' blobs out of
 * `docker save`. Docker >= 25 saves an OCI layout whose layer blobs are named by their uncompressed digest,
 * which is the diff ID; the classic image store's `docker load` opens a layer file only when the layer's chain
 * is not in its store already (verified on Docker 26: an archive without the blobs the host holds loads, and
 * one that lacks a blob the host does not hold fails with "no such file or directory"). Docker 26 with the
 * containerd image store loaded such an archive too, the left-out blobs being in its content store.
 */

const DIFF_ID = /^sha256:[0-9a-f]{64}$/;

/**
 * The host's layer chains from its listing: one JSON array of diff IDs per line (`{{json .RootFS.Layers}}`).
 * Lines that are not such an array (an image without layers prints `null`, a warning, noise) are ignored.
 */
export function parseLayerChains(stdout: string): string[][] {
  const chains: string[][] = [];
  for (const line of stdout.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('[')) continue;
    let v: unknown;
    try {
      v = JSON.parse(t);
    } catch {
      continue;
    }
    if (Array.isArray(v) && v.length > 0 && v.every((d) => typeof d === 'string' && DIFF_ID.test(d)))
      chains.push(v as string[]);
  }
  return chains;
}

export interface LayerPlan {
  /** the target's layers, bottom first */
  layers: string[];
  /** how many of the target's bottom layers the host has as the same chain (same diff IDs in the same order) */
  shared: number;
  /**
   * blob names (hex digests) to leave out of the archive: the shared layers' diff IDs, except one that the
   * image uses again above the shared prefix (a saved archive holds each digest once, and that layer is needed)
   */
  skip: Set<string>;
}

/**
 * Layer i of the target can stay behind iff the target's layers 0..i equal the first i+1 layers of some host
 * image: the same chain ID, so the host's store has exactly that layer on exactly that parent.
 */
export function planLayers(target: string[], hostChains: string[][]): LayerPlan {
  let shared = 0;
  for (const chain of hostChains) {
    let n = 0;
    while (n < target.length && n < chain.length && target[n] === chain[n]) n++;
    shared = Math.max(shared, n);
  }
  const above = new Set(target.slice(shared));
  const skip = new Set<string>();
  for (const d of target.slice(0, shared)) if (!above.has(d)) skip.add(d.slice('sha256:'.length));
  return { layers: target, shared, skip };
}

/** the target's layers as docker prints them (`{{json .RootFS.Layers}}` of one image) */
export function parseLayers(stdout: string): string[] | undefined {
  return parseLayerChains(stdout)[0];
}

/** an OCI layout blob's digest, from its path in the archive (`blobs/sha256/<hex>`, maybe with a leading ./) */
export function blobDigest(name: string): string | undefined {
  return /^(?:\.\/)?blobs\/sha256\/([0-9a-f]{64})$/.exec(name)?.[1];
}

/** what one pass of the filter saw */
export interface FilterStats {
  /** blob digests left out */
  dropped: string[];
  /** bytes of archive left out (headers, data and padding) */
  droppedBytes: number;
  /** the archive is an OCI layout (has blobs/sha256/…); the legacy format (<id>/layer.tar) has none */
  oci: boolean;
}

const BLOCK = 512;

/** a tar header's numeric field: octal text, or base-256 when the first byte's high bit is set (GNU, > 8 GB) */
function tarNumber(b: Buffer): number {
  if (b[0]! & 0x80) {
    let n = b[0]! & 0x7f;
    for (let i = 1; i < b.length; i++) n = n * 256 + b[i]!;
    return n;
  }
  const s = b.toString('latin1').replace(/\0.*$/s, '').trim();
  return s ? parseInt(s, 8) : 0;
}

function cString(b: Buffer): string {
  const z = b.indexOf(0);
  return b.subarray(0, z < 0 ? b.length : z).toString('utf8');
}

/** the path of a PAX extended header's records ("<len> path=<value>\n"), if it sets one */
function paxPath(data: Buffer): string | undefined {
  let path: string | undefined;
  let at = 0;
  while (at < data.length) {
    const sp = data.indexOf(0x20, at);
    if (sp < 0) break;
    const len = parseInt(data.subarray(at, sp).toString('latin1'), 10);
    if (!(len > 0)) break;
    const rec = data.subarray(sp + 1, at + len - 1).toString('utf8');
    if (rec.startsWith('path=')) path = rec.slice('path='.length);
    at += len;
  }
  return path;
}

/** extended headers (PAX 'x', GNU long name 'L' and long link 'K') describe the entry that follows them */
const META_TYPES = new Set(['x', 'L', 'K']);
/** at most this much metadata is held back before its entry (a real one is a few hundred bytes) */
const META_LIMIT = 1 << 20;

/**
 * A streaming tar filter: entries whose name `drop` accepts are left out (with any extended header that
 * describes them), every other byte passes unchanged, the end-of-archive blocks included. Memory stays
 * bounded: entry data is passed or skipped as it arrives; only headers are held.
 */
export class TarFilter extends Transform {
  readonly stats: FilterStats = { dropped: [], droppedBytes: 0, oci: false };
  /** why the archive could not be read, when it could not: what was sent is then cut short */
  failure: string | undefined;
  private head = Buffer.alloc(0);
  /** bytes of the current entry's data (with padding) still to come */
  private remaining = 0;
  private passing = true;
  /** an extended header being collected, and the entry it describes */
  private meta: Buffer[] = [];
  private metaBytes = 0;
  private collecting: { type: string; data: Buffer[]; size: number } | undefined;
  private longName: string | undefined;
  private ended = false;

  constructor(private readonly shouldDrop: (name: string) => boolean) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      this.consume(chunk);
      done();
    } catch (e) {
      this.failure = (e as Error).message;
      done(e as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    if (!this.ended && (this.remaining > 0 || this.head.length > 0 || this.meta.length > 0)) {
      this.failure = 'the image archive ended in the middle of an entry';
      return done(new Error(this.failure));
    }
    done();
  }

  private consume(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.ended) {
        // after the end-of-archive blocks: whatever padding docker wrote goes through as it is
        this.push(chunk.subarray(at));
        return;
      }
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, chunk.length - at);
        const part = chunk.subarray(at, at + n);
        if (this.collecting) this.collecting.data.push(part);
        else if (this.passing) this.push(part);
        else this.stats.droppedBytes += n;
        this.remaining -= n;
        at += n;
        if (this.remaining === 0 && this.collecting) this.endMeta();
        continue;
      }
      const need = BLOCK - this.head.length;
      const part = chunk.subarray(at, at + need);
      this.head = this.head.length ? Buffer.concat([this.head, part]) : Buffer.from(part);
      at += part.length;
      if (this.head.length === BLOCK) {
        const h = this.head;
        this.head = Buffer.alloc(0);
        this.header(h);
      }
    }
  }

  private header(h: Buffer): void {
    if (h.every((b) => b === 0)) {
      if (this.meta.length) throw new Error('the image archive ends after an extended header');
      this.ended = true;
      this.push(h);
      return;
    }
    const size = tarNumber(h.subarray(124, 136));
    const type = String.fromCharCode(h[156]! || 0x30);
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (META_TYPES.has(type)) {
      this.metaBytes += BLOCK + padded;
      if (this.metaBytes > META_LIMIT) throw new Error('the image archive has an oversized extended header');
      this.meta.push(h);
      this.collecting = { type, data: [], size };
      this.remaining = padded;
      if (padded === 0) this.endMeta();
      return;
    }
    const ustar = h.subarray(257, 262).toString('latin1') === 'ustar';
    const prefix = ustar ? cString(h.subarray(345, 500)) : '';
    const name = this.longName ?? (prefix ? `${prefix}/${cString(h.subarray(0, 100))}` : cString(h.subarray(0, 100)));
    this.longName = undefined;
    if (blobDigest(name)) this.stats.oci = true;
    this.passing = !this.shouldDrop(name);
    const held = Buffer.concat(this.meta);
    this.meta = [];
    this.metaBytes = 0;
    if (this.passing) {
      if (held.length) this.push(held);
      this.push(h);
    } else {
      const d = blobDigest(name);
      this.stats.dropped.push(d ?? name);
      this.stats.droppedBytes += held.length + BLOCK;
    }
    this.remaining = padded;
  }

  private endMeta(): void {
    const c = this.collecting!;
    this.collecting = undefined;
    const data = Buffer.concat(c.data);
    this.meta.push(data);
    const body = data.subarray(0, c.size);
    if (c.type === 'x') this.longName = paxPath(body) ?? this.longName;
    if (c.type === 'L') this.longName = cString(body);
  }
}

/** the filter for a plan: drops exactly the blobs of the shared layers the host holds */
export function layerFilter(plan: LayerPlan): TarFilter {
  return new TarFilter((name) => {
    const d = blobDigest(name);
    return d !== undefined && plan.skip.has(d);
  });
}

/** what the deploy log says was shipped */
export interface ShipSummary {
  mode: 'layers' | 'full';
  layers: number;
  layersSent: number;
  layersSkipped: number;
  bytes: number;
  /** why the whole image went although layer-aware shipping was wanted */
  fallback?: string;
}

/** layers sent / skipped after a filtered save: a layer counts as skipped when its blob was left out */
export function countLayers(plan: LayerPlan, stats: FilterStats): { sent: number; skipped: number } {
  const dropped = new Set(stats.dropped);
  const skipped = plan.layers.filter((d) => dropped.has(d.slice('sha256:'.length))).length;
  return { sent: plan.layers.length - skipped, skipped };
}

/**
 * Whether the layer-aware attempt must be followed by a full save | load, and why (undefined: it stands).
 * A load that failed is retried whole (a layer pruned on the host between the listing and the load, a store
 * that wants every blob in the archive); so is one whose archive was the legacy format, which the filter cannot
 * thin (its layer files are not named by diff ID) — that one already carried everything, so it only needs
 * saying. A failed `docker save` is not retried: the full path would fail the same way.
 */
export function fallbackReason(p: {
  loadCode: number;
  loadStderr: string;
  stats: FilterStats;
  plan: LayerPlan;
  /** the filter's own failure: the archive it passed on was cut short, whatever the load made of it */
  filterFailure?: string;
}): { retry: boolean; why: string } | undefined {
  if (p.filterFailure) return { retry: true, why: `the image archive could not be filtered (${p.filterFailure})` };
  if (p.loadCode !== 0) {
    const first = p.loadStderr.trim().split('\n')[0] ?? '';
    return { retry: true, why: `the host refused the image without its layers${first ? ` (${first})` : ''}` };
  }
  if (p.plan.skip.size > 0 && !p.stats.oci)
    return { retry: false, why: "this machine's docker save writes the legacy archive format (Docker < 25)" };
  return undefined;
}

/** the deploy log's line, e.g. "shipped 3 of 9 layers, 1.2 MB (6 layers already on the host)" */
export function shipLine(s: ShipSummary): string {
  const size = formatBytes(s.bytes);
  if (s.mode === 'full' || s.layersSkipped === 0)
    return `shipped the whole image, ${s.layers} layer${s.layers === 1 ? '' : 's'}, ${size}`;
  return (
    `shipped ${s.layersSent} of ${s.layers} layers, ${size} ` +
    `(${s.layersSkipped} layer${s.layersSkipped === 1 ? '' : 's'} already on the host)`
  );
}
