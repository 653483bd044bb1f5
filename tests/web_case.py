#!/usr/bin/python3
"""The console's case page in a real browser (headless Chromium through
Selenium, as web_browser.py) against a real hub in curve mode: a coordinator
accepts an alert, follows it to the case it opened, sets actions (an agency
owner, a person owner), updates them (done; not done with a reason;
re-timed), records a hearing with attendance, moves the risk, records a
review and closes the case with an outcome; the case page shows its alerts,
actions, reviews and hearings, and the log names the person. Every refusal
of the hub (a due date in the past, no owner, no reason, no attendance, no
outcome) is shown next to the field it names, with what was typed kept, and
changes nothing. The agenda links the case. Forms need the CSRF token;
another panel's member is refused; someone at an agency (a console account
of role agency) sees their agency's actions and nobody else's, and no case.
Screenshots go to $CSPH_SCREENSHOTS (default: a temporary directory).

Skipped (exit 77) when Chromium or its driver is not installed."""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import web_http  # noqa: E402

web_http.need_chromium()
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

check = web_http.check


def wait(driver, cond, what, timeout=10):
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
        check(False, what, driver.page_source[-1500:])
        return False


def body(driver):
    return driver.find_element(By.TAG_NAME, "body").text


def field_error(driver, field):
    """The text of the refusal shown under field, or None."""
    els = driver.find_elements(By.CSS_SELECTOR, '.field-error[data-field="%s"]' % field)
    return els[0].text if els else None


def replay(env, types):
    r = env.cli("auditor", "replay", "--types", types)
    return [json.loads(line)["event"] for line in r.stdout.splitlines() if line.strip()]


def submit(driver, form_id):
    driver.find_element(By.CSS_SELECTOR, "#%s button[type=submit]" % form_id).click()


def main():
    shots = os.environ.get("CSPH_SCREENSHOTS") or tempfile.mkdtemp(prefix="csph-shots-")
    os.makedirs(shots, exist_ok=True)
    env = web_http.Env(agencies=("idva", "housing"),
                       people=("{name: pc.jones, role: agency, agency: police}",
                               "{name: sam.idva, role: agency, agency: idva}"),
                       accounts=(("pc.jones", "agency", "", "police phrase one two"),
                                 ("sam.idva", "agency", "", "idva phrase one two")))
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


def signin(driver, base, name, pw):
    driver.delete_all_cookies()
    driver.get(base + "/signin")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(pw)
    driver.find_element(By.CSS_SELECTOR, "form.signin button").click()


