/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The dashboard's pages and actions. Each reads Redis through the
 * library's read-only functions (redjob_stats, redjob_list, redjob_show)
 * and the worker registry, and each action is one library call per job
 * (redjob_retry, redjob_remove, redjob_cancel, redjob_pause,
 * redjob_resume), so the
 * dashboard needs no function of its own; the workers come from the
 * registry (registry.c). A queue's jobs are read one
 * page at a time, and retry-all and delete-all take at most WEB_BATCH
 * jobs per request, so no request loads a whole set. A refused call
 * ends the page with web_redis_fail(): 404, 409 or 503.
 */
#include "autoconf.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <hiredis/hiredis.h>

#include "redjob.h"
#include "client.h"
#include "cmd.h"
#include "mtime.h"
#include "registry.h"
#include "schema.h"
#include "web.h"
#include "xmalloc.h"

static const char *const web_states[] = {
	"ready", "scheduled", "running", "dead",
};

/* The figures of one queue that the pages show, from redjob_stats. */
struct web_counts {
	long long	 state[nitems(web_states)];
	long long	 paused;
	long long	 enqueued;
	long long	 processed;
	long long	 failed;
	long long	 retried;
	long long	 throttled;
	long long	 conflicts;
	long long	 stalled;
	long long	 workers;	/* live workers serving the queue */
	size_t		 shards;	/* > 1: a sharded queue, summed */
};

/* The index of a state name, or -1. */
static int
web_state_index(const char *s)
{
	size_t i;

	for (i = 0; s != NULL && i < nitems(web_states); i++) {
		if (strcmp(s, web_states[i]) == 0)
			return (int)i;
	}
	return -1;
}

static int	web_stats_one(struct web *, const char *, struct web_counts *);

/*
 * The shards of queue (cmd_queue_shards()), with those left in the
 * registry by a larger number of shards. Returns how many, 0 on an error.
 */
static size_t
web_shards(struct web *w, const char *queue, char ***names)
{
	char **reg;
	size_t nreg, n;

	if (client_queues(w->client, &reg, &nreg) != 0)
		return 0;
	n = cmd_queue_shards(w->client, NULL, queue, reg, nreg, names);
	client_queues_free(reg, nreg);
	return n;
}

/*
 * Read a queue's counters; a sharded queue's are the sums of its shards'
 * (paused only if every shard is; workers: the most of any shard).
 * Returns 0, or -1 with the client's error set.
 */
static int
web_stats(struct web *w, const char *queue, struct web_counts *c)
{
	struct web_counts one;
	char **names;
	size_t n, i, s;
	int rc = 0;

	if ((n = web_shards(w, queue, &names)) == 0)
		return -1;
	if (n == 1) {
		cmd_queue_shards_free(names, n);
		return web_stats_one(w, queue, c);
	}
	memset(c, 0, sizeof *c);
	c->shards = n;
	c->paused = 1;
	for (i = 0; i < n && rc == 0; i++) {
		if ((rc = web_stats_one(w, names[i], &one)) != 0)
			break;
		for (s = 0; s < nitems(web_states); s++)
			c->state[s] += one.state[s];
		c->paused = c->paused && one.paused;
		c->workers = one.workers > c->workers ? one.workers :
		    c->workers;
		c->enqueued += one.enqueued;
		c->processed += one.processed;
		c->failed += one.failed;
		c->retried += one.retried;
		c->throttled += one.throttled;
		c->conflicts += one.conflicts;
		c->stalled += one.stalled;
	}
	cmd_queue_shards_free(names, n);
	return rc;
}

/* Read the counters of one queue or shard. Returns 0 or -1. */
static int
web_stats_one(struct web *w, const char *queue, struct web_counts *c)
{
	static const struct {
		const char	*name;
		size_t		 off;
	} fields[] = {
		{ "paused", offsetof(struct web_counts, paused) },
		{ "enqueued", offsetof(struct web_counts, enqueued) },
		{ "processed", offsetof(struct web_counts, processed) },
		{ "failed", offsetof(struct web_counts, failed) },
		{ "retried", offsetof(struct web_counts, retried) },
		{ "throttled", offsetof(struct web_counts, throttled) },
		{ "conflicts", offsetof(struct web_counts, conflicts) },
		{ "stalled", offsetof(struct web_counts, stalled) },
		{ "workers", offsetof(struct web_counts, workers) },
	};
	redisReply *r, *k;
	long long v;
	size_t i, j;
	int s;

	memset(c, 0, sizeof *c);
	if ((r = client_fcall(w->client, "redjob_stats", 1, queue, 0, NULL,
	    NULL)) == NULL)
		return -1;
	for (i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements;
	    i += 2) {
		k = r->element[i];
		if (k->type != REDIS_REPLY_STRING ||
		    cmd_reply_int(r->element[i + 1], &v) != 0)
			continue;
		if ((s = web_state_index(k->str)) >= 0) {
			c->state[s] = v;
			continue;
		}
		for (j = 0; j < nitems(fields); j++) {
			if (strcmp(k->str, fields[j].name) == 0)
				*(long long *)((char *)c + fields[j].off) = v;
		}
	}
	freeReplyObject(r);
	return 0;
}

/*
 * The valid registered queues (invalid members are skipped), a sharded
 * queue once for all its shards.
 */
static int
web_queues(struct web *w, char ***names, size_t *n)
{
	char base[SCHEMA_QUEUE_MAX + 1];
	size_t i, j, o = 0;

	if (client_queues(w->client, names, n) != 0)
		return -1;
	for (i = 0; i < *n; i++) {
		if (schema_shard_split((*names)[i], base, sizeof base,
		    NULL) != 0) {
			free((*names)[i]);
			continue;
		}
		for (j = 0; j < o && strcmp((*names)[j], base) != 0; j++)
			;
		if (j < o) {
			free((*names)[i]);
			continue;
		}
		/* The base is never longer than the shard's name. */
		strcpy((*names)[i], base);
		(*names)[o++] = (*names)[i];
	}
	*n = o;
	return 0;
}

