/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * redjob show: every field of one job, from the read-only function
 * redjob_show. Times are kept in Redis as Unix milliseconds; the human
 * form prints them as ISO-8601 UTC and the JSON form as integers. A
 * payload is bytes: it is printed as text only when it is UTF-8 without
 * control characters (other than newline and tab), so that showing a job
 * never writes raw binary or terminal escapes to a terminal; otherwise as
 * a hex dump, and in JSON as "payload_base64" by the same rule, so a
 * consumer that reads "payload" always gets printable text. A job's
 * result (a type with result:) is bytes too, shown by the same rule as
 * "result" or "result_base64".
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "redjob.h"
#include "client.h"
#include "cmd.h"
#include "registry.h"
#include "xmalloc.h"

/* How a field of the job hash is shown. */
enum show_kind {
	SHOW_TEXT,
	SHOW_TIME,		/* Unix ms */
	SHOW_INT,
	SHOW_PAYLOAD,
};

static const struct {
	const char	*field;
	enum show_kind	 kind;
} show_fields[] = {
	{ "score", SHOW_TIME },
	{ "created", SHOW_TIME },
	{ "due", SHOW_TIME },
	{ "claimed", SHOW_TIME },
	{ "started", SHOW_TIME },
	{ "failed", SHOW_TIME },
	{ "died", SHOW_TIME },
	{ "expires", SHOW_TIME },
	{ "finished", SHOW_TIME },
	{ "attempts", SHOW_INT },
	{ "result_size", SHOW_INT },
	{ "result_truncated", SHOW_INT },
	{ "max_attempts", SHOW_INT },
	{ "stalls", SHOW_INT },
	{ "payload", SHOW_PAYLOAD },
	{ "result", SHOW_PAYLOAD },
};

static int	cmd_show_exec(struct cmd_ctx *, const struct cmd_entry *, int,
		    char **);

const struct cmd_entry cmd_show_entry = {
	"show",
	"[--json] ID",
	"show every field of a job",
	"Show every field of the job ID (QUEUE:N, as printed by enqueue):\n"
	"its state, type, payload, attempts, times and last error. Times are\n"
	"ISO-8601 UTC; \"score\" is the due time of a ready or scheduled job,\n"
	"the end of a running job's lease, or a dead job's time of death. A\n"
	"payload that is not printable UTF-8 text is shown as hex; so is a\n"
	"result (a job type with result:, once the job is done).\n"
	"\n"
	"Options:\n"
	"  --json                   print one JSON object; times are integer\n"
	"                           Unix milliseconds, the payload is\n"
	"                           \"payload\" (printable UTF-8 text) or\n"
	"                           \"payload_base64\" (anything else), the\n"
	"                           result \"result\" or \"result_base64\"\n"
	"\n"
	"Examples:\n"
	"  redjob show mail:42\n"
	"  redjob show --json mail:42 | jq -r .last_error\n",
	cmd_show_exec
};

/* How field is shown. */
static enum show_kind
cmd_show_kind(const char *field)
{
	size_t i;

	for (i = 0; i < nitems(show_fields); i++) {
		if (strcmp(show_fields[i].field, field) == 0)
			return show_fields[i].kind;
	}
	return SHOW_TEXT;
}

/* Print s on one line, with control characters and bad UTF-8 escaped. */
static void
cmd_show_escaped(const char *s, size_t len)
{
	size_t i;
	unsigned char ch;

	if (cmd_utf8_valid(s, len)) {
		for (i = 0; i < len; i++) {
			ch = (unsigned char)s[i];
			if (ch == '\n')
				fputs("\\n", stdout);
			else if (ch == '\t')
				fputs("\\t", stdout);
			else if (ch == '\\')
				fputs("\\\\", stdout);
			else if (ch < 0x20 || ch == 0x7f)
				printf("\\x%02x", ch);
			else
				putchar(ch);
		}
		return;
	}
	for (i = 0; i < len; i++) {
		ch = (unsigned char)s[i];
		if (ch == '\\')
			fputs("\\\\", stdout);
		else if (ch < 0x20 || ch >= 0x7f)
			printf("\\x%02x", ch);
		else
			putchar(ch);
	}
}

/* Print a binary payload as a hex dump: offset, 16 bytes, ASCII. */
static void
cmd_show_hexdump(const unsigned char *p, size_t len)
{
	size_t i, j;

	for (i = 0; i < len; i += 16) {
		printf("  %08zx ", i);
		for (j = i; j < i + 16; j++) {
			if (j == i + 8)
				putchar(' ');
			if (j < len)
				printf(" %02x", p[j]);
			else
				fputs("   ", stdout);
		}
		fputs("  |", stdout);
		for (j = i; j < i + 16 && j < len; j++)
			putchar(p[j] >= 0x20 && p[j] < 0x7f ? p[j] : '.');
		fputs("|\n", stdout);
	}
}

/* What the score of a job in state means. */
static const char *
cmd_show_score_label(const char *state)
{
	if (strcmp(state, "running") == 0)
		return "lease ends";
	if (strcmp(state, "dead") == 0)
		return "died";
	if (strcmp(state, "orphan") == 0)
		return "in no set";
	if (strcmp(state, "done") == 0 || strcmp(state, "cancelled") == 0 ||
	    strcmp(state, "expired") == 0)
		return "kept until";
	return "due";
}

