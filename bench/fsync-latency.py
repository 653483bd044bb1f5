#!/usr/bin/env python3
"""The disk's own floor under an acknowledgement: append N records of B bytes
to a preallocated file, each followed by fdatasync, one every GAP seconds, and
print the latency percentiles of write + fdatasync.

Every event the hub acknowledges waits for one such sync (the journal's), and
so does every event Redis acknowledges with appendfsync always: what this
prints is the least either can answer in, before any work of its own.

usage: bench/fsync-latency.py [--dir DIR] [-n N] [--bytes B] [--gap-ms G]
"""
import argparse
import os
import tempfile
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", default=os.environ.get("TMPDIR", "/tmp"),
                    help="where the scratch file goes (default: $TMPDIR or /tmp)")
    ap.add_argument("-n", type=int, default=5000, help="syncs (default 5000)")
    ap.add_argument("--bytes", type=int, default=2048,
                    help="bytes a record (default 2048: a batch of ~10 events)")
    ap.add_argument("--gap-ms", type=float, default=1.0,
                    help="pause between syncs (default 1 ms: 1,000 syncs a second)")
    a = ap.parse_args()
    fd, path = tempfile.mkstemp(prefix="fsync-latency.", dir=a.dir)
    try:
        size = a.n * a.bytes + (1 << 20)
        os.posix_fallocate(fd, 0, size)  # preallocated, as the journal is
        os.fsync(fd)
        buf = b"x" * a.bytes
        lat = []
        off = 0
        for _ in range(a.n):
            t0 = time.perf_counter()
            os.pwrite(fd, buf, off)
            os.fdatasync(fd)
            lat.append((time.perf_counter() - t0) * 1000.0)
            off += a.bytes
            time.sleep(a.gap_ms / 1000.0)
    finally:
        os.close(fd)
        os.unlink(path)
    lat.sort()

    def q(p):
        return lat[min(len(lat) - 1, int(p * len(lat)))]

    print(f"{a.n} x (write {a.bytes} B + fdatasync) in {a.dir}, one every {a.gap_ms} ms: "
          f"p50 {q(.5):.3f} ms, p90 {q(.9):.3f}, p99 {q(.99):.3f}, p99.9 {q(.999):.3f}, "
          f"max {lat[-1]:.3f}")


if __name__ == "__main__":
    main()
