/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A worker process: one libevent loop, two Redis connections (commands,
 * and a blocking one that sleeps on the queues' wake markers), and up to
 * `concurrency` jobs running at once. It claims due jobs in batches,
 * starts their handlers, renews their leases, and acks, fails or requeues
 * each one. It never decides a job's fate by its own clock: due times,
 * leases and retries are computed by the functions with Redis's TIME.
 *
 * What it promises (docs/protocol.md): a job it holds is either finished in
 * Redis by one token-checked call, or left leased so that another worker
 * takes it after the lease; nothing a worker does can lose a job.
 */
#include "autoconf.h"

#include <sys/queue.h>
#include <sys/random.h>
#include <sys/types.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "worker.h"
#include "backoff.h"
#include "channel.h"
#include "compat.h"
#include "config.h"
#include "guard.h"
#include "handler_exec.h"
#include "handler_plugin.h"
#include "log.h"
#include "mtime.h"
#include "rconn.h"
#include "template.h"
#include "xmalloc.h"

#define WORKER_CMD_TIMEOUT_MS 10000
#define WORKER_BLOCK_MAX_MS 10000	/* keep-alive: one BZPOPMIN per 10 s */
#define WORKER_BLOCK_SLACK_MS 3000	/* watchdog beyond the block time */
#define WORKER_RETRY_MS 500		/* after a BUSY/OOM/LOADING reply */
#define WORKER_BATCH_MAX 500		/* ids per extend/ack call */
#define WORKER_EXIT_GRACE_MS 10000	/* after the handlers, to flush */
#define WORKER_KILL_GRACE_MS 5000
#define WORKER_RECHECK_MS 250		/* a busy worker's look at other queues */

enum wjob_state {
	WJOB_NEW,		/* just claimed */
	WJOB_QUEUED,		/* claimed ahead, waiting for a slot */
	WJOB_GUARD,		/* taking its limiters and lock */
	WJOB_RUNNING,		/* handler running */
	WJOB_ACK,		/* done; ack queued or in flight */
	WJOB_FAIL,		/* failed; fail queued or in flight */
	WJOB_REQUEUE,		/* back to the queue, no attempt spent */
	WJOB_DISCARD,		/* dropped (lock conflict, on_conflict discard) */
};

struct wqueue;

struct wjob {
	TAILQ_ENTRY(wjob)	 entry;
	struct worker		*w;
	struct wqueue		*q;
	char			*id;
	char			*type;
	char			*token;
	char			*key;
	char			*payload;
	size_t			 payload_len;
	unsigned		 attempts;	/* failures so far */
	unsigned		 max_attempts;	/* 0: the job type's */
	const struct job_conf	*jc;
	struct handler_exec	*h;		/* exec handler running */
	struct handler_plugin_call *pc;		/* plugin call running */
	enum wjob_state		 state;
	int			 inflight;	/* a finishing call is out */
	int			 lease_lost;
	int			 dead;		/* fail straight to dead */
	char			*error;		/* for fail */
	uint64_t		 retry_ms;	/* for fail */
	int			 slot;		/* holds one of the slots */
	int			 pc_used;	/* ran a plugin */
	unsigned		 errors;	/* refusals in a row, see below */
	const char		*requeue_reason; /* for requeue */
	uint64_t		 requeue_ms;

	/* Guards, taken in order: limiters, then the lock. */
	size_t			 gstep;		/* next limiter to ask */
	char		       **limit_keys;	/* one per jc->limits */
	size_t			 nheld;		/* limits[0..nheld) allowed */
	char			*member;	/* "ID:TOKEN", unique */
	char			*lock_key;
	char			 lock_token[40];
	char			*fence;
	int			 lock_held;
	int			 lock_lost;
	uint64_t		 lock_valid_until; /* monotonic ms */
};

TAILQ_HEAD(wjob_list, wjob);

struct wqueue {
	char		*name;
	char		*base;		/* NS:{QUEUE} */
	char		*wake_key;	/* NS:{QUEUE}:wake */
	int		 weight;
	int		 current;	/* smooth weighted round robin */
	uint64_t	 due_at;	/* monotonic ms when work may be due */
	uint64_t	 checked_at;	/* last claim from it */
	int		 acking;	/* an ack call is in flight */
};

struct worker {
	const struct config	*cfg;
	int			 index;
	unsigned		 generation;
	char			 name[128];
	int			 chan_fd;
	struct event_base	*base;
	struct rconn		*cmd;
	struct rconn		*wake;
	struct wqueue		*queues;
	size_t			 nqueues;
	struct wjob_list	 jobs;
	struct handler_plugin_pool *pool;	/* NULL: no plugin jobs */
	handler_plugin_fn	**plugin_fns;	/* per cfg->jobs; NULL: failed */
	char			**plugin_errs;	/* why, when NULL */
	unsigned		 running;	/* jobs started: the slots */
	unsigned		 queued;	/* claimed ahead, not started */
	double			 avg_ms;	/* recent handler run time */
	struct log_ratelimit	 claim_errors;
	int			 have_avg;
	unsigned		 held;		/* jobs not yet finished in Redis */
	int			 claiming;
	int			 sleeping;
	int			 ready_sent;
	int			 draining;
	int			 exit_status;
	uint64_t		 retry_at;	/* no claim before (after BUSY) */
	uint64_t		 renew_ms;	/* lease and lock renewal period */

	struct event		*kick_ev;
	struct event		*due_ev;	/* the earliest known due time */
	struct event		*retry_ev;
	struct event		*renew_ev;
	struct event		*hb_ev;
	struct event		*chan_ev;
	struct event		*drain_ev;
	struct event		*exit_ev;
	struct event		*sigterm_ev;
	struct event		*sigint_ev;

	unsigned long long	 done;
	unsigned long long	 failed;
	unsigned long long	 retried;
};

static void	worker_kick(struct worker *);
static void	worker_check_exit(struct worker *);

/* A fresh claim token: 128 random bits in hex. */
static void
worker_token(char *buf, size_t len)
{
	unsigned char r[16];
	size_t i;

	if (getrandom(r, sizeof r, 0) != sizeof r)
		fatal("getrandom");
	for (i = 0; i < sizeof r && 2 * i + 2 < len; i++)
		snprintf(buf + 2 * i, 3, "%02x", r[i]);
}

static void
wjob_free(struct wjob *j)
{
	free(j->id);
	free(j->type);
	free(j->token);
	free(j->key);
	free(j->payload);
	free(j->error);
	if (j->limit_keys != NULL) {
		size_t i;

		for (i = 0; j->jc != NULL && i < j->jc->nlimits; i++)
			free(j->limit_keys[i]);
		free(j->limit_keys);
	}
	free(j->member);
	free(j->lock_key);
	free(j->fence);
	free(j);
}

/* Stop a job's handler, exec or plugin; its callback follows. */
static void
worker_stop_handler(struct wjob *j)
{
	if (j->h != NULL)
		handler_exec_stop(j->h);
	else if (j->pc != NULL)
		handler_plugin_stop(j->pc);
}

/* Free a job's slot, once. */
static void
worker_slot_release(struct worker *w, struct wjob *j)
{
	if (j->slot) {
		j->slot = 0;
		w->running--;
	}
}

/* Send a guard call whose answer nobody waits for. */
static void
worker_guard_send(struct worker *w, struct guard_call *c)
{
	if (c->fn != NULL)
		rconn_fcall(w->cmd, WORKER_CMD_TIMEOUT_MS, NULL, NULL, c->fn,
		    c->key, c->argc, c->argv, NULL);
	guard_call_clear(c);
}

/*
 * Give back what the job's limiters granted: all of it (undo) when the
 * job did not run, or only the concurrency slots (release) when it did.
 * Lost replies are harmless: slots expire with their lease.
 */
static void
worker_release_limits(struct worker *w, struct wjob *j, int undo)
{
	struct guard_call c;
	size_t i;

	for (i = 0; i < j->nheld; i++) {
		if (!undo && j->jc->limits[i]->kind != LIMITER_CONCURRENCY)
			continue;
		guard_limit_undo(&c, j->limit_keys[i], j->jc->limits[i],
		    j->member);
		worker_guard_send(w, &c);
	}
	j->nheld = 0;
}

/* Release the job's lock (compare-and-delete: only if still ours). */
static void
worker_release_lock(struct worker *w, struct wjob *j)
{
	const char *argv[1];

	if (!j->lock_held)
		return;
	j->lock_held = 0;
	argv[0] = j->lock_token;
	rconn_fcall(w->cmd, WORKER_CMD_TIMEOUT_MS, NULL, NULL,
	    "redjob_lock_release", j->lock_key, 1, argv, NULL);
}

/* Forget a job: it is finished in Redis, or no longer ours. */
static void
worker_forget(struct worker *w, struct wjob *j)
{
	if (j->state == WJOB_QUEUED)
		w->queued--;
	worker_slot_release(w, j);
	worker_release_lock(w, j);
	worker_release_limits(w, j, 0);
	TAILQ_REMOVE(&w->jobs, j, entry);
	w->held--;
	wjob_free(j);
	worker_check_exit(w);
}

/* ---------------------------------------------------------------------
 * Finishing jobs in Redis: ack (batched per queue), fail, requeue.
 */

static void	worker_flush(struct worker *);
static void	worker_guard(struct worker *, struct wjob *);
static void	worker_send_discard(struct worker *, struct wjob *);
static void	worker_renew_guards(struct worker *);
static int	worker_give_up(struct wjob *, const char *, const char *,
		    enum rconn_class);
static void	worker_handler_done_cb(const struct handler_result *, void *);

/*
 * The reply to one ack call covering the in-flight ACK jobs of queue q, in
 * the order they were sent. 1: finished. 0: the token was refused (the
 * job was taken over after our lease ran out, or removed by an operator,
 * or our earlier ack landed and its reply was lost): nothing to do either
 * way. No reply: resend when the connection is back; a resent ack whose
 * first copy landed answers 0, which is harmless.
 */
struct ack_batch {
	struct worker	*w;
	struct wqueue	*q;
	struct wjob    **jobs;
	size_t		 n;
};

static void
worker_acked_cb(struct rconn *rc, redisReply *r, void *arg)
{
	struct ack_batch *b = arg;
	struct worker *w = b->w;
	enum rconn_class class = rconn_classify(r);
	size_t i;

	(void)rc;
	b->q->acking = 0;
	for (i = 0; i < b->n; i++) {
		struct wjob *j = b->jobs[i];

		j->inflight = 0;
		if (class == RCONN_OTHER &&
		    worker_give_up(j, "ack", r->str, class))
			continue;
		if (class != RCONN_OK)
			continue;	/* stays queued: resent later */
		if (r->type == REDIS_REPLY_ARRAY && i < r->elements &&
		    r->element[i]->integer == 0)
			log_warnx("job %s: ack refused: the lease was lost "
			    "(the job may run again elsewhere)", j->id);
		else
			w->done++;
		worker_forget(w, j);
	}
	if (class == RCONN_BUSY || class == RCONN_OTHER) {
		log_warnx("ack on queue %s failed: %s; retrying", b->q->name,
		    r->str);
		mtime_arm(w->retry_ev, WORKER_RETRY_MS);
	}
	free(b->jobs);
	free(b);
	worker_flush(w);
}

/* Send one ack call for the queued ACK jobs of q. */
static void
worker_send_acks(struct worker *w, struct wqueue *q)
{
	struct ack_batch *b;
	struct wjob *j;
	const char **argv;
	size_t n = 0, i = 0;

	if (q->acking)
		return;
	TAILQ_FOREACH(j, &w->jobs, entry) {
		if (j->q == q && j->state == WJOB_ACK && !j->inflight)
			n++;
	}
	if (n == 0)
		return;
	if (n > WORKER_BATCH_MAX)
		n = WORKER_BATCH_MAX;
	b = xcalloc(1, sizeof *b);
	b->w = w;
	b->q = q;
	b->jobs = xcalloc(n, sizeof *b->jobs);
	argv = xcalloc(2 * n, sizeof *argv);
	TAILQ_FOREACH(j, &w->jobs, entry) {
		if (i == n)
			break;
		if (j->q != q || j->state != WJOB_ACK || j->inflight)
			continue;
		b->jobs[i] = j;
		argv[2 * i] = j->id;
		argv[2 * i + 1] = j->token;
		i++;
	}
	b->n = n;
	if (rconn_fcall(w->cmd, WORKER_CMD_TIMEOUT_MS, worker_acked_cb, b,
	    "redjob_ack", q->base, (int)(2 * n), argv, NULL) == 0) {
		q->acking = 1;
		for (i = 0; i < n; i++)
			b->jobs[i]->inflight = 1;
	} else {
		free(b->jobs);
		free(b);
	}
	free(argv);
}

/*
 * A call about a job was refused for a reason that is not a passing
 * state of Redis (NOPERM, a schema mismatch, an unknown reply: not BUSY,
 * OOM, LOADING) ten times in a row: stop trying, forget the job and stop
 * renewing its lease, so that it comes back by its lease instead of
 * holding a slot for ever. Returns 1 if the job was forgotten.
 */
static int
worker_give_up(struct wjob *j, const char *what, const char *why,
    enum rconn_class class)
{
	struct worker *w = j->w;

	if (class != RCONN_OTHER || ++j->errors < 10)
		return 0;
	log_errx("job %s: %s refused 10 times (%s); giving up on it, its "
	    "lease will return it", j->id, what, why);
	worker_release_limits(w, j, j->state == WJOB_GUARD);
	worker_forget(w, j);
	worker_kick(w);
	return 1;
}

/*
 * The common start of the replies to fail, requeue and discard. No reply:
 * the job stays queued and is sent again when the connection is back (a
 * repeat of a call that did land is refused by its token, harmlessly).
 * An error reply (BUSY, OOM, LOADING...): logged, tried again later.
 * Returns 1 when the caller should go on with the reply.
 */
static int
worker_finish_reply(struct wjob *j, redisReply *r, const char *what)
{
	enum rconn_class class = rconn_classify(r);

	j->inflight = 0;
	if (class == RCONN_CONN)
		return 0;
	if (class == RCONN_BUSY || class == RCONN_OTHER) {
		if (worker_give_up(j, what, r->str, class))
			return 0;
		log_warnx("job %s: %s failed: %s; retrying", j->id, what, r->str);
		mtime_arm(j->w->retry_ev, WORKER_RETRY_MS);
		return 0;
	}
	j->errors = 0;
	return 1;
}

static void
worker_failed_cb(struct rconn *rc, redisReply *r, void *arg)
{
	struct wjob *j = arg;
	struct worker *w = j->w;

	(void)rc;
	if (!worker_finish_reply(j, r, "recording the failure"))
		return;
	switch (rconn_classify(r)) {
	case RCONN_STALE:
		log_warnx("job %s: failure not recorded: the lease was lost "
		    "(the job may run again elsewhere)", j->id);
		break;
	default:
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
		    strcmp(r->element[0]->str, "dead") == 0)
			log_warnx("job %s queue=%s: dead after %s attempts",
			    j->id, j->q->name, r->element[2]->str);
		else if (r->type == REDIS_REPLY_ARRAY && r->elements == 3) {
			char buf[64];

			w->retried++;
			log_info("job %s queue=%s: attempt %s failed, retry "
			    "in %s", j->id, j->q->name, r->element[2]->str,
			    duration_format(j->retry_ms, buf, sizeof buf));
		}
		break;
	}
	worker_forget(w, j);
}

