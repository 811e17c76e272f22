/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The configuration of redjobd: read redjob.yml with libyaml's document
 * API, check every key and value, and build an immutable struct config
 * (redjob.yml(5)). Every problem becomes a diagnostic that points at its node
 * (the key for unknown and repeated keys, the value for bad values), and
 * loading carries on after one so that a single run reports them all, in
 * the order of the file. This module decides what is valid; what the
 * settings do is up to the modules that read struct config.
 */
#include "autoconf.h"

#include <sys/stat.h>
#include <sys/un.h>

#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include "config.h"
#include "duration.h"
#include "guard.h"
#include "log.h"
#include "ranges.h"
#include "schema.h"
#include "template.h"
#include "url.h"
#include "xmalloc.h"
#include "yread.h"

/* struct url keeps the password in 512 bytes, NUL included. */
#define CONFIG_PASSWORD_MAX (sizeof(((struct url *)0)->password) - 1)

#define CONFIG_NAME_MAX 128
#define CONFIG_SOCKET_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)
#define CONFIG_PAYLOAD_MAX (512ULL * 1024 * 1024)
#define CONFIG_BATCH_MAX 1000	/* CLAIM_MAX in redjob.lua */

/* The state of one config_load(). */
struct load {
	struct yread	 y;
	struct config	*cfg;
	int		 queues_bad;	/* so skip checks against them */
	int		 limiters_bad;
};

static const char *const config_top_keys[] = {
	"redis", "workers", "concurrency", "shutdown_timeout", "lease",
	"max_stalls", "batch", "max_payload", "log_level", "queues",
	"limiters", "jobs", "http", "handler_path", "unknown_type_grace",
};
enum {
	TOP_REDIS, TOP_WORKERS, TOP_CONCURRENCY, TOP_SHUTDOWN_TIMEOUT,
	TOP_LEASE, TOP_MAX_STALLS, TOP_BATCH, TOP_MAX_PAYLOAD, TOP_LOG_LEVEL,
	TOP_QUEUES, TOP_LIMITERS, TOP_JOBS, TOP_HTTP, TOP_HANDLER_PATH,
	TOP_UNKNOWN_TYPE_GRACE, TOP_N
};

static const char *const config_http_keys[] = { "listen" };
enum { HTTP_LISTEN, HTTP_N };

static const char *const config_redis_keys[] = {
	"url", "password_file", "namespace", "embedded",
};
enum { REDIS_URL, REDIS_PASSWORD_FILE, REDIS_NAMESPACE, REDIS_EMBEDDED,
	REDIS_N };

static const char *const config_embedded_keys[] = {
	"dir", "socket", "server",
};
enum { EMB_DIR, EMB_SOCKET, EMB_SERVER, EMB_N };

static const char *const config_limiter_keys[] = {
	"kind", "limit", "period", "capacity", "rate", "burst", "lease", "key",
};
enum { LIM_KIND, LIM_LIMIT, LIM_PERIOD, LIM_CAPACITY, LIM_RATE, LIM_BURST,
	LIM_LEASE, LIM_KEY, LIM_N };

/* In the order of enum limiter_kind. */
static const char *const config_limiter_kinds[] = {
	"window", "funnel", "gcra", "concurrency",
};

#define LK(k) (1U << (k))
/* The keys each kind of limiter takes, and those it cannot do without. */
static const unsigned config_limiter_takes[] = {
	LK(LIM_KIND) | LK(LIM_LIMIT) | LK(LIM_PERIOD) | LK(LIM_KEY),
	LK(LIM_KIND) | LK(LIM_CAPACITY) | LK(LIM_RATE) | LK(LIM_KEY),
	LK(LIM_KIND) | LK(LIM_RATE) | LK(LIM_BURST) | LK(LIM_KEY),
	LK(LIM_KIND) | LK(LIM_LIMIT) | LK(LIM_LEASE) | LK(LIM_KEY),
};
static const unsigned config_limiter_needs[] = {
	LK(LIM_LIMIT) | LK(LIM_PERIOD),
	LK(LIM_CAPACITY) | LK(LIM_RATE),
	LK(LIM_RATE),
	LK(LIM_LIMIT),
};

static const char *const config_job_keys[] = {
	"queue", "exec", "plugin", "timeout", "retry", "lock", "limit", "env",
	"cwd", "expire", "result", "schedule",
};
enum { JOB_QUEUE, JOB_EXEC, JOB_PLUGIN, JOB_TIMEOUT, JOB_RETRY, JOB_LOCK,
	JOB_LIMIT, JOB_ENV, JOB_CWD, JOB_EXPIRE, JOB_RESULT, JOB_SCHEDULE, JOB_N };

static const char *const config_result_keys[] = { "max", "ttl" };
enum { QUEUE_WEIGHT, QUEUE_SHARDS, QUEUE_N };
static const char *const config_queue_keys[] = { "weight", "shards" };
enum { RESULT_MAX, RESULT_TTL, RESULT_N };

static const char *const config_schedule_keys[] = {
	"cron", "every", "timezone", "misfire", "max_catchup", "payload",
};
enum { SCHED_CRON, SCHED_EVERY, SCHED_TIMEZONE, SCHED_MISFIRE,
	SCHED_CATCHUP, SCHED_PAYLOAD, SCHED_N };

/* In the order of enum misfire. */
static const char *const config_misfires[] = { "skip", "once", "all" };

static const char *const config_plugin_keys[] = { "path", "symbol" };
enum { PLUGIN_PATH, PLUGIN_SYMBOL, PLUGIN_N };

static const char *const config_retry_keys[] = {
	"max_attempts", "backoff", "base", "max", "jitter",
};
enum { RETRY_MAX_ATTEMPTS, RETRY_BACKOFF, RETRY_BASE, RETRY_MAX,
	RETRY_JITTER, RETRY_N };

/* In the order of enum backoff_kind. */
static const char *const config_backoffs[] = {
	"exponential", "linear", "fixed",
};

static const char *const config_lock_keys[] = {
	"key", "ttl", "on_conflict", "requeue_delay",
};
enum { LOCK_KEY, LOCK_TTL, LOCK_ON_CONFLICT, LOCK_REQUEUE_DELAY, LOCK_N };

/* In the order of enum on_conflict. */
static const char *const config_conflicts[] = {
	"requeue", "fail", "discard",
};

static const char *const config_log_levels[] = {
	"error", "warning", "info", "debug",
};

/* Check a template (template_check()) and that it is not empty. */
static int
config_template(struct load *ld, yaml_node_t *n, const char *path,
    char **out)
{
	char *cause;

	if (yread_string(&ld->y, n, path, 0, out) != 0)
		return -1;
	if (template_check(*out, &cause) != 0) {
		yread_error(&ld->y, n, path, "%s", cause);
		free(cause);
		return -1;
	}
	return 0;
}

/* Tell whether s is a name of 1-128 of [A-Za-z0-9_.:-]. */
static int
config_valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CONFIG_NAME_MAX)
		return 0;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_.:-") == n;
}

/* Tell whether s is a C identifier (or an environment variable name). */
static int
config_valid_ident(const char *s)
{
	if (!isalpha((unsigned char)*s) && *s != '_')
		return 0;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_") == strlen(s);
}

/*
 * Read the password file: one line, the newline stripped. Returns the
 * password (caller frees), or NULL after a diagnostic at n.
 */
