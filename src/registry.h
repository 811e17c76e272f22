/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * registry.h: reading the worker registry (docs/protocol.md), for
 * redjob workers, health, show and the dashboard.
 */
#ifndef REDJOB_REGISTRY_H
#define REDJOB_REGISTRY_H

#include <stddef.h>

struct redjob_client;

/* One worker's entry; times are the server's, ms since the epoch. */
struct registry_worker {
	char		*owner;		/* 16 hex digits: its tokens' head */
	char		*host;
	char		*version;
	char		*queues;	/* "mail,default" */
	char		*cond;		/* what stops it consuming, or "" */
	char		*jobs;		/* "ID TAB TYPE TAB STARTED\n"... */
	long long	 pid, ppid, slot;
	long long	 started;	/* the process began */
	long long	 slots, busy;
	long long	 seen;		/* its last refresh */
	long long	 ok;		/* its last claim that went through */
};

int		 registry_list(struct redjob_client *cl,
		    struct registry_worker **out, size_t *n);
int		 registry_get(struct redjob_client *cl, const char *owner,
		    struct registry_worker *w);
long long	 registry_now(struct redjob_client *cl);
void		 registry_worker_clear(struct registry_worker *w);
void		 registry_free(struct registry_worker *ws, size_t n);

#endif