static void
worker_send_fail(struct worker *w, struct wjob *j)
{
	char delay[24], max[24];
	const char *argv[6];
	int argc = 5;

	snprintf(delay, sizeof delay, "%llu", (unsigned long long)j->retry_ms);
	snprintf(max, sizeof max, "%u", j->jc != NULL ?
	    j->jc->retry.max_attempts : 1);
	argv[0] = j->id;
	argv[1] = j->token;
	argv[2] = j->error != NULL ? j->error : "";
	argv[3] = delay;
	argv[4] = max;
	if (j->dead)
		argv[argc++] = "dead";
	if (rconn_fcall(w->cmd, WORKER_CMD_TIMEOUT_MS, worker_failed_cb, j,
	    "redjob_fail", j->q->base, argc, argv, NULL) == 0)
		j->inflight = 1;
}

static void
worker_requeued_cb(struct rconn *rc, redisReply *r, void *arg)
{
	struct wjob *j = arg;
	struct worker *w = j->w;

	(void)rc;
	if (!worker_finish_reply(j, r, "requeue"))
		return;
	if (strcmp(j->requeue_reason, "shutdown") == 0)
		log_info("job %s queue=%s: put back in the queue", j->id,
		    j->q->name);
	else {
		char buf[64];

		log_info("job %s queue=%s: %s, again in %s", j->id, j->q->name,
		    strcmp(j->requeue_reason, "throttled") == 0 ? "throttled" :
		    "its lock is taken", duration_format(j->requeue_ms, buf,
		    sizeof buf));
	}
	worker_forget(w, j);
}

