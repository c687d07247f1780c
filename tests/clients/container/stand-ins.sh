#!/usr/bin/env bash
# Local stand-ins for the images the project's Dockerfile and deploy/compose.yaml
# name (no container registry is reachable from the test machines), built from
# Debian's packages and this machine's Rust toolchain, each under the exact
# name the FROM / image: lines use, and only when podman does not have it yet:
# built once per machine, then reused.
#   docker.io/library/debian:bookworm-slim   debootstrap --variant=minbase bookworm
#   docker.io/library/rust:1-slim-bookworm   that + gcc, libc6-dev, the toolchain of
#                                            `rustc --print sysroot`, the CA bundle
#   wrw-stand-in/redis:7 / wrw-stand-in/nginx:1  that + Debian's redis-server / nginx
# Usage: stand-ins.sh [debian|rust|redis|nginx]...  (default: all). Expects
# CONTAINERS_CONF (lib.js sets it to containers.conf beside this script).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# Where apt inside the images (and debootstrap) fetch from: the mirror this machine uses.
MIRROR="${WRW_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DEBIAN=docker.io/library/debian:bookworm-slim
RUST=docker.io/library/rust:1-slim-bookworm

have() { podman image exists "$1"; }
log() { echo "stand-ins: $*" >&2; }

debian() {
  have "$DEBIAN" && return
  local root
  root="$(mktemp -d /tmp/wrw-debootstrap-XXXXXX)"
  log "debootstrap --variant=minbase bookworm ($MIRROR) -> $DEBIAN"
  debootstrap --variant=minbase bookworm "$root" "$MIRROR" >&2
  # What the real slim image has and a minbase tree lacks: no apt cache, no docs.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/*
  tar -C "$root" -c . | podman import --change 'CMD ["bash"]' - "$DEBIAN" >&2
  rm -rf "$root"
}

# A stand-in made by `podman build` from an inline Containerfile over $DEBIAN.
# $1: image name; $2: the Containerfile; the rest: extra `podman build` arguments.
build_over_debian() {
  local name="$1" file="$2"
  shift 2
  have "$name" && return
  debian
  local ctx
  ctx="$(mktemp -d /tmp/wrw-stand-in-XXXXXX)"
  printf '%s\n' "$file" >"$ctx/Containerfile"
  log "building $name"
  podman build --network host --format docker -t "$name" "$@" "$ctx" >&2
  rm -rf "$ctx"
}

APT='apt-get update -qq && apt-get install -y -qq --no-install-recommends'

rust() {
  local sysroot
  sysroot="$(rustc --print sysroot)"
  # The toolchain (without its docs) and the CA bundle come in through a
  # read-only bind mount; PATH/CARGO_HOME as the official image has them.
  build_over_debian "$RUST" "FROM $DEBIAN
RUN $APT gcc libc6-dev ca-certificates && rm -rf /var/lib/apt/lists/* \\
 && mkdir -p /usr/local/rust /usr/local/cargo/bin \\
 && cp -a /host-toolchain/bin /host-toolchain/lib /host-toolchain/libexec /host-toolchain/etc /usr/local/rust/ \\
 && cp /host-ca.crt /etc/ssl/certs/ca-certificates.crt
ENV CARGO_HOME=/usr/local/cargo PATH=/usr/local/cargo/bin:/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    -v "$sysroot:/host-toolchain:ro" -v /etc/ssl/certs/ca-certificates.crt:/host-ca.crt:ro
}

redis() {
  build_over_debian wrw-stand-in/redis:7 "FROM $DEBIAN
RUN $APT redis-server && rm -rf /var/lib/apt/lists/* && mkdir -p /data && chown redis:redis /data
WORKDIR /data
USER redis
CMD [\"redis-server\", \"--protected-mode\", \"no\"]"
}

nginx() {
  build_over_debian wrw-stand-in/nginx:1 "FROM $DEBIAN
RUN $APT nginx && rm -rf /var/lib/apt/lists/*
CMD [\"nginx\", \"-g\", \"daemon off;\"]"
}

[ $# -gt 0 ] || set -- debian rust redis nginx
for what in "$@"; do "$what"; done
