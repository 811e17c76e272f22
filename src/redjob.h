/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * redjob.h: enqueue background jobs for redjobd from a C program.
 *
 *	struct redjob_client *c = redjob_connect("unix:///run/redjob/redis.sock",
 *	    NULL);
 *	struct redjob_job job = { .type = "send_email", .payload = "{}",
 *	    .payload_len = 2 };
 *	char id[REDJOB_ID_MAX];
 *
 *	if (redjob_errcode(c) != REDJOB_OK ||
 *	    redjob_enqueue(c, &job, id) != 0)
 *		fprintf(stderr, "%s\n", redjob_errstr(c));
 *	redjob_free(c);
 *
 * The library never prints, never exits and never aborts. A client is not
 * thread-safe; use one per thread. Link with pkg-config --libs redjob.
 */
#ifndef REDJOB_H
#define REDJOB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define REDJOB_VERSION_MAJOR 0
#define REDJOB_VERSION_MINOR 1

/* Longest job id, with its NUL: "QUEUE:N". */
#define REDJOB_ID_MAX 160
/* Default payload limit; see redjob_set_max_payload(). */
#define REDJOB_MAX_PAYLOAD_DEFAULT (512 * 1024)
#define REDJOB_NAMESPACE_DEFAULT "redjob"
#define REDJOB_QUEUE_DEFAULT "default"

enum redjob_err {
	REDJOB_OK = 0,
	REDJOB_ERR_NOMEM,	/* out of memory in this process */
	REDJOB_ERR_URL,		/* the URL cannot be parsed */
	REDJOB_ERR_IO,		/* cannot connect, connection lost, timeout */
	REDJOB_ERR_AUTH,	/* password or ACL refused */
	REDJOB_ERR_INVALID,	/* bad queue name, job type, option */
	REDJOB_ERR_TOOBIG,	/* payload over the limit */
	REDJOB_ERR_OOM,		/* Redis is over maxmemory: nothing written */
	REDJOB_ERR_VERSION,	/* Redis holds a newer library or schema */
	REDJOB_ERR_NOJOB,	/* no such job */
	REDJOB_ERR_STATE,	/* the job is in a state that forbids this */
	REDJOB_ERR_BUSY,	/* LOADING, BUSY, READONLY, MISCONF: try later */
	REDJOB_ERR_REDIS,	/* any other error reply from Redis */
};

struct redjob_client;

/* One job to enqueue. Zero everything you do not set. */
struct redjob_job {
	const char	*queue;		/* NULL: the queue that redjobd's
					   type table (NS:types) gives the
					   type, else "default"; a sharded
					   queue's job goes to one of its
					   shards, by key, unique key or in
					   turn (docs/protocol.md) */
	const char	*type;		/* the job type, 1-128 of [A-Za-z0-9_.:-] */
	const void	*payload;	/* any bytes, NUL included */
	size_t		 payload_len;
	const char	*key;		/* NULL or the {key} of templates */
	int64_t		 delay_ms;	/* run this long from now (server clock) */
	int64_t		 at_ms;		/* > 0: run at this Unix time in ms */
	unsigned	 max_attempts;	/* 0: the job type's configured value */
	const char	*unique;	/* NULL, or a key that makes a second
					   enqueue return the first job's id */
	int64_t		 unique_ttl_ms;	/* > 0: uniqueness window; 0: while
					   the job exists */
};

/*
 * More of a job, for the _ext calls: options added after struct
 * redjob_job was fixed. Set size to sizeof(struct redjob_ext) (or use
 * REDJOB_EXT_INIT): the library reads only the fields that size covers,
 * so a program built against this header keeps working with a later
 * library whose struct has grown.
 */
struct redjob_ext {
	size_t		 size;		/* sizeof(struct redjob_ext) */
	int64_t		 expire_in_ms;	/* > 0: a job not started this long
					   after the enqueue (server clock)
					   is never run, kept as expired */
};
#define REDJOB_EXT_INIT { sizeof(struct redjob_ext), 0 }

/* The outcome of one job of redjob_enqueue_many(). */
struct redjob_result {
	int	 err;			/* enum redjob_err */
	int	 created;		/* 0 when a unique key named an old job */
	char	 id[REDJOB_ID_MAX];	/* when err == REDJOB_OK */
	char	 message[256];		/* when err != REDJOB_OK */
};

/*
 * Connect to url (NULL: $REDJOB_URL, else redis://127.0.0.1:6379/0; also
 * unix:///PATH and redis+sentinel://SENTINEL[,SENTINEL...]/MASTER, see
 * redjob(1)) with
 * the namespace ns (NULL: "redjob"), and load the job library into Redis
 * if it is missing. Returns NULL only when out of memory; otherwise check
 * redjob_errcode(). Free with redjob_free() in every case.
 */
struct redjob_client *redjob_connect(const char *url, const char *ns);
void		 redjob_free(struct redjob_client *c);

