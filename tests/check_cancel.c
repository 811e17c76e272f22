/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * redjob cancel and redjob_cancel, end to end, against a real
 * redis-server and the real redjobd: waiting jobs never run; a running
 * exec handler's whole process group is gone within a second with a
 * 30 s lease (so no renewal did it), and one that ignores SIGTERM is
 * killed after the grace; a plugin sees its cancel flag; the job is
 * neither retried nor dead and the worker goes on; a job that does not
 * exist is refused with nothing written; the worker's subscriber,
 * killed, comes back and still stops the job.
 */
#include "autoconf.h"

#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
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

/*
 * tree: a handler that starts a child in its group and waits for it,
 * its group's id (the shell's pid) in DIR/pg-N; stubborn: the same,
 * ignoring SIGTERM (the child inherits that); ok: records its run;
 * bad: dead at once; plug: probe.so's until_cancelled.
 */
static void
write_config(unsigned concurrency)
{
	daemon_write_config(
	    "redis:\n"
	    "  url: %s\n"
	    "workers: 1\n"
	    "concurrency: %u\n"
	    "shutdown_timeout: 1s\n"
	    "lease: 30s\n"
	    "log_level: debug\n"
	    "jobs:\n"
	    "  tree:\n"
	    "    exec: [/bin/sh, -c, 'sleep 600 & echo $$ > "
	    "\"$OUT/pg-${REDJOB_JOB_ID#*:}\"; wait']\n"
	    "    env: { OUT: \"%s\" }\n"
	    "  stubborn:\n"
	    "    exec: [/bin/sh, -c, 'trap \"\" TERM; sleep 600 & echo $$ > "
	    "\"$OUT/pg-${REDJOB_JOB_ID#*:}\"; wait; wait']\n"
	    "    env: { OUT: \"%s\" }\n"
	    "  ok:\n"
	    "    exec: [/bin/sh, -c, 'echo \"$REDJOB_JOB_ID\" >> "
	    "\"$OUT/runs\"']\n"
	    "    env: { OUT: \"%s\" }\n"
	    "  bad:\n"
	    "    exec: [/bin/sh, -c, 'exit 65']\n"
	    "  plug:\n"
	    "    plugin: { path: \"%s/tests/plugins/.libs/probe.so\", "
	    "symbol: until_cancelled }\n",
	    rf.url, concurrency, df.dir, df.dir, df.dir, testlib_builddir());
}

static void
start(unsigned concurrency)
{
	write_config(concurrency);
	daemon_start(NULL);
	ck_assert_msg(notify_wait("READY=1", 15000) != NULL,
	    "no READY=1 from redjobd");
}

/*
 * Stop the daemon and see it exit 0 with nothing from a sanitizer (a
 * leak report makes the exit status non-zero too).
 */
static void
stop_clean(void)
{
	daemon_signal(SIGTERM);
	ck_assert_int_eq(daemon_wait_exit(20000), 0);
	ck_assert_msg(!daemon_log_has("Sanitizer") &&
	    !daemon_log_has("runtime error"), "a sanitizer report");
}

static void
enqueue_full(const char *type, const char *payload, int64_t delay,
    const char *unique, char *id)
{
	struct redjob_job j = { .type = type, .payload = payload,
		.payload_len = strlen(payload), .delay_ms = delay,
		.unique = unique };

	ck_assert_msg(redjob_enqueue(df.cl, &j, id) == 0, "enqueue: %s",
	    redjob_errstr(df.cl));
}

static void
enqueue(const char *type, char *id)
{
	enqueue_full(type, "", 0, NULL, id);
}

