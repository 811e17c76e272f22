/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * redjob web: the dashboard, a separate process so that redjobd stays
 * small and sandboxed. This file holds the command, the listening socket
 * (TCP or a unix socket, served by libevent's evhttp), authentication,
 * the CSRF check and the routing; the pages are in web_pages.c.
 *
 * Safe by default: it listens on 127.0.0.1:8187, and any address that is
 * not loopback (or a unix socket) needs --token-file. With a token, every
 * request must carry it, as "Authorization: Bearer TOKEN" or as the
 * session cookie the login form sets. Without one, requests must name a
 * loopback host in their Host header, so a web page whose name rebinds
 * to 127.0.0.1 cannot read the dashboard. Every change is a POST with the
 * per-process CSRF token (a bearer request needs none: no browser sends
 * that header across sites), and every page forbids scripts, framing
 * and outside resources (Content-Security-Policy).
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include "redjob.h"
#include "client.h"
#include "cmd.h"
#include "log.h"
#include "web.h"
#include "xmalloc.h"

#define WEB_LISTEN_DEFAULT	"127.0.0.1:8187"
#define WEB_TOKEN_MIN		16
#define WEB_TOKEN_MAX		1024
#define WEB_BODY_MAX		65536
#define WEB_HEADERS_MAX		16384
#define WEB_TIMEOUT_S		30
#define WEB_COOKIE		"redjob_session"

/* Where to listen, as parsed from --listen. */
struct web_addr {
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	int			 loopback;
	char			 path[108];	/* a unix socket's, to unlink */
};
_Static_assert(sizeof(((struct sockaddr_un *)0)->sun_path) <= 108,
    "a unix socket's path fits in struct web_addr");

static int	cmd_web_exec(struct cmd_ctx *, const struct cmd_entry *, int,
		    char **);

const struct cmd_entry cmd_web_entry = {
	"web",
	"[--listen ADDR] [--token-file FILE]",
	"serve the dashboard",
    "Serve the dashboard: every queue with its counts and recent rates,\n"
    "a queue's jobs by state, a job with every field and its payload,\n"
    "the live workers, the schedules and the dead jobs, with retry,\n"
    "delete, pause and resume. It runs until SIGTERM or SIGINT, logging\n"
    "to stderr.\n"
    "\n"
    "Options:\n"
    "  --listen ADDR            HOST:PORT with an IPv4 address, [IPV6]:PORT\n"
    "                           or unix:/PATH (default 127.0.0.1:8187;\n"
    "                           port 0 picks a free one and logs it)\n"
    "  --token-file FILE        require the token in FILE (its first line,\n"
    "                           at least 16 characters), as a bearer token\n"
    "                           or through the login form; needed for any\n"
    "                           address that is not loopback\n"
    "\n"
    "Examples:\n"
    "  redjob -c /etc/redjob/redjob.yml web\n"
    "  redjob web --listen '[::]:8187' --token-file /etc/redjob/web.token\n",
	cmd_web_exec
};

/*
 * Parse --listen. Returns 0, or -1 with the reason in err.
 */
static int
web_parse_addr(const char *s, struct web_addr *a, char *err, size_t errlen)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ss;
	struct sockaddr_un *sun = (struct sockaddr_un *)&a->ss;
	const char *colon, *p;
	char host[64];
	unsigned long port;
	char *end;

	memset(a, 0, sizeof *a);
	if (strncmp(s, "unix:", 5) == 0) {
		p = s + 5;
		if (*p != '/') {
			snprintf(err, errlen, "--listen %s: a unix socket "
			    "needs an absolute path (unix:/run/redjob-web/"
			    "web.sock)", s);
			return -1;
		}
		if (strlen(p) >= sizeof sun->sun_path) {
			snprintf(err, errlen, "--listen %s: the path is longer "
			    "than %zu bytes", s, sizeof sun->sun_path - 1);
			return -1;
		}
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, p, strlen(p) + 1);
		memcpy(a->path, p, strlen(p) + 1);
		a->len = sizeof *sun;
		a->loopback = 1;
		return 0;
	}
	if (*s == '[') {
		if ((p = strchr(s, ']')) == NULL || p[1] != ':') {
			snprintf(err, errlen, "--listen %s: expected "
			    "[IPV6]:PORT", s);
			return -1;
		}
		colon = p + 1;
		s++;
	} else {
		if ((colon = strrchr(s, ':')) == NULL) {
			snprintf(err, errlen, "--listen %s: expected "
			    "HOST:PORT, [IPV6]:PORT or unix:/PATH", s);
			return -1;
		}
		p = colon;
	}
	if ((size_t)(p - s) >= sizeof host) {
		snprintf(err, errlen, "--listen: the address is too long");
		return -1;
	}
	memcpy(host, s, (size_t)(p - s));
	host[p - s] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || errno != 0 ||
	    port > 65535) {
		snprintf(err, errlen, "--listen: the port must be a number "
		    "from 0 to 65535, not \"%s\"", colon + 1);
		return -1;
	}
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		a->len = sizeof *sin;
		a->loopback = (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		a->len = sizeof *sin6;
		a->loopback = IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
		return 0;
	}
	snprintf(err, errlen, "--listen: \"%s\" is not an IPv4 or IPv6 "
	    "address (write a name's address, e.g. 127.0.0.1 or [::1])", host);
	return -1;
}

