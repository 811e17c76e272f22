/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A claimed job: decoding it from the claim reply, freeing it, and what
 * its handler is given. This module does not decide what happens to a
 * job; the worker does (worker.c), and the modules below it do one
 * exchange each with Redis (hold.c, finish.c, lease.c, claim.c).
 */
#include "autoconf.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <hiredis/hiredis.h>

#include "job.h"
#include "config.h"
#include "duration.h"
#include "handler_exec.h"
#include "hold.h"
#include "log.h"
#include "mtime.h"
#include "redjob-plugin.h"
#include "xmalloc.h"

/* The fields of a job in the claim reply (docs/protocol.md). */
enum {
	JOB_F_ID,
	JOB_F_TYPE,
	JOB_F_PAYLOAD,
	JOB_F_KEY,
	JOB_F_ATTEMPTS,
	JOB_F_MAX_ATTEMPTS,
	JOB_F_STALLS,
	JOB_F_DUE,
	JOB_F_COUNT,
	JOB_F_RESERVED = JOB_F_COUNT,	/* optional: "UNTIL_MS NAME" or "" */
	JOB_F_CREATED,			/* optional: enqueue time, or "" */
	JOB_F_TICK,			/* optional: a schedule's tick, or "" */
	JOB_F_GUARD			/* optional: its guards' answer */
};

/*
 * Copy a string element; NULL if it is not a string. With len NULL the
 * element is text (an id, a type, a key), used as a C string from here
 * on: NULL too if it holds a NUL byte, which would cut it short and make
 * it name another job, type or lock.
 */
static char *
job_str(const redisReply *r, size_t *len)
{
	if (r->type != REDIS_REPLY_STRING)
		return NULL;
	if (len != NULL)
		*len = r->len;
	else if (memchr(r->str, '\0', r->len) != NULL)
		return NULL;
	return xmemdup(r->str, r->len);
}

/* Does the string element r hold a NUL byte? */
static int
job_has_nul(const redisReply *r)
{
	return r->type == REDIS_REPLY_STRING &&
	    memchr(r->str, '\0', r->len) != NULL;
}

/*
 * Read an unsigned count from an integer or a decimal string element.
 * Returns 0, or -1 if it is neither or out of range.
 */
static int
job_uint(const redisReply *r, unsigned *v)
{
	unsigned long long n;
	char *end;

	if (r->type == REDIS_REPLY_INTEGER) {
		if (r->integer < 0 || r->integer > UINT_MAX)
			return -1;
		*v = (unsigned)r->integer;
		return 0;
	}
	if (r->type != REDIS_REPLY_STRING || r->len == 0 ||
	    strspn(r->str, "0123456789") != r->len)
		return -1;
	errno = 0;
	n = strtoull(r->str, &end, 10);
	if (errno != 0 || n > UINT_MAX)
		return -1;
	*v = (unsigned)n;
	return 0;
}

/*
 * The payload of a claim reply, taken from it rather than copied: it can
 * be hundreds of MiB, and the reply is freed once the claim is read
 * (hiredis frees a string reply whose str is NULL as an empty one). NULL
 * if it is not a string.
 */
static char *
job_take_str(redisReply *r, size_t *len)
{
	char *s;

	if (r->type != REDIS_REPLY_STRING)
		return NULL;
	*len = r->len;
	s = r->str;
	r->str = NULL;
	r->len = 0;
	return s;
}

/*
 * The job's limiter reservation, "UNTIL_MS NAME" (written by
 * redjob_requeue, docs/guards.md): kept in j->reserved and
 * j->reserved_until. Anything else is no reservation: the job then asks
 * its limiters as usual, which is always safe.
 */
static void
job_reservation(struct job *j, const redisReply *r)
{
	long long until;
	char *end;

	if (r->type != REDIS_REPLY_STRING || r->len == 0)
		return;
	errno = 0;
	until = strtoll(r->str, &end, 10);
	if (errno != 0 || end == r->str || *end != ' ' || until < 0 ||
	    end[1] == '\0' || strlen(end + 1) != r->len - (size_t)(end + 1 -
	    r->str))
		return;
	j->reserved = xstrdup(end + 1);
	j->reserved_until = until;
}

/* A decimal integer from a string or integer element; 0 if neither. */
static long long
job_ll(const redisReply *r)
{
	if (r->type == REDIS_REPLY_INTEGER)
		return r->integer;
	if (r->type == REDIS_REPLY_STRING)
		return strtoll(r->str, NULL, 10);
	return 0;
}

