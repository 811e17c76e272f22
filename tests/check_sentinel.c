/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * redis+sentinel:// on a real Sentinel group: a master, its replica and
 * three sentinels (redis-server --sentinel), on loopback TCP ports, as
 * Sentinel needs. The CLI, libredjob and redjobd find the master through
 * the sentinels, say exactly what is wrong when they cannot, and follow a
 * failover: the daemon within moments of the sentinels' +switch-master,
 * long before the old master would refuse writes.
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

#include "redjob.h"
#include "daemon_fixture.h"
#include "proc.h"
#include "redis_fixture.h"
#include "testlib.h"

#define NSENTINELS 3
#define MASTER "m"

static struct {
	char		*dir;
	int		 port[2];		/* the two data nodes */
	int		 sport[NSENTINELS];
	struct proc	*node[2];
	struct proc	*sentinel[NSENTINELS];
	char		 url[512];		/* redis+sentinel://... */
} sg;

static void
nap_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* A TCP port of the loopback interface that is free now. */
static int
free_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;
	int fd, port;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/* A connection to 127.0.0.1:port, or NULL. */
static redisContext *
tcp(int port)
{
	struct timeval tv = { 1, 0 }, wait = { 10, 0 };
	redisContext *c;

	c = redisConnectWithTimeout("127.0.0.1", port, tv);
	if (c != NULL && c->err != 0) {
		redisFree(c);
		return NULL;
	}
	/* Long enough for a WAIT. */
	if (c != NULL)
		redisSetTimeout(c, wait);
	return c;
}

/* A command on 127.0.0.1:port; the reply, or NULL. Caller frees. */
static redisReply *
at(int port, const char *fmt, ...)
{
	redisContext *c;
	redisReply *r;
	va_list ap;

	if ((c = tcp(port)) == NULL)
		return NULL;
	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	redisFree(c);
	return r;
}

/* The port the sentinels name as the master's, or -1. */
static int
master_port(int sentinel)
{
	redisReply *r;
	int port = -1;

	r = at(sg.sport[sentinel], "SENTINEL get-master-addr-by-name "
	    MASTER);
	if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2)
		port = atoi(r->element[1]->str);
	if (r != NULL)
		freeReplyObject(r);
	return port;
}

/* An integer field of a SENTINEL MASTER reply ("num-slaves"), or -1. */
static long
master_field(int sentinel, const char *name)
{
	redisReply *r;
	long v = -1;
	size_t i;

	r = at(sg.sport[sentinel], "SENTINEL MASTER " MASTER);
	for (i = 0; r != NULL && r->type == REDIS_REPLY_ARRAY &&
	    i + 1 < r->elements; i += 2) {
		if (strcmp(r->element[i]->str, name) == 0)
			v = atol(r->element[i + 1]->str);
	}
	if (r != NULL)
		freeReplyObject(r);
	return v;
}

static struct proc *
spawn_server(const char *name, char *const *argv)
{
	struct proc_spec spec;
	char log[4200];

	snprintf(log, sizeof log, "%s/%s.log", sg.dir, name);
	memset(&spec, 0, sizeof spec);
	spec.argv = argv;
	spec.name = name;
	spec.out = PROC_IO_FILE;
	spec.out_path = log;
	spec.err = PROC_IO_STDOUT;
	return must_spawn(&spec);
}

static void
wait_answers(int port)
{
	uint64_t deadline = testlib_now_ms() + 10000;
	redisReply *r;

	while ((r = at(port, "PING")) == NULL || r->type == REDIS_REPLY_ERROR) {
		if (r != NULL)
			freeReplyObject(r);
		ck_assert_msg(testlib_now_ms() < deadline, "nothing answers "
		    "on port %d", port);
		nap_ms(20);
	}
	freeReplyObject(r);
}

/*
 * The group, once for the suite: the master, a replica of it, and three
 * sentinels with a quorum of 2 that know each other and the replica (a
 * failover needs both).
 */
