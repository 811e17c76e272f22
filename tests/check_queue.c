/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The function library against a real redis-server: enqueue, claim,
 * leases, ack, fail, requeue, retry, remove, unique keys, pause, payload
 * limits, dead retention, schema and library versions, error codes, the
 * hash tag of every key, library reload, a Redis that is full, restarts
 * or is gone, and four processes claiming one queue at once.
 *
 * Where a test needs time to pass on the server's clock (a lease or a
 * unique window running out), it polls for the outcome with a deadline.
 */
#include "autoconf.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <hiredis/hiredis.h>

#include "redjob.h"
#include "client.h"
#include "schema.h"
#include "rfunc.h"
#include "proc.h"
#include "redis_fixture.h"
#include "testlib.h"

#define BASE "redjob:{default}"
#define TOKEN_A "token-of-holder-a"
#define TOKEN_B "token-of-holder-b"
#define TOKEN_C "token-of-holder-c"

/* The concurrent claim test. */
#define CC_JOBS 20000
#define CC_PROCS 4
#define CC_ENQUEUE_BATCH 1000
#define CC_CLAIM_BATCH 50

static struct redjob_client *cl;
static char field_buf[8192];

static void
client_setup(void)
{
	redis_conn_setup();
	/* A test that failed half-way may have left Redis full. */
	freeReplyObject(must_command(rf.c, "CONFIG SET maxmemory 0"));
	cl = redjob_connect(rf.url, NULL);
	ck_assert_ptr_nonnull(cl);
	ck_assert_msg(redjob_errcode(cl) == REDJOB_OK, "connect: %s",
	    redjob_errstr(cl));
}

static void
client_teardown(void)
{
	redjob_free(cl);
	cl = NULL;
	redis_conn_teardown();
}

/* A private redis-server for each test: these tests kill and restart it. */
static void
restart_setup(void)
{
	redis_start();
	client_setup();
}

static void
restart_teardown(void)
{
	client_teardown();
	redis_stop();
}

/* Kill redis-server, start an empty one on the same socket. */
static void
restart_redis(void)
{
	redis_fixture_kill(SIGKILL);
	redis_fixture_spawn(NULL);
	redis_conn_teardown();
	rf.c = must_connect();
}

static void
enqueue(const char *type, const char *payload, int64_t delay, char *id)
{
	struct redjob_job j = { .type = type, .payload = payload,
		.payload_len = strlen(payload), .delay_ms = delay };

	ck_assert_msg(redjob_enqueue(cl, &j, id) == 0, "enqueue: %s",
	    redjob_errstr(cl));
}

/* Enqueue a job and return whether it was created (not a unique hit). */
static int
enqueue_job(const struct redjob_job *j, char *id)
{
	int created = -1;

	ck_assert_msg(redjob_enqueue_ex(cl, j, id, &created) == 0,
	    "enqueue: %s", redjob_errstr(cl));
	return created;
}

/* Claim up to n jobs with a token; returns the reply (caller frees). */
static redisReply *
claim(redisContext *c, int n, int lease_ms, const char *token)
{
	return must_command(c, "FCALL redjob_claim 1 %s %d %d 3 %s w",
	    BASE, n, lease_ms, token);
}

/* Run a command on rf.c that must succeed. Caller frees the reply. */
static redisReply *
cmd(const char *fmt, ...)
{
	redisReply *r;
	va_list ap;

	va_start(ap, fmt);
	r = redisvCommand(rf.c, fmt, ap);
	va_end(ap);
	ck_assert_msg(r != NULL, "%s: %s", fmt, rf.c->errstr);
	ck_assert_msg(r->type != REDIS_REPLY_ERROR, "%s: %s", fmt, r->str);
	return r;
}

/* Check that an error reply's first word is code. */
static void
assert_code(const redisReply *r, const char *code, const char *what)
{
	size_t n = strlen(code);

	ck_assert_msg(r != NULL, "%s: no reply", what);
	ck_assert_msg(r->type == REDIS_REPLY_ERROR, "%s: expected %s, got a "
	    "reply of type %d", what, code, r->type);
	ck_assert_msg(strncmp(r->str, code, n) == 0 && r->str[n] == ' ',
	    "%s: expected %s, got \"%s\"", what, code, r->str);
}

/*
 * Run a command on rf.c that must fail with an error whose first word is
 * code. Returns the reply (caller frees).
 */
static redisReply *
cmd_err(const char *code, const char *fmt, ...)
{
	redisReply *r;
	va_list ap;

	va_start(ap, fmt);
	r = redisvCommand(rf.c, fmt, ap);
	va_end(ap);
	ck_assert_msg(r != NULL, "%s: %s", fmt, rf.c->errstr);
	assert_code(r, code, fmt);
	return r;
}

/* The sequence number of a job id "QUEUE:N": the member of the sets. */
static const char *
seq_of(const char *id)
{
	const char *p = strrchr(id, ':');

	ck_assert_ptr_nonnull(p);
	return p + 1;
}

/* A job's score in BASE:due, :run or :dead, or -1 if it is not there. */
static long long
score_of(const char *set, const char *id)
{
	redisReply *r;
	long long v;

	r = cmd("ZSCORE " BASE ":%s %s", set, seq_of(id));
	v = r->type == REDIS_REPLY_NIL ? -1 : strtoll(r->str, NULL, 10);
	freeReplyObject(r);
	return v;
}

/* Whether the job is in Redis: packed in :jobs, or a hash of its own. */
static int
job_exists(const char *id)
{
	return must_int(rf.c, "HEXISTS " BASE ":jobs %s", seq_of(id)) == 1 ||
	    must_int(rf.c, "EXISTS " BASE ":j:%s", seq_of(id)) == 1;
}

/* The server's clock in ms, as the functions read it. */
static long long
server_ms(void)
{
	redisReply *r;
	long long ms;

	r = cmd("TIME");
	ms = strtoll(r->element[0]->str, NULL, 10) * 1000 +
	    strtoll(r->element[1]->str, NULL, 10) / 1000;
	freeReplyObject(r);
	return ms;
}

/* One figure of redjob_stats. */
static long long
stat_get(const char *name)
{
	redisReply *r;
	long long v = -1;
	size_t i;
	int found = 0;

	r = cmd("FCALL_RO redjob_stats 1 " BASE);
	for (i = 0; i + 1 < r->elements; i += 2) {
		if (strcmp(r->element[i]->str, name) == 0) {
			v = r->element[i + 1]->integer;
			found = 1;
		}
	}
	freeReplyObject(r);
	ck_assert_msg(found, "redjob_stats has no \"%s\"", name);
	return v;
}

/*
 * One field of redjob_show for a job, or NULL if it has none. Points into
 * a static buffer that the next call overwrites.
 */
static const char *
job_field(const char *id, const char *name)
{
	redisReply *r;
	const char *v = NULL;
	size_t i;

	r = cmd("FCALL_RO redjob_show 1 " BASE " %s", id);
	for (i = 0; i + 1 < r->elements; i += 2) {
		if (strcmp(r->element[i]->str, name) == 0) {
			ck_assert_uint_lt(r->element[i + 1]->len,
			    sizeof field_buf);
			memcpy(field_buf, r->element[i + 1]->str,
			    r->element[i + 1]->len + 1);
			v = field_buf;
		}
	}
	freeReplyObject(r);
	return v;
}

/* Claim with every argument given. Caller frees. */
static redisReply *
claim_ex(int n, int lease_ms, int max_stalls, const char *token)
{
	return cmd("FCALL redjob_claim 1 " BASE " %d %d %d %s worker-1", n,
	    lease_ms, max_stalls, token);
}

/* Claim exactly one job with token and copy its id into id. */
static void
claim_one(int lease_ms, const char *token, char *id)
{
	redisReply *r = claim_ex(1, lease_ms, 3, token);

	ck_assert_msg(r->elements == 3, "expected one job, got %zu",
	    r->elements - 2);
	snprintf(id, REDJOB_ID_MAX, "%s", r->element[2]->element[0]->str);
	freeReplyObject(r);
}

/*
 * Claim one job with token, polling until one comes back: the lease of
 * its last holder must first run out on the server's clock. Returns the
 * reply (caller frees).
 */
static redisReply *
claim_when_back(int lease_ms, int max_stalls, const char *token)
{
	uint64_t deadline = testlib_now_ms() + 5000;
	redisReply *r;

	for (;;) {
		r = claim_ex(1, lease_ms, max_stalls, token);
		if (r->elements == 3)
			return r;
		freeReplyObject(r);
		ck_assert_msg(testlib_now_ms() < deadline, "no job came back "
		    "to the queue within 5 s");
		usleep(5000);
	}
}

/* Ack or extend one job; returns the function's 1 or 0. */
static long long
ack_one(const char *id, const char *token)
{
	redisReply *r;
	long long v;

	r = cmd("FCALL redjob_ack 1 " BASE " %s %s", id, token);
	ck_assert_uint_eq(r->elements, 1);
	v = r->element[0]->integer;
	freeReplyObject(r);
	return v;
}

static long long
extend_one(int lease_ms, const char *id, const char *token)
{
	redisReply *r;
	long long v;

	r = cmd("FCALL redjob_extend 1 " BASE " %d %s %s", lease_ms, id, token);
	ck_assert_uint_eq(r->elements, 1);
	v = r->element[0]->integer;
	freeReplyObject(r);
	return v;
}

/* Fail a job; checks the reply's verdict and returns its time. */
static long long
fail_one(const char *id, const char *token, const char *error, int delay,
    int max_attempts, const char *flag, const char *verdict,
    const char *attempts)
{
	redisReply *r;
	long long t;

	if (flag != NULL)
		r = cmd("FCALL redjob_fail 1 " BASE " %s %s %s %d %d %s", id,
		    token, error, delay, max_attempts, flag);
	else
		r = cmd("FCALL redjob_fail 1 " BASE " %s %s %s %d %d", id,
		    token, error, delay, max_attempts);
	ck_assert_uint_eq(r->elements, 3);
	ck_assert_str_eq(r->element[0]->str, verdict);
	ck_assert_str_eq(r->element[2]->str, attempts);
	t = strtoll(r->element[1]->str, NULL, 10);
	freeReplyObject(r);
	return t;
}

/* Poll until a key is gone, with a deadline. */
static void
wait_key_gone(const char *key)
{
	uint64_t deadline = testlib_now_ms() + 5000;

	while (must_int(rf.c, "EXISTS %s", key) != 0) {
		ck_assert_msg(testlib_now_ms() < deadline, "%s still there "
		    "after 5 s", key);
		usleep(5000);
	}
}

START_TEST(test_delayed_job_is_claimed_only_when_due)
{
	char id[REDJOB_ID_MAX];
	redisReply *r;
	long long now, next;

	enqueue("later", "x", 300, id);
	r = claim(rf.c, 10, 30000, "tokentoken1");
	ck_assert_uint_eq(r->elements, 2);
	now = strtoll(r->element[0]->str, NULL, 10);
	next = strtoll(r->element[1]->str, NULL, 10);
	ck_assert_msg(next > now && next <= now + 300,
	    "next wake %lld should be within 300 ms of %lld", next, now);
	freeReplyObject(r);
	usleep((useconds_t)(next - now + 20) * 1000);
	r = claim(rf.c, 10, 30000, "tokentoken1");
	ck_assert_uint_eq(r->elements, 3);
	ck_assert_str_eq(r->element[2]->element[0]->str, id);
	ck_assert_str_eq(r->element[2]->element[1]->str, "later");
	freeReplyObject(r);
}
END_TEST

START_TEST(test_due_jobs_come_out_in_due_order)
{
	char a[REDJOB_ID_MAX], b[REDJOB_ID_MAX], c[REDJOB_ID_MAX];
	redisReply *r;

	/* Enqueued c, b, a, but due a, b, c (all already due). */
	enqueue("t", "c", 0, c);
	usleep(3000);
	enqueue("t", "b", 0, b);
	usleep(3000);
	enqueue("t", "a", 0, a);
	r = claim(rf.c, 2, 30000, "tokentoken1");
	ck_assert_uint_eq(r->elements, 4);
	ck_assert_str_eq(r->element[2]->element[0]->str, c);
	ck_assert_str_eq(r->element[3]->element[0]->str, b);
	freeReplyObject(r);
	r = claim(rf.c, 2, 30000, "tokentoken2");
	ck_assert_uint_eq(r->elements, 3);
	ck_assert_str_eq(r->element[2]->element[0]->str, a);
	freeReplyObject(r);
}
END_TEST

START_TEST(test_binary_payload_survives)
{
	static const char bin[] = "a\0b\xff\n\0z";
	struct redjob_job j = { .type = "bin", .payload = bin,
		.payload_len = sizeof bin };
	char id[REDJOB_ID_MAX];
	redisReply *r;

	ck_assert_int_eq(redjob_enqueue(cl, &j, id), 0);
	r = claim(rf.c, 1, 30000, "tokentoken1");
	ck_assert_uint_eq(r->elements, 3);
	ck_assert_uint_eq(r->element[2]->element[2]->len, sizeof bin);
	ck_assert_mem_eq(r->element[2]->element[2]->str, bin, sizeof bin);
	freeReplyObject(r);
}
END_TEST

/*
 * A job with no options waits packed in :jobs (docs/protocol.md, the job
 * hash), a job with options in a hash of its own; a packed job moves to
 * its own hash at the first transition that writes a field, with all its
 * fields, and is never in both.
 */
/*
 * "brief": a packed job comes as {N, PACKED}, with its due time in PACKED
 * when it was enqueued to be due later; a job with a hash, or of a type
 * whose guard or expiry the claim names, as the full row; and both are
 * leased alike: the ack takes them, and a wrong token is still refused.
 */
START_TEST(test_a_brief_claim_sends_packed_jobs_as_they_lie)
{
	static const char bin[] = "p\0q";
	struct redjob_job pj = { .type = "pk", .payload = bin,
		.payload_len = sizeof bin - 1 };
	struct redjob_job dj = { .type = "pk", .payload = "d",
		.payload_len = 1, .delay_ms = 150 };
	struct redjob_job oj = { .type = "pk", .payload = "o",
		.payload_len = 1, .max_attempts = 7 };
	struct redjob_job ej = { .type = "ex", .payload = "e",
		.payload_len = 1 };
	char a[REDJOB_ID_MAX], b[REDJOB_ID_MAX], d[REDJOB_ID_MAX];
	char e[REDJOB_ID_MAX], want[64], due[32], created[32];
	redisReply *r, *row;
	int len;

	ck_assert_int_eq(redjob_enqueue(cl, &pj, a), 0);
	ck_assert_int_eq(redjob_enqueue(cl, &dj, d), 0);
	ck_assert_int_eq(redjob_enqueue(cl, &oj, b), 0);
	ck_assert_int_eq(redjob_enqueue(cl, &ej, e), 0);
	/* Delayed and packed: its due time follows its enqueue time. */
	snprintf(created, sizeof created, "%s", job_field(d, "created"));
	r = cmd("ZSCORE " BASE ":due %s", seq_of(d));
	snprintf(due, sizeof due, "%s", r->str);
	freeReplyObject(r);
	ck_assert_str_ne(due, created);
	r = cmd("HGET " BASE ":jobs %s", seq_of(d));
	len = snprintf(want, sizeof want, "pk%c%s %s%cd", '\0', created, due,
	    '\0');
	ck_assert_uint_eq(r->len, (size_t)len);
	ck_assert_mem_eq(r->str, want, (size_t)len);
	freeReplyObject(r);
	ck_assert_str_eq(job_field(d, "state"), "scheduled");
	ck_assert_str_eq(job_field(d, "created"), created);
	while (strcmp(job_field(d, "state"), "ready") != 0)
		usleep(5000);

	r = cmd("FCALL redjob_claim 1 " BASE " 4 30000 3 %s w brief "
	    "expire ex 60000", TOKEN_A);
	ck_assert_uint_eq(r->elements, 6);
	row = r->element[2];
	ck_assert_uint_eq(row->elements, 2);
	ck_assert_str_eq(row->element[0]->str, seq_of(a));
	len = snprintf(want, sizeof want, "pk%c%s%c", '\0',
	    job_field(a, "created"), '\0');
	ck_assert_uint_eq(row->element[1]->len, (size_t)len + 3);
	ck_assert_mem_eq(row->element[1]->str, want, (size_t)len);
	ck_assert_mem_eq(row->element[1]->str + len, "p\0q", 3);
	/* A job with options has a hash: the full row, with its due time. */
	row = r->element[3];
	ck_assert_uint_eq(row->elements, 11);
	ck_assert_str_eq(row->element[0]->str, b);
	ck_assert_str_eq(row->element[5]->str, "7");
	ck_assert_str_eq(row->element[7]->str, job_field(b, "created"));
	/* Packed, but its type's expiry is to be checked: the full row. */
	row = r->element[4];
	ck_assert_uint_eq(row->elements, 11);
	ck_assert_str_eq(row->element[0]->str, e);
	ck_assert_str_eq(row->element[1]->str, "ex");
	/* Due after the others: last, brief, its due time in it. */
	row = r->element[5];
	ck_assert_uint_eq(row->elements, 2);
	ck_assert_str_eq(row->element[0]->str, seq_of(d));
	len = snprintf(want, sizeof want, "pk%c%s %s%cd", '\0', created, due,
	    '\0');
	ck_assert_mem_eq(row->element[1]->str, want, (size_t)len);
	freeReplyObject(r);
	ck_assert_str_eq(job_field(a, "state"), "running");

	/* Leased alike: a wrong token is refused, the right one acks all. */
	r = cmd("FCALL redjob_ack 1 " BASE " %s %s", a, TOKEN_B);
	ck_assert_int_eq(r->element[0]->integer, 0);
	freeReplyObject(r);
	r = cmd("FCALL redjob_ack 1 " BASE " %s %s %s %s %s %s %s %s", a,
	    TOKEN_A, b, TOKEN_A, e, TOKEN_A, d, TOKEN_A);
	ck_assert_int_eq(r->element[0]->integer, 1);
	ck_assert_int_eq(r->element[1]->integer, 1);
	ck_assert_int_eq(r->element[2]->integer, 1);
	ck_assert_int_eq(r->element[3]->integer, 1);
	freeReplyObject(r);
	ck_assert(!job_exists(a) && !job_exists(b) && !job_exists(e) &&
	    !job_exists(d));

	/* An unknown word is named. */
	r = cmd_err("REDJOB_BADARG", "FCALL redjob_claim 1 " BASE
	    " 1 1000 3 %s w terse", TOKEN_A);
	ck_assert_ptr_nonnull(strstr(r->str, "unknown claim option "
	    "\"terse\""));
	freeReplyObject(r);
}
END_TEST

