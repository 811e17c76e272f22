/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests of src/cron.c: cron lines and their errors, zones, the next
 * tick across both DST days in Europe/Berlin and America/New_York, leap
 * days, seconds, periods, and the ticks before an instant. The zones are
 * the system's tz database (tzdata).
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>

#include "cron.h"
#include "testlib.h"

/* "2026-03-29T01:00:00Z" -> ms since the epoch. */
static int64_t
utc(const char *s)
{
	struct tm tm;

	memset(&tm, 0, sizeof tm);
	ck_assert_msg(strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm) != NULL, "%s", s);
	return (int64_t)timegm(&tm) * 1000;
}

static void
must_parse(const char *line, const char *tz, struct cron *c)
{
	char err[256];
	size_t col;

	memset(c, 0, sizeof *c);
	ck_assert_msg(cron_parse(line, c, err, sizeof err, &col) == 0,
	    "%s: %s (col %zu)", line, err, col);
	ck_assert_msg(cron_zone(tz, c, err, sizeof err) == 0, "%s: %s", tz,
	    err);
}

/* The ticks of line in tz after after, one after another, are want. */
static void
assert_ticks(const char *line, const char *tz, const char *after,
    const char *const *want)
{
	struct cron c;
	int64_t t, next;
	char buf[32];
	time_t secs;
	struct tm tm;

	must_parse(line, tz, &c);
	t = utc(after);
	for (; *want != NULL; want++) {
		ck_assert_msg(cron_next(&c, t, &next) == 0, "%s: no tick after "
		    "%lld", line, (long long)t);
		secs = (time_t)(next / 1000);
		gmtime_r(&secs, &tm);
		strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
		ck_assert_msg(next == utc(*want), "%s in %s after %s: got %s, "
		    "want %s", line, tz, after, buf, *want);
		t = next;
	}
}

/* line is refused with a message containing msg, at offset col. */
static void
assert_bad(const char *line, size_t col, const char *msg)
{
	struct cron c;
	char err[256];
	size_t got;

	memset(&c, 0, sizeof c);
	ck_assert_msg(cron_parse(line, &c, err, sizeof err, &got) == -1,
	    "\"%s\" was accepted", line);
	ck_assert_msg(strstr(err, msg) != NULL, "\"%s\": \"%s\" lacks \"%s\"",
	    line, err, msg);
	ck_assert_msg(got == col, "\"%s\": column %zu, want %zu (%s)", line,
	    got, col, err);
}

START_TEST(test_fields_ranges_steps_lists_and_names)
{
	static const char *const work[] = {
		"2026-02-02T09:00:00Z", "2026-02-02T09:15:00Z",
		"2026-02-02T09:30:00Z", "2026-02-02T09:45:00Z",
		"2026-02-02T10:00:00Z", NULL,
	};
	static const char *const friday[] = {
		"2026-02-06T17:30:00Z", "2026-02-13T17:30:00Z",
		"2026-02-20T17:30:00Z", "2026-02-27T17:30:00Z",
		"2026-03-06T17:30:00Z", NULL,
	};
	static const char *const list[] = {
		"2026-02-01T00:05:00Z", "2026-02-01T00:07:00Z",
		"2026-02-01T00:20:00Z", "2026-02-01T00:22:00Z",
		"2026-02-01T00:24:00Z", NULL,
	};
	static const char *const sunday[] = {
		"2026-02-08T00:00:00Z", "2026-02-15T00:00:00Z", NULL,
	};

	/* 2026-02-01 is a Sunday. */
	assert_ticks("*/15 9-17 * * mon-fri", "UTC", "2026-02-01T12:00:00Z",
	    work);
	assert_ticks("30 17 * FEB,Mar Fri", "UTC", "2026-02-01T00:00:00Z",
	    friday);
	assert_ticks("5,7,20-25/2 * * * *", "UTC", "2026-02-01T00:00:00Z",
	    list);
	/* 7 is Sunday too, and a tick is strictly after the instant. */
	assert_ticks("0 0 * * 7", "UTC", "2026-02-01T00:00:00Z", sunday);
}
END_TEST

START_TEST(test_either_day_field_matches_when_both_are_set)
{
	/* Vixie cron: the 13th or any Monday. */
	static const char *const either[] = {
		"2026-02-02T00:00:00Z", "2026-02-09T00:00:00Z",
		"2026-02-13T00:00:00Z", "2026-02-16T00:00:00Z", NULL,
	};
	/* With "*" in one, both must: odd days that are Mondays. */
	static const char *const both[] = {
		"2026-02-09T00:00:00Z", "2026-02-23T00:00:00Z",
		"2026-03-09T00:00:00Z", NULL,
	};

	assert_ticks("0 0 13 * mon", "UTC", "2026-02-01T00:00:00Z", either);
	assert_ticks("0 0 */2 * 1", "UTC", "2026-02-01T00:00:00Z", both);
}
END_TEST

