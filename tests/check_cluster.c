/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * redis+cluster:// on a real Redis Cluster (tests/cluster_fixture.c):
 * three masters, a replica each. The CLI and libredjob route each queue
 * to its master, load the function library on every master they use,
 * follow MOVED after a slot moved, and wait out a slot's migration.
 */
#include "autoconf.h"

#include <sys/types.h>

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <hiredis/hiredis.h>

#include "redjob.h"
#include "cluster.h"
#include "cluster_fixture.h"
#include "daemon_fixture.h"
#include "proc.h"
#include "redis_fixture.h"
#include "schema.h"
#include "testlib.h"

/* Three queues, one on each master (found in cluster_queues()). */
static char queues[3][16];
static int owner[3];

static void
nap_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/*
 * Wait ms while reading what the daemon tells its notify socket: its
 * status line changes with each failover, and a socket nobody reads fills
 * up, which would block the daemon in sd_notify (systemd always reads).
 */
static void
nap_reading(unsigned ms)
{
	(void)notify_wait("\001(never sent)", ms);
}

/* Name three queues whose slots are served by three different masters. */
static void
cluster_queues(void)
{
	char key[64];
	int i, n = 0, m, j, seen;

	for (i = 0; i < 1000 && n < 3; i++) {
		snprintf(key, sizeof key, "redjob:{q%d}", i);
		m = cluster_master_of(key);
		ck_assert_int_ge(m, 0);
		for (seen = 0, j = 0; j < n; j++)
			seen |= owner[j] == m;
		if (seen)
			continue;
		snprintf(queues[n], sizeof queues[n], "q%d", i);
		owner[n++] = m;
	}
	ck_assert_int_eq(n, 3);
}

static void
setup(void)
{
	int i;

	/* A test that failed with nodes stopped must not stop the next. */
	for (i = 0; i < CLUSTER_FIXTURE_NODES; i++)
		(void)proc_signal(cf.node[i], SIGCONT);
	cluster_flush();
	cluster_queues();
	daemon_fixture_init();
}

static void
teardown(void)
{
	daemon_fixture_cleanup();
}

/* "redjob -u URL ARG..." to its end, outputs captured. Caller frees. */
static struct proc *
cli(const char *first, ...)
{
	struct proc_spec spec;
	struct proc *p;
	va_list ap;

	memset(&spec, 0, sizeof spec);
	spec.out = PROC_IO_CAPTURE;
	spec.err = PROC_IO_CAPTURE;
	va_start(ap, first);
	p = must_redjob_vspawn(&spec, first, ap);
	va_end(ap);
	ck_assert_int_ge(must_wait(p, 30000), 0);
	return p;
}

/* The payload of job QUEUE:N as node i shows it, or NULL (static buffer). */
static const char *
payload_at(int i, const char *queue, int n)
{
	static char buf[256];
	char *v;

	v = show_field(cluster_at(i, "FCALL_RO redjob_show 1 redjob:{%s} "
	    "%s:%d", queue, queue, n), "payload", NULL);
	if (v == NULL)
		return NULL;
	snprintf(buf, sizeof buf, "%s", v);
	free(v);
	return buf;
}

/*
 * Jobs of three queues on three masters: each is written on its queue's
 * master by the CLI and by libredjob (one pipelined call for all), the
 * library is loaded on each, and stats, show and rm find them.
 */
