#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""The dashboard, redjob web, tested as a person uses it: a real
redis-server, a real redjobd and a real `redjob web`, driven by headless
Chromium through Selenium (Debian's chromium, chromium-driver and
python3-selenium, which autogen.sh --deps installs) and by plain HTTP
requests. Speaks TAP to make check's driver.

The browser is started once. The checks run in order against one set of
processes; the last ones stop Redis. Screenshots of the overview and of a
job page are written to tests/web-overview.png and tests/web-job.png in
the build directory (docs/ holds copies for the README).
"""

import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse

BUILD = os.environ.get("top_builddir", ".")
REDIS_SERVER = os.environ.get("REDIS_SERVER") or "redis-server"
REDJOB = os.path.join(BUILD, "src", "redjob")
REDJOBD = os.path.join(BUILD, "src", "redjobd")
REDIS_CLI = os.environ.get("REDIS_CLI") or "redis-cli"
DEADLINE = 30.0

results = []


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def poll(fn, what, timeout=DEADLINE):
    """Call fn until it returns a true value; return it."""
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.05)


class Suite:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="check_web-")
        self.sock = os.path.join(self.dir, "redis.sock")
        self.url = "unix://" + self.sock
        self.procs = []
        self.redis = None
        self.browser = None
        self.fixed = os.path.join(self.dir, "fixed")
        self.release = os.path.join(self.dir, "release")

    # Processes.

    def start_redis(self):
        self.redis = subprocess.Popen(
            [REDIS_SERVER, "--port", "0", "--unixsocket", self.sock,
             "--dir", self.dir, "--save", "", "--appendonly", "no",
             "--logfile", os.path.join(self.dir, "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        poll(lambda: self.cli_ok("PING"), "redis-server to answer")

    def cli_ok(self, *args):
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(self.sock)
            s.close()
        except OSError:
            return False
        return subprocess.run([REDIS_CLI, "-s", self.sock] + list(args),
                              capture_output=True).returncode == 0

    def redis_cli(self, *args):
        return subprocess.run([REDIS_CLI, "-s", self.sock] + list(args),
                              capture_output=True, text=True,
                              check=True).stdout

    def start_daemon(self):
        cfg = os.path.join(self.dir, "redjob.yml")
        with open(cfg, "w") as f:
            f.write(f"""redis:
  url: {self.url}
  namespace: webtest
workers: 1
concurrency: 2
max_payload: 2MiB
queues: {{ default: 1, mail: 1, hot: {{ weight: 1, shards: 3 }} }}
jobs:
  ok:
    exec: [/bin/sh, -c, 'cat >/dev/null']
  broken:
    exec: [/bin/sh, -c, 'printf "<script>window.pwned=5</script> \\\\033[1mbold" >&2; exit 65']
  slow:
    exec: [/bin/sh, -c, 'cat >/dev/null; while [ ! -e {self.release} ]; do sleep 0.05; done']
  flaky:
    exec: [/bin/sh, -c, 'cat >/dev/null; if [ -e {self.fixed} ]; then exit 0; fi; echo "upstream <b>down</b>" >&2; exit 65']
  echoing:
    exec: [/bin/sh, -c, 'printf "<b>out</b>:"; cat']
    result: {{ max: 100 }}
