/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * An asynchronous Redis connection for the worker's event loop. hiredis
 * 0.14 gives us the protocol and the libevent adapter; this module adds
 * what a daemon needs around it: reconnect with backoff, a deadline per
 * command (hiredis 0.14 has none), a handshake, and the function library
 * kept loaded. It does not know about jobs, and it logs nothing: it
 * reports failures, recoveries and refusals through the owner's event
 * callback with a cause string, and the owner decides what to say where
 * (the daemon's log, the CLI's stderr). The library's commands and the
 * meaning of replies come from rfunc.c.
 *
 * Replies arrive in the order commands were sent, so the outstanding
 * commands are a FIFO and one timer, armed at the head's deadline, is
 * enough. When it fires the connection is torn down: every pending
 * callback gets NULL ("may or may not have run"), and the callers decide
 * what is safe to resend.
 */
#include "autoconf.h"

#include <sys/queue.h>
#include <sys/time.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>

#include "rconn.h"
#include "backoff.h"
#include "compat.h"
#include "mtime.h"
#include "rfunc.h"
#include "cluster.h"
#include "rcluster.h"
#include "sentinel.h"
#include "url.h"
#include "xmalloc.h"

#define RCONN_BACKOFF_MIN_MS 100
#define RCONN_BACKOFF_MAX_MS 5000
#define RCONN_HANDSHAKE_MS 10000
#define RCONN_SENTINEL_MS 500	/* each step of asking a sentinel */
#define RCONN_WATCH_RETRY_MS 1000 /* a lost subscription to a sentinel */

enum rconn_state {
	RCONN_DOWN,		/* waiting to reconnect */
	RCONN_CONNECTING,	/* TCP/unix connect under way */
	RCONN_HANDSHAKE,	/* AUTH, SELECT, library */
	RCONN_READY,
};

struct rconn_cmd {
	TAILQ_ENTRY(rconn_cmd) entry;
	struct rconn	*rc;
	rconn_reply_cb	*cb;
	void		*arg;
	uint64_t	 deadline;	/* monotonic ms */
	uint64_t	 timeout_ms;
	/* Kept for an FCALL, to resend once after loading the library. */
	int		 argc;
	char		**argv;
	size_t		*lens;
	int		 retried;
	char		 what[64];	/* "BZPOPMIN", "FCALL redjob_claim" */
};

struct rconn {
	struct event_base	*base;
	struct url		 url;
	char			*name;
	int			 load_library;
	rconn_state_cb		*on_ready;
	rconn_state_cb		*on_down;
	rconn_state_cb		*on_fatal;
	void			*arg;
	rconn_event_cb		*on_event;
	void			*event_arg;
	unsigned long long	*errors;	/* rconn_opts */

	redisAsyncContext	*ac;
	enum rconn_state	 state;
	struct event		*retry_ev;
	struct event		*deadline_ev;
	struct event		*drop_ev;
	uint64_t		 backoff_ms;
	char			 last_error[512];
	char			 noperm[64];	/* the command refused, or "" */
	TAILQ_HEAD(, rconn_cmd)	 pending;

	/*
	 * What keeps this connection from working, from the first failure
	 * or refusal until a reply that is not one: RFUNC_OK if nothing.
	 */
	enum rfunc_class	 cond;
	char			 cond_text[RCONN_CONDITION_MAX];
	uint64_t		 cond_since;
	unsigned		 refusals;	/* in a row, for rconn_retry_ms */

	/* redis+cluster://: everything is done by the cluster's side. */
	struct rcl		*cl;

	/* Through sentinels: a subscription to one of them, for failovers. */
	redisAsyncContext	*watch;
	struct event		*watch_ev;	/* its next attempt */

	/* Subscribe mode (rconn_subscribe): who gets the messages. */
	rconn_reply_cb		*push_cb;
	void			*push_arg;
};

static void	rconn_connect(struct rconn *);
static void	rconn_watch(struct rconn *);
static void	rconn_handshake_next(struct rconn *, int);

/* Note a condition; its start is kept while it stays the same class. */
static void
rconn_condition_set(struct rconn *rc, enum rfunc_class class, const char *msg)
{
	if (rc->cond != class)
		rc->cond_since = mtime_now();
	rc->cond = class;
	rfunc_describe(class, msg, rc->cond_text, sizeof rc->cond_text);
}

/* Tell the owner what happened; cause is for people. */
static void
rconn_event(struct rconn *rc, enum rconn_event ev, const char *cause)
{
	if (rc->on_event != NULL)
		rc->on_event(rc, ev, cause, rc->event_arg);
}

/* Arm the deadline timer at the oldest outstanding command's deadline. */
static void
rconn_arm_deadline(struct rconn *rc)
{
	struct rconn_cmd *cmd = TAILQ_FIRST(&rc->pending);
	uint64_t now = mtime_now();

	evtimer_del(rc->deadline_ev);
	if (cmd == NULL)
		return;
	mtime_arm(rc->deadline_ev,
	    cmd->deadline > now ? cmd->deadline - now : 0);
}

