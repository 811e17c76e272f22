#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""What a claim and an ack cost Redis per job, guarded or not
(docs/performance.md, "Guards taken in the claim").

claim-cost.py LIBRARY [ROUNDS [VARIANT,...]]

LIBRARY is a function library as a build makes it (BUILDDIR/gen/redjob.lua,
or a copy changed by hand to see what a part costs). A private
redis-server on a unix socket loads it; then, for each variant, ROUNDS
(default 400) times: 32 jobs enqueued, one claim of them as redjobd sends
it ("brief", and the variant's "guard" spec, with the bench's limits),
one ack with the "release" redjobd would send. Redis's time of each call
is the growth of cmdstat_fcall's usec in INFO commandstats around it; the
medians per job are printed. Variants: none, gcra, funnel, window,
concurrency (jobs without a key), none-keyed and lock (a key per job, so
a hash per job). Run by hand; nothing asserts these figures.
"""
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

BATCH = 32
QUEUE = "rj:{q}"
# As tests/bench/redjob-bench.c configures the guards scenario; the
# items of a spec are separated by byte 30, their fields by byte 31
# (docs/protocol.md, "Guards in the claim").
SPECS = {
    "none": None,
    "none-keyed": None,
    "lock": "K\x1fb:{key}\x1f60000",
    "window": "L\x1flw\x1fwindow\x1f\x1f100000\x1f1000",
    "gcra": "L\x1flg\x1fgcra\x1f\x1f1000000\x1f1000000\x1f1000",
    "funnel": "L\x1flf\x1ffunnel\x1f\x1f1000000\x1f1000000\x1f1000",
    "concurrency": "L\x1flc\x1fconcurrency\x1f\x1f100000\x1f60000",
}
KEYED = ("none-keyed", "lock")


class Redis:
    """The few RESP2 commands this needs, on a unix socket."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.f = self.s.makefile("rb")

    @staticmethod
    def encode(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def command(self, *args):
        self.s.sendall(self.encode(args))
        return self.read()

    def pipeline(self, commands):
        self.s.sendall(b"".join(self.encode(c) for c in commands))
        return [self.read() for _ in commands]

    def read(self):
        line = self.f.readline()
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.f.read(n + 2)[:-2].decode(
                "latin1")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RuntimeError("unexpected reply %r" % line)


def fcall_usec(r):
    for line in r.command("INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_fcall:"):
            return int(line.split("usec=")[1].split(",")[0])
    return 0


def run(r, variant, rounds, first):
    """Median Redis µs per job of the claim and of the ack."""
    spec, claims, acks, n = SPECS[variant], [], [], first
    for i in range(rounds):
        jobs = []
        for _ in range(BATCH):
            n += 1
            key = ["key", n] if variant in KEYED else []
            jobs.append(["FCALL", "redjob_enqueue", 1, QUEUE, "t",
                         "x" * 100] + key)
        r.pipeline(jobs)
        token = "%s-%012d" % (variant, i)
        claim = ["FCALL", "redjob_claim", 1, QUEUE, BATCH, 60000, 3, token,
                 "w", "brief"]
        if spec:
            claim += ["guard", "t", spec]
        before = fcall_usec(r)
        reply = r.command(*claim)
        claims.append(fcall_usec(r) - before)
        ack, release = ["FCALL", "redjob_ack", 1, QUEUE], []
        for row in reply[2:]:
            # A brief row is {N, PACKED} or {N, PACKED, GUARDS}; a full
            # one starts with the id and has the key fourth; the guards'
            # answer is last in both.
            jid = row[0] if len(row) > 3 else "q:" + row[0]
            ack += [jid, token]
            if spec and row[-1][0] != "granted":
                sys.exit("%s: job %s: %s" % (variant, jid, row[-1]))
            if variant == "lock":
                release += ["lock", "rj:lock:{b:%s}" % row[3],
                            token + " " + jid]
            elif variant == "concurrency":
                release += ["conc", "rj:limit:{lc:}", jid + ":" + token,
                            "100000"]
        if release:
            ack += ["release"] + release
        before = fcall_usec(r)
        r.command(*ack)
        acks.append(fcall_usec(r) - before)
    return (statistics.median(claims) / BATCH,
            statistics.median(acks) / BATCH, n)


def main():
    if len(sys.argv) < 2 or len(sys.argv) > 4:
        sys.exit("usage: claim-cost.py LIBRARY [ROUNDS [VARIANT,...]]")
    with open(sys.argv[1]) as f:
        library = f.read()
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 400
    variants = sys.argv[3].split(",") if len(sys.argv) > 3 else list(SPECS)
    for v in variants:
        if v not in SPECS:
            sys.exit("no variant %s (%s)" % (v, ", ".join(SPECS)))
    tmp = tempfile.mkdtemp(prefix="claim-cost-")
    sock = os.path.join(tmp, "redis.sock")
    server = subprocess.Popen(["redis-server", "--port", "0",
                               "--unixsocket", sock, "--save", "",
                               "--appendonly", "no", "--logfile",
                               os.path.join(tmp, "redis.log")])
    try:
        for _ in range(200):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        r = Redis(sock)
        r.command("FUNCTION", "LOAD", "REPLACE", library)
        n = 0
        print("µs of Redis per job, median of %d claims and acks of %d:"
              % (rounds, BATCH))
        for v in variants:
            claim, ack, n = run(r, v, rounds, n)
            print("  %-12s claim %6.2f  ack %6.2f  both %6.2f"
                  % (v, claim, ack, claim + ack))
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
