/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The configuration of redjobd: read redjob.yml with libyaml's document
 * API, check every key and value, and build an immutable struct config
 * (redjob.yml(5)). Every problem becomes a diagnostic that points at its node
 * (the key for unknown and repeated keys, the value for bad values), and
 * loading carries on after one so that a single run reports them all, in
 * the order of the file. This module decides what is valid; what the
 * settings do is up to the modules that read struct config.
 */
#include "autoconf.h"

#include <sys/stat.h>
#include <sys/un.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include "config.h"
#include "duration.h"
#include "log.h"
#include "schema.h"
#include "template.h"
#include "url.h"
#include "xmalloc.h"

/* A configuration file bigger than this is surely a mistake. */
#define CONFIG_FILE_MAX (4 * 1024 * 1024)

/* struct url keeps the password in 512 bytes, NUL included. */
#define CONFIG_PASSWORD_MAX (sizeof(((struct url *)0)->password) - 1)

#define CONFIG_NAME_MAX 128
#define CONFIG_SOCKET_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)
#define CONFIG_PAYLOAD_MAX (512ULL * 1024 * 1024)
#define CONFIG_BATCH_MAX 1000	/* CLAIM_MAX in redjob.lua */

/* The state of one config_load(). */
struct load {
	const char	*file;
	struct diags	*d;
	yaml_document_t	*doc;
	struct config	*cfg;
	size_t		*pairbase;	/* by node: its first pair in dup */
	unsigned char	*dup;		/* by pair: repeats an earlier key */
	int		 queues_bad;	/* so skip checks against them */
	int		 limiters_bad;
};

/* One key of a mapping and its value. */
struct pair {
	yaml_node_t	*key;
	yaml_node_t	*value;
};

static const char *const config_top_keys[] = {
	"redis", "workers", "concurrency", "shutdown_timeout", "lease",
	"max_stalls", "batch", "max_payload", "log_level", "queues",
	"limiters", "jobs",
};
enum {
	TOP_REDIS, TOP_WORKERS, TOP_CONCURRENCY, TOP_SHUTDOWN_TIMEOUT,
	TOP_LEASE, TOP_MAX_STALLS, TOP_BATCH, TOP_MAX_PAYLOAD, TOP_LOG_LEVEL,
	TOP_QUEUES, TOP_LIMITERS, TOP_JOBS, TOP_N
};

static const char *const config_redis_keys[] = {
	"url", "password_file", "namespace", "embedded",
};
enum { REDIS_URL, REDIS_PASSWORD_FILE, REDIS_NAMESPACE, REDIS_EMBEDDED,
	REDIS_N };

static const char *const config_embedded_keys[] = {
	"dir", "socket", "server",
};
enum { EMB_DIR, EMB_SOCKET, EMB_SERVER, EMB_N };

static const char *const config_limiter_keys[] = {
	"kind", "limit", "period", "capacity", "rate", "burst", "lease", "key",
};
enum { LIM_KIND, LIM_LIMIT, LIM_PERIOD, LIM_CAPACITY, LIM_RATE, LIM_BURST,
	LIM_LEASE, LIM_KEY, LIM_N };

/* In the order of enum limiter_kind. */
static const char *const config_limiter_kinds[] = {
	"window", "funnel", "gcra", "concurrency",
};

#define LK(k) (1U << (k))
/* The keys each kind of limiter takes, and those it cannot do without. */
static const unsigned config_limiter_takes[] = {
	LK(LIM_KIND) | LK(LIM_LIMIT) | LK(LIM_PERIOD) | LK(LIM_KEY),
	LK(LIM_KIND) | LK(LIM_CAPACITY) | LK(LIM_RATE) | LK(LIM_KEY),
	LK(LIM_KIND) | LK(LIM_RATE) | LK(LIM_BURST) | LK(LIM_KEY),
	LK(LIM_KIND) | LK(LIM_LIMIT) | LK(LIM_LEASE) | LK(LIM_KEY),
};
static const unsigned config_limiter_needs[] = {
	LK(LIM_LIMIT) | LK(LIM_PERIOD),
	LK(LIM_CAPACITY) | LK(LIM_RATE),
	LK(LIM_RATE),
	LK(LIM_LIMIT),
};

static const char *const config_job_keys[] = {
	"queue", "exec", "plugin", "timeout", "retry", "lock", "limit", "env",
	"cwd",
};
enum { JOB_QUEUE, JOB_EXEC, JOB_PLUGIN, JOB_TIMEOUT, JOB_RETRY, JOB_LOCK,
	JOB_LIMIT, JOB_ENV, JOB_CWD, JOB_N };

static const char *const config_plugin_keys[] = { "path", "symbol" };
enum { PLUGIN_PATH, PLUGIN_SYMBOL, PLUGIN_N };

static const char *const config_retry_keys[] = {
	"max_attempts", "backoff", "base", "max", "jitter",
};
enum { RETRY_MAX_ATTEMPTS, RETRY_BACKOFF, RETRY_BASE, RETRY_MAX,
	RETRY_JITTER, RETRY_N };

/* In the order of enum backoff_kind. */
static const char *const config_backoffs[] = {
	"exponential", "linear", "fixed",
};

static const char *const config_lock_keys[] = {
	"key", "ttl", "on_conflict", "requeue_delay",
};
enum { LOCK_KEY, LOCK_TTL, LOCK_ON_CONFLICT, LOCK_REQUEUE_DELAY, LOCK_N };

/* In the order of enum on_conflict. */
static const char *const config_conflicts[] = {
	"requeue", "fail", "discard",
};

static const char *const config_log_levels[] = {
	"error", "warning", "info", "debug",
};

/* Append a diagnostic built from a va_list. */
static void
diags_vadd(struct diags *d, const char *file, unsigned line, unsigned col,
    const char *fmt, va_list ap)
{
	struct diag *dg;
	char *msg;

	if (vasprintf(&msg, fmt, ap) < 0) {
		fprintf(stderr, "out of memory formatting a diagnostic\n");
		abort();
	}
	d->v = xreallocarray(d->v, d->n + 1, sizeof *d->v);
	dg = &d->v[d->n++];
	dg->file = xstrdup(file);
	dg->line = line;
	dg->col = col;
	dg->msg = msg;
}

/*
 * Append the diagnostic "FILE:LINE:COL: message" to d. Line and column are
 * 1-based; line 0 means the file as a whole (it could not be read).
 */
void
diags_add(struct diags *d, const char *file, unsigned line, unsigned col,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diags_vadd(d, file, line, col, fmt, ap);
	va_end(ap);
}

/* Print every diagnostic to fp (a FILE *), one "FILE:LINE:COL: msg" a line. */
void
diags_print(const struct diags *d, void *fp)
{
	const struct diag *dg;
	size_t i;

	for (i = 0; i < d->n; i++) {
		dg = &d->v[i];
		if (dg->line == 0)
			fprintf(fp, "%s: %s\n", dg->file, dg->msg);
		else
			fprintf(fp, "%s:%u:%u: %s\n", dg->file, dg->line,
			    dg->col, dg->msg);
	}
}

/* Free the diagnostics and leave d empty, ready for reuse. */
void
diags_free(struct diags *d)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		free(d->v[i].file);
		free(d->v[i].msg);
	}
	free(d->v);
	d->v = NULL;
	d->n = 0;
}

/* A diagnostic with its place in the list, to sort them stably. */
struct diag_seq {
	struct diag	 dg;
	size_t		 seq;
};

/* Order diagnostics by position, then by the order they were found. */
static int
diags_cmp(const void *a, const void *b)
{
	const struct diag_seq *x = a, *y = b;

	if (x->dg.line != y->dg.line)
		return x->dg.line < y->dg.line ? -1 : 1;
	if (x->dg.col != y->dg.col)
		return x->dg.col < y->dg.col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * Sort the diagnostics from index first on into the order of the file.
 * The sections are checked in dependency order (queues and limiters
 * before the jobs naming them), not in the order they are written.
 */
static void
diags_sort(struct diags *d, size_t first)
{
	struct diag_seq *v;
	size_t i, n = d->n - first;

	if (n < 2)
		return;
	v = xreallocarray(NULL, n, sizeof *v);
	for (i = 0; i < n; i++) {
		v[i].dg = d->v[first + i];
		v[i].seq = i;
	}
	qsort(v, n, sizeof *v, diags_cmp);
	for (i = 0; i < n; i++)
		d->v[first + i] = v[i].dg;
	free(v);
}

/*
 * Add a diagnostic at node n. The message is prefixed with "PATH: " when
 * path is not empty.
 */
static void printflike(4, 5)
config_error(struct load *ld, const yaml_node_t *n, const char *path,
    const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0) {
		fprintf(stderr, "out of memory formatting a diagnostic\n");
		abort();
	}
	va_end(ap);
	if (*path != '\0')
		diags_add(ld->d, ld->file, n->start_mark.line + 1,
		    n->start_mark.column + 1, "%s: %s", path, msg);
	else
		diags_add(ld->d, ld->file, n->start_mark.line + 1,
		    n->start_mark.column + 1, "%s", msg);
	free(msg);
}

