import { cmd, script, type Command } from '../../host/host.js';
import type { Layout } from '../stack/layout.js';

/*
 * What the engine runs for the database, as data: pure builders of each command's argv, the argv of the
 * PostgreSQL client tools, and every shell script and SQL text as an exported constant (script data arrives as
 * $1, $2, …: see script() in host/host.ts; SQL travels on psql's stdin, names as psql -v variables). The
 * effectful functions beside this file only run what these build.
 */

// --- reaching the database ----------------------------------------------------------------------------------

/** db-client.env: PGPASSWORD for the client tools, mode 0600 beside app.env (database.ts says why) */
export function dbEnvPath(layout: Layout): string {
  return layout.path('db-client.env');
}

/** $1 the compose project: its network the app is on, by compose's labels */
export const STACK_NETWORK =
  `docker network ls --format '{{.Name}}' --filter "label=com.docker.compose.project=$1" ` +
  '--filter label=com.docker.compose.network=togather | head -n 1';

export function stackNetworkCmd(layout: Layout): Command {
  return script(STACK_NETWORK, layout.stack);
}

/** $1 a container: its state, or "absent" */
export const CONTAINER_STATUS = `docker inspect -f '{{.State.Status}}' -- "$1" 2>/dev/null || echo absent`;

export function dbStatusCmd(layout: Layout): Command {
  return script(CONTAINER_STATUS, layout.db);
}

/** where a PostgreSQL client tool runs: in the compose db container (managed), else a one-off container of `image` on `network` */
export interface PgToolPlace {
  managed: boolean;
  network?: string;
  /** images.postgres */
  image: string;
}

/**
 * Argv that runs a PostgreSQL client tool (psql, pg_dump) against the database with the app's credentials:
 * inside the compose db container when the database is managed (docker exec is ~0.1 s, a new container
 * ~0.7 s), else in a one-off container of the configured postgres image on the stack's network.
 */
export function pgToolCommand(layout: Layout, place: PgToolPlace, tool: readonly string[], stdin = false): Command {
  const i = stdin ? ['-i'] : [];
  if (place.managed) return { argv: ['docker', 'exec', ...i, '--env-file', dbEnvPath(layout), layout.db, ...tool] };
  if (!place.network) throw new Error('pgToolCommand: an external database needs the stack network');
  return {
    argv: [
      'docker',
      'run',
      '--rm',
      ...i,
      '--network',
      place.network,
      '--env-file',
      dbEnvPath(layout),
      '--label',
      'org.togather.role=db-tool',
      place.image,
      ...tool,
    ],
  };
}

/** psql printing bare values (unaligned, tuples only), never asking for a password */
export function psqlValuesArgs(url: string): string[] {
  return ['psql', '-X', '-q', '-A', '-t', '-w', '-d', url];
}

/** psql running a script from stdin with `vars` as psql variables (:'x' literal, :"x" identifier in the SQL) */
export function psqlScriptArgs(url: string, vars: Record<string, string>): string[] {
  return ['psql', '-X', '-q', '-w', '-d', url, ...Object.entries(vars).flatMap(([k, v]) => ['-v', `${k}=${v}`])];
}

/** the readiness probe's query: a TCP connection with the app's credentials that answers */
export const PROBE_SQL = 'SELECT 1';

export function psqlProbeArgs(url: string): string[] {
  return [...psqlValuesArgs(url), '-c', PROBE_SQL];
}

// psql script (stdin): the table may not exist yet, which a plain SELECT would turn into an error
export const READ_VERSION_SQL =
  `\\set ON_ERROR_STOP 1
SELECT to_regclass('schema_migrations') IS NOT NULL AS has_table \\gset
\\if :has_table
SELECT 'version=' || coalesce((SELECT version::text FROM schema_migrations LIMIT 1), 'none') || ' dirty=' ` +
  `|| coalesce((SELECT dirty::text FROM schema_migrations LIMIT 1), 'false');
\\else
SELECT 'version=absent dirty=false';
\\endif
`;

/** $1 a container: how often docker restarted it */
export const RESTART_COUNT = `docker inspect -f '{{.RestartCount}}' -- "$1" 2>/dev/null || echo 0`;

export function dbRestartsCmd(layout: Layout): Command {
  return script(RESTART_COUNT, layout.db);
}

export function dbLogsCmd(layout: Layout, lines: number): Command {
  return cmd('docker', 'logs', '--tail', String(lines), layout.db);
}

// --- the database image ---------------------------------------------------------------------------------------

export function dbImagePresentCmd(ref: string): Command {
  return cmd('docker', 'image', 'inspect', '--format', '.', ref);
}

/** builds `ref` on the host from the Dockerfile on stdin over `base` */
export function dbImageBuildCmd(ref: string, base: string): Command {
  return cmd(
    'docker',
    'build',
    '--quiet',
    '--build-arg',
    `BASE=${base}`,
    '--label',
    'org.togather.role=db-image',
    '-t',
    ref,
    '-',
  );
}

