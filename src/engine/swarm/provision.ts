import { readFileSync } from 'node:fs';
import { DeployError } from '../../errors.js';
import { cmd } from '../../host/host.js';
import { fromConfigFile } from '../../config/load.js';
import type { SwarmProviderConfig } from '../../config/schema.js';
import type { EngineContext } from '../context.js';
import { dbImage, ensureDbImage } from '../database/db-image.js';
import { renderDefaultSite, renderUpstreams } from '../release/caddyfile.js';
import { dbInitFiles } from '../release/provision.js';
import { renderEnvFile, writeHostFiles, type HostFile } from '../stack/files.js';
import type { Layout } from '../stack/layout.js';
import { diagnose } from './health.js';
import {
  edgeCaddyReloadCmd,
  parseReplicas,
  rootRealpathCmd,
  stackDeployCmd,
  stackReplicasCmd,
  swarmNames,
  type SwarmStackFacts,
} from './commands.js';
import {
  gateConfigDir,
  gateFlagDir,
  GATE_CADDYFILE,
  renderGateCaddyfile,
  renderStackFile,
  stackFileHash,
} from './stackfile.js';

/** the stack file on the manager, beside the other host files */
export const STACK_FILE = 'stack.yml';

/** the environment's root as an absolute path on the manager (bind mounts and --env-file need one) */
export async function absoluteRoot(ctx: EngineContext, layout: Layout): Promise<string> {
  const r = await ctx.host.run(rootRealpathCmd(layout.root), { check: false });
  const root = r.stdout.trim();
  if (r.code !== 0 || !root.startsWith('/'))
    throw new DeployError('preflight', `could not create ${layout.root} on the manager: ${r.stderr.trim()}`);
  return root;
}

/** the edge's files: the site (yours or one from proxy.domains) and the upstreams, the same as on one host */
function caddyFiles(ctx: EngineContext): HostFile[] {
  const c = ctx.cfg.config;
  const p = ctx.cfg.proxy;
  return [
    {
      name: 'caddy/togather.caddy',
      mode: '644',
      content: renderUpstreams({
        appPort: c.app.port,
        healthInterval: `${p.health_interval}ms`,
        healthTimeout: `${p.health_timeout}ms`,
        behindFront: false,
      }),
    },
    {
      name: 'caddy/Caddyfile',
      mode: '644',
      content: p.caddyfile
        ? readFileSync(fromConfigFile(ctx.cfg, p.caddyfile), 'utf8')
        : renderDefaultSite({ domains: p.domains }),
    },
  ];
}

/**
 * Writes the environment's files on the manager and deploys the long-lived services (edge Caddy, both gates,
 * tools, the managed database) with `docker stack deploy` — only when the stack file changed or one of them is
 * not running, so a routine deploy restarts nothing. Waits until each of them runs (a database task counts as
 * running once its healthcheck passes).
 */
