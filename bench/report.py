"""Turns bench/run.sh's JSON lines into its part of BENCHMARKS.md (stdout;
bench/splice.py puts it between the markers)."""
import platform
import statistics
import subprocess
import sys

from results_lib import fmt, get, load

results, cmd, open_rate, server_cpu, load_cpu = sys.argv[1:6]
wall_s = int(sys.argv[6]) if len(sys.argv) > 6 else None
rows = load(results)


def med(scenario, target, path):
    v = [get(r, path) for r in rows if r.get("scenario") == scenario and r.get("target") == target]
    v = [x for x in v if isinstance(x, (int, float)) and not isinstance(x, bool)]
    return (statistics.median(v), len(v)) if v else (None, 0)


# (label, scenario, metric path, unit, target ratio, "ge"/"le" or None)
CPU = "server_cpu_us_per_msg"
ROWS = [
    ("relay negotiation (3.5 KB) EIO3, W=250 K=4 D=4", "relay-neg-eio3", "msgs_per_s", "msgs/s", 0.8, "ge"),
    ("relay negotiation (3.5 KB) EIO4, W=250 K=4 D=4", "relay-neg-eio4", "msgs_per_s", "msgs/s", 0.8, "ge"),
    ("relay icecandidate (600 B) EIO3, W=250 K=4 D=4", "relay-ice-eio3", "msgs_per_s", "msgs/s", None, None),
    ("relay icecandidate (600 B) EIO4, W=250 K=4 D=4", "relay-ice-eio4", "msgs_per_s", "msgs/s", None, None),
    ("relay negotiation EIO4 closed loop, p99", "relay-neg-eio4", "latency.p99_ms", "ms", None, None),
    (f"relay open loop EIO3 @ {open_rate} msgs/s, p50", "relay-open-eio3", "latency.p50_ms", "ms", None, None),
    (f"relay open loop EIO3 @ {open_rate} msgs/s, p99", "relay-open-eio3", "latency.p99_ms", "ms", 1.5, "le"),
    (f"relay open loop EIO4 @ {open_rate} msgs/s, p50", "relay-open-eio4", "latency.p50_ms", "ms", None, None),
    (f"relay open loop EIO4 @ {open_rate} msgs/s, p99", "relay-open-eio4", "latency.p99_ms", "ms", 1.5, "le"),
    ("mic-toggle broadcast deliveries EIO3, W=250 K=4", "auth-eio3", "mic_toggle.msgs_per_s", "deliveries/s", 0.7, "ge"),
    ("mic-toggle broadcast deliveries EIO4, W=250 K=4", "auth-eio4", "mic_toggle.msgs_per_s", "deliveries/s", 0.7, "ge"),
    ("mic-toggle delivery p99 EIO4", "auth-eio4", "mic_toggle.latency.p99_ms", "ms", None, None),
    ("ring→answer round trips (3.5 KB each way) EIO4", "auth-eio4", "ring_answer.msgs_per_s", "round trips/s", None, None),
    ("ring→answer round trip p99 EIO4", "auth-eio4", "ring_answer.latency.p99_ms", "ms", None, None),
    ("joins (connect + create/attend) EIO3, 32 workers", "join-eio3", "joins_per_s", "joins/s", 0.5, "ge"),
    ("joins (connect + create/attend) EIO4, 32 workers", "join-eio4", "joins_per_s", "joins/s", 0.5, "ge"),
    ("join p99 EIO4", "join-eio4", "latency.p99_ms", "ms", None, None),
]

# Issue #12: server CPU time per event over the measured window (utime +
# stime from /proc/PID/stat / events the server handled in it).
CPU_ROWS = [
    ("relayed negotiation EIO3", "relay-neg-eio3", CPU, "µs/msg", 0.75, "le"),
    ("relayed negotiation EIO4", "relay-neg-eio4", CPU, "µs/msg", 0.75, "le"),
    ("relayed icecandidate EIO3", "relay-ice-eio3", CPU, "µs/msg", 0.9, "le"),
    ("relayed icecandidate EIO4", "relay-ice-eio4", CPU, "µs/msg", 0.9, "le"),
    ("token-checked mic-toggle broadcast (to 3) EIO3", "auth-eio3", "mic_toggle." + CPU, "µs/msg", 1.0, "le"),
    ("token-checked mic-toggle broadcast (to 3) EIO4", "auth-eio4", "mic_toggle." + CPU, "µs/msg", 1.0, "le"),
    ("ring / answer (3.5 KB) EIO3", "auth-eio3", "ring_answer." + CPU, "µs/msg", None, None),
    ("ring / answer (3.5 KB) EIO4", "auth-eio4", "ring_answer." + CPU, "µs/msg", None, None),
    ("join (connect + create/attend, then drop) EIO3", "join-eio3", "server_cpu_us_per_join", "µs/join", 1.1, "le"),
    ("join (connect + create/attend, then drop) EIO4", "join-eio4", "server_cpu_us_per_join", "µs/join", 1.1, "le"),
]

