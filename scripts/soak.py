#!/usr/bin/python3
"""soak.py: every hostile client beside normal publishers, for as long as you like.

Not part of the test suite: a long run an operator or a developer starts by hand.

    scripts/soak.py --minutes 10                 # starts its own hub (build/csphubd)
    scripts/soak.py --minutes 60 --endpoint tcp://127.0.0.1:7450   # a running hub

Each role runs in its own process (Debian's python3-zmq and python3-msgpack):

  normal      --publishers publishers, each a DEALER with a few requests in flight,
              single events and batches of 10, resending what got no reply
              (timeout) or `busy`; every reply's latency is recorded
  non-reader  sends `stats` requests and never reads a reply
  huge-map    a 100,000-key request map (900 KB) every second
  utf8        requests with invalid UTF-8 where the hub quotes them; checks each
              reply strictly (raw=False)
  fetch-hold  opens a connection, holds 64 fetches (wait_ms 30000), disconnects
  rejects     a batch of 500 events that break their schema (900 bytes each) a second
  churn       opens a connection, pings, closes, over and over

At the end it replays the whole log and prints, for the events the normal
publishers got `accepted` or `duplicate` for: how many are missing from the log
(lost) and how many the log holds more than once (duplicated); both must be 0.
Then the normal clients' latency percentiles, and the hub's counters. Exit
status 0 when nothing was lost or duplicated and no normal request was answered
`busy`, 1 otherwise.
"""
import argparse
import multiprocessing as mp
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import msgpack
import zmq

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def unpack(raw):
    return msgpack.unpackb(raw, raw=False, strict_map_key=False)


def event(pub, i, person):
    return {"id": "soak-%s-%d" % (pub, i), "type": "asb.report", "source": "soak-%s" % pub,
            "occurred_at": "2026-03-01T21:14:00Z", "victim": "V-%d" % person,
            "location": {"lsoa": "E01000916"}, "category": "personal"}


def dealer(ctx, endpoint, **opts):
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    for k, v in opts.items():
        s.setsockopt(getattr(zmq, k), v)
    s.connect(endpoint)
    return s


def normal(endpoint, pub, stop_at, window, out):
    """Publish until stop_at; resend what got no reply in 5 s or got busy.
    Sends its acked ids, latencies and busy count to out."""
    ctx = zmq.Context()
    s = dealer(ctx, endpoint)
    acked = {}       # id -> seq
    lat = []
    busy = errors = 0
    pending = {}     # req -> (ids, sent_at, body)
    nxt = 0
    req = 0
    while time.time() < stop_at or pending:
        while time.time() < stop_at and len(pending) < window:
            batch = 10 if nxt % 7 == 0 else 1
            evs = [event(pub, nxt + k, (nxt + k) % 5000) for k in range(batch)]
            nxt += batch
            req += 1
            body = ({"op": "publish", "req": req, "events": evs} if batch > 1 else
                    {"op": "publish", "req": req, "event": evs[0]})
            raw = msgpack.packb(body)
            pending[req] = ([e["id"] for e in evs], time.time(), raw)
            s.send(raw)
        if not s.poll(100):
            now = time.time()
            for r, (ids, t0, raw) in list(pending.items()):
                if now - t0 > 5:  # no reply: resend, as the protocol says
                    pending[r] = (ids, now, raw)
                    s.send(raw)
            if time.time() > stop_at + 60:
                break
            continue
        rep = unpack(s.recv())
        r = rep.get("req")
        if r not in pending:
            continue  # a late reply to a resent request
        ids, t0, raw = pending.pop(r)
        lat.append(time.time() - t0)
        if rep.get("ok") is False and (rep.get("error") or {}).get("code") == "busy":
            busy += 1
            pending[r] = (ids, time.time(), raw)
            s.send(raw)
            continue
        results = rep.get("results") if "results" in rep else [rep]
        for eid, res in zip(ids, results):
            if res.get("status") in ("accepted", "duplicate"):
                acked[eid] = res.get("seq")
            else:
                errors += 1
    s.close()
    ctx.term()
    out.put(("normal", pub, acked, lat, busy, errors))


