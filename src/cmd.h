/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cmd.h: the commands of the redjob CLI (tmux's cmd-*.c layout). Each
 * cmd_NAME.c defines one or more struct cmd_entry; cmd.c parses the
 * global options, finds the entry and runs it. The helpers here print the
 * CLI's messages, so every command fails the same way: one line on stderr
 * starting "redjob: ", exit 1 for a runtime error and 2 for a usage error.
 */
#ifndef REDJOB_CMD_H
#define REDJOB_CMD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "compat.h"

struct config;
struct redisReply;
struct redjob_client;

/* Exit statuses: part of the interface (redjob(1), EXIT STATUS). */
enum cmd_status {
	CMD_OK = 0,		/* done */
	CMD_ERROR = 1,		/* a runtime error: Redis, refused job */
	CMD_USAGE = 2,		/* bad command line */
};

/* What the global options and the configuration file decided. */
struct cmd_ctx {
	const char		*url;		/* NULL: $REDJOB_URL */
	const char		*ns;		/* NULL: "redjob" */
	const char *const	*cfg_queues;	/* the config's queues */
	size_t			 ncfg_queues;
	uint64_t		 max_payload;	/* 0: library default */
	const struct config	*cfg;		/* -c FILE, or NULL */
	struct redjob_client	*client;	/* made by cmd_connect() */
};

struct cmd_entry {
	const char	*name;
	const char	*usage;		/* the arguments */
	const char	*summary;	/* one line for redjob --help */
	const char	*help;		/* the rest of NAME --help */
	int		 (*exec)(struct cmd_ctx *, const struct cmd_entry *,
			    int, char **);
};

extern const struct cmd_entry cmd_enqueue_entry;
extern const struct cmd_entry cmd_stats_entry;
extern const struct cmd_entry cmd_show_entry;
extern const struct cmd_entry cmd_ls_entry;
extern const struct cmd_entry cmd_retry_entry;
extern const struct cmd_entry cmd_rm_entry;
extern const struct cmd_entry cmd_cancel_entry;
extern const struct cmd_entry cmd_pause_entry;
extern const struct cmd_entry cmd_resume_entry;
extern const struct cmd_entry cmd_lock_entry;
extern const struct cmd_entry cmd_throttle_entry;
extern const struct cmd_entry cmd_workers_entry;
extern const struct cmd_entry cmd_health_entry;
extern const struct cmd_entry cmd_why_entry;
extern const struct cmd_entry cmd_wait_entry;
extern const struct cmd_entry cmd_schedules_entry;
extern const struct cmd_entry cmd_acl_entry;
extern const struct cmd_entry cmd_web_entry;

/* cmd.c */
int		 cmd_error(const char *fmt, ...) printflike(1, 2);
int		 cmd_usage(const struct cmd_entry *entry, const char *fmt,
		    ...) printflike(2, 3);
int		 cmd_bad_option(const struct cmd_entry *entry, int ch,
		    char **argv);
int		 cmd_help(const struct cmd_entry *entry);
struct redjob_client *cmd_connect(struct cmd_ctx *ctx);
struct config	*cmd_config_load(const char *path);
int		 cmd_client_error(struct cmd_ctx *ctx);
int		 cmd_job_pairs(struct cmd_ctx *ctx,
		    const struct cmd_entry *self, int argc, char **argv,
		    const char *fn, int *json, const char **id,
		    struct redisReply **reply);
int		 cmd_check_id(const struct cmd_entry *entry, const char *id,
		    char *queue, size_t len);
size_t		 cmd_queue_shards(struct redjob_client *cl,
		    const struct config *cfg, const char *queue,
		    char *const *reg, size_t nreg, char ***out);
void		 cmd_queue_shards_free(char **names, size_t n);
int		 cmd_check_queue(const struct cmd_entry *entry,
		    const char *queue);
char		*cmd_format_time(int64_t ms, char *buf, size_t len);
int		 cmd_reply_int(const struct redisReply *r, long long *v);
json_t		*cmd_json_text(const char *s, size_t len);
int		 cmd_is_text(const char *s, size_t len);
char		*cmd_base64(const unsigned char *p, size_t len);
void		 cmd_json_bytes(json_t *obj, const char *name, const char *s,
		    size_t len);
int		 cmd_json_print(json_t *json);
int		 cmd_utf8_valid(const char *s, size_t len);
size_t		 cmd_utf8_seq(const char *s, size_t len);

#endif
