/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Recording the end of jobs (docs/protocol.md): redjob_ack for the jobs
 * that are done, in one call per queue for all that are ready (one ack
 * call per queue at a time, so acks batch up while one is out),
 * redjob_done for the jobs that keep a result, batched the same way, and
 * redjob_fail, redjob_requeue and redjob_discard one call each. Every
 * call is token-checked by the function, so a resent call whose first
 * copy landed is refused harmlessly: that is what makes resending after
 * a lost reply safe.
 *
 * Sending happens from the event loop (an event made active), never from
 * inside the caller: queuing a job can never re-enter a walk of the
 * queue. A job given to finish_queue() is in finish's queue until its
 * call is sent, and in the call until its answer is reported; job.h's
 * lifetime rule keeps its pointer safe meanwhile.
 */
#include "autoconf.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "finish.h"
#include "config.h"
#include "duration.h"
#include "hold.h"
#include "job.h"
#include "log.h"
#include "mtime.h"
#include "rconn.h"
#include "rfunc.h"
#include "xmalloc.h"


struct finish {
	struct rconn		*rc;
	uint64_t		 call_ms;
	uint64_t		 lease_ms;
	finish_cb		*cb;
	void			*arg;
	int			*acking;	/* per queue: an ack is out */
	int			*doning;	/* per queue: a batch of
						   redjob_done is out */
	size_t			 nqueues;
	struct job_list		 ready;		/* to send now */
	struct job_list		 later;		/* to send after retry_ev */
	struct event		*send_ev;
	struct event		*retry_ev;
	struct log_ratelimit	 errors;
};

/*
 * The jobs of one ack call, or of one redjob_done call, in order; busy
 * is the queue's flag that such a call is out (acking, doning).
 */
struct finish_acks {
	struct finish	*f;
	int		*busy;
	const char	*what;		/* "ack", "done" */
	int		 bare;		/* the reply is one integer: a
					   redjob_done of one job */
	struct job     **jobs;
	size_t		 n;
};

/*
 * The results of one redjob_done call of many jobs, in bytes: past this,
 * the next job's result waits for the next call (a result alone may be
 * larger; it then goes alone).
 */
#define FINISH_DONE_BYTES (1024 * 1024)

static void	finish_send_cb(evutil_socket_t, short, void *);
static void	finish_retry_cb(evutil_socket_t, short, void *);

struct finish *
finish_create(struct event_base *base, struct rconn *rc, size_t nqueues,
    uint64_t call_ms, uint64_t lease_ms, finish_cb *cb, void *arg)
{
	struct finish *f;

	f = xcalloc(1, sizeof *f);
	f->rc = rc;
	f->call_ms = call_ms;
	f->lease_ms = lease_ms;
	f->cb = cb;
	f->arg = arg;
	f->nqueues = nqueues;
	f->acking = xcalloc(nqueues, sizeof *f->acking);
	f->doning = xcalloc(nqueues, sizeof *f->doning);
	TAILQ_INIT(&f->ready);
	TAILQ_INIT(&f->later);
	f->send_ev = event_new(base, -1, 0, finish_send_cb, f);
	f->retry_ev = evtimer_new(base, finish_retry_cb, f);
	if (f->send_ev == NULL || f->retry_ev == NULL)
		fatalx("out of memory creating an event");
	return f;
}

/*
 * Free; the jobs still queued are the owner's (it frees them after the
 * connection, so no call is out).
 */
void
finish_free(struct finish *f)
{
	if (f == NULL)
		return;
	event_free(f->send_ev);
	event_free(f->retry_ev);
	free(f->acking);
	free(f->doning);
	free(f);
}

/* Send what is ready, from the loop. */
void
finish_kick(struct finish *f)
{
	if (!TAILQ_EMPTY(&f->ready))
		event_active(f->send_ev, EV_TIMEOUT, 0);
}

