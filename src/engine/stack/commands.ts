import { cmd, script, type Command } from '../../host/host.js';
import { ENGINE_API, engineFilters } from '../engine-api.js';
import type { Colour } from '../types.js';
import type { Layout } from './layout.js';

/*
 * What the engine runs on the host for the stack, as data: pure builders of each command's argv, and every
 * shell script they use as an exported constant (its data arrives as $1, $2, …: see script() in host/host.ts).
 * The effectful functions beside this file (colours, files, state, neighbours, lock) only run what these build,
 * and the dry-run plan prints the same commands.
 */

// --- colours: the stack's state, compose, the gate flags, starting and stopping an app --------------------------

// One round trip: what the proxy actually routes to (the gate flags) and the state of every container — the
// engine's container list over its API as one engine= line (parsed by parseStackFacts), else one docker call
// (an absent container is left out of docker's answer, whose exit code is then 1).
export const INSPECT_STACK = `${ENGINE_API}
for c in blue green; do
  if [ -f "$2/gates/$c/ready" ]; then echo "$c.flag=on"; else echo "$c.flag=off"; fi
done
if all=$(api "/containers/json?all=1&filters=$3" 2>/dev/null); then printf 'engine=%s\\n' "$all"; exit 0; fi
all=$(docker container inspect -f '{{.Name}} {{.State.Status}} {{.Config.Image}}' -- \\
  "$1-gate-blue" "$1-app-blue" "$1-gate-green" "$1-app-green" "$1-caddy" "$1-db" "$1-keeper" 2>/dev/null)
st() { v=$(printf '%s\\n' "$all" | awk -v n="/$1" '$1 == n { print $2, $3; exit }'); echo "\${v:-absent}"; }
for c in blue green; do
  echo "$c.gate=$(st "$1-gate-$c")"
  echo "$c.app=$(st "$1-app-$c")"
done
echo "caddy=$(st "$1-caddy")"
echo "db=$(st "$1-db")"
echo "keeper=$(st "$1-keeper")"
`;

/** $1 the compose project, $2 the environment's root, $3 the engine's filter for the project's containers */
export function inspectStackCmd(layout: Layout): Command {
  return script(INSPECT_STACK, layout.stack, layout.root, engineFilters({ name: [`${layout.stack}-`] }));
}

/** the configured compose command (`docker compose` or `docker-compose`) on this environment's project, file and .env */
export function composeCmd(compose: string[], layout: Layout, ...args: string[]): Command {
  const [file, ...rest] = compose;
  const files = layout.composeFiles.flatMap((f) => ['-f', f]);
  return cmd(file!, ...rest, '-p', layout.stack, ...files, '--env-file', layout.imagesEnv, ...args);
}

/** starts a colour's gate (and what it depends on) unless it runs already */
export function startGateCmd(compose: string[], layout: Layout, colour: Colour): Command {
  return composeCmd(compose, layout, 'up', '-d', '--no-color', `gate-${colour}`);
}

/** (re)creates a colour's app from the image compose's .env names for it, and nothing else */
export function startAppCmd(compose: string[], layout: Layout, colour: Colour): Command {
  return composeCmd(compose, layout, 'up', '-d', '--no-deps', '--force-recreate', '--no-color', layout.service(colour));
}

/*
 * $1 the container. The engine's API starts it without a docker CLI start-up (a 304, already running, is a
 * success too); where the API cannot be asked, or refuses, `docker start` does it and says why it cannot.
 */
export const RESUME = `# docker start "$1", over the engine's socket where it can
${ENGINE_API}
api "/containers/$1/start" -X POST -o /dev/null 2>/dev/null || docker start -- "$1"`;

/** a colour's stopped app container started as it is: a warm rollback, a watch switch-back, a restore's return */
export function resumeAppCmd(layout: Layout, colour: Colour): Command {
  return script(RESUME, layout.app(colour));
}

/** Caddy rereads its configuration (only when the configuration itself changed, never for a switch) */
export function caddyReloadCmd(container: string): Command {
  return cmd(
    'docker',
    'exec',
    container,
    'caddy',
    'reload',
    '--config',
    '/etc/caddy/Caddyfile',
    '--adapter',
    'caddyfile',
  );
}

/** `docker stop`'s grace period for a drain: whole seconds, at least one */
export function stopSeconds(drainMs: number): number {
  return Math.max(1, Math.ceil(drainMs / 1000));
}

/** stops (never removes) a colour's app; its in-flight requests get the drain to finish */
export function stopAppCmd(layout: Layout, colour: Colour, drainMs: number): Command {
  return cmd('docker', 'stop', '-t', String(stopSeconds(drainMs)), layout.app(colour));
}

