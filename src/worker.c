/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A worker process: one libevent loop, three Redis connections (commands,
 * a blocking one that sleeps on the queues' wake markers, and one that
 * listens for cancels, notice.c), and up to
 * `concurrency` jobs running at once. This file is the loop and the one
 * owner of every job's life:
 *
 *	claimed (JOB_QUEUED) -> guarding (JOB_GUARDING) -> running
 *	(JOB_RUNNING) -> finishing (JOB_FINISHING) -> forgotten
 *
 * with shortcuts (no guards: straight to running; a throttle, a conflict,
 * a failure to start or a drain: straight to finishing) and one way out
 * from anywhere, a lost lease. Only this file moves a job from one state
 * to the next, and only worker_forget() frees one while the loop runs
 * (worker_run() lets go of the rest at exit). The modules below do one
 * exchange each and report back through a callback registered here:
 * claim.c (a claim), hold.c (a job's limiters and lock), run.c (its
 * handler), finish.c (ack, fail, requeue, discard) and lease.c (lease
 * renewal); none of them decides for another or calls back into this
 * file by name.
 *
 * It never decides a job's fate by its own clock: due times, leases and
 * retries are computed by the functions with Redis's TIME. A job it
 * holds is either finished in Redis by one token-checked call, or left
 * leased so that another worker takes it after the lease; nothing a
 * worker does can lose a job (docs/protocol.md).
 */
#include "autoconf.h"

#include <sys/queue.h>
#include <sys/types.h>

#include <assert.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "worker.h"
#include "backoff.h"
#include "beat.h"
#include "channel.h"
#include "claim.h"
#include "cond.h"
#include "config.h"
#include "cron.h"
#include "duration.h"
#include "finish.h"
#include "guard.h"
#include "handler_exec.h"
#include "hold.h"
#include "job.h"
#include "lease.h"
#include "log.h"
#include "metrics.h"
#include "mtime.h"
#include "notice.h"
#include "rconn.h"
#include "run.h"
#include "scheduler.h"
#include "schema.h"
#include "pick.h"
#include "proctitle.h"
#include "template.h"
#include "token.h"
#include "wake.h"
#include "xmalloc.h"

#define WORKER_EXIT_GRACE_MS 10000	/* after the handlers, to finish */
#define WORKER_SHORT_MS 100		/* jobs this short are claimed ahead */
#define WORKER_HB_SOON_MS 50		/* counters reported this fresh */
#define WORKER_LANE_RETRY_MS 1000	/* a queue whose master is down */

struct worker {
	const struct config	*cfg;
	int			 index;
	char			 name[128];	/* host:pid:wN, for claims */
	char			 owner[CLAIM_OWNER_LEN + 1]; /* claim tokens' head */
	int			 chan_fd;
	struct event_base	*base;
	struct rconn		*cmd;
	struct wake		*wake;
	struct notice		*notice;	/* cancels of running jobs */
	size_t			 nqueues;	/* lanes: queues' shards */
	char			**names;	/* QUEUE or QUEUE~K */
	const char		**queues;	/* QUEUE, for logs and metrics */
	char			**bases;	/* NS:{QUEUE} */
	char			**wake_keys;	/* NS:{QUEUE}:wake */
	char			**expire;	/* "expire" TYPE MS, for claims */
	size_t			 nexpire;
	char			**guard;	/* "guard" TYPE SPEC, for claims */
	size_t			 nguard;
	struct pick		*pick;
	struct job_list		 jobs;		/* every job held */
	struct finish		*finish;
	struct lease		*lease;
	struct run		*run;
	struct beat		*beat;		/* its registry entry */

	/*
	 * Counts of jobs, each kept by the transitions that change it:
	 * held (not yet finished in Redis), queued (claimed ahead, in
	 * JOB_QUEUED) and slots (a slot taken, from start to the end of the
	 * handler).
	 */
	unsigned		 held;
	unsigned		 queued;
	unsigned		 slots;

	double			 avg_ms;	/* recent handler run time */
	int			 have_avg;
	int			 claiming;	/* a claim is out */
	int			 claims_ok;	/* the last claim went through */
	int			 ready_sent;
	char			 cond_sent[RCONN_CONDITION_MAX + 8];
	int			 draining;
	int			 leaving;	/* the last PING is out */
	int			 exit_status;
	uint64_t		 retry_at;	/* no claim before (after BUSY) */
	uint64_t		 renew_ms;	/* lease and slot renewal period */
	struct log_ratelimit	 claim_errors;
	struct log_ratelimit	 malformed;	/* claims that found bad jobs */
	struct log_ratelimit	 guard_errors;
	struct log_ratelimit	 config_errors;	/* worker_config_error */
	struct log_ratelimit	 redis_errors[3];	/* cmd, wake, notice */

	struct sched		*sched;		/* worker 0 only, or NULL */
	struct event		*kick_ev;
	struct event		*due_ev;	/* the earliest known due time */
	struct event		*retry_ev;
	struct event		*renew_ev;
	struct event		*hb_ev;
	struct event		*hb_soon_ev;	/* worker_hb_soon() */
	struct event		*chan_ev;
	struct event		*drain_ev;
	struct event		*exit_ev;
	struct event		*sigterm_ev;
	struct event		*sigint_ev;

	unsigned long long	 done;
	unsigned long long	 failed;
	unsigned long long	 retried;
	struct metrics		*metrics;	/* sent with the heartbeat */
};

static void	worker_kick(struct worker *);
static void	worker_check_exit(struct worker *);

/* ---------------------------------------------------------------------
 * Counters and the end of a job.
 */

/*
 * The counters changed: report them within WORKER_HB_SOON_MS rather
 * than at the next heartbeat, so the supervisor's status line and its
 * stop line are not a second stale, without a message per job.
 */
static void
worker_hb_soon(struct worker *w)
{
	if (w->hb_soon_ev != NULL && !evtimer_pending(w->hb_soon_ev, NULL))
		mtime_arm(w->hb_soon_ev, WORKER_HB_SOON_MS);
}

static void
worker_slot_take(struct worker *w, struct job *j)
{
	assert(!j->slot && w->slots < w->cfg->concurrency);
	j->slot = 1;
	w->slots++;
	worker_hb_soon(w);
}

/* Give back the job's slot, if it holds one. */
static void
worker_slot_release(struct worker *w, struct job *j)
{
	if (!j->slot)
		return;
	assert(w->slots > 0);
	j->slot = 0;
	w->slots--;
	worker_hb_soon(w);
}

/* Leave JOB_QUEUED for state. */
static void
worker_unqueue(struct worker *w, struct job *j, enum job_state state)
{
	assert(j->state == JOB_QUEUED && w->queued > 0);
	w->queued--;
	j->state = state;
}

/*
 * Forget a job: it is finished in Redis, or no longer ours. Gives back
 * its slot and its guards (all they granted if it was still taking them,
 * else what it holds while it runs) and frees it. No call about it may be
 * out (job.h).
 */
static void
worker_forget(struct worker *w, struct job *j)
{
	assert(j->calls == 0 && (j->hold == NULL || !hold_busy(j->hold)));
	if (j->state == JOB_QUEUED)
		worker_unqueue(w, j, JOB_FINISHING);
	worker_slot_release(w, j);
	if (j->hold != NULL)
		hold_release(j->hold, j->ran);
	TAILQ_REMOVE(&w->jobs, j, entry);
	assert(w->held > 0);
	w->held--;
	job_free(j);
	worker_check_exit(w);
}

