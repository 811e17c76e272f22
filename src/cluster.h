/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cluster.h: what a Redis Cluster client must know, and nothing of how
 * it talks: the slot of a key, the slot map from CLUSTER SLOTS, and the
 * MOVED and ASK redirections. Used by libredjob, so it never allocates
 * with xmalloc and never prints.
 */
#ifndef REDJOB_CLUSTER_H
#define REDJOB_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#define CLUSTER_SLOTS 16384
#define CLUSTER_NODES_MAX 256

struct redisReply;

/* A master of the cluster. */
struct cluster_node {
	char	 host[256];
	int	 port;
};

/*
 * Which master serves each slot: slot[s] is an index into node, or
 * CLUSTER_UNCOVERED.
 */
#define CLUSTER_UNCOVERED 0xffff
struct cluster_map {
	struct cluster_node	 node[CLUSTER_NODES_MAX];
	size_t			 nnodes;
	uint16_t		 slot[CLUSTER_SLOTS];
	size_t			 covered;	/* slots with a master */
};

/* The slot of a key: CRC16 of it, or of its hash tag, modulo 16384. */
unsigned	cluster_keyslot(const char *key, size_t len);

/*
 * Read a CLUSTER SLOTS reply into m, replacing what it held. Returns 0,
 * or -1 with why in err (not an array of ranges, too many masters). A
 * reply that leaves slots uncovered is accepted: m->covered says.
 */
int		cluster_map_read(struct cluster_map *m,
		    const struct redisReply *r, char *err, size_t errlen);

/* The master of slot, as an index into m->node, or -1 if none. */
int		cluster_map_node(const struct cluster_map *m, unsigned slot);

/* The index of host:port in m, added if new; -1 if the table is full. */
int		cluster_map_intern(struct cluster_map *m, const char *host,
		    int port);

/*
 * Point slot at host:port (a MOVED), adding the node if it is new.
 * Returns its index, or -1 if the table is full.
 */
int		cluster_map_move(struct cluster_map *m, unsigned slot,
		    const char *host, int port);

/*
 * The key a command is routed by: FCALL's and FCALL_RO's first key, else
 * its first argument, except for the commands that name none (AUTH,
 * PING, FUNCTION, SUBSCRIBE, PUBLISH...). Returns 1 with *key and *len
 * set (lens NULL: the arguments are C strings), or 0 for no key.
 */
int		cluster_command_key(int argc, const char *const *argv,
		    const size_t *lens, const char **key, size_t *len);

/*
 * Is the error reply e a redirection, "MOVED SLOT HOST:PORT" or "ASK SLOT
 * HOST:PORT"? Returns 1 (with *ask, *slot, host and *port set; host ""
 * means the node that replied), or 0.
 */
int		cluster_redirect(const char *e, int *ask, unsigned *slot,
		    char *host, size_t hostlen, int *port);

#endif
