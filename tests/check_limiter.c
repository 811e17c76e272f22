/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The limiter functions of the library (src/lua/guards.lua) against a
 * real redis-server, compared at every step with reference models written
 * in C from the published formulas:
 *
 *   GCRA         redis-cell's CL.THROTTLE (brandur/redis-cell
 *                src/cell/mod.rs), in microseconds, T rounded up
 *   funnel       a continuous leaky bucket, the level an exact fraction
 *   window       a log of admissions, counted over (now - period, now]
 *   concurrency  a set of holders with lease deadlines
 *
 * The models are driven over scripted sequences, whose expected answers
 * are also written out by hand (so the models are pinned too), and over
 * seeded random sequences of a few thousand steps, with the functions'
 * test-only "now MS" argument. The synthetic clock starts at T0, in the
 * future of the real one, so the keys' PEXPIREAT deadlines (set on the
 * same timeline) never fire during a run. Where real time must pass
 * (keys expiring, a call on the server's own clock), the tests poll with
 * a deadline.
 */
#include "autoconf.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <hiredis/hiredis.h>

#include "client.h"
#include "redis_fixture.h"
#include "testlib.h"

/* The synthetic clock's start: 2096, below the functions' 2^42 ms cap. */
#define T0 4000000000000LL

#define RANDOM_STEPS 3000

struct ans {
	long long	limited;
	long long	limit;
	long long	remaining;
	long long	retry;
	long long	reset;
};

/* ---------------------------------------------------------------------
 * Calling the functions.
 */

/* A number as an argument; the last 32 stay valid. */
static const char *
num(long long v)
{
	static char buf[32][32];
	static unsigned next;
	char *b = buf[next++ % 32];

	snprintf(b, sizeof buf[0], "%lld", v);
	return b;
}

/* FCALL fn 1 key args... (args NULL-terminated). Caller frees. */
static redisReply *
fcall(const char *fn, const char *key, const char *const *args)
{
	const char *argv[24];
	redisReply *r;
	int argc = 0;

	argv[argc++] = "FCALL";
	argv[argc++] = fn;
	argv[argc++] = "1";
	argv[argc++] = key;
	while (*args != NULL) {
		ck_assert_int_lt(argc, 24);
		argv[argc++] = *args++;
	}
	r = redisCommandArgv(rf.c, argc, argv, NULL);
	ck_assert_msg(r != NULL, "FCALL %s: %s", fn, rf.c->errstr);
	return r;
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* A limiter's answer: five integers. */
static struct ans
limiter(const char *fn, const char *key, const char *const *args)
{
	redisReply *r = fcall(fn, key, args);
	struct ans a;
	long long v[5];
	size_t i;

	ck_assert_msg(r->type == REDIS_REPLY_ARRAY, "%s: not an array (%s)",
	    fn, r->type == REDIS_REPLY_ERROR ? r->str : "?");
	ck_assert_msg(r->elements == 5, "%s: %zu fields", fn, r->elements);
	for (i = 0; i < 5; i++) {
		ck_assert_msg(r->element[i]->type == REDIS_REPLY_INTEGER,
		    "%s: field %zu is not an integer", fn, i);
		v[i] = r->element[i]->integer;
	}
	freeReplyObject(r);
	a.limited = v[0];
	a.limit = v[1];
	a.remaining = v[2];
	a.retry = v[3];
	a.reset = v[4];
	return a;
}

/* A function with an integer answer. */
static long long
fcall_int(const char *fn, const char *key, const char *const *args)
{
	redisReply *r = fcall(fn, key, args);
	long long v;

	ck_assert_msg(r->type == REDIS_REPLY_INTEGER, "%s: not an integer "
	    "(%s)", fn, r->type == REDIS_REPLY_ERROR ? r->str : "?");
	v = r->integer;
	freeReplyObject(r);
	return v;
}

/* A call that must fail with code as the first word and msg after it. */
static void
fcall_err(const char *code, const char *msg, const char *fn, const char *key,
    const char *const *args)
{
	redisReply *r = fcall(fn, key, args);
	size_t n = strlen(code);

	ck_assert_msg(r->type == REDIS_REPLY_ERROR, "%s: expected %s, got "
	    "reply type %d", fn, code, r->type);
	ck_assert_msg(strncmp(r->str, code, n) == 0 && r->str[n] == ' ',
	    "%s: expected %s, got \"%s\"", fn, code, r->str);
	ck_assert_msg(strstr(r->str, msg) != NULL, "%s: \"%s\" does not say "
	    "\"%s\"", fn, r->str, msg);
	freeReplyObject(r);
}

/* DUMP of a key into buf (the serialized value; empty if absent). */
static size_t
dump(const char *key, char *buf, size_t len)
{
	redisReply *r = must_command(rf.c, "DUMP %s", key);
	size_t n = 0;

	if (r->type == REDIS_REPLY_STRING) {
		ck_assert_uint_le(r->len, len);
		memcpy(buf, r->str, r->len);
		n = r->len;
	}
	freeReplyObject(r);
	return n;
}

static void
expect(const char *what, long step, struct ans want, struct ans got)
{
	ck_assert_msg(memcmp(&want, &got, sizeof want) == 0,
	    "%s, step %ld: want {%lld, %lld, %lld, %lld, %lld}, "
	    "got {%lld, %lld, %lld, %lld, %lld}", what, step,
	    want.limited, want.limit, want.remaining, want.retry, want.reset,
	    got.limited, got.limit, got.remaining, got.retry, got.reset);
}

static struct ans
mkans(long long limited, long long limit, long long remaining,
    long long retry, long long reset)
{
	struct ans a = { limited, limit, remaining, retry, reset };

	return a;
}

static int64_t
ceil_div(int64_t a, int64_t b)
{
	return a / b + (a % b != 0 && a > 0);
}

/* A seeded generator (splitmix64), so a failure can be replayed. */
static uint64_t rng;

static uint64_t
rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int64_t
rnd_below(int64_t n)
{
	return n <= 0 ? 0 : (int64_t)(rnd() % (uint64_t)n);
}

/*
 * A time step: often none, mostly up to about one unit (the steady
 * interval), sometimes up to twice the span (to drain it).
 */
static int64_t
rnd_dt(int64_t unit, int64_t span)
{
	switch (rnd_below(10)) {
	case 0: case 1: case 2:
		return 0;
	case 3: case 4: case 5: case 6:
		return rnd_below(unit + 2);
	case 7: case 8:
		return rnd_below(2 * unit + 2);
	default:
		return rnd_below(2 * span + 2);
	}
}

/* A cost: mostly 1, some peeks, some larger, some never satisfiable. */
static int64_t
rnd_cost(int64_t max)
{
	int64_t r = rnd_below(100);

	if (r < 65)
		return 1;
	if (r < 75)
		return 0;
	if (r < 95)
		return 1 + rnd_below(max);
	return max + 1 + rnd_below(2);
}

/* ---------------------------------------------------------------------
 * GCRA: the model.
 */

struct gcra_p {
	int64_t burst, count, period;		/* period in ms */
};

/* The emission interval in us, rounded up (docs/guards.md). */
static int64_t
gcra_t(const struct gcra_p *p)
{
	return ceil_div(p->period * 1000, p->count);
}

/*
 * CL.THROTTLE as redis-cell computes it (src/cell/mod.rs), with tat the
 * stored theoretical arrival time (0: no key).
 */
static struct ans
gcra_model(int64_t *tat_us, const struct gcra_p *p, int64_t cost,
    int64_t now_ms)
{
	int64_t now = now_ms * 1000;
	int64_t T = gcra_t(p);
	int64_t tau = T * (p->burst + 1);
	int64_t increment = T * cost;
	int64_t tat = *tat_us > now ? *tat_us : now;
	int64_t new_tat = tat + increment;
	int64_t allow_at = new_tat - tau;
	int64_t diff = now - allow_at;
	int64_t ttl, next, retry = -1;
	struct ans a = { 0, p->burst + 1, 0, -1, 0 };

	if (diff < 0) {
		if (increment <= tau)
			retry = -diff;
		ttl = tat - now;
		a.limited = 1;
	} else {
		ttl = new_tat - now;
		if (cost > 0)
			*tat_us = new_tat;
	}
	next = tau - ttl;
	a.remaining = next > -T ? next / T : 0;
	a.retry = retry < 0 ? -1 : ceil_div(retry, 1000);
	a.reset = ceil_div(ttl, 1000);
	return a;
}

/* Give back cost: tat -= T * cost, not below now. Returns 1 if it did. */
static int
gcra_model_undo(int64_t *tat_us, const struct gcra_p *p, int64_t cost,
    int64_t now_ms)
{
	int64_t now = now_ms * 1000;

	if (*tat_us <= now || cost == 0)
		return 0;
	*tat_us -= gcra_t(p) * cost;
	if (*tat_us < now)
		*tat_us = now;
	return 1;
}

static struct ans
gcra_call(const char *key, const struct gcra_p *p, int64_t cost,
    int64_t now_ms)
{
	return limiter("redjob_limit_gcra", key, ARGS(num(p->burst),
	    num(p->count), num(p->period), num(cost), "now", num(now_ms)));
}

static long long
gcra_undo_call(const char *key, const struct gcra_p *p, int64_t cost,
    int64_t now_ms)
{
	return fcall_int("redjob_limit_undo", key, ARGS("gcra",
	    num(p->count), num(p->period), num(cost), "now", num(now_ms)));
}

/* ---------------------------------------------------------------------
 * Funnel: the model. A bucket of capacity C that leaks count units per
 * period continuously: level(t) = max(0, level(t0) - (t - t0) * count /
 * period). Its level is a fraction, kept exactly as num / period.
 */

struct funnel_p {
	int64_t cap, count, period;
};

struct funnel_m {
	int64_t num;				/* level * period */
	int64_t ts;				/* ms */
};

static int64_t
funnel_level(const struct funnel_m *m, const struct funnel_p *p,
    int64_t now)
{
	int64_t dt = now - m->ts;

	if (m->num == 0)
		return 0;
	if (dt >= ceil_div(m->num, p->count))
		return 0;
	return m->num - dt * p->count;
}

static struct ans
funnel_answer(const struct funnel_p *p, int limited, int64_t level,
    int64_t retry)
{
	int64_t room = p->cap * p->period - level;

	return mkans(limited, p->cap, room > 0 ? room / p->period : 0, retry,
	    ceil_div(level, p->count));
}

static struct ans
funnel_model(struct funnel_m *m, const struct funnel_p *p, int64_t cost,
    int64_t now)
{
	int64_t level = funnel_level(m, p, now);
	int64_t over = level + cost * p->period - p->cap * p->period;

	if (cost > p->cap)
		return funnel_answer(p, 1, level, -1);
	if (over > 0)
		/* (quota - left) / leak rate, in ms, rounded up. */
		return funnel_answer(p, 1, level, ceil_div(over, p->count));
	if (cost > 0) {
		m->num = level + cost * p->period;
		m->ts = now;
	}
	return funnel_answer(p, 0, level + cost * p->period, -1);
}

static int
funnel_model_undo(struct funnel_m *m, const struct funnel_p *p, int64_t cost,
    int64_t now)
{
	int64_t level = funnel_level(m, p, now);

	if (level == 0 || cost == 0)
		return 0;
	level -= cost * p->period;
	m->num = level > 0 ? level : 0;
	m->ts = now;
	return 1;
}

static struct ans
funnel_call(const char *key, const struct funnel_p *p, int64_t cost,
    int64_t now)
{
	return limiter("redjob_limit_funnel", key, ARGS(num(p->cap),
	    num(p->count), num(p->period), num(cost), "now", num(now)));
}

static long long
funnel_undo_call(const char *key, const struct funnel_p *p, int64_t cost,
    int64_t now)
{
	return fcall_int("redjob_limit_undo", key, ARGS("funnel", num(p->cap),
	    num(p->count), num(p->period), num(cost), "now", num(now)));
}

/* ---------------------------------------------------------------------
 * Sliding window: the model, a log of admissions. A unit counts while
 * its time t > now - period. Times never go back in these runs, so the
 * log is in time order.
 */

#define WLOG_MAX 20000

struct wadm {
	int64_t t, cost;
	int member, undone;
};

struct window_m {
	struct wadm a[WLOG_MAX];
	int n;
};

static int64_t
window_count(const struct window_m *m, int64_t period, int64_t now)
{
	int64_t c = 0;
	int i;

	for (i = 0; i < m->n; i++)
		if (!m->a[i].undone && m->a[i].t > now - period)
			c += m->a[i].cost;
	return c;
}

/* The time of the k-th oldest live unit (k >= 1). */
static int64_t
window_kth(const struct window_m *m, int64_t period, int64_t now, int64_t k)
{
	int64_t c = 0;
	int i;

	for (i = 0; i < m->n; i++) {
		if (m->a[i].undone || m->a[i].t <= now - period)
			continue;
		c += m->a[i].cost;
		if (c >= k)
			return m->a[i].t;
	}
	ck_abort_msg("window model: no %lld-th unit", (long long)k);
	return 0;
}

static struct ans
window_model(struct window_m *m, int64_t limit, int64_t period, int member,
    int64_t cost, int64_t now)
{
	int64_t count = window_count(m, period, now);
	int64_t reset = 0;
	int i;

	for (i = m->n - 1; i >= 0; i--) {
		if (!m->a[i].undone && m->a[i].t > now - period) {
			reset = m->a[i].t + period - now;
			break;
		}
	}
	if (cost > limit)
		return mkans(1, limit, limit - count, -1, reset);
	if (count + cost > limit)
		return mkans(1, limit, limit - count, window_kth(m, period, now,
		    count + cost - limit) + period - now, reset);
	if (cost == 0)
		return mkans(0, limit, limit - count, -1, reset);
	ck_assert_int_lt(m->n, WLOG_MAX);
	m->a[m->n].t = now;
	m->a[m->n].cost = cost;
	m->a[m->n].member = member;
	m->a[m->n].undone = 0;
	m->n++;
	return mkans(0, limit, limit - count - cost, -1, period);
}

/*
 * Undo member's latest admission. Returns 1 if it was live, 0 if member
 * has none, and -1 if its latest has expired (the function may or may
 * not still hold those entries: it trims only when it admits).
 */
static int
window_model_undo(struct window_m *m, int64_t period, int member,
    int64_t now)
{
	int i;

	for (i = m->n - 1; i >= 0; i--) {
		if (m->a[i].member == member && !m->a[i].undone) {
			m->a[i].undone = 1;
			return m->a[i].t > now - period ? 1 : -1;
		}
	}
	return 0;
}

static const char *
member_name(int member)
{
	static char b[4][32];
	static unsigned next;
	char *s = b[next++ % 4];

	snprintf(s, sizeof b[0], "job:%d:tok", member);
	return s;
}

static struct ans
window_call(const char *key, int64_t limit, int64_t period, int member,
    int64_t cost, int64_t now)
{
	return limiter("redjob_limit_window", key, ARGS(num(limit),
	    num(period), member_name(member), num(cost), "now", num(now)));
}

/* ---------------------------------------------------------------------
 * Concurrency: the model, holders with lease deadlines (0: none).
 */

#define CONC_MEMBERS 6

struct conc_m {
	int64_t dl[CONC_MEMBERS];
};

static struct ans
conc_model(struct conc_m *m, int64_t limit, int64_t lease, int member,
    int64_t now)
{
	int64_t count = 0, first = -1, last = -1;
	int i;

	for (i = 0; i < CONC_MEMBERS; i++) {
		if (m->dl[i] <= now)
			continue;
		count++;
		if (first < 0 || m->dl[i] < first)
			first = m->dl[i];
		if (m->dl[i] > last)
			last = m->dl[i];
	}
	if (m->dl[member] <= now && count >= limit)
		return mkans(1, limit, 0, first - now, last - now);
	if (m->dl[member] <= now)
		count++;
	m->dl[member] = now + lease;
	last = 0;
	for (i = 0; i < CONC_MEMBERS; i++)
		if (m->dl[i] > now && m->dl[i] > last)
			last = m->dl[i];
	return mkans(0, limit, limit - count, -1, last - now);
}

static int
conc_model_renew(struct conc_m *m, int64_t lease, int member, int64_t now)
{
	if (m->dl[member] <= now)
		return 0;
	m->dl[member] = now + lease;
	return 1;
}

static int
conc_model_release(struct conc_m *m, int member, int64_t now)
{
	int held = m->dl[member] > now;

	m->dl[member] = 0;
	return held;
}

static struct ans
conc_call(const char *key, int64_t limit, int64_t lease, int member,
    int64_t now)
{
	return limiter("redjob_limit_conc_acquire", key, ARGS(num(limit),
	    num(lease), member_name(member), "now", num(now)));
}

/* ---------------------------------------------------------------------
 * Scripted sequences, with the answers worked out by hand.
 */

struct script_step {
	int64_t t;		/* ms after T0 */
	int64_t cost;
	struct ans want;
};

START_TEST(test_gcra_matches_redis_cell_formulas_on_a_script)
{
	/* burst 2, 1 per second: T = 1 s, tau = 3 s, limit 3. */
	static const struct script_step s[] = {
		{ 0, 1, { 0, 3, 2, -1, 1000 } },
		{ 0, 1, { 0, 3, 1, -1, 2000 } },
		{ 0, 1, { 0, 3, 0, -1, 3000 } },
		{ 0, 1, { 1, 3, 0, 1000, 3000 } },
		{ 999, 1, { 1, 3, 0, 1, 2001 } },
		{ 1000, 1, { 0, 3, 0, -1, 3000 } },
		{ 1000, 0, { 0, 3, 0, -1, 3000 } },
		{ 3500, 2, { 0, 3, 0, -1, 2500 } },
		{ 3500, 4, { 1, 3, 0, -1, 2500 } },
		{ 10000, 1, { 0, 3, 2, -1, 1000 } },
	};
	const struct gcra_p p = { 2, 1, 1000 };
	int64_t tat = 0;
	size_t i;

	for (i = 0; i < sizeof s / sizeof s[0]; i++) {
		struct ans model = gcra_model(&tat, &p, s[i].cost, s[i].t + T0);

		expect("gcra model against the hand-worked answer", (long)i,
		    s[i].want, model);
		expect("gcra function against the hand-worked answer",
		    (long)i, s[i].want,
		    gcra_call("rj:limit:{g:}", &p, s[i].cost, s[i].t + T0));
	}
}
END_TEST

START_TEST(test_funnel_matches_leaky_bucket_on_a_script)
{
	/* capacity 3, leaking 2 per second. */
	static const struct script_step s[] = {
		{ 0, 1, { 0, 3, 2, -1, 500 } },
		{ 0, 2, { 0, 3, 0, -1, 1500 } },
		{ 0, 1, { 1, 3, 0, 500, 1500 } },
		{ 250, 1, { 1, 3, 0, 250, 1250 } },
		{ 500, 1, { 0, 3, 0, -1, 1500 } },
		{ 501, 4, { 1, 3, 0, -1, 1499 } },
		{ 501, 0, { 0, 3, 0, -1, 1499 } },
		{ 1500, 1, { 0, 3, 1, -1, 1000 } },
		{ 5000, 3, { 0, 3, 0, -1, 1500 } },
	};
	const struct funnel_p p = { 3, 2, 1000 };
	struct funnel_m m = { 0, 0 };
	size_t i;

	for (i = 0; i < sizeof s / sizeof s[0]; i++) {
		expect("funnel model against the hand-worked answer", (long)i,
		    s[i].want, funnel_model(&m, &p, s[i].cost, s[i].t + T0));
		expect("funnel function against the hand-worked answer",
		    (long)i, s[i].want,
		    funnel_call("rj:limit:{f:}", &p, s[i].cost, s[i].t + T0));
	}
}
END_TEST

START_TEST(test_window_matches_log_on_a_script)
{
	/* 3 per second. */
	static const struct script_step s[] = {
		{ 0, 1, { 0, 3, 2, -1, 1000 } },
		{ 10, 2, { 0, 3, 0, -1, 1000 } },
		{ 20, 1, { 1, 3, 0, 980, 990 } },
		{ 20, 4, { 1, 3, 0, -1, 990 } },
		{ 1000, 1, { 0, 3, 0, -1, 1000 } },
		{ 1000, 2, { 1, 3, 0, 10, 1000 } },
		{ 1010, 2, { 0, 3, 0, -1, 1000 } },
		{ 1010, 0, { 0, 3, 0, -1, 1000 } },
		{ 1500, 0, { 0, 3, 0, -1, 510 } },
		{ 2010, 0, { 0, 3, 3, -1, 0 } },
	};
	static struct window_m m;
	size_t i;

	memset(&m, 0, sizeof m);
	for (i = 0; i < sizeof s / sizeof s[0]; i++) {
		expect("window model against the hand-worked answer", (long)i,
		    s[i].want, window_model(&m, 3, 1000, 0, s[i].cost,
		    s[i].t + T0));
		expect("window function against the hand-worked answer",
		    (long)i, s[i].want, window_call("rj:limit:{w:}", 3, 1000,
		    0, s[i].cost, s[i].t + T0));
	}
}
END_TEST

START_TEST(test_concurrency_matches_lease_set_on_a_script)
{
	const char *key = "rj:limit:{c:}";
	struct conc_m m;
	int a = 0, b = 1, c = 2, d = 3;

	memset(&m, 0, sizeof m);
#define CONC(step, mem, t, ...) do {					\
		struct ans w_ = mkans(__VA_ARGS__);			\
		expect("concurrency model", step, w_,			\
		    conc_model(&m, 2, 1000, mem, T0 + (t)));		\
		expect("concurrency function", step, w_,		\
		    conc_call(key, 2, 1000, mem, T0 + (t)));		\
	} while (0)
#define RENEW(mem, t, want) do {					\
		ck_assert_int_eq(conc_model_renew(&m, 1000, mem,	\
		    T0 + (t)), want);					\
		ck_assert_int_eq(fcall_int("redjob_limit_conc_renew",	\
		    key, ARGS("1000", member_name(mem), "now",		\
		    num(T0 + (t)))), want);				\
	} while (0)
#define RELEASE(mem, t, want) do {					\
		ck_assert_int_eq(conc_model_release(&m, mem,		\
		    T0 + (t)), want);					\
		ck_assert_int_eq(fcall_int("redjob_limit_conc_release",	\
		    key, ARGS(member_name(mem), "now", num(T0 + (t)))),	\
		    want);						\
	} while (0)

	CONC(0, a, 0, 0, 2, 1, -1, 1000);
	CONC(1, b, 100, 0, 2, 0, -1, 1000);
	/* Full: c may retry when a's lease ends (at most). */
	CONC(2, c, 200, 1, 2, 0, 800, 900);
	/* a holds already: renewed, allowed. */
	CONC(3, a, 200, 0, 2, 0, -1, 1000);
	RENEW(b, 300, 1);
	RELEASE(a, 300, 1);
	CONC(4, c, 300, 0, 2, 0, -1, 1000);
	/* b and c expire at 1300: their slots free themselves. */
	CONC(5, d, 1300, 0, 2, 1, -1, 1000);
	RENEW(b, 1300, 0);
	RELEASE(c, 1300, 0);
	RELEASE(d, 1300, 1);
	RELEASE(d, 1300, 0);
