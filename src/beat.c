/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A worker's entry in the worker registry (docs/protocol.md, "the worker
 * registry"), refreshed every BEAT_PERIOD_MS on the worker's command
 * connection:
 *
 *   - per queue, redjob_beat puts the worker in NS:{QUEUE}:seen with the
 *     job types it knows, for redjob_why, and returns the server's time;
 *   - NS:worker:OWNER, a hash with a TTL of BEAT_TTL_MS, says who the
 *     worker is, what it runs and when it last consumed (a claim that
 *     went through, or a worker idle on live connections whose last
 *     claim did), for redjob workers and redjob health;
 *   - NS:workers lists the owner ids, so readers find the hashes without
 *     scanning the keyspace.
 *
 * Every time written is the server's (ms), estimated between replies as
 * the last server time plus our monotonic clock's advance since, so
 * readers on other hosts compare it with Redis's TIME, not with their
 * clocks. A worker that dies without leaving disappears when its hash
 * expires; its supervisor removes it sooner (release.c).
 */
#include "autoconf.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "beat.h"
#include "compat.h"
#include "config.h"
#include "log.h"
#include "mtime.h"
#include "rconn.h"
#include "schema.h"
#include "xmalloc.h"

#define BEAT_CALL_MS 5000
#define BEAT_TYPES_EVERY 30	/* beats between two type tables */

struct beat {
	struct rconn		*rc;
	struct event		*ev;
	const struct config	*cfg;
	char *const		*bases;		/* NS:{QUEUE}, the worker's */
	size_t			 nqueues;
	beat_report_cb		*cb;
	void			*arg;

	char			 key[SCHEMA_KEY_MAX];	/* NS:worker:OWNER */
	char			 set[SCHEMA_KEY_MAX];	/* NS:workers */
	char			 types[SCHEMA_KEY_MAX];	/* NS:types */
	unsigned		 types_due;	/* beats until the next */
	char			 owner[64];
	char			 host[256];
	char			 hostpid[300];	/* HOST:PID, for redjob_beat */
	char			 pid[24], ppid[24], slot[24], slots[24];
	char			*queues;	/* "mail,default" */
	const char	       **argv;		/* redjob_beat's arguments */
	size_t			 argc;

	uint64_t		 created;	/* our clock */
	long long		 offset;	/* server ms - our clock */
	int			 have_offset;
	long long		 started;	/* server ms */
	long long		 ok;		/* server ms of the last claim */
	unsigned		 out;		/* calls in flight */
	int			 left;
	struct log_ratelimit	 errors;
};

/* The server's time now, by our clock, or 0 when not known yet. */
static long long
beat_server_now(const struct beat *b)
{
	if (!b->have_offset)
		return 0;
	return (long long)mtime_now() + b->offset;
}

static void
beat_learn_time(struct beat *b, long long server_ms)
{
	if (server_ms <= 0)
		return;
	b->offset = server_ms - (long long)mtime_now();
	if (!b->have_offset) {
		b->have_offset = 1;
		b->started = (long long)b->created + b->offset;
	}
}

static void
beat_reply_cb(struct rconn *rc, redisReply *r, void *arg)
{
	struct beat *b = arg;
	unsigned n;

	(void)rc;
	assert(b->out > 0);
	b->out--;
	if (r == NULL)
		return;		/* the connection's own events say why */
	if (r->type == REDIS_REPLY_ERROR) {
		log_ratelimit(&b->errors, LOG_LEVEL_WARNING, "worker "
		    "registry: %s (redjob workers and redjob why may not see "
		    "this worker)", r->str);
		return;
	}
	if ((n = log_ratelimit_end(&b->errors)) > 0)
		log_info("worker registry: written again after %u failure%s",
		    n, n == 1 ? "" : "s");
	/* redjob_beat answers with the server's time. */
	if (r->type == REDIS_REPLY_STRING && r->len > 0 && r->len < 20)
		beat_learn_time(b, strtoll(r->str, NULL, 10));
}

static void
beat_send(struct beat *b, int argc, const char **argv)
{
	if (rconn_command(b->rc, BEAT_CALL_MS, beat_reply_cb, b, argc, argv,
	    NULL) == 0)
		b->out++;
}

static void
beat_fcall(struct beat *b, const char *base, size_t argc, const char **argv)
{
	if (rconn_fcall(b->rc, BEAT_CALL_MS, beat_reply_cb, b, "redjob_beat",
	    base, (int)argc, argv, NULL) == 0)
		b->out++;
}