/* The last error: a code and a one-line message ("" when none). */
int		 redjob_errcode(const struct redjob_client *c);
const char	*redjob_errstr(const struct redjob_client *c);

/* Change the payload limit (default 512 KiB). Returns 0 or -1. */
int		 redjob_set_max_payload(struct redjob_client *c, size_t bytes);

/*
 * Enqueue one job and copy its id into id. Returns 0, or -1 with the
 * error in redjob_errcode()/redjob_errstr(). *created (if not NULL) is 0
 * when a unique key named an existing job, whose id is returned.
 */
int		 redjob_enqueue(struct redjob_client *c,
		    const struct redjob_job *job, char id[REDJOB_ID_MAX]);
int		 redjob_enqueue_ex(struct redjob_client *c,
		    const struct redjob_job *job, char id[REDJOB_ID_MAX],
		    int *created);

/*
 * Enqueue n jobs in one pipelined round trip. Each job's outcome goes in
 * results[i]. Returns the number of jobs enqueued, or -1 if the connection
 * failed, in which case results say which jobs are known to be in Redis
 * (err == REDJOB_OK) and which are not known (err == REDJOB_ERR_IO).
 */
long		 redjob_enqueue_many(struct redjob_client *c,
		    const struct redjob_job *jobs, size_t n,
		    struct redjob_result *results);

/*
 * As redjob_enqueue_ex() and redjob_enqueue_many(), with more of each job
 * in ext (NULL: none), exts[i] for jobs[i] (exts NULL, or exts[i] NULL:
 * none).
 */
int		 redjob_enqueue_ext(struct redjob_client *c,
		    const struct redjob_job *job, const struct redjob_ext *ext,
		    char id[REDJOB_ID_MAX], int *created);
long		 redjob_enqueue_many_ext(struct redjob_client *c,
		    const struct redjob_job *jobs,
		    const struct redjob_ext *const *exts, size_t n,
		    struct redjob_result *results);

/* How a job that redjob_wait() waited for ended. */
enum redjob_outcome {
	REDJOB_OUTCOME_DONE,		/* done: its result is in result */
	REDJOB_OUTCOME_DEAD,		/* failed for good: error says why */
	REDJOB_OUTCOME_CANCELLED,	/* cancelled: error says why */
	REDJOB_OUTCOME_EXPIRED,		/* not started in time: error */
	REDJOB_OUTCOME_TIMEOUT,		/* not finished within the timeout */
};

/* What redjob_wait() learnt. Free with redjob_wait_result_free(). */
struct redjob_wait_result {
	int		 outcome;	/* enum redjob_outcome */
	char		*result;	/* DONE: the result, any bytes, with a
					   NUL after the last; else NULL */
	size_t		 result_len;
	uint64_t	 result_size;	/* DONE: all the handler gave */
	int		 truncated;	/* DONE: result_size > result_len (the
					   type's result.max cut it) */
	char		*error;		/* DEAD, CANCELLED, EXPIRED: the last
					   error ("" if none); else NULL */
};

/*
 * Wait until the job id ("QUEUE:N") has finished, at most timeout_ms
 * (< 0: no limit; 0: look once), without polling: it subscribes to the
 * job's channel on a second connection of its own (docs/protocol.md,
 * "Waiting for a job"), then reads the job once, and again when told.
 * A lost connection is made again and the job read again (a few times,
 * then REDJOB_ERR_IO). Returns 0 with *out filled (outcome TIMEOUT too),
 * or -1 with the error in redjob_errcode()/redjob_errstr():
 * REDJOB_ERR_NOJOB for a job that never was, or that has left Redis (its
 * result expired, or its type keeps none), REDJOB_ERR_STATE for a job
 * whose type keeps no result (result: in redjob.yml). The job's type
 * needs result: for its end to be announced: redjob_wait() says so at
 * once when the type table of redjobd says the type has none.
 */
int		 redjob_wait(struct redjob_client *c, const char *id,
		    long timeout_ms, struct redjob_wait_result *out);
void		 redjob_wait_result_free(struct redjob_wait_result *r);

/*
 * Cancel the job id ("QUEUE:N"): a ready or scheduled job is taken out of
 * its queue, a running one's handler is stopped by its worker at once;
 * either is never run again and is kept as "cancelled" for a day, reason
 * (NULL: "cancelled") as its last error (docs/protocol.md,
 * redjob_cancel). Returns 0, with the state the job was in ("ready",
 * "scheduled" or "running") copied into state when it is not NULL, or -1
 * with the error: REDJOB_ERR_NOJOB when there is no such job (nothing is
 * written), REDJOB_ERR_STATE when it is dead or has already finished.
 * An ACL user needs the admin's rules for it (redjob acl admin).
 */
int		 redjob_cancel(struct redjob_client *c, const char *id,
		    const char *reason, char *state, size_t len);

/* Name of an error code, e.g. "REDJOB_ERR_TOOBIG". */
const char	*redjob_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif
