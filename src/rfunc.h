/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rfunc.h: the redjob function library as C sees it: its text and
 * versions, the commands that load it, call it and ask its version, and
 * one classification of every reply. Linked into the public library:
 * nothing here prints, aborts or allocates.
 */
#ifndef REDJOB_RFUNC_H
#define REDJOB_RFUNC_H

#include <stddef.h>

struct redisReply;

/* The library (src/lua), embedded by lua2c.sh in the generated rfunc_lua.c. */
extern const int rfunc_lib_version;
extern const int rfunc_schema_version;
extern const char rfunc_lua[];
extern const size_t rfunc_lua_len;

/*
 * What a reply means, from its first word (docs/protocol.md, errors).
 * rfunc_class_name() gives each a short name for logs and metrics.
 */
enum rfunc_class {
	RFUNC_OK,		/* not an error reply */
	RFUNC_CONN,		/* no reply: connection lost or timed out */
	RFUNC_NOLIB,		/* ERR Function not found, NOSCRIPT */
	RFUNC_BUSY,		/* BUSY: a script runs too long */
	RFUNC_LOADING,		/* LOADING: the dataset is being loaded */
	RFUNC_READONLY,		/* READONLY: a replica */
	RFUNC_OOM,		/* OOM: over maxmemory; nothing was written */
	RFUNC_MISCONF,		/* MISCONF: cannot save, refuses writes */
	RFUNC_MASTERDOWN,	/* MASTERDOWN: a replica without its primary */
	RFUNC_TRYAGAIN,		/* TRYAGAIN: keys in migration */
	RFUNC_UNBLOCKED,	/* UNBLOCKED: a role change ended a wait */
	RFUNC_AUTH,		/* NOAUTH, WRONGPASS */
	RFUNC_NOPERM,		/* NOPERM: an ACL forbids it */
	RFUNC_STALE,		/* REDJOB_STALE: not the holder's token */
	RFUNC_BADARG,		/* REDJOB_BADARG */
	RFUNC_BADKEY,		/* REDJOB_BADKEY */
	RFUNC_BADID,		/* REDJOB_BADID */
	RFUNC_TOOBIG,		/* REDJOB_TOOBIG */
	RFUNC_NOJOB,		/* REDJOB_NOJOB */
	RFUNC_RUNNING,		/* REDJOB_RUNNING */
	RFUNC_FINISHED,		/* REDJOB_FINISHED */
	RFUNC_SCHEMA,		/* REDJOB_SCHEMA */
	RFUNC_OTHER,		/* any other error reply */
};
#define RFUNC_CLASSES (RFUNC_OTHER + 1)

/* What rfunc_version_check() found. */
enum rfunc_version {
	RFUNC_VERSION_OK,	/* our library */
	RFUNC_VERSION_OLDER,	/* an older one of our schema: load ours */
	RFUNC_VERSION_REFUSED,	/* newer, another schema, or not ours */
};

/* Room for the entries rfunc_fcall_head() and rfunc_load_argv() fill. */
#define RFUNC_FCALL_HEAD	4
#define RFUNC_LOAD_ARGC		4

enum rfunc_class rfunc_classify(const struct redisReply *r);
enum rfunc_class rfunc_classify_error(const char *e);
const char	*rfunc_class_name(enum rfunc_class class);
int		 rfunc_transient(enum rfunc_class class);
int		 rfunc_refusal(enum rfunc_class class);
void		 rfunc_describe(enum rfunc_class class, const char *msg,
		    char *buf, size_t len);
int		 rfunc_class_err(enum rfunc_class class);

int		 rfunc_fcall_head(const char **argv, size_t *lens,
		    const char *fn, int readonly, const char *key);
int		 rfunc_load_argv(const char **argv, size_t *lens);
int		 rfunc_version_argv(const char **argv, size_t *lens);
enum rfunc_version rfunc_version_check(const struct redisReply *r,
		    char *msg, size_t len);

#endif
