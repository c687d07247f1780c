"""Turns bench/store.sh's JSON lines into a Markdown table (stdout).

usage: python3 bench/store_report.py bench/results/store-<stamp>.jsonl ["command"]

Each cell is the median over the rounds of that store and N.
"""
import statistics
import sys

from results_lib import fmt, get, load

results = sys.argv[1]
cmd = sys.argv[2] if len(sys.argv) > 2 else None
rows = load(results)


def ok(r):
    return not r.get("failed")


def med(store, n, path):
    v = [get(r, path) for r in rows if r.get("store") == store and r.get("n") == n and ok(r)]
    v = [x for x in v if isinstance(x, (int, float)) and not isinstance(x, bool)]
    return statistics.median(v) if v else None


def size(b):
    if b is None:
        return "n/a"
    for unit in ("B", "KB", "MB", "GB"):
        if b < 1000 or unit == "GB":
            return f"{b:.0f} {unit}" if unit == "B" else f"{b:.1f} {unit}"
        b /= 1000


sizes = sorted({r["n"] for r in rows if "n" in r})
machine = next((r["machine"] for r in rows if "machine" in r), {})
settings = next((r["settings"] for r in rows if "settings" in r), {})
rounds = max((r.get("round", 0) for r in rows), default=0)

out = []
out.append("## Creates: file store vs memory store\n")
out.append(
    f"- machine: {machine.get('nproc', '?')} cores, {machine.get('cpu', '?')}, kernel {machine.get('kernel', '?')}"
)
pin = next((r["pinning"] for r in rows if "pinning" in r), None)
if pin:
    out.append(f"- pinning: server on CPU {pin['server_cpu']}, load generator on CPU {pin['loadgen_cpu']} (`taskset`)")
out.append(
    f"- load: {settings.get('conns', '?')} sockets × {settings.get('inflight', '?')} creates in flight "
    f"(a new socket every {settings.get('creates_per_conn', '?')} creates), "
    f"{settings.get('warmup', '?')} s warm-up + {settings.get('duration', '?')} s measured, after a prefill of N "
    f"workspaces over {settings.get('prefill_conns', '?')} sockets; rounds: {rounds} (medians)"
)
if cmd:
    out.append(f"- command: `{cmd}`")
out.append(f"- raw results: `bench/results/{results.rsplit('/', 1)[-1]}`")
out.append("- N is the number of workspaces stored when the measurement starts; the measured phase adds its own")
out.append("  (\"stored at end\" below).\n")
out.append("| N | memory creates/s | file creates/s | ratio file/memory | memory p99 ms | file p99 ms | file store size |")
out.append("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for n in sizes:
    m = med("memory", n, "creates_per_s")
    f = med("file", n, "creates_per_s")
    ratio = f / m if (m and f is not None) else None
    out.append(
        f"| {n:,} | {fmt(m)} | {fmt(f)} | {fmt(ratio)} | {fmt(med('memory', n, 'latency.p99_ms'))} | "
        f"{fmt(med('file', n, 'latency.p99_ms'))} | {size(med('file', n, 'store_bytes'))} |"
    )

out.append("\n### Details\n")
out.append(
    "| N | store | runs | failed | p50 ms | p90 ms | p99 ms | max ms | errors | unanswered | prefill s | "
    "prefill creates/s | stored at end | server RSS at end | store size live → after stop | stop s | "
    "server CPU % | other CPU % |"
)
out.append(
    "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |"
)
first_errors = []
for n in sizes:
    for store in ("memory", "file"):
        rs = [r for r in rows if r.get("store") == store and r.get("n") == n]
        if not rs:
            continue
        errors = sum((r.get("errors") or 0) + (r.get("prefill_errors") or 0) for r in rs)
        unanswered = sum(r.get("unanswered") or 0 for r in rs)
        rss = med(store, n, "server_rss_kib")
        live = med(store, n, "store_bytes_live")
        final = med(store, n, "store_bytes")
        store_size = "—" if store == "memory" else f"{size(live)} → {size(final)}"
        out.append(
            f"| {n:,} | {store} | {len(rs)} | {sum(1 for r in rs if not ok(r))} | "
            f"{fmt(med(store, n, 'latency.p50_ms'))} | {fmt(med(store, n, 'latency.p90_ms'))} | "
            f"{fmt(med(store, n, 'latency.p99_ms'))} | {fmt(med(store, n, 'latency.max_ms'))} | {errors} | {unanswered} | "
            f"{fmt(med(store, n, 'prefill_s'))} | {fmt(med(store, n, 'prefill_creates_per_s'))} | "
            f"{fmt(med(store, n, 'workspaces_created'))} | "
            f"{size(rss * 1024) if rss is not None else 'n/a'} | {store_size} | {fmt(med(store, n, 'stop_s'))} | "
            f"{fmt(med(store, n, 'server_cpu_pct'))} | {fmt(med(store, n, 'other_cpu_pct'))} |"
        )
        for r in rs:
            for key in ("first_error", "prefill_first_error"):
                if r.get(key):
                    first_errors.append(f"- {store} N={n} round {r.get('round')}: {key}: {r[key]}")
            if r.get("failed"):
                first_errors.append(f"- {store} N={n} round {r.get('round')}: failed {r.get('output', '')}")
            if (r.get("other_cpu_pct") or 0) > 10:
                first_errors.append(
                    f"- {store} N={n} round {r.get('round')}: the machine was busy: other processes used "
                    f"{r['other_cpu_pct']} % of a core during the window (load average {r.get('loadavg_after')})"
                )
            if r.get("stop") and r["stop"] != "exited 0":
                first_errors.append(f"- {store} N={n} round {r.get('round')}: server stop: {r['stop']}")
if first_errors:
    out.append("\nProblems:\n")
    out.extend(first_errors)
print("\n".join(out))
