/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Faults that must not stall the daemon (docs/operations.md, "Faults"):
 * a worker or a whole daemon that dies holding jobs, jobs that kill
 * their workers, malformed state in Redis, a Redis that refuses with an
 * error. Real redjobd, real redis-server, real signals.
 */
#include "autoconf.h"

#include <sys/types.h>

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <hiredis/hiredis.h>

#include "redjob.h"
#include "daemon_fixture.h"
#include "proc.h"
#include "proxy.h"
#include "redis_fixture.h"
#include "testlib.h"

/*
 * A handler that writes "$REDJOB_JOB_ID $PPID" to OUT/started (so the
 * test knows which worker runs it, and how often it started), then
 * sleeps for the seconds in its payload.
 */
#define STARTED \
	"[/bin/sh, -c, 'echo \"$REDJOB_JOB_ID $PPID\" >> " \
	"\"$OUT/started\"; exec sleep $(cat)']"

static void
write_config(unsigned workers, const char *lease, unsigned max_stalls)
{
	daemon_write_config(
	    "redis:\n"
	    "  url: %s\n"
	    "workers: %u\n"
	    "concurrency: 2\n"
	    "shutdown_timeout: 2s\n"
	    "lease: %s\n"
	    "max_stalls: %u\n"
	    "jobs:\n"
	    "  nap:\n"
	    "    exec: " STARTED "\n"
	    "    env: { OUT: \"%s\" }\n"
	    "  poison:\n"
	    "    exec: [/bin/sh, -c, 'echo \"$REDJOB_JOB_ID $PPID\" >> "
	    "\"$OUT/poison\"; kill -9 $PPID; sleep 5']\n"
	    "    env: { OUT: \"%s\" }\n",
	    rf.url, workers, lease, max_stalls, df.dir, df.dir);
}

static void
enqueue(const char *type, const char *payload, char *id)
{
	struct redjob_job j;

	memset(&j, 0, sizeof j);
	j.type = type;
	j.payload = payload;
	j.payload_len = strlen(payload);
	ck_assert_msg(redjob_enqueue(df.cl, &j, id) == REDJOB_OK, "%s",
	    redjob_errstr(df.cl));
}

static void
start_ready(void)
{
	daemon_start(NULL);
	ck_assert_ptr_nonnull(notify_wait("READY=1", 15000));
}

/*
 * Run a job with a ten-minute lease, send its worker sig, and wait (up to
 * wait_ms) for the job to start again on another worker: only a release
 * by the supervisor can bring it back that soon. Returns the job's id.
 */
static void
run_and_hit_its_worker(int sig, unsigned wait_ms, char *id)
{
	pid_t first, second;

	write_config(2, "10m", 3);
	start_ready();
	enqueue("nap", "60", id);
	first = daemon_wait_job_worker("started", id, 1, 10000);
	ck_assert_int_gt(first, 0);
	ck_assert_int_eq(kill(first, sig), 0);
	second = daemon_wait_job_worker("started", id, 2, wait_ms);
	ck_assert_msg(second > 0, "the job of the worker hit by signal %d did "
	    "not run again", sig);
	ck_assert_int_ne(second, first);
	/* A stall, not an attempt. */
	ck_assert_int_eq(queue_stat("default", "stalled"), 1);
}

/*
 * A worker killed while it runs a job: the supervisor releases the job at
 * once, counted as a stall, not as an attempt, and another worker runs it
 * again long before the lease ends.
 */
START_TEST(test_a_killed_workers_jobs_are_due_again_at_once)
{
	char id[REDJOB_ID_MAX], *v;

	run_and_hit_its_worker(SIGKILL, 10000, id);
	v = daemon_job_field(id, "stalls");
	ck_assert_str_eq(v, "1");
	free(v);
	v = daemon_job_field(id, "attempts");
	ck_assert_str_eq(v, "0");
	free(v);
	ck_assert(daemon_wait_log("worker 0 died: 1 of its jobs is due again "
	    "at once", 5000) || daemon_wait_log("worker 1 died: 1 of its jobs "
	    "is due again at once", 1000));
}
END_TEST

