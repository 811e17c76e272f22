/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Locks and limiters in the real daemon: handlers record when they ran
 * and with which fence, and the test checks what the guards promise.
 */
#include "autoconf.h"

#include <sys/prctl.h>
#include <sys/types.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <check.h>
#include <hiredis/hiredis.h>

#include "redjob.h"
#include "daemon_fixture.h"
#include "proc.h"
#include "redis_fixture.h"
#include "testlib.h"

/* A handler that appends "START END FENCE" (ns, ns, fence) to OUT/NAME. */
#define RECORD(name, sleep) \
	"[/bin/sh, -c, 's=$(date +%%s%%N); sleep " sleep "; " \
	"e=$(date +%%s%%N); echo \"$s $e ${REDJOB_FENCE:-0}\" >> " \
	"\"$OUT/" name "\"']"

/*
 * RECORD("pair", D) that first writes "$REDJOB_JOB_ID $PPID" to
 * OUT/pair.started, so a test knows which worker holds the job, and
 * takes D seconds from the job's payload (0.2 if it has none).
 */
#define PAIR \
	"[/bin/sh, -c, 'echo \"$REDJOB_JOB_ID $PPID\" >> " \
	"\"$OUT/pair.started\"; d=$(cat); s=$(date +%%s%%N); " \
	"sleep ${d:-0.2}; e=$(date +%%s%%N); " \
	"echo \"$s $e ${REDJOB_FENCE:-0}\" >> \"$OUT/pair\"']"

/* PAIR, as "solo": OUT/solo.started and OUT/solo. */
#define SOLO \
	"[/bin/sh, -c, 'echo \"$REDJOB_JOB_ID $PPID\" >> " \
	"\"$OUT/solo.started\"; d=$(cat); s=$(date +%%s%%N); " \
	"sleep ${d:-0.1}; e=$(date +%%s%%N); " \
	"echo \"$s $e 0\" >> \"$OUT/solo\"']"

static void
write_config(unsigned workers, unsigned concurrency)
{
	daemon_write_config(
	    "redis:\n"
	    "  url: %s\n"
	    "workers: %u\n"
	    "concurrency: %u\n"
	    "shutdown_timeout: 2s\n"
	    "lease: 3s\n"
	    "limiters:\n"
	    "  steady: { kind: gcra, rate: 20/s, burst: 0 }\n"
	    "  two: { kind: concurrency, limit: 2, lease: 2s }\n"
	    "  win: { kind: window, limit: 5, period: 1m }\n"
	    "  per_key: { kind: gcra, rate: 1/m, burst: 0, key: \"{key}\" }\n"
	    "  one: { kind: concurrency, limit: 1, lease: 2s }\n"
	    "jobs:\n"
	    "  locked:\n"
	    "    exec: " RECORD("locked", "0.05") "\n"
	    "    env: { OUT: \"%s\" }\n"
	    "    lock: { key: \"acct:{key}\", ttl: 2s }\n"
	    "  long_locked:\n"
	    "    exec: " RECORD("long", "3.2") "\n"
	    "    env: { OUT: \"%s\" }\n"
	    "    lock: { key: \"long\", ttl: 1s, requeue_delay: 50ms }\n"
	    "  doomed:\n"
	    "    exec: [/bin/sh, -c, 'echo started >> \"$OUT/doomed\"; "
	    "sleep 30']\n"
	    "    env: { OUT: \"%s\" }\n"
	    "    lock: { key: \"doomed\", ttl: 1s }\n"
	    "    retry: { max_attempts: 1 }\n"
	    "  stubborn:\n"
	    "    exec: [/bin/sh, -c, 'trap \"\" TERM; echo $$ >> "
	    "\"$OUT/stubborn\"; while :; do sleep 0.1; done']\n"
	    "    env: { OUT: \"%s\" }\n"
	    "    lock: { key: \"stubborn\", ttl: 4s }\n"
	    "    retry: { max_attempts: 1 }\n"
	    "  locked_fail:\n"
	    "    exec: [/bin/sh, -c, 'exit 3']\n"
	    "    lock: { key: \"lf\", ttl: 5s }\n"
	    "    retry: { max_attempts: 1 }\n"
	    "  picky:\n"
	    "    exec: [/bin/true]\n"
	    "    lock: { key: \"picky\", ttl: 5s, on_conflict: discard }\n"
	    "  steady:\n"
	    "    exec: " RECORD("steady", "0") "\n"
	    "    env: { OUT: \"%s\" }\n"
	    "    limit: [steady]\n"
	    "  pair:\n"
	    "    exec: " PAIR "\n"
	    "    env: { OUT: \"%s\" }\n"
	    "    limit: [two]\n"
	    "  both:\n"
	    "    exec: [/bin/true]\n"
	    "    limit: [win, per_key]\n"
	    "  solo:\n"
	    "    exec: " SOLO "\n"
	    "    env: { OUT: \"%s\" }\n"
	    "    limit: [one]\n",
	    rf.url, workers, concurrency, df.dir, df.dir, df.dir, df.dir,
	    df.dir, df.dir, df.dir);
}

static void
start(unsigned workers, unsigned concurrency)
{
	write_config(workers, concurrency);
	daemon_start(NULL);
	ck_assert_msg(notify_wait("READY=1", 15000) != NULL, "no READY=1");
}

static void
enqueue_payload(const char *type, const char *key, const char *payload,
    char *id)
{
	struct redjob_job j = { .type = type, .key = key, .payload = payload,
		.payload_len = payload != NULL ? strlen(payload) : 0 };
	char tmp[REDJOB_ID_MAX];

	ck_assert_msg(redjob_enqueue(df.cl, &j, id != NULL ? id : tmp) == 0,
	    "enqueue: %s", redjob_errstr(df.cl));
}

static void
enqueue(const char *type, const char *key, char *id)
{
	enqueue_payload(type, key, NULL, id);
}

