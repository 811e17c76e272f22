/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The worker's parts, in-process: the choice of queue (pick.c), the
 * decoding of a claimed job and the judgement of a handler's outcome
 * (job.c), and a whole worker driven by this test through its channel
 * against a real redis-server.
 */
#include "autoconf.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <pthread.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "channel.h"
#include "config.h"
#include "handler_exec.h"
#include "job.h"
#include "lock.h"
#include "mtime.h"
#include "rconn.h"
#include "proc.h"
#include "redis_fixture.h"
#include "pick.h"
#include "testlib.h"
#include "worker.h"

/* ---------------------------------------------------------------------
 * pick.c
 */

START_TEST(test_pick_picks_by_weight_smoothly)
{
	static const unsigned weights[] = { 3, 1 };
	/* nginx's smooth round robin for 3:1: a a b a, again and again. */
	static const size_t want[] = { 0, 0, 1, 0, 0, 0, 1, 0 };
	struct pick *s = pick_create(weights, NULL, 2);
	size_t i;

	for (i = 0; i < sizeof want / sizeof want[0]; i++)
		ck_assert_uint_eq(pick_next(s, 1000 + i, 0), want[i]);
	pick_free(s);
}
END_TEST

START_TEST(test_pick_picks_only_queues_with_work_due)
{
	static const unsigned weights[] = { 1, 1 };
	struct pick *s = pick_create(weights, NULL, 2);

	ck_assert_uint_eq(pick_earliest(s), 0);
	pick_due(s, 0, 5000);
	pick_due(s, 1, PICK_NEVER);
	ck_assert_uint_eq(pick_earliest(s), 5000);
	/* Idle: nothing is due before 5000, not even a millisecond before. */
	ck_assert_uint_eq(pick_next(s, 4999, 0), (size_t)-1);
	ck_assert_uint_eq(pick_next(s, 5000, 0), 0);
	pick_due(s, 0, PICK_NEVER);
	ck_assert_uint_eq(pick_earliest(s), PICK_NEVER);
	ck_assert_uint_eq(pick_next(s, 6000, 0), (size_t)-1);
	pick_due_all(s);
	ck_assert_uint_eq(pick_earliest(s), 0);
	pick_free(s);
}
END_TEST

START_TEST(test_pick_busy_worker_looks_again_every_250ms)
{
	static const unsigned weights[] = { 1, 1 };
	struct pick *s = pick_create(weights, NULL, 2);

	/* Both believed idle; a busy worker still looks at each. */
	pick_due(s, 0, PICK_NEVER);
	pick_due(s, 1, PICK_NEVER);
	ck_assert_uint_eq(pick_next(s, 1000, 1), 0);
	ck_assert_uint_eq(pick_next(s, 1000, 1), 1);
	/* Within 250 ms of the last look, neither is a candidate. */
	ck_assert_uint_eq(pick_next(s, 1249, 1), (size_t)-1);
	ck_assert_uint_ne(pick_next(s, 1250, 1), (size_t)-1);
	/* Idle: the markers tell; no look at all. */
	ck_assert_uint_eq(pick_next(s, 9000, 0), (size_t)-1);
	pick_free(s);
}
END_TEST

/* ---------------------------------------------------------------------
 * job.c
 */

/* A claim reply entry of 8 elements, strings unless types says 'i'/'n'. */
struct fake_entry {
	redisReply	 top;
	redisReply	 el[8];
	redisReply	*ptrs[8];
};

static void
fake_entry(struct fake_entry *f, const char *const v[8], const char *types)
{
	size_t i;

	memset(f, 0, sizeof *f);
	f->top.type = REDIS_REPLY_ARRAY;
	f->top.elements = 8;
	f->top.element = f->ptrs;
	for (i = 0; i < 8; i++) {
		f->ptrs[i] = &f->el[i];
		switch (types != NULL ? types[i] : 's') {
		case 'i':
			f->el[i].type = REDIS_REPLY_INTEGER;
			f->el[i].integer = atoll(v[i]);
			break;
		case 'n':
			f->el[i].type = REDIS_REPLY_NIL;
			break;
		default:
			/* Allocated, as hiredis does: the payload is taken. */
			f->el[i].type = REDIS_REPLY_STRING;
			f->el[i].str = strdup(v[i]);
			f->el[i].len = strlen(v[i]);
			break;
		}
	}
}

/* Make field i of the entry these len bytes (allocated, as hiredis does). */
static void
fake_set(struct fake_entry *f, size_t i, const char *s, size_t len)
{
	free(f->el[i].str);
	f->el[i].str = malloc(len + 1);
	ck_assert_ptr_nonnull(f->el[i].str);
	memcpy(f->el[i].str, s, len);
	f->el[i].str[len] = '\0';
	f->el[i].len = len;
}

/* Free the strings job_decode() left in the entry. */
static void
fake_entry_free(struct fake_entry *f)
{
	size_t i;

	for (i = 0; i < 8; i++) {
		if (f->el[i].type == REDIS_REPLY_STRING)
			free(f->el[i].str);
	}
}

