/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * job.h: a job a worker has claimed: its fields, decoded from the claim
 * reply with every type checked, its state in the worker, and what its
 * handler is given (the environment of an exec handler, the struct of a
 * plugin).
 *
 * Lifetime rule: a Redis call about a job carries a pointer to its reply
 * callback, so nothing a call points at is freed while the call is out.
 * Finishing calls (ack, fail, requeue, discard) point at the job and are
 * counted in `calls`; guard calls point at the job's hold (hold.c) and
 * make hold_busy() true. job_free() asserts the first and hold_free() the
 * second. A connection that is torn down answers every call still out
 * (with no reply) before it goes, so freeing the connections before the
 * jobs keeps the rule at exit too.
 */
#ifndef REDJOB_JOB_H
#define REDJOB_JOB_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

struct handler_exec;
struct handler_result;
struct handler_plugin_call;
struct hold;
struct job_conf;
struct redisReply;
struct redjob_plugin_job;

enum job_state {
	JOB_QUEUED,		/* claimed ahead, waiting for a slot */
	JOB_GUARDING,		/* taking its limiters and lock */
	JOB_RUNNING,		/* its handler runs */
	JOB_FINISHING,		/* its ack, fail, requeue or discard is due */
};

/* How a finishing job ends in Redis. */
enum job_end {
	JOB_END_ACK,		/* done: it leaves Redis */
	JOB_END_FAIL,		/* an attempt failed: retry or dead */
	JOB_END_REQUEUE,	/* back to the queue, no attempt spent */
	JOB_END_DISCARD,	/* dropped unrun (on_conflict: discard) */
	JOB_END_DONE,		/* done, kept with its result (result:) */
};

/* Why a job goes back to its queue without spending an attempt. */
enum job_requeue {
	JOB_REQUEUE_SHUTDOWN,	/* the worker stops: at once */
	JOB_REQUEUE_THROTTLED,	/* a limiter said when */
	JOB_REQUEUE_CONFLICT,	/* its lock is held by another job */
	JOB_REQUEUE_LOCK_LOST,	/* its lock was lost while it ran */
	JOB_REQUEUE_UNKNOWN_TYPE, /* no such job type here (yet) */
};

/*
 * What a claim answered for a job's guards, when it took them
 * (docs/guards.md, "Guards in the claim"); hold_claimed() applies it.
 */
enum job_guard_res {
	JOB_GUARD_NONE,		/* not taken by the claim */
	JOB_GUARD_GRANTED,	/* text: the lock's fence, or "" */
	JOB_GUARD_THROTTLED,	/* limiter idx refused: back in ms */
	JOB_GUARD_RESERVED,	/* limiter idx reserved a slot in ms */
	JOB_GUARD_NEVER,	/* limiter idx can never admit it */
	JOB_GUARD_CONFLICT,	/* the lock is another's for ms (-1: no TTL) */
	JOB_GUARD_ERROR,	/* limiter idx (0: the lock) failed: text */
};

struct job_guard {
	enum job_guard_res	 res;
	unsigned		 idx;	/* a limiter, from 1; 0: the lock */
	long long		 ms;
	char			*text;
};

struct job {
	TAILQ_ENTRY(job)	 entry;		/* the worker's jobs */
	TAILQ_ENTRY(job)	 fentry;	/* finish's queue, if queued */
	void			*owner;		/* the worker holding it */
	size_t			 qi;		/* index of its queue */
	const char		*queue;		/* its name (the worker's) */
	const char		*base;		/* NS:{QUEUE} (the worker's) */
	char			*id;
	char			*type;
	char			*token;		/* the claim token */
	char			*key;		/* NULL: none */
	char			*payload;
	size_t			 payload_len;
	unsigned		 attempts;	/* failed attempts so far */
	unsigned		 max_attempts;	/* 0: the job type's */
	unsigned		 stalls;	/* holders lost so far */
	const struct job_conf	*jc;		/* NULL until started */
	char			*reserved;	/* the limiter its reservation
						   admits it to, or NULL */
	long long		 reserved_until; /* server ms: valid until */
	long long		 due_ms;	/* server ms: its due time */
	long long		 claimed_ms;	/* server ms: its claim */
	long long		 created_ms;	/* server ms: its enqueue, or 0 */
	long long		 tick_ms;	/* a schedule's tick (ms), or 0 */
	uint64_t		 claimed_us;	/* mtime_now_us() at the claim */

