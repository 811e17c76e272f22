/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * An rconn on a Redis Cluster (rcluster.h). It learns the slot map with
 * CLUSTER SLOTS from a seed, keeps an ordinary rconn to each master it
 * needs (each with its own handshake, backoff and library loading), and
 * sends every call to the master of its key's slot:
 *
 *   - MOVED: the slot moved for good; the map is corrected and the call
 *     sent there, at most RCL_MOVES times;
 *   - ASK, TRYAGAIN and CLUSTERDOWN: the slot is being migrated or has no
 *     master for a moment; the call waits RCL_PAUSE_MS and goes again,
 *     until its deadline. ASK is never followed with ASKING: a function's
 *     one key is the queue's base key, which never exists, so every call
 *     on a migrating queue is answered ASK until the migration ends, and
 *     no function runs on a queue half moved (its other keys, which it
 *     does not declare, could be on either side);
 *   - a master lost: the owner is told the connection is down, and the
 *     map is learned again after RCL_REFRESH_MS, from any master left (a
 *     replica takes over in a few seconds), until one answers.
 *
 * The owner sees one connection: ready while the map covers every slot
 * and every master it needs is connected.
 */
#include "autoconf.h"

#include <sys/queue.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "cluster.h"
#include "compat.h"
#include "log.h"
#include "mtime.h"
#include "rcluster.h"
#include "rfunc.h"
#include "url.h"
#include "xmalloc.h"

#define RCL_MOVES 5		/* MOVED in a row for one call */
#define RCL_PAUSE_MS 100	/* a migrating slot, asked again after */
#define RCL_REFRESH_MS 1000	/* the map, learned again after a loss */

struct rcl;

struct rcl_node {
	char			 host[256];
	int			 port;
	struct rconn		*rc;
	struct rcl		*cl;
	int			 ready;
	int			 dead;		/* out of the map: freed soon */
	char			 cond[RCONN_CONDITION_MAX]; /* HOST:PORT: ... */
};

struct rcl_call {
	TAILQ_ENTRY(rcl_call)	 entry;
	struct rcl		*cl;
	rconn_reply_cb		*cb;
	void			*arg;
	char			*fn;		/* NULL: a plain command */
	char			*key;		/* NULL: any master */
	int			 argc;
	char			**argv;
	size_t			*lens;
	uint64_t		 deadline;	/* mtime_now() */
	unsigned		 moves;
	struct event		*ev;		/* its pause, while it waits */
};

struct rcl {
	struct event_base	*base;
	struct rconn		*outer;
	struct rconn_opts	 o;
	char			*name;
	char			*password;	/* or NULL: the URL's */
	char			*focus;		/* or NULL: every master */
	struct url		 u;
	struct cluster_map	*map;		/* NULL until learned */
	struct rcl_node		*node[CLUSTER_NODES_MAX];
	size_t			 nnodes;
	struct rconn		*seed;		/* while no master is known */
	size_t			 seed_next;
	struct rcl_node		*dead[CLUSTER_NODES_MAX]; /* freed later */
	size_t			 ndead;
	struct rconn		*dead_seed;
	struct event		*refresh_ev;
	struct event		*reap_ev;
	int			 fetching;
	int			 ready;		/* as the owner was told */
	char			 error[256];	/* why there is no map */
	uint64_t		 error_since;
	TAILQ_HEAD(, rcl_call)	 calls;
};

static void	rcl_fetch(struct rcl *);
static int	rcl_send(struct rcl_call *);

static void rcl_note(struct rcl *, const char *, ...) printflike(2, 3);

/* Why the cluster is not usable now (rcl_condition()). */
static void
rcl_note(struct rcl *cl, const char *fmt, ...)
{
	va_list ap;

	if (cl->error[0] == '\0')
		cl->error_since = mtime_now();
	va_start(ap, fmt);
	vsnprintf(cl->error, sizeof cl->error, fmt, ap);
	va_end(ap);
}

/* "redis://[USER@][HOST]:PORT" for a node; the password goes apart. */
static char *
rcl_node_url(const struct rcl *cl, const char *host, int port)
{
	char user[400], *s;
	size_t i, n = 0;

	for (i = 0; cl->u.user[i] != '\0' && n + 4 < sizeof user; i++) {
		unsigned char ch = (unsigned char)cl->u.user[i];

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
		    ch == '.')
			user[n++] = (char)ch;
		else
			n += (size_t)snprintf(user + n, sizeof user - n,
			    "%%%02X", ch);
	}
	user[n] = '\0';
	xasprintf(&s, "redis://%s%s%s%s%s:%d", user, n > 0 ? ":x@" : "",
	    strchr(host, ':') != NULL ? "[" : "", host,
	    strchr(host, ':') != NULL ? "]" : "", port);
	return s;
}

