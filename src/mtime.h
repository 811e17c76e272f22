/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mtime.h: the monotonic clock in milliseconds and the libevent timers
 * armed from it. Every deadline, backoff and validity in the daemon and
 * the CLI is counted here, never on the wall clock, which an operator or
 * NTP may step.
 */
#ifndef REDJOB_MTIME_H
#define REDJOB_MTIME_H

#include <stdint.h>

#include <sys/time.h>

struct event;

uint64_t	mtime_now(void);
uint64_t	mtime_now_us(void);
struct timeval	mtime_tv(uint64_t ms);
void		mtime_arm(struct event *ev, uint64_t ms);

#endif
