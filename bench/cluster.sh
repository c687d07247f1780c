#!/usr/bin/env bash
# What cluster mode (REDIS_URL) costs: relay at a fixed offered rate and
# joins, with examples/loadgen.rs, in four set-ups (each run on fresh
# processes and a fresh redis-server):
#
#   single        one node, no REDIS_URL            loadgen -> node
#   redis-1       one node, REDIS_URL               loadgen -> node
#   redis-1-nginx one node, REDIS_URL, behind nginx loadgen -> nginx -> node
#   redis-2-nginx two nodes, REDIS_URL, nginx       loadgen -> nginx -> node 1 | node 2
#   redis-N-nginx N nodes behind nginx (any N)
#   redis-N-nginx+M   the same, and M more nodes on the same Redis that nginx
#                 does not reach: bystanders with no part in the traffic,
#                 whose CPU is what every node pays for traffic not its own
#
# BEFORE_BIN=path runs every set-up a second time with that binary (label
# "<setup>@before"), interleaved with WRW_BIN's runs: a before/after table
# from one run.
#
# loadgen has one --addr, so it cannot point a workspace's attendees at two
# nodes itself; it speaks WebSocket only, though, so behind
# deploy/nginx/websocket-only.conf (least_conn, no stickiness) its sockets
# are spread over the nodes and about half of the relays cross nodes.
# redis-1-nginx is the like-for-like baseline of redis-2-nginx (same hop).
#
# Per run, besides loadgen's JSON (rate, p50/p99, ...), over the measured
# window only (bench/cluster_sample.py samples every 0.2 s and interpolates
# at the window's ends): the CPU of all nodes, of nginx and of Redis (INFO
# cpu: used_cpu_sys + used_cpu_user) per relayed message (per join), the
# Redis commands per message (INFO commandstats delta / messages) and the
# bytes Redis sent out per message (INFO stats total_net_output_bytes).
#
# Every server-side process (nodes, Redis, nginx) is pinned to SERVER_CPU,
# loadgen to LOAD_CPU (a 2-core machine: one core each), so "CPU per
# message" adds up everything the server side spends. The offered RATE must
# stay below what the slowest set-up sustains on one core (check `lost`,
# `skipped_open_loop` and the server CPU % in the report).
#
# Writes bench/results/cluster-<UTC stamp>.jsonl and prints a Markdown report
# (bench/cluster_report.py).
#
# Knobs (environment): ROUNDS=1 WARMUP=1 DURATION=5 RATE=2000 WORKSPACES=100
# ATTENDEES=4 JOIN_CONCURRENCY=8 SETUPS="single redis-1 redis-1-nginx redis-2-nginx"
# MODES="relay-open join" EIO=4 SERVER_CPU=0 LOAD_CPU=1
# REDIS_ARGS="--appendonly no" (e.g. "--appendonly yes --appendfsync always")
# WRW_BIN / LOADGEN (default: target/release/...; SKIP_BUILD=1 skips cargo build)
# NGINX=/usr/sbin/nginx REDIS_SERVER=/usr/bin/redis-server
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
ROUNDS=${ROUNDS:-1}
WARMUP=${WARMUP:-1}
DURATION=${DURATION:-5}
RATE=${RATE:-2000}
WORKSPACES=${WORKSPACES:-100}
ATTENDEES=${ATTENDEES:-4}
JOIN_CONCURRENCY=${JOIN_CONCURRENCY:-8}
SETUPS=${SETUPS:-single redis-1 redis-1-nginx redis-2-nginx}
MODES=${MODES:-relay-open join}
EIO=${EIO:-4}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
REDIS_ARGS=${REDIS_ARGS:---appendonly no}
NGINX=${NGINX:-/usr/sbin/nginx}
REDIS_SERVER=${REDIS_SERVER:-/usr/bin/redis-server}
WRW_BIN=${WRW_BIN:-$CARGO_TARGET_DIR/release/webrtc-workspaces-server}
LOADGEN=${LOADGEN:-$CARGO_TARGET_DIR/release/examples/loadgen}

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  cargo build --release --bin webrtc-workspaces-server --example loadgen --quiet
fi
for f in "$WRW_BIN" "$LOADGEN" "$REDIS_SERVER"; do
  [ -x "$f" ] || { echo "missing: $f" >&2; exit 1; }
done
case " $SETUPS " in *nginx*) [ -x "$NGINX" ] || { echo "missing: $NGINX (apt-get install nginx)" >&2; exit 1; } ;; esac

