import { ulid } from 'ulid';
import { DeployError } from '../../errors.js';
import type { EngineContext } from '../context.js';
import {
  CREATE_SCRATCH_SQL,
  DROP_SCRATCH_SQL,
  DUMP_CLOSING_LINE,
  pgDumpArgs,
  psqlLoadArgs,
  psqlScriptArgs,
  REENABLE_SQL,
  snapshotDiscardCmd,
  snapshotDumpCmd,
  snapshotListCmd,
  snapshotLoadCmd,
  snapshotPublishCmd,
  snapshotRemoveCmd,
  snapshotVerifyCmd,
  SWAP_SQL,
} from './commands.js';
import { readSchemaVersion, sqlIdent, urlForDatabase, type DbSession, type SchemaVersion } from './database.js';
import type { Layout } from '../stack/layout.js';
import type { EnvironmentState } from '../types.js';

/*
 * Snapshots: plain-format pg_dump, gzip-compressed on the host, named {database}_{YYYYMMDD_HHMMSS}_{sha7}.sql.gz
 * with {same}.json beside it. A dump is written under a hidden .partial- name, verified, and only then given
 * its real name (a hard link: atomic, and refused when the name exists), so a file with a snapshot's name is
 * always a complete, verified dump; every failure path removes the partial file.
 */

export const SNAPSHOT_NAME_RE = /^([A-Za-z0-9_-]+)_(\d{8})_(\d{6})_([0-9a-f]{7})\.sql\.gz$/;

export type SnapshotReason = 'pre-migration' | 'manual' | 'pre-restore';

export interface SnapshotMeta {
  snapshot_id: string;
  file: string;
  environment: string;
  database_name: string;
  created_at: string;
  file_size_bytes: number;
  sha256: string;
  compression: 'gzip';
  format: 'plain';
  /** the release the snapshot belongs to: the one being deployed (pre-migration) or the one live */
  git_commit: string;
  /** what served when it was taken */
  live_version?: string;
  pre_migration_version: number | null;
  pre_migration_dirty: boolean;
  reason: SnapshotReason;
  deployment_id?: string;
  taken_by: string;
  retention_until: string;
  duration_ms: number;
  pg_dump_version?: string;
  status: 'verified';
  verification: { pg_dump_exit: number; gzip_ok: boolean; closing_line: boolean; bytes: number };
}

export function snapshotsDir(ctx: EngineContext, layout: Layout): string {
  return (ctx.cfg.config.database.snapshots.path ?? layout.path('snapshots')).replace(/\/+$/, '');
}

export function snapshotName(database: string, at: Date, sha: string): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const stamp = `${at.getUTCFullYear()}${p(at.getUTCMonth() + 1)}${p(at.getUTCDate())}_${p(at.getUTCHours())}${p(at.getUTCMinutes())}${p(at.getUTCSeconds())}`;
  return `${database}_${stamp}_${(sha || '0000000').slice(0, 7)}.sql.gz`;
}

export function metaName(file: string): string {
  return file.replace(/\.sql\.gz$/, '.json');
}

/** when the name says it was taken (UTC), for files whose metadata is missing */
export function nameTime(file: string): number | undefined {
  const m = SNAPSHOT_NAME_RE.exec(file);
  if (!m) return undefined;
  const [d, t] = [m[2]!, m[3]!];
  return Date.UTC(+d.slice(0, 4), +d.slice(4, 6) - 1, +d.slice(6, 8), +t.slice(0, 2), +t.slice(2, 4), +t.slice(4, 6));
}

function kv(out: string): Record<string, string> {
  const o: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) o[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return o;
}

export interface CreateOptions {
  reason: SnapshotReason;
  /** full SHA the snapshot belongs to */
  gitCommit?: string;
  liveVersion?: string;
  deploymentId?: string;
  /** the schema version read just before (saves a round trip); read here when absent */
  schema?: SchemaVersion;
}

