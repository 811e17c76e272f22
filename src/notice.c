/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A worker's cancel notices (docs/protocol.md, channels): SUBSCRIBE to
 * NS:{QUEUE}:cancel for each of its queues, on a connection of its own
 * (a subscribed connection can carry nothing else), so that a job
 * cancelled while it runs is stopped within milliseconds rather than at
 * the next lease renewal. redjob_cancel publishes "N OWNER"; messages
 * for other workers are dropped here.
 *
 * Nothing depends on hearing a notice: redjob_cancel has already taken
 * the job from its holder, so a notice lost with the connection only
 * delays the stop until the holder's next renewal, which is refused
 * (and says the job was cancelled). After a reconnect the owner is told
 * (NOTICE_LOST) once the subscriptions are confirmed, so that it renews
 * at once instead. rconn reconnects with its backoff; the failures go to
 * the owner's on_event, rate-limited there like the other connections'.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "notice.h"
#include "claim.h"
#include "rconn.h"
#include "schema.h"
#include "xmalloc.h"

struct notice {
	struct rconn		*rc;
	char			**channels;	/* NS:{QUEUE}:cancel */
	size_t			 n;
	char			 owner[CLAIM_OWNER_LEN + 1];
	notice_cb		*cb;
	void			*arg;
	int			 subscribed;	/* once, since the start */
	int			 resync;	/* tell NOTICE_LOST when back */
	rconn_state_cb		*on_fatal;	/* the owner's */
	void			*fatal_arg;
};

/* A confirmation or a message on one of our channels. */
static void
notice_message_cb(struct rconn *rc, redisReply *r, void *arg)
{
	struct notice *nt = arg;
	const char *kind, *text, *sp;
	char n[32];
	size_t i;

	(void)rc;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_STRING)
		return;
	kind = r->element[0]->str;
	if (strcmp(kind, "subscribe") == 0) {
		if (r->element[2]->type == REDIS_REPLY_INTEGER &&
		    (size_t)r->element[2]->integer == nt->n) {
			if (nt->resync)
				nt->cb(NOTICE_LOST, NULL, nt->arg);
			nt->resync = 0;
			nt->subscribed = 1;
		}
		return;
	}
	if (strcmp(kind, "message") != 0 ||
	    r->element[2]->type != REDIS_REPLY_STRING)
		return;
	/* "N OWNER": ours only. */
	text = r->element[2]->str;
	if ((sp = strchr(text, ' ')) == NULL || (size_t)(sp - text) >=
	    sizeof n || strcmp(sp + 1, nt->owner) != 0)
		return;
	memcpy(n, text, (size_t)(sp - text));
	n[sp - text] = '\0';
	for (i = 0; i < nt->n; i++) {
		if (strcmp(nt->channels[i], r->element[1]->str) == 0) {
			nt->cb(i, n, nt->arg);
			return;
		}
	}
}

/* Connected (again): subscribe to every channel in one command. */
static void
notice_ready_cb(struct rconn *rc, void *arg)
{
	struct notice *nt = arg;
	const char **argv;
	size_t i;

	argv = xcalloc(nt->n + 1, sizeof *argv);
	argv[0] = "SUBSCRIBE";
	for (i = 0; i < nt->n; i++)
		argv[i + 1] = nt->channels[i];
	nt->resync = nt->subscribed;
	(void)rconn_subscribe(rc, notice_message_cb, nt, (int)nt->n + 1, argv);
	free(argv);
}

/* Access refused: the owner's on_fatal decides, as for its own. */
static void
notice_fatal_cb(struct rconn *rc, void *arg)
{
	struct notice *nt = arg;

	if (nt->on_fatal != NULL)
		nt->on_fatal(rc, nt->fatal_arg);
}

/* What keeps the connection from working: rconn_condition(). */
const char *
notice_condition(const struct notice *nt, uint64_t *since)
{
	return rconn_condition(nt->rc, since);
}

/*
 * Create the listening connection with o (its on_ready is ours; its
 * on_fatal is called with its arg) for the queues at bases (NS:{QUEUE})
 * and the worker whose claim tokens start with owner. Returns NULL with
 * *cause set if the URL is bad.
 */
struct notice *
notice_create(struct event_base *base, const struct rconn_opts *o,
    const char *const *bases, size_t n, const char *owner, notice_cb *cb,
    void *arg, char **cause)
{
	struct rconn_opts opts = *o;
	struct notice *nt;
	char key[SCHEMA_KEY_MAX];
	size_t i;

	nt = xcalloc(1, sizeof *nt);
	nt->n = n;
	nt->channels = xcalloc(n, sizeof *nt->channels);
	for (i = 0; i < n; i++) {
		if (schema_cancel_channel(key, sizeof key, bases[i]) != 0) {
			xasprintf(cause, "queue %s: no valid cancel channel",
			    bases[i]);
			notice_free(nt);
			return NULL;
		}
		nt->channels[i] = xstrdup(key);
	}
	snprintf(nt->owner, sizeof nt->owner, "%s", owner);
	nt->cb = cb;
	nt->arg = arg;
	nt->on_fatal = o->on_fatal;
	nt->fatal_arg = o->arg;
	opts.load_library = 0;
	opts.on_ready = notice_ready_cb;
	opts.on_down = NULL;
	opts.on_fatal = notice_fatal_cb;
	opts.arg = nt;
	if ((nt->rc = rconn_create(base, &opts, cause)) == NULL) {
		notice_free(nt);
		return NULL;
	}
	return nt;
}

/* Close the connection and free. */
void
notice_free(struct notice *nt)
{
	size_t i;

	if (nt == NULL)
		return;
	rconn_free(nt->rc);
	for (i = 0; i < nt->n; i++)
		free(nt->channels[i]);
	free(nt->channels);
	free(nt);
}