static void
worker_send_requeue(struct worker *w, struct wjob *j)
{
	char delay[24];
	const char *argv[4] = { delay, j->requeue_reason, j->id, j->token };

	snprintf(delay, sizeof delay, "%llu",
	    (unsigned long long)j->requeue_ms);

	if (rconn_fcall(w->cmd, WORKER_CMD_TIMEOUT_MS, worker_requeued_cb, j,
	    "redjob_requeue", j->q->base, 4, argv, NULL) == 0)
		j->inflight = 1;
}

/* Send every finishing call that is queued and not in flight. */
static void
worker_flush(struct worker *w)
{
	struct wjob *j, *t;
	size_t i;

	if (!rconn_ready(w->cmd))
		return;
	for (i = 0; i < w->nqueues; i++)
		worker_send_acks(w, &w->queues[i]);
	TAILQ_FOREACH_SAFE(j, &w->jobs, entry, t) {
		if (j->inflight)
			continue;
		if (j->state == WJOB_FAIL)
			worker_send_fail(w, j);
		else if (j->state == WJOB_REQUEUE)
			worker_send_requeue(w, j);
		else if (j->state == WJOB_DISCARD)
			worker_send_discard(w, j);
		else if (j->state == WJOB_GUARD)
			worker_guard(w, j);
	}
}

/* ---------------------------------------------------------------------
 * Handlers.
 */

/* Build the handler's environment: scrubbed, REDJOB_*, then env:. */
static char **
worker_env(const struct wjob *j)
{
	const struct job_conf *jc = j->jc;
	char **env;
	size_t n = 0, i;

	env = xcalloc(12 + jc->nenv, sizeof *env);
	/* A PATH of the job's env: replaces this default. */
	for (i = 0; i < jc->nenv && strcmp(jc->env[i].name, "PATH") != 0; i++)
		;
	if (i == jc->nenv)
		xasprintf(&env[n++], "PATH=/usr/local/bin:/usr/bin:/bin");
	xasprintf(&env[n++], "REDJOB_JOB_ID=%s", j->id);
	xasprintf(&env[n++], "REDJOB_JOB_TYPE=%s", j->type);
	xasprintf(&env[n++], "REDJOB_QUEUE=%s", j->q->name);
	xasprintf(&env[n++], "REDJOB_ATTEMPT=%u", j->attempts + 1);
	xasprintf(&env[n++], "REDJOB_MAX_ATTEMPTS=%u", j->max_attempts != 0 ?
	    j->max_attempts : jc->retry.max_attempts);
	xasprintf(&env[n++], "REDJOB_KEY=%s", j->key != NULL ? j->key : "");
	if (j->fence != NULL)
		xasprintf(&env[n++], "REDJOB_FENCE=%s", j->fence);
	for (i = 0; i < jc->nenv; i++)
		xasprintf(&env[n++], "%s=%s", jc->env[i].name,
		    jc->env[i].value);
	env[n] = NULL;
	return env;
}

static void
worker_env_free(char **env)
{
	size_t i;

	for (i = 0; env[i] != NULL; i++)
		free(env[i]);
	free(env);
}

