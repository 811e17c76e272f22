/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Least privilege, against a real redis-server and real processes: the
 * rules "redjob acl ROLE" prints are applied with redis-cli, exactly as
 * docs/protocol.md says, and then
 *
 *   - a real redjobd runs as the worker user through enqueue, claim, ack,
 *     retries, death, locks, limiters and a reload, and Redis logs no
 *     denial (ACL LOG stays empty);
 *   - a producer enqueues (one job and in bulk) but is refused FCALL
 *     redjob_claim, DEL of a queue key and FUNCTION FLUSH;
 *   - a reader runs stats, ls and show, and nothing that writes;
 *   - a worker is refused FUNCTION FLUSH;
 *   - a command refused at run time is named in STATUS= and the log, and
 *     one refused in the daemon's own setup stops it with the command
 *     named.
 *
 * The library itself is checked too: every redis.call in it is read by
 * the generator, and every command a role's functions run is in that
 * role's rules, so the rules cannot drift from the code. Also here:
 * rediss:// is refused by the CLI, redjobd -t and libredjob, redjobd
 * refuses to run as root without --allow-root, and the library that
 * ships refuses the guards' test-only clock override.
 */
#include "autoconf.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <hiredis/hiredis.h>

#include "acl.h"
#include "compat.h"
#include "redjob.h"
#include "rfunc.h"
#include "daemon_fixture.h"
#include "proc.h"
#include "redis_fixture.h"
#include "testlib.h"

#define PASSWORD "s3cret-pw"

/* Run a program to its end, outputs captured. Caller frees. */
static struct proc *
run(char *const *argv)
{
	struct proc_spec spec;
	struct proc *p;

	memset(&spec, 0, sizeof spec);
	spec.argv = argv;
	spec.out = spec.err = PROC_IO_CAPTURE;
	p = must_spawn(&spec);
	must_wait(p, TESTLIB_DEADLINE_MS);
	return p;
}

/*
 * Give the user redjob-ROLE the rules of "redjob acl ROLE", applied the
 * documented way (piped into redis-cli), and a password.
 */
static void
apply_role(const char *role)
{
	const char *rcli = getenv("REDIS_CLI");
	char cmd[8192];
	char *argv[] = { (char *)"/bin/sh", (char *)"-c", cmd, NULL };
	struct proc *p;

	ck_assert_msg(rcli != NULL && *rcli != '\0', "REDIS_CLI is not set");
	snprintf(cmd, sizeof cmd, "set -e; '%s' acl %s | '%s' -s '%s'",
	    testlib_redjob(), role, rcli, rf.sock);
	p = run(argv);
	ck_assert_msg(p->status == 0 && strstr(p->out, "OK") != NULL,
	    "applying %s: exit %d, out %s, err %s", role, p->status, p->out,
	    p->err);
	proc_free(p);
	freeReplyObject(must_command(rf.c, "ACL SETUSER redjob-%s on >%s",
	    role, PASSWORD));
}

/* The unix URL of the fixture's server as redjob-ROLE. */
static const char *
role_url(const char *role)
{
	static char url[4200];

	snprintf(url, sizeof url, "unix://redjob-%s:%s@%s", role, PASSWORD,
	    rf.sock);
	return url;
}

/* A connection as redjob-ROLE. Caller frees. */
static redisContext *
connect_as(const char *role)
{
	redisContext *c = redisConnectUnix(rf.sock);
	redisReply *r;

	ck_assert_msg(c != NULL && c->err == 0, "connect");
	r = redisCommand(c, "AUTH redjob-%s %s", role, PASSWORD);
	ck_assert_msg(r != NULL && r->type == REDIS_REPLY_STATUS, "AUTH");
	freeReplyObject(r);
	return c;
}

/* Run a command expecting NOPERM (or a function's permission error). */
static void
assert_denied(redisContext *c, const char *what, const char *fmt, ...)
{
	redisReply *r;
	va_list ap;

	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	ck_assert_msg(r != NULL, "%s: no reply", what);
	ck_assert_msg(r->type == REDIS_REPLY_ERROR &&
	    rfunc_classify(r) == RFUNC_NOPERM, "%s was not refused: %s", what,
	    r->type == REDIS_REPLY_ERROR ? r->str : "(not an error)");
	freeReplyObject(r);
}

/* The number of ACL LOG entries; on failure, the test names them. */
static size_t
acl_log(char *names, size_t len)
{
	redisReply *r = must_command(rf.c, "ACL LOG"), *e;
	size_t i, j, n, o = 0;

	ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
	n = r->elements;
	if (names != NULL)
		names[0] = '\0';
	for (i = 0; names != NULL && i < n; i++) {
		e = r->element[i];
		for (j = 0; j + 1 < e->elements; j += 2) {
			if (strcmp(e->element[j]->str, "object") == 0 ||
			    strcmp(e->element[j]->str, "reason") == 0 ||
			    strcmp(e->element[j]->str, "username") == 0)
				o += (size_t)snprintf(names + o, len - o,
				    "%s ", e->element[j + 1]->str);
			if (o >= len)
				o = len - 1;
		}
	}
	freeReplyObject(r);
	return n;
}

static void
assert_no_denials(const char *when)
{
	char names[2048];
	size_t n = acl_log(names, sizeof names);

	ck_assert_msg(n == 0, "%s: ACL LOG has %zu entries: %s", when, n,
	    names);
}

/* Setup: the fixture's default user (all rights) loads the library. */
static void
acl_setup(void)
{
	daemon_setup();
	freeReplyObject(must_command(rf.c, "ACL LOG RESET"));
}