START_TEST(test_each_queue_lives_on_its_master)
{
	struct redjob_job jobs[6];
	struct redjob_result res[6];
	struct redjob_client *cl;
	char key[128], id[128];
	struct proc *p;
	redisReply *r;
	int i;

	for (i = 0; i < 3; i++) {
		p = cli(cf.url, "enqueue", "-q", queues[i], "t", "from-cli",
		    NULL);
		ck_assert_msg(p->status == 0, "%s", p->err);
		snprintf(id, sizeof id, "%s:1\n", queues[i]);
		ck_assert_str_eq(p->out, id);
		proc_free(p);
		ck_assert_str_eq(payload_at(owner[i], queues[i], 1), "from-cli");
	}

	cl = redjob_connect(cf.url, NULL);
	ck_assert_msg(redjob_errcode(cl) == REDJOB_OK, "%s",
	    redjob_errstr(cl));
	memset(jobs, 0, sizeof jobs);
	for (i = 0; i < 6; i++) {
		jobs[i].queue = queues[i % 3];
		jobs[i].type = "t";
		jobs[i].payload = "lib";
		jobs[i].payload_len = 3;
	}
	ck_assert_int_eq(redjob_enqueue_many(cl, jobs, 6, res), 6);
	for (i = 0; i < 6; i++) {
		ck_assert_int_eq(res[i].err, REDJOB_OK);
		snprintf(id, sizeof id, "%s:%d", queues[i % 3], 2 + i / 3);
		ck_assert_str_eq(res[i].id, id);
	}
	redjob_free(cl);

	/* The library is on every master it was needed on. */
	for (i = 0; i < 3; i++) {
		r = cluster_at(owner[i], "FCALL_RO redjob_version 0");
		ck_assert_ptr_nonnull(r);
		ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
		freeReplyObject(r);
	}

	p = cli(cf.url, "stats", "--json", NULL);
	ck_assert_msg(p->status == 0, "%s", p->err);
	for (i = 0; i < 3; i++) {
		snprintf(key, sizeof key, "\"%s\": {", queues[i]);
		ck_assert_msg(strstr(p->out, key) != NULL, "%s", p->out);
	}
	proc_free(p);
	snprintf(id, sizeof id, "%s:2", queues[2]);
	p = cli(cf.url, "show", id, NULL);
	ck_assert_msg(p->status == 0 && strstr(p->out, "ready") != NULL,
	    "%s%s", p->out, p->err);
	proc_free(p);
	p = cli(cf.url, "rm", id, NULL);
	ck_assert_msg(p->status == 0, "%s", p->err);
	proc_free(p);
	ck_assert_ptr_null(payload_at(owner[2], queues[2], 2));
}
END_TEST

/* A node's id (CLUSTER MYID). Caller frees. */
static char *
node_id(int i)
{
	redisReply *r;
	char *id;

	r = cluster_at(i, "CLUSTER MYID");
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
	id = strdup(r->str);
	freeReplyObject(r);
	return id;
}

static void
ok_at(int i, const char *fmt, ...)
{
	struct timeval tv = { 10, 0 };
	redisContext *c;
	redisReply *r;
	va_list ap;

	c = redisConnectWithTimeout("127.0.0.1", cf.port[i], tv);
	ck_assert(c != NULL && c->err == 0);
	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	ck_assert_msg(r != NULL && r->type != REDIS_REPLY_ERROR, "%s: %s",
	    fmt, r != NULL ? r->str : c->errstr);
	freeReplyObject(r);
	redisFree(c);
}

/*
 * A queue's slot moves to another master by hand, as redis-cli --cluster
 * reshard moves it: a client that knew the old map gets MOVED and
 * follows; while the slot is between MIGRATING and its move, calls on the
 * queue wait (ASK is not followed into a half-moved queue) and go
 * through once the move ends; no job is lost or doubled.
 */