/*
 * A delayed packed job that moves to a hash (here: it fails and is
 * retried) keeps its enqueue time as "created", without the due time.
 */
START_TEST(test_a_delayed_packed_job_moves_to_its_hash_whole)
{
	struct redjob_job dj = { .type = "pk", .payload = "d",
		.payload_len = 1, .delay_ms = 1 };
	char d[REDJOB_ID_MAX], got[REDJOB_ID_MAX], created[32];
	redisReply *r;

	ck_assert_int_eq(redjob_enqueue(cl, &dj, d), 0);
	snprintf(created, sizeof created, "%s", job_field(d, "created"));
	while (strcmp(job_field(d, "state"), "ready") != 0)
		usleep(5000);
	claim_one(30000, TOKEN_A, got);
	ck_assert_str_eq(got, d);
	fail_one(d, TOKEN_A, "boom", 0, 5, NULL, "retry", "1");
	r = cmd("HMGET " BASE ":j:%s type payload created", seq_of(d));
	ck_assert_str_eq(r->element[0]->str, "pk");
	ck_assert_str_eq(r->element[1]->str, "d");
	ck_assert_str_eq(r->element[2]->str, created);
	freeReplyObject(r);
}
END_TEST

/*
 * The running set and the token hash are made in their big encodings
 * (a skiplist, a hash table) by the claim that creates them, and keep
 * them while they live, so a write per job does not walk a listpack.
 */
START_TEST(test_the_running_set_is_made_in_its_big_encoding)
{
	struct redjob_job pj = { .type = "pk", .payload = "p",
		.payload_len = 1 };
	char id[REDJOB_ID_MAX], got[REDJOB_ID_MAX];
	redisReply *r;
	int i;

	for (i = 0; i < 3; i++)
		ck_assert_int_eq(redjob_enqueue(cl, &pj, id), 0);
	claim_one(30000, TOKEN_A, got);
	r = cmd("OBJECT ENCODING " BASE ":run");
	ck_assert_str_eq(r->str, "skiplist");
	freeReplyObject(r);
	r = cmd("OBJECT ENCODING " BASE ":tok");
	ck_assert_str_eq(r->str, "hashtable");
	freeReplyObject(r);
	/* Nothing of the wide entry is left. */
	ck_assert_int_eq(must_int(rf.c, "ZCARD " BASE ":run"), 1);
	ck_assert_int_eq(must_int(rf.c, "HLEN " BASE ":tok"), 1);
	claim_one(30000, TOKEN_B, got);
	ck_assert_int_eq(must_int(rf.c, "ZCARD " BASE ":run"), 2);
	ck_assert_int_eq(must_int(rf.c, "HLEN " BASE ":tok"), 2);
}
END_TEST

START_TEST(test_a_plain_job_waits_packed_until_a_transition_writes_it)
{
	static const char bin[] = "p\0q";
	struct redjob_job pj = { .type = "pk", .payload = bin,
		.payload_len = sizeof bin - 1 };
	struct redjob_job oj = { .type = "pk", .payload = "o",
		.payload_len = 1, .max_attempts = 7 };
	char a[REDJOB_ID_MAX], b[REDJOB_ID_MAX], got[REDJOB_ID_MAX];
	char want[64];
	redisReply *r;
	int len, k;

	ck_assert_int_eq(redjob_enqueue(cl, &pj, a), 0);
	ck_assert_int_eq(redjob_enqueue(cl, &oj, b), 0);
	ck_assert_int_eq(must_int(rf.c, "EXISTS " BASE ":j:%s", seq_of(a)), 0);
	r = cmd("HGET " BASE ":jobs %s", seq_of(a));
	ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
	len = snprintf(want, sizeof want, "pk%c%s%c", '\0',
	    job_field(a, "created"), '\0');
	ck_assert_uint_eq(r->len, (size_t)len + 3);
	ck_assert_mem_eq(r->str, want, (size_t)len);
	ck_assert_mem_eq(r->str + len, "p\0q", 3);
	freeReplyObject(r);
	ck_assert_int_eq(must_int(rf.c, "HEXISTS " BASE ":jobs %s",
	    seq_of(b)), 0);
	r = cmd("HGET " BASE ":j:%s max_attempts", seq_of(b));
	ck_assert_str_eq(r->str, "7");
	freeReplyObject(r);

	/* show and list read it packed. */
	ck_assert_str_eq(job_field(a, "type"), "pk");
	ck_assert_str_eq(job_field(a, "state"), "ready");
	ck_assert_str_eq(job_field(a, "attempts"), "0");
	r = cmd("FCALL_RO redjob_list 1 " BASE " ready 0 10");
	ck_assert_uint_eq(r->elements, 2);
	ck_assert_str_eq(r->element[0]->element[0]->str, a);
	ck_assert_str_eq(r->element[0]->element[2]->str, "pk");
	freeReplyObject(r);

	/* Claimed, it stays packed; its failure moves it, whole. */
	claim_one(30000, TOKEN_A, got);
	ck_assert_str_eq(got, a);
	ck_assert_int_eq(must_int(rf.c, "HEXISTS " BASE ":jobs %s",
	    seq_of(a)), 1);
	fail_one(a, TOKEN_A, "boom", 0, 5, NULL, "retry", "1");
	ck_assert_int_eq(must_int(rf.c, "HEXISTS " BASE ":jobs %s",
	    seq_of(a)), 0);
	r = cmd("HMGET " BASE ":j:%s type payload created attempts "
	    "last_error", seq_of(a));
	ck_assert_str_eq(r->element[0]->str, "pk");
	ck_assert_uint_eq(r->element[1]->len, 3);
	ck_assert_mem_eq(r->element[1]->str, "p\0q", 3);
	ck_assert_str_eq(r->element[2]->str, job_field(a, "created"));
	ck_assert_str_eq(r->element[3]->str, "1");
	ck_assert_str_eq(r->element[4]->str, "boom");
	freeReplyObject(r);

	/* Run again from its hash (with b, in either order: its retry may
	 * fall in b's millisecond), and acked: nothing of it is left. */
	r = claim_ex(2, 30000, 3, TOKEN_B);
	ck_assert_uint_eq(r->elements, 4);
	k = strcmp(r->element[2]->element[0]->str, a) == 0 ? 2 : 3;
	ck_assert_str_eq(r->element[5 - k]->element[0]->str, b);
	ck_assert_str_eq(r->element[5 - k]->element[5]->str, "7");
	ck_assert_str_eq(r->element[k]->element[0]->str, a);
	ck_assert_uint_eq(r->element[k]->element[2]->len, 3);
	ck_assert_mem_eq(r->element[k]->element[2]->str, "p\0q", 3);
	ck_assert_str_eq(r->element[k]->element[4]->str, "1");
	freeReplyObject(r);
	ck_assert_int_eq(ack_one(b, TOKEN_B), 1);
	ck_assert_int_eq(ack_one(a, TOKEN_B), 1);
	ck_assert(!job_exists(a));

	/* A packed job acked at its first run leaves no entry either. */
	enqueue("pk", "x", 0, a);
	claim_one(30000, TOKEN_C, got);
	ck_assert_int_eq(ack_one(got, TOKEN_C), 1);
	ck_assert(!job_exists(got));
	ck_assert_int_eq(must_int(rf.c, "HLEN " BASE ":jobs"), 0);

	/* Finished, it keeps its packed fields and gets a hash for the
	 * others: readers see both, rm deletes both. */
	enqueue("pk", "y", 0, a);
	r = cmd("FCALL redjob_cancel 1 " BASE " %s why", a);
	ck_assert_str_eq(r->str, "ready");
	freeReplyObject(r);
	ck_assert_int_eq(must_int(rf.c, "HEXISTS " BASE ":jobs %s",
	    seq_of(a)), 1);
	ck_assert_str_eq(job_field(a, "state"), "cancelled");
	ck_assert_str_eq(job_field(a, "payload"), "y");
	ck_assert_str_eq(job_field(a, "last_error"), "why");
	r = cmd("FCALL_RO redjob_list 1 " BASE " done 0 10");
	ck_assert_uint_eq(r->elements, 1);
	ck_assert_str_eq(r->element[0]->element[2]->str, "pk");
	ck_assert_str_eq(r->element[0]->element[4]->str, "cancelled");
	freeReplyObject(r);
	r = cmd("FCALL_RO redjob_result 1 " BASE " %s", a);
	ck_assert_str_eq(r->element[0]->str, "cancelled");
	ck_assert_str_eq(r->element[1]->str, "pk");
	freeReplyObject(r);
	r = cmd("FCALL redjob_remove 1 " BASE " %s", a);
	ck_assert_str_eq(r->str, "cancelled");
	freeReplyObject(r);
	ck_assert(!job_exists(a));

	/* Dead by its failure, it is a hash, and runs again if retried. */
	enqueue("pk", "z", 0, a);
	claim_one(30000, TOKEN_A, got);
	fail_one(a, TOKEN_A, "e", 0, 1, "dead", "dead", "1");
	freeReplyObject(cmd("FCALL redjob_retry 1 " BASE " %s", a));
	ck_assert_int_eq(must_int(rf.c, "HEXISTS " BASE ":jobs %s",
	    seq_of(a)), 0);
	r = claim_ex(1, 30000, 3, TOKEN_B);
	ck_assert_uint_eq(r->elements, 3);
	ck_assert_str_eq(r->element[2]->element[0]->str, a);
	ck_assert_str_eq(r->element[2]->element[2]->str, "z");
	freeReplyObject(r);
}
END_TEST

/*
 * Jobs already in Redis from library version 10 and older, each a hash of its own
 * (B:j:N with type, payload and created), are shown, listed, explained,
 * run, retried, cancelled and acknowledged as before by this library.
 */
static void
old_job(const char *payload, char *id)
{
	long long n = must_int(rf.c, "INCR " BASE ":seq");

	freeReplyObject(cmd("HSET " BASE ":j:%lld type old payload %s "
	    "created 1000", n, payload));
	freeReplyObject(cmd("ZADD " BASE ":due 0 %lld", n));
	snprintf(id, REDJOB_ID_MAX, "default:%lld", n);
}

START_TEST(test_a_job_written_by_library_version_10_still_runs)
{
	char a[REDJOB_ID_MAX], b[REDJOB_ID_MAX];
	redisReply *r;
	size_t i;
	int gate = 0;

	old_job("one", a);
	old_job("two", b);
	ck_assert_str_eq(job_field(a, "state"), "ready");
	ck_assert_str_eq(job_field(a, "payload"), "one");
	ck_assert_str_eq(job_field(a, "created"), "1000");
	r = cmd("FCALL_RO redjob_list 1 " BASE " ready 0 10");
	ck_assert_uint_eq(r->elements, 2);
	ck_assert_str_eq(r->element[0]->element[2]->str, "old");
	freeReplyObject(r);
	r = cmd("FCALL_RO redjob_why 1 " BASE " %s", a);
	for (i = 0; i + 1 < r->elements; i += 2)
		if (strcmp(r->element[i]->str, "gate") == 0) {
			ck_assert_str_ne(r->element[i + 1]->str, "done");
			gate = 1;
		}
	ck_assert(gate);
	freeReplyObject(r);

	r = claim_ex(1, 30000, 3, TOKEN_A);
	ck_assert_uint_eq(r->elements, 3);
	ck_assert_str_eq(r->element[2]->element[0]->str, a);
	ck_assert_str_eq(r->element[2]->element[1]->str, "old");
	ck_assert_str_eq(r->element[2]->element[2]->str, "one");
	ck_assert_str_eq(r->element[2]->element[9]->str, "1000");
	freeReplyObject(r);
	fail_one(a, TOKEN_A, "e", 0, 1, NULL, "dead", "1");
	ck_assert_str_eq(job_field(a, "state"), "dead");
	freeReplyObject(cmd("FCALL redjob_retry 1 " BASE " %s", a));
	ck_assert_str_eq(job_field(a, "state"), "ready");
	ck_assert_str_eq(job_field(a, "attempts"), "0");

	r = cmd("FCALL redjob_cancel 1 " BASE " %s", b);
	ck_assert_str_eq(r->str, "ready");
	freeReplyObject(r);
	ck_assert_str_eq(job_field(b, "state"), "cancelled");
	ck_assert_str_eq(job_field(b, "payload"), "two");

	r = claim_ex(5, 30000, 3, TOKEN_B);
	ck_assert_uint_eq(r->elements, 3);
	ck_assert_str_eq(r->element[2]->element[0]->str, a);
	freeReplyObject(r);
	ck_assert_int_eq(ack_one(a, TOKEN_B), 1);
	ck_assert(!job_exists(a));
	ck_assert_int_eq(stat_get("processed"), 1);
}
END_TEST

START_TEST(test_oversized_payload_is_refused_with_reason)
{
	struct redjob_job j = { .type = "big" };
	char id[REDJOB_ID_MAX], *big;
	redisReply *r;

	big = calloc(1, REDJOB_MAX_PAYLOAD_DEFAULT + 1);
	j.payload = big;
	j.payload_len = REDJOB_MAX_PAYLOAD_DEFAULT + 1;
	ck_assert_int_eq(redjob_enqueue(cl, &j, id), -1);
	ck_assert_int_eq(redjob_errcode(cl), REDJOB_ERR_TOOBIG);
	ck_assert_str_eq(redjob_errstr(cl), "payload of 524289 bytes is over "
	    "the limit of 524288 bytes");
	/* The server refuses it too, for clients that skip the check. */
	r = redisCommand(rf.c, "FCALL redjob_enqueue 1 %s big %b", BASE, big,
	    (size_t)REDJOB_MAX_PAYLOAD_DEFAULT + 1);
	ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
	ck_assert_str_eq(r->str, "REDJOB_TOOBIG payload of 524289 bytes is "
	    "over the limit of 524288 bytes");
	freeReplyObject(r);
	r = must_command(rf.c, "EXISTS " BASE ":j:1");
	ck_assert_int_eq(r->integer, 0);
	freeReplyObject(r);
	/* A raised limit lets it through. */
	ck_assert_int_eq(redjob_set_max_payload(cl, 1 << 20), 0);
	ck_assert_int_eq(redjob_enqueue(cl, &j, id), 0);
	free(big);
}
END_TEST

START_TEST(test_bulk_enqueue_is_all_or_nothing_and_keeps_unique_keys)
{
	redisReply *r;

	r = must_command(rf.c, "FCALL redjob_enqueue_bulk 1 %s 3 "
	    "a p1 0 b p2 1 unique u c p3 1 unique u", BASE);
	ck_assert_uint_eq(r->elements, 6);
	ck_assert_str_eq(r->element[0]->str, "default:1");
	ck_assert_int_eq(r->element[1]->integer, 1);
	ck_assert_str_eq(r->element[2]->str, "default:2");
	ck_assert_int_eq(r->element[3]->integer, 1);
	/* The third names the second: same unique key, same call. */
	ck_assert_str_eq(r->element[4]->str, "default:2");
	ck_assert_int_eq(r->element[5]->integer, 0);
	freeReplyObject(r);
	/* One bad job refuses the call, and nothing of it is written. */
	r = redisCommand(rf.c, "FCALL redjob_enqueue_bulk 1 %s 2 ok p 0 "
	    "bad/type p 0", BASE);
	ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
	ck_assert_msg(strncmp(r->str, "REDJOB_BADARG ", 14) == 0, "%s", r->str);
	freeReplyObject(r);
	r = must_command(rf.c, "ZCARD %s:due", BASE);
	ck_assert_int_eq(r->integer, 2);
	freeReplyObject(r);
	r = must_command(rf.c, "HGET %s:stats enqueued", BASE);
	ck_assert_str_eq(r->str, "2");
	freeReplyObject(r);
}
END_TEST

/*
 * A job id is its number in decimal, whatever the number: the function
 * library makes the ids of a call of jobs without options from their
 * thousands and a table of three digits, so the numbers around each
 * power of ten and a thousand's first and last are looked at, in bulk
 * calls with and without options and one job at a time.
 */
START_TEST(test_job_ids_are_the_queue_counter_in_decimal_at_every_digit)
{
	static const long long from[] = { 0, 8, 97, 998, 1009, 9998, 99099,
	    999998, 1999999, 123456788 };
	char id[REDJOB_ID_MAX], want[64], payload[32];
	redisReply *r;
	long long n;
	size_t i, k;

	for (i = 0; i < sizeof from / sizeof from[0]; i++) {
		freeReplyObject(must_command(rf.c, "SET %s:seq %lld", BASE,
		    from[i]));
		n = from[i];
		r = must_command(rf.c, "FCALL redjob_enqueue_bulk 1 %s 3 "
		    "a p0 0 a p1 0 b p2 0", BASE);
		ck_assert_uint_eq(r->elements, 6);
		for (k = 0; k < 3; k++) {
			snprintf(want, sizeof want, "default:%lld", ++n);
			ck_assert_str_eq(r->element[2 * k]->str, want);
			ck_assert_int_eq(r->element[2 * k + 1]->integer, 1);
			snprintf(payload, sizeof payload, "p%zu", k);
			ck_assert_str_eq(job_field(want, "payload"), payload);
			ck_assert_str_eq(job_field(want, "type"),
			    k < 2 ? "a" : "b");
			ck_assert_int_eq(score_of("due", want),
			    strtoll(job_field(want, "created"), NULL, 10));
		}
		freeReplyObject(r);
		/* With options: the same numbers, from the other path. */
		r = must_command(rf.c, "FCALL redjob_enqueue_bulk 1 %s 2 "
		    "c q0 0 c q1 1 max_attempts 2", BASE);
		for (k = 0; k < 2; k++) {
			snprintf(want, sizeof want, "default:%lld", ++n);
			ck_assert_str_eq(r->element[2 * k]->str, want);
			snprintf(payload, sizeof payload, "q%zu", k);
			ck_assert_str_eq(job_field(want, "payload"), payload);
		}
		freeReplyObject(r);
		r = must_command(rf.c, "FCALL redjob_enqueue 1 %s d r", BASE);
		snprintf(want, sizeof want, "default:%lld", ++n);
		ck_assert_str_eq(r->element[0]->str, want);
		ck_assert_str_eq(job_field(want, "type"), "d");
		freeReplyObject(r);
		ck_assert_int_eq(redjob_enqueue(cl, &(struct redjob_job){
		    .type = "e", .payload = "s", .payload_len = 1 }, id), 0);
		snprintf(want, sizeof want, "default:%lld", ++n);
		ck_assert_str_eq(id, want);
	}
	ck_assert_int_eq(stat_get("enqueued"),
	    (long long)(sizeof from / sizeof from[0]) * 7);
}
END_TEST