/** $1 the colour's gate directory */
export const FLAG_ON = 'set -e; mkdir -p -- "$1"; touch -- "$1/ready"';
export const FLAG_OFF = 'rm -f -- "$1/ready"';

/** the flag is a file on the host, bind-mounted into the gate: no docker call, survives recreation */
export function flagCmd(layout: Layout, colour: Colour, on: boolean): Command {
  return script(on ? FLAG_ON : FLAG_OFF, layout.path('gates', colour));
}

// --- files: content always travels on stdin, so no secret is ever part of a command line ------------------------

/** write stdin to $1 atomically (temp file in the same directory, then rename), with mode $2 */
export const WRITE_FILE =
  'set -e; umask 077; d=$(dirname -- "$1"); mkdir -p -- "$d"; t="$1.tmp.$$"; cat > "$t"; chmod "$2" "$t"; mv -f -- "$t" "$1"';
/** append stdin to $1 */
export const APPEND_FILE = 'set -e; umask 077; mkdir -p -- "$(dirname -- "$1")"; cat >> "$1"';
/** prints $1, or nothing with exit 3 when it does not exist (distinguishable from a failure) */
export const READ_FILE = 'if [ -f "$1" ]; then cat -- "$1"; else exit 3; fi';
/** every argument a directory */
export const MKDIRS = 'set -e; umask 077; for p in "$@"; do mkdir -p -- "$p"; done';

export function writeFileCmd(path: string, mode: '600' | '644'): Command {
  return script(WRITE_FILE, path, mode);
}

export function appendFileCmd(path: string): Command {
  return script(APPEND_FILE, path);
}

export function readFileCmd(path: string): Command {
  return script(READ_FILE, path);
}

export function mkdirsCmd(...paths: string[]): Command {
  return script(MKDIRS, ...paths);
}

// One round trip for every file: "name mode base64" per line; a file is replaced only when its bytes differ,
// and each replaced file is named on stdout so the caller knows whether Caddy needs a reload. A directory that
// holds a 644 file is made 755: containers read these through bind mounts as their own users (the database
// image runs db-init/ as postgres, which a 0700 directory of the deploy user hides, silently).
export const WRITE_FILES = `
set -e; umask 077; mkdir -p -- "$1"; cd -- "$1"
while IFS=' ' read -r name mode data; do
  [ -n "$name" ] || continue
  dir=$(dirname -- "$name")
  mkdir -p -- "$dir"
  if [ "$mode" = 644 ] && [ "$dir" != . ]; then chmod 755 -- "$dir"; fi
  t="$name.tmp.$$"
  printf '%s' "$data" | base64 -d > "$t"
  chmod "$mode" "$t"
  if [ -f "$name" ] && cmp -s "$t" "$name"; then rm -f -- "$t"; else mv -f -- "$t" "$name"; echo "changed $name"; fi
done
mkdir -p -- logs snapshots gates/blue gates/green
`;

/** $1 the environment's root; stdin: one "name mode base64" line per file */
export function writeHostFilesCmd(layout: Layout): Command {
  return script(WRITE_FILES, layout.root);
}

// --- state: state.json and history.jsonl ------------------------------------------------------------------------

// $1 state.json, $2 history.jsonl; stdin: the first line is appended to history.jsonl, the rest replaces
// state.json atomically
export const WRITE_STATE = `set -e; umask 077; mkdir -p -- "$(dirname -- "$1")"
IFS= read -r line; printf '%s\\n' "$line" >> "$2"
t="$1.tmp.$$"; cat > "$t"; mv -f -- "$t" "$1"`;

export function writeStateCmd(layout: Layout): Command {
  return script(WRITE_STATE, layout.stateFile, layout.historyFile);
}

export function readStateCmd(layout: Layout): Command {
  return readFileCmd(layout.stateFile);
}

// Every stack on the host names its directory in compose's working_dir label, whichever config file deployed
// it; the config's own neighbours are read too, in case their containers are gone. Our own is skipped.
// $1 our own root; the rest: the neighbours' paths from the config.
export const NEIGHBOUR_STATES = `
own=$(cd -- "$1" 2>/dev/null && pwd -P); shift
{ docker ps -a --filter label=org.togather.role=gate --format '{{.Label "com.docker.compose.project.working_dir"}}' 2>/dev/null
  for p in "$@"; do printf '%s\\n' "$p"; done; } | sort -u | while IFS= read -r d; do
  [ -n "$d" ] || continue
  r=$(cd -- "$d" 2>/dev/null && pwd -P) || continue
  [ "$r" = "$own" ] && continue
  [ -f "$r/state.json" ] && { cat -- "$r/state.json"; echo; echo '---'; }
done
exit 0
`;

export function neighbourStatesCmd(layout: Layout, paths: string[]): Command {
  return script(NEIGHBOUR_STATES, layout.root, ...paths);
}

