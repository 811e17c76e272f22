/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * handler_child.h: the child of handler_exec between fork and execve, and
 * what a command inherits through it.
 */
#ifndef REDJOB_HANDLER_CHILD_H
#define REDJOB_HANDLER_CHILD_H

#include <sys/types.h>

#include <signal.h>
#include <stddef.h>

#include "compat.h"

struct handler_exec_spec;

/* Where the child was when it gave up before running the handler. */
enum handler_child_stage {
	HANDLER_CHILD_SETUP,
	HANDLER_CHILD_CHDIR,
	HANDLER_CHILD_EXEC,
};

/* What the child writes on the exec-status pipe when it cannot exec. */
struct handler_child_status {
	int stage; /* enum handler_child_stage */
	int error; /* errno */
};

/*
 * In the child: set it up as spec says and exec; on failure, write a
 * struct handler_child_status on fds[3] and exit 127 or 126.
 */
__dead void	 handler_child_run(const struct handler_exec_spec *spec,
		    char *const *envp, pid_t parent, const int fds[4], int fg,
		    char **sh_argv);
/* In the parent, before fork: the argv for a script without "#!". */
char		**handler_child_sh_argv(char *const *argv);

/*
 * For spec.keep_fds: the descriptors above 2 open now, ascending, in
 * *fds (caller frees; NULL if none). Returns 0, or -1 with *cause set.
 */
int		 handler_child_open_fds(int **fds, size_t *n, char **cause);
/* For spec.sigignore: the signals whose disposition is SIG_IGN now. */
void		 handler_child_ignored(sigset_t *set);

#endif