/*
 * A worker that hangs (stopped) while it runs a job: the supervisor kills
 * it when its heartbeats stop (15 s), and the job is released and runs
 * again elsewhere, long before its lease.
 */
START_TEST(test_a_hung_workers_jobs_are_due_again_when_it_is_killed)
{
	char id[REDJOB_ID_MAX];

	run_and_hit_its_worker(SIGSTOP, 30000, id);
	ck_assert(daemon_log_has("killed by signal 9"));
}
END_TEST

/*
 * A job that kills every worker that runs it: the workers are restarted
 * each time (the daemon never gives up on a position), and the job ends
 * dead once it has stalled more than max_stalls times, with the reason.
 * Meanwhile the daemon keeps running other jobs.
 */
START_TEST(test_a_job_that_kills_its_workers_ends_dead_and_the_daemon_lives)
{
	char id[REDJOB_ID_MAX], ok[REDJOB_ID_MAX], *v;
	uint64_t deadline;

	write_config(1, "10m", 2);
	start_ready();
	enqueue("poison", "", id);
	deadline = testlib_now_ms() + 20000;
	while (queue_stat("default", "dead") < 1) {
		ck_assert_msg(testlib_now_ms() < deadline, "the poison job is "
		    "not dead after %ld runs", daemon_count_lines("poison"));
		poll(NULL, 0, 50);
	}
	/* Three deaths: stalls 1, 2, then 3 > max_stalls. */
	ck_assert_int_eq(daemon_count_lines("poison"), 3);
	v = daemon_job_field(id, "last_error");
	ck_assert_msg(strcmp(v, "stalled: 3 times; last: its worker died while "
	    "running it") == 0, "last_error: %s", v);
	free(v);
	v = daemon_job_field(id, "attempts");
	ck_assert_str_eq(v, "0");
	free(v);
	/* The position was restarted after each kill, and still works. */
	enqueue("nap", "0", ok);
	ck_assert(daemon_wait_job_worker("started", ok, 1, 10000) > 0);
	ck_assert(wait_stat("default", "processed", 1, 10000));
	ck_assert_int_eq(daemon_wait_exit(0), -1);
	ck_assert(!daemon_log_has("not restarting"));
}
END_TEST

/*
 * Enqueue a job and claim it at once, in one transaction, as a worker of
 * another daemon would, with the test as that daemon; then "die": never
 * renew, never ack. The daemon's workers, asleep, never see the job due.
 * With hide_marker the wake marker is taken away in the same
 * transaction, as if the worker it woke had died with that daemon too.
 * Returns the job's id in id.
 */
static void
enqueue_claim_and_vanish(char *id, int hide_marker)
{
	redisReply *r, *e;

	freeReplyObject(must_command(rf.c, "MULTI"));
	freeReplyObject(must_command(rf.c, "FCALL redjob_enqueue 1 "
	    "redjob:{default} nap 0"));
	freeReplyObject(must_command(rf.c, "FCALL redjob_claim 1 "
	    "redjob:{default} 1 1500 3 0123456789abcdef0123456789abcdef "
	    "elsewhere"));
	if (hide_marker)
		freeReplyObject(must_command(rf.c, "DEL redjob:{default}:wake"));
	r = must_command(rf.c, "EXEC");
	ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
	ck_assert_int_eq(r->elements, hide_marker ? 3 : 2);
	e = r->element[1];
	/* now, next_wake, and the one job. */
	ck_assert_int_eq(e->type, REDIS_REPLY_ARRAY);
	ck_assert_int_eq(e->elements, 3);
	ck_assert_int_eq(e->element[2]->type, REDIS_REPLY_ARRAY);
	snprintf(id, REDJOB_ID_MAX, "%s", e->element[2]->element[0]->str);
	freeReplyObject(r);
}

