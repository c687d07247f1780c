#!/usr/bin/env bash
# Creates per second and create latency with the file store vs the memory
# store, at several numbers of stored workspaces (examples/loadgen.rs
# `--mode create`).
#
# For each N and each store (interleaved: memory N, file N, ...; ROUNDS
# times), a fresh server (the real binary, in a temp dir of its own) is
# filled with N workspaces (not measured), then WARMUP + DURATION seconds of
# CONNS sockets each keeping INFLIGHT `create`s outstanding are measured
# (each socket replaced by a fresh one after CREATES_PER_CONN creates: the
# server scans a socket's list of bound workspaces on every create, so one
# socket creating thousands measures that scan rather than the store). The
# measured phase adds workspaces of its own: N is the count at its start.
# The file store runs with `json_storage_file = "store.json"` and the
# default (durable) write settings. After the run: the server's RSS and the
# size of store.json and store.json.* (while running, and after SIGTERM).
#
# Writes bench/results/store-<UTC stamp>.jsonl (one line per run) and prints
# a Markdown table (bench/store_report.py).
#
# Knobs (environment): SIZES="1000 10000 100000" ROUNDS=1 WARMUP=1
# DURATION=10 CONNS=64 INFLIGHT=1 CREATES_PER_CONN=100 PREFILL_CONNS=1024
# PREFILL_TIMEOUT=120 SERVER_CPU=0 LOAD_CPU=1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
SIZES=${SIZES:-1000 10000 100000}
ROUNDS=${ROUNDS:-1}
WARMUP=${WARMUP:-1}
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
INFLIGHT=${INFLIGHT:-1}
CREATES_PER_CONN=${CREATES_PER_CONN:-100}
PREFILL_CONNS=${PREFILL_CONNS:-1024}
PREFILL_TIMEOUT=${PREFILL_TIMEOUT:-120}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
BIN=$CARGO_TARGET_DIR/release

cargo build --release --bin webrtc-workspaces-server --example loadgen
source "$ROOT/bench/lib.sh"
bench_setup store-
NPROC=$(nproc)
CPU_MODEL=$(grep -m1 '^model name' /proc/cpuinfo | sed 's/^[^:]*: *//' || echo unknown)
KERNEL=$(uname -r)
export NPROC CPU_MODEL KERNEL SERVER_CPU LOAD_CPU WARMUP DURATION CONNS INFLIGHT CREATES_PER_CONN PREFILL_CONNS \
  PREFILL_TIMEOUT
# start_server memory|file: sets PID, ADDR and DIR.
start_server() {
  local store=$1
  DIR=$(mktemp -d -p "$WORK")
  cat > "$DIR/config.js.toml" <<TOML
host = "127.0.0.1"
# One load generator creates every workspace from one address, far past a
# browser's event rate: lift the per-client limits.
events_per_second = 0
max_connections_per_ip = 1000000
max_workspaces_per_ip_per_hour = 100000000
max_live_workspaces = 100000000
TOML
  if [ "$store" = file ]; then
    echo 'json_storage_file = "store.json"' >> "$DIR/config.js.toml"
  fi
  launch "$DIR" "$BIN/webrtc-workspaces-server" warn
}

# Bytes of store.json and store.json.* in DIR (0 if none).
store_bytes() {
  local total=0 f
  for f in "$DIR"/store.json "$DIR"/store.json.*; do
    [ -e "$f" ] && total=$((total + $(stat -c %s "$f")))
  done
  echo "$total"
}

store_files() {
  (cd "$DIR" && ls -l store.json store.json.* 2>/dev/null | awk '{print $9 "=" $5}' | paste -sd, -) || true
}

# Sets STOP_S and STOP_HOW (exited N | killed).
stop_server() {
  local t0 t1 rc
  t0=$(date +%s.%N)
  kill -TERM "$PID" 2>/dev/null || true
  for _ in $(seq 300); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$PID" 2>/dev/null; then
    kill -KILL "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    STOP_HOW=killed
  else
    rc=0
    wait "$PID" 2>/dev/null || rc=$?
    STOP_HOW="exited $rc"
  fi
  t1=$(date +%s.%N)
  STOP_S=$(python3 -c "print(round($t1 - $t0, 2))")
  PID=""
}