/*
 * Publish the configuration's type table, TYPE -> QUEUE, at the first
 * beat and every BEAT_TYPES_EVERY beats after (a Redis restarted without
 * persistence has it back within a minute): producers without a
 * configuration route by it (redjob enqueue without -q, libredjob). A
 * type with result: also has the field "TYPE result" -> "MAX TTL_MS"
 * (redjob wait reads it): a field of its own, because the readers of
 * the previous release take the whole value of TYPE as a queue name,
 * and no type name holds a space. A type without result: has that
 * field removed, in case an older configuration gave it one.
 * Types of other daemons' configurations stay; a type two of them name
 * goes where the last one to write says.
 */
static void
beat_types(struct beat *b)
{
	const struct job_conf *jc;
	const char **argv, **del;
	char (*fields)[136], (*vals)[48];	/* "TYPE result": types are 1-128 */
	size_t i, n = 0, ndel = 0;

	if (b->types_due > 0) {
		b->types_due--;
		return;
	}
	if (b->cfg->njobs == 0)
		return;
	argv = xcalloc(2 + 4 * b->cfg->njobs, sizeof *argv);
	del = xcalloc(2 + b->cfg->njobs, sizeof *del);
	fields = xcalloc(b->cfg->njobs, sizeof *fields);
	vals = xcalloc(b->cfg->njobs, sizeof *vals);
	argv[n++] = "HSET";
	argv[n++] = b->types;
	for (i = 0; i < b->cfg->njobs; i++) {
		jc = &b->cfg->jobs[i];
		argv[n++] = jc->type;
		argv[n++] = jc->queue;
		snprintf(fields[i], sizeof fields[i], "%s result", jc->type);
		if (jc->result_max == 0) {
			if (ndel == 0) {
				del[ndel++] = "HDEL";
				del[ndel++] = b->types;
			}
			del[ndel++] = fields[i];
			continue;
		}
		snprintf(vals[i], sizeof vals[i], "%zu %llu", jc->result_max,
		    (unsigned long long)jc->result_ttl_ms);
		argv[n++] = fields[i];
		argv[n++] = vals[i];
	}
	beat_send(b, (int)n, argv);
	if (ndel > 0)
		beat_send(b, (int)ndel, del);
	free(del);
	free(fields);
	free(vals);
	free(argv);
	b->types_due = BEAT_TYPES_EVERY - 1;
}

/* Write the registry entry now. */
void
beat_now(struct beat *b)
{
	struct beat_report rep;
	char seen[24], ok[24], busy[24], started[24];
	const char *argv[32];
	int argc = 0;
	size_t i;

	/* A slow Redis: do not pile beats up behind one another. */
	if (b->left || b->out > 0 || !rconn_ready(b->rc))
		return;
	for (i = 0; i < b->nqueues; i++)
		beat_fcall(b, b->bases[i], b->argc, b->argv);
	if (!b->have_offset)
		return;		/* the hash when the time is known */
	beat_types(b);

	memset(&rep, 0, sizeof rep);
	b->cb(&rep, b->arg);
	if (rep.consuming)
		b->ok = beat_server_now(b);
	snprintf(seen, sizeof seen, "%lld", beat_server_now(b));
	snprintf(ok, sizeof ok, "%lld", b->ok);
	snprintf(busy, sizeof busy, "%u", rep.busy);
	snprintf(started, sizeof started, "%lld", b->started);
	argv[argc++] = "HSET";
	argv[argc++] = b->key;
#define BEAT_FIELD(n, v) do {						\
	argv[argc++] = (n);						\
	argv[argc++] = (v);						\
} while (0)
	BEAT_FIELD("host", b->host);
	BEAT_FIELD("pid", b->pid);
	BEAT_FIELD("ppid", b->ppid);
	BEAT_FIELD("version", PACKAGE_VERSION);
	BEAT_FIELD("slot", b->slot);
	BEAT_FIELD("started", started);
	BEAT_FIELD("queues", b->queues);
	BEAT_FIELD("slots", b->slots);
	BEAT_FIELD("busy", busy);
	BEAT_FIELD("seen", seen);
	BEAT_FIELD("ok", ok);
	BEAT_FIELD("cond", rep.cond != NULL ? rep.cond : "");
	BEAT_FIELD("jobs", rep.jobs != NULL ? rep.jobs : "");
#undef BEAT_FIELD
	assert((size_t)argc <= nitems(argv));
	beat_send(b, argc, argv);
	free(rep.jobs);

	argc = 0;
	argv[argc++] = "PEXPIRE";
	argv[argc++] = b->key;
	argv[argc++] = BEAT_TTL_ARG;
	beat_send(b, argc, argv);
	argc = 0;
	argv[argc++] = "SADD";
	argv[argc++] = b->set;
	argv[argc++] = b->owner;
	beat_send(b, argc, argv);
}

static void
beat_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	beat_now(arg);
}