/* The rate record of a queue, made on first use. */
static struct web_rate *
web_rate(struct web *w, const char *queue)
{
	size_t i;

	for (i = 0; i < w->nrates; i++) {
		if (strcmp(w->rates[i].queue, queue) == 0)
			return &w->rates[i];
	}
	w->rates = xreallocarray(w->rates, w->nrates + 1, sizeof *w->rates);
	memset(&w->rates[w->nrates], 0, sizeof *w->rates);
	w->rates[w->nrates].queue = xstrdup(queue);
	return &w->rates[w->nrates++];
}

void
web_rates_free(struct web *w)
{
	size_t i;

	for (i = 0; i < w->nrates; i++)
		free(w->rates[i].queue);
	free(w->rates);
	w->rates = NULL;
	w->nrates = 0;
}

/*
 * Record a queue's counters now (at most one sample a second), forget
 * samples older than the window, and compute processed and failed per
 * second over what is left. Returns 0, or -1 while there is not yet a
 * second of history.
 */
static int
web_rate_update(struct web *w, const char *queue, const struct web_counts *c,
    double *processed, double *failed)
{
	struct web_rate *rt = web_rate(w, queue);
	uint64_t now = mtime_now();
	struct web_sample *first, *last;
	size_t drop = 0;

	/* A counter that went down (a flushed Redis) starts over. */
	if (rt->n > 0 && (rt->s[rt->n - 1].processed > c->processed ||
	    rt->s[rt->n - 1].failed > c->failed))
		rt->n = 0;
	if (rt->n == 0 || now - rt->s[rt->n - 1].at >= 1000) {
		if (rt->n == WEB_SAMPLES) {
			memmove(rt->s, rt->s + 1, (rt->n - 1) * sizeof *rt->s);
			rt->n--;
		}
		rt->s[rt->n].at = now;
		rt->s[rt->n].processed = c->processed;
		rt->s[rt->n].failed = c->failed;
		rt->n++;
	}
	while (drop + 1 < rt->n && now - rt->s[drop].at > WEB_RATE_WINDOW_MS)
		drop++;
	if (drop > 0) {
		memmove(rt->s, rt->s + drop, (rt->n - drop) * sizeof *rt->s);
		rt->n -= drop;
	}
	first = &rt->s[0];
	last = &rt->s[rt->n - 1];
	/* The newest counters against the oldest sample still in the window. */
	if (now - first->at < 1000)
		return -1;
	*processed = (double)(c->processed - first->processed) * 1000.0 /
	    (double)(now - first->at);
	*failed = (double)(c->failed - first->failed) * 1000.0 /
	    (double)(now - first->at);
	(void)last;
	return 0;
}

/* The message of a finished action, from the query's fixed codes. */
static void
web_flash(struct web_req *r)
{
	const char *done = web_param(r, "done"), *nstr = web_param(r, "n");
	const char *left = web_param(r, "left");
	long long n = nstr != NULL ? strtoll(nstr, NULL, 10) : 0;
	long long l = left != NULL ? strtoll(left, NULL, 10) : 0;
	struct evbuffer *b = r->out;

	if (done == NULL)
		return;
	html_raw(b, "<p class=\"ok\" id=\"flash\">");
	if (strcmp(done, "retry") == 0)
		html_raw(b, "Retried: the job is ready to run.");
	else if (strcmp(done, "delete") == 0)
		html_raw(b, "Deleted.");
	else if (strcmp(done, "cancel") == 0)
		html_raw(b, "Cancelled: it will not run, or its worker stops "
		    "it now; it is kept for a day.");
	else if (strcmp(done, "pause") == 0)
		html_raw(b, "Paused: workers take no job from this queue.");
	else if (strcmp(done, "resume") == 0)
		html_raw(b, "Resumed.");
	else if (strcmp(done, "retry-all") == 0)
		html_raw(b, "Retried %lld dead jobs.", n);
	else if (strcmp(done, "delete-all") == 0)
		html_raw(b, "Deleted %lld dead jobs.", n);
	else
		html_raw(b, "Done.");
	if (l > 0)
		html_raw(b, " %lld are left: press the button again for the "
		    "next %d.", l, WEB_BATCH);
	html_raw(b, "</p>\n");
}

/* A value percent-encoded for a path, as a new string. */
static char *
web_encoded(const char *s)
{
	struct evbuffer *u;
	char *out;
	size_t len;

	if ((u = evbuffer_new()) == NULL)
		return xstrdup("");
	html_url(u, s);
	len = evbuffer_get_length(u);
	out = xmalloc(len + 1);
	evbuffer_remove(u, out, len);
	out[len] = '\0';
	evbuffer_free(u);
	return out;
}

/*
 * The path of a queue's page: /queue/NAME, or /queue?name=NAME for the
 * names "." and "..", which a browser would take for steps of the path
 * (percent-encoded too). Caller frees.
 */
static char *
web_queue_path(const char *queue)
{
	char *enc = web_encoded(queue), *p;

	if (strcmp(queue, ".") == 0 || strcmp(queue, "..") == 0)
		xasprintf(&p, "/queue?name=%s", enc);
	else
		xasprintf(&p, "/queue/%s", enc);
	free(enc);
	return p;
}

/* What joins a query field to a path from web_queue_path(). */
static const char *
web_queue_sep(const char *path, int html)
{
	if (strchr(path, '?') == NULL)
		return "?";
	return html ? "&amp;" : "&";
}

/*
 * The URL of a queue's page in an attribute, with query (markup made of
 * constants and numbers, or NULL) after it.
 */
static void
web_queue_href(struct evbuffer *b, const char *queue, const char *query)
{
	char *p = web_queue_path(queue);

	html_str(b, p);
	if (query != NULL)
		html_raw(b, "%s%s", web_queue_sep(p, 1), query);
	free(p);
}

/* A link to a queue, optionally to one state of it. */
static void
web_queue_link(struct evbuffer *b, const char *queue, const char *state,
    const char *text)
{
	char q[32];

	snprintf(q, sizeof q, "state=%s", state != NULL ? state : "");
	html_raw(b, "<a href=\"");
	web_queue_href(b, queue, state != NULL ? q : NULL);
	html_raw(b, "\">");
	html_str(b, text);
	html_raw(b, "</a>");
}

static void
web_job_link(struct evbuffer *b, const char *id)
{
	html_raw(b, "<a href=\"/job/");
	html_url(b, id);
	html_raw(b, "\">");
	html_str(b, id);
	html_raw(b, "</a>");
}

