/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Guards: how a job's locks and limiters map to calls of the library's
 * guard functions (src/lua/guards.lua, docs/guards.md). Pure: it builds
 * keys and arguments and reads answers; the worker and the CLI send them.
 *
 * A limiter's key is NS:limit:{LIMITER:PARTITION} and a lock's is
 * NS:lock:{NAME} (schema.c spells them): the rendered template is the
 * hash tag, so each lock or limiter partition lives in one slot, apart
 * from the queue's. Values substituted into templates are escaped by
 * template_render(), so text from an enqueuer cannot add braces and move
 * a key to another slot.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "guard.h"
#include "config.h"
#include "ranges.h"
#include "schema.h"
#include "template.h"
#include "xmalloc.h"

/*
 * schema.c is linked into the public library too, so it reports a failed
 * allocation as NULL; the daemon and the CLI end on one, as xmalloc.c
 * does. Returns key.
 */
static char *
guard_key(char *key)
{
	if (key == NULL) {
		fprintf(stderr, "out of memory building a key\n");
		abort();
	}
	return key;
}

/* The key of limiter l for a job; caller frees. */
char *
guard_limit_key(const char *ns, const struct limiter_conf *l,
    const struct template_vars *v)
{
	char *part, *key;

	part = l->key != NULL ? template_render(l->key, v) : xstrdup("");
	key = guard_key(schema_limit_key(ns, l->name, part));
	free(part);
	return key;
}

/* The key of a job's lock; caller frees. */
char *
guard_lock_key(const char *ns, const struct lock_conf *lk,
    const struct template_vars *v)
{
	char *name, *key;

	name = template_render(lk->key, v);
	key = guard_key(schema_lock_key(ns, name));
	free(name);
	return key;
}

static const char *
guard_num(struct guard_call *c, int i, unsigned long long v)
{
	snprintf(c->num[i], sizeof c->num[i], "%llu", v);
	return c->num[i];
}

/*
 * The call that asks limiter l for cost (0: peek) on behalf of member (a
 * unique name of this admission: the job id and its claim token).
 */
void
guard_limit_acquire(struct guard_call *c, const char *key,
    const struct limiter_conf *l, const char *member, int cost)
{
	memset(c, 0, sizeof *c);
	c->key = xstrdup(key);
	switch (l->kind) {
	case LIMITER_WINDOW:
		c->fn = "redjob_limit_window";
		c->argv[0] = guard_num(c, 0, l->limit);
		c->argv[1] = guard_num(c, 1, l->period_ms);
		c->argv[2] = member;
		c->argv[3] = guard_num(c, 2, (unsigned)cost);
		c->argc = 4;
		break;
	case LIMITER_FUNNEL:
		c->fn = "redjob_limit_funnel";
		c->argv[0] = guard_num(c, 0, l->capacity);
		c->argv[1] = guard_num(c, 1, l->rate.count);
		c->argv[2] = guard_num(c, 2, l->rate.period_ms);
		c->argv[3] = guard_num(c, 3, (unsigned)cost);
		c->argc = 4;
		break;
	case LIMITER_GCRA:
		c->fn = "redjob_limit_gcra";
		c->argv[0] = guard_num(c, 0, l->burst);
		c->argv[1] = guard_num(c, 1, l->rate.count);
		c->argv[2] = guard_num(c, 2, l->rate.period_ms);
		c->argv[3] = guard_num(c, 3, (unsigned)cost);
		c->argc = 4;
		break;
	case LIMITER_CONCURRENCY:
		c->fn = "redjob_limit_conc_acquire";
		c->argv[0] = guard_num(c, 0, l->limit);
		c->argv[1] = guard_num(c, 1, l->lease_ms);
		c->argv[2] = member;
		c->argc = 3;
		break;
	}
}

/*
 * The call that asks a GCRA, funnel or window limiter for cost (a window
 * admits member) and, when it refuses now, reserves the request's future
 * slot (at most GUARD_RESERVE_MAX_MS ahead): answered limited 2,
 * retry_after_ms the time until the slot. Returns 0, or -1 for a
 * concurrency limiter, which cannot reserve (its slots come back when
 * holders give them back: it has a wait list instead).
 */
