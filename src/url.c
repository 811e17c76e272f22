/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Parse Redis URLs. Pure: no allocation, errors into a caller's buffer,
 * so libredjob can use it inside other programs.
 */
#include "autoconf.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "url.h"

/*
 * Write "invalid URL "S": why" (or without why) into err, with the
 * password of S, if it has one, shown as "***": the message goes to
 * logs, the journal and terminals. Where the password is is decided as
 * url_parse() decides it: before the first '@', after the first ':' of
 * what precedes it (or all of it, as redis-cli allows), except in a
 * unix:// URL whose path follows "//" at once.
 */
static void
url_error(char *err, size_t errlen, const char *s, const char *why)
{
	const char *start, *at, *colon, *q, *v, *e;
	char m[1024], rest[1024];
	size_t n;

	at = NULL;
	if (strncmp(s, "redis://", 8) == 0)
		start = s + 8;
	else if (strncmp(s, "redis+sentinel://", 17) == 0)
		start = s + 17;
	else if (strncmp(s, "redis+cluster://", 16) == 0)
		start = s + 16;
	else if (strncmp(s, "unix://", 7) == 0 && s[7] != '/')
		start = s + 7;
	else
		start = NULL;
	if (start != NULL && (at = strchr(start, '@')) != NULL) {
		colon = memchr(start, ':', (size_t)(at - start));
		n = (size_t)((colon != NULL ? colon + 1 : start) - s);
		snprintf(m, sizeof m, "%.*s***%s", (int)n, s, at);
	} else
		snprintf(m, sizeof m, "%s", s);
	/* The sentinels' password, in the query, is hidden too. */
	if ((q = strchr(m, '?')) != NULL &&
	    (v = strstr(q, "sentinel_password=")) != NULL) {
		v += 18;
		e = strchr(v, '&');
		snprintf(rest, sizeof rest, "%s", e != NULL ? e : "");
		n = (size_t)(v - m);
		snprintf(m + n, sizeof m - n, "***%s", rest);
	}
	snprintf(err, errlen, "invalid URL \"%s\"%s%s", m,
	    why != NULL ? ": " : "", why != NULL ? why : "");
}

/*
 * Copy n bytes of src into dst (size len), decoding %XX. A decoded NUL
 * is refused: the user and the password are C strings from here on, so
 * it would cut them short.
 */
static int
url_decode(char *dst, size_t len, const char *src, size_t n)
{
	size_t i, o = 0;
	char hex[3];

	for (i = 0; i < n; i++) {
		if (o + 1 >= len)
			return -1;
		if (src[i] == '%') {
			if (i + 2 >= n || !isxdigit((unsigned char)src[i + 1]) ||
			    !isxdigit((unsigned char)src[i + 2]))
				return -1;
			hex[0] = src[i + 1];
			hex[1] = src[i + 2];
			hex[2] = '\0';
			if ((dst[o++] = (char)strtol(hex, NULL, 16)) == '\0')
				return -1;
			i += 2;
		} else
			dst[o++] = src[i];
	}
	dst[o] = '\0';
	return 0;
}

static int
url_db(const char *s, int *db)
{
	char *end;
	long v;

	if (*s == '\0')
		return 0;
	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 0 || v > 1000000)
		return -1;
	*db = (int)v;
	return 0;
}

/* Split "[user]:password@" off the front of *p (up to the first '/' or '@'). */
static int
url_userinfo(const char **p, struct url *u)
{
	const char *at, *colon, *s = *p;
	size_t n;

	if ((at = strchr(s, '@')) == NULL)
		return 0;
	n = (size_t)(at - s);
	if ((colon = memchr(s, ':', n)) == NULL) {
		/* "redis://password@host" is redis-cli's form too. */
		if (url_decode(u->password, sizeof u->password, s, n) != 0)
			return -1;
	} else {
		if (url_decode(u->user, sizeof u->user, s,
		    (size_t)(colon - s)) != 0 ||
		    url_decode(u->password, sizeof u->password, colon + 1,
		    (size_t)(at - colon - 1)) != 0)
			return -1;
	}
	*p = at + 1;
	return 0;
}

