/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Periodic jobs against a real redis-server and real redjobd processes:
 * redjob_tick's rules called directly; two instances with every: 1s for
 * a minute, one of them restarted and then reloaded, enqueue each tick
 * exactly once; the misfire policies across a 10-tick outage of every
 * instance, and across a Redis that hangs; REDJOB_TICK; redjob schedules
 * with and without -c; and redjobd -t on bad schedules.
 *
 * The jobs go to a paused queue, so they stay in Redis with their tick
 * for the test to read.
 */
#include "autoconf.h"

#include <sys/prctl.h>
#include <sys/types.h>

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

#include "redjob.h"
#include "daemon_fixture.h"
#include "proc.h"
#include "redis_fixture.h"
#include "testlib.h"

#define KEY	"redjob:{cron}"

/* The second instance of the two-instance test, if it runs. */
static struct proc *second;

static void
nap_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000),
	    (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* The wall clock, ms: ticks are wall-clock times. */
static long long
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
schedule_teardown(void)
{
	proc_free(second);
	second = NULL;
	daemon_teardown();
}

static void
schedule_setup(void)
{
	daemon_setup();
	redis_load_test_lib();
	/* The jobs stay where the test reads them. */
	freeReplyObject(must_command(rf.c, "FCALL redjob_pause 1 %s", KEY));
}

/* The queue's counter of enqueued jobs. */
static long long
enqueued(void)
{
	redisReply *r;
	long long v;

	r = must_command(rf.c, "HGET %s:stats enqueued", KEY);
	ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
	v = strtoll(r->str, NULL, 10);
	freeReplyObject(r);
	return v;
}

/* ---------------------------------------------------------------------
 * redjob_tick, called directly.
 */

/* FCALL redjob_tick on KEY for type t; the reply, error or not (caller
 * frees). */
static redisReply *
tick(const char *t, const char *misfire, const char *catchup,
    const char *ticks)
{
	redisReply *r;
	char cmd[512];

	snprintf(cmd, sizeof cmd, "FCALL redjob_tick 1 %s %s payload %s %s "
	    "99000 %s", KEY, t, misfire, catchup, ticks);
	r = redisCommand(rf.c, cmd);
	ck_assert_ptr_nonnull(r);
	return r;
}

/* The ticks enqueued by a reply of redjob_tick, "T1 T2 ...". */
static void
assert_enqueued(redisReply *r, const char *want)
{
	char got[512] = "";
	size_t i;

	ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
	ck_assert_uint_ge(r->elements, 2);
	for (i = 2; i + 1 < r->elements; i += 2) {
		if (got[0] != '\0')
			strcat(got, " ");
		strncat(got, r->element[i + 1]->str, 32);
	}
	ck_assert_str_eq(got, want);
	ck_assert_uint_eq(strtoul(r->element[1]->str, NULL, 10),
	    (r->elements - 2) / 2);
	freeReplyObject(r);
}

static char *
job_field(const char *id, const char *field)
{
	redisReply *r;
	char *v;

	r = must_command(rf.c, "HGET redjob:{cron}:j:%s %s",
	    strchr(id, ':') + 1, field);
	v = r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;
	freeReplyObject(r);
	return v;
}

START_TEST(test_tick_enqueues_each_tick_once_with_its_policy)
{
	redisReply *r;
	char *v;

	freeReplyObject(must_command(rf.c, "FCALL redjob_pause 1 %s", KEY));
	/* A new schedule starts from its newest tick: no catch-up. */
	assert_enqueued(tick("t", "all", "5", "1000 2000 3000"), "3000");
	/* A tick stored, or older, is not enqueued again. */
	assert_enqueued(tick("t", "all", "5", "3000"), "");
	assert_enqueued(tick("t", "all", "5", "2000 3000"), "");
	/* skip: only the newest of the due ticks. */
	assert_enqueued(tick("t", "skip", "5", "4000 5000 6000"), "6000");
	/* once: one job for the missed ones, then the newest. */
	r = tick("t", "once", "5", "6000 7000 8000 9000");
	ck_assert_uint_eq(r->elements, 6);
	v = job_field(r->element[2]->str, "misfire");
	ck_assert_str_eq(v, "once");
	free(v);
	v = job_field(r->element[4]->str, "misfire");
	ck_assert_ptr_null(v);
	v = job_field(r->element[4]->str, "tick");
	ck_assert_str_eq(v, "9000");
	free(v);
	assert_enqueued(r, "8000 9000");
	/* all: each missed one, the newest max_catchup of them. */
	assert_enqueued(tick("t", "all", "2", "11000 12000 13000"),
	    "11000 12000 13000");
	assert_enqueued(tick("t", "all", "5", "12000 13000 14000 15000"),
	    "14000 15000");
	/* The stored tick and the next. */
	r = must_command(rf.c, "HMGET %s:sched last:t next:t", KEY);
	ck_assert_str_eq(r->element[0]->str, "15000");
	ck_assert_str_eq(r->element[1]->str, "99000");
	freeReplyObject(r);
	/* Refused, with nothing written. */
	r = tick("t", "all", "5", "17000 16000");
	ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
	ck_assert_str_eq(r->str, "REDJOB_BADARG ticks must be in increasing "
	    "order");
	freeReplyObject(r);
	r = tick("t", "all", "1", "16000 17000 18000");
	ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
	freeReplyObject(r);
	r = tick("t", "sometimes", "1", "16000");
	ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
	ck_assert_str_eq(r->str, "REDJOB_BADARG misfire must be skip, once "
	    "or all, not \"sometimes\"");
	freeReplyObject(r);
	ck_assert_int_eq(enqueued(), 9);
	r = must_command(rf.c, "HGET %s:sched last:t", KEY);
	ck_assert_str_eq(r->str, "15000");
	freeReplyObject(r);
}
END_TEST

START_TEST(test_schedules_lists_what_schedule_published)
{
	redisReply *r, *e;

	freeReplyObject(must_command(rf.c, "FCALL redjob_schedule 1 %s t "
	    "%s Europe/Berlin once 7 5000", KEY, "*/5 * * * *"));
	r = must_command(rf.c, "FCALL redjob_schedule 1 %s u every_1s UTC "
	    "skip 100 1000", KEY);
	ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
	ck_assert_uint_eq(r->elements, 4);
	ck_assert_str_eq(r->element[0]->str, "");	/* never ticked */
	ck_assert_str_eq(r->element[2]->str, "");	/* never published */
	freeReplyObject(r);
	/* Published again: the reply has the definition it replaces. */
	r = must_command(rf.c, "FCALL redjob_schedule 1 %s u every_1s UTC "
	    "skip 100 1000", KEY);
	ck_assert_str_eq(r->element[2]->str, "every_1s");
	ck_assert_str_eq(r->element[3]->str, "UTC");
	freeReplyObject(r);
	freeReplyObject(tick("u", "skip", "100", "1000"));
	r = must_command(rf.c, "FCALL_RO redjob_schedules 1 %s", KEY);
	ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
	ck_assert_uint_eq(r->elements, 2);
	e = r->element[0];
	ck_assert_uint_eq(e->elements, 8);
	ck_assert_str_eq(e->element[0]->str, "t");
	ck_assert_str_eq(e->element[1]->str, "*/5 * * * *");
	ck_assert_str_eq(e->element[2]->str, "Europe/Berlin");
	ck_assert_str_eq(e->element[3]->str, "once");
	ck_assert_str_eq(e->element[4]->str, "7");
	ck_assert_str_eq(e->element[5]->str, "5000");
	ck_assert_str_eq(e->element[7]->str, "");
	e = r->element[1];
	ck_assert_str_eq(e->element[0]->str, "u");
	ck_assert_str_eq(e->element[5]->str, "99000");
	ck_assert_str_eq(e->element[7]->str, "1000");
	freeReplyObject(r);
	/* The definition is checked. */
	r = redisCommand(rf.c, "FCALL redjob_schedule 1 %s u x UTC skip 0 1",
	    KEY);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
	freeReplyObject(r);
}
END_TEST

/* ---------------------------------------------------------------------
 * Real daemons.
 */

/* In the forked child: die with the test, then be redjobd. */
static int
second_exec(void *arg)
{
	char bin[4096];
	char *argv[] = { bin, (char *)"-c", arg, geteuid() == 0 ?
	    (char *)"--allow-root" : NULL, NULL };

	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	snprintf(bin, sizeof bin, "%s/src/redjobd", testlib_builddir());
	unsetenv("NOTIFY_SOCKET");
	unsetenv("JOURNAL_STREAM");
	execv(bin, argv);
	_exit(127);
}

static void
second_start(void)
{
	static char log[4200];
	struct proc_spec spec;

	snprintf(log, sizeof log, "%s/second.log", df.dir);
	memset(&spec, 0, sizeof spec);
	spec.fn = second_exec;
	spec.arg = df.config;
	spec.name = "redjobd (second)";
	spec.out = PROC_IO_FILE;
	spec.out_path = log;
	spec.err = PROC_IO_STDOUT;
	second = must_spawn(&spec);
}

/* The stored last tick of type t, or -1. */
static long long
stored_last(const char *t)
{
	redisReply *r;
	long long v = -1;

	r = must_command(rf.c, "HGET %s:sched last:%s", KEY, t);
	if (r->type == REDIS_REPLY_STRING)
		v = strtoll(r->str, NULL, 10);
	freeReplyObject(r);
	return v;
}

/* Poll until type t's stored last tick is at least want. */
static void
wait_last(const char *t, long long want, unsigned timeout_ms)
{
	uint64_t end = testlib_now_ms() + timeout_ms;

	while (stored_last(t) < want) {
		ck_assert_msg(testlib_now_ms() < end, "%s: no tick at or after "
		    "%lld came (last %lld)", t, want, stored_last(t));
		ck_assert_msg(proc_wait(df.proc, 0) != 0, "redjobd exited");
		nap_ms(50);
	}
}

/* Let the wall clock pass at, checking the daemons still run. */
static void
run_until(long long at)
{
	while (wall_ms() < at) {
		ck_assert_msg(proc_wait(df.proc, 0) != 0, "redjobd exited");
		ck_assert_msg(second == NULL || proc_wait(second, 0) != 0,
		    "the second redjobd exited");
		nap_ms(100);
	}
}

static void
stop_first(void)
{
	daemon_signal(SIGTERM);
	ck_assert_int_eq(daemon_wait_exit(20000), 0);
}

struct job_tick {
	long long	 tick;
	char		 type[32];
	char		 misfire[8];
};

/* Every job of the queue, with its tick; the count into *n. */
static struct job_tick *
read_jobs(size_t *n)
{
	redisReply *ids, *f;
	struct job_tick *v;
	size_t i;

	ids = must_command(rf.c, "ZRANGE %s:due 0 -1", KEY);
	v = calloc(ids->elements + 1, sizeof *v);
	ck_assert_ptr_nonnull(v);
	for (i = 0; i < ids->elements; i++) {
		f = must_command(rf.c, "HMGET %s:j:%s tick type misfire", KEY,
		    ids->element[i]->str);
		ck_assert_msg(f->element[0]->type == REDIS_REPLY_STRING,
		    "job %s has no tick", ids->element[i]->str);
		v[i].tick = strtoll(f->element[0]->str, NULL, 10);
		snprintf(v[i].type, sizeof v[i].type, "%s",
		    f->element[1]->str);
		if (f->element[2]->type == REDIS_REPLY_STRING)
			snprintf(v[i].misfire, sizeof v[i].misfire, "%s",
			    f->element[2]->str);
		freeReplyObject(f);
	}
	*n = ids->elements;
	freeReplyObject(ids);
	return v;
}

static int
tick_cmp(const void *a, const void *b)
{
	const struct job_tick *x = a, *y = b;

	return x->tick < y->tick ? -1 : x->tick > y->tick;
}

START_TEST(test_two_instances_enqueue_each_tick_once)
{
	struct job_tick *jobs;
	long long start, restart, first_tick;
	char path[4200], *log;
	size_t n, i;

	daemon_write_config(
	    "redis:\n"
	    "  url: %s\n"
	    "workers: 2\n"
	    "shutdown_timeout: 2s\n"
	    "queues: { cron: 1 }\n"
	    "jobs:\n"
	    "  t:\n"
	    "    queue: cron\n"
	    "    exec: [/bin/true]\n"
	    "    schedule: { every: 1s, misfire: all }\n", rf.url);
	start = wall_ms();
	daemon_start(NULL);
	second_start();
	ck_assert_ptr_nonnull(notify_wait("READY=1", 15000));
	wait_last("t", 0, 15000);
	first_tick = stored_last("t");
	/* Half-way, one instance goes and comes back. */
	restart = start + 25000;
	run_until(restart);
	stop_first();
	daemon_start(NULL);
	ck_assert_ptr_nonnull(notify_wait("READY=1", 15000));
	/* Then it reloads: two generations side by side for a moment. */
	run_until(start + 40000);
	daemon_signal(SIGHUP);
	ck_assert(daemon_wait_log("reloaded: generation", 15000));
	run_until(start + 60000);
	stop_first();
	proc_signal(second, SIGTERM);
	ck_assert_int_eq(must_wait(second, 20000), 0);

	jobs = read_jobs(&n);
	qsort(jobs, n, sizeof *jobs, tick_cmp);
	/* A minute of ticks, less the start. */
	ck_assert_uint_ge(n, 50);
	ck_assert_int_le(jobs[0].tick, first_tick);
	for (i = 0; i < n; i++) {
		ck_assert_msg(jobs[i].misfire[0] == '\0', "tick %lld was a "
		    "catch-up (%s): one instance always ran", jobs[i].tick,
		    jobs[i].misfire);
		if (i > 0)
			ck_assert_msg(jobs[i].tick == jobs[i - 1].tick + 1000,
			    "tick %lld follows %lld: ticks must be consecutive "
			    "and unique", jobs[i].tick, jobs[i - 1].tick);
	}
	ck_assert_int_eq(jobs[n - 1].tick, stored_last("t"));
	ck_assert_int_eq(enqueued(), (long long)n);
	free(jobs);
	/* Both instances scheduled. */
	snprintf(path, sizeof path, "%s/second.log", df.dir);
	log = must_read_file(path, NULL);
	ck_assert_msg(strstr(log, "schedule t: every 1s, misfire all") != NULL,
	    "%s", log);
	free(log);
	ck_assert(daemon_log_has("schedule t: every 1s, misfire all"));
}
END_TEST

/* The JSON of redjob ARG... (-u the fixture's Redis); it must exit 0. */
static json_t *
cli_json(const char *const *args)
{
	static char *envv[] = { (char *)"REDJOB_URL", NULL };
	struct proc_spec spec;
	struct proc *p;
	json_error_t err;
	json_t *j;

	memset(&spec, 0, sizeof spec);
	spec.out = spec.err = PROC_IO_CAPTURE;
	spec.env = envv;
	p = must_redjob_spawnv(&spec, args);
	ck_assert_int_eq(must_wait(p, TESTLIB_DEADLINE_MS), 0);
	j = json_loads(p->out, 0, &err);
	ck_assert_msg(j != NULL, "not JSON: %s", p->out);
	proc_free(p);
	return j;
}

static json_t *
schedule_of(json_t *a, const char *type)
{
	size_t i;
	json_t *o;

	json_array_foreach(a, i, o) {
		if (strcmp(json_string_value(json_object_get(o, "type")),
		    type) == 0)
			return o;
	}
	ck_abort_msg("no schedule of type %s", type);
	return NULL;
}

/* Type t's jobs with tick > after, oldest first; count into *n. */
static struct job_tick *
ticks_after(struct job_tick *all, size_t nall, const char *t,
    long long after, size_t *n)
{
	struct job_tick *v;
	size_t i;

	v = calloc(nall + 1, sizeof *v);
	ck_assert_ptr_nonnull(v);
	*n = 0;
	for (i = 0; i < nall; i++) {
		if (strcmp(all[i].type, t) == 0 && all[i].tick > after)
			v[(*n)++] = all[i];
	}
	qsort(v, *n, sizeof *v, tick_cmp);
	return v;
}

/* The index of the first job that is not a catch-up. */
static size_t
first_on_time(const struct job_tick *v, size_t n)
{
	size_t i;

	for (i = 0; i < n && v[i].misfire[0] != '\0'; i++)
		;
	ck_assert_msg(i < n, "no tick on time after the outage");
	return i;
}

START_TEST(test_misfire_across_a_ten_tick_outage)
{
	static const char *const types[] = { "m_skip", "m_once", "m_all3",
	    "m_all" };
	const char *args[8];
	struct job_tick *all, *v;
	long long last[4], resumed, f;
	json_t *a, *o;
	size_t nall, n, i, k, on;

	daemon_write_config(
	    "redis:\n"
	    "  url: %s\n"
	    "workers: 1\n"
	    "shutdown_timeout: 2s\n"
	    "queues: { cron: 1 }\n"
	    "jobs:\n"
	    "  m_skip: { queue: cron, exec: [/bin/true],\n"
	    "    schedule: { every: 1s } }\n"
	    "  m_once: { queue: cron, exec: [/bin/true],\n"
	    "    schedule: { every: 1s, misfire: once } }\n"
	    "  m_all3: { queue: cron, exec: [/bin/true],\n"
	    "    schedule: { every: 1s, misfire: all, max_catchup: 3 } }\n"
	    "  m_all: { queue: cron, exec: [/bin/true],\n"
	    "    schedule: { every: 1s, misfire: all } }\n", rf.url);
	daemon_start(NULL);
	ck_assert_ptr_nonnull(notify_wait("READY=1", 15000));
	for (k = 0; k < 4; k++)
		wait_last(types[k], 0, 15000);
	for (k = 0; k < 4; k++)
		wait_last(types[k], stored_last(types[k]) + 1000, 15000);
	stop_first();
	/* Every instance down for more than 10 ticks. */
	for (k = 0; k < 4; k++)
		last[k] = stored_last(types[k]);
	f = last[0];
	for (k = 1; k < 4; k++)
		f = last[k] > f ? last[k] : f;
	while (wall_ms() < f + 11500)
		nap_ms(100);
	resumed = wall_ms();
	daemon_start(NULL);
	for (k = 0; k < 4; k++)
		wait_last(types[k], resumed + 1000, 15000);
	stop_first();

	all = read_jobs(&nall);
	for (k = 0; k < 4; k++) {
		v = ticks_after(all, nall, types[k], last[k], &n);
		on = first_on_time(v, n);
		f = v[on].tick;
		/* The first tick on time is the newest due at the restart. */
		ck_assert_int_ge(f, resumed - 1000);
		ck_assert_int_le(f, resumed + 3000);
		for (i = on + 1; i < n; i++) {
			ck_assert_str_eq(v[i].misfire, "");
			ck_assert_int_eq(v[i].tick, v[i - 1].tick + 1000);
		}
		/* At least 10 ticks were missed. */
		ck_assert_int_ge((f - last[k]) / 1000 - 1, 10);
		switch (k) {
		case 0:		/* skip: none of them */
			ck_assert_uint_eq(on, 0);
			break;
		case 1:		/* once: one job, the newest missed tick */
			ck_assert_uint_eq(on, 1);
			ck_assert_str_eq(v[0].misfire, "once");
			ck_assert_int_eq(v[0].tick, f - 1000);
			break;
		case 2:		/* all, max_catchup 3: the newest 3 */
			ck_assert_uint_eq(on, 3);
			for (i = 0; i < 3; i++) {
				ck_assert_str_eq(v[i].misfire, "all");
				ck_assert_int_eq(v[i].tick,
				    f - (long long)(3 - i) * 1000);
			}
			break;
		case 3:		/* all: every one, no gap at all */
			ck_assert_uint_eq(on, (size_t)((f - last[k]) / 1000 -
			    1));
			for (i = 0; i < on; i++) {
				ck_assert_str_eq(v[i].misfire, "all");
				ck_assert_int_eq(v[i].tick, last[k] +
				    (long long)(i + 1) * 1000);
			}
			break;
		}
		free(v);
	}
	free(all);

	/* redjob schedules, from what the daemon published. */
	args[0] = "-u";
	args[1] = rf.url;
	args[2] = "schedules";
	args[3] = "--json";
	args[4] = NULL;
	a = cli_json(args);
	ck_assert_uint_eq(json_array_size(a), 4);
	o = schedule_of(a, "m_all3");
	ck_assert_str_eq(json_string_value(json_object_get(o, "queue")),
	    "cron");
	ck_assert_str_eq(json_string_value(json_object_get(o, "spec")),
	    "every 1s");
	ck_assert_str_eq(json_string_value(json_object_get(o, "timezone")),
	    "UTC");
	ck_assert_str_eq(json_string_value(json_object_get(o, "misfire")),
	    "all");
	ck_assert_int_eq(json_integer_value(json_object_get(o,
	    "max_catchup")), 3);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "last")),
	    stored_last("m_all3"));
	ck_assert_int_eq(json_integer_value(json_object_get(o, "next")),
	    stored_last("m_all3") + 1000);
	json_decref(a);
	/* With -c, from the file: the next tick is computed from now. */
	args[0] = "-c";
	args[1] = df.config;
	a = cli_json(args);
	ck_assert_uint_eq(json_array_size(a), 4);
	o = schedule_of(a, "m_once");
	ck_assert_str_eq(json_string_value(json_object_get(o, "misfire")),
	    "once");
	ck_assert_int_eq(json_integer_value(json_object_get(o, "last")),
	    stored_last("m_once"));
	ck_assert_int_gt(json_integer_value(json_object_get(o, "next")),
	    wall_ms() - 1000);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "next")) % 1000,
	    0);
	json_decref(a);
}
END_TEST

