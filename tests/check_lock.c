/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The lock functions of the library (src/lua/guards.lua) against a real
 * redis-server: tokens (only the holder renews or releases), fencing
 * tokens that grow with every grant, also after the counter is lost
 * (DEL, FLUSHALL: the microsecond floor), retries of a lost reply,
 * expiry, bad input, and processes contending for one lock, whose
 * holding intervals must never overlap and whose fences must grow in
 * time order.
 */
#include "autoconf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <hiredis/hiredis.h>

#include "client.h"
#include "proc.h"
#include "redis_fixture.h"
#include "testlib.h"

#define KEY "rj:lock:{email:42}"
#define FENCE KEY ":fence"
#define TOKEN_A "token-of-holder-a"
#define TOKEN_B "token-of-holder-b"

/* The contention test. */
#define CT_PROCS 4
#define CT_GRANTS 40

struct grant {
	long long	fence;
	uint64_t	start_ns;	/* CLOCK_MONOTONIC, after acquire */
	uint64_t	end_ns;		/* before release */
	int		proc;
};

/* The server's clock in microseconds. */
static long long
server_us(void)
{
	redisReply *r = must_command(rf.c, "TIME");
	long long us;

	us = strtoll(r->element[0]->str, NULL, 10) * 1000000 +
	    strtoll(r->element[1]->str, NULL, 10);
	freeReplyObject(r);
	return us;
}

/*
 * redjob_lock_acquire on connection c. Returns 1 and the fence, or 0 and
 * the holder's PTTL, in *v; fails the test on any other reply.
 */
static int
acquire_on(redisContext *c, const char *key, const char *token, int ttl,
    long long *v)
{
	redisReply *r;
	int got;

	r = redisCommand(c, "FCALL redjob_lock_acquire 1 %s %s %d", key,
	    token, ttl);
	ck_assert_msg(r != NULL, "acquire: %s", c->errstr);
	ck_assert_msg(r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[0]->type == REDIS_REPLY_INTEGER, "acquire: bad reply "
	    "(%s)", r->type == REDIS_REPLY_ERROR ? r->str : "?");
	got = (int)r->element[0]->integer;
	if (got == 1) {
		/* The fence is a string of digits. */
		ck_assert_int_eq(r->element[1]->type, REDIS_REPLY_STRING);
		ck_assert_msg(strspn(r->element[1]->str, "0123456789") ==
		    r->element[1]->len, "fence \"%s\"", r->element[1]->str);
		*v = strtoll(r->element[1]->str, NULL, 10);
	} else {
		ck_assert_int_eq(got, 0);
		ck_assert_int_eq(r->element[1]->type, REDIS_REPLY_INTEGER);
		*v = r->element[1]->integer;
	}
	freeReplyObject(r);
	return got;
}

static int
acquire(const char *token, int ttl, long long *v)
{
	return acquire_on(rf.c, KEY, token, ttl, v);
}

/* The fence of a grant that must succeed. */
static long long
must_acquire(const char *token, int ttl)
{
	long long fence;

	ck_assert_msg(acquire(token, ttl, &fence) == 1, "%s was refused; "
	    "held %lld ms more", token, fence);
	return fence;
}

static long long
renew(const char *token, int ttl)
{
	return must_int(rf.c, "FCALL redjob_lock_renew 1 %s %s %d", KEY, token,
	    ttl);
}

static long long
release(const char *token)
{
	return must_int(rf.c, "FCALL redjob_lock_release 1 %s %s", KEY, token);
}

static void
expect_holder(const char *token)
{
	redisReply *r = must_command(rf.c, "GET %s", KEY);

	if (token == NULL) {
		ck_assert_int_eq(r->type, REDIS_REPLY_NIL);
	} else {
		ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
		ck_assert_str_eq(r->str, token);
	}
	freeReplyObject(r);
}

/* A call that must fail with code as the first word and msg after it. */
static void
expect_err(const char *code, const char *msg, const char *fmt, ...)
{
	redisReply *r;
	size_t n = strlen(code);
	va_list ap;

	va_start(ap, fmt);
	r = redisvCommand(rf.c, fmt, ap);
	va_end(ap);
	ck_assert_msg(r != NULL, "%s: %s", fmt, rf.c->errstr);
	ck_assert_msg(r->type == REDIS_REPLY_ERROR, "%s: expected %s, got "
	    "reply type %d", fmt, code, r->type);
	ck_assert_msg(strncmp(r->str, code, n) == 0 && r->str[n] == ' ',
	    "%s: expected %s, got \"%s\"", fmt, code, r->str);
	ck_assert_msg(strstr(r->str, msg) != NULL, "%s: \"%s\" does not say "
	    "\"%s\"", fmt, r->str, msg);
	freeReplyObject(r);
}

START_TEST(test_only_the_token_holder_renews_and_releases)
{
	long long v;

	must_acquire(TOKEN_A, 10000);
	expect_holder(TOKEN_A);
	ck_assert_int_gt(must_int(rf.c, "PTTL %s", KEY), 9000);

	/* B is refused and told how long A holds it. */
	ck_assert_int_eq(acquire(TOKEN_B, 10000, &v), 0);
	ck_assert_msg(v > 9000 && v <= 10000, "pttl %lld", v);
	/* B can neither renew nor release A's lock. */
	ck_assert_int_eq(renew(TOKEN_B, 60000), 0);
	ck_assert_int_le(must_int(rf.c, "PTTL %s", KEY), 10000);
	ck_assert_int_eq(release(TOKEN_B), 0);
	expect_holder(TOKEN_A);

	/* A renews: the TTL is set anew. */
	ck_assert_int_eq(renew(TOKEN_A, 60000), 1);
	ck_assert_int_gt(must_int(rf.c, "PTTL %s", KEY), 59000);
	/* A releases; a second release finds nothing. */
	ck_assert_int_eq(release(TOKEN_A), 1);
	expect_holder(NULL);
	ck_assert_int_eq(release(TOKEN_A), 0);
	ck_assert_int_eq(renew(TOKEN_A, 1000), 0);
	ck_assert_int_eq(must_int(rf.c, "EXISTS %s", KEY), 0);

	/* Now B gets it, and A cannot take it from B. */
	must_acquire(TOKEN_B, 10000);
	ck_assert_int_eq(acquire(TOKEN_A, 10000, &v), 0);
	ck_assert_int_eq(release(TOKEN_A), 0);
	expect_holder(TOKEN_B);
}
END_TEST