""")
        self.cfg = cfg
        args = [REDJOBD, "-c", cfg]
        if os.geteuid() == 0:
            args.append("--allow-root")
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(self.dir,
                                                      "redjobd.log"), "w"))
        self.procs.append(p)
        self.daemon = p

    def rj(self, *args, stdin=None):
        return subprocess.run([REDJOB, "-c", self.cfg] + list(args),
                              input=stdin, capture_output=True, check=True
                              ).stdout.decode().strip()

    def stats(self, queue):
        return json.loads(self.rj("stats", "--json", "-q", queue)
                          )["queues"][queue]

    def start_web(self, *args, url=None):
        """Start redjob web on a free port; returns (process, base URL)."""
        log = os.path.join(self.dir, "web-%d.log" % len(self.procs))
        cmd = [REDJOB, "-u", url or self.url, "-n", "webtest", "web"]
        cmd += list(args) if args else ["--listen", "127.0.0.1:0"]
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                             stderr=open(log, "w"))
        self.procs.append(p)

        def listening():
            check(p.poll() is None, "redjob web exited: " + open(log).read())
            m = re.search(r"listening on (\S+) ", open(log).read())
            return m.group(1).rstrip("/") if m else None
        return p, poll(listening, "redjob web to listen"), log

    def stop(self):
        if self.browser is not None:
            self.browser.quit()
        for p in self.procs + ([self.redis] if self.redis else []):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    # HTTP.

    def http(self, method, path, body=None, headers=None, base=None):
        u = urllib.parse.urlsplit(base or self.base)
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=20)
        h = {"Content-Type": "application/x-www-form-urlencoded"}
        h.update(headers or {})
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read().decode("utf-8", "replace")
        c.close()
        return r.status, data, r

    def get(self, path, **kw):
        return self.http("GET", path, **kw)

    def post(self, path, fields, **kw):
        return self.http("POST", path, urllib.parse.urlencode(fields), **kw)

    def csrf(self):
        _, page, _ = self.get("/")
        return re.search(r'name="csrf" value="([0-9a-f]{64})"', page).group(1)

    # The browser.

    def start_browser(self):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        o = webdriver.ChromeOptions()
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
                  "--disable-dev-shm-usage", "--window-size=1280,900",
                  "--user-data-dir=" + os.path.join(self.dir, "chromium")):
            o.add_argument(a)
        o.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        drv = shutil.which("chromedriver") or "/usr/bin/chromedriver"
        self.browser = webdriver.Chrome(service=Service(drv), options=o)
        self.browser.set_page_load_timeout(DEADLINE)

    def no_alert(self):
        from selenium.common.exceptions import NoAlertPresentException
        try:
            a = self.browser.switch_to.alert
            text = a.text
            a.dismiss()
        except NoAlertPresentException:
            return
        raise AssertionError("an alert opened: " + text)


def enqueue(s, *args, stdin=None):
    return s.rj("enqueue", *args, stdin=stdin)


def job_state(s, jid):
    st, page, _ = s.get("/job/" + urllib.parse.quote(jid, safe=""))
    if st == 404:
        return "gone"
    m = re.search(r'id="f-state">([a-z]+)<', page)
    return m.group(1) if m else None


# The checks, in order.

def t_overview_to_dead_job_and_retry(s):
    """Open the overview, follow a queue to a dead job, press retry, see
    it run."""
    from selenium.webdriver.common.by import By
    jid = enqueue(s, "flaky", "payload of the flaky job")
    enqueue(s, "-q", "mail", "ok", "{\"to\":\"ops@example.com\"}")
    poll(lambda: s.stats("default")["dead"] == 1, "the flaky job to die")
    poll(lambda: s.stats("mail")["processed"] >= 1, "the mail job")
    b = s.browser
    b.get(s.base + "/")
    check(b.title.startswith("Queues"), "overview title: " + b.title)
    rows = b.find_elements(By.CSS_SELECTOR, "#queues tr")
    check(any("default" in r.text for r in rows), "default in overview")

    # Rates need two loads a second apart: the first shows "-".
    def rate():
        b.refresh()
        cell = b.find_element(By.CSS_SELECTOR,
                              "#queues tr:nth-child(2) td:nth-child(9)")
        return cell.text != "-" and cell.text
    check(re.fullmatch(r"[0-9]+\.[0-9]{2}", poll(rate, "a rate")),
          "processed per second")
    b.save_screenshot(os.path.join(BUILD, "tests", "web-overview.png"))
    # The dead count of the queue default links to its dead jobs.
    b.find_element(By.CSS_SELECTOR,
                   'a[href="/queue/default?state=dead"]').click()
    on_page(s, "Queue default", "the queue's page")
    check(b.find_element(By.ID, "tab-dead").get_attribute("class") == "on",
          "the dead tab is shown")
    b.find_element(By.LINK_TEXT, jid).click()
    on_page(s, "Job " + jid, "the job's page")
    check(b.find_element(By.ID, "f-state").text == "dead", "job is dead")
    check("upstream <b>down</b>" in
          b.find_element(By.ID, "last-error").text, "last error shown")
    check(b.find_element(By.ID, "why").text.startswith("dead: "),
          "why: " + b.find_element(By.ID, "why").text)
    b.save_screenshot(os.path.join(BUILD, "tests", "web-job.png"))
    open(s.fixed, "w").close()
    b.find_element(By.CSS_SELECTOR, 'button[value="retry"]').click()
    # The page it lands on says it was retried, or, if the job already
    # ran, that it is gone.
    poll(lambda: "Retried: the job is ready" in b.page_source or
         "is done, or was deleted" in b.page_source, "the retry's answer")
    s.no_alert()

    def ran():
        b.refresh()
        gone = "No such job" in b.page_source
        return gone or b.find_element(By.ID, "f-state").text == "done"
    poll(ran, "the retried job to run")
    check(s.stats("default")["dead"] == 0, "no dead job left")


def t_hostile_payloads(s):
    """<script> in every free-text field, NULs and a 1 MiB payload render
    as escaped text and run nothing."""
    from selenium.webdriver.common.by import By
    b = s.browser
    script = ("<script>window.pwned=1</script>"
              "<img src=x onerror=window.pwned=2>")
    # A queue no worker serves keeps these jobs ready.
    j1 = enqueue(s, "-q", "parked", "--key", "<script>window.pwned=3</script>",
                 "--unique", "\"><script>window.pwned=4</script>", "ok",
                 script)
    j2 = enqueue(s, "-q", "parked", "ok", "-",
                 stdin=b"\x00\x01<script>window.pwned=6</script>\x00\xff")
    big = (script + "A" * (1 << 20)).encode()[:1 << 20]
    j3 = enqueue(s, "-q", "parked", "ok", "-", stdin=big)
    j4 = enqueue(s, "broken", script)
    poll(lambda: job_state(s, j4) == "dead", "the broken job to die")
    for jid in (j1, j2, j3, j4):
        st, raw, _ = s.get("/job/" + jid)
        check(st == 200, "%s: status %d" % (jid, st))
        check("<script" not in raw.lower() and "<img" not in raw.lower(),
              jid + ": markup from Redis reached the page unescaped")
        b.get(s.base + "/job/" + jid)
        s.no_alert()
        check(b.execute_script("return window.pwned === undefined"),
              jid + ": a script ran")
        check(len(b.find_elements(By.TAG_NAME, "script")) == 0 and
              len(b.find_elements(By.TAG_NAME, "img")) == 0,
              jid + ": an element was injected")
    b.get(s.base + "/job/" + j1)
    check(script in b.find_element(By.ID, "payload").text,
          "the payload shows as text")
    check("<script>window.pwned=3</script>" in
          b.find_element(By.ID, "f-key").text, "the key shows as text")
    check("\"><script>window.pwned=4</script>" in
          b.find_element(By.ID, "f-unique").text, "the unique key shows")
    b.get(s.base + "/job/" + j2)
    text = b.find_element(By.ID, "payload").text
    check("00 01 3c 73 63 72 69 70" in text, "hex dump: " + text[:200])
    ascii = "".join(line[line.index("|") + 1:line.rindex("|")]
                    for line in text.splitlines())
    check(ascii == "..<script>window.pwned=6</script>..",
          "the hex dump's text column shows the markup as text: " + ascii)
    b.get(s.base + "/job/" + j3)
    note = b.find_element(By.ID, "payload-note").text
    check("1048576 bytes" in note and "first 4096 bytes" in note,
          "truncation note: " + note)
    check(len(b.find_element(By.ID, "payload").text) <= 4096,
          "at most 4 KiB shown")
    b.get(s.base + "/job/" + j4)
    err = b.find_element(By.ID, "last-error").text
    check("<script>window.pwned=5</script> \\x1b[1mbold" in err,
          "the error shows as text, its escape as \\x1b: " + err)
    b.get(s.base + "/queue/parked")
    s.no_alert()
    check(b.execute_script("return window.pwned === undefined"),
          "the queue page ran a script")


def t_csrf(s):
    """A POST without the CSRF token, or with a wrong one, is refused."""
    jid = enqueue(s, "-q", "parked", "ok", "x")
    st, page, _ = s.post("/action", {"op": "delete", "id": jid})
    check(st == 403 and "CSRF" in page, "no token: %d" % st)
    st, _, _ = s.post("/action", {"op": "delete", "id": jid, "csrf": "0" * 64})
    check(st == 403, "wrong token: %d" % st)
    check(job_state(s, jid) == "ready", "the job is still there")
    st, _, r = s.post("/action", {"op": "delete", "id": jid,
                                  "csrf": s.csrf()})
    check(st == 303 and r.getheader("Location") == "/queue/parked?done=delete",
          "with the token: %d %s" % (st, r.getheader("Location")))
    check(job_state(s, jid) == "gone", "deleted")


def t_not_found(s):
    """Unknown job ids, odd queue names and pages past the end are 404s."""
    for path in ("/job/default:999999", "/job/not-an-id", "/job/%3Cx%3E:1",
                 "/queue/a%3Cb%3E", "/queue/a%20b", "/queue/no-such-queue",
                 "/queue/default?state=lost", "/queue/parked?offset=100000",
                 "/queue/parked?offset=-1", "/nowhere"):
        st, page, r = s.get(path)
        check(st == 404, "%s: %d" % (path, st))
        check('id="error"' in page and "<x>" not in page and
              "<b>" not in page, path + ": a clear, escaped message")
        check(r.getheader("Content-Security-Policy", "").startswith(
            "default-src 'none'"), path + ": CSP")


def on_page(s, h1, what):
    """Wait for the browser to show the page titled h1 (a click on a
    form's button returns before the next page loads)."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By

    def shown():
        try:
            return s.browser.find_element(By.TAG_NAME, "h1").text == h1
        except WebDriverException:
            return False
    poll(shown, what + " (at %s)" % s.browser.current_url)


def t_dot_queues(s):
    """Queues named "." and "..", which browsers would take for steps of
    a path, have working links."""
    from selenium.webdriver.common.by import By
    b = s.browser
    for q in (".", ".."):
        jid = enqueue(s, "-q", q, "ok", "dots")
        st, page, _ = s.get("/")
        check('<a href="/queue?name=%s">' % q in page,
              "overview links " + q)
        b.get(s.base + "/")
        b.find_element(By.CSS_SELECTOR,
                       'a[href="/queue?name=%s"]' % q).click()
        on_page(s, "Queue " + q, "the page of queue " + q)
        b.find_element(By.ID, "tab-ready").click()
        b.find_element(By.LINK_TEXT, jid).click()
        on_page(s, "Job " + jid, "the page of " + jid)
        b.find_element(By.CSS_SELECTOR, 'button[value="delete"]').click()
        on_page(s, "Queue " + q, "queue " + q + " after the delete")
        check(job_state(s, jid) == "gone", "deleted")


def t_pagination(s):
    """A queue is shown 50 jobs a page; the page past the end is 404."""
    ids = s.rj("enqueue", "-q", "paged", "--lines", "ok",
               stdin=b"".join(b"%d\n" % i for i in range(120))).split()
    check(len(ids) == 120, "120 jobs")
    seen = []
    for offset, n in ((0, 50), (50, 50), (100, 20)):
        st, page, _ = s.get("/queue/paged?state=ready&offset=%d" % offset)
        shown = re.findall(r'<a href="/job/paged%3A([0-9]+)">', page)
        check(st == 200 and len(shown) == n, "page at %d: %d %d" %
              (offset, st, len(shown)))
        seen += ["paged:" + i for i in shown]
        check(("offset=%d\">Next" % (offset + 50) in page) == (n == 50),
              "next link at %d" % offset)
    check(sorted(seen) == sorted(ids), "every job once")
    st, page, _ = s.get("/queue/paged?state=ready&offset=120")
    check(st == 404 and "Past the end" in page, "past the end: %d" % st)
    st, page, _ = s.get("/job/paged:999")
    check(st == 404 and "paged:999 was never enqueued" in page, "never")
    jid = enqueue(s, "-q", "paged", "ok", "x")
    s.post("/action", {"op": "delete", "id": jid, "csrf": s.csrf()})
    st, page, _ = s.get("/job/" + jid)
    check(st == 404 and "%s is done, or was deleted" % jid in page, "done")


def t_dead_set_actions(s):
    """Retry-all and delete-all of a dead set; pause and resume."""
    for _ in range(3):
        enqueue(s, "broken", "x")
    poll(lambda: s.stats("default")["dead"] >= 4, "four dead jobs")
    st, page, _ = s.get("/dead")
    check(st == 200 and "retry-all" in page, "the dead page")
    tok = s.csrf()
    before = s.stats("default")["retried"]
    st, _, r = s.post("/action", {"op": "retry-all", "queue": "default",
                                  "csrf": tok})
    check(st == 303 and "done=retry-all&n=4" in r.getheader("Location"),
          "retry-all: %d %s" % (st, r.getheader("Location")))
    poll(lambda: s.stats("default")["dead"] == 4, "them to die again")
    check(s.stats("default")["retried"] >= before, "counted")
    st, page, _ = s.post("/action", {"op": "delete-all", "queue": "default",
                                     "csrf": tok})
    check(st == 400 and "confirm" in page, "delete-all needs the box")
    st, _, r = s.post("/action", {"op": "delete-all", "queue": "default",
                                  "csrf": tok, "confirm": "yes"})
    check(st == 303 and "n=4" in r.getheader("Location"), "delete-all")
    check(s.stats("default")["dead"] == 0, "the dead set is empty")
    st, _, _ = s.post("/action", {"op": "pause", "queue": "mail",
                                  "csrf": tok})
    check(st == 303 and s.stats("mail")["paused"], "paused")
    st, page, _ = s.get("/queue/mail")
    check("Paused" in page and 'value="resume"' in page, "shown paused")
    st, _, _ = s.post("/action", {"op": "resume", "queue": "mail",
                                  "csrf": tok})
    check(st == 303 and not s.stats("mail")["paused"], "resumed")


def t_workers_page(s):
    """The workers page shows the registry's live workers, escaped, and
    skips stale members."""
    sec, usec = s.redis_cli("TIME").split()
    now = int(sec) * 1000 + int(usec) // 1000
    live, stale = "0123456789abcdef", "fedcba9876543210"
    s.redis_cli("SADD", "webtest:workers", live, stale, "<b>not-an-id</b>")
    s.redis_cli("HSET", "webtest:worker:" + live,
                "host", "<script>window.pwned=7</script>", "pid", "4242",
                "ppid", "4241", "version", "0.1.0", "slot", "1",
                "started", str(now - 120000), "queues", "default,mail",
                "slots", "4", "busy", "1", "seen", str(now - 1000),
                "ok", str(now - 2000),
                "cond", "redis: NOPERM on FCALL (see ACL)",
                "jobs", "default:77\tflaky\t%d\n<b>odd line</b>" %
                (now - 5000))
    s.redis_cli("PEXPIRE", "webtest:worker:" + live, "60000")
    st, page, _ = s.get("/workers")
    check(st == 200 and "<h1>Workers</h1>" in page, "workers: %d" % st)
    row = re.search(r'<tr id="w-%s">(.*?)</tr>' % live, page, re.S)
    check(row is not None, "the live worker's row")
    row = row.group(1)
    for want in ("&lt;script&gt;window.pwned=7&lt;/script&gt;", "4242",
                 "default,mail", "1/4", "redis: NOPERM on FCALL (see ACL)",
                 '<a href="/job/default%3A77">default:77</a> flaky',
                 "&lt;b&gt;odd line&lt;/b&gt;", "<td>2 min ago</td>"):
        check(want in row, "row has " + want + ": " + row)
    check(stale not in page and "not-an-id" not in page,
          "stale and invalid members are skipped")
    check("<script" not in page and "<b>" not in page, "escaped")
    s.redis_cli("DEL", "webtest:worker:" + live)
    s.redis_cli("SREM", "webtest:workers", live, stale, "<b>not-an-id</b>")
    # The daemon's own worker registers itself too.
    host = socket.gethostname()

    def registered():
        page = s.get("/workers")[1]
        return re.search(r'<tr id="w-[0-9a-f]{16}"><td>[0-9a-f]{16}</td>'
                         r'<td>%s</td>' % re.escape(host), page)
    poll(registered, "the daemon's worker on the workers page")
    # The overview counts each queue's live workers, and flags a queue
    # whose ready jobs no worker will take.
    page = s.get("/")[1]
    cell = r'<td class="n( bad)?"><a href="/workers">([0-9]+)</a></td>'
    rows = dict((q, (bad, int(n))) for q, bad, n in re.findall(
        r'<tr><td><a href="/queue/([a-z]+)">.*?' + cell, page))
    check(rows.get("default", ("", 0))[1] >= 1 and not rows["default"][0],
          "default has a worker: %s" % rows)
    check(rows.get("parked") == (" bad", 0), "parked has none: %s" % rows)


def t_running_job(s):
    """A running job shows its worker and start; the worker shows the
    job."""
    jid = enqueue(s, "slow", "")
    poll(lambda: job_state(s, jid) == "running", "the slow job to run")
    _, page, _ = s.get("/job/" + jid)
    m = re.search(r'id="f-worker"><a href="/workers#w-([0-9a-f]{16})">', page)
    check(m is not None, "the worker is linked: " + page)
    check(re.search(r'id="f-started">20[0-9-]+ [0-9:]+Z', page),
          "the start is a time")
    check('value="retry"' not in page, "no retry for a running job")

    def listed():
        w = s.get("/workers")[1]
        row = re.search(r'<tr id="w-%s">(.*?)</tr>' % m.group(1), w, re.S)
        return row and ('<a href="/job/%s">' %
                        urllib.parse.quote(jid, safe="")) in row.group(1)
    poll(listed, "the job in its worker's row")
    open(s.release, "w").close()
    poll(lambda: job_state(s, jid) == "gone", "the slow job to finish")


def t_cancel(s):
    """Cancel, a form with the CSRF token like the others: a scheduled
    job is cancelled and kept; a running one is stopped by its worker;
    a finished one has no Cancel and is refused."""
    from selenium.webdriver.common.by import By
    jid = enqueue(s, "-q", "parked", "--in", "1h", "ok", "x")
    path = "/job/" + urllib.parse.quote(jid, safe="")
    _, page, _ = s.get(path)
    check('value="cancel"' in page, "a Cancel for a scheduled job")
    st, page, _ = s.post("/action", {"op": "cancel", "id": jid})
    check(st == 403 and "CSRF" in page, "no token: %d" % st)
    check(job_state(s, jid) == "scheduled", "not cancelled without it")
    st, _, r = s.post("/action", {"op": "cancel", "id": jid,
                                  "csrf": s.csrf()})
    check(st == 303 and r.getheader("Location") == path + "?done=cancel",
          "cancel: %d %s" % (st, r.getheader("Location")))
    _, page, _ = s.get(path + "?done=cancel")
    check("Cancelled" in page and job_state(s, jid) == "cancelled",
          "kept as cancelled")
    check('value="cancel"' not in page and 'value="retry"' not in page,
          "no Cancel or Retry for a cancelled job")
    st, page, _ = s.post("/action", {"op": "cancel", "id": jid,
                                     "csrf": s.csrf()})
    check(st == 409 and "has finished (cancelled)" in page,
          "a second cancel: %d" % st)
    st, page, _ = s.post("/action", {"op": "cancel", "id": "parked:999999",
                                     "csrf": s.csrf()})
    check(st == 404, "a cancel of no job: %d" % st)

    # A running job, from the browser: its handler waits for the release
    # file, which t_running_job made.
    os.remove(s.release)
    jid = enqueue(s, "slow", "")
    poll(lambda: job_state(s, jid) == "running", "the slow job to run")
    b = s.browser
    b.get(s.base + "/job/" + urllib.parse.quote(jid, safe=""))
    b.find_element(By.CSS_SELECTOR, 'button[value="cancel"]').click()
    poll(lambda: "Cancelled" in b.page_source, "the cancel's answer")
    s.no_alert()
    check(job_state(s, jid) == "cancelled", "the running job is cancelled")
    poll(lambda: not re.search(r'<a href="/job/%s">' % urllib.parse.quote(
        jid, safe=""), s.get("/workers")[1]), "its worker to let it go")
    open(s.release, "w").close()


def t_schedules_page(s):
    """The schedules page shows what the schedulers publish, escaped."""
    key = "webtest:{mail}"
    s.redis_cli("FCALL", "redjob_schedule", "1", key, "report",
                "<script>window.pwned=8</script>", "Europe/Berlin", "once",
                "7", "1800000000000")
    s.redis_cli("HSET", key + ":sched", "last:report", "1799999700000")
    st, page, _ = s.get("/schedules")
    check(st == 200 and "<h1>Schedules</h1>" in page, "schedules: %d" % st)
    check('<a href="/schedules">Schedules</a>' in page, "in the navigation")
    row = re.search(r'<tr><td>report</td>(.*?)</tr>', page, re.S)
    check(row is not None, "the schedule's row: " + page[-800:])
    row = row.group(1)
    for want in ('<a href="/queue/mail">mail</a>',
                 "&lt;script&gt;window.pwned=8&lt;/script&gt;",
                 "Europe/Berlin", "once", "2027-01-15 07:55:00Z",
                 "2027-01-15 08:00:00Z"):
        check(want in row, "row has " + want + ": " + row)
    check("<script" not in page, "escaped")
    s.redis_cli("DEL", key + ":sched")
    page = s.get("/schedules")[1]
    check("No schedule" in page, "none left: " + page[-400:])


def t_reader_role(s):
    """As the reader role of redjob acl every page answers, and the
    buttons say Redis refuses them."""
    line = s.rj("acl", "reader", "--namespace", "webtest")
    args = shlex.split(line)
    check(args[:2] == ["ACL", "SETUSER"], line)
    s.redis_cli(*(args + ["on", ">pw"]))
    url = "unix://%s:pw@%s" % (args[2], s.sock)
    p, base, _ = s.start_web("--listen", "127.0.0.1:0", url=url)
    jid = enqueue(s, "-q", "parked", "ok", "read me")
    for path in ("/", "/queue/parked", "/job/" + jid, "/workers", "/dead",
                 "/schedules"):
        st, _, _ = s.get(path, base=base)
        check(st == 200, "%s as reader: %d" % (path, st))
    tok = re.search(r'name="csrf" value="([0-9a-f]{64})"',
                    s.get("/", base=base)[1]).group(1)
    st, page, _ = s.post("/action", {"op": "delete", "id": jid, "csrf": tok},
                         base=base)
    check(st == 503 and "NOPERM" in page, "delete as reader: %d" % st)
    check(job_state(s, jid) == "ready", "the job is still there")
    p.send_signal(signal.SIGTERM)
    check(p.wait(20) == 0, "stops on SIGTERM")


def t_dns_rebinding(s):
    """Without a token, a request for another host name is refused."""
    st, _, _ = s.get("/", headers={"Host": "attacker.example:80"})
    check(st == 403, "foreign Host: %d" % st)
    st, _, _ = s.get("/", headers={"Host": "localhost:1"})
    check(st == 200, "localhost: %d" % st)


def t_listen_needs_token(s):
    """A non-loopback address without --token-file refuses to start."""
    for addr in ("0.0.0.0:0", "[::]:0"):
        r = subprocess.run([REDJOB, "-u", s.url, "web", "--listen", addr],
                           capture_output=True, text=True, timeout=20)
        check(r.returncode == 2, "%s: exit %d" % (addr, r.returncode))
        check("not a loopback address" in r.stderr and
              "--token-file" in r.stderr, addr + ": " + r.stderr)
    r = subprocess.run([REDJOB, "web", "--listen", "nowhere"],
                       capture_output=True, text=True, timeout=20)
    check(r.returncode == 2 and "HOST:PORT" in r.stderr, r.stderr)


def t_listen_forms(s):
    """--listen [::1]:PORT and unix:/PATH serve the same pages."""
    p, base, _ = s.start_web("--listen", "[::1]:0")
    check(base.startswith("http://[::1]:"), base)
    st, page, _ = s.get("/", base=base, headers={"Host": base[7:]})
    check(st == 200 and "<h1>Queues</h1>" in page, "[::1]: %d" % st)
    p.send_signal(signal.SIGTERM)
    check(p.wait(20) == 0, "stops")
    path = os.path.join(s.dir, "web.sock")
    p, base, _ = s.start_web("--listen", "unix:" + path)
    check(base == "unix:" + path, base)

    def get_unix(target, host):
        c = http.client.HTTPConnection("localhost", timeout=20)
        c.sock = socket.socket(socket.AF_UNIX)
        c.sock.connect(path)
        c.request("GET", target, headers={"Host": host})
        r = c.getresponse()
        body = r.read().decode()
        c.close()
        return r.status, body
    # Behind a proxy on a unix socket, any Host is served.
    st, page = get_unix("/queue/default", "dash.example")
    check(st == 200 and "<h1>Queue default</h1>" in page, "unix: %d" % st)
    p.send_signal(signal.SIGTERM)
    check(p.wait(20) == 0, "stops")
    check(not os.path.exists(path), "the socket is removed")


def t_token(s):
    """With --token-file: 401 without it, bearer and login cookie work."""
    tf = os.path.join(s.dir, "token")
    token = "s3cret-token-of-the-test"
    with open(tf, "w") as f:
        f.write(token + "\n")
    os.chmod(tf, 0o644)
    r = subprocess.run([REDJOB, "-u", s.url, "web", "--token-file", tf,
                        "--listen", "127.0.0.1:0"],
                       capture_output=True, text=True, timeout=20)
    check(r.returncode == 1 and "chmod o-r" in r.stderr, r.stderr)
    os.chmod(tf, 0o600)
    p, base, _ = s.start_web("--listen", "127.0.0.1:0", "--token-file", tf)
    st, page, _ = s.get("/", base=base)
    check(st == 401 and 'action="/login"' in page, "no token: %d" % st)
    st, _, _ = s.get("/", base=base,
                     headers={"Authorization": "Bearer " + token})
    check(st == 200, "bearer: %d" % st)
    st, _, _ = s.get("/", base=base, headers={"Authorization": "Bearer x"})
    check(st == 401, "wrong bearer: %d" % st)
    st, _, _ = s.post("/login", {"token": "wrong"}, base=base)
    check(st == 403, "wrong login: %d" % st)
    st, _, r = s.post("/login", {"token": token}, base=base)
    cookie = r.getheader("Set-Cookie", "")
    check(st == 303 and "HttpOnly" in cookie and "SameSite=Strict" in cookie,
          "login: %d %s" % (st, cookie))
    st, page, _ = s.get("/", base=base,
                        headers={"Cookie": cookie.split(";")[0]})
    check(st == 200 and "<h1>Queues</h1>" in page, "cookie: %d" % st)
    st, _, r = s.post("/login", {"token": token}, base=base,
                      headers={"X-Forwarded-Proto": "https"})
    check(r.getheader("Set-Cookie", "").endswith("; Secure"),
          "Secure behind a TLS proxy")
    # Any Host is fine once a token is required.
    st, _, _ = s.get("/", base=base, headers={
        "Authorization": "Bearer " + token, "Host": "dash.example"})
    check(st == 200, "Host with a token: %d" % st)
    p.send_signal(signal.SIGTERM)
    check(p.wait(20) == 0, "stops on SIGTERM")


def t_redis_denied(s):
    """A user Redis refuses: the page says so (503)."""
    s.redis_cli("ACL", "SETUSER", "nobody", "on", ">pw", "-@all")
    url = "unix://nobody:pw@" + s.sock
    p, base, _ = s.start_web("--listen", "127.0.0.1:0", url=url)
    st, page, _ = s.get("/", base=base)
    check(st == 503 and "NOPERM" in page, "denied: %d %s" % (st, page[-400:]))
    check(p.poll() is None, "still up")
    p.send_signal(signal.SIGTERM)
    check(p.wait(20) == 0, "stops on SIGTERM")


def t_redis_down(s):
    """Redis stops: 503 with the error; it comes back: pages work again."""
    s.redis.send_signal(signal.SIGTERM)
    s.redis.wait(20)
    for path in ("/", "/queue/default", "/job/default:1", "/workers"):
        st, page, _ = s.get(path)
        check(st == 503 and "Redis cannot answer" in page and
              "cannot connect" in page, "%s: %d" % (path, st))
    check(s.web.poll() is None, "redjob web is still up")
    s.start_redis()
    poll(lambda: s.get("/")[0] == 200, "the overview to answer again")
    with open(s.weblog) as f:
        log = f.read()
    check("cannot connect" in log and "redis answers again" in log,
          "logged: " + log)
    check(log.count("cannot connect") <= 2, "rate-limited: " + log)


def t_clean_exit(s):
    """SIGTERM stops redjob web with status 0 and a clean log (no
    sanitizer report under --enable-sanitizers)."""
    s.web.send_signal(signal.SIGTERM)
    rc = s.web.wait(20)
    with open(s.weblog) as f:
        log = f.read()
    check(rc == 0, "exit status %d: %s" % (rc, log))
    check("stopping" in log, "says it stops: " + log)
    check("Sanitizer" not in log and "runtime error" not in log,
          "sanitizer report: " + log)


def t_job_result(s):
    """A done job of a type with result: shows its result on its page:
    text escaped, binary as hex, and a result cut at its max says so."""
    from selenium.webdriver.common.by import By
    b = s.browser
    j1 = enqueue(s, "echoing", "<script>window.pwned=7</script>")
    j2 = enqueue(s, "echoing", "-", stdin=b"\x00\x01\xff")
    j3 = enqueue(s, "echoing", "x" * 200)
    for jid in (j1, j2, j3):
        poll(lambda: job_state(s, jid) == "done", jid + " to be done")
    st, raw, _ = s.get("/job/" + j1)
    check(st == 200 and "<script" not in raw.lower(),
          "the result reached the page unescaped")
    b.get(s.base + "/job/" + j1)
    s.no_alert()
    check(b.find_element(By.ID, "result").text ==
          "<b>out</b>:<script>window.pwned=7</script>",
          "the result shows as text: " + b.find_element(By.ID, "result").text)
    check("text" in b.find_element(By.ID, "result-note").text, "a text note")
    check(len(b.find_elements(By.ID, "result-cut")) == 0, "not cut")
    b.get(s.base + "/job/" + j2)
    text = b.find_element(By.ID, "result").text
    check("00 01 ff" in text and "not printable" in
          b.find_element(By.ID, "result-note").text, "hex dump: " + text)
    b.get(s.base + "/job/" + j3)
    cut = b.find_element(By.ID, "result-cut").text
    check("gave 211 bytes" in cut and "first 100" in cut, "cut: " + cut)
    check(len(b.find_element(By.ID, "result").text) == 100, "100 bytes")
    check(b.find_element(By.ID, "f-result_truncated").text == "1",
          "result_truncated in the fields")


def t_sharded_queue(s):
    """A sharded queue is one row of the overview; its page lists its
    shards, each with its own page; pause and resume take every shard."""
    from selenium.webdriver.common.by import By
    for i in range(6):
        enqueue(s, "-q", "hot", "ok", "sharded %d" % i)
    poll(lambda: s.stats("hot")["processed"] >= 6, "the six hot jobs")
    st, page, _ = s.get("/")
    check(st == 200 and page.count('<a href="/queue/hot">') == 1 and
          "/queue/hot~" not in page, "hot is one row of the overview")
    b = s.browser
    b.get(s.base + "/")
    b.find_element(By.CSS_SELECTOR, 'a[href="/queue/hot"]').click()
    on_page(s, "Queue hot", "the sharded queue's page")
    rows = b.find_elements(By.CSS_SELECTOR, "#shards tr")
    check(len(rows) == 4, "three shards and a heading: %d" % len(rows))
    check([r.text.split()[0] for r in rows[1:]] == ["hot", "hot~1", "hot~2"],
          "the shards: " + " / ".join(r.text for r in rows))
    done = sum(int(r.text.split()[5]) for r in rows[1:])
    check(done >= 6, "processed over the shards: %d" % done)
    b.find_element(By.LINK_TEXT, "hot~2").click()
    on_page(s, "Queue hot~2", "a shard's own page")
    tok = s.csrf()
    st, _, _ = s.post("/action", {"op": "pause", "queue": "hot",
                                  "csrf": tok})
    sh = json.loads(s.rj("stats", "--json", "--shards", "-q", "hot")
                    )["queues"]["hot"]
    check(st == 303 and sh["shards"] == 3 and
          all(v["paused"] for v in sh["shard"].values()),
          "every shard paused: %s" % sh.get("shard"))
    st, _, _ = s.post("/action", {"op": "resume", "queue": "hot",
                                  "csrf": tok})
    sh = json.loads(s.rj("stats", "--json", "--shards", "-q", "hot")
                    )["queues"]["hot"]
    check(st == 303 and not any(v["paused"] for v in sh["shard"].values()),
          "every shard resumed")


CHECKS = [t_overview_to_dead_job_and_retry, t_hostile_payloads, t_job_result,
          t_csrf, t_not_found, t_dot_queues, t_pagination, t_dead_set_actions,
          t_workers_page, t_schedules_page, t_running_job, t_cancel,
          t_sharded_queue,
          t_reader_role, t_dns_rebinding, t_listen_needs_token,
          t_listen_forms, t_token, t_redis_denied, t_redis_down,
          t_clean_exit]


def main():
    s = Suite()
    n = 0
    try:
        s.start_redis()
        s.start_daemon()
        s.web, s.base, s.weblog = s.start_web()
        s.start_browser()
    except Exception:
        print("Bail out! setting up: " +
              traceback.format_exc().replace("\n", " | "))
        s.stop()
        return 1
    failed = 0
    try:
        for t in CHECKS:
            n += 1
            try:
                t(s)
                print("ok %d - %s" % (n, " ".join(t.__doc__.split())))
            except Exception:
                failed += 1
                print("not ok %d - %s" % (n, " ".join(t.__doc__.split())))
                for line in traceback.format_exc().splitlines():
                    print("# " + line)
            sys.stdout.flush()
    finally:
        s.stop()
    print("1..%d" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