/*
 * The answer of the guards the claim took for j (redjob_claim's
 * guard_take): {"granted", FENCE}, {"throttled", I, MS}, {"reserved", I,
 * MS}, {"never", I}, {"conflict", PTTL} or {"error", I, MESSAGE}.
 * Anything else is read as an error of the guard calls, so the job asks
 * for its guards again, one call each (hold_claimed).
 */
static void
job_guard_decode(struct job *j, const redisReply *r)
{
	static const struct {
		const char		*word;
		enum job_guard_res	 res;
		size_t			 n;
	} words[] = {
		{ "granted", JOB_GUARD_GRANTED, 2 },
		{ "throttled", JOB_GUARD_THROTTLED, 3 },
		{ "reserved", JOB_GUARD_RESERVED, 3 },
		{ "never", JOB_GUARD_NEVER, 2 },
		{ "conflict", JOB_GUARD_CONFLICT, 2 },
		{ "error", JOB_GUARD_ERROR, 3 },
	};
	struct job_guard *g = &j->guard;
	size_t i;

	g->res = JOB_GUARD_NONE;
	if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2 &&
	    r->element[0]->type == REDIS_REPLY_STRING) {
		for (i = 0; i < nitems(words); i++) {
			if (strcmp(r->element[0]->str, words[i].word) == 0 &&
			    r->elements == words[i].n) {
				g->res = words[i].res;
				break;
			}
		}
	}
	switch (g->res) {
	case JOB_GUARD_GRANTED:
		if ((g->text = job_str(r->element[1], NULL)) != NULL)
			break;
		/* FALLTHROUGH */
	case JOB_GUARD_NONE:
		g->res = JOB_GUARD_ERROR;
		g->idx = 0;
		g->text = xstrdup("unexpected guard answer in the claim reply");
		break;
	case JOB_GUARD_CONFLICT:
		g->ms = job_ll(r->element[1]);
		break;
	case JOB_GUARD_THROTTLED:
	case JOB_GUARD_RESERVED:
		g->ms = job_ll(r->element[2]);
		/* FALLTHROUGH */
	case JOB_GUARD_NEVER:
		g->idx = (unsigned)job_ll(r->element[1]);
		break;
	case JOB_GUARD_ERROR:
		g->idx = (unsigned)job_ll(r->element[1]);
		if ((g->text = job_str(r->element[2], NULL)) == NULL)
			g->text = xstrdup("a guard call failed");
		break;
	}
}

/*
 * Decode one job of a claim reply, {id, type, payload, key, attempts,
 * max_attempts, stalls, due, reserved}, claimed under token. Returns NULL with
 * *cause set when the entry has no usable id: nothing can be done with
 * it, and its lease returns it. Returns the job with *cause set when the
 * job is known but a field is missing or of the wrong type: the caller
 * fails it for good, since running it again cannot help. Otherwise
 * returns the job with *cause NULL. The caller frees the job and *cause.
 * The payload is taken out of e (job_take_str).
 */