START_TEST(test_fences_grow_with_every_grant)
{
	long long before, f, prev;
	redisReply *r;
	int i;

	/* A fresh counter starts at the server's clock in us. */
	before = server_us();
	f = must_acquire(TOKEN_A, 10000);
	ck_assert_msg(f >= before && f <= server_us(), "first fence %lld, "
	    "server time %lld", f, before);
	ck_assert_int_eq(release(TOKEN_A), 1);

	prev = f;
	for (i = 0; i < 500; i++) {
		f = must_acquire(i % 2 ? TOKEN_A : TOKEN_B, 10000);
		ck_assert_msg(f > prev, "grant %d: fence %lld after %lld", i,
		    f, prev);
		ck_assert_int_eq(release(i % 2 ? TOKEN_A : TOKEN_B), 1);
		prev = f;
	}
	/* The counter holds the last fence, and has no TTL. */
	r = must_command(rf.c, "GET %s", FENCE);
	ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
	ck_assert_int_eq(strtoll(r->str, NULL, 10), prev);
	freeReplyObject(r);
	ck_assert_int_eq(must_int(rf.c, "PTTL %s", FENCE), -1);

	/* A counter ahead of the clock counts on from itself (INCR). */
	freeReplyObject(must_command(rf.c, "SET %s %lld", FENCE,
	    prev + 1000000000000LL));
	f = must_acquire(TOKEN_A, 10000);
	ck_assert_int_eq(f, prev + 1000000000000LL + 1);
}
END_TEST

START_TEST(test_fence_grows_after_the_counter_is_lost)
{
	long long f1, f2, f3;
	int i;

	/* Some grants, so the counter is past its first value. */
	for (i = 0; i < 10; i++) {
		f1 = must_acquire(TOKEN_A, 10000);
		ck_assert_int_eq(release(TOKEN_A), 1);
	}
	f1 = must_acquire(TOKEN_B, 10000);
	ck_assert_int_eq(release(TOKEN_B), 1);

	/* The counter is lost (as by a restart without persistence). */
	freeReplyObject(must_command(rf.c, "DEL %s", FENCE));
	f2 = must_acquire(TOKEN_A, 10000);
	ck_assert_msg(f2 > f1, "fence %lld after DEL, before %lld", f2, f1);
	ck_assert_int_eq(release(TOKEN_A), 1);

	/* Everything is lost. */
	freeReplyObject(must_command(rf.c, "FLUSHALL"));
	f3 = must_acquire(TOKEN_B, 10000);
	ck_assert_msg(f3 > f2, "fence %lld after FLUSHALL, before %lld", f3,
	    f2);
}
END_TEST

START_TEST(test_retried_acquire_returns_the_same_fence_and_renews)
{
	long long f, again, v;

	f = must_acquire(TOKEN_A, 10000);
	/* Time passes (a lost reply, a retry). */
	freeReplyObject(must_command(rf.c, "PEXPIRE %s 500", KEY));
	again = must_acquire(TOKEN_A, 10000);
	ck_assert_int_eq(again, f);
	/* The TTL is the one asked for again, not what was left. */
	ck_assert_int_gt(must_int(rf.c, "PTTL %s", KEY), 9000);
	ck_assert_int_eq(acquire(TOKEN_B, 10000, &v), 0);

	/* A holder whose counter was lost gets a new, larger fence. */
	freeReplyObject(must_command(rf.c, "DEL %s", FENCE));
	usleep(1000);
	again = must_acquire(TOKEN_A, 10000);
	ck_assert_int_gt(again, f);
	ck_assert_int_eq(must_acquire(TOKEN_A, 10000), again);
}
END_TEST

START_TEST(test_expiry_frees_the_lock)
{
	uint64_t deadline;
	long long fa, v;

	fa = must_acquire(TOKEN_A, 100);
	ck_assert_int_eq(acquire(TOKEN_B, 10000, &v), 0);
	ck_assert_msg(v > 0 && v <= 100, "pttl %lld", v);
	/* Without a release, B gets it once A's TTL runs out. */
	deadline = testlib_now_ms() + 3000;
	while (acquire(TOKEN_B, 10000, &v) == 0) {
		ck_assert_msg(testlib_now_ms() < deadline, "A's lock never "
		    "expired (pttl %lld)", v);
		usleep(5000);
	}
	/* v is now B's fence. */
	ck_assert_int_gt(v, fa);
	/* A's late release and renewal do nothing to B's lock. */
	ck_assert_int_eq(release(TOKEN_A), 0);
	ck_assert_int_eq(renew(TOKEN_A, 10000), 0);
	expect_holder(TOKEN_B);
}
END_TEST

START_TEST(test_holder_without_ttl_is_reported_as_minus_one)
{
	long long v;

	freeReplyObject(must_command(rf.c, "SET %s someone-else", KEY));
	ck_assert_int_eq(acquire(TOKEN_A, 1000, &v), 0);
	ck_assert_int_eq(v, -1);
	expect_holder("someone-else");
}
END_TEST

