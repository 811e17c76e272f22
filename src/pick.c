/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Choosing a worker's next queue, and the shard of a sharded queue. Each
 * shard (a lane; a plain queue has one) knows when work may be due on
 * it: 0 (now) after a wake marker, a reconnection or a full claim, the
 * next due time or lease end after a claim that took less than it asked
 * for, PICK_NEVER when Redis knows of nothing at all. Among the
 * queues with work due on a lane, the pick is nginx's smooth weighted
 * round robin: over any stretch, queue i is picked weight[i] times in
 * sum(weights), spread out rather than in runs; within a queue, its
 * lanes with work due take turns.
 */
#include "autoconf.h"

#include <stdlib.h>

#include "pick.h"
#include "xmalloc.h"

/* A busy worker's look at the queues it believes idle. */
#define PICK_RECHECK_MS 250

/* One shard of a queue (a plain queue is one shard). */
struct pick_lane {
	uint64_t	 due_at;	/* monotonic ms when work may be due */
	uint64_t	 checked_at;	/* when it was last picked */
};

/* A queue and its shards, lanes first to first + n - 1. */
struct pick_queue {
	int		 weight;
	int		 current;
	size_t		 first;
	size_t		 n;
	size_t		 next;		/* the shard after the last picked */
};

struct pick {
	struct pick_queue	*q;
	size_t			 nq;
	struct pick_lane	*l;
	size_t			 nl;
};

/*
 * nq queues with their weights (>= 1) and shards (>= 1; NULL: one each),
 * all with work due now. Their lanes are numbered queue by queue: queue
 * 0's shards 0 to shards[0] - 1 first.
 */
struct pick *
pick_create(const unsigned *weights, const unsigned *shards, size_t nq)
{
	struct pick *s;
	size_t i;

	s = xcalloc(1, sizeof *s);
	s->nq = nq;
	s->q = xcalloc(nq, sizeof *s->q);
	for (i = 0; i < nq; i++) {
		s->q[i].weight = (int)weights[i];
		s->q[i].first = s->nl;
		s->q[i].n = shards != NULL ? shards[i] : 1;
		s->nl += s->q[i].n;
	}
	s->l = xcalloc(s->nl, sizeof *s->l);
	return s;
}

void
pick_free(struct pick *s)
{
	if (s == NULL)
		return;
	free(s->q);
	free(s->l);
	free(s);
}

/* May lane l be claimed from at now? See pick_next(). */
static int
pick_ready(const struct pick_lane *l, uint64_t now, int busy)
{
	return l->due_at <= now || (busy &&
	    now - l->checked_at >= PICK_RECHECK_MS);
}

/*
 * Pick the lane to claim from at now, and note it was looked at. A lane
 * is a candidate when work is known to be due on it. A busy worker (one
 * with jobs) claims again whenever its reserve runs low, mostly from the
 * queue it is working through, and hands on the markers it takes while
 * full; so it also looks again at each lane every PICK_RECHECK_MS:
 * otherwise a backlog on one queue would hide new work on the others
 * from it. An idle worker relies on the markers, and costs Redis nothing.
 * The weights share the claims among queues with a candidate; the shards
 * of the chosen queue take turns among its candidates, so a sharded
 * queue weighs what its weight says, however many shards it has.
 * Returns the lane's index, or (size_t)-1 when none is due.
 */
size_t
pick_next(struct pick *s, uint64_t now, int busy)
{
	struct pick_queue *q;
	size_t i, k, best = (size_t)-1, lane;
	int total = 0;

	for (i = 0; i < s->nq; i++) {
		q = &s->q[i];
		for (k = 0; k < q->n; k++) {
			if (pick_ready(&s->l[q->first + k], now, busy))
				break;
		}
		if (k == q->n)
			continue;
		q->current += q->weight;
		total += q->weight;
		if (best == (size_t)-1 || q->current > s->q[best].current)
			best = i;
	}
	if (best == (size_t)-1)
		return best;
	q = &s->q[best];
	q->current -= total;
	lane = q->first;
	for (k = 0; k < q->n; k++) {
		lane = q->first + (q->next + k) % q->n;
		if (pick_ready(&s->l[lane], now, busy))
			break;
	}
	q->next = (q->next + k + 1) % q->n;
	s->l[lane].checked_at = now;
	return lane;
}

/* Work may be due on lane li at monotonic time at (0: now). */
void
pick_due(struct pick *s, size_t li, uint64_t at)
{
	s->l[li].due_at = at;
}

/* Work may be due on every lane now (after an outage). */
void
pick_due_all(struct pick *s)
{
	size_t i;

	for (i = 0; i < s->nl; i++)
		s->l[i].due_at = 0;
}

/* The earliest time work may be due on any lane, or PICK_NEVER. */
uint64_t
pick_earliest(const struct pick *s)
{
	uint64_t until = PICK_NEVER;
	size_t i;

	for (i = 0; i < s->nl; i++) {
		if (s->l[i].due_at < until)
			until = s->l[i].due_at;
	}
	return until;
}