static void
rconn_cmd_free(struct rconn_cmd *cmd)
{
	int i;

	if (cmd->argv != NULL) {
		for (i = 0; i < cmd->argc; i++)
			free(cmd->argv[i]);
		free(cmd->argv);
		free(cmd->lens);
	}
	free(cmd);
}

/*
 * Report a failed attempt or a lost connection, with rc->last_error as
 * the cause. There is one report per failure: an outage that lasts gives
 * a report at every attempt, and the owner rate-limits what it shows.
 */
static void
rconn_failed(struct rconn *rc)
{
	/* A refusal that made us reconnect (READONLY) stays the condition. */
	if (rc->cond == RFUNC_OK || rc->cond == RFUNC_CONN)
		rconn_condition_set(rc, RFUNC_CONN, rc->last_error);
	if (rc->errors != NULL)
		rc->errors[RFUNC_CONN]++;
	rconn_event(rc, RCONN_EVENT_FAILED, rc->last_error);
}

/* Schedule the next connect attempt with jittered exponential backoff. */
static void
rconn_schedule(struct rconn *rc)
{
	uint64_t ms;

	rc->state = RCONN_DOWN;
	if (rc->backoff_ms == 0)
		rc->backoff_ms = RCONN_BACKOFF_MIN_MS;
	else if (rc->backoff_ms < RCONN_BACKOFF_MAX_MS)
		rc->backoff_ms *= 2;
	if (rc->backoff_ms > RCONN_BACKOFF_MAX_MS)
		rc->backoff_ms = RCONN_BACKOFF_MAX_MS;
	/* "Equal jitter": half fixed, half random. */
	ms = rc->backoff_ms / 2 + backoff_jitter(rc->backoff_ms / 2);
	mtime_arm(rc->retry_ev, ms);
}

/*
 * Forget the connection: hiredis calls every pending callback with NULL.
 * Called from timers and from our own reply callbacks' deferred paths,
 * never from inside a hiredis callback for this context.
 */
static void
rconn_teardown(struct rconn *rc)
{
	redisAsyncContext *ac = rc->ac;
	int was_ready = rc->state == RCONN_READY;

	rc->ac = NULL;
	rc->state = RCONN_DOWN;
	evtimer_del(rc->deadline_ev);
	if (ac != NULL) {
		ac->data = NULL;
		redisAsyncFree(ac);
	}
	if (was_ready && rc->on_down != NULL)
		rc->on_down(rc, rc->arg);
	rconn_schedule(rc);
}

static void
rconn_deadline_cb(evutil_socket_t fd, short events, void *arg)
{
	struct rconn *rc = arg;
	struct rconn_cmd *cmd = TAILQ_FIRST(&rc->pending);

	(void)fd;
	(void)events;
	if (rc->state == RCONN_CONNECTING)
		snprintf(rc->last_error, sizeof rc->last_error, "no connection "
		    "in %d ms; trying again", RCONN_HANDSHAKE_MS);
	else
		snprintf(rc->last_error, sizeof rc->last_error, "no reply in "
		    "%llu ms; reconnecting", cmd != NULL ?
		    (unsigned long long)cmd->timeout_ms : 0ULL);
	rconn_failed(rc);
	rconn_teardown(rc);
}

/* Is this error a sign that the server is no longer a writable primary? */
static int
rconn_role_changed(enum rfunc_class class)
{
	return class == RFUNC_READONLY || class == RFUNC_UNBLOCKED ||
	    class == RFUNC_MASTERDOWN;
}

static void
rconn_drop_cb(evutil_socket_t fd, short events, void *arg)
{
	struct rconn *rc = arg;

	(void)fd;
	(void)events;
	if (rc->ac == NULL)
		return;
	rconn_failed(rc);
	rconn_teardown(rc);
}

static void
rconn_retry_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	rconn_connect(arg);
}

/*
 * A command the user may not run (NOPERM, or a function's command it may
 * not run) is reported with the command's name, until that command is
 * allowed again: an ACL that lacks a rule must not look like an idle
 * worker (docs/protocol.md, ACL users). A refused FUNCTION LOAD is over
 * when a call of the library works: an admin user loaded it.
 */
static void
rconn_noperm(struct rconn *rc, const struct rconn_cmd *cmd,
    enum rfunc_class class)
{
	char what[sizeof rc->noperm];

	if (class == RFUNC_NOPERM) {
		snprintf(rc->noperm, sizeof rc->noperm, "%s", cmd->what);
		rconn_event(rc, RCONN_EVENT_NOPERM, cmd->what);
	} else if (class == RFUNC_OK && rc->noperm[0] != '\0' &&
	    (strcmp(rc->noperm, cmd->what) == 0 ||
	    (strncmp(rc->noperm, "FUNCTION LOAD", 13) == 0 &&
	    strncmp(cmd->what, "FCALL", 5) == 0))) {
		snprintf(what, sizeof what, "%s", rc->noperm);
		rc->noperm[0] = '\0';
		rconn_event(rc, RCONN_EVENT_NOPERM_END, what);
	}
}

