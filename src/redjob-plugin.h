/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * redjob-plugin.h: the ABI of redjob plugin handlers. A plugin is a shared
 * object exporting one or more functions of type redjob_plugin_fn; a job
 * type names the file and the function in the YAML:
 *
 *	jobs:
 *	  thumbnail:
 *	    plugin: { path: /usr/lib/redjob/plugins/thumbs.so, symbol: thumb }
 *
 * The worker runs the function inside its own process, on a thread of a
 * small pool, instead of forking a process per job. That is fast and
 * unforgiving: a plugin shares the worker's memory, descriptors and
 * signals, so a crash in a plugin kills the worker (its jobs are protected
 * by their leases and run again elsewhere), and a function that never
 * returns holds its thread forever.
 *
 * A minimal plugin, built with
 * cc -shared -fPIC -o thumbs.so thumbs.c:
 *
 *	#include <redjob-plugin.h>
 *
 *	REDJOB_PLUGIN_DECLARE();
 *
 *	REDJOB_PLUGIN_API redjob_plugin_fn thumb;
 *
 *	int
 *	thumb(const struct redjob_plugin_job *job, char *errbuf,
 *	    size_t errlen)
 *	{
 *		if (job->payload_len == 0) {
 *			snprintf(errbuf, errlen, "empty payload");
 *			return REDJOB_PLUGIN_PERMANENT;
 *		}
 *		...
 *		return REDJOB_PLUGIN_OK;
 *	}
 *
 * The threading contract. Read it before writing a plugin.
 *
 * - The function is called on a pool thread, never on the thread that
 *   runs the worker's event loop, and concurrently with other calls of the
 *   same or other functions (up to the worker's concurrency). It must be
 *   thread-safe: no unprotected globals, no strtok, no non-reentrant
 *   library calls.
 * - It must not call exit(), _exit(), abort() on bad input, fork(), the
 *   exec family, or change signal dispositions or masks (signal(),
 *   sigaction(), alarm(), setitimer()): these act on the whole worker.
 *   Pool threads block every signal, so that signals reach the worker's
 *   loop; do not unblock them. Spawning a helper with posix_spawn() is
 *   allowed, but its reaping is then the plugin's business.
 * - *job->cancelled becomes nonzero when the job's timeout expires, the
 *   job is cancelled (redjob cancel) or the worker is stopping. Poll it
 *   (with redjob_plugin_cancelled()) in any loop or between slow steps,
 *   and return soon when it is set; what the function returns then is
 *   kept as a status but does not change the outcome.
 * - A timeout cannot interrupt a thread. When the timeout expires the
 *   flag is set, and the job is reported timed out only when the function
 *   returns. A function that never returns holds its thread and its job
 *   slot forever: the worker runs one job fewer at a time until it is
 *   restarted, and at shutdown it waits for that function. There is no
 *   kill for a thread; a handler that may hang must be an exec handler.
 * - Everything *job points to (strings, payload, the flag) is valid only
 *   during the call; copy what must outlive it. The payload may contain
 *   NUL bytes; redjob also puts a NUL after the last byte, so a text
 *   payload can be read as a C string. The strings are never NULL.
 * - errbuf has room for errlen bytes (errlen > 0) and starts as an empty
 *   string. Write a NUL-terminated message there (snprintf is the easy
 *   way); it becomes the job's last error. It is also kept on success,
 *   where the worker may log it.
 *
 * Return REDJOB_PLUGIN_OK when the job is done, REDJOB_PLUGIN_PERMANENT
 * when it can never succeed (it goes to the dead set without a retry,
 * like an exec handler's exit 65), anything else for a failure that is
 * retried with backoff.
 *
 * A job type with result: (redjob.yml(5)) keeps what the function gives
 * redjob_plugin_result() as the job's result, which redjob wait prints
 * and redjob show shows: bytes, NUL included, up to the type's
 * result.max (job->result_max); more is counted and dropped, and the job
 * records that its result was truncated. Each call appends, as writes to
 * an exec handler's stdout do. The result is kept only if the job is
 * done (REDJOB_PLUGIN_OK).
 *
 * The ABI version: a plugin built against this header exports
 * redjob_plugin_abi (REDJOB_PLUGIN_DECLARE() defines it). The worker
 * refuses a plugin without it, or with a version newer than its own,
 * before calling anything in it, and says which versions it found and
 * wanted. A change to struct redjob_plugin_job or redjob_plugin_fn bumps
 * the version; a compatible one (fields added at the end of the struct)
 * leaves older plugins loadable.
 *
 *   1  the first.
 *   2  result_max and result_write at the end of struct
 *      redjob_plugin_job, and redjob_plugin_result() (results). A
 *      plugin built for ABI 1 still loads and runs as before: it never
 *      reads the new fields.
 */
#ifndef REDJOB_PLUGIN_H
#define REDJOB_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#define REDJOB_PLUGIN_ABI 2

#define REDJOB_PLUGIN_OK 0		/* done */
#define REDJOB_PLUGIN_PERMANENT 65	/* dead at once (EX_DATAERR) */

/*
 * Give a function or object external C linkage and default visibility,
 * so that the worker's dlsym finds it even in a plugin built with
 * -fvisibility=hidden or as C++.
 */
#if defined(__GNUC__) || defined(__clang__)
#define REDJOB_PLUGIN_VISIBLE __attribute__((visibility("default")))
#else
#define REDJOB_PLUGIN_VISIBLE
#endif
#ifdef __cplusplus
#define REDJOB_PLUGIN_API extern "C" REDJOB_PLUGIN_VISIBLE
#else
#define REDJOB_PLUGIN_API REDJOB_PLUGIN_VISIBLE
#endif

/*
 * Define the ABI marker. Use it once, at file scope, in one source file
 * of the plugin.
 */
#ifdef __cplusplus
#define REDJOB_PLUGIN_DECLARE()                                        \
	extern "C" REDJOB_PLUGIN_VISIBLE const unsigned redjob_plugin_abi = \
	    REDJOB_PLUGIN_ABI
#else
#define REDJOB_PLUGIN_DECLARE()                                        \
	REDJOB_PLUGIN_VISIBLE const unsigned redjob_plugin_abi =       \
	    REDJOB_PLUGIN_ABI
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* One run of one job, as the plugin sees it. Read-only. */
struct redjob_plugin_job {
	unsigned		 abi;	/* the worker's REDJOB_PLUGIN_ABI */
	const char		*id;
	const char		*type;
	const char		*queue;
	const char		*key;	/* "" when the job has none */
	const void		*payload; /* NUL after the last byte */
	size_t			 payload_len;
	unsigned		 attempt; /* 1 on the first run */
	unsigned		 max_attempts;
	uint64_t		 fence;	/* 0 when no lock */
	/* Nonzero at the timeout or shutdown: return soon. */
	const volatile int	*cancelled;
	/* ABI 2. The job type's result.max; 0: it keeps no result. */
	size_t			 result_max;
	/* ABI 2. Append to the result: call redjob_plugin_result(). */
	int			(*result_write)(
				    const struct redjob_plugin_job *job,
				    const void *data, size_t len);
};

/*
 * The function a plugin exports. Declare yours with the typedef, which
 * keeps the prototype exact: REDJOB_PLUGIN_API redjob_plugin_fn name;
 */
typedef int redjob_plugin_fn(const struct redjob_plugin_job *job,
    char *errbuf, size_t errlen);

/* What REDJOB_PLUGIN_DECLARE() defines and the worker checks. */
REDJOB_PLUGIN_VISIBLE extern const unsigned redjob_plugin_abi;

/*
 * Return nonzero once the job should stop (its timeout or the worker's
 * shutdown). The worker sets the flag from another thread; this reads it
 * with an atomic load, which a plain read of *job->cancelled is not
 * (it works on the platforms redjob supports, but ThreadSanitizer calls
 * it a data race).
 */
static inline int
redjob_plugin_cancelled(const struct redjob_plugin_job *job)
{
#if defined(__GNUC__) || defined(__clang__)
	return __atomic_load_n(job->cancelled, __ATOMIC_ACQUIRE);
#else
	return *job->cancelled;
#endif
}

/*
 * Append len bytes of data to the job's result (a type with result:).
 * Returns 0 when all of them are kept, 1 when some went past result_max
 * (dropped; the job says its result was truncated), or -1 when the job
 * keeps no result (its type has no result:, or the worker is older than
 * ABI 2): nothing is kept. Call it only during the call of the function,
 * from any thread of the plugin's, one at a time.
 */
static inline int
redjob_plugin_result(const struct redjob_plugin_job *job, const void *data,
    size_t len)
{
	if (job->abi < 2 || job->result_write == NULL || job->result_max == 0)
		return -1;
	return job->result_write(job, data, len);
}

#ifdef __cplusplus
}
#endif

#endif
