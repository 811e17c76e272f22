/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * scheduler.h: the scheduler of a worker, which enqueues the jobs of the
 * types with schedule: at their ticks (redjob.yml(5), docs/protocol.md
 * "periodic jobs").
 */
#ifndef REDJOB_SCHEDULER_H
#define REDJOB_SCHEDULER_H

struct config;
struct event_base;
struct rconn;
struct sched;

int		 sched_wanted(const struct config *cfg);
struct sched	*sched_create(struct event_base *base, struct rconn *rc,
		    const struct config *cfg);
void		 sched_ready(struct sched *s);
void		 sched_stop(struct sched *s);
void		 sched_free(struct sched *s);

#endif
