#!/usr/bin/env bash
# Assembles, without Docker Hub, a local base image that stands in for the
# Dockerfile's default BASE_IMAGE (denoland/deno:debian-<version>), and
# stores it in buildah's local storage. Prints the image's name on stdout:
#
#   sudo scripts/container/build_base.sh
#   localhost/deno-base:debian-2.9.6
#
#   buildah bud --isolation chroot --format docker --pull=never \
#     --build-arg BASE_IMAGE=localhost/deno-base:debian-2.9.6 -t mcp-privileged:0.1.0 .
#
# The image is what the Deno project's debian image holds: a minimal Debian
# root filesystem (mmdebstrap's minbase variant, the one Debian's own slim
# container images use, without documentation or man pages), the deno
# binary at /usr/bin/deno (a real file, taken from the npm package
# @deno/linux-<arch>-glibc, whose tarball npm checks against the registry's
# integrity hash), tini at /tini, the `deno` user (uid 1993) owning
# /deno-dir, DENO_DIR=/deno-dir/, DENO_INSTALL_ROOT=/usr/local, DENO_VERSION,
# and the entry point `/tini -- docker-entrypoint.sh`, which runs deno for a
# deno subcommand and any other command as given. Like the official image, it
# has no ca-certificates package: Deno trusts its own bundled roots.
#
# Built once per machine: the root filesystem is kept as a tarball in
# BASE_CACHE_DIR, named by a hash of every input (this script, the Debian
# suite, the mirrors, the Deno version, the architecture), and the image
# carries the same hash as a label. A run whose image is already in buildah's
# storage does nothing; one that finds only the tarball imports it again.
# Delete BASE_CACHE_DIR to pick up new Debian security updates.
#
# Needs root, mmdebstrap, buildah and npm (Debian: apt-get install mmdebstrap
# buildah npm). Settings, from the environment:
#   DENO_VERSION     default: the version in the Dockerfile's BASE_IMAGE tag
#   DEBIAN_SUITE     default: bookworm
#   DEBIAN_MIRROR    default: http://deb.debian.org/debian
#   DEBIAN_SECURITY  default: http://deb.debian.org/debian-security
#   BASE_CACHE_DIR   default: /var/cache/mcp-privileged-base
#   BASE_IMAGE_NAME  default: localhost/deno-base:debian-$DENO_VERSION
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
script="$here/$(basename "$0")"
log() { printf '[build_base] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "Cannot build the base image: mmdebstrap and buildah need root; run it with sudo"
for tool in mmdebstrap buildah npm sha256sum flock; do
  command -v "$tool" >/dev/null 2>&1 ||
    die "Cannot build the base image: $tool is missing; install it (apt-get install -y mmdebstrap buildah npm)"
done

if [ -z "${DENO_VERSION:-}" ]; then
  DENO_VERSION="$(sed -nE 's|^ARG BASE_IMAGE=denoland/deno:debian-([0-9][0-9.]*)@.*|\1|p' "$root/Dockerfile")"
  [ -n "$DENO_VERSION" ] ||
    die "Cannot read the Deno version from the Dockerfile's ARG BASE_IMAGE line; set DENO_VERSION"
fi
suite="${DEBIAN_SUITE:-bookworm}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
security="${DEBIAN_SECURITY:-http://deb.debian.org/debian-security}"
cache="${BASE_CACHE_DIR:-/var/cache/mcp-privileged-base}"
name="${BASE_IMAGE_NAME:-localhost/deno-base:debian-$DENO_VERSION}"
arch="$(dpkg --print-architecture)"
case "$arch" in
  amd64) deno_package="@deno/linux-x64-glibc" ;;
  arm64) deno_package="@deno/linux-arm64-glibc" ;;
  *) die "Cannot build the base image on $arch: Deno ships Linux binaries for amd64 and arm64 only" ;;
esac

