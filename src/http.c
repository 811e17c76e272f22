/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The supervisor's HTTP listener (http.listen in redjob.yml(5)), on its
 * own loop with libevent's evhttp: GET /metrics and GET /healthz
 * (docs/operations.md, metrics).
 *
 * /metrics is the workers' figures as the supervisor sums them
 * (metrics.c), the supervisor's gauges, and the depth of every queue.
 * The depths cost one read-only redjob_stats call per queue, made at
 * most once a second whatever the number of scrapers: a scrape within a
 * second of the last round, or during one, is answered from it. The
 * calls have a short deadline, and without a connection no call is made
 * at all, so a scrape while Redis is down or hung still answers within
 * HTTP_CALL_MS, with redjob_up 0.
 *
 * /healthz gives the watchdog's verdict (supervisor.c) and the status
 * line: 200 or 503 with a small JSON object.
 */
#include "autoconf.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <hiredis/hiredis.h>

#include "http.h"
#include "compat.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "mtime.h"
#include "rconn.h"
#include "rfunc.h"
#include "schema.h"
#include "xmalloc.h"

#define HTTP_CACHE_MS 1000	/* depths younger than this are reused */
#define HTTP_CALL_MS 1000	/* a depth call's deadline */
#define HTTP_TIMEOUT_S 10	/* a client's request must come in this */
#define HTTP_HEADERS_MAX 8192
#define HTTP_BACKLOG 64

/* The fields of redjob_stats read; "workers" may be missing (older). */
enum { HTTP_READY, HTTP_SCHEDULED, HTTP_RUNNING, HTTP_DEAD, HTTP_PAUSED,
	HTTP_WORKERS, HTTP_NSTATES };
static const char *const http_states[HTTP_NSTATES] = {
	"ready", "scheduled", "running", "dead", "paused", "workers",
};
#define HTTP_NEEDED ((1U << HTTP_WORKERS) - 1)

/* A queue, or one shard of a sharded queue (its shards follow it). */
struct http_queue {
	char		*name;		/* the queue's, for every shard */
	char		*key;		/* NS:{QUEUE} or NS:{QUEUE~K} */
	size_t		 nshards;	/* on a queue's first shard */
	long long	 v[HTTP_NSTATES];
	int		 ok;		/* v is from the last round */
	int		 workers_ok;	/* and has v[HTTP_WORKERS] */
};

/* A scrape waiting for the round of depth calls under way. */
struct http_wait {
	struct evhttp_request	*req;
	struct http_wait	*next;
};

/* One depth call; outlives a reload (gen tells it apart). */
struct http_call {
	struct http	*h;
	unsigned	 gen;
	size_t		 qi;
};

struct http {
	struct event_base	*base;
	struct evhttp		*evh;
	int			 fd;		/* the listening socket */
	char			*listen;	/* as configured */
	char			*unix_path;	/* to remove at exit */
	struct http_hooks	 hooks;

	/* The depths: a connection, the queues, the last round. */
	struct rconn		*rc;
	char			*url;		/* of rc, to see a change */
	char			*password;
	struct http_queue	*queues;
	size_t			 nqueues;
	unsigned		 gen;		/* of queues */
	unsigned		 out;		/* calls of the round still out */
	int			 round_ok;
	int			 up;		/* the last round succeeded */
	uint64_t		 fetched;	/* when it ended (mtime) */
	struct http_wait	*waiting;
	struct log_ratelimit	 redis_log;
};

/* JSON string body of s, escaped. */
static void
http_json_string(struct evbuffer *out, const char *s)
{
	evbuffer_add(out, "\"", 1);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			evbuffer_add_printf(out, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			evbuffer_add_printf(out, "\\u%04x", (unsigned char)*s);
		else
			evbuffer_add(out, s, 1);
	}
	evbuffer_add(out, "\"", 1);
}

