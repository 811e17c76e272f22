/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * "redjob lock" and "redjob throttle" as users run them: the built
 * src/redjob, started with pipes on its stdin and outputs, against a real
 * redis-server. Contending runs are real concurrent processes, a lost
 * lock is a key really deleted (or a server really killed) while the
 * command runs, and the assertions are on what a script sees (output,
 * exit status) and on what Redis holds.
 */
#include "autoconf.h"

#include <sys/prctl.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

#include "config.h"
#include "guard.h"
#include "template.h"
#include "proc.h"
#include "redis_fixture.h"
#include "testlib.h"

#define DEADLINE_MS 60000
#define MAX_ARGS 64

/* The configuration with the limiters, in the server's directory. */
static char cfg_path[4200];

/*
 * How the tests run a program: its outputs collected, its stdin open
 * until proc_close_stdin() (so that "read x" in a command waits), no
 * REDJOB_URL. keep_fd, if above 2, is passed on as a caller's shell would.
 */
static void
guards_spec(struct proc_spec *spec, int keep_fd)
{
	static char *env[] = { (char *)"REDJOB_URL", NULL };

	memset(spec, 0, sizeof *spec);
	spec->in_keep = 1;
	spec->out = spec->err = PROC_IO_CAPTURE;
	spec->env = env;
	spec->keep_fd = keep_fd;
}

/* Start argv[0] with argv. */
static struct proc *
start_argv(char *const *argv, int keep_fd)
{
	struct proc_spec spec;

	guards_spec(&spec, keep_fd);
	spec.argv = argv;
	return must_spawn(&spec);
}

/* Close the stdin of n processes and wait for their end. */
static void
finish_all(struct proc **ps, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		proc_close_stdin(ps[i]);
	ck_assert_msg(proc_wait_all(ps, n, DEADLINE_MS) == 0, "processes "
	    "still running after %d ms", DEADLINE_MS);
}

/* The same for one; returns its status. */
static int
finish(struct proc *p)
{
	finish_all(&p, 1);
	return p->status;
}

/* Wait for p's end (see finish) and return it. */
static struct proc *
ended(struct proc *p)
{
	finish(p);
	return p;
}

/* Start argv (see start_argv) and wait for its end, stdin empty. */
static struct proc *
run_argv(char *const *argv)
{
	return ended(start_argv(argv, -1));
}

/* Start "redjob -u URL ARG..." (url NULL: the fixture's server). */
static struct proc *
redjob_start(const char *url, ...)
{
	struct proc_spec spec;
	struct proc *p;
	va_list ap;

	guards_spec(&spec, -1);
	va_start(ap, url);
	p = must_redjob_vspawn(&spec, url != NULL ? url : rf.url, ap);
	va_end(ap);
	return p;
}

/* Run "redjob -u URL ARG..." to its end; stdin is empty. */
#define redjob_run(...) ended(redjob_start(__VA_ARGS__))

/* Does s match the extended regular expression re? */
static int
matches(const char *s, const char *re)
{
	regex_t rx;
	int rc;

	ck_assert_int_eq(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB), 0);
	rc = regexec(&rx, s, 0, NULL, 0) == 0;
	regfree(&rx);
	return rc;
}

#define assert_status(p, want) ck_assert_msg((p)->status == (want),     \
	"exit %d, not %d; stdout \"%s\", stderr \"%s\"", (p)->status,   \
	(want), (p)->out, (p)->err)

/* A string reply, or "" for nil; static buffer. */
static const char *
redis_str(const char *fmt, const char *arg)
{
	static char out[1024];
	redisReply *r;

	r = must_command(rf.c, fmt, arg);
	ck_assert_msg(r->type == REDIS_REPLY_STRING ||
	    r->type == REDIS_REPLY_NIL, "%s: neither a string nor nil", fmt);
	if (r->type == REDIS_REPLY_STRING)
		snprintf(out, sizeof out, "%s", r->str);
	else
		out[0] = '\0';
	freeReplyObject(r);
	return out;
}

/* The lock key the daemon uses for a name, "redjob:lock:{NAME}". */
static const char *
lock_key(const char *name)
{
	static char key[512];

	snprintf(key, sizeof key, "redjob:lock:{%s}", name);
	return key;
}

/* Does the lock called name exist in Redis (1 or 0)? */
static long long
lock_exists(const char *name)
{
	return must_int(rf.c, "EXISTS %s", lock_key(name));
}

/* ---------------------------------------------------------------------
 * redjob lock
 */

/*
 * Start "redjob lock --ttl TTL NAME" over a shell that runs until SIGTERM,
 * then says "got-term" and exits 0; return once it has started.
 */
static struct proc *
start_term_trap(const char *ttl, const char *name)
{
	struct proc *p;

	p = redjob_start(NULL, "lock", "--ttl", ttl, name, "--", "/bin/sh",
	    "-c", "trap 'echo got-term; exit 0' TERM; echo started; "
	    "while :; do sleep 0.1; done", NULL);
	must_wait_output(p, "started\n", DEADLINE_MS);
	return p;
}

START_TEST(test_lock_contenders_do_not_overlap_and_all_succeed)
{
	struct proc *ps[3];
	char log[4200], script[8600], *lines[6], *save = NULL, *buf;
	char fence[3][64];
	unsigned long long prev = 0, f;
	size_t i;
	FILE *fp;
	long len;

	snprintf(log, sizeof log, "%s/contend.log", rf.dir);
	unlink(log);
	/* Each "shell" records its start and end with its fence. */
	snprintf(script, sizeof script, "echo \"start $REDJOB_FENCE\" >> %s; "
	    "sleep 0.3; echo \"end $REDJOB_FENCE\" >> %s", log, log);
	for (i = 0; i < 3; i++) {
		ps[i] = redjob_start(NULL, "lock", "--wait", "10s", "shared",
		    "--", "/bin/sh", "-c", script, NULL);
	}
	finish_all(ps, 3);
	for (i = 0; i < 3; i++) {
		assert_status(ps[i], 0);
		ck_assert_msg(ps[i]->errlen == 0, "stderr: %s", ps[i]->err);
	}

	fp = fopen(log, "r");
	ck_assert_ptr_nonnull(fp);
	fseek(fp, 0, SEEK_END);
	len = ftell(fp);
	rewind(fp);
	buf = calloc(1, (size_t)len + 1);
	ck_assert_int_eq(fread(buf, 1, (size_t)len, fp), (size_t)len);
	fclose(fp);
	/* start F, end F, three times: never two inside at once. */
	for (i = 0; i < 6; i++) {
		lines[i] = strtok_r(i == 0 ? buf : NULL, "\n", &save);
		ck_assert_msg(lines[i] != NULL, "log has %zu lines:\n%s", i,
		    buf);
	}
	ck_assert_ptr_null(strtok_r(NULL, "\n", &save));
	for (i = 0; i < 3; i++) {
		ck_assert_msg(sscanf(lines[2 * i], "start %63s", fence[i]) == 1,
		    "line %zu: %s", 2 * i, lines[2 * i]);
		ck_assert_msg(strncmp(lines[2 * i + 1], "end ", 4) == 0 &&
		    strcmp(lines[2 * i + 1] + 4, fence[i]) == 0,
		    "runs overlap: \"%s\" then \"%s\"", lines[2 * i],
		    lines[2 * i + 1]);
		/* REDJOB_FENCE is set and grows from holder to holder. */
		f = strtoull(fence[i], NULL, 10);
		ck_assert_msg(f > prev, "fence %llu after %llu", f, prev);
		prev = f;
	}
	free(buf);
	ck_assert_int_eq(lock_exists("shared"), 0);
	for (i = 0; i < 3; i++)
		proc_free(ps[i]);
}
END_TEST