/** Takes, verifies and publishes one snapshot. Throws DeployError('snapshot') and leaves no file on failure. */
export async function createSnapshot(
  ctx: EngineContext,
  layout: Layout,
  db: DbSession,
  o: CreateOptions,
): Promise<SnapshotMeta> {
  const dir = snapshotsDir(ctx, layout);
  const started = ctx.clock.now();
  const schema = o.schema ?? (await readSchemaVersion(ctx, db, 'snapshot'));
  const sha = o.gitCommit ?? o.liveVersion ?? '';
  let name = snapshotName(db.target.name, new Date(started), sha);
  const part = `.partial-${ulid()}.sql.gz`;
  const dump = db.tool(pgDumpArgs(db.target.url));
  const r = await ctx.host.run(snapshotDumpCmd(dir, part, dump), {
    check: false,
    timeoutMs: ctx.cfg.config.database.snapshots.timeout,
  });
  const f = kv(r.stdout);
  if (r.code !== 0) {
    await ctx.host.run(snapshotDiscardCmd(dir, part), { check: false });
    const why: Record<string, string> = {
      pg_dump: `pg_dump failed (exit ${f.dump ?? '?'})`,
      gzip: `writing the compressed dump failed (gzip exit ${f.gzip ?? '?'}; is the disk of ${dir} full?)`,
      empty: 'the dump is empty',
      'gzip-test': 'the written file is not a valid gzip stream',
      'closing-line': `the dump lacks pg_dump's closing line ("${DUMP_CLOSING_LINE}"): it is truncated`,
    };
    const reason = f.failed
      ? (why[f.failed] ?? f.failed)
      : r.code === 20
        ? `cannot create ${dir}`
        : `exit ${r.code}${r.code === 124 || r.code === 255 ? ' (timed out or connection lost)' : ''}`;
    throw new DeployError(
      'snapshot',
      `the snapshot of database ${db.target.name} failed: ${reason}.${tailOf(ctx, r.stderr)} No snapshot file was left behind.`,
      'fix the cause above (database credentials in DATABASE_URL, free disk for the snapshots directory) and run again; nothing was migrated',
    );
  }
  const now = ctx.clock.now();
  const retention = ctx.cfg.config.database.snapshots.retention_days;
  const meta: SnapshotMeta = {
    snapshot_id: ulid(),
    file: name,
    environment: ctx.cfg.environment,
    database_name: db.target.name,
    created_at: new Date(started).toISOString(),
    file_size_bytes: Number(f.bytes),
    sha256: f.sha256 ?? '',
    compression: 'gzip',
    format: 'plain',
    git_commit: sha,
    live_version: o.liveVersion,
    pre_migration_version: schema.version ?? null,
    pre_migration_dirty: schema.dirty,
    reason: o.reason,
    deployment_id: o.deploymentId,
    taken_by: ctx.actor,
    retention_until: new Date(started + retention * 86_400_000).toISOString(),
    duration_ms: now - started,
    pg_dump_version: f.pg_dump_version || undefined,
    status: 'verified',
    verification: { pg_dump_exit: 0, gzip_ok: true, closing_line: true, bytes: Number(f.bytes) },
  };
  // two snapshots within one second with the same commit: the later one takes the next free second
  for (let attempt = 0; ; attempt++) {
    meta.file = name;
    const p = await ctx.host.run(snapshotPublishCmd(dir, part, name, metaName(name)), {
      stdin: JSON.stringify(ctx.redactor.redactDeep(meta)) + '\n',
      check: false,
    });
    if (p.code === 0) break;
    if (p.code === 31 && attempt < 5) {
      name = snapshotName(db.target.name, new Date(started + (attempt + 1) * 1000), sha);
      continue;
    }
    await ctx.host.run(snapshotDiscardCmd(dir, part), { check: false });
    throw new DeployError(
      'snapshot',
      `the snapshot was taken but could not be published in ${dir} (exit ${p.code})${tailOf(ctx, p.stderr)}; it was removed`,
      `check free space and permissions of ${dir}`,
    );
  }
  return meta;
}

function tailOf(ctx: EngineContext, stderr: string): string {
  const t = ctx.redactor.redact(stderr.trim()).split('\n').filter(Boolean).slice(-6).join('\n    ');
  return t ? `\n    ${t}\n ` : '';
}

// ---------------------------------------------------------------------------------------------------------
// list, verify, cleanup

export interface SnapshotEntry {
  file: string;
  bytes: number;
  mtime: number;
  meta?: SnapshotMeta;
  /** when it was taken: metadata, else the name, else the file's mtime */
  createdAt: number;
  retentionUntil: number;
}

export interface SnapshotListing {
  dir: string;
  snapshots: SnapshotEntry[]; // newest first
  /** leftovers of interrupted snapshots: name and mtime */
  partials: { file: string; mtime: number }[];
}

