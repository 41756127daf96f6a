#!/bin/sh
# TEST FIXTURE — the entrypoint of togather-test/migrate-fixture, a stand-in for golang-migrate's CLI, which
# cannot be installed on the machines the end-to-end tests run on. It is NOT golang-migrate and is never
# deployed: production uses the migrate/migrate image. It keeps the parts of golang-migrate's contract the
# deployer relies on, with psql underneath:
#   migrate [-path DIR | -source file://DIR] -database URL [-lock-timeout SECONDS] [-verbose] COMMAND
#   COMMAND: up [N] | down N | down -all | force V | version
#   - files NNN_name.up.sql / NNN_name.down.sql in DIR; the version is the leading number
#   - table schema_migrations(version bigint not null primary key, dirty boolean not null), at most one row
#   - each file is sent as ONE simple-protocol query, as golang-migrate's postgres driver does: its
#     statements form one implicit transaction, unless the file itself divides them with BEGIN/COMMIT
#   - a file's version is recorded dirty before it runs and clean after it succeeded; a failing file leaves
#     the version dirty, and `up` then refuses to run ("Dirty database version N. Fix and force version.")
#   - a session advisory lock serialises concurrent runs on one database (waits -lock-timeout, default 15 s)
#   - messages go to stderr; exit 0 on success (also "no change"), 1 on any error, 2 on a usage error
#   - with no password in the URL, the password comes from PGPASSWORD (as with libpq and lib/pq)
# Limits: one file must fit in one argument (128 KiB); only postgres:// and postgresql:// databases.
set -u

usage() {
  cat >&2 <<'EOF'
Usage: migrate OPTIONS COMMAND [arg...]   (togather test fixture, not golang-migrate)
Options:
  -source file://DIR   Location of the migrations
  -path DIR            Shorthand for -source=file://DIR
  -database URL        Run migrations against this database (postgres:// or postgresql://)
  -lock-timeout N      Seconds to wait for the database lock (default 15)
  -verbose             Print more
Commands:
  up [N]       Apply all or N up migrations
  down N       Apply N down migrations (down -all: all of them)
  force V      Set version V without running a migration (V = -1: no version)
  version      Print the current migration version
EOF
}

err() {
  echo "error: $*" >&2
  exit 1
}

path='' database='' lock_timeout=15 verbose=0
value() { # flag name, remaining argument count, next argument
  [ "$2" -ge 2 ] || { echo "flag needs an argument: $1" >&2; usage; exit 2; }
}
while [ $# -gt 0 ]; do
  case "$1" in
    -path | --path) value "$1" $# ; path=$2; shift 2 ;;
    -path=* | --path=*) path=${1#*=}; shift ;;
    -source | --source | -source=* | --source=*)
      case "$1" in *=*) src=${1#*=}; shift ;; *) value "$1" $#; src=$2; shift 2 ;; esac
      case "$src" in file://*) path=${src#file://} ;; *) err "unsupported source $src (this fixture reads only file://)" ;; esac ;;
    -database | --database) value "$1" $#; database=$2; shift 2 ;;
    -database=* | --database=*) database=${1#*=}; shift ;;
    -lock-timeout | --lock-timeout) value "$1" $#; lock_timeout=$2; shift 2 ;;
    -lock-timeout=* | --lock-timeout=*) lock_timeout=${1#*=}; shift ;;
    -prefetch | --prefetch) value "$1" $#; shift 2 ;;
    -prefetch=* | --prefetch=*) shift ;;
    -verbose | --verbose) verbose=1; shift ;;
    -version | --version) echo "togather-test migrate fixture" >&2; exit 0 ;;
    -help | --help | -h) usage; exit 0 ;;
    -*) echo "flag provided but not defined: $1" >&2; usage; exit 2 ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || { usage; exit 2; }
command=$1; shift
case "$lock_timeout" in '' | *[!0-9]*) echo "invalid value for -lock-timeout: $lock_timeout" >&2; exit 2 ;; esac