/* The one hiredis reply callback: pop our command and hand over. */
static void
rconn_reply_cb_(redisAsyncContext *ac, void *r, void *privdata)
{
	struct rconn_cmd *cmd = privdata;
	struct rconn *rc = cmd->rc;
	redisReply *reply = r;
	enum rfunc_class class;
	const char *argv[RFUNC_LOAD_ARGC];
	size_t lens[RFUNC_LOAD_ARGC];
	char why[160];
	int argc;

	(void)ac;
	TAILQ_REMOVE(&rc->pending, cmd, entry);
	if (rc->ac != NULL)
		rconn_arm_deadline(rc);
	class = rfunc_classify(reply);
	/* A lost reply is counted with its connection (rconn_failed). */
	if (reply != NULL && class != RFUNC_OK && rc->errors != NULL)
		rc->errors[class]++;
	rconn_noperm(rc, cmd, class);
	if (reply != NULL && rfunc_refusal(class)) {
		rc->refusals++;
		/* NOPERM is named by the command refused, not the text. */
		rconn_condition_set(rc, class, class == RFUNC_NOPERM ?
		    cmd->what : reply->str);
	} else if (reply != NULL && class != RFUNC_NOLIB &&
	    rc->state == RCONN_READY) {
		/*
		 * Redis did what we asked (or answered about the job itself):
		 * the connection works. Only now does the reconnect backoff
		 * start again from its minimum: a handshake that succeeds
		 * against a server that refuses every write (a demoted
		 * primary) must not make the reconnects quicker.
		 */
		rc->refusals = 0;
		rc->backoff_ms = 0;
		rc->cond = RFUNC_OK;
	}
	if (class == RFUNC_NOLIB && cmd->argv != NULL && !cmd->retried &&
	    rc->ac != NULL) {
		/*
		 * The library is gone (a restart without persistence, a
		 * failover, FUNCTION FLUSH). Nothing ran: load it and send
		 * the same call once more, behind the load.
		 */
		snprintf(why, sizeof why, "the redjob library is missing or "
		    "incomplete (%s: no such function); loading it",
		    cmd->what);
		rconn_event(rc, RCONN_EVENT_RELOAD, why);
		cmd->retried = 1;
		argc = rfunc_load_argv(argv, lens);
		if (rconn_command(rc, cmd->timeout_ms, NULL, NULL, argc, argv,
		    lens) == 0) {
			cmd->deadline = mtime_now() + cmd->timeout_ms;
			if (redisAsyncCommandArgv(rc->ac, rconn_reply_cb_, cmd,
			    cmd->argc, (const char **)cmd->argv,
			    cmd->lens) == REDIS_OK) {
				TAILQ_INSERT_TAIL(&rc->pending, cmd, entry);
				rconn_arm_deadline(rc);
				return;
			}
		}
	}
	if (rconn_role_changed(class) && rc->ac != NULL &&
	    !evtimer_pending(rc->drop_ev, NULL)) {
		/*
		 * This server stopped being a primary (a failover, REPLICAOF):
		 * reconnect, so a name or address that now leads to the new
		 * primary is looked up again (docs/operations.md, failover). From a
		 * timer: we are inside a hiredis callback.
		 */
		snprintf(rc->last_error, sizeof rc->last_error, "%.200s",
		    reply->str);
		mtime_arm(rc->drop_ev, 0);
	}
	if (cmd->cb != NULL)
		cmd->cb(rc, reply, cmd->arg);
	rconn_cmd_free(cmd);
}

/*
 * Name the command for messages: "BZPOPMIN", "CLIENT SETNAME", "FUNCTION
 * LOAD", or "FCALL redjob_claim" with the function's name as it is.
 */
static void
rconn_what(struct rconn_cmd *cmd, int argc, const char **argv,
    const size_t *lens)
{
	static const char *const two[] = {
		"FCALL", "FCALL_RO", "CLIENT", "FUNCTION",
	};
	size_t i, j, n, k = 0, words = 1;
	int fcall;

	for (i = 0; argc > 1 && i < nitems(two); i++) {
		if (strcasecmp(argv[0], two[i]) == 0)
			words = 2;
	}
	fcall = strncasecmp(argv[0], "FCALL", 5) == 0;
	for (i = 0; i < words; i++) {
		n = lens != NULL ? lens[i] : strlen(argv[i]);
		if (i > 0 && k + 1 < sizeof cmd->what)
			cmd->what[k++] = ' ';
		for (j = 0; j < n && k + 1 < sizeof cmd->what; j++)
			cmd->what[k++] = i > 0 && fcall ? argv[i][j] :
			    (char)toupper((unsigned char)argv[i][j]);
	}
	cmd->what[k] = '\0';
}

/* Send a command with our bookkeeping; 0 or -1. */
static int
rconn_send(struct rconn *rc, struct rconn_cmd *cmd, int argc,
    const char **argv, const size_t *lens)
{
	if (rc->ac == NULL)
		return -1;
	rconn_what(cmd, argc, argv, lens);
	cmd->rc = rc;
	cmd->deadline = mtime_now() + cmd->timeout_ms;
	if (redisAsyncCommandArgv(rc->ac, rconn_reply_cb_, cmd, argc, argv,
	    lens) != REDIS_OK)
		return -1;
	TAILQ_INSERT_TAIL(&rc->pending, cmd, entry);
	if (TAILQ_FIRST(&rc->pending) == cmd)
		rconn_arm_deadline(rc);
	return 0;
}