START_TEST(test_lock_held_elsewhere_exits_75_and_does_not_run)
{
	struct proc *holder, *other;
	uint64_t t0;

	holder = redjob_start(NULL, "lock", "busy", "--", "/bin/sh", "-c",
	    "echo started; read x || :", NULL);
	must_wait_output(holder, "started\n", DEADLINE_MS);
	ck_assert_int_eq(lock_exists("busy"), 1);

	other = redjob_run(NULL, "lock", "--wait", "0", "busy", "--",
	    "/bin/echo", "ran", NULL);
	assert_status(other, 75);
	ck_assert_msg(matches(other->err, "^redjob: lock busy is held by "
	    "another \\(expires in [0-9]+ ms\\)\n$"), "stderr: %s", other->err);
	ck_assert_str_eq(other->out, "");
	proc_free(other);

	/* With --wait it keeps trying for that long, then gives up. */
	t0 = testlib_now_ms();
	other = redjob_run(NULL, "lock", "--wait", "400ms", "busy", "--",
	    "/bin/echo", "ran", NULL);
	assert_status(other, 75);
	ck_assert_msg(testlib_now_ms() - t0 >= 400, "gave up after %llu ms",
	    (unsigned long long)(testlib_now_ms() - t0));
	ck_assert_str_eq(other->out, "");
	proc_free(other);

	/* A waiter gets it as soon as the holder is done. */
	other = redjob_start(NULL, "lock", "--wait", "20s", "busy", "--",
	    "/bin/echo", "waited", NULL);
	proc_pump(&other, 1, 300);
	ck_assert_str_eq(other->out, "");
	proc_close_stdin(holder);
	ck_assert_int_eq(finish(holder), 0);
	ck_assert_int_eq(finish(other), 0);
	ck_assert_str_eq(other->out, "waited\n");
	ck_assert_int_eq(lock_exists("busy"), 0);
	proc_free(holder);
	proc_free(other);
}
END_TEST

START_TEST(test_lock_passes_the_command_status_through)
{
	static const struct {
		const char	*script;
		int		 status;
	} cases[] = {
		{ "exit 0", 0 },
		{ "exit 3", 3 },
		{ "exit 75", 75 },
		{ "kill -TERM $$", 128 + SIGTERM },
		{ "kill -KILL $$", 128 + SIGKILL },
	};
	struct proc *p;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		p = redjob_run(NULL, "lock", "st", "--", "/bin/sh", "-c",
		    cases[i].script, NULL);
		assert_status(p, cases[i].status);
		ck_assert_msg(p->errlen == 0, "%s: stderr %s", cases[i].script,
		    p->err);
		/* Released, whatever the status. */
		ck_assert_int_eq(lock_exists("st"), 0);
		proc_free(p);
	}
}
END_TEST

START_TEST(test_lock_command_that_cannot_run)
{
	struct proc *p;

	p = redjob_run(NULL, "lock", "nx", "--", "/nonexistent/cmd", NULL);
	assert_status(p, 127);
	ck_assert_str_eq(p->err, "redjob: cannot run /nonexistent/cmd: No such "
	    "file or directory\n");
	proc_free(p);
	/* PATH is searched: a user command, as with flock(1). */
	p = redjob_run(NULL, "lock", "nx", "--", "no-such-command-here", NULL);
	assert_status(p, 127);
	proc_free(p);
	p = redjob_run(NULL, "lock", "nx", "--", "/dev/null", NULL);
	assert_status(p, 126);
	ck_assert_msg(strstr(p->err, "Permission denied") != NULL, "%s",
	    p->err);
	proc_free(p);
	p = redjob_run(NULL, "lock", "nx", "--", "echo", "from", "PATH", NULL);
	assert_status(p, 0);
	ck_assert_str_eq(p->out, "from PATH\n");
	proc_free(p);
	ck_assert_int_eq(lock_exists("nx"), 0);
}
END_TEST

START_TEST(test_lock_environment_has_a_growing_fence)
{
	unsigned long long f[2];
	char name[2][128];
	struct proc *p;
	int i;

	for (i = 0; i < 2; i++) {
		p = redjob_run(NULL, "lock", "env", "--", "/bin/sh", "-c",
		    "echo \"$REDJOB_FENCE $REDJOB_LOCK\"", NULL);
		assert_status(p, 0);
		ck_assert_msg(sscanf(p->out, "%llu %127s", &f[i], name[i]) == 2,
		    "%s", p->out);
		ck_assert_str_eq(name[i], "env");
		/* The fence the function granted, kept in NAME's counter. */
		ck_assert_uint_eq(strtoull(redis_str("GET %s",
		    "redjob:lock:{env}:fence"), NULL, 10), f[i]);
		proc_free(p);
	}
	ck_assert_msg(f[1] > f[0], "fence %llu after %llu", f[1], f[0]);
}
END_TEST

START_TEST(test_lock_deleted_key_stops_the_command_as_lost)
{
	struct proc *p;

	/* The command's own status would be 0: it must not be reported. */
	p = start_term_trap("1s", "gone");
	ck_assert_int_eq(must_int(rf.c, "DEL %s", lock_key("gone")), 1);
	finish(p);
	assert_status(p, 69);
	ck_assert_msg(strstr(p->out, "got-term\n") != NULL, "stdout: %s",
	    p->out);
	ck_assert_msg(strstr(p->err, "redjob: lock gone lost while /bin/sh "
	    "ran; stopping it\n") != NULL, "stderr: %s", p->err);
	ck_assert_int_eq(lock_exists("gone"), 0);
	proc_free(p);
}
END_TEST