#undef CONC
#undef RENEW
#undef RELEASE
}
END_TEST

/* ---------------------------------------------------------------------
 * Random sequences against the models.
 */

/* One random run: its key, and what it exercised. */
struct random_run {
	uint64_t	seed;
	char		key[64];
	long		allowed;
	long		limited;
};

/* Seed the generator and name the run's own key. */
static void
random_begin(struct random_run *run, const char *kind, uint64_t seed)
{
	memset(run, 0, sizeof *run);
	run->seed = seed;
	rng = seed;
	snprintf(run->key, sizeof run->key, "rj:limit:{%s:%llu}", kind,
	    (unsigned long long)seed);
}

/* Compare one call with the model; count admissions and limits. */
static void
random_step(struct random_run *run, const char *what, long i,
    int64_t cost, struct ans want, struct ans got)
{
	expect(what, i, want, got);
	if (got.limited && got.retry >= 0)
		run->limited++;
	else if (!got.limited && cost > 0)
		run->allowed++;
}

/* A run that admitted or limited too little tested too little. */
static void
random_end(const struct random_run *run)
{
	ck_assert_msg(run->allowed > RANDOM_STEPS / 20 && run->limited >
	    RANDOM_STEPS / 20, "seed %llu exercised too little: %ld allowed, "
	    "%ld limited", (unsigned long long)run->seed, run->allowed,
	    run->limited);
}

