/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Plugin handlers: a C function in a shared object (redjob-plugin.h), run
 * inside the worker on a pool of threads so that it never blocks the
 * event loop. This module loads plugins (dlopen once per path, the ABI
 * marker checked before anything is called), owns the pool, and turns
 * each call into the same struct handler_result an exec handler gives,
 * delivered from the loop. It does not decide what an outcome means for
 * the job (the worker does).
 *
 * Threads and the loop. The loop thread owns libevent; pool threads never
 * touch it. Work goes to the threads through a mutex and a condition
 * variable; a call that returns moves to the pool's done list, and the
 * thread that made that list non-empty writes to an eventfd that a
 * libevent event of the loop watches. The loop reads the eventfd before
 * it takes the list, so a call added after the take always finds the
 * list empty and writes again: no completion is ever left without a
 * wake-up, and most wake-ups deliver a batch.
 *
 * Waking threads costs more than a short call (a futex call, and a
 * thread switched in and out: docs/performance.md), so the pool wakes as
 * few as it can. A thread that is awake and not in a call is
 * "searching": it takes the next queued call without being woken, and
 * takes the next one after each call it returns from, under the same
 * lock as it posts the result. In a pool whose calls all start from the
 * loop's callbacks (handler_plugin_pool_defer), a call started waits in
 * an outbox until the end of that round of callbacks (the flush event),
 * then goes to the queue with the others, under one lock and with at
 * most one wake-up.
 *
 * Who is woken depends on how long recent calls took (an average the
 * threads keep). Long calls: while the queue is not empty and a thread
 * is idle, some thread is searching (the rule, kept under the lock); a
 * thread that takes a call and leaves more queued wakes a helper before
 * it runs its own, so a call never waits behind a running one while a
 * thread is idle. Short calls (under HANDLER_PLUGIN_SHORT_US): a thread
 * is woken only when none is awake, and the one awake runs the burst in
 * turn, which costs less than waking helpers that would find the queue
 * empty; a watchdog timer of the loop (HANDLER_PLUGIN_WATCH_MS after a
 * hand-off) wakes a thread for each call still queued, so a call held up
 * by an unusually slow one waits about a millisecond, not for it.
 *
 * Calls are kept for reuse (loop only): one allocation holds a call and
 * its copies of the job's strings, and keeps its timeout event with it,
 * on a libevent common timeout per distinct length (an O(1) list instead
 * of the timer heap, which every call of a type would otherwise enter and
 * leave).
 *
 * Cancellation. A thread cannot be interrupted safely, so a timeout or a
 * stop only sets the call's cancel flag, which the plugin polls. The flag
 * holds who raised it first (timeout or stop), and the thread reads it
 * under the pool lock when the function returns: that snapshot, not the
 * flag's later value, decides the outcome, so a call that returned just
 * before its timer fired is reported as the plugin's own result.
 */
#include "autoconf.h"

#include <sys/eventfd.h>

#include <assert.h>
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "handler_plugin.h"
#include "compat.h"
#include "log.h"
#include "mtime.h"
#include "xmalloc.h"

#define HANDLER_PLUGIN_ABI_SYMBOL "redjob_plugin_abi"
#define HANDLER_PLUGIN_THREAD_NAME "redjob-plugin"

/* The values of a call's cancel flag: who raised it first. */
#define HANDLER_PLUGIN_CANCEL_TIMEOUT 1
#define HANDLER_PLUGIN_CANCEL_STOP 2

/*
 * Returned calls kept for reuse, at most this many beyond the pool's
 * threads; and the room for strings and payload a kept call may keep.
 */
#define HANDLER_PLUGIN_SPARE 64
#define HANDLER_PLUGIN_KEEP_BYTES 65536

/*
 * Calls shorter than this on average (µs) are "short": a burst of them
 * is left to the threads already awake (the top of the file), and the
 * watchdog looks after the queue every HANDLER_PLUGIN_WATCH_MS. A new
 * pool assumes long calls until it has seen some.
 */
#define HANDLER_PLUGIN_SHORT_US 20
#define HANDLER_PLUGIN_WATCH_MS 1

/* Timeout lengths given a libevent common timeout, per pool. */
#define HANDLER_PLUGIN_COMMON 8

_Static_assert(sizeof(handler_plugin_fn *) == sizeof(void *),
    "dlsym returns function pointers as void *");

/* A shared object loaded by handler_plugin_load, open until unload_all. */
struct handler_plugin_lib {
	TAILQ_ENTRY(handler_plugin_lib) entry;
	char			*path;
	void			*handle;
};

TAILQ_HEAD(handler_plugin_libs, handler_plugin_lib);

/* Where a call is; it changes under the pool lock. */
enum handler_plugin_state {
	HANDLER_PLUGIN_OUTBOX,		/* on pool->outbox (loop only) */
	HANDLER_PLUGIN_QUEUED,		/* on pool->queue */
	HANDLER_PLUGIN_RUNNING,		/* on pool->running, in fn */
	HANDLER_PLUGIN_RETURNED,	/* on pool->done or being delivered */
};

