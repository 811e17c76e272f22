/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * One table of ranges (src/ranges.h) for the configuration checker and
 * the guard functions: the Lua constants the build made from it are the
 * header's values, and at each end of each range of a limiter or lock,
 * what "redjobd -t" accepts the library takes from a real redis-server,
 * and the first value past it is refused by both (issue 10, class 6).
 */
#include "autoconf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <hiredis/hiredis.h>

#include "config.h"
#include "diags.h"
#include "guard.h"
#include "proc.h"
#include "ranges.h"
#include "redis_fixture.h"
#include "rfunc.h"
#include "testlib.h"

START_TEST(test_lua_constants_are_the_header_values)
{
	static const struct {
		const char		*name;
		unsigned long long	 value;
	} c[] = {
		{ "G_COUNT_MAX", GUARD_COUNT_MAX },
		{ "G_PERIOD_MAX", GUARD_PERIOD_MAX },
		{ "G_TTL_MAX", GUARD_TTL_MAX },
		{ "G_NOW_MAX", GUARD_NOW_MAX },
		{ "G_SCALED_MAX", GUARD_SCALED_MAX },
		{ "G_FENCE_MAX", GUARD_FENCE_MAX },
		{ "G_WINDOW_MAX", GUARD_WINDOW_MAX },
	};
	char line[128], *at;
	size_t i;

	for (i = 0; i < sizeof c / sizeof c[0]; i++) {
		snprintf(line, sizeof line, "\nlocal %s = %llu\n", c[i].name,
		    c[i].value);
		at = strstr(rfunc_lua, line);
		ck_assert_msg(at != NULL, "the library does not define%s",
		    line);
		/* Defined once, before guards.lua uses it. */
		ck_assert_msg(strstr(at + 1, line) == NULL, "%s twice",
		    c[i].name);
		snprintf(line, sizeof line, "local %s =", c[i].name);
		ck_assert_ptr_eq(strstr(rfunc_lua, line), at + 1);
	}
}
END_TEST

/*
 * A limiter at the end of one of its ranges: yaml defines it as limiter
 * "l" with the largest value accepted; bump turns it into the first value
 * past the end, and over is that limiter's YAML, with what "redjobd -t"
 * says of it.
 */
struct edge {
	const char	*what;
	const char	*yaml;
	void		(*bump)(struct limiter_conf *);
	const char	*over;
	const char	*diag;
};

static void bump_limit(struct limiter_conf *l) { l->limit++; }
static void bump_period(struct limiter_conf *l) { l->period_ms++; }
static void bump_capacity(struct limiter_conf *l) { l->capacity++; }
static void bump_rate_period(struct limiter_conf *l) { l->rate.period_ms++; }
static void bump_burst(struct limiter_conf *l) { l->burst++; }
static void bump_lease(struct limiter_conf *l) { l->lease_ms++; }

static const struct edge edges[] = {
	{ "window limit",
	  "{ kind: window, limit: 100000, period: 1s }", bump_limit,
	  "{ kind: window, limit: 100001, period: 1s }",
	  "limiters.l.limit: must be between 1 and 100000, got 100001" },
	{ "window period",
	  "{ kind: window, limit: 1, period: 68719476736ms }", bump_period,
	  "{ kind: window, limit: 1, period: 68719476737ms }",
	  "limiters.l.period: must be at most 795d8h44m36s736ms" },
	{ "funnel capacity",
	  "{ kind: funnel, capacity: 1073741824, rate: 1/s }", bump_capacity,
	  "{ kind: funnel, capacity: 1073741825, rate: 1/s }",
	  "limiters.l.capacity: must be between 1 and 1073741824" },
	{ "funnel rate period",
	  "{ kind: funnel, capacity: 1, rate: 1/68719476736ms }",
	  bump_rate_period,
	  "{ kind: funnel, capacity: 1, rate: 1/68719476737ms }",
	  "limiters.l.rate: must count at most 1073741824 events over at "
	  "most 795d8h44m36s736ms" },
	{ "funnel capacity x period",
	  "{ kind: funnel, capacity: 16384, rate: 1/68719476736ms }",
	  bump_capacity,
	  "{ kind: funnel, capacity: 16385, rate: 1/68719476736ms }",
	  "limiters.l: capacity 16385 x the rate's period 68719476736ms is "
	  "over 1125899906842624" },
	{ "gcra burst",
	  "{ kind: gcra, rate: 1/s, burst: 1073741824 }", bump_burst,
	  "{ kind: gcra, rate: 1/s, burst: 1073741825 }",
	  "limiters.l.burst: must be between 0 and 1073741824" },
	{ "gcra rate period",
	  "{ kind: gcra, rate: 1/68719476736ms }", bump_rate_period,
	  "{ kind: gcra, rate: 1/68719476737ms }",
	  "limiters.l.rate: must count at most" },
	{ "gcra tolerance",
	  "{ kind: gcra, rate: 1/68719476736ms, burst: 15 }", bump_burst,
	  "{ kind: gcra, rate: 1/68719476736ms, burst: 16 }",
	  "limiters.l: burst + 1 (17) x the rate's emission interval "
	  "(68719476736000 us) is over 1125899906842624 us" },
	{ "concurrency limit",
	  "{ kind: concurrency, limit: 1073741824 }", bump_limit,
	  "{ kind: concurrency, limit: 1073741825 }",
	  "limiters.l.limit: must be between 1 and 1073741824" },
	{ "concurrency lease",
	  "{ kind: concurrency, limit: 1, lease: 68719476736ms }", bump_lease,
	  "{ kind: concurrency, limit: 1, lease: 68719476737ms }",
	  "limiters.l.lease: must be at most 795d8h44m36s736ms" },
};

