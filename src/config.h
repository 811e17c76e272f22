/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * config.h: the YAML configuration of redjobd (redjob.yml(5)),
 * loaded with libyaml's document API into an immutable struct config.
 * Every problem becomes a diagnostic "FILE:LINE:COL: message"; loading
 * carries on after an error so one run reports them all.
 */
#ifndef REDJOB_CONFIG_H
#define REDJOB_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "cron.h"
#include "diags.h"
#include "duration.h"

enum limiter_kind {
	LIMITER_WINDOW,		/* limit per period, sliding log */
	LIMITER_FUNNEL,		/* capacity, leak rate */
	LIMITER_GCRA,		/* rate, burst */
	LIMITER_CONCURRENCY,	/* limit running at once */
};

/* The PATH of exec handlers whose type sets none (handler_path:). */
#define CONFIG_HANDLER_PATH	"/usr/local/bin:/usr/bin:/bin"
#define CONFIG_HANDLER_PATH_MAX	4096

/*
 * A job type's result: (redjob.yml(5)). A result is one Redis string
 * (512 MiB at most), but a worker holds each running job's in memory and
 * Redis copies it into its function call, so it is bounded far lower:
 * MAX_RESULT in src/lua/redjob.lua, which refuses more.
 */
#define CONFIG_RESULT_MAX_DEFAULT	(1024 * 1024)
#define CONFIG_RESULT_MAX_LIMIT		(64 * 1024 * 1024)
#define CONFIG_RESULT_TTL_DEFAULT	(86400ULL * 1000)
#define CONFIG_RESULT_TTL_LIMIT		(365ULL * 86400 * 1000)

struct limiter_conf {
	char			*name;
	enum limiter_kind	 kind;
	uint64_t		 limit;		/* window, concurrency */
	uint64_t		 period_ms;	/* window */
	uint64_t		 capacity;	/* funnel */
	struct rate		 rate;		/* funnel, gcra */
	uint64_t		 burst;		/* gcra */
	uint64_t		 lease_ms;	/* concurrency: slot lease */
	char			*key;		/* template, NULL: one bucket */
};

enum on_conflict {
	CONFLICT_REQUEUE,	/* default */
	CONFLICT_FAIL,
	CONFLICT_DISCARD,
};

enum backoff_kind {
	BACKOFF_EXPONENTIAL,	/* default: base * 2^(n-1), capped, jittered */
	BACKOFF_LINEAR,		/* base * n, capped */
	BACKOFF_FIXED,		/* base */
};

struct retry_conf {
	unsigned		 max_attempts;	/* default 25 */
	enum backoff_kind	 backoff;
	uint64_t		 base_ms;	/* default 1s */
	uint64_t		 max_ms;	/* default 1h */
	double			 jitter;	/* 0..1, default 0.5 */
};

struct lock_conf {
	char			*key;		/* template; NULL: no lock */
	uint64_t		 ttl_ms;	/* default 60s */
	enum on_conflict	 on_conflict;
	uint64_t		 requeue_delay_ms; /* 0: until the lock expires */
};

/* What a schedule does with the ticks missed while no instance ran. */
enum misfire {
	MISFIRE_SKIP,		/* default: drop them */
	MISFIRE_ONCE,		/* one job for all of them */
	MISFIRE_ALL,		/* one each, the newest max_catchup */
};

#define SCHEDULE_CATCHUP_DEFAULT	100
#define SCHEDULE_CATCHUP_MAX		1000

/* schedule: of a job type (redjob.yml(5)); on is 0 without one. */
struct schedule_conf {
	int			 on;
	char			*spec;		/* the cron line, or "every D" */
	struct cron		 cron;		/* its ticks, zone included */
	enum misfire		 misfire;
	unsigned		 max_catchup;	/* misfire all: at most */
	char			*payload;	/* default "" */
};

struct env_var {
	char	*name;
	char	*value;
};

struct job_conf {
	char			*type;		/* the jobs: map key */
	char			*queue;		/* default "default" */
	char		       **exec;		/* NULL-terminated argv, or NULL */
	size_t			 nexec;
	char			*plugin_path;	/* or NULL */
	char			*plugin_symbol;	/* default: the type */
	uint64_t		 timeout_ms;	/* default 30m; 0 = none */
	struct retry_conf	 retry;
	struct lock_conf	 lock;
	struct limiter_conf    **limits;	/* pointers into config */
	size_t			 nlimits;
	struct env_var		*env;
	size_t			 nenv;
	char			*cwd;		/* or NULL */
	uint64_t		 expire_ms;	/* not started this long after
						   its enqueue: never run; 0:
						   none */
	/* result: the handler's output kept as the job's result, up to
	 * result_max bytes, for result_ttl_ms after it is done; 0: none. */
	size_t			 result_max;
	uint64_t		 result_ttl_ms;
	struct schedule_conf	 schedule;
	unsigned		 line;		/* where it was defined */
};

struct queue_conf {
	char		*name;
	unsigned	 weight;		/* >= 1 */
	unsigned	 shards;		/* 1 to SCHEMA_SHARDS_MAX */
	unsigned	 serve;			/* >= shards: and those left
						   by a larger shards, that
						   the registry names
						   (supervisor.c) */
};

struct config {
	char			*path;
	/* redis: */
	char			*url;		/* NULL with embedded */
	char			*password;	/* from password_file, or NULL */
	char			*namespace;	/* default "redjob" */
	char			*embedded_dir;	/* embedded: {dir: ...}, or NULL */
	char			*embedded_socket; /* default DIR/redis.sock */
	char			*embedded_server; /* redis-server binary */
	/* daemon: */
	unsigned		 workers;	/* default 2 */
	unsigned		 concurrency;	/* default 8 */
	uint64_t		 shutdown_timeout_ms;	/* default 30s */
	uint64_t		 lease_ms;	/* default 30s */
	unsigned		 max_stalls;	/* default 3 */
	unsigned		 batch;		/* default concurrency, <= 1000 */
	uint64_t		 max_payload;	/* default 512 KiB */
	int			 log_level;	/* enum log_level, default info */
	char			*handler_path;	/* PATH of exec handlers */
	uint64_t		 unknown_type_grace_ms;	/* default 10m */
	/* http: (off when http_listen is NULL) */
	char			*http_listen;	/* as written */
	char			*http_host;	/* an IP address, or NULL */
	unsigned		 http_port;	/* with http_host; 0: any */
	char			*http_path;	/* unix:PATH, or NULL */
	/* sections: */
	struct queue_conf	*queues;
	size_t			 nqueues;
	struct limiter_conf	*limiters;
	size_t			 nlimiters;
	struct job_conf		*jobs;
	size_t			 njobs;
};

/*
 * Load and validate path. Returns the config, or NULL with every problem
 * appended to *d (which the caller frees with diags_free()). Warnings do
 * not make it fail.
 */
struct config	*config_load(const char *path, struct diags *d);
#define CONFIG_NO_FILES	0x1	/* do not look for the files it names */
struct config	*config_load_flags(const char *path, struct diags *d,
		    int flags);
void		 config_free(struct config *cfg);

/*
 * The redis URL to connect to: url, or unix://SOCKET for embedded. The
 * password from password_file is not in it (cfg->password). Caller frees.
 */
char		*config_redis_url(const struct config *cfg);
/* The same with the password of password_file put in, for clients. */
char		*config_redis_url_auth(const struct config *cfg);

const struct job_conf *config_find_job(const struct config *cfg,
		    const char *type);
const struct limiter_conf *config_find_limiter(const struct config *cfg,
		    const char *name);

#endif