START_TEST(test_job_decode_reads_every_field)
{
	static const char *const v[8] = { "mail:7", "send", "{\"a\":1}",
	    "user:1", "2", "5", "0", "1700000000000" };
	struct fake_entry f;
	struct job *j;
	char *cause, *payload;

	fake_entry(&f, v, NULL);
	payload = f.el[2].str;
	j = job_decode(&f.top, "0123456789abcdef", &cause);
	ck_assert_ptr_nonnull(j);
	ck_assert_ptr_null(cause);
	/* The payload is the reply's own string, taken, not a copy. */
	ck_assert_ptr_eq(j->payload, payload);
	ck_assert_ptr_null(f.el[2].str);
	ck_assert_str_eq(j->id, "mail:7");
	ck_assert_str_eq(j->type, "send");
	ck_assert_uint_eq(j->payload_len, 7);
	ck_assert_mem_eq(j->payload, "{\"a\":1}", 7);
	ck_assert_str_eq(j->key, "user:1");
	ck_assert_str_eq(j->token, "0123456789abcdef");
	ck_assert_uint_eq(j->attempts, 2);
	ck_assert_uint_eq(j->max_attempts, 5);
	job_free(j);

	/* An empty key is no key; counts may come as integers. */
	fake_entry_free(&f);
	fake_entry(&f, (const char *const[8]){ "q:1", "t", "", "", "0", "0",
	    "0", "1" }, "ssssiiis");
	j = job_decode(&f.top, "0123456789abcdef", &cause);
	ck_assert_ptr_null(cause);
	ck_assert_ptr_null(j->key);
	ck_assert_uint_eq(j->payload_len, 0);
	job_free(j);
	fake_entry_free(&f);
}
END_TEST

/*
 * A brief row, {N, PACKED}: the packed string becomes the payload; the
 * due time is after the enqueue time, or is the enqueue time.
 */
START_TEST(test_job_decode_brief_reads_the_packed_job)
{
	static const char packed[] = "send\0" "1700000000123 1700000000500\0"
	    "{\"a\":\0}";
	static const char now[] = "send\0" "1700000000123\0" "x";
	struct fake_entry f;
	struct {
		redisReply	 top, el[2], *ptrs[2];
	} answer;
	redisReply *saved;
	struct job *j;
	char *cause, *buf, granted[] = "granted", fence[] = "17";

	fake_entry(&f, (const char *const[8]){ "42", "", "", "", "", "", "",
	    "" }, NULL);
	f.top.elements = 2;
	fake_set(&f, 1, packed, sizeof packed - 1);
	buf = f.el[1].str;
	j = job_decode_brief(&f.top, "mail~3}", 6, "0123456789abcdef", &cause);
	ck_assert_ptr_nonnull(j);
	ck_assert_ptr_null(cause);
	ck_assert_str_eq(j->id, "mail~3:42");
	ck_assert_str_eq(j->type, "send");
	ck_assert_str_eq(j->token, "0123456789abcdef");
	ck_assert_int_eq(j->created_ms, 1700000000123LL);
	ck_assert_int_eq(j->due_ms, 1700000000500LL);
	/* Taken, not copied, and the payload's NUL survives. */
	ck_assert_ptr_eq(j->payload, buf);
	ck_assert_ptr_null(f.el[1].str);
	ck_assert_uint_eq(j->payload_len, 7);
	ck_assert_mem_eq(j->payload, "{\"a\":\0}", 7);
	ck_assert_int_eq(j->payload[7], '\0');
	ck_assert_ptr_null(j->key);
	ck_assert_uint_eq(j->attempts, 0);
	ck_assert_uint_eq(j->max_attempts, 0);
	job_free(j);

	/* Due at its enqueue. */
	fake_set(&f, 1, now, sizeof now - 1);
	j = job_decode_brief(&f.top, "q", 1, "tok12345", &cause);
	ck_assert_ptr_null(cause);
	ck_assert_int_eq(j->due_ms, 1700000000123LL);
	ck_assert_uint_eq(j->payload_len, 1);
	ck_assert_int_eq(j->guard.res, JOB_GUARD_NONE);
	job_free(j);

	/* With the answer of its guards, third. */
	fake_set(&f, 1, now, sizeof now - 1);
	memset(&answer, 0, sizeof answer);
	answer.top.type = REDIS_REPLY_ARRAY;
	answer.top.elements = 2;
	answer.top.element = answer.ptrs;
	answer.ptrs[0] = &answer.el[0];
	answer.ptrs[1] = &answer.el[1];
	answer.el[0].type = answer.el[1].type = REDIS_REPLY_STRING;
	answer.el[0].str = granted;
	answer.el[0].len = 7;
	answer.el[1].str = fence;
	answer.el[1].len = 2;
	f.top.elements = 3;
	saved = f.ptrs[2];
	f.ptrs[2] = &answer.top;
	j = job_decode_brief(&f.top, "q", 1, "tok12345", &cause);
	ck_assert_ptr_null(cause);
	ck_assert_int_eq(j->guard.res, JOB_GUARD_GRANTED);
	ck_assert_str_eq(j->guard.text, "17");
	job_free(j);
	f.ptrs[2] = saved;
	f.top.elements = 2;

	/* No usable number: nothing to act on. */
	fake_set(&f, 0, "4x", 2);
	fake_set(&f, 1, packed, sizeof packed - 1);
	ck_assert_ptr_null(job_decode_brief(&f.top, "q", 1, "tok12345",
	    &cause));
	ck_assert_str_eq(cause, "malformed job entry in the claim reply");
	free(cause);

	/* Known, but not TYPE NUL CREATED NUL PAYLOAD: failed for good. */
	fake_set(&f, 0, "5", 1);
	fake_set(&f, 1, "send\0" "17", 7);
	j = job_decode_brief(&f.top, "q", 1, "tok12345", &cause);
	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(j->id, "q:5");
	ck_assert_str_eq(j->type, "?");
	ck_assert_ptr_nonnull(cause);
	ck_assert_ptr_nonnull(strstr(cause, "packed fields"));
	free(cause);
	job_free(j);
	f.top.elements = 8;
	fake_entry_free(&f);
}
END_TEST