struct interval {
	long long start, end;
	unsigned long long fence;
};

static int
interval_cmp(const void *a, const void *b)
{
	const struct interval *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* Read OUT/name's intervals, sorted by start. Returns the count. */
static size_t
read_intervals(const char *name, struct interval *v, size_t max)
{
	char path[4096];
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", df.dir, name);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (n < max && fscanf(f, "%lld %lld %llu", &v[n].start, &v[n].end,
	    &v[n].fence) == 3)
		n++;
	fclose(f);
	qsort(v, n, sizeof *v, interval_cmp);
	return n;
}

static long long
exists(const char *key)
{
	redisReply *r = must_command(rf.c, "EXISTS %s", key);
	long long n = r->integer;

	freeReplyObject(r);
	return n;
}

START_TEST(test_lock_never_runs_two_handlers_at_once_and_fences_grow)
{
	struct interval v[64];
	size_t n, i;

	start(3, 4);
	for (i = 0; i < 30; i++)
		enqueue("locked", "42", NULL);
	ck_assert_msg(wait_stat("default", "processed", 30, 60000),
	    "processed %lld", queue_stat("default", "processed"));
	n = read_intervals("locked", v, 64);
	ck_assert_uint_eq(n, 30);
	for (i = 1; i < n; i++) {
		ck_assert_msg(v[i].start >= v[i - 1].end,
		    "runs %zu and %zu overlap: [%lld, %lld] and [%lld, %lld]",
		    i - 1, i, v[i - 1].start, v[i - 1].end, v[i].start,
		    v[i].end);
		ck_assert_msg(v[i].fence > v[i - 1].fence,
		    "fence went from %llu to %llu", v[i - 1].fence, v[i].fence);
	}
	ck_assert_int_eq(queue_stat("default", "failed"), 0);
	ck_assert_int_gt(queue_stat("default", "conflicts"), 0);
	/* Released after the last run. */
	ck_assert_int_eq(exists("redjob:lock:{acct:42}"), 0);
}
END_TEST

START_TEST(test_a_handler_running_three_ttls_keeps_its_lock)
{
	struct interval v[4];
	size_t n;

	start(2, 2);
	enqueue("long_locked", NULL, NULL);
	enqueue("long_locked", NULL, NULL);
	ck_assert(wait_stat("default", "processed", 2, 30000));
	n = read_intervals("long", v, 4);
	ck_assert_uint_eq(n, 2);
	ck_assert_msg(v[1].start >= v[0].end, "the second ran while the first "
	    "held the lock");
	ck_assert_int_eq(queue_stat("default", "failed"), 0);
}
END_TEST

/*
 * A lock deleted under its handler: the handler is stopped, and the job
 * goes back to its queue without spending an attempt (it did nothing
 * wrong), counted as lock_lost and as a stall; it runs again.
 */
START_TEST(test_a_lock_deleted_under_a_handler_stops_it_and_requeues_the_job)
{
	char id[REDJOB_ID_MAX], *v;

	start(1, 2);
	enqueue("doomed", NULL, id);
	ck_assert(daemon_wait_lines("doomed", 1, 5000));
	ck_assert_int_eq(daemon_count_lines("doomed"), 1);
	freeReplyObject(must_command(rf.c, "DEL redjob:lock:{doomed}"));
	ck_assert_msg(wait_stat("default", "lock_lost", 1, 10000),
	    "the handler was not stopped, or its job not put back");
	ck_assert_msg(daemon_wait_lines("doomed", 2, 10000), "the job did not "
	    "run again");
	v = daemon_job_field(id, "attempts");
	ck_assert_str_eq(v, "0");
	free(v);
	v = daemon_job_field(id, "stalls");
	ck_assert_str_eq(v, "1");
	free(v);
	ck_assert_int_eq(queue_stat("default", "failed"), 0);
	ck_assert(daemon_log_has("put back in the queue (its lock was lost)"));
}
END_TEST

/*
 * Redis stops answering while a handler that ignores SIGTERM holds its
 * job's lock: the worker counts the lock lost by its own clock and kills
 * the handler's group before the lock can expire in Redis (the TTL from
 * the last renewal that succeeded, sent before Redis stopped), not a kill
 * grace later; the job then goes back to its queue, counted lock_lost.
 */
START_TEST(test_a_handler_cut_off_from_redis_dies_before_its_lock_expires)
{
	char id[REDJOB_ID_MAX], path[4096], *text, *err;
	long long gone;
	long pgid;

	/* Orphans of the handler come to us, so their end can be seen. */
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	start(1, 1);
	enqueue("stubborn", NULL, id);
	ck_assert(daemon_wait_lines("stubborn", 1, 5000));
	snprintf(path, sizeof path, "%s/stubborn", df.dir);
	text = must_read_file(path, NULL);
	ck_assert_int_eq(sscanf(text, "%ld", &pgid), 1);
	free(text);
	gone = redis_fixture_paused_until_gone((pid_t)pgid, 15000);
	ck_assert_msg(gone >= 0, "group %ld lives", pgid);
	ck_assert_msg(gone < 4000, "gone %lld ms after redis stopped, "
	    "when the lock could already be another's", gone);
	ck_assert(wait_stat("default", "lock_lost", 1, 20000));
	err = daemon_job_field(id, "attempts");
	ck_assert_str_eq(err, "0");
	free(err);
	ck_assert_int_eq(queue_stat("default", "failed"), 0);
}
END_TEST

START_TEST(test_locks_are_released_on_failure_and_conflicts_can_discard)
{
	start(1, 1);
	enqueue("locked_fail", NULL, NULL);
	ck_assert(wait_stat("default", "dead", 1, 10000));
	ck_assert_int_eq(exists("redjob:lock:{lf}"), 0);
	/* Someone else holds "picky": the job is dropped, not failed. */
	freeReplyObject(must_command(rf.c,
	    "SET redjob:lock:{picky} someone PX 60000"));
	enqueue("picky", NULL, NULL);
	ck_assert(wait_stat("default", "discarded", 1, 10000));
	ck_assert_int_eq(queue_stat("default", "failed"), 1);
	ck_assert_int_eq(queue_stat("default", "ready"), 0);
	ck_assert_int_eq(queue_stat("default", "scheduled"), 0);
}
END_TEST