START_TEST(test_bad_arguments_are_refused_before_any_write)
{
	expect_err("REDJOB_BADARG", "token must be 8-256 bytes",
	    "FCALL redjob_lock_acquire 1 %s short 1000", KEY);
	expect_err("REDJOB_BADARG", "ttl_ms must be an integer from 1",
	    "FCALL redjob_lock_acquire 1 %s %s 0", KEY, TOKEN_A);
	expect_err("REDJOB_BADARG", "ttl_ms must be an integer",
	    "FCALL redjob_lock_acquire 1 %s %s", KEY, TOKEN_A);
	expect_err("REDJOB_BADARG", "takes TOKEN TTL_MS",
	    "FCALL redjob_lock_acquire 1 %s %s 1000 extra", KEY, TOKEN_A);
	expect_err("REDJOB_BADARG", "ttl_ms must be an integer",
	    "FCALL redjob_lock_renew 1 %s %s 1.5", KEY, TOKEN_A);
	expect_err("REDJOB_BADARG", "token must be",
	    "FCALL redjob_lock_release 1 %s", KEY);
	expect_err("REDJOB_BADKEY", "has no {hash tag}",
	    "FCALL redjob_lock_acquire 1 rj:lock:email %s 1000", TOKEN_A);
	expect_err("REDJOB_BADKEY", "has no {hash tag}",
	    "FCALL redjob_lock_acquire 1 rj:lock:{} %s 1000", TOKEN_A);
	expect_err("REDJOB_BADKEY", "takes exactly one key",
	    "FCALL redjob_lock_acquire 2 %s %s %s 1000", KEY, FENCE, TOKEN_A);
	ck_assert_int_eq(must_int(rf.c, "DBSIZE"), 0);

	/* State that is not a lock: refused, and the lock is not taken. */
	freeReplyObject(must_command(rf.c, "SET %s not-a-number", FENCE));
	expect_err("REDJOB_BADKEY", "as the fence",
	    "FCALL redjob_lock_acquire 1 %s %s 1000", KEY, TOKEN_A);
	ck_assert_int_eq(must_int(rf.c, "EXISTS %s", KEY), 0);
	freeReplyObject(must_command(rf.c, "DEL %s", FENCE));
	freeReplyObject(must_command(rf.c, "HSET %s a b", KEY));
	expect_err("REDJOB_BADKEY", "holds a hash, not the string of a lock",
	    "FCALL redjob_lock_acquire 1 %s %s 1000", KEY, TOKEN_A);
	expect_err("REDJOB_BADKEY", "holds a hash",
	    "FCALL redjob_lock_release 1 %s %s", KEY, TOKEN_A);
	ck_assert_int_eq(must_int(rf.c, "EXISTS %s", FENCE), 0);
	ck_assert_int_eq(must_int(rf.c, "HLEN %s", KEY), 1);
}
END_TEST

/* ---------------------------------------------------------------------
 * Processes contending for one lock.
 */

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

/* A contender: CT_GRANTS grants, each reported on fd. Never returns. */
static void
contender(int proc, int fd)
{
	redisContext *c;
	redisReply *r;
	struct grant g;
	char token[64];
	long long v;
	int n = 0, tries = 0;

	c = redisConnectUnix(rf.sock);
	if (c == NULL || c->err)
		_exit(2);
	srand((unsigned)getpid());
	while (n < CT_GRANTS) {
		if (++tries > 1000000)
			_exit(3);
		/* A fresh token per acquisition, as redjob does. */
		snprintf(token, sizeof token, "proc-%d-grant-%d", proc, n);
		r = redisCommand(c, "FCALL redjob_lock_acquire 1 %s %s 10000",
		    KEY, token);
		if (r == NULL || r->type != REDIS_REPLY_ARRAY ||
		    r->elements != 2)
			_exit(4);
		if (r->element[0]->integer == 0) {
			freeReplyObject(r);
			usleep(100 + (unsigned)(rand() % 900));
			continue;
		}
		g.start_ns = mono_ns();
		g.fence = strtoll(r->element[1]->str, NULL, 10);
		g.proc = proc;
		freeReplyObject(r);
		usleep(1000 + (unsigned)(rand() % 2000));	/* the work */
		g.end_ns = mono_ns();
		if (write(fd, &g, sizeof g) != (ssize_t)sizeof g)
			_exit(5);
		r = redisCommand(c, "FCALL redjob_lock_release 1 %s %s", KEY,
		    token);
		v = r != NULL && r->type == REDIS_REPLY_INTEGER ?
		    r->integer : -1;
		if (r != NULL)
			freeReplyObject(r);
		if (v != 1)
			_exit(6);	/* we lost a lock we held */
		n++;
	}
	redisFree(c);
	_exit(0);
}

/* What proc runs in each contender's child. */
struct contender_arg {
	int	proc;
	int	fd;
};

static int
contender_fn(void *arg)
{
	struct contender_arg *a = arg;

	contender(a->proc, a->fd);
	return 0;
}

static int
grant_cmp(const void *a, const void *b)
{
	const struct grant *x = a, *y = b;

	return x->start_ns < y->start_ns ? -1 : x->start_ns > y->start_ns;
}

START_TEST(test_contending_processes_never_overlap_and_fences_grow)
{
	static struct grant g[CT_PROCS * CT_GRANTS + 1];
	struct contender_arg args[CT_PROCS];
	struct proc *pr[CT_PROCS];
	int fd[2], i, procs_seen = 0;
	size_t n = 0, off = 0;
	ssize_t got;

	ck_assert_int_eq(pipe(fd), 0);
	for (i = 0; i < CT_PROCS; i++) {
		args[i].proc = i;
		args[i].fd = fd[1];
		pr[i] = must_spawn(&(struct proc_spec){ .fn = contender_fn,
		    .arg = &args[i], .name = "contender" });
	}
	close(fd[1]);
	/* Read until every contender has closed its end. */
	while ((got = read(fd[0], (char *)g + off, sizeof g - off)) > 0)
		off += (size_t)got;
	ck_assert_msg(got == 0, "read: %s", strerror(errno));
	close(fd[0]);
	for (i = 0; i < CT_PROCS; i++) {
		ck_assert_msg(must_wait(pr[i], TESTLIB_DEADLINE_MS) == 0,
		    "contender %d ended with status %d", i, pr[i]->status);
		proc_free(pr[i]);
	}
	n = off / sizeof g[0];
	ck_assert_uint_eq(off % sizeof g[0], 0);
	ck_assert_uint_eq(n, CT_PROCS * CT_GRANTS);

	qsort(g, n, sizeof g[0], grant_cmp);
	for (i = 0; i + 1 < (int)n; i++) {
		ck_assert_msg(g[i].end_ns <= g[i + 1].start_ns, "grants %d "
		    "(process %d, fence %lld) and %d (process %d, fence %lld) "
		    "overlap by %" PRIu64 " ns", i, g[i].proc, g[i].fence,
		    i + 1, g[i + 1].proc, g[i + 1].fence,
		    g[i].end_ns - g[i + 1].start_ns);
		ck_assert_msg(g[i].fence < g[i + 1].fence, "fence %lld came "
		    "after %lld", g[i + 1].fence, g[i].fence);
		procs_seen |= 1 << g[i].proc;
	}
	/* Every process got its turn, interleaved with the others. */
	procs_seen |= 1 << g[n - 1].proc;
	ck_assert_int_eq(procs_seen, (1 << CT_PROCS) - 1);
	ck_assert_int_eq(must_int(rf.c, "EXISTS %s", KEY), 0);
}
END_TEST