START_TEST(test_enqueue_many_reports_each_refused_job_and_keeps_the_others)
{
	struct redjob_job jobs[300];
	struct redjob_result res[300];
	redisReply *r;
	size_t i;

	memset(jobs, 0, sizeof jobs);
	for (i = 0; i < 300; i++) {
		jobs[i].type = "t";
		jobs[i].queue = i < 150 ? "default" : "other";
	}
	/* The server refuses this one (the client does not check type
	 * names): its chunk is resent one job at a time. */
	jobs[7].type = "bad/type";
	ck_assert_int_eq(redjob_enqueue_many(cl, jobs, 300, res), 299);
	ck_assert_int_eq(res[7].err, REDJOB_ERR_INVALID);
	ck_assert_int_eq(res[6].err, REDJOB_OK);
	ck_assert_int_eq(res[8].err, REDJOB_OK);
	ck_assert_str_eq(res[299].id, "other:150");
	r = must_command(rf.c, "ZCARD %s:due", BASE);
	ck_assert_int_eq(r->integer, 149);
	freeReplyObject(r);
}
END_TEST

/*
 * A job with no queue goes where the type table redjobd publishes
 * (NS:types) puts its type, else to default; a queue given wins, and a
 * value that is no queue name is ignored. Looked up once per type.
 */
START_TEST(test_a_job_without_a_queue_is_routed_by_its_type)
{
	struct redjob_job jobs[4];
	struct redjob_result res[4];

	freeReplyObject(must_command(rf.c, "HSET redjob:types send_email mail "
	    "odd %s", "no such queue!"));
	memset(jobs, 0, sizeof jobs);
	jobs[0].type = "send_email";
	jobs[1].type = "resize";
	jobs[2].type = "send_email";
	jobs[2].queue = "other";
	jobs[3].type = "odd";
	ck_assert_int_eq(redjob_enqueue_many(cl, jobs, 4, res), 4);
	ck_assert_str_eq(res[0].id, "mail:1");
	ck_assert_str_eq(res[1].id, "default:1");
	ck_assert_str_eq(res[2].id, "other:1");
	ck_assert_str_eq(res[3].id, "default:2");
	/* Cached for the connection: a change shows on the next one. */
	freeReplyObject(must_command(rf.c, "HSET redjob:types resize mail"));
	ck_assert_int_eq(redjob_enqueue_many(cl, jobs + 1, 1, res), 1);
	ck_assert_str_eq(res[0].id, "default:3");
}
END_TEST

START_TEST(test_missing_library_is_reloaded)
{
	char id[REDJOB_ID_MAX];

	enqueue("t", "1", 0, id);
	freeReplyObject(must_command(rf.c, "FUNCTION FLUSH"));
	enqueue("t", "2", 0, id);
	ck_assert_str_eq(id, "default:2");
}
END_TEST

START_TEST(test_payload_limit_is_configurable)
{
	struct redjob_job jobs[3] = {
		{ .type = "t", .payload = "12345", .payload_len = 5 },
		{ .type = "t", .payload = "12345678901", .payload_len = 11 },
		{ .type = "t", .payload = "1234567890", .payload_len = 10 },
	};
	struct redjob_result res[3];
	char id[REDJOB_ID_MAX];
	redisReply *r;

	ck_assert_int_eq(redjob_set_max_payload(cl, 10), 0);
	ck_assert_int_eq(redjob_enqueue(cl, &jobs[1], id), -1);
	ck_assert_int_eq(redjob_errcode(cl), REDJOB_ERR_TOOBIG);
	ck_assert_str_eq(redjob_errstr(cl), "payload of 11 bytes is over the "
	    "limit of 10 bytes");
	ck_assert_int_eq(redjob_enqueue(cl, &jobs[2], id), 0);
	ck_assert_str_eq(id, "default:1");

	/* In a batch, only the job over the limit is refused. */
	ck_assert_int_eq(redjob_enqueue_many(cl, jobs, 3, res), 2);
	ck_assert_int_eq(res[0].err, REDJOB_OK);
	ck_assert_int_eq(res[1].err, REDJOB_ERR_TOOBIG);
	ck_assert_int_eq(res[2].err, REDJOB_OK);
	ck_assert_str_eq(res[0].id, "default:2");
	ck_assert_str_eq(res[2].id, "default:3");
	ck_assert_int_eq(stat_get("enqueued"), 3);

	/* The server applies the limit a client sends. */
	r = cmd_err("REDJOB_TOOBIG", "FCALL redjob_enqueue 1 " BASE
	    " t 12345678901 max_payload 10");
	ck_assert_str_eq(r->str, "REDJOB_TOOBIG payload of 11 bytes is over "
	    "the limit of 10 bytes");
	freeReplyObject(r);
	freeReplyObject(cmd("FCALL redjob_enqueue 1 " BASE
	    " t 1234567890 max_payload 10"));
	ck_assert_int_eq(stat_get("enqueued"), 4);

	/* Redis cannot hold a string over 512 MiB. */
	ck_assert_int_eq(redjob_set_max_payload(cl, 512 * 1024 * 1024 + 1),
	    -1);
	ck_assert_int_eq(redjob_errcode(cl), REDJOB_ERR_INVALID);
}
END_TEST

START_TEST(test_missing_library_is_reloaded_within_a_pipelined_batch)
{
	struct redjob_job jobs[100];
	struct redjob_result res[100];
	char id[REDJOB_ID_MAX], want[REDJOB_ID_MAX];
	redisReply *r;
	int i;

	enqueue("t", "0", 0, id);
	freeReplyObject(cmd("FUNCTION FLUSH"));
	for (i = 0; i < 100; i++) {
		memset(&jobs[i], 0, sizeof jobs[i]);
		jobs[i].type = "t";
		jobs[i].payload = "p";
		jobs[i].payload_len = 1;
	}
	ck_assert_int_eq(redjob_enqueue_many(cl, jobs, 100, res), 100);
	for (i = 0; i < 100; i++) {
		snprintf(want, sizeof want, "default:%d", i + 2);
		ck_assert_int_eq(res[i].err, REDJOB_OK);
		ck_assert_int_eq(res[i].created, 1);
		ck_assert_str_eq(res[i].id, want);
	}
	/* The refused first pass wrote nothing: each job is there once. */
	ck_assert_int_eq(must_int(rf.c, "ZCARD " BASE ":due"), 101);
	ck_assert_int_eq(stat_get("enqueued"), 101);
	r = cmd("FCALL_RO redjob_version 0");
	ck_assert_int_eq(r->element[0]->integer, rfunc_lib_version);
	freeReplyObject(r);
}
END_TEST

START_TEST(test_expired_lease_makes_job_claimable_again_refusing_old_holder)
{
	char id[REDJOB_ID_MAX], got[REDJOB_ID_MAX], want[256];
	long long before;
	redisReply *r;

	enqueue("t", "x", 0, id);
	claim_one(100, TOKEN_A, got);
	ck_assert_str_eq(got, id);

	/* A stall, not an attempt. */
	r = claim_when_back(30000, 3, TOKEN_B);
	ck_assert_str_eq(r->element[2]->element[0]->str, id);
	ck_assert_str_eq(r->element[2]->element[4]->str, "0");	/* attempts */
	ck_assert_str_eq(r->element[2]->element[6]->str, "1");	/* stalls */
	freeReplyObject(r);
	ck_assert_int_eq(stat_get("stalled"), 1);

	/* The old holder may no longer extend, ack or fail it... */
	before = score_of("run", id);
	ck_assert_int_eq(extend_one(60000, id, TOKEN_A), 0);
	ck_assert_int_eq(score_of("run", id), before);
	ck_assert_int_eq(ack_one(id, TOKEN_A), 0);
	r = cmd_err("REDJOB_STALE", "FCALL redjob_fail 1 " BASE " %s %s boom "
	    "0 5", id, TOKEN_A);
	snprintf(want, sizeof want, "REDJOB_STALE job %s is not held by this "
	    "token", id);
	ck_assert_str_eq(r->str, want);
	freeReplyObject(r);
	ck_assert_str_eq(job_field(id, "state"), "running");
	ck_assert_str_eq(job_field(id, "attempts"), "0");
	ck_assert_str_eq(job_field(id, "token"), TOKEN_B);
	ck_assert_int_eq(stat_get("processed"), 0);
	ck_assert_int_eq(stat_get("failed"), 0);

	/* ...while the new holder can. */
	ck_assert_int_eq(extend_one(60000, id, TOKEN_B), 1);
	ck_assert_int_gt(score_of("run", id), before);
	ck_assert_int_eq(ack_one(id, TOKEN_B), 1);
	ck_assert(!job_exists(id));
	ck_assert_int_eq(score_of("run", id), -1);
	ck_assert_int_eq(stat_get("processed"), 1);
}
END_TEST

START_TEST(test_job_stalled_more_than_max_stalls_times_is_dead)
{
	char id[REDJOB_ID_MAX];
	uint64_t deadline;
	redisReply *r;

	enqueue("t", "x", 0, id);
	r = claim_ex(1, 50, 1, TOKEN_A);
	ck_assert_uint_eq(r->elements, 3);
	freeReplyObject(r);
	r = claim_when_back(50, 1, TOKEN_B);
	ck_assert_str_eq(r->element[2]->element[6]->str, "1");
	freeReplyObject(r);

	/* The second stall is one more than max_stalls: nobody gets it. */
	deadline = testlib_now_ms() + 5000;
	while (score_of("dead", id) < 0) {
		r = claim_ex(1, 50, 1, TOKEN_C);
		ck_assert_msg(r->elements == 2, "a job stalled twice with "
		    "max_stalls 1 was handed out again");
		freeReplyObject(r);
		ck_assert_msg(testlib_now_ms() < deadline, "not dead in 5 s");
		usleep(5000);
	}
	ck_assert_str_eq(job_field(id, "state"), "dead");
	ck_assert_msg(strncmp(job_field(id, "last_error"), "stalled: 2 times; "
	    "last: the lease expired", 39) == 0, "last_error \"%s\"",
	    job_field(id, "last_error"));
	ck_assert_str_eq(job_field(id, "attempts"), "0");
	ck_assert_ptr_null(job_field(id, "token"));
	ck_assert_int_eq(stat_get("stalled"), 2);
	ck_assert_int_eq(stat_get("dead"), 1);
	ck_assert_int_eq(stat_get("running"), 0);
	ck_assert_int_eq(stat_get("ready"), 0);
	ck_assert_int_eq(ack_one(id, TOKEN_B), 0);
}
END_TEST

START_TEST(test_claim_reports_earliest_due_time_or_lease_end_as_next_wake)
{
	char a[REDJOB_ID_MAX], b[REDJOB_ID_MAX], c[REDJOB_ID_MAX];
	char d[REDJOB_ID_MAX];
	redisReply *r;

	r = claim_ex(1, 30000, 3, TOKEN_A);
	ck_assert_uint_eq(r->elements, 2);
	ck_assert_str_eq(r->element[1]->str, "-1");
	freeReplyObject(r);

	enqueue("t", "a", 20000, a);
	enqueue("t", "b", 30000, b);
	r = claim_ex(1, 30000, 3, TOKEN_A);
	ck_assert_uint_eq(r->elements, 2);
	ck_assert_int_eq(strtoll(r->element[1]->str, NULL, 10),
	    score_of("due", a));
	freeReplyObject(r);

	/* A lease that ends before the first due time comes first. */
	enqueue("t", "c", 0, c);
	r = claim_ex(1, 10000, 3, TOKEN_A);
	ck_assert_uint_eq(r->elements, 3);
	ck_assert_str_eq(r->element[2]->element[0]->str, c);
	ck_assert_int_eq(strtoll(r->element[1]->str, NULL, 10),
	    score_of("run", c));
	ck_assert_int_lt(score_of("run", c), score_of("due", a));
	freeReplyObject(r);

	enqueue("t", "d", 0, d);
	r = claim_ex(1, 60000, 3, TOKEN_B);
	ck_assert_uint_eq(r->elements, 3);
	ck_assert_str_eq(r->element[2]->element[0]->str, d);
	ck_assert_int_eq(strtoll(r->element[1]->str, NULL, 10),
	    score_of("run", c));
	freeReplyObject(r);

	/* With c done, a's due time is earlier than d's lease end. */
	ck_assert_int_eq(ack_one(c, TOKEN_A), 1);
	r = claim_ex(1, 60000, 3, TOKEN_B);
	ck_assert_uint_eq(r->elements, 2);
	ck_assert_int_eq(strtoll(r->element[1]->str, NULL, 10),
	    score_of("due", a));
	freeReplyObject(r);
}
END_TEST

START_TEST(test_failed_job_is_retried_after_its_delay_with_attempt_and_error)
{
	char id[REDJOB_ID_MAX], got[REDJOB_ID_MAX];
	long long t0, t1, due;
	redisReply *r;

	enqueue("t", "x", 0, id);
	claim_one(30000, TOKEN_A, got);
	t0 = server_ms();
	due = fail_one(id, TOKEN_A, "boom", 1000, 5, NULL, "retry", "1");
	t1 = server_ms();
	ck_assert_msg(due >= t0 + 1000 && due <= t1 + 1000, "due %lld is not "
	    "1000 ms after the fail (%lld-%lld)", due, t0, t1);
	ck_assert_int_eq(score_of("due", id), due);
	ck_assert_int_eq(score_of("run", id), -1);
	ck_assert_str_eq(job_field(id, "state"), "scheduled");
	ck_assert_str_eq(job_field(id, "attempts"), "1");
	ck_assert_str_eq(job_field(id, "last_error"), "boom");
	ck_assert_ptr_null(job_field(id, "token"));
	ck_assert_int_eq(stat_get("failed"), 1);
	ck_assert_int_eq(stat_get("retried"), 1);
	ck_assert_int_eq(stat_get("scheduled"), 1);

	/* Not due yet, and the token it was claimed with is spent. */
	r = claim_ex(1, 30000, 3, TOKEN_B);
	ck_assert_uint_eq(r->elements, 2);
	freeReplyObject(r);
	freeReplyObject(cmd_err("REDJOB_STALE", "FCALL redjob_fail 1 " BASE
	    " %s %s boom 0 5", id, TOKEN_A));
	ck_assert_str_eq(job_field(id, "attempts"), "1");
}
END_TEST

START_TEST(test_failure_keeps_the_last_4096_bytes_of_its_error)
{
	char id[REDJOB_ID_MAX], got[REDJOB_ID_MAX], msg[5001];
	int i;

	for (i = 0; i < 5000; i++)
		msg[i] = (char)('a' + i % 26);
	msg[5000] = '\0';
	enqueue("t", "x", 0, id);
	claim_one(30000, TOKEN_A, got);
	fail_one(id, TOKEN_A, msg, 0, 5, NULL, "retry", "1");
	ck_assert_str_eq(job_field(id, "last_error"), msg + 5000 - 4096);
}
END_TEST

START_TEST(test_failed_job_is_dead_once_its_max_attempts_are_used)
{
	struct redjob_job own2 = { .type = "t", .payload = "a",
		.payload_len = 1, .max_attempts = 2 };
	struct redjob_job own5 = { .type = "t", .payload = "c",
		.payload_len = 1, .max_attempts = 5 };
	char a[REDJOB_ID_MAX], b[REDJOB_ID_MAX], c[REDJOB_ID_MAX];
	redisReply *r;
	size_t i;
	int seen_a = 0, seen_c = 0;

	enqueue_job(&own2, a);
	enqueue("t", "b", 0, b);
	enqueue_job(&own5, c);
	r = claim_ex(3, 30000, 3, TOKEN_A);
	ck_assert_uint_eq(r->elements, 5);
	freeReplyObject(r);

	/* A job's own max_attempts wins over the argument, either way. */
	fail_one(a, TOKEN_A, "e1", 0, 5, NULL, "retry", "1");
	fail_one(b, TOKEN_A, "e1", 0, 1, NULL, "dead", "1");
	fail_one(c, TOKEN_A, "e1", 0, 1, NULL, "retry", "1");
	r = claim_ex(2, 30000, 3, TOKEN_B);
	ck_assert_uint_eq(r->elements, 4);
	for (i = 2; i < 4; i++) {
		seen_a += strcmp(r->element[i]->element[0]->str, a) == 0;
		seen_c += strcmp(r->element[i]->element[0]->str, c) == 0;
		ck_assert_str_eq(r->element[i]->element[4]->str, "1");
	}
	ck_assert_int_eq(seen_a + seen_c * 10, 11);
	freeReplyObject(r);
	fail_one(a, TOKEN_B, "e2", 0, 5, NULL, "dead", "2");

	ck_assert_str_eq(job_field(a, "state"), "dead");
	ck_assert_str_eq(job_field(a, "last_error"), "e2");
	ck_assert_str_eq(job_field(b, "state"), "dead");
	ck_assert_str_eq(job_field(b, "last_error"), "e1");
	ck_assert_str_eq(job_field(c, "state"), "running");
	ck_assert_int_eq(stat_get("dead"), 2);
	ck_assert_int_eq(stat_get("failed"), 4);
	ck_assert_int_eq(stat_get("retried"), 2);
}
END_TEST

START_TEST(test_permanent_failure_goes_straight_to_dead)
{
	char id[REDJOB_ID_MAX], got[REDJOB_ID_MAX];
	long long t0, died;

	enqueue("t", "x", 0, id);
	claim_one(30000, TOKEN_A, got);
	/* A bad flag is refused before anything is written. */
	freeReplyObject(cmd_err("REDJOB_BADARG", "FCALL redjob_fail 1 " BASE
	    " %s %s e 0 10 deadly", id, TOKEN_A));
	ck_assert_str_eq(job_field(id, "state"), "running");
	ck_assert_str_eq(job_field(id, "attempts"), "0");

	t0 = server_ms();
	died = fail_one(id, TOKEN_A, "exit-status-65", 0, 10, "dead", "dead",
	    "1");
	ck_assert_int_ge(died, t0);
	ck_assert_int_eq(score_of("dead", id), died);
	ck_assert_int_eq(score_of("run", id), -1);
	ck_assert_int_eq(score_of("due", id), -1);
	ck_assert_str_eq(job_field(id, "state"), "dead");
	ck_assert_str_eq(job_field(id, "last_error"), "exit-status-65");
	ck_assert_ptr_null(job_field(id, "token"));
	ck_assert_int_eq(stat_get("failed"), 1);
	ck_assert_int_eq(stat_get("retried"), 0);
	ck_assert_int_eq(stat_get("dead"), 1);
}
END_TEST