START_TEST(test_macros)
{
	static const char *const hourly[] = {
		"2026-02-01T13:00:00Z", "2026-02-01T14:00:00Z", NULL,
	};
	static const char *const daily[] = { "2026-02-02T00:00:00Z", NULL };
	static const char *const weekly[] = { "2026-02-08T00:00:00Z", NULL };
	static const char *const monthly[] = { "2026-03-01T00:00:00Z", NULL };
	static const char *const yearly[] = { "2027-01-01T00:00:00Z", NULL };

	assert_ticks("@hourly", "UTC", "2026-02-01T12:00:00Z", hourly);
	assert_ticks("@daily", "UTC", "2026-02-01T12:00:00Z", daily);
	assert_ticks("@midnight", "UTC", "2026-02-01T12:00:00Z", daily);
	assert_ticks("@weekly", "UTC", "2026-02-01T12:00:00Z", weekly);
	assert_ticks("@monthly", "UTC", "2026-02-01T12:00:00Z", monthly);
	assert_ticks("@yearly", "UTC", "2026-02-01T12:00:00Z", yearly);
	assert_ticks("@annually", "UTC", "2026-02-01T12:00:00Z", yearly);
}
END_TEST

START_TEST(test_six_fields_have_seconds_first)
{
	static const char *const tens[] = {
		"2026-02-01T12:00:10Z", "2026-02-01T12:00:20Z",
		"2026-02-01T12:00:30Z", NULL,
	};
	static const char *const at[] = {
		"2026-02-01T12:05:30Z", "2026-02-01T13:05:30Z", NULL,
	};

	assert_ticks("*/10 * * * * *", "UTC", "2026-02-01T12:00:00Z", tens);
	assert_ticks("30 5 * * * *", "UTC", "2026-02-01T12:00:00Z", at);
}
END_TEST

START_TEST(test_leap_days)
{
	static const char *const leap[] = {
		"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z", NULL,
	};
	/* 2100 is not a leap year. */
	static const char *const century[] = {
		"2104-02-29T00:00:00Z", NULL,
	};

	assert_ticks("0 0 29 2 *", "UTC", "2026-01-01T00:00:00Z", leap);
	assert_ticks("0 0 29 2 *", "UTC", "2096-03-01T00:00:00Z", century);
}
END_TEST

START_TEST(test_berlin_spring_forward_fires_at_the_end_of_the_gap)
{
	/* 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00 UTC). */
	static const char *const daily[] = {
		"2026-03-28T01:30:00Z",		/* 02:30 CET */
		"2026-03-29T01:00:00Z",		/* no 02:30: 03:00 CEST */
		"2026-03-30T00:30:00Z",		/* 02:30 CEST */
		NULL,
	};
	/* Every wall time of the gap fires once, at its end. */
	static const char *const quarter[] = {
		"2026-03-29T00:45:00Z",		/* 01:45 CET */
		"2026-03-29T01:00:00Z",		/* 02:00-02:45: once, 03:00 */
		"2026-03-29T01:15:00Z",		/* 03:15 CEST */
		NULL,
	};

	assert_ticks("30 2 * * *", "Europe/Berlin", "2026-03-27T12:00:00Z",
	    daily);
	assert_ticks("0 30 2 * * *", "Europe/Berlin", "2026-03-27T12:00:00Z",
	    daily);
	assert_ticks("*/15 * * * *", "Europe/Berlin", "2026-03-29T00:40:00Z",
	    quarter);
}
END_TEST

START_TEST(test_berlin_fall_back_fires_at_the_first_occurrence)
{
	/* 2026-10-25: 03:00 CEST becomes 02:00 CET (01:00 UTC). */
	static const char *const daily[] = {
		"2026-10-24T00:30:00Z",		/* 02:30 CEST */
		"2026-10-25T00:30:00Z",		/* the first 02:30, CEST */
		"2026-10-26T01:30:00Z",		/* 02:30 CET */
		NULL,
	};
	static const char *const half[] = {
		"2026-10-25T00:00:00Z",		/* 02:00 CEST */
		"2026-10-25T00:30:00Z",		/* 02:30 CEST */
		"2026-10-25T02:00:00Z",		/* 03:00 CET: not 02:xx again */
		NULL,
	};

	assert_ticks("30 2 * * *", "Europe/Berlin", "2026-10-23T12:00:00Z",
	    daily);
	assert_ticks("*/30 2-3 * * *", "Europe/Berlin", "2026-10-24T23:50:00Z",
	    half);
	/* From inside the repeated hour's second pass. */
	assert_ticks("*/30 2-3 * * *", "Europe/Berlin", "2026-10-25T01:10:00Z",
	    half + 2);
}
END_TEST

