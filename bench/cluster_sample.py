"""What bench/cluster.sh measures besides the load generator's own report.

  python3 bench/cluster_sample.py sample OUT REDIS_PORT PIDS... 
      Until killed (SIGTERM), every 0.2 s appends one JSON line to OUT:
      {t, redis: {calls: {cmd: n}, cpu_s}, cpu_ticks: {pid: utime+stime}}
      (the pids of the nodes and of nginx's master and workers; a pid whose
      /proc entry is gone is left out). Redis is asked over RESP on a
      connection of its own; its own INFO calls are counted by Redis as
      `info`, which the analysis leaves out.

  python3 bench/cluster_sample.py window SAMPLES T_START T_END GROUPS_JSON
      The counters linearly interpolated at T_START and T_END (wall clock,
      seconds) and their difference, as one JSON object on stdout:
      {seconds, redis_calls: {cmd: n}, redis_calls_total, redis_cpu_s,
       cpu_s: {group: seconds}} where GROUPS_JSON maps a group name ("nodes",
      "nginx") to its list of pids.
"""
import json
import os
import signal
import socket
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def resp_command(sock, *args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        b = str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(b), b)
    sock.sendall(out)
    f = sock.makefile("rb")
    head = f.readline()
    if head[:1] == b"-":
        raise RuntimeError(head.decode().strip())
    if head[:1] != b"$":
        raise RuntimeError(f"unexpected reply {head[:80]!r}")
    n = int(head[1:])
    body = f.read(n + 2)[:-2]
    return body.decode()


def info_fields(text):
    d = {}
    for line in text.split("\r\n"):
        if line and not line.startswith("#") and ":" in line:
            k, v = line.split(":", 1)
            d[k] = v
    return d


def redis_sample(sock):
    stats = info_fields(resp_command(sock, "INFO", "commandstats"))
    calls, usec = {}, {}
    for k, v in stats.items():
        if k.startswith("cmdstat_"):
            for part in v.split(","):
                if part.startswith("calls="):
                    calls[k[len("cmdstat_"):]] = int(part[len("calls="):])
                elif part.startswith("usec="):
                    usec[k[len("cmdstat_"):]] = int(part[len("usec="):])
    cpu = info_fields(resp_command(sock, "INFO", "cpu"))
    net = info_fields(resp_command(sock, "INFO", "stats"))
    return {"calls": calls, "usec": usec, "cpu_s": float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"]),
            "out_bytes": int(net["total_net_output_bytes"])}


def cpu_ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[11]) + int(rest[12])
    except (OSError, IndexError, ValueError):
        return None


def sample(out, port, pids):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    sock = socket.create_connection(("127.0.0.1", int(port)), timeout=2)
    with open(out, "a") as f:
        while not stop:
            t = time.time()
            row = {"t": t, "redis": redis_sample(sock), "cpu_ticks": {}}
            for p in pids:
                v = cpu_ticks(p)
                if v is not None:
                    row["cpu_ticks"][p] = v
            f.write(json.dumps(row) + "\n")
            f.flush()
            time.sleep(max(0.0, 0.2 - (time.time() - t)))


def interpolate(rows, t, value):
    """value(row) at time t, linear between the two samples around t."""
    before = [r for r in rows if r["t"] <= t]
    after = [r for r in rows if r["t"] >= t]
    if not before or not after:
        raise SystemExit(f"no samples around t={t:.3f} (samples {rows[0]['t']:.3f}..{rows[-1]['t']:.3f})")
    a, b = before[-1], after[0]
    va, vb = value(a), value(b)
    if va is None or vb is None:
        return None
    if b["t"] == a["t"]:
        return va
    return va + (vb - va) * (t - a["t"]) / (b["t"] - a["t"])


def window(samples, t0, t1, groups):
    rows = [json.loads(l) for l in open(samples) if l.strip()]
    t0, t1 = float(t0), float(t1)
    delta = lambda value: (  # noqa: E731
        None if interpolate(rows, t1, value) is None or interpolate(rows, t0, value) is None
        else interpolate(rows, t1, value) - interpolate(rows, t0, value)
    )
    cmds = set()
    for r in rows:
        cmds.update(r["redis"]["calls"])
    cmds.discard("info")
    calls = {}
    for c in sorted(cmds):
        d = delta(lambda r, c=c: r["redis"]["calls"].get(c, 0))
        if d and d > 0.5:
            calls[c] = round(d, 1)
    # Time Redis spent inside each command (a script's includes the
    # commands it calls, which are also counted on their own).
    usec = {}
    for c in sorted(cmds):
        d = delta(lambda r, c=c: r["redis"].get("usec", {}).get(c, 0))
        if d and d > 0.5:
            usec[c] = round(d)
    cpu = {}
    for name, pids in json.loads(groups).items():
        total = 0.0
        for p in pids:
            d = delta(lambda r, p=str(p): r["cpu_ticks"].get(p))
            total += (d or 0.0) / TICK
        cpu[name] = round(total, 4)
    out = {
        "seconds": round(t1 - t0, 3),
        "redis_calls": calls,
        "redis_calls_total": round(sum(calls.values()), 1),
        "redis_usec": usec,
        "redis_cpu_s": round(delta(lambda r: r["redis"]["cpu_s"]), 4),
        "redis_out_bytes": round(delta(lambda r: r["redis"].get("out_bytes", 0))),
        "cpu_s": cpu,
        "samples": len(rows),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    if sys.argv[1] == "sample":
        sample(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif sys.argv[1] == "window":
        window(*sys.argv[2:6])
    else:
        raise SystemExit(__doc__)
