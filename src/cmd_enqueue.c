/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * redjob enqueue: put one job into a queue and print its id, or, with
 * --lines, one job per line of stdin, sent to Redis pipelined in batches
 * through redjob_enqueue_many(). Payloads are bytes: the "-" form and
 * --lines read stdin with read(2), NULs included, and never hold more than
 * the payload limit of one line in memory, so a huge input is refused
 * with a reason instead of exhausting memory.
 */
#include "autoconf.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "redjob.h"
#include "client.h"
#include "cmd.h"
#include "config.h"
#include "duration.h"
#include "schema.h"
#include "xmalloc.h"

/*
 * Jobs per pipelined round trip with --lines, and the most payload bytes
 * one batch holds: a batch of large lines is cut short rather than held
 * in memory a thousand times over.
 */
#define ENQUEUE_BATCH 1000
#define ENQUEUE_BATCH_BYTES (16 * 1024 * 1024)
/* A line buffer bigger than this is freed after its batch. */
#define ENQUEUE_KEEP_CAP (64 * 1024)
/* The script's bounds (redjob.lua), checked here to fail early. */
#define ENQUEUE_MAX_ATTEMPTS 1000000
#define ENQUEUE_MAX_KEY 512
#define ENQUEUE_MAX_TYPE 128

enum {
	OPT_IN = 256,
	OPT_AT,
	OPT_KEY,
	OPT_MAX_ATTEMPTS,
	OPT_UNIQUE,
	OPT_UNIQUE_FOR,
	OPT_MAX_PAYLOAD,
	OPT_LINES,
	OPT_JSON,
	OPT_EXPIRE_IN,
};

/* --expire-in: more of every job, for redjob_enqueue_ext(). */
static struct redjob_ext enqueue_ext = REDJOB_EXT_INIT;

/* --json: one JSON object per job, one per line (JSON Lines). */
static int enqueue_json;

/* --lines: the id of the last job that went in (for its queue). */
static char enqueue_last_id[REDJOB_ID_MAX];

/* Print a job's id: the line, or its JSON object (lineno 0: none). */
static void
cmd_enqueue_print(const char *id, int created, unsigned long long lineno)
{
	json_t *o;
	char *s;

	if (!enqueue_json) {
		printf("%s\n", id);
		return;
	}
	o = json_object();
	json_object_set_new(o, "id", json_string(id));
	json_object_set_new(o, "created", json_boolean(created));
	if (lineno > 0)
		json_object_set_new(o, "line", json_integer(
		    (json_int_t)lineno));
	if ((s = json_dumps(o, JSON_COMPACT)) != NULL)
		printf("%s\n", s);
	free(s);
	json_decref(o);
}

/* A buffered reader of stdin that hands out lines of bounded size. */
struct enqueue_reader {
	int	 fd;
	char	 buf[65536];
	size_t	 off;
	size_t	 end;
	int	 eof;
};

/* One line of --lines input: at most limit bytes kept, all counted. */
struct enqueue_line {
	char		*buf;
	size_t		 cap;
	size_t		 len;		/* bytes kept */
	uint64_t	 total;		/* bytes in the line */
	uint64_t	 lineno;
};

static int	cmd_enqueue_exec(struct cmd_ctx *, const struct cmd_entry *,
		    int, char **);

