/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The child of an exec handler between its start and execve: its process
 * group (and the terminal, when it is lent), its parent-death signal,
 * its signal dispositions and mask, its descriptors, its limits, its
 * directory, and the exec itself, plain or with execvp's PATH search.
 * It runs in the caller's memory (handler_exec.c starts it with clone and
 * CLONE_VM), in which the allocator, the log or libevent may be half-way
 * through an update, so everything here that runs in the child makes only
 * async-signal-safe calls and writes only to its own stack (and to errno,
 * which the caller does not read across the start), and what needs memory
 * (the argv of a script run by /bin/sh) is prepared by the parent. Also here: the lists of what a command started from a shell
 * inherits (its descriptors, its ignored signals), which its caller takes
 * before changing either. The parent's side of the child (pipes, reaping,
 * timeouts) is handler_exec.c's.
 */
#include "autoconf.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "handler_child.h"
#include "handler_exec.h"
#include "xmalloc.h"

/*
 * In the child: close every descriptor above 2 except those in keep
 * (ascending) and status, which is above all of them.
 */
static void
handler_child_close_others(const int *keep, size_t n, int status)
{
	unsigned int lo = 3;
	size_t i;

	for (i = 0; i < n; i++) {
		if ((unsigned int)keep[i] > lo)
			close_range(lo, (unsigned int)keep[i] - 1, 0);
		lo = (unsigned int)keep[i] + 1;
	}
	if ((unsigned int)status > lo)
		close_range(lo, (unsigned int)status - 1, 0);
	close_range((unsigned int)status + 1, ~0U, 0);
}

/*
 * In the child: execve path, and if the kernel does not know its format
 * (a script without "#!"), run it with /bin/sh as execvp does. sh_argv
 * is "/bin/sh", a free slot and argv[1...]. Returns only on failure,
 * with errno set.
 */
static void
handler_child_execve_sh(const char *path, char *const *argv,
    char *const *envp, char **sh_argv)
{
	execve(path, argv, envp);
	if (errno != ENOEXEC)
		return;
	sh_argv[1] = (char *)path;
	execve(sh_argv[0], sh_argv, envp);
}

/*
 * In the child: run file as execvp(3) does, but with the PATH of envp
 * (the command's environment, not ours) and without allocating, since
 * the child may only make async-signal-safe calls. A name with a '/' is
 * run as it is. The errors follow glibc's: a directory where the file is
 * missing or not executable is skipped, EACCES wins over ENOENT at the
 * end, and any other error stops the search. Returns only on failure,
 * with errno set.
 */
static void
handler_child_execvpe(const char *file, char *const *argv, char *const *envp,
    char **sh_argv)
{
	char buf[PATH_MAX];
	const char *path = NULL, *p, *end;
	size_t flen, dlen, i;
	int eacces = 0;

	if (strchr(file, '/') != NULL) {
		handler_child_execve_sh(file, argv, envp, sh_argv);
		return;
	}
	if ((flen = strlen(file)) > NAME_MAX) {
		errno = ENAMETOOLONG;
		return;
	}
	for (i = 0; envp[i] != NULL; i++) {
		if (strncmp(envp[i], "PATH=", 5) == 0) {
			path = envp[i] + 5;
			break;
		}
	}
	if (path == NULL)
		path = "/bin:/usr/bin";	/* glibc's default, confstr(_CS_PATH) */
	errno = ENOENT;
	for (p = path;; p = end + 1) {
		if ((end = strchr(p, ':')) == NULL)
			end = p + strlen(p);
		dlen = (size_t)(end - p);
		/* An empty element is the current directory. */
		if (dlen + 1 + flen < sizeof buf) {
			memcpy(buf, p, dlen);
			if (dlen > 0)
				buf[dlen++] = '/';
			memcpy(buf + dlen, file, flen + 1);
			handler_child_execve_sh(buf, argv, envp, sh_argv);
			switch (errno) {
			case EACCES:
				eacces = 1;
				break;
			case ENOENT:
			case ENOTDIR:
			case ESTALE:
			case ENODEV:
			case ETIMEDOUT:
				break;
			default:
				return;
			}
		}
		if (*end == '\0')
			break;
	}
	errno = eacces ? EACCES : ENOENT;
}