START_TEST(test_job_decode_refuses_what_is_not_a_job)
{
	static const char *const v[8] = { "q:1", "t", "p", "", "0", "0", "0",
	    "1" };
	struct fake_entry f;
	struct job *j;
	char *cause;

	/* No id: nothing to act on. */
	fake_entry(&f, v, "nsssssss");
	ck_assert_ptr_null(job_decode(&f.top, "tok12345", &cause));
	ck_assert_str_eq(cause, "malformed job entry in the claim reply");
	free(cause);
	fake_entry_free(&f);
	fake_entry(&f, v, NULL);
	f.top.elements = 7;
	ck_assert_ptr_null(job_decode(&f.top, "tok12345", &cause));
	free(cause);

	/* Known, but broken: failed for good with the field named. */
	fake_entry_free(&f);
	fake_entry(&f, v, "snssssss");
	j = job_decode(&f.top, "tok12345", &cause);
	ck_assert_str_eq(j->id, "q:1");
	ck_assert_str_eq(j->type, "?");
	ck_assert_str_eq(cause, "malformed job: its type is missing or not "
	    "of its type");
	free(cause);
	job_free(j);
	fake_entry_free(&f);
	fake_entry(&f, v, "ssnsssss");
	j = job_decode(&f.top, "tok12345", &cause);
	ck_assert_str_eq(cause, "malformed job: its payload is missing or "
	    "not of its type");
	free(cause);
	job_free(j);
	fake_entry_free(&f);
	fake_entry(&f, (const char *const[8]){ "q:1", "t", "p", "", "x1", "0",
	    "0", "1" }, NULL);
	j = job_decode(&f.top, "tok12345", &cause);
	ck_assert_str_eq(cause, "malformed job: its attempts is missing or "
	    "not of its type");
	free(cause);
	job_free(j);
	fake_entry_free(&f);
	fake_entry(&f, (const char *const[8]){ "q:1", "t", "p", "", "0", "-1",
	    "0", "1" }, "ssssiiss");
	j = job_decode(&f.top, "tok12345", &cause);
	ck_assert_str_eq(cause, "malformed job: its max_attempts is missing "
	    "or not of its type");
	free(cause);
	job_free(j);
	fake_entry_free(&f);

	/*
	 * Text with a NUL byte would be cut short, naming another job,
	 * type or lock (found by tests/fuzz/fuzz_job.c): an id so is no id,
	 * a type or key so makes the job malformed. A payload is bytes.
	 */
	fake_entry(&f, v, NULL);
	fake_set(&f, 0, "q:1\0x", 5);
	ck_assert_ptr_null(job_decode(&f.top, "tok12345", &cause));
	ck_assert_str_eq(cause, "malformed job entry in the claim reply: its "
	    "id holds a NUL byte");
	free(cause);
	fake_entry_free(&f);
	fake_entry(&f, v, NULL);
	fake_set(&f, 1, "t\0x", 3);
	j = job_decode(&f.top, "tok12345", &cause);
	ck_assert_str_eq(j->type, "?");
	ck_assert_str_eq(cause, "malformed job: its type holds a NUL byte");
	free(cause);
	job_free(j);
	fake_entry_free(&f);
	fake_entry(&f, v, NULL);
	fake_set(&f, 3, "user:1\0x", 8);
	j = job_decode(&f.top, "tok12345", &cause);
	ck_assert_ptr_null(j->key);
	ck_assert_str_eq(cause, "malformed job: its key holds a NUL byte");
	free(cause);
	job_free(j);
	fake_entry_free(&f);
	fake_entry(&f, v, NULL);
	fake_set(&f, 2, "p\0q", 3);
	j = job_decode(&f.top, "tok12345", &cause);
	ck_assert_ptr_null(cause);
	ck_assert_uint_eq(j->payload_len, 3);
	ck_assert_mem_eq(j->payload, "p\0q", 3);
	job_free(j);
	fake_entry_free(&f);
}
END_TEST

static enum job_verdict
judge(int plugin, enum handler_outcome o, int status, const char *tail,
    int lock_lost, char **msg)
{
	static struct job_conf jc;
	struct handler_result res;
	struct job j;

	memset(&j, 0, sizeof j);
	memset(&res, 0, sizeof res);
	jc.timeout_ms = 90000;
	j.id = (char *)"q:1";
	j.queue = "q";
	j.type = (char *)"t";
	j.jc = &jc;
	j.plugin = plugin;
	res.outcome = o;
	res.status = status;
	res.stderr_tail = tail;
	res.stderr_len = strlen(tail);
	return job_judge(&j, &res, lock_lost, "ns:lock:{x}", msg);
}

