"""What bench/report.py and bench/store_report.py share: reading a results
file, a field by dotted path, and number formatting."""
import json


def load(path):
    return [json.loads(line) for line in open(path) if line.strip()]


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
