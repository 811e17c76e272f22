/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Plugin handlers: loading the example plugin and the test plugins (a
 * missing file, a missing symbol, data instead of a function, no ABI
 * marker, the wrong ABI), and running calls on the thread pool from a
 * real event loop: outcomes and error text, every field and payload byte
 * intact, timeouts and stops through the cancel flag, calls that never
 * got a thread, signals kept off the pool threads, a thousand calls each
 * delivered exactly once, and a pool freed while a call still runs; and
 * the hand-off in rounds: a burst with one call held until its timeout
 * ahead of short ones, or with every call needing its own thread, a stop
 * and a pool free before a round is handed over, and calls reused for
 * jobs of other sizes. The
 * loop always runs under a deadline, so a bug fails a test instead of
 * hanging.
 */
#include "autoconf.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>

#include "handler_plugin.h"
#include "testlib.h"

#define DEADLINE_MS 10000	/* no loop run in this file may take longer */
/*
 * libevent schedules timers from the loop's cached clock, which can lag
 * the moment a call started by a few ms: lower bounds on durations allow
 * for that.
 */
#define MANY 1000		/* calls in the exactly-once test */
#define MANY_THREADS 8

/* What one callback received. */
struct rec {
	int			 calls;
	enum handler_outcome	 outcome;
	int			 status;
	char			 tail[HANDLER_PLUGIN_ERRLEN + 1];
	size_t			 len;
	uint64_t		 duration_ms;
};

/* One call of the exactly-once test. */
struct slot {
	int			 calls;
	enum handler_outcome	 outcome;
	int			 status;
};

static struct event_base *base;
static struct handler_plugin_pool *pool;
static int deadline_hit;
static int callbacks;		/* every callback of the test, any kind */

/* State shared with the in-test plugin functions, which run on the pool. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int hold_started;	/* hold_fn calls that began */
static int hold_open;		/* hold_fn may return 0 */
static int hold_result = -1;	/* what the last hold_fn returned */
static int barrier_arrived;
static int counted;		/* count_fn calls, atomic */
static int ran[MANY];		/* count_fn calls per index, atomic */

/* Build the path of a built plugin under the build directory. */
static const char *
plugin_path(const char *rel)
{
	static char buf[4][4096];
	static int next;
	char *p = buf[next++ % 4];

	snprintf(p, sizeof buf[0], "%s/%s", testlib_builddir(), rel);
	return p;
}

/* The example plugin, which must have been built. */
static const char *
example_path(void)
{
	const char *p = plugin_path("examples/plugins/.libs/example.so");

	ck_assert_msg(access(p, R_OK) == 0, "%s: %s (run make first)", p,
	    strerror(errno));
	return p;
}

/* A test plugin from tests/plugins, which must have been built. */
static const char *
test_plugin_path(const char *name)
{
	char rel[256];
	const char *p;

	snprintf(rel, sizeof rel, "tests/plugins/.libs/%s.so", name);
	p = plugin_path(rel);
	ck_assert_msg(access(p, R_OK) == 0, "%s: %s (run make check)", p,
	    strerror(errno));
	return p;
}

/* Load a function that must load. */
static handler_plugin_fn *
must_load(const char *path, const char *symbol)
{
	handler_plugin_fn *fn;
	char *cause = NULL;

	fn = handler_plugin_load(path, symbol, &cause);
	ck_assert_msg(fn != NULL, "%s %s: %s", path, symbol, cause);
	ck_assert_ptr_null(cause);
	return fn;
}

/* Load a function that must be refused; return the reason (free it). */
static char *
load_error(const char *path, const char *symbol)
{
	handler_plugin_fn *fn;
	char *cause = NULL;

	fn = handler_plugin_load(path, symbol, &cause);
	ck_assert_msg(fn == NULL, "%s %s was accepted", path, symbol);
	ck_assert_msg(cause != NULL, "%s %s: refused without a cause", path,
	    symbol);
	return cause;
}

/* A job with the given id and payload, the other fields plain. */
static struct redjob_plugin_job
job_of(const char *id, const void *payload, size_t len)
{
	struct redjob_plugin_job job;

	memset(&job, 0, sizeof job);
	job.id = id;
	job.type = "test";
	job.queue = "default";
	job.payload = payload;
	job.payload_len = len;
	job.attempt = 1;
	job.max_attempts = 3;
	return job;
}

/* Record a result in the struct rec that arg points to. */
static void
rec_cb(const struct handler_result *res, void *arg)
{
	struct rec *r = arg;

	callbacks++;
	r->calls++;
	r->outcome = res->outcome;
	r->status = res->status;
	ck_assert_uint_le(res->stderr_len, HANDLER_PLUGIN_ERRLEN);
	ck_assert_uint_eq(strlen(res->stderr_tail), res->stderr_len);
	memcpy(r->tail, res->stderr_tail, res->stderr_len + 1);
	r->len = res->stderr_len;
	r->duration_ms = res->duration_ms;
}

/* Record a result in the struct slot that arg points to. */
static void
slot_cb(const struct handler_result *res, void *arg)
{
	struct slot *s = arg;

	callbacks++;
	s->calls++;
	s->outcome = res->outcome;
	s->status = res->status;
}

/* The loop's deadline: stop it so the test fails instead of hanging. */
static void
deadline_cb(int fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	deadline_hit = 1;
	event_base_loopbreak(base);
}

/*
 * Run the loop until the test has seen want callbacks in all; fail if
 * the deadline comes first.
 */
static void
run_until(int want)
{
	struct timeval tv = { DEADLINE_MS / 1000, 0 };
	struct event *dl;

	dl = evtimer_new(base, deadline_cb, NULL);
	ck_assert_ptr_nonnull(dl);
	evtimer_add(dl, &tv);
	deadline_hit = 0;
	while (callbacks < want && !deadline_hit)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(dl);
	ck_assert_msg(!deadline_hit, "deadline of %d ms reached with %d of "
	    "%d callbacks", DEADLINE_MS, callbacks, want);
	ck_assert_int_eq(callbacks, want);
}

