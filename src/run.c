/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Running handlers for a worker: exec handlers through handler_exec.c,
 * with the environment job.c builds, and plugins through handler_plugin.c
 * on the worker's thread pool. The plugins of the configuration are
 * loaded here, in the worker, so that a reload's new workers open fresh
 * copies. A plugin that cannot be loaded fails its jobs with the reason,
 * to be retried: the file may be fixed without a restart.
 *
 * The supervisor is told of each exec handler's process group (PG+ and
 * PG-, src/channel.h), so that a worker killed with its handlers running
 * does not leave them behind.
 */
#include "autoconf.h"

#include <sys/queue.h>

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"
#include "channel.h"
#include "config.h"
#include "handler_exec.h"
#include "handler_plugin.h"
#include "job.h"
#include "log.h"
#include "xmalloc.h"

struct run {
	struct event_base	*base;
	const struct config	*cfg;
	int			 chan_fd;
	run_done_cb		*cb;
	void			*arg;
	struct handler_plugin_pool *pool;	/* NULL: no plugin jobs */
	handler_plugin_fn	**fns;		/* per cfg->jobs; NULL: none */
	char			**errs;		/* why, when not loaded */
	TAILQ_HEAD(, run_call)	 calls;		/* handlers started */
};

/* One handler started: what its callback needs. */
struct run_call {
	TAILQ_ENTRY(run_call)	 entry;
	struct run		*r;
	struct job		*j;
};

/*
 * Load the plugins of cfg and start their thread pool, and watch exec
 * handlers on base. Exits the worker if the pool cannot start.
 */
struct run *
run_create(struct event_base *base, const struct config *cfg, int chan_fd,
    run_done_cb *cb, void *arg)
{
	struct run *r;
	char *cause = NULL;
	size_t i, n = 0;

	r = xcalloc(1, sizeof *r);
	r->base = base;
	r->cfg = cfg;
	r->chan_fd = chan_fd;
	r->cb = cb;
	r->arg = arg;
	TAILQ_INIT(&r->calls);
	if (handler_exec_init(base) != 0)
		fatalx("cannot watch handler processes");
	r->fns = xcalloc(cfg->njobs, sizeof *r->fns);
	r->errs = xcalloc(cfg->njobs, sizeof *r->errs);
	for (i = 0; i < cfg->njobs; i++) {
		const struct job_conf *jc = &cfg->jobs[i];

		if (jc->plugin_path == NULL)
			continue;
		n++;
		r->fns[i] = handler_plugin_load(jc->plugin_path,
		    jc->plugin_symbol, &cause);
		if (r->fns[i] == NULL) {
			log_errx("job type %s: %s", jc->type, cause);
			xasprintf(&r->errs[i], "plugin %s cannot be loaded: %s",
			    jc->plugin_path, cause);
			free(cause);
		}
	}
	if (n > 0 && (r->pool = handler_plugin_pool_create(base,
	    cfg->concurrency, &cause)) == NULL)
		fatalx("plugin thread pool: %s", cause);
	/* run_start() is only ever called from the loop's callbacks. */
	if (r->pool != NULL)
		handler_plugin_pool_defer(r->pool);
	return r;
}

/*
 * Kill the exec handlers still running and free everything. Returns 0,
 * or -1 when a plugin call has not returned: a plugin that ignores its
 * cancel flag never does, and freeing the pool would wait for it for
 * ever, so the pool is left as it is for the process's exit.
 */
int
run_free(struct run *r)
{
	struct run_call *c;
	size_t i;
	int rc = 0;

	if (r == NULL)
		return 0;
	handler_exec_shutdown();
	/* Their callbacks will not come: the handlers were abandoned. */
	while ((c = TAILQ_FIRST(&r->calls)) != NULL) {
		TAILQ_REMOVE(&r->calls, c, entry);
		free(c);
	}
	if (r->pool != NULL) {
		if (handler_plugin_pool_pending(r->pool) > 0)
			rc = -1;
		else {
			handler_plugin_pool_free(r->pool);
			handler_plugin_unload_all();
		}
	}
	for (i = 0; i < r->cfg->njobs; i++)
		free(r->errs[i]);
	free(r->errs);
	free(r->fns);
	free(r);
	return rc;
}