static char *
config_password(struct load *ld, yaml_node_t *n, const char *path,
    const char *file)
{
	char buf[CONFIG_PASSWORD_MAX + 3];	/* "\r\n" and one too many */
	size_t len = 0;
	char *pw;
	ssize_t r;
	int fd;

	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) == -1) {
		yread_error(&ld->y, n, path, "cannot read %s: %s", file,
		    strerror(errno));
		return NULL;
	}
	while (len < sizeof buf) {
		r = read(fd, buf + len, sizeof buf - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			yread_error(&ld->y, n, path, "cannot read %s: %s", file,
			    strerror(errno));
			close(fd);
			explicit_bzero(buf, sizeof buf);
			return NULL;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (len < sizeof buf && len > 0 && buf[len - 1] == '\n') {
		len--;
		if (len > 0 && buf[len - 1] == '\r')
			len--;
	}
	/* A full buffer is too long, whatever it ends with. */
	if (len == 0 || len > CONFIG_PASSWORD_MAX ||
	    memchr(buf, '\n', len) != NULL || memchr(buf, '\0', len) != NULL) {
		yread_error(&ld->y, n, path, "%s must hold the password on one "
		    "line of 1 to %zu bytes", file, CONFIG_PASSWORD_MAX);
		explicit_bzero(buf, sizeof buf);
		return NULL;
	}
	pw = xmemdup(buf, len);
	explicit_bzero(buf, sizeof buf);
	return pw;
}

/* Check the embedded: section and fill cfg->embedded_*. */
static void
config_embedded(struct load *ld, struct yread_pair *p)
{
	struct config *cfg = ld->cfg;
	struct yread_pair f[EMB_N];
	const char *path = "redis.embedded";
	char *sub;

	if (yread_fields(&ld->y, p->value, path, "a mapping", config_embedded_keys,
	    EMB_N, f) != 0)
		return;
	if (f[EMB_DIR].value == NULL)
		yread_error(&ld->y, p->key, path, "missing \"dir\" (the directory "
		    "where the server keeps its data)");
	else {
		sub = yread_path(path, "dir");
		if (yread_string(&ld->y, f[EMB_DIR].value, sub, 0,
		    &cfg->embedded_dir) == 0 && *cfg->embedded_dir != '/') {
			yread_error(&ld->y, f[EMB_DIR].value, sub, "\"%.64s\" is "
			    "not an absolute path", cfg->embedded_dir);
		} else if (cfg->embedded_dir != NULL &&
		    f[EMB_SOCKET].value == NULL &&
		    strlen(cfg->embedded_dir) + 11 > CONFIG_SOCKET_MAX) {
			yread_error(&ld->y, f[EMB_DIR].value, sub, "too long for "
			    "the socket path DIR/redis.sock (at most %zu "
			    "bytes); set socket", CONFIG_SOCKET_MAX);
		}
		free(sub);
	}
	if (f[EMB_SOCKET].value != NULL) {
		sub = yread_path(path, "socket");
		if (yread_string(&ld->y, f[EMB_SOCKET].value, sub, 0,
		    &cfg->embedded_socket) == 0) {
			if (*cfg->embedded_socket != '/')
				yread_error(&ld->y, f[EMB_SOCKET].value, sub,
				    "\"%.64s\" is not an absolute path",
				    cfg->embedded_socket);
			else if (strlen(cfg->embedded_socket) >
			    CONFIG_SOCKET_MAX)
				yread_error(&ld->y, f[EMB_SOCKET].value, sub,
				    "longer than %zu bytes", CONFIG_SOCKET_MAX);
		}
		free(sub);
	} else if (cfg->embedded_dir != NULL)
		xasprintf(&cfg->embedded_socket, "%s/redis.sock",
		    cfg->embedded_dir);
	if (f[EMB_SERVER].value != NULL) {
		sub = yread_path(path, "server");
		if (yread_string(&ld->y, f[EMB_SERVER].value, sub, 0,
		    &cfg->embedded_server) == 0 &&
		    strchr(cfg->embedded_server, '/') != NULL)
			yread_file(&ld->y, f[EMB_SERVER].value, sub,
			    cfg->embedded_server, 'x');
		free(sub);
	}
	if (cfg->embedded_server == NULL)
		cfg->embedded_server = xstrdup("redis-server");
}

/* Check the redis: section and fill the connection settings of cfg. */
static void
config_redis(struct load *ld, struct yread_pair *p)
{
	struct config *cfg = ld->cfg;
	struct yread_pair f[REDIS_N], *later;
	struct url u;
	char err[256];
	const char *s;
	int url_ok = 0;

	memset(f, 0, sizeof f);
	memset(&u, 0, sizeof u);
	if (p != NULL && yread_fields(&ld->y, p->value, "redis", "a mapping",
	    config_redis_keys, REDIS_N, f) != 0)
		return;
	if (f[REDIS_URL].value != NULL && f[REDIS_EMBEDDED].value != NULL) {
		later = f[REDIS_URL].key->start_mark.index >
		    f[REDIS_EMBEDDED].key->start_mark.index ?
		    &f[REDIS_URL] : &f[REDIS_EMBEDDED];
		yread_error(&ld->y, later->key, "redis", "url and embedded are "
		    "mutually exclusive (embedded runs a private server "
		    "instead of connecting to url)");
	}
	if (f[REDIS_URL].value != NULL) {
		if (yread_string(&ld->y, f[REDIS_URL].value, "redis.url", 0,
		    &cfg->url) == 0) {
			/* Its message shows the password as "***". */
			if (url_parse(cfg->url, &u, err, sizeof err) != 0)
				yread_error(&ld->y, f[REDIS_URL].value,
				    "redis.url", "%s", err);
			else
				url_ok = 1;
		}
	}
	if (f[REDIS_NAMESPACE].value != NULL &&
	    yread_string(&ld->y, f[REDIS_NAMESPACE].value, "redis.namespace", 0,
	    &cfg->namespace) == 0 &&
	    schema_check_namespace(cfg->namespace, err, sizeof err) != 0)
		yread_error(&ld->y, f[REDIS_NAMESPACE].value, "redis.namespace",
		    "%s", err);
	if (f[REDIS_EMBEDDED].value != NULL)
		config_embedded(ld, &f[REDIS_EMBEDDED]);
	else if (f[REDIS_URL].value == NULL)
		cfg->url = xstrdup(URL_DEFAULT);
	if (f[REDIS_PASSWORD_FILE].value != NULL &&
	    (s = yread_scalar(&ld->y, f[REDIS_PASSWORD_FILE].value,
	    "redis.password_file", "a file name")) != NULL) {
		if (f[REDIS_EMBEDDED].value != NULL)
			yread_error(&ld->y, f[REDIS_PASSWORD_FILE].key,
			    "redis.password_file", "not used with embedded "
			    "(its server listens only on a private socket)");
		else if (url_ok && u.password[0] != '\0')
			yread_error(&ld->y, f[REDIS_PASSWORD_FILE].key,
			    "redis.password_file", "the url holds a password "
			    "already (keep it in one place)");
		else
			cfg->password = config_password(ld,
			    f[REDIS_PASSWORD_FILE].value, "redis.password_file",
			    s);
	}
	explicit_bzero(&u, sizeof u);
}

/* A queue given as { weight: W, shards: N }; each has its default. */
static void
config_queue_map(struct load *ld, yaml_node_t *n, const char *path,
    struct queue_conf *q)
{
	struct yread_pair f[QUEUE_N];
	char *sub;

	if (yread_fields(&ld->y, n, path, "a weight, or a mapping such as "
	    "{ weight: 1, shards: 8 }", config_queue_keys, QUEUE_N, f) != 0)
		return;
	if (f[QUEUE_WEIGHT].value != NULL) {
		sub = yread_path(path, "weight");
		yread_uint(&ld->y, f[QUEUE_WEIGHT].value, sub, 1, 1000,
		    &q->weight);
		free(sub);
	}
	if (f[QUEUE_SHARDS].value != NULL) {
		sub = yread_path(path, "shards");
		yread_uint(&ld->y, f[QUEUE_SHARDS].value, sub, 1,
		    SCHEMA_SHARDS_MAX, &q->shards);
		free(sub);
	}
}

/* Check the queues: section; absent, it serves {default: 1}. */
static void
config_queues(struct load *ld, struct yread_pair *p)
{
	struct config *cfg = ld->cfg;
	struct queue_conf *q;
	struct yread_pair qp;
	const char *name;
	char buf[64], err[256], *sub;
	size_t i;

	if (p == NULL) {
		cfg->queues = xcalloc(1, sizeof *cfg->queues);
		cfg->queues[0].name = xstrdup("default");
		cfg->queues[0].weight = 1;
		cfg->queues[0].shards = 1;
		cfg->queues[0].serve = 1;
		cfg->nqueues = 1;
		return;
	}
	if (!yread_is_null(p->value) && p->value->type != YAML_MAPPING_NODE) {
		yread_error(&ld->y, p->value, "queues", "expected a mapping of "
		    "queue names to weights, got %s",
		    yread_what(p->value, buf, sizeof buf));
		ld->queues_bad = 1;
		return;
	}
	cfg->queues = xcalloc(yread_npairs(p->value), sizeof *cfg->queues);
	for (i = 0; i < yread_npairs(p->value); i++) {
		name = yread_key(&ld->y, p->value, i, "queues", &qp);
		if (name == NULL) {
			ld->queues_bad = 1;
			continue;
		}
		if (strchr(name, '~') != NULL)
			yread_error(&ld->y, qp.key, "queues", "queue name "
			    "\"%s\": '~' marks a shard of a sharded queue; "
			    "give the queue as NAME: { weight: W, shards: N }",
			    name);
		else if (schema_check_queue(name, err, sizeof err) != 0)
			yread_error(&ld->y, qp.key, "queues", "%s", err);
		q = &cfg->queues[cfg->nqueues++];
		q->name = xstrdup(name);
		q->weight = 1;
		q->shards = 1;
		sub = yread_path("queues", name);
		if (qp.value->type == YAML_MAPPING_NODE)
			config_queue_map(ld, qp.value, sub, q);
		else if (qp.value->type != YAML_SCALAR_NODE)
			yread_error(&ld->y, qp.value, sub, "expected a weight "
			    "(1-1000) or a mapping such as { weight: 1, shards: "
			    "8 }, got %s", yread_what(qp.value, buf,
			    sizeof buf));
		else
			yread_uint(&ld->y, qp.value, sub, 1, 1000, &q->weight);
		q->serve = q->shards;
		free(sub);
	}
	if (cfg->nqueues == 0 && !ld->queues_bad) {
		yread_error(&ld->y, p->key, "queues", "no queue is served (the "
		    "default is {default: 1})");
		ld->queues_bad = 1;
	}
}

/*
 * A duration of a guard: at least min_ms and at most max_ms, the range the
 * library takes (src/ranges.h). Returns 0 or -1.
 */
static int
config_guard_duration(struct load *ld, yaml_node_t *n, const char *path,
    uint64_t min_ms, uint64_t max_ms, uint64_t *out)
{
	char buf[64];
	uint64_t ms;

	if (yread_duration(&ld->y, n, path, min_ms, &ms) != 0)
		return -1;
	if (ms > max_ms) {
		yread_error(&ld->y, n, path, "must be at most %s (%llums), "
		    "the longest the guard functions take, got %.40s",
		    duration_format(max_ms, buf, sizeof buf),
		    (unsigned long long)max_ms, yread_scalar(&ld->y, n, path,
		    "a duration"));
		return -1;
	}
	*out = ms;
	return 0;
}

/* A rate of a guard, whose period the library takes. Returns 0 or -1. */
static int
config_guard_rate(struct load *ld, yaml_node_t *n, const char *path,
    struct rate *out)
{
	char buf[64];
	struct rate r;

	if (yread_rate(&ld->y, n, path, &r) != 0)
		return -1;
	if (r.period_ms > GUARD_PERIOD_MAX || r.count > GUARD_COUNT_MAX) {
		yread_error(&ld->y, n, path, "must count at most %llu events "
		    "over at most %s (%llums), the guard functions' range, got "
		    "%.40s", (unsigned long long)GUARD_COUNT_MAX,
		    duration_format(GUARD_PERIOD_MAX, buf, sizeof buf),
		    (unsigned long long)GUARD_PERIOD_MAX, yread_scalar(&ld->y,
		    n, path, "a rate"));
		return -1;
	}
	*out = r;
	return 0;
}

/* Check one limiter, named by the key of p, into lc. */
static void
config_limiter(struct load *ld, struct yread_pair *p, const char *name,
    struct limiter_conf *lc)
{
	struct yread_pair f[LIM_N];
	char *path, *sub, list[256], why[256];
	const char *takes[LIM_N];
	size_t i, ntakes;
	int kind = -1, bad = 0;

	path = yread_path("limiters", name);
	if (yread_fields(&ld->y, p->value, path, "a mapping", config_limiter_keys,
	    LIM_N, f) != 0) {
		free(path);
		return;
	}
	if (f[LIM_KIND].value == NULL)
		yread_error(&ld->y, p->key, path, "missing \"kind\" (window, "
		    "funnel, gcra or concurrency)");
	else {
		sub = yread_path(path, "kind");
		if (yread_enum(&ld->y, f[LIM_KIND].value, sub, "limiter kind",
		    config_limiter_kinds, nitems(config_limiter_kinds),
		    &kind) == 0)
			lc->kind = (enum limiter_kind)kind;
		free(sub);
	}
	ntakes = 0;
	if (kind != -1) {
		for (i = 1; i < LIM_N; i++) {
			if (config_limiter_takes[kind] & LK(i))
				takes[ntakes++] = config_limiter_keys[i];
		}
	}
	for (i = 1; i < LIM_N; i++) {
		if (f[i].value == NULL)
			continue;
		sub = yread_path(path, config_limiter_keys[i]);
		if (kind != -1 && (config_limiter_takes[kind] & LK(i)) == 0) {
			yread_error(&ld->y, f[i].key, sub, "a %s limiter does not "
			    "take %s (it takes %s)", config_limiter_kinds[kind],
			    config_limiter_keys[i],
			    yread_list(takes, ntakes, " and ", list,
			    sizeof list));
			free(sub);
			continue;
		}
		switch (i) {
		case LIM_LIMIT:
			/* A window keeps one entry per unit: its own bound. */
			if (yread_u64(&ld->y, f[i].value, sub, 1,
			    kind == LIMITER_WINDOW ? GUARD_WINDOW_MAX :
			    GUARD_COUNT_MAX, &lc->limit) != 0)
				bad = 1;
			break;
		case LIM_PERIOD:
			if (config_guard_duration(ld, f[i].value, sub, 1,
			    GUARD_PERIOD_MAX, &lc->period_ms) != 0)
				bad = 1;
			break;
		case LIM_CAPACITY:
			if (yread_u64(&ld->y, f[i].value, sub, 1,
			    GUARD_COUNT_MAX, &lc->capacity) != 0)
				bad = 1;
			break;
		case LIM_RATE:
			if (config_guard_rate(ld, f[i].value, sub,
			    &lc->rate) != 0)
				bad = 1;
			break;
		case LIM_BURST:
			if (yread_u64(&ld->y, f[i].value, sub, 0,
			    GUARD_COUNT_MAX, &lc->burst) != 0)
				bad = 1;
			break;
		case LIM_LEASE:
			if (config_guard_duration(ld, f[i].value, sub, 1000,
			    GUARD_PERIOD_MAX, &lc->lease_ms) != 0)
				bad = 1;
			break;
		case LIM_KEY:
			config_template(ld, f[i].value, sub, &lc->key);
			break;
		}
		free(sub);
	}
	if (kind != -1) {
		for (i = 1; i < LIM_N; i++) {
			if ((config_limiter_needs[kind] & LK(i)) == 0 ||
			    f[i].value != NULL)
				continue;
			yread_error(&ld->y, p->key, path, "a %s limiter needs "
			    "\"%s\"", config_limiter_kinds[kind],
			    config_limiter_keys[i]);
			bad = 1;
		}
		/* Each value in range, their products may still not be. */
		if (!bad && guard_limiter_fits(lc, why, sizeof why) != 0)
			yread_error(&ld->y, p->key, path, "%s", why);
	}
	free(path);
}

/* Check the limiters: section. */
static void
config_limiters(struct load *ld, struct yread_pair *p)
{
	struct config *cfg = ld->cfg;
	struct limiter_conf *lc;
	struct yread_pair lp;
	const char *name;
	char buf[64];
	size_t i;

	if (p == NULL || yread_is_null(p->value))
		return;
	if (p->value->type != YAML_MAPPING_NODE) {
		yread_error(&ld->y, p->value, "limiters", "expected a mapping of "
		    "limiter names to limiters, got %s",
		    yread_what(p->value, buf, sizeof buf));
		ld->limiters_bad = 1;
		return;
	}
	cfg->limiters = xcalloc(yread_npairs(p->value),
	    sizeof *cfg->limiters);
	for (i = 0; i < yread_npairs(p->value); i++) {
		name = yread_key(&ld->y, p->value, i, "limiters", &lp);
		if (name == NULL) {
			ld->limiters_bad = 1;
			continue;
		}
		if (!config_valid_name(name))
			yread_error(&ld->y, lp.key, "limiters", "invalid limiter "
			    "name \"%.64s\" (1-128 of A-Z a-z 0-9 _ . : -)",
			    name);
		lc = &cfg->limiters[cfg->nlimiters++];
		lc->name = xstrdup(name);
		lc->burst = 0;
		lc->lease_ms = 60 * 1000;
		config_limiter(ld, &lp, name, lc);
	}
}

/* Check exec: an argv of strings whose argv[0] is an executable. */
static void
config_exec(struct load *ld, struct yread_pair *p, const char *path,
    struct job_conf *jc)
{
	yaml_node_t *n = p->value, *item;
	const char *s;
	char buf[64];
	size_t i, nitem;

	if (n->type != YAML_SEQUENCE_NODE) {
		yread_error(&ld->y, n, path, "expected a sequence of strings "
		    "(the argv, e.g. [/bin/sh, -c, \"...\"]), got %s",
		    yread_what(n, buf, sizeof buf));
		return;
	}
	nitem = (size_t)(n->data.sequence.items.top -
	    n->data.sequence.items.start);
	if (nitem == 0) {
		yread_error(&ld->y, n, path, "the argv is empty");
		return;
	}
	jc->exec = xcalloc(nitem + 1, sizeof *jc->exec);
	for (i = 0; i < nitem; i++) {
		item = yread_node(&ld->y, n->data.sequence.items.start[i]);
		if ((s = yread_scalar(&ld->y, item, path, "a string")) == NULL)
			continue;
		jc->exec[jc->nexec++] = xstrdup(s);
		if (i == 0)
			yread_file(&ld->y, item, path, s, 'x');
	}
}

/* Check plugin: {path, symbol}. */
static void
config_plugin(struct load *ld, struct yread_pair *p, const char *path,
    struct job_conf *jc)
{
	struct yread_pair f[PLUGIN_N];
	char *sub;

	if (yread_fields(&ld->y, p->value, path, "a mapping", config_plugin_keys,
	    PLUGIN_N, f) != 0)
		return;
	if (f[PLUGIN_PATH].value == NULL)
		yread_error(&ld->y, p->key, path, "missing \"path\" (the shared "
		    "object to load)");
	else {
		sub = yread_path(path, "path");
		if (yread_string(&ld->y, f[PLUGIN_PATH].value, sub, 0,
		    &jc->plugin_path) == 0)
			yread_file(&ld->y, f[PLUGIN_PATH].value, sub,
			    jc->plugin_path, 'r');
		free(sub);
	}
	sub = yread_path(path, "symbol");
	if (f[PLUGIN_SYMBOL].value != NULL) {
		if (yread_string(&ld->y, f[PLUGIN_SYMBOL].value, sub, 0,
		    &jc->plugin_symbol) == 0 &&
		    !config_valid_ident(jc->plugin_symbol))
			yread_error(&ld->y, f[PLUGIN_SYMBOL].value, sub,
			    "\"%.64s\" is not a C identifier",
			    jc->plugin_symbol);
	} else {
		jc->plugin_symbol = xstrdup(jc->type);
		if (!config_valid_ident(jc->plugin_symbol))
			yread_error(&ld->y, p->key, path, "the job type \"%.64s\" "
			    "is not a C identifier, so it cannot be the "
			    "default symbol; set symbol", jc->type);
	}
	free(sub);
}

/* Check retry: and fill jc->retry (which holds the defaults). */
static void
config_retry(struct load *ld, struct yread_pair *p, const char *path,
    struct job_conf *jc)
{
	struct retry_conf *rc = &jc->retry;
	struct yread_pair f[RETRY_N];
	char *sub, b1[64], b2[64];
	int v, base_ok = 1, max_ok = 1;

	if (yread_fields(&ld->y, p->value, path, "a mapping", config_retry_keys,
	    RETRY_N, f) != 0)
		return;
	if (f[RETRY_MAX_ATTEMPTS].value != NULL) {
		sub = yread_path(path, "max_attempts");
		yread_uint(&ld->y, f[RETRY_MAX_ATTEMPTS].value, sub, 1, 1000000,
		    &rc->max_attempts);
		free(sub);
	}
	if (f[RETRY_BACKOFF].value != NULL) {
		sub = yread_path(path, "backoff");
		if (yread_enum(&ld->y, f[RETRY_BACKOFF].value, sub, "backoff",
		    config_backoffs, nitems(config_backoffs), &v) == 0)
			rc->backoff = (enum backoff_kind)v;
		free(sub);
	}
	if (f[RETRY_BASE].value != NULL) {
		sub = yread_path(path, "base");
		base_ok = yread_duration(&ld->y, f[RETRY_BASE].value, sub, 0,
		    &rc->base_ms) == 0;
		free(sub);
	}
	if (f[RETRY_MAX].value != NULL) {
		sub = yread_path(path, "max");
		max_ok = yread_duration(&ld->y, f[RETRY_MAX].value, sub, 0,
		    &rc->max_ms) == 0;
		free(sub);
	}
	if (f[RETRY_JITTER].value != NULL) {
		sub = yread_path(path, "jitter");
		yread_fraction(&ld->y, f[RETRY_JITTER].value, sub, &rc->jitter);
		free(sub);
	}
	if (base_ok && max_ok && rc->max_ms < rc->base_ms) {
		if (f[RETRY_MAX].value != NULL) {
			sub = yread_path(path, "max");
			yread_error(&ld->y, f[RETRY_MAX].value, sub, "%s is less "
			    "than base (%s)", duration_format(rc->max_ms, b1,
			    sizeof b1), duration_format(rc->base_ms, b2,
			    sizeof b2));
		} else {
			sub = yread_path(path, "base");
			yread_error(&ld->y, f[RETRY_BASE].value, sub, "%s is more "
			    "than max (%s by default)", duration_format(
			    rc->base_ms, b1, sizeof b1), duration_format(
			    rc->max_ms, b2, sizeof b2));
		}
		free(sub);
	}
}

/* Check lock: and fill jc->lock (which holds the defaults). */
static void
config_lock(struct load *ld, struct yread_pair *p, const char *path,
    struct job_conf *jc)
{
	struct lock_conf *lk = &jc->lock;
	struct yread_pair f[LOCK_N];
	char *sub;
	int v;

	if (yread_fields(&ld->y, p->value, path, "a mapping", config_lock_keys,
	    LOCK_N, f) != 0)
		return;
	if (f[LOCK_KEY].value == NULL)
		yread_error(&ld->y, p->key, path, "missing \"key\" (the name of "
		    "the lock, a template such as \"report:{key}\")");
	else {
		sub = yread_path(path, "key");
		config_template(ld, f[LOCK_KEY].value, sub, &lk->key);
		free(sub);
	}
	if (f[LOCK_TTL].value != NULL) {
		sub = yread_path(path, "ttl");
		config_guard_duration(ld, f[LOCK_TTL].value, sub, 1000,
		    GUARD_TTL_MAX, &lk->ttl_ms);
		free(sub);
	}
	if (f[LOCK_ON_CONFLICT].value != NULL) {
		sub = yread_path(path, "on_conflict");
		if (yread_enum(&ld->y, f[LOCK_ON_CONFLICT].value, sub,
		    "on_conflict policy", config_conflicts,
		    nitems(config_conflicts), &v) == 0)
			lk->on_conflict = (enum on_conflict)v;
		free(sub);
	}
	if (f[LOCK_REQUEUE_DELAY].value != NULL) {
		sub = yread_path(path, "requeue_delay");
		yread_duration(&ld->y, f[LOCK_REQUEUE_DELAY].value, sub, 0,
		    &lk->requeue_delay_ms);
		free(sub);
	}
}

/* Check one limiter name of limit: and add it to jc->limits. */
static void
config_limit_one(struct load *ld, yaml_node_t *n, const char *path,
    struct job_conf *jc)
{
	struct config *cfg = ld->cfg;
	const struct limiter_conf *lc;
	const char **names, *s;
	char hint[600];
	size_t i;

	if ((s = yread_scalar(&ld->y, n, path, "a limiter name")) == NULL)
		return;
	if ((lc = config_find_limiter(cfg, s)) == NULL) {
		if (ld->limiters_bad)
			return;
		names = xreallocarray(NULL, cfg->nlimiters + 1, sizeof *names);
		for (i = 0; i < cfg->nlimiters; i++)
			names[i] = cfg->limiters[i].name;
		if (cfg->nlimiters == 0)
			yread_error(&ld->y, n, path, "no limiter named \"%.64s\" "
			    "(limiters: defines none)", s);
		else
			yread_error(&ld->y, n, path, "no limiter named "
			    "\"%.64s\"%s", s, yread_hint(s, names,
			    cfg->nlimiters, hint, sizeof hint));
		free(names);
		return;
	}
	for (i = 0; i < jc->nlimits; i++) {
		if (jc->limits[i] == lc) {
			yread_error(&ld->y, n, path, "limiter \"%s\" is listed "
			    "twice", s);
			return;
		}
	}
	jc->limits[jc->nlimits++] = (struct limiter_conf *)lc;
}

/* Check limit: a limiter name or a sequence of them. */
static void
config_limit(struct load *ld, struct yread_pair *p, const char *path,
    struct job_conf *jc)
{
	yaml_node_t *n = p->value;
	size_t i, nitem;

	if (n->type != YAML_SEQUENCE_NODE) {
		jc->limits = xcalloc(1, sizeof *jc->limits);
		if (n->type == YAML_MAPPING_NODE) {
			yread_error(&ld->y, n, path, "expected a limiter name or "
			    "a sequence of them, got a mapping");
			return;
		}
		config_limit_one(ld, n, path, jc);
		return;
	}
	nitem = (size_t)(n->data.sequence.items.top -
	    n->data.sequence.items.start);
	jc->limits = xcalloc(nitem, sizeof *jc->limits);
	for (i = 0; i < nitem; i++) {
		config_limit_one(ld,
		    yread_node(&ld->y, n->data.sequence.items.start[i]), path, jc);
	}
}

/* Check env: a mapping of variable names to strings. */
static void
config_env(struct load *ld, struct yread_pair *p, const char *path,
    struct job_conf *jc)
{
	struct env_var *ev;
	struct yread_pair ep;
	const char *name, *val;
	char buf[64], *sub;
	size_t i;

	if (yread_is_null(p->value))
		return;
	if (p->value->type != YAML_MAPPING_NODE) {
		yread_error(&ld->y, p->value, path, "expected a mapping of "
		    "variable names to values, got %s",
		    yread_what(p->value, buf, sizeof buf));
		return;
	}
	jc->env = xcalloc(yread_npairs(p->value), sizeof *jc->env);
	for (i = 0; i < yread_npairs(p->value); i++) {
		if ((name = yread_key(&ld->y, p->value, i, path, &ep)) == NULL)
			continue;
		if (!config_valid_ident(name)) {
			yread_error(&ld->y, ep.key, path, "invalid variable name "
			    "\"%.64s\" (letters, digits and _, not starting "
			    "with a digit)", name);
			continue;
		}
		if (strncmp(name, "REDJOB_", 7) == 0) {
			yread_error(&ld->y, ep.key, path, "%.64s: names starting "
			    "with REDJOB_ are set by redjobd", name);
			continue;
		}
		sub = yread_path(path, name);
		val = yread_scalar(&ld->y, ep.value, sub, "a string (quote it, "
		    "\"\" for an empty one)");
		free(sub);
		if (val == NULL)
			continue;
		ev = &jc->env[jc->nenv++];
		ev->name = xstrdup(name);
		ev->value = xstrdup(val);
	}
}

/*
 * Check a job's result: mapping, whose keys each have a default (an
 * empty mapping keeps results with both).
 */
static void
config_result(struct load *ld, struct yread_pair *p, const char *path,
    struct job_conf *jc)
{
	struct yread_pair f[RESULT_N];
	char *sub, buf[64];
	uint64_t v;

	if (yread_fields(&ld->y, p->value, path, "a mapping such as { max: "
	    "1MiB, ttl: 1d }", config_result_keys, RESULT_N, f) != 0)
		return;
	jc->result_max = CONFIG_RESULT_MAX_DEFAULT;
	jc->result_ttl_ms = CONFIG_RESULT_TTL_DEFAULT;
	if (f[RESULT_MAX].value != NULL) {
		sub = yread_path(path, "max");
		if (yread_size(&ld->y, f[RESULT_MAX].value, sub,
		    CONFIG_RESULT_MAX_LIMIT, &v) == 0)
			jc->result_max = (size_t)v;
		free(sub);
	}
	if (f[RESULT_TTL].value != NULL) {
		sub = yread_path(path, "ttl");
		if (yread_duration(&ld->y, f[RESULT_TTL].value, sub, 1,
		    &v) != 0) {
			free(sub);
			return;
		}
		if (v > CONFIG_RESULT_TTL_LIMIT)
			yread_error(&ld->y, f[RESULT_TTL].value, sub, "must be "
			    "at most %s, got %.40s", duration_format(
			    CONFIG_RESULT_TTL_LIMIT, buf, sizeof buf),
			    yread_scalar(&ld->y, f[RESULT_TTL].value, sub,
			    "a duration"));
		else
			jc->result_ttl_ms = v;
		free(sub);
	}
}

/* Tell whether queue is served. */
static int
config_served(const struct config *cfg, const char *queue)
{
	size_t i;

	for (i = 0; i < cfg->nqueues; i++) {
		if (strcmp(cfg->queues[i].name, queue) == 0)
			return 1;
	}
	return 0;
}

/*
 * Check schedule: and fill jc->schedule. A bad cron line is reported at
 * the column of its bad field inside the string when the string is on
 * one line, so the caret of an editor lands on it.
 */
static void
config_schedule(struct load *ld, struct yread_pair *p, const char *path,
    struct job_conf *jc)
{
	struct schedule_conf *sc = &jc->schedule;
	struct yread_pair f[SCHED_N], *later;
	yaml_node_t *n;
	const char *s;
	char err[256], *sub, buf[64];
	uint64_t ms;
	size_t col;
	unsigned line, column;
	int v;

	if (yread_fields(&ld->y, p->value, path, "a mapping",
	    config_schedule_keys, SCHED_N, f) != 0)
		return;
	sc->on = 1;
	sc->misfire = MISFIRE_SKIP;
	sc->max_catchup = SCHEDULE_CATCHUP_DEFAULT;
	if (f[SCHED_CRON].value != NULL && f[SCHED_EVERY].value != NULL) {
		later = f[SCHED_CRON].key->start_mark.index >
		    f[SCHED_EVERY].key->start_mark.index ?
		    &f[SCHED_CRON] : &f[SCHED_EVERY];
		yread_error(&ld->y, later->key, path, "cron and every are "
		    "mutually exclusive (a schedule has one of them)");
	} else if (f[SCHED_CRON].value == NULL && f[SCHED_EVERY].value ==
	    NULL)
		yread_error(&ld->y, p->key, path, "needs cron (a cron line, "
		    "such as \"*/5 * * * *\") or every (a period, such as "
		    "30s)");
	else if ((n = f[SCHED_CRON].value) != NULL) {
		sub = yread_path(path, "cron");
		if ((s = yread_scalar(&ld->y, n, sub, "a cron line")) != NULL) {
			if (cron_parse(s, &sc->cron, err, sizeof err,
			    &col) == 0)
				sc->spec = xstrdup(s);
			else if (n->start_mark.line == n->end_mark.line &&
			    strchr(s, '\\') == NULL) {
				line = (unsigned)n->start_mark.line + 1;
				column = (unsigned)(n->start_mark.column + 1 +
				    col + (n->data.scalar.style ==
				    YAML_PLAIN_SCALAR_STYLE ? 0 : 1));
				diags_add(ld->y.d, ld->y.file, line, column,
				    "%s: %s", sub, err);
			} else
				yread_error(&ld->y, n, sub, "%s (at offset "
				    "%zu)", err, col);
		}
		free(sub);
	} else {
		sub = yread_path(path, "every");
		if (yread_duration(&ld->y, f[SCHED_EVERY].value, sub, 0,
		    &ms) == 0) {
			if (cron_every(ms, &sc->cron, err, sizeof err) != 0)
				yread_error(&ld->y, f[SCHED_EVERY].value, sub,
				    "%s, not %s", err, yread_text(
				    f[SCHED_EVERY].value));
			else {
				duration_format(ms, buf, sizeof buf);
				xasprintf(&sc->spec, "every %s", buf);
			}
		}
		free(sub);
	}
	if ((n = f[SCHED_TIMEZONE].value) != NULL) {
		sub = yread_path(path, "timezone");
		if ((s = yread_scalar(&ld->y, n, sub, "a time zone name")) !=
		    NULL && cron_zone(s, &sc->cron, err, sizeof err) != 0)
			yread_error(&ld->y, n, sub, "%s", err);
		free(sub);
	} else
		(void)cron_zone("UTC", &sc->cron, err, sizeof err);
	if (f[SCHED_MISFIRE].value != NULL) {
		sub = yread_path(path, "misfire");
		if (yread_enum(&ld->y, f[SCHED_MISFIRE].value, sub,
		    "misfire policy", config_misfires,
		    nitems(config_misfires), &v) == 0)
			sc->misfire = (enum misfire)v;
		free(sub);
	}
	if (f[SCHED_CATCHUP].value != NULL) {
		sub = yread_path(path, "max_catchup");
		yread_uint(&ld->y, f[SCHED_CATCHUP].value, sub, 1,
		    SCHEDULE_CATCHUP_MAX, &sc->max_catchup);
		free(sub);
	}
	if (f[SCHED_PAYLOAD].value != NULL) {
		sub = yread_path(path, "payload");
		/* redjob_tick's limit, the library's default one. */
		if (yread_string(&ld->y, f[SCHED_PAYLOAD].value, sub, 1,
		    &sc->payload) == 0 && strlen(sc->payload) > 524288)
			yread_error(&ld->y, f[SCHED_PAYLOAD].value, sub, "a "
			    "payload of %zu bytes is over the limit of 524288 "
			    "bytes", strlen(sc->payload));
		free(sub);
	}
	if (sc->payload == NULL)
		sc->payload = xstrdup("");
}

/* Check that the job's queue is served; qn is its node or NULL. */
static void
config_job_queue(struct load *ld, struct yread_pair *p, yaml_node_t *qn,
    const char *path, struct job_conf *jc)
{
	struct config *cfg = ld->cfg;
	const char **names;
	const char *s;
	char hint[600], base[SCHEMA_QUEUE_MAX + 1], *sub;
	size_t i;

	if (ld->queues_bad || config_served(cfg, jc->queue))
		return;
	if (qn == NULL) {
		yread_error(&ld->y, p->key, path, "its queue is \"default\", "
		    "which is not served (set queue, or add default under "
		    "queues:)");
		return;
	}
	names = xreallocarray(NULL, cfg->nqueues + 1, sizeof *names);
	for (i = 0; i < cfg->nqueues; i++)
		names[i] = cfg->queues[i].name;
	if (schema_shard_split(jc->queue, base, sizeof base, NULL) == 0 &&
	    strcmp(base, jc->queue) != 0 && config_served(cfg, base))
		snprintf(hint, sizeof hint, "it is a shard of queue %s: name "
		    "the queue, and its jobs are spread over its shards", base);
	else if ((s = yread_suggest(jc->queue, names, cfg->nqueues)) != NULL)
		snprintf(hint, sizeof hint, "did you mean \"%s\"?", s);
	else
		snprintf(hint, sizeof hint, "add it under queues:");
	sub = yread_path(path, "queue");
	yread_error(&ld->y, qn, sub, "queue \"%.64s\" is not served (%s)",
	    jc->queue, hint);
	free(sub);
	free(names);
}

/* Check one job, whose type is the key of p, into jc. */
static void
config_job(struct load *ld, struct yread_pair *p, struct job_conf *jc)
{
	struct yread_pair f[JOB_N], *later;
	char *path, *sub;
	size_t i;
	int queue_ok = 1;

	path = yread_path("jobs", jc->type);
	if (yread_fields(&ld->y, p->value, path, "a mapping", config_job_keys,
	    JOB_N, f) != 0) {
		free(path);
		return;
	}
	sub = NULL;
	for (i = 0; i < JOB_N; i++) {
		if (f[i].value == NULL)
			continue;
		free(sub);
		sub = yread_path(path, config_job_keys[i]);
		switch (i) {
		case JOB_QUEUE:
			queue_ok = yread_string(&ld->y, f[i].value, sub, 0,
			    &jc->queue) == 0;
			break;
		case JOB_EXEC:
			config_exec(ld, &f[i], sub, jc);
			break;
		case JOB_PLUGIN:
			config_plugin(ld, &f[i], sub, jc);
			break;
		case JOB_TIMEOUT:
			yread_duration(&ld->y, f[i].value, sub, 0,
			    &jc->timeout_ms);
			break;
		case JOB_RETRY:
			config_retry(ld, &f[i], sub, jc);
			break;
		case JOB_LOCK:
			config_lock(ld, &f[i], sub, jc);
			break;
		case JOB_LIMIT:
			config_limit(ld, &f[i], sub, jc);
			break;
		case JOB_ENV:
			config_env(ld, &f[i], sub, jc);
			break;
		case JOB_CWD:
			if (yread_string(&ld->y, f[i].value, sub, 0,
			    &jc->cwd) == 0)
				yread_file(&ld->y, f[i].value, sub, jc->cwd, 'd');
			break;
		case JOB_EXPIRE:
			yread_duration(&ld->y, f[i].value, sub, 1,
			    &jc->expire_ms);
			break;
		case JOB_RESULT:
			config_result(ld, &f[i], sub, jc);
			break;
		case JOB_SCHEDULE:
			config_schedule(ld, &f[i], sub, jc);
			break;
		}
	}
	free(sub);
	if (queue_ok)
		config_job_queue(ld, p, f[JOB_QUEUE].value, path, jc);
	if (f[JOB_EXEC].value != NULL && f[JOB_PLUGIN].value != NULL) {
		later = f[JOB_EXEC].key->start_mark.index >
		    f[JOB_PLUGIN].key->start_mark.index ?
		    &f[JOB_EXEC] : &f[JOB_PLUGIN];
		yread_error(&ld->y, later->key, path, "exec and plugin are "
		    "mutually exclusive (a job has one handler)");
	} else if (f[JOB_EXEC].value == NULL && f[JOB_PLUGIN].value == NULL)
		yread_error(&ld->y, p->key, path, "needs a handler: exec or "
		    "plugin");
	else if (f[JOB_PLUGIN].value != NULL) {
		if (f[JOB_ENV].value != NULL)
			yread_error(&ld->y, f[JOB_ENV].key, path, "env is only "
			    "for exec handlers (a plugin runs inside the "
			    "worker)");
		if (f[JOB_CWD].value != NULL)
			yread_error(&ld->y, f[JOB_CWD].key, path, "cwd is only "
			    "for exec handlers (a plugin runs inside the "
			    "worker)");
	}
	free(path);
}

/* Check the jobs: section. */
static void
config_jobs(struct load *ld, struct yread_pair *p)
{
	struct config *cfg = ld->cfg;
	struct job_conf *jc;
	struct yread_pair jp;
	const char *type;
	char buf[64];
	size_t i;

	if (p == NULL || yread_is_null(p->value))
		return;
	if (p->value->type != YAML_MAPPING_NODE) {
		yread_error(&ld->y, p->value, "jobs", "expected a mapping of job "
		    "types to jobs, got %s",
		    yread_what(p->value, buf, sizeof buf));
		return;
	}
	cfg->jobs = xcalloc(yread_npairs(p->value), sizeof *cfg->jobs);
	for (i = 0; i < yread_npairs(p->value); i++) {
		if ((type = yread_key(&ld->y, p->value, i, "jobs", &jp)) == NULL)
			continue;
		if (!config_valid_name(type))
			yread_error(&ld->y, jp.key, "jobs", "invalid job type "
			    "\"%.64s\" (1-128 of A-Z a-z 0-9 _ . : -)", type);
		jc = &cfg->jobs[cfg->njobs++];
		jc->type = xstrdup(type);
		jc->queue = xstrdup("default");
		jc->timeout_ms = 30 * 60 * 1000;
		jc->retry.max_attempts = 25;
		jc->retry.backoff = BACKOFF_EXPONENTIAL;
		jc->retry.base_ms = 1000;
		jc->retry.max_ms = 3600 * 1000;
		jc->retry.jitter = 0.5;
		jc->lock.ttl_ms = 60 * 1000;
		jc->lock.on_conflict = CONFLICT_REQUEUE;
		jc->line = (unsigned)jp.key->start_mark.line + 1;
		config_job(ld, &jp, jc);
	}
}

/* Check the top-level mapping, one section after another. */
/*
 * Check the http: section: listen is "IPV4:PORT", "[IPV6]:PORT" or
 * "unix:/PATH" (redjob.yml(5)). Addresses are literal, so the listener
 * never waits on a name lookup; port 0 takes any free port, which the
 * log names.
 */
static void
config_http(struct load *ld, struct yread_pair *p)
{
	struct config *cfg = ld->cfg;
	struct yread_pair f[HTTP_N];
	const char *path = "http.listen", *s, *colon;
	char host[INET6_ADDRSTRLEN + 1];
	unsigned char addr[sizeof(struct in6_addr)];
	unsigned long port;
	char *end;
	size_t n;
	int v6;

	if (yread_fields(&ld->y, p->value, "http", "a mapping", config_http_keys,
	    HTTP_N, f) != 0)
		return;
	if (f[HTTP_LISTEN].value == NULL) {
		yread_error(&ld->y, p->key, "http", "missing \"listen\" (an "
		    "address such as 127.0.0.1:9187, [::1]:9187 or "
		    "unix:/run/redjob/http.sock)");
		return;
	}
	if (yread_string(&ld->y, f[HTTP_LISTEN].value, path, 0,
	    &cfg->http_listen) != 0)
		return;
	s = cfg->http_listen;
	if (strncmp(s, "unix:", 5) == 0) {
		if (s[5] != '/')
			yread_error(&ld->y, f[HTTP_LISTEN].value, path, "\"%.64s\""
			    " is not an absolute path after unix:", s + 5);
		else if (strlen(s + 5) > CONFIG_SOCKET_MAX)
			yread_error(&ld->y, f[HTTP_LISTEN].value, path, "the "
			    "socket path is longer than %zu bytes",
			    CONFIG_SOCKET_MAX);
		else
			cfg->http_path = xstrdup(s + 5);
		return;
	}
	v6 = s[0] == '[';
	if (v6) {
		colon = strchr(s, ']');
		if (colon == NULL || colon[1] != ':') {
			yread_error(&ld->y, f[HTTP_LISTEN].value, path, "\"%.64s"
			    "\": an IPv6 address is written [ADDRESS]:PORT", s);
			return;
		}
		n = (size_t)(colon - s - 1);
		s++;
		colon++;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL) {
			yread_error(&ld->y, f[HTTP_LISTEN].value, path, "\"%.64s"
			    "\" has no port: write ADDRESS:PORT (127.0.0.1:9187, "
			    "[::1]:9187) or unix:/PATH", s);
			return;
		}
		n = (size_t)(colon - s);
		if (memchr(s, ':', n) != NULL) {
			yread_error(&ld->y, f[HTTP_LISTEN].value, path, "\"%.64s"
			    "\": an IPv6 address is written [ADDRESS]:PORT", s);
			return;
		}
	}
	if (n == 0 || n >= sizeof host) {
		yread_error(&ld->y, f[HTTP_LISTEN].value, path, "\"%.64s\" has "
		    "no valid address before its port", cfg->http_listen);
		return;
	}
	memcpy(host, s, n);
	host[n] = '\0';
	if (inet_pton(v6 ? AF_INET6 : AF_INET, host, addr) != 1) {
		yread_error(&ld->y, f[HTTP_LISTEN].value, path, "\"%.64s\" is "
		    "not an IP%s address (names are not looked up: write "
		    "127.0.0.1, [::1] or the like)", host, v6 ? "v6" : "v4");
		return;
	}
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || errno != 0 ||
	    port > 65535) {
		yread_error(&ld->y, f[HTTP_LISTEN].value, path, "\"%.16s\" is "
		    "not a port (0-65535; 0 takes any free port)", colon + 1);
		return;
	}
	cfg->http_host = xstrdup(host);
	cfg->http_port = (unsigned)port;
}