static void
http_reply(struct evhttp_request *req, int code, const char *reason,
    const char *type, struct evbuffer *body)
{
	struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);

	evhttp_add_header(hdr, "Content-Type", type);
	evhttp_add_header(hdr, "Cache-Control", "no-store");
	evhttp_send_reply(req, code, reason, body);
}

/* GET /healthz: the watchdog's verdict, and the status line that says why. */
static void
http_healthz(struct http *h, struct evhttp_request *req)
{
	struct evbuffer *b;
	char status[256];
	int ok;

	ok = h->hooks.healthy(h->hooks.arg);
	h->hooks.status(h->hooks.arg, status, sizeof status);
	if ((b = evbuffer_new()) == NULL)
		fatalx("out of memory");
	evbuffer_add_printf(b, "{\"healthy\": %s, \"status\": ",
	    ok ? "true" : "false");
	http_json_string(b, status);
	evbuffer_add_printf(b, "}\n");
	http_reply(req, ok ? 200 : 503, ok ? "OK" : "Service Unavailable",
	    "application/json", b);
	evbuffer_free(b);
}

/*
 * Each queue once, a sharded queue with the sums of its shards (paused
 * only if every shard is; workers: the most of any shard), known only if
 * every shard is. *out is
 * allocated. Returns the number of queues.
 */
static size_t
http_queue_sums(const struct http *h, struct http_queue **out)
{
	const struct http_queue *sh;
	struct http_queue *q;
	size_t i, k, j, n = 0;

	*out = xcalloc(h->nqueues + 1, sizeof **out);
	for (i = 0; i < h->nqueues; i += h->queues[i].nshards) {
		q = &(*out)[n++];
		q->name = h->queues[i].name;
		q->ok = q->workers_ok = 1;
		for (k = 0; k < h->queues[i].nshards; k++) {
			sh = &h->queues[i + k];
			q->ok &= sh->ok;
			q->workers_ok &= sh->workers_ok;
			for (j = 0; j < HTTP_NSTATES; j++) {
				if (j < HTTP_PAUSED)
					q->v[j] += sh->v[j];
				else if (j == HTTP_PAUSED)
					q->v[j] = k == 0 ? sh->v[j] != 0 :
					    q->v[j] && sh->v[j];
				else if (sh->v[j] > q->v[j])
					q->v[j] = sh->v[j];
			}
		}
	}
	return n;
}

/* The scrape's text: the supervisor's gauges, then metrics.c's table. */
static void
http_metrics_reply(struct http *h, struct evhttp_request *req)
{
	struct evbuffer *b;
	struct http_queue *qs;
	unsigned busy = 0, idle = 0;
	size_t i, k, nq;

	if ((b = evbuffer_new()) == NULL)
		fatalx("out of memory");
	evbuffer_add_printf(b, "# HELP redjob_build_info redjobd's version "
	    "and that of its function library; always 1.\n"
	    "# TYPE redjob_build_info gauge\n"
	    "redjob_build_info{version=\"%s\",library=\"%d\",schema=\"%d\"} "
	    "1\n", PACKAGE_VERSION, rfunc_lib_version, rfunc_schema_version);
	evbuffer_add_printf(b, "# HELP redjob_up 1 if the last Redis calls "
	    "for the queue depths succeeded, else 0.\n"
	    "# TYPE redjob_up gauge\nredjob_up %d\n", h->up);
	nq = http_queue_sums(h, &qs);
	evbuffer_add_printf(b, "# HELP redjob_queue_jobs Jobs in a queue by "
	    "state, at most a second old (absent while Redis does not "
	    "answer).\n# TYPE redjob_queue_jobs gauge\n");
	for (i = 0; i < nq; i++) {
		for (k = 0; k < HTTP_PAUSED && qs[i].ok; k++)
			evbuffer_add_printf(b, "redjob_queue_jobs{queue=\"%s\","
			    "state=\"%s\"} %lld\n", qs[i].name,
			    http_states[k], qs[i].v[k]);
	}
	evbuffer_add_printf(b, "# HELP redjob_queue_paused 1 if a queue is "
	    "paused (redjob pause), else 0.\n"
	    "# TYPE redjob_queue_paused gauge\n");
	for (i = 0; i < nq; i++) {
		if (qs[i].ok)
			evbuffer_add_printf(b, "redjob_queue_paused{queue=\"%s\"} "
			    "%lld\n", qs[i].name,
			    qs[i].v[HTTP_PAUSED] != 0 ? 1LL : 0LL);
	}
	evbuffer_add_printf(b, "# HELP redjob_queue_workers Live workers of "
	    "every host that serve a queue (the worker registry).\n"
	    "# TYPE redjob_queue_workers gauge\n");
	for (i = 0; i < nq; i++) {
		if (qs[i].ok && qs[i].workers_ok)
			evbuffer_add_printf(b, "redjob_queue_workers{queue=\"%s\"}"
			    " %lld\n", qs[i].name, qs[i].v[HTTP_WORKERS]);
	}
	free(qs);
	h->hooks.slots(h->hooks.arg, &busy, &idle);
	evbuffer_add_printf(b, "# HELP redjob_slots Job slots of the workers, "
	    "busy running a job or idle.\n# TYPE redjob_slots gauge\n"
	    "redjob_slots{state=\"busy\"} %u\nredjob_slots{state=\"idle\"} "
	    "%u\n", busy, idle);
	metrics_render(h->hooks.metrics, b);
	http_reply(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8",
	    b);
	evbuffer_free(b);
}

