/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * redjob stats: the counts of every queue, as an aligned table or as the
 * JSON document of redjob(1), {"queues": {"NAME": {"ready": n, ...}}}.
 * The queues are the ones registered in NAMESPACE:queues (every enqueue
 * adds its queue), those of the configuration file, and those named with
 * -q, so an idle configured queue still shows up with zeros. redjob_stats
 * is a no-writes function called with FCALL_RO: it answers even when
 * Redis is over maxmemory.
 */
#include "autoconf.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "redjob.h"
#include "client.h"
#include "cmd.h"
#include "schema.h"
#include "xmalloc.h"

/* The table's columns: the counter each shows, and its heading. */
static const struct {
	const char	*field;
	const char	*heading;
} stats_columns[] = {
	{ "ready", "READY" },
	{ "scheduled", "SCHEDULED" },
	{ "running", "RUNNING" },
	{ "dead", "DEAD" },
	{ "processed", "PROCESSED" },
	{ "failed", "FAILED" },
	{ "retried", "RETRIED" },
	{ "throttled", "THROTTLED" },
	{ "conflicts", "CONFLICTS" },
	{ "workers", "WORKERS" },
};

/* One queue's counters, in the order redjob_stats gave them. */
struct stats_queue {
	char		 *name;
	size_t		  n;
	char		**fields;
	long long	 *values;
};

static int	cmd_stats_exec(struct cmd_ctx *, const struct cmd_entry *,
		    int, char **);

const struct cmd_entry cmd_stats_entry = {
	"stats",
	"[--json] [-q QUEUE]...",
	"show the counts of every queue",
	"Show the counts of every queue: jobs ready, scheduled (due later),\n"
	"running and dead, the counters processed, failed, retried,\n"
	"throttled and conflicts, and the live workers that serve it; a\n"
	"queue with jobs waiting and no live worker gets a note. A paused\n"
	"queue is marked \"paused\". The queues are those that have ever\n"
	"had a job enqueued by redjob, those of the configuration file (-c)\n"
	"and those given with -q.\n"
	"\n"
	"Options:\n"
	"  --json                   print {\"queues\": {\"NAME\":\n"
	"                           {\"ready\": n, ...}}} with integer\n"
	"                           counts (also enqueued, stalled,\n"
	"                           requeued, discarded, malformed,\n"
	"                           lock_lost, workers) and \"paused\"\n"
	"                           as a boolean\n"
	"  -q, --queue QUEUE        include this queue too (repeatable)\n"
	"\n"
	"Examples:\n"
	"  redjob stats\n"
	"  redjob stats --json | jq '.queues.mail.dead'\n",
	cmd_stats_exec
};

/* Add name to the list unless it is there already. */
static void
cmd_stats_add(char ***names, size_t *n, const char *name)
{
	size_t i;

	for (i = 0; i < *n; i++) {
		if (strcmp((*names)[i], name) == 0)
			return;
	}
	*names = xreallocarray(*names, *n + 1, sizeof **names);
	(*names)[(*n)++] = xstrdup(name);
}

/* Order queue names for qsort(). */
static int
cmd_stats_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Free the counters of n queues. */
static void
cmd_stats_free(struct stats_queue *q, size_t n)
{
	size_t i, j;

	if (q == NULL)
		return;
	for (i = 0; i < n; i++) {
		for (j = 0; j < q[i].n; j++)
			free(q[i].fields[j]);
		free(q[i].fields);
		free(q[i].values);
	}
	free(q);
}

/* The value of one counter of a queue (0 if Redis did not send it). */
static long long
cmd_stats_get(const struct stats_queue *q, const char *field)
{
	size_t i;

	for (i = 0; i < q->n; i++) {
		if (strcmp(q->fields[i], field) == 0)
			return q->values[i];
	}
	return 0;
}

/*
 * Ask Redis for the counters of one queue. Returns 0, or CMD_ERROR after
 * printing why.
 */
static int
cmd_stats_fetch(struct cmd_ctx *ctx, struct stats_queue *q)
{
	redisReply *r, *k, *v;
	long long value;
	size_t i;

	if ((r = client_fcall(ctx->client, "redjob_stats", 1, q->name, 0, NULL,
	    NULL)) == NULL)
		return cmd_client_error(ctx);
	if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0) {
		freeReplyObject(r);
		return cmd_error("unexpected reply to redjob_stats for queue "
		    "%s", q->name);
	}
	q->fields = xcalloc(r->elements / 2, sizeof *q->fields);
	q->values = xcalloc(r->elements / 2, sizeof *q->values);
	for (i = 0; i + 1 < r->elements; i += 2) {
		k = r->element[i];
		v = r->element[i + 1];
		if (k->type != REDIS_REPLY_STRING ||
		    cmd_reply_int(v, &value) != 0)
			continue;
		q->fields[q->n] = xstrdup(k->str);
		q->values[q->n] = value;
		q->n++;
	}
	freeReplyObject(r);
	return 0;
}

