/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * diags.h: a list of diagnostics "FILE:LINE:COL: message", as redjobd -t
 * prints them and a reload logs them. A message is one line of UTF-8
 * text: a control character in it (from a key or value it quotes), or a
 * byte that is not UTF-8, is shown as \xNN.
 */
#ifndef REDJOB_DIAGS_H
#define REDJOB_DIAGS_H

#include <stddef.h>

#include "compat.h"

struct diag {
	char		*file;
	unsigned	 line;		/* 1-based; 0: the whole file */
	unsigned	 col;		/* 1-based */
	char		*msg;
};

struct diags {
	struct diag	*v;
	size_t		 n;
};

void	diags_add(struct diags *d, const char *file, unsigned line,
	    unsigned col, const char *fmt, ...) printflike(5, 6);
void	diags_print(const struct diags *d, void *fp);	/* FILE * */
void	diags_sort(struct diags *d, size_t first);
void	diags_free(struct diags *d);

#endif
