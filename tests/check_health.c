/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The operator's window on a real redjobd and a real redis-server: the
 * worker registry as redjob workers, ls and show see it, redjob health
 * while Redis loads its data, the process titles, and redjob why for a
 * job held by each gate.
 */
#include "autoconf.h"

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

static void
nap_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
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

/* The JSON a run printed; the test fails unless it exited 0. */
static json_t *
cli_json(struct proc *p)
{
	json_error_t e;
	json_t *j;

	ck_assert_msg(p->status == 0, "exit %d: %s", p->status, p->err);
	j = json_loads(p->out, 0, &e);
	ck_assert_msg(j != NULL, "not JSON (%s): %s", e.text, p->out);
	proc_free(p);
	return j;
}

static const char *
jstr(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	ck_assert_msg(json_is_string(v), "no string %s", k);
	return json_string_value(v);
}

static long long
jint(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	ck_assert_msg(json_is_integer(v), "no integer %s", k);
	return json_integer_value(v);
}

static const char *grace = "0";	/* unknown_type_grace */

static void
write_config(void)
{
	daemon_write_config(
	    "redis:\n"
	    "  url: %s\n"
	    "workers: 2\n"
	    "concurrency: 2\n"
	    "shutdown_timeout: 2s\n"
	    "unknown_type_grace: %s\n"
	    "queues:\n"
	    "  default: 1\n"
	    "  mail: 1\n"
	    "limiters:\n"
	    "  slowly: { kind: window, limit: 1, period: 1h }\n"
	    "jobs:\n"
	    "  nap:\n"
	    "    exec: [/bin/sh, -c, 'exec sleep $(cat)']\n"
	    "  quick:\n"
	    "    exec: [/bin/true]\n"
	    "  failing:\n"
	    "    exec: [/bin/sh, -c, 'echo broken pipe >&2; exit 1']\n"
	    "    retry: { backoff: fixed, base: 1h }\n"
	    "  locked:\n"
	    "    exec: [/bin/sh, -c, 'exec sleep $(cat)']\n"
	    "    lock: { key: \"one\", ttl: 1m }\n"
	    "  limited:\n"
	    "    exec: [/bin/true]\n"
	    "    limit: [slowly]\n",
	    rf.url, grace);
}

static void
start_ready(void)
{
	write_config();
	daemon_start(NULL);
	ck_assert_ptr_nonnull(notify_wait("READY=1", 15000));
}

static void
enqueue_in(const char *queue, const char *type, const char *payload,
    uint64_t delay_ms, char *id)
{
	struct redjob_job j;

	memset(&j, 0, sizeof j);
	j.queue = queue;
	j.type = type;
	j.payload = payload;
	j.payload_len = strlen(payload);
	j.delay_ms = delay_ms;
	ck_assert_msg(redjob_enqueue(df.cl, &j, id) == REDJOB_OK, "%s",
	    redjob_errstr(df.cl));
}

#define enqueue(type, payload, id) \
	enqueue_in(NULL, (type), (payload), 0, (id))

/* redjob workers --json, polled until it lists n workers. */
static json_t *
wait_workers(size_t n, unsigned timeout_ms)
{
	uint64_t end = testlib_now_ms() + timeout_ms;
	json_t *a;

	for (;;) {
		a = cli_json(cli("workers", "--json", NULL));
		if (json_array_size(a) == n || testlib_now_ms() > end)
			return a;
		json_decref(a);
		nap_ms(50);
	}
}

/* Poll until hash key's field is value: 1, or 0 at the deadline. */
static int
wait_hash_field(const char *key, const char *field, const char *value)
{
	uint64_t end = testlib_now_ms() + 10000;
	redisReply *r;
	int ok;

	for (;;) {
		r = must_command(rf.c, "HGET %s %s", key, field);
		ok = r->type == REDIS_REPLY_STRING && strcmp(r->str, value) == 0;
		freeReplyObject(r);
		if (ok || testlib_now_ms() > end)
			return ok;
		nap_ms(50);
	}
}

