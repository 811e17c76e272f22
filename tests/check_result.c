/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Results and redjob wait against a real redis-server and a real redjobd:
 * an exec handler's stdout, up to its type's result.max, kept with the
 * job for result.ttl after it is done; binary kept exactly, more than max
 * cut and said so; a plugin's result buffer; redjob wait's exits (0 with
 * the result, 1 dead or no result to wait for, 75 at the timeout), a
 * waiter that is told instead of polling, and libredjob's redjob_wait().
 */
#include "autoconf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* "redjob -u URL ARG..." started, outputs captured, payload on stdin. */
static struct proc *
cli_start(const char *in, const char *first, va_list ap)
{
	static char *envv[] = { (char *)"REDJOB_URL", NULL };
	struct proc_spec spec;
	const char *args[32];
	int n = 0;

	args[n++] = "-u";
	args[n++] = rf.url;
	args[n++] = first;
	while (n < 31 && (args[n] = va_arg(ap, const char *)) != NULL)
		n++;
	args[n] = NULL;
	memset(&spec, 0, sizeof spec);
	spec.out = spec.err = PROC_IO_CAPTURE;
	spec.env = envv;
	spec.in = in;
	spec.inlen = in != NULL ? strlen(in) : 0;
	return must_redjob_spawnv(&spec, args);
}

/* The same, run to its end. Caller frees. */
static struct proc *
cli_in(const char *in, const char *first, ...)
{
	struct proc *p;
	va_list ap;

	va_start(ap, first);
	p = cli_start(in, first, ap);
	va_end(ap);
	must_wait(p, TESTLIB_DEADLINE_MS);
	return p;
}

#define cli(...) cli_in(NULL, __VA_ARGS__)

/* Started and left running. Caller waits and frees. */
static struct proc *
cli_bg(const char *first, ...)
{
	struct proc *p;
	va_list ap;

	va_start(ap, first);
	p = cli_start(NULL, first, ap);
	va_end(ap);
	return p;
}

