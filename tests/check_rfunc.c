/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The Redis protocol layer: the classification of every reply (rfunc.c),
 * the commands that load, call and check the library, the key names and
 * name rules (schema.c); then, against a real redis-server, that every
 * caller recovers the same way when Redis has lost the library: every
 * command of the built src/redjob and every enqueue call of libredjob
 * succeeds, and the library is loaded again, byte for byte ours.
 *
 * Redis loses the library two ways, and each caller is tried with both:
 * FUNCTION FLUSH before it connects (its connect loads the library), and
 * a library that answers redjob_version at our version and holds nothing
 * else, which is what a caller sees when the library vanishes between its
 * connect and its call (its FCALL must load it and call once more). The
 * in-process libredjob tests and two CLI tests also flush for real
 * between the connect and the call.
 */
#include "autoconf.h"

#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <hiredis/hiredis.h>

#include "redjob.h"
#include "client.h"
#include "config.h"
#include "guard.h"
#include "rconn.h"
#include "rfunc.h"
#include "schema.h"
#include "template.h"
#include "proc.h"
#include "redis_fixture.h"
#include "testlib.h"

#define BASE "redjob:{default}"
#define POLL_DEADLINE_MS 20000

/* ---------------------------------------------------------------------
 * Reply classes.
 */

/* Every error the classification knows, as Redis or the library says it. */
static const struct {
	const char		*reply;
	enum rfunc_class	 class;
	const char		*name;
	int			 transient;
	int			 err;
} replies[] = {
	{ "ERR Function not found", RFUNC_NOLIB, "nolib", 0,
	    REDJOB_ERR_REDIS },
	{ "NOSCRIPT No matching script. Please use EVAL.", RFUNC_NOLIB,
	    "nolib", 0, REDJOB_ERR_REDIS },
	{ "BUSY Redis is busy running a script. You can only call "
	    "FUNCTION KILL or SHUTDOWN NOSAVE.", RFUNC_BUSY, "busy", 1,
	    REDJOB_ERR_BUSY },
	{ "LOADING Redis is loading the dataset in memory", RFUNC_LOADING,
	    "loading", 1, REDJOB_ERR_BUSY },
	{ "READONLY You can't write against a read only replica.",
	    RFUNC_READONLY, "readonly", 1, REDJOB_ERR_BUSY },
	{ "OOM command not allowed when used memory > 'maxmemory'.",
	    RFUNC_OOM, "oom", 1, REDJOB_ERR_OOM },
	{ "MISCONF Redis is configured to save RDB snapshots, but it's "
	    "currently unable to persist to disk.", RFUNC_MISCONF, "misconf",
	    1, REDJOB_ERR_BUSY },
	{ "MASTERDOWN Link with MASTER is down and replica-serve-stale-data "
	    "is set to 'no'.", RFUNC_MASTERDOWN, "masterdown", 1,
	    REDJOB_ERR_BUSY },
	{ "TRYAGAIN Multiple keys request during rehashing of slot",
	    RFUNC_TRYAGAIN, "tryagain", 1, REDJOB_ERR_BUSY },
	{ "UNBLOCKED force unblock from blocking operation, instance state "
	    "changed (master -> replica?)", RFUNC_UNBLOCKED, "unblocked", 1,
	    REDJOB_ERR_BUSY },
	{ "NOAUTH Authentication required.", RFUNC_AUTH, "auth", 0,
	    REDJOB_ERR_AUTH },
	{ "WRONGPASS invalid username-password pair or user is disabled.",
	    RFUNC_AUTH, "auth", 0, REDJOB_ERR_AUTH },
	{ "NOPERM this user has no permissions to run the 'fcall' command",
	    RFUNC_NOPERM, "noperm", 0, REDJOB_ERR_AUTH },
	{ "ERR The user executing the script can't run this command or "
	    "subcommand script: abc, on @user_function:redjob_ack",
	    RFUNC_NOPERM, "noperm", 0, REDJOB_ERR_AUTH },
	{ "REDJOB_STALE job default:1 is not held by this token",
	    RFUNC_STALE, "stale", 0, REDJOB_ERR_STATE },
	{ "REDJOB_BADARG delay must be an integer", RFUNC_BADARG, "badarg",
	    0, REDJOB_ERR_INVALID },
	{ "REDJOB_BADKEY expected exactly one key, NAMESPACE:{QUEUE}",
	    RFUNC_BADKEY, "badkey", 0, REDJOB_ERR_INVALID },
	{ "REDJOB_BADID job id \"x:1\" does not belong to queue default",
	    RFUNC_BADID, "badid", 0, REDJOB_ERR_INVALID },
	{ "REDJOB_TOOBIG payload of 11 bytes is over the limit of 10 bytes",
	    RFUNC_TOOBIG, "toobig", 0, REDJOB_ERR_TOOBIG },
	{ "REDJOB_NOJOB no job default:9", RFUNC_NOJOB, "nojob", 0,
	    REDJOB_ERR_NOJOB },
	{ "REDJOB_RUNNING job default:1 is running", RFUNC_RUNNING,
	    "running", 0, REDJOB_ERR_STATE },
	{ "REDJOB_FINISHED job default:1 has finished (done)",
	    RFUNC_FINISHED, "finished", 0, REDJOB_ERR_STATE },
	{ "REDJOB_SCHEMA queue default has schema 999, this library speaks "
	    "schema 1", RFUNC_SCHEMA, "schema", 0, REDJOB_ERR_VERSION },
	/* The first word must be the code itself, not begin with it. */
	{ "BUSYKEY Target key name already exists.", RFUNC_OTHER, "other", 0,
	    REDJOB_ERR_REDIS },
	{ "OOMPH not a code", RFUNC_OTHER, "other", 0, REDJOB_ERR_REDIS },
	{ "REDJOB_STALEST not a code", RFUNC_OTHER, "other", 0,
	    REDJOB_ERR_REDIS },
	{ "REDJOB_FUTURE a code of a later library", RFUNC_OTHER, "other", 0,
	    REDJOB_ERR_REDIS },
	{ "ERR Function not", RFUNC_OTHER, "other", 0, REDJOB_ERR_REDIS },
	{ "ERR unknown command 'FCALL'", RFUNC_OTHER, "other", 0,
	    REDJOB_ERR_REDIS },
	{ "WRONGTYPE Operation against a key holding the wrong kind of "
	    "value", RFUNC_OTHER, "other", 0, REDJOB_ERR_REDIS },
	/* A code alone, without a message. */
	{ "OOM", RFUNC_OOM, "oom", 1, REDJOB_ERR_OOM },
	{ "", RFUNC_OTHER, "other", 0, REDJOB_ERR_REDIS },
};