/*
 * Send a command. Returns 0 (cb will be called exactly once, with a reply
 * or NULL), or -1 if the connection is not usable now (cb is not called).
 * Handshake commands are let through before the connection is ready.
 */

int
rconn_command(struct rconn *rc, uint64_t timeout_ms, rconn_reply_cb *cb,
    void *arg, int argc, const char **argv, const size_t *lens)
{
	struct rconn_cmd *cmd;
	const char *key;
	size_t keylen;

	if (rc->cl != NULL)
		return rcl_call(rc->cl, timeout_ms, cb, arg, NULL,
		    cluster_command_key(argc, argv, lens, &key, &keylen) ?
		    key : NULL, argc, argv, lens);
	if (rc->state != RCONN_READY && rc->state != RCONN_HANDSHAKE)
		return -1;
	cmd = xcalloc(1, sizeof *cmd);
	cmd->cb = cb;
	cmd->arg = arg;
	cmd->timeout_ms = timeout_ms;
	if (rconn_send(rc, cmd, argc, argv, lens) != 0) {
		free(cmd);
		return -1;
	}
	return 0;
}

/*
 * Call a function of the library on key. If Redis answers that the
 * function does not exist, the library is loaded and the call sent once
 * more before cb sees anything. Returns 0 or -1 as rconn_command().
 */
int
rconn_fcall(struct rconn *rc, uint64_t timeout_ms, rconn_reply_cb *cb,
    void *arg, const char *fn, const char *key, int argc, const char **argv,
    const size_t *lens)
{
	struct rconn_cmd *cmd;
	const char *head[RFUNC_FCALL_HEAD];
	size_t headlen[RFUNC_FCALL_HEAD];
	int i, nhead, n;

	if (rc->cl != NULL)
		return rcl_call(rc->cl, timeout_ms, cb, arg, fn, key, argc,
		    argv, lens);
	if (rc->state != RCONN_READY)
		return -1;
	nhead = rfunc_fcall_head(head, headlen, fn, 0, key);
	n = nhead + argc;
	cmd = xcalloc(1, sizeof *cmd);
	cmd->cb = cb;
	cmd->arg = arg;
	cmd->timeout_ms = timeout_ms;
	cmd->argc = n;
	cmd->argv = xcalloc((size_t)n, sizeof *cmd->argv);
	cmd->lens = xcalloc((size_t)n, sizeof *cmd->lens);
	/* Copies: the call may be sent again after its caller returned. */
	for (i = 0; i < nhead; i++) {
		cmd->lens[i] = headlen[i];
		cmd->argv[i] = xmemdup(head[i], headlen[i] + 1);
	}
	for (i = 0; i < argc; i++) {
		cmd->lens[nhead + i] = lens != NULL ? lens[i] :
		    strlen(argv[i]);
		cmd->argv[nhead + i] = xmemdup(argv[i], cmd->lens[nhead + i]);
	}
	if (rconn_send(rc, cmd, n, (const char **)cmd->argv, cmd->lens) != 0) {
		rconn_cmd_free(cmd);
		return -1;
	}
	return 0;
}

/*
 * Every reply on a subscribed connection: the confirmations and the
 * messages. hiredis keeps this callback with each channel and calls it
 * with NULL when the context goes, which on_down reports already.
 */
static void
rconn_push_cb_(redisAsyncContext *ac, void *r, void *privdata)
{
	struct rconn *rc = privdata;
	redisReply *reply = r;

	(void)ac;
	if (reply == NULL || rc->ac == NULL || rc->push_cb == NULL)
		return;
	if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 &&
	    reply->element[0]->type == REDIS_REPLY_STRING &&
	    strcasecmp(reply->element[0]->str, "subscribe") == 0) {
		/* Redis did what we asked: the connection works. */
		rc->refusals = 0;
		rc->backoff_ms = 0;
		rc->cond = RFUNC_OK;
		if (strcmp(rc->noperm, "SUBSCRIBE") == 0) {
			rc->noperm[0] = '\0';
			rconn_event(rc, RCONN_EVENT_NOPERM_END, "SUBSCRIBE");
		}
	}
	rc->push_cb(rc, reply, rc->push_arg);
}

/*
 * Subscribe mode, for a connection that only listens (src/notice.c):
 * send SUBSCRIBE CHANNEL...; cb then gets every reply on those channels,
 * the confirmations (["subscribe", CHANNEL, COUNT]) and the messages
 * (["message", CHANNEL, TEXT]), until the connection is lost. The
 * subscriptions go with it: on_ready must subscribe again. No deadline
 * applies (a subscriber waits for as long as nothing happens; TCP
 * keep-alive finds a dead peer), and the connection must carry nothing
 * else: hiredis 0.14 hands a subscribed context's replies to the
 * commands sent on it first, so one would take a message for its reply.
 * An error reply (an ACL without the command or the channels) makes
 * hiredis close the connection; a NOPERM is then reported as a refusal of
 * SUBSCRIBE (RCONN_EVENT_NOPERM, the condition), and the connection is
 * made again after the backoff. Returns 0, or -1 if not connected.
 */