/*
 * Tell the owner when the whole is ready, or no longer: the map covers
 * every slot, and every master is reachable (or one, for a partial
 * owner).
 */
static void
rcl_check(struct rcl *cl)
{
	size_t i;
	int covered = cl->map != NULL && cl->map->covered == CLUSTER_SLOTS;
	int all = covered, any = 0, ready;

	for (i = 0; i < cl->nnodes; i++) {
		all = all && cl->node[i]->ready;
		any = any || cl->node[i]->ready;
	}
	ready = cl->o.partial ? covered && any : all;
	if (ready && !cl->ready) {
		cl->ready = 1;
		cl->error[0] = '\0';
		if (cl->o.on_ready != NULL)
			cl->o.on_ready(cl->outer, cl->o.arg);
	} else if (!ready && cl->ready) {
		cl->ready = 0;
		if (cl->o.on_down != NULL)
			cl->o.on_down(cl->outer, cl->o.arg);
	}
}

static void
rcl_node_ready_cb(struct rconn *rc, void *arg)
{
	struct rcl_node *n = arg;
	struct rcl *cl = n->cl;
	int was = cl->ready;

	(void)rc;
	if (n->dead)
		return;
	n->ready = 1;
	rcl_check(cl);
	/* A master back while the rest ran: send what waited for it. */
	if (was && cl->ready && cl->o.partial && cl->o.on_ready != NULL)
		cl->o.on_ready(cl->outer, cl->o.arg);
}

static void
rcl_node_down_cb(struct rconn *rc, void *arg)
{
	struct rcl_node *n = arg;

	(void)rc;
	if (n->dead)
		return;
	n->ready = 0;
	rcl_check(n->cl);
	/* A master lost: a replica may be taking over. */
	if (!evtimer_pending(n->cl->refresh_ev, NULL))
		mtime_arm(n->cl->refresh_ev, RCL_REFRESH_MS);
}

static void
rcl_node_fatal_cb(struct rconn *rc, void *arg)
{
	struct rcl_node *n = arg;

	(void)rc;
	if (!n->dead && n->cl->o.on_fatal != NULL)
		n->cl->o.on_fatal(n->cl->outer, n->cl->o.arg);
}

/* A node's event, for the owner, with the node named. */
static void
rcl_node_event_cb(struct rconn *rc, enum rconn_event ev, const char *cause,
    void *arg)
{
	struct rcl_node *n = arg;
	char buf[512];

	(void)rc;
	if (n->dead || n->cl->o.on_event == NULL)
		return;
	snprintf(buf, sizeof buf, "%s:%d: %s", n->host, n->port, cause);
	n->cl->o.on_event(n->cl->outer, ev, ev == RCONN_EVENT_NOPERM ||
	    ev == RCONN_EVENT_NOPERM_END ? cause : buf, n->cl->o.event_arg);
}

/* The node of host:port, made (and connecting) if it is new. */
static struct rcl_node *
rcl_node(struct rcl *cl, const char *host, int port)
{
	struct rconn_opts o = cl->o;
	struct rcl_node *n;
	char *url, *cause = NULL;
	size_t i;

	for (i = 0; i < cl->nnodes; i++) {
		if (cl->node[i]->port == port &&
		    strcmp(cl->node[i]->host, host) == 0)
			return cl->node[i];
	}
	if (cl->nnodes == CLUSTER_NODES_MAX)
		return NULL;
	n = xcalloc(1, sizeof *n);
	snprintf(n->host, sizeof n->host, "%s", host);
	n->port = port;
	n->cl = cl;
	url = rcl_node_url(cl, host, port);
	o.url = url;
	o.password = cl->password != NULL ? cl->password :
	    (cl->u.password[0] != '\0' ? cl->u.password : NULL);
	o.key = NULL;
	o.on_ready = rcl_node_ready_cb;
	o.on_down = rcl_node_down_cb;
	o.on_fatal = rcl_node_fatal_cb;
	o.arg = n;
	o.on_event = rcl_node_event_cb;
	o.event_arg = n;
	n->rc = rconn_create(cl->base, &o, &cause);
	free(url);
	if (n->rc == NULL) {
		free(cause);
		free(n);
		return NULL;
	}
	cl->node[cl->nnodes++] = n;
	return n;
}

