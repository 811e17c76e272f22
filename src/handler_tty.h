/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * handler_tty.h: lend the terminal to a command's process group, as a
 * shell does to its foreground job, and take it back; with the job
 * control of a ^Z in between.
 */
#ifndef REDJOB_HANDLER_TTY_H
#define REDJOB_HANDLER_TTY_H

#include <sys/types.h>

/* A descriptor of the terminal on stdin if we may lend it; -1: do not. */
int	handler_tty_take(void);
/* The command (group pgid) stopped with sig: stop with it, resume it. */
void	handler_tty_suspend(int fd, pid_t pgid, int sig);
/* The command (group pgid) has ended or never ran: take it back, close. */
void	handler_tty_release(int fd, pid_t pgid);

#endif