/* Hand a job whose end is set to finish.c. */
static void
worker_finish(struct worker *w, struct job *j, enum job_end end)
{
	if (j->state == JOB_QUEUED)
		worker_unqueue(w, j, JOB_FINISHING);
	worker_slot_release(w, j);
	j->state = JOB_FINISHING;
	j->end = end;
	finish_queue(w->finish, j);
}

/* Record j's failure with msg (taken), once it is logged. */
static void
worker_failed(struct worker *w, struct job *j, int dead, char *msg)
{
	w->failed++;
	free(j->error);
	j->error = msg;
	j->dead = dead;
	j->retry_ms = j->jc != NULL ? backoff_delay(&j->jc->retry,
	    j->attempts + 1, backoff_random()) : 0;
	worker_finish(w, j, JOB_END_FAIL);
	worker_kick(w);
}

/* Record a failed attempt: retried with backoff, or dead if dead. */
static void
worker_fail(struct worker *w, struct job *j, int dead, const char *fmt, ...)
    printflike(4, 5);
static void
worker_fail(struct worker *w, struct job *j, int dead, const char *fmt, ...)
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
	log_job(LOG_LEVEL_WARNING, "job %s queue=%s type=%s: %.*s", j->id,
	    j->queue, j->type, (int)strcspn(msg, "\n"), msg);
	worker_failed(w, j, dead, msg);
}

/*
 * The configuration is at fault, not the job (the library refuses a
 * guard's arguments, the handler's program is gone): every attempt would
 * fail alike, so the job goes dead at once with msg (taken) as its
 * last_error, and "redjob retry" brings it back once the configuration
 * is fixed (docs/operations.md). However many jobs it hits, it is
 * logged about once a second, with a count.
 */
static void
worker_config_error(struct worker *w, struct job *j, char *msg)
{
	log_ratelimit(&w->config_errors, LOG_LEVEL_ERR, "job %s queue=%s "
	    "type=%s: configuration error: %.*s; the job is dead, not "
	    "retried (fix redjob.yml, then redjob retry)", j->id, j->queue,
	    j->type, (int)strcspn(msg, "\n"), msg);
	j->quiet_dead = 1;
	worker_failed(w, j, 1, msg);
}

/* Put a job back without spending an attempt. */
static void
worker_requeue(struct worker *w, struct job *j, enum job_requeue why,
    uint64_t delay_ms)
{
	j->requeue = why;
	j->requeue_ms = delay_ms;
	worker_finish(w, j, JOB_END_REQUEUE);
	worker_kick(w);
}

/* What Redis answered about a finishing job. */
static void
worker_finished_cb(struct job *j, enum finish_outcome o, void *arg)
{
	struct worker *w = arg;
	char buf[32];

	worker_hb_soon(w);
	switch (o) {
	case FINISH_ACKED:
		w->done++;
		/* Formatted only when written: most are left out when busy. */
		if (log_job_would(LOG_LEVEL_INFO))
			log_job_write(LOG_LEVEL_INFO, "job %s queue=%s type=%s: "
			    "done in %s", j->id, j->queue, j->type,
			    duration_format(j->ran_ms, buf, sizeof buf));
		metrics_count(w->metrics, METRICS_PROCESSED, j->queue, j->type);
		break;
	case FINISH_RETRIED:
		w->retried++;
		metrics_count(w->metrics, METRICS_FAILED, j->queue, j->type);
		metrics_count(w->metrics, METRICS_RETRIED, j->queue, j->type);
		break;
	case FINISH_DEAD:
		metrics_count(w->metrics, METRICS_FAILED, j->queue, j->type);
		metrics_count(w->metrics, METRICS_DEAD, j->queue, j->type);
		break;
	case FINISH_REQUEUED:
	case FINISH_DISCARDED:
	case FINISH_STALE:
		break;
	case FINISH_GAVE_UP:
		worker_kick(w);
		break;
	}
	worker_forget(w, j);
}

/* ---------------------------------------------------------------------
 * Handlers.
 */

static void
worker_run_job(struct worker *w, struct job *j)
{
	char *cause = NULL;

	j->state = JOB_RUNNING;
	j->ran = 1;	/* a reservation it had is spent */
	metrics_observe(w->metrics, METRICS_WAIT, j->queue, j->type,
	    job_wait_us(j));
	if (run_start(w->run, j, j->hold != NULL ? hold_fence(j->hold) : NULL,
	    &cause) != 0) {
		/* It did not run: all its guards granted goes back. */
		if (j->hold != NULL)
			hold_release(j->hold, 0);
		worker_fail(w, j, 0, "%s", cause);
		free(cause);
	}
}

/* A handler ended: the job's end follows from its outcome. */
static void
worker_ran_cb(struct job *j, const struct handler_result *res, void *arg)
{
	struct worker *w = arg;
	char *msg = NULL;

	worker_slot_release(w, j);
	j->ran_ms = res->duration_ms;
	metrics_observe(w->metrics, METRICS_DURATION, j->queue, j->type,
	    res->duration_ms * 1000);
	w->avg_ms = w->have_avg ? (7 * w->avg_ms + res->duration_ms) / 8 :
	    res->duration_ms;
	w->have_avg = 1;
	worker_kick(w);
	/*
	 * The guards go back now, so that the next job under them need not
	 * wait for this one's ack; or with the ack itself, when the claim
	 * took them (one call for all: docs/guards.md).
	 */
	if (j->hold != NULL && (j->lease_lost || job_judge(j, res,
	    hold_lock_lost(j->hold), hold_lock_key(j->hold), &msg) !=
	    JOB_VERDICT_DONE || j->jc->result_max != 0 ||
	    hold_release_by_ack(j->hold) != 0))
		hold_release(j->hold, 1);
	free(msg);
	msg = NULL;
	if (j->lease_lost) {
		/*
		 * Another worker holds it now, or it was cancelled: nothing
		 * is ours to record.
		 */
		if (j->cancelled) {
			metrics_count(w->metrics, METRICS_CANCELLED, j->queue,
			    j->type);
			log_job(LOG_LEVEL_INFO, "job %s type=%s: cancelled "
			    "after %.1fs", j->id, j->type,
			    (double)res->duration_ms / 1000);
		}
		worker_forget(w, j);
		return;
	}
	switch (job_judge(j, res, j->hold != NULL ? hold_lock_lost(j->hold) :
	    0, j->hold != NULL ? hold_lock_key(j->hold) : NULL, &msg)) {
	case JOB_VERDICT_DONE:
		if (j->jc->result_max == 0) {
			worker_finish(w, j, JOB_END_ACK);
			break;
		}
		/* Its result outlives the handler's buffer. */
		j->result_len = res->result_len;
		j->result_size = res->result_size;
		j->result = xmalloc(res->result_len + 1);
		if (res->result_len > 0)
			memcpy(j->result, res->result, res->result_len);
		worker_finish(w, j, JOB_END_DONE);
		break;
	case JOB_VERDICT_RETRY:
		worker_fail(w, j, 0, "%s", msg);
		break;
	case JOB_VERDICT_DEAD:
		worker_fail(w, j, 1, "%s", msg);
		break;
	case JOB_VERDICT_CONFIG:
		worker_config_error(w, j, msg);
		msg = NULL;
		break;
	case JOB_VERDICT_REQUEUE:
		worker_requeue(w, j, JOB_REQUEUE_SHUTDOWN, 0);
		break;
	case JOB_VERDICT_LOCK_LOST:
		/*
		 * Back without an attempt spent, as a stall: a job that
		 * keeps losing its lock ends dead after max_stalls, as one
		 * that keeps losing its lease does.
		 */
		if (j->stalls + 1 > w->cfg->max_stalls)
			worker_fail(w, j, 1, "stalled: %u times; last: %s",
			    j->stalls + 1, msg);
		else
			worker_requeue(w, j, JOB_REQUEUE_LOCK_LOST, 0);
		break;
	}
	free(msg);
}