const struct cmd_entry cmd_enqueue_entry = {
	"enqueue",
	"[-q QUEUE] [--in DURATION | --at TIME] [--key KEY] "
	    "[--max-attempts N] [--unique KEY [--unique-for DURATION]] "
	    "[--expire-in DURATION] [--max-payload SIZE] [--lines] [--json] "
	    "TYPE [PAYLOAD | -]",
	"put a job into a queue and print its id",
	"Put a job of type TYPE into a queue and print its id (QUEUE:N).\n"
	"PAYLOAD is the job's data, any bytes; \"-\" reads it from stdin;\n"
	"without it the payload is empty.\n"
	"\n"
	"Options:\n"
	"  -q, --queue QUEUE        the queue (default: default)\n"
	"  --in DURATION            run after DURATION (250ms, 30s, 5m, 2h,\n"
	"                           1d)\n"
	"  --at TIME                run at TIME: 2026-11-25T12:00:00Z (UTC,\n"
	"                           or with an offset such as +01:00) or\n"
	"                           @UNIXSECONDS\n"
	"  --key KEY                the job's {key} for lock and limiter\n"
	"                           templates\n"
	"  --max-attempts N         attempts before the job is dead (default:\n"
	"                           the job type's retry.max_attempts)\n"
	"  --unique KEY             if a job with this unique key exists,\n"
	"                           print its id instead of making a new one\n"
	"  --unique-for DURATION    keep the unique key this long (default:\n"
	"                           while the job exists)\n"
	"  --expire-in DURATION     never run the job if it has not started\n"
	"                           DURATION after now: it is kept as\n"
	"                           expired instead (as the type's\n"
	"                           expire: does)\n"
	"  --max-payload SIZE       payload limit, e.g. 1MiB (default: the\n"
	"                           config's max_payload, else 512KiB)\n"
	"  --lines                  every line of stdin is the payload of one\n"
	"                           job; print one id per line, in order\n"
	"  --json                   print {\"id\": ID, \"created\": BOOL}\n"
	"                           per job, one per line (with --lines,\n"
	"                           also \"line\": its line number);\n"
	"                           created is false when --unique named\n"
	"                           an existing job\n"
	"\n"
	"Examples:\n"
	"  redjob enqueue send_email '{\"to\":\"a@example.com\"}'\n"
	"  redjob enqueue -q mail --in 5m --key user:42 send_email - <m.json\n"
	"  redjob enqueue --at 2026-11-25T12:00:00Z report ''\n"
	"  redjob enqueue --unique nightly --unique-for 1d report\n"
	"  redjob enqueue --expire-in 10m send_sms '{\"code\":\"4711\"}'\n"
	"  cut -d, -f1 users.csv | redjob enqueue --lines -q mail welcome\n",
	cmd_enqueue_exec
};

/*
 * The queue of a job without -q when there is a configuration (-c): the
 * one it gives the type. Without one, libredjob routes it by the type
 * table that redjobd publishes (NS:types), else to "default".
 */
static void
cmd_enqueue_route(struct cmd_ctx *ctx, struct redjob_job *job)
{
	const struct job_conf *jc;

	if (ctx->cfg != NULL &&
	    (jc = config_find_job(ctx->cfg, job->type)) != NULL)
		job->queue = jc->queue;
}

/*
 * Say on stderr when no live worker serves the job's queue or knows its
 * type: the job is in, and waits until one does (a producer may well be
 * deployed before its workers).
 */
static void
cmd_enqueue_warn(struct cmd_ctx *ctx, const char *id, const char *type)
{
	char queue[REDJOB_ID_MAX];
	const char *argv[1] = { type };
	redisReply *r;

	if (schema_job_queue(id, queue, sizeof queue) != 0)
		return;
	if ((r = client_fcall(ctx->client, "redjob_served", 1, queue, 1, argv,
	    NULL)) == NULL)
		return;		/* an older library, or no right to ask */
	fflush(stdout);
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[0]->type == REDIS_REPLY_INTEGER &&
	    r->element[1]->type == REDIS_REPLY_INTEGER) {
		if (r->element[0]->integer == 0)
			fprintf(stderr, "redjob: warning: no live worker serves "
			    "queue %s; the job waits until one does\n", queue);
		else if (r->element[1]->integer == 0)
			fprintf(stderr, "redjob: warning: no live worker of "
			    "queue %s knows job type %s; the job waits until "
			    "one does\n", queue, type);
	}
	freeReplyObject(r);
}

/* Is s a valid job type: 1-128 of A-Z a-z 0-9 _ . : - ? */
static int
cmd_enqueue_check_type(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > ENQUEUE_MAX_TYPE)
		return -1;
	for (i = 0; i < n; i++) {
		if (!isalnum((unsigned char)s[i]) &&
		    strchr("_.:-", s[i]) == NULL)
			return -1;
	}
	return 0;
}

