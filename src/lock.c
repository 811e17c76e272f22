/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A distributed lock held while work runs under it (docs/guards.md):
 *
 *   - the token is 128 random bits, fresh for each lock, in hex, then
 *     for a job's lock a space and the job's id, so that the lock names
 *     its holder (redjob why);
 *   - the lock is taken with redjob_lock_acquire, renewed with
 *     redjob_lock_renew every third of its TTL and released with
 *     redjob_lock_release (compare-and-delete), all on NS:lock:{NAME};
 *   - it is valid, by our own monotonic clock, until its TTL minus a
 *     tenth, counted from when the last successful renewal was *sent*,
 *     and a timer fires at that moment: a holder cut off from Redis
 *     learns it has lost the lock before the lock can expire there, not
 *     at its next renewal;
 *   - a renewal answered 0, or a key holding something else, is a loss;
 *   - with a namespace (lock_set_waiter), a refused acquire puts the
 *     caller in the lock's wait list, and a release hands the first
 *     waiter over, which waitlist.c then makes due in its queue: a
 *     second call, on another slot. If the releaser dies between the
 *     two, that waiter comes back at the due time it was requeued with.
 *
 * It reports through one callback and never logs, so the daemon and the
 * CLI each say it their own way. It does not stop the work under the
 * lock: the owner does, on LOCK_LOST.
 *
 * A renewal or a release in flight does not point at the lock: it points
 * at a small record that lock_free() detaches, so a lock can be freed at
 * any time but during an acquire, which its owner waits for.
 */
#include "autoconf.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "lock.h"
#include "log.h"
#include "mtime.h"
#include "rconn.h"
#include "rfunc.h"
#include "token.h"
#include "waitlist.h"
#include "xmalloc.h"

#define LOCK_RETRY_MIN_MS 100	/* after a failed renewal */
#define LOCK_RETRY_MAX_MS 1000

struct lock_call {
	struct lock	*l;		/* NULL once the lock is freed */
	uint64_t	 sent;
};

struct lock {
	struct event_base	*base;
	struct rconn		*rc;
	char			*key;
	char			 token[LOCK_TOKEN_MAX + 1];
	char			 ttl_arg[24];
	uint64_t		 ttl_ms;
	uint64_t		 call_ms;	/* deadline of one call */
	lock_cb			*cb;
	void			*arg;

	int			 acquiring;	/* an acquire is in flight */
	int			 held;
	int			 lost;
	int			 failing;	/* renewals failing */
	int			 released;
	char			*fence;
	long long		 pttl;		/* of the holder, when busy */
	uint64_t		 valid_until;	/* monotonic ms */
	uint64_t		 expires_at;	/* on the server, at the latest */
	struct lock_call	*renewal;	/* in flight, or NULL */
	char			*ns;		/* to wake waiters, or NULL */
	char			*waiter;	/* our job: "QUEUE:N", or NULL */
	char			 order[24];	/* its place: N */
	char			 last_error[256];

	struct event		*renew_ev;
	struct event		*valid_ev;
};

/*
 * Create the lock key's holder; nothing is sent yet. call_ms is the
 * deadline of each call (the connection is rebuilt when one passes).
 */
struct lock *
lock_create(struct event_base *base, struct rconn *rc, const char *key,
    uint64_t ttl_ms, uint64_t call_ms, lock_cb *cb, void *arg)
{
	struct lock *l;

	l = xcalloc(1, sizeof *l);
	l->base = base;
	l->rc = rc;
	l->key = xstrdup(key);
	l->ttl_ms = ttl_ms;
	l->call_ms = call_ms;
	l->cb = cb;
	l->arg = arg;
	l->pttl = -1;
	token_make(l->token);
	snprintf(l->ttl_arg, sizeof l->ttl_arg, "%llu",
	    (unsigned long long)ttl_ms);
	return l;
}

/* Arm the validity timer from a grant or renewal sent at sent. */
static void
lock_set_valid(struct lock *l, uint64_t sent)
{
	uint64_t now = mtime_now();

	l->valid_until = sent + lock_validity_ms(l->ttl_ms);
	l->expires_at = sent + l->ttl_ms;
	mtime_arm(l->valid_ev, l->valid_until > now ? l->valid_until - now : 0);
}