/* The round is over: answer every scrape that waited for it. */
static void
http_round_done(struct http *h)
{
	struct http_wait *w;

	h->up = h->round_ok;
	h->fetched = mtime_now();
	while ((w = h->waiting) != NULL) {
		h->waiting = w->next;
		http_metrics_reply(h, w->req);
		free(w);
	}
}

/* A redjob_stats reply: {"ready", N, "scheduled", N, ...}. */
static void
http_stats_cb(struct rconn *rc, redisReply *r, void *arg)
{
	struct http_call *c = arg;
	struct http *h = c->h;
	struct http_queue *q;
	size_t i, k, seen = 0;

	(void)rc;
	if (h == NULL || c->gen != h->gen) {
		free(c);	/* from before a reload, or at exit */
		return;
	}
	q = &h->queues[c->qi];
	q->ok = 0;
	if (r != NULL && r->type == REDIS_REPLY_ARRAY) {
		for (i = 0; i + 1 < r->elements; i += 2) {
			if (r->element[i]->type != REDIS_REPLY_STRING ||
			    r->element[i + 1]->type != REDIS_REPLY_INTEGER)
				continue;
			for (k = 0; k < HTTP_NSTATES; k++) {
				if (strcmp(r->element[i]->str,
				    http_states[k]) == 0) {
					q->v[k] = r->element[i + 1]->integer;
					seen |= 1U << k;
				}
			}
		}
		q->ok = (seen & HTTP_NEEDED) == HTTP_NEEDED;
		q->workers_ok = (seen & (1U << HTTP_WORKERS)) != 0;
	}
	if (!q->ok) {
		h->round_ok = 0;
		if (r != NULL)
			log_ratelimit(&h->redis_log, LOG_LEVEL_WARNING,
			    "http: redjob_stats on queue %s: %s", q->name,
			    r->type == REDIS_REPLY_ERROR ? r->str :
			    "unexpected reply");
	}
	free(c);
	if (--h->out == 0)
		http_round_done(h);
}

