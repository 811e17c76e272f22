/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The commands that change one job or one queue: retry, rm, cancel,
 * pause and resume. Each is one call of one library function per job or
 * queue, so each is atomic, and each prints one line saying what
 * happened, e.g. "retry: mail:42 was dead, now ready", or with --json one
 * object (cancel, which takes many jobs: an array of them).
 */
#include "autoconf.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "redjob.h"
#include "client.h"
#include "cmd.h"

static int	cmd_admin_job(struct cmd_ctx *, const struct cmd_entry *, int,
		    char **);
static int	cmd_admin_cancel(struct cmd_ctx *, const struct cmd_entry *,
		    int, char **);
static int	cmd_admin_queue(struct cmd_ctx *, const struct cmd_entry *,
		    int, char **);

const struct cmd_entry cmd_retry_entry = {
	"retry",
	"[--json] ID",
	"make a dead or scheduled job due now",
	"Make the job ID due now. A dead job comes back with its attempts\n"
	"reset to zero; a scheduled job runs now instead of later. A running\n"
	"job cannot be retried.\n"
	"\n"
	"Options:\n"
	"  --json                   print {\"id\": ID, \"was\": STATE,\n"
	"                           \"now\": \"ready\"}\n"
	"\n"
	"Examples:\n"
	"  redjob retry mail:42\n"
	"  redjob ls --json mail --state dead | jq -r '.[].id' |\n"
	"      xargs -n1 redjob retry\n",
	cmd_admin_job
};

const struct cmd_entry cmd_rm_entry = {
	"rm",
	"[--json] ID",
	"delete a job",
	"Delete the job ID, whatever its state. A running job's worker\n"
	"learns at its next lease renewal (every third of the lease) that the\n"
	"job is gone, and stops its handler.\n"
	"\n"
	"Options:\n"
	"  --json                   print {\"id\": ID, \"was\": STATE,\n"
	"                           \"now\": \"removed\"}\n"
	"\n"
	"Example:\n"
	"  redjob rm mail:42\n",
	cmd_admin_job
};

const struct cmd_entry cmd_cancel_entry = {
	"cancel",
	"[--json] ID...",
	"cancel jobs that have not finished",
	"Cancel each job ID that is ready, scheduled or running: it will\n"
	"not run, or runs no further, and is never retried. A running job's\n"
	"worker is told at once and stops the handler: an exec handler's\n"
	"process group gets SIGTERM, then SIGKILL 5 s later; a plugin sees\n"
	"its cancel flag. The job is kept in state cancelled for a day\n"
	"(redjob show, redjob ls --state done) and counted under cancelled.\n"
	"A job that does not exist is left alone (nothing is written); a dead\n"
	"or finished job cannot be cancelled (redjob rm deletes it). The\n"
	"other IDs are cancelled anyway; the exit status is 1 if any ID was\n"
	"not.\n"
	"\n"
	"Options:\n"
	"  --json                   print an array with, per ID,\n"
	"                           {\"id\": ID, \"was\": STATE,\n"
	"                           \"now\": \"cancelled\"} or\n"
	"                           {\"id\": ID, \"error\": MESSAGE}\n"
	"\n"
	"Examples:\n"
	"  redjob cancel mail:42\n"
	"  redjob ls --json mail --state scheduled | jq -r '.[].id' |\n"
	"      xargs redjob cancel\n",
	cmd_admin_cancel
};

const struct cmd_entry cmd_pause_entry = {
	"pause",
	"[--json] QUEUE",
	"stop workers claiming from a queue",
	"Pause QUEUE: it keeps accepting jobs, but no worker claims any until\n"
	"it is resumed. Running jobs carry on. \"redjob stats\" marks it\n"
	"\"paused\".\n"
	"\n"
	"Options:\n"
	"  --json                   print {\"queue\": QUEUE, \"paused\":\n"
	"                           true, \"changed\": BOOL}\n"
	"\n"
	"Example:\n"
	"  redjob pause mail\n",
	cmd_admin_queue
};