START_TEST(test_new_york_both_days)
{
	/* 2026-03-08: 02:00 EST becomes 03:00 EDT (07:00 UTC). */
	static const char *const spring[] = {
		"2026-03-07T07:30:00Z",		/* 02:30 EST */
		"2026-03-08T07:00:00Z",		/* 03:00 EDT */
		"2026-03-09T06:30:00Z",		/* 02:30 EDT */
		NULL,
	};
	/* 2026-11-01: 02:00 EDT becomes 01:00 EST (06:00 UTC). */
	static const char *const fall[] = {
		"2026-10-31T05:30:00Z",		/* 01:30 EDT */
		"2026-11-01T05:30:00Z",		/* the first 01:30, EDT */
		"2026-11-02T06:30:00Z",		/* 01:30 EST */
		NULL,
	};

	assert_ticks("30 2 * * *", "America/New_York", "2026-03-06T12:00:00Z",
	    spring);
	assert_ticks("30 1 * * *", "America/New_York", "2026-10-30T12:00:00Z",
	    fall);
}
END_TEST

START_TEST(test_bad_lines_say_what_and_where)
{
	assert_bad("61 * * * *", 0, "minute: 61 is out of range 0-59");
	assert_bad("0 25 * * *", 2, "hour: 25 is out of range 0-23");
	assert_bad("0 0 * foo *", 6, "month: \"foo\" is not a number or a "
	    "name");
	assert_bad("0 0 * * 8", 8, "day of week: 8 is out of range 0-7");
	assert_bad("*/0 * * * *", 2, "minute: the step must be a number from "
	    "1 to 59");
	assert_bad("1,,2 * * * *", 2, "minute: an empty item");
	assert_bad("5-1 * * * *", 0, "the range 5-1 goes backwards");
	assert_bad("0 0 1-x * *", 6, "a range needs an end");
	assert_bad("0 0 1 1 * x", 10, "day of week: \"x\" is not a number "
	    "or a name");
	assert_bad("* * * * * * *", 12, "more than 6 fields");
	assert_bad("1 2 3", 5, "3 fields");
	assert_bad("", 0, "0 fields");
	/* Days no listed month has. February 29 is a day. */
	assert_bad("0 0 30 2 *", 4, "never fires");
	assert_bad("0 0 31 4,6,9,11 *", 4, "never fires");
	assert_bad("@reboot", 0, "a schedule has no @reboot");
	assert_bad("@often", 0, "unknown \"@often\"");
	assert_bad("@daily 5", 7, "nothing may follow @daily");
}
END_TEST

START_TEST(test_zones_are_checked)
{
	struct cron c;
	char err[256];

	memset(&c, 0, sizeof c);
	ck_assert_int_eq(cron_zone("UTC", &c, err, sizeof err), 0);
	ck_assert_int_eq(cron_zone("Europe/Berlin", &c, err, sizeof err), 0);
	ck_assert_str_eq(c.tz, "Europe/Berlin");
	ck_assert_int_eq(cron_zone("Europe/Berln", &c, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "unknown time zone \"Europe/Berln\"") !=
	    NULL, "%s", err);
	/* A directory of the database is not a zone. */
	ck_assert_int_eq(cron_zone("Europe", &c, err, sizeof err), -1);
	ck_assert_int_eq(cron_zone("../../etc/passwd", &c, err, sizeof err),
	    -1);
	ck_assert_msg(strstr(err, "not a time zone name") != NULL, "%s", err);
	ck_assert_int_eq(cron_zone("/etc/localtime", &c, err, sizeof err), -1);
	ck_assert_int_eq(cron_zone("Europe/Berlin x", &c, err, sizeof err),
	    -1);
	ck_assert_int_eq(cron_zone("", &c, err, sizeof err), -1);
	/* The zone in force is put back. */
	ck_assert_str_eq(c.tz, "Europe/Berlin");
}
END_TEST

