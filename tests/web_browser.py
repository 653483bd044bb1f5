#!/usr/bin/python3
"""csphub-web in a real browser: headless Chromium driven by Selenium (Debian's
chromium, chromium-driver, python3-selenium) against a real hub in curve mode
and the real console. Signs in, reads the queue, filters it, opens an alert
with its evidence, records a decision (the log names the person), sees a new
alert arrive on the open queue page without a reload, is refused another
panel's alert, and signs out. Screenshots go to $CSPH_SCREENSHOTS (default:
a temporary directory, printed).

Skipped (exit 77, ctest SKIP_RETURN_CODE) when Chromium or its driver is not
installed."""
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import web_http  # noqa: E402  the hub, the console and the accounts of the HTTP test

web_http.need_chromium()
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

check = web_http.check


def main():
    shots = os.environ.get("CSPH_SCREENSHOTS") or tempfile.mkdtemp(prefix="csph-shots-")
    os.makedirs(shots, exist_ok=True)
    env = web_http.Env()
    driver = web_http.chromium()
    try:
        run(env, driver, shots)
    finally:
        driver.quit()
        env.close()
    print("screenshots in %s" % shots)
    if web_http.failures:
        print("%d checks failed" % len(web_http.failures))
        sys.exit(1)
    print("all checks passed")


def wait(driver, cond, what, timeout=10):
    """Poll cond until it holds (a page being replaced raises meanwhile:
    that is not an answer), or fail the check after timeout seconds."""
    def holds(d):
        try:
            return cond(d)
        except Exception:
            return False
    try:
        WebDriverWait(driver, timeout, poll_frequency=0.05).until(holds)
        check(True, what)
        return True
    except Exception:
        check(False, what, driver.page_source[-800:])
        return False


def run(env, driver, shots):
    base = "http://127.0.0.1:%d" % env.port
    web_http.publish(env, [web_http.da(1, "V-1")])

    driver.get(base + "/")
    check("Sign in" in driver.title, "unsigned visitor sent to sign in", driver.title)
    driver.save_screenshot(os.path.join(shots, "signin.png"))
    driver.find_element(By.ID, "name").send_keys("ann.smith")
    driver.find_element(By.ID, "password").send_keys("correct horse battery")
    driver.find_element(By.CSS_SELECTOR, "form.signin button").click()
    wait(driver, lambda d: "Queue: marac" in d.title, "signed in, on the queue")
    body = driver.find_element(By.TAG_NAME, "body").text
    check("Signed in as ann.smith" in body and "da.incident" not in body, "queue page")
    rows = driver.find_elements(By.CSS_SELECTOR, "table.queue tbody tr")
    check(len(rows) == 1 and "DASH" in rows[0].text, "one alert on the queue", [r.text for r in rows])
    driver.save_screenshot(os.path.join(shots, "queue.png"))

    # filters (on the hub)
    Select(driver.find_element(By.NAME, "priority")).select_by_visible_text("standard")
    driver.find_element(By.CSS_SELECTOR, "form.filters button").click()
    wait(driver, lambda d: "priority=standard" in d.current_url, "filtered by priority")
    check("No alerts match" in driver.find_element(By.TAG_NAME, "body").text, "filter applied")
    driver.get(base + "/queue?panel=marac")

    # live arrival on the open page
    # the page's stream is open (data-state) once the console's fetch of the
    # panel is live: from then on nothing new is missed
    wait(driver, lambda d: d.find_element(By.ID, "live").get_attribute("data-state") == "open",
         "live stream open")
    t0 = time.monotonic()
    web_http.publish(env, [web_http.da(2, "V-2")])
    t1 = time.monotonic()
    ok = wait(driver, lambda d: "New alert 2" in d.find_element(By.ID, "live").text,
              "new alert shown without a reload")
    if ok:
        print("live in the browser: %.0f ms from the publish's ack (%.0f ms from starting it)"
              % ((time.monotonic() - t1) * 1000, (time.monotonic() - t0) * 1000))
    driver.save_screenshot(os.path.join(shots, "queue-live.png"))

    # the alert page: evidence, then a decision
    driver.get(base + "/alert/1")
    body = driver.find_element(By.TAG_NAME, "body").text
    check("Evidence (1 events)" in body and "da.incident" in body and "dash_score 16" in body,
          "alert page with evidence", body[:600])
    driver.save_screenshot(os.path.join(shots, "alert.png"))
    Select(driver.find_element(By.ID, "status")).select_by_value("accepted")
    driver.find_element(By.ID, "note").send_keys("Listed for <b>14 Dec</b> meeting")
    driver.find_element(By.CSS_SELECTOR, "form.decide button").click()
    wait(driver, lambda d: "accepted by ann.smith through console" in d.find_element(
        By.TAG_NAME, "body").text, "decision shown with the person's name")
    check("Listed for <b>14 Dec</b> meeting" in driver.find_element(By.TAG_NAME, "body").text,
          "the note shown as text, not markup")
    driver.save_screenshot(os.path.join(shots, "alert-decided.png"))
    r = env.cli("auditor", "replay", "--types", "alert.status")
    ev = json.loads(r.stdout.splitlines()[0])["event"] if r.stdout.strip() else {}
    check(ev.get("by") == "ann.smith" and ev.get("gateway") == "console",
          "decision recorded in the log with the person's name", ev)

    # another panel's alert, by URL
    web_http.publish(env, [{"id": "asb-%d" % i, "type": "asb.report", "source": "police",
                            "occurred_at": "2026-11-0%dT21:14:00Z" % (i + 1), "victim": "R-9",
                            "location": {"lsoa": "E01000916"}, "category": "personal"}
                           for i in range(3)])
    driver.get(base + "/alert/3")
    body = driver.find_element(By.TAG_NAME, "body").text
    check("Not found" in body and "R-9" not in body, "another panel's alert refused", body[:300])

    # sign out
    driver.get(base + "/queue")
    driver.find_element(By.CSS_SELECTOR, "form.signout button").click()
    wait(driver, lambda d: "Sign in" in d.title, "signed out")
    driver.get(base + "/queue")
    check("Sign in" in driver.title, "signed out stays out")


if __name__ == "__main__":
    main()
