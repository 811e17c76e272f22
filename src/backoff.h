/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * backoff.h: the delay before a failed job's next attempt.
 */
#ifndef REDJOB_BACKOFF_H
#define REDJOB_BACKOFF_H

#include <stdint.h>

struct retry_conf;

uint64_t	backoff_delay(const struct retry_conf *rc, unsigned attempt,
		    uint64_t random);
uint64_t	backoff_random(void);
uint64_t	backoff_jitter(uint64_t ms);

#endif
