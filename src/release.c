/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Releasing a dead worker's jobs (docs/operations.md, "A worker is
 * killed"). A worker's claim tokens begin with the owner id its supervisor
 * gave it, so one call per queue (a few, on a long run set) finds its jobs
 * and makes them due, each counted as a stall. Should this fail for as
 * long as RELEASE_DEADLINE_MS (Redis down), the leases still bring the
 * jobs back when they expire, as they always would.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "backoff.h"
#include "client.h"
#include "config.h"
#include "log.h"
#include "mtime.h"
#include "redjob.h"
#include "release.h"
#include "schema.h"

/*
 * Release owner's jobs of one queue: calls until run has been looked at to
 * its end. Returns the number released, or -1 with *why set.
 */
static long long
release_queue(struct redjob_client *cl, const char *queue, const char *owner,
    unsigned max_stalls, const char **why)
{
	char stalls[16], from[24];
	const char *argv[3];
	redisReply *r;
	long long total = 0, n, next = 0;

	snprintf(stalls, sizeof stalls, "%u", max_stalls);
	argv[0] = owner;
	argv[1] = stalls;
	argv[2] = from;
	while (next >= 0) {
		snprintf(from, sizeof from, "%lld", next);
		if ((r = client_fcall(cl, "redjob_release", 0, queue, 3, argv,
		    NULL)) == NULL) {
			*why = redjob_errstr(cl);
			return -1;
		}
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[1]->type != REDIS_REPLY_STRING) {
			freeReplyObject(r);
			*why = "unexpected reply to redjob_release";
			return -1;
		}
		n = strtoll(r->element[0]->str, NULL, 10);
		next = strtoll(r->element[1]->str, NULL, 10);
		freeReplyObject(r);
		total += n;
	}
	return total;
}

/*
 * Take the dead worker out of the worker registry (beat.c) at once rather
 * than when its entry expires. Best effort: the entry expires anyway.
 */
static void
release_registry(struct redjob_client *cl, const struct config *cfg,
    const char *owner)
{
	char key[SCHEMA_KEY_MAX], set[SCHEMA_KEY_MAX];
	const char *argv[3] = { owner, "0", NULL };
	redisReply *r;
	size_t i;

	for (i = 0; i < cfg->nqueues; i++) {
		r = client_fcall(cl, "redjob_beat", 0, cfg->queues[i].name, 2,
		    argv, NULL);
		freeReplyObject(r);
	}
	if (schema_worker_key(key, sizeof key, cfg->namespace, owner) != 0 ||
	    schema_workers_key(set, sizeof set, cfg->namespace) != 0)
		return;
	argv[0] = "DEL";
	argv[1] = key;
	freeReplyObject(client_command(cl, 2, argv, NULL));
	argv[0] = "SREM";
	argv[1] = set;
	argv[2] = owner;
	freeReplyObject(client_command(cl, 3, argv, NULL));
}

static void
release_sleep(uint64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/*
 * The body of the releaser process the supervisor forks when worker index
 * dies, whose claim tokens began with owner. Returns its exit status.
 */
int
release_run(const struct config *cfg, int index, const char *owner)
{
	struct redjob_client *cl;
	char *url = config_redis_url_auth(cfg);
	const char *why = NULL;
	uint64_t start = mtime_now(), pause = 100;
	long long total = 0, n;
	size_t i, done = 0;
	int err;

	cl = redjob_connect(url, cfg->namespace);
	free(url);
	if (cl == NULL)
		return 1;
	for (;;) {
		/* Queues already done are not done again: n counts once. */
		for (i = done; i < cfg->nqueues; i++) {
			n = release_queue(cl, cfg->queues[i].name, owner,
			    cfg->max_stalls, &why);
			if (n < 0)
				break;
			total += n;
			done++;
		}
		if (done == cfg->nqueues)
			break;
		err = redjob_errcode(cl);
		if (err != REDJOB_ERR_IO && err != REDJOB_ERR_BUSY &&
		    err != REDJOB_ERR_OOM) {
			/* Refused for good (a password, an ACL): no retry. */
			log_warnx("worker %d died; its jobs could not be released "
			    "(%s): they come back when their leases end", index,
			    why);
			redjob_free(cl);
			return 1;
		}
		if (mtime_now() - start + pause > RELEASE_DEADLINE_MS) {
			log_warnx("worker %d died; its jobs could not be released "
			    "(%s): they come back when their leases end", index,
			    why);
			redjob_free(cl);
			return 1;
		}
		release_sleep(pause / 2 + backoff_jitter(pause / 2));
		if (pause < 2000)
			pause *= 2;
	}
	release_registry(cl, cfg, owner);
	if (total > 0)
		log_warnx("worker %d died: %lld of its jobs %s due again at once "
		    "(each counted as a stall)", index, total,
		    total == 1 ? "is" : "are");
	redjob_free(cl);
	return 0;
}
