/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * redjob why: the one reason a job is not running, or not finished. The
 * read-only function redjob_why looks at the job's state and at every
 * gate its queue's keys know of (due time, pause, the live workers of
 * the queue and the types they know, what held the job back last); a
 * lock lives in its own slot, so its holder and fence come from a second
 * read-only call, redjob_lock_info, and a running job's worker from the
 * worker registry.
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

static int	cmd_why_exec(struct cmd_ctx *, const struct cmd_entry *, int,
		    char **);

const struct cmd_entry cmd_why_entry = {
	"why",
	"[--json] ID",
	"say why a job is not running",
	"Say what keeps the job ID from running, or what became of it: the\n"
	"one gate that holds it, among its due time (scheduled, or a retry\n"
	"after a failure), a paused queue, no live worker serving its queue,\n"
	"no live worker knowing its type, a limiter that refuses it, a lock\n"
	"another job holds (with the holder and its fence), or that it runs\n"
	"(where and since when), is dead (and why) or is done.\n"
	"\n"
	"Options:\n"
	"  --json                   print one JSON object: \"gate\", \"text\"\n"
	"                           and the details; times are integer Unix\n"
	"                           milliseconds\n"
	"\n"
	"Gates (the \"gate\" of --json): done, orphan, dead, running, limiter,\n"
	"lock, retry, scheduled, paused, no_worker, no_type, ready.\n"
	"\n"
	"Examples:\n"
	"  redjob why mail:42\n"
	"  redjob why --json mail:42 | jq -r .gate\n",
	cmd_why_exec
};

/* The value of field name in a flat NAME VALUE reply, or NULL. */
static const char *
cmd_why_get(const redisReply *r, const char *name)
{
	size_t i;

	for (i = 0; i + 1 < r->elements; i += 2) {
		if (strcmp(r->element[i]->str, name) == 0)
			return r->element[i + 1]->str;
	}
	return NULL;
}

static const char *
cmd_why_time(const char *ms, char *buf, size_t len)
{
	if (ms == NULL || *ms == '\0')
		return "?";
	return cmd_format_time(strtoll(ms, NULL, 10), buf, len);
}

/* What redjob_lock_info says of the lock, for this job. */
struct why_lock {
	int		 ok;
	char		*holder;	/* the holder's token */
	const char	*job;		/* the holding job's id, or NULL */
	long long	 pttl;
	char		*fence;
	long long	 waiters, place;
};

static void
cmd_why_lock(struct cmd_ctx *ctx, const char *key, const char *id,
    struct why_lock *l)
{
	redisReply *r;
	const char *sp;

	memset(l, 0, sizeof *l);
	if ((r = client_fcall_key(ctx->client, "redjob_lock_info", 1, key, 1,
	    &id, NULL)) == NULL)
		return;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 5 &&
	    r->element[0]->type == REDIS_REPLY_STRING &&
	    r->element[2]->type == REDIS_REPLY_STRING) {
		l->ok = 1;
		l->holder = xstrdup(r->element[0]->str);
		l->pttl = r->element[1]->integer;
		l->fence = xstrdup(r->element[2]->str);
		l->waiters = r->element[3]->integer;
		l->place = r->element[4]->integer;
		/* redjobd's lock tokens: 32 hex digits, a space, the job. */
		if ((sp = strchr(l->holder, ' ')) != NULL && sp[1] != '\0')
			l->job = sp + 1;
	}
	freeReplyObject(r);
}

