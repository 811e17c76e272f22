/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * handler_exec.h: run one exec handler for one job in the worker's event
 * loop: fork/exec without a shell in its own process group, the payload on
 * stdin, stdout and stderr logged line by line with the job id, the tail
 * of stderr kept, the timeout enforced with TERM then KILL to the group.
 * The same launcher runs the COMMAND of redjob lock, with the options of
 * a command started from a shell (inherited stdio and descriptors, PATH
 * search, the terminal's foreground group).
 */
#ifndef REDJOB_HANDLER_EXEC_H
#define REDJOB_HANDLER_EXEC_H

#include <sys/types.h>

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct handler_exec;

#define HANDLER_EXEC_TAIL 4096		/* bytes of stderr kept */
#define HANDLER_EXEC_LINE_MAX 1024	/* longest output line logged */
#define HANDLER_EXEC_LINES_PER_S 100	/* output lines logged a second */
#define HANDLER_EXEC_DRAIN_MS 1000	/* output kept open after the exit */
#define HANDLER_EXEC_GRACE_MS 5000	/* default TERM to KILL */

struct handler_exec_spec {
	char *const	*argv;		/* argv[0]: the program, no shell */
	char *const	*envp;		/* the whole environment */
	const char	*cwd;		/* NULL: inherit */
	/* The payload, which may hold NUL bytes. It is written to the
	 * handler from this buffer, not copied: it must stay valid until
	 * the done callback has run. */
	const void	*stdin_data;
	size_t		 stdin_len;
	uint64_t	 timeout_ms;	/* 0: none */
	uint64_t	 kill_grace_ms;	/* TERM to KILL; 0: 5 s */
	const char	*log_id;	/* the job id, for log lines */

	/*
	 * For a command run on a user's behalf (redjob lock). Each is off
	 * when zero, and the child is then a daemon's handler as above.
	 */
	int		 inherit_stdio;	/* the caller's 0-2, no pipes: no
					   payload, no output logged */
	const int	*keep_fds;	/* left open (ascending, > 2); every
					   other descriptor is closed; see
					   handler_child_open_fds() */
	size_t		 nkeep_fds;
	int		 search_path;	/* as execvp, with envp's PATH */
	int		 foreground;	/* the terminal's foreground group,
					   if stdin is a terminal and the
					   caller's group holds it; needs
					   inherit_stdio */
	const sigset_t	*sigmask;	/* the child's mask; NULL: empty */
	const sigset_t	*sigignore;	/* left ignored; NULL: none, every
					   disposition is the default; see
					   handler_child_ignored() */
	int		 pdeath_signal;	/* on the caller's death; 0: SIGKILL */
	int		 keep_limits;	/* leave RLIMIT_CORE and _NOFILE */
	int		 quiet;		/* no log line for what cb reports
					   (exec failure, timeout, stop) */
	/*
	 * A job type with result: stdout is kept, up to this many bytes,
	 * as the job's result instead of being logged; 0: stdout is
	 * logged line by line.
	 */
	size_t		 result_max;
};

enum handler_outcome {
	HANDLER_EXITED,		/* status is the exit code (-1: lost) */
	HANDLER_SIGNALED,	/* status is the signal */
	HANDLER_TIMEOUT,	/* killed at the timeout; status the signal
				   that ended it, or the last one sent if
				   it exited by itself after TERM */
	HANDLER_STOPPED,	/* killed by handler_exec_stop(); ditto */
	HANDLER_EXEC_FAILED,	/* status is the errno of execve */
};

struct handler_result {
	enum handler_outcome	 outcome;
	int			 status;
	const char		*stderr_tail;	/* NUL-terminated, valid in cb */
	size_t			 stderr_len;
	uint64_t		 duration_ms;
	int			 wstatus;	/* as from waitpid; -1: lost */
	/*
	 * HANDLER_EXEC_FAILED: the program (or, with exec_chdir, the
	 * directory) that could not be used, a fault of the configuration
	 * rather than of the moment; NULL when a setup step failed.
	 */
	const char		*exec_path;
	int			 exec_chdir;
	/*
	 * With spec.result_max: the first result_max bytes of stdout
	 * (binary, valid in cb; NULL when it wrote nothing), and how many
	 * it wrote in all. A plugin's result buffer comes the same way.
	 */
	const char		*result;
	size_t			 result_len;
	uint64_t		 result_size;
};

typedef void handler_exec_done_cb(const struct handler_result *res,
    void *arg);

/*
 * Once per process, before the first start: installs the SIGCHLD event on
 * base and makes sure SIGPIPE is ignored. Returns 0 or -1 (logged).
 * shutdown kills and reaps what is still running, without callbacks, and
 * frees everything.
 */
int		 handler_exec_init(struct event_base *base);
void		 handler_exec_shutdown(void);

/*
 * Start a handler. Returns NULL with *cause set (caller frees) only when
 * no process could be started (pipes, fork). A failed execve is reported
 * through cb with HANDLER_EXEC_FAILED. cb runs exactly once, always from
 * the event loop (never from inside start or stop); the handler is freed
 * when cb returns.
 */
struct handler_exec *handler_exec_start(struct event_base *base,
		    const struct handler_exec_spec *spec,
		    handler_exec_done_cb *cb, void *arg, char **cause);
/* TERM, then KILL after the grace, to the group: outcome HANDLER_STOPPED. */
void		 handler_exec_stop(struct handler_exec *h);
void		 handler_exec_stop_within(struct handler_exec *h,
		    uint64_t grace_ms);
/*
 * Send sig to the group (a forwarded signal); the outcome stays what the
 * handler makes of it. Returns 0, or -1 with errno (ESRCH once reaped).
 */
int		 handler_exec_kill(struct handler_exec *h, int sig);
pid_t		 handler_exec_pid(const struct handler_exec *h);
/* Handlers started whose callback has not run yet. */
size_t		 handler_exec_running(void);

#endif