/* Create the test's pool. */
static void
pool_new(unsigned threads)
{
	char *cause = NULL;

	pool = handler_plugin_pool_create(base, threads, &cause);
	ck_assert_msg(pool != NULL, "pool: %s", cause);
}

/* A deadline for pthread_cond_timedwait, ms from now. */
static struct timespec
abstime(unsigned ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

/*
 * A plugin function that holds its thread until the test opens the gate
 * (returns 0) or the call is cancelled (returns 1); 2 after 10 s.
 */
static int
hold_fn(const struct redjob_plugin_job *job, char *errbuf, size_t errlen)
{
	uint64_t limit = testlib_now_ms() + DEADLINE_MS;
	struct timespec ts;
	int rc;

	pthread_mutex_lock(&gate_lock);
	hold_started++;
	pthread_cond_broadcast(&gate_cond);
	while (!hold_open && !redjob_plugin_cancelled(job) &&
	    testlib_now_ms() < limit) {
		/* The cancel flag has no condvar: look again every 5 ms. */
		ts = abstime(5);
		pthread_cond_timedwait(&gate_cond, &gate_lock, &ts);
	}
	rc = hold_open ? 0 : redjob_plugin_cancelled(job) ? 1 : 2;
	hold_result = rc;
	pthread_mutex_unlock(&gate_lock);
	snprintf(errbuf, errlen, "hold returned %d", rc);
	return rc;
}

/*
 * A plugin function that ignores its cancel flag, as a badly written
 * plugin would: it returns 0 only when the test opens the gate (2 after
 * 10 s), saying whether the flag was set by then.
 */
static int
deaf_fn(const struct redjob_plugin_job *job, char *errbuf, size_t errlen)
{
	uint64_t limit = testlib_now_ms() + DEADLINE_MS;
	struct timespec ts;
	int rc;

	pthread_mutex_lock(&gate_lock);
	hold_started++;
	pthread_cond_broadcast(&gate_cond);
	while (!hold_open && testlib_now_ms() < limit) {
		ts = abstime(100);
		pthread_cond_timedwait(&gate_cond, &gate_lock, &ts);
	}
	rc = hold_open ? 0 : 2;
	pthread_mutex_unlock(&gate_lock);
	snprintf(errbuf, errlen, "cancelled=%d", redjob_plugin_cancelled(job));
	return rc;
}

/* Wait until n hold_fn calls have begun on the pool. */
static void
hold_wait_started(int n)
{
	uint64_t limit = testlib_now_ms() + DEADLINE_MS;
	struct timespec ts;

	pthread_mutex_lock(&gate_lock);
	while (hold_started < n && testlib_now_ms() < limit) {
		ts = abstime(100);
		pthread_cond_timedwait(&gate_cond, &gate_lock, &ts);
	}
	pthread_mutex_unlock(&gate_lock);
	ck_assert_msg(hold_started >= n, "only %d of %d hold calls began",
	    hold_started, n);
}

/* Let every hold_fn call return 0. */
static void
hold_release(void)
{
	pthread_mutex_lock(&gate_lock);
	hold_open = 1;
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
}

/*
 * A plugin function that returns 0 only once MANY_THREADS calls of it
 * are inside at the same time, or 1 after 5 s: proof that the pool runs
 * that many calls in parallel.
 */
static int
barrier_fn(const struct redjob_plugin_job *job, char *errbuf, size_t errlen)
{
	struct timespec ts = abstime(5000);
	int rc = 0;

	(void)job;
	pthread_mutex_lock(&gate_lock);
	barrier_arrived++;
	pthread_cond_broadcast(&gate_cond);
	while (barrier_arrived < MANY_THREADS && rc == 0)
		rc = pthread_cond_timedwait(&gate_cond, &gate_lock, &ts);
	rc = barrier_arrived >= MANY_THREADS ? 0 : 1;
	pthread_mutex_unlock(&gate_lock);
	snprintf(errbuf, errlen, "%d arrived", barrier_arrived);
	return rc;
}

/*
 * A plugin function that counts its calls, in total and per job id (a
 * number below MANY), and returns the id modulo 7.
 */
static int
count_fn(const struct redjob_plugin_job *job, char *errbuf, size_t errlen)
{
	unsigned long i = strtoul(job->id, NULL, 10);

	(void)errbuf;
	(void)errlen;
	__atomic_fetch_add(&counted, 1, __ATOMIC_RELAXED);
	if (i < MANY)
		__atomic_fetch_add(&ran[i], 1, __ATOMIC_RELAXED);
	return (int)(i % 7);
}

/* A plugin function that reports which common signals are not blocked. */
static int
mask_fn(const struct redjob_plugin_job *job, char *errbuf, size_t errlen)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGCHLD,
	    SIGUSR1, SIGUSR2, SIGPIPE, SIGALRM, SIGQUIT };
	sigset_t set;
	size_t i, off;
	int open = 0;

	(void)job;
	if (pthread_sigmask(SIG_BLOCK, NULL, &set) != 0)
		return 2;
	off = (size_t)snprintf(errbuf, errlen, "unblocked:");
	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		if (sigismember(&set, sigs[i]))
			continue;
		open++;
		if (off < errlen) {
			off += (size_t)snprintf(errbuf + off, errlen - off,
			    " %s", strsignal(sigs[i]));
		}
	}
	return open == 0 ? 0 : 1;
}

/* Every test gets a loop and no pool; state of the in-test functions. */
static void
setup(void)
{
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	pool = NULL;
	callbacks = 0;
	deadline_hit = 0;
	hold_started = 0;
	hold_open = 0;
	hold_result = -1;
	barrier_arrived = 0;
	counted = 0;
	memset(ran, 0, sizeof ran);
}

/* Free what the test left: the pool first, it may call into plugins. */
static void
teardown(void)
{
	handler_plugin_pool_free(pool);
	pool = NULL;
	event_base_free(base);
	base = NULL;
	handler_plugin_unload_all();
}

