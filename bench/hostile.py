#!/usr/bin/python3
"""hostile.py: a normal publisher's latency and throughput, alone and beside a
client that never reads its replies, in the same run (issue 13's target: p99
within 2x, throughput at least 0.8x).

    bench/hostile.py                       # 3 pairs of 20 s phases, build/csphubd
    bench/hostile.py --seconds 30 --pairs 5 --window 16

Each phase starts a fresh hub (no rules: a log only) and one publisher process
(one DEALER, --window single-event publishes in flight, a fresh id each). In
the hostile phase a second process first sends `stats` requests without
reading until the hub answers it `busy` (its own backlog is full), then keeps
sending --hostile-rate requests a second, never reading, while the publisher
is measured. Phases alternate (alone first, then beside first) to spread
drift. Prints per phase and the medians: events/s, p50 and p99 latency, the
hub's CPU, and the ratios.
"""
import argparse
import multiprocessing as mp
import os
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time

import msgpack
import zmq

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as k:
        k.bind(("127.0.0.1", 0))
        return k.getsockname()[1]


def sock(ctx, ep, **opts):
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    for k, v in opts.items():
        s.setsockopt(getattr(zmq, k), v)
    s.connect(ep)
    return s


def publisher(ep, start_at, stop_at, window, tag, out):
    ctx = zmq.Context()
    s = sock(ctx, ep)
    sent = {}
    lat = []
    n = busy = 0
    while time.time() < start_at:
        time.sleep(0.001)
    while time.time() < stop_at or sent:
        while time.time() < stop_at and len(sent) < window:
            n += 1
            ev = {"id": "%s-%d" % (tag, n), "type": "asb.report", "source": "bench",
                  "occurred_at": "2026-03-01T21:14:00Z", "victim": "V-%d" % (n % 5000),
                  "location": {"lsoa": "E01000916"}, "category": "personal"}
            sent[n] = time.time()
            s.send(msgpack.packb({"op": "publish", "req": n, "event": ev}))
        if not s.poll(10000):
            break
        r = msgpack.unpackb(s.recv(), raw=False)
        t0 = sent.pop(r["req"])
        if r.get("status") == "accepted":
            lat.append(time.time() - t0)
        elif (r.get("error") or {}).get("code") == "busy":
            busy += 1
    s.close()
    ctx.term()
    out.put((lat, busy))


def hostile(ep, ready, stop_at, rate):
    ctx = zmq.Context()
    s = sock(ctx, ep, RCVHWM=100, RCVBUF=4096)
    probe = sock(ctx, ep)
    body = msgpack.packb({"op": "stats"})
    # Fill its own backlog until the hub refuses it.
    while True:
        for _ in range(2000):
            try:
                s.send(body, zmq.NOBLOCK)
            except zmq.Again:
                break
        probe.send(body)
        c = msgpack.unpackb(probe.recv(), raw=False)["counters"]
        if c.get("busy_client", c.get("busy", 0)) > 0 or time.time() > stop_at:
            break
    ready.set()
    # Then a steady stream, sent every 10 ms in a burst so that this process
    # itself costs little CPU (the machine's cores are the publisher's too).
    burst = max(1, int(rate / 100))
    nxt = time.time()
    while time.time() < stop_at:
        for _ in range(burst):
            try:
                s.send(body, zmq.NOBLOCK)
            except zmq.Again:
                break
        nxt += 0.01
        d = nxt - time.time()
        if d > 0:
            time.sleep(d)
    s.close()
    probe.close()
    ctx.term()


def cpu_of(pid):
    with open("/proc/%d/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def phase(args, beside):
    tmp = tempfile.mkdtemp(prefix="csphub-hostile-", dir=args.tmpdir)
    ep = "tcp://127.0.0.1:%d" % free_port()
    cfg = os.path.join(tmp, "hub.yaml")
    with open(cfg, "w") as f:
        f.write("rules_file: none\nlog_level: warn\n")
    log = open(os.path.join(tmp, "hub.log"), "w")
    hub = subprocess.Popen([args.hubd, "--config", cfg, "--data", os.path.join(tmp, "data"),
                            "--listen", ep], stderr=log)
    ctx = zmq.Context()
    p = sock(ctx, ep)
    p.send(msgpack.packb({"op": "ping"}))
    if not p.poll(30000):
        raise SystemExit("hostile.py: the hub did not start (%s)" % tmp)
    p.recv()
    p.close()
    ctx.term()
    out = mp.Queue()
    ready = mp.Event()
    h = None
    if beside:
        h = mp.Process(target=hostile, args=(ep, ready, time.time() + args.seconds + 120,
                                             args.hostile_rate))
        h.start()
        if not ready.wait(120):
            raise SystemExit("hostile.py: the hostile client never met its bound")
    start_at = time.time() + 0.5
    stop_at = start_at + args.seconds
    pub = mp.Process(target=publisher, args=(ep, start_at, stop_at, args.window,
                                             "b%d" % os.getpid(), out))
    pub.start()
    while time.time() < start_at:
        time.sleep(0.01)
    cpu0 = cpu_of(hub.pid)
    lat, busy = out.get()
    cpu = cpu_of(hub.pid) - cpu0
    pub.join()
    if h:
        h.terminate()
        h.join()
    hub.send_signal(signal.SIGTERM)
    hub.wait(60)
    shutil.rmtree(tmp)
    lat.sort()
    return {"eps": len(lat) / args.seconds,
            "p50": 1000 * lat[len(lat) // 2],
            "p99": 1000 * lat[int(0.99 * len(lat))],
            "busy": busy, "cpu": 100 * cpu / args.seconds}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hubd", default=os.environ.get("CSPH_HUBD",
                                                    os.path.join(ROOT, "build", "csphubd")))
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--window", type=int, default=16)
    ap.add_argument("--hostile-rate", type=float, default=2000,
                    help="requests a second the hostile client sends once refused")
    ap.add_argument("--tmpdir", default=None)
    args = ap.parse_args()
    alone, beside = [], []
    for i in range(args.pairs):
        order = (False, True) if i % 2 == 0 else (True, False)
        for b in order:
            r = phase(args, b)
            (beside if b else alone).append(r)
            print("%-7s %8.0f events/s  p50 %6.2f ms  p99 %6.2f ms  busy %d  hub CPU %3.0f%%"
                  % ("beside" if b else "alone", r["eps"], r["p50"], r["p99"], r["busy"],
                     r["cpu"]), flush=True)

    def med(v, k):
        return statistics.median(x[k] for x in v)
    a_eps, b_eps = med(alone, "eps"), med(beside, "eps")
    a_p99, b_p99 = med(alone, "p99"), med(beside, "p99")
    print("median alone:  %.0f events/s, p99 %.2f ms, hub CPU %.0f%%"
          % (a_eps, a_p99, med(alone, "cpu")))
    print("median beside: %.0f events/s, p99 %.2f ms, hub CPU %.0f%%"
          % (b_eps, b_p99, med(beside, "cpu")))
    print("beside/alone: throughput %.2fx (target >= 0.8x), p99 %.2fx (target <= 2x)"
          % (b_eps / a_eps, b_p99 / a_p99))


if __name__ == "__main__":
    main()
