/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The configuration loader (src/config.c on src/yread.c): the input is a
 * whole redjob.yml, written to a file of a private directory and loaded
 * as redjobd -t loads it. A file is either loaded with no error, or
 * refused with at least one diagnostic; every diagnostic names the file
 * and has a message, one line of text with no control character; a
 * loaded configuration gives its Redis URL and finds its jobs and
 * limiters by name.
 */
#include "autoconf.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "diags.h"
#include "fuzz.h"

static char fuzz_dir[] = "/tmp/redjob-fuzz-config.XXXXXX";
static char fuzz_file[sizeof fuzz_dir + 16];
static FILE *fuzz_null;

static void
fuzz_cleanup(void)
{
	unlink(fuzz_file);
	rmdir(fuzz_dir);
}

static void
fuzz_init(void)
{
	if (mkdtemp(fuzz_dir) == NULL)
		fuzz_fail("mkdtemp failed");
	snprintf(fuzz_file, sizeof fuzz_file, "%s/redjob.yml", fuzz_dir);
	atexit(fuzz_cleanup);
	if ((fuzz_null = fopen("/dev/null", "w")) == NULL)
		fuzz_fail("cannot open /dev/null");
}

static void
fuzz_write(const uint8_t *data, size_t size)
{
	size_t off = 0;
	ssize_t w;
	int fd;

	fd = open(fuzz_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1)
		fuzz_fail("cannot write %s", fuzz_file);
	while (off < size) {
		if ((w = write(fd, data + off, size - off)) <= 0)
			fuzz_fail("cannot write %s", fuzz_file);
		off += (size_t)w;
	}
	close(fd);
}

/*
 * Does s hold a control character (C0, DEL, or C1 in UTF-8)? A
 * diagnostic is one line of plain text for a terminal or a log.
 */
static int
fuzz_control(const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f ||
		    (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
			return 1;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diags d = { NULL, 0 };
	struct config *cfg;
	char *url;
	size_t i;

	if (fuzz_null == NULL)
		fuzz_init();
	fuzz_write(data, size);
	cfg = config_load(fuzz_file, &d);
	for (i = 0; i < d.n; i++) {
		if (d.v[i].file == NULL || strcmp(d.v[i].file, fuzz_file) != 0 ||
		    d.v[i].msg == NULL || d.v[i].msg[0] == '\0')
			fuzz_fail("diagnostic %zu has no file or no message", i);
		if (fuzz_control(d.v[i].msg))
			fuzz_fail("diagnostic \"%s\" holds a control character",
			    d.v[i].msg);
	}
	diags_print(&d, fuzz_null);
	if (cfg == NULL && d.n == 0)
		fuzz_fail("refused without a diagnostic");
	if (cfg != NULL) {
		if ((url = config_redis_url(cfg)) == NULL)
			fuzz_fail("loaded without a Redis URL");
		free(url);
		free(config_redis_url_auth(cfg));
		for (i = 0; i < cfg->njobs; i++)
			if (config_find_job(cfg, cfg->jobs[i].type) == NULL)
				fuzz_fail("job %s is not found", cfg->jobs[i].type);
		for (i = 0; i < cfg->nlimiters; i++)
			if (config_find_limiter(cfg,
			    cfg->limiters[i].name) == NULL)
				fuzz_fail("limiter %s is not found",
				    cfg->limiters[i].name);
		config_free(cfg);
	}
	diags_free(&d);
	return 0;
}