static void
gcra_random(const struct gcra_p *p, uint64_t seed)
{
	int64_t T = gcra_t(p), now = T0, tat = 0, cost;
	struct random_run run;
	char what[200];
	long i;

	random_begin(&run, "g", seed);
	for (i = 0; i < RANDOM_STEPS; i++) {
		struct ans want, got;

		now += rnd_dt(T / 1000, T * (p->burst + 1) / 1000);
		snprintf(what, sizeof what, "gcra burst %lld rate %lld/%lld "
		    "ms, seed %llu, now T0+%lld", (long long)p->burst,
		    (long long)p->count, (long long)p->period,
		    (unsigned long long)seed, (long long)(now - T0));
		if (rnd_below(100) < 4) {
			cost = 1 + rnd_below(2);
			ck_assert_msg(gcra_undo_call(run.key, p, cost, now) ==
			    gcra_model_undo(&tat, p, cost, now), "%s, step "
			    "%ld: undo", what, i);
			continue;
		}
		cost = rnd_cost(p->burst + 1);
		want = gcra_model(&tat, p, cost, now);
		got = gcra_call(run.key, p, cost, now);
		random_step(&run, what, i, cost, want, got);
	}
	random_end(&run);
}

START_TEST(test_gcra_matches_model_on_random_sequences)
{
	static const struct gcra_p ps[] = {
		{ 0, 1, 1000 },		/* one per second, no burst */
		{ 15, 30, 60000 },	/* the redis-cell README */
		{ 4, 3, 1000 },		/* T = 333334 us: rounded up */
		{ 2, 7, 100 },		/* T = 14286 us */
		{ 9, 1000, 1000 },	/* T = 1 ms */
		{ 3, 2000, 1000 },	/* T = 500 us: below a ms */
		{ 50, 10, 1000 },
	};
	size_t i;

	for (i = 0; i < sizeof ps / sizeof ps[0]; i++)
		gcra_random(&ps[i], 1000 + i);
}
END_TEST

static void
funnel_random(const struct funnel_p *p, uint64_t seed)
{
	int64_t unit = p->period / p->count, now = T0, cost;
	struct funnel_m m = { 0, 0 };
	struct random_run run;
	char what[200];
	long i;

	random_begin(&run, "f", seed);
	for (i = 0; i < RANDOM_STEPS; i++) {
		struct ans want, got;

		now += rnd_dt(unit, unit * p->cap);
		snprintf(what, sizeof what, "funnel capacity %lld rate "
		    "%lld/%lld ms, seed %llu, now T0+%lld", (long long)p->cap,
		    (long long)p->count, (long long)p->period,
		    (unsigned long long)seed, (long long)(now - T0));
		if (rnd_below(100) < 4) {
			cost = 1 + rnd_below(2);
			ck_assert_msg(funnel_undo_call(run.key, p, cost, now) ==
			    funnel_model_undo(&m, p, cost, now), "%s, step "
			    "%ld: undo", what, i);
			continue;
		}
		cost = rnd_cost(p->cap);
		want = funnel_model(&m, p, cost, now);
		got = funnel_call(run.key, p, cost, now);
		random_step(&run, what, i, cost, want, got);
	}
	random_end(&run);
}

START_TEST(test_funnel_matches_model_on_random_sequences)
{
	static const struct funnel_p ps[] = {
		{ 5, 2, 1000 },
		{ 1, 1, 1000 },
		{ 15, 1, 1000 },	/* the book's funnel */
		{ 10, 3, 1000 },	/* 1/3 unit per 111.1 ms */
		{ 3, 1000, 1000 },
		{ 100, 7, 60000 },
		{ 4, 3, 2000 },		/* 1.5 per second */
	};
	size_t i;

	for (i = 0; i < sizeof ps / sizeof ps[0]; i++)
		funnel_random(&ps[i], 2000 + i);
}
END_TEST