/* An error reply holding s, as hiredis would build it. */
static redisReply
error_reply(const char *s)
{
	redisReply r;

	memset(&r, 0, sizeof r);
	r.type = REDIS_REPLY_ERROR;
	r.str = (char *)s;
	r.len = strlen(s);
	return r;
}

START_TEST(test_every_error_reply_has_its_class)
{
	redisReply r;
	size_t i;

	for (i = 0; i < sizeof replies / sizeof replies[0]; i++) {
		r = error_reply(replies[i].reply);
		ck_assert_msg(rfunc_classify_error(replies[i].reply) ==
		    replies[i].class, "\"%s\": class %s, not %s",
		    replies[i].reply, rfunc_class_name(
		    rfunc_classify_error(replies[i].reply)), replies[i].name);
		ck_assert_int_eq(rfunc_classify(&r), replies[i].class);
		ck_assert_str_eq(rfunc_class_name(rfunc_classify(&r)),
		    replies[i].name);
		ck_assert_msg(rfunc_transient(replies[i].class) ==
		    replies[i].transient, "\"%s\": transient %d",
		    replies[i].reply, rfunc_transient(replies[i].class));
		ck_assert_msg(rfunc_class_err(replies[i].class) ==
		    replies[i].err, "\"%s\": %s, not %s", replies[i].reply,
		    redjob_strerror(rfunc_class_err(replies[i].class)),
		    redjob_strerror(replies[i].err));
	}
}
END_TEST

START_TEST(test_no_reply_is_conn_and_any_other_reply_is_ok)
{
	static const int types[] = { REDIS_REPLY_STRING, REDIS_REPLY_ARRAY,
	    REDIS_REPLY_INTEGER, REDIS_REPLY_NIL, REDIS_REPLY_STATUS };
	redisReply r;
	size_t i;

	ck_assert_int_eq(rfunc_classify(NULL), RFUNC_CONN);
	ck_assert_str_eq(rfunc_class_name(RFUNC_CONN), "conn");
	ck_assert_int_eq(rfunc_transient(RFUNC_CONN), 1);
	ck_assert_int_eq(rfunc_class_err(RFUNC_CONN), REDJOB_ERR_IO);
	for (i = 0; i < sizeof types / sizeof types[0]; i++) {
		memset(&r, 0, sizeof r);
		r.type = types[i];
		/* A status or string that reads like an error is not one. */
		r.str = (char *)"OOM not an error";
		r.len = strlen(r.str);
		ck_assert_int_eq(rfunc_classify(&r), RFUNC_OK);
	}
	ck_assert_str_eq(rfunc_class_name(RFUNC_OK), "ok");
	ck_assert_int_eq(rfunc_transient(RFUNC_OK), 0);
	ck_assert_int_eq(rfunc_class_err(RFUNC_OK), REDJOB_OK);
}
END_TEST

START_TEST(test_class_names_are_the_documented_labels)
{
	static const char *const names[] = { "ok", "conn", "nolib", "busy",
	    "loading", "readonly", "oom", "misconf", "masterdown",
	    "tryagain", "unblocked", "auth", "noperm", "stale", "badarg",
	    "badkey", "badid", "toobig", "nojob", "running", "finished",
	    "schema", "other" };
	size_t i;

	ck_assert_int_eq(sizeof names / sizeof names[0], RFUNC_OTHER + 1);
	for (i = 0; i < sizeof names / sizeof names[0]; i++)
		ck_assert_str_eq(rfunc_class_name((enum rfunc_class)i),
		    names[i]);
	ck_assert_str_eq(rfunc_class_name((enum rfunc_class)(RFUNC_OTHER +
	    1)), "unknown");
}
END_TEST

/* Every REDJOB_<CODE> the library raises has a class of its own. */
START_TEST(test_every_code_the_library_raises_is_classified)
{
	const char *p = rfunc_lua, *q;
	char code[64], reply[80];
	size_t n, found = 0;

	while ((p = strstr(p, "fail('")) != NULL) {
		p += strlen("fail('");
		if ((q = strchr(p, '\'')) == NULL)
			break;
		n = (size_t)(q - p);
		ck_assert_uint_lt(n, sizeof code);
		memcpy(code, p, n);
		code[n] = '\0';
		snprintf(reply, sizeof reply, "REDJOB_%s message", code);
		ck_assert_msg(rfunc_classify_error(reply) != RFUNC_OTHER,
		    "the library raises REDJOB_%s, which has no class", code);
		found++;
	}
	/* BADARG BADID BADKEY NOJOB RUNNING SCHEMA STALE TOOBIG, often. */
	ck_assert_uint_gt(found, 8);
}
END_TEST