START_TEST(test_a_redis_outage_is_a_misfire)
{
	struct job_tick *jobs;
	long long before, resumed;
	size_t n, i, caught = 0;
	int guard;

	daemon_write_config(
	    "redis:\n"
	    "  url: %s\n"
	    "workers: 1\n"
	    "shutdown_timeout: 2s\n"
	    "queues: { cron: 1 }\n"
	    "jobs:\n"
	    "  t:\n"
	    "    queue: cron\n"
	    "    exec: [/bin/true]\n"
	    "    schedule: { every: 1s, misfire: all }\n", rf.url);
	daemon_start(NULL);
	ck_assert_ptr_nonnull(notify_wait("READY=1", 15000));
	wait_last("t", 0, 15000);
	before = stored_last("t");
	/* Longer than a call's deadline: the connection is given up. */
	guard = redis_fixture_pause();
	run_until(before + 7500);
	redis_fixture_resume(guard);
	resumed = wall_ms();
	wait_last("t", resumed + 2000, 20000);
	stop_first();

	jobs = read_jobs(&n);
	qsort(jobs, n, sizeof *jobs, tick_cmp);
	for (i = 1; i < n; i++) {
		ck_assert_msg(jobs[i].tick == jobs[i - 1].tick + 1000,
		    "tick %lld follows %lld: misfire all loses none",
		    jobs[i].tick, jobs[i - 1].tick);
		caught += strcmp(jobs[i].misfire, "all") == 0;
	}
	ck_assert_int_le(jobs[0].tick, before);
	ck_assert_int_ge(jobs[n - 1].tick, resumed + 2000);
	/* The ticks of the outage came late: most of them are catch-ups. */
	ck_assert_uint_ge(caught, 4);
	free(jobs);
}
END_TEST

