/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The pure part of the guards (src/guard.c): the exact key of a lock and
 * of a limiter partition, with the escaping of what an enqueuer chose;
 * the exact FCALL each limiter kind is asked with, given back with and
 * renewed with, as docs/guards.md gives their signatures; reading a
 * limiter's answer; and the interval that spreads throttled jobs.
 */
#include "autoconf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <hiredis/hiredis.h>

#include "config.h"
#include "guard.h"
#include "template.h"
#include "testlib.h"

static struct limiter_conf
limiter(const char *name, enum limiter_kind kind, const char *key)
{
	struct limiter_conf l;

	memset(&l, 0, sizeof l);
	l.name = (char *)name;
	l.kind = kind;
	l.key = (char *)key;
	return l;
}

static struct lock_conf
lock(const char *key)
{
	struct lock_conf lk;

	memset(&lk, 0, sizeof lk);
	lk.key = (char *)key;
	lk.ttl_ms = 60000;
	return lk;
}

/* Check a call: its function, its key and every argument, in order. */
static void
assert_call(const struct guard_call *c, const char *fn, const char *key,
    int argc, const char *const *argv)
{
	int i;

	ck_assert_str_eq(c->fn, fn);
	ck_assert_str_eq(c->key, key);
	ck_assert_int_eq(c->argc, argc);
	for (i = 0; i < argc; i++)
		ck_assert_msg(c->argv[i] != NULL && strcmp(c->argv[i],
		    argv[i]) == 0, "%s argument %d: \"%s\", not \"%s\"", fn, i,
		    c->argv[i] != NULL ? c->argv[i] : "(null)", argv[i]);
}

START_TEST(test_lock_key_is_the_rendered_template_as_hash_tag)
{
	struct lock_conf lk = lock("report:{key}");
	struct template_vars v = { "7", "report", "default", "default:3" };
	char *k;

	k = guard_lock_key("redjob", &lk, &v);
	ck_assert_str_eq(k, "redjob:lock:{report:7}");
	free(k);
	lk = lock("export-{type}-{queue}-{id}");
	k = guard_lock_key("app:jobs", &lk, &v);
	ck_assert_str_eq(k, "app:jobs:lock:{export-report-default-default:3}");
	free(k);
	/* No key at enqueue: the placeholder renders empty. */
	v.key = NULL;
	lk = lock("acct:{key}");
	k = guard_lock_key("redjob", &lk, &v);
	ck_assert_str_eq(k, "redjob:lock:{acct:}");
	free(k);
}
END_TEST

START_TEST(test_lock_key_escapes_what_the_enqueuer_chose)
{
	struct lock_conf lk = lock("acct:{key}");
	struct template_vars v = { "4{2}", "t", "q", "q:1" };
	char *k;

	/* Braces cannot open a second hash tag; '%' is escaped too. */
	k = guard_lock_key("redjob", &lk, &v);
	ck_assert_str_eq(k, "redjob:lock:{acct:4%7B2%7D}");
	free(k);
	v.key = "}{";
	k = guard_lock_key("redjob", &lk, &v);
	ck_assert_str_eq(k, "redjob:lock:{acct:%7D%7B}");
	free(k);
	v.key = "100%";
	k = guard_lock_key("redjob", &lk, &v);
	ck_assert_str_eq(k, "redjob:lock:{acct:100%25}");
	free(k);
	/* Two keys that differ never render alike. */
	v.key = "%7B";
	k = guard_lock_key("redjob", &lk, &v);
	ck_assert_str_eq(k, "redjob:lock:{acct:%257B}");
	free(k);
}
END_TEST

