/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * redjob-bench on Redis Cluster, for what it reports, never for how fast
 * anything is: its cluster scenario starts masters of its own, spreads
 * the queues (or one queue's shards) over them, reads every master and
 * takes them all down again, also when interrupted; with -u
 * redis+cluster:// it reads the figures of every master of an existing
 * cluster (tests/cluster_fixture.c) and sends its queue calls to the
 * queue's master. Short runs of /bin/true jobs: the figures' values are
 * not asserted, only where they come from.
 */
#include "autoconf.h"

#include <sys/types.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

#include "cluster_fixture.h"
#include "proc.h"
#include "testlib.h"

static char *dir;

static void
setup(void)
{
	dir = testlib_tmpdir("bench");
}

static void
teardown(void)
{
	testlib_rmtree(dir);
	free(dir);
}

static void
nap_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000),
	    (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/*
 * Run the built benchmark with args (NULL-terminated), its JSON results
 * to DIR/bench.json; returns it, ended, with its output captured.
 */
static struct proc *
bench(const char *const *args)
{
	char *argv[32], path[4200], json[4200];
	struct proc_spec spec;
	struct proc *p;
	int n = 0, i;

	snprintf(path, sizeof path, "%s/tests/bench/redjob-bench",
	    testlib_builddir());
	snprintf(json, sizeof json, "%s/bench.json", dir);
	argv[n++] = path;
	for (i = 0; args[i] != NULL && n < 28; i++)
		argv[n++] = (char *)args[i];
	argv[n++] = (char *)"--json";
	argv[n++] = json;
	argv[n] = NULL;
	memset(&spec, 0, sizeof spec);
	spec.argv = argv;
	spec.out = PROC_IO_CAPTURE;
	spec.err = PROC_IO_CAPTURE;
	p = must_spawn(&spec);
	must_wait(p, 110000);
	ck_assert_msg(p->status == 0, "redjob-bench exited %d: %s%s",
	    p->status, p->out, p->err);
	return p;
}

/* The results of the last bench(); caller json_decref()s. */
static json_t *
results(void)
{
	char json[4200];
	json_error_t e;
	json_t *doc, *r;

	snprintf(json, sizeof json, "%s/bench.json", dir);
	doc = json_load_file(json, 0, &e);
	ck_assert_msg(doc != NULL, "%s: %s", json, e.text);
	r = json_incref(json_object_get(doc, "results"));
	json_decref(doc);
	ck_assert_msg(json_is_array(r), "no results");
	return r;
}

/* Does anything accept a connection on 127.0.0.1:port? */
static int
port_answers(int port)
{
	redisContext *c = redisConnect("127.0.0.1", port);
	int yes = c != NULL && c->err == 0;

	redisFree(c);
	return yes;
}

/* The port of a "127.0.0.1:PORT" address. */
static int
addr_port(const char *addr)
{
	const char *colon = strrchr(addr, ':');

	ck_assert_ptr_nonnull(colon);
	return atoi(colon + 1);
}

/*
 * Run a 3-master variant of the cluster scenario: its six queues (or
 * shards), first among them first, must fall two on each master, and
 * every master must be read and have calls of its own.
 */
static void
three_masters(const char *variant, const char *first)
{
	const char *const args[] = { "--scenario", "cluster",
	    "--variant", variant, "-n", "300", "--handler", "exec",
	    "--workers", "1", NULL };
	json_t *res, *r, *masters, *m, *queues, *v;
	const char *addr[3], *q;
	size_t i, k, per[3] = { 0, 0, 0 };
	double share = 0;
	struct proc *p;

	p = bench(args);
	res = results();
	ck_assert_int_eq(json_array_size(res), 1);
	r = json_array_get(res, 0);
	ck_assert_str_eq(json_string_value(json_object_get(r, "scenario")),
	    "cluster");
	ck_assert_str_eq(json_string_value(json_object_get(r, "variant")),
	    variant);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "jobs")), 300);

	/* Three masters, each read, each with claims and acks of its own. */
	masters = json_object_get(r, "masters");
	ck_assert_int_eq(json_array_size(masters), 3);
	json_array_foreach(masters, i, m) {
		addr[i] = json_string_value(json_object_get(m, "master"));
		ck_assert_ptr_nonnull(addr[i]);
		ck_assert_msg(json_number_value(json_object_get(m,
		    "client_calls_per_job")) > 0, "no calls on %s", addr[i]);
		share += json_number_value(json_object_get(m,
		    "redis_cpu_share"));
	}
	ck_assert_msg(share > 0.999 && share < 1.001, "shares sum to %f",
	    share);

	/* The six queues, two on each master. */
	queues = json_object_get(r, "queues");
	ck_assert_int_eq(json_object_size(queues), 6);
	ck_assert_ptr_nonnull(json_object_get(queues, first));
	json_object_foreach(queues, q, v) {
		for (k = 0; k < 3; k++) {
			if (strcmp(json_string_value(v), addr[k]) == 0)
				per[k]++;
		}
	}
	for (k = 0; k < 3; k++)
		ck_assert_msg(per[k] == 2, "%zu queues on %s: %s", per[k],
		    addr[k], p->out);

	/* Every server the bench started is gone once it has exited. */
	for (k = 0; k < 3; k++)
		ck_assert_msg(!port_answers(addr_port(addr[k])),
		    "%s still answers", addr[k]);
	json_decref(res);
	proc_free(p);
}

