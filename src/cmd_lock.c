/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * redjob lock: a distributed flock(1). It takes the lock NAME with the
 * same function and the same key as redjobd takes a job's lock
 * (redjob_lock_acquire on NS:lock:{NAME}, docs/guards.md), runs COMMAND
 * in its own process group while renewing the lock every third of its
 * TTL, and releases it (compare-and-delete) when COMMAND ends. COMMAND
 * is started, stopped and reaped by handler_exec, the launcher of
 * redjobd's handlers, as a command run from a shell: the caller's stdio
 * and descriptors, a PATH search, the terminal's foreground group.
 * The contract, the same as a job's lock in redjobd (docs/guards.md):
 *
 *   - the token is 128 random bits, fresh for this acquisition;
 *   - the lock is valid, by our own monotonic clock, until the TTL minus
 *     a margin counted from when the last successful renewal was *sent*;
 *   - a lost lock (renewal answers 0, or that validity ends while Redis
 *     cannot be reached) stops COMMAND: SIGTERM to its group, SIGKILL
 *     after a grace, and the exit status says "lost" (69), never
 *     COMMAND's own status, since COMMAND did not finish under the lock.
 *
 * The acquisition and the release use the CLI's synchronous client,
 * which reports "Redis is down" as one clear line. While COMMAND runs,
 * a libevent loop owns the process: the renewals go through an rconn
 * (asynchronous, with a deadline per call and reconnection), so neither
 * a hung Redis nor a slow reply can delay the validity check, the
 * forwarding of signals or the reaping of COMMAND.
 *
 * Exit statuses: COMMAND's (128 + N if signal N killed it; for the
 * forwarded SIGINT, SIGTERM and SIGHUP redjob dies of N itself), 75
 * (EX_TEMPFAIL) when the lock is not had within --wait, 69
 * (EX_UNAVAILABLE) when it was lost while COMMAND ran, 126/127 when
 * COMMAND cannot be run, 1 and 2 as for every command. 69 is not 75 so
 * that a script can tell "did not run, try again" from "was stopped
 * part way".
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "redjob.h"
#include "client.h"
#include "cmd.h"
#include "config.h"
#include "duration.h"
#include "guard.h"
#include "handler_child.h"
#include "handler_exec.h"
#include "backoff.h"
#include "lock.h"
#include "mtime.h"
#include "rconn.h"
#include "rfunc.h"
#include "schema.h"
#include "template.h"
#include "token.h"
#include "url.h"
#include "xmalloc.h"

#define CMD_LOCK_TTL_DEFAULT_MS	60000
#define CMD_LOCK_TTL_MIN_MS		1000
#define CMD_LOCK_POLL_MIN_MS	100	/* between tries while it is taken */
#define CMD_LOCK_POLL_MAX_MS	500
#define CMD_LOCK_KILL_GRACE_MS	5000	/* SIGTERM, then SIGKILL */
#define CMD_LOCK_CALL_MIN_MS	500	/* deadline of one renewal */
#define CMD_LOCK_CALL_MAX_MS	5000

/* Part of the interface: redjob(1), EXIT STATUS. */
enum {
	CMD_LOCK_BUSY = EX_TEMPFAIL,	/* 75: not had within --wait */
	CMD_LOCK_LOST = EX_UNAVAILABLE,	/* 69: lost while COMMAND ran */
	CMD_LOCK_NOEXEC = 126,		/* COMMAND cannot be executed */
	CMD_LOCK_NOTFOUND = 127,	/* COMMAND not found */
};

/* The signals forwarded to COMMAND's process group. */
static const int lock_forwarded[] = { SIGINT, SIGTERM, SIGHUP };

/* One run of redjob lock. */
struct lock_run {
	struct cmd_ctx		*ctx;
	const char		*name;		/* as given */
	char			*key;		/* NS:lock:{escaped NAME} */
	char			 token[TOKEN_LEN];	/* 128 bits, hex */
	char			 ttl_arg[24];
	uint64_t		 ttl_ms;
	char			*fence;
	char			**cmd;		/* COMMAND ARG... */
	sigset_t		 fwd;		/* forwarded: not ignored */
	sigset_t		 ignored;	/* by our caller: COMMAND's too */
	sigset_t		 mask;		/* our caller's: COMMAND's */
	int			*inherited;	/* fds > 2 open at start */
	size_t			 ninherited;

