/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Exec handlers against real processes: the payload on stdin, exit codes
 * and signals, timeouts and stops that kill the whole process group, the
 * stderr tail, the exact environment, descriptor hygiene, exec failures,
 * line logging, parent-death, and many handlers at once. The event loop
 * always runs under a deadline, so a bug fails a test instead of hanging.
 * Then the options of redjob lock's COMMAND: kept descriptors, PATH
 * search, inherited stdio, signal mask and ignored signals, forwarded
 * signals, and the terminal's foreground group under a real
 * pseudo-terminal, with ^Z and "fg".
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
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>

#include "handler_child.h"
#include "handler_exec.h"
#include "log.h"
#include "mtime.h"
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

	deadline_hit = 0;
	ev = evtimer_new(base, deadline_cb, NULL);
	mtime_arm(ev, ms);
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
	/* Handlers' output is logged at debug. */
	log_set_level(LOG_LEVEL_DEBUG);
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
	log_set_level(LOG_LEVEL_INFO);
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

/*
 * Count the output lines of handler "test" in log (a copy is cut up):
 * those logged, those reported as not logged, and the reports.
 */
static void
output_counts(const char *log, unsigned long long *logged,
    unsigned long long *dropped, unsigned long long *reports)
{
	char *copy = xstrdup(log), *p, *q, *c;

	*logged = *dropped = *reports = 0;
	for (p = copy; *p != '\0'; p = q + 1) {
		if ((q = strchr(p, '\n')) == NULL)
			q = p + strlen(p) - 1;
		*q = '\0';
		if (strstr(p, "job test stdout: ") != NULL ||
		    strstr(p, "job test stderr: ") != NULL)
			(*logged)++;
		else if ((c = strstr(p, "job test: ")) != NULL &&
		    strstr(c, " output lines not logged (more than ") != NULL) {
			*dropped += strtoull(c + 10, NULL, 10);
			(*reports)++;
		}
	}
	free(copy);
}

START_TEST(test_stderr_tail_keeps_the_last_4k)
{
	struct run r;
	char *path = tmppath("stderr.txt"), *buf, *log;
	size_t len = 0, nlines = 0, cap = 110 * 1024;
	unsigned long long logged, dropped, reports;
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
	/* Every line is logged, or counted among those that were not. */
	output_counts(log, &logged, &dropped, &reports);
	ck_assert_uint_eq(logged + dropped, nlines);
	ck_assert_uint_ge(logged, HANDLER_EXEC_LINES_PER_S);
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

/*
 * A handler printing a million lines gets HANDLER_EXEC_LINES_PER_S a
 * second logged, and lines saying how many were not: the two add up to
 * every line it printed.
 */
START_TEST(test_output_flood_is_rate_limited_with_a_count)
{
	struct run r;
	char *log;
	unsigned long long logged, dropped, reports;
	uint64_t start, secs;

	memset(&r, 0, sizeof r);
	capture_start("flood.log");
	start = mtime_now();
	must_start_sh(&r, "seq 1000000; echo last >&2", NULL, NULL, 0);
	run_until(&r.done, 1, 120000);
	secs = (mtime_now() - start) / 1000;
	log = capture_stop("flood.log");
	ck_assert_int_eq(r.res.status, 0);
	/* The stderr tail still has what the handler wrote there. */
	ck_assert_str_eq(r.tail, "last\n");

	output_counts(log, &logged, &dropped, &reports);
	ck_assert_msg(logged + dropped == 1000001, "%llu logged + %llu "
	    "dropped", logged, dropped);
	ck_assert_msg(logged <= HANDLER_EXEC_LINES_PER_S * (secs + 2),
	    "%llu lines logged in %llu s", logged, (unsigned long long)secs);
	ck_assert_uint_ge(reports, 1);
	ck_assert_uint_le(reports, secs + 2);
	free(log);
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

/* What orphan_worker() is given. */
struct orphan {
	int	fd;		/* where to write the handler's pid */
	int	pdeath_signal;	/* the handler's spec.pdeath_signal */
};

/*
 * The "worker" of the tests below, a forked child: start a handler, write
 * its pid to the descriptor in *arg, wait to be killed.
 */
static int
orphan_worker(void *arg)
{
	const struct orphan *o = arg;
	struct handler_exec_spec spec;
	struct handler_exec *h;
	struct event_base *wbase;
	struct args a;
	pid_t hpid;
	int fd = o->fd;

	wbase = event_base_new();
	if (wbase == NULL || handler_exec_init(wbase) == -1)
		return 1;
	memset(&spec, 0, sizeof spec);
	spec.argv = mkargs(&a, "/bin/sleep", "100", NULL);
	spec.envp = default_env;
	spec.log_id = "orphan";
	spec.pdeath_signal = o->pdeath_signal;
	if ((h = handler_exec_start(wbase, &spec, orphan_cb, NULL, NULL)) ==
	    NULL)
		return 1;
	hpid = handler_exec_pid(h);
	if (write(fd, &hpid, sizeof hpid) != sizeof hpid)
		return 1;
	for (;;)
		pause();
}

/*
 * Kill a worker whose handler has pdeath_signal with SIGKILL: its handler
 * must die of want.
 */
static void
kill_worker_and_its_handler(int pdeath_signal, int want)
{
	struct orphan o;
	struct proc *w;
	pid_t hpid = 0;
	int fds[2], st, gone;
	ssize_t n;

	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	ck_assert_int_eq(pipe(fds), 0);
	o.fd = fds[1];
	o.pdeath_signal = pdeath_signal;
	w = must_spawn(&(struct proc_spec){ .fn = orphan_worker,
	    .arg = &o, .name = "worker" });
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
	ck_assert_msg(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == want,
	    "handler status %d, not signal %d", st, want);
}

START_TEST(test_worker_killed_by_sigkill_takes_its_handler)
{
	kill_worker_and_its_handler(0, SIGKILL);
}
END_TEST

/* ---------------------------------------------------------------------
 * The options of a command run on a user's behalf (redjob lock).
 */

/* Write a string to a file or fail the test. */
static void
must_write_str(const char *path, const char *s)
{
	must_write_file(path, s, strlen(s));
}

/* Open a file that holds s at descriptor fd, not close-on-exec. */
static void
must_open_at(int fd, const char *name, const char *s)
{
	char *path = tmppath(name);
	int tmp;

	must_write_str(path, s);
	tmp = open(path, O_RDONLY);
	ck_assert_int_ge(tmp, 0);
	ck_assert_int_eq(dup2(tmp, fd), fd);
	close(tmp);
	free(path);
}

/* What a command started from a shell would inherit, listed. */
START_TEST(test_open_descriptors_and_ignored_signals_are_listed)
{
	struct sigaction sa, old;
	sigset_t set;
	char *cause = NULL;
	int *fds = NULL, have40 = 0, have41 = 0, fd;
	size_t n = 0, i;

	ck_assert_msg(fcntl(40, F_GETFD) == -1, "fd 40 in use");
	must_open_at(40, "listed", "x");
	fd = fcntl(40, F_DUPFD_CLOEXEC, 41);
	ck_assert_int_eq(fd, 41);
	ck_assert_msg(handler_child_open_fds(&fds, &n, &cause) == 0, "%s",
	    cause);
	close(40);
	close(41);
	for (i = 0; i < n; i++) {
		ck_assert_int_gt(fds[i], 2);
		if (i > 0)
			ck_assert_int_gt(fds[i], fds[i - 1]);
		have40 |= fds[i] == 40;
		/* Close-on-exec or not, it is open: the caller decides. */
		have41 |= fds[i] == 41;
	}
	ck_assert(have40 && have41);
	free(fds);

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGUSR2, &sa, &old), 0);
	handler_child_ignored(&set);
	ck_assert_int_eq(sigaction(SIGUSR2, &old, NULL), 0);
	ck_assert_int_eq(sigismember(&set, SIGUSR2), 1);
	/* The fixture ignores SIGPIPE; SIGUSR1 is at its default. */
	ck_assert_int_eq(sigismember(&set, SIGPIPE), 1);
	ck_assert_int_eq(sigismember(&set, SIGUSR1), 0);
}
END_TEST