const struct cmd_entry cmd_resume_entry = {
	"resume",
	"[--json] QUEUE",
	"let workers claim from a paused queue again",
	"Resume a paused QUEUE and wake the workers that serve it.\n"
	"\n"
	"Options:\n"
	"  --json                   print {\"queue\": QUEUE, \"paused\":\n"
	"                           false, \"changed\": BOOL}\n"
	"\n"
	"Example:\n"
	"  redjob resume mail\n",
	cmd_admin_queue
};

/* Parse the options every admin command shares: --json and --help. */
static int
cmd_admin_options(const struct cmd_entry *self, int *argc, char ***argv,
    const char *what, int *json)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	while ((ch = getopt_long(*argc, *argv, ":h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			*json = 1;
			break;
		case 'h':
			cmd_help(self);
			return -1;
		default:
			cmd_bad_option(self, ch, *argv);
			return CMD_USAGE;
		}
	}
	*argc -= optind;
	*argv += optind;
	if (*argc != 1) {
		cmd_usage(self, *argc == 0 ? "missing the %s" :
		    "%s takes one argument", *argc == 0 ? what : self->name);
		return CMD_USAGE;
	}
	return 0;
}

/* retry ID, rm ID. */
static int
cmd_admin_job(struct cmd_ctx *ctx, const struct cmd_entry *self, int argc,
    char **argv)
{
	const char *id, *fn, *was;
	char queue[REDJOB_ID_MAX];
	redisReply *r;
	json_t *o;
	int rc, json = 0;

	if ((rc = cmd_admin_options(self, &argc, &argv, "job id", &json)) != 0)
		return rc < 0 ? CMD_OK : rc;
	id = argv[0];
	if (cmd_check_id(self, id, queue, sizeof queue) != 0)
		return CMD_USAGE;
	fn = self == &cmd_retry_entry ? "redjob_retry" : "redjob_remove";
	if (cmd_connect(ctx) == NULL)
		return CMD_ERROR;
	if ((r = client_fcall(ctx->client, fn, 0, queue, 1, &id, NULL)) == NULL)
		return cmd_client_error(ctx);
	if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS) {
		freeReplyObject(r);
		return cmd_error("unexpected reply to %s", fn);
	}
	was = r->str;
	if (json) {
		o = json_object();
		json_object_set_new(o, "id", json_string(id));
		json_object_set_new(o, "was", json_string(was));
		json_object_set_new(o, "now", json_string(self ==
		    &cmd_retry_entry ? "ready" : "removed"));
		freeReplyObject(r);
		return cmd_json_print(o);
	}
	if (self == &cmd_retry_entry)
		printf("retry: %s was %s, now ready\n", id, was);
	else if (strcmp(was, "running") == 0)
		printf("rm: %s was running, now removed (its worker stops "
		    "its handler at its next lease renewal)\n", id);
	else if (strcmp(was, "orphan") == 0)
		printf("rm: %s was in no queue set, now removed\n", id);
	else
		printf("rm: %s was %s, now removed\n", id, was);
	freeReplyObject(r);
	return CMD_OK;
}

/*
 * Is an error of redjob_cancel about that job alone (it does not exist,
 * has finished, belongs to no such queue), so that the next ID may be
 * tried? A connection or server error stops the command.
 */
static int
cmd_admin_job_error(int code)
{
	return code == REDJOB_ERR_NOJOB || code == REDJOB_ERR_STATE ||
	    code == REDJOB_ERR_INVALID;
}