/* An acquire that joins the wait list as waiter with order when refused. */
static int
acquire_waiting(const char *token, const char *waiter, int order)
{
	redisReply *r;
	int got;

	r = must_command(rf.c, "FCALL redjob_lock_acquire 1 %s %s 10000 %s %d",
	    KEY, token, waiter, order);
	ck_assert_msg(r->type == REDIS_REPLY_ARRAY && r->elements == 2,
	    "acquire: bad reply (%s)", r->type == REDIS_REPLY_ERROR ? r->str :
	    "?");
	got = (int)r->element[0]->integer;
	freeReplyObject(r);
	return got;
}

/* release ... next: the released flag, and the waiter handed over. */
static long long
release_next(const char *token, char *waiter, size_t len)
{
	redisReply *r;
	long long rel;

	r = must_command(rf.c, "FCALL redjob_lock_release 1 %s %s next", KEY,
	    token);
	ck_assert_msg(r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[1]->type == REDIS_REPLY_STRING, "release next: bad "
	    "reply (%s)", r->type == REDIS_REPLY_ERROR ? r->str : "?");
	rel = r->element[0]->integer;
	snprintf(waiter, len, "%s", r->element[1]->str);
	freeReplyObject(r);
	return rel;
}

/*
 * Losers wait in KEY:wait in their order (a retry keeps its place); a
 * release hands over the first, only while the lock is free; a winner
 * leaves the list, and the list expires.
 */
START_TEST(test_wait_list_hands_waiters_over_in_order)
{
	char w[64];
	redisReply *r;

	must_acquire(TOKEN_A, 10000);
	ck_assert_int_eq(acquire_waiting(TOKEN_B, "q:7", 7), 0);
	ck_assert_int_eq(acquire_waiting("token-of-holder-c", "q:3", 3), 0);
	ck_assert_int_eq(acquire_waiting("token-of-holder-d", "q:9", 9), 0);
	/* Asked again with a later order: it keeps its place. */
	ck_assert_int_eq(acquire_waiting(TOKEN_B, "q:7", 70), 0);
	r = must_command(rf.c, "ZSCORE %s:wait q:7", KEY);
	ck_assert_str_eq(r->str, "7");
	freeReplyObject(r);
	ck_assert_int_eq(must_int(rf.c, "ZCARD %s:wait", KEY), 3);
	ck_assert_int_gt(must_int(rf.c, "PTTL %s:wait", KEY), 10000);
	/* Held: nobody is handed over. */
	r = must_command(rf.c, "FCALL redjob_lock_next 1 %s", KEY);
	ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
	ck_assert_uint_eq(r->len, 0);
	freeReplyObject(r);
	ck_assert_int_eq(release_next(TOKEN_B, w, sizeof w), 0);
	ck_assert_str_eq(w, "");
	/* The holder's release hands over the first, in order. */
	ck_assert_int_eq(release_next(TOKEN_A, w, sizeof w), 1);
	ck_assert_str_eq(w, "q:3");
	r = must_command(rf.c, "FCALL redjob_lock_next 1 %s", KEY);
	ck_assert_str_eq(r->str, "q:7");
	freeReplyObject(r);
	/* q:9 wins: it leaves the list. */
	ck_assert_int_eq(acquire_waiting("token-of-holder-d", "q:9", 9), 1);
	ck_assert_int_eq(must_int(rf.c, "EXISTS %s:wait", KEY), 0);
	/* The plain release still answers 1 or 0. */
	ck_assert_int_eq(release("token-of-holder-d"), 1);
	expect_err("REDJOB_BADARG", "WAITER ORDER", "FCALL redjob_lock_acquire "
	    "1 %s %s 1000 q:1", KEY, TOKEN_A);
	expect_err("REDJOB_BADARG", "order", "FCALL redjob_lock_acquire "
	    "1 %s %s 1000 q:1 x", KEY, TOKEN_A);
	expect_err("REDJOB_BADARG", "next", "FCALL redjob_lock_release "
	    "1 %s %s later", KEY, TOKEN_A);
}
END_TEST

/*
 * redjob_wake, the releaser's second call: a waiting job is due now; one
 * held (on its way back with a stale conflict) is marked, and its
 * requeue for a conflict makes it due now instead of at its fallback;
 * a job that is gone answers 0.
 */
START_TEST(test_wake_makes_a_waiter_due_or_marks_it)
{
	const char *base = "rj:{q}";
	redisReply *r;
	long long now;

	freeReplyObject(must_command(rf.c, "FCALL redjob_enqueue 1 %s t '' "
	    "delay 60000", base));
	freeReplyObject(must_command(rf.c, "FCALL redjob_enqueue 1 %s t '' "
	    "delay 60000", base));
	now = server_us() / 1000;
	ck_assert_int_eq(must_int(rf.c, "FCALL redjob_wake 1 %s q:1", base), 1);
	r = must_command(rf.c, "ZSCORE %s:due 1", base);
	ck_assert_int_le(strtoll(r->str, NULL, 10), now + 1000);
	freeReplyObject(r);
	ck_assert_int_eq(must_int(rf.c, "FCALL redjob_wake 1 %s q:99", base), 0);
	/* Claim job 1, wake it while held, requeue it for a conflict. */
	r = must_command(rf.c, "FCALL redjob_claim 1 %s 1 5000 3 tok-000001 w",
	    base);
	ck_assert_uint_eq(r->elements, 3);
	freeReplyObject(r);
	ck_assert_int_eq(must_int(rf.c, "FCALL redjob_wake 1 %s q:1", base), 1);
	r = must_command(rf.c, "FCALL redjob_requeue 1 %s 60000 conflict q:1 "
	    "tok-000001", base);
	freeReplyObject(r);
	r = must_command(rf.c, "ZSCORE %s:due 1", base);
	ck_assert_int_le(strtoll(r->str, NULL, 10), now + 1000);
	freeReplyObject(r);
	ck_assert_int_eq(must_int(rf.c, "HEXISTS %s:j:1 woken", base), 0);
}
END_TEST