/* Return the path of key under parent ("jobs.mail"). Caller frees. */
static char *
config_path(const char *parent, const char *key)
{
	char *p;

	if (*parent == '\0')
		return xstrdup(key);
	xasprintf(&p, "%s.%s", parent, key);
	return p;
}

/* Return the node with the given index in the document. */
static yaml_node_t *
config_node(struct load *ld, int id)
{
	return yaml_document_get_node(ld->doc, id);
}

/* Return the text of a scalar node; it belongs to the document. */
static const char *
config_text(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* Tell whether n is a plain null scalar: empty, "~" or "null". */
static int
config_is_null(const yaml_node_t *n)
{
	const char *s;

	if (n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	s = config_text(n);
	return *s == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	    strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

/*
 * Describe n for "expected X, got Y": "a mapping", "a sequence", "an empty
 * value", "null", or the quoted text (shortened). Returns buf.
 */
static const char *
config_what(const yaml_node_t *n, char *buf, size_t len)
{
	const char *s;

	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a sequence";
	case YAML_SCALAR_NODE:
		s = config_text(n);
		if (config_is_null(n))
			return *s == '\0' ? "an empty value" : "null";
		if (strlen(s) > 40)
			snprintf(buf, len, "\"%.37s...\"", s);
		else
			snprintf(buf, len, "\"%s\"", s);
		return buf;
	default:
		return "nothing";
	}
}

/*
 * Return the edit distance of a and b, ignoring case, with a swap of two
 * neighbours counting as one edit (optimal string alignment). Words
 * longer than 64 bytes are "far" (SIZE_MAX).
 */
static size_t
config_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j, c, v;
	size_t d[65][65];

	if (la > 64 || lb > 64)
		return (size_t)-1;
	for (i = 0; i <= la; i++)
		d[i][0] = i;
	for (j = 0; j <= lb; j++)
		d[0][j] = j;
	for (i = 1; i <= la; i++) {
		for (j = 1; j <= lb; j++) {
			c = tolower((unsigned char)a[i - 1]) !=
			    tolower((unsigned char)b[j - 1]);
			v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + c < v)
				v = d[i - 1][j - 1] + c;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	}
	return d[la][lb];
}

/*
 * Return the candidate closest to word if it is close enough to be what
 * was meant (one edit in a name of up to 4 bytes, two up to 8, else
 * three), or NULL.
 */
static const char *
config_suggest(const char *word, const char *const *cands, size_t n)
{
	const char *best = NULL;
	size_t i, d, bestd = (size_t)-1, len, max;

	for (i = 0; i < n; i++) {
		len = strlen(cands[i]);
		max = len <= 4 ? 1 : len <= 8 ? 2 : 3;
		d = config_distance(word, cands[i]);
		if (d <= max && d < strlen(word) && d < bestd) {
			best = cands[i];
			bestd = d;
		}
	}
	return best;
}

/* Write "a, b, c or d" (or "and d", after conj) into buf. Returns buf. */
static const char *
config_list(const char *const *v, size_t n, const char *conj, char *buf,
    size_t len)
{
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < n && off < len; i++) {
		off += snprintf(buf + off, len - off, "%s%s",
		    i == 0 ? "" : i < n - 1 ? ", " : conj, v[i]);
	}
	return buf;
}

/*
 * Write " (did you mean \"X\"?)" into buf if a candidate is close to word,
 * otherwise " (expected A, B or C)", or "" with no candidates. Returns
 * buf.
 */
static const char *
config_hint(const char *word, const char *const *cands, size_t n, char *buf,
    size_t len)
{
	const char *s;
	char list[512];

	if ((s = config_suggest(word, cands, n)) != NULL)
		snprintf(buf, len, " (did you mean \"%s\"?)", s);
	else if (n > 0)
		snprintf(buf, len, " (expected %s)",
		    config_list(cands, n, " or ", list, sizeof list));
	else
		buf[0] = '\0';
	return buf;
}

/* Return the number of pairs of a mapping node, 0 for anything else. */
static size_t
config_npairs(const yaml_node_t *n)
{
	if (n->type != YAML_MAPPING_NODE)
		return 0;
	return (size_t)(n->data.mapping.pairs.top -
	    n->data.mapping.pairs.start);
}

/* A key of one mapping, for finding repeated keys by sorting. */
struct dup_key {
	const char	*s;
	size_t		 len;
	size_t		 pair;
};

/* Order keys by text, then by position in the mapping. */
static int
config_dup_cmp(const void *a, const void *b)
{
	const struct dup_key *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c;

	if ((c = memcmp(x->s, y->s, n)) != 0)
		return c;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return x->pair < y->pair ? -1 : x->pair > y->pair;
}

/* Tell whether two keys have the same text. */
static int
config_dup_same(const struct dup_key *a, const struct dup_key *b)
{
	return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
}

/*
 * Report each key of mapping n (the node at index i) that repeats an
 * earlier one, and mark it in ld->dup. Sorting the keys keeps this
 * O(n log n) for a mapping of any size.
 */
static void
config_dups_map(struct load *ld, size_t i, yaml_node_t *n)
{
	yaml_node_pair_t *pairs = n->data.mapping.pairs.start;
	yaml_node_t *k, *first;
	struct dup_key *keys;
	size_t npairs, nk = 0, j;

	npairs = config_npairs(n);
	keys = xreallocarray(NULL, npairs, sizeof *keys);
	for (j = 0; j < npairs; j++) {
		k = config_node(ld, pairs[j].key);
		if (k == NULL || k->type != YAML_SCALAR_NODE)
			continue;
		keys[nk].s = config_text(k);
		keys[nk].len = k->data.scalar.length;
		keys[nk].pair = j;
		nk++;
	}
	qsort(keys, nk, sizeof *keys, config_dup_cmp);
	first = NULL;
	for (j = 1; j < nk; j++) {
		if (!config_dup_same(&keys[j], &keys[j - 1])) {
			first = NULL;
			continue;
		}
		/* The first of a run of equal keys is the one that stays. */
		if (first == NULL)
			first = config_node(ld, pairs[keys[j - 1].pair].key);
		k = config_node(ld, pairs[keys[j].pair].key);
		ld->dup[ld->pairbase[i] + keys[j].pair] = 1;
		config_error(ld, k, "", "duplicate key \"%.*s\" (first given "
		    "at line %zu, column %zu)",
		    keys[j].len > 64 ? 64 : (int)keys[j].len, keys[j].s,
		    first->start_mark.line + 1, first->start_mark.column + 1);
	}
	free(keys);
}

/*
 * Find repeated keys in every mapping of the document, report each one
 * after the first, and mark it so that the schema walk skips it. libyaml
 * keeps duplicates silently; walking the node array rather than the tree
 * checks mappings under unknown keys too, and each mapping once even when
 * aliases share it.
 */
static void
config_dups(struct load *ld)
{
	yaml_node_t *n;
	size_t nnodes, i, total = 0;

	nnodes = (size_t)(ld->doc->nodes.top - ld->doc->nodes.start);
	ld->pairbase = xcalloc(nnodes + 1, sizeof *ld->pairbase);
	for (i = 0; i < nnodes; i++) {
		ld->pairbase[i] = total;
		total += config_npairs(&ld->doc->nodes.start[i]);
	}
	ld->pairbase[nnodes] = total;
	ld->dup = xcalloc(total + 1, 1);
	for (i = 0; i < nnodes; i++) {
		n = &ld->doc->nodes.start[i];
		if (n->type == YAML_MAPPING_NODE)
			config_dups_map(ld, i, n);
	}
}

/*
 * Return the text of key node k of pair number i of mapping map, or NULL
 * if the pair is to be skipped: a key that is not a string (reported
 * here) or that repeats an earlier one (reported by config_dups()).
 */
static const char *
config_key(struct load *ld, yaml_node_t *map, size_t i, const char *path,
    struct pair *out)
{
	yaml_node_pair_t *p = &map->data.mapping.pairs.start[i];
	size_t idx = (size_t)(map - ld->doc->nodes.start);
	char buf[64];

	out->key = config_node(ld, p->key);
	out->value = config_node(ld, p->value);
	if (ld->dup[ld->pairbase[idx] + i])
		return NULL;
	if (out->key->type != YAML_SCALAR_NODE || config_is_null(out->key)) {
		config_error(ld, out->key, path, "a key must be a string, "
		    "got %s", config_what(out->key, buf, sizeof buf));
		return NULL;
	}
	if (strlen(config_text(out->key)) != out->key->data.scalar.length) {
		config_error(ld, out->key, path, "a key must not contain a NUL "
		    "byte");
		return NULL;
	}
	return config_text(out->key);
}

/*
 * Check that n is a mapping (null counts as an empty one) whose keys are
 * all among keys[0..nkeys - 1], and store each pair in found[] by the
 * index of its key; absent keys stay zeroed. Unknown keys are reported
 * with a suggestion. what names the mapping in the type error. Returns 0,
 * or -1 if n is not a mapping.
 */