	enum job_state		 state;
	unsigned		 calls;		/* Redis calls in flight */
	uint64_t		 end_sent;	/* its finishing call first sent */
	int			 end_resent;	/* sent again after a lost reply */
	int			 slot;		/* holds one of the slots */
	int			 lease_lost;	/* no longer ours */
	int			 cancelled;	/* ...because redjob_cancel took it */
	unsigned		 errors;	/* refusals in a row */

	struct handler_exec	*h;		/* exec handler running */
	struct handler_plugin_call *pc;		/* plugin call running */
	int			 plugin;	/* ran as a plugin */

	struct hold		*hold;		/* its guards, or NULL */
	struct job_guard	 guard;		/* as the claim took them */
	uint64_t		 claim_sent;	/* mtime_now() its claim was sent */

	/* What finish sends once the job is JOB_FINISHING. */
	enum job_end		 end;
	int			 dead;		/* fail: straight to dead */
	int			 quiet_dead;	/* ...and reported, rate-limited,
						   by the worker: no line here */
	char			*error;		/* fail: the last error */
	uint64_t		 retry_ms;	/* fail: the backoff */
	enum job_requeue	 requeue;
	uint64_t		 requeue_ms;
	const char		*reserve;	/* requeue: the limiter that
						   reserved its slot, or NULL */
	uint64_t		 reserve_valid_ms;
	const char		*held_by;	/* requeue: the limiter's name or
						   the lock's key that held it
						   back (its hold's), or NULL */
	char			*result;	/* done: its result, or NULL */
	size_t			 result_len;
	uint64_t		 result_size;	/* all the handler gave */
	int			 ran;		/* its handler was started */
	uint64_t		 ran_ms;	/* its handler's run time */
};

TAILQ_HEAD(job_list, job);

/* What a handler's outcome means for its job. */
enum job_verdict {
	JOB_VERDICT_DONE,	/* ack it */
	JOB_VERDICT_RETRY,	/* a failed attempt: retry with backoff */
	JOB_VERDICT_DEAD,	/* a permanent failure */
	JOB_VERDICT_CONFIG,	/* the configuration is at fault: dead */
	JOB_VERDICT_REQUEUE,	/* stopped by a shutdown: back at once */
	JOB_VERDICT_LOCK_LOST,	/* its lock was lost: back, as a stall */
};

/* ID TOKEN pairs per call about many jobs (ack, extend). */
#define JOB_BATCH_MAX 500

/* The last error a job keeps (MAX_ERROR in src/lua/redjob.lua). */
#define JOB_ERROR_MAX 4096

/* Refusals in a row after which a worker lets go of a job. */
#define JOB_REFUSALS_MAX 10

struct job	*job_decode(struct redisReply *e, const char *token,
		    char **cause);
struct job	*job_decode_brief(struct redisReply *e, const char *q,
		    size_t qlen, const char *token, char **cause);
void		 job_free(struct job *j);
unsigned	 job_max_attempts(const struct job *j);
int		 job_refused(struct job *j, const char *what, const char *why,
		    int transient);
void		 job_accepted(struct job *j);
const char	*job_requeue_reason(enum job_requeue why);
uint64_t	 job_wait_us(const struct job *j);
enum job_verdict job_judge(const struct job *j,
		    const struct handler_result *res, int lock_lost,
		    const char *lock_key, char **msg);
char	       **job_env(const struct job *j, const char *fence,
		    const char *path);
void		 job_env_free(char **env);
void		 job_plugin(const struct job *j, const char *fence,
		    struct redjob_plugin_job *pj);

#endif