START_TEST(test_lock_lost_command_that_ignores_term_is_killed)
{
	struct proc *p;
	uint64_t t0;
	long pgid;
	int st;

	/* Orphans of the command come to us, so their end can be seen. */
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	p = redjob_start(NULL, "lock", "--ttl", "1s", "stubborn", "--",
	    "/bin/sh", "-c", "trap '' TERM; echo \"started $$\"; "
	    "while :; do sleep 0.1; done", NULL);
	must_wait_output(p, "\n", DEADLINE_MS);
	ck_assert_int_eq(sscanf(p->out, "started %ld", &pgid), 1);
	t0 = testlib_now_ms();
	ck_assert_int_eq(must_int(rf.c, "DEL %s", lock_key("stubborn")), 1);
	finish(p);
	assert_status(p, 69);
	/* SIGTERM did nothing; SIGKILL came after the 5 s grace. */
	ck_assert_msg(testlib_now_ms() - t0 >= 4500, "ended after %llu ms",
	    (unsigned long long)(testlib_now_ms() - t0));
	/* Nothing of its process group is left running (ESRCH). */
	ck_assert_msg(proc_wait_gone((pid_t)-pgid, &st, 10000) == 0,
	    "group %ld lives", pgid);
	proc_free(p);
}
END_TEST

/*
 * Redis stops answering while a command that ignores SIGTERM holds the
 * lock: redjob counts the lock lost by its own clock and kills the
 * command's group before the lock can expire in Redis (the TTL from the
 * last renewal that succeeded, which was sent before Redis stopped), not
 * a kill grace later.
 */
START_TEST(test_lock_unreachable_redis_kills_the_command_before_the_ttl)
{
	struct proc *p;
	long long gone;
	long pgid;

	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	p = redjob_start(NULL, "lock", "--ttl", "4s", "cutoff", "--",
	    "/bin/sh", "-c", "trap '' TERM; echo \"started $$\"; "
	    "while :; do sleep 0.1; done", NULL);
	must_wait_output(p, "\n", DEADLINE_MS);
	ck_assert_int_eq(sscanf(p->out, "started %ld", &pgid), 1);
	gone = redis_fixture_paused_until_gone((pid_t)pgid, 15000);
	ck_assert_msg(gone >= 0, "group %ld lives", pgid);
	ck_assert_msg(gone < 4000, "gone %lld ms after redis stopped, "
	    "when the lock could already be another's", gone);
	finish(p);
	assert_status(p, 69);
	ck_assert_msg(strstr(p->err, "not renewed within its TTL") != NULL,
	    "stderr: %s", p->err);
	proc_free(p);
}
END_TEST

START_TEST(test_lock_long_command_keeps_the_lock)
{
	struct proc *holder, *other;
	uint64_t t0;
	long long pttl;
	int tries = 0;

	holder = redjob_start(NULL, "lock", "--ttl", "1s", "long", "--",
	    "/bin/sh", "-c", "echo started; read x || :", NULL);
	must_wait_output(holder, "started\n", DEADLINE_MS);
	t0 = testlib_now_ms();
	/* More than three TTLs: only renewals can keep it this long. */
	while (testlib_now_ms() - t0 < 3500) {
		pttl = must_int(rf.c, "PTTL %s", lock_key("long"));
		ck_assert_msg(pttl > 0 && pttl <= 1000, "PTTL %lld", pttl);
		other = redjob_run(NULL, "lock", "--wait", "0", "long", "--",
		    "/bin/true", NULL);
		assert_status(other, 75);
		proc_free(other);
		tries++;
		/* Pace the checks; the holder must stay quiet meanwhile. */
		proc_pump(&holder, 1, 250);
		ck_assert_msg(holder->errlen == 0 && holder->err_open,
		    "holder: %s", holder->err);
	}
	ck_assert_int_ge(tries, 3);
	proc_close_stdin(holder);
	ck_assert_int_eq(finish(holder), 0);
	ck_assert_str_eq(holder->err, "");
	ck_assert_int_eq(lock_exists("long"), 0);
	proc_free(holder);
}
END_TEST

START_TEST(test_lock_forwards_signals_to_the_command)
{
	static const struct {
		int		 sig;
		const char	*name;
	} sigs[] = {
		{ SIGTERM, "TERM" },
		{ SIGINT, "INT" },
		{ SIGHUP, "HUP" },
	};
	char script[256];
	struct proc *p;
	size_t i;

	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		snprintf(script, sizeof script, "trap 'echo got-%s; exit 7' "
		    "%s; echo started; while :; do sleep 0.1; done",
		    sigs[i].name, sigs[i].name);
		p = redjob_start(NULL, "lock", "fwd", "--", "/bin/sh", "-c",
		    script, NULL);
		must_wait_output(p, "started\n", DEADLINE_MS);
		ck_assert_int_eq(proc_signal(p, sigs[i].sig), 0);
		finish(p);
		assert_status(p, 7);
		ck_assert_msg(strstr(p->out, "got-") != NULL &&
		    strstr(p->out, sigs[i].name) != NULL, "%s: %s",
		    sigs[i].name, p->out);
		/* The shell may report its killed sleep; redjob is quiet. */
		ck_assert_msg(strstr(p->err, "redjob") == NULL, "%s", p->err);
		ck_assert_int_eq(lock_exists("fwd"), 0);
		proc_free(p);
	}

	/*
	 * A command killed by the forwarded SIGINT: redjob releases the
	 * lock, then dies of SIGINT too, so a calling shell stops its
	 * script as it would for the command itself.
	 */
	p = redjob_start(NULL, "lock", "fwd", "--", "/bin/sh", "-c",
	    "echo started; while :; do sleep 0.1; done", NULL);
	must_wait_output(p, "started\n", DEADLINE_MS);
	ck_assert_int_eq(proc_signal(p, SIGINT), 0);
	finish(p);
	ck_assert_msg(p->signaled && p->status == 128 + SIGINT, "status %d, "
	    "signaled %d", p->status, p->signaled);
	ck_assert_int_eq(lock_exists("fwd"), 0);
	proc_free(p);
}
END_TEST

