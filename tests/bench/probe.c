/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * probe: the exec handler of redjob-bench's latency scenario. It reads
 * the realtime clock first thing, then appends "JOBID REALTIME_NS" to
 * the file named by $BENCH_PROBE_OUT and exits 0. The bench took
 * the realtime clock when it enqueued the job; on the same host the two
 * clocks agree, so the difference is the time from the job's due time to
 * the start of its handler (fork, exec and the dynamic loader included,
 * as for any exec handler).
 *
 * One write(2) with O_APPEND per job, so concurrent handlers never
 * interleave their lines. The payload on stdin is not read.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

int
main(void)
{
	struct timespec ts;
	const char *id, *out;
	char line[256];
	ssize_t w;
	int fd, n;

	clock_gettime(CLOCK_REALTIME, &ts);
	id = getenv("REDJOB_JOB_ID");
	out = getenv("BENCH_PROBE_OUT");
	if (id == NULL || out == NULL) {
		fprintf(stderr, "probe: REDJOB_JOB_ID and "
		    "BENCH_PROBE_OUT must be set\n");
		return EX_USAGE;
	}
	n = snprintf(line, sizeof line, "%s %lld\n", id,
	    (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	if (n < 0 || (size_t)n >= sizeof line) {
		fprintf(stderr, "probe: job id too long\n");
		return EX_DATAERR;
	}
	if ((fd = open(out, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0644)) == -1) {
		fprintf(stderr, "probe: %s: %s\n", out, strerror(errno));
		return EX_CANTCREAT;
	}
	w = write(fd, line, (size_t)n);
	if (w != n || close(fd) != 0) {
		fprintf(stderr, "probe: %s: %s\n", out,
		    w < 0 ? strerror(errno) : "short write");
		return EX_IOERR;
	}
	return 0;
}