/* The worker of array a with pid, or NULL. */
static json_t *
worker_with_pid(json_t *a, pid_t pid)
{
	json_t *w;
	size_t i;

	json_array_foreach(a, i, w) {
		if (jint(w, "pid") == pid)
			return w;
	}
	return NULL;
}

/*
 * Every worker is listed with who it is and what it runs, and ls and
 * show name the worker and start of a running job, all alike.
 */
START_TEST(test_workers_lists_each_worker_and_its_running_job)
{
	char id[REDJOB_ID_MAX], host[256], hostpid[300];
	json_t *a, *w, *jobs, *j, *show, *ls, *q;
	uint64_t end;
	pid_t pids[4];
	int i, n;

	start_ready();
	enqueue("nap", "30", id);
	ck_assert(gethostname(host, sizeof host) == 0);
	end = testlib_now_ms() + 10000;
	for (;;) {
		a = wait_workers(2, 10000);
		ck_assert_int_eq(json_array_size(a), 2);
		w = NULL;
		json_array_foreach(a, i, j) {
			if (json_array_size(json_object_get(j, "jobs")) > 0)
				w = j;
		}
		if (w != NULL || testlib_now_ms() > end)
			break;
		json_decref(a);
		nap_ms(50);
	}
	ck_assert_msg(w != NULL, "no worker lists the running job");
	n = daemon_workers(pids, 4);
	ck_assert_int_eq(n, 2);
	for (i = 0; i < n; i++) {
		j = worker_with_pid(a, pids[i]);
		ck_assert_msg(j != NULL, "worker %d not listed", (int)pids[i]);
		ck_assert_str_eq(jstr(j, "host"), host);
		ck_assert_int_eq(jint(j, "supervisor_pid"), df.proc->pid);
		ck_assert_int_eq(jint(j, "slots"), 2);
		ck_assert_str_eq(jstr(j, "version"), PACKAGE_VERSION);
		q = json_object_get(j, "queues");
		ck_assert_int_eq(json_array_size(q), 2);
		ck_assert_str_eq(json_string_value(json_array_get(q, 0)),
		    "default");
		ck_assert_str_eq(json_string_value(json_array_get(q, 1)),
		    "mail");
		ck_assert_int_gt(jint(j, "started"), 0);
		ck_assert_int_gt(jint(j, "last_ok"), 0);
		ck_assert(json_is_null(json_object_get(j, "condition")));
	}
	ck_assert_int_eq(jint(w, "busy"), 1);
	jobs = json_object_get(w, "jobs");
	ck_assert_int_eq(json_array_size(jobs), 1);
	j = json_array_get(jobs, 0);
	ck_assert_str_eq(jstr(j, "id"), id);
	ck_assert_str_eq(jstr(j, "type"), "nap");

	/* show: the same worker and start. */
	show = cli_json(cli("show", "--json", id, NULL));
	ck_assert_int_eq(jint(show, "started"), jint(j, "started"));
	ck_assert_str_eq(jstr(show, "worker"), jstr(w, "owner"));
	snprintf(hostpid, sizeof hostpid, "%s pid %lld ", host,
	    jint(w, "pid"));
	ck_assert_msg(strncmp(jstr(show, "worker_host"), hostpid,
	    strlen(hostpid)) == 0, "%s", jstr(show, "worker_host"));

	/* ls --state running: the same. */
	ls = cli_json(cli("ls", "--json", "--state", "running", "default",
	    NULL));
	ck_assert_int_eq(json_array_size(ls), 1);
	snprintf(hostpid, sizeof hostpid, "%s:%lld", host, jint(w, "pid"));
	ck_assert_str_eq(jstr(json_array_get(ls, 0), "worker"), hostpid);
	ck_assert_int_eq(jint(json_array_get(ls, 0), "started"),
	    jint(j, "started"));
	json_decref(ls);
	json_decref(show);
	json_decref(a);
}
END_TEST

/* The daemon publishes its type table, for producers without -c. */
START_TEST(test_the_type_table_is_published)
{
	start_ready();
	ck_assert(wait_hash_field("redjob:types", "limited", "default"));
	ck_assert_int_eq(must_int(rf.c, "HEXISTS redjob:types quick"), 1);
}
END_TEST