/* Record a failed attempt: retried with backoff, or dead if permanent. */
static void
worker_fail(struct worker *w, struct wjob *j, int dead, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void
worker_fail(struct worker *w, struct wjob *j, int dead, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	size_t n;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		fatalx("out of memory");
	va_end(ap);
	/* The stderr tail usually ends with a newline; the message does not. */
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	w->failed++;
	worker_slot_release(w, j);
	j->state = WJOB_FAIL;
	j->dead = dead;
	j->error = msg;
	j->retry_ms = j->jc != NULL ? backoff_delay(&j->jc->retry,
	    j->attempts + 1, backoff_random()) : 0;
	log_warnx("job %s queue=%s type=%s: %.*s", j->id, j->q->name, j->type,
	    (int)strcspn(msg, "\n"), msg);
	worker_flush(w);
}

static void
worker_handler_done_cb(const struct handler_result *res, void *arg)
{
	struct wjob *j = arg;
	struct worker *w = j->w;
	const char *tail = res->stderr_len > 0 ? res->stderr_tail : "";
	char dur[64];

	if (j->h != NULL)
		channel_send(w->chan_fd, "PG- %ld", (long)handler_exec_pid(j->h));
	j->h = NULL;
	j->pc = NULL;
	worker_slot_release(w, j);
	w->avg_ms = w->have_avg ? (7 * w->avg_ms + res->duration_ms) / 8 :
	    res->duration_ms;
	w->have_avg = 1;
	if (j->lease_lost) {
		/* Another worker holds it now: nothing is ours to record. */
		worker_forget(w, j);
		worker_kick(w);
		return;
	}
	if (j->lock_lost && !(res->outcome == HANDLER_EXITED &&
	    res->status == 0)) {
		/* Two handlers must never believe they hold one lock. */
		worker_fail(w, j, 0, "lock lost: %s was taken from this job "
		    "while its handler ran (it expired or was deleted)",
		    j->lock_key);
		worker_kick(w);
		return;
	}
	switch (res->outcome) {
	case HANDLER_EXITED:
		if (res->status == 0) {
			/* Per-job success is debug: at 50,000 jobs a second
			 * a line each would cost more than the jobs. */
			log_debug("job %s queue=%s type=%s: done in %s", j->id,
			    j->q->name, j->type, duration_format(
			    res->duration_ms, dur, sizeof dur));
			j->state = WJOB_ACK;
			worker_flush(w);
		} else if (res->status == EX_DATAERR)
			worker_fail(w, j, 1, "permanent failure (%s 65)%s%s",
			    j->pc_used ? "returned" : "exit",
			    *tail != '\0' ? ": " : "", tail);
		else
			worker_fail(w, j, 0, "%s %d%s%s", j->pc_used ?
			    "returned" : "exit", res->status,
			    *tail != '\0' ? ": " : "", tail);
		break;
	case HANDLER_SIGNALED:
		worker_fail(w, j, 0, "killed by signal %d (%s)%s%s",
		    res->status, strsignal(res->status),
		    *tail != '\0' ? ": " : "", tail);
		break;
	case HANDLER_TIMEOUT:
		worker_fail(w, j, 0, "timed out after %s%s%s",
		    duration_format(j->jc->timeout_ms, dur, sizeof dur),
		    *tail != '\0' ? ": " : "", tail);
		break;
	case HANDLER_STOPPED:
		/* Stopped by shutdown: back to the queue at once. */
		j->state = WJOB_REQUEUE;
		j->requeue_reason = "shutdown";
		j->requeue_ms = 0;
		worker_flush(w);
		break;
	case HANDLER_EXEC_FAILED:
		worker_fail(w, j, 0, "%s", tail);
		break;
	}
	worker_kick(w);
}

/* Run a plugin job on the worker's thread pool. */
static void
worker_run_plugin(struct worker *w, struct wjob *j)
{
	struct redjob_plugin_job pj;
	size_t k = (size_t)(j->jc - w->cfg->jobs);

	if (w->plugin_fns[k] == NULL) {
		worker_fail(w, j, 0, "%s", w->plugin_errs[k]);
		return;
	}
	memset(&pj, 0, sizeof pj);
	pj.abi = REDJOB_PLUGIN_ABI;
	pj.id = j->id;
	pj.type = j->type;
	pj.queue = j->q->name;
	pj.key = j->key != NULL ? j->key : "";
	pj.payload = j->payload;
	pj.payload_len = j->payload_len;
	pj.attempt = j->attempts + 1;
	pj.max_attempts = j->max_attempts != 0 ? j->max_attempts :
	    j->jc->retry.max_attempts;
	pj.fence = j->fence != NULL ? strtoull(j->fence, NULL, 10) : 0;
	j->pc_used = 1;
	j->pc = handler_plugin_start(w->pool, w->plugin_fns[k], &pj,
	    j->jc->timeout_ms, worker_handler_done_cb, j);
}

/* Start the handler of a job whose guards are taken. */
static void
worker_run(struct worker *w, struct wjob *j)
{
	struct handler_exec_spec spec;
	char **env, *cause = NULL;

	j->state = WJOB_RUNNING;
	if (j->jc->exec == NULL) {
		worker_run_plugin(w, j);
		return;
	}
	memset(&spec, 0, sizeof spec);
	env = worker_env(j);
	spec.argv = j->jc->exec;
	spec.envp = env;
	spec.cwd = j->jc->cwd;
	spec.stdin_data = j->payload;
	spec.stdin_len = j->payload_len;
	spec.timeout_ms = j->jc->timeout_ms;
	spec.kill_grace_ms = WORKER_KILL_GRACE_MS;
	spec.log_id = j->id;
	j->h = handler_exec_start(w->base, &spec, worker_handler_done_cb, j,
	    &cause);
	worker_env_free(env);
	if (j->h == NULL) {
		worker_fail(w, j, 0, "cannot start the handler: %s", cause);
		free(cause);
		return;
	}
	channel_send(w->chan_fd, "PG+ %ld", (long)handler_exec_pid(j->h));
	log_debug("job %s queue=%s type=%s: started (attempt %u)", j->id,
	    j->q->name, j->type, j->attempts + 1);
}

static void
worker_discarded_cb(struct rconn *rc, redisReply *r, void *arg)
{
	struct wjob *j = arg;
	struct worker *w = j->w;

	(void)rc;
	if (!worker_finish_reply(j, r, "discard"))
		return;
	log_warnx("job %s queue=%s type=%s: discarded: its lock %s is taken "
	    "(on_conflict: discard)", j->id, j->q->name, j->type, j->lock_key);
	worker_forget(w, j);
}

static void
worker_send_discard(struct worker *w, struct wjob *j)
{
	const char *argv[3] = { j->id, j->token, "lock conflict" };

	if (rconn_fcall(w->cmd, WORKER_CMD_TIMEOUT_MS, worker_discarded_cb, j,
	    "redjob_discard", j->q->base, 3, argv, NULL) == 0)
		j->inflight = 1;
}

/* Put a job back without spending an attempt: throttled or conflict. */
static void
worker_requeue(struct worker *w, struct wjob *j, const char *reason,
    uint64_t delay_ms)
{
	worker_release_limits(w, j, 1);
	worker_slot_release(w, j);
	j->state = WJOB_REQUEUE;
	j->requeue_reason = reason;
	j->requeue_ms = delay_ms;
	worker_flush(w);
	worker_kick(w);
}

/* A random delay in [0, ms]. */
static uint64_t
worker_jitter(uint64_t ms)
{
	return ms > 0 ? backoff_random() % (ms + 1) : 0;
}

/* The lock is held by another job: apply the job's on_conflict policy. */
static void
worker_conflict(struct worker *w, struct wjob *j, long long pttl)
{
	const struct lock_conf *lk = &j->jc->lock;
	uint64_t delay;

	switch (lk->on_conflict) {
	case CONFLICT_FAIL:
		worker_release_limits(w, j, 1);
		worker_fail(w, j, 0, "lock %s is taken by another job",
		    j->lock_key);
		break;
	case CONFLICT_DISCARD:
		worker_release_limits(w, j, 1);
		worker_slot_release(w, j);
		j->state = WJOB_DISCARD;
		worker_flush(w);
		worker_kick(w);
		break;
	case CONFLICT_REQUEUE:
		/*
		 * Come back when the holder is likely done: the configured
		 * delay, else a quarter of the ttl, but no later than the
		 * lock's own expiry; jittered so that many waiting jobs do
		 * not all return at once.
		 */
		delay = lk->requeue_delay_ms;
		if (delay == 0) {
			delay = lk->ttl_ms / 4;
			if (pttl >= 0 && (uint64_t)pttl < delay)
				delay = (uint64_t)pttl;
			if (delay < 10)
				delay = 10;
		}
		worker_requeue(w, j, "conflict", delay + worker_jitter(delay / 2));
		break;
	}
}

static void
worker_guard_cb(struct rconn *rc, redisReply *r, void *arg)
{
	struct wjob *j = arg;
	struct worker *w = j->w;
	const struct limiter_conf *l;
	struct guard_answer a;
	uint64_t delay, step;

	(void)rc;
	j->inflight = 0;
	if (j->lease_lost) {
		/*
		 * Reclaimed or removed while we took its guards: not ours to
		 * run. Give back what this answer granted too.
		 */
		if (r != NULL && r->type == REDIS_REPLY_ARRAY) {
			if (j->gstep < j->jc->nlimits &&
			    guard_parse_answer(r, &a) == 0 && !a.limited)
				j->nheld = j->gstep + 1;
			else if (j->gstep >= j->jc->nlimits &&
			    r->elements == 2 && r->element[0]->integer == 1)
				j->lock_held = 1;
		}
		worker_release_limits(w, j, 1);
		worker_forget(w, j);
		worker_kick(w);
		return;
	}
	switch (rconn_classify(r)) {
	case RCONN_CONN:
		/* Asked again when the connection is back (worker_flush). */
		return;
	case RCONN_OK:
		break;
	default:
		if (worker_give_up(j, "a guard call", r->str,
		    rconn_classify(r)))
			return;
		log_warnx("job %s: guard call failed: %s; retrying", j->id,
		    r->str);
		mtime_arm(w->retry_ev, WORKER_RETRY_MS);
		return;
	}
	if (j->gstep < j->jc->nlimits) {
		l = j->jc->limits[j->gstep];
		if (guard_parse_answer(r, &a) != 0) {
			log_warnx("job %s: limiter %s gave an unexpected reply",
			    j->id, l->name);
			mtime_arm(w->retry_ev, WORKER_RETRY_MS);
			return;
		}
		if (!a.limited) {
			j->nheld = ++j->gstep;
			worker_guard(w, j);
			return;
		}
		if (a.retry_after_ms < 0) {
			worker_release_limits(w, j, 1);
			worker_fail(w, j, 1, "limiter %s can never admit this "
			    "job", l->name);
			return;
		}
		/*
		 * Throttled: back into the delayed queue at the time the
		 * limiter names, spread by its interval so that the jobs
		 * throttled together do not all come back at one instant.
		 */
		step = guard_interval_ms(l);
		delay = (uint64_t)a.retry_after_ms + worker_jitter(step);
		worker_requeue(w, j, "throttled", delay);
		return;
	}
	/* The lock: {1, fence} or {0, pttl}. */
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
		log_warnx("job %s: lock %s: unexpected reply", j->id, j->lock_key);
		mtime_arm(w->retry_ev, WORKER_RETRY_MS);
		return;
	}
	if (r->element[0]->integer == 1) {
		j->lock_held = 1;
		j->lock_valid_until = mtime_now() + j->jc->lock.ttl_ms -
		    j->jc->lock.ttl_ms / 10;
		free(j->fence);
		if (r->element[1]->type == REDIS_REPLY_STRING)
			j->fence = xstrdup(r->element[1]->str);
		else
			xasprintf(&j->fence, "%lld", r->element[1]->integer);
		worker_run(w, j);
		return;
	}
	worker_conflict(w, j, r->element[1]->type == REDIS_REPLY_INTEGER ?
	    r->element[1]->integer : strtoll(r->element[1]->str, NULL, 10));
}

/*
 * Take the job's next guard: each limiter in order, then its lock; run
 * the handler when all are taken. One call at a time per job: a limiter
 * that refuses must not have been asked after the ones before it
 * refunded.
 */
static void
worker_guard(struct worker *w, struct wjob *j)
{
	const struct job_conf *jc = j->jc;
	struct guard_call c;
	char ttl[24];
	const char *argv[2];

	if (j->inflight || !rconn_ready(w->cmd))
		return;
	if (j->gstep < jc->nlimits) {
		guard_limit_acquire(&c, j->limit_keys[j->gstep],
		    jc->limits[j->gstep], j->member, 1);
		if (rconn_fcall(w->cmd, WORKER_CMD_TIMEOUT_MS, worker_guard_cb,
		    j, c.fn, c.key, c.argc, c.argv, NULL) == 0)
			j->inflight = 1;
		guard_call_clear(&c);
		return;
	}
	if (jc->lock.key == NULL) {
		worker_run(w, j);
		return;
	}
	snprintf(ttl, sizeof ttl, "%llu", (unsigned long long)jc->lock.ttl_ms);
	argv[0] = j->lock_token;
	argv[1] = ttl;
	if (rconn_fcall(w->cmd, WORKER_CMD_TIMEOUT_MS, worker_guard_cb, j,
	    "redjob_lock_acquire", j->lock_key, 2, argv, NULL) == 0)
		j->inflight = 1;
}