START_TEST(test_a_moved_slot_is_followed_and_a_migration_waited_out)
{
	struct redjob_job j = { .type = "t", .payload = "x", .payload_len = 1 };
	struct redjob_client *cl;
	char id[REDJOB_ID_MAX], base[64], *from, *to;
	unsigned slot;
	redisReply *r, *keys;
	int src, dst, i, status;
	pid_t pid;

	j.queue = queues[0];
	src = owner[0];
	dst = owner[1];
	snprintf(base, sizeof base, "redjob:{%s}", queues[0]);
	slot = cluster_keyslot(base, strlen(base));
	cl = redjob_connect(cf.url, NULL);
	ck_assert_msg(redjob_errcode(cl) == REDJOB_OK, "%s",
	    redjob_errstr(cl));
	for (i = 0; i < 10; i++)
		ck_assert_msg(redjob_enqueue(cl, &j, id) == 0, "%s",
		    redjob_errstr(cl));

	from = node_id(src);
	to = node_id(dst);
	ok_at(dst, "CLUSTER SETSLOT %u IMPORTING %s", slot, from);
	ok_at(src, "CLUSTER SETSLOT %u MIGRATING %s", slot, to);

	/* An enqueue during the migration waits for its end. */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		nap_ms(500);
		keys = cluster_at(src, "CLUSTER GETKEYSINSLOT %u 1000", slot);
		for (i = 0; keys != NULL && i < (int)keys->elements; i++) {
			r = cluster_at(src, "MIGRATE 127.0.0.1 %d %s 0 5000",
			    cf.port[dst], keys->element[i]->str);
			if (r != NULL)
				freeReplyObject(r);
		}
		for (i = 0; i < CLUSTER_FIXTURE_NODES; i++) {
			r = cluster_at(i, "CLUSTER SETSLOT %u NODE %s", slot,
			    to);
			if (r != NULL)
				freeReplyObject(r);
		}
		_exit(0);
	}
	ck_assert_msg(redjob_enqueue(cl, &j, id) == 0, "%s",
	    redjob_errstr(cl));
	snprintf(base, sizeof base, "%s:11", queues[0]);
	ck_assert_str_eq(id, base);
	ck_assert_int_eq(proc_wait_gone(pid, &status, 10000), 0);
	ck_assert_int_eq(status, 0);
	free(from);
	free(to);

	/* Everything is on the new master, the old map led to MOVED. */
	snprintf(base, sizeof base, "redjob:{%s}:due", queues[0]);
	r = cluster_at(dst, "ZCARD %s", base);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->integer, 11);
	freeReplyObject(r);
	ck_assert_msg(redjob_enqueue(cl, &j, id) == 0, "%s",
	    redjob_errstr(cl));
	snprintf(base, sizeof base, "%s:12", queues[0]);
	ck_assert_str_eq(id, base);
	redjob_free(cl);
	owner[0] = dst;
}
END_TEST

/* The node that replicates node i now, or -1. */
static int
replica_of(int i)
{
	char *id = node_id(i);
	redisReply *r;
	int k, found = -1;

	for (k = 0; k < CLUSTER_FIXTURE_NODES && found < 0; k++) {
		if (k == i || (r = cluster_at(k, "ROLE")) == NULL)
			continue;
		if (r->type == REDIS_REPLY_ARRAY && r->elements >= 3 &&
		    strcmp(r->element[0]->str, "slave") == 0 &&
		    r->element[2]->type == REDIS_REPLY_INTEGER &&
		    r->element[2]->integer == cf.port[i])
			found = k;
		freeReplyObject(r);
	}
	free(id);
	return found;
}

/*
 * Wait until every node that answers names node m as the master of the
 * slot of queue q's keys.
 */
static void
wait_converged(int q, int m)
{
	uint64_t deadline = testlib_now_ms() + 20000;
	struct cluster_map *map;
	char key[64], err[256];
	redisReply *r;
	int i, k, ok;

	snprintf(key, sizeof key, "redjob:{%s}", queues[q]);
	ck_assert_ptr_nonnull(map = calloc(1, sizeof *map));
	for (;;) {
		ok = 1;
		for (i = 0; i < CLUSTER_FIXTURE_NODES && ok; i++) {
			if ((r = cluster_at(i, "CLUSTER SLOTS")) == NULL)
				continue;	/* a killed node */
			ok = cluster_map_read(map, r, err, sizeof err) == 0 &&
			    (k = cluster_map_node(map, cluster_keyslot(key,
			    strlen(key)))) >= 0 && map->node[k].port ==
			    cf.port[m];
			freeReplyObject(r);
		}
		if (ok)
			break;
		ck_assert_msg(testlib_now_ms() < deadline, "the nodes do not "
		    "agree on the new master of %s", queues[q]);
		nap_reading(50);
	}
	free(map);
}

/*
 * Enqueue n jobs into each of the three queues; their ids are appended to
 * ids, which has room for max.
 */
static void
enqueue_each(int n, char (*ids)[REDJOB_ID_MAX], int *nids, int max)
{
	struct redjob_job j = { .payload = "", .payload_len = 0 };
	struct redjob_client *cl;
	char type[32];
	int i, q;

	cl = redjob_connect(cf.url, NULL);
	ck_assert_msg(redjob_errcode(cl) == REDJOB_OK, "%s",
	    redjob_errstr(cl));
	ck_assert_int_le(*nids + 3 * n, max);
	for (i = 0; i < n; i++) {
		for (q = 0; q < 3; q++) {
			snprintf(type, sizeof type, "t%d", q);
			j.type = type;
			j.queue = queues[q];
			ck_assert_msg(redjob_enqueue(cl, &j, ids[*nids]) == 0,
			    "%s", redjob_errstr(cl));
			(*nids)++;
		}
	}
	redjob_free(cl);
}