/* ps shows each worker's position and queues. */
START_TEST(test_ps_shows_each_workers_role)
{
	char path[64], want[64], *cmdline;
	pid_t pids[4];
	int i, n, seen[2] = { 0, 0 };

	start_ready();
	n = daemon_workers(pids, 4);
	ck_assert_int_eq(n, 2);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pids[i]);
		cmdline = must_read_file(path, NULL);
		if (strcmp(cmdline, "redjobd: worker 0 [default,mail]") == 0)
			seen[0]++;
		else if (strcmp(cmdline, "redjobd: worker 1 [default,mail]") ==
		    0)
			seen[1]++;
		else {
			snprintf(want, sizeof want, "%.40s", cmdline);
			ck_abort_msg("worker %d: title \"%s\"", (int)pids[i],
			    want);
		}
		free(cmdline);
	}
	ck_assert_int_eq(seen[0], 1);
	ck_assert_int_eq(seen[1], 1);
}
END_TEST

/*
 * A killed worker leaves the registry (its supervisor takes it out) and
 * its successor joins; a stopped daemon leaves nothing, and health then
 * says no worker lives.
 */
START_TEST(test_workers_come_and_go_with_their_processes)
{
	pid_t pids[4];
	json_t *a;
	struct proc *p;
	uint64_t end;
	int n;

	start_ready();
	a = wait_workers(2, 10000);
	ck_assert_int_eq(json_array_size(a), 2);
	json_decref(a);
	n = daemon_workers(pids, 4);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(kill(pids[0], SIGKILL), 0);
	end = testlib_now_ms() + 15000;
	for (;;) {
		a = cli_json(cli("workers", "--json", NULL));
		if (worker_with_pid(a, pids[0]) == NULL &&
		    json_array_size(a) == 2)
			break;
		ck_assert_msg(testlib_now_ms() < end, "the killed worker is "
		    "still listed, or no successor is");
		json_decref(a);
		nap_ms(50);
	}
	ck_assert_ptr_nonnull(worker_with_pid(a, pids[1]));
	json_decref(a);

	daemon_signal(SIGTERM);
	ck_assert_int_eq(daemon_wait_exit(15000), 0);
	ck_assert_int_eq(must_int(rf.c, "SCARD redjob:workers"), 0);
	ck_assert_int_eq(must_int(rf.c, "HLEN redjob:{default}:seen"), 0);
	ck_assert_int_eq(must_int(rf.c, "HLEN redjob:{mail}:seen"), 0);
	p = cli("health", NULL);
	ck_assert_int_eq(p->status, 1);
	ck_assert_msg(strstr(p->err, "no live worker") != NULL, "%s", p->err);
	proc_free(p);
}
END_TEST

/* Run "redjob health --max-age MAX_AGE" until it exits 0 or timeout_ms
 * passes; returns the last run (caller frees). */
static struct proc *
health_until_ok(const char *max_age, unsigned timeout_ms)
{
	uint64_t end = testlib_now_ms() + timeout_ms;
	struct proc *p;

	for (;;) {
		p = cli("health", "--max-age", max_age, NULL);
		if (p->status == 0 || testlib_now_ms() > end)
			return p;
		proc_free(p);
		nap_ms(100);
	}
}

/*
 * Health passes while the workers consume, idle ones included, fails
 * while Redis is loading its data (the workers' claims are refused), and
 * passes again after.
 */
