/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * worker.h: one worker process; claims due jobs and runs their handlers.
 */
#ifndef REDJOB_WORKER_H
#define REDJOB_WORKER_H

struct config;

/*
 * Run a worker until it is drained or told to stop. chan_fd is the
 * SOCK_SEQPACKET channel to the supervisor (-1: none). Returns the process
 * exit status (0, or a sysexits code).
 */
int	worker_main(const struct config *cfg, int index, unsigned generation,
	    int chan_fd);

#endif
