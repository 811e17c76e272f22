/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * testlib.h: the shared main() of every Check test binary. Each check_*.c
 * defines suite() and links testlib.o.
 */
#ifndef REDJOB_TESTLIB_H
#define REDJOB_TESTLIB_H

#include <stddef.h>
#include <stdint.h>

#include <check.h>

Suite	*suite(void);

/* Monotonic milliseconds. */
uint64_t testlib_now_ms(void);

/* A fresh temporary directory under $TMPDIR; the caller frees the string. */
char	*testlib_tmpdir(const char *tag);

/* Remove a directory tree made by testlib_tmpdir(). */
void	 testlib_rmtree(const char *dir);

/* Append n bytes to a growing NUL-terminated buffer. */
void	 testlib_append(char **buf, size_t *len, const void *p, size_t n);

/* The path of the built redjob CLI (a static buffer). */
char	*testlib_redjob(void);

/* The top build and source directories (from the environment). */
const char *testlib_builddir(void);
const char *testlib_srcdir(void);

#endif