START_TEST(test_commands_are_spelled_in_one_place)
{
	const char *argv[RFUNC_FCALL_HEAD + RFUNC_LOAD_ARGC];
	size_t lens[RFUNC_FCALL_HEAD + RFUNC_LOAD_ARGC];

	ck_assert_int_eq(rfunc_fcall_head(argv, lens, "redjob_ack", 0,
	    BASE), 4);
	ck_assert_str_eq(argv[0], "FCALL");
	ck_assert_str_eq(argv[1], "redjob_ack");
	ck_assert_str_eq(argv[2], "1");
	ck_assert_str_eq(argv[3], BASE);
	ck_assert_uint_eq(lens[0], 5);
	ck_assert_uint_eq(lens[1], 10);
	ck_assert_uint_eq(lens[2], 1);
	ck_assert_uint_eq(lens[3], strlen(BASE));

	ck_assert_int_eq(rfunc_fcall_head(argv, lens, "redjob_show", 1,
	    BASE), 4);
	ck_assert_str_eq(argv[0], "FCALL_RO");
	ck_assert_uint_eq(lens[0], 8);

	ck_assert_int_eq(rfunc_version_argv(argv, lens), 3);
	ck_assert_str_eq(argv[0], "FCALL_RO");
	ck_assert_str_eq(argv[1], "redjob_version");
	ck_assert_str_eq(argv[2], "0");
	ck_assert_uint_eq(lens[1], 14);

	ck_assert_int_eq(rfunc_load_argv(argv, lens), RFUNC_LOAD_ARGC);
	ck_assert_str_eq(argv[0], "FUNCTION");
	ck_assert_str_eq(argv[1], "LOAD");
	ck_assert_str_eq(argv[2], "REPLACE");
	ck_assert_ptr_eq(argv[3], rfunc_lua);
	ck_assert_uint_eq(lens[0], 8);
	ck_assert_uint_eq(lens[1], 4);
	ck_assert_uint_eq(lens[2], 7);
	ck_assert_uint_eq(lens[3], rfunc_lua_len);
	ck_assert_uint_eq(rfunc_lua_len, strlen(rfunc_lua));
	ck_assert_int_eq(strncmp(rfunc_lua, "#!lua name=redjob\n", 18), 0);
}
END_TEST

/* A redjob_version answer: two integers, or a string first when bad. */
static void
version_reply(redisReply *r, redisReply *el, redisReply **els,
    long long lib, long long schema, int bad)
{
	memset(r, 0, sizeof *r);
	memset(el, 0, 2 * sizeof *el);
	el[0].type = bad ? REDIS_REPLY_STRING : REDIS_REPLY_INTEGER;
	el[0].integer = lib;
	el[0].str = (char *)"3";
	el[0].len = 1;
	el[1].type = REDIS_REPLY_INTEGER;
	el[1].integer = schema;
	els[0] = &el[0];
	els[1] = &el[1];
	r->type = REDIS_REPLY_ARRAY;
	r->elements = 2;
	r->element = els;
}

START_TEST(test_version_check_loads_older_and_refuses_newer)
{
	redisReply r, el[2], *els[2];
	char msg[256], want[256];

	version_reply(&r, el, els, rfunc_lib_version, rfunc_schema_version,
	    0);
	ck_assert_int_eq(rfunc_version_check(&r, msg, sizeof msg),
	    RFUNC_VERSION_OK);
	version_reply(&r, el, els, rfunc_lib_version - 1,
	    rfunc_schema_version, 0);
	ck_assert_int_eq(rfunc_version_check(&r, msg, sizeof msg),
	    RFUNC_VERSION_OLDER);

	version_reply(&r, el, els, rfunc_lib_version + 1,
	    rfunc_schema_version, 0);
	ck_assert_int_eq(rfunc_version_check(&r, msg, sizeof msg),
	    RFUNC_VERSION_REFUSED);
	snprintf(want, sizeof want, "redis holds redjob library version %d, "
	    "newer than this client's %d: upgrade this client",
	    rfunc_lib_version + 1, rfunc_lib_version);
	ck_assert_str_eq(msg, want);

	/* Another schema is refused whatever the library version. */
	version_reply(&r, el, els, rfunc_lib_version - 1,
	    rfunc_schema_version + 1, 0);
	ck_assert_int_eq(rfunc_version_check(&r, msg, sizeof msg),
	    RFUNC_VERSION_REFUSED);
	snprintf(want, sizeof want, "redis holds the redjob library for "
	    "schema %d; this client speaks schema %d",
	    rfunc_schema_version + 1, rfunc_schema_version);
	ck_assert_str_eq(msg, want);

	version_reply(&r, el, els, rfunc_lib_version, rfunc_schema_version,
	    1);
	ck_assert_int_eq(rfunc_version_check(&r, msg, sizeof msg),
	    RFUNC_VERSION_REFUSED);
	ck_assert_str_eq(msg, "redis holds a function named redjob_version "
	    "that is not ours");
	version_reply(&r, el, els, rfunc_lib_version, rfunc_schema_version,
	    0);
	r.elements = 1;
	ck_assert_int_eq(rfunc_version_check(&r, msg, sizeof msg),
	    RFUNC_VERSION_REFUSED);
	ck_assert_str_eq(msg, "redis holds a function named redjob_version "
	    "that is not ours");
}
END_TEST

/* ---------------------------------------------------------------------
 * Key names and name rules.
 */

START_TEST(test_keys_are_spelled_exactly)
{
	char buf[SCHEMA_KEY_MAX], *k;

	ck_assert_int_eq(schema_queue_base(buf, sizeof buf, "redjob", "mail"),
	    0);
	ck_assert_str_eq(buf, "redjob:{mail}");
	ck_assert_int_eq(schema_queue_base(buf, sizeof buf, "app:jobs",
	    "a.b-c_D9"), 0);
	ck_assert_str_eq(buf, "app:jobs:{a.b-c_D9}");
	ck_assert_int_eq(schema_wake_key(buf, sizeof buf, "redjob:{mail}"), 0);
	ck_assert_str_eq(buf, "redjob:{mail}:wake");
	ck_assert_int_eq(schema_registry_key(buf, sizeof buf, "redjob"), 0);
	ck_assert_str_eq(buf, "redjob:queues");
	ck_assert_int_eq(schema_registry_key(buf, sizeof buf, "app:jobs"), 0);
	ck_assert_str_eq(buf, "app:jobs:queues");

	k = schema_lock_key("redjob", "nightly");
	ck_assert_str_eq(k, "redjob:lock:{nightly}");
	free(k);
	k = schema_limit_key("redjob", "per_user", "user:42");
	ck_assert_str_eq(k, "redjob:limit:{per_user:user:42}");
	free(k);
	/* A limiter without a key template has one partition, "". */
	k = schema_limit_key("app:jobs", "smtp", "");
	ck_assert_str_eq(k, "app:jobs:limit:{smtp:}");
	free(k);
}
END_TEST