/*
 * Queue a job whose end is set (j->end and the fields it needs) to be
 * recorded; the answer comes through the callback.
 */
void
finish_queue(struct finish *f, struct job *j)
{
	assert(j->state == JOB_FINISHING);
	TAILQ_INSERT_TAIL(&f->ready, j, fentry);
	finish_kick(f);
}

/*
 * Take back a queued job that is not being sent (its lease was lost, so
 * there is nothing of ours left to record). Returns 0, or -1 if its call
 * is out: then its answer follows as usual.
 */
int
finish_cancel(struct finish *f, struct job *j)
{
	struct job *k;

	TAILQ_FOREACH(k, &f->ready, fentry) {
		if (k == j) {
			TAILQ_REMOVE(&f->ready, j, fentry);
			return 0;
		}
	}
	TAILQ_FOREACH(k, &f->later, fentry) {
		if (k == j) {
			TAILQ_REMOVE(&f->later, j, fentry);
			return 0;
		}
	}
	return -1;
}

/* Report the answer about j: it leaves finish's hands. */
static void
finish_done(struct finish *f, struct job *j, enum finish_outcome o)
{
	unsigned n;

	if ((n = log_ratelimit_end(&f->errors)) > 0)
		log_info("finishing jobs works again after %u refusal%s", n,
		    n == 1 ? "" : "s");
	job_accepted(j);
	f->cb(j, o, f->arg);
}

/*
 * A call about j got no answer, or a refusal: put it back to be sent
 * when the connection is back, or after a pause; or give up on it.
 */
static void
finish_failed(struct finish *f, struct job *j, const char *what,
    enum rfunc_class class, const char *why)
{
	if (class == RFUNC_CONN) {
		/* Resent once the connection is back (finish_kick). */
		j->end_resent = 1;
		TAILQ_INSERT_TAIL(&f->ready, j, fentry);
		return;
	}
	if (job_refused(j, what, why, rfunc_transient(class))) {
		f->cb(j, FINISH_GAVE_UP, f->arg);
		return;
	}
	log_ratelimit(&f->errors, LOG_LEVEL_WARNING, "job %s: %s failed: %s; "
	    "retrying", j->id, what, why);
	TAILQ_INSERT_TAIL(&f->later, j, fentry);
	if (!evtimer_pending(f->retry_ev, NULL))
		mtime_arm(f->retry_ev, rconn_retry_ms(f->rc));
}

/*
 * A finishing call refused because the job's token is no longer ours:
 * did an earlier copy of it land? It did if this one was sent again after
 * a lost reply, and less than half a lease has passed since the first:
 * a job's lease is renewed every third of it, so it cannot have run out
 * meanwhile, and only our own call can have taken the token.
 */
static int
finish_landed_before(const struct finish *f, const struct job *j)
{
	return j->end_resent && mtime_now() - j->end_sent < f->lease_ms / 2;
}

/* The common start of every reply: the call is no longer out. */
static enum rfunc_class
finish_reply(struct job *j, const redisReply *r)
{
	assert(j->calls > 0);
	j->calls--;
	return rfunc_classify(r);
}

/*
 * The answer about j of an ack or redjob_done call (what: "ack", "done"),
 * r an integer, the whole reply of a call about one job or the element
 * for j: 1 (finished) or 0 (the token was refused: the job was taken over
 * after our lease ran out, removed by an operator, or our earlier call
 * landed and its reply was lost).
 */
static void
finish_end_answer(struct finish *f, struct job *j, const redisReply *r,
    const char *what)
{
	char why[64];

	if (r->type != REDIS_REPLY_INTEGER || (r->integer != 0 &&
	    r->integer != 1)) {
		snprintf(why, sizeof why, "unexpected reply to redjob_%s",
		    what);
		finish_failed(f, j, what, RFUNC_OTHER, why);
	} else if (r->integer == 0 && finish_landed_before(f, j)) {
		log_info("job %s: done (the first %s landed; its reply was "
		    "lost)", j->id, strcmp(what, "ack") == 0 ? "ack" : "call");
		finish_done(f, j, FINISH_ACKED);
	} else if (r->integer == 0) {
		log_warnx("job %s: %s refused: the lease was lost (the job may "
		    "run again elsewhere)", j->id, what);
		finish_done(f, j, FINISH_STALE);
	} else
		finish_done(f, j, FINISH_ACKED);
}

