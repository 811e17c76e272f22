/* SPDX-License-Identifier: BSD-2-Clause */
/* Helpers shared by the fuzz harnesses (fuzz.h). */
#include "autoconf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "xmalloc.h"

char *
fuzz_str(const uint8_t *data, size_t size)
{
	const uint8_t *nul;

	if ((nul = memchr(data, '\0', size)) != NULL)
		size = (size_t)(nul - data);
	return xmemdup(data, size);
}

void
fuzz_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "fuzz: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	abort();
}
