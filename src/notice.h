/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * notice.h: a worker's ear: one Redis connection subscribed to the
 * cancel channels of its queues (NS:{QUEUE}:cancel), on which
 * redjob_cancel names the running job it cancelled and its holder.
 */
#ifndef REDJOB_NOTICE_H
#define REDJOB_NOTICE_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct rconn_opts;
struct notice;

/*
 * Job N (the number after "QUEUE:") of queue qi, held by this worker, was
 * cancelled. qi is NOTICE_LOST, n NULL, when the subscriptions are back
 * after a lost connection: a cancel published meanwhile was not heard,
 * so the owner looks (a lease renewal says which jobs were cancelled).
 */
#define NOTICE_LOST ((size_t)-1)
typedef void notice_cb(size_t qi, const char *n, void *arg);

struct notice	*notice_create(struct event_base *base,
		    const struct rconn_opts *o, const char *const *bases,
		    size_t n, const char *owner, notice_cb *cb, void *arg,
		    char **cause);
void		 notice_free(struct notice *nt);
const char	*notice_condition(const struct notice *nt, uint64_t *since);

#endif
