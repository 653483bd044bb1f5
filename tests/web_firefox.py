#!/usr/bin/python3
"""csphub-web in Firefox ESR: Debian 12 has no geckodriver, so Firefox's own
`--headless --screenshot` renders the sign-in, queue and alert pages into
PNG files ($CSPH_SCREENSHOTS, default a temporary directory). The signed-in
pages are reached through a small reverse proxy started here that puts the
user's name in the console's single sign-on header (the console trusts it
from 127.0.0.1 only): Firefox follows the console's redirect with the
session's cookie, as a browser behind a council's SSO would.

Checks that each screenshot was written and is a PNG of the window's size.
Skipped (77) when firefox-esr is not installed."""
import http.client
import http.server
import os
import shutil
import socketserver
import struct
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import web_http  # noqa: E402

FIREFOX = shutil.which("firefox-esr")
if not FIREFOX:
    print("skipped: firefox-esr is not installed")
    sys.exit(77)
check = web_http.check


def proxy_for(port, user):
    class Proxy(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() not in ("host", "x-remote-user")}
            headers["X-Remote-User"] = user
            c.request("GET", self.path, headers=headers)
            r = c.getresponse()
            body = r.read()
            self.send_response(r.status)
            for k, v in r.getheaders():
                if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            c.close()

        def log_message(self, *args):
            pass

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Proxy)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return struct.unpack(">II", head[16:24])


def shot(url, path, profile):
    r = subprocess.run([FIREFOX, "--headless", "--no-remote", "--profile", profile,
                        "--window-size=1280,900", "--screenshot", path, url],
                       capture_output=True, text=True, timeout=120)
    size = png_size(path) if os.path.exists(path) else None
    check(r.returncode == 0 and size == (1280, 900), "firefox screenshot of " + url,
          (r.returncode, size, r.stderr[-400:]))


def main():
    shots = os.environ.get("CSPH_SCREENSHOTS") or tempfile.mkdtemp(prefix="csph-shots-")
    os.makedirs(shots, exist_ok=True)
    env = web_http.Env(web_args=["--proxy-user-header", "X-Remote-User",
                                 "--trusted-proxy", "127.0.0.1"])
    proxy = proxy_for(env.port, "ann.smith")
    profile = tempfile.mkdtemp(prefix="csph-ff-")
    try:
        web_http.publish(env, [web_http.da(1, "V-1")])
        base = "http://127.0.0.1:%d" % env.port
        shot(base + "/signin", os.path.join(shots, "firefox-signin.png"), profile)
        via = "http://127.0.0.1:%d" % proxy.server_address[1]
        shot(via + "/queue?panel=marac", os.path.join(shots, "firefox-queue.png"), profile)
        shot(via + "/alert/1", os.path.join(shots, "firefox-alert.png"), profile)
        env.web_log.flush()
        log = open(os.path.join(env.dir, "web.log")).read()
        check("'ann.smith' signed in by the proxy's X-Remote-User" in log,
              "the pages were served signed in")
    finally:
        proxy.shutdown()
        env.close()
        shutil.rmtree(profile, ignore_errors=True)
    print("screenshots in %s" % shots)
    if web_http.failures:
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
