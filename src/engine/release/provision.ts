import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { DeployError } from '../../errors.js';
import { cmd, script } from '../../host/host.js';
import { caddyReloadCmd } from '../stack/commands.js';
import { assetDir, readAsset, readDir } from '../assets.js';
import { renderDefaultSite, renderUpstreams } from './caddyfile.js';
import { frontDomains, frontNetwork, prepareFront, renderFrontOverride, type FrontSession } from '../front/stack.js';
import type { StackFacts } from '../stack/colours.js';
import { composeCmd, composeErrorLines } from '../stack/colours.js';
import { waitDbAccepting } from '../database/db-ready.js';
import { dbImage, ensureDbImage } from '../database/db-image.js';
import type { EngineContext } from '../context.js';
import { fromConfigFile } from '../../config/load.js';
import type { Layout } from '../stack/layout.js';
import type { HostFacts } from './preflight.js';
import { filesDigest, renderEnvFile, writeHostFiles, type HostFile } from '../stack/files.js';
import type { Colour } from '../types.js';

/** what provision learned on the host that the stack's files depend on */
export interface HostExtras {
  dockerSocket?: string;
  /** the database image to run, when it is not images.postgres itself (built from images.postgres_dockerfile) */
  dbImage?: string;
}

export function imagesEnv(
  ctx: EngineContext,
  layout: Layout,
  images: Record<Colour, string>,
  extras: HostExtras = {},
): Record<string, string> {
  const c = ctx.cfg.config;
  const p = ctx.cfg.proxy;
  // behind the front proxy the environment's Caddy publishes nothing public: an ephemeral loopback port each
  // (compose reads "127.0.0.1::80"), the front reaches it over its network
  const ports = p.front
    ? { TOGATHER_BIND: '127.0.0.1', TOGATHER_HTTP_PORT: '', TOGATHER_HTTPS_PORT: '' }
    : { TOGATHER_BIND: p.bind, TOGATHER_HTTP_PORT: String(p.http_port), TOGATHER_HTTPS_PORT: String(p.https_port) };
  return {
    TOGATHER_STACK: layout.stack,
    TOGATHER_APP_IMAGE_BLUE: images.blue,
    TOGATHER_APP_IMAGE_GREEN: images.green,
    TOGATHER_GATE_IMAGE: c.images.gate,
    TOGATHER_CADDY_IMAGE: c.images.caddy,
    TOGATHER_POSTGRES_IMAGE: extras.dbImage ?? c.images.postgres,
    ...ports,
    TOGATHER_DB_NAME: c.database.name,
    TOGATHER_DB_USER: c.database.user,
    // docker stop's grace must outlast the drain: the old colour finishes its in-flight requests first
    TOGATHER_STOP_GRACE: `${Math.ceil(c.deployment.drain_timeout / 1000) + 5}s`,
    TOGATHER_KEEPER_IMAGE: c.images.keeper,
    ...(extras.dockerSocket ? { TOGATHER_DOCKER_SOCKET: extras.dockerSocket } : {}),
  };
}

function fromConfigDir(ctx: EngineContext, path: string): string {
  return fromConfigFile(ctx.cfg, path);
}

