/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * web.h: redjob web, the dashboard (docs/operations.md, "The dashboard").
 * cmd_web.c parses the options, listens, authenticates and routes each
 * request; web_html.c writes escaped HTML; web_pages.c reads Redis and
 * renders the pages and runs the actions. One process, one thread, one
 * synchronous Redis client: a request is answered from one series of
 * calls, each bounded by the client's timeout.
 */
#ifndef REDJOB_WEB_H
#define REDJOB_WEB_H

#include <stddef.h>
#include <stdint.h>

#include "compat.h"
#include "log.h"

struct evbuffer;
struct evhttp_request;
struct evkeyvalq;
struct redjob_client;

/* Jobs per page of a queue, and jobs per batch of retry-all/delete-all. */
#define WEB_PAGE_JOBS	50
#define WEB_BATCH	500
/* How much of a payload the job page shows. */
#define WEB_PREVIEW	4096
/* Samples of a queue's counters kept for its rates, at most one a second. */
#define WEB_SAMPLES	64
#define WEB_RATE_WINDOW_MS 60000

/* The counters of one queue seen at one moment (monotonic ms). */
struct web_sample {
	uint64_t	 at;
	long long	 processed;
	long long	 failed;
};

/* Recent samples of one queue, oldest first. */
struct web_rate {
	char			*queue;
	struct web_sample	 s[WEB_SAMPLES];
	size_t			 n;
};

struct web {
	struct redjob_client	*client;
	const char		*ns;
	char			 csrf[65];	/* per process, in every form */
	char			 session[65];	/* the login cookie's value */
	char			*token;		/* NULL: no authentication */
	int			 check_host;	/* loopback TCP without token */
	struct web_rate		*rates;
	size_t			 nrates;
	struct log_ratelimit	 rl_redis;	/* Redis errors */
	struct log_ratelimit	 rl_auth;	/* refused requests */
};

/* One request being answered. */
struct web_req {
	struct web		*w;
	struct evhttp_request	*req;
	struct evbuffer		*out;
	struct evkeyvalq	*query;		/* the query string's fields */
	struct evkeyvalq	*form;		/* a POST's fields, or NULL */
	int			 post;
};

/* cmd_web.c */
void	web_send(struct web_req *r, int code, const char *reason);
void	web_fail(struct web_req *r, int code, const char *reason,
	    const char *fmt, ...) printflike(4, 5);
void	web_redis_fail(struct web_req *r, const char *what);
void	web_redirect(struct web_req *r, const char *fmt, ...)
	    printflike(2, 3);
const char *web_param(const struct web_req *r, const char *name);

/* web_html.c */
void	html_raw(struct evbuffer *b, const char *fmt, ...) printflike(2, 3);
void	html_text(struct evbuffer *b, const char *s, size_t len);
void	html_str(struct evbuffer *b, const char *s);
void	html_url(struct evbuffer *b, const char *s);
void	html_time(struct evbuffer *b, long long ms);
void	html_ago(struct evbuffer *b, long long ms);
void	html_begin(struct web_req *r, const char *title);
void	html_end(struct web_req *r);
void	html_form(struct web_req *r, const char *op, const char *field,
	    const char *value, const char *label, const char *cls);
void	html_payload(struct evbuffer *b, const char *p, size_t len);
void	html_bytes(struct evbuffer *b, const char *name, const char *p,
	    size_t len);
int	html_is_text(const char *s, size_t len);
extern const char html_css[];

/* web_pages.c */
void	web_overview(struct web_req *r);
void	web_queue(struct web_req *r, const char *queue);
void	web_job(struct web_req *r, const char *id);
void	web_workers(struct web_req *r);
void	web_schedules(struct web_req *r);
void	web_dead(struct web_req *r);
void	web_action(struct web_req *r);
void	web_rates_free(struct web *w);

#endif