START_TEST(test_lock_interrupted_wait_runs_nothing)
{
	struct proc *holder, *waiter;

	holder = redjob_start(NULL, "lock", "iw", "--", "/bin/sh", "-c",
	    "echo started; read x || :", NULL);
	must_wait_output(holder, "started\n", DEADLINE_MS);
	waiter = redjob_start(NULL, "lock", "--wait", "30s", "iw", "--",
	    "/bin/echo", "ran", NULL);
	/* It is polling: no answer yet. */
	proc_pump(&waiter, 1, 300);
	ck_assert_int_eq(proc_signal(waiter, SIGTERM), 0);
	finish(waiter);
	ck_assert_msg(waiter->signaled && waiter->status == 128 + SIGTERM,
	    "status %d, signaled %d", waiter->status, waiter->signaled);
	ck_assert_str_eq(waiter->out, "");
	ck_assert_str_eq(waiter->err, "");
	proc_close_stdin(holder);
	ck_assert_int_eq(finish(holder), 0);
	proc_free(holder);
	proc_free(waiter);
}
END_TEST

START_TEST(test_lock_redis_down_exits_1)
{
	char url[4200];
	struct proc *p;

	snprintf(url, sizeof url, "unix://%s/nosuch.sock", rf.dir);
	p = redjob_run(url, "lock", "x", "--", "/bin/echo", "ran", NULL);
	assert_status(p, 1);
	ck_assert_msg(matches(p->err, "^redjob: cannot connect to redis at "
	    "[^\n]*nosuch.sock: No such file or directory\n$"), "%s", p->err);
	ck_assert_str_eq(p->out, "");
	proc_free(p);
}
END_TEST

START_TEST(test_lock_key_is_the_daemons_and_escaped)
{
	char tpl[] = "report:{key}";
	struct template_vars v = { "7", "report", "default", "default:1" };
	struct lock_conf lk;
	struct proc *p;
	char *key;

	/* The key redjobd takes for a job with lock key "report:{key}". */
	memset(&lk, 0, sizeof lk);
	lk.key = tpl;
	key = guard_lock_key("redjob", &lk, &v);
	p = redjob_start(NULL, "lock", "report:7", "--", "/bin/sh", "-c",
	    "echo started; read x || :", NULL);
	must_wait_output(p, "started\n", DEADLINE_MS);
	ck_assert_int_eq(must_int(rf.c, "EXISTS %s", key), 1);
	proc_close_stdin(p);
	ck_assert_int_eq(finish(p), 0);
	proc_free(p);
	free(key);

	/* A name cannot open or close the hash tag; the namespace applies. */
	p = redjob_start(NULL, "-n", "other", "lock", "a}{b%c", "--",
	    "/bin/sh", "-c", "echo \"started $REDJOB_LOCK\"; read x || :",
	    NULL);
	must_wait_output(p, "started a}{b%c\n", DEADLINE_MS);
	ck_assert_int_eq(must_int(rf.c, "EXISTS %s",
	    "other:lock:{a%7D%7Bb%25c}"), 1);
	proc_close_stdin(p);
	ck_assert_int_eq(finish(p), 0);
	proc_free(p);
}
END_TEST

START_TEST(test_lock_keeps_inherited_descriptors)
{
	struct proc *p;
	char *argv[16];
	int fd;

	/* flock(1) style: what the caller opened reaches COMMAND. */
	ck_assert_msg(fcntl(42, F_GETFD) == -1, "fd 42 is in use");
	fd = open("/dev/null", O_RDONLY);
	ck_assert_int_ge(fd, 3);
	ck_assert_int_eq(dup2(fd, 42), 42);
	close(fd);
	argv[0] = testlib_redjob();
	argv[1] = (char *)"-u";
	argv[2] = rf.url;
	argv[3] = (char *)"lock";
	argv[4] = (char *)"fds";
	argv[5] = (char *)"--";
	argv[6] = (char *)"/bin/sh";
	argv[7] = (char *)"-c";
	argv[8] = (char *)"ls /proc/self/fd | sort -n | tr '\\n' ' '";
	argv[9] = NULL;
	p = start_argv(argv, 42);
	close(42);
	finish(p);
	assert_status(p, 0);
	/* 0-2, ls's own directory and the inherited 42: no Redis socket. */
	ck_assert_msg(matches(p->out, "^0 1 2 3 42 $"), "fds: %s", p->out);
	proc_free(p);
}
END_TEST

START_TEST(test_lock_usage_errors)
{
	static const char *const cases[][8] = {
		{ "lock", NULL },
		{ "lock", "name", NULL },
		{ "lock", "name", "--", NULL },
		{ "lock", "", "--", "true", NULL },
		{ "lock", "name", "--ttl", "5s", "--", "true", NULL },
		{ "lock", "--ttl", "500ms", "name", "--", "true", NULL },
		{ "lock", "--ttl", "soon", "name", "--", "true", NULL },
		{ "lock", "--wait", "-1s", "name", "--", "true", NULL },
		{ "lock", "--bogus", "name", "--", "true", NULL },
	};
	char *argv[MAX_ARGS], url[4200];
	struct proc *p;
	size_t i, j;
	int n;

	/* Found before connecting: the server named does not exist. */
	snprintf(url, sizeof url, "unix://%s/nosuch.sock", rf.dir);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		n = 0;
		argv[n++] = testlib_redjob();
		argv[n++] = (char *)"-u";
		argv[n++] = url;
		for (j = 0; cases[i][j] != NULL; j++)
			argv[n++] = (char *)cases[i][j];
		argv[n] = NULL;
		p = run_argv(argv);
		ck_assert_msg(p->status == 2, "case %zu: exit %d: %s", i,
		    p->status, p->err);
		ck_assert_msg(matches(p->err, "^redjob: [^\n]+\nusage: redjob "
		    "lock "), "case %zu: %s", i, p->err);
		proc_free(p);
	}
	p = redjob_run(url, "lock", "--help", NULL);
	assert_status(p, 0);
	ck_assert_msg(strncmp(p->out, "usage: redjob lock ", 19) == 0 &&
	    strstr(p->out, "REDJOB_FENCE") != NULL, "%s", p->out);
	proc_free(p);
	p = redjob_run(url, "--help", NULL);
	ck_assert_msg(strstr(p->out, "\n  lock ") != NULL &&
	    strstr(p->out, "\n  throttle ") != NULL, "%s", p->out);
	proc_free(p);
}
END_TEST

