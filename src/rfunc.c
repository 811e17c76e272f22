/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The function library's contract on the C side (docs/protocol.md): the
 * commands that load it, call it and ask its version, the check of that
 * version, and the one classification of replies that the daemon, the CLI
 * and libredjob all switch on, so that a Redis error means the same thing
 * to each of them.
 *
 * It sends nothing: rconn.c (asynchronous, the daemon and "redjob lock")
 * and libredjob.c (synchronous, the CLI and other programs) own the
 * connections and each make an FCALL with one reload of the library when
 * Redis says it is missing. libredjob links this file, so it never
 * prints, aborts or allocates.
 */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "rfunc.h"
#include "redjob.h"

/*
 * The first word of an error reply and its class. Redis puts its code
 * first (NOAUTH, OOM, ...), and the library raises its own errors as
 * "REDJOB_<CODE> message" for the same reason.
 */
static const struct {
	const char		*code;
	enum rfunc_class	 class;
} rfunc_codes[] = {
	{ "NOSCRIPT", RFUNC_NOLIB },
	{ "BUSY", RFUNC_BUSY },
	{ "LOADING", RFUNC_LOADING },
	{ "READONLY", RFUNC_READONLY },
	{ "OOM", RFUNC_OOM },
	{ "MISCONF", RFUNC_MISCONF },
	{ "MASTERDOWN", RFUNC_MASTERDOWN },
	{ "TRYAGAIN", RFUNC_TRYAGAIN },
	{ "UNBLOCKED", RFUNC_UNBLOCKED },
	{ "NOAUTH", RFUNC_AUTH },
	{ "WRONGPASS", RFUNC_AUTH },
	{ "NOPERM", RFUNC_NOPERM },
	{ "REDJOB_STALE", RFUNC_STALE },
	{ "REDJOB_BADARG", RFUNC_BADARG },
	{ "REDJOB_BADKEY", RFUNC_BADKEY },
	{ "REDJOB_BADID", RFUNC_BADID },
	{ "REDJOB_TOOBIG", RFUNC_TOOBIG },
	{ "REDJOB_NOJOB", RFUNC_NOJOB },
	{ "REDJOB_RUNNING", RFUNC_RUNNING },
	{ "REDJOB_FINISHED", RFUNC_FINISHED },
	{ "REDJOB_SCHEMA", RFUNC_SCHEMA },
};

/* Indexed by enum rfunc_class; also used as metrics labels, so stable. */
static const char *const rfunc_names[] = {
	"ok", "conn", "nolib", "busy", "loading", "readonly", "oom",
	"misconf", "masterdown", "tryagain", "unblocked", "auth", "noperm",
	"stale", "badarg", "badkey", "badid", "toobig", "nojob", "running",
	"finished", "schema", "other",
};
_Static_assert(sizeof rfunc_names / sizeof rfunc_names[0] == RFUNC_OTHER + 1,
    "one name per class");

/*
 * Classify the text of an error reply (without hiredis's leading '-').
 * FCALL of a function Redis does not hold answers "ERR Function not
 * found": a restart without persistence, a failover or FUNCTION FLUSH
 * took the library, and nothing ran. NOSCRIPT is EVALSHA's form of the
 * same news.
 */
enum rfunc_class
rfunc_classify_error(const char *e)
{
	size_t i, n = strcspn(e, " ");

	if (strncmp(e, "ERR Function not found", 22) == 0)
		return RFUNC_NOLIB;
	for (i = 0; i < sizeof rfunc_codes / sizeof rfunc_codes[0]; i++) {
		if (strlen(rfunc_codes[i].code) == n &&
		    strncmp(e, rfunc_codes[i].code, n) == 0)
			return rfunc_codes[i].class;
	}
	/*
	 * A function that calls a command its user may not run, or on a
	 * key it may not touch, fails with "ERR ... can't run this command
	 * ..." or "ERR ... can't access at least one of the keys ...", not
	 * with NOPERM.
	 */
	if (strstr(e, "can't run this command") != NULL ||
	    strstr(e, "can't access at least one of the keys") != NULL)
		return RFUNC_NOPERM;
	return RFUNC_OTHER;
}

/*
 * Classify a reply: NULL (the connection was lost or the deadline passed
 * before it came: the call may or may not have run) is RFUNC_CONN, any
 * reply that is not an error RFUNC_OK.
 */
