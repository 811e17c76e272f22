/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * libredjob: a synchronous hiredis client that enqueues jobs by calling
 * the redjob function library, loading the library into Redis whenever it
 * is missing (first start, a restart without persistence, a failover,
 * FUNCTION FLUSH). It runs inside other people's programs: it never
 * prints, exits or aborts, and reports every failure as a code and a
 * message. The redjob CLI uses it too, through client.h.
 */
#include "autoconf.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <poll.h>
#include <pthread.h>
#include <signal.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "redjob.h"
#include "client.h"
#include "rfunc.h"
#include "schema.h"
#include "cluster.h"
#include "sentinel.h"
#include "url.h"

#define CLIENT_TIMEOUT_MS 5000
#define CLIENT_SENTINEL_MS 1000	/* each step of asking a sentinel */
#define CLIENT_SENTINEL_EVERY_MS 1000	/* asking them again */
#define CLIENT_MAX_QUEUES 64
#define CLIENT_SHARDS_MS 60000		/* a queue's shards looked up again */
#define CLIENT_CHUNK 256		/* jobs per redjob_enqueue_bulk */
#define CLIENT_NUMS 6			/* formatted numbers per job */
#define CLIENT_REDIRECTS 5		/* MOVED, ASK, TRYAGAIN in a row */
#define CLIENT_TRYAGAIN_MS 100		/* a slot being migrated: */
#define CLIENT_MIGRATE_WAITS 100	/* ... waited for 10 s at most */
#define CLIENT_RELEARNS 20		/* a master unreachable: the map
					   learned again, 2 s at most */

struct redjob_client {
	redisContext	*ctx;
	struct url	 url;
	char		 ns[65];
	size_t		 max_payload;
	int		 err;
	char		 errstr[256];
	/* Queues already added to NS:queues by this client. */
	char		*known[CLIENT_MAX_QUEUES];
	size_t		 nknown;
	/* Job types and the queue the type table gives each ("default"
	 * when it gives none), as looked up by this connection. */
	char		*route_type[CLIENT_MAX_QUEUES];
	char		*route_queue[CLIENT_MAX_QUEUES];
	size_t		 nroutes;
	/* Queues and the number of shards the shard table gives each (1
	 * when it gives none), looked up at most every CLIENT_SHARDS_MS. */
	char		*shard_queue[CLIENT_MAX_QUEUES];
	unsigned	 shard_n[CLIENT_MAX_QUEUES];
	long long	 shard_at[CLIENT_MAX_QUEUES];
	size_t		 nshards;
	unsigned	 spread;	/* the next shard of a job with no key */
	int		 demoted;	/* the server said it is no master */
	int		 noperm;	/* the last error was an ACL refusal */
	struct timespec	 asked;		/* the sentinels were last asked */
	/* redis+cluster://: the slot map, and a connection per master
	 * (ctx is the one of the command under way, nctx[node]). */
	struct cluster_map *map;
	redisContext	*nctx[CLUSTER_NODES_MAX];
	int		 node;
	int		 connecting;	/* client_connect() is under way */
};

static int	client_connect(struct redjob_client *);

/*
 * hiredis writes with write(2), so a write to a connection the server has
 * closed raises SIGPIPE, which would kill a program that does not ignore
 * it. We may not change the program's signal dispositions, so SIGPIPE is
 * blocked around our I/O and a SIGPIPE that we caused is consumed before
 * it is unblocked (the technique of curl and OpenSSL's s_client).
 */
struct client_sigpipe {
	sigset_t	old;
	int		was_pending;
};

static void
client_sigpipe_block(struct client_sigpipe *sp)
{
	sigset_t set, pending;

	sigemptyset(&pending);
	sigpending(&pending);
	sp->was_pending = sigismember(&pending, SIGPIPE);
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, &sp->old);
}

static void
client_sigpipe_restore(struct client_sigpipe *sp)
{
	struct timespec zero = { 0, 0 };
	sigset_t set, pending;

	if (!sp->was_pending) {
		sigemptyset(&pending);
		sigpending(&pending);
		if (sigismember(&pending, SIGPIPE)) {
			sigemptyset(&set);
			sigaddset(&set, SIGPIPE);
			while (sigtimedwait(&set, NULL, &zero) < 0 &&
			    errno == EINTR)
				;
		}
	}
	pthread_sigmask(SIG_SETMASK, &sp->old, NULL);
}

/* Record an error; returns -1 so callers can "return client_error(...)". */
static int
client_error(struct redjob_client *c, int err, const char *fmt, ...)
{
	va_list ap;

	c->err = err;
	c->noperm = 0;
	va_start(ap, fmt);
	vsnprintf(c->errstr, sizeof c->errstr, fmt, ap);
	va_end(ap);
	return -1;
}

static void
client_clear(struct redjob_client *c)
{
	c->err = REDJOB_OK;
	c->errstr[0] = '\0';
	c->noperm = 0;
}

/* Was the last error Redis refusing a command or key to our ACL user? */
int
client_noperm(const struct redjob_client *c)
{
	return c->err != REDJOB_OK && c->noperm;
}

/*
 * Drop a broken connection; the next call reconnects. It also registers
 * its queues again: the Redis it reaches may have lost NS:queues (a
 * restart without persistence, a failover).
 */
static void
client_disconnect(struct redjob_client *c)
{
	if (c->ctx != NULL)
		redisFree(c->ctx);
	if (c->url.cluster && c->nctx[c->node] == c->ctx)
		c->nctx[c->node] = NULL;
	c->ctx = NULL;
	while (c->nknown > 0)
		free(c->known[--c->nknown]);
	while (c->nroutes > 0) {
		c->nroutes--;
		free(c->route_type[c->nroutes]);
		free(c->route_queue[c->nroutes]);
	}
}

/*
 * Record a Redis error reply as the client's error, with the public code
 * of its class (rfunc.c). Returns -1.
 */
static int
client_reply_error(struct redjob_client *c, const char *e)
{
	enum rfunc_class class = rfunc_classify_error(e);
	int err = rfunc_class_err(class);

	/*
	 * The server is no longer the master (a failover): the next call
	 * connects again, which through sentinels finds the new one (not
	 * now: a pipeline may still have replies to read).
	 */
	if (class == RFUNC_READONLY || class == RFUNC_UNBLOCKED)
		c->demoted = 1;

	/* Our own codes are for programs; people read the message. */
	if (strncmp(e, "REDJOB_", 7) == 0 && strchr(e, ' ') != NULL)
		return client_error(c, err, "%s", strchr(e, ' ') + 1);
	if (err == REDJOB_ERR_OOM)
		return client_error(c, err, "redis is out of memory "
		    "(maxmemory reached), nothing was written: %s", e);
	if (class == RFUNC_NOPERM) {
		client_error(c, err, "redis refused access: %s (redjob acl "
		    "prints the rules a user needs)", e);
		c->noperm = 1;
		return -1;
	}
	if (err == REDJOB_ERR_AUTH)
		return client_error(c, err, "redis refused access: %s", e);
	return client_error(c, err, "redis: %s", e);
}

/* Record a connection error and drop the connection. Returns -1. */
static int
client_io_error(struct redjob_client *c)
{
	const char *where = c->url.path[0] != '\0' ? c->url.path : c->url.host;

	if (c->ctx != NULL && c->ctx->err != 0)
		client_error(c, REDJOB_ERR_IO, "redis at %s: %s", where,
		    c->ctx->err == REDIS_ERR_EOF ?
		    "connection closed by the server" : c->ctx->errstr);
	else
		client_error(c, REDJOB_ERR_IO, "redis at %s: connection lost",
		    where);
	client_disconnect(c);
	return -1;
}

/*
 * Make sure there is a connection that the server has not closed. A
 * server's idle `timeout` closes connections quietly; a command written
 * to one fails with "Broken pipe" or sees EOF, and we could not tell
 * whether it ran. So before each use, look for the EOF the server left:
 * then nothing was sent, and reconnecting is safe. Returns 0 or -1.
 */
/*
 * Through sentinels, at most once a second: have they named another
 * master since we connected? A failed master may stay writable for a
 * while after the failover, and what a producer writes to it then is
 * lost, so a long-lived client does not wait for a READONLY to move.
 */
static int
client_master_moved(struct redjob_client *c)
{
	struct timespec now;
	struct url u;
	char err[1200];
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(now.tv_sec - c->asked.tv_sec) * 1000 +
	    (now.tv_nsec - c->asked.tv_nsec) / 1000000;
	if (ms < CLIENT_SENTINEL_EVERY_MS)
		return 0;
	c->asked = now;
	u = c->url;
	if (sentinel_resolve(&u, CLIENT_SENTINEL_MS, err, sizeof err) != 0)
		return 0;	/* the connection we have may still work */
	return strcmp(u.host, c->url.host) != 0 || u.port != c->url.port;
}

