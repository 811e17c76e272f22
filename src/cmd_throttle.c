/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * redjob throttle: ask a limiter of the configuration once, as redjobd
 * asks it for a job whose key is KEY, and print its answer in the
 * redis-cell shape (allowed or limited, limit, remaining, retry after,
 * reset after). The key and the call are built by guard.c, so the CLI
 * and the daemon share every limiter's state: a unit taken here is one
 * the daemon's jobs no longer have.
 *
 * By default it takes one unit of a window, funnel or GCRA limiter,
 * exactly like a job. --peek takes nothing: it calls the limiter with
 * cost 0, which writes nothing, and reports whether one unit would be
 * allowed now (remaining >= 1) and, if not, when it would be. A
 * concurrency limiter's "unit" is a slot held for a lease, so there
 * throttle only peeks unless --take is given; the peek reads the holders
 * without writing (guards.lua has no read-only call for it).
 *
 * Exit status: 0 allowed, 75 (EX_TEMPFAIL) limited, 1 error, 2 usage.
 */
#include "autoconf.h"


#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "redjob.h"
#include "client.h"
#include "cmd.h"
#include "config.h"
#include "duration.h"
#include "guard.h"
#include "template.h"
#include "token.h"
#include "xmalloc.h"

/* Part of the interface: redjob(1), EXIT STATUS. */
#define THROTTLE_LIMITED EX_TEMPFAIL

enum throttle_mode {
	THROTTLE_DEFAULT,	/* take, but peek for concurrency */
	THROTTLE_PEEK,
	THROTTLE_TAKE,
};

static int	cmd_throttle_exec(struct cmd_ctx *, const struct cmd_entry *,
		    int, char **);

const struct cmd_entry cmd_throttle_entry = {
	"throttle",
	"-c FILE [--peek | --take] [--json] LIMITER [KEY]",
	"ask a configured rate limiter once",
	"Ask the limiter LIMITER of the configuration FILE for one unit, as\n"
	"redjobd asks it for a job whose key is KEY (its key: template is\n"
	"rendered with {key} = KEY, the other placeholders empty), and print\n"
	"the answer: \"allowed\" or \"limited\", then the limit, the units\n"
	"remaining, the time until a refused unit would be allowed (retry\n"
	"after, -1 when allowed) and the time until the limiter is idle\n"
	"again (reset after), in ms and as durations. The state is the\n"
	"daemon's: what throttle takes, jobs no longer have.\n"
	"\n"
	"Options:\n"
	"  -c, --config FILE        the configuration with the limiters\n"
	"                           (also accepted before the command)\n"
	"  --peek                   take nothing: say whether one unit would\n"
	"                           be allowed now (the default for a\n"
	"                           concurrency limiter)\n"
	"  --take                   take one unit; of a concurrency limiter,\n"
	"                           a slot held until its lease ends\n"
	"  --json                   print {\"allowed\": bool, \"limit\": n,\n"
	"                           \"remaining\": n, \"retry_after_ms\": n,\n"
	"                           \"reset_after_ms\": n}\n"
	"\n"
	"Exit status: 0 if allowed, 75 if limited, 1 on an error, 2 on a\n"
	"usage error (an unknown LIMITER among them).\n"
	"\n"
	"Examples:\n"
	"  redjob throttle -c " SYSCONFDIR "/redjob/redjob.yml smtp\n"
	"  redjob throttle -c redjob.yml --peek per_user user:42\n"
	"  until redjob throttle -c redjob.yml smtp >/dev/null; do sleep 1; "
	"done\n",
	cmd_throttle_exec
};

/*
 * Run one command. Returns the reply (never an error reply; caller
 * frees), or NULL after printing the error.
 */
static redisReply *
cmd_throttle_command(struct cmd_ctx *ctx, int argc, const char **argv)
{
	redisReply *r;

	if ((r = client_command(ctx->client, argc, argv, NULL)) == NULL)
		cmd_client_error(ctx);
	return r;
}

/* An integer from a reply that is an integer or a number as text. */
static int
cmd_throttle_num(const redisReply *r, long long *v)
{
	char *end;
	double d;

	if (cmd_reply_int(r, v) == 0)
		return 0;
	if (r->type != REDIS_REPLY_STRING || r->len == 0)
		return -1;
	errno = 0;
	d = strtod(r->str, &end);
	if (errno != 0 || end != r->str + r->len)
		return -1;
	*v = (long long)d;
	return 0;
}

/*
 * The server's clock in ms, as the limiter functions read it
 * (floor(TIME in us / 1000)). Returns 0, or -1 after printing why.
 */
