/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * redjob ls: the jobs of one queue, state by state, from the read-only
 * function redjob_list: ready and scheduled jobs by due time, running
 * jobs by the end of their lease, dead jobs newest first. One job per
 * line in an aligned table, or a JSON array.
 */
#include "autoconf.h"

#include <errno.h>
#include <getopt.h>
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

#define LS_LIMIT_DEFAULT 100
#define LS_LIMIT_MAX 10000	/* redjob_list's bound */

static const char *const ls_states[] = {
	"ready", "scheduled", "running", "dead", "done",
};

/* What a finished job kept in state done may have come to. */
static const char *const ls_outcomes[] = {
	"done", "cancelled", "expired",
};

/* One line of the listing. */
struct ls_row {
	char		*id;
	const char	*state;
	long long	 score;
	char		*type;
	long long	 attempts;
	long long	 started;	/* running: its claim, or -1 */
	char		*worker;	/* running: HOST:PID, or its owner id */
};

static int	cmd_ls_exec(struct cmd_ctx *, const struct cmd_entry *, int,
		    char **);

const struct cmd_entry cmd_ls_entry = {
	"ls",
	"[--json] [--state ready|scheduled|running|dead|done] [--limit N] "
	"QUEUE",
	"list the jobs of a queue",
	"List the jobs of QUEUE, one per line: id, state, time, type and\n"
	"attempts spent. The time is when a ready or scheduled job is due,\n"
	"when a running job's lease ends, when a dead job died, or when a\n"
	"finished job that is kept (state done: a job type with result:,\n"
	"or a job cancelled or expired, shown as such) leaves Redis.\n"
	"Without --state every state is listed, up to N jobs of each.\n"
	"\n"
	"Options:\n"
	"  --state STATE            only jobs in STATE: ready, scheduled,\n"
	"                           running, dead or done\n"
	"  --limit N                at most N jobs of each state (default\n"
	"                           100, at most 10000)\n"
	"  --json                   print a JSON array of objects with id,\n"
	"                           queue, state, score (Unix ms), type and\n"
	"                           attempts\n"
	"\n"
	"Examples:\n"
	"  redjob ls mail\n"
	"  redjob ls mail --state dead --limit 10\n"
	"  redjob ls --json mail |\n"
	"      jq -r '.[] | select(.state == \"dead\") | .id'\n",
	cmd_ls_exec
};

/*
 * A running job's worker as HOST:PID from the worker registry, or its
 * owner id when the registry does not know it (allocated).
 */
static char *
cmd_ls_worker(struct cmd_ctx *ctx, const char *owner)
{
	struct registry_worker w;
	char *s;

	if (registry_get(ctx->client, owner, &w) != 1)
		return xstrdup(owner);
	xasprintf(&s, "%s:%lld", w.host, w.pid);
	registry_worker_clear(&w);
	return s;
}

/* Order rows by their time, the earliest first, as redjob_list does. */
static int
cmd_ls_cmp(const void *a, const void *b)
{
	const struct ls_row *x = a, *y = b;

	if (x->score != y->score)
		return x->score < y->score ? -1 : 1;
	return strcmp(x->id, y->id);
}

/* The latest first, as redjob_list lists the dead and done. */
static int
cmd_ls_cmp_latest(const void *a, const void *b)
{
	return cmd_ls_cmp(b, a);
}

/*
 * Fetch up to limit jobs of one state and append them to *rows. Returns
 * 0, or CMD_ERROR after printing why.
 */