/* GET /: every queue with its counts and recent rates. */
void
web_overview(struct web_req *r)
{
	struct evbuffer *b = r->out;
	struct web_counts c, total;
	char **names = NULL, num[32];
	double pr, fr;
	size_t n = 0, i, s;

	if (web_queues(r->w, &names, &n) != 0) {
		web_redis_fail(r, "listing the queues");
		return;
	}
	memset(&total, 0, sizeof total);
	html_begin(r, "Queues");
	web_flash(r);
	if (n == 0)
		html_raw(b, "<p>No queue yet: enqueue a job and it shows "
		    "here.</p>\n");
	else
		html_raw(b, "<table id=\"queues\"><tr><th>Queue</th>"
		    "<th>Ready</th><th>Scheduled</th><th>Running</th>"
		    "<th>Dead</th><th>Processed</th><th>Failed</th>"
		    "<th>Retried</th><th>Processed/s</th><th>Failed/s</th>"
		    "<th>Workers</th><th></th></tr>\n");
	for (i = 0; i < n; i++) {
		if (web_stats(r->w, names[i], &c) != 0) {
			web_redis_fail(r, "reading a queue's counts");
			goto out;
		}
		html_raw(b, "<tr><td>");
		web_queue_link(b, names[i], NULL, names[i]);
		if (c.paused)
			html_raw(b, " <span class=\"paused\">paused</span>");
		html_raw(b, "</td>");
		for (s = 0; s < nitems(web_states); s++) {
			html_raw(b, "<td class=\"n\">");
			snprintf(num, sizeof num, "%lld", c.state[s]);
			web_queue_link(b, names[i], web_states[s], num);
			html_raw(b, "</td>");
			total.state[s] += c.state[s];
		}
		html_raw(b, "<td class=\"n\">%lld</td><td class=\"n\">%lld</td>"
		    "<td class=\"n\">%lld</td>", c.processed, c.failed,
		    c.retried);
		total.processed += c.processed;
		total.failed += c.failed;
		total.retried += c.retried;
		if (web_rate_update(r->w, names[i], &c, &pr, &fr) == 0)
			html_raw(b, "<td class=\"n\">%.2f</td>"
			    "<td class=\"n\">%.2f</td>", pr, fr);
		else
			html_raw(b, "<td class=\"n\">-</td>"
			    "<td class=\"n\">-</td>");
		/* Jobs wait and no worker will take them: say so. */
		html_raw(b, "<td class=\"n%s\"><a href=\"/workers\">%lld</a>"
		    "</td><td>", c.workers == 0 && c.state[0] > 0 ? " bad" : "",
		    c.workers);
		if (c.paused)
			html_form(r, "resume", "queue", names[i], "Resume",
			    NULL);
		else
			html_form(r, "pause", "queue", names[i], "Pause",
			    NULL);
		html_raw(b, "</td></tr>\n");
	}
	if (n > 1) {
		html_raw(b, "<tr><th>all</th>");
		for (s = 0; s < nitems(web_states); s++)
			html_raw(b, "<th class=\"n\">%lld</th>",
			    total.state[s]);
		html_raw(b, "<th class=\"n\">%lld</th><th class=\"n\">%lld"
		    "</th><th class=\"n\">%lld</th><th></th><th></th><th></th>"
		    "<th></th></tr>\n", total.processed, total.failed,
		    total.retried);
	}
	if (n > 0)
		html_raw(b, "</table>\n");
	html_raw(b, "<p class=\"note\">Rates are per second over the last "
	    "minute of this page's loads (reload to update them).</p>\n");
	html_end(r);
	web_send(r, 200, "OK");
out:
	client_queues_free(names, n);
}

/* Parse an offset query field. Returns 0, or -1 if it is not one. */
static int
web_offset(const char *s, long long *v)
{
	char *end;

	*v = 0;
	if (s == NULL)
		return 0;
	errno = 0;
	*v = strtoll(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 ||
	    *v > (1LL << 40))
		return -1;
	return 0;
}

/* Is queue in the registry? Returns 1, 0, or -1 on error. */
static int
web_registered(struct web *w, const char *queue)
{
	char **names;
	size_t n, i;
	int found = 0;

	if (client_queues(w->client, &names, &n) != 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (strcmp(names[i], queue) == 0)
			found = 1;
	}
	client_queues_free(names, n);
	return found;
}

/*
 * Read a queue's counters for its page, or answer 404 for a name that
 * is not valid or a queue that does not exist. Returns 0 or -1.
 */
static int
web_queue_counts(struct web_req *r, const char *queue, struct web_counts *c)
{
	char err[256];
	int reg;
	size_t s;
	long long any = 0;

	if (schema_check_queue(queue, err, sizeof err) != 0) {
		web_fail(r, 404, "Not Found", "No such queue: %s", err);
		return -1;
	}
	if (web_stats(r->w, queue, c) != 0) {
		web_redis_fail(r, "reading the queue's counts");
		return -1;
	}
	for (s = 0; s < nitems(web_states); s++)
		any += c->state[s];
	if (any != 0 || c->paused || c->enqueued != 0)
		return 0;
	if ((reg = web_registered(r->w, queue)) < 0) {
		web_redis_fail(r, "listing the queues");
		return -1;
	}
	if (reg == 0) {
		web_fail(r, 404, "Not Found", "No such queue: \"%s\" has "
		    "never had a job.", queue);
		return -1;
	}
	return 0;
}

/*
 * A sharded queue's page: its shards with their counts, each linked to
 * its own page, where its jobs are.
 */
static int
web_queue_shards(struct web_req *r, const char *queue)
{
	struct evbuffer *b = r->out;
	struct web_counts c;
	char **names, num[32];
	size_t n, i, s;

	if ((n = web_shards(r->w, queue, &names)) == 0)
		return -1;
	html_raw(b, "<p>A sharded queue: its jobs are in its %zu shards, "
	    "each in its own slot of Redis.</p>\n<table id=\"shards\"><tr>"
	    "<th>Shard</th><th>Ready</th><th>Scheduled</th><th>Running</th>"
	    "<th>Dead</th><th>Processed</th><th>Workers</th></tr>\n", n);
	for (i = 0; i < n; i++) {
		if (web_stats_one(r->w, names[i], &c) != 0) {
			cmd_queue_shards_free(names, n);
			return -1;
		}
		html_raw(b, "<tr><td>");
		web_queue_link(b, names[i], NULL, names[i]);
		html_raw(b, "</td>");
		for (s = 0; s < nitems(web_states); s++) {
			html_raw(b, "<td class=\"n\">");
			snprintf(num, sizeof num, "%lld", c.state[s]);
			web_queue_link(b, names[i], web_states[s], num);
			html_raw(b, "</td>");
		}
		html_raw(b, "<td class=\"n\">%lld</td><td class=\"n\">%lld"
		    "</td></tr>\n", c.processed, c.workers);
	}
	html_raw(b, "</table>\n");
	cmd_queue_shards_free(names, n);
	return 0;
}

