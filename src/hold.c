/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The guards of one job (docs/guards.md): each limiter of its type in the
 * order configured, then its lock. One call at a time: a limiter must not
 * be asked after an earlier one refused and was refunded. What a limiter
 * grants is given back in full (undo) if the job does not run, and a
 * concurrency slot is released when it has run; the lock is released in
 * both cases. The calls are built by guard.c; the lock is a lock.c
 * holder, which renews itself and reports its loss.
 *
 * A GCRA, funnel or window limiter that refuses reserves the job's future
 * slot instead (HOLD_RESERVED): the job comes back at that slot and is
 * then admitted by its reservation, without asking that limiter again. A
 * lock's loser waits in the lock's wait list, and a job refused by a
 * concurrency limiter in the limiter's: a release wakes the first.
 *
 * A call in flight points at the hold; the owner never frees a hold that
 * is busy (hold_free asserts it) and uses hold_cancel() to end one that
 * is.
 */
#include "autoconf.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "hold.h"
#include "backoff.h"
#include "config.h"
#include "guard.h"
#include "job.h"
#include "lock.h"
#include "log.h"
#include "mtime.h"
#include "template.h"
#include "waitlist.h"
#include "xmalloc.h"

struct hold {
	struct rconn		*rc;
	const struct job_conf	*jc;
	char			*ns;
	char			*member;	/* "ID:TOKEN", unique */
	char			*waiter;	/* the job's id "QUEUE:N" */
	unsigned long long	 order;		/* its place in wait lists: N */
	char		       **limit_keys;	/* one per jc->limits */
	size_t			 step;		/* next limiter to ask */
	size_t			 nheld;		/* limits[0..nheld) granted */
	size_t			 reserved;	/* limits[reserved] admits by
						   reservation; SIZE_MAX: none */
	const struct limiter_conf *reserving;	/* HOLD_RESERVED: which */
	struct lock		*lock;		/* NULL: the type has none */
	uint64_t		 call_ms;
	char		       (*limits_arg)[24]; /* each limiter's limit */
	int			 claimed;	/* the claim took the guards */
	int			 by_ack;	/* the ack gives them back */
	int			 acked;		/* ...and was sent with them */
	int			 busy;		/* a limiter call is out */
	int			 cancelled;
	int			 lock_lost;
	hold_cb			*cb;
	void			*arg;
};

static void	hold_lock_cb(struct lock *, enum lock_event, const char *,
		    enum rfunc_class, void *);

/*
 * Create the guards of a job of type jc (which has limits or a lock),
 * with keys rendered from v, admitted as member; reserved names the
 * limiter whose reservation admits it (NULL: none). Nothing is sent yet.
 */
struct hold *
hold_create(struct event_base *base, struct rconn *rc, const char *ns,
    const struct job_conf *jc, const struct template_vars *v,
    const char *member, const char *reserved, uint64_t call_ms, hold_cb *cb,
    void *arg)
{
	struct hold *h;
	const char *n;
	char *key;
	size_t i;

	h = xcalloc(1, sizeof *h);
	h->rc = rc;
	h->jc = jc;
	h->ns = xstrdup(ns);
	h->member = xstrdup(member);
	h->waiter = xstrdup(v->id);
	/* Its place in wait lists: the job's number in its queue. */
	n = strrchr(v->id, ':');
	h->order = n != NULL ? strtoull(n + 1, NULL, 10) : 0;
	h->call_ms = call_ms;
	h->cb = cb;
	h->arg = arg;
	h->reserved = SIZE_MAX;
	for (i = 0; reserved != NULL && i < jc->nlimits; i++) {
		if (strcmp(jc->limits[i]->name, reserved) == 0 &&
		    (jc->limits[i]->kind == LIMITER_GCRA ||
		    jc->limits[i]->kind == LIMITER_FUNNEL ||
		    jc->limits[i]->kind == LIMITER_WINDOW)) {
			h->reserved = i;
			break;
		}
	}
	if (jc->nlimits > 0) {
		h->limit_keys = xcalloc(jc->nlimits, sizeof *h->limit_keys);
		for (i = 0; i < jc->nlimits; i++)
			h->limit_keys[i] = guard_limit_key(ns, jc->limits[i],
			    v);
	}
	if (jc->lock.key != NULL) {
		key = guard_lock_key(ns, &jc->lock, v);
		h->lock = lock_create(base, rc, key, jc->lock.ttl_ms, call_ms,
		    hold_lock_cb, h);
		free(key);
		lock_set_waiter(h->lock, ns, h->waiter, h->order);
	}
	return h;
}

