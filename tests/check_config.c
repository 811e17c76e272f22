/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The configuration module: key templates, the good files of tests/data
 * loaded field by field, the example etc/redjob.yml, and the corpus of
 * bad files in tests/data/bad, each checked against the exact diagnostics
 * in its NAME.expected ("LINE:COL: message" lines, the file name left
 * out so that the test does not depend on where the tree is).
 */
#include "autoconf.h"

#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "compat.h"
#include "config.h"
#include "log.h"
#include "template.h"
#include "testlib.h"

/* The bad files, found once in suite() so each gets its own loop test. */
static glob_t corpus;

/* Return the path of a file under tests/data. Caller frees. */
static char *
data_path(const char *name)
{
	char *p;

	ck_assert_int_ge(asprintf(&p, "%s/tests/data/%s", testlib_srcdir(),
	    name), 0);
	return p;
}

/* Read a whole file into a string. Caller frees. */
static char *
slurp(const char *path)
{
	FILE *f;
	char *buf;
	long n;

	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s: %s", path, strerror(errno));
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	ck_assert_int_ge(n, 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Write text to path. */
static void
spew(const char *path, const char *text)
{
	FILE *f;

	f = fopen(path, "w");
	ck_assert_msg(f != NULL, "cannot create %s: %s", path,
	    strerror(errno));
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
}

/*
 * Format the diagnostics as "LINE:COL: message" lines, checking that each
 * names file. Caller frees.
 */
static char *
diags_text(const struct diags *d, const char *file)
{
	char *out = NULL;
	size_t len = 0, i;
	FILE *f;

	f = open_memstream(&out, &len);
	ck_assert_ptr_nonnull(f);
	for (i = 0; i < d->n; i++) {
		ck_assert_str_eq(d->v[i].file, file);
		fprintf(f, "%u:%u: %s\n", d->v[i].line, d->v[i].col,
		    d->v[i].msg);
	}
	fclose(f);
	return out;
}

/* Load a file that must be valid, failing with its diagnostics if not. */
static struct config *
must_load(const char *path)
{
	struct diags d = { NULL, 0 };
	struct config *cfg;
	char *text;

	cfg = config_load(path, &d);
	text = diags_text(&d, path);
	ck_assert_msg(cfg != NULL && d.n == 0, "%s did not load:\n%s", path,
	    text);
	free(text);
	diags_free(&d);
	return cfg;
}

/* Load a file under tests/data/good. */
static struct config *
must_load_good(const char *name)
{
	struct config *cfg;
	char *path, *rel;

	ck_assert_int_ge(asprintf(&rel, "good/%s", name), 0);
	path = data_path(rel);
	cfg = must_load(path);
	ck_assert_str_eq(cfg->path, path);
	free(rel);
	free(path);
	return cfg;
}

/* Render tpl with the given variables. Caller frees. */
static char *
render(const char *tpl, const char *key, const char *type, const char *queue,
    const char *id)
{
	struct template_vars v = { key, type, queue, id };

	return template_render(tpl, &v);
}

/* Return the cause template_check() gives for tpl, which must be bad. */
static char *
check_error(const char *tpl)
{
	char *cause = NULL;

	ck_assert_msg(template_check(tpl, &cause) == -1, "\"%s\" was accepted",
	    tpl);
	ck_assert_ptr_nonnull(cause);
	return cause;
}

START_TEST(test_templates_render_every_placeholder)
{
	char *s;

	s = render("email:{key}", "ann@example.com", "send", "mail", "mail:7");
	ck_assert_str_eq(s, "email:ann@example.com");
	free(s);
	s = render("{type}/{queue}/{id}/{key}", "k", "t", "q", "q:1");
	ck_assert_str_eq(s, "t/q/q:1/k");
	free(s);
	s = render("{key}{key}", "ab", NULL, NULL, NULL);
	ck_assert_str_eq(s, "abab");
	free(s);
	s = render("global", "k", "t", "q", "i");
	ck_assert_str_eq(s, "global");
	free(s);
	s = render("", "k", "t", "q", "i");
	ck_assert_str_eq(s, "");
	free(s);
}
END_TEST

START_TEST(test_templates_render_null_values_as_empty)
{
	char *s;

	s = render("user:{key}:{type}:{queue}:{id}", NULL, NULL, NULL, NULL);
	ck_assert_str_eq(s, "user::::");
	free(s);
}
END_TEST

START_TEST(test_templates_escape_substituted_values)
{
	char *s, *t;

	/* A key cannot open a hash tag nor fake a placeholder. */
	s = render("lock:{key}", "{evil}", NULL, NULL, NULL);
	ck_assert_str_eq(s, "lock:%7Bevil%7D");
	free(s);
	s = render("{key}", "{type}", "T", NULL, NULL);
	ck_assert_str_eq(s, "%7Btype%7D");
	free(s);
	s = render("{queue}:{key}", "50%", NULL, "q}", NULL);
	ck_assert_str_eq(s, "q%7D:50%25");
	free(s);
	/* '%' is escaped too, so distinct keys never render alike. */
	s = render("{key}", "%7B", NULL, NULL, NULL);
	t = render("{key}", "{", NULL, NULL, NULL);
	ck_assert_str_eq(s, "%257B");
	ck_assert_str_eq(t, "%7B");
	free(s);
	free(t);
}
END_TEST

START_TEST(test_templates_keep_literal_text)
{
	char *s;

	/* Literal '%' in the template itself stands for itself. */
	s = render("100%:{key}", "x", NULL, NULL, NULL);
	ck_assert_str_eq(s, "100%:x");
	free(s);
	/* An unchecked template still renders without a single brace. */
	s = render("a}{b{key", "k", NULL, NULL, NULL);
	ck_assert_str_eq(s, "a%7D%7Bb%7Bkey");
	free(s);
}
END_TEST

START_TEST(test_templates_are_checked)
{
	char *cause = NULL;

	ck_assert_int_eq(template_check("email:{key}", &cause), 0);
	ck_assert_int_eq(template_check("{type}-{queue}-{id}-{key}", &cause),
	    0);
	ck_assert_int_eq(template_check("no placeholder at all", &cause), 0);
	ck_assert_int_eq(template_check("", &cause), 0);
	ck_assert_ptr_null(cause);

	cause = check_error("user:{user}");
	ck_assert_str_eq(cause, "unknown placeholder \"{user}\" (use {key}, "
	    "{type}, {queue} or {id})");
	free(cause);
	cause = check_error("{}");
	ck_assert_str_eq(cause, "unknown placeholder \"{}\" (use {key}, "
	    "{type}, {queue} or {id})");
	free(cause);
	cause = check_error("{KEY}");
	ck_assert_str_eq(cause, "unknown placeholder \"{KEY}\" (use {key}, "
	    "{type}, {queue} or {id})");
	free(cause);
	cause = check_error("email:{key");
	ck_assert_str_eq(cause, "unclosed \"{\" at position 7 of "
	    "\"email:{key\"");
	free(cause);
	cause = check_error("{{key}}");
	ck_assert_str_eq(cause, "unclosed \"{\" at position 1 of \"{{key}}\"");
	free(cause);
	cause = check_error("a}{key}");
	ck_assert_str_eq(cause, "unmatched \"}\" at position 2 of \"a}{key}\"");
	free(cause);
	cause = check_error("{key}}");
	ck_assert_str_eq(cause, "unmatched \"}\" at position 6 of \"{key}}\"");
	free(cause);
}
END_TEST

START_TEST(test_minimal_file_takes_every_default)
{
	struct config *cfg;
	const struct job_conf *jc;
	char *url;

	cfg = must_load_good("minimal.yml");
	ck_assert_str_eq(cfg->url, "redis://127.0.0.1:6379/0");
	ck_assert_ptr_null(cfg->password);
	ck_assert_str_eq(cfg->namespace, "redjob");
	ck_assert_ptr_null(cfg->embedded_dir);
	ck_assert_ptr_null(cfg->embedded_socket);
	url = config_redis_url(cfg);
	ck_assert_str_eq(url, "redis://127.0.0.1:6379/0");
	free(url);
	ck_assert_uint_eq(cfg->workers, 2);
	ck_assert_uint_eq(cfg->concurrency, 8);
	ck_assert_uint_eq(cfg->shutdown_timeout_ms, 30000);
	ck_assert_uint_eq(cfg->lease_ms, 30000);
	ck_assert_uint_eq(cfg->max_stalls, 3);
	ck_assert_uint_eq(cfg->batch, 32);
	ck_assert_uint_eq(cfg->max_payload, 512 * 1024);
	ck_assert_int_eq(cfg->log_level, LOG_LEVEL_INFO);
	ck_assert_uint_eq(cfg->nqueues, 1);
	ck_assert_str_eq(cfg->queues[0].name, "default");
	ck_assert_uint_eq(cfg->queues[0].weight, 1);
	ck_assert_uint_eq(cfg->nlimiters, 0);
	ck_assert_uint_eq(cfg->njobs, 1);

	jc = &cfg->jobs[0];
	ck_assert_str_eq(jc->type, "hello");
	ck_assert_str_eq(jc->queue, "default");
	ck_assert_uint_eq(jc->nexec, 1);
	ck_assert_str_eq(jc->exec[0], "/bin/true");
	ck_assert_ptr_null(jc->exec[1]);
	ck_assert_ptr_null(jc->plugin_path);
	ck_assert_ptr_null(jc->plugin_symbol);
	ck_assert_uint_eq(jc->timeout_ms, 30 * 60 * 1000);
	ck_assert_uint_eq(jc->retry.max_attempts, 25);
	ck_assert_int_eq(jc->retry.backoff, BACKOFF_EXPONENTIAL);
	ck_assert_uint_eq(jc->retry.base_ms, 1000);
	ck_assert_uint_eq(jc->retry.max_ms, 3600 * 1000);
	ck_assert_double_eq(jc->retry.jitter, 0.5);
	ck_assert_ptr_null(jc->lock.key);
	ck_assert_uint_eq(jc->lock.ttl_ms, 60000);
	ck_assert_int_eq(jc->lock.on_conflict, CONFLICT_REQUEUE);
	ck_assert_uint_eq(jc->lock.requeue_delay_ms, 0);
	ck_assert_uint_eq(jc->nlimits, 0);
	ck_assert_uint_eq(jc->nenv, 0);
	ck_assert_ptr_null(jc->cwd);
	ck_assert_int_eq(jc->schedule.on, 0);
	ck_assert_uint_eq(jc->line, 3);
	config_free(cfg);
}
END_TEST

START_TEST(test_full_file_keeps_every_value)
{
	struct config *cfg;
	const struct limiter_conf *lc;
	const struct job_conf *jc;
	char *url;

	cfg = must_load_good("full.yml");
	ck_assert_str_eq(cfg->url, "redis://10.0.0.5:6380/2");
	url = config_redis_url(cfg);
	ck_assert_str_eq(url, "redis://10.0.0.5:6380/2");
	free(url);
	ck_assert_str_eq(cfg->namespace, "app:jobs");
	ck_assert_uint_eq(cfg->workers, 4);
	ck_assert_uint_eq(cfg->concurrency, 16);
	ck_assert_uint_eq(cfg->shutdown_timeout_ms, 60000);
	ck_assert_uint_eq(cfg->lease_ms, 45000);
	ck_assert_uint_eq(cfg->max_stalls, 0);
	ck_assert_uint_eq(cfg->batch, 4);
	ck_assert_uint_eq(cfg->max_payload, 1024 * 1024);
	ck_assert_int_eq(cfg->log_level, LOG_LEVEL_DEBUG);

	ck_assert_uint_eq(cfg->nqueues, 3);
	ck_assert_str_eq(cfg->queues[0].name, "default");
	ck_assert_uint_eq(cfg->queues[0].weight, 1);
	ck_assert_str_eq(cfg->queues[1].name, "mail");
	ck_assert_uint_eq(cfg->queues[1].weight, 3);
	ck_assert_str_eq(cfg->queues[2].name, "reports.slow");
	ck_assert_uint_eq(cfg->queues[2].weight, 1000);

	ck_assert_uint_eq(cfg->nlimiters, 4);
	lc = config_find_limiter(cfg, "smtp");
	ck_assert_ptr_eq(lc, &cfg->limiters[0]);
	ck_assert_int_eq(lc->kind, LIMITER_GCRA);
	ck_assert_uint_eq(lc->rate.count, 10);
	ck_assert_uint_eq(lc->rate.period_ms, 1000);
	ck_assert_uint_eq(lc->burst, 20);
	ck_assert_ptr_null(lc->key);
	lc = config_find_limiter(cfg, "per_user");
	ck_assert_ptr_nonnull(lc);
	ck_assert_int_eq(lc->kind, LIMITER_WINDOW);
	ck_assert_uint_eq(lc->limit, 5);
	ck_assert_uint_eq(lc->period_ms, 60000);
	ck_assert_str_eq(lc->key, "user:{key}");
	lc = config_find_limiter(cfg, "leaky");
	ck_assert_ptr_nonnull(lc);
	ck_assert_int_eq(lc->kind, LIMITER_FUNNEL);
	ck_assert_uint_eq(lc->capacity, 15);
	ck_assert_uint_eq(lc->rate.count, 1);
	ck_assert_uint_eq(lc->rate.period_ms, 1000);
	lc = config_find_limiter(cfg, "exports");
	ck_assert_ptr_nonnull(lc);
	ck_assert_int_eq(lc->kind, LIMITER_CONCURRENCY);
	ck_assert_uint_eq(lc->limit, 2);
	ck_assert_uint_eq(lc->lease_ms, 120000);
	ck_assert_ptr_null(config_find_limiter(cfg, "nosuch"));

	ck_assert_uint_eq(cfg->njobs, 2);
	jc = config_find_job(cfg, "send_email");
	ck_assert_ptr_eq(jc, &cfg->jobs[0]);
	ck_assert_str_eq(jc->queue, "mail");
	ck_assert_uint_eq(jc->nexec, 2);
	ck_assert_str_eq(jc->exec[0], "/bin/cat");
	ck_assert_str_eq(jc->exec[1], "--show-all");
	ck_assert_ptr_null(jc->exec[2]);
	ck_assert_uint_eq(jc->timeout_ms, 30000);
	ck_assert_uint_eq(jc->retry.max_attempts, 10);
	ck_assert_int_eq(jc->retry.backoff, BACKOFF_LINEAR);
	ck_assert_uint_eq(jc->retry.base_ms, 2000);
	ck_assert_uint_eq(jc->retry.max_ms, 600000);
	ck_assert_double_eq(jc->retry.jitter, 0.25);
	ck_assert_str_eq(jc->lock.key, "email:{key}");
	ck_assert_uint_eq(jc->lock.ttl_ms, 90000);
	ck_assert_int_eq(jc->lock.on_conflict, CONFLICT_DISCARD);
	ck_assert_uint_eq(jc->lock.requeue_delay_ms, 5000);
	ck_assert_uint_eq(jc->nlimits, 2);
	ck_assert_ptr_eq(jc->limits[0], config_find_limiter(cfg, "smtp"));
	ck_assert_ptr_eq(jc->limits[1], config_find_limiter(cfg, "per_user"));
	ck_assert_uint_eq(jc->nenv, 3);
	ck_assert_str_eq(jc->env[0].name, "LANG");
	ck_assert_str_eq(jc->env[0].value, "C.UTF-8");
	ck_assert_str_eq(jc->env[1].name, "EMPTY");
	ck_assert_str_eq(jc->env[1].value, "");
	ck_assert_str_eq(jc->env[2].name, "COUNT");
	ck_assert_str_eq(jc->env[2].value, "3");
	ck_assert_str_eq(jc->cwd, "/");
	ck_assert_uint_eq(jc->line, 23);

	jc = config_find_job(cfg, "export.csv");
	ck_assert_ptr_eq(jc, &cfg->jobs[1]);
	ck_assert_str_eq(jc->queue, "reports.slow");
	ck_assert_uint_eq(jc->nexec, 3);
	ck_assert_str_eq(jc->exec[0], "/bin/sh");
	ck_assert_str_eq(jc->exec[1], "-c");
	ck_assert_str_eq(jc->exec[2], "cat > /dev/null");
	ck_assert_uint_eq(jc->timeout_ms, 0);
	ck_assert_uint_eq(jc->nlimits, 1);
	ck_assert_str_eq(jc->limits[0]->name, "exports");
	ck_assert_int_eq(jc->retry.backoff, BACKOFF_FIXED);
	ck_assert_uint_eq(jc->retry.max_attempts, 1000000);
	ck_assert_double_eq(jc->retry.jitter, 0);
	ck_assert_uint_eq(jc->retry.base_ms, 1000);
	ck_assert_str_eq(jc->lock.key, "export-{type}-{queue}-{id}");
	ck_assert_uint_eq(jc->lock.ttl_ms, 60000);
	ck_assert_int_eq(jc->lock.on_conflict, CONFLICT_FAIL);
	ck_assert_int_eq(jc->schedule.on, 1);
	ck_assert_str_eq(jc->schedule.spec, "30 2 * * mon-fri");
	ck_assert_str_eq(jc->schedule.cron.tz, "Europe/Berlin");
	ck_assert_int_eq(jc->schedule.misfire, MISFIRE_ALL);
	ck_assert_uint_eq(jc->schedule.max_catchup, 5);
	ck_assert_str_eq(jc->schedule.payload, "{\"all\":true}");
	ck_assert_uint_eq(jc->line, 44);
	ck_assert_ptr_null(config_find_job(cfg, "send"));
	config_free(cfg);
}
END_TEST

START_TEST(test_embedded_takes_socket_and_server_defaults)
{
	struct config *cfg;
	char *url;

	cfg = must_load_good("embedded.yml");
	ck_assert_ptr_null(cfg->url);
	ck_assert_str_eq(cfg->embedded_dir, "/var/lib/redjob");
	ck_assert_str_eq(cfg->embedded_socket, "/var/lib/redjob/redis.sock");
	ck_assert_str_eq(cfg->embedded_server, "redis-server");
	ck_assert_str_eq(cfg->namespace, "embedded");
	url = config_redis_url(cfg);
	ck_assert_str_eq(url, "unix:///var/lib/redjob/redis.sock");
	free(url);
	/* The default batch follows concurrency (at least 32), up to what a
	 * claim takes. */
	ck_assert_uint_eq(cfg->concurrency, 2000);
	ck_assert_uint_eq(cfg->batch, 1000);
	ck_assert_uint_eq(cfg->nqueues, 1);
	ck_assert_uint_eq(cfg->queues[0].weight, 2);
	ck_assert_uint_eq(cfg->nlimiters, 0);
	ck_assert_uint_eq(cfg->njobs, 1);
	ck_assert_str_eq(cfg->jobs[0].exec[2], "exec sleep 1");
	config_free(cfg);

	cfg = must_load_good("embedded-socket.yml");
	ck_assert_str_eq(cfg->embedded_socket, "/run/redjob/redis.sock");
	ck_assert_str_eq(cfg->embedded_server, "redis-server-7");
	url = config_redis_url(cfg);
	ck_assert_str_eq(url, "unix:///run/redjob/redis.sock");
	free(url);
	ck_assert_uint_eq(cfg->njobs, 0);
	config_free(cfg);
}
END_TEST

START_TEST(test_password_file_is_read_without_its_newline)
{
	struct config *cfg;
	char *dir, *yml, *pw, *text;

	dir = testlib_tmpdir("config");
	ck_assert_int_ge(asprintf(&yml, "%s/redjob.yml", dir), 0);
	ck_assert_int_ge(asprintf(&pw, "%s/password", dir), 0);
	ck_assert_int_ge(asprintf(&text, "redis:\n  url: redis://db:6379/1\n"
	    "  password_file: %s\n", pw), 0);
	spew(yml, text);

	spew(pw, "s3cret pass\n");
	cfg = must_load(yml);
	ck_assert_str_eq(cfg->password, "s3cret pass");
	/* The password is kept apart from the URL. */
	ck_assert_str_eq(cfg->url, "redis://db:6379/1");
	config_free(cfg);

	spew(pw, "dos\r\n");
	cfg = must_load(yml);
	ck_assert_str_eq(cfg->password, "dos");
	config_free(cfg);

	spew(pw, "no-newline");
	cfg = must_load(yml);
	ck_assert_str_eq(cfg->password, "no-newline");
	config_free(cfg);

	free(text);
	free(pw);
	free(yml);
	testlib_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(test_bad_password_files_are_refused)
{
	struct diags d = { NULL, 0 };
	char *dir, *yml, *pw, *text, *got, *want, big[600];

	dir = testlib_tmpdir("config");
	ck_assert_int_ge(asprintf(&yml, "%s/redjob.yml", dir), 0);
	ck_assert_int_ge(asprintf(&pw, "%s/password", dir), 0);
	ck_assert_int_ge(asprintf(&text, "redis:\n  password_file: %s\n", pw),
	    0);
	spew(yml, text);
	ck_assert_int_ge(asprintf(&want, "2:18: redis.password_file: %s must "
	    "hold the password on one line of 1 to 511 bytes\n", pw), 0);

	spew(pw, "\n");
	ck_assert_ptr_null(config_load(yml, &d));
	got = diags_text(&d, yml);
	ck_assert_str_eq(got, want);
	free(got);
	diags_free(&d);

	spew(pw, "two\nlines\n");
	ck_assert_ptr_null(config_load(yml, &d));
	got = diags_text(&d, yml);
	ck_assert_str_eq(got, want);
	free(got);
	diags_free(&d);

	/* 512 bytes and a newline: one byte too many for struct url. */
	memset(big, 'x', 512);
	big[512] = '\n';
	big[513] = '\0';
	spew(pw, big);
	ck_assert_ptr_null(config_load(yml, &d));
	got = diags_text(&d, yml);
	ck_assert_str_eq(got, want);
	free(got);
	diags_free(&d);

	/* 511 bytes fit exactly. */
	big[511] = '\n';
	big[512] = '\0';
	spew(pw, big);
	config_free(must_load(yml));

	free(want);
	free(text);
	free(pw);
	free(yml);
	testlib_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(test_plugin_jobs_load_and_default_their_symbol)
{
	struct config *cfg;
	const struct job_conf *jc;
	char *dir, *yml, *so, *text;

	dir = testlib_tmpdir("config");
	ck_assert_int_ge(asprintf(&yml, "%s/redjob.yml", dir), 0);
	ck_assert_int_ge(asprintf(&so, "%s/thumbs.so", dir), 0);
	spew(so, "");
	ck_assert_int_ge(asprintf(&text, "jobs:\n"
	    "  thumbnail:\n    plugin: { path: %s }\n    timeout: 5s\n"
	    "  resize:\n    plugin: { path: %s, symbol: thumbs_resize }\n",
	    so, so), 0);
	spew(yml, text);
	cfg = must_load(yml);
	jc = config_find_job(cfg, "thumbnail");
	ck_assert_ptr_nonnull(jc);
	ck_assert_ptr_null(jc->exec);
	ck_assert_str_eq(jc->plugin_path, so);
	ck_assert_str_eq(jc->plugin_symbol, "thumbnail");
	ck_assert_uint_eq(jc->timeout_ms, 5000);
	jc = config_find_job(cfg, "resize");
	ck_assert_ptr_nonnull(jc);
	ck_assert_str_eq(jc->plugin_symbol, "thumbs_resize");
	ck_assert_uint_eq(jc->line, 5);
	config_free(cfg);
	free(text);
	free(so);
	free(yml);
	testlib_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(test_example_configuration_loads)
{
	struct config *cfg;
	char *path;

	ck_assert_int_ge(asprintf(&path, "%s/etc/redjob.yml",
	    testlib_srcdir()), 0);
	cfg = must_load(path);
	/* It must show the sections off, not be a bare minimum. */
	ck_assert_uint_ge(cfg->nqueues, 2);
	ck_assert_uint_ge(cfg->nlimiters, 4);
	ck_assert_uint_ge(cfg->njobs, 2);
	config_free(cfg);
	free(path);
}
END_TEST

START_TEST(test_unreadable_file_is_one_diagnostic)
{
	struct diags d = { NULL, 0 };
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	ck_assert_ptr_null(config_load("/nonexistent/redjob.yml", &d));
	ck_assert_uint_eq(d.n, 1);
	ck_assert_uint_eq(d.v[0].line, 0);
	f = open_memstream(&out, &len);
	diags_print(&d, f);
	fclose(f);
	ck_assert_str_eq(out, "/nonexistent/redjob.yml: cannot open: "
	    "No such file or directory\n");
	free(out);
	diags_free(&d);
	ck_assert_uint_eq(d.n, 0);
	ck_assert_ptr_null(d.v);
}
END_TEST

START_TEST(test_diagnostics_print_file_line_and_column)
{
	struct diags d = { NULL, 0 };
	char *path, *out = NULL;
	size_t len = 0;
	FILE *f;

	path = data_path("bad/retry.yml");
	ck_assert_ptr_null(config_load(path, &d));
	/* A second load appends: the caller decides when to clear. */
	diags_add(&d, "x.yml", 7, 3, "custom %s", "message");
	f = open_memstream(&out, &len);
	diags_print(&d, f);
	fclose(f);
	free(path);
	ck_assert_int_ge(asprintf(&path, "%s/tests/data/bad/retry.yml:4:30: "
	    "jobs.a.retry.max: 5s is less than base (10s)\n"
	    "%s/tests/data/bad/retry.yml:7:20: jobs.b.retry.base: 2h is more "
	    "than max (1h by default)\nx.yml:7:3: custom message\n",
	    testlib_srcdir(), testlib_srcdir()), 0);
	ck_assert_str_eq(out, path);
	free(path);
	free(out);
	diags_free(&d);
}
END_TEST

/*
 * A message quoting a key or value made with YAML escapes stays one line
 * of UTF-8 text: control characters (C0, DEL, C1) are shown as \xNN
 * (tests/fuzz/fuzz_config.c checks every diagnostic for it;
 * tests/data/bad/control-escapes.yml and utf8-cut.yml too).
 */
START_TEST(test_diagnostics_show_control_characters_escaped)
{
	struct diags d = { NULL, 0 };

	diags_add(&d, "x.yml", 1, 1, "got \"%s\"", "\x1b[2J\n\t\x7f\xc2\x85");
	diags_add(&d, "x.yml", 1, 1, "got \"%s\"", "caf\xc3\xa9 \xc2\xa0x");
	ck_assert_str_eq(d.v[0].msg,
	    "got \"\\x1b[2J\\x0a\\x09\\x7f\\xc2\\x85\"");
	/* Printable text, in UTF-8 too, is left as it is. */
	ck_assert_str_eq(d.v[1].msg, "got \"caf\xc3\xa9 \xc2\xa0x\"");
	/*
	 * A byte that is not UTF-8, as "%.64s" leaves when it cuts a
	 * character in two, is shown as \xNN too: the message stays text.
	 */
	diags_add(&d, "x.yml", 1, 1, "\"%.4s\" \"%s\"", "a\xc3\xa9\xc3\xa9",
	    "\xed\xa0\x80\xc0\xaf\xf4\x90\x80\x80\xf0\x9f\x98\x80");
	ck_assert_str_eq(d.v[2].msg, "\"a\xc3\xa9\\xc3\" \"\\xed\\xa0\\x80"
	    "\\xc0\\xaf\\xf4\\x90\\x80\\x80\xf0\x9f\x98\x80\"");
	diags_free(&d);
}
END_TEST

START_TEST(test_corpus_pairs_each_bad_file_with_diagnostics)
{
	glob_t g;
	char *pattern, *exp, *text;
	size_t i, n;

	/* Enough files to cover every class of mistake. */
	ck_assert_msg(corpus.gl_pathc >= 20, "only %zu bad files found "
	    "under %s", corpus.gl_pathc, testlib_srcdir());
	for (i = 0; i < corpus.gl_pathc; i++) {
		n = strlen(corpus.gl_pathv[i]);
		ck_assert_int_ge(asprintf(&exp, "%.*sexpected", (int)n - 3,
		    corpus.gl_pathv[i]), 0);
		text = slurp(exp);
		ck_assert_msg(*text != '\0', "%s is empty", exp);
		free(text);
		free(exp);
	}
	/* And no .expected without its file. */
	pattern = data_path("bad/*.expected");
	ck_assert_int_eq(glob(pattern, 0, NULL, &g), 0);
	ck_assert_uint_eq(g.gl_pathc, corpus.gl_pathc);
	globfree(&g);
	free(pattern);
}
END_TEST

START_TEST(test_corpus_is_listed_for_the_distribution)
{
	const char *const patterns[] = { "good/*.yml", "bad/*.yml",
	    "bad/*.expected" };
	char *am, *path, *pattern, *name;
	size_t i, j, off;
	glob_t g;

	/*
	 * Automake wants every data file by name; one missing from
	 * tests/tests.am would silently drop out of the tarball's tests.
	 */
	ck_assert_int_ge(asprintf(&path, "%s/tests/tests.am", testlib_srcdir()),
	    0);
	am = slurp(path);
	free(path);
	off = strlen(testlib_srcdir()) + 1;
	for (i = 0; i < nitems(patterns); i++) {
		pattern = data_path(patterns[i]);
		ck_assert_int_eq(glob(pattern, 0, NULL, &g), 0);
		for (j = 0; j < g.gl_pathc; j++) {
			ck_assert_int_ge(asprintf(&name, "\t%s ",
			    g.gl_pathv[j] + off), 0);
			if (strstr(am, name) == NULL)
				name[strlen(name) - 1] = '\n';
			ck_assert_msg(strstr(am, name) != NULL, "%s is not in "
			    "tests/tests.am", g.gl_pathv[j] + off);
			free(name);
		}
		globfree(&g);
		free(pattern);
	}
	free(am);
}
END_TEST

START_TEST(test_bad_file_gives_exactly_its_diagnostics)
{
	struct diags d = { NULL, 0 };
	struct config *cfg;
	const char *path = corpus.gl_pathv[_i];
	char *exp, *want, *got;

	ck_assert_int_ge(asprintf(&exp, "%.*sexpected",
	    (int)strlen(path) - 3, path), 0);
	want = slurp(exp);
	cfg = config_load(path, &d);
	got = diags_text(&d, path);
	ck_assert_msg(cfg == NULL, "%s loaded", path);
	ck_assert_msg(strcmp(got, want) == 0, "%s:\n--- expected\n%s"
	    "--- got\n%s", path, want, got);
	free(got);
	free(want);
	free(exp);
	diags_free(&d);
}
END_TEST

/*
 * Every range of redjob.yml(5) at its edges: the first and last values
 * accepted are kept as given, and the first value outside is refused
 * with its exact diagnostic.
 */
static const struct refused_edge {
	const char	*yaml;
	const char	*diag;
} refused_edges[] = {
	{ "workers: 0\n", "1:10: workers: must be between 1 and 256, got 0\n" },
	{ "workers: 257\n",
	  "1:10: workers: must be between 1 and 256, got 257\n" },
	{ "concurrency: 0\n",
	  "1:14: concurrency: must be between 1 and 10000, got 0\n" },
	{ "batch: 0\n", "1:8: batch: must be between 1 and 1000, got 0\n" },
	{ "max_stalls: 1000001\n",
	  "1:13: max_stalls: must be between 0 and 1000000, got 1000001\n" },
	{ "lease: 999ms\n", "1:8: lease: must be at least 1s, got 999ms\n" },
	{ "max_payload: 536870913\n", "1:14: max_payload: must be between 1 "
	  "byte and 512MiB, got 536870913\n" },
	{ "queues:\n  q: 1001\n",
	  "2:6: queues.q: must be between 1 and 1000, got 1001\n" },
	{ "limiters:\n  l: { kind: window, limit: 100001, period: 1s }\n",
	  "2:29: limiters.l.limit: must be between 1 and 100000, got "
	  "100001\n" },
	{ "limiters:\n  l: { kind: window, limit: 1, period: 68719476737ms }\n",
	  "2:40: limiters.l.period: must be at most 795d8h44m36s736ms "
	  "(68719476736ms), the longest the guard functions take, got "
	  "68719476737ms\n" },
	{ "limiters:\n  l: { kind: window, limit: 1, period: 0ms }\n",
	  "2:40: limiters.l.period: must be at least 1ms, got 0ms\n" },
	{ "limiters:\n  l: { kind: funnel, capacity: 0, rate: 1/s }\n",
	  "2:32: limiters.l.capacity: must be between 1 and 1073741824, got "
	  "0\n" },
	{ "limiters:\n  l: { kind: gcra, rate: 1/s, burst: -1 }\n",
	  "2:38: limiters.l.burst: must be between 0 and 1073741824, got "
	  "-1\n" },
	{ "limiters:\n  l: { kind: concurrency, limit: 0 }\n",
	  "2:34: limiters.l.limit: must be between 1 and 1073741824, got "
	  "0\n" },
	{ "limiters:\n  l: { kind: concurrency, limit: 1, lease: 999ms }\n",
	  "2:44: limiters.l.lease: must be at least 1s, got 999ms\n" },
	{ "jobs:\n  j:\n    exec: [/bin/true]\n    retry: { jitter: -0.001 }\n",
	  "4:22: jobs.j.retry.jitter: must be from 0 to 1, got -0.001\n" },
	{ "jobs:\n  j:\n    exec: [/bin/true]\n    retry: { jitter: 1.001 }\n",
	  "4:22: jobs.j.retry.jitter: must be from 0 to 1, got 1.001\n" },
	{ "jobs:\n  j:\n    exec: [/bin/true]\n    lock: { key: k, ttl: 999ms }\n",
	  "4:26: jobs.j.lock.ttl: must be at least 1s, got 999ms\n" },
};

/*
 * Load text from a file of its own, removed once read; returns the config
 * or NULL. *path is the file's name, as the diagnostics give it.
 */
static struct config *
load_text(const char *text, struct diags *d, char **path)
{
	struct config *cfg;
	char *dir;

	dir = testlib_tmpdir("config");
	ck_assert_int_ge(asprintf(path, "%s/edge.yml", dir), 0);
	spew(*path, text);
	cfg = config_load(*path, d);
	testlib_rmtree(dir);
	free(dir);
	return cfg;
}

START_TEST(test_first_value_outside_each_range_is_refused)
{
	const struct refused_edge *e = &refused_edges[_i];
	struct diags d = { NULL, 0 };
	char *path = NULL, *got;

	ck_assert_ptr_null(load_text(e->yaml, &d, &path));
	got = diags_text(&d, path);
	ck_assert_msg(strcmp(got, e->diag) == 0, "%s--- expected\n%s--- got\n%s",
	    e->yaml, e->diag, got);
	free(got);
	diags_free(&d);
	free(path);
}
END_TEST

/* Load text, which must be valid. */
static struct config *
must_load_text(const char *text)
{
	struct diags d = { NULL, 0 };
	struct config *cfg;
	char *path = NULL, *got;

	cfg = load_text(text, &d, &path);
	got = diags_text(&d, path);
	ck_assert_msg(cfg != NULL && d.n == 0, "%s did not load:\n%s", text,
	    got);
	free(got);
	diags_free(&d);
	free(path);
	return cfg;
}

/*
 * result: (redjob.yml(5)): none without it; an empty mapping or one key
 * takes the defaults for the rest, 1MiB and 1d; the edges, 1 byte to
 * 64MiB and 1ms to 365d, are taken as given.
 */
START_TEST(test_result_defaults_and_edges)
{
	struct config *cfg;
	const struct job_conf *jc;

	cfg = must_load_text("jobs:\n"
	    "  none:\n    exec: [/bin/true]\n"
	    "  empty:\n    exec: [/bin/true]\n    result: {}\n"
	    "  max:\n    exec: [/bin/true]\n    result: { max: 1 }\n"
	    "  ttl:\n    exec: [/bin/true]\n    result: { ttl: 1ms }\n"
	    "  top:\n    exec: [/bin/true]\n"
	    "    result: { max: 64MiB, ttl: 365d }\n");
	jc = config_find_job(cfg, "none");
	ck_assert_uint_eq(jc->result_max, 0);
	jc = config_find_job(cfg, "empty");
	ck_assert_uint_eq(jc->result_max, 1024 * 1024);
	ck_assert_uint_eq(jc->result_ttl_ms, 86400 * 1000);
	jc = config_find_job(cfg, "max");
	ck_assert_uint_eq(jc->result_max, 1);
	ck_assert_uint_eq(jc->result_ttl_ms, 86400 * 1000);
	jc = config_find_job(cfg, "ttl");
	ck_assert_uint_eq(jc->result_max, 1024 * 1024);
	ck_assert_uint_eq(jc->result_ttl_ms, 1);
	jc = config_find_job(cfg, "top");
	ck_assert_uint_eq(jc->result_max, 64 * 1024 * 1024);
	ck_assert_uint_eq(jc->result_ttl_ms, 365ULL * 86400 * 1000);
	config_free(cfg);
}
END_TEST

START_TEST(test_edges_of_each_range_are_accepted_as_given)
{
	struct config *cfg;
	const struct limiter_conf *l;
	const struct job_conf *jc;

	cfg = must_load_text("workers: 1\nconcurrency: 1\nbatch: 1\n"
	    "max_stalls: 0\nlease: 1s\nshutdown_timeout: 0\nmax_payload: 1\n"
	    "queues:\n  q: 1\n");
	ck_assert_uint_eq(cfg->workers, 1);
	ck_assert_uint_eq(cfg->concurrency, 1);
	ck_assert_uint_eq(cfg->batch, 1);
	ck_assert_uint_eq(cfg->max_stalls, 0);
	ck_assert_uint_eq(cfg->lease_ms, 1000);
	ck_assert_uint_eq(cfg->shutdown_timeout_ms, 0);
	ck_assert_uint_eq(cfg->max_payload, 1);
	ck_assert_uint_eq(cfg->queues[0].weight, 1);
	config_free(cfg);

	cfg = must_load_text("workers: 256\nconcurrency: 10000\nbatch: 1000\n"
	    "max_stalls: 1000000\nmax_payload: 512MiB\nqueues:\n  q: 1000\n");
	ck_assert_uint_eq(cfg->workers, 256);
	ck_assert_uint_eq(cfg->concurrency, 10000);
	ck_assert_uint_eq(cfg->batch, 1000);
	ck_assert_uint_eq(cfg->max_stalls, 1000000);
	ck_assert_uint_eq(cfg->max_payload, 536870912);
	ck_assert_uint_eq(cfg->queues[0].weight, 1000);
	config_free(cfg);

	cfg = must_load_text("limiters:\n"
	    "  w1: { kind: window, limit: 1, period: 1ms }\n"
	    "  w2: { kind: window, limit: 100000, period: 1s }\n"
	    "  f1: { kind: funnel, capacity: 1, rate: 1/s }\n"
	    "  f2: { kind: funnel, capacity: 1073741824, rate: 1/s }\n"
	    "  g1: { kind: gcra, rate: 1/s, burst: 0 }\n"
	    "  g2: { kind: gcra, rate: 1/s, burst: 1073741824 }\n"
	    "  c1: { kind: concurrency, limit: 1, lease: 1s }\n"
	    "  c2: { kind: concurrency, limit: 1073741824 }\n");
	l = config_find_limiter(cfg, "w1");
	ck_assert_uint_eq(l->limit, 1);
	ck_assert_uint_eq(l->period_ms, 1);
	ck_assert_uint_eq(config_find_limiter(cfg, "w2")->limit, 100000);
	ck_assert_uint_eq(config_find_limiter(cfg, "f1")->capacity, 1);
	ck_assert_uint_eq(config_find_limiter(cfg, "f2")->capacity,
	    1073741824);
	ck_assert_uint_eq(config_find_limiter(cfg, "g1")->burst, 0);
	ck_assert_uint_eq(config_find_limiter(cfg, "g2")->burst, 1073741824);
	l = config_find_limiter(cfg, "c1");
	ck_assert_uint_eq(l->limit, 1);
	ck_assert_uint_eq(l->lease_ms, 1000);
	l = config_find_limiter(cfg, "c2");
	ck_assert_uint_eq(l->limit, 1073741824);
	/* redjob.yml(5): the slot lease defaults to 60s. */
	ck_assert_uint_eq(l->lease_ms, 60000);
	config_free(cfg);

	cfg = must_load_text("jobs:\n"
	    "  a:\n    exec: [/bin/true]\n"
	    "    retry: { max_attempts: 1, jitter: 0, base: 0, max: 0 }\n"
	    "    lock: { key: k, ttl: 1s }\n"
	    "  b:\n    exec: [/bin/true]\n"
	    "    retry: { max_attempts: 1000000, jitter: 1, base: 1h }\n");
	jc = config_find_job(cfg, "a");
	ck_assert_uint_eq(jc->retry.max_attempts, 1);
	ck_assert_double_eq(jc->retry.jitter, 0);
	ck_assert_uint_eq(jc->retry.base_ms, 0);
	ck_assert_uint_eq(jc->retry.max_ms, 0);
	ck_assert_uint_eq(jc->lock.ttl_ms, 1000);
	jc = config_find_job(cfg, "b");
	ck_assert_uint_eq(jc->retry.max_attempts, 1000000);
	ck_assert_double_eq(jc->retry.jitter, 1);
	/* base may equal the default max. */
	ck_assert_uint_eq(jc->retry.base_ms, 3600000);
	ck_assert_uint_eq(jc->retry.max_ms, 3600000);
	config_free(cfg);
}
END_TEST

START_TEST(test_default_batch_follows_concurrency_from_32_to_1000)
{
	static const unsigned conc[] = { 1, 31, 32, 33, 100, 999, 1000, 1001,
	    10000 };
	static const unsigned want[] = { 32, 32, 32, 33, 100, 999, 1000, 1000,
	    1000 };
	struct config *cfg;
	char text[64];
	size_t i;

	for (i = 0; i < nitems(conc); i++) {
		snprintf(text, sizeof text, "concurrency: %u\n", conc[i]);
		cfg = must_load_text(text);
		ck_assert_msg(cfg->batch == want[i], "concurrency %u: batch %u, "
		    "not %u", conc[i], cfg->batch, want[i]);
		config_free(cfg);
	}
	/* Given, it is kept whatever the concurrency. */
	cfg = must_load_text("concurrency: 500\nbatch: 7\n");
	ck_assert_uint_eq(cfg->batch, 7);
	config_free(cfg);
}
END_TEST

/* A file of 4 MiB is read; one byte more is refused, with the limit. */
START_TEST(test_a_schedule_payload_over_512_kib_is_refused)
{
	static const char head[] = "jobs:\n  t:\n    exec: [/bin/true]\n"
	    "    schedule: { every: 1m, payload: \"";
	struct diags d = { NULL, 0 };
	struct config *cfg;
	char *dir, *yml, *text, *got;
	size_t max = 524288, n = strlen(head);

	dir = testlib_tmpdir("config");
	ck_assert_int_ge(asprintf(&yml, "%s/redjob.yml", dir), 0);
	text = malloc(n + max + 8);
	ck_assert_ptr_nonnull(text);
	memcpy(text, head, n);
	memset(text + n, 'x', max);
	strcpy(text + n + max, "\" }\n");
	spew(yml, text);
	cfg = config_load(yml, &d);
	ck_assert_msg(cfg != NULL, "512 KiB refused: %s", d.n > 0 ?
	    d.v[0].msg : "?");
	ck_assert_uint_eq(strlen(cfg->jobs[0].schedule.payload), max);
	config_free(cfg);
	strcpy(text + n + max, "x\" }\n");
	spew(yml, text);
	ck_assert_ptr_null(config_load(yml, &d));
	got = diags_text(&d, yml);
	ck_assert_str_eq(got, "4:37: jobs.t.schedule.payload: a payload of "
	    "524289 bytes is over the limit of 524288 bytes\n");
	free(got);
	diags_free(&d);
	free(text);
	unlink(yml);
	testlib_rmtree(dir);
	free(yml);
	free(dir);
}
END_TEST

START_TEST(test_a_file_over_4_mib_is_refused_and_one_of_4_mib_read)
{
	struct diags d = { NULL, 0 };
	struct config *cfg;
	char *dir, *yml, *text, *got;
	size_t max = 4 << 20, i;

	dir = testlib_tmpdir("config");
	ck_assert_int_ge(asprintf(&yml, "%s/redjob.yml", dir), 0);
	/* Comment lines of 64 bytes, then "workers: 3" filling the rest. */
	text = malloc(max + 2);
	ck_assert_ptr_nonnull(text);
	for (i = 0; i + 64 <= max - 11; i += 64) {
		memset(text + i, '#', 63);
		text[i + 63] = '\n';
	}
	memset(text + i, '#', max - 11 - i);
	memcpy(text + max - 11, "\nworkers: 3", 11);
	text[max] = '\0';
	spew(yml, text);
	cfg = config_load(yml, &d);
	ck_assert_msg(cfg != NULL, "4 MiB refused: %s", d.n > 0 ?
	    d.v[0].msg : "?");
	ck_assert_uint_eq(cfg->workers, 3);
	config_free(cfg);
	text[max] = '\n';
	text[max + 1] = '\0';
	spew(yml, text);
	ck_assert_ptr_null(config_load(yml, &d));
	got = diags_text(&d, yml);
	ck_assert_str_eq(got, "0:0: the file is larger than 4 MiB\n");
	free(got);
	diags_free(&d);
	free(text);
	unlink(yml);
	testlib_rmtree(dir);
	free(yml);
	free(dir);
}
END_TEST

Suite *
suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc;
	char *pattern;
	int r;

	tc = tcase_create("template");
	tcase_add_test(tc, test_templates_render_every_placeholder);
	tcase_add_test(tc, test_templates_render_null_values_as_empty);
	tcase_add_test(tc, test_templates_escape_substituted_values);
	tcase_add_test(tc, test_templates_keep_literal_text);
	tcase_add_test(tc, test_templates_are_checked);
	suite_add_tcase(s, tc);

	tc = tcase_create("good");
	tcase_add_test(tc, test_minimal_file_takes_every_default);
	tcase_add_test(tc, test_full_file_keeps_every_value);
	tcase_add_test(tc, test_embedded_takes_socket_and_server_defaults);
	tcase_add_test(tc, test_password_file_is_read_without_its_newline);
	tcase_add_test(tc, test_bad_password_files_are_refused);
	tcase_add_test(tc, test_plugin_jobs_load_and_default_their_symbol);
	tcase_add_test(tc, test_example_configuration_loads);
	tcase_add_test(tc, test_unreadable_file_is_one_diagnostic);
	tcase_add_test(tc, test_diagnostics_print_file_line_and_column);
	tcase_add_test(tc, test_diagnostics_show_control_characters_escaped);
	suite_add_tcase(s, tc);

	/*
	 * One loop test per bad file, so a failure names its file. The
	 * completeness test fails if the glob finds too few: a wrong
	 * top_srcdir must not make the corpus silently empty.
	 */
	tc = tcase_create("corpus");
	if (asprintf(&pattern, "%s/tests/data/bad/*.yml",
	    testlib_srcdir()) < 0)
		abort();
	r = glob(pattern, 0, NULL, &corpus);
	if (r != 0 && r != GLOB_NOMATCH)
		abort();
	free(pattern);
	tcase_add_test(tc, test_corpus_pairs_each_bad_file_with_diagnostics);
	tcase_add_test(tc, test_corpus_is_listed_for_the_distribution);
	tcase_add_loop_test(tc, test_bad_file_gives_exactly_its_diagnostics, 0,
	    (int)corpus.gl_pathc);
	suite_add_tcase(s, tc);

	tc = tcase_create("edges");
	tcase_add_loop_test(tc, test_first_value_outside_each_range_is_refused,
	    0, (int)nitems(refused_edges));
	tcase_add_test(tc, test_edges_of_each_range_are_accepted_as_given);
	tcase_add_test(tc, test_result_defaults_and_edges);
	tcase_add_test(tc, test_default_batch_follows_concurrency_from_32_to_1000);
	tcase_add_test(tc, test_a_file_over_4_mib_is_refused_and_one_of_4_mib_read);
	tcase_add_test(tc, test_a_schedule_payload_over_512_kib_is_refused);
	suite_add_tcase(s, tc);
	return s;
}