START_TEST(test_an_exec_handler_gets_its_tick)
{
	long long start = wall_ms(), t;
	char path[4200], *text, *p, *end;
	int n = 0;

	daemon_write_config(
	    "redis:\n"
	    "  url: %s\n"
	    "workers: 1\n"
	    "shutdown_timeout: 2s\n"
	    "queues: { live: 1 }\n"
	    "jobs:\n"
	    "  t:\n"
	    "    queue: live\n"
	    "    exec: [/bin/sh, -c, 'echo \"$REDJOB_TICK\" >> %s/ticks']\n"
	    "    schedule: { every: 1s }\n", rf.url, df.dir);
	daemon_start(NULL);
	ck_assert_ptr_nonnull(notify_wait("READY=1", 15000));
	ck_assert(daemon_wait_lines("ticks", 2, 15000));
	stop_first();
	snprintf(path, sizeof path, "%s/ticks", df.dir);
	text = must_read_file(path, NULL);
	for (p = text; *p != '\0'; p = end + (*end == '\n')) {
		t = strtoll(p, &end, 10);
		ck_assert_msg(end > p && (*end == '\n' || *end == '\0'),
		    "not a tick: %s", text);
		ck_assert_int_eq(t % 1000, 0);
		ck_assert_int_ge(t, start);
		ck_assert_int_le(t, wall_ms());
		n++;
	}
	ck_assert_int_ge(n, 2);
	free(text);
}
END_TEST