/* Free the guards (never while a call is out); gives nothing back. */
void
hold_free(struct hold *h)
{
	size_t i;

	if (h == NULL)
		return;
	assert(!hold_busy(h));
	for (i = 0; h->limit_keys != NULL && i < h->jc->nlimits; i++)
		free(h->limit_keys[i]);
	free(h->limit_keys);
	free(h->limits_arg);
	lock_free(h->lock);
	free(h->ns);
	free(h->member);
	free(h->waiter);
	free(h);
}

/* Send a guard call whose answer nobody waits for. */
static void
hold_send(struct hold *h, struct guard_call *c)
{
	if (c->fn != NULL)
		rconn_fcall(h->rc, h->call_ms, NULL, NULL, c->fn, c->key,
		    c->argc, c->argv, NULL);
	guard_call_clear(c);
}

/*
 * Give back the guards: all that the limiters granted (undo) when the job
 * did not run, or only the concurrency slots when it ran; the lock in
 * both cases. A concurrency slot's release, like the lock's, wakes the
 * first job in its wait list (waitlist.c). Lost replies are harmless:
 * slots and locks expire, and waiters come back at their fallback time.
 */
void
hold_release(struct hold *h, int ran)
{
	struct guard_call c, next;
	size_t i;

	if (h->acked) {
		/* The ack gave them back (hold_ack_args). */
		h->nheld = 0;
		return;
	}
	for (i = 0; i < h->nheld; i++) {
		if (i == h->reserved)
			continue;	/* its slot is the job's, run or not */
		if (guard_limit_release(&c, &next, h->limit_keys[i],
		    h->jc->limits[i], h->member) == 0) {
			(void)waitlist_release(h->rc, h->call_ms, h->ns,
			    c.key, c.fn, c.argc, c.argv, next.fn, next.argc,
			    next.argv);
			guard_call_clear(&c);
			guard_call_clear(&next);
			continue;
		}
		if (ran)
			continue;
		guard_limit_undo(&c, h->limit_keys[i], h->jc->limits[i],
		    h->member);
		hold_send(h, &c);
	}
	h->nheld = 0;
	if (h->lock != NULL)
		lock_release(h->lock);
}

/* Renew the concurrency slots held; the lock renews itself. */
void
hold_renew(struct hold *h)
{
	struct guard_call c;
	size_t i;

	if (!rconn_ready(h->rc))
		return;
	for (i = 0; i < h->nheld; i++) {
		if (i != h->reserved && guard_limit_renew(&c,
		    h->limit_keys[i], h->jc->limits[i], h->member) == 0)
			hold_send(h, &c);
	}
}

/* Step over the limiter that admits the job by its reservation. */
static void
hold_skip(struct hold *h)
{
	if (h->step == h->reserved)
		h->nheld = ++h->step;
}

/*
 * Whether the job's reservation is all it needs: nothing is left to ask
 * (the owner runs it without hold_acquire()).
 */
int
hold_admitted(struct hold *h)
{
	hold_skip(h);
	return h->step == h->jc->nlimits && h->lock == NULL;
}

/* Report res, unless the owner has cancelled: then give all back. */
static void
hold_answer(struct hold *h, enum hold_result res, long long ms,
    const char *why, enum rfunc_class class)
{
	if (h->cancelled) {
		hold_release(h, 0);
		h->cb(h, HOLD_CANCELLED, 0, "cancelled", RFUNC_OK, h->arg);
		return;
	}
	h->cb(h, res, ms, why, class, h->arg);
}