/* Start a claimed job: find its type, take its guards, run it. */
static void
worker_start(struct worker *w, struct wjob *j)
{
	const struct job_conf *jc;
	struct template_vars v;
	size_t i;

	j->jc = jc = config_find_job(w->cfg, j->type);
	if (jc == NULL) {
		worker_fail(w, j, 1, "unknown job type \"%s\": no such job in "
		    "%s", j->type, w->cfg->path);
		return;
	}
	if (jc->nlimits == 0 && jc->lock.key == NULL) {
		worker_run(w, j);
		return;
	}
	v.key = j->key;
	v.type = j->type;
	v.queue = j->q->name;
	v.id = j->id;
	xasprintf(&j->member, "%s:%s", j->id, j->token);
	if (jc->nlimits > 0) {
		j->limit_keys = xcalloc(jc->nlimits, sizeof *j->limit_keys);
		for (i = 0; i < jc->nlimits; i++)
			j->limit_keys[i] = guard_limit_key(w->cfg->namespace,
			    jc->limits[i], &v);
	}
	if (jc->lock.key != NULL) {
		j->lock_key = guard_lock_key(w->cfg->namespace, &jc->lock, &v);
		worker_token(j->lock_token, sizeof j->lock_token);
	}
	j->state = WJOB_GUARD;
	worker_guard(w, j);
}

/* ---------------------------------------------------------------------
 * Claiming and sleeping.
 */

/* Copy a reply string; NULL if it is not one. */
static char *
worker_str(const redisReply *r, size_t *len)
{
	if (r->type != REDIS_REPLY_STRING)
		return NULL;
	if (len != NULL)
		*len = r->len;
	return xmemdup(r->str, r->len);
}

static unsigned
worker_uint(const redisReply *r)
{
	unsigned long v;

	if (r->type == REDIS_REPLY_INTEGER)
		return r->integer < 0 ? 0 : (unsigned)r->integer;
	if (r->type != REDIS_REPLY_STRING)
		return 0;
	v = strtoul(r->str, NULL, 10);
	return v > UINT_MAX ? UINT_MAX : (unsigned)v;
}

struct claim_call {
	struct worker	*w;
	struct wqueue	*q;
	unsigned	 asked;
	char		 token[40];
};

/*
 * The claim reply: {now, next_wake, job...}. Each job is {id, type,
 * payload, key, attempts, max_attempts, stalls, due}.
 */
static void
worker_claimed_cb(struct rconn *rc, redisReply *r, void *arg)
{
	struct claim_call *c = arg;
	struct worker *w = c->w;
	struct wqueue *q = c->q;
	long long now, next;
	size_t i, got = 0;
	unsigned n;

	(void)rc;
	w->claiming = 0;
	switch (rconn_classify(r)) {
	case RCONN_CONN:
		/*
		 * The call may have run: any job it leased to our token
		 * comes back after the lease, as a stall.
		 */
		free(c);
		worker_check_exit(w);
		return;
	case RCONN_OK:
		break;
	default:
		/*
		 * OOM, LOADING, BUSY...: retried every 500 ms, so say it at
		 * once, then once a second with a count, then once when
		 * claims work again.
		 */
		log_ratelimit(&w->claim_errors, LOG_LEVEL_WARNING,
		    "claim on queue %s: %s", q->name, r->str);
		w->retry_at = mtime_now() + WORKER_RETRY_MS;
		mtime_arm(w->retry_ev, WORKER_RETRY_MS);
		free(c);
		worker_check_exit(w);
		return;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 2) {
		log_warnx("claim on queue %s: unexpected reply", q->name);
		free(c);
		worker_check_exit(w);
		return;
	}
	if ((n = log_ratelimit_end(&w->claim_errors)) > 0)
		log_info("claims work again after %u failure%s", n,
		    n == 1 ? "" : "s");
	now = strtoll(r->element[0]->str, NULL, 10);
	next = strtoll(r->element[1]->str, NULL, 10);
	for (i = 2; i < r->elements; i++) {
		redisReply *e = r->element[i];
		struct wjob *j;

		got++;
		j = xcalloc(1, sizeof *j);
		j->w = w;
		j->q = q;
		j->token = xstrdup(c->token);
		TAILQ_INSERT_TAIL(&w->jobs, j, entry);
		w->held++;
		if (e->type != REDIS_REPLY_ARRAY || e->elements < 8 ||
		    (j->id = worker_str(e->element[0], NULL)) == NULL) {
			log_warnx("claim on queue %s: malformed job entry "
			    "(left to its lease)", q->name);
			worker_forget(w, j);
			continue;
		}
		j->type = worker_str(e->element[1], NULL);
		j->payload = worker_str(e->element[2], &j->payload_len);
		j->key = worker_str(e->element[3], NULL);
		if (j->key != NULL && *j->key == '\0') {
			free(j->key);
			j->key = NULL;
		}
		j->attempts = worker_uint(e->element[4]);
		j->max_attempts = worker_uint(e->element[5]);
		if (j->type == NULL || j->payload == NULL) {
			j->type = j->type != NULL ? j->type : xstrdup("?");
			worker_fail(w, j, 1, "malformed job: its type or payload "
			    "is missing or not a string");
			continue;
		}
		if (w->draining) {
			/* Claimed as the drain began: straight back. */
			j->state = WJOB_REQUEUE;
			j->requeue_reason = "shutdown";
			j->requeue_ms = 0;
			continue;
		}
		j->state = WJOB_QUEUED;
		w->queued++;
	}
	/*
	 * Fewer than asked: the queue has nothing more due now. Sleep on it
	 * until its next due time or lease expiry (server time, applied as
	 * a delay so our clock's offset does not matter).
	 */
	if (got < c->asked) {
		if (next < 0)
			q->due_at = UINT64_MAX;
		else
			q->due_at = mtime_now() + (uint64_t)(next > now ?
			    next - now : 0);
	}
	free(c);
	if (w->draining) {
		worker_flush(w);
		worker_check_exit(w);
	}
	worker_kick(w);
}

/* Choose the next queue to claim from: smooth weighted round robin
 * (nginx's upstream balancing) among the queues with work due. */
static struct wqueue *
worker_pick(struct worker *w, uint64_t now)
{
	struct wqueue *best = NULL, *q;
	int total = 0;
	size_t i;

	for (i = 0; i < w->nqueues; i++) {
		q = &w->queues[i];
		/*
		 * A queue is a candidate when work is known to be due on it.
		 * A busy worker does not sleep on the wake markers, so it
		 * also looks again at each queue once a second: otherwise a
		 * backlog on one queue would hide new work on the others
		 * from it. An idle worker relies on the markers, and costs
		 * Redis nothing.
		 */
		if (q->due_at > now && (w->running + w->queued == 0 ||
		    now - q->checked_at < WORKER_RECHECK_MS))
			continue;
		q->current += q->weight;
		total += q->weight;
		if (best == NULL || q->current > best->current)
			best = q;
	}
	if (best != NULL)
		best->current -= total;
	return best;
}

static void	worker_sleep(struct worker *);

/* Start claimed jobs, oldest claim first, while slots are free. */
static void
worker_fill_slots(struct worker *w)
{
	struct wjob *j, *t;

	TAILQ_FOREACH_SAFE(j, &w->jobs, entry, t) {
		if (w->running >= w->cfg->concurrency || w->queued == 0)
			break;
		if (j->state != WJOB_QUEUED)
			continue;
		w->queued--;
		j->slot = 1;
		w->running++;
		worker_start(w, j);
	}
}

/*
 * Start what can start, then claim from a due queue if there is room,
 * else sleep. While its jobs are short (under 100 ms on average), a
 * worker holds up to `batch` jobs claimed ahead of its free slots, and
 * claims again when that reserve is half gone: claims then come in
 * batches even when slots free up one at a time, which keeps the calls to
 * Redis, and its CPU, per job low. A job claimed ahead waits at most for
 * one short handler of this worker; its lease is renewed meanwhile, and a
 * stop puts it straight back. Long jobs are not claimed ahead: another
 * worker with a free slot should have them.
 */
static void
worker_claim(struct worker *w)
{
	struct claim_call *c;
	struct wqueue *q;
	uint64_t now = mtime_now();
	unsigned room, ahead, n;
	char count[16], lease[24], stalls[16];
	const char *argv[5];

	worker_fill_slots(w);
	if (w->draining || w->claiming || !rconn_ready(w->cmd) ||
	    now < w->retry_at)
		return;
	ahead = w->have_avg && w->avg_ms < 100 ? w->cfg->batch : 0;
	room = w->cfg->concurrency + ahead;
	if (w->running + w->queued >= room || (w->queued > 0 &&
	    w->queued > ahead / 2))
		return;
	if ((q = worker_pick(w, now)) == NULL) {
		worker_sleep(w);
		return;
	}
	n = room - w->running - w->queued;
	if (n > w->cfg->batch)
		n = w->cfg->batch;
	q->checked_at = now;
	c = xcalloc(1, sizeof *c);
	c->w = w;
	c->q = q;
	c->asked = n;
	worker_token(c->token, sizeof c->token);
	snprintf(count, sizeof count, "%u", n);
	snprintf(lease, sizeof lease, "%llu",
	    (unsigned long long)w->cfg->lease_ms);
	snprintf(stalls, sizeof stalls, "%u", w->cfg->max_stalls);
	argv[0] = count;
	argv[1] = lease;
	argv[2] = stalls;
	argv[3] = c->token;
	argv[4] = w->name;
	if (rconn_fcall(w->cmd, WORKER_CMD_TIMEOUT_MS, worker_claimed_cb, c,
	    "redjob_claim", q->base, 5, argv, NULL) != 0) {
		free(c);
		return;
	}
	w->claiming = 1;
}