// --- migrations -------------------------------------------------------------------------------------------------

/** the command of the migrate container, placeholders filled in */
export function migrateArgs(template: string[], path: string, databaseUrl: string): string[] {
  return template.map((a) => a.split('{path}').join(path).split('{database}').join(databaseUrl));
}

/** the container that holds the release image (migrate.ts says why) */
export function holdName(layout: Layout): string {
  return `${layout.stack}-release-hold`;
}

/*
 * The hold: a container of the release image, created and never started. An image in use by a container
 * cannot be removed, so no image prune (this environment's or another's on the same host) can take the
 * release away between the image phase and the start of its colour, however long migrations take; the
 * migrations are also copied out of it. releaseHold removes it once the deploy ends.
 * $1 name, $2 image; an existing hold of the same image is kept.
 */
export const HOLD = `
[ "$(docker inspect -f '{{.Config.Image}}' -- "$1" 2>/dev/null)" = "$2" ] && exit 0
docker rm -f -- "$1" > /dev/null 2>&1
docker create --name "$1" --label org.togather.role=release-hold --entrypoint /togather-deploy-copy-only -- "$2" > /dev/null
`;

export function holdCreateCmd(layout: Layout, image: string): Command {
  return script(HOLD, holdName(layout), image);
}

export function holdRemoveCmd(layout: Layout): Command {
  return cmd('docker', 'rm', '-f', holdName(layout));
}

/*
 * $1 destination, $2 image, $3 path in the image, $4 how many releases' copies to keep, $5 the hold's name.
 * Exit 3: the image has no such path. Prints the file names.
 */
export const EXTRACT_MIGRATIONS = `
dest=$1; image=$2; src=$3; keep=$4; hold=$5
root=$(dirname -- "$dest")
umask 022
mkdir -p -- "$root" || exit 2
tmp="$dest.tmp.$$"
rm -rf -- "$tmp" "$tmp.tar"; mkdir -p -- "$tmp" || exit 2
if [ "$(docker inspect -f '{{.Config.Image}}' -- "$hold" 2>/dev/null)" != "$image" ]; then
  docker rm -f -- "$hold" > /dev/null 2>&1
  docker create --name "$hold" --label org.togather.role=release-hold --entrypoint /togather-deploy-copy-only -- "$image" > /dev/null || exit 4
fi
docker cp -- "$hold:$src" - > "$tmp.tar" 2> "$tmp.err"; rc=$?
if [ "$rc" != 0 ]; then
  if grep -qE 'No such container:path|Could not find the file' "$tmp.err"; then rm -rf -- "$tmp" "$tmp.tar" "$tmp.err"; exit 3; fi
  cat "$tmp.err" >&2; rm -rf -- "$tmp" "$tmp.tar" "$tmp.err"; exit 5
fi
tar -x -f "$tmp.tar" -C "$tmp" --strip-components=1 || { rm -rf -- "$tmp" "$tmp.tar" "$tmp.err"; exit 6; }
rm -f -- "$tmp.tar" "$tmp.err"
chmod -R a+rX -- "$tmp"
rm -rf -- "$dest" && mv -- "$tmp" "$dest" || exit 7
# the copies of older releases: keep the newest few
ls -1t -- "$root" | grep -E '^[0-9a-f]{40}$' | tail -n +"$((keep + 1))" | while read -r old; do rm -rf -- "$root/$old"; done
ls -1 -- "$dest"
`;

export function extractMigrationsCmd(layout: Layout, dir: string, image: string, src: string, keep: number): Command {
  return script(EXTRACT_MIGRATIONS, dir, image, src, String(keep), holdName(layout));
}

/*
 * $1 container name, $2 timeout in seconds, $3 migrations directory (made absolute here: docker would take a
 * relative one for a volume name); the rest: docker run options, image and the tool's arguments. A timed-out
 * run is removed (killing the docker client alone would leave the container running).
 */
export const RUN_MIGRATE = `
name=$1; secs=$2; dir=$(cd -- "$3" && pwd) || exit 2; shift 3
docker rm -f -- "$name" > /dev/null 2>&1
timeout "$secs" docker run --rm --name "$name" -v "$dir:/migrations:ro" "$@"; rc=$?
if [ "$rc" = 124 ]; then docker rm -f -- "$name" > /dev/null 2>&1; fi
exit "$rc"
`;

export interface MigrateRunSpec {
  /** the migrations directory on the host, mounted read-only at /migrations */
  dir: string;
  network: string;
  /** database.migrations.image */
  image: string;
  /** the tool's arguments (migrateArgs) */
  args: string[];
  timeoutMs: number;
}

