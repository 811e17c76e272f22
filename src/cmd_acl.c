/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * redjob acl: print the ACL SETUSER line that a Redis user of a role
 * needs, generated from the function library this build embeds (acl.c),
 * or the same as JSON. It needs no Redis.
 */
#include "autoconf.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "acl.h"
#include "cmd.h"
#include "rfunc.h"
#include "schema.h"

static int	cmd_acl_exec(struct cmd_ctx *, const struct cmd_entry *,
		    int, char **);

const struct cmd_entry cmd_acl_entry = {
	"acl",
	"[--json] worker|producer|reader|admin [--namespace NS]",
	"print the Redis ACL rules of a role",
	"Print the ACL SETUSER command that gives the Redis user redjob-ROLE\n"
	"exactly what the role needs, and nothing else: the functions it may\n"
	"call, every command those functions run (read from the function\n"
	"library of this build), the commands redjob sends itself, and the\n"
	"keys of the namespace. redis-cli reads it from standard input. It\n"
	"leaves the user's passwords and on/off state alone.\n"
	"\n"
	"Roles:\n"
	"  worker     redjobd, redjob lock and redjob throttle: claim, ack,\n"
	"             fail, requeue, the locks and limiters, the wake-ups\n"
	"  producer   enqueue only (redjob enqueue, libredjob)\n"
	"  reader     stats, ls and show, read-only (FCALL_RO)\n"
	"  admin      all of the above, retry, rm, pause, resume, and\n"
	"             loading the library (FUNCTION)\n"
	"\n"
	"Only the admin may load the library: load it once with an admin\n"
	"user (any redjob command does, e.g. redjob stats) before the others\n"
	"start, and again after an upgrade or a Redis that lost it.\n"
	"\n"
	"Options:\n"
	"  --json                   print {\"role\", \"user\", \"namespace\",\n"
	"                           \"rules\", \"functions\", \"commands\",\n"
	"                           \"keys\", \"channels\"}\n"
	"  -n, --namespace NS       the key namespace (default: the global\n"
	"                           -n, the configuration's, else redjob)\n"
	"\n"
	"Examples:\n"
	"  redjob acl worker | redis-cli\n"
	"  redis-cli ACL SETUSER redjob-worker on '>secret'\n"
	"  redjob acl --json producer --namespace shop | jq -r '.rules[]'\n",
	cmd_acl_exec
};

static json_t *
cmd_acl_json_list(const struct acl_list *l)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a != NULL && i < l->n; i++)
		json_array_append_new(a, json_string(l->v[i]));
	return a;
}

static int
cmd_acl_exec(struct cmd_ctx *ctx, const struct cmd_entry *self, int argc,
    char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "namespace", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *ns = ctx->ns != NULL ? ctx->ns : "redjob";
	enum acl_role role;
	struct acl *acl;
	char err[256];
	json_t *json;
	size_t i;
	int ch, as_json = 0;

	while ((ch = getopt_long(argc, argv, ":n:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			as_json = 1;
			break;
		case 'n':
			if (schema_check_namespace(optarg, err,
			    sizeof err) != 0)
				return cmd_usage(self, "%s", err);
			ns = optarg;
			break;
		case 'h':
			return cmd_help(self);
		default:
			return cmd_bad_option(self, ch, argv);
		}
	}
	if (optind == argc)
		return cmd_usage(self, "no role given (worker, producer, "
		    "reader or admin)");
	if (optind + 1 != argc)
		return cmd_usage(self, "unexpected argument \"%s\"",
		    argv[optind + 1]);
	if (acl_role_parse(argv[optind], &role) != 0)
		return cmd_usage(self, "unknown role \"%s\" (worker, "
		    "producer, reader or admin)", argv[optind]);
	if ((acl = acl_build(role, ns, err, sizeof err)) == NULL)
		return cmd_error("cannot read the function library: %s", err);

	if (as_json) {
		json = json_pack("{s:s, s:s, s:s, s:i, s:o, s:o, s:o, s:o, "
		    "s:o}",
		    "role", acl_role_name(role), "user", acl->user,
		    "namespace", ns, "library_version", rfunc_lib_version,
		    "rules", cmd_acl_json_list(&acl->rules),
		    "functions", cmd_acl_json_list(&acl->functions),
		    "commands", cmd_acl_json_list(&acl->commands),
		    "keys", cmd_acl_json_list(&acl->keys),
		    "channels", cmd_acl_json_list(&acl->channels));
		acl_free(acl);
		return cmd_json_print(json);
	}
	printf("ACL SETUSER %s", acl->user);
	for (i = 0; i < acl->rules.n; i++)
		printf(" %s", acl->rules.v[i]);
	putchar('\n');
	acl_free(acl);
	return CMD_OK;
}
