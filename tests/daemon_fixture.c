/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The real redjobd as a child of the test: its output in a file, its
 * NOTIFY_SOCKET a datagram socket the test reads, its redis the fixture's.
 * Every wait polls a condition with a deadline.
 */
#include "autoconf.h"

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <hiredis/hiredis.h>

#include "redjob.h"
#include "daemon_fixture.h"
#include "proc.h"
#include "redis_fixture.h"
#include "testlib.h"

/* How often a wait on a file, a log or Redis looks again. */
#define DAEMON_POLL_MS 10

struct daemon_fixture df;

void
daemon_fixture_init(void)
{
	struct sockaddr_un sun;

	memset(&df, 0, sizeof df);
	df.dir = testlib_tmpdir("daemon");
	if (asprintf(&df.config, "%s/redjob.yml", df.dir) < 0 ||
	    asprintf(&df.log, "%s/redjobd.log", df.dir) < 0 ||
	    asprintf(&df.notify_path, "%s/notify.sock", df.dir) < 0)
		abort();
	df.notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(df.notify_fd, 0);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", df.notify_path);
	ck_assert_int_eq(bind(df.notify_fd, (struct sockaddr *)&sun,
	    sizeof sun), 0);
}

void
daemon_fixture_cleanup(void)
{
	/* Its workers see the supervisor die and exit by themselves. */
	proc_free(df.proc);
	if (df.notify_fd >= 0)
		close(df.notify_fd);
	/* REDJOB_TEST_KEEP=1 keeps the directory and its logs. */
	if (getenv("REDJOB_TEST_KEEP") == NULL)
		testlib_rmtree(df.dir);
	else
		fprintf(stderr, "kept %s\n", df.dir);
	free(df.dir);
	free(df.config);
	free(df.log);
	free(df.notify_path);
	memset(&df, 0, sizeof df);
}

void
daemon_setup(void)
{
	redis_conn_setup();
	daemon_fixture_init();
	df.cl = redjob_connect(rf.url, NULL);
	ck_assert_msg(redjob_errcode(df.cl) == REDJOB_OK, "%s",
	    redjob_errstr(df.cl));
}

void
daemon_teardown(void)
{
	redjob_free(df.cl);
	df.cl = NULL;
	daemon_fixture_cleanup();
	redis_conn_teardown();
}

void
daemon_write_config(const char *fmt, ...)
{
	va_list ap;
	FILE *f;

	f = fopen(df.config, "w");
	ck_assert_ptr_nonnull(f);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fclose(f);
}

void
daemon_start(const char *const *env)
{
	char bin[4096], notify[4200];
	/* Run as root (CI containers), it must be told that is wanted. */
	char *argv[] = { bin, (char *)"-c", df.config,
	    geteuid() == 0 ? (char *)"--allow-root" : NULL, NULL };
	const char *envv[64];
	struct proc_spec spec;
	int n = 0, i;

	/* A second start in one test follows an exit of the first. */
	if (df.proc != NULL) {
		ck_assert_msg(df.proc->status != -1, "redjobd still runs");
		proc_free(df.proc);
		df.proc = NULL;
	}
	snprintf(bin, sizeof bin, "%s/src/redjobd", testlib_builddir());
	snprintf(notify, sizeof notify, "NOTIFY_SOCKET=%s", df.notify_path);
	envv[n++] = notify;
	/* Its log goes to a file, not to a journal it would detect. */
	envv[n++] = "JOURNAL_STREAM";
	for (i = 0; env != NULL && env[i] != NULL; i++) {
		ck_assert_int_lt(n, 63);
		envv[n++] = env[i];
	}
	envv[n] = NULL;
	memset(&spec, 0, sizeof spec);
	spec.argv = argv;
	spec.name = "redjobd";
	spec.out = PROC_IO_FILE;
	spec.out_path = df.log;
	spec.err = PROC_IO_STDOUT;
	spec.env = (char *const *)envv;
	df.proc = must_spawn(&spec);
}

int
daemon_wait_exit(unsigned timeout_ms)
{
	ck_assert_ptr_nonnull(df.proc);
	if (proc_wait(df.proc, timeout_ms) != 0)
		return -1;
	return df.proc->status;
}

void
daemon_signal(int sig)
{
	ck_assert_ptr_nonnull(df.proc);
	ck_assert_msg(proc_signal(df.proc, sig) == 0, "redjobd has exited "
	    "(status %d)", df.proc->status);
}