static void
acl_teardown(void)
{
	redisReply *r;

	if (df.proc != NULL && df.proc->status == -1) {
		daemon_signal(SIGKILL);
		daemon_wait_exit(10000);
	}
	/* The users outlive FLUSHALL: drop them for the next test. */
	r = redisCommand(rf.c, "ACL DELUSER redjob-worker redjob-producer "
	    "redjob-reader redjob-admin");
	freeReplyObject(r);
	daemon_teardown();
}

/* ---------------------------------------------------------------------
 * The rules against the library.
 */

START_TEST(test_every_command_of_the_library_is_in_the_rules)
{
	static const enum acl_role roles[] = {
		ACL_WORKER, ACL_PRODUCER, ACL_READER, ACL_ADMIN,
	};
	struct acl_lib *lib;
	struct acl_list cmds = { NULL, 0 }, all = { NULL, 0 };
	struct acl *acl;
	const char *fn, *p;
	char err[256], name[64], call[96];
	size_t i, k, r, calls = 0, n;
	int ro;

	lib = acl_lib_scan(rfunc_lua, rfunc_lua_len, err, sizeof err);
	ck_assert_msg(lib != NULL, "%s", err);
	ck_assert_uint_ge(acl_lib_nfunctions(lib), 20);
	for (r = 0; r < nitems(roles); r++) {
		acl = acl_build(roles[r], "redjob", err, sizeof err);
		ck_assert_msg(acl != NULL, "%s", err);
		for (i = 0; i < acl_lib_nfunctions(lib); i++) {
			fn = acl_lib_function(lib, i, &ro);
			snprintf(call, sizeof call, "%s|%s", ro ? "fcall_ro" :
			    "fcall", fn);
			if (!acl_list_has(&acl->functions, call))
				continue;
			ck_assert_int_eq(acl_lib_commands(lib, fn, &cmds), 0);
			for (k = 0; k < cmds.n; k++)
				ck_assert_msg(acl_list_has(&acl->commands,
				    cmds.v[k]), "%s runs %s, which the %s "
				    "rules lack", fn, cmds.v[k],
				    acl_role_name(roles[r]));
			acl_list_free(&cmds);
		}
		acl_free(acl);
	}
	/* Every function of a role is in its rules. */
	acl = acl_build(ACL_WORKER, "redjob", err, sizeof err);
	ck_assert(acl_list_has(&acl->functions, "fcall|redjob_claim"));
	ck_assert(acl_list_has(&acl->functions, "fcall|redjob_limit_undo"));
	ck_assert(acl_list_has(&acl->functions, "fcall|redjob_lock_acquire"));
	ck_assert(!acl_list_has(&acl->functions, "fcall|redjob_enqueue"));
	ck_assert(!acl_list_has(&acl->commands, "function"));
	acl_free(acl);
	acl = acl_build(ACL_PRODUCER, "redjob", err, sizeof err);
	/* enqueue, enqueue_bulk, served, result (wait) and version. */
	ck_assert_uint_eq(acl->functions.n, 5);
	ck_assert(acl_list_has(&acl->functions, "fcall_ro|redjob_result"));
	ck_assert(acl_list_has(&acl->commands, "subscribe"));
	ck_assert(!acl_list_has(&acl->commands, "del"));
	acl_free(acl);

	/*
	 * Independently of the lexer: every "redis.call(" or
	 * "redis.pcall(" in the text has a literal command, and that
	 * command is among those the scan found for some function.
	 */
	for (i = 0; i < acl_lib_nfunctions(lib); i++)
		acl_lib_commands(lib, acl_lib_function(lib, i, NULL), &all);
	for (p = rfunc_lua; (p = strstr(p, "redis.")) != NULL; p++) {
		if (strncmp(p, "redis.call(", 11) == 0)
			n = 11;
		else if (strncmp(p, "redis.pcall(", 12) == 0)
			n = 12;
		else
			continue;
		calls++;
		ck_assert_msg(p[n] == '\'', "a redis.call without a literal "
		    "command: %.60s", p);
		for (k = 0; p[n + 1 + k] != '\'' && k + 1 < sizeof name; k++)
			name[k] = (char)(p[n + 1 + k] | 0x20);
		name[k] = '\0';
		ck_assert_msg(acl_list_has(&all, name), "redis.call('%s') is "
		    "run by no registered function the scan knows", name);
	}
	ck_assert_uint_ge(calls, 100);
	acl_list_free(&all);
	acl_lib_free(lib);
}
END_TEST

START_TEST(test_the_protocol_document_shows_the_real_rules)
{
	static const char *const roles[] = {
		"worker", "producer", "reader", "admin",
	};
	char path[4096], *doc, *line;
	char *argv[] = { testlib_redjob(), (char *)"acl", NULL, NULL };
	struct proc *p;
	size_t i;

	snprintf(path, sizeof path, "%s/docs/protocol.md", testlib_srcdir());
	doc = must_read_file(path, NULL);
	for (i = 0; i < nitems(roles); i++) {
		argv[2] = (char *)roles[i];
		p = run(argv);
		ck_assert_int_eq(p->status, 0);
		line = strtok(p->out, "\n");
		ck_assert_ptr_nonnull(line);
		ck_assert_msg(strstr(doc, line) != NULL, "docs/protocol.md "
		    "lacks the output of redjob acl %s:\n%s", roles[i], line);
		proc_free(p);
	}
	free(doc);
}
END_TEST