START_TEST(test_throttled_jobs_all_run_at_the_limiters_pace)
{
	struct interval v[64];
	size_t n;
	double secs;

	start(2, 8);
	for (n = 0; n < 40; n++)
		enqueue("steady", NULL, NULL);
	ck_assert_msg(wait_stat("default", "processed", 40, 60000),
	    "processed %lld", queue_stat("default", "processed"));
	ck_assert_int_eq(queue_stat("default", "failed"), 0);
	ck_assert_int_eq(queue_stat("default", "dead"), 0);
	ck_assert_int_gt(queue_stat("default", "throttled"), 0);
	n = read_intervals("steady", v, 64);
	ck_assert_uint_eq(n, 40);
	/* 20/s with no burst: 40 admissions take at least 39 intervals. */
	secs = (double)(v[n - 1].start - v[0].start) / 1e9;
	ck_assert_msg(secs >= 1.9, "40 jobs ran in %.2f s at 20/s", secs);
}
END_TEST

START_TEST(test_concurrency_limit_holds_even_when_a_worker_is_killed)
{
	struct interval v[64];
	char victim[REDJOB_ID_MAX];
	pid_t holder, again;
	size_t n, i, k;
	int running, maxrun = 0;

	start(2, 4);
	/* The first job runs for 3 s: long enough to be killed running. */
	enqueue_payload("pair", NULL, "3", victim);
	for (i = 1; i < 16; i++)
		enqueue("pair", NULL, NULL);
	/* Kill the worker that holds it, found from its handler. */
	holder = daemon_wait_job_worker("pair.started", victim, 1, 20000);
	ck_assert_msg(holder > 0, "job %s did not start", victim);
	ck_assert_msg(daemon_is_worker(holder), "job %s runs in %ld, not in a "
	    "worker", victim, (long)holder);
	ck_assert_int_eq(kill(holder, SIGKILL), 0);
	ck_assert_msg(wait_stat("default", "processed", 16, 60000),
	    "processed %lld", queue_stat("default", "processed"));
	/* Its lease ran out and another worker ran it again. */
	ck_assert_int_ge(queue_stat("default", "stalled"), 1);
	again = daemon_job_worker("pair.started", victim, 2);
	ck_assert_msg(again > 0 && again != holder, "job %s did not start "
	    "again after its worker %ld died", victim, (long)holder);
	n = read_intervals("pair", v, 64);
	/* At every start, count the runs in progress. */
	for (i = 0; i < n; i++) {
		running = 0;
		for (k = 0; k < n; k++)
			running += v[k].start <= v[i].start &&
			    v[k].end > v[i].start;
		if (running > maxrun)
			maxrun = running;
	}
	ck_assert_msg(maxrun <= 2, "%d ran at once under a limit of 2", maxrun);
	ck_assert_int_eq(queue_stat("default", "failed"), 0);
}
END_TEST

/*
 * The only holder of a concurrency slot is killed with its worker: its
 * release never comes, so nobody wakes the waiters. They come back when
 * its lease ends (the due time their refusal gave them), then wake each
 * other in turn; one at a time, and nothing is left waiting.
 */
START_TEST(test_waiters_of_a_killed_concurrency_holder_still_run)
{
	enum { JOBS = 5 };
	struct interval v[JOBS + 1];
	char victim[REDJOB_ID_MAX];
	pid_t holder;
	size_t n, i;

	start(2, 4);
	enqueue_payload("solo", NULL, "3", victim);
	for (i = 1; i < JOBS; i++)
		enqueue("solo", NULL, NULL);
	holder = daemon_wait_job_worker("solo.started", victim, 1, 20000);
	ck_assert_msg(holder > 0, "job %s did not start", victim);
	ck_assert_msg(daemon_is_worker(holder), "job %s runs in %ld, not in a "
	    "worker", victim, (long)holder);
	ck_assert(wait_stat("default", "throttled", JOBS - 1, 10000));
	ck_assert_int_eq(kill(holder, SIGKILL), 0);
	ck_assert_msg(wait_stat("default", "processed", JOBS, 60000),
	    "processed %lld; ready %lld, scheduled %lld",
	    queue_stat("default", "processed"), queue_stat("default", "ready"),
	    queue_stat("default", "scheduled"));
	ck_assert_int_eq(queue_stat("default", "failed"), 0);
	ck_assert_int_eq(queue_stat("default", "ready") +
	    queue_stat("default", "scheduled") +
	    queue_stat("default", "running"), 0);
	n = read_intervals("solo", v, JOBS + 1);
	ck_assert_uint_eq(n, JOBS);
	for (i = 1; i < n; i++)
		ck_assert_msg(v[i].start >= v[i - 1].end, "runs %zu and %zu "
		    "overlap under a limit of 1", i - 1, i);
	ck_assert_int_eq(exists("redjob:limit:{one:}:wait"), 0);
}
END_TEST

START_TEST(test_a_refused_guard_call_gives_the_job_back_to_its_lease)
{
	char url[4200], *text;

	/* A user that may do anything but SET: lock acquisition fails. */
	freeReplyObject(must_command(rf.c, "ACL SETUSER limited on >pw ~* &* "
	    "+@all -set"));
	write_config(1, 2);
	snprintf(url, sizeof url, "unix://limited:pw@%s", rf.sock);
	/* Point the configuration at that user. */
	text = must_read_file(df.config, NULL);
	daemon_write_config("redis:\n  url: %s\n%s", url,
	    strstr(text, "workers:"));
	free(text);
	daemon_start(NULL);
	ck_assert_ptr_nonnull(notify_wait("READY=1", 15000));
	enqueue("locked", "7", NULL);
	ck_assert_msg(daemon_wait_log("refused 10 times", 20000),
	    "the worker kept retrying a refused guard call");
	/* Not lost: it is still in the queue, leased or due again. */
	ck_assert_int_eq(queue_stat("default", "running") +
	    queue_stat("default", "ready") + queue_stat("default", "scheduled"),
	    1);
	freeReplyObject(must_command(rf.c, "ACL DELUSER limited"));
}
END_TEST