/*
 * handler_path: the PATH of exec handlers whose type sets none. Absolute
 * directories separated by ':', as execvp and shells read it.
 */
static void
config_handler_path(struct load *ld, yaml_node_t *n)
{
	char *v = NULL, *p, *dir;
	int len;

	if (yread_string(&ld->y, n, "handler_path", 0, &v) != 0)
		return;
	if (strlen(v) > CONFIG_HANDLER_PATH_MAX) {
		yread_error(&ld->y, n, "handler_path", "longer than %d bytes",
		    CONFIG_HANDLER_PATH_MAX);
		goto bad;
	}
	for (p = v; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			yread_error(&ld->y, n, "handler_path", "a control "
			    "character at byte %zu", (size_t)(p - v) + 1);
			goto bad;
		}
	}
	for (dir = v;; dir = p + 1) {
		p = dir + strcspn(dir, ":");
		len = (int)(p - dir);
		if (*dir != '/') {
			yread_error(&ld->y, n, "handler_path", "\"%.*s\" is not "
			    "an absolute directory (the PATH of exec handlers: "
			    "absolute directories separated by ':')", len, dir);
			goto bad;
		}
		if (*p == '\0')
			break;
	}
	free(ld->cfg->handler_path);
	ld->cfg->handler_path = v;
	return;
