/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * guard.h: the calls of the lock and limiter functions (guards.lua) for a
 * job, built once here so the worker and the CLI say the same thing.
 */
#ifndef REDJOB_GUARD_H
#define REDJOB_GUARD_H

#include <stddef.h>
#include <stdint.h>

struct limiter_conf;
struct lock_conf;
struct redisReply;
struct template_vars;

/* One FCALL: the function, its one key and its arguments. */
struct guard_call {
	const char	*fn;
	char		*key;		/* allocated; guard_call_clear() */
	const char	*argv[8];
	int		 argc;
	char		 num[6][32];
};

/*
 * How far ahead a reserving limiter (GCRA, funnel) hands out a slot: a
 * job whose slot is further is throttled as by the plain call, and
 * reserves when it comes back. It bounds what reservations never used
 * can take from the limiter (docs/guards.md).
 */
#define GUARD_RESERVE_MAX_MS	(3600 * 1000)

/* A reservation admits its job this long after its slot at least. */
#define GUARD_RESERVE_VALID_MS	1000

/* A limiter's answer, in the redis-cell shape (ms). */
struct guard_answer {
	int		 limited;	/* 0 allowed, 1 refused, 2 reserved */
	long long	 limit;
	long long	 remaining;
	long long	 retry_after_ms;	/* -1: allowed, or never */
	long long	 reset_after_ms;
};

char	*guard_limit_key(const char *ns, const struct limiter_conf *l,
	    const struct template_vars *v);
char	*guard_lock_key(const char *ns, const struct lock_conf *lk,
	    const struct template_vars *v);
void	 guard_limit_acquire(struct guard_call *c, const char *key,
	    const struct limiter_conf *l, const char *member, int cost);
int	 guard_limit_reserve(struct guard_call *c, const char *key,
	    const struct limiter_conf *l, const char *member, int cost);
uint64_t guard_reserve_valid_ms(const struct limiter_conf *l);
int	 guard_limit_undo(struct guard_call *c, const char *key,
	    const struct limiter_conf *l, const char *member);
void	 guard_limit_wait(struct guard_call *c,
	    const struct limiter_conf *l, const char *waiter,
	    unsigned long long order);
int	 guard_limit_release(struct guard_call *rel, struct guard_call *next,
	    const char *key, const struct limiter_conf *l,
	    const char *member);
int	 guard_limit_renew(struct guard_call *c, const char *key,
	    const struct limiter_conf *l, const char *member);
void	 guard_call_clear(struct guard_call *c);
int	 guard_parse_answer(const struct redisReply *r,
	    struct guard_answer *a);
uint64_t guard_interval_ms(const struct limiter_conf *l);
int	 guard_limiter_fits(const struct limiter_conf *l, char *why,
	    size_t len);

#endif