START_TEST(test_a_job_throttled_by_one_limiter_spends_nothing_of_another)
{
	redisReply *r;

	start(1, 2);
	/* per_key admits one job a minute per key; win admits 5 a second. */
	enqueue("both", "a", NULL);
	enqueue("both", "a", NULL);
	enqueue("both", "a", NULL);
	ck_assert(wait_stat("default", "processed", 1, 10000));
	ck_assert(wait_stat("default", "throttled", 2, 10000));
	/* Only the admitted job is left in the window's log. */
	r = must_command(rf.c, "ZCARD redjob:limit:{win:}");
	ck_assert_int_eq(r->integer, 1);
	freeReplyObject(r);
	ck_assert_int_eq(queue_stat("default", "scheduled"), 2);
}
END_TEST

/*
 * Jobs throttled by a window go back to the delayed queue until their own
 * reserved slot (redjob.yml(5)): the window is filled by the test at a
 * known time T, so the k-th throttled job's slot is exactly
 * T + PERIOD * ceil(k / LIMIT), LIMIT jobs a period, and it spends no
 * attempt.
 */
static int
cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

START_TEST(test_a_throttled_job_comes_back_when_the_limiter_says)
{
	enum { JOBS = 12, PERIOD = 4000, LIMIT = 2, DRIFT = 500 };
	long long t, slot, dues[JOBS];
	char id[REDJOB_ID_MAX], *v;
	redisReply *r;
	int i;

	daemon_write_config(
	    "redis:\n"
	    "  url: %s\n"
	    "workers: 1\n"
	    "concurrency: 4\n"
	    "shutdown_timeout: 1s\n"
	    "lease: 5s\n"
	    "limiters:\n"
	    "  gate: { kind: window, limit: %d, period: %dms }\n"
	    "jobs:\n"
	    "  gated:\n"
	    "    exec: [/bin/true]\n"
	    "    limit: gate\n",
	    rf.url, LIMIT, PERIOD);
	/* The fill below sets the clock with "now MS". */
	redis_load_test_lib();
	daemon_start(NULL);
	ck_assert_ptr_nonnull(notify_wait("READY=1", 15000));
	/* Fill the window at T: it admits again at T + PERIOD exactly. */
	r = must_command(rf.c, "TIME");
	t = atoll(r->element[0]->str) * 1000 + atoll(r->element[1]->str) / 1000;
	freeReplyObject(r);
	r = must_command(rf.c, "FCALL redjob_limit_window 1 "
	    "redjob:limit:{gate:} %d %d test-fill %d now %lld", LIMIT, PERIOD,
	    LIMIT, t);
	ck_assert_int_eq(r->element[0]->integer, 0);
	freeReplyObject(r);
	for (i = 0; i < JOBS; i++)
		enqueue("gated", NULL, NULL);
	ck_assert_msg(wait_stat("default", "throttled", JOBS, 10000),
	    "throttled %lld of %d", queue_stat("default", "throttled"), JOBS);
	/* Nothing may come back early; keep them where they are. */
	freeReplyObject(must_command(rf.c, "FCALL redjob_pause 1 "
	    "redjob:{default}"));
	ck_assert_int_eq(queue_stat("default", "throttled"), JOBS);
	ck_assert_int_eq(queue_stat("default", "scheduled"), JOBS);
	ck_assert_int_eq(queue_stat("default", "processed"), 0);
	for (i = 1; i <= JOBS; i++) {
		snprintf(id, sizeof id, "%d", i);
		r = must_command(rf.c, "ZSCORE redjob:{default}:due %s", id);
		ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
		dues[i - 1] = atoll(r->str);
		freeReplyObject(r);
		snprintf(id, sizeof id, "default:%d", i);
		r = must_command(rf.c, "FCALL_RO redjob_show 1 "
		    "redjob:{default} %s", id);
		v = NULL;
		for (size_t k = 0; k + 1 < r->elements; k += 2) {
			if (strcmp(r->element[k]->str, "attempts") == 0)
				v = r->element[k + 1]->str;
		}
		ck_assert_ptr_nonnull(v);
		ck_assert_str_eq(v, "0");
		freeReplyObject(r);
	}
	qsort(dues, JOBS, sizeof dues[0], cmp_ll);
	for (i = 0; i < JOBS; i++) {
		slot = t + (long long)PERIOD * (i / LIMIT + 1);
		ck_assert_msg(dues[i] >= slot && dues[i] <= slot + DRIFT,
		    "the %d-th throttled job is due at T + %lld ms, not at "
		    "its slot T + %lld ms (+%d ms for the calls)", i + 1,
		    dues[i] - t, slot - t, DRIFT);
	}
}
END_TEST

/* The server's clock, ms. */
static long long
server_now(void)
{
	redisReply *r = must_command(rf.c, "TIME");
	long long ms;

	ms = atoll(r->element[0]->str) * 1000 + atoll(r->element[1]->str) / 1000;
	freeReplyObject(r);
	return ms;
}

/* The due time of job N of the default queue (must be scheduled). */
static long long
due_of(int n)
{
	redisReply *r;
	long long due;

	r = must_command(rf.c, "ZSCORE redjob:{default}:due %d", n);
	ck_assert_msg(r->type == REDIS_REPLY_STRING, "job %d is not due", n);
	due = atoll(r->str);
	freeReplyObject(r);
	return due;
}

