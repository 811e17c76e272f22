/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The monotonic clock and timers in milliseconds. It owns the conversion
 * between milliseconds and struct timeval; it does not own any timer.
 */
#include "autoconf.h"

#include <sys/time.h>

#include <time.h>

#include <event2/event.h>

#include "mtime.h"

/* Return CLOCK_MONOTONIC in milliseconds. Safe on any thread. */
uint64_t
mtime_now(void)
{
	return mtime_now_us() / 1000;
}

/* Return CLOCK_MONOTONIC in microseconds (systemd's MONOTONIC_USEC). */
uint64_t
mtime_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Return ms as a timeval, for libevent. */
struct timeval
mtime_tv(uint64_t ms)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	return tv;
}

/* Arm (or re-arm) the timer ev to fire in ms. */
void
mtime_arm(struct event *ev, uint64_t ms)
{
	struct timeval tv = mtime_tv(ms);

	evtimer_add(ev, &tv);
}
