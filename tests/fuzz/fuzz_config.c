/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The configuration loader (src/config.c on src/yread.c): the input is a
 * whole redjob.yml, written to a file of a private directory and loaded
 * as redjobd -t loads it. A file is either loaded with no error, or
 * refused with at least one diagnostic; every diagnostic names the file
 * and has a message, one line of UTF-8 text with no control character;
 * a loaded configuration holds what redjob.yml(5) promises (one handler
 * a job, served queues, valid templates, limits that name limiters).
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
#include "template.h"

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
 * Is s one line of UTF-8 text for a terminal or a log: no control
 * character (C0, DEL, C1), and nothing but UTF-8 (RFC 3629: no overlong
 * form, no surrogate, nothing past U+10FFFF)?
 */
static int
fuzz_text(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned long c;
	size_t n, i;

	while (*p != '\0') {
		if (*p < 0x80) {
			if (*p < 0x20 || *p == 0x7f)
				return 0;
			p++;
			continue;
		}
		if ((*p & 0xe0) == 0xc0) {
			n = 2;
			c = *p & 0x1f;
		} else if ((*p & 0xf0) == 0xe0) {
			n = 3;
			c = *p & 0x0f;
		} else if ((*p & 0xf8) == 0xf0) {
			n = 4;
			c = *p & 0x07;
		} else
			return 0;
		for (i = 1; i < n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			c = c << 6 | (p[i] & 0x3f);
		}
		if (c < (n == 2 ? 0x80UL : n == 3 ? 0x800UL : 0x10000UL) ||
		    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff) ||
		    (c >= 0x80 && c <= 0x9f))
			return 0;
		p += n;
	}
	return 1;
}

/* What redjob.yml(5) promises of a configuration that loads. */
static void
fuzz_check_config(const struct config *cfg)
{
	const struct job_conf *jc;
	char *cause = NULL;
	size_t i, j;

	if (cfg->workers < 1 || cfg->concurrency < 1 || cfg->nqueues < 1)
		fuzz_fail("no workers, no slots or no queue");
	for (i = 0; i < cfg->nlimiters; i++)
		if (cfg->limiters[i].key != NULL &&
		    template_check(cfg->limiters[i].key, &cause) != 0)
			fuzz_fail("limiter %s: key %s: %s", cfg->limiters[i].name,
			    cfg->limiters[i].key, cause);
	for (i = 0; i < cfg->njobs; i++) {
		jc = &cfg->jobs[i];
		if (config_find_job(cfg, jc->type) != jc)
			fuzz_fail("job %s is not found", jc->type);
		if ((jc->exec != NULL) == (jc->plugin_path != NULL))
			fuzz_fail("job %s: not one handler", jc->type);
		if (jc->exec != NULL && (jc->nexec < 1 ||
		    jc->exec[jc->nexec] != NULL))
			fuzz_fail("job %s: exec is not terminated", jc->type);
		for (j = 0; j < cfg->nqueues; j++)
			if (strcmp(cfg->queues[j].name, jc->queue) == 0)
				break;
		if (j == cfg->nqueues)
			fuzz_fail("job %s: queue %s is not served", jc->type,
			    jc->queue);
		if (jc->lock.key != NULL && (jc->lock.ttl_ms < 1000 ||
		    template_check(jc->lock.key, &cause) != 0))
			fuzz_fail("job %s: lock %s", jc->type, jc->lock.key);
		if (jc->retry.base_ms > jc->retry.max_ms ||
		    jc->retry.jitter < 0 || jc->retry.jitter > 1)
			fuzz_fail("job %s: retry out of range", jc->type);
		for (j = 0; j < jc->nlimits; j++)
			if (jc->limits[j] == NULL || config_find_limiter(cfg,
			    jc->limits[j]->name) != jc->limits[j])
				fuzz_fail("job %s: a limit names no limiter",
				    jc->type);
	}
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
		if (!fuzz_text(d.v[i].msg))
			fuzz_fail("diagnostic \"%s\" is not one line of UTF-8 "
			    "text", d.v[i].msg);
	}
	diags_print(&d, fuzz_null);
	if (cfg == NULL && d.n == 0)
		fuzz_fail("refused without a diagnostic");
	if (cfg != NULL) {
		if ((url = config_redis_url(cfg)) == NULL)
			fuzz_fail("loaded without a Redis URL");
		free(url);
		free(config_redis_url_auth(cfg));
		fuzz_check_config(cfg);
		config_free(cfg);
	}
	diags_free(&d);
	return 0;
}