int
rconn_subscribe(struct rconn *rc, rconn_reply_cb *cb, void *arg, int argc,
    const char **argv)
{
	if (rc->cl != NULL)
		return rcl_subscribe(rc->cl, cb, arg, argc, argv);
	if (rc->state != RCONN_READY || rc->ac == NULL)
		return -1;
	rc->push_cb = cb;
	rc->push_arg = arg;
	if (redisAsyncCommandArgv(rc->ac, rconn_push_cb_, rc, argc, argv,
	    NULL) != REDIS_OK)
		return -1;
	return 0;
}

/* A fatal handshake problem: stop retrying and tell the owner. */
static void
rconn_fatal(struct rconn *rc, const char *what, const char *detail)
{
	snprintf(rc->last_error, sizeof rc->last_error, "%s%s", what, detail);
	rconn_event(rc, RCONN_EVENT_FATAL, rc->last_error);
	if (rc->on_fatal != NULL)
		rc->on_fatal(rc, rc->arg);
}

/*
 * A step of the handshake failed in a way that may pass (LOADING, a
 * dropped connection): tear down and try again later. Deferred through a
 * zero timer because we are inside a hiredis callback.
 */
static void
rconn_handshake_retry(struct rconn *rc, const redisReply *r)
{
	snprintf(rc->last_error, sizeof rc->last_error, "%s",
	    r != NULL && r->type == REDIS_REPLY_ERROR ? r->str :
	    "connection lost during the handshake");
	rconn_failed(rc);
	if (rc->ac != NULL)
		redisAsyncDisconnect(rc->ac);
}

static void
rconn_handshake_cb(struct rconn *rc, redisReply *r, void *arg)
{
	static const char *const steps[] = {
		"AUTH", "SELECT", "CLIENT SETNAME", "FCALL_RO redjob_version",
		"FUNCTION LOAD (the library is missing or older; only an "
		"admin user may load it)",
	};
	int step = (int)(intptr_t)arg;
	enum rfunc_class class;
	char msg[256];

	if (r == NULL) {
		rconn_handshake_retry(rc, r);
		return;
	}
	class = rfunc_classify(r);
	if (class != RFUNC_OK && rc->errors != NULL)
		rc->errors[class]++;
	if (class == RFUNC_NOPERM) {
		/* Our own setup: fatal, naming what was refused. */
		snprintf(msg, sizeof msg, "redis refused %s (see redjob "
		    "acl): ", step >= 0 &&
		    step < (int)nitems(steps) ? steps[step] : "access");
		rconn_fatal(rc, msg, r->str);
		return;
	}
	if (r->type == REDIS_REPLY_ERROR && step == 2) {
		/* An old server without CLIENT SETNAME; harmless. */
		rconn_handshake_next(rc, 3);
		return;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		if (class == RFUNC_AUTH) {
			rconn_fatal(rc, "redis refused access: ", r->str);
			return;
		}
		if (class == RFUNC_NOLIB && step == 3) {
			/* No library yet: load it. */
			rconn_handshake_next(rc, 4);
			return;
		}
		rconn_handshake_retry(rc, r);
		return;
	}
	if (step == 3) {
		switch (rfunc_version_check(r, msg, sizeof msg)) {
		case RFUNC_VERSION_OK:
			rconn_handshake_next(rc, 5);
			break;
		case RFUNC_VERSION_OLDER:
			rconn_handshake_next(rc, 4);
			break;
		case RFUNC_VERSION_REFUSED:
			rconn_fatal(rc, msg, "");
			break;
		}
		return;
	}
	rconn_handshake_next(rc, step == 4 ? 5 : step + 1);
}

/*
 * Run handshake step n: 0 AUTH, 1 SELECT, 2 CLIENT SETNAME, 3 check the
 * library version, 4 load the library, 5 ready.
 */
static void
rconn_handshake_next(struct rconn *rc, int n)
{
	const char *argv[RFUNC_FCALL_HEAD];
	size_t lens[RFUNC_FCALL_HEAD];
	char db[16];
	int argc = 0;

	switch (n) {
	case 0:
		if (rc->url.password[0] == '\0') {
			rconn_handshake_next(rc, 1);
			return;
		}
		argv[argc++] = "AUTH";
		if (rc->url.user[0] != '\0')
			argv[argc++] = rc->url.user;
		argv[argc++] = rc->url.password;
		break;
	case 1:
		if (rc->url.db == 0) {
			rconn_handshake_next(rc, 2);
			return;
		}
		snprintf(db, sizeof db, "%d", rc->url.db);
		argv[argc++] = "SELECT";
		argv[argc++] = db;
		break;
	case 2:
		argv[argc++] = "CLIENT";
		argv[argc++] = "SETNAME";
		argv[argc++] = rc->name;
		break;
	case 3:
		if (!rc->load_library) {
			rconn_handshake_next(rc, 5);
			return;
		}
		argc = rfunc_version_argv(argv, lens);
		if (rconn_command(rc, RCONN_HANDSHAKE_MS, rconn_handshake_cb,
		    (void *)(intptr_t)n, argc, argv, lens) != 0)
			rconn_handshake_retry(rc, NULL);
		return;
	case 4: {
		const char *load[RFUNC_LOAD_ARGC];
		size_t loadlen[RFUNC_LOAD_ARGC];

		argc = rfunc_load_argv(load, loadlen);
		if (rconn_command(rc, RCONN_HANDSHAKE_MS, rconn_handshake_cb,
		    (void *)(intptr_t)n, argc, load, loadlen) != 0)
			rconn_handshake_retry(rc, NULL);
		return;
	}
	default:
		rc->state = RCONN_READY;
		rconn_watch(rc);
		rconn_event(rc, RCONN_EVENT_CONNECTED, "connected");
		if (rc->on_ready != NULL)
			rc->on_ready(rc, rc->arg);
		return;
	}
	if (rconn_command(rc, RCONN_HANDSHAKE_MS, rconn_handshake_cb,
	    (void *)(intptr_t)n, argc, argv, NULL) != 0)
		rconn_handshake_retry(rc, NULL);
}

