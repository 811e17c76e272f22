/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Allocation wrappers that log and abort on failure (tmux, OpenSSH). A
 * worker that dies here loses nothing: its jobs are leased in Redis.
 */
#include "autoconf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

__dead static void
xmalloc_fail(size_t n)
{
	fprintf(stderr, "out of memory allocating %zu bytes\n", n);
	abort();
}

/* Allocate size bytes (at least one). Never returns NULL. */
void *
xmalloc(size_t size)
{
	void *p;

	if ((p = malloc(size == 0 ? 1 : size)) == NULL)
		xmalloc_fail(size);
	return p;
}

/* Allocate a zeroed array. Never returns NULL. */
void *
xcalloc(size_t nmemb, size_t size)
{
	void *p;

	if (nmemb == 0 || size == 0)
		nmemb = size = 1;
	if ((p = calloc(nmemb, size)) == NULL)
		xmalloc_fail(nmemb * size);
	return p;
}

/* Resize an array, checking nmemb * size for overflow. */
void *
xreallocarray(void *ptr, size_t nmemb, size_t size)
{
	void *p;

	if (nmemb == 0 || size == 0)
		nmemb = size = 1;
	if (size > (size_t)-1 / nmemb)
		xmalloc_fail((size_t)-1);
	if ((p = realloc(ptr, nmemb * size)) == NULL)
		xmalloc_fail(nmemb * size);
	return p;
}

/* Copy a string. */
char *
xstrdup(const char *s)
{
	return xmemdup(s, strlen(s) + 1);
}

/* Copy at most n bytes of a string and terminate it. */
char *
xstrndup(const char *s, size_t n)
{
	char *p;

	n = strnlen(s, n);
	p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* Copy n bytes; the copy has one extra NUL so text can be used as-is. */
void *
xmemdup(const void *src, size_t n)
{
	char *p;

	p = xmalloc(n + 1);
	if (n > 0)
		memcpy(p, src, n);
	p[n] = '\0';
	return p;
}

/* Format into a new string stored in *ret. Returns its length. */
int
xasprintf(char **ret, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(ret, fmt, ap);
	va_end(ap);
	if (n < 0)
		xmalloc_fail(strlen(fmt));
	return n;
}
