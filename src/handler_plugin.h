/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * handler_plugin.h: run plugin handlers (a C function in a shared object,
 * see redjob-plugin.h) inside the worker, on a small thread pool, so they
 * never block the worker's event loop. Results come back to the loop.
 */
#ifndef REDJOB_HANDLER_PLUGIN_H
#define REDJOB_HANDLER_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include "handler_exec.h"	/* struct handler_result, outcomes */
#include "redjob-plugin.h"

struct event_base;
struct handler_plugin_pool;
struct handler_plugin_call;

#define HANDLER_PLUGIN_ERRLEN HANDLER_EXEC_TAIL	/* the plugin's errbuf */

/* The function a plugin exports. */
typedef redjob_plugin_fn handler_plugin_fn;

/*
 * Load (once per path; later calls reuse the handle) and check the ABI
 * of a plugin, and find symbol in it. path must contain a slash: a bare
 * name would make dlopen search the library path. Returns the function,
 * or NULL with *cause set (caller frees). Not thread-safe: call it from
 * the loop thread only.
 */
handler_plugin_fn *handler_plugin_load(const char *path, const char *symbol,
		    char **cause);
/*
 * dlclose every plugin loaded and forget them, for a clean exit. Only
 * once no pool that may call into them is left.
 */
void		 handler_plugin_unload_all(void);

/*
 * Start threads pool threads whose completions are delivered on base.
 * Returns NULL with *cause set (caller frees) when the threads or the
 * notification descriptor cannot be had.
 */
struct handler_plugin_pool *handler_plugin_pool_create(struct event_base *base,
		    unsigned threads, char **cause);
/*
 * Set the cancel flag of every running call, wait for them to return,
 * join the threads and free everything. Calls still queued never run.
 * No callback is called. Not from inside a callback of this pool. The
 * wait has no bound: a function that ignores its flag blocks this
 * forever, so a worker whose calls are still pending after its shutdown
 * grace should exit without freeing the pool.
 */
void		 handler_plugin_pool_free(struct handler_plugin_pool *pool);
/*
 * From now on, hand each call started to the threads together with the
 * others started in the same round of the loop's callbacks, once that
 * round is over: one lock and at most one thread woken for all, instead
 * of one of each per call. Only for a pool whose calls are all started
 * from callbacks of the loop: a call started otherwise waits until the
 * loop runs. A stop of such a call still acts at once.
 */
void		 handler_plugin_pool_defer(struct handler_plugin_pool *pool);
/* Calls started whose callback has not run yet. */
size_t		 handler_plugin_pool_pending(
		    const struct handler_plugin_pool *pool);

/*
 * Run fn(job) on the pool. The job's strings and payload are copied (a
 * NULL key becomes ""); its abi and cancelled fields are ignored. cb
 * gets HANDLER_EXITED with status 0 (done), 65 (permanent failure) or
 * another code (failure, retried), the plugin's error text as the
 * stderr_tail; HANDLER_TIMEOUT or HANDLER_STOPPED when the call returned
 * after its timeout or a stop request set the cancel flag (status is
 * still what fn returned, or -1 if it never ran). duration_ms counts
 * from this call to fn's return. The timeout (0: none) counts from here
 * too: a call still waiting for a thread when it expires, or when it is
 * stopped, never runs. cb runs exactly once, always from the loop (never
 * from inside start or stop); the call is freed when cb returns. Never
 * fails.
 */
struct handler_plugin_call *handler_plugin_start(
		    struct handler_plugin_pool *pool, handler_plugin_fn *fn,
		    const struct redjob_plugin_job *job, uint64_t timeout_ms,
		    handler_exec_done_cb *cb, void *arg);
/*
 * Set the call's cancel flag: outcome HANDLER_STOPPED, once it returns.
 * No effect on a call that has already returned or was already stopped
 * or timed out.
 */
void		 handler_plugin_stop(struct handler_plugin_call *call);

#endif