START_TEST(test_kept_descriptors_stay_open_and_others_close)
{
	static const int keep[] = {40, 42};
	struct handler_exec_spec spec;
	struct run r;
	struct args a;
	char *log, *lines[64], *arrow, *num;
	int sv[2], seen40 = 0, seen42 = 0;
	size_t n, i;
	long fdno;

	memset(&r, 0, sizeof r);
	for (i = 40; i <= 42; i++)
		ck_assert_msg(fcntl((int)i, F_GETFD) == -1, "fd %zu in use", i);
	must_open_at(40, "keep-40", "forty");
	must_open_at(41, "drop-41", "forty-one");
	must_open_at(42, "keep-42", "forty-two");
	/* Not close-on-exec either, like hiredis's sockets. */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);

	memset(&spec, 0, sizeof spec);
	spec.argv = mkargs(&a, "/bin/ls", "-l", "/proc/self/fd", NULL);
	spec.log_id = "keep";
	spec.keep_fds = keep;
	spec.nkeep_fds = nitems(keep);
	capture_start("keep.log");
	must_start(&r, &spec);
	run_until(&r.done, 1, 10000);
	log = capture_stop("keep.log");
	freeargs(&a);
	close(40);
	close(41);
	close(42);
	close(sv[0]);
	close(sv[1]);

	ck_assert_int_eq(r.res.outcome, HANDLER_EXITED);
	ck_assert_int_eq(r.res.status, 0);
	n = grep_log(log, "job keep stdout: ", lines, nitems(lines));
	ck_assert_uint_le(n, nitems(lines));
	for (i = 0; i < n; i++) {
		if ((arrow = strstr(lines[i], " -> ")) == NULL)
			continue;
		*arrow = '\0';
		num = strrchr(lines[i], ' ');
		ck_assert_ptr_nonnull(num);
		fdno = strtol(num + 1, NULL, 10);
		if (fdno == 40) {
			ck_assert_msg(strstr(arrow + 4, "/keep-40") != NULL,
			    "fd 40 is %s", arrow + 4);
			seen40 = 1;
		} else if (fdno == 42) {
			ck_assert_msg(strstr(arrow + 4, "/keep-42") != NULL,
			    "fd 42 is %s", arrow + 4);
			seen42 = 1;
		} else if (fdno > 2)
			/* ls's own handle on the directory it lists. */
			ck_assert_msg(strncmp(arrow + 4, "/proc/", 6) == 0,
			    "fd %ld leaked into the command: %s", fdno,
			    arrow + 4);
	}
	ck_assert_msg(seen40 && seen42, "kept fds missing: %s", log);
	free_lines(lines, n, nitems(lines));
	free(log);
}
END_TEST

/* What fd3_caller() is given: the files for its descriptors 3, 5, 7. */
struct fd3_files {
	const char	*path[3];	/* 3, 5, 7 */
	const char	*out;
};

/* fd3_caller()'s completion callback: the handler's exit status, or 13. */
static void
fd3_cb(const struct handler_result *res, void *arg)
{
	*(int *)arg = res->outcome == HANDLER_EXITED ? res->status : 13;
}

/*
 * A forked caller that owns its descriptor 3 (the test runner's is not
 * ours to take): open the files at 3, 5 and 7, run a shell keeping 3 and
 * 7 that writes what it reads from them to files->out, and return its
 * status. No Check here, as in any child of proc.
 */
