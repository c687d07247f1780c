# Shared by bench/run.sh and bench/store.sh (sourced): the results file, a
# temp dir cleaned up on exit, and starting a server pinned to SERVER_CPU.

# bench_setup PREFIX: sets STAMP, RESULTS (bench/results/PREFIX<stamp>.jsonl), WORK and PID.
bench_setup() {
  # Each socket is a descriptor in both processes: raise the open-files limit
  # as far as it goes (20000 on the machine BENCHMARKS.md was written on).
  ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
  STAMP=$(date -u +%Y%m%dT%H%M%SZ)
  mkdir -p "$ROOT/bench/results"
  RESULTS=$ROOT/bench/results/$1$STAMP.jsonl
  : > "$RESULTS"
  WORK=$(mktemp -d)
  PID=""
  trap bench_cleanup EXIT
}

bench_cleanup() {
  if [ -n "$PID" ]; then kill -KILL "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}

# launch DIR BIN RUST_LOG: starts BIN in DIR (its config.js.toml written by
# the caller) with the bench's fixed secrets; sets PID and ADDR, or exits.
launch() {
  local dir=$1 bin=$2 log=$3
  (cd "$dir" && PORT=0 DEVELOPMENT=true MAGICK_TOKEN=62656e63682d6a7774 SALT_STRING=62656e63682d73616c74 \
    RUST_LOG=$log exec taskset -c "$SERVER_CPU" "$bin" > "$dir/out" 2> "$dir/err") &
  PID=$!
  ADDR=""
  for _ in $(seq 150); do
    ADDR=$(grep -m1 -oE 'listening on https?://[0-9.]+:[0-9]+' "$dir/out" 2>/dev/null | sed -E 's|.*https?://||' || true)
    [ -n "$ADDR" ] && return 0
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "$bin did not start" >&2
  cat "$dir/out" "$dir/err" >&2
  exit 1
}