	struct handler_exec	*h;		/* COMMAND until it is reaped */
	int			 wstatus;
	int			 reaped;
	int			 exec_error;	/* errno: it could not run */

	struct event_base	*base;
	struct rconn		*rc;
	struct lock		*holder;	/* renews it while COMMAND runs */
	struct event		*sig_ev[nitems(lock_forwarded)];
	uint64_t		 sent;		/* when it was sent */
	uint64_t		 valid_until;	/* monotonic ms */
	char			 last_error[256];
	int			 lost;
};

static int	cmd_lock_exec(struct cmd_ctx *, const struct cmd_entry *, int,
		    char **);

const struct cmd_entry cmd_lock_entry = {
	"lock",
	"[--ttl DURATION] [--wait DURATION] NAME -- COMMAND [ARG...]",
	"run a command under a distributed lock (a flock(1) on Redis)",
	"Take the lock NAME in Redis, run COMMAND while holding it, and\n"
	"release it when COMMAND ends: a flock(1) shared by every host that\n"
	"uses the same Redis. The lock is renewed every third of its TTL\n"
	"while COMMAND runs. It is the lock redjobd takes for a job whose\n"
	"lock key renders to NAME (key NS:lock:{NAME}).\n"
	"\n"
	"COMMAND runs in its own process group (the terminal's foreground\n"
	"group if redjob has the terminal and is not in a pipeline) with\n"
	"the environment of redjob plus REDJOB_LOCK=NAME and REDJOB_FENCE=N,\n"
	"a fencing token larger than that of every earlier holder of NAME:\n"
	"pass it to the systems COMMAND writes to, so they can refuse a\n"
	"stale holder.\n"
	"SIGINT, SIGTERM and SIGHUP are forwarded to COMMAND's group.\n"
	"\n"
	"If the lock is lost while COMMAND runs (another holder has it, or\n"
	"Redis could not be reached to renew it in time), COMMAND's group\n"
	"gets SIGTERM, then SIGKILL 5s later, and redjob exits 69.\n"
	"\n"
	"Options (before NAME):\n"
	"  --ttl DURATION           how long the lock outlives a silent\n"
	"                           holder (default 60s, at least 1s)\n"
	"  --wait DURATION          keep trying this long while another\n"
	"                           holds it (default 0: try once)\n"
	"\n"
	"Exit status: COMMAND's (128+N if signal N killed it); 75 if the\n"
	"lock was not had within --wait; 69 if it was lost while COMMAND\n"
	"ran; 126 or 127 if COMMAND could not be run; 1 on an error (Redis\n"
	"unreachable); 2 on a usage error.\n"
	"\n"
	"Examples:\n"
	"  redjob lock nightly-backup -- /usr/local/bin/backup --full\n"
	"  redjob lock --wait 5m --ttl 30s deploy -- make deploy\n"
	"  redjob lock report:7 -- sh -c 'report --fence \"$REDJOB_FENCE\"'\n",
	cmd_lock_exec
};

/*
 * Call library function fn on the lock's key with argc arguments,
 * synchronously, through the CLI's one FCALL: if the library is missing
 * from Redis (FUNCTION FLUSH while we waited), it is loaded and the call
 * made once more. Returns the reply (never an error reply; caller frees)
 * or NULL with the client's error set.
 */
static redisReply *
cmd_lock_call(struct lock_run *lr, const char *fn, int argc,
    const char **args)
{
	return client_fcall_key(lr->ctx->client, fn, 0, lr->key, argc, args,
	    NULL);
}

/*
 * Try to take the lock once. Returns 1 (taken: lr->fence is set), 0
 * (held by another: *pttl is its remaining TTL, -1 if it has none), or
 * -1 after printing the error.
 */