/*
 * An admission at t trims what is at or before t - period: gone from the
 * key, so neither counted nor undone again, even if the clock steps back
 * to where it would count.
 */
static void
window_trim(struct window_m *m, int64_t t, int64_t period)
{
	int i;

	for (i = 0; i < m->n; i++)
		if (!m->a[i].undone && m->a[i].t <= t - period)
			m->a[i].undone = 1;
}

struct window_p {
	int64_t limit, period;
};

/*
 * A window through RANDOM_STEPS calls and undos against the model; with
 * back, the server's clock steps back now and then (by up to a period).
 */
static void
window_random(const struct window_p *p, uint64_t seed, int back)
{
	static struct window_m m;
	int64_t now = T0, eff = T0, seen = 0, cost;
	struct random_run run;
	char what[200];
	long long gave;
	long i;
	int member, u;

	memset(&m, 0, sizeof m);
	random_begin(&run, back ? "wb" : "w", seed);
	for (i = 0; i < RANDOM_STEPS; i++) {
		struct ans want, got;

		if (back && rnd_below(100) < 20 && now - T0 > p->period)
			now -= 1 + rnd_below(p->period);
		else
			now += rnd_dt(p->period / p->limit, p->period);
		/* The time of the last admission, kept by the limiter. */
		eff = now > seen ? now : seen;
		member = (int)rnd_below(4);
		snprintf(what, sizeof what, "window %lld per %lld ms, seed "
		    "%llu, now T0+%lld (standing at T0+%lld), member %d",
		    (long long)p->limit, (long long)p->period,
		    (unsigned long long)seed, (long long)(now - T0),
		    (long long)(eff - T0), member);
		if (rnd_below(100) < 5) {
			u = window_model_undo(&m, p->period, member, eff);
			gave = fcall_int("redjob_limit_undo", run.key,
			    ARGS("window", member_name(member), "now",
			    num(now)));
			ck_assert_msg(u < 0 || gave == u, "%s, step %ld: undo "
			    "gave %lld, want %d", what, i, gave, u);
			continue;
		}
		cost = rnd_cost(p->limit);
		want = window_model(&m, p->limit, p->period, member, cost,
		    eff);
		got = window_call(run.key, p->limit, p->period, member, cost,
		    now);
		random_step(&run, what, i, cost, want, got);
		if (!want.limited && cost > 0) {
			seen = eff;
			window_trim(&m, eff, p->period);
		}
	}
	random_end(&run);
	/* Nothing older than the window is kept. */
	ck_assert_int_le(must_int(rf.c, "ZCARD %s", run.key), p->limit);
}

/* The windows the random sequences run through. */
static const struct window_p window_ps[] = {
	{ 5, 1000 },
	{ 1, 100 },
	{ 10, 60000 },
	{ 3, 7 },
	{ 40, 1000 },
};

START_TEST(test_window_matches_model_on_random_sequences)
{
	size_t i;

	for (i = 0; i < sizeof window_ps / sizeof window_ps[0]; i++)
		window_random(&window_ps[i], 3000 + i, 0);
}
END_TEST

/*
 * The server's clock steps back now and then (by up to a period): the
 * window stands still at its last admission until the clock catches up,
 * so it answers as the model does on that clock, which never goes back
 * behind what it recorded; undo included.
 */
START_TEST(test_window_stands_still_when_the_clock_steps_back)
{
	size_t i;

	for (i = 0; i < sizeof window_ps / sizeof window_ps[0]; i++)
		window_random(&window_ps[i], 5000 + i, 1);
}
END_TEST

/*
 * A funnel whose rate's period changed converts its stored level exactly,
 * rounding up: ceil(level * new / old), which overflows a double's 53
 * bits. Read back through reset_after (rate 1 per new period, now = ts,
 * so nothing leaks): it is the converted level.
 */
START_TEST(test_funnel_converts_its_level_exactly_when_the_period_changes)
{
	const char *key = "rj:limit:{fconv}";
	unsigned __int128 want;
	uint64_t level, scale, p;
	struct ans a;
	int i, inexact = 0;

	rng = 77;
	for (i = 0; i < 2000; i++) {
		level = rnd() % (1ULL << 50);
		scale = 1 + rnd() % (1ULL << 36);
		p = 1 + rnd() % (1ULL << 36);
		if (i % 2)
			level %= 1ULL << 40;
		want = ((unsigned __int128)level * p + scale - 1) / scale;
		if (want > (unsigned __int128)1 << 51)
			want = (unsigned __int128)1 << 51;
		/* What the conversion in doubles gave. */
		if (ceil((double)level / (double)scale * (double)p) !=
		    (double)(uint64_t)want && want < (unsigned __int128)1 << 51)
			inexact++;
		freeReplyObject(must_command(rf.c, "HSET %s level %llu ts %lld "
		    "scale %llu", key, (unsigned long long)level, T0,
		    (unsigned long long)scale));
		a = limiter("redjob_limit_funnel", key, ARGS("1", "1", num(p),
		    "0", "now", num(T0)));
		ck_assert_msg((unsigned __int128)a.reset == want, "level %llu "
		    "scale %llu to %llu: reset %lld, want %llu",
		    (unsigned long long)level, (unsigned long long)scale,
		    (unsigned long long)p, a.reset, (unsigned long long)want);
		freeReplyObject(must_command(rf.c, "DEL %s", key));
	}
	/* Doubles would have got some of these wrong. */
	ck_assert_int_gt(inexact, 0);
}
END_TEST

START_TEST(test_concurrency_matches_model_on_random_sequences)
{
	static const int64_t limits[] = { 1, 2, 3 };
	static const int64_t leases[] = { 100, 1000 };
	struct conc_m m;
	int64_t now, lease, limit;
	long i, allowed, limited;
	char key[32], what[200];
	size_t li, le;
	int member;

	for (li = 0; li < 3; li++) {
		for (le = 0; le < 2; le++) {
			limit = limits[li];
			lease = leases[le];
			memset(&m, 0, sizeof m);
			rng = 4000 + li * 2 + le;
			now = T0;
			allowed = limited = 0;
			snprintf(key, sizeof key, "rj:limit:{c:%zu}",
			    li * 2 + le);
			for (i = 0; i < RANDOM_STEPS; i++) {
				now += rnd_dt(lease / 4, lease);
				member = (int)rnd_below(CONC_MEMBERS);
				snprintf(what, sizeof what, "concurrency "
				    "limit %lld lease %lld, now T0+%lld, "
				    "member %d", (long long)limit,
				    (long long)lease, (long long)(now - T0),
				    member);
				switch (rnd_below(10)) {
				case 0: case 1:
					ck_assert_msg(fcall_int(
					    "redjob_limit_conc_release", key,
					    ARGS(member_name(member), "now",
					    num(now))) == conc_model_release(
					    &m, member, now), "%s, step %ld: "
					    "release", what, i);
					break;
				case 2:
					ck_assert_msg(fcall_int(
					    "redjob_limit_conc_renew", key,
					    ARGS(num(lease), member_name(
					    member), "now", num(now))) ==
					    conc_model_renew(&m, lease, member,
					    now), "%s, step %ld: renew", what,
					    i);
					break;
				default: {
					struct ans want = conc_model(&m, limit,
					    lease, member, now);
					struct ans got = conc_call(key, limit,
					    lease, member, now);

					expect(what, i, want, got);
					if (got.limited)
						limited++;
					else
						allowed++;
					break;
				}
				}
			}
			ck_assert_msg(allowed > 100 && limited > 100,
			    "limit %lld lease %lld exercised too little: %ld "
			    "allowed, %ld limited", (long long)limit,
			    (long long)lease, allowed, limited);
		}
	}
}
END_TEST

/* ---------------------------------------------------------------------
 * Properties and definitions.
 */

START_TEST(test_window_never_admits_more_than_limit_in_any_period)
{
	enum { STEPS = 6000, LIMIT = 7, PERIOD = 1000 };
	static int64_t at[STEPS], cost_of[STEPS];
	int64_t now = T0, sum, cost;
	int n = 0, i, j, full = 0, refused = 0;
	struct ans a;

	rng = 77;
	for (i = 0; i < STEPS; i++) {
		now += rnd_below(300);
		cost = 1 + rnd_below(3);
		a = window_call("rj:limit:{wp:}", LIMIT, PERIOD,
		    (int)rnd_below(3), cost, now);
		if (a.limited) {
			refused++;
			ck_assert_int_gt(a.retry, 0);
			ck_assert_int_le(a.retry, PERIOD);
			continue;
		}
		at[n] = now;
		cost_of[n++] = cost;
	}
	/* Every window (t - PERIOD, t] ending at an admission holds at most
	 * LIMIT units, and the bound is reached: the test can fail. */
	for (i = 0; i < n; i++) {
		sum = 0;
		for (j = i; j >= 0 && at[j] > at[i] - PERIOD; j--)
			sum += cost_of[j];
		ck_assert_msg(sum <= LIMIT, "%lld units admitted in the %d ms "
		    "up to T0+%lld", (long long)sum, PERIOD,
		    (long long)(at[i] - T0));
		full += sum == LIMIT;
	}
	ck_assert_int_gt(full, 100);
	ck_assert_int_gt(refused, 500);
}
END_TEST

