/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * redjob: the command-line client of redjobd. main() parses the global
 * options (-c FILE, -u URL, -n NAMESPACE), finds the command in the table
 * and runs it; the commands live in cmd_*.c. This file also holds the
 * helpers every command shares: the error and usage messages, the lazy
 * connection, time formatting and JSON output. Every failure ends as one
 * line on stderr starting "redjob: " and exit status 1, or 2 for a usage
 * error, as redjob(1) promises.
 */
#include "autoconf.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "redjob.h"
#include "client.h"
#include "cmd.h"
#include "config.h"
#include "rfunc.h"
#include "schema.h"
#include "url.h"
#include "xmalloc.h"

static const struct cmd_entry *const cmd_table[] = {
	&cmd_enqueue_entry,
	&cmd_stats_entry,
	&cmd_show_entry,
	&cmd_ls_entry,
	&cmd_retry_entry,
	&cmd_rm_entry,
	&cmd_cancel_entry,
	&cmd_pause_entry,
	&cmd_resume_entry,
	&cmd_lock_entry,
	&cmd_throttle_entry,
	&cmd_workers_entry,
	&cmd_health_entry,
	&cmd_why_entry,
	&cmd_wait_entry,
	&cmd_schedules_entry,
	&cmd_acl_entry,
	&cmd_web_entry,
};

static const char redjob_usage_text[] =
    "usage: redjob [-c FILE] [-u URL] [-n NAMESPACE] COMMAND [ARG...]\n";

static const char redjob_help_text[] =
    "\n"
    "The command-line client of redjobd: enqueue jobs, look at queues and\n"
    "jobs, retry, remove, cancel, pause and resume; run a command under a\n"
    "distributed lock, ask a rate limiter; print the Redis ACL rules of\n"
    "each role; serve a dashboard.\n"
    "\n"
    "Global options (before the command):\n"
    "  -c, --config FILE        take the Redis URL, namespace, password and\n"
    "                           queues from redjobd's YAML file\n"
    "  -u, --url URL            redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] or\n"
    "                           unix:///PATH/TO/SOCKET (default: $REDJOB_URL,\n"
    "                           else redis://127.0.0.1:6379/0)\n"
    "  -n, --namespace NAME     key namespace (default: redjob)\n"
    "  -h, --help               show this help; COMMAND --help for a command\n"
    "  -V, --version            show the version\n"
    "\n"
    "Commands:\n";

static const char redjob_help_tail[] =
    "\n"
    "redjob COMMAND --help shows a command's options and examples.\n"
    "\n"
    "Exit status: 0 on success, 1 on an error, 2 on a usage error; lock\n"
    "and throttle also exit 75 (and lock 69), see their --help.\n"
    "\n"
    "Examples:\n"
    "  redjob enqueue -q mail send_email '{\"to\":\"a@example.com\"}'\n"
    "  redjob -u unix:///run/redjob/redis.sock stats\n"
    "  redjob -c " SYSCONFDIR "/redjob/redjob.yml ls mail --state dead\n"
    "\n"
    "See redjob(1).\n";