/* ---------------------------------------------------------------------
 * Guards.
 */

/* The lock is held by another job: apply the job's on_conflict policy. */
static void
worker_conflict(struct worker *w, struct job *j, long long pttl)
{
	const struct lock_conf *lk = &j->jc->lock;
	uint64_t delay;

	switch (lk->on_conflict) {
	case CONFLICT_FAIL:
		worker_fail(w, j, 0, "lock %s is taken by another job",
		    hold_lock_key(j->hold));
		break;
	case CONFLICT_DISCARD:
		worker_finish(w, j, JOB_END_DISCARD);
		worker_kick(w);
		break;
	case CONFLICT_REQUEUE:
		/*
		 * The job waits in the lock's wait list, and the holder's
		 * release makes it due (docs/guards.md). Should that never
		 * come (the holder died, or its release was lost), it comes
		 * back when the holder's lock expires, or after
		 * requeue_delay if that is sooner.
		 */
		delay = pttl >= 0 ? (uint64_t)pttl + 1 : lk->ttl_ms;
		if (lk->requeue_delay_ms > 0 && lk->requeue_delay_ms < delay)
			delay = lk->requeue_delay_ms;
		j->held_by = hold_lock_key(j->hold);
		worker_requeue(w, j, JOB_REQUEUE_CONFLICT, delay);
		break;
	}
}

/* The answer of a job's guards, or news of its lock while it runs. */
static void
worker_hold_cb(struct hold *h, enum hold_result res, long long ms,
    const char *why, enum rfunc_class class, void *arg)
{
	struct job *j = arg;
	struct worker *w = j->owner;
	char *msg;
	unsigned n;

	if (res != HOLD_ERROR && (n = log_ratelimit_end(&w->guard_errors)) > 0)
		log_info("guard calls work again after %u failure%s", n,
		    n == 1 ? "" : "s");
	switch (res) {
	case HOLD_GRANTED:
		worker_run_job(w, j);
		break;
	case HOLD_THROTTLED:
		if (hold_limiter(h) != NULL)
			j->held_by = hold_limiter(h)->name;
		metrics_count(w->metrics, METRICS_THROTTLED, j->held_by, NULL);
		worker_requeue(w, j, JOB_REQUEUE_THROTTLED, (uint64_t)ms);
		break;
	case HOLD_RESERVED:
		/* Back at its slot, which the reservation keeps for it. */
		j->held_by = hold_reserving(h)->name;
		metrics_count(w->metrics, METRICS_THROTTLED, j->held_by, NULL);
		j->reserve = hold_reserving(h)->name;
		j->reserve_valid_ms = guard_reserve_valid_ms(hold_reserving(h));
		worker_requeue(w, j, JOB_REQUEUE_THROTTLED, (uint64_t)ms);
		break;
	case HOLD_NEVER:
		worker_fail(w, j, 1, "limiter %s can never admit this job", why);
		break;
	case HOLD_CONFLICT:
		metrics_count(w->metrics, METRICS_CONFLICTS, j->type, NULL);
		worker_conflict(w, j, ms);
		break;
	case HOLD_ERROR:
		if (class == RFUNC_BADARG) {
			/* Outside the library's ranges (src/ranges.h), which
			 * redjobd -t checks: a configuration it did not check
			 * (an older redjobd's), or a library of another
			 * version. */
			if (hold_limiter(h) != NULL)
				xasprintf(&msg, "limiter %s: the guard functions "
				    "refuse its arguments: %s",
				    hold_limiter(h)->name, why);
			else
				xasprintf(&msg, "lock %s: the guard functions "
				    "refuse its arguments: %s",
				    hold_lock_key(h), why);
			hold_release(h, 0);	/* what earlier guards granted */
			worker_config_error(w, j, msg);
			break;
		}
		if (job_refused(j, "a guard call", why, rfunc_transient(class))) {
			worker_forget(w, j);
			worker_kick(w);
			break;
		}
		if (class == RFUNC_CONN)
			break;	/* asked again when the connection is back */
		log_ratelimit(&w->guard_errors, LOG_LEVEL_WARNING,
		    "job %s: guard call failed: %s; retrying", j->id, why);
		mtime_arm(w->retry_ev, rconn_retry_ms(w->cmd));
		break;
	case HOLD_CANCELLED:
		/* Its lease was lost while a guard call was out. */
		worker_forget(w, j);
		worker_kick(w);
		break;
	case HOLD_LOCK_LOST:
		metrics_count(w->metrics, METRICS_LOCK_LOST, NULL, NULL);
		if (j->h == NULL && j->pc == NULL)
			break;	/* its handler has ended: nothing to stop */
		log_warnx("job %s: lock %s (fence %s) lost: %s; stopping its "
		    "handler", j->id, hold_lock_key(h), hold_fence(h) != NULL ?
		    hold_fence(h) : "?", why);
		/*
		 * Lost by our own clock, the lock still stands in Redis for
		 * ms: the handler's group is killed halfway through that
		 * time, so no other holder can start while it runs.
		 */
		if (ms >= 0)
			run_stop_within(j, (uint64_t)ms / 2);
		else
			run_stop(j);
		break;
	}
}

/* Ask again for the guards of every job waiting for them. */
static void
worker_guard_all(struct worker *w)
{
	struct job *j;

	if (!rconn_ready(w->cmd))
		return;
	/* One call at a time per job; one that cannot be sent waits. */
	TAILQ_FOREACH(j, &w->jobs, entry) {
		if (j->state == JOB_GUARDING && !hold_busy(j->hold))
			(void)hold_acquire(j->hold);
	}
}

/*
 * A job of a type this configuration does not know. During a rolling
 * deploy the producers may be ahead of this worker, so it goes back to
 * its queue (no attempt spent) with a delay that grows with its age, a
 * quarter of it between 1 s and 1 min, until it is unknown_type_grace
 * old; only then is it dead, with the reason.
 */
static void
worker_unknown_type(struct worker *w, struct job *j)
{
	char grace[32];
	long long age = j->created_ms > 0 && j->claimed_ms > j->created_ms ?
	    j->claimed_ms - j->created_ms : 0;
	uint64_t delay;

	if ((uint64_t)age < w->cfg->unknown_type_grace_ms) {
		delay = (uint64_t)age / 4;
		if (delay < 1000)
			delay = 1000;
		if (delay > 60000)
			delay = 60000;
		j->held_by = j->type;
		worker_requeue(w, j, JOB_REQUEUE_UNKNOWN_TYPE, delay);
		return;
	}
	worker_fail(w, j, 1, "unknown job type \"%s\": no such job in %s "
	    "(for %s since it was enqueued: unknown_type_grace)", j->type,
	    w->cfg->path, duration_format(w->cfg->unknown_type_grace_ms,
	    grace, sizeof grace));
}

/* The guards of job j, of type jc; nothing is asked yet. */
static void
worker_hold_create(struct worker *w, struct job *j,
    const struct job_conf *jc)
{
	struct template_vars v;
	char *member;

	v.key = j->key;
	v.type = j->type;
	v.queue = j->queue;
	v.id = j->id;
	xasprintf(&member, "%s:%s", j->id, j->token);
	j->hold = hold_create(w->base, w->cmd, w->cfg->namespace, jc, &v,
	    member, j->reserved, RCONN_CALL_MS, worker_hold_cb, j);
	free(member);
}