START_TEST(test_gcra_admits_burst_plus_one_at_once_then_refuses)
{
	const struct gcra_p p = { 4, 1, 1000 };
	struct ans a;
	int i;

	/* BURST is redis-cell's max_burst: BURST + 1 pass from idle. */
	for (i = 0; i < 5; i++) {
		a = gcra_call("rj:limit:{b:}", &p, 1, T0);
		ck_assert_msg(!a.limited, "request %d of burst 4 + 1 refused",
		    i + 1);
		ck_assert_int_eq(a.limit, 5);
		ck_assert_int_eq(a.remaining, 4 - i);
	}
	expect("the request after burst + 1", 5, mkans(1, 5, 0, 1000, 5000),
	    gcra_call("rj:limit:{b:}", &p, 1, T0));
	/* Then one per second. */
	ck_assert_int_eq(gcra_call("rj:limit:{b:}", &p, 1, T0 + 999).limited,
	    1);
	ck_assert_int_eq(gcra_call("rj:limit:{b:}", &p, 1, T0 + 1000).limited,
	    0);
	ck_assert_int_eq(gcra_call("rj:limit:{b:}", &p, 1, T0 + 1000).limited,
	    1);
	/* A burst of 0 admits exactly one at once. */
	ck_assert_int_eq(limiter("redjob_limit_gcra", "rj:limit:{b0:}",
	    ARGS("0", "1", "1000", "1", "now", num(T0))).limited, 0);
	ck_assert_int_eq(limiter("redjob_limit_gcra", "rj:limit:{b0:}",
	    ARGS("0", "1", "1000", "1", "now", num(T0))).limited, 1);
}
END_TEST

START_TEST(test_gcra_redis_cell_readme_example_on_server_clock)
{
	struct ans a;

	/* CL.THROTTLE user123 15 30 60 gives 0 16 15 -1 2 (seconds). */
	a = limiter("redjob_limit_gcra", "user123", ARGS("15", "30", "60000",
	    "1"));
	expect("CL.THROTTLE user123 15 30 60", 0, mkans(0, 16, 15, -1, 2000),
	    a);
	/*
	 * The TAT is stored in us and the key expires with it, at that us
	 * rounded up to a ms: up to 1 ms past now's ms + 2000.
	 */
	ck_assert_int_gt(must_int(rf.c, "PTTL user123"), 1000);
	ck_assert_int_le(must_int(rf.c, "PTTL user123"), 2001);
	/*
	 * The rest of the burst, then refused: one more may pass every 2 s
	 * (less the time these calls took, well under a second).
	 */
	for (int i = 0; i < 15; i++)
		ck_assert_int_eq(limiter("redjob_limit_gcra", "user123",
		    ARGS("15", "30", "60000", "1")).limited, 0);
	a = limiter("redjob_limit_gcra", "user123", ARGS("15", "30", "60000",
	    "1"));
	ck_assert_int_eq(a.limited, 1);
	ck_assert_int_eq(a.remaining, 0);
	ck_assert_msg(a.retry > 1000 && a.retry <= 2000, "retry %lld",
	    a.retry);
	ck_assert_msg(a.reset > 31000 && a.reset <= 32000, "reset %lld",
	    a.reset);
}
END_TEST

START_TEST(test_funnel_admits_capacity_at_once_then_rate)
{
	const struct funnel_p p = { 5, 2, 1000 };
	int64_t t;
	int admitted = 0, i;

	for (i = 0; i < 5; i++)
		ck_assert_int_eq(funnel_call("rj:limit:{fr:}", &p, 1,
		    T0).limited, 0);
	expect("the request after capacity", 5, mkans(1, 5, 0, 500, 2500),
	    funnel_call("rj:limit:{fr:}", &p, 1, T0));
	/* Then 2 per second: 20 more in 10 s of calls every 10 ms. */
	for (t = 10; t <= 10000; t += 10)
		admitted += !funnel_call("rj:limit:{fr:}", &p, 1,
		    T0 + t).limited;
	ck_assert_int_eq(admitted, 20);
}
END_TEST

START_TEST(test_funnel_loses_no_leaked_credit_between_calls)
{
	/*
	 * 1.5 per second, two tries every second. A funnel that truncates
	 * the leak and restarts its clock (the book's Java version) leaks
	 * 1 per second here; the exact one admits 2, 1, 2, 1, ...
	 */
	const struct funnel_p p = { 2, 3, 2000 };
	int admitted = 0, s;

	for (s = 0; s <= 20; s++) {
		admitted += !funnel_call("rj:limit:{fc:}", &p, 1,
		    T0 + s * 1000).limited;
		admitted += !funnel_call("rj:limit:{fc:}", &p, 1,
		    T0 + s * 1000).limited;
	}
	ck_assert_int_eq(admitted, 2 + 30);
}
END_TEST

START_TEST(test_cost_over_capacity_is_never_satisfiable_and_writes_nothing)
{
	const struct gcra_p g = { 2, 1, 1000 };
	const struct funnel_p f = { 3, 1, 1000 };
	char before[512], after[512];
	size_t n;
	struct ans a;

	a = gcra_call("rj:limit:{o1:}", &g, 4, T0);
	expect("gcra cost 4 > burst 2 + 1", 0, mkans(1, 3, 3, -1, 0), a);
	a = funnel_call("rj:limit:{o2:}", &f, 4, T0);
	expect("funnel cost 4 > capacity 3", 0, mkans(1, 3, 3, -1, 0), a);
	a = window_call("rj:limit:{o3:}", 3, 1000, 0, 4, T0);
	expect("window cost 4 > limit 3", 0, mkans(1, 3, 3, -1, 0), a);
	ck_assert_int_eq(must_int(rf.c, "DBSIZE"), 0);

	/* With state: it stays as it was. */
	gcra_call("rj:limit:{o1:}", &g, 1, T0);
	n = dump("rj:limit:{o1:}", before, sizeof before);
	ck_assert_uint_gt(n, 0);
	ck_assert_int_eq(gcra_call("rj:limit:{o1:}", &g, 9, T0 + 10).retry,
	    -1);
	ck_assert_uint_eq(dump("rj:limit:{o1:}", after, sizeof after), n);
	ck_assert_mem_eq(before, after, n);

	funnel_call("rj:limit:{o2:}", &f, 1, T0);
	n = dump("rj:limit:{o2:}", before, sizeof before);
	ck_assert_int_eq(funnel_call("rj:limit:{o2:}", &f, 9, T0 + 10).retry,
	    -1);
	ck_assert_uint_eq(dump("rj:limit:{o2:}", after, sizeof after), n);
	ck_assert_mem_eq(before, after, n);

	window_call("rj:limit:{o3:}", 3, 1000, 0, 1, T0);
	n = dump("rj:limit:{o3:}", before, sizeof before);
	ck_assert_int_eq(window_call("rj:limit:{o3:}", 3, 1000, 0, 9,
	    T0 + 10).retry, -1);
	ck_assert_uint_eq(dump("rj:limit:{o3:}", after, sizeof after), n);
	ck_assert_mem_eq(before, after, n);
}
END_TEST

START_TEST(test_cost_zero_peeks_without_writing)
{
	const struct gcra_p g = { 2, 1, 1000 };
	const struct funnel_p f = { 3, 1, 1000 };
	char before[512], after[512];
	size_t n;

	expect("gcra peek on nothing", 0, mkans(0, 3, 3, -1, 0),
	    gcra_call("rj:limit:{p1:}", &g, 0, T0));
	expect("funnel peek on nothing", 0, mkans(0, 3, 3, -1, 0),
	    funnel_call("rj:limit:{p2:}", &f, 0, T0));
	expect("window peek on nothing", 0, mkans(0, 3, 3, -1, 0),
	    window_call("rj:limit:{p3:}", 3, 1000, 0, 0, T0));
	ck_assert_int_eq(must_int(rf.c, "DBSIZE"), 0);

	gcra_call("rj:limit:{p1:}", &g, 2, T0);
	n = dump("rj:limit:{p1:}", before, sizeof before);
	expect("gcra peek", 0, mkans(0, 3, 1, -1, 1500),
	    gcra_call("rj:limit:{p1:}", &g, 0, T0 + 500));
	ck_assert_uint_eq(dump("rj:limit:{p1:}", after, sizeof after), n);
	ck_assert_mem_eq(before, after, n);

	funnel_call("rj:limit:{p2:}", &f, 2, T0);
	n = dump("rj:limit:{p2:}", before, sizeof before);
	expect("funnel peek", 0, mkans(0, 3, 1, -1, 1500),
	    funnel_call("rj:limit:{p2:}", &f, 0, T0 + 500));
	ck_assert_uint_eq(dump("rj:limit:{p2:}", after, sizeof after), n);
	ck_assert_mem_eq(before, after, n);

	window_call("rj:limit:{p3:}", 3, 1000, 0, 2, T0);
	n = dump("rj:limit:{p3:}", before, sizeof before);
	expect("window peek", 0, mkans(0, 3, 1, -1, 500),
	    window_call("rj:limit:{p3:}", 3, 1000, 0, 0, T0 + 500));
	ck_assert_uint_eq(dump("rj:limit:{p3:}", after, sizeof after), n);
	ck_assert_mem_eq(before, after, n);
}
END_TEST