START_TEST(test_the_cluster_scenario_reads_every_master)
{
	three_masters("3-masters", "q0");
	/* One queue, its shards bulk, bulk~1 ... bulk~5. */
	three_masters("3-masters-sharded", "bulk~5");
}
END_TEST

START_TEST(test_an_interrupted_cluster_run_takes_its_servers_down)
{
	char path[4200], *line, *end, *tok, *save;
	char *argv[] = { path, (char *)"--scenario", (char *)"cluster",
	    (char *)"--variant", (char *)"3-masters", (char *)"-n",
	    (char *)"100000", (char *)"--handler", (char *)"exec", NULL };
	struct proc_spec spec;
	struct proc *p;
	int ports[3], n = 0, i;
	uint64_t deadline;

	snprintf(path, sizeof path, "%s/tests/bench/redjob-bench",
	    testlib_builddir());
	memset(&spec, 0, sizeof spec);
	spec.argv = argv;
	spec.out = PROC_IO_CAPTURE;
	spec.err = PROC_IO_CAPTURE;
	p = must_spawn(&spec);
	/* Printed once every master is up, before the daemon starts. */
	must_wait_output(p, "queues by master:", 60000);
	deadline = testlib_now_ms() + 10000;
	while ((end = strchr(strstr(p->out, "queues by master:"), '\n')) ==
	    NULL) {
		ck_assert_msg(testlib_now_ms() < deadline, "%s", p->out);
		proc_pump(&p, 1, 20);
	}
	line = strstr(p->out, "queues by master:");
	*end = '\0';
	for (tok = strtok_r(line, " ;", &save); tok != NULL;
	    tok = strtok_r(NULL, " ;", &save)) {
		if (strncmp(tok, "127.0.0.1:", 10) == 0 && n < 3)
			ports[n++] = atoi(tok + 10);
	}
	ck_assert_int_eq(n, 3);
	for (i = 0; i < n; i++)
		ck_assert_msg(port_answers(ports[i]), "port %d", ports[i]);

	proc_signal(p, SIGINT);
	must_wait(p, 60000);
	ck_assert_msg(p->signaled && p->status == 128 + SIGINT,
	    "status %d: %s", p->status, p->err);
	ck_assert_msg(strstr(p->err, "interrupted") != NULL, "%s", p->err);
	/* SIGKILLed by its handler: gone as soon as the kernel has it. */
	deadline = testlib_now_ms() + 10000;
	for (i = 0; i < n; i++) {
		while (port_answers(ports[i])) {
			ck_assert_msg(testlib_now_ms() < deadline, "port %d "
			    "still answers", ports[i]);
			nap_ms(20);
		}
	}
	/* Its directory is left, as it says: the logs say what ran. */
	line = strstr(p->err, "left in ");
	ck_assert_ptr_nonnull(line);
	line += strlen("left in ");
	line[strcspn(line, "\n")] = '\0';
	testlib_rmtree(line);
	proc_free(p);
}
END_TEST