START_TEST(test_load_example_symbols)
{
	static const char *syms[] = { "noop", "fail", "permanent",
	    "sleep_ms", "echo_len" };
	handler_plugin_fn *fns[5], *fn;
	struct redjob_plugin_job job = job_of("1", "abc", 3);
	const char *path = example_path();
	volatile int flag = 0;
	char errbuf[64];
	size_t i, j;

	for (i = 0; i < 5; i++) {
		fns[i] = must_load(path, syms[i]);
		for (j = 0; j < i; j++)
			ck_assert_ptr_ne(fns[i], fns[j]);
	}
	/* Loaded once: the same path gives the same function again. */
	ck_assert_ptr_eq(must_load(path, "noop"), fns[0]);

	/* Each symbol is the function its name promises. */
	job.cancelled = &flag;
	errbuf[0] = '\0';
	ck_assert_int_eq(fns[0](&job, errbuf, sizeof errbuf), 0);
	ck_assert_str_eq(errbuf, "");
	ck_assert_int_eq(fns[1](&job, errbuf, sizeof errbuf), 1);
	ck_assert_str_eq(errbuf, "example failure");
	ck_assert_int_eq(fns[2](&job, errbuf, sizeof errbuf), 65);
	ck_assert_int_eq(fns[4](&job, errbuf, sizeof errbuf), 0);
	ck_assert_str_eq(errbuf, "3 bytes");
	job = job_of("1", "0", 1);
	job.cancelled = &flag;
	ck_assert_int_eq(fns[3](&job, errbuf, sizeof errbuf), 0);
	job = job_of("1", "soon", 4);
	job.cancelled = &flag;
	ck_assert_int_eq(fns[3](&job, errbuf, sizeof errbuf), 65);
	ck_assert_str_eq(errbuf, "payload \"soon\" is not a number of "
	    "milliseconds");

	fn = must_load(test_plugin_path("probe"), "describe");
	ck_assert_ptr_nonnull(fn);
}
END_TEST

START_TEST(test_load_missing_file)
{
	const char *path = plugin_path("examples/plugins/.libs/nosuch.so");
	char *e, want[8192];

	e = load_error(path, "noop");
	snprintf(want, sizeof want, "cannot load plugin %s: ", path);
	ck_assert_msg(strncmp(e, want, strlen(want)) == 0, "got: %s", e);
	ck_assert_msg(strstr(e, "No such file or directory") != NULL,
	    "got: %s", e);
	free(e);

	e = load_error("example.so", "noop");
	ck_assert_str_eq(e, "plugin path \"example.so\" has no slash: give an "
	    "absolute path (or ./example.so), since dlopen would search the "
	    "library path for a bare name");
	free(e);
}
END_TEST

START_TEST(test_load_missing_symbol)
{
	const char *path = example_path();
	char *e, want[8192];

	e = load_error(path, "nosuch");
	snprintf(want, sizeof want, "plugin %s has no function \"nosuch\" (",
	    path);
	ck_assert_msg(strncmp(e, want, strlen(want)) == 0, "got: %s", e);
	ck_assert_msg(strstr(e, "undefined symbol: nosuch") != NULL,
	    "got: %s", e);
	ck_assert_msg(strstr(e, "REDJOB_PLUGIN_API") != NULL, "got: %s", e);
	free(e);

	/* Built with -fvisibility=hidden: only what is exported is found. */
	e = load_error(path, "example_now_ms");
	ck_assert_ptr_nonnull(strstr(e, "has no function \"example_now_ms\""));
	free(e);

	e = load_error(path, "");
	snprintf(want, sizeof want, "plugin %s: empty symbol name", path);
	ck_assert_str_eq(e, want);
	free(e);

	/* The plugin itself stays loaded and usable. */
	ck_assert_ptr_nonnull(must_load(path, "noop"));
}
END_TEST

START_TEST(test_load_data_symbol)
{
	const char *path = test_plugin_path("probe");
	char *e, want[8192];

	e = load_error(path, "counter");
	snprintf(want, sizeof want, "plugin %s: symbol \"counter\" is not a "
	    "function", path);
	ck_assert_str_eq(e, want);
	free(e);
	e = load_error(path, "redjob_plugin_abi");
	snprintf(want, sizeof want, "plugin %s: symbol \"redjob_plugin_abi\" "
	    "is not a function", path);
	ck_assert_str_eq(e, want);
	free(e);
}
END_TEST

START_TEST(test_load_abi_mismatch)
{
	const char *path = test_plugin_path("badabi");
	char *e, want[8192];
	int i;

	snprintf(want, sizeof want, "plugin %s was built for plugin ABI 999, "
	    "but this redjob speaks plugin ABI 1 to %d: rebuild it against "
	    "this redjob's redjob-plugin.h", path, REDJOB_PLUGIN_ABI);
	/* A refused plugin is not remembered as loaded. */
	for (i = 0; i < 2; i++) {
		e = load_error(path, "noop");
		ck_assert_str_eq(e, want);
		free(e);
	}
	ck_assert_ptr_nonnull(must_load(example_path(), "noop"));
}
END_TEST

/*
 * A plugin built for ABI 1, before results, still loads and runs: ABI 2
 * only added fields at the end of the job struct (redjob-plugin.h).
 */
START_TEST(test_load_abi1_still_runs)
{
	struct redjob_plugin_job job;
	handler_plugin_fn *fn;
	char errbuf[64] = "";
	volatile int flag = 0;

	fn = must_load(test_plugin_path("abi1"), "noop");
	job = job_of("1", "", 0);
	job.cancelled = &flag;
	ck_assert_int_eq(fn(&job, errbuf, sizeof errbuf), REDJOB_PLUGIN_OK);
}
END_TEST

START_TEST(test_load_no_abi)
{
	const char *path = test_plugin_path("noabi");
	char *e, want[8192];

	snprintf(want, sizeof want, "plugin %s has no redjob_plugin_abi "
	    "symbol: it is not a redjob plugin, or was built without "
	    "REDJOB_PLUGIN_DECLARE() (this redjob speaks plugin ABI %d)",
	    path, REDJOB_PLUGIN_ABI);
	e = load_error(path, "noop");
	ck_assert_str_eq(e, want);
	free(e);
}
END_TEST