/** Everything the environment's directory holds besides state: compose, Caddy, db init scripts, env files. */
export function hostFiles(
  ctx: EngineContext,
  layout: Layout,
  images: Record<Colour, string>,
  extras: HostExtras = {},
): HostFile[] {
  const c = ctx.cfg.config;
  const p = ctx.cfg.proxy;
  const files: HostFile[] = [
    { name: 'compose.yml', mode: '644', content: readAsset('docker', 'compose.yml') },
    { name: '.env', mode: '600', content: renderEnvFile(imagesEnv(ctx, layout, images, extras)) },
    { name: 'keeper/keeper.sh', mode: '644', content: readAsset('docker', 'keeper.sh') },
    { name: 'app.env', mode: '600', content: renderEnvFile(ctx.cfg.appEnv) },
    {
      name: 'caddy/togather.caddy',
      mode: '644',
      content: renderUpstreams({
        appPort: c.app.port,
        healthInterval: formatGo(p.health_interval),
        healthTimeout: formatGo(p.health_timeout),
        behindFront: p.front,
      }),
    },
    {
      name: 'caddy/Caddyfile',
      mode: '644',
      // behind the front proxy, which terminates TLS for the domains, the environment serves plain HTTP on :80
      content: p.caddyfile
        ? readFileSync(fromConfigDir(ctx, p.caddyfile), 'utf8')
        : renderDefaultSite({ domains: p.front ? [] : p.domains }),
    },
  ];
  if (p.front)
    files.push({
      name: 'compose.front.yml',
      mode: '644',
      content: renderFrontOverride(frontNetwork(ctx), frontDomains(ctx)),
    });
  const dbEnv: Record<string, string> = {};
  if (ctx.cfg.appEnv.POSTGRES_PASSWORD !== undefined) dbEnv.POSTGRES_PASSWORD = ctx.cfg.appEnv.POSTGRES_PASSWORD;
  files.push({ name: 'db.env', mode: '600', content: renderEnvFile(dbEnv) });
  files.push(...dbInitFiles(ctx));
  // what the long-lived services (db, caddy, gates) are made of; the colours' images and app.env are not part
  // of it, so a routine deploy or a secret rotation never recreates the database or the proxy
  const base = files.filter((f) => f.name !== 'app.env' && f.name !== '.env' && !f.name.startsWith('caddy/'));
  const baseEnv = Object.entries(imagesEnv(ctx, layout, images, extras)).filter(
    ([k]) => !k.startsWith('TOGATHER_APP_IMAGE_'),
  );
  files.push({
    name: '.base-digest',
    mode: '644',
    content: filesDigest([...base, { name: 'env', mode: '600', content: JSON.stringify(baseEnv) }]) + '\n',
  });
  return files;
}

/** the database's init scripts (database.init_dir, else the built-in ones), mounted over its initdb directory */
export function dbInitFiles(ctx: EngineContext): HostFile[] {
  const dir = ctx.cfg.config.database.init_dir;
  const initDir = dir ? fromConfigDir(ctx, dir) : join(assetDir(), 'docker', 'db-init');
  return Object.entries(readDir(initDir)).map(([name, content]) => ({
    name: `db-init/${name}`,
    mode: '644' as const,
    content,
  }));
}

/** Caddy durations: whole milliseconds are always valid */
function formatGo(ms: number): string {
  return `${ms}ms`;
}

/**
 * Creates or updates the environment: files, network, volumes, the database, the proxy and both gates.
 * Services are (re)started only when a file changed or a container is not running, so a routine deploy
 * spends one round trip here.
 */
export async function provision(
  ctx: EngineContext,
  layout: Layout,
  host: HostFacts,
  facts: StackFacts,
  images: Record<Colour, string>,
): Promise<{ changed: string[] }> {
  const { compose } = host;
  const managedDb = ctx.cfg.config.database.managed;
  const db = managedDb ? dbImage(ctx) : undefined;
  if (db) await ensureDbImage(ctx, db, facts.dbImage);
  const files = hostFiles(ctx, layout, images, { dockerSocket: host.dockerSocket, dbImage: db?.ref });
  if (ctx.dryRun) {
    ctx.reporter.info(`would write ${files.map((f) => f.name).join(', ')} under ${layout.root}`);
    return { changed: [] };
  }
  // the front's network and container first: the environment's compose names the network as external
  const front = layout.front ? await prepareFront(ctx, compose, layout.caddy) : undefined;
  try {
    return await provisionStack(ctx, layout, host, facts, files, front);
  } finally {
    await front?.release();
  }
}