/* Start a round of depth calls, one per queue; 0, or -1 if none went. */
static int
http_fetch(struct http *h)
{
	const char *argv[RFUNC_FCALL_HEAD];
	size_t lens[RFUNC_FCALL_HEAD], i;
	struct http_call *c;
	int argc;

	h->round_ok = 1;
	for (i = 0; i < h->nqueues; i++) {
		h->queues[i].ok = 0;
		c = xcalloc(1, sizeof *c);
		c->h = h;
		c->gen = h->gen;
		c->qi = i;
		argc = rfunc_fcall_head(argv, lens, "redjob_stats", 1,
		    h->queues[i].key);
		if (rconn_command(h->rc, HTTP_CALL_MS, http_stats_cb, c, argc,
		    argv, lens) != 0) {
			free(c);
			h->round_ok = 0;
			continue;
		}
		h->out++;
	}
	return h->out > 0 ? 0 : -1;
}

/* GET /metrics: from the last round if it is fresh, else after a new one. */
static void
http_metrics(struct http *h, struct evhttp_request *req)
{
	struct http_wait *w;
	size_t i;

	if (h->out == 0 && (h->fetched == 0 ||
	    mtime_now() - h->fetched >= HTTP_CACHE_MS)) {
		if (!rconn_ready(h->rc) || http_fetch(h) != 0) {
			/* No connection: nothing to wait for. */
			for (i = 0; i < h->nqueues; i++)
				h->queues[i].ok = 0;
			h->round_ok = 0;
			http_round_done(h);
		}
	}
	if (h->out == 0) {
		http_metrics_reply(h, req);
		return;
	}
	w = xcalloc(1, sizeof *w);
	w->req = req;
	w->next = h->waiting;
	h->waiting = w;
}

static void
http_request_cb(struct evhttp_request *req, void *arg)
{
	struct http *h = arg;
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *path = u != NULL ? evhttp_uri_get_path(u) : NULL;
	struct evbuffer *b;

	if (path != NULL && strcmp(path, "/metrics") == 0) {
		http_metrics(h, req);
		return;
	}
	if (path != NULL && strcmp(path, "/healthz") == 0) {
		http_healthz(h, req);
		return;
	}
	if ((b = evbuffer_new()) == NULL)
		fatalx("out of memory");
	evbuffer_add_printf(b, "not found: redjobd serves /metrics and "
	    "/healthz\n");
	http_reply(req, 404, "Not Found", "text/plain; charset=utf-8", b);
	evbuffer_free(b);
}

/* What the depth connection reports, in the log, rate-limited. */
static void
http_redis_event_cb(struct rconn *rc, enum rconn_event ev, const char *cause,
    void *arg)
{
	struct http *h = arg;
	unsigned n;

	switch (ev) {
	case RCONN_EVENT_FAILED:
	case RCONN_EVENT_NOPERM:
		log_ratelimit(&h->redis_log, LOG_LEVEL_WARNING, "redis %s: %s%s",
		    rconn_name(rc), ev == RCONN_EVENT_NOPERM ? "NOPERM on " :
		    "", cause);
		break;
	case RCONN_EVENT_CONNECTED:
		if ((n = log_ratelimit_end(&h->redis_log)) > 0)
			log_info("redis %s: connected again after %u "
			    "failure%s", rconn_name(rc), n, n == 1 ? "" : "s");
		break;
	case RCONN_EVENT_FATAL:
		log_errx("redis %s: %s; /metrics shows redjob_up 0",
		    rconn_name(rc), cause);
		break;
	case RCONN_EVENT_RELOAD:
	case RCONN_EVENT_NOPERM_END:
		break;
	}
}

