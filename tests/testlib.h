/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * testlib.h: the shared main() of every Check test binary. Each check_*.c
 * defines suite() and links testlib.o.
 */
#ifndef REDJOB_TESTLIB_H
#define REDJOB_TESTLIB_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <check.h>

struct proc;
struct proc_spec;

/* How long a test waits for a program it runs, unless it says. */
#define TESTLIB_DEADLINE_MS 60000

Suite	*suite(void);

/* Monotonic milliseconds. */
uint64_t testlib_now_ms(void);

/* A fresh temporary directory under $TMPDIR; the caller frees the string. */
char	*testlib_tmpdir(const char *tag);

/* Remove a directory tree made by testlib_tmpdir(). */
void	 testlib_rmtree(const char *dir);

/* Append n bytes to a growing NUL-terminated buffer. */
void	 testlib_append(char **buf, size_t *len, const void *p, size_t n);

/* A whole file, NUL-terminated, its length in *lenp (may be NULL); NULL
 * if it cannot be opened. Caller frees. */
char	*testlib_read_file(const char *path, size_t *lenp);
/* The same, failing the test if the file cannot be read. */
char	*must_read_file(const char *path, size_t *lenp);

/* proc_spawn(), failing the test if it cannot start. */
struct proc *must_spawn(const struct proc_spec *spec);
/* proc_wait(), failing the test at the deadline; returns the status. */
int	 must_wait(struct proc *p, unsigned timeout_ms);
/* proc_wait_output(), failing the test unless needle comes in time. */
void	 must_wait_output(struct proc *p, const char *needle,
	    unsigned timeout_ms);

/* The path of the built redjob CLI (a static buffer). */
char	*testlib_redjob(void);
/*
 * Start "redjob [-u url] ARG..." (the built CLI; the arguments end with
 * NULL) with the stdin, outputs and environment of spec, whose argv is
 * ignored. Fails the test if it cannot start.
 */
struct proc *must_redjob_spawn(const struct proc_spec *spec, const char *url,
	    ...);
struct proc *must_redjob_vspawn(const struct proc_spec *spec,
	    const char *url, va_list ap);
/* The same with the arguments in a NULL-terminated array (no -u). */
struct proc *must_redjob_spawnv(const struct proc_spec *spec,
	    const char *const *args);

/* The top build and source directories (from the environment). */
const char *testlib_builddir(void);
const char *testlib_srcdir(void);

#endif