/* Wait until every id has run (at least once: a failover may repeat). */
static void
wait_all_ran(char (*ids)[REDJOB_ID_MAX], int nids, unsigned ms)
{
	uint64_t deadline = testlib_now_ms() + ms;
	char path[4200], *runs;
	int i, missing;

	snprintf(path, sizeof path, "%s/runs", df.dir);
	for (;;) {
		runs = testlib_read_file(path, NULL);
		missing = -1;
		for (i = 0; i < nids && missing < 0; i++) {
			char line[REDJOB_ID_MAX + 2];

			snprintf(line, sizeof line, "%.150s\n", ids[i]);
			if (runs == NULL || strstr(runs, line) == NULL)
				missing = i;
		}
		free(runs);
		if (missing < 0)
			return;
		ck_assert_msg(testlib_now_ms() < deadline, "job %s has not run "
		    "within %u ms", ids[missing], ms);
		nap_reading(50);
	}
}

/* Every id is in the runs file exactly once (a line of its own). */
static void
assert_each_ran_once(char (*ids)[REDJOB_ID_MAX], int nids)
{
	char path[4200], line[200], *runs, *p;
	int i, n;

	snprintf(path, sizeof path, "%s/runs", df.dir);
	runs = must_read_file(path, NULL);
	for (i = 0; i < nids; i++) {
		snprintf(line, sizeof line, "%.150s\n", ids[i]);
		for (n = 0, p = runs; (p = strstr(p, line)) != NULL;
		    p += strlen(line))
			n += p == runs || p[-1] == '\n';
		ck_assert_msg(n == 1, "job %s ran %d times", ids[i], n);
	}
	free(runs);
}

/* Write the daemon's configuration: three queues, a type for each. */
static void
daemon_config(void)
{
	daemon_write_config(
	    "redis:\n"
	    "  url: \"%s\"\n"
	    "workers: 2\n"
	    "concurrency: 4\n"
	    "shutdown_timeout: 1s\n"
	    "lease: 5s\n"
	    "queues: { %s: 1, %s: 1, %s: 1 }\n"
	    "jobs:\n"
	    "  t0: { queue: %s, exec: [/bin/sh, -c, 'echo \"$REDJOB_JOB_ID\" "
	    ">> \"%s/runs\"'] }\n"
	    "  t1: { queue: %s, exec: [/bin/sh, -c, 'echo \"$REDJOB_JOB_ID\" "
	    ">> \"%s/runs\"'] }\n"
	    "  t2: { queue: %s, exec: [/bin/sh, -c, 'echo \"$REDJOB_JOB_ID\" "
	    ">> \"%s/runs\"'] }\n",
	    cf.url, queues[0], queues[1], queues[2], queues[0], df.dir,
	    queues[1], df.dir, queues[2], df.dir);
}

/*
 * One queue of 8 shards on a 3-master cluster: the shards' slots are on
 * every master; a batch from libredjob is spread evenly over them and
 * written on each shard's master; redjobd runs every job once, and
 * stats shows the queue as one.
 */
