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
	HANDLER_EXITED,		/* status is the exit code */
	HANDLER_SIGNALED,	/* status is the signal */
	HANDLER_TIMEOUT,	/* killed at the timeout; status the signal */
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

/* Once per event base, before the first start: installs SIGCHLD. */
int		 handler_exec_init(struct event_base *base);
void		 handler_exec_shutdown(void);

struct handler_exec *handler_exec_start(struct event_base *base,
		    const struct handler_exec_spec *spec,
		    handler_exec_done_cb *cb, void *arg, char **cause);
void		 handler_exec_stop(struct handler_exec *h);
pid_t		 handler_exec_pid(const struct handler_exec *h);
size_t		 handler_exec_running(void);

#endif