/*
 * The reply to an ack or redjob_done call: a 1 or 0 for each job (for a
 * redjob_done of one job, that integer alone).
 */
static void
finish_batch_cb(struct rconn *rc, redisReply *r, void *arg)
{
	struct finish_acks *b = arg;
	struct finish *f = b->f;
	enum rfunc_class class;
	struct job *j;
	char why[64];
	size_t i;

	(void)rc;
	assert(*b->busy);
	*b->busy = 0;
	snprintf(why, sizeof why, "unexpected reply to redjob_%s", b->what);
	for (i = 0; i < b->n; i++) {
		j = b->jobs[i];
		class = finish_reply(j, r);
		if (class != RFUNC_OK)
			finish_failed(f, j, b->what, class, r != NULL ? r->str :
			    "no reply");
		else if (b->bare)
			finish_end_answer(f, j, r, b->what);
		else if (r->type != REDIS_REPLY_ARRAY || r->elements != b->n)
			finish_failed(f, j, b->what, RFUNC_OTHER, why);
		else
			finish_end_answer(f, j, r->element[i], b->what);
	}
	free(b->jobs);
	free(b);
	finish_kick(f);
}

/*
 * A batch of n ready jobs of queue qi ending in one call (what: "ack",
 * "done"; busy: the queue's flag that one is out). Filled by the caller.
 */
static struct finish_acks *
finish_batch_new(struct finish *f, int *busy, const char *what, size_t n)
{
	struct finish_acks *b;

	b = xcalloc(1, sizeof *b);
	b->f = f;
	b->busy = busy;
	b->what = what;
	b->n = n;
	b->jobs = xcalloc(n, sizeof *b->jobs);
	return b;
}

/* Send b's call of fn; its jobs leave the ready list, or b is freed. */
static void
finish_batch_send(struct finish *f, struct finish_acks *b, const char *fn,
    int argc, const char **argv, const size_t *lens)
{
	size_t i;

	if (rconn_fcall(f->rc, f->call_ms, finish_batch_cb, b, fn,
	    b->jobs[0]->base, argc, argv, lens) != 0) {
		free(b->jobs);
		free(b);
		return;
	}
	*b->busy = 1;
	for (i = 0; i < b->n; i++) {
		TAILQ_REMOVE(&f->ready, b->jobs[i], fentry);
		b->jobs[i]->calls++;
		if (b->jobs[i]->end_sent == 0)
			b->jobs[i]->end_sent = mtime_now();
	}
}

/* Send one ack call for up to JOB_BATCH_MAX ready acks of queue qi. */
static void
finish_send_acks(struct finish *f, size_t qi)
{
	struct finish_acks *b;
	struct job *j;
	const char **argv;
	size_t n = 0, i = 0, argc, rel = 0;

	if (f->acking[qi])
		return;
	/* Counted first: one small allocation per call, on the hot path. */
	TAILQ_FOREACH(j, &f->ready, fentry) {
		if (j->qi != qi || j->end != JOB_END_ACK)
			continue;
		if (j->hold != NULL)
			rel += hold_ack_argc(j->hold);
		if (++n == JOB_BATCH_MAX)
			break;
	}
	if (n == 0)
		return;
	b = finish_batch_new(f, &f->acking[qi], "ack", n);
	argv = xcalloc(2 * n + 1 + rel, sizeof *argv);
	TAILQ_FOREACH(j, &f->ready, fentry) {
		if (j->qi != qi || j->end != JOB_END_ACK)
			continue;
		b->jobs[i] = j;
		argv[2 * i] = j->id;
		argv[2 * i + 1] = j->token;
		if (++i == n)
			break;
	}
	/*
	 * The guards the claim took for these jobs go back with the ack
	 * (docs/guards.md, "Guards in the claim"): "release" and a group
	 * for each lock and concurrency slot.
	 */
	argc = 2 * n;
	if (rel > 0) {
		argv[argc++] = "release";
		for (i = 0; i < n; i++) {
			if (b->jobs[i]->hold != NULL)
				argc += hold_ack_args(b->jobs[i]->hold,
				    argv + argc);
		}
		if (argc == 2 * n + 1)
			argc--;		/* nothing was held after all */
	}
	finish_batch_send(f, b, "redjob_ack", (int)argc, argv, NULL);
	free(argv);
}