struct handler_plugin_call {
	TAILQ_ENTRY(handler_plugin_call) entry;	/* under the pool lock */
	struct handler_plugin_pool *pool;
	handler_plugin_fn	*fn;
	handler_exec_done_cb	*cb;
	void			*arg;

	struct redjob_plugin_job job;	/* points into strings */
	/*
	 * The copies of the job's id, type, queue and key, each with its
	 * NUL, then its payload and a NUL: one buffer, kept with the call
	 * when it is reused.
	 */
	char			*strings;
	size_t			 strings_cap;

	/*
	 * Set by the loop (under the lock, with atomic stores), read by
	 * the plugin at any time through job.cancelled.
	 */
	volatile int		 cancelled;
	enum handler_plugin_state state;	/* under the lock */

	/* Written by the pool thread before RETURNED, then read-only. */
	int			 status;	/* fn's; -1: never ran */
	int			 cancel_seen;	/* the flag as fn returned */
	uint64_t		 end_ms;
	char			 errbuf[HANDLER_PLUGIN_ERRLEN];
	/* The result (redjob_plugin_result()), written by the pool thread
	 * during fn only. */
	char			*result;
	size_t			 result_len;
	size_t			 result_cap;
	uint64_t		 result_size;

	/* Loop only. */
	int			 in_outbox;	/* on pool->outbox */
	uint64_t		 start_ms;
	uint64_t		 timeout_ms;
	struct event		*timeout_ev;	/* NULL: not made yet */
	int			 timer_armed;
};

TAILQ_HEAD(handler_plugin_calls, handler_plugin_call);

struct handler_plugin_pool {
	struct event_base	*base;
	pthread_t		*threads;
	unsigned		 nthreads;

	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;		/* work queued, stopping */
	struct handler_plugin_calls queue;	/* waiting for a thread */
	struct handler_plugin_calls running;
	struct handler_plugin_calls done;	/* returned, not delivered */
	int			 stopping;
	/* Threads: waiting on cond, awake outside a call (see the top). */
	unsigned		 idle;
	unsigned		 searching;
	unsigned		 wakes;		/* signals not yet taken */
	uint64_t		 avg_us;	/* of recent calls (EWMA) */

	int			 efd;		/* eventfd: done not empty */
	struct event		*done_ev;
	size_t			 pending;	/* loop only */
	int			 delivering;	/* loop: in callbacks */

	/* Loop only. */
	int			 defer;		/* handler_plugin_pool_defer */
	struct handler_plugin_calls outbox;	/* started, not yet queued */
	struct event		*flush_ev;	/* queue the outbox */
	struct event		*watch_ev;	/* short calls: the watchdog */
	struct handler_plugin_calls spare;	/* returned, for reuse */
	size_t			 nspare;
	struct {
		uint64_t		 ms;
		const struct timeval	*tv;
	}			 common[HANDLER_PLUGIN_COMMON];
	size_t			 ncommon;
};

/* The plugins loaded so far. Loop thread only. */
static struct handler_plugin_libs handler_plugin_libs =
    TAILQ_HEAD_INITIALIZER(handler_plugin_libs);

/* Lock the pool; failure is a broken invariant, not an error. */
static void
handler_plugin_lock(struct handler_plugin_pool *pool)
{
	int error;

	error = pthread_mutex_lock(&pool->lock);
	assert(error == 0);
	(void)error;
}

/* Unlock the pool. */
static void
handler_plugin_unlock(struct handler_plugin_pool *pool)
{
	int error;

	error = pthread_mutex_unlock(&pool->lock);
	assert(error == 0);
	(void)error;
}

/*
 * Find a symbol in a loaded plugin. Returns its address, or NULL with
 * *err set to dlerror's text, or to NULL when the symbol exists but its
 * value is NULL.
 */
static void *
handler_plugin_sym(void *handle, const char *symbol, const char **err)
{
	void *p;

	(void)dlerror();
	p = dlsym(handle, symbol);
	*err = dlerror();
	return *err != NULL ? NULL : p;
}

/*
 * dlopen path and check its ABI marker, or return the copy loaded
 * earlier. Returns NULL with *cause set; a plugin refused is closed again
 * and not remembered, so a fixed file can be tried later.
 */
