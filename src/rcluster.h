/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rcluster.h: the redis+cluster:// side of an rconn (rconn.c delegates to
 * it): a connection per master, each an ordinary rconn, and every call
 * routed to the master of its key's slot, following MOVED and waiting out
 * a slot's migration. Internal to rconn.c.
 */
#ifndef REDJOB_RCLUSTER_H
#define REDJOB_RCLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "rconn.h"

struct event_base;
struct rcl;
struct url;

struct rcl	*rcl_create(struct event_base *base, struct rconn *outer,
		    const struct rconn_opts *o, const struct url *u);
void		 rcl_free(struct rcl *cl);
int		 rcl_ready(const struct rcl *cl);
int		 rcl_call(struct rcl *cl, uint64_t timeout_ms,
		    rconn_reply_cb *cb, void *arg, const char *fn,
		    const char *key, int argc, const char **argv,
		    const size_t *lens);
int		 rcl_subscribe(struct rcl *cl, rconn_reply_cb *cb, void *arg,
		    int argc, const char **argv);
void		 rcl_drop(struct rcl *cl, const char *why);
void		 rcl_close_fds(const struct rcl *cl);
const char	*rcl_condition(struct rcl *cl, uint64_t *since);
const char	*rcl_last_error(const struct rcl *cl);
uint64_t	 rcl_retry_ms(const struct rcl *cl);

#endif
