/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The real redjobd, end to end, against a real redis-server: jobs run,
 * retry and die; workers are killed with -9; the daemon is stopped and
 * reloaded with signals; Redis restarts, flushes its functions and kills
 * idle connections; systemd's protocol is read from a real socket.
 */
#include "autoconf.h"

#include <sys/types.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <hiredis/hiredis.h>

#include "redjob.h"
#include "daemon_fixture.h"
#include "redis_fixture.h"
#include "testlib.h"

/*
 * The handlers are small shell scripts: each run appends the job id and
 * its parent, the worker that holds the job, to DIR/runs, so tests count
 * runs and double runs exactly and know where each ran.
 */
#define JOBS_COMMON \
	"jobs:\n" \
	"  ok:\n" \
	"    exec: [/bin/sh, -c, 'echo \"$REDJOB_JOB_ID $PPID\" >> " \
	"\"$OUT/runs\"']\n" \
	"    env: { OUT: \"%s\" }\n" \
	"  copy:\n" \
	"    exec: [/bin/sh, -c, 'cat > \"$OUT/payload-$REDJOB_ATTEMPT\"; " \
	"env > \"$OUT/env\"']\n" \
	"    env: { OUT: \"%s\" }\n" \
	"  flaky:\n" \
	"    exec: [/bin/sh, -c, 'echo \"$REDJOB_ATTEMPT\" >> \"$OUT/flaky\"; " \
	"echo \"attempt $REDJOB_ATTEMPT broke\" >&2; exit 3']\n" \
	"    env: { OUT: \"%s\" }\n" \
	"    retry: { max_attempts: 3, backoff: fixed, base: 100ms, " \
	"jitter: 0 }\n" \
	"  bad:\n" \
	"    exec: [/bin/sh, -c, 'echo \"not valid input\" >&2; exit 65']\n" \
	"  slow:\n" \
	"    exec: [/bin/sh, -c, 'echo \"$REDJOB_JOB_ID $PPID\" >> " \
	"\"$OUT/started\"; sleep 3; echo \"$REDJOB_JOB_ID $PPID\" >> " \
	"\"$OUT/runs\"']\n" \
	"    env: { OUT: \"%s\" }\n" \
	"  plug_ok:\n" \
	"    plugin: { path: \"%s/examples/plugins/.libs/example.so\", " \
	"symbol: noop }\n" \
	"  plug_fail:\n" \
	"    plugin: { path: \"%s/examples/plugins/.libs/example.so\", " \
	"symbol: fail }\n" \
	"    retry: { max_attempts: 2, backoff: fixed, base: 50ms }\n" \
	"  plug_dead:\n" \
	"    plugin: { path: \"%s/examples/plugins/.libs/example.so\", " \
	"symbol: permanent }\n" \
	"  sleepy:\n" \
	"    exec: [/bin/sleep, '60']\n" \
	"    timeout: 300ms\n" \
	"    retry: { max_attempts: 1 }\n"

static void
write_config(unsigned workers, unsigned concurrency, const char *extra)
{
	daemon_write_config(
	    "redis:\n"
	    "  url: %s\n"
	    "workers: %u\n"
	    "concurrency: %u\n"
	    "shutdown_timeout: 1s\n"
	    "lease: 2s\n"
	    "%s"
	    JOBS_COMMON,
	    rf.url, workers, concurrency, extra != NULL ? extra : "",
	    df.dir, df.dir, df.dir, df.dir, testlib_builddir(),
	    testlib_builddir(), testlib_builddir());
}

static void
enqueue(const char *type, const char *payload, int64_t delay, char *id)
{
	struct redjob_job j = { .type = type, .payload = payload,
		.payload_len = strlen(payload), .delay_ms = delay };
	char tmp[REDJOB_ID_MAX];

	ck_assert_msg(redjob_enqueue(df.cl, &j, id != NULL ? id : tmp) == 0,
	    "enqueue: %s", redjob_errstr(df.cl));
}

static void
start_ready(unsigned workers, unsigned concurrency, const char *extra)
{
	write_config(workers, concurrency, extra);
	daemon_start(NULL);
	ck_assert_msg(notify_wait("READY=1", 15000) != NULL,
	    "no READY=1 from redjobd");
}

/*
 * Enqueue n "slow" jobs (their ids into ids, unless NULL) and wait until
 * exactly running of them have started.
 */