START_TEST(test_limit_key_names_the_limiter_and_its_partition)
{
	struct limiter_conf l = limiter("per_user", LIMITER_WINDOW,
	    "user:{key}");
	struct template_vars v = { "42", "send", "mail", "mail:9" };
	char *k;

	/* docs/guards.md's examples. */
	k = guard_limit_key("redjob", &l, &v);
	ck_assert_str_eq(k, "redjob:limit:{per_user:user:42}");
	free(k);
	l = limiter("leaky", LIMITER_FUNNEL, NULL);
	k = guard_limit_key("redjob", &l, &v);
	ck_assert_str_eq(k, "redjob:limit:{leaky:}");
	free(k);
	l = limiter("exports", LIMITER_CONCURRENCY, NULL);
	k = guard_limit_key("app:jobs", &l, &v);
	ck_assert_str_eq(k, "app:jobs:limit:{exports:}");
	free(k);
	l = limiter("q", LIMITER_GCRA, "{queue}/{type}/{id}");
	k = guard_limit_key("ns", &l, &v);
	ck_assert_str_eq(k, "ns:limit:{q:mail/send/mail:9}");
	free(k);
	/* An empty key partitions into "", not into no partition. */
	l = limiter("per_user", LIMITER_WINDOW, "user:{key}");
	v.key = NULL;
	k = guard_limit_key("redjob", &l, &v);
	ck_assert_str_eq(k, "redjob:limit:{per_user:user:}");
	free(k);
}
END_TEST

START_TEST(test_limit_key_escapes_what_the_enqueuer_chose)
{
	struct limiter_conf l = limiter("per_user", LIMITER_GCRA, "{key}");
	struct template_vars v = { "a}:{b", "t", "q", "q:1" };
	char *k;

	k = guard_limit_key("redjob", &l, &v);
	ck_assert_str_eq(k, "redjob:limit:{per_user:a%7D:%7Bb}");
	free(k);
	v.key = "50%{";
	k = guard_limit_key("redjob", &l, &v);
	ck_assert_str_eq(k, "redjob:limit:{per_user:50%25%7B}");
	free(k);
}
END_TEST

START_TEST(test_acquire_calls_match_the_documented_signatures)
{
	struct limiter_conf l;
	struct guard_call c;

	/* redjob_limit_window KEY LIMIT PERIOD_MS MEMBER COST */
	l = limiter("w", LIMITER_WINDOW, NULL);
	l.limit = 5;
	l.period_ms = 60000;
	guard_limit_acquire(&c, "ns:limit:{w:}", &l, "q:1:tok", 1);
	assert_call(&c, "redjob_limit_window", "ns:limit:{w:}", 4,
	    (const char *[]){ "5", "60000", "q:1:tok", "1" });
	guard_call_clear(&c);
	ck_assert_ptr_null(c.key);
	guard_limit_acquire(&c, "ns:limit:{w:}", &l, "q:1:tok", 0);
	assert_call(&c, "redjob_limit_window", "ns:limit:{w:}", 4,
	    (const char *[]){ "5", "60000", "q:1:tok", "0" });
	guard_call_clear(&c);

	/* redjob_limit_funnel KEY CAPACITY RATE_COUNT RATE_PERIOD_MS COST */
	l = limiter("f", LIMITER_FUNNEL, NULL);
	l.capacity = 15;
	l.rate.count = 1;
	l.rate.period_ms = 1000;
	guard_limit_acquire(&c, "ns:limit:{f:}", &l, "q:2:tok", 7);
	assert_call(&c, "redjob_limit_funnel", "ns:limit:{f:}", 4,
	    (const char *[]){ "15", "1", "1000", "7" });
	guard_call_clear(&c);

	/* redjob_limit_gcra KEY BURST RATE_COUNT RATE_PERIOD_MS COST */
	l = limiter("g", LIMITER_GCRA, NULL);
	l.burst = 20;
	l.rate.count = 10;
	l.rate.period_ms = 1000;
	guard_limit_acquire(&c, "ns:limit:{g:}", &l, "q:3:tok", 1);
	assert_call(&c, "redjob_limit_gcra", "ns:limit:{g:}", 4,
	    (const char *[]){ "20", "10", "1000", "1" });
	guard_call_clear(&c);
	l.burst = 0;
	l.rate.count = 30;
	l.rate.period_ms = 68719476736ULL;	/* 2^36, the largest period */
	guard_limit_acquire(&c, "ns:limit:{g:}", &l, "q:3:tok", 1);
	assert_call(&c, "redjob_limit_gcra", "ns:limit:{g:}", 4,
	    (const char *[]){ "0", "30", "68719476736", "1" });
	guard_call_clear(&c);

	/* redjob_limit_conc_acquire KEY LIMIT LEASE_MS MEMBER */
	l = limiter("c", LIMITER_CONCURRENCY, NULL);
	l.limit = 2;
	l.lease_ms = 120000;
	guard_limit_acquire(&c, "ns:limit:{c:}", &l, "q:4:tok", 1);
	assert_call(&c, "redjob_limit_conc_acquire", "ns:limit:{c:}", 3,
	    (const char *[]){ "2", "120000", "q:4:tok" });
	guard_call_clear(&c);
}
END_TEST