/* GET /queue/NAME?state=STATE&offset=N: one page of a queue's jobs. */
void
web_queue(struct web_req *r, const char *queue)
{
	struct evbuffer *b = r->out;
	struct web_counts c;
	const char *state = web_param(r, "state"), *argv[3];
	char off[32], cnt[32], label[64], q[64];
	long long offset, v;
	redisReply *l = NULL, *e;
	size_t i, s;
	int si;

	if (web_queue_counts(r, queue, &c) != 0)
		return;
	if (state == NULL)
		state = c.state[0] == 0 && c.state[3] > 0 ? "dead" : "ready";
	if ((si = web_state_index(state)) < 0) {
		web_fail(r, 404, "Not Found", "No such state \"%s\": a job is "
		    "ready, scheduled, running or dead.", state);
		return;
	}
	state = web_states[si];
	if (web_offset(web_param(r, "offset"), &offset) != 0) {
		web_fail(r, 404, "Not Found", "The offset must be a number "
		    "from 0 to 2^40.");
		return;
	}
	if (offset > 0 && offset >= c.state[si]) {
		web_fail(r, 404, "Not Found", "Past the end: queue %s has %lld "
		    "%s jobs, and this page starts at %lld.", queue,
		    c.state[si], state, offset);
		return;
	}
	snprintf(off, sizeof off, "%lld", offset);
	snprintf(cnt, sizeof cnt, "%d", WEB_PAGE_JOBS);
	argv[0] = state;
	argv[1] = off;
	argv[2] = cnt;
	if ((l = client_fcall(r->w->client, "redjob_list", 1, queue, 3, argv,
	    NULL)) == NULL) {
		web_redis_fail(r, "listing the queue's jobs");
		return;
	}
	snprintf(label, sizeof label, "Queue %s", queue);
	html_begin(r, label);
	web_flash(r);
	html_raw(b, "<div class=\"actions\">");
	if (c.paused) {
		html_raw(b, "<span class=\"paused\">Paused</span>: workers "
		    "take no job from it. ");
		html_form(r, "resume", "queue", queue, "Resume", NULL);
	} else
		html_form(r, "pause", "queue", queue, "Pause", NULL);
	html_raw(b, " Processed %lld, failed %lld, retried %lld, throttled "
	    "%lld, stalled %lld.</div>\n<p class=\"tabs\">", c.processed,
	    c.failed, c.retried, c.throttled, c.stalled);
	for (s = 0; s < nitems(web_states); s++) {
		snprintf(q, sizeof q, "state=%s", web_states[s]);
		html_raw(b, "<a id=\"tab-%s\" href=\"", web_states[s]);
		web_queue_href(b, queue, q);
		html_raw(b, "\"%s>%s (%lld)</a>", (int)s == si ?
		    " class=\"on\"" : "", web_states[s], c.state[s]);
	}
	html_raw(b, "</p>\n");
	if (c.shards > 1) {
		if (web_queue_shards(r, queue) != 0) {
			freeReplyObject(l);
			web_redis_fail(r, "reading the shards' counts");
			return;
		}
		html_end(r);
		web_send(r, 200, "OK");
		freeReplyObject(l);
		return;
	}
	if (si == 3 && c.state[3] > 0) {
		html_raw(b, "<div class=\"actions\">");
		html_form(r, "retry-all", "queue", queue, "Retry all dead",
		    NULL);
		html_raw(b, "<form class=\"inline\" method=\"post\" "
		    "action=\"/action\"><input type=\"hidden\" name=\"csrf\" "
		    "value=\"");
		html_str(b, r->w->csrf);
		html_raw(b, "\"><input type=\"hidden\" name=\"op\" "
		    "value=\"delete-all\"><input type=\"hidden\" "
		    "name=\"queue\" value=\"");
		html_str(b, queue);
		html_raw(b, "\"><label><input type=\"checkbox\" "
		    "name=\"confirm\" value=\"yes\" required> sure</label> "
		    "<button type=\"submit\" class=\"danger\">Delete all dead"
		    "</button></form></div>\n");
	}
	if (l->type != REDIS_REPLY_ARRAY || l->elements == 0)
		html_raw(b, "<p>No %s job.</p>\n", state);
	else {
		html_raw(b, "<table id=\"jobs\"><tr><th>Job</th><th>%s</th>"
		    "<th>Type</th><th>Attempts</th><th></th></tr>\n",
		    si == 2 ? "Lease ends" : si == 3 ? "Died" : "Due");
		for (i = 0; i < l->elements; i++) {
			e = l->element[i];
			if (e->type != REDIS_REPLY_ARRAY || e->elements != 4 ||
			    e->element[0]->type != REDIS_REPLY_STRING ||
			    e->element[2]->type != REDIS_REPLY_STRING)
				continue;
			html_raw(b, "<tr><td>");
			web_job_link(b, e->element[0]->str);
			html_raw(b, "</td><td>");
			html_time(b, cmd_reply_int(e->element[1], &v) == 0 ?
			    v : -1);
			html_raw(b, "</td><td>");
			html_text(b, e->element[2]->str, e->element[2]->len);
			html_raw(b, "</td><td class=\"n\">%lld</td><td>",
			    cmd_reply_int(e->element[3], &v) == 0 ? v : 0);
			if (si != 2)
				html_form(r, "retry", "id", e->element[0]->str,
				    si == 3 ? "Retry" : "Run now", NULL);
			html_form(r, "delete", "id", e->element[0]->str,
			    "Delete", "danger");
			html_raw(b, "</td></tr>\n");
		}
		html_raw(b, "</table>\n");
	}
	html_raw(b, "<p class=\"pager\">");
	if (offset > 0) {
		snprintf(q, sizeof q, "state=%s&amp;offset=%lld", state,
		    offset > WEB_PAGE_JOBS ? offset - WEB_PAGE_JOBS : 0);
		html_raw(b, "<a id=\"prev\" href=\"");
		web_queue_href(b, queue, q);
		html_raw(b, "\">Previous</a> ");
	}
	if (c.state[si] > 0)
		html_raw(b, "%lld-%lld of %lld ", offset + 1,
		    offset + (long long)(l->type == REDIS_REPLY_ARRAY ?
		    l->elements : 0), c.state[si]);
	if (offset + WEB_PAGE_JOBS < c.state[si]) {
		snprintf(q, sizeof q, "state=%s&amp;offset=%lld", state,
		    offset + WEB_PAGE_JOBS);
		html_raw(b, "<a id=\"next\" href=\"");
		web_queue_href(b, queue, q);
		html_raw(b, "\">Next</a>");
	}
	html_raw(b, "</p>\n");
	html_end(r);
	web_send(r, 200, "OK");
	freeReplyObject(l);
}

