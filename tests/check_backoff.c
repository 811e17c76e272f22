/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The retry delay of src/backoff.c, exactly: exponential growth per
 * attempt and its cap, linear growth and its cap, fixed delays, and the
 * jitter range of redjob.yml(5) ("each delay d is shortened by a random
 * amount of up to jitter x d"), with the random argument driven to its
 * extremes so that both ends of the range are seen; and the plain jitter
 * that spreads requeued jobs.
 */
#include "autoconf.h"

#include <stdint.h>
#include <string.h>

#include <check.h>

#include "backoff.h"
#include "config.h"
#include "testlib.h"

static struct retry_conf
retry(enum backoff_kind kind, uint64_t base_ms, uint64_t max_ms, double jitter)
{
	struct retry_conf rc;

	memset(&rc, 0, sizeof rc);
	rc.max_attempts = 25;
	rc.backoff = kind;
	rc.base_ms = base_ms;
	rc.max_ms = max_ms;
	rc.jitter = jitter;
	return rc;
}

START_TEST(test_exponential_doubles_with_each_attempt_up_to_max)
{
	struct retry_conf rc = retry(BACKOFF_EXPONENTIAL, 1000, 3600000, 0);
	uint64_t want = 1000;
	unsigned n;

	/* base * 2^(n-1): 1s, 2s, 4s, ... 2048s for attempt 12. */
	for (n = 1; n <= 12; n++) {
		ck_assert_msg(backoff_delay(&rc, n, 0) == want,
		    "attempt %u: %llu, not %llu", n,
		    (unsigned long long)backoff_delay(&rc, n, 0),
		    (unsigned long long)want);
		want *= 2;
	}
	/* 4096s is over max (1h): the cap from then on. */
	ck_assert_uint_eq(backoff_delay(&rc, 13, 0), 3600000);
	ck_assert_uint_eq(backoff_delay(&rc, 14, 0), 3600000);
	ck_assert_uint_eq(backoff_delay(&rc, 64, 0), 3600000);
	ck_assert_uint_eq(backoff_delay(&rc, 1000000, 0), 3600000);
	ck_assert_uint_eq(backoff_delay(&rc, UINT32_MAX, 0), 3600000);
	/* No failure yet counts as the first. */
	ck_assert_uint_eq(backoff_delay(&rc, 0, 0), 1000);
}
END_TEST

START_TEST(test_exponential_cap_between_two_powers)
{
	struct retry_conf rc = retry(BACKOFF_EXPONENTIAL, 1000, 5000, 0);

	ck_assert_uint_eq(backoff_delay(&rc, 1, 0), 1000);
	ck_assert_uint_eq(backoff_delay(&rc, 2, 0), 2000);
	ck_assert_uint_eq(backoff_delay(&rc, 3, 0), 4000);
	ck_assert_uint_eq(backoff_delay(&rc, 4, 0), 5000);
	ck_assert_uint_eq(backoff_delay(&rc, 5, 0), 5000);

	/* max equal to base: every delay is base. */
	rc = retry(BACKOFF_EXPONENTIAL, 250, 250, 0);
	ck_assert_uint_eq(backoff_delay(&rc, 1, 0), 250);
	ck_assert_uint_eq(backoff_delay(&rc, 2, 0), 250);
	ck_assert_uint_eq(backoff_delay(&rc, 40, 0), 250);

	/* The largest durations the configuration accepts (ten years). */
	rc = retry(BACKOFF_EXPONENTIAL, 1, 315360000000ULL, 0);
	ck_assert_uint_eq(backoff_delay(&rc, 39, 0), 1ULL << 38);
	ck_assert_uint_eq(backoff_delay(&rc, 40, 0), 315360000000ULL);
	ck_assert_uint_eq(backoff_delay(&rc, 200, 0), 315360000000ULL);
}
END_TEST

START_TEST(test_linear_grows_by_base_up_to_max)
{
	struct retry_conf rc = retry(BACKOFF_LINEAR, 2000, 600000, 0);
	unsigned n;

	for (n = 1; n <= 300; n++)
		ck_assert_msg(backoff_delay(&rc, n, 0) == 2000ULL * n,
		    "attempt %u: %llu", n,
		    (unsigned long long)backoff_delay(&rc, n, 0));
	ck_assert_uint_eq(backoff_delay(&rc, 301, 0), 600000);
	ck_assert_uint_eq(backoff_delay(&rc, 1000000, 0), 600000);
	ck_assert_uint_eq(backoff_delay(&rc, 0, 0), 2000);

	/* base * attempt beyond 64 bits is the cap, not a wrapped value. */
	rc = retry(BACKOFF_LINEAR, 315360000000ULL, 315360000000ULL, 0);
	ck_assert_uint_eq(backoff_delay(&rc, UINT32_MAX, 0), 315360000000ULL);
	rc = retry(BACKOFF_LINEAR, 1ULL << 40, UINT64_MAX, 0);
	ck_assert_uint_eq(backoff_delay(&rc, 1U << 24, 0), UINT64_MAX);
}
END_TEST

START_TEST(test_fixed_is_base_for_every_attempt)
{
	struct retry_conf rc = retry(BACKOFF_FIXED, 1500, 3600000, 0);

	ck_assert_uint_eq(backoff_delay(&rc, 0, 0), 1500);
	ck_assert_uint_eq(backoff_delay(&rc, 1, 0), 1500);
	ck_assert_uint_eq(backoff_delay(&rc, 2, 0), 1500);
	ck_assert_uint_eq(backoff_delay(&rc, 25, 0), 1500);
	ck_assert_uint_eq(backoff_delay(&rc, UINT32_MAX, 0), 1500);
	/* A zero delay stays zero, jitter or not. */
	rc = retry(BACKOFF_FIXED, 0, 0, 0.5);
	ck_assert_uint_eq(backoff_delay(&rc, 3, UINT64_MAX), 0);
}
END_TEST

/*
 * jitter j takes d down by up to floor(j * d): the delay is
 * d - floor(j * d) + random % (floor(j * d) + 1).
 */
START_TEST(test_jitter_spans_exactly_d_minus_jd_to_d)
{
	struct retry_conf rc = retry(BACKOFF_EXPONENTIAL, 1000, 3600000, 0.5);
	int seen[501];
	uint64_t r, v;
	int i;

	/* The extremes of the random argument. */
	ck_assert_uint_eq(backoff_delay(&rc, 1, 0), 500);
	ck_assert_uint_eq(backoff_delay(&rc, 1, 500), 1000);
	ck_assert_uint_eq(backoff_delay(&rc, 1, 501), 500);
	v = backoff_delay(&rc, 1, UINT64_MAX);
	ck_assert_msg(v >= 500 && v <= 1000, "random UINT64_MAX gave %llu",
	    (unsigned long long)v);
	ck_assert_uint_eq(v, 500 + UINT64_MAX % 501);
	/* Every value of [500, 1000] is reached, and no other. */
	memset(seen, 0, sizeof seen);
	for (r = 0; r < 2 * 501; r++) {
		v = backoff_delay(&rc, 1, r);
		ck_assert_msg(v >= 500 && v <= 1000, "random %llu gave %llu",
		    (unsigned long long)r, (unsigned long long)v);
		seen[v - 500]++;
	}
	for (i = 0; i <= 500; i++)
		ck_assert_msg(seen[i] == 2, "%d reached %d times", 500 + i,
		    seen[i]);

	/* On a later attempt, around the doubled delay. */
	ck_assert_uint_eq(backoff_delay(&rc, 3, 0), 2000);
	ck_assert_uint_eq(backoff_delay(&rc, 3, 2000), 4000);
	/* After the cap: around max, never above it. */
	ck_assert_uint_eq(backoff_delay(&rc, 30, 0), 1800000);
	ck_assert_uint_eq(backoff_delay(&rc, 30, 1800000), 3600000);
	ck_assert_uint_eq(backoff_delay(&rc, 30, 1800001), 1800000);
	/* An odd delay: the spread is rounded down. */
	rc = retry(BACKOFF_FIXED, 1001, 3600000, 0.5);
	ck_assert_uint_eq(backoff_delay(&rc, 1, 0), 501);
	ck_assert_uint_eq(backoff_delay(&rc, 1, 500), 1001);
	ck_assert_uint_eq(backoff_delay(&rc, 1, 501), 501);
}
END_TEST

START_TEST(test_jitter_zero_and_one_are_the_bounds)
{
	struct retry_conf rc = retry(BACKOFF_LINEAR, 400, 60000, 0);

	/* 0: the random value is ignored. */
	ck_assert_uint_eq(backoff_delay(&rc, 2, 0), 800);
	ck_assert_uint_eq(backoff_delay(&rc, 2, 12345), 800);
	ck_assert_uint_eq(backoff_delay(&rc, 2, UINT64_MAX), 800);
	/* 1: anything from 0 to the whole delay. */
	rc.jitter = 1;
	ck_assert_uint_eq(backoff_delay(&rc, 2, 0), 0);
	ck_assert_uint_eq(backoff_delay(&rc, 2, 800), 800);
	ck_assert_uint_eq(backoff_delay(&rc, 2, 801), 0);
	ck_assert_uint_eq(backoff_delay(&rc, 2, 400), 400);
	/* A quarter, on a fixed delay. */
	rc = retry(BACKOFF_FIXED, 2000, 3600000, 0.25);
	ck_assert_uint_eq(backoff_delay(&rc, 7, 0), 1500);
	ck_assert_uint_eq(backoff_delay(&rc, 7, 500), 2000);
	ck_assert_uint_eq(backoff_delay(&rc, 7, 501), 1500);
}
END_TEST

START_TEST(test_the_defaults_give_half_a_second_to_a_second_first)
{
	/* redjob.yml(5): exponential, base 1s, max 1h, jitter 0.5. */
	struct retry_conf rc = retry(BACKOFF_EXPONENTIAL, 1000, 3600000, 0.5);

	ck_assert_uint_eq(backoff_delay(&rc, 1, 0), 500);
	ck_assert_uint_eq(backoff_delay(&rc, 1, 500), 1000);
	ck_assert_uint_eq(backoff_delay(&rc, 2, 0), 1000);
	ck_assert_uint_eq(backoff_delay(&rc, 2, 1000), 2000);
	ck_assert_uint_eq(backoff_delay(&rc, 25, 0), 1800000);
	ck_assert_uint_eq(backoff_delay(&rc, 25, 1800000), 3600000);
}
END_TEST

START_TEST(test_random_values_differ)
{
	uint64_t a, b, c;

	/* Three equal 64-bit values would mean a constant source. */
	a = backoff_random();
	b = backoff_random();
	c = backoff_random();
	ck_assert_msg(!(a == b && b == c), "backoff_random() gave %llu three "
	    "times", (unsigned long long)a);
}
END_TEST

START_TEST(test_jitter_alone_spans_zero_to_its_bound)
{
	int seen[6] = { 0 };
	uint64_t v;
	int i;

	ck_assert_uint_eq(backoff_jitter(0), 0);
	/* 0 and 5 are each missed by 2000 draws about once in 10^158. */
	for (i = 0; i < 2000; i++) {
		v = backoff_jitter(5);
		ck_assert_msg(v <= 5, "backoff_jitter(5) gave %llu",
		    (unsigned long long)v);
		seen[v]++;
	}
	for (i = 0; i <= 5; i++)
		ck_assert_msg(seen[i] > 0, "backoff_jitter(5) never gave %d", i);
	ck_assert_uint_le(backoff_jitter(UINT64_MAX - 1), UINT64_MAX - 1);
}
END_TEST

Suite *
suite(void)
{
	Suite *s = suite_create("backoff");
	TCase *tc = tcase_create("backoff");

	tcase_add_test(tc, test_exponential_doubles_with_each_attempt_up_to_max);
	tcase_add_test(tc, test_exponential_cap_between_two_powers);
	tcase_add_test(tc, test_linear_grows_by_base_up_to_max);
	tcase_add_test(tc, test_fixed_is_base_for_every_attempt);
	tcase_add_test(tc, test_jitter_spans_exactly_d_minus_jd_to_d);
	tcase_add_test(tc, test_jitter_zero_and_one_are_the_bounds);
	tcase_add_test(tc, test_the_defaults_give_half_a_second_to_a_second_first);
	tcase_add_test(tc, test_random_values_differ);
	tcase_add_test(tc, test_jitter_alone_spans_zero_to_its_bound);
	suite_add_tcase(s, tc);
	return s;
}
