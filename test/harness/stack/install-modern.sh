#!/bin/sh
# Installs the modern target-host stack (Docker Engine 26, containerd, the compose v2 and buildx plugins) from
# Debian 13's packages into a private prefix, for the harness's default lane. The packages are downloaded with
# apt from the Debian archive this machine already uses (a second sources list with its own state and cache
# directories: the system's package lists are never touched) and extracted with dpkg-deb: they are never
# installed into the system, whose libc they would upgrade. Debian 12's runc and tini (installed by
# .ci/install.sh) complete them: trixie's runc needs a newer glibc.
#
# Versions and sha256 sums come from modern.lock. When Debian no longer serves a pinned version (a point
# release replaced it), the version the archive serves now is taken, its checksum verified by apt against the
# signed index, and a warning names both so the lock can be updated.
#
# usage: install-modern.sh [PREFIX]   (default $TOGATHER_MODERN_PREFIX or /opt/togather-harness/modern)
# Idempotent: a prefix installed from the same lock is kept as it is.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
lock="$here/modern.lock"
prefix=${1:-${TOGATHER_MODERN_PREFIX:-/opt/togather-harness/modern}}
stamp=$(grep -v '^#' "$lock" | sha256sum | cut -c1-16)

if [ -f "$prefix/.lock-stamp" ] && [ "$(cat "$prefix/.lock-stamp")" = "$stamp" ] && [ -x "$prefix/bin/dockerd" ]; then
  echo "install-modern: present in $prefix"
  exit 0
fi

for tool in apt-get dpkg-deb sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || { echo "install-modern: $tool is missing (a Debian machine is needed)" >&2; exit 1; }
done
for f in /usr/sbin/runc /usr/bin/tini-static; do
  [ -x "$f" ] || { echo "install-modern: $f is missing: run .ci/install.sh first (packages runc, tini)" >&2; exit 1; }
done

# the Debian archive this machine's own sources name (deb822 or one-line format)
mirror=${TOGATHER_DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
  mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '
    /^URIs:/ { uri = $2 } /^Suites:/ { suites = $0 }
    /^$/ { if (uri ~ /debian\/?$/ && suites ~ /bookworm( |$)/ && !found) { print uri; found = 1 } uri = ""; suites = "" }
    END { if (uri ~ /debian\/?$/ && suites ~ /bookworm( |$)/ && !found) print uri }')
fi
if [ -z "$mirror" ]; then
  mirror=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
fi
[ -n "$mirror" ] || { echo "install-modern: no Debian archive found in /etc/apt sources; set TOGATHER_DEBIAN_MIRROR" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs" "$work/root"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
echo "deb [signed-by=$keyring] $mirror trixie main" > "$work/sources.list"
apt_opts="-q -o Dir::Etc::sourcelist=$work/sources.list -o Dir::Etc::sourceparts=/nonexistent
  -o Dir::State::Lists=$work/lists -o Dir::Cache=$work/cache -o Debug::NoLocking=1 -o APT::Sandbox::User=root"
# shellcheck disable=SC2086 # apt_opts is a list of options
apt-get $apt_opts update >"$work/update.log" 2>&1 || { cat "$work/update.log" >&2; exit 1; }

manifest=""
grep -v '^#' "$lock" | while read -r pkg version sum; do
  [ -n "$pkg" ] || continue
  cd "$work/debs"
  # shellcheck disable=SC2086
  if apt-get $apt_opts download "$pkg=$version" >"$work/dl.log" 2>&1; then
    deb=$(ls -1 "${pkg}_"*.deb)
    got=$(sha256sum "$deb" | cut -d' ' -f1)
    if [ "$got" != "$sum" ]; then
      echo "install-modern: $deb has sha256 $got, the lock says $sum: refusing it" >&2
      exit 1
    fi
    echo "$pkg $version sha256-pinned" >> "$work/manifest"
  else
    # shellcheck disable=SC2086
    apt-get $apt_opts download "$pkg" >"$work/dl.log" 2>&1 || { cat "$work/dl.log" >&2; exit 1; }
    deb=$(ls -1 "${pkg}_"*.deb)
    served=$(dpkg-deb -f "$deb" Version)
    echo "install-modern: WARNING: Debian no longer serves $pkg $version; using $served (checksum verified by apt)." >&2
    echo "install-modern:          update test/harness/stack/modern.lock: $pkg $served $(sha256sum "$deb" | cut -d' ' -f1)" >&2
    echo "$pkg $served apt-verified" >> "$work/manifest"
  fi
  dpkg-deb -x "$deb" "$work/root"
  mv "$deb" "$work/${pkg}.done"
done
[ "$(wc -l < "$work/manifest")" -eq "$(grep -vc '^#' "$lock")" ] || { echo "install-modern: not every package was fetched" >&2; exit 1; }

# the prefix: bin/ for PATH (dockerd finds containerd, the shim and runc there), cli-plugins/ for DOCKER_CONFIG
new="$prefix.new.$$"
rm -rf "$new"
mkdir -p "$new/bin" "$new/cli-plugins"
r="$work/root"
for f in usr/sbin/dockerd usr/sbin/docker-proxy usr/bin/docker usr/bin/containerd usr/bin/containerd-shim-runc-v2 usr/bin/ctr; do
  cp -p "$r/$f" "$new/bin/"
done
cp -p "$r/usr/libexec/docker/cli-plugins/docker-compose" "$r/usr/libexec/docker/cli-plugins/docker-buildx" "$new/cli-plugins/"
ln -s ../cli-plugins/docker-compose "$new/bin/docker-compose"
ln -s /usr/bin/tini-static "$new/bin/docker-init"
ln -s /usr/sbin/runc "$new/bin/runc"

# every binary must run on this machine's libc (trixie's runc would not: that is why Debian 12's is used)
for b in dockerd docker containerd containerd-shim-runc-v2 docker-init runc; do
  "$new/bin/$b" --version >/dev/null 2>&1 || "$new/bin/$b" -v >/dev/null 2>&1 || {
    echo "install-modern: $new/bin/$b does not run here:" >&2
    "$new/bin/$b" --version >&2 || true
    exit 1
  }
done
"$new/cli-plugins/docker-compose" version >/dev/null
"$new/cli-plugins/docker-buildx" version >/dev/null

mv "$work/manifest" "$new/MANIFEST"
echo "$stamp" > "$new/.lock-stamp"
rm -rf "$prefix"
mkdir -p "$(dirname "$prefix")"
mv "$new" "$prefix"
echo "install-modern: installed in $prefix: $("$prefix/bin/dockerd" --version), compose $("$prefix/cli-plugins/docker-compose" version --short), $("$prefix/cli-plugins/docker-buildx" version | cut -d' ' -f1-2)"
