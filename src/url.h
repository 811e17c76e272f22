/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * url.h: Redis connection URLs, "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]",
 * "unix://[[USER]:PASSWORD@]/PATH[?db=N]" and
 * "redis+sentinel://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT...]/MASTER[/DB]
 * [?sentinel_user=U&sentinel_password=P]" and
 * "redis+cluster://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT...]". Used by
 * libredjob, so it never
 * allocates with xmalloc and never prints.
 */
#ifndef REDJOB_URL_H
#define REDJOB_URL_H

#include <stddef.h>

#define URL_DEFAULT "redis://127.0.0.1:6379/0"
#define URL_NODES_MAX 16

/* A sentinel's address. */
struct url_node {
	char	 host[256];
	int	 port;
};

struct url {
	char	 host[256];	/* empty for unix; with sentinels, the
				   master they named last (sentinel.c) */
	int	 port;
	char	 path[108];	/* unix socket path, empty for TCP */
	char	 user[128];	/* of the data nodes */
	char	 password[512];
	int	 db;
	/* redis+sentinel:// and redis+cluster:// */
	int	 sentinel;
	int	 cluster;
	char	 master[128];	/* the name the sentinels know it by */
	struct url_node nodes[URL_NODES_MAX]; /* the sentinels, or cluster seeds */
	size_t	 nnodes;
	char	 sentinel_user[128];
	char	 sentinel_password[512];
	size_t	 node_first; /* the one asked first: the last that
				   answered */
};

int	url_parse(const char *s, struct url *u, char *err, size_t errlen);

#endif