export function parseListing(out: string, retentionDays: number): Omit<SnapshotListing, 'dir'> {
  const files = new Map<string, SnapshotEntry>();
  const partials: { file: string; mtime: number }[] = [];
  for (const line of out.split('\n')) {
    let m = /^F (\d+) (\d+) (\S+)$/.exec(line);
    if (m && SNAPSHOT_NAME_RE.test(m[3]!)) {
      const created = nameTime(m[3]!) ?? Number(m[2]) * 1000;
      files.set(m[3]!, {
        file: m[3]!,
        bytes: Number(m[1]),
        mtime: Number(m[2]) * 1000,
        createdAt: created,
        retentionUntil: created + retentionDays * 86_400_000,
      });
      continue;
    }
    m = /^M (\S+) (.*)$/.exec(line);
    if (m && files.has(m[1]!)) {
      try {
        const meta = JSON.parse(m[2]!) as SnapshotMeta;
        const e = files.get(m[1]!)!;
        e.meta = meta;
        const c = Date.parse(meta.created_at);
        const u = Date.parse(meta.retention_until);
        if (!Number.isNaN(c)) e.createdAt = c;
        if (!Number.isNaN(u)) e.retentionUntil = u;
      } catch {
        /* unreadable metadata: judged by the name's time */
      }
      continue;
    }
    m = /^P (\d+) (\.partial-[A-Za-z0-9._-]+)$/.exec(line);
    if (m) partials.push({ file: m[2]!, mtime: Number(m[1]) * 1000 });
  }
  const snapshots = [...files.values()].sort((a, b) => b.createdAt - a.createdAt || b.file.localeCompare(a.file));
  return { snapshots, partials };
}

export async function listSnapshots(ctx: EngineContext, layout: Layout): Promise<SnapshotListing> {
  const dir = snapshotsDir(ctx, layout);
  const r = await ctx.host.run(snapshotListCmd(dir), { check: false, timeoutMs: 60_000 });
  if (r.code !== 0) throw new DeployError('snapshot', `cannot list ${dir}: ${ctx.redactor.redact(r.stderr.trim())}`);
  return { dir, ...parseListing(r.stdout, ctx.cfg.config.database.snapshots.retention_days) };
}

/** snapshot file names the history still relies on: each deployment's safety net */
export function referencedSnapshots(state: EnvironmentState): Set<string> {
  const names = new Set<string>();
  for (const r of [state.current, state.previous, ...state.history]) if (r?.snapshot) names.add(r.snapshot);
  return names;
}

export interface RetentionVerdict {
  remove: SnapshotEntry[];
  keep: { entry: SnapshotEntry; why: 'newest' | 'referenced' | 'within retention' }[];
}

/**
 * Pure: which snapshots retention removes. Expired (past retention_until) and neither the newest snapshot nor
 * one a deployment in the history names as its safety net.
 */
export function judgeRetention(snapshots: SnapshotEntry[], referenced: Set<string>, now: number): RetentionVerdict {
  const newest = [...snapshots].sort((a, b) => b.createdAt - a.createdAt)[0]?.file;
  const v: RetentionVerdict = { remove: [], keep: [] };
  for (const s of snapshots) {
    if (s.file === newest) v.keep.push({ entry: s, why: 'newest' });
    else if (referenced.has(s.file)) v.keep.push({ entry: s, why: 'referenced' });
    else if (s.retentionUntil > now) v.keep.push({ entry: s, why: 'within retention' });
    else v.remove.push(s);
  }
  return v;
}

/** a partial file this old belongs to a snapshot that died (timeouts are far shorter) */
const STALE_PARTIAL_MS = 24 * 3600_000;

export interface CleanupResult {
  removed: string[];
  kept: { file: string; why: string }[];
  partials: string[];
}

/** Applies retention (after every snapshot, and on `snapshot cleanup`); with ctx.dryRun it only lists. */
export async function cleanupSnapshots(
  ctx: EngineContext,
  layout: Layout,
  state: EnvironmentState,
  extraProtected: string[] = [],
): Promise<CleanupResult> {
  const listing = await listSnapshots(ctx, layout);
  const now = ctx.clock.now();
  const verdict = judgeRetention(listing.snapshots, new Set([...referencedSnapshots(state), ...extraProtected]), now);
  const partials = listing.partials.filter((p) => now - p.mtime > STALE_PARTIAL_MS).map((p) => p.file);
  const names = [...verdict.remove.map((s) => s.file), ...partials];
  for (const n of names)
    if (!SNAPSHOT_NAME_RE.test(n) && !/^\.partial-[A-Za-z0-9._-]+$/.test(n)) throw new Error(`refusing to remove ${n}`);
  if (names.length && !ctx.dryRun) {
    const r = await ctx.host.run(snapshotRemoveCmd(listing.dir, names), { check: false });
    if (r.code !== 0)
      throw new DeployError('snapshot', `removing expired snapshots failed: ${ctx.redactor.redact(r.stderr.trim())}`);
  }
  return {
    removed: verdict.remove.map((s) => s.file),
    kept: verdict.keep.map((k) => ({ file: k.entry.file, why: k.why })),
    partials,
  };
}

export interface VerifyResult {
  file: string;
  ok: boolean;
  problems: string[];
  bytes?: number;
}

