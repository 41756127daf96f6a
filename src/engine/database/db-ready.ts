import { DeployError } from '../../errors.js';
import type { EngineContext } from '../context.js';
import { dbLogsCmd, dbRestartsCmd, psqlProbeArgs } from './commands.js';
import { openDb } from './database.js';
import type { Layout } from '../stack/layout.js';

/*
 * "Healthy" is not "ready" for a database the stack has just started. The postgres images run their init scripts
 * against a temporary server that listens on no TCP address, and their healthcheck (pg_isready over the unix
 * socket) says "up" meanwhile: measured, a 6 s init script gave 5 s of "healthy" with TCP refused. What the app,
 * pg_dump and migrate need is a TCP connection on the stack's network with the app's credentials, so that is
 * what the deployer waits for: psql with the app's DATABASE_URL (its host is the db service's name, resolved on
 * the app network), password from db-client.env, `SELECT 1`.
 */

/** what psql said that no amount of waiting changes: the credentials or the database name are wrong */
const FATAL =
  /password authentication failed|no password supplied|role "[^"]*" does not exist|database "[^"]*" does not exist|no pg_hba\.conf entry/;

/** the official entrypoints print this once the init scripts all ran; a restart before it means one failed */
const INIT_DONE = 'PostgreSQL init process complete';

export async function waitDbAccepting(ctx: EngineContext, layout: Layout, timeoutMs = 120_000): Promise<void> {
  const db = await openDb(ctx, layout);
  const probe = db.tool(psqlProbeArgs(db.target.url));
  const deadline = ctx.clock.now() + timeoutMs;
  let last: string;
  for (;;) {
    const r = await ctx.host.run(probe, { check: false, timeoutMs: 30_000 });
    if (r.code === 0 && r.stdout.trim() === '1') break;
    last = ctx.redactor.redact((r.stderr || r.stdout).trim().split('\n').slice(-2).join(' / '));
    if (FATAL.test(last)) {
      throw new DeployError(
        'preflight',
        `the database refuses the app's credentials: ${last}; nothing was migrated or switched`,
        'check DATABASE_URL and POSTGRES_PASSWORD in the env file: they must name the same user, password and database the database was first created with',
      );
    }
    if (ctx.clock.now() > deadline) {
      throw new DeployError(
        'preflight',
        `the database did not accept connections within ${Math.round(timeoutMs / 1000)} s (${last || `exit ${r.code}`}); nothing was switched`,
        `look at \`docker logs ${layout.db}\` on the host`,
      );
    }
    await ctx.clock.sleep(250);
  }
  await checkInitRan(ctx, layout);
}

/**
 * A failed init script stops the container; restarted, the image finds an initialised data directory and starts
 * without running the rest, so the database comes up healthy without what the scripts create. Caught here, at
 * the database's first start, with the script's own message from the container's log.
 */
async function checkInitRan(ctx: EngineContext, layout: Layout): Promise<void> {
  const restarts = Number((await ctx.host.run(dbRestartsCmd(layout), { check: false })).stdout.trim());
  if (!(restarts > 0)) return;
  const logs = await ctx.host.run(dbLogsCmd(layout, 200), { check: false, timeoutMs: 30_000 });
  const text = `${logs.stdout}\n${logs.stderr}`;
  if (!/docker-entrypoint-initdb\.d\//.test(text) || text.includes(INIT_DONE)) return;
  const cause = text
    .split('\n')
    .filter((l) => /ERROR|FATAL|error:/.test(l))
    .slice(0, 3)
    .map((l) => l.trim())
    .join(' / ');
  throw new DeployError(
    'preflight',
    `the database's init scripts failed at its first start: ${ctx.redactor.redact(cause || 'see the container log')}; ` +
      'the database runs without what they create, and nothing was switched',
    [
      "fix the script (docker/db-init, or database.init_dir), then remove the database's data volume so it is initialised again",
      `(docker rm -f ${layout.db}; docker volume rm ${layout.stack}_db-data) and deploy again — on a new environment only: the volume holds the data`,
    ].join(' '),
  );
}
