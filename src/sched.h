/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * sched.h: which of a worker's queues to claim from next, and when each
 * may have work: their weights, the time work is due on each (as the
 * last claim or a wake marker said), and a smooth weighted round robin
 * among those with work due. Pure: the caller passes the time.
 */
#ifndef REDJOB_SCHED_H
#define REDJOB_SCHED_H

#include <stddef.h>
#include <stdint.h>

struct sched;

#define SCHED_NEVER UINT64_MAX

struct sched	*sched_create(const unsigned *weights, size_t n);
void		 sched_free(struct sched *s);
size_t		 sched_pick(struct sched *s, uint64_t now, int busy);
void		 sched_due(struct sched *s, size_t qi, uint64_t at);
void		 sched_due_all(struct sched *s);
uint64_t	 sched_earliest(const struct sched *s);

#endif
