/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A worker's sleep (docs/protocol.md, wake markers): BZPOPMIN on the
 * wake keys of all its queues, on a connection of its own, so that an
 * idle worker costs Redis nothing and wakes the moment a job arrives.
 * The wait is capped at 10 s: the cap is the keep-alive, and rconn's
 * deadline on the command (the block plus slack) is the watchdog that
 * rebuilds a connection silently dropped by the network.
 *
 * It knows nothing of due times: the worker keeps those with a local
 * timer, because Redis checks blocking timeouts only at its hz tick
 * (every 100 ms by default), which would make delayed jobs late.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "wake.h"
#include "log.h"
#include "mtime.h"
#include "rconn.h"
#include "xmalloc.h"

#define WAKE_BLOCK_MAX_MS 10000		/* keep-alive: one BZPOPMIN per 10 s */
#define WAKE_PROBE_MS 100		/* the first wait after a refusal */
#define WAKE_BLOCK_SLACK_MS 3000	/* watchdog beyond the block time */

/*
 * One sleeping connection. On one Redis it waits on every key; on a
 * cluster, where a BZPOPMIN may only name keys of one slot, there is one
 * per queue, connected to its queue's master alone.
 */
struct wake_conn {
	struct wake		*wk;
	struct rconn		*rc;
	size_t			 first;		/* its keys: first... */
	size_t			 n;
	int			 sleeping;	/* a BZPOPMIN is out */
};

struct wake {
	struct wake_conn	*conn;
	size_t			 nconn;
	char			**keys;
	size_t			 n;
	wake_cb			*cb;
	void			*arg;
	rconn_state_cb		*on_fatal;	/* the owner's */
	void			*fatal_arg;
	struct event		*retry_ev;
	struct log_ratelimit	 errors;
};

static void
wake_ready_cb(struct rconn *rc, void *arg)
{
	struct wake_conn *wc = arg;

	(void)rc;
	wc->wk->cb(WAKE_LOST, wc->wk->arg);
}

/* Access refused: the owner's on_fatal decides, as for its own. */
static void
wake_fatal_cb(struct rconn *rc, void *arg)
{
	struct wake_conn *wc = arg;

	if (wc->wk->on_fatal != NULL)
		wc->wk->on_fatal(rc, wc->wk->fatal_arg);
}

static void
wake_retry_cb(evutil_socket_t fd, short events, void *arg)
{
	struct wake *wk = arg;

	(void)fd;
	(void)events;
	wk->cb(WAKE_NONE, wk->arg);
}

/* What keeps the sleeping connection from working: rconn_condition(). */
const char *
wake_condition(const struct wake *wk, uint64_t *since)
{
	const char *c;
	size_t i;

	for (i = 0; i < wk->nconn; i++) {
		if ((c = rconn_condition(wk->conn[i].rc, since)) != NULL)
			return c;
	}
	return NULL;
}

/*
 * Create the sleeping connection with o (its on_ready is ours; its
 * on_fatal is called with its arg) for the wake keys of n queues. Returns NULL with *cause set if the URL
 * is bad.
 */
struct wake *
wake_create(struct event_base *base, const struct rconn_opts *o,
    const char *const *keys, size_t n, wake_cb *cb, void *arg, char **cause)
{
	struct rconn_opts opts = *o;
	struct wake *wk;
	size_t i;
	int cluster = strncmp(o->url, "redis+cluster://", 16) == 0;

	wk = xcalloc(1, sizeof *wk);
	wk->n = n;
	wk->keys = xcalloc(n, sizeof *wk->keys);
	for (i = 0; i < n; i++)
		wk->keys[i] = xstrdup(keys[i]);
	wk->cb = cb;
	wk->arg = arg;
	if ((wk->retry_ev = evtimer_new(base, wake_retry_cb, wk)) == NULL)
		fatalx("out of memory creating a timer");
	wk->on_fatal = o->on_fatal;
	wk->fatal_arg = o->arg;
	opts.load_library = 0;
	opts.on_ready = wake_ready_cb;
	opts.on_down = NULL;
	opts.on_fatal = wake_fatal_cb;
	wk->nconn = cluster ? n : 1;
	wk->conn = xcalloc(wk->nconn, sizeof *wk->conn);
	for (i = 0; i < wk->nconn; i++) {
		wk->conn[i].wk = wk;
		wk->conn[i].first = cluster ? i : 0;
		wk->conn[i].n = cluster ? 1 : n;
		opts.arg = &wk->conn[i];
		opts.key = cluster ? wk->keys[i] : NULL;
		if ((wk->conn[i].rc = rconn_create(base, &opts, cause)) ==
		    NULL) {
			wake_free(wk);
			return NULL;
		}
	}
	return wk;
}