START_TEST(test_a_cluster_url_is_read_on_every_master)
{
	const char *args[] = { "-u", cf.url, "--scenario", "enqueue",
	    "--variant", "pipelined", "-n", "2000", NULL };
	const char *args2[] = { "-u", cf.url, "--scenario", "process",
	    "--variant", "exec", "-n", "200", "--workers", "1", NULL };
	json_t *res, *r, *masters, *m;
	char own[64];
	size_t i, hits;
	struct proc *p;
	int k;

	cluster_flush();
	k = cluster_master_of("redjob-bench:{bench-pipelined}");
	ck_assert_int_ge(k, 0);
	snprintf(own, sizeof own, "127.0.0.1:%d", cf.port[k]);

	/* The jobs' memory is on the queue's master, and only there. */
	p = bench(args);
	res = results();
	r = json_array_get(res, 0);
	masters = json_object_get(r, "masters");
	ck_assert_int_eq(json_array_size(masters), 3);
	hits = 0;
	json_array_foreach(masters, i, m) {
		double bytes = json_number_value(json_object_get(m,
		    "redis_bytes_per_job"));

		if (strcmp(json_string_value(json_object_get(m, "master")),
		    own) == 0) {
			hits++;
			ck_assert_msg(bytes > 200, "%f bytes per job on %s",
			    bytes, own);
		} else
			ck_assert_msg(bytes < 100, "%f bytes per job on %s",
			    bytes, json_string_value(json_object_get(m,
			    "master")));
	}
	ck_assert_int_eq(hits, 1);
	json_decref(res);
	proc_free(p);

	/* The daemon's claims and acks land on the queue's master. */
	k = cluster_master_of("redjob-bench:{bench}");
	ck_assert_int_ge(k, 0);
	snprintf(own, sizeof own, "127.0.0.1:%d", cf.port[k]);
	p = bench(args2);
	res = results();
	r = json_array_get(res, 0);
	ck_assert_str_eq(json_string_value(json_object_get(r, "scenario")),
	    "process");
	masters = json_object_get(r, "masters");
	ck_assert_int_eq(json_array_size(masters), 3);
	hits = 0;
	json_array_foreach(masters, i, m) {
		if (strcmp(json_string_value(json_object_get(m, "master")),
		    own) != 0)
			continue;
		hits++;
		ck_assert_msg(json_number_value(json_object_get(m,
		    "client_calls_per_job")) > 0, "no calls on %s", own);
	}
	ck_assert_int_eq(hits, 1);
	json_decref(res);
	proc_free(p);
}
END_TEST

Suite *
suite(void)
{
	Suite *s = suite_create("bench");
	TCase *own = tcase_create("own cluster");
	TCase *url = tcase_create("cluster url");

	tcase_add_checked_fixture(own, setup, teardown);
	tcase_set_timeout(own, 120);
	tcase_add_test(own, test_the_cluster_scenario_reads_every_master);
	tcase_add_test(own,
	    test_an_interrupted_cluster_run_takes_its_servers_down);
	suite_add_tcase(s, own);

	tcase_add_unchecked_fixture(url, cluster_start, cluster_stop);
	tcase_add_checked_fixture(url, setup, teardown);
	tcase_set_timeout(url, 120);
	tcase_add_test(url, test_a_cluster_url_is_read_on_every_master);
	suite_add_tcase(s, url);
	return s;
}
