#!/bin/sh
# Installs what the test harness, the end-to-end tests, the demo and the benchmark need on a Debian machine
# (run as root). Idempotent and quick when everything is present: dpkg is asked first, apt only for what is
# missing. Services the packages would start (dockerd, sshd, postgres) are kept from starting — the harness
# runs its own private ones. Debian 12's docker.io and docker-compose (v1) are the harness's legacy lane; the
# default, modern lane (Docker 26, compose v2, buildx from Debian 13) is extracted into a private prefix by
# test/harness/stack/install-modern.sh, run at the end.
set -eu

# the unit test of the engine's scripts (test/unit/engine/commands.test.ts) runs shellcheck when it is installed
PACKAGES="
  docker.io
  docker-compose
  containerd
  runc
  tini
  iptables
  openssh-server
  openssh-client
  caddy
  busybox-static
  postgresql-15
  postgresql-client-15
  wrk
  zstd
  git
  iproute2
  ca-certificates
  util-linux
  debootstrap
  debian-archive-keyring
  tar
  gzip
  prometheus
  prometheus-alertmanager
  prometheus-node-exporter
  prometheus-postgres-exporter
  shellcheck
  pebble
  age
  rclone
"

# one dpkg-query for all (unknown names only go to stderr); whatever is not "install ok installed" is missing
# shellcheck disable=SC2086 # a list of package names
installed="$(dpkg-query -W -f '${Package} ${Status}\n' $PACKAGES 2>/dev/null | awk '$4 == "installed" { print $1 }')" || true
missing=""
for p in $PACKAGES; do
  case " $(echo $installed) " in
    *" $p "*) ;;
    *) missing="$missing $p" ;;
  esac
done

here=$(cd "$(dirname "$0")" && pwd)
modern() { sh "$here/../test/harness/stack/install-modern.sh"; }

if [ -z "$missing" ]; then
  echo "install.sh: all packages present"
  modern
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  echo "install.sh: missing:$missing — run this script as root" >&2
  exit 1
fi

echo "install.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive

# keep package scripts from starting services (no systemd here; a started sshd would take port 22, a started
# postgres would hold 5432); removed again on exit unless it was there before
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi
# postgresql-common would create and start a "main" cluster that nothing uses
mkdir -p /etc/postgresql-common
if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
  echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf
fi

install() {
  # shellcheck disable=SC2086 # a list of package names
  apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confold $missing
}

# a fresh machine has no package lists; an old list can name versions the mirror no longer has
if ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1; then
  apt-get update -q
  install
elif ! install; then
  apt-get update -q
  install
fi

modern
echo "install.sh: done"