static int
cmd_lock_try(struct lock_run *lr, long long *pttl)
{
	const char *args[] = { lr->token, lr->ttl_arg };
	redisReply *r, *e0, *e1;
	int rc = -1;

	/* The validity of a grant runs from when it was asked for. */
	lr->sent = mtime_now();
	if ((r = cmd_lock_call(lr, "redjob_lock_acquire", 2, args)) == NULL) {
		cmd_client_error(lr->ctx);
		return -1;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_INTEGER) {
		cmd_error("unexpected reply to redjob_lock_acquire");
		goto out;
	}
	e0 = r->element[0];
	e1 = r->element[1];
	if (e0->integer == 1 && e1->type == REDIS_REPLY_STRING) {
		lr->fence = xstrdup(e1->str);
		rc = 1;
	} else if (e0->integer == 0 && e1->type == REDIS_REPLY_INTEGER) {
		*pttl = e1->integer;
		rc = 0;
	} else
		cmd_error("unexpected reply to redjob_lock_acquire");
out:
	freeReplyObject(r);
	return rc;
}

/*
 * Wait up to ms for one of the forwarded signals, which are blocked; with
 * ms 0, only look for one that is pending. Returns the signal, or 0 when
 * the time passed.
 */
static int
cmd_lock_sleep(const struct lock_run *lr, uint64_t ms)
{
	struct timespec ts;
	uint64_t end = mtime_now() + ms, now, left;
	int sig;

	do {
		now = mtime_now();
		left = end > now ? end - now : 0;
		ts.tv_sec = (time_t)(left / 1000);
		ts.tv_nsec = (long)(left % 1000) * 1000000;
		if ((sig = sigtimedwait(&lr->fwd, NULL, &ts)) > 0)
			return sig;
	} while (mtime_now() < end);
	return 0;
}

/*
 * Take the lock, trying again until wait_ms has passed while another
 * holds it: between tries, sleep until its TTL ends but no longer than
 * 100-500 ms (with jitter, so that waiters do not move in step), and
 * never past the deadline. Returns 0 when taken, else the exit status.
 */
static int
cmd_lock_acquire(struct lock_run *lr, uint64_t wait_ms)
{
	uint64_t deadline = mtime_now() + wait_ms, now, ms;
	long long pttl = -1;
	int rc, sig;

	for (;;) {
		if ((rc = cmd_lock_try(lr, &pttl)) == 1)
			return 0;
		if (rc < 0)
			return CMD_ERROR;
		if ((now = mtime_now()) >= deadline)
			break;
		/* Jittered, to spread the clients that poll together. */
		ms = CMD_LOCK_POLL_MIN_MS + backoff_jitter(CMD_LOCK_POLL_MAX_MS -
		    CMD_LOCK_POLL_MIN_MS);
		if (pttl >= 0 && (uint64_t)pttl < ms)
			ms = pttl > 0 ? (uint64_t)pttl : 1;
		if (ms > deadline - now)
			ms = deadline - now;
		if ((sig = cmd_lock_sleep(lr, ms)) != 0)
			return 128 + sig;
	}
	fflush(stdout);
	if (pttl >= 0)
		fprintf(stderr, "redjob: lock %s is held by another (expires "
		    "in %lld ms)\n", lr->name, pttl);
	else
		fprintf(stderr, "redjob: lock %s is held by another (it has "
		    "no expiry)\n", lr->name);
	return CMD_LOCK_BUSY;
}

/*
 * Make the jobs waiting for the lock due, as a worker's release does
 * (lock.c): the waiter the release handed over, then the next while the
 * one woken is gone, a few at most. A failure leaves them to the due
 * time they were requeued with.
 */