static void
rcl_reap_cb(evutil_socket_t fd, short events, void *arg)
{
	struct rcl *cl = arg;
	struct rcl_node *n;

	(void)fd;
	(void)events;
	while (cl->ndead > 0) {
		n = cl->dead[--cl->ndead];
		rconn_free(n->rc);
		free(n);
	}
	rconn_free(cl->dead_seed);
	cl->dead_seed = NULL;
}

/*
 * Free a node out of the map, outside of its own callbacks (which may be
 * on the stack); until then they do nothing.
 */
static void
rcl_bury(struct rcl *cl, struct rcl_node *n)
{
	if (cl->ndead == CLUSTER_NODES_MAX)
		rcl_reap_cb(-1, 0, cl);
	n->dead = 1;
	n->ready = 0;
	cl->dead[cl->ndead++] = n;
	mtime_arm(cl->reap_ev, 0);
}

/* The same for the seed connection. */
static void
rcl_bury_seed(struct rcl *cl)
{
	if (cl->seed == NULL)
		return;
	if (cl->dead_seed != NULL)
		rcl_reap_cb(-1, 0, cl);
	cl->dead_seed = cl->seed;
	cl->seed = NULL;
	mtime_arm(cl->reap_ev, 0);
}

/* The slot map came: keep it, connect to its masters, drop the others. */
static void
rcl_slots_cb(struct rconn *rc, redisReply *r, void *arg)
{
	struct rcl *cl = arg;
	struct cluster_map *m;
	struct rcl_node *keep[CLUSTER_NODES_MAX];
	char err[256];
	size_t i, k, nkeep = 0;
	int fk = -1, used;

	(void)rc;
	cl->fetching = 0;
	if (r == NULL && rc == cl->dead_seed)
		return;		/* a seed let go */
	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		rcl_note(cl, "cluster: CLUSTER SLOTS: %.150s%s", r != NULL ?
		    r->str : "no reply", r != NULL && strstr(r->str,
		    "cluster support disabled") != NULL ? " (the node is not "
		    "in a cluster: give it as redis://)" : "");
		mtime_arm(cl->refresh_ev, RCL_REFRESH_MS);
		return;
	}
	m = xcalloc(1, sizeof *m);
	if (cluster_map_read(m, r, err, sizeof err) != 0) {
		rcl_note(cl, "cluster: %.200s", err);
		free(m);
		mtime_arm(cl->refresh_ev, RCL_REFRESH_MS);
		return;
	}
	if (m->covered < CLUSTER_SLOTS) {
		rcl_note(cl, "cluster: %zu slots have no master "
		    "(CLUSTERDOWN)", (size_t)CLUSTER_SLOTS - m->covered);
		mtime_arm(cl->refresh_ev, RCL_REFRESH_MS);
	}
	free(cl->map);
	cl->map = m;
	if (cl->focus != NULL)
		fk = cluster_map_node(m, cluster_keyslot(cl->focus,
		    strlen(cl->focus)));
	/* The masters needed: those of the map, or the focus's alone. */
	for (k = 0; k < m->nnodes; k++) {
		if (cl->focus != NULL && (int)k != fk)
			continue;
		(void)rcl_node(cl, m->node[k].host, m->node[k].port);
	}
	for (i = 0; i < cl->nnodes; i++) {
		used = 0;
		for (k = 0; k < m->nnodes && !used; k++)
			used = (cl->focus == NULL || (int)k == fk) &&
			    m->node[k].port == cl->node[i]->port &&
			    strcmp(m->node[k].host, cl->node[i]->host) == 0;
		if (used)
			keep[nkeep++] = cl->node[i];
		else
			rcl_bury(cl, cl->node[i]);
	}
	memcpy(cl->node, keep, nkeep * sizeof keep[0]);
	cl->nnodes = nkeep;
	rcl_bury_seed(cl);
	rcl_check(cl);
}

