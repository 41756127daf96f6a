import { once } from 'node:events';
import { PassThrough, Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ulid } from 'ulid';
import type { OffsiteConfig } from '../../config/offsite-schema.js';
import { decryptStream, encryptStream } from '../../crypto/age.js';
import { DeployError, describeError } from '../../errors.js';
import { cmd, type Command, type RunOptions, type RunResult } from '../../host/host.js';
import type { EngineContext } from '../context.js';
import type { Layout } from '../stack/layout.js';
import { snapshotDiscardCmd, snapshotPublishCmd, snapshotReadCmd, snapshotReceiveCmd } from './commands.js';
import {
  listSnapshots,
  metaName,
  nameTime,
  SNAPSHOT_NAME_RE,
  snapshotsDir,
  verifySnapshot,
  type SnapshotEntry,
  type SnapshotMeta,
} from './snapshot.js';

/*
 * Copies of the snapshots off the host. The deployer (runner or workstation) reads a snapshot over SSH, encrypts
 * it with age to the configured recipients and hands it to its own rclone, so neither the storage credentials
 * nor the decryption key ever reach the host. A copy is `<snapshot>.age` beside `<snapshot-meta>.json.age`
 * (its metadata: the SHA-256 that proves a fetched copy whole). An upload is written as `….age.part` and renamed
 * only once its size checked out, so a cut upload never looks like a copy.
 */

export const COPY_SUFFIX = '.age';
export const PART_SUFFIX = '.part';

const copyName = (file: string) => `${file}${COPY_SUFFIX}`;
const metaCopyName = (file: string) => `${metaName(file)}${COPY_SUFFIX}`;
const DAY_MS = 86_400_000;
/** a .part this old belongs to an upload that died (timeouts are far shorter) */
const STALE_PART_MS = DAY_MS;

// ---------------------------------------------------------------------------------------------------------
// rclone argv: run by the deployer's Local port, never on the host

/** `remote:path` + name; a remote without a path (`remote:`) takes the name right after the colon */
export function remotePath(remote: string, name?: string): string {
  if (!name) return remote;
  return remote.endsWith(':') ? `${remote}${name}` : `${remote}/${name}`;
}

export function rcloneRcatCmd(remote: string, name: string): Command {
  return cmd('rclone', 'rcat', remotePath(remote, name));
}

export function rcloneCatCmd(remote: string, name: string): Command {
  return cmd('rclone', 'cat', remotePath(remote, name));
}

export function rcloneListCmd(remote: string): Command {
  return cmd('rclone', 'lsjson', '--files-only', '--no-mimetype', remote);
}

export function rcloneDeleteCmd(remote: string, name: string): Command {
  return cmd('rclone', 'deletefile', remotePath(remote, name));
}

export function rcloneMoveCmd(remote: string, from: string, to: string): Command {
  return cmd('rclone', 'moveto', remotePath(remote, from), remotePath(remote, to));
}

// ---------------------------------------------------------------------------------------------------------
// listing and retention (pure)

export interface OffsiteCopy {
  /** the snapshot's name (without .age) */
  file: string;
  bytes: number;
  /** when its snapshot was taken, from the name */
  createdAt: number;
  /** its metadata copy is there (without it, a fetched copy cannot be verified) */
  meta: boolean;
}

export interface OffsiteListing {
  remote: string;
  copies: OffsiteCopy[]; // newest first
  /** uploads that did not finish (or are under way): name, size, modification time */
  partials: { name: string; bytes: number; mtime: number }[];
}

interface LsEntry {
  Name?: unknown;
  Size?: unknown;
  ModTime?: unknown;
}

/** `rclone lsjson` output → the copies and partial uploads it shows; other files in the directory are ignored */
export function parseOffsiteListing(remote: string, json: string): OffsiteListing {
  const entries = JSON.parse(json || '[]') as LsEntry[];
  const names = new Map<string, LsEntry>();
  for (const e of Array.isArray(entries) ? entries : []) if (typeof e.Name === 'string') names.set(e.Name, e);
  const copies: OffsiteCopy[] = [];
  const partials: OffsiteListing['partials'] = [];
  for (const [name, e] of names) {
    const bytes = typeof e.Size === 'number' ? e.Size : 0;
    if (name.endsWith(COPY_SUFFIX + PART_SUFFIX)) {
      const mtime = typeof e.ModTime === 'string' ? Date.parse(e.ModTime) : NaN;
      partials.push({ name, bytes, mtime: Number.isNaN(mtime) ? 0 : mtime });
      continue;
    }
    const file = name.slice(0, -COPY_SUFFIX.length);
    if (!name.endsWith(COPY_SUFFIX) || !SNAPSHOT_NAME_RE.test(file)) continue;
    copies.push({ file, bytes, createdAt: nameTime(file)!, meta: names.has(metaCopyName(file)) });
  }
  copies.sort((a, b) => b.createdAt - a.createdAt || b.file.localeCompare(a.file));
  return { remote, copies, partials };
}