static void
cmd_lock_wake(struct lock_run *lr, const redisReply *w)
{
	char queue[SCHEMA_KEY_MAX], base[SCHEMA_KEY_MAX];
	const char *args[1];
	redisReply *r, *next = NULL;
	int hops, gone;

	for (hops = 0; hops < 8; hops++) {
		if (w->type != REDIS_REPLY_STRING || w->len == 0 ||
		    schema_job_queue(w->str, queue, sizeof queue) != 0 ||
		    schema_queue_base(base, sizeof base,
		    client_namespace(lr->ctx->client), queue) != 0)
			break;
		args[0] = w->str;
		r = client_fcall_key(lr->ctx->client, "redjob_wake", 0, base,
		    1, args, NULL);
		gone = r != NULL && r->type == REDIS_REPLY_INTEGER &&
		    r->integer == 0;
		if (r != NULL)
			freeReplyObject(r);
		if (!gone || (r = cmd_lock_call(lr, "redjob_lock_next", 0,
		    NULL)) == NULL)
			break;
		if (next != NULL)
			freeReplyObject(next);
		next = r;
		w = r;
	}
	if (next != NULL)
		freeReplyObject(next);
}

/*
 * Release the lock: compare-and-delete, so it can only delete our own
 * grant. Returns 1 (released), 0 (it was no longer ours) or -1 (Redis
 * could not be asked; the client's error says why).
 */
static int
cmd_lock_release(struct lock_run *lr)
{
	const char *args[] = { lr->token, "next" };
	redisReply *r;
	int rc;

	if ((r = cmd_lock_call(lr, "redjob_lock_release", 2, args)) == NULL)
		return -1;
	rc = r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[0]->type == REDIS_REPLY_INTEGER &&
	    r->element[0]->integer == 1;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2)
		cmd_lock_wake(lr, r->element[1]);
	freeReplyObject(r);
	return rc;
}

/*
 * The deadline of one renewal: a third of the TTL, so a hung call
 * leaves time for another, within 0.5 to 5 s.
 */
static uint64_t
cmd_lock_call_ms(uint64_t ttl_ms)
{
	uint64_t ms = ttl_ms / 3;

	if (ms < CMD_LOCK_CALL_MIN_MS)
		ms = CMD_LOCK_CALL_MIN_MS;
	return ms > CMD_LOCK_CALL_MAX_MS ? CMD_LOCK_CALL_MAX_MS : ms;
}

/*
 * The lock is lost: say so, stop COMMAND's group (SIGTERM now, SIGKILL
 * after the grace; within within_ms, when that is not UINT64_MAX, so
 * that it is gone before Redis can let another have the lock); the holder has stopped renewing. A holder that
 * cannot prove it still holds the lock must not go on working under it.
 */
static void
cmd_lock_lose(struct lock_run *lr, const char *why, uint64_t within_ms)
{
	if (lr->lost || lr->reaped)
		return;
	lr->lost = 1;
	fflush(stdout);
	fprintf(stderr, "redjob: lock %s: %s\n", lr->name, why);
	fprintf(stderr, "redjob: lock %s lost while %s ran; stopping it\n",
	    lr->name, lr->cmd[0]);
	/* Gone before Redis can give the lock to another. */
	if (within_ms != UINT64_MAX)
		handler_exec_stop_within(lr->h, within_ms);
	else
		handler_exec_stop(lr->h);
}

/*
 * News from the lock holder (src/lock.c) while COMMAND runs: a renewal
 * that failed without an answer about the lock is said once per streak
 * (the holder retries, and its validity decides when it is lost), its
 * end once, and a loss stops COMMAND.
 */
static void
cmd_lock_holder_cb(struct lock *l, enum lock_event ev, const char *why,
    enum rfunc_class class, void *arg)
{
	struct lock_run *lr = arg;
	uint64_t now = mtime_now(), until = lock_valid_until(l);

	(void)class;
	if (lr->lost || lr->reaped)
		return;
	switch (ev) {
	case LOCK_RENEW_FAILED:
		fflush(stdout);
		fprintf(stderr, "redjob: lock %s: cannot renew it (%s); "
		    "retrying for %llu ms\n", lr->name, why,
		    (unsigned long long)(until > now ? until - now : 0));
		break;
	case LOCK_RENEWED:
		fflush(stdout);
		fprintf(stderr, "redjob: lock %s: renewed again\n", lr->name);
		break;
	case LOCK_LOST:
		/* Killed halfway to when Redis can let the lock go. */
		cmd_lock_lose(lr, why, lock_expires_at(l) == 0 ? UINT64_MAX :
		    lock_expires_at(l) > now ? (lock_expires_at(l) - now) / 2 :
		    0);
		break;
	default:
		break;
	}
}