/* Print "redjob: message" on stderr. Returns CMD_ERROR for the caller. */
int
cmd_error(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("redjob: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CMD_ERROR;
}

/*
 * Print "usage: redjob NAME USAGE" to fp, folded before 80 columns at the
 * spaces between top-level [...] groups, so no option is split.
 */
static void
cmd_print_usage(FILE *fp, const struct cmd_entry *entry)
{
	const char *p;
	int col, indent, depth = 0;
	size_t n;

	col = indent = fprintf(fp, "usage: redjob %s", entry->name) + 1;
	for (p = entry->usage; *p != '\0'; p += n + (p[n] == ' ')) {
		/* The next top-level word: up to a space at depth 0. */
		for (n = 0; p[n] != '\0'; n++) {
			if (p[n] == '[')
				depth++;
			else if (p[n] == ']')
				depth--;
			else if (p[n] == ' ' && depth == 0)
				break;
		}
		if (col > indent && col + 1 + (int)n > 80) {
			fprintf(fp, "\n%*s", indent, "");
			col = indent;
		} else {
			fputc(' ', fp);
			col++;
		}
		col += fprintf(fp, "%.*s", (int)n, p);
	}
	fputc('\n', fp);
}

/*
 * Print a usage error: the reason (if fmt is not NULL) and the usage line
 * of entry (NULL: the global one). Returns CMD_USAGE.
 */
int
cmd_usage(const struct cmd_entry *entry, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	if (fmt != NULL) {
		fputs("redjob: ", stderr);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	if (entry != NULL)
		cmd_print_usage(stderr, entry);
	else
		fputs(redjob_usage_text, stderr);
	return CMD_USAGE;
}

/*
 * Report what getopt_long (with opterr 0 and a leading ':') refused: ch is
 * ':' for a missing argument, '?' for an unknown option. Returns CMD_USAGE.
 */
int
cmd_bad_option(const struct cmd_entry *entry, int ch, char **argv)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "";

	if (ch == ':')
		return cmd_usage(entry, "option %s needs an argument", arg);
	if (optopt != 0 && strncmp(arg, "--", 2) != 0)
		return cmd_usage(entry, "unknown option -%c", optopt);
	return cmd_usage(entry, "unknown option %s", arg);
}

/* Print the --help text of a command on stdout. Returns CMD_OK. */
int
cmd_help(const struct cmd_entry *entry)
{
	cmd_print_usage(stdout, entry);
	printf("\n%s", entry->help);
	return CMD_OK;
}

/* Print the global --help text on stdout. */
static void
redjob_help(void)
{
	size_t i;

	fputs(redjob_usage_text, stdout);
	fputs(redjob_help_text, stdout);
	for (i = 0; i < nitems(cmd_table); i++)
		printf("  %-10s %s\n", cmd_table[i]->name,
		    cmd_table[i]->summary);
	fputs(redjob_help_tail, stdout);
}

/*
 * Connect to Redis on first use, so that usage errors and --help never
 * need a server. Returns the client, or NULL after printing why.
 */
struct redjob_client *
cmd_connect(struct cmd_ctx *ctx)
{
	if (ctx->client != NULL)
		return ctx->client;
	ctx->client = redjob_connect(ctx->url, ctx->ns);
	if (ctx->client == NULL) {
		cmd_error("out of memory");
		return NULL;
	}
	if (redjob_errcode(ctx->client) != REDJOB_OK) {
		cmd_client_error(ctx);
		return NULL;
	}
	if (ctx->max_payload != 0 &&
	    redjob_set_max_payload(ctx->client, ctx->max_payload) != 0) {
		cmd_client_error(ctx);
		return NULL;
	}
	return ctx->client;
}

/*
 * The commands "NAME [--json] ID" that print what the read-only function
 * fn says of a job as a flat array of NAME VALUE strings (show, why):
 * parse the command line, check the id, connect and call. Returns -1 with
 * *json, *id and *reply set (the caller frees the reply), or the exit
 * status after printing why (CMD_OK for --help).
 */
int
cmd_job_pairs(struct cmd_ctx *ctx, const struct cmd_entry *self, int argc,
    char **argv, const char *fn, int *json, const char **id,
    struct redisReply **reply)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	char queue[REDJOB_ID_MAX];
	redisReply *r;
	size_t i;
	int ch;

	*json = 0;
	while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			*json = 1;
			break;
		case 'h':
			return cmd_help(self);
		default:
			return cmd_bad_option(self, ch, argv);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1)
		return cmd_usage(self, argc == 0 ? "missing the job id" :
		    "%s takes one job id", self->name);
	*id = argv[0];
	if (cmd_check_id(self, *id, queue, sizeof queue) != 0)
		return CMD_USAGE;
	if (cmd_connect(ctx) == NULL)
		return CMD_ERROR;
	if ((r = client_fcall(ctx->client, fn, 1, queue, 1, id,
	    NULL)) == NULL)
		return cmd_client_error(ctx);
	if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0)
		goto bad;
	for (i = 0; i < r->elements; i++) {
		if (r->element[i]->type != REDIS_REPLY_STRING)
			goto bad;
	}
	*reply = r;
	return -1;
bad:
	freeReplyObject(r);
	return cmd_error("unexpected reply to %s", fn);
}

/* Print the client's last error. Returns CMD_ERROR. */
int
cmd_client_error(struct cmd_ctx *ctx)
{
	const char *e = redjob_errstr(ctx->client);

	return cmd_error("%s", *e != '\0' ? e : "unknown error");
}