/* The sentence for people, from the fields; returns allocated text. */
static char *
cmd_why_text(const redisReply *r, const struct why_lock *l,
    const struct registry_worker *w)
{
	const char *gate = cmd_why_get(r, "gate"), *v;
	char a[64], b[64], *s;

	if (strcmp(gate, "dead") == 0)
		xasprintf(&s, "dead since %s: %s", cmd_why_time(cmd_why_get(r,
		    "until"), a, sizeof a), cmd_why_get(r, "error"));
	else if (strcmp(gate, "done") == 0 && cmd_why_get(r, "since") != NULL)
		xasprintf(&s, "done at %s; kept until %s", cmd_why_time(
		    cmd_why_get(r, "since"), a, sizeof a), cmd_why_time(
		    cmd_why_get(r, "until"), b, sizeof b));
	else if (strcmp(gate, "cancelled") == 0 ||
	    strcmp(gate, "expired") == 0)
		xasprintf(&s, "%s at %s: %s; kept until %s", gate,
		    cmd_why_time(cmd_why_get(r, "since"), a, sizeof a),
		    cmd_why_get(r, "error"), cmd_why_time(cmd_why_get(r,
		    "until"), b, sizeof b));
	else if (strcmp(gate, "running") == 0 && w != NULL)
		xasprintf(&s, "running on %s, pid %lld (worker %lld of "
		    "supervisor %lld), since %s; its lease ends %s", w->host,
		    w->pid, w->slot, w->ppid, cmd_why_time(cmd_why_get(r,
		    "since"), a, sizeof a), cmd_why_time(cmd_why_get(r,
		    "lease"), b, sizeof b));
	else if (strcmp(gate, "running") == 0)
		xasprintf(&s, "held since %s by worker %s, which is not alive "
		    "(not in the worker registry): the job runs again when "
		    "its lease ends, %s", cmd_why_time(cmd_why_get(r, "since"),
		    a, sizeof a), cmd_why_get(r, "worker"), cmd_why_time(
		    cmd_why_get(r, "lease"), b, sizeof b));
	else if (strcmp(gate, "limiter") == 0)
		xasprintf(&s, "limiter %s refuses it until %s",
		    cmd_why_get(r, "limiter"), cmd_why_time(cmd_why_get(r,
		    "until"), a, sizeof a));
	else if (strcmp(gate, "lock") == 0 && l->ok && l->holder[0] != '\0')
		xasprintf(&s, "lock %s is held by %s%s (fence %s, %lld ms "
		    "left); this job is %lld of %lld in its wait list, and "
		    "tries again at %s at the latest", cmd_why_get(r, "lock"),
		    l->job != NULL ? "job " : "token ", l->job != NULL ?
		    l->job : l->holder, l->fence[0] != '\0' ? l->fence : "?",
		    l->pttl, l->place, l->waiters, cmd_why_time(cmd_why_get(r,
		    "until"), a, sizeof a));
	else if (strcmp(gate, "lock") == 0)
		xasprintf(&s, "lock %s was held by another job when it was "
		    "tried; the lock is free now, and the job tries again at "
		    "%s at the latest", cmd_why_get(r, "lock"), cmd_why_time(
		    cmd_why_get(r, "until"), a, sizeof a));
	else if (strcmp(gate, "retry") == 0)
		xasprintf(&s, "attempt %s failed: %s; it is retried at %s",
		    cmd_why_get(r, "attempts"), cmd_why_get(r, "error"),
		    cmd_why_time(cmd_why_get(r, "until"), a, sizeof a));
	else if (strcmp(gate, "scheduled") == 0)
		xasprintf(&s, "scheduled: due at %s", cmd_why_time(
		    cmd_why_get(r, "until"), a, sizeof a));
	else if (strcmp(gate, "no_type") == 0 &&
	    strcmp(cmd_why_get(r, "state"), "scheduled") == 0)
		xasprintf(&s, "no worker knew its type when it was claimed (a "
		    "deploy may bring it); it tries again at %s, until "
		    "unknown_type_grace has passed", cmd_why_time(cmd_why_get(r,
		    "until"), a, sizeof a));
	else if (strcmp(gate, "ready") == 0)
		xasprintf(&s, "ready since %s and waiting for a free slot: %s "
		    "job(s) of its queue are due before it, %s run(s), %s live "
		    "worker(s) serve the queue", cmd_why_time(cmd_why_get(r,
		    "until"), a, sizeof a), cmd_why_get(r, "ahead"),
		    cmd_why_get(r, "running"), cmd_why_get(r, "workers"));
	else
		s = xstrdup(cmd_why_get(r, "text"));
	if ((v = cmd_why_get(r, "paused")) != NULL && strcmp(gate,
	    "paused") != 0) {
		char *t;

		xasprintf(&t, "%s; and its queue is paused", s);
		free(s);
		s = t;
	}
	return s;
}