static int
config_fields(struct load *ld, yaml_node_t *n, const char *path,
    const char *what, const char *const *keys, size_t nkeys,
    struct pair *found)
{
	struct pair p;
	const char *k;
	size_t i, j;
	char buf[64], hint[600];

	memset(found, 0, nkeys * sizeof *found);
	if (config_is_null(n))
		return 0;
	if (n->type != YAML_MAPPING_NODE) {
		config_error(ld, n, path, "expected %s, got %s", what,
		    config_what(n, buf, sizeof buf));
		return -1;
	}
	for (i = 0; i < config_npairs(n); i++) {
		if ((k = config_key(ld, n, i, path, &p)) == NULL)
			continue;
		for (j = 0; j < nkeys; j++) {
			if (strcmp(k, keys[j]) == 0)
				break;
		}
		if (j == nkeys) {
			config_error(ld, p.key, path, "unknown key \"%.64s\"%s",
			    k, config_hint(k, keys, nkeys, hint, sizeof hint));
			continue;
		}
		found[j] = p;
	}
	return 0;
}

/*
 * Return the text of n if it is a scalar and not null, or NULL after
 * reporting "PATH: expected WHAT, got ...". The text belongs to the
 * document.
 */
static const char *
config_scalar(struct load *ld, yaml_node_t *n, const char *path,
    const char *what)
{
	char buf[64];

	if (n->type != YAML_SCALAR_NODE || config_is_null(n)) {
		config_error(ld, n, path, "expected %s, got %s", what,
		    config_what(n, buf, sizeof buf));
		return NULL;
	}
	if (strlen(config_text(n)) != n->data.scalar.length) {
		config_error(ld, n, path, "must not contain a NUL byte");
		return NULL;
	}
	return config_text(n);
}

/*
 * Store a copy of the string n in *out (freeing the old one), or report.
 * An empty string is refused unless empty_ok. Returns 0 or -1.
 */
static int
config_string(struct load *ld, yaml_node_t *n, const char *path,
    int empty_ok, char **out)
{
	const char *s;

	if ((s = config_scalar(ld, n, path, "a string")) == NULL)
		return -1;
	if (*s == '\0' && !empty_ok) {
		config_error(ld, n, path, "must not be empty");
		return -1;
	}
	free(*out);
	*out = xstrdup(s);
	return 0;
}

/*
 * Parse the integer n into *out if it lies in [min, max], or report.
 * Quoted digits are accepted too. Returns 0 or -1.
 */
static int
config_int(struct load *ld, yaml_node_t *n, const char *path, long long min,
    long long max, long long *out)
{
	const char *s, *p;
	char buf[64], *end;
	long long v;

	if ((s = config_scalar(ld, n, path, "an integer")) == NULL)
		return -1;
	p = s + (*s == '-' || *s == '+');
	if (*p == '\0' || strspn(p, "0123456789") != strlen(p)) {
		config_error(ld, n, path, "expected an integer, got %s",
		    config_what(n, buf, sizeof buf));
		return -1;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno == ERANGE || v < min || v > max) {
		config_error(ld, n, path, "must be between %lld and %lld, "
		    "got %.40s", min, max, s);
		return -1;
	}
	*out = v;
	return 0;
}

/* config_int() into an unsigned. */
static int
config_uint(struct load *ld, yaml_node_t *n, const char *path, unsigned min,
    unsigned max, unsigned *out)
{
	long long v;

	if (config_int(ld, n, path, min, max, &v) != 0)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* config_int() into a uint64_t. */
static int
config_u64(struct load *ld, yaml_node_t *n, const char *path, uint64_t min,
    uint64_t max, uint64_t *out)
{
	long long v;

	if (config_int(ld, n, path, (long long)min, (long long)max, &v) != 0)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

/*
 * Parse the duration n (duration_parse(), the CLI's syntax) into *out if
 * it is at least min_ms, or report. Returns 0 or -1.
 */
static int
config_duration(struct load *ld, yaml_node_t *n, const char *path,
    uint64_t min_ms, uint64_t *out)
{
	const char *s;
	char *cause, buf[64];
	uint64_t ms;

	if ((s = config_scalar(ld, n, path, "a duration such as 30s")) == NULL)
		return -1;
	if (duration_parse(s, &ms, &cause) != 0) {
		config_error(ld, n, path, "%s", cause);
		free(cause);
		return -1;
	}
	if (ms < min_ms) {
		config_error(ld, n, path, "must be at least %s, got %.40s",
		    duration_format(min_ms, buf, sizeof buf), s);
		return -1;
	}
	*out = ms;
	return 0;
}

/* Parse the rate n (rate_parse()) into *out, or report. Returns 0 or -1. */
static int
config_rate(struct load *ld, yaml_node_t *n, const char *path,
    struct rate *out)
{
	const char *s;
	char *cause;

	if ((s = config_scalar(ld, n, path, "a rate such as 10/s")) == NULL)
		return -1;
	if (rate_parse(s, out, &cause) != 0) {
		config_error(ld, n, path, "%s", cause);
		free(cause);
		return -1;
	}
	return 0;
}

/*
 * Parse the size n (size_parse()) into *out if it lies in [1, max], or
 * report. Returns 0 or -1.
 */
static int
config_size(struct load *ld, yaml_node_t *n, const char *path, uint64_t max,
    uint64_t *out)
{
	const char *s;
	char *cause;
	uint64_t v;

	if ((s = config_scalar(ld, n, path, "a size such as 512KiB")) == NULL)
		return -1;
	if (size_parse(s, &v, &cause) != 0) {
		config_error(ld, n, path, "%s", cause);
		free(cause);
		return -1;
	}
	if (v < 1 || v > max) {
		config_error(ld, n, path, "must be between 1 byte and %lluMiB, "
		    "got %.40s", (unsigned long long)(max >> 20), s);
		return -1;
	}
	*out = v;
	return 0;
}

/* Parse a number from 0 to 1 into *out, or report. Returns 0 or -1. */
static int
config_fraction(struct load *ld, yaml_node_t *n, const char *path,
    double *out)
{
	const char *s;
	char buf[64], *end;
	double v;

	if ((s = config_scalar(ld, n, path, "a number from 0 to 1")) == NULL)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0' || errno != 0 || !isfinite(v) ||
	    isspace((unsigned char)*s)) {
		config_error(ld, n, path, "expected a number from 0 to 1, "
		    "got %s", config_what(n, buf, sizeof buf));
		return -1;
	}
	if (v < 0 || v > 1) {
		config_error(ld, n, path, "must be from 0 to 1, got %.40s", s);
		return -1;
	}
	*out = v;
	return 0;
}

/*
 * Match n against names[0..nnames - 1] and store the index in *out, or
 * report "unknown WHAT" with a suggestion. Returns 0 or -1.
 */
static int
config_enum(struct load *ld, yaml_node_t *n, const char *path,
    const char *what, const char *const *names, size_t nnames, int *out)
{
	const char *s;
	char hint[600], expected[64];
	size_t i;

	snprintf(expected, sizeof expected, "a %s", what);
	if ((s = config_scalar(ld, n, path, expected)) == NULL)
		return -1;
	for (i = 0; i < nnames; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (int)i;
			return 0;
		}
	}
	config_error(ld, n, path, "unknown %s \"%.64s\"%s", what, s,
	    config_hint(s, names, nnames, hint, sizeof hint));
	return -1;
}

/* Check a template (template_check()) and that it is not empty. */
static int
config_template(struct load *ld, yaml_node_t *n, const char *path,
    char **out)
{
	char *cause;

	if (config_string(ld, n, path, 0, out) != 0)
		return -1;
	if (template_check(*out, &cause) != 0) {
		config_error(ld, n, path, "%s", cause);
		free(cause);
		return -1;
	}
	return 0;
}

/*
 * Check that path names an existing file of the kind wanted: 'x' an
 * executable regular file, 'r' a readable regular file, 'd' a directory.
 * what says what it is ("the program"). Returns 0, or -1 after a
 * diagnostic at n.
 */
static int
config_file(struct load *ld, yaml_node_t *n, const char *path,
    const char *file, int kind)
{
	struct stat sb;

	if (*file != '/') {
		config_error(ld, n, path, "\"%.64s\" is not an absolute path",
		    file);
		return -1;
	}
	if (stat(file, &sb) != 0) {
		if (errno == ENOENT)
			config_error(ld, n, path, "%s does not exist", file);
		else
			config_error(ld, n, path, "cannot access %s: %s", file,
			    strerror(errno));
		return -1;
	}
	if (kind == 'd') {
		if (!S_ISDIR(sb.st_mode)) {
			config_error(ld, n, path, "%s is not a directory",
			    file);
			return -1;
		}
		return 0;
	}
	if (!S_ISREG(sb.st_mode)) {
		config_error(ld, n, path, "%s is not a regular file", file);
		return -1;
	}
	if (access(file, kind == 'x' ? X_OK : R_OK) != 0) {
		config_error(ld, n, path, "%s is not %s (%s)", file,
		    kind == 'x' ? "executable" : "readable", strerror(errno));
		return -1;
	}
	return 0;
}

