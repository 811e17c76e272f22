/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The real redjobd as a child of the test: its stderr in a file, its
 * NOTIFY_SOCKET a datagram socket the test reads, its redis the fixture's.
 * Every wait polls a condition with a deadline.
 */
#include "autoconf.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <hiredis/hiredis.h>

#include "daemon_fixture.h"
#include "redis_fixture.h"
#include "testlib.h"

struct daemon_fixture df;

void
daemon_fixture_init(void)
{
	struct sockaddr_un sun;

	memset(&df, 0, sizeof df);
	df.pid = -1;
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
	if (df.pid > 0) {
		kill(df.pid, SIGKILL);
		waitpid(df.pid, NULL, 0);
	}
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
	df.pid = -1;
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
	int fd, i;

	snprintf(bin, sizeof bin, "%s/src/redjobd", testlib_builddir());
	snprintf(notify, sizeof notify, "NOTIFY_SOCKET=%s", df.notify_path);
	df.pid = fork();
	ck_assert_int_ge(df.pid, 0);
	if (df.pid == 0) {
		fd = open(df.log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		dup2(fd, 2);
		dup2(fd, 1);
		putenv(notify);
		unsetenv("JOURNAL_STREAM");
		for (i = 0; env != NULL && env[i] != NULL; i++)
			putenv((char *)env[i]);
		execl(bin, "redjobd", "-c", df.config, (char *)NULL);
		fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
}

int
daemon_wait_exit(unsigned timeout_ms)
{
	uint64_t deadline = testlib_now_ms() + timeout_ms;
	int st;
	pid_t r;

	while (testlib_now_ms() < deadline) {
		r = waitpid(df.pid, &st, WNOHANG);
		if (r == df.pid) {
			df.pid = -1;
			return WIFEXITED(st) ? WEXITSTATUS(st) :
			    128 + WTERMSIG(st);
		}
		usleep(10000);
	}
	return -1;
}

void
daemon_signal(int sig)
{
	ck_assert_int_gt(df.pid, 0);
	kill(df.pid, sig);
}

const char *
notify_wait(const char *needle, unsigned timeout_ms)
{
	static char buf[4096];
	uint64_t deadline = testlib_now_ms() + timeout_ms;
	struct pollfd pfd = { df.notify_fd, POLLIN, 0 };
	ssize_t n;
	int ms;

	for (;;) {
		ms = (int)(deadline - testlib_now_ms());
		if ((int64_t)(deadline - testlib_now_ms()) <= 0)
			return NULL;
		if (poll(&pfd, 1, ms) <= 0)
			continue;
		n = recv(df.notify_fd, buf, sizeof buf - 1, 0);
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
	long n;
	FILE *f;
	int found;

	if ((f = fopen(df.log, "r")) == NULL)
		return 0;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)n + 1);
	if (fread(text, 1, (size_t)n, f) != (size_t)n)
		n = 0;
	fclose(f);
	found = strstr(text, needle) != NULL;
	free(text);
	return found;
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
		usleep(20000);
	}
	return 0;
}

int
daemon_workers(pid_t *pids, int max)
{
	char path[300], buf[512], *p;
	struct dirent *de;
	DIR *d;
	FILE *f;
	int n = 0;
	long ppid;

	if ((d = opendir("/proc")) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL && n < max) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(buf, sizeof buf, f) != NULL &&
		    (p = strrchr(buf, ')')) != NULL &&
		    sscanf(p + 2, "%*c %ld", &ppid) == 1 && ppid == df.pid &&
		    strstr(buf, "(redjobd)") != NULL)
			pids[n++] = (pid_t)atol(de->d_name);
		fclose(f);
	}
	closedir(d);
	return n;
}