export interface OffsiteVerdict {
  remove: OffsiteCopy[];
  keep: { copy: OffsiteCopy; why: 'newest' | 'keep_min' | 'within retention' }[];
}

/**
 * Pure: which copies retention removes. The host's rule with a floor: a copy goes once retention_days have
 * passed since its snapshot was taken, but the newest keep_min copies stay whatever their age, so a
 * schedule that stopped (or a host that died) never lets retention empty the remote.
 */
export function judgeOffsiteRetention(
  copies: OffsiteCopy[],
  now: number,
  retentionDays: number,
  keepMin: number,
): OffsiteVerdict {
  const sorted = [...copies].sort((a, b) => b.createdAt - a.createdAt || b.file.localeCompare(a.file));
  const v: OffsiteVerdict = { remove: [], keep: [] };
  sorted.forEach((c, i) => {
    if (i === 0) v.keep.push({ copy: c, why: 'newest' });
    else if (i < keepMin) v.keep.push({ copy: c, why: 'keep_min' });
    else if (c.createdAt + retentionDays * DAY_MS > now) v.keep.push({ copy: c, why: 'within retention' });
    else v.remove.push(c);
  });
  return v;
}

// ---------------------------------------------------------------------------------------------------------
// the flows

/** the configured off-site settings; a clear error when an off-site command runs without them */
export function offsiteOf(ctx: EngineContext): OffsiteConfig {
  const off = ctx.cfg.config.database.snapshots.offsite;
  if (!off)
    throw new DeployError(
      'config',
      'database.snapshots.offsite is not configured: there is no off-site copy to work with',
      'add database.snapshots.offsite (remote, recipients) to the config; see docs/snapshots.md#copies-off-the-host',
    );
  return off;
}

export function offsiteRetentionDays(ctx: EngineContext): number {
  const s = ctx.cfg.config.database.snapshots;
  return s.offsite?.retention_days ?? s.retention_days;
}

async function rclone(ctx: EngineContext, command: Command, opts: RunOptions = {}): Promise<RunResult> {
  return ctx.local.run(command, { ...opts, check: false, env: ctx.offsiteKeys?.rcloneEnv });
}

/** why rclone failed, redacted, with the fix for a missing rclone */
function rcloneFailure(ctx: EngineContext, what: string, r: RunResult): DeployError {
  const tail = ctx.redactor.redact(r.stderr.trim()).split('\n').filter(Boolean).slice(-4).join('\n    ');
  return new DeployError(
    'snapshot',
    `${what}: rclone exited ${r.code}${tail ? `\n    ${tail}` : ''}`,
    r.code === 127
      ? 'install rclone on the machine that runs togather-deploy (the snapshot workflow does when its offsite input is true)'
      : "check the rclone remote's configuration (RCLONE_CONFIG_<NAME>_* or TOGATHER_RCLONE_CONFIG) and that it is reachable",
  );
}

export async function listOffsite(ctx: EngineContext): Promise<OffsiteListing> {
  const { remote } = offsiteOf(ctx);
  const r = await rclone(ctx, rcloneListCmd(remote), { timeoutMs: 120_000 });
  // exit 3: the directory does not exist yet, i.e. nothing was copied
  if (r.code === 3) return { remote, copies: [], partials: [] };
  if (r.code !== 0) throw rcloneFailure(ctx, `listing ${remote} failed`, r);
  try {
    return parseOffsiteListing(remote, r.stdout);
  } catch (e) {
    throw new DeployError('snapshot', `rclone lsjson ${remote} printed no JSON list: ${describeError(e)}`);
  }
}

interface Relayed {
  bytes: number;
  result: RunResult;
  /** the first failure of the source or the transform (a wrong key, a damaged file) */
  failure?: unknown;
}

