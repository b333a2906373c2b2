#!/usr/bin/env python3
"""tcpaudit - tests: the HTML report in a real browser.

Writes `tcpaudit report -f html` and `-f json` for the same capture, opens
the page from disk in headless Chromium and drives it over the DevTools
protocol on a pipe (--remote-debugging-pipe: standard library only, no
WebSocket client needed). Fails on any console error, uncaught exception,
failed or outgoing request, or when what the page shows differs from the
JSON report: the counters, the scenario chart, the host and connection
tables, the ladders, filtering and sorting. Saves a screenshot.

usage: browser-check.py --tcpaudit BIN --out DIR [--chromium PATH]
                        [--cap N] CAPTURE [CAPTURE...]
Exit status: 0 pass, 1 fail, 77 skipped (no Chromium installed).
"""
import argparse
import base64
import fcntl
import json
import os
import pathlib
import select
import shutil
import subprocess
import sys
import tempfile
import time

SKIP = 77
TIMEOUT_S = 60
ROW_STEP = 1000  # rows the page shows before "show more"


class Browser:
    """Headless Chromium driven over --remote-debugging-pipe: fd 3 carries
    our commands to the browser, fd 4 its answers, each message a JSON text
    ended by a NUL byte."""

    def __init__(self, chromium):
        self.profile = tempfile.mkdtemp(prefix="tcpaudit-chromium-")
        to_browser_r, to_browser_w = os.pipe()
        from_browser_r, from_browser_w = os.pipe()
        # keep the child's ends clear of 3 and 4 so the dup2s cannot clash
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 64) for fd in (to_browser_r, from_browser_w)]
        os.close(to_browser_r)
        os.close(from_browser_w)

        def child_fds():
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        args = [chromium, "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-extensions",
                "--disable-default-apps", "--hide-scrollbars", "--mute-audio",
                f"--user-data-dir={self.profile}", "--remote-debugging-pipe",
                "about:blank"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL,
                                     preexec_fn=child_fds, pass_fds=(3, 4))
        for fd in high:
            os.close(fd)
        self.w = to_browser_w
        self.r = from_browser_r
        self.buf = b""
        self.next_id = 0
        self.events = []
        self.session = None

    def _read_message(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the browser did not answer")
            ready, _, _ = select.select([self.r], [], [], left)
            if ready:
                chunk = os.read(self.r, 1 << 20)
                if not chunk:
                    raise RuntimeError("the browser closed the pipe")
                self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None, session=True):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            m = self._read_message(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method):
        deadline = time.monotonic() + TIMEOUT_S
        for i, ev in enumerate(self.events):
            if ev.get("method") == method:
                del self.events[i]
                return ev
        while True:
            m = self._read_message(deadline)
            if m.get("method") == method:
                return m
            self.events.append(m)

    def open_page(self):
        target = self.call("Target.createTarget", {"url": "about:blank"}, False)
        att = self.call("Target.attachToTarget",
                        {"targetId": target["targetId"], "flatten": True}, False)
        self.session = att["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            self.call(domain + ".enable")

    def eval(self, expr):
        r = self.call("Runtime.evaluate", {"expression": expr,
                                           "returnByValue": True,
                                           "awaitPromise": True})
        if "exceptionDetails" in r:
            raise RuntimeError(f"evaluating {expr[:60]}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def close(self):
        try:
            self.call("Browser.close", session=False)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.w)
        os.close(self.r)
        shutil.rmtree(self.profile, ignore_errors=True)


def problems_in_events(events, page_url):
    """Console errors, exceptions and requests other than the page itself."""
    out = []
    for ev in events:
        m, p = ev.get("method"), ev.get("params", {})
        if m == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            out.append("exception: " + d.get("exception", {}).get("description", d.get("text", "")))
        elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            out.append("console error: " + " ".join(str(a.get("value", a.get("description", "")))
                                                  for a in p.get("args", [])))
        elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
            out.append("browser log error: " + p["entry"].get("text", ""))
        elif m == "Network.loadingFailed":
            out.append("failed request: " + p.get("errorText", ""))
        elif m == "Network.requestWillBeSent":
            url = p["request"]["url"]
            if url != page_url and not url.startswith("data:"):
                out.append("request: " + url)
    return out


def report_value(doc, path):
    v = doc
    for part in path.split("."):
        if part == "length":
            return len(v)
        v = v[int(part)] if isinstance(v, list) else v.get(part, 0)
    return v


def check(cond, what, failures):
    if not cond:
        failures.append(what)
    return cond


def run_tcpaudit(binary, fmt, out, captures, cap):
    args = [binary, "report", "--no-progress", "-f", fmt, "-o", out]
    if cap:
        args += ["--html-max-connections", str(cap)]
    p = subprocess.run(args + captures, stderr=subprocess.PIPE, check=False)
    if p.returncode not in (0, 3):
        raise RuntimeError(f"tcpaudit -f {fmt} exited {p.returncode}: "
                           f"{p.stderr.decode(errors='replace')}")


def page_checks(b, doc, cap, failures):
    conns = doc["connections"]
    total = doc["flows"]["connections"]
    embedded = min(total, cap)
    # every number the page marks with data-count equals the JSON report's
    counts = b.eval("Array.from(document.querySelectorAll('[data-count]'))"
                    ".map(e => [e.getAttribute('data-count'), e.textContent])")
    check(len(counts) >= 4, "too few counters on the page", failures)
    for path, text in counts:
        want = report_value(doc, path)
        check(text.strip() == str(want),
              f"page shows {path} = {text!r}, report says {want}", failures)
    nonzero = [k for k, v in doc["flows"]["by_scenario"].items() if v]
    bars = b.eval("Array.from(document.querySelectorAll('svg.chart g[data-scenario]'))"
                  ".map(g => g.getAttribute('data-scenario'))")
    check(sorted(bars) == sorted(nonzero), f"chart bars {bars} != {nonzero}", failures)
    rows = b.eval("document.querySelectorAll('#conn-body tr.row').length")
    check(rows == min(embedded, ROW_STEP),
          f"{rows} connection rows, expected {min(embedded, ROW_STEP)}", failures)
    matching = b.eval("document.getElementById('conn-count').getAttribute('data-matching')")
    check(int(matching) == embedded, f"{matching} rows match, {embedded} embedded", failures)
    host_rows = b.eval("document.querySelectorAll('#host-table tbody tr').length")
    check(host_rows == min(len(doc["hosts"]), 1000),
          f"{host_rows} host rows for {len(doc['hosts'])} hosts", failures)
    capped = b.eval("!!document.getElementById('cap-note')")
    check(capped == (embedded < total), "cap note shown wrongly", failures)
    if embedded < total:
        return
    # all embedded: the ladders and filters can be checked against the report
    by_id = {c["id"]: c for c in conns}
    unfinished = {}
    for c in conns:
        if c["scenario"] != "completed":
            unfinished.setdefault(c["scenario"], c)
    stories = b.eval("Array.from(document.querySelectorAll('.story')).map(s => "
                     "[s.getAttribute('data-scenario'), s.querySelectorAll('g.pk').length])")
    check(sorted(s for s, _ in stories) == sorted(unfinished),
          f"stories {stories} for scenarios {sorted(unfinished)}", failures)
    for sc, arrows in stories:
        want = len(unfinished[sc]["ladder"]["packets"])
        check(arrows == want, f"{sc} ladder has {arrows} arrows, not {want}", failures)
    for sc, n in doc["flows"]["by_scenario"].items():
        got = b.eval("(() => { const s = document.getElementById('f-scenario');"
                     f" s.value = {json.dumps(sc)}; s.dispatchEvent(new Event('change'));"
                     " return document.querySelectorAll('#conn-body tr.row').length; })()")
        check(got == n, f"filter scenario={sc}: {got} rows, report has {n}", failures)
    port = conns[0]["resp"]["port"]
    want = sum(1 for c in conns if port in (c["orig"]["port"], c["resp"]["port"]))
    got = b.eval("(() => { document.getElementById('f-scenario').value = '';"
                 " const p = document.getElementById('f-port');"
                 f" p.value = '{port}'; p.dispatchEvent(new Event('input'));"
                 " return document.querySelectorAll('#conn-body tr.row').length; })()")
    check(got == want, f"filter port={port}: {got} rows, report has {want}", failures)
    host = conns[-1]["orig"]["ip"]
    want = sum(1 for c in conns if host in c["orig"]["ip"] or host in c["resp"]["ip"])
    got = b.eval("(() => { const p = document.getElementById('f-port'); p.value = '';"
                 " const h = document.getElementById('f-host');"
                 f" h.value = {json.dumps(host)}; h.dispatchEvent(new Event('input'));"
                 " return document.querySelectorAll('#conn-body tr.row').length; })()")
    check(got == want, f"filter host={host}: {got} rows, report has {want}", failures)
    # sorting: the table starts by id, up; a click on that header reverses it
    ids = b.eval("(() => { const h = document.getElementById('f-host'); h.value = '';"
                 " h.dispatchEvent(new Event('input'));"
                 " document.querySelector('#conn-head th').click();"
                 " return Array.from(document.querySelectorAll('#conn-body tr.row'))"
                 ".map(r => +r.getAttribute('data-id')); })()")
    check(ids == sorted(by_id, reverse=True), f"sorted ids {ids[:5]}...", failures)
    # a click on a row that did not complete opens its ladder
    target = next((c for c in conns if c["scenario"] != "completed"), None)
    if target:
        arrows = b.eval("(() => { document.querySelector('#conn-head th').click();"
                        f" const r = document.querySelector('#conn-body tr.row[data-id=\"{target['id']}\"]');"
                        " r.click(); const d = r.nextElementSibling;"
                        " return d && d.className === 'detail' ? d.querySelectorAll('g.pk').length : -1; })()")
        check(arrows == len(target["ladder"]["packets"]),
              f"row #{target['id']} opened with {arrows} arrows", failures)
    # a completed row opens its facts: handshake, close and round trips
    done = next((c for c in conns if c["scenario"] == "completed"), None)
    if done:
        facts = b.eval("(() => {"
                       f" const r = document.querySelector('#conn-body tr.row[data-id=\"{done['id']}\"]');"
                       " r.click(); const d = r.nextElementSibling;"
                       " if (!d || d.className !== 'detail') return null;"
                       " const out = {};"
                       " d.querySelectorAll('dl.facts dt').forEach(dt =>"
                       "   out[dt.textContent] = dt.nextElementSibling.textContent);"
                       " return out; })()") or {}
        check(facts.get("handshake", "").startswith("complete"),
              f"row #{done['id']} handshake fact {facts.get('handshake')!r}", failures)
        want = f"{done['close']['how']} from {done['close']['initiator']}"
        check(facts.get("close") == want,
              f"row #{done['id']} close fact {facts.get('close')!r}, not {want!r}", failures)
        check(("round trip" in facts) == bool(done["rtt"] and done["rtt"]["samples"]),
              f"row #{done['id']} round trip fact {facts.get('round trip')!r}", failures)


def screenshot(b, path):
    height = b.eval("Math.min(Math.ceil(document.documentElement.scrollHeight), 4000)")
    b.call("Emulation.setDeviceMetricsOverride",
           {"width": 1400, "height": height, "deviceScaleFactor": 1, "mobile": False})
    shot = b.call("Page.captureScreenshot", {"format": "png"})
    pathlib.Path(path).write_bytes(base64.b64decode(shot["data"]))


def check_one(b, binary, out_dir, name, captures, cap):
    html = os.path.join(out_dir, name + ".html")
    js = os.path.join(out_dir, name + ".json")
    run_tcpaudit(binary, "html", html, captures, cap)
    run_tcpaudit(binary, "json", js, captures, 0)
    with open(js, encoding="utf-8") as f:
        doc = json.load(f)
    url = pathlib.Path(html).resolve().as_uri()
    b.events.clear()
    b.call("Emulation.setDeviceMetricsOverride",
           {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False})
    b.call("Page.navigate", {"url": url})
    b.wait_event("Page.loadEventFired")
    deadline = time.monotonic() + TIMEOUT_S
    while b.eval("document.body && document.body.getAttribute('data-ready')") != "1":
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    failures = []
    if check(b.eval("document.body.getAttribute('data-ready')") == "1",
             "the page script did not finish", failures):
        page_checks(b, doc, cap or 5000, failures)
        # back to the initial view for the picture
        b.eval("(() => { for (const id of ['f-host', 'f-port']) document.getElementById(id).value = '';"
               " const s = document.getElementById('f-scenario'); s.value = '';"
               " s.dispatchEvent(new Event('change')); window.scrollTo(0, 0); })()")
        png = os.path.join(out_dir, name + ".png")
        screenshot(b, png)
        print(f"browser-check: {name}: screenshot {png}")
    b.eval("new Promise(r => setTimeout(r, 200))")  # let late events arrive
    b.call("Runtime.evaluate", {"expression": "1"})
    failures += problems_in_events(b.events, url)
    return failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tcpaudit", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--cap", type=int, default=0,
                    help="--html-max-connections for a second, capped page")
    ap.add_argument("captures", nargs="+")
    args = ap.parse_args()
    if not os.access(args.chromium, os.X_OK):
        print(f"browser-check: {args.chromium} is not installed; skipped")
        return SKIP
    os.makedirs(args.out, exist_ok=True)
    b = Browser(args.chromium)
    failures = []
    try:
        b.open_page()
        failures += [f"report: {f}" for f in
                     check_one(b, args.tcpaudit, args.out, "report", args.captures, 0)]
        if args.cap:
            failures += [f"capped: {f}" for f in
                         check_one(b, args.tcpaudit, args.out, "report-capped",
                                   args.captures, args.cap)]
    finally:
        b.close()
    for f in failures:
        print("FAIL", f)
    print("browser-check: " + ("FAILED" if failures else "passed"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
