#!/usr/bin/python3
"""The console's report page against a real hub (security curve, the
console's gateway identity): a member of the CSP board (role strategic)
signs in, lands on the partnership report, sees the same figures and charts
as `csphub report --format html` (the same drawing library: the cards are
byte-identical), chooses a period and an area, and the page prints on one A3
sheet; headless Chromium (Selenium) checks that the page logged no error
(its Content-Security-Policy allows no inline style: a style the page needed
inline would be one) and saves a screenshot. Over HTTP: a panel member is
refused the report by the hub and is not offered it, a malformed period or
an unknown area is refused with the field named, the report's style sheet
is served and cached. Each run is recorded in the log as the person's,
through the console.

Skipped (exit 77) when Chromium or its driver is not installed."""
import json
import os
import re
import sys
import tempfile
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import web_http  # noqa: E402

web_http.need_chromium()
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.print_page_options import PrintOptions  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

check = web_http.check
BOARD = ("board.chair", "strategic", "", "a board member's phrase")
PERIOD = "from=2025-04&to=2026-03"


def grid(html):
    """The cards of a report (what the figures and charts are), without the
    provenance line, which names the seq the run was computed as of."""
    m = re.search(r'<div class="grid">.*?</div>\n<div class="report-foot">', html, re.S)
    return m.group(0) if m else None


def feed(env):
    events = []
    for i, (month, lsoa) in enumerate([("05", "E01000916"), ("05", "E01000916"),
                                       ("06", "E01000001"), ("08", "E01000916"),
                                       ("11", "E01000917"), ("11", "E01000916")]):
        events.append({"id": "da-r%d" % i, "type": "da.incident",
                       "occurred_at": "2025-%s-1%dT22:00:00Z" % (month, i),
                       "victim": "V-R%d" % (i % 3), "dash_score": 16 - i % 3,
                       "location": {"lsoa": lsoa}})
    for i in range(7):  # two victims, July to September 2025, in the north
        events.append({"id": "asb-r%d" % i, "type": "asb.report", "source": "police",
                       "occurred_at": "2025-%02d-%02dT21:14:00Z" % (7 + i % 3, 1 + i),
                       "victim": "R-%d" % (i % 2), "location": {"lsoa": "E01000916"},
                       "category": "personal"})
    web_http.publish(env, events)


def run_http(env):
    st, h, body, board = env.signin(BOARD[0], BOARD[3])
    check(st == 303 and board and h.get("location") == "/report",
          "the board member signs in, to the report", (st, h.get("location")))
    st, h, _ = env.get("/", cookie=board)
    check(st == 303 and h.get("location") == "/report", "the board lands on the report", h)
    st, h, page = env.get("/report?" + PERIOD, cookie=board)
    check(st == 200 and 'href="/static/report.css"' in page and "<style" not in page,
          "report page, its style a file of the console's", st)
    check('href="/queue' not in page and 'href="/report">Report</a>' in page,
          "the board is offered the report, not queues")
    r = env.cli("auditor", "report", "--from", "2025-04", "--to", "2026-03", "--format", "html")
    check(r.returncode == 0, "csphub report --format html", r.stderr)
    g_cli, g_web = grid(r.stdout), grid(page)
    check(g_cli and g_cli == g_web, "the same cards as csphub report (figures and charts)",
          (g_cli or "")[:200] + " ... " + (g_web or "")[:200])
    rj = json.loads(env.cli("auditor", "report", "--from", "2025-04", "--to", "2026-03",
                            "--format", "json").stdout)
    check(page.count('<section class="card"') == len(rj["indicators"]),
          "a card per indicator (%d)" % len(rj["indicators"]))
    check("&lt;5" in page, "small numbers suppressed on the page")
    # choices, and bad ones
    st, _, page = env.get("/report?from=2025-04&to=2026-03&area=north", cookie=board)
    check(st == 200 and "Partnership report: North locality" in page and
          '<option value="north" selected>' in page, "the area chosen", st)
    st, _, body = env.get("/report?from=2025-4&to=2026-03", cookie=board)
    check(st == 400 and "&#39;from&#39; must be a month YYYY-MM" in body, "a malformed month refused",
          (st, body[-300:]))
    st, _, body = env.get("/report?%s&area=%s" % (PERIOD, urllib.parse.quote("<b>nowhere")),
                          cookie=board)
    check(st == 400 and "no area &#39;&lt;b&gt;nowhere&#39;" in body,
          "an unknown area refused by the hub, escaped", (st, body[-300:]))
    st, _, body = env.get("/report?from=2026-03&to=2025-04", cookie=board)
    check(st == 400, "a reversed period refused", st)
    st, h, css = env.get("/static/report.css")
    check(st == 200 and ".report svg .bar" in css and h.get("etag") and
          "max-age" in h.get("cache-control", ""), "the report's style served and cached", h)
    st, _, _ = env.request("GET", "/static/report.css", headers={"If-None-Match": h.get("etag")})
    check(st == 304, "the report's style revalidated (304)", st)
    # a panel member: no report offered, and the hub refuses it
    st, _, _, ann = env.signin("ann.smith", "correct horse battery")
    st, _, page = env.get("/queue", cookie=ann)
    check(st == 200 and 'href="/report"' not in page, "a panel member is not offered the report")
    st, _, body = env.get("/report?" + PERIOD, cookie=ann)
    check(st == 403 and "Not allowed" in body, "a panel member refused the report (by the hub)",
          (st, body[-300:]))
    # the log: each run the board member's, through the console
    r = env.cli("auditor", "replay", "--types", "audit.access")
    runs = [json.loads(x)["event"] for x in r.stdout.splitlines() if x.strip()]
    runs = [e for e in runs if e.get("op") == "report" and e.get("identity") == "board.chair"]
    check(runs and all(e.get("gateway") == "console" and e.get("role") == "strategic"
                       for e in runs), "report runs recorded as the person through the console",
          runs[:2])
    return board