static int
fd3_caller(void *arg)
{
	static const int at[] = {3, 5, 7}, keep[] = {3, 7};
	static char sh[] = "/bin/sh", c[] = "-c", zero[] = "sh";
	static char script[] = "exec > \"$1\"; cat <&3; cat <&7; "
	    "[ -e /proc/$$/fd/5 ] && echo fd-5-leaked; exit 0";
	const struct fd3_files *f = arg;
	struct handler_exec_spec spec;
	struct event_base *cbase;
	char *argv[] = {sh, c, script, zero, (char *)f->out, NULL};
	int status = -1, fd;
	size_t i;

	for (i = 0; i < nitems(at); i++) {
		if ((fd = open(f->path[i], O_RDONLY)) == -1 ||
		    dup2(fd, at[i]) == -1)
			return 10;
		if (fd != at[i])
			close(fd);
	}
	if ((cbase = event_base_new()) == NULL ||
	    handler_exec_init(cbase) == -1)
		return 11;
	memset(&spec, 0, sizeof spec);
	spec.argv = argv;
	spec.envp = default_env;
	spec.keep_fds = keep;
	spec.nkeep_fds = nitems(keep);
	if (handler_exec_start(cbase, &spec, fd3_cb, &status, NULL) == NULL)
		return 12;
	while (status == -1)
		event_base_loop(cbase, EVLOOP_ONCE);
	return status;
}

/*
 * Descriptor 3 kept: where the exec-status pipe goes without a list, and
 * the first descriptor a shell's "3<file" gives.
 */
START_TEST(test_kept_descriptor_3_is_not_the_status_pipe)
{
	static const char *const names[] = {"three", "five", "seven"};
	struct fd3_files f;
	struct proc *p;
	char *got;
	size_t i;

	for (i = 0; i < nitems(names); i++) {
		f.path[i] = tmppath(names[i]);
		must_write_str(f.path[i], i == 0 ? "three\n" :
		    i == 1 ? "five\n" : "seven\n");
	}
	f.out = tmppath("fd3.out");
	p = must_spawn(&(struct proc_spec){ .fn = fd3_caller, .arg = &f,
	    .name = "caller" });
	ck_assert_int_eq(must_wait(p, 10000), 0);
	proc_free(p);
	got = must_read_file(f.out, NULL);
	ck_assert_str_eq(got, "three\nseven\n");
	free(got);
	for (i = 0; i < nitems(names); i++)
		free((char *)f.path[i]);
	free((char *)f.out);
}
END_TEST

/* Set a file's mode bits or fail the test. */
static void
must_chmod(const char *path, mode_t mode)
{
	ck_assert_msg(chmod(path, mode) == 0, "chmod %s: %s", path,
	    strerror(errno));
}

START_TEST(test_path_search_runs_as_execvp_does)
{
	static const struct {
		const char		*name;
		enum handler_outcome	 outcome;
		int			 status;	/* or errno */
		int			 wexit;		/* the child's */
		const char		*msg;
	} cases[] = {
		/* In the second directory: the first one's is not +x. */
		{ "tool", HANDLER_EXITED, 0, 0, NULL },
		/* No "#!": run by /bin/sh, as execvp does. */
		{ "noshebang", HANDLER_EXITED, 42, 42, NULL },
		{ "no-such-tool", HANDLER_EXEC_FAILED, ENOENT, 127,
		    "exec no-such-tool: No such file or directory" },
		{ "notexec", HANDLER_EXEC_FAILED, EACCES, 126,
		    "exec notexec: Permission denied" },
	};
	struct handler_exec_spec spec;
	struct run r[nitems(cases)];
	struct args a;
	char *d1 = tmppath("bin1"), *d2 = tmppath("bin2"), *p, *pathenv;
	char *env[2], *log, *lines[4];
	size_t i, n;

	memset(r, 0, sizeof r);
	ck_assert_int_eq(mkdir(d1, 0700), 0);
	ck_assert_int_eq(mkdir(d2, 0700), 0);
	xasprintf(&p, "%s/tool", d1);
	must_write_str(p, "#!/bin/sh\necho wrong tool\n");
	must_chmod(p, 0600);
	free(p);
	xasprintf(&p, "%s/tool", d2);
	must_write_str(p, "#!/bin/sh\necho \"tool $1\"\n");
	must_chmod(p, 0700);
	free(p);
	xasprintf(&p, "%s/noshebang", d2);
	must_write_str(p, "exit 42\n");
	must_chmod(p, 0700);
	free(p);
	xasprintf(&p, "%s/notexec", d2);
	must_write_str(p, "#!/bin/sh\n");
	must_chmod(p, 0600);
	free(p);
	/* envp's PATH is searched, not ours (which lacks both). */
	xasprintf(&pathenv, "PATH=%s::%s:/usr/bin:/bin", d1, d2);
	env[0] = pathenv;
	env[1] = NULL;

	capture_start("path.log");
	for (i = 0; i < nitems(cases); i++) {
		memset(&spec, 0, sizeof spec);
		spec.argv = mkargs(&a, cases[i].name, "arg1", NULL);
		spec.envp = env;
		spec.log_id = cases[i].name;
		spec.search_path = 1;
		must_start(&r[i], &spec);
		freeargs(&a);
	}
	for (i = 0; i < nitems(cases); i++)
		run_until(&r[i].done, 1, 10000);
	log = capture_stop("path.log");

	for (i = 0; i < nitems(cases); i++) {
		ck_assert_msg(r[i].res.outcome == cases[i].outcome &&
		    r[i].res.status == cases[i].status,
		    "%s: outcome %d status %d", cases[i].name,
		    (int)r[i].res.outcome, r[i].res.status);
		ck_assert_msg(WIFEXITED(r[i].res.wstatus) &&
		    WEXITSTATUS(r[i].res.wstatus) == cases[i].wexit,
		    "%s: wait status %#x", cases[i].name, r[i].res.wstatus);
		if (cases[i].msg != NULL)
			ck_assert_str_eq(r[i].tail, cases[i].msg);
	}
	n = grep_log(log, "job tool stdout: ", lines, nitems(lines));
	ck_assert_msg(n == 1, "%zu lines: %s", n, log);
	ck_assert_str_eq(lines[0], "tool arg1");
	free_lines(lines, n, nitems(lines));
	free(log);

	/* Without search_path, a bare name is a path: the daemon's rule. */
	memset(&r[0], 0, sizeof r[0]);
	memset(&spec, 0, sizeof spec);
	spec.argv = mkargs(&a, "tool", NULL);
	spec.envp = env;
	must_start(&r[0], &spec);
	freeargs(&a);
	run_until(&r[0].done, 1, 10000);
	ck_assert_int_eq(r[0].res.outcome, HANDLER_EXEC_FAILED);
	ck_assert_int_eq(r[0].res.status, ENOENT);
	free(pathenv);
	free(d1);
	free(d2);
}
END_TEST