const char *
notify_wait(const char *needle, unsigned timeout_ms)
{
	static char buf[4096];
	uint64_t deadline = testlib_now_ms() + timeout_ms, now;
	struct pollfd pfd = { df.notify_fd, POLLIN, 0 };
	ssize_t n;
	int r;

	for (;;) {
		if ((now = testlib_now_ms()) >= deadline)
			return NULL;
		/* A daemon that has exited sends nothing more: what it sent
		 * before is still queued, and read first. */
		if (df.proc != NULL)
			r = proc_wait_fd(df.proc, df.notify_fd,
			    (unsigned)(deadline - now));
		else
			r = poll(&pfd, 1, (int)(deadline - now));
		if (r <= 0)
			return NULL;
		n = recv(df.notify_fd, buf, sizeof buf - 1, MSG_DONTWAIT);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		if (strstr(buf, needle) != NULL)
			return buf;
	}
}

int
daemon_log_has(const char *needle)
{
	char *text;
	int found;

	if ((text = testlib_read_file(df.log, NULL)) == NULL)
		return 0;
	found = strstr(text, needle) != NULL;
	free(text);
	return found;
}

int
daemon_wait_log(const char *needle, unsigned timeout_ms)
{
	uint64_t deadline = testlib_now_ms() + timeout_ms;

	while (!daemon_log_has(needle)) {
		if (testlib_now_ms() >= deadline)
			return 0;
		poll(NULL, 0, DAEMON_POLL_MS);
	}
	return 1;
}

long
daemon_count_lines(const char *name)
{
	char path[4096];
	long n = 0;
	FILE *f;
	int c;

	snprintf(path, sizeof path, "%s/%s", df.dir, name);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

int
daemon_wait_lines(const char *name, long n, unsigned timeout_ms)
{
	uint64_t deadline = testlib_now_ms() + timeout_ms;

	while (daemon_count_lines(name) < n) {
		if (testlib_now_ms() >= deadline)
			return 0;
		poll(NULL, 0, DAEMON_POLL_MS);
	}
	return 1;
}

pid_t
daemon_job_worker(const char *name, const char *id, int nth)
{
	char path[4096], line[512], got[256];
	long pid = 0;
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", df.dir, name);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof line, f) != NULL) {
		ck_assert_msg(sscanf(line, "%255s %ld", got, &pid) == 2,
		    "%s: not \"ID PPID\": %s", name, line);
		if (strcmp(got, id) == 0 && --nth == 0)
			break;
	}
	fclose(f);
	return nth == 0 ? (pid_t)pid : 0;
}

pid_t
daemon_wait_job_worker(const char *name, const char *id, int nth,
    unsigned timeout_ms)
{
	uint64_t deadline = testlib_now_ms() + timeout_ms;
	pid_t pid;

	while ((pid = daemon_job_worker(name, id, nth)) == 0) {
		if (testlib_now_ms() >= deadline)
			return 0;
		poll(NULL, 0, DAEMON_POLL_MS);
	}
	return pid;
}

char *
daemon_job_field(const char *id, const char *field)
{
	redisReply *r;
	char *v = NULL;
	size_t i;

	r = must_command(rf.c, "FCALL_RO redjob_show 1 redjob:{default} %s",
	    id);
	ck_assert_msg(r->type == REDIS_REPLY_ARRAY && r->elements % 2 == 0,
	    "redjob_show %s: not a list of pairs", id);
	for (i = 0; i < r->elements; i += 2) {
		if (strcmp(r->element[i]->str, field) == 0)
			v = strdup(r->element[i + 1]->str);
	}
	freeReplyObject(r);
	ck_assert_msg(v != NULL, "job %s has no %s", id, field);
	return v;
}

long long
queue_stat(const char *queue, const char *field)
{
	redisContext *c = must_connect();
	redisReply *r;
	long long v = -1;
	size_t i;

	r = redisCommand(c, "FCALL_RO redjob_stats 1 redjob:{%s}", queue);
	if (r != NULL && r->type == REDIS_REPLY_ARRAY) {
		for (i = 0; i + 1 < r->elements; i += 2) {
			if (strcmp(r->element[i]->str, field) == 0)
				v = r->element[i + 1]->integer;
		}
	}
	if (r != NULL)
		freeReplyObject(r);
	redisFree(c);
	return v;
}

int
wait_stat(const char *queue, const char *field, long long want,
    unsigned timeout_ms)
{
	uint64_t deadline = testlib_now_ms() + timeout_ms;

	while (testlib_now_ms() < deadline) {
		if (queue_stat(queue, field) >= want)
			return 1;
		poll(NULL, 0, 2 * DAEMON_POLL_MS);
	}
	return 0;
}

int
daemon_workers(pid_t *pids, int max)
{
	ck_assert_ptr_nonnull(df.proc);
	return proc_children(df.proc->pid, "redjobd", pids, max);
}

int
daemon_is_worker(pid_t pid)
{
	pid_t pids[64];
	int i, n;

	n = daemon_workers(pids, 64);
	for (i = 0; i < n; i++) {
		if (pids[i] == pid)
			return 1;
	}
	return 0;
}