static int
client_ensure(struct redjob_client *c)
{
	struct pollfd pfd;
	char b;

	if (c->demoted) {
		c->demoted = 0;
		client_disconnect(c);
	}
	if (c->ctx != NULL && c->url.sentinel && client_master_moved(c))
		client_disconnect(c);
	if (c->ctx != NULL && c->ctx->obuf != NULL && c->ctx->obuf[0] == '\0') {
		pfd.fd = c->ctx->fd;
		pfd.events = POLLIN | POLLRDHUP;
		pfd.revents = 0;
		if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLERR |
		    POLLRDHUP) || recv(c->ctx->fd, &b, 1, MSG_PEEK |
		    MSG_DONTWAIT) <= 0))
			client_disconnect(c);
	}
	if (c->ctx == NULL)
		return client_connect(c);
	return 0;
}

/*
 * The cluster's slot map, from the first of its seeds (the URL's nodes,
 * then every master it knew) that answers CLUSTER SLOTS. Returns 0 or -1
 * with the error set.
 */
static int
client_cluster_map(struct redjob_client *c)
{
	struct timeval tv = { CLIENT_TIMEOUT_MS / 1000,
		(CLIENT_TIMEOUT_MS % 1000) * 1000 };
	struct cluster_node seeds[URL_NODES_MAX + CLUSTER_NODES_MAX];
	struct cluster_map *m;
	redisContext *x;
	redisReply *r;
	char notes[900], why[600];
	size_t i, n = 0, k, len;

	for (i = 0; i < c->url.nnodes; i++) {
		snprintf(seeds[n].host, sizeof seeds[n].host, "%s",
		    c->url.nodes[i].host);
		seeds[n++].port = c->url.nodes[i].port;
	}
	for (i = 0; c->map != NULL && i < c->map->nnodes; i++)
		seeds[n++] = c->map->node[i];
	if ((m = calloc(1, sizeof *m)) == NULL)
		return client_error(c, REDJOB_ERR_NOMEM, "out of memory");
	notes[0] = '\0';
	for (i = 0; i < n; i++) {
		x = redisConnectWithTimeout(seeds[i].host, seeds[i].port, tv);
		r = NULL;
		if (x != NULL && x->err == 0) {
			redisSetTimeout(x, tv);
			if (c->url.password[0] != '\0')
				r = c->url.user[0] != '\0' ? redisCommand(x,
				    "AUTH %s %s", c->url.user,
				    c->url.password) : redisCommand(x,
				    "AUTH %s", c->url.password);
			if (r == NULL || r->type != REDIS_REPLY_ERROR) {
				if (r != NULL)
					freeReplyObject(r);
				r = redisCommand(x, "CLUSTER SLOTS");
			}
		}
		if (r != NULL && cluster_map_read(m, r, why, sizeof why) == 0) {
			freeReplyObject(r);
			redisFree(x);
			/* The connections keep their nodes' new indexes. */
			for (k = 0; k < CLUSTER_NODES_MAX; k++) {
				if (c->nctx[k] != NULL)
					redisFree(c->nctx[k]);
				c->nctx[k] = NULL;
			}
			c->ctx = NULL;
			free(c->map);
			c->map = m;
			c->node = 0;
			return 0;
		}
		if (r != NULL && r->type == REDIS_REPLY_ERROR &&
		    strstr(r->str, "cluster support disabled") != NULL)
			snprintf(why, sizeof why, "not a cluster node (cluster "
			    "support disabled: give it as redis://)");
		else if (r != NULL && r->type == REDIS_REPLY_ERROR)
			snprintf(why, sizeof why, "%s", r->str);
		else if (r == NULL)
			snprintf(why, sizeof why, "%s", x == NULL ?
			    "out of memory" : x->errstr);
		if ((len = strlen(notes)) + 1 < sizeof notes)
			snprintf(notes + len, sizeof notes - len,
			    "%s%.200s:%d: %.300s", len > 0 ? "; " : "",
			    seeds[i].host, seeds[i].port, why);
		if (r != NULL)
			freeReplyObject(r);
		if (x != NULL)
			redisFree(x);
	}
	free(m);
	return client_error(c, REDJOB_ERR_IO, "cannot learn the cluster's "
	    "slots from any node (%s)", notes);
}

/*
 * Make c->ctx the connection to node k of the slot map, connecting (and
 * checking the library there) if need be. Returns 0 or -1.
 */
static int
client_cluster_use(struct redjob_client *c, int k)
{
	c->node = k;
	c->ctx = c->nctx[k];
	snprintf(c->url.host, sizeof c->url.host, "%s", c->map->node[k].host);
	c->url.port = c->map->node[k].port;
	if (client_ensure(c) != 0)
		return -1;
	c->nctx[k] = c->ctx;
	return 0;
}


static redisReply *client_raw(struct redjob_client *, int, const char **,
		    const size_t *);

/*
 * A command on a cluster: to the master of its key's slot (a keyless one
 * goes where the last one went), following MOVED (the map is corrected),
 * CLIENT_REDIRECTS times at most. A node that cannot be reached makes the
 * client learn the map again, once. The reply may be an error reply.
 *
 * ASK is not followed with ASKING, on purpose: a function's one key is
 * the queue's base key, which never exists, so while the queue's slot
 * migrates every call on it is answered ASK, and waits (as TRYAGAIN, a
 * short pause, then again) until the migration has ended and the slot
 * answers MOVED. A function then never runs on a queue half moved: its
 * other keys, which it does not declare, may be on either side.
 */
static redisReply *
client_cluster_raw(struct redjob_client *c, int argc, const char **argv,
    const size_t *lens)
{
	struct client_sigpipe sp;
	struct timespec pause = { 0, CLIENT_TRYAGAIN_MS * 1000000L };
	const char *key = NULL;
	char host[256];
	redisReply *r;
	unsigned slot = 0;
	size_t len;
	int haskey;
	int k, try, waits, ask = 0, port, relearned = 0;

	if (c->map == NULL && client_cluster_map(c) != 0)
		return NULL;
	if ((haskey = cluster_command_key(argc, argv, lens, &key, &len)))
		slot = cluster_keyslot(key, len);
	for (try = 0, waits = 0; try <= CLIENT_REDIRECTS; try++) {
		ask = 0;
		if (haskey && (k = cluster_map_node(c->map,
		    slot)) < 0)
			return client_error(c, REDJOB_ERR_BUSY, "cluster: no "
			    "master serves slot %u (CLUSTERDOWN: the cluster "
			    "is failing over, or has uncovered slots)"),
			    NULL;
		else if (!haskey)
			k = c->node;
		if (client_cluster_use(c, k) != 0) {
			/*
			 * The node is gone: a failover, or a new map. The
			 * nodes learn of it in a moment: ask them again, a
			 * few times.
			 */
			if (relearned++ >= CLIENT_RELEARNS)
				return NULL;
			if (relearned > 1)
				nanosleep(&pause, NULL);
			if (client_cluster_map(c) != 0)
				return NULL;
			try--;
			continue;
		}
		client_sigpipe_block(&sp);
		r = redisCommandArgv(c->ctx, argc, argv, lens);
		client_sigpipe_restore(&sp);
		if (r == NULL) {
			client_io_error(c);
			return NULL;
		}
		if (r->type != REDIS_REPLY_ERROR)
			return r;
		if (cluster_redirect(r->str, &ask, &slot, host, sizeof host,
		    &port) && !ask) {
			if (host[0] == '\0')
				snprintf(host, sizeof host, "%s",
				    c->map->node[c->node].host);
			k = cluster_map_move(c->map, slot, host, port);
			freeReplyObject(r);
			if (k < 0)
				return client_error(c, REDJOB_ERR_REDIS,
				    "cluster: more than %d masters",
				    CLUSTER_NODES_MAX), NULL;
			continue;
		}
		if ((ask || rfunc_classify(r) == RFUNC_TRYAGAIN) &&
		    waits++ < CLIENT_MIGRATE_WAITS) {
			/* Not a redirection: it does not count as one. */
			freeReplyObject(r);
			nanosleep(&pause, NULL);
			try--;
			continue;
		}
		if (ask) {
			freeReplyObject(r);
			return client_error(c, REDJOB_ERR_BUSY, "cluster: slot "
			    "%u is still being migrated after %d s; try again "
			    "later", slot, CLIENT_MIGRATE_WAITS *
			    CLIENT_TRYAGAIN_MS / 1000), NULL;
		}
		return r;
	}
	client_error(c, REDJOB_ERR_BUSY, "cluster: slot %u redirected more "
	    "than %d times in a row", slot, CLIENT_REDIRECTS);
	return NULL;
}

