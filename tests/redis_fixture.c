/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The redis-server every integration test runs against: started with
 * --port 0 on a unix socket in a fresh directory, never a mock. Readiness
 * is polled with a deadline (PING), never slept for.
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

#include "client.h"
#include "rfunc.h"
#include "proc.h"
#include "redis_fixture.h"
#include "redis_server.h"
#include "testlib.h"

struct redis_fixture rf;

static const char *
redis_fixture_server(void)
{
	const char *s = getenv("REDIS_SERVER");

	return s != NULL && *s != '\0' ? s : "redis-server";
}

void
redis_fixture_spawn(const char *const *extra)
{
	char *cause = NULL;

	rf.proc = redis_server_start(redis_fixture_server(), rf.dir, extra,
	    10000, &cause);
	ck_assert_msg(rf.proc != NULL, "%s", cause);
}

/* The same, returning while the server still loads its data. */
void
redis_fixture_spawn_loading(const char *const *extra)
{
	char *cause = NULL;

	rf.proc = redis_server_start_loading(redis_fixture_server(), rf.dir,
	    extra, 10000, &cause);
	ck_assert_msg(rf.proc != NULL, "%s", cause);
}

void
redis_fixture_kill(int sig)
{
	if (rf.proc == NULL)
		return;
	/* What a SIGTERM does not end in time, SIGKILL does. */
	(void)proc_stop(rf.proc, sig, TESTLIB_DEADLINE_MS);
	rf.proc = NULL;
	unlink(rf.sock);
}

void
redis_start(void)
{
	memset(&rf, 0, sizeof rf);
	rf.dir = testlib_tmpdir("redis");
	if (asprintf(&rf.sock, "%s/redis.sock", rf.dir) < 0 ||
	    asprintf(&rf.url, "unix://%s", rf.sock) < 0)
		abort();
	redis_fixture_spawn(NULL);
}

void
redis_stop(void)
{
	redis_fixture_kill(SIGTERM);
	testlib_rmtree(rf.dir);
	free(rf.dir);
	free(rf.sock);
	free(rf.url);
	memset(&rf, 0, sizeof rf);
}

redisContext *
must_connect(void)
{
	redisContext *c;

	c = redisConnectUnix(rf.sock);
	ck_assert_msg(c != NULL && c->err == 0, "connect to %s: %s", rf.sock,
	    c != NULL ? c->errstr : "out of memory");
	return c;
}

redisReply *
must_command(redisContext *c, const char *fmt, ...)
{
	redisReply *r;
	va_list ap;

	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	ck_assert_msg(r != NULL, "%s: %s", fmt, c->errstr);
	ck_assert_msg(r->type != REDIS_REPLY_ERROR, "%s: %s", fmt, r->str);
	return r;
}

void
redis_conn_setup(void)
{
	rf.c = must_connect();
	freeReplyObject(must_command(rf.c, "FLUSHALL"));
	freeReplyObject(must_command(rf.c, "FUNCTION FLUSH"));
}

void
redis_conn_teardown(void)
{
	if (rf.c != NULL)
		redisFree(rf.c);
	rf.c = NULL;
}

/*
 * Field NAME of a job from the reply of FCALL_RO redjob_show, the one
 * reader of a job wherever it is kept (docs/protocol.md, the job hash),
 * copied and NUL-terminated (its length in *len if len is not NULL), or
 * NULL if the reply is an error (no such job) or has no such field.
 * Frees the reply. Caller frees the field.
 */
char *
show_field(redisReply *show, const char *name, size_t *len)
{
	char *v = NULL;
	size_t i;

	ck_assert_ptr_nonnull(show);
	for (i = 0; show->type == REDIS_REPLY_ARRAY &&
	    i + 1 < show->elements; i += 2) {
		if (strcmp(show->element[i]->str, name) != 0)
			continue;
		v = malloc(show->element[i + 1]->len + 1);
		ck_assert_ptr_nonnull(v);
		memcpy(v, show->element[i + 1]->str,
		    show->element[i + 1]->len + 1);
		if (len != NULL)
			*len = show->element[i + 1]->len;
		break;
	}
	freeReplyObject(show);
	return v;
}

long long
must_int(redisContext *c, const char *fmt, ...)
{
	redisReply *r;
	long long v;
	va_list ap;

	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	ck_assert_msg(r != NULL, "%s: %s", fmt, c->errstr);
	ck_assert_msg(r->type == REDIS_REPLY_INTEGER, "%s: not an integer "
	    "(%s)", fmt, r->type == REDIS_REPLY_ERROR ? r->str : "?");
	v = r->integer;
	freeReplyObject(r);
	return v;
}

/*
 * A checked fixture for tests that call the functions directly: a fresh
 * connection and database, and the library loaded as the clients would.
 */
void
redis_conn_setup_lib(void)
{
	redis_conn_setup();
	redis_load_test_lib();
}

void
redis_load_test_lib(void)
{
	const char *argv[RFUNC_LOAD_ARGC];
	size_t lens[RFUNC_LOAD_ARGC];
	redisReply *r;
	int argc;

	argc = rfunc_load_argv(argv, lens);
	argv[argc - 1] = rfunc_lua_test;
	lens[argc - 1] = rfunc_lua_test_len;
	r = redisCommandArgv(rf.c, argc, argv, lens);
	ck_assert_msg(r != NULL, "FUNCTION LOAD: %s", rf.c->errstr);
	ck_assert_msg(r->type != REDIS_REPLY_ERROR, "FUNCTION LOAD: %s",
	    r->str);
	freeReplyObject(r);
}

void
redis_fixture_config(char *path, size_t len, const char *text)
{
	FILE *fp;

	ck_assert_int_lt(snprintf(path, len, "%s/redjob.yml", rf.dir),
	    (int)len);
	fp = fopen(path, "w");
	ck_assert_msg(fp != NULL, "%s: %s", path, strerror(errno));
	fprintf(fp, "redis:\n  url: %s\n%s", rf.url, text);
	ck_assert_int_eq(fclose(fp), 0);
}

/*
 * A server of its own for each test, for tests that kill or restart it:
 * redis_start() and redis_conn_setup() as one checked fixture.
 */
void
redis_start_conn(void)
{
	redis_start();
	redis_conn_setup();
}

void
redis_stop_conn(void)
{
	redis_conn_teardown();
	redis_stop();
}

int
redis_fixture_pause(void)
{
	pid_t server = rf.proc->pid, guard;
	int p[2];
	char b;

	ck_assert_int_eq(pipe(p), 0);
	if ((guard = fork()) == -1)
		ck_abort_msg("fork: %s", strerror(errno));
	if (guard == 0) {
		/* EOF: the test resumed it, or died. Resume it either way. */
		close(p[1]);
		while (read(p[0], &b, 1) == -1 && errno == EINTR)
			;
		kill(server, SIGCONT);
		_exit(0);
	}
	close(p[0]);
	ck_assert_int_eq(kill(server, SIGSTOP), 0);
	return p[1];
}

void
redis_fixture_resume(int guard)
{
	ck_assert_int_eq(kill(rf.proc->pid, SIGCONT), 0);
	close(guard);
}

long long
redis_fixture_paused_until_gone(pid_t pgid, unsigned timeout_ms)
{
	uint64_t t0;
	long long ms;
	int guard, st, wst;

	t0 = testlib_now_ms();
	guard = redis_fixture_pause();
	st = proc_wait_gone(-pgid, &wst, timeout_ms);
	ms = (long long)(testlib_now_ms() - t0);
	redis_fixture_resume(guard);
	return st == 0 ? ms : -1;
}