case "$database" in
  postgres://* | postgresql://*) ;;
  '') err "no database given (-database)" ;;
  *) err "unsupported database ${database%%://*} (this fixture speaks only postgres)" ;;
esac
# golang-migrate's own x-… parameters mean nothing to libpq
url=$(printf '%s' "$database" | sed -e 's/[?&]x-[^&]*//g' -e 's/^\([^?]*\)&/\1?/')
[ -n "$path" ] || [ "$command" = version ] || [ "$command" = force ] || err "no source given (-path or -source)"

log() { [ "$verbose" = 1 ] && echo "$*" >&2; return 0; }
now_ms() { read -r up _ < /proc/uptime; s=${up%.*}; c=${up#*.}; echo $(( s * 1000 + ${c#0} * 10 )); }
q() { psql -X -q -A -t -w -v ON_ERROR_STOP=1 -d "$url" -c "$1"; }

# --- the lock: one psql session holds a session advisory lock for as long as this script runs --------------
lockpid='' lockdir=''
unlock() {
  if [ -n "$lockpid" ]; then exec 7>&-; wait "$lockpid" 2>/dev/null; lockpid=''; fi
  [ -z "$lockdir" ] || rm -rf "$lockdir"
}
trap unlock EXIT
trap 'exit 1' INT TERM
lock() {
  lockdir=$(mktemp -d) || err "mktemp failed"
  mkfifo "$lockdir/in" || err "mkfifo failed"
  psql -X -q -A -t -w -v ON_ERROR_STOP=1 -d "$url" < "$lockdir/in" > "$lockdir/out" 2>&1 &
  lockpid=$!
  exec 7> "$lockdir/in"
  printf '%s\n' "SELECT pg_advisory_lock(hashtext(current_database() || '.schema_migrations'));" '\echo locked' >&7
  i=0
  while ! grep -qx locked "$lockdir/out" 2>/dev/null; do
    kill -0 "$lockpid" 2>/dev/null || err "can't acquire lock: $(tr '\n' ' ' < "$lockdir/out")"
    i=$((i + 1))
    [ "$i" -le $((lock_timeout * 10)) ] || err "timeout: can't acquire database lock"
    sleep 0.1
  done
  log "acquired the migration lock"
}

# --- the version table -------------------------------------------------------------------------------------
ensure_table() {
  missing=$(q "SELECT to_regclass('schema_migrations') IS NULL") || err "can't read schema_migrations"
  [ "$missing" = t ] || return 0
  q 'CREATE TABLE IF NOT EXISTS schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)' > /dev/null ||
    err "can't create schema_migrations"
}
cur_version='' cur_dirty=''
read_version() {
  row=$(q 'SELECT version, dirty FROM schema_migrations LIMIT 1') || err "can't read schema_migrations"
  cur_version=${row%%|*}
  cur_dirty=${row#*|}
  [ -n "$row" ] || cur_dirty=''
}
set_version() { # version (-1: none), dirty (true|false)
  if [ "$1" = -1 ] && [ "$2" = false ]; then
    q 'TRUNCATE schema_migrations' > /dev/null || err "can't set version"
  else
    q "BEGIN; TRUNCATE schema_migrations; INSERT INTO schema_migrations (version, dirty) VALUES ($1, $2); COMMIT;" > /dev/null ||
      err "can't set version $1"
  fi
}

# --- the files ---------------------------------------------------------------------------------------------
number() { sed 's/^0*\([0-9]\)/\1/'; }
versions() { # sorted versions of the files of one direction
  ls -1 "$path" 2> /dev/null | sed -n "s/^\([0-9][0-9]*\)_.*\.$1\.sql\$/\1/p" | number | sort -n
}
file_for() { # version, direction
  for f in $(ls -1 "$path" 2> /dev/null); do
    case "$f" in
      [0-9]*_*."$2".sql) [ "$(printf '%s' "${f%%_*}" | number)" = "$1" ] && { echo "$f"; return 0; } ;;
    esac
  done
  return 1
}
check_files() {
  [ -d "$path" ] || err "open $path: no such file or directory"
  for d in up down; do
    dup=$(versions "$d" | uniq -d | head -n 1)
    [ -z "$dup" ] || err "duplicate migration file: version $dup ($d)"
  done
}
known() { versions up | grep -qx "$1" || versions down | grep -qx "$1"; }

run_file() { # version to record, file, label
  set_version "$1" true
  t0=$(now_ms)
  body=$(cat "$path/$2") || err "can't read $2"
  if [ -n "$(printf '%s' "$body" | tr -d '[:space:]')" ]; then
    out=$(psql -X -q -A -t -w -d "$url" -c "$body" 2>&1 > /dev/null) ||
      err "migration failed in $2: $(printf '%s' "$out" | tr '\n' ' ')"
  fi
  set_version "$1" false
  echo "$3 ($(( $(now_ms) - t0 ))ms)" >&2
}

# --- commands ----------------------------------------------------------------------------------------------
case "$command" in
  up)
    limit=${1:-}
    case "$limit" in '' | -all) limit='' ;; *[!0-9]*) err "can't read limit argument N" ;; esac
    check_files
    lock
    ensure_table
    read_version
    [ "$cur_dirty" != t ] || err "Dirty database version $cur_version. Fix and force version."
    if [ -n "$cur_version" ] && ! known "$cur_version"; then
      err "no migration found for version $cur_version: read down for version $cur_version $path: file does not exist"
    fi
    n=0
    for v in $(versions up); do
      [ -z "$cur_version" ] || [ "$v" -gt "$cur_version" ] || continue
      [ -z "$limit" ] || [ "$n" -lt "$limit" ] || break
      f=$(file_for "$v" up)
      name=${f#*_}
      run_file "$v" "$f" "$v/u ${name%.up.sql}"
      n=$((n + 1))
    done
    [ "$n" -gt 0 ] || echo "no change" >&2
    ;;
  down)
    limit=${1:-}
    case "$limit" in
      -all) limit='' ;;
      '') err "down needs N or -all (this fixture never asks for confirmation)" ;;
      *[!0-9]*) err "can't read limit argument N" ;;
    esac
    check_files
    lock
    ensure_table
    read_version
    [ "$cur_dirty" != t ] || err "Dirty database version $cur_version. Fix and force version."
    [ -n "$cur_version" ] || { echo "no change" >&2; exit 0; }
    known "$cur_version" || err "no migration found for version $cur_version"
    all=$(versions up; versions down)
    n=0
    for v in $(printf '%s\n' $all | sort -n -u -r); do
      [ "$v" -le "$cur_version" ] || continue
      [ -z "$limit" ] || [ "$n" -lt "$limit" ] || break
      prev=$(printf '%s\n' $all | sort -n -u | awk -v v="$v" '$1 < v { p = $1 } END { print (p == "" ? -1 : p) }')
      f=$(file_for "$v" down) || err "no down migration for version $v"
      name=${f#*_}
      run_file "$prev" "$f" "$v/d ${name%.down.sql}"
      n=$((n + 1))
    done
    [ "$n" -gt 0 ] || echo "no change" >&2
    ;;
  force)
    v=${1:-}
    case "$v" in -1) ;; '' | *[!0-9]*) err "can't read version argument V" ;; esac
    lock
    ensure_table
    set_version "$v" false
    ;;
  version)
    ensure_table
    read_version
    [ -n "$cur_version" ] || err "no migration"
    if [ "$cur_dirty" = t ]; then echo "$cur_version (dirty)" >&2; else echo "$cur_version" >&2; fi
    ;;
  *)
    usage
    exit 2
    ;;
esac
exit 0