START_TEST(test_run_example_outcomes)
{
	const char *path = example_path();
	struct redjob_plugin_job job = job_of("1", "abc\0def", 7);
	struct rec noop, fail, perm, elen;

	memset(&noop, 0, sizeof noop);
	memset(&fail, 0, sizeof fail);
	memset(&perm, 0, sizeof perm);
	memset(&elen, 0, sizeof elen);
	pool_new(2);
	handler_plugin_start(pool, must_load(path, "noop"), &job, 0, rec_cb,
	    &noop);
	handler_plugin_start(pool, must_load(path, "fail"), &job, 0, rec_cb,
	    &fail);
	handler_plugin_start(pool, must_load(path, "permanent"), &job, 5000,
	    rec_cb, &perm);
	handler_plugin_start(pool, must_load(path, "echo_len"), &job, 0,
	    rec_cb, &elen);
	ck_assert_uint_eq(handler_plugin_pool_pending(pool), 4);
	ck_assert_int_eq(callbacks, 0);
	run_until(4);
	ck_assert_uint_eq(handler_plugin_pool_pending(pool), 0);

	ck_assert_int_eq(noop.calls, 1);
	ck_assert_int_eq(noop.outcome, HANDLER_EXITED);
	ck_assert_int_eq(noop.status, 0);
	ck_assert_str_eq(noop.tail, "");
	ck_assert_uint_eq(noop.len, 0);

	ck_assert_int_eq(fail.calls, 1);
	ck_assert_int_eq(fail.outcome, HANDLER_EXITED);
	ck_assert_int_eq(fail.status, 1);
	ck_assert_str_eq(fail.tail, "example failure");
	ck_assert_uint_eq(fail.len, strlen("example failure"));

	ck_assert_int_eq(perm.calls, 1);
	ck_assert_int_eq(perm.outcome, HANDLER_EXITED);
	ck_assert_int_eq(perm.status, REDJOB_PLUGIN_PERMANENT);
	ck_assert_str_eq(perm.tail, "example permanent failure");

	ck_assert_int_eq(elen.calls, 1);
	ck_assert_int_eq(elen.outcome, HANDLER_EXITED);
	ck_assert_int_eq(elen.status, 0);
	ck_assert_str_eq(elen.tail, "7 bytes");
}
END_TEST

START_TEST(test_run_fields_and_payload_intact)
{
	handler_plugin_fn *fn = must_load(test_plugin_path("probe"),
	    "describe");
	struct redjob_plugin_job job;
	unsigned char payload[256];
	char want[HANDLER_PLUGIN_ERRLEN], *p;
	struct rec full, bare;
	size_t i;

	for (i = 0; i < sizeof payload; i++)
		payload[i] = (unsigned char)i;	/* NUL first, 0xff last */
	memset(&full, 0, sizeof full);
	memset(&bare, 0, sizeof bare);
	pool_new(2);

	job = job_of("job-77", payload, sizeof payload);
	job.type = "resize";
	job.queue = "images";
	job.key = "user:42";
	job.attempt = 2;
	job.max_attempts = 5;
	job.fence = UINT64_C(18446744073709551615);
	job.abi = 12345;		/* ignored: the worker's own goes in */
	handler_plugin_start(pool, fn, &job, 0, rec_cb, &full);
	/* The caller's copy may go away as soon as start returns. */
	memset(payload, 'z', sizeof payload);

	job = job_of("job-78", NULL, 0);	/* no key, no payload */
	handler_plugin_start(pool, fn, &job, 0, rec_cb, &bare);
	run_until(2);

	p = want + snprintf(want, sizeof want, "abi=%d id=job-77 type=resize "
	    "queue=images key=user:42 attempt=2/5 fence=18446744073709551615 "
	    "cancelled=0 len=256 nul=1 hex=", REDJOB_PLUGIN_ABI);
	for (i = 0; i < 256; i++)
		p += sprintf(p, "%02x", (unsigned)i);
	ck_assert_int_eq(full.outcome, HANDLER_EXITED);
	ck_assert_int_eq(full.status, 7);
	ck_assert_str_eq(full.tail, want);

	snprintf(want, sizeof want, "abi=%d id=job-78 type=test "
	    "queue=default key= attempt=1/3 fence=0 cancelled=0 len=0 nul=1 "
	    "hex=", REDJOB_PLUGIN_ABI);
	ck_assert_int_eq(bare.outcome, HANDLER_EXITED);
	ck_assert_int_eq(bare.status, 7);
	ck_assert_str_eq(bare.tail, want);
}
END_TEST

START_TEST(test_run_errbuf_always_terminated)
{
	struct redjob_plugin_job job = job_of("1", "", 0);
	struct rec r;
	size_t i;

	memset(&r, 0, sizeof r);
	pool_new(1);
	handler_plugin_start(pool, must_load(test_plugin_path("probe"),
	    "fill"), &job, 0, rec_cb, &r);
	run_until(1);
	ck_assert_int_eq(r.status, 3);
	ck_assert_uint_eq(r.len, HANDLER_PLUGIN_ERRLEN - 1);
	for (i = 0; i < r.len; i++)
		ck_assert_int_eq(r.tail[i], 'x');
}
END_TEST

START_TEST(test_timeout_reported_when_it_returns)
{
	struct redjob_plugin_job job = job_of("1", "5000", 4);
	uint64_t t0, elapsed;
	struct rec r;

	memset(&r, 0, sizeof r);
	pool_new(1);
	t0 = testlib_now_ms();
	handler_plugin_start(pool, must_load(example_path(), "sleep_ms"), &job,
	    100, rec_cb, &r);
	run_until(1);
	elapsed = testlib_now_ms() - t0;
	ck_assert_int_eq(r.outcome, HANDLER_TIMEOUT);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strncmp(r.tail, "cancelled after ", 16) == 0,
	    "tail: %s", r.tail);
	ck_assert_msg(r.duration_ms >= 90 && r.duration_ms < 2000,
	    "duration %llu ms", (unsigned long long)r.duration_ms);
	ck_assert_msg(elapsed < 2000, "a 100 ms timeout took %llu ms",
	    (unsigned long long)elapsed);
}
END_TEST

