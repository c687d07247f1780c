#!/usr/bin/env bash
# The whole test suite: Rust unit/integration tests, then the real
# socket.io-client suites and the browser smoke test against the release
# binary. First installs what is missing (tests/setup.sh: Debian packages,
# rustfmt and clippy, `npm ci` in tests/clients and tests/browser).
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/setup.sh

cargo fmt --all -- --check
cargo clippy --release --all-targets --quiet -- -D warnings
cargo test --release
cargo build --release --bins
export WRW_BIN="$PWD/target/release/webrtc-workspaces-server"
bash tests/npm_start.sh
(cd tests/clients && npm test)
# Suites where elapsed time is part of what is tested run one file at a time.
# run-tests.js is `node --test` with explicit files (Node 21+ reads a folder
# argument as a file name) and a list of the skipped tests with their reasons.
(cd tests/clients && node run-tests.js --concurrency=1 --timeout=300000 deploy/*.test.js ops/*.test.js hostile/*.test.js api/*.test.js webhooks/*.test.js cluster/*.test.js)
# The container tests: up to 60 min a file (a cold image build compiles every crate).
(cd tests/clients && node run-tests.js --concurrency=1 --timeout=3600000 container/*.test.js)
(cd tests/browser && npm test)
echo "all tests passed"