/**
 * source → transform → a command reading its stdin (rclone rcat, the host's cat). Whatever fails, the command
 * sees an end of input rather than waiting forever, and the failure is returned: a cut stream is never mistaken
 * for a complete one, because every caller checks `failure`, the command's exit and the size.
 */
async function relay(
  source: Readable,
  transform: Transform,
  consume: (input: Readable) => Promise<RunResult>,
): Promise<Relayed> {
  const input = new PassThrough();
  const stop = new AbortController();
  let bytes = 0;
  let failure: unknown;
  const pump = pipeline(
    source,
    transform,
    async (chunks: AsyncIterable<Buffer>) => {
      for await (const c of chunks) {
        bytes += c.length;
        if (!input.write(c)) await once(input, 'drain', { signal: stop.signal });
      }
    },
    { signal: stop.signal },
  )
    .catch((e: unknown) => {
      if (!stop.signal.aborted) failure = e;
    })
    .finally(() => input.end());
  const result = await consume(input);
  stop.abort(); // the command is gone: nothing more is fed to it
  await pump;
  return { bytes, result, failure };
}

export interface CopyResult {
  file: string;
  remote: string;
  /** bytes of the encrypted copy */
  bytes: number;
  ms: number;
}

/**
 * A snapshot another step took (a deploy's, before its migrations) copied off the host by its name. Called after
 * the deploy's switch: a failed copy is a warning that names the command to copy it again, never a failure.
 */
export async function copyTakenSnapshot(
  ctx: EngineContext,
  layout: Layout,
  file: string,
): Promise<CopyResult | undefined> {
  try {
    const entry = (await listSnapshots(ctx, layout)).snapshots.find((e) => e.file === file);
    if (!entry) throw new Error(`${file} is no longer in the snapshots directory`);
    return await copyOffsite(ctx, layout, entry);
  } catch (e) {
    ctx.reporter.warn(
      `the snapshot ${file} stays on the host only: its copy off the host failed (${describeError(e)}); ` +
        `copy it with: togather-deploy snapshot copy ${ctx.cfg.environment} ${file}`,
    );
    return undefined;
  }
}

/**
 * Copies one snapshot off the host: read over SSH, encrypted here, uploaded as `.part`, its size checked, its
 * metadata uploaded, then renamed to its final name. A failure removes the partial upload and throws.
 */
export async function copyOffsite(ctx: EngineContext, layout: Layout, entry: SnapshotEntry): Promise<CopyResult> {
  const off = offsiteOf(ctx);
  const started = ctx.clock.now();
  if (!ctx.host.stream) throw new Error(`the host transport of ${ctx.host.name} cannot stream a file`);
  if (!entry.meta)
    throw new DeployError(
      'snapshot',
      `${entry.file} has no metadata file beside it: a copy without its recorded SHA-256 could not be verified when it comes back`,
      'copy another snapshot, or take a fresh one (snapshot create)',
    );
  const timeoutMs = ctx.cfg.config.database.snapshots.timeout;
  const part = copyName(entry.file) + PART_SUFFIX;
  const fail = async (why: string, remedy?: string): Promise<never> => {
    await rclone(ctx, rcloneDeleteCmd(off.remote, part), { timeoutMs: 60_000 });
    throw new DeployError(
      'snapshot',
      `copying ${entry.file} to ${off.remote} failed: ${why}; the partial upload was removed`,
      remedy,
    );
  };
  const read = ctx.host.stream(snapshotReadCmd(snapshotsDir(ctx, layout), entry.file), { check: false, timeoutMs });
  const up = await relay(read.stdout, encryptStream(off.recipients), (input) =>
    rclone(ctx, rcloneRcatCmd(off.remote, part), { stdin: input, timeoutMs }),
  );
  const host = await read.done.catch((e: unknown) => ({ code: -1, stderr: describeError(e) }));
  if (host.code !== 0) return fail(`reading it on the host failed (exit ${host.code}): ${tail(ctx, host.stderr)}`);
  if (up.failure) return fail(`encrypting it failed: ${describeError(up.failure)}`);
  if (up.result.code !== 0) {
    const e = rcloneFailure(ctx, 'rclone rcat', up.result);
    return fail(e.message, e.remedy);
  }
  const seen = (await listOffsite(ctx)).partials.find((p) => p.name === part);
  if (seen?.bytes !== up.bytes)
    return fail(`the remote holds ${seen ? `${seen.bytes} bytes` : 'no file'} where ${up.bytes} were written`);
  // the metadata first: a copy under its final name always has it
  const meta = Buffer.from(JSON.stringify(ctx.redactor.redactDeep(entry.meta)) + '\n');
  const m = await relay(Readable.from([meta]), encryptStream(off.recipients), (input) =>
    rclone(ctx, rcloneRcatCmd(off.remote, metaCopyName(entry.file)), { stdin: input, timeoutMs: 120_000 }),
  );
  if (m.failure || m.result.code !== 0)
    return fail(`uploading its metadata failed: ${m.failure ? describeError(m.failure) : tail(ctx, m.result.stderr)}`);
  const mv = await rclone(ctx, rcloneMoveCmd(off.remote, part, copyName(entry.file)), { timeoutMs: 120_000 });
  if (mv.code !== 0) return fail(rcloneFailure(ctx, 'rclone moveto', mv).message);
  return { file: entry.file, remote: off.remote, bytes: up.bytes, ms: ctx.clock.now() - started };
}