/* Stop renewing; the lock is no longer ours to keep. */
static void
lock_stop(struct lock *l)
{
	l->held = 0;
	if (l->renew_ev != NULL)
		evtimer_del(l->renew_ev);
	if (l->valid_ev != NULL)
		evtimer_del(l->valid_ev);
	if (l->renewal != NULL) {
		l->renewal->l = NULL;
		l->renewal = NULL;
	}
}

static void
lock_lose(struct lock *l, const char *why)
{
	if (l->lost)
		return;
	l->lost = 1;
	lock_stop(l);
	l->cb(l, LOCK_LOST, why, RFUNC_OK, l->arg);
}

/*
 * A renewal failed without an answer about the lock (no connection, no
 * reply in time, Redis refusing): it may still be ours. Try again soon;
 * the validity timer decides when it counts as lost.
 */
static void
lock_renew_failed(struct lock *l, const char *why)
{
	uint64_t ms;

	snprintf(l->last_error, sizeof l->last_error, "%s", why);
	ms = l->ttl_ms / 10;
	if (ms < LOCK_RETRY_MIN_MS)
		ms = LOCK_RETRY_MIN_MS;
	if (ms > LOCK_RETRY_MAX_MS)
		ms = LOCK_RETRY_MAX_MS;
	mtime_arm(l->renew_ev, ms);
	/* Last: the owner may free the lock in its callback. */
	if (!l->failing) {
		l->failing = 1;
		l->cb(l, LOCK_RENEW_FAILED, l->last_error, RFUNC_OK, l->arg);
	}
}

static void
lock_renewed_cb(struct rconn *rc, redisReply *r, void *arg)
{
	struct lock_call *c = arg;
	struct lock *l = c->l;
	uint64_t sent = c->sent, now;
	char why[300];

	/* Every path below ends with the owner's callback, if any: the
	 * owner may free the lock in it. */
	free(c);
	if (l == NULL)
		return;
	l->renewal = NULL;
	if (r == NULL) {
		snprintf(why, sizeof why, "no reply: %s", rconn_last_error(rc));
		lock_renew_failed(l, why);
	} else if (r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
		lock_set_valid(l, sent);
		/*
		 * The next renewal goes a third of the TTL after this one
		 * was sent, not after its answer came: a slow answer then
		 * does not eat into the time the next one has to be answered
		 * before the validity of this one ends.
		 */
		now = mtime_now();
		mtime_arm(l->renew_ev, sent + l->ttl_ms / 3 > now ?
		    sent + l->ttl_ms / 3 - now : 0);
		if (l->failing) {
			l->failing = 0;
			l->last_error[0] = '\0';
			l->cb(l, LOCK_RENEWED, "renewed again", RFUNC_OK,
			    l->arg);
		}
	} else if (r->type == REDIS_REPLY_INTEGER ||
	    rfunc_classify(r) == RFUNC_BADKEY) {
		/* 0, or the key holds something else: not our token. */
		l->expires_at = 0;
		lock_lose(l, "redis no longer holds our token (the lock "
		    "expired or was deleted, or another holder has it)");
	} else if (r->type == REDIS_REPLY_ERROR) {
		snprintf(why, sizeof why, "redis: %.250s", r->str);
		lock_renew_failed(l, why);
	} else
		lock_renew_failed(l, "unexpected reply to redjob_lock_renew");
}

static void
lock_renew_cb(evutil_socket_t fd, short events, void *arg)
{
	struct lock *l = arg;
	struct lock_call *c;
	const char *argv[2] = { l->token, l->ttl_arg };
	char why[300];

	(void)fd;
	(void)events;
	if (!l->held || l->renewal != NULL)
		return;
	if (!rconn_ready(l->rc)) {
		snprintf(why, sizeof why, "not connected: %s",
		    *rconn_last_error(l->rc) != '\0' ?
		    rconn_last_error(l->rc) : "connecting");
		lock_renew_failed(l, why);
		return;
	}
	c = xcalloc(1, sizeof *c);
	c->l = l;
	c->sent = mtime_now();
	if (rconn_fcall(l->rc, l->call_ms, lock_renewed_cb, c,
	    "redjob_lock_renew", l->key, 2, argv, NULL) != 0) {
		free(c);
		lock_renew_failed(l, "cannot send to redis");
		return;
	}
	l->renewal = c;
}

