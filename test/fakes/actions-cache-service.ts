/**
 * A loopback stand-in for the GitHub Actions cache service as @actions/cache 6.3.0 reaches it (cache service
 * v2): the Twirp JSON service github.actions.results.api.v1.CacheService under ACTIONS_RESULTS_URL, with the
 * runtime token as bearer, and the storage blob behind the signed URLs it hands out, spoken as the Azure
 * storage SDK speaks it (single-shot or block upload, HEAD, ranged GET) and as the plain download (GET).
 *
 * Shapes checked against node_modules/@actions/cache/lib (generated/results/api/v1/cache.js: snake_case
 * field names, int64 as strings; internal/shared/cacheTwirpClient.js: every answer is parsed as JSON, errors
 * included, and only 5xx are retried) and @azure/storage-blob (x-ms-blob-type, comp=block/blocklist,
 * x-ms-range). Lookup follows GitHub's documented order: the key, then keys it prefixes, then each restore
 * key exactly and as a prefix, newest first, always for the same version. A second CreateCacheEntry for a
 * key and version answers 409 already_exists, as the hosted service does.
 *
 * blobHost 'azure' names the blob <account>.blob.core.windows.net, as GitHub's URLs are: only then does the
 * client download with the storage SDK (HEAD + ranged GETs) instead of one GET. Such a name does not resolve
 * here, so this server also acts as the HTTP proxy for it: point HTTP_PROXY at `url` (the Actions http client
 * goes direct to loopback anyway).
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const SERVICE = 'github.actions.results.api.v1.CacheService';
const ACCOUNT = 'togathercache';
const CONTAINER = 'actions-cache';
const AZURE_SUFFIX = '.blob.core.windows.net';

export interface CacheEntry {
  id: number;
  key: string;
  version: string;
  blob: string;
  finalized: boolean;
  sizeBytes?: number;
  createdAt: number;
}

interface Blob {
  /** committed content; undefined until a put or a block list commits it */
  data?: Buffer;
  blocks: Map<string, Buffer>;
  etag: string;
  modified: Date;
  /** the signature that may write this blob, and the one that may read it */
  writeSig: string;
  readSig: string;
}

export interface ServiceCall {
  method: string;
  body: Record<string, unknown>;
  status: number;
}

export interface BlobRequest {
  method: string;
  /** comp= of the request (block, blocklist) or '' */
  comp: string;
  range?: string;
  status: number;
  /** the request came through this server acting as a proxy for the Azure blob host name */
  proxied: boolean;
}

export interface ActionsCacheService {
  /** ACTIONS_RESULTS_URL (also the proxy address in blobHost 'azure') */
  url: string;
  token: string;
  /** what @actions/cache reads to find and authenticate to the service */
  env: Record<string, string>;
  calls: ServiceCall[];
  blobRequests: BlobRequest[];
  entries(): CacheEntry[];
  close(): Promise<void>;
}

