/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Retry delays. The arithmetic is pure (the random value comes in as an
 * argument) so it can be tested exactly; the worker passes getrandom().
 */
#include "autoconf.h"

#include <sys/random.h>

#include <time.h>

#include "backoff.h"
#include "config.h"

/*
 * Return the delay in ms before attempt number attempt + 1, after attempt
 * failures (attempt >= 1):
 *   exponential: base * 2^(attempt-1), capped at max;
 *   linear:      base * attempt, capped at max;
 *   fixed:       base.
 * Then jitter j in [0, 1] takes the delay down by up to j of itself:
 * d * (1 - j) + random share of d * j, so retries of many jobs that failed
 * together spread out instead of coming back at once (BullMQ's jitter).
 */
uint64_t
backoff_delay(const struct retry_conf *rc, unsigned attempt, uint64_t random)
{
	uint64_t d, spread;
	unsigned i;

	if (attempt == 0)
		attempt = 1;
	switch (rc->backoff) {
	case BACKOFF_FIXED:
		d = rc->base_ms;
		break;
	case BACKOFF_LINEAR:
		d = rc->base_ms * attempt;
		if (attempt != 0 && d / attempt != rc->base_ms)
			d = rc->max_ms;
		break;
	default:
		d = rc->base_ms;
		for (i = 1; i < attempt && d < rc->max_ms; i++)
			d *= 2;
		break;
	}
	if (rc->max_ms > 0 && d > rc->max_ms && rc->backoff != BACKOFF_FIXED)
		d = rc->max_ms;
	if (rc->jitter > 0 && d > 0) {
		spread = (uint64_t)((double)d * (rc->jitter > 1 ? 1 : rc->jitter));
		d -= spread;
		if (spread > 0)
			d += random % (spread + 1);
	}
	return d;
}

/* A random value for backoff_delay(). */
uint64_t
backoff_random(void)
{
	uint64_t r;

	if (getrandom(&r, sizeof r, GRND_NONBLOCK) != sizeof r)
		r = (uint64_t)time(NULL) * 2654435761u;
	return r;
}

/* A random delay in [0, ms], to spread out what would come back at once. */
uint64_t
backoff_jitter(uint64_t ms)
{
	return ms > 0 ? backoff_random() % (ms + 1) : 0;
}
