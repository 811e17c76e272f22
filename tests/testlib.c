/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The main() of every test binary: TAP output for automake's tap-driver,
 * unbuffered stdout, and an exit status that reflects failures.
 */
#include "autoconf.h"

#include <sys/stat.h>

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"

uint64_t
testlib_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

char *
testlib_tmpdir(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char *dir;

	if (base == NULL || *base == '\0')
		base = "/tmp";
	if (asprintf(&dir, "%s/redjob-%s-XXXXXX", base, tag) < 0)
		abort();
	if (mkdtemp(dir) == NULL) {
		fprintf(stderr, "mkdtemp %s: %s\n", dir, strerror(errno));
		abort();
	}
	return dir;
}

static int
testlib_rm_cb(const char *path, const struct stat *sb, int flag,
    struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void
testlib_rmtree(const char *dir)
{
	if (dir != NULL)
		nftw(dir, testlib_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

const char *
testlib_builddir(void)
{
	const char *d = getenv("top_builddir");

	return d != NULL ? d : ".";
}

const char *
testlib_srcdir(void)
{
	const char *d = getenv("top_srcdir");

	return d != NULL ? d : ".";
}

void
testlib_append(char **buf, size_t *len, const void *p, size_t n)
{
	*buf = realloc(*buf, *len + n + 1);
	ck_assert_ptr_nonnull(*buf);
	if (n > 0)
		memcpy(*buf + *len, p, n);
	*len += n;
	(*buf)[*len] = '\0';
}

char *
testlib_redjob(void)
{
	static char path[4096];

	snprintf(path, sizeof path, "%s/src/redjob", testlib_builddir());
	return path;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	setvbuf(stdout, NULL, _IONBF, 0);
	signal(SIGPIPE, SIG_IGN);
	sr = srunner_create(suite());
	srunner_set_tap(sr, "-");
	srunner_run_all(sr, CK_SILENT);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
