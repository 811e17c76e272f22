/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The scheduler: enqueues the jobs of the types with schedule: at their
 * ticks (redjob.yml(5), "schedule"). It runs in worker 0 of each
 * redjobd (worker.c): one per instance is enough, since every instance
 * tries every tick and the library enqueues each tick once
 * (redjob_tick, docs/protocol.md "periodic jobs"); and a worker, unlike
 * the supervisor, already has a Redis connection that loads the library,
 * retries and reports its faults, and is replaced by a new generation
 * on a reload, which is how a changed schedule takes effect. A draining
 * worker stops scheduling at once; its successor has started already.
 *
 * Per schedule:
 *
 *   1. redjob_schedule publishes the definition (for redjob schedules)
 *      and returns the last tick enqueued, by any instance (a definition
 *      that differs from the one published before starts from now);
 *   2. the ticks after it up to now are due: the newest is the current
 *      one, the older ones were missed, and redjob_tick applies the
 *      misfire policy to them (a new schedule has no last tick and
 *      starts from now: nothing is due before its first tick);
 *   3. a timer waits for the next tick, then 2 again.
 *
 * A failed call is tried again SCHED_RETRY_MS later, logged once a
 * second at most; the ticks that pass meanwhile are due at the next
 * try, so a tick lost to a Redis outage is a missed tick, handled by
 * the policy. Ticks are wall-clock times: timers never wait longer than
 * SCHED_WAIT_MAX_MS, so a stepped clock is noticed within a minute.
 */
#include "autoconf.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "config.h"
#include "cron.h"
#include "log.h"
#include "mtime.h"
#include "rconn.h"
#include "schema.h"
#include "scheduler.h"
#include "xmalloc.h"

#define SCHED_CALL_MS		5000
#define SCHED_RETRY_MS		1000	/* after a failed call */
#define SCHED_WAIT_MAX_MS	60000	/* a timer's longest wait */
#define SCHED_PUBLISH_MS	60000	/* the definition again, for a
					   Redis restarted without it */
#define SCHED_EARLY_MS		50	/* a timer this early is on time */

/* In the order of enum misfire. */
static const char *const sched_misfires[] = { "skip", "once", "all" };

struct sched_entry {
	struct sched		*s;
	const struct job_conf	*jc;
	const struct schedule_conf *sc;
	char			 base[SCHEMA_KEY_MAX];	/* NS:{QUEUE} */
	char			 catchup[16];
	struct event		*ev;
	int64_t			 last;		/* last tick stored, ms */
	int			 have_last;
	int			 published;	/* last learned from Redis */
	int			 started;	/* published once by us */
	uint64_t		 published_at;	/* our clock */
	int64_t			 target;	/* the timer's tick, 0: none */
	int			 out;		/* a call in flight */
	struct log_ratelimit	 errors;
};

struct sched {
	struct rconn		*rc;
	struct sched_entry	*v;
	size_t			 n;
	int			 stopped;
};

static void	sched_plan(struct sched_entry *e);

/* Does any job type of cfg have a schedule? */
int
sched_wanted(const struct config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->njobs; i++) {
		if (cfg->jobs[i].schedule.on)
			return 1;
	}
	return 0;
}

/* The wall clock, ms since the epoch: ticks are wall-clock times. */
static int64_t
sched_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sched_arm(struct sched_entry *e, int64_t ms)
{
	if (ms < 0)
		ms = 0;
	if (ms > SCHED_WAIT_MAX_MS)
		ms = SCHED_WAIT_MAX_MS;
	mtime_arm(e->ev, (uint64_t)ms);
}

static void
sched_failed(struct sched_entry *e, const char *call, const char *why)
{
	log_ratelimit(&e->errors, LOG_LEVEL_WARNING, "schedule %s: %s: %s "
	    "(tried again every %ds; ticks that pass meanwhile follow "
	    "misfire: %s)", e->jc->type, call, why, SCHED_RETRY_MS / 1000,
	    sched_misfires[e->sc->misfire]);
	sched_arm(e, SCHED_RETRY_MS);
}

static void
sched_succeeded(struct sched_entry *e)
{
	unsigned n;

	if ((n = log_ratelimit_end(&e->errors)) > 0)
		log_info("schedule %s: Redis answers again after %u failure%s",
		    e->jc->type, n, n == 1 ? "" : "s");
}

/* A tick the last one stored is, or was, when Redis says v. */
static void
sched_learn(struct sched_entry *e, const redisReply *v)
{
	int64_t t;

	if (v == NULL || v->type != REDIS_REPLY_STRING || v->len == 0)
		return;
	t = strtoll(v->str, NULL, 10);
	if (!e->have_last || t > e->last) {
		e->last = t;
		e->have_last = 1;
	}
}