/*
 * Read the token: the first line of path. Returns it (caller frees), or
 * NULL after printing why.
 */
static char *
web_read_token(const char *path)
{
	char buf[WEB_TOKEN_MAX + 2];
	struct stat st;
	size_t n;
	FILE *fp;

	if ((fp = fopen(path, "re")) == NULL) {
		cmd_error("--token-file %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
		fclose(fp);
		cmd_error("--token-file %s: not a regular file", path);
		return NULL;
	}
	if ((st.st_mode & S_IROTH) != 0) {
		fclose(fp);
		cmd_error("--token-file %s: every user can read it (chmod o-r "
		    "%s)", path, path);
		return NULL;
	}
	if (fgets(buf, sizeof buf, fp) == NULL)
		buf[0] = '\0';
	fclose(fp);
	n = strcspn(buf, "\r\n");
	if (n > WEB_TOKEN_MAX) {
		explicit_bzero(buf, sizeof buf);
		cmd_error("--token-file %s: the token is longer than %d "
		    "characters", path, WEB_TOKEN_MAX);
		return NULL;
	}
	buf[n] = '\0';
	if (n < WEB_TOKEN_MIN) {
		explicit_bzero(buf, sizeof buf);
		cmd_error("--token-file %s: the token has %zu characters; it "
		    "needs at least %d (e.g. head -c 24 /dev/urandom | base64 "
		    "> %s)", path, n, WEB_TOKEN_MIN, path);
		return NULL;
	}
	return xstrdup(buf);
}

/* Fill hex (65 bytes) with 32 random bytes in hex. Returns 0 or -1. */
static int
web_random_hex(char *hex)
{
	unsigned char b[32];
	size_t i, got = 0;
	ssize_t n;

	while (got < sizeof b) {
		if ((n = getrandom(b + got, sizeof b - got, 0)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)n;
	}
	for (i = 0; i < sizeof b; i++)
		snprintf(hex + 2 * i, 3, "%02x", b[i]);
	explicit_bzero(b, sizeof b);
	return 0;
}

/* Compare two strings in time that does not depend on where they differ. */
static int
web_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i;
	unsigned char d = 0;

	if (la != lb)
		return 0;
	for (i = 0; i < la; i++)
		d |= (unsigned char)a[i] ^ (unsigned char)b[i];
	return d == 0;
}

/* A field of the query string or (for a POST) of the form, or NULL. */
const char *
web_param(const struct web_req *r, const char *name)
{
	const char *v = NULL;

	if (r->form != NULL)
		v = evhttp_find_header(r->form, name);
	if (v == NULL && r->query != NULL)
		v = evhttp_find_header(r->query, name);
	return v;
}

/* Send the page in r->out with the headers every answer carries. */
void
web_send(struct web_req *r, int code, const char *reason)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);

	if (evhttp_find_header(h, "Content-Type") == NULL)
		evhttp_add_header(h, "Content-Type",
		    "text/html; charset=utf-8");
	evhttp_add_header(h, "Content-Security-Policy",
	    "default-src 'none'; style-src 'self'; img-src 'self'; "
	    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "Cache-Control", "no-store");
	if ((code == 200 || code == 303) && r->w->rl_redis.count > 0)
		log_info("redis answers again (%u refused calls before)",
		    log_ratelimit_end(&r->w->rl_redis));
	evhttp_send_reply(r->req, code, reason, r->out);
}

/*
 * Answer with an error page: code, and a message made from fmt, escaped
 * as a whole, so its arguments may come from Redis or the request.
 */