/* Forward SIGINT, SIGTERM or SIGHUP to COMMAND's group. */
static void
cmd_lock_signal_cb(evutil_socket_t sig, short events, void *arg)
{
	struct lock_run *lr = arg;

	(void)events;
	if (lr->h != NULL)
		(void)handler_exec_kill(lr->h, (int)sig);
}

/*
 * COMMAND has ended and is reaped, or could not be executed: keep how,
 * and leave the loop. After a lost lock, handler_exec has also killed
 * what COMMAND left in its group: it must not run on without the lock
 * either. Runs from the loop; lr->h is freed when this returns.
 */
static void
cmd_lock_done_cb(const struct handler_result *res, void *arg)
{
	struct lock_run *lr = arg;

	lr->h = NULL;
	lr->reaped = 1;
	lr->wstatus = res->wstatus;
	if (res->outcome == HANDLER_EXEC_FAILED)
		lr->exec_error = res->status;
	event_base_loopbreak(lr->base);
}

/*
 * Start COMMAND as a command run from a shell: the caller's stdio, signal
 * mask and ignored signals, the descriptors redjob inherited, a PATH
 * search, the terminal's foreground group if redjob's group holds it, and
 * the environment plus REDJOB_LOCK and REDJOB_FENCE. Returns 0, or the
 * exit status after printing why no process could be started; a COMMAND
 * that cannot be executed is reported to cmd_lock_done_cb.
 */
static int
cmd_lock_start(struct lock_run *lr)
{
	struct handler_exec_spec spec;
	char **env, *cause = NULL;
	size_t n, i;

	for (n = 0; environ[n] != NULL; n++)
		;
	env = xreallocarray(NULL, n + 3, sizeof *env);
	for (i = n = 0; environ[i] != NULL; i++) {
		if (strncmp(environ[i], "REDJOB_LOCK=", 12) != 0 &&
		    strncmp(environ[i], "REDJOB_FENCE=", 13) != 0)
			env[n++] = environ[i];
	}
	xasprintf(&env[n], "REDJOB_LOCK=%s", lr->name);
	xasprintf(&env[n + 1], "REDJOB_FENCE=%s", lr->fence);
	env[n + 2] = NULL;

	memset(&spec, 0, sizeof spec);
	spec.argv = lr->cmd;
	spec.envp = env;
	spec.kill_grace_ms = CMD_LOCK_KILL_GRACE_MS;
	spec.log_id = lr->name;
	spec.inherit_stdio = 1;
	spec.keep_fds = lr->inherited;
	spec.nkeep_fds = lr->ninherited;
	spec.search_path = 1;
	spec.foreground = 1;
	spec.sigmask = &lr->mask;
	spec.sigignore = &lr->ignored;
	/*
	 * If redjob dies (kill -9), nobody renews the lock any more:
	 * COMMAND must not carry on believing it holds it.
	 */
	spec.pdeath_signal = SIGTERM;
	spec.keep_limits = 1;
	spec.quiet = 1;
	fflush(NULL);
	lr->h = handler_exec_start(lr->base, &spec, cmd_lock_done_cb, lr,
	    &cause);
	free(env[n]);
	free(env[n + 1]);
	free(env);
	if (lr->h == NULL) {
		cmd_error("%s", cause);
		free(cause);
		return CMD_ERROR;
	}
	return 0;
}

/*
 * What the renewals' connection reports. A refusal for good (a password
 * or an ACL refused, an incompatible library) is shown at once, in the
 * CLI's form: no renewal can succeed after it. Lost connections and
 * reconnects are not: one that passes between two renewals does not
 * matter, and one that lasts makes a renewal fail, which
 * cmd_lock_renew_failed() reports once per streak with the cause.
 */