/*
 * Send the ready ends of jobs that keep a result, of queue qi, in one
 * redjob_done call (docs/protocol.md), up to JOB_BATCH_MAX jobs and
 * FINISH_DONE_BYTES of results; one call per queue at a time, so they
 * batch up while one is out, as acks do. A lone job goes with the form
 * of one job, which every library version takes.
 */
static void
finish_send_dones(struct finish *f, size_t qi)
{
	struct finish_acks *b;
	struct job *j;
	const char **argv;
	size_t *lens, n = 0, i = 0, bytes = 0, k;
	char (*nums)[2][24];

	if (f->doning[qi])
		return;
	TAILQ_FOREACH(j, &f->ready, fentry) {
		if (j->qi != qi || j->end != JOB_END_DONE)
			continue;
		if (n > 0 && bytes + j->result_len > FINISH_DONE_BYTES)
			break;
		bytes += j->result_len;
		if (++n == JOB_BATCH_MAX)
			break;
	}
	if (n == 0)
		return;
	b = finish_batch_new(f, &f->doning[qi], "done", n);
	b->bare = n == 1;
	argv = xcalloc(5 * n, sizeof *argv);
	lens = xcalloc(5 * n, sizeof *lens);
	nums = xcalloc(n, sizeof *nums);
	TAILQ_FOREACH(j, &f->ready, fentry) {
		if (j->qi != qi || j->end != JOB_END_DONE)
			continue;
		b->jobs[i] = j;
		snprintf(nums[i][0], sizeof nums[i][0], "%llu",
		    (unsigned long long)j->jc->result_ttl_ms);
		snprintf(nums[i][1], sizeof nums[i][1], "%llu",
		    (unsigned long long)j->result_size);
		k = 5 * i;
		argv[k] = j->id;
		argv[k + 1] = j->token;
		argv[k + 2] = nums[i][0];
		argv[k + 3] = j->result != NULL ? j->result : "";
		argv[k + 4] = nums[i][1];
		lens[k] = strlen(j->id);
		lens[k + 1] = strlen(j->token);
		lens[k + 2] = strlen(nums[i][0]);
		lens[k + 3] = j->result != NULL ? j->result_len : 0;
		lens[k + 4] = strlen(nums[i][1]);
		if (++i == n)
			break;
	}
	finish_batch_send(f, b, "redjob_done", (int)(5 * n), argv, lens);
	free(nums);
	free(lens);
	free(argv);
}

/* One fail, requeue or discard call. */
struct finish_one {
	struct finish	*f;
	struct job	*j;
};

/*
 * A fail was recorded: {"retry", due, attempts} or {"dead", now,
 * attempts}.
 */