START_TEST(test_undo_calls_give_back_one_unit_of_each_kind)
{
	struct limiter_conf l;
	struct guard_call c;

	/* redjob_limit_undo KEY window MEMBER */
	l = limiter("w", LIMITER_WINDOW, NULL);
	l.limit = 5;
	l.period_ms = 1000;
	ck_assert_int_eq(guard_limit_undo(&c, "k1", &l, "q:1:tok"), 0);
	assert_call(&c, "redjob_limit_undo", "k1", 2,
	    (const char *[]){ "window", "q:1:tok" });
	guard_call_clear(&c);

	/* redjob_limit_undo KEY gcra RATE_COUNT RATE_PERIOD_MS COST */
	l = limiter("g", LIMITER_GCRA, NULL);
	l.burst = 3;
	l.rate.count = 20;
	l.rate.period_ms = 1000;
	ck_assert_int_eq(guard_limit_undo(&c, "k2", &l, "q:2:tok"), 0);
	assert_call(&c, "redjob_limit_undo", "k2", 4,
	    (const char *[]){ "gcra", "20", "1000", "1" });
	guard_call_clear(&c);

	/* redjob_limit_undo KEY funnel CAPACITY RATE_COUNT RATE_PERIOD_MS COST */
	l = limiter("f", LIMITER_FUNNEL, NULL);
	l.capacity = 9;
	l.rate.count = 3;
	l.rate.period_ms = 60000;
	ck_assert_int_eq(guard_limit_undo(&c, "k3", &l, "q:3:tok"), 0);
	assert_call(&c, "redjob_limit_undo", "k3", 5,
	    (const char *[]){ "funnel", "9", "3", "60000", "1" });
	guard_call_clear(&c);

	/* A concurrency slot is released: redjob_limit_conc_release KEY MEMBER */
	l = limiter("c", LIMITER_CONCURRENCY, NULL);
	l.limit = 2;
	l.lease_ms = 60000;
	ck_assert_int_eq(guard_limit_undo(&c, "k4", &l, "q:4:tok"), 0);
	assert_call(&c, "redjob_limit_conc_release", "k4", 1,
	    (const char *[]){ "q:4:tok" });
	guard_call_clear(&c);
}
END_TEST

START_TEST(test_only_a_concurrency_slot_is_renewed)
{
	static const enum limiter_kind others[] = { LIMITER_WINDOW,
	    LIMITER_FUNNEL, LIMITER_GCRA };
	struct limiter_conf l;
	struct guard_call c;
	size_t i;

	/* redjob_limit_conc_renew KEY LEASE_MS MEMBER */
	l = limiter("c", LIMITER_CONCURRENCY, NULL);
	l.limit = 2;
	l.lease_ms = 2000;
	ck_assert_int_eq(guard_limit_renew(&c, "k", &l, "q:1:tok"), 0);
	assert_call(&c, "redjob_limit_conc_renew", "k", 2,
	    (const char *[]){ "2000", "q:1:tok" });
	guard_call_clear(&c);
	for (i = 0; i < sizeof others / sizeof others[0]; i++) {
		l = limiter("x", others[i], NULL);
		l.limit = l.capacity = l.rate.count = 1;
		l.period_ms = l.rate.period_ms = 1000;
		ck_assert_int_eq(guard_limit_renew(&c, "k", &l, "m"), -1);
		ck_assert_ptr_null(c.key);
		ck_assert_int_eq(c.argc, 0);
		guard_call_clear(&c);
	}
}
END_TEST

