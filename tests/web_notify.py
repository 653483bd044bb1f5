#!/usr/bin/python3
"""csphub-web's email notice against a local SMTP server started here
(Debian's python3-aiosmtpd), a real hub in curve mode and the real console:
a notice per panel with counts, priorities, due dates and a link, never a
person reference, a reason or an event detail; a restart neither resends
nor misses; bad settings refused naming the cause. Every wait is a poll
with a deadline."""
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import web_http  # noqa: E402

from aiosmtpd.controller import Controller  # noqa: E402

check = web_http.check


class Inbox:
    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                                  envelope.content.decode("utf-8", "replace")))
        return "250 OK"

    def count(self):
        with self.lock:
            return len(self.messages)


def wait_for(cond, what, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)  # a poll with a deadline
    check(False, what)
    return False


def main():
    inbox = Inbox()
    smtp_port = web_http.free_port()
    ctl = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    ctl.start()
    tmp = __import__("tempfile").mkdtemp(prefix="csph-notify-")
    conf = os.path.join(tmp, "notify.json")
    with open(conf, "w") as f:
        json.dump({"smtp": "smtp://127.0.0.1:%d" % smtp_port, "from": "csphub@council.example",
                   "console_url": "http://127.0.0.1:7480/", "interval_s": 1,
                   "panels": {"marac": ["marac-team@council.example", "idva@council.example"]}}, f)
    env = web_http.Env(web_args=["--notify", conf])
    try:
        run(env, inbox, conf, tmp)
    finally:
        env.close()
        ctl.stop()
        __import__("shutil").rmtree(tmp, ignore_errors=True)
    if web_http.failures:
        print("%d checks failed" % len(web_http.failures))
        sys.exit(1)
    print("all checks passed")


def run(env, inbox, conf, tmp):
    web_http.publish(env, [web_http.da(1, "V-SECRET-1"), web_http.da(2, "V-SECRET-2")])
    wait_for(lambda: inbox.count() >= 1, "a notice arrives")
    wait_for(lambda: sum(new_count(m[2]) for m in inbox.messages) == 2, "two alerts noticed")
    for frm, rcpt, text in inbox.messages:
        check(frm == "csphub@council.example" and sorted(rcpt) == ["idva@council.example",
                                                                   "marac-team@council.example"],
              "envelope", (frm, rcpt))
        check("Subject: csphub: " in text and "on marac" in text, "subject names the panel", text)
        check("high priority:" in text and "queue?panel=marac" in text, "counts and a link", text)
        for secret in ("V-SECRET", "DASH", "da.incident", "dash_score", "victim", "domestic"):
            check(secret not in text, "no case detail in the notice: " + secret, text)
    n = inbox.count()
    # a restart resends nothing and misses nothing
    check(env.stop_web() == 0, "console stops cleanly")
    env.start_web()
    web_http.publish(env, [web_http.da(3, "V-SECRET-3")])
    wait_for(lambda: inbox.count() > n, "a notice after the restart")
    later = [m[2] for m in inbox.messages[n:]]
    check(sum(new_count(t) for t in later) == 1, "only the new alert after the restart", later)
    # bad settings: refused at start, naming the cause
    cases = [({"smtp": "http://x", "from": "a@b", "console_url": "u", "panels": {"marac": ["a@b"]}},
              "'smtp' must be smtp://"),
             ({"smtp": "smtp://127.0.0.1:1", "from": "a@b", "console_url": "u",
               "panels": {"marac": ["not an address"]}}, "not an email address"),
             ({"smtp": "smtp://127.0.0.1:1", "from": "a@b", "console_url": "u", "panels": {},
               "typo": 1}, "unknown setting 'typo'"),
             ({"smtp": "smtp://127.0.0.1:1", "from": "a@b", "console_url": "u",
               "credentials": os.path.join(tmp, "cred"), "panels": {"marac": ["a@b"]}},
              "chmod 600")]
    with open(os.path.join(tmp, "cred"), "w") as f:
        f.write("user:secret\n")
    os.chmod(os.path.join(tmp, "cred"), 0o644)
    for settings, want in cases:
        bad = os.path.join(tmp, "bad.json")
        with open(bad, "w") as f:
            json.dump(settings, f)
        r = subprocess.run([web_http.WEB, "--listen", "127.0.0.1:%d" % web_http.free_port(),
                            "--hub", env.hub_ep, "--accounts", env.accounts, "--notify", bad],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode == 1 and want in r.stderr, "bad settings refused: " + want, r.stderr)


def new_count(text):
    import re
    m = re.search(r"Subject: csphub: (\d+) new alert", text)
    return int(m.group(1)) if m else 0


if __name__ == "__main__":
    main()
