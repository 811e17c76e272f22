/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The ACL rules of each role, generated from the function library that
 * this build embeds (rfunc_lua, the files of src/lua), for redjob acl.
 *
 * Redis checks every command a function runs against the ACL of the user
 * who called it, keys included, and checks FCALL's own keys for write
 * access. So a role needs: the functions it may call (first-argument
 * rules, +fcall|NAME), every command those functions run, directly or
 * through the library's helpers, the commands the C code sends outside
 * functions, and its keys.
 *
 * The library is read with a small Lua lexer that knows only what the
 * library's own layout promises: a top-level function starts at the start
 * of a line with "local function NAME(" (or "function NAME(") and ends at
 * a line that is exactly "end"; commands are run as redis.call('NAME', ...)
 * or redis.pcall('NAME', ...) with the name as a literal; functions are
 * registered with redis.register_function{function_name = 'NAME',
 * callback = entry(FN), flags = {...}}. A function's commands are those
 * of its body and of every top-level function it names, transitively. A
 * command name that is not a literal is refused, so that the rules can
 * never silently miss one.
 */
#include "autoconf.h"

#include <sys/types.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "compat.h"
#include "rfunc.h"
#include "xmalloc.h"

struct acl_fn {
	char		*name;
	size_t		 start, end;	/* the body, bytes of the text */
	size_t		*refs;		/* top-level functions it names */
	size_t		 nrefs;
	struct acl_list	 cmds;		/* commands of its own body */
};

struct acl_reg {
	char		*name;		/* redjob_claim */
	size_t		 fn;		/* index of its callback */
	int		 readonly;	/* registered no-writes */
};

struct acl_lib {
	struct acl_fn	*fns;
	size_t		 nfns;
	struct acl_reg	*regs;
	size_t		 nregs;
};

/*
 * The commands the C code sends itself, outside the library, by role.
 * Keep in step with the argv arrays of these files: AUTH needs no rule;
 * SELECT is sent only when the URL names a database.
 */
static const char *const acl_c_worker[] = {
	"bzpopmin",		/* wake.c: idle workers wait on B:wake */
	"zadd",			/* wake.c: a worker passes a wake-up on */
	"client|setname",	/* rconn.c: every connection names itself */
	"ping",			/* worker.c: a leaving worker's last round trip */
	"subscribe",		/* notice.c: workers hear cancels on B:cancel */
	"select",		/* rconn.c, libredjob.c */
	"sadd",			/* libredjob.c: redjobd registers its queues;
				   beat.c: the worker registry */
	"hset", "pexpire", "del", "srem", /* beat.c, release.c: the same */
	"hdel",			/* beat.c: the type table;
				   supervisor.c: the shard table */
	"smembers",		/* supervisor.c: the shards a queue had */
	"time", "zrange", "zcount", /* cmd_throttle.c: redjob throttle */
};
static const char *const acl_c_producer[] = {
	"sadd",			/* libredjob.c: the queue registry */
	"hget",			/* libredjob.c: the type and shard tables */
	"select",
	"hmget",		/* libredjob.c: redjob_wait, the type table */
	"subscribe",		/* libredjob.c: redjob_wait, a job's end */
};
static const char *const acl_c_reader[] = {
	"smembers",		/* libredjob.c: redjob stats lists the queues;
				   cmd_workers.c: the worker registry */
	"hgetall",		/* cmd_workers.c: a worker's entry;
				   cmd.c: the shard table */
	"time",			/* cmd_workers.c: redjob health's now */
	"select",
	"hmget",		/* libredjob.c: redjob_wait, the type table */
	"subscribe",		/* libredjob.c: redjob_wait, a job's end */
};
static const char *const acl_c_admin[] = {
	"function",		/* loading the library: FUNCTION LOAD */
	"smembers",
};