IDLE_ROWS = [
    ("idle: server RSS per socket EIO3 (half of them joined)", "idle-eio3", "rss_bytes_per_conn", "bytes", 0.5, "le"),
    ("idle: server RSS per socket EIO4 (half of them joined)", "idle-eio4", "rss_bytes_per_conn", "bytes", 0.5, "le"),
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
out.append(f"- command: `{cmd}`" + (f" ({wall_s // 60} min {wall_s % 60} s in all)" if wall_s else ""))
out.append(f"- raw results: `bench/results/{results.rsplit('/', 1)[-1]}`\n")


def table(rows):
    out.append("| scenario | unit | ours | floor | ours/floor | target | met |")
    out.append("| --- | --- | ---: | ---: | ---: | --- | --- |")
    for label, sc, path, unit, goal, kind in rows:
        o, no = med(sc, "ours", path)
        f, nf = med(sc, "floor", path)
        ratio = (o / f) if (o is not None and f) else None
        if goal is None:
            tgt, met = "", ""
        else:
            tgt = f"{'≥' if kind == 'ge' else '≤'} {goal}×"
            met = "n/a" if ratio is None else ("yes" if (ratio >= goal if kind == "ge" else ratio <= goal) else "**no**")
        out.append(f"| {label} | {unit} | {fmt(o)} | {fmt(f)} | {fmt(ratio)} | {tgt} | {met} |")


table(ROWS)
out.append("\n### Server CPU per message (issue #12)\n")
out.append("CPU time of the target's process (utime + stime) over the measured window divided by the events")
out.append("it handled in that window: a relayed message, a broadcast (once, whatever its fan-out), a `ring`")
out.append("or an `answer`, a join (its connect, create or attend, and its disconnect). Ratio of the medians.\n")
table(CPU_ROWS)
out.append("\n### Idle memory (issue #12)\n")
table(IDLE_ROWS)

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
        subs = ["mic_toggle.", "ring_answer."] if sc.startswith("auth") else [""]
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
    pings = [r["hold_s"] / r["ping_interval_s"] for r in idle if r.get("ping_interval_s")]
    if pings:
        out.append(f"The hold spans {min(pings):.1f} ping intervals (at least 2 required).")


def churn_section():
    churn = [r for r in rows if r.get("scenario", "").startswith("churn") and "curve" in r]
    if not churn:
        return
    c0 = churn[0]
    out.append("\n## Churn (issue #12)\n")
    out.append(
        f"Pairs of new sockets, up to {c0['workers']} pairs in flight at a steady "
        f"{fmt(c0.get('max_cycles_per_s'))} cycles/s at most: one creates a workspace, the other attends it; "
        "a 3.5 KB `negotiation` each way and a `mic-toggle`, each awaited; then one drops its TCP connection "
        "(no Socket.IO or WebSocket close) and the other disconnects cleanly (`41`, then a WebSocket close), the "
        "roles alternating. One run per target and EIO (a curve, not a median). Warm-up: the first 10 % of the "
        f"cycles. The server runs with `presence_grace_secs = 1` and `workspace_expiry_secs = 1`; "
        f"{c0['grace_s']:.0f} s after the last cycle (and until it holds nothing, at most 10 s more) `/metrics` "
        "must show no attendee, workspace or socket left: ghosts. The floor has no store: ghosts n/a. "
        "Return: the final level against the level after warm-up (target: at most +10 %); second half: the "
        "final RSS against the one at half the cycles (a leak keeps climbing there, an allocator's high-water "
        "mark does not).\n")
    out.append("| run | target | cycles | clean / dropped | s | cycles/s | errors | server CPU µs/cycle | "
               "RSS start → warm → final KiB | RSS return | RSS 2nd half | fds start → warm → final | fd return | ghosts | settled after s |")
    out.append("| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- | ---: | ---: | ---: |")

    def ok(pct):
        if not isinstance(pct, (int, float)):
            return "n/a"
        return f"{pct:+.1f} %" + ("" if pct <= 10 else " **no**")

    def pct(x):
        return f"{x:+.1f} %" if isinstance(x, (int, float)) else "n/a"

    for r in churn:
        pts = [r.get("start", {}), r.get("warm") or {}, r.get("final", {})]
        rss = " → ".join(fmt(p.get("rss_kib")) for p in pts)
        fds = " → ".join(fmt(p.get("fds")) for p in pts)
        ghosts = r.get("ghosts") if r.get("ghosts_checked") else "n/a"
        if r.get("ghosts_checked"):
            ghosts = f"{ghosts}" + ("" if ghosts == 0 else f" **no** (attendees {r['ghost_attendees']}, "
                                    f"workspaces {r['ghost_workspaces']}, sockets {r['ghost_sockets']})")
        out.append(
            f"| {r['scenario']} | {r['target']} | {r['cycles']:,} of {r['cycles_target']:,} | "
            f"{r['clean_disconnects']:,} / {r['dropped_disconnects']:,} | {fmt(r['cycles_s'])} | "
            f"{fmt(r['cycles_per_s'])} | {r['errors']} | {fmt(r.get('server_cpu_us_per_cycle'))} | {rss} | "
            f"{ok(r.get('rss_return_pct'))} | {pct(r.get('rss_second_half_pct'))} | {fds} | {ok(r.get('fd_return_pct'))} | {ghosts} | {fmt(r.get('settle_s'))} |")
    out.append("\nThe curves (server RSS KiB / open descriptors, sampled as the cycles pass; the descriptors include "
               "the sockets in flight):\n")
    cols = [(r["scenario"], r["target"]) for r in churn]
    by = {(r["scenario"], r["target"]): {p["cycles"]: p for p in r["curve"]} for r in churn}
    points = sorted({n for r in churn for n in by[(r["scenario"], r["target"])]})
    out.append("| cycles | " + " | ".join(f"{s} {t}" for s, t in cols) + " |")
    out.append("| ---: | " + " | ".join("---:" for _ in cols) + " |")
    for n in points:
        cells = []
        for key in cols:
            p = by[key].get(n)
            cells.append(f"{fmt(p.get('rss_kib'))} / {fmt(p.get('fds'))}" if p else "")
        out.append(f"| {n:,} | " + " | ".join(cells) + " |")


churn_section()
print("\n".join(out))
