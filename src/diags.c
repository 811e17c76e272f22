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
 * The length of the UTF-8 character at s (1 to 4 bytes), or 0 if s does
 * not start a valid one (a stray or cut sequence, an overlong form, a
 * surrogate, beyond U+10FFFF). s is NUL-terminated.
 */
static size_t
diags_utf8(const unsigned char *s)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t i, n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		if (s[0] == 0xe0)
			lo = 0xa0;
		else if (s[0] == 0xed)
			hi = 0x9f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	for (i = 1; i < n; i++) {
		if (s[i] < lo || s[i] > hi)
			return 0;
		lo = 0x80;
		hi = 0xbf;
	}
	return n;
}

/*
 * The length of the character at s, with *esc set if it must be shown
 * as \xNN: a control character (C0, DEL, or C1: U+0080 to U+009F), or a
 * byte that is not UTF-8 (a message cuts a quoted text at a byte count,
 * "%.64s", which may fall inside a character).
 */
static size_t
diags_char(const unsigned char *s, int *esc)
{
	size_t n;

	if ((n = diags_utf8(s)) == 0) {
		*esc = 1;
		return 1;
	}
	*esc = s[0] < 0x20 || s[0] == 0x7f || (s[0] == 0xc2 && s[1] <= 0x9f);
	return n;
}

/*
 * Write every control character of msg, and every byte that is not
 * UTF-8, as \xNN, in place of what it would do to the terminal or the
 * log that shows the diagnostic: YAML's escapes ("\e[2J", "\n", "\x85")
 * put any character in a key or a value that a message quotes, and a
 * diagnostic is one line of UTF-8 text. Returns msg, or a new string
 * after freeing msg.
 */
static char *
diags_escape(char *msg)
{
	const unsigned char *s = (const unsigned char *)msg;
	size_t i, k, n, len = 0, extra = 0;
	char *out;
	int esc;

	for (i = 0; s[i] != '\0'; i += n)
		if ((n = diags_char(s + i, &esc)) > 0 && esc)
			extra += 3 * n;
	if (extra == 0)
		return msg;
	out = xmalloc(i + extra + 1);
	for (i = 0; s[i] != '\0'; i += n) {
		n = diags_char(s + i, &esc);
		for (k = 0; k < n; k++) {
			if (esc)
				len += (size_t)snprintf(out + len, 5, "\\x%02x",
				    s[i + k]);
			else
				out[len++] = (char)s[i + k];
		}
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