/* Set a queue's wake marker again, for another worker. */
static void
worker_rewake(struct worker *w, const char *wake_key)
{
	const char *argv[4] = { "ZADD", wake_key, "0", "w" };

	rconn_command(w->cmd, WORKER_CMD_TIMEOUT_MS, NULL, NULL, 4, argv,
	    NULL);
}

static void
worker_woken_cb(struct rconn *rc, redisReply *r, void *arg)
{
	struct worker *w = arg;
	size_t i;

	(void)rc;
	w->sleeping = 0;
	if (r == NULL)
		return;		/* reconnecting; on_ready kicks */
	if (r->type == REDIS_REPLY_ERROR) {
		log_warnx("waiting for jobs: %s", r->str);
		mtime_arm(w->retry_ev, WORKER_RETRY_MS);
		return;
	}
	if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
	    r->element[0]->type == REDIS_REPLY_STRING) {
		/* A marker: that queue has work (or was resumed). */
		for (i = 0; i < w->nqueues; i++) {
			if (strcmp(w->queues[i].wake_key,
			    r->element[0]->str) == 0)
				w->queues[i].due_at = 0;
		}
		/*
		 * Taken while this worker has no room (it slept, then filled
		 * its slots) or is leaving: put it back for another worker,
		 * or the work would wait for this one.
		 */
		if (w->draining || w->running + w->queued >=
		    w->cfg->concurrency)
			worker_rewake(w, r->element[0]->str);
	}
	worker_kick(w);
}

/*
 * Nothing is due: block on every queue's wake marker until the earliest
 * known due time, at most 10 s. The cap is the keep-alive, and rconn's
 * deadline on the command (the block plus slack) is the watchdog that
 * rebuilds a connection silently dropped by the network.
 */
static void
worker_sleep(struct worker *w)
{
	uint64_t now = mtime_now(), until = UINT64_MAX, ms;
	const char **argv;
	char timeout[32];
	size_t i;

	/*
	 * The known due time is kept by a local timer, not by BZPOPMIN's
	 * timeout: Redis checks blocking timeouts only at its hz tick (every
	 * 100 ms by default), which would make delayed jobs late by up to
	 * that much. The due time is server time turned into a delay, so our
	 * clock's offset does not matter.
	 */
	for (i = 0; i < w->nqueues; i++) {
		if (w->queues[i].due_at < until)
			until = w->queues[i].due_at;
	}
	if (until != UINT64_MAX)
		mtime_arm(w->due_ev, until > now ? until - now : 0);
	if (w->sleeping || w->wake == NULL || !rconn_ready(w->wake))
		return;
	ms = WORKER_BLOCK_MAX_MS;
	snprintf(timeout, sizeof timeout, "%llu.%03llu",
	    (unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000));
	argv = xcalloc(w->nqueues + 2, sizeof *argv);
	argv[0] = "BZPOPMIN";
	for (i = 0; i < w->nqueues; i++)
		argv[i + 1] = w->queues[i].wake_key;
	argv[w->nqueues + 1] = timeout;
	if (rconn_command(w->wake, ms + WORKER_BLOCK_SLACK_MS, worker_woken_cb,
	    w, (int)w->nqueues + 2, argv, NULL) == 0)
		w->sleeping = 1;
	free(argv);
}

static void
worker_kick_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	worker_claim(arg);
}

/* Look for work soon, from the loop (never re-entrantly). */
static void
worker_kick(struct worker *w)
{
	event_active(w->kick_ev, EV_TIMEOUT, 0);
}

static void
worker_retry_cb(evutil_socket_t fd, short events, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)events;
	worker_flush(w);
	worker_kick(w);
}

/* ---------------------------------------------------------------------
 * Leases.
 */

struct renew_call {
	struct worker	*w;
	char	       **ids;
	char	       **tokens;
	size_t		 n;
};

static void
worker_renewed_cb(struct rconn *rc, redisReply *r, void *arg)
{
	struct renew_call *c = arg;
	struct worker *w = c->w;
	struct wjob *j;
	size_t i;

	(void)rc;
	if (r != NULL && r->type == REDIS_REPLY_ARRAY) {
		for (i = 0; i < c->n && i < r->elements; i++) {
			if (r->element[i]->integer != 0)
				continue;
			TAILQ_FOREACH(j, &w->jobs, entry) {
				if (strcmp(j->id, c->ids[i]) != 0 ||
				    strcmp(j->token, c->tokens[i]) != 0 ||
				    j->lease_lost)
					continue;
				j->lease_lost = 1;
				log_warnx("job %s: the lease was lost (reclaimed "
				    "or removed); stopping its handler", j->id);
				if (j->h != NULL || j->pc != NULL)
					worker_stop_handler(j);
				else if (!j->inflight) {
					worker_release_limits(w, j,
					    j->state == WJOB_GUARD);
					worker_forget(w, j);
				}
				break;
			}
		}
	} else if (r != NULL && r->type == REDIS_REPLY_ERROR)
		log_warnx("renewing leases: %s", r->str);
	for (i = 0; i < c->n; i++) {
		free(c->ids[i]);
		free(c->tokens[i]);
	}
	free(c->ids);
	free(c->tokens);
	free(c);
}

struct lock_renewal {
	struct worker	*w;
	char		*id;
	char		 token[40];
	uint64_t	 sent;
};

/*
 * A lock is lost (a renewal refused, or none succeeded before the local
 * deadline): stop the handler; its outcome is then a failure, "lock lost",
 * retried, because another job may hold the lock now.
 */
static void
worker_lock_lost(struct worker *w, struct wjob *j, const char *why)
{
	(void)w;
	if (j->lock_lost)
		return;
	j->lock_lost = 1;
	j->lock_held = 0;
	log_warnx("job %s: lock %s (fence %s) lost: %s; stopping its handler",
	    j->id, j->lock_key, j->fence != NULL ? j->fence : "?", why);
	worker_stop_handler(j);
}

static void
worker_lock_renewed_cb(struct rconn *rc, redisReply *r, void *arg)
{
	struct lock_renewal *lr = arg;
	struct worker *w = lr->w;
	struct wjob *j;

	(void)rc;
	TAILQ_FOREACH(j, &w->jobs, entry) {
		if (strcmp(j->id, lr->id) == 0 &&
		    strcmp(j->lock_token, lr->token) == 0)
			break;
	}
	if (j != NULL && j->lock_held && r != NULL) {
		if (r->type == REDIS_REPLY_INTEGER && r->integer == 1)
			j->lock_valid_until = lr->sent + j->jc->lock.ttl_ms -
			    j->jc->lock.ttl_ms / 10;
		else if (r->type == REDIS_REPLY_INTEGER)
			worker_lock_lost(w, j, "the lock is no longer ours");
		else
			log_warnx("job %s: renewing lock %s: %s", j->id,
			    j->lock_key, r->str);
	}
	free(lr->id);
	free(lr);
}

/*
 * Renew the locks and concurrency slots of running jobs. The validity of
 * a lock is counted on our monotonic clock from when its last successful
 * renewal was sent (docs/guards.md): if Redis cannot be reached for
 * that long, the lock is treated as lost before it can really expire.
 */