function tail(ctx: EngineContext, stderr: string): string {
  return ctx.redactor.redact(stderr.trim()).split('\n').filter(Boolean).slice(-4).join(' / ') || 'no message';
}

/** the age identities a fetch decrypts with; a config error (before anything runs) when none was given */
export function decryptionKeys(ctx: EngineContext): string[] {
  const ids = ctx.offsiteKeys?.identities ?? [];
  if (!ids.length)
    throw new DeployError(
      'config',
      'fetching an off-site copy needs the age identity (secret key) its copies are encrypted to',
      'set TOGATHER_SNAPSHOT_IDENTITY to the AGE-SECRET-KEY-1… line (action: the snapshot-identity input, from a secret)',
    );
  return ids;
}

/** decrypts a small off-site file (the metadata) into memory */
async function readDecrypted(ctx: EngineContext, remote: string, name: string, ids: string[]): Promise<Buffer> {
  const cat = ctx.local.stream(rcloneCatCmd(remote, name), ctx.offsiteKeys?.rcloneEnv);
  const chunks: Buffer[] = [];
  let failure: unknown;
  await pipeline(cat.stdout, decryptStream(ids), async (src: AsyncIterable<Buffer>) => {
    for await (const c of src) chunks.push(c);
  }).catch((e: unknown) => (failure = e));
  const r = await cat.done;
  if (failure instanceof DeployError) throw failure;
  if (r.code !== 0) throw rcloneFailure(ctx, `reading ${remotePath(remote, name)} failed`, r);
  if (failure) throw new DeployError('snapshot', describeError(failure));
  return Buffer.concat(chunks);
}

/**
 * Brings an off-site copy back onto the host: its metadata and the dump are decrypted here and streamed into a
 * partial file on the host, which must verify against the recorded size and SHA-256 before it is published under
 * its name in the snapshots directory (where the restore verifies it once more).
 */