START_TEST(test_keys_that_do_not_fit_are_refused)
{
	char buf[SCHEMA_KEY_MAX], ns[SCHEMA_NAMESPACE_MAX + 2],
	    q[SCHEMA_QUEUE_MAX + 2], base[SCHEMA_KEY_MAX];

	/* "redjob:{mail}" is 13 bytes and its NUL. */
	ck_assert_int_eq(schema_queue_base(buf, 13, "redjob", "mail"), -1);
	ck_assert_int_eq(schema_queue_base(buf, 14, "redjob", "mail"), 0);
	ck_assert_str_eq(buf, "redjob:{mail}");
	ck_assert_int_eq(schema_wake_key(buf, 18, "redjob:{mail}"), -1);
	ck_assert_int_eq(schema_wake_key(buf, 19, "redjob:{mail}"), 0);
	ck_assert_int_eq(schema_registry_key(buf, 13, "redjob"), -1);
	ck_assert_int_eq(schema_registry_key(buf, 14, "redjob"), 0);

	/* The longest names: their keys fit in SCHEMA_KEY_MAX. */
	memset(ns, 'n', SCHEMA_NAMESPACE_MAX);
	ns[SCHEMA_NAMESPACE_MAX] = '\0';
	memset(q, 'q', SCHEMA_QUEUE_MAX);
	q[SCHEMA_QUEUE_MAX] = '\0';
	ck_assert_int_eq(schema_queue_base(base, sizeof base, ns, q), 0);
	ck_assert_uint_eq(strlen(base), SCHEMA_NAMESPACE_MAX +
	    SCHEMA_QUEUE_MAX + 3);
	ck_assert_int_eq(schema_wake_key(buf, sizeof buf, base), 0);
	ck_assert_int_eq(schema_registry_key(buf, sizeof buf, ns), 0);
	/* One more byte is not a name. */
	strcat(ns, "n");
	strcat(q, "q");
	ck_assert_int_eq(schema_queue_base(buf, sizeof buf, ns, "mail"), -1);
	ck_assert_int_eq(schema_queue_base(buf, sizeof buf, "redjob", q), -1);
}
END_TEST

START_TEST(test_a_base_key_is_never_built_from_a_bad_name)
{
	static const char *const queues[] = { "", "a{b", "a}b", "a:b",
	    "a b", "caf\xc3\xa9" };
	static const char *const namespaces[] = { "", "x{", "x}", "a b" };
	char buf[SCHEMA_KEY_MAX];
	size_t i;

	for (i = 0; i < sizeof queues / sizeof queues[0]; i++)
		ck_assert_msg(schema_queue_base(buf, sizeof buf, "redjob",
		    queues[i]) == -1, "queue \"%s\" made a key", queues[i]);
	for (i = 0; i < sizeof namespaces / sizeof namespaces[0]; i++)
		ck_assert_msg(schema_queue_base(buf, sizeof buf, namespaces[i],
		    "mail") == -1, "namespace \"%s\" made a key",
		    namespaces[i]);
}
END_TEST

START_TEST(test_name_rules_say_why_exactly)
{
	char err[256], q[SCHEMA_QUEUE_MAX + 2];

	ck_assert_int_eq(schema_check_queue("mail.out-2_x", err, sizeof err),
	    0);
	ck_assert_int_eq(schema_check_queue("a:b", err, sizeof err), -1);
	ck_assert_str_eq(err, "invalid queue name \"a:b\" (1-128 of A-Z a-z "
	    "0-9 _ . -)");
	ck_assert_int_eq(schema_check_queue("", err, sizeof err), -1);
	ck_assert_str_eq(err, "invalid queue name \"\" (1-128 of A-Z a-z 0-9 "
	    "_ . -)");
	memset(q, 'q', SCHEMA_QUEUE_MAX);
	q[SCHEMA_QUEUE_MAX] = '\0';
	ck_assert_int_eq(schema_check_queue(q, err, sizeof err), 0);
	strcat(q, "q");
	ck_assert_int_eq(schema_check_queue(q, err, sizeof err), -1);

	ck_assert_int_eq(schema_check_namespace("app:jobs.v2-x_y", err,
	    sizeof err), 0);
	ck_assert_int_eq(schema_check_namespace("x{", err, sizeof err), -1);
	ck_assert_str_eq(err, "invalid namespace \"x{\" (1-64 of A-Z a-z 0-9 "
	    "_ . : -)");
}
END_TEST

START_TEST(test_job_id_gives_its_queue)
{
	static const char *const bad[] = { "mail", "mail:", "mail:4x",
	    ":4", "a{b}:1", "mail:-1", "" };
	char q[SCHEMA_QUEUE_MAX + 1];
	size_t i;

	ck_assert_int_eq(schema_job_queue("mail:42", q, sizeof q), 0);
	ck_assert_str_eq(q, "mail");
	/* The queue is the part before the last ':'; a queue has none. */
	ck_assert_int_eq(schema_job_queue("a:b:7", q, sizeof q), -1);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(schema_job_queue(bad[i], q, sizeof q) == -1,
		    "\"%s\" is not a job id", bad[i]);
	/* "mail" and its NUL. */
	ck_assert_int_eq(schema_job_queue("mail:1", q, 4), -1);
	ck_assert_int_eq(schema_job_queue("mail:1", q, 5), 0);
	ck_assert_str_eq(q, "mail");
}
END_TEST

