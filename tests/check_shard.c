/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Sharded queues (docs/protocol.md, sharded queues): the shard names and
 * the producers' choice of a shard; the worker's pick among a queue's
 * shards; and end to end against a real redis-server and the real
 * redjobd, a batch spread evenly over the shards and run once each, jobs
 * of one key or unique key in one shard, pause and resume of every
 * shard, the CLI's and the dashboard's one view of the queue, and the
 * jobs left in a shard when a queue's shards were lowered.
 */
#include "autoconf.h"

#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

#include "redjob.h"
#include "daemon_fixture.h"
#include "pick.h"
#include "proc.h"
#include "redis_fixture.h"
#include "schema.h"
#include "testlib.h"

#define SHARDS 4

START_TEST(test_shard_names_split_and_join)
{
	static const char *const bad[] = {
		"hot~0", "hot~01", "hot~256", "hot~", "~1", "hot~1~2",
		"ho:t~1", "hot~1x", "hot~-1", "hot~ 1", "hot{x}~1",
	};
	char base[SCHEMA_QUEUE_MAX + 1], name[SCHEMA_QUEUE_MAX + 8], err[256];
	unsigned k = 99;
	size_t i;

	ck_assert_int_eq(schema_shard_split("hot~3", base, sizeof base, &k),
	    0);
	ck_assert_str_eq(base, "hot");
	ck_assert_uint_eq(k, 3);
	ck_assert_int_eq(schema_shard_split("hot", base, sizeof base, &k), 0);
	ck_assert_str_eq(base, "hot");
	ck_assert_uint_eq(k, 0);
	ck_assert_int_eq(schema_shard_split("a.b-c_d~255", base, sizeof base,
	    &k), 0);
	ck_assert_uint_eq(k, 255);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ck_assert_msg(schema_shard_split(bad[i], base, sizeof base,
		    &k) != 0, "%s accepted", bad[i]);
		ck_assert_msg(schema_check_queue(bad[i], err, sizeof err) != 0,
		    "%s accepted as a queue", bad[i]);
	}
	ck_assert_int_eq(schema_shard_name(name, sizeof name, "hot", 0), 0);
	ck_assert_str_eq(name, "hot");
	ck_assert_int_eq(schema_shard_name(name, sizeof name, "hot", 7), 0);
	ck_assert_str_eq(name, "hot~7");
	ck_assert_int_eq(schema_queue_base(name, sizeof name, "ns", "hot~7"),
	    0);
	ck_assert_str_eq(name, "ns:{hot~7}");
	ck_assert_int_eq(schema_job_queue("hot~7:42", base, sizeof base), 0);
	ck_assert_str_eq(base, "hot~7");
}
END_TEST

/*
 * The shard of a key is FNV-1a (32 bits) modulo the shards, the rule
 * producers in other languages follow: these values are computed by
 * hand from its definition.
 */
START_TEST(test_shard_of_a_key_is_fnv1a)
{
	/* FNV-1a("user:7") = 1931105341; "" = 2166136261 (the basis). */
	ck_assert_uint_eq(schema_shard_of("user:7", 6, 8), 1931105341u % 8);
	ck_assert_uint_eq(schema_shard_of("user:7", 6, 4), 1931105341u % 4);
	ck_assert_uint_eq(schema_shard_of("", 0, 7), 2166136261u % 7);
	ck_assert_uint_eq(schema_shard_of("user:7", 6, 1), 0);
}
END_TEST

/*
 * A queue of 4 shards and a plain one, both weight 1: each gets half of
 * the claims, and the sharded queue's shards take turns; a shard with
 * nothing due is skipped, without costing its queue its turn.
 */
START_TEST(test_pick_shares_by_weight_and_turns_the_shards)
{
	unsigned weights[] = { 1, 1 }, shards[] = { SHARDS, 1 };
	struct pick *s = pick_create(weights, shards, 2);
	size_t lane, seen[SHARDS + 1] = { 0 };
	int i;

	for (i = 0; i < 16; i++) {
		lane = pick_next(s, 1000, 0);
		ck_assert_uint_lt(lane, SHARDS + 1);
		seen[lane]++;
	}
	for (i = 0; i < SHARDS; i++)
		ck_assert_uint_eq(seen[i], 2);
	ck_assert_uint_eq(seen[SHARDS], 8);

	memset(seen, 0, sizeof seen);
	pick_due(s, 1, PICK_NEVER);
	pick_due(s, 2, PICK_NEVER);
	for (i = 0; i < 8; i++)
		seen[pick_next(s, 2000, 0)]++;
	ck_assert_uint_eq(seen[1] + seen[2], 0);
	ck_assert_uint_eq(seen[0] + seen[3], 4);
	ck_assert_uint_eq(seen[0], 2);
	ck_assert_uint_eq(seen[SHARDS], 4);
	/* Work due on the plain queue alone. */
	pick_due(s, 0, PICK_NEVER);
	pick_due(s, 3, PICK_NEVER);
	ck_assert_uint_eq(pick_next(s, 3000, 0), SHARDS);
	ck_assert_uint_eq(pick_earliest(s), 0);
	pick_free(s);
}
END_TEST