int
guard_limit_reserve(struct guard_call *c, const char *key,
    const struct limiter_conf *l, const char *member, int cost)
{
	memset(c, 0, sizeof *c);
	c->fn = "redjob_limit_reserve";
	switch (l->kind) {
	case LIMITER_GCRA:
	case LIMITER_FUNNEL:
		c->argv[0] = l->kind == LIMITER_GCRA ? "gcra" : "funnel";
		c->argv[1] = guard_num(c, 0, l->kind == LIMITER_GCRA ?
		    l->burst : l->capacity);
		c->argv[2] = guard_num(c, 1, l->rate.count);
		c->argv[3] = guard_num(c, 2, l->rate.period_ms);
		c->argv[4] = guard_num(c, 3, (unsigned)cost);
		c->argv[5] = guard_num(c, 4, GUARD_RESERVE_MAX_MS);
		c->argc = 6;
		break;
	case LIMITER_WINDOW:
		c->argv[0] = "window";
		c->argv[1] = guard_num(c, 0, l->limit);
		c->argv[2] = guard_num(c, 1, l->period_ms);
		c->argv[3] = member;
		c->argv[4] = guard_num(c, 2, (unsigned)cost);
		c->argv[5] = guard_num(c, 3, GUARD_RESERVE_MAX_MS);
		c->argc = 6;
		break;
	default:
		c->fn = NULL;
		return -1;
	}
	c->key = xstrdup(key);
	return 0;
}

/*
 * How long after its slot a reservation of l still admits its job: the
 * time the limiter takes to refill from empty (its burst), at least
 * GUARD_RESERVE_VALID_MS, so that a job claimed a little late is not
 * sent to the back. Later than that it asks the limiter again: late
 * jobs let through together are at most what that time admits.
 */
uint64_t
guard_reserve_valid_ms(const struct limiter_conf *l)
{
	uint64_t units, ms = 0;

	/* A window refills in one period. */
	if (l->kind == LIMITER_WINDOW)
		return l->period_ms > GUARD_RESERVE_VALID_MS ? l->period_ms :
		    GUARD_RESERVE_VALID_MS;
	units = l->kind == LIMITER_GCRA ? l->burst + 1 : l->capacity;
	if (l->rate.count > 0 && l->rate.period_ms > 0 &&
	    units <= UINT64_MAX / l->rate.period_ms)
		ms = units * l->rate.period_ms / l->rate.count;
	return ms > GUARD_RESERVE_VALID_MS ? ms : GUARD_RESERVE_VALID_MS;
}

/*
 * The call that gives back what an allowed acquire took (when a later
 * guard of the same job refuses), or releases a concurrency slot when the
 * job ends. Returns 0, or -1 if the kind has nothing to give back.
 */
int
guard_limit_undo(struct guard_call *c, const char *key,
    const struct limiter_conf *l, const char *member)
{
	memset(c, 0, sizeof *c);
	c->key = xstrdup(key);
	c->fn = "redjob_limit_undo";
	switch (l->kind) {
	case LIMITER_WINDOW:
		c->argv[0] = "window";
		c->argv[1] = member;
		c->argc = 2;
		break;
	case LIMITER_GCRA:
		c->argv[0] = "gcra";
		c->argv[1] = guard_num(c, 0, l->rate.count);
		c->argv[2] = guard_num(c, 1, l->rate.period_ms);
		c->argv[3] = "1";
		c->argc = 4;
		break;
	case LIMITER_FUNNEL:
		c->argv[0] = "funnel";
		c->argv[1] = guard_num(c, 0, l->capacity);
		c->argv[2] = guard_num(c, 1, l->rate.count);
		c->argv[3] = guard_num(c, 2, l->rate.period_ms);
		c->argv[4] = "1";
		c->argc = 5;
		break;
	case LIMITER_CONCURRENCY:
		c->fn = "redjob_limit_conc_release";
		c->argv[0] = member;
		c->argc = 1;
		break;
	}
	return 0;
}

/*
 * Have a concurrency acquire c put its caller in the limiter's wait list
 * as waiter (a job id "QUEUE:N") in the order N when it refuses. Other
 * kinds have no wait list: nothing changes.
 */
void
guard_limit_wait(struct guard_call *c, const struct limiter_conf *l,
    const char *waiter, unsigned long long order)
{
	if (l->kind != LIMITER_CONCURRENCY || waiter == NULL)
		return;
	c->argv[c->argc++] = waiter;
	c->argv[c->argc++] = guard_num(c, 5, order);
}

/*
 * The calls that release member's concurrency slot and hand over the
 * first waiter of the limiter's wait list (rel), and that hand over the
 * following one when that waiter is gone (next): see waitlist.c.
 * Returns 0, or -1 for the other kinds (no wait list).
 */
