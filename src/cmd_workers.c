/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * redjob workers: the live worker processes of the namespace, on every
 * host, with what each runs; redjob health: whether every one of them
 * consumes. Both read the worker registry (registry.c), so they see
 * exactly what the workers last wrote: times are the server's, compared
 * with the server's TIME, never with this host's clock.
 */
#include "autoconf.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "redjob.h"
#include "cmd.h"
#include "duration.h"
#include "registry.h"
#include "xmalloc.h"

#define HEALTH_MAX_AGE_MS 30000

static int	cmd_workers_exec(struct cmd_ctx *, const struct cmd_entry *,
		    int, char **);
static int	cmd_health_exec(struct cmd_ctx *, const struct cmd_entry *,
		    int, char **);

const struct cmd_entry cmd_workers_entry = {
	"workers",
	"[--json]",
	"list the live workers on every host and their running jobs",
	"List every live worker process of the namespace, on every host: its\n"
	"host, pid, supervisor pid, position, version, start, queues, slots\n"
	"busy of total, when it last consumed (a claim Redis answered), what\n"
	"stops it if anything does, and each job it runs (id, type, since).\n"
	"Workers register themselves in Redis every 2 seconds; one whose host\n"
	"died disappears within a minute, one that stopped at once.\n"
	"\n"
	"Options:\n"
	"  --json                   print a JSON array; times are integer\n"
	"                           Unix milliseconds (server time)\n"
	"\n"
	"Examples:\n"
	"  redjob workers\n"
	"  redjob workers --json | jq '.[] | select(.busy > 0)'\n",
	cmd_workers_exec
};

const struct cmd_entry cmd_health_entry = {
	"health",
	"[--max-age DURATION] [--json]",
	"exit 0 if every live worker is consuming, 1 if not",
	"Exit 0 when every live worker of the namespace consumed (had a claim\n"
	"answered by Redis, which an idle worker also does every 10 seconds)\n"
	"within DURATION; exit 1 otherwise, naming each stuck worker and what\n"
	"stops it on stderr, and also when no worker is alive or Redis cannot\n"
	"be asked. For Kubernetes probes, cron checks and load balancers.\n"
	"\n"
	"Options:\n"
	"  --max-age DURATION       how recent the last consumption must be\n"
	"                           (default 30s)\n"
	"  --json                   print the verdict and every worker's as\n"
	"                           one JSON object\n"
	"\n"
	"Exit status: 0 healthy, 1 not (or Redis unreachable), 2 usage.\n"
	"\n"
	"Examples:\n"
	"  redjob health\n"
	"  redjob health --max-age 1m --json\n",
	cmd_health_exec
};

/* Parse --json (and --max-age for health); returns CMD_OK or a status. */
static int
cmd_workers_options(const struct cmd_entry *self, int argc, char **argv,
    int *json, uint64_t *max_age)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "max-age", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	char *cause;
	int ch;

	while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			*json = 1;
			break;
		case 'm':
			if (max_age == NULL)
				return cmd_usage(self, "%s has no --max-age",
				    self->name);
			if (duration_parse(optarg, max_age, &cause) != 0) {
				cmd_usage(self, "--max-age: %s", cause);
				free(cause);
				return CMD_USAGE;
			}
			if (*max_age == 0)
				return cmd_usage(self, "--max-age must be more "
				    "than 0");
			break;
		case 'h':
			return cmd_help(self);
		default:
			return cmd_bad_option(self, ch, argv);
		}
	}
	if (optind != argc)
		return cmd_usage(self, "%s takes no arguments", self->name);
	return -1;
}

/* "3s ago", or "never". */
static const char *
cmd_workers_ago(long long now, long long t, char *buf, size_t len)
{
	if (t <= 0)
		return "never";
	snprintf(buf, len, "%.1fs ago", now > t ? (double)(now - t) / 1000 :
	    0.0);
	return buf;
}