/*
 * Is the n bytes at h a host name or an IPv4 address (letters, digits,
 * '-', '_' and '.'), or with v6 set the inside of an IPv6 literal (hex
 * digits, ':' and '.', and a zone after '%')? Anything else could only
 * fail later, in the resolver, with a less clear message.
 */
static int
url_host_ok(const char *h, size_t n, int v6)
{
	size_t i;
	int zone = 0;

	for (i = 0; i < n; i++) {
		if (v6 && !zone && h[i] == '%')
			zone = 1;
		else if (v6 && !zone ? (isxdigit((unsigned char)h[i]) ||
		    h[i] == ':' || h[i] == '.') :
		    (isalnum((unsigned char)h[i]) || h[i] == '-' ||
		    h[i] == '_' || h[i] == '.'))
			continue;
		else
			return 0;
	}
	return 1;
}

#define URL_BADUSER "the user or the password is too long, or holds a bad " \
	"%XX escape or %00"

/*
 * Parse "HOST[:PORT]" from p to hend (a name, an IPv4 address, or an IPv6
 * address in brackets; an empty host is 127.0.0.1) into host and *port,
 * which keeps its default without ":PORT". s is the whole URL, for the
 * message. Returns 0 or -1.
 */
static int
url_hostport(const char *s, const char *p, const char *hend, char *host,
    size_t hostlen, int *port, char *err, size_t errlen)
{
	const char *q, *colon;
	char *end;
	long v;

	memset(host, 0, hostlen);
	if (*p == '[') {
		/* An IPv6 literal. */
		if ((q = memchr(p, ']', (size_t)(hend - p))) == NULL)
			goto bad;
		if ((size_t)(q - p - 1) >= hostlen)
			goto bad;
		if (!url_host_ok(p + 1, (size_t)(q - p - 1), 1))
			goto badhost;
		memcpy(host, p + 1, (size_t)(q - p - 1));
		colon = q[1] == ':' ? q + 1 : NULL;
		if (q + 1 != hend && colon == NULL)
			goto bad;
	} else {
		colon = memchr(p, ':', (size_t)(hend - p));
		q = colon != NULL ? colon : hend;
		if ((size_t)(q - p) >= hostlen)
			goto bad;
		if (!url_host_ok(p, (size_t)(q - p), 0))
			goto badhost;
		memcpy(host, p, (size_t)(q - p));
	}
	if (host[0] == '\0')
		snprintf(host, hostlen, "127.0.0.1");
	if (colon != NULL) {
		/* Digits only: strtol() would take "+80" and " 80" too. */
		errno = 0;
		v = strtol(colon + 1, &end, 10);
		if (!isdigit((unsigned char)colon[1]) || errno != 0 ||
		    end != hend || v < 1 || v > 65535) {
			url_error(err, errlen, s, "bad port");
			return -1;
		}
		*port = (int)v;
	}
	return 0;
badhost:
	url_error(err, errlen, s, "bad host (a name, an IPv4 address or an "
	    "IPv6 address in brackets)");
	return -1;
bad:
	url_error(err, errlen, s, NULL);
	return -1;
}

/*
 * The comma-separated HOST[:PORT] list from p to end into u->nodes, each
 * port defport unless given; what names them in messages.
 */
static int
url_nodes(const char *s, const char *p, const char *end, struct url *u,
    int defport, const char *what, char *err, size_t errlen)
{
	const char *comma, *next, *e;
	char why[64];

	for (; p < end; p = next) {
		comma = memchr(p, ',', (size_t)(end - p));
		e = comma != NULL ? comma : end;
		next = comma != NULL ? comma + 1 : end;
		if (u->nnodes == URL_NODES_MAX) {
			snprintf(why, sizeof why, "more than %d %ss",
			    URL_NODES_MAX, what);
			url_error(err, errlen, s, why);
			return -1;
		}
		if (p == e) {
			snprintf(why, sizeof why, "an empty %s address", what);
			url_error(err, errlen, s, why);
			return -1;
		}
		u->nodes[u->nnodes].port = defport;
		if (url_hostport(s, p, e, u->nodes[u->nnodes].host,
		    sizeof u->nodes[u->nnodes].host,
		    &u->nodes[u->nnodes].port, err, errlen) != 0)
			return -1;
		u->nnodes++;
	}
	return 0;
}

