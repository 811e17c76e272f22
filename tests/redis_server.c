/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A redis-server of our own, never a mock: the command line that every
 * test and benchmark run uses, and readiness polled with PING under a
 * deadline while watching that the server has not exited.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "mtime.h"
#include "proc.h"
#include "redis_server.h"
#include "xmalloc.h"

/* How often readiness is asked for; the wait in between ends early if
 * the server exits. */
#define REDIS_SERVER_POLL_MS 5
#define REDIS_SERVER_MAX_ARGS 64

/* Does the server answer: with anything (loading), or ready? */
static int
redis_server_answers(const char *sock, int loading)
{
	redisContext *c;
	redisReply *r;
	int ok = 0;

	c = redisConnectUnix(sock);
	if (c != NULL && c->err == 0) {
		r = redisCommand(c, "SMEMBERS redjob-test:none");
		/* A server still loading its data answers -LOADING. */
		ok = r != NULL && (r->type == REDIS_REPLY_ARRAY || (loading &&
		    r->type == REDIS_REPLY_ERROR &&
		    strncmp(r->str, "LOADING", 7) == 0));
		freeReplyObject(r);
	}
	redisFree(c);
	return ok;
}

int
redis_server_ping(const char *sock)
{
	return redis_server_answers(sock, 0);
}

static struct proc *
redis_server_run(const char *server, const char *dir,
    const char *const *extra, unsigned timeout_ms, int loading, char **cause);

struct proc *
redis_server_start(const char *server, const char *dir,
    const char *const *extra, unsigned timeout_ms, char **cause)
{
	return redis_server_run(server, dir, extra, timeout_ms, 0, cause);
}

/* The same, but returns once the server answers -LOADING too. */
struct proc *
redis_server_start_loading(const char *server, const char *dir,
    const char *const *extra, unsigned timeout_ms, char **cause)
{
	return redis_server_run(server, dir, extra, timeout_ms, 1, cause);
}

static struct proc *
redis_server_run(const char *server, const char *dir,
    const char *const *extra, unsigned timeout_ms, int loading, char **cause)
{
	const char *argv[REDIS_SERVER_MAX_ARGS];
	struct proc_spec spec;
	char *sock, *log;
	struct proc *p;
	uint64_t deadline;
	int n = 0, i;

	xasprintf(&sock, "%s/redis.sock", dir);
	xasprintf(&log, "%s/redis.log", dir);
	argv[n++] = server;
	argv[n++] = "--port";
	argv[n++] = "0";
	argv[n++] = "--unixsocket";
	argv[n++] = sock;
	argv[n++] = "--dir";
	argv[n++] = dir;
	argv[n++] = "--save";
	argv[n++] = "";
	argv[n++] = "--appendonly";
	argv[n++] = "no";
	argv[n++] = "--logfile";
	argv[n++] = log;
	for (i = 0; extra != NULL && extra[i] != NULL &&
	    n < REDIS_SERVER_MAX_ARGS - 1; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;

	memset(&spec, 0, sizeof spec);
	spec.argv = (char *const *)argv;
	/* Its own log says why it stopped; its stderr says why it could
	 * not start. */
	spec.out = PROC_IO_NULL;
	spec.err = PROC_IO_CAPTURE;
	if ((p = proc_spawn(&spec, cause)) == NULL)
		goto out;
	deadline = mtime_now() + timeout_ms;
	while (!redis_server_answers(sock, loading)) {
		if (proc_wait(p, REDIS_SERVER_POLL_MS) == 0) {
			xasprintf(cause, "%s exited at start (status %d): %s"
			    "see %s", server, p->status, p->errlen > 0 ?
			    p->err : "", log);
			proc_free(p);
			p = NULL;
			break;
		}
		if (mtime_now() >= deadline) {
			xasprintf(cause, "%s did not answer in %u ms; "
			    "see %s", server, timeout_ms, log);
			proc_free(p);
			p = NULL;
			break;
		}
	}
out:
	free(sock);
	free(log);
	return p;
}