static void
rcl_seed_ready_cb(struct rconn *rc, void *arg)
{
	struct rcl *cl = arg;
	const char *argv[2] = { "CLUSTER", "SLOTS" };

	if (cl->fetching || rc != cl->seed)
		return;
	if (rconn_command(rc, RCONN_CALL_MS, rcl_slots_cb, cl, 2, argv,
	    NULL) == 0)
		cl->fetching = 1;
}

static void
rcl_seed_event_cb(struct rconn *rc, enum rconn_event ev, const char *cause,
    void *arg)
{
	struct rcl *cl = arg;

	if (ev == RCONN_EVENT_FAILED && rc == cl->seed)
		rcl_note(cl, "cluster: no node answers yet (%.150s)", cause);
}

/*
 * Learn the map: from a connected master, else from a seed connection
 * to the URL's nodes and the masters known, one after the other.
 */
static void
rcl_fetch(struct rcl *cl)
{
	const char *argv[2] = { "CLUSTER", "SLOTS" };
	struct rconn_opts o = cl->o;
	char *url, *cause = NULL;
	size_t i, n;

	if (cl->fetching)
		return;
	for (i = 0; i < cl->nnodes; i++) {
		if (cl->node[i]->ready && rconn_command(cl->node[i]->rc,
		    RCONN_CALL_MS, rcl_slots_cb, cl, 2, argv, NULL) == 0) {
			cl->fetching = 1;
			return;
		}
	}
	if (cl->seed != NULL) {
		if (rconn_ready(cl->seed)) {
			rcl_seed_ready_cb(cl->seed, cl);
			return;
		}
		/* It did not answer within a second: the next seed. */
		rcl_bury_seed(cl);
	}
	n = cl->u.nnodes + cl->nnodes;
	i = cl->seed_next++ % n;
	url = i < cl->u.nnodes ? rcl_node_url(cl, cl->u.nodes[i].host,
	    cl->u.nodes[i].port) : rcl_node_url(cl,
	    cl->node[i - cl->u.nnodes]->host,
	    cl->node[i - cl->u.nnodes]->port);
	o.url = url;
	o.password = cl->password != NULL ? cl->password :
	    (cl->u.password[0] != '\0' ? cl->u.password : NULL);
	o.key = NULL;
	o.load_library = 0;
	o.on_ready = rcl_seed_ready_cb;
	o.on_down = NULL;
	o.on_fatal = NULL;
	o.arg = cl;
	o.on_event = rcl_seed_event_cb;
	o.event_arg = cl;
	o.errors = NULL;
	cl->seed = rconn_create(cl->base, &o, &cause);
	free(url);
	free(cause);
	mtime_arm(cl->refresh_ev, RCL_REFRESH_MS);
}

static void
rcl_refresh_cb(evutil_socket_t fd, short events, void *arg)
{
	struct rcl *cl = arg;
	size_t i;
	int all = cl->map != NULL && cl->map->covered == CLUSTER_SLOTS;

	(void)fd;
	(void)events;
	for (i = 0; all && i < cl->nnodes; i++)
		all = cl->node[i]->ready;
	if (all && cl->seed == NULL)
		return;
	rcl_fetch(cl);
	/* Again until every master is back. */
	if (!evtimer_pending(cl->refresh_ev, NULL))
		mtime_arm(cl->refresh_ev, RCL_REFRESH_MS);
}

struct rcl *
rcl_create(struct event_base *base, struct rconn *outer,
    const struct rconn_opts *o, const struct url *u)
{
	struct rcl *cl;

	cl = xcalloc(1, sizeof *cl);
	cl->base = base;
	cl->outer = outer;
	cl->o = *o;
	cl->name = xstrdup(o->name);
	cl->o.name = cl->name;
	if (o->password != NULL)
		cl->password = xstrdup(o->password);
	if (o->key != NULL)
		cl->focus = xstrdup(o->key);
	cl->u = *u;
	TAILQ_INIT(&cl->calls);
	if ((cl->refresh_ev = evtimer_new(base, rcl_refresh_cb, cl)) == NULL ||
	    (cl->reap_ev = evtimer_new(base, rcl_reap_cb, cl)) == NULL)
		fatalx("out of memory creating a timer");
	rcl_note(cl, "cluster: learning the slot map");
	rcl_fetch(cl);
	return cl;
}