static void
hold_limit_cb(struct rconn *rc, redisReply *r, void *arg)
{
	struct hold *h = arg;
	const struct limiter_conf *l = h->jc->limits[h->step];
	enum rfunc_class class = rfunc_classify(r);
	struct guard_answer a;

	(void)rc;
	h->busy = 0;
	if (class != RFUNC_OK) {
		hold_answer(h, HOLD_ERROR, 0, r != NULL ? r->str :
		    "no reply", class);
		return;
	}
	if (guard_parse_answer(r, &a) != 0) {
		hold_answer(h, HOLD_ERROR, 0, "the limiter gave an "
		    "unexpected reply", RFUNC_OTHER);
		return;
	}
	if (a.limited == 0) {
		h->nheld = ++h->step;
		hold_skip(h);
		if (h->cancelled) {
			hold_answer(h, HOLD_CANCELLED, 0, "", RFUNC_OK);
			return;
		}
		if (h->step == h->jc->nlimits && h->lock == NULL) {
			hold_answer(h, HOLD_GRANTED, 0, "granted", RFUNC_OK);
			return;
		}
		if (hold_acquire(h) != 0)
			hold_answer(h, HOLD_ERROR, 0, "not connected",
			    RFUNC_CONN);
		return;
	}
	hold_release(h, 0);
	h->step = 0;
	if (a.limited == 2) {
		/* Its slot is taken for it: back exactly then. */
		h->reserving = l;
		hold_answer(h, HOLD_RESERVED, a.retry_after_ms, l->name,
		    RFUNC_OK);
		return;
	}
	if (a.retry_after_ms < 0) {
		hold_answer(h, HOLD_NEVER, 0, l->name, RFUNC_OK);
		return;
	}
	if (l->kind == LIMITER_CONCURRENCY) {
		/*
		 * In the limiter's wait list now: a holder's release makes
		 * it due, in order. Should that never come (the holder
		 * died, or its release was lost), it comes back when the
		 * earliest lease ends.
		 */
		hold_answer(h, HOLD_THROTTLED, a.retry_after_ms, l->name,
		    RFUNC_OK);
		return;
	}
	/*
	 * Throttled: back at the time the limiter names, spread by its
	 * interval so that the jobs throttled together do not all come
	 * back at one instant.
	 */
	hold_answer(h, HOLD_THROTTLED, a.retry_after_ms +
	    (long long)backoff_jitter(guard_interval_ms(l)), l->name,
	    RFUNC_OK);
}

static void
hold_lock_cb(struct lock *l, enum lock_event ev, const char *why,
    enum rfunc_class class, void *arg)
{
	struct hold *h = arg;
	uint64_t now;

	switch (ev) {
	case LOCK_TAKEN:
		hold_answer(h, HOLD_GRANTED, 0, why, RFUNC_OK);
		break;
	case LOCK_BUSY:
		if (!h->cancelled)
			hold_release(h, 0);
		h->step = 0;
		hold_answer(h, HOLD_CONFLICT, lock_pttl(l), why, RFUNC_OK);
		break;
	case LOCK_ERROR:
		hold_answer(h, HOLD_ERROR, 0, why, class);
		break;
	case LOCK_RENEW_FAILED:
		log_warnx("lock %s: cannot renew it (%s); retrying",
		    lock_key(l), why);
		break;
	case LOCK_RENEWED:
		log_info("lock %s: renewed again", lock_key(l));
		break;
	case LOCK_LOST:
		/* ms: until the lock can be another's in Redis (-1: it is
		 * no longer ours there already). */
		h->lock_lost = 1;
		now = mtime_now();
		h->cb(h, HOLD_LOCK_LOST, lock_expires_at(l) == 0 ? -1 :
		    lock_expires_at(l) > now ?
		    (long long)(lock_expires_at(l) - now) : 0, why, RFUNC_OK,
		    h->arg);
		break;
	}
}