/* The functions of the workers' side (docs/protocol.md, docs/guards.md). */
static const char *const acl_worker_fns[] = {
	"redjob_claim", "redjob_extend", "redjob_ack", "redjob_done",
	"redjob_fail", "redjob_requeue", "redjob_discard", "redjob_release", "redjob_wake",
	"redjob_beat", "redjob_schedule", "redjob_tick",
};
static const char *const acl_worker_prefixes[] = {
	"redjob_lock_", "redjob_limit_",
};
static const char *const acl_producer_fns[] = {
	"redjob_enqueue", "redjob_enqueue_bulk", "redjob_served",
	"redjob_result",	/* redjob_wait */
};

static const char *const acl_role_names[] = {
	"worker", "producer", "reader", "admin",
};

int
acl_role_parse(const char *name, enum acl_role *role)
{
	size_t i;

	for (i = 0; i < nitems(acl_role_names); i++) {
		if (strcmp(name, acl_role_names[i]) == 0) {
			*role = (enum acl_role)i;
			return 0;
		}
	}
	return -1;
}

const char *
acl_role_name(enum acl_role role)
{
	if ((size_t)role >= nitems(acl_role_names))
		return "unknown";
	return acl_role_names[role];
}

int
acl_list_has(const struct acl_list *l, const char *s)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		if (strcmp(l->v[i], s) == 0)
			return 1;
	}
	return 0;
}

/* Add s unless the list has it. */
static void
acl_list_add(struct acl_list *l, const char *s)
{
	if (acl_list_has(l, s))
		return;
	l->v = xreallocarray(l->v, l->n + 1, sizeof *l->v);
	l->v[l->n++] = xstrdup(s);
}

static int
acl_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
acl_list_sort(struct acl_list *l)
{
	if (l->n > 1)
		qsort(l->v, l->n, sizeof *l->v, acl_cmp);
}

