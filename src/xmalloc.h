/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * xmalloc.h: allocation that never returns NULL, for the daemon and the
 * CLI only. libredjob never uses these: it runs inside other programs.
 */
#ifndef REDJOB_XMALLOC_H
#define REDJOB_XMALLOC_H

#include <stddef.h>

#include "compat.h"

void	*xmalloc(size_t size);
void	*xcalloc(size_t nmemb, size_t size);
void	*xreallocarray(void *ptr, size_t nmemb, size_t size);
char	*xstrdup(const char *s);
char	*xstrndup(const char *s, size_t n);
void	*xmemdup(const void *p, size_t n);
int	 xasprintf(char **ret, const char *fmt, ...) printflike(2, 3);

#endif