START_TEST(test_health_fails_while_redis_loads_and_passes_after)
{
	static const char *const slow_load[] = { "--key-load-delay", "200",
	    "--loading-process-events-interval-bytes", "1024",
	    NULL };
	struct proc *p;
	json_t *o;
	int i;

	start_ready();
	/* Idle for longer than --max-age: still healthy. */
	nap_ms(2500);
	p = health_until_ok("2s", 10000);
	ck_assert_msg(p->status == 0, "exit %d: %s", p->status, p->err);
	ck_assert_msg(strstr(p->out, "healthy: 2 workers") != NULL, "%s",
	    p->out);
	proc_free(p);
	o = cli_json(cli("health", "--json", NULL));
	ck_assert(json_is_true(json_object_get(o, "healthy")));
	ck_assert_int_eq(json_array_size(json_object_get(o, "workers")), 2);
	json_decref(o);

	/* Enough keys that loading them at 200 us each takes seconds. */
	for (i = 0; i < 20; i++)
		freeReplyObject(must_command(rf.c, "EVAL %s 0 %d",
		    "for i = 1, 1000 do redis.call('SET', 'filler:' .. "
		    "ARGV[1] .. ':' .. i, i) end", i));
	freeReplyObject(must_command(rf.c, "SAVE"));
	redis_fixture_kill(SIGKILL);
	redis_fixture_spawn_loading(slow_load);
	p = cli("health", NULL);
	ck_assert_msg(p->status == 1, "exit %d while loading: %s", p->status,
	    p->out);
	ck_assert_msg(strstr(p->err, "loading") != NULL, "%s", p->err);
	proc_free(p);
	ck_assert_ptr_nonnull(notify_wait("LOADING", 10000));
	p = health_until_ok("5s", 30000);
	ck_assert_msg(p->status == 0, "not healthy after loading: %s", p->err);
	proc_free(p);
}
END_TEST

