/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * redis_server.h: start a private redis-server on a unix socket in a
 * directory and wait until it answers PING. The test fixture and the
 * benchmark both start theirs here; it does not use Check.
 */
#ifndef REDJOB_REDIS_SERVER_H
#define REDJOB_REDIS_SERVER_H

struct proc;

/*
 * Run server (a path or a name in PATH) with --port 0, DIR/redis.sock, no
 * persistence and its log in DIR/redis.log, plus extra (NULL-terminated,
 * may be NULL). Returns it once it answers PING, or NULL with *cause set
 * (the caller frees) if it exits or stays silent for timeout_ms.
 */
struct proc	*redis_server_start(const char *server, const char *dir,
		    const char *const *extra, unsigned timeout_ms,
		    char **cause);
/* Does the server on the unix socket sock answer PING? */
int		 redis_server_ping(const char *sock);

#endif
