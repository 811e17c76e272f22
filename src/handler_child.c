/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The child of an exec handler between fork and execve: its process
 * group, its parent-death signal, its signal dispositions and mask, its
 * descriptors, its limits, its directory, and the exec itself. It runs
 * on a copy of the caller's memory in which the allocator, the log or
 * libevent may be half-way through an update, so everything here makes
 * only async-signal-safe calls. The parent's side of the child (pipes,
 * reaping, timeouts) is handler_exec.c's.
 */
#include "autoconf.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "handler_child.h"
#include "handler_exec.h"

/*
 * The child between fork and execve. It runs on a copy of the worker's
 * memory in which the allocator, the log or libevent may be half-way
 * through an update, so only async-signal-safe calls are made here.
 * fds are the child's ends: stdin, stdout, stderr and the exec-status
 * pipe, all close-on-exec. Never returns.
 */
void
handler_child_run(const struct handler_exec_spec *spec, char *const *envp,
    pid_t parent, const int fds[4])
{
	struct handler_child_status st = {HANDLER_CHILD_SETUP, 0};
	struct sigaction sa;
	struct rlimit rl;
	sigset_t none;
	ssize_t n;
	int hi[4], i, sig, status_fd = fds[3];

	if (setpgid(0, 0) == -1)
		goto fail;

	/*
	 * A worker killed with -9 takes its handler with it: otherwise the
	 * handler would run on while its job's lease expires and another
	 * worker runs the job again. The worker may have died between fork
	 * and prctl, so check that our parent is still the one that forked
	 * us; if not, nobody is left to read our output or reap us.
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
		goto fail;
	if (getppid() != parent)
		_exit(127);

	/*
	 * execve resets caught signals but keeps ignored ones and the mask:
	 * the worker ignores SIGPIPE and had every signal blocked around
	 * fork. Reset them all; sigaction fails harmlessly for SIGKILL,
	 * SIGSTOP and the C library's internal signals.
	 */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) == -1)
		goto fail;

	/*
	 * Move our four descriptors above 3 first: if the worker had 0, 1
	 * or 2 closed, a pipe may sit there and the dup2s below would
	 * clobber it, or dup2 onto itself and keep close-on-exec set.
	 */
	for (i = 0; i < 4; i++) {
		if ((hi[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 4)) == -1)
			goto fail;
	}
	status_fd = hi[3];
	for (i = 0; i < 3; i++) {
		if (dup2(hi[i], i) == -1)
			goto fail;
	}
	if (dup3(hi[3], 3, O_CLOEXEC) == -1)
		goto fail;
	status_fd = 3;

	/*
	 * hiredis sockets, the channel to the supervisor and other jobs'
	 * pipes are not all close-on-exec. Only the exec-status pipe (3,
	 * close-on-exec) survives until execve.
	 */
	closefrom(4);

	/*
	 * No core files (a core holds the payload), and the conventional
	 * descriptor limit back: the daemon may have raised it, and
	 * select()-based programs break above 1024. Both only lower soft
	 * limits, which cannot fail.
	 */
	if (getrlimit(RLIMIT_CORE, &rl) == 0) {
		rl.rlim_cur = 0;
		(void)setrlimit(RLIMIT_CORE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur > 1024) {
		rl.rlim_cur = 1024;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}

	if (spec->cwd != NULL && chdir(spec->cwd) == -1) {
		st.stage = HANDLER_CHILD_CHDIR;
		goto fail;
	}
	st.stage = HANDLER_CHILD_EXEC;
	execve(spec->argv[0], spec->argv, envp);
fail:
	st.error = errno;
	n = write(status_fd, &st, sizeof st);
	(void)n;
	_exit(127);
}