/*
 * redjob_claim with "guard TYPE SPEC" (docs/guards.md, "Guards in the
 * claim"): items separated by byte 30, fields by byte 31.
 */
#define GQ "rj:{q}"
#define GTOK "claimtoken-0001"
#define GLOCK "K\037mail:{key}\03730000"

/* Claim n jobs of GQ with guard spec for type t; the reply. */
static redisReply *
claim_guarded(int n, const char *spec)
{
	redisReply *r;

	r = must_command(rf.c, "FCALL redjob_claim 1 %s %d 5000 3 %s w guard t "
	    "%s", GQ, n, GTOK, spec);
	ck_assert_msg(r->type == REDIS_REPLY_ARRAY, "claim: %s",
	    r->type == REDIS_REPLY_ERROR ? r->str : "not an array");
	return r;
}

/* The guards' answer of the i-th job of a claim reply (from 0). */
static const redisReply *
guard_answer(const redisReply *r, size_t i)
{
	const redisReply *j;

	ck_assert_uint_gt(r->elements, 2 + i);
	j = r->element[2 + i];
	ck_assert_uint_eq(j->type, REDIS_REPLY_ARRAY);
	/* A brief row, {N, PACKED, ANSWER}, or a full one, answer last. */
	ck_assert_msg(j->elements == 12 || j->elements == 3, "a row of %zu",
	    j->elements);
	ck_assert_uint_eq(j->element[j->elements - 1]->type,
	    REDIS_REPLY_ARRAY);
	return j->element[j->elements - 1];
}

/*
 * Two jobs under one lock in one claim: the first gets it, with a fence,
 * under the claim's token and its id; the second is refused with the
 * holder's TTL and waits in the lock's wait list. The ack's "release"
 * gives the lock back and wakes the waiter (held: marked woken).
 */
START_TEST(test_a_claim_takes_its_jobs_locks_and_the_ack_gives_them_back)
{
	const redisReply *a;
	redisReply *r;

	freeReplyObject(must_command(rf.c, "FCALL redjob_enqueue 1 %s t '' "
	    "key 42", GQ));
	freeReplyObject(must_command(rf.c, "FCALL redjob_enqueue 1 %s t '' "
	    "key 42", GQ));
	r = claim_guarded(2, GLOCK);
	a = guard_answer(r, 0);
	ck_assert_str_eq(a->element[0]->str, "granted");
	ck_assert_int_gt(strtoll(a->element[1]->str, NULL, 10), 0);
	a = guard_answer(r, 1);
	ck_assert_str_eq(a->element[0]->str, "conflict");
	ck_assert_int_gt(strtoll(a->element[1]->str, NULL, 10), 29000);
	freeReplyObject(r);
	r = must_command(rf.c, "GET rj:lock:{mail:42}");
	ck_assert_str_eq(r->str, GTOK " q:1");
	freeReplyObject(r);
	r = must_command(rf.c, "ZSCORE rj:lock:{mail:42}:wait q:2");
	ck_assert_str_eq(r->str, "2");
	freeReplyObject(r);

	/* A release that is not the holder's leaves the lock. */
	r = must_command(rf.c, "FCALL redjob_ack 1 %s q:1 %s release lock "
	    "rj:lock:{mail:42} someone-else", GQ, GTOK);
	ck_assert_int_eq(r->element[0]->integer, 1);
	freeReplyObject(r);
	ck_assert_int_eq(must_int(rf.c, "EXISTS rj:lock:{mail:42}"), 1);
	r = must_command(rf.c, "FCALL redjob_ack 1 %s q:2 %s release lock "
	    "rj:lock:{mail:42} %s", GQ, GTOK, GTOK " q:1");
	ck_assert_int_eq(r->element[0]->integer, 1);
	freeReplyObject(r);
	ck_assert_int_eq(must_int(rf.c, "EXISTS rj:lock:{mail:42}"), 0);
	ck_assert_int_eq(must_int(rf.c, "EXISTS rj:lock:{mail:42}:wait"), 0);
	ck_assert_int_eq(must_int(rf.c, "EXISTS rj:lock:{mail:42}:fence"), 1);
	r = must_command(rf.c, "HGET %s:stats processed", GQ);
	ck_assert_str_eq(r->str, "2");
	freeReplyObject(r);
}
END_TEST

/*
 * Limiters in order, then the lock: a job refused by a later guard gets
 * back nothing from the earlier ones (its concurrency slot is released),
 * a GCRA limiter that refuses reserves the job's slot, and the ack gives
 * back the slot of the job that holds one.
 */
START_TEST(test_a_claim_refused_by_a_limiter_gives_back_the_earlier_ones)
{
	const char *spec = "L\037slots\037concurrency\037\0375\03760000\036"
	    "L\037pace\037gcra\037\0370\0371\03760000\036" GLOCK;
	const redisReply *a;
	redisReply *r;

	freeReplyObject(must_command(rf.c, "FCALL redjob_enqueue 1 %s t '' "
	    "key 1", GQ));
	freeReplyObject(must_command(rf.c, "FCALL redjob_enqueue 1 %s t '' "
	    "key 2", GQ));
	r = claim_guarded(2, spec);
	a = guard_answer(r, 0);
	ck_assert_str_eq(a->element[0]->str, "granted");
	a = guard_answer(r, 1);
	ck_assert_str_eq(a->element[0]->str, "reserved");
	ck_assert_str_eq(a->element[1]->str, "2");
	ck_assert_int_gt(strtoll(a->element[2]->str, NULL, 10), 50000);
	freeReplyObject(r);
	ck_assert_int_eq(must_int(rf.c, "ZCARD rj:limit:{slots:}"), 1);
	ck_assert_int_eq(must_int(rf.c, "EXISTS rj:lock:{mail:2}"), 0);
	r = must_command(rf.c, "FCALL redjob_ack 1 %s q:1 %s release conc "
	    "rj:limit:{slots:} q:1:%s 5 lock rj:lock:{mail:1} %s", GQ, GTOK,
	    GTOK, GTOK " q:1");
	ck_assert_int_eq(r->element[0]->integer, 1);
	freeReplyObject(r);
	ck_assert_int_eq(must_int(rf.c, "EXISTS rj:limit:{slots:}"), 0);
	ck_assert_int_eq(must_int(rf.c, "EXISTS rj:lock:{mail:1}"), 0);
}
END_TEST

