/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Choosing a worker's next queue. Each queue knows when work may be due
 * on it: 0 (now) after a wake marker, a reconnection or a full claim,
 * the next due time or lease end after a claim that took less than it
 * asked for, PICK_NEVER when Redis knows of nothing at all. Among the
 * queues with work due, the pick is nginx's smooth weighted round robin:
 * over any stretch, queue i is picked weight[i] times in sum(weights),
 * spread out rather than in runs.
 */
#include "autoconf.h"

#include <stdlib.h>

#include "pick.h"
#include "xmalloc.h"

/* A busy worker's look at the queues it believes idle. */
#define PICK_RECHECK_MS 250

struct pick_queue {
	int		 weight;
	int		 current;
	uint64_t	 due_at;	/* monotonic ms when work may be due */
	uint64_t	 checked_at;	/* when it was last picked */
};

struct pick {
	struct pick_queue	*q;
	size_t			 n;
};

/* n queues with their weights (>= 1), all with work due now. */
struct pick *
pick_create(const unsigned *weights, size_t n)
{
	struct pick *s;
	size_t i;

	s = xcalloc(1, sizeof *s);
	s->n = n;
	s->q = xcalloc(n, sizeof *s->q);
	for (i = 0; i < n; i++)
		s->q[i].weight = (int)weights[i];
	return s;
}

void
pick_free(struct pick *s)
{
	if (s == NULL)
		return;
	free(s->q);
	free(s);
}

/*
 * Pick the queue to claim from at now, and note it was looked at. A
 * queue is a candidate when work is known to be due on it. A busy worker
 * (one with jobs) claims again whenever its reserve runs low, mostly
 * from the queue it is working through, and hands on the markers it
 * takes while full; so it also looks again at each queue every
 * PICK_RECHECK_MS: otherwise a backlog on one queue would hide new work
 * on the others from it. An idle worker relies on the markers, and costs
 * Redis nothing. Returns the queue's index, or
 * (size_t)-1 when none is due.
 */
size_t
pick_next(struct pick *s, uint64_t now, int busy)
{
	struct pick_queue *q;
	size_t i, best = (size_t)-1;
	int total = 0;

	for (i = 0; i < s->n; i++) {
		q = &s->q[i];
		if (q->due_at > now && (!busy ||
		    now - q->checked_at < PICK_RECHECK_MS))
			continue;
		q->current += q->weight;
		total += q->weight;
		if (best == (size_t)-1 || q->current > s->q[best].current)
			best = i;
	}
	if (best != (size_t)-1) {
		s->q[best].current -= total;
		s->q[best].checked_at = now;
	}
	return best;
}

/* Work may be due on queue qi at monotonic time at (0: now). */
void
pick_due(struct pick *s, size_t qi, uint64_t at)
{
	s->q[qi].due_at = at;
}

/* Work may be due on every queue now (after an outage). */
void
pick_due_all(struct pick *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		s->q[i].due_at = 0;
}

/* The earliest time work may be due on any queue, or PICK_NEVER. */
uint64_t
pick_earliest(const struct pick *s)
{
	uint64_t until = PICK_NEVER;
	size_t i;

	for (i = 0; i < s->n; i++) {
		if (s->q[i].due_at < until)
			until = s->q[i].due_at;
	}
	return until;
}
