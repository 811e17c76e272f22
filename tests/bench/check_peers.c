/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The benchmark's own checks: the built tests/bench/redjob-bench, run as
 * make bench runs it (its own redis-server, --json -) with a few jobs,
 * does what docs/performance.md says of the floor scenario and of a peer
 * it cannot run, and refuses a bad scenario list with a clear message.
 * Figures that depend on the machine (jobs/s, CPU) are only checked to
 * be there; what the protocol fixes (calls and commands per job, every
 * job drained) is checked exactly.
 */
#include "autoconf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "proc.h"
#include "testlib.h"

#define DEADLINE_MS 120000

/* Run the benchmark with args (NULL-terminated) to its end. */
static struct proc *
bench_run(const char *first, ...)
{
	static char path[4200];
	const char *server = getenv("REDIS_SERVER");
	char *argv[32];
	struct proc *p;
	const char *a;
	va_list ap;
	size_t n = 0;

	snprintf(path, sizeof path, "%s/tests/bench/redjob-bench",
	    testlib_builddir());
	argv[n++] = path;
	argv[n++] = (char *)"--redis-server";
	argv[n++] = (char *)(server != NULL && *server != '\0' ? server :
	    "redis-server");
	va_start(ap, first);
	for (a = first; a != NULL && n < 31; a = va_arg(ap, const char *))
		argv[n++] = (char *)a;
	va_end(ap);
	argv[n] = NULL;
	p = must_spawn(&(struct proc_spec){ .argv = argv,
	    .out = PROC_IO_CAPTURE, .err = PROC_IO_CAPTURE });
	must_wait(p, DEADLINE_MS);
	return p;
}

/* The results array of a run's JSON document; the document is kept. */
static json_t *
bench_results(struct proc *p, json_t **doc)
{
	json_error_t e;
	json_t *r;

	ck_assert_msg(p->status == 0, "exit %d: %s", p->status, p->err);
	*doc = json_loads(p->out, 0, &e);
	ck_assert_msg(*doc != NULL, "not JSON (%s): %s", e.text, p->out);
	r = json_object_get(*doc, "results");
	ck_assert(json_is_array(r));
	return r;
}

static double
num(json_t *r, const char *k)
{
	json_t *v = json_object_get(r, k);

	ck_assert_msg(json_is_number(v), "%s: not a number", k);
	return json_number_value(v);
}

static const char *
str(json_t *r, const char *k)
{
	json_t *v = json_object_get(r, k);

	ck_assert_msg(json_is_string(v), "%s: not a string", k);
	return json_string_value(v);
}

/* Calls per job of one command name in a result's client_calls. */
static long long
calls(json_t *r, const char *group, const char *name)
{
	json_t *v = json_object_get(json_object_get(r, group), name);

	return v != NULL ? json_integer_value(v) : 0;
}

/*
 * 256 jobs through each floor variant. Enqueue: one FCALL a job (HSET,
 * ZADD), or one for all 256 (256 HSETs, one ZADD), and each waiting job
 * holds at least its payload in Redis. Process: two consumers claiming 32
 * at a time (redjobd's default batch with 8 slots) send 8 claims and 8
 * acks, and one empty claim each; one at a time, 256 of each and the two
 * empty claims. Every job is claimed and
 * deleted once: one HMGET and one key DELeted per job.
 */