START_TEST(test_timeout_not_reached)
{
	struct redjob_plugin_job job = job_of("1", "30", 2);
	struct rec r;

	memset(&r, 0, sizeof r);
	pool_new(1);
	handler_plugin_start(pool, must_load(example_path(), "sleep_ms"), &job,
	    5000, rec_cb, &r);
	run_until(1);
	ck_assert_int_eq(r.outcome, HANDLER_EXITED);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_ge(r.duration_ms, 30);
	ck_assert_uint_lt(r.duration_ms, 5000);
}
END_TEST

/* Stop the call arg points to; a one-shot timer. */
static void
stop_cb(int fd, short what, void *arg)
{
	struct handler_plugin_call **call = arg;

	(void)fd;
	(void)what;
	handler_plugin_stop(*call);
	handler_plugin_stop(*call);	/* twice: no effect */
	ck_assert_int_eq(callbacks, 0);	/* never from inside stop */
}

START_TEST(test_stop_reported_as_stopped)
{
	struct redjob_plugin_job job = job_of("1", "5000", 4);
	struct handler_plugin_call *call;
	struct timeval tv = { 0, 50000 };
	struct event *ev;
	uint64_t t0, elapsed;
	struct rec r;

	memset(&r, 0, sizeof r);
	pool_new(1);
	t0 = testlib_now_ms();
	/* A timeout too, which must not win: the stop came first. */
	call = handler_plugin_start(pool, must_load(example_path(),
	    "sleep_ms"), &job, 4000, rec_cb, &r);
	ev = evtimer_new(base, stop_cb, &call);
	evtimer_add(ev, &tv);
	run_until(1);
	event_free(ev);
	elapsed = testlib_now_ms() - t0;
	ck_assert_int_eq(r.outcome, HANDLER_STOPPED);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strncmp(r.tail, "cancelled after ", 16) == 0,
	    "tail: %s", r.tail);
	ck_assert_uint_ge(r.duration_ms, 45);
	ck_assert_msg(elapsed < 2000, "a stop at 50 ms took %llu ms",
	    (unsigned long long)elapsed);
}
END_TEST

/* Stop the call arg points to, then let deaf_fn return. */
static void
stop_and_release_cb(int fd, short what, void *arg)
{
	struct handler_plugin_call **call = arg;

	(void)fd;
	(void)what;
	handler_plugin_stop(*call);
	hold_release();
}

START_TEST(test_first_cancel_reason_wins)
{
	struct redjob_plugin_job job = job_of("1", "", 0);
	struct handler_plugin_call *call;
	struct timeval tv = { 0, 200000 };
	struct event *ev;
	struct rec r;

	memset(&r, 0, sizeof r);
	pool_new(1);
	/*
	 * The timeout (50 ms) raises the flag first; the function does not
	 * look at it, so it is still running when the stop comes at 200 ms.
	 * Only then does it return, successfully: still a timeout.
	 */
	call = handler_plugin_start(pool, deaf_fn, &job, 50, rec_cb, &r);
	ev = evtimer_new(base, stop_and_release_cb, &call);
	evtimer_add(ev, &tv);
	run_until(1);
	event_free(ev);
	ck_assert_int_eq(r.outcome, HANDLER_TIMEOUT);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.tail, "cancelled=1");
	ck_assert_uint_ge(r.duration_ms, 150);
}
END_TEST

START_TEST(test_stop_before_a_thread_is_free)
{
	struct redjob_plugin_job job = job_of("1", "", 0);
	struct handler_plugin_call *call;
	struct rec held, queued;

	memset(&held, 0, sizeof held);
	memset(&queued, 0, sizeof queued);
	pool_new(1);
	handler_plugin_start(pool, hold_fn, &job, 0, rec_cb, &held);
	hold_wait_started(1);
	call = handler_plugin_start(pool, count_fn, &job, 0, rec_cb, &queued);
	handler_plugin_stop(call);
	ck_assert_int_eq(callbacks, 0);	/* never from inside stop */
	run_until(1);
	ck_assert_int_eq(queued.calls, 1);
	ck_assert_int_eq(queued.outcome, HANDLER_STOPPED);
	ck_assert_int_eq(queued.status, -1);
	ck_assert_str_eq(queued.tail, "stopped before it started: all 1 "
	    "plugin threads were busy");
	ck_assert_int_eq(held.calls, 0);

	hold_release();
	run_until(2);
	ck_assert_int_eq(held.outcome, HANDLER_EXITED);
	ck_assert_int_eq(held.status, 0);
	ck_assert_str_eq(held.tail, "hold returned 0");
	ck_assert_int_eq(__atomic_load_n(&counted, __ATOMIC_RELAXED), 0);
}
END_TEST

START_TEST(test_timeout_before_a_thread_is_free)
{
	struct redjob_plugin_job job = job_of("1", "", 0);
	struct handler_plugin_call *call;
	struct rec held, queued;

	memset(&held, 0, sizeof held);
	memset(&queued, 0, sizeof queued);
	pool_new(1);
	call = handler_plugin_start(pool, hold_fn, &job, 0, rec_cb, &held);
	hold_wait_started(1);
	handler_plugin_start(pool, count_fn, &job, 50, rec_cb, &queued);
	run_until(1);
	ck_assert_int_eq(queued.outcome, HANDLER_TIMEOUT);
	ck_assert_int_eq(queued.status, -1);
	ck_assert_str_eq(queued.tail, "timed out before it started: all 1 "
	    "plugin threads were busy");
	ck_assert_uint_ge(queued.duration_ms, 45);

	handler_plugin_stop(call);
	run_until(2);
	ck_assert_int_eq(held.outcome, HANDLER_STOPPED);
	ck_assert_int_eq(held.status, 1);
	ck_assert_str_eq(held.tail, "hold returned 1");
	ck_assert_int_eq(__atomic_load_n(&counted, __ATOMIC_RELAXED), 0);
}
END_TEST

