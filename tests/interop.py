#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
#
# Interop check run by tests/check_cli.c: another application enqueues
# redjob jobs with nothing but Python's redis package and one FCALL per
# job, as docs/protocol.md promises. Prints one job id per line; the C
# test then reads each job back with "redjob show".
#
# usage: interop.py SOCKET [NAMESPACE]
import sys

import redis


def main():
    sock = sys.argv[1]
    ns = sys.argv[2] if len(sys.argv) > 2 else "redjob"
    r = redis.Redis(unix_socket_path=sock)
    key = "%s:{default}" % ns
    jobs = [
        ("py_text", "héllo from python".encode("utf-8"), []),
        ("py_binary", b"\x00\x01 binary \xff\xfe", []),
        ("py_keyed", b"{}", ["key", "user:7", "max_attempts", "4"]),
    ]
    for jtype, payload, opts in jobs:
        reply = r.fcall("redjob_enqueue", 1, key, jtype, payload, *opts)
        job_id, created = reply
        if created != 1:
            sys.exit("interop.py: %s was not created: %r" % (jtype, reply))
        print(job_id.decode("ascii"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