/*
 * The claim took the guards of a job it leased (docs/guards.md, "Guards
 * in the claim"). Granted: the job holds them while it waits for a slot
 * (its lock renews itself, worker_renew_cb renews its slots). Refused:
 * what worker_hold_cb() does for the answer of a guard call, now, unless
 * only_granted (the job is going back unrun anyway). An error other than
 * a refused argument: the job asks again with a call per guard when it
 * starts, as on a cluster.
 */
static void
worker_take_claimed(struct worker *w, struct job *j, int only_granted)
{
	const struct job_conf *jc;
	enum hold_result res;
	enum rfunc_class class;
	const char *why;
	long long ms;

	jc = config_find_job(w->cfg, j->type);
	if (jc == NULL || (jc->nlimits == 0 && jc->lock.key == NULL) ||
	    (only_granted && j->guard.res != JOB_GUARD_GRANTED))
		return;
	worker_hold_create(w, j, jc);
	res = hold_claimed(j->hold, &j->guard, j->claim_sent, &ms, &why,
	    &class);
	if (res == HOLD_GRANTED || only_granted)
		return;
	if (res == HOLD_ERROR && class != RFUNC_BADARG) {
		log_ratelimit(&w->guard_errors, LOG_LEVEL_WARNING, "job %s: "
		    "the claim could not take its guards: %s; asking with a "
		    "call each", j->id, why);
		hold_free(j->hold);
		j->hold = NULL;
		return;
	}
	j->jc = jc;
	worker_hold_cb(j->hold, res, ms, why, class, j);
}

/* Start a claimed job in its slot: find its type, take its guards, run. */
static void
worker_start(struct worker *w, struct job *j)
{
	const struct job_conf *jc;

	j->jc = jc = config_find_job(w->cfg, j->type);
	if (jc == NULL) {
		worker_unknown_type(w, j);
		return;
	}
	if (jc->nlimits == 0 && jc->lock.key == NULL) {
		worker_run_job(w, j);
		return;
	}
	if (j->hold != NULL && !hold_lock_lost(j->hold)) {
		/* The claim took its guards: they are held. */
		worker_run_job(w, j);
		return;
	}
	if (j->hold != NULL) {
		/* Its lock was lost while it waited: ask again. */
		hold_release(j->hold, 0);
		hold_free(j->hold);
	}
	worker_hold_create(w, j, jc);
	j->state = JOB_GUARDING;
	if (hold_admitted(j->hold))
		worker_run_job(w, j);	/* its reservation admits it */
	else
		(void)hold_acquire(j->hold);	/* else asked again on ready */
}

/* Start claimed jobs, oldest claim first, while slots are free. */
static void
worker_fill_slots(struct worker *w)
{
	struct job *j, *t;

	TAILQ_FOREACH_SAFE(j, &w->jobs, entry, t) {
		if (w->slots >= w->cfg->concurrency || w->queued == 0)
			break;
		if (j->state != JOB_QUEUED)
			continue;
		worker_unqueue(w, j, JOB_GUARDING);
		worker_slot_take(w, j);
		worker_start(w, j);
	}
}

/* ---------------------------------------------------------------------
 * Claiming and sleeping.
 */

/* Take the jobs of a claim into the worker. */
static void
worker_intake(struct worker *w, struct job_list *got)
{
	struct job *j;
	char *cause;

	while ((j = TAILQ_FIRST(got)) != NULL) {
		TAILQ_REMOVE(got, j, entry);
		j->owner = w;
		TAILQ_INSERT_TAIL(&w->jobs, j, entry);
		w->held++;
		w->queued++;
		if (j->error != NULL) {
			/* Malformed: running it again cannot help. */
			worker_take_claimed(w, j, 1);	/* to give back */
			cause = j->error;
			j->error = NULL;
			worker_fail(w, j, 1, "%s", cause);
			free(cause);
		} else if (w->draining) {
			/* Claimed as the drain began: straight back. */
			worker_take_claimed(w, j, 1);	/* to give back */
			worker_requeue(w, j, JOB_REQUEUE_SHUTDOWN, 0);
		} else if (j->guard.res != JOB_GUARD_NONE)
			worker_take_claimed(w, j, 0);
	}
}

static void
worker_claimed_cb(const struct claim_args *a, struct claim_result *res,
    void *arg)
{
	struct worker *w = arg;
	uint64_t pause;
	unsigned n;

	w->claiming = 0;
	w->claims_ok = res->class == RFUNC_OK;
	switch (res->class) {
	case RFUNC_OK:
		break;
	case RFUNC_CONN:
		/*
		 * The call may have run: any job it leased to our token
		 * comes back after the lease, as a stall. The claim is made
		 * again when the connection is back; on a cluster whose
		 * other masters answer, the connection still is: go on with
		 * their queues, and this one in a while.
		 */
		if (rconn_ready(w->cmd)) {
			pick_due(w->pick, a->qi, mtime_now() +
			    WORKER_LANE_RETRY_MS);
			worker_kick(w);
		}
		worker_check_exit(w);
		return;
	default:
		/*
		 * OOM, LOADING, BUSY, NOPERM...: retried after a pause that
		 * grows while it lasts, so say it at once, then once a second
		 * with a count, then once when claims work again.
		 */
		log_ratelimit(&w->claim_errors, LOG_LEVEL_WARNING,
		    "claim on queue %s: %s", a->queue, res->why);
		pause = rconn_retry_ms(w->cmd);
		w->retry_at = mtime_now() + pause;
		mtime_arm(w->retry_ev, pause);
		worker_check_exit(w);
		return;
	}
	if ((n = log_ratelimit_end(&w->claim_errors)) > 0)
		log_info("claims work again after %u failure%s", n,
		    n == 1 ? "" : "s");
	beat_consumed(w->beat, res->now_ms);
	/*
	 * Ready once a claim went through: connected is not enough (an ACL
	 * or a full Redis may refuse every claim).
	 */
	if (!w->ready_sent) {
		w->ready_sent = 1;
		channel_send(w->chan_fd, "READY");
		if (w->nqueues > w->cfg->nqueues)
			log_info("ready: %zu queue%s in %zu shards, %u slots",
			    w->cfg->nqueues, w->cfg->nqueues == 1 ? "" : "s",
			    w->nqueues, w->cfg->concurrency);
		else
			log_info("ready: %zu queue%s, %u slots", w->nqueues,
			    w->nqueues == 1 ? "" : "s", w->cfg->concurrency);
	}
	if (res->malformed > 0)
		log_ratelimit(&w->malformed, LOG_LEVEL_WARNING, "queue %s: job "
		    "%s; it is in the dead set%s", a->queue, res->malformed_first,
		    res->malformed > 1 ? " with others of this claim" : "");
	worker_intake(w, &res->jobs);
	/*
	 * Fewer than asked: the queue has nothing more due now. Sleep on it
	 * until its next due time or lease expiry (server time, applied as
	 * a delay so our clock's offset does not matter).
	 */
	if (res->got < res->asked)
		pick_due(w->pick, a->qi, res->next_ms < 0 ? PICK_NEVER :
		    mtime_now() + (uint64_t)res->next_ms);
	worker_check_exit(w);
	worker_kick(w);
}

