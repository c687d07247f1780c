"""Replaces one script's part of a Markdown file with stdin: the lines between
`<!-- NAME:begin -->` and `<!-- NAME:end -->` (markers kept), so that what
other scripts and people wrote around it stays.

usage: python3 bench/splice.py FILE NAME < part.md"""
import sys

path, name = sys.argv[1:3]
begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
text = open(path).read()
head, sep, rest = text.partition(begin)
if not sep or end not in rest:
    sys.exit(f"{path}: no {begin} … {end} markers: nothing written")
tail = rest.split(end, 1)[1]
part = sys.stdin.read().strip("\n")
with open(path, "w") as f:
    f.write(f"{head}{begin}\n{part}\n{end}{tail}")
