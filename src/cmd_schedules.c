/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * redjob schedules: the periodic jobs, with their last and next ticks.
 * Without -c, from what the schedulers publish in each queue's B:sched
 * (redjob_schedules, docs/protocol.md "periodic jobs"), so it needs
 * nothing but Redis; with -c FILE, the schedules of the file, their
 * next tick computed here, and their last from Redis.
 */
#include "autoconf.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "redjob.h"
#include "client.h"
#include "cmd.h"
#include "config.h"
#include "cron.h"
#include "xmalloc.h"

static int	cmd_schedules_exec(struct cmd_ctx *, const struct cmd_entry *,
		    int, char **);

const struct cmd_entry cmd_schedules_entry = {
	"schedules",
	"[--json]",
	"list the periodic jobs with their last and next ticks",
	"List every schedule (schedule: of a job type): its type, queue, cron\n"
	"line or period, time zone, misfire policy, the last tick enqueued and\n"
	"the next. Without -c, from what the daemons publish in Redis when they\n"
	"start scheduling; with -c FILE, the schedules of FILE, their next tick\n"
	"computed from it, and the last one from Redis.\n"
	"\n"
	"Options:\n"
	"  --json                   print a JSON array; times are integer\n"
	"                           Unix milliseconds, null when unknown\n"
	"\n"
	"Examples:\n"
	"  redjob schedules\n"
	"  redjob -c /etc/redjob/redjob.yml schedules --json\n",
	cmd_schedules_exec
};

struct sched_row {
	char		*type, *queue, *spec, *tz, *misfire;
	long long	 catchup;
	long long	 last, next, seen;	/* -1: unknown */
};

struct sched_rows {
	struct sched_row *v;
	size_t		 n;
};

static long long
cmd_schedules_num(const redisReply *r)
{
	if (r == NULL || r->type != REDIS_REPLY_STRING || r->len == 0)
		return -1;
	return strtoll(r->str, NULL, 10);
}

static const char *
cmd_schedules_str(const redisReply *r)
{
	return r != NULL && r->type == REDIS_REPLY_STRING ? r->str : "";
}

/* The published schedules of queue into rows. 0, or CMD_ERROR. */
static int
cmd_schedules_fetch(struct cmd_ctx *ctx, const char *queue,
    struct sched_rows *rows)
{
	redisReply *r, *e;
	struct sched_row *row;
	size_t i;

	if ((r = client_fcall(ctx->client, "redjob_schedules", 1, queue, 0,
	    NULL, NULL)) == NULL)
		return cmd_client_error(ctx);
	if (r->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(r);
		return cmd_error("unexpected reply to redjob_schedules for "
		    "queue %s", queue);
	}
	for (i = 0; i < r->elements; i++) {
		e = r->element[i];
		/* {type, spec, tz, misfire, catchup, next, seen, last} */
		if (e->type != REDIS_REPLY_ARRAY || e->elements < 8)
			continue;
		rows->v = xreallocarray(rows->v, rows->n + 1,
		    sizeof *rows->v);
		row = &rows->v[rows->n++];
		row->type = xstrdup(cmd_schedules_str(e->element[0]));
		row->queue = xstrdup(queue);
		row->spec = xstrdup(cmd_schedules_str(e->element[1]));
		row->tz = xstrdup(cmd_schedules_str(e->element[2]));
		row->misfire = xstrdup(cmd_schedules_str(e->element[3]));
		row->catchup = cmd_schedules_num(e->element[4]);
		row->next = cmd_schedules_num(e->element[5]);
		row->seen = cmd_schedules_num(e->element[6]);
		row->last = cmd_schedules_num(e->element[7]);
	}
	freeReplyObject(r);
	return 0;
}

/* The rows of the file's schedules, with the last ticks from Redis. */
static int
cmd_schedules_config(struct cmd_ctx *ctx, struct sched_rows *rows)
{
	static const char *const misfires[] = { "skip", "once", "all" };
	const struct config *cfg = ctx->cfg;
	const struct job_conf *jc;
	struct sched_rows pub = { NULL, 0 };
	struct sched_row *row;
	struct timespec ts;
	int64_t now, next;
	size_t i, k;
	int rc;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	for (i = 0; i < cfg->njobs; i++) {
		jc = &cfg->jobs[i];
		if (!jc->schedule.on)
			continue;
		rows->v = xreallocarray(rows->v, rows->n + 1,
		    sizeof *rows->v);
		row = &rows->v[rows->n++];
		memset(row, 0, sizeof *row);
		row->type = xstrdup(jc->type);
		row->queue = xstrdup(jc->queue);
		row->spec = xstrdup(jc->schedule.spec);
		row->tz = xstrdup(jc->schedule.cron.tz[0] != '\0' ?
		    jc->schedule.cron.tz : "UTC");
		row->misfire = xstrdup(misfires[jc->schedule.misfire]);
		row->catchup = jc->schedule.max_catchup;
		row->last = row->seen = row->next = -1;
		/* The published rows of its queue, for the last tick. */
		pub.n = 0;
		if ((rc = cmd_schedules_fetch(ctx, jc->queue, &pub)) != 0) {
			free(pub.v);
			return rc;
		}
		for (k = 0; k < pub.n; k++) {
			if (strcmp(pub.v[k].type, jc->type) == 0) {
				row->last = pub.v[k].last;
				row->seen = pub.v[k].seen;
			}
			free(pub.v[k].type);
			free(pub.v[k].queue);
			free(pub.v[k].spec);
			free(pub.v[k].tz);
			free(pub.v[k].misfire);
		}
		if (cron_next(&jc->schedule.cron, row->last > now ? row->last :
		    now, &next) == 0)
			row->next = next;
	}
	free(pub.v);
	return 0;
}