/* The guards' keys are schema's, for a rendered template. */
START_TEST(test_guard_keys_are_schemas)
{
	struct lock_conf lk;
	struct limiter_conf l;
	struct template_vars v;
	char lock_tpl[] = "deploy:{key}", limit_tpl[] = "user:{key}", *k;

	memset(&lk, 0, sizeof lk);
	memset(&l, 0, sizeof l);
	memset(&v, 0, sizeof v);
	v.key = "42";
	lk.key = lock_tpl;
	k = guard_lock_key("app", &lk, &v);
	ck_assert_str_eq(k, "app:lock:{deploy:42}");
	free(k);
	l.name = (char *)"per_user";
	l.key = limit_tpl;
	k = guard_limit_key("app", &l, &v);
	ck_assert_str_eq(k, "app:limit:{per_user:user:42}");
	free(k);
	l.key = NULL;
	k = guard_limit_key("app", &l, &v);
	ck_assert_str_eq(k, "app:limit:{per_user:}");
	free(k);
}
END_TEST

/* ---------------------------------------------------------------------
 * Redis has lost the library: every caller recovers.
 */

/* Configuration for "redjob throttle -c", in the server's directory. */
static char cfg_path[4200];

/* Start the built redjob with args (NULL-terminated), its stdin open. */
static struct proc *
run_start(const char *const *args)
{
	static char *env[] = { (char *)"REDJOB_URL", NULL };

	return must_redjob_spawnv(&(struct proc_spec){ .in_keep = 1,
	    .out = PROC_IO_CAPTURE, .err = PROC_IO_CAPTURE, .env = env },
	    args);
}

/* Give the program in (may be NULL) on its stdin, close it, and wait
 * for its end. */
static struct proc *
run_finish(struct proc *r, const char *in)
{
	if (in != NULL)
		ck_assert_int_eq(proc_feed(r, in, strlen(in)), 0);
	proc_close_stdin(r);
	must_wait(r, TESTLIB_DEADLINE_MS);
	ck_assert_msg(!r->in_lost, "redjob did not read its stdin: %s",
	    r->err);
	return r;
}

/* Run redjob with args and stdin in to its end. Caller frees. */
static struct proc *
run(const char *in, const char *const *args)
{
	return run_finish(run_start(args), in);
}

/* Load the library text code into Redis, replacing what is there. */
static void
load_library(const char *code, size_t len)
{
	const char *argv[] = { "FUNCTION", "LOAD", "REPLACE", code };
	size_t lens[] = { 8, 4, 7, len };
	redisReply *r;

	r = redisCommandArgv(rf.c, 4, argv, lens);
	ck_assert_msg(r != NULL, "FUNCTION LOAD: %s", rf.c->errstr);
	ck_assert_msg(r->type != REDIS_REPLY_ERROR, "FUNCTION LOAD: %s",
	    r->str);
	freeReplyObject(r);
}

/*
 * Replace the library with one that answers redjob_version at our
 * versions and holds nothing else. A client's connect finds its library
 * there and loads nothing; its first call then meets "ERR Function not
 * found", as after a FUNCTION FLUSH between its connect and its call.
 */
static void
load_version_only(void)
{
	char code[512];
	int n;

	n = snprintf(code, sizeof code, "#!lua name=redjob\n"
	    "redis.register_function{function_name='redjob_version', "
	    "callback=function() return {%d, %d} end, "
	    "flags={'no-writes'}}\n", rfunc_lib_version,
	    rfunc_schema_version);
	load_library(code, (size_t)n);
}

/* Assert that Redis holds one library, ours, byte for byte. */
static void
assert_library_is_ours(void)
{
	redisReply *r, *lib;
	const char *name = NULL;
	size_t i;
	int have_code = 0;

	r = must_command(rf.c, "FUNCTION LIST WITHCODE");
	ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
	ck_assert_msg(r->elements == 1, "%zu libraries in redis, not 1",
	    r->elements);
	lib = r->element[0];
	ck_assert_int_eq(lib->type, REDIS_REPLY_ARRAY);
	for (i = 0; i + 1 < lib->elements; i += 2) {
		if (strcmp(lib->element[i]->str, "library_name") == 0)
			name = lib->element[i + 1]->str;
		if (strcmp(lib->element[i]->str, "library_code") == 0) {
			ck_assert_uint_eq(lib->element[i + 1]->len,
			    rfunc_lua_len);
			ck_assert_mem_eq(lib->element[i + 1]->str, rfunc_lua,
			    rfunc_lua_len);
			have_code = 1;
		}
	}
	ck_assert_ptr_nonnull(name);
	ck_assert_str_eq(name, "redjob");
	ck_assert_int_eq(have_code, 1);
	freeReplyObject(r);
}

/*
 * The fixture's server, and a configuration for "redjob throttle" with
 * one GCRA limiter that admits three units, then one a minute.
 */
static void
recover_start(void)
{
	redis_start();
	redis_fixture_config(cfg_path, sizeof cfg_path,
	    "limiters:\n"
	    "  g: { kind: gcra, rate: 1/m, burst: 2 }\n"
	    "jobs:\n"
	    "  hello:\n"
	    "    exec: [/bin/true]\n");
}

/*
 * Every test starts from three jobs in the default queue, written with
 * our library: default:1 ready, default:2 scheduled an hour ahead,
 * default:3 ready; and the queue in the registry.
 */
static void
recover_setup(void)
{
	redis_conn_setup();
	load_library(rfunc_lua, rfunc_lua_len);
	freeReplyObject(must_command(rf.c, "FCALL redjob_enqueue 1 " BASE
	    " t p1"));
	freeReplyObject(must_command(rf.c, "FCALL redjob_enqueue 1 " BASE
	    " t p2 delay 3600000"));
	freeReplyObject(must_command(rf.c, "FCALL redjob_enqueue 1 " BASE
	    " t p3"));
	freeReplyObject(must_command(rf.c, "SADD redjob:queues default"));
}

/* How Redis loses the library before a command runs. */
enum loss {
	LOSS_FLUSHED,		/* FUNCTION FLUSH before it connects */
	LOSS_AFTER_CONNECT,	/* gone between its connect and its call */
};

static void
lose_library(enum loss loss)
{
	if (loss == LOSS_FLUSHED)
		freeReplyObject(must_command(rf.c, "FUNCTION FLUSH"));
	else
		load_version_only();
}

