#!/usr/bin/env python3
"""What the hub's own functions cost, from a perf profile with whole stacks.

usage: bench/perf-callers.py PROFILE [BASE] [--top N] [--under FUNCTION]

PROFILE and BASE are `perf script -i FILE.data > FILE.txt` outputs of profiles
recorded with DWARF call graphs (`csphub-bench --perf FILE.data --perf-dwarf`):
liblmdb and libc keep no frame pointers, so `perf record -g` loses who called
them, and LMDB's cost lands on no function of ours.

Prints, for each function of csphubd, the samples whose stack holds it (each
sample counted once a function, however deep the recursion): its inclusive
cost. With BASE (the same load on another build, or without rules), the
difference too, largest first: what one run spends that the other does not,
e.g. `--compare-rules`'s two hubs run one at a time with --perf-dwarf.

--under FUNCTION prints instead what FUNCTION's samples were in: the function
it called next (or <self>), with the samples of each.
"""
import argparse
import collections
import re
import sys

FRAME = re.compile(r"^\s*([0-9a-f]+)\s+(.*?)\s+\((.*)\)\s*$")


def stacks(path):
    """Each sample's frames, innermost first: (function, object file)."""
    frames = []
    with open(path, errors="replace") as f:
        for line in f:
            if not line.strip():
                if frames:
                    yield frames
                frames = []
                continue
            m = FRAME.match(line)
            if m:
                sym = m.group(2).split("+0x")[0]
                dso = m.group(3).rsplit("/", 1)[-1]
                if sym == "[unknown]":
                    sym = "?" + dso
                frames.append((sym, dso))
    if frames:
        yield frames


def inclusive(path):
    counts, total = collections.Counter(), 0
    for frames in stacks(path):
        total += 1
        for sym in {s for s, d in frames if d == "csphubd"}:
            counts[sym] += 1
    return counts, total


def under(path, func):
    counts, total, n = collections.Counter(), 0, 0
    for frames in stacks(path):
        total += 1
        syms = [s for s, _ in frames]
        if func not in syms:
            continue
        n += 1
        i = syms.index(func)  # the innermost call of it
        counts[syms[i - 1] if i > 0 else "<self>"] += 1
    return counts, total, n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("profile")
    ap.add_argument("base", nargs="?")
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--under")
    a = ap.parse_args()
    if a.under:
        counts, total, n = under(a.profile, a.under)
        print(f"{a.under}: {n} of {total} samples ({100.0 * n / max(total, 1):.1f}%)")
        for sym, c in counts.most_common(a.top):
            print(f"{100.0 * c / max(total, 1):6.1f}%  {sym}")
        return 0
    counts, total = inclusive(a.profile)
    if not a.base:
        print(f"{total} samples")
        for sym, c in counts.most_common(a.top):
            print(f"{c:7d} {100.0 * c / max(total, 1):6.1f}%  {sym}")
        return 0
    base, btotal = inclusive(a.base)
    print(f"{total} samples against {btotal}: {total - btotal:+d}")
    print(f"{'diff':>7} {'profile':>7} {'base':>7}  function")
    for sym in sorted(set(counts) | set(base), key=lambda s: base[s] - counts[s])[: a.top]:
        print(f"{counts[sym] - base[sym]:+7d} {counts[sym]:7d} {base[sym]:7d}  {sym}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
