"""Turns bench/cluster.sh's JSON lines into a Markdown report (stdout).

usage: python3 bench/cluster_report.py bench/results/cluster-<stamp>.jsonl ["command"]

Each cell is the median over the rounds of that set-up and mode.
"""
import statistics
import sys

from results_lib import fmt, get, load

results = sys.argv[1]
cmd = sys.argv[2] if len(sys.argv) > 2 else None
rows = load(results)

NAMED = {
    "single": "1 node, no Redis",
    "redis-1": "1 node, REDIS_URL",
}


def label(setup):
    """redis-N-nginx[+M][@before] in words."""
    base, _, when = setup.partition("@")
    if base in NAMED:
        words = NAMED[base]
    elif base.startswith("redis-") and "-nginx" in base:
        n, _, rest = base[len("redis-"):].partition("-nginx")
        words = f"{n} node{'s' if n != '1' else ''}, REDIS_URL, via nginx"
        if rest.startswith("+"):
            words += f", +{rest[1:]} bystander{'s' if rest[1:] != '1' else ''}"
    else:
        words = base
    return f"{words} ({when})" if when else words


# The set-ups in the order they ran.
SETUPS = []
for r in rows:
    if r.get("setup") and r["setup"] not in [s for s, _ in SETUPS]:
        SETUPS.append((r["setup"], label(r["setup"])))


def ok(r):
    return not r.get("failed")


def med(setup, mode, path):
    v = [get(r, path) for r in rows if r.get("setup") == setup and r.get("bench_mode") == mode and ok(r)]
    v = [x for x in v if isinstance(x, (int, float)) and not isinstance(x, bool)]
    return statistics.median(v) if v else None


def runs(setup, mode):
    return [r for r in rows if r.get("setup") == setup and r.get("bench_mode") == mode]


def top_cmds(setup, mode, n=5):
    last = next((r for r in reversed(runs(setup, mode)) if ok(r) and "per_msg" in r), None)
    if not last:
        return "n/a"
    by = sorted(last["per_msg"]["redis_cmds_by_name"].items(), key=lambda kv: -kv[1])[:n]
    # Redis names subcommands "client|info": no '|' in a Markdown cell.
    return ", ".join(f"{k.replace('|', '/')} {v:.2f}" for k, v in by) or "none"


def split(setup, mode):
    """Each node's share of the nodes' CPU in the window (the last run): the
    load really is spread over the nodes."""
    last = next((r for r in reversed(runs(setup, mode)) if ok(r) and "window" in r), None)
    if not last:
        return "n/a"
    cpu = last["window"]["cpu_s"]
    total = cpu.get("nodes") or 0
    shares = [cpu[k] / total * 100 for k in sorted(cpu, key=lambda k: (len(k), k)) if k.startswith("node-")] if total else []
    return " / ".join(f"{x:.0f}%" for x in shares) or "n/a"


def bystander_share(setup, mode):
    """A bystander's CPU as a share of the average relaying node's (the last run)."""
    last = next((r for r in reversed(runs(setup, mode)) if ok(r) and "window" in r), None)
    if not last or not last.get("bystanders"):
        return ""
    cpu = last["window"]["cpu_s"]
    b = last["bystanders"]
    n = last["nodes"]
    relaying = [cpu[f"node-{i + 1}"] for i in range(n)]
    bystanding = [cpu[f"node-{n + i + 1}"] for i in range(b)]
    avg = sum(relaying) / len(relaying) if relaying else 0
    return f"{sum(bystanding) / b / avg * 100:.1f}%" if avg else "n/a"


machine = next((r["machine"] for r in rows if "machine" in r), {})
pin = next((r["pinning"] for r in rows if "pinning" in r), {})
rate = next((r.get("offered_rate") for r in rows if r.get("offered_rate")), None)
out = ["## Cluster mode (Redis): cost per message and per join\n"]
out.append(f"- machine: {machine.get('nproc', '?')} cores, {machine.get('cpu', '?')}")
out.append(f"- pinning: nodes, Redis and nginx on CPU {pin.get('server_side_cpu', '?')}, "
           f"the load generator on CPU {pin.get('loadgen_cpu', '?')} (`taskset`)")
loads = [float(r[k].split()[0]) for r in rows for k in ("loadavg_before", "loadavg_after") if r.get(k)]
if loads:
    busy = max(loads) > machine.get("nproc", 1)
    out.append(f"- 1-minute load average around the runs: {min(loads):.2f} to {max(loads):.2f}"
               + (" (above the core count: something else was running, the figures are noisy)" if busy else ""))
if cmd:
    out.append(f"- command: `{cmd}`")
out.append(f"- raw results: `bench/results/{results.rsplit('/', 1)[-1]}`")
out.append("- CPU and Redis figures are over loadgen's measured window only (sampled every 0.2 s, interpolated);")
out.append("  \"nodes CPU\" sums every node. With nginx, loadgen's sockets are spread over the nodes")
out.append("  (websocket-only.conf, least_conn): with 2 nodes about half the relays cross nodes.\n")

for mode, title, unit, rate_path in [
    ("relay-open", f"### Relay (negotiation, 3.5 KB) at a fixed offered rate of {fmt(rate)} msgs/s", "msg", "msgs_per_s"),
    ("join", "### Joins (connect + create/attend), closed loop", "join", "joins_per_s"),
]:
    present = [(s, label) for s, label in SETUPS if runs(s, mode)]
    if not present:
        continue
    out.append(title + "\n")
    out.append(f"| set-up | runs | failed | {unit}s/s | p50 ms | p99 ms | nodes CPU µs/{unit} | Redis CPU µs/{unit} | "
               f"nginx CPU µs/{unit} | Redis cmds/{unit} | top Redis cmds/{unit} | Redis out B/{unit} | lost | "
               "CPU split over the nodes | a bystander's CPU vs a relaying node's |")
    out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- | ---: |")
    for s, label in present:
        rs = runs(s, mode)
        out.append(
            f"| {label} | {len(rs)} | {sum(1 for r in rs if not ok(r))} | {fmt(med(s, mode, rate_path))} | "
            f"{fmt(med(s, mode, 'latency.p50_ms'))} | {fmt(med(s, mode, 'latency.p99_ms'))} | "
            f"{fmt(med(s, mode, 'per_msg.nodes_cpu_us'))} | {fmt(med(s, mode, 'per_msg.redis_cpu_us'))} | "
            f"{fmt(med(s, mode, 'per_msg.nginx_cpu_us'))} | {fmt(med(s, mode, 'per_msg.redis_cmds'))} | "
            f"{top_cmds(s, mode)} | {fmt(med(s, mode, 'per_msg.redis_out_bytes'))} | {fmt(med(s, mode, 'lost'))} | "
            f"{split(s, mode)} | {bystander_share(s, mode)} |"
        )
    out.append("")

failed = [r for r in rows if not ok(r)]
if failed:
    out.append("### Failed runs\n")
    for r in failed:
        out.append(f"- {r.get('setup')} {r.get('bench_mode')} round {r.get('round')}: {r.get('output', '')[:300]}")
print("\n".join(out))