/* The config of test_a_changed_schedule_starts_from_now. */
static void
changed_config(const char *every)
{
	daemon_write_config(
	    "redis:\n"
	    "  url: %s\n"
	    "workers: 1\n"
	    "shutdown_timeout: 2s\n"
	    "queues: { cron: 1 }\n"
	    "jobs:\n"
	    "  t:\n"
	    "    queue: cron\n"
	    "    exec: [/bin/true]\n"
	    "    schedule: { every: %s, misfire: all }\n", rf.url, every);
}

START_TEST(test_a_changed_schedule_starts_from_now)
{
	struct job_tick *jobs;
	long long before, restart;
	size_t n, i;

	changed_config("1s");
	daemon_start(NULL);
	ck_assert_ptr_nonnull(notify_wait("READY=1", 15000));
	wait_last("t", 0, 15000);
	stop_first();
	before = stored_last("t");
	/* Down long enough for ticks of both lines to pass. */
	while (wall_ms() < before + 5500)
		nap_ms(100);
	changed_config("2s");
	restart = wall_ms();
	daemon_start(NULL);
	wait_last("t", restart + 1, 15000);
	stop_first();
	ck_assert(daemon_log_has("was every 1s in UTC, now every 2s in UTC"));

	/* No catch-up: the 2s ticks before the change were never due. */
	jobs = read_jobs(&n);
	qsort(jobs, n, sizeof *jobs, tick_cmp);
	for (i = 0; i < n; i++) {
		ck_assert_msg(jobs[i].misfire[0] == '\0', "tick %lld was a "
		    "catch-up (%s)", jobs[i].tick, jobs[i].misfire);
		if (jobs[i].tick > before)
			ck_assert_int_gt(jobs[i].tick, restart);
	}
	ck_assert_int_eq(jobs[n - 1].tick % 2000, 0);
	free(jobs);
}
END_TEST