START_TEST(test_lock_unreachable_redis_stops_the_command_as_lost)
{
	struct proc *p;

	p = start_term_trap("2s", "down");
	redis_fixture_kill(SIGKILL);
	finish(p);
	assert_status(p, 69);
	ck_assert_msg(strstr(p->out, "got-term\n") != NULL, "%s", p->out);
	ck_assert_msg(strstr(p->err, "redjob: lock down: not renewed within "
	    "its TTL") != NULL && strstr(p->err, "redjob: lock down lost "
	    "while /bin/sh ran; stopping it\n") != NULL, "%s", p->err);
	proc_free(p);
}
END_TEST

/* Run sh -c script as the caller of redjob, to its end. */
static struct proc *
sh_run(const char *script)
{
	char *argv[] = { (char *)"/bin/sh", (char *)"-c", (char *)script,
	    NULL };

	return run_argv(argv);
}

START_TEST(test_lock_keeps_descriptor_3_of_a_shell_redirect)
{
	char file[4200], script[9000];
	struct proc *p;
	FILE *fp;

	snprintf(file, sizeof file, "%s/fd3.txt", rf.dir);
	fp = fopen(file, "w");
	ck_assert_ptr_nonnull(fp);
	fputs("from fd 3\n", fp);
	ck_assert_int_eq(fclose(fp), 0);
	/* Where the launcher's own exec-status pipe goes without a list. */
	snprintf(script, sizeof script, "exec '%s' -u '%s' lock fd3 -- "
	    "sh -c 'cat <&3' 3<'%s'", testlib_redjob(), rf.url, file);
	p = sh_run(script);
	assert_status(p, 0);
	ck_assert_str_eq(p->out, "from fd 3\n");
	ck_assert_str_eq(p->err, "");
	proc_free(p);
}
END_TEST

START_TEST(test_lock_dies_only_of_the_forwarded_signals)
{
	static const struct {
		const char	*kill;		/* how the command dies */
		int		 sig;
		int		 dies;		/* redjob dies of it too */
	} cases[] = {
		{ NULL, SIGTERM, 1 },		/* forwarded by redjob */
		{ NULL, SIGHUP, 1 },
		{ "kill -TERM $$", SIGTERM, 1 },	/* its own doing */
		{ "kill -USR1 $$", SIGUSR1, 0 },
		{ "kill -KILL $$", SIGKILL, 0 },
	};
	char script[256];
	struct proc *p;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(script, sizeof script, "echo started; %s; "
		    "while :; do sleep 0.1; done", cases[i].kill != NULL ?
		    cases[i].kill : ":");
		p = redjob_start(NULL, "lock", "die", "--", "/bin/sh", "-c",
		    script, NULL);
		must_wait_output(p, "started\n", DEADLINE_MS);
		if (cases[i].kill == NULL)
			ck_assert_int_eq(proc_signal(p, cases[i].sig), 0);
		finish(p);
		ck_assert_msg(p->status == 128 + cases[i].sig &&
		    p->signaled == cases[i].dies, "case %zu: status %d, "
		    "signaled %d", i, p->status, p->signaled);
		ck_assert_int_eq(lock_exists("die"), 0);
		proc_free(p);
	}
}
END_TEST

/* The classic signals of a mask in /proc/PID/status ("name:\tHEX"). */
static unsigned long long
status_mask(const char *s, const char *name)
{
	const char *p = strstr(s, name);

	ck_assert_msg(p != NULL, "no %s in: %s", name, s);
	/* The C library keeps its own signals above 31. */
	return strtoull(p + strlen(name), NULL, 16) & 0x7fffffffULL;
}

START_TEST(test_lock_command_has_the_callers_signal_dispositions)
{
	char script[9000];
	struct proc *p;

	/*
	 * What its caller ignored (as nohup does), and no more: not the
	 * SIGPIPE that redjob ignores, nor the signals it blocks.
	 */
	snprintf(script, sizeof script, "trap '' USR1; exec '%s' -u '%s' "
	    "lock sigs -- grep -E '^Sig(Blk|Ign):' /proc/self/status",
	    testlib_redjob(), rf.url);
	p = sh_run(script);
	assert_status(p, 0);
	ck_assert_msg(status_mask(p->out, "SigBlk:") == 0, "%s", p->out);
	ck_assert_msg(status_mask(p->out, "SigIgn:") ==
	    1ULL << (SIGUSR1 - 1), "%s", p->out);
	proc_free(p);
}
END_TEST

START_TEST(test_lock_command_gets_sigterm_when_redjob_is_killed)
{
	struct proc *p;

	p = start_term_trap("60s", "pdeath");
	ck_assert_int_eq(proc_signal(p, SIGKILL), 0);
	/* The command holds the output until it has ended. */
	finish(p);
	ck_assert_msg(p->signaled && p->status == 128 + SIGKILL, "status %d",
	    p->status);
	ck_assert_msg(strstr(p->out, "got-term\n") != NULL, "stdout: %s",
	    p->out);
	/* Nobody released it: it expires after its TTL. */
	ck_assert_int_eq(lock_exists("pdeath"), 1);
	proc_free(p);
}
END_TEST

/* Read what the terminal shows now, so that its echo never fills. */
static void
pty_drain(int master)
{
	struct pollfd pfd = { master, POLLIN, 0 };
	char junk[4096];

	while (poll(&pfd, 1, 20) > 0 && read(master, junk, sizeof junk) > 0)
		;
}

/* What tty_redjob() runs. */
struct tty_run {
	const char	*slave;
	const char	*script;
};

/*
 * In a forked child: become the leader of a new session whose controlling
 * terminal is the pty slave, on stdin, stdout and stderr, as a shell in a
 * terminal emulator is, and exec "redjob lock tty -- sh -c SCRIPT".
 */
static int
tty_redjob(void *arg)
{
	const struct tty_run *t = arg;
	int fd;

	if (setsid() == -1 || (fd = open(t->slave, O_RDWR)) == -1)
		return 120;
	if (dup2(fd, 0) == -1 || dup2(fd, 1) == -1 || dup2(fd, 2) == -1)
		return 121;
	close_range(3, ~0U, 0);
	signal(SIGPIPE, SIG_DFL);
	execl(testlib_redjob(), "redjob", "-u", rf.url, "lock", "tty", "--",
	    "/bin/sh", "-c", t->script, (char *)NULL);
	return 122;
}

/*
 * From a terminal, COMMAND gets it: it runs in the terminal's foreground
 * group (its group and the terminal's are the same) and reads a line
 * typed there, where a background group would be stopped by SIGTTIN.
 */