static void
start_slow(int n, char (*ids)[REDJOB_ID_MAX], long running)
{
	int i;

	for (i = 0; i < n; i++)
		enqueue("slow", "", 0, ids != NULL ? ids[i] : NULL);
	ck_assert_msg(daemon_wait_lines("started", running, 3000), "%ld of "
	    "%ld started", daemon_count_lines("started"), running);
	ck_assert_int_eq(daemon_count_lines("started"), running);
}

START_TEST(test_daemon_runs_jobs_after_ready_and_stops_cleanly)
{
	const char *msg;
	int i;

	start_ready(2, 4, NULL);
	for (i = 0; i < 50; i++)
		enqueue("ok", "", 0, NULL);
	ck_assert_msg(wait_stat("default", "processed", 50, 15000),
	    "50 jobs not processed: %lld", queue_stat("default", "processed"));
	ck_assert_int_eq(daemon_count_lines("runs"), 50);
	msg = notify_wait("STATUS=", 5000);
	ck_assert_ptr_nonnull(msg);
	daemon_signal(SIGTERM);
	ck_assert_ptr_nonnull(notify_wait("STOPPING=1", 5000));
	ck_assert_int_eq(daemon_wait_exit(15000), 0);
}
END_TEST

START_TEST(test_payload_and_environment_reach_the_handler)
{
	static const char payload[] = "{\"to\":\"a@example.com\"}";
	char id[REDJOB_ID_MAX], path[4096], buf[256], *env, *got;
	size_t n;

	start_ready(1, 2, NULL);
	enqueue("copy", payload, 0, id);
	ck_assert(wait_stat("default", "processed", 1, 10000));
	snprintf(path, sizeof path, "%s/payload-1", df.dir);
	got = must_read_file(path, &n);
	ck_assert_uint_eq(n, strlen(payload));
	ck_assert_mem_eq(got, payload, n);
	free(got);
	snprintf(path, sizeof path, "%s/env", df.dir);
	env = must_read_file(path, NULL);
	snprintf(buf, sizeof buf, "REDJOB_JOB_ID=%s\n", id);
	ck_assert_msg(strstr(env, buf) != NULL, "no %s in %s", buf, env);
	ck_assert_ptr_nonnull(strstr(env, "REDJOB_JOB_TYPE=copy\n"));
	ck_assert_ptr_nonnull(strstr(env, "REDJOB_QUEUE=default\n"));
	ck_assert_ptr_nonnull(strstr(env, "REDJOB_ATTEMPT=1\n"));
	ck_assert_ptr_nonnull(strstr(env, "REDJOB_MAX_ATTEMPTS=25\n"));
	/* Scrubbed: nothing of the test's environment leaks through. */
	ck_assert_msg(strstr(env, "NOTIFY_SOCKET") == NULL, "%s", env);
	ck_assert_msg(strstr(env, "REDIS_SERVER") == NULL, "%s", env);
	free(env);
}
END_TEST

START_TEST(test_delayed_job_runs_when_due_not_before)
{
	uint64_t t0;

	start_ready(1, 2, NULL);
	t0 = testlib_now_ms();
	enqueue("ok", "", 700, NULL);
	usleep(400000);
	ck_assert_int_eq(daemon_count_lines("runs"), 0);
	ck_assert(wait_stat("default", "processed", 1, 5000));
	ck_assert_msg(testlib_now_ms() - t0 >= 700, "ran after %llu ms",
	    (unsigned long long)(testlib_now_ms() - t0));
}
END_TEST

START_TEST(test_failing_job_is_retried_then_dead_with_its_error)
{
	char id[REDJOB_ID_MAX], *err, *attempts;

	start_ready(1, 2, NULL);
	enqueue("flaky", "", 0, id);
	ck_assert_msg(wait_stat("default", "dead", 1, 10000), "not dead");
	ck_assert_int_eq(daemon_count_lines("flaky"), 3);
	ck_assert_int_eq(queue_stat("default", "failed"), 3);
	ck_assert_int_eq(queue_stat("default", "retried"), 2);
	err = daemon_job_field(id, "last_error");
	attempts = daemon_job_field(id, "attempts");
	ck_assert_ptr_nonnull(err);
	ck_assert_msg(strstr(err, "exit 3") != NULL &&
	    strstr(err, "attempt 3 broke") != NULL, "last_error: %s", err);
	ck_assert_str_eq(attempts, "3");
	free(err);
	free(attempts);
}
END_TEST