/* What "redjob wait --json" printed, with its exit status. */
static json_t *
wait_json(const char *id, int status)
{
	json_error_t e;
	struct proc *p;
	json_t *j;

	p = cli("wait", "--json", "--timeout", "30s", id, NULL);
	ck_assert_msg(p->status == status, "exit %d: %s", p->status, p->err);
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

/* Enqueue with libredjob; the id goes in id. */
static void
enqueue(const char *type, const void *payload, size_t len, int64_t delay_ms,
    char id[REDJOB_ID_MAX])
{
	struct redjob_job j;

	memset(&j, 0, sizeof j);
	j.queue = "default";
	j.type = type;
	j.payload = payload;
	j.payload_len = len;
	j.delay_ms = delay_ms;
	ck_assert_msg(redjob_enqueue(df.cl, &j, id) == 0, "%s",
	    redjob_errstr(df.cl));
}

static void
start(void)
{
	daemon_write_config(
	    "redis:\n"
	    "  url: %s\n"
	    "workers: 1\n"
	    "concurrency: 4\n"
	    "shutdown_timeout: 2s\n"
	    "queues:\n"
	    "  default: 1\n"
	    "jobs:\n"
	    "  echo:\n"
	    "    exec: [/bin/sh, -c, 'printf \"out:\"; cat']\n"
	    "    result: {}\n"
	    "  copy:\n"
	    "    exec: [/bin/cat]\n"
	    "    result: { max: 1KiB, ttl: 1h }\n"
	    "  broken:\n"
	    "    exec: [/bin/sh, -c, 'echo kaput >&2; exit 65']\n"
	    "    result: {}\n"
	    "  gated:\n"
	    "    exec: [/bin/sh, -c, 'while [ ! -e \"$0\" ]; do sleep 0.01; "
	    "done; printf opened', '%s/go']\n"
	    "    result: {}\n"
	    "  brief:\n"
	    "    exec: [/bin/sh, -c, 'printf gone']\n"
	    "    result: { ttl: 1ms }\n"
	    "  plain:\n"
	    "    exec: [/bin/sh, -c, 'printf logged']\n"
	    "  plug:\n"
	    "    plugin: { path: \"%s/tests/plugins/.libs/probe.so\", "
	    "symbol: result }\n"
	    "    result: { max: 100 }\n"
	    "  plug_plain:\n"
	    "    plugin: { path: \"%s/tests/plugins/.libs/probe.so\", "
	    "symbol: result }\n"
	    "  thumbnail:\n"		/* docs/protocol.md's recipes */
	    "    exec: [/bin/sh, -c, 'printf \"thumb of \"; cat']\n"
	    "    result: {}\n",
	    rf.url, df.dir, testlib_builddir(), testlib_builddir());
	daemon_start(NULL);
	ck_assert_ptr_nonnull(notify_wait("READY=1", 15000));
}

/* Poll until the type table names type (redjobd's first beat). */
static void
wait_type_table(const char *type)
{
	uint64_t end = testlib_now_ms() + 15000;

	while (must_int(rf.c, "HEXISTS redjob:types %s", type) == 0) {
		ck_assert_msg(testlib_now_ms() < end, "no type %s in the type "
		    "table", type);
		nap_ms(20);
	}
}

/* redjob enqueue TYPE - with payload on stdin; the id (static). */
static const char *
cli_enqueue(const char *type, const char *payload)
{
	static char id[REDJOB_ID_MAX];
	struct proc *p;

	p = cli_in(payload, "enqueue", "-q", "default", type, "-", NULL);
	ck_assert_msg(p->status == 0, "exit %d: %s", p->status, p->err);
	snprintf(id, sizeof id, "%.*s", (int)strcspn(p->out, "\n"), p->out);
	proc_free(p);
	return id;
}

/* The Done-when of the issue: wait prints the handler's output. */
START_TEST(test_wait_prints_the_handlers_output)
{
	const char *id;
	struct proc *p;
	json_t *j;

	start();
	id = cli_enqueue("echo", "hello\n");
	p = cli("wait", id, NULL);
	ck_assert_msg(p->status == 0, "exit %d: %s", p->status, p->err);
	ck_assert_int_eq(p->outlen, 10);
	ck_assert_str_eq(p->out, "out:hello\n");
	ck_assert_str_eq(p->err, "");
	proc_free(p);

	/* Kept as done, and shown. */
	p = cli("show", id, NULL);
	ck_assert_int_eq(p->status, 0);
	ck_assert_msg(strstr(p->out, "state          done\n") != NULL, "%s",
	    p->out);
	ck_assert_msg(strstr(p->out, "result_size    10\n") != NULL, "%s",
	    p->out);
	ck_assert_msg(strstr(p->out, "result         (10 bytes, text)\n"
	    "out:hello\n") != NULL, "%s", p->out);
	proc_free(p);
	ck_assert_int_eq(queue_stat("default", "processed"), 1);
	ck_assert_int_eq(queue_stat("default", "done"), 1);

	/* A second wait on a done job answers at once, the same. */
	p = cli("wait", "--timeout", "0s", id, NULL);
	ck_assert_int_eq(p->status, 0);
	ck_assert_str_eq(p->out, "out:hello\n");
	proc_free(p);

	j = wait_json(id, 0);
	ck_assert_str_eq(jstr(j, "id"), id);
	ck_assert_str_eq(jstr(j, "outcome"), "done");
	ck_assert_str_eq(jstr(j, "result"), "out:hello\n");
	ck_assert_int_eq(json_integer_value(json_object_get(j,
	    "result_size")), 10);
	ck_assert(json_is_false(json_object_get(j, "result_truncated")));
	json_decref(j);
}
END_TEST

/* Every byte value, NUL included, comes back exactly. */
START_TEST(test_binary_result_is_kept_exactly)
{
	unsigned char all[256];
	char id[REDJOB_ID_MAX];
	struct proc *p;
	json_t *j;
	size_t i;

	start();
	for (i = 0; i < sizeof all; i++)
		all[i] = (unsigned char)i;
	enqueue("copy", all, sizeof all, 0, id);
	p = cli("wait", id, NULL);
	ck_assert_msg(p->status == 0, "exit %d: %s", p->status, p->err);
	ck_assert_int_eq(p->outlen, sizeof all);
	ck_assert(memcmp(p->out, all, sizeof all) == 0);
	proc_free(p);

	/* show prints it as a hex dump, not raw. */
	p = cli("show", id, NULL);
	ck_assert_int_eq(p->status, 0);
	ck_assert_msg(strstr(p->out, "result         (256 bytes, not "
	    "printable text; shown as hex") != NULL, "%s", p->out);
	ck_assert_msg(strstr(p->out, "  00000000  00 01 02 03") != NULL, "%s",
	    p->out);
	proc_free(p);

	/* --json: base64, as show gives a binary payload. */
	j = wait_json(id, 0);
	ck_assert_ptr_null(json_object_get(j, "result"));
	ck_assert_msg(strncmp(jstr(j, "result_base64"), "AAECAwQF", 8) == 0,
	    "%s", jstr(j, "result_base64"));
	json_decref(j);
}
END_TEST

/* Over max: the first max bytes, and the job says it was cut. */
START_TEST(test_result_over_max_is_truncated_and_says_so)
{
	char id[REDJOB_ID_MAX], big[5000], *v;
	struct proc *p;

	start();
	memset(big, 'x', sizeof big);
	enqueue("copy", big, sizeof big, 0, id);
	p = cli("wait", id, NULL);
	ck_assert_msg(p->status == 0, "exit %d: %s", p->status, p->err);
	ck_assert_int_eq(p->outlen, 1024);
	ck_assert(memcmp(p->out, big, 1024) == 0);
	ck_assert_msg(strstr(p->err, "truncated: 1024 of 5000 bytes kept") !=
	    NULL, "%s", p->err);
	proc_free(p);
	v = daemon_job_field(id, "result_size");
	ck_assert_str_eq(v, "5000");
	free(v);
	v = daemon_job_field(id, "result_truncated");
	ck_assert_str_eq(v, "1");
	free(v);
}
END_TEST

/* A job that goes dead: 1, with its last error. */
START_TEST(test_wait_on_a_dead_job_exits_1_with_its_error)
{
	const char *id;
	struct proc *p;
	json_t *j;

	start();
	id = cli_enqueue("broken", "");
	p = cli("wait", id, NULL);
	ck_assert_int_eq(p->status, 1);
	ck_assert_str_eq(p->out, "");
	ck_assert_msg(strstr(p->err, "is dead: ") != NULL &&
	    strstr(p->err, "kaput") != NULL, "%s", p->err);
	proc_free(p);

	j = wait_json(id, 1);
	ck_assert_str_eq(jstr(j, "outcome"), "dead");
	ck_assert_msg(strstr(jstr(j, "error"), "kaput") != NULL, "%s",
	    jstr(j, "error"));
	json_decref(j);
}
END_TEST

/* A job that does not finish in time: 75. */
START_TEST(test_wait_timeout_exits_75)
{
	char id[REDJOB_ID_MAX];
	struct proc *p;

	start();
	enqueue("echo", "later", 5, 3600 * 1000, id);
	p = cli("wait", "--timeout", "200ms", id, NULL);
	ck_assert_int_eq(p->status, 75);
	ck_assert_str_eq(p->out, "");
	ck_assert_msg(strstr(p->err, "has not finished after 200ms") != NULL,
	    "%s", p->err);
	proc_free(p);
}
END_TEST

/* Nothing to wait for: a type without result:, no such job, bad usage. */
START_TEST(test_wait_without_a_result_to_wait_for)
{
	char id[REDJOB_ID_MAX];
	const char *done;
	struct proc *p;

	start();
	wait_type_table("plain");
	enqueue("plain", "", 0, 3600 * 1000, id);
	p = cli("wait", id, NULL);
	ck_assert_msg(p->status == 1, "pending: exit %d: %s %s", p->status,
	    p->err, id);
	ck_assert_msg(strstr(p->err, "job type plain keeps no result: add "
	    "result: to its configuration") != NULL, "%s", p->err);
	proc_free(p);

	/* One that ran and left Redis, as jobs without result: do. */
	done = cli_enqueue("plain", "");
	ck_assert(wait_stat("default", "processed", 1, 15000));
	p = cli("wait", done, NULL);
	ck_assert_msg(p->status == 1, "gone: exit %d: %s %s", p->status,
	    p->err, done);
	ck_assert_msg(strstr(p->err, "has finished and is no longer kept") !=
	    NULL, "%s", p->err);
	proc_free(p);

	p = cli("wait", "default:999999", NULL);
	ck_assert_int_eq(p->status, 1);
	ck_assert_msg(strstr(p->err, "no job default:999999") != NULL, "%s",
	    p->err);
	proc_free(p);

	p = cli("wait", "nonsense", NULL);
	ck_assert_int_eq(p->status, 2);
	proc_free(p);
	p = cli("wait", "--timeout", "soon", "default:1", NULL);
	ck_assert_int_eq(p->status, 2);
	proc_free(p);
	p = cli("wait", NULL);
	ck_assert_int_eq(p->status, 2);
	proc_free(p);
}
END_TEST

/* A result whose ttl has passed is gone: 1. */
START_TEST(test_wait_after_the_ttl_exits_1)
{
	const char *id;
	uint64_t end;
	struct proc *p;

	start();
	id = cli_enqueue("brief", "");
	ck_assert(wait_stat("default", "processed", 1, 15000));
	/* Kept 1 ms: the first look after that finds it gone. */
	end = testlib_now_ms() + 10000;
	for (;;) {
		p = cli("wait", "--timeout", "0s", id, NULL);
		if (p->status == 1 || testlib_now_ms() > end)
			break;
		proc_free(p);
		nap_ms(10);
	}
	ck_assert_int_eq(p->status, 1);
	ck_assert_msg(strstr(p->err, "its result expired") != NULL, "%s",
	    p->err);
	proc_free(p);
}
END_TEST

/*
 * A waiter started before the job finishes is told: subscribed while the
 * job runs, it returns with the result once the handler ends, well
 * before its long timeout.
 */
START_TEST(test_a_waiter_wakes_when_the_job_is_done)
{
	char id[REDJOB_ID_MAX], go[4200], chan[256], *v;
	uint64_t end;
	struct proc *p;
	redisReply *r;
	FILE *f;
	int subscribed = 0;

	start();
	enqueue("gated", "", 0, 0, id);
	p = cli_bg("wait", "--timeout", "1h", id, NULL);
	snprintf(chan, sizeof chan, "redjob:{default}:fin:%s",
	    strchr(id, ':') + 1);
	end = testlib_now_ms() + 15000;
	while (!subscribed && testlib_now_ms() < end) {
		r = must_command(rf.c, "PUBSUB NUMSUB %s", chan);
		subscribed = r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
		    r->element[1]->integer == 1;
		freeReplyObject(r);
		if (!subscribed)
			nap_ms(10);
	}
	ck_assert_msg(subscribed, "the waiter never subscribed");
	v = daemon_job_field(id, "state");
	ck_assert_msg(strcmp(v, "running") == 0 || strcmp(v, "ready") == 0,
	    "state %s", v);
	free(v);
	ck_assert_int_eq(p->status, -1);

	snprintf(go, sizeof go, "%s/go", df.dir);
	f = fopen(go, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	must_wait(p, TESTLIB_DEADLINE_MS);
	ck_assert_msg(p->status == 0, "exit %d: %s", p->status, p->err);
	ck_assert_str_eq(p->out, "opened");
	proc_free(p);
}
END_TEST

/* A plugin's result buffer (ABI 2), binary, and cut at its max. */
START_TEST(test_plugin_result_buffer)
{
	char id[REDJOB_ID_MAX], big[300], want[100];
	unsigned char all[256];
	struct proc *p;
	size_t i;

	start();
	enqueue("plug", "x", 1, 0, id);
	p = cli("wait", id, NULL);
	ck_assert_msg(p->status == 0, "exit %d: %s", p->status, p->err);
	ck_assert_str_eq(p->out, "plugin:x");
	proc_free(p);

	/* 256 bytes over a max of 100: the first 100. */
	for (i = 0; i < sizeof all; i++)
		all[i] = (unsigned char)i;
	enqueue("plug", "bytes", 5, 0, id);
	p = cli("wait", id, NULL);
	ck_assert_msg(p->status == 0, "exit %d: %s", p->status, p->err);
	ck_assert_int_eq(p->outlen, 100);
	ck_assert(memcmp(p->out, all, 100) == 0);
	ck_assert_msg(strstr(p->err, "truncated: 100 of 256 bytes") != NULL,
	    "%s", p->err);
	proc_free(p);

	/* "plugin:" and 293 bytes, in two writes, cut at 100. */
	memset(big, 'y', sizeof big);
	enqueue("plug", big, sizeof big, 0, id);
	p = cli("wait", id, NULL);
	ck_assert_int_eq(p->status, 0);
	memcpy(want, "plugin:", 7);
	memset(want + 7, 'y', sizeof want - 7);
	ck_assert_int_eq(p->outlen, 100);
	ck_assert(memcmp(p->out, want, 100) == 0);
	proc_free(p);

	/* A type without result: gives the plugin no buffer. */
	enqueue("plug_plain", "x", 1, 0, id);
	ck_assert(wait_stat("default", "dead", 1, 15000));
	ck_assert_int_eq(queue_stat("default", "done"), 3);
}
END_TEST

/* libredjob's redjob_wait(): done, timeout, dead, and no such job. */
START_TEST(test_libredjob_redjob_wait)
{
	struct redjob_wait_result res;
	char id[REDJOB_ID_MAX], later[REDJOB_ID_MAX];

	start();
	enqueue("echo", "lib\0rary", 8, 0, id);
	ck_assert_msg(redjob_wait(df.cl, id, 30000, &res) == 0, "%s",
	    redjob_errstr(df.cl));
	ck_assert_int_eq(res.outcome, REDJOB_OUTCOME_DONE);
	ck_assert_uint_eq(res.result_len, 12);
	ck_assert(memcmp(res.result, "out:lib\0rary", 12) == 0);
	ck_assert_int_eq(res.result[12], '\0');
	ck_assert_uint_eq(res.result_size, 12);
	ck_assert_int_eq(res.truncated, 0);
	ck_assert_ptr_null(res.error);
	redjob_wait_result_free(&res);

	enqueue("echo", "", 0, 3600 * 1000, later);
	ck_assert_int_eq(redjob_wait(df.cl, later, 100, &res), 0);
	ck_assert_int_eq(res.outcome, REDJOB_OUTCOME_TIMEOUT);
	ck_assert_ptr_null(res.result);
	redjob_wait_result_free(&res);

	enqueue("broken", "", 0, 0, id);
	ck_assert_int_eq(redjob_wait(df.cl, id, 30000, &res), 0);
	ck_assert_int_eq(res.outcome, REDJOB_OUTCOME_DEAD);
	ck_assert_msg(strstr(res.error, "kaput") != NULL, "%s", res.error);
	redjob_wait_result_free(&res);

	ck_assert_int_eq(redjob_wait(df.cl, "default:999999", 100, &res), -1);
	ck_assert_int_eq(redjob_errcode(df.cl), REDJOB_ERR_NOJOB);
	ck_assert_int_eq(redjob_wait(df.cl, "default", 100, &res), -1);
	ck_assert_int_eq(redjob_errcode(df.cl), REDJOB_ERR_INVALID);
}
END_TEST

/*
 * The connection a waiter listens on is lost (Redis paused and its
 * clients killed): it connects again, subscribes again, reads the job
 * again and still gets the result.
 */
START_TEST(test_wait_survives_a_lost_connection)
{
	char id[REDJOB_ID_MAX], go[4200], chan[256];
	struct proc *p;
	redisReply *r;
	uint64_t end;
	FILE *f;
	int n = 0;

	start();
	enqueue("gated", "", 0, 0, id);
	p = cli_bg("wait", "--timeout", "1h", id, NULL);
	snprintf(chan, sizeof chan, "redjob:{default}:fin:%s",
	    strchr(id, ':') + 1);
	end = testlib_now_ms() + 15000;
	while (n == 0 && testlib_now_ms() < end) {
		r = must_command(rf.c, "PUBSUB NUMSUB %s", chan);
		n = (int)r->element[1]->integer;
		freeReplyObject(r);
		if (n == 0)
			nap_ms(10);
	}
	ck_assert_int_eq(n, 1);
	freeReplyObject(must_command(rf.c, "CLIENT KILL TYPE pubsub"));
	/* It subscribes again. */
	n = 0;
	while (n == 0 && testlib_now_ms() < end) {
		r = must_command(rf.c, "PUBSUB NUMSUB %s", chan);
		n = (int)r->element[1]->integer;
		freeReplyObject(r);
		if (n == 0)
			nap_ms(10);
	}
	ck_assert_int_eq(n, 1);
	snprintf(go, sizeof go, "%s/go", df.dir);
	f = fopen(go, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	must_wait(p, TESTLIB_DEADLINE_MS);
	ck_assert_msg(p->status == 0, "exit %d: %s", p->status, p->err);
	ck_assert_str_eq(p->out, "opened");
	proc_free(p);
}
END_TEST

/* An error reply that starts with code. */
static void
assert_error(redisReply *r, const char *code)
{
	ck_assert_ptr_nonnull(r);
	ck_assert_msg(r->type == REDIS_REPLY_ERROR && strncmp(r->str, code,
	    strlen(code)) == 0, "want %s, got %s", code, r->type ==
	    REDIS_REPLY_ERROR ? r->str : "no error");
	freeReplyObject(r);
}

/*
 * redjob_done and redjob_result as docs/protocol.md has them, called
 * directly: the token is checked, the result and its size are kept,
 * the job is done and kept for its ttl, bad arguments change nothing.
 */
START_TEST(test_the_done_and_result_functions)
{
	char id[REDJOB_ID_MAX];
	redisReply *r;

	enqueue("any", "p", 1, 0, id);
	ck_assert_str_eq(id, "default:1");
	freeReplyObject(must_command(rf.c, "FCALL redjob_claim 1 "
	    "redjob:{default} 1 60000 1 done-test-token w"));
	r = must_command(rf.c, "FCALL_RO redjob_result 1 redjob:{default} "
	    "default:1");
	ck_assert_uint_eq(r->elements, 6);
	ck_assert_str_eq(r->element[0]->str, "running");
	ck_assert_str_eq(r->element[1]->str, "any");
	ck_assert_str_eq(r->element[4]->str, "-1");
	freeReplyObject(r);

	/* Refused: nothing changes. */
	ck_assert_int_eq(must_int(rf.c, "FCALL redjob_done 1 redjob:{default} "
	    "default:1 not-the-token 1000 x"), 0);
	assert_error(redisCommand(rf.c, "FCALL redjob_done 1 "
	    "redjob:{default} default:1 done-test-token 0 x"),
	    "REDJOB_BADARG");
	assert_error(redisCommand(rf.c, "FCALL redjob_done 1 "
	    "redjob:{default} default:1 done-test-token 1000 abc 2"),
	    "REDJOB_BADARG");
	assert_error(redisCommand(rf.c, "FCALL redjob_done 1 "
	    "redjob:{default} default:1 done-test-token 1000"),
	    "REDJOB_BADARG");
	ck_assert_int_eq(must_int(rf.c, "ZCARD redjob:{default}:run"), 1);

	ck_assert_int_eq(must_int(rf.c, "FCALL redjob_done 1 redjob:{default} "
	    "default:1 done-test-token 600000 %b 9", "a\0c", (size_t)3), 1);
	ck_assert_int_eq(must_int(rf.c, "ZCARD redjob:{default}:run"), 0);
	ck_assert_int_eq(must_int(rf.c, "HEXISTS redjob:{default}:tok 1"), 0);
	ck_assert_int_eq(must_int(rf.c, "ZCARD redjob:{default}:fin"), 1);
	ck_assert_int_eq(queue_stat("default", "processed"), 1);
	r = must_command(rf.c, "FCALL_RO redjob_result 1 redjob:{default} "
	    "default:1");
	ck_assert_str_eq(r->element[0]->str, "done");
	ck_assert_uint_eq(r->element[3]->len, 3);
	ck_assert(memcmp(r->element[3]->str, "a\0c", 3) == 0);
	ck_assert_str_eq(r->element[4]->str, "9");
	ck_assert_str_eq(r->element[5]->str, "1");
	freeReplyObject(r);
	/* Done once: the token is spent. */
	ck_assert_int_eq(must_int(rf.c, "FCALL redjob_done 1 redjob:{default} "
	    "default:1 done-test-token 1000 x"), 0);

	assert_error(redisCommand(rf.c, "FCALL_RO redjob_result 1 "
	    "redjob:{default} default:2"), "REDJOB_NOJOB");
	assert_error(redisCommand(rf.c, "FCALL_RO redjob_result 1 "
	    "redjob:{default} mail:1"), "REDJOB_BADID");
}
END_TEST

/*
 * redjob_done of many jobs: each is checked against its own token and
 * keeps its own result; a refused one changes nothing; a job named twice
 * is done once; a call of the wrong length writes nothing.
 */
START_TEST(test_the_done_function_takes_many_jobs)
{
	char id[REDJOB_ID_MAX];
	redisReply *r;
	int i;

	for (i = 0; i < 3; i++)
		enqueue("any", "p", 1, 0, id);
	freeReplyObject(must_command(rf.c, "FCALL redjob_claim 1 "
	    "redjob:{default} 3 60000 1 many-done-token w"));
	assert_error(redisCommand(rf.c, "FCALL redjob_done 1 "
	    "redjob:{default} default:1 many-done-token 1000 a 1 "
	    "default:2 many-done-token 1000 b"), "REDJOB_BADARG");
	assert_error(redisCommand(rf.c, "FCALL redjob_done 1 "
	    "redjob:{default} default:1 many-done-token 1000 a 1 "
	    "default:2 many-done-token 0 b 1"), "REDJOB_BADARG");
	ck_assert_int_eq(must_int(rf.c, "ZCARD redjob:{default}:run"), 3);
	ck_assert_int_eq(must_int(rf.c, "ZCARD redjob:{default}:fin"), 0);

	r = must_command(rf.c, "FCALL redjob_done 1 redjob:{default} "
	    "default:1 many-done-token 1000 one 3 "
	    "default:2 not-the-token 1000 two 3 "
	    "default:3 many-done-token 1000 %b 5 "
	    "default:3 many-done-token 1000 again 5", "t\0r", (size_t)3);
	ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
	ck_assert_uint_eq(r->elements, 4);
	ck_assert_int_eq(r->element[0]->integer, 1);
	ck_assert_int_eq(r->element[1]->integer, 0);
	ck_assert_int_eq(r->element[2]->integer, 1);
	ck_assert_int_eq(r->element[3]->integer, 0);
	freeReplyObject(r);
	ck_assert_int_eq(must_int(rf.c, "ZCARD redjob:{default}:run"), 1);
	ck_assert_int_eq(must_int(rf.c, "ZCARD redjob:{default}:fin"), 2);
	ck_assert_int_eq(queue_stat("default", "processed"), 2);
	r = must_command(rf.c, "FCALL_RO redjob_result 1 redjob:{default} "
	    "default:1");
	ck_assert_str_eq(r->element[0]->str, "done");
	ck_assert_str_eq(r->element[3]->str, "one");
	ck_assert_str_eq(r->element[4]->str, "3");
	freeReplyObject(r);
	r = must_command(rf.c, "FCALL_RO redjob_result 1 redjob:{default} "
	    "default:3");
	ck_assert_uint_eq(r->element[3]->len, 3);
	ck_assert(memcmp(r->element[3]->str, "t\0r", 3) == 0);
	ck_assert_str_eq(r->element[4]->str, "5");
	ck_assert_str_eq(r->element[5]->str, "1");
	freeReplyObject(r);
	r = must_command(rf.c, "FCALL_RO redjob_result 1 redjob:{default} "
	    "default:2");
	ck_assert_str_eq(r->element[0]->str, "running");
	freeReplyObject(r);
}
END_TEST

/*
 * Many jobs that keep a result, finishing together on a worker of four
 * slots: each keeps its own result (the worker sends them in batches:
 * a mix-up of their arguments would swap results).
 */
START_TEST(test_many_results_each_keep_their_own)
{
	enum { JOBS = 120 };
	char ids[JOBS][REDJOB_ID_MAX], pay[32], want[64];
	redisReply *r;
	int i, len;

	start();
	for (i = 0; i < JOBS; i++) {
		len = snprintf(pay, sizeof pay, "job-%d", i);
		enqueue("plug", pay, (size_t)len, 0, ids[i]);
	}
	ck_assert(wait_stat("default", "processed", JOBS, 30000));
	for (i = 0; i < JOBS; i++) {
		r = must_command(rf.c, "FCALL_RO redjob_result 1 "
		    "redjob:{default} %s", ids[i]);
		ck_assert_str_eq(r->element[0]->str, "done");
		len = snprintf(want, sizeof want, "plugin:job-%d", i);
		ck_assert_uint_eq(r->element[3]->len, (size_t)len);
		ck_assert_mem_eq(r->element[3]->str, want, (size_t)len);
		freeReplyObject(r);
	}
}
END_TEST

/*
 * The second fenced block of docs/protocol.md that opens with "```LANG":
 * the recipe that waits for a job (the first, enqueueing, is
 * tests/check_cli.c's). Caller frees.
 */
static char *
wait_recipe(const char *lang)
{
	char path[4200], open[32], *doc, *p, *end, *block;

	snprintf(path, sizeof path, "%s/docs/protocol.md", testlib_srcdir());
	doc = must_read_file(path, NULL);
	snprintf(open, sizeof open, "\n```%s\n", lang);
	p = strstr(doc, open);
	ck_assert_msg(p != NULL, "no ```%s block in %s", lang, path);
	p = strstr(p + 1, open);
	ck_assert_msg(p != NULL, "no second ```%s block in %s", lang, path);
	p += strlen(open);
	end = strstr(p, "\n```\n");
	ck_assert_msg(end != NULL, "the block never ends");
	block = strndup(p, (size_t)(end - p) + 1);
	ck_assert_ptr_nonnull(block);
	free(doc);
	return block;
}

/* What it says it prints: the comment of each line that prints. */
static char *
recipe_expected(const char *block, const char *print, const char *comment)
{
	const char *line, *eol, *c, *last;
	char *want = NULL;
	size_t len = 0;

	for (line = block; *line != '\0'; line = eol + 1) {
		eol = strchr(line, '\n');
		ck_assert_ptr_nonnull(eol);
		c = strstr(line, print);
		if (c == NULL || c > eol)
			continue;
		for (last = NULL; (c = strstr(c, comment)) != NULL && c < eol;
		    c++)
			last = c;
		ck_assert_msg(last != NULL, "no comment says what this prints: "
		    "%.*s", (int)(eol - line), line);
		last += strlen(comment);
		testlib_append(&want, &len, last, (size_t)(eol - last) + 1);
	}
	ck_assert_msg(len > 0, "the recipe prints nothing");
	return want;
}

/* Run the waiting recipe of LANG with INTERP against redjobd. */
static void
run_wait_recipe(const char *lang, const char *interp, const char *print,
    const char *comment)
{
	char *block, *want, file[4200], envsock[4200], *env[2], *argv[3];
	struct proc_spec spec;
	struct proc *p;
	FILE *fp;

	start();
	block = wait_recipe(lang);
	want = recipe_expected(block, print, comment);
	snprintf(file, sizeof file, "%s/recipe.%s", df.dir, lang);
	fp = fopen(file, "w");
	ck_assert_ptr_nonnull(fp);
	ck_assert_int_ge(fputs(block, fp), 0);
	ck_assert_int_eq(fclose(fp), 0);
	snprintf(envsock, sizeof envsock, "REDJOB_SOCKET=%s", rf.sock);
	env[0] = envsock;
	env[1] = NULL;
	argv[0] = (char *)interp;
	argv[1] = file;
	argv[2] = NULL;
	memset(&spec, 0, sizeof spec);
	spec.argv = argv;
	spec.env = env;
	spec.out = spec.err = PROC_IO_CAPTURE;
	p = must_spawn(&spec);
	must_wait(p, TESTLIB_DEADLINE_MS);
	ck_assert_msg(p->status == 0, "%s %s: exit %d: %s", interp, file,
	    p->status, p->err);
	ck_assert_str_eq(p->out, want);
	proc_free(p);
	free(want);
	free(block);
}

START_TEST(test_protocol_python_wait_recipe)
{
	run_wait_recipe("python", "/usr/bin/python3", "print(", "# ");
}
END_TEST

START_TEST(test_protocol_node_wait_recipe)
{
	run_wait_recipe("js", "node", "console.log(", "// ");
}
END_TEST

Suite *
suite(void)
{
	Suite *s = suite_create("result");
	TCase *tc = tcase_create("result");

	tcase_set_timeout(tc, 90);
	tcase_add_unchecked_fixture(tc, redis_start, redis_stop);
	tcase_add_checked_fixture(tc, daemon_setup, daemon_teardown);
	tcase_add_test(tc, test_the_done_and_result_functions);
	tcase_add_test(tc, test_the_done_function_takes_many_jobs);
	tcase_add_test(tc, test_wait_prints_the_handlers_output);
	tcase_add_test(tc, test_binary_result_is_kept_exactly);
	tcase_add_test(tc, test_result_over_max_is_truncated_and_says_so);
	tcase_add_test(tc, test_wait_on_a_dead_job_exits_1_with_its_error);
	tcase_add_test(tc, test_wait_timeout_exits_75);
	tcase_add_test(tc, test_wait_without_a_result_to_wait_for);
	tcase_add_test(tc, test_wait_after_the_ttl_exits_1);
	tcase_add_test(tc, test_a_waiter_wakes_when_the_job_is_done);
	tcase_add_test(tc, test_plugin_result_buffer);
	tcase_add_test(tc, test_many_results_each_keep_their_own);
	tcase_add_test(tc, test_libredjob_redjob_wait);
	tcase_add_test(tc, test_wait_survives_a_lost_connection);
	tcase_add_test(tc, test_protocol_python_wait_recipe);
	tcase_add_test(tc, test_protocol_node_wait_recipe);
	suite_add_tcase(s, tc);
	return s;
}