/* runs: each job's "$REDJOB_JOB_ID $REDJOB_QUEUE", one line per run. */
static void
start(const char *hot)
{
	daemon_write_config(
	    "redis:\n"
	    "  url: %s\n"
	    "workers: 2\n"
	    "concurrency: 4\n"
	    "shutdown_timeout: 1s\n"
	    "queues:\n"
	    "  hot: %s\n"
	    "  mail: 1\n"
	    "jobs:\n"
	    "  run:\n"
	    "    queue: hot\n"
	    "    exec: [/bin/sh, -c, 'echo \"$REDJOB_JOB_ID $REDJOB_QUEUE\" >> "
	    "\"$OUT/runs\"']\n"
	    "    env: { OUT: \"%s\" }\n",
	    rf.url, hot, df.dir);
	daemon_start(NULL);
	ck_assert_msg(notify_wait("READY=1", 15000) != NULL,
	    "no READY=1 from redjobd");
}

static void
stop_clean(void)
{
	daemon_signal(SIGTERM);
	ck_assert_int_eq(daemon_wait_exit(20000), 0);
	ck_assert_msg(!daemon_log_has("Sanitizer") &&
	    !daemon_log_has("runtime error"), "a sanitizer report");
}

/*
 * "redjob -u URL ARG..." to its end, in (or nothing) on its stdin,
 * outputs captured. Caller frees.
 */
static struct proc *
vcli(const char *in, const char *first, va_list ap)
{
	static char *envv[] = { (char *)"REDJOB_URL", NULL };
	struct proc_spec spec;
	const char *args[32];
	struct proc *p;
	int n = 0;

	args[n++] = "-u";
	args[n++] = rf.url;
	args[n++] = first;
	while (n < 31 && (args[n] = va_arg(ap, const char *)) != NULL)
		n++;
	args[n] = NULL;
	memset(&spec, 0, sizeof spec);
	spec.out = spec.err = PROC_IO_CAPTURE;
	spec.env = envv;
	if (in != NULL) {
		spec.in = in;
		spec.inlen = strlen(in);
	}
	p = must_redjob_spawnv(&spec, args);
	must_wait(p, TESTLIB_DEADLINE_MS);
	return p;
}

static struct proc *
cli(const char *first, ...)
{
	struct proc *p;
	va_list ap;

	va_start(ap, first);
	p = vcli(NULL, first, ap);
	va_end(ap);
	return p;
}

static struct proc *
cli_in(const char *in, const char *first, ...)
{
	struct proc *p;
	va_list ap;

	va_start(ap, first);
	p = vcli(in, first, ap);
	va_end(ap);
	return p;
}

/* `redjob stats --json --shards`, parsed; the queue's object. */
static json_t *
stats_of(json_t **root, const char *queue)
{
	struct proc *p = cli("stats", "--json", "--shards", NULL);
	json_error_t e;
	json_t *q;

	ck_assert_msg(p->status == 0, "stats: exit %d: %s", p->status,
	    p->err);
	*root = json_loads(p->out, 0, &e);
	ck_assert_msg(*root != NULL, "stats --json: %s: %s", e.text, p->out);
	proc_free(p);
	q = json_object_get(json_object_get(*root, "queues"), queue);
	ck_assert_msg(q != NULL, "no queue %s in stats", queue);
	return q;
}