static void	worker_sleep(struct worker *);

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
	struct claim_args a;
	uint64_t now = mtime_now();
	unsigned room, ahead, n;
	size_t qi;

	worker_fill_slots(w);
	if (w->draining || w->claiming || !rconn_ready(w->cmd))
		return;		/* the drain, the reply or on_ready follows */
	if (now < w->retry_at) {
		/*
		 * libevent measures timers on the clock it cached at the top
		 * of its loop, so the retry timer can fire a little before
		 * retry_at by ours: arm it again, or nothing would ever look
		 * for work (no claim, and no wait on the markers either).
		 */
		if (!evtimer_pending(w->retry_ev, NULL))
			mtime_arm(w->retry_ev, w->retry_at - now);
		return;
	}
	ahead = w->have_avg && w->avg_ms < WORKER_SHORT_MS ? w->cfg->batch : 0;
	room = w->cfg->concurrency + ahead;
	if (w->slots + w->queued >= room || (w->queued > 0 &&
	    w->queued > ahead / 2))
		return;
	qi = pick_next(w->pick, now, w->slots + w->queued > 0);
	if (qi == (size_t)-1) {
		worker_sleep(w);
		return;
	}
	n = room - w->slots - w->queued;
	if (n > w->cfg->batch)
		n = w->cfg->batch;
	memset(&a, 0, sizeof a);
	a.qi = qi;
	a.queue = w->queues[qi];
	a.base = w->bases[qi];
	a.count = n;
	a.lease_ms = w->cfg->lease_ms;
	a.max_stalls = w->cfg->max_stalls;
	a.worker = w->name;
	a.owner = w->owner;
	a.expire = (const char *const *)w->expire;
	a.nexpire = w->nexpire;
	/*
	 * On a cluster each guard's key lives in a slot of its own, out of
	 * the claim's reach: there the jobs take their guards with a call
	 * each (worker_start).
	 */
	if (!rconn_is_cluster(w->cmd)) {
		a.guard = (const char *const *)w->guard;
		a.nguard = w->nguard;
	}
	if (claim_send(w->cmd, RCONN_CALL_MS, &a, worker_claimed_cb,
	    w) == 0) {
		w->claiming = 1;
		return;
	}
	/*
	 * The queue's master is down while others are not (a cluster): go
	 * on with the queues on those, and look at this one again in a
	 * while, or as soon as its master is back (worker_cmd_ready_cb).
	 */
	pick_due(w->pick, qi, now + WORKER_LANE_RETRY_MS);
	worker_kick(w);
}

/* A wake marker was taken, or the wait ended: look for work. */
static void
worker_woken_cb(size_t qi, void *arg)
{
	struct worker *w = arg;

	/*
	 * A marker may have been lost with the connection; and at each
	 * keep-alive, look at every queue again: what this worker knows of
	 * lease ends comes from its own claims, and a lease taken since by a
	 * worker that then died with its host must still come back.
	 */
	if (qi == WAKE_LOST || qi == WAKE_NONE) {
		pick_due_all(w->pick);
		worker_kick(w);
		return;
	}
	/* That queue has work (or was resumed). */
	pick_due(w->pick, qi, 0);
	/*
	 * Taken while this worker has no room (it slept, then filled its
	 * slots) or is leaving: put it back for another worker, or the work
	 * would wait for this one.
	 */
	if (w->draining || w->slots + w->queued >= w->cfg->concurrency)
		wake_give_back(w->cmd, wake_key(w->wake, qi));
	worker_kick(w);
}

/*
 * Nothing is due: arm the timer of the earliest known due time (server
 * time turned into a delay, so our clock's offset does not matter) and
 * sleep on the wake markers until then or until work arrives.
 */
static void
worker_sleep(struct worker *w)
{
	uint64_t now = mtime_now(), until = pick_earliest(w->pick);

	if (until != PICK_NEVER)
		mtime_arm(w->due_ev, until > now ? until - now : 0);
	if (w->wake != NULL)
		wake_sleep(w->wake);
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

/* The pause after a refusal is over: guards and claims again. */
static void
worker_retry_cb(evutil_socket_t fd, short events, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)events;
	worker_guard_all(w);
	worker_kick(w);
}

/* ---------------------------------------------------------------------
 * Leases.
 */

/*
 * A job is no longer ours: its lease was lost (reclaimed or removed), or
 * it was cancelled. Nothing is recorded for it in Redis any more: its
 * handler is stopped, exec or plugin, as for a lost lease (run_stop:
 * SIGTERM to the process group, SIGKILL after RUN_KILL_GRACE_MS; a
 * plugin's cancel flag), and the job is forgotten when it ends.
 */
static void
worker_let_go(struct worker *w, struct job *j, int cancelled)
{
	j->lease_lost = 1;
	j->cancelled = cancelled;
	if (cancelled && (j->h != NULL || j->pc != NULL))
		log_debug("job %s: cancelled; stopping its handler", j->id);
	else if (cancelled) {
		/* No handler to stop: its line is said here. */
		metrics_count(w->metrics, METRICS_CANCELLED, j->queue, j->type);
		if (!j->ran)
			log_job(LOG_LEVEL_INFO, "job %s type=%s: cancelled "
			    "before it started", j->id, j->type);
		else
			log_job(LOG_LEVEL_INFO, "job %s type=%s: cancelled "
			    "after its handler ended (%.1fs); its outcome is "
			    "not recorded", j->id, j->type,
			    (double)j->ran_ms / 1000);
	} else
		log_warnx("job %s: the lease was lost (reclaimed or "
		    "removed); stopping its handler", j->id);
	if (j->h != NULL || j->pc != NULL)
		run_stop(j);	/* forgotten when it ends */
	else if (j->hold != NULL && hold_busy(j->hold))
		hold_cancel(j->hold);	/* forgotten on HOLD_CANCELLED */
	else if (j->state != JOB_FINISHING ||
	    finish_cancel(w->finish, j) == 0)
		worker_forget(w, j);
	/* Else its finishing call is out; its answer forgets it. */
}

/* A renewal was refused: the job may be another worker's now. */
static void
worker_lease_lost_cb(const char *id, const char *token, int cancelled,
    void *arg)
{
	struct worker *w = arg;
	struct job *j;

	TAILQ_FOREACH(j, &w->jobs, entry) {
		if (!j->lease_lost && strcmp(j->id, id) == 0 &&
		    strcmp(j->token, token) == 0)
			break;
	}
	if (j != NULL)
		worker_let_go(w, j, cancelled);
}

/*
 * redjob_cancel took job QUEUE:N of queue qi from this worker (notice.c),
 * or (NOTICE_LOST) the notices are back after an outage: one renewal of
 * every lease now finds the jobs cancelled meanwhile, rather than the
 * next periodic one.
 */
static void
worker_notice_cb(size_t qi, const char *n, void *arg)
{
	struct worker *w = arg;
	struct job *j;
	size_t len;

	if (qi == NOTICE_LOST) {
		if (w->held > 0)
			lease_renew(w->lease, &w->jobs,
			    (const char *const *)w->bases, w->nqueues);
		return;
	}
	len = strlen(w->names[qi]);
	TAILQ_FOREACH(j, &w->jobs, entry) {
		if (!j->lease_lost && j->qi == qi &&
		    strncmp(j->id, w->names[qi], len) == 0 &&
		    j->id[len] == ':' && strcmp(j->id + len + 1, n) == 0)
			break;
	}
	if (j != NULL)
		worker_let_go(w, j, 1);
}