/* Every command of the CLI, what it is given and exactly what it says. */
static const struct {
	const char	*args[10];
	const char	*in;
	const char	*out;	/* NULL: see prefix */
	const char	*prefix;
} commands[] = {
	{ { "enqueue", "t", "p4" }, NULL, "default:4\n", NULL },
	{ { "enqueue", "--lines", "t" }, "a\nb\n", "default:4\ndefault:5\n",
	    NULL },
	{ { "stats", "--json" }, NULL, "{\n"
	    "  \"queues\": {\n"
	    "    \"default\": {\n"
	    "      \"ready\": 2,\n"
	    "      \"scheduled\": 1,\n"
	    "      \"running\": 0,\n"
	    "      \"dead\": 0,\n"
	    "      \"processed\": 0,\n"
	    "      \"failed\": 0,\n"
	    "      \"retried\": 0,\n"
	    "      \"throttled\": 0,\n"
	    "      \"conflicts\": 0,\n"
	    "      \"workers\": 1,\n"
	    "      \"done\": 0,\n"
	    "      \"paused\": false,\n"
	    "      \"enqueued\": 3,\n"
	    "      \"stalled\": 0,\n"
	    "      \"requeued\": 0,\n"
	    "      \"discarded\": 0,\n"
	    "      \"malformed\": 0,\n"
	    "      \"lock_lost\": 0,\n"
	    "      \"unknown_type\": 0,\n"
	    "      \"cancelled\": 0,\n"
	    "      \"expired\": 0\n"
	    "    }\n"
	    "  }\n"
	    "}\n", NULL },
	{ { "show", "default:1" }, NULL, NULL,
	    "id             default:1\n"
	    "queue          default\n"
	    "state          ready\n" },
	{ { "ls", "default" }, NULL, NULL, NULL },
	{ { "retry", "default:2" }, NULL,
	    "retry: default:2 was scheduled, now ready\n", NULL },
	{ { "rm", "default:3" }, NULL, "rm: default:3 was ready, now removed\n",
	    NULL },
	{ { "pause", "default" }, NULL, "pause: queue default paused\n",
	    NULL },
	{ { "resume", "default" }, NULL,
	    "resume: queue default was not paused\n", NULL },
	{ { "lock", "nightly", "--", "/bin/sh", "-c", "echo held" }, NULL,
	    "held\n", NULL },
	{ { "throttle", "-c", "CFG", "g" }, NULL, NULL, "allowed\n" },
};

/*
 * A live worker of queue default that knows type t, as redjob_beat writes
 * it (written raw: the library may be gone), so that an enqueue says
 * nothing about the queue having no worker.
 */
static void
serve_default(void)
{
	char v[64];

	/* Expires in an hour, by the epoch clock (the server's, here). */
	snprintf(v, sizeof v, "%lld test:1 t",
	    ((long long)time(NULL) + 3600) * 1000);
	freeReplyObject(must_command(rf.c, "HSET redjob:{default}:seen "
	    "0123456789abcdef %s", v));
}

/*
 * Run command i of the table after Redis lost the library as loss says,
 * and check that it did its work, said exactly what it says when nothing
 * is wrong, and left our library loaded.
 */
static void
check_command_recovers(size_t i, enum loss loss)
{
	const char *args[14];
	struct proc *r;
	size_t n = 0, k;

	if (strcmp(commands[i].args[0], "throttle") != 0) {
		args[n++] = "-u";
		args[n++] = rf.url;
	}
	for (k = 0; commands[i].args[k] != NULL; k++)
		args[n++] = strcmp(commands[i].args[k], "CFG") == 0 ?
		    cfg_path : commands[i].args[k];
	args[n] = NULL;

	serve_default();
	lose_library(loss);
	r = run(commands[i].in, args);
	ck_assert_msg(r->status == 0, "redjob %s after the library was lost "
	    "(%s): exit %d, stderr \"%s\"", commands[i].args[0],
	    loss == LOSS_FLUSHED ? "flushed" : "after connect", r->status,
	    r->err);
	ck_assert_str_eq(r->err, "");
	if (commands[i].out != NULL)
		ck_assert_str_eq(r->out, commands[i].out);
	if (commands[i].prefix != NULL)
		ck_assert_msg(strncmp(r->out, commands[i].prefix,
		    strlen(commands[i].prefix)) == 0, "redjob %s said \"%s\"",
		    commands[i].args[0], r->out);
	if (strcmp(commands[i].args[0], "ls") == 0)
		ck_assert_msg(strstr(r->out, "default:1") != NULL &&
		    strstr(r->out, "default:3") != NULL, "ls said \"%s\"",
		    r->out);
	proc_free(r);
	assert_library_is_ours();
}

START_TEST(test_every_command_recovers_from_a_flushed_library)
{
	check_command_recovers((size_t)_i, LOSS_FLUSHED);
}
END_TEST

START_TEST(test_every_command_recovers_from_a_library_lost_after_connect)
{
	check_command_recovers((size_t)_i, LOSS_AFTER_CONNECT);
}
END_TEST

/* The score of member in the sorted set key. */
static long long
zscore(const char *key, const char *member)
{
	redisReply *r;
	long long v;

	r = must_command(rf.c, "ZSCORE %s %s", key, member);
	ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
	v = strtoll(r->str, NULL, 10);
	freeReplyObject(r);
	return v;
}

/* The server's clock in ms, as the library reads it. */
static long long
redis_now_ms(void)
{
	redisReply *r;
	long long ms;

	r = must_command(rf.c, "TIME");
	ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
	ms = strtoll(r->element[0]->str, NULL, 10) * 1000 +
	    strtoll(r->element[1]->str, NULL, 10) / 1000;
	freeReplyObject(r);
	return ms;
}