export async function startActionsCacheService(
  opts: { blobHost?: 'loopback' | 'azure' } = {},
): Promise<ActionsCacheService> {
  const blobHost = opts.blobHost ?? 'loopback';
  const token = `fake-runtime-token-${randomBytes(8).toString('hex')}`;
  const entries: CacheEntry[] = [];
  const blobs = new Map<string, Blob>();
  const calls: ServiceCall[] = [];
  const blobRequests: BlobRequest[] = [];
  let nextId = 1;
  let clock = 0;
  let base = '';

  const blobUrl = (name: string, sig: string, perms: string) => {
    const q = `sv=2024-11-04&sr=b&sp=${perms}&se=2099-01-01T00%3A00%3A00Z&sig=${encodeURIComponent(sig)}`;
    return blobHost === 'azure'
      ? `http://${ACCOUNT}${AZURE_SUFFIX}/${CONTAINER}/${name}?${q}`
      : `${base}${ACCOUNT}/${CONTAINER}/${name}?${q}`;
  };

  const twirp = (method: string, body: Record<string, unknown>): [number, object] => {
    const key = typeof body.key === 'string' ? body.key : '';
    const version = typeof body.version === 'string' ? body.version : '';
    if (!key || !version) return [400, { code: 'invalid_argument', msg: 'key and version are required' }];
    switch (method) {
      case 'CreateCacheEntry': {
        if (entries.some((e) => e.key === key && e.version === version)) {
          return [
            409,
            { code: 'already_exists', msg: 'cache entry with the same key, version, and scope already exists' },
          ];
        }
        const name = `${nextId}-${randomBytes(6).toString('hex')}`;
        const blob: Blob = {
          blocks: new Map(),
          etag: '',
          modified: new Date(),
          writeSig: randomBytes(12).toString('base64'),
          readSig: randomBytes(12).toString('base64'),
        };
        blobs.set(name, blob);
        entries.push({ id: nextId++, key, version, blob: name, finalized: false, createdAt: clock++ });
        return [200, { ok: true, signed_upload_url: blobUrl(name, blob.writeSig, 'cw') }];
      }
      case 'FinalizeCacheEntryUpload': {
        const entry = entries.find((e) => e.key === key && e.version === version && !e.finalized);
        if (!entry) return [404, { code: 'not_found', msg: 'no cache entry reserved for this key and version' }];
        const size = Number(body.size_bytes);
        const data = blobs.get(entry.blob)?.data;
        if (!data) return [200, { ok: false, message: 'the upload was never committed' }];
        if (data.length !== size)
          return [200, { ok: false, message: `size_bytes ${size} does not match the uploaded ${data.length} bytes` }];
        entry.finalized = true;
        entry.sizeBytes = size;
        return [200, { ok: true, entry_id: String(entry.id) }];
      }
      case 'GetCacheEntryDownloadURL': {
        const restoreKeys = Array.isArray(body.restore_keys)
          ? body.restore_keys.filter((k): k is string => typeof k === 'string')
          : [];
        const ready = entries
          .filter((e) => e.finalized && e.version === version)
          .sort((a, b) => b.createdAt - a.createdAt);
        const match =
          ready.find((e) => e.key === key) ??
          ready.find((e) => e.key.startsWith(key)) ??
          restoreKeys
            .map((k) => ready.find((e) => e.key === k) ?? ready.find((e) => e.key.startsWith(k)))
            .find((e) => e !== undefined);
        if (!match) return [200, { ok: false }];
        const blob = blobs.get(match.blob)!;
        return [200, { ok: true, signed_download_url: blobUrl(match.blob, blob.readSig, 'r'), matched_key: match.key }];
      }
      default:
        return [404, { code: 'bad_route', msg: `no handler for ${SERVICE}/${method}` }];
    }
  };

  const blobError = (res: http.ServerResponse, status: number, code: string, message: string) => {
    const xml = `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`;
    res.writeHead(status, {
      'content-type': 'application/xml',
      'x-ms-error-code': code,
      'x-ms-request-id': randomBytes(8).toString('hex'),
      'content-length': Buffer.byteLength(xml),
    });
    res.end(xml);
    return status;
  };

  const blobHeaders = (blob: Blob) => ({
    etag: blob.etag,
    'last-modified': blob.modified.toUTCString(),
    'x-ms-request-id': randomBytes(8).toString('hex'),
    'x-ms-version': '2024-11-04',
  });

  const serveBlob = (req: http.IncomingMessage, res: http.ServerResponse, url: URL, body: Buffer): number => {
    const name = url.pathname.split('/').at(-1) ?? '';
    const blob = blobs.get(name);
    if (!blob) return blobError(res, 404, 'BlobNotFound', 'The specified blob does not exist.');
    const sig = url.searchParams.get('sig');
    const comp = url.searchParams.get('comp') ?? '';
    if (req.method === 'PUT') {
      if (sig !== blob.writeSig)
        return blobError(res, 403, 'AuthenticationFailed', 'The signature does not allow writing this blob.');
      if (comp === 'block') {
        const id = url.searchParams.get('blockid');
        if (!id) return blobError(res, 400, 'InvalidQueryParameterValue', 'blockid is required.');
        blob.blocks.set(id, body);
      } else if (comp === 'blocklist') {
        const ids = [...body.toString('utf8').matchAll(/<(Latest|Uncommitted|Committed)>([^<]*)<\/\1>/g)].map(
          (m) => m[2]!,
        );
        const missing = ids.find((id) => !blob.blocks.has(id));
        if (missing !== undefined) return blobError(res, 400, 'InvalidBlockList', `block ${missing} was never staged.`);
        blob.data = Buffer.concat(ids.map((id) => blob.blocks.get(id)!));
        blob.blocks.clear();
      } else if (comp === '') {
        if (req.headers['x-ms-blob-type'] !== 'BlockBlob')
          return blobError(res, 400, 'MissingRequiredHeader', 'x-ms-blob-type: BlockBlob is required.');
        blob.data = body;
      } else return blobError(res, 400, 'InvalidQueryParameterValue', `comp=${comp} is not supported here.`);
      if (comp !== 'block') {
        blob.etag = `"0x${randomBytes(8).toString('hex').toUpperCase()}"`;
        blob.modified = new Date();
      }
      res.writeHead(201, { ...blobHeaders(blob), 'x-ms-request-server-encrypted': 'true', 'content-length': 0 });
      res.end();
      return 201;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return blobError(res, 405, 'UnsupportedHttpVerb', `${req.method} is not supported.`);
    if (sig !== blob.readSig && sig !== blob.writeSig)
      return blobError(res, 403, 'AuthenticationFailed', 'The signature does not allow reading this blob.');
    if (!blob.data) return blobError(res, 404, 'BlobNotFound', 'The specified blob has no committed content.');
    const ifMatch = req.headers['if-match'];
    if (ifMatch && ifMatch !== blob.etag)
      return blobError(
        res,
        412,
        'ConditionNotMet',
        'The condition specified using HTTP conditional header(s) is not met.',
      );
    const total = blob.data.length;
    const common = {
      ...blobHeaders(blob),
      'x-ms-blob-type': 'BlockBlob',
      'accept-ranges': 'bytes',
      'content-type': 'application/octet-stream',
    };
    const range = (req.headers['x-ms-range'] ?? req.headers.range) as string | undefined;
    if (req.method === 'GET' && range) {
      const m = /^bytes=(\d+)-(\d*)$/.exec(range);
      const start = Number(m?.[1]);
      const end = Math.min(m?.[2] ? Number(m[2]) : total - 1, total - 1);
      if (!m || start > end)
        return blobError(
          res,
          416,
          'InvalidRange',
          'The range specified is invalid for the current size of the resource.',
        );
      res.writeHead(206, {
        ...common,
        'content-range': `bytes ${start}-${end}/${total}`,
        'content-length': end - start + 1,
      });
      res.end(blob.data.subarray(start, end + 1));
      return 206;
    }
    res.writeHead(200, { ...common, 'content-length': total });
    res.end(req.method === 'HEAD' ? undefined : blob.data);
    return 200;
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      // absolute-form when we are the proxy for the Azure name, origin-form otherwise
      const url = new URL(req.url ?? '/', `http://${req.headers.host ?? '127.0.0.1'}`);
      const proxied = url.hostname.endsWith(AZURE_SUFFIX);
      if (proxied || url.pathname.startsWith(`/${ACCOUNT}/`)) {
        if (proxied && (blobHost !== 'azure' || url.hostname !== `${ACCOUNT}${AZURE_SUFFIX}`)) {
          res.writeHead(502).end();
          return;
        }
        const status = serveBlob(req, res, url, body);
        blobRequests.push({
          method: req.method ?? '',
          comp: url.searchParams.get('comp') ?? '',
          range: (req.headers['x-ms-range'] ?? req.headers.range) as string | undefined,
          status,
          proxied,
        });
        return;
      }
      const m = new RegExp(`^/twirp/${SERVICE.replace(/\./g, '\\.')}/(\\w+)$`).exec(url.pathname);
      let status: number;
      let answer: object;
      let parsed: Record<string, unknown> = {};
      if (!m || req.method !== 'POST')
        [status, answer] = [404, { code: 'bad_route', msg: `no route ${req.method} ${url.pathname}` }];
      else if (req.headers.authorization !== `Bearer ${token}`)
        [status, answer] = [401, { code: 'unauthenticated', msg: 'the runtime token is missing or wrong' }];
      else if (!String(req.headers['content-type']).startsWith('application/json'))
        [status, answer] = [415, { code: 'bad_route', msg: 'only the JSON encoding is served' }];
      else {
        try {
          parsed = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
          [status, answer] = twirp(m[1]!, parsed);
        } catch {
          [status, answer] = [400, { code: 'malformed', msg: 'the body is not JSON' }];
        }
      }
      calls.push({ method: m?.[1] ?? url.pathname, body: parsed, status });
      const text = JSON.stringify(answer);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return {
    url: base,
    token,
    env: { ACTIONS_RESULTS_URL: base, ACTIONS_RUNTIME_TOKEN: token, ACTIONS_CACHE_SERVICE_V2: 'true' },
    calls,
    blobRequests,
    entries: () => entries.map((e) => ({ ...e })),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
