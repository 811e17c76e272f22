/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The reply-losing proxy of proxy.h. One process, one poll loop over
 * every pair of sockets; no threads, so the test can stop it with a
 * signal at any time.
 */
#include "autoconf.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "proc.h"
#include "proxy.h"
#include "testlib.h"

#define PROXY_PAIRS 64
#define PROXY_CUT_MS 200

struct proxy_args {
	const char	*path;
	const char	*upstream;
};

struct proxy_pair {
	int		 client;
	int		 server;
	uint64_t	 cut_at;	/* 0, or when to cut the client */
};

static volatile sig_atomic_t proxy_losing;

static void
proxy_sig(int sig)
{
	proxy_losing = sig == SIGUSR1;
}

static int
proxy_unix(const char *path, int listening)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path)
		return -1;
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (listening) {
		unlink(path);
		if (bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0 ||
		    listen(fd, 64) != 0) {
			close(fd);
			return -1;
		}
	} else if (connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void
proxy_close(struct proxy_pair *p)
{
	close(p->client);
	close(p->server);
	p->client = p->server = -1;
	p->cut_at = 0;
}

/* Relay what one side sent; -1 when that side is gone. */
static int
proxy_move(int from, int to)
{
	char buf[65536];
	ssize_t n, off = 0, w;

	if ((n = read(from, buf, sizeof buf)) <= 0)
		return -1;
	while (off < n) {
		if ((w = write(to, buf + off, (size_t)(n - off))) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		off += w;
	}
	return 0;
}

static int
proxy_main(void *arg)
{
	struct proxy_args *a = arg;
	struct proxy_pair pairs[PROXY_PAIRS];
	struct pollfd pfd[1 + 2 * PROXY_PAIRS];
	unsigned long long lost = 0;
	char junk[65536];
	int lfd, fd, i, n;
	uint64_t now;

	signal(SIGUSR1, proxy_sig);
	signal(SIGUSR2, proxy_sig);
	signal(SIGPIPE, SIG_IGN);
	if ((lfd = proxy_unix(a->path, 1)) < 0)
		return 1;
	for (i = 0; i < PROXY_PAIRS; i++)
		pairs[i].client = pairs[i].server = -1;
	printf("listening\n");
	fflush(stdout);
	for (;;) {
		pfd[0].fd = lfd;
		pfd[0].events = POLLIN;
		for (i = 0; i < PROXY_PAIRS; i++) {
			pfd[1 + 2 * i].fd = pairs[i].client;
			pfd[1 + 2 * i].events = POLLIN;
			pfd[2 + 2 * i].fd = pairs[i].server;
			pfd[2 + 2 * i].events = POLLIN;
		}
		n = poll(pfd, 1 + 2 * PROXY_PAIRS, 20);
		if (n < 0 && errno != EINTR)
			return 1;
		now = testlib_now_ms();
		if (n > 0 && (pfd[0].revents & POLLIN) &&
		    (fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
			for (i = 0; i < PROXY_PAIRS && pairs[i].client >= 0; i++)
				;
			if (i == PROXY_PAIRS ||
			    (pairs[i].server = proxy_unix(a->upstream, 0)) < 0)
				close(fd);
			else
				pairs[i].client = fd;
		}
		for (i = 0; i < PROXY_PAIRS; i++) {
			struct proxy_pair *p = &pairs[i];

			if (p->client < 0)
				continue;
			if (p->cut_at != 0 && now >= p->cut_at) {
				proxy_close(p);
				continue;
			}
			if (n > 0 && (pfd[1 + 2 * i].revents & (POLLIN | POLLHUP))
			    && proxy_move(p->client, p->server) != 0) {
				proxy_close(p);
				continue;
			}
			if (n <= 0 || !(pfd[2 + 2 * i].revents &
			    (POLLIN | POLLHUP)))
				continue;
			if (!proxy_losing) {
				if (proxy_move(p->server, p->client) != 0)
					proxy_close(p);
				continue;
			}
			/* The reply is read and dropped; the client is cut. */
			if (read(p->server, junk, sizeof junk) <= 0) {
				proxy_close(p);
				continue;
			}
			if (p->cut_at == 0) {
				p->cut_at = now + PROXY_CUT_MS;
				printf("lost %llu\n", ++lost);
				fflush(stdout);
			}
		}
	}
}

struct proc *
proxy_start(const char *path, const char *upstream)
{
	static struct proxy_args a;
	struct proc_spec spec;
	struct proc *p;

	a.path = path;
	a.upstream = upstream;
	memset(&spec, 0, sizeof spec);
	spec.fn = proxy_main;
	spec.arg = &a;
	spec.name = "proxy";
	spec.out = PROC_IO_CAPTURE;
	p = must_spawn(&spec);
	ck_assert_msg(proc_wait_output(p, "listening\n", 5000) == 0,
	    "the proxy did not start");
	return p;
}

void
proxy_lose_replies(struct proc *p, int on)
{
	ck_assert_int_eq(proc_signal(p, on ? SIGUSR1 : SIGUSR2), 0);
}

void
proxy_stop(struct proc *p)
{
	proc_signal(p, SIGKILL);
	proc_wait(p, 5000);
	proc_free(p);
}