/*
 * Where a running job runs, from the worker registry: "HOST pid PID
 * (worker N of supervisor PPID)", or NULL (allocated).
 */
static char *
cmd_show_worker_host(struct cmd_ctx *ctx, const redisReply *r)
{
	struct registry_worker w;
	char *s = NULL;
	size_t i;

	for (i = 0; i + 1 < r->elements; i += 2) {
		if (strcmp(r->element[i]->str, "worker") != 0)
			continue;
		if (registry_get(ctx->client, r->element[i + 1]->str, &w) == 1) {
			xasprintf(&s, "%s pid %lld (worker %lld of supervisor "
			    "%lld)", w.host, w.pid, w.slot, w.ppid);
			registry_worker_clear(&w);
		}
	}
	return s;
}

/*
 * Print a payload or a result: text as it is, anything else as a hex
 * dump. For a result cut at its type's result.max, size is all the
 * handler gave (else 0).
 */
static void
cmd_show_blob(const char *name, const redisReply *v, long long size)
{
	char cut[96] = "";

	if (size > (long long)v->len)
		snprintf(cut, sizeof cut, "; truncated: the handler gave %lld",
		    size);
	if (v->len == 0)
		printf("%-14s (empty%s)\n", name, cut);
	else if (cmd_is_text(v->str, v->len)) {
		printf("%-14s (%zu bytes, text%s)\n", name, v->len, cut);
		fwrite(v->str, 1, v->len, stdout);
		if (v->str[v->len - 1] != '\n')
			putchar('\n');
	} else {
		printf("%-14s (%zu bytes, not printable text; shown as hex, "
		    "--json gives base64%s)\n", name, v->len, cut);
		cmd_show_hexdump((const unsigned char *)v->str, v->len);
	}
}

/* Print the job in the human form. */
static void
cmd_show_human(const redisReply *r, const char *host)
{
	const redisReply *k, *v, *payload = NULL, *result = NULL;
	const char *state = "";
	long long n, size = 0;
	char buf[64];
	size_t i;

	for (i = 0; i + 1 < r->elements; i += 2) {
		if (strcmp(r->element[i]->str, "state") == 0)
			state = r->element[i + 1]->str;
		if (strcmp(r->element[i]->str, "result_size") == 0)
			cmd_reply_int(r->element[i + 1], &size);
	}
	for (i = 0; i + 1 < r->elements; i += 2) {
		k = r->element[i];
		v = r->element[i + 1];
		switch (cmd_show_kind(k->str)) {
		case SHOW_PAYLOAD:
			if (strcmp(k->str, "result") == 0)
				result = v;
			else
				payload = v;
			continue;
		case SHOW_TIME:
			if (cmd_reply_int(v, &n) != 0)
				break;
			printf("%-14s %s", k->str, n < 0 ? "-" :
			    cmd_format_time(n, buf, sizeof buf));
			if (strcmp(k->str, "score") == 0)
				printf(" (%s)", cmd_show_score_label(state));
			putchar('\n');
			continue;
		case SHOW_INT:
		case SHOW_TEXT:
			break;
		}
		printf("%-14s ", k->str);
		cmd_show_escaped(v->str, v->len);
		if (strcmp(k->str, "worker") == 0)
			printf(" (%s)", host != NULL ? host :
			    "not in the worker registry: not alive");
		putchar('\n');
	}
	if (payload != NULL)
		cmd_show_blob("payload", payload, 0);
	if (result != NULL)
		cmd_show_blob("result", result, size);
}

/* Print the job as one JSON object. */
static int
cmd_show_json(const redisReply *r, const char *host)
{
	const redisReply *k, *v;
	json_t *obj;
	long long n;
	size_t i;

	obj = json_object();
	for (i = 0; i + 1 < r->elements; i += 2) {
		k = r->element[i];
		v = r->element[i + 1];
		switch (cmd_show_kind(k->str)) {
		case SHOW_PAYLOAD:
			cmd_json_bytes(obj, k->str, v->str, v->len);
			continue;
		case SHOW_TIME:
			if (cmd_reply_int(v, &n) != 0)
				break;
			/* A job in no set (a torn write) has no score. */
			json_object_set_new(obj, k->str, n < 0 ? json_null() :
			    json_integer(n));
			continue;
		case SHOW_INT:
			if (cmd_reply_int(v, &n) != 0)
				break;
			json_object_set_new(obj, k->str, json_integer(n));
			continue;
		case SHOW_TEXT:
			break;
		}
		json_object_set_new(obj, k->str, cmd_json_text(v->str, v->len));
	}
	if (host != NULL)
		json_object_set_new(obj, "worker_host", json_string(host));
	return cmd_json_print(obj);
}

/* Parse the options and arguments of show and run it. */
static int
cmd_show_exec(struct cmd_ctx *ctx, const struct cmd_entry *self, int argc,
    char **argv)
{
	const char *id;
	redisReply *r;
	char *host;
	int json, rc;

	if ((rc = cmd_job_pairs(ctx, self, argc, argv, "redjob_show", &json,
	    &id, &r)) >= 0)
		return rc;
	host = cmd_show_worker_host(ctx, r);
	if (json)
		rc = cmd_show_json(r, host);
	else {
		cmd_show_human(r, host);
		rc = CMD_OK;
	}
	free(host);
	freeReplyObject(r);
	return rc;
}
