/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * run.h: running a job's handler, exec or plugin, for a worker: the
 * plugins of the configuration and their thread pool, starting, stopping,
 * and the outcome.
 */
#ifndef REDJOB_RUN_H
#define REDJOB_RUN_H

#include <stddef.h>
#include <stdint.h>

/* A handler asked to stop gets SIGTERM, then SIGKILL this much later. */
#define RUN_KILL_GRACE_MS 5000

struct config;
struct event_base;
struct handler_result;
struct job;
struct run;

/* The handler of j ended (or never started: HANDLER_EXEC_FAILED). */
typedef void run_done_cb(struct job *j, const struct handler_result *res,
    void *arg);

struct run	*run_create(struct event_base *base, const struct config *cfg,
		    int chan_fd, run_done_cb *cb, void *arg);
int		 run_free(struct run *r);
int		 run_start(struct run *r, struct job *j, const char *fence,
		    char **cause);
void		 run_stop(struct job *j);
void		 run_stop_within(struct job *j, uint64_t ms);
void		 run_abandon(struct job *j);

#endif