START_TEST(test_acl_usage_errors_and_json)
{
	char *bad[] = { testlib_redjob(), (char *)"acl", (char *)"root", NULL };
	char *none[] = { testlib_redjob(), (char *)"acl", NULL };
	char *ns[] = { testlib_redjob(), (char *)"acl", (char *)"--json",
	    (char *)"reader", (char *)"--namespace", (char *)"shop", NULL };
	char *badns[] = { testlib_redjob(), (char *)"acl", (char *)"worker",
	    (char *)"--namespace", (char *)"a{b", NULL };
	struct proc *p;

	p = run(bad);
	ck_assert_int_eq(p->status, 2);
	ck_assert_ptr_nonnull(strstr(p->err, "unknown role \"root\""));
	proc_free(p);
	p = run(none);
	ck_assert_int_eq(p->status, 2);
	ck_assert_ptr_nonnull(strstr(p->err, "no role given"));
	proc_free(p);
	p = run(badns);
	ck_assert_int_eq(p->status, 2);
	proc_free(p);
	p = run(ns);
	ck_assert_int_eq(p->status, 0);
	ck_assert_ptr_nonnull(strstr(p->out, "\"%R~shop:{*\""));
	ck_assert_ptr_nonnull(strstr(p->out, "\"fcall_ro|redjob_stats\""));
	ck_assert_ptr_null(strstr(p->out, "\"fcall|"));
	proc_free(p);
}
END_TEST

/* ---------------------------------------------------------------------
 * The roles against a real server.
 */

static const char daemon_yaml[] =
    "redis:\n"
    "  url: %s\n"
    "workers: 2\n"
    "concurrency: 4\n"
    "shutdown_timeout: 2s\n"
    "lease: 3s\n"
    "queues: { default: 1, other: 1 }\n"
    "limiters:\n"
    "  steady: { kind: gcra, rate: 50/s, burst: 2 }\n"
    "  two: { kind: concurrency, limit: 2, lease: 2s }\n"
    "  win: { kind: window, limit: 100, period: 1m }\n"
    "  drip: { kind: funnel, capacity: 5, rate: 50/s }\n"
    "jobs:\n"
    "  ok:\n"
    "    exec: [/bin/true]\n"
    "  flaky:\n"
    "    exec: [/bin/sh, -c, 'exit 3']\n"
    "    retry: { max_attempts: 2, backoff: fixed, base: 50ms, "
    "jitter: 0 }\n"
    "  locked:\n"
    "    exec: [/bin/sh, -c, 'sleep 0.05']\n"
    "    lock: { key: \"acct:{key}\", ttl: 2s, requeue_delay: 20ms }\n"
    "  limited:\n"
    "    exec: [/bin/true]\n"
    "    limit: [steady, two, win, drip]\n";

static void
enqueue_n(const char *type, const char *key, int n)
{
	char id[REDJOB_ID_MAX];
	int i;

	for (i = 0; i < n; i++) {
		struct redjob_job j = { .type = type, .payload = "x",
			.payload_len = 1, .key = key };

		ck_assert_msg(redjob_enqueue(df.cl, &j, id) == 0, "enqueue: %s",
		    redjob_errstr(df.cl));
	}
}

START_TEST(test_redjobd_as_the_worker_user_is_never_denied)
{
	char *lock[] = { testlib_redjob(), (char *)"-u", NULL,
	    (char *)"lock", (char *)"--ttl", (char *)"5s", (char *)"nightly",
	    (char *)"--", (char *)"/bin/true", NULL };
	char *throttle[] = { testlib_redjob(), (char *)"throttle",
	    (char *)"-c", NULL, NULL, (char *)"steady", NULL };
	redisContext *w;
	redisReply *r;
	struct proc *p;
	int i;

	apply_role("worker");
	daemon_write_config(daemon_yaml, role_url("worker"));
	daemon_start(NULL);
	ck_assert_msg(notify_wait("READY=1", 15000) != NULL,
	    "no READY=1 from redjobd as the worker user");

	enqueue_n("ok", NULL, 20);
	enqueue_n("flaky", NULL, 2);
	enqueue_n("locked", "1", 6);
	enqueue_n("limited", NULL, 10);
	ck_assert_msg(wait_stat("default", "processed", 36, 20000),
	    "processed %lld of 36", queue_stat("default", "processed"));
	ck_assert_msg(wait_stat("default", "dead", 2, 20000), "dead %lld",
	    queue_stat("default", "dead"));
	ck_assert_int_ge(queue_stat("default", "retried"), 2);
	assert_no_denials("after enqueue, claim, ack, retries and guards");

	/* A reload: a new generation of workers takes over. */
	daemon_signal(SIGHUP);
	ck_assert(daemon_wait_log("generation 2 ready", 15000));
	enqueue_n("ok", NULL, 5);
	enqueue_n("locked", "2", 2);
	ck_assert_msg(wait_stat("default", "processed", 43, 20000),
	    "processed %lld of 43", queue_stat("default", "processed"));
	assert_no_denials("after a reload");

	/* redjob lock and redjob throttle are of the worker's role too. */
	lock[2] = (char *)role_url("worker");
	p = run(lock);
	ck_assert_msg(p->status == 0, "redjob lock: exit %d: %s", p->status,
	    p->err);
	proc_free(p);
	throttle[3] = df.config;
	for (i = 0; i < 2; i++) {
		throttle[4] = (char *)(i == 0 ? "--peek" : "--take");
		p = run(throttle);
		ck_assert_msg(p->status == 0 && strstr(p->out, "allowed") !=
		    NULL, "redjob throttle %s: exit %d: %s", throttle[4],
		    p->status, p->err);
		proc_free(p);
	}
	assert_no_denials("after redjob lock and redjob throttle");

	/* A worker may not drop the library. */
	w = connect_as("worker");
	assert_denied(w, "FUNCTION FLUSH", "FUNCTION FLUSH");
	assert_denied(w, "FCALL redjob_enqueue", "FCALL redjob_enqueue 1 "
	    "redjob:{default} ok x");
	assert_denied(w, "FCALL redjob_remove", "FCALL redjob_remove 1 "
	    "redjob:{default} default:1");
	assert_denied(w, "FCALL redjob_cancel", "FCALL redjob_cancel 1 "
	    "redjob:{default} default:1");
	redisFree(w);
	freeReplyObject(must_command(rf.c, "ACL LOG RESET"));

	/* The workers hear cancels: their subscription was allowed. */
	r = must_command(rf.c, "PUBSUB NUMSUB redjob:{default}:cancel");
	ck_assert_msg(r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[1]->integer >= 1, "no worker listens for cancels");
	freeReplyObject(r);
	w = connect_as("worker");
	r = redisCommand(w, "SUBSCRIBE redjob:{default}:cancel");
	ck_assert_msg(r != NULL && r->type == REDIS_REPLY_ARRAY, "SUBSCRIBE "
	    "as the worker: %s", r != NULL && r->type == REDIS_REPLY_ERROR ?
	    r->str : "no reply");
	freeReplyObject(r);
	redisFree(w);

	daemon_signal(SIGTERM);
	ck_assert_int_eq(daemon_wait_exit(20000), 0);
	assert_no_denials("after a graceful stop");
	ck_assert(!daemon_log_has("NOPERM"));
}
END_TEST