static int
cmd_ls_fetch(struct cmd_ctx *ctx, const char *queue, const char *state,
    unsigned long limit, struct ls_row **rows, size_t *n)
{
	const char *argv[3];
	char count[32];
	redisReply *r, *e;
	struct ls_row *row;
	size_t i, j;

	snprintf(count, sizeof count, "%lu", limit);
	argv[0] = state;
	argv[1] = "0";
	argv[2] = count;
	if ((r = client_fcall(ctx->client, "redjob_list", 1, queue, 3, argv,
	    NULL)) == NULL)
		return cmd_client_error(ctx);
	if (r->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(r);
		return cmd_error("unexpected reply to redjob_list");
	}
	*rows = xreallocarray(*rows, *n + r->elements + 1, sizeof **rows);
	for (i = 0; i < r->elements; i++) {
		e = r->element[i];
		if (e->type != REDIS_REPLY_ARRAY || e->elements < 4 ||
		    e->element[0]->type != REDIS_REPLY_STRING ||
		    e->element[2]->type != REDIS_REPLY_STRING)
			continue;
		row = &(*rows)[(*n)++];
		row->id = xstrdup(e->element[0]->str);
		row->state = state;
		if (cmd_reply_int(e->element[1], &row->score) != 0)
			row->score = -1;
		row->type = xstrdup(e->element[2]->str);
		if (cmd_reply_int(e->element[3], &row->attempts) != 0)
			row->attempts = 0;
		row->started = -1;
		row->worker = NULL;
		/* A finished job also has {outcome, finished}. */
		if (strcmp(state, "done") == 0 && e->elements >= 6 &&
		    e->element[4]->type == REDIS_REPLY_STRING) {
			for (j = 0; j < nitems(ls_outcomes); j++) {
				if (strcmp(e->element[4]->str,
				    ls_outcomes[j]) == 0)
					row->state = ls_outcomes[j];
			}
			continue;
		}
		/* A running job also has {started, owner}. */
		if (e->elements >= 6 && e->element[5]->type ==
		    REDIS_REPLY_STRING && e->element[5]->len > 0) {
			if (cmd_reply_int(e->element[4], &row->started) != 0)
				row->started = -1;
			row->worker = cmd_ls_worker(ctx, e->element[5]->str);
		}
	}
	freeReplyObject(r);
	return 0;
}

static int
cmd_ls_digits(long long v)
{
	char buf[24];

	return snprintf(buf, sizeof buf, "%lld", v);
}

/* Print the rows as an aligned table. */
static void
cmd_ls_table(const struct ls_row *rows, size_t n)
{
	int wid = 2, wstate = 5, wtype = 4, w, running = 0;
	char when[64], started[64];
	size_t i;

	for (i = 0; i < n; i++) {
		if ((w = (int)strlen(rows[i].id)) > wid)
			wid = w;
		if ((w = (int)strlen(rows[i].state)) > wstate)
			wstate = w;
		if ((w = (int)strlen(rows[i].type)) > wtype)
			wtype = w;
	}
	for (i = 0; i < n; i++)
		running |= rows[i].worker != NULL;
	printf("%-*s  %-*s  %-24s  %-*s  %s%s\n", wid, "ID", wstate, "STATE",
	    "TIME", wtype, "TYPE", "ATTEMPTS", running ?
	    "  STARTED                   WORKER" : "");
	for (i = 0; i < n; i++) {
		if (rows[i].score < 0)
			snprintf(when, sizeof when, "-");
		else
			cmd_format_time(rows[i].score, when, sizeof when);
		printf("%-*s  %-*s  %-24s  %-*s  %lld", wid, rows[i].id,
		    wstate, rows[i].state, when, wtype, rows[i].type,
		    rows[i].attempts);
		if (rows[i].worker != NULL)
			printf("%*s  %-24s  %s", 8 - cmd_ls_digits(
			    rows[i].attempts), "", rows[i].started < 0 ? "-" :
			    cmd_format_time(rows[i].started, started,
			    sizeof started), rows[i].worker);
		putchar('\n');
	}
}