# Single node unless this script sets it for a node.
unset REDIS_URL
source "$ROOT/bench/lib.sh"
bench_setup cluster-
NPROC=$(nproc)
CPU_MODEL=$(grep -m1 '^model name' /proc/cpuinfo | sed 's/^[^:]*: *//' || echo unknown)

# Everything this script started, killed on exit (bench_cleanup kills $PID
# and removes $WORK).
NODE_PIDS=()
REDIS_PID=""
NGINX_PID=""
SAMPLER_PID=""
cluster_cleanup() {
  local p
  for p in "${NODE_PIDS[@]}" $REDIS_PID $SAMPLER_PID; do kill -KILL "$p" 2>/dev/null || true; done
  if [ -n "$NGINX_PID" ]; then kill -TERM "$NGINX_PID" 2>/dev/null || true; fi
  bench_cleanup
}
trap cluster_cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits (bounded) until 127.0.0.1:$1 accepts connections; $2: pid that must stay alive.
wait_port() {
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

start_redis() {
  REDIS_PORT=$(free_port)
  mkdir -p "$RUN/redis"
  # shellcheck disable=SC2086
  taskset -c "$SERVER_CPU" "$REDIS_SERVER" --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$RUN/redis" \
    --save '' --protected-mode no --daemonize no $REDIS_ARGS > "$RUN/redis/log" 2>&1 &
  REDIS_PID=$!
  wait_port "$REDIS_PORT" "$REDIS_PID" || { cat "$RUN/redis/log" >&2; exit 1; }
}

# start_node N REDIS(yes|no) BIN: a node in $RUN/node-N; appends to NODE_PIDS/NODE_ADDRS.
start_node() {
  local n=$1 redis=$2 bin=$3 dir=$RUN/node-$1
  mkdir -p "$dir"
  cat > "$dir/config.js.toml" <<TOML
host = "127.0.0.1"
max_capacity_of_workspace = $ATTENDEES
# A load generator drives each socket far past a browser's event rate and
# opens every connection from one address: lift the per-client limits.
events_per_second = 0
max_connections_per_ip = 1000000
max_workspaces_per_ip_per_hour = 100000000
max_live_workspaces = 100000000
TOML
  if [ "$redis" = yes ]; then
    printf 'node_id = "bench-node-%s"\nredis_prefix = "wrwbench"\n' "$n" >> "$dir/config.js.toml"
    REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0 launch "$dir" "$bin" error
  else
    launch "$dir" "$bin" error
  fi
  NODE_PIDS+=("$PID")
  NODE_ADDRS+=("$ADDR")
  PID=""
}

# nginx with the shipped websocket-only.conf in front of NODE_ADDRS (the same
# substitution as tests/clients/cluster/nginx.test.js: the upstream's server
# lines and the listen port); sets NGINX_PID, NGINX_ADDR, NGINX_PIDS.
start_nginx() {
  local dir=$RUN/nginx port servers="" a
  mkdir -p "$dir/logs" "$dir/tmp"
  chmod 755 "$RUN" "$dir"
  port=$(free_port)
  for a in "${NODE_ADDRS[@]:0:$BEHIND}"; do servers="$servers$a "; done
  python3 - "$ROOT/deploy/nginx" "$dir" "$port" $servers <<'PY'
import re, sys
src, dst, port, *servers = sys.argv[1:]
main = open(f"{src}/websocket-only.conf").read()
m = re.search(r"(upstream wrw_nodes \{.*?\n)(\s*\})", main, re.S)
body = m.group(1)
lines = re.findall(r"^(\s*server\s+)(\S+)(.*;)$", body, re.M)
assert lines, "no server lines in upstream wrw_nodes"
lead, _, rest = lines[0]
new_body = re.sub(r"^\s*server\s+\S+.*;\n", "", body, flags=re.M) + "".join(f"{lead}{s}{rest}\n" for s in servers)
open(f"{dst}/websocket-only.conf", "w").write(main.replace(body, new_body))
shared = open(f"{src}/wrw-server.conf").read()
shared, n = re.subn(r"^(\s*)listen\s+\d+;", rf"\g<1>listen 127.0.0.1:{port};", shared, flags=re.M)
assert n == 1, "wrw-server.conf: one listen line"
open(f"{dst}/wrw-server.conf", "w").write(shared)
PY
  taskset -c "$SERVER_CPU" "$NGINX" -p "$dir/" -c "$dir/websocket-only.conf" -g 'daemon off; error_log stderr;' \
    > "$dir/out" 2> "$dir/err" &
  NGINX_PID=$!
  wait_port "$port" "$NGINX_PID" || { cat "$dir/err" >&2; exit 1; }
  NGINX_ADDR=127.0.0.1:$port
  # The workers (worker_processes auto), for their CPU: forked by the master
  # right after it binds.
  local workers=""
  for _ in $(seq 100); do
    workers=$(cat "/proc/$NGINX_PID/task/$NGINX_PID/children" 2>/dev/null || true)
    [ -n "$workers" ] && break
    sleep 0.05
  done
  [ -n "$workers" ] || { echo "nginx started no workers" >&2; cat "$dir/err" >&2; exit 1; }
  # shellcheck disable=SC2206
  NGINX_PIDS=("$NGINX_PID" $workers)
}

stop_all() {
  local p
  if [ -n "$SAMPLER_PID" ]; then kill -TERM "$SAMPLER_PID" 2>/dev/null || true; wait "$SAMPLER_PID" 2>/dev/null || true; fi
  SAMPLER_PID=""
  for p in "${NODE_PIDS[@]}" $NGINX_PID; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${NODE_PIDS[@]}" $NGINX_PID; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  if [ -n "$REDIS_PID" ]; then kill -KILL "$REDIS_PID" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  NODE_PIDS=(); NODE_ADDRS=(); REDIS_PID=""; NGINX_PID=""; NGINX_PIDS=()
}

# run_one SETUP MODE ROUND [BIN LABEL]
run_one() {
  local setup=$1 mode=$2 round=$3 bin=${4:-$WRW_BIN} label=${5:-$1} nodes=1 redis=no via=direct target line t0 t1 ok=1
  local bystanders=0
  case $setup in
    single) ;;
    redis-1) redis=yes ;;
    redis-*-nginx*)
      redis=yes; via=nginx
      nodes=${setup#redis-}; nodes=${nodes%%-nginx*}
      case $setup in *+*) bystanders=${setup##*+} ;; esac
      ;;
    *) echo "unknown setup $setup" >&2; exit 1 ;;
  esac
  BEHIND=$nodes
  local load_before load_after
  load_before=$(cut -d' ' -f1-3 /proc/loadavg)
  RUN=$(mktemp -d -p "$WORK")
  NODE_PIDS=(); NODE_ADDRS=(); NGINX_PIDS=()
  # A Redis for the sampler even without REDIS_URL (its counters then stay flat).
  start_redis
  for n in $(seq $((nodes + bystanders))); do start_node "$n" "$redis" "$bin"; done
  target=${NODE_ADDRS[0]}
  if [ "$via" = nginx ]; then start_nginx; target=$NGINX_ADDR; fi
  echo "== $label $mode round $round: nodes ${NODE_ADDRS[*]} (pids ${NODE_PIDS[*]}; $bystanders bystanders), loadgen -> $target" >&2
  python3 "$ROOT/bench/cluster_sample.py" sample "$RUN/samples.jsonl" "$REDIS_PORT" "${NODE_PIDS[@]}" "${NGINX_PIDS[@]}" &
  SAMPLER_PID=$!
  local args=(--addr "$target" --server-pid "${NODE_PIDS[0]}" --label "$label" --eio "$EIO"
    --warmup "$WARMUP" --duration "$DURATION" --attendees "$ATTENDEES")
  if [ "$mode" = relay-open ]; then
    args+=(--mode relay-open --rate "$RATE" --workspaces "$WORKSPACES" --depth 4 --msg negotiation)
  else
    args+=(--mode join --concurrency "$JOIN_CONCURRENCY")
  fi
  t0=$(date +%s.%N)
  if line=$(timeout $((WARMUP + DURATION + 120)) taskset -c "$LOAD_CPU" "$LOADGEN" "${args[@]}" 2> "$RUN/loadgen.err" | tee /dev/stderr | tail -n 1); then :; else ok=0; fi
  sleep 0.3 # one more sample after the window
  load_after=$(cut -d' ' -f1-3 /proc/loadavg)
  local alive=true p
  for p in "${NODE_PIDS[@]}"; do kill -0 "$p" 2>/dev/null || alive=false; done
  [ "$ok" = 1 ] || line="loadgen failed: $(tail -n 3 "$RUN/loadgen.err" | tr '\n' ' ')"
  local groups
  groups=$(python3 -c 'import json,sys; n,g,b=sys.argv[1].split(),sys.argv[2].split(),int(sys.argv[3]); print(json.dumps({"nodes":n,"nginx":g,"bystanders":n[len(n)-b:] if b else [],**{f"node-{i+1}":[p] for i,p in enumerate(n)}}))' \
    "${NODE_PIDS[*]}" "${NGINX_PIDS[*]:-}" "$bystanders")
  R_SETUP=$label R_MODE=$mode R_ROUND=$round R_NODES=$nodes R_REDIS=$redis R_VIA=$via R_ALIVE=$alive R_T0=$t0 \
  R_BYSTANDERS=$bystanders \
  R_SAMPLES=$RUN/samples.jsonl R_GROUPS=$groups R_ROOT=$ROOT R_LOAD_BEFORE=$load_before R_LOAD_AFTER=$load_after \
    python3 - "$line" "$RESULTS" <<'PY'