static void
lock_valid_cb(evutil_socket_t fd, short events, void *arg)
{
	struct lock *l = arg;
	char why[400];

	(void)fd;
	(void)events;
	snprintf(why, sizeof why, "not renewed within its TTL (%s)",
	    l->last_error[0] != '\0' ? l->last_error : "no answer");
	lock_lose(l, why);
}

/* Start holding: renew from now on, valid from sent. */
static void
lock_start(struct lock *l, uint64_t sent)
{
	uint64_t now;

	l->held = 1;
	if (l->renew_ev == NULL) {
		l->renew_ev = evtimer_new(l->base, lock_renew_cb, l);
		l->valid_ev = evtimer_new(l->base, lock_valid_cb, l);
		if (l->renew_ev == NULL || l->valid_ev == NULL)
			fatalx("out of memory creating a timer");
	}
	lock_set_valid(l, sent);
	now = mtime_now();
	mtime_arm(l->renew_ev, sent + l->ttl_ms / 3 > now ?
	    sent + l->ttl_ms / 3 - now : 0);
}

static void
lock_acquired_cb(struct rconn *rc, redisReply *r, void *arg)
{
	struct lock_call *c = arg;
	struct lock *l = c->l;
	const redisReply *e1;
	char why[300];

	(void)rc;
	assert(l != NULL && l->acquiring);
	l->acquiring = 0;
	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		snprintf(why, sizeof why, "%s", r != NULL ? r->str :
		    "no reply");
		free(c);
		l->cb(l, LOCK_ERROR, why, rfunc_classify(r), l->arg);
		return;
	}
	/* {1, fence} or {0, pttl}. */
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_INTEGER ||
	    (r->element[1]->type != REDIS_REPLY_STRING &&
	    r->element[1]->type != REDIS_REPLY_INTEGER)) {
		free(c);
		l->cb(l, LOCK_ERROR, "unexpected reply to redjob_lock_acquire",
		    RFUNC_OTHER, l->arg);
		return;
	}
	e1 = r->element[1];
	if (r->element[0]->integer == 1) {
		free(l->fence);
		if (e1->type == REDIS_REPLY_STRING)
			l->fence = xstrdup(e1->str);
		else
			xasprintf(&l->fence, "%lld", e1->integer);
		lock_start(l, c->sent);
		free(c);
		l->cb(l, LOCK_TAKEN, "taken", RFUNC_OK, l->arg);
		return;
	}
	l->pttl = e1->type == REDIS_REPLY_INTEGER ? e1->integer :
	    strtoll(e1->str, NULL, 10);
	free(c);
	l->cb(l, LOCK_BUSY, "held by another", RFUNC_OK, l->arg);
}

/*
 * Ask for the lock. Returns 0 (the callback follows with LOCK_TAKEN,
 * LOCK_BUSY or LOCK_ERROR), or -1 when the connection cannot take the
 * call now (no callback).
 */
int
lock_acquire(struct lock *l)
{
	struct lock_call *c;
	const char *argv[4] = { l->token, l->ttl_arg, l->waiter, l->order };

	assert(!l->acquiring && !l->held);
	c = xcalloc(1, sizeof *c);
	c->l = l;
	c->sent = mtime_now();
	if (rconn_fcall(l->rc, l->call_ms, lock_acquired_cb, c,
	    "redjob_lock_acquire", l->key, l->waiter != NULL ? 4 : 2, argv,
	    NULL) != 0) {
		free(c);
		return -1;
	}
	l->acquiring = 1;
	return 0;
}

/*
 * Hold a lock taken by other means (synchronously, by `redjob lock`)
 * with token and fence, asked for at sent: renew it from now on.
 */
void
lock_hold(struct lock *l, const char *token, const char *fence,
    uint64_t sent)
{
	snprintf(l->token, sizeof l->token, "%s", token);
	free(l->fence);
	l->fence = xstrdup(fence);
	lock_start(l, sent);
}

