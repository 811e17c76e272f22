/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The redjob CLI as users run it: the built src/redjob binary, started
 * with pipes on its stdin and outputs, against a real redis-server. The
 * tests check what a user or a script sees (stdout, stderr, the exit
 * status) and what ends up in Redis, read back with hiredis. The interop
 * cases enqueue with redis-cli and with Python's redis package alone and
 * read the jobs back with "redjob show".
 */
#include "autoconf.h"

#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

#include "proc.h"
#include "rfunc.h"
#include "redis_fixture.h"
#include "testlib.h"

#define BASE "redjob:{default}"
/* redjob_show of job default:N (a reply for show_field()). */
#define SHOW(n)	redisCommand(rf.c, "FCALL_RO redjob_show 1 " BASE \
	" default:%d", (n))
#define MAX_ARGS 64

/* REDJOB_URL for the next runs; NULL unsets it. */
static const char *child_url;

/* How the tests run a program: outputs collected, REDJOB_URL from
 * child_url. Points to static storage. */
static struct proc_spec *
cli_spec(void)
{
	static char env[4200], *envv[] = { env, NULL };
	static struct proc_spec spec;

	if (child_url != NULL)
		snprintf(env, sizeof env, "REDJOB_URL=%s", child_url);
	else
		snprintf(env, sizeof env, "REDJOB_URL");
	memset(&spec, 0, sizeof spec);
	spec.out = spec.err = PROC_IO_CAPTURE;
	spec.env = envv;
	return &spec;
}

/*
 * Run "redjob [-u url] ARG..." to its end, feeding it in (inlen bytes) on
 * stdin. Caller frees.
 */
static struct proc *
cli_run(const void *in, size_t inlen, const char *url, va_list ap)
{
	struct proc_spec *spec = cli_spec();
	struct proc *p;

	spec->in = in;
	spec->inlen = inlen;
	p = must_redjob_vspawn(spec, url, ap);
	must_wait(p, TESTLIB_DEADLINE_MS);
	return p;
}

/* Run "redjob [-u URL] ARG..." (see cli_run). */
static struct proc *
cli_url(const char *url, const void *in, size_t inlen, ...)
{
	struct proc *p;
	va_list ap;

	va_start(ap, inlen);
	p = cli_run(in, inlen, url, ap);
	va_end(ap);
	return p;
}

/* "redjob -u URL ARG..." against the fixture's server, and "redjob
 * ARG..." with no -u (the environment decides). */
#define cli(in, inlen, ...) cli_url(rf.url, (in), (inlen), __VA_ARGS__)
#define cli_raw(in, inlen, ...) cli_url(NULL, (in), (inlen), __VA_ARGS__)

/* Run argv to its end with nothing on stdin. Caller frees. */
static struct proc *
run_argv(char *const *argv)
{
	struct proc_spec *spec = cli_spec();
	struct proc *p;

	spec->argv = argv;
	p = must_spawn(spec);
	must_wait(p, TESTLIB_DEADLINE_MS);
	return p;
}

/*
 * Assert a run succeeded quietly: exit 0 and nothing on stderr but the
 * warning every enqueue gets while no worker serves its queue (these
 * tests run no daemon; test_enqueue_warns_and_routes_by_type checks it).
 */
static int
quiet(const struct proc *r)
{
	const char *p = r->err, *w = "redjob: warning: no live worker serves ";

	while (*p != '\0') {
		if (strncmp(p, w, strlen(w)) != 0)
			return 0;
		p += strcspn(p, "\n");
		p += *p == '\n';
	}
	return 1;
}
#define assert_ok(r) ck_assert_msg((r)->status == 0 && quiet(r), \
	"exit %d, stderr: %s", (r)->status, (r)->err)