/* Point descriptor fd at a file in the test's directory; returns a copy. */
static int
redirect(int fd, const char *name, int flags)
{
	char *path = tmppath(name);
	int saved, tmp;

	saved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	ck_assert_int_ge(saved, 0);
	tmp = open(path, flags | O_CLOEXEC, 0600);
	ck_assert_msg(tmp >= 0, "open %s: %s", path, strerror(errno));
	ck_assert_int_eq(dup2(tmp, fd), fd);
	close(tmp);
	free(path);
	return saved;
}

/* Undo redirect(). */
static void
restore(int fd, int saved)
{
	ck_assert_int_eq(dup2(saved, fd), fd);
	close(saved);
}

START_TEST(test_inherited_stdio_reaches_the_command_unlogged)
{
	struct handler_exec_spec spec;
	struct run r;
	struct args a;
	char *in = tmppath("stdin.txt"), *out = tmppath("stdout.txt");
	char *log, *got;
	int saved0, saved1;

	memset(&r, 0, sizeof r);
	must_write_file(in, "from stdin\n", 11);
	saved0 = redirect(0, "stdin.txt", O_RDONLY);
	fflush(stdout);
	saved1 = redirect(1, "stdout.txt", O_WRONLY | O_CREAT | O_TRUNC);
	memset(&spec, 0, sizeof spec);
	spec.argv = mkargs(&a, "/bin/sh", "-c",
	    "read x; echo \"out $x\"; echo \"err $x\" >&2; exit 3", NULL);
	spec.log_id = "stdio";
	spec.inherit_stdio = 1;
	/* stderr is the capture file: the command writes there itself. */
	capture_start("stdio.log");
	must_start(&r, &spec);
	run_until(&r.done, 1, 10000);
	log = capture_stop("stdio.log");
	restore(0, saved0);
	restore(1, saved1);
	freeargs(&a);

	ck_assert_int_eq(r.res.outcome, HANDLER_EXITED);
	ck_assert_int_eq(r.res.status, 3);
	ck_assert_msg(WIFEXITED(r.res.wstatus) &&
	    WEXITSTATUS(r.res.wstatus) == 3, "wait status %#x",
	    r.res.wstatus);
	ck_assert_str_eq(r.tail, "");
	got = testlib_read_file(out, NULL);
	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got, "out from stdin\n");
	free(got);
	/* The command's own line, not a log line about it. */
	ck_assert_msg(strstr(log, "err from stdin\n") != NULL, "%s", log);
	ck_assert_msg(strstr(log, "job stdio stdout") == NULL &&
	    strstr(log, "job stdio stderr") == NULL, "logged: %s", log);
	free(log);
	free(in);
	free(out);
}
END_TEST

/* The hexadecimal mask of /proc/self/status line "name:\t…". */
static unsigned long long
status_mask(const char *log, const char *name)
{
	const char *p;

	p = strstr(log, name);
	ck_assert_msg(p != NULL, "no %s in: %s", name, log);
	return strtoull(p + strlen(name), NULL, 16);
}

START_TEST(test_signal_mask_and_ignored_signals_are_given)
{
	struct handler_exec_spec spec;
	struct run r[2];
	struct args a;
	sigset_t mask, ign;
	char *log;
	unsigned long long bit1 = 1ULL << (SIGUSR1 - 1);
	unsigned long long bit2 = 1ULL << (SIGUSR2 - 1);

	memset(r, 0, sizeof r);
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	sigemptyset(&ign);
	sigaddset(&ign, SIGUSR2);
	memset(&spec, 0, sizeof spec);
	spec.argv = mkargs(&a, "/bin/grep", "-E", "^Sig(Blk|Ign):",
	    "/proc/self/status", NULL);
	spec.log_id = "sigs";
	spec.sigmask = &mask;
	spec.sigignore = &ign;
	capture_start("sigs.log");
	must_start(&r[0], &spec);
	freeargs(&a);
	run_until(&r[0].done, 1, 10000);
	log = capture_stop("sigs.log");
	ck_assert_int_eq(r[0].res.status, 0);
	/*
	 * Exactly these among the 31 classic signals (the C library keeps
	 * its own above them): we ignore SIGPIPE, and it is not passed on.
	 */
	ck_assert_msg((status_mask(log, "job sigs stdout: SigBlk:") &
	    0x7fffffffULL) == bit1, "%s", log);
	ck_assert_msg((status_mask(log, "job sigs stdout: SigIgn:") &
	    0x7fffffffULL) == bit2, "%s", log);
	free(log);

	/* And the ignored one is: the shell lives on after it. */
	spec.argv = mkargs(&a, "/bin/sh", "-c", "kill -USR2 $$; exit 5",
	    NULL);
	must_start(&r[1], &spec);
	run_until(&r[1].done, 1, 10000);
	freeargs(&a);
	ck_assert_int_eq(r[1].res.outcome, HANDLER_EXITED);
	ck_assert_int_eq(r[1].res.status, 5);
}
END_TEST

