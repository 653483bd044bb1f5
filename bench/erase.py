#!/usr/bin/python3
"""erase.py: what an erasure costs (issue 17): the dry run and the applied
erasure of one person with K events in a log of N events, timed from the
request to its acknowledgement, then csphubd --compact on the stopped hub.
A benchmark, not a test: it prints figures.

    bench/erase.py                          # N 200,000, K 1,000, build/csphubd
    bench/erase.py --events 1000000 --person-events 1000
    bench/erase.py --hubd /usr/sbin/csphubd --tmpdir /var/tmp

Uses Debian's python3-zmq and python3-msgpack (like bench/hostile.py). The
events are da.incident, the person named as perpetrator beside a victim in
every K-th one (so each erased event is rewritten, the victim kept), the
rest naming other people. With --alerts the default rules run, so the log
carries a MARAC alert per incident and the erasure reads every alert's record
(hub/alertredact.c: an alert may name the person in its reason only).
"""
import argparse
import os
import shutil
import socket
import subprocess
import tempfile
import time

import msgpack
import zmq


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def call(sk, req, timeout_ms=600000):
    sk.send(msgpack.packb(req))
    if not sk.poll(timeout_ms):
        raise SystemExit("erase.py: no reply to %s" % req.get("op"))
    return msgpack.unpackb(sk.recv(), raw=False)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--hubd", default=os.environ.get(
        "CSPH_HUBD", os.path.join(here, "..", "build", "csphubd")))
    ap.add_argument("--events", type=int, default=200000, help="events in the log (N)")
    ap.add_argument("--person-events", type=int, default=1000,
                    help="events naming the person erased (K)")
    ap.add_argument("--tmpdir", default=None)
    ap.add_argument("--keep", action="store_true", help="keep the data directory")
    ap.add_argument("--victim", action="store_true",
                    help="the person is the victim, alone, in their events: each is left "
                         "naming nobody (removed), and with --alerts their alerts are "
                         "keyed on them")
    ap.add_argument("--alerts", action="store_true",
                    help="run the default rules: every incident raises a MARAC alert "
                         "(the erasure then reads every alert's record for the person)")
    args = ap.parse_args()
    n, k = args.events, args.person_events
    if not 0 < k <= n:
        raise SystemExit("erase.py: --person-events must be 1 to --events")
    tmp = tempfile.mkdtemp(prefix="csphub-erase-bench-", dir=args.tmpdir)
    data = os.path.join(tmp, "data")
    cfg = os.path.join(tmp, "hub.yaml")
    with open(cfg, "w") as f:
        f.write(("" if args.alerts else "rules_file: none\n") + "log_level: warn\n")
    ep = "tcp://127.0.0.1:%d" % free_port()
    log = open(os.path.join(tmp, "hub.log"), "w")
    hub = subprocess.Popen([args.hubd, "--config", cfg, "--data", data, "--listen", ep],
                           stderr=log)
    ctx = zmq.Context()
    sk = ctx.socket(zmq.DEALER)
    sk.setsockopt(zmq.LINGER, 0)
    sk.connect(ep)
    call(sk, {"op": "ping"}, 30000)
    every = n // k
    t0 = time.monotonic()
    batch = []
    for i in range(n):
        named = i % every == 0 and i // every < k
        ev = {"id": "b%d" % i, "type": "da.incident", "source": "police",
              "occurred_at": "2025-%02d-%02dT10:00:00Z" % (1 + i % 12, 1 + i % 28),
              "victim": "V-%d" % (i % 50000),
              "perpetrator": "P-ERASE" if named else "Z-%d" % (i % 70000),
              "risk": "high"}
        if named and args.victim:
            ev["victim"] = "P-ERASE"
            del ev["perpetrator"]
        batch.append(ev)
        if len(batch) == 1000 or i == n - 1:
            r = call(sk, {"op": "publish", "events": batch})
            if not r.get("ok"):
                raise SystemExit("erase.py: publish refused: %s" % r)
            batch = []
    load_s = time.monotonic() - t0
    req = {"op": "erase", "person": "P-ERASE", "reason": "bench", "requested_by": "bench"}
    t0 = time.monotonic()
    dry = call(sk, req)
    dry_s = time.monotonic() - t0
    t0 = time.monotonic()
    done = call(sk, dict(req, apply=True))
    apply_s = time.monotonic() - t0
    if not done.get("ok") or done.get("count") != k:
        raise SystemExit("erase.py: erasure failed: %s" % done)
    alerts = 0
    if args.alerts:
        alerts = sum(call(sk, {"op": "stats"})["counters"]["alerts"].values())
    sk.close()
    ctx.term()
    hub.terminate()
    hub.wait(60)
    size = os.path.getsize(os.path.join(data, "data.mdb"))
    t0 = time.monotonic()
    out = subprocess.run([args.hubd, "--compact", "--config", cfg, "--data", data],
                         capture_output=True, text=True)
    compact_s = time.monotonic() - t0
    t0 = time.monotonic()
    ver = subprocess.run([args.hubd, "--verify", "--config", cfg, "--data", data],
                         capture_output=True, text=True)
    verify_s = time.monotonic() - t0
    print("log: %d events (loaded in %.1f s), %d naming the person; data.mdb %.1f MB"
          % (n, load_s, k, size / 1e6))
    print("erase dry run:   %.3f s" % dry_s)
    print("erase --apply:   %.3f s  (%d events rewritten, %d dp.erasure events%s)"
          % (apply_s, done["count"], len(done.get("erasures", [])),
             ", %d alerts in the queues, %d redacted" % (alerts, done.get("alerts", 0))
             if args.alerts else ""))
    print("--compact:       %.2f s  (%s)" % (compact_s, (out.stdout or out.stderr).strip()))
    print("--verify:        %.2f s  (%s)" % (verify_s, (ver.stdout or ver.stderr).strip()))
    if not args.keep:
        shutil.rmtree(tmp)
    return 0 if out.returncode == 0 and ver.returncode == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