/* What the commands that change a job or a queue did after recovering. */
START_TEST(test_every_command_did_its_work_after_recovering)
{
	struct proc *r;
	const char *lock[] = { "-u", rf.url, "lock", "--ttl", "5s", "L",
	    "--", "/bin/true", NULL };
	const char *retry[] = { "-u", rf.url, "retry", "default:2", NULL };
	const char *rm[] = { "-u", rf.url, "rm", "default:3", NULL };
	const char *pause[] = { "-u", rf.url, "pause", "default", NULL };

	load_version_only();
	r = run(NULL, retry);
	ck_assert_int_eq(r->status, 0);
	proc_free(r);
	/* Due now, not an hour ahead. */
	ck_assert_int_le(zscore(BASE ":due", "2"), redis_now_ms());
	load_version_only();
	r = run(NULL, rm);
	ck_assert_int_eq(r->status, 0);
	proc_free(r);
	ck_assert_int_eq(must_int(rf.c, "EXISTS " BASE ":j:3"), 0);
	load_version_only();
	r = run(NULL, pause);
	ck_assert_int_eq(r->status, 0);
	proc_free(r);
	ck_assert_int_eq(must_int(rf.c, "HEXISTS " BASE ":meta paused"), 1);
	load_version_only();
	r = run(NULL, lock);
	ck_assert_int_eq(r->status, 0);
	proc_free(r);
	/* Taken (its fence counter exists) and released. */
	ck_assert_int_eq(must_int(rf.c, "EXISTS redjob:lock:{L}:fence"), 1);
	ck_assert_int_eq(must_int(rf.c, "EXISTS redjob:lock:{L}"), 0);
	assert_library_is_ours();
}
END_TEST

/* Does Redis hold a library with a function named fn? */
static int
have_function(const char *fn)
{
	redisReply *r, *lib, *fns, *f;
	size_t i, j, k;
	int found = 0;

	r = must_command(rf.c, "FUNCTION LIST");
	for (i = 0; i < r->elements; i++) {
		lib = r->element[i];
		for (j = 0; j + 1 < lib->elements; j += 2) {
			if (strcmp(lib->element[j]->str, "functions") != 0)
				continue;
			fns = lib->element[j + 1];
			for (k = 0; k < fns->elements; k++) {
				f = fns->element[k];
				/* name, NAME, description, ..., flags, ... */
				ck_assert_uint_ge(f->elements, 2);
				found |= strcmp(f->element[1]->str, fn) == 0;
			}
		}
	}
	freeReplyObject(r);
	return found;
}

/* Wait until Redis holds a library with the function fn. */
static void
wait_for_function(const char *fn)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	uint64_t deadline = testlib_now_ms() + POLL_DEADLINE_MS;

	while (!have_function(fn)) {
		ck_assert_msg(testlib_now_ms() < deadline, "no function %s "
		    "in %d ms", fn, POLL_DEADLINE_MS);
		nanosleep(&ts, NULL);
	}
}

/*
 * enqueue --lines connects before it reads stdin: flush the library while
 * it waits for its lines, so its pipelined batch meets the loss.
 */
START_TEST(test_enqueue_lines_recovers_from_a_flush_while_connected)
{
	const char *args[] = { "-u", rf.url, "enqueue", "--lines", "t", NULL };
	struct proc *r;

	serve_default();
	freeReplyObject(must_command(rf.c, "FUNCTION FLUSH"));
	r = run_start(args);
	/* Its connect loaded the library: it is connected. */
	wait_for_function("redjob_enqueue_bulk");
	freeReplyObject(must_command(rf.c, "FUNCTION FLUSH"));
	run_finish(r, "x\ny\nz\n");
	ck_assert_msg(r->status == 0, "exit %d: %s", r->status, r->err);
	ck_assert_str_eq(r->err, "");
	ck_assert_str_eq(r->out, "default:4\ndefault:5\ndefault:6\n");
	proc_free(r);
	/* Each line once: the refused first pass wrote nothing. */
	ck_assert_int_eq(must_int(rf.c, "ZCARD " BASE ":due"), 6);
	assert_library_is_ours();
}
END_TEST

/*
 * redjob lock while its command runs: the command flushes the library,
 * waits until the renewals' connection has loaded it again, and flushes
 * it once more before it ends, so the release (or a renewal before it)
 * meets the loss too. The lock is kept throughout and released.
 */
START_TEST(test_lock_recovers_from_flushes_while_its_command_runs)
{
	const char *cli = getenv("REDIS_CLI");
	const char *args[] = { "-u", rf.url, "lock", "--ttl", "1s", "L",
	    "--", "/bin/sh", "-c", NULL, NULL };
	char script[4096];
	struct proc *r;

	ck_assert_msg(cli != NULL && *cli != '\0', "REDIS_CLI is not set: "
	    "run the tests with make check");
	snprintf(script, sizeof script,
	    "set -e\n"
	    "cli() { '%s' -s '%s' \"$@\"; }\n"
	    "cli FUNCTION FLUSH >/dev/null\n"
	    "until cli FUNCTION LIST | grep -qx redjob_lock_renew; do\n"
	    "	sleep 0.05\n"
	    "done\n"
	    "cli FUNCTION FLUSH >/dev/null\n"
	    "echo done\n", cli, rf.sock);
	args[9] = script;
	r = run(NULL, args);
	ck_assert_msg(r->status == 0, "exit %d: %s", r->status, r->err);
	ck_assert_str_eq(r->err, "");
	ck_assert_str_eq(r->out, "done\n");
	proc_free(r);
	ck_assert_int_eq(must_int(rf.c, "EXISTS redjob:lock:{L}"), 0);
	assert_library_is_ours();
}
END_TEST

/* How a libredjob test loses the library: loop index 0 or 1. */
static void
lib_lose(int i, struct redjob_client **c)
{
	if (i == 0)
		freeReplyObject(must_command(rf.c, "FUNCTION FLUSH"));
	*c = redjob_connect(rf.url, NULL);
	ck_assert_ptr_nonnull(*c);
	ck_assert_msg(redjob_errcode(*c) == REDJOB_OK, "connect: %s",
	    redjob_errstr(*c));
	if (i == 1)
		freeReplyObject(must_command(rf.c, "FUNCTION FLUSH"));
}