/* The running jobs of an entry as a JSON array. */
static json_t *
cmd_workers_jobs_json(const char *jobs)
{
	json_t *a = json_array(), *o;
	const char *p = jobs, *nl, *t1, *t2;

	for (; *p != '\0'; p = *nl != '\0' ? nl + 1 : nl) {
		nl = p + strcspn(p, "\n");
		t1 = memchr(p, '\t', (size_t)(nl - p));
		t2 = t1 != NULL ? memchr(t1 + 1, '\t', (size_t)(nl - t1 - 1)) :
		    NULL;
		if (t2 == NULL)
			continue;
		o = json_object();
		json_object_set_new(o, "id", json_stringn(p, (size_t)(t1 - p)));
		json_object_set_new(o, "type", json_stringn(t1 + 1,
		    (size_t)(t2 - t1 - 1)));
		json_object_set_new(o, "started",
		    json_integer(strtoll(t2 + 1, NULL, 10)));
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *
cmd_workers_json_one(const struct registry_worker *w)
{
	json_t *o = json_object(), *q = json_array();
	const char *p = w->queues;
	size_t n;

	while (*p != '\0') {
		n = strcspn(p, ",");
		json_array_append_new(q, json_stringn(p, n));
		p += n + (p[n] == ',');
	}
	json_object_set_new(o, "host", json_string(w->host));
	json_object_set_new(o, "pid", json_integer(w->pid));
	json_object_set_new(o, "supervisor_pid", json_integer(w->ppid));
	json_object_set_new(o, "worker", json_integer(w->slot));
	json_object_set_new(o, "owner", json_string(w->owner));
	json_object_set_new(o, "version", json_string(w->version));
	json_object_set_new(o, "started", json_integer(w->started));
	json_object_set_new(o, "queues", q);
	json_object_set_new(o, "busy", json_integer(w->busy));
	json_object_set_new(o, "slots", json_integer(w->slots));
	json_object_set_new(o, "last_ok", w->ok > 0 ? json_integer(w->ok) :
	    json_null());
	json_object_set_new(o, "seen", json_integer(w->seen));
	json_object_set_new(o, "condition", w->cond[0] != '\0' ?
	    json_string(w->cond) : json_null());
	json_object_set_new(o, "jobs", cmd_workers_jobs_json(w->jobs));
	return o;
}

static void
cmd_workers_table(const struct registry_worker *ws, size_t n, long long now)
{
	const struct registry_worker *w;
	const char *p, *nl, *t1, *t2;
	char started[64], ago[48], slots[32];
	size_t i;

	if (n == 0) {
		printf("no live workers\n");
		return;
	}
	printf("%-20s %7s %7s %3s %-8s %-24s %-7s %-12s %s\n", "HOST", "PID",
	    "SUPER", "W", "VERSION", "STARTED", "BUSY", "CONSUMED", "QUEUES");
	for (i = 0; i < n; i++) {
		w = &ws[i];
		snprintf(slots, sizeof slots, "%lld/%lld", w->busy, w->slots);
		printf("%-20s %7lld %7lld %3lld %-8s %-24s %-7s %-12s %s\n",
		    w->host, w->pid, w->ppid, w->slot, w->version,
		    w->started > 0 ? cmd_format_time(w->started, started,
		    sizeof started) : "?", slots,
		    cmd_workers_ago(now, w->ok, ago, sizeof ago), w->queues);
		if (w->cond[0] != '\0')
			printf("    stopped by: %s\n", w->cond);
		for (p = w->jobs; *p != '\0'; p = *nl != '\0' ? nl + 1 : nl) {
			nl = p + strcspn(p, "\n");
			t1 = memchr(p, '\t', (size_t)(nl - p));
			t2 = t1 != NULL ? memchr(t1 + 1, '\t',
			    (size_t)(nl - t1 - 1)) : NULL;
			if (t2 == NULL)
				continue;
			printf("    %-24.*s %-24.*s since %s\n", (int)(t1 - p), p,
			    (int)(t2 - t1 - 1), t1 + 1, cmd_format_time(
			    strtoll(t2 + 1, NULL, 10), started,
			    sizeof started));
		}
	}
}

/* Connect and read the registry and the server's time: 0, or -1. */
static int
cmd_workers_load(struct cmd_ctx *ctx, struct registry_worker **ws,
    size_t *n, long long *now)
{
	if (cmd_connect(ctx) == NULL)
		return -1;
	if ((*now = registry_now(ctx->client)) < 0 ||
	    registry_list(ctx->client, ws, n) != 0) {
		cmd_client_error(ctx);
		return -1;
	}
	return 0;
}

static int
cmd_workers_exec(struct cmd_ctx *ctx, const struct cmd_entry *self,
    int argc, char **argv)
{
	struct registry_worker *ws;
	json_t *a;
	long long now;
	size_t n, i;
	int json = 0, rc;

	if ((rc = cmd_workers_options(self, argc, argv, &json, NULL)) >= 0)
		return rc;
	if (cmd_workers_load(ctx, &ws, &n, &now) != 0)
		return CMD_ERROR;
	if (json) {
		a = json_array();
		for (i = 0; i < n; i++)
			json_array_append_new(a, cmd_workers_json_one(&ws[i]));
		rc = cmd_json_print(a);
	} else {
		cmd_workers_table(ws, n, now);
		rc = CMD_OK;
	}
	registry_free(ws, n);
	return rc;
}

/*
 * Why w is not healthy (into buf), or NULL if it is: its last
 * consumption is older than max_age, or it never consumed.
 */
static const char *
cmd_health_verdict(const struct registry_worker *w, long long now,
    uint64_t max_age, char *buf, size_t len)
{
	char d[32], s[32];
	long long since = w->ok > 0 ? w->ok : w->started;

	if (w->ok > 0 && now - w->ok <= (long long)max_age)
		return NULL;
	duration_format(now > since ? (uint64_t)(now - since) : 0, d,
	    sizeof d);
	snprintf(buf, len, "%s for %s%s%s", w->ok > 0 ? "has not consumed" :
	    "has never consumed since it started", d,
	    w->cond[0] != '\0' ? ": " : "", w->cond);
	if (now - w->seen > (long long)max_age) {
		duration_format((uint64_t)(now - w->seen), s, sizeof s);
		snprintf(buf + strlen(buf), len - strlen(buf),
		    " (no heartbeat for %s: cut off from Redis, or its host is "
		    "down)", s);
	}
	return buf;
}

static int
cmd_health_exec(struct cmd_ctx *ctx, const struct cmd_entry *self,
    int argc, char **argv)
{
	struct registry_worker *ws;
	uint64_t max_age = HEALTH_MAX_AGE_MS;
	json_t *o = NULL, *a = NULL, *one;
	const char *why;
	char buf[1024], d[32];
	long long now;
	size_t n, i, bad = 0;
	int json = 0, rc;

	if ((rc = cmd_workers_options(self, argc, argv, &json, &max_age)) >= 0)
		return rc;
	if (cmd_workers_load(ctx, &ws, &n, &now) != 0)
		return CMD_ERROR;
	if (json) {
		o = json_object();
		a = json_array();
	}
	for (i = 0; i < n; i++) {
		why = cmd_health_verdict(&ws[i], now, max_age, buf, sizeof buf);
		if (why != NULL) {
			bad++;
			if (!json)
				fprintf(stderr, "redjob: worker %lld of %s:%lld "
				    "(pid %lld) %s\n", ws[i].slot, ws[i].host,
				    ws[i].ppid, ws[i].pid, why);
		}
		if (json) {
			one = cmd_workers_json_one(&ws[i]);
			json_object_set_new(one, "healthy",
			    json_boolean(why == NULL));
			json_object_set_new(one, "reason", why != NULL ?
			    json_string(why) : json_null());
			json_array_append_new(a, one);
		}
	}
	if (n == 0 && !json)
		fprintf(stderr, "redjob: no live worker in namespace %s\n",
		    ctx->ns != NULL ? ctx->ns : "redjob");
	rc = n > 0 && bad == 0 ? CMD_OK : CMD_ERROR;
	if (json) {
		json_object_set_new(o, "healthy", json_boolean(rc == CMD_OK));
		json_object_set_new(o, "max_age", json_integer(
		    (json_int_t)max_age));
		json_object_set_new(o, "now", json_integer(now));
		json_object_set_new(o, "workers", a);
		if (cmd_json_print(o) != CMD_OK)
			rc = CMD_ERROR;
	} else if (rc == CMD_OK)
		printf("healthy: %zu worker%s consumed within %s\n", n,
		    n == 1 ? "" : "s", duration_format(max_age, d, sizeof d));
	registry_free(ws, n);
	return rc;
}