START_TEST(test_dead_set_keeps_only_the_dead_max_newest_jobs)
{
	char ids[4][REDJOB_ID_MAX], want[256];
	redisReply *r;
	int i;

	freeReplyObject(cmd("HSET " BASE ":meta dead_max 2"));
	for (i = 0; i < 4; i++)
		enqueue("t", "x", 0, ids[i]);
	r = claim_ex(4, 30000, 3, TOKEN_A);
	ck_assert_uint_eq(r->elements, 6);
	freeReplyObject(r);
	for (i = 0; i < 4; i++)
		fail_one(ids[i], TOKEN_A, "e", 0, 10, "dead", "dead", "1");
	ck_assert_int_eq(must_int(rf.c, "ZCARD " BASE ":dead"), 2);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(score_of("dead", ids[i]), -1);
		ck_assert(!job_exists(ids[i]));
	}
	for (i = 2; i < 4; i++) {
		ck_assert_int_ge(score_of("dead", ids[i]), 0);
		ck_assert_str_eq(job_field(ids[i], "state"), "dead");
	}
	r = cmd_err("REDJOB_NOJOB", "FCALL_RO redjob_show 1 " BASE " %s",
	    ids[0]);
	snprintf(want, sizeof want, "REDJOB_NOJOB no job %s", ids[0]);
	ck_assert_str_eq(r->str, want);
	freeReplyObject(r);
}
END_TEST

START_TEST(test_dead_jobs_older_than_dead_ttl_are_dropped)
{
	char a[REDJOB_ID_MAX], b[REDJOB_ID_MAX];
	long long died;
	uint64_t deadline;
	redisReply *r;

	freeReplyObject(cmd("HSET " BASE ":meta dead_ttl 1"));
	enqueue("t", "a", 0, a);
	enqueue("t", "b", 0, b);
	r = claim_ex(2, 30000, 3, TOKEN_A);
	ck_assert_uint_eq(r->elements, 4);
	freeReplyObject(r);
	died = fail_one(a, TOKEN_A, "e", 0, 10, "dead", "dead", "1");
	ck_assert(job_exists(a));
	deadline = testlib_now_ms() + 5000;
	while (server_ms() < died + 5) {
		ck_assert(testlib_now_ms() < deadline);
		usleep(1000);
	}
	/* Trimming happens when the next job dies. */
	fail_one(b, TOKEN_A, "e", 0, 10, "dead", "dead", "1");
	ck_assert_int_eq(score_of("dead", a), -1);
	ck_assert(!job_exists(a));
	ck_assert_int_ge(score_of("dead", b), 0);
	ck_assert(job_exists(b));
}
END_TEST

START_TEST(test_requeue_spends_no_attempt_and_counts_throttled_and_conflicts)
{
	char a[REDJOB_ID_MAX], b[REDJOB_ID_MAX], c[REDJOB_ID_MAX];
	long long t0, t1, due;
	redisReply *r;

	enqueue("t", "a", 0, a);
	enqueue("t", "b", 0, b);
	enqueue("t", "c", 0, c);
	r = claim_ex(3, 30000, 3, TOKEN_A);
	ck_assert_uint_eq(r->elements, 5);
	freeReplyObject(r);
	freeReplyObject(cmd_err("REDJOB_BADARG", "FCALL redjob_requeue 1 "
	    BASE " 0 bored %s %s", a, TOKEN_A));

	t0 = server_ms();
	r = cmd("FCALL redjob_requeue 1 " BASE " 500 throttled %s %s", a,
	    TOKEN_A);
	t1 = server_ms();
	ck_assert_int_eq(r->element[0]->integer, 1);
	freeReplyObject(r);
	r = cmd("FCALL redjob_requeue 1 " BASE " 0 conflict %s %s", b, TOKEN_A);
	ck_assert_int_eq(r->element[0]->integer, 1);
	freeReplyObject(r);
	r = cmd("FCALL redjob_requeue 1 " BASE " 0 shutdown %s %s", c, TOKEN_B);
	ck_assert_int_eq(r->element[0]->integer, 0);
	freeReplyObject(r);

	due = score_of("due", a);
	ck_assert_msg(due >= t0 + 500 && due <= t1 + 500, "due %lld", due);
	ck_assert_str_eq(job_field(a, "state"), "scheduled");
	ck_assert_str_eq(job_field(a, "attempts"), "0");
	ck_assert_str_eq(job_field(b, "state"), "ready");
	ck_assert_str_eq(job_field(b, "attempts"), "0");
	ck_assert_str_eq(job_field(c, "state"), "running");
	ck_assert_int_eq(stat_get("throttled"), 1);
	ck_assert_int_eq(stat_get("conflicts"), 1);
	ck_assert_int_eq(stat_get("requeued"), 0);
	ck_assert_int_eq(stat_get("failed"), 0);
	ck_assert_int_eq(stat_get("retried"), 0);

	/* b is claimable at once, with no attempt spent; the token is new. */
	r = claim_ex(1, 30000, 3, TOKEN_B);
	ck_assert_uint_eq(r->elements, 3);
	ck_assert_str_eq(r->element[2]->element[0]->str, b);
	ck_assert_str_eq(r->element[2]->element[4]->str, "0");
	freeReplyObject(r);
	ck_assert_int_eq(ack_one(b, TOKEN_A), 0);

	r = cmd("FCALL redjob_requeue 1 " BASE " 0 shutdown %s %s", c, TOKEN_A);
	ck_assert_int_eq(r->element[0]->integer, 1);
	freeReplyObject(r);
	ck_assert_int_eq(stat_get("requeued"), 1);
	ck_assert_str_eq(job_field(c, "attempts"), "0");
}
END_TEST

START_TEST(test_discard_drops_a_held_job_without_counting_it_processed)
{
	struct redjob_job uj = { .type = "t", .payload = "x",
		.payload_len = 1, .unique = "report" };
	char id[REDJOB_ID_MAX], got[REDJOB_ID_MAX];

	enqueue_job(&uj, id);
	claim_one(30000, TOKEN_A, got);
	ck_assert_int_eq(must_int(rf.c, "FCALL redjob_discard 1 " BASE " %s %s "
	    "conflict", id, TOKEN_B), 0);
	ck_assert(job_exists(id));
	ck_assert_int_eq(must_int(rf.c, "FCALL redjob_discard 1 " BASE " %s %s "
	    "conflict", id, TOKEN_A), 1);
	ck_assert(!job_exists(id));
	ck_assert_int_eq(score_of("run", id), -1);
	ck_assert_int_eq(must_int(rf.c, "EXISTS " BASE ":u:report"), 0);
	ck_assert_int_eq(stat_get("discarded"), 1);
	ck_assert_int_eq(stat_get("processed"), 0);
	ck_assert_int_eq(must_int(rf.c, "FCALL redjob_discard 1 " BASE " %s %s "
	    "conflict", id, TOKEN_A), 0);
	ck_assert_int_eq(stat_get("discarded"), 1);
	ck_assert_int_eq(ack_one(id, TOKEN_A), 0);
}
END_TEST

START_TEST(test_unique_enqueue_returns_the_first_job)
{
	struct redjob_job j = { .type = "t", .payload = "1", .payload_len = 1,
		.unique = "report:42" };
	char a[REDJOB_ID_MAX], b[REDJOB_ID_MAX];
	redisReply *r;

	ck_assert_int_eq(enqueue_job(&j, a), 1);
	j.payload = "2";
	ck_assert_int_eq(enqueue_job(&j, b), 0);
	ck_assert_str_eq(b, a);
	ck_assert_int_eq(must_int(rf.c, "ZCARD " BASE ":due"), 1);
	ck_assert_int_eq(stat_get("enqueued"), 1);
	ck_assert_str_eq(job_field(a, "payload"), "1");
	ck_assert_str_eq(job_field(a, "unique"), "report:42");

	r = cmd("FCALL redjob_enqueue 1 " BASE " t 3 unique report:42");
	ck_assert_str_eq(r->element[0]->str, a);
	ck_assert_int_eq(r->element[1]->integer, 0);
	freeReplyObject(r);

	j.unique = "report:43";
	ck_assert_int_eq(enqueue_job(&j, b), 1);
	ck_assert_str_ne(b, a);
}
END_TEST

START_TEST(test_unique_window_ends_after_unique_ttl)
{
	struct redjob_job j = { .type = "t", .payload = "1", .payload_len = 1,
		.unique = "w", .unique_ttl_ms = 1000 };
	char a[REDJOB_ID_MAX], b[REDJOB_ID_MAX];
	long long ttl;

	ck_assert_int_eq(enqueue_job(&j, a), 1);
	ttl = must_int(rf.c, "PTTL " BASE ":u:w");
	ck_assert_msg(ttl > 0 && ttl <= 1000, "PTTL %lld", ttl);
	ck_assert_int_eq(enqueue_job(&j, b), 0);
	ck_assert_str_eq(b, a);
	wait_key_gone(BASE ":u:w");
	ck_assert_int_eq(enqueue_job(&j, b), 1);
	ck_assert_str_ne(b, a);
	ck_assert(job_exists(a));
}
END_TEST

START_TEST(test_unique_key_without_ttl_is_released_when_job_is_acked)
{
	struct redjob_job j = { .type = "t", .payload = "1", .payload_len = 1,
		.unique = "once" };
	char a[REDJOB_ID_MAX], b[REDJOB_ID_MAX], got[REDJOB_ID_MAX];

	ck_assert_int_eq(enqueue_job(&j, a), 1);
	ck_assert_int_eq(must_int(rf.c, "PTTL " BASE ":u:once"), -1);
	claim_one(30000, TOKEN_A, got);
	ck_assert_str_eq(got, a);
	/* Running still counts as existing. */
	ck_assert_int_eq(enqueue_job(&j, b), 0);
	ck_assert_str_eq(b, a);
	ck_assert_int_eq(ack_one(a, TOKEN_A), 1);
	ck_assert_int_eq(must_int(rf.c, "EXISTS " BASE ":u:once"), 0);
	ck_assert_int_eq(enqueue_job(&j, b), 1);
	ck_assert_str_ne(b, a);
}
END_TEST

START_TEST(test_paused_queue_is_not_claimed_until_resumed)
{
	char id[REDJOB_ID_MAX], got[REDJOB_ID_MAX];
	redisReply *r;

	ck_assert_int_eq(must_int(rf.c, "FCALL redjob_pause 1 " BASE), 1);
	enqueue("t", "x", 0, id);
	ck_assert_int_eq(stat_get("paused"), 1);
	ck_assert_int_eq(stat_get("ready"), 1);
	r = claim_ex(10, 30000, 3, TOKEN_A);
	ck_assert_uint_eq(r->elements, 2);
	/* Nothing to wake for while paused: due times do not count. */
	ck_assert_str_eq(r->element[1]->str, "-1");
	freeReplyObject(r);
	ck_assert_int_eq(stat_get("ready"), 1);

	freeReplyObject(cmd("DEL " BASE ":wake"));
	ck_assert_int_eq(must_int(rf.c, "FCALL redjob_resume 1 " BASE), 1);
	r = cmd("ZSCORE " BASE ":wake w");
	ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
	ck_assert_str_eq(r->str, "0");
	freeReplyObject(r);
	ck_assert_int_eq(stat_get("paused"), 0);
	claim_one(30000, TOKEN_A, got);
	ck_assert_str_eq(got, id);
}
END_TEST

START_TEST(test_dead_job_can_be_retried_with_no_attempts_spent)
{
	char id[REDJOB_ID_MAX], got[REDJOB_ID_MAX], s[REDJOB_ID_MAX];
	redisReply *r;

	enqueue("t", "x", 0, id);
	claim_one(30000, TOKEN_A, got);
	fail_one(id, TOKEN_A, "e", 0, 10, "dead", "dead", "1");
	r = cmd("FCALL redjob_retry 1 " BASE " %s", id);
	ck_assert_str_eq(r->str, "dead");
	freeReplyObject(r);
	ck_assert_int_eq(score_of("dead", id), -1);
	ck_assert_int_ge(score_of("due", id), 0);
	ck_assert_str_eq(job_field(id, "state"), "ready");
	ck_assert_str_eq(job_field(id, "attempts"), "0");
	r = claim_ex(1, 30000, 3, TOKEN_B);
	ck_assert_uint_eq(r->elements, 3);
	ck_assert_str_eq(r->element[2]->element[0]->str, id);
	ck_assert_str_eq(r->element[2]->element[4]->str, "0");
	freeReplyObject(r);

	freeReplyObject(cmd_err("REDJOB_RUNNING", "FCALL redjob_retry 1 " BASE
	    " %s", id));
	ck_assert_str_eq(job_field(id, "token"), TOKEN_B);

	/* A scheduled job is made due now. */
	enqueue("t", "s", 60000, s);
	r = cmd("FCALL redjob_retry 1 " BASE " %s", s);
	ck_assert_str_eq(r->str, "scheduled");
	freeReplyObject(r);
	claim_one(30000, TOKEN_B, got);
	ck_assert_str_eq(got, s);

	freeReplyObject(cmd_err("REDJOB_NOJOB", "FCALL redjob_retry 1 " BASE
	    " default:999"));
}
END_TEST

START_TEST(test_job_can_be_removed_in_every_state)
{
	struct redjob_job uj = { .type = "t", .payload = "r",
		.payload_len = 1, .unique = "ur" };
	char ids[4][REDJOB_ID_MAX], got[REDJOB_ID_MAX];
	static const char *states[4] = { "running", "dead", "ready",
		"scheduled" };
	redisReply *r;
	int i;

	enqueue("t", "u", 0, ids[0]);
	claim_one(30000, TOKEN_A, got);
	enqueue("t", "d", 0, ids[1]);
	claim_one(30000, TOKEN_A, got);
	fail_one(ids[1], TOKEN_A, "e", 0, 10, "dead", "dead", "1");
	enqueue_job(&uj, ids[2]);
	enqueue("t", "s", 60000, ids[3]);
	for (i = 0; i < 4; i++)
		ck_assert_str_eq(job_field(ids[i], "state"), states[i]);

	for (i = 0; i < 4; i++) {
		r = cmd("FCALL redjob_remove 1 " BASE " %s", ids[i]);
		ck_assert_str_eq(r->str, states[i]);
		freeReplyObject(r);
		ck_assert(!job_exists(ids[i]));
		ck_assert_int_eq(score_of("due", ids[i]), -1);
		ck_assert_int_eq(score_of("run", ids[i]), -1);
		ck_assert_int_eq(score_of("dead", ids[i]), -1);
		freeReplyObject(cmd_err("REDJOB_NOJOB", "FCALL redjob_remove 1 "
		    BASE " %s", ids[i]));
	}
	/* The removed running job's holder is refused. */
	ck_assert_int_eq(ack_one(ids[0], TOKEN_A), 0);
	ck_assert_int_eq(stat_get("processed"), 0);
	/* The unique key went with its job. */
	ck_assert_int_eq(must_int(rf.c, "EXISTS " BASE ":u:ur"), 0);
	ck_assert_int_eq(enqueue_job(&uj, got), 1);
}
END_TEST

START_TEST(test_full_redis_refuses_enqueue_and_writes_nothing_but_ack_works)
{
	struct redjob_job jobs[3] = {
		{ .type = "t", .payload = "1", .payload_len = 1 },
		{ .type = "t", .payload = "2", .payload_len = 1 },
		{ .type = "t", .payload = "3", .payload_len = 1,
		    .queue = "other" },
	};
	struct redjob_result res[2];
	char id[REDJOB_ID_MAX], got[REDJOB_ID_MAX];
	redisReply *r;

	enqueue("t", "x", 0, id);
	claim_one(30000, TOKEN_A, got);
	freeReplyObject(cmd("CONFIG SET maxmemory 1"));

	ck_assert_int_eq(redjob_enqueue(cl, &jobs[0], got), -1);
	ck_assert_int_eq(redjob_errcode(cl), REDJOB_ERR_OOM);
	ck_assert_msg(strstr(redjob_errstr(cl), "out of memory") != NULL,
	    "message: %s", redjob_errstr(cl));
	ck_assert_int_eq(redjob_enqueue_many(cl, jobs, 2, res), 0);
	ck_assert_int_eq(res[0].err, REDJOB_ERR_OOM);
	ck_assert_int_eq(res[1].err, REDJOB_ERR_OOM);
	/* A queue new to this client: its registration is refused first. */
	ck_assert_int_eq(redjob_enqueue(cl, &jobs[2], got), -1);
	ck_assert_int_eq(redjob_errcode(cl), REDJOB_ERR_OOM);
	ck_assert_int_eq(must_int(rf.c, "SISMEMBER redjob:queues other"), 0);
	ck_assert_int_eq(must_int(rf.c, "EXISTS redjob:{other}:seq"), 0);

	/* Nothing was written; reading and acking still work. */
	r = cmd("GET " BASE ":seq");
	ck_assert_str_eq(r->str, "1");
	freeReplyObject(r);
	ck_assert_int_eq(stat_get("enqueued"), 1);
	ck_assert_int_eq(stat_get("ready"), 0);
	ck_assert_int_eq(ack_one(id, TOKEN_A), 1);
	ck_assert_int_eq(stat_get("processed"), 1);
	ck_assert(!job_exists(id));

	freeReplyObject(cmd("CONFIG SET maxmemory 0"));
	enqueue("t", "y", 0, got);
	ck_assert_str_eq(got, "default:2");
}
END_TEST

START_TEST(test_queue_with_newer_schema_refuses_every_function)
{
	static const char *calls[] = {
		"FCALL redjob_enqueue 1 " BASE " t p",
		"FCALL redjob_claim 1 " BASE " 1 1000 3 tokentoken w",
		"FCALL redjob_extend 1 " BASE " 1000 default:1 tokentoken",
		"FCALL redjob_ack 1 " BASE " default:1 tokentoken",
		"FCALL redjob_fail 1 " BASE " default:1 tokentoken e 0 3",
		"FCALL redjob_requeue 1 " BASE " 0 throttled default:1 tok",
		"FCALL redjob_discard 1 " BASE " default:1 tokentoken conflict",
		"FCALL redjob_retry 1 " BASE " default:1",
		"FCALL redjob_remove 1 " BASE " default:1",
		"FCALL redjob_pause 1 " BASE,
		"FCALL redjob_resume 1 " BASE,
		"FCALL_RO redjob_stats 1 " BASE,
		"FCALL_RO redjob_show 1 " BASE " default:1",
		"FCALL_RO redjob_list 1 " BASE " ready 0 10",
	};
	char want[256], id[REDJOB_ID_MAX];
	struct redjob_job j = { .type = "t", .payload = "p",
		.payload_len = 1 };
	redisReply *r;
	size_t i;

	freeReplyObject(cmd("HSET " BASE ":meta schema 999"));
	snprintf(want, sizeof want, "queue default has schema 999, this "
	    "library speaks schema %d", rfunc_schema_version);
	for (i = 0; i < sizeof calls / sizeof calls[0]; i++) {
		r = redisCommand(rf.c, calls[i]);
		assert_code(r, "REDJOB_SCHEMA", calls[i]);
		ck_assert_str_eq(r->str + strlen("REDJOB_SCHEMA "), want);
		freeReplyObject(r);
	}
	ck_assert_int_eq(redjob_enqueue(cl, &j, id), -1);
	ck_assert_int_eq(redjob_errcode(cl), REDJOB_ERR_VERSION);
	ck_assert_str_eq(redjob_errstr(cl), want);
	/* None of them wrote. */
	ck_assert_int_eq(must_int(rf.c, "EXISTS " BASE ":seq " BASE ":due " BASE
	    ":wake " BASE ":stats"), 0);
	ck_assert_int_eq(must_int(rf.c, "HLEN " BASE ":meta"), 1);
}
END_TEST