START_TEST(test_undo_gives_back_what_an_allowed_call_took)
{
	const struct gcra_p g = { 1, 1, 1000 };
	const struct funnel_p f = { 2, 1, 1000 };
	redisReply *r;

	/* Nothing to give back. */
	ck_assert_int_eq(gcra_undo_call("rj:limit:{u1:}", &g, 1, T0), 0);
	ck_assert_int_eq(funnel_undo_call("rj:limit:{u2:}", &f, 1, T0), 0);
	ck_assert_int_eq(fcall_int("redjob_limit_undo", "rj:limit:{u3:}",
	    ARGS("window", "a")), 0);
	ck_assert_int_eq(must_int(rf.c, "DBSIZE"), 0);

	/* GCRA: full, give one back, the same request passes again. */
	gcra_call("rj:limit:{u1:}", &g, 1, T0);
	gcra_call("rj:limit:{u1:}", &g, 1, T0);
	ck_assert_int_eq(gcra_call("rj:limit:{u1:}", &g, 1, T0).limited, 1);
	ck_assert_int_eq(gcra_undo_call("rj:limit:{u1:}", &g, 1, T0), 1);
	expect("gcra after undo", 0, mkans(0, 2, 0, -1, 2000),
	    gcra_call("rj:limit:{u1:}", &g, 1, T0));
	/* Undo all: the key is gone, as if never used. */
	ck_assert_int_eq(gcra_undo_call("rj:limit:{u1:}", &g, 5, T0), 1);
	ck_assert_int_eq(must_int(rf.c, "EXISTS rj:limit:{u1:}"), 0);

	/* Funnel. */
	funnel_call("rj:limit:{u2:}", &f, 2, T0);
	ck_assert_int_eq(funnel_call("rj:limit:{u2:}", &f, 1, T0).limited,
	    1);
	ck_assert_int_eq(funnel_undo_call("rj:limit:{u2:}", &f, 1, T0), 1);
	expect("funnel after undo", 0, mkans(0, 2, 0, -1, 2000),
	    funnel_call("rj:limit:{u2:}", &f, 1, T0));
	ck_assert_int_eq(funnel_undo_call("rj:limit:{u2:}", &f, 3, T0), 1);
	ck_assert_int_eq(must_int(rf.c, "EXISTS rj:limit:{u2:}"), 0);

	/* Window: the entries of that admission go, others stay. */
	window_call("rj:limit:{u3:}", 3, 1000, 1, 1, T0);
	window_call("rj:limit:{u3:}", 3, 1000, 2, 2, T0 + 1);
	ck_assert_int_eq(window_call("rj:limit:{u3:}", 3, 1000, 3, 1,
	    T0 + 2).limited, 1);
	ck_assert_int_eq(fcall_int("redjob_limit_undo", "rj:limit:{u3:}",
	    ARGS("window", member_name(2))), 1);
	ck_assert_int_eq(must_int(rf.c, "ZCARD rj:limit:{u3:}"), 1);
	r = must_command(rf.c, "ZSCORE rj:limit:{u3:} %s", member_name(1));
	ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
	freeReplyObject(r);
	expect("window after undo", 0, mkans(0, 3, 1, -1, 1000),
	    window_call("rj:limit:{u3:}", 3, 1000, 3, 1, T0 + 2));
	/* A member admitted twice: undo takes the latest only. */
	window_call("rj:limit:{u3:}", 5, 1000, 1, 1, T0 + 3);
	ck_assert_int_eq(must_int(rf.c, "ZCARD rj:limit:{u3:}"), 3);
	ck_assert_int_eq(fcall_int("redjob_limit_undo", "rj:limit:{u3:}",
	    ARGS("window", member_name(1))), 1);
	ck_assert_int_eq(must_int(rf.c, "ZCARD rj:limit:{u3:}"), 2);
	r = must_command(rf.c, "ZSCORE rj:limit:{u3:} %s", member_name(1));
	ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
	ck_assert_str_eq(r->str, num(T0));
	freeReplyObject(r);
}
END_TEST

START_TEST(test_window_member_used_again_never_collides)
{
	struct ans a;
	int i;

	/* The same member, the same ms, costs of 1 and 3: 7 entries. */
	for (i = 0; i < 3; i++) {
		a = window_call("rj:limit:{m:}", 100, 1000, 0, i == 1 ? 3 : 1,
		    T0);
		ck_assert_int_eq(a.limited, 0);
	}
	ck_assert_int_eq(must_int(rf.c, "ZCARD rj:limit:{m:}"), 5);
	ck_assert_int_eq(window_call("rj:limit:{m:}", 100, 1000, 0, 0,
	    T0).remaining, 95);
	/* Undo takes them back one admission at a time, latest first. */
	ck_assert_int_eq(fcall_int("redjob_limit_undo", "rj:limit:{m:}",
	    ARGS("window", member_name(0))), 1);
	ck_assert_int_eq(must_int(rf.c, "ZCARD rj:limit:{m:}"), 4);
	ck_assert_int_eq(fcall_int("redjob_limit_undo", "rj:limit:{m:}",
	    ARGS("window", member_name(0))), 1);
	ck_assert_int_eq(must_int(rf.c, "ZCARD rj:limit:{m:}"), 1);
	ck_assert_int_eq(fcall_int("redjob_limit_undo", "rj:limit:{m:}",
	    ARGS("window", member_name(0))), 1);
	ck_assert_int_eq(fcall_int("redjob_limit_undo", "rj:limit:{m:}",
	    ARGS("window", member_name(0))), 0);
	ck_assert_int_eq(must_int(rf.c, "EXISTS rj:limit:{m:}"), 0);
}
END_TEST

/* Poll until key is gone; fail after ms. */
static void
wait_gone(const char *key, int ms)
{
	uint64_t deadline = testlib_now_ms() + (uint64_t)ms;

	while (must_int(rf.c, "EXISTS %s", key) != 0) {
		ck_assert_msg(testlib_now_ms() < deadline, "%s still exists "
		    "after %d ms (PTTL %lld)", key, ms,
		    must_int(rf.c, "PTTL %s", key));
		usleep(5000);
	}
}

START_TEST(test_keys_expire_when_their_state_runs_out)
{
	long long pttl;
	struct ans a;

	/* On the server's clock: no "now". */
	a = limiter("redjob_limit_gcra", "rj:limit:{e1:}", ARGS("0", "10",
	    "1000", "1"));
	ck_assert_int_eq(a.reset, 100);
	a = limiter("redjob_limit_window", "rj:limit:{e2:}", ARGS("2", "150",
	    "x", "1"));
	ck_assert_int_eq(a.reset, 150);
	a = limiter("redjob_limit_funnel", "rj:limit:{e3:}", ARGS("2", "1",
	    "100", "2"));
	ck_assert_int_eq(a.reset, 200);
	a = limiter("redjob_limit_conc_acquire", "rj:limit:{e4:}", ARGS("2",
	    "120", "x"));
	ck_assert_int_eq(a.reset, 120);

	/* The TAT is in us; its key expires at that us rounded up to ms. */
	pttl = must_int(rf.c, "PTTL rj:limit:{e1:}");
	ck_assert_msg(pttl > 0 && pttl <= 101, "gcra PTTL %lld", pttl);
	pttl = must_int(rf.c, "PTTL rj:limit:{e2:}");
	ck_assert_msg(pttl > 0 && pttl <= 150, "window PTTL %lld", pttl);
	pttl = must_int(rf.c, "PTTL rj:limit:{e3:}");
	ck_assert_msg(pttl > 0 && pttl <= 200, "funnel PTTL %lld", pttl);
	pttl = must_int(rf.c, "PTTL rj:limit:{e4:}");
	ck_assert_msg(pttl > 0 && pttl <= 120, "concurrency PTTL %lld", pttl);

	wait_gone("rj:limit:{e1:}", 3000);
	wait_gone("rj:limit:{e2:}", 3000);
	wait_gone("rj:limit:{e3:}", 3000);
	wait_gone("rj:limit:{e4:}", 3000);
}
END_TEST

START_TEST(test_window_on_server_clock_refuses_until_the_oldest_leaves)
{
	uint64_t start, deadline;
	struct ans a;
	int i;

	start = testlib_now_ms();
	for (i = 0; i < 3; i++) {
		a = limiter("redjob_limit_window", "rj:limit:{rt:}", ARGS("3",
		    "300", "job", "1"));
		ck_assert_int_eq(a.limited, 0);
		ck_assert_int_eq(a.remaining, 2 - i);
	}
	a = limiter("redjob_limit_window", "rj:limit:{rt:}", ARGS("3", "300",
	    "job", "1"));
	ck_assert_int_eq(a.limited, 1);
	ck_assert_msg(a.retry > 0 && a.retry <= 300, "retry %lld", a.retry);
	/* The first admission leaves 300 ms after it came. */
	deadline = start + 3000;
	while (limiter("redjob_limit_window", "rj:limit:{rt:}", ARGS("3",
	    "300", "job", "1")).limited) {
		ck_assert_msg(testlib_now_ms() < deadline, "never allowed");
		usleep(5000);
	}
	ck_assert_uint_ge(testlib_now_ms() - start, 290);
}
END_TEST

START_TEST(test_concurrency_holders_expire_release_and_renew)
{
	const char *key = "rj:limit:{cc:}";
	int i;

	for (i = 0; i < 3; i++)
		ck_assert_int_eq(conc_call(key, 3, 1000, i, T0).limited, 0);
	/* At most 3: the fourth waits for the earliest lease. */
	expect("the fourth holder", 0, mkans(1, 3, 0, 900, 900),
	    conc_call(key, 3, 1000, 3, T0 + 100));
	ck_assert_int_eq(must_int(rf.c, "ZCARD %s", key), 3);
	/* Release frees a slot at once. */
	ck_assert_int_eq(fcall_int("redjob_limit_conc_release", key,
	    ARGS(member_name(1))), 1);
	ck_assert_int_eq(conc_call(key, 3, 1000, 3, T0 + 100).limited, 0);
	/* Renew extends: member 0 outlives its first lease, 2 does not. */
	ck_assert_int_eq(fcall_int("redjob_limit_conc_renew", key,
	    ARGS("5000", member_name(0), "now", num(T0 + 900))), 1);
	expect("after 2's lease ran out", 0, mkans(0, 3, 0, -1, 4900),
	    conc_call(key, 3, 1000, 4, T0 + 1000));
	/* 2's slot freed itself; it cannot renew. */
	ck_assert_int_eq(fcall_int("redjob_limit_conc_renew", key,
	    ARGS("1000", member_name(2), "now", num(T0 + 1000))), 0);
	ck_assert_int_eq(must_int(rf.c, "ZCARD %s", key), 3);
	/* Undo of kind concurrency releases. */
	ck_assert_int_eq(fcall_int("redjob_limit_undo", key,
	    ARGS("concurrency", member_name(4))), 1);
	ck_assert_int_eq(must_int(rf.c, "ZCARD %s", key), 2);
}
END_TEST