/*
 * redis+cluster://[[USER]:PASSWORD@]HOST[:PORT][,HOST[:PORT]...][/]: some
 * nodes of a Redis Cluster to learn its slot map from (port 6379 by
 * default). A cluster has database 0 only.
 */
static int
url_parse_cluster(const char *s, struct url *u, char *err, size_t errlen)
{
	const char *p, *end;

	p = s + 16;
	if (url_userinfo(&p, u) != 0) {
		url_error(err, errlen, s, URL_BADUSER);
		return -1;
	}
	end = p + strlen(p);
	if (end > p && end[-1] == '/')
		end--;
	if (memchr(p, '/', (size_t)(end - p)) != NULL ||
	    memchr(p, '?', (size_t)(end - p)) != NULL) {
		url_error(err, errlen, s, "a cluster URL has no database, "
		    "path or query (redis+cluster://HOST:PORT[,HOST:PORT...])");
		return -1;
	}
	if (p == end) {
		url_error(err, errlen, s, "no node given "
		    "(redis+cluster://HOST:PORT[,HOST:PORT...])");
		return -1;
	}
	if (url_nodes(s, p, end, u, 6379, "node", err, errlen) != 0)
		return -1;
	u->cluster = 1;
	u->port = 0;
	return 0;
}

/*
 * redis+sentinel://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT...]/MASTER[/DB]
 * [?sentinel_user=U&sentinel_password=P]: the user and password before
 * "@" are the data nodes', those of the query the sentinels' (Redis lets
 * them differ). A sentinel's port defaults to 26379.
 */
static int
url_parse_sentinel(const char *s, struct url *u, char *err, size_t errlen)
{
	const char *p, *q, *slash, *end, *v, *amp;
	char *field;
	size_t len, n;

	p = s + 17;
	if (url_userinfo(&p, u) != 0) {
		url_error(err, errlen, s, URL_BADUSER);
		return -1;
	}
	q = strchr(p, '?');
	end = q != NULL ? q : p + strlen(p);
	if ((slash = memchr(p, '/', (size_t)(end - p))) == NULL ||
	    slash + 1 == end || slash[1] == '/') {
		url_error(err, errlen, s, "the master's name is missing "
		    "(redis+sentinel://HOST:PORT[,HOST:PORT...]/MASTER)");
		return -1;
	}
	if (p == slash) {
		url_error(err, errlen, s, "no sentinel given "
		    "(redis+sentinel://HOST:PORT[,HOST:PORT...]/MASTER)");
		return -1;
	}
	if (url_nodes(s, p, slash, u, 26379, "sentinel", err, errlen) != 0)
		return -1;
	p = slash + 1;
	slash = memchr(p, '/', (size_t)(end - p));
	len = (size_t)((slash != NULL ? slash : end) - p);
	if (len >= sizeof u->master || !url_host_ok(p, len, 0)) {
		url_error(err, errlen, s, "bad master name (1-127 of A-Z a-z "
		    "0-9 - _ .)");
		return -1;
	}
	memcpy(u->master, p, len);
	if (slash != NULL) {
		char db[16];

		n = (size_t)(end - slash - 1);
		if (n >= sizeof db) {
			url_error(err, errlen, s, "the database must be a "
			    "number");
			return -1;
		}
		memcpy(db, slash + 1, n);
		db[n] = '\0';
		if (url_db(db, &u->db) != 0) {
			url_error(err, errlen, s, "the database must be a "
			    "number");
			return -1;
		}
	}
	for (p = q != NULL ? q + 1 : end; *p != '\0'; p = amp != NULL ?
	    amp + 1 : p + strlen(p)) {
		amp = strchr(p, '&');
		len = amp != NULL ? (size_t)(amp - p) : strlen(p);
		if (strncmp(p, "sentinel_user=", 14) == 0) {
			v = p + 14;
			field = u->sentinel_user;
			n = sizeof u->sentinel_user;
		} else if (strncmp(p, "sentinel_password=", 18) == 0) {
			v = p + 18;
			field = u->sentinel_password;
			n = sizeof u->sentinel_password;
		} else {
			url_error(err, errlen, s, "the only queries are "
			    "sentinel_user=USER and sentinel_password=PASSWORD");
			return -1;
		}
		if (url_decode(field, n, v, len - (size_t)(v - p)) != 0) {
			url_error(err, errlen, s, URL_BADUSER);
			return -1;
		}
	}
	u->sentinel = 1;
	u->port = 0;
	return 0;
}