/*
 * A message of the sentinel: "+switch-master MASTER OLDIP OLDPORT NEWIP
 * NEWPORT". When our master moved, drop the connection now: the old
 * master may stay writable for a while (until the sentinels reconfigure
 * it), and what is written to it then is lost. The reconnection asks the
 * sentinels again. NULL: the subscription ended (rconn_watch_down_cb).
 */
static void
rconn_watch_msg_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct rconn *rc = ac->data;
	redisReply *r = reply;
	char name[128], ip[256], why[512];
	int port;

	(void)privdata;
	if (rc == NULL || r == NULL || r->type != REDIS_REPLY_ARRAY ||
	    r->elements != 3 || r->element[0]->type != REDIS_REPLY_STRING ||
	    strcmp(r->element[0]->str, "message") != 0 ||
	    r->element[2]->type != REDIS_REPLY_STRING)
		return;
	if (sscanf(r->element[2]->str, "%127s %*s %*s %255s %d", name, ip,
	    &port) != 3 || strcmp(name, rc->url.master) != 0)
		return;
	if (rc->ac != NULL && (strcmp(ip, rc->url.host) != 0 ||
	    port != rc->url.port)) {
		snprintf(why, sizeof why, "sentinel: master %s moved to %s:%d",
		    name, ip, port);
		rconn_drop(rc, why);
	}
}

static void
rconn_watch_down_cb(const redisAsyncContext *ac, int status)
{
	struct rconn *rc = ac->data;

	(void)status;
	if (rc == NULL)
		return;
	rc->watch = NULL;
	mtime_arm(rc->watch_ev, RCONN_WATCH_RETRY_MS);
}

static void
rconn_watch_conn_cb(const redisAsyncContext *ac, int status)
{
	struct rconn *rc = ac->data;

	if (rc == NULL || status == REDIS_OK)
		return;
	/* hiredis frees the context after this callback. */
	rc->watch = NULL;
	mtime_arm(rc->watch_ev, RCONN_WATCH_RETRY_MS);
}

static void
rconn_watch_retry_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	rconn_watch(arg);
}

/*
 * Subscribe to +switch-master on the sentinel that answered last. A
 * failure or a lost subscription is tried again after a second; between
 * them, READONLY replies and lost connections still make the connection
 * ask the sentinels again.
 */
static void
rconn_watch(struct rconn *rc)
{
	const struct url_node *s;
	redisAsyncContext *ac;

	if (!rc->url.sentinel || rc->watch != NULL)
		return;
	s = &rc->url.nodes[rc->url.node_first];
	ac = redisAsyncConnect(s->host, s->port);
	if (ac == NULL || ac->err != 0) {
		if (ac != NULL)
			redisAsyncFree(ac);
		mtime_arm(rc->watch_ev, RCONN_WATCH_RETRY_MS);
		return;
	}
	ac->data = rc;
	rc->watch = ac;
	redisLibeventAttach(ac, rc->base);
	redisAsyncSetConnectCallback(ac, rconn_watch_conn_cb);
	redisAsyncSetDisconnectCallback(ac, rconn_watch_down_cb);
	if (rc->url.sentinel_password[0] != '\0' &&
	    rc->url.sentinel_user[0] != '\0')
		redisAsyncCommand(ac, NULL, NULL, "AUTH %s %s",
		    rc->url.sentinel_user, rc->url.sentinel_password);
	else if (rc->url.sentinel_password[0] != '\0')
		redisAsyncCommand(ac, NULL, NULL, "AUTH %s",
		    rc->url.sentinel_password);
	redisAsyncCommand(ac, rconn_watch_msg_cb, NULL,
	    "SUBSCRIBE +switch-master");
}

static void
rconn_connect_cb(const redisAsyncContext *ac, int status)
{
	struct rconn *rc = ac->data;

	if (rc == NULL)
		return;
	if (status != REDIS_OK) {
		/* hiredis frees the context after this callback. */
		snprintf(rc->last_error, sizeof rc->last_error, "cannot "
		    "connect: %s", ac->errstr);
		rc->ac = NULL;
		evtimer_del(rc->deadline_ev);
		rconn_failed(rc);
		rconn_schedule(rc);
		return;
	}
	rc->state = RCONN_HANDSHAKE;
	evtimer_del(rc->deadline_ev);
	rconn_handshake_next(rc, 0);
}