static void
group_start(void)
{
	char p[2][16], rof[32], s[NSENTINELS][4200];
	uint64_t deadline;
	FILE *f;
	int i;

	sg.dir = testlib_tmpdir("sentinel");
	for (i = 0; i < 2; i++) {
		sg.port[i] = free_port();
		snprintf(p[i], sizeof p[i], "%d", sg.port[i]);
	}
	snprintf(rof, sizeof rof, "127.0.0.1 %d", sg.port[0]);
	{
		char *const master[] = { (char *)"redis-server", (char *)"--port",
		    p[0], (char *)"--save", (char *)"", (char *)"--appendonly",
		    (char *)"no", (char *)"--dir", sg.dir, NULL };
		char *const replica[] = { (char *)"redis-server",
		    (char *)"--port", p[1], (char *)"--save", (char *)"",
		    (char *)"--appendonly", (char *)"no", (char *)"--dir",
		    sg.dir, (char *)"--replicaof", rof, NULL };

		sg.node[0] = spawn_server("master", master);
		wait_answers(sg.port[0]);
		sg.node[1] = spawn_server("replica", replica);
		wait_answers(sg.port[1]);
	}
	for (i = 0; i < NSENTINELS; i++) {
		sg.sport[i] = free_port();
		snprintf(s[i], sizeof s[i], "%s/sentinel-%d.conf", sg.dir, i);
		ck_assert_ptr_nonnull(f = fopen(s[i], "w"));
		fprintf(f, "port %d\n"
		    "bind 127.0.0.1\n"
		    "dir %s\n"
		    "sentinel monitor " MASTER " 127.0.0.1 %d 2\n"
		    "sentinel down-after-milliseconds " MASTER " 1000\n"
		    "sentinel failover-timeout " MASTER " 5000\n",
		    sg.sport[i], sg.dir, sg.port[0]);
		fclose(f);
	}
	for (i = 0; i < NSENTINELS; i++) {
		char name[32];
		char *const argv[] = { (char *)"redis-server", s[i],
		    (char *)"--sentinel", NULL };

		snprintf(name, sizeof name, "sentinel-%d", i);
		sg.sentinel[i] = spawn_server(name, argv);
	}
	for (i = 0; i < NSENTINELS; i++)
		wait_answers(sg.sport[i]);
	deadline = testlib_now_ms() + 30000;
	for (i = 0; i < NSENTINELS; i++) {
		while (master_field(i, "num-slaves") < 1 ||
		    master_field(i, "num-other-sentinels") < NSENTINELS - 1) {
			ck_assert_msg(testlib_now_ms() < deadline, "sentinel %d "
			    "did not find the replica and the others", i);
			nap_ms(50);
		}
	}
	snprintf(sg.url, sizeof sg.url, "redis+sentinel://127.0.0.1:%d,"
	    "127.0.0.1:%d,127.0.0.1:%d/" MASTER, sg.sport[0], sg.sport[1],
	    sg.sport[2]);
}

static void
group_stop(void)
{
	int i;

	for (i = 0; i < NSENTINELS; i++)
		proc_stop(sg.sentinel[i], SIGKILL, 5000);
	for (i = 0; i < 2; i++)
		proc_stop(sg.node[i], SIGKILL, 5000);
	if (getenv("REDJOB_TEST_KEEP") == NULL)
		testlib_rmtree(sg.dir);
	free(sg.dir);
}

/* "redjob -u URL ARG..." to its end, outputs captured. Caller frees. */
static struct proc *
cli(const char *url, ...)
{
	struct proc_spec spec;
	struct proc *p;
	va_list ap;

	memset(&spec, 0, sizeof spec);
	spec.out = PROC_IO_CAPTURE;
	spec.err = PROC_IO_CAPTURE;
	va_start(ap, url);
	p = must_redjob_vspawn(&spec, url, ap);
	va_end(ap);
	ck_assert_int_ge(must_wait(p, 30000), 0);
	return p;
}

/* The master now: the data node the sentinels name, as an index. */
static int
master_index(void)
{
	return master_port(0) == sg.port[0] ? 0 : 1;
}

/* An empty database on both nodes for each test. */
static void
flush(void)
{
	redisReply *r;

	r = at(sg.port[master_index()], "FLUSHALL");
	ck_assert_ptr_nonnull(r);
	freeReplyObject(r);
	r = at(sg.port[master_index()], "WAIT 1 5000");
	ck_assert_ptr_nonnull(r);
	freeReplyObject(r);
}