/* Replace the library in Redis with a fake redjob of given versions. */
static void
load_fake_library(long long lib, long long schema)
{
	char code[512];

	snprintf(code, sizeof code, "#!lua name=redjob\n"
	    "redis.register_function{function_name='redjob_version', "
	    "callback=function() return {%lld, %lld} end, "
	    "flags={'no-writes'}}\n", lib, schema);
	freeReplyObject(cmd("FUNCTION LOAD REPLACE %s", code));
}

START_TEST(test_newer_library_in_redis_makes_connect_fail)
{
	struct redjob_client *c;
	char want[256];
	redisReply *r;

	load_fake_library(rfunc_lib_version + 1, rfunc_schema_version);
	c = redjob_connect(rf.url, NULL);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(redjob_errcode(c), REDJOB_ERR_VERSION);
	snprintf(want, sizeof want, "redis holds redjob library version %d, "
	    "newer than this client's %d: upgrade this client",
	    rfunc_lib_version + 1, rfunc_lib_version);
	ck_assert_str_eq(redjob_errstr(c), want);
	redjob_free(c);
	/* It was left alone: a newer redjob owns this Redis. */
	r = cmd("FCALL_RO redjob_version 0");
	ck_assert_int_eq(r->element[0]->integer, rfunc_lib_version + 1);
	freeReplyObject(r);

	load_fake_library(rfunc_lib_version, rfunc_schema_version + 1);
	c = redjob_connect(rf.url, NULL);
	ck_assert_int_eq(redjob_errcode(c), REDJOB_ERR_VERSION);
	snprintf(want, sizeof want, "redis holds the redjob library for "
	    "schema %d; this client speaks schema %d",
	    rfunc_schema_version + 1, rfunc_schema_version);
	ck_assert_str_eq(redjob_errstr(c), want);
	redjob_free(c);
}
END_TEST

START_TEST(test_older_library_in_redis_is_replaced_at_connect)
{
	struct redjob_client *c;
	struct redjob_job j = { .type = "t", .payload = "p",
		.payload_len = 1 };
	char id[REDJOB_ID_MAX];
	redisReply *r;

	load_fake_library(rfunc_lib_version - 1, rfunc_schema_version);
	c = redjob_connect(rf.url, NULL);
	ck_assert_msg(redjob_errcode(c) == REDJOB_OK, "connect: %s",
	    redjob_errstr(c));
	r = cmd("FCALL_RO redjob_version 0");
	ck_assert_int_eq(r->element[0]->integer, rfunc_lib_version);
	ck_assert_int_eq(r->element[1]->integer, rfunc_schema_version);
	freeReplyObject(r);
	ck_assert_int_eq(redjob_enqueue(c, &j, id), 0);
	redjob_free(c);
}
END_TEST

START_TEST(test_bad_arguments_are_refused_with_their_code_first)
{
	struct redjob_job j = { .type = "t", .payload = "p",
		.payload_len = 1 };
	char id[REDJOB_ID_MAX];
	redisReply *r;

	freeReplyObject(cmd_err("REDJOB_BADKEY", "FCALL redjob_enqueue 1 %s "
	    "t p", "nobrace"));
	freeReplyObject(cmd_err("REDJOB_BADKEY", "FCALL redjob_enqueue 1 %s "
	    "t p", "redjob:{bad queue}"));
	freeReplyObject(cmd_err("REDJOB_BADKEY", "FCALL redjob_enqueue 1 %s "
	    "t p", "{default}"));
	freeReplyObject(cmd_err("REDJOB_BADKEY", "FCALL redjob_enqueue 2 "
	    BASE " " BASE " t p"));
	freeReplyObject(cmd_err("REDJOB_BADKEY", "FCALL_RO redjob_stats 0"));

	r = cmd_err("REDJOB_BADARG", "FCALL redjob_enqueue 1 " BASE
	    " t p colour red");
	ck_assert_str_eq(r->str, "REDJOB_BADARG unknown option \"colour\"");
	freeReplyObject(r);
	freeReplyObject(cmd_err("REDJOB_BADARG", "FCALL redjob_enqueue 1 "
	    BASE " t p delay -5"));
	freeReplyObject(cmd_err("REDJOB_BADARG", "FCALL redjob_enqueue 1 "
	    BASE " t p delay"));
	freeReplyObject(cmd_err("REDJOB_BADARG", "FCALL redjob_enqueue 1 "
	    BASE " %s p", "bad type"));
	freeReplyObject(cmd_err("REDJOB_BADARG", "FCALL redjob_enqueue 1 "
	    BASE " t"));
	freeReplyObject(cmd_err("REDJOB_BADARG", "FCALL redjob_enqueue 1 "
	    BASE " t p max_attempts 0"));
	freeReplyObject(cmd_err("REDJOB_BADARG", "FCALL redjob_claim 1 " BASE
	    " 1 1000 3 short w"));
	freeReplyObject(cmd_err("REDJOB_BADARG", "FCALL redjob_claim 1 " BASE
	    " 1001 1000 3 tokentoken w"));
	freeReplyObject(cmd_err("REDJOB_BADARG", "FCALL redjob_ack 1 " BASE
	    " default:1"));
	freeReplyObject(cmd_err("REDJOB_BADARG", "FCALL_RO redjob_list 1 "
	    BASE " nowhere 0 10"));

	r = cmd_err("REDJOB_BADID", "FCALL_RO redjob_show 1 " BASE
	    " other:1");
	ck_assert_str_eq(r->str, "REDJOB_BADID job id \"other:1\" does not "
	    "belong to queue default");
	freeReplyObject(r);
	freeReplyObject(cmd_err("REDJOB_BADID", "FCALL redjob_ack 1 " BASE
	    " default:x tokentoken"));
	freeReplyObject(cmd_err("REDJOB_BADID", "FCALL redjob_remove 1 " BASE
	    " 1"));
	/* None of them wrote anything. */
	ck_assert_int_eq(must_int(rf.c, "DBSIZE"), 0);

	/* libredjob gives the message without the code, and a class. */
	j.queue = "bad queue";
	ck_assert_int_eq(redjob_enqueue(cl, &j, id), -1);
	ck_assert_int_eq(redjob_errcode(cl), REDJOB_ERR_INVALID);
	ck_assert_str_eq(redjob_errstr(cl), "invalid queue name \"bad queue\" "
	    "(1-128 of A-Z a-z 0-9 _ . -)");
	j.queue = NULL;
	j.type = "bad type";
	ck_assert_int_eq(redjob_enqueue(cl, &j, id), -1);
	ck_assert_int_eq(redjob_errcode(cl), REDJOB_ERR_INVALID);
	ck_assert_str_eq(redjob_errstr(cl), "job type must be 1-128 of A-Z "
	    "a-z 0-9 _ . : -");
	ck_assert_int_eq(must_int(rf.c, "EXISTS " BASE ":seq"), 0);
}
END_TEST

/*
 * The hash tag of a key as Redis Cluster computes it: the text between
 * the first '{' and the first '}' after it, if not empty; else the key.
 */
static void
hash_tag(const char *key, char *tag, size_t len)
{
	const char *left = strchr(key, '{'), *right;

	if (left != NULL && (right = strchr(left + 1, '}')) != NULL &&
	    right > left + 1) {
		snprintf(tag, len, "%.*s", (int)(right - left - 1), left + 1);
		return;
	}
	snprintf(tag, len, "%s", key);
}

START_TEST(test_every_queue_key_carries_the_queue_hash_tag)
{
	static const struct {
		const char *suffix;	/* after BASE */
		int prefix;		/* suffix is a prefix (":j:N") */
		const char *type;
	} kinds[] = {
		{ ":due", 0, "zset" }, { ":run", 0, "zset" },
		{ ":tok", 0, "hash" },
		{ ":dead", 0, "zset" }, { ":wake", 0, "zset" },
		{ ":stats", 0, "hash" }, { ":meta", 0, "hash" },
		{ ":seq", 0, "string" }, { ":j:", 1, "hash" },
		{ ":jobs", 0, "hash" },
		{ ":u:", 1, "string" },
	};
	struct redjob_job uj = { .type = "t", .payload = "u",
		.payload_len = 1, .unique = "k1", .unique_ttl_ms = 60000 };
	char j1[REDJOB_ID_MAX], j2[REDJOB_ID_MAX], j3[REDJOB_ID_MAX];
	char got[REDJOB_ID_MAX], tag[256];
	int seen[sizeof kinds / sizeof kinds[0]] = { 0 }, queues = 0, k;
	const char *key, *rest;
	redisReply *r, *t;
	size_t i, nk = sizeof kinds / sizeof kinds[0];

	/* A full lifecycle: every function that writes. */
	enqueue_job(&uj, j1);
	enqueue("t", "2", 0, j2);
	enqueue("t", "3", 60000, j3);
	r = claim_ex(2, 30000, 3, TOKEN_A);
	ck_assert_uint_eq(r->elements, 4);
	freeReplyObject(r);
	ck_assert_int_eq(extend_one(60000, j1, TOKEN_A), 1);
	fail_one(j2, TOKEN_A, "e", 0, 1, NULL, "dead", "1");
	freeReplyObject(cmd("FCALL redjob_retry 1 " BASE " %s", j2));
	claim_one(30000, TOKEN_B, got);
	ck_assert_str_eq(got, j2);
	freeReplyObject(cmd("FCALL redjob_requeue 1 " BASE " 0 throttled %s "
	    "%s", j2, TOKEN_B));
	claim_one(30000, TOKEN_C, got);
	ck_assert_str_eq(got, j2);
	fail_one(j2, TOKEN_C, "e", 0, 5, "dead", "dead", "1");
	freeReplyObject(cmd("FCALL redjob_pause 1 " BASE));
	freeReplyObject(cmd("FCALL redjob_resume 1 " BASE));
	enqueue("t", "4", 0, got);
	freeReplyObject(cmd("FCALL redjob_remove 1 " BASE " %s", got));
	freeReplyObject(cmd("FCALL_RO redjob_list 1 " BASE " dead 0 10"));

	r = cmd("KEYS *");
	for (i = 0; i < r->elements; i++) {
		key = r->element[i]->str;
		t = cmd("TYPE %s", key);
		if (strcmp(key, "redjob:queues") == 0) {
			ck_assert_str_eq(t->str, "set");
			queues = 1;
			freeReplyObject(t);
			continue;
		}
		hash_tag(key, tag, sizeof tag);
		ck_assert_msg(strcmp(tag, "default") == 0, "key %s has hash "
		    "tag \"%s\", not the queue's", key, tag);
		ck_assert_msg(strncmp(key, BASE ":", strlen(BASE) + 1) == 0,
		    "key %s does not start with " BASE ":", key);
		rest = key + strlen(BASE);
		for (k = 0; k < (int)nk; k++) {
			if (kinds[k].prefix ?
			    strncmp(rest, kinds[k].suffix,
			    strlen(kinds[k].suffix)) == 0 :
			    strcmp(rest, kinds[k].suffix) == 0)
				break;
		}
		ck_assert_msg(k < (int)nk, "key %s is not in docs/protocol.md",
		    key);
		ck_assert_msg(strcmp(t->str, kinds[k].type) == 0, "key %s is "
		    "a %s, not a %s", key, t->str, kinds[k].type);
		seen[k] = 1;
		freeReplyObject(t);
	}
	freeReplyObject(r);
	ck_assert_msg(queues, "no redjob:queues registry");
	for (k = 0; k < (int)nk; k++)
		ck_assert_msg(seen[k], "no key %s%s after a full lifecycle",
		    BASE, kinds[k].suffix);
}
END_TEST

START_TEST(test_ack_counts_a_job_named_twice_once)
{
	char id[REDJOB_ID_MAX], got[REDJOB_ID_MAX];
	redisReply *r;

	enqueue("t", "x", 0, id);
	claim_one(30000, TOKEN_A, got);
	r = cmd("FCALL redjob_ack 1 " BASE " %s %s %s %s", id, TOKEN_A, id,
	    TOKEN_A);
	ck_assert_uint_eq(r->elements, 2);
	ck_assert_int_eq(r->element[0]->integer, 1);
	ck_assert_int_eq(r->element[1]->integer, 0);
	freeReplyObject(r);
	ck_assert_int_eq(stat_get("processed"), 1);
}
END_TEST

START_TEST(test_ack_of_more_than_1000_jobs_is_refused_before_any_write)
{
	enum { N = 1001 };
	struct redjob_job *jobs;
	struct redjob_result *res;
	const char **av;
	size_t *lens, n, i;
	redisReply *r;

	jobs = calloc(N, sizeof *jobs);
	res = calloc(N, sizeof *res);
	av = calloc(4 + 2 * N, sizeof *av);
	lens = calloc(4 + 2 * N, sizeof *lens);
	ck_assert(jobs != NULL && res != NULL && av != NULL && lens != NULL);
	for (i = 0; i < N; i++) {
		jobs[i].type = "t";
		jobs[i].payload = "p";
		jobs[i].payload_len = 1;
	}
	ck_assert_int_eq(redjob_enqueue_many(cl, jobs, N, res), N);
	freeReplyObject(claim_ex(1000, 30000, 3, TOKEN_A));
	freeReplyObject(claim_ex(1000, 30000, 3, TOKEN_A));
	ck_assert_int_eq(stat_get("running"), N);

	n = 0;
	av[n++] = "FCALL";
	av[n++] = "redjob_ack";
	av[n++] = "1";
	av[n++] = BASE;
	for (i = 0; i < N; i++) {
		av[n++] = res[i].id;
		av[n++] = TOKEN_A;
	}
	for (i = 0; i < n; i++)
		lens[i] = strlen(av[i]);
	r = redisCommandArgv(rf.c, (int)n, av, lens);
	assert_code(r, "REDJOB_BADARG", "ack of 1001 jobs");
	ck_assert_str_eq(r->str, "REDJOB_BADARG at most 1000 ID TOKEN pairs");
	freeReplyObject(r);
	ck_assert_int_eq(stat_get("running"), N);
	ck_assert_int_eq(stat_get("processed"), 0);
	ck_assert(job_exists(res[0].id));
	ck_assert(job_exists(res[N - 1].id));

	/* 1000 is fine. */
	r = redisCommandArgv(rf.c, (int)n - 2, av, lens);
	ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
	ck_assert_uint_eq(r->elements, N - 1);
	for (i = 0; i < N - 1; i++)
		ck_assert_int_eq(r->element[i]->integer, 1);
	freeReplyObject(r);
	ck_assert_int_eq(stat_get("processed"), N - 1);
	free(jobs);
	free(res);
	free(av);
	free(lens);
}
END_TEST

/*
 * One claimer process of the concurrent test: wait for the start (EOF on
 * go), then claim batches and ack them until nothing is due, writing each
 * id it got to path. Returns an exit status. Runs in a forked child, so
 * it must not use Check.
 */
static int
claimer(int index, const char *path, int go)
{
	const char *av[4 + 2 * CC_CLAIM_BATCH];
	size_t lens[4 + 2 * CC_CLAIM_BATCH], i, n;
	char token[64], b;
	redisContext *c;
	redisReply *r, *a;
	FILE *f;
	ssize_t got;
	int status = 0, ok;

	snprintf(token, sizeof token, "claimer-%d-%ld", index, (long)getpid());
	if ((f = fopen(path, "w")) == NULL)
		return 10;
	c = redisConnectUnix(rf.sock);
	if (c == NULL || c->err != 0)
		return 11;
	while ((got = read(go, &b, 1)) != 0) {
		if (got < 0 && errno != EINTR)
			return 12;
	}
	for (;;) {
		r = redisCommand(c, "FCALL redjob_claim 1 %s %d 60000 3 %s "
		    "w%d", BASE, CC_CLAIM_BATCH, token, index);
		if (r == NULL || r->type != REDIS_REPLY_ARRAY ||
		    r->elements < 2) {
			status = 13;
			break;
		}
		/* All were enqueued before we started: none due is done. */
		if (r->elements == 2) {
			freeReplyObject(r);
			break;
		}
		n = 0;
		av[n++] = "FCALL";
		av[n++] = "redjob_ack";
		av[n++] = "1";
		av[n++] = BASE;
		for (i = 2; i < r->elements; i++) {
			fprintf(f, "%s\n", r->element[i]->element[0]->str);
			av[n++] = r->element[i]->element[0]->str;
			av[n++] = token;
		}
		for (i = 0; i < n; i++)
			lens[i] = strlen(av[i]);
		a = redisCommandArgv(c, (int)n, av, lens);
		ok = a != NULL && a->type == REDIS_REPLY_ARRAY &&
		    a->elements == r->elements - 2;
		for (i = 0; ok && i < a->elements; i++)
			ok = a->element[i]->integer == 1;
		if (a != NULL)
			freeReplyObject(a);
		freeReplyObject(r);
		if (!ok) {
			status = 14;
			break;
		}
	}
	if (fclose(f) != 0 && status == 0)
		status = 15;
	redisFree(c);
	return status;
}

/* What proc runs in each claimer's child. */
struct claimer_arg {
	int		 index;
	const char	*path;
	int		 go[2];
};

static int
claimer_fn(void *arg)
{
	struct claimer_arg *a = arg;

	/* Our copy of the write end would keep the start from coming. */
	close(a->go[1]);
	return claimer(a->index, a->path, a->go[0]);
}