START_TEST(test_check_refuses_bad_schedules_with_their_place)
{
	struct proc_spec spec;
	struct proc *p;
	char bin[4096], want[4400];
	char *argv[] = { bin, (char *)"-t", (char *)"-c", df.config, NULL };
	static const char *const errors[] = {
		":6:24: jobs.a.schedule.every: must be from 1ms",
		":9:28: jobs.b.schedule.cron: never fires: no month it lists has "
		    "a day 30",
		":12:43: jobs.c.schedule.timezone: unknown time zone "
		    "\"Mars/Olympus\"",
		":15:36: jobs.d.schedule.cron: more than 6 fields",
	};
	size_t i;

	daemon_write_config(
	    "redis:\n"
	    "  url: %s\n"
	    "jobs:\n"
	    "  a:\n"
	    "    exec: [/bin/true]\n"
	    "    schedule: { every: 0s }\n"
	    "  b:\n"
	    "    exec: [/bin/true]\n"
	    "    schedule: { cron: \"0 0 30 2 *\" }\n"
	    "  c:\n"
	    "    exec: [/bin/true]\n"
	    "    schedule: { cron: \"@daily\", timezone: Mars/Olympus }\n"
	    "  d:\n"
	    "    exec: [/bin/true]\n"
	    "    schedule: { cron: \"0 0 0 * * * *\" }\n", rf.url);
	snprintf(bin, sizeof bin, "%s/src/redjobd", testlib_builddir());
	memset(&spec, 0, sizeof spec);
	spec.argv = argv;
	spec.out = spec.err = PROC_IO_CAPTURE;
	p = must_spawn(&spec);
	ck_assert_int_ne(must_wait(p, TESTLIB_DEADLINE_MS), 0);
	for (i = 0; i < sizeof errors / sizeof errors[0]; i++) {
		snprintf(want, sizeof want, "%s%s", df.config, errors[i]);
		ck_assert_msg(strstr(p->err, want) != NULL, "\"%s\" not in:\n%s",
		    want, p->err);
	}
	proc_free(p);
}
END_TEST

