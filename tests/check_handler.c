/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Exec handlers against real processes: the payload on stdin, exit codes
 * and signals, timeouts and stops that kill the whole process group, the
 * stderr tail, the exact environment, descriptor hygiene, exec failures,
 * line logging, parent-death, and many handlers at once. The event loop
 * always runs under a deadline, so a bug fails a test instead of hanging.
 */
#include "autoconf.h"

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>

#include "handler_exec.h"
#include "proc.h"
#include "testlib.h"
#include "xmalloc.h"

#define MIB (1024 * 1024)

struct run {
	int done; /* callbacks received */
	int in_start; /* inside handler_exec_start */
	int reentered; /* callback ran inside start */
	int tail_nul; /* tail was NUL-terminated */
	struct handler_result res;
	char tail[HANDLER_EXEC_TAIL + 1];
	struct run *next; /* started from the callback */
	char *next_script;
};

struct args {
	char *v[16];
};

static char *default_env[] = {(char *)"PATH=/usr/bin:/bin", NULL};
static struct event_base *base;
static char *tmpdir;
static int deadline_hit;
static int saved_stderr = -1;

/* Build an argv of copies; NULL ends the list. */
static char *const *
mkargs(struct args *a, const char *first, ...)
{
	va_list ap;
	const char *s;
	size_t n = 0;

	memset(a, 0, sizeof *a);
	va_start(ap, first);
	for (s = first; s != NULL; s = va_arg(ap, const char *)) {
		ck_assert_uint_lt(n, nitems(a->v) - 1);
		a->v[n++] = xstrdup(s);
	}
	va_end(ap);
	return a->v;
}

/* Free an argv made by mkargs. */
static void
freeargs(struct args *a)
{
	size_t i;

	for (i = 0; a->v[i] != NULL; i++)
		free(a->v[i]);
}

/* A path in the test's temporary directory; the caller frees it. */
static char *
tmppath(const char *name)
{
	char *p;

	xasprintf(&p, "%s/%s", tmpdir, name);
	return p;
}