static int
cmd_throttle_time(struct cmd_ctx *ctx, long long *now)
{
	const char *argv[] = { "TIME" };
	long long s, us;
	redisReply *r;
	int rc = -1;

	if ((r = cmd_throttle_command(ctx, 1, argv)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    cmd_reply_int(r->element[0], &s) == 0 &&
	    cmd_reply_int(r->element[1], &us) == 0) {
		*now = s * 1000 + us / 1000;
		rc = 0;
	} else
		cmd_error("unexpected reply to TIME");
	freeReplyObject(r);
	return rc;
}

/*
 * The score of the entry that "ZRANGE key from to BYSCORE [REV] LIMIT n 1
 * WITHSCORES" gives. Returns 1 with *score set, 0 if there is none, or -1
 * after printing an error.
 */
static int
cmd_throttle_score(struct cmd_ctx *ctx, const char *key, const char *from,
    const char *to, int rev, long long n, long long *score)
{
	const char *argv[10];
	char off[32];
	redisReply *r;
	int argc = 0, rc;

	snprintf(off, sizeof off, "%lld", n);
	argv[argc++] = "ZRANGE";
	argv[argc++] = key;
	argv[argc++] = from;
	argv[argc++] = to;
	argv[argc++] = "BYSCORE";
	if (rev)
		argv[argc++] = "REV";
	argv[argc++] = "LIMIT";
	argv[argc++] = off;
	argv[argc++] = "1";
	argv[argc++] = "WITHSCORES";
	if ((r = cmd_throttle_command(ctx, argc, argv)) == NULL)
		return -1;
	if (r->type != REDIS_REPLY_ARRAY)
		rc = -1;
	else if (r->elements == 0)
		rc = 0;
	else if (r->elements == 2 &&
	    cmd_throttle_num(r->element[1], score) == 0)
		rc = 1;
	else
		rc = -1;
	freeReplyObject(r);
	if (rc < 0)
		cmd_error("unexpected reply to ZRANGE");
	return rc;
}

/* ZCOUNT key from +inf. Returns 0, or -1 after printing an error. */
static int
cmd_throttle_count(struct cmd_ctx *ctx, const char *key, const char *from,
    long long *n)
{
	const char *argv[] = { "ZCOUNT", key, from, "+inf" };
	redisReply *r;
	int rc = 0;

	if ((r = cmd_throttle_command(ctx, 4, argv)) == NULL)
		return -1;
	if (r->type != REDIS_REPLY_INTEGER) {
		cmd_error("unexpected reply to ZCOUNT");
		rc = -1;
	} else
		*n = r->integer;
	freeReplyObject(r);
	return rc;
}

/*
 * Peek at a concurrency limiter by reading its holders, with the formulas
 * of redjob_limit_conc_acquire (docs/guards.md) for one more holder: no
 * write at all. Returns 0, or -1 after printing an error.
 */
static int
cmd_throttle_conc_peek(struct cmd_ctx *ctx, const char *key,
    const struct limiter_conf *l, struct guard_answer *a)
{
	long long now, holders, first = 0, last = 0;
	char live[32];
	int have_first, have_last;

	if (cmd_throttle_time(ctx, &now) != 0)
		return -1;
	snprintf(live, sizeof live, "(%lld", now);
	if (cmd_throttle_count(ctx, key, live, &holders) != 0 ||
	    (have_first = cmd_throttle_score(ctx, key, live, "+inf", 0, 0,
	    &first)) < 0 ||
	    (have_last = cmd_throttle_score(ctx, key, "+inf", live, 1, 0,
	    &last)) < 0)
		return -1;
	a->limit = (long long)l->limit;
	a->limited = holders >= a->limit;
	a->remaining = a->limited ? 0 : a->limit - holders;
	a->retry_after_ms = a->limited && have_first ? first - now : -1;
	a->reset_after_ms = have_last ? last - now : 0;
	return 0;
}

/*
 * After a cost-0 call said no unit remains: when one would be allowed.
 * GCRA and the funnel give it from the answer and the configuration (an
 * upper bound, at most a millisecond late, never early); the window needs
 * the entry whose leaving makes room. Returns 0, or -1 after an error.
 */
static int
cmd_throttle_peek_retry(struct cmd_ctx *ctx, const char *key,
    const struct limiter_conf *l, struct guard_answer *a)
{
	long long t, tau, now, count, score;
	char from[32];
	int rc;

	switch (l->kind) {
	case LIMITER_GCRA:
		/* retry = ttl + T - tau (us), with ttl <= reset_after. */
		t = (long long)((l->rate.period_ms * 1000 + l->rate.count - 1) /
		    l->rate.count);
		tau = t * (long long)(l->burst + 1);
		a->retry_after_ms = (a->reset_after_ms * 1000 + t - tau + 999) /
		    1000;
		break;
	case LIMITER_FUNNEL:
		/* Until the level leaks down to capacity - 1 units. */
		a->retry_after_ms = a->reset_after_ms -
		    (long long)((l->capacity - 1) * l->rate.period_ms /
		    l->rate.count);
		break;
	case LIMITER_WINDOW:
		/* Until the (count + 1 - limit)-th oldest one leaves. */
		if (cmd_throttle_time(ctx, &now) != 0)
			return -1;
		snprintf(from, sizeof from, "(%lld",
		    now - (long long)l->period_ms);
		if (cmd_throttle_count(ctx, key, from, &count) != 0)
			return -1;
		rc = 0;
		if (count >= (long long)l->limit &&
		    (rc = cmd_throttle_score(ctx, key, from, "+inf", 0,
		    count - (long long)l->limit, &score)) < 0)
			return -1;
		a->retry_after_ms = rc == 1 ?
		    score + (long long)l->period_ms - now : 0;
		break;
	case LIMITER_CONCURRENCY:
		break;
	}
	if (a->retry_after_ms < 0)
		a->retry_after_ms = 0;
	return 0;
}

/*
 * Ask the limiter: take one unit (cost 1, or a concurrency slot for
 * member), or peek. Returns 0, or -1 after printing an error.
 */
static int
cmd_throttle_ask(struct cmd_ctx *ctx, const char *key,
    const struct limiter_conf *l, int peek, const char *member,
    struct guard_answer *a)
{
	struct guard_call c;
	redisReply *r;
	int rc = -1;

	if (peek && l->kind == LIMITER_CONCURRENCY)
		return cmd_throttle_conc_peek(ctx, key, l, a);
	guard_limit_acquire(&c, key, l, member, peek ? 0 : 1);
	/* The CLI's one FCALL: it loads the library if Redis lost it. */
	r = client_fcall_key(ctx->client, c.fn, 0, c.key, c.argc, c.argv,
	    NULL);
	guard_call_clear(&c);
	if (r == NULL) {
		cmd_client_error(ctx);
		return -1;
	}
	if (guard_parse_answer(r, a) != 0)
		cmd_error("unexpected reply from limiter %s", l->name);
	else
		rc = 0;
	freeReplyObject(r);
	if (rc != 0 || !peek)
		return rc;
	/* A cost-0 ask is always allowed: the question is one unit. */
	if (a->remaining >= 1) {
		a->limited = 0;
		a->retry_after_ms = -1;
		return 0;
	}
	a->limited = 1;
	return cmd_throttle_peek_retry(ctx, key, l, a);
}

/* Print ms as "N ms (DURATION)". */
static void
cmd_throttle_print_ms(const char *what, long long ms)
{
	char buf[64];

	printf("%s: %lld ms (%s)\n", what, ms,
	    duration_format((uint64_t)(ms < 0 ? 0 : ms), buf, sizeof buf));
}

/* Print the answer as text or JSON. Returns CMD_OK or CMD_ERROR. */
static int
cmd_throttle_print(const struct guard_answer *a, int json,
    const char *holder, uint64_t lease_ms)
{
	json_t *obj;
	char buf[64];

	if (json) {
		obj = json_object();
		json_object_set_new(obj, "allowed", json_boolean(!a->limited));
		json_object_set_new(obj, "limit", json_integer(a->limit));
		json_object_set_new(obj, "remaining",
		    json_integer(a->remaining));
		json_object_set_new(obj, "retry_after_ms",
		    json_integer(a->retry_after_ms));
		json_object_set_new(obj, "reset_after_ms",
		    json_integer(a->reset_after_ms));
		if (holder != NULL)
			json_object_set_new(obj, "holder", json_string(holder));
		return cmd_json_print(obj);
	}
	printf("%s\n", a->limited ? "limited" : "allowed");
	printf("limit: %lld\n", a->limit);
	printf("remaining: %lld\n", a->remaining);
	if (a->retry_after_ms >= 0)
		cmd_throttle_print_ms("retry after", a->retry_after_ms);
	else if (!a->limited)
		printf("retry after: -1 ms (allowed now)\n");
	else
		printf("retry after: -1 ms (never: one unit is more than the "
		    "limiter holds)\n");
	cmd_throttle_print_ms("reset after", a->reset_after_ms);
	if (holder != NULL)
		printf("holder: %s (until its lease ends in %s)\n", holder,
		    duration_format(lease_ms, buf, sizeof buf));
	return CMD_OK;
}

/*
 * Report an unknown limiter with the names the file has. Returns
 * CMD_USAGE.
 */
static int
cmd_throttle_unknown(const struct cmd_entry *self, const struct config *cfg,
    const char *name)
{
	char *list = NULL, *s;
	size_t i;
	int rc;

	if (cfg->nlimiters == 0)
		return cmd_usage(self, "no limiter %s in %s (it configures "
		    "none)", name, cfg->path);
	for (i = 0; i < cfg->nlimiters; i++) {
		xasprintf(&s, "%s%s%s", list != NULL ? list : "",
		    list != NULL ? ", " : "", cfg->limiters[i].name);
		free(list);
		list = s;
	}
	rc = cmd_usage(self, "no limiter %s in %s (configured: %s)", name,
	    cfg->path, list);
	free(list);
	return rc;
}

/* Parse the options of throttle, ask the limiter once, print. */
static int
cmd_throttle_exec(struct cmd_ctx *ctx, const struct cmd_entry *self,
    int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "peek", no_argument, NULL, 'p' },
		{ "take", no_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	enum throttle_mode mode = THROTTLE_DEFAULT;
	const struct limiter_conf *l;
	const struct config *cfg;
	struct config *own = NULL;
	struct template_vars v;
	struct guard_answer a;
	const char *cfgfile = NULL, *name, *partition = NULL, *holder = NULL;
	char *url = NULL, *key = NULL, member[64];
	char token[TOKEN_LEN];
	int ch, json = 0, peek, rc;

	while ((ch = getopt_long(argc, argv, ":c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			cfgfile = optarg;
			break;
		case 'p':
		case 't':
			if (mode != THROTTLE_DEFAULT &&
			    mode != (ch == 'p' ? THROTTLE_PEEK : THROTTLE_TAKE))
				return cmd_usage(self, "--peek and --take "
				    "exclude each other");
			mode = ch == 'p' ? THROTTLE_PEEK : THROTTLE_TAKE;
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
	if (optind >= argc)
		return cmd_usage(self, "no LIMITER given");
	name = argv[optind++];
	if (optind < argc)
		partition = argv[optind++];
	if (optind < argc)
		return cmd_usage(self, "unexpected argument \"%s\"",
		    argv[optind]);
	if (cfgfile != NULL && ctx->cfg != NULL)
		return cmd_usage(self, "-c is given twice (before and after "
		    "\"throttle\")");
	if (cfgfile == NULL && ctx->cfg == NULL)
		return cmd_usage(self, "the limiters are in the configuration: "
		    "give it with -c FILE");

	if (cfgfile != NULL) {
		if ((own = cmd_config_load(cfgfile)) == NULL)
			return CMD_ERROR;
		cfg = own;
	} else
		cfg = ctx->cfg;
	if ((l = config_find_limiter(cfg, name)) == NULL) {
		rc = cmd_throttle_unknown(self, cfg, name);
		goto out;
	}
	if (partition != NULL && l->key == NULL) {
		rc = cmd_usage(self, "limiter %s has no key template (one "
		    "bucket for all jobs), so KEY \"%s\" would mean nothing",
		    name, partition);
		goto out;
	}
	if (mode == THROTTLE_DEFAULT)
		mode = l->kind == LIMITER_CONCURRENCY ? THROTTLE_PEEK :
		    THROTTLE_TAKE;
	peek = mode == THROTTLE_PEEK;

	/* Our own -c decides the connection as the global one would. */
	if (own != NULL) {
		if (ctx->url == NULL) {
			if ((url = config_redis_url_auth(own)) == NULL) {
				rc = cmd_error("%s: no Redis URL", cfgfile);
				goto out;
			}
			ctx->url = url;
		}
		if (ctx->ns == NULL)
			ctx->ns = own->namespace;
	}
	if (cmd_connect(ctx) == NULL) {
		rc = CMD_ERROR;
		goto out;
	}

	memset(&v, 0, sizeof v);
	v.key = partition;
	key = guard_limit_key(client_namespace(ctx->client), l, &v);
	/* A name for this admission, unique as a job id and token are. */
	token_make(token);
	snprintf(member, sizeof member, "redjob-throttle:%s", token);
	if (cmd_throttle_ask(ctx, key, l, peek, member, &a) != 0) {
		rc = CMD_ERROR;
		goto out;
	}
	if (!peek && !a.limited && l->kind == LIMITER_CONCURRENCY)
		holder = member;
	rc = cmd_throttle_print(&a, json, holder, l->lease_ms);
	if (rc == CMD_OK && a.limited)
		rc = THROTTLE_LIMITED;
out:
	free(key);
	if (own != NULL) {
		/* Nothing may point into what is freed here. */
		if (ctx->url == url)
			ctx->url = NULL;
		if (ctx->ns == own->namespace)
			ctx->ns = NULL;
	}
	if (url != NULL) {
		explicit_bzero(url, strlen(url));
		free(url);
	}
	config_free(own);
	return rc;
}