START_TEST(test_connect_to_a_flushed_server_loads_the_library)
{
	struct redjob_client *c;

	freeReplyObject(must_command(rf.c, "FUNCTION FLUSH"));
	c = redjob_connect(rf.url, NULL);
	ck_assert_ptr_nonnull(c);
	ck_assert_msg(redjob_errcode(c) == REDJOB_OK, "connect: %s",
	    redjob_errstr(c));
	assert_library_is_ours();
	redjob_free(c);
}
END_TEST

START_TEST(test_enqueue_recovers_from_a_flush)
{
	struct redjob_job j = { .type = "t", .payload = "p",
		.payload_len = 1 };
	struct redjob_client *c;
	char id[REDJOB_ID_MAX];

	lib_lose(_i, &c);
	ck_assert_msg(redjob_enqueue(c, &j, id) == 0, "enqueue: %s",
	    redjob_errstr(c));
	ck_assert_str_eq(id, "default:4");
	redjob_free(c);
	ck_assert_int_eq(must_int(rf.c, "ZCARD " BASE ":due"), 4);
	assert_library_is_ours();
}
END_TEST

START_TEST(test_enqueue_ex_recovers_from_a_flush)
{
	struct redjob_job j = { .type = "t", .payload = "p",
		.payload_len = 1, .unique = "u1" };
	struct redjob_client *c;
	char id[REDJOB_ID_MAX];
	int created = -1;

	lib_lose(_i, &c);
	ck_assert_msg(redjob_enqueue_ex(c, &j, id, &created) == 0,
	    "enqueue: %s", redjob_errstr(c));
	ck_assert_str_eq(id, "default:4");
	ck_assert_int_eq(created, 1);
	redjob_free(c);
	ck_assert_int_eq(must_int(rf.c, "ZCARD " BASE ":due"), 4);
	assert_library_is_ours();
}
END_TEST

START_TEST(test_enqueue_many_of_several_queues_recovers_from_a_flush)
{
	static const char *const queues[] = { "a", "b", "a", "c", NULL,
	    "b", "a" };
	static const char *const ids[] = { "a:1", "b:1", "a:2", "c:1",
	    "default:4", "b:2", "a:3" };
	struct redjob_job jobs[7];
	struct redjob_result res[7];
	struct redjob_client *c;
	size_t i;

	for (i = 0; i < 7; i++) {
		memset(&jobs[i], 0, sizeof jobs[i]);
		jobs[i].queue = queues[i];
		jobs[i].type = "t";
		jobs[i].payload = "p";
		jobs[i].payload_len = 1;
	}
	lib_lose(_i, &c);
	ck_assert_msg(redjob_enqueue_many(c, jobs, 7, res) == 7,
	    "enqueue_many: %s", redjob_errstr(c));
	for (i = 0; i < 7; i++) {
		ck_assert_int_eq(res[i].err, REDJOB_OK);
		ck_assert_int_eq(res[i].created, 1);
		ck_assert_str_eq(res[i].id, ids[i]);
	}
	redjob_free(c);
	/* Each job once: the refused first pass wrote nothing. */
	ck_assert_int_eq(must_int(rf.c, "ZCARD redjob:{a}:due"), 3);
	ck_assert_int_eq(must_int(rf.c, "ZCARD redjob:{b}:due"), 2);
	ck_assert_int_eq(must_int(rf.c, "ZCARD redjob:{c}:due"), 1);
	ck_assert_int_eq(must_int(rf.c, "ZCARD " BASE ":due"), 4);
	assert_library_is_ours();
}
END_TEST

Suite *
suite(void)
{
	Suite *s = suite_create("rfunc");
	TCase *tc;
	int n = (int)(sizeof commands / sizeof commands[0]);

	tc = tcase_create("classes");
	tcase_add_test(tc, test_every_error_reply_has_its_class);
	tcase_add_test(tc, test_no_reply_is_conn_and_any_other_reply_is_ok);
	tcase_add_test(tc, test_class_names_are_the_documented_labels);
	tcase_add_test(tc, test_every_code_the_library_raises_is_classified);
	tcase_add_test(tc, test_commands_are_spelled_in_one_place);
	tcase_add_test(tc, test_version_check_loads_older_and_refuses_newer);
	suite_add_tcase(s, tc);

	tc = tcase_create("schema");
	tcase_add_test(tc, test_keys_are_spelled_exactly);
	tcase_add_test(tc, test_keys_that_do_not_fit_are_refused);
	tcase_add_test(tc, test_a_base_key_is_never_built_from_a_bad_name);
	tcase_add_test(tc, test_name_rules_say_why_exactly);
	tcase_add_test(tc, test_job_id_gives_its_queue);
	tcase_add_test(tc, test_guard_keys_are_schemas);
	suite_add_tcase(s, tc);

	tc = tcase_create("cli_recovers");
	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, recover_start, redis_stop);
	tcase_add_checked_fixture(tc, recover_setup, redis_conn_teardown);
	tcase_add_loop_test(tc,
	    test_every_command_recovers_from_a_flushed_library, 0, n);
	tcase_add_loop_test(tc,
	    test_every_command_recovers_from_a_library_lost_after_connect, 0,
	    n);
	tcase_add_test(tc, test_every_command_did_its_work_after_recovering);
	tcase_add_test(tc,
	    test_enqueue_lines_recovers_from_a_flush_while_connected);
	tcase_add_test(tc,
	    test_lock_recovers_from_flushes_while_its_command_runs);
	suite_add_tcase(s, tc);

	tc = tcase_create("libredjob_recovers");
	tcase_set_timeout(tc, 60);
	tcase_add_unchecked_fixture(tc, recover_start, redis_stop);
	tcase_add_checked_fixture(tc, recover_setup, redis_conn_teardown);
	tcase_add_test(tc, test_connect_to_a_flushed_server_loads_the_library);
	tcase_add_loop_test(tc, test_enqueue_recovers_from_a_flush, 0, 2);
	tcase_add_loop_test(tc, test_enqueue_ex_recovers_from_a_flush, 0, 2);
	tcase_add_loop_test(tc,
	    test_enqueue_many_of_several_queues_recovers_from_a_flush, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}