export async function provisionSwarm(
  ctx: EngineContext,
  layout: Layout,
  provider: SwarmProviderConfig,
  facts: SwarmStackFacts,
  root: string,
  managerId: string,
): Promise<{ changed: string[] }> {
  const c = ctx.cfg.config;
  const names = swarmNames(layout.stack);
  const managed = c.database.managed;
  const db = managed ? dbImage(ctx) : undefined;
  if (db) await ensureDbImage(ctx, db, facts.dbImage);
  const stackText = renderStackFile({
    stack: layout.stack,
    root,
    caddyImage: c.images.caddy,
    toolsImage: c.images.gate,
    edgeLabel: provider.edge_label,
    managerId,
    ports: {
      http: ctx.cfg.proxy.http_port,
      ...(ctx.cfg.proxy.domains.length ? { https: ctx.cfg.proxy.https_port } : {}),
    },
    ...(db ? { db: { image: db.ref, label: provider.db_label, name: c.database.name, user: c.database.user } } : {}),
  });
  const dbEnv: Record<string, string> = {};
  if (ctx.cfg.appEnv.POSTGRES_PASSWORD !== undefined) dbEnv.POSTGRES_PASSWORD = ctx.cfg.appEnv.POSTGRES_PASSWORD;
  const files: HostFile[] = [
    { name: STACK_FILE, mode: '644', content: stackText },
    { name: '.stack-hash', mode: '644', content: stackFileHash(stackText) + '\n' },
    { name: 'app.env', mode: '600', content: renderEnvFile(ctx.cfg.appEnv) },
    { name: 'db.env', mode: '600', content: renderEnvFile(dbEnv) },
    ...caddyFiles(ctx),
    ...(managed ? dbInitFiles(ctx) : []),
    ...(['blue', 'green'] as const).map((colour) => ({
      name: `${gateConfigDir(colour)}/${GATE_CADDYFILE}`,
      mode: '644' as const,
      content: renderGateCaddyfile({ stack: layout.stack, colour, appPort: c.app.port }),
    })),
  ];
  if (ctx.dryRun) {
    ctx.reporter.info(`would write ${files.map((f) => f.name).join(', ')} under ${layout.root}`);
    return { changed: [] };
  }
  // the flag directories are bind-mounted into the gates: a missing source would get their tasks rejected
  await ctx.host.run(cmd('mkdir', '-p', '--', layout.path(gateFlagDir('blue')), layout.path(gateFlagDir('green'))));
  const changed = await writeHostFiles(ctx, layout, files);
  const services = [names.caddy, names.gate('blue'), names.gate('green'), names.tools, ...(managed ? [names.db] : [])];
  const down = [facts.caddy, facts.blue.gate, facts.green.gate, facts.tools, ...(managed ? [facts.db] : [])].some(
    (s) => s !== 'running',
  );
  if (changed.includes('.stack-hash') || down) {
    const r = await ctx.host.run(stackDeployCmd(`${root}/${STACK_FILE}`, layout.stack), {
      check: false,
      timeoutMs: 300_000,
    });
    if (r.code !== 0)
      throw new DeployError(
        'preflight',
        `docker stack deploy failed: ${ctx.redactor.redact(r.stderr.trim().split('\n').slice(-8).join('\n'))}`,
        'look at the message above; nothing was switched',
      );
  }
  // a gate never reloads: one whose file changed is restarted while it carries no traffic (its flag is off);
  // the live gate keeps its configuration until the next deploy makes it the idle one
  for (const colour of ['blue', 'green'] as const)
    if (
      changed.includes(`${gateConfigDir(colour)}/${GATE_CADDYFILE}`) &&
      !facts[colour].flag &&
      facts[colour].gate !== 'absent'
    )
      await ctx.host.run(cmd('docker', 'service', 'update', '--force', '--detach', names.gate(colour)), {
        timeoutMs: 60_000,
      });
  await waitRunning(ctx, layout.stack, services);
  if (changed.some((f) => f.startsWith('caddy/')) && facts.caddy === 'running') {
    ctx.reporter.warn(
      'the Caddy configuration changed: reloading the proxy (requests on idle keep-alive connections may see a reset)',
    );
    await ctx.host.run(edgeCaddyReloadCmd(names.caddy), { timeoutMs: 60_000 });
  }
  return { changed };
}

async function waitRunning(ctx: EngineContext, stack: string, services: string[]): Promise<void> {
  const deadline = ctx.clock.now() + 180_000;
  let pending: string[] = services;
  while (ctx.clock.now() < deadline) {
    const r = await ctx.host.run(stackReplicasCmd(stack), { check: false, timeoutMs: 30_000 });
    const replicas = parseReplicas(r.stdout);
    pending = services.filter((s) => {
      const n = replicas.get(s);
      return !n || n.desired === 0 || n.running < n.desired;
    });
    if (pending.length === 0) return;
    await ctx.clock.sleep(500);
  }
  throw new DeployError(
    'preflight',
    `the stack's services did not start within 180s: ${pending.join(', ')}\n${await diagnose(ctx, pending[0]!)}`,
    `look at \`docker service ps --no-trunc ${pending[0]}\` on the manager; nothing was switched`,
  );
}