void
acl_list_free(struct acl_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* ---------------------------------------------------------------------
 * The lexer.
 */

static int
acl_ident_start(int c)
{
	return isalpha(c) || c == '_';
}

static int
acl_ident_char(int c)
{
	return isalnum(c) || c == '_';
}

/* Skip a string literal starting at i (a quote); returns past its end. */
static size_t
acl_skip_string(const char *t, size_t i, size_t end)
{
	char q = t[i++];

	while (i < end && t[i] != q && t[i] != '\n') {
		if (t[i] == '\\' && i + 1 < end)
			i++;
		i++;
	}
	return i < end ? i + 1 : end;
}

static size_t
acl_skip_space(const char *t, size_t i, size_t end)
{
	while (i < end && isspace((unsigned char)t[i]))
		i++;
	return i;
}

static ssize_t
acl_find_fn(const struct acl_lib *lib, const char *name, size_t n)
{
	size_t i;

	for (i = 0; i < lib->nfns; i++) {
		if (strlen(lib->fns[i].name) == n &&
		    strncmp(lib->fns[i].name, name, n) == 0)
			return (ssize_t)i;
	}
	return -1;
}

/* The line number of byte i, for messages. */
static unsigned
acl_line(const char *t, size_t i)
{
	unsigned line = 1;
	size_t k;

	for (k = 0; k < i; k++)
		line += t[k] == '\n';
	return line;
}

/*
 * Read the body of fn: its commands and the top-level functions it names.
 * Returns 0, or -1 with err set.
 */
static int
acl_scan_body(struct acl_lib *lib, struct acl_fn *fn, const char *t,
    char *err, size_t errlen)
{
	size_t i = fn->start, end = fn->end, s, k;
	char name[64];
	ssize_t ref;

	while (i < end) {
		if (t[i] == '-' && i + 1 < end && t[i + 1] == '-') {
			while (i < end && t[i] != '\n')
				i++;
			continue;
		}
		if (t[i] == '\'' || t[i] == '"') {
			i = acl_skip_string(t, i, end);
			continue;
		}
		if (!acl_ident_start((unsigned char)t[i])) {
			i++;
			continue;
		}
		s = i;
		while (i < end && acl_ident_char((unsigned char)t[i]))
			i++;
		/* A field or method name (x.name, x:name) is not ours. */
		if (s > 0 && (t[s - 1] == '.' || t[s - 1] == ':'))
			continue;
		if (i - s == 5 && strncmp(t + s, "redis", 5) == 0 &&
		    (strncmp(t + i, ".call", 5) == 0 ||
		    strncmp(t + i, ".pcall", 6) == 0)) {
			i += t[i + 1] == 'c' ? 5 : 6;
			i = acl_skip_space(t, i, end);
			if (i >= end || t[i] != '(')
				goto computed;
			i = acl_skip_space(t, i + 1, end);
			if (i >= end || (t[i] != '\'' && t[i] != '"'))
				goto computed;
			s = i + 1;
			i = acl_skip_string(t, i, end);
			if (i - 1 - s == 0 || i - 1 - s >= sizeof name)
				goto computed;
			for (k = 0; k < i - 1 - s; k++)
				name[k] = (char)tolower((unsigned char)t[s + k]);
			name[k] = '\0';
			acl_list_add(&fn->cmds, name);
			continue;
		}
		if ((ref = acl_find_fn(lib, t + s, i - s)) >= 0) {
			fn->refs = xreallocarray(fn->refs, fn->nrefs + 1,
			    sizeof *fn->refs);
			fn->refs[fn->nrefs++] = (size_t)ref;
		}
	}
	return 0;

computed:
	snprintf(err, errlen, "line %u: a redis.call whose command is not a "
	    "literal string", acl_line(t, i));
	return -1;
}

/* Copy the quoted name after "key = " in t[from, to), or NULL. */
static char *
acl_reg_field(const char *t, size_t from, size_t to, const char *key,
    char open, char close)
{
	size_t n = strlen(key), i, s;

	for (i = from; i + n < to; i++) {
		if (strncmp(t + i, key, n) != 0)
			continue;
		i = acl_skip_space(t, i + n, to);
		if (i >= to || t[i] != open)
			return NULL;
		s = ++i;
		while (i < to && t[i] != close)
			i++;
		if (i >= to)
			return NULL;
		return xstrndup(t + s, i - s);
	}
	return NULL;
}

static void
acl_lib_add_reg(struct acl_lib *lib, char *name, size_t fn, int readonly)
{
	lib->regs = xreallocarray(lib->regs, lib->nregs + 1,
	    sizeof *lib->regs);
	lib->regs[lib->nregs].name = name;
	lib->regs[lib->nregs].fn = fn;
	lib->regs[lib->nregs].readonly = readonly;
	lib->nregs++;
}

/*
 * Read a registration at t[i] ("redis.register_function{"). Returns the
 * index past it, or 0 with err set.
 */
static size_t
acl_scan_reg(struct acl_lib *lib, const char *t, size_t i, size_t len,
    char *err, size_t errlen)
{
	size_t s = i, depth = 0;
	char *name, *cb, *flags;
	ssize_t fn;

	for (; i < len; i++) {
		if (t[i] == '{')
			depth++;
		else if (t[i] == '}' && --depth == 0)
			break;
	}
	if (i >= len) {
		snprintf(err, errlen, "line %u: an unterminated "
		    "redis.register_function", acl_line(t, s));
		return 0;
	}
	name = acl_reg_field(t, s, i, "function_name =", '\'', '\'');
	cb = acl_reg_field(t, s, i, "callback = entry", '(', ')');
	if (name == NULL || cb == NULL ||
	    (fn = acl_find_fn(lib, cb, strlen(cb))) < 0) {
		snprintf(err, errlen, "line %u: a redis.register_function "
		    "without function_name = '...' and callback = entry(FN) "
		    "of a top-level function", acl_line(t, s));
		free(name);
		free(cb);
		return 0;
	}
	flags = acl_reg_field(t, s, i + 1, "flags =", '{', '}');
	acl_lib_add_reg(lib, name, (size_t)fn,
	    flags != NULL && strstr(flags, "'no-writes'") != NULL);
	free(flags);
	free(cb);
	return i + 1;
}

/* The name of a top-level function defined by the line at t[i], or NULL. */
static char *
acl_fn_def(const char *t, size_t i, size_t len)
{
	static const char *const heads[] = { "local function ", "function " };
	size_t k, n, s;

	for (k = 0; k < nitems(heads); k++) {
		n = strlen(heads[k]);
		if (i + n > len || strncmp(t + i, heads[k], n) != 0)
			continue;
		s = i + n;
		for (i = s; i < len && acl_ident_char((unsigned char)t[i]); i++)
			;
		if (i == s || i >= len || t[i] != '(')
			return NULL;
		return xstrndup(t + s, i - s);
	}
	return NULL;
}

struct acl_lib *
acl_lib_scan(const char *t, size_t len, char *err, size_t errlen)
{
	static const char reg[] = "redis.register_function{";
	struct acl_lib *lib = xcalloc(1, sizeof *lib);
	struct acl_fn *fn;
	size_t i, eol;
	char *name;

	/* First the top-level functions, so that references resolve. */
	for (i = 0; i < len; i = eol + 1) {
		for (eol = i; eol < len && t[eol] != '\n'; eol++)
			;
		if ((name = acl_fn_def(t, i, len)) == NULL)
			continue;
		lib->fns = xreallocarray(lib->fns, lib->nfns + 1,
		    sizeof *lib->fns);
		fn = &lib->fns[lib->nfns++];
		memset(fn, 0, sizeof *fn);
		fn->name = name;
		fn->start = i;
		/* Its end: a line that is exactly "end". */
		for (i = eol + 1; i < len; i = eol + 1) {
			for (eol = i; eol < len && t[eol] != '\n'; eol++)
				;
			if (eol - i == 3 && strncmp(t + i, "end", 3) == 0)
				break;
		}
		if (i >= len) {
			snprintf(err, errlen, "line %u: function %s has no "
			    "\"end\" line", acl_line(t, fn->start), fn->name);
			goto bad;
		}
		fn->end = i;
	}
	for (i = 0; i < lib->nfns; i++) {
		if (acl_scan_body(lib, &lib->fns[i], t, err, errlen) != 0)
			goto bad;
	}
	for (i = 0; i < len; i = eol + 1) {
		for (eol = i; eol < len && t[eol] != '\n'; eol++)
			;
		if (strncmp(t + i, reg, sizeof reg - 1) != 0)
			continue;
		if ((eol = acl_scan_reg(lib, t, i, len, err, errlen)) == 0)
			goto bad;
	}
	if (lib->nregs == 0) {
		snprintf(err, errlen, "the library registers no function");
		goto bad;
	}
	return lib;

bad:
	acl_lib_free(lib);
	return NULL;
}

void
acl_lib_free(struct acl_lib *lib)
{
	size_t i;

	if (lib == NULL)
		return;
	for (i = 0; i < lib->nfns; i++) {
		free(lib->fns[i].name);
		free(lib->fns[i].refs);
		acl_list_free(&lib->fns[i].cmds);
	}
	for (i = 0; i < lib->nregs; i++)
		free(lib->regs[i].name);
	free(lib->fns);
	free(lib->regs);
	free(lib);
}

size_t
acl_lib_nfunctions(const struct acl_lib *lib)
{
	return lib->nregs;
}

const char *
acl_lib_function(const struct acl_lib *lib, size_t i, int *readonly)
{
	if (i >= lib->nregs)
		return NULL;
	if (readonly != NULL)
		*readonly = lib->regs[i].readonly;
	return lib->regs[i].name;
}

/* Add the commands of fns[i] and of all it names; seen marks visits. */
static void
acl_lib_walk(const struct acl_lib *lib, size_t i, char *seen,
    struct acl_list *out)
{
	const struct acl_fn *fn = &lib->fns[i];
	size_t k;

	if (seen[i])
		return;
	seen[i] = 1;
	for (k = 0; k < fn->cmds.n; k++)
		acl_list_add(out, fn->cmds.v[k]);
	for (k = 0; k < fn->nrefs; k++)
		acl_lib_walk(lib, fn->refs[k], seen, out);
}

/*
 * Add to out the commands the registered function fn runs. Returns 0, or
 * -1 if the library has no such function.
 */
int
acl_lib_commands(const struct acl_lib *lib, const char *fn,
    struct acl_list *out)
{
	size_t i;
	char *seen;

	for (i = 0; i < lib->nregs; i++) {
		if (strcmp(lib->regs[i].name, fn) == 0)
			break;
	}
	if (i == lib->nregs)
		return -1;
	seen = xcalloc(lib->nfns, 1);
	acl_lib_walk(lib, lib->regs[i].fn, seen, out);
	free(seen);
	return 0;
}

/* ---------------------------------------------------------------------
 * The rules.
 */

static int
acl_in(const char *const *v, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(v[i], s) == 0)
			return 1;
	}
	return 0;
}

