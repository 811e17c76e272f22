/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * sentinel.h: the master of a redis+sentinel:// URL, from its sentinels.
 */
#ifndef REDJOB_SENTINEL_H
#define REDJOB_SENTINEL_H

#include <stddef.h>

struct url;

/*
 * Ask u's sentinels for the address of master u->master, check with ROLE
 * that it is the master, and put it in u->host and u->port. Each
 * connection and command is bounded by timeout_ms. Returns 0, or -1 with
 * why in err: no sentinel knows the master, none is reachable, or those
 * that answered named a server that is not (or not yet) the master.
 */
int	sentinel_resolve(struct url *u, unsigned timeout_ms, char *err,
	    size_t errlen);

#endif
