#!/usr/bin/python3
"""check-chain: an auditor's own check of a csphub log's hash chain.

Usage: scripts/check-chain.py DATA_DIR

DATA_DIR is a hub's data directory, or a copy taken with `mdb_copy -c` while the
hub runs. The live directory is safe to check too when this user may write its
lock.mdb: the script then registers as an LMDB reader and reads a snapshot.
The check reads data.mdb with Debian's python3-lmdb and recomputes every link
with Python's own hashlib, from the formula in docs/log-format.md. It shares no
code with the hub.

Prints "N events, hash chain intact (VERSION); last link HEX" and exits 0, or
names the first seq that does not match and exits 1. Exits 2 when DATA_DIR
holds no readable hub log.

Erasure (docs/log-format.md, "Erasure"): an event an erasure rewrote no longer
matches its link. It is accepted only when a later dp.erasure event (source
hub, request erase; itself in the chain) lists its seq with the same stored
link, times, type, source and the SHA-256 of what it keeps (the stored value
without its link); the chain then goes on from its stored link. A retention
sweep's dp.retention event (source hub) lists the bodies it removed the same
way. Any other
change still fails. The script reads those events with Debian's
python3-msgpack.
"""
import hashlib
import os
import struct
import sys
import urllib.parse

import lmdb
import msgpack

LINK = slice(16, 32)


def link_v2(prev, seq, value):
    """SHA-256 of the previous link, the seq (8 bytes, little-endian) and the
    stored value without its link, cut to 16 bytes."""
    h = hashlib.sha256(prev + struct.pack("<Q", seq) + value[:16] + value[32:])
    return h.digest()[:16]


def link_v1(prev, seq, value):
    """BLAKE2b-128 of the previous link, the seq (machine byte order), the
    times, the type and source, and the BLAKE2b-128 of the event bytes."""
    tlen = value[32]
    slen = value[33 + tlen]
    head_end = 34 + tlen + slen
    content = hashlib.blake2b(value[head_end:], digest_size=16).digest()
    h = hashlib.blake2b(digest_size=16)
    for part in (prev, struct.pack("=Q", seq), value[:16], value[32:head_end], content):
        h.update(part)
    return h.digest()


def head(value):
    """The stored value's times, type and source."""
    received, occurred = struct.unpack("<qq", value[:16])
    tlen = value[32]
    slen = value[33 + tlen]
    return (received, occurred, value[33:33 + tlen].decode(),
            value[34 + tlen:34 + tlen + slen].decode(), 34 + tlen + slen)


def erasures(txn, events):
    """seq -> (erasure seq, record fields) from every dp.erasure and dp.retention
    event."""
    listed = {}
    for key, value in txn.cursor(db=events):
        eseq = struct.unpack("=Q", key)[0]
        _, _, etype, source, body = head(value)
        if etype not in ("dp.erasure", "dp.retention") or source != "hub":
            continue
        try:
            ev = msgpack.unpackb(value[body:], raw=False)
        except Exception:  # a damaged event: the chain check names it
            continue
        # A retention sweep's step (dp.retention) lists the bodies it
        # removed in the same lines, with no request.
        if not isinstance(ev, dict) or (etype == "dp.erasure" and ev.get("request") != "erase"):
            continue
        for line in str(ev.get("records", "")).splitlines():
            f = line.split(" ")
            if len(f) != 8:
                continue
            seq = int(f[0])
            if seq < eseq:
                listed[seq] = (eseq, int(f[1]), int(f[2]), f[3], f[5],
                               urllib.parse.unquote(f[6]), urllib.parse.unquote(f[7]))
    return listed


def redaction_listed(listed, seq, value):
    """The record of an erasure that accounts for this rewritten event."""
    entry = listed.get(seq)
    if entry is None:
        return False
    _, received, occurred, link, kept, etype, source = entry
    r, o, t, s, _ = head(value)
    return ((r, o, t, s) == (received, occurred, etype, source) and
            value[LINK].hex() == link and
            hashlib.sha256(value[:16] + value[32:]).hexdigest() == kept)


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        sys.stdout.write(__doc__)
        return 0 if len(argv) == 2 else 2
    path = argv[1]
    if not os.path.exists(os.path.join(path, "data.mdb")):
        print("check-chain: no hub log in %s (data.mdb is missing)" % path, file=sys.stderr)
        return 2
    try:
        env = lmdb.open(path, readonly=True, max_dbs=32, subdir=True)
    except lmdb.Error:
        # No write access to lock.mdb: read without registering, which is
        # right for a copy and unsafe for a running hub's directory.
        try:
            env = lmdb.open(path, readonly=True, lock=False, max_dbs=32, subdir=True)
        except lmdb.Error as e:
            print("check-chain: cannot open the log in %s: %s" % (path, e), file=sys.stderr)
            return 2
        print("check-chain: reading %s without LMDB's lock (no write access to lock.mdb): "
              "check a copy (mdb_copy -c), not a running hub's directory" % path,
              file=sys.stderr)
    with env.begin() as txn:
        events = env.open_db(b"events", txn=txn, integerkey=True, create=False)
        try:
            meta = env.open_db(b"log.meta", txn=txn, create=False)
            record = txn.get(b"chain", db=meta)
        except lmdb.NotFoundError:
            record = None
        count = txn.stat(events)["entries"]
        if record is not None:
            version = struct.unpack("<I", record)[0]
        else:  # a log started before the record existed, or an empty one
            version = 1 if count else 2
        if version not in (1, 2):
            print("check-chain: the log's hash chain is version %d, which this script does not "
                  "know" % version, file=sys.stderr)
            return 2
        link_of = link_v2 if version == 2 else link_v1
        listed = erasures(txn, events)
        link, expect = bytes(16), 1
        for key, value in txn.cursor(db=events):
            seq = struct.unpack("=Q", key)[0]
            if seq != expect:
                print("log in %s is ALTERED or broken at seq %d: seq %d is missing (%d events "
                      "before it verified)" % (path, expect, expect, expect - 1))
                return 1
            link = link_of(link, seq, value)
            if value[LINK] != link and redaction_listed(listed, seq, value):
                link = value[LINK]  # rewritten by an erasure that lists it
            if value[LINK] != link:
                print("log in %s is ALTERED or broken at seq %d (%d events before it verified)"
                      % (path, seq, seq - 1))
                return 1
            expect += 1
    name = "SHA-256, version 2" if version == 2 else "BLAKE2b-128, version 1"
    print("log in %s verified: %d events, hash chain intact (%s); last link %s"
          % (path, expect - 1, name, link.hex()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