/* Print the rows as a JSON array. */
static int
cmd_ls_json(const char *queue, const struct ls_row *rows, size_t n)
{
	json_t *array, *obj;
	size_t i;

	array = json_array();
	for (i = 0; i < n; i++) {
		obj = json_object();
		json_object_set_new(obj, "id", json_string(rows[i].id));
		json_object_set_new(obj, "queue", json_string(queue));
		json_object_set_new(obj, "state", json_string(rows[i].state));
		json_object_set_new(obj, "score", rows[i].score < 0 ?
		    json_null() : json_integer(rows[i].score));
		json_object_set_new(obj, "type", cmd_json_text(rows[i].type,
		    strlen(rows[i].type)));
		json_object_set_new(obj, "attempts",
		    json_integer(rows[i].attempts));
		if (rows[i].worker != NULL) {
			json_object_set_new(obj, "started", rows[i].started < 0 ?
			    json_null() : json_integer(rows[i].started));
			json_object_set_new(obj, "worker",
			    json_string(rows[i].worker));
		}
		json_array_append_new(array, obj);
	}
	return cmd_json_print(array);
}

/* Parse the options and arguments of ls and run it. */
static int
cmd_ls_exec(struct cmd_ctx *ctx, const struct cmd_entry *self, int argc,
    char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "state", required_argument, NULL, 's' },
		{ "limit", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct ls_row *rows = NULL;
	const char *state = NULL, *queue;
	unsigned long limit = LS_LIMIT_DEFAULT;
	size_t n = 0, i, k, had, nreg = 0, nsh = 0;
	char *end, **reg = NULL, **shards = NULL;
	int ch, json = 0, rc = CMD_OK;

	while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json = 1;
			break;
		case 's':
			state = NULL;
			for (i = 0; i < nitems(ls_states); i++) {
				if (strcmp(optarg, ls_states[i]) == 0)
					state = ls_states[i];
			}
			if (state == NULL)
				return cmd_usage(self, "--state must be ready, "
				    "scheduled, running, dead or done, not "
				    "\"%s\"",
				    optarg);
			break;
		case 'l':
			errno = 0;
			limit = strtoul(optarg, &end, 10);
			if (*optarg < '0' || *optarg > '9' || *end != '\0' ||
			    errno != 0 || limit < 1 || limit > LS_LIMIT_MAX)
				return cmd_usage(self, "--limit must be a "
				    "number from 1 to %d, not \"%s\"",
				    LS_LIMIT_MAX, optarg);
			break;
		case 'h':
			return cmd_help(self);
		default:
			return cmd_bad_option(self, ch, argv);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1)
		return cmd_usage(self, argc == 0 ? "missing the queue" :
		    "ls takes one queue");
	queue = argv[0];
	if (cmd_check_queue(self, queue) != 0)
		return CMD_USAGE;
	if (cmd_connect(ctx) == NULL)
		return CMD_ERROR;
	/*
	 * A sharded queue: up to limit of each shard, then the first limit
	 * of them all by their time, as for one queue.
	 */
	if (client_queues(ctx->client, &reg, &nreg) != 0 ||
	    (nsh = cmd_queue_shards(ctx->client, ctx->cfg, queue, reg, nreg,
	    &shards)) == 0) {
		rc = cmd_client_error(ctx);
		goto out;
	}
	for (i = 0; i < nitems(ls_states); i++) {
		if (state != NULL && state != ls_states[i])
			continue;
		for (k = 0, had = n; k < nsh; k++) {
			if ((rc = cmd_ls_fetch(ctx, shards[k], ls_states[i],
			    limit, &rows, &n)) != 0)
				goto out;
		}
		if (nsh == 1)
			continue;
		qsort(rows + had, n - had, sizeof *rows,
		    strcmp(ls_states[i], "dead") == 0 ||
		    strcmp(ls_states[i], "done") == 0 ? cmd_ls_cmp_latest :
		    cmd_ls_cmp);
		while (n - had > limit) {
			n--;
			free(rows[n].id);
			free(rows[n].type);
			free(rows[n].worker);
		}
	}
	if (json)
		rc = cmd_ls_json(queue, rows, n);
	else
		cmd_ls_table(rows, n);
out:
	client_queues_free(reg, nreg);
	cmd_queue_shards_free(shards, nsh);
	for (i = 0; i < n; i++) {
		free(rows[i].id);
		free(rows[i].type);
		free(rows[i].worker);
	}
	free(rows);
	return rc;
}