/* Close the connection (a wait out is answered with no reply) and free. */
void
wake_free(struct wake *wk)
{
	size_t i;

	if (wk == NULL)
		return;
	for (i = 0; wk->conn != NULL && i < wk->nconn; i++)
		rconn_free(wk->conn[i].rc);
	free(wk->conn);
	event_free(wk->retry_ev);
	for (i = 0; i < wk->n; i++)
		free(wk->keys[i]);
	free(wk->keys);
	free(wk);
}

static void
wake_woken_cb(struct rconn *rc, redisReply *r, void *arg)
{
	struct wake_conn *wc = arg;
	struct wake *wk = wc->wk;
	unsigned n;
	size_t i;

	wc->sleeping = 0;
	if (r == NULL)
		return;		/* reconnecting; wake_ready_cb follows */
	if (r->type == REDIS_REPLY_ERROR) {
		log_ratelimit(&wk->errors, LOG_LEVEL_WARNING,
		    "waiting for jobs: %s", r->str);
		mtime_arm(wk->retry_ev, rconn_retry_ms(rc));
		return;
	}
	if ((n = log_ratelimit_end(&wk->errors)) > 0)
		log_info("waiting for jobs works again after %u failure%s", n,
		    n == 1 ? "" : "s");
	if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
	    r->element[0]->type == REDIS_REPLY_STRING) {
		for (i = 0; i < wk->n; i++) {
			if (strcmp(wk->keys[i], r->element[0]->str) == 0) {
				wk->cb(i, wk->arg);
				return;
			}
		}
	}
	wk->cb(WAKE_NONE, wk->arg);
}

/* Block on wc's wake markers, unless already waiting or not connected. */
static void
wake_sleep_conn(struct wake_conn *wc)
{
	struct wake *wk = wc->wk;
	uint64_t ms = WAKE_BLOCK_MAX_MS;
	const char **argv;
	char timeout[32];
	size_t i;

	if (wc->sleeping || !rconn_ready(wc->rc))
		return;
	/*
	 * After a refusal (an ACL, a busy Redis), a short wait first: its
	 * answer says at once whether the wait works again, so the worker's
	 * condition ends then, not at the end of a long wait.
	 */
	if (rconn_condition(wc->rc, NULL) != NULL)
		ms = WAKE_PROBE_MS;
	snprintf(timeout, sizeof timeout, "%llu.%03llu",
	    (unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000));
	argv = xcalloc(wc->n + 2, sizeof *argv);
	argv[0] = "BZPOPMIN";
	for (i = 0; i < wc->n; i++)
		argv[i + 1] = wk->keys[wc->first + i];
	argv[wc->n + 1] = timeout;
	if (rconn_command(wc->rc, ms + WAKE_BLOCK_SLACK_MS, wake_woken_cb, wc,
	    (int)wc->n + 2, argv, NULL) == 0)
		wc->sleeping = 1;
	free(argv);
}

/* Block on every wake marker, unless already waiting or not connected. */
void
wake_sleep(struct wake *wk)
{
	size_t i;

	for (i = 0; i < wk->nconn; i++)
		wake_sleep_conn(&wk->conn[i]);
}

const char *
wake_key(const struct wake *wk, size_t qi)
{
	return wk->keys[qi];
}

/*
 * Set a wake marker again, on the command connection cmd, for another
 * worker: one this worker took but cannot act on would otherwise leave
 * the work waiting for it.
 */
void
wake_give_back(struct rconn *cmd, const char *key)
{
	const char *argv[4] = { "ZADD", key, "0", "w" };

	rconn_command(cmd, RCONN_CALL_MS, NULL, NULL, 4, argv, NULL);
}

/*
 * Stop sleeping for good (a drain) and free: a marker popped just now
 * would die with the connection, so while a wait is out every marker is
 * set again for the other workers first.
 */
void
wake_close(struct wake *wk, struct rconn *cmd)
{
	size_t i;

	if (wk == NULL)
		return;
	for (i = 0; i < wk->n; i++) {
		if (wk->conn[wk->nconn == 1 ? 0 : i].sleeping)
			wake_give_back(cmd, wk->keys[i]);
	}
	wake_free(wk);
}
