/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * proxy.h: a unix-socket proxy between the daemon and the test's
 * redis-server, in a child process, that can lose Redis's replies on
 * purpose: every command still reaches Redis and runs, but what Redis
 * answers is dropped and the client's connection cut, as a network
 * failure right after a write would do.
 */
#ifndef REDJOB_TEST_PROXY_H
#define REDJOB_TEST_PROXY_H

struct proc;

/* Listen on path, relaying each connection to the server at upstream. */
struct proc	*proxy_start(const char *path, const char *upstream);
/*
 * Lose replies (on) or relay them again (off): SIGUSR1 / SIGUSR2 to the
 * proxy. While on, a connection on which Redis answered anything is cut
 * 200 ms after that answer came, the answer never delivered.
 */
void		 proxy_lose_replies(struct proc *p, int on);
/* Kill and free it. Its stdout says "lost N" at each connection cut. */
void		 proxy_stop(struct proc *p);

#endif