bad:
	free(v);
}

static void
config_top(struct load *ld, yaml_node_t *root)
{
	struct config *cfg = ld->cfg;
	struct yread_pair f[TOP_N];
	int v;

	if (yread_fields(&ld->y, root, "", "a mapping of settings at the top "
	    "level", config_top_keys, TOP_N, f) != 0)
		return;
	config_redis(ld, f[TOP_REDIS].value != NULL ? &f[TOP_REDIS] : NULL);
	if (f[TOP_WORKERS].value != NULL)
		yread_uint(&ld->y, f[TOP_WORKERS].value, "workers", 1, 256,
		    &cfg->workers);
	if (f[TOP_CONCURRENCY].value != NULL)
		yread_uint(&ld->y, f[TOP_CONCURRENCY].value, "concurrency", 1,
		    10000, &cfg->concurrency);
	if (f[TOP_SHUTDOWN_TIMEOUT].value != NULL)
		yread_duration(&ld->y, f[TOP_SHUTDOWN_TIMEOUT].value,
		    "shutdown_timeout", 0, &cfg->shutdown_timeout_ms);
	if (f[TOP_LEASE].value != NULL)
		yread_duration(&ld->y, f[TOP_LEASE].value, "lease", 1000,
		    &cfg->lease_ms);
	if (f[TOP_MAX_STALLS].value != NULL)
		yread_uint(&ld->y, f[TOP_MAX_STALLS].value, "max_stalls", 0,
		    1000000, &cfg->max_stalls);
	/*
	 * The claim batch: the concurrency, but at least 32, which keeps the
	 * Redis calls per job low when jobs are short (a worker claims ahead
	 * of its free slots only for short jobs), and at most what one claim
	 * takes.
	 */
	cfg->batch = cfg->concurrency < 32 ? 32 : cfg->concurrency;
	if (cfg->batch > CONFIG_BATCH_MAX)
		cfg->batch = CONFIG_BATCH_MAX;
	if (f[TOP_BATCH].value != NULL)
		yread_uint(&ld->y, f[TOP_BATCH].value, "batch", 1,
		    CONFIG_BATCH_MAX, &cfg->batch);
	if (f[TOP_MAX_PAYLOAD].value != NULL)
		yread_size(&ld->y, f[TOP_MAX_PAYLOAD].value, "max_payload",
		    CONFIG_PAYLOAD_MAX, &cfg->max_payload);
	if (f[TOP_LOG_LEVEL].value != NULL &&
	    yread_enum(&ld->y, f[TOP_LOG_LEVEL].value, "log_level", "log level",
	    config_log_levels, nitems(config_log_levels), &v) == 0)
		cfg->log_level = log_level_parse(config_log_levels[v]);
	config_queues(ld, f[TOP_QUEUES].value != NULL ? &f[TOP_QUEUES] : NULL);
	config_limiters(ld, f[TOP_LIMITERS].value != NULL ?
	    &f[TOP_LIMITERS] : NULL);
	config_jobs(ld, f[TOP_JOBS].value != NULL ? &f[TOP_JOBS] : NULL);
	if (f[TOP_HTTP].value != NULL)
		config_http(ld, &f[TOP_HTTP]);
	if (f[TOP_HANDLER_PATH].value != NULL)
		config_handler_path(ld, f[TOP_HANDLER_PATH].value);
	if (f[TOP_UNKNOWN_TYPE_GRACE].value != NULL)
		yread_duration(&ld->y, f[TOP_UNKNOWN_TYPE_GRACE].value,
		    "unknown_type_grace", 0, &cfg->unknown_type_grace_ms);
}