/* Is a job field a time in ms? */
static int
web_time_field(const char *f)
{
	static const char *const t[] = { "score", "created", "due",
		"claimed", "failed", "died", "started" };
	size_t i;

	for (i = 0; i < nitems(t); i++) {
		if (strcmp(f, t[i]) == 0)
			return 1;
	}
	return 0;
}

/* A field of a flat name, value reply, or NULL. */
static const redisReply *
web_pair(const redisReply *r, const char *name)
{
	size_t i;

	for (i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements;
	    i += 2) {
		if (r->element[i]->type == REDIS_REPLY_STRING &&
		    r->element[i + 1]->type == REDIS_REPLY_STRING &&
		    strcmp(r->element[i]->str, name) == 0)
			return r->element[i + 1];
	}
	return NULL;
}

/*
 * Why a job is not running, or not finished (redjob_why): its gate and
 * sentence, or NULL with the client's error set. Caller frees.
 */
static redisReply *
web_why(struct web *w, const char *queue, const char *id)
{
	return client_fcall(w->client, "redjob_why", 1, queue, 1, &id, NULL);
}

/*
 * Write redjob_why's sentence, with each time it names (the values of
 * until, since and lease, in ms) written as a date.
 */
static void
web_why_text(struct evbuffer *b, const redisReply *y)
{
	static const char *const times[] = { "until", "since", "lease" };
	const redisReply *text = web_pair(y, "text"), *t;
	const char *p, *end, *start;
	size_t i, n;

	p = start = text->str;
	end = text->str + text->len;
	while (p < end) {
		if (*p < '0' || *p > '9' || (p > text->str && p[-1] >= '0' &&
		    p[-1] <= '9')) {
			p++;
			continue;
		}
		n = strspn(p, "0123456789");
		for (i = 0; i < nitems(times); i++) {
			t = web_pair(y, times[i]);
			if (t != NULL && t->len == n &&
			    memcmp(t->str, p, n) == 0)
				break;
		}
		if (i == nitems(times)) {
			p += n;
			continue;
		}
		html_text(b, start, (size_t)(p - start));
		html_time(b, strtoll(p, NULL, 10));
		p += n;
		start = p;
	}
	html_text(b, start, (size_t)(end - start));
}

/* The 404 of a job id that redjob_show does not know. */
static void
web_job_missing(struct web_req *r, const char *queue, const char *id)
{
	const redisReply *gate;
	redisReply *y;

	if ((y = web_why(r->w, queue, id)) != NULL &&
	    (gate = web_pair(y, "gate")) != NULL &&
	    strcmp(gate->str, "done") == 0)
		web_fail(r, 404, "Not Found", "No such job: %s is done, or was "
		    "deleted (a finished job is kept only when its type keeps "
		    "results).", id);
	else
		web_fail(r, 404, "Not Found", "No such job: %s was never "
		    "enqueued.", id);
	if (y != NULL)
		freeReplyObject(y);
}

/*
 * GET /job/ID: every field of a job, its payload and last error, and
 * the result a done job of a type with result: keeps.
 */
