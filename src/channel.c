/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The supervisor-worker channel: one short text message per datagram on
 * a socketpair(AF_UNIX, SOCK_SEQPACKET), which keeps message boundaries
 * (the role of nginx's channels and tmux's imsg).
 */
#include "autoconf.h"

#include <sys/socket.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "channel.h"

/*
 * Send one message. Returns 0, or -1 with errno set (EAGAIN if the peer
 * is not reading; the message is then lost, which heartbeats tolerate).
 */
int
channel_send(int fd, const char *fmt, ...)
{
	char buf[CHANNEL_MAX];
	va_list ap;
	int n;

	if (fd < 0)
		return 0;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof buf) {
		errno = EMSGSIZE;
		return -1;
	}
	do {
		if (send(fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
			return 0;
	} while (errno == EINTR);
	return -1;
}

/*
 * Receive one message into buf, NUL-terminated. Returns its length, 0 at
 * EOF (the peer is gone), or -1 with errno set (EAGAIN: nothing yet).
 */
int
channel_recv(int fd, char *buf, size_t len)
{
	ssize_t n;

	do {
		n = recv(fd, buf, len - 1, MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return (int)n;
}
