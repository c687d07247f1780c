#!/usr/bin/env bash
# What the test suite (tests/run.sh, which calls this first) needs and a
# fresh Debian machine lacks: installs only what is missing, so that a second
# run costs nothing. Debian packages need root: without it, says what to
# install and stops.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v turnserver >/dev/null 2>&1 || missing+=(coturn)
# nginx lives in /usr/sbin, which a non-root PATH may lack.
{ command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; } || missing+=(nginx)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# The container tests (tests/clients/container): rootful podman on Debian's
# runc, debootstrap for the local base images, podman-compose for deploy/compose.yaml.
command -v podman >/dev/null 2>&1 || missing+=(podman)
[ -x /usr/sbin/runc ] || missing+=(runc)
{ command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ]; } || missing+=(debootstrap)
command -v podman-compose >/dev/null 2>&1 || missing+=(podman-compose)
# tests/npm_start.sh asks the server with curl.
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$EUID" -ne 0 ]; then
    echo "tests/setup.sh: the tests need Debian packages that are missing: ${missing[*]}" >&2
    echo "install them as root (or run this as root):" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

command -v cargo >/dev/null 2>&1 || { echo "tests/setup.sh: cargo is required (https://rustup.rs)" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "tests/setup.sh: npm is required (Node.js 20 or newer)" >&2; exit 1; }
if ! { cargo fmt --version && cargo clippy --version; } >/dev/null 2>&1; then
  command -v rustup >/dev/null 2>&1 || { echo "tests/setup.sh: cargo fmt and cargo clippy are required" >&2; exit 1; }
  rustup component add rustfmt clippy
fi

# `npm ci` where node_modules is not what the lockfile says: npm records what
# it installed in node_modules/.package-lock.json (the lockfile's packages
# less the root entry).
for dir in tests/clients tests/browser; do
  if node -e '
    const fs = require("fs");
    const read = (f) => JSON.parse(fs.readFileSync(f, "utf8")).packages || {};
    const lock = read(process.argv[1] + "/package-lock.json");
    const installed = read(process.argv[1] + "/node_modules/.package-lock.json");
    const entry = (p) => p && JSON.stringify([p.version, p.integrity, p.link, p.resolved]);
    const want = Object.keys(lock).filter((k) => k !== "");
    const same = want.length === Object.keys(installed).length && want.every((k) => entry(lock[k]) === entry(installed[k]));
    process.exit(same ? 0 : 1);
  ' "$dir" 2>/dev/null; then
    echo "$dir: node_modules matches package-lock.json"
  else
    (cd "$dir" && npm ci --no-audit --no-fund)
  fi
done