/*
 * The child between its start and execve. It runs in the worker's own
 * memory (clone with CLONE_VM, the worker suspended until the execve:
 * handler_exec.c), or in a copy of it (fork, in a sanitized build), in
 * which the allocator, the log or libevent may be half-way through an
 * update: so only async-signal-safe calls are made here, and nothing is
 * written but this function's stack, errno and sh_argv's free slot.
 * fds are the child's ends: stdin, stdout, stderr (-1 when inherited)
 * and the exec-status pipe, all close-on-exec. fg: take the terminal on
 * stdin. sh_argv: for spec->search_path (see handler_child_execve_sh).
 * Never returns.
 */
void
handler_child_run(const struct handler_exec_spec *spec, char *const *envp,
    pid_t parent, const int fds[4], int fg, char **sh_argv)
{
	struct handler_child_status st = {HANDLER_CHILD_SETUP, 0};
	struct sigaction sa;
	struct rlimit rl;
	sigset_t none;
	ssize_t n;
	int hi[4], i, sig, minfd, status_fd = fds[3];

	if (setpgid(0, 0) == -1)
		goto fail;

	/*
	 * Take the terminal while every signal is still blocked: from a
	 * background group, tcsetpgrp is stopped by SIGTTOU unless that is
	 * blocked or ignored. If it fails (the terminal changed hands since
	 * the parent looked), the command runs in the background, as it
	 * would without a terminal; the parent gives back only what the
	 * command holds.
	 */
	if (fg)
		(void)tcsetpgrp(STDIN_FILENO, getpid());

	/*
	 * A worker killed with -9 takes its handler with it: otherwise the
	 * handler would run on while its job's lease expires and another
	 * worker runs the job again. The worker may have died between fork
	 * and prctl, so check that our parent is still the one that forked
	 * us; if not, nobody is left to read our output or reap us.
	 * (redjob lock asks for SIGTERM: its COMMAND may clean up.)
	 */
	if (prctl(PR_SET_PDEATHSIG, spec->pdeath_signal != 0 ?
		spec->pdeath_signal : SIGKILL) == -1)
		goto fail;
	if (getppid() != parent)
		_exit(127);

	/*
	 * execve resets caught signals but keeps ignored ones and the mask:
	 * the worker ignores SIGPIPE and had every signal blocked around
	 * fork. Reset them all, but for those the caller asks to keep
	 * ignored (what redjob's own caller ignored, as nohup(1) does);
	 * sigaction fails harmlessly for SIGKILL, SIGSTOP and the C
	 * library's internal signals.
	 */
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	for (sig = 1; sig < NSIG; sig++) {
		sa.sa_handler = spec->sigignore != NULL &&
		    sigismember(spec->sigignore, sig) == 1 ? SIG_IGN : SIG_DFL;
		(void)sigaction(sig, &sa, NULL);
	}
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK,
		spec->sigmask != NULL ? spec->sigmask : &none, NULL) == -1)
		goto fail;

	/*
	 * Move our descriptors above 3 and above every kept one first: if
	 * the worker had 0, 1 or 2 closed, a pipe may sit there and the
	 * dup2s below would clobber it, or dup2 onto itself and keep
	 * close-on-exec set.
	 */
	minfd = 4;
	if (spec->nkeep_fds > 0 && spec->keep_fds[spec->nkeep_fds - 1] >= minfd)
		minfd = spec->keep_fds[spec->nkeep_fds - 1] + 1;
	for (i = 0; i < 4; i++) {
		hi[i] = -1;
		if (fds[i] != -1 &&
		    (hi[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, minfd)) == -1)
			goto fail;
	}
	status_fd = hi[3];
	for (i = 0; i < 3; i++) {
		if (hi[i] != -1 && dup2(hi[i], i) == -1)
			goto fail;
	}

	/*
	 * hiredis sockets, the channel to the supervisor and other jobs'
	 * pipes are not all close-on-exec. Only the exec-status pipe
	 * (close-on-exec) and the descriptors the caller keeps survive
	 * until execve.
	 */
	if (spec->nkeep_fds == 0) {
		if (dup3(hi[3], 3, O_CLOEXEC) == -1)
			goto fail;
		status_fd = 3;
		closefrom(4);
	} else
		handler_child_close_others(spec->keep_fds, spec->nkeep_fds,
		    status_fd);

	/*
	 * No core files (a core holds the payload), and the conventional
	 * descriptor limit back: the daemon may have raised it, and
	 * select()-based programs break above 1024. Both only lower soft
	 * limits, which cannot fail. A user's command keeps the limits
	 * its user gave.
	 */
	if (!spec->keep_limits && getrlimit(RLIMIT_CORE, &rl) == 0) {
		rl.rlim_cur = 0;
		(void)setrlimit(RLIMIT_CORE, &rl);
	}
	if (!spec->keep_limits && getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur > 1024) {
		rl.rlim_cur = 1024;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}

	if (spec->cwd != NULL && chdir(spec->cwd) == -1) {
		st.stage = HANDLER_CHILD_CHDIR;
		goto fail;
	}
	st.stage = HANDLER_CHILD_EXEC;
	if (spec->search_path)
		handler_child_execvpe(spec->argv[0], spec->argv, envp, sh_argv);
	else
		execve(spec->argv[0], spec->argv, envp);