static void
finish_fail_recorded(struct finish *f, struct job *j, const redisReply *r)
{
	char buf[64];

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[2]->type != REDIS_REPLY_STRING)
		finish_failed(f, j, "recording the failure", RFUNC_OTHER,
		    "unexpected reply to redjob_fail");
	else if (strcmp(r->element[0]->str, "dead") == 0) {
		if (!j->quiet_dead)
			log_job(LOG_LEVEL_WARNING, "job %s queue=%s: dead after "
			    "%s attempt%s", j->id, j->queue, r->element[2]->str,
			    strcmp(r->element[2]->str, "1") == 0 ? "" : "s");
		finish_done(f, j, FINISH_DEAD);
	} else {
		log_job(LOG_LEVEL_INFO, "job %s queue=%s: attempt %s failed, "
		    "retry in %s", j->id, j->queue, r->element[2]->str,
		    duration_format(j->retry_ms, buf, sizeof buf));
		finish_done(f, j, FINISH_RETRIED);
	}
}

static void
finish_requeue_recorded(struct finish *f, struct job *j)
{
	char buf[64];

	switch (j->requeue) {
	case JOB_REQUEUE_SHUTDOWN:
		log_job(LOG_LEVEL_INFO, "job %s queue=%s: put back in the "
		    "queue", j->id, j->queue);
		break;
	case JOB_REQUEUE_THROTTLED:
		log_job(LOG_LEVEL_INFO, "job %s queue=%s: throttled, again in "
		    "%s", j->id, j->queue, duration_format(j->requeue_ms, buf,
		    sizeof buf));
		break;
	case JOB_REQUEUE_CONFLICT:
		log_job(LOG_LEVEL_INFO, "job %s queue=%s: its lock is taken, "
		    "again in %s", j->id, j->queue, duration_format(
		    j->requeue_ms, buf, sizeof buf));
		break;
	case JOB_REQUEUE_LOCK_LOST:
		log_job(LOG_LEVEL_INFO, "job %s queue=%s: put back in the "
		    "queue (its lock was lost)", j->id, j->queue);
		break;
	case JOB_REQUEUE_UNKNOWN_TYPE:
		log_job(LOG_LEVEL_WARNING, "job %s queue=%s: unknown job type "
		    "\"%s\" here; again in %s (a deploy may bring it)", j->id,
		    j->queue, j->type, duration_format(j->requeue_ms, buf,
		    sizeof buf));
		break;
	}
	finish_done(f, j, FINISH_REQUEUED);
}

/*
 * The reply to a fail, requeue or discard. A fail whose token is no
 * longer ours (REDJOB_STALE) has nothing left to record; requeue and
 * discard answer 0 for that, and leave Redis as it was either way.
 */
static void
finish_one_cb(struct rconn *rc, redisReply *r, void *arg)
{
	struct finish_one *c = arg;
	struct finish *f = c->f;
	struct job *j = c->j;
	enum rfunc_class class = finish_reply(j, r);
	const char *what;

	(void)rc;
	free(c);
	what = j->end == JOB_END_FAIL ? "recording the failure" :
	    j->end == JOB_END_REQUEUE ? "requeue" :
	    "discard";
	if (class == RFUNC_STALE && j->end == JOB_END_FAIL &&
	    finish_landed_before(f, j)) {
		log_info("job %s: failure recorded (the first call landed; its "
		    "reply was lost)", j->id);
		finish_done(f, j, FINISH_STALE);
		return;
	}
	if (class == RFUNC_STALE && j->end == JOB_END_FAIL) {
		log_warnx("job %s: failure not recorded: the lease was lost "
		    "(the job may run again elsewhere)", j->id);
		finish_done(f, j, FINISH_STALE);
		return;
	}
	if (class != RFUNC_OK) {
		finish_failed(f, j, what, class, r != NULL ? r->str :
		    "no reply");
		return;
	}
	switch (j->end) {
	case JOB_END_FAIL:
		finish_fail_recorded(f, j, r);
		break;
	case JOB_END_REQUEUE:
		finish_requeue_recorded(f, j);
		break;
	case JOB_END_DISCARD:
		log_warnx("job %s queue=%s type=%s: discarded: its lock %s is "
		    "taken (on_conflict: discard)", j->id, j->queue, j->type,
		    j->hold != NULL ? hold_lock_key(j->hold) : "?");
		finish_done(f, j, FINISH_DISCARDED);
		break;
	case JOB_END_ACK:
	case JOB_END_DONE:
		abort();
	}
}