/*
 * Check a job id "QUEUE:N" and copy its queue into queue. Returns 0, or
 * CMD_USAGE after printing why.
 */
int
cmd_check_id(const struct cmd_entry *entry, const char *id, char *queue,
    size_t len)
{
	if (schema_job_queue(id, queue, len) != 0)
		return cmd_usage(entry, "invalid job id \"%s\" (expected "
		    "QUEUE:N, e.g. mail:42)", id);
	return 0;
}

/* Check a queue name. Returns 0, or CMD_USAGE after printing why. */
int
cmd_check_queue(const struct cmd_entry *entry, const char *queue)
{
	char err[256];

	if (schema_check_queue(queue, err, sizeof err) != 0)
		return cmd_usage(entry, "%s", err);
	return 0;
}

/*
 * The shards of queue, the names its jobs can be in (docs/protocol.md,
 * sharded queues): a shard (QUEUE~K) or a plain queue is its only one; a
 * sharded queue has QUEUE and QUEUE~1 to QUEUE~N-1, N the larger of the
 * shard table's (cl) and the configuration's (cfg, or NULL), and any
 * QUEUE~K of the queue registry reg beyond: a shard left with jobs when
 * the queue's shards were lowered. *out is allocated; free each and it.
 * Returns the number of names, at least 1, or 0 when asking Redis
 * failed (the client says why).
 */
size_t
cmd_queue_shards(struct redjob_client *cl, const struct config *cfg,
    const char *queue, char *const *reg, size_t nreg, char ***out)
{
	const char *argv[3];
	char key[SCHEMA_KEY_MAX], base[SCHEMA_QUEUE_MAX + 1];
	char name[SCHEMA_QUEUE_MAX + 8];
	unsigned k, n = 1;
	redisReply *r;
	size_t i, m = 0;

	*out = NULL;
	if (strchr(queue, '~') == NULL &&
	    schema_shards_key(key, sizeof key, client_namespace(cl)) == 0) {
		argv[0] = "HGET";
		argv[1] = key;
		argv[2] = queue;
		/* Rules from before the shard table: the rest still tells. */
		if ((r = client_command(cl, 3, argv, NULL)) != NULL) {
			if (r->type == REDIS_REPLY_STRING)
				n = schema_shards_parse(r->str);
			freeReplyObject(r);
		} else if (!client_noperm(cl))
			return 0;
		for (i = 0; cfg != NULL && i < cfg->nqueues; i++) {
			if (strcmp(cfg->queues[i].name, queue) == 0 &&
			    cfg->queues[i].shards > n)
				n = cfg->queues[i].shards;
		}
	}
	*out = xcalloc(n + nreg, sizeof **out);
	(*out)[m++] = xstrdup(queue);
	for (k = 1; k < n; k++) {
		if (schema_shard_name(name, sizeof name, queue, k) == 0)
			(*out)[m++] = xstrdup(name);
	}
	for (i = 0; i < nreg && strchr(queue, '~') == NULL; i++) {
		if (schema_shard_split(reg[i], base, sizeof base, &k) == 0 &&
		    k >= n && strcmp(base, queue) == 0)
			(*out)[m++] = xstrdup(reg[i]);
	}
	return m;
}

/* Free what cmd_queue_shards() gave. */
void
cmd_queue_shards_free(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/*
 * Format Unix milliseconds as ISO-8601 UTC with milliseconds,
 * "2026-11-25T12:00:00.000Z". Returns buf.
 */
char *
cmd_format_time(int64_t ms, char *buf, size_t len)
{
	time_t secs;
	struct tm tm;
	int64_t frac;
	char date[32];

	secs = (time_t)(ms / 1000);
	frac = ms % 1000;
	if (frac < 0) {
		secs--;
		frac += 1000;
	}
	if (gmtime_r(&secs, &tm) == NULL ||
	    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)ms);
	else
		snprintf(buf, len, "%s.%03dZ", date, (int)frac);
	return buf;
}

/*
 * Read an integer from a reply that is an integer or a decimal string.
 * Returns 0, or -1 if it is neither.
 */
