/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * hold.h: the guards one job holds while it runs: its limiters, asked in
 * order, then its lock (docs/guards.md). It takes them one call at a
 * time, renews what needs renewing, gives them back, and answers its
 * owner through one callback; it never decides what happens to the job.
 */
#ifndef REDJOB_HOLD_H
#define REDJOB_HOLD_H

#include <stddef.h>
#include <stdint.h>

#include "rconn.h"
#include "rfunc.h"

struct event_base;
struct hold;
struct job_conf;
struct job_guard;
struct limiter_conf;
struct template_vars;

enum hold_result {
	HOLD_GRANTED,		/* every guard is taken: run the job */
	HOLD_THROTTLED,		/* a limiter refused: requeue in ms */
	HOLD_RESERVED,		/* a limiter reserved the job's slot, in ms:
				   requeue it then, with the reservation
				   (hold_reserving) */
	HOLD_NEVER,		/* a limiter can never admit the job */
	HOLD_CONFLICT,		/* the lock is held by another (ms: its
				   remaining TTL, -1 if it has none) */
	HOLD_ERROR,		/* no answer, or an error: ask again later */
	HOLD_CANCELLED,		/* after hold_cancel(): all given back */
	HOLD_LOCK_LOST,		/* the lock was lost while the job ran; ms:
				   until it can be another's in Redis, or
				   -1 if Redis already said it is not ours */
};

/*
 * The answer to hold_acquire(), or news of the lock while the job runs.
 * why is a short text for the log; class is that of the failed call for
 * HOLD_ERROR (RFUNC_OK otherwise).
 */
typedef void hold_cb(struct hold *h, enum hold_result res, long long ms,
    const char *why, enum rfunc_class class, void *arg);

struct hold	*hold_create(struct event_base *base, struct rconn *rc,
		    const char *ns, const struct job_conf *jc,
		    const struct template_vars *v, const char *member,
		    const char *reserved, uint64_t call_ms, hold_cb *cb,
		    void *arg);
void		 hold_free(struct hold *h);
int		 hold_acquire(struct hold *h);
int		 hold_admitted(struct hold *h);
int		 hold_busy(const struct hold *h);
void		 hold_cancel(struct hold *h);
void		 hold_renew(struct hold *h);
void		 hold_release(struct hold *h, int ran);
const char	*hold_fence(const struct hold *h);
const char	*hold_lock_key(const struct hold *h);
int		 hold_lock_lost(const struct hold *h);
const struct limiter_conf *hold_limiter(const struct hold *h);
const struct limiter_conf *hold_reserving(const struct hold *h);
enum hold_result hold_claimed(struct hold *h, const struct job_guard *g,
		    uint64_t sent, long long *ms, const char **why,
		    enum rfunc_class *class);
int		 hold_release_by_ack(struct hold *h);
size_t		 hold_ack_argc(const struct hold *h);
size_t		 hold_ack_args(struct hold *h, const char **argv);

#endif
