/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Diagnostics "FILE:LINE:COL: message": collected rather than returned
 * one at a time, so that one run reports every problem of a file, and
 * sorted into the order of the file before they are shown.
 */
#include "autoconf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "diags.h"
#include "xmalloc.h"

/*
 * Does byte i of s start a control character: C0, DEL, or C1 (U+0080 to
 * U+009F, 0xc2 0x80-0x9f in UTF-8)? Returns its length in bytes, or 0.
 */
static size_t
diags_control(const unsigned char *s, size_t i)
{
	if (s[i] < 0x20 || s[i] == 0x7f)
		return 1;
	if (s[i] == 0xc2 && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f)
		return 2;
	return 0;
}

/*
 * Write every control character of msg as \xNN, in place of what it
 * would do to the terminal or the log that shows the diagnostic: YAML's
 * escapes ("\e[2J", "\n", "\x85") put any of them in a key or a value
 * that a message quotes, and a diagnostic is one line of plain text.
 * Returns msg, or a new string after freeing msg.
 */
static char *
diags_escape(char *msg)
{
	const unsigned char *s = (const unsigned char *)msg;
	size_t i, k, n, len = 0, extra = 0;
	char *out;

	for (i = 0; s[i] != '\0'; i += n > 0 ? n : 1)
		if ((n = diags_control(s, i)) > 0)
			extra += 3 * n;
	if (extra == 0)
		return msg;
	out = xmalloc(i + extra + 1);
	for (i = 0; s[i] != '\0';) {
		if ((n = diags_control(s, i)) == 0) {
			out[len++] = (char)s[i++];
			continue;
		}
		for (k = 0; k < n; k++, i++)
			len += (size_t)snprintf(out + len, 5, "\\x%02x", s[i]);
	}
	out[len] = '\0';
	free(msg);
	return out;
}

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
	msg = diags_escape(msg);
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
void
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

