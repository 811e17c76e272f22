/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Key names: the one place in C that spells a key (docs/protocol.md,
 * keys; docs/guards.md, keys). A queue's keys hang off its base key
 * NS:{QUEUE}; the braces are the Redis Cluster hash tag, so every key of
 * a queue lives in one slot. The function library derives the queue's
 * other keys itself; C spells only those it touches outside the library
 * (the wake marker), the queue registry NS:queues (no hash tag: it is
 * never touched by a function), and the guards' keys NS:lock:{NAME} and
 * NS:limit:{LIMITER:PARTITION}, each in the slot of its own name.
 *
 * It also owns the rules for the names keys are built from, and the job
 * id QUEUE:N. It does not render lock and limiter templates (template.c
 * escapes the braces out of what it substitutes) nor know any function.
 *
 * libredjob links this file, so it never prints or aborts: a bounded key
 * is written into the caller's buffer (-1 when it does not fit), an
 * unbounded one is allocated with malloc (NULL when that fails).
 */
#include "autoconf.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"
#include "compat.h"

static int	schema_format(char *, size_t, const char *, ...)
		    printflike(3, 4);

/*
 * Check that name is 1-max bytes of letters, digits and the characters
 * of extra. Returns 0 or -1.
 */
static int
schema_check_name(const char *name, size_t max, const char *extra)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > max)
		return -1;
	for (i = 0; i < n; i++) {
		if (!isalnum((unsigned char)name[i]) &&
		    strchr(extra, name[i]) == NULL)
			return -1;
	}
	return 0;
}

/*
 * Split a queue name into the queue and its shard: "NAME" is shard 0 of
 * NAME, "NAME~K" shard K (1 to SCHEMA_SHARDS_MAX - 1, no leading zero)
 * of a sharded queue (docs/protocol.md, sharded queues). NAME is 1-128 of
 * [A-Za-z0-9_.-]: no ':' (a job id is QUEUE:N), no braces (the name is
 * the hash tag) and no '~'. base (len bytes, or NULL) gets NAME. Returns
 * 0, or -1 if q is neither.
 */
int
schema_shard_split(const char *q, char *base, size_t len, unsigned *shard)
{
	char name[SCHEMA_QUEUE_MAX + 1];
	const char *t = strchr(q, '~');
	size_t n = t != NULL ? (size_t)(t - q) : strlen(q);
	unsigned long k = 0;

	if (n > SCHEMA_QUEUE_MAX)
		return -1;
	memcpy(name, q, n);
	name[n] = '\0';
	if (schema_check_name(name, SCHEMA_QUEUE_MAX, "_.-") != 0)
		return -1;
	if (t != NULL) {
		if (t[1] < '1' || t[1] > '9' || strlen(t + 1) > 3 ||
		    strspn(t + 1, "0123456789") != strlen(t + 1) ||
		    (k = strtoul(t + 1, NULL, 10)) >= SCHEMA_SHARDS_MAX)
			return -1;
	}
	if (base != NULL) {
		if (n >= len)
			return -1;
		memcpy(base, name, n + 1);
	}
	if (shard != NULL)
		*shard = (unsigned)k;
	return 0;
}

/*
 * Write the name of shard k of queue q into buf: q itself for shard 0
 * (so a queue that becomes sharded keeps its jobs in its first shard),
 * else "q~k". Returns 0 or -1 (it does not fit).
 */
int
schema_shard_name(char *buf, size_t len, const char *q, unsigned k)
{
	if (k == 0)
		return schema_format(buf, len, "%s", q);
	return schema_format(buf, len, "%s~%u", q, k);
}

/*
 * Write the base key "NS:{QUEUE}" of shard k of queue q into buf (the
 * queue's own for shard 0). Returns 0, or -1 as schema_queue_base().
 */
int
schema_shard_base(char *buf, size_t len, const char *ns, const char *q,
    unsigned k)
{
	char name[SCHEMA_QUEUE_MAX + 8];

	if (schema_shard_name(name, sizeof name, q, k) != 0)
		return -1;
	return schema_queue_base(buf, len, ns, name);
}

/*
 * A queue's number of shards as the shard table gives it: 2 to
 * SCHEMA_SHARDS_MAX; 1 for anything else (no field: not sharded; a value
 * that is not a number of shards is ignored, not obeyed).
 */
unsigned
schema_shards_parse(const char *v)
{
	unsigned long n;
	char *end;

	if (v == NULL || *v < '1' || *v > '9')
		return 1;
	n = strtoul(v, &end, 10);
	return *end == '\0' && n <= SCHEMA_SHARDS_MAX ? (unsigned)n : 1;
}

/*
 * The shard of a sharded queue's n that a job with this key (or unique
 * key) goes to: FNV-1a (32 bits) of its bytes, modulo n, so that every
 * producer, in any language, puts jobs of one key in one shard
 * (docs/protocol.md, sharded queues).
 */
unsigned
schema_shard_of(const char *key, size_t len, unsigned n)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= 16777619u;
	}
	return n > 1 ? h % n : 0;
}

/*
 * Check a queue name: NAME or NAME~K, as schema_shard_split() says.
 * Returns 0, or -1 with the reason in err.
 */
