/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pick.h: which of a worker's queues (and which shard of a sharded one)
 * to claim from next, and when each may have work: their weights, the
 * time work is due on each shard (as the last claim or a wake marker
 * said), and a smooth weighted round robin among those with work due.
 * Pure: the caller passes the time.
 */
#ifndef REDJOB_PICK_H
#define REDJOB_PICK_H

#include <stddef.h>
#include <stdint.h>

struct pick;

#define PICK_NEVER UINT64_MAX

struct pick	*pick_create(const unsigned *weights, const unsigned *shards,
		    size_t n);
void		 pick_free(struct pick *s);
size_t		 pick_next(struct pick *s, uint64_t now, int busy);
void		 pick_due(struct pick *s, size_t qi, uint64_t at);
void		 pick_due_all(struct pick *s);
uint64_t	 pick_earliest(const struct pick *s);

#endif