void
web_job(struct web_req *r, const char *id)
{
	struct evbuffer *b = r->out;
	char queue[REDJOB_ID_MAX], title[REDJOB_ID_MAX + 8];
	const redisReply *k, *v, *payload = NULL, *lerr = NULL, *gate;
	const redisReply *result = NULL, *size = NULL;
	const char *state = "";
	redisReply *j, *y;
	long long n;
	size_t i;

	if (strlen(id) >= REDJOB_ID_MAX ||
	    schema_job_queue(id, queue, sizeof queue) != 0) {
		web_fail(r, 404, "Not Found", "No such job: \"%s\" is not a "
		    "job id (QUEUE:N, e.g. mail:42).", id);
		return;
	}
	if ((j = client_fcall(r->w->client, "redjob_show", 1, queue, 1, &id,
	    NULL)) == NULL) {
		if (redjob_errcode(r->w->client) == REDJOB_ERR_NOJOB)
			web_job_missing(r, queue, id);
		else
			web_redis_fail(r, id);
		return;
	}
	for (i = 0; i < j->elements; i++) {
		if (j->element[i]->type != REDIS_REPLY_STRING) {
			freeReplyObject(j);
			web_fail(r, 502, "Bad Gateway", "unexpected reply to "
			    "redjob_show");
			return;
		}
	}
	for (i = 0; i + 1 < j->elements; i += 2) {
		if (strcmp(j->element[i]->str, "state") == 0)
			state = j->element[i + 1]->str;
	}
	snprintf(title, sizeof title, "Job %s", id);
	html_begin(r, title);
	web_flash(r);
	html_raw(b, "<div class=\"actions\">");
	if (strcmp(state, "dead") == 0 || strcmp(state, "ready") == 0 ||
	    strcmp(state, "scheduled") == 0)
		html_form(r, "retry", "id", id, strcmp(state, "dead") == 0 ?
		    "Retry" : "Run now", NULL);
	/* Only a job that has not finished can be (redjob_cancel). */
	if (strcmp(state, "ready") == 0 || strcmp(state, "scheduled") == 0 ||
	    strcmp(state, "running") == 0)
		html_form(r, "cancel", "id", id, "Cancel", "danger");
	html_form(r, "delete", "id", id, "Delete", "danger");
	html_raw(b, " In ");
	web_queue_link(b, queue, web_state_index(state) >= 0 ? state : NULL,
	    queue);
	html_raw(b, ".</div>\n");
	/* What holds it; a page without it is still worth showing. */
	if ((y = web_why(r->w, queue, id)) != NULL &&
	    (gate = web_pair(y, "gate")) != NULL &&
	    web_pair(y, "text") != NULL) {
		html_raw(b, "<p id=\"why\"><strong>");
		html_text(b, gate->str, gate->len);
		html_raw(b, "</strong>: ");
		web_why_text(b, y);
		html_raw(b, "</p>\n");
	} else if (y == NULL) {
		html_raw(b, "<p class=\"note\" id=\"why\">Why it waits is "
		    "not known: ");
		html_str(b, redjob_errstr(r->w->client));
		html_raw(b, "</p>\n");
	}
	if (y != NULL)
		freeReplyObject(y);
	html_raw(b, "<table id=\"fields\">\n");
	for (i = 0; i + 1 < j->elements; i += 2) {
		k = j->element[i];
		v = j->element[i + 1];
		if (strcmp(k->str, "payload") == 0) {
			payload = v;
			continue;
		}
		if (strcmp(k->str, "last_error") == 0) {
			lerr = v;
			continue;
		}
		if (strcmp(k->str, "result") == 0) {
			result = v;
			continue;
		}
		if (strcmp(k->str, "result_size") == 0)
			size = v;
		html_raw(b, "<tr><th>");
		html_text(b, k->str, k->len);
		html_raw(b, "</th><td id=\"f-");
		html_url(b, k->str);
		html_raw(b, "\">");
		if (web_time_field(k->str) && cmd_reply_int(v, &n) == 0) {
			html_time(b, n);
			html_raw(b, " <span class=\"note\">(%lld)</span>", n);
		} else if (strcmp(k->str, "worker") == 0) {
			html_raw(b, "<a href=\"/workers#w-");
			html_url(b, v->str);
			html_raw(b, "\">");
			html_text(b, v->str, v->len);
			html_raw(b, "</a>");
		} else
			html_text(b, v->str, v->len);
		html_raw(b, "</td></tr>\n");
	}
	html_raw(b, "</table>\n<h2>Last error</h2>\n");
	if (lerr != NULL) {
		html_raw(b, "<pre id=\"last-error\">");
		html_text(b, lerr->str, lerr->len);
		html_raw(b, "</pre>\n");
	} else
		html_raw(b, "<p class=\"note\">(none)</p>\n");
	html_raw(b, "<h2>Payload</h2>\n");
	if (payload != NULL)
		html_payload(b, payload->str, payload->len);
	else
		html_raw(b, "<p class=\"note\">(none)</p>\n");
	if (result != NULL) {
		html_raw(b, "<h2>Result</h2>\n");
		if (size != NULL && cmd_reply_int(size, &n) == 0 &&
		    n > (long long)result->len)
			html_raw(b, "<p class=\"note\" id=\"result-cut\">"
			    "Truncated: the handler gave %lld bytes, the first "
			    "%zu are kept (its type's result.max).</p>\n", n,
			    result->len);
		html_bytes(b, "result", result->str, result->len);
	}
	html_end(r);
	web_send(r, 200, "OK");
	freeReplyObject(j);
}

/* A time of the registry (server ms) as its age, or "-". */
static void
web_age_cell(struct evbuffer *b, long long then, long long now)
{
	html_raw(b, "<td>");
	if (then <= 0 || now < 0)
		html_raw(b, "-");
	else {
		html_ago(b, now - then);
		html_raw(b, " ago");
	}
	html_raw(b, "</td>");
}

/* The running jobs of a worker: "ID TAB TYPE TAB STARTED_MS" lines. */
static void
web_jobs_cell(struct evbuffer *b, const char *s, long long now)
{
	const char *p, *nl, *t1, *t2;
	char id[REDJOB_ID_MAX];
	size_t len = strlen(s);
	long long started;

	html_raw(b, "<td>");
	for (p = s; p < s + len; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(s + len - p))) == NULL)
			nl = s + len;
		t1 = memchr(p, '\t', (size_t)(nl - p));
		t2 = t1 != NULL ? memchr(t1 + 1, '\t', (size_t)(nl - t1 - 1)) :
		    NULL;
		if (t1 == NULL || t2 == NULL || (size_t)(t1 - p) >= sizeof id) {
			html_text(b, p, (size_t)(nl - p));
			html_raw(b, "<br>");
			continue;
		}
		memcpy(id, p, (size_t)(t1 - p));
		id[t1 - p] = '\0';
		web_job_link(b, id);
		html_raw(b, " ");
		html_text(b, t1 + 1, (size_t)(t2 - t1 - 1));
		started = strtoll(t2 + 1, NULL, 10);
		if (now >= 0 && started > 0) {
			html_raw(b, " <span class=\"note\">for ");
			html_ago(b, now - started);
			html_raw(b, "</span>");
		}
		html_raw(b, "<br>");
	}
	html_raw(b, "</td>");
}