/* Clients blocked in Redis (the workers' BZPOPMIN), from INFO. */
static long
blocked_clients(void)
{
	redisReply *r = must_command(rf.c, "INFO clients");
	const char *p = strstr(r->str, "blocked_clients:");
	long n;

	ck_assert_ptr_nonnull(p);
	n = strtol(p + strlen("blocked_clients:"), NULL, 10);
	freeReplyObject(r);
	return n;
}

/* The daemon, both its workers asleep on an empty queue. */
static void
start_asleep(void)
{
	uint64_t deadline;

	write_config(2, "10m", 3);
	start_ready();
	deadline = testlib_now_ms() + 10000;
	while (blocked_clients() < 2) {
		ck_assert_msg(testlib_now_ms() < deadline, "the workers do not "
		    "sleep");
		poll(NULL, 0, 20);
	}
}

/*
 * Idle workers of a daemon that did not claim a job must take it back
 * when the lease of its holder (another daemon, which died) ends, with no
 * new enqueue to wake them: the claim that took the lease woke a sleeping
 * worker, which learned when the lease ends.
 */
START_TEST(test_idle_workers_take_back_the_lease_of_a_daemon_that_died)
{
	char id[REDJOB_ID_MAX];

	start_asleep();
	enqueue_claim_and_vanish(id, 0);
	ck_assert_msg(daemon_wait_job_worker("started", id, 1, 10000) > 0,
	    "the job left by the other daemon was never taken back");
	/* Taken back as a stall: its lease ran out. */
	ck_assert(wait_stat("default", "processed", 1, 10000));
	ck_assert_int_eq(queue_stat("default", "stalled"), 1);
}
END_TEST

/*
 * The same when no worker of this daemon learned of that lease: each
 * idle worker looks at its queues again at its keep-alive (10 s), so the
 * job comes back within that of its lease end, not never.
 */
START_TEST(test_idle_workers_take_back_a_lease_they_never_heard_of)
{
	char id[REDJOB_ID_MAX];

	start_asleep();
	enqueue_claim_and_vanish(id, 1);
	ck_assert_msg(daemon_wait_job_worker("started", id, 1, 25000) > 0,
	    "the job left by the other daemon was never taken back");
}
END_TEST

/* A field of INFO (section), as a number; 0 when absent. */
static long long
info_field(const char *section, const char *field)
{
	redisReply *r = must_command(rf.c, "INFO %s", section);
	const char *p = strstr(r->str, field);
	long long n = 0;

	if (p != NULL && (p = strchr(p, ':')) != NULL)
		n = strtoll(p + 1, NULL, 10);
	/* errorstat_BUSY:count=N */
	if (p != NULL && strncmp(p + 1, "count=", 6) == 0)
		n = strtoll(p + 7, NULL, 10);
	freeReplyObject(r);
	return n;
}

/* Lines of the daemon's log that contain needle. */
static long
log_count(const char *needle)
{
	char *log = must_read_file(df.log, NULL), *p = log;
	long n = 0;

	while ((p = strstr(p, needle)) != NULL) {
		n++;
		p += strlen(needle);
	}
	free(log);
	return n;
}

/* The child that keeps Redis busy: a script that never ends by itself. */
static int
busy_script(void *arg)
{
	redisContext *c = redisConnectUnix(arg);
	redisReply *r;

	if (c == NULL || c->err)
		return 1;
	r = redisCommand(c, "EVAL %s 0", "while true do end");
	if (r != NULL)
		freeReplyObject(r);
	redisFree(c);
	return 0;
}

/* Enqueue n naps of the given seconds. */
static void
enqueue_naps(int n, const char *secs)
{
	char id[REDJOB_ID_MAX];
	int i;

	for (i = 0; i < n; i++)
		enqueue("nap", secs, id);
}