/* A reply array of n elements (integers or, with strings, bulk strings). */
static redisReply *
answer(size_t n, const long long *v, int strings)
{
	redisReply *r = calloc(1, sizeof *r);
	char buf[32];
	size_t i;

	ck_assert_ptr_nonnull(r);
	r->type = REDIS_REPLY_ARRAY;
	r->elements = n;
	r->element = calloc(n + 1, sizeof *r->element);
	for (i = 0; i < n; i++) {
		r->element[i] = calloc(1, sizeof **r->element);
		if (strings) {
			snprintf(buf, sizeof buf, "%lld", v[i]);
			r->element[i]->type = REDIS_REPLY_STRING;
			r->element[i]->str = strdup(buf);
			r->element[i]->len = strlen(buf);
		} else {
			r->element[i]->type = REDIS_REPLY_INTEGER;
			r->element[i]->integer = v[i];
		}
	}
	return r;
}

START_TEST(test_answers_are_read_field_by_field)
{
	static const long long refused[5] = { 1, 5, 0, 59968, 59994 };
	static const long long allowed[5] = { 0, 16, 15, -1, 2000 };
	static const long long reserved[5] = { 2, 1, 0, 500, 600 };
	static const long long bogus[5] = { 3, 1, 0, 500, 600 };
	struct guard_answer a;
	redisReply *r, one = { 0 };

	r = answer(5, refused, 0);
	memset(&a, 0xa5, sizeof a);
	ck_assert_int_eq(guard_parse_answer(r, &a), 0);
	ck_assert_int_eq(a.limited, 1);
	ck_assert_int_eq(a.limit, 5);
	ck_assert_int_eq(a.remaining, 0);
	ck_assert_int_eq(a.retry_after_ms, 59968);
	ck_assert_int_eq(a.reset_after_ms, 59994);
	freeReplyObject(r);

	r = answer(5, allowed, 1);
	ck_assert_int_eq(guard_parse_answer(r, &a), 0);
	ck_assert_int_eq(a.limited, 0);
	ck_assert_int_eq(a.limit, 16);
	ck_assert_int_eq(a.remaining, 15);
	ck_assert_int_eq(a.retry_after_ms, -1);
	ck_assert_int_eq(a.reset_after_ms, 2000);
	freeReplyObject(r);

	/* redjob_limit_reserve's "reserved"; no other value is one. */
	r = answer(5, reserved, 0);
	ck_assert_int_eq(guard_parse_answer(r, &a), 0);
	ck_assert_int_eq(a.limited, 2);
	ck_assert_int_eq(a.retry_after_ms, 500);
	freeReplyObject(r);
	r = answer(5, bogus, 0);
	ck_assert_int_eq(guard_parse_answer(r, &a), -1);
	freeReplyObject(r);

	/* Not an answer: too short, not an array, none at all. */
	r = answer(4, refused, 0);
	ck_assert_int_eq(guard_parse_answer(r, &a), -1);
	freeReplyObject(r);
	one.type = REDIS_REPLY_INTEGER;
	one.integer = 1;
	ck_assert_int_eq(guard_parse_answer(&one, &a), -1);
	ck_assert_int_eq(guard_parse_answer(NULL, &a), -1);
}
END_TEST

START_TEST(test_interval_is_the_steady_spacing_of_each_kind)
{
	struct limiter_conf l;

	l = limiter("w", LIMITER_WINDOW, NULL);
	l.limit = 5;
	l.period_ms = 60000;
	ck_assert_uint_eq(guard_interval_ms(&l), 12000);
	l = limiter("g", LIMITER_GCRA, NULL);
	l.burst = 20;
	l.rate.count = 10;
	l.rate.period_ms = 1000;
	ck_assert_uint_eq(guard_interval_ms(&l), 100);
	l = limiter("f", LIMITER_FUNNEL, NULL);
	l.capacity = 15;
	l.rate.count = 3;
	l.rate.period_ms = 10000;
	ck_assert_uint_eq(guard_interval_ms(&l), 3333);
	/* Faster than one a millisecond: no spacing to add. */
	l.rate.count = 5000;
	l.rate.period_ms = 1000;
	ck_assert_uint_eq(guard_interval_ms(&l), 0);
	l = limiter("c", LIMITER_CONCURRENCY, NULL);
	l.limit = 2;
	l.lease_ms = 60000;
	ck_assert_uint_eq(guard_interval_ms(&l), 0);
}
END_TEST