/* Allocate a config holding every default. */
static struct config *
config_defaults(const char *path)
{
	struct config *cfg;

	cfg = xcalloc(1, sizeof *cfg);
	cfg->path = xstrdup(path);
	cfg->namespace = xstrdup("redjob");
	cfg->workers = 2;
	cfg->concurrency = 8;
	cfg->shutdown_timeout_ms = 30 * 1000;
	cfg->lease_ms = 30 * 1000;
	cfg->max_stalls = 3;
	cfg->batch = 32;
	cfg->max_payload = 512 * 1024;
	cfg->log_level = LOG_LEVEL_INFO;
	cfg->handler_path = xstrdup(CONFIG_HANDLER_PATH);
	cfg->unknown_type_grace_ms = 10 * 60 * 1000;
	return cfg;
}

/*
 * Load and validate path. Returns the config (free with config_free()),
 * or NULL with every problem appended to *d in the order of the file.
 */
struct config *
config_load(const char *path, struct diags *d)
{
	return config_load_flags(path, d, 0);
}

/*
 * The same; with CONFIG_NO_FILES, the handlers' programs, plugins and
 * directories, and the embedded server, need not exist here: a producer
 * host that enqueues with the daemon's file need not have them.
 */
struct config *
config_load_flags(const char *path, struct diags *d, int flags)
{
	struct load ld;
	struct config *cfg;
	yaml_node_t *root;
	size_t first = d->n;
	char what[64];

	memset(&ld, 0, sizeof ld);
	ld.cfg = cfg = config_defaults(path);
	if ((root = yread_open(&ld.y, path, d)) != NULL) {
		ld.y.no_files = (flags & CONFIG_NO_FILES) != 0;
		if (root->type != YAML_MAPPING_NODE)
			yread_error(&ld.y, root, "", "expected a mapping of "
			    "settings at the top level, got %s",
			    yread_what(root, what, sizeof what));
		else
			config_top(&ld, root);
	}
	yread_close(&ld.y);
	if (d->n > first) {
		diags_sort(d, first);
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

/* Free a limiter's strings (not the struct, which lives in an array). */
static void
config_free_limiter(struct limiter_conf *lc)
{
	free(lc->name);
	free(lc->key);
}

/* Free a job's contents (not the struct, which lives in an array). */
static void
config_free_job(struct job_conf *jc)
{
	size_t i;

	free(jc->type);
	free(jc->queue);
	for (i = 0; i < jc->nexec; i++)
		free(jc->exec[i]);
	free(jc->exec);
	free(jc->plugin_path);
	free(jc->plugin_symbol);
	free(jc->lock.key);
	free(jc->limits);
	for (i = 0; i < jc->nenv; i++) {
		free(jc->env[i].name);
		free(jc->env[i].value);
	}
	free(jc->env);
	free(jc->cwd);
	free(jc->schedule.spec);
	free(jc->schedule.payload);
}

/* Free cfg and everything in it. Accepts NULL. */
void
config_free(struct config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->url);
	if (cfg->password != NULL) {
		explicit_bzero(cfg->password, strlen(cfg->password));
		free(cfg->password);
	}
	free(cfg->namespace);
	free(cfg->handler_path);
	free(cfg->embedded_dir);
	free(cfg->embedded_socket);
	free(cfg->embedded_server);
	free(cfg->http_listen);
	free(cfg->http_host);
	free(cfg->http_path);
	for (i = 0; i < cfg->nqueues; i++)
		free(cfg->queues[i].name);
	free(cfg->queues);
	for (i = 0; i < cfg->nlimiters; i++)
		config_free_limiter(&cfg->limiters[i]);
	free(cfg->limiters);
	for (i = 0; i < cfg->njobs; i++)
		config_free_job(&cfg->jobs[i]);
	free(cfg->jobs);
	free(cfg);
}

/*
 * Return the URL to connect to: redis.url, or "unix://SOCKET" for the
 * embedded server. The password from password_file is not in it (see
 * cfg->password). The caller frees the string.
 */
char *
config_redis_url(const struct config *cfg)
{
	char *url;

	if (cfg->embedded_socket != NULL && cfg->url == NULL) {
		xasprintf(&url, "unix://%s", cfg->embedded_socket);
		return url;
	}
	return xstrdup(cfg->url != NULL ? cfg->url : URL_DEFAULT);
}

/* Return the job of that type, or NULL. The result points into cfg. */
const struct job_conf *
config_find_job(const struct config *cfg, const char *type)
{
	size_t i;

	for (i = 0; i < cfg->njobs; i++) {
		if (strcmp(cfg->jobs[i].type, type) == 0)
			return &cfg->jobs[i];
	}
	return NULL;
}

/* Return the limiter of that name, or NULL. The result points into cfg. */
const struct limiter_conf *
config_find_limiter(const struct config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->nlimiters; i++) {
		if (strcmp(cfg->limiters[i].name, name) == 0)
			return &cfg->limiters[i];
	}
	return NULL;
}