export async function fetchOffsite(ctx: EngineContext, layout: Layout, file: string): Promise<SnapshotMeta> {
  const off = offsiteOf(ctx);
  const ids = decryptionKeys(ctx);
  const listing = await listOffsite(ctx);
  const copy = listing.copies.find((c) => c.file === file);
  if (!copy)
    throw new DeployError('snapshot', `no copy of ${file} in ${off.remote}`, 'see `togather-deploy snapshot list`');
  if (!copy.meta)
    throw new DeployError('snapshot', `the copy of ${file} in ${off.remote} has no metadata: it cannot be verified`);
  const failed = (problem: DeployError) =>
    new DeployError(
      'snapshot',
      `fetching ${file} from ${off.remote} failed: ${problem.message}; nothing was left on the host`,
      problem.remedy,
    );
  let meta: SnapshotMeta;
  try {
    meta = JSON.parse((await readDecrypted(ctx, off.remote, metaCopyName(file), ids)).toString('utf8')) as SnapshotMeta;
  } catch (e) {
    throw failed(
      e instanceof DeployError ? e : new DeployError('snapshot', `its metadata is not JSON: ${describeError(e)}`),
    );
  }
  if (meta.file !== file || !meta.sha256)
    throw failed(new DeployError('snapshot', 'its metadata names another file or lacks a SHA-256'));

  const dir = snapshotsDir(ctx, layout);
  const part = `.partial-${ulid()}.sql.gz`;
  const timeoutMs = ctx.cfg.config.database.snapshots.timeout;
  const discard = () => ctx.host.run(snapshotDiscardCmd(dir, part), { check: false });
  const cat = ctx.local.stream(rcloneCatCmd(off.remote, copyName(file)), ctx.offsiteKeys?.rcloneEnv);
  const down = await relay(cat.stdout, decryptStream(ids), (input) =>
    ctx.host.run(snapshotReceiveCmd(dir, part), { stdin: input, check: false, timeoutMs }),
  );
  const r = await cat.done;
  // age's own verdict (wrong key, damaged copy) first: it is why rclone's output was cut off
  let problem: DeployError | undefined;
  if (down.failure instanceof DeployError) problem = down.failure;
  else if (r.code !== 0) problem = rcloneFailure(ctx, `reading ${remotePath(off.remote, copyName(file))} failed`, r);
  else if (down.failure) problem = new DeployError('snapshot', describeError(down.failure));
  else if (down.result.code !== 0)
    problem = new DeployError(
      'snapshot',
      `writing it into ${dir} on the host failed (exit ${down.result.code}): ${tail(ctx, down.result.stderr)}`,
    );
  if (problem) {
    await discard();
    throw failed(problem);
  }
  const entry: SnapshotEntry = {
    file: part,
    bytes: down.bytes,
    mtime: 0,
    meta,
    createdAt: Date.parse(meta.created_at),
    retentionUntil: 0,
  };
  const check = await verifySnapshot(ctx, layout, entry);
  if (!check.ok) {
    await discard();
    throw new DeployError(
      'snapshot',
      `the copy of ${file} fetched from ${off.remote} failed verification: ${check.problems.join('; ')}; it was removed from the host`,
      'try an older copy (snapshot list shows them)',
    );
  }
  const p = await ctx.host.run(snapshotPublishCmd(dir, part, file, metaName(file)), {
    stdin: JSON.stringify(meta) + '\n',
    check: false,
  });
  if (p.code !== 0) {
    await discard();
    // a drill on a host that still holds the snapshot: the fetched copy proved identical, the host's one serves
    if (p.code === 31 && (await hostCopySha(ctx, layout, file)) === meta.sha256) {
      ctx.reporter.info(
        `the copy fetched from ${off.remote} is identical to ${file} on the host (SHA-256 ${meta.sha256.slice(0, 12)}…)`,
      );
      return meta;
    }
    throw new DeployError(
      'snapshot',
      p.code === 31
        ? `${file} is already in ${dir} on the host, with other content than the copy`
        : `publishing the fetched ${file} in ${dir} failed (exit ${p.code}): ${tail(ctx, p.stderr)}`,
      p.code === 31 ? 'restore it without --from-offsite' : `check free space and permissions of ${dir}`,
    );
  }
  return meta;
}

/** the SHA-256 the host's own copy of `file` was recorded with, if it has one */
async function hostCopySha(ctx: EngineContext, layout: Layout, file: string): Promise<string | undefined> {
  const entry = (await listSnapshots(ctx, layout)).snapshots.find((e) => e.file === file);
  return entry?.meta?.sha256;
}

export interface OffsiteCleanup {
  remote: string;
  removed: string[];
  kept: { file: string; why: string }[];
  partials: string[];
}

/** Applies the copies' retention; with ctx.dryRun it only lists. */
export async function cleanupOffsite(ctx: EngineContext, extraProtected: string[] = []): Promise<OffsiteCleanup> {
  const off = offsiteOf(ctx);
  const listing = await listOffsite(ctx);
  const now = ctx.clock.now();
  const v = judgeOffsiteRetention(listing.copies, now, offsiteRetentionDays(ctx), off.keep_min);
  const remove = v.remove.filter((c) => !extraProtected.includes(c.file));
  const partials = listing.partials.filter((p) => now - p.mtime > STALE_PART_MS).map((p) => p.name);
  if (!ctx.dryRun) {
    const names = [...remove.flatMap((c) => [copyName(c.file), metaCopyName(c.file)]), ...partials];
    for (const n of names) {
      const r = await rclone(ctx, rcloneDeleteCmd(off.remote, n), { timeoutMs: 120_000 });
      // a copy whose metadata is already gone (exit 4: not found) is fine
      if (r.code !== 0 && r.code !== 4) throw rcloneFailure(ctx, `removing ${remotePath(off.remote, n)} failed`, r);
    }
  }
  return {
    remote: off.remote,
    removed: remove.map((c) => c.file),
    kept: v.keep.map((k) => ({ file: k.copy.file, why: k.why })),
    partials,
  };
}