/* Write a file or fail the test. */
static void
must_write_file(const char *path, const void *p, size_t len)
{
	FILE *f;

	f = fopen(path, "wb");
	ck_assert_msg(f != NULL, "fopen %s: %s", path, strerror(errno));
	ck_assert_uint_eq(fwrite(p, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

/* Read a pid written by the handler ("echo $! > file"); 0 if not yet. */
static pid_t
read_pidfile(const char *path)
{
	char *s;
	size_t len;
	long pid = 0;

	if ((s = testlib_read_file(path, &len)) == NULL)
		return 0;
	if (len > 0 && s[len - 1] == '\n')
		pid = strtol(s, NULL, 10);
	free(s);
	return (pid_t)pid;
}

/* Record the result; a copy of the tail, which dies with the callback. */
static void
run_cb(const struct handler_result *res, void *arg)
{
	struct run *r = arg;
	struct handler_exec_spec spec;
	struct args a;
	char *cause = NULL;

	if (r->in_start)
		r->reentered = 1;
	r->done++;
	r->res = *res;
	ck_assert_uint_le(res->stderr_len, HANDLER_EXEC_TAIL);
	memcpy(r->tail, res->stderr_tail, res->stderr_len);
	r->tail[res->stderr_len] = '\0';
	r->tail_nul = res->stderr_tail[res->stderr_len] == '\0';
	r->res.stderr_tail = r->tail;

	if (r->next != NULL) {
		memset(&spec, 0, sizeof spec);
		spec.argv = mkargs(&a, "/bin/sh", "-c", r->next_script, NULL);
		spec.envp = default_env;
		spec.log_id = "chained";
		ck_assert_msg(handler_exec_start(
				  base, &spec, run_cb, r->next, &cause) != NULL,
		    "start from a callback: %s", cause);
		freeargs(&a);
	}
}

/* Start a handler or fail the test. */
static struct handler_exec *
must_start(struct run *r, struct handler_exec_spec *spec)
{
	struct handler_exec *h;
	char *cause = NULL;

	if (spec->envp == NULL)
		spec->envp = default_env;
	if (spec->log_id == NULL)
		spec->log_id = "test";
	r->in_start = 1;
	h = handler_exec_start(base, spec, run_cb, r, &cause);
	r->in_start = 0;
	ck_assert_msg(h != NULL, "handler_exec_start: %s",
	    cause != NULL ? cause : "(no cause)");
	return h;
}

/* Start /bin/sh -c script [sh arg1] with a payload. */
static struct handler_exec *
must_start_sh(struct run *r, const char *script, const char *arg1,
    const void *payload, size_t len)
{
	struct handler_exec_spec spec;
	struct handler_exec *h;
	struct args a;

	memset(&spec, 0, sizeof spec);
	spec.argv = mkargs(&a, "/bin/sh", "-c", script, "sh", arg1, NULL);
	spec.stdin_data = payload;
	spec.stdin_len = len;
	h = must_start(r, &spec);
	freeargs(&a);
	return h;
}

/* Stop the loop: the deadline passed. */
static void
deadline_cb(int fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	deadline_hit = 1;
	event_base_loopbreak(base);
}

/* Run the loop until *count reaches want, or fail at the deadline. */
static void
run_until(const int *count, int want, uint64_t ms)
{
	struct event *ev;
	struct timeval tv;

	deadline_hit = 0;
	ev = evtimer_new(base, deadline_cb, NULL);
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(ev, &tv);
	while (*count < want && !deadline_hit)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(ev);
	ck_assert_msg(!deadline_hit,
	    "deadline of %llu ms passed with %d of "
	    "%d callbacks",
	    (unsigned long long)ms, *count, want);
}

/* Send our stderr (the log) to a file until capture_stop. */
static void
capture_start(const char *name)
{
	char *path = tmppath(name);
	int fd;

	fflush(stderr);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	saved_stderr = fcntl(2, F_DUPFD_CLOEXEC, 3);
	ck_assert_int_ge(saved_stderr, 0);
	ck_assert_int_eq(dup2(fd, 2), 2);
	close(fd);
	free(path);
}

/* Restore stderr; returns what was logged (caller frees). */
static char *
capture_stop(const char *name)
{
	char *path = tmppath(name), *log;

	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	saved_stderr = -1;
	log = testlib_read_file(path, NULL);
	ck_assert_ptr_nonnull(log);
	free(path);
	return log;
}

/*
 * Collect the rest of every log line containing marker (such as "job X
 * stdout: "), in order. Returns the count; the caller frees the strings.
 */
static size_t
grep_log(const char *log, const char *marker, char **out, size_t max)
{
	const char *p = log, *m, *eol;
	size_t n = 0;

	while ((m = strstr(p, marker)) != NULL) {
		m += strlen(marker);
		if ((eol = strchr(m, '\n')) == NULL)
			eol = m + strlen(m);
		if (n < max)
			out[n] = xstrndup(m, (size_t)(eol - m));
		n++;
		p = eol;
	}
	return n;
}

/* Free what grep_log returned. */
static void
free_lines(char **lines, size_t n, size_t max)
{
	size_t i;

	for (i = 0; i < n && i < max; i++)
		free(lines[i]);
}

static int fds_at_setup;

/* Count our open descriptors, to find leaks. */
static int
count_fds(void)
{
	DIR *d;
	struct dirent *de;
	int n = 0;

	d = opendir("/proc/self/fd");
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void
setup(void)
{
	fds_at_setup = count_fds();
	signal(SIGPIPE, SIG_IGN);
	/* Orphaned grandchildren come to us, so a test can reap them. */
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	ck_assert_int_eq(handler_exec_init(base), 0);
	tmpdir = testlib_tmpdir("handler");
}

static void
teardown(void)
{
	handler_exec_shutdown();
	event_base_free(base);
	base = NULL;
	testlib_rmtree(tmpdir);
	free(tmpdir);
	tmpdir = NULL;
	ck_assert_int_eq(count_fds(), fds_at_setup);
}

START_TEST(test_payload_with_nul_bytes_arrives_intact)
{
	struct run r[2];
	char *path[2], *got;
	unsigned char *big;
	static const char small[] = "a\0b\0\0c\n\0";
	size_t i, len;

	memset(r, 0, sizeof r);
	big = xmalloc(MIB);
	for (i = 0; i < MIB; i++)
		big[i] = i % 3 == 0 ? 0 : (unsigned char)(i * 31 + i / 1024);
	path[0] = tmppath("small.out");
	path[1] = tmppath("big.out");
	must_start_sh(&r[0], "cat > \"$1\"", path[0], small, sizeof small);
	must_start_sh(&r[1], "exec /bin/cat > \"$1\"", path[1], big, MIB);
	run_until(&r[0].done, 1, 10000);
	run_until(&r[1].done, 1, 10000);

	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(r[i].res.outcome, HANDLER_EXITED);
		ck_assert_int_eq(r[i].res.status, 0);
	}
	got = testlib_read_file(path[0], &len);
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(len, sizeof small);
	ck_assert_mem_eq(got, small, sizeof small);
	free(got);
	got = testlib_read_file(path[1], &len);
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(len, MIB);
	ck_assert_msg(memcmp(got, big, MIB) == 0, "1 MiB payload differs");
	free(got);
	free(big);
	free(path[0]);
	free(path[1]);
}
END_TEST

START_TEST(test_exit_codes_are_reported)
{
	static const int codes[] = {0, 65, 3};
	struct run r[nitems(codes)];
	char script[64];
	size_t i;
	int total = 0;

	memset(r, 0, sizeof r);
	for (i = 0; i < nitems(codes); i++) {
		snprintf(script, sizeof script, "exit %d", codes[i]);
		must_start_sh(&r[i], script, NULL, NULL, 0);
	}
	for (i = 0; i < nitems(codes); i++) {
		run_until(&r[i].done, 1, 10000);
		ck_assert_int_eq(r[i].res.outcome, HANDLER_EXITED);
		ck_assert_int_eq(r[i].res.status, codes[i]);
		ck_assert_int_eq(r[i].done, 1);
		total += r[i].done;
	}
	ck_assert_int_eq(total, 3);
	ck_assert_uint_eq(handler_exec_running(), 0);
}
END_TEST

START_TEST(test_signal_death_is_reported)
{
	struct run r;

	memset(&r, 0, sizeof r);
	must_start_sh(&r, "kill -TERM $$; sleep 5; exit 9", NULL, NULL, 0);
	run_until(&r.done, 1, 10000);
	ck_assert_int_eq(r.res.outcome, HANDLER_SIGNALED);
	ck_assert_int_eq(r.res.status, SIGTERM);
}
END_TEST

/*
 * The worker ignores SIGPIPE and may ignore or block others; execve keeps
 * both, so the child must reset them.
 */
START_TEST(test_signal_dispositions_and_mask_are_reset)
{
	struct run r[3];
	sigset_t set;

	memset(r, 0, sizeof r);
	signal(SIGUSR1, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	must_start_sh(&r[0], "kill -USR1 $$; exit 3", NULL, NULL, 0);
	must_start_sh(&r[1], "kill -USR2 $$; exit 3", NULL, NULL, 0);
	must_start_sh(&r[2],
	    "(yes; echo \"yes-status=$?\" >&2) | head -c 1 > /dev/null", NULL,
	    NULL, 0);
	run_until(&r[0].done, 1, 10000);
	run_until(&r[1].done, 1, 10000);
	run_until(&r[2].done, 1, 10000);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	signal(SIGUSR1, SIG_DFL);

	ck_assert_int_eq(r[0].res.outcome, HANDLER_SIGNALED);
	ck_assert_int_eq(r[0].res.status, SIGUSR1);
	ck_assert_int_eq(r[1].res.outcome, HANDLER_SIGNALED);
	ck_assert_int_eq(r[1].res.status, SIGUSR2);
	/* 141 = 128 + SIGPIPE: yes died of SIGPIPE, not of EPIPE. */
	ck_assert_msg(strstr(r[2].tail, "yes-status=141") != NULL,
	    "SIGPIPE not reset; stderr: %s", r[2].tail);
}
END_TEST

START_TEST(test_timeout_kills_the_handler_and_its_grandchild)
{
	struct handler_exec_spec spec;
	struct run r;
	struct args a;
	char *pidfile = tmppath("grandchild.pid");
	pid_t gpid;
	int st;

	memset(&r, 0, sizeof r);
	memset(&spec, 0, sizeof spec);
	spec.argv = mkargs(&a, "/bin/sh", "-c",
	    "sleep 100 & echo $! > \"$1\"; wait", "sh", pidfile, NULL);
	spec.timeout_ms = 1000;
	must_start(&r, &spec);
	freeargs(&a);
	run_until(&r.done, 1, 10000);

	ck_assert_int_eq(r.res.outcome, HANDLER_TIMEOUT);
	ck_assert_int_eq(r.res.status, SIGTERM);
	/* libevent schedules from its cached time: allow a little early. */
	ck_assert_uint_ge(r.res.duration_ms, 900);
	gpid = read_pidfile(pidfile);
	ck_assert_msg(gpid > 0, "the handler did not write %s", pidfile);
	ck_assert_msg(proc_wait_gone(gpid, &st, 5000) == 0,
	    "grandchild %ld survived the timeout", (long)gpid);
	/* SIGTERM: the group got it, not only the leader. */
	ck_assert_msg(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM,
	    "grandchild status %d, not SIGTERM", st);
	free(pidfile);
}
END_TEST

START_TEST(test_timeout_escalates_to_sigkill)
{
	struct handler_exec_spec spec;
	struct run r;
	struct args a;

	memset(&r, 0, sizeof r);
	memset(&spec, 0, sizeof spec);
	spec.argv = mkargs(&a, "/bin/sh", "-c",
	    "trap '' TERM; sleep 100; "
	    "sleep 100",
	    NULL);
	spec.timeout_ms = 200;
	spec.kill_grace_ms = 300;
	must_start(&r, &spec);
	freeargs(&a);
	run_until(&r.done, 1, 10000);

	ck_assert_int_eq(r.res.outcome, HANDLER_TIMEOUT);
	ck_assert_int_eq(r.res.status, SIGKILL);
	ck_assert_uint_ge(r.res.duration_ms, 400);
}
END_TEST

/*
 * The leader dies of SIGTERM while a grandchild ignores it: what is left
 * of the group is killed when the leader is reaped, not after the grace.
 */
START_TEST(test_grandchild_ignoring_term_dies_with_the_leader)
{
	struct handler_exec_spec spec;
	struct handler_exec *h;
	struct run r;
	struct args a;
	char *pidfile = tmppath("stubborn.pid");
	pid_t gpid = 0;
	uint64_t deadline;
	int st;

	memset(&r, 0, sizeof r);
	memset(&spec, 0, sizeof spec);
	/* The grandchild writes its pid only once it ignores SIGTERM. */
	spec.argv = mkargs(&a, "/bin/sh", "-c",
	    "/bin/sh -c 'trap \"\" TERM; echo $$ > \"$1\"; exec sleep 100' "
	    "sh \"$1\" & wait",
	    "sh", pidfile, NULL);
	spec.kill_grace_ms = 60000;
	h = must_start(&r, &spec);
	freeargs(&a);

	deadline = testlib_now_ms() + 5000;
	while (
	    (gpid = read_pidfile(pidfile)) == 0 && testlib_now_ms() < deadline)
		usleep(10000);
	ck_assert_msg(gpid > 0, "the handler did not write %s", pidfile);
	handler_exec_stop(h);
	run_until(&r.done, 1, 8000);

	ck_assert_int_eq(r.res.outcome, HANDLER_STOPPED);
	ck_assert_int_eq(r.res.status, SIGTERM);
	ck_assert_msg(proc_wait_gone(gpid, &st, 5000) == 0,
	    "grandchild %ld survived its leader", (long)gpid);
	ck_assert_msg(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
	    "grandchild status %d, not SIGKILL", st);
	free(pidfile);
}
END_TEST

START_TEST(test_stderr_tail_keeps_the_last_4k)
{
	struct run r;
	char *path = tmppath("stderr.txt"), *buf, *log, *lines[1];
	size_t len = 0, nlines = 0, cap = 110 * 1024;
	static const char last[] = "the last line\n";

	memset(&r, 0, sizeof r);
	buf = xmalloc(cap);
	while (len < 100 * 1024) {
		len += (size_t)snprintf(buf + len, cap - len,
		    "line %05zu: the quick brown fox jumps over it\n", nlines);
		nlines++;
	}
	memcpy(buf + len, last, sizeof last - 1);
	len += sizeof last - 1;
	nlines++;
	must_write_file(path, buf, len);

	capture_start("tail.log");
	must_start_sh(&r, "cat \"$1\" >&2", path, NULL, 0);
	run_until(&r.done, 1, 10000);
	log = capture_stop("tail.log");

	ck_assert_int_eq(r.res.outcome, HANDLER_EXITED);
	ck_assert_int_eq(r.res.status, 0);
	ck_assert_uint_eq(r.res.stderr_len, HANDLER_EXEC_TAIL);
	ck_assert(r.tail_nul);
	ck_assert_mem_eq(
	    r.tail, buf + len - HANDLER_EXEC_TAIL, HANDLER_EXEC_TAIL);
	ck_assert_str_eq(r.tail + HANDLER_EXEC_TAIL - (sizeof last - 1), last);
	ck_assert_uint_eq(grep_log(log, "job test stderr: ", lines, 0), nlines);
	free(log);
	free(buf);
	free(path);
}
END_TEST

/*
 * Chunks written with pauses in between arrive as separate reads, so the
 * tail ring fills piece by piece and wraps at odd offsets (a read of
 * 4 KiB or more takes a shortcut that this does not exercise).
 */
START_TEST(test_stderr_tail_from_small_writes)
{
	struct run r;
	char *buf, z[321], *script;
	size_t len = 0, cap = 64 * 1024;
	int i;

	memset(&r, 0, sizeof r);
	memset(z, 'z', sizeof z - 1);
	z[sizeof z - 1] = '\0';
	buf = xmalloc(cap);
	for (i = 0; i < 30; i++)
		len += (size_t)snprintf(
		    buf + len, cap - len, "chunk %02d %s\n", i, z);
	xasprintf(&script,
	    "i=0; while [ $i -lt 30 ]; do "
	    "printf 'chunk %%02d %%s\\n' $i '%s' >&2; sleep 0.01; "
	    "i=$((i + 1)); done",
	    z);
	must_start_sh(&r, script, NULL, NULL, 0);
	free(script);
	run_until(&r.done, 1, 10000);

	ck_assert_int_eq(r.res.status, 0);
	ck_assert_uint_eq(r.res.stderr_len, HANDLER_EXEC_TAIL);
	ck_assert_mem_eq(
	    r.tail, buf + len - HANDLER_EXEC_TAIL, HANDLER_EXEC_TAIL);
	ck_assert(r.tail_nul);
	free(buf);
}
END_TEST

/* A short stderr is passed whole. */
START_TEST(test_short_stderr_is_passed_whole)
{
	struct run r;

	memset(&r, 0, sizeof r);
	must_start_sh(&r, "echo oops >&2; printf 'no newline' >&2; exit 1",
	    NULL, NULL, 0);
	run_until(&r.done, 1, 10000);
	ck_assert_int_eq(r.res.outcome, HANDLER_EXITED);
	ck_assert_int_eq(r.res.status, 1);
	ck_assert_str_eq(r.tail, "oops\nno newline");
	ck_assert_uint_eq(r.res.stderr_len, 15);
	ck_assert(r.tail_nul);
}
END_TEST

START_TEST(test_environment_is_exactly_the_given_one)
{
	static char *env[] = {(char *)"FOO=bar baz",
	    (char *)"REDJOB_JOB_ID=01HXJOB", (char *)"EMPTY=", NULL};
	struct handler_exec_spec spec;
	struct run r;
	struct args a;
	char *log, *lines[8];
	size_t n, i;

	memset(&r, 0, sizeof r);
	ck_assert_int_eq(setenv("REDJOB_TEST_CANARY", "leaked", 1), 0);
	memset(&spec, 0, sizeof spec);
	spec.argv = mkargs(&a, "/usr/bin/env", NULL);
	spec.envp = env;
	spec.log_id = "envtest";
	capture_start("env.log");
	must_start(&r, &spec);
	run_until(&r.done, 1, 10000);
	log = capture_stop("env.log");
	freeargs(&a);

	ck_assert_int_eq(r.res.outcome, HANDLER_EXITED);
	ck_assert_int_eq(r.res.status, 0);
	ck_assert_msg(strstr(log, "CANARY") == NULL, "inherited: %s", log);
	n = grep_log(log, "job envtest stdout: ", lines, nitems(lines));
	ck_assert_msg(n == 3, "env printed %zu lines: %s", n, log);
	for (i = 0; i < 3; i++)
		ck_assert_str_eq(lines[i], env[i]);
	free_lines(lines, n, nitems(lines));
	free(log);
}
END_TEST

START_TEST(test_only_stdio_fds_are_inherited)
{
	struct handler_exec_spec spec;
	struct run r;
	struct args a;
	char *canary = tmppath("fd-canary"), *log, *lines[64], *arrow, *num;
	int fd, sv[2], seen[3] = {0, 0, 0};
	size_t n, i, links = 0;
	long fdno;

	memset(&r, 0, sizeof r);
	must_write_file(canary, "x", 1);
	/* Not close-on-exec, like hiredis's sockets. */
	fd = open(canary, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(dup2(fd, 100), 100);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);

	memset(&spec, 0, sizeof spec);
	spec.argv = mkargs(&a, "/bin/ls", "-l", "/proc/self/fd", NULL);
	spec.log_id = "fdtest";
	capture_start("fd.log");
	must_start(&r, &spec);
	run_until(&r.done, 1, 10000);
	log = capture_stop("fd.log");
	freeargs(&a);
	close(fd);
	close(100);
	close(sv[0]);
	close(sv[1]);

	ck_assert_int_eq(r.res.outcome, HANDLER_EXITED);
	ck_assert_int_eq(r.res.status, 0);
	n = grep_log(log, "job fdtest stdout: ", lines, nitems(lines));
	ck_assert_uint_le(n, nitems(lines));
	for (i = 0; i < n; i++) {
		if ((arrow = strstr(lines[i], " -> ")) == NULL)
			continue;
		links++;
		*arrow = '\0';
		num = strrchr(lines[i], ' ');
		ck_assert_ptr_nonnull(num);
		fdno = strtol(num + 1, NULL, 10);
		ck_assert_msg(strstr(arrow + 4, "fd-canary") == NULL &&
			strstr(arrow + 4, "socket:") == NULL,
		    "fd %ld leaked into the handler: %s", fdno, arrow + 4);
		if (fdno >= 0 && fdno <= 2)
			seen[fdno] = 1;
		else
			/* ls's own handle on the directory it lists. */
			ck_assert_msg(strncmp(arrow + 4, "/proc/", 6) == 0,
			    "fd %ld leaked into the handler: %s", fdno,
			    arrow + 4);
	}
	ck_assert_msg(links >= 3, "could not parse ls output: %s", log);
	ck_assert(seen[0] && seen[1] && seen[2]);
	free_lines(lines, n, nitems(lines));
	free(log);
	free(canary);
}
END_TEST

START_TEST(test_exec_failure_is_reported_with_the_reason)
{
	struct handler_exec_spec spec;
	struct run r[3];
	struct args a[3];

	memset(r, 0, sizeof r);
	memset(&spec, 0, sizeof spec);
	spec.argv = mkargs(&a[0], "/nope", NULL);
	must_start(&r[0], &spec);
	spec.argv = mkargs(&a[1], "/", NULL);
	must_start(&r[1], &spec);
	spec.argv = mkargs(&a[2], "/bin/true", NULL);
	spec.cwd = "/nonexistent-redjob-dir";
	must_start(&r[2], &spec);
	/* Reported from the loop, never from inside start. */
	ck_assert_int_eq(r[0].done + r[1].done + r[2].done, 0);
	ck_assert_uint_eq(handler_exec_running(), 3);
	run_until(&r[0].done, 1, 10000);
	run_until(&r[1].done, 1, 10000);
	run_until(&r[2].done, 1, 10000);

	ck_assert_int_eq(r[0].res.outcome, HANDLER_EXEC_FAILED);
	ck_assert_int_eq(r[0].res.status, ENOENT);
	ck_assert_str_eq(r[0].tail, "exec /nope: No such file or directory");
	ck_assert_uint_eq(r[0].res.stderr_len, strlen(r[0].tail));
	ck_assert(r[0].tail_nul);
	ck_assert_int_eq(r[1].res.outcome, HANDLER_EXEC_FAILED);
	ck_assert_int_eq(r[1].res.status, EACCES);
	ck_assert_str_eq(r[1].tail, "exec /: Permission denied");
	ck_assert_int_eq(r[2].res.outcome, HANDLER_EXEC_FAILED);
	ck_assert_int_eq(r[2].res.status, ENOENT);
	ck_assert_str_eq(r[2].tail,
	    "chdir /nonexistent-redjob-dir: No such file or directory");
	ck_assert(!r[0].reentered && !r[1].reentered && !r[2].reentered);
	ck_assert_uint_eq(handler_exec_running(), 0);
	freeargs(&a[0]);
	freeargs(&a[1]);
	freeargs(&a[2]);
}
END_TEST

START_TEST(test_cwd_is_applied)
{
	struct handler_exec_spec spec;
	struct run r;
	struct args a;
	char real[PATH_MAX], *out, *want;

	memset(&r, 0, sizeof r);
	ck_assert_ptr_nonnull(realpath(tmpdir, real));
	memset(&spec, 0, sizeof spec);
	spec.argv = mkargs(&a, "/bin/sh", "-c", "/bin/pwd > cwd.out", NULL);
	spec.cwd = real;
	must_start(&r, &spec);
	freeargs(&a);
	run_until(&r.done, 1, 10000);

	ck_assert_int_eq(r.res.outcome, HANDLER_EXITED);
	ck_assert_int_eq(r.res.status, 0);
	want = tmppath("cwd.out");
	out = testlib_read_file(want, NULL);
	ck_assert_msg(out != NULL, "cwd.out not written in %s", real);
	free(want);
	xasprintf(&want, "%s\n", real);
	ck_assert_str_eq(out, want);
	free(want);
	free(out);
}
END_TEST

static int ticks;
static struct handler_exec *tick_h;

/* Count loop iterations; stop tick_h at the fifth. */
static void
tick_cb(int fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (++ticks == 5)
		handler_exec_stop(tick_h);
}

/*
 * A handler that never reads its stdin, with a payload far larger than a
 * pipe holds: the loop must keep running (here, to stop the handler
 * after five ticks). A write blocking the loop would return only when
 * the handler exits by itself, too late to stop it.
 */
START_TEST(test_unread_payload_does_not_block_the_loop)
{
	struct handler_exec_spec spec;
	struct run r[2];
	struct event *tick;
	struct timeval tv = {0, 20000};
	struct args a;
	char *big;

	memset(r, 0, sizeof r);
	big = xcalloc(1, MIB);
	memset(&spec, 0, sizeof spec);
	spec.argv = mkargs(&a, "/bin/sleep", "3", NULL);
	spec.stdin_data = big;
	spec.stdin_len = MIB;
	tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	ticks = 0;
	tick_h = must_start(&r[0], &spec);
	freeargs(&a);
	event_add(tick, &tv);
	run_until(&r[0].done, 1, 10000);
	event_free(tick);
	ck_assert_int_eq(r[0].res.outcome, HANDLER_STOPPED);
	ck_assert_int_eq(r[0].res.status, SIGTERM);

	/* One that exits at once: the rest of the payload meets EPIPE. */
	must_start_sh(&r[1], "exit 0", NULL, big, MIB);
	run_until(&r[1].done, 1, 10000);
	ck_assert_int_eq(r[1].res.outcome, HANDLER_EXITED);
	ck_assert_int_eq(r[1].res.status, 0);
	free(big);
}
END_TEST

static struct handler_exec *stop_h;
static const char *stop_pidfile;

/* Stop the handler once it has started its grandchild. */
static void
stop_when_ready_cb(int fd, short what, void *arg)
{
	struct event *self = arg;

	(void)fd;
	(void)what;
	if (read_pidfile(stop_pidfile) == 0)
		return;
	event_del(self);
	handler_exec_stop(stop_h);
	handler_exec_stop(stop_h); /* a second stop changes nothing */
}

START_TEST(test_stop_ends_a_sleeping_handler)
{
	struct run r;
	struct event *ev;
	struct timeval tv = {0, 10000};
	char *pidfile = tmppath("stop.pid");
	pid_t gpid;
	int st;

	memset(&r, 0, sizeof r);
	stop_pidfile = pidfile;
	stop_h = must_start_sh(
	    &r, "sleep 100 & echo $! > \"$1\"; wait", pidfile, NULL, 0);
	ck_assert_int_gt(handler_exec_pid(stop_h), 0);
	ck_assert_uint_eq(handler_exec_running(), 1);
	ev = event_new(
	    base, -1, EV_PERSIST, stop_when_ready_cb, event_self_cbarg());
	event_add(ev, &tv);
	run_until(&r.done, 1, 10000);
	event_free(ev);

	ck_assert_int_eq(r.done, 1);
	ck_assert_int_eq(r.res.outcome, HANDLER_STOPPED);
	ck_assert_int_eq(r.res.status, SIGTERM);
	ck_assert_uint_eq(handler_exec_running(), 0);
	gpid = read_pidfile(pidfile);
	ck_assert_msg(proc_wait_gone(gpid, &st, 5000) == 0,
	    "grandchild %ld survived the stop", (long)gpid);
	ck_assert_msg(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM,
	    "grandchild status %d, not SIGTERM", st);
	free(pidfile);
}
END_TEST

/*
 * The handler exits while a background process still holds its stdout
 * and stderr: it completes at the drain deadline, not when the background
 * process ends (30 s, past this test's deadline).
 */
START_TEST(test_background_process_holding_output_is_drained)
{
	struct run r;
	char *pidfile = tmppath("bg.pid"), *log;
	pid_t gpid;
	int st;

	memset(&r, 0, sizeof r);
	capture_start("drain.log");
	must_start_sh(
	    &r, "sleep 30 & echo $! > \"$1\"; exit 4", pidfile, NULL, 0);
	run_until(&r.done, 1, 6000);
	log = capture_stop("drain.log");
	ck_assert_int_eq(r.res.outcome, HANDLER_EXITED);
	ck_assert_int_eq(r.res.status, 4);
	ck_assert_msg(strstr(log, "job test: output still open") != NULL,
	    "no drain: %s", log);
	free(log);

	gpid = read_pidfile(pidfile);
	ck_assert_int_gt(gpid, 0);
	/*
	 * A handler that exits by itself keeps its background processes
	 * (only a timeout or a stop kills the group); this one still runs.
	 * It is our child now (we are a subreaper): 0 means not exited.
	 */
	ck_assert_int_eq(waitpid(gpid, &st, WNOHANG), 0);
	kill(gpid, SIGKILL);
	ck_assert(proc_wait_gone(gpid, &st, 5000) == 0);
	free(pidfile);
}
END_TEST

START_TEST(test_output_is_logged_line_by_line)
{
	struct run r;
	char *outp = tmppath("out.txt"), *errp = tmppath("err.txt");
	char *log, *lines[16], big[3000], y[HANDLER_EXEC_LINE_MAX + 1];
	char *want, *script;
	FILE *f;
	size_t n;

	memset(&r, 0, sizeof r);
	must_write_file(outp, "hello\nworld", 11);
	memset(big, 'x', sizeof big);
	memset(y, 'y', sizeof y - 1);
	y[sizeof y - 1] = '\0';
	f = fopen(errp, "wb");
	ck_assert_ptr_nonnull(f);
	fwrite(big, 1, sizeof big, f);
	fprintf(f, "\n%s\n", y);
	fwrite("a\0b\tc\r\nend\n", 1, 11, f);
	fclose(f);

	xasprintf(&script, "cat '%s'; cat '%s' >&2", outp, errp);
	capture_start("lines.log");
	must_start_sh(&r, script, NULL, NULL, 0);
	free(script);
	run_until(&r.done, 1, 10000);
	log = capture_stop("lines.log");
	ck_assert_int_eq(r.res.status, 0);

	n = grep_log(log, "job test stdout: ", lines, nitems(lines));
	ck_assert_msg(n == 2, "%zu stdout lines: %s", n, log);
	ck_assert_str_eq(lines[0], "hello");
	ck_assert_str_eq(lines[1], "world");
	free_lines(lines, n, nitems(lines));

	n = grep_log(log, "job test stderr: ", lines, nitems(lines));
	ck_assert_msg(n == 4, "%zu stderr lines: %s", n, log);
	xasprintf(&want, "%.*s [truncated]", HANDLER_EXEC_LINE_MAX, big);
	ck_assert_str_eq(lines[0], want);
	free(want);
	ck_assert_str_eq(lines[1], y);
	ck_assert_str_eq(lines[2], "a?b\tc");
	ck_assert_str_eq(lines[3], "end");
	free_lines(lines, n, nitems(lines));
	free(log);
	free(outp);
	free(errp);
}
END_TEST

START_TEST(test_fifty_concurrent_handlers_all_complete)
{
	struct run r[50];
	char script[64];
	size_t i;
	int total;

	memset(r, 0, sizeof r);
	for (i = 0; i < nitems(r); i++) {
		snprintf(script, sizeof script, "read x; exit $((x + %zu))", i);
		must_start_sh(&r[i], script, NULL, "100\n", 4);
	}
	ck_assert_uint_eq(handler_exec_running(), nitems(r));
	for (i = 0; i < nitems(r); i++)
		run_until(&r[i].done, 1, 20000);
	/* Let any duplicate callback show itself. */
	event_base_loop(base, EVLOOP_NONBLOCK);
	for (i = 0, total = 0; i < nitems(r); i++) {
		ck_assert_int_eq(r[i].done, 1);
		ck_assert_int_eq(r[i].res.outcome, HANDLER_EXITED);
		ck_assert_int_eq(r[i].res.status, (int)(100 + i));
		total += r[i].done;
	}
	ck_assert_int_eq(total, 50);
	ck_assert_uint_eq(handler_exec_running(), 0);
}
END_TEST

START_TEST(test_callback_can_start_the_next_handler)
{
	struct run r[2];

	memset(r, 0, sizeof r);
	r[0].next = &r[1];
	r[0].next_script = (char *)"exit 7";
	must_start_sh(&r[0], "exit 6", NULL, NULL, 0);
	run_until(&r[1].done, 1, 10000);
	ck_assert_int_eq(r[0].res.status, 6);
	ck_assert_int_eq(r[1].res.status, 7);
	ck_assert_int_eq(r[0].done, 1);
	ck_assert_uint_eq(handler_exec_running(), 0);
}
END_TEST

/* Never called: the worker is killed first. */
static void
orphan_cb(const struct handler_result *res, void *arg)
{
	(void)res;
	(void)arg;
}

/*
 * The "worker" of the test below, a forked child: start a handler, write
 * its pid to *arg (a descriptor), wait to be killed.
 */
static int
orphan_worker(void *arg)
{
	struct handler_exec_spec spec;
	struct handler_exec *h;
	struct event_base *wbase;
	struct args a;
	pid_t hpid;
	int fd = *(int *)arg;

	wbase = event_base_new();
	if (wbase == NULL || handler_exec_init(wbase) == -1)
		return 1;
	memset(&spec, 0, sizeof spec);
	spec.argv = mkargs(&a, "/bin/sleep", "100", NULL);
	spec.envp = default_env;
	spec.log_id = "orphan";
	if ((h = handler_exec_start(wbase, &spec, orphan_cb, NULL, NULL)) ==
	    NULL)
		return 1;
	hpid = handler_exec_pid(h);
	if (write(fd, &hpid, sizeof hpid) != sizeof hpid)
		return 1;
	for (;;)
		pause();
}

START_TEST(test_worker_killed_by_sigkill_takes_its_handler)
{
	struct proc *w;
	pid_t hpid = 0;
	int fds[2], st, gone;
	ssize_t n;

	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	ck_assert_int_eq(pipe(fds), 0);
	w = must_spawn(&(struct proc_spec){ .fn = orphan_worker,
	    .arg = &fds[1], .name = "worker" });
	close(fds[1]);
	n = read(fds[0], &hpid, sizeof hpid);
	close(fds[0]);
	ck_assert_int_eq(n, sizeof hpid);
	ck_assert_int_eq(proc_signal(w, SIGKILL), 0);
	ck_assert_int_eq(must_wait(w, 5000), 128 + SIGKILL);
	proc_free(w);

	gone = proc_wait_gone(hpid, &st, 5000) == 0;
	if (!gone)
		kill(hpid, SIGKILL);
	ck_assert_msg(gone, "handler %ld outlived its worker", (long)hpid);
	ck_assert_msg(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
	    "handler status %d, not SIGKILL", st);
}
END_TEST

Suite *
suite(void)
{
	Suite *s = suite_create("handler");
	TCase *tc;

	tc = tcase_create("io");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_payload_with_nul_bytes_arrives_intact);
	tcase_add_test(tc, test_unread_payload_does_not_block_the_loop);
	tcase_add_test(tc, test_stderr_tail_keeps_the_last_4k);
	tcase_add_test(tc, test_stderr_tail_from_small_writes);
	tcase_add_test(tc, test_short_stderr_is_passed_whole);
	tcase_add_test(tc, test_output_is_logged_line_by_line);
	tcase_add_test(tc, test_environment_is_exactly_the_given_one);
	tcase_add_test(tc, test_only_stdio_fds_are_inherited);
	tcase_add_test(tc, test_cwd_is_applied);
	suite_add_tcase(s, tc);

	tc = tcase_create("status");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_exit_codes_are_reported);
	tcase_add_test(tc, test_signal_death_is_reported);
	tcase_add_test(tc, test_signal_dispositions_and_mask_are_reset);
	tcase_add_test(tc, test_exec_failure_is_reported_with_the_reason);
	tcase_add_test(tc, test_fifty_concurrent_handlers_all_complete);
	tcase_add_test(tc, test_callback_can_start_the_next_handler);
	suite_add_tcase(s, tc);

	tc = tcase_create("kill");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_timeout_kills_the_handler_and_its_grandchild);
	tcase_add_test(tc, test_timeout_escalates_to_sigkill);
	tcase_add_test(tc, test_grandchild_ignoring_term_dies_with_the_leader);
	tcase_add_test(tc, test_stop_ends_a_sleeping_handler);
	tcase_add_test(tc, test_background_process_holding_output_is_drained);
	suite_add_tcase(s, tc);

	tc = tcase_create("parent_death");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_worker_killed_by_sigkill_takes_its_handler);
	suite_add_tcase(s, tc);
	return s;
}
