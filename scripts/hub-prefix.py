#!/usr/bin/env python3
"""Rename the hub's private names from csph_ to hub_ (issue 14).

csph_ is the public client API's prefix (include/csphub.h) and that of the
code the hub shares with its clients (common/). Every other csph_ name in the
C files of hub/, tests/ and bench/ is the hub's own and becomes hub_
(csph_store_open -> hub_store_open), there and in the documentation. Upper-case
macros and enum constants (CSPH_ERR_OK, CSPH_MAX_PANELS) keep their prefix.

Whitespace that was aligned to a renamed line (continuation lines, trailing
comments, macro backslashes) is shifted with it.

Idempotent: run it again on a branch written before the rename (say after
merging one) and it renames what that branch added. Prints what it changed.
Usage: scripts/hub-prefix.py [--dry-run] [--help]
  --dry-run  say which files would change, change nothing.
"""
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORD = re.compile(r"\bcsph_[a-z0-9_]+")
# Build-system names, not C identifiers: the hub's CMake library.
KEEP = {"csph_hub"}


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def names_in(paths):
    found = set()
    for p in paths:
        found.update(WORD.findall(read(p)))
    return found


def column_map(old, new):
    """Old column -> new column of a line whose csph_ names became hub_."""
    cols, oi, ni = {}, 0, 0
    while True:
        cols[oi] = ni
        if oi == len(old):
            return cols
        if (old.startswith("csph_", oi) and new.startswith("hub_", ni)
                and (oi == 0 or not (old[oi - 1].isalnum() or old[oi - 1] == "_"))):
            oi, ni = oi + 5, ni + 4
        else:
            oi, ni = oi + 1, ni + 1


def realign(old_text, new_text):
    """Keep what was aligned to a renamed line aligned: continuation lines
    under its open parenthesis or after its '=', and its trailing comment or
    macro backslash in the column its neighbours keep. Whitespace only."""
    old, out = old_text.split("\n"), new_text.split("\n")
    for i, (o, n) in enumerate(zip(old, list(out))):
        if o == n:
            continue
        cm = column_map(o, n)
        cols = {c + 1: cm[c] + 1 for c, ch in enumerate(o) if ch in "([{"}
        cols.update({c + 2: cm[c] + 2 for c, ch in enumerate(o) if ch == "="})
        j = i + 1
        while j < len(old) and old[j].strip():
            ind = len(old[j]) - len(old[j].lstrip(" "))
            if ind not in cols or cols[ind] == ind:
                break
            if len(out[j]) - len(out[j].lstrip(" ")) == ind:
                out[j] = " " * cols[ind] + out[j].lstrip(" ")
            j += 1
        for tok in ("/*", "\\"):
            if tok == "\\":
                if not o.rstrip().endswith(tok):
                    continue
                oc, nc = len(o.rstrip()) - 1, len(n.rstrip()) - 1
            else:
                lead = len(o) - len(o.lstrip()) + 1
                oc, nc = o.find(tok, lead), n.find(tok, len(n) - len(n.lstrip()) + 1)
            if oc <= 0 or not (0 < nc < oc) or not n[:nc].endswith(" "):
                continue
            if any(0 <= k < len(old) and old[k][oc:oc + len(tok)] == tok for k in (i - 1, i + 1)):
                out[i] = n[:nc] + " " * (oc - nc) + n[nc:]
    return "\n".join(out)


def main():
    args = sys.argv[1:]
    if "--help" in args or "-h" in args:
        print(__doc__.strip())
        return
    unknown = [a for a in args if a != "--dry-run"]
    if unknown:
        sys.exit(f"hub-prefix.py: unknown argument {unknown[0]!r} (see --help)")
    dry = "--dry-run" in args
    os.chdir(ROOT)
    shared = names_in(glob.glob("include/*.h") + glob.glob("common/*.[ch]"))
    code = (glob.glob("hub/*.[ch]") + glob.glob("tests/*.[ch]") + glob.glob("tests/fuzz/*.[ch]")
            + glob.glob("bench/*.[ch]"))
    # A csph_ name in the hub, its tests or the bench that the public API and
    # common/ do not declare is the hub's (a test or the bench may name one
    # the hub no longer does under csph_, after a merge).
    private = names_in(code) - shared - KEEP
    targets = code + glob.glob("docs/*.md") + ["README.md", "bench/README.md"]
    pattern = re.compile(r"\b(" + "|".join(sorted(map(re.escape, private), key=len, reverse=True))
                         + r")\b") if private else None
    changed = 0
    for path in sorted(set(targets)):
        text = read(path)
        new = pattern.sub(lambda m: "hub_" + m.group(1)[5:], text) if pattern else text
        if new != text and path.endswith((".c", ".h")):
            new = realign(text, new)
        if new != text:
            changed += 1
            print(("would rename in " if dry else "renamed in ") + path)
            if not dry:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(new)
    print(f"{len(private)} hub-private names, {changed} files {'to change' if dry else 'changed'}")


if __name__ == "__main__":
    main()
