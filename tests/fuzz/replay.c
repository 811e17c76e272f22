/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Replays a fuzz harness's committed corpus as a regression test, with
 * the compiler and flags of the build, so that make check runs every
 * input the fuzzers kept (and every crash they once found) without clang.
 * Usage: replay [DIR...]; prints TAP, one test per file. With no DIR,
 * it replays $top_srcdir/tests/fuzz/corpus/FUZZ_HARNESS, FUZZ_HARNESS
 * being defined when it is built.
 */
#include "autoconf.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "xmalloc.h"

static int
replay_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Read a whole file. Returns it (caller frees), or NULL. */
static uint8_t *
replay_read(const char *path, size_t *len)
{
	uint8_t *buf = NULL;
	size_t size = 0, n;
	FILE *fp;

	*len = 0;
	if ((fp = fopen(path, "rb")) == NULL)
		return NULL;
	for (;;) {
		if (*len == size) {
			size = size == 0 ? 4096 : size * 2;
			buf = xreallocarray(buf, size, 1);
		}
		if ((n = fread(buf + *len, 1, size - *len, fp)) == 0)
			break;
		*len += n;
	}
	if (ferror(fp)) {
		fclose(fp);
		free(buf);
		return NULL;
	}
	fclose(fp);
	return buf;
}

int
main(int argc, char **argv)
{
	struct dirent *de;
	struct stat sb;
	char **files = NULL, *path, *defv[3] = { NULL, NULL, NULL };
	const char *top;
	size_t nfiles = 0, i, len;
	uint8_t *buf;
	int a, failed = 0;
	DIR *dir;

	if (argc < 2) {
		top = getenv("top_srcdir");
		xasprintf(&path, "%s/tests/fuzz/corpus/%s",
		    top != NULL ? top : ".", FUZZ_HARNESS);
		defv[0] = argv[0];
		defv[1] = path;
		argv = defv;
		argc = 2;
	}
	for (a = 1; a < argc; a++) {
		if ((dir = opendir(argv[a])) == NULL) {
			printf("Bail out! %s: %s\n", argv[a], strerror(errno));
			return 1;
		}
		while ((de = readdir(dir)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			xasprintf(&path, "%s/%s", argv[a], de->d_name);
			if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
				free(path);
				continue;
			}
			files = xreallocarray(files, nfiles + 1, sizeof *files);
			files[nfiles++] = path;
		}
		closedir(dir);
	}
	/* Every harness has its corpus: none means a wrong path. */
	if (nfiles == 0) {
		printf("Bail out! no corpus files in %s\n", argv[1]);
		return 1;
	}
	qsort(files, nfiles, sizeof *files, replay_cmp);
	printf("1..%zu\n", nfiles);
	for (i = 0; i < nfiles; i++) {
		/* A broken promise aborts, which the TAP driver reports. */
		if ((buf = replay_read(files[i], &len)) == NULL) {
			printf("not ok %zu - %s: cannot read\n", i + 1,
			    files[i]);
			free(files[i]);
			failed = 1;
			continue;
		}
		fflush(stdout);
		LLVMFuzzerTestOneInput(buf, len);
		printf("ok %zu - %s\n", i + 1, files[i]);
		free(buf);
		free(files[i]);
	}
	free(files);
	free(defv[1]);
	return failed;
}