START_TEST(test_lock_command_gets_the_terminal)
{
	char groups[4200], line[4200], script[9000];
	struct tty_run t;
	struct proc *p;
	long pgrp = 0, tpgid = -1;
	uint64_t deadline;
	char *s;
	int master;

	snprintf(groups, sizeof groups, "%s/groups", rf.dir);
	snprintf(line, sizeof line, "%s/line", rf.dir);
	unlink(groups);
	unlink(line);
	snprintf(script, sizeof script, "cut -d' ' -f5,8 /proc/$$/stat > "
	    "'%s'; read x; echo \"got $x\" > '%s'", groups, line);
	master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	ck_assert_int_ge(master, 0);
	ck_assert_int_eq(grantpt(master), 0);
	ck_assert_int_eq(unlockpt(master), 0);
	ck_assert_ptr_nonnull(t.slave = ptsname(master));
	t.script = script;
	p = must_spawn(&(struct proc_spec){ .fn = tty_redjob, .arg = &t,
	    .name = "redjob" });

	deadline = testlib_now_ms() + DEADLINE_MS;
	while ((s = testlib_read_file(groups, NULL)) == NULL ||
	    sscanf(s, "%ld %ld", &pgrp, &tpgid) != 2) {
		free(s);
		ck_assert_msg(testlib_now_ms() < deadline, "COMMAND did not "
		    "start");
		pty_drain(master);
	}
	free(s);
	ck_assert_msg(pgrp == tpgid, "group %ld, the terminal's %ld", pgrp,
	    tpgid);
	ck_assert_msg(pgrp != p->pid, "COMMAND is in redjob's group");
	ck_assert_int_eq(write(master, "typed\n", 6), 6);
	while (proc_wait(p, 20) != 0) {
		ck_assert_msg(testlib_now_ms() < deadline, "redjob still runs");
		pty_drain(master);
	}
	close(master);
	assert_status(p, 0);
	s = must_read_file(line, NULL);
	ck_assert_str_eq(s, "got typed\n");
	free(s);
	ck_assert_int_eq(lock_exists("tty"), 0);
	proc_free(p);
}
END_TEST

/* ---------------------------------------------------------------------
 * redjob throttle
 */

/* The fixture's server and a configuration whose limiters never refill
 * during a test (one unit per minute). */
static void
throttle_start(void)
{
	redis_start();
	redis_fixture_config(cfg_path, sizeof cfg_path,
	    "limiters:\n"
	    "  g: { kind: gcra, rate: 1/m, burst: 2 }\n"
	    "  w: { kind: window, limit: 2, period: 1m, key: \"user:{key}\" }\n"
	    "  f: { kind: funnel, capacity: 2, rate: 1/m }\n"
	    "  c: { kind: concurrency, limit: 1, lease: 1m }\n"
	    "jobs:\n"
	    "  hello:\n"
	    "    exec: [/bin/true]\n");
}

/* Run "redjob throttle -c FILE ARG..." (no -u: the file says where). */
static struct proc *
throttle_vrun(const char *arg, va_list ap)
{
	char *argv[MAX_ARGS];
	const char *a;
	int n = 0;

	argv[n++] = testlib_redjob();
	argv[n++] = (char *)"throttle";
	argv[n++] = (char *)"-c";
	argv[n++] = cfg_path;
	for (a = arg; a != NULL; a = va_arg(ap, const char *)) {
		ck_assert_int_lt(n, MAX_ARGS - 1);
		argv[n++] = (char *)a;
	}
	argv[n] = NULL;
	return run_argv(argv);
}

static struct proc *
throttle_run(const char *arg, ...)
{
	struct proc *p;
	va_list ap;

	va_start(ap, arg);
	p = throttle_vrun(arg, ap);
	va_end(ap);
	return p;
}

/* A field "name: N ms" or "name: N" of the text answer. */
static long long
answer_field(const struct proc *p, const char *name)
{
	char want[64];
	const char *s;

	snprintf(want, sizeof want, "\n%s: ", name);
	s = strstr(p->out, want);
	ck_assert_msg(s != NULL, "no %s in: %s", name, p->out);
	return strtoll(s + strlen(want), NULL, 10);
}

/* Run throttle with ARG...: it must allow (exit 0) and leave remaining. */
static void
throttle_allows(long long remaining, const char *arg, ...)
{
	struct proc *p;
	va_list ap;

	va_start(ap, arg);
	p = throttle_vrun(arg, ap);
	va_end(ap);
	assert_status(p, 0);
	ck_assert_int_eq(answer_field(p, "remaining"), remaining);
	proc_free(p);
}

/* The JSON answer; checks its exact shape. Caller decrefs. */
static json_t *
answer_json(const struct proc *p)
{
	static const char *const ints[] = { "limit", "remaining",
	    "retry_after_ms", "reset_after_ms" };
	json_error_t e;
	json_t *j;
	size_t i;

	j = json_loads(p->out, 0, &e);
	ck_assert_msg(j != NULL && json_is_object(j), "not JSON (%s): %s",
	    e.text, p->out);
	ck_assert_msg(json_is_boolean(json_object_get(j, "allowed")), "%s",
	    p->out);
	for (i = 0; i < sizeof ints / sizeof ints[0]; i++)
		ck_assert_msg(json_is_integer(json_object_get(j, ints[i])),
		    "%s is not an integer: %s", ints[i], p->out);
	return j;
}

/* An integer member of the JSON answer. */
static long long
jint(json_t *j, const char *k)
{
	return json_integer_value(json_object_get(j, k));
}

START_TEST(test_throttle_gcra_burst_2_admits_3_then_limits)
{
	struct proc *p;
	long long i;

	for (i = 0; i < 3; i++) {
		p = throttle_run("g", NULL);
		assert_status(p, 0);
		ck_assert_msg(strncmp(p->out, "allowed\n", 8) == 0, "%s",
		    p->out);
		ck_assert_int_eq(answer_field(p, "limit"), 3);
		ck_assert_int_eq(answer_field(p, "remaining"), 2 - i);
		ck_assert_str_eq(p->err, "");
		proc_free(p);
	}
	p = throttle_run("g", NULL);
	assert_status(p, 75);
	ck_assert_msg(strncmp(p->out, "limited\n", 8) == 0, "%s", p->out);
	ck_assert_int_eq(answer_field(p, "remaining"), 0);
	/* The next unit is one emission interval (1 min) away. */
	ck_assert_int_gt(answer_field(p, "retry after"), 50000);
	ck_assert_int_le(answer_field(p, "retry after"), 60000);
	ck_assert_int_gt(answer_field(p, "reset after"), 170000);
	ck_assert_msg(matches(p->out, "\nretry after: [0-9]+ ms "
	    "\\([0-9]+s[0-9]*m?s?\\)\n"), "%s", p->out);
	proc_free(p);
	/* The daemon's key for the limiter: NS:limit:{NAME:PARTITION}. */
	ck_assert_int_eq(must_int(rf.c, "EXISTS %s", "redjob:limit:{g:}"), 1);
}
END_TEST