/*
 * The ack's "release conc": every holder named leaves the set, and a
 * waiter is woken for each slot that was still live; a holder whose
 * lease had ended frees nothing anyone waits for.
 */
START_TEST(test_an_ack_wakes_a_waiter_per_live_slot_it_gives_back)
{
	long long now_ms = server_us() / 1000;
	redisReply *r;
	int i;

	/* q:1 runs; q:2 and q:3 wait for a slot (their wake finds them). */
	for (i = 0; i < 3; i++)
		freeReplyObject(must_command(rf.c, "FCALL redjob_enqueue 1 %s "
		    "t ''", GQ));
	freeReplyObject(must_command(rf.c, "FCALL redjob_claim 1 %s 1 5000 3 "
	    "%s w", GQ, GTOK));
	freeReplyObject(must_command(rf.c, "ZADD rj:limit:{slots:} %lld "
	    "q:1:%s %lld q:9:old %lld q:10:other", now_ms + 60000, GTOK,
	    now_ms - 1000, now_ms + 60000));
	freeReplyObject(must_command(rf.c, "ZADD rj:limit:{slots:}:wait "
	    "1 q:2 2 q:3"));
	r = must_command(rf.c, "FCALL redjob_ack 1 %s q:1 %s release conc "
	    "rj:limit:{slots:} q:1:%s 5 conc rj:limit:{slots:} q:9:old 5",
	    GQ, GTOK, GTOK);
	ck_assert_int_eq(r->element[0]->integer, 1);
	freeReplyObject(r);
	/* Both named left; the other holder stays; one waiter woken. */
	ck_assert_int_eq(must_int(rf.c, "ZCARD rj:limit:{slots:}"), 1);
	ck_assert_int_eq(must_int(rf.c, "ZCARD rj:limit:{slots:}:wait"), 1);
	r = must_command(rf.c, "ZRANGE rj:limit:{slots:}:wait 0 -1");
	ck_assert_str_eq(r->element[0]->str, "q:3");
	freeReplyObject(r);
}
END_TEST

/* Enqueue n jobs of type t on GQ, with keys 1..n. */
static void
enqueue_keyed(int n)
{
	int i;

	for (i = 1; i <= n; i++)
		freeReplyObject(must_command(rf.c, "FCALL redjob_enqueue 1 %s "
		    "t '' key %d", GQ, i));
}

/* Assert the i-th answer of r is kind, with place and (if ms >= 0) ms. */
static void
expect_answer(const redisReply *r, size_t i, const char *kind,
    const char *place, long long ms)
{
	const redisReply *a = guard_answer(r, i);

	ck_assert_msg(strcmp(a->element[0]->str, kind) == 0,
	    "job %zu: %s, not %s", i + 1, a->element[0]->str, kind);
	if (place != NULL)
		ck_assert_str_eq(a->element[1]->str, place);
	if (ms >= 0)
		ck_assert_msg(llabs(strtoll(a->element[2]->str, NULL, 10) - ms)
		    <= 5, "job %zu: %s ms, not %lld", i + 1, a->element[2]->str,
		    ms);
}

/*
 * With "brief", a packed job of a guarded type comes as {N, PACKED,
 * ANSWER}, with the answers a full row would have; a job with a key has
 * a hash, and its full row.
 */
START_TEST(test_a_brief_claim_answers_for_packed_guarded_jobs)
{
	static const char *const ns[] = { "1", "2", "3", "4" };
	redisReply *r;
	int i;

	for (i = 0; i < 4; i++)
		freeReplyObject(must_command(rf.c, "FCALL redjob_enqueue 1 %s "
		    "t p%d", GQ, i));
	enqueue_keyed(1);
	r = must_command(rf.c, "FCALL redjob_claim 1 %s 5 5000 3 %s w brief "
	    "guard t %s", GQ, GTOK,
	    "L\037pace\037gcra\037\0372\0371\03760000");
	ck_assert_uint_eq(r->elements, 7);
	for (i = 0; i < 4; i++) {
		ck_assert_uint_eq(r->element[2 + i]->elements, 3);
		ck_assert_str_eq(r->element[2 + i]->element[0]->str, ns[i]);
		ck_assert_mem_eq(r->element[2 + i]->element[1]->str, "t\0", 2);
	}
	expect_answer(r, 0, "granted", NULL, -1);
	expect_answer(r, 1, "granted", NULL, -1);
	expect_answer(r, 2, "granted", NULL, -1);
	expect_answer(r, 3, "reserved", "1", 60000);
	/* Keyed: its hash, the full row; reserved after the fourth. */
	ck_assert_uint_eq(r->element[6]->elements, 12);
	ck_assert_str_eq(r->element[6]->element[0]->str, "q:5");
	expect_answer(r, 4, "reserved", "1", 120000);
	freeReplyObject(r);
}
END_TEST

/*
 * The claim reads a limiter once and writes it once for all its jobs
 * (guards.lua, "For the claim"), so the limit running out in the middle
 * of a claim is the edge: the jobs after it are reserved or throttled
 * with the due times that one call per job gives, and the state written
 * is that of the jobs admitted and reserved.
 */
