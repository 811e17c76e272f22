/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A real Redis Cluster for the tests (cluster_fixture.h). The nodes are
 * started once per suite: creating a cluster takes seconds.
 */
#include "autoconf.h"

#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <hiredis/hiredis.h>

#include "cluster.h"
#include "cluster_fixture.h"
#include "proc.h"
#include "testlib.h"

struct cluster_fixture cf;

static void
nap_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Can a listener bind 127.0.0.1:port now? */
static int
port_free(int port)
{
	struct sockaddr_in sin;
	int fd, ok;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return 0;
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0;
	close(fd);
	return ok;
}

/*
 * A port whose cluster bus port (port + 10000) is free too, from a range
 * below the kernel's ephemeral ports, different for each call.
 */
static int
cluster_port(void)
{
	static unsigned seed;
	int i, p;

	if (seed == 0)
		seed = (unsigned)getpid() * 7919U;
	for (i = 0; i < 1000; i++) {
		p = 20000 + (int)((seed = seed * 1103515245U + 12345U) >> 8) %
		    10000;
		if (port_free(p) && port_free(p + 10000))
			return p;
	}
	ck_abort_msg("no free pair of ports for a cluster node");
	return -1;
}

redisReply *
cluster_at(int i, const char *fmt, ...)
{
	struct timeval tv = { 1, 0 }, wait = { 10, 0 };
	redisContext *c;
	redisReply *r;
	va_list ap;

	c = redisConnectWithTimeout("127.0.0.1", cf.port[i], tv);
	if (c == NULL || c->err != 0) {
		if (c != NULL)
			redisFree(c);
		return NULL;
	}
	redisSetTimeout(c, wait);
	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	redisFree(c);
	return r;
}

int
cluster_is_master(int i)
{
	redisReply *r;
	int yes;

	r = cluster_at(i, "ROLE");
	yes = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
	    strcmp(r->element[0]->str, "master") == 0;
	if (r != NULL)
		freeReplyObject(r);
	return yes;
}

int
cluster_master_of(const char *key)
{
	struct cluster_map *m;
	char err[256];
	redisReply *r;
	int i, k, found = -1;

	for (i = 0; i < CLUSTER_FIXTURE_NODES && found < 0; i++) {
		if (!cluster_is_master(i) ||
		    (r = cluster_at(i, "CLUSTER SLOTS")) == NULL)
			continue;
		ck_assert_ptr_nonnull(m = calloc(1, sizeof *m));
		if (cluster_map_read(m, r, err, sizeof err) == 0 &&
		    (k = cluster_map_node(m, cluster_keyslot(key,
		    strlen(key)))) >= 0) {
			for (i = 0; i < CLUSTER_FIXTURE_NODES; i++) {
				if (cf.port[i] == m->node[k].port)
					found = i;
			}
		}
		free(m);
		freeReplyObject(r);
	}
	return found;
}

void
cluster_wait_ok(unsigned timeout_ms)
{
	uint64_t deadline = testlib_now_ms() + timeout_ms;
	redisReply *r;
	int i, ok;

	for (;;) {
		ok = 1;
		for (i = 0; i < CLUSTER_FIXTURE_NODES && ok; i++) {
			r = cluster_at(i, "CLUSTER INFO");
			ok = r != NULL && r->type == REDIS_REPLY_STRING &&
			    strstr(r->str, "cluster_state:ok") != NULL &&
			    strstr(r->str, "cluster_slots_ok:16384") != NULL;
			if (r != NULL)
				freeReplyObject(r);
		}
		if (ok)
			return;
		ck_assert_msg(testlib_now_ms() < deadline, "the cluster is not "
		    "ok after %u ms", timeout_ms);
		nap_ms(50);
	}
}