/* GET /workers: the live workers across hosts and what they run. */
void
web_workers(struct web_req *r)
{
	struct evbuffer *b = r->out;
	struct registry_worker *ws, *wk;
	long long now;
	size_t n, i;

	if ((now = registry_now(r->w->client)) < 0) {
		web_redis_fail(r, "reading the server's clock");
		return;
	}
	if (registry_list(r->w->client, &ws, &n) != 0) {
		web_redis_fail(r, "reading the worker registry");
		return;
	}
	html_begin(r, "Workers");
	if (n == 0)
		html_raw(b, "<p>No live worker: no redjobd serves this "
		    "namespace now.</p>\n");
	else
		html_raw(b, "<table id=\"workers\"><tr><th>Worker</th>"
		    "<th>Host</th><th>PID</th><th>Supervisor</th><th>Slot</th>"
		    "<th>Queues</th><th>Busy</th><th>Started</th>"
		    "<th>Seen</th><th>Consumed</th><th>Condition</th>"
		    "<th>Version</th><th>Running jobs</th></tr>\n");
	for (i = 0; i < n; i++) {
		wk = &ws[i];
		html_raw(b, "<tr id=\"w-");
		html_url(b, wk->owner);
		html_raw(b, "\"><td>");
		html_str(b, wk->owner);
		html_raw(b, "</td><td>");
		html_str(b, wk->host);
		html_raw(b, "</td><td>%lld</td><td>%lld</td><td>%lld</td><td>",
		    wk->pid, wk->ppid, wk->slot);
		html_str(b, wk->queues);
		html_raw(b, "</td><td>%lld/%lld</td>", wk->busy, wk->slots);
		web_age_cell(b, wk->started, now);
		web_age_cell(b, wk->seen, now);
		web_age_cell(b, wk->ok, now);
		if (*wk->cond != '\0') {
			html_raw(b, "<td class=\"bad\">");
			html_str(b, wk->cond);
		} else
			html_raw(b, "<td>consuming");
		html_raw(b, "</td><td>");
		html_str(b, wk->version);
		html_raw(b, "</td>");
		web_jobs_cell(b, wk->jobs, now);
		html_raw(b, "</tr>\n");
	}
	if (n > 0)
		html_raw(b, "</table>\n");
	html_end(r);
	web_send(r, 200, "OK");
	registry_free(ws, n);
}

/* A string of a reply, or "" (a field never published). */
static const char *
web_rstr(const redisReply *r)
{
	return r != NULL && r->type == REDIS_REPLY_STRING ? r->str : "";
}

static long long
web_rtime(const redisReply *r)
{
	return r != NULL && r->type == REDIS_REPLY_STRING && r->len > 0 ?
	    strtoll(r->str, NULL, 10) : -1;
}

/*
 * GET /schedules: the periodic jobs of every queue, as the daemons
 * publish them (redjob_schedules; redjob schedules without -c).
 */
