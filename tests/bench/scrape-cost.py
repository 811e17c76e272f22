#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""What a /metrics scrape costs (docs/performance.md, "Scraping /metrics").

scrape-cost.py BUILDDIR [QUEUES...]

For each number of queues (default 1 10 100): a private redis-server on a
unix socket, the build's redjobd with that many queues and http.listen on
127.0.0.1 (port 0), then
  - Redis commands per scrape: INFO commandstats before and after one
    scrape made past the one-second cache, and after 100 scrapes in a row;
  - the time of a scrape, past the cache (it waits for the depth calls)
    and within it (answered from the cache): the median of 20 each;
  - the size of the answer.
Run by hand; nothing asserts these figures.
"""
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def redis_cli(sock, *args):
    return subprocess.run(["redis-cli", "-s", sock] + list(args),
                          check=True, capture_output=True,
                          text=True).stdout


def commandstats(sock):
    calls = {}
    for m in re.finditer(r"cmdstat_([a-z_|]+):calls=(\d+)",
                         redis_cli(sock, "INFO", "commandstats")):
        calls[m.group(1)] = int(m.group(2))
    return calls


def delta(before, after):
    d = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    d["info"] -= 1      # our own INFO commandstats
    return {k: v for k, v in d.items() if v > 0}


def scrape(port):
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"GET /metrics HTTP/1.0\r\nHost: bench\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    t = time.perf_counter() - t0
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"200", head
    return t, len(body)


def run(builddir, nqueues):
    tmp = tempfile.mkdtemp(prefix="redjob-scrape-")
    sock = os.path.join(tmp, "redis.sock")
    redis = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket",
                              sock, "--save", "", "--appendonly", "no"],
                             stdout=subprocess.DEVNULL)
    daemon = None
    try:
        while not os.path.exists(sock):
            time.sleep(0.01)
        queues = "".join("  q%d: 1\n" % i for i in range(nqueues))
        cfg = os.path.join(tmp, "redjob.yml")
        with open(cfg, "w") as f:
            f.write("redis: { url: \"unix://%s\" }\nworkers: 2\n"
                    "http: { listen: \"127.0.0.1:0\" }\nqueues:\n%s"
                    "jobs:\n  noop: { queue: q0, exec: [/bin/true] }\n"
                    % (sock, queues))
        log = open(os.path.join(tmp, "redjobd.log"), "w+")
        argv = [os.path.join(builddir, "src", "redjobd"), "-c", cfg]
        if os.geteuid() == 0:
            argv.append("--allow-root")
        daemon = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        port = None
        while port is None:
            time.sleep(0.05)
            log.seek(0)
            m = re.search(r"/healthz on 127\.0\.0\.1:(\d+)", log.read())
            port = int(m.group(1)) if m else None
        scrape(port)
        time.sleep(1.1)
        before = commandstats(sock)
        scrape(port)
        one = delta(before, commandstats(sock))
        time.sleep(1.1)
        before = commandstats(sock)
        t0 = time.perf_counter()
        for _ in range(100):
            scrape(port)
        secs = time.perf_counter() - t0
        hundred = delta(before, commandstats(sock))
        fresh, cached = [], []
        for _ in range(20):
            time.sleep(1.1)
            t, size = scrape(port)
            fresh.append(t)
            cached.append(scrape(port)[0])
        print("%d queue%s: one scrape past the cache: %s;"
              % (nqueues, "" if nqueues == 1 else "s", one))
        print("  100 scrapes in %.3f s: %s;" % (secs, hundred))
        print("  scrape time, median of 20: %.2f ms past the cache, "
              "%.2f ms from it; %d bytes"
              % (statistics.median(fresh) * 1000,
                 statistics.median(cached) * 1000, size))
    finally:
        if daemon is not None:
            daemon.terminate()
            daemon.wait()
        redis.terminate()
        redis.wait()
        shutil.rmtree(tmp)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for n in [int(a) for a in sys.argv[2:]] or [1, 10, 100]:
        run(sys.argv[1], n)


if __name__ == "__main__":
    main()