struct job *
job_decode(redisReply *e, const char *token, char **cause)
{
	struct job *j;
	const char *bad = NULL, *nul = NULL;

	*cause = NULL;
	if (e->type != REDIS_REPLY_ARRAY || e->elements < JOB_F_COUNT ||
	    e->element[JOB_F_ID]->type != REDIS_REPLY_STRING ||
	    e->element[JOB_F_ID]->len == 0) {
		*cause = xstrdup("malformed job entry in the claim reply");
		return NULL;
	}
	if (job_has_nul(e->element[JOB_F_ID])) {
		*cause = xstrdup("malformed job entry in the claim reply: its "
		    "id holds a NUL byte");
		return NULL;
	}
	j = xcalloc(1, sizeof *j);
	j->id = job_str(e->element[JOB_F_ID], NULL);
	j->token = xstrdup(token);
	j->type = job_str(e->element[JOB_F_TYPE], NULL);
	j->payload = job_take_str(e->element[JOB_F_PAYLOAD], &j->payload_len);
	j->key = job_str(e->element[JOB_F_KEY], NULL);
	if (j->key != NULL && *j->key == '\0') {
		free(j->key);
		j->key = NULL;
	}
	if (e->elements > JOB_F_RESERVED)
		job_reservation(j, e->element[JOB_F_RESERVED]);
	if (e->elements > JOB_F_CREATED &&
	    e->element[JOB_F_CREATED]->type == REDIS_REPLY_STRING)
		j->created_ms = strtoll(e->element[JOB_F_CREATED]->str, NULL,
		    10);
	if (e->elements > JOB_F_TICK &&
	    e->element[JOB_F_TICK]->type == REDIS_REPLY_STRING)
		j->tick_ms = strtoll(e->element[JOB_F_TICK]->str, NULL, 10);
	if (e->elements > JOB_F_GUARD)
		job_guard_decode(j, e->element[JOB_F_GUARD]);
	if (e->element[JOB_F_DUE]->type == REDIS_REPLY_STRING)
		j->due_ms = strtoll(e->element[JOB_F_DUE]->str, NULL, 10);
	if (j->type == NULL || *j->type == '\0')
		bad = "its type";
	else if (j->payload == NULL)
		bad = "its payload";
	else if (e->element[JOB_F_KEY]->type != REDIS_REPLY_STRING)
		bad = "its key";
	else if (job_uint(e->element[JOB_F_ATTEMPTS], &j->attempts) != 0)
		bad = "its attempts";
	else if (job_uint(e->element[JOB_F_MAX_ATTEMPTS],
	    &j->max_attempts) != 0)
		bad = "its max_attempts";
	else if (job_uint(e->element[JOB_F_STALLS], &j->stalls) != 0)
		bad = "its stalls";
	if (job_has_nul(e->element[JOB_F_TYPE]))
		nul = "its type";
	else if (job_has_nul(e->element[JOB_F_KEY]))
		nul = "its key";
	if (j->type == NULL)
		j->type = xstrdup("?");
	if (nul != NULL)
		xasprintf(cause, "malformed job: %s holds a NUL byte", nul);
	else if (bad != NULL)
		xasprintf(cause, "malformed job: %s is missing or not of its "
		    "type", bad);
	return j;
}

/*
 * Decode a brief row of a claim reply, {N, PACKED} or {N, PACKED,
 * GUARDS} (docs/protocol.md, redjob_claim's "brief"): a job of queue (or
 * shard) q, kept packed in Redis as TYPE NUL CREATED NUL PAYLOAD, with
 * SPACE DUE after CREATED when it was enqueued to be due later, and with
 * no key and no options; GUARDS is the answer of the guards the claim
 * took for it (job_guard_decode()). Returns the job, or NULL with *cause
 * set as job_decode() does when the row has no usable id. The packed
 * string is taken out of e and becomes the payload, moved to its start:
 * no copy of it is made.
 */
struct job *
job_decode_brief(redisReply *e, const char *q, size_t qlen, const char *token,
    char **cause)
{
	struct job *j;
	redisReply *n;
	const char *nul1, *nul2, *s;
	char *v, *end;
	size_t len, off;

	*cause = NULL;
	if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 ||
	    e->elements > 3 ||
	    (n = e->element[0])->type != REDIS_REPLY_STRING || n->len == 0 ||
	    n->len > 20 || strspn(n->str, "0123456789") != n->len) {
		*cause = xstrdup("malformed job entry in the claim reply");
		return NULL;
	}
	j = xcalloc(1, sizeof *j);
	xasprintf(&j->id, "%.*s:%s", (int)qlen, q, n->str);
	j->token = xstrdup(token);
	if (e->elements == 3)
		job_guard_decode(j, e->element[2]);
	s = e->element[1]->type == REDIS_REPLY_STRING ? e->element[1]->str :
	    NULL;
	len = s != NULL ? e->element[1]->len : 0;
	nul1 = s != NULL ? memchr(s, '\0', len) : NULL;
	nul2 = nul1 != NULL ? memchr(nul1 + 1, '\0', len - (size_t)(nul1 + 1 -
	    s)) : NULL;
	if (nul2 == NULL || nul1 == s) {
		j->type = xstrdup("?");
		*cause = xstrdup("malformed job: its packed fields are not "
		    "TYPE NUL CREATED NUL PAYLOAD");
		return j;
	}
	j->type = xmemdup(s, (size_t)(nul1 - s) + 1);
	j->type[nul1 - s] = '\0';
	j->created_ms = strtoll(nul1 + 1, &end, 10);
	j->due_ms = *end == ' ' ? strtoll(end + 1, NULL, 10) : j->created_ms;
	off = (size_t)(nul2 + 1 - s);
	v = job_take_str(e->element[1], &len);
	memmove(v, v + off, len - off);
	v[len - off] = '\0';
	j->payload = v;
	j->payload_len = len - off;
	return j;
}

/*
 * How long the job has waited since it was due: by Redis's clock up to
 * its claim, then by ours, so that no two hosts' clocks are compared.
 */