void
web_schedules(struct web_req *r)
{
	struct evbuffer *b = r->out;
	redisReply *rep, *e;
	char **names = NULL;
	size_t n = 0, i, k, shown = 0;

	if (web_queues(r->w, &names, &n) != 0) {
		web_redis_fail(r, "listing the queues");
		return;
	}
	html_begin(r, "Schedules");
	for (i = 0; i < n; i++) {
		if ((rep = client_fcall(r->w->client, "redjob_schedules", 1,
		    names[i], 0, NULL, NULL)) == NULL) {
			html_raw(b, "<p class=\"bad\">Queue ");
			html_str(b, names[i]);
			html_raw(b, ": Redis did not answer.</p>\n");
			continue;
		}
		for (k = 0; rep->type == REDIS_REPLY_ARRAY &&
		    k < rep->elements; k++) {
			/* {type, spec, tz, misfire, catchup, next, seen,
			 * last} */
			e = rep->element[k];
			if (e->type != REDIS_REPLY_ARRAY || e->elements < 8)
				continue;
			if (shown++ == 0)
				html_raw(b, "<table id=\"schedules\"><tr>"
				    "<th>Type</th><th>Queue</th><th>Schedule"
				    "</th><th>Time zone</th><th>Misfire</th>"
				    "<th>Last tick</th><th>Next tick</th>"
				    "</tr>\n");
			html_raw(b, "<tr><td>");
			html_str(b, web_rstr(e->element[0]));
			html_raw(b, "</td><td><a href=\"/queue/");
			html_url(b, names[i]);
			html_raw(b, "\">");
			html_str(b, names[i]);
			html_raw(b, "</a></td><td><code>");
			html_str(b, web_rstr(e->element[1]));
			html_raw(b, "</code></td><td>");
			html_str(b, web_rstr(e->element[2]));
			html_raw(b, "</td><td>");
			html_str(b, web_rstr(e->element[3]));
			html_raw(b, "</td><td>");
			html_time(b, web_rtime(e->element[7]));
			html_raw(b, "</td><td>");
			html_time(b, web_rtime(e->element[5]));
			html_raw(b, "</td></tr>\n");
		}
		freeReplyObject(rep);
	}
	if (shown > 0)
		html_raw(b, "</table>\n");
	else
		html_raw(b, "<p>No schedule: no redjobd of this namespace has "
		    "a job type with <code>schedule:</code>.</p>\n");
	html_end(r);
	web_send(r, 200, "OK");
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* GET /dead: every queue that has dead jobs. */
void
web_dead(struct web_req *r)
{
	struct evbuffer *b = r->out;
	struct web_counts c;
	char **names = NULL, num[32];
	size_t n = 0, i, shown = 0;

	if (web_queues(r->w, &names, &n) != 0) {
		web_redis_fail(r, "listing the queues");
		return;
	}
	html_begin(r, "Dead jobs");
	web_flash(r);
	for (i = 0; i < n; i++) {
		if (web_stats(r->w, names[i], &c) != 0) {
			web_redis_fail(r, "reading a queue's counts");
			goto out;
		}
		if (c.state[3] == 0)
			continue;
		if (shown++ == 0)
			html_raw(b, "<table id=\"dead\"><tr><th>Queue</th>"
			    "<th>Dead</th><th></th></tr>\n");
		html_raw(b, "<tr><td>");
		web_queue_link(b, names[i], "dead", names[i]);
		snprintf(num, sizeof num, "%lld", c.state[3]);
		html_raw(b, "</td><td class=\"n\">");
		web_queue_link(b, names[i], "dead", num);
		html_raw(b, "</td><td>");
		html_form(r, "retry-all", "queue", names[i], "Retry all",
		    NULL);
		html_raw(b, "</td></tr>\n");
	}
	if (shown == 0)
		html_raw(b, "<p>No dead job in any queue.</p>\n");
	else
		html_raw(b, "</table>\n<p class=\"note\">Delete dead jobs from "
		    "their queue's page.</p>\n");
	html_end(r);
	web_send(r, 200, "OK");
out:
	client_queues_free(names, n);
}

/*
 * retry-all and delete-all: up to WEB_BATCH of a queue's dead jobs, one
 * library call each. A job that left the dead set meanwhile is skipped.
 */
static void
web_action_all(struct web_req *r, const char *queue, int retry)
{
	const char *argv[3], *id, *fn = retry ? "redjob_retry" :
	    "redjob_remove";
	struct web_counts c;
	char cnt[32], *loc;
	redisReply *l, *x;
	long long done = 0, left;
	size_t i;

	snprintf(cnt, sizeof cnt, "%d", WEB_BATCH);
	argv[0] = "dead";
	argv[1] = "0";
	argv[2] = cnt;
	if ((l = client_fcall(r->w->client, "redjob_list", 1, queue, 3, argv,
	    NULL)) == NULL) {
		web_redis_fail(r, "listing the dead jobs");
		return;
	}
	for (i = 0; l->type == REDIS_REPLY_ARRAY && i < l->elements; i++) {
		if (l->element[i]->type != REDIS_REPLY_ARRAY ||
		    l->element[i]->elements < 1 ||
		    l->element[i]->element[0]->type != REDIS_REPLY_STRING)
			continue;
		id = l->element[i]->element[0]->str;
		if ((x = client_fcall(r->w->client, fn, 0, queue, 1, &id,
		    NULL)) != NULL) {
			freeReplyObject(x);
			done++;
			continue;
		}
		if (redjob_errcode(r->w->client) == REDJOB_ERR_NOJOB ||
		    redjob_errcode(r->w->client) == REDJOB_ERR_STATE)
			continue;
		freeReplyObject(l);
		web_redis_fail(r, retry ? "retrying the dead jobs" :
		    "deleting the dead jobs");
		return;
	}
	freeReplyObject(l);
	left = web_stats(r->w, queue, &c) == 0 ? c.state[3] : 0;
	log_info("%s %lld dead jobs of queue %s", retry ? "retried" :
	    "deleted", done, queue);
	loc = web_queue_path(queue);
	web_redirect(r, "%s%sstate=dead&done=%s&n=%lld&left=%lld", loc,
	    web_queue_sep(loc, 0), retry ? "retry-all" : "delete-all", done,
	    left);
	free(loc);
}

/* POST /action: op with id or queue; the CSRF token is checked already. */
void
web_action(struct web_req *r)
{
	const char *op = web_param(r, "op"), *id = web_param(r, "id");
	const char *queue = web_param(r, "queue"), *confirm, *fn;
	char q[REDJOB_ID_MAX], err[256], *enc, **names;
	redisReply *x;
	size_t n, i;
	int retry;

	if (op == NULL) {
		web_fail(r, 400, "Bad Request", "the form names no action");
		return;
	}
	if (strcmp(op, "cancel") == 0) {
		const char *argv[2] = { id, "cancelled from the dashboard" };

		if (id == NULL || strlen(id) >= REDJOB_ID_MAX ||
		    schema_job_queue(id, q, sizeof q) != 0) {
			web_fail(r, 404, "Not Found", "No such job: \"%s\" is "
			    "not a job id.", id != NULL ? id : "");
			return;
		}
		if ((x = client_fcall(r->w->client, "redjob_cancel", 0, q, 2,
		    argv, NULL)) == NULL) {
			web_redis_fail(r, id);
			return;
		}
		log_info("cancelled %s (was %s)", id,
		    x->type == REDIS_REPLY_STRING ||
		    x->type == REDIS_REPLY_STATUS ? x->str : "?");
		freeReplyObject(x);
		enc = web_encoded(id);
		web_redirect(r, "/job/%s?done=cancel", enc);
		free(enc);
		return;
	}
	if (strcmp(op, "retry") == 0 || strcmp(op, "delete") == 0) {
		retry = op[0] == 'r';
		if (id == NULL || strlen(id) >= REDJOB_ID_MAX ||
		    schema_job_queue(id, q, sizeof q) != 0) {
			web_fail(r, 404, "Not Found", "No such job: \"%s\" is "
			    "not a job id.", id != NULL ? id : "");
			return;
		}
		fn = retry ? "redjob_retry" : "redjob_remove";
		if ((x = client_fcall(r->w->client, fn, 0, q, 1, &id,
		    NULL)) == NULL) {
			web_redis_fail(r, id);
			return;
		}
		log_info("%s %s (was %s)", retry ? "retried" : "deleted", id,
		    x->type == REDIS_REPLY_STRING ||
		    x->type == REDIS_REPLY_STATUS ? x->str : "?");
		freeReplyObject(x);
		if (retry) {
			enc = web_encoded(id);
			web_redirect(r, "/job/%s?done=retry", enc);
		} else {
			enc = web_queue_path(q);
			web_redirect(r, "%s%sdone=delete", enc,
			    web_queue_sep(enc, 0));
		}
		free(enc);
		return;
	}
	if (queue == NULL || schema_check_queue(queue, err, sizeof err) != 0) {
		web_fail(r, 404, "Not Found", "No such queue: %s",
		    queue == NULL ? "the form names none" : err);
		return;
	}
	if (strcmp(op, "pause") == 0 || strcmp(op, "resume") == 0) {
		fn = op[0] == 'p' ? "redjob_pause" : "redjob_resume";
		if (op[0] == 'p' && client_register_queue(r->w->client,
		    queue) != 0) {
			web_redis_fail(r, queue);
			return;
		}
		/* A sharded queue pauses as one. */
		if ((n = web_shards(r->w, queue, &names)) == 0) {
			web_redis_fail(r, queue);
			return;
		}
		for (i = 0; i < n; i++) {
			if ((x = client_fcall(r->w->client, fn, 0, names[i], 0,
			    NULL, NULL)) == NULL)
				break;
			freeReplyObject(x);
		}
		cmd_queue_shards_free(names, n);
		if (i < n) {
			web_redis_fail(r, queue);
			return;
		}
		log_info("%s queue %s", op[0] == 'p' ? "paused" : "resumed",
		    queue);
		enc = web_queue_path(queue);
		web_redirect(r, "%s%sdone=%s", enc, web_queue_sep(enc, 0),
		    op[0] == 'p' ? "pause" : "resume");
		free(enc);
		return;
	}
	if (strcmp(op, "retry-all") == 0) {
		web_action_all(r, queue, 1);
		return;
	}
	if (strcmp(op, "delete-all") == 0) {
		confirm = web_param(r, "confirm");
		if (confirm == NULL || strcmp(confirm, "yes") != 0) {
			web_fail(r, 400, "Bad Request", "Delete all: tick the "
			    "box to confirm.");
			return;
		}
		web_action_all(r, queue, 0);
		return;
	}
	web_fail(r, 400, "Bad Request", "unknown action \"%s\"", op);
}