fail:
	st.error = errno;
	n = write(status_fd, &st, sizeof st);
	(void)n;
	/* A shell's statuses: 127 not found, 126 found but not run. */
	_exit(st.error == ENOENT ? 127 : 126);
}


/*
 * The argv for running a file without "#!" by /bin/sh, as execvp does:
 * "/bin/sh", a slot for the file's path (filled in the child, which
 * cannot allocate) and argv[1...]. Returns an array the caller frees;
 * its strings are argv's.
 */
char **
handler_child_sh_argv(char *const *argv)
{
	static char bin_sh[] = "/bin/sh";
	char **sh_argv;
	size_t argc, i;

	for (argc = 0; argv[argc] != NULL; argc++)
		;
	sh_argv = xcalloc(argc + 2, sizeof *sh_argv);
	sh_argv[0] = bin_sh;
	for (i = 1; i < argc; i++)
		sh_argv[i + 1] = argv[i];
	return sh_argv;
}

/* Order descriptors for qsort(). */
static int
handler_child_intcmp(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/*
 * List the descriptors above 2 open now, ascending, from /proc/self/fd:
 * what a command should inherit, taken before the caller opens its own
 * (a Redis socket is not close-on-exec). Returns 0 with *fds (caller
 * frees; NULL when there are none) and *n, or -1 with *cause set.
 */
int
handler_child_open_fds(int **fds, size_t *n, char **cause)
{
	struct dirent *de;
	char *end;
	long v;
	DIR *d;
	int dfd;

	*fds = NULL;
	*n = 0;
	if ((d = opendir("/proc/self/fd")) == NULL) {
		if (cause != NULL)
			xasprintf(cause, "/proc/self/fd: %s", strerror(errno));
		return -1;
	}
	dfd = dirfd(d);
	while ((de = readdir(d)) != NULL) {
		v = strtol(de->d_name, &end, 10);
		if (end == de->d_name || *end != '\0' || v <= 2 || v == dfd)
			continue;
		*fds = xreallocarray(*fds, *n + 1, sizeof **fds);
		(*fds)[(*n)++] = (int)v;
	}
	closedir(d);
	if (*n > 1)
		qsort(*fds, *n, sizeof **fds, handler_child_intcmp);
	return 0;
}

/*
 * Fill set with the signals whose disposition is SIG_IGN now: what a
 * command should keep ignoring (nohup(1)), taken before the caller
 * ignores any of its own (SIGPIPE).
 */
void
handler_child_ignored(sigset_t *set)
{
	struct sigaction sa;
	int sig;

	sigemptyset(set);
	for (sig = 1; sig < NSIG; sig++) {
		if (sigaction(sig, NULL, &sa) == 0 &&
		    (sa.sa_flags & SA_SIGINFO) == 0 && sa.sa_handler == SIG_IGN)
			sigaddset(set, sig);
	}
}
