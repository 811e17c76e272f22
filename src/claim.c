/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Claiming (redjob_claim, docs/protocol.md): one call leases up to COUNT
 * due jobs of a queue to a fresh claim token and says when the queue may
 * have work next. This module sends the call and decodes the reply; the
 * worker decides what to claim and what to do with the jobs.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "claim.h"
#include "log.h"
#include "mtime.h"
#include "token.h"
#include "xmalloc.h"

struct claim_call {
	struct claim_args	 a;
	char			 token[TOKEN_LEN];
	uint64_t		 sent;		/* mtime_now() */
	claim_cb		*cb;
	void			*arg;
};

/* A decimal integer from a string or integer reply; -1 if neither. */
static int
claim_ll(const redisReply *r, long long *v)
{
	char *end;

	if (r->type == REDIS_REPLY_INTEGER) {
		*v = r->integer;
		return 0;
	}
	if (r->type != REDIS_REPLY_STRING || r->len == 0)
		return -1;
	*v = strtoll(r->str, &end, 10);
	return *end == '\0' ? 0 : -1;
}

/* Reservations that came too late, logged about once a second. */
static struct log_ratelimit claim_expired;

/* The reply: {now, next_wake, job...}. */
static void
claim_reply_cb(struct rconn *rc, redisReply *r, void *arg)
{
	struct claim_call *c = arg;
	struct claim_result res;
	struct job *j;
	long long now, next;
	const char *q;
	char *cause, *sp;
	size_t i, qlen;

	(void)rc;
	memset(&res, 0, sizeof res);
	TAILQ_INIT(&res.jobs);
	res.asked = c->a.count;
	res.next_ms = -1;
	res.class = rfunc_classify(r);
	if (res.class == RFUNC_OK && (r->type != REDIS_REPLY_ARRAY ||
	    r->elements < 2 || claim_ll(r->element[0], &now) != 0 ||
	    claim_ll(r->element[1], &next) != 0)) {
		res.class = RFUNC_OTHER;
		res.why = "unexpected reply to redjob_claim";
	} else if (res.class != RFUNC_OK)
		res.why = r != NULL ? r->str : "no reply";
	if (res.class != RFUNC_OK) {
		c->cb(&c->a, &res, c->arg);
		free(c);
		return;
	}
	/* The queue or shard of the key, NS:{Q}: brief rows name N alone. */
	q = strrchr(c->a.base, '{');
	q = q != NULL ? q + 1 : c->a.base;
	qlen = strcspn(q, "}");
	for (i = 2; i < r->elements; i++) {
		res.got++;
		if (r->element[i]->type == REDIS_REPLY_STRING) {
			/*
			 * "ID expired: type=TYPE, WHY": a job too late to
			 * run, kept as expired. "ID REASON": a job Redis
			 * sent to dead as malformed.
			 */
			if ((sp = strchr(r->element[i]->str, ' ')) != NULL &&
			    strncmp(sp, " expired: ", 10) == 0) {
				res.expired++;
				log_job(LOG_LEVEL_INFO, "job %.*s queue=%s: "
				    "expired, not run: %s", (int)(sp -
				    r->element[i]->str), r->element[i]->str,
				    c->a.queue, sp + 10);
			} else if (res.malformed++ == 0)
				res.malformed_first = r->element[i]->str;
			continue;
		}
		if (r->element[i]->type == REDIS_REPLY_ARRAY &&
		    r->element[i]->elements <= 3)
			j = job_decode_brief(r->element[i], q, qlen, c->token,
			    &cause);
		else
			j = job_decode(r->element[i], c->token, &cause);
		if (j == NULL) {
			/* It has no id to act on: its lease returns it. */
			log_warnx("claim on queue %s: %s (left to its lease)",
			    c->a.queue, cause);
			free(cause);
			continue;
		}
		if (j->reserved != NULL && j->reserved_until < now) {
			/*
			 * Claimed too late for its reservation to admit it
			 * (docs/guards.md): it asks its limiter again, and
			 * the slot it had is spent.
			 */
			log_ratelimit(&claim_expired, LOG_LEVEL_INFO, "job %s: "
			    "its reservation of limiter %s ended %lld ms "
			    "before it was claimed; asking the limiter again",
			    j->id, j->reserved, now - j->reserved_until);
			free(j->reserved);
			j->reserved = NULL;
		}
		j->claimed_ms = now;
		j->claimed_us = mtime_now_us();	/* for job_wait_us() */
		j->claim_sent = c->sent;	/* its guards' validity */
		j->qi = c->a.qi;
		j->queue = c->a.queue;
		j->base = c->a.base;
		j->state = JOB_QUEUED;
		j->error = cause;
		TAILQ_INSERT_TAIL(&res.jobs, j, entry);
	}
	if (next >= 0)
		res.next_ms = next > now ? next - now : 0;
	res.now_ms = now;
	c->cb(&c->a, &res, c->arg);
	free(c);
}

/*
 * Claim up to a->count jobs of a queue under a fresh token. a's strings
 * must outlive the call. Returns 0 (cb follows, exactly once), or -1
 * when the connection cannot take the call now.
 */
int
claim_send(struct rconn *rconn, uint64_t call_ms, const struct claim_args *a,
    claim_cb *cb, void *arg)
{
	struct claim_call *c;
	char count[16], lease[24], stalls[16];
	const char **argv;
	size_t argc, i;
	int rc;

	c = xcalloc(1, sizeof *c);
	c->a = *a;
	c->cb = cb;
	c->arg = arg;
	/*
	 * The owner's id, then 64 random bits: the token still cannot be
	 * guessed, and redjob_release finds a dead worker's jobs by it.
	 */
	token_make(c->token);
	memcpy(c->token, a->owner, CLAIM_OWNER_LEN);
	snprintf(count, sizeof count, "%u", a->count);
	snprintf(lease, sizeof lease, "%llu", (unsigned long long)a->lease_ms);
	snprintf(stalls, sizeof stalls, "%u", a->max_stalls);
	argv = xreallocarray(NULL, 6 + 3 * (a->nexpire + a->nguard),
	    sizeof *argv);
	argv[0] = count;
	argv[1] = lease;
	argv[2] = stalls;
	argv[3] = c->token;
	argv[4] = a->worker;
	/* Packed jobs as they lie in Redis: job_decode_brief(). */
	argv[5] = "brief";
	argc = 6;
	for (i = 0; i < 3 * a->nexpire; i++)
		argv[argc++] = a->expire[i];
	for (i = 0; i < 3 * a->nguard; i++)
		argv[argc++] = a->guard[i];
	c->sent = mtime_now();
	rc = rconn_fcall(rconn, call_ms, claim_reply_cb, c, "redjob_claim",
	    a->base, (int)argc, argv, NULL);
	free(argv);
	if (rc != 0) {
		free(c);
		return -1;
	}
	return 0;
}