uint64_t
job_wait_us(const struct job *j)
{
	uint64_t us = j->due_ms > 0 && j->claimed_ms > j->due_ms ?
	    (uint64_t)(j->claimed_ms - j->due_ms) * 1000 : 0;

	return us + (mtime_now_us() - j->claimed_us);
}

/*
 * Free a job. A call in flight would come back to freed memory, and a
 * running handler would report to it: both are programming errors.
 */
void
job_free(struct job *j)
{
	if (j == NULL)
		return;
	assert(j->calls == 0);
	assert(j->h == NULL && j->pc == NULL);
	hold_free(j->hold);
	free(j->id);
	free(j->type);
	free(j->token);
	free(j->key);
	free(j->payload);
	free(j->error);
	free(j->result);
	free(j->reserved);
	free(j->guard.text);
	free(j);
}

/* The job's own max_attempts, else its type's. */
unsigned
job_max_attempts(const struct job *j)
{
	if (j->max_attempts != 0)
		return j->max_attempts;
	return j->jc != NULL ? j->jc->retry.max_attempts : 1;
}

/*
 * A call about the job was refused. A refusal that passes by itself
 * (BUSY, OOM, LOADING, no connection) is only retried. Any other (NOPERM,
 * a schema mismatch, an unknown reply) JOB_REFUSALS_MAX times in a row
 * means retrying cannot help: returns 1 (after logging it), and the
 * worker lets go of the job, whose lease then returns it, instead of
 * holding a slot for ever. Returns 0 to retry.
 */
int
job_refused(struct job *j, const char *what, const char *why, int transient)
{
	if (transient || ++j->errors < JOB_REFUSALS_MAX)
		return 0;
	log_errx("job %s: %s refused %u times (%s); giving up on it, its "
	    "lease will return it", j->id, what, JOB_REFUSALS_MAX, why);
	return 1;
}

/* A call about the job succeeded: the refusals in a row end. */
void
job_accepted(struct job *j)
{
	j->errors = 0;
}

/*
 * Make a failure's text fit what redjob_fail keeps, JOB_ERROR_MAX bytes,
 * which it cuts from the front: keep the reason (the first reason_len
 * bytes, "exit 3: ") whole and cut the stderr tail after it instead,
 * marking the cut with "...".
 */
static void
job_fit_error(char **msg, size_t reason_len)
{
	size_t len = strlen(*msg), keep;
	char *fit;

	if (len <= JOB_ERROR_MAX || reason_len + 3 >= JOB_ERROR_MAX)
		return;
	keep = JOB_ERROR_MAX - reason_len - 3;
	fit = xmalloc(JOB_ERROR_MAX + 1);
	memcpy(fit, *msg, reason_len);
	memcpy(fit + reason_len, "...", 3);
	memcpy(fit + reason_len + 3, *msg + len - keep, keep + 1);
	free(*msg);
	*msg = fit;
}

/*
 * Judge a handler's outcome (docs/redjobd.8, handlers): exit 0 is done,
 * 65 (EX_DATAERR) a permanent failure, anything else a failure to retry,
 * and a stop by a shutdown puts the job back. A job whose lock was lost
 * while it ran goes back to its queue unless it succeeded, as a stall,
 * not a failed attempt: its handler was stopped, or may have failed
 * because of the other holder, through no fault of the job.
 * *msg is set to the failure's text (the stderr tail after the reason),
 * or NULL; the caller frees it.
 */
enum job_verdict
job_judge(const struct job *j, const struct handler_result *res,
    int lock_lost, const char *lock_key, char **msg)
{
	const char *tail = res->stderr_len > 0 ? res->stderr_tail : "";
	const char *sep = *tail != '\0' ? ": " : "";
	const char *how = j->plugin ? "returned" : "exit";
	enum job_verdict v = JOB_VERDICT_RETRY;
	char dur[64];

	*msg = NULL;
	/* Its "done" line comes once Redis has the ack (log_job). */
	if (res->outcome == HANDLER_EXITED && res->status == 0)
		return JOB_VERDICT_DONE;
	if (lock_lost) {
		xasprintf(msg, "lock lost: %s was taken from this job while "
		    "its handler ran (it expired or was deleted)", lock_key);
		return JOB_VERDICT_LOCK_LOST;
	}
	switch (res->outcome) {
	case HANDLER_EXITED:
		if (res->status == EX_DATAERR) {
			xasprintf(msg, "permanent failure (%s 65)%s%s", how, sep,
			    tail);
			v = JOB_VERDICT_DEAD;
		} else
			xasprintf(msg, "%s %d%s%s", how, res->status, sep,
			    tail);
		break;
	case HANDLER_SIGNALED:
		xasprintf(msg, "killed by signal %d (%s)%s%s", res->status,
		    strsignal(res->status), sep, tail);
		break;
	case HANDLER_TIMEOUT:
		xasprintf(msg, "timed out after %s%s%s", duration_format(
		    j->jc->timeout_ms, dur, sizeof dur), sep, tail);
		break;
	case HANDLER_STOPPED:
		return JOB_VERDICT_REQUEUE;
	case HANDLER_EXEC_FAILED:
		if (res->exec_path == NULL) {
			*msg = xstrdup(tail);
			break;
		}
		/*
		 * Its program or directory is missing or unusable: every
		 * attempt would fail alike until the configuration (or the
		 * file) is fixed, and the job did nothing wrong.
		 */
		xasprintf(msg, "spawn failed: %s%s: %s", res->exec_chdir ?
		    "chdir: " : "", strerror(res->status), res->exec_path);
		job_fit_error(msg, strlen(*msg));
		return JOB_VERDICT_CONFIG;
	}
	job_fit_error(msg, strlen(*msg) - strlen(tail));
	return v;
}