static struct handler_exec *fwd_h;
static const char *fwd_pidfile;
static int fwd_sent;

/* Forward SIGUSR1 once the handler has set its trap. */
static void
forward_when_ready_cb(int fd, short what, void *arg)
{
	struct event *self = arg;

	(void)fd;
	(void)what;
	if (read_pidfile(fwd_pidfile) == 0)
		return;
	event_del(self);
	ck_assert_int_eq(handler_exec_kill(fwd_h, SIGUSR1), 0);
	fwd_sent = 1;
}

static int late_kill_errno;

/* In the callback the handler is reaped: no more signals to its group. */
static void
late_kill_cb(const struct handler_result *res, void *arg)
{
	struct run *r = arg;

	late_kill_errno = 0;
	if (handler_exec_kill(fwd_h, SIGKILL) == -1)
		late_kill_errno = errno;
	run_cb(res, r);
}

START_TEST(test_kill_forwards_a_signal_without_stopping)
{
	struct handler_exec_spec spec;
	struct run r;
	struct event *ev;
	struct timeval tv = {0, 10000};
	struct args a;
	char *pidfile = tmppath("fwd.pid"), *cause = NULL;

	memset(&r, 0, sizeof r);
	fwd_pidfile = pidfile;
	fwd_sent = 0;
	memset(&spec, 0, sizeof spec);
	/* The group gets it: the background sleep too. */
	spec.argv = mkargs(&a, "/bin/sh", "-c",
	    "trap 'wait; exit 7' USR1; sleep 100 & echo $$ > \"$1\"; wait; "
	    "wait", "sh", pidfile, NULL);
	spec.envp = default_env;
	spec.log_id = "fwd";
	spec.quiet = 1;
	fwd_h = handler_exec_start(base, &spec, late_kill_cb, &r, &cause);
	ck_assert_msg(fwd_h != NULL, "%s", cause);
	freeargs(&a);
	ev = event_new(base, -1, EV_PERSIST, forward_when_ready_cb,
	    event_self_cbarg());
	event_add(ev, &tv);
	run_until(&r.done, 1, 10000);
	event_free(ev);

	ck_assert(fwd_sent);
	/* Its own exit, not HANDLER_STOPPED with a SIGKILL to follow. */
	ck_assert_int_eq(r.res.outcome, HANDLER_EXITED);
	ck_assert_int_eq(r.res.status, 7);
	ck_assert_int_eq(late_kill_errno, ESRCH);
	free(pidfile);
}
END_TEST

START_TEST(test_wait_status_is_in_the_result)
{
	struct run r[2];

	memset(r, 0, sizeof r);
	must_start_sh(&r[0], "exit 200", NULL, NULL, 0);
	must_start_sh(&r[1], "kill -HUP $$", NULL, NULL, 0);
	run_until(&r[0].done, 1, 10000);
	run_until(&r[1].done, 1, 10000);
	ck_assert(WIFEXITED(r[0].res.wstatus));
	ck_assert_int_eq(WEXITSTATUS(r[0].res.wstatus), 200);
	ck_assert(WIFSIGNALED(r[1].res.wstatus));
	ck_assert_int_eq(WTERMSIG(r[1].res.wstatus), SIGHUP);
}
END_TEST

/* redjob lock's COMMAND gets SIGTERM, so that it may clean up. */
START_TEST(test_parent_death_signal_is_the_chosen_one)
{
	kill_worker_and_its_handler(SIGTERM, SIGTERM);
}
END_TEST

/* ---------------------------------------------------------------------
 * The terminal's foreground group, under a real pseudo-terminal. A
 * "shell" process leads a session whose controlling terminal is the
 * pty, starts the "job" (the launcher's caller) in a group of its own,
 * gives it the terminal or not, and does what a shell does when its job
 * stops: notes it and continues it with the terminal ("fg").
 */

/* Who else is in the job's process group. */
enum pty_layout {
	PTY_ALONE,	/* nobody: "redjob lock ..." typed at a prompt */
	PTY_PIPELINE,	/* a sibling: "redjob lock ... | less" */
	PTY_SCRIPT,	/* its parent, waiting: a script run at a prompt */
};

/* What the job reports when its command has ended. */
struct pty_report {
	int		started;
	int		done;
	int		outcome;
	int		status;
	int		wstatus;
	pid_t		job_pgrp;
	pid_t		tty_pgrp;	/* the terminal's, after the command */
	int		ttou_default;	/* SIGTTOU's disposition restored */
};

struct pty {
	int		master;
	struct proc	*shell;
	pid_t		shell_pid;
	int		report;		/* read end: a struct pty_report */
	int		notes;		/* read end: a byte per job stop */
	int		master_open;
};

static struct event_base *pty_base;

/* The job's completion callback. */
static void
pty_cb(const struct handler_result *res, void *arg)
{
	struct pty_report *rep = arg;

	event_base_loopbreak(pty_base);
	rep->done = 1;
	rep->outcome = (int)res->outcome;
	rep->status = res->status;
	rep->wstatus = res->wstatus;
}