/*
 * Rules given before sharded queues (no NS:shards, no SMEMBERS for the
 * worker): redjobd starts all the same and runs the jobs, a sharded
 * queue's too (all in its first shard, with a warning), and a producer
 * with the old rules enqueues into it.
 */
START_TEST(test_rules_from_before_the_shard_table_still_work)
{
	char *enq[] = { testlib_redjob(), (char *)"-u", NULL,
	    (char *)"enqueue", (char *)"-q", (char *)"hot", (char *)"ok",
	    (char *)"{}", NULL };
	struct proc *p;

	apply_role("worker");
	apply_role("producer");
	freeReplyObject(must_command(rf.c, "ACL SETUSER redjob-worker "
	    "-smembers resetkeys ~redjob:{* ~redjob:queues ~redjob:types "
	    "~redjob:lock:{* ~redjob:limit:{* ~redjob:workers "
	    "~redjob:worker:*"));
	freeReplyObject(must_command(rf.c, "ACL SETUSER redjob-producer "
	    "resetkeys ~redjob:{* ~redjob:queues ~redjob:types"));
	daemon_write_config(
	    "redis:\n"
	    "  url: %s\n"
	    "workers: 1\n"
	    "queues: { default: 1, hot: { weight: 1, shards: 3 } }\n"
	    "jobs:\n"
	    "  ok: { exec: [/bin/true] }\n", role_url("worker"));
	daemon_start(NULL);
	ck_assert_msg(notify_wait("READY=1", 15000) != NULL,
	    "no READY=1 with the rules of before the shard table");
	ck_assert(daemon_wait_log("queue hot: the shard table redjob:shards "
	    "is not written", 5000));
	enq[2] = (char *)role_url("producer");
	p = run(enq);
	ck_assert_msg(p->status == 0 && strncmp(p->out, "hot:", 4) == 0,
	    "enqueue with the old rules: exit %d: %s%s", p->status, p->out,
	    p->err);
	proc_free(p);
	enqueue_n("ok", NULL, 3);
	ck_assert(wait_stat("hot", "processed", 1, 15000));
	ck_assert(wait_stat("default", "processed", 3, 15000));
	/* A reader with the old rules sees every queue, the shards' too. */
	apply_role("reader");
	freeReplyObject(must_command(rf.c, "ACL SETUSER redjob-reader "
	    "resetkeys %%R~redjob:{* %%R~redjob:queues %%R~redjob:types "
	    "%%R~redjob:lock:{* %%R~redjob:limit:{* %%R~redjob:workers "
	    "%%R~redjob:worker:*"));
	{
		char *stats[] = { testlib_redjob(), (char *)"-u",
		    (char *)role_url("reader"), (char *)"stats", NULL };
		char *ls[] = { testlib_redjob(), (char *)"-u",
		    (char *)role_url("reader"), (char *)"ls", (char *)"hot",
		    (char *)"--state", (char *)"ready", NULL };

		p = run(stats);
		ck_assert_msg(p->status == 0 && strstr(p->out, "\nhot ") !=
		    NULL && strstr(p->out, "3 shards") != NULL, "stats with "
		    "the old rules: exit %d: %s%s", p->status, p->out, p->err);
		proc_free(p);
		p = run(ls);
		ck_assert_msg(p->status == 0, "ls with the old rules: exit %d: "
		    "%s", p->status, p->err);
		proc_free(p);
	}
	daemon_signal(SIGTERM);
	ck_assert_int_eq(daemon_wait_exit(20000), 0);
}
END_TEST

