/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * waitlist.h: the release of a guard that has a wait list (a lock, a
 * concurrency limiter) and the wake of the waiter it hands over, shared
 * by lock.c and hold.c (docs/guards.md, "Wait lists").
 */
#ifndef REDJOB_WAITLIST_H
#define REDJOB_WAITLIST_H

#include <stdint.h>

#include "rconn.h"

#define WAITLIST_NEXT_ARGS	2	/* arguments of a "next" call, at most */

int	waitlist_release(struct rconn *rc, uint64_t call_ms, const char *ns,
	    const char *key, const char *fn, int argc, const char **argv,
	    const char *next_fn, int next_argc, const char **next_argv);

#endif