/*
 * Take the next guard: the next limiter, or the lock once every limiter
 * has granted. Returns 0 (the callback follows), or -1 when the
 * connection cannot take the call now; the owner asks again later.
 */
int
hold_acquire(struct hold *h)
{
	struct guard_call c;
	int rc;

	assert(!hold_busy(h) && !h->cancelled);
	hold_skip(h);
	if (h->step < h->jc->nlimits) {
		if (guard_limit_reserve(&c, h->limit_keys[h->step],
		    h->jc->limits[h->step], h->member, 1) != 0) {
			guard_limit_acquire(&c, h->limit_keys[h->step],
			    h->jc->limits[h->step], h->member, 1);
			guard_limit_wait(&c, h->jc->limits[h->step],
			    h->waiter, h->order);
		}
		rc = rconn_fcall(h->rc, h->call_ms, hold_limit_cb, h, c.fn,
		    c.key, c.argc, c.argv, NULL);
		guard_call_clear(&c);
		if (rc == 0)
			h->busy = 1;
		return rc;
	}
	assert(h->lock != NULL);
	return lock_acquire(h->lock);
}

/* Is a call of this hold out? */
int
hold_busy(const struct hold *h)
{
	return h->busy || (h->lock != NULL && lock_busy(h->lock));
}

/*
 * The job is no longer ours while a call is out: when it returns, give
 * back everything (what it granted too) and answer HOLD_CANCELLED.
 */
void
hold_cancel(struct hold *h)
{
	assert(hold_busy(h));
	h->cancelled = 1;
}

/* The lock's fencing token, or NULL. */
const char *
hold_fence(const struct hold *h)
{
	return h->lock != NULL ? lock_fence(h->lock) : NULL;
}

/* The lock's key, or NULL. */
const char *
hold_lock_key(const struct hold *h)
{
	return h->lock != NULL ? lock_key(h->lock) : NULL;
}

/* After HOLD_RESERVED: the limiter that reserved the job's slot. */
const struct limiter_conf *
hold_reserving(const struct hold *h)
{
	return h->reserving;
}

int
hold_lock_lost(const struct hold *h)
{
	return h->lock_lost;
}

/*
 * The limiter being asked (the one a failed call was about), or NULL
 * when every limiter has granted and the lock is next.
 */
const struct limiter_conf *
hold_limiter(const struct hold *h)
{
	return h->step < h->jc->nlimits ? h->jc->limits[h->step] : NULL;
}

/*
 * Apply what the claim answered for the job's guards, which it took with
 * the claim sent at sent (mtime_now()): docs/guards.md, "Guards in the
 * claim". The hold ends as hold_acquire()'s calls would have left it: on
 * a grant every limiter is held and the lock is ours, counted from sent;
 * on a refusal nothing is held (the claim gave back what it had
 * granted). Returns what the owner would have been told, with *ms, *why
 * and *class. HOLD_ERROR with *class other than RFUNC_BADARG leaves the
 * hold as new: hold_acquire() asks again, one call per guard.
 */