static int
cmd_why_exec(struct cmd_ctx *ctx, const struct cmd_entry *self, int argc,
    char **argv)
{
	static const char *const times[] = { "until", "now", "since",
	    "lease" };
	struct registry_worker w;
	struct why_lock l;
	const char *id, *gate, *k;
	char *text;
	redisReply *r;
	json_t *o, *lo;
	size_t i, t;
	int json, rc, have_w = 0, is_time;

	if ((rc = cmd_job_pairs(ctx, self, argc, argv, "redjob_why", &json,
	    &id, &r)) >= 0)
		return rc;
	rc = CMD_OK;
	if ((gate = cmd_why_get(r, "gate")) == NULL ||
	    cmd_why_get(r, "text") == NULL) {
		freeReplyObject(r);
		return cmd_error("unexpected reply to redjob_why");
	}
	memset(&l, 0, sizeof l);
	if (strcmp(gate, "lock") == 0)
		cmd_why_lock(ctx, cmd_why_get(r, "lock"), id, &l);
	if (strcmp(gate, "running") == 0 && cmd_why_get(r, "worker") != NULL &&
	    cmd_why_get(r, "host")[0] != '\0')
		have_w = registry_get(ctx->client, cmd_why_get(r, "worker"),
		    &w) == 1;
	text = cmd_why_text(r, &l, have_w ? &w : NULL);
	if (!json) {
		printf("%s: %s\n", id, text);
		if ((k = cmd_why_get(r, "unique")) != NULL)
			printf("(its unique key \"%s\" refuses new jobs with "
			    "that key until it finishes)\n", k);
	} else {
		o = json_object();
		json_object_set_new(o, "id", json_string(id));
		for (i = 0; i + 1 < r->elements; i += 2) {
			k = r->element[i]->str;
			if (strcmp(k, "text") == 0)
				continue;
			is_time = 0;
			for (t = 0; t < nitems(times); t++)
				is_time |= strcmp(k, times[t]) == 0;
			if (is_time && r->element[i + 1]->len > 0)
				json_object_set_new(o, k, json_integer(strtoll(
				    r->element[i + 1]->str, NULL, 10)));
			else
				json_object_set_new(o, k, cmd_json_text(
				    r->element[i + 1]->str,
				    r->element[i + 1]->len));
		}
		json_object_set_new(o, "text", json_string(text));
		if (l.ok) {
			lo = json_object();
			json_object_set_new(lo, "holder", json_string(l.holder));
			json_object_set_new(lo, "holder_job", l.job != NULL ?
			    json_string(l.job) : json_null());
			json_object_set_new(lo, "fence", l.fence[0] != '\0' ?
			    json_string(l.fence) : json_null());
			json_object_set_new(lo, "pttl", json_integer(l.pttl));
			json_object_set_new(lo, "waiters",
			    json_integer(l.waiters));
			json_object_set_new(lo, "place", json_integer(l.place));
			json_object_set_new(o, "lock_info", lo);
		}
		if (have_w) {
			json_object_set_new(o, "pid", json_integer(w.pid));
			json_object_set_new(o, "supervisor_pid",
			    json_integer(w.ppid));
		}
		rc = cmd_json_print(o);
	}
	free(text);
	free(l.holder);
	free(l.fence);
	if (have_w)
		registry_worker_clear(&w);
	freeReplyObject(r);
	return rc;
}
