/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * channel.h: the messages between the supervisor and a worker, one per
 * SOCK_SEQPACKET datagram, as short text so strace shows them plainly.
 *
 *   worker -> supervisor
 *	READY				connected, library loaded
 *	HB RUNNING DONE FAILED RETRIED	heartbeat, every second
 *	PG+ PGID / PG- PGID		a handler's process group began / ended
 *	MC FAMILY L1 L2 N		a counter grew by N (metrics.c)
 *	MH FAMILY QUEUE TYPE SUM C...	a histogram's new observations
 *					(several of these two, one a line)
 *   supervisor -> worker
 *	DRAIN				reload: stop claiming, finish, exit 0
 *	STOP				stop: the same within shutdown_timeout
 */
#ifndef REDJOB_CHANNEL_H
#define REDJOB_CHANNEL_H

#include <stddef.h>

/* Room for a histogram's message with two labels of 128 bytes. */
#define CHANNEL_MAX 1024

int	channel_send(int fd, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
int	channel_recv(int fd, char *buf, size_t len);

#endif
