/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The embedded Redis: with `redis: {embedded: {dir: ...}}` the supervisor
 * runs its own redis-server, private to redjob: it listens only on a unix
 * socket (other applications enqueue through it), keeps its data in dir
 * with the append-only file on, and refuses to evict keys, because an
 * evicted job is a lost job (docs/operations.md, Redis requirements).
 */
#include "autoconf.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "embedded.h"
#include "config.h"
#include "log.h"
#include "mtime.h"
#include "xmalloc.h"

/*
 * Start redis-server for cfg. Returns its pid, or -1 with *cause set. The
 * child's output goes to our stderr, so the journal has it.
 */
pid_t
embedded_start(const struct config *cfg, char **cause)
{
	const char *argv[40];
	pid_t pid;
	int n = 0;

	if (mkdir(cfg->embedded_dir, 0750) != 0 && errno != EEXIST) {
		xasprintf(cause, "embedded redis: cannot create %s: %s",
		    cfg->embedded_dir, strerror(errno));
		return -1;
	}
	argv[n++] = cfg->embedded_server;
	argv[n++] = "--port";
	argv[n++] = "0";
	argv[n++] = "--unixsocket";
	argv[n++] = cfg->embedded_socket;
	argv[n++] = "--unixsocketperm";
	argv[n++] = "770";
	argv[n++] = "--dir";
	argv[n++] = cfg->embedded_dir;
	argv[n++] = "--appendonly";
	argv[n++] = "yes";
	argv[n++] = "--appendfsync";
	argv[n++] = "everysec";
	argv[n++] = "--maxmemory-policy";
	argv[n++] = "noeviction";
	argv[n++] = "--daemonize";
	argv[n++] = "no";
	argv[n++] = "--loglevel";
	argv[n++] = "warning";
	argv[n++] = "--logfile";
	argv[n++] = "";
	argv[n] = NULL;

	if ((pid = fork()) < 0) {
		xasprintf(cause, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		/* Its own process group: a ^C to redjobd must not kill it
		 * before the workers have put their jobs back. */
		setpgid(0, 0);
		unsetenv("NOTIFY_SOCKET");
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "embedded redis: cannot run %s: %s\n", argv[0],
		    strerror(errno));
		_exit(127);
	}
	log_info("embedded redis-server started (pid %ld) on %s", (long)pid,
	    cfg->embedded_socket);
	return pid;
}

/*
 * Wait until the embedded server answers PING (it may be loading its
 * append-only file). Returns 0, or -1 with *cause set.
 */
int
embedded_wait_ready(const struct config *cfg, pid_t pid, unsigned timeout_ms,
    char **cause)
{
	uint64_t start = mtime_now();
	redisContext *c;
	redisReply *r;
	int status, ok;

	for (;;) {
		ok = 0;
		c = redisConnectUnix(cfg->embedded_socket);
		if (c != NULL && c->err == 0) {
			r = redisCommand(c, "PING");
			ok = r != NULL && r->type == REDIS_REPLY_STATUS;
			if (r != NULL)
				freeReplyObject(r);
		}
		if (c != NULL)
			redisFree(c);
		if (ok)
			return 0;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			xasprintf(cause, "embedded redis-server exited at start "
			    "(status %d)", WIFEXITED(status) ?
			    WEXITSTATUS(status) : 128 + WTERMSIG(status));
			return -1;
		}
		if (mtime_now() - start > timeout_ms) {
			xasprintf(cause, "embedded redis-server did not answer "
			    "on %s within %u ms", cfg->embedded_socket,
			    timeout_ms);
			return -1;
		}
		usleep(10000);
	}
}

/* Stop the embedded server; it writes its data on SIGTERM. */
void
embedded_stop(pid_t pid)
{
	int status;

	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	log_info("embedded redis-server stopped");
}