START_TEST(test_job_judge_maps_every_outcome)
{
	char *m;

	ck_assert_int_eq(judge(0, HANDLER_EXITED, 0, "noise", 0, &m),
	    JOB_VERDICT_DONE);
	ck_assert_ptr_null(m);
	/* Success wins over a lock lost at the very end. */
	ck_assert_int_eq(judge(0, HANDLER_EXITED, 0, "", 1, &m),
	    JOB_VERDICT_DONE);
	ck_assert_int_eq(judge(0, HANDLER_EXITED, EX_DATAERR, "bad input\n", 0,
	    &m), JOB_VERDICT_DEAD);
	ck_assert_str_eq(m, "permanent failure (exit 65): bad input\n");
	free(m);
	ck_assert_int_eq(judge(1, HANDLER_EXITED, EX_DATAERR, "", 0, &m),
	    JOB_VERDICT_DEAD);
	ck_assert_str_eq(m, "permanent failure (returned 65)");
	free(m);
	ck_assert_int_eq(judge(0, HANDLER_EXITED, 3, "boom", 0, &m),
	    JOB_VERDICT_RETRY);
	ck_assert_str_eq(m, "exit 3: boom");
	free(m);
	ck_assert_int_eq(judge(1, HANDLER_EXITED, 1, "", 0, &m),
	    JOB_VERDICT_RETRY);
	ck_assert_str_eq(m, "returned 1");
	free(m);
	ck_assert_int_eq(judge(0, HANDLER_SIGNALED, SIGKILL, "", 0, &m),
	    JOB_VERDICT_RETRY);
	ck_assert_str_eq(m, "killed by signal 9 (Killed)");
	free(m);
	ck_assert_int_eq(judge(0, HANDLER_TIMEOUT, SIGTERM, "slow", 0, &m),
	    JOB_VERDICT_RETRY);
	ck_assert_str_eq(m, "timed out after 1m30s: slow");
	free(m);
	ck_assert_int_eq(judge(0, HANDLER_STOPPED, SIGTERM, "", 0, &m),
	    JOB_VERDICT_REQUEUE);
	ck_assert_ptr_null(m);
	/* A lost lock turns a stop or a failure into "lock lost": back. */
	ck_assert_int_eq(judge(0, HANDLER_STOPPED, SIGTERM, "", 1, &m),
	    JOB_VERDICT_LOCK_LOST);
	ck_assert_str_eq(m, "lock lost: ns:lock:{x} was taken from this job "
	    "while its handler ran (it expired or was deleted)");
	free(m);
	ck_assert_int_eq(judge(0, HANDLER_EXITED, EX_DATAERR, "", 1, &m),
	    JOB_VERDICT_LOCK_LOST);
	free(m);
	/* A setup step that failed may work next time... */
	ck_assert_int_eq(judge(0, HANDLER_EXEC_FAILED, EMFILE,
	    "child setup: Too many open files", 0, &m), JOB_VERDICT_RETRY);
	ck_assert_str_eq(m, "child setup: Too many open files");
	free(m);
}
END_TEST

/* ... but a program or directory that is gone is the configuration's. */
START_TEST(test_job_judge_spawn_failure_is_a_configuration_error)
{
	static struct job_conf jc;
	struct handler_result res;
	struct job j;
	char *m;

	memset(&j, 0, sizeof j);
	memset(&res, 0, sizeof res);
	j.id = (char *)"q:1";
	j.queue = "q";
	j.type = (char *)"t";
	j.jc = &jc;
	res.outcome = HANDLER_EXEC_FAILED;
	res.status = ENOENT;
	res.stderr_tail = "exec /nope: No such file or directory";
	res.stderr_len = strlen(res.stderr_tail);
	res.exec_path = "/nope";
	ck_assert_int_eq(job_judge(&j, &res, 0, NULL, &m), JOB_VERDICT_CONFIG);
	ck_assert_str_eq(m, "spawn failed: No such file or directory: /nope");
	free(m);
	res.status = EACCES;
	res.exec_path = "/srv/gone";
	res.exec_chdir = 1;
	ck_assert_int_eq(job_judge(&j, &res, 0, NULL, &m), JOB_VERDICT_CONFIG);
	ck_assert_str_eq(m, "spawn failed: chdir: Permission denied: /srv/gone");
	free(m);
}
END_TEST

START_TEST(test_job_judge_keeps_the_reason_of_a_long_error)
{
	static char tail[HANDLER_EXEC_TAIL + 1];
	char *m;

	memset(tail, 'x', HANDLER_EXEC_TAIL);
	tail[0] = 'A';
	tail[HANDLER_EXEC_TAIL - 1] = 'Z';
	ck_assert_int_eq(judge(0, HANDLER_EXITED, 3, tail, 0, &m),
	    JOB_VERDICT_RETRY);
	/* What redjob_fail keeps, its reason first and the tail's end. */
	ck_assert_uint_eq(strlen(m), JOB_ERROR_MAX);
	ck_assert_int_eq(strncmp(m, "exit 3: ...xx", 13), 0);
	ck_assert_int_eq(m[JOB_ERROR_MAX - 1], 'Z');
	free(m);
	ck_assert_int_eq(judge(0, HANDLER_EXITED, EX_DATAERR, tail, 0, &m),
	    JOB_VERDICT_DEAD);
	ck_assert_uint_eq(strlen(m), JOB_ERROR_MAX);
	ck_assert_int_eq(strncmp(m, "permanent failure (exit 65): ...", 32), 0);
	free(m);
	/* A short one is left alone. */
	tail[100] = '\0';
	ck_assert_int_eq(judge(0, HANDLER_EXITED, 3, tail, 0, &m),
	    JOB_VERDICT_RETRY);
	ck_assert_uint_eq(strlen(m), 8 + 100);
	ck_assert_int_eq(strncmp(m, "exit 3: A", 9), 0);
	free(m);
}
END_TEST