START_TEST(test_a_producer_enqueues_and_may_do_nothing_else)
{
	char *one[] = { testlib_redjob(), (char *)"-u", NULL,
	    (char *)"enqueue", (char *)"-q", (char *)"mail", (char *)"send",
	    (char *)"{}", NULL };
	char cmd[8192];
	char *bulk[] = { (char *)"/bin/sh", (char *)"-c", cmd, NULL };
	redisContext *p;
	struct proc *r;

	apply_role("producer");
	one[2] = (char *)role_url("producer");
	r = run(one);
	ck_assert_msg(r->status == 0 && strcmp(r->out, "mail:1\n") == 0,
	    "exit %d: %s", r->status, r->err);
	proc_free(r);
	snprintf(cmd, sizeof cmd, "seq 300 | '%s' -u '%s' enqueue -q mail "
	    "--lines send", testlib_redjob(), role_url("producer"));
	r = run(bulk);
	ck_assert_msg(r->status == 0, "exit %d: %s", r->status, r->err);
	proc_free(r);
	ck_assert_int_eq(must_int(rf.c, "ZCARD redjob:{mail}:due"), 301);
	ck_assert_int_eq(must_int(rf.c, "SISMEMBER redjob:queues mail"), 1);
	assert_no_denials("after the producer's enqueues");

	p = connect_as("producer");
	assert_denied(p, "FCALL redjob_claim", "FCALL redjob_claim 1 "
	    "redjob:{mail} 10 30000 1 stolen-token-123");
	assert_denied(p, "DEL of a queue key", "DEL redjob:{mail}:due");
	assert_denied(p, "FUNCTION FLUSH", "FUNCTION FLUSH");
	assert_denied(p, "FCALL redjob_remove", "FCALL redjob_remove 1 "
	    "redjob:{mail} mail:1");
	assert_denied(p, "a key of another namespace", "SADD other:queues x");
	redisFree(p);
	ck_assert_int_eq(must_int(rf.c, "ZCARD redjob:{mail}:due"), 301);
	ck_assert_int_eq(must_int(rf.c, "ZCARD redjob:{mail}:run"), 0);
	/* Identical denials share an entry: the two FCALLs are one. */
	ck_assert_uint_ge(acl_log(NULL, 0), 4);
}
END_TEST

START_TEST(test_a_reader_reads_and_writes_nothing)
{
	const char *url;
	char *argv[9] = { testlib_redjob(), (char *)"-u", NULL, NULL };
	static const char *const ok[][3] = {
		{ "stats", NULL, NULL },
		{ "stats", "--json", NULL },
		{ "ls", "mail", NULL },
		{ "show", "mail:1", NULL },
		{ "why", "mail:1", NULL },
		{ "workers", "--json", NULL },
	};
	static const char *const refused[][5] = {
		{ "enqueue", "-q", "mail", "t", "p" },
		{ "rm", "mail:1", NULL, NULL, NULL },
		{ "retry", "mail:1", NULL, NULL, NULL },
		{ "pause", "mail", NULL, NULL, NULL },
	};
	redisContext *c;
	struct proc *r;
	size_t i;

	enqueue_n("ok", NULL, 1);
	freeReplyObject(must_command(rf.c, "SADD redjob:queues mail"));
	freeReplyObject(must_command(rf.c, "RENAME redjob:{default}:due "
	    "redjob:{mail}:due"));
	freeReplyObject(must_command(rf.c, "RENAME redjob:{default}:jobs "
	    "redjob:{mail}:jobs"));
	apply_role("reader");
	url = role_url("reader");
	argv[2] = (char *)url;
	for (i = 0; i < nitems(ok); i++) {
		argv[3] = (char *)ok[i][0];
		argv[4] = (char *)ok[i][1];
		argv[5] = NULL;
		r = run(argv);
		ck_assert_msg(r->status == 0, "redjob %s: exit %d: %s",
		    ok[i][0], r->status, r->err);
		proc_free(r);
	}
	assert_no_denials("after stats, ls, show, why and workers");
	for (i = 0; i < nitems(refused); i++) {
		argv[3] = (char *)refused[i][0];
		argv[4] = (char *)refused[i][1];
		argv[5] = (char *)refused[i][2];
		argv[6] = (char *)refused[i][3];
		argv[7] = (char *)refused[i][4];
		argv[8] = NULL;
		r = run(argv);
		ck_assert_msg(r->status == 1 && strstr(r->err, "NOPERM") !=
		    NULL, "redjob %s: exit %d: %s", refused[i][0], r->status,
		    r->err);
		ck_assert_ptr_nonnull(strstr(r->err, "redjob acl"));
		proc_free(r);
	}
	c = connect_as("reader");
	assert_denied(c, "HSET", "HSET redjob:{mail}:j:1 type evil");
	assert_denied(c, "FCALL of a read-only function",
	    "FCALL redjob_stats 1 redjob:{mail}");
	redisFree(c);
	ck_assert_int_eq(must_int(rf.c, "ZCARD redjob:{mail}:due"), 1);
}
END_TEST

/*
 * The reader and the producer may wait for a job (redjob wait): the type
 * table, the job's channel and redjob_result. Two waiters subscribed as
 * them are told when the job is done, and print its result; one of a job
 * that does not finish times out. None of it is denied.
 */