/* The daemon, busy with n naps of 0.2 s, two of them done. */
static void
start_loaded(int n)
{
	write_config(2, "30s", 3);
	start_ready();
	enqueue_naps(n, "0.2");
	ck_assert(wait_stat("default", "processed", 2, 10000));
}

/*
 * A Redis busy with a long script answers BUSY to everything: the
 * workers back off (a handful of calls a second, not thousands), log
 * about once a second with counts, and the status line names it while it
 * lasts. Afterwards everything runs.
 */
START_TEST(test_a_busy_redis_gets_backoff_not_a_storm_and_is_named)
{
	struct proc_spec spec;
	struct proc *busy;
	long long refused;
	long lines;
	const char *msg;

	start_loaded(40);
	freeReplyObject(must_command(rf.c, "CONFIG SET busy-reply-threshold "
	    "100"));
	freeReplyObject(must_command(rf.c, "CONFIG RESETSTAT"));
	memset(&spec, 0, sizeof spec);
	spec.fn = busy_script;
	spec.arg = rf.sock;
	spec.name = "busy script";
	busy = must_spawn(&spec);
	msg = notify_wait("redis: BUSY (a script runs too long)", 10000);
	ck_assert_msg(msg != NULL, "the status line never named BUSY");
	/* Four seconds of BUSY. */
	poll(NULL, 0, 4000);
	freeReplyObject(must_command(rf.c, "SCRIPT KILL"));
	ck_assert_int_eq(must_wait(busy, 10000), 0);
	proc_free(busy);
	refused = info_field("errorstats", "errorstat_BUSY");
	freeReplyObject(must_command(rf.c, "CONFIG SET busy-reply-threshold "
	    "5000"));
	/*
	 * Two workers, each with a claim, acks, renewals and its wait out,
	 * each backing off from 0.5 s to 4 s: a few dozen calls in 4 s.
	 */
	ck_assert_msg(refused > 0 && refused <= 100, "%lld calls refused with "
	    "BUSY in 4 s", refused);
	lines = log_count("BUSY");
	ck_assert_msg(lines <= 40, "%ld log lines about BUSY in 4 s", lines);
	/* It passes, and says so; every job runs. */
	ck_assert(wait_stat("default", "processed", 40, 30000));
	msg = notify_wait("40 done", 10000);
	ck_assert_msg(msg != NULL && strstr(msg, "BUSY") == NULL, "%s",
	    msg != NULL ? msg : "no status line with 40 done");
}
END_TEST

/*
 * A demoted primary (REPLICAOF) answers READONLY to every write: the
 * workers reconnect, but with a backoff that a successful handshake does
 * not reset, log about once a second, and the status line names it.
 */
START_TEST(test_a_demoted_primary_gets_backoff_not_a_reconnect_storm)
{
	long long before, conns;
	long lines;
	const char *msg;

	start_loaded(20);
	before = info_field("stats", "total_connections_received");
	lines = log_count("READONLY");
	freeReplyObject(must_command(rf.c, "REPLICAOF 127.0.0.1 1"));
	msg = notify_wait("redis: READONLY (a replica now: failover?)", 10000);
	ck_assert_msg(msg != NULL, "the status line never named READONLY");
	poll(NULL, 0, 6000);
	freeReplyObject(must_command(rf.c, "REPLICAOF NO ONE"));
	conns = info_field("stats", "total_connections_received") - before;
	lines = log_count("READONLY") - lines;
	/* Four connections, each reconnecting ever later: 100 ms to 5 s. */
	ck_assert_msg(conns <= 40, "%lld connections in 6 s of READONLY",
	    conns);
	ck_assert_msg(lines <= 40, "%ld log lines about READONLY in 6 s",
	    lines);
	ck_assert(wait_stat("default", "processed", 20, 30000));
	ck_assert_int_eq(daemon_wait_exit(0), -1);
}
END_TEST

/*
 * The reply to an ack is lost (Redis ran it; the connection broke before
 * the answer arrived): the worker resends it after reconnecting, Redis
 * refuses the repeat, and the worker knows the first copy landed (half a
 * lease has not passed), so it logs the job as done, not as a lost lease.
 */