/* ---------------------------------------------------------------------
 * lock.c, on a real connection.
 */

struct lock_probe {
	struct event_base	*base;
	enum lock_event		 last;
	int			 events;
	uint64_t		 lost_at;
	char			 why[256];
};

static void
lock_probe_cb(struct lock *l, enum lock_event ev, const char *why,
    enum rfunc_class class, void *arg)
{
	struct lock_probe *p = arg;

	(void)l;
	(void)class;
	p->last = ev;
	p->events++;
	snprintf(p->why, sizeof p->why, "%s", why);
	if (ev == LOCK_LOST)
		p->lost_at = testlib_now_ms();
	if (ev != LOCK_RENEW_FAILED)
		event_base_loopbreak(p->base);
}

static void
lock_probe_ready_cb(struct rconn *rc, void *arg)
{
	(void)rc;
	event_base_loopbreak(arg);
}

/* Run the loop until the probe's callback breaks it or ms pass. */
static void
lock_probe_run(struct lock_probe *p, uint64_t ms)
{
	struct timeval tv = mtime_tv(ms);

	event_base_loopexit(p->base, &tv);
	event_base_dispatch(p->base);
}

static struct rconn *
lock_probe_connect(struct lock_probe *p)
{
	struct rconn_opts o;
	struct rconn *rc;
	char *cause = NULL;

	memset(&o, 0, sizeof o);
	o.url = rf.url;
	o.name = "lock-test";
	o.load_library = 1;
	o.on_ready = lock_probe_ready_cb;
	o.arg = p->base;
	rc = rconn_create(p->base, &o, &cause);
	ck_assert_msg(rc != NULL, "%s", cause);
	lock_probe_run(p, 5000);
	ck_assert_int_eq(rconn_ready(rc), 1);
	return rc;
}

/*
 * Start a probe with its own loop and connection, and take the lock key
 * with ttl_ms through it. Returns the lock; *rc is the connection.
 */
static struct lock *
lock_probe_take(struct lock_probe *p, struct rconn **rc, const char *key,
    uint64_t ttl_ms)
{
	struct lock *l;

	memset(p, 0, sizeof *p);
	p->base = event_base_new();
	*rc = lock_probe_connect(p);
	l = lock_create(p->base, *rc, key, ttl_ms, 5000, lock_probe_cb, p);
	ck_assert_int_eq(lock_acquire(l), 0);
	lock_probe_run(p, 5000);
	ck_assert_int_eq(p->last, LOCK_TAKEN);
	return l;
}

START_TEST(test_lock_is_taken_fenced_renewed_and_refused_to_others)
{
	struct lock_probe p, q;
	struct rconn *rc;
	struct lock *a, *b;
	redisReply *r;
	unsigned long long fence;

	a = lock_probe_take(&p, &rc, "t:lock:{x}", 1000);
	ck_assert_int_eq(lock_held(a), 1);
	ck_assert_ptr_nonnull(lock_fence(a));
	fence = strtoull(lock_fence(a), NULL, 10);
	ck_assert_uint_gt(fence, 0);
	q = p;
	b = lock_create(p.base, rc, "t:lock:{x}", 1000, 5000, lock_probe_cb,
	    &q);
	ck_assert_int_eq(lock_acquire(b), 0);
	lock_probe_run(&q, 5000);
	ck_assert_int_eq(q.last, LOCK_BUSY);
	ck_assert_int_gt(lock_pttl(b), 0);
	ck_assert_int_le(lock_pttl(b), 1000);
	/* Three TTLs later it is still ours: renewals kept it. */
	p.events = 0;
	lock_probe_run(&p, 3000);
	ck_assert_int_eq(p.events, 0);
	ck_assert_int_eq(lock_held(a), 1);
	r = must_command(rf.c, "GET t:lock:{x}");
	ck_assert_str_eq(r->str, lock_token(a));
	freeReplyObject(r);
	/* Released: the other may have it, with a larger fence. */
	lock_release(a);
	lock_free(a);
	lock_free(b);
	b = lock_create(p.base, rc, "t:lock:{x}", 1000, 5000, lock_probe_cb,
	    &q);
	ck_assert_int_eq(lock_acquire(b), 0);
	lock_probe_run(&q, 5000);
	ck_assert_int_eq(q.last, LOCK_TAKEN);
	ck_assert_uint_gt(strtoull(lock_fence(b), NULL, 10), fence);
	lock_free(b);
	rconn_free(rc);
	event_base_free(p.base);
}
END_TEST