void
web_fail(struct web_req *r, int code, const char *reason, const char *fmt,
    ...)
{
	char msg[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	evbuffer_drain(r->out, evbuffer_get_length(r->out));
	html_begin(r, reason);
	html_raw(r->out, "<p class=\"bad\" id=\"error\">");
	html_str(r->out, msg);
	html_raw(r->out, "</p>\n<p><a href=\"/\">Back to the overview</a>"
	    "</p>\n");
	html_end(r);
	web_send(r, code, reason);
}

/*
 * Answer a refused Redis call: 404 for a job that does not exist or an
 * id Redis refuses, 409 for a job whose state forbids the action, 503
 * (with the Redis error, logged at most about once a second) otherwise.
 */
void
web_redis_fail(struct web_req *r, const char *what)
{
	const char *e = redjob_errstr(r->w->client);

	switch (redjob_errcode(r->w->client)) {
	case REDJOB_ERR_NOJOB:
		web_fail(r, 404, "Not Found", "No such job: %s (it may have "
		    "finished: a finished job leaves Redis unless its type "
		    "keeps results).", what);
		return;
	case REDJOB_ERR_INVALID:
		web_fail(r, 404, "Not Found", "%s: %s", what, e);
		return;
	case REDJOB_ERR_STATE:
		web_fail(r, 409, "Conflict", "%s: %s", what, e);
		return;
	default:
		break;
	}
	log_ratelimit(&r->w->rl_redis, LOG_LEVEL_ERR, "%s: %s", what, e);
	web_fail(r, 503, "Service Unavailable", "Redis cannot answer (%s): %s. "
	    "The page will work again once Redis does; reload it.", what, e);
}

/* Answer 303 See Other to a path made from fmt (already encoded). */
void
web_redirect(struct web_req *r, const char *fmt, ...)
{
	char loc[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(loc, sizeof loc, fmt, ap);
	va_end(ap);
	evhttp_add_header(evhttp_request_get_output_headers(r->req),
	    "Location", loc);
	html_raw(r->out, "<!DOCTYPE html><title>See other</title>");
	web_send(r, 303, "See Other");
}

/* The value of cookie name in the request, into buf. Returns 0 or -1. */
static int
web_cookie(struct evhttp_request *req, const char *name, char *buf,
    size_t len)
{
	const char *c, *p, *end;
	size_t nl = strlen(name), vl;

	c = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Cookie");
	for (p = c; p != NULL && *p != '\0'; p = end) {
		while (*p == ' ' || *p == ';')
			p++;
		end = p + strcspn(p, ";");
		if ((size_t)(end - p) > nl && strncmp(p, name, nl) == 0 &&
		    p[nl] == '=') {
			vl = (size_t)(end - p) - nl - 1;
			if (vl >= len)
				return -1;
			memcpy(buf, p + nl + 1, vl);
			buf[vl] = '\0';
			return 0;
		}
	}
	return -1;
}

/* Is the Host header a loopback name (port aside)? */
static int
web_host_ok(struct evhttp_request *req)
{
	static const char *const names[] = { "localhost", "127.0.0.1",
		"[::1]" };
	const char *h;
	size_t i, n;

	h = evhttp_find_header(evhttp_request_get_input_headers(req), "Host");
	if (h == NULL)
		return 1;
	for (i = 0; i < nitems(names); i++) {
		n = strlen(names[i]);
		if (strncasecmp(h, names[i], n) == 0 &&
		    (h[n] == '\0' || h[n] == ':'))
			return 1;
	}
	return 0;
}

/* The login form (401 until the token is given). */
static void
web_login_page(struct web_req *r, int code, const char *reason,
    const char *msg)
{
	html_begin(r, "Log in");
	if (msg != NULL) {
		html_raw(r->out, "<p class=\"bad\" id=\"error\">");
		html_str(r->out, msg);
		html_raw(r->out, "</p>\n");
	}
	html_raw(r->out, "<form method=\"post\" action=\"/login\">"
	    "<label>Token <input type=\"password\" name=\"token\" "
	    "autocomplete=\"current-password\" autofocus></label> "
	    "<button type=\"submit\">Log in</button></form>\n"
	    "<p class=\"note\">The token is the first line of the file given "
	    "to redjob web --token-file.</p>\n");
	html_end(r);
	web_send(r, code, reason);
}

/* POST /login: check the token and set the session cookie. */
static void
web_login(struct web_req *r)
{
	const char *token = web_param(r, "token"), *proto;
	char cookie[256];

	if (token == NULL || !web_equal(token, r->w->token)) {
		log_ratelimit(&r->w->rl_auth, LOG_LEVEL_WARNING,
		    "login refused: wrong token");
		web_login_page(r, 403, "Forbidden", "Wrong token.");
		return;
	}
	/* Behind a proxy that terminates TLS, keep the cookie to HTTPS. */
	proto = evhttp_find_header(evhttp_request_get_input_headers(r->req),
	    "X-Forwarded-Proto");
	snprintf(cookie, sizeof cookie, "%s=%s; Path=/; HttpOnly; "
	    "SameSite=Strict%s", WEB_COOKIE, r->w->session, proto != NULL &&
	    strcasecmp(proto, "https") == 0 ? "; Secure" : "");
	evhttp_add_header(evhttp_request_get_output_headers(r->req),
	    "Set-Cookie", cookie);
	web_redirect(r, "/");
}

/*
 * Is the request authenticated? Returns 2 for a bearer token, 1 for the
 * session cookie or when no token is configured, 0 otherwise.
 */
static int
web_authenticated(struct web_req *r)
{
	const char *a;
	char cookie[128];

	if (r->w->token == NULL)
		return 1;
	a = evhttp_find_header(evhttp_request_get_input_headers(r->req),
	    "Authorization");
	if (a != NULL && strncasecmp(a, "Bearer ", 7) == 0 &&
	    web_equal(a + 7, r->w->token))
		return 2;
	if (web_cookie(r->req, WEB_COOKIE, cookie, sizeof cookie) == 0 &&
	    web_equal(cookie, r->w->session))
		return 1;
	return 0;
}

/* Read a POST's form body into r->form. Returns 0 or -1. */
static int
web_read_form(struct web_req *r, struct evkeyvalq *form)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	size_t len = evbuffer_get_length(in);
	char *body;
	int rc;

	body = xmalloc(len + 1);
	evbuffer_copyout(in, body, len);
	body[len] = '\0';
	TAILQ_INIT(form);
	rc = strlen(body) == len ? evhttp_parse_query_str(body, form) : -1;
	free(body);
	if (rc != 0)
		return -1;
	r->form = form;
	return 0;
}

/*
 * Decode the path. Returns it (caller frees), or NULL if it holds a
 * NUL or is not a path.
 */
static char *
web_path(struct evhttp_request *req)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *p = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	size_t len;
	char *d;

	if (p == NULL || *p != '/')
		return NULL;
	if ((d = evhttp_uridecode(p, 0, &len)) == NULL)
		return NULL;
	if (strlen(d) != len) {
		free(d);
		return NULL;
	}
	return d;
}

