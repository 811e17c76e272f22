/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The daemon's counters and histograms (docs/operations.md, metrics).
 *
 * One table of series, each a family and its label values, serves both
 * ends. A worker counts into its own: a job's end costs a hash lookup
 * and an addition, nothing more. With each heartbeat it sends the
 * series that changed since its last send, as deltas, and marks them
 * sent only once the channel took them, so a full channel delays
 * figures but loses none. The supervisor adds the deltas to its table,
 * which lives as long as the daemon: a worker that dies or is replaced
 * by a reload takes nothing with it but what it had not sent yet (at
 * most its last heartbeat's worth, with SIGKILL).
 *
 * Label values are bounded: queues and limiters come from the
 * configuration, a job type it does not name is "other", and Redis
 * errors come in a fixed set of classes.
 */
#include "autoconf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "metrics.h"
#include "channel.h"
#include "compat.h"
#include "config.h"
#include "rfunc.h"
#include "xmalloc.h"

/* Histogram bounds in microseconds; one more bucket for +Inf. */
static const uint64_t metrics_bounds[] = {
	5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000,
	5000000, 10000000, 30000000, 60000000, 300000000, 1800000000,
};
/* The same as Prometheus' "le" labels. */
static const char *const metrics_le[] = {
	"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5",
	"5", "10", "30", "60", "300", "1800", "+Inf",
};
#define METRICS_BUCKETS (nitems(metrics_bounds) + 1)
_Static_assert(nitems(metrics_le) == METRICS_BUCKETS, "one le per bucket");

#define METRICS_HASH 64
#define METRICS_LABEL_MAX 128	/* CONFIG_NAME_MAX in config.c */
#define METRICS_NONE "*"	/* no label, on the channel: not a name */
#define METRICS_SEND_MAX 16	/* datagrams per metrics_send() */

static const struct {
	const char	*name;
	const char	*wire;		/* its name in channel messages */
	const char	*help;
	const char	*l1, *l2;	/* label names, or NULL */
	int		 histogram;
} metrics_families[] = {
	{ "redjob_jobs_processed_total", "processed",
	    "Jobs done: their handler succeeded and Redis acknowledged them.",
	    "queue", "type", 0 },
	{ "redjob_jobs_failed_total", "failed",
	    "Failed attempts recorded in Redis (retried plus dead).",
	    "queue", "type", 0 },
	{ "redjob_jobs_retried_total", "retried",
	    "Failed attempts to be retried after a backoff.",
	    "queue", "type", 0 },
	{ "redjob_jobs_dead_total", "dead",
	    "Jobs moved to the dead set.", "queue", "type", 0 },
	{ "redjob_jobs_cancelled_total", "cancelled",
	    "Jobs this worker held that were cancelled (redjob cancel).",
	    "queue", "type", 0 },
	{ "redjob_job_duration_seconds", "duration",
	    "Run time of job handlers.", "queue", "type", 1 },
	{ "redjob_job_wait_seconds", "wait",
	    "Time from a job's due time to the start of its handler.",
	    "queue", "type", 1 },
	{ "redjob_throttled_total", "throttled",
	    "Jobs a limiter held back, by limiter.", "limiter", NULL, 0 },
	{ "redjob_lock_conflicts_total", "conflicts",
	    "Jobs that found their lock held by another job.", "job_type",
	    NULL, 0 },
	{ "redjob_lock_lost_total", "lock_lost",
	    "Locks lost while their job ran.", NULL, NULL, 0 },
	{ "redjob_redis_errors_total", "redis_errors",
	    "Error replies from Redis and failed or lost connections, by "
	    "class.", "class", NULL, 0 },
	{ "redjob_worker_restarts_total", "restarts",
	    "Workers restarted after they died.", NULL, NULL, 0 },
};
_Static_assert(nitems(metrics_families) == METRICS_FAMILIES,
    "one entry per family");

struct metrics_series {
	struct metrics_series	*next;		/* in its hash chain */
	enum metrics_family	 fam;
	char			*l1, *l2;	/* NULL: no such label */
	uint64_t		 n, n_sent;	/* count or observations */
	uint64_t		 sum, sum_sent;	/* histogram: microseconds */
	uint64_t		 b[METRICS_BUCKETS], b_sent[METRICS_BUCKETS];
};

struct metrics {
	const struct config	*cfg;		/* NULL: the supervisor's */
	struct metrics_series	*hash[METRICS_HASH];
	struct metrics_series	**all;
	size_t			 n, cap;
	unsigned long long	 errors[RFUNC_CLASSES];	/* by rconn.c */
	unsigned long long	 errors_seen[RFUNC_CLASSES];
};

/*
 * The label of a class of Redis error, or NULL for the answers of the
 * library about a job (REDJOB_STALE, ...), which are not faults: Redis
 * error codes as Redis writes them, and three words of ours.
 */
static const char *
metrics_error_class(enum rfunc_class class)
{
	switch (class) {
	case RFUNC_CONN:
		return "connection";
	case RFUNC_NOLIB:
		return "library_missing";
	case RFUNC_BUSY:
		return "BUSY";
	case RFUNC_LOADING:
		return "LOADING";
	case RFUNC_READONLY:
		return "READONLY";
	case RFUNC_OOM:
		return "OOM";
	case RFUNC_MISCONF:
		return "MISCONF";
	case RFUNC_MASTERDOWN:
		return "MASTERDOWN";
	case RFUNC_TRYAGAIN:
		return "TRYAGAIN";
	case RFUNC_UNBLOCKED:
		return "UNBLOCKED";
	case RFUNC_AUTH:
		return "AUTH";
	case RFUNC_NOPERM:
		return "NOPERM";
	case RFUNC_OTHER:
		return "other";
	case RFUNC_OK:
	case RFUNC_STALE:
	case RFUNC_BADARG:
	case RFUNC_BADKEY:
	case RFUNC_BADID:
	case RFUNC_TOOBIG:
	case RFUNC_NOJOB:
	case RFUNC_RUNNING:
	case RFUNC_FINISHED:
	case RFUNC_SCHEMA:
		break;
	}
	return NULL;
}

/*
 * A table. cfg bounds the job types a worker's labels name (the others
 * are METRICS_OTHER); the supervisor passes NULL, and takes its workers'.
 */
struct metrics *
metrics_create(const struct config *cfg)
{
	struct metrics *m;

	m = xcalloc(1, sizeof *m);
	m->cfg = cfg;
	return m;
}

void
metrics_free(struct metrics *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->n; i++) {
		free(m->all[i]->l1);
		free(m->all[i]->l2);
		free(m->all[i]);
	}
	free(m->all);
	free(m);
}