/* Send the fail, requeue or discard of j. Returns 0 or -1 (not sent). */
static int
finish_send_one(struct finish *f, struct job *j)
{
	struct finish_one *c;
	char delay[24], max[24], valid[24];
	const char *argv[11];
	size_t lens[11];
	const char *fn;
	int argc = 0, i;

	switch (j->end) {
	case JOB_END_FAIL:
		snprintf(delay, sizeof delay, "%llu",
		    (unsigned long long)j->retry_ms);
		snprintf(max, sizeof max, "%u", job_max_attempts(j));
		argv[argc++] = j->id;
		argv[argc++] = j->token;
		argv[argc++] = j->error != NULL ? j->error : "";
		argv[argc++] = delay;
		argv[argc++] = max;
		if (j->dead)
			argv[argc++] = "dead";
		fn = "redjob_fail";
		break;
	case JOB_END_REQUEUE:
		snprintf(delay, sizeof delay, "%llu",
		    (unsigned long long)j->requeue_ms);
		argv[argc++] = delay;
		argv[argc++] = job_requeue_reason(j->requeue);
		/*
		 * Its limiter reservation (docs/guards.md): a new one, or
		 * the one it came with if it did not run, else none.
		 */
		if (j->reserve != NULL) {
			snprintf(valid, sizeof valid, "%llu",
			    (unsigned long long)j->reserve_valid_ms);
			argv[argc++] = "reserve";
			argv[argc++] = valid;
			argv[argc++] = j->reserve;
		} else if (j->reserved != NULL && !j->ran)
			argv[argc++] = "keep";
		if (j->held_by != NULL) {
			/* For redjob why: what held it back. */
			argv[argc++] = "by";
			argv[argc++] = j->held_by;
		}
		argv[argc++] = j->id;
		argv[argc++] = j->token;
		fn = "redjob_requeue";
		break;
	case JOB_END_DISCARD:
		argv[argc++] = j->id;
		argv[argc++] = j->token;
		argv[argc++] = "lock conflict";
		fn = "redjob_discard";
		break;
	default:
		abort();
	}
	for (i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	c = xcalloc(1, sizeof *c);
	c->f = f;
	c->j = j;
	if (rconn_fcall(f->rc, f->call_ms, finish_one_cb, c, fn, j->base, argc,
	    argv, lens) != 0) {
		free(c);
		return -1;
	}
	j->calls++;
	if (j->end_sent == 0)
		j->end_sent = mtime_now();
	return 0;
}

/* Send every ready call the connection can take now. */
static void
finish_send_cb(evutil_socket_t fd, short events, void *arg)
{
	struct finish *f = arg;
	struct job *j, *t;
	size_t qi;

	(void)fd;
	(void)events;
	if (!rconn_ready(f->rc))
		return;
	for (qi = 0; qi < f->nqueues; qi++) {
		finish_send_acks(f, qi);
		finish_send_dones(f, qi);
	}
	TAILQ_FOREACH_SAFE(j, &f->ready, fentry, t) {
		if (j->end == JOB_END_ACK || j->end == JOB_END_DONE)
			continue;
		if (finish_send_one(f, j) == 0)
			TAILQ_REMOVE(&f->ready, j, fentry);
	}
}

/* The pause after a refusal is over: send those again. */
static void
finish_retry_cb(evutil_socket_t fd, short events, void *arg)
{
	struct finish *f = arg;
	struct job *j;

	(void)fd;
	(void)events;
	while ((j = TAILQ_FIRST(&f->later)) != NULL) {
		TAILQ_REMOVE(&f->later, j, fentry);
		TAILQ_INSERT_TAIL(&f->ready, j, fentry);
	}
	finish_kick(f);
}
