/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * metrics.h: the counters and histograms of jobs, guards and Redis
 * errors (docs/operations.md, metrics). A worker counts into its own
 * table and sends what changed to the supervisor with its heartbeat
 * ("MC" and "MH" in channel.h); the supervisor adds it to its table,
 * which outlives the workers, and renders that in Prometheus' text
 * format for /metrics (src/http.c).
 */
#ifndef REDJOB_METRICS_H
#define REDJOB_METRICS_H

#include <stdint.h>

struct config;
struct evbuffer;
struct metrics;

enum metrics_family {
	METRICS_PROCESSED,	/* counters: queue, type */
	METRICS_FAILED,
	METRICS_RETRIED,
	METRICS_DEAD,
	METRICS_CANCELLED,
	METRICS_DURATION,	/* histograms: queue, type */
	METRICS_WAIT,
	METRICS_THROTTLED,	/* counter: limiter */
	METRICS_CONFLICTS,	/* counter: job_type */
	METRICS_LOCK_LOST,	/* counters without labels */
	METRICS_REDIS_ERRORS,	/* counter: class */
	METRICS_RESTARTS,
	METRICS_FAMILIES
};

/* The label of the job types the configuration does not name. */
#define METRICS_OTHER "other"

struct metrics	*metrics_create(const struct config *cfg);
void		 metrics_free(struct metrics *m);
void		 metrics_count(struct metrics *m, enum metrics_family f,
		    const char *l1, const char *l2);
void		 metrics_observe(struct metrics *m, enum metrics_family f,
		    const char *queue, const char *type, uint64_t us);
unsigned long long *metrics_redis_errors(struct metrics *m);
void		 metrics_send(struct metrics *m, int fd);
int		 metrics_recv(struct metrics *m, const char *msg);
void		 metrics_render(struct metrics *m, struct evbuffer *out);

#endif