/* Run one command on the connection; the reply may be an error reply. */
static redisReply *
client_raw(struct redjob_client *c, int argc, const char **argv,
    const size_t *lens)
{
	struct client_sigpipe sp;
	redisReply *r;

	/* (While it connects to a node, the handshake goes to that node.) */
	if (c->url.cluster && !c->connecting)
		return client_cluster_raw(c, argc, argv, lens);
	if (client_ensure(c) != 0)
		return NULL;
	client_sigpipe_block(&sp);
	r = redisCommandArgv(c->ctx, argc, argv, lens);
	client_sigpipe_restore(&sp);
	if (r == NULL) {
		client_io_error(c);
		return NULL;
	}
	return r;
}

/* Load the library text into Redis, replacing an older one. */
static int
client_load(struct redjob_client *c)
{
	const char *argv[RFUNC_LOAD_ARGC];
	size_t lens[RFUNC_LOAD_ARGC];
	redisReply *r;
	int argc, rc = 0;

	argc = rfunc_load_argv(argv, lens);
	if ((r = client_raw(c, argc, argv, lens)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_ERROR) {
		client_reply_error(c, r->str);
		snprintf(c->errstr + strlen(c->errstr),
		    sizeof c->errstr - strlen(c->errstr),
		    " (while loading the redjob function library)");
		rc = -1;
	}
	freeReplyObject(r);
	return rc;
}

/*
 * Make sure Redis holds our library, at our version or a compatible one.
 * A newer library is left alone and refused: another, newer redjob owns
 * this Redis, and replacing its code would break it.
 */
static int
client_check_library(struct redjob_client *c)
{
	const char *argv[RFUNC_FCALL_HEAD];
	size_t lens[RFUNC_FCALL_HEAD];
	redisReply *r;
	enum rfunc_version v;
	char msg[256];
	int argc;

	argc = rfunc_version_argv(argv, lens);
	if ((r = client_raw(c, argc, argv, lens)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_ERROR) {
		if (rfunc_classify(r) == RFUNC_NOLIB) {
			freeReplyObject(r);
			return client_load(c);
		}
		client_reply_error(c, r->str);
		freeReplyObject(r);
		return -1;
	}
	v = rfunc_version_check(r, msg, sizeof msg);
	freeReplyObject(r);
	switch (v) {
	case RFUNC_VERSION_OK:
		break;
	case RFUNC_VERSION_OLDER:
		return client_load(c);
	case RFUNC_VERSION_REFUSED:
		return client_error(c, REDJOB_ERR_VERSION, "%s", msg);
	}
	return 0;
}

/* Connect, authenticate, select the database and check the library. */
static int
client_connect_(struct redjob_client *c)
{
	struct timeval tv = { CLIENT_TIMEOUT_MS / 1000,
		(CLIENT_TIMEOUT_MS % 1000) * 1000 };
	const char *argv[3];
	char db[16], err[1200];
	redisReply *r;
	int argc;

	client_disconnect(c);
	/* Through sentinels: their master now, checked with ROLE. */
	if (c->url.sentinel) {
		clock_gettime(CLOCK_MONOTONIC, &c->asked);
		if (sentinel_resolve(&c->url, CLIENT_SENTINEL_MS, err,
		    sizeof err) != 0)
			return client_error(c, REDJOB_ERR_IO, "%s", err);
	}
	if (c->url.path[0] != '\0')
		c->ctx = redisConnectUnixWithTimeout(c->url.path, tv);
	else
		c->ctx = redisConnectWithTimeout(c->url.host, c->url.port, tv);
	if (c->ctx == NULL)
		return client_error(c, REDJOB_ERR_NOMEM, "out of memory");
	if (c->ctx->err != 0) {
		if (c->url.path[0] != '\0')
			client_error(c, REDJOB_ERR_IO, "cannot connect to redis "
			    "at %s: %s", c->url.path, c->ctx->errstr);
		else
			client_error(c, REDJOB_ERR_IO, "cannot connect to redis "
			    "at %s:%d: %s", c->url.host, c->url.port,
			    c->ctx->errstr);
		client_disconnect(c);
		return -1;
	}
	redisSetTimeout(c->ctx, tv);
	if (c->url.path[0] == '\0')
		redisEnableKeepAlive(c->ctx);
	if (c->url.password[0] != '\0') {
		argc = 0;
		argv[argc++] = "AUTH";
		if (c->url.user[0] != '\0')
			argv[argc++] = c->url.user;
		argv[argc++] = c->url.password;
		if ((r = client_raw(c, argc, argv, NULL)) == NULL)
			return -1;
		if (r->type == REDIS_REPLY_ERROR) {
			client_error(c, REDJOB_ERR_AUTH, "redis refused the "
			    "password: %s", r->str);
			freeReplyObject(r);
			client_disconnect(c);
			return -1;
		}
		freeReplyObject(r);
	}
	if (c->url.db != 0) {
		snprintf(db, sizeof db, "%d", c->url.db);
		argv[0] = "SELECT";
		argv[1] = db;
		if ((r = client_raw(c, 2, argv, NULL)) == NULL)
			return -1;
		if (r->type == REDIS_REPLY_ERROR) {
			client_error(c, REDJOB_ERR_REDIS, "redis: SELECT %s: %s",
			    db, r->str);
			freeReplyObject(r);
			client_disconnect(c);
			return -1;
		}
		freeReplyObject(r);
	}
	if (client_check_library(c) != 0) {
		client_disconnect(c);
		return -1;
	}
	return 0;
}

static int
client_connect(struct redjob_client *c)
{
	int rc;

	c->connecting = 1;
	rc = client_connect_(c);
	c->connecting = 0;
	return rc;
}

struct redjob_client *
redjob_connect(const char *url, const char *ns)
{
	struct redjob_client *c;
	char err[256];
	int k;
	struct timespec ts;

	if ((c = calloc(1, sizeof *c)) == NULL)
		return NULL;
	c->max_payload = REDJOB_MAX_PAYLOAD_DEFAULT;
	/* Producers that each send a job or two still spread them. */
	clock_gettime(CLOCK_REALTIME, &ts);
	c->spread = (unsigned)getpid() ^ (unsigned)ts.tv_nsec;
	if (url == NULL)
		url = getenv("REDJOB_URL");
	if (url == NULL || *url == '\0')
		url = URL_DEFAULT;
	if (ns == NULL)
		ns = REDJOB_NAMESPACE_DEFAULT;
	if (schema_check_namespace(ns, err, sizeof err) != 0) {
		client_error(c, REDJOB_ERR_INVALID, "%s", err);
		return c;
	}
	snprintf(c->ns, sizeof c->ns, "%s", ns);
	if (url_parse(url, &c->url, err, sizeof err) != 0) {
		client_error(c, REDJOB_ERR_URL, "%s", err);
		return c;
	}
	/*
	 * A cluster: its map, and one master that answers, to find out now
	 * what the credentials are worth (more as keys need them; one
	 * master down must not keep a producer from the others).
	 */
	if (c->url.cluster) {
		if (client_cluster_map(c) == 0) {
			for (k = 0; k < (int)c->map->nnodes; k++) {
				if (client_cluster_use(c, k) == 0) {
					client_clear(c);
					break;
				}
				if (c->err != REDJOB_ERR_IO)
					break;	/* refused: said once */
			}
		}
	} else
		client_connect(c);
	return c;
}

void
redjob_free(struct redjob_client *c)
{
	size_t i;

	if (c == NULL)
		return;
	client_disconnect(c);
	for (i = 0; i < CLUSTER_NODES_MAX; i++) {
		if (c->nctx[i] != NULL)
			redisFree(c->nctx[i]);
	}
	free(c->map);
	for (i = 0; i < c->nknown; i++)
		free(c->known[i]);
	for (i = 0; i < c->nshards; i++)
		free(c->shard_queue[i]);
	explicit_bzero(c->url.password, sizeof c->url.password);
	free(c);
}

int
redjob_errcode(const struct redjob_client *c)
{
	return c->err;
}

const char *
redjob_errstr(const struct redjob_client *c)
{
	return c->errstr;
}

int
redjob_set_max_payload(struct redjob_client *c, size_t bytes)
{
	if (bytes > 512 * 1024 * 1024)
		return client_error(c, REDJOB_ERR_INVALID, "payload limit "
		    "above 512 MiB, Redis's own limit for a string");
	c->max_payload = bytes;
	return 0;
}

const char *
redjob_strerror(int err)
{
	static const char *names[] = {
		"REDJOB_OK", "REDJOB_ERR_NOMEM", "REDJOB_ERR_URL",
		"REDJOB_ERR_IO", "REDJOB_ERR_AUTH", "REDJOB_ERR_INVALID",
		"REDJOB_ERR_TOOBIG", "REDJOB_ERR_OOM", "REDJOB_ERR_VERSION",
		"REDJOB_ERR_NOJOB", "REDJOB_ERR_STATE", "REDJOB_ERR_BUSY",
		"REDJOB_ERR_REDIS",
	};

	if (err < 0 || (size_t)err >= sizeof names / sizeof names[0])
		return "REDJOB_ERR_UNKNOWN";
	return names[err];
}

const char *
client_namespace(const struct redjob_client *c)
{
	return c->ns;
}

/* The base key of a queue, into buf. Returns 0 or -1 with the error set. */
static int
client_base(struct redjob_client *c, const char *queue, char *buf, size_t len)
{
	char err[256];

	if (schema_check_queue(queue, err, sizeof err) != 0)
		return client_error(c, REDJOB_ERR_INVALID, "%s", err);
	if (schema_queue_base(buf, len, c->ns, queue) != 0)
		return client_error(c, REDJOB_ERR_INVALID, "no key for queue "
		    "%s in namespace \"%s\"", queue, c->ns);
	return 0;
}

/*
 * Run a command and return its reply, which is never an error reply:
 * errors set the client's error and return NULL. Caller frees the reply.
 */
redisReply *
client_command(struct redjob_client *c, int argc, const char **argv,
    const size_t *argvlen)
{
	redisReply *r;

	client_clear(c);
	if ((r = client_raw(c, argc, argv, argvlen)) == NULL)
		return NULL;
	if (r->type == REDIS_REPLY_ERROR) {
		client_reply_error(c, r->str);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

/*
 * Call library function fn on key with argc further arguments: FCALL, or
 * FCALL_RO if fn is registered no-writes. This is the one synchronous
 * FCALL of libredjob and the CLI, whatever the key (a queue's, a lock's,
 * a limiter's). When Redis answers that the library is missing (a restart
 * without persistence, a failover, FUNCTION FLUSH), nothing ran: load it
 * and call once more, once. Returns the reply (never an error reply) or
 * NULL with the error set. Caller frees.
 */
redisReply *
client_fcall_key(struct redjob_client *c, const char *fn, int readonly,
    const char *key, int argc, const char **argv, const size_t *argvlen)
{
	const char **av;
	size_t *lens;
	redisReply *r = NULL;
	int i, n, try;

	client_clear(c);
	av = calloc((size_t)argc + RFUNC_FCALL_HEAD, sizeof *av);
	lens = calloc((size_t)argc + RFUNC_FCALL_HEAD, sizeof *lens);
	if (av == NULL || lens == NULL) {
		free(av);
		free(lens);
		client_error(c, REDJOB_ERR_NOMEM, "out of memory");
		return NULL;
	}
	n = rfunc_fcall_head(av, lens, fn, readonly, key);
	for (i = 0; i < argc; i++) {
		av[n + i] = argv[i];
		lens[n + i] = argvlen != NULL ? argvlen[i] : strlen(argv[i]);
	}
	for (try = 0; try < 2; try++) {
		if ((r = client_raw(c, n + argc, av, lens)) == NULL)
			break;
		if (r->type != REDIS_REPLY_ERROR)
			break;
		if (try == 0 && rfunc_classify(r) == RFUNC_NOLIB) {
			freeReplyObject(r);
			r = NULL;
			if (client_load(c) != 0)
				break;
			continue;
		}
		client_reply_error(c, r->str);
		freeReplyObject(r);
		r = NULL;
		break;
	}
	free(av);
	free(lens);
	return r;
}

/*
 * Call library function fn on a queue: client_fcall_key() on its base
 * key. Returns the reply or NULL with the error set, as that does.
 */
redisReply *
client_fcall(struct redjob_client *c, const char *fn, int readonly,
    const char *queue, int argc, const char **argv, const size_t *argvlen)
{
	char base[SCHEMA_KEY_MAX];

	client_clear(c);
	if (client_base(c, queue, base, sizeof base) != 0)
		return NULL;
	return client_fcall_key(c, fn, readonly, base, argc, argv, argvlen);
}

/*
 * Add a queue to NS:queues, the registry that "redjob stats" reads, once
 * per client. Returns 0 or -1.
 */
int
client_register_queue(struct redjob_client *c, const char *queue)
{
	const char *argv[3];
	char key[SCHEMA_KEY_MAX];
	redisReply *r;
	size_t i;

	for (i = 0; i < c->nknown; i++) {
		if (strcmp(c->known[i], queue) == 0)
			return 0;
	}
	if (schema_registry_key(key, sizeof key, c->ns) != 0)
		return client_error(c, REDJOB_ERR_INVALID, "namespace %s: key "
		    "too long", c->ns);
	argv[0] = "SADD";
	argv[1] = key;
	argv[2] = queue;
	if ((r = client_command(c, 3, argv, NULL)) == NULL)
		return -1;
	freeReplyObject(r);
	if (c->nknown < CLIENT_MAX_QUEUES &&
	    (c->known[c->nknown] = strdup(queue)) != NULL)
		c->nknown++;
	return 0;
}

static int
client_strcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * List the registered queues, sorted. *queues is allocated; free it with
 * client_queues_free(). Returns 0 or -1.
 */
int
client_queues(struct redjob_client *c, char ***queues, size_t *n)
{
	const char *argv[2];
	char key[SCHEMA_KEY_MAX];
	redisReply *r;
	size_t i;

	*queues = NULL;
	*n = 0;
	if (schema_registry_key(key, sizeof key, c->ns) != 0)
		return client_error(c, REDJOB_ERR_INVALID, "namespace %s: key "
		    "too long", c->ns);
	argv[0] = "SMEMBERS";
	argv[1] = key;
	if ((r = client_command(c, 2, argv, NULL)) == NULL)
		return -1;
	if (r->elements > 0 &&
	    (*queues = calloc(r->elements, sizeof **queues)) == NULL) {
		freeReplyObject(r);
		return client_error(c, REDJOB_ERR_NOMEM, "out of memory");
	}
	for (i = 0; i < r->elements; i++) {
		if (r->element[i]->type != REDIS_REPLY_STRING)
			continue;
		if (((*queues)[*n] = strdup(r->element[i]->str)) == NULL)
			break;
		(*n)++;
	}
	freeReplyObject(r);
	if (*n > 1)
		qsort(*queues, *n, sizeof **queues, client_strcmp);
	return 0;
}

void
client_queues_free(char **queues, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(queues[i]);
	free(queues);
}

/* ext's expiry, if its size says the caller's struct has the field. */
static int64_t
client_ext_expire(const struct redjob_ext *ext)
{
	if (ext == NULL || ext->size < offsetof(struct redjob_ext,
	    expire_in_ms) + sizeof ext->expire_in_ms)
		return 0;
	return ext->expire_in_ms;
}

/*
 * Append one job's arguments to av/lens from position n: TYPE PAYLOAD, then
 * (for redjob_enqueue_bulk) the number of option pairs, then the pairs.
 * num holds the job's formatted numbers. Returns the new position.
 */
static int
client_job_args(struct redjob_client *c, const struct redjob_job *j,
    const struct redjob_ext *ext, const char **av, size_t *lens, int n,
    char num[CLIENT_NUMS][24], int bulk)
{
	int64_t expire = client_ext_expire(ext);
	int nopts = 0;

#define ARG(s, l) do { av[n] = (s); lens[n] = (l); n++; } while (0)
#define ARGS(s) ARG((s), strlen(s))
	ARGS(j->type);
	ARG(j->payload != NULL ? j->payload : "", j->payload_len);
	nopts += (c->max_payload != REDJOB_MAX_PAYLOAD_DEFAULT) +
	    (j->at_ms > 0 || j->delay_ms > 0) + (j->key != NULL) +
	    (j->max_attempts > 0) + (j->unique != NULL) +
	    (j->unique != NULL && j->unique_ttl_ms > 0) + (expire > 0);
	if (bulk) {
		snprintf(num[4], sizeof num[4], "%d", nopts);
		ARGS(num[4]);
	}
	if (j->at_ms > 0) {
		snprintf(num[0], sizeof num[0], "%lld", (long long)j->at_ms);
		ARGS("at");
		ARGS(num[0]);
	} else if (j->delay_ms > 0) {
		snprintf(num[0], sizeof num[0], "%lld", (long long)j->delay_ms);
		ARGS("delay");
		ARGS(num[0]);
	}
	if (j->key != NULL) {
		ARGS("key");
		ARGS(j->key);
	}
	if (j->max_attempts > 0) {
		snprintf(num[1], sizeof num[1], "%u", j->max_attempts);
		ARGS("max_attempts");
		ARGS(num[1]);
	}
	if (j->unique != NULL) {
		ARGS("unique");
		ARGS(j->unique);
		if (j->unique_ttl_ms > 0) {
			snprintf(num[2], sizeof num[2], "%lld",
			    (long long)j->unique_ttl_ms);
			ARGS("unique_ttl");
			ARGS(num[2]);
		}
	}
	if (expire > 0) {
		snprintf(num[5], sizeof num[5], "%lld", (long long)expire);
		ARGS("expire_in");
		ARGS(num[5]);
	}
	/* The library's own limit is the default: say only a different one. */
	if (c->max_payload != REDJOB_MAX_PAYLOAD_DEFAULT) {
		snprintf(num[3], sizeof num[3], "%zu", c->max_payload);
		ARGS("max_payload");
		ARGS(num[3]);
	}
#undef ARG
#undef ARGS
	return n;
}

/*
 * The queue of a job of type with no queue given, into out: the one the
 * type table that redjobd publishes (NS:types) gives the type, else
 * "default". Looked up once per type and connection (for the first
 * CLIENT_MAX_QUEUES types). Returns 0, or -1 on an error (the client
 * says which).
 */
static int
client_route(struct redjob_client *c, const char *type, char *out,
    size_t len)
{
	const char *argv[3];
	char key[SCHEMA_KEY_MAX], msg[160];
	redisReply *r;
	size_t i;

	for (i = 0; i < c->nroutes; i++) {
		if (strcmp(c->route_type[i], type) == 0) {
			snprintf(out, len, "%s", c->route_queue[i]);
			return 0;
		}
	}
	snprintf(out, len, "%s", REDJOB_QUEUE_DEFAULT);
	if (schema_types_key(key, sizeof key, c->ns) != 0)
		return 0;
	argv[0] = "HGET";
	argv[1] = key;
	argv[2] = type;
	if ((r = client_command(c, 3, argv, NULL)) == NULL)
		return -1;
	/* A value that is not a queue name is ignored, not obeyed. */
	if (r->type == REDIS_REPLY_STRING &&
	    schema_check_queue(r->str, msg, sizeof msg) == 0)
		snprintf(out, len, "%s", r->str);
	freeReplyObject(r);
	if (c->nroutes < CLIENT_MAX_QUEUES &&
	    (c->route_type[c->nroutes] = strdup(type)) != NULL) {
		if ((c->route_queue[c->nroutes] = strdup(out)) != NULL)
			c->nroutes++;
		else
			free(c->route_type[c->nroutes]);
	}
	return 0;
}

static long long	client_now_ms(void);

/*
 * The number of shards of queue, from the shard table that redjobd
 * publishes (NS:shards): 1 when it names none. Cached for
 * CLIENT_SHARDS_MS, so a producer follows a change within a minute. A
 * table that cannot be read (its master down, an ACL from before the
 * table) leaves the count last read, or 1, for as long: the job still
 * goes to a shard that is served, never nowhere.
 */
static void
client_shards(struct redjob_client *c, const char *queue, unsigned *n)
{
	const char *argv[3];
	char key[SCHEMA_KEY_MAX];
	redisReply *r;
	long long now = client_now_ms();
	size_t i;

	*n = 1;
	for (i = 0; i < c->nshards; i++) {
		if (strcmp(c->shard_queue[i], queue) == 0)
			break;
	}
	if (i < c->nshards) {
		*n = c->shard_n[i];
		if (now - c->shard_at[i] < CLIENT_SHARDS_MS)
			return;
	}
	if (schema_shards_key(key, sizeof key, c->ns) != 0)
		return;
	argv[0] = "HGET";
	argv[1] = key;
	argv[2] = queue;
	if ((r = client_command(c, 3, argv, NULL)) != NULL) {
		*n = r->type == REDIS_REPLY_STRING ?
		    schema_shards_parse(r->str) : 1;
		freeReplyObject(r);
	}
	client_clear(c);
	if (i == c->nshards) {
		if (i == CLIENT_MAX_QUEUES ||
		    (c->shard_queue[i] = strdup(queue)) == NULL)
			return;
		c->nshards++;
	}
	c->shard_n[i] = *n;
	c->shard_at[i] = now;
}

/*
 * Put a job of a sharded queue in one of its shards (docs/protocol.md,
 * sharded queues): by its key, else by its unique key, so that the jobs
 * of one key keep their order and a unique key stays unique in the
 * queue; else in turn, pos being the job's place among the call's
 * count jobs: a call's jobs are cut into one run per shard (of at most a
 * bulk call's jobs each), so that a batch is spread evenly and still goes
 * in bulk calls. A queue given as a shard already (QUEUE~K) stays.
 * Returns 0 or an enum redjob_err.
 */
static int
client_shard_job(struct redjob_client *c, const struct redjob_job *j,
    size_t pos, size_t count, char **queue, char *msg, size_t len)
{
	char name[SCHEMA_QUEUE_MAX + 8], *q;
	unsigned n, k;
	size_t run;

	if (strchr(*queue, '~') != NULL)
		return REDJOB_OK;
	client_shards(c, *queue, &n);
	if (n <= 1)
		return REDJOB_OK;
	if (j->key != NULL)
		k = schema_shard_of(j->key, strlen(j->key), n);
	else if (j->unique != NULL)
		k = schema_shard_of(j->unique, strlen(j->unique), n);
	else {
		run = (count + n - 1) / n;
		if (run > CLIENT_CHUNK)
			run = CLIENT_CHUNK;
		k = (unsigned)((c->spread + pos / run) % n);
	}
	if (schema_shard_name(name, sizeof name, *queue, k) != 0 ||
	    (q = strdup(name)) == NULL) {
		snprintf(msg, len, "out of memory");
		return REDJOB_ERR_NOMEM;
	}
	free(*queue);
	*queue = q;
	return REDJOB_OK;
}

/* Check a job before anything is sent. Returns 0 or an enum redjob_err. */
static int
client_check_job(struct redjob_client *c, const struct redjob_job *j,
    const struct redjob_ext *ext, size_t pos, size_t count, char **queue,
    char *msg, size_t len)
{
	int err;

	char routed[REDJOB_ID_MAX];

	if (j->type == NULL || *j->type == '\0') {
		snprintf(msg, len, "a job needs a type");
		return REDJOB_ERR_INVALID;
	}
	if (j->queue == NULL && client_route(c, j->type, routed,
	    sizeof routed) != 0) {
		snprintf(msg, len, "%s", c->errstr);
		return c->err;
	}
	if ((*queue = strdup(j->queue != NULL ? j->queue : routed)) == NULL) {
		snprintf(msg, len, "out of memory");
		return REDJOB_ERR_NOMEM;
	}
	if (schema_check_queue(*queue, msg, len) != 0)
		return REDJOB_ERR_INVALID;
	if ((err = client_shard_job(c, j, pos, count, queue, msg,
	    len)) != REDJOB_OK)
		return err;
	if (j->payload == NULL && j->payload_len > 0) {
		snprintf(msg, len, "payload is NULL but payload_len is %zu",
		    j->payload_len);
		return REDJOB_ERR_INVALID;
	}
	/* Refuse here what the server would refuse, without sending it. */
	if (j->payload_len > c->max_payload) {
		snprintf(msg, len, "payload of %zu bytes is over the limit of "
		    "%zu bytes", j->payload_len, c->max_payload);
		return REDJOB_ERR_TOOBIG;
	}
	if (j->delay_ms < 0 || j->at_ms < 0 || j->unique_ttl_ms < 0) {
		snprintf(msg, len, "negative delay, time or unique window");
		return REDJOB_ERR_INVALID;
	}
	if (client_ext_expire(ext) < 0) {
		snprintf(msg, len, "negative expiry");
		return REDJOB_ERR_INVALID;
	}
	return REDJOB_OK;
}

/* Decode an enqueue reply into a result. */
static void
client_enqueue_result(struct redjob_client *c, redisReply *r,
    struct redjob_result *res)
{
	if (r->type == REDIS_REPLY_ERROR) {
		client_reply_error(c, r->str);
		res->err = c->err;
		snprintf(res->message, sizeof res->message, "%s", c->errstr);
		return;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[0]->len >= REDJOB_ID_MAX) {
		res->err = REDJOB_ERR_REDIS;
		snprintf(res->message, sizeof res->message, "unexpected reply "
		    "to redjob_enqueue");
		return;
	}
	res->err = REDJOB_OK;
	memcpy(res->id, r->element[0]->str, r->element[0]->len);
	res->id[r->element[0]->len] = '\0';
	res->created = r->element[1]->type == REDIS_REPLY_INTEGER &&
	    r->element[1]->integer == 1;
}

/* Free the queue names client_check_job() gave each job. */
static void
client_free_queues(char **qs, size_t n)
{
	size_t i;

	if (qs == NULL)
		return;
	for (i = 0; i < n; i++)
		free(qs[i]);
	free(qs);
}

/*
 * The outcomes of the cnt jobs idx[0..cnt) of one enqueue call from its
 * reply: {id, created} pairs, or one error for all. Returns how many are
 * in.
 */
static size_t
client_enqueue_replies(struct redjob_client *c, redisReply *r,
    const size_t *idx, size_t cnt, struct redjob_result *results)
{
	redisReply pair, *el[2];
	size_t m, ok = 0;

	for (m = 0; m < cnt; m++) {
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 * cnt) {
			memset(&pair, 0, sizeof pair);
			pair.type = REDIS_REPLY_ARRAY;
			pair.elements = 2;
			el[0] = r->element[2 * m];
			el[1] = r->element[2 * m + 1];
			pair.element = el;
			client_enqueue_result(c, &pair, &results[idx[m]]);
		} else
			client_enqueue_result(c, r, &results[idx[m]]);
		ok += results[idx[m]].err == REDJOB_OK;
	}
	return ok;
}

/*
 * On a cluster: cnt jobs of one queue, idx[0..cnt), in one call to the
 * queue's master (client_cluster_raw() follows redirections), their
 * outcomes into results. A master without the library gets it and the
 * call again; a refused call of several jobs is sent again job by job,
 * so that each gets its own answer. Returns the jobs enqueued; sets
 * *lost when a connection failed (those jobs stay REDJOB_ERR_IO: they
 * may or may not be in).
 */
static size_t
client_enqueue_chunk(struct redjob_client *c, const struct redjob_job *jobs,
    const struct redjob_ext *const *exts, const char *queue,
    const size_t *idx, size_t cnt, char (*nums)[CLIENT_NUMS][24],
    struct redjob_result *results, int *lost)
{
	char base[SCHEMA_KEY_MAX], count[24];
	const char **av;
	size_t *lens, m, ok = 0;
	redisReply *r = NULL;
	int argc, try;

	if (schema_queue_base(base, sizeof base, c->ns, queue) != 0)
		return 0;	/* checked before: cannot happen */
	av = calloc(RFUNC_FCALL_HEAD + 1 + 21 * cnt, sizeof *av);
	lens = calloc(RFUNC_FCALL_HEAD + 1 + 21 * cnt, sizeof *lens);
	if (av == NULL || lens == NULL) {
		free(av);
		free(lens);
		client_error(c, REDJOB_ERR_NOMEM, "out of memory");
		for (m = 0; m < cnt; m++)
			snprintf(results[idx[m]].message,
			    sizeof results[idx[m]].message, "out of memory");
		return 0;
	}
	argc = rfunc_fcall_head(av, lens, cnt > 1 ? "redjob_enqueue_bulk" :
	    "redjob_enqueue", 0, base);
	if (cnt > 1) {
		snprintf(count, sizeof count, "%zu", cnt);
		lens[argc] = strlen(count);
		av[argc++] = count;
	}
	for (m = 0; m < cnt; m++)
		argc = client_job_args(c, &jobs[idx[m]], exts != NULL ?
		    exts[idx[m]] : NULL, av, lens, argc, nums[idx[m]], cnt > 1);
	for (try = 0; try < 2; try++) {
		if ((r = client_cluster_raw(c, argc, av, lens)) == NULL)
			break;
		if (try == 0 && rfunc_classify(r) == RFUNC_NOLIB) {
			freeReplyObject(r);
			r = NULL;
			if (client_load(c) != 0)
				break;
			continue;
		}
		break;
	}
	free(av);
	free(lens);
	if (r == NULL) {
		*lost = 1;
		for (m = 0; m < cnt; m++)
			snprintf(results[idx[m]].message,
			    sizeof results[idx[m]].message, "%s", c->errstr);
		return 0;
	}
	if (r->type == REDIS_REPLY_ERROR && cnt > 1) {
		freeReplyObject(r);
		for (m = 0; m < cnt; m++)
			ok += client_enqueue_chunk(c, jobs, exts, queue,
			    idx + m, 1, nums, results, lost);
		return ok;
	}
	ok = client_enqueue_replies(c, r, idx, cnt, results);
	freeReplyObject(r);
	return ok;
}

static long
client_enqueue_many(struct redjob_client *c, const struct redjob_job *jobs,
    const struct redjob_ext *const *exts, size_t n,
    struct redjob_result *results)
{
	const char **av, *queue;
	char **qs = NULL;
	size_t *lens, *pend = NULL, i, k, m, np, chunk, chunk_max, ok = 0;
	char base[SCHEMA_KEY_MAX], count[24], (*nums)[CLIENT_NUMS][24] = NULL;
	redisReply *r;
	int argc, pass = 0, nolib, split, rc, nsent;
	void *vr;

	client_clear(c);
	/*
	 * Drop a connection the server closed before the cache of queues in
	 * NS:queues is trusted: the Redis behind it may have lost the set.
	 */
	if (c->ctx != NULL)
		(void)client_ensure(c);
	/* Each job's queue, routed by its type when it names none. */
	if ((qs = calloc(n + 1, sizeof *qs)) == NULL)
		return client_error(c, REDJOB_ERR_NOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		memset(&results[i], 0, sizeof results[i]);
		results[i].err = client_check_job(c, &jobs[i], exts != NULL ?
		    exts[i] : NULL, i, n, &qs[i],
		    results[i].message, sizeof results[i].message);
		/*
		 * A shard this client chose is registered as its queue
		 * (redjobd registers the shards it serves); one the caller
		 * named, as itself.
		 */
		queue = qs[i];
		if (results[i].err == REDJOB_OK && (jobs[i].queue == NULL ||
		    strchr(jobs[i].queue, '~') == NULL) &&
		    schema_shard_split(qs[i], base, sizeof base, NULL) == 0)
			queue = base;
		if (results[i].err == REDJOB_OK &&
		    client_register_queue(c, queue) != 0) {
			for (; i < n; i++) {
				results[i].err = c->err;
				snprintf(results[i].message,
				    sizeof results[i].message, "%s", c->errstr);
			}
			client_free_queues(qs, n);
			return -1;
		}
		/* Marked "not sent yet". */
		if (results[i].err == REDJOB_OK)
			results[i].err = REDJOB_ERR_IO;
	}
	c->spread++;	/* the next call starts on the next shard */
	/*
	 * Jobs go in chunks: runs of up to CLIENT_CHUNK jobs of one queue, one
	 * redjob_enqueue_bulk call each, all pipelined. A second pass follows
	 * when the library had vanished (a restart, FUNCTION FLUSH: every
	 * call failed before running, so load it and resend those jobs), or
	 * when a chunk was refused (the function checks every job before it
	 * writes any, so nothing of it was written): its jobs are then sent
	 * one by one, so that each gets its own answer.
	 */
	if ((pend = calloc(n, sizeof *pend)) == NULL ||
	    (nums = calloc(n, sizeof *nums)) == NULL) {
		client_error(c, REDJOB_ERR_NOMEM, "out of memory");
		goto io_loaded;
	}
	chunk_max = CLIENT_CHUNK;
	if (c->url.cluster) {
		/* Runs of one queue, each to its own master, in order. */
		np = 0;
		for (i = 0; i < n; i++) {
			if (results[i].err == REDJOB_ERR_IO)
				pend[np++] = i;
		}
		split = 0;
		for (k = 0; k < np; k += chunk) {
			for (chunk = 1; chunk < chunk_max && k + chunk < np;
			    chunk++) {
				if (strcmp(qs[pend[k + chunk]],
				    qs[pend[k]]) != 0)
					break;
			}
			ok += client_enqueue_chunk(c, jobs, exts, qs[pend[k]],
			    pend + k, chunk, nums, results, &split);
		}
		if (split)
			goto io_loaded;
		pass = 3;	/* done */
	}
	for (; pass < 3; pass++) {
		np = 0;
		for (i = 0; i < n; i++) {
			if (results[i].err == REDJOB_ERR_IO &&
			    results[i].message[0] == '\0')
				pend[np++] = i;
		}
		if (np == 0)
			break;
		if (client_ensure(c) != 0)	/* it has said why */
			goto io_loaded;
		nsent = 0;
		for (k = 0; k < np; k += chunk) {
			queue = qs[pend[k]];
			for (chunk = 1; chunk < chunk_max && k + chunk < np;
			    chunk++) {
				if (strcmp(qs[pend[k + chunk]], queue) != 0)
					break;
			}
			/* The queue and the namespace were checked: it fits. */
			if (schema_queue_base(base, sizeof base, c->ns,
			    queue) != 0) {
				client_error(c, REDJOB_ERR_INVALID,
				    "no key for queue %s", queue);
				goto io_sent;
			}
			/* The head, the count, at most 21 per job. */
			av = calloc(RFUNC_FCALL_HEAD + 1 + 21 * chunk,
			    sizeof *av);
			lens = calloc(RFUNC_FCALL_HEAD + 1 + 21 * chunk,
			    sizeof *lens);
			if (av == NULL || lens == NULL) {
				free(av);
				free(lens);
				client_error(c, REDJOB_ERR_NOMEM, "out of memory");
				goto io_sent;
			}
			argc = rfunc_fcall_head(av, lens, chunk > 1 ?
			    "redjob_enqueue_bulk" : "redjob_enqueue", 0, base);
			if (chunk > 1) {
				snprintf(count, sizeof count, "%zu", chunk);
				lens[argc] = strlen(count);
				av[argc++] = count;
			}
			for (m = 0; m < chunk; m++)
				argc = client_job_args(c, &jobs[pend[k + m]],
				    exts != NULL ? exts[pend[k + m]] : NULL,
				    av, lens, argc, nums[pend[k + m]], chunk > 1);
			rc = redisAppendCommandArgv(c->ctx, argc, av, lens);
			free(av);
			free(lens);
			if (rc != REDIS_OK)
				goto io_sent;
			nsent++;
		}
		nolib = split = 0;
		for (k = 0; k < np; k += chunk) {
			queue = qs[pend[k]];
			for (chunk = 1; chunk < chunk_max && k + chunk < np;
			    chunk++) {
				if (strcmp(qs[pend[k + chunk]], queue) != 0)
					break;
			}
			if (redisGetReply(c->ctx, &vr) != REDIS_OK)
				goto io_sent;
			r = vr;
			nsent--;
			if (rfunc_classify(r) == RFUNC_NOLIB && pass == 0) {
				nolib = 1;	/* all stay unsent */
			} else if (r->type == REDIS_REPLY_ERROR && chunk > 1) {
				split = 1;	/* resent one by one */
			} else
				ok += client_enqueue_replies(c, r, pend + k,
				    chunk, results);
			freeReplyObject(r);
		}
		if (split)
			chunk_max = 1;
		if (nolib && client_load(c) != 0)
			goto io_loaded;
		if (!nolib && !split)
			break;
	}
	free(pend);
	free(nums);
	client_free_queues(qs, n);
	pend = NULL;
	nums = NULL;
	if (ok < n && c->err == REDJOB_OK) {
		for (i = 0; i < n; i++) {
			if (results[i].err != REDJOB_OK) {
				client_error(c, results[i].err, "%s",
				    results[i].message);
				break;
			}
		}
	}
	return (long)ok;
io_sent:
	client_io_error(c);
io_loaded:
	free(pend);
	free(nums);
	client_free_queues(qs, n);
	for (i = 0; i < n; i++) {
		if (results[i].err == REDJOB_ERR_IO &&
		    results[i].message[0] == '\0')
			snprintf(results[i].message, sizeof results[i].message,
			    "%s", c->errstr);
	}
	return -1;
}

int
redjob_cancel(struct redjob_client *c, const char *id, const char *reason,
    char *state, size_t len)
{
	struct client_sigpipe sp;
	char queue[REDJOB_ID_MAX];
	const char *argv[2];
	redisReply *r;

	client_clear(c);
	if (id == NULL || schema_job_queue(id, queue, sizeof queue) != 0)
		return client_error(c, REDJOB_ERR_INVALID, "job id \"%s\" is "
		    "not QUEUE:N", id != NULL ? id : "(null)");
	argv[0] = id;
	argv[1] = reason != NULL ? reason : "cancelled";
	client_sigpipe_block(&sp);
	r = client_fcall(c, "redjob_cancel", 0, queue, 2, argv, NULL);
	client_sigpipe_restore(&sp);
	if (r == NULL)
		return -1;
	if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS) {
		freeReplyObject(r);
		return client_error(c, REDJOB_ERR_REDIS, "unexpected reply to "
		    "redjob_cancel");
	}
	if (state != NULL && len > 0)
		snprintf(state, len, "%s", r->str);
	freeReplyObject(r);
	return 0;
}

long
redjob_enqueue_many_ext(struct redjob_client *c,
    const struct redjob_job *jobs, const struct redjob_ext *const *exts,
    size_t n, struct redjob_result *results)
{
	struct client_sigpipe sp;
	long rc;

	client_sigpipe_block(&sp);
	rc = client_enqueue_many(c, jobs, exts, n, results);
	client_sigpipe_restore(&sp);
	return rc;
}

long
redjob_enqueue_many(struct redjob_client *c, const struct redjob_job *jobs,
    size_t n, struct redjob_result *results)
{
	return redjob_enqueue_many_ext(c, jobs, NULL, n, results);
}

int
redjob_enqueue_ext(struct redjob_client *c, const struct redjob_job *job,
    const struct redjob_ext *ext, char id[REDJOB_ID_MAX], int *created)
{
	struct redjob_result res;

	if (redjob_enqueue_many_ext(c, job, &ext, 1, &res) != 1) {
		if (c->err == REDJOB_OK)
			client_error(c, res.err, "%s", res.message);
		return -1;
	}
	memcpy(id, res.id, REDJOB_ID_MAX);
	if (created != NULL)
		*created = res.created;
	return 0;
}

int
redjob_enqueue_ex(struct redjob_client *c, const struct redjob_job *job,
    char id[REDJOB_ID_MAX], int *created)
{
	return redjob_enqueue_ext(c, job, NULL, id, created);
}

int
redjob_enqueue(struct redjob_client *c, const struct redjob_job *job,
    char id[REDJOB_ID_MAX])
{
	return redjob_enqueue_ex(c, job, id, NULL);
}

/* ---------------------------------------------------------------------
 * Waiting for a job (docs/protocol.md, "Waiting for a job").
 */

#define CLIENT_WAIT_TRIES 5		/* connections lost in a row */
#define CLIENT_WAIT_PAUSE_MS 200	/* before the first reconnect */

/* Milliseconds of the monotonic clock. */
static long long
client_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Open the connection a wait listens on and subscribe it to chan.
 * Returns the connection, or NULL with the error set (REDJOB_ERR_IO:
 * worth trying again).
 */
static redisContext *
client_wait_subscribe(struct redjob_client *c, const char *chan)
{
	struct timeval tv = { CLIENT_TIMEOUT_MS / 1000,
		(CLIENT_TIMEOUT_MS % 1000) * 1000 };
	struct client_sigpipe sp;
	const char *argv[3];
	redisContext *ctx;
	redisReply *r;
	int argc = 0, ok;

	if (c->url.path[0] != '\0')
		ctx = redisConnectUnixWithTimeout(c->url.path, tv);
	else
		ctx = redisConnectWithTimeout(c->url.host, c->url.port, tv);
	if (ctx == NULL) {
		client_error(c, REDJOB_ERR_NOMEM, "out of memory");
		return NULL;
	}
	if (ctx->err != 0) {
		client_error(c, REDJOB_ERR_IO, "cannot connect to redis: %s",
		    ctx->errstr);
		redisFree(ctx);
		return NULL;
	}
	redisSetTimeout(ctx, tv);
	if (c->url.path[0] == '\0')
		redisEnableKeepAlive(ctx);
	client_sigpipe_block(&sp);
	r = NULL;
	ok = 1;
	if (c->url.password[0] != '\0') {
		argv[argc++] = "AUTH";
		if (c->url.user[0] != '\0')
			argv[argc++] = c->url.user;
		argv[argc++] = c->url.password;
		r = redisCommandArgv(ctx, argc, argv, NULL);
		if (r == NULL)
			ok = 0;
		else if (r->type == REDIS_REPLY_ERROR) {
			client_error(c, REDJOB_ERR_AUTH, "redis refused the "
			    "password: %s", r->str);
			ok = -1;
		}
		freeReplyObject(r);
		r = NULL;
	}
	if (ok == 1) {
		argv[0] = "SUBSCRIBE";
		argv[1] = chan;
		if ((r = redisCommandArgv(ctx, 2, argv, NULL)) == NULL)
			ok = 0;
		else if (r->type == REDIS_REPLY_ERROR) {
			client_reply_error(c, r->str);
			ok = -1;
		} else if (r->type != REDIS_REPLY_ARRAY || r->elements != 3) {
			client_error(c, REDJOB_ERR_REDIS, "unexpected reply to "
			    "SUBSCRIBE");
			ok = -1;
		}
		freeReplyObject(r);
	}
	client_sigpipe_restore(&sp);
	if (ok == 0)
		client_error(c, REDJOB_ERR_IO, "redis: %s", ctx->err != 0 ?
		    ctx->errstr : "connection lost");
	if (ok != 1) {
		redisFree(ctx);
		return NULL;
	}
	return ctx;
}

/*
 * Wait for one message on the subscribed connection until deadline (< 0:
 * none). Returns 1 (a message came), 0 (the deadline passed) or -1 (the
 * connection was lost; the error is set).
 */
static int
client_wait_message(struct redjob_client *c, redisContext *ctx,
    long long deadline)
{
	struct pollfd pfd;
	void *reply;
	redisReply *r;
	long long left;
	int n, msg;

	for (;;) {
		reply = NULL;
		if (redisGetReplyFromReader(ctx, &reply) != REDIS_OK)
			break;
		if ((r = reply) != NULL) {
			msg = r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
			    r->element[0]->type == REDIS_REPLY_STRING &&
			    strcmp(r->element[0]->str, "message") == 0;
			freeReplyObject(r);
			if (msg)
				return 1;
			continue;
		}
		left = deadline < 0 ? -1 : deadline - client_now_ms();
		if (deadline >= 0 && left <= 0)
			return 0;
		pfd.fd = ctx->fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		n = poll(&pfd, 1, left < 0 || left > 1000000 ? 1000000 :
		    (int)left);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			client_error(c, REDJOB_ERR_IO, "redis: poll: %s",
			    strerror(errno));
			return -1;
		}
		if (n > 0 && redisBufferRead(ctx) != REDIS_OK)
			break;
	}
	client_error(c, REDJOB_ERR_IO, "redis: %s", ctx->err == REDIS_ERR_EOF ?
	    "connection closed by the server" : ctx->errstr[0] != '\0' ?
	    ctx->errstr : "connection lost");
	return -1;
}

/* A copy of a reply string (NUL after it), or NULL when out of memory. */
static char *
client_dup(const redisReply *r)
{
	char *s;

	if ((s = malloc(r->len + 1)) == NULL)
		return NULL;
	memcpy(s, r->str, r->len);
	s[r->len] = '\0';
	return s;
}

/*
 * Read the job once (redjob_result) and, if it has finished, fill out.
 * Returns 1 (finished: out filled), 0 (not yet; *type is its type, to be
 * freed) or -1 (the error is set).
 */
static int
client_wait_read(struct redjob_client *c, const char *queue, const char *id,
    struct redjob_wait_result *out, char **type)
{
	static const struct {
		const char	*state;
		int		 outcome;
	} ends[] = {
		{ "dead", REDJOB_OUTCOME_DEAD },
		{ "cancelled", REDJOB_OUTCOME_CANCELLED },
		{ "expired", REDJOB_OUTCOME_EXPIRED },
	};
	redisReply *r, **e;
	const char *state;
	size_t i;
	int rc = 0;

	if ((r = client_fcall(c, "redjob_result", 1, queue, 1, &id,
	    NULL)) == NULL)
		return -1;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 6) {
		freeReplyObject(r);
		return client_error(c, REDJOB_ERR_REDIS, "unexpected reply to "
		    "redjob_result");
	}
	e = r->element;
	for (i = 0; i < 6; i++) {
		if (e[i]->type != REDIS_REPLY_STRING) {
			freeReplyObject(r);
			return client_error(c, REDJOB_ERR_REDIS, "unexpected "
			    "reply to redjob_result");
		}
	}
	state = e[0]->str;
	if (strcmp(state, "done") == 0 && strcmp(e[4]->str, "-1") == 0)
		rc = client_error(c, REDJOB_ERR_STATE, "job %s is done, but "
		    "job type %s keeps no result: add result: to its "
		    "configuration", id, e[1]->str);
	else if (strcmp(state, "done") == 0) {
		out->outcome = REDJOB_OUTCOME_DONE;
		out->result = client_dup(e[3]);
		out->result_len = e[3]->len;
		out->result_size = strtoull(e[4]->str, NULL, 10);
		out->truncated = strcmp(e[5]->str, "1") == 0;
		rc = out->result != NULL ? 1 : client_error(c,
		    REDJOB_ERR_NOMEM, "out of memory");
	} else if (strcmp(state, "gone") == 0)
		rc = client_error(c, REDJOB_ERR_NOJOB, "job %s has finished "
		    "and is no longer kept: its result expired (result: ttl), "
		    "or its job type keeps no result (add result: to its "
		    "configuration)", id);
	else if (strcmp(state, "orphan") == 0)
		rc = client_error(c, REDJOB_ERR_STATE, "job %s is in no state "
		    "(its hash was left by hand; redjob rm deletes it)", id);
	else {
		for (i = 0; i < sizeof ends / sizeof ends[0]; i++) {
			if (strcmp(state, ends[i].state) == 0)
				break;
		}
		if (i < sizeof ends / sizeof ends[0]) {
			out->outcome = ends[i].outcome;
			out->error = client_dup(e[2]);
			rc = out->error != NULL ? 1 : client_error(c,
			    REDJOB_ERR_NOMEM, "out of memory");
		} else if ((*type = client_dup(e[1])) == NULL)
			rc = client_error(c, REDJOB_ERR_NOMEM, "out of memory");
	}
	freeReplyObject(r);
	return rc;
}