START_TEST(test_a_resent_ack_whose_first_copy_landed_is_logged_as_done)
{
	char sock[4096], url[4200], go[4096], id[REDJOB_ID_MAX];
	struct proc *px;
	FILE *f;

	snprintf(sock, sizeof sock, "%s/proxy.sock", df.dir);
	px = proxy_start(sock, rf.sock);
	snprintf(url, sizeof url, "unix://%s", sock);
	snprintf(go, sizeof go, "%s/go", df.dir);
	daemon_write_config(
	    "redis:\n"
	    "  url: %s\n"
	    "workers: 1\n"
	    "concurrency: 1\n"
	    "lease: 60s\n"
	    "jobs:\n"
	    "  gate:\n"
	    "    exec: [/bin/sh, -c, 'echo \"$REDJOB_JOB_ID $PPID\" >> "
	    "\"$OUT/started\"; while [ ! -e \"$OUT/go\" ]; do sleep 0.02; "
	    "done']\n"
	    "    env: { OUT: \"%s\" }\n", url, df.dir);
	start_ready();
	enqueue("gate", "", id);
	ck_assert(daemon_wait_job_worker("started", id, 1, 10000) > 0);
	proxy_lose_replies(px, 1);
	f = fopen(go, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_msg(proc_wait_output(px, "lost 1\n", 10000) == 0,
	    "no reply was lost");
	proxy_lose_replies(px, 0);
	ck_assert_msg(daemon_wait_log("done (the first ack landed; its reply "
	    "was lost)", 15000), "the resent ack was not taken as landed");
	ck_assert(!daemon_log_has("ack refused"));
	ck_assert_int_eq(queue_stat("default", "processed"), 1);
	proxy_stop(px);
}
END_TEST

/*
 * The status line follows the jobs within a fraction of a second, not
 * at the next one-second heartbeat: workers report their counters soon
 * after they change.
 */
START_TEST(test_the_status_line_counts_jobs_as_they_finish)
{
	char id[REDJOB_ID_MAX];
	int k;

	write_config(1, "30s", 3);
	start_ready();
	for (k = 1; k <= 3; k++) {
		char want[32];

		enqueue("nap", "0", id);
		ck_assert(wait_stat("default", "processed", k, 10000));
		snprintf(want, sizeof want, " %d done,", k);
		ck_assert_msg(notify_wait(want, 500) != NULL, "job %d: the "
		    "status line did not count it within 500 ms", k);
	}
}
END_TEST

Suite *
suite(void)
{
	Suite *s = suite_create("faults");
	TCase *tc = tcase_create("daemon");

	tcase_set_timeout(tc, 60);
	tcase_add_unchecked_fixture(tc, redis_start, redis_stop);
	tcase_add_checked_fixture(tc, daemon_setup, daemon_teardown);
	tcase_add_test(tc, test_a_killed_workers_jobs_are_due_again_at_once);
	tcase_add_test(tc,
	    test_a_hung_workers_jobs_are_due_again_when_it_is_killed);
	tcase_add_test(tc,
	    test_a_job_that_kills_its_workers_ends_dead_and_the_daemon_lives);
	tcase_add_test(tc,
	    test_idle_workers_take_back_the_lease_of_a_daemon_that_died);
	tcase_add_test(tc, test_idle_workers_take_back_a_lease_they_never_heard_of);
	tcase_add_test(tc, test_a_busy_redis_gets_backoff_not_a_storm_and_is_named);
	tcase_add_test(tc,
	    test_a_demoted_primary_gets_backoff_not_a_reconnect_storm);
	tcase_add_test(tc,
	    test_a_resent_ack_whose_first_copy_landed_is_logged_as_done);
	tcase_add_test(tc, test_the_status_line_counts_jobs_as_they_finish);
	suite_add_tcase(s, tc);
	return s;
}