START_TEST(test_throttle_peek_does_not_consume)
{
	char before[128];
	struct proc *p;
	json_t *j;
	int i;

	for (i = 0; i < 2; i++) {
		p = throttle_run("--peek", "--json", "g", NULL);
		assert_status(p, 0);
		j = answer_json(p);
		ck_assert(json_is_true(json_object_get(j, "allowed")));
		ck_assert_int_eq(jint(j, "remaining"), 3);
		ck_assert_int_eq(jint(j, "retry_after_ms"), -1);
		json_decref(j);
		proc_free(p);
	}
	ck_assert_int_eq(must_int(rf.c, "EXISTS %s", "redjob:limit:{g:}"), 0);
	for (i = 0; i < 3; i++) {
		p = throttle_run("g", NULL);
		assert_status(p, 0);
		proc_free(p);
	}
	snprintf(before, sizeof before, "%s", redis_str("GET %s",
	    "redjob:limit:{g:}"));
	/* Out of units: peek says limited, and when, and takes nothing. */
	p = throttle_run("--peek", "--json", "g", NULL);
	assert_status(p, 75);
	j = answer_json(p);
	ck_assert(json_is_false(json_object_get(j, "allowed")));
	ck_assert_int_eq(jint(j, "remaining"), 0);
	ck_assert_int_gt(jint(j, "retry_after_ms"), 50000);
	ck_assert_int_le(jint(j, "retry_after_ms"), 60001);
	json_decref(j);
	proc_free(p);
	ck_assert_str_eq(redis_str("GET %s", "redjob:limit:{g:}"), before);

	/* The window and the funnel peek without writing too. */
	throttle_allows(2, "--peek", "w", "u1", NULL);
	throttle_allows(2, "--peek", "f", NULL);
	ck_assert_int_eq(must_int(rf.c, "EXISTS %s",
	    "redjob:limit:{w:user:u1}"), 0);
	ck_assert_int_eq(must_int(rf.c, "EXISTS %s", "redjob:limit:{f:}"), 0);
}
END_TEST

START_TEST(test_throttle_json_has_the_documented_shape)
{
	struct proc *p;
	json_t *j;

	p = throttle_run("--json", "g", NULL);
	assert_status(p, 0);
	j = answer_json(p);
	ck_assert_uint_eq(json_object_size(j), 5);
	ck_assert(json_is_true(json_object_get(j, "allowed")));
	ck_assert_int_eq(jint(j, "limit"), 3);
	ck_assert_int_eq(jint(j, "remaining"), 2);
	ck_assert_int_eq(jint(j, "retry_after_ms"), -1);
	ck_assert_int_eq(jint(j, "reset_after_ms"), 60000);
	json_decref(j);
	proc_free(p);
}
END_TEST

START_TEST(test_throttle_window_and_funnel_answer)
{
	static const char *const names[] = { "w", "f" };
	struct proc *p;
	json_t *j;
	size_t i;
	int k;

	for (i = 0; i < 2; i++) {
		for (k = 0; k < 2; k++) {
			p = throttle_run(names[i], NULL);
			assert_status(p, 0);
			ck_assert_int_eq(answer_field(p, "limit"), 2);
			ck_assert_int_eq(answer_field(p, "remaining"), 1 - k);
			proc_free(p);
		}
		p = throttle_run("--json", names[i], NULL);
		assert_status(p, 75);
		j = answer_json(p);
		ck_assert(json_is_false(json_object_get(j, "allowed")));
		ck_assert_int_eq(jint(j, "remaining"), 0);
		/* window: the oldest leaves in 1 min; funnel: 1 leaks in. */
		ck_assert_msg(jint(j, "retry_after_ms") > 50000 &&
		    jint(j, "retry_after_ms") <= 60000, "%s: %s", names[i],
		    p->out);
		json_decref(j);
		proc_free(p);
	}
	ck_assert_int_eq(must_int(rf.c, "ZCARD %s", "redjob:limit:{w:user:}"),
	    2);
	ck_assert_int_eq(must_int(rf.c, "EXISTS %s", "redjob:limit:{f:}"), 1);
}
END_TEST

START_TEST(test_throttle_keys_are_independent)
{
	struct proc *p;
	int k;

	for (k = 0; k < 2; k++) {
		p = throttle_run("w", "alice", NULL);
		assert_status(p, 0);
		proc_free(p);
	}
	p = throttle_run("w", "alice", NULL);
	assert_status(p, 75);
	proc_free(p);
	throttle_allows(1, "w", "bob", NULL);
	/* The key template "user:{key}" rendered, as for a job's key. */
	ck_assert_int_eq(must_int(rf.c, "ZCARD %s",
	    "redjob:limit:{w:user:alice}"), 2);
	ck_assert_int_eq(must_int(rf.c, "ZCARD %s",
	    "redjob:limit:{w:user:bob}"), 1);
	/* A key cannot break out of the hash tag. */
	p = throttle_run("w", "x}{y", NULL);
	assert_status(p, 0);
	proc_free(p);
	ck_assert_int_eq(must_int(rf.c, "EXISTS %s",
	    "redjob:limit:{w:user:x%7D%7By}"), 1);
}
END_TEST

START_TEST(test_throttle_concurrency_peeks_unless_take)
{
	redisReply *r;
	char holder[128];
	const char *h;
	struct proc *p;

	throttle_allows(1, "c", NULL);
	ck_assert_int_eq(must_int(rf.c, "EXISTS %s", "redjob:limit:{c:}"), 0);

	p = throttle_run("--take", "c", NULL);
	assert_status(p, 0);
	ck_assert_int_eq(answer_field(p, "remaining"), 0);
	h = strstr(p->out, "\nholder: ");
	ck_assert_msg(h != NULL && sscanf(h, "\nholder: %127s", holder) == 1,
	    "%s", p->out);
	proc_free(p);
	ck_assert_int_eq(must_int(rf.c, "ZCARD %s", "redjob:limit:{c:}"), 1);

	p = throttle_run("c", NULL);
	assert_status(p, 75);
	ck_assert_int_gt(answer_field(p, "retry after"), 50000);
	proc_free(p);
	p = throttle_run("--take", "c", NULL);
	assert_status(p, 75);
	proc_free(p);

	/* The slot is the daemon's kind: its release frees it. */
	r = must_command(rf.c, "FCALL redjob_limit_conc_release 1 %s %s",
	    "redjob:limit:{c:}", holder);
	ck_assert_int_eq(r->integer, 1);
	freeReplyObject(r);
	p = throttle_run("c", NULL);
	assert_status(p, 0);
	proc_free(p);
}
END_TEST