/* May role call the registered function name (readonly: no-writes)? */
static int
acl_may_call(enum acl_role role, const char *name, int readonly)
{
	size_t i;

	/* Every client checks the library's version when it connects. */
	if (strcmp(name, "redjob_version") == 0)
		return 1;
	switch (role) {
	case ACL_WORKER:
		for (i = 0; i < nitems(acl_worker_prefixes); i++) {
			if (strncmp(name, acl_worker_prefixes[i],
			    strlen(acl_worker_prefixes[i])) == 0)
				return 1;
		}
		return acl_in(acl_worker_fns, nitems(acl_worker_fns), name);
	case ACL_PRODUCER:
		return acl_in(acl_producer_fns, nitems(acl_producer_fns),
		    name);
	case ACL_READER:
		return readonly;
	case ACL_ADMIN:
		return 1;
	}
	return 0;
}

/*
 * A key pattern: prefix, the namespace with the glob's special bytes
 * escaped (a namespace of the CLI or the configuration has none), then
 * suffix. Redis's glob takes { and } literally.
 */
static void
acl_key(struct acl_list *l, const char *prefix, const char *ns,
    const char *suffix)
{
	char buf[512];
	size_t n;

	n = (size_t)snprintf(buf, sizeof buf, "%s", prefix);
	for (; *ns != '\0' && n + 2 < sizeof buf; ns++) {
		if (strchr("*?[]\\", *ns) != NULL)
			buf[n++] = '\\';
		buf[n++] = *ns;
	}
	buf[n] = '\0';
	snprintf(buf + n, sizeof buf - n, "%s", suffix);
	acl_list_add(l, buf);
}

