/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Reading the worker registry that each worker keeps fresh (beat.c;
 * docs/protocol.md, "the worker registry"): the set NS:workers names the
 * owner ids, each one's hash NS:worker:OWNER says who it is. A member
 * whose hash has expired is a worker that died without leaving: it is
 * skipped, and taken out of the set when this client may write.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "client.h"
#include "redjob.h"
#include "registry.h"
#include "schema.h"
#include "xmalloc.h"

static long long
registry_ll(const char *s)
{
	return s != NULL ? strtoll(s, NULL, 10) : 0;
}

/* Fill w from an HGETALL reply; 0, or -1 if it is not one. */
static int
registry_fill(struct registry_worker *w, const char *owner,
    const redisReply *r)
{
	const char *k, *v;
	size_t i;

	memset(w, 0, sizeof *w);
	if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0)
		return -1;
	w->owner = xstrdup(owner);
	for (i = 0; i + 1 < r->elements; i += 2) {
		if (r->element[i]->type != REDIS_REPLY_STRING ||
		    r->element[i + 1]->type != REDIS_REPLY_STRING)
			continue;
		k = r->element[i]->str;
		v = r->element[i + 1]->str;
		if (strcmp(k, "host") == 0)
			w->host = xstrdup(v);
		else if (strcmp(k, "version") == 0)
			w->version = xstrdup(v);
		else if (strcmp(k, "queues") == 0)
			w->queues = xstrdup(v);
		else if (strcmp(k, "cond") == 0)
			w->cond = xstrdup(v);
		else if (strcmp(k, "jobs") == 0)
			w->jobs = xstrdup(v);
		else if (strcmp(k, "pid") == 0)
			w->pid = registry_ll(v);
		else if (strcmp(k, "ppid") == 0)
			w->ppid = registry_ll(v);
		else if (strcmp(k, "slot") == 0)
			w->slot = registry_ll(v);
		else if (strcmp(k, "started") == 0)
			w->started = registry_ll(v);
		else if (strcmp(k, "slots") == 0)
			w->slots = registry_ll(v);
		else if (strcmp(k, "busy") == 0)
			w->busy = registry_ll(v);
		else if (strcmp(k, "seen") == 0)
			w->seen = registry_ll(v);
		else if (strcmp(k, "ok") == 0)
			w->ok = registry_ll(v);
	}
	if (w->host == NULL)
		w->host = xstrdup("?");
	if (w->version == NULL)
		w->version = xstrdup("?");
	if (w->queues == NULL)
		w->queues = xstrdup("");
	if (w->cond == NULL)
		w->cond = xstrdup("");
	if (w->jobs == NULL)
		w->jobs = xstrdup("");
	return 0;
}

/*
 * The entry of owner: 1 and *w filled (free with registry_worker_clear),
 * 0 when there is none, -1 on an error (redjob_errstr says).
 */
int
registry_get(struct redjob_client *cl, const char *owner,
    struct registry_worker *w)
{
	char key[SCHEMA_KEY_MAX];
	const char *argv[2];
	redisReply *r;
	int rc;

	if (schema_worker_key(key, sizeof key, client_namespace(cl),
	    owner) != 0)
		return 0;
	argv[0] = "HGETALL";
	argv[1] = key;
	if ((r = client_command(cl, 2, argv, NULL)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 0)
		rc = 0;
	else
		rc = registry_fill(w, owner, r) == 0 ? 1 : 0;
	freeReplyObject(r);
	return rc;
}

/* The server's time in ms, or -1 (redjob_errstr says). */
long long
registry_now(struct redjob_client *cl)
{
	const char *argv[1] = { "TIME" };
	redisReply *r;
	long long ms = -1;

	if ((r = client_command(cl, 1, argv, NULL)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[0]->type == REDIS_REPLY_STRING &&
	    r->element[1]->type == REDIS_REPLY_STRING)
		ms = registry_ll(r->element[0]->str) * 1000 +
		    registry_ll(r->element[1]->str) / 1000;
	freeReplyObject(r);
	return ms;
}

static int
registry_cmp(const void *a, const void *b)
{
	const struct registry_worker *x = a, *y = b;
	int c;

	if ((c = strcmp(x->host, y->host)) != 0)
		return c;
	if (x->ppid != y->ppid)
		return x->ppid < y->ppid ? -1 : 1;
	if (x->slot != y->slot)
		return x->slot < y->slot ? -1 : 1;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/*
 * Every live worker of the namespace, sorted by host, supervisor and
 * position. Returns 0 with *out (free with registry_free) and *n, or -1
 * (redjob_errstr says).
 */
int
registry_list(struct redjob_client *cl, struct registry_worker **out,
    size_t *n)
{
	char set[SCHEMA_KEY_MAX];
	const char *argv[3];
	struct registry_worker *ws = NULL;
	redisReply *r, *m;
	size_t i, nw = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (schema_workers_key(set, sizeof set, client_namespace(cl)) != 0)
		return 0;
	argv[0] = "SMEMBERS";
	argv[1] = set;
	if ((r = client_command(cl, 2, argv, NULL)) == NULL)
		return -1;
	if (r->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(r);
		return 0;
	}
	ws = xcalloc(r->elements + 1, sizeof *ws);
	for (i = 0; i < r->elements; i++) {
		m = r->element[i];
		if (m->type != REDIS_REPLY_STRING)
			continue;
		rc = registry_get(cl, m->str, &ws[nw]);
		if (rc < 0) {
			freeReplyObject(r);
			registry_free(ws, nw);
			return -1;
		}
		if (rc == 1) {
			nw++;
			continue;
		}
		/* Expired: it died without leaving. Tidy up if we may. */
		argv[0] = "SREM";
		argv[1] = set;
		argv[2] = m->str;
		freeReplyObject(client_command(cl, 3, argv, NULL));
	}
	freeReplyObject(r);
	qsort(ws, nw, sizeof *ws, registry_cmp);
	*out = ws;
	*n = nw;
	return 0;
}

void
registry_worker_clear(struct registry_worker *w)
{
	free(w->owner);
	free(w->host);
	free(w->version);
	free(w->queues);
	free(w->cond);
	free(w->jobs);
	memset(w, 0, sizeof *w);
}

void
registry_free(struct registry_worker *ws, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		registry_worker_clear(&ws[i]);
	free(ws);
}