/*
 * The common part of the replies of fn (redjob_tick, redjob_schedule):
 * a call with no reply is tried again (the connection's own events say
 * why), an error is counted and logged, and a reply's first element is
 * the last tick Redis holds. Returns whether the rest may be read.
 */
static int
sched_reply(struct sched_entry *e, const redisReply *r, const char *fn)
{
	e->out = 0;
	if (e->s->stopped)
		return 0;
	if (r == NULL) {
		sched_arm(e, SCHED_RETRY_MS);
		return 0;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		sched_failed(e, fn, r->str);
		return 0;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 2) {
		sched_failed(e, fn, "an unexpected reply");
		return 0;
	}
	sched_succeeded(e);
	sched_learn(e, r->element[0]);
	return 1;
}

static void
sched_tick_cb(struct rconn *rc, redisReply *r, void *arg)
{
	struct sched_entry *e = arg;
	size_t i;

	(void)rc;
	if (!sched_reply(e, r, "redjob_tick"))
		return;
	for (i = 2; i + 1 < r->elements; i += 2) {
		if (r->element[i]->type != REDIS_REPLY_STRING ||
		    r->element[i + 1]->type != REDIS_REPLY_STRING)
			continue;
		log_debug("schedule %s: enqueued %s for the tick at %s ms",
		    e->jc->type, r->element[i]->str, r->element[i + 1]->str);
	}
	e->target = 0;
	sched_plan(e);
}

/* Ask redjob_tick to enqueue the n ticks due (oldest first). */
static void
sched_tick(struct sched_entry *e, const int64_t *ticks, size_t n)
{
	const char **argv;
	char (*num)[24], next[24];
	int64_t nx;
	size_t i, argc = 0;

	if (cron_next(&e->sc->cron, ticks[n - 1], &nx) != 0)
		nx = 0;
	snprintf(next, sizeof next, "%lld", (long long)nx);
	argv = xcalloc(5 + n, sizeof *argv);
	num = xcalloc(n, sizeof *num);
	argv[argc++] = e->jc->type;
	argv[argc++] = e->sc->payload;
	argv[argc++] = sched_misfires[e->sc->misfire];
	argv[argc++] = e->catchup;
	argv[argc++] = next;
	for (i = 0; i < n; i++) {
		snprintf(num[i], sizeof num[i], "%lld", (long long)ticks[i]);
		argv[argc++] = num[i];
	}
	if (rconn_fcall(e->s->rc, SCHED_CALL_MS, sched_tick_cb, e,
	    "redjob_tick", e->base, (int)argc, argv, NULL) == 0)
		e->out = 1;
	else
		sched_arm(e, SCHED_RETRY_MS);
	free(num);
	free(argv);
}

/*
 * What is due now: the ticks after the last one stored, at most
 * max_catchup + 1 of them (redjob_tick drops the older ones anyway), or
 * with none stored, the timer's own tick only. Sent if any; then the
 * timer is set for the next.
 */
static void
sched_plan(struct sched_entry *e)
{
	const struct schedule_conf *sc = e->sc;
	int64_t now = sched_now(), at = now, next, *ticks;
	size_t max = sc->max_catchup + 1, n = 0;

	if (e->target > 0 && now < e->target) {
		if (e->target - now > SCHED_EARLY_MS) {
			sched_arm(e, e->target - now);
			return;
		}
		at = e->target;
	}
	ticks = xcalloc(max, sizeof *ticks);
	if (e->have_last)
		(void)cron_prev(&sc->cron, at, e->last, ticks, max, &n);
	else if (e->target > 0)
		(void)cron_prev(&sc->cron, at, at - ((int64_t)1 << 45), ticks,
		    1, &n);
	if (n > 0) {
		sched_tick(e, ticks, n);
		free(ticks);
		return;
	}
	free(ticks);
	if (cron_next(&sc->cron, e->have_last && e->last > at ? e->last : at,
	    &next) != 0) {
		log_warnx("schedule %s: no tick in the next 60 years",
		    e->jc->type);
		return;
	}
	e->target = next;
	sched_arm(e, next - now);
}

static const char *
sched_tz(const struct sched_entry *e)
{
	return e->sc->cron.tz[0] != '\0' ? e->sc->cron.tz : "UTC";
}

/*
 * At its first publication by this worker (a start, or a reload): a
 * schedule whose line or zone differs from the one published before
 * starts from now. The ticks of the new line between the last tick
 * stored and now were never due, so they are not missed ones either.
 */
