/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * worker.h: one worker process; claims due jobs and runs their handlers.
 */
#ifndef REDJOB_WORKER_H
#define REDJOB_WORKER_H

struct config;
struct worker;

/*
 * owner: the first CLAIM_OWNER_LEN hex digits of every claim token of the
 * worker, by which its supervisor releases its jobs if it dies; NULL for
 * a fresh random one.
 */
struct worker	*worker_create(const struct config *cfg, int index,
		    int chan_fd, const char *owner);
int		 worker_run(struct worker *w);
void		 worker_free(struct worker *w);
int		 worker_main(const struct config *cfg, int index, int chan_fd,
		    const char *owner);

#endif
