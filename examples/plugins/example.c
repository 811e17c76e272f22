/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * example.so: a redjob plugin to copy from. Each function is one job
 * handler; a job type picks one in the YAML:
 *
 *	jobs:
 *	  nothing:
 *	    plugin: { path: /usr/lib/redjob/plugins/example.so, symbol: noop }
 *	  nap:
 *	    plugin: { path: /usr/lib/redjob/plugins/example.so,
 *	              symbol: sleep_ms }
 *	    timeout: 2s
 *
 * make install installs this file as an example, not the module: build
 * it, or your own, the same way outside redjob's tree, and copy it into
 * the plugin directory (pkg-config --variable=plugindir redjob):
 *
 *	cc -O2 -fPIC -shared -fvisibility=hidden -o mine.so mine.c
 *
 * Read the threading contract in redjob-plugin.h first: these functions
 * run on several threads at once, inside the worker.
 */
#define _POSIX_C_SOURCE 200809L	/* nanosleep, clock_gettime */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <redjob-plugin.h>

/* The ABI marker that the worker checks before calling anything. */
REDJOB_PLUGIN_DECLARE();

/*
 * The exported handlers. The typedef keeps each prototype exactly what
 * the worker calls; REDJOB_PLUGIN_API keeps them visible (this file is
 * built with -fvisibility=hidden) and unmangled in C++.
 */
REDJOB_PLUGIN_API redjob_plugin_fn noop;
REDJOB_PLUGIN_API redjob_plugin_fn fail;
REDJOB_PLUGIN_API redjob_plugin_fn permanent;
REDJOB_PLUGIN_API redjob_plugin_fn sleep_ms;
REDJOB_PLUGIN_API redjob_plugin_fn echo_len;

#define EXAMPLE_STEP_MS 10	/* how often sleep_ms looks at the flag */

/* Do nothing and succeed at once: the cost of a plugin call itself. */
int
noop(const struct redjob_plugin_job *job, char *errbuf, size_t errlen)
{
	(void)job;
	(void)errbuf;
	(void)errlen;
	return REDJOB_PLUGIN_OK;
}

/* Fail with a message; the job is retried with backoff. */
int
fail(const struct redjob_plugin_job *job, char *errbuf, size_t errlen)
{
	(void)job;
	snprintf(errbuf, errlen, "example failure");
	return 1;
}

/* Fail for good: the job goes to the dead set without a retry. */
int
permanent(const struct redjob_plugin_job *job, char *errbuf, size_t errlen)
{
	(void)job;
	snprintf(errbuf, errlen, "example permanent failure");
	return REDJOB_PLUGIN_PERMANENT;
}

/* Return monotonic milliseconds. */
static unsigned long long
example_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000 +
	    (unsigned long long)ts.tv_nsec / 1000000;
}

/*
 * Sleep for the number of milliseconds in the payload ("250"), in short
 * steps, and give up as soon as the worker sets the cancel flag (the
 * job's timeout, or shutdown): this is how any long plugin function must
 * behave. A payload that is not a number can never succeed, so it is a
 * permanent failure. Named sleep_ms, not sleep: a plugin function called
 * sleep would clash with sleep(3) from <unistd.h>.
 */
int
sleep_ms(const struct redjob_plugin_job *job, char *errbuf, size_t errlen)
{
	struct timespec step = { 0, EXAMPLE_STEP_MS * 1000000L };
	unsigned long long start, now, ms;
	const char *s = job->payload;	/* redjob adds a NUL after it */
	char *end;

	errno = 0;
	ms = strtoull(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || errno != 0) {
		snprintf(errbuf, errlen, "payload \"%.32s\" is not a number "
		    "of milliseconds", s);
		return REDJOB_PLUGIN_PERMANENT;
	}
	start = example_now_ms();
	while ((now = example_now_ms()) - start < ms) {
		if (redjob_plugin_cancelled(job)) {
			snprintf(errbuf, errlen, "cancelled after %llu of "
			    "%llu ms", now - start, ms);
			return 1;
		}
		if (ms - (now - start) < EXAMPLE_STEP_MS)
			step.tv_nsec = (long)(ms - (now - start)) * 1000000L;
		nanosleep(&step, NULL);
	}
	return REDJOB_PLUGIN_OK;
}

/*
 * Succeed, leaving the payload's length as the message. Thread-safe the
 * simple way: it touches nothing but its arguments.
 */
int
echo_len(const struct redjob_plugin_job *job, char *errbuf, size_t errlen)
{
	snprintf(errbuf, errlen, "%zu bytes", job->payload_len);
	return REDJOB_PLUGIN_OK;
}