static void
rconn_disconnect_cb(const redisAsyncContext *ac, int status)
{
	struct rconn *rc = ac->data;
	int was_ready;

	if (rc == NULL)
		return;	/* we freed it ourselves */
	/* hiredis frees the context after this callback. */
	was_ready = rc->state == RCONN_READY;
	rc->ac = NULL;
	evtimer_del(rc->deadline_ev);
	if (status != REDIS_OK && ac->err == REDIS_ERR_OTHER &&
	    rc->push_cb != NULL && rfunc_classify_error(ac->errstr) ==
	    RFUNC_NOPERM) {
		/*
		 * hiredis closes a subscribed context on an error reply: here
		 * the SUBSCRIBE was refused (an ACL without the command or
		 * the channels). A refusal like any other: named, counted,
		 * and tried again after the backoff.
		 */
		snprintf(rc->last_error, sizeof rc->last_error,
		    "SUBSCRIBE refused: %s", ac->errstr);
		snprintf(rc->noperm, sizeof rc->noperm, "SUBSCRIBE");
		rc->refusals++;
		rconn_condition_set(rc, RFUNC_NOPERM, "SUBSCRIBE");
		if (rc->errors != NULL)
			rc->errors[RFUNC_NOPERM]++;
		rconn_event(rc, RCONN_EVENT_NOPERM, "SUBSCRIBE");
	} else if (status != REDIS_OK) {
		snprintf(rc->last_error, sizeof rc->last_error,
		    "connection lost: %s", ac->err == REDIS_ERR_EOF ?
		    "closed by the server" : ac->errstr);
		rconn_failed(rc);
	}
	rc->state = RCONN_DOWN;
	if (was_ready && rc->on_down != NULL)
		rc->on_down(rc, rc->arg);
	rconn_schedule(rc);
}

/* Start a connection attempt; on failure, schedule another. */
static void
rconn_connect(struct rconn *rc)
{
	redisAsyncContext *ac;
	char err[1200];

	rc->state = RCONN_CONNECTING;
	/*
	 * Through sentinels: ask them which server is the master now, at
	 * every attempt, so that a failover (the old master refusing with
	 * READONLY, or gone) is followed. It blocks this process for at most
	 * a few round trips per sentinel, bounded by RCONN_SENTINEL_MS each,
	 * and only while the connection is down anyway.
	 */
	if (rc->url.sentinel && sentinel_resolve(&rc->url, RCONN_SENTINEL_MS,
	    err, sizeof err) != 0) {
		snprintf(rc->last_error, sizeof rc->last_error, "%.500s", err);
		rconn_failed(rc);
		rconn_schedule(rc);
		return;
	}
	if (rc->url.path[0] != '\0')
		ac = redisAsyncConnectUnix(rc->url.path);
	else
		ac = redisAsyncConnect(rc->url.host, rc->url.port);
	if (ac == NULL) {
		/* hiredis could not allocate: an attempt that failed. */
		snprintf(rc->last_error, sizeof rc->last_error, "cannot "
		    "connect to %.100s: out of memory",
		    rc->url.path[0] != '\0' ? rc->url.path : rc->url.host);
		rconn_failed(rc);
		rconn_schedule(rc);
		return;
	}
	if (ac->err != 0) {
		snprintf(rc->last_error, sizeof rc->last_error,
		    "cannot connect to %.100s: %.120s", rc->url.path[0] != '\0' ?
		    rc->url.path : rc->url.host, ac->errstr);
		redisAsyncFree(ac);
		rconn_failed(rc);
		rconn_schedule(rc);
		return;
	}
	ac->data = rc;
	rc->ac = ac;
	if (rc->url.path[0] == '\0')
		redisEnableKeepAlive(&ac->c);
	redisLibeventAttach(ac, rc->base);
	redisAsyncSetConnectCallback(ac, rconn_connect_cb);
	redisAsyncSetDisconnectCallback(ac, rconn_disconnect_cb);
	/* A TCP connect into a black hole would wait for the kernel's SYN
	 * retries (about two minutes); the deadline cuts it short. */
	mtime_arm(rc->deadline_ev, RCONN_HANDSHAKE_MS);
}

/*
 * Create a connection and start connecting. Returns NULL with *cause set
 * if the URL is bad.
 */
struct rconn *
rconn_create(struct event_base *base, const struct rconn_opts *o,
    char **cause)
{
	struct rconn *rc;
	char err[256];

	rc = xcalloc(1, sizeof *rc);
	if (url_parse(o->url, &rc->url, err, sizeof err) != 0) {
		*cause = xstrdup(err);
		free(rc);
		return NULL;
	}
	if (o->password != NULL)
		snprintf(rc->url.password, sizeof rc->url.password, "%s",
		    o->password);
	rc->base = base;
	rc->name = xstrdup(o->name);
	if (rc->url.cluster) {
		/* Each master gets an rconn of its own (rcluster.c). */
		rc->cl = rcl_create(base, rc, o, &rc->url);
		explicit_bzero(rc->url.password, sizeof rc->url.password);
		return rc;
	}
	rc->load_library = o->load_library;
	rc->on_ready = o->on_ready;
	rc->on_down = o->on_down;
	rc->on_fatal = o->on_fatal;
	rc->arg = o->arg;
	rc->on_event = o->on_event;
	rc->event_arg = o->event_arg;
	rc->errors = o->errors;
	TAILQ_INIT(&rc->pending);
	rc->retry_ev = evtimer_new(base, rconn_retry_cb, rc);
	rc->deadline_ev = evtimer_new(base, rconn_deadline_cb, rc);
	rc->drop_ev = evtimer_new(base, rconn_drop_cb, rc);
	rc->watch_ev = evtimer_new(base, rconn_watch_retry_cb, rc);
	rconn_connect(rc);
	return rc;
}