START_TEST(test_many_calls_each_once)
{
	static struct slot slots[MANY];
	struct redjob_plugin_job job;
	char id[16];
	int i;

	memset(slots, 0, sizeof slots);
	pool_new(MANY_THREADS);
	for (i = 0; i < MANY; i++) {
		snprintf(id, sizeof id, "%d", i);
		job = job_of(id, id, strlen(id));
		handler_plugin_start(pool, count_fn, &job, i % 2 ? 60000 : 0,
		    slot_cb, &slots[i]);
	}
	run_until(MANY);
	ck_assert_uint_eq(handler_plugin_pool_pending(pool), 0);
	ck_assert_int_eq(__atomic_load_n(&counted, __ATOMIC_RELAXED), MANY);
	for (i = 0; i < MANY; i++) {
		ck_assert_msg(slots[i].calls == 1, "call %d: %d callbacks", i,
		    slots[i].calls);
		ck_assert_msg(ran[i] == 1, "call %d ran %d times", i, ran[i]);
		ck_assert_int_eq(slots[i].outcome, HANDLER_EXITED);
		ck_assert_int_eq(slots[i].status, i % 7);
	}
}
END_TEST

START_TEST(test_threads_run_in_parallel)
{
	static struct slot slots[MANY_THREADS];
	struct redjob_plugin_job job = job_of("1", "", 0);
	int i;

	memset(slots, 0, sizeof slots);
	pool_new(MANY_THREADS);
	for (i = 0; i < MANY_THREADS; i++)
		handler_plugin_start(pool, barrier_fn, &job, 0, slot_cb,
		    &slots[i]);
	run_until(MANY_THREADS);
	for (i = 0; i < MANY_THREADS; i++) {
		ck_assert_int_eq(slots[i].outcome, HANDLER_EXITED);
		ck_assert_msg(slots[i].status == 0, "call %d waited alone: "
		    "the pool did not run %d calls at once", i, MANY_THREADS);
	}
}
END_TEST

START_TEST(test_pool_threads_block_signals)
{
	struct redjob_plugin_job job = job_of("1", "", 0);
	sigset_t set, now;
	struct rec r;

	/* The loop thread's own mask must come back unchanged. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_SETMASK, &set, NULL);
	memset(&r, 0, sizeof r);
	pool_new(2);
	pthread_sigmask(SIG_BLOCK, NULL, &now);
	ck_assert(sigismember(&now, SIGUSR2));
	ck_assert(!sigismember(&now, SIGTERM));
	ck_assert(!sigismember(&now, SIGCHLD));

	handler_plugin_start(pool, mask_fn, &job, 0, rec_cb, &r);
	run_until(1);
	ck_assert_msg(r.status == 0, "pool thread: %s", r.tail);
}
END_TEST

START_TEST(test_pool_free_waits_for_running_calls)
{
	struct redjob_plugin_job job = job_of("1", "", 0);
	uint64_t t0, elapsed;
	struct rec held, queued;

	memset(&held, 0, sizeof held);
	memset(&queued, 0, sizeof queued);
	pool_new(1);
	/* With a timeout, so that a timer is pending too when freed. */
	handler_plugin_start(pool, hold_fn, &job, 60000, rec_cb, &held);
	handler_plugin_start(pool, count_fn, &job, 60000, rec_cb, &queued);
	hold_wait_started(1);

	t0 = testlib_now_ms();
	handler_plugin_pool_free(pool);
	pool = NULL;
	elapsed = testlib_now_ms() - t0;
	/* It returned because the free raised its flag, and was awaited. */
	ck_assert_int_eq(hold_result, 1);
	ck_assert_msg(elapsed < 2000, "free took %llu ms",
	    (unsigned long long)elapsed);
	ck_assert_int_eq(__atomic_load_n(&counted, __ATOMIC_RELAXED), 0);

	/* No callbacks from a freed pool, even with the loop running. */
	event_base_loop(base, EVLOOP_NONBLOCK);
	ck_assert_int_eq(callbacks, 0);
	ck_assert_int_eq(held.calls + queued.calls, 0);
}
END_TEST

START_TEST(test_pool_free_idle_and_again)
{
	struct redjob_plugin_job job = job_of("1", "", 0);
	struct handler_plugin_pool *other;
	struct rec first, mine, theirs;
	char *cause = NULL;

	memset(&first, 0, sizeof first);
	memset(&mine, 0, sizeof mine);
	memset(&theirs, 0, sizeof theirs);
	pool_new(4);
	handler_plugin_pool_free(pool);
	pool_new(3);
	handler_plugin_start(pool, must_load(example_path(), "noop"), &job, 0,
	    rec_cb, &first);
	run_until(1);
	ck_assert_int_eq(first.status, 0);
	handler_plugin_pool_free(pool);
	pool = NULL;

	/* Two pools on one base at once, each delivering its own calls. */
	pool_new(1);
	other = handler_plugin_pool_create(base, 1, &cause);
	ck_assert_msg(other != NULL, "%s", cause);
	handler_plugin_start(other, count_fn, &job, 0, rec_cb, &theirs);
	handler_plugin_start(pool, count_fn, &job, 0, rec_cb, &mine);
	run_until(3);
	ck_assert_int_eq(mine.calls, 1);
	ck_assert_int_eq(theirs.calls, 1);
	ck_assert_uint_eq(handler_plugin_pool_pending(pool), 0);
	ck_assert_uint_eq(handler_plugin_pool_pending(other), 0);
	ck_assert_int_eq(__atomic_load_n(&counted, __ATOMIC_RELAXED), 2);
	handler_plugin_pool_free(other);
}
END_TEST

/*
 * Run n short calls one after the other, so that the pool's threads have
 * been woken and gone idle again, and its calls are reused ones
 * (src/handler_plugin.c).
 */
static void
warm_up(int n)
{
	struct redjob_plugin_job job = job_of("1", "", 0);
	struct slot s;
	int i, before;

	for (i = 0; i < n; i++) {
		memset(&s, 0, sizeof s);
		before = callbacks;
		handler_plugin_start(pool, count_fn, &job, 0, slot_cb, &s);
		run_until(before + 1);
		ck_assert_int_eq(s.outcome, HANDLER_EXITED);
	}
}