/*
 * Percent-encode a password for the userinfo part of a URL, so that any
 * byte of a password file survives url_parse(). Caller frees.
 */
static char *
config_url_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out, *o;

	out = o = xreallocarray(NULL, strlen(s) + 1, 3);
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~", ch) != NULL)
			*o++ = (char)ch;
		else {
			*o++ = '%';
			*o++ = hex[ch >> 4];
			*o++ = hex[ch & 15];
		}
	}
	*o = '\0';
	return out;
}

/*
 * The URL to use for a configuration: its redis URL, with the password
 * from its password_file put in when the URL carries none. Caller frees.
 */
char *
config_redis_url_auth(const struct config *cfg)
{
	char *url, *esc, *out, err[256];
	struct url u;
	size_t scheme;
	int has_password;

	if ((url = config_redis_url(cfg)) == NULL)
		return NULL;
	if (cfg->password == NULL || *cfg->password == '\0')
		return url;
	if (strncmp(url, "redis://", 8) == 0)
		scheme = 8;
	else if (strncmp(url, "unix://", 7) == 0)
		scheme = 7;
	else
		return url;
	/* The URL's own password wins (config.c refuses both anyway). */
	has_password = url_parse(url, &u, err, sizeof err) == 0 &&
	    u.password[0] != '\0';
	explicit_bzero(&u, sizeof u);
	if (has_password)
		return url;
	esc = config_url_escape(cfg->password);
	xasprintf(&out, "%.*s:%s@%s", (int)scheme, url, esc, url + scheme);
	explicit_bzero(esc, strlen(esc));
	free(esc);
	free(url);
	return out;
}
