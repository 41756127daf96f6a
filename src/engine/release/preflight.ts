import { DeployError } from '../../errors.js';
import { script, type Command } from '../../host/host.js';
import type { EngineContext } from '../context.js';
import { ENGINE_API } from '../engine-api.js';
import type { Layout } from '../stack/layout.js';

export interface HostFacts {
  dockerVersion: string;
  /** argv prefix that runs compose on this host: the v2 plugin when present, else v1 docker-compose */
  compose: string[];
  composeVersion: string;
  freeMb?: number;
  dockerFreeMb?: number;
  /** the engine's unix socket as the deploy user reaches it (mounted into the keeper); undefined for tcp:// or ssh:// */
  dockerSocket?: string;
}

// One round trip, its probes run side by side (compose v1 alone is ~0.5 s of python start-up, asked only when
// the v2 plugin is missing); each prints one short line, written whole. Read-only: df walks up to the nearest existing parent instead of creating it.
// $2 = light: only the engine and the environment's disk (a warm rollback starts a kept container: no compose,
// no image to load), which saves the slowest probes, each a docker CLI start-up on a busy host. The engine's
// version and data root come from its API where it can be asked (engine-api.ts), else from the docker CLI.
export const PREFLIGHT = `${ENGINE_API}
( v=$(api /version 2>/dev/null | sed -n 's/.*"Version":"\\([^"]*\\)","ApiVersion".*/\\1/p')
  [ -n "$v" ] || v=$(docker version --format '{{.Server.Version}}' 2>/dev/null)
  printf 'docker=%s\\n' "$v" ) &
if [ "$2" != light ]; then
( if v=$(docker compose version --short 2>/dev/null); then printf 'compose2=%s\\n' "$v"
  elif command -v docker-compose >/dev/null 2>&1; then printf 'compose1=%s\\n' "$(docker-compose version --short 2>/dev/null)"; fi ) &
( r=$(api /info 2>/dev/null | sed -n 's/.*"DockerRootDir":"\\([^"]*\\)".*/\\1/p')
  [ -n "$r" ] || r=$(docker info --format '{{.DockerRootDir}}' 2>/dev/null)
  [ -n "$r" ] && df -Pk -- "$r" 2>/dev/null | awk 'NR==2{print "docker_free_kb=" $4}' ) &
fi
printf 'docker_host=%s\\n' "\${DOCKER_HOST:-unix:///var/run/docker.sock}"
p=$1; while [ ! -e "$p" ] && [ "$p" != / ] && [ "$p" != . ]; do p=$(dirname -- "$p"); done
df -Pk -- "$p" 2>/dev/null | awk 'NR==2{print "free_kb=" $4}'
wait
exit 0
`;

/** the preflight probe of the environment's root (read-only); setup sends the same one */
export function preflightCmd(layout: Layout, light = false): Command {
  return light ? script(PREFLIGHT, layout.root, 'light') : script(PREFLIGHT, layout.root);
}

export function parsePreflight(out: string): Record<string, string> {
  const facts: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) facts[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return facts;
}

export function versionAtLeast(version: string, min: [number, number]): boolean {
  const m = /^v?(\d+)\.(\d+)/.exec(version);
  if (!m) return false;
  const [maj, min2] = [Number(m[1]), Number(m[2])];
  return maj > min[0] || (maj === min[0] && min2 >= min[1]);
}

/** the path of a unix:// DOCKER_HOST, when it is one compose can mount (plain path characters only) */
export function unixSocket(dockerHost: string | undefined): string | undefined {
  const m = /^unix:\/\/(\/[A-Za-z0-9_./-]+)$/.exec(dockerHost ?? 'unix:///var/run/docker.sock');
  return m && !m[1]!.includes('..') ? m[1] : undefined;
}

/** The compose the host offers: the v2 plugin when present, else v1 ≥ 1.27; `problem` says what is missing. */
export function composeOf(facts: Record<string, string>): { compose: string[]; version: string; problem?: string } {
  if (facts.compose2) return { compose: ['docker', 'compose'], version: facts.compose2 };
  const v1 = facts.compose1;
  if (!v1)
    return {
      compose: [],
      version: '',
      problem: 'neither the compose v2 plugin (docker compose) nor docker-compose v1 is installed',
    };
  return {
    compose: ['docker-compose'],
    version: v1,
    ...(versionAtLeast(v1, [1, 27])
      ? {}
      : { problem: `docker-compose ${v1} is too old; install the compose v2 plugin (or v1 ≥ 1.27)` }),
  };
}

/** Judges the facts; every problem is listed at once. Pure, so the rules are unit-tested. */
export function judgePreflight(facts: Record<string, string>, minFreeMb: number, light = false): HostFacts {
  const problems: string[] = [];
  const docker = facts.docker ?? '';
  if (!docker)
    problems.push(
      'docker does not answer for the deploy user (is it installed, running, and is the user in the docker group?)',
    );
  else if (!versionAtLeast(docker, [20, 10])) problems.push(`docker ${docker} is too old; 20.10 or newer is needed`);
  const { compose, version: composeVersion, problem } = composeOf(facts);
  if (problem && !light) problems.push(problem);
  const freeMb = facts.free_kb ? Math.floor(Number(facts.free_kb) / 1024) : undefined;
  const dockerFreeMb = facts.docker_free_kb ? Math.floor(Number(facts.docker_free_kb) / 1024) : undefined;
  for (const [what, mb] of [
    ['the deploy path', freeMb],
    ["docker's data root", dockerFreeMb],
  ] as const) {
    if (mb !== undefined && mb < minFreeMb)
      problems.push(`only ${mb} MiB free on ${what}; at least ${minFreeMb} MiB is required (deployment.min_free_mb)`);
  }
  if (problems.length) {
    throw new DeployError(
      'preflight',
      `host preflight failed:\n  - ${problems.join('\n  - ')}`,
      'prepare the host as docs/quickstart.md describes, then deploy again',
    );
  }
  return {
    dockerVersion: docker,
    compose,
    composeVersion,
    freeMb,
    dockerFreeMb,
    dockerSocket: unixSocket(facts.docker_host),
  };
}

/** `light`: the engine and the disk only (HostFacts.compose is then empty): enough to start a kept container */
export async function preflight(ctx: EngineContext, layout: Layout, light = false): Promise<HostFacts> {
  const r = await ctx.host.run(preflightCmd(layout, light), { timeoutMs: 30_000 });
  const facts = judgePreflight(parsePreflight(r.stdout), ctx.cfg.config.deployment.min_free_mb, light);
  const compose = light ? '' : `, ${facts.compose.join(' ')} ${facts.composeVersion}`;
  ctx.reporter.info(
    `host ${ctx.host.name}: docker ${facts.dockerVersion}${compose}` +
      (facts.freeMb !== undefined ? `, ${facts.freeMb} MiB free` : ''),
  );
  return facts;
}
