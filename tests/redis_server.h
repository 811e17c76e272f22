/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * redis_server.h: start a private redis-server on a unix socket in a
 * directory and wait until it answers. The test fixture and the
 * benchmark both start theirs here; it does not use Check.
 */
#ifndef REDJOB_REDIS_SERVER_H
#define REDJOB_REDIS_SERVER_H

struct proc;

/*
 * Run server (a path or a name in PATH) with --port 0, DIR/redis.sock, no
 * persistence and its log in DIR/redis.log, plus extra (NULL-terminated,
 * may be NULL). Returns it once it answers a read of a key (PING is
 * answered while the data still loads; a read is not), or NULL with
 * *cause set (the caller frees) if it exits or stays silent for
 * timeout_ms. redis_server_start_loading() returns once it answers
 * anything, -LOADING included.
 */
struct proc	*redis_server_start(const char *server, const char *dir,
		    const char *const *extra, unsigned timeout_ms,
		    char **cause);
struct proc	*redis_server_start_loading(const char *server,
		    const char *dir, const char *const *extra,
		    unsigned timeout_ms, char **cause);
/* Does the server on the unix socket sock answer, its data loaded? */
int		 redis_server_ping(const char *sock);

#endif