/* The job's deadline. */
static void
pty_deadline_cb(int fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

/* The job: run argv in the foreground if it can, report, exit. */
__dead static void
pty_job(char *const *argv, int report_fd)
{
	struct handler_exec_spec spec;
	struct pty_report rep;
	struct event_base *jb;
	struct event *deadline;
	struct timeval tv = {20, 0};
	struct sigaction sa;

	memset(&rep, 0, sizeof rep);
	if ((jb = event_base_new()) == NULL || handler_exec_init(jb) == -1)
		_exit(20);
	pty_base = jb;
	deadline = evtimer_new(jb, pty_deadline_cb, jb);
	evtimer_add(deadline, &tv);
	memset(&spec, 0, sizeof spec);
	spec.argv = argv;
	spec.envp = default_env;
	spec.log_id = "tty";
	spec.inherit_stdio = 1;
	spec.foreground = 1;
	spec.keep_limits = 1;
	spec.quiet = 1;
	if (handler_exec_start(jb, &spec, pty_cb, &rep, NULL) != NULL) {
		rep.started = 1;
		event_base_dispatch(jb);
	}
	rep.job_pgrp = getpgrp();
	rep.tty_pgrp = tcgetpgrp(STDIN_FILENO);
	rep.ttou_default = sigaction(SIGTTOU, NULL, &sa) == 0 &&
	    sa.sa_handler == SIG_DFL;
	if (write(report_fd, &rep, sizeof rep) != sizeof rep)
		_exit(21);
	_exit(0);
}

/*
 * The shell (see above); fg: give the job the terminal. The job's group
 * is laid out as layout says.
 */
__dead static void
pty_shell(const char *slave, int fg, enum pty_layout layout,
    char *const *argv, int report_fd, int notes_fd)
{
	struct sigaction sa;
	int fd, sync[2], hold[2], st;
	pid_t job, sib = -1, child;
	char c = 0;

	/* The first terminal a session leader opens becomes its own. */
	if (setsid() == -1 || (fd = open(slave, O_RDWR)) == -1)
		_exit(30);
	if (dup2(fd, 0) == -1 || dup2(fd, 1) == -1 || dup2(fd, 2) == -1)
		_exit(30);
	if (fd > 2)
		close(fd);
	if (pipe(sync) == -1 || (job = fork()) == -1)
		_exit(31);
	if (job == 0) {
		close(sync[1]);
		close(notes_fd);
		if (setpgid(0, 0) == -1 || read(sync[0], &c, 1) != 1)
			_exit(32);
		close(sync[0]);
		if (layout != PTY_SCRIPT)
			pty_job(argv, report_fd);
		/* The script's shell: it waits for the job, in its group. */
		if ((child = fork()) == -1)
			_exit(39);
		if (child == 0)
			pty_job(argv, report_fd);
		close(report_fd);
		while (waitpid(child, &st, 0) == -1)
			if (errno != EINTR)
				_exit(40);
		_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 41);
	}
	close(sync[0]);
	close(report_fd);
	setpgid(job, job);
	/* The other end of a pipeline: it lives until the job has ended. */
	if (layout == PTY_PIPELINE) {
		if (pipe(hold) == -1 || (sib = fork()) == -1)
			_exit(42);
		if (sib == 0) {
			close(hold[1]);
			close(sync[1]);
			close(notes_fd);
			if (setpgid(0, job) == -1)
				_exit(43);
			_exit(read(hold[0], &c, 1) == 0 ? 0 : 44);
		}
		close(hold[0]);
		setpgid(sib, job);
	}
	/* A shell ignores SIGTTOU: it takes the terminal from background. */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGTTOU, &sa, NULL);
	if (fg && tcsetpgrp(0, job) == -1)
		_exit(33);
	if (write(sync[1], "x", 1) != 1)
		_exit(34);
	for (;;) {
		if (waitpid(job, &st, WUNTRACED) == -1) {
			if (errno == EINTR)
				continue;
			_exit(35);
		}
		if (!WIFSTOPPED(st))
			break;
		/* 'S': it had taken the terminal back before stopping. */
		c = tcgetpgrp(0) == job ? 'S' : 's';
		if (write(notes_fd, &c, 1) != 1)
			_exit(36);
		tcsetpgrp(0, job);
		kill(-job, SIGCONT);
	}
	if (sib != -1) {
		close(hold[1]);
		while (waitpid(sib, NULL, 0) == -1 && errno == EINTR)
			;
	}
	_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 37);
}

/* What pty_shell_fn() is given. */
struct pty_shell_args {
	const char	*slave;
	int		 fg;
	enum pty_layout	 layout;
	char *const	*argv;
	int		 report_fd;	/* the write ends */
	int		 notes_fd;
	int		 test_fds[3];	/* the test's ends, closed */
};

/*
 * The shell, a forked child of proc. Its own job control is done with
 * fork, setsid, setpgid and tcsetpgrp in pty_shell(), which is what it
 * tests and what proc does not do.
 */
static int
pty_shell_fn(void *arg)
{
	const struct pty_shell_args *a = arg;
	size_t i;

	for (i = 0; i < nitems(a->test_fds); i++)
		close(a->test_fds[i]);
	pty_shell(a->slave, a->fg, a->layout, a->argv, a->report_fd,
	    a->notes_fd);
}

/* Open a pty and start the shell and its job running argv. */
static void
pty_start(struct pty *t, char *const *argv, int fg, enum pty_layout layout)
{
	struct pty_shell_args a;
	int rep[2], notes[2];
	char *slave;

	memset(t, 0, sizeof *t);
	t->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	ck_assert_msg(t->master >= 0, "posix_openpt: %s", strerror(errno));
	ck_assert_int_eq(grantpt(t->master), 0);
	ck_assert_int_eq(unlockpt(t->master), 0);
	ck_assert_ptr_nonnull(slave = ptsname(t->master));
	t->master_open = 1;
	ck_assert_int_eq(pipe2(rep, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(notes, O_CLOEXEC), 0);
	a.slave = slave;
	a.fg = fg;
	a.layout = layout;
	a.argv = argv;
	a.report_fd = rep[1];
	a.notes_fd = notes[1];
	a.test_fds[0] = t->master;
	a.test_fds[1] = rep[0];
	a.test_fds[2] = notes[0];
	t->shell = must_spawn(&(struct proc_spec){ .fn = pty_shell_fn,
	    .arg = &a, .name = "shell" });
	t->shell_pid = t->shell->pid;
	close(rep[1]);
	close(notes[1]);
	t->report = rep[0];
	t->notes = notes[0];
}

/*
 * Read len bytes from fd within ms, draining what the terminal shows
 * meanwhile (an echo must not fill it). Returns the bytes read.
 */
static size_t
pty_read(struct pty *t, int fd, void *buf, size_t len, uint64_t ms)
{
	uint64_t deadline = testlib_now_ms() + ms;
	struct pollfd pfd[2];
	char junk[4096];
	size_t got = 0;
	ssize_t n;
	int left;

	while (got < len && testlib_now_ms() < deadline) {
		left = (int)(deadline - testlib_now_ms());
		pfd[0].fd = fd;
		pfd[0].events = POLLIN;
		pfd[1].fd = t->master_open ? t->master : -1;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, left > 0 ? left : 0) <= 0)
			continue;
		if (pfd[1].revents != 0 &&
		    read(t->master, junk, sizeof junk) <= 0)
			t->master_open = 0;
		if (pfd[0].revents != 0) {
			n = read(fd, (char *)buf + got, len - got);
			if (n <= 0)
				break;
			got += (size_t)n;
		}
	}
	return got;
}