START_TEST(test_readers_and_producers_may_wait)
{
	static const char *const roles[] = { "reader", "producer" };
	char *argv[2][8];
	char *late[] = { testlib_redjob(), (char *)"-u", NULL, (char *)"wait",
	    (char *)"--timeout", (char *)"100ms", (char *)"default:2", NULL };
	struct proc_spec spec;
	struct proc *p[2], *r;
	uint64_t end;
	long long n = 0;
	size_t i;

	enqueue_n("ok", NULL, 2);
	freeReplyObject(must_command(rf.c, "HSET redjob:types ok default %s %s",
	    "ok result", "1048576 60000"));
	freeReplyObject(must_command(rf.c, "FCALL redjob_claim 1 "
	    "redjob:{default} 1 60000 1 waiting-test-token w"));
	memset(&spec, 0, sizeof spec);
	spec.out = spec.err = PROC_IO_CAPTURE;
	for (i = 0; i < nitems(roles); i++) {
		apply_role(roles[i]);
		argv[i][0] = testlib_redjob();
		argv[i][1] = (char *)"-u";
		argv[i][2] = (char *)role_url(roles[i]);
		argv[i][3] = (char *)"wait";
		argv[i][4] = (char *)"--timeout";
		argv[i][5] = (char *)"60s";
		argv[i][6] = (char *)"default:1";
		argv[i][7] = NULL;
		spec.argv = argv[i];
		p[i] = must_spawn(&spec);
	}
	end = testlib_now_ms() + 15000;
	while (n < 2 && testlib_now_ms() < end) {
		redisReply *x = must_command(rf.c, "PUBSUB NUMSUB "
		    "redjob:{default}:fin:1");

		n = x->element[1]->integer;
		freeReplyObject(x);
		/* A waiter that ended here was refused: say why. */
		for (i = 0; i < nitems(roles); i++) {
			if (proc_wait(p[i], 0) != -1)
				must_wait(p[i], TESTLIB_DEADLINE_MS);
			ck_assert_msg(p[i]->status == -1, "%s: exit %d: %s%s",
			    roles[i], p[i]->status, p[i]->out, p[i]->err);
		}
	}
	ck_assert_int_eq(n, 2);
	freeReplyObject(must_command(rf.c, "FCALL redjob_done 1 "
	    "redjob:{default} default:1 waiting-test-token 60000 %b",
	    "res\0ult", (size_t)7));
	for (i = 0; i < nitems(roles); i++) {
		must_wait(p[i], TESTLIB_DEADLINE_MS);
		ck_assert_msg(p[i]->status == 0, "%s: exit %d: %s", roles[i],
		    p[i]->status, p[i]->err);
		ck_assert_uint_eq(p[i]->outlen, 7);
		ck_assert(memcmp(p[i]->out, "res\0ult", 7) == 0);
		proc_free(p[i]);
	}
	late[2] = (char *)role_url("reader");
	r = run(late);
	ck_assert_msg(r->status == 75, "exit %d: %s", r->status, r->err);
	proc_free(r);
	assert_no_denials("after waiting as the reader and the producer");
}
END_TEST

START_TEST(test_a_refused_command_at_run_time_is_named)
{
	const char *msg;
	int i;

	/* Without WATCHDOG_PID, systemd's watchdog applies to any pid. */
	static const char *const env[] = { "WATCHDOG_USEC=200000", NULL };

	apply_role("worker");
	daemon_write_config(daemon_yaml, role_url("worker"));
	daemon_start(env);
	ck_assert(notify_wait("READY=1", 15000) != NULL);
	ck_assert(notify_wait("WATCHDOG=1", 5000) != NULL);
	freeReplyObject(must_command(rf.c, "ACL SETUSER redjob-worker "
	    "-bzpopmin"));
	/* Wakes the workers: their next wait is refused. */
	enqueue_n("ok", NULL, 1);
	msg = notify_wait("NOPERM on", 15000);
	ck_assert_msg(msg != NULL, "no STATUS= naming the refusal");
	ck_assert_msg(strstr(msg, "STATUS=redis: NOPERM on BZPOPMIN (see "
	    "redjob acl)") != NULL, "%s", msg);
	ck_assert(daemon_wait_log("NOPERM on BZPOPMIN (see redjob acl)",
	    5000));
	/* The watchdog is not fed while it lasts (it would be every 100 ms). */
	ck_assert_msg(notify_wait("WATCHDOG=1", 1500) == NULL,
	    "WATCHDOG=1 while the workers are refused BZPOPMIN");

	freeReplyObject(must_command(rf.c, "ACL SETUSER redjob-worker "
	    "+bzpopmin"));
	/*
	 * A wait sent after this blocks, and answers when a job wakes it:
	 * enqueue until a wait has answered and the end is logged.
	 */
	for (i = 0; i < 15; i++) {
		enqueue_n("ok", NULL, 1);
		if (daemon_wait_log("NOPERM on BZPOPMIN is over", 1000))
			break;
	}
	ck_assert_msg(i < 15, "the end of the refusal was not logged");
	ck_assert(wait_stat("default", "processed", 2, 15000));
	ck_assert_msg(notify_wait("WATCHDOG=1", 5000) != NULL,
	    "no WATCHDOG=1 once the refusal is over");

	/*
	 * The library flushed: the workers may not load it. Raw writes, so
	 * that no client of the test loads it first: a wake-up makes a
	 * worker claim, and its claim finds no library.
	 */
	freeReplyObject(must_command(rf.c, "FUNCTION FLUSH"));
	freeReplyObject(must_command(rf.c, "ZADD redjob:{default}:wake 0 w"));
	msg = notify_wait("NOPERM on FUNCTION LOAD", 15000);
	ck_assert_msg(msg != NULL, "no STATUS= naming FUNCTION LOAD");
	ck_assert(notify_wait("WATCHDOG=1", 1500) == NULL);
	/* An admin loads it: the next call works and the condition ends. */
	redis_load_test_lib();
	for (i = 0; i < 15; i++) {
		freeReplyObject(must_command(rf.c, "ZADD redjob:{default}:wake "
		    "0 w"));
		if (daemon_wait_log("NOPERM on FUNCTION LOAD is over", 1000))
			break;
	}
	ck_assert_msg(i < 15, "the end of the refused load was not logged");
	ck_assert(notify_wait("WATCHDOG=1", 5000) != NULL);
	enqueue_n("ok", NULL, 1);
	ck_assert(wait_stat("default", "processed",
	    queue_stat("default", "enqueued"), 15000));
	daemon_signal(SIGTERM);
	ck_assert_int_eq(daemon_wait_exit(20000), 0);
}
END_TEST

/*
 * A worker whose user may not SUBSCRIBE (an ACL from before redjob
 * cancel) names the refusal, keeps running jobs, tries again with
 * backoff, and says when it is over.
 */