/* Answer one request. */
static void
web_handle(struct evhttp_request *req, void *arg)
{
	struct web *w = arg;
	struct web_req r;
	struct evkeyvalq query, form;
	const struct evhttp_uri *uri;
	const char *q;
	char *path = NULL;
	int auth, method;

	memset(&r, 0, sizeof r);
	r.w = w;
	r.req = req;
	r.out = evbuffer_new();
	TAILQ_INIT(&query);
	method = evhttp_request_get_command(req);
	r.post = method == EVHTTP_REQ_POST;
	if (r.out == NULL) {
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	uri = evhttp_request_get_evhttp_uri(req);
	if ((q = uri != NULL ? evhttp_uri_get_query(uri) : NULL) != NULL &&
	    evhttp_parse_query_str(q, &query) != 0) {
		web_fail(&r, 400, "Bad Request", "the query string is not "
		    "valid");
		goto out;
	}
	r.query = &query;
	if ((path = web_path(req)) == NULL) {
		web_fail(&r, 400, "Bad Request", "the path is not valid");
		goto out;
	}
	if (w->check_host && !web_host_ok(req)) {
		log_ratelimit(&w->rl_auth, LOG_LEVEL_WARNING, "refused a "
		    "request for a Host that is not loopback");
		web_fail(&r, 403, "Forbidden", "This dashboard answers only "
		    "for localhost, 127.0.0.1 and [::1]; listen with "
		    "--token-file to serve other names.");
		goto out;
	}
	if (strcmp(path, "/style.css") == 0) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Content-Type", "text/css; charset=utf-8");
		evbuffer_add(r.out, html_css, strlen(html_css));
		web_send(&r, 200, "OK");
		goto out;
	}
	if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD &&
	    method != EVHTTP_REQ_POST) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "GET, HEAD, POST");
		web_fail(&r, 405, "Method Not Allowed", "use GET, or POST for "
		    "an action");
		goto out;
	}
	if (r.post && web_read_form(&r, &form) != 0) {
		web_fail(&r, 400, "Bad Request", "the form is not valid");
		goto out;
	}
	if (strcmp(path, "/login") == 0 && w->token != NULL) {
		if (r.post)
			web_login(&r);
		else
			web_login_page(&r, 200, "OK", NULL);
		goto out;
	}
	if ((auth = web_authenticated(&r)) == 0) {
		web_login_page(&r, 401, "Unauthorized", NULL);
		goto out;
	}
	if (r.post) {
		/* A bearer token is never sent by a browser on its own. */
		if (auth != 2 && (r.form == NULL ||
		    (q = evhttp_find_header(r.form, "csrf")) == NULL ||
		    !web_equal(q, w->csrf))) {
			log_ratelimit(&w->rl_auth, LOG_LEVEL_WARNING,
			    "refused a POST without a valid CSRF token");
			web_fail(&r, 403, "Forbidden", "this form is missing "
			    "its CSRF token or it is out of date (redjob web "
			    "restarted?): reload the page and try again");
			goto out;
		}
		if (strcmp(path, "/action") != 0) {
			web_fail(&r, 405, "Method Not Allowed", "POST is for "
			    "/action only");
			goto out;
		}
		web_action(&r);
		goto out;
	}
	if (strcmp(path, "/") == 0)
		web_overview(&r);
	else if (strncmp(path, "/queue/", 7) == 0)
		web_queue(&r, path + 7);
	else if (strcmp(path, "/queue") == 0)
		web_queue(&r, web_param(&r, "name") != NULL ?
		    web_param(&r, "name") : "");
	else if (strncmp(path, "/job/", 5) == 0)
		web_job(&r, path + 5);
	else if (strcmp(path, "/workers") == 0)
		web_workers(&r);
	else if (strcmp(path, "/schedules") == 0)
		web_schedules(&r);
	else if (strcmp(path, "/dead") == 0)
		web_dead(&r);
	else
		web_fail(&r, 404, "Not Found", "no page %s", path);