START_TEST(test_exit_65_and_unknown_types_go_straight_to_dead)
{
	char bad[REDJOB_ID_MAX], unknown[REDJOB_ID_MAX], *err;

	start_ready(1, 2, NULL);
	enqueue("bad", "", 0, bad);
	enqueue("no_such_type", "", 0, unknown);
	ck_assert(wait_stat("default", "dead", 2, 10000));
	ck_assert_int_eq(queue_stat("default", "retried"), 0);
	err = daemon_job_field(bad, "last_error");
	ck_assert_msg(strstr(err, "permanent failure (exit 65)") != NULL &&
	    strstr(err, "not valid input") != NULL, "%s", err);
	free(err);
	err = daemon_job_field(unknown, "last_error");
	ck_assert_msg(strstr(err, "unknown job type \"no_such_type\"") != NULL,
	    "%s", err);
	free(err);
}
END_TEST

START_TEST(test_timeout_kills_the_handler_and_fails_the_job)
{
	char id[REDJOB_ID_MAX], *err;

	start_ready(1, 2, NULL);
	enqueue("sleepy", "", 0, id);
	ck_assert(wait_stat("default", "dead", 1, 10000));
	err = daemon_job_field(id, "last_error");
	ck_assert_msg(strstr(err, "timed out after 300ms") != NULL, "%s", err);
	free(err);
}
END_TEST

START_TEST(test_plugin_jobs_run_fail_and_die_inside_the_worker)
{
	char fail[REDJOB_ID_MAX], dead[REDJOB_ID_MAX], *err;
	int i;

	start_ready(2, 4, NULL);
	for (i = 0; i < 100; i++)
		enqueue("plug_ok", "x", 0, NULL);
	enqueue("plug_fail", "", 0, fail);
	enqueue("plug_dead", "", 0, dead);
	ck_assert_msg(wait_stat("default", "processed", 100, 15000),
	    "processed %lld", queue_stat("default", "processed"));
	ck_assert(wait_stat("default", "dead", 2, 15000));
	err = daemon_job_field(fail, "last_error");
	ck_assert_msg(strstr(err, "returned 1: example failure") != NULL, "%s",
	    err);
	free(err);
	err = daemon_job_field(dead, "attempts");
	ck_assert_str_eq(err, "1");
	free(err);
	ck_assert_int_eq(queue_stat("default", "retried"), 1);
}
END_TEST

START_TEST(test_kill_9_of_a_worker_loses_no_job)
{
	char ids[4][REDJOB_ID_MAX];
	pid_t holder[4], killed[4], pids[8], again;
	int i, k, nkilled = 0;

	start_ready(2, 2, NULL);
	start_slow(4, ids, 4);
	ck_assert_int_eq(daemon_workers(pids, 8), 2);
	/* Each handler named its worker: kill exactly those, once each. */
	for (i = 0; i < 4; i++) {
		holder[i] = daemon_job_worker("started", ids[i], 1);
		ck_assert_msg(holder[i] > 0 && daemon_is_worker(holder[i]),
		    "job %s runs in %ld, not in a worker", ids[i],
		    (long)holder[i]);
		for (k = 0; k < nkilled && killed[k] != holder[i]; k++)
			;
		if (k == nkilled)
			killed[nkilled++] = holder[i];
	}
	/* Two workers of two slots: the four jobs are in both. */
	ck_assert_int_eq(nkilled, 2);
	for (k = 0; k < nkilled; k++)
		ck_assert_int_eq(kill(killed[k], SIGKILL), 0);
	/* Their leases (2 s) expire and the restarted workers run them. */
	ck_assert_msg(wait_stat("default", "processed", 4, 30000),
	    "processed %lld of 4", queue_stat("default", "processed"));
	ck_assert_int_ge(queue_stat("default", "stalled"), 4);
	ck_assert_int_eq(queue_stat("default", "dead"), 0);
	/* Orphaned handlers died with their worker: only the reruns ended. */
	ck_assert_int_eq(daemon_count_lines("runs"), 4);
	ck_assert(daemon_log_has("killed by signal 9"));
	/* Each job came back, started once more, in another worker, and
	 * ran to its end there, once. */
	for (i = 0; i < 4; i++) {
		again = daemon_job_worker("started", ids[i], 2);
		ck_assert_msg(again > 0 && again != holder[i], "job %s did not "
		    "start again after its worker %ld died", ids[i],
		    (long)holder[i]);
		ck_assert_int_eq(daemon_job_worker("started", ids[i], 3), 0);
		ck_assert_int_eq(daemon_job_worker("runs", ids[i], 1), again);
		ck_assert_int_eq(daemon_job_worker("runs", ids[i], 2), 0);
	}
}
END_TEST