/* Write text to dir/redjob.yml; its path, caller frees. */
static char *
write_text(const char *dir, const char *text)
{
	char *path;
	FILE *f;

	ck_assert_int_ge(asprintf(&path, "%s/redjob.yml", dir), 0);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

/* Write a configuration with limiter l = spec; its path, caller frees. */
static char *
write_config(const char *dir, const char *spec)
{
	char *path, *text;

	ck_assert_int_ge(asprintf(&text, "limiters:\n  l: %s\n", spec), 0);
	path = write_text(dir, text);
	free(text);
	return path;
}

/* Run the real "redjobd -t -c path"; its exit status, output in *out. */
static int
redjobd_check(const char *path, char **out)
{
	char *redjobd, *cause = NULL, t[] = "-t", copt[] = "-c";
	struct proc_spec spec;
	struct proc *p;
	int status;

	ck_assert_int_ge(asprintf(&redjobd, "%s/src/redjobd",
	    testlib_builddir()), 0);
	memset(&spec, 0, sizeof spec);
	spec.argv = (char *const[]){ redjobd, t, copt, (char *)path,
	    NULL };
	spec.out = PROC_IO_CAPTURE;
	spec.err = PROC_IO_STDOUT;
	p = proc_spawn(&spec, &cause);
	ck_assert_msg(p != NULL, "redjobd -t: %s", cause);
	ck_assert_int_eq(proc_wait(p, 30000), 0);
	status = p->status;
	*out = strdup(p->out != NULL ? p->out : "");
	proc_free(p);
	free(redjobd);
	return status;
}

/* FCALL c on the test's server; the reply, caller frees. */
static redisReply *
guard_fcall(const struct guard_call *c)
{
	const char *argv[16];
	int argc = 0, i;
	redisReply *r;

	argv[argc++] = "FCALL";
	argv[argc++] = c->fn;
	argv[argc++] = "1";
	argv[argc++] = c->key;
	for (i = 0; i < c->argc; i++)
		argv[argc++] = c->argv[i];
	r = redisCommandArgv(rf.c, argc, argv, NULL);
	ck_assert_msg(r != NULL, "FCALL %s: %s", c->fn, rf.c->errstr);
	return r;
}

/* The calls a worker makes for l, all of which must be answered. */
static void
guard_calls_succeed(const struct edge *e, const struct limiter_conf *l)
{
	struct guard_call c;
	redisReply *r;
	int round;

	for (round = 0; round < 2; round++) {
		guard_limit_acquire(&c, "rj:limit:{l:}", l, "job:1:token",
		    round);
		r = guard_fcall(&c);
		ck_assert_msg(r->type == REDIS_REPLY_ARRAY, "%s: %s refused "
		    "what redjobd -t accepts: %s", e->what, c.fn,
		    r->type == REDIS_REPLY_ERROR ? r->str : "?");
		freeReplyObject(r);
		guard_call_clear(&c);
	}
	if (guard_limit_renew(&c, "rj:limit:{l:}", l, "job:1:token") == 0) {
		r = guard_fcall(&c);
		ck_assert_msg(r->type == REDIS_REPLY_INTEGER, "%s: %s: %s",
		    e->what, c.fn, r->type == REDIS_REPLY_ERROR ? r->str : "?");
		freeReplyObject(r);
		guard_call_clear(&c);
	}
	guard_limit_undo(&c, "rj:limit:{l:}", l, "job:1:token");
	r = guard_fcall(&c);
	ck_assert_msg(r->type == REDIS_REPLY_INTEGER, "%s: %s: %s", e->what,
	    c.fn, r->type == REDIS_REPLY_ERROR ? r->str : "?");
	freeReplyObject(r);
	guard_call_clear(&c);
}

START_TEST(test_each_end_accepted_by_redjobd_t_is_taken_by_the_library)
{
	const struct edge *e = &edges[_i];
	struct limiter_conf l;
	struct diags d = { NULL, 0 };
	struct guard_call c;
	struct config *cfg;
	redisReply *r;
	char *dir, *path, *out;

	dir = testlib_tmpdir("ranges");

	/* The last value in range: redjobd -t says OK, the library agrees. */
	path = write_config(dir, e->yaml);
	ck_assert_msg(redjobd_check(path, &out) == 0, "%s: redjobd -t "
	    "refused %s: %s", e->what, e->yaml, out);
	free(out);
	cfg = config_load(path, &d);
	ck_assert_msg(cfg != NULL && d.n == 0, "%s did not load", e->yaml);
	l = *config_find_limiter(cfg, "l");
	guard_calls_succeed(e, &l);
	free(path);

	/* The first past it: the library refuses it with BADARG... */
	e->bump(&l);
	guard_limit_acquire(&c, "rj:limit:{l2:}", &l, "job:1:token", 1);
	r = guard_fcall(&c);
	ck_assert_msg(r->type == REDIS_REPLY_ERROR &&
	    strncmp(r->str, "REDJOB_BADARG ", 14) == 0, "%s: %s took a value "
	    "past the end", e->what, c.fn);
	freeReplyObject(r);
	guard_call_clear(&c);
	config_free(cfg);

	/* ... and so does redjobd -t, naming the key. */
	path = write_config(dir, e->over);
	ck_assert_int_eq(redjobd_check(path, &out), 1);
	ck_assert_msg(strstr(out, e->diag) != NULL, "%s: redjobd -t said\n%s"
	    "expected\n%s", e->what, out, e->diag);
	free(out);
	free(path);
	testlib_rmtree(dir);
	free(dir);
}
END_TEST

/* A lock's longest ttl that redjobd -t accepts is one the library takes. */
START_TEST(test_longest_lock_ttl_is_taken_by_the_library)
{
	struct diags d = { NULL, 0 };
	struct config *cfg;
	const struct job_conf *jc;
	redisReply *r;
	const char *text;
	char *dir, *path, ttl[32];

	dir = testlib_tmpdir("ranges");
	text = "jobs:\n  j:\n    exec: [/bin/true]\n"
	    "    lock: { key: k, ttl: 3660d }\n";
	path = write_text(dir, text);
	cfg = config_load(path, &d);
	ck_assert(cfg != NULL && d.n == 0);
	jc = config_find_job(cfg, "j");
	ck_assert(jc->lock.ttl_ms <= GUARD_TTL_MAX);
	snprintf(ttl, sizeof ttl, "%llu", (unsigned long long)jc->lock.ttl_ms);
	r = redisCommand(rf.c, "FCALL redjob_lock_acquire 1 rj:lock:{k} "
	    "token-0001 %s", ttl);
	ck_assert_msg(r != NULL && r->type == REDIS_REPLY_ARRAY,
	    "lock_acquire refused ttl %s: %s", ttl, r != NULL &&
	    r->type == REDIS_REPLY_ERROR ? r->str : "?");
	freeReplyObject(r);
	r = redisCommand(rf.c, "FCALL redjob_lock_renew 1 rj:lock:{k} "
	    "token-0001 %s", ttl);
	ck_assert(r != NULL && r->type == REDIS_REPLY_INTEGER &&
	    r->integer == 1);
	freeReplyObject(r);
	config_free(cfg);
	free(path);
	testlib_rmtree(dir);
	free(dir);
}
END_TEST

Suite *
suite(void)
{
	Suite *s = suite_create("ranges");
	TCase *tc = tcase_create("table");

	tcase_add_test(tc, test_lua_constants_are_the_header_values);
	suite_add_tcase(s, tc);

	tc = tcase_create("edges");
	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, redis_start, redis_stop);
	tcase_add_checked_fixture(tc, redis_conn_setup_lib,
	    redis_conn_teardown);
	tcase_add_loop_test(tc,
	    test_each_end_accepted_by_redjobd_t_is_taken_by_the_library, 0,
	    sizeof edges / sizeof edges[0]);
	tcase_add_test(tc, test_longest_lock_ttl_is_taken_by_the_library);
	suite_add_tcase(s, tc);
	return s;
}