static void
cmd_lock_redis_event_cb(struct rconn *rc, enum rconn_event ev,
    const char *cause, void *arg)
{
	struct lock_run *lr = arg;

	(void)rc;
	if (ev == RCONN_EVENT_FATAL)
		cmd_error("lock %s: %s", lr->name, cause);
}

/* The URL the synchronous client used: -u or -c, $REDJOB_URL, default. */
static const char *
cmd_lock_url(const struct cmd_ctx *ctx)
{
	const char *url = ctx->url;

	if (url == NULL)
		url = getenv("REDJOB_URL");
	if (url == NULL || *url == '\0')
		url = URL_DEFAULT;
	return url;
}

/*
 * Start COMMAND and run the loop while it runs: renew, check the
 * validity, forward signals, reap. Returns 0 once it has ended or could
 * not be executed (lr->exec_error), or CMD_ERROR after printing why it
 * was not started.
 */
static int
cmd_lock_run(struct lock_run *lr)
{
	struct rconn_opts opts;
	struct sigaction sa;
	sigset_t set;
	char *cause = NULL;
	size_t i;
	int rc = 0;

	/* hiredis writes to a socket the server may have closed. */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	lr->base = event_base_new();
	if (lr->base == NULL) {
		rc = cmd_error("cannot create an event loop");
		goto fail;
	}
	memset(&opts, 0, sizeof opts);
	opts.url = cmd_lock_url(lr->ctx);
	opts.name = "redjob-lock";
	opts.load_library = 1;
	opts.on_event = cmd_lock_redis_event_cb;
	opts.event_arg = lr;
	if ((lr->rc = rconn_create(lr->base, &opts, &cause)) == NULL) {
		rc = cmd_error("%s", cause);
		free(cause);
		goto fail;
	}
	lr->holder = lock_create(lr->base, lr->rc, lr->key, lr->ttl_ms,
	    cmd_lock_call_ms(lr->ttl_ms), cmd_lock_holder_cb, lr);
	sigemptyset(&set);
	for (i = 0; i < nitems(lr->sig_ev); i++) {
		if (!sigismember(&lr->fwd, lock_forwarded[i]))
			continue;
		lr->sig_ev[i] = evsignal_new(lr->base, lock_forwarded[i],
		    cmd_lock_signal_cb, lr);
		evsignal_add(lr->sig_ev[i], NULL);
		sigaddset(&set, lock_forwarded[i]);
	}
	/* COMMAND is reaped through handler_exec's SIGCHLD event. */
	if (handler_exec_init(lr->base) != 0) {
		rc = cmd_error("cannot watch for SIGCHLD");
		goto fail;
	}
	sigaddset(&set, SIGCHLD);
	if ((rc = cmd_lock_start(lr)) != 0)
		goto fail;
	/* Signals that came since the lock was taken reach the loop now. */
	sigprocmask(SIG_UNBLOCK, &set, NULL);

	lock_hold(lr->holder, lr->token, lr->fence, lr->sent);
	event_base_dispatch(lr->base);
	/* Until we exit: a signal now must not kill us before the release. */
	sigprocmask(SIG_BLOCK, &set, NULL);

fail:
	/* COMMAND is started last: nothing of it is left to stop here. */
	handler_exec_shutdown();
	for (i = 0; i < nitems(lr->sig_ev); i++) {
		if (lr->sig_ev[i] != NULL)
			event_free(lr->sig_ev[i]);
	}
	if (lr->holder != NULL) {
		/* What cmd_lock_finish() needs of it. */
		lr->valid_until = lock_valid_until(lr->holder);
		snprintf(lr->last_error, sizeof lr->last_error, "%s",
		    lock_last_error(lr->holder));
		lock_free(lr->holder);
	}
	rconn_free(lr->rc);
	if (lr->base != NULL)
		event_base_free(lr->base);
	return rc;
}