START_TEST(test_bad_arguments_are_refused_with_their_code_first)
{
	const char *w = "redjob_limit_window", *g = "redjob_limit_gcra";

	fcall_err("REDJOB_BADARG", "limit must be an integer from 1 to 100000",
	    w, "k", ARGS("0", "1000", "m", "1"));
	fcall_err("REDJOB_BADARG", "period_ms must be an integer", w, "k",
	    ARGS("5", "1.5", "m", "1"));
	fcall_err("REDJOB_BADARG", "member must be 1-256 bytes", w, "k",
	    ARGS("5", "1000", "", "1"));
	fcall_err("REDJOB_BADARG", "must not contain \"#\"", w, "k",
	    ARGS("5", "1000", "a#b", "1"));
	fcall_err("REDJOB_BADARG", "cost must be an integer", w, "k",
	    ARGS("5", "1000", "m", "-1"));
	fcall_err("REDJOB_BADARG", "optionally \"now MS\"", w, "k",
	    ARGS("5", "1000", "m", "1", "later", "5"));
	fcall_err("REDJOB_BADARG", "now must be an integer", w, "k",
	    ARGS("5", "1000", "m", "1", "now", "x"));
	fcall_err("REDJOB_BADARG", "burst must be an integer", g, "k",
	    ARGS("-1", "1", "1000", "1"));
	fcall_err("REDJOB_BADARG", "rate_count must be an integer", g, "k",
	    ARGS("1", "0", "1000", "1"));
	fcall_err("REDJOB_BADARG", "over 35 years", g, "k",
	    ARGS("1000000000", "1", "60000000", "1"));
	fcall_err("REDJOB_BADARG", "capacity must be an integer",
	    "redjob_limit_funnel", "k", ARGS("0", "1", "1000", "1"));
	fcall_err("REDJOB_BADARG", "capacity x rate_period_ms",
	    "redjob_limit_funnel", "k", ARGS("1000000000", "1", "60000000",
	    "1"));
	fcall_err("REDJOB_BADARG", "lease_ms must be an integer",
	    "redjob_limit_conc_acquire", "k", ARGS("1", "0", "m"));
	fcall_err("REDJOB_BADARG", "kind must be window, gcra, funnel or "
	    "concurrency", "redjob_limit_undo", "k", ARGS("bucket", "m"));
	ck_assert_int_eq(must_int(rf.c, "DBSIZE"), 0);

	/* A key of another kind: refused before any write. */
	freeReplyObject(must_command(rf.c, "SET k v"));
	fcall_err("REDJOB_BADKEY", "holds a string, not the zset of a window",
	    w, "k", ARGS("5", "1000", "m", "1"));
	fcall_err("REDJOB_BADKEY", "not the hash of a funnel",
	    "redjob_limit_funnel", "k", ARGS("1", "1", "1000", "1"));
	fcall_err("REDJOB_BADKEY", "holds \"v\" as the GCRA TAT", g, "k",
	    ARGS("1", "1", "1000", "1"));
	fcall_err("REDJOB_BADKEY", "takes exactly one key", g, "", ARGS("1",
	    "1", "1000", "1"));
	freeReplyObject(must_command(rf.c, "HSET h level x ts 1 scale 1"));
	fcall_err("REDJOB_BADKEY", "as the funnel level",
	    "redjob_limit_funnel", "h", ARGS("1", "1", "1000", "1"));
	ck_assert_int_eq(must_int(rf.c, "DBSIZE"), 2);
}
END_TEST

/*
 * redjob_limit_reserve: a request refused now takes the next free slot,
 * and the state advances as if it had been admitted then, so requests
 * asked together get consecutive slots; beyond MAX_WAIT_MS it is the
 * plain refusal and writes nothing.
 */
START_TEST(test_gcra_reserve_hands_out_consecutive_slots)
{
	const char *k = "res:gcra";
	struct ans a;
	int i;

	/* 10/s, no burst: T = 100 ms. The first is admitted now. */
	a = limiter("redjob_limit_reserve", k, ARGS("gcra", "0", "10", "1000",
	    "1", "60000", "now", num(T0)));
	expect("reserve gcra", 0, mkans(0, 1, 0, -1, 100), a);
	for (i = 1; i <= 5; i++) {
		a = limiter("redjob_limit_reserve", k, ARGS("gcra", "0", "10",
		    "1000", "1", "60000", "now", num(T0)));
		expect("reserve gcra", i, mkans(2, 1, 0, 100 * i,
		    100 * (i + 1)), a);
	}
	/* The plain call sees the slots taken: free again at T0 + 600. */
	a = limiter("redjob_limit_gcra", k, ARGS("0", "10", "1000", "1", "now",
	    num(T0 + 100)));
	expect("gcra after reservations", 6, mkans(1, 1, 0, 500, 500), a);
	/* Too far ahead: refused as by the plain call, nothing taken. */
	a = limiter("redjob_limit_reserve", k, ARGS("gcra", "0", "10", "1000",
	    "1", "499", "now", num(T0 + 100)));
	expect("reserve beyond max_wait", 7, mkans(1, 1, 0, 500, 500), a);
	a = limiter("redjob_limit_reserve", k, ARGS("gcra", "0", "10", "1000",
	    "1", "500", "now", num(T0 + 100)));
	expect("reserve within max_wait", 8, mkans(2, 1, 0, 500, 600), a);
	/* Never satisfiable: -1, as the plain call. */
	a = limiter("redjob_limit_reserve", k, ARGS("gcra", "0", "10", "1000",
	    "2", "60000", "now", num(T0 + 100)));
	ck_assert_int_eq(a.limited, 1);
	ck_assert_int_eq(a.retry, -1);
}
END_TEST

START_TEST(test_funnel_reserve_hands_out_consecutive_slots)
{
	const char *k = "res:funnel";
	struct ans a;
	int i;

	/* Capacity 2, 10/s: two now, then one every 100 ms. */
	for (i = 0; i < 2; i++) {
		a = limiter("redjob_limit_reserve", k, ARGS("funnel", "2",
		    "10", "1000", "1", "60000", "now", num(T0)));
		ck_assert_int_eq(a.limited, 0);
	}
	for (i = 1; i <= 4; i++) {
		a = limiter("redjob_limit_reserve", k, ARGS("funnel", "2",
		    "10", "1000", "1", "60000", "now", num(T0)));
		expect("reserve funnel", i, mkans(2, 2, 0, 100 * i,
		    100 * i + 200), a);
	}
	/* The plain call: the funnel is full until T0 + 400. */
	a = limiter("redjob_limit_funnel", k, ARGS("2", "10", "1000", "1",
	    "now", num(T0 + 150)));
	expect("funnel after reservations", 5, mkans(1, 2, 0, 350, 450), a);
	a = limiter("redjob_limit_reserve", k, ARGS("funnel", "2", "10",
	    "1000", "1", "300", "now", num(T0 + 150)));
	expect("reserve beyond max_wait", 6, mkans(1, 2, 0, 350, 450), a);
	fcall_err("REDJOB_BADARG", "kind", "redjob_limit_reserve", k,
	    ARGS("concurrency", "2", "10", "1000", "1", "300"));
}
END_TEST

/*
 * A window of 2 per second reserves the slots of a backlog one after the
 * other, each no earlier than the newest entry, so no period ever holds
 * more than 2; reserved entries count at once for the plain call, and a
 * slot beyond MAX_WAIT_MS is refused, not reserved.
 */
START_TEST(test_window_reserve_hands_out_consecutive_slots)
{
	const char *k = "rj:limit:{res:window}";
	struct ans a;
	int i;
	static const struct {
		const char	*member;
		struct ans	 want;
	} s[] = {
		{ "j:1", { 0, 2, 1, -1, 1000 } },
		{ "j:2", { 0, 2, 0, -1, 1000 } },
		{ "j:3", { 2, 2, 0, 1000, 2000 } },
		{ "j:4", { 2, 2, 0, 1000, 2000 } },
		{ "j:5", { 2, 2, 0, 2000, 3000 } },
	};

	for (i = 0; i < 5; i++) {
		a = limiter("redjob_limit_reserve", k, ARGS("window", "2",
		    "1000", s[i].member, "1", "3600000", "now", num(T0)));
		expect("window reservation", i, s[i].want, a);
	}
	/* Two at T0, two at T0 + 1000, one at T0 + 2000. */
	ck_assert_int_eq(must_int(rf.c, "ZCOUNT %s %lld %lld", k, T0, T0), 2);
	ck_assert_int_eq(must_int(rf.c, "ZCOUNT %s %lld %lld", k, T0 + 1000,
	    T0 + 1000), 2);
	ck_assert_int_eq(must_int(rf.c, "ZCOUNT %s %lld %lld", k, T0 + 2000,
	    T0 + 2000), 1);
	/* The plain call at T0 + 500 counts the reserved ones. */
	a = limiter("redjob_limit_window", k, ARGS("2", "1000", "j:6", "1",
	    "now", num(T0 + 500)));
	expect("window after reservations", 5, mkans(1, 2, 0, 1500, 2500), a);
	/* The next slot is 1500 ms away: beyond a max wait of 1000. */
	a = limiter("redjob_limit_reserve", k, ARGS("window", "2", "1000",
	    "j:7", "1", "1000", "now", num(T0 + 500)));
	expect("window reserve beyond max_wait", 6,
	    mkans(1, 2, 0, 1500, 2500), a);
}
END_TEST