import json, os, subprocess, sys
e = os.environ
sys.path.insert(0, os.path.join(e["R_ROOT"], "bench"))
from results_lib import loadgen_record
d = loadgen_record(sys.argv[1])
d.update(setup=e["R_SETUP"], round=int(e["R_ROUND"]), nodes=int(e["R_NODES"]), redis=e["R_REDIS"] == "yes",
         bystanders=int(e["R_BYSTANDERS"]),
         via=e["R_VIA"], servers_alive_at_end=e["R_ALIVE"] == "true",
         loadavg_before=e["R_LOAD_BEFORE"], loadavg_after=e["R_LOAD_AFTER"],
         machine={"nproc": int(e["NPROC"]), "cpu": e["CPU_MODEL"]},
         pinning={"server_side_cpu": int(e["SERVER_CPU"]), "loadgen_cpu": int(e["LOAD_CPU"])})
d["bench_mode"] = e["R_MODE"]
if not d.get("failed"):
    t0 = float(e["R_T0"])
    warm = float(e["WARMUP"])
    if e["R_MODE"] == "relay-open":
        start = t0 + d["setup_s"] + warm
        secs = d["window_s"]
        count = d["delivered_in_window"]
    else:
        start = t0 + warm
        secs = float(e["DURATION"])
        count = d["joins_per_s"] * secs
    w = json.loads(subprocess.check_output(
        ["python3", f"{e['R_ROOT']}/bench/cluster_sample.py", "window", e["R_SAMPLES"], str(start), str(start + secs),
         e["R_GROUPS"]]))
    per = lambda x: None if not count or x is None else x / count  # noqa: E731
    d["window"] = w
    d["per_msg"] = {
        "count": count,
        "nodes_cpu_us": per(w["cpu_s"]["nodes"] * 1e6),
        "nginx_cpu_us": per(w["cpu_s"].get("nginx", 0) * 1e6),
        "redis_cpu_us": per(w["redis_cpu_s"] * 1e6),
        "redis_cmds": per(w["redis_calls_total"]),
        "redis_out_bytes": per(w["redis_out_bytes"]),
        "bystander_cpu_us": per(w["cpu_s"].get("bystanders", 0) * 1e6 / max(1, int(e["R_BYSTANDERS"]))),
        "redis_cmds_by_name": {k: round(v / count, 3) for k, v in w["redis_calls"].items()} if count else {},
    }
