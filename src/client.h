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
int		 client_noperm(const struct redjob_client *c);

#endif
