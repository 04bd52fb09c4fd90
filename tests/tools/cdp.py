"""cdp.py - a headless Chromium driven through its DevTools protocol (python3-websocket), for
the dashboard's tests (tests/integration/web_dashboard.sh) and screenshots
(bench/dashboard_shots.bash): open a page, evaluate JavaScript in it, wait on a condition of
its DOM with a deadline, take a screenshot. Debian's /usr/bin/python3 and chromium."""

import base64
import json
import os
import shutil
import subprocess
import time
import urllib.request

import websocket  # Debian: python3-websocket


class BrowserError(Exception):
    pass


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    raise BrowserError("no chromium on PATH (Debian: apt-get install chromium; "
                       "scripts/install-deps.sh installs it)")


class Browser:
    """One headless Chromium with its own profile in user_dir and one page."""

    def __init__(self, user_dir, width=1400, height=1000, log=None):
        os.makedirs(user_dir, exist_ok=True)
        args = [find_chromium(), "--headless=new", "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1", "--user-data-dir=" + user_dir,
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-sync", "--disable-gpu",
                "--disable-dev-shm-usage", "--window-size=%d,%d" % (width, height),
                "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses to run as root with it
        self.log = open(log or os.path.join(user_dir, "chromium.log"), "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log,
                                     stdin=subprocess.DEVNULL)
        self.errors = []  # exceptions and console errors of the page
        self.seq = 0
        port_file = os.path.join(user_dir, "DevToolsActivePort")
        deadline = time.monotonic() + 30
        while not (os.path.exists(port_file) and open(port_file).read().count("\n") >= 1):
            if self.proc.poll() is not None:
                raise BrowserError("chromium exited (%d); see %s" % (self.proc.returncode,
                                                                   self.log.name))
            if time.monotonic() > deadline:
                self.close()
                raise BrowserError("chromium did not open its DevTools port in 30 s")
            time.sleep(0.05)
        port = int(open(port_file).read().split("\n")[0])
        pages = []
        while not pages:
            with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port) as r:
                pages = [t for t in json.load(r) if t.get("type") == "page"]
            if not pages:
                time.sleep(0.05)
        self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=60,
                                              suppress_origin=True)
        self.call("Page.enable")
        self.call("Runtime.enable")

    def _event(self, m):
        meth = m.get("method", "")
        if meth == "Runtime.exceptionThrown":
            d = m["params"]["exceptionDetails"]
            self.errors.append(d.get("exception", {}).get("description") or d.get("text"))
        elif meth == "Runtime.consoleAPICalled" and m["params"]["type"] == "error":
            self.errors.append(" ".join(str(a.get("value", a.get("description", "")))
                                        for a in m["params"]["args"]))
        return meth

    def call(self, method, **params):
        self.seq += 1
        me = self.seq
        self.ws.send(json.dumps({"id": me, "method": method, "params": params}))
        while True:
            m = json.loads(self.ws.recv())
            if m.get("id") == me:
                if "error" in m:
                    raise BrowserError("%s: %s" % (method, m["error"]))
                return m.get("result", {})
            self._event(m)

    def eval(self, expr):
        """The value of a JavaScript expression (a promise is awaited)."""
        r = self.call("Runtime.evaluate", expression=expr, awaitPromise=True,
                      returnByValue=True)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise BrowserError("%s: %s" % (expr[:80], d.get("exception", {}).get(
                "description") or d.get("text")))
        return r["result"].get("value")

    def open(self, url, timeout=30):
        self.call("Page.navigate", url=url)
        self.wait("document.readyState === 'complete'", timeout, "the page to load")

    def wait(self, expr, timeout, what):
        """Evaluate expr until it is truthy (every 50 ms, at most timeout seconds); its
        value. A timeout raises, saying what was awaited and the page's errors."""
        deadline = time.monotonic() + timeout
        while True:
            v = self.eval(expr)
            if v:
                return v
            if time.monotonic() > deadline:
                raise BrowserError("timed out after %g s waiting for %s (page errors: %s)" % (
                    timeout, what, self.errors or "none"))
            time.sleep(0.05)

    def screenshot(self, path, clip=None):
        p = {"format": "png"}
        if clip:
            p["clip"] = dict(clip, scale=1)
        data = self.call("Page.captureScreenshot", **p)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