/*
 * The CLI and libredjob reach the master through the sentinels: a job
 * they enqueue is in the master (and so in its replica), and the
 * sentinels' own password, given in the query, is theirs alone.
 */
START_TEST(test_cli_and_libredjob_find_the_master)
{
	struct redjob_job j = { .type = "t", .payload = "x", .payload_len = 1 };
	struct redjob_client *cl;
	char id[REDJOB_ID_MAX];
	struct proc *p;
	char *v;
	int m;

	flush();
	m = master_index();
	p = cli(sg.url, "enqueue", "-q", "q", "t", "from-cli", NULL);
	ck_assert_msg(p->status == 0, "%s", p->err);
	ck_assert_str_eq(p->out, "q:1\n");
	proc_free(p);

	cl = redjob_connect(sg.url, NULL);
	ck_assert_msg(redjob_errcode(cl) == REDJOB_OK, "%s",
	    redjob_errstr(cl));
	j.queue = "q";
	ck_assert_msg(redjob_enqueue(cl, &j, id) == 0, "%s",
	    redjob_errstr(cl));
	ck_assert_str_eq(id, "q:2");
	redjob_free(cl);

	v = show_field(at(sg.port[m], "FCALL_RO redjob_show 1 redjob:{q} q:1"),
	    "payload", NULL);
	ck_assert_str_eq(v, "from-cli");
	free(v);

	p = cli(sg.url, "stats", "--json", NULL);
	ck_assert_msg(p->status == 0, "%s", p->err);
	ck_assert_msg(strstr(p->out, "\"ready\": 2") != NULL, "%s", p->out);
	proc_free(p);
}
END_TEST

/*
 * What cannot work says exactly why, exits 1 and writes nothing: a master
 * name no sentinel knows, sentinels none of which answers, a URL without
 * a master name (a usage error, 2); a password is never shown.
 */
START_TEST(test_bad_sentinel_urls_say_why)
{
	char url[600];
	struct proc *p;
	int dead = free_port();

	snprintf(url, sizeof url, "redis+sentinel://127.0.0.1:%d/nosuch",
	    sg.sport[0]);
	p = cli(url, "enqueue", "t", "x", NULL);
	ck_assert_int_eq(p->status, 1);
	ck_assert_msg(strstr(p->err, "no sentinel knows master nosuch") !=
	    NULL, "%s", p->err);
	proc_free(p);

	snprintf(url, sizeof url, "redis+sentinel://127.0.0.1:%d/" MASTER,
	    dead);
	p = cli(url, "enqueue", "t", "x", NULL);
	ck_assert_int_eq(p->status, 1);
	ck_assert_msg(strstr(p->err, "no sentinel of master m is reachable") !=
	    NULL && strstr(p->err, "Connection refused") != NULL, "%s",
	    p->err);
	proc_free(p);

	p = cli("redis+sentinel://u:secret@127.0.0.1:1?sentinel_password=s3",
	    "enqueue", "t", "x", NULL);
	ck_assert_int_eq(p->status, 2);
	ck_assert_msg(strstr(p->err, "the master's name is missing") != NULL,
	    "%s", p->err);
	ck_assert_msg(strstr(p->err, "secret") == NULL &&
	    strstr(p->err, "s3") == NULL, "a password shown: %s", p->err);
	proc_free(p);

	/* A sentinel that demands a password it is not given. */
	snprintf(url, sizeof url, "redis+sentinel://127.0.0.1:%d/" MASTER
	    "?sentinel_password=wrong", sg.sport[0]);
	p = cli(url, "enqueue", "t", "x", NULL);
	ck_assert_int_eq(p->status, 1);
	ck_assert_msg(strstr(p->err, "AUTH") != NULL, "%s", p->err);
	proc_free(p);
}
END_TEST

/*
 * redjobd through the sentinels runs jobs; a failover moves the master
 * to the replica, and the daemon follows at the sentinels' +switch-master
 * (the old master stays writable for seconds after it): jobs enqueued on
 * the new master run within moments, and none of those enqueued before
 * is lost (they reached the replica: WAIT).
 */
