#!/usr/bin/python3
"""interop: CSPH/1 from a client that is not ours.

Debian's python3-zmq and python3-msgpack only (stdlib otherwise), run by
/usr/bin/python3. Starts csphubd ($CSPH_HUBD) on a free loopback port with a
temporary data directory, and checks with both a DEALER and a REQ socket
what PROTOCOL.md promises any stock client: publish (accepted, duplicate,
rejected with code and field), a batch, replay (events equal what was sent,
byte for byte), rejects, then a clean SIGTERM stop (exit 0). Then an auditor's
own check of the log's hash chain (scripts/check-chain.py: Debian's
python3-lmdb and hashlib, no code of ours) agrees with `csphubd --verify`,
on the intact log and after one byte of an event is changed.

Prints "interop: N passed, M failed" last; exits non-zero on any failure.
"""
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

import msgpack
import zmq

PASSED = 0
FAILED = 0


def check(cond, what, detail=None):
    """Count one check; report a failure with what was seen."""
    global PASSED, FAILED
    if cond:
        PASSED += 1
    else:
        FAILED += 1
        print("FAIL: %s%s" % (what, "" if detail is None else ": %r" % (detail,)), flush=True)
    return cond


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """One ZeroMQ socket speaking CSPH/1 with deadlines (never sleeps)."""

    def __init__(self, ctx, endpoint, kind):
        self.kind = kind
        self.sock = ctx.socket(kind)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)

    def send_raw(self, body):
        self.sock.send(body)

    def recv_raw(self, timeout_ms):
        if not self.sock.poll(timeout_ms, zmq.POLLIN):
            return None
        return self.sock.recv()

    def call_raw(self, body, timeout_ms=10000):
        self.send_raw(body)
        raw = self.recv_raw(timeout_ms)
        if raw is None:
            raise TimeoutError("no reply within %d ms" % timeout_ms)
        return raw

    def call(self, request, timeout_ms=10000):
        return unpack(self.call_raw(msgpack.packb(request, use_bin_type=True), timeout_ms))

    def close(self):
        self.sock.close(0)


def unpack(raw):
    return msgpack.unpackb(raw, raw=False, strict_map_key=False)