/* The end of a call: its reply (NULL: none) to its owner. */
static void
rcl_done(struct rcl_call *call, redisReply *r)
{
	struct rcl *cl = call->cl;
	int i;

	TAILQ_REMOVE(&cl->calls, call, entry);
	if (call->cb != NULL)
		call->cb(cl->outer, r, call->arg);
	if (call->ev != NULL)
		event_free(call->ev);
	for (i = 0; i < call->argc; i++)
		free(call->argv[i]);
	free(call->argv);
	free(call->lens);
	free(call->fn);
	free(call->key);
	free(call);
}

static void
rcl_pause_cb(evutil_socket_t fd, short events, void *arg)
{
	struct rcl_call *call = arg;

	(void)fd;
	(void)events;
	if (rcl_send(call) != 0)
		rcl_done(call, NULL);
}

static void
rcl_reply_cb(struct rconn *rc, redisReply *r, void *arg)
{
	struct rcl_call *call = arg;
	struct rcl *cl = call->cl;
	char host[256];
	unsigned slot;
	size_t i;
	int ask, port;

	if (r == NULL) {
		/* The master may be gone: learn the map again soon. */
		if (!evtimer_pending(cl->refresh_ev, NULL))
			mtime_arm(cl->refresh_ev, RCL_REFRESH_MS);
		rcl_done(call, NULL);
		return;
	}
	if (r->type == REDIS_REPLY_ERROR && cluster_redirect(r->str, &ask,
	    &slot, host, sizeof host, &port) && !ask &&
	    call->moves++ < RCL_MOVES && cl->map != NULL) {
		for (i = 0; host[0] == '\0' && i < cl->nnodes; i++) {
			if (cl->node[i]->rc == rc)
				snprintf(host, sizeof host, "%s",
				    cl->node[i]->host);
		}
		if (cluster_map_move(cl->map, slot, host, port) >= 0 &&
		    rcl_send(call) == 0)
			return;
		rcl_done(call, NULL);
		return;
	}
	if (r->type == REDIS_REPLY_ERROR && (strncmp(r->str, "ASK ", 4) ==
	    0 || rfunc_classify(r) == RFUNC_TRYAGAIN ||
	    strncmp(r->str, "CLUSTERDOWN ", 12) == 0) &&
	    mtime_now() + RCL_PAUSE_MS < call->deadline) {
		if (call->ev == NULL &&
		    (call->ev = evtimer_new(cl->base, rcl_pause_cb, call)) ==
		    NULL)
			fatalx("out of memory creating a timer");
		mtime_arm(call->ev, RCL_PAUSE_MS);
		return;
	}
	rcl_done(call, r);
}

/* Send a call to the master of its slot. Returns 0 or -1. */
static int
rcl_send(struct rcl_call *call)
{
	struct rcl *cl = call->cl;
	struct rcl_node *n = NULL;
	uint64_t now = mtime_now();
	size_t i;
	int k;

	if (cl->map == NULL || now >= call->deadline)
		return -1;
	if (call->key != NULL) {
		k = cluster_map_node(cl->map, cluster_keyslot(call->key,
		    strlen(call->key)));
		if (k < 0 || (n = rcl_node(cl, cl->map->node[k].host,
		    cl->map->node[k].port)) == NULL)
			return -1;
	} else {
		for (i = 0; i < cl->nnodes && n == NULL; i++) {
			if (cl->node[i]->ready)
				n = cl->node[i];
		}
	}
	if (n == NULL || !n->ready)
		return -1;
	if (call->fn != NULL)
		return rconn_fcall(n->rc, call->deadline - now, rcl_reply_cb,
		    call, call->fn, call->key, call->argc,
		    (const char **)call->argv, call->lens);
	return rconn_command(n->rc, call->deadline - now, rcl_reply_cb, call,
	    call->argc, (const char **)call->argv, call->lens);
}

/*
 * A call (fn: FCALL of fn on key; else the command argv, whose key, if
 * any, is argv[1], given as key). Returns 0 (cb follows, exactly once)
 * or -1 when it cannot be sent now.
 */