/* Tell whether s is a name of 1-128 of [A-Za-z0-9_.:-]. */
static int
config_valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CONFIG_NAME_MAX)
		return 0;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_.:-") == n;
}

/* Tell whether s is a C identifier (or an environment variable name). */
static int
config_valid_ident(const char *s)
{
	if (!isalpha((unsigned char)*s) && *s != '_')
		return 0;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_") == strlen(s);
}

/*
 * Read the password file: one line, the newline stripped. Returns the
 * password (caller frees), or NULL after a diagnostic at n.
 */
static char *
config_password(struct load *ld, yaml_node_t *n, const char *path,
    const char *file)
{
	char buf[CONFIG_PASSWORD_MAX + 3];	/* "\r\n" and one too many */
	size_t len = 0;
	char *pw;
	ssize_t r;
	int fd;

	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) == -1) {
		config_error(ld, n, path, "cannot read %s: %s", file,
		    strerror(errno));
		return NULL;
	}
	while (len < sizeof buf) {
		r = read(fd, buf + len, sizeof buf - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			config_error(ld, n, path, "cannot read %s: %s", file,
			    strerror(errno));
			close(fd);
			explicit_bzero(buf, sizeof buf);
			return NULL;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (len < sizeof buf && len > 0 && buf[len - 1] == '\n') {
		len--;
		if (len > 0 && buf[len - 1] == '\r')
			len--;
	}
	/* A full buffer is too long, whatever it ends with. */
	if (len == 0 || len > CONFIG_PASSWORD_MAX ||
	    memchr(buf, '\n', len) != NULL || memchr(buf, '\0', len) != NULL) {
		config_error(ld, n, path, "%s must hold the password on one "
		    "line of 1 to %zu bytes", file, CONFIG_PASSWORD_MAX);
		explicit_bzero(buf, sizeof buf);
		return NULL;
	}
	pw = xmemdup(buf, len);
	explicit_bzero(buf, sizeof buf);
	return pw;
}

/* Check the embedded: section and fill cfg->embedded_*. */
static void
config_embedded(struct load *ld, struct pair *p)
{
	struct config *cfg = ld->cfg;
	struct pair f[EMB_N];
	const char *path = "redis.embedded";
	char *sub;

	if (config_fields(ld, p->value, path, "a mapping", config_embedded_keys,
	    EMB_N, f) != 0)
		return;
	if (f[EMB_DIR].value == NULL)
		config_error(ld, p->key, path, "missing \"dir\" (the directory "
		    "where the server keeps its data)");
	else {
		sub = config_path(path, "dir");
		if (config_string(ld, f[EMB_DIR].value, sub, 0,
		    &cfg->embedded_dir) == 0 && *cfg->embedded_dir != '/') {
			config_error(ld, f[EMB_DIR].value, sub, "\"%.64s\" is "
			    "not an absolute path", cfg->embedded_dir);
		} else if (cfg->embedded_dir != NULL &&
		    f[EMB_SOCKET].value == NULL &&
		    strlen(cfg->embedded_dir) + 11 > CONFIG_SOCKET_MAX) {
			config_error(ld, f[EMB_DIR].value, sub, "too long for "
			    "the socket path DIR/redis.sock (at most %zu "
			    "bytes); set socket", CONFIG_SOCKET_MAX);
		}
		free(sub);
	}
	if (f[EMB_SOCKET].value != NULL) {
		sub = config_path(path, "socket");
		if (config_string(ld, f[EMB_SOCKET].value, sub, 0,
		    &cfg->embedded_socket) == 0) {
			if (*cfg->embedded_socket != '/')
				config_error(ld, f[EMB_SOCKET].value, sub,
				    "\"%.64s\" is not an absolute path",
				    cfg->embedded_socket);
			else if (strlen(cfg->embedded_socket) >
			    CONFIG_SOCKET_MAX)
				config_error(ld, f[EMB_SOCKET].value, sub,
				    "longer than %zu bytes", CONFIG_SOCKET_MAX);
		}
		free(sub);
	} else if (cfg->embedded_dir != NULL)
		xasprintf(&cfg->embedded_socket, "%s/redis.sock",
		    cfg->embedded_dir);
	if (f[EMB_SERVER].value != NULL) {
		sub = config_path(path, "server");
		if (config_string(ld, f[EMB_SERVER].value, sub, 0,
		    &cfg->embedded_server) == 0 &&
		    strchr(cfg->embedded_server, '/') != NULL)
			config_file(ld, f[EMB_SERVER].value, sub,
			    cfg->embedded_server, 'x');
		free(sub);
	}
	if (cfg->embedded_server == NULL)
		cfg->embedded_server = xstrdup("redis-server");
}

/*
 * Report url_parse()'s error for url, with any password in the URL
 * replaced by "***": diagnostics end up in logs and the journal.
 */
static void
config_url_error(struct load *ld, yaml_node_t *n, const char *url,
    const char *err)
{
	const char *at, *colon, *start, *p;
	char *safe, *msg;

	start = strstr(url, "://");
	at = start != NULL ? strchr(start + 3, '@') : NULL;
	if (at == NULL || start[3] == '/' || (p = strstr(err, url)) == NULL) {
		config_error(ld, n, "redis.url", "%s", err);
		return;
	}
	/* "[USER]:PASSWORD@" or, as redis-cli allows, "PASSWORD@". */
	colon = memchr(start + 3, ':', (size_t)(at - start - 3));
	if (colon == NULL)
		colon = start + 2;
	xasprintf(&safe, "%.*s***%s", (int)(colon + 1 - url), url, at);
	xasprintf(&msg, "%.*s%s%s", (int)(p - err), err, safe,
	    p + strlen(url));
	config_error(ld, n, "redis.url", "%s", msg);
	free(msg);
	free(safe);
}

/* Check the redis: section and fill the connection settings of cfg. */
static void
config_redis(struct load *ld, struct pair *p)
{
	struct config *cfg = ld->cfg;
	struct pair f[REDIS_N], *later;
	struct url u;
	char err[256];
	const char *s;
	int url_ok = 0;

	memset(f, 0, sizeof f);
	memset(&u, 0, sizeof u);
	if (p != NULL && config_fields(ld, p->value, "redis", "a mapping",
	    config_redis_keys, REDIS_N, f) != 0)
		return;
	if (f[REDIS_URL].value != NULL && f[REDIS_EMBEDDED].value != NULL) {
		later = f[REDIS_URL].key->start_mark.index >
		    f[REDIS_EMBEDDED].key->start_mark.index ?
		    &f[REDIS_URL] : &f[REDIS_EMBEDDED];
		config_error(ld, later->key, "redis", "url and embedded are "
		    "mutually exclusive (embedded runs a private server "
		    "instead of connecting to url)");
	}
	if (f[REDIS_URL].value != NULL) {
		if (config_string(ld, f[REDIS_URL].value, "redis.url", 0,
		    &cfg->url) == 0) {
			if (url_parse(cfg->url, &u, err, sizeof err) != 0)
				config_url_error(ld, f[REDIS_URL].value,
				    cfg->url, err);
			else
				url_ok = 1;
		}
	}
	if (f[REDIS_NAMESPACE].value != NULL &&
	    config_string(ld, f[REDIS_NAMESPACE].value, "redis.namespace", 0,
	    &cfg->namespace) == 0 &&
	    schema_check_namespace(cfg->namespace, err, sizeof err) != 0)
		config_error(ld, f[REDIS_NAMESPACE].value, "redis.namespace",
		    "%s", err);
	if (f[REDIS_EMBEDDED].value != NULL)
		config_embedded(ld, &f[REDIS_EMBEDDED]);
	else if (f[REDIS_URL].value == NULL)
		cfg->url = xstrdup(URL_DEFAULT);
	if (f[REDIS_PASSWORD_FILE].value != NULL &&
	    (s = config_scalar(ld, f[REDIS_PASSWORD_FILE].value,
	    "redis.password_file", "a file name")) != NULL) {
		if (f[REDIS_EMBEDDED].value != NULL)
			config_error(ld, f[REDIS_PASSWORD_FILE].key,
			    "redis.password_file", "not used with embedded "
			    "(its server listens only on a private socket)");
		else if (url_ok && u.password[0] != '\0')
			config_error(ld, f[REDIS_PASSWORD_FILE].key,
			    "redis.password_file", "the url holds a password "
			    "already (keep it in one place)");
		else
			cfg->password = config_password(ld,
			    f[REDIS_PASSWORD_FILE].value, "redis.password_file",
			    s);
	}
	explicit_bzero(&u, sizeof u);
}

/* Check the queues: section; absent, it serves {default: 1}. */
static void
config_queues(struct load *ld, struct pair *p)
{
	struct config *cfg = ld->cfg;
	struct queue_conf *q;
	struct pair qp;
	const char *name;
	char buf[64], err[256], *sub;
	size_t i;

	if (p == NULL) {
		cfg->queues = xcalloc(1, sizeof *cfg->queues);
		cfg->queues[0].name = xstrdup("default");
		cfg->queues[0].weight = 1;
		cfg->nqueues = 1;
		return;
	}
	if (!config_is_null(p->value) && p->value->type != YAML_MAPPING_NODE) {
		config_error(ld, p->value, "queues", "expected a mapping of "
		    "queue names to weights, got %s",
		    config_what(p->value, buf, sizeof buf));
		ld->queues_bad = 1;
		return;
	}
	cfg->queues = xcalloc(config_npairs(p->value), sizeof *cfg->queues);
	for (i = 0; i < config_npairs(p->value); i++) {
		name = config_key(ld, p->value, i, "queues", &qp);
		if (name == NULL) {
			ld->queues_bad = 1;
			continue;
		}
		if (schema_check_queue(name, err, sizeof err) != 0)
			config_error(ld, qp.key, "queues", "%s", err);
		q = &cfg->queues[cfg->nqueues++];
		q->name = xstrdup(name);
		q->weight = 1;
		sub = config_path("queues", name);
		config_uint(ld, qp.value, sub, 1, 1000, &q->weight);
		free(sub);
	}
	if (cfg->nqueues == 0 && !ld->queues_bad) {
		config_error(ld, p->key, "queues", "no queue is served (the "
		    "default is {default: 1})");
		ld->queues_bad = 1;
	}
}

/* Check one limiter, named by the key of p, into lc. */
static void
config_limiter(struct load *ld, struct pair *p, const char *name,
    struct limiter_conf *lc)
{
	struct pair f[LIM_N];
	char *path, *sub, list[256];
	const char *takes[LIM_N];
	size_t i, ntakes;
	int kind = -1;

	path = config_path("limiters", name);
	if (config_fields(ld, p->value, path, "a mapping", config_limiter_keys,
	    LIM_N, f) != 0) {
		free(path);
		return;
	}
	if (f[LIM_KIND].value == NULL)
		config_error(ld, p->key, path, "missing \"kind\" (window, "
		    "funnel, gcra or concurrency)");
	else {
		sub = config_path(path, "kind");
		if (config_enum(ld, f[LIM_KIND].value, sub, "limiter kind",
		    config_limiter_kinds, nitems(config_limiter_kinds),
		    &kind) == 0)
			lc->kind = (enum limiter_kind)kind;
		free(sub);
	}
	ntakes = 0;
	if (kind != -1) {
		for (i = 1; i < LIM_N; i++) {
			if (config_limiter_takes[kind] & LK(i))
				takes[ntakes++] = config_limiter_keys[i];
		}
	}
	for (i = 1; i < LIM_N; i++) {
		if (f[i].value == NULL)
			continue;
		sub = config_path(path, config_limiter_keys[i]);
		if (kind != -1 && (config_limiter_takes[kind] & LK(i)) == 0) {
			config_error(ld, f[i].key, sub, "a %s limiter does not "
			    "take %s (it takes %s)", config_limiter_kinds[kind],
			    config_limiter_keys[i],
			    config_list(takes, ntakes, " and ", list,
			    sizeof list));
			free(sub);
			continue;
		}
		switch (i) {
		case LIM_LIMIT:
			config_u64(ld, f[i].value, sub, 1, 1000000,
			    &lc->limit);
			break;
		case LIM_PERIOD:
			config_duration(ld, f[i].value, sub, 1,
			    &lc->period_ms);
			break;
		case LIM_CAPACITY:
			config_u64(ld, f[i].value, sub, 1, 1000000000,
			    &lc->capacity);
			break;
		case LIM_RATE:
			config_rate(ld, f[i].value, sub, &lc->rate);
			break;
		case LIM_BURST:
			config_u64(ld, f[i].value, sub, 0, 1000000,
			    &lc->burst);
			break;
		case LIM_LEASE:
			config_duration(ld, f[i].value, sub, 1000,
			    &lc->lease_ms);
			break;
		case LIM_KEY:
			config_template(ld, f[i].value, sub, &lc->key);
			break;
		}
		free(sub);
	}
	if (kind != -1) {
		for (i = 1; i < LIM_N; i++) {
			if ((config_limiter_needs[kind] & LK(i)) == 0 ||
			    f[i].value != NULL)
				continue;
			config_error(ld, p->key, path, "a %s limiter needs "
			    "\"%s\"", config_limiter_kinds[kind],
			    config_limiter_keys[i]);
		}
	}
	free(path);
}

/* Check the limiters: section. */
static void
config_limiters(struct load *ld, struct pair *p)
{
	struct config *cfg = ld->cfg;
	struct limiter_conf *lc;
	struct pair lp;
	const char *name;
	char buf[64];
	size_t i;

	if (p == NULL || config_is_null(p->value))
		return;
	if (p->value->type != YAML_MAPPING_NODE) {
		config_error(ld, p->value, "limiters", "expected a mapping of "
		    "limiter names to limiters, got %s",
		    config_what(p->value, buf, sizeof buf));
		ld->limiters_bad = 1;
		return;
	}
	cfg->limiters = xcalloc(config_npairs(p->value),
	    sizeof *cfg->limiters);
	for (i = 0; i < config_npairs(p->value); i++) {
		name = config_key(ld, p->value, i, "limiters", &lp);
		if (name == NULL) {
			ld->limiters_bad = 1;
			continue;
		}
		if (!config_valid_name(name))
			config_error(ld, lp.key, "limiters", "invalid limiter "
			    "name \"%.64s\" (1-128 of A-Z a-z 0-9 _ . : -)",
			    name);
		lc = &cfg->limiters[cfg->nlimiters++];
		lc->name = xstrdup(name);
		lc->burst = 0;
		lc->lease_ms = 60 * 1000;
		config_limiter(ld, &lp, name, lc);
	}
}

/* Check exec: an argv of strings whose argv[0] is an executable. */
static void
config_exec(struct load *ld, struct pair *p, const char *path,
    struct job_conf *jc)
{
	yaml_node_t *n = p->value, *item;
	const char *s;
	char buf[64];
	size_t i, nitem;

	if (n->type != YAML_SEQUENCE_NODE) {
		config_error(ld, n, path, "expected a sequence of strings "
		    "(the argv, e.g. [/bin/sh, -c, \"...\"]), got %s",
		    config_what(n, buf, sizeof buf));
		return;
	}
	nitem = (size_t)(n->data.sequence.items.top -
	    n->data.sequence.items.start);
	if (nitem == 0) {
		config_error(ld, n, path, "the argv is empty");
		return;
	}
	jc->exec = xcalloc(nitem + 1, sizeof *jc->exec);
	for (i = 0; i < nitem; i++) {
		item = config_node(ld, n->data.sequence.items.start[i]);
		if ((s = config_scalar(ld, item, path, "a string")) == NULL)
			continue;
		jc->exec[jc->nexec++] = xstrdup(s);
		if (i == 0)
			config_file(ld, item, path, s, 'x');
	}
}

/* Check plugin: {path, symbol}. */
static void
config_plugin(struct load *ld, struct pair *p, const char *path,
    struct job_conf *jc)
{
	struct pair f[PLUGIN_N];
	char *sub;

	if (config_fields(ld, p->value, path, "a mapping", config_plugin_keys,
	    PLUGIN_N, f) != 0)
		return;
	if (f[PLUGIN_PATH].value == NULL)
		config_error(ld, p->key, path, "missing \"path\" (the shared "
		    "object to load)");
	else {
		sub = config_path(path, "path");
		if (config_string(ld, f[PLUGIN_PATH].value, sub, 0,
		    &jc->plugin_path) == 0)
			config_file(ld, f[PLUGIN_PATH].value, sub,
			    jc->plugin_path, 'r');
		free(sub);
	}
	sub = config_path(path, "symbol");
	if (f[PLUGIN_SYMBOL].value != NULL) {
		if (config_string(ld, f[PLUGIN_SYMBOL].value, sub, 0,
		    &jc->plugin_symbol) == 0 &&
		    !config_valid_ident(jc->plugin_symbol))
			config_error(ld, f[PLUGIN_SYMBOL].value, sub,
			    "\"%.64s\" is not a C identifier",
			    jc->plugin_symbol);
	} else {
		jc->plugin_symbol = xstrdup(jc->type);
		if (!config_valid_ident(jc->plugin_symbol))
			config_error(ld, p->key, path, "the job type \"%.64s\" "
			    "is not a C identifier, so it cannot be the "
			    "default symbol; set symbol", jc->type);
	}
	free(sub);
}

/* Check retry: and fill jc->retry (which holds the defaults). */
static void
config_retry(struct load *ld, struct pair *p, const char *path,
    struct job_conf *jc)
{
	struct retry_conf *rc = &jc->retry;
	struct pair f[RETRY_N];
	char *sub, b1[64], b2[64];
	int v, base_ok = 1, max_ok = 1;

	if (config_fields(ld, p->value, path, "a mapping", config_retry_keys,
	    RETRY_N, f) != 0)
		return;
	if (f[RETRY_MAX_ATTEMPTS].value != NULL) {
		sub = config_path(path, "max_attempts");
		config_uint(ld, f[RETRY_MAX_ATTEMPTS].value, sub, 1, 1000000,
		    &rc->max_attempts);
		free(sub);
	}
	if (f[RETRY_BACKOFF].value != NULL) {
		sub = config_path(path, "backoff");
		if (config_enum(ld, f[RETRY_BACKOFF].value, sub, "backoff",
		    config_backoffs, nitems(config_backoffs), &v) == 0)
			rc->backoff = (enum backoff_kind)v;
		free(sub);
	}
	if (f[RETRY_BASE].value != NULL) {
		sub = config_path(path, "base");
		base_ok = config_duration(ld, f[RETRY_BASE].value, sub, 0,
		    &rc->base_ms) == 0;
		free(sub);
	}
	if (f[RETRY_MAX].value != NULL) {
		sub = config_path(path, "max");
		max_ok = config_duration(ld, f[RETRY_MAX].value, sub, 0,
		    &rc->max_ms) == 0;
		free(sub);
	}
	if (f[RETRY_JITTER].value != NULL) {
		sub = config_path(path, "jitter");
		config_fraction(ld, f[RETRY_JITTER].value, sub, &rc->jitter);
		free(sub);
	}
	if (base_ok && max_ok && rc->max_ms < rc->base_ms) {
		if (f[RETRY_MAX].value != NULL) {
			sub = config_path(path, "max");
			config_error(ld, f[RETRY_MAX].value, sub, "%s is less "
			    "than base (%s)", duration_format(rc->max_ms, b1,
			    sizeof b1), duration_format(rc->base_ms, b2,
			    sizeof b2));
		} else {
			sub = config_path(path, "base");
			config_error(ld, f[RETRY_BASE].value, sub, "%s is more "
			    "than max (%s by default)", duration_format(
			    rc->base_ms, b1, sizeof b1), duration_format(
			    rc->max_ms, b2, sizeof b2));
		}
		free(sub);
	}
}

/* Check lock: and fill jc->lock (which holds the defaults). */
static void
config_lock(struct load *ld, struct pair *p, const char *path,
    struct job_conf *jc)
{
	struct lock_conf *lk = &jc->lock;
	struct pair f[LOCK_N];
	char *sub;
	int v;

	if (config_fields(ld, p->value, path, "a mapping", config_lock_keys,
	    LOCK_N, f) != 0)
		return;
	if (f[LOCK_KEY].value == NULL)
		config_error(ld, p->key, path, "missing \"key\" (the name of "
		    "the lock, a template such as \"report:{key}\")");
	else {
		sub = config_path(path, "key");
		config_template(ld, f[LOCK_KEY].value, sub, &lk->key);
		free(sub);
	}
	if (f[LOCK_TTL].value != NULL) {
		sub = config_path(path, "ttl");
		config_duration(ld, f[LOCK_TTL].value, sub, 1000, &lk->ttl_ms);
		free(sub);
	}
	if (f[LOCK_ON_CONFLICT].value != NULL) {
		sub = config_path(path, "on_conflict");
		if (config_enum(ld, f[LOCK_ON_CONFLICT].value, sub,
		    "on_conflict policy", config_conflicts,
		    nitems(config_conflicts), &v) == 0)
			lk->on_conflict = (enum on_conflict)v;
		free(sub);
	}
	if (f[LOCK_REQUEUE_DELAY].value != NULL) {
		sub = config_path(path, "requeue_delay");
		config_duration(ld, f[LOCK_REQUEUE_DELAY].value, sub, 0,
		    &lk->requeue_delay_ms);
		free(sub);
	}
}

/* Check one limiter name of limit: and add it to jc->limits. */
static void
config_limit_one(struct load *ld, yaml_node_t *n, const char *path,
    struct job_conf *jc)
{
	struct config *cfg = ld->cfg;
	const struct limiter_conf *lc;
	const char **names, *s;
	char hint[600];
	size_t i;

	if ((s = config_scalar(ld, n, path, "a limiter name")) == NULL)
		return;
	if ((lc = config_find_limiter(cfg, s)) == NULL) {
		if (ld->limiters_bad)
			return;
		names = xreallocarray(NULL, cfg->nlimiters + 1, sizeof *names);
		for (i = 0; i < cfg->nlimiters; i++)
			names[i] = cfg->limiters[i].name;
		if (cfg->nlimiters == 0)
			config_error(ld, n, path, "no limiter named \"%.64s\" "
			    "(limiters: defines none)", s);
		else
			config_error(ld, n, path, "no limiter named "
			    "\"%.64s\"%s", s, config_hint(s, names,
			    cfg->nlimiters, hint, sizeof hint));
		free(names);
		return;
	}
	for (i = 0; i < jc->nlimits; i++) {
		if (jc->limits[i] == lc) {
			config_error(ld, n, path, "limiter \"%s\" is listed "
			    "twice", s);
			return;
		}
	}
	jc->limits[jc->nlimits++] = (struct limiter_conf *)lc;
}

/* Check limit: a limiter name or a sequence of them. */
static void
config_limit(struct load *ld, struct pair *p, const char *path,
    struct job_conf *jc)
{
	yaml_node_t *n = p->value;
	size_t i, nitem;

	if (n->type != YAML_SEQUENCE_NODE) {
		jc->limits = xcalloc(1, sizeof *jc->limits);
		if (n->type == YAML_MAPPING_NODE) {
			config_error(ld, n, path, "expected a limiter name or "
			    "a sequence of them, got a mapping");
			return;
		}
		config_limit_one(ld, n, path, jc);
		return;
	}
	nitem = (size_t)(n->data.sequence.items.top -
	    n->data.sequence.items.start);
	jc->limits = xcalloc(nitem, sizeof *jc->limits);
	for (i = 0; i < nitem; i++) {
		config_limit_one(ld,
		    config_node(ld, n->data.sequence.items.start[i]), path, jc);
	}
}

/* Check env: a mapping of variable names to strings. */
static void
config_env(struct load *ld, struct pair *p, const char *path,
    struct job_conf *jc)
{
	struct env_var *ev;
	struct pair ep;
	const char *name, *val;
	char buf[64], *sub;
	size_t i;

	if (config_is_null(p->value))
		return;
	if (p->value->type != YAML_MAPPING_NODE) {
		config_error(ld, p->value, path, "expected a mapping of "
		    "variable names to values, got %s",
		    config_what(p->value, buf, sizeof buf));
		return;
	}
	jc->env = xcalloc(config_npairs(p->value), sizeof *jc->env);
	for (i = 0; i < config_npairs(p->value); i++) {
		if ((name = config_key(ld, p->value, i, path, &ep)) == NULL)
			continue;
		if (!config_valid_ident(name)) {
			config_error(ld, ep.key, path, "invalid variable name "
			    "\"%.64s\" (letters, digits and _, not starting "
			    "with a digit)", name);
			continue;
		}
		if (strncmp(name, "REDJOB_", 7) == 0) {
			config_error(ld, ep.key, path, "%.64s: names starting "
			    "with REDJOB_ are set by redjobd", name);
			continue;
		}
		sub = config_path(path, name);
		val = config_scalar(ld, ep.value, sub, "a string (quote it, "
		    "\"\" for an empty one)");
		free(sub);
		if (val == NULL)
			continue;
		ev = &jc->env[jc->nenv++];
		ev->name = xstrdup(name);
		ev->value = xstrdup(val);
	}
}

/* Tell whether queue is served. */
static int
config_served(const struct config *cfg, const char *queue)
{
	size_t i;

	for (i = 0; i < cfg->nqueues; i++) {
		if (strcmp(cfg->queues[i].name, queue) == 0)
			return 1;
	}
	return 0;
}

/* Check that the job's queue is served; qn is its node or NULL. */
static void
config_job_queue(struct load *ld, struct pair *p, yaml_node_t *qn,
    const char *path, struct job_conf *jc)
{
	struct config *cfg = ld->cfg;
	const char **names;
	const char *s;
	char hint[600], *sub;
	size_t i;

	if (ld->queues_bad || config_served(cfg, jc->queue))
		return;
	if (qn == NULL) {
		config_error(ld, p->key, path, "its queue is \"default\", "
		    "which is not served (set queue, or add default under "
		    "queues:)");
		return;
	}
	names = xreallocarray(NULL, cfg->nqueues + 1, sizeof *names);
	for (i = 0; i < cfg->nqueues; i++)
		names[i] = cfg->queues[i].name;
	if ((s = config_suggest(jc->queue, names, cfg->nqueues)) != NULL)
		snprintf(hint, sizeof hint, "did you mean \"%s\"?", s);
	else
		snprintf(hint, sizeof hint, "add it under queues:");
	sub = config_path(path, "queue");
	config_error(ld, qn, sub, "queue \"%.64s\" is not served (%s)",
	    jc->queue, hint);
	free(sub);
	free(names);
}

/* Check one job, whose type is the key of p, into jc. */
static void
config_job(struct load *ld, struct pair *p, struct job_conf *jc)
{
	struct pair f[JOB_N], *later;
	char *path, *sub;
	size_t i;
	int queue_ok = 1;

	path = config_path("jobs", jc->type);
	if (config_fields(ld, p->value, path, "a mapping", config_job_keys,
	    JOB_N, f) != 0) {
		free(path);
		return;
	}
	sub = NULL;
	for (i = 0; i < JOB_N; i++) {
		if (f[i].value == NULL)
			continue;
		free(sub);
		sub = config_path(path, config_job_keys[i]);
		switch (i) {
		case JOB_QUEUE:
			queue_ok = config_string(ld, f[i].value, sub, 0,
			    &jc->queue) == 0;
			break;
		case JOB_EXEC:
			config_exec(ld, &f[i], sub, jc);
			break;
		case JOB_PLUGIN:
			config_plugin(ld, &f[i], sub, jc);
			break;
		case JOB_TIMEOUT:
			config_duration(ld, f[i].value, sub, 0,
			    &jc->timeout_ms);
			break;
		case JOB_RETRY:
			config_retry(ld, &f[i], sub, jc);
			break;
		case JOB_LOCK:
			config_lock(ld, &f[i], sub, jc);
			break;
		case JOB_LIMIT:
			config_limit(ld, &f[i], sub, jc);
			break;
		case JOB_ENV:
			config_env(ld, &f[i], sub, jc);
			break;
		case JOB_CWD:
			if (config_string(ld, f[i].value, sub, 0,
			    &jc->cwd) == 0)
				config_file(ld, f[i].value, sub, jc->cwd, 'd');
			break;
		}
	}
	free(sub);
	if (queue_ok)
		config_job_queue(ld, p, f[JOB_QUEUE].value, path, jc);
	if (f[JOB_EXEC].value != NULL && f[JOB_PLUGIN].value != NULL) {
		later = f[JOB_EXEC].key->start_mark.index >
		    f[JOB_PLUGIN].key->start_mark.index ?
		    &f[JOB_EXEC] : &f[JOB_PLUGIN];
		config_error(ld, later->key, path, "exec and plugin are "
		    "mutually exclusive (a job has one handler)");
	} else if (f[JOB_EXEC].value == NULL && f[JOB_PLUGIN].value == NULL)
		config_error(ld, p->key, path, "needs a handler: exec or "
		    "plugin");
	else if (f[JOB_PLUGIN].value != NULL) {
		if (f[JOB_ENV].value != NULL)
			config_error(ld, f[JOB_ENV].key, path, "env is only "
			    "for exec handlers (a plugin runs inside the "
			    "worker)");
		if (f[JOB_CWD].value != NULL)
			config_error(ld, f[JOB_CWD].key, path, "cwd is only "
			    "for exec handlers (a plugin runs inside the "
			    "worker)");
	}
	free(path);
}

/* Check the jobs: section. */
static void
config_jobs(struct load *ld, struct pair *p)
{
	struct config *cfg = ld->cfg;
	struct job_conf *jc;
	struct pair jp;
	const char *type;
	char buf[64];
	size_t i;

	if (p == NULL || config_is_null(p->value))
		return;
	if (p->value->type != YAML_MAPPING_NODE) {
		config_error(ld, p->value, "jobs", "expected a mapping of job "
		    "types to jobs, got %s",
		    config_what(p->value, buf, sizeof buf));
		return;
	}
	cfg->jobs = xcalloc(config_npairs(p->value), sizeof *cfg->jobs);
	for (i = 0; i < config_npairs(p->value); i++) {
		if ((type = config_key(ld, p->value, i, "jobs", &jp)) == NULL)
			continue;
		if (!config_valid_name(type))
			config_error(ld, jp.key, "jobs", "invalid job type "
			    "\"%.64s\" (1-128 of A-Z a-z 0-9 _ . : -)", type);
		jc = &cfg->jobs[cfg->njobs++];
		jc->type = xstrdup(type);
		jc->queue = xstrdup("default");
		jc->timeout_ms = 30 * 60 * 1000;
		jc->retry.max_attempts = 25;
		jc->retry.backoff = BACKOFF_EXPONENTIAL;
		jc->retry.base_ms = 1000;
		jc->retry.max_ms = 3600 * 1000;
		jc->retry.jitter = 0.5;
		jc->lock.ttl_ms = 60 * 1000;
		jc->lock.on_conflict = CONFLICT_REQUEUE;
		jc->line = (unsigned)jp.key->start_mark.line + 1;
		config_job(ld, &jp, jc);
	}
}

/* Check the top-level mapping, one section after another. */
static void
config_top(struct load *ld, yaml_node_t *root)
{
	struct config *cfg = ld->cfg;
	struct pair f[TOP_N];
	int v;

	if (config_fields(ld, root, "", "a mapping of settings at the top "
	    "level", config_top_keys, TOP_N, f) != 0)
		return;
	config_redis(ld, f[TOP_REDIS].value != NULL ? &f[TOP_REDIS] : NULL);
	if (f[TOP_WORKERS].value != NULL)
		config_uint(ld, f[TOP_WORKERS].value, "workers", 1, 256,
		    &cfg->workers);
	if (f[TOP_CONCURRENCY].value != NULL)
		config_uint(ld, f[TOP_CONCURRENCY].value, "concurrency", 1,
		    10000, &cfg->concurrency);
	if (f[TOP_SHUTDOWN_TIMEOUT].value != NULL)
		config_duration(ld, f[TOP_SHUTDOWN_TIMEOUT].value,
		    "shutdown_timeout", 0, &cfg->shutdown_timeout_ms);
	if (f[TOP_LEASE].value != NULL)
		config_duration(ld, f[TOP_LEASE].value, "lease", 1000,
		    &cfg->lease_ms);
	if (f[TOP_MAX_STALLS].value != NULL)
		config_uint(ld, f[TOP_MAX_STALLS].value, "max_stalls", 0,
		    1000000, &cfg->max_stalls);
	/*
	 * The claim batch: the concurrency, but at least 32, which keeps the
	 * Redis calls per job low when jobs are short (a worker claims ahead
	 * of its free slots only for short jobs), and at most what one claim
	 * takes.
	 */
	cfg->batch = cfg->concurrency < 32 ? 32 : cfg->concurrency;
	if (cfg->batch > CONFIG_BATCH_MAX)
		cfg->batch = CONFIG_BATCH_MAX;
	if (f[TOP_BATCH].value != NULL)
		config_uint(ld, f[TOP_BATCH].value, "batch", 1,
		    CONFIG_BATCH_MAX, &cfg->batch);
	if (f[TOP_MAX_PAYLOAD].value != NULL)
		config_size(ld, f[TOP_MAX_PAYLOAD].value, "max_payload",
		    CONFIG_PAYLOAD_MAX, &cfg->max_payload);
	if (f[TOP_LOG_LEVEL].value != NULL &&
	    config_enum(ld, f[TOP_LOG_LEVEL].value, "log_level", "log level",
	    config_log_levels, nitems(config_log_levels), &v) == 0)
		cfg->log_level = log_level_parse(config_log_levels[v]);
	config_queues(ld, f[TOP_QUEUES].value != NULL ? &f[TOP_QUEUES] : NULL);
	config_limiters(ld, f[TOP_LIMITERS].value != NULL ?
	    &f[TOP_LIMITERS] : NULL);
	config_jobs(ld, f[TOP_JOBS].value != NULL ? &f[TOP_JOBS] : NULL);
}

/* Return the character at a libyaml mark (line and column), or NUL. */
static char
config_char_at(const char *buf, size_t len, const yaml_mark_t *m)
{
	size_t i = 0, line = 0, col = 0;

	while (i < len && line < m->line) {
		if (buf[i++] == '\n')
			line++;
	}
	for (; i < len && buf[i] != '\n'; i++) {
		if (((unsigned char)buf[i] & 0xc0) == 0x80)
			continue;
		if (col++ == m->column)
			return buf[i];
	}
	return '\0';
}

/*
 * Report a libyaml error. Reader errors (bad UTF-8, control characters)
 * carry a byte offset rather than a mark, so the line and column are
 * counted in buf.
 */
static void
config_syntax(struct load *ld, const yaml_parser_t *parser, const char *buf,
    size_t len)
{
	const char *problem = parser->problem;
	size_t line, col, i;
	char ctx[256];

	if (problem == NULL)
		problem = parser->error == YAML_MEMORY_ERROR ?
		    "out of memory" : "cannot parse the file";
	if (parser->error == YAML_READER_ERROR) {
		line = col = 0;
		for (i = 0; i < parser->problem_offset && i < len; i++) {
			if (buf[i] == '\n') {
				line++;
				col = 0;
			} else if (((unsigned char)buf[i] & 0xc0) != 0x80)
				col++;	/* libyaml counts characters */
		}
		if (parser->problem_value != -1)
			diags_add(ld->d, ld->file, line + 1, col + 1,
			    "invalid text: %s (byte 0x%02x)", problem,
			    (unsigned)parser->problem_value & 0xff);
		else
			diags_add(ld->d, ld->file, line + 1, col + 1,
			    "invalid text: %s", problem);
		return;
	}
	ctx[0] = '\0';
	if (parser->context != NULL)
		snprintf(ctx, sizeof ctx, " (%s at line %zu, column %zu)",
		    parser->context, parser->context_mark.line + 1,
		    parser->context_mark.column + 1);
	diags_add(ld->d, ld->file, parser->problem_mark.line + 1,
	    parser->problem_mark.column + 1, "syntax error: %s%s%s", problem,
	    ctx, config_char_at(buf, len, &parser->problem_mark) == '\t' ?
	    "; YAML does not allow tabs for indentation" : "");
}

/*
 * Read the whole file into memory. Returns it (caller frees), or NULL
 * with *cause set.
 */
static char *
config_read(const char *path, size_t *lenp, char **cause)
{
	struct stat sb;
	char *buf = NULL;
	size_t len = 0, size = 0;
	ssize_t r;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		xasprintf(cause, "cannot open: %s", strerror(errno));
		return NULL;
	}
	if (fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		xasprintf(cause, "cannot read: %s", strerror(EISDIR));
		close(fd);
		return NULL;
	}
	for (;;) {
		if (len == size) {
			if (size > CONFIG_FILE_MAX) {
				xasprintf(cause, "the file is larger than "
				    "%d MiB", CONFIG_FILE_MAX >> 20);
				goto fail;
			}
			size = size == 0 ? 8192 : size * 2;
			buf = xreallocarray(buf, size + 1, 1);
		}
		r = read(fd, buf + len, size - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			xasprintf(cause, "cannot read: %s", strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	*lenp = len;
	return buf;
fail:
	close(fd);
	free(buf);
	return NULL;
}

/* Allocate a config holding every default. */
static struct config *
config_defaults(const char *path)
{
	struct config *cfg;

	cfg = xcalloc(1, sizeof *cfg);
	cfg->path = xstrdup(path);
	cfg->namespace = xstrdup("redjob");
	cfg->workers = 2;
	cfg->concurrency = 8;
	cfg->shutdown_timeout_ms = 30 * 1000;
	cfg->lease_ms = 30 * 1000;
	cfg->max_stalls = 3;
	cfg->batch = 32;
	cfg->max_payload = 512 * 1024;
	cfg->log_level = LOG_LEVEL_INFO;
	return cfg;
}

/*
 * Load and validate path. Returns the config (free with config_free()),
 * or NULL with every problem appended to *d in the order of the file.
 */
struct config *
config_load(const char *path, struct diags *d)
{
	struct load ld;
	struct config *cfg;
	yaml_parser_t parser;
	yaml_document_t doc, doc2;
	yaml_node_t *root;
	size_t first = d->n, len;
	char *buf, *cause, what[64];

	memset(&ld, 0, sizeof ld);
	ld.file = path;
	ld.d = d;
	ld.cfg = cfg = config_defaults(path);
	if ((buf = config_read(path, &len, &cause)) == NULL) {
		diags_add(d, path, 0, 0, "%s", cause);
		free(cause);
		goto out;
	}
	if (!yaml_parser_initialize(&parser)) {
		diags_add(d, path, 0, 0, "out of memory");
		goto out;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf,
	    len);
	if (!yaml_parser_load(&parser, &doc)) {
		config_syntax(&ld, &parser, buf, len);
		yaml_parser_delete(&parser);
		goto out;
	}
	ld.doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (root == NULL || config_is_null(root))
		diags_add(d, path, 1, 1, "the file is empty (it should be a "
		    "mapping of settings, see redjob.yml(5))");
	else {
		/* A second document would be ignored silently: refuse it. */
		if (!yaml_parser_load(&parser, &doc2))
			config_syntax(&ld, &parser, buf, len);
		else {
			if (yaml_document_get_root_node(&doc2) != NULL)
				diags_add(d, path,
				    doc2.start_mark.line + 1,
				    doc2.start_mark.column + 1, "a second "
				    "YAML document is not allowed (the file "
				    "holds one mapping of settings)");
			yaml_document_delete(&doc2);
		}
		config_dups(&ld);
		if (root->type != YAML_MAPPING_NODE)
			config_error(&ld, root, "", "expected a mapping of "
			    "settings at the top level, got %s",
			    config_what(root, what, sizeof what));
		else
			config_top(&ld, root);
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
out:
	free(ld.pairbase);
	free(ld.dup);
	free(buf);
	if (d->n > first) {
		diags_sort(d, first);
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

/* Free a limiter's strings (not the struct, which lives in an array). */
static void
config_free_limiter(struct limiter_conf *lc)
{
	free(lc->name);
	free(lc->key);
}

/* Free a job's contents (not the struct, which lives in an array). */
static void
config_free_job(struct job_conf *jc)
{
	size_t i;

	free(jc->type);
	free(jc->queue);
	for (i = 0; i < jc->nexec; i++)
		free(jc->exec[i]);
	free(jc->exec);
	free(jc->plugin_path);
	free(jc->plugin_symbol);
	free(jc->lock.key);
	free(jc->limits);
	for (i = 0; i < jc->nenv; i++) {
		free(jc->env[i].name);
		free(jc->env[i].value);
	}
	free(jc->env);
	free(jc->cwd);
}

/* Free cfg and everything in it. Accepts NULL. */
void
config_free(struct config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->url);
	if (cfg->password != NULL) {
		explicit_bzero(cfg->password, strlen(cfg->password));
		free(cfg->password);
	}
	free(cfg->namespace);
	free(cfg->embedded_dir);
	free(cfg->embedded_socket);
	free(cfg->embedded_server);
	for (i = 0; i < cfg->nqueues; i++)
		free(cfg->queues[i].name);
	free(cfg->queues);
	for (i = 0; i < cfg->nlimiters; i++)
		config_free_limiter(&cfg->limiters[i]);
	free(cfg->limiters);
	for (i = 0; i < cfg->njobs; i++)
		config_free_job(&cfg->jobs[i]);
	free(cfg->jobs);
	free(cfg);
}

/*
 * Return the URL to connect to: redis.url, or "unix://SOCKET" for the
 * embedded server. The password from password_file is not in it (see
 * cfg->password). The caller frees the string.
 */
char *
config_redis_url(const struct config *cfg)
{
	char *url;

	if (cfg->embedded_socket != NULL && cfg->url == NULL) {
		xasprintf(&url, "unix://%s", cfg->embedded_socket);
		return url;
	}
	return xstrdup(cfg->url != NULL ? cfg->url : URL_DEFAULT);
}

/* Return the job of that type, or NULL. The result points into cfg. */
const struct job_conf *
config_find_job(const struct config *cfg, const char *type)
{
	size_t i;

	for (i = 0; i < cfg->njobs; i++) {
		if (strcmp(cfg->jobs[i].type, type) == 0)
			return &cfg->jobs[i];
	}
	return NULL;
}

/* Return the limiter of that name, or NULL. The result points into cfg. */
const struct limiter_conf *
config_find_limiter(const struct config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->nlimiters; i++) {
		if (strcmp(cfg->limiters[i].name, name) == 0)
			return &cfg->limiters[i];
	}
	return NULL;
}

/*
 * Percent-encode a password for the userinfo part of a URL, so that any
 * byte of a password file survives url_parse(). Caller frees.
 */
static char *
config_url_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out, *o;

	out = o = xreallocarray(NULL, strlen(s) + 1, 3);
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~", ch) != NULL)
			*o++ = (char)ch;
		else {
			*o++ = '%';
			*o++ = hex[ch >> 4];
			*o++ = hex[ch & 15];
		}
	}
	*o = '\0';
	return out;
}

/*
 * The URL to use for a configuration: its redis URL, with the password
 * from its password_file put in when the URL carries none. Caller frees.
 */
char *
config_redis_url_auth(const struct config *cfg)
{
	char *url, *esc, *out, err[256];
	struct url u;
	size_t scheme;
	int has_password;

	if ((url = config_redis_url(cfg)) == NULL)
		return NULL;
	if (cfg->password == NULL || *cfg->password == '\0')
		return url;
	if (strncmp(url, "redis://", 8) == 0)
		scheme = 8;
	else if (strncmp(url, "unix://", 7) == 0)
		scheme = 7;
	else
		return url;
	/* The URL's own password wins (config.c refuses both anyway). */
	has_password = url_parse(url, &u, err, sizeof err) == 0 &&
	    u.password[0] != '\0';
	explicit_bzero(&u, sizeof u);
	if (has_password)
		return url;
	esc = config_url_escape(cfg->password);
	xasprintf(&out, "%.*s:%s@%s", (int)scheme, url, esc, url + scheme);
	explicit_bzero(esc, strlen(esc));
	free(esc);
	free(url);
	return out;
}
