/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * proc.h: the one way the tests and the benchmark run another process: a
 * built binary, any command, or a function of the caller in a forked
 * child. Stdin data, stdout and stderr captured or sent to a file, extra
 * environment, a process group of its own; waits poll with a deadline and
 * never sleep; proc_free() kills and reaps what is still running. It does
 * not use Check, because the benchmark links it too; the tests' must_
 * wrappers are in testlib.h.
 */
#ifndef REDJOB_PROC_H
#define REDJOB_PROC_H

#include <sys/types.h>

#include <stddef.h>

/* Where a child's stdout or stderr goes. */
enum proc_io {
	PROC_IO_INHERIT,	/* the caller's own descriptor */
	PROC_IO_CAPTURE,	/* a pipe, collected into out or err */
	PROC_IO_NULL,		/* /dev/null */
	PROC_IO_FILE,		/* appended to out_path or err_path */
	PROC_IO_STDOUT		/* stderr only: where stdout goes (2>&1) */
};

/*
 * What to run and how. Zero is the default of every field: stdin an empty
 * pipe, stdout and stderr inherited, the caller's environment, the
 * caller's process group, no descriptor but 0-2 passed on, SIGKILL when
 * the caller dies.
 */
struct proc_spec {
	/* argv[0] is run: a path, or a name looked up in PATH. */
	char *const	*argv;
	/* Or, with argv NULL: fn(arg) in a forked child, its return the
	 * exit status. The child shares the caller's descriptors and must
	 * not use Check; it ends with _exit(). */
	int		(*fn)(void *);
	void		*arg;
	const char	*name;		/* for messages; default argv[0] */

	/* Written to stdin (copied at the start), then stdin is closed. A
	 * caller that gives data ignores SIGPIPE: the program may stop
	 * reading. */
	const void	*in;
	size_t		 inlen;
	int		 in_keep;	/* stdin stays open: proc_close_stdin */

	enum proc_io	 out;
	enum proc_io	 err;
	const char	*out_path;	/* PROC_IO_FILE */
	const char	*err_path;

	/* "NAME=VALUE" sets, "NAME" unsets; on top of the caller's. */
	char *const	*env;
	int		 pgroup;	/* its own process group */
	int		 keep_fd;	/* one more to pass on (> 2) */
	int		 deathsig;	/* on the caller's death; 0 SIGKILL,
					   -1 none */
};

/*
 * A started process. The fields above the line are for the caller to
 * read; the module updates them whenever it waits or pumps.
 */
struct proc {
	pid_t		 pid;
	char		*name;
	int		 status;	/* exit status, or 128 + signal;
					   -1 while it runs */
	int		 signaled;	/* it ended by a signal */
	char		*out;		/* captured stdout, NUL-terminated */
	size_t		 outlen;
	char		*err;		/* captured stderr, NUL-terminated */
	size_t		 errlen;
	int		 out_open;	/* captured stdout not at EOF yet */
	int		 err_open;
	int		 in_lost;	/* stdin data it never took (it
					   closed stdin, or ended) */
	/* ------------------------------------------------------------ */
	int		 reaped;
	int		 pgroup;
	int		 in_fd;
	int		 out_fd;
	int		 err_fd;
	int		 pid_fd;	/* readable when it ends; -1: none */
	char		*in;
	size_t		 inlen;
	size_t		 inoff;
	int		 in_keep;
};

/* Start a process. Returns it (proc_free() frees), or NULL with *cause
 * set (the caller frees). A program that cannot be executed still starts:
 * it says why on its stderr and exits 127. */
struct proc	*proc_spawn(const struct proc_spec *spec, char **cause);

/* Wait until p has ended and its captured output is at EOF, moving its
 * stdin and output meanwhile. 0, or -1 at the deadline. */
int		 proc_wait(struct proc *p, unsigned timeout_ms);
/* The same for n processes at once. */
int		 proc_wait_all(struct proc **ps, size_t n, unsigned timeout_ms);
/* Wait until p's stdout contains needle: 0, or -1 at the deadline or
 * when stdout ended without it. */
int		 proc_wait_output(struct proc *p, const char *needle,
		    unsigned timeout_ms);
/* Wait until fd is readable (1), p has ended with fd still empty (0),
 * or the deadline (-1). */
int		 proc_wait_fd(struct proc *p, int fd, unsigned timeout_ms);
/* Move stdin and output of n processes for ms, whatever they do. */
void		 proc_pump(struct proc **ps, size_t n, unsigned ms);

/* Signal p, or its process group (spec.pgroup). 0, or -1 with errno
 * (ESRCH once it has been reaped). */
int		 proc_signal(struct proc *p, int sig);
int		 proc_signal_group(struct proc *p, int sig);
/* Stop p: sig to it (to its group with spec.pgroup), up to timeout_ms to
 * end, then proc_free(). Its status, or -1 if it had to be killed. */
int		 proc_stop(struct proc *p, int sig, unsigned timeout_ms);
/* Queue more data for p's stdin (spec.in_keep); it is written while p
 * is waited for or pumped. 0, or -1 once stdin is closed. */
int		 proc_feed(struct proc *p, const void *data, size_t len);
/* Close p's stdin once what is queued for it is written: a reader of it
 * then sees EOF. */
void		 proc_close_stdin(struct proc *p);
/* Kill p (and its group) with SIGKILL unless it has ended, reap it and
 * free everything. NULL is a no-op. */
void		 proc_free(struct proc *p);

/*
 * Wait until a process that may not be ours (a grandchild, an orphan
 * handed to us as a subreaper), or with -pgid every process of a group,
 * no longer exists, reaping what is ours. *wstatus is the wait status of
 * pid if we reaped it, else -1. 0, or -1 at the deadline.
 */
int		 proc_wait_gone(pid_t pid, int *wstatus, unsigned timeout_ms);
/* The pids of parent's children called name (/proc/PID/comm), at most
 * max of them. Returns how many. */
int		 proc_children(pid_t parent, const char *name, pid_t *pids,
		    int max);

#endif