/* "redjob -u URL ARG..." to its end, outputs captured. Caller frees. */
static struct proc *
cli(const char *first, ...)
{
	static char *envv[] = { (char *)"REDJOB_URL", NULL };
	struct proc_spec spec;
	const char *args[32];
	struct proc *p;
	va_list ap;
	int n = 0;

	args[n++] = "-u";
	args[n++] = rf.url;
	args[n++] = first;
	va_start(ap, first);
	while (n < 31 && (args[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	args[n] = NULL;
	memset(&spec, 0, sizeof spec);
	spec.out = spec.err = PROC_IO_CAPTURE;
	spec.env = envv;
	p = must_redjob_spawnv(&spec, args);
	must_wait(p, TESTLIB_DEADLINE_MS);
	return p;
}

static void
assert_state(const char *id, const char *want)
{
	char *v = daemon_job_field(id, "state");

	ck_assert_msg(strcmp(v, want) == 0, "%s is %s, not %s", id, v, want);
	free(v);
}

/* The group id a tree or stubborn handler of job id wrote, once it has. */
static pid_t
wait_group(const char *id)
{
	char name[64], path[4096], *text;
	long pg = 0;

	snprintf(name, sizeof name, "pg-%s", strchr(id, ':') + 1);
	ck_assert_msg(daemon_wait_lines(name, 1, 15000), "%s never started",
	    id);
	snprintf(path, sizeof path, "%s/%s", df.dir, name);
	text = must_read_file(path, NULL);
	ck_assert_int_eq(sscanf(text, "%ld", &pg), 1);
	free(text);
	ck_assert_int_gt(pg, 1);
	/* Its child too: the group has two processes to kill. */
	return (pid_t)pg;
}

static long long
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * Poll every 0.2 ms until no process of group pg is left (its orphans
 * come to this subreaper and are reaped here; nothing else of ours is in
 * that group): the monotonic time in us
 * when it was seen gone, or -1 at the deadline. Finer than
 * proc_wait_gone(), for the latency the test reports.
 */
static long long
group_gone_us(pid_t pg, unsigned timeout_ms)
{
	long long end = now_us() + (long long)timeout_ms * 1000;
	struct timespec step = { 0, 200000 };

	for (;;) {
		while (waitpid(-pg, NULL, WNOHANG) > 0)
			;
		if (kill(-pg, 0) == -1 && errno == ESRCH)
			return now_us();
		if (now_us() > end)
			return -1;
		nanosleep(&step, NULL);
	}
}

/* Every key and value of the database, for "nothing was written". */
static char *
dump_db(void)
{
	redisReply *keys, *v;
	char *out = NULL;
	size_t len = 0, i;

	keys = must_command(rf.c, "KEYS *");
	for (i = 0; i < keys->elements; i++) {
		testlib_append(&out, &len, keys->element[i]->str,
		    keys->element[i]->len);
		v = must_command(rf.c, "DUMP %s", keys->element[i]->str);
		if (v->type == REDIS_REPLY_STRING)
			testlib_append(&out, &len, v->str, v->len);
		freeReplyObject(v);
		testlib_append(&out, &len, "\n", 1);
	}
	freeReplyObject(keys);
	testlib_append(&out, &len, "", 1);
	return out;
}

/* Poll until a worker listens on the cancel channel: 1, or 0 at the end. */
static int
wait_subscribed(unsigned timeout_ms)
{
	uint64_t end = testlib_now_ms() + timeout_ms;
	redisReply *r;
	long long n;

	do {
		r = must_command(rf.c, "PUBSUB NUMSUB redjob:{default}:cancel");
		n = r->type == REDIS_REPLY_ARRAY && r->elements == 2 ?
		    r->element[1]->integer : 0;
		freeReplyObject(r);
		if (n >= 1)
			return 1;
		poll(NULL, 0, 10);
	} while (testlib_now_ms() < end);
	return 0;
}

/*
 * A ready job (with a unique key) and a scheduled one: cancelled, kept
 * in state cancelled, counted, never run, the unique key free for a new
 * job; then the daemon runs only the new one.
 */
START_TEST(test_cancel_of_waiting_jobs_keeps_them_cancelled_and_unrun)
{
	char ready[REDJOB_ID_MAX], later[REDJOB_ID_MAX];
	char again[REDJOB_ID_MAX], want[512], path[4096], *runs;
	struct proc *p;

	enqueue_full("ok", "", 0, "u1", ready);
	enqueue_full("ok", "", 3600000, NULL, later);
	assert_state(ready, "ready");
	assert_state(later, "scheduled");
	p = cli("cancel", ready, later, NULL);
	ck_assert_msg(p->status == 0, "exit %d: %s", p->status, p->err);
	snprintf(want, sizeof want, "cancel: %s was ready, now cancelled\n"
	    "cancel: %s was scheduled, now cancelled\n", ready, later);
	ck_assert_str_eq(p->out, want);
	proc_free(p);
	assert_state(ready, "cancelled");
	assert_state(later, "cancelled");
	ck_assert_int_eq(queue_stat("default", "cancelled"), 2);
	ck_assert_int_eq(queue_stat("default", "ready"), 0);
	ck_assert_int_eq(queue_stat("default", "scheduled"), 0);
	ck_assert_int_eq(queue_stat("default", "done"), 2);
	/* The unique key names no job any more: the same key makes one. */
	enqueue_full("ok", "", 0, "u1", again);
	ck_assert_str_ne(again, ready);
	start(1);
	ck_assert(wait_stat("default", "processed", 1, 15000));
	snprintf(path, sizeof path, "%s/runs", df.dir);
	runs = must_read_file(path, NULL);
	snprintf(want, sizeof want, "%s\n", again);
	ck_assert_str_eq(runs, want);
	free(runs);
	assert_state(ready, "cancelled");
	ck_assert_int_eq(queue_stat("default", "failed"), 0);
}
END_TEST

/*
 * A running exec handler with a child in its group, a 30 s lease: the
 * whole group is gone within a second of the cancel (the notice, not a
 * renewal); the job stays cancelled, is neither retried nor dead, and
 * the worker runs the next job.
 */
START_TEST(test_cancel_stops_a_running_handlers_group_at_once)
{
	char id[REDJOB_ID_MAX], next[REDJOB_ID_MAX], want[512];
	uint64_t t0;
	long long ms, us, t0us;
	redisReply *r;
	pid_t pg;

	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	start(1);
	enqueue("tree", id);
	pg = wait_group(id);
	ck_assert_int_eq(kill(-pg, 0), 0);
	t0 = testlib_now_ms();
	t0us = now_us();
	r = must_command(rf.c, "FCALL redjob_cancel 1 redjob:{default} %s "
	    "test", id);
	ck_assert_msg(r->type == REDIS_REPLY_STRING &&
	    strcmp(r->str, "running") == 0, "cancel: %s",
	    r->str != NULL ? r->str : "?");
	freeReplyObject(r);
	us = group_gone_us(pg, 5000);
	ck_assert_msg(us >= 0, "group %ld lives", (long)pg);
	ms = (long long)(testlib_now_ms() - t0);
	fprintf(stderr, "check_cancel: the handler's group was gone %.1f ms "
	    "after redjob_cancel was sent\n", (double)(us - t0us) / 1000);
	ck_assert_msg(ms < 1000, "the group was gone only after %lld ms", ms);
	snprintf(want, sizeof want, "job %s type=tree: cancelled after", id);
	ck_assert_msg(daemon_wait_log(want, 5000), "no \"%s\"", want);
	ck_assert(!daemon_log_has("the lease was lost"));
	assert_state(id, "cancelled");
	ck_assert_int_eq(queue_stat("default", "cancelled"), 1);
	ck_assert_int_eq(queue_stat("default", "failed"), 0);
	ck_assert_int_eq(queue_stat("default", "retried"), 0);
	ck_assert_int_eq(queue_stat("default", "dead"), 0);
	ck_assert_int_eq(queue_stat("default", "running"), 0);
	/* The slot is free: the next job runs. */
	enqueue("ok", next);
	ck_assert(wait_stat("default", "processed", 1, 15000));
	assert_state(id, "cancelled");
	ck_assert_int_eq(queue_stat("default", "failed"), 0);
	stop_clean();
}
END_TEST

/*
 * A handler that ignores SIGTERM: cancelled with redjob cancel, it
 * outlives the SIGTERM and its group is killed at the grace (5 s).
 */
START_TEST(test_a_handler_that_ignores_sigterm_is_killed_after_the_grace)
{
	char id[REDJOB_ID_MAX], want[512];
	struct proc *p;
	uint64_t t0;
	long long ms;
	pid_t pg;
	int st;

	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	start(1);
	enqueue("stubborn", id);
	pg = wait_group(id);
	t0 = testlib_now_ms();
	p = cli("cancel", id, NULL);
	ck_assert_msg(p->status == 0, "exit %d: %s", p->status, p->err);
	snprintf(want, sizeof want, "cancel: %s was running, now cancelled "
	    "(its worker stops the handler now)\n", id);
	ck_assert_str_eq(p->out, want);
	proc_free(p);
	ck_assert_msg(proc_wait_gone(-pg, &st, 15000) == 0, "group %ld lives",
	    (long)pg);
	ms = (long long)(testlib_now_ms() - t0);
	ck_assert_msg(ms >= 4000, "a group that ignores SIGTERM was gone "
	    "after %lld ms, before the grace", ms);
	snprintf(want, sizeof want, "job %s type=stubborn: cancelled after",
	    id);
	ck_assert_msg(daemon_wait_log(want, 5000), "no \"%s\"", want);
	assert_state(id, "cancelled");
	ck_assert_int_eq(queue_stat("default", "failed"), 0);
	ck_assert_int_eq(queue_stat("default", "dead"), 0);
}
END_TEST

/* A plugin sees its cancel flag and returns; the job stays cancelled. */
START_TEST(test_a_cancelled_plugin_sees_its_cancel_flag)
{
	char id[REDJOB_ID_MAX], path[4096], want[512], *text;
	struct proc *p;

	snprintf(path, sizeof path, "%s/plug", df.dir);
	start(1);
	enqueue_full("plug", path, 0, NULL, id);
	ck_assert(daemon_wait_lines("plug", 1, 15000));
	p = cli("cancel", "--json", id, NULL);
	ck_assert_msg(p->status == 0, "exit %d: %s", p->status, p->err);
	snprintf(want, sizeof want, "[\n  {\n    \"id\": \"%s\",\n    \"was\": "
	    "\"running\",\n    \"now\": \"cancelled\"\n  }\n]\n", id);
	ck_assert_str_eq(p->out, want);
	proc_free(p);
	ck_assert_msg(daemon_wait_lines("plug", 2, 5000), "the plugin never "
	    "saw its cancel flag");
	text = must_read_file(path, NULL);
	ck_assert_str_eq(text, "started\ncancelled\n");
	free(text);
	snprintf(want, sizeof want, "job %s type=plug: cancelled after", id);
	ck_assert_msg(daemon_wait_log(want, 5000), "no \"%s\"", want);
	assert_state(id, "cancelled");
	ck_assert_int_eq(queue_stat("default", "failed"), 0);
	ck_assert_int_eq(queue_stat("default", "cancelled"), 1);
	stop_clean();
}
END_TEST

/*
 * Bad input: a job that does not exist (nothing written), a finished
 * one, a dead one, a bad id; the good ids of a mixed list are cancelled
 * anyway.
 */
START_TEST(test_cancel_refuses_missing_finished_and_dead_jobs)
{
	char id[REDJOB_ID_MAX], dead[REDJOB_ID_MAX], missing[64];
	char want[512], *before, *after;
	struct proc *p;
	json_t *j;

	enqueue("ok", id);
	snprintf(missing, sizeof missing, "default:%d",
	    atoi(strchr(id, ':') + 1) + 100);
	before = dump_db();
	p = cli("cancel", missing, NULL);
	ck_assert_int_eq(p->status, 1);
	ck_assert_str_eq(p->out, "");
	snprintf(want, sizeof want, "redjob: cancel %s: no job %s", missing,
	    missing);
	ck_assert_msg(strstr(p->err, want) != NULL, "stderr: %s", p->err);
	proc_free(p);
	after = dump_db();
	ck_assert_msg(strcmp(before, after) == 0, "a cancel of a job that "
	    "does not exist wrote to Redis");
	free(before);
	free(after);

	/* A mixed list: the job is cancelled, the missing one named. */
	p = cli("cancel", "--json", missing, id, NULL);
	ck_assert_int_eq(p->status, 1);
	j = json_loads(p->out, 0, NULL);
	ck_assert_msg(json_is_array(j) && json_array_size(j) == 2, "%s",
	    p->out);
	ck_assert_str_eq(json_string_value(json_object_get(
	    json_array_get(j, 0), "id")), missing);
	ck_assert_ptr_nonnull(json_string_value(json_object_get(
	    json_array_get(j, 0), "error")));
	ck_assert_str_eq(json_string_value(json_object_get(
	    json_array_get(j, 1), "was")), "ready");
	json_decref(j);
	proc_free(p);
	assert_state(id, "cancelled");

	/* Finished (cancelled) already. */
	p = cli("cancel", id, NULL);
	ck_assert_int_eq(p->status, 1);
	snprintf(want, sizeof want, "job %s has finished (cancelled)", id);
	ck_assert_msg(strstr(p->err, want) != NULL, "stderr: %s", p->err);
	proc_free(p);
	ck_assert_int_eq(queue_stat("default", "cancelled"), 1);

	/* Dead. */
	start(1);
	enqueue("bad", dead);
	ck_assert(wait_stat("default", "dead", 1, 15000));
	p = cli("cancel", dead, NULL);
	ck_assert_int_eq(p->status, 1);
	snprintf(want, sizeof want, "job %s is dead", dead);
	ck_assert_msg(strstr(p->err, want) != NULL, "stderr: %s", p->err);
	ck_assert_msg(strstr(p->err, "redjob rm") != NULL, "stderr: %s",
	    p->err);
	proc_free(p);
	assert_state(dead, "dead");

	/* Usage. */
	p = cli("cancel", NULL);
	ck_assert_int_eq(p->status, 2);
	proc_free(p);
	p = cli("cancel", id, "mail", NULL);
	ck_assert_int_eq(p->status, 2);
	ck_assert_msg(strstr(p->err, "invalid job id \"mail\"") != NULL,
	    "stderr: %s", p->err);
	proc_free(p);
}
END_TEST

/*
 * libredjob's redjob_cancel(): the state the job was in, its reason kept
 * as its last error; NOJOB (nothing written) and STATE for the others.
 */
START_TEST(test_libredjob_cancels_too)
{
	char id[REDJOB_ID_MAX], dead[REDJOB_ID_MAX], missing[64], state[32];
	char *before, *after, *v;

	enqueue("ok", id);
	ck_assert_msg(redjob_cancel(df.cl, id, "not needed any more", state,
	    sizeof state) == 0, "%s", redjob_errstr(df.cl));
	ck_assert_str_eq(state, "ready");
	assert_state(id, "cancelled");
	v = daemon_job_field(id, "last_error");
	ck_assert_str_eq(v, "not needed any more");
	free(v);
	ck_assert_int_eq(redjob_cancel(df.cl, id, NULL, NULL, 0), -1);
	ck_assert_int_eq(redjob_errcode(df.cl), REDJOB_ERR_STATE);

	snprintf(missing, sizeof missing, "default:%d",
	    atoi(strchr(id, ':') + 1) + 100);
	before = dump_db();
	ck_assert_int_eq(redjob_cancel(df.cl, missing, NULL, state,
	    sizeof state), -1);
	ck_assert_int_eq(redjob_errcode(df.cl), REDJOB_ERR_NOJOB);
	after = dump_db();
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
	ck_assert_int_eq(redjob_cancel(df.cl, "no-colon", NULL, NULL, 0), -1);
	ck_assert_int_eq(redjob_errcode(df.cl), REDJOB_ERR_INVALID);

	start(1);
	enqueue("bad", dead);
	ck_assert(wait_stat("default", "dead", 1, 15000));
	ck_assert_int_eq(redjob_cancel(df.cl, dead, NULL, NULL, 0), -1);
	ck_assert_int_eq(redjob_errcode(df.cl), REDJOB_ERR_STATE);
	ck_assert_msg(strstr(redjob_errstr(df.cl), "redjob rm") != NULL, "%s",
	    redjob_errstr(df.cl));
	assert_state(dead, "dead");
}
END_TEST

/*
 * The library alone: a renewal of a cancelled job is refused with 2
 * (cancelled), of a removed one with 0; its ack and fail are refused;
 * the holder is told on the cancel channel.
 */
START_TEST(test_a_cancelled_jobs_holder_is_told_and_refused)
{
	char id[REDJOB_ID_MAX], other[REDJOB_ID_MAX];
	redisContext *sub;
	redisReply *r;
	const char *tok = "0123456789abcdefrandomrandomrand";

	enqueue("ok", id);
	enqueue("ok", other);
	r = must_command(rf.c, "FCALL redjob_claim 1 redjob:{default} 2 "
	    "30000 3 %s", tok);
	ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
	freeReplyObject(r);
	sub = must_connect();
	r = redisCommand(sub, "SUBSCRIBE redjob:{default}:cancel");
	ck_assert_ptr_nonnull(r);
	freeReplyObject(r);
	r = must_command(rf.c, "FCALL redjob_cancel 1 redjob:{default} %s",
	    id);
	ck_assert_str_eq(r->str, "running");
	freeReplyObject(r);
	ck_assert_int_eq(redisGetReply(sub, (void **)&r), REDIS_OK);
	ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
	ck_assert_int_eq(r->elements, 3);
	ck_assert_str_eq(r->element[0]->str, "message");
	ck_assert_str_eq(r->element[2]->str, "1 0123456789abcdef");
	freeReplyObject(r);
	redisFree(sub);
	r = must_command(rf.c, "FCALL redjob_remove 1 redjob:{default} %s",
	    other);
	freeReplyObject(r);
	r = must_command(rf.c, "FCALL redjob_extend 1 redjob:{default} 30000 "
	    "%s %s %s %s", id, tok, other, tok);
	ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
	ck_assert_int_eq(r->element[0]->integer, 2);
	ck_assert_int_eq(r->element[1]->integer, 0);
	freeReplyObject(r);
	r = must_command(rf.c, "FCALL redjob_ack 1 redjob:{default} %s %s",
	    id, tok);
	ck_assert_int_eq(r->element[0]->integer, 0);
	freeReplyObject(r);
	r = redisCommand(rf.c, "FCALL redjob_fail 1 redjob:{default} %s %s "
	    "boom 0 3", id, tok);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
	ck_assert_msg(strncmp(r->str, "REDJOB_STALE", 12) == 0, "%s", r->str);
	freeReplyObject(r);
	assert_state(id, "cancelled");
	ck_assert_int_eq(must_int(rf.c, "ZCARD redjob:{default}:run"), 0);
	ck_assert_int_eq(must_int(rf.c, "HLEN redjob:{default}:tok"), 0);
	ck_assert_int_eq(queue_stat("default", "cancelled"), 1);
}
END_TEST

/*
 * The worker's subscriber connection is killed, then a running job is
 * cancelled: the worker subscribes again and still stops the handler
 * (at once if the notice came after the resubscription, else by the
 * renewal it makes on resubscribing, at worst its periodic one), and
 * says "cancelled", not "lease lost".
 */
START_TEST(test_a_killed_subscriber_comes_back_and_the_cancel_still_stops)
{
	char id[REDJOB_ID_MAX], want[512];
	uint64_t t0;
	long long ms;
	redisReply *r;
	pid_t pg;
	int st;

	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	start(1);
	enqueue("tree", id);
	pg = wait_group(id);
	r = must_command(rf.c, "CLIENT KILL TYPE pubsub");
	ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
	ck_assert_int_ge(r->integer, 1);
	freeReplyObject(r);
	t0 = testlib_now_ms();
	r = must_command(rf.c, "FCALL redjob_cancel 1 redjob:{default} %s",
	    id);
	ck_assert_str_eq(r->str, "running");
	freeReplyObject(r);
	ck_assert_msg(proc_wait_gone(-pg, &st, 15000) == 0, "group %ld lives",
	    (long)pg);
	ms = (long long)(testlib_now_ms() - t0);
	fprintf(stderr, "check_cancel: with the subscriber killed, the group "
	    "was gone %lld ms after redjob_cancel\n", ms);
	snprintf(want, sizeof want, "job %s type=tree: cancelled after", id);
	ck_assert_msg(daemon_wait_log(want, 5000), "no \"%s\"", want);
	ck_assert(!daemon_log_has("the lease was lost"));
	ck_assert_msg(daemon_wait_log("-notice: connection lost", 5000),
	    "the subscriber's loss was not logged");
	/* Subscribed again: the next cancel takes the fast path. */
	ck_assert_msg(wait_subscribed(15000), "the worker did not subscribe "
	    "again");
	enqueue("tree", id);
	pg = wait_group(id);
	t0 = testlib_now_ms();
	r = must_command(rf.c, "FCALL redjob_cancel 1 redjob:{default} %s",
	    id);
	freeReplyObject(r);
	ck_assert_msg(proc_wait_gone(-pg, &st, 5000) == 0, "group %ld lives",
	    (long)pg);
	ms = (long long)(testlib_now_ms() - t0);
	ck_assert_msg(ms < 1000, "the group was gone only after %lld ms", ms);
	ck_assert_int_eq(queue_stat("default", "cancelled"), 2);
	ck_assert_int_eq(queue_stat("default", "failed"), 0);
	stop_clean();
}
END_TEST

Suite *
suite(void)
{
	Suite *s = suite_create("cancel");
	TCase *tc = tcase_create("cancel");

	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, redis_start, redis_stop);
	tcase_add_checked_fixture(tc, daemon_setup, daemon_teardown);
	tcase_add_test(tc,
	    test_cancel_of_waiting_jobs_keeps_them_cancelled_and_unrun);
	tcase_add_test(tc, test_cancel_stops_a_running_handlers_group_at_once);
	tcase_add_test(tc,
	    test_a_handler_that_ignores_sigterm_is_killed_after_the_grace);
	tcase_add_test(tc, test_a_cancelled_plugin_sees_its_cancel_flag);
	tcase_add_test(tc, test_cancel_refuses_missing_finished_and_dead_jobs);
	tcase_add_test(tc, test_libredjob_cancels_too);
	tcase_add_test(tc, test_a_cancelled_jobs_holder_is_told_and_refused);
	tcase_add_test(tc,
	    test_a_killed_subscriber_comes_back_and_the_cancel_still_stops);
	suite_add_tcase(s, tc);
	return s;
}