export async function verifySnapshot(ctx: EngineContext, layout: Layout, entry: SnapshotEntry): Promise<VerifyResult> {
  const r = await ctx.host.run(snapshotVerifyCmd(snapshotsDir(ctx, layout), entry.file), {
    check: false,
    timeoutMs: ctx.cfg.config.database.snapshots.timeout,
  });
  const f = kv(r.stdout);
  const problems: string[] = [];
  if (f.missing) problems.push(`the ${f.missing === 'dir' ? 'snapshots directory' : 'file'} is missing`);
  else {
    const bytes = Number(f.bytes);
    if (!(bytes > 0)) problems.push('empty file');
    if (f.gzip !== 'ok') problems.push('gzip integrity check failed');
    if (f.closing !== 'ok') problems.push('no closing line: the dump is truncated');
    if (!entry.meta) problems.push('no metadata file beside it');
    else {
      if (entry.meta.file_size_bytes !== bytes)
        problems.push(`size ${bytes} differs from the recorded ${entry.meta.file_size_bytes}`);
      if (entry.meta.sha256 !== f.sha256) problems.push('SHA-256 differs from the recorded one');
    }
  }
  if (r.code !== 0) problems.push(`verification failed to run (exit ${r.code})`);
  return { file: entry.file, ok: problems.length === 0, problems, bytes: f.bytes ? Number(f.bytes) : undefined };
}

// ---------------------------------------------------------------------------------------------------------
// restore

/**
 * Replaces the database's content with a snapshot's, never leaving it half-restored: the dump is loaded into
 * a scratch database in one transaction; only when that succeeded is the scratch database renamed into place
 * (and the old one dropped — the caller took a safety snapshot of it first). Needs a role that may create
 * databases (the bundled database's user is its superuser).
 */
export async function restoreInto(
  ctx: EngineContext,
  layout: Layout,
  db: DbSession,
  entry: SnapshotEntry,
): Promise<void> {
  const target = db.target.name;
  const tag = Date.now().toString(36);
  const scratch = `${target}_restore_${tag}`.slice(0, 63);
  const old = `${target}_replaced_${tag}`.slice(0, 63);
  const maint = urlForDatabase(db.target, 'postgres');
  const psqlOn = (url: string, vars: Record<string, string>) => db.tool(psqlScriptArgs(url, vars), true);
  const vars = { target, scratch, old };
  const timeoutMs = ctx.cfg.config.database.snapshots.timeout;
  const fail = (what: string, stderr: string) =>
    new DeployError(
      'snapshot',
      `restore of ${entry.file} failed while ${what}: ${ctx.redactor.redact(stderr.trim()).split('\n').slice(-6).join('\n    ')}`,
      'the database was left as it was; look at the message above',
    );

  let r = await ctx.host.run(psqlOn(maint, vars), { stdin: CREATE_SCRATCH_SQL, check: false, timeoutMs: 120_000 });
  if (r.code !== 0) throw fail(`creating the scratch database ${sqlIdent(scratch)}`, r.stderr);
  const load = db.tool(psqlLoadArgs(urlForDatabase(db.target, scratch)), true);
  r = await ctx.host.run(snapshotLoadCmd(`${snapshotsDir(ctx, layout)}/${entry.file}`, load), {
    check: false,
    timeoutMs,
  });
  if (r.code !== 0) {
    await ctx.host.run(psqlOn(maint, vars), { stdin: DROP_SCRATCH_SQL, check: false });
    throw fail('loading the dump into a scratch database', r.stderr || r.stdout);
  }
  r = await ctx.host.run(psqlOn(maint, vars), { stdin: SWAP_SQL, check: false, timeoutMs: 120_000 });
  if (r.code !== 0) {
    const back = await ctx.host.run(psqlOn(maint, vars), { stdin: REENABLE_SQL, check: false });
    throw new DeployError(
      'snapshot',
      `restore of ${entry.file}: swapping the restored database into place failed: ${ctx.redactor.redact(r.stderr.trim()).split('\n').slice(-4).join(' / ')}`,
      back.code === 0
        ? 'the original database was left in place and accepts connections again'
        : `connections to ${target} may be disabled: run ALTER DATABASE ${sqlIdent(target)} WITH ALLOW_CONNECTIONS true as its owner`,
    );
  }
}

export function formatBytes(n: number): string {
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1048576).toFixed(n < 10 * 1048576 ? 2 : 0)} MiB`;
}

export function describeSnapshot(s: SnapshotEntry): string {
  const m = s.meta;
  const schema = m
    ? m.pre_migration_version === null
      ? 'no schema_migrations'
      : `schema ${m.pre_migration_version}${m.pre_migration_dirty ? ' (dirty)' : ''}`
    : 'no metadata';
  const created = new Date(s.createdAt).toISOString().replace(/\.\d+Z$/, 'Z');
  const until = new Date(s.retentionUntil).toISOString().slice(0, 10);
  return `${s.file}  ${formatBytes(s.bytes)}  ${created}  ${m?.reason ?? '?'}  ${schema}  keep until ${until}`;
}