START_TEST(test_lock_deleted_under_its_holder_is_lost_at_the_next_renewal)
{
	struct lock_probe p;
	struct rconn *rc;
	struct lock *a;
	uint64_t t0;

	a = lock_probe_take(&p, &rc, "t:lock:{y}", 900);
	must_int(rf.c, "DEL t:lock:{y}");
	t0 = testlib_now_ms();
	lock_probe_run(&p, 5000);
	ck_assert_int_eq(p.last, LOCK_LOST);
	ck_assert_str_eq(p.why, "redis no longer holds our token (the lock "
	    "expired or was deleted, or another holder has it)");
	/* Renewals come every third of the TTL. */
	ck_assert_uint_le(p.lost_at - t0, 300 + 100);
	ck_assert_int_eq(lock_held(a), 0);
	lock_free(a);
	rconn_free(rc);
	event_base_free(p.base);
}
END_TEST

START_TEST(test_lock_unreachable_redis_is_lost_before_its_ttl_ends)
{
	struct lock_probe p;
	struct rconn *rc;
	struct lock *a;
	uint64_t taken;
	int guard;

	a = lock_probe_take(&p, &rc, "t:lock:{z}", 1000);
	taken = testlib_now_ms();
	/* Valid for the TTL less a tenth from when it was asked for. */
	ck_assert_uint_le(lock_valid_until(a), taken + 900);
	ck_assert_uint_gt(lock_valid_until(a) + 100, taken + 900);
	/* Redis stops answering; the lock must count itself lost by our
	 * own clock before Redis could let another holder have it. */
	guard = redis_fixture_pause();
	lock_probe_run(&p, 5000);
	redis_fixture_resume(guard);
	ck_assert_int_eq(p.last, LOCK_LOST);
	ck_assert_msg(strncmp(p.why, "not renewed within its TTL", 26) == 0,
	    "why: %s", p.why);
	/*
	 * At the validity it counted, the TTL less a tenth from when the
	 * grant was asked for (libevent's cached clock may fire it a few ms
	 * early, which is the safe side), and before the TTL itself.
	 */
	ck_assert_uint_ge(p.lost_at + 50, lock_valid_until(a));
	ck_assert_uint_lt(p.lost_at - taken, 1000);
	lock_free(a);
	rconn_free(rc);
	event_base_free(p.base);
}
END_TEST

/* ---------------------------------------------------------------------
 * A whole worker, in this process.
 */

/* The processed count of a queue's stats; 0 before the first. */
static long long
processed(const char *base)
{
	redisReply *r;
	long long n;

	r = redisCommand(rf.c, "HGET %s:stats processed", base);
	ck_assert_ptr_nonnull(r);
	ck_assert_msg(r->type == REDIS_REPLY_NIL ||
	    r->type == REDIS_REPLY_STRING, "HGET: type %d", r->type);
	n = r->type == REDIS_REPLY_NIL ? 0 : atoll(r->str);
	freeReplyObject(r);
	return n;
}

struct worker_thread {
	struct worker	*w;
	int		 status;
};

static void *
worker_thread_main(void *arg)
{
	struct worker_thread *t = arg;

	t->status = worker_run(t->w);
	return NULL;
}

START_TEST(test_worker_in_process_runs_jobs_and_stops_on_request)
{
	struct worker_thread t;
	struct config *cfg;
	struct diags d = { NULL, 0 };
	pthread_t th;
	char path[4096], out[4096], line[64];
	FILE *fp;
	uint64_t deadline;
	size_t n;
	int sp[2];

	snprintf(path, sizeof path, "%s/w.yml", rf.dir);
	snprintf(out, sizeof out, "%s/ran", rf.dir);
	fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fprintf(fp, "redis: { url: \"%s\", namespace: inproc }\n"
	    "workers: 1\nconcurrency: 2\nqueues: { default: 1 }\n"
	    "jobs:\n  t: { exec: [/bin/sh, -c, \"cat >> %s\"] }\n", rf.url,
	    out);
	fclose(fp);
	cfg = config_load(path, &d);
	ck_assert_msg(cfg != NULL, "config: %s", d.n > 0 ? d.v[0].msg : "?");
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp), 0);

	t.w = worker_create(cfg, 0, sp[1], NULL);
	t.status = -1;
	ck_assert_int_eq(pthread_create(&th, NULL, worker_thread_main, &t), 0);

	freeReplyObject(must_command(rf.c, "FCALL redjob_enqueue 1 "
	    "inproc:{default} t one"));
	freeReplyObject(must_command(rf.c, "FCALL redjob_enqueue 1 "
	    "inproc:{default} t two"));
	deadline = testlib_now_ms() + 10000;
	while (testlib_now_ms() < deadline) {
		if (processed("inproc:{default}") == 2)
			break;
		usleep(10000);
	}
	ck_assert_int_eq(processed("inproc:{default}"), 2);
	ck_assert_int_eq(must_int(rf.c, "ZCARD inproc:{default}:run"), 0);
	ck_assert_int_eq(channel_send(sp[0], "STOP"), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(t.status, 0);
	worker_free(t.w);
	close(sp[0]);
	close(sp[1]);
	config_free(cfg);
	/* Each handler ran once, with its own payload on its stdin. */
	fp = fopen(out, "r");
	ck_assert_ptr_nonnull(fp);
	n = fread(line, 1, sizeof line - 1, fp);
	fclose(fp);
	line[n] = '\0';
	ck_assert_msg(strcmp(line, "onetwo") == 0 ||
	    strcmp(line, "twoone") == 0, "the handlers wrote \"%s\"", line);
}
END_TEST

