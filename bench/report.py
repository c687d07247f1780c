"""Turns bench/run.sh's JSON lines into BENCHMARKS.md (stdout)."""
import platform
import statistics
import subprocess
import sys

from results_lib import fmt, get, load

results, cmd, open_rate, server_cpu, load_cpu = sys.argv[1:6]
rows = load(results)


def med(scenario, target, path):
    v = [get(r, path) for r in rows if r.get("scenario") == scenario and r.get("target") == target]
    v = [x for x in v if isinstance(x, (int, float)) and not isinstance(x, bool)]
    return (statistics.median(v), len(v)) if v else (None, 0)


# (label, scenario, metric path, unit, target ratio, "ge"/"le" or None)
ROWS = [
    ("relay negotiation (3.5 KB) EIO3, W=250 K=4 D=4", "relay-neg-eio3", "msgs_per_s", "msgs/s", 0.8, "ge"),
    ("relay negotiation (3.5 KB) EIO4, W=250 K=4 D=4", "relay-neg-eio4", "msgs_per_s", "msgs/s", 0.8, "ge"),
    ("relay icecandidate (600 B) EIO4, W=250 K=4 D=4", "relay-ice-eio4", "msgs_per_s", "msgs/s", None, None),
    ("relay negotiation EIO4 closed loop, p99", "relay-neg-eio4", "latency.p99_ms", "ms", None, None),
    (f"relay open loop EIO3 @ {open_rate} msgs/s, p50", "relay-open-eio3", "latency.p50_ms", "ms", None, None),
    (f"relay open loop EIO3 @ {open_rate} msgs/s, p99", "relay-open-eio3", "latency.p99_ms", "ms", 1.5, "le"),
    (f"relay open loop EIO4 @ {open_rate} msgs/s, p50", "relay-open-eio4", "latency.p50_ms", "ms", None, None),
    (f"relay open loop EIO4 @ {open_rate} msgs/s, p99", "relay-open-eio4", "latency.p99_ms", "ms", 1.5, "le"),
    ("mic-toggle broadcast deliveries, W=250 K=4", "auth-eio4", "mic_toggle.msgs_per_s", "deliveries/s", 0.7, "ge"),
    ("mic-toggle delivery p99", "auth-eio4", "mic_toggle.latency.p99_ms", "ms", None, None),
    ("ring→answer round trips (3.5 KB each way)", "auth-eio4", "ring_answer.msgs_per_s", "round trips/s", None, None),
    ("ring→answer round trip p99", "auth-eio4", "ring_answer.latency.p99_ms", "ms", None, None),
    ("joins (connect + create/attend), 32 workers", "join-eio4", "joins_per_s", "joins/s", 0.5, "ge"),
    ("join p99", "join-eio4", "latency.p99_ms", "ms", None, None),
    ("idle: server RSS per socket", "idle-eio4", "rss_bytes_per_conn", "bytes", 1.3, "le"),
]

cpu_model = "unknown"
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
except OSError:
    pass
nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
rounds = max((r.get("round", 0) for r in rows), default=0)

out = []
out.append("# Benchmarks\n")
out.append("Written by `bench/run.sh` (issue #6). The server under test is compared with the *floor*")
out.append("(`examples/floor.rs`: the same socketioxide/axum stack with no auth and no state, TCP_NODELAY on)")
out.append("under the same load from `examples/loadgen.rs`. Each cell is the median of the rounds; the ratio")
out.append("is ours / floor. Each run starts a fresh target.\n")
out.append(f"- machine: {nproc} cores, {cpu_model}, kernel {platform.release()}")
out.append(f"- pinning: target on CPU {server_cpu}, load generator on CPU {load_cpu} (`taskset`)")
out.append(f"- rounds: {rounds}, targets alternated (order swapped each round)")
out.append(f"- command: `{cmd}`")
out.append(f"- raw results: `bench/results/{results.rsplit('/', 1)[-1]}`\n")
out.append("| scenario | unit | ours | floor | ours/floor | target | met |")
out.append("| --- | --- | ---: | ---: | ---: | --- | --- |")
for label, sc, path, unit, goal, kind in ROWS:
    o, no = med(sc, "ours", path)
    f, nf = med(sc, "floor", path)
    ratio = (o / f) if (o is not None and f) else None
    if goal is None:
        tgt, met = "", ""
    else:
        tgt = f"{'≥' if kind == 'ge' else '≤'} {goal}×"
        met = "n/a" if ratio is None else ("yes" if (ratio >= goal if kind == "ge" else ratio <= goal) else "**no**")
    out.append(f"| {label} | {unit} | {fmt(o)} | {fmt(f)} | {fmt(ratio)} | {tgt} | {met} |")

out.append("\n## Health of the runs\n")
out.append("| scenario | target | runs | lost | errors | reordered | events dropped at connect | failed runs | server died | loadgen CPU % (median) | target CPU % (median) |")
out.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
scenarios = []
for r in rows:
    if r.get("scenario") not in scenarios:
        scenarios.append(r.get("scenario"))
for sc in scenarios:
    for t in ("ours", "floor"):
        rs = [r for r in rows if r.get("scenario") == sc and r.get("target") == t]
        if not rs:
            continue
        def total(path):
            return sum((get(r, path) or 0) for r in rs if isinstance(get(r, path), (int, float)))
        subs = [""] if sc != "auth-eio4" else ["mic_toggle.", "ring_answer."]
        lost = sum(total(s + "lost") for s in subs)
        errors = sum(total(s + "errors") for s in subs)
        reordered = sum(total(s + "reordered") for s in subs)
        if sc.startswith("idle"):
            lost = sum(get(r, "dropped") or 0 for r in rs)
        cpu_l = [get(r, subs[0] + "loadgen_cpu_pct") for r in rs]
        cpu_s = [get(r, subs[0] + "server_cpu_pct") for r in rs]
        cpu_l = [x for x in cpu_l if isinstance(x, (int, float))]
        cpu_s = [x for x in cpu_s if isinstance(x, (int, float))]
        out.append(
            f"| {sc} | {t} | {len(rs)} | {lost} | {errors} | {reordered} | {total('dropped_first_events')} | "
            f"{sum(1 for r in rs if r.get('failed'))} | {sum(1 for r in rs if r.get('server_died'))} | "
            f"{fmt(statistics.median(cpu_l)) if cpu_l else 'n/a'} | {fmt(statistics.median(cpu_s)) if cpu_s else 'n/a'} |"
        )
idle = [r for r in rows if r.get("scenario", "").startswith("idle") and "conns" in r]
if idle:
    out.append("")
    out.append(
        "Idle: {} sockets per run ({} of them in workspaces of 4), held {} s with ping interval {} s; "
        "all up in every run: {}. (For idle, \"lost\" counts sockets that dropped.)".format(
            idle[0]["conns"], idle[0]["joined"], idle[0]["hold_s"], idle[0]["ping_interval_s"],
            all(r.get("all_up") for r in idle)))
print("\n".join(out))