/* The depth connection and the queues of cfg. */
static void
http_redis(struct http *h, const struct config *cfg)
{
	struct rconn_opts o;
	char key[SCHEMA_KEY_MAX], *url, *cause = NULL;
	size_t i, k, n;

	if (h->out > 0) {
		/* Scrapes waiting for the old queues get what there is. */
		h->out = 0;
		h->round_ok = 0;
		http_round_done(h);
	}
	for (i = 0; i < h->nqueues; i++) {
		free(h->queues[i].name);
		free(h->queues[i].key);
	}
	free(h->queues);
	h->gen++;	/* the calls out are for the old queues */
	h->nqueues = 0;
	for (i = 0; i < cfg->nqueues; i++)
		h->nqueues += cfg->queues[i].serve;
	h->queues = xcalloc(h->nqueues, sizeof *h->queues);
	for (i = 0, n = 0; i < cfg->nqueues; i++) {
		h->queues[n].nshards = cfg->queues[i].serve;
		for (k = 0; k < cfg->queues[i].serve; k++, n++) {
			h->queues[n].name = xstrdup(cfg->queues[i].name);
			if (schema_shard_base(key, sizeof key, cfg->namespace,
			    cfg->queues[i].name, k) != 0)
				fatalx("queue %s: no valid key",
				    cfg->queues[i].name);
			h->queues[n].key = xstrdup(key);
		}
	}
	h->fetched = 0;
	url = config_redis_url(cfg);
	if (h->rc != NULL && strcmp(url, h->url) == 0 &&
	    (cfg->password == NULL) == (h->password == NULL) &&
	    (cfg->password == NULL || strcmp(cfg->password, h->password) == 0)) {
		free(url);
		return;
	}
	rconn_free(h->rc);	/* answers its calls: gen was moved on */
	free(h->url);
	if (h->password != NULL)
		explicit_bzero(h->password, strlen(h->password));
	free(h->password);
	h->url = url;
	h->password = cfg->password != NULL ? xstrdup(cfg->password) : NULL;
	memset(&o, 0, sizeof o);
	o.url = h->url;
	o.password = h->password;
	o.name = "redjob-supervisor";
	o.on_event = http_redis_event_cb;
	o.event_arg = h;
	o.errors = metrics_redis_errors(h->hooks.metrics);
	/* The configuration check makes a bad URL a programming error. */
	if ((h->rc = rconn_create(h->base, &o, &cause)) == NULL)
		fatalx("%s", cause);
}

/*
 * Open the listening socket of cfg: "unix:PATH" (a stale socket there
 * is replaced, a live one is an error), or an address and port.
 * Returns the socket, or -1 with *cause set.
 */
static int
http_listen(struct http *h, const struct config *cfg, char **cause)
{
	struct sockaddr_storage ss;
	struct sockaddr_un *sun = (struct sockaddr_un *)&ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	struct stat st;
	char addr[INET6_ADDRSTRLEN];
	int fd, on = 1, c;

	memset(&ss, 0, sizeof ss);
	if (cfg->http_path != NULL) {
		sun->sun_family = AF_UNIX;
		snprintf(sun->sun_path, sizeof sun->sun_path, "%s",
		    cfg->http_path);
		len = sizeof *sun;
	} else if (strchr(cfg->http_host, ':') != NULL) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)cfg->http_port);
		inet_pton(AF_INET6, cfg->http_host, &sin6->sin6_addr);
		len = sizeof *sin6;
	} else {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)cfg->http_port);
		inet_pton(AF_INET, cfg->http_host, &sin->sin_addr);
		len = sizeof *sin;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0) {
		xasprintf(cause, "http.listen %s: socket: %s", cfg->http_listen,
		    strerror(errno));
		return -1;
	}
	if (ss.ss_family == AF_UNIX && lstat(cfg->http_path, &st) == 0 &&
	    S_ISSOCK(st.st_mode)) {
		/* A socket nobody accepts on is a leftover: replace it. */
		c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c >= 0 && connect(c, (struct sockaddr *)&ss, len) != 0 &&
		    errno == ECONNREFUSED)
			unlink(cfg->http_path);
		if (c >= 0)
			close(c);
	}
	if (ss.ss_family != AF_UNIX)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
	if (bind(fd, (struct sockaddr *)&ss, len) != 0 ||
	    listen(fd, HTTP_BACKLOG) != 0) {
		xasprintf(cause, "http.listen %s: %s%s", cfg->http_listen,
		    strerror(errno), errno == EADDRINUSE ? " (another "
		    "process listens there)" : "");
		close(fd);
		return -1;
	}
	if (ss.ss_family == AF_UNIX) {
		/*
		 * Group members may connect (a scraper in the group redjob,
		 * docs/operations.md), whatever the umask; the directory
		 * decides who reaches the socket at all.
		 */
		if (chmod(cfg->http_path, 0660) != 0)
			log_warn("http.listen %s: chmod", cfg->http_listen);
		h->unix_path = xstrdup(cfg->http_path);
		log_info("http: serving /metrics and /healthz on unix:%s",
		    cfg->http_path);
		return fd;
	}
	/* The port taken, for port 0. */
	len = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		log_info("http: serving /metrics and /healthz on %s%s%s:%u",
		    ss.ss_family == AF_INET6 ? "[" : "",
		    inet_ntop(ss.ss_family, ss.ss_family == AF_INET6 ?
		    (void *)&sin6->sin6_addr : (void *)&sin->sin_addr, addr,
		    sizeof addr) != NULL ? addr : "?",
		    ss.ss_family == AF_INET6 ? "]" : "",
		    (unsigned)ntohs(ss.ss_family == AF_INET6 ?
		    sin6->sin6_port : sin->sin_port));
	return fd;
}