/* Something for run_in_loop() to do from a callback of the loop. */
struct in_loop {
	void		(*fn)(void *);
	void		*arg;
	int		 brk;		/* then break the loop */
	int		 done;
};

static void
in_loop_cb(int fd, short what, void *arg)
{
	struct in_loop *il = arg;

	(void)fd;
	(void)what;
	il->fn(il->arg);
	il->done = 1;
	if (il->brk)
		event_base_loopbreak(base);
}

/*
 * Call fn(arg) from a callback of the loop, as the worker starts its
 * calls: those it starts are handed over together once that round of
 * callbacks is over, unless brk breaks the loop before (they then wait).
 */
static void
run_in_loop(void (*fn)(void *), void *arg, int brk)
{
	struct timeval zero = { 0, 0 };
	struct in_loop il;

	il.fn = fn;
	il.arg = arg;
	il.brk = brk;
	il.done = 0;
	ck_assert_int_eq(event_base_once(base, -1, EV_TIMEOUT, in_loop_cb,
	    &il, &zero), 0);
	while (!il.done)
		event_base_loop(base, EVLOOP_ONCE);
}

/* Record a result, and how many callbacks had come before it. */
struct ordered {
	struct rec	 r;
	int		 seen_before;
};

static void
ordered_cb(const struct handler_result *res, void *arg)
{
	struct ordered *o = arg;

	o->seen_before = callbacks;
	rec_cb(res, &o->r);
}

/* The calls of the batch tests, and what they report to. */
static struct slot batch_slots[MANY_THREADS];
static struct ordered batch_slow;

/*
 * A call that holds its thread until its timeout, then short ones, all
 * in one round of the loop's callbacks.
 */
static void
start_slow_then_short(void *arg)
{
	struct redjob_plugin_job job;
	char id[16];
	int i;

	(void)arg;
	job = job_of("0", "", 0);
	handler_plugin_start(pool, hold_fn, &job, 2000, ordered_cb,
	    &batch_slow);
	for (i = 0; i < MANY_THREADS - 1; i++) {
		snprintf(id, sizeof id, "%d", i + 1);
		job = job_of(id, id, strlen(id));
		handler_plugin_start(pool, count_fn, &job, i % 2 ? 60000 : 0,
		    slot_cb, &batch_slots[i]);
	}
}

START_TEST(test_batch_one_times_out_others_finish)
{
	struct ordered slow;
	struct slot *slots = batch_slots;
	int i, before;

	memset(batch_slots, 0, sizeof batch_slots);
	memset(&batch_slow, 0, sizeof batch_slow);
	pool_new(MANY_THREADS);
	handler_plugin_pool_defer(pool);
	warm_up(32);
	before = callbacks;
	/* The short ones must not wait behind the first. */
	run_in_loop(start_slow_then_short, NULL, 0);
	run_until(before + MANY_THREADS);
	slow = batch_slow;
	ck_assert_int_eq(slow.r.calls, 1);
	ck_assert_int_eq(slow.r.outcome, HANDLER_TIMEOUT);
	ck_assert_int_eq(slow.r.status, 1);
	ck_assert_str_eq(slow.r.tail, "hold returned 1");
	ck_assert_msg(slow.seen_before == before + MANY_THREADS - 1,
	    "the timed-out call was delivered after %d of the %d others",
	    slow.seen_before - before, MANY_THREADS - 1);
	for (i = 0; i < MANY_THREADS - 1; i++) {
		ck_assert_int_eq(slots[i].calls, 1);
		ck_assert_int_eq(slots[i].outcome, HANDLER_EXITED);
		ck_assert_int_eq(slots[i].status, (i + 1) % 7);
	}
	ck_assert_uint_eq(handler_plugin_pool_pending(pool), 0);
}
END_TEST

/* Calls that each wait for all the others, in one round. */
static void
start_barriers(void *arg)
{
	struct redjob_plugin_job job = job_of("1", "", 0);
	int i;

	(void)arg;
	for (i = 0; i < MANY_THREADS; i++)
		handler_plugin_start(pool, barrier_fn, &job, 0, slot_cb,
		    &batch_slots[i]);
}

START_TEST(test_burst_after_short_calls_in_parallel)
{
	struct slot *slots = batch_slots;
	int i, before;

	memset(batch_slots, 0, sizeof batch_slots);
	pool_new(MANY_THREADS);
	handler_plugin_pool_defer(pool);
	warm_up(32);
	/*
	 * After short calls, a burst of calls started in one round that
	 * each wait for all the others: every one needs a thread of its
	 * own, though the first thread awake could take them all in turn.
	 */
	before = callbacks;
	run_in_loop(start_barriers, NULL, 0);
	run_until(before + MANY_THREADS);
	for (i = 0; i < MANY_THREADS; i++) {
		ck_assert_int_eq(slots[i].outcome, HANDLER_EXITED);
		ck_assert_msg(slots[i].status == 0, "call %d waited alone: "
		    "the pool did not run %d calls at once", i, MANY_THREADS);
	}
}
END_TEST

/* Start a call and stop it in the same round. */
static void
start_and_stop(void *arg)
{
	struct redjob_plugin_job job = job_of("1", "", 0);
	struct handler_plugin_call *call;

	call = handler_plugin_start(pool, hold_fn, &job, 0, rec_cb, arg);
	handler_plugin_stop(call);
}

START_TEST(test_stop_a_call_started_this_round)
{
	struct redjob_plugin_job job = job_of("1", "", 0);
	struct rec held, stopped;

	memset(&held, 0, sizeof held);
	memset(&stopped, 0, sizeof stopped);
	pool_new(2);
	handler_plugin_start(pool, hold_fn, &job, 0, rec_cb, &held);
	hold_wait_started(1);
	handler_plugin_pool_defer(pool);
	/* Not handed over yet when it is stopped. */
	run_in_loop(start_and_stop, &stopped, 0);
	ck_assert_int_eq(callbacks, 0);	/* never from inside stop */
	run_until(1);
	ck_assert_int_eq(stopped.calls, 1);
	ck_assert_int_eq(stopped.outcome, HANDLER_STOPPED);
	ck_assert_int_eq(held.calls, 0);
	hold_release();
	run_until(2);
	ck_assert_int_eq(held.outcome, HANDLER_EXITED);
	ck_assert_int_eq(held.status, 0);
}
END_TEST