static struct handler_plugin_lib *
handler_plugin_open(const char *path, char **cause)
{
	struct handler_plugin_lib *lib;
	const unsigned *abi;
	const char *err;
	void *handle;

	TAILQ_FOREACH(lib, &handler_plugin_libs, entry) {
		if (strcmp(lib->path, path) == 0)
			return lib;
	}

	/*
	 * RTLD_NOW: a plugin with an unresolved symbol fails here, with
	 * the symbol named, instead of crashing a job later. RTLD_LOCAL:
	 * its symbols stay out of the global scope, so two plugins may
	 * both define "run" and neither interposes on the worker.
	 */
	if ((handle = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		err = dlerror();
		xasprintf(cause, "cannot load plugin %s: %s", path,
		    err != NULL ? err : "unknown dlopen error");
		return NULL;
	}
	abi = handler_plugin_sym(handle, HANDLER_PLUGIN_ABI_SYMBOL, &err);
	if (abi == NULL) {
		xasprintf(cause, "plugin %s has no %s symbol: it is not a "
		    "redjob plugin, or was built without "
		    "REDJOB_PLUGIN_DECLARE() (this redjob speaks plugin "
		    "ABI %d)", path, HANDLER_PLUGIN_ABI_SYMBOL,
		    REDJOB_PLUGIN_ABI);
		dlclose(handle);
		return NULL;
	}
	/*
	 * Every ABI version so far only added fields at the end of the
	 * job struct (redjob-plugin.h), so an older plugin still works.
	 */
	if (*abi < 1 || *abi > REDJOB_PLUGIN_ABI) {
		xasprintf(cause, "plugin %s was built for plugin ABI %u, but "
		    "this redjob speaks plugin ABI 1 to %d: rebuild it against "
		    "this redjob's redjob-plugin.h", path, *abi,
		    REDJOB_PLUGIN_ABI);
		dlclose(handle);
		return NULL;
	}

	lib = xcalloc(1, sizeof *lib);
	lib->path = xstrdup(path);
	lib->handle = handle;
	TAILQ_INSERT_TAIL(&handler_plugin_libs, lib, entry);
	log_debug("loaded plugin %s (ABI %u)", path, *abi);
	return lib;
}

/*
 * Load the plugin at path (once per path) and return its function symbol,
 * or NULL with *cause set to an allocated message the caller frees.
 */
handler_plugin_fn *
handler_plugin_load(const char *path, const char *symbol, char **cause)
{
	struct handler_plugin_lib *lib;
	handler_plugin_fn *fn;
	const ElfW(Sym) *sym = NULL;
	const char *err;
	Dl_info info;
	void *p;

	if (strchr(path, '/') == NULL) {
		xasprintf(cause, "plugin path \"%s\" has no slash: give an "
		    "absolute path (or ./%s), since dlopen would search the "
		    "library path for a bare name", path, path);
		return NULL;
	}
	if (*symbol == '\0') {
		xasprintf(cause, "plugin %s: empty symbol name", path);
		return NULL;
	}
	if ((lib = handler_plugin_open(path, cause)) == NULL)
		return NULL;

	p = handler_plugin_sym(lib->handle, symbol, &err);
	if (p == NULL) {
		xasprintf(cause, "plugin %s has no function \"%s\" (%s); "
		    "declare it with REDJOB_PLUGIN_API, which also keeps it "
		    "visible and unmangled in C++", path, symbol,
		    err != NULL ? err : "its address is NULL");
		return NULL;
	}

	/*
	 * Calling data as code would crash the worker at the first job,
	 * far from the mistake (symbol: redjob_plugin_abi, or a variable
	 * of the plugin). The dynamic symbol table knows the type
	 * (ELF32_ST_TYPE and ELF64_ST_TYPE are the same macro).
	 */
	if (dladdr1(p, &info, (void **)&sym, RTLD_DL_SYMENT) != 0 &&
	    sym != NULL && ELF64_ST_TYPE(sym->st_info) != STT_FUNC &&
	    ELF64_ST_TYPE(sym->st_info) != STT_GNU_IFUNC) {
		xasprintf(cause, "plugin %s: symbol \"%s\" is not a function",
		    path, symbol);
		return NULL;
	}
	memcpy(&fn, &p, sizeof fn);
	return fn;
}

/* dlclose every plugin and forget it. */
void
handler_plugin_unload_all(void)
{
	struct handler_plugin_lib *lib;

	while ((lib = TAILQ_FIRST(&handler_plugin_libs)) != NULL) {
		TAILQ_REMOVE(&handler_plugin_libs, lib, entry);
		if (dlclose(lib->handle) != 0)
			log_warnx("dlclose %s: %s", lib->path, dlerror());
		free(lib->path);
		free(lib);
	}
}

/*
 * Wake the loop: the done list has just become non-empty. Any thread.
 * The eventfd counter only grows, and the loop resets it, so the write
 * cannot block or fail in practice; EAGAIN would mean a wake-up is
 * already pending, which is all we want.
 */
static void
handler_plugin_notify(struct handler_plugin_pool *pool)
{
	uint64_t one = 1;
	ssize_t n;

	do
		n = write(pool->efd, &one, sizeof one);
	while (n == -1 && errno == EINTR);
	assert(n == (ssize_t)sizeof one || errno == EAGAIN);
	(void)n;
}

/*
 * Wake one idle thread if no thread is searching: the rule at the top of
 * the file. The woken thread counts as searching from now on, so that
 * calls queued before it runs wake nobody else. Under the pool lock.
 */
static void
handler_plugin_wake(struct handler_plugin_pool *pool)
{
	if (pool->idle == 0 || pool->searching > 0)
		return;
	pool->idle--;
	pool->searching++;
	pool->wakes++;
	pthread_cond_signal(&pool->cond);
}

/*
 * Whether recent calls were short: then the threads already awake take
 * the queued calls, and the watchdog wakes more if they stay queued.
 * Under the pool lock.
 */
static int
handler_plugin_short(const struct handler_plugin_pool *pool)
{
	return pool->avg_us < HANDLER_PLUGIN_SHORT_US;
}

/*
 * Move the calls started since the last time to the queue, under one
 * lock, and wake a thread for them if need be (the top of the file):
 * after long calls when none is searching, after short ones when none is
 * awake, with the watchdog armed. Loop only.
 */
static void
handler_plugin_push(struct handler_plugin_pool *pool)
{
	struct handler_plugin_call *call;
	int watch;

	if (TAILQ_EMPTY(&pool->outbox))
		return;
	TAILQ_FOREACH(call, &pool->outbox, entry) {
		call->state = HANDLER_PLUGIN_QUEUED;
		call->in_outbox = 0;
	}
	handler_plugin_lock(pool);
	TAILQ_CONCAT(&pool->queue, &pool->outbox, entry);
	watch = handler_plugin_short(pool);
	if (!watch || pool->idle == pool->nthreads)
		handler_plugin_wake(pool);
	handler_plugin_unlock(pool);
	if (watch && !evtimer_pending(pool->watch_ev, NULL))
		mtime_arm(pool->watch_ev, HANDLER_PLUGIN_WATCH_MS);
}

/*
 * Short calls were queued a while ago. If some still are, the threads
 * awake are held up (an unusually slow call): wake a thread for each of
 * them, as far as there are idle ones. Loop only.
 */
static void
handler_plugin_watch_cb(int fd, short what, void *arg)
{
	struct handler_plugin_pool *pool = arg;
	struct handler_plugin_call *call;
	unsigned n = 0;

	(void)fd;
	(void)what;
	handler_plugin_lock(pool);
	TAILQ_FOREACH(call, &pool->queue, entry) {
		if (++n > pool->searching && pool->idle > 0) {
			pool->idle--;
			pool->searching++;
			pool->wakes++;
			pthread_cond_signal(&pool->cond);
		}
	}
	handler_plugin_unlock(pool);
}

/*
 * The body of a pool thread: take a queued call, run it without the
 * lock, put it on the done list and take the next under the same lock.
 * Runs with every signal blocked. Exits once the pool is stopping and
 * the queue is empty.
 */
static void *
handler_plugin_thread(void *arg)
{
	struct handler_plugin_pool *pool = arg;
	struct handler_plugin_call *call = NULL;
	uint64_t begin = 0, end = 0;
	int status = 0, wake;

	handler_plugin_lock(pool);
	pool->searching++;
	for (;;) {
		wake = 0;
		if (call != NULL) {
			call->status = status;
			call->end_ms = end / 1000;
			pool->avg_us = (7 * pool->avg_us + (end - begin)) / 8;
			call->errbuf[sizeof call->errbuf - 1] = '\0';
			call->cancel_seen = __atomic_load_n(&call->cancelled,
			    __ATOMIC_ACQUIRE);
			TAILQ_REMOVE(&pool->running, call, entry);
			wake = TAILQ_EMPTY(&pool->done);
			TAILQ_INSERT_TAIL(&pool->done, call, entry);
			call->state = HANDLER_PLUGIN_RETURNED;
			pool->searching++;
		}
		while (TAILQ_EMPTY(&pool->queue) && !pool->stopping) {
			if (wake) {
				/* Say so before sleeping, not after. */
				handler_plugin_unlock(pool);
				handler_plugin_notify(pool);
				wake = 0;
				handler_plugin_lock(pool);
				continue;
			}
			pool->searching--;
			pool->idle++;
			while (pool->wakes == 0 && !pool->stopping)
				pthread_cond_wait(&pool->cond, &pool->lock);
			if (pool->wakes > 0)
				pool->wakes--;	/* the waker counted us */
			else {
				pool->idle--;
				pool->searching++;
			}
		}
		if ((call = TAILQ_FIRST(&pool->queue)) == NULL) {
			pool->searching--;
			handler_plugin_unlock(pool);
			if (wake)
				handler_plugin_notify(pool);
			break;
		}
		TAILQ_REMOVE(&pool->queue, call, entry);
		TAILQ_INSERT_TAIL(&pool->running, call, entry);
		call->state = HANDLER_PLUGIN_RUNNING;
		pool->searching--;
		/*
		 * A helper, before this call can hold up the next ones,
		 * unless calls are short: then this thread takes them in
		 * turn, and the watchdog wakes helpers if this one is not.
		 */
		if (!TAILQ_EMPTY(&pool->queue) && !handler_plugin_short(pool))
			handler_plugin_wake(pool);
		handler_plugin_unlock(pool);
		/* The result posted above must not wait for this call. */
		if (wake)
			handler_plugin_notify(pool);

		call->errbuf[0] = '\0';
		begin = mtime_now_us();
		status = call->fn(&call->job, call->errbuf,
		    sizeof call->errbuf);
		end = mtime_now_us();
		handler_plugin_lock(pool);
	}
	return NULL;
}

/* Free a call and its copies. The caller has taken it off every list. */
static void
handler_plugin_call_free(struct handler_plugin_call *call)
{
	if (call->timeout_ev != NULL)
		event_free(call->timeout_ev);
	free(call->strings);
	free(call->result);
	free(call);
}

/*
 * A call is over (delivered, or dropped by a stop): disarm its timer and
 * keep it for a later start, or free it when enough are kept. Loop only.
 */
static void
handler_plugin_call_put(struct handler_plugin_pool *pool,
    struct handler_plugin_call *call)
{
	if (call->timer_armed) {
		evtimer_del(call->timeout_ev);
		call->timer_armed = 0;
	}
	if (pool->nspare >= pool->nthreads + HANDLER_PLUGIN_SPARE) {
		handler_plugin_call_free(call);
		return;
	}
	free(call->result);
	call->result = NULL;
	call->result_len = call->result_cap = 0;
	call->result_size = 0;
	if (call->strings_cap > HANDLER_PLUGIN_KEEP_BYTES) {
		free(call->strings);
		call->strings = NULL;
		call->strings_cap = 0;
	}
	TAILQ_INSERT_HEAD(&pool->spare, call, entry);
	pool->nspare++;
}

/*
 * The plugin appends to its job's result (redjob_plugin_result()), on
 * its pool thread during fn: only that thread touches the buffer until
 * fn returns, and the pool lock taken then publishes it to the loop.
 * Bytes past result_max are counted, not kept. Returns 0, or 1 when
 * some were dropped.
 */
static int
handler_plugin_result_write(const struct redjob_plugin_job *job,
    const void *data, size_t len)
{
	struct handler_plugin_call *call = (struct handler_plugin_call *)
	    (void *)((const char *)job -
	    offsetof(struct handler_plugin_call, job));
	size_t keep, cap;

	call->result_size += len;
	keep = job->result_max - call->result_len;
	if (len < keep)
		keep = len;
	if (keep > 0) {
		if (call->result_len + keep > call->result_cap) {
			cap = call->result_cap > 0 ? call->result_cap : 4096;
			while (cap < call->result_len + keep)
				cap *= 2;
			if (cap > job->result_max)
				cap = job->result_max;
			call->result = xreallocarray(call->result, cap, 1);
			call->result_cap = cap;
		}
		memcpy(call->result + call->result_len, data, keep);
		call->result_len += keep;
	}
	return keep < len;
}

/*
 * Report one returned call to its owner and free it. Runs from the loop.
 * The snapshot of the cancel flag taken when fn returned decides between
 * the plugin's own result and a timeout or stop.
 */
static void
handler_plugin_deliver(struct handler_plugin_pool *pool,
    struct handler_plugin_call *call)
{
	struct handler_result res;

	memset(&res, 0, sizeof res);
	switch (call->cancel_seen) {
	case 0:
		res.outcome = HANDLER_EXITED;
		break;
	case HANDLER_PLUGIN_CANCEL_TIMEOUT:
		res.outcome = HANDLER_TIMEOUT;
		break;
	default:
		res.outcome = HANDLER_STOPPED;
		break;
	}
	res.status = call->status;
	res.stderr_tail = call->errbuf;
	res.stderr_len = strlen(call->errbuf);
	res.duration_ms = call->end_ms - call->start_ms;
	res.result = call->result;
	res.result_len = call->result_len;
	res.result_size = call->result_size;
	log_debug("job %s: plugin call done: outcome %d status %d after "
	    "%" PRIu64 " ms", call->job.id, (int)res.outcome, res.status,
	    res.duration_ms);
	pool->pending--;
	call->cb(&res, call->arg);
	handler_plugin_call_put(pool, call);
}

/*
 * The eventfd is readable: deliver every call on the done list. Runs
 * from the loop. The read comes first (see the top of the file).
 */
static void
handler_plugin_done_cb(int fd, short what, void *arg)
{
	struct handler_plugin_pool *pool = arg;
	struct handler_plugin_calls batch;
	struct handler_plugin_call *call;
	uint64_t count;
	ssize_t n;

	(void)what;
	do
		n = read(fd, &count, sizeof count);
	while (n == -1 && errno == EINTR);
	if (n == -1 && errno != EAGAIN)
		log_warn("plugin pool: eventfd read");

	TAILQ_INIT(&batch);
	handler_plugin_lock(pool);
	TAILQ_CONCAT(&batch, &pool->done, entry);
	handler_plugin_unlock(pool);

	pool->delivering = 1;
	while ((call = TAILQ_FIRST(&batch)) != NULL) {
		TAILQ_REMOVE(&batch, call, entry);
		handler_plugin_deliver(pool, call);
	}
	pool->delivering = 0;
}

/*
 * Raise a call's cancel flag for why (timeout or stop), unless it is
 * already raised or the call has returned. A call still queued never
 * runs: it goes straight to the done list. Loop only.
 */
static void
handler_plugin_cancel(struct handler_plugin_call *call, int why)
{
	struct handler_plugin_pool *pool = call->pool;
	int wake = 0;

	/* Not state, which a pool thread may be writing. */
	if (call->in_outbox)
		handler_plugin_push(pool);
	handler_plugin_lock(pool);
	switch (call->state) {
	case HANDLER_PLUGIN_OUTBOX:
		abort();	/* pushed just above */
	case HANDLER_PLUGIN_QUEUED:
		log_warnx("job %s: plugin call %s before a thread was free",
		    call->job.id, why == HANDLER_PLUGIN_CANCEL_TIMEOUT ?
		    "timed out" : "stopped");
		TAILQ_REMOVE(&pool->queue, call, entry);
		__atomic_store_n(&call->cancelled, why, __ATOMIC_RELEASE);
		call->cancel_seen = why;
		call->status = -1;
		call->end_ms = mtime_now();
		/*
		 * Unless every thread is in a call, the call was handed over
		 * this very round, or waited for the thread awake to finish
		 * a short call (the top of the file).
		 */
		if (pool->idle == 0 && pool->searching == 0)
			snprintf(call->errbuf, sizeof call->errbuf, "%s before "
			    "it started: all %u plugin threads were busy",
			    why == HANDLER_PLUGIN_CANCEL_TIMEOUT ? "timed out" :
			    "stopped", pool->nthreads);
		else
			snprintf(call->errbuf, sizeof call->errbuf, "%s before "
			    "it started: it was still queued for a plugin "
			    "thread", why == HANDLER_PLUGIN_CANCEL_TIMEOUT ?
			    "timed out" : "stopped");
		wake = TAILQ_EMPTY(&pool->done);
		TAILQ_INSERT_TAIL(&pool->done, call, entry);
		call->state = HANDLER_PLUGIN_RETURNED;
		break;
	case HANDLER_PLUGIN_RUNNING:
		if (__atomic_load_n(&call->cancelled, __ATOMIC_RELAXED) != 0)
			break;
		if (why == HANDLER_PLUGIN_CANCEL_TIMEOUT) {
			log_warnx("job %s: plugin call timed out after %" PRIu64
			    " ms; cancel flag set, its thread stays busy until "
			    "the function returns", call->job.id, call->timeout_ms);
		} else {
			log_info("job %s: stopping plugin call; cancel flag "
			    "set", call->job.id);
		}
		__atomic_store_n(&call->cancelled, why, __ATOMIC_RELEASE);
		break;
	case HANDLER_PLUGIN_RETURNED:
		break;
	}
	handler_plugin_unlock(pool);
	if (wake)
		handler_plugin_notify(pool);
}

/* A call's timeout expired: ask it to return. Runs from the loop. */
static void
handler_plugin_timeout_cb(int fd, short what, void *arg)
{
	struct handler_plugin_call *call = arg;

	(void)fd;
	(void)what;
	handler_plugin_cancel(call, HANDLER_PLUGIN_CANCEL_TIMEOUT);
}

/* The loop's round of callbacks that started calls is over. */
static void
handler_plugin_flush_cb(int fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	handler_plugin_push(arg);
}

/*
 * Stop and join the first n threads of pool. Used by pool_free and when
 * pool_create fails half-way.
 */
static void
handler_plugin_join(struct handler_plugin_pool *pool, unsigned n)
{
	unsigned i;
	int error;

	handler_plugin_lock(pool);
	pool->stopping = 1;
	pthread_cond_broadcast(&pool->cond);
	handler_plugin_unlock(pool);
	for (i = 0; i < n; i++) {
		if ((error = pthread_join(pool->threads[i], NULL)) != 0) {
			log_warnx("plugin pool: pthread_join: %s",
			    strerror(error));
		}
	}
}

/*
 * Create a pool of threads threads delivering on base. Returns the pool,
 * or NULL with *cause set to an allocated message the caller frees.
 */
struct handler_plugin_pool *
handler_plugin_pool_create(struct event_base *base, unsigned threads,
    char **cause)
{
	struct handler_plugin_pool *pool;
	sigset_t all, old;
	unsigned i;
	int error;

	assert(threads > 0);
	pool = xcalloc(1, sizeof *pool);
	pool->base = base;
	pool->efd = -1;
	TAILQ_INIT(&pool->queue);
	TAILQ_INIT(&pool->running);
	TAILQ_INIT(&pool->done);
	TAILQ_INIT(&pool->spare);
	TAILQ_INIT(&pool->outbox);
	if ((error = pthread_mutex_init(&pool->lock, NULL)) != 0)
		fatalx("pthread_mutex_init: %s", strerror(error));
	if ((error = pthread_cond_init(&pool->cond, NULL)) != 0)
		fatalx("pthread_cond_init: %s", strerror(error));

	if ((pool->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		xasprintf(cause, "plugin pool: eventfd: %s", strerror(errno));
		goto fail;
	}
	pool->done_ev = event_new(base, pool->efd, EV_READ | EV_PERSIST,
	    handler_plugin_done_cb, pool);
	if (pool->done_ev == NULL || event_add(pool->done_ev, NULL) == -1) {
		xasprintf(cause, "plugin pool: cannot add the completion "
		    "event");
		goto fail;
	}
	if ((pool->flush_ev = event_new(base, -1, 0, handler_plugin_flush_cb,
	    pool)) == NULL) {
		xasprintf(cause, "plugin pool: cannot make the flush event");
		goto fail;
	}
	if ((pool->watch_ev = evtimer_new(base, handler_plugin_watch_cb,
	    pool)) == NULL) {
		xasprintf(cause, "plugin pool: cannot make the watchdog timer");
		goto fail;
	}
	pool->avg_us = 2 * HANDLER_PLUGIN_SHORT_US;

	/*
	 * Threads inherit the mask of their creator. Block everything
	 * around pthread_create, rather than in each thread, so there is
	 * no moment when a pool thread could take a signal meant for the
	 * loop (SIGTERM, SIGCHLD through libevent's signal pipe); then
	 * restore the loop thread's own mask.
	 */
	pool->threads = xcalloc(threads, sizeof *pool->threads);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < threads; i++) {
		error = pthread_create(&pool->threads[i], NULL,
		    handler_plugin_thread, pool);
		if (error != 0)
			break;
		(void)pthread_setname_np(pool->threads[i],
		    HANDLER_PLUGIN_THREAD_NAME);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pool->nthreads = i;
	if (i < threads) {
		xasprintf(cause, "plugin pool: cannot start thread %u of %u: "
		    "%s", i + 1, threads, strerror(error));
		handler_plugin_join(pool, i);
		goto fail;
	}
	log_debug("plugin pool: %u threads", threads);
	return pool;

fail:
	if (pool->watch_ev != NULL)
		event_free(pool->watch_ev);
	if (pool->flush_ev != NULL)
		event_free(pool->flush_ev);
	if (pool->done_ev != NULL)
		event_free(pool->done_ev);
	if (pool->efd != -1)
		close(pool->efd);
	pthread_cond_destroy(&pool->cond);
	pthread_mutex_destroy(&pool->lock);
	free(pool->threads);
	free(pool);
	return NULL;
}

/*
 * Free a pool: calls still queued are dropped, running ones are asked to
 * return (cancel flag, as at a stop) and waited for, without callbacks.
 */
void
handler_plugin_pool_free(struct handler_plugin_pool *pool)
{
	struct handler_plugin_calls dropped;
	struct handler_plugin_call *call;
	size_t running = 0;

	if (pool == NULL)
		return;
	assert(!pool->delivering);

	TAILQ_INIT(&dropped);
	TAILQ_CONCAT(&dropped, &pool->outbox, entry);
	handler_plugin_lock(pool);
	TAILQ_CONCAT(&dropped, &pool->queue, entry);
	TAILQ_FOREACH(call, &pool->running, entry) {
		if (__atomic_load_n(&call->cancelled, __ATOMIC_RELAXED) == 0) {
			__atomic_store_n(&call->cancelled,
			    HANDLER_PLUGIN_CANCEL_STOP, __ATOMIC_RELEASE);
		}
		running++;
	}
	handler_plugin_unlock(pool);
	if (running != 0) {
		log_warnx("plugin pool: waiting for %zu running plugin "
		    "call%s to return", running, running == 1 ? "" : "s");
	}

	handler_plugin_join(pool, pool->nthreads);

	/* Every thread is gone: the lists are ours alone now. */
	TAILQ_CONCAT(&dropped, &pool->done, entry);
	assert(TAILQ_EMPTY(&pool->running));
	TAILQ_CONCAT(&dropped, &pool->spare, entry);
	while ((call = TAILQ_FIRST(&dropped)) != NULL) {
		TAILQ_REMOVE(&dropped, call, entry);
		handler_plugin_call_free(call);
	}
	event_free(pool->watch_ev);
	event_free(pool->flush_ev);
	event_free(pool->done_ev);
	close(pool->efd);
	pthread_cond_destroy(&pool->cond);
	pthread_mutex_destroy(&pool->lock);
	free(pool->threads);
	free(pool);
}

/* Hand calls over at the end of each round of the loop's callbacks. */
void
handler_plugin_pool_defer(struct handler_plugin_pool *pool)
{
	pool->defer = 1;
}

/* Return the calls started whose callback has not run yet. */
size_t
handler_plugin_pool_pending(const struct handler_plugin_pool *pool)
{
	return pool->pending;
}

/*
 * Arm call's timer for its timeout_ms, on the pool's common timeout of
 * that length when it has one (or can have one more). Loop only.
 */
static void
handler_plugin_arm(struct handler_plugin_pool *pool,
    struct handler_plugin_call *call)
{
	const struct timeval *ctv = NULL;
	struct timeval tv;
	size_t i;

	if (call->timeout_ev == NULL && (call->timeout_ev = evtimer_new(
	    pool->base, handler_plugin_timeout_cb, call)) == NULL) {
		log_warnx("out of memory creating an event");
		abort();
	}
	tv = mtime_tv(call->timeout_ms);
	for (i = 0; i < pool->ncommon; i++) {
		if (pool->common[i].ms == call->timeout_ms) {
			ctv = pool->common[i].tv;
			break;
		}
	}
	if (ctv == NULL && pool->ncommon < HANDLER_PLUGIN_COMMON &&
	    (ctv = event_base_init_common_timeout(pool->base, &tv)) != NULL) {
		pool->common[pool->ncommon].ms = call->timeout_ms;
		pool->common[pool->ncommon].tv = ctv;
		pool->ncommon++;
	}
	evtimer_add(call->timeout_ev, ctv != NULL ? ctv : &tv);
	call->timer_armed = 1;
}

/*
 * Queue fn(job) on the pool and arm its timeout. Returns the call, which
 * is freed (or kept for reuse) after its callback.
 */
struct handler_plugin_call *
handler_plugin_start(struct handler_plugin_pool *pool, handler_plugin_fn *fn,
    const struct redjob_plugin_job *job, uint64_t timeout_ms,
    handler_exec_done_cb *cb, void *arg)
{
	struct handler_plugin_call *call;
	const char *key = job->key != NULL ? job->key : "";
	size_t lid, ltype, lqueue, lkey, need;
	char *p;

	assert(!pool->stopping);
	if ((call = TAILQ_FIRST(&pool->spare)) != NULL) {
		TAILQ_REMOVE(&pool->spare, call, entry);
		pool->nspare--;
	} else
		call = xcalloc(1, sizeof *call);
	call->pool = pool;
	call->fn = fn;
	call->cb = cb;
	call->arg = arg;

	lid = strlen(job->id) + 1;
	ltype = strlen(job->type) + 1;
	lqueue = strlen(job->queue) + 1;
	lkey = strlen(key) + 1;
	need = lid + ltype + lqueue + lkey + job->payload_len + 1;
	if (need < lid || need > call->strings_cap) {
		if (need < lid)
			fatalx("plugin job too large");
		free(call->strings);
		call->strings = xmalloc(need);
		call->strings_cap = need;
	}
	p = call->strings;
	memset(&call->job, 0, sizeof call->job);
	call->job.id = memcpy(p, job->id, lid);
	p += lid;
	call->job.type = memcpy(p, job->type, ltype);
	p += ltype;
	call->job.queue = memcpy(p, job->queue, lqueue);
	p += lqueue;
	call->job.key = memcpy(p, key, lkey);
	p += lkey;
	if (job->payload_len != 0)
		memcpy(p, job->payload, job->payload_len);
	p[job->payload_len] = '\0';

	call->job.abi = REDJOB_PLUGIN_ABI;
	call->job.payload = p;
	call->job.payload_len = job->payload_len;
	call->job.attempt = job->attempt;
	call->job.max_attempts = job->max_attempts;
	call->job.fence = job->fence;
	call->job.cancelled = &call->cancelled;
	call->job.result_max = job->result_max;
	call->job.result_write = handler_plugin_result_write;
	call->cancelled = 0;
	call->cancel_seen = 0;
	call->status = -1;
	call->end_ms = 0;
	call->errbuf[0] = '\0';
	call->start_ms = mtime_now();
	call->timeout_ms = timeout_ms;
	if (timeout_ms != 0)
		handler_plugin_arm(pool, call);

	pool->pending++;
	call->state = HANDLER_PLUGIN_OUTBOX;
	call->in_outbox = 1;
	TAILQ_INSERT_TAIL(&pool->outbox, call, entry);
	/*
	 * With the others started in this round of the loop's callbacks,
	 * one lock and at most one wake-up for all, once the round is over
	 * (the top of the file). Waking a thread for each would cost more:
	 * the woken thread often preempts the loop, runs the one call, and
	 * sleeps again before the next is queued. Else at once.
	 */
	if (pool->defer)
		event_active(pool->flush_ev, EV_TIMEOUT, 0);
	else
		handler_plugin_push(pool);
	return call;
}

/* Ask a call to return soon: outcome HANDLER_STOPPED. Loop only. */
void
handler_plugin_stop(struct handler_plugin_call *call)
{
	if (call == NULL)
		return;
	handler_plugin_cancel(call, HANDLER_PLUGIN_CANCEL_STOP);
}