/** one migrate container on the stack network, with the database password from db-client.env */
export function runMigrateCmd(layout: Layout, m: MigrateRunSpec): Command {
  const secs = String(Math.max(1, Math.ceil(m.timeoutMs / 1000)));
  const opts = [
    '--network',
    m.network,
    '--env-file',
    dbEnvPath(layout),
    '--label',
    'org.togather.role=migrate',
    m.image,
    ...m.args,
  ];
  return script(RUN_MIGRATE, `${layout.stack}-migrate`, secs, m.dir, ...opts);
}

// --- snapshots: take, publish, list, verify, remove -------------------------------------------------------------

/** the comment pg_dump writes last: a dump without it is truncated */
export const DUMP_CLOSING_LINE = '-- PostgreSQL database dump complete';

export function pgDumpArgs(url: string): string[] {
  return ['pg_dump', '-w', '--format=plain', '-d', url];
}

/*
 * $1 dir, $2 partial name; the rest is the pg_dump command. POSIX sh has no pipefail: pg_dump's own status
 * and gzip's come back through fd 3, so a failing dump can never pass as a small valid gzip. The checks then
 * read the file back: gzip integrity, non-zero size, and the closing comment pg_dump writes last.
 */
export const SNAPSHOT_DUMP = `
dir=$1; part=$2; shift 2
umask 077
mkdir -p -- "$dir" || exit 20
# no cd: the dump command may name files relative to the deploy user's home (docker exec --env-file)
part=$(cd -- "$dir" && pwd)/$part || exit 20
rm -f -- "$part"
st=$( { { "$@"; echo "dump=$?" >&3; } | gzip -3 > "$part"; echo "gzip=$?" >&3; } 3>&1 )
fail() { rm -f -- "$part"; echo "$st"; echo "failed=$1"; exit "$2"; }
case "$st" in *dump=0*) ;; *) fail pg_dump 21 ;; esac
case "$st" in *gzip=0*) ;; *) fail gzip 22 ;; esac
[ -s "$part" ] || fail empty 23
gzip -t < "$part" 2>/dev/null || fail gzip-test 24
gzip -dc < "$part" | tail -n 40 | grep -qx -- '${DUMP_CLOSING_LINE}' || fail closing-line 25
echo "$st"
echo "bytes=$(wc -c < "$part")"
echo "sha256=$(sha256sum < "$part" | cut -d' ' -f1)"
echo "pg_dump_version=$(gzip -dc < "$part" | head -n 30 | sed -n 's/^-- Dumped by pg_dump version //p' | head -n 1)"
`;

export function snapshotDumpCmd(dir: string, part: string, dump: Command): Command {
  return script(SNAPSHOT_DUMP, dir, part, ...dump.argv);
}

/* $1 dir, $2 partial name, $3 final name, $4 metadata name; stdin: the metadata. Exit 31: the name is taken. */
export const SNAPSHOT_PUBLISH = `
cd -- "$1" || exit 30
umask 077
if ! cat > "$2.json"; then rm -f -- "$2" "$2.json"; exit 30; fi
if [ -e "$3" ] || [ -e "$4" ]; then rm -f -- "$2.json"; exit 31; fi
if ln -- "$2.json" "$4" && ln -- "$2" "$3"; then rm -f -- "$2" "$2.json"; exit 0; fi
rm -f -- "$2" "$2.json" "$4"; exit 32
`;

export function snapshotPublishCmd(dir: string, part: string, file: string, metaFile: string): Command {
  return script(SNAPSHOT_PUBLISH, dir, part, file, metaFile);
}

/** $1 dir, $2 partial name: removes a snapshot that is not published */
export const SNAPSHOT_DISCARD = `cd -- "$1" 2>/dev/null && rm -f -- "$2" "$2.json"`;

export function snapshotDiscardCmd(dir: string, part: string): Command {
  return script(SNAPSHOT_DISCARD, dir, part);
}

/** $1 dir: "F size mtime name", "M name metadata" and "P mtime partial" lines */
export const SNAPSHOT_LIST = `
cd -- "$1" 2>/dev/null || exit 0
for f in *.sql.gz; do
  [ -f "$f" ] || continue
  printf 'F %s %s\\n' "$(stat -c '%s %Y' -- "$f")" "$f"
  m="\${f%.sql.gz}.json"
  if [ -f "$m" ]; then printf 'M %s ' "$f"; tr -d '\\n' < "$m"; echo; fi
done
for p in .partial-*; do [ -e "$p" ] && printf 'P %s %s\\n' "$(stat -c %Y -- "$p")" "$p"; done
exit 0
`;

export function snapshotListCmd(dir: string): Command {
  return script(SNAPSHOT_LIST, dir);
}