/* The reason redjob_requeue is given (docs/protocol.md). */
const char *
job_requeue_reason(enum job_requeue why)
{
	switch (why) {
	case JOB_REQUEUE_SHUTDOWN:
		return "shutdown";
	case JOB_REQUEUE_THROTTLED:
		return "throttled";
	case JOB_REQUEUE_CONFLICT:
		return "conflict";
	case JOB_REQUEUE_LOCK_LOST:
		return "lock_lost";
	case JOB_REQUEUE_UNKNOWN_TYPE:
		return "unknown_type";
	}
	return "shutdown";
}

/*
 * The environment of an exec handler: nothing of the worker's own, path
 * (the configuration's handler_path) as PATH unless the job type sets one, the REDJOB_* variables
 * (REDJOB_FENCE when fence is not NULL, REDJOB_TICK for a periodic job),
 * then the type's env:. Free with
 * job_env_free().
 */
char **
job_env(const struct job *j, const char *fence, const char *path)
{
	const struct job_conf *jc = j->jc;
	char **env;
	size_t n = 0, i;

	env = xcalloc(10 + jc->nenv, sizeof *env);
	for (i = 0; i < jc->nenv && strcmp(jc->env[i].name, "PATH") != 0; i++)
		;
	if (i == jc->nenv)
		xasprintf(&env[n++], "PATH=%s", path);
	xasprintf(&env[n++], "REDJOB_JOB_ID=%s", j->id);
	xasprintf(&env[n++], "REDJOB_JOB_TYPE=%s", j->type);
	xasprintf(&env[n++], "REDJOB_QUEUE=%s", j->queue);
	xasprintf(&env[n++], "REDJOB_ATTEMPT=%u", j->attempts + 1);
	xasprintf(&env[n++], "REDJOB_MAX_ATTEMPTS=%u", job_max_attempts(j));
	xasprintf(&env[n++], "REDJOB_KEY=%s", j->key != NULL ? j->key : "");
	if (j->tick_ms > 0)
		xasprintf(&env[n++], "REDJOB_TICK=%lld", j->tick_ms);
	if (fence != NULL)
		xasprintf(&env[n++], "REDJOB_FENCE=%s", fence);
	for (i = 0; i < jc->nenv; i++)
		xasprintf(&env[n++], "%s=%s", jc->env[i].name,
		    jc->env[i].value);
	env[n] = NULL;
	return env;
}

void
job_env_free(char **env)
{
	size_t i;

	for (i = 0; env[i] != NULL; i++)
		free(env[i]);
	free(env);
}

/*
 * Fill the plugin ABI's view of the job. Its strings point into j;
 * handler_plugin_start() copies them for the call.
 */
void
job_plugin(const struct job *j, const char *fence,
    struct redjob_plugin_job *pj)
{
	memset(pj, 0, sizeof *pj);
	pj->abi = REDJOB_PLUGIN_ABI;
	pj->id = j->id;
	pj->type = j->type;
	pj->queue = j->queue;
	pj->key = j->key != NULL ? j->key : "";
	pj->payload = j->payload;
	pj->payload_len = j->payload_len;
	pj->attempt = j->attempts + 1;
	pj->max_attempts = job_max_attempts(j);
	pj->fence = fence != NULL ? strtoull(fence, NULL, 10) : 0;
	pj->result_max = j->jc != NULL ? j->jc->result_max : 0;
}
