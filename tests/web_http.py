#!/usr/bin/python3
"""csphub-web over HTTP against a real hub (security curve, the console's own
gateway identity, people in the identity file): sign-in and its backoff,
sessions, the queue with filters, an alert with its evidence, a decision
recorded in the person's name (checked in the log), another panel's alert
and person refused, HTML escaped everywhere, CSRF, forged and ended
sessions, oversized bodies, path traversal on static files, caching and
security headers, and a new alert arriving on an open page (server-sent
events) in under a second. Each bad input is refused and changes nothing.

Run by ctest (web_http) with CSPH_HUBD, CSPH_CLI, CSPH_WEB set. Never sleeps
without a condition: every wait is a poll with a deadline."""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

HUBD = os.environ["CSPH_HUBD"]
CLI = os.environ["CSPH_CLI"]
WEB = os.environ["CSPH_WEB"]
SRC = os.environ.get("CSPH_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

failures = []


def check(cond, what, got=None):
    if not cond:
        failures.append(what)
        print("FAIL: %s%s" % (what, "" if got is None else " -- got: %r" % (got,)[:600]))
    else:
        print("ok: %s" % what)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_for(fn, what, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if fn():
                return True
        except OSError:
            pass
        time.sleep(0.05)  # a poll with a deadline, not a fixed wait
    raise SystemExit("timed out waiting for " + what)


class Env:
    def __init__(self, web_args=(), people=(), accounts=(), agencies=()):
        """people: more lines for the identity file's people ("{name: x,
        role: strategic}"); accounts: more (name, role, panels, password)
        console accounts; agencies: more clients of role agency (each with
        a key in keys/)."""
        self.web_args = list(web_args)
        self.dir = tempfile.mkdtemp(prefix="csph-web-")
        self.keys = os.path.join(self.dir, "keys")
        os.mkdir(self.keys, 0o700)
        for name in ("hub", "police", "console", "auditor") + tuple(agencies):
            subprocess.run([CLI, "keygen", name, "--dir", self.keys], check=True,
                           stdout=subprocess.DEVNULL)
        ids = os.path.join(self.dir, "identities.yaml")
        with open(ids, "w") as f:
            f.write("clients:\n"
                    "  - {name: police, role: agency, key_file: keys/police.pub,\n"
                    "     types: [asb.report, da.incident, concern, referral]}\n"
                    "  - {name: console, role: gateway, key_file: keys/console.pub,\n"
                    "     panels: [marac, asb-case-review]}\n"
                    "  - {name: scrutiny, role: auditor, key_file: keys/auditor.pub}\n"
                    + "".join("  - {name: %s, role: agency, key_file: keys/%s.pub, "
                              "types: [concern]}\n" % (a, a) for a in agencies) +
                    "people:\n"
                    "  - {name: ann.smith, role: panel, panels: [marac]}\n"
                    "  - {name: raj.patel, role: panel, panels: [asb-case-review]}\n"
                    + "".join("  - %s\n" % p for p in people))
        os.chmod(ids, 0o644)
        cfg = os.path.join(self.dir, "hub.yaml")
        with open(cfg, "w") as f:
            f.write("security: curve\nidentities_file: identities.yaml\n"
                    "server_key_file: keys/hub.key\n")
        self.hub_ep = "tcp://127.0.0.1:%d" % free_port()
        self.hub_log = open(os.path.join(self.dir, "hub.log"), "w")
        self.hub = subprocess.Popen([HUBD, "--data", os.path.join(self.dir, "data"), "--listen",
                                     self.hub_ep, "--config", cfg], cwd=SRC,
                                    stderr=self.hub_log)
        wait_for(lambda: self.cli("auditor", "ping").returncode == 0, "the hub")
        self.accounts = os.path.join(self.dir, "web.accounts")
        for name, role, panels, pw in (("ann.smith", "panel", "marac", "correct horse battery"),
                                       ("raj.patel", "panel", "asb-case-review",
                                        "another long phrase")) + tuple(accounts):
            r = subprocess.run([WEB, "user", "add", name, "--role", role] +
                               (["--panels", panels] if panels else []) +
                               ["--accounts", self.accounts], input=pw + "\n", text=True,
                               capture_output=True)
            check(r.returncode == 0, "user add %s" % name, r.stderr)
        check(oct(os.stat(self.accounts).st_mode & 0o777) == "0o600", "accounts file is 0600")
        self.port = free_port()
        self.web_log = open(os.path.join(self.dir, "web.log"), "a+")
        self.start_web()

    def start_web(self):
        self.web = subprocess.Popen([WEB, "--listen", "127.0.0.1:%d" % self.port, "--hub",
                                     self.hub_ep, "--key", os.path.join(self.keys, "console.key"),
                                     "--server-key", os.path.join(self.keys, "hub.pub"),
                                     "--accounts", self.accounts,
                                     "--panels", "marac,asb-case-review"] + self.web_args,
                                    stderr=self.web_log)
        wait_for(lambda: self.get("/signin")[0] == 200, "the console")

    def stop_web(self):
        """The console's exit status after a SIGTERM; None when it did not stop
        within 20 s (the check fails, and the logs are printed)."""
        self.web.send_signal(signal.SIGTERM)
        try:
            return self.web.wait(20)
        except subprocess.TimeoutExpired:
            return None

    def cli(self, who, *args, **kw):
        return subprocess.run([CLI, "--hub", self.hub_ep, "--key",
                               os.path.join(self.keys, who + ".key"), "--server-key",
                               os.path.join(self.keys, "hub.pub")] + list(args),
                              capture_output=True, text=True, **kw)

    def request(self, method, path, body=None, cookie=None, headers=None, source=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10,
                                       source_address=(source, 0) if source else None)
        h = dict(headers or {})
        if cookie:
            h["Cookie"] = cookie
        if body is not None:
            if isinstance(body, dict):
                body = urllib.parse.urlencode(body)
            h["Content-Type"] = "application/x-www-form-urlencoded"
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read().decode("utf-8", "replace")
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        c.close()
        return r.status, hdrs, data

    def get(self, path, cookie=None):
        return self.request("GET", path, cookie=cookie)

    def signin(self, name, pw):
        st, h, body = self.request("POST", "/signin", {"name": name, "password": pw})
        cookie = h.get("set-cookie", "").split(";")[0]
        return st, h, body, cookie

    def close(self):
        for p in (getattr(self, "web", None), getattr(self, "hub", None)):
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        if failures:
            for log in ("hub.log", "web.log"):
                path = os.path.join(self.dir, log)
                if os.path.exists(path):
                    print("--- %s\n%s" % (log, open(path).read()[-4000:]))
        shutil.rmtree(self.dir, ignore_errors=True)


CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = "/usr/bin/chromium"


def need_chromium():
    """Exit 77 (ctest's SKIP_RETURN_CODE) when Chromium or its driver is not
    installed: before anything imports Selenium or starts a hub."""
    if not (os.path.exists(CHROMEDRIVER) and os.path.exists(CHROMIUM)):
        print("skipped: chromium and chromium-driver are not installed")
        sys.exit(77)


def chromium(browser_log=False):
    """Headless Chromium through Selenium (Debian's chromium, chromium-driver
    and python3-selenium) in a laptop-sized window. browser_log: the page's
    console messages are kept (driver.get_log("browser"))."""
    need_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1366,900", "--no-first-run", "--disable-extensions"):
        opts.add_argument(a)
    if browser_log:
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    return driver


def totp(secret, now=None):
    """RFC 6238 (SHA-1, 30 s, 6 digits): the test's own, not the console's."""
    import base64, hashlib, hmac, struct
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    step = int((now or time.time()) // 30)
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    off = mac[-1] & 15
    return "%06d" % ((struct.unpack(">I", mac[off:off + 4])[0] & 0x7fffffff) % 1000000)


def csrf_of(body):
    m = re.search(r'name="csrf" value="([^"]+)"', body)
    return m.group(1) if m else None


def publish(env, events):
    path = os.path.join(env.dir, "feed.jsonl")
    with open(path, "w") as f:
        for e in events:
            f.write(json.dumps(e) + "\n")
    r = env.cli("police", "publish", path)
    check(r.returncode == 0, "publish %d events" % len(events), r.stderr)


def da(i, victim):
    return {"id": "da-%s" % i, "type": "da.incident", "occurred_at": "2026-11-01T22:00:00Z",
            "victim": victim, "dash_score": 16}


def main():
    env = Env()
    try:
        run(env)
    finally:
        env.close()
    if failures:
        print("%d checks failed" % len(failures))
        sys.exit(1)
    print("all checks passed")


def run(env):
    # marac: a DA incident with DASH 16 raises an alert; its victim's
    # reference holds markup-like text only a reason could carry (escaped).
    publish(env, [da(1, "V-1")])
    publish(env, [{"id": "asb-%d" % i, "type": "asb.report", "source": "police",
                   "occurred_at": "2026-11-0%dT21:14:00Z" % (i + 1), "victim": "R-9",
                   "location": {"lsoa": "E01000916"}, "category": "personal"} for i in range(3)])

    # headers and static files
    st, h, body = env.get("/signin")
    check(st == 200 and 'name="password"' in body, "sign-in page")
    check("frame-ancestors 'none'" in h.get("content-security-policy", ""), "CSP with frame-ancestors", h)
    check(h.get("x-content-type-options") == "nosniff", "nosniff")
    check(h.get("referrer-policy") == "no-referrer", "referrer policy")
    check(h.get("cache-control") == "no-store", "pages are not cached", h.get("cache-control"))
    st, h, css = env.get("/static/app.css")
    check(st == 200 and h.get("content-type", "").startswith("text/css") and
          "max-age" in h.get("cache-control", "") and h.get("etag"), "static file cached", h)
    st, h2, _ = env.request("GET", "/static/app.css", headers={"If-None-Match": h.get("etag", "")})
    check(st == 304, "static file revalidated (304)", st)
    for bad in ("/static/../accounts", "/static/%2e%2e/web.accounts", "/static/..%2fmain.c",
                "/static/", "/static/app.css/../../x"):
        st, _, body = env.get(bad)
        check(st == 404 and "password" not in body and "argon2" not in body, "traversal refused: " + bad, st)

    # sign-in: wrong password, backoff, then right
    st, _, body, _c = env.signin("ann.smith", "wrong password!")
    check(st == 401 and "Wrong name, password or one-time code" in body, "wrong password refused", st)
    st, _, body, _c = env.signin("nobody", "whatever it is")
    check(st == 401 and "Wrong name, password or one-time code" in body, "unknown name refused alike", st)
    env.signin("raj.patel", "wrong one 1")
    env.signin("raj.patel", "wrong one 2")
    env.signin("raj.patel", "wrong one 3")
    st, _, body, _c = env.signin("raj.patel", "another long phrase")
    check(st == 429 and "try again in" in body, "backoff after three failures", (st, body[:300]))
    st, h, body, ann = env.signin("ann.smith", "correct horse battery")
    check(st == 303 and h.get("location") == "/queue", "ann signs in", st)
    setc = h.get("set-cookie", "")
    check("HttpOnly" in setc and "SameSite=Strict" in setc, "session cookie HttpOnly, SameSite", setc)

    # the queue (as ann: marac)
    st, _, body = env.get("/queue?panel=marac", cookie=ann)
    check(st == 200 and "/alert/1" in body and "Signed in as ann.smith" in body, "ann's queue", st)
    csrf = csrf_of(body)
    check(bool(csrf), "pages carry a CSRF token")
    st, _, body = env.get("/queue?panel=marac&priority=standard", cookie=ann)
    check(st == 200 and "No alerts match" in body, "filter by priority on the hub", st)
    st, _, body = env.get("/queue?panel=marac&person=V-1&status=open", cookie=ann)
    check(st == 200 and "/alert/1" in body, "filter by person and status", st)
    st, _, body = env.get("/queue?panel=marac&person=%3Cscript%3E", cookie=ann)
    check(st == 400 and "<script>" not in body and "person" in body, "bad person filter refused", st)
    st, _, body = env.get("/queue?panel=asb-case-review", cookie=ann)
    check(st == 403 and "may not read panel" in body, "another panel's queue refused", st)

    # another panel's alert and person, by URL
    st, _, body = env.get("/alert/2", cookie=ann)
    check(st == 404 and "R-9" not in body, "another panel's alert: not found", st)
    st, _, body = env.get("/person/R-9", cookie=ann)
    check(st == 200 and "None on your panels" in body and "/alert/2" not in body,
          "another panel's person: nothing shown", st)
    st, _, body = env.get("/person/V-1", cookie=ann)
    check(st == 200 and "/alert/1" in body and "da.incident" in body, "person page", st)

    # the alert: evidence, then a decision with a note holding HTML
    st, _, body = env.get("/alert/1", cookie=ann)
    check(st == 200 and "da.incident" in body and "dash_score" in body and "Evidence (1 events)" in body,
          "alert page with evidence", st)
    note = "<script>alert(1)</script> & 'quoted'"
    st, _, body = env.request("POST", "/alert/1/decide", {"status": "accepted", "note": note,
                                                          "expect": "open"}, cookie=ann)
    check(st == 403 and "token" in body, "decision without CSRF refused", st)
    st, _, body = env.request("POST", "/alert/1/decide", {"status": "accepted", "note": note,
                                                          "csrf": "x" * 43}, cookie=ann)
    check(st == 403, "decision with a wrong CSRF token refused", st)
    r = env.cli("auditor", "replay", "--types", "alert.status")
    check(r.stdout.strip() == "", "nothing recorded by refused forms", r.stdout)
    st, h, body = env.request("POST", "/alert/1/decide", {"status": "accepted", "note": note,
                                                          "expect": "open", "csrf": csrf}, cookie=ann)
    check(st == 303, "decision recorded", (st, body[:300]))
    st, _, body = env.get("/alert/1", cookie=ann)
    check("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#39;quoted&#39;" in body and
          "<script>alert(1)" not in body, "note escaped on the alert page")
    check("accepted</b> by ann.smith through console" in body, "decision shows who", body[-1500:])
    r = env.cli("auditor", "replay", "--types", "alert.status")
    ev = json.loads(r.stdout.splitlines()[0])["event"] if r.stdout.strip() else {}
    check(ev.get("by") == "ann.smith" and ev.get("gateway") == "console" and ev.get("note") == note,
          "the log says ann.smith decided, through the console", ev)
    st, _, body = env.request("POST", "/alert/1/decide", {"status": "declined", "csrf": csrf},
                              cookie=ann)
    check(st == 409 and "it can move to closed" in body, "workflow refusal shown", (st, body[-600:]))

    # the decision opened V-1's case: on the agenda of marac's next meeting
    st, _, body = env.get("/agenda?panel=marac", cookie=ann)
    check(st == 200 and "Agenda: marac" in body and "/person/V-1" in body and
          "New cases since the last meeting (1)" in body, "agenda page", (st, body[-800:]))
    st, _, body = env.get("/queue?panel=marac", cookie=ann)
    check("/agenda?panel=marac" in body, "the queue links the agenda", st)
    st, _, body = env.get("/agenda?panel=asb-case-review", cookie=ann)
    check(st == 403, "another panel's agenda refused", st)

    # bad input
    st, _, body = env.request("POST", "/alert/1/decide", "note=" + "x" * 20000 + "&csrf=" + csrf,
                              cookie=ann)
    check(st == 413, "oversized body refused", st)
    st, _, body = env.request("POST", "/alert/1/decide", b"\xff\xfe%zz&&==", cookie=ann)
    check(st == 403, "malformed body refused (no token)", st)
    forged = "csphub_session=" + "0" * 64
    st, h, _ = env.get("/queue", cookie=forged)
    check(st == 303 and h.get("location") == "/signin", "forged session sent to sign-in", st)
    st, _, body = env.request("POST", "/alert/1/decide", {"status": "closed", "csrf": csrf}, cookie=forged)
    check(st == 403 and "Nothing was changed" in body, "forged session cannot decide", st)
    st, _, _ = env.get("/alert/0", cookie=ann)
    check(st == 404, "alert 0: not found", st)
    st, _, _ = env.get("/nope", cookie=ann)
    check(st == 404, "unknown page: 404", st)

    # live: an open page's stream gets a new alert within a second of its ack
    c = http.client.HTTPConnection("127.0.0.1", env.port, timeout=10)
    c.request("GET", "/events?panel=marac", headers={"Cookie": ann})
    resp = c.getresponse()
    check(resp.status == 200 and resp.getheader("Content-Type") == "text/event-stream", "event stream")
    # The raw socket file: chunked framing lines (hex sizes) are skipped.
    def sse_line():
        while True:
            line = resp.fp.readline().decode()
            if not re.fullmatch(r"[0-9A-Fa-f]+\r?\n", line) and line.strip():
                return line
    first = sse_line()  # the stream's hello: the panel's fetch is live
    check(first.startswith(":"), "stream says hello once live", first)
    t0 = time.monotonic()
    publish(env, [da(2, "V-2")])
    t1 = time.monotonic()
    got = None
    while time.monotonic() - t1 < 5:
        line = sse_line()
        if line.startswith("data: "):
            got = json.loads(line[6:])
            break
    delay = time.monotonic() - t1
    check(got is not None and got.get("id") == 3, "new alert streamed", got)
    print("live: %.0f ms from the publish's ack to the alert on the stream (%.0f ms from "
          "starting csphub publish)" % (delay * 1000, (time.monotonic() - t0) * 1000))
    check(delay < 1.0, "live arrival under a second", delay)
    c.close()
    st, _, _ = env.get("/events?panel=asb-case-review", cookie=ann)
    check(st == 403, "another panel's stream refused", st)

    # a restart of the console signs nobody out: the session, and its CSRF
    # token, come back from the sessions file (0600, holding no cookie)
    check(env.stop_web() == 0, "console stops cleanly")
    sessions = os.path.join(env.dir, "csphub-web.sessions")
    check(os.path.exists(sessions) and oct(os.stat(sessions).st_mode & 0o777) == "0o600",
          "sessions file beside the accounts, mode 0600")
    check(ann.split("=", 1)[1] not in open(sessions).read(), "the file holds no session id")
    env.start_web()
    st, _, body = env.get("/queue?panel=marac", cookie=ann)
    check(st == 200 and "Signed in as ann.smith" in body and csrf_of(body) == csrf,
          "the session survives a restart, with its CSRF token", st)

    # sign out: the session is gone, and stays gone after a restart
    st, h, _ = env.request("POST", "/signout", {"csrf": csrf}, cookie=ann)
    check(st == 303 and "Max-Age=0" in h.get("set-cookie", ""), "signed out", st)
    st, h, _ = env.get("/queue", cookie=ann)
    check(st == 303 and h.get("location") == "/signin", "ended session sent to sign-in", st)
    check(env.stop_web() == 0, "console stops cleanly")
    env.start_web()
    st, h, _ = env.get("/queue", cookie=ann)
    check(st == 303 and h.get("location") == "/signin", "an ended session stays ended", st)
    env.web_log.flush()
    log = open(os.path.join(env.dir, "web.log")).read()
    check("missing or wrong CSRF token" in log and "failed" in log and "refused" in log,
          "refusals are logged")

    # an account disabled while signed in: its session ends at once
    st, _, _, ann = env.signin("ann.smith", "correct horse battery")
    check(st == 303, "ann signs in again", st)
    r = subprocess.run([WEB, "user", "disable", "ann.smith", "--accounts", env.accounts],
                       capture_output=True, text=True)
    check(r.returncode == 0, "user disable", r.stderr)
    st, h, _ = env.get("/queue", cookie=ann)
    check(st == 303 and h.get("location") == "/signin", "disabled account signed out", st)
    st, _, _, _c = env.signin("ann.smith", "correct horse battery")
    check(st == 401, "disabled account cannot sign in", st)

    # a second factor: behind a TLS proxy (people reach it over a network)
    check(env.stop_web() == 0, "console stops cleanly")
    env.web_args = ["--behind-tls-proxy"]
    env.start_web()
    st, h, body, _c = env.signin("raj.patel", "another long phrase")
    check(st == 401 and "one-time code" in body, "no second factor set up: refused", (st, body[-400:]))
    r = subprocess.run([WEB, "user", "totp", "raj.patel", "--accounts", env.accounts],
                       capture_output=True, text=True)
    m = re.search(r"secret=([A-Z2-7]+)&", r.stdout)
    check(r.returncode == 0 and m, "user totp prints the secret and its link", r.stdout)
    secret = m.group(1) if m else "A" * 32
    st, _, body = env.request("POST", "/signin", {"name": "raj.patel",
                                                  "password": "another long phrase",
                                                  "code": "000000"})
    check(st == 401 and "one-time code" in body, "a wrong code refused", st)
    code = totp(secret)
    st, h, body = env.request("POST", "/signin", {"name": "raj.patel",
                                                  "password": "another long phrase",
                                                  "code": code})
    check(st == 303 and "Secure" in h.get("set-cookie", ""), "signed in with the code; Secure cookie",
          (st, h.get("set-cookie")))
    check("max-age" in h.get("strict-transport-security", ""), "HSTS behind a TLS proxy", h)
    st, _, body = env.request("POST", "/signin", {"name": "raj.patel",
                                                  "password": "another long phrase",
                                                  "code": code})
    check(st == 401, "a one-time code is good once", st)

    # HTTPS in the console itself, off loopback
    check(env.stop_web() == 0, "console stops cleanly")
    cert, key = os.path.join(env.dir, "cert.pem"), os.path.join(env.dir, "key.pem")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert],
                       capture_output=True, text=True)
    check(r.returncode == 0, "a test certificate", r.stderr[-300:])
    os.chmod(key, 0o644)
    tls_port = free_port()
    tls_args = [WEB, "--listen", "0.0.0.0:%d" % tls_port, "--hub", env.hub_ep, "--key",
                os.path.join(env.keys, "console.key"), "--server-key",
                os.path.join(env.keys, "hub.pub"), "--accounts", env.accounts,
                "--tls-cert", cert, "--tls-key", key]
    r = subprocess.run(tls_args, capture_output=True, text=True, timeout=30)
    check(r.returncode == 1 and "chmod 600" in r.stderr, "a readable TLS key refused", r.stderr)
    os.chmod(key, 0o600)
    tls = subprocess.Popen(tls_args, stderr=env.web_log)
    import ssl
    ctx = ssl.create_default_context(cafile=cert)
    ctx.check_hostname = False

    def https_get(path):
        c = http.client.HTTPSConnection("127.0.0.1", tls_port, timeout=10, context=ctx)
        c.request("GET", path)
        resp = c.getresponse()
        out = (resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read().decode())
        c.close()
        return out
    wait_for(lambda: https_get("/signin")[0] == 200, "the console over HTTPS")
    st, h, body = https_get("/signin")
    check(st == 200 and "max-age" in h.get("strict-transport-security", ""),
          "HTTPS off loopback, with HSTS", h)
    c = http.client.HTTPSConnection("127.0.0.1", tls_port, timeout=10, context=ctx)
    c.request("POST", "/signin", body=urllib.parse.urlencode(
        {"name": "raj.patel", "password": "another long phrase", "code": totp(secret, time.time() + 30)}),
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    resp = c.getresponse()
    resp.read()
    check(resp.status == 303 and "Secure" in (resp.getheader("Set-Cookie") or ""),
          "signed in over HTTPS (with a code), Secure cookie", resp.status)
    c.close()
    tls.send_signal(signal.SIGTERM)
    check(tls.wait(20) == 0, "the HTTPS console stops cleanly")
    env.start_web()

    # single sign-on: a reverse proxy's header, believed only from the proxy
    check(env.stop_web() == 0, "console stops cleanly")
    env.web_args = ["--proxy-user-header", "X-Remote-User", "--trusted-proxy", "127.0.0.1"]
    env.start_web()
    st, h, _ = env.request("GET", "/queue?panel=asb-case-review",
                           headers={"X-Remote-User": "raj.patel"})
    sso = h.get("set-cookie", "").split(";")[0]
    check(st == 303 and sso.startswith("csphub_session=") and
          h.get("location") == "/queue?panel=asb-case-review", "signed in by the proxy's header", st)
    st, _, body = env.get("/queue?panel=asb-case-review", cookie=sso)
    check(st == 200 and "Signed in as raj.patel" in body, "the proxy's user is served", st)
    st, h, _ = env.request("GET", "/queue", headers={"X-Remote-User": "raj.patel"},
                           source="127.0.0.2")
    check(st == 303 and h.get("location") == "/signin", "the header from elsewhere is ignored", st)
    st, _, body = env.request("GET", "/queue", headers={"X-Remote-User": "mallory"})
    check(st == 403 and "no enabled account" in body, "a proxy's user without an account refused", st)
    env.web_log.flush()
    log = open(os.path.join(env.dir, "web.log")).read()
    check("header X-Remote-User from 127.0.0.2 ignored" in log, "the ignored header is logged")
    r = subprocess.run([WEB, "--listen", "0.0.0.0:%d" % free_port(), "--behind-tls-proxy",
                        "--proxy-user-header", "X-Remote-User", "--trusted-proxy", "127.0.0.1",
                        "--accounts", env.accounts], capture_output=True, text=True, timeout=30)
    check(r.returncode == 2 and "only while listening on loopback" in r.stderr,
          "the header refused off loopback", r.stderr)
    r = subprocess.run([WEB, "--listen", "0.0.0.0:%d" % free_port(), "--accounts", env.accounts],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 2 and "refusing plain HTTP" in r.stderr, "plain HTTP off loopback refused",
          r.stderr)


if __name__ == "__main__":
    main()
