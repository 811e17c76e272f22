/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The release of a guard with a wait list KEY:wait (guards.lua): a lock,
 * or a concurrency limiter. The release call, sent with "next", answers
 * {released, WAITER} when it frees the guard and someone waits; the
 * waiter, a job id "QUEUE:N" of namespace ns, is then made due with
 * redjob_wake on its queue: a second call, on another slot. If that job
 * is gone, the guard's own "next" function (redjob_lock_next,
 * redjob_limit_conc_next) hands over the following waiter, at most
 * WAITLIST_HOPS times per release. Any failure, or a releaser that dies
 * between the calls, leaves the waiters to the fallback due time their
 * refusal gave them.
 *
 * The chain owns copies of what it needs, so the guard's holder may be
 * freed while it runs.
 */
#include "autoconf.h"

#include <stdlib.h>

#include <hiredis/hiredis.h>

#include "rconn.h"
#include "schema.h"
#include "waitlist.h"
#include "xmalloc.h"

#define WAITLIST_HOPS	8	/* waiters gone, skipped per release */

struct waitlist_wake {
	struct rconn		*rc;
	uint64_t		 call_ms;
	char			*key;
	char			*ns;
	const char		*next_fn;	/* a string constant */
	int			 next_argc;
	char			*next_argv[WAITLIST_NEXT_ARGS];
	int			 hops;
};

static void	waitlist_wake_next(struct waitlist_wake *, const char *);
static void	waitlist_popped_cb(struct rconn *, redisReply *, void *);

static void
waitlist_free(struct waitlist_wake *w)
{
	int i;

	for (i = 0; i < w->next_argc; i++)
		free(w->next_argv[i]);
	free(w->key);
	free(w->ns);
	free(w);
}

/* The answer of redjob_wake: 0 means the waiter is gone, so the next. */
static void
waitlist_woken_cb(struct rconn *rc, redisReply *r, void *arg)
{
	struct waitlist_wake *w = arg;

	(void)rc;
	if (r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 0 &&
	    ++w->hops < WAITLIST_HOPS && rconn_fcall(w->rc, w->call_ms,
	    waitlist_popped_cb, w, w->next_fn, w->key, w->next_argc,
	    (const char **)w->next_argv, NULL) == 0)
		return;
	waitlist_free(w);
}

/*
 * The waiter a release or a "next" call handed over: {released, WAITER}
 * or WAITER, '' for none. Anything else (no reply) leaves the waiters to
 * their due times.
 */
static void
waitlist_popped_cb(struct rconn *rc, redisReply *r, void *arg)
{
	struct waitlist_wake *w = arg;

	(void)rc;
	if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2)
		r = r->element[1];
	if (r == NULL || r->type != REDIS_REPLY_STRING || r->len == 0) {
		waitlist_free(w);
		return;
	}
	waitlist_wake_next(w, r->str);
}

/* Make waiter due in its queue. */
static void
waitlist_wake_next(struct waitlist_wake *w, const char *waiter)
{
	char queue[SCHEMA_KEY_MAX], base[SCHEMA_KEY_MAX];
	const char *argv[1] = { waiter };

	if (schema_job_queue(waiter, queue, sizeof queue) != 0 ||
	    schema_queue_base(base, sizeof base, w->ns, queue) != 0 ||
	    rconn_fcall(w->rc, w->call_ms, waitlist_woken_cb, w, "redjob_wake",
	    base, 1, argv, NULL) != 0)
		waitlist_free(w);
}

/*
 * Send the release fn KEY argv (its arguments ending in "next"), whose
 * answer is not waited for by the caller, and wake the waiter it hands
 * over; next_fn KEY next_argv hands over the following one when that
 * waiter is gone. Returns 0, or -1 if the release could not be sent.
 */
int
waitlist_release(struct rconn *rc, uint64_t call_ms, const char *ns,
    const char *key, const char *fn, int argc, const char **argv,
    const char *next_fn, int next_argc, const char **next_argv)
{
	struct waitlist_wake *w;
	int i;

	w = xcalloc(1, sizeof *w);
	w->rc = rc;
	w->call_ms = call_ms;
	w->key = xstrdup(key);
	w->ns = xstrdup(ns);
	w->next_fn = next_fn;
	for (i = 0; i < next_argc && i < WAITLIST_NEXT_ARGS; i++)
		w->next_argv[i] = xstrdup(next_argv[i]);
	w->next_argc = i;
	if (rconn_fcall(rc, call_ms, waitlist_popped_cb, w, fn, key, argc,
	    argv, NULL) != 0) {
		waitlist_free(w);
		return -1;
	}
	return 0;
}