/* Occurrences of needle in the daemon's log. */
static int
log_count(const char *needle)
{
	char *log = must_read_file(df.log, NULL), *p;
	int n = 0;

	for (p = log; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	free(log);
	return n;
}

/*
 * Each finished job gets an info line with its outcome and run time,
 * while they come at most 100 a second per process; past that they are
 * counted, and a line says how many were left out.
 */
START_TEST(test_finished_jobs_are_logged_up_to_a_rate)
{
	char id[REDJOB_ID_MAX], needle[REDJOB_ID_MAX + 64];
	int i, done;

	start_ready();
	enqueue("quick", "", id);
	ck_assert(wait_stat("default", "processed", 1, 10000));
	snprintf(needle, sizeof needle, "job %s queue=default type=quick: "
	    "done in ", id);
	ck_assert(daemon_wait_log(needle, 5000));

	for (i = 0; i < 2000; i++)
		enqueue("quick", "", id);
	ck_assert(wait_stat("default", "processed", 2001, 60000));
	ck_assert(daemon_wait_log("more job lines not logged (at most 100 a "
	    "second; redjob stats has the totals)", 5000));
	done = log_count("type=quick: done in ");
	ck_assert_msg(done < 2001, "%d lines for 2001 jobs", done);
	ck_assert_int_ge(done, 100);
}
END_TEST

/* --max-age is checked before Redis is asked. */
START_TEST(test_health_usage_errors)
{
	struct proc *p;

	p = cli("health", "--max-age", "soon", NULL);
	ck_assert_int_eq(p->status, 2);
	proc_free(p);
	p = cli("health", "--max-age", "0", NULL);
	ck_assert_int_eq(p->status, 2);
	proc_free(p);
	p = cli("health", "extra", NULL);
	ck_assert_int_eq(p->status, 2);
	proc_free(p);
	p = cli("workers", "--max-age", "1s", NULL);
	ck_assert_int_eq(p->status, 2);
	proc_free(p);
}
END_TEST

/* redjob why --json for id: its gate, after polling until it is want. */
static json_t *
why_gate(const char *id, const char *want)
{
	uint64_t end = testlib_now_ms() + 15000;
	json_t *o;

	for (;;) {
		o = cli_json(cli("why", "--json", id, NULL));
		if (strcmp(jstr(o, "gate"), want) == 0)
			return o;
		ck_assert_msg(testlib_now_ms() < end, "%s: gate %s, not %s: %s",
		    id, jstr(o, "gate"), want, jstr(o, "text"));
		json_decref(o);
		nap_ms(50);
	}
}

/* The human form: "ID: TEXT". */
static void
why_says(const char *id, const char *needle)
{
	struct proc *p = cli("why", id, NULL);

	ck_assert_msg(p->status == 0, "exit %d: %s", p->status, p->err);
	ck_assert_msg(strncmp(p->out, id, strlen(id)) == 0 &&
	    strstr(p->out, needle) != NULL, "%s", p->out);
	proc_free(p);
}

START_TEST(test_why_done)
{
	char id[REDJOB_ID_MAX];
	json_t *o;

	start_ready();
	enqueue("quick", "", id);
	ck_assert(wait_stat("default", "processed", 1, 10000));
	o = why_gate(id, "done");
	ck_assert_str_eq(jstr(o, "state"), "gone");
	json_decref(o);
	why_says(id, "finished");
}
END_TEST

START_TEST(test_why_no_such_job)
{
	struct proc *p;

	p = cli("why", "default:99", NULL);
	ck_assert_int_eq(p->status, 1);
	ck_assert_msg(strstr(p->err, "no job default:99") != NULL, "%s",
	    p->err);
	proc_free(p);
	p = cli("why", "not-an-id", NULL);
	ck_assert_int_eq(p->status, 2);
	proc_free(p);
}
END_TEST

START_TEST(test_why_dead)
{
	char id[REDJOB_ID_MAX];
	json_t *o;

	start_ready();
	enqueue("no_such_type", "", id);
	o = why_gate(id, "dead");
	ck_assert_msg(strstr(jstr(o, "error"), "unknown job type") != NULL,
	    "%s", jstr(o, "error"));
	ck_assert_int_gt(jint(o, "until"), 0);
	json_decref(o);
	why_says(id, "dead since");
}
END_TEST

START_TEST(test_why_running)
{
	char id[REDJOB_ID_MAX], host[256], want[300];
	pid_t pids[4];
	json_t *o;
	int n;

	start_ready();
	enqueue("nap", "30", id);
	o = why_gate(id, "running");
	ck_assert(gethostname(host, sizeof host) == 0);
	n = daemon_workers(pids, 4);
	ck_assert_int_eq(n, 2);
	ck_assert_msg(jint(o, "pid") == pids[0] || jint(o, "pid") == pids[1],
	    "pid %lld", jint(o, "pid"));
	snprintf(want, sizeof want, "%s:%lld", host, jint(o, "pid"));
	ck_assert_str_eq(jstr(o, "host"), want);
	ck_assert_int_eq(jint(o, "supervisor_pid"), df.proc->pid);
	ck_assert_int_gt(jint(o, "since"), 0);
	ck_assert_int_gt(jint(o, "lease"), jint(o, "since"));
	json_decref(o);
	why_says(id, "running on ");
}
END_TEST

START_TEST(test_why_limiter)
{
	char a[REDJOB_ID_MAX], b[REDJOB_ID_MAX];
	json_t *o;

	start_ready();
	enqueue("limited", "", a);
	ck_assert(wait_stat("default", "processed", 1, 10000));
	enqueue("limited", "", b);
	o = why_gate(b, "limiter");
	ck_assert_str_eq(jstr(o, "limiter"), "slowly");
	ck_assert_int_gt(jint(o, "until"), jint(o, "now") + 50 * 60000);
	json_decref(o);
	why_says(b, "limiter slowly refuses it until");
}
END_TEST

START_TEST(test_why_lock)
{
	char a[REDJOB_ID_MAX], b[REDJOB_ID_MAX];
	redisReply *fence;
	json_t *o, *l;

	start_ready();
	enqueue("locked", "30", a);
	json_decref(why_gate(a, "running"));
	enqueue("locked", "30", b);
	o = why_gate(b, "lock");
	ck_assert_str_eq(jstr(o, "lock"), "redjob:lock:{one}");
	l = json_object_get(o, "lock_info");
	ck_assert_ptr_nonnull(l);
	ck_assert_str_eq(jstr(l, "holder_job"), a);
	fence = must_command(rf.c, "GET redjob:lock:{one}:fence");
	ck_assert_str_eq(jstr(l, "fence"), fence->str);
	freeReplyObject(fence);
	ck_assert_int_eq(jint(l, "place"), 1);
	ck_assert_int_eq(jint(l, "waiters"), 1);
	ck_assert_int_gt(jint(l, "pttl"), 0);
	json_decref(o);
	why_says(b, "is held by job ");
}
END_TEST

START_TEST(test_why_retry)
{
	char id[REDJOB_ID_MAX];
	json_t *o;

	start_ready();
	enqueue("failing", "", id);
	o = why_gate(id, "retry");
	ck_assert_str_eq(jstr(o, "attempts"), "1");
	ck_assert_msg(strstr(jstr(o, "error"), "broken pipe") != NULL, "%s",
	    jstr(o, "error"));
	json_decref(o);
	why_says(id, "attempt 1 failed");
}
END_TEST

START_TEST(test_why_scheduled_and_paused)
{
	char a[REDJOB_ID_MAX], b[REDJOB_ID_MAX];
	struct proc *p;
	json_t *o;

	start_ready();
	enqueue_in(NULL, "quick", "", 3600000, a);
	o = why_gate(a, "scheduled");
	ck_assert_int_gt(jint(o, "until"), jint(o, "now") + 3500000);
	json_decref(o);
	why_says(a, "scheduled: due at");

	p = cli("pause", "mail", NULL);
	ck_assert_int_eq(p->status, 0);
	proc_free(p);
	enqueue_in("mail", "quick", "", 0, b);
	o = why_gate(b, "paused");
	json_decref(o);
	why_says(b, "is paused");
}
END_TEST

/* No daemon: the queue has no live worker. */
START_TEST(test_why_no_worker)
{
	char id[REDJOB_ID_MAX];
	json_t *o;

	enqueue_in("lonely", "quick", "", 0, id);
	o = why_gate(id, "no_worker");
	ck_assert_str_eq(jstr(o, "workers"), "0");
	json_decref(o);
	why_says(id, "no live worker serves queue lonely");
}
END_TEST

/*
 * A worker of another build (registered by hand, as redjob_beat writes
 * it) that knows other types: no live worker knows the job's; once one
 * does, the job is ready, waiting for a slot.
 */
START_TEST(test_why_no_type_then_ready)
{
	char a[REDJOB_ID_MAX], b[REDJOB_ID_MAX];
	json_t *o;

	freeReplyObject(must_command(rf.c, "FCALL redjob_beat 1 "
	    "redjob:{lonely} 0123456789abcdef 60000 otherhost:42 resize "
	    "thumbnail"));
	enqueue_in("lonely", "send_email", "", 0, a);
	o = why_gate(a, "no_type");
	ck_assert_str_eq(jstr(o, "workers"), "1");
	json_decref(o);
	why_says(a, "knows job type send_email");

	freeReplyObject(must_command(rf.c, "FCALL redjob_beat 1 "
	    "redjob:{lonely} fedcba9876543210 60000 otherhost:43 "
	    "send_email"));
	enqueue_in("lonely", "send_email", "", 0, b);
	o = why_gate(b, "ready");
	ck_assert_str_eq(jstr(o, "ahead"), "1");
	ck_assert_str_eq(jstr(o, "workers"), "2");
	json_decref(o);

	/* A worker's entry that expired no longer counts. */
	freeReplyObject(must_command(rf.c, "FCALL redjob_beat 1 "
	    "redjob:{lonely} fedcba9876543210 0"));
	o = why_gate(b, "no_type");
	json_decref(o);
}
END_TEST

/*
 * redjob rm of a running job: its worker stops the handler at its next
 * lease renewal, as redjob(1) says, and the slot is free again.
 */
START_TEST(test_rm_of_a_running_job_stops_its_handler)
{
	char id[REDJOB_ID_MAX], needle[REDJOB_ID_MAX + 128];
	struct proc *p;
	json_t *a, *w;
	uint64_t end;
	size_t i;
	long long busy;

	daemon_write_config(
	    "redis:\n"
	    "  url: %s\n"
	    "workers: 1\n"
	    "lease: 3s\n"
	    "jobs:\n"
	    "  nap:\n"
	    "    exec: [/bin/sh, -c, 'exec sleep $(cat)']\n", rf.url);
	daemon_start(NULL);
	ck_assert_ptr_nonnull(notify_wait("READY=1", 15000));
	enqueue("nap", "60", id);
	json_decref(why_gate(id, "running"));
	p = cli("rm", id, NULL);
	ck_assert_int_eq(p->status, 0);
	ck_assert_msg(strstr(p->out, "its worker stops its handler at its "
	    "next lease renewal") != NULL, "%s", p->out);
	proc_free(p);
	snprintf(needle, sizeof needle, "job %s: the lease was lost "
	    "(reclaimed or removed); stopping its handler", id);
	ck_assert(daemon_wait_log(needle, 5000));
	for (end = testlib_now_ms() + 10000;; nap_ms(100)) {
		a = cli_json(cli("workers", "--json", NULL));
		busy = 0;
		json_array_foreach(a, i, w)
			busy += jint(w, "busy");
		json_decref(a);
		if (busy == 0 || testlib_now_ms() > end)
			break;
	}
	ck_assert_int_eq(busy, 0);
}
END_TEST

/*
 * A type this daemon does not know yet (a producer deployed first) is
 * put back, not killed, until unknown_type_grace has passed since its
 * enqueue; why says so meanwhile; then it is dead with the reason.
 */
START_TEST(test_an_unknown_type_waits_out_its_grace)
{
	char id[REDJOB_ID_MAX], *err;
	json_t *o;

	grace = "3s";
	start_ready();
	enqueue("from_the_future", "", id);
	o = why_gate(id, "no_type");
	ck_assert_str_eq(jstr(o, "state"), "scheduled");
	json_decref(o);
	why_says(id, "no worker knew its type");
	ck_assert_int_ge(queue_stat("default", "unknown_type"), 1);
	ck_assert_int_eq(queue_stat("default", "dead"), 0);
	ck_assert(wait_stat("default", "dead", 1, 15000));
	err = daemon_job_field(id, "last_error");
	ck_assert_msg(strstr(err, "unknown job type \"from_the_future\"") !=
	    NULL && strstr(err, "unknown_type_grace") != NULL, "%s", err);
	free(err);
	ck_assert_int_eq(queue_stat("default", "failed"), 1);
}
END_TEST

START_TEST(test_why_orphan)
{
	char id[REDJOB_ID_MAX];
	json_t *o;

	enqueue_in("lonely", "quick", "", 0, id);
	freeReplyObject(must_command(rf.c, "DEL redjob:{lonely}:due"));
	o = why_gate(id, "orphan");
	json_decref(o);
}
END_TEST

Suite *
suite(void)
{
	Suite *s = suite_create("health");
	TCase *tc = tcase_create("daemon");
	TCase *why = tcase_create("why");

	tcase_set_timeout(tc, 90);
	tcase_add_unchecked_fixture(tc, redis_start, redis_stop);
	tcase_add_checked_fixture(tc, daemon_setup, daemon_teardown);
	tcase_add_test(tc, test_workers_lists_each_worker_and_its_running_job);
	tcase_add_test(tc, test_ps_shows_each_workers_role);
	tcase_add_test(tc, test_the_type_table_is_published);
	tcase_add_test(tc, test_workers_come_and_go_with_their_processes);
	tcase_add_test(tc, test_health_usage_errors);
	tcase_add_test(tc, test_finished_jobs_are_logged_up_to_a_rate);
	tcase_add_test(tc, test_health_fails_while_redis_loads_and_passes_after);
	suite_add_tcase(s, tc);

	tcase_set_timeout(why, 60);
	tcase_add_unchecked_fixture(why, redis_start, redis_stop);
	tcase_add_checked_fixture(why, daemon_setup, daemon_teardown);
	tcase_add_test(why, test_why_done);
	tcase_add_test(why, test_why_no_such_job);
	tcase_add_test(why, test_why_dead);
	tcase_add_test(why, test_why_running);
	tcase_add_test(why, test_why_limiter);
	tcase_add_test(why, test_why_lock);
	tcase_add_test(why, test_why_retry);
	tcase_add_test(why, test_why_scheduled_and_paused);
	tcase_add_test(why, test_why_no_worker);
	tcase_add_test(why, test_why_no_type_then_ready);
	tcase_add_test(why, test_why_orphan);
	tcase_add_test(why, test_an_unknown_type_waits_out_its_grace);
	tcase_add_test(why, test_rm_of_a_running_job_stops_its_handler);
	suite_add_tcase(s, why);
	return s;
}
