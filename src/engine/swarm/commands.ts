import { DeployError } from '../../errors.js';
import { cmd, script, type Command } from '../../host/host.js';
import { parseProbe, PROBE_LOOP, type ProbeResult } from '../release/health.js';
import type { StackFacts } from '../stack/colours.js';
import { stopSeconds } from '../stack/commands.js';
import type { Colour } from '../types.js';

/*
 * What the Swarm provider runs on the manager, as data: pure builders of each docker command's argv, and the
 * shell scripts as exported constants whose data arrive as $1, $2, … (script() in host/host.ts). Every name,
 * label, image and constraint is checked against a strict pattern first: argv needs no quoting, but a value
 * that starts with "-" would be read as an option, and a newline would break the line-based parsers.
 */

// --- validation -------------------------------------------------------------------------------------------------

function refuse(what: string, value: string, rule: string): never {
  throw new DeployError('config', `swarm: ${what} ${JSON.stringify(value)} is not allowed (${rule})`);
}

// the longest suffix added to a stack name is "-deploy-lock" (12); service names stop at 63 characters
const STACK_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$/;
const SERVICE_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
/** a task, node or service ID as swarmkit prints it (25 lower-case alphanumerics; shorter prefixes accepted) */
const ID_RE = /^[a-z0-9]{6,64}$/;
const IMAGE_RE = /^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$/;
const LABEL_KEY_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** a placement constraint: node.<attr> == / != value, the operator's spelling kept */
const CONSTRAINT_RE = /^(node|engine)\.[A-Za-z0-9._-]+ *(==|!=) *[A-Za-z0-9._-]+$/;
const SHA_RE = /^[0-9a-f]{7,40}$/;

export function checkStack(s: string): string {
  return STACK_RE.test(s) ? s : refuse('stack name', s, 'letters, digits, _ and -, at most 48');
}

export function checkService(s: string): string {
  return SERVICE_RE.test(s) ? s : refuse('service name', s, 'letters, digits, _ . and -, at most 63');
}

export function checkId(s: string): string {
  return ID_RE.test(s) ? s : refuse('swarm ID', s, 'lower-case letters and digits');
}

export function checkImage(s: string): string {
  return IMAGE_RE.test(s) && !s.includes('..') ? s : refuse('image', s, 'an image reference');
}

export function checkLabelKey(s: string): string {
  return LABEL_KEY_RE.test(s) ? s : refuse('label', s, 'letters, digits, . _ and -');
}

/** label values are free text (an actor's name), but one line of printable characters */
export function checkLabelValue(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.length <= 256 && !/[\u0000-\u001f\u007f]/.test(s) ? s : refuse('label value', s, 'one printable line');
}

export function checkConstraint(s: string): string {
  return CONSTRAINT_RE.test(s) ? s : refuse('placement constraint', s, 'node.<attribute> == <value>');
}

/** an absolute path without control characters or ".." (it reaches bind mounts and --env-file) */
export function checkPath(s: string): string {
  // eslint-disable-next-line no-control-regex
  const ok = s.startsWith('/') && !/[\u0000-\u001f\u007f]/.test(s) && !s.split('/').includes('..');
  return ok ? s : refuse('path', s, 'an absolute path');
}

/** a path on the manager, absolute or relative to the deploy user's home (the environment's root as configured) */
export function checkHostPath(s: string): string {
  return /^[A-Za-z0-9_]/.test(s) ? checkPath(`/${s}`).slice(1) : checkPath(s);
}

function checkCount(n: number, what: string, max = 100): number {
  if (!Number.isInteger(n) || n < 0 || n > max) refuse(what, String(n), `a whole number 0-${max}`);
  return n;
}

/** a Go duration docker reads: whole milliseconds */
export function goDuration(ms: number): string {
  return `${Math.max(0, Math.round(ms))}ms`;
}

// --- names ------------------------------------------------------------------------------------------------------

/** the names `docker stack deploy <stack>` gives (<stack>_<service>), and the lock's, which is outside the stack */
export interface SwarmNames {
  stack: string;
  app(c: Colour): string;
  gate(c: Colour): string;
  caddy: string;
  tools: string;
  db: string;
  overlay: string;
  lock: string;
}

export function swarmNames(stack: string): SwarmNames {
  const s = checkStack(stack);
  return {
    stack: s,
    app: (c) => `${s}_app-${c}`,
    gate: (c) => `${s}_gate-${c}`,
    caddy: `${s}_caddy`,
    tools: `${s}_tools`,
    db: `${s}_db`,
    overlay: `${s}_togather`,
    lock: `${s}-deploy-lock`,
  };
}