/* Read what the terminal shows now, if anything. */
static void
pty_drain(struct pty *t)
{
	struct pollfd pfd;
	char junk[4096];

	pfd.fd = t->master;
	pfd.events = POLLIN;
	while (t->master_open && poll(&pfd, 1, 0) > 0) {
		if (read(t->master, junk, sizeof junk) <= 0)
			t->master_open = 0;
	}
}

/* Read the job's report and wait for the shell to exit 0. */
static void
pty_finish(struct pty *t, struct pty_report *rep)
{
	size_t got;
	int st;

	got = pty_read(t, t->report, rep, sizeof *rep, 20000);
	st = must_wait(t->shell, 10000);
	ck_assert_msg(got == sizeof *rep, "no report from the job (shell "
	    "status %d)", st);
	ck_assert_int_eq(st, 0);
	proc_free(t->shell);
	t->shell = NULL;
	close(t->report);
	close(t->notes);
	close(t->master);
}

/* State, process group and terminal group of pid from /proc; 0 if gone. */
static int
pid_stat(pid_t pid, char *state, long *pgrp, long *tpgid)
{
	char path[64], *s, *p;
	int ok;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((s = testlib_read_file(path, NULL)) == NULL)
		return 0;
	ok = (p = strrchr(s, ')')) != NULL &&
	    sscanf(p + 1, " %c %*d %ld %*d %*d %ld", state, pgrp, tpgid) == 3;
	free(s);
	return ok;
}

/* The two numbers "PGRP TPGID" a command wrote in file; 0 if not yet. */
static int
read_groups(const char *file, long *pgrp, long *tpgid)
{
	char *s;
	int ok;

	if ((s = testlib_read_file(file, NULL)) == NULL)
		return 0;
	ok = sscanf(s, "%ld %ld", pgrp, tpgid) == 2;
	free(s);
	return ok;
}

/* Its own group and the terminal's, as the command sees them. */
#define GROUPS_SCRIPT "cut -d' ' -f5,8 /proc/$$/stat > \"$1\""

/*
 * Run a command that records its group and the terminal's under a pty
 * laid out as layout, in the foreground if fg; it must exit 0. Fills
 * rep, t, *pgrp and *tpgid.
 */
static void
run_groups(int fg, enum pty_layout layout, struct pty *t,
    struct pty_report *rep, long *pgrp, long *tpgid)
{
	char *out = tmppath("groups");
	struct args a;

	unlink(out);
	mkargs(&a, "/bin/sh", "-c", GROUPS_SCRIPT, "sh", out, NULL);
	pty_start(t, a.v, fg, layout);
	pty_finish(t, rep);
	freeargs(&a);
	ck_assert(rep->started && rep->done);
	ck_assert_int_eq(rep->outcome, HANDLER_EXITED);
	ck_assert_int_eq(rep->status, 0);
	ck_assert_msg(read_groups(out, pgrp, tpgid), "no %s", out);
	free(out);
}

START_TEST(test_foreground_command_holds_the_terminal_then_gives_it_back)
{
	static const enum pty_layout layouts[] = {PTY_ALONE, PTY_SCRIPT};
	struct pty_report rep;
	struct pty t;
	struct args a;
	long pgrp, tpgid;
	size_t i;

	for (i = 0; i < nitems(layouts); i++) {
		run_groups(1, layouts[i], &t, &rep, &pgrp, &tpgid);
		ck_assert_msg(pgrp == tpgid, "layout %zu: group %ld, "
		    "terminal's %ld", i, pgrp, tpgid);
		ck_assert_msg(pgrp != rep.job_pgrp, "not a group of its own");
		/* Back to the caller's group, and SIGTTOU as it was. */
		ck_assert_int_eq(rep.tty_pgrp, rep.job_pgrp);
		ck_assert(rep.ttou_default);
	}

	/* A command that cannot run gives it back too. */
	mkargs(&a, "/nonexistent/cmd", NULL);
	pty_start(&t, a.v, 1, PTY_ALONE);
	pty_finish(&t, &rep);
	freeargs(&a);
	ck_assert_int_eq(rep.outcome, HANDLER_EXEC_FAILED);
	ck_assert_int_eq(rep.status, ENOENT);
	ck_assert(WIFEXITED(rep.wstatus) && WEXITSTATUS(rep.wstatus) == 127);
	ck_assert_int_eq(rep.tty_pgrp, rep.job_pgrp);
	ck_assert(rep.ttou_default);
}
END_TEST

