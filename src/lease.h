/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * lease.h: renewing the leases of the jobs a worker holds, one call per
 * queue and batch, and saying which leases were lost.
 */
#ifndef REDJOB_LEASE_H
#define REDJOB_LEASE_H

#include <stddef.h>
#include <stdint.h>

struct job_list;
struct lease;
struct rconn;

/*
 * A lease is no longer ours: the job of this id and claim token;
 * cancelled is 1 when the job was cancelled (redjob_cancel), 0 when it
 * was reclaimed or removed.
 */
typedef void lease_lost_cb(const char *id, const char *token, int cancelled,
    void *arg);

struct lease	*lease_create(struct rconn *rc, uint64_t lease_ms,
		    uint64_t call_ms, lease_lost_cb *cb, void *arg);
void		 lease_free(struct lease *ls);
void		 lease_renew(struct lease *ls, const struct job_list *jobs,
		    const char *const *bases, size_t nqueues);

#endif