/** $1 dir; the rest: snapshot and partial file names (a snapshot's metadata goes with it) */
export const SNAPSHOT_REMOVE = `
cd -- "$1" || exit 2
shift
for n in "$@"; do
  case "$n" in
    .partial-*) rm -f -- "$n" ;;
    *.sql.gz) rm -f -- "$n" "\${n%.sql.gz}.json" ;;
  esac
done
`;

export function snapshotRemoveCmd(dir: string, names: string[]): Command {
  return script(SNAPSHOT_REMOVE, dir, ...names);
}

/** $1 dir, $2 file: its size, SHA-256, gzip integrity and closing line as key=value lines */
export const SNAPSHOT_VERIFY = `
cd -- "$1" 2>/dev/null || { echo missing=dir; exit 0; }
f=$2
[ -f "$f" ] || { echo missing=file; exit 0; }
echo "bytes=$(wc -c < "$f")"
echo "sha256=$(sha256sum < "$f" | cut -d' ' -f1)"
if gzip -t < "$f" 2>/dev/null; then echo gzip=ok; else echo gzip=bad; fi
if gzip -dc < "$f" 2>/dev/null | tail -n 40 | grep -qx -- '${DUMP_CLOSING_LINE}'; then echo closing=ok; else echo closing=missing; fi
`;

export function snapshotVerifyCmd(dir: string, file: string): Command {
  return script(SNAPSHOT_VERIFY, dir, file);
}

/** $1 dir, $2 file: the snapshot's bytes on stdout, for a copy off the host */
export const SNAPSHOT_READ = `cd -- "$1" && exec cat -- "$2"`;

export function snapshotReadCmd(dir: string, file: string): Command {
  return script(SNAPSHOT_READ, dir, file);
}

/** $1 dir, $2 partial name; stdin: a snapshot coming back from off the host (published only once verified) */
export const SNAPSHOT_RECEIVE = `
umask 077
mkdir -p -- "$1" && cd -- "$1" || exit 20
cat > "$2"
`;

export function snapshotReceiveCmd(dir: string, part: string): Command {
  return script(SNAPSHOT_RECEIVE, dir, part);
}

// --- restore ----------------------------------------------------------------------------------------------------

/*
 * psql script on the maintenance database (postgres). Variables come in with -v and are interpolated by psql
 * itself (:'x' literal, :"x" identifier), so no name is ever spliced into SQL text here.
 */
export const CREATE_SCRATCH_SQL = `\\set ON_ERROR_STOP 1
SELECT pg_encoding_to_char(encoding) AS enc, datcollate AS coll, datctype AS ctype FROM pg_database WHERE datname = :'target' \\gset
DROP DATABASE IF EXISTS :"scratch";
CREATE DATABASE :"scratch" TEMPLATE template0 ENCODING :'enc' LC_COLLATE :'coll' LC_CTYPE :'ctype';
`;

// the swap: nobody may connect to the old database any more, everyone still connected is cut, then two renames
export const SWAP_SQL =
  `\\set ON_ERROR_STOP 1
ALTER DATABASE :"target" WITH ALLOW_CONNECTIONS false;
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname IN (:'target', :'scratch') AND pid <> pg_backend_pid();
SELECT set_config('togather.target', :'target', false), set_config('togather.scratch', :'scratch', false);
DO $$ BEGIN
  FOR i IN 1..100 LOOP
    EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_stat_activity ` +
  `WHERE datname IN (current_setting('togather.target'), current_setting('togather.scratch')) AND pid <> pg_backend_pid());
    PERFORM pg_sleep(0.1);
  END LOOP;
END $$;
ALTER DATABASE :"target" RENAME TO :"old";
ALTER DATABASE :"scratch" RENAME TO :"target";
DROP DATABASE :"old";
`;

export const REENABLE_SQL = `ALTER DATABASE :"target" WITH ALLOW_CONNECTIONS true;
DROP DATABASE IF EXISTS :"scratch";
`;

/** after a failed load: the scratch database goes */
export const DROP_SCRATCH_SQL = 'DROP DATABASE IF EXISTS :"scratch";\n';

/** psql loading a dump from stdin into `url` in one transaction, stopping at the first error */
export function psqlLoadArgs(url: string): string[] {
  return ['psql', '-X', '-q', '-w', '-v', 'ON_ERROR_STOP=1', '--single-transaction', '-d', url];
}

/* $1 snapshot path; the rest is the psql command reading the dump on stdin. */
export const SNAPSHOT_LOAD = `
f=$1; shift
st=$( { { gzip -dc < "$f"; echo "gunzip=$?" >&3; } | "$@" > /dev/null; echo "psql=$?" >&3; } 3>&1 )
echo "$st"
case "$st" in *gunzip=0*) ;; *) exit 21 ;; esac
case "$st" in *psql=0*) ;; *) exit 22 ;; esac
`;

export function snapshotLoadCmd(path: string, load: Command): Command {
  return script(SNAPSHOT_LOAD, path, ...load.argv);
}
