/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * worker.h: one worker process; claims due jobs and runs their handlers.
 */
#ifndef REDJOB_WORKER_H
#define REDJOB_WORKER_H

struct config;
struct worker;

struct worker	*worker_create(const struct config *cfg, int index,
		    int chan_fd);
int		 worker_run(struct worker *w);
void		 worker_free(struct worker *w);
int		 worker_main(const struct config *cfg, int index, int chan_fd);

#endif
