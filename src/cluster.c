/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The arithmetic and the replies of Redis Cluster (its specification:
 * CRC16-XMODEM of the key or of its hash tag, modulo 16384; CLUSTER SLOTS;
 * -MOVED and -ASK), apart from any connection, so that libredjob and the
 * daemon route the same way and the tests can check it alone.
 */
#include "autoconf.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <hiredis/hiredis.h>

#include "cluster.h"

/* CRC16 with polynomial 0x1021, initial value 0, no reflection. */
static uint16_t
cluster_crc16(const unsigned char *p, size_t len)
{
	uint16_t crc = 0;
	size_t i;
	int b;

	for (i = 0; i < len; i++) {
		crc ^= (uint16_t)(p[i] << 8);
		for (b = 0; b < 8; b++)
			crc = crc & 0x8000 ? (uint16_t)((crc << 1) ^ 0x1021) :
			    (uint16_t)(crc << 1);
	}
	return crc;
}

unsigned
cluster_keyslot(const char *key, size_t len)
{
	const char *open, *close;

	/*
	 * The hash tag: what lies between the first '{' and the first '}'
	 * after it, if that is not empty; else the whole key.
	 */
	if ((open = memchr(key, '{', len)) != NULL &&
	    (close = memchr(open + 1, '}', len - (size_t)(open + 1 - key))) !=
	    NULL && close > open + 1)
		return cluster_crc16((const unsigned char *)open + 1,
		    (size_t)(close - open - 1)) & (CLUSTER_SLOTS - 1);
	return cluster_crc16((const unsigned char *)key, len) &
	    (CLUSTER_SLOTS - 1);
}

int
cluster_map_intern(struct cluster_map *m, const char *host, int port)
{
	size_t i;

	for (i = 0; i < m->nnodes; i++) {
		if (m->node[i].port == port &&
		    strcmp(m->node[i].host, host) == 0)
			return (int)i;
	}
	if (m->nnodes == CLUSTER_NODES_MAX)
		return -1;
	snprintf(m->node[m->nnodes].host, sizeof m->node[m->nnodes].host,
	    "%s", host);
	m->node[m->nnodes].port = port;
	return (int)m->nnodes++;
}

static int
cluster_int(const redisReply *r, long long lo, long long hi, long long *v)
{
	if (r->type != REDIS_REPLY_INTEGER || r->integer < lo ||
	    r->integer > hi)
		return -1;
	*v = r->integer;
	return 0;
}

int
cluster_map_read(struct cluster_map *m, const redisReply *r, char *err,
    size_t errlen)
{
	const redisReply *e, *n;
	long long from, to, port, s;
	size_t i;
	int k;

	m->nnodes = 0;
	m->covered = 0;
	for (s = 0; s < CLUSTER_SLOTS; s++)
		m->slot[s] = CLUSTER_UNCOVERED;
	if (r->type != REDIS_REPLY_ARRAY) {
		snprintf(err, errlen, "CLUSTER SLOTS: %s", r->type ==
		    REDIS_REPLY_ERROR ? r->str : "not an array");
		return -1;
	}
	for (i = 0; i < r->elements; i++) {
		/* [from, to, [host, port, id...], replicas...] */
		e = r->element[i];
		if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
		    cluster_int(e->element[0], 0, CLUSTER_SLOTS - 1,
		    &from) != 0 ||
		    cluster_int(e->element[1], from, CLUSTER_SLOTS - 1,
		    &to) != 0 ||
		    (n = e->element[2])->type != REDIS_REPLY_ARRAY ||
		    n->elements < 2 || n->element[0]->type !=
		    REDIS_REPLY_STRING ||
		    cluster_int(n->element[1], 1, 65535, &port) != 0) {
			snprintf(err, errlen, "CLUSTER SLOTS: range %zu is not "
			    "[from, to, [host, port, ...], ...]", i);
			return -1;
		}
		if ((k = cluster_map_intern(m, n->element[0]->str,
		    (int)port)) < 0) {
			snprintf(err, errlen, "CLUSTER SLOTS: more than %d "
			    "masters", CLUSTER_NODES_MAX);
			return -1;
		}
		for (s = from; s <= to; s++) {
			if (m->slot[s] == CLUSTER_UNCOVERED)
				m->covered++;
			m->slot[s] = (uint16_t)k;
		}
	}
	return 0;
}

int
cluster_map_node(const struct cluster_map *m, unsigned slot)
{
	if (slot >= CLUSTER_SLOTS || m->slot[slot] == CLUSTER_UNCOVERED)
		return -1;
	return m->slot[slot];
}

int
cluster_map_move(struct cluster_map *m, unsigned slot, const char *host,
    int port)
{
	int k;

	if (slot >= CLUSTER_SLOTS || (k = cluster_map_intern(m, host, port)) < 0)
		return -1;
	if (m->slot[slot] == CLUSTER_UNCOVERED)
		m->covered++;
	m->slot[slot] = (uint16_t)k;
	return k;
}

int
cluster_command_key(int argc, const char *const *argv, const size_t *lens,
    const char **key, size_t *len)
{
	static const char *const keyless[] = { "AUTH", "SELECT", "PING",
	    "ECHO", "TIME", "FUNCTION", "CLUSTER", "ASKING", "CLIENT", "ROLE",
	    "INFO", "SUBSCRIBE", "UNSUBSCRIBE", "PUBLISH", "WAIT" };
	size_t i;
	int k = 1;

	if (argc < 2)
		return 0;
	for (i = 0; i < sizeof keyless / sizeof keyless[0]; i++) {
		if (strcasecmp(argv[0], keyless[i]) == 0)
			return 0;
	}
	if (strcasecmp(argv[0], "FCALL") == 0 ||
	    strcasecmp(argv[0], "FCALL_RO") == 0) {
		if (argc < 4 || strcmp(argv[2], "0") == 0)
			return 0;
		k = 3;
	}
	*key = argv[k];
	*len = lens != NULL ? lens[k] : strlen(argv[k]);
	return 1;
}

int
cluster_redirect(const char *e, int *ask, unsigned *slot, char *host,
    size_t hostlen, int *port)
{
	const char *p, *colon;
	char *end;
	long v;

	if (strncmp(e, "MOVED ", 6) == 0)
		*ask = 0;
	else if (strncmp(e, "ASK ", 4) == 0)
		*ask = 1;
	else
		return 0;
	p = e + (*ask ? 4 : 6);
	errno = 0;
	v = strtol(p, &end, 10);
	if (!isdigit((unsigned char)*p) || errno != 0 || *end != ' ' ||
	    v < 0 || v >= CLUSTER_SLOTS)
		return 0;
	*slot = (unsigned)v;
	p = end + 1;
	/*
	 * HOST:PORT; an IPv6 host has colons of its own: the last one. An
	 * empty HOST means the host of the node that replied.
	 */
	if ((colon = strrchr(p, ':')) == NULL ||
	    (size_t)(colon - p) >= hostlen)
		return 0;
	errno = 0;
	v = strtol(colon + 1, &end, 10);
	if (!isdigit((unsigned char)colon[1]) || errno != 0 || *end != '\0' ||
	    v < 1 || v > 65535)
		return 0;
	memcpy(host, p, (size_t)(colon - p));
	host[colon - p] = '\0';
	*port = (int)v;
	return 1;
}