// --- the deploy lock (lock.ts says how it works); $1 is always the lock directory ------------------------------

// stdin: the new info.json. Exit 0: taken; exit 4: held, with the holder's info.json, its heartbeat's age and
// the directory's mtime on stdout.
export const LOCK_ACQUIRE = `
mkdir -p -- "$(dirname -- "$1")" || exit 2
if mkdir -- "$1" 2>/dev/null; then cat > "$1/info.json"; touch -- "$1/heartbeat"; exit 0; fi
cat -- "$1/info.json" 2>/dev/null
hb=$(stat -c %Y -- "$1/heartbeat" 2>/dev/null || stat -c %Y -- "$1/info.json" 2>/dev/null || stat -c %Y -- "$1" 2>/dev/null || date +%s)
echo; echo "heartbeat_age=$(( $(date +%s) - hb ))"; echo "dir_mtime=$(stat -c %Y -- "$1" 2>/dev/null)"
exit 4
`;
// a lock directory without info.json (its holder died between mkdir and the write): identified by its mtime ($2)
export const LOCK_TAKEOVER_NOINFO = `
[ -f "$1/info.json" ] && exit 5
[ "$(stat -c %Y -- "$1" 2>/dev/null)" = "$2" ] || exit 5
mkdir -- "$1.takeover.noinfo-$2" 2>/dev/null || exit 5
mv -- "$1" "$1.takeover.noinfo-$2/lock"
`;
// $2 the holder's lock id, for this and the scripts below: only the lock with that id is touched
export const LOCK_HEARTBEAT = `grep -q "\\"lock_id\\":\\"$2\\"" "$1/info.json" 2>/dev/null && touch -- "$1/heartbeat"`;
export const LOCK_TAKEOVER = `
mkdir -- "$1.takeover.$2" 2>/dev/null || exit 5
grep -q "\\"lock_id\\":\\"$2\\"" "$1/info.json" 2>/dev/null || { rmdir -- "$1.takeover.$2"; exit 5; }
mv -- "$1" "$1.takeover.$2/lock"
`;
export const LOCK_RELEASE = `
grep -q "\\"lock_id\\":\\"$2\\"" "$1/info.json" 2>/dev/null || exit 5
mv -- "$1" "$1.released.$2" && rm -rf -- "$1.released.$2"
`;
// the lock as unlock sees it: info.json, or the age of a directory without one, or nothing
export const LOCK_INSPECT = `
cat -- "$1/info.json" 2>/dev/null && exit 0
m=$(stat -c %Y -- "$1" 2>/dev/null) || exit 3
echo "noinfo_age=$(( $(date +%s) - m ))"; exit 4
`;
export const LOCK_REMOVE_NOINFO = `
[ -d "$1" ] && [ ! -e "$1/info.json" ] || exit 5
mv -- "$1" "$1.removed.noinfo-$$" && rm -rf -- "$1.removed.noinfo-$$"
`;
export const LOCK_FORCE_REMOVE = `
grep -q "\\"lock_id\\":\\"$2\\"" "$1/info.json" 2>/dev/null || exit 5
mv -- "$1" "$1.removed.$2" && rm -rf -- "$1.removed.$2"
`;

export function lockAcquireCmd(layout: Layout): Command {
  return script(LOCK_ACQUIRE, layout.lockDir);
}

export function lockHeartbeatCmd(layout: Layout, lockId: string): Command {
  return script(LOCK_HEARTBEAT, layout.lockDir, lockId);
}

export function lockTakeoverCmd(layout: Layout, lockId: string): Command {
  return script(LOCK_TAKEOVER, layout.lockDir, lockId);
}

export function lockTakeoverNoInfoCmd(layout: Layout, mtime: string): Command {
  return script(LOCK_TAKEOVER_NOINFO, layout.lockDir, mtime);
}

export function lockReleaseCmd(layout: Layout, lockId: string): Command {
  return script(LOCK_RELEASE, layout.lockDir, lockId);
}

export function lockInspectCmd(layout: Layout): Command {
  return script(LOCK_INSPECT, layout.lockDir);
}

/** unlock: removes the lock held by `lockId`, and no other */
export function lockForceRemoveCmd(layout: Layout, lockId: string): Command {
  return script(LOCK_FORCE_REMOVE, layout.lockDir, lockId);
}

/** unlock: removes a lock directory that has no info.json */
export function lockRemoveNoInfoCmd(layout: Layout): Command {
  return script(LOCK_REMOVE_NOINFO, layout.lockDir);
}

/** who removed whose lock stays on the host: one JSON line on stdin */
export function auditAppendCmd(layout: Layout): Command {
  return appendFileCmd(layout.path('audit.jsonl'));
}