/*
 * GCRA, funnel and window limiters are asked with redjob_limit_reserve
 * (an hour ahead at most); a concurrency limiter cannot reserve. A
 * reservation stays valid for the limiter's burst over its rate (a
 * window's period), at least a second.
 */
START_TEST(test_reserve_calls_and_their_validity)
{
	struct limiter_conf l;
	struct guard_call c;

	/* redjob_limit_reserve KEY gcra BURST RATE_COUNT RATE_PERIOD_MS COST
	 * MAX_WAIT_MS */
	l = limiter("g", LIMITER_GCRA, NULL);
	l.burst = 9;
	l.rate.count = 2;
	l.rate.period_ms = 1000;
	ck_assert_int_eq(guard_limit_reserve(&c, "ns:limit:{g:}", &l, "m", 1), 0);
	assert_call(&c, "redjob_limit_reserve", "ns:limit:{g:}", 6,
	    (const char *[]){ "gcra", "9", "2", "1000", "1", "3600000" });
	guard_call_clear(&c);
	/* 10 at once at 2/s: 5 s. */
	ck_assert_uint_eq(guard_reserve_valid_ms(&l), 5000);
	l.burst = 0;
	l.rate.count = 1000;
	ck_assert_uint_eq(guard_reserve_valid_ms(&l), 1000);

	l = limiter("f", LIMITER_FUNNEL, NULL);
	l.capacity = 15;
	l.rate.count = 1;
	l.rate.period_ms = 1000;
	ck_assert_int_eq(guard_limit_reserve(&c, "ns:limit:{f:}", &l, "m", 1), 0);
	assert_call(&c, "redjob_limit_reserve", "ns:limit:{f:}", 6,
	    (const char *[]){ "funnel", "15", "1", "1000", "1", "3600000" });
	guard_call_clear(&c);
	ck_assert_uint_eq(guard_reserve_valid_ms(&l), 15000);

	/* redjob_limit_reserve KEY window LIMIT PERIOD_MS MEMBER COST
	 * MAX_WAIT_MS; valid for one period. */
	l = limiter("w", LIMITER_WINDOW, NULL);
	l.limit = 5;
	l.period_ms = 60000;
	ck_assert_int_eq(guard_limit_reserve(&c, "ns:limit:{w:}", &l, "j:1:t",
	    1), 0);
	assert_call(&c, "redjob_limit_reserve", "ns:limit:{w:}", 6,
	    (const char *[]){ "window", "5", "60000", "j:1:t", "1",
	    "3600000" });
	guard_call_clear(&c);
	ck_assert_uint_eq(guard_reserve_valid_ms(&l), 60000);
	l = limiter("c", LIMITER_CONCURRENCY, NULL);
	ck_assert_int_eq(guard_limit_reserve(&c, "ns:limit:{c:}", &l, "m", 1),
	    -1);
}
END_TEST

Suite *
suite(void)
{
	Suite *s = suite_create("guard");
	TCase *tc;

	tc = tcase_create("keys");
	tcase_add_test(tc, test_lock_key_is_the_rendered_template_as_hash_tag);
	tcase_add_test(tc, test_lock_key_escapes_what_the_enqueuer_chose);
	tcase_add_test(tc, test_limit_key_names_the_limiter_and_its_partition);
	tcase_add_test(tc, test_limit_key_escapes_what_the_enqueuer_chose);
	suite_add_tcase(s, tc);

	tc = tcase_create("calls");
	tcase_add_test(tc, test_acquire_calls_match_the_documented_signatures);
	tcase_add_test(tc, test_undo_calls_give_back_one_unit_of_each_kind);
	tcase_add_test(tc, test_only_a_concurrency_slot_is_renewed);
	tcase_add_test(tc, test_answers_are_read_field_by_field);
	tcase_add_test(tc, test_interval_is_the_steady_spacing_of_each_kind);
	tcase_add_test(tc, test_reserve_calls_and_their_validity);
	suite_add_tcase(s, tc);
	return s;
}
