/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * lock.h: one distributed lock held while work runs under it, for a
 * job's lock in the worker and for `redjob lock`: acquire, renew every
 * third of the TTL, count its validity on our own clock, release, and
 * say when it is lost (docs/guards.md gives the contract).
 */
#ifndef REDJOB_LOCK_H
#define REDJOB_LOCK_H

#include <stdint.h>

#include "rconn.h"
#include "rfunc.h"

struct event_base;
struct lock;

/* A lock token's longest: 32 hex digits, a space, a job id. */
#define LOCK_TOKEN_MAX 256

enum lock_event {
	LOCK_TAKEN,		/* acquire: ours, lock_fence() is set */
	LOCK_BUSY,		/* acquire: another holds it, see lock_pttl() */
	LOCK_ERROR,		/* acquire: no answer or an error; why says */
	LOCK_RENEW_FAILED,	/* no answer about the lock: may still be ours */
	LOCK_RENEWED,		/* renewed again after LOCK_RENEW_FAILED */
	LOCK_LOST,		/* not ours, or not provably ours any more */
};

/*
 * Called from the event loop. For LOCK_ERROR, class says whether Redis
 * did not answer, refused for now (busy) or for good (other).
 */
typedef void lock_cb(struct lock *l, enum lock_event ev, const char *why,
    enum rfunc_class class, void *arg);

struct lock	*lock_create(struct event_base *base, struct rconn *rc,
		    const char *key, uint64_t ttl_ms, uint64_t call_ms,
		    lock_cb *cb, void *arg);
void		 lock_free(struct lock *l);
int		 lock_acquire(struct lock *l);
void		 lock_hold(struct lock *l, const char *token,
		    const char *fence, uint64_t sent);
void		 lock_release(struct lock *l);
int		 lock_hand_off(struct lock *l);
void		 lock_set_waiter(struct lock *l, const char *ns,
		    const char *waiter, unsigned long long order);
int		 lock_held(const struct lock *l);
int		 lock_busy(const struct lock *l);
const char	*lock_key(const struct lock *l);
const char	*lock_token(const struct lock *l);
const char	*lock_fence(const struct lock *l);
long long	 lock_pttl(const struct lock *l);
uint64_t	 lock_valid_until(const struct lock *l);
uint64_t	 lock_expires_at(const struct lock *l);
const char	*lock_last_error(const struct lock *l);
uint64_t	 lock_validity_ms(uint64_t ttl_ms);

#endif
