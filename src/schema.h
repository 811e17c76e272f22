/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * schema.h: the names of redjob's keys in Redis and the rules for the
 * names they are built from (docs/protocol.md, keys; docs/guards.md).
 * Linked into the public library: nothing here prints, aborts or uses
 * the daemon's allocators.
 */
#ifndef REDJOB_SCHEMA_H
#define REDJOB_SCHEMA_H

#include <stddef.h>

#define SCHEMA_NAMESPACE_MAX	64
#define SCHEMA_QUEUE_MAX	128
/* Shards of one queue: NAME, NAME~1 ... NAME~255. */
#define SCHEMA_SHARDS_MAX	256
/* Holds a queue's base key and every key C derives from it. */
#define SCHEMA_KEY_MAX		256

int	 schema_check_namespace(const char *ns, char *err, size_t len);
int	 schema_check_queue(const char *queue, char *err, size_t len);
int	 schema_job_queue(const char *id, char *queue, size_t len);
int	 schema_shard_split(const char *queue, char *base, size_t len,
	    unsigned *shard);
int	 schema_shard_name(char *buf, size_t len, const char *queue,
	    unsigned shard);
unsigned schema_shard_of(const char *key, size_t len, unsigned nshards);
unsigned schema_shards_parse(const char *value);
int	 schema_shard_base(char *buf, size_t len, const char *ns,
	    const char *queue, unsigned shard);

int	 schema_queue_base(char *buf, size_t len, const char *ns,
	    const char *queue);
int	 schema_wake_key(char *buf, size_t len, const char *base);
int	 schema_cancel_channel(char *buf, size_t len, const char *base);
int	 schema_registry_key(char *buf, size_t len, const char *ns);
int	 schema_workers_key(char *buf, size_t len, const char *ns);
int	 schema_types_key(char *buf, size_t len, const char *ns);
int	 schema_shards_key(char *buf, size_t len, const char *ns);
int	 schema_worker_key(char *buf, size_t len, const char *ns,
	    const char *owner);
char	*schema_lock_key(const char *ns, const char *name);
char	*schema_limit_key(const char *ns, const char *limiter,
	    const char *partition);

#endif