/*
 * After COMMAND ended: release the lock and choose the exit status.
 * COMMAND's own status only if the lock was ours until it ended.
 */
static int
cmd_lock_finish(struct lock_run *lr)
{
	int released;

	if (lr->lost) {
		/* Compare-and-delete: harmless if another holds it now. */
		cmd_lock_release(lr);
		return CMD_LOCK_LOST;
	}
	if (mtime_now() > lr->valid_until) {
		cmd_lock_release(lr);
		fflush(stdout);
		fprintf(stderr, "redjob: lock %s was not renewed within its "
		    "TTL before %s ended (%s)\n", lr->name, lr->cmd[0],
		    lr->last_error[0] != '\0' ? lr->last_error : "no answer");
		return CMD_LOCK_LOST;
	}
	if ((released = cmd_lock_release(lr)) == 0) {
		fflush(stdout);
		fprintf(stderr, "redjob: lock %s was lost before %s ended "
		    "(redis no longer held our token)\n", lr->name,
		    lr->cmd[0]);
		return CMD_LOCK_LOST;
	}
	if (released < 0) {
		/* It was ours throughout; its TTL will free it. */
		fflush(stdout);
		fprintf(stderr, "redjob: cannot release lock %s (%s); it "
		    "expires within %llu ms\n", lr->name,
		    redjob_errstr(lr->ctx->client),
		    (unsigned long long)lr->ttl_ms);
	}
	if (WIFSIGNALED(lr->wstatus))
		return 128 + WTERMSIG(lr->wstatus);
	return WEXITSTATUS(lr->wstatus);
}

/*
 * Parse the command line: options, NAME, an optional "--", COMMAND.
 * Returns 0 or CMD_USAGE (or CMD_OK for --help, with *done set).
 */
