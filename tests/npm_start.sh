#!/usr/bin/env bash
# The original's two commands from a checkout: `npm install` (builds the
# binary) and `npm start` (runs it with the .env/config.js.toml of the
# package directory), then GET / must answer. Every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
npm install --no-audit --no-fund
log=$(mktemp)
PORT=0 npm start > "$log" 2>&1 &
npm_pid=$!
addr=""
for _ in $(seq 300); do
  addr=$(grep -o 'listening on http://[0-9.]*:[0-9]*' "$log" | sed 's#listening on http://##' || true)
  [ -n "$addr" ] && break
  kill -0 "$npm_pid" 2>/dev/null || { cat "$log"; echo "npm start exited early" >&2; exit 1; }
  sleep 0.1
done
[ -n "$addr" ] || { cat "$log"; echo "npm start did not come up within 30 s" >&2; kill "$npm_pid"; exit 1; }
port=${addr##*:}
body=$(curl -fsS --max-time 5 "http://127.0.0.1:$port/")
kill -TERM "$npm_pid"
status=0
wait "$npm_pid" || status=$?
rm -f "$log"
echo "$body" | grep -q "up and running" || { echo "GET / did not answer the page" >&2; exit 1; }
[ "$status" = 0 ] || { echo "npm start exited with $status after SIGTERM" >&2; exit 1; }
echo "npm install && npm start: GET / answered on port $port, clean exit"