/*
 * Renew the lease of every job held, and the concurrency slots of the
 * running ones, every third of the shortest lease: a renewal can fail
 * twice before the lease runs out. Locks renew themselves (lock.c).
 */
static void
worker_renew_cb(evutil_socket_t fd, short events, void *arg)
{
	struct worker *w = arg;
	struct job *j;

	(void)fd;
	(void)events;
	mtime_arm(w->renew_ev, w->renew_ms);
	TAILQ_FOREACH(j, &w->jobs, entry) {
		if ((j->state == JOB_RUNNING || j->state == JOB_QUEUED) &&
		    j->hold != NULL)
			hold_renew(j->hold);
	}
	if (w->held > 0)
		lease_renew(w->lease, &w->jobs, (const char *const *)w->bases,
		    w->nqueues);
}

/* ---------------------------------------------------------------------
 * Connections, the supervisor, signals, shutdown.
 */

static void
worker_cmd_ready_cb(struct rconn *rc, void *arg)
{
	struct worker *w = arg;

	(void)rc;
	/* After an outage every queue may have work. */
	pick_due_all(w->pick);
	finish_kick(w->finish);
	worker_guard_all(w);
	worker_kick(w);
	sched_ready(w->sched);
}

static void
worker_fatal_cb(struct rconn *rc, void *arg)
{
	struct worker *w = arg;

	(void)rc;
	w->exit_status = EX_CONFIG;
	event_base_loopbreak(w->base);
}

static void
worker_leave_cb(struct rconn *rc, redisReply *r, void *arg)
{
	struct worker *w = arg;

	(void)rc;
	(void)r;
	event_base_loopbreak(w->base);
}

/* Leave the loop once draining is over and nothing is held. */
static void
worker_check_exit(struct worker *w)
{
	const char *argv[1] = { "PING" };

	/* A claim in flight may bring jobs: they must go back first. */
	if (!w->draining || w->held != 0 || w->claiming || w->leaving)
		return;
	/*
	 * The releases of the last jobs' locks and limiters are sent without
	 * waiting for their answers; leave once Redis has answered a PING
	 * sent after them (replies come in order), so that they are written
	 * and not dropped with the connection. Without a connection there
	 * is nothing left to write.
	 */
	w->leaving = 1;
	beat_leave(w->beat);
	if (rconn_command(w->cmd, RCONN_CALL_MS, worker_leave_cb, w, 1,
	    argv, NULL) != 0)
		event_base_loopbreak(w->base);
}

static void
worker_drain_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
	struct worker *w = arg;
	struct job *j;
	unsigned n = 0;

	(void)fd;
	(void)events;
	TAILQ_FOREACH(j, &w->jobs, entry) {
		if (j->h != NULL || j->pc != NULL) {
			run_stop(j);
			n++;
		}
	}
	if (n > 0)
		log_info("shutdown timeout: stopping %u handler%s and putting "
		    "their jobs back", n, n == 1 ? "" : "s");
	mtime_arm(w->exit_ev, RUN_KILL_GRACE_MS + WORKER_EXIT_GRACE_MS);
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
	struct job *j, *t;

	TAILQ_FOREACH_SAFE(j, &w->jobs, entry, t) {
		if (j->state == JOB_QUEUED)
			worker_requeue(w, j, JOB_REQUEUE_SHUTDOWN, 0);
	}
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
		log_info("%s: finishing %u running job%s", why, w->slots,
		    w->slots == 1 ? "" : "s");
	w->draining = 1;
	sched_stop(w->sched);
	worker_return_queued(w);
	wake_close(w->wake, w->cmd);
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

/* Send the supervisor the counters: a heartbeat. */
static void
worker_send_hb(struct worker *w)
{
	channel_send(w->chan_fd, "HB %u %llu %llu %llu", w->slots, w->done,
	    w->failed, w->retried);
	metrics_send(w->metrics, w->chan_fd);
}

/*
 * Tell the supervisor what keeps this worker from consuming, when that
 * changes: "COND redis: BUSY (a script runs too long)", or "COND" when
 * nothing does any more (docs/operations.md, the status line).
 */
static void
worker_report_condition(struct worker *w)
{
	const char *c = NULL;
	char buf[RCONN_CONDITION_MAX + 8] = "";

	if (w->cmd != NULL)
		c = rconn_condition(w->cmd, NULL);
	if (c == NULL && w->wake != NULL)
		c = wake_condition(w->wake, NULL);
	if (c == NULL && w->notice != NULL)
		c = notice_condition(w->notice, NULL);
	if (c != NULL)
		snprintf(buf, sizeof buf, "redis: %s", c);
	if (strcmp(buf, w->cond_sent) == 0)
		return;
	if (channel_send(w->chan_fd, "COND%s%s", buf[0] != '\0' ? " " : "",
	    buf) == 0) {
		snprintf(w->cond_sent, sizeof w->cond_sent, "%s", buf);
		/* The registry says it too, without waiting for its beat. */
		beat_now(w->beat);
	}
}

static void
worker_hb_cb(evutil_socket_t fd, short events, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)events;
	/* Also before READY: a worker waiting for Redis is alive. */
	worker_send_hb(w);
	worker_report_condition(w);
	log_job_flush();
	/* The jobs a configuration error ended that no line named yet. */
	log_ratelimit_flush(&w->config_errors, LOG_LEVEL_ERR,
	    "configuration error: jobs dead");
}

/*
 * The guards of job type jc for a claim to take ("guard TYPE SPEC",
 * redjob_claim in src/lua/redjob.lua): its limiters in order, then its
 * lock, as items separated by byte 30 whose fields are separated by byte
 * 31. NULL when it has none, or when a template holds one of those bytes:
 * then its jobs take their guards with a call each, as on a cluster.
 */
static char *
worker_guard_spec(const struct job_conf *jc)
{
	const struct limiter_conf *l;
	char *spec = xstrdup(""), *item, *t;
	size_t i;

	if (jc->nlimits == 0 && jc->lock.key == NULL)
		goto none;
	for (i = 0; i < jc->nlimits; i++) {
		l = jc->limits[i];
		if (l->key != NULL && strpbrk(l->key, "\036\037") != NULL)
			goto none;
		switch (l->kind) {
		case LIMITER_WINDOW:
			xasprintf(&item, "window\037%llu\037%llu",
			    (unsigned long long)l->limit,
			    (unsigned long long)l->period_ms);
			break;
		case LIMITER_GCRA:
		case LIMITER_FUNNEL:
			xasprintf(&item, "%s\037%llu\037%llu\037%llu",
			    l->kind == LIMITER_GCRA ? "gcra" : "funnel",
			    (unsigned long long)(l->kind == LIMITER_GCRA ?
			    l->burst : l->capacity),
			    (unsigned long long)l->rate.count,
			    (unsigned long long)l->rate.period_ms);
			break;
		case LIMITER_CONCURRENCY:
		default:
			xasprintf(&item, "concurrency\037%llu\037%llu",
			    (unsigned long long)l->limit,
			    (unsigned long long)l->lease_ms);
			break;
		}
		/* L NAME KIND TEMPLATE P...: the kind leads item; swap. */
		t = strchr(item, '\037');
		xasprintf(&t, "%s%sL\037%s\037%.*s\037%s%s", spec,
		    *spec != '\0' ? "\036" : "", l->name, (int)(t - item), item,
		    l->key != NULL ? l->key : "", t);
		free(item);
		free(spec);
		spec = t;
	}
	if (jc->lock.key != NULL) {
		if (strpbrk(jc->lock.key, "\036\037") != NULL)
			goto none;
		xasprintf(&t, "%s%sK\037%s\037%llu", spec,
		    *spec != '\0' ? "\036" : "", jc->lock.key,
		    (unsigned long long)jc->lock.ttl_ms);
		free(spec);
		spec = t;
	}
	return spec;
none:
	free(spec);
	return NULL;
}