with open(sys.argv[2], "a") as f:
    f.write(json.dumps(d) + "\n")
PY
  for p in "$RUN"/node-*/err; do
    if [ -s "$p" ]; then echo "-- $p, last lines:" >&2; tail -n 5 "$p" >&2; fi
  done
  stop_all
  rm -rf "$RUN"
}

export WARMUP DURATION NPROC CPU_MODEL SERVER_CPU LOAD_CPU
for round in $(seq "$ROUNDS"); do
  for mode in $MODES; do
    for setup in $SETUPS; do
      run_one "$setup" "$mode" "$round"
      if [ -n "${BEFORE_BIN:-}" ]; then run_one "$setup" "$mode" "$round" "$BEFORE_BIN" "$setup@before"; fi
    done
  done
done

CMD="ROUNDS=$ROUNDS WARMUP=$WARMUP DURATION=$DURATION RATE=$RATE WORKSPACES=$WORKSPACES ATTENDEES=$ATTENDEES"
CMD="$CMD JOIN_CONCURRENCY=$JOIN_CONCURRENCY EIO=$EIO SETUPS=\"$SETUPS\"${BEFORE_BIN:+ BEFORE_BIN=…} bash bench/cluster.sh"
python3 "$ROOT/bench/cluster_report.py" "$RESULTS" "$CMD"
echo "raw results: $RESULTS" >&2
