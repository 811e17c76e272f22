/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Lease renewal (redjob_extend, docs/protocol.md): every job a worker
 * holds, claimed ahead, guarded, running or finishing, keeps its lease
 * until Redis has recorded its end. A renewal refused for a job means
 * another worker may hold it now; the owner is told by id and token and
 * decides. The calls carry copies of ids and tokens, never job pointers,
 * so a job may be freed while a renewal is out.
 */
#include "autoconf.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>

#include <hiredis/hiredis.h>

#include "lease.h"
#include "job.h"
#include "log.h"
#include "rconn.h"
#include "xmalloc.h"


struct lease {
	struct rconn		*rc;
	uint64_t		 lease_ms;
	uint64_t		 call_ms;
	lease_lost_cb		*cb;
	void			*arg;
	struct log_ratelimit	 errors;
	/* Calls out; they outlive the struct only if the loop does. */
	unsigned		 out;
};

struct lease_call {
	struct lease	*ls;
	char	       **ids;
	char	       **tokens;
	size_t		 n;
};

struct lease *
lease_create(struct rconn *rc, uint64_t lease_ms, uint64_t call_ms,
    lease_lost_cb *cb, void *arg)
{
	struct lease *ls;

	ls = xcalloc(1, sizeof *ls);
	ls->rc = rc;
	ls->lease_ms = lease_ms;
	ls->call_ms = call_ms;
	ls->cb = cb;
	ls->arg = arg;
	return ls;
}

/*
 * Free; the connection must be freed first, so that no renewal is out
 * (its callback would come back here).
 */
void
lease_free(struct lease *ls)
{
	if (ls == NULL)
		return;
	if (ls->out != 0)
		fatalx("lease_free with %u renewal%s out", ls->out,
		    ls->out == 1 ? "" : "s");
	free(ls);
}

static void
lease_call_free(struct lease_call *c)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		free(c->ids[i]);
		free(c->tokens[i]);
	}
	free(c->ids);
	free(c->tokens);
	free(c);
}

static void
lease_renewed_cb(struct rconn *rc, redisReply *r, void *arg)
{
	struct lease_call *c = arg;
	struct lease *ls = c->ls;
	size_t i;
	unsigned n;

	(void)rc;
	assert(ls->out > 0);
	ls->out--;
	if (r != NULL && r->type == REDIS_REPLY_ARRAY) {
		if ((n = log_ratelimit_end(&ls->errors)) > 0)
			log_info("leases renewed again after %u failure%s", n,
			    n == 1 ? "" : "s");
		for (i = 0; i < c->n && i < r->elements; i++) {
			if (r->element[i]->type == REDIS_REPLY_INTEGER &&
			    r->element[i]->integer != 1)
				ls->cb(c->ids[i], c->tokens[i],
				    r->element[i]->integer == 2, ls->arg);
		}
	} else if (r != NULL && r->type == REDIS_REPLY_ERROR)
		log_ratelimit(&ls->errors, LOG_LEVEL_WARNING,
		    "renewing leases: %s", r->str);
	lease_call_free(c);
}

/* Send one renewal of the n jobs in c for the queue at base. */
static void
lease_send(struct lease *ls, struct lease_call *c, const char *base)
{
	const char **argv;
	char lease[24];
	size_t i;

	snprintf(lease, sizeof lease, "%llu",
	    (unsigned long long)ls->lease_ms);
	argv = xcalloc(1 + 2 * c->n, sizeof *argv);
	argv[0] = lease;
	for (i = 0; i < c->n; i++) {
		argv[1 + 2 * i] = c->ids[i];
		argv[2 + 2 * i] = c->tokens[i];
	}
	if (rconn_fcall(ls->rc, ls->call_ms, lease_renewed_cb, c,
	    "redjob_extend", base, (int)(1 + 2 * c->n), argv, NULL) == 0)
		ls->out++;
	else
		lease_call_free(c);
	free(argv);
}

/*
 * Renew the lease of every job of jobs whose lease is not known lost,
 * one call per queue (bases[qi] is the key of queue qi) and per 500 jobs.
 */
void
lease_renew(struct lease *ls, const struct job_list *jobs,
    const char *const *bases, size_t nqueues)
{
	struct lease_call *c;
	const struct job *j;
	size_t qi;

	if (!rconn_ready(ls->rc))
		return;
	for (qi = 0; qi < nqueues; qi++) {
		c = NULL;
		TAILQ_FOREACH(j, jobs, entry) {
			if (j->qi != qi || j->lease_lost)
				continue;
			if (c == NULL) {
				c = xcalloc(1, sizeof *c);
				c->ls = ls;
				c->ids = xcalloc(JOB_BATCH_MAX,
				    sizeof *c->ids);
				c->tokens = xcalloc(JOB_BATCH_MAX,
				    sizeof *c->tokens);
			}
			c->ids[c->n] = xstrdup(j->id);
			c->tokens[c->n] = xstrdup(j->token);
			if (++c->n == JOB_BATCH_MAX) {
				lease_send(ls, c, bases[qi]);
				c = NULL;
			}
		}
		if (c != NULL)
			lease_send(ls, c, bases[qi]);
	}
}