/*
 * The queues of the configuration: their weights, and a lane for each
 * shard (one for a plain queue) with its name and keys.
 */
static void
worker_queues(struct worker *w)
{
	const struct config *cfg = w->cfg;
	char key[SCHEMA_KEY_MAX], name[SCHEMA_QUEUE_MAX + 8], *spec;
	unsigned *weights, *shards, k;
	size_t i, n = 0;

	weights = xcalloc(cfg->nqueues, sizeof *weights);
	shards = xcalloc(cfg->nqueues, sizeof *shards);
	for (i = 0; i < cfg->nqueues; i++) {
		weights[i] = cfg->queues[i].weight;
		shards[i] = cfg->queues[i].serve;
		w->nqueues += shards[i];
	}
	w->names = xcalloc(w->nqueues, sizeof *w->names);
	w->queues = xcalloc(w->nqueues, sizeof *w->queues);
	w->bases = xcalloc(w->nqueues, sizeof *w->bases);
	w->wake_keys = xcalloc(w->nqueues, sizeof *w->wake_keys);
	for (i = 0; i < cfg->nqueues; i++) {
		for (k = 0; k < shards[i]; k++, n++) {
			/* The configuration checked the names; they fit. */
			if (schema_shard_name(name, sizeof name,
			    cfg->queues[i].name, k) != 0 ||
			    schema_queue_base(key, sizeof key, cfg->namespace,
			    name) != 0)
				fatalx("queue %s: no valid key",
				    cfg->queues[i].name);
			w->names[n] = xstrdup(name);
			w->queues[n] = cfg->queues[i].name;
			w->bases[n] = xstrdup(key);
			if (schema_wake_key(key, sizeof key, w->bases[n]) != 0)
				fatalx("queue %s: no valid wake key", name);
			w->wake_keys[n] = xstrdup(key);
		}
	}
	w->pick = pick_create(weights, shards, cfg->nqueues);
	free(weights);
	free(shards);

	/*
	 * The job types' expiry goes with every claim, so that Redis drops
	 * a job too late to run in the claim itself, whatever queue it is
	 * in (a producer may put a type in any queue).
	 */
	w->expire = xcalloc(3 * cfg->njobs + 1, sizeof *w->expire);
	for (i = 0; i < cfg->njobs; i++) {
		if (cfg->jobs[i].expire_ms == 0)
			continue;
		w->expire[3 * w->nexpire] = xstrdup("expire");
		w->expire[3 * w->nexpire + 1] = xstrdup(cfg->jobs[i].type);
		xasprintf(&w->expire[3 * w->nexpire + 2], "%llu",
		    (unsigned long long)cfg->jobs[i].expire_ms);
		w->nexpire++;
	}

	/* The guards the claim takes, off a cluster (worker_guard_spec). */
	w->guard = xcalloc(3 * cfg->njobs + 1, sizeof *w->guard);
	for (i = 0; i < cfg->njobs; i++) {
		if ((spec = worker_guard_spec(&cfg->jobs[i])) == NULL)
			continue;
		w->guard[3 * w->nguard] = xstrdup("guard");
		w->guard[3 * w->nguard + 1] = xstrdup(cfg->jobs[i].type);
		w->guard[3 * w->nguard + 2] = spec;
		w->nguard++;
	}
}

/*
 * The period of lease and slot renewal: a third of the shortest lease
 * among the jobs' and the concurrency limiters'.
 */
static uint64_t
worker_renew_period(const struct config *cfg)
{
	uint64_t ms = cfg->lease_ms;
	size_t i;

	for (i = 0; i < cfg->nlimiters; i++) {
		if (cfg->limiters[i].kind == LIMITER_CONCURRENCY &&
		    cfg->limiters[i].lease_ms < ms)
			ms = cfg->limiters[i].lease_ms;
	}
	ms /= 3;
	return ms < 10 ? 10 : ms;
}

static struct event *
worker_event(struct worker *w, evutil_socket_t fd, short what,
    event_callback_fn cb)
{
	struct event *ev;

	if ((ev = event_new(w->base, fd, what, cb, w)) == NULL)
		fatalx("out of memory creating an event");
	return ev;
}

/*
 * Log what a Redis connection reports. A failure streak is logged as its
 * first line, then at most one line a second with a count, then once
 * when it is over; arg is the connection's own limiter in struct worker,
 * which outlives both connections.
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
	case RCONN_EVENT_NOPERM:
		cond_noperm(rconn_name(rc), cause);
		break;
	case RCONN_EVENT_NOPERM_END:
		cond_noperm_end(rconn_name(rc), cause);
		break;
	}
}

/* What the worker registry shows of this worker (beat.c). */
static void
worker_beat_cb(struct beat_report *rep, void *arg)
{
	struct worker *w = arg;
	struct job *j;
	char *jobs = NULL, *line;
	size_t len = 0, n = 0;

	rep->busy = w->slots;
	rep->cond = w->cond_sent[0] != '\0' ? w->cond_sent : NULL;
	/*
	 * Idle between claims, with the last one through and nothing
	 * wrong with either connection: deliberately idle, so consuming.
	 */
	rep->consuming = w->claims_ok && !w->draining &&
	    rconn_condition(w->cmd, NULL) == NULL && (w->wake == NULL ||
	    wake_condition(w->wake, NULL) == NULL) && (w->notice == NULL ||
	    notice_condition(w->notice, NULL) == NULL);
	TAILQ_FOREACH(j, &w->jobs, entry) {
		if (!j->slot || n++ >= BEAT_JOBS_MAX)
			continue;
		xasprintf(&line, "%s\t%s\t%lld\n", j->id, j->type,
		    j->claimed_ms);
		jobs = xreallocarray(jobs, len + strlen(line) + 1, 1);
		memcpy(jobs + len, line, strlen(line) + 1);
		len += strlen(line);
		free(line);
	}
	rep->jobs = jobs;
}

/*
 * Create a worker for the configuration: its loop, its timers, its
 * handlers and its Redis connections (which start connecting at once).
 * chan_fd is the SOCK_SEQPACKET channel to the supervisor (-1: none).
 * Exits the process if the Redis URL is unusable; the configuration
 * check makes that a programming error.
 */