/*
 * A job whose lock is taken goes back to the delayed queue (on_conflict:
 * requeue) and into the lock's wait list: should no release wake it, it
 * comes back when the holder's lock expires, or after requeue_delay if
 * that is sooner. No jitter: the wait list, not chance, spreads them.
 */
START_TEST(test_a_job_whose_lock_is_taken_comes_back_as_configured)
{
	enum { JOBS = 8, DRIFT = 500 };
	long long t0, t1, expiry, due;
	int i;

	daemon_write_config(
	    "redis:\n"
	    "  url: %s\n"
	    "workers: 1\n"
	    "concurrency: 2\n"
	    "shutdown_timeout: 1s\n"
	    "lease: 5s\n"
	    "jobs:\n"
	    "  held:\n"
	    "    exec: [/bin/true]\n"
	    "    lock: { key: \"res:{key}\", ttl: 60s }\n"
	    "  waiting:\n"
	    "    exec: [/bin/true]\n"
	    "    lock: { key: \"other\", ttl: 10s, requeue_delay: 700ms }\n",
	    rf.url);
	daemon_start(NULL);
	ck_assert_ptr_nonnull(notify_wait("READY=1", 15000));

	/* Held by someone else until a known time: back at that time. */
	expiry = server_now() + 3000;
	freeReplyObject(must_command(rf.c, "SET redjob:lock:{res:1} someone "
	    "PXAT %lld", expiry));
	for (i = 0; i < JOBS; i++)
		enqueue("held", "1", NULL);
	ck_assert(wait_stat("default", "conflicts", JOBS, 10000));
	for (i = 1; i <= JOBS; i++) {
		due = due_of(i);
		ck_assert_msg(due >= expiry && due <= expiry + DRIFT,
		    "job %d is due %+lld ms from the lock's expiry, not within 0 "
		    "and %d ms", i, due - expiry, DRIFT);
		freeReplyObject(must_command(rf.c, "FCALL redjob_remove 1 "
		    "redjob:{default} default:%d", i));
	}

	/* requeue_delay 700ms: back 700 ms after the conflict. */
	freeReplyObject(must_command(rf.c, "SET redjob:lock:{other} someone "
	    "PX 60000"));
	t0 = server_now();
	for (i = 0; i < JOBS; i++)
		enqueue("waiting", NULL, NULL);
	ck_assert(wait_stat("default", "conflicts", 2 * JOBS, 10000));
	t1 = server_now();
	for (i = JOBS + 1; i <= 2 * JOBS; i++) {
		due = due_of(i);
		ck_assert_msg(due >= t0 + 700 && due <= t1 + 700, "job %d is "
		    "due %lld ms after the enqueue (the conflicts were seen "
		    "%lld ms after it), not 700 ms after its conflict",
		    i, due - t0, t1 - t0);
	}
	ck_assert_int_eq(queue_stat("default", "failed"), 0);
	ck_assert_int_eq(queue_stat("default", "processed"), 0);
}
END_TEST

/*
 * A handler that appends "START END N" to OUT/NAME, N being the job's
 * number in its queue (read_intervals() reads it as the fence).
 */
#define NUMBERED(name, sleep) \
	"[/bin/sh, -c, 's=$(date +%%s%%N); sleep " sleep "; " \
	"e=$(date +%%s%%N); echo \"$s $e ${REDJOB_JOB_ID##*:}\" >> " \
	"\"$OUT/" name "\"']"

/* FCALLs the server has run (INFO commandstats), the tests' included. */
static long long
fcall_calls(void)
{
	redisReply *r = must_command(rf.c, "INFO commandstats");
	const char *p = strstr(r->str, "cmdstat_fcall:calls=");
	long long n;

	ck_assert_ptr_nonnull(p);
	n = atoll(p + strlen("cmdstat_fcall:calls="));
	freeReplyObject(r);
	return n;
}

/*
 * Enqueue n jobs of type into the paused default queue, due one ms
 * apart so that their order is their enqueue order, then resume it.
 * Returns the FCALLs run before the resume.
 */
static long long
enqueue_in_order(const char *type, int n)
{
	long long at = server_now(), calls;
	int i;

	freeReplyObject(must_command(rf.c, "FCALL redjob_pause 1 "
	    "redjob:{default}"));
	for (i = 0; i < n; i++)
		freeReplyObject(must_command(rf.c, "FCALL redjob_enqueue 1 "
		    "redjob:{default} %s '' at %lld", type, at + i));
	calls = fcall_calls();
	freeReplyObject(must_command(rf.c, "FCALL redjob_resume 1 "
	    "redjob:{default}"));
	return calls;
}

/*
 * Guards in the claim (docs/guards.md): on a single Redis the claim
 * takes the limiters and the lock of the jobs it leases, and the ack
 * gives back their locks and slots, so no guard function is called on
 * its own (SLOWLOG, logging every command, names each FCALL's function),
 * and nothing is left held when the jobs are done.
 */