/*
 * The registry entry of worker number index of this supervisor, whose
 * claim tokens begin with owner, serving the queues whose base keys are
 * bases (kept, not copied). cb fills in what changes between beats.
 */
struct beat *
beat_create(struct event_base *base, struct rconn *rc,
    const struct config *cfg, int index, const char *owner,
    char *const *bases, size_t nbases, beat_report_cb *cb, void *arg)
{
	struct timeval tv = { BEAT_PERIOD_MS / 1000,
	    (BEAT_PERIOD_MS % 1000) * 1000 };
	struct beat *b;
	size_t i, len = 0;

	b = xcalloc(1, sizeof *b);
	b->rc = rc;
	b->cfg = cfg;
	b->bases = bases;
	b->nqueues = nbases;
	b->cb = cb;
	b->arg = arg;
	b->created = mtime_now();
	snprintf(b->owner, sizeof b->owner, "%s", owner);
	if (schema_worker_key(b->key, sizeof b->key, cfg->namespace,
	    owner) != 0 || schema_workers_key(b->set, sizeof b->set,
	    cfg->namespace) != 0 || schema_types_key(b->types,
	    sizeof b->types, cfg->namespace) != 0)
		fatalx("namespace too long for the worker registry");
	if (gethostname(b->host, sizeof b->host) != 0 || b->host[0] == '\0')
		snprintf(b->host, sizeof b->host, "localhost");
	b->host[sizeof b->host - 1] = '\0';
	snprintf(b->pid, sizeof b->pid, "%ld", (long)getpid());
	/* redjob_beat takes A-Z a-z 0-9 _ . : - only. */
	snprintf(b->hostpid, sizeof b->hostpid, "%s:%s", b->host, b->pid);
	for (i = 0; b->hostpid[i] != '\0'; i++) {
		if (!isalnum((unsigned char)b->hostpid[i]) &&
		    strchr("_.:-", b->hostpid[i]) == NULL)
			b->hostpid[i] = '_';
	}
	snprintf(b->ppid, sizeof b->ppid, "%ld", (long)getppid());
	snprintf(b->slot, sizeof b->slot, "%d", index);
	snprintf(b->slots, sizeof b->slots, "%u", cfg->concurrency);
	for (i = 0; i < cfg->nqueues; i++)
		len += strlen(cfg->queues[i].name) + 1;
	b->queues = xcalloc(1, len + 1);
	for (i = 0; i < cfg->nqueues; i++) {
		if (i > 0)
			strcat(b->queues, ",");
		strcat(b->queues, cfg->queues[i].name);
	}

	/* OWNER TTL_MS HOST:PID TYPE...: the same every beat. */
	b->argv = xcalloc(3 + cfg->njobs, sizeof *b->argv);
	b->argv[b->argc++] = b->owner;
	b->argv[b->argc++] = BEAT_TTL_ARG;
	b->argv[b->argc++] = b->hostpid;
	for (i = 0; i < cfg->njobs; i++)
		b->argv[b->argc++] = cfg->jobs[i].type;

	if ((b->ev = event_new(base, -1, EV_PERSIST, beat_timer_cb, b)) ==
	    NULL)
		fatalx("event_new failed");
	event_add(b->ev, &tv);
	return b;
}

/* A claim went through at server time server_ms: the worker consumes. */
void
beat_consumed(struct beat *b, long long server_ms)
{
	int first = !b->have_offset;

	beat_learn_time(b, server_ms);
	b->ok = server_ms;
	if (first)
		beat_now(b);	/* listed from its first claim on */
}

/*
 * The worker leaves: take it out of the registry (sent ahead of the
 * caller's last round trip on the same connection, so written before the
 * worker exits), and beat no more.
 */
void
beat_leave(struct beat *b)
{
	const char *argv[3];
	const char *zero[2] = { b->owner, "0" };
	size_t i;

	if (b->left)
		return;
	b->left = 1;
	event_del(b->ev);
	if (!rconn_ready(b->rc))
		return;
	for (i = 0; i < b->nqueues; i++)
		beat_fcall(b, b->bases[i], 2, zero);
	argv[0] = "DEL";
	argv[1] = b->key;
	beat_send(b, 2, argv);
	argv[0] = "SREM";
	argv[1] = b->set;
	argv[2] = b->owner;
	beat_send(b, 3, argv);
}

/* The worker's queues, "mail,default". */
const char *
beat_queues(const struct beat *b)
{
	return b->queues;
}

/* Free it once its connection is closed (no call may be out). */
void
beat_free(struct beat *b)
{
	if (b == NULL)
		return;
	assert(b->out == 0);
	event_free(b->ev);
	free(b->queues);
	free(b->argv);
	free(b);
}