START_TEST(test_the_daemon_follows_a_failover)
{
	struct redjob_job j = { .type = "t", .payload = "", .queue = "q" };
	struct redjob_client *cl;
	char id[REDJOB_ID_MAX];
	uint64_t switched, deadline;
	int before, i, m;
	redisReply *r;

	flush();
	before = m = master_index();
	daemon_write_config(
	    "redis:\n"
	    "  url: \"%s\"\n"
	    "workers: 1\n"
	    "concurrency: 4\n"
	    "shutdown_timeout: 1s\n"
	    "queues: { q: 1 }\n"
	    "jobs:\n"
	    "  t:\n"
	    "    queue: q\n"
	    "    exec: [/bin/sh, -c, 'echo \"$REDJOB_JOB_ID\" >> "
	    "\"%s/runs\"']\n", sg.url, df.dir);
	daemon_start(NULL);
	ck_assert_msg(notify_wait("READY=1", 15000) != NULL, "no READY=1");

	cl = redjob_connect(sg.url, NULL);
	ck_assert_msg(redjob_errcode(cl) == REDJOB_OK, "%s",
	    redjob_errstr(cl));
	for (i = 0; i < 20; i++)
		ck_assert_msg(redjob_enqueue(cl, &j, id) == 0, "%s",
		    redjob_errstr(cl));
	redjob_free(cl);
	ck_assert(daemon_wait_lines("runs", 20, 10000));
	r = at(sg.port[m], "WAIT 1 5000");
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->integer, 1);
	freeReplyObject(r);

	r = at(sg.sport[0], "SENTINEL FAILOVER " MASTER);
	ck_assert_ptr_nonnull(r);
	ck_assert_msg(r->type == REDIS_REPLY_STATUS, "%s", r->str);
	freeReplyObject(r);
	deadline = testlib_now_ms() + 20000;
	while (master_index() == before) {
		ck_assert_msg(testlib_now_ms() < deadline, "no failover");
		nap_ms(20);
	}
	switched = testlib_now_ms();
	m = master_index();

	/* A client made now asks the sentinels, and finds the new one. */
	cl = redjob_connect(sg.url, NULL);
	ck_assert_msg(redjob_errcode(cl) == REDJOB_OK, "%s",
	    redjob_errstr(cl));
	for (i = 0; i < 20; i++)
		ck_assert_msg(redjob_enqueue(cl, &j, id) == 0, "%s",
		    redjob_errstr(cl));
	redjob_free(cl);
	ck_assert_msg(daemon_wait_lines("runs", 40, 8000), "%ld of 40 ran "
	    "within 8 s of the switch", daemon_count_lines("runs"));
	ck_assert_msg(daemon_log_has("sentinel: master m moved to"),
	    "the daemon did not follow +switch-master");
	ck_assert_uint_lt(testlib_now_ms() - switched, 8000);

	/* Every job ran: the counter on the new master says 40. */
	deadline = testlib_now_ms() + 10000;
	for (;;) {
		r = at(sg.port[m], "HGET redjob:{q}:stats processed");
		ck_assert_ptr_nonnull(r);
		i = r->type == REDIS_REPLY_STRING ? atoi(r->str) : 0;
		freeReplyObject(r);
		if (i >= 40)
			break;
		ck_assert_msg(testlib_now_ms() < deadline, "processed %d", i);
		nap_ms(20);
	}
	daemon_signal(SIGTERM);
	ck_assert_int_eq(daemon_wait_exit(10000), 0);
}
END_TEST

Suite *
suite(void)
{
	Suite *s = suite_create("sentinel");
	TCase *tc = tcase_create("group");

	tcase_add_unchecked_fixture(tc, group_start, group_stop);
	tcase_add_checked_fixture(tc, daemon_fixture_init,
	    daemon_fixture_cleanup);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_cli_and_libredjob_find_the_master);
	tcase_add_test(tc, test_bad_sentinel_urls_say_why);
	tcase_add_test(tc, test_the_daemon_follows_a_failover);
	suite_add_tcase(s, tc);
	return s;
}