START_TEST(test_sigterm_requeues_running_jobs_and_keeps_waiting_ones)
{
	char ids[3][REDJOB_ID_MAX], *state, *attempts;
	int i;

	start_ready(1, 2, NULL);
	start_slow(3, ids, 2);
	daemon_signal(SIGTERM);
	ck_assert_ptr_nonnull(notify_wait("STOPPING=1", 5000));
	/* shutdown_timeout is 1 s and the jobs take 3 s: they go back. */
	ck_assert_int_eq(daemon_wait_exit(20000), 0);
	ck_assert_int_eq(queue_stat("default", "running"), 0);
	ck_assert_int_eq(queue_stat("default", "ready"), 3);
	ck_assert_int_eq(queue_stat("default", "processed"), 0);
	for (i = 0; i < 3; i++) {
		state = daemon_job_field(ids[i], "state");
		attempts = daemon_job_field(ids[i], "attempts");
		ck_assert_str_eq(state, "ready");
		ck_assert_str_eq(attempts, "0");
		free(state);
		free(attempts);
	}
	/* The two that ran, and the third if it was claimed ahead. */
	ck_assert_int_ge(queue_stat("default", "requeued"), 2);
}
END_TEST

START_TEST(test_sighup_with_a_valid_file_reloads_without_losing_jobs)
{
	start_ready(1, 2, NULL);
	/* One worker with two slots: two of the four are running. */
	start_slow(4, NULL, 2);
	write_config(2, 2, NULL);
	daemon_signal(SIGHUP);
	ck_assert_ptr_nonnull(notify_wait("RELOADING=1", 5000));
	ck_assert_ptr_nonnull(notify_wait("READY=1", 10000));
	ck_assert_msg(wait_stat("default", "processed", 4, 30000),
	    "processed %lld", queue_stat("default", "processed"));
	/* Exactly once each: the reload neither lost nor doubled a job. */
	ck_assert_int_eq(daemon_count_lines("runs"), 4);
	ck_assert_int_eq(daemon_count_lines("started"), 4);
}
END_TEST

START_TEST(test_sighup_with_a_broken_file_keeps_the_old_configuration)
{
	const char *msg;
	FILE *f;

	start_ready(1, 2, NULL);
	f = fopen(df.config, "a");
	fputs("bogus_key: 1\n", f);
	fclose(f);
	daemon_signal(SIGHUP);
	ck_assert_ptr_nonnull(notify_wait("RELOADING=1", 5000));
	msg = notify_wait("READY=1", 5000);
	ck_assert_ptr_nonnull(msg);
	ck_assert_msg(strstr(msg, "reload failed") != NULL, "%s", msg);
	ck_assert(daemon_log_has("redjob.yml:"));
	enqueue("ok", "", 0, NULL);
	ck_assert(wait_stat("default", "processed", 1, 10000));
}
END_TEST

START_TEST(test_watchdog_pings_arrive)
{
	const char *env[] = { "WATCHDOG_USEC=400000", NULL };

	write_config(1, 1, NULL);
	daemon_start(env);
	ck_assert_ptr_nonnull(notify_wait("WATCHDOG=1", 5000));
	ck_assert_ptr_nonnull(notify_wait("WATCHDOG=1", 2000));
	ck_assert_ptr_nonnull(notify_wait("WATCHDOG=1", 2000));
}
END_TEST

START_TEST(test_flushed_functions_and_idle_timeouts_are_survived)
{
	start_ready(1, 2, NULL);
	enqueue("ok", "", 0, NULL);
	ck_assert(wait_stat("default", "processed", 1, 10000));
	freeReplyObject(must_command(rf.c, "FUNCTION FLUSH"));
	freeReplyObject(must_command(rf.c, "CONFIG SET timeout 1"));
	sleep(2);	/* let the server kill the idle connections */
	/* The client reloads the library itself; then the worker runs it. */
	enqueue("ok", "", 0, NULL);
	ck_assert_msg(wait_stat("default", "processed", 2, 15000),
	    "processed %lld", queue_stat("default", "processed"));
	/* The test's own connection was idle too. */
	redisFree(rf.c);
	rf.c = must_connect();
	/* The worker meets the missing library at its next claim. */
	enqueue("ok", "", 800, NULL);
	freeReplyObject(must_command(rf.c, "FUNCTION FLUSH"));
	ck_assert(wait_stat("default", "processed", 3, 15000));
	ck_assert(daemon_log_has("the redjob library is missing; loading it"));
	freeReplyObject(must_command(rf.c, "CONFIG SET timeout 0"));
}
END_TEST