int
cmd_reply_int(const struct redisReply *r, long long *v)
{
	char *end;

	if (r->type == REDIS_REPLY_INTEGER) {
		*v = r->integer;
		return 0;
	}
	if (r->type != REDIS_REPLY_STRING || r->len == 0)
		return -1;
	errno = 0;
	*v = strtoll(r->str, &end, 10);
	if (errno != 0 || end != r->str + r->len)
		return -1;
	return 0;
}

/*
 * Length of the UTF-8 sequence at s (at most len bytes), or 0 if it is not
 * a valid, shortest-form encoding of a scalar value.
 */
size_t
cmd_utf8_seq(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n, i;
	unsigned long cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else
		return 0;
	if (n > len)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* Is s (len bytes, NULs allowed) valid UTF-8? Returns 1 or 0. */
int
cmd_utf8_valid(const char *s, size_t len)
{
	size_t i = 0, n;

	while (i < len) {
		if ((n = cmd_utf8_seq(s + i, len - i)) == 0)
			return 0;
		i += n;
	}
	return 1;
}

/*
 * Are bytes (a payload, a result) printable text: UTF-8 with no control character but
 * newline and tab? Returns 1 or 0.
 */
int
cmd_is_text(const char *s, size_t len)
{
	size_t i;
	unsigned char ch;

	for (i = 0; i < len; i++) {
		ch = (unsigned char)s[i];
		if ((ch < 0x20 && ch != '\n' && ch != '\t') || ch == 0x7f)
			return 0;
	}
	return cmd_utf8_valid(s, len);
}

/* Encode len bytes as base64 with padding. Caller frees. */
char *
cmd_base64(const unsigned char *p, size_t len)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out, *o;
	size_t i;
	unsigned long v;

	out = o = xreallocarray(NULL, len / 3 + 2, 4);
	for (i = 0; i + 2 < len; i += 3) {
		v = (unsigned long)p[i] << 16 | (unsigned long)p[i + 1] << 8 |
		    p[i + 2];
		*o++ = tab[(v >> 18) & 63];
		*o++ = tab[(v >> 12) & 63];
		*o++ = tab[(v >> 6) & 63];
		*o++ = tab[v & 63];
	}
	if (i < len) {
		v = (unsigned long)p[i] << 16;
		if (i + 1 < len)
			v |= (unsigned long)p[i + 1] << 8;
		*o++ = tab[(v >> 18) & 63];
		*o++ = tab[(v >> 12) & 63];
		*o++ = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

/*
 * Set name in obj to len bytes of a job (its payload, its result): as
 * a string when they are printable text, else base64 as name_base64, so
 * a reader of name always gets printable text.
 */
void
cmd_json_bytes(json_t *obj, const char *name, const char *s, size_t len)
{
	char key[64], *b64;

	if (cmd_is_text(s, len)) {
		json_object_set_new(obj, name, json_stringn(s, len));
		return;
	}
	b64 = cmd_base64((const unsigned char *)s, len);
	snprintf(key, sizeof key, "%s_base64", name);
	json_object_set_new(obj, key, json_string(b64));
	free(b64);
}

/*
 * A JSON string of len bytes of text that Redis holds, which need not be
 * UTF-8 (a handler's stderr, a key): invalid bytes become U+FFFD, so the
 * output is always valid JSON. Returns a new reference.
 */
json_t *
cmd_json_text(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	json_t *json;
	size_t i = 0, o = 0, n;
	char *buf;

	if (cmd_utf8_valid(s, len))
		return json_stringn(s, len);
	buf = xreallocarray(NULL, len + 1, 3);
	while (i < len) {
		if ((n = cmd_utf8_seq(s + i, len - i)) == 0) {
			memcpy(buf + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		} else {
			memcpy(buf + o, p + i, n);
			o += n;
			i += n;
		}
	}
	json = json_stringn(buf, o);
	free(buf);
	return json;
}

/*
 * Print json on stdout, indented, with a final newline, and drop the
 * reference. Returns CMD_OK, or CMD_ERROR if it could not be written.
 */
int
cmd_json_print(json_t *json)
{
	int rc;

	if (json == NULL)
		return cmd_error("out of memory building JSON");
	rc = json_dumpf(json, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(json);
	if (rc != 0 || fputc('\n', stdout) == EOF)
		return cmd_error("cannot write the output: %s",
		    strerror(errno));
	return CMD_OK;
}

/*
 * Load a configuration for -c: its diagnostics go to stderr. Returns it,
 * or NULL when it is not valid. The caller frees it with config_free().
 */
struct config *
cmd_config_load(const char *path)
{
	struct diags diags = { NULL, 0 };
	struct config *cfg;

	/* A producer host need not have the handlers' programs. */
	if ((cfg = config_load_flags(path, &diags, CONFIG_NO_FILES)) == NULL) {
		fflush(stdout);
		diags_print(&diags, stderr);
		if (diags.n == 0)
			cmd_error("%s: cannot load the configuration", path);
	}
	diags_free(&diags);
	return cfg;
}

/* Find a command by its full name. */
static const struct cmd_entry *
redjob_find(const char *name)
{
	size_t i;

	for (i = 0; i < nitems(cmd_table); i++) {
		if (strcmp(cmd_table[i]->name, name) == 0)
			return cmd_table[i];
	}
	return NULL;
}

/*
 * Parse the global options, load the configuration if -c names one, and
 * run the command. Returns the command's exit status.
 */
int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "url", required_argument, NULL, 'u' },
		{ "namespace", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const struct cmd_entry *entry;
	struct cmd_ctx ctx;
	struct config *cfg = NULL;
	const char *cfgfile = NULL, *url = NULL, *ns = NULL;
	const char **queues = NULL;
	char *cfgurl = NULL, err[256];
	struct url u;
	size_t i;
	int ch, rc;

	memset(&ctx, 0, sizeof ctx);
	/* "+": stop at the command; its options are its own. */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:c:u:n:hV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			cfgfile = optarg;
			break;
		case 'u':
			url = optarg;
			break;
		case 'n':
			ns = optarg;
			break;
		case 'h':
			redjob_help();
			return CMD_OK;
		case 'V':
			printf("redjob %s (function library %d, schema %d)\n",
			    PACKAGE_VERSION, rfunc_lib_version,
			    rfunc_schema_version);
			return CMD_OK;
		default:
			return cmd_bad_option(NULL, ch, argv);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		return cmd_usage(NULL, "no command given (try redjob --help)");
	if ((entry = redjob_find(argv[0])) == NULL) {
		if (strcmp(argv[0], "help") == 0) {
			if (argc < 2) {
				redjob_help();
				return CMD_OK;
			}
			if ((entry = redjob_find(argv[1])) != NULL)
				return cmd_help(entry);
		}
		return cmd_usage(NULL, "unknown command \"%s\" (try redjob "
		    "--help)", argc > 1 && strcmp(argv[0], "help") == 0 ?
		    argv[1] : argv[0]);
	}

	/* Bad values given on the command line are usage errors. */
	if (url != NULL && url_parse(url, &u, err, sizeof err) != 0)
		return cmd_usage(NULL, "%s", err);
	explicit_bzero(&u, sizeof u);
	if (ns != NULL && schema_check_namespace(ns, err, sizeof err) != 0)
		return cmd_usage(NULL, "%s", err);

	if (cfgfile != NULL) {
		if ((cfg = cmd_config_load(cfgfile)) == NULL)
			return CMD_ERROR;
		if ((cfgurl = config_redis_url_auth(cfg)) == NULL) {
			config_free(cfg);
			return cmd_error("%s: no Redis URL", cfgfile);
		}
		ctx.url = cfgurl;
		ctx.ns = cfg->namespace;
		ctx.max_payload = cfg->max_payload;
		queues = xcalloc(cfg->nqueues, sizeof *queues);
		for (i = 0; i < cfg->nqueues; i++)
			queues[i] = cfg->queues[i].name;
		ctx.cfg_queues = queues;
		ctx.ncfg_queues = cfg->nqueues;
		ctx.cfg = cfg;
	}
	if (url != NULL)
		ctx.url = url;
	if (ns != NULL)
		ctx.ns = ns;

	/* Each command parses its own options with getopt_long from 1. */
	optind = 0;
	opterr = 0;
	rc = entry->exec(&ctx, entry, argc, argv);

	if (fflush(stdout) != 0 && rc == CMD_OK)
		rc = cmd_error("cannot write the output: %s", strerror(errno));
	redjob_free(ctx.client);
	free(queues);
	if (cfgurl != NULL) {
		explicit_bzero(cfgurl, strlen(cfgurl));
		free(cfgurl);
	}
	config_free(cfg);
	return rc;
}