/* A concurrency acquire that joins KEY:wait as waiter when refused. */
static struct ans
conc_wait(const char *key, int member, const char *waiter, int order,
    int64_t now)
{
	return limiter("redjob_limit_conc_acquire", key, ARGS("2", "1000",
	    member_name(member), waiter, num(order), "now", num(now)));
}

/* A string answer of fn; "" for an empty one. */
static void
fcall_str(const char *fn, const char *key, const char *const *args,
    const char *want)
{
	redisReply *r = fcall(fn, key, args);

	ck_assert_msg(r->type == REDIS_REPLY_STRING, "%s: not a string (%s)",
	    fn, r->type == REDIS_REPLY_ERROR ? r->str : "?");
	ck_assert_str_eq(r->str, want);
	freeReplyObject(r);
}

/* release MEMBER next: the released flag, and the waiter handed over. */
static void
conc_release_next(const char *key, int member, int64_t now, long long rel,
    const char *want)
{
	redisReply *r = fcall("redjob_limit_conc_release", key,
	    ARGS(member_name(member), "next", "now", num(now)));

	ck_assert_msg(r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[1]->type == REDIS_REPLY_STRING, "release next: bad "
	    "reply (%s)", r->type == REDIS_REPLY_ERROR ? r->str : "?");
	ck_assert_int_eq(r->element[0]->integer, rel);
	ck_assert_str_eq(r->element[1]->str, want);
	freeReplyObject(r);
}

/*
 * The wait list of a concurrency limiter, as a lock's: refused callers
 * wait in KEY:wait in their order (a retry keeps its place); a release of
 * a live slot hands over the first; redjob_limit_conc_next hands one over
 * only while a slot is free; a granted waiter leaves the list, and the
 * list expires after the last lease plus one.
 */
START_TEST(test_concurrency_wait_list_hands_waiters_over_in_order)
{
	const char *key = "rj:limit:{cw:}";
	redisReply *r;
	struct ans a;

	/* Limit 2, lease 1000: members 0 and 1 hold the slots. */
	ck_assert_int_eq(conc_wait(key, 0, "q:1", 1, T0).limited, 0);
	ck_assert_int_eq(conc_wait(key, 1, "q:2", 2, T0 + 10).limited, 0);
	a = conc_wait(key, 7, "q:7", 7, T0 + 20);
	expect("refused waiter", 0, mkans(1, 2, 0, 980, 990), a);
	ck_assert_int_eq(conc_wait(key, 3, "q:3", 3, T0 + 20).limited, 1);
	ck_assert_int_eq(conc_wait(key, 9, "q:9", 9, T0 + 20).limited, 1);
	/* Asked again with a later order: it keeps its place. */
	ck_assert_int_eq(conc_wait(key, 7, "q:7", 70, T0 + 30).limited, 1);
	r = must_command(rf.c, "ZSCORE %s:wait q:7", key);
	ck_assert_str_eq(r->str, "7");
	freeReplyObject(r);
	ck_assert_int_eq(must_int(rf.c, "ZCARD %s:wait", key), 3);
	ck_assert_int_gt(must_int(rf.c, "PTTL %s:wait", key), 1900);
	/* Both slots held: nobody is handed over. */
	fcall_str("redjob_limit_conc_next", key, ARGS("2", "now",
	    num(T0 + 30)), "");
	/* A member that holds nothing frees nothing and hands over nobody. */
	conc_release_next(key, 5, T0 + 30, 0, "");
	/* A holder's release hands over the first, in order. */
	conc_release_next(key, 0, T0 + 40, 1, "q:3");
	ck_assert_int_eq(must_int(rf.c, "ZCARD %s:wait", key), 2);
	/* A slot is free (q:3 has not come yet): the next may be asked. */
	fcall_str("redjob_limit_conc_next", key, ARGS("2", "now",
	    num(T0 + 40)), "q:7");
	/* Another takes the free slot: none is free now. */
	ck_assert_int_eq(conc_wait(key, 9, "q:9", 9, T0 + 50).limited, 0);
	ck_assert_int_eq(must_int(rf.c, "EXISTS %s:wait", key), 0);
	fcall_str("redjob_limit_conc_next", key, ARGS("2", "now",
	    num(T0 + 50)), "");
	/* q:3 came late and is refused: back at the head of the list. */
	ck_assert_int_eq(conc_wait(key, 3, "q:3", 3, T0 + 60).limited, 1);
	ck_assert_int_eq(conc_wait(key, 8, "q:8", 8, T0 + 60).limited, 1);
	/* A lease that ran out freed its slot: the next hands one over. */
	fcall_str("redjob_limit_conc_next", key, ARGS("2", "now",
	    num(T0 + 1010)), "q:3");
	/* Its release, the lease run out, frees nothing live. */
	conc_release_next(key, 1, T0 + 1020, 0, "");
	/* The plain release still answers 1 or 0. */
	ck_assert_int_eq(fcall_int("redjob_limit_conc_release", key,
	    ARGS(member_name(9), "now", num(T0 + 1020))), 1);
	fcall_err("REDJOB_BADARG", "WAITER ORDER",
	    "redjob_limit_conc_acquire", key, ARGS("2", "1000", "m", "q:1"));
	fcall_err("REDJOB_BADARG", "order", "redjob_limit_conc_acquire", key,
	    ARGS("2", "1000", "m", "q:1", "x"));
	fcall_err("REDJOB_BADARG", "limit", "redjob_limit_conc_next", key,
	    ARGS("0"));
	fcall_err("REDJOB_BADARG", "takes 1 arguments",
	    "redjob_limit_conc_next", key, ARGS("2", "later"));
	fcall_err("REDJOB_BADARG", "takes 1 arguments",
	    "redjob_limit_conc_release", key, ARGS("m", "later"));
}
END_TEST

Suite *
suite(void)
{
	Suite *s = suite_create("limiter");
	TCase *tc = tcase_create("models");

	tcase_set_timeout(tc, 300);
	tcase_add_unchecked_fixture(tc, redis_start, redis_stop);
	tcase_add_checked_fixture(tc, redis_conn_setup_lib,
	    redis_conn_teardown);
	tcase_add_test(tc, test_gcra_matches_redis_cell_formulas_on_a_script);
	tcase_add_test(tc, test_funnel_matches_leaky_bucket_on_a_script);
	tcase_add_test(tc, test_window_matches_log_on_a_script);
	tcase_add_test(tc, test_concurrency_matches_lease_set_on_a_script);
	tcase_add_test(tc, test_gcra_matches_model_on_random_sequences);
	tcase_add_test(tc, test_funnel_matches_model_on_random_sequences);
	tcase_add_test(tc, test_window_matches_model_on_random_sequences);
	tcase_add_test(tc, test_concurrency_matches_model_on_random_sequences);
	tcase_add_test(tc, test_window_stands_still_when_the_clock_steps_back);
	tcase_add_test(tc,
	    test_funnel_converts_its_level_exactly_when_the_period_changes);
	suite_add_tcase(s, tc);

	tc = tcase_create("behaviour");
	tcase_set_timeout(tc, 60);
	tcase_add_unchecked_fixture(tc, redis_start, redis_stop);
	tcase_add_checked_fixture(tc, redis_conn_setup_lib,
	    redis_conn_teardown);
	tcase_add_test(tc,
	    test_window_never_admits_more_than_limit_in_any_period);
	tcase_add_test(tc, test_gcra_admits_burst_plus_one_at_once_then_refuses);
	tcase_add_test(tc, test_gcra_redis_cell_readme_example_on_server_clock);
	tcase_add_test(tc, test_funnel_admits_capacity_at_once_then_rate);
	tcase_add_test(tc, test_funnel_loses_no_leaked_credit_between_calls);
	tcase_add_test(tc,
	    test_cost_over_capacity_is_never_satisfiable_and_writes_nothing);
	tcase_add_test(tc, test_cost_zero_peeks_without_writing);
	tcase_add_test(tc, test_undo_gives_back_what_an_allowed_call_took);
	tcase_add_test(tc, test_window_member_used_again_never_collides);
	tcase_add_test(tc, test_keys_expire_when_their_state_runs_out);
	tcase_add_test(tc,
	    test_window_on_server_clock_refuses_until_the_oldest_leaves);
	tcase_add_test(tc, test_concurrency_holders_expire_release_and_renew);
	tcase_add_test(tc,
	    test_concurrency_wait_list_hands_waiters_over_in_order);
	tcase_add_test(tc,
	    test_bad_arguments_are_refused_with_their_code_first);
	tcase_add_test(tc, test_gcra_reserve_hands_out_consecutive_slots);
	tcase_add_test(tc, test_funnel_reserve_hands_out_consecutive_slots);
	tcase_add_test(tc, test_window_reserve_hands_out_consecutive_slots);
	suite_add_tcase(s, tc);
	return s;
}