START_TEST(test_four_processes_claiming_20000_jobs_get_each_exactly_once)
{
	struct redjob_job *jobs;
	struct redjob_result *res;
	unsigned char *seen;
	char *dir, path[CC_PROCS][4096], line[256], *end;
	struct claimer_arg args[CC_PROCS];
	struct proc *pr[CC_PROCS];
	int go[2], i, busy = 0;
	long per[CC_PROCS], total = 0, n;
	FILE *f;

	jobs = calloc(CC_JOBS, sizeof *jobs);
	res = calloc(CC_JOBS, sizeof *res);
	seen = calloc(CC_JOBS + 1, 1);
	ck_assert(jobs != NULL && res != NULL && seen != NULL);
	for (i = 0; i < CC_JOBS; i++) {
		jobs[i].type = "t";
		jobs[i].payload = "p";
		jobs[i].payload_len = 1;
	}
	for (i = 0; i < CC_JOBS; i += CC_ENQUEUE_BATCH)
		ck_assert_int_eq(redjob_enqueue_many(cl, jobs + i,
		    CC_ENQUEUE_BATCH, res + i), CC_ENQUEUE_BATCH);
	for (i = 0; i < CC_JOBS; i++) {
		ck_assert_int_eq(strncmp(res[i].id, "default:", 8), 0);
		n = strtol(res[i].id + 8, &end, 10);
		ck_assert_msg(*end == '\0' && n >= 1 && n <= CC_JOBS &&
		    !seen[n], "enqueue gave id %s", res[i].id);
		seen[n] = 1;
	}
	memset(seen, 0, CC_JOBS + 1);
	ck_assert_int_eq(stat_get("ready"), CC_JOBS);

	dir = testlib_tmpdir("claim");
	ck_assert_int_eq(pipe(go), 0);
	for (i = 0; i < CC_PROCS; i++) {
		snprintf(path[i], sizeof path[i], "%s/claimer-%d", dir, i);
		args[i].index = i;
		args[i].path = path[i];
		args[i].go[0] = go[0];
		args[i].go[1] = go[1];
		pr[i] = must_spawn(&(struct proc_spec){ .fn = claimer_fn,
		    .arg = &args[i], .name = "claimer" });
	}
	/* Start them all at once. */
	close(go[0]);
	close(go[1]);
	for (i = 0; i < CC_PROCS; i++) {
		/* Within the TCase's 300 s: its timeout is the real bound. */
		ck_assert_msg(must_wait(pr[i], 290000) == 0,
		    "claimer %d ended with status %d", i, pr[i]->status);
		proc_free(pr[i]);
	}

	for (i = 0; i < CC_PROCS; i++) {
		ck_assert_ptr_nonnull(f = fopen(path[i], "r"));
		per[i] = 0;
		while (fgets(line, sizeof line, f) != NULL) {
			line[strcspn(line, "\n")] = '\0';
			ck_assert_int_eq(strncmp(line, "default:", 8), 0);
			n = strtol(line + 8, &end, 10);
			ck_assert_msg(*end == '\0' && n >= 1 && n <= CC_JOBS,
			    "claimer %d got id \"%s\"", i, line);
			ck_assert_msg(!seen[n], "job %s was claimed twice",
			    line);
			seen[n] = 1;
			per[i]++;
		}
		fclose(f);
		total += per[i];
		busy += per[i] > 0;
	}
	ck_assert_int_eq(total, CC_JOBS);
	/* Every id was seen exactly once (no duplicate, so none missing). */
	for (i = 1; i <= CC_JOBS; i++)
		ck_assert_msg(seen[i], "job default:%d was never claimed", i);
	ck_assert_msg(busy >= 2, "only %d of %d claimers got jobs: no "
	    "concurrency was tested", busy, CC_PROCS);
	ck_assert_int_eq(stat_get("processed"), CC_JOBS);
	ck_assert_int_eq(stat_get("running"), 0);
	ck_assert_int_eq(stat_get("ready"), 0);
	ck_assert_int_eq(stat_get("stalled"), 0);
	testlib_rmtree(dir);
	free(dir);
	free(jobs);
	free(res);
	free(seen);
}
END_TEST

START_TEST(test_library_is_reloaded_after_redis_restarts_empty)
{
	struct redjob_job jobs[10];
	struct redjob_result res[10];
	char id[REDJOB_ID_MAX], want[REDJOB_ID_MAX];
	redisReply *r;
	int i;

	for (i = 0; i < 10; i++) {
		memset(&jobs[i], 0, sizeof jobs[i]);
		jobs[i].type = "t";
		jobs[i].payload = "p";
		jobs[i].payload_len = 1;
	}
	enqueue("t", "1", 0, id);
	ck_assert_str_eq(id, "default:1");
	restart_redis();
	r = redisCommand(rf.c, "FCALL_RO redjob_version 0");
	ck_assert_ptr_nonnull(r);
	ck_assert_msg(r->type == REDIS_REPLY_ERROR &&
	    strncmp(r->str, "ERR Function not found", 22) == 0,
	    "the restart kept the library");
	freeReplyObject(r);

	/*
	 * The client sees that the server closed its connection before it
	 * sends anything, reconnects and loads the library.
	 */
	enqueue("t", "2", 0, id);
	ck_assert_str_eq(id, "default:1");
	r = cmd("FCALL_RO redjob_version 0");
	ck_assert_int_eq(r->element[0]->integer, rfunc_lib_version);
	freeReplyObject(r);
	/* The queue registry was lost too, and is written again. */
	ck_assert_int_eq(must_int(rf.c, "SISMEMBER redjob:queues default"), 1);

	/* The same through a pipelined batch. */
	restart_redis();
	ck_assert_int_eq(redjob_enqueue_many(cl, jobs, 10, res), 10);
	for (i = 0; i < 10; i++) {
		snprintf(want, sizeof want, "default:%d", i + 1);
		ck_assert_str_eq(res[i].id, want);
	}
	ck_assert_int_eq(must_int(rf.c, "SISMEMBER redjob:queues default"), 1);
}
END_TEST

START_TEST(test_dead_redis_gives_io_error_and_client_reconnects_when_back)
{
	struct redjob_job j = { .type = "t", .payload = "p",
		.payload_len = 1 };
	char id[REDJOB_ID_MAX], want[512];

	enqueue("t", "1", 0, id);
	redis_fixture_kill(SIGKILL);

	/* Every call tries to connect again, and says it cannot. */
	snprintf(want, sizeof want, "cannot connect to redis at %s: No such "
	    "file or directory", rf.sock);
	ck_assert_int_eq(redjob_enqueue(cl, &j, id), -1);
	ck_assert_int_eq(redjob_errcode(cl), REDJOB_ERR_IO);
	ck_assert_str_eq(redjob_errstr(cl), want);
	ck_assert_int_eq(redjob_enqueue(cl, &j, id), -1);
	ck_assert_int_eq(redjob_errcode(cl), REDJOB_ERR_IO);
	ck_assert_str_eq(redjob_errstr(cl), want);

	redis_fixture_spawn(NULL);
	redis_conn_teardown();
	rf.c = must_connect();
	enqueue("t", "2", 0, id);
	ck_assert_str_eq(id, "default:1");
}
END_TEST

START_TEST(test_client_survives_redis_closing_its_connection)
{
	char id[REDJOB_ID_MAX];

	enqueue("t", "1", 0, id);
	/* What an idle `timeout` does; SKIPME spares our own rf.c. */
	ck_assert_int_ge(must_int(rf.c, "CLIENT KILL TYPE normal"), 1);
	enqueue("t", "2", 0, id);
	ck_assert_str_eq(id, "default:2");
	ck_assert_int_eq(must_int(rf.c, "CLIENT KILL TYPE normal"), 1);
	ck_assert_int_eq(must_int(rf.c, "DEL redjob:queues"), 1);
	enqueue("t", "3", 0, id);
	ck_assert_str_eq(id, "default:3");
	/* A new connection registers its queue again. */
	ck_assert_int_eq(must_int(rf.c, "SISMEMBER redjob:queues default"), 1);
	ck_assert_int_eq(stat_get("enqueued"), 3);
}
END_TEST

START_TEST(test_connect_to_absent_redis_gives_io_error)
{
	struct redjob_job j = { .type = "t", .payload = "p",
		.payload_len = 1 };
	struct redjob_client *c;
	char url[4200], want[4200], id[REDJOB_ID_MAX];

	snprintf(url, sizeof url, "unix://%s/absent.sock", rf.dir);
	c = redjob_connect(url, NULL);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(redjob_errcode(c), REDJOB_ERR_IO);
	snprintf(want, sizeof want, "cannot connect to redis at %s/absent.sock"
	    ": No such file or directory", rf.dir);
	ck_assert_str_eq(redjob_errstr(c), want);
	ck_assert_int_eq(redjob_enqueue(c, &j, id), -1);
	ck_assert_int_eq(redjob_errcode(c), REDJOB_ERR_IO);
	ck_assert_str_eq(redjob_errstr(c), want);
	redjob_free(c);

	c = redjob_connect("redis://127.0.0.1:1/0", NULL);
	ck_assert_int_eq(redjob_errcode(c), REDJOB_ERR_IO);
	ck_assert_str_eq(redjob_errstr(c), "cannot connect to redis at "
	    "127.0.0.1:1: Connection refused");
	redjob_free(c);
}
END_TEST

/*
 * Exact values: the boundaries and times that docs/protocol.md defines,
 * asserted to the millisecond, and the dead set, unique keys and counts
 * checked after each step rather than only at the end.
 */

/* Enqueue n jobs of type "t" due at first, first + 1, ... (one call). */
static void
enqueue_due_from(long long first, int n)
{
	const char **argv;
	size_t *lens;
	char (*at)[24], count[16];
	redisReply *r;
	int i, k = 0;

	ck_assert_int_le(n, 1000);
	argv = calloc((size_t)n * 5 + 5, sizeof *argv);
	lens = calloc((size_t)n * 5 + 5, sizeof *lens);
	at = calloc((size_t)n, sizeof *at);
	ck_assert(argv != NULL && lens != NULL && at != NULL);
	snprintf(count, sizeof count, "%d", n);
	argv[k++] = "FCALL";
	argv[k++] = "redjob_enqueue_bulk";
	argv[k++] = "1";
	argv[k++] = BASE;
	argv[k++] = count;
	for (i = 0; i < n; i++) {
		snprintf(at[i], sizeof at[i], "%lld", first + i);
		argv[k++] = "t";
		argv[k++] = "";
		argv[k++] = "1";
		argv[k++] = "at";
		argv[k++] = at[i];
	}
	for (i = 0; i < k; i++)
		lens[i] = strlen(argv[i]);
	r = redisCommandArgv(rf.c, k, argv, lens);
	ck_assert_msg(r != NULL && r->type == REDIS_REPLY_ARRAY &&
	    r->elements == (size_t)n * 2, "bulk enqueue: %s",
	    r != NULL && r->str != NULL ? r->str : rf.c->errstr);
	freeReplyObject(r);
	free(argv);
	free(lens);
	free(at);
}

/* The reply's element i as a number. */
static long long
num(const redisReply *r)
{
	ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
	return strtoll(r->str, NULL, 10);
}

/*
 * Send TIME, the command, TIME in one pipeline, so that nothing else runs
 * between them. Returns the command's reply and sets *t to the server's
 * time if both TIMEs fell in the same millisecond, else to -1: then the
 * function's own clock reading is known exactly.
 */
static redisReply *
timed(long long *t, const char *fmt, ...)
{
	redisReply *r, *t0, *t1;
	long long ms[2];
	va_list ap;
	int i;

	ck_assert_int_eq(redisAppendCommand(rf.c, "TIME"), REDIS_OK);
	va_start(ap, fmt);
	ck_assert_int_eq(redisvAppendCommand(rf.c, fmt, ap), REDIS_OK);
	va_end(ap);
	ck_assert_int_eq(redisAppendCommand(rf.c, "TIME"), REDIS_OK);
	ck_assert_int_eq(redisGetReply(rf.c, (void **)&t0), REDIS_OK);
	ck_assert_int_eq(redisGetReply(rf.c, (void **)&r), REDIS_OK);
	ck_assert_int_eq(redisGetReply(rf.c, (void **)&t1), REDIS_OK);
	ck_assert_msg(r->type != REDIS_REPLY_ERROR, "%s: %s", fmt, r->str);
	for (i = 0; i < 2; i++) {
		redisReply *tr = i == 0 ? t0 : t1;

		ms[i] = strtoll(tr->element[0]->str, NULL, 10) * 1000 +
		    strtoll(tr->element[1]->str, NULL, 10) / 1000;
	}
	*t = ms[0] == ms[1] ? ms[0] : -1;
	freeReplyObject(t0);
	freeReplyObject(t1);
	return r;
}

START_TEST(test_claim_takes_a_job_due_exactly_now_but_not_one_due_a_ms_later)
{
	long long s, first, now, want;
	char id[REDJOB_ID_MAX];
	redisReply *r, *j;
	size_t i;

	/* 400 jobs due one a millisecond, around the server's clock. */
	s = server_ms();
	first = s - 100;
	enqueue_due_from(first, 400);
	r = claim_ex(1000, 30000, 3, TOKEN_A);
	now = num(r->element[0]);
	ck_assert_msg(now >= first && now + 1 < first + 400, "the claim ran "
	    "at %lld, outside the due times %lld to %lld", now, first,
	    first + 399);
	/* Exactly the jobs due at or before now: the one due now included. */
	want = now - first + 1;
	ck_assert_msg(r->elements - 2 == (size_t)want, "claimed %zu jobs at "
	    "%lld; %lld were due", r->elements - 2, now, want);
	for (i = 2; i < r->elements; i++) {
		j = r->element[i];
		snprintf(id, sizeof id, "default:%zu", i - 1);
		ck_assert_str_eq(j->element[0]->str, id);
		ck_assert_int_eq(num(j->element[7]), first + (long long)i - 2);
		/* Leased to now + LEASE_MS, exactly. */
		ck_assert_int_eq(score_of("run", id), now + 30000);
	}
	ck_assert_int_eq(num(r->element[r->elements - 1]->element[7]), now);
	/* The next is due a millisecond later: not taken, and the wake time. */
	ck_assert_int_eq(num(r->element[1]), now + 1);
	snprintf(id, sizeof id, "default:%lld", want + 1);
	ck_assert_int_eq(score_of("due", id), now + 1);
	ck_assert_int_eq(score_of("run", id), -1);
	ck_assert_ptr_null(job_field(id, "token"));
	freeReplyObject(r);
	ck_assert_int_eq(must_int(rf.c, "ZCARD " BASE ":run"), want);
	ck_assert_int_eq(must_int(rf.c, "ZCARD " BASE ":due"), 400 - want);
}
END_TEST

START_TEST(test_claim_reclaims_a_lease_ending_exactly_now_but_not_one_later)
{
	static char num_buf[150][2][24];
	const char *argv[303];
	long long s, first, now, expired, end;
	char id[REDJOB_ID_MAX];
	redisReply *r;
	int k;

	enqueue_due_from(server_ms() - 1000, 150);
	r = claim_ex(150, 600000, 3, TOKEN_A);
	ck_assert_uint_eq(r->elements, 152);
	freeReplyObject(r);
	/*
	 * Give the leases ends one a millisecond apart around the server's
	 * clock: B:run holds each lease's end as its score (protocol.md).
	 */
	s = server_ms();
	first = s - 20;
	argv[0] = "ZADD";
	argv[1] = BASE ":run";
	argv[2] = "XX";
	for (k = 0; k < 150; k++) {
		snprintf(num_buf[k][0], sizeof num_buf[k][0], "%lld", first + k);
		snprintf(num_buf[k][1], sizeof num_buf[k][1], "%d", k + 1);
		argv[3 + 2 * k] = num_buf[k][0];
		argv[4 + 2 * k] = num_buf[k][1];
	}
	freeReplyObject(redisCommandArgv(rf.c, 303, argv, NULL));
	freeReplyObject(cmd("DEL " BASE ":wake"));
	/* COUNT 0: only the reclaiming step runs. */
	r = claim_ex(0, 30000, 3, TOKEN_B);
	ck_assert_uint_eq(r->elements, 2);
	now = num(r->element[0]);
	ck_assert_msg(now >= first && now + 1 < first + 100, "the claim ran "
	    "at %lld, outside the lease ends %lld to %lld", now, first,
	    first + 99);
	expired = now - first + 1;
	ck_assert_int_eq(stat_get("stalled"), expired);
	for (k = 0; k < 150; k++) {
		snprintf(id, sizeof id, "default:%d", k + 1);
		end = first + k;
		if (end <= now) {
			/* Back in the queue, due now, one stall, no token. */
			ck_assert_msg(score_of("run", id) == -1, "%s, whose "
			    "lease ended at %lld, is still leased at %lld", id,
			    end, now);
			ck_assert_int_eq(score_of("due", id), now);
			ck_assert_str_eq(job_field(id, "stalls"), "1");
			ck_assert_str_eq(job_field(id, "due"), r->element[0]->str);
			ck_assert_ptr_null(job_field(id, "token"));
		} else {
			ck_assert_msg(score_of("run", id) == end, "%s, whose "
			    "lease ends at %lld, was reclaimed at %lld", id, end,
			    now);
			ck_assert_int_eq(score_of("due", id), -1);
			ck_assert_str_eq(job_field(id, "stalls"), "0");
			ck_assert_str_eq(job_field(id, "token"), TOKEN_A);
		}
		ck_assert_str_eq(job_field(id, "attempts"), "0");
	}
	/* Reclaimed jobs are due and were not taken: wake a worker for them. */
	ck_assert_int_eq(num(r->element[1]), now);
	ck_assert_int_eq(must_int(rf.c, "EXISTS " BASE ":wake"), 1);
	freeReplyObject(r);
}
END_TEST

