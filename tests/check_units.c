/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests of the pure parts: durations, rates, sizes and Redis URLs.
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "duration.h"
#include "url.h"
#include "client.h"
#include "testlib.h"

static uint64_t
must_duration(const char *s)
{
	uint64_t ms;
	char *cause = NULL;

	ck_assert_msg(duration_parse(s, &ms, &cause) == 0, "%s: %s", s, cause);
	return ms;
}

static char *
duration_error(const char *s)
{
	uint64_t ms;
	char *cause = NULL;

	ck_assert_msg(duration_parse(s, &ms, &cause) == -1,
	    "\"%s\" was accepted", s);
	return cause;
}

START_TEST(test_durations_parse_every_unit)
{
	ck_assert_uint_eq(must_duration("250ms"), 250);
	ck_assert_uint_eq(must_duration("30s"), 30000);
	ck_assert_uint_eq(must_duration("5m"), 300000);
	ck_assert_uint_eq(must_duration("2h"), 7200000);
	ck_assert_uint_eq(must_duration("1d"), 86400000);
	ck_assert_uint_eq(must_duration("1h30m"), 5400000);
	ck_assert_uint_eq(must_duration("0"), 0);
}
END_TEST

START_TEST(test_bad_durations_say_why)
{
	char *e;

	e = duration_error("30");
	ck_assert_str_eq(e, "duration \"30\" needs a unit (ms, s, m, h or d)");
	free(e);
	e = duration_error("5w");
	ck_assert_str_eq(e, "unknown unit \"w\" in duration \"5w\" "
	    "(use ms, s, m, h or d)");
	free(e);
	e = duration_error("-1s");
	ck_assert_ptr_nonnull(strstr(e, "invalid duration"));
	free(e);
	e = duration_error("");
	ck_assert_str_eq(e, "empty duration");
	free(e);
	e = duration_error("99999999999d");
	ck_assert_ptr_nonnull(strstr(e, "too long"));
	free(e);
}
END_TEST

START_TEST(test_durations_format_back)
{
	char buf[64];

	ck_assert_str_eq(duration_format(5400000, buf, sizeof buf), "1h30m");
	ck_assert_str_eq(duration_format(250, buf, sizeof buf), "250ms");
	ck_assert_str_eq(duration_format(0, buf, sizeof buf), "0");
	ck_assert_str_eq(duration_format(90061001, buf, sizeof buf),
	    "1d1h1m1s1ms");
}
END_TEST

START_TEST(test_rates_parse)
{
	struct rate r;
	char *cause = NULL;

	ck_assert_int_eq(rate_parse("10/s", &r, &cause), 0);
	ck_assert_uint_eq(r.count, 10);
	ck_assert_uint_eq(r.period_ms, 1000);
	ck_assert_int_eq(rate_parse("100/m", &r, &cause), 0);
	ck_assert_uint_eq(r.period_ms, 60000);
	ck_assert_int_eq(rate_parse("5/10s", &r, &cause), 0);
	ck_assert_uint_eq(r.count, 5);
	ck_assert_uint_eq(r.period_ms, 10000);
	ck_assert_int_eq(rate_parse("0/s", &r, &cause), -1);
	ck_assert_str_eq(cause, "rate \"0/s\" must allow at least one event");
	free(cause);
	ck_assert_int_eq(rate_parse("10", &r, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "expected e.g. 10/s"));
	free(cause);
	ck_assert_int_eq(rate_parse("10/w", &r, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "unknown unit \"w\""));
	free(cause);
}
END_TEST

START_TEST(test_sizes_parse)
{
	uint64_t b;
	char *cause = NULL;

	ck_assert_int_eq(size_parse("512KiB", &b, &cause), 0);
	ck_assert_uint_eq(b, 524288);
	ck_assert_int_eq(size_parse("1M", &b, &cause), 0);
	ck_assert_uint_eq(b, 1048576);
	ck_assert_int_eq(size_parse("100", &b, &cause), 0);
	ck_assert_uint_eq(b, 100);
	ck_assert_int_eq(size_parse("1G", &b, &cause), -1);
	free(cause);
}
END_TEST