static json_t *
cmd_schedules_time_json(long long t)
{
	return t >= 0 ? json_integer(t) : json_null();
}

static const char *
cmd_schedules_time(long long t, char *buf, size_t len)
{
	return t >= 0 ? cmd_format_time(t, buf, len) : "-";
}

static int
cmd_schedules_print(const struct sched_rows *rows, int json)
{
	const struct sched_row *r;
	json_t *a, *o;
	char last[64], next[64];
	size_t i;

	if (json) {
		a = json_array();
		for (i = 0; i < rows->n; i++) {
			r = &rows->v[i];
			o = json_object();
			json_object_set_new(o, "type", json_string(r->type));
			json_object_set_new(o, "queue", json_string(r->queue));
			json_object_set_new(o, "spec", json_string(r->spec));
			json_object_set_new(o, "timezone",
			    json_string(r->tz));
			json_object_set_new(o, "misfire",
			    json_string(r->misfire));
			json_object_set_new(o, "max_catchup", r->catchup >= 0 ?
			    json_integer(r->catchup) : json_null());
			json_object_set_new(o, "last",
			    cmd_schedules_time_json(r->last));
			json_object_set_new(o, "next",
			    cmd_schedules_time_json(r->next));
			json_object_set_new(o, "seen",
			    cmd_schedules_time_json(r->seen));
			json_array_append_new(a, o);
		}
		return cmd_json_print(a);
	}
	if (rows->n == 0) {
		printf("no schedules\n");
		return CMD_OK;
	}
	printf("%-20s %-12s %-20s %-16s %-7s %-24s %s\n", "TYPE", "QUEUE",
	    "SPEC", "TIMEZONE", "MISFIRE", "LAST", "NEXT");
	for (i = 0; i < rows->n; i++) {
		r = &rows->v[i];
		printf("%-20s %-12s %-20s %-16s %-7s %-24s %s\n", r->type,
		    r->queue, r->spec[0] != '\0' ? r->spec : "?",
		    r->tz[0] != '\0' ? r->tz : "?",
		    r->misfire[0] != '\0' ? r->misfire : "?",
		    cmd_schedules_time(r->last, last, sizeof last),
		    cmd_schedules_time(r->next, next, sizeof next));
	}
	return CMD_OK;
}

static int
cmd_schedules_exec(struct cmd_ctx *ctx, const struct cmd_entry *self,
    int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct sched_rows rows = { NULL, 0 };
	char **reg = NULL, err[256];
	size_t nreg = 0, i;
	int ch, json = 0, rc = CMD_OK;

	while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json = 1;
			break;
		case 'h':
			return cmd_help(self);
		default:
			return cmd_bad_option(self, ch, argv);
		}
	}
	if (optind != argc)
		return cmd_usage(self, "%s takes no arguments", self->name);
	if (cmd_connect(ctx) == NULL)
		return CMD_ERROR;
	if (ctx->cfg != NULL)
		rc = cmd_schedules_config(ctx, &rows);
	else if (client_queues(ctx->client, &reg, &nreg) != 0)
		rc = cmd_client_error(ctx);
	else {
		for (i = 0; i < nreg && rc == CMD_OK; i++) {
			if (schema_check_queue(reg[i], err, sizeof err) == 0)
				rc = cmd_schedules_fetch(ctx, reg[i], &rows);
		}
	}
	if (rc == CMD_OK)
		rc = cmd_schedules_print(&rows, json);
	for (i = 0; i < rows.n; i++) {
		free(rows.v[i].type);
		free(rows.v[i].queue);
		free(rows.v[i].spec);
		free(rows.v[i].tz);
		free(rows.v[i].misfire);
	}
	free(rows.v);
	client_queues_free(reg, nreg);
	return rc;
}