START_TEST(test_guards_are_taken_by_the_claim_and_given_back_by_the_ack)
{
	enum { JOBS = 48 };
	redisReply *r, *e;
	size_t i, own = 0, claims = 0;

	daemon_write_config(
	    "redis:\n"
	    "  url: %s\n"
	    "workers: 1\n"
	    "concurrency: 4\n"
	    "batch: 16\n"
	    "shutdown_timeout: 1s\n"
	    "lease: 5s\n"
	    "limiters:\n"
	    "  slots: { kind: concurrency, limit: 1000, lease: 5s }\n"
	    "  pace: { kind: gcra, rate: 100000/s, burst: 1000 }\n"
	    "  span: { kind: window, limit: 100000, period: 1s }\n"
	    "  pour: { kind: funnel, capacity: 100000, rate: 100000/s }\n"
	    "jobs:\n"
	    "  guarded:\n"
	    "    exec: [/bin/true]\n"
	    "    limit: [slots, pace, span, pour]\n"
	    "    lock: { key: \"g:{key}\", ttl: 30s }\n",
	    rf.url);
	daemon_start(NULL);
	ck_assert_ptr_nonnull(notify_wait("READY=1", 15000));
	freeReplyObject(must_command(rf.c, "FCALL redjob_pause 1 "
	    "redjob:{default}"));
	for (i = 0; i < JOBS; i++)
		freeReplyObject(must_command(rf.c, "FCALL redjob_enqueue 1 "
		    "redjob:{default} guarded '' key %d", (int)i));
	freeReplyObject(must_command(rf.c, "CONFIG SET slowlog-max-len 100000"));
	freeReplyObject(must_command(rf.c, "CONFIG SET "
	    "slowlog-log-slower-than 0"));
	freeReplyObject(must_command(rf.c, "SLOWLOG RESET"));
	freeReplyObject(must_command(rf.c, "FCALL redjob_resume 1 "
	    "redjob:{default}"));
	ck_assert_msg(wait_stat("default", "processed", JOBS, 30000),
	    "processed %lld", queue_stat("default", "processed"));
	r = must_command(rf.c, "SLOWLOG GET -1");
	freeReplyObject(must_command(rf.c, "CONFIG SET "
	    "slowlog-log-slower-than 10000"));
	for (i = 0; i < r->elements; i++) {
		e = r->element[i]->element[3];
		if (e->elements < 2 || strcasecmp(e->element[0]->str,
		    "FCALL") != 0)
			continue;
		if (strncmp(e->element[1]->str, "redjob_lock_", 12) == 0 ||
		    strncmp(e->element[1]->str, "redjob_limit_", 13) == 0)
			own++;
		else if (strcmp(e->element[1]->str, "redjob_claim") == 0)
			claims++;
	}
	freeReplyObject(r);
	ck_assert_msg(own == 0, "%zu guard calls of their own", own);
	ck_assert_msg(claims > 0 && claims < JOBS, "%zu claims", claims);
	ck_assert_int_eq(queue_stat("default", "failed"), 0);
	ck_assert_int_eq(queue_stat("default", "throttled"), 0);
	ck_assert_int_eq(queue_stat("default", "conflicts"), 0);
	for (i = 0; i < JOBS; i++) {
		ck_assert_int_eq(must_int(rf.c, "EXISTS redjob:lock:{g:%d}",
		    (int)i), 0);
		ck_assert_int_eq(must_int(rf.c, "EXISTS "
		    "redjob:lock:{g:%d}:fence", (int)i), 1);
	}
	ck_assert_int_eq(must_int(rf.c, "EXISTS redjob:limit:{slots:}"), 0);
	ck_assert_int_eq(must_int(rf.c, "ZCARD redjob:limit:{span:}"), JOBS);
}
END_TEST

static void
write_waiting_config(void)
{
	daemon_write_config(
	    "redis:\n"
	    "  url: %s\n"
	    "workers: 1\n"
	    "concurrency: 4\n"
	    "shutdown_timeout: 1s\n"
	    "lease: 5s\n"
	    "limiters:\n"
	    "  pace: { kind: gcra, rate: 20/s, burst: 0 }\n"
	    "  pour: { kind: funnel, capacity: 1, rate: 20/s }\n"
	    "  slots: { kind: concurrency, limit: 2, lease: 5s }\n"
	    "  pairs: { kind: window, limit: 2, period: 100ms }\n"
	    "jobs:\n"
	    "  paced:\n"
	    "    exec: " NUMBERED("paced", "0") "\n"
	    "    env: { OUT: \"%s\" }\n"
	    "    limit: [pace]\n"
	    "  poured:\n"
	    "    exec: " NUMBERED("poured", "0") "\n"
	    "    env: { OUT: \"%s\" }\n"
	    "    limit: [pour]\n"
	    "  serial:\n"
	    "    exec: " NUMBERED("serial", "0.2") "\n"
	    "    env: { OUT: \"%s\" }\n"
	    "    lock: { key: \"one\", ttl: 10s }\n"
	    "  paced_serial:\n"
	    "    exec: " NUMBERED("paced_serial", "0.1") "\n"
	    "    env: { OUT: \"%s\" }\n"
	    "    limit: [pace]\n"
	    "    lock: { key: \"two\", ttl: 10s }\n"
	    "  slotted:\n"
	    "    exec: " NUMBERED("slotted", "0.05") "\n"
	    "    env: { OUT: \"%s\" }\n"
	    "    limit: [slots]\n"
	    "  windowed:\n"
	    "    exec: " NUMBERED("windowed", "0") "\n"
	    "    env: { OUT: \"%s\" }\n"
	    "    limit: [pairs]\n",
	    rf.url, df.dir, df.dir, df.dir, df.dir, df.dir, df.dir);
	daemon_start(NULL);
	ck_assert_ptr_nonnull(notify_wait("READY=1", 15000));
}

/*
 * A backlog behind a limiter of rate R: each job is refused at most once
 * (the refusal reserves its slot, and at that slot the reservation admits
 * it without asking again), so the limiter and queue calls per job are
 * bounded whatever the backlog, and the jobs run in their order at the
 * limiter's pace; jobs admitted at one time may swap, at most swap places. Before reservations, each admission re-claimed most of
 * the backlog: 25-30 refusals per job.
 */
