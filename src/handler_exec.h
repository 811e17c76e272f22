/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * handler_exec.h: run one exec handler for one job in the worker's event
 * loop: fork/exec without a shell in its own process group, the payload on
 * stdin, stdout and stderr logged line by line with the job id, the tail
 * of stderr kept, the timeout enforced with TERM then KILL to the group.
 */
#ifndef REDJOB_HANDLER_EXEC_H
#define REDJOB_HANDLER_EXEC_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct handler_exec;

#define HANDLER_EXEC_TAIL 4096		/* bytes of stderr kept */
#define HANDLER_EXEC_LINE_MAX 1024	/* longest output line logged */
#define HANDLER_EXEC_DRAIN_MS 1000	/* output kept open after the exit */
#define HANDLER_EXEC_GRACE_MS 5000	/* default TERM to KILL */

struct handler_exec_spec {
	char *const	*argv;		/* argv[0]: the program, no shell */
	char *const	*envp;		/* the whole environment */
	const char	*cwd;		/* NULL: inherit */
	const void	*stdin_data;	/* the payload; may hold NUL bytes */
	size_t		 stdin_len;
	uint64_t	 timeout_ms;	/* 0: none */
	uint64_t	 kill_grace_ms;	/* TERM to KILL; 0: 5 s */
	const char	*log_id;	/* the job id, for log lines */
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
pid_t		 handler_exec_pid(const struct handler_exec *h);
/* Handlers started whose callback has not run yet. */
size_t		 handler_exec_running(void);

#endif
