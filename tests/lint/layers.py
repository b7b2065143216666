#!/usr/bin/env python3
"""Checks the shape of fs/ that issue 10 asked for, from the built objects and the sources:
no call cycle between the files of fs/ (each file calls only files below it), and no
function of fs/ over 80 lines. Exits 1 and says what breaks a rule.

usage: layers.py BUILD_DIR  (the objects are BUILD_DIR/fs/*.o; nm from binutils)"""
import glob
import os
import re
import subprocess
import sys

MAX_LINES = 80


def call_graph(objdir):
    defs, uses = {}, {}
    for o in sorted(glob.glob(os.path.join(objdir, "*.o"))):
        f = os.path.basename(o)[:-2] + ".c"
        out = subprocess.run(["nm", o], capture_output=True, text=True, check=True).stdout
        d, u = set(), set()
        for line in out.splitlines():
            p = line.split()
            if len(p) == 3 and p[1] in "TDBR":
                d.add(p[2])
            elif len(p) == 2 and p[0] == "U":
                u.add(p[1])
        defs[f], uses[f] = d, u
    owner = {s: f for f, d in defs.items() for s in d}
    return {f: {owner[s] for s in u if owner.get(s, f) != f} for f, u in uses.items()}, owner, uses


def cycles(edges):
    """Strongly connected components of more than one file (Tarjan, iteratively)."""
    index, low, on, stack, out, n = {}, {}, set(), [], [], 0
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = n
        n += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = n
                    n += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def long_functions(srcdir):
    bad = []
    for path in sorted(glob.glob(os.path.join(srcdir, "*.c"))):
        start = name = None
        with open(path) as f:
            for no, line in enumerate(f, 1):
                if re.match(r"^[a-z].*\(", line) and not line.rstrip().endswith(";"):
                    start, name = no, line.strip()
                elif line.startswith("}") and start:
                    if no - start + 1 > MAX_LINES:
                        bad.append(f"{os.path.relpath(path)}:{start}: {no - start + 1} lines: {name}")
                    start = None
    return bad


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    here = os.path.dirname(os.path.abspath(__file__))
    edges, owner, uses = call_graph(os.path.join(sys.argv[1], "fs"))
    fail = False
    for comp in cycles(edges):
        fail = True
        print("fs/: files that call each other in a cycle: " + " ".join(comp))
        for a in comp:
            for b in comp:
                if b in edges[a]:
                    syms = sorted(s for s in uses[a] if owner.get(s) == b)
                    print(f"  {a} -> {b}: {', '.join(syms[:5])}")
    for line in long_functions(os.path.join(here, "..", "..", "fs")):
        fail = True
        print(f"fs/: a function over {MAX_LINES} lines: {line}")
    if fail:
        sys.exit(1)
    print(f"fs/: no call cycle between its {len(edges)} files, no function over {MAX_LINES} lines")


if __name__ == "__main__":
    main()