out:
	if (r.form != NULL)
		evhttp_clear_headers(r.form);
	evhttp_clear_headers(&query);
	evbuffer_free(r.out);
	free(path);
}

/*
 * Make the unix socket's path free: remove a socket no one listens on,
 * refuse anything else. Returns 0, or -1 after printing why.
 */
static int
web_unix_free(const struct web_addr *a)
{
	struct stat st;
	int fd, rc;

	if (lstat(a->path, &st) != 0)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		cmd_error("--listen unix:%s: the path exists and is not a "
		    "socket", a->path);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return 0;
	rc = connect(fd, (const struct sockaddr *)&a->ss, a->len);
	close(fd);
	if (rc == 0) {
		cmd_error("--listen unix:%s: another process listens there",
		    a->path);
		return -1;
	}
	unlink(a->path);
	return 0;
}

/* Open the listening socket. Returns it, or -1 after printing why. */
static int
web_listen(const struct web_addr *a, const char *spec)
{
	int fd, one = 1;

	if (a->ss.ss_family == AF_UNIX && web_unix_free(a) != 0)
		return -1;
	if ((fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) < 0) {
		cmd_error("--listen %s: %s", spec, strerror(errno));
		return -1;
	}
	if (a->ss.ss_family != AF_UNIX)
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof one);
	if (a->ss.ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
		    sizeof one);
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) != 0 ||
	    listen(fd, 128) != 0) {
		cmd_error("cannot listen on %s: %s", spec, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* The URL the socket answers on, for the log. */
static void
web_url(int fd, const struct web_addr *a, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char host[INET6_ADDRSTRLEN];

	if (a->ss.ss_family == AF_UNIX) {
		snprintf(buf, len, "unix:%s", a->path);
		return;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
		ss = a->ss;
	if (ss.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr,
		    host, sizeof host);
		snprintf(buf, len, "http://[%s]:%u/", host,
		    ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
	} else {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr,
		    host, sizeof host);
		snprintf(buf, len, "http://%s:%u/", host,
		    ntohs(((struct sockaddr_in *)&ss)->sin_port));
	}
}

static void
web_on_signal(evutil_socket_t sig, short what UNUSED, void *arg)
{
	log_info("%s: stopping", strsignal((int)sig));
	event_base_loopexit(arg, NULL);
}

/* Parse the options of web and serve until a signal. */
static int
cmd_web_exec(struct cmd_ctx *ctx, const struct cmd_entry *self, int argc,
    char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "token-file", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *listen_spec = WEB_LISTEN_DEFAULT, *token_file = NULL;
	struct event_base *base = NULL;
	struct evhttp *http = NULL;
	struct event *sigterm = NULL, *sigint = NULL;
	struct web_addr addr;
	struct web w;
	char err[256], url[256];
	int ch, fd = -1, rc = CMD_ERROR;

	while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			listen_spec = optarg;
			break;
		case 't':
			token_file = optarg;
			break;
		case 'h':
			return cmd_help(self);
		default:
			return cmd_bad_option(self, ch, argv);
		}
	}
	if (optind != argc)
		return cmd_usage(self, "unexpected argument \"%s\"",
		    argv[optind]);
	if (web_parse_addr(listen_spec, &addr, err, sizeof err) != 0)
		return cmd_usage(self, "%s", err);
	if (!addr.loopback && token_file == NULL)
		return cmd_usage(self, "--listen %s is not a loopback address: "
		    "anyone who can reach it could change jobs, so it needs "
		    "--token-file FILE", listen_spec);

	memset(&w, 0, sizeof w);
	w.ns = ctx->ns != NULL ? ctx->ns : REDJOB_NAMESPACE_DEFAULT;
	if (token_file != NULL && (w.token = web_read_token(token_file)) ==
	    NULL)
		return CMD_ERROR;
	w.check_host = w.token == NULL && addr.ss.ss_family != AF_UNIX;
	if (web_random_hex(w.csrf) != 0 || web_random_hex(w.session) != 0) {
		cmd_error("cannot read random bytes: %s", strerror(errno));
		goto out;
	}
	log_init("redjob-web");
	signal(SIGPIPE, SIG_IGN);
	if ((fd = web_listen(&addr, listen_spec)) < 0)
		goto out;

	/* Redis may be down now: every page tries again and says why. */
	if ((w.client = redjob_connect(ctx->url, w.ns)) == NULL) {
		cmd_error("out of memory");
		goto out;
	}
	if (redjob_errcode(w.client) != REDJOB_OK)
		log_warnx("redis: %s (each page tries again)",
		    redjob_errstr(w.client));
	if ((base = event_base_new()) == NULL ||
	    (http = evhttp_new(base)) == NULL) {
		cmd_error("cannot set up the HTTP server");
		goto out;
	}
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_max_body_size(http, WEB_BODY_MAX);
	evhttp_set_max_headers_size(http, WEB_HEADERS_MAX);
	evhttp_set_timeout(http, WEB_TIMEOUT_S);
	evhttp_set_gencb(http, web_handle, &w);
	if (evhttp_accept_socket(http, fd) != 0) {
		cmd_error("cannot serve on %s", listen_spec);
		goto out;
	}
	sigterm = evsignal_new(base, SIGTERM, web_on_signal, base);
	sigint = evsignal_new(base, SIGINT, web_on_signal, base);
	if (sigterm == NULL || sigint == NULL || evsignal_add(sigterm,
	    NULL) != 0 || evsignal_add(sigint, NULL) != 0) {
		cmd_error("cannot handle signals");
		goto out;
	}
	web_url(fd, &addr, url, sizeof url);
	log_info("listening on %s (namespace %s%s)", url, w.ns,
	    w.token != NULL ? ", token required" : "");
	fd = -1;	/* evhttp owns it now */
	event_base_dispatch(base);
	rc = CMD_OK;
out:
	if (sigterm != NULL)
		event_free(sigterm);
	if (sigint != NULL)
		event_free(sigint);
	if (http != NULL)
		evhttp_free(http);
	if (base != NULL)
		event_base_free(base);
	if (fd >= 0)
		close(fd);
	if (addr.ss.ss_family == AF_UNIX && rc == CMD_OK)
		unlink(addr.path);
	redjob_free(w.client);
	web_rates_free(&w);
	if (w.token != NULL) {
		explicit_bzero(w.token, strlen(w.token));
		free(w.token);
	}
	explicit_bzero(w.session, sizeof w.session);
	return rc;
}