/*
 * Wait for the lock as waiter ("QUEUE:N", a job id of namespace ns) in
 * the order N when it is refused, and wake the next waiter on release.
 * waiter NULL: only wake on release (redjob lock).
 */
void
lock_set_waiter(struct lock *l, const char *ns, const char *waiter,
    unsigned long long order)
{
	free(l->ns);
	free(l->waiter);
	l->ns = xstrdup(ns);
	l->waiter = waiter != NULL ? xstrdup(waiter) : NULL;
	if (waiter != NULL && strlen(waiter) < LOCK_TOKEN_MAX - TOKEN_LEN) {
		token_make(l->token);
		l->token[TOKEN_LEN - 1] = ' ';
		snprintf(l->token + TOKEN_LEN, sizeof l->token - TOKEN_LEN,
		    "%s", waiter);
	}
	snprintf(l->order, sizeof l->order, "%llu", order);
}

/*
 * Release the lock if it was granted to us, even if it was lost since
 * (compare-and-delete: it only deletes our own grant), and stop
 * renewing. The answer is not waited for: a lost release leaves the lock
 * to expire by its TTL. With a namespace, the answer names the first
 * waiter, which is then woken.
 */
void
lock_release(struct lock *l)
{
	const char *argv[2] = { l->token, "next" };

	if (l->fence == NULL || l->released)
		return;
	l->released = 1;
	lock_stop(l);
	if (l->ns == NULL) {
		rconn_fcall(l->rc, l->call_ms, NULL, NULL,
		    "redjob_lock_release", l->key, 1, argv, NULL);
		return;
	}
	(void)waitlist_release(l->rc, l->call_ms, l->ns, l->key,
	    "redjob_lock_release", 2, argv, "redjob_lock_next", 0, NULL);
}

/*
 * The release goes with another call (the worker's ack, which gives back
 * the guards of the jobs it records: docs/guards.md): stop renewing, and
 * send nothing on lock_release(). Returns 0, or -1 if there is nothing
 * to release (the lock was never granted, or is released already).
 */
int
lock_hand_off(struct lock *l)
{
	if (l->fence == NULL || l->released)
		return -1;
	l->released = 1;
	lock_stop(l);
	return 0;
}

/* Free the holder (not during an acquire); it releases nothing itself. */
void
lock_free(struct lock *l)
{
	if (l == NULL)
		return;
	assert(!l->acquiring);
	lock_stop(l);
	if (l->renew_ev != NULL)
		event_free(l->renew_ev);
	if (l->valid_ev != NULL)
		event_free(l->valid_ev);
	explicit_bzero(l->token, sizeof l->token);
	free(l->ns);
	free(l->waiter);
	free(l->key);
	free(l->fence);
	free(l);
}

int
lock_held(const struct lock *l)
{
	return l->held;
}

/* Is an acquire in flight? */
int
lock_busy(const struct lock *l)
{
	return l->acquiring;
}

const char *
lock_key(const struct lock *l)
{
	return l->key;
}

const char *
lock_token(const struct lock *l)
{
	return l->token;
}

/* The fencing token of our grant, or NULL. */
const char *
lock_fence(const struct lock *l)
{
	return l->fence;
}

/* The holder's remaining TTL after LOCK_BUSY (-1: none). */
long long
lock_pttl(const struct lock *l)
{
	return l->pttl;
}

uint64_t
lock_valid_until(const struct lock *l)
{
	return l->valid_until;
}

/*
 * The monotonic time by which the lock has surely expired in Redis if no
 * renewal after the last successful one landed: that renewal's send plus
 * the TTL. A holder that lost it by its own clock stops its work before
 * then, so no other holder can start while it runs. 0 once Redis said
 * the lock is not ours: there is no such moment left to keep, and the
 * work may stop at its usual pace.
 */
uint64_t
lock_expires_at(const struct lock *l)
{
	return l->expires_at;
}

const char *
lock_last_error(const struct lock *l)
{
	return l->last_error;
}

/*
 * How long after it asked for a grant or renewal a holder counts the
 * lock as its own: the TTL less a tenth, for the drift between clocks
 * and the time the request took to reach Redis.
 */
uint64_t
lock_validity_ms(uint64_t ttl_ms)
{
	return ttl_ms - ttl_ms / 10;
}