int
schema_check_queue(const char *q, char *err, size_t len)
{
	if (schema_shard_split(q, NULL, 0, NULL) == 0)
		return 0;
	if (strchr(q, '~') != NULL)
		snprintf(err, len, "invalid shard \"%s\" (QUEUE~K: a queue "
		    "name, then K from 1 to %d without a leading zero)", q,
		    SCHEMA_SHARDS_MAX - 1);
	else
		snprintf(err, len, "invalid queue name \"%s\" (1-128 of A-Z "
		    "a-z 0-9 _ . -)", q);
	return -1;
}

/*
 * Check a namespace: 1-64 of [A-Za-z0-9_.:-]. No braces, which would
 * move the hash tag. Returns 0, or -1 with the reason in err.
 */
int
schema_check_namespace(const char *ns, char *err, size_t len)
{
	if (schema_check_name(ns, SCHEMA_NAMESPACE_MAX, "_.:-") == 0)
		return 0;
	snprintf(err, len, "invalid namespace \"%s\" (1-64 of A-Z a-z 0-9 _ "
	    ". : -)", ns);
	return -1;
}

/*
 * Copy the queue of a job id "QUEUE:N" (N decimal) into queue, len bytes.
 * Returns 0, or -1 if id is not a job id or the queue does not fit.
 */
int
schema_job_queue(const char *id, char *queue, size_t len)
{
	const char *colon = strrchr(id, ':');
	size_t n;

	if (colon == NULL || colon == id || colon[1] == '\0' ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return -1;
	n = (size_t)(colon - id);
	if (n >= len)
		return -1;
	memcpy(queue, id, n);
	queue[n] = '\0';
	return schema_shard_split(queue, NULL, 0, NULL);
}

/* snprintf into buf; returns 0, or -1 if it did not fit. */
static int
schema_format(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len)
		return -1;
	return 0;
}

/*
 * Write the base key "NS:{QUEUE}" of a queue into buf, the one key every
 * function of the library takes. Returns 0, or -1 if the namespace or the
 * queue name is invalid (a brace would move the hash tag) or the key does
 * not fit.
 */
int
schema_queue_base(char *buf, size_t len, const char *ns, const char *queue)
{
	if (schema_check_name(ns, SCHEMA_NAMESPACE_MAX, "_.:-") != 0 ||
	    schema_shard_split(queue, NULL, 0, NULL) != 0)
		return -1;
	return schema_format(buf, len, "%s:{%s}", ns, queue);
}

/*
 * Write the key of a queue's wake marker, "B:wake" for base key B, into
 * buf: idle workers wait on it with BZPOPMIN. Returns 0 or -1 (it does
 * not fit).
 */
int
schema_wake_key(char *buf, size_t len, const char *base)
{
	return schema_format(buf, len, "%s:wake", base);
}

/*
 * Write the name of a queue's cancel channel, "B:cancel" for base key B,
 * into buf: redjob_cancel publishes there which running job it took from
 * which worker. Returns 0 or -1 (it does not fit).
 */
int
schema_cancel_channel(char *buf, size_t len, const char *base)
{
	return schema_format(buf, len, "%s:cancel", base);
}

/*
 * Write the key of the queue registry, "NS:queues", into buf. Returns 0
 * or -1 (it does not fit).
 */
int
schema_registry_key(char *buf, size_t len, const char *ns)
{
	return schema_format(buf, len, "%s:queues", ns);
}

/* The worker registry: the set "NS:workers" of owner ids... */
int
schema_workers_key(char *buf, size_t len, const char *ns)
{
	return schema_format(buf, len, "%s:workers", ns);
}

/* The type table: "NS:types", job type -> queue (docs/protocol.md). */
int
schema_types_key(char *buf, size_t len, const char *ns)
{
	return schema_format(buf, len, "%s:types", ns);
}

/*
 * The shard table: "NS:shards", sharded queue -> its number of shards
 * (docs/protocol.md, sharded queues).
 */
int
schema_shards_key(char *buf, size_t len, const char *ns)
{
	return schema_format(buf, len, "%s:shards", ns);
}

/* ...and each one's hash "NS:worker:OWNER" (docs/protocol.md). */
int
schema_worker_key(char *buf, size_t len, const char *ns, const char *owner)
{
	return schema_format(buf, len, "%s:worker:%s", ns, owner);
}

/*
 * The key of the lock name, "NS:lock:{NAME}": name is the rendered lock
 * template, already escaped (template.c). Returns an allocated string
 * (caller frees) or NULL if malloc fails.
 */
char *
schema_lock_key(const char *ns, const char *name)
{
	char *key;

	if (asprintf(&key, "%s:lock:{%s}", ns, name) < 0)
		return NULL;
	return key;
}

/*
 * The key of a limiter's partition, "NS:limit:{LIMITER:PARTITION}":
 * partition is the rendered key template, already escaped, "" for a
 * limiter without one. Returns an allocated string (caller frees) or NULL
 * if malloc fails.
 */
char *
schema_limit_key(const char *ns, const char *limiter, const char *partition)
{
	char *key;

	if (asprintf(&key, "%s:limit:{%s:%s}", ns, limiter, partition) < 0)
		return NULL;
	return key;
}
