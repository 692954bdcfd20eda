#!/usr/bin/env python3
"""tests/layout.py SRC_ROOT - the daemon's layout rules (docs/architecture.md), as a test:

  - no include cycle between daemon modules (a module is a .c/.h pair; a folder's private
    "-internal.h" header and the files that split one module, such as ledger/store-*.c, belong
    to the module they are named after);
  - every include of daemon code is rooted at src/ ("daemon/<folder>/<file>.h");
  - no daemon .c file over MAX_LINES lines.
Exit 0 when all hold; otherwise each violation on stderr and exit 1.
"""
import glob
import os
import re
import sys

MAX_LINES = 900


def module(path):
    stem = os.path.splitext(path)[0]
    stem = re.sub(r"-internal$", "", stem)
    # store-leases -> store, metrics-server -> metrics, monitor-rules -> monitor
    folder, name = os.path.split(stem)
    return os.path.join(folder, name.split("-")[0])


def main(root):
    daemon = os.path.join(root, "src", "daemon")
    files = sorted(glob.glob(os.path.join(daemon, "**", "*.[ch]"), recursive=True))
    bad = []
    graph = {}
    for p in files:
        rel = os.path.relpath(p, os.path.join(root, "src"))
        m = module(rel)
        text = open(p, encoding="utf-8").read()
        for inc in re.findall(r'#include "([^"]+)"', text):
            if inc.startswith("../"):
                bad.append(f"{rel}: include \"{inc}\" is not rooted at src/")
            if inc.startswith("daemon/"):
                t = module(inc)
                if t != m:
                    graph.setdefault(m, set()).add(t)
        if p.endswith(".c"):
            n = text.count("\n")
            if n > MAX_LINES:
                bad.append(f"{rel}: {n} lines (at most {MAX_LINES}: split it along its seams)")
    # cycles: Tarjan's strongly connected components
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    for comp in out:
        bad.append("include cycle between " + ", ".join(comp))
    for b in bad:
        print(b, file=sys.stderr)
    print(f"layout: {len(files)} files, {len(graph)} modules with includes, {len(bad)} problem(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
