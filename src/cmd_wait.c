/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * redjob wait: block until a job has finished and print its result, with
 * libredjob's redjob_wait(): subscribed to the job's channel first, then
 * the job read once, and again when the channel says it has ended, so
 * nothing polls (docs/protocol.md, "Waiting for a job").
 */
#include "autoconf.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <jansson.h>

#include "redjob.h"
#include "cmd.h"
#include "duration.h"

static int	cmd_wait_exec(struct cmd_ctx *, const struct cmd_entry *, int,
		    char **);

const struct cmd_entry cmd_wait_entry = {
	"wait",
	"[--json] [--timeout DURATION] ID",
	"wait for a job to finish and print its result",
	"Wait until the job ID (QUEUE:N, as printed by enqueue) has finished,\n"
	"without polling, and print its result on stdout exactly as its\n"
	"handler gave it (bytes, NUL included). Its job type needs result:\n"
	"in redjob.yml: the result is kept for its ttl after the job is done,\n"
	"and only such a job's end is announced.\n"
	"\n"
	"Options:\n"
	"  --timeout DURATION       give up after DURATION (e.g. 30s, 200ms);\n"
	"                           default: wait for as long as it takes\n"
	"  --json                   print one JSON object instead: \"id\",\n"
	"                           \"outcome\" (done, dead, cancelled, expired\n"
	"                           or timeout), the result as \"result\"\n"
	"                           (printable UTF-8 text) or \"result_base64\",\n"
	"                           \"result_size\", \"result_truncated\", or\n"
	"                           \"error\"; the exit status is the same\n"
	"\n"
	"Exit status: 0 done (the result on stdout; a result cut at the\n"
	"type's result.max is said so on stderr); 1 dead, cancelled or\n"
	"expired (the last error on stderr), or no such job, or a job whose\n"
	"result expired or whose type keeps none; 75 the timeout passed;\n"
	"2 usage.\n"
	"\n"
	"Examples:\n"
	"  redjob wait $(redjob enqueue resize photo.jpg)\n"
	"  redjob wait --timeout 30s mail:42 > result.bin\n"
	"  redjob wait --json mail:42 | jq -r .outcome\n",
	cmd_wait_exec
};

/* Write all of buf to stdout. Returns 0 or -1. */
static int
cmd_wait_write(const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = write(STDOUT_FILENO, buf, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The outcome as one JSON object on stdout. */
static int
cmd_wait_json(const char *id, const char *outcome,
    const struct redjob_wait_result *res)
{
	json_t *obj;

	obj = json_object();
	json_object_set_new(obj, "id", json_string(id));
	json_object_set_new(obj, "outcome", json_string(outcome));
	if (res->outcome == REDJOB_OUTCOME_DONE) {
		cmd_json_bytes(obj, "result", res->result, res->result_len);
		json_object_set_new(obj, "result_size",
		    json_integer((json_int_t)res->result_size));
		json_object_set_new(obj, "result_truncated",
		    json_boolean(res->truncated));
	} else if (res->error != NULL)
		json_object_set_new(obj, "error", cmd_json_text(res->error,
		    strlen(res->error)));
	return cmd_json_print(obj);
}

static int
cmd_wait_exec(struct cmd_ctx *ctx, const struct cmd_entry *self, int argc,
    char **argv)
{
	static const struct option longopts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *const outcomes[] = {
		"done", "dead", "cancelled", "expired", "timeout",
	};
	struct redjob_wait_result res;
	struct redjob_client *c;
	char queue[REDJOB_ID_MAX], *cause, buf[64];
	const char *id;
	uint64_t ms;
	long timeout_ms = -1;
	int ch, rc, json = 0;

	while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (ch) {
		case 't':
			if (duration_parse(optarg, &ms, &cause) != 0) {
				cmd_usage(self, "--timeout: %s", cause);
				free(cause);
				return CMD_USAGE;
			}
			if (ms > 366ULL * 86400 * 1000)
				return cmd_usage(self, "--timeout %s is longer "
				    "than a year", optarg);
			timeout_ms = (long)ms;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			return cmd_help(self);
		default:
			return cmd_bad_option(self, ch, argv);
		}
	}
	if (optind != argc - 1)
		return cmd_usage(self, optind >= argc ? "no job ID given" :
		    "one job ID only");
	id = argv[optind];
	if ((rc = cmd_check_id(self, id, queue, sizeof queue)) != 0)
		return rc;
	if ((c = cmd_connect(ctx)) == NULL)
		return CMD_ERROR;
	if (redjob_wait(c, id, timeout_ms, &res) != 0)
		return cmd_client_error(ctx);
	if (json) {
		rc = cmd_wait_json(id, outcomes[res.outcome], &res);
		if (rc == CMD_OK && res.outcome == REDJOB_OUTCOME_TIMEOUT)
			rc = EX_TEMPFAIL;
		else if (rc == CMD_OK && res.outcome != REDJOB_OUTCOME_DONE)
			rc = CMD_ERROR;
		redjob_wait_result_free(&res);
		return rc;
	}
	switch (res.outcome) {
	case REDJOB_OUTCOME_DONE:
		rc = CMD_OK;
		if (cmd_wait_write(res.result, res.result_len) != 0)
			rc = cmd_error("writing the result: %s",
			    strerror(errno));
		else if (res.truncated)
			fprintf(stderr, "redjob: the result of %s was "
			    "truncated: %zu of %llu bytes kept (the job "
			    "type's result.max)\n", id, res.result_len,
			    (unsigned long long)res.result_size);
		break;
	case REDJOB_OUTCOME_TIMEOUT:
		fprintf(stderr, "redjob: job %s has not finished after "
		    "%s\n", id, duration_format((uint64_t)timeout_ms, buf,
		    sizeof buf));
		rc = EX_TEMPFAIL;
		break;
	default:
		rc = cmd_error("job %s is %s: %s", id,
		    outcomes[res.outcome], res.error[0] != '\0' ?
		    res.error : "no error recorded");
		break;
	}
	redjob_wait_result_free(&res);
	return rc;
}
