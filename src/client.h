/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * client.h: the parts of libredjob's synchronous client that the redjob
 * CLI uses beyond the public API. Not installed; the client_ prefix keeps
 * these out of the shared library's exported symbols.
 */
#ifndef REDJOB_CLIENT_H
#define REDJOB_CLIENT_H

#include <stddef.h>

#include "rfunc.h"
#include "schema.h"

struct redisReply;
struct redjob_client;

struct redisReply *client_fcall_key(struct redjob_client *c, const char *fn,
		    int readonly, const char *key, int argc,
		    const char **argv, const size_t *argvlen);
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

/*
 * XXX The names these had before the key rules moved to schema.h and the
 * library to rfunc.h (issue 9). The tests and the benchmark still use
 * them; delete these lines when they have moved to the new names.
 */
#define client_lib_version	rfunc_lib_version
#define client_schema_version	rfunc_schema_version
#define client_lua		rfunc_lua
#define client_lua_len		rfunc_lua_len
#define client_check_queue	schema_check_queue
#define client_check_namespace	schema_check_namespace
#define client_job_queue	schema_job_queue

#endif