/* Read exactly n digits from *p into *v; advance *p. Returns 0 or -1. */
static int
cmd_enqueue_digits(const char **p, int n, int *v)
{
	int i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		*v = *v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	return 0;
}

/*
 * Parse --at: "@UNIXSECONDS", or ISO-8601 "YYYY-MM-DDTHH:MM:SS[.fff]" with
 * "Z" or an offset "+HH:MM"/"-HH:MM". A time without a zone is refused
 * rather than guessed. Returns 0 with *ms set, or -1.
 */
static int
cmd_enqueue_parse_at(const char *s, int64_t *ms)
{
	struct tm tm, check;
	const char *p = s;
	int year, mon, day, hour, min, sec, frac = 0, scale = 100, oh, om;
	int64_t offset = 0;
	time_t t;
	char *end, sign;
	long long v;

	if (*s == '@') {
		if (!isdigit((unsigned char)s[1]))
			return -1;
		errno = 0;
		v = strtoll(s + 1, &end, 10);
		if (errno != 0 || *end != '\0' || v > (1LL << 50) / 1000)
			return -1;
		*ms = v * 1000;
		return 0;
	}
	if (cmd_enqueue_digits(&p, 4, &year) != 0 || *p++ != '-' ||
	    cmd_enqueue_digits(&p, 2, &mon) != 0 || *p++ != '-' ||
	    cmd_enqueue_digits(&p, 2, &day) != 0 || (*p != 'T' && *p != 't'))
		return -1;
	p++;
	if (cmd_enqueue_digits(&p, 2, &hour) != 0 || *p++ != ':' ||
	    cmd_enqueue_digits(&p, 2, &min) != 0 || *p++ != ':' ||
	    cmd_enqueue_digits(&p, 2, &sec) != 0)
		return -1;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		for (; isdigit((unsigned char)*p); p++) {
			frac += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
		offset = 0;
	else if ((*p == '+' || *p == '-') && strlen(p) == 6) {
		sign = *p++;
		if (cmd_enqueue_digits(&p, 2, &oh) != 0 || *p++ != ':' ||
		    cmd_enqueue_digits(&p, 2, &om) != 0 || oh > 23 || om > 59)
			return -1;
		offset = ((int64_t)oh * 3600 + om * 60) * 1000;
		if (sign == '-')
			offset = -offset;
	} else
		return -1;

	memset(&tm, 0, sizeof tm);
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	if ((t = timegm(&tm)) == (time_t)-1 || gmtime_r(&t, &check) == NULL)
		return -1;
	/* timegm() normalises 2026-02-30; refuse it instead. */
	if (check.tm_year != year - 1900 || check.tm_mon != mon - 1 ||
	    check.tm_mday != day || check.tm_hour != hour ||
	    check.tm_min != min || check.tm_sec != sec)
		return -1;
	*ms = (int64_t)t * 1000 + frac - offset;
	return 0;
}

/*
 * Fill the reader's buffer. Returns 1 with data, 0 at end of input, -1 on
 * a read error (errno set).
 */
static int
cmd_enqueue_fill(struct enqueue_reader *r)
{
	ssize_t n;

	if (r->off < r->end)
		return 1;
	if (r->eof)
		return 0;
	for (;;) {
		n = read(r->fd, r->buf, sizeof r->buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		break;
	}
	r->off = 0;
	r->end = (size_t)n;
	if (n == 0) {
		r->eof = 1;
		return 0;
	}
	return 1;
}

/* Keep up to limit bytes of a line in l, counting every byte. */
static void
cmd_enqueue_keep(struct enqueue_line *l, const char *p, size_t n,
    size_t limit)
{
	size_t keep = 0;

	if (l->len < limit)
		keep = n < limit - l->len ? n : limit - l->len;
	if (keep > 0) {
		if (l->len + keep > l->cap) {
			l->cap = l->cap * 2 > l->len + keep ? l->cap * 2 :
			    l->len + keep;
			if (l->cap > limit)
				l->cap = limit;
			l->buf = xreallocarray(l->buf, l->cap, 1);
		}
		memcpy(l->buf + l->len, p, keep);
		l->len += keep;
	}
	l->total += n;
}

/*
 * Read the next line (without its '\n') into l, keeping at most limit + 1
 * bytes so that an oversized line is known to be one. With whole set, the
 * rest of the input is one "line". Returns 1, 0 at the end of the input, or
 * -1 on a read error.
 */
static int
cmd_enqueue_read(struct enqueue_reader *r, struct enqueue_line *l,
    size_t limit, int whole)
{
	const char *start, *nl;
	int got = 0, rc;

	l->len = 0;
	l->total = 0;
	for (;;) {
		if ((rc = cmd_enqueue_fill(r)) <= 0) {
			if (rc < 0)
				return -1;
			return got || whole ? 1 : 0;
		}
		got = 1;
		start = r->buf + r->off;
		nl = whole ? NULL : memchr(start, '\n', r->end - r->off);
		if (nl != NULL) {
			cmd_enqueue_keep(l, start, (size_t)(nl - start),
			    limit + 1);
			r->off += (size_t)(nl - start) + 1;
			return 1;
		}
		cmd_enqueue_keep(l, start, r->end - r->off, limit + 1);
		r->off = r->end;
	}
}

/* Enqueue one job and print its id. */
static int
cmd_enqueue_one(struct cmd_ctx *ctx, struct redjob_job *job, int from_stdin,
    const char *payload, size_t limit)
{
	struct enqueue_reader *r = NULL;
	struct enqueue_line l;
	struct redjob_client *c;
	char id[REDJOB_ID_MAX];
	int created, rc;

	memset(&l, 0, sizeof l);
	if (from_stdin) {
		r = xcalloc(1, sizeof *r);
		r->fd = STDIN_FILENO;
		rc = cmd_enqueue_read(r, &l, limit, 1);
		free(r);
		if (rc < 0) {
			rc = cmd_error("cannot read the payload from stdin: %s",
			    strerror(errno));
			goto out;
		}
		job->payload = l.buf;
		job->payload_len = l.len;
		if (l.total > limit) {
			rc = cmd_error("payload of %llu bytes is over the "
			    "limit of %zu bytes (see --max-payload)",
			    (unsigned long long)l.total, limit);
			goto out;
		}
	} else if (payload != NULL) {
		job->payload = payload;
		job->payload_len = strlen(payload);
	}
	if (job->payload_len > limit) {
		rc = cmd_error("payload of %zu bytes is over the limit of %zu "
		    "bytes (see --max-payload)", job->payload_len, limit);
		goto out;
	}
	if ((c = cmd_connect(ctx)) == NULL) {
		rc = CMD_ERROR;
		goto out;
	}
	if (redjob_enqueue_ext(c, job, &enqueue_ext, id, &created) != 0) {
		rc = cmd_client_error(ctx);
		goto out;
	}
	cmd_enqueue_print(id, created, 0);
	cmd_enqueue_warn(ctx, id, job->type);
	if (!created) {
		fflush(stdout);
		fprintf(stderr, "redjob: unique key \"%s\" names %s (existing "
		    "job)\n", job->unique, id);
	}
	rc = CMD_OK;
out:
	free(l.buf);
	return rc;
}

/*
 * Is an enqueue error about this job alone (its payload, its arguments),
 * so that the next lines may well go in? Anything else (Redis out of
 * memory, refusing access, holding a newer library, the connection)
 * would refuse every later line the same way.
 */
static int
cmd_enqueue_line_error(int err)
{
	return err == REDJOB_ERR_TOOBIG || err == REDJOB_ERR_INVALID;
}

/*
 * Send one batch of lines and print their ids in order. Oversized lines
 * are refused here, without being sent; a line Redis refuses is reported
 * with its number. An error that is not about one line is reported once,
 * with the lines it hit, and returns -1: the rest of the input must not
 * be sent. Returns 0 otherwise.
 */
static int
cmd_enqueue_batch(struct cmd_ctx *ctx, const struct redjob_job *tmpl,
    struct enqueue_line *lines, size_t n, size_t limit,
    struct redjob_job *jobs, struct redjob_result *res, int *failed)
{
	static const struct redjob_ext *exts[ENQUEUE_BATCH];
	uint64_t first = 0, last = 0, count = 0;
	const char *why = NULL;
	int unknown = 0;
	size_t i, m = 0;

	for (i = 0; i < n; i++) {
		if (lines[i].total > limit)
			continue;
		jobs[m] = *tmpl;
		jobs[m].payload = lines[i].buf;
		jobs[m].payload_len = lines[i].len;
		exts[m] = &enqueue_ext;
		m++;
	}
	if (m > 0)
		redjob_enqueue_many_ext(ctx->client, jobs, exts, m, res);
	fflush(stdout);
	for (i = 0, m = 0; i < n; i++) {
		if (lines[i].total > limit) {
			*failed = 1;
			fflush(stdout);
			fprintf(stderr, "redjob: line %llu: payload of %llu "
			    "bytes is over the limit of %zu bytes\n",
			    (unsigned long long)lines[i].lineno,
			    (unsigned long long)lines[i].total, limit);
			continue;
		}
		if (res[m].err == REDJOB_OK) {
			cmd_enqueue_print(res[m].id, res[m].created,
			    lines[i].lineno);
			snprintf(enqueue_last_id, sizeof enqueue_last_id, "%s",
			    res[m].id);
		}
		else if (why == NULL && cmd_enqueue_line_error(res[m].err)) {
			*failed = 1;
			fflush(stdout);
			fprintf(stderr, "redjob: line %llu: %s\n",
			    (unsigned long long)lines[i].lineno,
			    res[m].message);
		} else {
			/* Reported once below, as a range. */
			if (why == NULL)
				why = res[m].message[0] != '\0' ?
				    res[m].message : redjob_errstr(ctx->client);
			if (first == 0)
				first = lines[i].lineno;
			last = lines[i].lineno;
			count++;
			/* The reply was lost: Redis may hold the job. */
			unknown |= res[m].err == REDJOB_ERR_IO;
		}
		m++;
	}
	if (why == NULL)
		return 0;
	*failed = 1;
	fflush(stdout);
	if (first == last)
		fprintf(stderr, "redjob: line %llu %s: %s\n",
		    (unsigned long long)first, unknown ?
		    "may not have been enqueued, and no later line was" :
		    "was not enqueued, nor any later line", why);
	else
		fprintf(stderr, "redjob: lines %llu to %llu (%llu of them) %s: "
		    "%s\n", (unsigned long long)first, (unsigned long long)last,
		    (unsigned long long)count, unknown ?
		    "may not have been enqueued, and no later line was" :
		    "were not enqueued, nor any later line", why);
	return -1;
}

/*
 * --lines: one job per line of stdin, ENQUEUE_BATCH at a time. A refused
 * line is reported with its number and the others still go in.
 */
static int
cmd_enqueue_lines(struct cmd_ctx *ctx, const struct redjob_job *tmpl,
    size_t limit)
{
	struct enqueue_reader *r;
	struct enqueue_line *lines;
	struct redjob_job *jobs;
	struct redjob_result *res;
	uint64_t lineno = 0;
	size_t i, n, bytes;
	int rc = 0, failed = 0, stop = 0;

	if (cmd_connect(ctx) == NULL)
		return CMD_ERROR;
	r = xcalloc(1, sizeof *r);
	r->fd = STDIN_FILENO;
	lines = xcalloc(ENQUEUE_BATCH, sizeof *lines);
	jobs = xcalloc(ENQUEUE_BATCH, sizeof *jobs);
	res = xcalloc(ENQUEUE_BATCH, sizeof *res);
	while (!stop) {
		bytes = 0;
		for (n = 0; n < ENQUEUE_BATCH && bytes < ENQUEUE_BATCH_BYTES;
		    n++) {
			if ((rc = cmd_enqueue_read(r, &lines[n], limit,
			    0)) != 1)
				break;
			lines[n].lineno = ++lineno;
			bytes += lines[n].len;
		}
		if (rc < 0) {
			failed = 1;
			stop = 1;
			cmd_error("cannot read stdin after line %llu: %s",
			    (unsigned long long)lineno, strerror(errno));
		} else if (rc == 0)
			stop = 1;
		if (n > 0 && cmd_enqueue_batch(ctx, tmpl, lines, n, limit,
		    jobs, res, &failed) != 0)
			stop = 1;
		for (i = 0; i < n; i++) {
			if (lines[i].cap > ENQUEUE_KEEP_CAP) {
				free(lines[i].buf);
				lines[i].buf = NULL;
				lines[i].cap = 0;
			}
		}
	}
	for (i = 0; i < ENQUEUE_BATCH; i++)
		free(lines[i].buf);
	free(lines);
	free(jobs);
	free(res);
	free(r);
	if (!failed && enqueue_last_id[0] != '\0')
		cmd_enqueue_warn(ctx, enqueue_last_id, tmpl->type);
	return failed ? CMD_ERROR : CMD_OK;
}

/* Parse a duration option into *ms. Returns 0 or CMD_USAGE. */
static int
cmd_enqueue_duration(const struct cmd_entry *self, const char *opt,
    const char *s, int64_t *ms)
{
	uint64_t v;
	char *cause;

	if (duration_parse(s, &v, &cause) != 0) {
		cmd_usage(self, "%s: %s", opt, cause);
		free(cause);
		return CMD_USAGE;
	}
	*ms = (int64_t)v;
	return 0;
}

/* Parse the options and arguments of enqueue and run it. */
static int
cmd_enqueue_exec(struct cmd_ctx *ctx, const struct cmd_entry *self,
    int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "queue", required_argument, NULL, 'q' },
		{ "in", required_argument, NULL, OPT_IN },
		{ "at", required_argument, NULL, OPT_AT },
		{ "key", required_argument, NULL, OPT_KEY },
		{ "max-attempts", required_argument, NULL, OPT_MAX_ATTEMPTS },
		{ "unique", required_argument, NULL, OPT_UNIQUE },
		{ "unique-for", required_argument, NULL, OPT_UNIQUE_FOR },
		{ "max-payload", required_argument, NULL, OPT_MAX_PAYLOAD },
		{ "expire-in", required_argument, NULL, OPT_EXPIRE_IN },
		{ "lines", no_argument, NULL, OPT_LINES },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct redjob_job job;
	const char *payload = NULL;
	int ch, lines = 0, have_in = 0, have_at = 0, have_for = 0;
	unsigned long long v;
	uint64_t size;
	size_t limit;
	char *end, *cause;

	memset(&job, 0, sizeof job);
	while ((ch = getopt_long(argc, argv, ":q:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'q':
			if (cmd_check_queue(self, optarg) != 0)
				return CMD_USAGE;
			job.queue = optarg;
			break;
		case OPT_IN:
			if (cmd_enqueue_duration(self, "--in", optarg,
			    &job.delay_ms) != 0)
				return CMD_USAGE;
			have_in = 1;
			break;
		case OPT_AT:
			if (cmd_enqueue_parse_at(optarg, &job.at_ms) != 0)
				return cmd_usage(self, "--at: invalid time "
				    "\"%s\" (expected 2026-11-25T12:00:00Z or "
				    "@UNIXSECONDS)", optarg);
			have_at = 1;
			break;
		case OPT_KEY:
			if (strlen(optarg) > ENQUEUE_MAX_KEY)
				return cmd_usage(self, "--key is longer than "
				    "%d bytes", ENQUEUE_MAX_KEY);
			job.key = optarg;
			break;
		case OPT_MAX_ATTEMPTS:
			errno = 0;
			v = strtoull(optarg, &end, 10);
			if (!isdigit((unsigned char)*optarg) || *end != '\0' ||
			    errno != 0 || v < 1 || v > ENQUEUE_MAX_ATTEMPTS)
				return cmd_usage(self, "--max-attempts must be "
				    "a number from 1 to %d, not \"%s\"",
				    ENQUEUE_MAX_ATTEMPTS, optarg);
			job.max_attempts = (unsigned)v;
			break;
		case OPT_UNIQUE:
			if (*optarg == '\0' || strlen(optarg) > ENQUEUE_MAX_KEY)
				return cmd_usage(self, "--unique must be 1 to "
				    "%d bytes", ENQUEUE_MAX_KEY);
			job.unique = optarg;
			break;
		case OPT_UNIQUE_FOR:
			if (cmd_enqueue_duration(self, "--unique-for", optarg,
			    &job.unique_ttl_ms) != 0)
				return CMD_USAGE;
			if (job.unique_ttl_ms == 0)
				return cmd_usage(self, "--unique-for must be "
				    "longer than 0");
			have_for = 1;
			break;
		case OPT_MAX_PAYLOAD:
			if (size_parse(optarg, &size, &cause) != 0) {
				cmd_usage(self, "--max-payload: %s", cause);
				free(cause);
				return CMD_USAGE;
			}
			if (size > 512 * 1024 * 1024)
				return cmd_usage(self, "--max-payload: at most "
				    "512MiB, Redis's limit for one value");
			ctx->max_payload = size;
			break;
		case OPT_EXPIRE_IN:
			if (cmd_enqueue_duration(self, "--expire-in", optarg,
			    &enqueue_ext.expire_in_ms) != 0)
				return CMD_USAGE;
			if (enqueue_ext.expire_in_ms == 0)
				return cmd_usage(self, "--expire-in must be "
				    "longer than 0");
			break;
		case OPT_JSON:
			enqueue_json = 1;
			break;
		case OPT_LINES:
			lines = 1;
			break;
		case 'h':
			return cmd_help(self);
		default:
			return cmd_bad_option(self, ch, argv);
		}
	}
	argc -= optind;
	argv += optind;
	if (have_in && have_at)
		return cmd_usage(self, "--in and --at cannot be used together");
	if (have_for && job.unique == NULL)
		return cmd_usage(self, "--unique-for needs --unique");
	if (have_in && enqueue_ext.expire_in_ms > 0 &&
	    enqueue_ext.expire_in_ms <= job.delay_ms)
		return cmd_usage(self, "--expire-in must be longer than --in: "
		    "the job would expire before it is due");
	if (argc == 0)
		return cmd_usage(self, "missing the job type");
	if (argc > 2)
		return cmd_usage(self, "too many arguments (quote the payload, "
		    "or use - to read it from stdin)");
	if (cmd_enqueue_check_type(argv[0]) != 0)
		return cmd_usage(self, "invalid job type \"%s\" (1-%d of A-Z "
		    "a-z 0-9 _ . : -)", argv[0], ENQUEUE_MAX_TYPE);
	job.type = argv[0];
	if (lines && argc > 1)
		return cmd_usage(self, "--lines reads the payloads from stdin "
		    "and takes no PAYLOAD");
	if (lines && job.unique != NULL)
		return cmd_usage(self, "--unique cannot be used with --lines: "
		    "every line would name the same job");
	if (argc > 1)
		payload = argv[1];

	if (job.queue == NULL)
		cmd_enqueue_route(ctx, &job);
	limit = ctx->max_payload != 0 ? (size_t)ctx->max_payload :
	    REDJOB_MAX_PAYLOAD_DEFAULT;
	if (lines)
		return cmd_enqueue_lines(ctx, &job, limit);
	if (payload != NULL && strcmp(payload, "-") == 0)
		return cmd_enqueue_one(ctx, &job, 1, NULL, limit);
	return cmd_enqueue_one(ctx, &job, 0, payload, limit);
}