/* Start four calls, in a round the test breaks before it is over. */
static void
start_four(void *arg)
{
	struct redjob_plugin_job job = job_of("1", "", 0);
	struct rec *queued = arg;
	int i;

	for (i = 0; i < 4; i++)
		handler_plugin_start(pool, hold_fn, &job, i % 2 ? 60000 : 0,
		    rec_cb, &queued[i]);
}

START_TEST(test_pool_free_with_a_batch_in_flight)
{
	struct redjob_plugin_job job = job_of("1", "", 0);
	struct rec held, queued[4];
	uint64_t t0, elapsed;

	memset(&held, 0, sizeof held);
	memset(queued, 0, sizeof queued);
	pool_new(4);
	warm_up(16);
	callbacks = 0;
	/* One running, four started in a round not over, none delivered. */
	handler_plugin_start(pool, hold_fn, &job, 60000, rec_cb, &held);
	hold_wait_started(1);
	handler_plugin_pool_defer(pool);
	run_in_loop(start_four, queued, 1);
	t0 = testlib_now_ms();
	handler_plugin_pool_free(pool);
	pool = NULL;
	elapsed = testlib_now_ms() - t0;
	ck_assert_int_eq(hold_result, 1);	/* asked to return, and waited */
	ck_assert_msg(elapsed < 2000, "free took %llu ms",
	    (unsigned long long)elapsed);
	ck_assert_int_eq(hold_started, 1);	/* the others never ran */
	event_base_loop(base, EVLOOP_NONBLOCK);
	ck_assert_int_eq(callbacks, 0);
}
END_TEST

/*
 * A plugin function that checks that its job's strings and payload are
 * those job_of(id, pattern of payload_len bytes) made: 0 if so.
 */
static int
pattern_fn(const struct redjob_plugin_job *job, char *errbuf, size_t errlen)
{
	const unsigned char *p = job->payload;
	size_t i;

	if (strcmp(job->type, "test") != 0 || strcmp(job->queue,
	    "default") != 0 || strcmp(job->key, "") != 0 ||
	    p[job->payload_len] != '\0') {
		snprintf(errbuf, errlen, "strings");
		return 2;
	}
	for (i = 0; i < job->payload_len; i++) {
		if (p[i] != (unsigned char)(i * 7 + 1)) {
			snprintf(errbuf, errlen, "byte %zu", i);
			return 3;
		}
	}
	snprintf(errbuf, errlen, "%s %zu", job->id, job->payload_len);
	return 0;
}

START_TEST(test_calls_reused_with_other_sizes)
{
	static const size_t sizes[] = { 10, 100000, 0, 5, 70000, 3 };
	static unsigned char payload[100000];
	struct redjob_plugin_job job;
	char id[32], want[64];
	struct rec r;
	size_t i, k;

	for (i = 0; i < sizeof payload; i++)
		payload[i] = (unsigned char)(i * 7 + 1);
	pool_new(1);
	for (k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		memset(&r, 0, sizeof r);
		callbacks = 0;
		snprintf(id, sizeof id, "job-%zu-with-a-longer-id", k);
		job = job_of(id, payload, sizes[k]);
		handler_plugin_start(pool, pattern_fn, &job, k % 2 ? 1000 : 0,
		    rec_cb, &r);
		run_until(1);
		ck_assert_int_eq(r.outcome, HANDLER_EXITED);
		snprintf(want, sizeof want, "%s %zu", id, sizes[k]);
		ck_assert_msg(r.status == 0, "size %zu: %s", sizes[k], r.tail);
		ck_assert_str_eq(r.tail, want);
	}
}
END_TEST

Suite *
suite(void)
{
	Suite *s = suite_create("plugin");
	TCase *tc;

	tc = tcase_create("load");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_load_example_symbols);
	tcase_add_test(tc, test_load_missing_file);
	tcase_add_test(tc, test_load_missing_symbol);
	tcase_add_test(tc, test_load_data_symbol);
	tcase_add_test(tc, test_load_abi_mismatch);
	tcase_add_test(tc, test_load_no_abi);
	tcase_add_test(tc, test_load_abi1_still_runs);
	suite_add_tcase(s, tc);

	tc = tcase_create("run");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_run_example_outcomes);
	tcase_add_test(tc, test_run_fields_and_payload_intact);
	tcase_add_test(tc, test_run_errbuf_always_terminated);
	suite_add_tcase(s, tc);

	tc = tcase_create("cancel");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_timeout_reported_when_it_returns);
	tcase_add_test(tc, test_timeout_not_reached);
	tcase_add_test(tc, test_stop_reported_as_stopped);
	tcase_add_test(tc, test_first_cancel_reason_wins);
	tcase_add_test(tc, test_stop_before_a_thread_is_free);
	tcase_add_test(tc, test_timeout_before_a_thread_is_free);
	suite_add_tcase(s, tc);

	tc = tcase_create("pool");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_many_calls_each_once);
	tcase_add_test(tc, test_threads_run_in_parallel);
	tcase_add_test(tc, test_pool_threads_block_signals);
	tcase_add_test(tc, test_pool_free_waits_for_running_calls);
	tcase_add_test(tc, test_pool_free_idle_and_again);
	tcase_add_test(tc, test_batch_one_times_out_others_finish);
	tcase_add_test(tc, test_burst_after_short_calls_in_parallel);
	tcase_add_test(tc, test_stop_a_call_started_this_round);
	tcase_add_test(tc, test_pool_free_with_a_batch_in_flight);
	tcase_add_test(tc, test_calls_reused_with_other_sizes);
	suite_add_tcase(s, tc);
	return s;
}