sources=(
  "deb $mirror $suite main"
  "deb $mirror $suite-updates main"
  "deb $security $suite-security main"
)
key="$(
  {
    cat "$script"
    printf '%s\n' "$DENO_VERSION" "$suite" "$arch" "$deno_package" "${sources[@]}"
  } | sha256sum | cut -c1-32
)"
label="org.mcp-privileged.base-key"

mkdir -p "$cache"
exec 9>"$cache/lock"
flock 9

if [ "$(buildah inspect --type image --format "{{index .OCIv1.Config.Labels \"$label\"}}" "$name" 2>/dev/null || true)" = "$key" ]; then
  log "$name is up to date (key $key)"
  printf '%s\n' "$name"
  exit 0
fi

rootfs="$cache/rootfs-$key.tar"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if [ ! -s "$rootfs" ]; then
  log "fetching deno $DENO_VERSION from npm ($deno_package)"
  (cd "$work" && npm pack --silent "$deno_package@$DENO_VERSION" >/dev/null) ||
    die "Cannot fetch $deno_package@$DENO_VERSION from npm; check the registry and DENO_VERSION"
  mkdir "$work/npm"
  tar -xzf "$work"/*.tgz -C "$work/npm"
  mkdir "$work/bin"
  install -m 0755 "$work/npm/package/deno" "$work/bin/deno"

  cat >"$work/bin/docker-entrypoint.sh" <<'ENTRY'
#!/bin/sh
# The base image's entry point: a deno subcommand runs deno, anything else
# runs as given (`deno run ...`, `sh`).
set -e
case "$1" in
  bench | bundle | cache | check | compile | completions | coverage | doc | eval | fmt | help | info | init | install | jupyter | lint | lsp | publish | repl | run | serve | task | test | types | uninstall | upgrade)
    exec deno "$@" ;;
esac
exec "$@"
ENTRY
  chmod 0755 "$work/bin/docker-entrypoint.sh"

  log "assembling a $suite root filesystem with mmdebstrap (variant minbase, plus tini)"
  mmdebstrap --quiet --variant=minbase --include=tini \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --customize-hook="copy-in $work/bin/deno /usr/bin" \
    --customize-hook="copy-in $work/bin/docker-entrypoint.sh /usr/local/bin" \
    --customize-hook='cp -p "$1/usr/bin/tini" "$1/tini"' \
    --customize-hook='chroot "$1" useradd --uid 1993 --user-group deno' \
    --customize-hook='mkdir "$1/deno-dir" && chroot "$1" chown deno:deno /deno-dir' \
    --customize-hook="chroot \"\$1\" env DENO_DIR=/tmp /usr/bin/deno --version | head -n 1 | grep -q '^deno $DENO_VERSION '" \
    "$suite" "$work/rootfs.tar" "${sources[@]}" ||
    die "Cannot assemble the root filesystem with mmdebstrap; check that $mirror is reachable"
  rm -f "$cache"/rootfs-*.tar
  mv "$work/rootfs.tar" "$rootfs"
else
  log "importing the cached root filesystem $rootfs"
fi

previous="$(buildah inspect --type image --format '{{.FromImageID}}' "$name" 2>/dev/null || true)"
container="$(buildah from scratch)"
trap 'buildah rm "$container" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
buildah add --quiet "$container" "$rootfs" / >/dev/null
buildah config \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env DENO_DIR=/deno-dir/ \
  --env DENO_INSTALL_ROOT=/usr/local \
  --env "DENO_VERSION=$DENO_VERSION" \
  --entrypoint '["/tini", "--", "docker-entrypoint.sh"]' \
  --cmd '["eval", "console.log('"'"'Welcome to Deno!'"'"')"]' \
  --label "$label=$key" \
  "$container"
buildah commit --quiet --rm "$container" "$name" >/dev/null
trap 'rm -rf "$work"' EXIT
# The image this one replaces under the same name, unless something uses it.
if [ -n "$previous" ]; then buildah rmi "$previous" >/dev/null 2>&1 || true; fi
log "built $name (key $key)"
printf '%s\n' "$name"