/* Count the lines of s. */
static size_t
count_lines(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

/* Assert stderr is exactly one line starting with prefix. */
static void
assert_one_error(const struct proc *r, int status, const char *prefix)
{
	ck_assert_msg(r->status == status, "exit %d, not %d; stderr: %s",
	    r->status, status, r->err);
	ck_assert_msg(strncmp(r->err, prefix, strlen(prefix)) == 0,
	    "stderr \"%s\" does not start with \"%s\"", r->err, prefix);
	ck_assert_msg(count_lines(r->err) == 1 &&
	    r->err[r->errlen - 1] == '\n', "stderr is not one line: \"%s\"",
	    r->err);
}

/* Parse a run's stdout as JSON; abort the test if it is not. */
static json_t *
must_json(const struct proc *r)
{
	json_error_t e;
	json_t *j;

	j = json_loadb(r->out, r->outlen, 0, &e);
	ck_assert_msg(j != NULL, "not JSON (%s at line %d): %s", e.text,
	    e.line, r->out);
	return j;
}

/* An integer member of a JSON object; aborts unless it is one. */
static long long
json_int(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	ck_assert_msg(v != NULL && json_is_integer(v), "\"%s\" is not an "
	    "integer", key);
	return json_integer_value(v);
}

/* A string member of a JSON object; aborts unless it is one. */
static const char *
json_str(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	ck_assert_msg(v != NULL && json_is_string(v), "\"%s\" is not a "
	    "string", key);
	return json_string_value(v);
}

/* Wall-clock Unix milliseconds (the server runs on this host). */
static long long
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "redjob show --json ID" parsed; the caller decrefs. */
static json_t *
show_json(const char *id)
{
	struct proc *r;
	json_t *j;

	r = cli(NULL, 0, "show", "--json", id, NULL);
	assert_ok(r);
	j = must_json(r);
	proc_free(r);
	return j;
}

/* "redjob stats --json" parsed; the caller decrefs. */
static json_t *
stats_json(const char *extra_queue)
{
	struct proc *r;
	json_t *j;

	if (extra_queue != NULL)
		r = cli(NULL, 0, "stats", "--json", "-q", extra_queue, NULL);
	else
		r = cli(NULL, 0, "stats", "--json", NULL);
	assert_ok(r);
	j = must_json(r);
	proc_free(r);
	return j;
}

/* One queue of a stats document. */
static json_t *
stats_queue(json_t *stats, const char *queue)
{
	json_t *q;

	q = json_object_get(json_object_get(stats, "queues"), queue);
	ck_assert_msg(q != NULL && json_is_object(q), "no queue %s in stats",
	    queue);
	return q;
}

/* Enqueue through the CLI and return the id (static buffer). */
static const char *
must_enqueue(const char *type, const char *payload, const char *in)
{
	static char id[256];
	struct proc *r;

	if (in != NULL)
		r = cli(NULL, 0, "enqueue", "--in", in, type, payload, NULL);
	else
		r = cli(NULL, 0, "enqueue", type, payload, NULL);
	assert_ok(r);
	ck_assert_msg(r->outlen > 1 && r->out[r->outlen - 1] == '\n',
	    "no id: %s", r->out);
	snprintf(id, sizeof id, "%.*s", (int)r->outlen - 1, r->out);
	proc_free(r);
	return id;
}

/* Claim one job of queue default with a token; returns its id. */
static void
claim_one(const char *token, const char *expect_id)
{
	redisReply *rep;

	rep = must_command(rf.c, "FCALL redjob_claim 1 %s 1 30000 3 %s w",
	    BASE, token);
	ck_assert_uint_eq(rep->elements, 3);
	ck_assert_str_eq(rep->element[2]->element[0]->str, expect_id);
	freeReplyObject(rep);
}

/* Claim the job and fail it permanently: it goes to the dead set. */
static void
make_dead(const char *id)
{
	redisReply *rep;

	claim_one("tokentoken9", id);
	rep = must_command(rf.c, "FCALL redjob_fail 1 %s %s tokentoken9 boom "
	    "0 25 dead", BASE, id);
	ck_assert_str_eq(rep->element[0]->str, "dead");
	freeReplyObject(rep);
}

START_TEST(test_enqueue_prints_an_id_that_show_finds)
{
	struct proc *r;
	json_t *j;
	long long before, after, created;

	before = wall_ms();
	r = cli(NULL, 0, "enqueue", "-q", "mail", "--key", "user:7",
	    "--max-attempts", "3", "send_email", "{\"to\":\"a@example.com\"}",
	    NULL);
	after = wall_ms();
	assert_ok(r);
	ck_assert_str_eq(r->out, "mail:1\n");
	proc_free(r);

	j = show_json("mail:1");
	ck_assert_str_eq(json_str(j, "id"), "mail:1");
	ck_assert_str_eq(json_str(j, "queue"), "mail");
	ck_assert_str_eq(json_str(j, "state"), "ready");
	ck_assert_str_eq(json_str(j, "type"), "send_email");
	ck_assert_str_eq(json_str(j, "payload"), "{\"to\":\"a@example.com\"}");
	ck_assert_ptr_null(json_object_get(j, "payload_base64"));
	ck_assert_str_eq(json_str(j, "key"), "user:7");
	ck_assert_int_eq(json_int(j, "max_attempts"), 3);
	ck_assert_int_eq(json_int(j, "attempts"), 0);
	created = json_int(j, "created");
	ck_assert_msg(created >= before - 1000 && created <= after + 1000,
	    "created %lld is not between %lld and %lld", created, before,
	    after);
	ck_assert_int_eq(json_int(j, "due"), created);
	ck_assert_int_eq(json_int(j, "score"), created);
	json_decref(j);
}
END_TEST

START_TEST(test_show_human_form)
{
	char want[128], date[64];
	long long due;
	struct proc *r;
	regex_t re;
	time_t secs;
	struct tm tm;
	json_t *j;
	const char *id;

	id = must_enqueue("report", "hello\tworld", "1h");
	ck_assert_str_eq(id, "default:1");
	j = show_json(id);
	due = json_int(j, "due");
	json_decref(j);

	r = cli(NULL, 0, "show", id, NULL);
	assert_ok(r);
	ck_assert_msg(strstr(r->out, "\nstate          scheduled\n") != NULL,
	    "no state line: %s", r->out);
	ck_assert_msg(strstr(r->out, "\ntype           report\n") != NULL,
	    "no type line: %s", r->out);
	/* The due time, as ISO-8601 UTC with milliseconds. */
	secs = (time_t)(due / 1000);
	gmtime_r(&secs, &tm);
	strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(want, sizeof want, "\ndue            %s.%03dZ\n", date,
	    (int)(due % 1000));
	ck_assert_msg(strstr(r->out, want) != NULL, "no \"%s\" in: %s", want,
	    r->out);
	snprintf(want, sizeof want, "\nscore          %s.%03dZ (due)\n", date,
	    (int)(due % 1000));
	ck_assert_msg(strstr(r->out, want) != NULL, "no \"%s\" in: %s", want,
	    r->out);
	ck_assert_int_eq(regcomp(&re, "\ncreated +[0-9]{4}-[0-9]{2}-[0-9]{2}T"
	    "[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z\n", REG_EXTENDED), 0);
	ck_assert_msg(regexec(&re, r->out, 0, NULL, 0) == 0,
	    "no ISO-8601 created line: %s", r->out);
	regfree(&re);
	ck_assert_msg(strstr(r->out, "payload        (11 bytes, text)\n"
	    "hello\tworld\n") != NULL, "payload not shown as text: %s", r->out);
	proc_free(r);
}
END_TEST

START_TEST(test_show_unknown_and_malformed_ids)
{
	struct proc *r;

	r = cli(NULL, 0, "show", "mail:42", NULL);
	assert_one_error(r, 1, "redjob: no job mail:42");
	ck_assert_str_eq(r->err, "redjob: no job mail:42\n");
	ck_assert_uint_eq(r->outlen, 0);
	proc_free(r);

	r = cli(NULL, 0, "show", "--json", "mail:42", NULL);
	ck_assert_str_eq(r->err, "redjob: no job mail:42\n");
	ck_assert_int_eq(r->status, 1);
	proc_free(r);

	r = cli(NULL, 0, "show", "mail-42", NULL);
	ck_assert_int_eq(r->status, 2);
	ck_assert_msg(strncmp(r->err, "redjob: invalid job id \"mail-42\"",
	    32) == 0, "stderr: %s", r->err);
	ck_assert_msg(strstr(r->err, "usage: redjob show") != NULL,
	    "no usage line: %s", r->err);
	proc_free(r);
}
END_TEST

START_TEST(test_stdin_binary_payload_round_trips)
{
	static const char bin[] = "a\0b\xff\n\0z";
	struct proc *r;
	char *v;
	size_t len;
	json_t *j;

	r = cli(bin, sizeof bin - 1, "enqueue", "blob", "-", NULL);
	assert_ok(r);
	ck_assert_str_eq(r->out, "default:1\n");
	proc_free(r);

	v = show_field(SHOW(1), "payload", &len);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(len, sizeof bin - 1);
	ck_assert_mem_eq(v, bin, sizeof bin - 1);
	free(v);

	j = show_json("default:1");
	ck_assert_ptr_null(json_object_get(j, "payload"));
	ck_assert_str_eq(json_str(j, "payload_base64"), "YQBi/woAeg==");
	json_decref(j);

	r = cli(NULL, 0, "show", "default:1", NULL);
	assert_ok(r);
	ck_assert_msg(strstr(r->out, "payload        (7 bytes, not printable "
	    "text; shown as hex") != NULL, "no binary note: %s", r->out);
	ck_assert_msg(strstr(r->out, " 61 00 62 ff 0a 00 7a ") != NULL,
	    "no hex dump: %s", r->out);
	proc_free(r);

	/* No payload at all is an empty one. */
	r = cli(NULL, 0, "enqueue", "empty", NULL);
	assert_ok(r);
	proc_free(r);
	j = show_json("default:2");
	ck_assert_str_eq(json_str(j, "payload"), "");
	json_decref(j);
}
END_TEST

START_TEST(test_lines_enqueues_one_job_per_line_in_order)
{
	char *in = NULL, line[64], *p, *nl;
	size_t inlen = 0, i;
	struct proc *r;
	char *v;

	for (i = 0; i < 1000; i++) {
		snprintf(line, sizeof line, "p%zu\n", i);
		testlib_append(&in, &inlen, line, strlen(line));
	}
	r = cli(in, inlen, "enqueue", "--lines", "bulk", NULL);
	assert_ok(r);
	ck_assert_uint_eq(count_lines(r->out), 1000);
	/* Distinct and in input order: the ids are 1..1000 in sequence. */
	for (i = 0, p = r->out; i < 1000; i++, p = nl + 1) {
		nl = strchr(p, '\n');
		snprintf(line, sizeof line, "default:%zu", i + 1);
		ck_assert_msg((size_t)(nl - p) == strlen(line) &&
		    strncmp(p, line, strlen(line)) == 0,
		    "line %zu is \"%.*s\", not %s", i + 1, (int)(nl - p), p,
		    line);
	}
	proc_free(r);
	for (i = 1; i <= 1000; i += 333) {
		v = show_field(SHOW((int)i), "payload", NULL);
		snprintf(line, sizeof line, "p%zu", i - 1);
		ck_assert_str_eq(v, line);
		free(v);
	}
	free(in);
}
END_TEST

START_TEST(test_lines_reports_a_bad_line_and_enqueues_the_rest)
{
	char *in = NULL, line[300];
	size_t inlen = 0, i;
	struct proc *r;
	char *v;

	for (i = 1; i <= 1000; i++) {
		if (i == 500) {
			memset(line, 'x', 200);
			line[200] = '\n';
			line[201] = '\0';
		} else
			snprintf(line, sizeof line, "line %zu\n", i);
		testlib_append(&in, &inlen, line, strlen(line));
	}
	/* The last line has no newline: it is a line all the same. */
	testlib_append(&in, &inlen, "tail", 4);
	r = cli(in, inlen, "enqueue", "--lines", "--max-payload", "100", "t",
	    NULL);
	assert_one_error(r, 1, "redjob: line 500: ");
	ck_assert_str_eq(r->err, "redjob: line 500: payload of 200 bytes is "
	    "over the limit of 100 bytes\n");
	ck_assert_uint_eq(count_lines(r->out), 1000);
	ck_assert_msg(strncmp(r->out, "default:1\n", 10) == 0, "%s", r->out);
	ck_assert_msg(strstr(r->out, "\ndefault:499\ndefault:500\n") != NULL,
	    "ids around the bad line are not consecutive");
	ck_assert_msg(strstr(r->out, "\ndefault:1000\n") != NULL, "no last id");
	proc_free(r);
	ck_assert_int_eq(must_int(rf.c, "ZCARD %s", BASE ":due"), 1000);
	/* Line 501 became job 500: nothing of line 500 went in. */
	v = show_field(SHOW(500), "payload", NULL);
	ck_assert_str_eq(v, "line 501");
	free(v);
	v = show_field(SHOW(1000), "payload", NULL);
	ck_assert_str_eq(v, "tail");
	free(v);
	free(in);
}
END_TEST

START_TEST(test_in_and_at_schedule_the_job)
{
	char at[64];
	long long now;
	struct proc *r;
	json_t *j;
	struct tm tm;
	time_t t;

	must_enqueue("later", "x", "1h");
	j = stats_json(NULL);
	ck_assert_int_eq(json_int(stats_queue(j, "default"), "scheduled"), 1);
	ck_assert_int_eq(json_int(stats_queue(j, "default"), "ready"), 0);
	json_decref(j);
	j = show_json("default:1");
	ck_assert_str_eq(json_str(j, "state"), "scheduled");
	ck_assert_int_ge(json_int(j, "due") - json_int(j, "created"), 3600000);
	ck_assert_int_le(json_int(j, "due") - json_int(j, "created"), 3601000);
	json_decref(j);

	now = wall_ms() / 1000;
	snprintf(at, sizeof at, "@%lld", now + 3600);
	r = cli(NULL, 0, "enqueue", "--at", at, "t", NULL);
	assert_ok(r);
	proc_free(r);
	j = show_json("default:2");
	ck_assert_int_eq(json_int(j, "due"), (now + 3600) * 1000);
	json_decref(j);

	memset(&tm, 0, sizeof tm);
	tm.tm_year = 2099 - 1900;
	tm.tm_mon = 0;
	tm.tm_mday = 2;
	tm.tm_hour = 3;
	tm.tm_min = 4;
	tm.tm_sec = 5;
	t = timegm(&tm);
	r = cli(NULL, 0, "enqueue", "--at", "2099-01-02T03:04:05Z", "t", NULL);
	assert_ok(r);
	proc_free(r);
	j = show_json("default:3");
	ck_assert_int_eq(json_int(j, "due"), (long long)t * 1000);
	json_decref(j);
	r = cli(NULL, 0, "enqueue", "--at", "2099-01-02T03:04:05.250+01:00",
	    "t", NULL);
	assert_ok(r);
	proc_free(r);
	j = show_json("default:4");
	ck_assert_int_eq(json_int(j, "due"), (long long)t * 1000 - 3600000 +
	    250);
	json_decref(j);

	r = cli(NULL, 0, "enqueue", "--at", "2026-02-30T00:00:00Z", "t", NULL);
	ck_assert_int_eq(r->status, 2);
	ck_assert_msg(strstr(r->err, "--at: invalid time") != NULL, "%s",
	    r->err);
	proc_free(r);

	/* --expire-in: the job's "expires"; never before its due time. */
	r = cli(NULL, 0, "enqueue", "--in", "1m", "--expire-in", "2h", "t",
	    NULL);
	assert_ok(r);
	proc_free(r);
	j = show_json("default:5");
	ck_assert_int_eq(json_int(j, "expires") - json_int(j, "created"),
	    7200000);
	json_decref(j);
	r = cli(NULL, 0, "enqueue", "--at", at, "--expire-in", "5m", "t",
	    NULL);
	ck_assert_int_eq(r->status, 1);
	ck_assert_msg(strstr(r->err, "would expire") != NULL &&
	    strstr(r->err, "before it is due") != NULL, "%s", r->err);
	proc_free(r);
	j = stats_json(NULL);
	ck_assert_int_eq(json_int(stats_queue(j, "default"), "scheduled"), 5);
	json_decref(j);
}
END_TEST

START_TEST(test_unique_returns_the_existing_job)
{
	struct proc *r;

	r = cli(NULL, 0, "enqueue", "--unique", "nightly", "report", NULL);
	assert_ok(r);
	ck_assert_str_eq(r->out, "default:1\n");
	proc_free(r);
	r = cli(NULL, 0, "enqueue", "--unique", "nightly", "report", NULL);
	ck_assert_int_eq(r->status, 0);
	ck_assert_str_eq(r->out, "default:1\n");
	ck_assert_msg(strstr(r->err, "default:1 (existing job)") != NULL,
	    "stderr: %s", r->err);
	proc_free(r);
	ck_assert_int_eq(must_int(rf.c, "ZCARD %s", BASE ":due"), 1);
}
END_TEST

/* Run redjob with args; assert exit 0 and return its stdout as JSON. */
#define cli_json_ok(...) cli_json_of(cli(NULL, 0, __VA_ARGS__, NULL))
static json_t *
cli_json_of(struct proc *r)
{
	json_t *j;

	assert_ok(r);
	j = must_json(r);
	proc_free(r);
	return j;
}

/* --json on the commands that change things: the shapes of redjob(1). */
START_TEST(test_json_of_enqueue_retry_rm_pause_resume)
{
	static const char lines[] = "a\nb\n";
	struct proc *r;
	json_t *j;
	char *l2;

	j = cli_json_ok("enqueue", "--json", "t", "x");
	ck_assert_str_eq(json_str(j, "id"), "default:1");
	ck_assert(json_is_true(json_object_get(j, "created")));
	json_decref(j);
	j = cli_json_ok("enqueue", "--json", "--unique", "u", "t", "x");
	ck_assert_str_eq(json_str(j, "id"), "default:2");
	json_decref(j);
	r = cli(NULL, 0, "enqueue", "--json", "--unique", "u", "t", "x", NULL);
	ck_assert_int_eq(r->status, 0);
	j = must_json(r);
	ck_assert_str_eq(json_str(j, "id"), "default:2");
	ck_assert(json_is_false(json_object_get(j, "created")));
	json_decref(j);
	proc_free(r);

	/* --lines: JSON Lines, one object per job with its line. */
	r = cli(lines, sizeof lines - 1, "enqueue", "--json", "--lines", "t",
	    NULL);
	assert_ok(r);
	l2 = strchr(r->out, '\n');
	ck_assert_ptr_nonnull(l2);
	*l2++ = '\0';
	j = json_loads(r->out, 0, NULL);
	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(json_str(j, "id"), "default:3");
	ck_assert_int_eq(json_int(j, "line"), 1);
	json_decref(j);
	j = json_loads(l2, 0, NULL);
	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(json_str(j, "id"), "default:4");
	ck_assert_int_eq(json_int(j, "line"), 2);
	json_decref(j);
	proc_free(r);

	j = cli_json_ok("retry", "--json", "default:1");
	ck_assert_str_eq(json_str(j, "id"), "default:1");
	ck_assert_str_eq(json_str(j, "was"), "ready");
	ck_assert_str_eq(json_str(j, "now"), "ready");
	json_decref(j);
	j = cli_json_ok("rm", "--json", "default:1");
	ck_assert_str_eq(json_str(j, "was"), "ready");
	ck_assert_str_eq(json_str(j, "now"), "removed");
	json_decref(j);
	ck_assert_int_eq(must_int(rf.c, "EXISTS %s", BASE ":j:1"), 0);

	j = cli_json_ok("pause", "--json", "default");
	ck_assert_str_eq(json_str(j, "queue"), "default");
	ck_assert(json_is_true(json_object_get(j, "paused")));
	ck_assert(json_is_true(json_object_get(j, "changed")));
	json_decref(j);
	j = cli_json_ok("pause", "--json", "default");
	ck_assert(json_is_false(json_object_get(j, "changed")));
	json_decref(j);
	j = cli_json_ok("resume", "--json", "default");
	ck_assert(json_is_false(json_object_get(j, "paused")));
	ck_assert(json_is_true(json_object_get(j, "changed")));
	json_decref(j);
}
END_TEST

static const char *write_file(const char *, const char *);

/*
 * Without -q a job goes to the queue its type is given: by -c FILE (whose
 * handler programs need not exist on a producer host), else by the type
 * table the daemons publish; -q wins. A queue no live worker serves, or
 * a type no live worker knows, gets a warning on stderr, and the job is
 * in all the same.
 */
START_TEST(test_enqueue_warns_and_routes_by_type)
{
	char yml[4200], path[4200], v[64];
	struct proc *r;

	snprintf(yml, sizeof yml,
	    "redis:\n"
	    "  url: %s\n"
	    "queues: { default: 1, mail: 1 }\n"
	    "jobs:\n"
	    "  send_email:\n"
	    "    queue: mail\n"
	    "    exec: [/nonexistent/bin/send-email]\n", rf.url);
	snprintf(path, sizeof path, "%s", write_file("producer.yml", yml));

	r = cli_raw(NULL, 0, "-c", path, "enqueue", "send_email", "x", NULL);
	ck_assert_int_eq(r->status, 0);
	ck_assert_str_eq(r->out, "mail:1\n");
	ck_assert_str_eq(r->err, "redjob: warning: no live worker serves "
	    "queue mail; the job waits until one does\n");
	proc_free(r);
	r = cli_raw(NULL, 0, "-c", path, "enqueue", "-q", "default",
	    "send_email", "x", NULL);
	assert_ok(r);
	ck_assert_str_eq(r->out, "default:1\n");
	proc_free(r);

	/* Without -c: the type table; a value that is no queue is ignored. */
	freeReplyObject(must_command(rf.c, "HSET redjob:types send_email mail "
	    "resize %s", "bad queue!"));
	r = cli(NULL, 0, "enqueue", "send_email", "x", NULL);
	assert_ok(r);
	ck_assert_str_eq(r->out, "mail:2\n");
	proc_free(r);
	r = cli(NULL, 0, "enqueue", "resize", "x", NULL);
	assert_ok(r);
	ck_assert_str_eq(r->out, "default:2\n");
	proc_free(r);

	/* A live worker of mail that does not know the type, then one that
	 * does (as redjob_beat writes them). */
	snprintf(v, sizeof v, "%lld otherhost:1 resize",
	    ((long long)time(NULL) + 3600) * 1000);
	freeReplyObject(must_command(rf.c, "HSET redjob:{mail}:seen "
	    "0123456789abcdef %s", v));
	r = cli(NULL, 0, "enqueue", "send_email", "x", NULL);
	ck_assert_int_eq(r->status, 0);
	ck_assert_str_eq(r->out, "mail:3\n");
	ck_assert_str_eq(r->err, "redjob: warning: no live worker of queue "
	    "mail knows job type send_email; the job waits until one does\n");
	proc_free(r);
	snprintf(v, sizeof v, "%lld otherhost:2 send_email",
	    ((long long)time(NULL) + 3600) * 1000);
	freeReplyObject(must_command(rf.c, "HSET redjob:{mail}:seen "
	    "fedcba9876543210 %s", v));
	r = cli(NULL, 0, "enqueue", "send_email", "x", NULL);
	ck_assert_int_eq(r->status, 0);
	ck_assert_str_eq(r->err, "");
	proc_free(r);
	ck_assert_int_eq(must_int(rf.c, "ZCARD redjob:{mail}:due"), 4);
}
END_TEST

/* Every field redjob(1) promises in stats --json. */
static const char *const stats_fields[] = {
	"ready", "scheduled", "running", "dead", "processed", "failed",
	"retried", "throttled", "conflicts", "workers",
};

START_TEST(test_stats_json_has_every_documented_field)
{
	struct proc *r;
	json_t *j, *q;
	const char *name;
	char *line, *hdr, *end;
	size_t i;

	r = cli(NULL, 0, "enqueue", "-q", "alpha", "t", "x", NULL);
	assert_ok(r);
	proc_free(r);
	r = cli(NULL, 0, "enqueue", "-q", "beta", "--in", "1h", "t", "y", NULL);
	assert_ok(r);
	proc_free(r);
	r = cli(NULL, 0, "pause", "beta", NULL);
	assert_ok(r);
	proc_free(r);

	/* A stray member of the registry is skipped, not fatal. */
	freeReplyObject(must_command(rf.c, "SADD redjob:queues %s",
	    "bad queue!"));
	j = stats_json("gamma");
	ck_assert_uint_eq(json_object_size(json_object_get(j, "queues")), 3);
	json_object_foreach(json_object_get(j, "queues"), name, q) {
		for (i = 0; i < sizeof stats_fields / sizeof *stats_fields; i++)
			json_int(q, stats_fields[i]);
		ck_assert_msg(json_is_boolean(json_object_get(q, "paused")),
		    "%s: paused is not a boolean", name);
	}
	ck_assert_int_eq(json_int(stats_queue(j, "alpha"), "ready"), 1);
	ck_assert_int_eq(json_int(stats_queue(j, "alpha"), "enqueued"), 1);
	ck_assert(json_is_false(json_object_get(stats_queue(j, "alpha"),
	    "paused")));
	ck_assert_int_eq(json_int(stats_queue(j, "beta"), "scheduled"), 1);
	ck_assert(json_is_true(json_object_get(stats_queue(j, "beta"),
	    "paused")));
	for (i = 0; i < sizeof stats_fields / sizeof *stats_fields; i++)
		ck_assert_int_eq(json_int(stats_queue(j, "gamma"),
		    stats_fields[i]), 0);
	json_decref(j);

	/* The table: a header, then aligned rows, the paused one marked. */
	r = cli(NULL, 0, "stats", NULL);
	assert_ok(r);
	/* Three lines of the table, then a note for each queue with jobs
	 * and no live worker. */
	ck_assert_uint_eq(count_lines(r->out), 5);
	ck_assert_msg(strstr(r->out, "\nnote: no live worker serves queue "
	    "alpha: ") != NULL && strstr(r->out, "\nnote: no live worker "
	    "serves queue beta: ") != NULL, "%s", r->out);
	hdr = r->out;
	ck_assert_msg(strncmp(hdr, "QUEUE ", 6) == 0, "%s", r->out);
	end = strchr(hdr, '\n');
	ck_assert_msg(strstr(hdr, "READY") < strstr(hdr, "SCHEDULED") &&
	    strstr(hdr, "DEAD") < strstr(hdr, "PROCESSED") &&
	    strstr(hdr, "THROTTLED") < strstr(hdr, "CONFLICTS") &&
	    strstr(hdr, "CONFLICTS") < strstr(hdr, "WORKERS") &&
	    strstr(hdr, "WORKERS") + 7 == end, "header: %.*s",
	    (int)(end - hdr), hdr);
	line = end + 1;
	ck_assert_msg(strncmp(line, "alpha ", 6) == 0, "%s", r->out);
	ck_assert_msg(strchr(line, '\n') - line == end - hdr,
	    "row not aligned with the header:\n%s", r->out);
	line = strchr(line, '\n') + 1;
	ck_assert_msg(strncmp(line, "beta ", 5) == 0, "%s", r->out);
	ck_assert_msg(strstr(line, "  paused\n") != NULL, "beta not marked "
	    "paused:\n%s", r->out);
	proc_free(r);
}
END_TEST

START_TEST(test_ls_lists_each_state)
{
	static const struct {
		const char *state, *id, *attempts;
	} want[] = {
		{ "ready", "default:3", "0" },
		{ "scheduled", "default:4", "0" },
		{ "running", "default:1", "0" },
		{ "dead", "default:2", "1" },
	};
	char id[32], state[32], when[64], type[32], attempts[32];
	struct proc *r;
	json_t *j, *e;
	size_t i;
	char *p;

	must_enqueue("runner", "a", NULL);
	claim_one("tokentoken1", "default:1");
	must_enqueue("dier", "b", NULL);
	make_dead("default:2");
	must_enqueue("waiter", "c", NULL);
	must_enqueue("sleeper", "d", "1h");

	for (i = 0; i < 4; i++) {
		r = cli(NULL, 0, "ls", "default", "--state", want[i].state,
		    NULL);
		assert_ok(r);
		ck_assert_msg(count_lines(r->out) == 2, "%s: %s", want[i].state,
		    r->out);
		ck_assert_msg(strncmp(r->out, "ID ", 3) == 0, "%s", r->out);
		p = strchr(r->out, '\n') + 1;
		ck_assert_int_eq(sscanf(p, "%31s %31s %63s %31s %31s", id,
		    state, when, type, attempts), 5);
		ck_assert_str_eq(id, want[i].id);
		ck_assert_str_eq(state, want[i].state);
		ck_assert_str_eq(attempts, want[i].attempts);
		ck_assert_msg(strlen(when) == 24 && when[10] == 'T' &&
		    when[23] == 'Z', "time \"%s\" is not ISO-8601", when);
		proc_free(r);
	}

	/* Every state, in the order ready, scheduled, running, dead. */
	r = cli(NULL, 0, "ls", "--json", "default", NULL);
	assert_ok(r);
	j = must_json(r);
	proc_free(r);
	ck_assert(json_is_array(j));
	ck_assert_uint_eq(json_array_size(j), 4);
	for (i = 0; i < 4; i++) {
		e = json_array_get(j, i);
		ck_assert_str_eq(json_str(e, "id"), want[i].id);
		ck_assert_str_eq(json_str(e, "state"), want[i].state);
		ck_assert_str_eq(json_str(e, "queue"), "default");
		ck_assert_int_eq(json_int(e, "attempts"),
		    atoi(want[i].attempts));
		ck_assert_int_gt(json_int(e, "score"), 0);
	}
	ck_assert_str_eq(json_str(json_array_get(j, 0), "type"), "waiter");
	json_decref(j);

	/* --limit caps each state. */
	must_enqueue("waiter", "e", NULL);
	r = cli(NULL, 0, "ls", "default", "--state", "ready", "--limit", "1",
	    NULL);
	assert_ok(r);
	ck_assert_uint_eq(count_lines(r->out), 2);
	ck_assert_msg(strstr(r->out, "\ndefault:3 ") != NULL, "%s", r->out);
	proc_free(r);
	r = cli(NULL, 0, "ls", "default", "--state", "ready", NULL);
	ck_assert_uint_eq(count_lines(r->out), 3);
	proc_free(r);
}
END_TEST

START_TEST(test_retry_brings_a_dead_job_back)
{
	struct proc *r;
	json_t *j;

	must_enqueue("t", "x", NULL);
	make_dead("default:1");
	j = stats_json(NULL);
	ck_assert_int_eq(json_int(stats_queue(j, "default"), "dead"), 1);
	json_decref(j);

	r = cli(NULL, 0, "retry", "default:1", NULL);
	assert_ok(r);
	ck_assert_str_eq(r->out, "retry: default:1 was dead, now ready\n");
	proc_free(r);
	j = stats_json(NULL);
	ck_assert_int_eq(json_int(stats_queue(j, "default"), "dead"), 0);
	ck_assert_int_eq(json_int(stats_queue(j, "default"), "ready"), 1);
	json_decref(j);
	j = show_json("default:1");
	ck_assert_str_eq(json_str(j, "state"), "ready");
	ck_assert_int_eq(json_int(j, "attempts"), 0);
	ck_assert_str_eq(json_str(j, "last_error"), "boom");
	json_decref(j);

	/* A running job cannot be retried; an unknown one does not exist. */
	claim_one("tokentoken2", "default:1");
	r = cli(NULL, 0, "retry", "default:1", NULL);
	assert_one_error(r, 1, "redjob: job default:1 is running");
	proc_free(r);
	r = cli(NULL, 0, "retry", "default:99", NULL);
	assert_one_error(r, 1, "redjob: no job default:99");
	proc_free(r);
}
END_TEST

START_TEST(test_rm_deletes_the_job)
{
	struct proc *r;

	must_enqueue("t", "x", NULL);
	r = cli(NULL, 0, "rm", "default:1", NULL);
	assert_ok(r);
	ck_assert_str_eq(r->out, "rm: default:1 was ready, now removed\n");
	proc_free(r);
	ck_assert_int_eq(must_int(rf.c, "EXISTS %s", BASE ":j:1"), 0);
	ck_assert_int_eq(must_int(rf.c, "ZCARD %s", BASE ":due"), 0);
	r = cli(NULL, 0, "show", "default:1", NULL);
	assert_one_error(r, 1, "redjob: no job default:1");
	proc_free(r);
	r = cli(NULL, 0, "rm", "default:1", NULL);
	ck_assert_str_eq(r->err, "redjob: no job default:1\n");
	ck_assert_int_eq(r->status, 1);
	proc_free(r);
}
END_TEST

/* "redjob -u URL ARG..." must succeed quietly, printing exactly want. */
static void
cli_prints(const char *want, ...)
{
	struct proc *r;
	va_list ap;

	va_start(ap, want);
	r = cli_run(NULL, 0, rf.url, ap);
	va_end(ap);
	assert_ok(r);
	ck_assert_str_eq(r->out, want);
	proc_free(r);
}

/* Does "redjob stats" show queue as paused (or not)? */
static void
assert_paused(const char *queue, int paused)
{
	json_t *j, *v;

	j = stats_json(NULL);
	v = json_object_get(stats_queue(j, queue), "paused");
	ck_assert_msg(paused ? json_is_true(v) : json_is_false(v),
	    "queue %s is %spaused in stats", queue, paused ? "not " : "");
	json_decref(j);
}

/*
 * "redjob CMD mail" (pause or resume) says what it did; stats and a claim
 * agree (paused: no worker gets the one job); the same again says so and
 * changes nothing.
 */
static void
pause_toggle(const char *cmd, int paused, const char *did, const char *again)
{
	struct proc *r;
	redisReply *rep;

	cli_prints(did, cmd, "mail", NULL);
	assert_paused("mail", paused);
	rep = must_command(rf.c, "FCALL redjob_claim 1 redjob:{mail} 10 30000 "
	    "3 tokentoken1 w");
	ck_assert_uint_eq(rep->elements, paused ? 2 : 3);
	freeReplyObject(rep);
	r = cli(NULL, 0, cmd, "mail", NULL);
	ck_assert_str_eq(r->out, again);
	proc_free(r);
}

START_TEST(test_pause_and_resume_show_in_stats)
{
	struct proc *r;

	r = cli(NULL, 0, "enqueue", "-q", "mail", "t", "x", NULL);
	assert_ok(r);
	proc_free(r);
	pause_toggle("pause", 1, "pause: queue mail paused\n",
	    "pause: queue mail was already paused\n");
	pause_toggle("resume", 0, "resume: queue mail resumed\n",
	    "resume: queue mail was not paused\n");

	/* A queue paused before its first job still shows up. */
	r = cli(NULL, 0, "pause", "fresh", NULL);
	assert_ok(r);
	proc_free(r);
	assert_paused("fresh", 1);
}
END_TEST

START_TEST(test_oversized_payload_is_refused)
{
	size_t big = 600 * 1024;
	char *in;
	struct proc *r;
	redisReply *rep;
	char *v;
	size_t len;

	in = malloc(big);
	memset(in, 'a', big);
	r = cli(in, big, "enqueue", "big", "-", NULL);
	assert_one_error(r, 1, "redjob: payload of 614400 bytes is over the "
	    "limit of 524288 bytes");
	ck_assert_uint_eq(r->outlen, 0);
	proc_free(r);
	rep = must_command(rf.c, "DBSIZE");
	ck_assert_int_eq(rep->integer, 0);
	freeReplyObject(rep);

	r = cli(NULL, 0, "enqueue", "--max-payload", "5", "small",
	    "hello world", NULL);
	assert_one_error(r, 1, "redjob: payload of 11 bytes is over the "
	    "limit of 5 bytes");
	proc_free(r);
	ck_assert_int_eq(must_int(rf.c, "EXISTS %s", BASE ":j:1"), 0);

	/* A raised limit lets it in, whole. */
	r = cli(in, big, "enqueue", "--max-payload", "1MiB", "big", "-", NULL);
	assert_ok(r);
	ck_assert_str_eq(r->out, "default:1\n");
	proc_free(r);
	v = show_field(SHOW(1), "payload", &len);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(len, big);
	free(v);
	free(in);
}
END_TEST

START_TEST(test_redis_down_is_one_line_and_exit_1)
{
	char url[4200], want[4200];
	struct proc *r;

	snprintf(url, sizeof url, "unix://%s/nosuch.sock", rf.dir);
	snprintf(want, sizeof want, "redjob: cannot connect to redis at "
	    "%s/nosuch.sock: No such file or directory\n", rf.dir);
	r = cli_raw(NULL, 0, "-u", url, "stats", NULL);
	assert_one_error(r, 1, "redjob: cannot connect");
	ck_assert_str_eq(r->err, want);
	ck_assert_uint_eq(r->outlen, 0);
	proc_free(r);
	r = cli_raw(NULL, 0, "-u", url, "enqueue", "t", "x", NULL);
	ck_assert_str_eq(r->err, want);
	ck_assert_int_eq(r->status, 1);
	proc_free(r);

	/* $REDJOB_URL is the default; -u wins over it. */
	child_url = url;
	r = cli_raw(NULL, 0, "show", "default:1", NULL);
	ck_assert_str_eq(r->err, want);
	ck_assert_int_eq(r->status, 1);
	proc_free(r);
	r = cli(NULL, 0, "enqueue", "t", "x", NULL);
	assert_ok(r);
	ck_assert_str_eq(r->out, "default:1\n");
	proc_free(r);
	child_url = rf.url;
	r = cli_raw(NULL, 0, "enqueue", "t", "x", NULL);
	child_url = NULL;
	assert_ok(r);
	ck_assert_str_eq(r->out, "default:2\n");
	proc_free(r);
}
END_TEST

START_TEST(test_namespace_option)
{
	struct proc *r;
	char *v;

	r = cli(NULL, 0, "-n", "other", "enqueue", "t", "x", NULL);
	assert_ok(r);
	ck_assert_str_eq(r->out, "default:1\n");
	proc_free(r);
	v = show_field(must_command(rf.c, "FCALL_RO redjob_show 1 "
	    "other:{default} default:1"), "payload", NULL);
	ck_assert_str_eq(v, "x");
	free(v);
	ck_assert_ptr_null(show_field(SHOW(1), "payload", NULL));
	r = cli(NULL, 0, "-n", "other", "show", "default:1", NULL);
	assert_ok(r);
	proc_free(r);
	r = cli(NULL, 0, "show", "default:1", NULL);
	ck_assert_int_eq(r->status, 1);
	proc_free(r);
}
END_TEST

/* Command lines that are usage errors: exit 2, reason and usage line. */
static const char *const usage_errors[][8] = {
	{ NULL },
	{ "frobnicate", NULL },
	{ "lock", "--ttl", "30s", "name", "--", NULL },
	{ "throttle", "smtp", NULL },
	{ "enqueue", NULL },
	{ "enqueue", "--in", "5x", "t", NULL },
	{ "enqueue", "--in", "1s", "--at", "@1", "t", NULL },
	{ "enqueue", "--at", "tomorrow", "t", NULL },
	{ "enqueue", "--max-attempts", "0", "t", NULL },
	{ "enqueue", "--expire-in", "0", "t", NULL },
	{ "enqueue", "--expire-in", "soon", "t", NULL },
	{ "enqueue", "--in", "5m", "--expire-in", "1m", "t", NULL },
	{ "enqueue", "--unique-for", "1h", "t", NULL },
	{ "enqueue", "--max-payload", "lots", "t", NULL },
	{ "enqueue", "bad type!", "x", NULL },
	{ "enqueue", "-q", "bad queue", "t", NULL },
	{ "enqueue", "--lines", "t", "payload", NULL },
	{ "enqueue", "t", "a", "b", NULL },
	{ "enqueue", "--bogus", "t", NULL },
	{ "enqueue", "t", "-q", NULL },
	{ "stats", "extra", NULL },
	{ "stats", "-x", NULL },
	{ "show", NULL },
	{ "show", "noid", NULL },
	{ "show", "a:1", "b:2", NULL },
	{ "ls", NULL },
	{ "ls", "q", "--state", "nope", NULL },
	{ "ls", "q", "--limit", "0", NULL },
	{ "retry", NULL },
	{ "retry", "mail:x", NULL },
	{ "rm", "a:1", "b:2", NULL },
	{ "pause", "bad queue", NULL },
	{ "resume", NULL },
	{ "web", "extra", NULL },
	{ "web", "--listen", "0.0.0.0:8187", NULL },
	{ "web", "--listen", "[::]:8187", NULL },
	{ "web", "--listen", "localhost:8187", NULL },
	{ "web", "--listen", "127.0.0.1:65536", NULL },
	{ "web", "--listen", "unix:relative.sock", NULL },
	{ "web", "--token-file", NULL },
	{ "-u", "http://example.com", "stats", NULL },
	{ "-n", "bad ns!", "stats", NULL },
	{ "-x", "stats", NULL },
	{ "-u", NULL },
};

START_TEST(test_usage_errors_exit_2)
{
	char *argv[MAX_ARGS], url[4200], *dead;
	struct proc *r;
	int n, i;

	/*
	 * The server named by $REDJOB_URL does not exist: a usage error must
	 * be found before connecting, or the exit status would be 1.
	 */
	snprintf(url, sizeof url, "unix://%s/nosuch.sock", rf.dir);
	dead = url;
	child_url = dead;
	n = 0;
	argv[n++] = testlib_redjob();
	for (i = 0; usage_errors[_i][i] != NULL; i++)
		argv[n++] = (char *)usage_errors[_i][i];
	argv[n] = NULL;
	r = run_argv(argv);
	child_url = NULL;
	ck_assert_msg(r->status == 2, "case %d (%s ...): exit %d, stderr: %s",
	    _i, usage_errors[_i][0], r->status, r->err);
	/* One line of reason, then the usage (which may be folded). */
	ck_assert_msg(strncmp(r->err, "redjob: ", 8) == 0 &&
	    strncmp(strchr(r->err, '\n'), "\nusage: redjob ", 15) == 0,
	    "case %d: stderr is not a reason and a usage line: %s", _i, r->err);
	ck_assert_uint_eq(r->outlen, 0);
	proc_free(r);
}
END_TEST

START_TEST(test_help_and_version)
{
	static const char *const cmds[] = {
		"enqueue", "stats", "show", "ls", "retry", "rm", "pause",
		"resume",
	};
	char want[64];
	struct proc *r;
	size_t i;

	r = cli_raw(NULL, 0, "--help", NULL);
	assert_ok(r);
	ck_assert_msg(strncmp(r->out, "usage: redjob ", 14) == 0, "%s", r->out);
	for (i = 0; i < sizeof cmds / sizeof *cmds; i++) {
		snprintf(want, sizeof want, "\n  %s ", cmds[i]);
		ck_assert_msg(strstr(r->out, want) != NULL,
		    "%s not listed:\n%s", cmds[i], r->out);
	}
	ck_assert_msg(strstr(r->out, "\n  lock ") != NULL &&
	    strstr(r->out, "\n  throttle ") != NULL, "lock and throttle are "
	    "missing from the help:\n%s", r->out);
	ck_assert_msg(strstr(r->out, "REDJOB_URL") != NULL, "%s", r->out);
	proc_free(r);

	for (i = 0; i < sizeof cmds / sizeof *cmds; i++) {
		r = cli_raw(NULL, 0, cmds[i], "--help", NULL);
		assert_ok(r);
		snprintf(want, sizeof want, "usage: redjob %s ", cmds[i]);
		ck_assert_msg(strncmp(r->out, want, strlen(want)) == 0, "%s",
		    r->out);
		ck_assert_msg(strstr(r->out, "\nExample") != NULL,
		    "%s --help has no examples", cmds[i]);
		proc_free(r);
	}
	r = cli_raw(NULL, 0, "enqueue", "--help", NULL);
	ck_assert_msg(strstr(r->out, "--lines") != NULL &&
	    strstr(r->out, "--unique-for") != NULL, "%s", r->out);
	proc_free(r);
	r = cli_raw(NULL, 0, "help", "ls", NULL);
	assert_ok(r);
	ck_assert_msg(strncmp(r->out, "usage: redjob ls ", 17) == 0, "%s",
	    r->out);
	proc_free(r);

	r = cli_raw(NULL, 0, "--version", NULL);
	assert_ok(r);
	ck_assert_msg(strncmp(r->out, "redjob " PACKAGE_VERSION " ",
	    strlen("redjob " PACKAGE_VERSION " ")) == 0, "%s", r->out);
	proc_free(r);
}
END_TEST

static const char *write_file(const char *, const char *);

START_TEST(test_wrong_password)
{
	char url[4200], yml[8192], path[4200];
	struct proc *r;

	freeReplyObject(must_command(rf.c, "CONFIG SET requirepass sekret"));
	snprintf(url, sizeof url, "unix://:wrong@%s", rf.sock);
	r = cli_raw(NULL, 0, "-u", url, "stats", NULL);
	assert_one_error(r, 1, "redjob: redis refused the password: ");
	ck_assert_msg(strstr(r->err, "WRONGPASS") != NULL, "%s", r->err);
	proc_free(r);

	r = cli(NULL, 0, "stats", NULL);
	assert_one_error(r, 1, "redjob: redis refused access: NOAUTH");
	proc_free(r);

	snprintf(url, sizeof url, "unix://:sekret@%s", rf.sock);
	r = cli_raw(NULL, 0, "-u", url, "enqueue", "t", "x", NULL);
	assert_ok(r);
	ck_assert_str_eq(r->out, "default:1\n");
	proc_free(r);

	/* The password of -c comes from password_file, any bytes in it. */
	freeReplyObject(must_command(rf.c, "CONFIG SET requirepass %s",
	    "p@ss:w/rd%41 x"));
	write_file("password", "p@ss:w/rd%41 x\n");
	snprintf(yml, sizeof yml, "redis:\n  url: %s\n  password_file: "
	    "%s/password\n", rf.url, rf.dir);
	snprintf(path, sizeof path, "%s", write_file("redjob.yml", yml));
	r = cli_raw(NULL, 0, "-c", path, "enqueue", "t", "x", NULL);
	assert_ok(r);
	ck_assert_str_eq(r->out, "default:2\n");
	proc_free(r);
}
END_TEST

START_TEST(test_out_of_memory)
{
	struct proc *r;
	json_t *j;

	must_enqueue("t", "x", NULL);
	freeReplyObject(must_command(rf.c, "CONFIG SET maxmemory 1"));
	r = cli(NULL, 0, "enqueue", "t", "y", NULL);
	assert_one_error(r, 1, "redjob: redis is out of memory (maxmemory "
	    "reached), nothing was written");
	proc_free(r);
	/* With --lines it is said once, not once per line. */
	r = cli("a\nb\nc\n", 6, "enqueue", "--lines", "t", NULL);
	assert_one_error(r, 1, "redjob: lines 1 to 3 (3 of them) were not "
	    "enqueued, nor any later line: redis is out of memory");
	ck_assert_uint_eq(r->outlen, 0);
	proc_free(r);
	/* Reading still works while Redis is full. */
	j = stats_json(NULL);
	ck_assert_int_eq(json_int(stats_queue(j, "default"), "ready"), 1);
	json_decref(j);
	freeReplyObject(must_command(rf.c, "CONFIG SET maxmemory 0"));
}
END_TEST

START_TEST(test_newer_library_is_refused_and_kept)
{
	static const char lib[] = "#!lua name=redjob\n"
	    "redis.register_function{function_name='redjob_version', "
	    "callback=function() return {99, 1} end, flags={'no-writes'}}\n";
	struct proc *r;
	redisReply *rep;

	freeReplyObject(must_command(rf.c, "FUNCTION LOAD REPLACE %s", lib));
	r = cli(NULL, 0, "stats", NULL);
	assert_one_error(r, 1, "redjob: redis holds redjob library version "
	    "99, newer than this client's");
	proc_free(r);
	rep = must_command(rf.c, "FCALL_RO redjob_version 0");
	ck_assert_int_eq(rep->element[0]->integer, 99);
	freeReplyObject(rep);
}
END_TEST

/* Write a file in the fixture's directory; returns its path (static). */
static const char *
write_file(const char *name, const char *text)
{
	static char path[4200];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", rf.dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

START_TEST(test_config_file)
{
	char yml[8192], path[4200], url[4200];
	struct proc *r;
	char *v;
	json_t *j;

	snprintf(yml, sizeof yml,
	    "redis:\n"
	    "  url: %s\n"
	    "  namespace: cfgns\n"
	    "queues:\n"
	    "  alpha: 1\n"
	    "  beta: 2\n"
	    "jobs:\n"
	    "  t:\n"
	    "    queue: alpha\n"
	    "    exec: [/bin/true]\n", rf.url);
	snprintf(path, sizeof path, "%s", write_file("redjob.yml", yml));

	/* The config's queues show up before any job was enqueued. */
	r = cli_raw(NULL, 0, "-c", path, "stats", "--json", NULL);
	assert_ok(r);
	j = must_json(r);
	proc_free(r);
	ck_assert_int_eq(json_int(stats_queue(j, "alpha"), "ready"), 0);
	ck_assert_int_eq(json_int(stats_queue(j, "beta"), "ready"), 0);
	json_decref(j);

	r = cli_raw(NULL, 0, "-c", path, "enqueue", "-q", "alpha", "t", "x",
	    NULL);
	assert_ok(r);
	ck_assert_str_eq(r->out, "alpha:1\n");
	proc_free(r);
	v = show_field(must_command(rf.c, "FCALL_RO redjob_show 1 "
	    "cfgns:{alpha} alpha:1"), "type", NULL);
	ck_assert_ptr_nonnull(v);
	free(v);

	/* -n and -u override the file; the type's queue comes from it. */
	r = cli_raw(NULL, 0, "-c", path, "-n", "other", "enqueue", "t", "x",
	    NULL);
	assert_ok(r);
	ck_assert_str_eq(r->out, "alpha:1\n");
	proc_free(r);
	v = show_field(must_command(rf.c, "FCALL_RO redjob_show 1 "
	    "other:{alpha} alpha:1"), "type", NULL);
	ck_assert_ptr_nonnull(v);
	free(v);
	snprintf(url, sizeof url, "unix://%s/nosuch.sock", rf.dir);
	r = cli_raw(NULL, 0, "-c", path, "-u", url, "stats", NULL);
	assert_one_error(r, 1, "redjob: cannot connect to redis at ");
	ck_assert_msg(strstr(r->err, "nosuch.sock") != NULL, "%s", r->err);
	proc_free(r);

	/* A broken file: FILE:LINE:COL diagnostics and exit 1. */
	snprintf(path, sizeof path, "%s", write_file("bad.yml",
	    "redis:\n  url: [unclosed\n"));
	r = cli_raw(NULL, 0, "-c", path, "stats", NULL);
	ck_assert_int_eq(r->status, 1);
	ck_assert_msg(strncmp(r->err, path, strlen(path)) == 0 &&
	    r->err[strlen(path)] == ':' &&
	    strchr("0123456789", r->err[strlen(path) + 1]) != NULL,
	    "no FILE:LINE:COL diagnostic: %s", r->err);
	ck_assert_uint_eq(r->outlen, 0);
	proc_free(r);
}
END_TEST

/* Run a program that is not redjob and return its stdout. */
static char *
must_run(char *const *argv)
{
	struct proc *r;
	char *out;

	r = run_argv(argv);
	ck_assert_msg(r->status == 0, "%s: exit %d: %s", argv[0], r->status,
	    r->err);
	out = strdup(r->out);
	ck_assert_ptr_nonnull(out);
	proc_free(r);
	return out;
}

START_TEST(test_interop_redis_cli)
{
	const char *rcli = getenv("REDIS_CLI");
	char *argv[16], *out;
	struct proc *r;
	json_t *j;

	ck_assert_msg(rcli != NULL && *rcli != '\0', "REDIS_CLI is not set; "
	    "run the tests with make check");
	/* Any redjob command loads the library. */
	r = cli(NULL, 0, "stats", NULL);
	assert_ok(r);
	proc_free(r);

	argv[0] = (char *)rcli;
	argv[1] = (char *)"-s";
	argv[2] = rf.sock;
	argv[3] = (char *)"FCALL";
	argv[4] = (char *)"redjob_enqueue";
	argv[5] = (char *)"1";
	argv[6] = (char *)BASE;
	argv[7] = (char *)"greet";
	argv[8] = (char *)"hello from redis-cli";
	argv[9] = NULL;
	out = must_run(argv);
	ck_assert_str_eq(out, "default:1\n1\n");
	free(out);

	j = show_json("default:1");
	ck_assert_str_eq(json_str(j, "type"), "greet");
	ck_assert_str_eq(json_str(j, "payload"), "hello from redis-cli");
	ck_assert_str_eq(json_str(j, "state"), "ready");
	json_decref(j);
	/* redis-cli does not register the queue; -q names it. */
	j = stats_json("default");
	ck_assert_int_eq(json_int(stats_queue(j, "default"), "ready"), 1);
	json_decref(j);
}
END_TEST

START_TEST(test_interop_python)
{
	char *argv[8], script[4200], *out, *ids[3], *save = NULL;
	struct proc *r;
	json_t *j;
	int i;

	snprintf(script, sizeof script, "%s/tests/interop.py",
	    testlib_srcdir());
	r = cli(NULL, 0, "stats", NULL);
	assert_ok(r);
	proc_free(r);

	argv[0] = (char *)"/usr/bin/python3";
	argv[1] = script;
	argv[2] = rf.sock;
	argv[3] = NULL;
	out = must_run(argv);
	for (i = 0; i < 3; i++) {
		ids[i] = strtok_r(i == 0 ? out : NULL, "\n", &save);
		ck_assert_ptr_nonnull(ids[i]);
	}
	ck_assert_str_eq(ids[0], "default:1");

	j = show_json(ids[0]);
	ck_assert_str_eq(json_str(j, "type"), "py_text");
	ck_assert_str_eq(json_str(j, "payload"), "h\xc3\xa9llo from python");
	json_decref(j);
	j = show_json(ids[1]);
	ck_assert_str_eq(json_str(j, "type"), "py_binary");
	/* b"\x00\x01 binary \xff\xfe" */
	ck_assert_str_eq(json_str(j, "payload_base64"), "AAEgYmluYXJ5IP/+");
	json_decref(j);
	j = show_json(ids[2]);
	ck_assert_str_eq(json_str(j, "key"), "user:7");
	ck_assert_int_eq(json_int(j, "max_attempts"), 4);
	json_decref(j);
	r = cli(NULL, 0, "show", ids[0], NULL);
	assert_ok(r);
	ck_assert_msg(strstr(r->out, "\nh\xc3\xa9llo from python\n") != NULL,
	    "%s", r->out);
	proc_free(r);
	free(out);
}
END_TEST

/*
 * docs/protocol.md's recipes, run as they stand: the first fenced block
 * of the page that opens with "```LANG" (the second, waiting for a job,
 * is tests/check_result.c's).
 */
static char *
protocol_block(const char *lang)
{
	char path[4200], open[32], *doc, *p, *end, *block;

	snprintf(path, sizeof path, "%s/docs/protocol.md", testlib_srcdir());
	doc = must_read_file(path, NULL);
	snprintf(open, sizeof open, "\n```%s\n", lang);
	p = strstr(doc, open);
	ck_assert_msg(p != NULL, "no ```%s block in %s", lang, path);
	p += strlen(open);
	end = strstr(p, "\n```\n");
	ck_assert_msg(end != NULL, "the ```%s block of %s never ends", lang,
	    path);
	block = strndup(p, (size_t)(end - p) + 1);
	ck_assert_ptr_nonnull(block);
	free(doc);
	return block;
}

/*
 * What a recipe says it prints: each line that calls the print function
 * ends with a comment that holds the line it prints.
 */
static char *
protocol_expected(const char *block, const char *print, const char *comment)
{
	const char *line, *eol, *c, *last;
	char *want = NULL;
	size_t len = 0;

	for (line = block; *line != '\0'; line = eol + 1) {
		eol = strchr(line, '\n');
		ck_assert_ptr_nonnull(eol);
		c = strstr(line, print);
		if (c == NULL || c > eol)
			continue;
		for (last = NULL; (c = strstr(c, comment)) != NULL && c < eol;
		    c++)
			last = c;
		ck_assert_msg(last != NULL, "no \"%s\" comment says what this "
		    "prints: %.*s", comment, (int)(eol - line), line);
		last += strlen(comment);
		testlib_append(&want, &len, last, (size_t)(eol - last) + 1);
	}
	ck_assert_msg(len > 0, "the recipe prints nothing");
	return want;
}

/*
 * Run the recipe in LANG with INTERP against the fixture's server, with
 * no library loaded (so it loads the installed file, gen/redjob.lua in
 * the build tree), and check that it prints what it says, that the job
 * is the one it describes, and that the library it loaded is, byte for
 * byte, the one the programs embed.
 */
static void
run_protocol_recipe(const char *lang, const char *interp, const char *print,
    const char *comment)
{
	char *block, *want, *dir, file[4200], envsock[4200], envlua[4200];
	char *env[3], *argv[3];
	struct proc_spec spec;
	struct proc *p;
	redisReply *reply, *lib;
	size_t i;
	json_t *j;
	FILE *fp;

	block = protocol_block(lang);
	want = protocol_expected(block, print, comment);
	dir = testlib_tmpdir("recipe");
	snprintf(file, sizeof file, "%s/recipe.%s", dir, lang);
	fp = fopen(file, "w");
	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(fputs(block, fp) >= 0, 1);
	ck_assert_int_eq(fclose(fp), 0);

	freeReplyObject(must_command(rf.c, "FUNCTION FLUSH"));
	snprintf(envsock, sizeof envsock, "REDJOB_SOCKET=%s", rf.sock);
	snprintf(envlua, sizeof envlua, "REDJOB_LUA=%s/gen/redjob.lua",
	    testlib_builddir());
	env[0] = envsock;
	env[1] = envlua;
	env[2] = NULL;
	argv[0] = (char *)interp;
	argv[1] = file;
	argv[2] = NULL;
	memset(&spec, 0, sizeof spec);
	spec.argv = argv;
	spec.env = env;
	spec.out = spec.err = PROC_IO_CAPTURE;
	p = must_spawn(&spec);
	must_wait(p, TESTLIB_DEADLINE_MS);
	ck_assert_msg(p->status == 0, "%s %s: exit %d: %s", interp, file,
	    p->status, p->err);
	ck_assert_str_eq(p->out, want);
	proc_free(p);

	j = show_json("mail:1");
	ck_assert_str_eq(json_str(j, "type"), "send_email");
	ck_assert_str_eq(json_str(j, "payload"), "{\"to\": \"a@example.org\"}");
	ck_assert_str_eq(json_str(j, "key"), "a@example.org");
	ck_assert_int_eq(json_int(j, "max_attempts"), 10);
	ck_assert_str_eq(json_str(j, "state"), "scheduled");
	json_decref(j);

	reply = must_command(rf.c, "FUNCTION LIST LIBRARYNAME redjob WITHCODE");
	ck_assert_int_eq(reply->type, REDIS_REPLY_ARRAY);
	ck_assert_uint_eq(reply->elements, 1);
	lib = reply->element[0];
	for (i = 0; i + 1 < lib->elements; i += 2)
		if (strcmp(lib->element[i]->str, "library_code") == 0)
			break;
	ck_assert_msg(i + 1 < lib->elements, "FUNCTION LIST has no code");
	ck_assert_uint_eq(lib->element[i + 1]->len, rfunc_lua_len);
	ck_assert(memcmp(lib->element[i + 1]->str, rfunc_lua,
	    rfunc_lua_len) == 0);
	freeReplyObject(reply);

	testlib_rmtree(dir);
	free(dir);
	free(want);
	free(block);
}

START_TEST(test_protocol_python_recipe)
{
	run_protocol_recipe("python", "/usr/bin/python3", "print(", "# ");
}
END_TEST

START_TEST(test_protocol_node_recipe)
{
	run_protocol_recipe("js", "node", "console.log(", "// ");
}
END_TEST

/*
 * The installed library is the one the programs load, and
 * docs/protocol.md's versions are its versions.
 */
START_TEST(test_protocol_library_file_and_versions)
{
	char path[4200], want[128], *text;
	size_t len;

	snprintf(path, sizeof path, "%s/gen/redjob.lua", testlib_builddir());
	text = must_read_file(path, &len);
	ck_assert_uint_eq(len, rfunc_lua_len);
	ck_assert(memcmp(text, rfunc_lua, len) == 0);
	free(text);

	snprintf(path, sizeof path, "%s/docs/protocol.md", testlib_srcdir());
	text = must_read_file(path, NULL);
	snprintf(want, sizeof want, "| library version | `%d` |",
	    rfunc_lib_version);
	ck_assert_msg(strstr(text, want) != NULL, "no \"%s\"", want);
	snprintf(want, sizeof want, "| schema version | `%d` |",
	    rfunc_schema_version);
	ck_assert_msg(strstr(text, want) != NULL, "no \"%s\"", want);
	snprintf(want, sizeof want, "returns both, as integers: `[%d, %d]`",
	    rfunc_lib_version, rfunc_schema_version);
	ck_assert_msg(strstr(text, want) != NULL, "no \"%s\"", want);
	snprintf(want, sizeof want, "redjob_version 0\n# 1) (integer) %d\n"
	    "# 2) (integer) %d\n", rfunc_lib_version, rfunc_schema_version);
	ck_assert_msg(strstr(text, want) != NULL, "no \"%s\"", want);
	free(text);
}
END_TEST

/*
 * Four TCases: the commands against one shared server, usage errors and
 * help (which must not need a server), failures that break their own
 * server, and interop with other Redis clients.
 */
Suite *
suite(void)
{
	Suite *s = suite_create("cli");
	TCase *tc;

	tc = tcase_create("commands");
	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, redis_start, redis_stop);
	tcase_add_checked_fixture(tc, redis_conn_setup, redis_conn_teardown);
	tcase_add_test(tc, test_enqueue_prints_an_id_that_show_finds);
	tcase_add_test(tc, test_show_human_form);
	tcase_add_test(tc, test_show_unknown_and_malformed_ids);
	tcase_add_test(tc, test_stdin_binary_payload_round_trips);
	tcase_add_test(tc, test_lines_enqueues_one_job_per_line_in_order);
	tcase_add_test(tc, test_lines_reports_a_bad_line_and_enqueues_the_rest);
	tcase_add_test(tc, test_in_and_at_schedule_the_job);
	tcase_add_test(tc, test_unique_returns_the_existing_job);
	tcase_add_test(tc, test_stats_json_has_every_documented_field);
	tcase_add_test(tc, test_json_of_enqueue_retry_rm_pause_resume);
	tcase_add_test(tc, test_enqueue_warns_and_routes_by_type);
	tcase_add_test(tc, test_ls_lists_each_state);
	tcase_add_test(tc, test_retry_brings_a_dead_job_back);
	tcase_add_test(tc, test_rm_deletes_the_job);
	tcase_add_test(tc, test_pause_and_resume_show_in_stats);
	tcase_add_test(tc, test_oversized_payload_is_refused);
	tcase_add_test(tc, test_redis_down_is_one_line_and_exit_1);
	tcase_add_test(tc, test_namespace_option);
	tcase_add_test(tc, test_config_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("usage");
	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, redis_start, redis_stop);
	tcase_add_loop_test(tc, test_usage_errors_exit_2, 0,
	    (int)(sizeof usage_errors / sizeof usage_errors[0]));
	tcase_add_test(tc, test_help_and_version);
	suite_add_tcase(s, tc);

	tc = tcase_create("failures");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, redis_start_conn, redis_stop_conn);
	tcase_add_test(tc, test_wrong_password);
	tcase_add_test(tc, test_out_of_memory);
	tcase_add_test(tc, test_newer_library_is_refused_and_kept);
	suite_add_tcase(s, tc);

	tc = tcase_create("interop");
	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, redis_start, redis_stop);
	tcase_add_checked_fixture(tc, redis_conn_setup, redis_conn_teardown);
	tcase_add_test(tc, test_interop_redis_cli);
	tcase_add_test(tc, test_interop_python);
	tcase_add_test(tc, test_protocol_python_recipe);
	tcase_add_test(tc, test_protocol_node_recipe);
	tcase_add_test(tc, test_protocol_library_file_and_versions);
	suite_add_tcase(s, tc);
	return s;
}
