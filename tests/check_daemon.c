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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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
	"    retry: { max_attempts: 1 }\n" \
	"  perishable:\n" \
	"    exec: [/bin/sh, -c, 'echo \"$REDJOB_JOB_ID\" >> " \
	"\"$OUT/perishable\"']\n" \
	"    env: { OUT: \"%s\" }\n" \
	"    expire: 1s\n"

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
	    "unknown_type_grace: 0\n"	/* an unknown type is dead at once */
	    "%s"
	    JOBS_COMMON,
	    rf.url, workers, concurrency, extra != NULL ? extra : "",
	    df.dir, df.dir, df.dir, df.dir, testlib_builddir(),
	    testlib_builddir(), testlib_builddir(), df.dir);
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

/* A process's peak resident set (VmHWM), in KiB. */
static long
vm_hwm_kib(pid_t pid)
{
	char path[64], *status, *at;
	long kib;

	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	status = must_read_file(path, NULL);
	at = strstr(status, "\nVmHWM:");
	ck_assert_ptr_nonnull(at);
	kib = strtol(at + 7, NULL, 10);
	free(status);
	return kib;
}

/*
 * A 50 MiB payload reaches the handler intact, and the worker holds it
 * about twice at its peak: hiredis's read buffer and the reply, whose
 * string the job then keeps and the handler's stdin is written from.
 * Before, a copy at the claim and one into the pipe's buffer made three
 * (a growth of 3.0 times the payload; twice, 2.0, now).
 */
START_TEST(test_a_50_mib_payload_is_not_copied_by_the_worker)
{
	const size_t len = 50 << 20;
	struct redjob_job j = { .type = "copy" };
	char id[REDJOB_ID_MAX], path[4096], *payload, *got;
	uint32_t x = 2463534242u;
	long before, after;
	pid_t w;
	size_t i, n;

	start_ready(1, 1, "max_payload: 64MiB\n");
	ck_assert_int_eq(daemon_workers(&w, 1), 1);
	ck_assert_ptr_nonnull(payload = malloc(len));
	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		payload[i] = (char)(x >> 24);
	}
	before = vm_hwm_kib(w);
	ck_assert_int_eq(redjob_set_max_payload(df.cl, 64 << 20), 0);
	j.payload = payload;
	j.payload_len = len;
	ck_assert_msg(redjob_enqueue(df.cl, &j, id) == 0, "enqueue: %s",
	    redjob_errstr(df.cl));
	ck_assert(wait_stat("default", "processed", 1, 60000));
	after = vm_hwm_kib(w);
	snprintf(path, sizeof path, "%s/payload-1", df.dir);
	got = must_read_file(path, &n);
	ck_assert_uint_eq(n, len);
	ck_assert(memcmp(got, payload, len) == 0);
	free(got);
	free(payload);
#ifndef __SANITIZE_ADDRESS__
	/* AddressSanitizer keeps freed memory aside: no bound holds there. */
	ck_assert_msg((after - before) * 1024 < (long)(len * 5 / 2),
	    "the worker's peak grew by %ld KiB for a payload of %zu KiB",
	    after - before, len >> 10);
#else
	(void)before;
	(void)after;
#endif
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

/*
 * Expiry: a job of a type with expire: 1s that waited longer, and a job
 * enqueued with an expiry of its own that passed, are never run once a
 * worker comes: each is kept as expired, counted and logged; a fresh job
 * of the same type runs.
 */