def run(env, driver, shots):
    base = "http://127.0.0.1:%d" % env.port
    def shot(name):
        # a refusal, when the page shows one, is in the picture
        for e in driver.find_elements(By.CSS_SELECTOR, ".field-error")[:1]:
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", e)
        driver.save_screenshot(os.path.join(shots, name + ".png"))
    web_http.publish(env, [web_http.da(1, "V-1")])

    signin(driver, base, "ann.smith", "correct horse battery")
    wait(driver, lambda d: "Queue: marac" in d.title, "ann signed in")

    # Accepting the alert opens the case; the alert page leads to it.
    driver.get(base + "/alert/1")
    Select(driver.find_element(By.ID, "status")).select_by_value("accepted")
    driver.find_element(By.CSS_SELECTOR, "form.decide button").click()
    wait(driver, lambda d: "accepted by ann.smith" in body(d), "alert accepted")
    driver.find_element(By.CSS_SELECTOR, "a.case-link").click()
    wait(driver, lambda d: "Case V-1 on marac" in body(d), "the alert leads to its case")
    b = body(driver)
    check("open" in driver.find_element(By.CSS_SELECTOR, "h1 .status").text and
          "Alert 1 (accepted, high)" in b and "Opened on accepting alert 1" in b,
          "the case page: status, its alert, its opening", b[:1200])
    check(driver.find_element(By.ID, "case-risk").text == "high", "risk high (the alert's priority)")
    shot("case-opened")

    # An action for an agency, first with mistakes: no owner, then a due
    # date in the past; each refusal sits under its field, typed text kept.
    what = "Safety plan <b>with</b> the victim"
    driver.find_element(By.ID, "action-what").send_keys(what)
    driver.find_element(By.ID, "action-due-days").send_keys("7")
    submit(driver, "form-action")
    wait(driver, lambda d: field_error(d, "owner") is not None, "no owner: refused under Owner")
    check("owner" in (field_error(driver, "owner") or ""), "the hub's words about the owner",
          field_error(driver, "owner"))
    check(driver.find_element(By.ID, "action-what").get_attribute("value") == what,
          "what was typed is kept", driver.find_element(By.ID, "action-what").get_attribute("value"))
    Select(driver.find_element(By.ID, "action-owner")).select_by_value("idva")
    driver.find_element(By.ID, "action-due-days").clear()
    driver.find_element(By.ID, "action-due-date").send_keys("01012020")
    submit(driver, "form-action")
    wait(driver, lambda d: field_error(d, "due") is not None, "a past due date: refused under Due")
    check("in the past" in (field_error(driver, "due") or ""), "the due date's refusal says why",
          field_error(driver, "due"))
    shot("case-action-refused")
    check(replay(env, "action.created") == [], "nothing recorded by the refused forms")
    driver.find_element(By.ID, "action-due-date").clear()
    driver.find_element(By.ID, "action-due-days").send_keys("7")
    submit(driver, "form-action")
    wait(driver, lambda d: "Actions (1)" in body(d), "the action is set")
    b = body(driver)
    check(what in b and "idva (agency)" in b, "the action shows what and owner, as text", b[-1500:])
    check("<b>with</b>" not in driver.page_source, "the action's text is escaped")

    # Two more: one for police by working days, one for ann herself.
    for owner, field, n in (("police", "action-due-wdays", "5"), ("ann.smith", "action-due-days", "14")):
        driver.find_element(By.ID, "action-what").send_keys("Check in with " + owner)
        Select(driver.find_element(By.ID, "action-owner")).select_by_value(owner)
        driver.find_element(By.ID, field).send_keys(n)
        submit(driver, "form-action")
        wait(driver, lambda d, o=owner: "Check in with " + o in body(d), "action for " + owner)
    check("ann.smith (person)" in body(driver), "a console account owns an action")
    created = replay(env, "action.created")
    check(len(created) == 3 and created[0].get("by") == "ann.smith" and
          created[0].get("gateway") == "console" and created[0].get("owner") == "idva",
          "the log names who set the actions", created[:1])

    # Updates: done; not done (needs a reason); re-timed.
    Select(driver.find_element(By.ID, "upd1-status")).select_by_value("done")
    submit(driver, "update-1")
    wait(driver, lambda d: "done (on time)" in d.find_element(By.ID, "action-1").text,
         "action 1 done, on time")
    Select(driver.find_element(By.ID, "upd2-status")).select_by_value("not_done")
    submit(driver, "update-2")
    wait(driver, lambda d: field_error(d, "reason") is not None, "not done without a reason: refused")
    check("reason" in (field_error(driver, "reason") or ""), "the reason's refusal", field_error(driver, "reason"))
    shot("case-update-refused")
    driver.find_element(By.ID, "upd2-reason").send_keys("Victim moved out of area")
    Select(driver.find_element(By.ID, "upd2-status")).select_by_value("not_done")
    submit(driver, "update-2")
    wait(driver, lambda d: "not_done: Victim moved out of area" in d.find_element(By.ID, "action-2").text,
         "action 2 not done, with its reason")
    Select(driver.find_element(By.ID, "upd3-status")).select_by_value("retimed")
    driver.find_element(By.ID, "upd3-due-days").send_keys("21")
    submit(driver, "update-3")
    wait(driver, lambda d: d.find_elements(By.ID, "update-3") and
         len(replay(env, "action.updated")) == 3, "action 3 re-timed, still open")
    upd = replay(env, "action.updated")
    check([u.get("status") for u in upd] == ["done", "not_done", "retimed"] and
          upd[0].get("on_time") is True and upd[2].get("due_at"), "the log holds the updates", upd)

    # A hearing: without attendance refused; then with two agencies.
    driver.find_element(By.ID, "hear-minutes").send_keys("Safety plan agreed; <i>refuge</i> offered")
    submit(driver, "form-hear")
    wait(driver, lambda d: field_error(d, "attendance") is not None, "a hearing with nobody present: refused")
    check(driver.find_element(By.ID, "hear-minutes").get_attribute("value") ==
          "Safety plan agreed; <i>refuge</i> offered", "the minutes typed are kept")
    for a in ("police", "idva"):
        driver.find_element(By.CSS_SELECTOR, 'input[name=attendance][value="%s"]' % a).click()
    submit(driver, "form-hear")
    wait(driver, lambda d: "present: police,idva" in body(d), "the hearing is recorded")
    check("Safety plan agreed; <i>refuge</i> offered" in body(driver), "the minutes shown, as text")
    heard = replay(env, "case.heard")
    check(len(heard) == 1 and heard[0].get("attendance") == "police,idva" and
          heard[0].get("by") == "ann.smith", "the hearing in the log", heard)

    # Risk, then a review, then closing with an outcome.
    Select(driver.find_element(By.ID, "risk-risk")).select_by_value("medium")
    submit(driver, "form-risk")
    wait(driver, lambda d: d.find_element(By.ID, "case-risk").text == "medium", "risk set to medium")
    check("Risk set to medium" in body(driver), "the risk change in the history")
    submit(driver, "form-review")
    wait(driver, lambda d: "Review recorded" in body(d), "a review recorded")
    shot("case-worked")
    submit(driver, "form-close")
    wait(driver, lambda d: field_error(d, "outcome") is not None, "closing without an outcome: refused")
    Select(driver.find_element(By.ID, "close-outcome")).select_by_value("risk-reduced")
    submit(driver, "form-close")
    wait(driver, lambda d: "outcome risk-reduced" in body(d), "the case closed with its outcome")
    check(not driver.find_elements(By.ID, "form-action") and driver.find_elements(By.ID, "update-3"),
          "a closed case takes no more work, its open action may still be updated")
    shot("case-closed")
    upd = replay(env, "case.update")
    check([u.get("status") for u in upd] == ["open", "reviewed", "closed"] and
          upd[-1].get("outcome") == "risk-reduced" and upd[-1].get("by") == "ann.smith",
          "risk, review and closure in the log", upd)

    # The agenda links the case's page, and is issued into the log.
    driver.get(base + "/agenda?panel=marac")
    check('href="/case?panel=marac&amp;key=V-1"' in driver.page_source, "the agenda links the case")
    submit(driver, "form-issue")
    wait(driver, lambda d: "Issued: this agenda is recorded in the log" in body(d), "agenda issued")
    issued = replay(env, "meeting.agenda")
    check(len(issued) == 1 and issued[0].get("panel") == "marac" and
          issued[0].get("by") == "ann.smith", "the issued agenda in the log", issued)
    shot("agenda-issued")

    # Over HTTP: CSRF, another panel's member, a case that is not there.
    st, _, _, ann = env.signin("ann.smith", "correct horse battery")
    st, _, page = env.get("/case?panel=marac&key=V-1", cookie=ann)
    csrf = web_http.csrf_of(page)
    n0 = len(replay(env, "case.update"))
    st, _, page = env.request("POST", "/case/update", {"panel": "marac", "key": "V-1", "id": "3",
                                                       "status": "done"}, cookie=ann)
    check(st == 403 and "token" in page, "a form without the CSRF token refused", st)
    st, _, page = env.get("/case?panel=marac&key=NOPE-1", cookie=ann)
    check(st == 404 and "no case" in page, "no such case: not found", st)
    st, _, _, raj = env.signin("raj.patel", "another long phrase")
    st, _, page = env.get("/case?panel=marac&key=V-1", cookie=raj)
    check(st == 403 and "Safety plan" not in page, "another panel's case refused", st)
    st, _, page = env.get("/queue?panel=asb-case-review", cookie=raj)
    rcsrf = web_http.csrf_of(page)
    st, _, page = env.request("POST", "/case/update", {"panel": "marac", "key": "V-1", "id": "3",
                                                       "status": "done", "csrf": rcsrf}, cookie=raj)
    check(st in (403, 404) and "Safety plan" not in page, "another panel's action not updatable", st)
    check(len(replay(env, "action.updated")) == 3 and len(replay(env, "case.update")) == n0,
          "nothing recorded by the refused requests")
    st, _, page = env.request("POST", "/case/update", {"panel": "marac", "key": "V-1", "id": "3",
                                                       "status": "done", "csrf": csrf}, cookie=ann)
    check(st == 303, "ann completes action 3 over HTTP", st)

    # Someone at an agency: their agency's actions, nobody else's; no case.
    signin(driver, base, "pc.jones", "police phrase one two")
    wait(driver, lambda d: "My actions" in d.title, "pc.jones lands on their actions")
    rows = driver.find_elements(By.CSS_SELECTOR, "table.actions tbody tr")
    texts = [r.text for r in rows]
    check(len(rows) == 1 and "Check in with police" in texts[0], "police's one action, no other's", texts)
    check("Safety plan" not in body(driver) and "ann.smith" not in body(driver),
          "idva's and ann's actions not shown")
    shot("agency-actions")
    driver.get(base + "/case?panel=marac&key=V-1")
    check("Safety plan" not in body(driver) and "Not allowed" in body(driver),
          "someone at an agency sees no case", body(driver)[:300])
    driver.get(base + "/queue?panel=marac")
    check("V-1" not in body(driver), "nor the queue")
    signin(driver, base, "sam.idva", "idva phrase one two")
    wait(driver, lambda d: "My actions" in d.title, "sam.idva on their actions")
    texts = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "table.actions tbody tr")]
    check(len(texts) == 1 and "Safety plan" in texts[0] and "done" in texts[0],
          "idva's one action", texts)


if __name__ == "__main__":
    main()