enum rfunc_class
rfunc_classify(const redisReply *r)
{
	if (r == NULL)
		return RFUNC_CONN;
	if (r->type != REDIS_REPLY_ERROR)
		return RFUNC_OK;
	return rfunc_classify_error(r->str != NULL ? r->str : "");
}

/* The short name of a class ("oom", "nolib"), for logs and metrics. */
const char *
rfunc_class_name(enum rfunc_class class)
{
	if ((size_t)class >= sizeof rfunc_names / sizeof rfunc_names[0])
		return "unknown";
	return rfunc_names[class];
}

/*
 * Does the condition pass by itself, so that the same call may succeed
 * later unchanged? A lost connection, a server that is busy, loading,
 * full, unable to save, between roles or migrating keys. The others need
 * a change first (the library loaded, a password, an ACL, other
 * arguments) or are answers about the job itself.
 */
int
rfunc_transient(enum rfunc_class class)
{
	switch (class) {
	case RFUNC_CONN:
	case RFUNC_BUSY:
	case RFUNC_LOADING:
	case RFUNC_READONLY:
	case RFUNC_OOM:
	case RFUNC_MISCONF:
	case RFUNC_MASTERDOWN:
	case RFUNC_TRYAGAIN:
	case RFUNC_UNBLOCKED:
		return 1;
	case RFUNC_OK:
	case RFUNC_NOLIB:
	case RFUNC_AUTH:
	case RFUNC_NOPERM:
	case RFUNC_STALE:
	case RFUNC_BADARG:
	case RFUNC_BADKEY:
	case RFUNC_BADID:
	case RFUNC_TOOBIG:
	case RFUNC_NOJOB:
	case RFUNC_RUNNING:
	case RFUNC_FINISHED:
	case RFUNC_SCHEMA:
	case RFUNC_OTHER:
		break;
	}
	return 0;
}

/*
 * Is it Redis refusing the call for a reason of its own (busy, loading,
 * full, a replica, an ACL, a password), rather than an answer about the
 * job or the arguments? Nothing ran; the same call may work later.
 */
int
rfunc_refusal(enum rfunc_class class)
{
	return (rfunc_transient(class) && class != RFUNC_CONN) ||
	    class == RFUNC_AUTH || class == RFUNC_NOPERM;
}

/*
 * Describe a condition for people and for the status line, from its
 * class and the error text (the connection's last error for RFUNC_CONN,
 * the command refused for RFUNC_NOPERM): "BUSY (a script runs too
 * long)", "NOPERM on BZPOPMIN (see redjob acl)".
 */
void
rfunc_describe(enum rfunc_class class, const char *msg, char *buf,
    size_t len)
{
	const char *what = NULL;

	if (msg == NULL)
		msg = "";
	switch (class) {
	case RFUNC_BUSY:
		what = "BUSY (a script runs too long)";
		break;
	case RFUNC_LOADING:
		what = "LOADING (Redis is loading its data)";
		break;
	case RFUNC_READONLY:
		what = "READONLY (a replica now: failover?)";
		break;
	case RFUNC_UNBLOCKED:
		what = "UNBLOCKED (a role change: failover?)";
		break;
	case RFUNC_OOM:
		what = "OOM (over maxmemory: writes refused)";
		break;
	case RFUNC_MISCONF:
		what = "MISCONF (Redis cannot save: writes refused)";
		break;
	case RFUNC_MASTERDOWN:
		what = "MASTERDOWN (a replica without its primary)";
		break;
	case RFUNC_TRYAGAIN:
		what = "TRYAGAIN (keys being migrated)";
		break;
	case RFUNC_NOPERM:
		/* msg is the command refused: "BZPOPMIN". */
		snprintf(buf, len, "NOPERM on %.60s (see redjob acl)", msg);
		return;
	default:
		break;
	}
	if (what != NULL)
		snprintf(buf, len, "%s", what);
	else
		snprintf(buf, len, "%.120s", msg);
}

/*
 * The public error code of a class: an enum redjob_err (redjob.h). A
 * missing library that stays missing after the reload is a plain Redis
 * error to a program.
 */