void
cluster_start(void)
{
	char *argv[32], ports[CLUSTER_FIXTURE_NODES][16], conf[4200],
	    addr[CLUSTER_FIXTURE_NODES][32], log[4200], name[32];
	struct proc_spec spec;
	struct proc *p;
	redisReply *r;
	uint64_t deadline;
	int i, n;

	memset(&cf, 0, sizeof cf);
	cf.dir = testlib_tmpdir("cluster");
	for (i = 0; i < CLUSTER_FIXTURE_NODES; i++) {
		cf.port[i] = cluster_port();
		snprintf(ports[i], sizeof ports[i], "%d", cf.port[i]);
		snprintf(conf, sizeof conf, "%s/nodes-%d.conf", cf.dir,
		    cf.port[i]);
		snprintf(log, sizeof log, "%s/node-%d.log", cf.dir, i);
		snprintf(name, sizeof name, "node-%d", i);
		n = 0;
		argv[n++] = (char *)"redis-server";
		argv[n++] = (char *)"--port";
		argv[n++] = ports[i];
		argv[n++] = (char *)"--bind";
		argv[n++] = (char *)"127.0.0.1";
		argv[n++] = (char *)"--cluster-enabled";
		argv[n++] = (char *)"yes";
		argv[n++] = (char *)"--cluster-config-file";
		argv[n++] = conf;
		argv[n++] = (char *)"--cluster-node-timeout";
		argv[n++] = (char *)"2000";
		argv[n++] = (char *)"--save";
		argv[n++] = (char *)"";
		argv[n++] = (char *)"--appendonly";
		argv[n++] = (char *)"no";
		argv[n++] = (char *)"--dir";
		argv[n++] = cf.dir;
		argv[n] = NULL;
		memset(&spec, 0, sizeof spec);
		spec.argv = argv;
		spec.name = name;
		spec.out = PROC_IO_FILE;
		spec.out_path = log;
		spec.err = PROC_IO_STDOUT;
		cf.node[i] = must_spawn(&spec);
	}
	for (i = 0; i < CLUSTER_FIXTURE_NODES; i++) {
		deadline = testlib_now_ms() + 10000;
		while ((r = cluster_at(i, "PING")) == NULL) {
			ck_assert_msg(testlib_now_ms() < deadline, "node %d "
			    "does not answer", i);
			nap_ms(20);
		}
		freeReplyObject(r);
	}
	n = 0;
	argv[n++] = (char *)"redis-cli";
	argv[n++] = (char *)"--cluster";
	argv[n++] = (char *)"create";
	for (i = 0; i < CLUSTER_FIXTURE_NODES; i++) {
		snprintf(addr[i], sizeof addr[i], "127.0.0.1:%d", cf.port[i]);
		argv[n++] = addr[i];
	}
	argv[n++] = (char *)"--cluster-replicas";
	argv[n++] = (char *)"1";
	argv[n++] = (char *)"--cluster-yes";
	argv[n] = NULL;
	memset(&spec, 0, sizeof spec);
	spec.argv = argv;
	spec.out = PROC_IO_CAPTURE;
	spec.err = PROC_IO_CAPTURE;
	p = must_spawn(&spec);
	ck_assert_int_ge(must_wait(p, 60000), 0);
	ck_assert_msg(p->status == 0, "redis-cli --cluster create: %s%s",
	    p->out, p->err);
	proc_free(p);
	cluster_wait_ok(30000);
	snprintf(cf.url, sizeof cf.url, "redis+cluster://127.0.0.1:%d,"
	    "127.0.0.1:%d", cf.port[0], cf.port[1]);
}

void
cluster_stop(void)
{
	int i;

	for (i = 0; i < CLUSTER_FIXTURE_NODES; i++)
		proc_stop(cf.node[i], SIGKILL, 5000);
	if (getenv("REDJOB_TEST_KEEP") == NULL)
		testlib_rmtree(cf.dir);
	free(cf.dir);
	memset(&cf, 0, sizeof cf);
}

void
cluster_flush(void)
{
	redisReply *r;
	int i;

	for (i = 0; i < CLUSTER_FIXTURE_NODES; i++) {
		if (!cluster_is_master(i))
			continue;
		r = cluster_at(i, "FLUSHALL");
		ck_assert_ptr_nonnull(r);
		freeReplyObject(r);
		r = cluster_at(i, "FUNCTION FLUSH");
		ck_assert_ptr_nonnull(r);
		freeReplyObject(r);
	}
}
