"""What the bench scripts and reports share: reading a results file, the
loadgen's last line as a record, a field by dotted path, number formatting."""
import json


def load(path):
    return [json.loads(line) for line in open(path) if line.strip()]


def loadgen_record(line):
    """The loadgen's JSON summary line, or a failed record carrying its output."""
    try:
        return json.loads(line)
    except ValueError:
        return {"failed": True, "output": line[-300:]}


def get(r, path):
    for p in path.split("."):
        if not isinstance(r, dict) or p not in r:
            return None
        r = r[p]
    return r


def fmt(x):
    if x is None:
        return "n/a"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}"
