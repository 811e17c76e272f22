/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cluster_fixture.h: a real Redis Cluster for a test suite: three masters
 * and a replica of each (redis-server --cluster-enabled yes, joined with
 * redis-cli --cluster create), on loopback TCP ports, as Cluster needs.
 */
#ifndef REDJOB_CLUSTER_FIXTURE_H
#define REDJOB_CLUSTER_FIXTURE_H

#include <hiredis/hiredis.h>

#define CLUSTER_FIXTURE_NODES 6

struct proc;

struct cluster_fixture {
	char		*dir;
	int		 port[CLUSTER_FIXTURE_NODES];
	struct proc	*node[CLUSTER_FIXTURE_NODES];
	char		 url[512];	/* redis+cluster://, two seeds */
};

extern struct cluster_fixture cf;

void	 cluster_start(void);		/* unchecked fixture */
void	 cluster_stop(void);
/* FLUSHALL and FUNCTION FLUSH on every master (a checked setup). */
void	 cluster_flush(void);
/* A command on node i (an index of cf.port); NULL if it cannot be
 * reached. Caller frees. */
redisReply *cluster_at(int i, const char *fmt, ...);
/* The index of the master that serves the slot of key now, or -1. */
int	 cluster_master_of(const char *key);
/* Is node i a master now? */
int	 cluster_is_master(int i);
/* Wait until every node says cluster_state:ok and agrees on the slots. */
void	 cluster_wait_ok(unsigned timeout_ms);

#endif
