/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The job decoder (job_decode in src/job.c) and the classing of replies
 * (rfunc_classify in src/rfunc.c): the input is RESP, read by hiredis'
 * own reader into the redisReply trees a claim reply could be. Each
 * array is decoded as a job entry, and so is each of its elements, as
 * claim.c does with a claim reply. A job comes back either with no cause
 * and every field usable (its text whole: a C string of the length
 * Redis sent), or with a cause (then the worker fails it), or not at all
 * with a cause (no usable id).
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "fuzz.h"
#include "job.h"
#include "rfunc.h"

/*
 * hiredis allocates an array's elements as soon as it reads its header,
 * whatever follows: a header of 10^9 elements is an allocation failure
 * of the reader, not of the code under test. Redis never sends one in a
 * claim reply (its count is the batch, at most 1000). A header may start
 * anywhere (the reader skips the two bytes after a bulk string unread),
 * so every '*' counts.
 */
#define FUZZ_MAX_ELEMENTS 4096

static int
fuzz_too_big(const uint8_t *data, size_t size)
{
	size_t i, k;
	unsigned long n;

	for (i = 0; i < size; i++) {
		if (data[i] != '*')
			continue;
		for (n = 0, k = i + 1; k < size && data[k] >= '0' &&
		    data[k] <= '9'; k++) {
			n = n * 10 + (data[k] - '0');
			if (n > FUZZ_MAX_ELEMENTS)
				return 1;
		}
	}
	return 0;
}

static void
fuzz_decode(redisReply *e)
{
	struct job *j;
	char *cause = NULL;

	j = job_decode(e, "token", &cause);
	if (j == NULL) {
		if (cause == NULL || *cause == '\0')
			fuzz_fail("no job and no cause");
	} else if (cause == NULL) {
		if (j->id == NULL || *j->id == '\0' || j->type == NULL ||
		    *j->type == '\0' || j->payload == NULL ||
		    strcmp(j->token, "token") != 0 ||
		    (j->key != NULL && *j->key == '\0'))
			fuzz_fail("a job without a cause lacks a field");
		if (j->payload[j->payload_len] != '\0')
			fuzz_fail("payload is not terminated");
		/* Text is used as C strings: all of it, or refused. */
		if (strlen(j->id) != e->element[0]->len ||
		    strlen(j->type) != e->element[1]->len ||
		    (j->key != NULL && strlen(j->key) != e->element[3]->len))
			fuzz_fail("an id, type or key is cut short");
	} else if (*cause == '\0' || j->id == NULL || j->type == NULL)
		fuzz_fail("a malformed job without an id, a type or a cause");
	job_free(j);
	free(cause);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	redisReader *rd;
	redisReply *r;
	void *reply;
	size_t i;

	if (fuzz_too_big(data, size))
		return 0;
	if ((rd = redisReaderCreate()) == NULL)
		return 0;
	if (redisReaderFeed(rd, (const char *)data, size) != REDIS_OK)
		goto out;
	while (redisReaderGetReply(rd, &reply) == REDIS_OK && reply != NULL) {
		r = reply;
		(void)rfunc_class_name(rfunc_classify(r));
		if (r->type == REDIS_REPLY_ARRAY) {
			fuzz_decode(r);
			for (i = 0; i < r->elements; i++)
				fuzz_decode(r->element[i]);
		}
		freeReplyObject(r);
	}
out:
	redisReaderFree(rd);
	return 0;
}