START_TEST(test_the_process_zone_is_put_back)
{
	struct cron c;
	int64_t next;
	const char *tz;

	setenv("TZ", "America/New_York", 1);
	tzset();
	must_parse("30 2 * * *", "Europe/Berlin", &c);
	ck_assert_int_eq(cron_next(&c, utc("2026-03-27T12:00:00Z"), &next),
	    0);
	tz = getenv("TZ");
	ck_assert_ptr_nonnull(tz);
	ck_assert_str_eq(tz, "America/New_York");
	ck_assert_str_eq(tzname[0], "EST");
}
END_TEST

START_TEST(test_every_is_aligned_to_the_epoch)
{
	struct cron c;
	char err[128];
	int64_t next;

	memset(&c, 0, sizeof c);
	ck_assert_int_eq(cron_every(0, &c, err, sizeof err), -1);
	ck_assert_int_eq(cron_every(1000, &c, err, sizeof err), 0);
	ck_assert_int_eq(cron_next(&c, 1500, &next), 0);
	ck_assert_int_eq(next, 2000);
	ck_assert_int_eq(cron_next(&c, 2000, &next), 0);
	ck_assert_int_eq(next, 3000);
	ck_assert_int_eq(cron_every(30000, &c, err, sizeof err), 0);
	ck_assert_int_eq(cron_next(&c, utc("2026-02-01T12:00:10Z"), &next), 0);
	ck_assert_int_eq(next, utc("2026-02-01T12:00:30Z"));
}
END_TEST

START_TEST(test_prev_gives_the_newest_ticks)
{
	struct cron c;
	int64_t out[16], at = utc("2026-02-01T12:00:30Z");
	char err[128];
	size_t n, i;

	/* Every minute, ticks after 11:50:30 up to 12:00:30: 11:51-12:00. */
	must_parse("* * * * *", "UTC", &c);
	ck_assert_int_eq(cron_prev(&c, at, at - 600000, out, 16, &n), 0);
	ck_assert_uint_eq(n, 10);
	ck_assert_int_eq(out[0], utc("2026-02-01T11:51:00Z"));
	ck_assert_int_eq(out[9], utc("2026-02-01T12:00:00Z"));
	/* The newest 3 only. */
	ck_assert_int_eq(cron_prev(&c, at, at - 600000, out, 3, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(out[0], utc("2026-02-01T11:58:00Z"));
	ck_assert_int_eq(out[2], utc("2026-02-01T12:00:00Z"));
	/* A floor years back: every second, still only the newest 5. */
	must_parse("* * * * * *", "Europe/Berlin", &c);
	ck_assert_int_eq(cron_prev(&c, at, at - 3LL * 365 * 86400000, out, 5,
	    &n), 0);
	ck_assert_uint_eq(n, 5);
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(out[i], at - (int64_t)(4 - i) * 1000);
	/* Yearly, newest tick before now with no floor at all. */
	must_parse("0 0 1 1 *", "UTC", &c);
	ck_assert_int_eq(cron_prev(&c, at, INT64_MIN / 2, out, 1, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(out[0], utc("2026-01-01T00:00:00Z"));
	/* Periods. */
	memset(&c, 0, sizeof c);
	ck_assert_int_eq(cron_every(1000, &c, err, sizeof err), 0);
	ck_assert_int_eq(cron_prev(&c, 10500, 6000, out, 16, &n), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(out[0], 7000);
	ck_assert_int_eq(out[3], 10000);
	ck_assert_int_eq(cron_prev(&c, 10500, 6000, out, 2, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(out[0], 9000);
}
END_TEST

Suite *
suite(void)
{
	Suite *s = suite_create("cron");
	TCase *tc = tcase_create("cron");

	tcase_add_test(tc, test_fields_ranges_steps_lists_and_names);
	tcase_add_test(tc, test_either_day_field_matches_when_both_are_set);
	tcase_add_test(tc, test_macros);
	tcase_add_test(tc, test_six_fields_have_seconds_first);
	tcase_add_test(tc, test_leap_days);
	tcase_add_test(tc, test_berlin_spring_forward_fires_at_the_end_of_the_gap);
	tcase_add_test(tc, test_berlin_fall_back_fires_at_the_first_occurrence);
	tcase_add_test(tc, test_new_york_both_days);
	tcase_add_test(tc, test_bad_lines_say_what_and_where);
	tcase_add_test(tc, test_zones_are_checked);
	tcase_add_test(tc, test_the_process_zone_is_put_back);
	tcase_add_test(tc, test_every_is_aligned_to_the_epoch);
	tcase_add_test(tc, test_prev_gives_the_newest_ticks);
	suite_add_tcase(s, tc);
	return s;
}