def run_browser(env, shots):
    driver = web_http.chromium(browser_log=True)
    base = "http://127.0.0.1:%d" % env.port
    try:
        driver.get(base + "/signin")
        driver.find_element(By.ID, "name").send_keys(BOARD[0])
        driver.find_element(By.ID, "password").send_keys(BOARD[3])
        driver.find_element(By.CSS_SELECTOR, "form.signin button").click()
        web_http.wait_for(lambda: "Partnership report" in driver.title, "the report page")
        driver.get(base + "/report?" + PERIOD)
        # (the console has no icon: the browser's own ask for one is not the page's)
        errors = [e for e in driver.get_log("browser") if e.get("level") in ("SEVERE", "ERROR")
                  and "favicon.ico" not in e.get("message", "")]
        check(not errors, "the report page logged no error (CSP, missing files)", errors)
        cards = driver.find_elements(By.CSS_SELECTOR, "section.card")
        charts = [c for c in cards
                  if c.find_elements(By.CSS_SELECTOR, "svg.chart") and
                  c.find_element(By.CSS_SELECTOR, "svg.chart").size["height"] > 50 and
                  c.find_elements(By.CSS_SELECTOR, "svg.chart ~ table")]
        check(cards and len(charts) == len(cards), "every card has its chart drawn and a table",
              (len(cards), len(charts)))
        check(driver.find_elements(By.CSS_SELECTOR, "svg.chart rect.bar"), "bars drawn")
        check(driver.execute_script("return getComputedStyle(document.querySelector("
                                    "'.report .grid')).display") == "grid",
              "the report's style applied")
        driver.save_screenshot(os.path.join(shots, "report.png"))
        # the period and the area through the form
        Select(driver.find_element(By.ID, "area")).select_by_value("north")
        driver.find_element(By.CSS_SELECTOR, "form.filters button").click()
        web_http.wait_for(lambda: "area=north" in driver.current_url, "the area chosen")
        check("North locality" in driver.find_element(By.TAG_NAME, "h1").text,
              "the area's report shown", driver.find_element(By.TAG_NAME, "h1").text)
        # printed on A3, as Chromium prints it: one sheet, no navigation
        po = PrintOptions()
        po.page_width = 29.7
        po.page_height = 42.0
        import base64
        pdf = base64.b64decode(driver.print_page(po))
        pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
        check(pages == 1, "printed on A3 it takes one sheet", pages)
        height = driver.execute_script("return document.body.scrollHeight")
        driver.set_window_size(1366, max(900, height + 40))
        driver.save_screenshot(os.path.join(shots, "report-north.png"))
    finally:
        driver.quit()


def main():
    shots = os.environ.get("CSPH_SCREENSHOTS") or tempfile.mkdtemp(prefix="csph-shots-")
    os.makedirs(shots, exist_ok=True)
    env = web_http.Env(people=["{name: board.chair, role: strategic}"], accounts=[BOARD])
    try:
        feed(env)
        run_http(env)
        run_browser(env, shots)
    finally:
        env.close()
    print("screenshots in %s" % shots)
    if web_http.failures:
        print("%d checks failed" % len(web_http.failures))
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
