/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * http.h: the supervisor's optional HTTP listener (http.listen in
 * redjob.yml(5)): GET /metrics in Prometheus' text format and GET
 * /healthz, served by libevent's evhttp on the supervisor's loop.
 */
#ifndef REDJOB_HTTP_H
#define REDJOB_HTTP_H

#include <stddef.h>

struct config;
struct event_base;
struct http;
struct metrics;

/* What the listener asks the supervisor. */
struct http_hooks {
	int		(*healthy)(void *arg);	/* the watchdog's verdict */
	void		(*status)(void *arg, char *buf, size_t len);
	void		(*slots)(void *arg, unsigned *busy, unsigned *idle);
	void		*arg;
	struct metrics	*metrics;	/* the daemon's totals */
};

struct http	*http_create(struct event_base *base,
		    const struct config *cfg, const struct http_hooks *hooks,
		    char **cause);
void		 http_configure(struct http *h, const struct config *cfg);
void		 http_close_fds(struct http *h);
void		 http_free(struct http *h);

#endif