int
rfunc_class_err(enum rfunc_class class)
{
	switch (class) {
	case RFUNC_OK:
		return REDJOB_OK;
	case RFUNC_CONN:
		return REDJOB_ERR_IO;
	case RFUNC_BUSY:
	case RFUNC_LOADING:
	case RFUNC_READONLY:
	case RFUNC_MISCONF:
	case RFUNC_MASTERDOWN:
	case RFUNC_TRYAGAIN:
	case RFUNC_UNBLOCKED:
		return REDJOB_ERR_BUSY;
	case RFUNC_OOM:
		return REDJOB_ERR_OOM;
	case RFUNC_AUTH:
	case RFUNC_NOPERM:
		return REDJOB_ERR_AUTH;
	case RFUNC_STALE:
	case RFUNC_RUNNING:
	case RFUNC_FINISHED:
		return REDJOB_ERR_STATE;
	case RFUNC_BADARG:
	case RFUNC_BADKEY:
	case RFUNC_BADID:
		return REDJOB_ERR_INVALID;
	case RFUNC_TOOBIG:
		return REDJOB_ERR_TOOBIG;
	case RFUNC_NOJOB:
		return REDJOB_ERR_NOJOB;
	case RFUNC_SCHEMA:
		return REDJOB_ERR_VERSION;
	case RFUNC_NOLIB:
	case RFUNC_OTHER:
		break;
	}
	return REDJOB_ERR_REDIS;
}

/*
 * Fill the first entries of a call of library function fn into argv and
 * lens, which have room for RFUNC_FCALL_HEAD: FCALL_RO for a function
 * registered no-writes (it then also runs on a replica and over
 * maxmemory), else FCALL, then fn, the number of keys and key (NULL: no
 * key). The function's own arguments follow. Returns the number of
 * entries filled. The strings are fn, key and constants: they must
 * outlive argv.
 */
int
rfunc_fcall_head(const char **argv, size_t *lens, const char *fn,
    int readonly, const char *key)
{
	int i, n = 0;

	argv[n++] = readonly ? "FCALL_RO" : "FCALL";
	argv[n++] = fn;
	argv[n++] = key != NULL ? "1" : "0";
	if (key != NULL)
		argv[n++] = key;
	for (i = 0; i < n; i++)
		lens[i] = strlen(argv[i]);
	return n;
}

/*
 * Fill argv and lens, which have room for RFUNC_LOAD_ARGC, with the
 * command that loads the library: FUNCTION LOAD REPLACE, replacing an
 * older version (rfunc_version_check() refuses to touch a newer one).
 * Returns the number of entries.
 */
int
rfunc_load_argv(const char **argv, size_t *lens)
{
	static const char *const words[] = { "FUNCTION", "LOAD", "REPLACE" };
	int i, n = 0;

	for (i = 0; i < 3; i++) {
		lens[n] = strlen(words[i]);
		argv[n++] = words[i];
	}
	lens[n] = rfunc_lua_len;
	argv[n++] = rfunc_lua;
	return n;
}

/*
 * Fill argv and lens, which have room for RFUNC_FCALL_HEAD, with the call
 * that asks the library for its versions. Returns the number of entries.
 */
int
rfunc_version_argv(const char **argv, size_t *lens)
{
	return rfunc_fcall_head(argv, lens, "redjob_version", 1, NULL);
}

/*
 * Check the answer to rfunc_version_argv()'s call (not an error reply:
 * the caller handles those, loading the library on RFUNC_NOLIB). An older
 * library of our schema is to be replaced; a newer library or another
 * schema is refused and must be left alone, because a newer redjob owns
 * this Redis and replacing its code would break it. Returns what it
 * found; for RFUNC_VERSION_REFUSED, msg says why.
 */
enum rfunc_version
rfunc_version_check(const redisReply *r, char *msg, size_t len)
{
	long long lib, schema;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_INTEGER ||
	    r->element[1]->type != REDIS_REPLY_INTEGER) {
		snprintf(msg, len, "redis holds a function named "
		    "redjob_version that is not ours");
		return RFUNC_VERSION_REFUSED;
	}
	lib = r->element[0]->integer;
	schema = r->element[1]->integer;
	if (schema != rfunc_schema_version) {
		snprintf(msg, len, "redis holds the redjob library for schema "
		    "%lld; this client speaks schema %d", schema,
		    rfunc_schema_version);
		return RFUNC_VERSION_REFUSED;
	}
	if (lib > rfunc_lib_version) {
		snprintf(msg, len, "redis holds redjob library version %lld, "
		    "newer than this client's %d: upgrade this client", lib,
		    rfunc_lib_version);
		return RFUNC_VERSION_REFUSED;
	}
	if (lib < rfunc_lib_version)
		return RFUNC_VERSION_OLDER;
	return RFUNC_VERSION_OK;
}