START_TEST(test_extend_renews_the_lease_to_now_plus_lease_ms_exactly)
{
	uint64_t deadline = testlib_now_ms() + 10000;
	char id[REDJOB_ID_MAX];
	long long now, t;
	redisReply *r;
	int exact = 0;

	enqueue("t", "x", 0, id);
	r = claim_ex(1, 30000, 3, TOKEN_A);
	ck_assert_uint_eq(r->elements, 3);
	now = num(r->element[0]);
	freeReplyObject(r);
	ck_assert_int_eq(score_of("run", id), now + 30000);

	/*
	 * Shorter than what is left, then longer: the lease becomes now +
	 * LEASE_MS each time, neither added to nor kept at the longer end.
	 */
	while (exact < 3) {
		static const int lease[3] = { 1000, 60000, 5000 };

		ck_assert_msg(testlib_now_ms() < deadline, "no extend fell "
		    "within one millisecond of the server's clock in 10 s");
		r = timed(&t, "FCALL redjob_extend 1 " BASE " %d %s %s",
		    lease[exact], id, TOKEN_A);
		ck_assert_uint_eq(r->elements, 1);
		ck_assert_int_eq(r->element[0]->integer, 1);
		freeReplyObject(r);
		if (t < 0)
			continue;
		ck_assert_msg(score_of("run", id) == t + lease[exact],
		    "extended by %d ms at %lld: lease ends at %lld", lease[exact],
		    t, score_of("run", id));
		exact++;
	}
	/* A job named twice is renewed once. */
	r = cmd("FCALL redjob_extend 1 " BASE " 2000 %s %s %s %s", id, TOKEN_A,
	    id, TOKEN_A);
	ck_assert_uint_eq(r->elements, 2);
	ck_assert_int_eq(r->element[0]->integer, 1);
	ck_assert_int_eq(r->element[1]->integer, 0);
	freeReplyObject(r);
	ck_assert_str_eq(job_field(id, "state"), "running");
}
END_TEST

START_TEST(test_fail_requeue_and_retry_make_jobs_due_at_now_plus_delay)
{
	uint64_t deadline = testlib_now_ms() + 10000;
	char id[REDJOB_ID_MAX], got[REDJOB_ID_MAX], want[32];
	long long t;
	redisReply *r;
	int done = 0;

	/* Each try uses a fresh job, until its call fell in one ms. */
	while (done < 3) {
		ck_assert_msg(testlib_now_ms() < deadline, "no call fell "
		    "within one millisecond of the server's clock in 10 s");
		enqueue("t", "x", 0, id);
		claim_one(30000, TOKEN_A, got);
		ck_assert_str_eq(got, id);
		switch (done) {
		case 0:
			r = timed(&t, "FCALL redjob_fail 1 " BASE " %s %s boom "
			    "1500 5", id, TOKEN_A);
			ck_assert_str_eq(r->element[0]->str, "retry");
			if (t >= 0) {
				ck_assert_int_eq(num(r->element[1]), t + 1500);
				ck_assert_int_eq(score_of("due", id), t + 1500);
			}
			break;
		case 1:
			r = timed(&t, "FCALL redjob_requeue 1 " BASE " 700 "
			    "throttled %s %s", id, TOKEN_A);
			ck_assert_int_eq(r->element[0]->integer, 1);
			if (t >= 0)
				ck_assert_int_eq(score_of("due", id), t + 700);
			break;
		default:
			r = timed(&t, "FCALL redjob_requeue 1 " BASE " 0 "
			    "conflict %s %s", id, TOKEN_A);
			ck_assert_int_eq(r->element[0]->integer, 1);
			if (t >= 0)
				ck_assert_int_eq(score_of("due", id), t);
			break;
		}
		freeReplyObject(r);
		/* The job hash's due field is the score. */
		snprintf(want, sizeof want, "%lld", score_of("due", id));
		ck_assert_str_eq(job_field(id, "due"), want);
		ck_assert_str_eq(job_field(id, "state"), done == 2 ? "ready" :
		    "scheduled");
		if (t >= 0)
			done++;
		else
			freeReplyObject(cmd("FCALL redjob_remove 1 " BASE " %s",
			    id));
	}
	/* A scheduled job retried is due now. */
	for (;;) {
		ck_assert_msg(testlib_now_ms() < deadline, "no retry fell "
		    "within one millisecond of the server's clock in 10 s");
		enqueue("t", "s", 60000, id);
		r = timed(&t, "FCALL redjob_retry 1 " BASE " %s", id);
		ck_assert_str_eq(r->str, "scheduled");
		freeReplyObject(r);
		if (t >= 0)
			break;
	}
	ck_assert_int_eq(score_of("due", id), t);
}
END_TEST

/* The dead set's members, oldest first, as "N N N". */
static const char *
dead_members(void)
{
	static char buf[4096];
	redisReply *r;
	size_t i, off = 0;

	r = cmd("ZRANGE " BASE ":dead 0 -1");
	buf[0] = '\0';
	for (i = 0; i < r->elements; i++)
		off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%s",
		    i > 0 ? " " : "", r->element[i]->str);
	freeReplyObject(r);
	return buf;
}

/* Wait until the server's clock has passed t (so deaths are ordered). */
static void
after_ms(long long t)
{
	uint64_t deadline = testlib_now_ms() + 5000;

	while (server_ms() <= t) {
		ck_assert(testlib_now_ms() < deadline);
		usleep(200);
	}
}

/*
 * Make a claimed job die, by one of the three ways a job dies: a
 * permanent failure, its last attempt, or one stall too many. Returns the
 * time of death.
 */
static long long
kill_job(const char *id, int how)
{
	uint64_t deadline;

	switch (how % 3) {
	case 0:
		return fail_one(id, TOKEN_A, "permanent", 0, 10, "dead", "dead",
		    "1");
	case 1:
		return fail_one(id, TOKEN_A, "last attempt", 0, 1, NULL, "dead",
		    "1");
	}
	/* Let its lease end a millisecond from now; reclaim it, no stall left. */
	ck_assert_int_eq(extend_one(1, id, TOKEN_A), 1);
	deadline = testlib_now_ms() + 5000;
	while (score_of("run", id) >= 0) {
		freeReplyObject(claim_ex(0, 30000, 0, TOKEN_B));
		ck_assert_msg(testlib_now_ms() < deadline, "%s was not "
		    "reclaimed within 5 s", id);
	}
	ck_assert_msg(strncmp(job_field(id, "last_error"), "stalled: ", 9) ==
	    0 || !job_exists(id), "%s: last_error %s", id,
	    job_field(id, "last_error"));
	/* -1 if trimming dropped it at once. */
	return score_of("dead", id);
}

START_TEST(test_dead_set_is_trimmed_to_dead_max_at_each_death)
{
	static const char *want[] = { "1", "1 2", "1 2 3", "2 3 4", "3 4 5",
	    "4 5 6", "5 6 7" };
	char ids[7][REDJOB_ID_MAX];
	long long died = 0;
	redisReply *r;
	int i, k;

	freeReplyObject(cmd("HSET " BASE ":meta dead_max 3"));
	for (i = 0; i < 7; i++)
		enqueue("t", "x", 0, ids[i]);
	r = claim_ex(7, 600000, 3, TOKEN_A);
	ck_assert_uint_eq(r->elements, 9);
	freeReplyObject(r);
	/* One death at a time, each a millisecond after the last. */
	for (i = 0; i < 7; i++) {
		after_ms(died);
		died = kill_job(ids[i], i);
		ck_assert_msg(strcmp(dead_members(), want[i]) == 0, "after "
		    "death %d the dead set is \"%s\", not \"%s\"", i + 1,
		    dead_members(), want[i]);
		ck_assert_int_eq(stat_get("dead"), i < 3 ? i + 1 : 3);
		for (k = 0; k <= i; k++)
			ck_assert_msg(job_exists(ids[k]) == (k > i - 3),
			    "after death %d, job %s %s", i + 1, ids[k],
			    k > i - 3 ? "is gone" : "was kept");
	}
	ck_assert_str_eq(job_field(ids[6], "state"), "dead");

	/* 0: a job that dies now is deleted at once, as are the others. */
	freeReplyObject(cmd("HSET " BASE ":meta dead_max 0"));
	enqueue("t", "x", 0, ids[0]);
	claim_one(600000, TOKEN_A, ids[1]);
	ck_assert_str_eq(ids[1], ids[0]);
	kill_job(ids[0], 0);
	ck_assert_str_eq(dead_members(), "");
	ck_assert(!job_exists(ids[0]));
	ck_assert(!job_exists(ids[6]));
}
END_TEST

START_TEST(test_dead_jobs_that_died_dead_ttl_ago_or_earlier_are_dropped)
{
	char a[REDJOB_ID_MAX], b[REDJOB_ID_MAX], c[REDJOB_ID_MAX];
	redisReply *r;

	enqueue("t", "a", 0, a);
	enqueue("t", "b", 0, b);
	enqueue("t", "c", 0, c);
	r = claim_ex(3, 600000, 3, TOKEN_A);
	ck_assert_uint_eq(r->elements, 5);
	freeReplyObject(r);
	/* A minute: what died a few ms ago stays. */
	freeReplyObject(cmd("HSET " BASE ":meta dead_ttl 60000"));
	after_ms(kill_job(a, 0));
	kill_job(b, 2);
	ck_assert_str_eq(dead_members(), "1 2");
	ck_assert(job_exists(a));
	/*
	 * 0: "died this many ms ago or earlier" holds for every dead job,
	 * the one dying now included: none is kept.
	 */
	freeReplyObject(cmd("HSET " BASE ":meta dead_ttl 0"));
	kill_job(c, 1);
	ck_assert_str_eq(dead_members(), "");
	ck_assert(!job_exists(a));
	ck_assert(!job_exists(b));
	ck_assert(!job_exists(c));
	ck_assert_int_eq(stat_get("dead"), 0);
	ck_assert_int_eq(stat_get("failed"), 2);
}
END_TEST

START_TEST(test_dead_set_trimming_drops_at_most_100_jobs_a_death)
{
	char id[REDJOB_ID_MAX], want[1024];
	long long died = 0;
	redisReply *r;
	size_t off;
	int i;

	/* 152 jobs; the first 150 die, each in a millisecond of its own. */
	enqueue_due_from(server_ms() - 1000, 152);
	r = claim_ex(152, 600000, 3, TOKEN_A);
	ck_assert_uint_eq(r->elements, 154);
	freeReplyObject(r);
	for (i = 1; i <= 150; i++) {
		snprintf(id, sizeof id, "default:%d", i);
		after_ms(died);
		died = kill_job(id, 0);
	}
	ck_assert_int_eq(stat_get("dead"), 150);
	/* Now at most 10: the next death drops the oldest 100 of 151... */
	freeReplyObject(cmd("HSET " BASE ":meta dead_max 10"));
	after_ms(died);
	died = kill_job("default:151", 1);
	ck_assert_int_eq(stat_get("dead"), 51);
	ck_assert_int_eq(must_int(rf.c, "ZRANK " BASE ":dead 101"), 0);
	ck_assert(!job_exists("default:100"));
	ck_assert(job_exists("default:101"));
	/* ...and the one after it the 42 beyond 10. */
	after_ms(died);
	kill_job("default:152", 2);
	off = 0;
	for (i = 143; i <= 152; i++)
		off += (size_t)snprintf(want + off, sizeof want - off, "%s%d",
		    i > 143 ? " " : "", i);
	ck_assert_str_eq(dead_members(), want);
	ck_assert(!job_exists("default:142"));
	ck_assert(job_exists("default:143"));
}
END_TEST

START_TEST(test_retry_of_a_dead_job_resets_its_stalls_and_attempts)
{
	char id[REDJOB_ID_MAX], got[REDJOB_ID_MAX], s[REDJOB_ID_MAX];
	char err[256];
	uint64_t deadline;
	redisReply *r;

	enqueue("t", "x", 0, id);
	claim_one(30000, TOKEN_A, got);
	fail_one(id, TOKEN_A, "boom", 0, 10, NULL, "retry", "1");
	/* Two stalls with max_stalls 1: dead, with one attempt spent. */
	r = claim_ex(1, 30000, 1, TOKEN_B);
	ck_assert_uint_eq(r->elements, 3);
	freeReplyObject(r);
	ck_assert_int_eq(extend_one(1, id, TOKEN_B), 1);
	r = claim_when_back(30000, 1, TOKEN_C);
	ck_assert_str_eq(r->element[2]->element[4]->str, "1");
	ck_assert_str_eq(r->element[2]->element[6]->str, "1");
	freeReplyObject(r);
	ck_assert_int_eq(extend_one(1, id, TOKEN_C), 1);
	deadline = testlib_now_ms() + 5000;
	while (score_of("dead", id) < 0) {
		freeReplyObject(claim_ex(0, 30000, 1, TOKEN_A));
		ck_assert(testlib_now_ms() < deadline);
	}
	ck_assert_str_eq(job_field(id, "stalls"), "2");
	ck_assert_str_eq(job_field(id, "attempts"), "1");
	snprintf(err, sizeof err, "%s", job_field(id, "last_error"));
	ck_assert_msg(strcmp(err, "stalled: 2 times; last: the lease expired (a "
	    "worker died or hung while running it)") == 0, "last_error %s", err);

	/* Retried: both counts start again at 0; the error stays. */
	r = cmd("FCALL redjob_retry 1 " BASE " %s", id);
	ck_assert_str_eq(r->str, "dead");
	freeReplyObject(r);
	ck_assert_str_eq(job_field(id, "state"), "ready");
	ck_assert_str_eq(job_field(id, "stalls"), "0");
	ck_assert_str_eq(job_field(id, "attempts"), "0");
	ck_assert_str_eq(job_field(id, "last_error"), err);
	r = claim_ex(1, 30000, 1, TOKEN_A);
	ck_assert_uint_eq(r->elements, 3);
	ck_assert_str_eq(r->element[2]->element[0]->str, id);
	ck_assert_str_eq(r->element[2]->element[4]->str, "0");
	ck_assert_str_eq(r->element[2]->element[6]->str, "0");
	freeReplyObject(r);
	/* So it survives its next stall again. */
	ck_assert_int_eq(extend_one(1, id, TOKEN_A), 1);
	r = claim_when_back(30000, 1, TOKEN_B);
	ck_assert_str_eq(r->element[2]->element[0]->str, id);
	ck_assert_str_eq(r->element[2]->element[6]->str, "1");
	freeReplyObject(r);
	ck_assert_str_eq(job_field(id, "state"), "running");

	/* A scheduled job retried keeps its counts. */
	enqueue("t", "s", 0, s);
	claim_one(30000, TOKEN_C, got);
	ck_assert_str_eq(got, s);
	fail_one(s, TOKEN_C, "e", 60000, 10, NULL, "retry", "1");
	r = cmd("FCALL redjob_retry 1 " BASE " %s", s);
	ck_assert_str_eq(r->str, "scheduled");
	freeReplyObject(r);
	ck_assert_str_eq(job_field(s, "attempts"), "1");
	ck_assert_str_eq(job_field(s, "state"), "ready");
}
END_TEST

START_TEST(test_unique_key_is_released_when_its_job_dies)
{
	struct redjob_job uj = { .type = "t", .payload = "x",
		.payload_len = 1 };
	char id[REDJOB_ID_MAX], again[REDJOB_ID_MAX], got[REDJOB_ID_MAX];
	char name[16];
	redisReply *r;
	int how;

	/* Each way to die: permanent, last attempt, one stall too many. */
	for (how = 0; how < 3; how++) {
		snprintf(name, sizeof name, "u%d", how);
		uj.unique = name;
		ck_assert_int_eq(enqueue_job(&uj, id), 1);
		claim_one(600000, TOKEN_A, got);
		ck_assert_str_eq(got, id);
		/* Running, it still holds its key. */
		ck_assert_int_eq(enqueue_job(&uj, again), 0);
		ck_assert_str_eq(again, id);
		ck_assert_int_ge(kill_job(id, how), 0);
		ck_assert_str_eq(job_field(id, "state"), "dead");
		ck_assert_msg(must_int(rf.c, "EXISTS " BASE ":u:%s", name) == 0,
		    "the unique key of %s outlived its death (way %d)", id, how);
		ck_assert_int_eq(enqueue_job(&uj, again), 1);
		ck_assert_str_ne(again, id);
		/* Retrying the dead job does not take the key back. */
		r = cmd("FCALL redjob_retry 1 " BASE " %s", id);
		ck_assert_str_eq(r->str, "dead");
		freeReplyObject(r);
		r = cmd("GET " BASE ":u:%s", name);
		ck_assert_str_eq(r->str, seq_of(again));
		freeReplyObject(r);
		/* Out of the way of the next round's claim. */
		freeReplyObject(cmd("FCALL redjob_remove 1 " BASE " %s", id));
		freeReplyObject(cmd("FCALL redjob_remove 1 " BASE " %s", again));
	}

	/* A key taken over after its window must stay with its new holder. */
	uj.unique = "w";
	uj.unique_ttl_ms = 50;
	ck_assert_int_eq(enqueue_job(&uj, id), 1);
	claim_one(600000, TOKEN_A, got);
	wait_key_gone(BASE ":u:w");
	ck_assert_int_eq(enqueue_job(&uj, again), 1);
	kill_job(id, 0);
	r = cmd("GET " BASE ":u:w");
	ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
	ck_assert_str_eq(r->str, seq_of(again));
	freeReplyObject(r);
}
END_TEST

/*
 * A job the claim takes out of due but cannot lease (its hash lacks a
 * type or a payload, or is gone) ends in dead with the reason, counted
 * as malformed and named in the claim's reply: it never vanishes.
 */
START_TEST(test_a_malformed_job_goes_to_dead_not_nowhere)
{
	char a[REDJOB_ID_MAX], b[REDJOB_ID_MAX], c[REDJOB_ID_MAX];
	char want[REDJOB_ID_MAX + 64];
	redisReply *r;

	enqueue("t", "x", 0, a);
	enqueue("t", "y", 0, b);
	enqueue("t", "z", 0, c);
	/* a: a hash of its own (as library version 10 wrote) with no type;
	 * b: its packed entry gone. */
	freeReplyObject(cmd("HDEL " BASE ":jobs %s %s", seq_of(a), seq_of(b)));
	freeReplyObject(cmd("HSET " BASE ":j:%s payload x created 1",
	    seq_of(a)));
	r = claim_ex(10, 30000, 3, TOKEN_A);
	/* now, next_wake, two notices and the good job. */
	ck_assert_uint_eq(r->elements, 5);
	snprintf(want, sizeof want, "%s malformed: the job hash has no type",
	    a);
	ck_assert_int_eq(r->element[2]->type, REDIS_REPLY_STRING);
	ck_assert_str_eq(r->element[2]->str, want);
	snprintf(want, sizeof want, "%s malformed: the job hash is missing", b);
	ck_assert_str_eq(r->element[3]->str, want);
	ck_assert_int_eq(r->element[4]->type, REDIS_REPLY_ARRAY);
	ck_assert_str_eq(r->element[4]->element[0]->str, c);
	freeReplyObject(r);
	ck_assert_int_ge(score_of("dead", a), 0);
	ck_assert_int_ge(score_of("dead", b), 0);
	ck_assert_int_lt(score_of("due", a), 0);
	ck_assert_int_lt(score_of("run", a), 0);
	ck_assert_str_eq(job_field(a, "last_error"),
	    "malformed: the job hash has no type");
	ck_assert_str_eq(job_field(b, "last_error"),
	    "malformed: the job hash is missing");
	ck_assert_int_eq(stat_get("malformed"), 2);
}
END_TEST