START_TEST(test_a_sharded_queue_uses_every_master)
{
	enum { N = 120, NSH = 8 };
	static struct redjob_job jobs[N];
	static struct redjob_result res[N];
	static char ids[N][REDJOB_ID_MAX];
	struct redjob_client *cl;
	char key[128], q[64];
	int masters[3] = { 0 }, per[NSH] = { 0 }, i, m;
	unsigned k;
	struct proc *p;

	for (k = 0; k < NSH; k++) {
		if (k == 0)
			snprintf(key, sizeof key, "redjob:{hot}");
		else
			snprintf(key, sizeof key, "redjob:{hot~%u}", k);
		m = cluster_master_of(key);
		for (i = 0; i < 3; i++)
			masters[i] |= owner[i] == m;
	}
	ck_assert_msg(masters[0] && masters[1] && masters[2], "the shards "
	    "of hot are not on all three masters");

	daemon_write_config(
	    "redis:\n"
	    "  url: \"%s\"\n"
	    "workers: 2\n"
	    "concurrency: 4\n"
	    "shutdown_timeout: 1s\n"
	    "queues: { hot: { weight: 1, shards: %d } }\n"
	    "jobs:\n"
	    "  t: { queue: hot, exec: [/bin/sh, -c, 'echo \"$REDJOB_JOB_ID\" "
	    ">> \"%s/runs\"'] }\n", cf.url, NSH, df.dir);
	daemon_start(NULL);
	ck_assert_msg(notify_wait("READY=1", 20000) != NULL, "no READY=1");

	cl = redjob_connect(cf.url, NULL);
	ck_assert_msg(redjob_errcode(cl) == REDJOB_OK, "%s",
	    redjob_errstr(cl));
	for (i = 0; i < N; i++) {
		jobs[i].queue = "hot";
		jobs[i].type = "t";
		jobs[i].payload = "";
	}
	ck_assert_int_eq(redjob_enqueue_many(cl, jobs, N, res), N);
	redjob_free(cl);
	for (i = 0; i < N; i++) {
		ck_assert_int_eq(res[i].err, REDJOB_OK);
		snprintf(ids[i], sizeof ids[i], "%s", res[i].id);
		ck_assert_int_eq(schema_job_queue(res[i].id, q, sizeof q), 0);
		ck_assert_int_eq(schema_shard_split(q, NULL, 0, &k), 0);
		per[k]++;
	}
	for (k = 0; k < NSH; k++)
		ck_assert_msg(per[k] == N / NSH, "shard %u got %d jobs", k,
		    per[k]);
	wait_all_ran(ids, N, 30000);
	assert_each_ran_once(ids, N);

	p = cli(cf.url, "stats", "--json", NULL);
	ck_assert_msg(p->status == 0, "%s", p->err);
	ck_assert_msg(strstr(p->out, "\"shards\": 8") != NULL, "%s", p->out);
	ck_assert_msg(strstr(p->out, "\"processed\": 120") != NULL, "%s",
	    p->out);
	proc_free(p);
	daemon_signal(SIGTERM);
	ck_assert_int_eq(daemon_wait_exit(15000), 0);
}
END_TEST

/*
 * Guards on a cluster: a lock or a limiter partition lives in a slot of
 * its own, out of the claim's reach, so each job takes its guards with
 * calls of its own (docs/guards.md, "Guards in the claim"). Jobs of the
 * three queues under a lock per job and one concurrency limiter all run,
 * their locks were granted (each lock's fence counter is on the master
 * of its own slot), and every slot is given back.
 */
START_TEST(test_guarded_jobs_take_their_guards_with_calls_on_a_cluster)
{
	static char ids[30][REDJOB_ID_MAX];
	char t[3][4400], key[REDJOB_ID_MAX + 64];
	uint64_t deadline;
	redisReply *r;
	int nids = 0, i, m, n;

	for (i = 0; i < 3; i++) {
		n = snprintf(t[i], sizeof t[i], "{ queue: %s, exec: [/bin/sh, "
		    "-c, 'echo \"$REDJOB_JOB_ID\" >> \"%s/runs\"'], limit: "
		    "[slots], lock: { key: \"c:{id}\", ttl: 30s } }", queues[i],
		    df.dir);
		ck_assert_int_lt(n, (int)sizeof t[i]);
	}
	daemon_write_config(
	    "redis:\n"
	    "  url: \"%s\"\n"
	    "workers: 2\n"
	    "concurrency: 4\n"
	    "shutdown_timeout: 1s\n"
	    "lease: 5s\n"
	    "queues: { %s: 1, %s: 1, %s: 1 }\n"
	    "limiters:\n"
	    "  slots: { kind: concurrency, limit: 2, lease: 10s }\n"
	    "jobs:\n"
	    "  t0: %s\n"
	    "  t1: %s\n"
	    "  t2: %s\n",
	    cf.url, queues[0], queues[1], queues[2], t[0], t[1], t[2]);
	daemon_start(NULL);
	ck_assert_msg(notify_wait("READY=1", 20000) != NULL, "no READY=1");
	enqueue_each(10, ids, &nids, (int)(sizeof ids / sizeof ids[0]));
	wait_all_ran(ids, nids, 30000);
	for (i = 0; i < nids; i++) {
		snprintf(key, sizeof key, "redjob:lock:{c:%.150s}:fence", ids[i]);
		ck_assert_int_ge(m = cluster_master_of(key), 0);
		r = cluster_at(m, "EXISTS %s", key);
		ck_assert_ptr_nonnull(r);
		ck_assert_msg(r->integer == 1, "no fence for %s", ids[i]);
		freeReplyObject(r);
	}
	/* The last slots go back as their handlers end. */
	ck_assert_int_ge(m = cluster_master_of("redjob:limit:{slots:}"), 0);
	deadline = testlib_now_ms() + 10000;
	for (;;) {
		r = cluster_at(m, "EXISTS redjob:limit:{slots:}");
		ck_assert_ptr_nonnull(r);
		n = (int)r->integer;
		freeReplyObject(r);
		if (n == 0)
			break;
		ck_assert_msg(testlib_now_ms() < deadline, "a concurrency "
		    "slot is still held");
		nap_reading(50);
	}
	daemon_signal(SIGTERM);
	ck_assert_int_eq(daemon_wait_exit(15000), 0);
}
END_TEST

