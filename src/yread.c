/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Reading YAML with diagnostics (yread.h). libyaml's document API gives
 * every node its start mark, so every problem can point at a line and a
 * column; marks are 0-based and are printed 1-based. libyaml counts
 * columns in characters, so a column is counted the same way here where
 * it must be computed from a byte offset.
 */
#include "autoconf.h"

#include <sys/stat.h>

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

#include "yread.h"
#include "diags.h"
#include "duration.h"
#include "xmalloc.h"

/* A configuration file bigger than this is surely a mistake. */
#define YREAD_FILE_MAX (4 * 1024 * 1024)

/*
 * Add a diagnostic at node n. The message is prefixed with "PATH: " when
 * path is not empty.
 */
void
yread_error(struct yread *y, const yaml_node_t *n, const char *path,
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
		diags_add(y->d, y->file, n->start_mark.line + 1,
		    n->start_mark.column + 1, "%s: %s", path, msg);
	else
		diags_add(y->d, y->file, n->start_mark.line + 1,
		    n->start_mark.column + 1, "%s", msg);
	free(msg);
}

/* Return the path of key under parent ("jobs.mail"). Caller frees. */
char *
yread_path(const char *parent, const char *key)
{
	char *p;

	if (*parent == '\0')
		return xstrdup(key);
	xasprintf(&p, "%s.%s", parent, key);
	return p;
}

/* Return the node with the given index in the document. */
yaml_node_t *
yread_node(struct yread *y, int id)
{
	return yaml_document_get_node(&y->doc, id);
}