# run_one STORE N ROUND
run_one() {
  local store=$1 n=$2 round=$3 line rss live_bytes live_files ok=1 load_before load_after
  load_before=$(cut -d' ' -f1-3 /proc/loadavg)
  start_server "$store"
  echo "== $store N=$n round $round (server pid $PID at $ADDR)" >&2
  if line=$(timeout $((PREFILL_TIMEOUT + WARMUP + DURATION + 120)) taskset -c "$LOAD_CPU" "$BIN/examples/loadgen" \
      --addr "$ADDR" --server-pid "$PID" --label "$store" --mode create --eio 4 \
      --prefill "$n" --prefill-conns "$PREFILL_CONNS" --prefill-timeout "$PREFILL_TIMEOUT" \
      --conns "$CONNS" --inflight "$INFLIGHT" --creates-per-conn "$CREATES_PER_CONN" --warmup "$WARMUP" --duration "$DURATION" \
      2> "$DIR/loadgen.err" | tee /dev/stderr | tail -n 1); then :; else ok=0; fi
  cat "$DIR/loadgen.err" >&2
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$PID/status" 2>/dev/null || echo "")
  load_after=$(cut -d' ' -f1-3 /proc/loadavg)
  live_bytes=$(store_bytes)
  live_files=$(store_files)
  local alive=true
  kill -0 "$PID" 2>/dev/null || alive=false
  stop_server
  local final_bytes final_files
  final_bytes=$(store_bytes)
  final_files=$(store_files)
  [ "$ok" = 1 ] || line="loadgen failed: $(tail -n 3 "$DIR/loadgen.err" | tr '\n' ' ')"
  R_STORE=$store R_N=$n R_ROUND=$round R_ALIVE=$alive R_RSS=$rss R_LIVE_BYTES=$live_bytes \
  R_LIVE_FILES=$live_files R_BYTES=$final_bytes R_FILES=$final_files R_STOP_S=$STOP_S R_STOP=$STOP_HOW \
  R_LOAD_BEFORE=$load_before R_LOAD_AFTER=$load_after R_ROOT=$ROOT \
    python3 - "$line" "$RESULTS" <<'PY'
import json, os, sys
e = os.environ
sys.path.insert(0, os.path.join(e["R_ROOT"], "bench"))
from results_lib import loadgen_record
d = loadgen_record(sys.argv[1])
d.update(
    store=e["R_STORE"], n=int(e["R_N"]), round=int(e["R_ROUND"]),
    server_alive_at_end=e["R_ALIVE"] == "true",
    server_rss_kib=int(e["R_RSS"]) if e["R_RSS"] else None,
    store_bytes_live=int(e["R_LIVE_BYTES"]), store_files_live=e["R_LIVE_FILES"],
    store_bytes=int(e["R_BYTES"]), store_files=e["R_FILES"],
    stop_s=float(e["R_STOP_S"]), stop=e["R_STOP"],
    loadavg_before=e["R_LOAD_BEFORE"], loadavg_after=e["R_LOAD_AFTER"],
    machine={"nproc": int(e["NPROC"]), "cpu": e["CPU_MODEL"], "kernel": e["KERNEL"]},
    pinning={"server_cpu": int(e["SERVER_CPU"]), "loadgen_cpu": int(e["LOAD_CPU"])},
    settings={k.lower(): e[k] for k in ("WARMUP", "DURATION", "CONNS", "INFLIGHT", "CREATES_PER_CONN",
                                           "PREFILL_CONNS", "PREFILL_TIMEOUT")},
)
with open(sys.argv[2], "a") as f:
    f.write(json.dumps(d) + "\n")
PY
  if [ -s "$DIR/err" ]; then
    echo "-- server stderr ($store N=$n), last lines:" >&2
    tail -n 5 "$DIR/err" >&2
  fi
  rm -rf "$DIR"
}

for round in $(seq "$ROUNDS"); do
  for n in $SIZES; do
    for store in memory file; do
      run_one "$store" "$n" "$round"
    done
  done
done

CMD="SIZES=\"$SIZES\" ROUNDS=$ROUNDS WARMUP=$WARMUP DURATION=$DURATION CONNS=$CONNS INFLIGHT=$INFLIGHT"
CMD="$CMD CREATES_PER_CONN=$CREATES_PER_CONN bash bench/store.sh"
python3 "$ROOT/bench/store_report.py" "$RESULTS" "$CMD"
echo "raw results: $RESULTS" >&2