/*
 * redis-cli --cluster reshard moves every slot of the third queue's
 * master to the first's while the daemon runs and a producer enqueues:
 * every job runs, and runs once.
 */
START_TEST(test_the_daemon_runs_through_a_reshard)
{
	static char ids[180][REDJOB_ID_MAX];
	char from[64], seed[64], *src, *dst;
	struct proc_spec spec;
	struct proc *reshard;
	int nids = 0, i;

	daemon_config();
	daemon_start(NULL);
	ck_assert_msg(notify_wait("READY=1", 20000) != NULL, "no READY=1");
	enqueue_each(10, ids, &nids, (int)(sizeof ids / sizeof ids[0]));

	src = node_id(owner[2]);
	dst = node_id(owner[0]);
	snprintf(seed, sizeof seed, "127.0.0.1:%d", cf.port[owner[0]]);
	snprintf(from, sizeof from, "%s", src);
	{
		char *const argv[] = { (char *)"redis-cli", (char *)"--cluster",
		    (char *)"reshard", seed, (char *)"--cluster-from", from,
		    (char *)"--cluster-to", dst, (char *)"--cluster-slots",
		    (char *)"16384", (char *)"--cluster-yes", NULL };

		memset(&spec, 0, sizeof spec);
		spec.argv = argv;
		spec.out = PROC_IO_CAPTURE;
		spec.err = PROC_IO_CAPTURE;
		reshard = must_spawn(&spec);
	}
	/* Enqueue while the slots move. */
	for (i = 0; i < 4; i++) {
		enqueue_each(10, ids, &nids, (int)(sizeof ids / sizeof ids[0]));
		nap_reading(200);
	}
	ck_assert_int_ge(must_wait(reshard, 120000), 0);
	ck_assert_msg(reshard->status == 0, "reshard: %s%s", reshard->out,
	    reshard->err);
	proc_free(reshard);
	free(src);
	free(dst);
	enqueue_each(10, ids, &nids, (int)(sizeof ids / sizeof ids[0]));
	wait_all_ran(ids, nids, 30000);

	/* Once each: no failure happened, so no job ran twice. */
	assert_each_ran_once(ids, nids);
	daemon_signal(SIGTERM);
	ck_assert_int_eq(daemon_wait_exit(15000), 0);
}
END_TEST

/* Every node: CONFIG SET name value. */
static void
config_all(const char *name, const char *value)
{
	redisReply *r;
	int i;

	for (i = 0; i < CLUSTER_FIXTURE_NODES; i++) {
		r = cluster_at(i, "CONFIG SET %s %s", name, value);
		ck_assert_ptr_nonnull(r);
		ck_assert_msg(r->type == REDIS_REPLY_STATUS, "node %d: %s", i,
		    r->type == REDIS_REPLY_ERROR ? r->str : "?");
		freeReplyObject(r);
	}
}

/*
 * One master and its replica stopped (SIGSTOP: no failover can happen),
 * with cluster-require-full-coverage no so that the other masters go on
 * serving: the daemon's workers keep running the jobs of the queues on
 * those, and once the two are back, the jobs of the stopped master's
 * queue run too.
 */
