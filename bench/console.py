#!/usr/bin/python3
"""Figures of the coordinators' web console (issue 15's targets), against a
real hub in security curve and the real csphub-web, over HTTP:

  - a queue page of a panel with N open alerts (default 10,000), and each
    filter (status, priority, rule, person, overdue), and a deep page;
    target under 500 ms;
  - a person page for a person with 1,000 events that are evidence of
    alerts, in a log with background events; target under 300 ms;
  - the delay from a publish's acknowledgement to its alert on an open
    page's event stream; target under a second.

Usage (after a build with csphub-web):
  bench/console.py [--alerts 10000] [--person-events 1000] [--noise 100000] [--runs 7]

It reuses the test's set-up (tests/web_http.py: keys, identity file, hub,
accounts, console); binaries from build/ unless CSPH_HUBD, CSPH_CLI, CSPH_WEB
say otherwise. Prints the median and the worst of --runs requests."""
import argparse
import http.client
import json
import os
import re
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for var, rel in (("CSPH_HUBD", "build/csphubd"), ("CSPH_CLI", "build/cli/csphub"),
                 ("CSPH_WEB", "build/web/csphub-web")):
    os.environ.setdefault(var, os.path.join(ROOT, rel))
os.environ.setdefault("CSPH_SOURCE_DIR", ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
import web_http  # noqa: E402


def timed_get(env, path, cookie, runs):
    times, status, size = [], None, 0
    for _ in range(runs):
        t = time.monotonic()
        status, _, body = env.get(path, cookie=cookie)
        times.append((time.monotonic() - t) * 1000)
        size = len(body)
    return statistics.median(times), max(times), status, size


def write_feed(path, events):
    with open(path, "w") as f:
        for e in events:
            f.write(json.dumps(e, separators=(",", ":")) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--alerts", type=int, default=10000)
    ap.add_argument("--person-events", type=int, default=1000)
    ap.add_argument("--noise", type=int, default=100000)
    ap.add_argument("--runs", type=int, default=7)
    a = ap.parse_args()
    env = web_http.Env()
    try:
        run(env, a)
    finally:
        env.close()


def publish_file(env, path, what):
    t = time.monotonic()
    r = env.cli("police", "publish", path, "--timeout", "10m")
    if r.returncode not in (0, 3):
        raise SystemExit("publish %s failed: %s" % (what, r.stderr))
    print("published %s in %.1f s" % (what, time.monotonic() - t))


def run(env, a):
    feed = os.path.join(env.dir, "feed.jsonl")
    # N high-risk DA incidents, one victim each: N open MARAC alerts.
    write_feed(feed, ({"id": "q-%d" % i, "type": "da.incident",
                       "occurred_at": "2026-11-01T22:00:00Z", "victim": "Q-%d" % i,
                       "dash_score": 16} for i in range(a.alerts)))
    publish_file(env, feed, "%d alerts' events" % a.alerts)
    # One person with many events that are evidence: high-risk incidents
    # of one victim, spread over the year.
    write_feed(feed, ({"id": "p-%d" % i, "type": "da.incident",
                       "occurred_at": "2026-%02d-%02dT%02d:%02d:00Z" % (1 + i % 11, 1 + i % 28,
                                                                       i % 24, i % 60),
                       "victim": "P-BIG", "dash_score": 16} for i in range(a.person_events)))
    publish_file(env, feed, "%d events of P-BIG" % a.person_events)
    # Background: ASB reports of distinct people (no alert each).
    write_feed(feed, ({"id": "n-%d" % i, "type": "asb.report", "occurred_at": "2026-10-01T12:00:00Z",
                       "victim": "N-%d" % i, "location": {"lsoa": "E0100%04d" % (i % 5000)},
                       "category": "personal"} for i in range(a.noise)))
    publish_file(env, feed, "%d background events" % a.noise)
    r = env.cli("auditor", "stats", "--json")
    try:
        counters = json.loads(r.stdout)["counters"]
        print("log: %s events accepted, marac alerts %s" % (counters.get("accepted"),
                                                           counters.get("alerts", {}).get("marac")))
    except (ValueError, KeyError):
        pass

    st, h, _, cookie = env.signin("ann.smith", "correct horse battery")
    assert st == 303, st
    rows = []
    for label, path in (
            ("queue, first page", "/queue?panel=marac"),
            ("queue, status=open", "/queue?panel=marac&status=open"),
            ("queue, priority=high", "/queue?panel=marac&priority=high"),
            ("queue, rule=marac.high-risk", "/queue?panel=marac&rule=marac.high-risk"),
            ("queue, person=Q-9999 (one match, last)", "/queue?panel=marac&person=Q-%d" % (a.alerts - 1)),
            ("queue, overdue (no match: scans all)", "/queue?panel=marac&overdue=1"),
            ("queue, a deep page (after %d)" % (a.alerts - 100), "/queue?panel=marac&after=%d" % (a.alerts - 100)),
            ("person page, P-BIG", "/person/P-BIG"),
            ("alert page, alert 1", "/alert/1")):
        med, worst, status, size = timed_get(env, path, cookie, a.runs)
        rows.append((label, med, worst, status, size))
    print("\n%-42s %9s %9s %6s %9s" % ("page", "median", "worst", "status", "bytes"))
    for label, med, worst, status, size in rows:
        print("%-42s %7.1fms %7.1fms %6s %9d" % (label, med, worst, status, size))
    st, _, body = env.get("/person/P-BIG", cookie=cookie)
    print("person page P-BIG: %d alerts, %d events shown" % (
        len(re.findall(r'<li><a href="/alert/', body)), body.count("<tr><td>") ))

    # live: the delay from the ack to the stream, N times
    c = http.client.HTTPConnection("127.0.0.1", env.port, timeout=30)
    c.request("GET", "/events?panel=marac", headers={"Cookie": cookie})
    resp = c.getresponse()

    def sse_line():
        while True:
            line = resp.fp.readline().decode()
            if not re.fullmatch(r"[0-9A-Fa-f]+\r?\n", line) and line.strip():
                return line

    sse_line()  # hello: live
    delays = []
    for i in range(a.runs):
        write_feed(feed, [{"id": "live-%d" % i, "type": "da.incident",
                           "occurred_at": "2026-11-02T22:00:00Z", "victim": "L-%d" % i,
                           "dash_score": 16}])
        t0 = time.monotonic()
        env.cli("police", "publish", feed)
        t1 = time.monotonic()
        while not sse_line().startswith("data: "):
            pass
        delays.append(((time.monotonic() - t1) * 1000, (time.monotonic() - t0) * 1000))
    c.close()
    print("\nlive arrival, %d alerts: from the ack median %.0f ms (worst %.0f); from starting "
          "csphub publish median %.0f ms (worst %.0f)" % (
              len(delays), statistics.median(d[0] for d in delays), max(d[0] for d in delays),
              statistics.median(d[1] for d in delays), max(d[1] for d in delays)))


if __name__ == "__main__":
    main()
