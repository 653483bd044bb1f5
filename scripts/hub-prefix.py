#!/usr/bin/env python3
"""Rename the hub's private names from csph_ to hub_ (issue 14).

csph_ is the public client API's prefix (include/csphub.h) and that of the
code the hub shares with its clients (common/). Every other csph_ name found
in hub/*.[ch] is the hub's own and becomes hub_ (csph_store_open ->
hub_store_open), in hub/, tests/, bench/ and the documentation. Upper-case
macros and enum constants (CSPH_ERR_OK, CSPH_MAX_PANELS) keep their prefix.

Idempotent: run it again on a branch written before the rename (say after
merging one) and it renames what that branch added. Prints what it changed.
Usage: scripts/hub-prefix.py [--dry-run]
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


def main():
    dry = "--dry-run" in sys.argv[1:]
    os.chdir(ROOT)
    shared = names_in(glob.glob("include/*.h") + glob.glob("common/*.[ch]"))
    private = names_in(glob.glob("hub/*.[ch]")) - shared - KEEP
    targets = (glob.glob("hub/*.[ch]") + glob.glob("tests/*.[ch]") + glob.glob("tests/fuzz/*.[ch]")
               + glob.glob("bench/*.[ch]") + glob.glob("docs/*.md") + ["README.md", "bench/README.md"])
    pattern = re.compile(r"\b(" + "|".join(sorted(map(re.escape, private), key=len, reverse=True))
                         + r")\b") if private else None
    changed = 0
    for path in sorted(set(targets)):
        text = read(path)
        new = pattern.sub(lambda m: "hub_" + m.group(1)[5:], text) if pattern else text
        if new != text:
            changed += 1
            print(("would rename in " if dry else "renamed in ") + path)
            if not dry:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(new)
    print(f"{len(private)} hub-private names, {changed} files {'to change' if dry else 'changed'}")


if __name__ == "__main__":
    main()
