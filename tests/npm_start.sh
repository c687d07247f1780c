#!/usr/bin/env bash
# The original's two commands from a checkout: `npm install` (builds the
# binary) and `npm start` (runs it with the .env/config.js.toml of the
# package directory), then GET / must answer. Every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
npm install --no-audit --no-fund
log=$(mktemp)
# PORT alone is a configured start, which refuses to run without secrets:
# this is a try-out from a checkout, so it says so (DEVELOPMENT=true).
PORT=0 DEVELOPMENT=true npm start > "$log" 2>&1 &
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
# As systemd or `docker stop` would: SIGTERM to npm, which passes it on. npm
# itself reports the signal (143); what matters is that the server drained
# and stopped cleanly, and the port is closed.
kill -TERM "$npm_pid"
status=0
wait "$npm_pid" || status=$?
echo "$body" | grep -q "up and running" || { echo "GET / did not answer the page" >&2; exit 1; }
case "$status" in 0|143) ;; *) cat "$log"; echo "npm start exited with $status after SIGTERM" >&2; exit 1 ;; esac
for _ in $(seq 100); do grep -q "stopped" "$log" && break; sleep 0.1; done
grep -q "stopped" "$log" || { cat "$log"; echo "the server did not log a clean stop" >&2; exit 1; }
if curl -fsS --max-time 2 "http://127.0.0.1:$port/" > /dev/null 2>&1; then
  echo "the server still answers after SIGTERM" >&2; exit 1
fi
rm -f "$log"
echo "npm install && npm start: GET / answered on port $port; SIGTERM stopped the server cleanly"