static unsigned
metrics_hash(enum metrics_family f, const char *l1, const char *l2)
{
	uint32_t h = 2166136261U ^ (uint32_t)f;
	const char *s;

	for (s = l1; s != NULL && *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619U;
	h = (h ^ 0xff) * 16777619U;
	for (s = l2; s != NULL && *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619U;
	return h % METRICS_HASH;
}

static int
metrics_label_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* The series of f with these labels, made if it is new. */
static struct metrics_series *
metrics_series(struct metrics *m, enum metrics_family f, const char *l1,
    const char *l2)
{
	struct metrics_series *s;
	unsigned h;

	if (metrics_families[f].l1 == NULL)
		l1 = NULL;
	if (metrics_families[f].l2 == NULL)
		l2 = NULL;
	h = metrics_hash(f, l1, l2);
	for (s = m->hash[h]; s != NULL; s = s->next) {
		if (s->fam == f && metrics_label_eq(s->l1, l1) &&
		    metrics_label_eq(s->l2, l2))
			return s;
	}
	s = xcalloc(1, sizeof *s);
	s->fam = f;
	s->l1 = l1 != NULL ? xstrdup(l1) : NULL;
	s->l2 = l2 != NULL ? xstrdup(l2) : NULL;
	s->next = m->hash[h];
	m->hash[h] = s;
	if (m->n == m->cap) {
		m->cap = m->cap == 0 ? 16 : m->cap * 2;
		m->all = xreallocarray(m->all, m->cap, sizeof *m->all);
	}
	m->all[m->n++] = s;
	return s;
}

/* A job type as a label: one the configuration names, or "other". */
static const char *
metrics_type(const struct metrics *m, const char *type)
{
	if (m->cfg == NULL)
		return type;
	if (type == NULL || config_find_job(m->cfg, type) == NULL)
		return METRICS_OTHER;
	return type;
}

/*
 * Count one: a job of queue l1 and type l2 for the job families, the
 * limiter l1 for METRICS_THROTTLED, the job type l1 for
 * METRICS_CONFLICTS; labels a family does not have are ignored.
 */
void
metrics_count(struct metrics *m, enum metrics_family f, const char *l1,
    const char *l2)
{
	if (m == NULL)
		return;
	if (f == METRICS_CONFLICTS)
		l1 = metrics_type(m, l1);
	else if (metrics_families[f].l2 != NULL)
		l2 = metrics_type(m, l2);
	if (l1 == NULL)
		l1 = METRICS_OTHER;	/* unknown: never "(null)" */
	metrics_series(m, f, l1, l2)->n++;
}

/* Observe us microseconds in histogram f of a job of queue and type. */
void
metrics_observe(struct metrics *m, enum metrics_family f, const char *queue,
    const char *type, uint64_t us)
{
	struct metrics_series *s;
	size_t i;

	if (m == NULL)
		return;
	s = metrics_series(m, f, queue, metrics_type(m, type));
	for (i = 0; i < nitems(metrics_bounds); i++) {
		if (us <= metrics_bounds[i])
			break;
	}
	s->b[i]++;
	s->n++;
	s->sum += us;
}

/* The counters a worker's connections count their errors in (rconn_opts). */
unsigned long long *
metrics_redis_errors(struct metrics *m)
{
	return m->errors;
}

/* Take the connections' error counts into the table. */
static void
metrics_sync_errors(struct metrics *m)
{
	const char *name;
	int c;

	for (c = 0; c < RFUNC_CLASSES; c++) {
		if (m->errors[c] == m->errors_seen[c])
			continue;
		if ((name = metrics_error_class((enum rfunc_class)c)) != NULL)
			metrics_series(m, METRICS_REDIS_ERRORS, name, NULL)->n +=
			    m->errors[c] - m->errors_seen[c];
		m->errors_seen[c] = m->errors[c];
	}
}

/* The line of s's change since its last send, into buf; its length. */
static size_t
metrics_line(const struct metrics_series *s, char *buf, size_t len)
{
	size_t n, k;

	if (!metrics_families[s->fam].histogram)
		return (size_t)snprintf(buf, len, "MC %s %s %s %" PRIu64,
		    metrics_families[s->fam].wire,
		    s->l1 != NULL ? s->l1 : METRICS_NONE,
		    s->l2 != NULL ? s->l2 : METRICS_NONE, s->n - s->n_sent);
	n = (size_t)snprintf(buf, len, "MH %s %s %s %" PRIu64,
	    metrics_families[s->fam].wire, s->l1, s->l2, s->sum - s->sum_sent);
	for (k = 0; k < METRICS_BUCKETS && n < len; k++)
		n += (size_t)snprintf(buf + n, len - n, " %" PRIu64,
		    s->b[k] - s->b_sent[k]);
	return n;
}

/* The series from..to-1 went: what they hold now is sent. */
static void
metrics_sent(struct metrics *m, size_t from, size_t to)
{
	struct metrics_series *s;

	for (; from < to; from++) {
		s = m->all[from];
		s->n_sent = s->n;
		s->sum_sent = s->sum;
		memcpy(s->b_sent, s->b, sizeof s->b_sent);
	}
}

/*
 * Send the supervisor what changed since the last send: a line per
 * series (channel.h), "MC FAMILY L1 L2 N" for a counter, "MH FAMILY
 * QUEUE TYPE SUM_US C0 ... C15" for a histogram with the bucket counts
 * not cumulated, as many lines to a datagram as fit. At most
 * METRICS_SEND_MAX datagrams a call, so that a burst of changes never
 * fills the channel ahead of the other messages; the rest, and what the
 * channel refuses, goes with the next heartbeat.
 */
void
metrics_send(struct metrics *m, int fd)
{
	char buf[CHANNEL_MAX], line[CHANNEL_MAX];
	size_t i, first = 0, len = 0, n;
	unsigned sent = 0;

	if (m == NULL || fd < 0)
		return;
	metrics_sync_errors(m);
	for (i = 0; i < m->n; i++) {
		if (m->all[i]->n == m->all[i]->n_sent)
			continue;
		if ((n = metrics_line(m->all[i], line, sizeof line)) >=
		    sizeof line)
			continue;	/* cannot be: names are short */
		if (len > 0 && len + 1 + n >= sizeof buf) {
			if (channel_send(fd, "%s", buf) != 0)
				return;
			metrics_sent(m, first, i);
			if (++sent == METRICS_SEND_MAX)
				return;
			len = 0;
		}
		if (len == 0)
			first = i;
		else
			buf[len++] = '\n';
		memcpy(buf + len, line, n + 1);
		len += n;
	}
	if (len > 0 && channel_send(fd, "%s", buf) == 0)
		metrics_sent(m, first, m->n);
}

/* A label from the channel: a configuration name, or none. */
static int
metrics_label(const char *tok, const char *want, const char **out)
{
	size_t n;

	if (tok == NULL)
		return -1;
	if (want == NULL) {
		*out = NULL;
		return strcmp(tok, METRICS_NONE) == 0 ? 0 : -1;
	}
	n = strlen(tok);
	*out = tok;
	return n > 0 && n <= METRICS_LABEL_MAX && strspn(tok,
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_.:-") == n ? 0 : -1;
}

static int
metrics_u64(const char *tok, uint64_t *v)
{
	char *end;

	if (tok == NULL || *tok < '0' || *tok > '9')
		return -1;
	*v = strtoull(tok, &end, 10);
	return *end == '\0' ? 0 : -1;
}

/* Take one line of metrics_send(): 0, or -1 if it is malformed. */
static int
metrics_recv_line(struct metrics *m, char *line)
{
	char *tok[4 + METRICS_BUCKETS + 1], *p, *save;
	const char *l1, *l2;
	struct metrics_series *s;
	uint64_t v[1 + METRICS_BUCKETS], n = 0;
	size_t nt = 0, i;
	int hist, f;

	if (strncmp(line, "MC ", 3) != 0 && strncmp(line, "MH ", 3) != 0)
		return -1;
	hist = line[1] == 'H';
	for (p = strtok_r(line, " ", &save); p != NULL && nt < nitems(tok);
	    p = strtok_r(NULL, " ", &save))
		tok[nt++] = p;
	if (p != NULL || nt != (hist ? 4 + METRICS_BUCKETS + 1 : 5))
		return -1;
	for (f = 0; f < METRICS_FAMILIES; f++) {
		if (strcmp(tok[1], metrics_families[f].wire) == 0)
			break;
	}
	if (f == METRICS_FAMILIES || metrics_families[f].histogram != hist ||
	    metrics_label(tok[2], metrics_families[f].l1, &l1) != 0 ||
	    metrics_label(tok[3], metrics_families[f].l2, &l2) != 0)
		return -1;
	for (i = 4; i < nt; i++) {
		if (metrics_u64(tok[i], &v[i - 4]) != 0)
			return -1;
	}
	s = metrics_series(m, (enum metrics_family)f, l1, l2);
	if (!hist) {
		s->n += v[0];
		return 0;
	}
	s->sum += v[0];
	for (i = 0; i < METRICS_BUCKETS; i++) {
		s->b[i] += v[1 + i];
		n += v[1 + i];
	}
	s->n += n;
	return 0;
}

/*
 * Take a message of metrics_send() into the table: its lines, each on
 * its own (a malformed one is left out). Returns 0, or -1 if msg is not
 * such a message or holds a malformed line.
 */
int
metrics_recv(struct metrics *m, const char *msg)
{
	char buf[CHANNEL_MAX], *line, *save;
	int r = 0;

	if (strncmp(msg, "MC ", 3) != 0 && strncmp(msg, "MH ", 3) != 0)
		return -1;
	snprintf(buf, sizeof buf, "%s", msg);
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (metrics_recv_line(m, line) != 0)
			r = -1;
	}
	return r;
}

static int
metrics_cmp(const void *a, const void *b)
{
	const struct metrics_series *x = *(struct metrics_series *const *)a;
	const struct metrics_series *y = *(struct metrics_series *const *)b;
	int c;

	if (x->fam != y->fam)
		return x->fam < y->fam ? -1 : 1;
	if ((c = strcmp(x->l1 != NULL ? x->l1 : "",
	    y->l1 != NULL ? y->l1 : "")) != 0)
		return c;
	return strcmp(x->l2 != NULL ? x->l2 : "", y->l2 != NULL ? y->l2 : "");
}

/* The labels of s, "{queue=\"mail\",type=\"send\"", without the brace's end. */
static void
metrics_labels(struct evbuffer *out, const struct metrics_series *s)
{
	const char *l1 = metrics_families[s->fam].l1;
	const char *l2 = metrics_families[s->fam].l2;

	evbuffer_add(out, "{", 1);
	if (l1 != NULL)
		evbuffer_add_printf(out, "%s=\"%s\"", l1, s->l1);
	if (l2 != NULL)
		evbuffer_add_printf(out, ",%s=\"%s\"", l2, s->l2);
}

/*
 * Append the table in Prometheus' text format 0.0.4: every family with
 * its HELP and TYPE, its series sorted by labels; the counters without
 * labels are there from the start, at 0. Label values need no escaping:
 * they are configuration names ([A-Za-z0-9_.:-]) or our own words.
 */
void
metrics_render(struct metrics *m, struct evbuffer *out)
{
	struct metrics_series **v, *s;
	uint64_t cum;
	size_t i, k;
	int f;

	metrics_sync_errors(m);
	(void)metrics_series(m, METRICS_LOCK_LOST, NULL, NULL);
	(void)metrics_series(m, METRICS_RESTARTS, NULL, NULL);
	v = xreallocarray(NULL, m->n + 1, sizeof *v);
	memcpy(v, m->all, m->n * sizeof *v);
	qsort(v, m->n, sizeof *v, metrics_cmp);
	for (f = 0, i = 0; f < METRICS_FAMILIES; f++) {
		evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n",
		    metrics_families[f].name, metrics_families[f].help,
		    metrics_families[f].name, metrics_families[f].histogram ?
		    "histogram" : "counter");
		for (; i < m->n && v[i]->fam == (enum metrics_family)f; i++) {
			s = v[i];
			if (!metrics_families[f].histogram) {
				evbuffer_add_printf(out, "%s",
				    metrics_families[f].name);
				if (s->l1 != NULL) {
					metrics_labels(out, s);
					evbuffer_add(out, "}", 1);
				}
				evbuffer_add_printf(out, " %" PRIu64 "\n", s->n);
				continue;
			}
			for (cum = 0, k = 0; k < METRICS_BUCKETS; k++) {
				cum += s->b[k];
				evbuffer_add_printf(out, "%s_bucket",
				    metrics_families[f].name);
				metrics_labels(out, s);
				evbuffer_add_printf(out, ",le=\"%s\"} %" PRIu64
				    "\n", metrics_le[k], cum);
			}
			evbuffer_add_printf(out, "%s_sum", metrics_families[f].name);
			metrics_labels(out, s);
			evbuffer_add_printf(out, "} %" PRIu64 ".%06" PRIu64 "\n",
			    s->sum / 1000000, s->sum % 1000000);
			evbuffer_add_printf(out, "%s_count",
			    metrics_families[f].name);
			metrics_labels(out, s);
			evbuffer_add_printf(out, "} %" PRIu64 "\n", s->n);
		}
	}
	free(v);
}