/*
 * Whether the type table (NS:types) says that jobs of type keep no
 * result: it names the type but not "TYPE result" (src/beat.c). A table
 * that does not know the type says nothing: a worker that does may come.
 * Returns 0, or -1 with the error set (REDJOB_ERR_STATE: it keeps none).
 */
static int
client_wait_no_result(struct redjob_client *c, const char *type)
{
	const char *argv[4];
	char key[SCHEMA_KEY_MAX], field[160];
	redisReply *r;
	int rc = 0;

	if (schema_types_key(key, sizeof key, c->ns) != 0)
		return 0;
	snprintf(field, sizeof field, "%s result", type);
	argv[0] = "HMGET";
	argv[1] = key;
	argv[2] = type;
	argv[3] = field;
	if ((r = client_command(c, 4, argv, NULL)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[0]->type == REDIS_REPLY_STRING &&
	    r->element[1]->type == REDIS_REPLY_NIL)
		rc = 1;
	freeReplyObject(r);
	if (rc == 1)
		return client_error(c, REDJOB_ERR_STATE, "job type %s keeps "
		    "no result: add result: to its configuration", type);
	return 0;
}

int
redjob_wait(struct redjob_client *c, const char *id, long timeout_ms,
    struct redjob_wait_result *out)
{
	char queue[REDJOB_ID_MAX], base[SCHEMA_KEY_MAX];
	char chan[SCHEMA_KEY_MAX + 32], err[256];
	redisContext *sub = NULL;
	const char *colon, *n;
	char *type = NULL;
	long long deadline;
	int rc, lost = 0, checked = 0, pause = CLIENT_WAIT_PAUSE_MS;

	client_clear(c);
	memset(out, 0, sizeof *out);
	deadline = timeout_ms < 0 ? -1 : client_now_ms() + timeout_ms;
	if (id == NULL || (colon = strrchr(id, ':')) == NULL ||
	    colon == id || (size_t)(colon - id) >= sizeof queue ||
	    colon[1] == '\0' || strspn(colon + 1, "0123456789") !=
	    strlen(colon + 1))
		return client_error(c, REDJOB_ERR_INVALID, "job id \"%s\" is "
		    "not QUEUE:N", id != NULL ? id : "(null)");
	memcpy(queue, id, (size_t)(colon - id));
	queue[colon - id] = '\0';
	n = colon + 1;
	if (schema_check_queue(queue, err, sizeof err) != 0)
		return client_error(c, REDJOB_ERR_INVALID, "%s", err);
	if (client_base(c, queue, base, sizeof base) != 0)
		return -1;
	snprintf(chan, sizeof chan, "%s:fin:%s", base, n);

	for (;;) {
		/*
		 * Subscribed first, then read: no end can fall between. The
		 * command connection is made first, so that through sentinels
		 * the waiter listens on the master they name now.
		 */
		rc = -1;
		if (sub == NULL && (client_ensure(c) != 0 ||
		    (sub = client_wait_subscribe(c, chan)) == NULL))
			goto lost;
		for (;;) {
			free(type);
			type = NULL;
			if ((rc = client_wait_read(c, queue, id, out,
			    &type)) != 0)
				break;
			if (!checked) {
				checked = 1;
				if ((rc = client_wait_no_result(c, type)) != 0)
					break;
			}
			lost = 0;
			pause = CLIENT_WAIT_PAUSE_MS;
			if ((rc = client_wait_message(c, sub, deadline)) != 1)
				break;
		}
		if (rc == 0) {
			out->outcome = REDJOB_OUTCOME_TIMEOUT;
			break;
		}
		if (rc == 1) {
			rc = 0;
			break;
		}
lost:
		/* Only a lost connection is worth another round. */
		if (c->err != REDJOB_ERR_IO || ++lost > CLIENT_WAIT_TRIES)
			break;
		if (sub != NULL) {
			redisFree(sub);
			sub = NULL;
		}
		if (deadline >= 0 && client_now_ms() + pause >= deadline) {
			out->outcome = REDJOB_OUTCOME_TIMEOUT;
			rc = 0;
			break;
		}
		poll(NULL, 0, pause);
		if (pause < 2000)
			pause *= 2;
	}
	if (sub != NULL)
		redisFree(sub);
	free(type);
	if (rc != 0) {
		if (c->err == REDJOB_ERR_IO && lost > CLIENT_WAIT_TRIES)
			snprintf(c->errstr + strlen(c->errstr),
			    sizeof c->errstr - strlen(c->errstr), " (while "
			    "waiting for job %s; %d tries)", id,
			    CLIENT_WAIT_TRIES + 1);
		redjob_wait_result_free(out);
		return -1;
	}
	client_clear(c);
	return 0;
}

void
redjob_wait_result_free(struct redjob_wait_result *r)
{
	if (r == NULL)
		return;
	free(r->result);
	free(r->error);
	r->result = r->error = NULL;
	r->result_len = 0;
}