def non_reader(endpoint, stop_at, out):
    ctx = zmq.Context()
    s = dealer(ctx, endpoint, RCVHWM=100, RCVBUF=4096)
    body = msgpack.packb({"op": "stats"})
    sent = 0
    while time.time() < stop_at:
        try:
            s.send(body, zmq.NOBLOCK)
            sent += 1
        except zmq.Again:
            time.sleep(0.01)
        if sent % 200 == 0:
            time.sleep(0.01)  # a steady hostile, not a CPU burner on our side
    s.close()
    ctx.term()
    out.put(("non-reader", sent))


def huge_map(endpoint, stop_at, out):
    ctx = zmq.Context()
    s = dealer(ctx, endpoint)
    m = {"op": "ping"}
    for i in range(100000):
        m["k%05d" % i] = 1
    body = msgpack.packb(m)
    n = ok = 0
    worst = 0.0
    while time.time() < stop_at:
        t0 = time.time()
        s.send(body)
        if s.poll(30000):
            r = unpack(s.recv())
            worst = max(worst, time.time() - t0)
            ok += (r.get("error") or {}).get("code") == "bad_request"
        n += 1
        time.sleep(1)
    s.close()
    ctx.term()
    out.put(("huge-map", n, ok, worst))


def bad_utf8(endpoint, stop_at, out):
    ctx = zmq.Context()
    s = dealer(ctx, endpoint)

    def s8(b):
        return bytes([0xa0 | len(b)]) + b
    bodies = [
        b"\x81" + s8(b"op") + s8(b"\xff\xfe"),
        b"\x82" + s8(b"op") + s8(b"ping") + s8(b"\xc3\x28") + b"\x01",
        b"\x82" + s8(b"op") + s8(b"ping") + s8(b"req") + s8(b"\xff"),
        b"\x82" + s8(b"op") + s8(b"ping") + s8(b"req") + b"\x81\xa1a\x01",
        b"\x82" + s8(b"op") + s8(b"publish") + s8(b"event") + b"\x82" + s8(b"type")
        + s8(b"asb.report") + s8(b"\xf8x") + b"\x01",
    ]
    n = strict_failures = 0
    while time.time() < stop_at:
        for b in bodies:
            s.send(b)
            if s.poll(10000):
                try:
                    unpack(s.recv())
                except ValueError:
                    strict_failures += 1
            n += 1
        time.sleep(0.05)
    s.close()
    ctx.term()
    out.put(("utf8", n, strict_failures))


def fetch_holder(endpoint, stop_at, out):
    ctx = zmq.Context()
    rounds = 0
    while time.time() < stop_at:
        s = dealer(ctx, endpoint)
        for i in range(64):
            s.send(msgpack.packb({"op": "fetch", "panel": "marac", "consumer": "h%d" % i,
                                  "wait_ms": 30000}))
        time.sleep(0.5)
        s.close()
        rounds += 1
    ctx.term()
    out.put(("fetch-hold", rounds))


def rejects(endpoint, stop_at, out):
    ctx = zmq.Context()
    s = dealer(ctx, endpoint)
    n = 0
    while time.time() < stop_at:
        evs = [{"id": "bad-%d-%d" % (n, k), "type": "asb.report", "source": "soak-bad",
                "occurred_at": "not a time", "summary": "x" * 800} for k in range(500)]
        s.send(msgpack.packb({"op": "publish", "events": evs}))
        if s.poll(30000):
            s.recv()
        n += 1
        time.sleep(1)
    s.close()
    ctx.term()
    out.put(("rejects", n))


def churn(endpoint, stop_at, out):
    ctx = zmq.Context()
    n = 0
    while time.time() < stop_at:
        s = dealer(ctx, endpoint)
        s.send(msgpack.packb({"op": "ping"}))
        s.poll(1000)
        s.close()
        n += 1
    ctx.term()
    out.put(("churn", n))


def free_port():
    with socket.socket() as k:
        k.bind(("127.0.0.1", 0))
        return k.getsockname()[1]


def replay_all(endpoint):
    ctx = zmq.Context()
    s = dealer(ctx, endpoint)
    seen = {}
    after = 0
    while True:
        s.send(msgpack.packb({"op": "replay", "after": after, "max": 10000}))
        if not s.poll(60000):
            raise SystemExit("soak: replay got no reply")
        r = unpack(s.recv())
        for e in r["events"]:
            ev = msgpack.unpackb(e["event"], raw=False) if isinstance(e["event"], bytes) \
                else e["event"]
            key = (ev.get("source"), ev.get("id"))
            seen.setdefault(key, []).append(e["seq"])
        after = r["next"]
        if r["end"]:
            break
    s.send(msgpack.packb({"op": "stats"}))
    stats = unpack(s.recv())["counters"] if s.poll(10000) else {}
    s.close()
    ctx.term()
    return seen, stats


