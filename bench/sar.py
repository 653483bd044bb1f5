#!/usr/bin/python3
"""sar.py: what a subject access export costs (issue 17, point 5): one person
with K events in a log of N events, the `sar` op timed from the first request
to the last page, then `csphub sar` (pages, review pack and disclosure copy
in JSON and HTML) timed as a DPO runs it. A benchmark, not a test.

    bench/sar.py                               # N 200,000, K 1,000, build/
    bench/sar.py --events 1000000 --person-events 1000
    bench/sar.py --data /var/tmp/sar-10m/data  # an existing log (a COPY: K events are added)

Uses Debian's python3-zmq and python3-msgpack (like bench/erase.py). The
person's events are da.incident (the person the victim, a perpetrator beside:
a third party in each), every tenth a concern of kind radicalisation (raising
a Channel alert: restricted material the disclosure leaves out). The hub runs
the default rules, so the person also has MARAC and Channel alerts. Every
event seq of the person and alert id is looked up in the read index whether
or not a read returned it, so the figure holds that cost (security none
records no reads).
"""
import argparse
import json
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
        raise SystemExit("sar.py: no reply to %s" % req.get("op"))
    return msgpack.unpackb(sk.recv(), raw=False)


def publish(sk, batch):
    r = call(sk, {"op": "publish", "events": batch})
    if not r.get("ok"):
        raise SystemExit("sar.py: publish refused: %s" % r)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.join(here, "..")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--build", default=os.path.join(root, "build"))
    ap.add_argument("--events", type=int, default=200000, help="events in a new log (N)")
    ap.add_argument("--person-events", type=int, default=1000, help="events naming the person (K)")
    ap.add_argument("--data", default=None,
                    help="an existing data directory to add the person to (a copy: it is written)")
    ap.add_argument("--tmpdir", default=None)
    args = ap.parse_args()
    hubd = os.path.join(args.build, "csphubd")
    cli = os.path.join(args.build, "cli", "csphub")
    k = args.person_events
    tmp = tempfile.mkdtemp(prefix="csphub-sar-bench-", dir=args.tmpdir)
    data = args.data or os.path.join(tmp, "data")
    cfg = os.path.join(tmp, "hub.yaml")
    with open(cfg, "w") as f:
        f.write("log_level: warn\nschemas_dir: %s\npanels_file: %s\nrules_file: %s\n" % (
            os.path.join(root, "schemas"), os.path.join(root, "config", "panels.yaml"),
            os.path.join(root, "config", "rules.yaml")))
    ep = "tcp://127.0.0.1:%d" % free_port()
    log = open(os.path.join(tmp, "hub.log"), "w")
    t0 = time.monotonic()
    hub = subprocess.Popen([hubd, "--config", cfg, "--data", data, "--listen", ep], stderr=log)
    try:
        return run(args, cli, k, tmp, data, ep, hub, t0)
    finally:
        if hub.poll() is None:
            hub.terminate()
            hub.wait(120)
        shutil.rmtree(tmp)


def run(args, cli, k, tmp, data, ep, hub, t0):
    ctx = zmq.Context()
    sk = ctx.socket(zmq.DEALER)
    sk.setsockopt(zmq.LINGER, 0)
    sk.connect(ep)
    last = call(sk, {"op": "ping"}, 600000)
    start_s = time.monotonic() - t0
    tag = "%x" % int(time.time())
    person = "P-SAR-" + tag
    n_new = 0 if args.data else args.events
    every = max(1, n_new // k) if n_new else 1
    batch = []
    t0 = time.monotonic()
    named = 0
    i = 0
    while named < k or i < n_new:
        is_person = named < k and (not n_new or i % every == 0)
        if is_person and named % 10 == 9:
            ev = {"id": "s%s-%d" % (tag, i), "type": "concern", "source": "council",
                  "occurred_at": "2025-%02d-%02dT10:00:00Z" % (1 + i % 12, 1 + i % 28),
                  "subject": person, "kind": "radicalisation"}
        else:
            ev = {"id": "s%s-%d" % (tag, i), "type": "da.incident", "source": "police",
                  "occurred_at": "2025-%02d-%02dT10:00:00Z" % (1 + i % 12, 1 + i % 28),
                  "victim": person if is_person else "V-%d" % (i % 50000),
                  "perpetrator": "Z-%d" % (i % 70000), "risk": "standard"}
        named += is_person
        batch.append(ev)
        i += 1
        if len(batch) == 1000:
            publish(sk, batch)
            batch = []
    if batch:
        publish(sk, batch)
    load_s = time.monotonic() - t0
    # the op alone: every page
    t0 = time.monotonic()
    r = call(sk, {"op": "sar", "person": person, "reason": "bench", "requested_by": "bench"})
    pages, events, alerts = 1, len(r["events"]), len(r["alerts"])
    first_s = time.monotonic() - t0
    while r.get("ok") and not r["end"]:
        r = call(sk, {"op": "sar", "person": person, "requested_by": "bench",
                      "request": r["request"], "events_after": r["events_next"],
                      "alerts_after": r["alerts_next"], "reads_after": r["reads_next"]})
        pages += 1
        events += len(r["events"])
        alerts += len(r["alerts"])
    op_s = time.monotonic() - t0
    if not r.get("ok") or events != k:
        raise SystemExit("sar.py: export failed or short (%d of %d events): %s" % (events, k, r))
    stats = call(sk, {"op": "ping"})
    # the command, as a DPO runs it
    out = os.path.join(tmp, "export")
    t0 = time.monotonic()
    c = subprocess.run([cli, "--hub", ep, "--timeout", "10m", "--json", "sar", "--person",
                        person, "--reason", "bench 2", "--out", out],
                       capture_output=True, text=True)
    cmd_s = time.monotonic() - t0
    if c.returncode != 0:
        raise SystemExit("sar.py: csphub sar failed: %s" % c.stdout + c.stderr)
    summary = json.loads(c.stdout)
    sizes = {f: os.path.getsize(os.path.join(out, f)) for f in sorted(os.listdir(out))}
    sk.close()
    ctx.term()
    print("log: %d events before (hub up in %.1f s), %d added in %.1f s; person %s: %d events,"
          " %d alerts" % (last.get("last_seq", 0) if isinstance(last, dict) else 0, start_s,
                          i, load_s, person, events, alerts))
    print("sar op: first page %.3f s, all %d pages %.3f s" % (first_s, pages, op_s))
    print("csphub sar (pages, review + disclosure, JSON + HTML): %.3f s; disclosed %d events,"
          " %d alerts" % (cmd_s, summary["disclosed_events"], summary["disclosed_alerts"]))
    print("files: %s" % ", ".join("%s %.0f KB" % (f, s / 1e3) for f, s in sizes.items()))
    print("hub: %d events in the log now" % stats.get("last_seq", 0))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
