import { DeployError } from '../../errors.js';
import type { Command } from '../../host/host.js';
import type { EngineContext } from '../context.js';
import { writeFileCmd } from '../stack/commands.js';
import type { Layout } from '../stack/layout.js';
import {
  dbEnvPath,
  dbStatusCmd,
  pgToolCommand,
  psqlValuesArgs,
  READ_VERSION_SQL,
  stackNetworkCmd,
} from './commands.js';

/**
 * How the deployer reaches the environment's database: with the app's own DATABASE_URL, so a snapshot or a
 * migration uses exactly the credentials the app uses. The password never appears in a command line (a
 * process's argv is visible to every user of the host, also for processes inside containers): tools get the
 * URL without it and read PGPASSWORD from db-client.env, a 0600 file beside app.env that `docker --env-file` reads.
 * libpq (psql, pg_dump) and golang-migrate's PostgreSQL drivers all take the password from PGPASSWORD when
 * the URL has none.
 */
export interface DbTarget {
  /** database name, from the URL's path */
  name: string;
  /** the URL without password and without golang-migrate's own x-… parameters: what libpq accepts */
  url: string;
  /** the URL without password, golang-migrate parameters kept: for the migrate tool */
  migrateUrl: string;
  password?: string;
  /** the compose db service (docker exec into it) or an external server (a one-off container) */
  managed: boolean;
}

const DB_NAME_RE = /^[A-Za-z0-9_-]{1,63}$/;

/** Parses DATABASE_URL. Pure; the messages never include the URL (it holds the password). */
export function parseDatabaseUrl(raw: string | undefined, managed: boolean): DbTarget {
  if (!raw)
    throw new DeployError(
      'config',
      'DATABASE_URL is not set in the app environment',
      "add DATABASE_URL to the environment's env file",
    );
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new DeployError(
      'config',
      'DATABASE_URL is not a URL',
      'write it as postgres://USER:PASSWORD@HOST:5432/DATABASE',
    );
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new DeployError(
      'config',
      `DATABASE_URL has the scheme ${u.protocol.replace(/:$/, '')}; snapshots and migrations need postgres:// or postgresql://`,
    );
  }
  const name = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (!DB_NAME_RE.test(name)) {
    throw new DeployError(
      'config',
      'DATABASE_URL names no database, or one with characters other than letters, digits, "_" and "-"',
      'end the URL with /DATABASE',
    );
  }
  if (!u.hostname) throw new DeployError('config', 'DATABASE_URL has no host');
  const password = u.password ? decodeURIComponent(u.password) : undefined;
  if (password && /[\r\n\0]/.test(password))
    throw new DeployError(
      'config',
      'the password in DATABASE_URL contains a line break, which an env file cannot carry',
    );
  const base = `${u.protocol}//${u.username ? `${u.username}@` : ''}${u.host}${u.pathname}`;
  const params = [...u.searchParams.entries()];
  const query = (ps: [string, string][]) => (ps.length ? `?${new URLSearchParams(ps).toString()}` : '');
  return {
    name,
    url: base + query(params.filter(([k]) => !k.startsWith('x-'))),
    migrateUrl: base + query(params),
    password,
    managed,
  };
}