START_TEST(test_jobs_past_their_expiry_are_never_run)
{
	struct redjob_job j = { .type = "ok", .payload = "" };
	struct redjob_ext e = REDJOB_EXT_INIT;
	char old[REDJOB_ID_MAX], own[REDJOB_ID_MAX], fresh[REDJOB_ID_MAX];
	char *v;

	write_config(1, 2, NULL);
	enqueue("perishable", "", 0, old);
	e.expire_in_ms = 200;
	ck_assert(redjob_enqueue_ext(df.cl, &j, &e, own, NULL) == 0);
	/* Past both expiries, by the server's clock. */
	usleep(1100 * 1000);
	daemon_start(NULL);
	ck_assert(notify_wait("READY=1", 15000) != NULL);
	enqueue("perishable", "", 0, fresh);
	ck_assert(daemon_wait_lines("perishable", 1, 10000));
	ck_assert(wait_stat("default", "expired", 2, 10000));
	ck_assert_int_eq(daemon_count_lines("perishable"), 1);
	ck_assert_int_eq(daemon_count_lines("runs"), 0);
	ck_assert_int_eq(queue_stat("default", "processed"), 1);
	v = daemon_job_field(old, "state");
	ck_assert_str_eq(v, "expired");
	free(v);
	v = daemon_job_field(own, "state");
	ck_assert_str_eq(v, "expired");
	free(v);
	ck_assert(daemon_wait_log("expired, not run", 5000));
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

/*
 * A stream of plugin jobs, handed to the pool in rounds, when SIGTERM
 * comes: the worker drains with calls in flight and claimed ahead, and
 * every job is either done or back, once; a new daemon does the rest.
 * (Few enough jobs to enqueue them before the STATUS= datagrams the test
 * does not read meanwhile fill the notify socket, where the supervisor
 * would block: docs/performance.md, caveats.)
 */
START_TEST(test_sigterm_in_a_stream_of_plugin_jobs_loses_none)
{
	const int n = 3000;
	long long processed, ready;
	uint64_t deadline;
	int i;

	start_ready(2, 4, NULL);
	for (i = 0; i < n; i++)
		enqueue("plug_ok", "x", 0, NULL);
	ck_assert_msg(wait_stat("default", "processed", 50, 15000),
	    "processed %lld", queue_stat("default", "processed"));
	daemon_signal(SIGTERM);
	ck_assert_ptr_nonnull(notify_wait("STOPPING=1", 5000));
	ck_assert_int_eq(daemon_wait_exit(20000), 0);
	processed = queue_stat("default", "processed");
	ready = queue_stat("default", "ready");
	ck_assert_int_eq(queue_stat("default", "running"), 0);
	ck_assert_int_eq(queue_stat("default", "dead"), 0);
	ck_assert_msg(processed + ready == n, "%lld processed + %lld ready",
	    processed, ready);

	start_ready(2, 4, NULL);
	/* Reading the notify socket meanwhile, as systemd would. */
	deadline = testlib_now_ms() + 30000;
	while (queue_stat("default", "processed") < n &&
	    testlib_now_ms() < deadline)
		(void)notify_wait("no such datagram", 50);
	ck_assert_msg(queue_stat("default", "processed") == n,
	    "processed %lld of %d", queue_stat("default", "processed"), n);
	ck_assert_int_eq(queue_stat("default", "dead"), 0);
	ck_assert_int_eq(queue_stat("default", "retried"), 0);
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
	ck_assert(daemon_log_has("the redjob library is missing or incomplete "
	    "(FCALL redjob_"));
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

/*
 * What the documentation promises to the millisecond or to the word:
 * what a worker and a handler inherit, the supervisor's restart delays
 * and its giving up, the lease a running job keeps, the retry delays the
 * worker asks for. These tests write their own configuration.
 */

static void
write_exact_config_url(const char *url, unsigned workers)
{
	daemon_write_config(
	    "redis:\n"
	    "  url: %s\n"
	    "workers: %u\n"
	    "concurrency: 2\n"
	    "shutdown_timeout: 1s\n"
	    "lease: 1s\n"
	    "log_level: debug\n"	/* handlers' output */
	    "jobs:\n"
	    "  ok:\n"
	    "    exec: [/bin/true]\n"
	    "  env_exec:\n"
	    "    exec: [/usr/bin/env]\n"
	    "    env: { LANG: C.UTF-8 }\n"
	    "  env_plugin:\n"
	    "    plugin: { path: \"%s/tests/plugins/.libs/probe.so\", "
	    "symbol: environment }\n"
	    "  hold:\n"
	    "    exec: [/bin/sleep, '2.5']\n"
	    "  doubling:\n"
	    "    exec: [/bin/sh, -c, 'exit 3']\n"
	    "    retry: { max_attempts: 3, backoff: exponential, base: 500ms, "
	    "max: 1h, jitter: 0 }\n"
	    "  jittered:\n"
	    "    exec: [/bin/sh, -c, 'exit 3']\n"
	    "    retry: { max_attempts: 2, backoff: fixed, base: 800ms, "
	    "jitter: 0.5 }\n",
	    url, workers, testlib_builddir());
}

static void
write_exact_config(unsigned workers)
{
	write_exact_config_url(rf.url, workers);
}

/* The whole log. Caller frees. */
static char *
read_log(void)
{
	char *text;
	long n;
	FILE *f;

	f = fopen(df.log, "r");
	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)n + 1);
	ck_assert_ptr_nonnull(text);
	ck_assert_uint_eq(fread(text, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return text;
}

/*
 * The nth (from 1) log line holding needle: its time in ms (from its
 * "2026-11-25T12:00:00.000Z" stamp) and, if text is not NULL, a copy of
 * the line. Returns -1 if there is no such line yet.
 */
static long long
log_line(const char *needle, int nth, char *text, size_t len)
{
	char *log = read_log(), *p, *eol;
	long long ms = -1;
	struct tm tm;
	int msec;

	for (p = log; (p = strstr(p, needle)) != NULL; p++) {
		if (--nth > 0)
			continue;
		while (p > log && p[-1] != '\n')
			p--;
		memset(&tm, 0, sizeof tm);
		ck_assert_msg(sscanf(p, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ",
		    &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
		    &tm.tm_min, &tm.tm_sec, &msec) == 7, "no time stamp: %.80s",
		    p);
		tm.tm_year -= 1900;
		tm.tm_mon -= 1;
		ms = (long long)timegm(&tm) * 1000 + msec;
		if (text != NULL) {
			eol = strchr(p, '\n');
			snprintf(text, len, "%.*s", eol != NULL ? (int)(eol - p) :
			    (int)strlen(p), p);
		}
		break;
	}
	free(log);
	return ms;
}

/* Wait for the nth line holding needle; its time (see log_line()). */
static long long
wait_log_line(const char *needle, int nth, char *text, size_t len,
    unsigned timeout_ms)
{
	uint64_t deadline = testlib_now_ms() + timeout_ms;
	long long ms;

	while ((ms = log_line(needle, nth, text, len)) < 0) {
		ck_assert_msg(testlib_now_ms() < deadline, "no \"%s\" (#%d) in "
		    "the log within %u ms", needle, nth, timeout_ms);
		usleep(2000);
	}
	return ms;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The handler output lines of a job, sorted and joined by newlines. */
static char *
handler_stdout(const char *id)
{
	char needle[256], *log = read_log(), *p, *eol, **lines = NULL, *out;
	size_t n = 0, len = 0, i;

	snprintf(needle, sizeof needle, "job %s stdout: ", id);
	for (p = log; (p = strstr(p, needle)) != NULL; p = eol) {
		p += strlen(needle);
		eol = strchrnul(p, '\n');
		lines = realloc(lines, (n + 1) * sizeof *lines);
		ck_assert_ptr_nonnull(lines);
		lines[n++] = strndup(p, (size_t)(eol - p));
	}
	qsort(lines, n, sizeof *lines, cmp_str);
	out = NULL;
	for (i = 0; i < n; i++) {
		testlib_append(&out, &len, lines[i], strlen(lines[i]));
		testlib_append(&out, &len, "\n", 1);
		free(lines[i]);
	}
	free(lines);
	free(log);
	return out != NULL ? out : strdup("");
}

/*
 * handler_path sets the PATH of exec handlers whose type sets none; a
 * type's own env: PATH still wins.
 */
START_TEST(test_handler_path_is_the_handlers_path)
{
	char a[REDJOB_ID_MAX], b[REDJOB_ID_MAX], *got;
	struct redjob_job j = { .type = "env_default" };

	daemon_write_config(
	    "redis:\n"
	    "  url: %s\n"
	    "workers: 1\n"
	    "log_level: debug\n"	/* handlers' output */
	    "handler_path: /opt/redjob/bin:/usr/bin:/bin\n"
	    "jobs:\n"
	    "  env_default:\n"
	    "    exec: [/usr/bin/env]\n"
	    "  env_own:\n"
	    "    exec: [/usr/bin/env]\n"
	    "    env: { PATH: /srv/bin }\n", rf.url);
	daemon_start(NULL);
	ck_assert_ptr_nonnull(notify_wait("READY=1", 15000));
	ck_assert(redjob_enqueue(df.cl, &j, a) == 0);
	j.type = "env_own";
	ck_assert(redjob_enqueue(df.cl, &j, b) == 0);
	ck_assert(wait_stat("default", "processed", 2, 10000));
	got = handler_stdout(a);
	ck_assert_msg(strstr(got, "PATH=/opt/redjob/bin:/usr/bin:/bin\n") !=
	    NULL, "%s", got);
	free(got);
	got = handler_stdout(b);
	ck_assert_msg(strstr(got, "PATH=/srv/bin\n") != NULL &&
	    strstr(got, "/opt/redjob") == NULL, "%s", got);
	free(got);
}
END_TEST

/* Run one env_exec and one env_plugin job; check what each saw. */
static void
assert_nothing_of_systemd_inherited(void)
{
	struct redjob_job j = { .type = "env_exec", .key = "k7" };
	char exec_id[REDJOB_ID_MAX], plug_id[REDJOB_ID_MAX], want[1024];
	char *got, *err;
	long long processed = queue_stat("default", "processed");
	long long dead = queue_stat("default", "dead");

	ck_assert_msg(redjob_enqueue(df.cl, &j, exec_id) == 0, "%s",
	    redjob_errstr(df.cl));
	enqueue("env_plugin", "", 0, plug_id);
	ck_assert(wait_stat("default", "processed", processed + 1, 10000));
	ck_assert(wait_stat("default", "dead", dead + 1, 10000));
	/* The handler's environment is exactly what redjob.yml(5) lists. */
	snprintf(want, sizeof want,
	    "LANG=C.UTF-8\n"
	    "PATH=/usr/local/bin:/usr/bin:/bin\n"
	    "REDJOB_ATTEMPT=1\n"
	    "REDJOB_JOB_ID=%s\n"
	    "REDJOB_JOB_TYPE=env_exec\n"
	    "REDJOB_KEY=k7\n"
	    "REDJOB_MAX_ATTEMPTS=25\n"
	    "REDJOB_QUEUE=default\n", exec_id);
	got = handler_stdout(exec_id);
	ck_assert_str_eq(got, want);
	free(got);
	/* The worker itself has none of systemd's variables. */
	err = daemon_job_field(plug_id, "last_error");
	ck_assert_ptr_nonnull(err);
	ck_assert_str_eq(err, "permanent failure (returned 65): "
	    "NOTIFY_SOCKET=(unset) WATCHDOG_USEC=(unset) WATCHDOG_PID=(unset)");
	free(err);
}

START_TEST(test_workers_and_handlers_inherit_nothing_of_systemd)
{
	char pid_env[64];
	const char *env[] = { "WATCHDOG_USEC=400000", NULL, NULL };

	/* The watchdog is ours: the supervisor pings, no child sees it. */
	write_exact_config(1);
	daemon_start(env);
	ck_assert_ptr_nonnull(notify_wait("READY=1", 15000));
	ck_assert_ptr_nonnull(notify_wait("WATCHDOG=1", 5000));
	assert_nothing_of_systemd_inherited();
	daemon_signal(SIGTERM);
	ck_assert_int_eq(daemon_wait_exit(15000), 0);

	/* Meant for another process: still removed before any child starts. */
	snprintf(pid_env, sizeof pid_env, "WATCHDOG_PID=%ld", (long)getpid());
	env[1] = pid_env;
	daemon_start(env);
	ck_assert_ptr_nonnull(notify_wait("READY=1", 15000));
	assert_nothing_of_systemd_inherited();
}
END_TEST

/*
 * Kill worker 0 as soon as it has started, kills times. Checks each
 * restart delay: 100 ms doubling with each crash (redjobd(8)), measured
 * from the kill to the restart, and logged.
 */
static void
crash_worker_0(int kills)
{
	static const long long delay[] = { 100, 200, 400, 800, 1600 };
	char line[512], want[64];
	long long t_dead, t_start;
	uint64_t killed, seen;
	long pid;
	int k;
	const char *p;

	for (k = 1; k <= kills; k++) {
		wait_log_line("redjobd: worker 0 started (pid ", k, line,
		    sizeof line, 10000);
		p = strstr(line, "(pid ");
		ck_assert_int_eq(sscanf(p, "(pid %ld,", &pid), 1);
		killed = testlib_now_ms();
		ck_assert_int_eq(kill((pid_t)pid, SIGKILL), 0);
		snprintf(want, sizeof want, "worker 0 (pid %ld) killed by signal "
		    "9", pid);
		t_dead = wait_log_line(want, 1, NULL, 0, 10000);
		if (k == kills)
			break;
		t_start = wait_log_line("redjobd: worker 0 started (pid ", k + 1,
		    NULL, 0, 10000);
		seen = testlib_now_ms();
		/*
		 * libevent times its timers with the coarse monotonic clock,
		 * which may lag by a clock tick: allow 10 ms of it.
		 */
		ck_assert_msg(seen - killed + 10 >= (uint64_t)delay[k - 1],
		    "crash %d: restarted %llu ms after the kill, not after %lld "
		    "ms", k, (unsigned long long)(seen - killed), delay[k - 1]);
		ck_assert_msg(t_start - t_dead <= delay[k - 1] + 1000, "crash "
		    "%d: restarted %lld ms after it died, %lld ms was due", k,
		    t_start - t_dead, delay[k - 1]);
		snprintf(want, sizeof want, "restarting worker 0 in %lld ms",
		    delay[k - 1]);
		wait_log_line("restarting worker 0 in ", k, line, sizeof line,
		    1000);
		ck_assert_msg(strstr(line, want) != NULL, "crash %d: \"%s\", not "
		    "\"%s\"", k, line, want);
	}
}

/*
 * A worker killed from outside again and again (the OOM killer, an
 * operator) is restarted ever later, and never given up on: its jobs,
 * not its position, pay for a crash loop (as stalls). Meanwhile the
 * status line says which position is waiting for its restart.
 */
START_TEST(test_a_worker_killed_again_and_again_is_restarted_ever_later)
{
	const char *msg;

	write_exact_config(2);
	daemon_start(NULL);
	ck_assert_ptr_nonnull(notify_wait("READY=1", 15000));
	crash_worker_0(5);
	wait_log_line("restarting worker 0 in 1600 ms (5 crashes in 60 s)", 1,
	    NULL, 0, 5000);
	msg = notify_wait("worker 0 restarting (5 crashes in 60 s)", 5000);
	ck_assert_msg(msg != NULL, "the status line does not say that worker "
	    "0 is restarting");
	ck_assert_msg(strstr(msg, "1/2 workers") != NULL, "%s", msg);
	/* The other position still runs jobs. */
	enqueue("ok", "", 0, NULL);
	ck_assert(wait_stat("default", "processed", 1, 10000));
	/* The sixth start comes, and the status line forgets the crashes. */
	wait_log_line("redjobd: worker 0 started (pid ", 6, NULL, 0, 10000);
	msg = notify_wait("2/2 workers", 10000);
	ck_assert_msg(msg != NULL && strstr(msg, "restarting") == NULL,
	    "after the restart: %s", msg ? msg : "(nothing)");
	ck_assert(!daemon_log_has("not restarting"));
	ck_assert_int_eq(daemon_wait_exit(0), -1);
}
END_TEST

START_TEST(test_a_running_job_keeps_a_lease_of_now_plus_lease)
{
	char id[REDJOB_ID_MAX];
	long long first = -1, last = -1, end, now;
	uint64_t deadline;
	redisReply *r, *t;
	int samples = 0;

	write_exact_config(1);
	daemon_start(NULL);
	ck_assert_ptr_nonnull(notify_wait("READY=1", 15000));
	enqueue("hold", "", 0, id);
	deadline = testlib_now_ms() + 15000;
	while (queue_stat("default", "processed") < 1) {
		ck_assert(testlib_now_ms() < deadline);
		/* The lease end, then the server's clock: end <= now + lease. */
		redisAppendCommand(rf.c, "ZSCORE redjob:{default}:run %s",
		    strrchr(id, ':') + 1);
		redisAppendCommand(rf.c, "TIME");
		ck_assert_int_eq(redisGetReply(rf.c, (void **)&r), REDIS_OK);
		ck_assert_int_eq(redisGetReply(rf.c, (void **)&t), REDIS_OK);
		if (r->type == REDIS_REPLY_STRING) {
			end = strtoll(r->str, NULL, 10);
			now = strtoll(t->element[0]->str, NULL, 10) * 1000 +
			    strtoll(t->element[1]->str, NULL, 10) / 1000;
			ck_assert_msg(end <= now + 1000, "lease ends at %lld, "
			    "more than 1s after %lld", end, now);
			ck_assert_msg(end > now, "the lease ran out at %lld while "
			    "the job ran (%lld)", end, now);
			if (first < 0)
				first = end;
			last = end;
			samples++;
		}
		freeReplyObject(r);
		freeReplyObject(t);
		usleep(20000);
	}
	ck_assert_int_gt(samples, 10);
	/* Renewed all along its 2.5 s: the end moved on by about that. */
	ck_assert_msg(last - first >= 1500, "the lease end moved from %lld to "
	    "%lld only", first, last);
	ck_assert_int_eq(queue_stat("default", "stalled"), 0);
	ck_assert_int_eq(queue_stat("default", "failed"), 0);
}
END_TEST

/*
 * A failed job's attempts, the time of its last failure and its due time,
 * read with one redjob_show; -1 for what it does not have. Returns
 * whether it is scheduled.
 */
static int
fail_times(const char *id, long long *attempts, long long *failed,
    long long *due)
{
	redisReply *r;
	const char *name;
	size_t i;
	int scheduled = 0;

	*attempts = *failed = *due = -1;
	r = must_command(rf.c, "FCALL_RO redjob_show 1 redjob:{default} %s",
	    id);
	for (i = 0; i + 1 < r->elements; i += 2) {
		name = r->element[i]->str;
		if (strcmp(name, "attempts") == 0)
			*attempts = atoll(r->element[i + 1]->str);
		else if (strcmp(name, "failed") == 0)
			*failed = atoll(r->element[i + 1]->str);
		else if (strcmp(name, "due") == 0)
			*due = atoll(r->element[i + 1]->str);
		else if (strcmp(name, "state") == 0)
			scheduled = strcmp(r->element[i + 1]->str,
			    "scheduled") == 0;
	}
	freeReplyObject(r);
	return scheduled;
}

START_TEST(test_the_worker_asks_for_the_configured_backoff_of_each_attempt)
{
	char id[REDJOB_ID_MAX], jid[REDJOB_ID_MAX];
	long long attempts, failed, due, seen[3] = { -1, -1, -1 }, jseen = -1;
	uint64_t deadline;

	write_exact_config(1);
	daemon_start(NULL);
	ck_assert_ptr_nonnull(notify_wait("READY=1", 15000));
	enqueue("doubling", "", 0, id);
	enqueue("jittered", "", 0, jid);
	/*
	 * Each failed attempt records its time and the next due time with
	 * one clock reading: their difference is the delay the worker
	 * asked for. Exponential from 500 ms, no jitter: 500, then 1000.
	 */
	deadline = testlib_now_ms() + 15000;
	while (seen[1] < 0 || seen[2] < 0 || jseen < 0) {
		ck_assert_msg(testlib_now_ms() < deadline, "saw the delays after "
		    "attempt 1: %lld and 2: %lld, and %lld", seen[1], seen[2],
		    jseen);
		if (fail_times(id, &attempts, &failed, &due) &&
		    (attempts == 1 || attempts == 2))
			seen[attempts] = due - failed;
		if (fail_times(jid, &attempts, &failed, &due) && attempts == 1)
			jseen = due - failed;
		usleep(5000);
	}
	ck_assert_int_eq(seen[1], 500);
	ck_assert_int_eq(seen[2], 1000);
	/* Fixed 800 ms with jitter 0.5: from 400 to 800 ms. */
	ck_assert_msg(jseen >= 400 && jseen <= 800, "delay %lld is outside "
	    "400-800 ms", jseen);
	ck_assert(wait_stat("default", "dead", 2, 10000));
}
END_TEST

/*
 * A worker that Redis refuses for good (here its user is disabled, and
 * its connections cut) exits 78 and its position is not restarted
 * (redjobd(8)); with no position left, redjobd exits 1.
 */
/*
 * Run redjobd with workers positions as an ACL user, then disable the
 * user and cut its connections: Redis refuses every worker for good.
 * redjobd must then exit 1.
 */
static void
run_until_refused(unsigned workers)
{
	char url[4200];

	freeReplyObject(must_command(rf.c, "ACL SETUSER rjw on >pw ~* &* "
	    "+@all"));
	snprintf(url, sizeof url, "unix://rjw:pw@%s", rf.sock);
	write_exact_config_url(url, workers);
	daemon_start(NULL);
	ck_assert_ptr_nonnull(notify_wait("READY=1", 15000));
	freeReplyObject(must_command(rf.c, "ACL SETUSER rjw off"));
	freeReplyObject(must_command(rf.c, "CLIENT KILL USER rjw"));
	ck_assert_int_eq(daemon_wait_exit(15000), 1);
}

START_TEST(test_a_worker_refused_by_redis_is_not_restarted)
{
	run_until_refused(2);
	ck_assert(daemon_log_has("worker 0 cannot run with this configuration "
	    "(see above); not restarting it"));
	ck_assert(daemon_log_has("worker 1 cannot run with this configuration "
	    "(see above); not restarting it"));
	ck_assert_msg(log_line("exited with status 78", 2, NULL, 0) >= 0,
	    "the two workers did not both exit 78");
	ck_assert_msg(!daemon_log_has("restarting worker"), "a worker refused "
	    "by Redis was restarted");
	ck_assert(daemon_log_has("no worker can run"));
	freeReplyObject(must_command(rf.c, "ACL DELUSER rjw"));
}
END_TEST

/*
 * redjobd(8) and docs/operations.md: when no position is left running
 * (each refused by Redis for good), redjobd logs "no worker can run;
 * exiting", shows "no worker can run: see the journal" as its status
 * line, and exits 1.
 */
START_TEST(test_when_no_worker_can_run_it_says_so_as_documented)
{
	const char *msg;

	run_until_refused(1);
	ck_assert_msg(daemon_log_has("no worker can run; exiting"),
	    "the log does not say \"no worker can run; exiting\"");
	msg = notify_wait("STATUS=no worker can run: see the journal", 1000);
	ck_assert_msg(msg != NULL, "systemd was never told \"no worker can "
	    "run: see the journal\"");
	freeReplyObject(must_command(rf.c, "ACL DELUSER rjw"));
}
END_TEST

/*
 * A job claimed ahead (waiting in the worker for a slot) that is removed
 * from Redis: the worker learns it at its next lease renewal and lets go
 * of the job without running it; the other jobs are not disturbed.
 */
START_TEST(test_a_job_removed_while_claimed_ahead_is_never_run)
{
	struct redjob_job jobs[5];
	struct redjob_result res[5];
	redisReply *r;
	char want[256], path[4096], *runs;
	int i, victim = -1;

	start_ready(1, 1, NULL);
	/* Short jobs first, so the worker claims ahead of its one slot. */
	for (i = 0; i < 5; i++)
		enqueue("ok", "", 0, NULL);
	ck_assert(wait_stat("default", "processed", 5, 15000));
	memset(jobs, 0, sizeof jobs);
	jobs[0].type = "slow";
	for (i = 1; i < 5; i++)
		jobs[i].type = "ok";
	ck_assert_int_eq(redjob_enqueue_many(df.cl, jobs, 5, res), 5);
	ck_assert(daemon_wait_lines("started", 1, 15000));
	/*
	 * The slow job holds the one slot: a short job that has not run yet
	 * waits in the worker, claimed (in the running set) but not started.
	 */
	snprintf(path, sizeof path, "%s/runs", df.dir);
	runs = must_read_file(path, NULL);
	for (i = 1; i < 5 && victim < 0; i++) {
		snprintf(want, sizeof want, "%s ", res[i].id);
		if (strstr(runs, want) == NULL)
			victim = i;
	}
	free(runs);
	ck_assert_msg(victim > 0, "every short job ran before the slow one");
	r = must_command(rf.c, "ZSCORE redjob:{default}:run %s",
	    strchr(res[victim].id, ':') + 1);
	ck_assert_msg(r->type == REDIS_REPLY_STRING, "%s is not claimed",
	    res[victim].id);
	freeReplyObject(r);
	r = must_command(rf.c, "FCALL redjob_remove 1 redjob:{default} %s",
	    res[victim].id);
	ck_assert_str_eq(r->str, "running");
	freeReplyObject(r);
	snprintf(want, sizeof want, "job %s: the lease was lost",
	    res[victim].id);
	ck_assert_msg(daemon_wait_log(want, 5000), "no \"%s\"", want);
	ck_assert(wait_stat("default", "processed", 9, 15000));
	ck_assert_int_eq(daemon_count_lines("runs"), 9);
	runs = must_read_file(path, NULL);
	for (i = 0; i < 5; i++) {
		snprintf(want, sizeof want, "%s ", res[i].id);
		ck_assert_msg((strstr(runs, want) == NULL) == (i == victim),
		    "%s %s: %s", res[i].id, i == victim ? "ran" :
		    "did not run", runs);
	}
	free(runs);
	ck_assert_int_eq(must_int(rf.c, "ZCARD redjob:{default}:run"), 0);
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
	tcase_add_test(tc, test_jobs_past_their_expiry_are_never_run);
	tcase_add_test(tc, test_a_job_removed_while_claimed_ahead_is_never_run);
	tcase_add_test(tc, test_payload_and_environment_reach_the_handler);
	tcase_add_test(tc, test_a_50_mib_payload_is_not_copied_by_the_worker);
	tcase_add_test(tc, test_delayed_job_runs_when_due_not_before);
	tcase_add_test(tc, test_failing_job_is_retried_then_dead_with_its_error);
	tcase_add_test(tc, test_exit_65_and_unknown_types_go_straight_to_dead);
	tcase_add_test(tc, test_timeout_kills_the_handler_and_fails_the_job);
	tcase_add_test(tc, test_plugin_jobs_run_fail_and_die_inside_the_worker);
	tcase_add_test(tc, test_sigterm_in_a_stream_of_plugin_jobs_loses_none);
	tcase_add_test(tc, test_kill_9_of_a_worker_loses_no_job);
	tcase_add_test(tc, test_sigterm_requeues_running_jobs_and_keeps_waiting_ones);
	tcase_add_test(tc, test_sighup_with_a_valid_file_reloads_without_losing_jobs);
	tcase_add_test(tc, test_sighup_with_a_broken_file_keeps_the_old_configuration);
	tcase_add_test(tc, test_watchdog_pings_arrive);
	tcase_add_test(tc, test_flushed_functions_and_idle_timeouts_are_survived);
	tcase_add_test(tc, test_oom_and_killed_connections_delay_but_lose_nothing);
	tcase_add_test(tc, test_redis_restart_under_load_loses_no_job);
	suite_add_tcase(s, tc);

	tc = tcase_create("exact");
	tcase_set_timeout(tc, 60);
	tcase_add_unchecked_fixture(tc, redis_start, redis_stop);
	tcase_add_checked_fixture(tc, daemon_setup, daemon_teardown);
	tcase_add_test(tc, test_workers_and_handlers_inherit_nothing_of_systemd);
	tcase_add_test(tc, test_handler_path_is_the_handlers_path);
	tcase_add_test(tc,
	    test_a_worker_killed_again_and_again_is_restarted_ever_later);
	tcase_add_test(tc, test_a_running_job_keeps_a_lease_of_now_plus_lease);
	tcase_add_test(tc,
	    test_the_worker_asks_for_the_configured_backoff_of_each_attempt);
	tcase_add_test(tc, test_a_worker_refused_by_redis_is_not_restarted);
	tcase_add_test(tc, test_when_no_worker_can_run_it_says_so_as_documented);
	suite_add_tcase(s, tc);
	return s;
}