static void
worker_renew_guards(struct worker *w)
{
	struct lock_renewal *lr;
	struct guard_call c;
	struct wjob *j;
	uint64_t now = mtime_now();
	const char *argv[2];
	char ttl[24];
	size_t i;

	TAILQ_FOREACH(j, &w->jobs, entry) {
		if (j->state != WJOB_RUNNING)
			continue;
		if (j->lock_held && now > j->lock_valid_until) {
			worker_lock_lost(w, j, "not renewed in time (redis "
			    "unreachable?)");
			continue;
		}
		if (!rconn_ready(w->cmd))
			continue;
		if (j->lock_held) {
			lr = xcalloc(1, sizeof *lr);
			lr->w = w;
			lr->id = xstrdup(j->id);
			memcpy(lr->token, j->lock_token, sizeof lr->token);
			lr->sent = now;
			snprintf(ttl, sizeof ttl, "%llu",
			    (unsigned long long)j->jc->lock.ttl_ms);
			argv[0] = j->lock_token;
			argv[1] = ttl;
			if (rconn_fcall(w->cmd, WORKER_CMD_TIMEOUT_MS,
			    worker_lock_renewed_cb, lr, "redjob_lock_renew",
			    j->lock_key, 2, argv, NULL) != 0) {
				free(lr->id);
				free(lr);
			}
		}
		for (i = 0; i < j->nheld; i++) {
			if (guard_limit_renew(&c, j->limit_keys[i],
			    j->jc->limits[i], j->member) == 0)
				worker_guard_send(w, &c);
		}
	}
}

/*
 * Renew the lease of every job we hold, one call per queue (up to 500
 * jobs each), every third of the lease: a renewal can fail twice before
 * the lease runs out.
 */
static void
worker_renew_cb(evutil_socket_t fd, short events, void *arg)
{
	struct worker *w = arg;
	struct renew_call *c;
	struct wjob *j;
	const char **argv;
	char lease[24];
	size_t qi, n;

	(void)fd;
	(void)events;
	mtime_arm(w->renew_ev, w->renew_ms);
	worker_renew_guards(w);
	if (!rconn_ready(w->cmd) || w->held == 0)
		return;
	snprintf(lease, sizeof lease, "%llu",
	    (unsigned long long)w->cfg->lease_ms);
	argv = xcalloc(1 + 2 * WORKER_BATCH_MAX, sizeof *argv);
	for (qi = 0; qi < w->nqueues; qi++) {
		struct wqueue *q = &w->queues[qi];

		j = TAILQ_FIRST(&w->jobs);
		while (j != NULL) {
			c = xcalloc(1, sizeof *c);
			c->w = w;
			c->ids = xcalloc(WORKER_BATCH_MAX, sizeof *c->ids);
			c->tokens = xcalloc(WORKER_BATCH_MAX,
			    sizeof *c->tokens);
			argv[0] = lease;
			for (n = 0; j != NULL && n < WORKER_BATCH_MAX;
			    j = TAILQ_NEXT(j, entry)) {
				if (j->q != q || j->lease_lost)
					continue;
				c->ids[n] = xstrdup(j->id);
				c->tokens[n] = xstrdup(j->token);
				argv[1 + 2 * n] = j->id;
				argv[2 + 2 * n] = j->token;
				n++;
			}
			c->n = n;
			if (n == 0 || rconn_fcall(w->cmd, WORKER_CMD_TIMEOUT_MS,
			    worker_renewed_cb, c, "redjob_extend", q->base,
			    (int)(1 + 2 * n), argv, NULL) != 0) {
				while (n > 0) {
					n--;
					free(c->ids[n]);
					free(c->tokens[n]);
				}
				free(c->ids);
				free(c->tokens);
				free(c);
			}
		}
	}
	free(argv);
}

/* ---------------------------------------------------------------------
 * Connections, the supervisor, signals, shutdown.
 */

static void
worker_cmd_ready_cb(struct rconn *rc, void *arg)
{
	struct worker *w = arg;
	size_t i;

	(void)rc;
	if (!w->ready_sent) {
		w->ready_sent = 1;
		channel_send(w->chan_fd, "READY");
		log_info("ready: %zu queue%s, %u slots", w->nqueues,
		    w->nqueues == 1 ? "" : "s", w->cfg->concurrency);
	}
	/* After an outage every queue may have work. */
	for (i = 0; i < w->nqueues; i++)
		w->queues[i].due_at = 0;
	worker_flush(w);
	worker_kick(w);
}

static void
worker_wake_ready_cb(struct rconn *rc, void *arg)
{
	struct worker *w = arg;
	size_t i;

	(void)rc;
	/* A marker may have been lost with the old connection. */
	for (i = 0; i < w->nqueues; i++)
		w->queues[i].due_at = 0;
	worker_kick(w);
}

static void
worker_fatal_cb(struct rconn *rc, void *arg)
{
	struct worker *w = arg;

	(void)rc;
	w->exit_status = EX_CONFIG;
	event_base_loopbreak(w->base);
}

/* Leave the loop once draining is over and nothing is held. */
static void
worker_check_exit(struct worker *w)
{
	/* A claim in flight may bring jobs: they must go back first. */
	if (w->draining && w->held == 0 && !w->claiming)
		event_base_loopbreak(w->base);
}

static void
worker_drain_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
	struct worker *w = arg;
	struct wjob *j;
	unsigned n = 0;

	(void)fd;
	(void)events;
	TAILQ_FOREACH(j, &w->jobs, entry) {
		if (j->h != NULL || j->pc != NULL) {
			worker_stop_handler(j);
			n++;
		}
	}
	if (n > 0)
		log_info("shutdown timeout: stopping %u handler%s and putting "
		    "their jobs back", n, n == 1 ? "" : "s");
	mtime_arm(w->exit_ev, WORKER_KILL_GRACE_MS + WORKER_EXIT_GRACE_MS);
}

static void
worker_exit_cb(evutil_socket_t fd, short events, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)events;
	log_warnx("could not finish %u job%s in Redis before exiting; their "
	    "leases will return them", w->held, w->held == 1 ? "" : "s");
	event_base_loopbreak(w->base);
}

/* Put the jobs claimed ahead back in their queue: they never started. */
static void
worker_return_queued(struct worker *w)
{
	struct wjob *j;

	TAILQ_FOREACH(j, &w->jobs, entry) {
		if (j->state != WJOB_QUEUED)
			continue;
		w->queued--;
		j->state = WJOB_REQUEUE;
		j->requeue_reason = "shutdown";
		j->requeue_ms = 0;
	}
	worker_flush(w);
}

/*
 * Stop claiming and let the running jobs finish. A stop (SIGTERM, or STOP
 * from the supervisor) gives them shutdown_timeout, then stops their
 * handlers and puts the jobs back. A drain for a reload gives them their
 * own timeout: nobody is waiting, and a job stopped half-way would run
 * twice.
 */
static void
worker_drain(struct worker *w, const char *why, int bounded)
{
	if (w->draining && (!bounded || evtimer_pending(w->drain_ev, NULL)))
		return;
	if (!w->draining)
		log_info("%s: finishing %u running job%s", why, w->running,
		    w->running == 1 ? "" : "s");
	w->draining = 1;
	worker_return_queued(w);
	if (w->sleeping) {
		size_t i;

		/* A marker popped just now would die with the connection. */
		for (i = 0; i < w->nqueues; i++)
			worker_rewake(w, w->queues[i].wake_key);
	}
	rconn_free(w->wake);
	w->wake = NULL;
	if (bounded)
		mtime_arm(w->drain_ev, w->cfg->shutdown_timeout_ms);
	worker_check_exit(w);
}

static void
worker_signal_cb(evutil_socket_t sig, short events, void *arg)
{
	(void)events;
	worker_drain(arg, sig == SIGINT ? "interrupted" : "terminating", 1);
}

static void
worker_chan_cb(evutil_socket_t fd, short events, void *arg)
{
	struct worker *w = arg;
	char buf[CHANNEL_MAX];
	int n;

	(void)events;
	while ((n = channel_recv(fd, buf, sizeof buf)) > 0) {
		if (strcmp(buf, "DRAIN") == 0)
			worker_drain(w, "replaced by a reload", 0);
		else if (strcmp(buf, "STOP") == 0)
			worker_drain(w, "stopping", 1);
	}
	if (n == 0) {
		/* The supervisor is gone: do not outlive it. */
		event_del(w->chan_ev);
		worker_drain(w, "the supervisor exited", 1);
	}
}

static void
worker_hb_cb(evutil_socket_t fd, short events, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)events;
	/* Also before READY: a worker waiting for Redis is alive. */
	channel_send(w->chan_fd, "HB %u %llu %llu %llu", w->running, w->done,
	    w->failed, w->retried);
}

static void
worker_queues(struct worker *w)
{
	const struct config *cfg = w->cfg;
	size_t i;

	w->nqueues = cfg->nqueues;
	w->queues = xcalloc(cfg->nqueues, sizeof *w->queues);
	for (i = 0; i < cfg->nqueues; i++) {
		struct wqueue *q = &w->queues[i];

		q->name = cfg->queues[i].name;
		q->weight = (int)cfg->queues[i].weight;
		xasprintf(&q->base, "%s:{%s}", cfg->namespace, q->name);
		xasprintf(&q->wake_key, "%s:wake", q->base);
	}
}