static void
run_done_cb_(const struct handler_result *res, void *arg)
{
	struct run_call *c = arg;
	struct run *r = c->r;
	struct job *j = c->j;

	assert(j->h != NULL || j->pc != NULL);
	TAILQ_REMOVE(&r->calls, c, entry);
	free(c);
	if (j->h != NULL)
		channel_send(r->chan_fd, "PG- %ld",
		    (long)handler_exec_pid(j->h));
	j->h = NULL;
	j->pc = NULL;
	r->cb(j, res, r->arg);
}

/*
 * Start the handler of j (its type known, its guards taken; fence is its
 * lock's fencing token or NULL). Returns 0 (the callback follows), or -1
 * with *cause set to why it could not start (the caller frees it).
 */
int
run_start(struct run *r, struct job *j, const char *fence, char **cause)
{
	struct handler_exec_spec spec;
	struct redjob_plugin_job pj;
	struct run_call *c;
	size_t k = (size_t)(j->jc - r->cfg->jobs);
	char **env, *why = NULL;

	assert(k < r->cfg->njobs && j->h == NULL && j->pc == NULL);
	c = xcalloc(1, sizeof *c);
	c->r = r;
	c->j = j;
	if (j->jc->exec == NULL) {
		if (r->fns[k] == NULL) {
			free(c);
			*cause = xstrdup(r->errs[k]);
			return -1;
		}
		job_plugin(j, fence, &pj);
		j->plugin = 1;
		TAILQ_INSERT_TAIL(&r->calls, c, entry);
		j->pc = handler_plugin_start(r->pool, r->fns[k], &pj,
		    j->jc->timeout_ms, run_done_cb_, c);
		return 0;
	}
	memset(&spec, 0, sizeof spec);
	env = job_env(j, fence, r->cfg->handler_path);
	spec.argv = j->jc->exec;
	spec.envp = env;
	spec.cwd = j->jc->cwd;
	spec.stdin_data = j->payload;
	spec.stdin_len = j->payload_len;
	spec.timeout_ms = j->jc->timeout_ms;
	spec.kill_grace_ms = RUN_KILL_GRACE_MS;
	spec.log_id = j->id;
	spec.result_max = j->jc->result_max;
	j->h = handler_exec_start(r->base, &spec, run_done_cb_, c, &why);
	job_env_free(env);
	if (j->h == NULL) {
		free(c);
		xasprintf(cause, "cannot start the handler: %s", why);
		free(why);
		return -1;
	}
	TAILQ_INSERT_TAIL(&r->calls, c, entry);
	channel_send(r->chan_fd, "PG+ %ld", (long)handler_exec_pid(j->h));
	log_debug("job %s queue=%s type=%s: started (attempt %u)", j->id,
	    j->queue, j->type, j->attempts + 1);
	return 0;
}

/* Stop j's handler, exec or plugin; its callback follows. */
void
run_stop(struct job *j)
{
	if (j->h != NULL)
		handler_exec_stop(j->h);
	else if (j->pc != NULL)
		handler_plugin_stop(j->pc);
}

/*
 * Stop j's handler with its process group killed within ms (an exec
 * handler; a plugin can only be asked through its cancel flag).
 */
void
run_stop_within(struct job *j, uint64_t ms)
{
	if (j->h != NULL)
		handler_exec_stop_within(j->h, ms);
	else if (j->pc != NULL)
		handler_plugin_stop(j->pc);
}

/*
 * Forget j's handler at exit, when it did not end in time: the exec
 * handler is killed by run_free(), a plugin thread left to the exit.
 */
void
run_abandon(struct job *j)
{
	j->h = NULL;
	j->pc = NULL;
}