/** the same server, another database (for the restore's maintenance connection and its scratch database) */
export function urlForDatabase(t: DbTarget, database: string): string {
  const u = new URL(t.url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

export function dbTarget(ctx: EngineContext): DbTarget {
  const t = parseDatabaseUrl(ctx.cfg.appEnv.DATABASE_URL, ctx.cfg.config.database.managed);
  ctx.redactor.add(t.password);
  return t;
}

export { dbEnvPath };

/** docker's env-file format takes values literally (no quoting), one per line */
export function renderDbEnv(t: DbTarget): string {
  return t.password ? `PGPASSWORD=${t.password}\n` : '';
}

/** (Re)writes db-client.env with mode 0600; its content travels on stdin. */
export async function writeDbEnv(ctx: EngineContext, layout: Layout, t: DbTarget): Promise<void> {
  const r = await ctx.host.run(writeFileCmd(dbEnvPath(layout), '600'), { stdin: renderDbEnv(t), check: false });
  if (r.code !== 0)
    throw new DeployError('preflight', `could not write ${dbEnvPath(layout)}: ${ctx.redactor.redact(r.stderr.trim())}`);
}

/** on a swarm the database tools run in one-off containers: a task's container may be on any node */
const onSwarm = (ctx: EngineContext) => ctx.cfg.provider?.kind === 'swarm';

/**
 * The stack's network (the one the app is on): compose's, found by its labels; on a swarm the stack's attachable
 * overlay, which `docker stack deploy` names <stack>_togather (swarm/commands.ts swarmNames)
 */
export async function stackNetwork(ctx: EngineContext, layout: Layout): Promise<string> {
  if (onSwarm(ctx)) return `${layout.stack}_togather`;
  const r = await ctx.host.run(stackNetworkCmd(layout), { check: false, timeoutMs: 30_000 });
  const net = r.stdout.trim();
  if (r.code !== 0 || !net)
    throw new DeployError(
      'preflight',
      `the stack's network (compose project ${layout.stack}) does not exist`,
      'deploy the environment once, so that its stack exists',
    );
  return net;
}

export interface DbSession {
  target: DbTarget;
  network?: string;
  tool(argv: string[], stdin?: boolean): Command;
}

/** Everything a database operation needs, prepared once: db-client.env written, network found, db container up. */
export async function openDb(ctx: EngineContext, layout: Layout): Promise<DbSession> {
  const target = dbTarget(ctx);
  await writeDbEnv(ctx, layout, target);
  let network: string | undefined;
  const inContainer = target.managed && !onSwarm(ctx);
  if (inContainer) {
    const r = await ctx.host.run(dbStatusCmd(layout), { check: false });
    const st = r.stdout.trim();
    if (st !== 'running')
      throw new DeployError(
        'preflight',
        `the database container ${layout.db} is ${st || 'absent'}`,
        'deploy once to create it, or start it (docker start) and look at its logs',
      );
  } else {
    network = await stackNetwork(ctx, layout);
  }
  const place = { managed: inContainer, network, image: ctx.cfg.config.images.postgres };
  return { target, network, tool: (argv, stdin = false) => pgToolCommand(layout, place, argv, stdin) };
}

export interface SchemaVersion {
  /** undefined: no schema_migrations table, or an empty one (nothing ever migrated) */
  version?: number;
  dirty: boolean;
  table: boolean;
}

export function parseSchemaVersion(out: string): SchemaVersion | undefined {
  const m = /version=(\d+|none|absent) dirty=(true|false)/.exec(out);
  if (!m) return undefined;
  return { version: /^\d+$/.test(m[1]!) ? Number(m[1]) : undefined, dirty: m[2] === 'true', table: m[1] !== 'absent' };
}

export async function readSchemaVersion(
  ctx: EngineContext,
  db: DbSession,
  kind: 'snapshot' | 'migration' = 'migration',
): Promise<SchemaVersion> {
  const r = await ctx.host.run(db.tool(psqlValuesArgs(db.target.url), true), {
    stdin: READ_VERSION_SQL,
    check: false,
    timeoutMs: 60_000,
  });
  const v = r.code === 0 ? parseSchemaVersion(r.stdout) : undefined;
  if (!v) {
    const output = ctx.redactor.redact((r.stderr || r.stdout).trim().split('\n').slice(-4).join(' / '));
    throw new DeployError(
      kind,
      `could not read schema_migrations from the database: ${output || `exit ${r.code}`}`,
      'check DATABASE_URL (host, user, password) and that the database is up; nothing was changed',
    );
  }
  return v;
}

/** double-quoted SQL identifier */
export function sqlIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