/*
 * A worker in this process on the configuration in text (the fixture's
 * redis: is prepended; namespace inproc, queue default), with its log
 * (our stderr) going to a file until inproc_stop().
 */
struct inproc {
	struct worker_thread	 t;
	struct config		*cfg;
	pthread_t		 th;
	int			 sp[2];
	int			 saved_err;
	char			 log[4096];
};

static void
inproc_load(struct inproc *ip, const char *text)
{
	struct diags d = { NULL, 0 };
	char path[4096];
	FILE *fp;

	memset(ip, 0, sizeof *ip);
	snprintf(path, sizeof path, "%s/w.yml", rf.dir);
	fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fprintf(fp, "redis: { url: \"%s\", namespace: inproc }\n"
	    "workers: 1\nconcurrency: 4\nqueues: { default: 1 }\n%s", rf.url,
	    text);
	fclose(fp);
	ip->cfg = config_load(path, &d);
	ck_assert_msg(ip->cfg != NULL, "config: %s", d.n > 0 ? d.v[0].msg :
	    "?");
}

static void
inproc_start(struct inproc *ip)
{
	int fd;

	snprintf(ip->log, sizeof ip->log, "%s/worker.log", rf.dir);
	fflush(stderr);
	ck_assert_int_ge(ip->saved_err = dup(2), 0);
	fd = open(ip->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(dup2(fd, 2), 2);
	close(fd);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, ip->sp), 0);
	ip->t.w = worker_create(ip->cfg, 0, ip->sp[1], NULL);
	ip->t.status = -1;
	ck_assert_int_eq(pthread_create(&ip->th, NULL, worker_thread_main,
	    &ip->t), 0);
}

/* Stop the worker; its log, caller frees. */
static char *
inproc_stop(struct inproc *ip)
{
	ck_assert_int_eq(channel_send(ip->sp[0], "STOP"), 0);
	ck_assert_int_eq(pthread_join(ip->th, NULL), 0);
	ck_assert_int_eq(ip->t.status, 0);
	worker_free(ip->t.w);
	close(ip->sp[0]);
	close(ip->sp[1]);
	config_free(ip->cfg);
	fflush(stderr);
	ck_assert_int_eq(dup2(ip->saved_err, 2), 2);
	close(ip->saved_err);
	return must_read_file(ip->log, NULL);
}

/* Lines of log containing needle. */
static unsigned
count_lines(const char *log, const char *needle)
{
	const char *p, *nl;
	unsigned n = 0;

	for (p = log; *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			nl = p + strlen(p) - 1;
		if (memmem(p, (size_t)(nl - p), needle, strlen(needle)) !=
		    NULL)
			n++;
	}
	return n;
}

/* Wait until ZCARD key is n (at most 20 s). */
static void
wait_zcard(const char *key, long long n)
{
	uint64_t deadline = testlib_now_ms() + 20000;

	while (testlib_now_ms() < deadline &&
	    must_int(rf.c, "ZCARD %s", key) != n)
		usleep(10000);
	ck_assert_int_eq(must_int(rf.c, "ZCARD %s", key), n);
}

/* Field f of job inproc:{default}:j:N; caller frees. */
static char *
job_field(int n, const char *f)
{
	redisReply *r;
	char *v;

	r = must_command(rf.c, "HGET inproc:{default}:j:%d %s", n, f);
	v = strdup(r->type == REDIS_REPLY_STRING ? r->str : "(nil)");
	freeReplyObject(r);
	return v;
}

#define CONFIG_JOBS 20

/*
 * The jobs the configuration-error lines of log account for: one for
 * each line naming a job, plus the N of each "N more since the last
 * report".
 */
static unsigned
config_errors_told(const char *log)
{
	const char *p, *nl, *m, *d;
	unsigned n = 0;
	size_t len;

	for (p = log; *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			nl = p + strlen(p) - 1;
		len = (size_t)(nl - p);
		if (memmem(p, len, "configuration error: ", 21) == NULL)
			continue;
		if (memmem(p, len, "; the job is dead", 17) != NULL)
			n++;
		m = memmem(p, len, " more since the last report", 27);
		if (m == NULL)
			continue;
		for (d = m; d > p && d[-1] >= '0' && d[-1] <= '9'; d--)
			;
		n += (unsigned)strtoul(d, NULL, 10);
	}
	return n;
}

/*
 * The jobs of a configuration error all end dead after one attempt with
 * want as last_error (not "stalled", not retried), in a log of at most a
 * line a second (plus the first) with no line per job.
 */
