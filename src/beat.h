/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * beat.h: a worker's entry in the worker registry, kept fresh while it
 * lives (docs/protocol.md, "the worker registry").
 */
#ifndef REDJOB_BEAT_H
#define REDJOB_BEAT_H

struct config;
struct event_base;
struct rconn;
struct beat;

#define BEAT_PERIOD_MS	2000		/* between refreshes */
#define BEAT_TTL_ARG	"60000"		/* an entry lives this long, ms */

/* What the worker reports at each beat; jobs is allocated, or NULL. */
struct beat_report {
	unsigned	 busy;		/* slots running a handler */
	int		 consuming;	/* idle on live connections, or
					   claiming with success */
	const char	*cond;		/* what stops it consuming, or NULL */
	char		*jobs;		/* "ID TAB TYPE TAB STARTED_MS\n"... */
};
typedef void beat_report_cb(struct beat_report *rep, void *arg);

/* At most this many running jobs are listed in an entry. */
#define BEAT_JOBS_MAX 100

struct beat	*beat_create(struct event_base *base, struct rconn *rc,
		    const struct config *cfg, int index, const char *owner,
		    char *const *bases, size_t nbases, beat_report_cb *cb,
		    void *arg);
void		 beat_now(struct beat *b);
void		 beat_consumed(struct beat *b, long long server_ms);
void		 beat_leave(struct beat *b);
const char	*beat_queues(const struct beat *b);
void		 beat_free(struct beat *b);

#endif