START_TEST(test_throttle_errors)
{
	char *argv[8], bad[4200], url[4200];
	struct proc *p;
	FILE *fp;

	p = throttle_run("nosuch", NULL);
	assert_status(p, 2);
	ck_assert_msg(strstr(p->err, "redjob: no limiter nosuch in ") != NULL &&
	    strstr(p->err, "(configured: g, w, f, c)\n") != NULL, "%s",
	    p->err);
	proc_free(p);
	p = throttle_run("g", "somekey", NULL);
	assert_status(p, 2);
	proc_free(p);
	p = throttle_run("--peek", "--take", "g", NULL);
	assert_status(p, 2);
	proc_free(p);
	p = throttle_run(NULL);
	assert_status(p, 2);
	proc_free(p);
	/* No configuration at all. */
	p = redjob_run(NULL, "throttle", "g", NULL);
	assert_status(p, 2);
	proc_free(p);

	/* -c before the command works as well. */
	argv[0] = testlib_redjob();
	argv[1] = (char *)"-c";
	argv[2] = cfg_path;
	argv[3] = (char *)"throttle";
	argv[4] = (char *)"g";
	argv[5] = NULL;
	p = run_argv(argv);
	assert_status(p, 0);
	proc_free(p);

	/* An invalid file: its diagnostics, exit 1. */
	snprintf(bad, sizeof bad, "%s/bad.yml", rf.dir);
	fp = fopen(bad, "w");
	ck_assert_ptr_nonnull(fp);
	fprintf(fp, "limiters:\n  g: { kind: gcrb }\n");
	fclose(fp);
	argv[1] = (char *)"throttle";
	argv[2] = (char *)"-c";
	argv[3] = bad;
	argv[4] = (char *)"g";
	argv[5] = NULL;
	p = run_argv(argv);
	assert_status(p, 1);
	ck_assert_msg(matches(p->err, "bad.yml:2:[0-9]+: "), "%s", p->err);
	proc_free(p);

	/* Redis down: one line, exit 1 (-u wins over the file). */
	snprintf(url, sizeof url, "unix://%s/nosuch.sock", rf.dir);
	argv[1] = (char *)"-u";
	argv[2] = url;
	argv[3] = (char *)"throttle";
	argv[4] = (char *)"-c";
	argv[5] = cfg_path;
	argv[6] = (char *)"g";
	argv[7] = NULL;
	p = run_argv(argv);
	assert_status(p, 1);
	ck_assert_msg(matches(p->err, "^redjob: cannot connect to redis at "
	    "[^\n]*nosuch.sock: [^\n]*\n$"), "%s", p->err);
	proc_free(p);
}
END_TEST

/*
 * Three TCases: lock against a shared server, lock against a server that
 * is killed, and throttle with a configuration of four limiters.
 */
Suite *
suite(void)
{
	Suite *s = suite_create("cli_guards");
	TCase *tc;

	tc = tcase_create("lock");
	tcase_set_timeout(tc, 180);
	tcase_add_unchecked_fixture(tc, redis_start, redis_stop);
	tcase_add_checked_fixture(tc, redis_conn_setup, redis_conn_teardown);
	tcase_add_test(tc, test_lock_contenders_do_not_overlap_and_all_succeed);
	tcase_add_test(tc, test_lock_held_elsewhere_exits_75_and_does_not_run);
	tcase_add_test(tc, test_lock_passes_the_command_status_through);
	tcase_add_test(tc, test_lock_command_that_cannot_run);
	tcase_add_test(tc, test_lock_environment_has_a_growing_fence);
	tcase_add_test(tc, test_lock_deleted_key_stops_the_command_as_lost);
	tcase_add_test(tc, test_lock_lost_command_that_ignores_term_is_killed);
	tcase_add_test(tc,
	    test_lock_unreachable_redis_kills_the_command_before_the_ttl);
	tcase_add_test(tc, test_lock_long_command_keeps_the_lock);
	tcase_add_test(tc, test_lock_forwards_signals_to_the_command);
	tcase_add_test(tc, test_lock_interrupted_wait_runs_nothing);
	tcase_add_test(tc, test_lock_redis_down_exits_1);
	tcase_add_test(tc, test_lock_key_is_the_daemons_and_escaped);
	tcase_add_test(tc, test_lock_keeps_inherited_descriptors);
	tcase_add_test(tc, test_lock_usage_errors);
	tcase_add_test(tc, test_lock_keeps_descriptor_3_of_a_shell_redirect);
	tcase_add_test(tc, test_lock_dies_only_of_the_forwarded_signals);
	tcase_add_test(tc,
	    test_lock_command_has_the_callers_signal_dispositions);
	tcase_add_test(tc,
	    test_lock_command_gets_sigterm_when_redjob_is_killed);
	tcase_add_test(tc, test_lock_command_gets_the_terminal);
	suite_add_tcase(s, tc);

	tc = tcase_create("lock_redis_dies");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, redis_start_conn, redis_stop_conn);
	tcase_add_test(tc,
	    test_lock_unreachable_redis_stops_the_command_as_lost);
	suite_add_tcase(s, tc);

	tc = tcase_create("throttle");
	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, throttle_start, redis_stop);
	tcase_add_checked_fixture(tc, redis_conn_setup, redis_conn_teardown);
	tcase_add_test(tc, test_throttle_gcra_burst_2_admits_3_then_limits);
	tcase_add_test(tc, test_throttle_peek_does_not_consume);
	tcase_add_test(tc, test_throttle_json_has_the_documented_shape);
	tcase_add_test(tc, test_throttle_window_and_funnel_answer);
	tcase_add_test(tc, test_throttle_keys_are_independent);
	tcase_add_test(tc, test_throttle_concurrency_peeks_unless_take);
	tcase_add_test(tc, test_throttle_errors);
	suite_add_tcase(s, tc);
	return s;
}