/** labels the tool reads back: the stack's namespace (stack deploy sets it on its own services), colour, version */
export const NAMESPACE_LABEL = 'com.docker.stack.namespace';
export const COLOUR_LABEL = 'org.togather.colour';
export const VERSION_LABEL = 'org.togather.version';
export const SERVICE_NAME_LABEL = 'com.docker.swarm.service.name';

// --- the colour services ----------------------------------------------------------------------------------------

export interface ColourServiceSpec {
  stack: string;
  colour: Colour;
  image: string;
  /** the release's commit, kept as a label: a warm rollback finds its candidate by it */
  sha: string;
  replicas: number;
  /** the overlay network (<stack>_togather) */
  network: string;
  /** the app's env file on the manager (app.env) */
  envFile: string;
  /** the drain: swarm's stop grace period */
  drainMs: number;
  /** extra placement constraints for the app's tasks (provider.placement) */
  constraints: string[];
  /** pull from a registry with the deployer's login (app.pull: true) */
  registryAuth?: boolean;
  /** overrides of the image's own HEALTHCHECK timing, when it has one */
  health?: { intervalMs: number; startPeriodMs: number };
}

/** `service create` of a colour: every setting on the command line, so a recreate always matches the config */
export function createColourCmd(p: ColourServiceSpec): Command {
  const n = swarmNames(p.stack);
  if (!SHA_RE.test(p.sha)) refuse('commit', p.sha, 'hex digits');
  return cmd(
    'docker',
    'service',
    'create',
    '--detach',
    '--name',
    n.app(p.colour),
    '--label',
    `${NAMESPACE_LABEL}=${n.stack}`,
    '--label',
    `${COLOUR_LABEL}=${p.colour}`,
    '--label',
    `${VERSION_LABEL}=${p.sha}`,
    '--container-label',
    'org.togather.role=app',
    '--network',
    `name=${checkService(p.network)}`,
    '--endpoint-mode',
    'dnsrr',
    '--replicas',
    String(checkCount(p.replicas, 'replicas')),
    // no --placement-pref: swarmkit spreads only over node or engine labels (spread=node.id is ignored), and its
    // default already places a service's next task on the node with the fewest of them
    ...p.constraints.flatMap((c) => ['--constraint', checkConstraint(c)]),
    '--env-file',
    checkPath(p.envFile),
    '--env',
    `TOGATHER_SLOT=${p.colour}`,
    '--stop-grace-period',
    `${stopSeconds(p.drainMs)}s`,
    '--restart-condition',
    'any',
    '--restart-delay',
    '1s',
    '--update-order',
    'start-first',
    // service create's spelling (stack deploy's is --resolve-image never): use the image as the node has it
    '--no-resolve-image',
    ...(p.registryAuth ? ['--with-registry-auth'] : []),
    ...(p.health
      ? [
          '--health-interval',
          goDuration(p.health.intervalMs),
          '--health-start-period',
          goDuration(p.health.startPeriodMs),
        ]
      : []),
    checkImage(p.image),
  );
}

/** sets a service's replicas and returns at once: our own polls wait, with our own timeouts */
export function scaleCmd(service: string, replicas: number): Command {
  return cmd('docker', 'service', 'scale', '--detach', `${checkService(service)}=${checkCount(replicas, 'replicas')}`);
}

/** removes a service by name or, where it matters who owns it (the lock), by its exact ID */
export function removeServiceCmd(nameOrId: string): Command {
  return cmd('docker', 'service', 'rm', checkService(nameOrId));
}

/** the long-lived services; never --prune (the colour services and the lock are not in the file) */
export function stackDeployCmd(file: string, stack: string, registryAuth = false): Command {
  return cmd(
    'docker',
    'stack',
    'deploy',
    '--resolve-image',
    'never',
    ...(registryAuth ? ['--with-registry-auth'] : []),
    '-c',
    checkPath(file),
    checkStack(stack),
  );
}

/** a service's last log lines, for diagnostics (the caller redacts them) */
export function serviceLogsCmd(service: string, lines = 30): Command {
  return cmd(
    'docker',
    'service',
    'logs',
    '--tail',
    String(checkCount(lines, 'log lines', 1000)),
    '--timestamps',
    '--no-trunc',
    checkService(service),
  );
}