/* Enqueue a job of type that expires expire_ms after now. */
static void
enqueue_expiring(const char *type, int64_t expire_ms, const char *unique,
    char *id)
{
	struct redjob_job j = { .type = type, .payload = "p",
		.payload_len = 1, .unique = unique };
	struct redjob_ext e = REDJOB_EXT_INIT;

	e.expire_in_ms = expire_ms;
	ck_assert_msg(redjob_enqueue_ext(cl, &j, &e, id, NULL) == 0,
	    "enqueue: %s", redjob_errstr(cl));
}

/* Wait until the server's clock has passed ms. */
static void
wait_server_past(long long ms)
{
	uint64_t deadline = testlib_now_ms() + 5000;

	while (server_ms() <= ms) {
		ck_assert(testlib_now_ms() < deadline);
		usleep(2000);
	}
}

/*
 * A job not started by its "expires" is never leased: the claim keeps
 * it as expired (B:fin, for a day), names it in its reply, counts it,
 * frees its unique key and tells its waiters; the jobs around it are
 * leased as usual.
 */
START_TEST(test_a_job_past_its_expiry_is_kept_as_expired_not_leased)
{
	char a[REDJOB_ID_MAX], b[REDJOB_ID_MAX], c[REDJOB_ID_MAX];
	char d[REDJOB_ID_MAX], chan[REDJOB_ID_MAX + 64];
	redisContext *sub;
	redisReply *r;
	long long expires, now;
	void *vr;

	enqueue_expiring("t", 50, NULL, a);
	enqueue("t", "x", 0, b);
	enqueue_expiring("t", 60, "u1", c);
	enqueue_expiring("t", 3600000, NULL, d);
	expires = atoll(job_field(c, "expires"));
	ck_assert_int_eq(expires - atoll(job_field(c, "created")), 60);
	wait_server_past(expires);

	/* A waiter of a, subscribed before the claim. */
	sub = must_connect();
	snprintf(chan, sizeof chan, BASE ":fin:%s", seq_of(a));
	freeReplyObject(must_command(sub, "SUBSCRIBE %s", chan));

	r = claim_ex(10, 30000, 3, TOKEN_A);
	now = atoll(r->element[0]->str);
	ck_assert_uint_eq(r->elements, 6);
	ck_assert_int_eq(r->element[2]->type, REDIS_REPLY_STRING);
	ck_assert_msg(strncmp(r->element[2]->str, a, strlen(a)) == 0 &&
	    strncmp(r->element[2]->str + strlen(a), " expired: type=t, not "
	    "started by ", 30) == 0, "%s", r->element[2]->str);
	ck_assert_int_eq(r->element[3]->type, REDIS_REPLY_ARRAY);
	ck_assert_str_eq(r->element[3]->element[0]->str, b);
	ck_assert_int_eq(r->element[4]->type, REDIS_REPLY_STRING);
	ck_assert_int_eq(r->element[5]->type, REDIS_REPLY_ARRAY);
	ck_assert_str_eq(r->element[5]->element[0]->str, d);
	freeReplyObject(r);

	ck_assert_int_eq(stat_get("expired"), 2);
	ck_assert_int_eq(stat_get("done"), 2);
	ck_assert_str_eq(job_field(a, "state"), "expired");
	ck_assert_str_eq(job_field(a, "outcome"), "expired");
	ck_assert_int_eq(atoll(job_field(a, "finished")), now);
	ck_assert_int_eq(score_of("fin", a), now + 86400000);
	ck_assert_int_lt(score_of("due", a), 0);
	ck_assert_int_lt(score_of("run", a), 0);
	ck_assert_int_eq(must_int(rf.c, "HEXISTS " BASE ":tok %s", seq_of(a)),
	    0);
	ck_assert_msg(strncmp(job_field(c, "last_error"), "not started by ",
	    15) == 0, "%s", job_field(c, "last_error"));
	/* The unique key is free again. */
	ck_assert_int_eq(must_int(rf.c, "EXISTS " BASE ":u:u1"), 0);

	ck_assert_int_eq(redisGetReply(sub, &vr), REDIS_OK);
	r = vr;
	ck_assert_uint_eq(r->elements, 3);
	ck_assert_str_eq(r->element[0]->str, "message");
	ck_assert_str_eq(r->element[1]->str, chan);
	ck_assert_str_eq(r->element[2]->str, "expired");
	freeReplyObject(r);
	redisFree(sub);

	/* A kept job is not retried, and leaves with redjob_remove. */
	r = cmd_err("REDJOB_FINISHED", "FCALL redjob_retry 1 " BASE " %s", a);
	freeReplyObject(r);
	r = cmd("FCALL redjob_remove 1 " BASE " %s", a);
	ck_assert_str_eq(r->str, "expired");
	freeReplyObject(r);
	ck_assert_int_lt(score_of("fin", a), 0);
	ck_assert(!job_exists(a));
}
END_TEST

/*
 * The job types' expiry comes with the claim ("expire TYPE MS"): a job of
 * such a type enqueued MS ago or more is expired, others are leased; a
 * job's own expiry still applies when it comes first.
 */
START_TEST(test_claim_applies_the_types_expiry_from_its_arguments)
{
	char old[REDJOB_ID_MAX], other[REDJOB_ID_MAX], own[REDJOB_ID_MAX];
	redisReply *r;

	enqueue("old", "", 0, old);
	enqueue("other", "", 0, other);
	enqueue_expiring("fresh", 30, NULL, own);
	wait_server_past(atoll(job_field(own, "expires")));
	r = cmd("FCALL redjob_claim 1 " BASE " 10 30000 3 %s w "
	    "expire old 20 expire fresh 3600000", TOKEN_A);
	ck_assert_uint_eq(r->elements, 5);
	ck_assert_int_eq(r->element[2]->type, REDIS_REPLY_STRING);
	ck_assert_msg(strstr(r->element[2]->str, " expired: type=old, ") !=
	    NULL, "%s", r->element[2]->str);
	ck_assert_int_eq(r->element[3]->type, REDIS_REPLY_ARRAY);
	ck_assert_str_eq(r->element[3]->element[0]->str, other);
	ck_assert_int_eq(r->element[4]->type, REDIS_REPLY_STRING);
	ck_assert_msg(strstr(r->element[4]->str, " expired: type=fresh, ") !=
	    NULL, "%s", r->element[4]->str);
	freeReplyObject(r);
	ck_assert_int_eq(stat_get("expired"), 2);
	ck_assert_str_eq(job_field(old, "state"), "expired");
	ck_assert_str_eq(job_field(other, "state"), "running");

	r = cmd_err("REDJOB_BADARG", "FCALL redjob_claim 1 " BASE " 1 30000 3 "
	    "%s w expire old 0", TOKEN_A);
	freeReplyObject(r);
	r = cmd_err("REDJOB_BADARG", "FCALL redjob_claim 1 " BASE " 1 30000 3 "
	    "%s w expire old", TOKEN_A);
	freeReplyObject(r);
	r = cmd_err("REDJOB_BADARG", "FCALL redjob_claim 1 " BASE " 1 30000 3 "
	    "%s w keep old 5", TOKEN_A);
	freeReplyObject(r);
}
END_TEST

/*
 * An expiry at or before the due time is refused, with nothing written;
 * a caller whose struct redjob_ext is older (smaller) than the library's
 * has its missing fields read as absent.
 */
START_TEST(test_expiry_before_the_due_time_is_refused_and_old_ext_is_safe)
{
	struct redjob_job j = { .type = "t", .payload = "", .delay_ms = 1000 };
	struct redjob_ext e = REDJOB_EXT_INIT;
	char id[REDJOB_ID_MAX];
	redisReply *r;

	e.expire_in_ms = 1000;
	ck_assert_int_eq(redjob_enqueue_ext(cl, &j, &e, id, NULL), -1);
	ck_assert_int_eq(redjob_errcode(cl), REDJOB_ERR_INVALID);
	ck_assert_msg(strstr(redjob_errstr(cl), "would expire") != NULL, "%s",
	    redjob_errstr(cl));
	r = cmd_err("REDJOB_BADARG", "FCALL redjob_enqueue 1 " BASE " t p "
	    "expire_in 0");
	freeReplyObject(r);
	ck_assert_int_eq(must_int(rf.c, "EXISTS " BASE ":seq"), 0);

	e.size = sizeof e.size;		/* a caller from before the field */
	ck_assert_int_eq(redjob_enqueue_ext(cl, &j, &e, id, NULL), 0);
	ck_assert_ptr_null(job_field(id, "expires"));
}
END_TEST

/* Claim n jobs (n <= 1000) with token. */
static void
claim_n(int n, const char *token)
{
	redisReply *r = claim_ex(n, 600000, 3, token);

	ck_assert_uint_eq(r->elements, (size_t)n + 2);
	freeReplyObject(r);
}

/*
 * redjob_release puts the jobs of one owner (the head of its claim
 * tokens) back in due at once, each as a stall; other owners' jobs stay
 * leased; a long run set is looked at in pages, FROM to FROM; a job past
 * max_stalls goes to dead.
 */
START_TEST(test_release_returns_one_owners_jobs_at_once_as_stalls)
{
	char id[REDJOB_ID_MAX];
	redisReply *r;
	long long from, total = 0;
	int i, calls = 0;

	for (i = 0; i < 1200; i++)
		enqueue("t", "", 0, id);
	/* 700 to owner a, 500 to owner b, interleaved in run. */
	claim_n(400, "aaaaaaaaaaaaaaaa" "0000000000000001");
	claim_n(500, "bbbbbbbbbbbbbbbb" "0000000000000001");
	claim_n(300, "aaaaaaaaaaaaaaaa" "0000000000000002");
	from = 0;
	while (from >= 0) {
		r = cmd("FCALL redjob_release 1 " BASE " aaaaaaaaaaaaaaaa 3 %lld",
		    from);
		ck_assert_uint_eq(r->elements, 2);
		total += atoll(r->element[0]->str);
		from = atoll(r->element[1]->str);
		freeReplyObject(r);
		ck_assert_int_lt(++calls, 10);
	}
	ck_assert_int_ge(calls, 2);
	ck_assert_int_eq(total, 700);
	ck_assert_int_eq(must_int(rf.c, "ZCARD " BASE ":run"), 500);
	ck_assert_int_eq(must_int(rf.c, "ZCARD " BASE ":due"), 700);
	ck_assert_int_eq(must_int(rf.c, "HLEN " BASE ":tok"), 500);
	ck_assert_int_eq(must_int(rf.c, "ZCARD " BASE ":wake"), 1);
	ck_assert_int_eq(stat_get("stalled"), 700);
	ck_assert_str_eq(job_field(id, "stalls"), "1");
	ck_assert_str_eq(job_field(id, "attempts"), "0");
	/* Nothing more of a: a second release finds nothing. */
	r = cmd("FCALL redjob_release 1 " BASE " aaaaaaaaaaaaaaaa 3");
	ck_assert_str_eq(r->element[0]->str, "0");
	freeReplyObject(r);

	/* Past max_stalls (0 here): dead, with the reason. */
	freeReplyObject(cmd("DEL " BASE ":due"));
	freeReplyObject(cmd("ZADD " BASE ":due 0 %s", seq_of(id)));
	claim_n(1, "cccccccccccccccc" "0000000000000001");
	r = cmd("FCALL redjob_release 1 " BASE " cccccccccccccccc 0");
	ck_assert_str_eq(r->element[0]->str, "1");
	freeReplyObject(r);
	ck_assert_int_ge(score_of("dead", id), 0);
	ck_assert_str_eq(job_field(id, "last_error"), "stalled: 2 times; last: "
	    "its worker died while running it");
	freeReplyObject(cmd_err("REDJOB_BADARG", "FCALL redjob_release 1 " BASE
	    " short 3"));
}
END_TEST

Suite *
suite(void)
{
	Suite *s = suite_create("queue");
	TCase *tc = tcase_create("functions");

	tcase_set_timeout(tc, 60);
	tcase_add_unchecked_fixture(tc, redis_start, redis_stop);
	tcase_add_checked_fixture(tc, client_setup, client_teardown);
	tcase_add_test(tc, test_delayed_job_is_claimed_only_when_due);
	tcase_add_test(tc, test_due_jobs_come_out_in_due_order);
	tcase_add_test(tc, test_binary_payload_survives);
	tcase_add_test(tc, test_a_plain_job_waits_packed_until_a_transition_writes_it);
	tcase_add_test(tc, test_a_brief_claim_sends_packed_jobs_as_they_lie);
	tcase_add_test(tc, test_a_delayed_packed_job_moves_to_its_hash_whole);
	tcase_add_test(tc, test_the_running_set_is_made_in_its_big_encoding);
	tcase_add_test(tc, test_a_job_written_by_library_version_10_still_runs);
	tcase_add_test(tc, test_oversized_payload_is_refused_with_reason);
	tcase_add_test(tc, test_missing_library_is_reloaded);
	tcase_add_test(tc, test_bulk_enqueue_is_all_or_nothing_and_keeps_unique_keys);
	tcase_add_test(tc,
	    test_job_ids_are_the_queue_counter_in_decimal_at_every_digit);
	tcase_add_test(tc, test_enqueue_many_reports_each_refused_job_and_keeps_the_others);
	tcase_add_test(tc, test_a_job_without_a_queue_is_routed_by_its_type);
	tcase_add_test(tc, test_payload_limit_is_configurable);
	tcase_add_test(tc,
	    test_missing_library_is_reloaded_within_a_pipelined_batch);
	tcase_add_test(tc,
	    test_expired_lease_makes_job_claimable_again_refusing_old_holder);
	tcase_add_test(tc, test_job_stalled_more_than_max_stalls_times_is_dead);
	tcase_add_test(tc,
	    test_claim_reports_earliest_due_time_or_lease_end_as_next_wake);
	tcase_add_test(tc,
	    test_failed_job_is_retried_after_its_delay_with_attempt_and_error);
	tcase_add_test(tc, test_failure_keeps_the_last_4096_bytes_of_its_error);
	tcase_add_test(tc,
	    test_failed_job_is_dead_once_its_max_attempts_are_used);
	tcase_add_test(tc, test_permanent_failure_goes_straight_to_dead);
	tcase_add_test(tc, test_dead_set_keeps_only_the_dead_max_newest_jobs);
	tcase_add_test(tc, test_dead_jobs_older_than_dead_ttl_are_dropped);
	tcase_add_test(tc,
	    test_requeue_spends_no_attempt_and_counts_throttled_and_conflicts);
	tcase_add_test(tc,
	    test_discard_drops_a_held_job_without_counting_it_processed);
	tcase_add_test(tc, test_unique_enqueue_returns_the_first_job);
	tcase_add_test(tc, test_unique_window_ends_after_unique_ttl);
	tcase_add_test(tc,
	    test_unique_key_without_ttl_is_released_when_job_is_acked);
	tcase_add_test(tc, test_paused_queue_is_not_claimed_until_resumed);
	tcase_add_test(tc, test_dead_job_can_be_retried_with_no_attempts_spent);
	tcase_add_test(tc, test_job_can_be_removed_in_every_state);
	tcase_add_test(tc,
	    test_full_redis_refuses_enqueue_and_writes_nothing_but_ack_works);
	tcase_add_test(tc, test_queue_with_newer_schema_refuses_every_function);
	tcase_add_test(tc, test_newer_library_in_redis_makes_connect_fail);
	tcase_add_test(tc, test_older_library_in_redis_is_replaced_at_connect);
	tcase_add_test(tc,
	    test_bad_arguments_are_refused_with_their_code_first);
	tcase_add_test(tc, test_every_queue_key_carries_the_queue_hash_tag);
	tcase_add_test(tc, test_ack_counts_a_job_named_twice_once);
	tcase_add_test(tc,
	    test_ack_of_more_than_1000_jobs_is_refused_before_any_write);
	suite_add_tcase(s, tc);

	tc = tcase_create("concurrency");
	tcase_set_timeout(tc, 300);
	tcase_add_unchecked_fixture(tc, redis_start, redis_stop);
	tcase_add_checked_fixture(tc, client_setup, client_teardown);
	tcase_add_test(tc,
	    test_four_processes_claiming_20000_jobs_get_each_exactly_once);
	suite_add_tcase(s, tc);

	/* Each test has its own redis-server to kill and restart. */
	tc = tcase_create("restart");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, restart_setup, restart_teardown);
	tcase_add_test(tc, test_library_is_reloaded_after_redis_restarts_empty);
	tcase_add_test(tc,
	    test_dead_redis_gives_io_error_and_client_reconnects_when_back);
	tcase_add_test(tc, test_client_survives_redis_closing_its_connection);
	tcase_add_test(tc, test_connect_to_absent_redis_gives_io_error);
	suite_add_tcase(s, tc);

	tc = tcase_create("exact");
	tcase_set_timeout(tc, 60);
	tcase_add_unchecked_fixture(tc, redis_start, redis_stop);
	tcase_add_checked_fixture(tc, client_setup, client_teardown);
	tcase_add_test(tc,
	    test_claim_takes_a_job_due_exactly_now_but_not_one_due_a_ms_later);
	tcase_add_test(tc,
	    test_claim_reclaims_a_lease_ending_exactly_now_but_not_one_later);
	tcase_add_test(tc,
	    test_extend_renews_the_lease_to_now_plus_lease_ms_exactly);
	tcase_add_test(tc,
	    test_fail_requeue_and_retry_make_jobs_due_at_now_plus_delay);
	tcase_add_test(tc, test_dead_set_is_trimmed_to_dead_max_at_each_death);
	tcase_add_test(tc,
	    test_dead_jobs_that_died_dead_ttl_ago_or_earlier_are_dropped);
	tcase_add_test(tc,
	    test_dead_set_trimming_drops_at_most_100_jobs_a_death);
	tcase_add_test(tc,
	    test_retry_of_a_dead_job_resets_its_stalls_and_attempts);
	tcase_add_test(tc, test_unique_key_is_released_when_its_job_dies);
	tcase_add_test(tc, test_a_malformed_job_goes_to_dead_not_nowhere);
	tcase_add_test(tc,
	    test_a_job_past_its_expiry_is_kept_as_expired_not_leased);
	tcase_add_test(tc, test_claim_applies_the_types_expiry_from_its_arguments);
	tcase_add_test(tc,
	    test_expiry_before_the_due_time_is_refused_and_old_ext_is_safe);
	tcase_add_test(tc,
	    test_release_returns_one_owners_jobs_at_once_as_stalls);
	suite_add_tcase(s, tc);
	return s;
}