Suite *
suite(void)
{
	Suite *s = suite_create("schedule");
	TCase *tc = tcase_create("functions");

	tcase_add_unchecked_fixture(tc, redis_start, redis_stop);
	tcase_add_checked_fixture(tc, redis_conn_setup_lib,
	    redis_conn_teardown);
	tcase_add_test(tc, test_tick_enqueues_each_tick_once_with_its_policy);
	tcase_add_test(tc, test_schedules_lists_what_schedule_published);
	suite_add_tcase(s, tc);

	tc = tcase_create("daemons");
	tcase_set_timeout(tc, 150);
	tcase_add_unchecked_fixture(tc, redis_start, redis_stop);
	tcase_add_checked_fixture(tc, schedule_setup, schedule_teardown);
	tcase_add_test(tc, test_check_refuses_bad_schedules_with_their_place);
	tcase_add_test(tc, test_misfire_across_a_ten_tick_outage);
	tcase_add_test(tc, test_a_redis_outage_is_a_misfire);
	tcase_add_test(tc, test_an_exec_handler_gets_its_tick);
	tcase_add_test(tc, test_a_changed_schedule_starts_from_now);
	tcase_add_test(tc,
	    test_two_instances_enqueue_each_tick_once);
	suite_add_tcase(s, tc);
	return s;
}