static void
config_error_ends_jobs(struct inproc *ip, const char *want)
{
	uint64_t start, secs, deadline;
	char *log, *v;
	unsigned lines, told;
	int i;

	start = testlib_now_ms();
	for (i = 0; i < CONFIG_JOBS; i++)
		freeReplyObject(must_command(rf.c, "FCALL redjob_enqueue 1 "
		    "inproc:{default} t x"));
	wait_zcard("inproc:{default}:dead", CONFIG_JOBS);
	/* The lines left out are told within about a second. */
	deadline = testlib_now_ms() + 5000;
	for (;;) {
		fflush(stderr);
		log = must_read_file(ip->log, NULL);
		told = config_errors_told(log);
		free(log);
		if (told >= CONFIG_JOBS || testlib_now_ms() > deadline)
			break;
		usleep(50000);
	}
	secs = (testlib_now_ms() - start) / 1000;
	log = inproc_stop(ip);
	ck_assert_msg(config_errors_told(log) == CONFIG_JOBS, "the log tells "
	    "of %u jobs of %d:\n%s", config_errors_told(log), CONFIG_JOBS,
	    log);
	for (i = 1; i <= CONFIG_JOBS; i++) {
		v = job_field(i, "last_error");
		ck_assert_msg(strcmp(v, want) == 0, "job %d: last_error \"%s\", "
		    "expected \"%s\"", i, v, want);
		free(v);
		v = job_field(i, "attempts");
		ck_assert_str_eq(v, "1");
		free(v);
		v = job_field(i, "stalls");
		ck_assert_msg(strcmp(v, "(nil)") == 0 || strcmp(v, "0") == 0,
		    "job %d stalled %s times", i, v);
		free(v);
	}
	lines = count_lines(log, "configuration error: ");
	ck_assert_msg(lines >= 1 && lines <= secs + 2, "%u lines in %llu s "
	    "for %d jobs:\n%s", lines, (unsigned long long)secs, CONFIG_JOBS,
	    log);
	ck_assert_msg(strstr(log, want) != NULL, "the log does not say %s",
	    want);
	ck_assert_uint_eq(count_lines(log, "dead after"), 0);
	free(log);
}

/*
 * A limiter the library refuses (as one loaded by an older redjobd -t,
 * before both shared src/ranges.h) is a configuration error named with
 * its value, not a transient fault retried until the job stalls.
 */
START_TEST(test_guard_badarg_is_a_configuration_error)
{
	struct inproc ip;
	struct limiter_conf *l;

	inproc_load(&ip, "limiters:\n"
	    "  ok: { kind: window, limit: 1000, period: 1h }\n"
	    "  l: { kind: window, limit: 5, period: 1s }\n"
	    "jobs:\n  t: { exec: [/bin/true], limit: [ok, l] }\n");
	l = (struct limiter_conf *)config_find_limiter(ip.cfg, "l");
	l->limit = 100001;
	inproc_start(&ip);
	config_error_ends_jobs(&ip, "limiter l: the guard functions refuse "
	    "its arguments: REDJOB_BADARG limit must be an integer from 1 to "
	    "100000, not \"100001\"");
	/* What the limiter before it granted was given back. */
	ck_assert_int_eq(must_int(rf.c, "ZCARD inproc:limit:{ok:}"), 0);
	ck_assert_int_eq(must_int(rf.c, "EXISTS inproc:limit:{l:}"), 0);
}
END_TEST

/* A handler's program removed after the configuration was loaded. */
START_TEST(test_vanished_program_is_a_configuration_error)
{
	struct inproc ip;
	char prog[4096], text[8192], want[8192];
	FILE *fp;

	snprintf(prog, sizeof prog, "%s/handler.sh", rf.dir);
	fp = fopen(prog, "w");
	ck_assert_ptr_nonnull(fp);
	fputs("#!/bin/sh\nexit 0\n", fp);
	fclose(fp);
	ck_assert_int_eq(chmod(prog, 0755), 0);
	snprintf(text, sizeof text, "jobs:\n  t: { exec: [%s] }\n", prog);
	inproc_load(&ip, text);
	ck_assert_int_eq(unlink(prog), 0);
	inproc_start(&ip);
	snprintf(want, sizeof want, "spawn failed: No such file or directory: "
	    "%s", prog);
	config_error_ends_jobs(&ip, want);
}
END_TEST

Suite *
suite(void)
{
	Suite *s = suite_create("worker");
	TCase *tc = tcase_create("parts");
	TCase *tw = tcase_create("worker");

	tcase_add_test(tc, test_pick_picks_by_weight_smoothly);
	tcase_add_test(tc, test_pick_picks_only_queues_with_work_due);
	tcase_add_test(tc, test_pick_busy_worker_looks_again_every_250ms);
	tcase_add_test(tc, test_job_decode_reads_every_field);
	tcase_add_test(tc, test_job_decode_refuses_what_is_not_a_job);
	tcase_add_test(tc, test_job_decode_brief_reads_the_packed_job);
	tcase_add_test(tc, test_job_judge_maps_every_outcome);
	tcase_add_test(tc, test_job_judge_keeps_the_reason_of_a_long_error);
	tcase_add_test(tc, test_job_judge_spawn_failure_is_a_configuration_error);
	suite_add_tcase(s, tc);

	tcase_set_timeout(tw, 30);
	tcase_add_unchecked_fixture(tw, redis_start, redis_stop);
	tcase_add_checked_fixture(tw, redis_conn_setup_lib,
	    redis_conn_teardown);
	tcase_add_test(tw, test_lock_is_taken_fenced_renewed_and_refused_to_others);
	tcase_add_test(tw,
	    test_lock_deleted_under_its_holder_is_lost_at_the_next_renewal);
	tcase_add_test(tw, test_lock_unreachable_redis_is_lost_before_its_ttl_ends);
	tcase_add_test(tw, test_worker_in_process_runs_jobs_and_stops_on_request);
	tcase_add_test(tw, test_guard_badarg_is_a_configuration_error);
	tcase_add_test(tw, test_vanished_program_is_a_configuration_error);
	suite_add_tcase(s, tw);
	return s;
}