def wait_ready(ctx, endpoint, proc, deadline_s=20.0):
    """Ping until the hub answers, within a deadline; each try bounded."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        c = Client(ctx, endpoint, zmq.DEALER)
        try:
            c.send_raw(msgpack.packb({"op": "ping"}))
            raw = c.recv_raw(200)
            if raw is not None and unpack(raw).get("ok") is True:
                return True
        finally:
            c.close()
    return False


def asb(event_id, victim="P-1", category="personal", source="police"):
    return {
        "id": event_id,
        "type": "asb.report",
        "source": source,
        "occurred_at": "2025-03-01T21:14:00Z",
        "victim": victim,
        "location": {"lsoa": "E01000916"},
        "category": category,
    }


def run(endpoint):
    ctx = zmq.Context()
    dealer = Client(ctx, endpoint, zmq.DEALER)
    req = Client(ctx, endpoint, zmq.REQ)
    sent = []  # (seq, packed event bytes) of every accepted event, in order
    # A hub with rules puts the rule set in force in the log first: seq 1 is
    # its rules.loaded event (source "hub"); the test's events follow.
    base = 1
    try:
        # ---- ping ----
        for name, c in (("DEALER", dealer), ("REQ", req)):
            r = c.call({"op": "ping", "req": name})
            check(r.get("ok") is True, name + " ping ok", r)
            check(r.get("req") == name, name + " ping echoes req", r)
            check("CSPH/1" in str(r.get("version")), name + " ping names CSPH/1", r)
            check(r.get("last_seq") == base,
                  name + " ping last_seq %d on a new log (the hub's rules.loaded)" % base, r)

        r = dealer.call({"op": "replay", "types": ["rules.loaded"]})
        check([(e["seq"], e["event"]["source"]) for e in r.get("events", [])] == [(1, "hub")],
              "seq 1 is the hub's record of its rules", r.get("events"))

        # ---- publish: accepted, duplicate, rejected ----
        seq = base
        for name, c in (("DEALER", dealer), ("REQ", req)):
            ev = asb("py-%s-1" % name.lower())
            body = msgpack.packb(ev, use_bin_type=True)
            r = c.call({"op": "publish", "req": 1, "event": ev})
            seq += 1
            check(r.get("ok") is True and r.get("status") == "accepted",
                  name + " publish accepted", r)
            check(r.get("seq") == seq, name + " publish seq %d" % seq, r)
            check(r.get("req") == 1, name + " publish echoes req", r)
            sent.append((seq, body))
            r = c.call({"op": "publish", "req": b"\x00\x01", "event": ev})
            check(r.get("ok") is True and r.get("status") == "duplicate",
                  name + " resend is duplicate", r)
            check(r.get("seq") == seq, name + " duplicate has the original seq", r)
            check(r.get("req") == b"\x00\x01", name + " bin req echoed", r)
            bad = asb("py-%s-bad" % name.lower(), category="loud")
            r = c.call({"op": "publish", "event": bad})
            check(r.get("ok") is False and r.get("status") == "rejected",
                  name + " bad event rejected", r)
            err = r.get("error") or {}
            check(err.get("code") == "bad_event", name + " rejection code bad_event", r)
            check(err.get("field") == "category", name + " rejection field category", r)
            check(isinstance(err.get("message"), str) and err.get("message"),
                  name + " rejection has a message", r)
            r = c.call({"op": "publish", "event": asb(ev["id"], category="nuisance")})
            check((r.get("error") or {}).get("code") == "id_conflict",
                  name + " changed content under the same id is id_conflict", r)
            check((r.get("error") or {}).get("field") == "id", name + " id_conflict field id", r)
            r = c.call({"op": "frobnicate", "req": "x"})
            check((r.get("error") or {}).get("code") == "bad_op", name + " unknown op", r)
            check(r.get("req") == "x", name + " req echoed on an error", r)
            r = unpack(c.call_raw(b"\xc1"))
            check((r.get("error") or {}).get("code") == "bad_request",
                  name + " non-MessagePack is bad_request", r)
            r = c.call({"op": "ping"})
            check(r.get("ok") is True and "req" not in r,
                  name + " no req in the reply when none was sent", r)

        # ---- a batch with mixed results ----
        for name, c in (("DEALER", dealer), ("REQ", req)):
            events = [
                asb("py-%s-b1" % name.lower(), victim="P-2"),
                asb("py-%s-1" % name.lower()),  # duplicate of the first publish
                {"id": "py-%s-b3" % name.lower(), "type": "call", "source": "council",
                 "occurred_at": "2025-03-02T08:00:00+01:00", "caller": "P-3",
                 "category": "welfare"},
                {"id": "py-%s-b4" % name.lower(), "type": "referral", "source": "council",
                 "occurred_at": "2025-03-02T08:00:00Z", "subject": "P-4", "panel": "nope",
                 "reason": "r"},
                dict(asb("py-%s-b5" % name.lower()), colour="red"),
            ]
            r = c.call({"op": "publish", "req": 7, "events": events})
            res = r.get("results") or []
            check(r.get("ok") is True and len(res) == 5, name + " batch: 5 results", r)
            if len(res) == 5:
                check(res[0].get("status") == "accepted" and res[0].get("seq") == seq + 1,
                      name + " batch event 0 accepted", res[0])
                dup_seq = sent[0][0] if name == "DEALER" else sent[1][0]
                check(res[1].get("status") == "duplicate" and res[1].get("seq") == dup_seq,
                      name + " batch event 1 duplicate", res[1])
                check(res[2].get("status") == "accepted" and res[2].get("seq") == seq + 2,
                      name + " batch event 2 accepted", res[2])
                check(res[3].get("status") == "rejected"
                      and (res[3].get("error") or {}).get("code") == "unknown_panel"
                      and (res[3].get("error") or {}).get("field") == "events.3.panel",
                      name + " batch event 3 unknown_panel at events.3.panel", res[3])
                check(res[4].get("status") == "rejected"
                      and (res[4].get("error") or {}).get("code") == "bad_event"
                      and (res[4].get("error") or {}).get("field") == "events.4.colour",
                      name + " batch event 4 bad_event at events.4.colour", res[4])
            sent.append((seq + 1, msgpack.packb(events[0], use_bin_type=True)))
            sent.append((seq + 2, msgpack.packb(events[2], use_bin_type=True)))
            seq += 2

        # ---- pipelining on the DEALER: replies matched by req ----
        n = 50
        for i in range(n):
            dealer.send_raw(msgpack.packb(
                {"op": "publish", "req": i, "event": asb("py-pipe-%d" % i)}))
        seen = {}
        end = time.monotonic() + 20
        while len(seen) < n and time.monotonic() < end:
            raw = dealer.recv_raw(max(1, int((end - time.monotonic()) * 1000)))
            if raw is None:
                break
            r = unpack(raw)
            seen[r.get("req")] = r
        check(sorted(seen) == list(range(n)), "all %d pipelined replies arrived" % n,
              sorted(seen))
        seqs = sorted(r.get("seq") for r in seen.values() if r.get("status") == "accepted")
        check(seqs == list(range(seq + 1, seq + n + 1)), "pipelined seqs gap-free", seqs)
        for i in range(n):
            if i in seen:
                sent.append((seen[i]["seq"],
                             msgpack.packb(asb("py-pipe-%d" % i), use_bin_type=True)))
        seq += n
        sent.sort()

        # ---- replay: what was sent, in order, byte for byte ----
        for name, c in (("DEALER", dealer), ("REQ", req)):
            got = []
            after = base
            for _ in range(100):
                raw = c.call_raw(msgpack.packb({"op": "replay", "after": after, "max": 7}))
                r = unpack(raw)
                if not check(r.get("ok") is True, name + " replay ok", r):
                    break
                got.extend(r.get("events") or [])
                if r.get("end") is True:
                    break
                after = r.get("next")
            check([e.get("seq") for e in got] == [s for s, _ in sent],
                  name + " replay returns every accepted seq in order",
                  [e.get("seq") for e in got])
            for (s, body), e in zip(sent, got):
                ev = msgpack.unpackb(body, raw=False)
                if not check(e.get("event") == ev, name + " replayed event %d equals the sent" % s,
                             e):
                    break
                if not check(msgpack.packb(e.get("event"), use_bin_type=True) == body,
                             name + " replayed event %d is byte-exact" % s):
                    break
                if not check(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$",
                                      str(e.get("received_at"))),
                             name + " received_at is RFC 3339", e.get("received_at")):
                    break
            r = c.call({"op": "replay", "types": ["call"]})
            check([e["event"]["type"] for e in r.get("events", [])] == ["call", "call"],
                  name + " replay filtered by type", r.get("events"))
            r = c.call({"op": "replay", "person": "P-3"})
            check([e["event"]["caller"] for e in r.get("events", [])] == ["P-3", "P-3"],
                  name + " replay filtered by person", r.get("events"))
            r = c.call({"op": "replay", "since": "2025-03-02T00:00:00Z"})
            check(len([e for e in r.get("events", []) if e["event"]["source"] != "hub"]) == 2,
                  name + " replay filtered by since", r.get("events"))
            r = c.call({"op": "replay", "colour": 1})
            check((r.get("error") or {}).get("code") == "bad_request",
                  name + " replay with an unknown field is bad_request", r)

        # ---- rejects: kept, byte for byte ----
        r = req.call({"op": "rejects"})
        rejects = r.get("rejects") or []
        check(r.get("ok") is True and r.get("end") is True, "rejects ok", r)
        # per client: bad category, id_conflict; per batch: unknown_panel, bad_event
        check([x.get("error", {}).get("code") for x in rejects] ==
              ["bad_event", "id_conflict"] * 2 + ["unknown_panel", "bad_event"] * 2,
              "rejects: every rejection kept, in order",
              [x.get("error", {}).get("code") for x in rejects])
        check([x.get("id") for x in rejects] == list(range(1, len(rejects) + 1)),
              "rejects: ids gap-free from 1", [x.get("id") for x in rejects])
        if rejects:
            first = rejects[0]
            want = msgpack.packb(asb("py-dealer-bad", category="loud"), use_bin_type=True)
            check(first.get("bytes") == want, "rejects: bytes are the event as sent", first)
            check(first.get("source") == "police", "rejects: source kept", first)
            check(first.get("error", {}).get("field") == "category", "rejects: field kept", first)
        r = dealer.call({"op": "rejects", "after": 2, "max": 2})
        check([x.get("id") for x in r.get("rejects", [])] == [3, 4] and r.get("end") is False,
              "rejects paged", r)

        # ---- stats ----
        r = dealer.call({"op": "stats"})
        counters = r.get("counters") or {}
        check(counters.get("accepted") == seq - base, "stats: accepted", counters)
        check(counters.get("duplicate") == 4, "stats: duplicate", counters)
        check((counters.get("rejected") or {}).get("bad_event") == 4,
              "stats: rejected by code", counters)

        r = req.call({"op": "ping"})
        check(r.get("last_seq") == seq, "ping last_seq after everything", r)

        # ---- alerts: a held fetch (DEALER) answered by a publish (REQ) ----
        dealer.send_raw(msgpack.packb({"op": "fetch", "req": "held", "panel": "marac",
                                       "consumer": "py", "wait_ms": 20000}))
        da = {"id": "py-da-1", "type": "da.incident", "source": "police",
              "occurred_at": "2025-04-01T22:00:00Z", "victim": "P-77", "dash_score": 16}
        r = req.call({"op": "publish", "event": da})
        check(r.get("status") == "accepted", "REQ publishes a high-risk incident", r)
        r = unpack(dealer.recv_raw(20000))
        alerts = r.get("alerts") or []
        check(r.get("req") == "held" and len(alerts) == 1, "the held fetch gets the new alert", r)
        alert = alerts[0] if alerts else {}
        check(alert.get("panel") == "marac" and alert.get("rule") == "marac.high-risk"
              and alert.get("priority") == "high" and alert.get("key") == {"victim": "P-77"}
              and alert.get("evidence") == [r2 for r2 in alert.get("evidence", [])][:1]
              and alert.get("status") == "open", "the alert's fields", alert)
        check(isinstance(alert.get("reason"), str) and "P-77" in alert.get("reason", ""),
              "the alert's reason names the victim", alert)
        aid = alert.get("id")
        r = dealer.call({"op": "fetch", "panel": "marac", "consumer": "py"})
        check([a.get("id") for a in r.get("alerts", [])] == [aid],
              "unacknowledged: delivered again", r)
        r = dealer.call({"op": "ack", "panel": "marac", "consumer": "py", "upto": aid})
        check(r.get("ok") is True, "ack", r)
        r = dealer.call({"op": "fetch", "panel": "marac", "consumer": "py"})
        check(r.get("alerts") == [], "acknowledged: not delivered again", r)

        # ---- pipelined on one DEALER: a read sent after a write sees it ----
        da2 = dict(da, id="py-da-2", victim="P-78")
        dealer.send_raw(msgpack.packb({"op": "publish", "req": "w", "event": da2}))
        dealer.send_raw(msgpack.packb({"op": "replay", "req": "r", "person": "P-78"}))
        w, rd = unpack(dealer.recv_raw(10000)), unpack(dealer.recv_raw(10000))
        check(w.get("req") == "w" and w.get("status") == "accepted",
              "pipelined publish: answered first", w)
        check(rd.get("req") == "r" and [e["event"]["id"] for e in rd.get("events", [])]
              == ["py-da-2"], "pipelined replay: holds the event published just before", rd)
        r = dealer.call({"op": "fetch", "panel": "marac", "consumer": "py"})
        aid2 = (r.get("alerts") or [{}])[0].get("id")
        check(aid2 == aid + 1, "the second incident's alert", r)
        dealer.send_raw(msgpack.packb({"op": "ack", "req": "a", "panel": "marac",
                                       "consumer": "py", "upto": aid2}))
        dealer.send_raw(msgpack.packb({"op": "fetch", "req": "f", "panel": "marac",
                                       "consumer": "py"}))
        a, f = unpack(dealer.recv_raw(10000)), unpack(dealer.recv_raw(10000))
        check(a.get("req") == "a" and a.get("ok") is True, "pipelined ack: answered first", a)
        check(f.get("req") == "f" and f.get("alerts") == [],
              "pipelined fetch: starts after the alert acked just before", f)
        r = req.call({"op": "alert.update", "id": aid, "status": "accepted", "note": "py"})
        check(r.get("ok") is True and isinstance(r.get("seq"), int), "alert.update", r)
        r = req.call({"op": "alerts", "panel": "marac", "status": "accepted"})
        check([a.get("id") for a in r.get("alerts", [])] == [aid], "alerts by status", r)
        r = dealer.call({"op": "replay", "types": ["alert.status"]})
        evs = r.get("events") or [{}]
        check(evs[0].get("event", {}).get("alert") == aid
              and evs[0].get("event", {}).get("status") == "accepted",
              "the decision is an alert.status event in the log", r)
        r = req.call({"op": "alerts", "panel": "no-such-panel"})
        check((r.get("error") or {}).get("code") == "unknown_panel", "unknown panel", r)

        # ---- invalid UTF-8 in requests: every reply still decodes strictly ----
        # (unpack uses raw=False: a str that is not UTF-8 raises ValueError)
        def s8(b):  # a MessagePack str holding the bytes b as they are
            return bytes([0xa0 | len(b)]) + b
        bad = {
            "op": b"\x81" + s8(b"op") + s8(b"\xff\xfe"),
            "field name": b"\x82" + s8(b"op") + s8(b"ping") + s8(b"\xc3\x28") + b"\x01",
            "req": b"\x82" + s8(b"op") + s8(b"ping") + s8(b"req") + s8(b"\xff"),
            "map req": b"\x82" + s8(b"op") + s8(b"ping") + s8(b"req") + b"\x81\xa1a\x01",
            "ext req": b"\x82" + s8(b"op") + s8(b"ping") + s8(b"req") + b"\xd4\x01\x2a",
            "event field": b"\x82" + s8(b"op") + s8(b"publish") + s8(b"event")
                           + b"\x82" + s8(b"type") + s8(b"asb.report") + s8(b"\xf8x") + b"\x01",
        }
        for what, body in bad.items():
            try:
                r = unpack(dealer.call_raw(body))
                check(r.get("ok") is False and "req" not in r,
                      "invalid UTF-8 in the %s: refused, nothing echoed" % what, r)
            except ValueError as e:
                check(False, "invalid UTF-8 in the %s: a strict decoder accepts the reply" % what,
                      repr(e))
        r = dealer.call({"op": "rejects"})
        check(r.get("ok") is True, "rejects decode strictly after invalid UTF-8", r)
    except (TimeoutError, zmq.ZMQError, ValueError, KeyError, TypeError) as e:
        check(False, "the conversation broke off", repr(e))
    finally:
        dealer.close()
        req.close()
        ctx.term()


def check_chain(hubd, data):
    """The auditor's script and the hub's --verify agree, line for line, on
    the intact log; then both name the event whose content was edited."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts",
                          "check-chain.py")

    def both():
        mine = subprocess.run(["/usr/bin/python3", script, data], capture_output=True,
                              text=True, timeout=60)
        hubs = subprocess.run([hubd, "--verify", "--data", data], capture_output=True,
                              text=True, timeout=60)
        return mine, hubs

    mine, hubs = both()
    check(mine.returncode == 0, "check-chain.py finds the log intact", mine.stdout + mine.stderr)
    check(hubs.returncode == 0, "csphubd --verify finds the log intact", hubs.stdout + hubs.stderr)
    check(re.search(r"verified: \d+ events, hash chain intact \(SHA-256, version 2\); "
                    r"last link [0-9a-f]{32}$", mine.stdout.strip()) is not None,
          "check-chain.py names the count, the chain version and the last link", mine.stdout)
    check(mine.stdout == hubs.stdout, "check-chain.py and csphubd --verify print the same line",
          (mine.stdout, hubs.stdout))

    import lmdb  # Debian's python3-lmdb
    env = lmdb.open(data, max_dbs=32, subdir=True)
    with env.begin(write=True) as txn:
        events = env.open_db(b"events", txn=txn, integerkey=True, create=False)
        key = struct.pack("=Q", 2)
        value = bytearray(txn.get(key, db=events))
        value[-1] ^= 1  # the last byte of the event as the agency sent it
        txn.put(key, bytes(value), db=events)
    env.close()
    mine, hubs = both()
    check(mine.returncode == 1 and "ALTERED or broken at seq 2 " in mine.stdout,
          "check-chain.py names seq 2 as altered", mine.stdout + mine.stderr)
    check(hubs.returncode == 1 and "ALTERED or broken at seq 2 " in hubs.stdout,
          "csphubd --verify names seq 2 as altered", hubs.stdout + hubs.stderr)