/* Return the text of a scalar node; it belongs to the document. */
const char *
yread_text(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* Tell whether n is a plain null scalar: empty, "~" or "null". */
int
yread_is_null(const yaml_node_t *n)
{
	const char *s;

	if (n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	s = yread_text(n);
	return *s == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	    strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

/*
 * Describe n for "expected X, got Y": "a mapping", "a sequence", "an empty
 * value", "null", or the quoted text (shortened). Returns buf.
 */
const char *
yread_what(const yaml_node_t *n, char *buf, size_t len)
{
	const char *s;

	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a sequence";
	case YAML_SCALAR_NODE:
		s = yread_text(n);
		if (yread_is_null(n))
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
yread_distance(const char *a, const char *b)
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
const char *
yread_suggest(const char *word, const char *const *cands, size_t n)
{
	const char *best = NULL;
	size_t i, d, bestd = (size_t)-1, len, max;

	for (i = 0; i < n; i++) {
		len = strlen(cands[i]);
		max = len <= 4 ? 1 : len <= 8 ? 2 : 3;
		d = yread_distance(word, cands[i]);
		if (d <= max && d < strlen(word) && d < bestd) {
			best = cands[i];
			bestd = d;
		}
	}
	return best;
}

/* Write "a, b, c or d" (or "and d", after conj) into buf. Returns buf. */
const char *
yread_list(const char *const *v, size_t n, const char *conj, char *buf,
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
const char *
yread_hint(const char *word, const char *const *cands, size_t n, char *buf,
    size_t len)
{
	const char *s;
	char list[512];

	if ((s = yread_suggest(word, cands, n)) != NULL)
		snprintf(buf, len, " (did you mean \"%s\"?)", s);
	else if (n > 0)
		snprintf(buf, len, " (expected %s)",
		    yread_list(cands, n, " or ", list, sizeof list));
	else
		buf[0] = '\0';
	return buf;
}

/* Return the number of pairs of a mapping node, 0 for anything else. */
size_t
yread_npairs(const yaml_node_t *n)
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
yread_dup_cmp(const void *a, const void *b)
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
yread_dup_same(const struct dup_key *a, const struct dup_key *b)
{
	return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
}

/*
 * Report each key of mapping n (the node at index i) that repeats an
 * earlier one, and mark it in y->dup. Sorting the keys keeps this
 * O(n log n) for a mapping of any size.
 */
static void
yread_dups_map(struct yread *y, size_t i, yaml_node_t *n)
{
	yaml_node_pair_t *pairs = n->data.mapping.pairs.start;
	yaml_node_t *k, *first;
	struct dup_key *keys;
	size_t npairs, nk = 0, j;

	npairs = yread_npairs(n);
	keys = xreallocarray(NULL, npairs, sizeof *keys);
	for (j = 0; j < npairs; j++) {
		k = yread_node(y, pairs[j].key);
		if (k == NULL || k->type != YAML_SCALAR_NODE)
			continue;
		keys[nk].s = yread_text(k);
		keys[nk].len = k->data.scalar.length;
		keys[nk].pair = j;
		nk++;
	}
	qsort(keys, nk, sizeof *keys, yread_dup_cmp);
	first = NULL;
	for (j = 1; j < nk; j++) {
		if (!yread_dup_same(&keys[j], &keys[j - 1])) {
			first = NULL;
			continue;
		}
		/* The first of a run of equal keys is the one that stays. */
		if (first == NULL)
			first = yread_node(y, pairs[keys[j - 1].pair].key);
		k = yread_node(y, pairs[keys[j].pair].key);
		y->dup[y->pairbase[i] + keys[j].pair] = 1;
		yread_error(y, k, "", "duplicate key \"%.*s\" (first given "
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
yread_dups(struct yread *y)
{
	yaml_node_t *n;
	size_t nnodes, i, total = 0;

	nnodes = (size_t)(y->doc.nodes.top - y->doc.nodes.start);
	y->pairbase = xcalloc(nnodes + 1, sizeof *y->pairbase);
	for (i = 0; i < nnodes; i++) {
		y->pairbase[i] = total;
		total += yread_npairs(&y->doc.nodes.start[i]);
	}
	y->pairbase[nnodes] = total;
	y->dup = xcalloc(total + 1, 1);
	for (i = 0; i < nnodes; i++) {
		n = &y->doc.nodes.start[i];
		if (n->type == YAML_MAPPING_NODE)
			yread_dups_map(y, i, n);
	}
}

/*
 * Return the text of key node k of pair number i of mapping map, or NULL
 * if the pair is to be skipped: a key that is not a string (reported
 * here) or that repeats an earlier one (reported by yread_dups()).
 */
const char *
yread_key(struct yread *y, yaml_node_t *map, size_t i, const char *path,
    struct yread_pair *out)
{
	yaml_node_pair_t *p = &map->data.mapping.pairs.start[i];
	size_t idx = (size_t)(map - y->doc.nodes.start);
	char buf[64];

	out->key = yread_node(y, p->key);
	out->value = yread_node(y, p->value);
	if (y->dup[y->pairbase[idx] + i])
		return NULL;
	if (out->key->type != YAML_SCALAR_NODE || yread_is_null(out->key)) {
		yread_error(y, out->key, path, "a key must be a string, "
		    "got %s", yread_what(out->key, buf, sizeof buf));
		return NULL;
	}
	if (strlen(yread_text(out->key)) != out->key->data.scalar.length) {
		yread_error(y, out->key, path, "a key must not contain a NUL "
		    "byte");
		return NULL;
	}
	return yread_text(out->key);
}

/*
 * Check that n is a mapping (null counts as an empty one) whose keys are
 * all among keys[0..nkeys - 1], and store each pair in found[] by the
 * index of its key; absent keys stay zeroed. Unknown keys are reported
 * with a suggestion. what names the mapping in the type error. Returns 0,
 * or -1 if n is not a mapping.
 */
int
yread_fields(struct yread *y, yaml_node_t *n, const char *path,
    const char *what, const char *const *keys, size_t nkeys,
    struct yread_pair *found)
{
	struct yread_pair p;
	const char *k;
	size_t i, j;
	char buf[64], hint[600];

	memset(found, 0, nkeys * sizeof *found);
	if (yread_is_null(n))
		return 0;
	if (n->type != YAML_MAPPING_NODE) {
		yread_error(y, n, path, "expected %s, got %s", what,
		    yread_what(n, buf, sizeof buf));
		return -1;
	}
	for (i = 0; i < yread_npairs(n); i++) {
		if ((k = yread_key(y, n, i, path, &p)) == NULL)
			continue;
		for (j = 0; j < nkeys; j++) {
			if (strcmp(k, keys[j]) == 0)
				break;
		}
		if (j == nkeys) {
			yread_error(y, p.key, path, "unknown key \"%.64s\"%s",
			    k, yread_hint(k, keys, nkeys, hint, sizeof hint));
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
const char *
yread_scalar(struct yread *y, yaml_node_t *n, const char *path,
    const char *what)
{
	char buf[64];

	if (n->type != YAML_SCALAR_NODE || yread_is_null(n)) {
		yread_error(y, n, path, "expected %s, got %s", what,
		    yread_what(n, buf, sizeof buf));
		return NULL;
	}
	if (strlen(yread_text(n)) != n->data.scalar.length) {
		yread_error(y, n, path, "must not contain a NUL byte");
		return NULL;
	}
	return yread_text(n);
}

/*
 * Store a copy of the string n in *out (freeing the old one), or report.
 * An empty string is refused unless empty_ok. Returns 0 or -1.
 */
int
yread_string(struct yread *y, yaml_node_t *n, const char *path,
    int empty_ok, char **out)
{
	const char *s;

	if ((s = yread_scalar(y, n, path, "a string")) == NULL)
		return -1;
	if (*s == '\0' && !empty_ok) {
		yread_error(y, n, path, "must not be empty");
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
yread_int(struct yread *y, yaml_node_t *n, const char *path, long long min,
    long long max, long long *out)
{
	const char *s, *p;
	char buf[64], *end;
	long long v;

	if ((s = yread_scalar(y, n, path, "an integer")) == NULL)
		return -1;
	p = s + (*s == '-' || *s == '+');
	if (*p == '\0' || strspn(p, "0123456789") != strlen(p)) {
		yread_error(y, n, path, "expected an integer, got %s",
		    yread_what(n, buf, sizeof buf));
		return -1;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno == ERANGE || v < min || v > max) {
		yread_error(y, n, path, "must be between %lld and %lld, "
		    "got %.40s", min, max, s);
		return -1;
	}
	*out = v;
	return 0;
}

/* yread_int() into an unsigned. */
int
yread_uint(struct yread *y, yaml_node_t *n, const char *path, unsigned min,
    unsigned max, unsigned *out)
{
	long long v;

	if (yread_int(y, n, path, min, max, &v) != 0)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* yread_int() into a uint64_t. */
int
yread_u64(struct yread *y, yaml_node_t *n, const char *path, uint64_t min,
    uint64_t max, uint64_t *out)
{
	long long v;

	if (yread_int(y, n, path, (long long)min, (long long)max, &v) != 0)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

/*
 * Parse the duration n (duration_parse(), the CLI's syntax) into *out if
 * it is at least min_ms, or report. Returns 0 or -1.
 */
int
yread_duration(struct yread *y, yaml_node_t *n, const char *path,
    uint64_t min_ms, uint64_t *out)
{
	const char *s;
	char *cause, buf[64];
	uint64_t ms;

	if ((s = yread_scalar(y, n, path, "a duration such as 30s")) == NULL)
		return -1;
	if (duration_parse(s, &ms, &cause) != 0) {
		yread_error(y, n, path, "%s", cause);
		free(cause);
		return -1;
	}
	if (ms < min_ms) {
		yread_error(y, n, path, "must be at least %s, got %.40s",
		    duration_format(min_ms, buf, sizeof buf), s);
		return -1;
	}
	*out = ms;
	return 0;
}

/* Parse the rate n (rate_parse()) into *out, or report. Returns 0 or -1. */
int
yread_rate(struct yread *y, yaml_node_t *n, const char *path,
    struct rate *out)
{
	const char *s;
	char *cause;

	if ((s = yread_scalar(y, n, path, "a rate such as 10/s")) == NULL)
		return -1;
	if (rate_parse(s, out, &cause) != 0) {
		yread_error(y, n, path, "%s", cause);
		free(cause);
		return -1;
	}
	return 0;
}

/*
 * Parse the size n (size_parse()) into *out if it lies in [1, max], or
 * report. Returns 0 or -1.
 */
int
yread_size(struct yread *y, yaml_node_t *n, const char *path, uint64_t max,
    uint64_t *out)
{
	const char *s;
	char *cause;
	uint64_t v;

	if ((s = yread_scalar(y, n, path, "a size such as 512KiB")) == NULL)
		return -1;
	if (size_parse(s, &v, &cause) != 0) {
		yread_error(y, n, path, "%s", cause);
		free(cause);
		return -1;
	}
	if (v < 1 || v > max) {
		yread_error(y, n, path, "must be between 1 byte and %lluMiB, "
		    "got %.40s", (unsigned long long)(max >> 20), s);
		return -1;
	}
	*out = v;
	return 0;
}

/* Parse a number from 0 to 1 into *out, or report. Returns 0 or -1. */
int
yread_fraction(struct yread *y, yaml_node_t *n, const char *path,
    double *out)
{
	const char *s;
	char buf[64], *end;
	double v;

	if ((s = yread_scalar(y, n, path, "a number from 0 to 1")) == NULL)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0' || errno != 0 || !isfinite(v) ||
	    isspace((unsigned char)*s)) {
		yread_error(y, n, path, "expected a number from 0 to 1, "
		    "got %s", yread_what(n, buf, sizeof buf));
		return -1;
	}
	if (v < 0 || v > 1) {
		yread_error(y, n, path, "must be from 0 to 1, got %.40s", s);
		return -1;
	}
	*out = v;
	return 0;
}

/*
 * Match n against names[0..nnames - 1] and store the index in *out, or
 * report "unknown WHAT" with a suggestion. Returns 0 or -1.
 */
int
yread_enum(struct yread *y, yaml_node_t *n, const char *path,
    const char *what, const char *const *names, size_t nnames, int *out)
{
	const char *s;
	char hint[600], expected[64];
	size_t i;

	snprintf(expected, sizeof expected, "a %s", what);
	if ((s = yread_scalar(y, n, path, expected)) == NULL)
		return -1;
	for (i = 0; i < nnames; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (int)i;
			return 0;
		}
	}
	yread_error(y, n, path, "unknown %s \"%.64s\"%s", what, s,
	    yread_hint(s, names, nnames, hint, sizeof hint));
	return -1;
}

/*
 * Check that path names an existing file of the kind wanted: 'x' an
 * executable regular file, 'r' a readable regular file, 'd' a directory.
 * what says what it is ("the program"). Returns 0, or -1 after a
 * diagnostic at n.
 */
int
yread_file(struct yread *y, yaml_node_t *n, const char *path,
    const char *file, int kind)
{
	struct stat sb;

	if (*file != '/') {
		yread_error(y, n, path, "\"%.64s\" is not an absolute path",
		    file);
		return -1;
	}
	if (y->no_files)
		return 0;
	if (stat(file, &sb) != 0) {
		if (errno == ENOENT)
			yread_error(y, n, path, "%s does not exist", file);
		else
			yread_error(y, n, path, "cannot access %s: %s", file,
			    strerror(errno));
		return -1;
	}
	if (kind == 'd') {
		if (!S_ISDIR(sb.st_mode)) {
			yread_error(y, n, path, "%s is not a directory",
			    file);
			return -1;
		}
		return 0;
	}
	if (!S_ISREG(sb.st_mode)) {
		yread_error(y, n, path, "%s is not a regular file", file);
		return -1;
	}
	if (access(file, kind == 'x' ? X_OK : R_OK) != 0) {
		yread_error(y, n, path, "%s is not %s (%s)", file,
		    kind == 'x' ? "executable" : "readable", strerror(errno));
		return -1;
	}
	return 0;
}

/* Return the character at a libyaml mark (line and column), or NUL. */
static char
yread_char_at(const char *buf, size_t len, const yaml_mark_t *m)
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
yread_syntax(struct yread *y, const yaml_parser_t *parser, const char *buf,
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
		/*
		 * problem_value is a byte for bad UTF-8 and control
		 * characters, a code point for a character that decodes but
		 * is not allowed (a UTF-16 surrogate, U+FFFE).
		 */
		if (parser->problem_value > 0xff)
			diags_add(y->d, y->file, line + 1, col + 1,
			    "invalid text: %s (U+%04X%s)", problem,
			    (unsigned)parser->problem_value,
			    parser->problem_value >= 0xd800 &&
			    parser->problem_value <= 0xdfff ? ", a UTF-16 "
			    "surrogate, which UTF-8 text cannot hold" : "");
		else if (parser->problem_value != -1)
			diags_add(y->d, y->file, line + 1, col + 1,
			    "invalid text: %s (byte 0x%02x)", problem,
			    (unsigned)parser->problem_value);
		else
			diags_add(y->d, y->file, line + 1, col + 1,
			    "invalid text: %s", problem);
		return;
	}
	ctx[0] = '\0';
	if (parser->context != NULL)
		snprintf(ctx, sizeof ctx, " (%s at line %zu, column %zu)",
		    parser->context, parser->context_mark.line + 1,
		    parser->context_mark.column + 1);
	diags_add(y->d, y->file, parser->problem_mark.line + 1,
	    parser->problem_mark.column + 1, "syntax error: %s%s%s", problem,
	    ctx, yread_char_at(buf, len, &parser->problem_mark) == '\t' ?
	    "; YAML does not allow tabs for indentation" : "");
}

/*
 * Read the whole file into memory. Returns it (caller frees), or NULL
 * with *cause set.
 */
static char *
yread_read(const char *path, size_t *lenp, char **cause)
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
		if (len > YREAD_FILE_MAX) {
			xasprintf(cause, "the file is larger than %d MiB",
			    YREAD_FILE_MAX >> 20);
			goto fail;
		}
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


/*
 * Read and parse file into y, reporting to d. Returns the root node of
 * its one document, or NULL when there is nothing to walk (the file
 * cannot be read or parsed, or is empty: all reported). Repeated keys
 * are reported here too, and skipped later by yread_key(). Call
 * yread_close() in every case.
 */
yaml_node_t *
yread_open(struct yread *y, const char *file, struct diags *d)
{
	yaml_document_t doc2;
	yaml_node_t *root;
	char *cause;

	memset(y, 0, sizeof *y);
	y->file = file;
	y->d = d;
	if ((y->buf = yread_read(file, &y->len, &cause)) == NULL) {
		diags_add(d, file, 0, 0, "%s", cause);
		free(cause);
		return NULL;
	}
	if (!yaml_parser_initialize(&y->parser)) {
		diags_add(d, file, 0, 0, "out of memory");
		return NULL;
	}
	y->parsing = 1;
	yaml_parser_set_input_string(&y->parser,
	    (const unsigned char *)y->buf, y->len);
	if (!yaml_parser_load(&y->parser, &y->doc)) {
		yread_syntax(y, &y->parser, y->buf, y->len);
		return NULL;
	}
	y->loaded = 1;
	root = yaml_document_get_root_node(&y->doc);
	if (root == NULL || yread_is_null(root)) {
		diags_add(d, file, 1, 1, "the file is empty (it should be a "
		    "mapping of settings, see redjob.yml(5))");
		return NULL;
	}
	/* A second document would be ignored silently: refuse it. */
	if (!yaml_parser_load(&y->parser, &doc2))
		yread_syntax(y, &y->parser, y->buf, y->len);
	else {
		if (yaml_document_get_root_node(&doc2) != NULL)
			diags_add(d, file, doc2.start_mark.line + 1,
			    doc2.start_mark.column + 1, "a second YAML "
			    "document is not allowed (the file holds one "
			    "mapping of settings)");
		yaml_document_delete(&doc2);
	}
	yread_dups(y);
	return root;
}

/* Free what yread_open() made; the nodes are gone after this. */
void
yread_close(struct yread *y)
{
	if (y->loaded)
		yaml_document_delete(&y->doc);
	if (y->parsing)
		yaml_parser_delete(&y->parser);
	free(y->pairbase);
	free(y->dup);
	free(y->buf);
	memset(y, 0, sizeof *y);
}