/* Close the connection (pending callbacks get NULL) and free it. */
void
rconn_free(struct rconn *rc)
{
	redisAsyncContext *ac;

	if (rc == NULL)
		return;
	if (rc->cl != NULL) {
		rcl_free(rc->cl);
		free(rc->name);
		free(rc);
		return;
	}
	rc->on_down = NULL;
	rc->on_ready = NULL;
	rc->on_event = NULL;
	rc->push_cb = NULL;
	if ((ac = rc->ac) != NULL) {
		rc->ac = NULL;
		rc->state = RCONN_DOWN;
		ac->data = NULL;
		redisAsyncFree(ac);
	}
	if ((ac = rc->watch) != NULL) {
		rc->watch = NULL;
		ac->data = NULL;
		redisAsyncFree(ac);
	}
	event_free(rc->watch_ev);
	event_free(rc->retry_ev);
	event_free(rc->deadline_ev);
	event_free(rc->drop_ev);
	explicit_bzero(rc->url.password, sizeof rc->url.password);
	free(rc->name);
	free(rc);
}

/*
 * The connection's socket, or -1: a process forked from the owner closes
 * it, so that Redis sees the connection end with the owner.
 */
int
rconn_fd(const struct rconn *rc)
{
	return rc != NULL && rc->ac != NULL ? rc->ac->c.fd : -1;
}

/*
 * In a process forked from the owner: close the connection's sockets (a
 * cluster's, one per master; a sentinel's subscription too), so that
 * Redis sees them end with the owner, not with the child.
 */
void
rconn_close_fds(const struct rconn *rc)
{
	int fd;

	if (rc == NULL)
		return;
	if (rc->cl != NULL) {
		rcl_close_fds(rc->cl);
		return;
	}
	if ((fd = rconn_fd(rc)) >= 0)
		close(fd);
	if (rc->watch != NULL && rc->watch->c.fd >= 0)
		close(rc->watch->c.fd);
}

/*
 * Drop the connection now and reconnect after the backoff, e.g. when a
 * blocking command outlived its watchdog. Must not be called from inside
 * one of this connection's reply callbacks.
 */
void
rconn_drop(struct rconn *rc, const char *why)
{
	if (rc->cl != NULL) {
		rcl_drop(rc->cl, why);
		return;
	}
	if (rc->ac == NULL)
		return;
	snprintf(rc->last_error, sizeof rc->last_error, "%s", why);
	rconn_failed(rc);
	rconn_teardown(rc);
}

/* Is it a Redis Cluster (redis+cluster://)? */
int
rconn_is_cluster(const struct rconn *rc)
{
	return rc->cl != NULL;
}

int
rconn_ready(const struct rconn *rc)
{
	if (rc->cl != NULL)
		return rcl_ready(rc->cl);
	return rc->state == RCONN_READY;
}

const char *
rconn_name(const struct rconn *rc)
{
	return rc->name;
}

const char *
rconn_last_error(const struct rconn *rc)
{
	if (rc->cl != NULL)
		return rcl_last_error(rc->cl);
	return rc->last_error;
}

/*
 * What keeps the connection from working now, for people ("READONLY (a
 * replica now: failover?)"), and since when (monotonic ms) in *since;
 * NULL if nothing does.
 */
const char *
rconn_condition(const struct rconn *rc, uint64_t *since)
{
	if (rc->cl != NULL)
		return rcl_condition(rc->cl, since);
	if (rc->cond == RFUNC_OK)
		return NULL;
	if (since != NULL)
		*since = rc->cond_since;
	return rc->cond_text;
}

/*
 * How long to wait before sending a refused call again: RCONN_RETRY_MS,
 * doubling with each refusal in a row up to RCONN_RETRY_MAX_MS, with
 * jitter, so a Redis that keeps refusing (BUSY, OOM, NOPERM) gets a call
 * every few seconds from each caller, not a storm.
 */
uint64_t
rconn_retry_ms(const struct rconn *rc)
{
	uint64_t ms = RCONN_RETRY_MS;
	unsigned i;

	if (rc->cl != NULL)
		return rcl_retry_ms(rc->cl);

	for (i = 1; i < rc->refusals && ms < RCONN_RETRY_MAX_MS; i++)
		ms *= 2;
	if (ms > RCONN_RETRY_MAX_MS)
		ms = RCONN_RETRY_MAX_MS;
	return ms / 2 + backoff_jitter(ms / 2);
}