async function provisionStack(
  ctx: EngineContext,
  layout: Layout,
  host: HostFacts,
  facts: StackFacts,
  files: HostFile[],
  front: FrontSession | undefined,
): Promise<{ changed: string[] }> {
  const { compose } = host;
  const managedDb = ctx.cfg.config.database.managed;
  const changed = await writeHostFiles(ctx, layout, files);
  const keeper = keeperWanted(ctx, host);
  const services = [...(managedDb ? ['db'] : []), 'caddy', 'gate-blue', 'gate-green', ...(keeper ? ['keeper'] : [])];
  const notRunning = [
    ...(managedDb && facts.db !== 'running' ? ['db'] : []),
    ...(keeper && facts.keeper !== 'running' ? ['keeper'] : []),
    ...(facts.caddy !== 'running' ? ['caddy'] : []),
    ...(facts.blue.gate !== 'running' ? ['gate-blue'] : []),
    ...(facts.green.gate !== 'running' ? ['gate-green'] : []),
  ];
  // compose leaves a paused container paused (v1) or fails on it (v2): waiting cannot help, say so either way
  if (managedDb && facts.db === 'paused') throw dbPaused(layout);
  const composeChanged = changed.includes('.base-digest');
  if (notRunning.length || composeChanged) {
    const r = await ctx.host.run(composeCmd(compose, layout, 'up', '-d', '--no-color', ...services), {
      check: false,
      timeoutMs: 300_000,
    });
    if (r.code !== 0)
      throw new DeployError(
        'preflight',
        `starting the stack's services failed: ${ctx.redactor.redact(composeErrorLines(r.stderr, 8).join('\n'))}`,
      );
  }
  // at once: on a host moving to the front proxy, the environment's Caddy has just let go of 80/443
  await front?.startAndRoute(layout.stack);
  if (!keeper && facts.keeper !== 'absent')
    await ctx.host.run(cmd('docker', 'rm', '-f', layout.keeper), { check: false, timeoutMs: 60_000 });
  if (changed.some((f) => f.startsWith('caddy/')) && facts.caddy === 'running') {
    // the one case that reloads Caddy: its configuration itself changed (not a colour switch)
    ctx.reporter.warn(
      'the Caddy configuration changed: reloading the proxy (requests on idle keep-alive connections may see a reset)',
    );
    await ctx.host.run(caddyReloadCmd(layout.caddy), { timeoutMs: 60_000 });
  }
  if (managedDb && facts.db !== 'running') {
    await waitDbHealthy(ctx, layout);
    await waitDbAccepting(ctx, layout);
  }
  return { changed };
}

/** the keeper needs the engine's socket as a path on the host; a tcp:// or ssh:// DOCKER_HOST has none */
function keeperWanted(ctx: EngineContext, host: HostFacts): boolean {
  if (!ctx.cfg.config.deployment.keeper) return false;
  if (host.dockerSocket) return true;
  ctx.reporter.warn(
    'DOCKER_HOST on the host is not a unix socket: the keeper (deployment.keeper) is left out, ' +
      'so after a daemon restart a routed colour may need a `docker start`',
  );
  return false;
}

export const DB_HEALTH =
  `docker inspect -f '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' ` +
  '-- "$1" 2>/dev/null || echo absent';

function dbPaused(layout: Layout): DeployError {
  return new DeployError(
    'preflight',
    `the database container ${layout.db} is paused; nothing was switched`,
    `unpause it (docker unpause ${layout.db}) if it was paused on purpose, then deploy again`,
  );
}

async function waitDbHealthy(ctx: EngineContext, layout: Layout): Promise<void> {
  const deadline = ctx.clock.now() + 120_000;
  let status = '';
  while (ctx.clock.now() < deadline) {
    const [state = 'absent', health = state] = (
      await ctx.host.run(script(DB_HEALTH, layout.db), { check: false })
    ).stdout
      .trim()
      .split(' ');
    status = health;
    if (health === 'healthy' || health === 'running') return;
    if (state === 'paused') throw dbPaused(layout);
    await ctx.clock.sleep(500);
  }
  throw new DeployError(
    'preflight',
    `the database service did not become healthy (status ${status}); nothing was switched`,
    `look at \`docker logs ${layout.db}\` on the host`,
  );
}