START_TEST(test_a_limit_that_runs_out_in_a_claim_holds_back_the_rest)
{
	redisReply *r;
	long long before, tat;

	/* GCRA, 3 at once then 1 a minute: 3 granted, 2 reserved. */
	enqueue_keyed(5);
	before = server_us();
	r = claim_guarded(5, "L\037pace\037gcra\037\0372\0371\03760000");
	expect_answer(r, 0, "granted", NULL, -1);
	expect_answer(r, 1, "granted", NULL, -1);
	expect_answer(r, 2, "granted", NULL, -1);
	expect_answer(r, 3, "reserved", "1", 60000);
	expect_answer(r, 4, "reserved", "1", 120000);
	freeReplyObject(r);
	r = must_command(rf.c, "GET rj:limit:{pace:}");
	tat = strtoll(r->str, NULL, 10);
	freeReplyObject(r);
	ck_assert_int_ge(tat, before + 5 * 60000000LL);
	ck_assert_int_le(tat, server_us() + 5 * 60000000LL);
	ck_assert_int_gt(must_int(rf.c, "PTTL rj:limit:{pace:}"), 299000);

	/* A funnel of 3 leaking 1 a minute: the same. */
	enqueue_keyed(5);
	r = claim_guarded(5, "L\037tap\037funnel\037\0373\0371\03760000");
	expect_answer(r, 0, "granted", NULL, -1);
	expect_answer(r, 2, "granted", NULL, -1);
	expect_answer(r, 3, "reserved", "1", 60000);
	expect_answer(r, 4, "reserved", "1", 120000);
	freeReplyObject(r);
	r = must_command(rf.c, "HGET rj:limit:{tap:} level");
	ck_assert_str_eq(r->str, "180000");	/* full, 120 s from now */
	freeReplyObject(r);

	/*
	 * A window of 3 a minute: 3 granted (the first under its member, the
	 * others of the same ms with "#MS.1"), 2 reserved for when they leave.
	 */
	enqueue_keyed(5);
	r = claim_guarded(5, "L\037log\037window\037\0373\03760000");
	expect_answer(r, 0, "granted", NULL, -1);
	expect_answer(r, 2, "granted", NULL, -1);
	expect_answer(r, 3, "reserved", "1", 60000);
	expect_answer(r, 4, "reserved", "1", 60000);
	freeReplyObject(r);
	ck_assert_int_eq(must_int(rf.c, "ZCARD rj:limit:{log:}"), 5);
	ck_assert_int_eq(must_int(rf.c, "EXISTS rj:limit:{log:}:clock"), 1);
	r = must_command(rf.c, "ZSCORE rj:limit:{log:} q:11:%s", GTOK);
	ck_assert_ptr_nonnull(r->str);
	freeReplyObject(r);
	/* The reserved two are at least 30 s ahead. */
	ck_assert_int_eq(must_int(rf.c, "ZCOUNT rj:limit:{log:} %lld +inf",
	    server_us() / 1000 + 30000), 2);

	/* A concurrency limit of 2: 2 granted, 2 throttled and waiting. */
	enqueue_keyed(4);
	r = claim_guarded(4, "L\037slots\037concurrency\037\0372\03730000");
	expect_answer(r, 0, "granted", NULL, -1);
	expect_answer(r, 1, "granted", NULL, -1);
	expect_answer(r, 2, "throttled", "1", 30000);
	expect_answer(r, 3, "throttled", "1", 30000);
	freeReplyObject(r);
	ck_assert_int_eq(must_int(rf.c, "ZCARD rj:limit:{slots:}"), 2);
	ck_assert_int_eq(must_int(rf.c, "ZCARD rj:limit:{slots:}:wait"), 2);
	ck_assert_int_gt(must_int(rf.c, "PTTL rj:limit:{slots:}"), 29000);
}
END_TEST

/*
 * A job refused by a later limiter gives back, in the claim, what an
 * earlier one granted it before the claim wrote anything: the window
 * keeps only the entry of the job that runs, the funnel only its unit,
 * and the next jobs see the limiters as if the refused ones had never
 * asked.
 */
START_TEST(test_a_claim_gives_back_what_a_refused_job_took_in_it)
{
	const char *spec = "L\037log\037window\037\03710\03760000\036"
	    "L\037tap\037funnel\037\03710\0371\03760000\036"
	    "L\037pace\037gcra\037\0370\0371\03760000";
	redisReply *r;

	enqueue_keyed(3);
	r = claim_guarded(3, spec);
	expect_answer(r, 0, "granted", NULL, -1);
	expect_answer(r, 1, "reserved", "3", 60000);
	expect_answer(r, 2, "reserved", "3", 120000);
	freeReplyObject(r);
	ck_assert_int_eq(must_int(rf.c, "ZCARD rj:limit:{log:}"), 1);
	r = must_command(rf.c, "ZSCORE rj:limit:{log:} q:1:%s", GTOK);
	ck_assert_ptr_nonnull(r->str);
	freeReplyObject(r);
	r = must_command(rf.c, "HGET rj:limit:{tap:} level");
	ck_assert_str_eq(r->str, "60000");	/* one unit */
	freeReplyObject(r);
	/* The window counts only the job that ran. */
	enqueue_keyed(1);
	r = claim_guarded(1, "L\037log\037window\037\03710\03760000");
	expect_answer(r, 0, "granted", NULL, -1);
	freeReplyObject(r);
	ck_assert_int_eq(must_int(rf.c, "ZCARD rj:limit:{log:}"), 2);
}
END_TEST

/*
 * Locks in one claim: each fence larger than the last fence of its key,
 * and kept by its counter; two jobs of the claim under one lock: the
 * first holds it, the second waits; a fence counter of another type
 * fails that job's lock only.
 */