START_TEST(test_oom_and_killed_connections_delay_but_lose_nothing)
{
	struct redjob_job jobs[100];
	struct redjob_result res[100];
	int i;

	start_ready(2, 4, NULL);
	for (i = 0; i < 100; i++) {
		memset(&jobs[i], 0, sizeof jobs[i]);
		jobs[i].type = "ok";
		jobs[i].delay_ms = 300;
	}
	ck_assert_int_eq(redjob_enqueue_many(df.cl, jobs, 100, res), 100);
	/* Full: claims (writes) are refused before they run. */
	freeReplyObject(must_command(rf.c, "CONFIG SET maxmemory 1"));
	usleep(800000);
	ck_assert_int_eq(queue_stat("default", "processed"), 0);
	freeReplyObject(must_command(rf.c, "CONFIG SET maxmemory 0"));
	/* Cut every client's connection, the workers' included. */
	freeReplyObject(must_command(rf.c, "CLIENT KILL TYPE normal SKIPME yes"));
	ck_assert_msg(wait_stat("default", "processed", 100, 30000),
	    "processed %lld", queue_stat("default", "processed"));
	ck_assert_int_eq(queue_stat("default", "dead"), 0);
	ck_assert_int_eq(daemon_count_lines("runs"), 100);
	ck_assert(daemon_log_has("OOM"));
}
END_TEST

START_TEST(test_redis_restart_under_load_loses_no_job)
{
	struct redjob_job jobs[200];
	struct redjob_result res[200];
	long runs;
	int i;

	start_ready(2, 4, NULL);
	for (i = 0; i < 200; i++) {
		memset(&jobs[i], 0, sizeof jobs[i]);
		jobs[i].type = "ok";
	}
	ck_assert_int_eq(redjob_enqueue_many(df.cl, jobs, 200, res), 200);
	/* Restart Redis with its data (an RDB), as a crash with AOF would. */
	freeReplyObject(must_command(rf.c, "SAVE"));
	redis_conn_teardown();
	redis_fixture_kill(SIGKILL);
	usleep(300000);
	redis_fixture_spawn((const char *[]){ "--dbfilename", "dump.rdb",
	    NULL });
	rf.c = must_connect();
	ck_assert_msg(wait_stat("default", "processed", 200, 60000),
	    "processed %lld of 200", queue_stat("default", "processed"));
	runs = daemon_count_lines("runs");
	ck_assert_int_ge(runs, 200);
	fprintf(stderr, "redis restart under load: 200 jobs, %ld runs, %ld "
	    "double runs\n", runs, runs - 200);
}
END_TEST

Suite *
suite(void)
{
	Suite *s = suite_create("daemon");
	TCase *tc = tcase_create("daemon");

	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, redis_start, redis_stop);
	tcase_add_checked_fixture(tc, daemon_setup, daemon_teardown);
	tcase_add_test(tc, test_daemon_runs_jobs_after_ready_and_stops_cleanly);
	tcase_add_test(tc, test_payload_and_environment_reach_the_handler);
	tcase_add_test(tc, test_delayed_job_runs_when_due_not_before);
	tcase_add_test(tc, test_failing_job_is_retried_then_dead_with_its_error);
	tcase_add_test(tc, test_exit_65_and_unknown_types_go_straight_to_dead);
	tcase_add_test(tc, test_timeout_kills_the_handler_and_fails_the_job);
	tcase_add_test(tc, test_plugin_jobs_run_fail_and_die_inside_the_worker);
	tcase_add_test(tc, test_kill_9_of_a_worker_loses_no_job);
	tcase_add_test(tc, test_sigterm_requeues_running_jobs_and_keeps_waiting_ones);
	tcase_add_test(tc, test_sighup_with_a_valid_file_reloads_without_losing_jobs);
	tcase_add_test(tc, test_sighup_with_a_broken_file_keeps_the_old_configuration);
	tcase_add_test(tc, test_watchdog_pings_arrive);
	tcase_add_test(tc, test_flushed_functions_and_idle_timeouts_are_survived);
	tcase_add_test(tc, test_oom_and_killed_connections_delay_but_lose_nothing);
	tcase_add_test(tc, test_redis_restart_under_load_loses_no_job);
	suite_add_tcase(s, tc);
	return s;
}
