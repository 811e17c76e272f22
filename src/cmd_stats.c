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

/*
 * One queue's counters, in the order redjob_stats gave them; for a
 * sharded queue, the sums of its shards' (paused: only if every shard
 * is; workers: the most of any shard), and each shard's own.
 */
struct stats_queue {
	char		 *name;
	size_t		  n;
	char		**fields;
	long long	 *values;
	struct stats_queue *shard;
	size_t		  nshard;
};

static int	cmd_stats_exec(struct cmd_ctx *, const struct cmd_entry *,
		    int, char **);

const struct cmd_entry cmd_stats_entry = {
	"stats",
	"[--json] [--shards] [-q QUEUE]...",
	"show the counts of every queue",
	"Show the counts of every queue: jobs ready, scheduled (due later),\n"
	"running and dead, the counters processed, failed, retried,\n"
	"throttled and conflicts, and the live workers that serve it; a\n"
	"queue with jobs waiting and no live worker gets a note. A paused\n"
	"queue is marked \"paused\". The queues are those that have ever\n"
	"had a job enqueued by redjob, those of the configuration file (-c)\n"
	"and those given with -q. A sharded queue is one row, the sums of\n"
	"its shards; --shards adds a row for each shard.\n"
	"\n"
	"Options:\n"
	"  --json                   print {\"queues\": {\"NAME\":\n"
	"                           {\"ready\": n, ...}}} with integer\n"
	"                           counts (also enqueued, stalled,\n"
	"                           requeued, discarded, malformed,\n"
	"                           lock_lost, workers) and \"paused\"\n"
	"                           as a boolean; a sharded queue also\n"
	"                           has \"shards\": N\n"
	"  --shards                 also show each shard of a sharded\n"
	"                           queue (in JSON, \"shard\": {\"NAME~K\":\n"
	"                           {...}} in the queue's object)\n"
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
		if (q[i].shard != NULL) {
			for (j = 0; j < q[i].nshard; j++)
				free(q[i].shard[j].name);
			cmd_stats_free(q[i].shard, q[i].nshard);
		}
	}
	free(q);
}