static int
cmd_lock_parse(struct lock_run *lr, const struct cmd_entry *self, int argc,
    char **argv, uint64_t *wait_ms, int *done)
{
	static const struct option longopts[] = {
		{ "ttl", required_argument, NULL, 't' },
		{ "wait", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	char *cause, buf[32];
	int ch;

	lr->ttl_ms = CMD_LOCK_TTL_DEFAULT_MS;
	*wait_ms = 0;
	/* "+": COMMAND's arguments are its own, not ours. */
	while ((ch = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 't':
			if (duration_parse(optarg, &lr->ttl_ms, &cause) != 0) {
				cmd_usage(self, "--ttl: %s", cause);
				free(cause);
				return CMD_USAGE;
			}
			if (lr->ttl_ms < CMD_LOCK_TTL_MIN_MS)
				return cmd_usage(self, "--ttl %s is too short "
				    "(at least %s)", optarg, duration_format(
				    CMD_LOCK_TTL_MIN_MS, buf, sizeof buf));
			break;
		case 'w':
			if (duration_parse(optarg, wait_ms, &cause) != 0) {
				cmd_usage(self, "--wait: %s", cause);
				free(cause);
				return CMD_USAGE;
			}
			break;
		case 'h':
			*done = 1;
			return cmd_help(self);
		default:
			return cmd_bad_option(self, ch, argv);
		}
	}
	if (optind >= argc)
		return cmd_usage(self, "no lock NAME given");
	lr->name = argv[optind++];
	if (*lr->name == '\0')
		return cmd_usage(self, "the lock NAME is empty");
	if (optind < argc && strcmp(argv[optind], "--") == 0)
		optind++;
	else if (optind < argc && argv[optind][0] == '-')
		return cmd_usage(self, "\"%s\" after NAME: options go before "
		    "NAME, and \"--\" separates NAME from COMMAND",
		    argv[optind]);
	if (optind >= argc)
		return cmd_usage(self, "no COMMAND given");
	lr->cmd = argv + optind;
	return 0;
}

/*
 * End as COMMAND ended: killed by sig, which redjob forwards. The shell
 * that ran redjob then sees a death by SIGINT rather than an exit status
 * of 130, and stops its script as it would for COMMAND itself (bash's
 * "wait and cooperative exit"). Returns only if sig did not kill us.
 */
static void
cmd_lock_die(int sig)
{
	struct sigaction sa;
	sigset_t set;

	fflush(NULL);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigaction(sig, &sa, NULL);
	raise(sig);
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
}

/* Parse the options of lock, take the lock, run COMMAND, release. */
static int
cmd_lock_exec(struct cmd_ctx *ctx, const struct cmd_entry *self, int argc,
    char **argv)
{
	struct lock_run lr;
	struct lock_conf lk;
	struct template_vars v;
	sigset_t block;
	char tpl[] = "{key}";
	uint64_t wait_ms;
	size_t i;
	int rc, done = 0, die = 0;

	memset(&lr, 0, sizeof lr);
	lr.ctx = ctx;
	if ((rc = cmd_lock_parse(&lr, self, argc, argv, &wait_ms,
	    &done)) != 0 || done)
		return rc;
	snprintf(lr.ttl_arg, sizeof lr.ttl_arg, "%llu",
	    (unsigned long long)lr.ttl_ms);

	/*
	 * What COMMAND inherits from our caller, before we open or ignore
	 * anything. Descriptors that cannot be listed are all closed.
	 */
	(void)handler_child_open_fds(&lr.inherited, &lr.ninherited, NULL);
	handler_child_ignored(&lr.ignored);

	if (cmd_connect(ctx) == NULL) {
		rc = CMD_ERROR;
		goto out;
	}
	/*
	 * The daemon's key for a lock whose template renders to NAME: NAME
	 * is escaped as a {key} value is, so it cannot close the hash tag.
	 */
	memset(&lk, 0, sizeof lk);
	lk.key = tpl;
	memset(&v, 0, sizeof v);
	v.key = lr.name;
	lr.key = guard_lock_key(client_namespace(ctx->client), &lk, &v);
	token_make(lr.token);

	/*
	 * From here on the forwarded signals and SIGCHLD are blocked: they
	 * are waited for while polling, and delivered to the loop once
	 * COMMAND runs, so none is lost in between. A signal our caller
	 * ignores (SIGINT in a background job of a script) stays ignored:
	 * it is neither forwarded nor waited for.
	 */
	sigemptyset(&lr.fwd);
	for (i = 0; i < nitems(lock_forwarded); i++) {
		if (!sigismember(&lr.ignored, lock_forwarded[i]))
			sigaddset(&lr.fwd, lock_forwarded[i]);
	}
	block = lr.fwd;
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, &lr.mask);

	if ((rc = cmd_lock_acquire(&lr, wait_ms)) != 0) {
		if (rc > 128)
			die = rc - 128;
		goto restore;
	}
	/* Interrupted while the last try was taking the lock? */
	if ((die = cmd_lock_sleep(&lr, 0)) != 0) {
		cmd_lock_release(&lr);
		rc = 128 + die;
		goto restore;
	}
	lr.valid_until = lr.sent + lock_validity_ms(lr.ttl_ms);
	if ((rc = cmd_lock_run(&lr)) == 0 && lr.exec_error != 0) {
		cmd_error("cannot run %s: %s", lr.cmd[0],
		    strerror(lr.exec_error));
		cmd_lock_release(&lr);
		rc = lr.exec_error == ENOENT ? CMD_LOCK_NOTFOUND :
		    CMD_LOCK_NOEXEC;
	} else if (rc == 0) {
		rc = cmd_lock_finish(&lr);
		if (rc > 128 && WIFSIGNALED(lr.wstatus) &&
		    rc == 128 + WTERMSIG(lr.wstatus) &&
		    sigismember(&lr.fwd, WTERMSIG(lr.wstatus)))
			die = WTERMSIG(lr.wstatus);
	} else
		cmd_lock_release(&lr);
restore:
	sigprocmask(SIG_SETMASK, &lr.mask, NULL);
out:
	free(lr.inherited);
	free(lr.key);
	free(lr.fence);
	explicit_bzero(lr.token, sizeof lr.token);
	if (die != 0)
		cmd_lock_die(die);
	return rc;
}