enum hold_result
hold_claimed(struct hold *h, const struct job_guard *g, uint64_t sent,
    long long *ms, const char **why, enum rfunc_class *class)
{
	const struct limiter_conf *l = NULL;
	char token[LOCK_TOKEN_MAX + 1];

	*ms = 0;
	*why = "granted";
	*class = RFUNC_OK;
	if (g->idx >= 1 && g->idx <= h->jc->nlimits)
		l = h->jc->limits[g->idx - 1];
	switch (g->res) {
	case JOB_GUARD_GRANTED:
		if ((h->lock != NULL) != (g->text[0] != '\0'))
			break;	/* a fence without a lock, or no fence */
		h->claimed = 1;
		h->step = h->nheld = h->jc->nlimits;
		if (h->lock != NULL) {
			snprintf(token, sizeof token, "%s %s", h->member +
			    strlen(h->waiter) + 1, h->waiter);
			lock_hold(h->lock, token, g->text, sent);
		}
		return HOLD_GRANTED;
	case JOB_GUARD_THROTTLED:
		if (l == NULL)
			break;
		h->step = g->idx - 1;
		*why = l->name;
		*ms = g->ms;
		/* As hold_limit_cb(): spread unless it waits in a list. */
		if (l->kind != LIMITER_CONCURRENCY)
			*ms += (long long)backoff_jitter(guard_interval_ms(l));
		return HOLD_THROTTLED;
	case JOB_GUARD_RESERVED:
		if (l == NULL || l->kind == LIMITER_CONCURRENCY)
			break;
		h->reserving = l;
		*why = l->name;
		*ms = g->ms;
		return HOLD_RESERVED;
	case JOB_GUARD_NEVER:
		if (l == NULL)
			break;
		h->step = g->idx - 1;
		*why = l->name;
		return HOLD_NEVER;
	case JOB_GUARD_CONFLICT:
		if (h->lock == NULL)
			break;
		h->step = h->jc->nlimits;
		*why = "held by another";
		*ms = g->ms;
		return HOLD_CONFLICT;
	case JOB_GUARD_ERROR:
		if (rfunc_classify_error(g->text) != RFUNC_BADARG ||
		    (l == NULL && (g->idx != 0 || h->lock == NULL)))
			break;
		/* As a refused guard call: hold_limiter() names it. */
		h->step = l != NULL ? g->idx - 1 : h->jc->nlimits;
		*why = g->text;
		*class = RFUNC_BADARG;
		return HOLD_ERROR;
	case JOB_GUARD_NONE:
		break;
	}
	*why = g->res == JOB_GUARD_ERROR ? g->text :
	    "the claim's answer about the guards does not fit the job's type";
	*class = RFUNC_OTHER;
	return HOLD_ERROR;
}

/*
 * The job has run and its ack is next: have the ack give back what the
 * claim took (hold_ack_args) rather than calls of their own. Returns 0,
 * or -1 if the guards were not taken by the claim: give them back with
 * hold_release().
 */
int
hold_release_by_ack(struct hold *h)
{
	if (!h->claimed)
		return -1;
	h->by_ack = 1;
	return 0;
}

/* The most hold_ack_args() adds for h. */
size_t
hold_ack_argc(const struct hold *h)
{
	return h->by_ack ? 3 + 4 * h->jc->nlimits : 0;
}

/*
 * Add to argv (room for hold_ack_argc()) the groups of an ack's
 * "release" that give back the guards held after the run: "lock KEY
 * TOKEN" and "conc KEY MEMBER LIMIT". The lock stops renewing. The same
 * groups again when the ack is sent again. Returns how many were added.
 */
size_t
hold_ack_args(struct hold *h, const char **argv)
{
	size_t i, n = 0;

	if (!h->by_ack)
		return 0;
	if (h->limits_arg == NULL && h->jc->nlimits > 0)
		h->limits_arg = xcalloc(h->jc->nlimits, sizeof *h->limits_arg);
	for (i = 0; i < h->nheld; i++) {
		if (i == h->reserved ||
		    h->jc->limits[i]->kind != LIMITER_CONCURRENCY)
			continue;
		snprintf(h->limits_arg[i], sizeof h->limits_arg[i], "%llu",
		    (unsigned long long)h->jc->limits[i]->limit);
		argv[n++] = "conc";
		argv[n++] = h->limit_keys[i];
		argv[n++] = h->member;
		argv[n++] = h->limits_arg[i];
	}
	if (h->lock != NULL && lock_fence(h->lock) != NULL) {
		(void)lock_hand_off(h->lock);
		argv[n++] = "lock";
		argv[n++] = lock_key(h->lock);
		argv[n++] = lock_token(h->lock);
	}
	h->acked = 1;
	return n;
}