int
guard_limit_release(struct guard_call *rel, struct guard_call *next,
    const char *key, const struct limiter_conf *l, const char *member)
{
	memset(rel, 0, sizeof *rel);
	memset(next, 0, sizeof *next);
	if (l->kind != LIMITER_CONCURRENCY)
		return -1;
	rel->key = xstrdup(key);
	rel->fn = "redjob_limit_conc_release";
	rel->argv[0] = member;
	rel->argv[1] = "next";
	rel->argc = 2;
	next->key = xstrdup(key);
	next->fn = "redjob_limit_conc_next";
	next->argv[0] = guard_num(next, 0, l->limit);
	next->argc = 1;
	return 0;
}

/*
 * The call that renews a held concurrency slot. Returns 0, or -1 for the
 * kinds that hold nothing while the job runs.
 */
int
guard_limit_renew(struct guard_call *c, const char *key,
    const struct limiter_conf *l, const char *member)
{
	memset(c, 0, sizeof *c);
	if (l->kind != LIMITER_CONCURRENCY)
		return -1;
	c->key = xstrdup(key);
	c->fn = "redjob_limit_conc_renew";
	c->argv[0] = guard_num(c, 0, l->lease_ms);
	c->argv[1] = member;
	c->argc = 2;
	return 0;
}

void
guard_call_clear(struct guard_call *c)
{
	free(c->key);
	c->key = NULL;
}

static long long
guard_int(const redisReply *r)
{
	if (r->type == REDIS_REPLY_INTEGER)
		return r->integer;
	if (r->type == REDIS_REPLY_STRING)
		return strtoll(r->str, NULL, 10);
	return 0;
}

/* Read a limiter's answer. Returns 0, or -1 if it is not one. */
int
guard_parse_answer(const redisReply *r, struct guard_answer *a)
{
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 5)
		return -1;
	a->limited = (int)guard_int(r->element[0]);
	if (a->limited < 0 || a->limited > 2)
		return -1;
	a->limit = guard_int(r->element[1]);
	a->remaining = guard_int(r->element[2]);
	a->retry_after_ms = guard_int(r->element[3]);
	a->reset_after_ms = guard_int(r->element[4]);
	return 0;
}

/*
 * The steady interval between admissions of a limiter, used to spread
 * jobs throttled together over time instead of sending them back at one
 * instant (a thundering herd at retry-after).
 */
uint64_t
guard_interval_ms(const struct limiter_conf *l)
{
	switch (l->kind) {
	case LIMITER_WINDOW:
		return l->limit > 0 ? l->period_ms / l->limit : 0;
	case LIMITER_FUNNEL:
	case LIMITER_GCRA:
		return l->rate.count > 0 ? l->rate.period_ms / l->rate.count : 0;
	case LIMITER_CONCURRENCY:
		return 0;
	}
	return 0;
}

/*
 * Whether the library can compute with limiter l's values together: the
 * products guards.lua refuses past GUARD_SCALED_MAX (src/ranges.h), with
 * its formulas, computed without overflow. The ranges of each value alone
 * are config.c's. Returns 0, or -1 with the reason in why.
 */
int
guard_limiter_fits(const struct limiter_conf *l, char *why, size_t len)
{
	uint64_t t, p = l->rate.period_ms, n = l->rate.count;

	switch (l->kind) {
	case LIMITER_FUNNEL:
		/* The level is kept in units of 1/period: capacity x period. */
		if (p == 0 || l->capacity <= GUARD_SCALED_MAX / p)
			return 0;
		snprintf(why, len, "capacity %llu x the rate's period %llums "
		    "is over %llu, the largest the library can count in; "
		    "lower the capacity or state the rate over a shorter "
		    "period", (unsigned long long)l->capacity,
		    (unsigned long long)p, (unsigned long long)GUARD_SCALED_MAX);
		return -1;
	case LIMITER_GCRA:
		/* tau = ceil(period x 1000 / count) us x (burst + 1). */
		if (n == 0 || p == 0)
			return 0;
		t = (p * 1000 + n - 1) / n;
		if (t <= GUARD_SCALED_MAX / (l->burst + 1))
			return 0;
		snprintf(why, len, "burst + 1 (%llu) x the rate's emission "
		    "interval (%llu us) is over %llu us (35 years), the "
		    "largest the library can count in; lower the burst or "
		    "raise the rate", (unsigned long long)(l->burst + 1),
		    (unsigned long long)t, (unsigned long long)GUARD_SCALED_MAX);
		return -1;
	case LIMITER_WINDOW:
	case LIMITER_CONCURRENCY:
		break;
	}
	return 0;
}