struct acl *
acl_build(enum acl_role role, const char *ns, char *err, size_t len)
{
	const char *const *c;
	struct acl_lib *lib;
	struct acl *acl;
	const char *name, *kp;
	char buf[256];
	size_t i, nc;
	int ro;

	if ((lib = acl_lib_scan(rfunc_lua, rfunc_lua_len, err, len)) == NULL)
		return NULL;
	acl = xcalloc(1, sizeof *acl);
	acl->role = role;
	snprintf(buf, sizeof buf, "redjob-%s", acl_role_name(role));
	acl->user = xstrdup(buf);

	for (i = 0; i < acl_lib_nfunctions(lib); i++) {
		name = acl_lib_function(lib, i, &ro);
		if (!acl_may_call(role, name, ro))
			continue;
		/* Read-only functions are called with FCALL_RO. */
		snprintf(buf, sizeof buf, "%s|%s", ro ? "fcall_ro" : "fcall",
		    name);
		acl_list_add(&acl->functions, buf);
		acl_lib_commands(lib, name, &acl->commands);
	}
	acl_lib_free(lib);

	switch (role) {
	case ACL_WORKER:
		c = acl_c_worker;
		nc = nitems(acl_c_worker);
		break;
	case ACL_PRODUCER:
		c = acl_c_producer;
		nc = nitems(acl_c_producer);
		break;
	case ACL_READER:
		c = acl_c_reader;
		nc = nitems(acl_c_reader);
		break;
	default:
		/* The admin may do what every other role may. */
		for (i = 0; i < nitems(acl_c_worker); i++)
			acl_list_add(&acl->commands, acl_c_worker[i]);
		for (i = 0; i < nitems(acl_c_producer); i++)
			acl_list_add(&acl->commands, acl_c_producer[i]);
		c = acl_c_admin;
		nc = nitems(acl_c_admin);
		break;
	}
	for (i = 0; i < nc; i++)
		acl_list_add(&acl->commands, c[i]);
	acl_list_sort(&acl->commands);

	/*
	 * Keys (docs/protocol.md, docs/guards.md): the queues' keys all
	 * start NS:{, the registry is NS:queues, the type and shard tables
	 * NS:types and NS:shards, locks and limiters NS:lock:{ and
	 * NS:limit:{, the worker registry NS:workers and NS:worker:OWNER
	 * (readers see locks for redjob why). FCALL needs write access to
	 * its key and a function's commands run with the caller's key
	 * rights, so only the reader, which calls FCALL_RO alone, can be
	 * read-only.
	 */
	kp = role == ACL_READER ? "%R~" : "~";
	acl_key(&acl->keys, kp, ns, ":{*");
	acl_key(&acl->keys, kp, ns, ":queues");
	acl_key(&acl->keys, kp, ns, ":types");
	acl_key(&acl->keys, kp, ns, ":shards");
	if (role != ACL_PRODUCER) {
		acl_key(&acl->keys, kp, ns, ":lock:{*");
		acl_key(&acl->keys, kp, ns, ":limit:{*");
		acl_key(&acl->keys, kp, ns, ":workers");
		acl_key(&acl->keys, kp, ns, ":worker:*");
	}

	/*
	 * Channels (docs/protocol.md, waiting for a job): the library
	 * publishes a job's end on NS:{QUEUE}:fin:N, and a cancel on
	 * NS:{QUEUE}:cancel, so the role that publishes or subscribes needs
	 * them, in the queue's hash tag like its keys.
	 */
	if (acl_list_has(&acl->commands, "publish") ||
	    acl_list_has(&acl->commands, "subscribe"))
		acl_key(&acl->channels, "&", ns, ":{*");

	/*
	 * Not "reset": that would also drop the user's passwords and turn
	 * it off. These reset the commands, keys and channels, so the
	 * rules may be applied again over an older set.
	 */
	acl_list_add(&acl->rules, "resetkeys");
	acl_list_add(&acl->rules, "resetchannels");
	acl_list_add(&acl->rules, "-@all");
	for (i = 0; i < acl->commands.n; i++) {
		snprintf(buf, sizeof buf, "+%s", acl->commands.v[i]);
		acl_list_add(&acl->rules, buf);
	}
	for (i = 0; i < acl->functions.n; i++) {
		snprintf(buf, sizeof buf, "+%s", acl->functions.v[i]);
		acl_list_add(&acl->rules, buf);
	}
	for (i = 0; i < acl->keys.n; i++)
		acl_list_add(&acl->rules, acl->keys.v[i]);
	for (i = 0; i < acl->channels.n; i++)
		acl_list_add(&acl->rules, acl->channels.v[i]);
	return acl;
}

void
acl_free(struct acl *acl)
{
	if (acl == NULL)
		return;
	free(acl->user);
	acl_list_free(&acl->functions);
	acl_list_free(&acl->commands);
	acl_list_free(&acl->keys);
	acl_list_free(&acl->channels);
	acl_list_free(&acl->rules);
	free(acl);
}