static void
sched_changed(struct sched_entry *e, const redisReply *spec,
    const redisReply *tz)
{
	int64_t now = sched_now();

	if (spec->type != REDIS_REPLY_STRING || spec->len == 0 ||
	    tz->type != REDIS_REPLY_STRING || (strcmp(spec->str,
	    e->sc->spec) == 0 && strcmp(tz->str, sched_tz(e)) == 0))
		return;
	log_info("schedule %s: was %s in %s, now %s in %s: the new one starts "
	    "from now", e->jc->type, spec->str, tz->str, e->sc->spec,
	    sched_tz(e));
	if (!e->have_last || e->last < now) {
		e->last = now;
		e->have_last = 1;
	}
}

static void
sched_publish_cb(struct rconn *rc, redisReply *r, void *arg)
{
	struct sched_entry *e = arg;

	(void)rc;
	if (!sched_reply(e, r, "redjob_schedule"))
		return;
	if (!e->started && r->elements >= 4)
		sched_changed(e, r->element[2], r->element[3]);
	e->started = 1;
	e->published = 1;
	e->published_at = mtime_now();
	sched_plan(e);
}

/* Publish the definition, and learn the last tick stored. */
static void
sched_publish(struct sched_entry *e)
{
	const char *argv[6];
	char next[24];
	int64_t nx;

	if (cron_next(&e->sc->cron, sched_now(), &nx) != 0)
		nx = 0;
	snprintf(next, sizeof next, "%lld", (long long)nx);
	argv[0] = e->jc->type;
	argv[1] = e->sc->spec;
	argv[2] = sched_tz(e);
	argv[3] = sched_misfires[e->sc->misfire];
	argv[4] = e->catchup;
	argv[5] = next;
	if (rconn_fcall(e->s->rc, SCHED_CALL_MS, sched_publish_cb, e,
	    "redjob_schedule", e->base, 6, argv, NULL) == 0)
		e->out = 1;
	else
		sched_arm(e, SCHED_RETRY_MS);
}

static void
sched_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	struct sched_entry *e = arg;

	(void)fd;
	(void)events;
	if (e->s->stopped || e->out)
		return;
	if (!rconn_ready(e->s->rc)) {
		sched_arm(e, SCHED_RETRY_MS);
		return;
	}
	if (!e->published || mtime_now() - e->published_at >=
	    SCHED_PUBLISH_MS)
		sched_publish(e);
	else
		sched_plan(e);
}

/*
 * The scheduler of cfg's schedules, calling on rc. It starts when rc is
 * ready; sched_ready() tells it rc is ready again after an outage.
 */
struct sched *
sched_create(struct event_base *base, struct rconn *rc,
    const struct config *cfg)
{
	struct sched *s;
	struct sched_entry *e;
	size_t i;

	s = xcalloc(1, sizeof *s);
	s->rc = rc;
	s->v = xcalloc(cfg->njobs, sizeof *s->v);
	for (i = 0; i < cfg->njobs; i++) {
		if (!cfg->jobs[i].schedule.on)
			continue;
		e = &s->v[s->n++];
		e->s = s;
		e->jc = &cfg->jobs[i];
		e->sc = &cfg->jobs[i].schedule;
		if (schema_queue_base(e->base, sizeof e->base, cfg->namespace,
		    e->jc->queue) != 0)
			fatalx("namespace too long for queue %s",
			    e->jc->queue);
		snprintf(e->catchup, sizeof e->catchup, "%u",
		    e->sc->max_catchup);
		if ((e->ev = event_new(base, -1, 0, sched_timer_cb, e)) ==
		    NULL)
			fatalx("event_new failed");
		log_info("schedule %s: %s%s%s, misfire %s, into queue %s",
		    e->jc->type, e->sc->spec, e->sc->cron.every_ms > 0 ? "" :
		    " in ", e->sc->cron.every_ms > 0 ? "" : e->sc->cron.tz,
		    sched_misfires[e->sc->misfire], e->jc->queue);
		sched_arm(e, 0);
	}
	return s;
}

/*
 * The connection is ready again: publish again (a Redis that restarted
 * without persistence lost the definitions) and see what is due.
 */
void
sched_ready(struct sched *s)
{
	size_t i;

	if (s == NULL || s->stopped)
		return;
	for (i = 0; i < s->n; i++) {
		s->v[i].published = 0;
		if (!s->v[i].out)
			sched_arm(&s->v[i], 0);
	}
}

/* Stop scheduling: the worker drains (a newer generation schedules). */
void
sched_stop(struct sched *s)
{
	size_t i;

	if (s == NULL || s->stopped)
		return;
	s->stopped = 1;
	for (i = 0; i < s->n; i++)
		event_del(s->v[i].ev);
	if (s->n > 0)
		log_info("scheduling stops (%zu schedule%s)", s->n,
		    s->n == 1 ? "" : "s");
}

/* Free it once its connection is closed (no call may be out). */
void
sched_free(struct sched *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n; i++) {
		assert(!s->v[i].out);
		event_free(s->v[i].ev);
	}
	free(s->v);
	free(s);
}