static void
backlog_behind(const char *type, long long swap)
{
	enum { JOBS = 30 };
	struct interval v[JOBS + 1];
	long long calls, d;
	size_t n, i;
	double secs;

	write_waiting_config();
	calls = enqueue_in_order(type, JOBS);
	ck_assert_msg(wait_stat("default", "processed", JOBS, 60000),
	    "processed %lld", queue_stat("default", "processed"));
	calls = fcall_calls() - calls;
	ck_assert_int_eq(queue_stat("default", "failed"), 0);
	ck_assert_msg(queue_stat("default", "throttled") <= JOBS,
	    "%lld refusals for %d jobs", queue_stat("default", "throttled"),
	    JOBS);
	/*
	 * Per job: the limiter, the requeue, the claim at its slot, the
	 * first claim and the ack (these two in batches), and the test's
	 * own polls.
	 */
	ck_assert_msg(calls <= 6 * JOBS, "%lld FCALLs for %d jobs", calls,
	    JOBS);
	n = read_intervals(type, v, JOBS + 1);
	ck_assert_uint_eq(n, JOBS);
	/*
	 * The order is that of the handlers' starts, which may lag their
	 * admissions by more than one interval of the limiter on a loaded
	 * machine (a fork, a busy worker): one place more either way.
	 */
	swap++;
	for (i = 0; i < n; i++) {
		d = (long long)v[i].fence - (long long)(i + 1);
		ck_assert_msg(d >= -swap && d <= swap, "run %zu was job %llu, "
		    "not %zu", i, v[i].fence, i + 1);
	}
	/*
	 * 20/s: 30 admissions take at least 29 intervals of 50 ms (2 per
	 * 100 ms: at least 14 periods), 1.4 s; the first handler's start
	 * may lag its admission more than the last's does, so 1.3 s of
	 * starts (a limiter that let them all through would take a few ms).
	 */
	secs = (double)(v[n - 1].start - v[0].start) / 1e9;
	ck_assert_msg(secs >= 1.3, "%d jobs ran in %.2f s at 20/s", JOBS,
	    secs);
}

/*
 * A backlog behind a window of 2 per 100 ms: each refusal reserves the
 * job's slot (entries added at that time), so each job is refused at most
 * once and they run two by two in their order (a pair admitted at one
 * time may swap), at the window's pace. Before, the whole backlog came
 * back at each window's end and asked again.
 */
START_TEST(test_a_backlog_behind_a_window_is_refused_once_per_job_in_order)
{
	backlog_behind("windowed", 1);
}
END_TEST

START_TEST(test_a_backlog_behind_gcra_is_refused_once_per_job_in_order)
{
	backlog_behind("paced", 0);
}
END_TEST

START_TEST(test_a_backlog_behind_a_funnel_is_refused_once_per_job_in_order)
{
	backlog_behind("poured", 0);
}
END_TEST

/*
 * Jobs sharing one lock wait in its wait list and each release wakes the
 * next: they run one at a time, in enqueue order, each conflicting at
 * most twice (once on arrival; once more if a newcomer took the lock
 * before it came). Before the wait list a loser came back every ttl/4
 * (or requeue_delay) whether or not the lock was free.
 */
START_TEST(test_jobs_sharing_a_lock_run_one_at_a_time_in_order)
{
	enum { JOBS = 12 };
	struct interval v[JOBS + 1];
	size_t n, i;

	write_waiting_config();
	enqueue_in_order("serial", JOBS);
	ck_assert_msg(wait_stat("default", "processed", JOBS, 60000),
	    "processed %lld", queue_stat("default", "processed"));
	ck_assert_int_eq(queue_stat("default", "failed"), 0);
	ck_assert_msg(queue_stat("default", "conflicts") <= 2 * JOBS,
	    "%lld conflicts for %d jobs", queue_stat("default", "conflicts"),
	    JOBS);
	n = read_intervals("serial", v, JOBS + 1);
	ck_assert_uint_eq(n, JOBS);
	for (i = 0; i < n; i++) {
		ck_assert_msg(v[i].fence == i + 1, "run %zu was job %llu, not "
		    "%zu", i, v[i].fence, i + 1);
		ck_assert_msg(i == 0 || v[i].start >= v[i - 1].end,
		    "runs %zu and %zu overlap", i - 1, i);
	}
	ck_assert_int_eq(exists("redjob:lock:{one}"), 0);
	ck_assert_int_eq(exists("redjob:lock:{one}:wait"), 0);
}
END_TEST

/*
 * A backlog behind a concurrency limit waits in the limiter's wait list,
 * and each release wakes the next: every job is refused about once (on
 * arrival; again only if a newcomer took the freed slot first), and they
 * run in enqueue order, two at a time. Before the wait list they all came
 * back together at the earliest lease end and asked again.
 */
START_TEST(test_a_backlog_behind_a_concurrency_limit_waits_its_turn)
{
	enum { JOBS = 30 };
	struct interval v[JOBS + 1];
	size_t n, i, k;
	long long d;
	int running;

	write_waiting_config();
	enqueue_in_order("slotted", JOBS);
	ck_assert_msg(wait_stat("default", "processed", JOBS, 60000),
	    "processed %lld", queue_stat("default", "processed"));
	ck_assert_int_eq(queue_stat("default", "failed"), 0);
	ck_assert_msg(queue_stat("default", "throttled") <= JOBS + JOBS / 5,
	    "%lld refusals for %d jobs", queue_stat("default", "throttled"),
	    JOBS);
	n = read_intervals("slotted", v, JOBS + 1);
	ck_assert_uint_eq(n, JOBS);
	for (i = 0; i < n; i++) {
		/* Two slots: a run may swap with its neighbour, no more. */
		d = (long long)v[i].fence - (long long)(i + 1);
		ck_assert_msg(d >= -1 && d <= 1, "run %zu was job %llu, not "
		    "%zu", i, v[i].fence, i + 1);
		running = 0;
		for (k = 0; k < n; k++)
			running += v[k].start <= v[i].start &&
			    v[k].end > v[i].start;
		ck_assert_msg(running <= 2, "%d ran at once under a limit of "
		    "2", running);
	}
	ck_assert_int_eq(exists("redjob:limit:{slots:}:wait"), 0);
}
END_TEST

/*
 * Jobs admitted by their reservations and then held back by a lock keep
 * them while they wait, and ask the limiter again once they are too late
 * for them: the limiter's pace and the lock both hold, and every job
 * runs once.
 */
