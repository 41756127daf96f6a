import { readFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { DeployError } from '../../errors.js';
import { cmd, script, type Command } from '../../host/host.js';
import { readAsset } from '../assets.js';
import type { EngineContext } from '../context.js';
import { checkDomain } from '../release/caddyfile.js';
import { fromConfigFile } from '../../config/load.js';
import { caddyReloadCmd } from '../stack/commands.js';
import { composeCmd, composeErrorLines } from '../stack/colours.js';
import { filesDigest, renderEnvFile, writeHostFiles, type HostFile } from '../stack/files.js';
import { Layout } from '../stack/layout.js';
import { FRONT_SITES_DIR, renderFrontCaddyfile } from './caddyfile.js';

// the front's caddy/ directory is the container's /etc/caddy: the sites directory and the ACME CA's root in it
const SITES = FRONT_SITES_DIR.slice('/etc/caddy/'.length);
const ACME_ROOT = 'acme-ca.pem';

/*
 * The host's shared front proxy (docker/front/compose.yml): created the first time an environment with
 * proxy.front is provisioned, changed only when its own settings change, and told about an environment by a
 * file per domain in caddy/sites/ — never by a reload. Everything here runs inside provision(), under the
 * environment's lock; the front's own short lock keeps two environments' deploys from racing on the front.
 */

/** the front proxy's directory, compose project and container on the host */
export function frontLayout(ctx: EngineContext): Layout {
  const f = ctx.cfg.config.front_proxy;
  return new Layout({ hostPath: f.path, stack: f.name });
}

/** the front's network name: the same as its project and container */
export function frontNetwork(ctx: EngineContext): string {
  return ctx.cfg.config.front_proxy.name;
}

/** The environment's domains, checked as plain host names (the config loader already said why they must be). */
export function frontDomains(ctx: EngineContext): string[] {
  return ctx.cfg.proxy.domains.map(checkDomain);
}

/** compose.front.yml: the environment's Caddy joins the front network, reachable there by its domains */
export function renderFrontOverride(network: string, domains: readonly string[]): string {
  const doc = {
    services: { caddy: { networks: { togather: {}, front: { aliases: [...domains] } } } },
    networks: { front: { name: network, external: true } },
  };
  return (
    "# Written by togather-deploy: this environment's Caddy on the host's front proxy network, under its domains.\n" +
    stringify(doc)
  );
}

function frontFiles(ctx: EngineContext): HostFile[] {
  const f = ctx.cfg.config.front_proxy;
  const env = {
    TOGATHER_FRONT: f.name,
    TOGATHER_FRONT_IMAGE: ctx.cfg.config.images.caddy,
    TOGATHER_FRONT_BIND: f.bind,
    TOGATHER_FRONT_HTTP_PORT: String(f.http_port),
    TOGATHER_FRONT_HTTPS_PORT: String(f.https_port),
  };
  const root = f.acme_ca_root ? readFileSync(fromConfigFile(ctx.cfg, f.acme_ca_root), 'utf8') : undefined;
  const files: HostFile[] = [
    { name: 'compose.yml', mode: '644', content: readAsset('docker', 'front', 'compose.yml') },
    { name: '.env', mode: '600', content: renderEnvFile(env) },
  ];
  // the container is recreated only when these change; the Caddyfile alone is reloaded in place
  files.push({ name: '.base-digest', mode: '644', content: filesDigest(files) + '\n' });
  files.push({
    name: 'caddy/Caddyfile',
    mode: '644',
    content: renderFrontCaddyfile({
      email: f.email,
      acmeCa: f.acme_ca,
      acmeCaRootFile: root === undefined ? undefined : `/etc/caddy/${ACME_ROOT}`,
    }),
  });
  if (root !== undefined) files.push({ name: `caddy/${ACME_ROOT}`, mode: '644', content: root });
  return files;
}

// $1 the network. Two deploys may both find it missing: the loser's create fails, and the inspect after says
// whether it exists now.
export const ENSURE_NETWORK = `
docker network inspect "$1" >/dev/null 2>&1 && exit 0
docker network create --label org.togather.role=front "$1" >/dev/null 2>&1
docker network inspect "$1" >/dev/null 2>&1
`;

/** the front network exists before any compose file that names it as external is used */
export async function ensureFrontNetwork(ctx: EngineContext): Promise<void> {
  const r = await ctx.host.run(script(ENSURE_NETWORK, frontNetwork(ctx)), { check: false, timeoutMs: 60_000 });
  if (r.code !== 0)
    throw new DeployError(
      'preflight',
      `could not create the front proxy's Docker network ${frontNetwork(ctx)}: ${r.stderr.trim()}`,
    );
}

// $1 the lock directory. Short-lived: held while one deploy changes the front; one left by a killed deployer is
// taken over after two minutes.
export const FRONT_LOCK = `
mkdir -p "$(dirname "$1")"
i=0
until mkdir "$1" 2>/dev/null; do
  if [ -n "$(find "$1" -maxdepth 0 -mmin +2 2>/dev/null)" ]; then rm -rf "$1"; continue; fi
  i=$((i + 1)); [ "$i" -gt 600 ] && { echo "the front proxy's lock $1 is held" >&2; exit 5; }
  sleep 0.2
done
`;

function frontLockCmd(layout: Layout): Command {
  return script(FRONT_LOCK, layout.lockDir);
}

/** `docker inspect` state of the front's container: running, exited, …, or absent */
async function frontState(ctx: EngineContext, container: string): Promise<string> {
  const r = await ctx.host.run(cmd('docker', 'inspect', '-f', '{{.State.Status}}', '--', container), {
    check: false,
    timeoutMs: 30_000,
  });
  return r.code === 0 ? r.stdout.trim() : 'absent';
}

// $1 the sites directory, $2 the environment's stack, then its domains. Refuses a domain another stack holds;
// adds the missing ones (write then rename, so Caddy never reads half a file) and drops this stack's others.
export const REGISTER_SITES = `
dir=$1; stack=$2; shift 2
mkdir -p "$dir" || exit 1
for d in "$@"; do
  if [ -f "$dir/$d" ]; then
    owner=$(cat "$dir/$d")
    [ "$owner" = "$stack" ] || { echo "taken $d $owner"; exit 3; }
  fi
done
for d in "$@"; do
  [ -f "$dir/$d" ] && continue
  printf '%s\\n' "$stack" > "$dir/.$d.part" && mv -f "$dir/.$d.part" "$dir/$d" || exit 1
  echo "added $d"
done
for f in "$dir"/*; do
  [ -f "$f" ] || continue
  [ "$(cat "$f")" = "$stack" ] || continue
  n=\${f##*/}; keep=
  for d in "$@"; do [ "$d" = "$n" ] && keep=1; done
  [ -n "$keep" ] || { rm -f "$f"; echo "removed $n"; }
done
`;

export function registerSitesCmd(front: Layout, stack: string, domains: readonly string[]): Command {
  return script(REGISTER_SITES, front.path('caddy', SITES), stack, ...domains);
}

export interface FrontSession {
  /** starts (or recreates) the front when needed, reloads a changed Caddyfile, routes the domains to `stack` */
  startAndRoute(stack: string): Promise<void>;
  /** lets the next deploy change the front */
  release(): Promise<void>;
}

/**
 * First half, before the environment's compose runs: under the front's lock, its files written, and on a host
 * without a front its container created but not started — on a host moving from the old layout the ports are
 * still the environment's Caddy's, and the front must start the moment they are free.
 */
export async function prepareFront(ctx: EngineContext, compose: string[], envCaddy: string): Promise<FrontSession> {
  const layout = frontLayout(ctx);
  const domains = frontDomains(ctx);
  await refuseForeignPortHolders(ctx, layout, envCaddy);
  await ensureFrontNetwork(ctx);
  const lock = await ctx.host.run(frontLockCmd(layout), { check: false, timeoutMs: 180_000 });
  if (lock.code !== 0)
    throw new DeployError('lock', lock.stderr.trim() || `could not take ${layout.lockDir}`, 'try again in a minute');
  // held from the files to the routing, never across the environment's database start: released once
  let held = true;
  const release = async () => {
    if (!held) return;
    held = false;
    await ctx.host.run(cmd('rmdir', layout.lockDir), { check: false, timeoutMs: 30_000 });
  };
  try {
    const changed = await writeHostFiles(ctx, layout, frontFiles(ctx));
    const state = await frontState(ctx, layout.stack);
    const recreate = changed.includes('.base-digest') && state !== 'absent';
    if (state === 'absent') await frontCompose(ctx, compose, layout, 'up', '--no-start', '--no-color');
    return {
      release,
      async startAndRoute(stack) {
        try {
          if (recreate) await frontCompose(ctx, compose, layout, 'up', '-d', '--no-color');
          // a container compose created as configured: `docker start` is all it needs, and the quickest
          else if (state !== 'running') await startContainer(ctx, layout.stack);
          else if (changed.includes('caddy/Caddyfile')) {
            ctx.reporter.warn('the front proxy configuration changed: reloading it');
            await ctx.host.run(caddyReloadCmd(layout.stack), { timeoutMs: 60_000 });
          }
          await route(ctx, layout, stack, domains);
        } finally {
          await release();
        }
      },
    };
  } catch (e) {
    await release();
    throw e;
  }
}

// $1 $2 the front's ports: the containers publishing either (a process outside Docker is not seen here)
export const PORT_HOLDERS = `
docker ps --filter "publish=$1" --format '{{.Names}}'
docker ps --filter "publish=$2" --format '{{.Names}}'
`;

/**
 * Before anything changes: the front's ports may be held by the front itself, or by this environment's own
 * Caddy (a host moving from the old layout, which lets go of them in this deploy) — by nothing else, or the
 * environment would lose its Caddy's ports and the front could not take them.
 */
async function refuseForeignPortHolders(ctx: EngineContext, layout: Layout, envCaddy: string): Promise<void> {
  const f = ctx.cfg.config.front_proxy;
  const r = await ctx.host.run(script(PORT_HOLDERS, String(f.http_port), String(f.https_port)), {
    check: false,
    timeoutMs: 30_000,
  });
  const others = [...new Set(r.stdout.split('\n').map((l) => l.trim()))].filter(
    (n) => n && n !== layout.stack && n !== envCaddy,
  );
  if (others.length)
    throw new DeployError(
      'preflight',
      `the front proxy's ports ${f.http_port}/${f.https_port} are published by ${others.join(', ')}; nothing was changed`,
      'move that environment behind the front proxy first (proxy.front: true, deployed once), or give front_proxy other ports',
    );
}

async function startContainer(ctx: EngineContext, name: string): Promise<void> {
  const r = await ctx.host.run(cmd('docker', 'start', name), { check: false, timeoutMs: 120_000 });
  if (r.code !== 0) throw frontStartFailed(ctx, name, r.stderr.trim());
}

function frontStartFailed(ctx: EngineContext, name: string, why: string): DeployError {
  const f = ctx.cfg.config.front_proxy;
  return new DeployError(
    'preflight',
    `starting the front proxy ${name} failed: ${why}`,
    `ports ${f.http_port}/${f.https_port} must be free for it (front_proxy.http_port, https_port)`,
  );
}

async function frontCompose(ctx: EngineContext, compose: string[], layout: Layout, ...args: string[]): Promise<void> {
  const r = await ctx.host.run(composeCmd(compose, layout, ...args), { check: false, timeoutMs: 300_000 });
  if (r.code !== 0) throw frontStartFailed(ctx, layout.stack, composeErrorLines(r.stderr, 8).join('\n'));
}

async function route(ctx: EngineContext, layout: Layout, stack: string, domains: string[]): Promise<void> {
  const r = await ctx.host.run(registerSitesCmd(layout, stack, domains), { check: false, timeoutMs: 30_000 });
  const taken = /^taken (\S+) (\S+)/m.exec(r.stdout);
  if (taken)
    throw new DeployError(
      'config',
      `the domain ${taken[1]} is already served through the front proxy by ${taken[2]}`,
      `give this environment other domains, or remove ${taken[1]} from the other environment first`,
    );
  if (r.code !== 0) throw new DeployError('preflight', `could not register the domains: ${r.stderr.trim()}`);
  for (const line of r.stdout.split('\n').filter(Boolean)) ctx.reporter.info(`front proxy: ${line}`);
}

/** what `status` shows of the front: its container, and which environment each of this one's domains routes to */
export interface FrontStatus {
  container: string;
  state: string;
  /** domain → the compose project its site file names, or null when it has none */
  domains: Record<string, string | null>;
}

// $1 the front's container, $2 its sites directory, then the domains
export const FRONT_STATUS = `
echo "state $(docker inspect -f '{{.State.Status}}' -- "$1" 2>/dev/null || echo absent)"
dir=$2; shift 2
for d in "$@"; do
  if [ -f "$dir/$d" ]; then echo "site $d $(cat "$dir/$d")"; else echo "site $d -"; fi
done
`;

export async function inspectFront(ctx: EngineContext): Promise<FrontStatus> {
  const layout = frontLayout(ctx);
  const r = await ctx.host.run(script(FRONT_STATUS, layout.stack, layout.path('caddy', SITES), ...frontDomains(ctx)), {
    check: false,
    timeoutMs: 20_000,
  });
  const out: FrontStatus = { container: layout.stack, state: 'unknown', domains: {} };
  for (const line of r.stdout.split('\n')) {
    const [kind, a, b] = line.trim().split(/\s+/);
    if (kind === 'state' && a) out.state = a;
    if (kind === 'site' && a) out.domains[a] = !b || b === '-' ? null : b;
  }
  return out;
}

export function formatFront(f: FrontStatus, stack: string): string {
  const routes = Object.entries(f.domains).map(([d, owner]) =>
    owner === stack ? d : owner ? `${d} (routed to ${owner}!)` : `${d} (not registered)`,
  );
  return `${f.container} ${f.state}; ${routes.join(', ')}`;
}