/*
 * Listen on cfg's http.listen, on base. Returns the listener, or NULL
 * with *cause set when the address cannot be had.
 */
struct http *
http_create(struct event_base *base, const struct config *cfg,
    const struct http_hooks *hooks, char **cause)
{
	struct http *h;

	h = xcalloc(1, sizeof *h);
	h->base = base;
	h->hooks = *hooks;
	h->listen = xstrdup(cfg->http_listen);
	if ((h->fd = http_listen(h, cfg, cause)) < 0) {
		free(h->listen);
		free(h);
		return NULL;
	}
	if ((h->evh = evhttp_new(base)) == NULL)
		fatalx("out of memory");
	evhttp_set_allowed_methods(h->evh, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_timeout(h->evh, HTTP_TIMEOUT_S);
	evhttp_set_max_headers_size(h->evh, HTTP_HEADERS_MAX);
	evhttp_set_max_body_size(h->evh, 0);
	evhttp_set_gencb(h->evh, http_request_cb, h);
	if (evhttp_accept_socket_with_handle(h->evh, h->fd) == NULL)
		fatalx("evhttp_accept_socket failed");
	http_redis(h, cfg);
	return h;
}

/*
 * A reload: follow the new queues, namespace and Redis. The address
 * stays: a changed or removed http.listen takes effect at the next
 * start (redjob.yml(5)), so a reload never loses the listener.
 */
void
http_configure(struct http *h, const struct config *cfg)
{
	if (cfg->http_listen == NULL || strcmp(cfg->http_listen,
	    h->listen) != 0)
		log_warnx("http.listen changes take effect at the next "
		    "restart; still serving on %s", h->listen);
	http_redis(h, cfg);
}

/*
 * In a process forked from the supervisor: close the listening socket
 * and the Redis connection's, which are not the child's to keep open.
 */
void
http_close_fds(struct http *h)
{
	if (h == NULL)
		return;
	close(h->fd);
	rconn_close_fds(h->rc);
}

void
http_free(struct http *h)
{
	struct http_wait *w;
	size_t i;

	if (h == NULL)
		return;
	h->gen++;
	rconn_free(h->rc);
	while ((w = h->waiting) != NULL) {
		h->waiting = w->next;
		evhttp_send_error(w->req, 503, "redjobd is stopping");
		free(w);
	}
	evhttp_free(h->evh);	/* closes the listening socket */
	if (h->unix_path != NULL)
		unlink(h->unix_path);
	for (i = 0; i < h->nqueues; i++) {
		free(h->queues[i].name);
		free(h->queues[i].key);
	}
	free(h->queues);
	free(h->unix_path);
	free(h->url);
	if (h->password != NULL)
		explicit_bzero(h->password, strlen(h->password));
	free(h->password);
	free(h->listen);
	free(h);
}