START_TEST(test_a_refused_subscribe_is_named_jobs_still_run)
{
	const char *msg;
	redisReply *r;

	apply_role("worker");
	daemon_write_config(daemon_yaml, role_url("worker"));
	daemon_start(NULL);
	ck_assert(notify_wait("READY=1", 15000) != NULL);
	freeReplyObject(must_command(rf.c, "ACL SETUSER redjob-worker "
	    "-subscribe"));
	r = must_command(rf.c, "CLIENT KILL TYPE pubsub");
	ck_assert_int_ge(r->integer, 1);
	freeReplyObject(r);
	msg = notify_wait("NOPERM on SUBSCRIBE", 15000);
	ck_assert_msg(msg != NULL, "no STATUS= naming the refusal");
	ck_assert_msg(strstr(msg, "STATUS=redis: NOPERM on SUBSCRIBE (see "
	    "redjob acl)") != NULL, "%s", msg);
	ck_assert(daemon_wait_log("NOPERM on SUBSCRIBE (see redjob acl)",
	    5000));
	enqueue_n("ok", NULL, 5);
	ck_assert(wait_stat("default", "processed", 5, 15000));
	freeReplyObject(must_command(rf.c, "ACL SETUSER redjob-worker "
	    "+subscribe"));
	ck_assert_msg(daemon_wait_log("NOPERM on SUBSCRIBE is over", 15000),
	    "the end of the refusal was not logged");
	daemon_signal(SIGTERM);
	ck_assert_int_eq(daemon_wait_exit(20000), 0);
}
END_TEST

/*
 * redjob health fails while a worker's claims are refused, naming the
 * refusal, and passes again once they are allowed.
 */
START_TEST(test_health_fails_while_claims_are_denied)
{
	char *argv[] = { testlib_redjob(), (char *)"-u", rf.url,
	    (char *)"health", (char *)"--max-age", (char *)"2s", NULL };
	struct proc *r;
	uint64_t end;

	apply_role("worker");
	daemon_write_config(daemon_yaml, role_url("worker"));
	daemon_start(NULL);
	ck_assert(notify_wait("READY=1", 15000) != NULL);
	for (end = testlib_now_ms() + 10000;; proc_free(r)) {
		r = run(argv);
		if (r->status == 0 || testlib_now_ms() > end)
			break;
	}
	ck_assert_msg(r->status == 0, "not healthy at first: %s", r->err);
	proc_free(r);

	/* Redis 7.0 cannot take back one first-argument rule: all FCALLs. */
	freeReplyObject(must_command(rf.c, "ACL SETUSER redjob-worker "
	    "-fcall"));
	enqueue_n("ok", NULL, 1);	/* wakes them: their claims fail */
	/* The refusal is named once the worker's next beat has written it. */
	for (end = testlib_now_ms() + 15000;; proc_free(r)) {
		r = run(argv);
		if ((r->status != 0 && strstr(r->err, "NOPERM") != NULL) ||
		    testlib_now_ms() > end)
			break;
	}
	ck_assert_msg(r->status == 1, "healthy while claims are refused");
	ck_assert_msg(strstr(r->err, "has not consumed for") != NULL &&
	    strstr(r->err, "NOPERM") != NULL, "%s", r->err);
	proc_free(r);

	apply_role("worker");
	for (end = testlib_now_ms() + 20000;; proc_free(r)) {
		r = run(argv);
		if (r->status == 0 || testlib_now_ms() > end)
			break;
	}
	ck_assert_msg(r->status == 0, "not healthy again: %s", r->err);
	proc_free(r);
	ck_assert(wait_stat("default", "processed", 1, 15000));
}
END_TEST

START_TEST(test_a_refused_setup_stops_redjobd_naming_the_command)
{
	/* No CLIENT SETNAME: every worker's handshake is refused. */
	apply_role("worker");
	freeReplyObject(must_command(rf.c, "ACL SETUSER redjob-worker "
	    "-client|setname"));
	daemon_write_config(daemon_yaml, role_url("worker"));
	daemon_start(NULL);
	ck_assert_int_eq(daemon_wait_exit(20000), 1);
	ck_assert_msg(daemon_log_has("redis refused CLIENT SETNAME (see "
	    "redjob acl)"), "the log does not name CLIENT SETNAME");
	ck_assert(notify_wait("READY=1", 100) == NULL);

	/* No library, and the worker may not load it. */
	freeReplyObject(must_command(rf.c, "ACL SETUSER redjob-worker "
	    "+client|setname"));
	freeReplyObject(must_command(rf.c, "FUNCTION FLUSH"));
	daemon_start(NULL);
	ck_assert_int_eq(daemon_wait_exit(20000), 1);
	ck_assert_msg(daemon_log_has("'function|load'"), "the log does not "
	    "name FUNCTION LOAD");
	ck_assert(daemon_log_has("redjob acl"));
}
END_TEST

/*
 * The limiters' "now MS" clock override exists in the tests' copy of the
 * library only: the one that ships, which the daemon, the CLI and
 * libredjob load, refuses it from any client.
 */