static int
count_lines(const char *s)
{
	int n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

static long long
jint(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	ck_assert_msg(json_is_integer(v), "no integer %s", k);
	return (long long)json_integer_value(v);
}

/* The shard (0 for QUEUE itself) of a job id QUEUE~K:N or QUEUE:N. */
static unsigned
shard_of_id(const char *id)
{
	char q[SCHEMA_QUEUE_MAX + 8];
	unsigned k;

	ck_assert_int_eq(schema_job_queue(id, q, sizeof q), 0);
	ck_assert_int_eq(schema_shard_split(q, NULL, 0, &k), 0);
	return k;
}

/*
 * 200 jobs of one redjob_enqueue_many call: 50 in each of the 4 shards
 * (one bulk run each), every one run exactly once with REDJOB_QUEUE the
 * queue's name; stats shows the queue as one, each shard on request.
 */
START_TEST(test_a_batch_is_spread_evenly_and_runs_once)
{
	enum { N = 200 };
	static struct redjob_job jobs[N];
	static struct redjob_result res[N];
	char path[4096], *text, *line, *save, id[REDJOB_ID_MAX];
	char queue[32], *seen[N];
	unsigned per[SHARDS] = { 0 };
	size_t nseen = 0, i;
	json_t *root, *q, *sh;

	start("{ weight: 1, shards: 4 }");
	for (i = 0; i < N; i++) {
		jobs[i].queue = "hot";
		jobs[i].type = "run";
		jobs[i].payload = "";
	}
	ck_assert_int_eq(redjob_enqueue_many(df.cl, jobs, N, res), N);
	for (i = 0; i < N; i++)
		per[shard_of_id(res[i].id)]++;
	for (i = 0; i < SHARDS; i++)
		ck_assert_msg(per[i] == N / SHARDS, "shard %zu got %u jobs", i,
		    per[i]);

	ck_assert_msg(daemon_wait_lines("runs", N, 30000), "%ld of %d ran",
	    daemon_count_lines("runs"), N);
	snprintf(path, sizeof path, "%s/runs", df.dir);
	text = must_read_file(path, NULL);
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		ck_assert_int_eq(sscanf(line, "%63s %31s", id, queue), 2);
		ck_assert_str_eq(queue, "hot");
		for (i = 0; i < nseen; i++)
			ck_assert_msg(strcmp(seen[i], id) != 0, "%s ran twice",
			    id);
		ck_assert_uint_lt(nseen, N);
		seen[nseen++] = strdup(id);
	}
	ck_assert_uint_eq(nseen, N);
	for (i = 0; i < nseen; i++)
		free(seen[i]);
	free(text);

	ck_assert(wait_stat("hot~3", "processed", N / SHARDS, 10000));
	q = stats_of(&root, "hot");
	ck_assert_int_eq(jint(q, "shards"), SHARDS);
	ck_assert_int_eq(jint(q, "processed"), N);
	ck_assert_int_eq(jint(q, "enqueued"), N);
	ck_assert_int_eq(jint(q, "workers"), 2);
	sh = json_object_get(q, "shard");
	ck_assert_uint_eq(json_object_size(sh), SHARDS);
	ck_assert_int_eq(jint(json_object_get(sh, "hot~2"), "processed"),
	    N / SHARDS);
	ck_assert_int_eq(jint(json_object_get(sh, "hot"), "processed"),
	    N / SHARDS);
	json_decref(root);
	stop_clean();
}
END_TEST

/*
 * Jobs of one key all go to the key's shard, in order; a unique key is
 * unique across the shards; single enqueues without a key take turns.
 */
START_TEST(test_a_key_keeps_its_shard_and_a_unique_key_its_job)
{
	struct redjob_job j = { .queue = "hot", .type = "run", .payload = "",
		.key = "user:7" };
	char id[REDJOB_ID_MAX], first[REDJOB_ID_MAX];
	unsigned want = schema_shard_of("user:7", 6, SHARDS);
	unsigned per[SHARDS] = { 0 };
	struct proc *p;
	int created, i;

	start("{ weight: 1, shards: 4 }");
	/* Paused: a unique key is free again once its job has run. */
	p = cli("pause", "hot", NULL);
	ck_assert_msg(p->status == 0, "pause: %s", p->err);
	proc_free(p);
	for (i = 0; i < 20; i++) {
		ck_assert_int_eq(redjob_enqueue(df.cl, &j, id), 0);
		ck_assert_uint_eq(shard_of_id(id), want);
	}
	j.key = NULL;
	j.unique = "nightly";
	ck_assert_int_eq(redjob_enqueue_ex(df.cl, &j, first, &created), 0);
	ck_assert_int_eq(created, 1);
	for (i = 0; i < 5; i++) {
		ck_assert_int_eq(redjob_enqueue_ex(df.cl, &j, id, &created),
		    0);
		ck_assert_str_eq(id, first);
		ck_assert_int_eq(created, 0);
	}
	j.unique = NULL;
	for (i = 0; i < 8; i++) {
		ck_assert_int_eq(redjob_enqueue(df.cl, &j, id), 0);
		per[shard_of_id(id)]++;
	}
	for (i = 0; i < SHARDS; i++)
		ck_assert_uint_eq(per[i], 2);
	stop_clean();
}
END_TEST

/*
 * pause and resume act on every shard: stats says each is paused, no job
 * of any shard runs while they are, and all run after the resume. The
 * CLI's enqueue spreads over the shards, ls lists them all.
 */