/** each task's name, node, state and error, for diagnostics ("No such image", "no suitable node") */
export function servicePsCmd(service: string): Command {
  return cmd(
    'docker',
    'service',
    'ps',
    '--no-trunc',
    '--format',
    '{{.Name}}|{{.Node}}|{{.CurrentState}}|{{.Error}}',
    checkService(service),
  );
}

/** run on each node's own SSH: the node ID it has in the swarm (empty when it is in none) */
export function nodeIdCmd(): Command {
  return cmd('docker', 'info', '--format', '{{.Swarm.NodeID}}');
}

/**
 * $1 the service, $2 its replicas: the manager's clock first (now=, epoch s), then the scale. judgeTasks takes
 * that time as `sinceS`, so a warm colour's older failed tasks (its history) do not fail its new start.
 */
export const SCALE_UP = `echo "now=$(date +%s)"; docker service scale --detach "$1=$2" >/dev/null`;

export function scaleUpCmd(service: string, replicas: number): Command {
  return script(SCALE_UP, checkService(service), String(checkCount(replicas, 'replicas')));
}

/** the manager's clock as SCALE_UP and the task listings print it (now=<epoch s>) */
export function parseNow(out: string): number | undefined {
  const m = /^now=(\d+)$/m.exec(out);
  return m ? Number(m[1]) : undefined;
}

/** every service of the stack with its running/desired replicas (parseReplicas): what provision waits on */
export function stackReplicasCmd(stack: string): Command {
  return cmd(
    'docker',
    'service',
    'ls',
    '--filter',
    `label=${NAMESPACE_LABEL}=${checkStack(stack)}`,
    '--format',
    '{{.Name}} {{.Replicas}}',
  );
}

/** $1 the environment's root (relative to the SSH user's home, or absolute): created, then printed resolved */
export const ROOT_REALPATH = 'mkdir -p -- "$1" && cd -- "$1" && pwd -P';

export function rootRealpathCmd(root: string): Command {
  return script(ROOT_REALPATH, root);
}

/** $1 the edge Caddy's service: its container on this node (the edge is the manager) rereads its configuration */
export const EDGE_CADDY_RELOAD = `
c=$(docker ps -q --filter "label=${SERVICE_NAME_LABEL}=$1" | head -n 1)
[ -n "$c" ] || { echo "no running container of $1 on this node" >&2; exit 3; }
exec docker exec "$c" caddy reload --config /etc/caddy/Caddyfile --adapter caddyfile
`;

export function edgeCaddyReloadCmd(service: string): Command {
  return script(EDGE_CADDY_RELOAD, checkService(service));
}

// --- tasks --------------------------------------------------------------------------------------------------------

// Every task of service $1 (current and history), one "task|…" line each, then every node as "node|…". Node IDs,
// never hostnames: nodes may share one. The error is JSON, last, so a "|" in it splits nothing; the network
// attachments are "name=addr/len " pairs, and the caller picks the overlay's. With no such service: service=absent.
const TASK_FORMAT =
  'task|{{.ID}}|{{.NodeID}}|{{.DesiredState}}|{{.Status.State}}|' +
  '{{with .Status.ContainerStatus}}{{.ExitCode}}{{end}}|{{.CreatedAt.Unix}}|' +
  '{{range .NetworksAttachments}}{{.Network.Spec.Name}}={{range .Addresses}}{{.}} {{end}}{{end}}|' +
  '{{json .Status.Err}}';
const LIST_TASKS = `
list() {
  ids=$(docker service ps -q --no-trunc "$1" 2>/dev/null) || { echo service=absent; return 0; }
  echo service=present
  if [ -n "$ids" ]; then
    printf '%s\\n' "$ids" | xargs docker inspect --type task -f '${TASK_FORMAT}' 2>/dev/null
  fi
  docker node ls --format 'node|{{.ID}}|{{.Status}}|{{.Availability}}' 2>/dev/null
  echo "now=$(date +%s)"
}
`;

/** $1 the service */
export const SWARM_TASKS = `${LIST_TASKS}
list "$1"
`;

export function swarmTasksCmd(service: string): Command {
  return script(SWARM_TASKS, checkService(service));
}

