/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * client.h: the parts of libredjob's synchronous client that the redjob
 * CLI uses beyond the public API. Not installed; the client_ prefix keeps
 * these out of the shared library's exported symbols.
 */
#ifndef REDJOB_CLIENT_H
#define REDJOB_CLIENT_H

#include <stddef.h>

#include "schema.h"

struct redisReply;
struct redjob_client;

/* The schema and library versions this build speaks (from redjob.lua). */
extern const int client_lib_version;
extern const int client_schema_version;
extern const char client_lua[];
extern const size_t client_lua_len;

struct redisReply *client_fcall(struct redjob_client *c, const char *fn,
		    int readonly, const char *queue, int argc,
		    const char **argv, const size_t *argvlen);
struct redisReply *client_command(struct redjob_client *c, int argc,
		    const char **argv, const size_t *argvlen);
int		 client_queues(struct redjob_client *c, char ***queues,
		    size_t *n);
void		 client_queues_free(char **queues, size_t n);
int		 client_register_queue(struct redjob_client *c,
		    const char *queue);
const char	*client_namespace(const struct redjob_client *c);
int		 client_error_class(const char *redis_error);

/*
 * XXX The names these had before the key rules moved to schema.h
 * (issue 9). The tests still use them; delete these lines when they have
 * moved to the new names.
 */
#define client_check_queue	schema_check_queue
#define client_check_namespace	schema_check_namespace
#define client_job_queue	schema_job_queue

#endif