START_TEST(test_pause_resume_and_ls_take_every_shard)
{
	struct proc *p;
	json_t *root, *q, *sh, *v;
	const char *name;
	char want[64];
	int i;

	start("{ weight: 1, shards: 4 }");
	p = cli("pause", "hot", NULL);
	ck_assert_msg(p->status == 0, "pause: %s", p->err);
	ck_assert_msg(strstr(p->out, "queue hot paused") != NULL, "%s",
	    p->out);
	proc_free(p);
	/* One call of 12 jobs: a run of 3 in each shard. */
	p = cli_in("0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n", "enqueue",
	    "-q", "hot", "--lines", "run", NULL);
	ck_assert_msg(p->status == 0, "enqueue: %s", p->err);
	ck_assert_int_eq(count_lines(p->out), 12);
	proc_free(p);
	q = stats_of(&root, "hot");
	ck_assert_int_eq(jint(q, "ready"), 12);
	ck_assert(json_is_true(json_object_get(q, "paused")));
	sh = json_object_get(q, "shard");
	json_object_foreach(sh, name, v)
		ck_assert_msg(json_is_true(json_object_get(v, "paused")),
		    "shard %s is not paused", name);
	json_decref(root);

	p = cli("ls", "hot", "--limit", "5", NULL);
	ck_assert_msg(p->status == 0, "ls: %s", p->err);
	/* The first five by due time, of whatever shard: a header + 5. */
	ck_assert_int_eq(count_lines(p->out), 6);
	proc_free(p);
	p = cli("ls", "hot", NULL);
	ck_assert_int_eq(count_lines(p->out), 13);
	for (i = 1; i < SHARDS; i++) {
		snprintf(want, sizeof want, "\nhot~%d:", i);
		ck_assert_msg(strstr(p->out, want) != NULL, "no job of shard "
		    "%d in a batch of twelve: %s", i, p->out);
	}
	proc_free(p);
	ck_assert_int_eq(daemon_count_lines("runs"), 0);

	p = cli("resume", "hot", NULL);
	ck_assert_msg(p->status == 0, "resume: %s", p->err);
	proc_free(p);
	ck_assert(daemon_wait_lines("runs", 12, 15000));
	q = stats_of(&root, "hot");
	ck_assert(json_is_false(json_object_get(q, "paused")));
	ck_assert_int_eq(jint(q, "processed"), 12);
	json_decref(root);
	stop_clean();
}
END_TEST

/*
 * A queue's shards lowered from 4 to 2 while shard 3 holds a job: the
 * workers still serve shards 2 and 3 (the queue registry names them), so
 * the job runs; producers put new jobs in shards 0 and 1 only; stats
 * shows all four under the queue.
 */
START_TEST(test_lowered_shards_drain_and_get_no_new_jobs)
{
	struct proc *p;
	json_t *root, *q;
	int i;

	start("{ weight: 1, shards: 4 }");
	stop_clean();
	p = cli("enqueue", "-q", "hot~3", "run", "left", NULL);
	ck_assert_msg(p->status == 0, "enqueue: %s", p->err);
	ck_assert_msg(strncmp(p->out, "hot~3:", 6) == 0, "%s", p->out);
	proc_free(p);

	start("{ weight: 1, shards: 2 }");
	ck_assert_msg(daemon_wait_lines("runs", 1, 15000), "the job left in "
	    "shard 3 did not run");
	for (i = 0; i < 8; i++) {
		p = cli("enqueue", "-q", "hot", "run", "new", NULL);
		ck_assert_msg(p->status == 0, "enqueue: %s", p->err);
		ck_assert_msg(strncmp(p->out, "hot:", 4) == 0 ||
		    strncmp(p->out, "hot~1:", 6) == 0, "a new job in %s",
		    p->out);
		proc_free(p);
	}
	ck_assert(daemon_wait_lines("runs", 9, 15000));
	q = stats_of(&root, "hot");
	ck_assert_int_eq(jint(q, "shards"), 4);
	ck_assert_int_eq(jint(q, "processed"), 9);
	json_decref(root);
	stop_clean();
}
END_TEST

Suite *
suite(void)
{
	Suite *s = suite_create("shard");
	TCase *tc = tcase_create("parts");

	tcase_add_test(tc, test_shard_names_split_and_join);
	tcase_add_test(tc, test_shard_of_a_key_is_fnv1a);
	tcase_add_test(tc, test_pick_shares_by_weight_and_turns_the_shards);
	suite_add_tcase(s, tc);

	tc = tcase_create("daemon");
	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, redis_start, redis_stop);
	tcase_add_checked_fixture(tc, daemon_setup, daemon_teardown);
	tcase_add_test(tc, test_a_batch_is_spread_evenly_and_runs_once);
	tcase_add_test(tc, test_a_key_keeps_its_shard_and_a_unique_key_its_job);
	tcase_add_test(tc, test_pause_resume_and_ls_take_every_shard);
	tcase_add_test(tc, test_lowered_shards_drain_and_get_no_new_jobs);
	suite_add_tcase(s, tc);
	return s;
}