def pct(v, p):
    if not v:
        return float("nan")
    v = sorted(v)
    return v[min(len(v) - 1, int(p / 100.0 * len(v)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--endpoint", help="a running hub (default: start one)")
    ap.add_argument("--hubd", default=os.environ.get("CSPH_HUBD",
                                                    os.path.join(ROOT, "build", "csphubd")))
    ap.add_argument("--publishers", type=int, default=3)
    ap.add_argument("--window", type=int, default=4, help="requests in flight per publisher")
    args = ap.parse_args()

    tmp = proc = None
    endpoint = args.endpoint
    if not endpoint:
        tmp = tempfile.mkdtemp(prefix="csphub-soak-")
        endpoint = "tcp://127.0.0.1:%d" % free_port()
        cfg = os.path.join(tmp, "hub.yaml")
        with open(cfg, "w") as f:
            f.write("rules_file: none\nlog_level: info\n")
        log = open(os.path.join(tmp, "hub.log"), "w")
        proc = subprocess.Popen([args.hubd, "--config", cfg, "--data", os.path.join(tmp, "data"),
                                 "--listen", endpoint], stderr=log)
        ctx = zmq.Context()
        s = dealer(ctx, endpoint)
        s.send(msgpack.packb({"op": "ping"}))
        if not s.poll(30000):
            raise SystemExit("soak: the hub did not start (log in %s)" % tmp)
        s.close()
        ctx.term()
    stop_at = time.time() + args.minutes * 60
    out = mp.Queue()
    roles = [mp.Process(target=normal, args=(endpoint, "p%d" % i, stop_at, args.window, out))
             for i in range(args.publishers)]
    roles += [mp.Process(target=f, args=(endpoint, stop_at, out))
              for f in (non_reader, huge_map, bad_utf8, fetch_holder, rejects, churn)]
    t0 = time.time()
    hub_cpu0 = cpu_of(proc)
    for p in roles:
        p.start()
    results = [out.get() for _ in roles]
    for p in roles:
        p.join()
    elapsed = time.time() - t0
    hub_cpu = cpu_of(proc) - hub_cpu0 if proc else float("nan")
    seen, stats = replay_all(endpoint)

    acked = {}
    lat = []
    busy = errors = 0
    for r in results:
        if r[0] == "normal":
            for eid, seq in r[2].items():
                acked[("soak-%s" % r[1], eid)] = seq
            lat += r[3]
            busy += r[4]
            errors += r[5]
    lost = sum(1 for k in acked if k not in seen)
    dup = sum(1 for k in acked if len(seen.get(k, [])) > 1)
    wrong_seq = sum(1 for k, q in acked.items() if k in seen and q not in seen[k])
    print("soak: %.1f minutes, %d normal publishers, hub CPU %.0f%% of one core"
          % (elapsed / 60, args.publishers, 100 * hub_cpu / elapsed if proc else float("nan")))
    print("acknowledged events: %d; lost %d; duplicated %d; acknowledged with a seq the log "
          "does not give them %d" % (len(acked), lost, dup, wrong_seq))
    print("normal requests: %d answered; busy %d; other errors %d; throughput %.0f events/s"
          % (len(lat), busy, errors, len(acked) / elapsed))
    print("normal latency ms: p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f"
          % tuple(1000 * pct(lat, p) for p in (50, 90, 99, 99.9, 100)))
    for r in results:
        if r[0] != "normal":
            print("hostile %s: %s" % (r[0], r[1:]))
    keys = ("busy", "busy_client", "replies_held", "replies_dropped", "replies_waiting",
            "connections", "connections_accepted", "connections_refused", "fetches_held",
            "fetches_released", "malformed", "rejected_total", "accepted", "duplicate")
    print("hub stats: " + ", ".join("%s %s" % (k, stats.get(k)) for k in keys))
    if proc:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        shutil.rmtree(tmp)
    sys.exit(0 if lost == 0 and dup == 0 and wrong_seq == 0 and busy == 0 else 1)


def cpu_of(proc):
    if not proc:
        return 0.0
    with open("/proc/%d/stat" % proc.pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
