/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * embedded.h: the optional private redis-server child of the supervisor:
 * a unix socket, no TCP port, the append-only file on.
 */
#ifndef REDJOB_EMBEDDED_H
#define REDJOB_EMBEDDED_H

#include <sys/types.h>

struct config;

pid_t	embedded_start(const struct config *cfg, char **cause);
int	embedded_wait_ready(const struct config *cfg, pid_t pid,
	    unsigned timeout_ms, char **cause);
void	embedded_stop(pid_t pid);

#endif