int
rcl_call(struct rcl *cl, uint64_t timeout_ms, rconn_reply_cb *cb, void *arg,
    const char *fn, const char *key, int argc, const char **argv,
    const size_t *lens)
{
	struct rcl_call *call;
	int i;

	if (!cl->ready)
		return -1;
	call = xcalloc(1, sizeof *call);
	call->cl = cl;
	call->cb = cb;
	call->arg = arg;
	call->fn = fn != NULL ? xstrdup(fn) : NULL;
	call->key = key != NULL ? xstrdup(key) : NULL;
	call->argc = argc;
	call->argv = xcalloc((size_t)argc + 1, sizeof *call->argv);
	call->lens = xcalloc((size_t)argc + 1, sizeof *call->lens);
	for (i = 0; i < argc; i++) {
		call->lens[i] = lens != NULL ? lens[i] : strlen(argv[i]);
		call->argv[i] = xmalloc(call->lens[i] + 1);
		memcpy(call->argv[i], argv[i], call->lens[i]);
		call->argv[i][call->lens[i]] = '\0';
	}
	call->deadline = mtime_now() + timeout_ms;
	TAILQ_INSERT_TAIL(&cl->calls, call, entry);
	if (rcl_send(call) != 0) {
		call->cb = NULL;
		rcl_done(call, NULL);
		return -1;
	}
	return 0;
}

/* A subscription goes to one master: classic channels span the cluster. */
int
rcl_subscribe(struct rcl *cl, rconn_reply_cb *cb, void *arg, int argc,
    const char **argv)
{
	size_t i;

	for (i = 0; i < cl->nnodes; i++) {
		if (cl->node[i]->ready)
			return rconn_subscribe(cl->node[i]->rc, cb, arg, argc,
			    argv);
	}
	return -1;
}

void
rcl_drop(struct rcl *cl, const char *why)
{
	size_t i;

	for (i = 0; i < cl->nnodes; i++)
		rconn_drop(cl->node[i]->rc, why);
}

/* In a forked process: close every socket of the cluster's connections. */
void
rcl_close_fds(const struct rcl *cl)
{
	size_t i;

	for (i = 0; i < cl->nnodes; i++)
		rconn_close_fds(cl->node[i]->rc);
	if (cl->seed != NULL)
		rconn_close_fds(cl->seed);
}

int
rcl_ready(const struct rcl *cl)
{
	return cl->ready;
}

const char *
rcl_condition(struct rcl *cl, uint64_t *since)
{
	struct rcl_node *n;
	const char *c;
	size_t i;

	/* A master's, named: the others may well be fine. */
	for (i = 0; i < cl->nnodes; i++) {
		n = cl->node[i];
		if ((c = rconn_condition(n->rc, since)) != NULL) {
			snprintf(n->cond, sizeof n->cond, "%.60s:%d: %.80s", n->host,
			    n->port, c);
			return n->cond;
		}
	}
	if (!cl->ready && cl->error[0] != '\0') {
		if (since != NULL)
			*since = cl->error_since;
		return cl->error;
	}
	return NULL;
}

const char *
rcl_last_error(const struct rcl *cl)
{
	const char *e;
	size_t i;

	for (i = 0; i < cl->nnodes; i++) {
		if (*(e = rconn_last_error(cl->node[i]->rc)) != '\0')
			return e;
	}
	return cl->error;
}

uint64_t
rcl_retry_ms(const struct rcl *cl)
{
	uint64_t ms, max = 0;
	size_t i;

	for (i = 0; i < cl->nnodes; i++) {
		if ((ms = rconn_retry_ms(cl->node[i]->rc)) > max)
			max = ms;
	}
	return max > 0 ? max : RCONN_RETRY_MS;
}

void
rcl_free(struct rcl *cl)
{
	struct rcl_call *call;
	size_t i;

	if (cl == NULL)
		return;
	/* The owner's callbacks, answered below, can send nothing more. */
	cl->ready = 0;
	cl->o.on_down = NULL;
	cl->o.on_ready = NULL;
	cl->o.on_event = NULL;
	for (i = 0; i < cl->nnodes; i++) {
		rconn_free(cl->node[i]->rc);
		free(cl->node[i]);
	}
	rcl_bury_seed(cl);
	rcl_reap_cb(-1, 0, cl);
	/* The nodes answered their calls with no reply; those that wait for
	 * a pause end so too. */
	while ((call = TAILQ_FIRST(&cl->calls)) != NULL)
		rcl_done(call, NULL);
	event_free(cl->refresh_ev);
	event_free(cl->reap_ev);
	free(cl->map);
	free(cl->name);
	if (cl->password != NULL) {
		explicit_bzero(cl->password, strlen(cl->password));
		free(cl->password);
	}
	free(cl->focus);
	explicit_bzero(cl->u.password, sizeof cl->u.password);
	free(cl);
}
