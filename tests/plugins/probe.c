/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * probe.so: a test plugin for check_plugin. describe() writes back what
 * it was given, so the test can see every field and payload byte cross
 * the pool intact; fill() leaves errbuf full and unterminated; counter is
 * data, which the loader must refuse to call. environment() reports, as a
 * permanent failure, what the worker running it has of systemd's
 * variables, for check_daemon. until_cancelled() waits for its cancel
 * flag and says so in a file, for check_cancel. result() gives a result
 * (check_result): every byte value once for the payload "bytes", else
 * "plugin:" and the payload, in two writes.
 */
#define _POSIX_C_SOURCE 200809L	/* nanosleep */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "redjob-plugin.h"

REDJOB_PLUGIN_DECLARE();

REDJOB_PLUGIN_API redjob_plugin_fn describe;
REDJOB_PLUGIN_API redjob_plugin_fn fill;
REDJOB_PLUGIN_API redjob_plugin_fn environment;
REDJOB_PLUGIN_API redjob_plugin_fn until_cancelled;
REDJOB_PLUGIN_API redjob_plugin_fn result;
REDJOB_PLUGIN_API int counter;

int counter;

/* Write every field of job, the payload in hex, into errbuf. */
int
describe(const struct redjob_plugin_job *job, char *errbuf, size_t errlen)
{
	const unsigned char *p = job->payload;
	size_t i, off;
	int n;

	n = snprintf(errbuf, errlen, "abi=%u id=%s type=%s queue=%s key=%s "
	    "attempt=%u/%u fence=%llu cancelled=%d len=%zu nul=%d hex=",
	    job->abi, job->id, job->type, job->queue, job->key, job->attempt,
	    job->max_attempts, (unsigned long long)job->fence,
	    redjob_plugin_cancelled(job), job->payload_len,
	    p[job->payload_len] == '\0');
	if (n < 0 || (size_t)n >= errlen)
		return 2;
	off = (size_t)n;
	for (i = 0; i < job->payload_len && off + 3 <= errlen; i++, off += 2)
		snprintf(errbuf + off, errlen - off, "%02x", p[i]);
	return 7;
}

/* Fill all of errbuf with 'x' and no terminating NUL. */
int
fill(const struct redjob_plugin_job *job, char *errbuf, size_t errlen)
{
	size_t i;

	(void)job;
	for (i = 0; i < errlen; i++)
		errbuf[i] = 'x';
	return 3;
}

/* Write the worker's systemd variables into errbuf; fail for good. */
int
environment(const struct redjob_plugin_job *job, char *errbuf, size_t errlen)
{
	static const char *const names[] = { "NOTIFY_SOCKET", "WATCHDOG_USEC",
	    "WATCHDOG_PID" };
	const char *v;
	size_t i, off = 0;
	int n;

	(void)job;
	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		v = getenv(names[i]);
		n = snprintf(errbuf + off, errlen - off, "%s%s=%s", i > 0 ? " " :
		    "", names[i], v != NULL ? v : "(unset)");
		if (n < 0 || (size_t)n >= errlen - off)
			break;
		off += (size_t)n;
	}
	return 65;
}

/*
 * Append "started" to the file named by the payload, then wait (a minute
 * at most) for the cancel flag, and append "cancelled" when it comes.
 */
int
until_cancelled(const struct redjob_plugin_job *job, char *errbuf,
    size_t errlen)
{
	struct timespec step = { 0, 1000000L };
	FILE *f;
	int i, seen = 0;

	if ((f = fopen(job->payload, "a")) == NULL)
		return 65;
	fputs("started\n", f);
	fflush(f);
	for (i = 0; i < 60000 && !seen; i++) {
		if (redjob_plugin_cancelled(job))
			seen = 1;
		else
			nanosleep(&step, NULL);
	}
	if (seen)
		fputs("cancelled\n", f);
	fclose(f);
	snprintf(errbuf, errlen, "%s", seen ? "cancelled" : "not cancelled");
	return seen ? 1 : 0;
}

/* Give a result through the ABI 2 buffer; fail if it keeps none. */
int
result(const struct redjob_plugin_job *job, char *errbuf, size_t errlen)
{
	unsigned char all[256];
	size_t i;

	if (job->payload_len == 5 && memcmp(job->payload, "bytes", 5) == 0) {
		for (i = 0; i < sizeof all; i++)
			all[i] = (unsigned char)i;
		if (redjob_plugin_result(job, all, sizeof all) == -1)
			goto none;
		return REDJOB_PLUGIN_OK;
	}
	if (redjob_plugin_result(job, "plugin:", 7) == -1)
		goto none;
	redjob_plugin_result(job, job->payload, job->payload_len);
	return REDJOB_PLUGIN_OK;
none:
	snprintf(errbuf, errlen, "this job keeps no result");
	return REDJOB_PLUGIN_PERMANENT;
}