struct worker *
worker_create(const struct config *cfg, int index, int chan_fd,
    const char *owner)
{
	struct worker *w;
	struct rconn_opts o;
	struct event_config *ec;
	struct timeval hb = { 1, 0 };
	char *url, *cause = NULL, host[64], name[160];

	w = xcalloc(1, sizeof *w);
	w->cfg = cfg;
	w->index = index;
	w->chan_fd = chan_fd;
	if (owner == NULL) {
		char t[TOKEN_LEN];

		token_make(t);
		memcpy(w->owner, t, CLAIM_OWNER_LEN);
	} else {
		assert(strlen(owner) == CLAIM_OWNER_LEN);
		memcpy(w->owner, owner, CLAIM_OWNER_LEN);
	}
	TAILQ_INIT(&w->jobs);
	if (gethostname(host, sizeof host) != 0)
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	snprintf(w->name, sizeof w->name, "%s:%ld:w%d", host, (long)getpid(),
	    index);

	/*
	 * Timers to the microsecond (timerfd, not epoll's millisecond
	 * timeout, which rounds up): the due time of a delayed job is a
	 * timer, and whole milliseconds lost there were most of its
	 * dispatch latency (docs/performance.md, latency).
	 */
	if ((ec = event_config_new()) == NULL ||
	    event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER) != 0 ||
	    (w->base = event_base_new_with_config(ec)) == NULL)
		fatalx("event_base_new failed");
	event_config_free(ec);
	/* Before any plugin thread runs: see cron.c, cron_prepare(). */
	if (index == 0 && sched_wanted(cfg))
		cron_prepare();
	w->metrics = metrics_create(cfg);
	worker_queues(w);
	w->kick_ev = worker_event(w, -1, 0, worker_kick_cb);
	w->due_ev = worker_event(w, -1, 0, worker_kick_cb);
	w->retry_ev = worker_event(w, -1, 0, worker_retry_cb);
	w->renew_ev = worker_event(w, -1, 0, worker_renew_cb);
	w->drain_ev = worker_event(w, -1, 0, worker_drain_timeout_cb);
	w->exit_ev = worker_event(w, -1, 0, worker_exit_cb);
	w->hb_ev = worker_event(w, -1, EV_PERSIST, worker_hb_cb);
	w->hb_soon_ev = worker_event(w, -1, 0, worker_hb_cb);
	w->sigterm_ev = worker_event(w, SIGTERM, EV_SIGNAL | EV_PERSIST,
	    worker_signal_cb);
	w->sigint_ev = worker_event(w, SIGINT, EV_SIGNAL | EV_PERSIST,
	    worker_signal_cb);
	evsignal_add(w->sigterm_ev, NULL);
	evsignal_add(w->sigint_ev, NULL);
	event_add(w->hb_ev, &hb);
	w->renew_ms = worker_renew_period(cfg);
	mtime_arm(w->renew_ev, w->renew_ms);
	if (chan_fd >= 0) {
		w->chan_ev = worker_event(w, chan_fd, EV_READ | EV_PERSIST,
		    worker_chan_cb);
		event_add(w->chan_ev, NULL);
	}
	w->run = run_create(w->base, cfg, chan_fd, worker_ran_cb, w);

	url = config_redis_url(cfg);
	memset(&o, 0, sizeof o);
	o.url = url;
	o.password = cfg->password;
	o.arg = w;
	o.on_fatal = worker_fatal_cb;
	o.on_event = worker_redis_event_cb;
	o.errors = metrics_redis_errors(w->metrics);
	snprintf(name, sizeof name, "redjob-worker-%d", index);
	o.name = name;
	o.load_library = 1;
	o.on_ready = worker_cmd_ready_cb;
	o.event_arg = &w->redis_errors[0];
	o.partial = 1;
	if ((w->cmd = rconn_create(w->base, &o, &cause)) == NULL)
		fatalx("%s", cause);
	o.partial = 0;
	snprintf(name, sizeof name, "redjob-worker-%d-wait", index);
	o.event_arg = &w->redis_errors[1];
	if ((w->wake = wake_create(w->base, &o,
	    (const char *const *)w->wake_keys, w->nqueues,
	    worker_woken_cb, w, &cause)) == NULL)
		fatalx("%s", cause);
	snprintf(name, sizeof name, "redjob-worker-%d-notice", index);
	o.event_arg = &w->redis_errors[2];
	if ((w->notice = notice_create(w->base, &o,
	    (const char *const *)w->bases, w->nqueues, w->owner,
	    worker_notice_cb, w, &cause)) == NULL)
		fatalx("%s", cause);
	free(url);
	w->finish = finish_create(w->base, w->cmd, w->nqueues,
	    RCONN_CALL_MS, cfg->lease_ms, worker_finished_cb, w);
	w->lease = lease_create(w->cmd, cfg->lease_ms, RCONN_CALL_MS,
	    worker_lease_lost_cb, w);
	w->beat = beat_create(w->base, w->cmd, cfg, index, w->owner, w->bases,
	    w->nqueues, worker_beat_cb, w);
	/* One scheduler per instance is enough: scheduler.c says why. */
	if (index == 0 && sched_wanted(cfg))
		w->sched = sched_create(w->base, w->cmd, cfg);
	return w;
}

/*
 * Run the worker until it is drained and holds nothing, or cannot go on.
 * Then close its connections, so every call still out is answered (with
 * no reply), stop what still runs, and let go of the jobs not finished
 * in Redis: their leases return them. Returns the process exit status
 * (0, or a sysexits code).
 */
int
worker_run(struct worker *w)
{
	struct job *j;
	int status;

	event_base_dispatch(w->base);
	status = w->exit_status;
	/* The last counters, so the supervisor's totals are exact. */
	worker_send_hb(w);
	wake_free(w->wake);
	notice_free(w->notice);
	rconn_free(w->cmd);
	w->wake = NULL;
	w->notice = NULL;
	w->cmd = NULL;
	TAILQ_FOREACH(j, &w->jobs, entry)
		run_abandon(j);
	if (run_free(w->run) != 0) {
		log_warnx("a plugin call did not return; exiting without "
		    "waiting for it");
		status = EX_SOFTWARE;
	}
	w->run = NULL;
	while ((j = TAILQ_FIRST(&w->jobs)) != NULL) {
		TAILQ_REMOVE(&w->jobs, j, entry);
		if (j->state == JOB_FINISHING)
			(void)finish_cancel(w->finish, j);
		job_free(j);
	}
	w->held = w->queued = w->slots = 0;
	return status;
}

/* Free a worker after worker_run(). */
void
worker_free(struct worker *w)
{
	size_t i;

	if (w == NULL)
		return;
	assert(w->cmd == NULL && w->wake == NULL && w->notice == NULL &&
	    TAILQ_EMPTY(&w->jobs));
	finish_free(w->finish);
	lease_free(w->lease);
	beat_free(w->beat);
	sched_free(w->sched);
	event_free(w->kick_ev);
	event_free(w->due_ev);
	event_free(w->retry_ev);
	event_free(w->renew_ev);
	event_free(w->drain_ev);
	event_free(w->exit_ev);
	event_free(w->hb_ev);
	event_free(w->hb_soon_ev);
	event_free(w->sigterm_ev);
	event_free(w->sigint_ev);
	if (w->chan_ev != NULL)
		event_free(w->chan_ev);
	for (i = 0; i < w->nqueues; i++) {
		free(w->names[i]);
		free(w->bases[i]);
		free(w->wake_keys[i]);
	}
	free(w->names);
	free(w->queues);
	free(w->bases);
	free(w->wake_keys);
	for (i = 0; i < 3 * w->nexpire; i++)
		free(w->expire[i]);
	free(w->expire);
	for (i = 0; i < 3 * w->nguard; i++)
		free(w->guard[i]);
	free(w->guard);
	pick_free(w->pick);
	metrics_free(w->metrics);
	event_base_free(w->base);
	free(w);
}

/*
 * The worker process: runs a worker until it is drained. Called in the
 * child right after fork, with default signal dispositions. Returns the
 * process exit status.
 */
int
worker_main(const struct config *cfg, int index, int chan_fd,
    const char *owner)
{
	struct worker *w;
	int status;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	w = worker_create(cfg, index, chan_fd, owner);
	proctitle_set("redjobd: worker %d [%s]", index, beat_queues(w->beat));
	status = worker_run(w);
	worker_free(w);
	log_info("exiting");
	return status;
}