START_TEST(test_urls_parse)
{
	struct url u;
	char err[256];

	ck_assert_int_eq(url_parse("redis://127.0.0.1:6380/2", &u, err,
	    sizeof err), 0);
	ck_assert_str_eq(u.host, "127.0.0.1");
	ck_assert_int_eq(u.port, 6380);
	ck_assert_int_eq(u.db, 2);
	ck_assert_str_eq(u.password, "");
	ck_assert_int_eq(url_parse("redis://:s%40cret@db.example:7000", &u,
	    err, sizeof err), 0);
	ck_assert_str_eq(u.password, "s@cret");
	ck_assert_str_eq(u.host, "db.example");
	ck_assert_int_eq(u.port, 7000);
	ck_assert_int_eq(u.db, 0);
	ck_assert_int_eq(url_parse("redis://worker:pw@[::1]:6379/1", &u, err,
	    sizeof err), 0);
	ck_assert_str_eq(u.user, "worker");
	ck_assert_str_eq(u.password, "pw");
	ck_assert_str_eq(u.host, "::1");
	ck_assert_int_eq(u.db, 1);
	ck_assert_int_eq(url_parse("unix:///run/redjob/redis.sock", &u, err,
	    sizeof err), 0);
	ck_assert_str_eq(u.path, "/run/redjob/redis.sock");
	ck_assert_int_eq(url_parse("unix://:pw@/tmp/r.sock?db=3", &u, err,
	    sizeof err), 0);
	ck_assert_str_eq(u.path, "/tmp/r.sock");
	ck_assert_str_eq(u.password, "pw");
	ck_assert_int_eq(u.db, 3);
	ck_assert_int_eq(url_parse("redis://", &u, err, sizeof err), 0);
	ck_assert_str_eq(u.host, "127.0.0.1");
	ck_assert_int_eq(u.port, 6379);
}
END_TEST

START_TEST(test_bad_urls_say_why)
{
	struct url u;
	char err[256];

	ck_assert_int_eq(url_parse("http://x", &u, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "expected redis://"));
	ck_assert_int_eq(url_parse("redis://h:99999", &u, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "bad port"));
	ck_assert_int_eq(url_parse("redis://h:6379/x", &u, err, sizeof err),
	    -1);
	ck_assert_ptr_nonnull(strstr(err, "database must be a number"));
	ck_assert_int_eq(url_parse("unix://relative.sock", &u, err, sizeof err),
	    -1);
	ck_assert_ptr_nonnull(strstr(err, "must be absolute"));
	ck_assert_int_eq(url_parse("redis://:%zz@h", &u, err, sizeof err), -1);
}
END_TEST

START_TEST(test_names_are_checked)
{
	char err[256], q[160];

	ck_assert_int_eq(client_check_queue("mail", err, sizeof err), 0);
	ck_assert_int_eq(client_check_queue("a{b}", err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "invalid queue name \"a{b}\""));
	ck_assert_int_eq(client_check_queue("", err, sizeof err), -1);
	ck_assert_int_eq(client_check_namespace("app:jobs", err, sizeof err),
	    0);
	ck_assert_int_eq(client_check_namespace("x{", err, sizeof err), -1);
	ck_assert_int_eq(client_job_queue("mail:42", q, sizeof q), 0);
	ck_assert_str_eq(q, "mail");
	ck_assert_int_eq(client_job_queue("mail", q, sizeof q), -1);
	ck_assert_int_eq(client_job_queue("mail:4x", q, sizeof q), -1);
	ck_assert_int_eq(client_job_queue(":4", q, sizeof q), -1);
}
END_TEST

Suite *
suite(void)
{
	Suite *s = suite_create("units");
	TCase *tc = tcase_create("units");

	tcase_add_test(tc, test_durations_parse_every_unit);
	tcase_add_test(tc, test_bad_durations_say_why);
	tcase_add_test(tc, test_durations_format_back);
	tcase_add_test(tc, test_rates_parse);
	tcase_add_test(tc, test_sizes_parse);
	tcase_add_test(tc, test_urls_parse);
	tcase_add_test(tc, test_bad_urls_say_why);
	tcase_add_test(tc, test_names_are_checked);
	suite_add_tcase(s, tc);
	return s;
}