START_TEST(test_a_claims_locks_get_growing_fences)
{
	const redisReply *a;
	redisReply *r;
	long long f1, f2;

	/* Key 1 has a fence from before, in the future: it grows from it. */
	freeReplyObject(must_command(rf.c, "SET rj:lock:{mail:1}:fence %lld",
	    server_us() + 1000000000LL));
	enqueue_keyed(3);
	freeReplyObject(must_command(rf.c, "FCALL redjob_enqueue 1 %s t '' "
	    "key 2", GQ));
	r = claim_guarded(4, GLOCK);
	a = guard_answer(r, 0);
	ck_assert_str_eq(a->element[0]->str, "granted");
	f1 = strtoll(a->element[1]->str, NULL, 10);
	a = guard_answer(r, 1);
	ck_assert_str_eq(a->element[0]->str, "granted");
	f2 = strtoll(a->element[1]->str, NULL, 10);
	ck_assert_int_gt(f1, server_us() + 900000000LL);
	ck_assert_int_le(f2, server_us());
	expect_answer(r, 2, "granted", NULL, -1);
	a = guard_answer(r, 3);
	ck_assert_str_eq(a->element[0]->str, "conflict");
	freeReplyObject(r);
	r = must_command(rf.c, "GET rj:lock:{mail:1}:fence");
	ck_assert_int_eq(strtoll(r->str, NULL, 10), f1);
	freeReplyObject(r);
	r = must_command(rf.c, "GET rj:lock:{mail:2}:fence");
	ck_assert_int_eq(strtoll(r->str, NULL, 10), f2);
	freeReplyObject(r);
	ck_assert_int_eq(must_int(rf.c, "EXISTS rj:lock:{mail:3}:fence"), 1);
	r = must_command(rf.c, "ZSCORE rj:lock:{mail:2}:wait q:4");
	ck_assert_str_eq(r->str, "4");
	freeReplyObject(r);

	/* A fence counter of another type fails that job's lock only. */
	freeReplyObject(must_command(rf.c, "HSET rj:lock:{mail:6}:fence a b"));
	freeReplyObject(must_command(rf.c, "FCALL redjob_enqueue 1 %s t '' "
	    "key 5", GQ));
	freeReplyObject(must_command(rf.c, "FCALL redjob_enqueue 1 %s t '' "
	    "key 6", GQ));
	r = claim_guarded(2, GLOCK);
	expect_answer(r, 0, "granted", NULL, -1);
	expect_answer(r, 1, "error", "0", -1);
	freeReplyObject(r);
	ck_assert_int_eq(must_int(rf.c, "EXISTS rj:lock:{mail:6}"), 0);
}
END_TEST

/*
 * A guard function that refuses its arguments fails that job's guards
 * only (the job is leased, its answer says why); a spec that is not one
 * fails the claim before it writes anything; so do ack "release" groups
 * that are not ones.
 */
START_TEST(test_bad_guard_specs_and_releases_are_refused)
{
	const redisReply *a;
	redisReply *r;

	freeReplyObject(must_command(rf.c, "FCALL redjob_enqueue 1 %s t '' "
	    "key 1", GQ));
	expect_err("REDJOB_BADARG", "malformed item", "FCALL redjob_claim 1 %s "
	    "1 5000 3 %s w guard t X", GQ, GTOK);
	expect_err("REDJOB_BADARG", "malformed item", "FCALL redjob_claim 1 %s "
	    "1 5000 3 %s w guard t L\037w\037window\037\0371", GQ, GTOK);
	ck_assert_int_eq(must_int(rf.c, "ZCARD %s:due", GQ), 1);
	ck_assert_int_eq(must_int(rf.c, "EXISTS %s:run", GQ), 0);
	r = claim_guarded(1, "L\037w\037window\037\0370\0371000");
	a = guard_answer(r, 0);
	ck_assert_str_eq(a->element[0]->str, "error");
	ck_assert_str_eq(a->element[1]->str, "1");
	ck_assert_msg(strncmp(a->element[2]->str, "REDJOB_BADARG", 13) == 0,
	    "%s", a->element[2]->str);
	freeReplyObject(r);
	ck_assert_int_eq(must_int(rf.c, "ZCARD %s:run", GQ), 1);
	expect_err("REDJOB_BADARG", "release", "FCALL redjob_ack 1 %s q:1 %s "
	    "release lock k", GQ, GTOK);
	expect_err("REDJOB_BADARG", "release", "FCALL redjob_ack 1 %s q:1 %s "
	    "release unlock k t", GQ, GTOK);
	ck_assert_int_eq(must_int(rf.c, "ZCARD %s:run", GQ), 1);
}
END_TEST

Suite *
suite(void)
{
	Suite *s = suite_create("lock");
	TCase *tc = tcase_create("functions");

	tcase_set_timeout(tc, 30);
	tcase_add_unchecked_fixture(tc, redis_start, redis_stop);
	tcase_add_checked_fixture(tc, redis_conn_setup_lib,
	    redis_conn_teardown);
	tcase_add_test(tc, test_only_the_token_holder_renews_and_releases);
	tcase_add_test(tc, test_fences_grow_with_every_grant);
	tcase_add_test(tc, test_fence_grows_after_the_counter_is_lost);
	tcase_add_test(tc,
	    test_retried_acquire_returns_the_same_fence_and_renews);
	tcase_add_test(tc, test_expiry_frees_the_lock);
	tcase_add_test(tc, test_holder_without_ttl_is_reported_as_minus_one);
	tcase_add_test(tc, test_bad_arguments_are_refused_before_any_write);
	tcase_add_test(tc, test_wait_list_hands_waiters_over_in_order);
	tcase_add_test(tc, test_wake_makes_a_waiter_due_or_marks_it);
	tcase_add_test(tc,
	    test_a_claim_takes_its_jobs_locks_and_the_ack_gives_them_back);
	tcase_add_test(tc,
	    test_a_claim_refused_by_a_limiter_gives_back_the_earlier_ones);
	tcase_add_test(tc, test_bad_guard_specs_and_releases_are_refused);
	tcase_add_test(tc,
	    test_a_limit_that_runs_out_in_a_claim_holds_back_the_rest);
	tcase_add_test(tc, test_a_brief_claim_answers_for_packed_guarded_jobs);
	tcase_add_test(tc, test_an_ack_wakes_a_waiter_per_live_slot_it_gives_back);
	tcase_add_test(tc, test_a_claim_gives_back_what_a_refused_job_took_in_it);
	tcase_add_test(tc, test_a_claims_locks_get_growing_fences);
	suite_add_tcase(s, tc);

	tc = tcase_create("contention");
	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, redis_start, redis_stop);
	tcase_add_checked_fixture(tc, redis_conn_setup_lib,
	    redis_conn_teardown);
	tcase_add_test(tc,
	    test_contending_processes_never_overlap_and_fences_grow);
	suite_add_tcase(s, tc);
	return s;
}