START_TEST(test_the_shipped_library_refuses_a_clock_override)
{
	redisReply *r;

	/* daemon_setup's client loaded the shipped library. */
	r = redisCommand(rf.c, "FCALL redjob_limit_gcra 1 redjob:limit:{g:} "
	    "0 1 1000 1 now 5000");
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
	ck_assert_msg(strncmp(r->str, "REDJOB_BADARG ", 14) == 0 &&
	    strstr(r->str, "only by the library built for the tests") != NULL,
	    "%s", r->str);
	freeReplyObject(r);
	r = redisCommand(rf.c, "FCALL redjob_limit_undo 1 redjob:limit:{g:} "
	    "gcra 1 1000 1 now 5000");
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
	freeReplyObject(r);
	ck_assert_int_eq(must_int(rf.c, "EXISTS redjob:limit:{g:}"), 0);
	/* Without it, the call reads the server clock. */
	r = must_command(rf.c, "FCALL redjob_limit_gcra 1 redjob:limit:{g:} "
	    "0 1 1000 1");
	ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
	freeReplyObject(r);

	/* The tests' copy takes it. */
	redis_load_test_lib();
	r = must_command(rf.c, "FCALL redjob_limit_gcra 1 redjob:limit:{h:} "
	    "0 1 1000 1 now 5000");
	ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
	freeReplyObject(r);
}
END_TEST

/* ---------------------------------------------------------------------
 * TLS URLs and root.
 */

START_TEST(test_rediss_is_refused_with_what_to_do)
{
	char *cli[] = { testlib_redjob(), (char *)"-u",
	    (char *)"rediss://u:pw@redis.example:6380/0", (char *)"stats",
	    NULL };
	char bin[4096], *check[] = { bin, (char *)"-t", (char *)"-c",
	    df.config, NULL };
	struct redjob_client *c;
	struct proc *p;

	p = run(cli);
	ck_assert_int_eq(p->status, 2);
	ck_assert_msg(strstr(p->err, "TLS (rediss://) is not supported by "
	    "this build") != NULL && strstr(p->err, "stunnel") != NULL,
	    "%s", p->err);
	ck_assert_ptr_null(strstr(p->err, "pw"));
	proc_free(p);

	daemon_write_config("redis:\n  url: rediss://redis.example:6380/0\n"
	    "jobs:\n  ok:\n    exec: [/bin/true]\n");
	snprintf(bin, sizeof bin, "%s/src/redjobd", testlib_builddir());
	p = run(check);
	ck_assert_int_eq(p->status, 1);
	ck_assert_msg(strstr(p->err, "TLS (rediss://) is not supported by "
	    "this build") != NULL, "%s", p->err);
	proc_free(p);

	c = redjob_connect("rediss://redis.example:6380/0", NULL);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(redjob_errcode(c), REDJOB_ERR_URL);
	ck_assert_msg(strstr(redjob_errstr(c), "TLS (rediss://) is not "
	    "supported by this build") != NULL, "%s", redjob_errstr(c));
	redjob_free(c);
}
END_TEST

START_TEST(test_redjobd_refuses_root_without_allow_root)
{
	char bin[4096];
	char *plain[] = { bin, (char *)"-c", df.config, NULL };
	char *check[] = { bin, (char *)"-t", (char *)"-c", df.config,
	    NULL };
	struct proc *p;

	daemon_write_config("redis:\n  url: %s\njobs:\n  ok:\n"
	    "    exec: [/bin/true]\n", rf.url);
	snprintf(bin, sizeof bin, "%s/src/redjobd", testlib_builddir());
	/* -t starts nothing: it runs as anyone. */
	p = run(check);
	ck_assert_int_eq(p->status, 0);
	proc_free(p);
	if (geteuid() != 0) {
		/* Not root here: the refusal cannot happen; --allow-root
		 * is accepted (the fixture passes it only as root). */
		daemon_start(NULL);
		ck_assert(notify_wait("READY=1", 15000) != NULL);
		daemon_signal(SIGTERM);
		ck_assert_int_eq(daemon_wait_exit(20000), 0);
		return;
	}
	p = run(plain);
	ck_assert_int_eq(p->status, 1);
	ck_assert_msg(strstr(p->err, "refusing to run as root") != NULL &&
	    strstr(p->err, "User=redjob") != NULL &&
	    strstr(p->err, "--allow-root") != NULL, "%s", p->err);
	proc_free(p);
	/* The fixture passes --allow-root as root: the daemon runs. */
	daemon_start(NULL);
	ck_assert(notify_wait("READY=1", 15000) != NULL);
	daemon_signal(SIGTERM);
	ck_assert_int_eq(daemon_wait_exit(20000), 0);
}
END_TEST

Suite *
suite(void)
{
	Suite *s = suite_create("acl");
	TCase *tc;

	tc = tcase_create("rules");
	tcase_add_test(tc, test_every_command_of_the_library_is_in_the_rules);
	tcase_add_test(tc, test_the_protocol_document_shows_the_real_rules);
	tcase_add_test(tc, test_acl_usage_errors_and_json);
	suite_add_tcase(s, tc);

	tc = tcase_create("roles");
	tcase_add_unchecked_fixture(tc, redis_start, redis_stop);
	tcase_add_checked_fixture(tc, acl_setup, acl_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_redjobd_as_the_worker_user_is_never_denied);
	tcase_add_test(tc, test_rules_from_before_the_shard_table_still_work);
	tcase_add_test(tc, test_a_producer_enqueues_and_may_do_nothing_else);
	tcase_add_test(tc, test_a_reader_reads_and_writes_nothing);
	tcase_add_test(tc, test_readers_and_producers_may_wait);
	tcase_add_test(tc, test_a_refused_command_at_run_time_is_named);
	tcase_add_test(tc, test_a_refused_subscribe_is_named_jobs_still_run);
	tcase_add_test(tc, test_health_fails_while_claims_are_denied);
	tcase_add_test(tc, test_a_refused_setup_stops_redjobd_naming_the_command);
	tcase_add_test(tc, test_the_shipped_library_refuses_a_clock_override);
	tcase_add_test(tc, test_rediss_is_refused_with_what_to_do);
	tcase_add_test(tc, test_redjobd_refuses_root_without_allow_root);
	suite_add_tcase(s, tc);
	return s;
}
