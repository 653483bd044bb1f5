#!/usr/bin/python3
"""The console's person page past 500 alerts, against a real hub (security
curve, the console's gateway identity): a person referred 507 times to
MARAC has 507 alerts; the page lists the first 500 with a "More alerts" link
whose page lists the other 7, and the events (the evidence of all of them)
page on their own with "More events". A cursor that is not a number is
refused with its name. Prints how long the pages took.

Run by ctest (web_person) with CSPH_HUBD, CSPH_CLI, CSPH_WEB set."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import web_http  # noqa: E402

check = web_http.check
N = 507


def main():
    env = web_http.Env()
    try:
        run(env)
    finally:
        env.close()
    if web_http.failures:
        print("%d checks failed" % len(web_http.failures))
        sys.exit(1)
    print("all checks passed")


def alert_links(body):
    return re.findall(r'href="/alert/(\d+)"', body)


def run(env):
    web_http.publish(env, [{"id": "ref-%d" % i, "type": "referral",
                            "occurred_at": "2026-10-01T10:00:00Z", "subject": "P-MANY",
                            "panel": "marac", "reason": "referral %d" % i} for i in range(N)])
    st, _, _, ann = env.signin("ann.smith", "correct horse battery")
    check(st == 303, "ann signs in", st)
    t0 = time.monotonic()
    st, _, body = env.get("/person/P-MANY", cookie=ann)
    first_ms = (time.monotonic() - t0) * 1000
    ids = alert_links(body)
    check(st == 200 and len(ids) == 500, "the first 500 alerts", (st, len(ids)))
    m = re.search(r'<a rel="next" href="(/person/P-MANY\?alerts_after=(\d+)&amp;after=0)">More '
                  r'alerts</a>', body)
    check(m and m.group(2) == ids[-1], "a link to the next alerts, after the last shown",
          m and m.group(0))
    check(body.count("<td>referral</td>") == N, "the evidence of all %d alerts" % N,
          body.count("<td>referral</td>"))
    check("More events" not in body, "every event on one page (under 1,000)")
    t0 = time.monotonic()
    st, _, body2 = env.get(m.group(1).replace("&amp;", "&") if m else "/", cookie=ann)
    next_ms = (time.monotonic() - t0) * 1000
    ids2 = alert_links(body2)
    check(st == 200 and len(ids2) == N - 500 and int(ids2[0]) > int(ids[-1]),
          "the next page: the other %d" % (N - 500), (st, len(ids2)))
    check("More alerts" not in body2, "no more alerts after the last page")
    # the events page on their own (the hub's default is 1,000 a reply:
    # a page from the middle shows the rest and no link)
    seqs = re.findall(r"<tr><td>(\d+)</td>", body)
    st, _, body3 = env.get("/person/P-MANY?after=%s" % seqs[N - 3], cookie=ann)
    check(st == 200 and len(re.findall(r"<tr><td>(\d+)</td>", body3)) == 2 and
          len(alert_links(body3)) == 500, "events after a seq: the last two, alerts unchanged")
    for bad, name in (("alerts_after=x", "alerts_after"), ("after=-1", "after")):
        st, _, body = env.get("/person/P-MANY?" + bad, cookie=ann)
        check(st == 400 and "&#39;%s&#39;" % name in body, "a bad cursor refused: " + bad, st)
    print("person page of %d alerts and %d events: %.0f ms; the next page of alerts %.0f ms"
          % (N, N, first_ms, next_ms))


if __name__ == "__main__":
    main()