/*
 * Load the plugins of the configuration, in the worker (so that a reload's
 * new workers open fresh copies), and start the thread pool that runs
 * them. A plugin that cannot be loaded fails its jobs with the reason,
 * to be retried: the file may be fixed without a restart of Redis.
 */
static void
worker_plugins(struct worker *w)
{
	const struct config *cfg = w->cfg;
	char *cause = NULL;
	size_t i, n = 0;

	w->plugin_fns = xcalloc(cfg->njobs, sizeof *w->plugin_fns);
	w->plugin_errs = xcalloc(cfg->njobs, sizeof *w->plugin_errs);
	for (i = 0; i < cfg->njobs; i++) {
		const struct job_conf *jc = &cfg->jobs[i];

		if (jc->plugin_path == NULL)
			continue;
		n++;
		w->plugin_fns[i] = handler_plugin_load(jc->plugin_path,
		    jc->plugin_symbol, &cause);
		if (w->plugin_fns[i] == NULL) {
			log_errx("job type %s: %s", jc->type, cause);
			xasprintf(&w->plugin_errs[i], "plugin %s cannot be "
			    "loaded: %s", jc->plugin_path, cause);
			free(cause);
		}
	}
	if (n == 0)
		return;
	w->pool = handler_plugin_pool_create(w->base, cfg->concurrency, &cause);
	if (w->pool == NULL)
		fatalx("plugin thread pool: %s", cause);
}

/*
 * Log what a Redis connection reports. A failure streak is logged as its
 * first line, then at most one line a second with a count, then once
 * when it is over; arg is the connection's own limiter, in worker_main's
 * frame, which outlives both connections.
 */
static void
worker_redis_event_cb(struct rconn *rc, enum rconn_event ev,
    const char *cause, void *arg)
{
	struct log_ratelimit *rl = arg;
	unsigned n;

	switch (ev) {
	case RCONN_EVENT_FAILED:
		log_ratelimit(rl, LOG_LEVEL_WARNING, "redis %s: %s",
		    rconn_name(rc), cause);
		break;
	case RCONN_EVENT_CONNECTED:
		if ((n = log_ratelimit_end(rl)) > 0)
			log_info("redis %s: connected again after %u "
			    "failure%s", rconn_name(rc), n, n == 1 ? "" : "s");
		else
			log_debug("redis %s: %s", rconn_name(rc), cause);
		break;
	case RCONN_EVENT_FATAL:
		log_errx("redis %s: %s", rconn_name(rc), cause);
		break;
	case RCONN_EVENT_RELOAD:
		log_warnx("redis %s: %s", rconn_name(rc), cause);
		break;
	}
}

/*
 * The worker's main: runs the loop until drained. Called in the child
 * right after fork, with default signal dispositions.
 */
int
worker_main(const struct config *cfg, int index, unsigned generation,
    int chan_fd)
{
	struct worker *w;
	struct rconn_opts o;
	struct log_ratelimit redis_rl[2];
	char *url, *cause = NULL, host[64], name[160];
	struct timeval hb = { 1, 0 };
	struct wjob *j;
	int status;
	size_t i;

	w = xcalloc(1, sizeof *w);
	w->cfg = cfg;
	w->index = index;
	w->generation = generation;
	w->chan_fd = chan_fd;
	TAILQ_INIT(&w->jobs);
	if (gethostname(host, sizeof host) != 0)
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	snprintf(w->name, sizeof w->name, "%s:%ld:w%d", host, (long)getpid(),
	    index);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);

	if ((w->base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	if (handler_exec_init(w->base) != 0)
		fatalx("cannot watch handler processes");
	worker_queues(w);
	w->kick_ev = event_new(w->base, -1, 0, worker_kick_cb, w);
	w->due_ev = evtimer_new(w->base, worker_kick_cb, w);
	w->retry_ev = evtimer_new(w->base, worker_retry_cb, w);
	w->renew_ev = evtimer_new(w->base, worker_renew_cb, w);
	w->drain_ev = evtimer_new(w->base, worker_drain_timeout_cb, w);
	w->exit_ev = evtimer_new(w->base, worker_exit_cb, w);
	w->hb_ev = event_new(w->base, -1, EV_PERSIST, worker_hb_cb, w);
	w->sigterm_ev = evsignal_new(w->base, SIGTERM, worker_signal_cb, w);
	w->sigint_ev = evsignal_new(w->base, SIGINT, worker_signal_cb, w);
	evsignal_add(w->sigterm_ev, NULL);
	evsignal_add(w->sigint_ev, NULL);
	event_add(w->hb_ev, &hb);
	/* Renew at a third of the shortest lease, lock ttl or slot lease. */
	w->renew_ms = cfg->lease_ms;
	for (i = 0; i < cfg->njobs; i++) {
		if (cfg->jobs[i].lock.key != NULL &&
		    cfg->jobs[i].lock.ttl_ms < w->renew_ms)
			w->renew_ms = cfg->jobs[i].lock.ttl_ms;
	}
	for (i = 0; i < cfg->nlimiters; i++) {
		if (cfg->limiters[i].kind == LIMITER_CONCURRENCY &&
		    cfg->limiters[i].lease_ms < w->renew_ms)
			w->renew_ms = cfg->limiters[i].lease_ms;
	}
	w->renew_ms /= 3;
	if (w->renew_ms < 10)
		w->renew_ms = 10;
	mtime_arm(w->renew_ev, w->renew_ms);
	if (chan_fd >= 0) {
		w->chan_ev = event_new(w->base, chan_fd, EV_READ | EV_PERSIST,
		    worker_chan_cb, w);
		event_add(w->chan_ev, NULL);
	}

	worker_plugins(w);
	url = config_redis_url(cfg);
	memset(&o, 0, sizeof o);
	memset(redis_rl, 0, sizeof redis_rl);
	o.url = url;
	o.password = cfg->password;
	o.arg = w;
	o.on_fatal = worker_fatal_cb;
	o.on_event = worker_redis_event_cb;
	snprintf(name, sizeof name, "redjob-worker-%d", index);
	o.name = name;
	o.load_library = 1;
	o.on_ready = worker_cmd_ready_cb;
	o.event_arg = &redis_rl[0];
	if ((w->cmd = rconn_create(w->base, &o, &cause)) == NULL)
		fatalx("%s", cause);
	snprintf(name, sizeof name, "redjob-worker-%d-wait", index);
	o.load_library = 0;
	o.on_ready = worker_wake_ready_cb;
	o.event_arg = &redis_rl[1];
	if ((w->wake = rconn_create(w->base, &o, &cause)) == NULL)
		fatalx("%s", cause);
	free(url);

	event_base_dispatch(w->base);
	status = w->exit_status;

	/*
	 * Close the connections first: their pending callbacks get NULL and
	 * still point at jobs. Whatever is still held goes back by its lease.
	 */
	rconn_free(w->wake);
	rconn_free(w->cmd);
	w->wake = w->cmd = NULL;
	while ((j = TAILQ_FIRST(&w->jobs)) != NULL) {
		TAILQ_REMOVE(&w->jobs, j, entry);
		wjob_free(j);
	}
	handler_exec_shutdown();
	if (w->pool != NULL) {
		/*
		 * A plugin that ignores its cancel flag never returns, and
		 * freeing the pool would wait for it forever: then leave
		 * without freeing; its job comes back by its lease.
		 */
		if (handler_plugin_pool_pending(w->pool) > 0) {
			log_warnx("a plugin call did not return; exiting "
			    "without waiting for it");
			return EX_SOFTWARE;
		}
		handler_plugin_pool_free(w->pool);
		handler_plugin_unload_all();
	}
	for (i = 0; i < w->cfg->njobs; i++)
		free(w->plugin_errs[i]);
	free(w->plugin_errs);
	free(w->plugin_fns);
	event_free(w->kick_ev);
	event_free(w->due_ev);
	event_free(w->retry_ev);
	event_free(w->renew_ev);
	event_free(w->drain_ev);
	event_free(w->exit_ev);
	event_free(w->hb_ev);
	event_free(w->sigterm_ev);
	event_free(w->sigint_ev);
	if (w->chan_ev != NULL)
		event_free(w->chan_ev);
	for (i = 0; i < w->nqueues; i++) {
		free(w->queues[i].base);
		free(w->queues[i].wake_key);
	}
	free(w->queues);
	event_base_free(w->base);
	free(w);
	log_info("exiting");
	return status;
}
