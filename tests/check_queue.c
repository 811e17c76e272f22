/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The function library against a real redis-server: enqueue, claim,
 * leases, ack, fail, unique keys, pause, payload limits, library reload.
 */
#include "config.h"

#include <sys/wait.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <hiredis/hiredis.h>

#include "redjob.h"
#include "redis_fixture.h"
#include "testlib.h"

#define BASE "redjob:{default}"

static struct redjob_client *cl;

static void
client_setup(void)
{
	redis_conn_setup();
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

static void
enqueue(const char *type, const char *payload, int64_t delay, char *id)
{
	struct redjob_job j = { .type = type, .payload = payload,
		.payload_len = strlen(payload), .delay_ms = delay };

	ck_assert_msg(redjob_enqueue(cl, &j, id) == 0, "enqueue: %s",
	    redjob_errstr(cl));
}

/* Claim up to n jobs with a token; returns the reply (caller frees). */
static redisReply *
claim(redisContext *c, int n, int lease_ms, const char *token)
{
	return must_command(c, "FCALL redjob_claim 1 %s %d %d 3 %s w",
	    BASE, n, lease_ms, token);
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

START_TEST(test_missing_library_is_reloaded)
{
	char id[REDJOB_ID_MAX];

	enqueue("t", "1", 0, id);
	freeReplyObject(must_command(rf.c, "FUNCTION FLUSH"));
	enqueue("t", "2", 0, id);
	ck_assert_str_eq(id, "default:2");
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
	tcase_add_test(tc, test_oversized_payload_is_refused_with_reason);
	tcase_add_test(tc, test_missing_library_is_reloaded);
	suite_add_tcase(s, tc);
	return s;
}