/* Print the queues as JSON. */
static int
cmd_stats_json(const struct stats_queue *qs, size_t n)
{
	json_t *root, *queues, *obj;
	size_t i, j;

	root = json_object();
	queues = json_object();
	json_object_set_new(root, "queues", queues);
	for (i = 0; i < n; i++) {
		obj = json_object();
		/* The documented fields first, whatever Redis sent. */
		for (j = 0; j < nitems(stats_columns); j++)
			json_object_set_new(obj, stats_columns[j].field,
			    json_integer(cmd_stats_get(&qs[i],
			    stats_columns[j].field)));
		for (j = 0; j < qs[i].n; j++) {
			if (strcmp(qs[i].fields[j], "paused") == 0)
				json_object_set_new(obj, "paused",
				    json_boolean(qs[i].values[j] != 0));
			else
				json_object_set_new(obj, qs[i].fields[j],
				    json_integer(qs[i].values[j]));
		}
		if (json_object_get(obj, "paused") == NULL)
			json_object_set_new(obj, "paused", json_false());
		json_object_set_new(queues, qs[i].name, obj);
	}
	return cmd_json_print(root);
}

/* Print the queues as an aligned table. */
static void
cmd_stats_table(const struct stats_queue *qs, size_t n)
{
	int width[nitems(stats_columns)], qwidth = 5, w;
	char num[32];
	size_t i, j;

	for (j = 0; j < nitems(stats_columns); j++)
		width[j] = (int)strlen(stats_columns[j].heading);
	for (i = 0; i < n; i++) {
		if ((w = (int)strlen(qs[i].name)) > qwidth)
			qwidth = w;
		for (j = 0; j < nitems(stats_columns); j++) {
			w = snprintf(num, sizeof num, "%lld",
			    cmd_stats_get(&qs[i], stats_columns[j].field));
			if (w > width[j])
				width[j] = w;
		}
	}
	printf("%-*s", qwidth, "QUEUE");
	for (j = 0; j < nitems(stats_columns); j++)
		printf("  %*s", width[j], stats_columns[j].heading);
	printf("\n");
	for (i = 0; i < n; i++) {
		printf("%-*s", qwidth, qs[i].name);
		for (j = 0; j < nitems(stats_columns); j++)
			printf("  %*lld", width[j],
			    cmd_stats_get(&qs[i], stats_columns[j].field));
		if (cmd_stats_get(&qs[i], "paused") != 0)
			printf("  paused");
		printf("\n");
	}
	/* Jobs that nobody will run unless someone starts a worker. */
	for (i = 0; i < n; i++) {
		if (cmd_stats_get(&qs[i], "workers") == 0 &&
		    cmd_stats_get(&qs[i], "ready") +
		    cmd_stats_get(&qs[i], "scheduled") > 0)
			printf("note: no live worker serves queue %s: its jobs "
			    "wait until a redjobd serving it runs\n",
			    qs[i].name);
	}
}

/* Parse the options of stats, gather the queues and print them. */
static int
cmd_stats_exec(struct cmd_ctx *ctx, const struct cmd_entry *self, int argc,
    char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "queue", required_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct stats_queue *qs = NULL;
	char **names = NULL, **reg = NULL, **extra = NULL;
	size_t n = 0, nreg = 0, nextra = 0, i;
	int ch, json = 0, rc = CMD_OK;
	char err[256];

	while ((ch = getopt_long(argc, argv, ":q:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json = 1;
			break;
		case 'q':
			if (cmd_check_queue(self, optarg) != 0) {
				rc = CMD_USAGE;
				goto out;
			}
			cmd_stats_add(&extra, &nextra, optarg);
			break;
		case 'h':
			rc = cmd_help(self);
			goto out;
		default:
			rc = cmd_bad_option(self, ch, argv);
			goto out;
		}
	}
	if (optind != argc) {
		rc = cmd_usage(self, "unexpected argument \"%s\"",
		    argv[optind]);
		goto out;
	}
	if (cmd_connect(ctx) == NULL) {
		rc = CMD_ERROR;
		goto out;
	}
	if (client_queues(ctx->client, &reg, &nreg) != 0) {
		rc = cmd_client_error(ctx);
		goto out;
	}
	/* A stray member of the registry must not hide the other queues. */
	for (i = 0; i < nreg; i++) {
		if (schema_check_queue(reg[i], err, sizeof err) == 0)
			cmd_stats_add(&names, &n, reg[i]);
	}
	for (i = 0; i < ctx->ncfg_queues; i++)
		cmd_stats_add(&names, &n, ctx->cfg_queues[i]);
	for (i = 0; i < nextra; i++)
		cmd_stats_add(&names, &n, extra[i]);
	if (n > 1)
		qsort(names, n, sizeof *names, cmd_stats_cmp);

	qs = xcalloc(n, sizeof *qs);
	for (i = 0; i < n; i++) {
		qs[i].name = names[i];
		if ((rc = cmd_stats_fetch(ctx, &qs[i])) != 0)
			goto out;
	}
	if (json)
		rc = cmd_stats_json(qs, n);
	else
		cmd_stats_table(qs, n);
out:
	cmd_stats_free(qs, n);
	client_queues_free(reg, nreg);
	for (i = 0; i < nextra; i++)
		free(extra[i]);
	free(extra);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}