START_TEST(test_floor_counts_what_the_protocol_fixes)
{
	static const struct {
		const char	*variant;
		long long	 fcalls;
		long long	 hset;
		long long	 zadd;
	} want[] = {
		{ "enqueue-single", 256, 256, 256 },
		{ "enqueue-bulk", 1, 256, 1 },
		{ "process", 8 + 8 + 2, 0, 8 },
		{ "process-serial", 256 + 256 + 2, 0, 256 },
	};
	struct proc *p;
	json_t *doc, *res, *r;
	size_t i;

	p = bench_run("--scenario", "floor", "-n", "256", "--json", "-",
	    NULL);
	res = bench_results(p, &doc);
	ck_assert_uint_eq(json_array_size(res), 4);
	for (i = 0; i < 4; i++) {
		r = json_array_get(res, i);
		ck_assert_str_eq(str(r, "scenario"), "floor");
		ck_assert_str_eq(str(r, "variant"), want[i].variant);
		ck_assert_int_eq((long long)num(r, "jobs"), 256);
		ck_assert(num(r, "jobs_per_s") > 0);
		ck_assert(num(r, "redis_cpu_us_per_job") >= 0);
		ck_assert_int_eq(calls(r, "client_calls", "fcall"),
		    want[i].fcalls);
		ck_assert_int_eq(calls(r, "function_commands", "hset"),
		    want[i].hset);
		ck_assert_int_eq(calls(r, "function_commands", "zadd"),
		    want[i].zadd);
		if (i < 2) {
			ck_assert(num(r, "redis_bytes_per_job") > 100);
			continue;
		}
		ck_assert_int_eq(calls(r, "function_commands", "hmget"), 256);
		ck_assert_int_eq(calls(r, "function_commands", "del"),
		    (long long)want[i].fcalls / 2 - 1);
		ck_assert_int_eq((long long)num(r, "claim_batch"), i == 2 ?
		    32 : 1);
	}
	json_decref(doc);
	proc_free(p);
}
END_TEST

/*
 * A peer the bench cannot run is in the results as unavailable, with
 * why, and the run goes on: here BullMQ from a directory without it
 * (with node in PATH the reason names the missing module and make
 * bench-peers; without, node).
 */
START_TEST(test_missing_peer_is_recorded_with_the_reason)
{
	struct proc *p;
	json_t *doc, *res, *r;
	const char *why;
	size_t i;

	p = bench_run("--scenario", "bullmq,floor", "-n", "16", "--peers",
	    "/nonexistent", "--json", "-", NULL);
	res = bench_results(p, &doc);
	ck_assert_uint_eq(json_array_size(res), 5 + 4);
	for (i = 0; i < 5; i++) {
		r = json_array_get(res, i);
		ck_assert_str_eq(str(r, "scenario"), "bullmq");
		why = str(r, "unavailable");
		ck_assert_msg((strstr(why, "/nonexistent/node_modules/bullmq/"
		    "package.json") != NULL && strstr(why, "make "
		    "bench-peers") != NULL) || strstr(why, "node is not in "
		    "PATH") != NULL, "%s", why);
		ck_assert(strstr(str(r, "command"), "--peers /nonexistent") !=
		    NULL);
	}
	ck_assert_str_eq(str(json_array_get(res, 5), "scenario"), "floor");
	/* The side-by-side table follows a run of several scenarios. */
	ck_assert_msg(strstr(p->err, "side by side") != NULL, "%s", p->err);
	ck_assert(strstr(p->err, "speed targets (docs/performance.md)") !=
	    NULL);
	json_decref(doc);
	proc_free(p);
}
END_TEST

START_TEST(test_bad_scenario_lists_are_refused)
{
	struct proc *p;

	p = bench_run("--scenario", "floor,nosuch", NULL);
	ck_assert_int_ne(p->status, 0);
	ck_assert_msg(strstr(p->err, "no scenario \"nosuch\"") != NULL, "%s",
	    p->err);
	proc_free(p);
	p = bench_run("--scenario", "floor,spawn", "--variant", "process",
	    NULL);
	ck_assert_int_ne(p->status, 0);
	ck_assert_msg(strstr(p->err, "--variant needs one --scenario") !=
	    NULL, "%s", p->err);
	proc_free(p);
	p = bench_run("--scenario", "floor,", NULL);
	ck_assert_int_ne(p->status, 0);
	ck_assert_msg(strstr(p->err, "an empty name") != NULL, "%s", p->err);
	proc_free(p);
}
END_TEST

Suite *
suite(void)
{
	Suite *s = suite_create("peers");
	TCase *tc;

	tc = tcase_create("peers");
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_floor_counts_what_the_protocol_fixes);
	tcase_add_test(tc, test_missing_peer_is_recorded_with_the_reason);
	tcase_add_test(tc, test_bad_scenario_lists_are_refused);
	suite_add_tcase(s, tc);
	return s;
}
