/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Find the master of a redis+sentinel:// URL: ask its sentinels, in turn,
 * for the master's address (SENTINEL get-master-addr-by-name), then ask
 * that server itself whether it is the master (ROLE), because a sentinel
 * that has not yet heard of a failover names the old one.
 *
 * Synchronous and bounded: every connection and command has the caller's
 * timeout, and each sentinel is asked once per call. Callers resolve when
 * they (re)connect: libredjob before each connection, rconn before each
 * attempt, which its backoff spaces out. Used by libredjob, so it never
 * allocates with xmalloc and never prints.
 */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "sentinel.h"
#include "url.h"

/* Append "; " and "sentinel HOST:PORT" and what it said to buf. */
static void
sentinel_note(char *buf, size_t len, const struct url_node *s,
    const char *what)
{
	size_t n = strlen(buf);

	if (n + 3 >= len)
		return;
	if (n > 0) {
		memcpy(buf + n, "; ", 3);
		n += 2;
	}
	snprintf(buf + n, len - n, "sentinel %s:%d%s", s->host, s->port, what);
}

/*
 * Connect to host:port, authenticate with user and password (when there
 * is a password), and return the connection, or NULL with why.
 */
static redisContext *
sentinel_connect(const char *host, int port, const char *user,
    const char *password, unsigned timeout_ms, char *why, size_t len)
{
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	redisContext *c;
	redisReply *r;

	if ((c = redisConnectWithTimeout(host, port, tv)) == NULL) {
		snprintf(why, len, "out of memory");
		return NULL;
	}
	if (c->err != 0) {
		snprintf(why, len, "%s", c->errstr);
		redisFree(c);
		return NULL;
	}
	redisSetTimeout(c, tv);
	if (password[0] == '\0')
		return c;
	r = user[0] != '\0' ?
	    redisCommand(c, "AUTH %s %s", user, password) :
	    redisCommand(c, "AUTH %s", password);
	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		snprintf(why, len, "AUTH: %s", r != NULL ? r->str : c->errstr);
		if (r != NULL)
			freeReplyObject(r);
		redisFree(c);
		return NULL;
	}
	freeReplyObject(r);
	return c;
}

/*
 * Is host:port the master? 1 yes, 0 no (with its role in why), -1 it
 * could not be asked (why says so).
 */
static int
sentinel_is_master(const struct url *u, const char *host, int port,
    unsigned timeout_ms, char *why, size_t len)
{
	redisContext *c;
	redisReply *r;
	int rc;

	if ((c = sentinel_connect(host, port, u->user, u->password,
	    timeout_ms, why, len)) == NULL)
		return -1;
	r = redisCommand(c, "ROLE");
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements == 0 ||
	    r->element[0]->type != REDIS_REPLY_STRING) {
		snprintf(why, len, "ROLE: %s", r == NULL ? c->errstr :
		    r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
		rc = -1;
	} else if (strcmp(r->element[0]->str, "master") == 0)
		rc = 1;
	else {
		snprintf(why, len, "its ROLE is %s", r->element[0]->str);
		rc = 0;
	}
	if (r != NULL)
		freeReplyObject(r);
	redisFree(c);
	return rc;
}

int
sentinel_resolve(struct url *u, unsigned timeout_ms, char *err,
    size_t errlen)
{
	char notes[1024], why[256], host[256], msg[640];
	const struct url_node *s;
	redisContext *c;
	redisReply *r;
	size_t i, k, unknown = 0, unreachable = 0;
	long port;
	int rc;

	notes[0] = '\0';
	for (k = 0; k < u->nnodes; k++) {
		/* The one that answered last is asked first. */
		i = (u->node_first + k) % u->nnodes;
		s = &u->nodes[i];
		if ((c = sentinel_connect(s->host, s->port, u->sentinel_user,
		    u->sentinel_password, timeout_ms, why,
		    sizeof why)) == NULL) {
			snprintf(msg, sizeof msg, ": %s", why);
			sentinel_note(notes, sizeof notes, s, msg);
			unreachable++;
			continue;
		}
		r = redisCommand(c, "SENTINEL get-master-addr-by-name %s",
		    u->master);
		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			snprintf(msg, sizeof msg, ": %.500s", r != NULL ?
			    r->str : c->errstr);
			sentinel_note(notes, sizeof notes, s, msg);
			if (r == NULL)
				unreachable++;
		} else if (r->type == REDIS_REPLY_NIL) {
			snprintf(msg, sizeof msg, " does not know master %s",
			    u->master);
			sentinel_note(notes, sizeof notes, s, msg);
			unknown++;
		} else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[1]->type != REDIS_REPLY_STRING ||
		    r->element[0]->len >= sizeof host ||
		    sscanf(r->element[1]->str, "%ld", &port) != 1 ||
		    port < 1 || port > 65535) {
			sentinel_note(notes, sizeof notes, s, ": unexpected "
			    "reply to SENTINEL get-master-addr-by-name");
		} else {
			snprintf(host, sizeof host, "%s", r->element[0]->str);
			rc = sentinel_is_master(u, host, (int)port, timeout_ms,
			    why, sizeof why);
			if (rc == 1) {
				freeReplyObject(r);
				redisFree(c);
				snprintf(u->host, sizeof u->host, "%s", host);
				u->port = (int)port;
				u->node_first = i;
				return 0;
			}
			snprintf(msg, sizeof msg, " names %.200s:%ld as "
			    "master %s, but %.200s", host, port, u->master,
			    why);
			sentinel_note(notes, sizeof notes, s, msg);
		}
		if (r != NULL)
			freeReplyObject(r);
		redisFree(c);
	}
	if (unknown == u->nnodes)
		snprintf(err, errlen, "no sentinel knows master %s (%s)",
		    u->master, notes);
	else if (unreachable == u->nnodes)
		snprintf(err, errlen, "no sentinel of master %s is reachable "
		    "(%s)", u->master, notes);
	else
		snprintf(err, errlen, "no master %s found through the "
		    "sentinels (%s)", u->master, notes);
	return -1;
}