/*
 * Parse a Redis URL into *u. Returns 0, or -1 with a message in err,
 * where the URL's password, if any, is shown as "***".
 */
int
url_parse(const char *s, struct url *u, char *err, size_t errlen)
{
	const char *p, *q, *slash, *hend;

	memset(u, 0, sizeof *u);
	u->port = 6379;
	if (strncmp(s, "rediss://", 9) == 0) {
		/* hiredis 0.14 as Debian builds it has no TLS. */
		snprintf(err, errlen, "invalid URL: TLS (rediss://) is not "
		    "supported by this build; reach Redis through a local "
		    "TLS tunnel (stunnel, spiped) or a unix socket, and give "
		    "its redis:// or unix:// URL");
		return -1;
	}
	if (strncmp(s, "unix://", 7) == 0) {
		p = s + 7;
		if (*p != '/' && url_userinfo(&p, u) != 0)
			goto baduser;
		if (*p != '/') {
			url_error(err, errlen, s, "the socket path must be "
			    "absolute (unix:///path/to/socket)");
			return -1;
		}
		q = strchr(p, '?');
		if ((q != NULL ? (size_t)(q - p) : strlen(p)) >= sizeof u->path) {
			url_error(err, errlen, s, "socket path too long");
			return -1;
		}
		memcpy(u->path, p, q != NULL ? (size_t)(q - p) : strlen(p));
		if (q != NULL) {
			if (strncmp(q, "?db=", 4) != 0 || url_db(q + 4, &u->db)) {
				url_error(err, errlen, s, "the only query is "
				    "?db=N");
				return -1;
			}
		}
		return 0;
	}
	if (strncmp(s, "redis://", 8) != 0 &&
	    strncmp(s, "redis+sentinel://", 17) != 0 &&
	    strncmp(s, "redis+cluster://", 16) != 0) {
		url_error(err, errlen, s, "expected "
		    "redis://[:PASSWORD@]HOST[:PORT][/DB], unix:///PATH, "
		    "redis+sentinel://HOST:PORT[,HOST:PORT...]/MASTER[/DB] or "
		    "redis+cluster://HOST:PORT[,HOST:PORT...]");
		return -1;
	}
	if (strncmp(s, "redis+sentinel://", 17) == 0)
		return url_parse_sentinel(s, u, err, errlen);
	if (strncmp(s, "redis+cluster://", 16) == 0)
		return url_parse_cluster(s, u, err, errlen);
	p = s + 8;
	if (url_userinfo(&p, u) != 0)
		goto baduser;
	slash = strchr(p, '/');
	hend = slash != NULL ? slash : p + strlen(p);
	if (url_hostport(s, p, hend, u->host, sizeof u->host, &u->port, err,
	    errlen) != 0)
		return -1;
	if (slash != NULL && url_db(slash + 1, &u->db) != 0) {
		url_error(err, errlen, s, "the database must be a number");
		return -1;
	}
	return 0;
baduser:
	url_error(err, errlen, s, URL_BADUSER);
	return -1;
}