START_TEST(test_reserved_jobs_held_back_by_a_lock_keep_both_limits)
{
	enum { JOBS = 10 };
	struct interval v[JOBS + 1];
	size_t n, i;

	write_waiting_config();
	enqueue_in_order("paced_serial", JOBS);
	ck_assert_msg(wait_stat("default", "processed", JOBS, 60000),
	    "processed %lld", queue_stat("default", "processed"));
	ck_assert_int_eq(queue_stat("default", "failed"), 0);
	ck_assert_int_gt(queue_stat("default", "throttled"), 0);
	ck_assert_int_gt(queue_stat("default", "conflicts"), 0);
	n = read_intervals("paced_serial", v, JOBS + 1);
	ck_assert_uint_eq(n, JOBS);
	for (i = 1; i < n; i++) {
		ck_assert_msg(v[i].start >= v[i - 1].end, "runs %zu and %zu "
		    "overlap", i - 1, i);
		/* 20/s: never two starts within 50 ms (less the clock's ms). */
		ck_assert_msg(v[i].start - v[i - 1].start >= 49000000,
		    "runs %zu and %zu started %lld ms apart at 20/s", i - 1, i,
		    (v[i].start - v[i - 1].start) / 1000000);
	}
}
END_TEST

/*
 * A holder that dies without releasing: nobody wakes the waiters, and
 * they come back when its lock expires (the due time their conflict gave
 * them), then wake each other in turn; nothing is left waiting.
 */
START_TEST(test_waiters_of_a_holder_that_died_run_after_its_lock_expires)
{
	enum { JOBS = 4 };
	struct interval v[JOBS + 1];
	long long expiry;
	size_t n, i;

	write_waiting_config();
	expiry = server_now() + 1500;
	freeReplyObject(must_command(rf.c, "SET redjob:lock:{one} dead-holder "
	    "PXAT %lld", expiry));
	enqueue_in_order("serial", JOBS);
	ck_assert_msg(wait_stat("default", "processed", JOBS, 30000),
	    "processed %lld; ready %lld, scheduled %lld",
	    queue_stat("default", "processed"), queue_stat("default", "ready"),
	    queue_stat("default", "scheduled"));
	ck_assert_int_eq(queue_stat("default", "failed"), 0);
	ck_assert_int_eq(queue_stat("default", "ready") +
	    queue_stat("default", "scheduled") +
	    queue_stat("default", "running"), 0);
	ck_assert_msg(queue_stat("default", "conflicts") <= 2 * JOBS,
	    "%lld conflicts for %d jobs", queue_stat("default", "conflicts"),
	    JOBS);
	n = read_intervals("serial", v, JOBS + 1);
	ck_assert_uint_eq(n, JOBS);
	for (i = 0; i < n; i++)
		ck_assert_msg(v[i].start / 1000000 >= expiry - 50, "run %zu "
		    "started %lld ms before the lock expired", i,
		    expiry - v[i].start / 1000000);
}
END_TEST

Suite *
suite(void)
{
	Suite *s = suite_create("guard_daemon");
	TCase *tc = tcase_create("guards");

	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, redis_start, redis_stop);
	tcase_add_checked_fixture(tc, daemon_setup, daemon_teardown);
	tcase_add_test(tc, test_lock_never_runs_two_handlers_at_once_and_fences_grow);
	tcase_add_test(tc, test_a_handler_running_three_ttls_keeps_its_lock);
	tcase_add_test(tc,
	    test_a_lock_deleted_under_a_handler_stops_it_and_requeues_the_job);
	tcase_add_test(tc,
	    test_a_handler_cut_off_from_redis_dies_before_its_lock_expires);
	tcase_add_test(tc, test_locks_are_released_on_failure_and_conflicts_can_discard);
	tcase_add_test(tc, test_throttled_jobs_all_run_at_the_limiters_pace);
	tcase_add_test(tc, test_concurrency_limit_holds_even_when_a_worker_is_killed);
	tcase_add_test(tc, test_a_job_throttled_by_one_limiter_spends_nothing_of_another);
	tcase_add_test(tc, test_waiters_of_a_killed_concurrency_holder_still_run);
	tcase_add_test(tc, test_a_refused_guard_call_gives_the_job_back_to_its_lease);
	tcase_add_test(tc,
	    test_guards_are_taken_by_the_claim_and_given_back_by_the_ack);
	suite_add_tcase(s, tc);

	tc = tcase_create("exact");
	tcase_set_timeout(tc, 60);
	tcase_add_unchecked_fixture(tc, redis_start, redis_stop);
	tcase_add_checked_fixture(tc, daemon_setup, daemon_teardown);
	tcase_add_test(tc, test_a_throttled_job_comes_back_when_the_limiter_says);
	tcase_add_test(tc, test_a_job_whose_lock_is_taken_comes_back_as_configured);
	suite_add_tcase(s, tc);

	tc = tcase_create("held_back");
	tcase_set_timeout(tc, 90);
	tcase_add_unchecked_fixture(tc, redis_start, redis_stop);
	tcase_add_checked_fixture(tc, daemon_setup, daemon_teardown);
	tcase_add_test(tc,
	    test_a_backlog_behind_gcra_is_refused_once_per_job_in_order);
	tcase_add_test(tc,
	    test_a_backlog_behind_a_funnel_is_refused_once_per_job_in_order);
	tcase_add_test(tc,
	    test_a_backlog_behind_a_window_is_refused_once_per_job_in_order);
	tcase_add_test(tc, test_jobs_sharing_a_lock_run_one_at_a_time_in_order);
	tcase_add_test(tc,
	    test_waiters_of_a_holder_that_died_run_after_its_lock_expires);
	tcase_add_test(tc,
	    test_reserved_jobs_held_back_by_a_lock_keep_both_limits);
	tcase_add_test(tc,
	    test_a_backlog_behind_a_concurrency_limit_waits_its_turn);
	suite_add_tcase(s, tc);
	return s;
}