START_TEST(test_the_other_masters_queues_run_while_one_is_down)
{
	static char ids[60][REDJOB_ID_MAX];
	struct redjob_job j = { .payload = "", .payload_len = 0 };
	struct redjob_client *cl;
	char url[128], type[8];
	int nids = 0, i, q, down = owner[2], rep = replica_of(owner[2]);

	ck_assert_int_ge(rep, 0);
	config_all("cluster-require-full-coverage", "no");
	daemon_config();
	daemon_start(NULL);
	ck_assert_msg(notify_wait("READY=1", 20000) != NULL, "no READY=1");
	enqueue_each(5, ids, &nids, (int)(sizeof ids / sizeof ids[0]));
	wait_all_ran(ids, nids, 15000);

	ck_assert_int_eq(proc_signal(cf.node[down], SIGSTOP), 0);
	ck_assert_int_eq(proc_signal(cf.node[rep], SIGSTOP), 0);
	/* The daemon has seen it: its status line names the master. */
	snprintf(url, sizeof url, "127.0.0.1:%d", cf.port[down]);
	if (notify_wait(url, 30000) == NULL) {
		char *log = must_read_file(df.log, NULL);
		ck_abort_msg("no status naming %s; log: %s", url, log);
	}
	/* The producer knows the two masters left. */
	snprintf(url, sizeof url, "redis+cluster://127.0.0.1:%d,127.0.0.1:%d",
	    cf.port[owner[0]], cf.port[owner[1]]);
	cl = redjob_connect(url, NULL);
	ck_assert_msg(redjob_errcode(cl) == REDJOB_OK, "%s",
	    redjob_errstr(cl));
	for (i = 0; i < 10; i++) {
		q = i % 2;
		snprintf(type, sizeof type, "t%d", q);
		j.type = type;
		j.queue = queues[q];
		ck_assert_msg(redjob_enqueue(cl, &j, ids[nids]) == 0, "%s",
		    redjob_errstr(cl));
		nids++;
	}
	redjob_free(cl);
	/* Beyond a call's deadline (10 s), so the stopped master counts. */
	wait_all_ran(ids, nids, 40000);

	ck_assert_int_eq(proc_signal(cf.node[rep], SIGCONT), 0);
	ck_assert_int_eq(proc_signal(cf.node[down], SIGCONT), 0);
	cluster_wait_ok(30000);
	enqueue_each(5, ids, &nids, (int)(sizeof ids / sizeof ids[0]));
	wait_all_ran(ids, nids, 40000);
	daemon_signal(SIGTERM);
	ck_assert_int_eq(daemon_wait_exit(15000), 0);
	config_all("cluster-require-full-coverage", "yes");
}
END_TEST

/*
 * redjobd on the cluster: its workers claim from queues on all three
 * masters; a failover (CLUSTER FAILOVER FORCE) and then a master killed
 * with SIGKILL, its replica taking over, leave it consuming within
 * seconds, and every job enqueued runs.
 */
START_TEST(test_the_daemon_consumes_every_master_through_failovers)
{
	static char ids[90][REDJOB_ID_MAX];
	int nids = 0, i, r0, m;
	uint64_t deadline;
	redisReply *r;

	daemon_config();
	daemon_start(NULL);
	ck_assert_msg(notify_wait("READY=1", 20000) != NULL, "no READY=1");
	enqueue_each(10, ids, &nids, (int)(sizeof ids / sizeof ids[0]));
	wait_all_ran(ids, nids, 15000);

	/* A manual failover of the first queue's master. */
	r0 = replica_of(owner[0]);
	ck_assert_int_ge(r0, 0);
	/*
	 * FORCE: the replica does not wait to be in step with its master
	 * (that can take longer than the 5 s Redis allows on a busy
	 * machine); WAIT has put every write of the master on it first.
	 */
	r = cluster_at(owner[0], "WAIT 1 5000");
	ck_assert_ptr_nonnull(r);
	freeReplyObject(r);
	r = cluster_at(r0, "CLUSTER FAILOVER FORCE");
	ck_assert_ptr_nonnull(r);
	ck_assert_msg(r->type == REDIS_REPLY_STATUS, "%s", r->str);
	freeReplyObject(r);
	deadline = testlib_now_ms() + 20000;
	while (!cluster_is_master(r0)) {
		ck_assert_msg(testlib_now_ms() < deadline, "the manual "
		    "failover did not happen");
		nap_reading(50);
	}
	owner[0] = r0;
	wait_converged(0, r0);
	enqueue_each(10, ids, &nids, (int)(sizeof ids / sizeof ids[0]));
	wait_all_ran(ids, nids, 15000);

	/* The second queue's master killed; its replica takes over. */
	m = owner[1];
	r0 = replica_of(m);
	ck_assert_int_ge(r0, 0);
	ck_assert_int_eq(proc_signal(cf.node[m], SIGKILL), 0);
	deadline = testlib_now_ms() + 30000;
	while (!cluster_is_master(r0)) {
		ck_assert_msg(testlib_now_ms() < deadline, "no replica took "
		    "over");
		nap_reading(50);
	}
	owner[1] = r0;
	wait_converged(1, r0);
	enqueue_each(10, ids, &nids, (int)(sizeof ids / sizeof ids[0]));
	wait_all_ran(ids, nids, 20000);
	for (i = 0; i < 3; i++)
		ck_assert_int_ge(owner[i], 0);
	daemon_signal(SIGTERM);
	ck_assert_int_eq(daemon_wait_exit(15000), 0);
}
END_TEST