/* cancel ID...: one call per job; the ones refused are named. */
static int
cmd_admin_cancel(struct cmd_ctx *ctx, const struct cmd_entry *self,
    int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *args[2];
	char queue[REDJOB_ID_MAX];
	redisReply *r;
	json_t *out = NULL, *o;
	int ch, i, json = 0, status = CMD_OK;

	while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json = 1;
			break;
		case 'h':
			return cmd_help(self);
		default:
			return cmd_bad_option(self, ch, argv);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		return cmd_usage(self, "missing the job id");
	/* Every id is checked before any is cancelled. */
	for (i = 0; i < argc; i++) {
		if (cmd_check_id(self, argv[i], queue, sizeof queue) != 0)
			return CMD_USAGE;
	}
	if (cmd_connect(ctx) == NULL)
		return CMD_ERROR;
	if (json)
		out = json_array();
	args[1] = "cancelled with redjob cancel";
	for (i = 0; i < argc; i++) {
		(void)cmd_check_id(self, argv[i], queue, sizeof queue);
		args[0] = argv[i];
		r = client_fcall(ctx->client, "redjob_cancel", 0, queue, 2,
		    args, NULL);
		if (r == NULL && !cmd_admin_job_error(redjob_errcode(
		    ctx->client))) {
			json_decref(out);
			return cmd_client_error(ctx);
		}
		if (r == NULL) {
			status = CMD_ERROR;
			if (json) {
				o = json_object();
				json_object_set_new(o, "id",
				    json_string(argv[i]));
				json_object_set_new(o, "error", json_string(
				    redjob_errstr(ctx->client)));
				json_array_append_new(out, o);
			} else
				cmd_error("cancel %s: %s", argv[i],
				    redjob_errstr(ctx->client));
			continue;
		}
		if (r->type != REDIS_REPLY_STRING &&
		    r->type != REDIS_REPLY_STATUS) {
			freeReplyObject(r);
			json_decref(out);
			return cmd_error("unexpected reply to redjob_cancel");
		}
		if (json) {
			o = json_object();
			json_object_set_new(o, "id", json_string(argv[i]));
			json_object_set_new(o, "was", json_string(r->str));
			json_object_set_new(o, "now", json_string("cancelled"));
			json_array_append_new(out, o);
		} else if (strcmp(r->str, "running") == 0)
			printf("cancel: %s was running, now cancelled (its "
			    "worker stops the handler now)\n", argv[i]);
		else
			printf("cancel: %s was %s, now cancelled\n", argv[i],
			    r->str);
		freeReplyObject(r);
	}
	if (json && cmd_json_print(out) != CMD_OK)
		return CMD_ERROR;
	return status;
}

/*
 * pause QUEUE, resume QUEUE: every shard of a sharded queue, so that it
 * pauses as one.
 */
static int
cmd_admin_queue(struct cmd_ctx *ctx, const struct cmd_entry *self, int argc,
    char **argv)
{
	const char *queue, *fn;
	redisReply *r;
	long long changed = 0, one;
	char **reg = NULL, **shards = NULL;
	size_t nreg = 0, n = 0, i;
	json_t *o;
	int rc, json = 0, pause = self == &cmd_pause_entry;

	if ((rc = cmd_admin_options(self, &argc, &argv, "queue", &json)) != 0)
		return rc < 0 ? CMD_OK : rc;
	queue = argv[0];
	if (cmd_check_queue(self, queue) != 0)
		return CMD_USAGE;
	fn = pause ? "redjob_pause" : "redjob_resume";
	if (cmd_connect(ctx) == NULL)
		return CMD_ERROR;
	/* A paused queue with no job yet must still show in stats. */
	if (pause && client_register_queue(ctx->client, queue) != 0)
		return cmd_client_error(ctx);
	if (client_queues(ctx->client, &reg, &nreg) != 0 ||
	    (n = cmd_queue_shards(ctx->client, ctx->cfg, queue, reg, nreg,
	    &shards)) == 0) {
		client_queues_free(reg, nreg);
		return cmd_client_error(ctx);
	}
	client_queues_free(reg, nreg);
	for (i = 0, rc = CMD_OK; i < n && rc == CMD_OK; i++) {
		if ((r = client_fcall(ctx->client, fn, 0, shards[i], 0, NULL,
		    NULL)) == NULL) {
			rc = cmd_client_error(ctx);
			break;
		}
		if (cmd_reply_int(r, &one) != 0)
			rc = cmd_error("unexpected reply to %s", fn);
		else if (one != 0)
			changed = 1;
		freeReplyObject(r);
	}
	cmd_queue_shards_free(shards, n);
	if (rc != CMD_OK)
		return rc;
	if (json) {
		o = json_object();
		json_object_set_new(o, "queue", json_string(queue));
		json_object_set_new(o, "paused", json_boolean(pause));
		json_object_set_new(o, "changed", json_boolean(changed != 0));
		return cmd_json_print(o);
	}
	if (pause)
		printf(changed ? "pause: queue %s paused\n" :
		    "pause: queue %s was already paused\n", queue);
	else
		printf(changed ? "resume: queue %s resumed\n" :
		    "resume: queue %s was not paused\n", queue);
	return CMD_OK;
}
