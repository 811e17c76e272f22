/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The terminal lent to a command run from a shell (redjob lock's
 * COMMAND, spec.foreground of handler_exec): whether we may lend it, the
 * lending itself being done by the child (handler_child.c), taking it
 * back when the command ends, and what a shell expects of its job when
 * the command stops on ^Z. One terminal is lent at a time; while it is,
 * we are a background process of it and ignore SIGTTOU. This module does
 * not start, signal or reap the command (handler_exec.c does).
 */
#include "autoconf.h"

#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "handler_tty.h"
#include "compat.h"
#include "log.h"

/* The terminal lent, and the SIGTTOU disposition to restore. */
static struct {
	int lent;
	struct sigaction ttou;
	int ttou_ignored;
} handler_tty_state;

/*
 * Read the parent and the process group of pid from /proc. Returns 0, or
 * -1 if it is gone.
 */
static int
handler_tty_proc_stat(pid_t pid, pid_t *ppid, pid_t *pgrp)
{
	char path[64], buf[512], *p;
	long pp, pg;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* "pid (comm) state ppid pgrp ...": comm may hold anything. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %*c %ld %ld", &pp, &pg) != 2)
		return -1;
	*ppid = (pid_t)pp;
	*pgrp = (pid_t)pg;
	return 0;
}

/*
 * Whether every other process of our group is one of our ancestors (a
 * shell, or a script's shell, waiting for us): then nobody else of the
 * group wants the terminal while the command holds it. In a pipeline
 * ("redjob lock x -- make | less") it is not so, and less, reading its
 * keys from a terminal that is no longer its group's, would be stopped.
 */
static int
handler_tty_alone(void)
{
	pid_t anc[64], pid, ppid, pgrp, me = getpid(), group = getpgrp();
	struct dirent *de;
	size_t n = 0, i;
	char *end;
	DIR *d;

	for (pid = getppid(); pid > 1 && n < nitems(anc); pid = ppid) {
		anc[n++] = pid;
		if (handler_tty_proc_stat(pid, &ppid, &pgrp) == -1)
			break;
	}
	if ((d = opendir("/proc")) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		pid = (pid_t)strtol(de->d_name, &end, 10);
		if (end == de->d_name || *end != '\0' || pid == me ||
		    handler_tty_proc_stat(pid, &ppid, &pgrp) == -1 ||
		    pgrp != group)
			continue;
		for (i = 0; i < n && anc[i] != pid; i++)
			;
		if (i == n)
			break;
	}
	closedir(d);
	return de == NULL;
}

/*
 * Decide whether a command may have the terminal: stdin is a terminal
 * and our process group holds it (we are not a background job), nobody
 * else in our group may read it (handler_tty_alone), and it is not lent
 * already. If so, ignore SIGTTOU until handler_tty_release: we are then
 * a background process of the terminal, and a message of ours on it
 * (under "stty tostop") or taking it back must not stop us. Returns a
 * descriptor of the terminal (close-on-exec; handler_tty_release closes
 * it), or -1.
 */
int
handler_tty_take(void)
{
	struct sigaction sa, *old = &handler_tty_state.ttou;
	int fd;

	if (handler_tty_state.lent || !isatty(STDIN_FILENO) ||
	    tcgetpgrp(STDIN_FILENO) != getpgrp() || !handler_tty_alone())
		return -1;
	if ((fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3)) == -1) {
		log_warn("cannot keep the terminal");
		return -1;
	}
	if (sigaction(SIGTTOU, NULL, old) == 0 &&
	    (old->sa_flags & SA_SIGINFO) == 0 && old->sa_handler == SIG_DFL) {
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = SIG_IGN;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGTTOU, &sa, NULL) == 0)
			handler_tty_state.ttou_ignored = 1;
	}
	handler_tty_state.lent = 1;
	return fd;
}

/*
 * Hand the terminal on fd from process group from to group to, if from
 * holds it. SIGTTOU is blocked around it for a caller that catches it:
 * a tcsetpgrp from the background would otherwise signal it.
 */
static void
handler_tty_give(int fd, pid_t from, pid_t to)
{
	sigset_t ttou, old;

	if (tcgetpgrp(fd) != from)
		return;
	sigemptyset(&ttou);
	sigaddset(&ttou, SIGTTOU);
	pthread_sigmask(SIG_BLOCK, &ttou, &old);
	if (tcsetpgrp(fd, to) == -1)
		log_warn("tcsetpgrp %ld", (long)to);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/*
 * The command in group pgid, lent the terminal on fd, has ended or never
 * started (pgid 0): give the terminal back to our group if the command's
 * group holds it, close fd, and restore SIGTTOU's disposition. Called
 * before the command's leader is waited for, while its group id cannot
 * belong to anyone else.
 */
void
handler_tty_release(int fd, pid_t pgid)
{
	if (pgid > 0)
		handler_tty_give(fd, pgid, getpgrp());
	close(fd);
	if (handler_tty_state.ttou_ignored)
		(void)sigaction(SIGTTOU, &handler_tty_state.ttou, NULL);
	handler_tty_state.ttou_ignored = 0;
	handler_tty_state.lent = 0;
}

/*
 * The command in group pgid, lent the terminal on fd, stopped with sig.
 * ^Z made the terminal send SIGTSTP to its group, not to ours, so the
 * shell that started us still waits for us, with the terminal held by a
 * stopped group. Do what the shell expects of a job: take the terminal
 * back and stop our own group, as the terminal would have; once
 * continued, give the terminal back if "fg" gave it to us (not after
 * "bg"), and continue the command. A group that cannot stop (an
 * orphaned one, or one that ignores SIGTSTP) goes on at once. The rest
 * of our event loop waits meanwhile, as the command does.
 */
void
handler_tty_suspend(int fd, pid_t pgid, int sig)
{
	handler_tty_give(fd, pgid, getpgrp());
	(void)kill(0, sig == SIGSTOP ? SIGSTOP : SIGTSTP);
	handler_tty_give(fd, getpgrp(), pgid);
	if (kill(-pgid, SIGCONT) == -1 && errno != ESRCH)
		log_warn("kill %ld", (long)pgid);
}