// Scales service $1 to 0, then lists its tasks every half second until none is still alive on a Ready node, at
// most $2 seconds; prints the last listing (SWARM_TASKS's format), which says what is left and where. A task on a
// Down node is not waited for: its node cannot stop it until it comes back. Exit 2: the scale itself failed.
export const SCALE_DOWN = `${LIST_TASKS}
docker service scale --detach "$1=0" >/dev/null || exit 2
end=$(( $(date +%s) + $2 ))
while :; do
  out=$(list "$1")
  alive=$(printf '%s\\n' "$out" | awk -F'|' '
    $1 == "node" && tolower($3) != "ready" { down[$2] = 1 }
    $1 == "task" && $5 ~ /^(new|pending|assigned|accepted|preparing|ready|starting|running)$/ { t[$2] = $3 }
    END { n = 0; for (k in t) if (!(t[k] in down)) n++; print n }')
  [ "$alive" = 0 ] && break
  [ "$(date +%s)" -ge "$end" ] && break
  sleep 0.5
done
printf '%s\\n' "$out"
`;

export function scaleDownCmd(service: string, waitMs: number): Command {
  return script(SCALE_DOWN, checkService(service), String(Math.max(1, Math.ceil(waitMs / 1000))));
}

// --- the stack as the deployer reads it ---------------------------------------------------------------------------

// One round trip: every service of stack $1 with its running/desired replicas and image, the version label of both
// colour services, and both gates' flag files under root $2. An absent colour service is left out of docker's
// answer (exit 1, ignored). parseSwarmInspect (services.ts's caller) turns it into StackFacts.
export const SWARM_INSPECT = `
docker service ls --filter "label=${NAMESPACE_LABEL}=$1" --format 'svc {{.Name}} {{.Replicas}} {{.Image}}' 2>/dev/null
docker service inspect -f 'ver {{.Spec.Name}} {{index .Spec.Labels "${VERSION_LABEL}"}}' "$1_app-blue" "$1_app-green" 2>/dev/null
for c in blue green; do
  if [ -f "$2/gates/$c/ready" ]; then echo "$c.flag=on"; else echo "$c.flag=off"; fi
done
exit 0
`;

/** $1 the stack, $2 the environment's root on the manager */
export function swarmInspectCmd(stack: string, root: string): Command {
  return script(SWARM_INSPECT, checkStack(stack), checkHostPath(root));
}

// --- probes of every task, from the tools container on the manager ----------------------------------------------

// Inside the tools container: PROBE_LOOP ($0) against every IP ($7…) at once, each into its own file, then each
// answer as an "=== <ip>" block in the order given. $1 timeout (s), $2 port, $3 path, $4 passes needed, $5 probes
// at most, $6 pause (s). No single quote inside: it travels as one sh -c argument.
export const PROBE_EACH_INNER = `
loop=$0; t=$1; port=$2; path=$3; need=$4; max=$5; pause=$6; shift 6
d=$(mktemp -d) || exit 2
i=0
for ip in "$@"; do
  i=$((i+1))
  sh -c "$loop" togather-deploy "$t" "http://$ip:$port$path" "$need" "$max" "$pause" > "$d/$i" 2>&1 &
done
wait
i=0
for ip in "$@"; do
  i=$((i+1))
  echo "=== $ip"; cat -- "$d/$i"
done
rm -rf -- "$d"
`;

/**
 * $1 the tools service (its container on this node is found by swarm's label), then PROBE_EACH_INNER's
 * arguments from $1 on. Exit 3 with tools=absent when the container is not there.
 */
export const PROBE_EACH = `
c=$(docker ps -q --filter "label=${SERVICE_NAME_LABEL}=$1" | head -n 1)
[ -n "$c" ] || { echo tools=absent; exit 3; }
shift
docker exec "$c" sh -c '${PROBE_EACH_INNER}' '${PROBE_LOOP}' "$@"
`;

const IPV4_RE = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

export interface ProbeEachSpec {
  tools: string;
  ips: string[];
  port: number;
  /** the health path, e.g. /health */
  path: string;
  timeoutMs: number;
  consecutive: number;
  probes: number;
  intervalMs: number;
}

export function probeEachCmd(p: ProbeEachSpec): Command {
  for (const ip of p.ips) if (!IPV4_RE.test(ip)) refuse('task address', ip, 'an IPv4 address');
  if (!/^\/[A-Za-z0-9._~/-]*$/.test(p.path)) refuse('health path', p.path, 'a plain URL path');
  if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535) refuse('port', String(p.port), '1-65535');
  return script(
    PROBE_EACH,
    checkService(p.tools),
    String(Math.max(1, Math.ceil(p.timeoutMs / 1000))),
    String(p.port),
    p.path,
    String(checkCount(p.consecutive, 'passes')),
    String(checkCount(p.probes, 'probes')),
    (p.intervalMs / 1000).toFixed(3),
    ...p.ips,
  );
}

