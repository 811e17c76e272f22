/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The main() of every test binary: TAP output for automake's tap-driver,
 * unbuffered stdout, and an exit status that reflects failures.
 */
#include "autoconf.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mtime.h"
#include "proc.h"
#include "testlib.h"

uint64_t
testlib_now_ms(void)
{
	return mtime_now();
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
testlib_read_file(const char *path, size_t *lenp)
{
	char chunk[65536], *buf;
	size_t len = 0;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	buf = calloc(1, 1);
	ck_assert_ptr_nonnull(buf);
	/* Read to EOF: the size of a file in /proc, or of one still being
	 * written, is not known up front. */
	while ((n = read(fd, chunk, sizeof chunk)) != 0) {
		if (n == -1) {
			ck_assert_msg(errno == EINTR, "read %s: %s", path,
			    strerror(errno));
			continue;
		}
		testlib_append(&buf, &len, chunk, (size_t)n);
	}
	close(fd);
	if (lenp != NULL)
		*lenp = len;
	return buf;
}

char *
must_read_file(const char *path, size_t *lenp)
{
	char *buf;

	buf = testlib_read_file(path, lenp);
	ck_assert_msg(buf != NULL, "cannot open %s: %s", path,
	    strerror(errno));
	return buf;
}

struct proc *
must_spawn(const struct proc_spec *spec)
{
	struct proc *p;
	char *cause = NULL;

	p = proc_spawn(spec, &cause);
	ck_assert_msg(p != NULL, "cannot start %s: %s", spec->name != NULL ?
	    spec->name : spec->argv != NULL ? spec->argv[0] : "a function",
	    cause);
	return p;
}

int
must_wait(struct proc *p, unsigned timeout_ms)
{
	ck_assert_msg(proc_wait(p, timeout_ms) == 0, "%s did not end in %u "
	    "ms; stdout \"%s\", stderr \"%s\"", p->name, timeout_ms, p->out,
	    p->err);
	return p->status;
}

void
must_wait_output(struct proc *p, const char *needle, unsigned timeout_ms)
{
	ck_assert_msg(proc_wait_output(p, needle, timeout_ms) == 0, "no \"%s\" "
	    "from %s in %u ms: stdout \"%s\", stderr \"%s\"", needle, p->name,
	    timeout_ms, p->out, p->err);
}

char *
testlib_redjob(void)
{
	static char path[4096];

	snprintf(path, sizeof path, "%s/src/redjob", testlib_builddir());
	return path;
}

struct proc *
must_redjob_spawnv(const struct proc_spec *spec, const char *const *args)
{
	struct proc_spec rs = *spec;
	char *argv[64];
	int n = 0;

	argv[n++] = testlib_redjob();
	for (; *args != NULL; args++) {
		ck_assert_int_lt(n, (int)(sizeof argv / sizeof argv[0]) - 1);
		argv[n++] = (char *)*args;
	}
	argv[n] = NULL;
	rs.argv = argv;
	rs.fn = NULL;
	if (rs.name == NULL)
		rs.name = "redjob";
	return must_spawn(&rs);
}

struct proc *
must_redjob_vspawn(const struct proc_spec *spec, const char *url, va_list ap)
{
	const char *args[64], *a;
	int n = 0;

	if (url != NULL) {
		args[n++] = "-u";
		args[n++] = url;
	}
	while ((a = va_arg(ap, const char *)) != NULL) {
		ck_assert_int_lt(n, (int)(sizeof args / sizeof args[0]) - 1);
		args[n++] = a;
	}
	args[n] = NULL;
	return must_redjob_spawnv(spec, args);
}

struct proc *
must_redjob_spawn(const struct proc_spec *spec, const char *url, ...)
{
	struct proc *p;
	va_list ap;

	va_start(ap, url);
	p = must_redjob_vspawn(spec, url, ap);
	va_end(ap);
	return p;
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