/*
 * What cannot work says why: no seed that answers, a seed that is a
 * Redis without cluster support, a URL with a database.
 */
START_TEST(test_bad_cluster_urls_say_why)
{
	struct proc_spec spec;
	struct proc *p, *plain;
	char url[128], port[16];
	uint64_t deadline;
	redisContext *c;
	int pn;

	snprintf(url, sizeof url, "redis+cluster://127.0.0.1:1");
	p = cli(url, "enqueue", "t", "x", NULL);
	ck_assert_int_eq(p->status, 1);
	ck_assert_msg(strstr(p->err, "cannot learn the cluster's slots") !=
	    NULL && strstr(p->err, "127.0.0.1:1") != NULL, "%s", p->err);
	proc_free(p);

	/* A Redis that is not in a cluster. */
	pn = 20000 + (int)(getpid() % 9000);
	snprintf(port, sizeof port, "%d", pn);
	{
		char *const argv[] = { (char *)"redis-server", (char *)"--port",
		    port, (char *)"--bind", (char *)"127.0.0.1", (char *)"--save",
		    (char *)"", NULL };

		memset(&spec, 0, sizeof spec);
		spec.argv = argv;
		spec.out = PROC_IO_NULL;
		spec.err = PROC_IO_NULL;
		plain = must_spawn(&spec);
	}
	deadline = testlib_now_ms() + 10000;
	while ((c = redisConnect("127.0.0.1", pn)) == NULL || c->err != 0) {
		if (c != NULL)
			redisFree(c);
		ck_assert(testlib_now_ms() < deadline);
		nap_ms(20);
	}
	redisFree(c);
	snprintf(url, sizeof url, "redis+cluster://127.0.0.1:%d", pn);
	p = cli(url, "enqueue", "t", "x", NULL);
	ck_assert_int_eq(p->status, 1);
	ck_assert_msg(strstr(p->err, "not a cluster node") != NULL, "%s",
	    p->err);
	proc_free(p);
	proc_stop(plain, SIGKILL, 5000);

	p = cli("redis+cluster://127.0.0.1:7000/0", "enqueue", "t", "x",
	    NULL);
	ck_assert_int_eq(p->status, 2);
	ck_assert_msg(strstr(p->err, "no database") != NULL, "%s", p->err);
	proc_free(p);
}
END_TEST

Suite *
suite(void)
{
	Suite *s = suite_create("cluster");
	TCase *tc = tcase_create("cluster");

	tcase_add_unchecked_fixture(tc, cluster_start, cluster_stop);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_each_queue_lives_on_its_master);
	tcase_add_test(tc, test_a_sharded_queue_uses_every_master);
	tcase_add_test(tc, test_a_moved_slot_is_followed_and_a_migration_waited_out);
	tcase_add_test(tc, test_bad_cluster_urls_say_why);
	tcase_add_test(tc, test_the_other_masters_queues_run_while_one_is_down);
	tcase_add_test(tc,
	    test_guarded_jobs_take_their_guards_with_calls_on_a_cluster);
	/* These change the cluster: a master killed, then one emptied. */
	tcase_add_test(tc,
	    test_the_daemon_consumes_every_master_through_failovers);
	tcase_add_test(tc, test_the_daemon_runs_through_a_reshard);
	suite_add_tcase(s, tc);
	return s;
}