def main():
    hubd = os.environ.get("CSPH_HUBD")
    if not hubd or not os.access(hubd, os.X_OK):
        print("interop: CSPH_HUBD must name the csphubd binary (got %r)" % hubd)
        print("interop: 0 passed, 1 failed")
        return 1
    tmp = tempfile.mkdtemp(prefix="csphub-interop-")
    endpoint = "tcp://127.0.0.1:%d" % free_port()
    log = open(os.path.join(tmp, "hub.log"), "wb")
    proc = subprocess.Popen([hubd, "--data", os.path.join(tmp, "data"), "--listen", endpoint],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        ctx = zmq.Context()
        ready = wait_ready(ctx, endpoint, proc)
        ctx.term()
        if check(ready, "the hub answers ping within 20 s"):
            run(endpoint)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = proc.wait()
                check(False, "the hub stops within 20 s of SIGTERM")
        else:
            rc = proc.returncode
        check(rc == 0, "the hub exits 0 on SIGTERM", rc)
        if rc == 0:
            check_chain(hubd, os.path.join(tmp, "data"))
        log.close()
        if FAILED:
            with open(os.path.join(tmp, "hub.log"), "rb") as f:
                sys.stdout.write(f.read().decode("utf-8", "replace"))
        shutil.rmtree(tmp, ignore_errors=True)
    print("interop: %d passed, %d failed" % (PASSED, FAILED))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