/* Add a shard's counters to its queue's. */
static void
cmd_stats_sum(struct stats_queue *q, const struct stats_queue *sh)
{
	size_t i, j;

	for (i = 0; i < sh->n; i++) {
		for (j = 0; j < q->n; j++) {
			if (strcmp(q->fields[j], sh->fields[i]) == 0)
				break;
		}
		if (j == q->n) {
			q->fields = xreallocarray(q->fields, q->n + 1,
			    sizeof *q->fields);
			q->values = xreallocarray(q->values, q->n + 1,
			    sizeof *q->values);
			q->fields[q->n] = xstrdup(sh->fields[i]);
			q->values[q->n++] = sh->values[i];
		} else if (strcmp(q->fields[j], "paused") == 0) {
			if (sh->values[i] < q->values[j])
				q->values[j] = sh->values[i];
		} else if (strcmp(q->fields[j], "workers") == 0) {
			if (sh->values[i] > q->values[j])
				q->values[j] = sh->values[i];
		} else
			q->values[j] += sh->values[i];
	}
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

static int	cmd_stats_fetch_one(struct cmd_ctx *, struct stats_queue *);

/*
 * Ask Redis for the counters of one queue, of each of its shards if it
 * is sharded (reg: the queue registry). Returns 0, or CMD_ERROR after
 * printing why.
 */
static int
cmd_stats_fetch(struct cmd_ctx *ctx, struct stats_queue *q, char *const *reg,
    size_t nreg)
{
	char **names;
	size_t n, i;
	int rc = 0;

	if ((n = cmd_queue_shards(ctx->client, ctx->cfg, q->name, reg, nreg,
	    &names)) == 0)
		return cmd_client_error(ctx);
	if (n == 1) {
		cmd_queue_shards_free(names, n);
		return cmd_stats_fetch_one(ctx, q);
	}
	q->shard = xcalloc(n, sizeof *q->shard);
	for (i = 0; i < n && rc == 0; i++) {
		q->shard[i].name = names[i];
		names[i] = NULL;
		q->nshard++;
		if ((rc = cmd_stats_fetch_one(ctx, &q->shard[i])) == 0)
			cmd_stats_sum(q, &q->shard[i]);
	}
	cmd_queue_shards_free(names, n);
	return rc;
}

/* The counters of one queue or shard, from redjob_stats. */
static int
cmd_stats_fetch_one(struct cmd_ctx *ctx, struct stats_queue *q)
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

/* One queue's (or shard's) counters as a JSON object. */
static json_t *
cmd_stats_object(const struct stats_queue *q, int shards)
{
	json_t *obj, *sh;
	size_t j;

	obj = json_object();
	/* The documented fields first, whatever Redis sent. */
	for (j = 0; j < nitems(stats_columns); j++)
		json_object_set_new(obj, stats_columns[j].field,
		    json_integer(cmd_stats_get(q, stats_columns[j].field)));
	for (j = 0; j < q->n; j++) {
		if (strcmp(q->fields[j], "paused") == 0)
			json_object_set_new(obj, "paused",
			    json_boolean(q->values[j] != 0));
		else
			json_object_set_new(obj, q->fields[j],
			    json_integer(q->values[j]));
	}
	if (json_object_get(obj, "paused") == NULL)
		json_object_set_new(obj, "paused", json_false());
	if (q->nshard > 0)
		json_object_set_new(obj, "shards",
		    json_integer((json_int_t)q->nshard));
	if (q->nshard > 0 && shards) {
		sh = json_object();
		for (j = 0; j < q->nshard; j++)
			json_object_set_new(sh, q->shard[j].name,
			    cmd_stats_object(&q->shard[j], 0));
		json_object_set_new(obj, "shard", sh);
	}
	return obj;
}

/* Print the queues as JSON. */
static int
cmd_stats_json(const struct stats_queue *qs, size_t n, int shards)
{
	json_t *root, *queues;
	size_t i;

	root = json_object();
	queues = json_object();
	json_object_set_new(root, "queues", queues);
	for (i = 0; i < n; i++)
		json_object_set_new(queues, qs[i].name,
		    cmd_stats_object(&qs[i], shards));
	return cmd_json_print(root);
}

/*
 * The rows of the table: each queue, and after a sharded one its shards
 * when they are asked for. Returns how many; rows (NULL: count only).
 */
static size_t
cmd_stats_rows(const struct stats_queue *qs, size_t n, int shards,
    const struct stats_queue **rows)
{
	size_t i, j, m = 0;

	for (i = 0; i < n; i++) {
		if (rows != NULL)
			rows[m] = &qs[i];
		m++;
		for (j = 0; shards && j < qs[i].nshard; j++) {
			if (rows != NULL)
				rows[m] = &qs[i].shard[j];
			m++;
		}
	}
	return m;
}

/* Is rows[i] a shard of the sharded queue last seen before it? */
static int
cmd_stats_shard_of(const struct stats_queue *row,
    const struct stats_queue **rows, size_t i)
{
	const struct stats_queue *q;

	while (i-- > 0) {
		if ((q = rows[i])->nshard > 0)
			return row >= q->shard && row < q->shard + q->nshard;
	}
	return 0;
}

/* Print the queues as an aligned table. */
static void
cmd_stats_table(const struct stats_queue *qs, size_t n, int shards)
{
	int width[nitems(stats_columns)], qwidth = 5, w;
	const struct stats_queue **rows;
	char num[32];
	size_t i, j, m;
	int shard = 0;

	m = cmd_stats_rows(qs, n, shards, NULL);
	rows = xcalloc(m + 1, sizeof *rows);
	cmd_stats_rows(qs, n, shards, rows);
	for (j = 0; j < nitems(stats_columns); j++)
		width[j] = (int)strlen(stats_columns[j].heading);
	for (i = 0; i < m; i++) {
		if ((w = (int)strlen(rows[i]->name) + 2 * shards) > qwidth)
			qwidth = w;
		for (j = 0; j < nitems(stats_columns); j++) {
			w = snprintf(num, sizeof num, "%lld",
			    cmd_stats_get(rows[i], stats_columns[j].field));
			if (w > width[j])
				width[j] = w;
		}
	}
	printf("%-*s", qwidth, "QUEUE");
	for (j = 0; j < nitems(stats_columns); j++)
		printf("  %*s", width[j], stats_columns[j].heading);
	printf("\n");
	for (i = 0; i < m; i++) {
		/* A shard under its queue, indented. */
		shard = cmd_stats_shard_of(rows[i], rows, i);
		printf("%s%-*s", shard ? "  " : "", qwidth - 2 * shard,
		    rows[i]->name);
		for (j = 0; j < nitems(stats_columns); j++)
			printf("  %*lld", width[j],
			    cmd_stats_get(rows[i], stats_columns[j].field));
		if (cmd_stats_get(rows[i], "paused") != 0)
			printf("  paused");
		if (rows[i]->nshard > 0)
			printf("  %zu shards", rows[i]->nshard);
		printf("\n");
	}
	free(rows);
	/*
	 * Jobs that nobody will run unless someone starts a worker: of a
	 * queue, or of one shard (one left behind when a queue's shards were
	 * lowered).
	 */
	m = cmd_stats_rows(qs, n, 1, NULL);
	rows = xcalloc(m + 1, sizeof *rows);
	cmd_stats_rows(qs, n, 1, rows);
	for (i = 0; i < m; i++) {
		if (rows[i]->nshard == 0 &&
		    cmd_stats_get(rows[i], "workers") == 0 &&
		    cmd_stats_get(rows[i], "ready") +
		    cmd_stats_get(rows[i], "scheduled") > 0)
			printf("note: no live worker serves %s %s: its jobs "
			    "wait until a redjobd serving it runs\n",
			    strchr(rows[i]->name, '~') != NULL ? "shard" :
			    "queue", rows[i]->name);
	}
	free(rows);
}

/* Parse the options of stats, gather the queues and print them. */
static int
cmd_stats_exec(struct cmd_ctx *ctx, const struct cmd_entry *self, int argc,
    char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "shards", no_argument, NULL, 's' },
		{ "queue", required_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct stats_queue *qs = NULL;
	char **names = NULL, **reg = NULL, **extra = NULL;
	size_t n = 0, nreg = 0, nextra = 0, i;
	int ch, json = 0, shards = 0, rc = CMD_OK;
	char base[SCHEMA_QUEUE_MAX + 1];

	while ((ch = getopt_long(argc, argv, ":q:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json = 1;
			break;
		case 's':
			shards = 1;
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
	/*
	 * A stray member of the registry must not hide the other queues. A
	 * shard that a producer registered stands for its queue.
	 */
	for (i = 0; i < nreg; i++) {
		if (schema_shard_split(reg[i], base, sizeof base, NULL) == 0)
			cmd_stats_add(&names, &n, base);
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
		if ((rc = cmd_stats_fetch(ctx, &qs[i], reg, nreg)) != 0)
			goto out;
	}
	if (json)
		rc = cmd_stats_json(qs, n, shards);
	else
		cmd_stats_table(qs, n, shards);
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