START_TEST(test_background_caller_does_not_take_the_terminal)
{
	struct pty_report rep;
	struct pty t;
	long pgrp, tpgid;

	run_groups(0, PTY_ALONE, &t, &rep, &pgrp, &tpgid);
	/* The shell's group keeps it (the shell leads its session). */
	ck_assert_int_eq(tpgid, (long)t.shell_pid);
	ck_assert_int_ne(pgrp, tpgid);
	ck_assert_int_eq(rep.tty_pgrp, t.shell_pid);
	ck_assert(rep.ttou_default);
}
END_TEST

/*
 * The caller holds the terminal, but so does another process of its
 * group, which may read it: the command stays in the background.
 */
START_TEST(test_pipeline_caller_leaves_the_terminal_to_its_group)
{
	struct pty_report rep;
	struct pty t;
	long pgrp, tpgid;

	run_groups(1, PTY_PIPELINE, &t, &rep, &pgrp, &tpgid);
	ck_assert_int_eq(tpgid, (long)rep.job_pgrp);
	ck_assert_int_ne(pgrp, tpgid);
	ck_assert_int_eq(rep.tty_pgrp, rep.job_pgrp);
}
END_TEST

/* ^Z and "fg" with the job's group laid out as layout says. */
static void
ctrl_z_and_fg(enum pty_layout layout)
{
	struct pty_report rep;
	struct pty t;
	struct args a;
	char *pidfile = tmppath("cmd.pid"), *out, *got, note = 0, state;
	uint64_t deadline;
	long pgrp, tpgid;
	pid_t cmd = 0;

	unlink(pidfile);
	xasprintf(&out, "%s.out", pidfile);
	unlink(out);
	mkargs(&a, "/bin/sh", "-c",
	    "echo $$ > \"$1\"; read line; echo \"got $line\" > \"$1.out\"",
	    "sh", pidfile, NULL);
	pty_start(&t, a.v, 1, layout);
	freeargs(&a);

	/* The command is reading the terminal as its foreground group. */
	deadline = testlib_now_ms() + 10000;
	for (;;) {
		if (cmd == 0)
			cmd = read_pidfile(pidfile);
		if (cmd != 0 && pid_stat(cmd, &state, &pgrp, &tpgid) &&
		    tpgid == cmd && state == 'S')
			break;
		ck_assert_msg(testlib_now_ms() < deadline, "command %ld not "
		    "reading in the foreground", (long)cmd);
		pty_drain(&t);
		usleep(10000);
	}
	ck_assert_int_eq(write(t.master, "\032", 1), 1);
	ck_assert_msg(pty_read(&t, t.notes, &note, 1, 10000) == 1,
	    "the shell did not see its job stop");
	ck_assert_msg(note == 'S', "the job stopped without the terminal");

	/* After "fg": running again, holding the terminal. */
	deadline = testlib_now_ms() + 10000;
	state = '?';
	tpgid = 0;
	while (!(pid_stat(cmd, &state, &pgrp, &tpgid) && state != 'T' &&
	    tpgid == cmd)) {
		ck_assert_msg(testlib_now_ms() < deadline, "command %ld "
		    "state %c, terminal's group %ld", (long)cmd, state, tpgid);
		usleep(10000);
	}
	ck_assert_int_eq(write(t.master, "hello\n", 6), 6);
	pty_finish(&t, &rep);
	ck_assert_int_eq(rep.outcome, HANDLER_EXITED);
	ck_assert_int_eq(rep.status, 0);
	ck_assert_int_eq(rep.tty_pgrp, rep.job_pgrp);
	got = testlib_read_file(out, NULL);
	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got, "got hello\n");
	free(got);
	free(out);
	free(pidfile);
}

/*
 * ^Z stops the command (the terminal signals its group only); the caller
 * then takes the terminal back and stops too, so that its shell sees a
 * stopped job, and "fg" gives the terminal back to the command and
 * continues it, which then reads a line typed after.
 */
START_TEST(test_ctrl_z_stops_the_job_and_fg_resumes_the_command)
{
	static const enum pty_layout layouts[] = {PTY_ALONE, PTY_SCRIPT};
	size_t i;

	for (i = 0; i < nitems(layouts); i++)
		ctrl_z_and_fg(layouts[i]);
}
END_TEST

/* Only a temporary directory: these tests start launchers of their own. */
static void
setup_tmp(void)
{
	tmpdir = testlib_tmpdir("handler");
}

static void
teardown_tmp(void)
{
	testlib_rmtree(tmpdir);
	free(tmpdir);
	tmpdir = NULL;
}

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
	tcase_add_test(tc, test_output_flood_is_rate_limited_with_a_count);
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

	tc = tcase_create("command");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_open_descriptors_and_ignored_signals_are_listed);
	tcase_add_test(tc, test_kept_descriptors_stay_open_and_others_close);
	tcase_add_test(tc, test_path_search_runs_as_execvp_does);
	tcase_add_test(tc, test_inherited_stdio_reaches_the_command_unlogged);
	tcase_add_test(tc, test_signal_mask_and_ignored_signals_are_given);
	tcase_add_test(tc, test_kill_forwards_a_signal_without_stopping);
	tcase_add_test(tc, test_wait_status_is_in_the_result);
	suite_add_tcase(s, tc);

	tc = tcase_create("command_process");
	tcase_add_checked_fixture(tc, setup_tmp, teardown_tmp);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_kept_descriptor_3_is_not_the_status_pipe);
	tcase_add_test(tc, test_parent_death_signal_is_the_chosen_one);
	suite_add_tcase(s, tc);

	tc = tcase_create("terminal");
	tcase_add_checked_fixture(tc, setup_tmp, teardown_tmp);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc,
	    test_foreground_command_holds_the_terminal_then_gives_it_back);
	tcase_add_test(tc, test_background_caller_does_not_take_the_terminal);
	tcase_add_test(tc,
	    test_pipeline_caller_leaves_the_terminal_to_its_group);
	tcase_add_test(tc,
	    test_ctrl_z_stops_the_job_and_fg_resumes_the_command);
	suite_add_tcase(s, tc);
	return s;
}
