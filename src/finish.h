/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * finish.h: recording the end of jobs in Redis: acks in batches per
 * queue, fails, requeues and discards one call each, sent from the event
 * loop, resent after a lost connection and retried after a refusal. It
 * answers its owner once per job, when Redis has recorded it or when
 * there is nothing left to record.
 */
#ifndef REDJOB_FINISH_H
#define REDJOB_FINISH_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct finish;
struct job;
struct rconn;

enum finish_outcome {
	FINISH_ACKED,		/* done: the job left Redis */
	FINISH_RETRIED,		/* the failure is recorded; it runs again */
	FINISH_DEAD,		/* the failure is recorded; it is dead */
	FINISH_REQUEUED,	/* back in its queue */
	FINISH_DISCARDED,	/* dropped */
	FINISH_STALE,		/* refused: the job is no longer ours */
	FINISH_GAVE_UP,		/* refused for good: left to its lease */
};

typedef void finish_cb(struct job *j, enum finish_outcome o, void *arg);

struct finish	*finish_create(struct event_base *base, struct rconn *rc,
		    size_t nqueues, uint64_t call_ms, uint64_t lease_ms,
		    finish_cb *cb, void *arg);
void		 finish_free(struct finish *f);
void		 finish_queue(struct finish *f, struct job *j);
int		 finish_cancel(struct finish *f, struct job *j);
void		 finish_kick(struct finish *f);

#endif
