/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rconn.h: one asynchronous Redis connection of a worker, with what
 * hiredis 0.14 lacks: reconnection with capped, jittered backoff, a
 * deadline on every command, the handshake (AUTH, SELECT, CLIENT SETNAME)
 * and the function library loaded on every connect and again whenever
 * Redis says it is missing. It logs nothing: what happens to the
 * connection goes to the owner's on_event callback.
 */
#ifndef REDJOB_RCONN_H
#define REDJOB_RCONN_H

#include <stddef.h>
#include <stdint.h>

/*
 * The deadline a daemon gives a call whose reply it waits for, and the
 * pause before it sends again after a refusal (BUSY, LOADING, OOM...),
 * doubling with each refusal in a row up to a maximum (rconn_retry_ms).
 */
#define RCONN_CALL_MS 10000
#define RCONN_RETRY_MS 500
#define RCONN_RETRY_MAX_MS 4000

/* The longest description of a condition (rconn_condition). */
#define RCONN_CONDITION_MAX 160

struct event_base;
struct redisReply;
struct rconn;

/*
 * A reply, or NULL when the connection was lost or the deadline passed
 * before one came: then the command may or may not have run.
 */
typedef void rconn_reply_cb(struct rconn *rc, struct redisReply *reply,
    void *arg);
typedef void rconn_state_cb(struct rconn *rc, void *arg);

/* What happened to a connection, for its owner to log or show. */
enum rconn_event {
	RCONN_EVENT_FAILED,	/* a connect or the connection failed */
	RCONN_EVENT_CONNECTED,	/* connected, handshake done */
	RCONN_EVENT_FATAL,	/* refused for good; no more attempts */
	RCONN_EVENT_RELOAD,	/* the library was missing: loading it */
	RCONN_EVENT_NOPERM,	/* the ACL refused a command (cause: it) */
	RCONN_EVENT_NOPERM_END,	/* that command was allowed again */
};

/*
 * An event and its cause, a sentence for people ("connection lost: closed
 * by the server"). FAILED comes once per failed attempt: the owner
 * rate-limits what it shows. Runs from the event loop, sometimes inside
 * a hiredis callback: it must not free or drop the connection.
 */
typedef void rconn_event_cb(struct rconn *rc, enum rconn_event ev,
    const char *cause, void *arg);

struct rconn_opts {
	const char	*url;
	const char	*password;	/* overrides the URL's; may be NULL */
	const char	*name;		/* for logs and CLIENT SETNAME */
	int		 load_library;	/* check and load redjob.lua */
	rconn_state_cb	*on_ready;	/* connected, handshake done */
	rconn_state_cb	*on_down;	/* connection lost */
	rconn_state_cb	*on_fatal;	/* auth refused, newer library */
	void		*arg;		/* for the three above */
	rconn_event_cb	*on_event;	/* what to tell people, or NULL */
	void		*event_arg;	/* for on_event */
	/*
	 * Or NULL: RFUNC_CLASSES counters (enum rfunc_class) of the error
	 * replies, and of the failed connects and lost connections
	 * (RFUNC_CONN), for the metrics (src/metrics.c).
	 */
	unsigned long long *errors;
	/*
	 * On a cluster (redis+cluster://), or NULL: connect only to the
	 * master of this key's slot (a connection that blocks on that key),
	 * not to every master.
	 */
	const char	*key;
	/*
	 * On a cluster: ready while the slot map is whole and one master
	 * is reachable, not only while every master is. A call for a
	 * master that is down fails at once (-1), and on_ready comes again
	 * as each master comes back, so that what waited is sent.
	 */
	int		 partial;
};


struct rconn	*rconn_create(struct event_base *base,
		    const struct rconn_opts *opts, char **cause);
void		 rconn_free(struct rconn *rc);
int		 rconn_ready(const struct rconn *rc);
int		 rconn_is_cluster(const struct rconn *rc);
int		 rconn_fd(const struct rconn *rc);
void		 rconn_close_fds(const struct rconn *rc);
const char	*rconn_name(const struct rconn *rc);
const char	*rconn_last_error(const struct rconn *rc);
void		 rconn_drop(struct rconn *rc, const char *why);
const char	*rconn_condition(const struct rconn *rc, uint64_t *since);
uint64_t	 rconn_retry_ms(const struct rconn *rc);

int		 rconn_command(struct rconn *rc, uint64_t timeout_ms,
		    rconn_reply_cb *cb, void *arg, int argc,
		    const char **argv, const size_t *lens);
int		 rconn_subscribe(struct rconn *rc, rconn_reply_cb *cb,
		    void *arg, int argc, const char **argv);
int		 rconn_fcall(struct rconn *rc, uint64_t timeout_ms,
		    rconn_reply_cb *cb, void *arg, const char *fn,
		    const char *key, int argc, const char **argv,
		    const size_t *lens);

#endif