// --- preflight ----------------------------------------------------------------------------------------------------

// One round trip to the manager, read-only: the engine, this node's swarm state, every node (ID, state,
// availability, address, role, hostname, then its labels as JSON, last), the overlay network (absent before the
// first deploy), the free space under root $2 (df walks up to the nearest existing parent) and its real path.
// $1 the overlay network's name.
const NODE_FORMAT =
  'node={{.ID}}|{{.Status.State}}|{{.Spec.Availability}}|{{.Status.Addr}}|{{.Spec.Role}}|' +
  '{{.Description.Hostname}}|{{json .Spec.Labels}}';
export const SWARM_PREFLIGHT = `
printf 'version=%s\\n' "$(docker version -f '{{.Server.Version}} {{.Client.Version}}' 2>/dev/null)"
printf 'swarm=%s\\n' "$(docker info -f '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}} {{.Swarm.NodeID}}' 2>/dev/null)"
docker node ls -q 2>/dev/null | xargs -r docker node inspect -f '${NODE_FORMAT}' 2>/dev/null
n=$(docker network inspect -f '{{.Driver}} {{.Attachable}}' "$1" 2>/dev/null) || n=absent
printf 'network=%s\\n' "$n"
p=$2; while [ ! -e "$p" ] && [ "$p" != / ] && [ "$p" != . ]; do p=$(dirname -- "$p"); done
df -Pk -- "$p" 2>/dev/null | awk 'NR==2{print "free_kb=" $4}'
printf 'root=%s\\n' "$(cd -- "$2" 2>/dev/null && pwd -P)"
exit 0
`;

export function swarmPreflightCmd(network: string, root: string): Command {
  return script(SWARM_PREFLIGHT, checkService(network), checkHostPath(root));
}

// --- the cluster-wide lock (lock.ts says how it works): a 0-replica service named <stack>-deploy-lock ---------

/** the lock's labels: its holder, as stack/lock.ts's LockInfo has it, and the heartbeat counter */
export const LOCK_LABEL = 'org.togather.lock';

const LOCK_HELD = `h=$(docker service inspect -f '{{.ID}} {{.UpdatedAt.Unix}} {{json .Spec.Labels}}' "$n" 2>/dev/null)`;

// $1 the lock service, $2 the image (never pulled: it runs no task), then its "--label k=v" arguments. Swarm
// refuses a second service of the same name, atomically. Exit 0 with id=<service ID>: ours. Exit 4: held, with
// held=<ID> <updated, s> <labels JSON> and the manager's now=. Exit 3: the create failed and no lock exists
// (taken and released in between, or a real failure: its error on stderr).
export const SWARM_LOCK_CREATE = `
n=$1; img=$2; shift 2
if out=$(docker service create --detach --quiet --name "$n" --replicas 0 --no-resolve-image "$@" "$img" 2>&1); then
  printf 'id=%s\\n' "$(printf '%s\\n' "$out" | tail -n 1)"; exit 0
fi
${LOCK_HELD} || { printf '%s\\n' "$out" >&2; exit 3; }
printf 'held=%s\\n' "$h"; echo "now=$(date +%s)"; exit 4
`;

/**
 * $1 the lock service (LOCK_HELD reads it as $n: the create script has shifted its arguments): held=… and now= as
 * SWARM_LOCK_CREATE prints them (exit 0), or exit 3 when there is none
 */
export const SWARM_LOCK_INSPECT = `
n=$1
${LOCK_HELD} || exit 3
printf 'held=%s\\n' "$h"; echo "now=$(date +%s)"
`;

/** $1 the lock service, $2 a lock id: removes that lock by its service ID, and no newer one (exit 5: not that lock) */
export const SWARM_LOCK_REMOVE_HELD = `
s=$(docker service inspect -f '{{.ID}} {{index .Spec.Labels "${LOCK_LABEL}.id"}}' "$1" 2>/dev/null) || exit 5
[ "\${s#* }" = "$2" ] || exit 5
docker service rm "\${s%% *}" >/dev/null
`;

export function lockCreateCmd(service: string, image: string, labels: Record<string, string>): Command {
  const flags = Object.entries(labels).flatMap(([k, v]) => ['--label', `${checkLabelKey(k)}=${checkLabelValue(v)}`]);
  return script(SWARM_LOCK_CREATE, checkService(service), checkImage(image), ...flags);
}

export function lockInspectCmd(service: string): Command {
  return script(SWARM_LOCK_INSPECT, checkService(service));
}

/** a label-only update: it bumps the service's UpdatedAt on the managers' clock and starts no task (0 replicas) */
export function lockHeartbeatCmd(serviceId: string, beat: number): Command {
  return cmd(
    'docker',
    'service',
    'update',
    '--detach',
    '--label-add',
    `${LOCK_LABEL}.beat=${beat}`,
    checkId(serviceId),
  );
}

export function lockRemoveHeldCmd(service: string, lockId: string): Command {
  return script(SWARM_LOCK_REMOVE_HELD, checkService(service), checkLabelValue(lockId));
}

// --- parsers ------------------------------------------------------------------------------------------------------

export interface Replicas {
  running: number;
  desired: number;
}

/** StackFacts, plus what only Swarm says: each colour's replicas and version label, and the tools service */
export interface SwarmStackFacts extends StackFacts {
  replicas: Record<Colour, Replicas | undefined>;
  versions: Record<Colour, string | undefined>;
  tools: string;
}

/**
 * A service's state in the words StackFacts uses for containers: absent; exited at 0 replicas (kept for a warm
 * rollback, like a stopped container); running while a task runs; restarting while none of the desired runs.
 */
export function serviceState(r: Replicas | undefined): string {
  if (!r) return 'absent';
  if (r.desired === 0) return 'exited';
  return r.running > 0 ? 'running' : 'restarting';
}

/** SWARM_INSPECT's output as the single-host StackFacts (so liveColour and colourImages work unchanged) */
export function parseSwarmInspect(out: string, stack: string): SwarmStackFacts {
  const n = swarmNames(stack);
  const svc = new Map<string, { replicas: Replicas; image: string }>();
  const ver = new Map<string, string>();
  const flags = new Set<string>();
  for (const line of out.split('\n')) {
    const s = /^svc (\S+) (\d+)\/(\d+)(?: \([^)]*\))? (\S+)$/.exec(line.trim());
    if (s) svc.set(s[1]!, { replicas: { running: Number(s[2]), desired: Number(s[3]) }, image: s[4]! });
    const v = /^ver (\S+) ([0-9a-f]{7,40})$/.exec(line.trim());
    if (v) ver.set(v[1]!, v[2]!);
    const f = /^(blue|green)\.flag=on$/.exec(line.trim());
    if (f) flags.add(f[1]!);
  }
  // an image as the service spec holds it, without the digest `service ls` may keep
  const image = (name: string) => svc.get(name)?.image.replace(/@sha256:[0-9a-f]+$/, '') || undefined;
  const state = (name: string) => serviceState(svc.get(name)?.replicas);
  const colour = (c: Colour) => ({
    flag: flags.has(c),
    gate: state(n.gate(c)),
    app: state(n.app(c)),
    image: image(n.app(c)),
  });
  return {
    blue: colour('blue'),
    green: colour('green'),
    caddy: state(n.caddy),
    db: state(n.db),
    dbImage: image(n.db),
    keeper: 'absent',
    tools: state(n.tools),
    replicas: { blue: svc.get(n.app('blue'))?.replicas, green: svc.get(n.app('green'))?.replicas },
    versions: { blue: ver.get(n.app('blue')), green: ver.get(n.app('green')) },
  };
}

/** `service ls` lines "<name> <running>/<desired>[ (…)]" → name → replicas */
export function parseReplicas(out: string): Map<string, Replicas> {
  const m = new Map<string, Replicas>();
  for (const line of out.split('\n')) {
    const r = /^(\S+) (\d+)\/(\d+)/.exec(line.trim());
    if (r) m.set(r[1]!, { running: Number(r[2]), desired: Number(r[3]) });
  }
  return m;
}

/** PROBE_EACH's output: each task address's probe round, as release/health.ts's parseProbe reads one */
export function parseProbeEach(out: string): Map<string, ProbeResult> {
  const results = new Map<string, ProbeResult>();
  const blocks = out.split(/^=== /m).slice(1);
  for (const b of blocks) {
    const nl = b.indexOf('\n');
    const ip = (nl < 0 ? b : b.slice(0, nl)).trim();
    results.set(ip, parseProbe(nl < 0 ? '' : b.slice(nl + 1)));
  }
  return results;
}
