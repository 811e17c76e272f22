/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * claim.h: one claim of due jobs from a queue (redjob_claim), turned into
 * jobs for the worker.
 */
#ifndef REDJOB_CLAIM_H
#define REDJOB_CLAIM_H

#include <stddef.h>
#include <stdint.h>

#include "job.h"
#include "rconn.h"
#include "rfunc.h"

/* What a worker asks for. */
struct claim_args {
	size_t		 qi;		/* the queue's index, kept on its jobs */
	const char	*queue;		/* its name, kept on its jobs */
	const char	*base;		/* NS:{QUEUE} */
	unsigned	 count;		/* at most this many jobs */
	uint64_t	 lease_ms;
	unsigned	 max_stalls;
	const char	*worker;	/* the worker's name */
	const char	*owner;		/* its owner id: CLAIM_OWNER_LEN hex */
	const char *const *expire;	/* "expire" TYPE MS, nexpire times:
					   the job types' expiry (expire:) */
	size_t		 nexpire;
	const char *const *guard;	/* "guard" TYPE SPEC, nguard times:
					   the guards the claim takes for
					   the jobs of TYPE (worker.c) */
	size_t		 nguard;
};

/*
 * A worker's owner id: the first half of each of its claim tokens, given
 * by its supervisor, which releases the jobs of a worker that died by it
 * (redjob_release).
 */
#define CLAIM_OWNER_LEN 16

/*
 * The answer. On RFUNC_OK, jobs holds the jobs leased to this claim
 * (their state JOB_QUEUED; a job with `error` set is malformed and must
 * be failed for good), got counts every job the reply listed, and
 * next_ms is how long until the queue may have work again (a due time
 * or a lease end, as a delay from the server's now; -1: none known).
 * malformed counts the jobs the claim took out of due but could not
 * lease (no job hash, no type): Redis put them in dead.
 * Otherwise why says what went wrong and jobs is empty. The jobs are the
 * callee's to keep.
 */
struct claim_result {
	enum rfunc_class	 class;
	const char		*why;
	struct job_list		 jobs;
	unsigned		 got;
	unsigned		 asked;
	long long		 next_ms;
	long long		 now_ms;	/* the server's time, ms */
	unsigned		 malformed;	/* jobs Redis sent to dead */
	const char		*malformed_first; /* "ID REASON" of the first */
	unsigned		 expired;	/* jobs Redis kept as expired */
};

typedef void claim_cb(const struct claim_args *a, struct claim_result *res,
    void *arg);

int	claim_send(struct rconn *rc, uint64_t call_ms,
	    const struct claim_args *a, claim_cb *cb, void *arg);

#endif
