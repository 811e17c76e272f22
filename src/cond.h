/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A condition that keeps a worker from consuming, told to the supervisor
 * over the channel (channel.h) as "COND TEXT", and "COND" when it is
 * over, so that STATUS= names it and the watchdog waits (supervisor.c).
 */
#ifndef REDJOB_COND_H
#define REDJOB_COND_H

void	cond_init(int chan_fd);
void	cond_noperm(const char *conn, const char *what);
void	cond_noperm_end(const char *conn, const char *what);

#endif
