/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Redis URLs (src/url.c), from redjob.yml, REDJOB_URL and --url:
 * redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] and
 * unix://[[USER]:PASSWORD@]/PATH[?db=N]. An accepted URL fills struct url
 * with terminated strings, a port of 1 to 65535, a database of 0 to 10^6
 * and either a host (a name, an IPv4 address, or IPv6) or an absolute
 * socket path, and no %00 in its user or password; a refused one leaves
 * a message in the caller's buffer, whatever its size, and never shows
 * the password.
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "url.h"

#define FUZZ_TERMINATED(a) (memchr((a), '\0', sizeof (a)) != NULL)

/*
 * The password as written in s, found as url_parse() finds it, or NULL;
 * its length in *len.
 */
static const char *
fuzz_password(const char *s, size_t *len)
{
	const char *start, *at, *colon;

	if (strncmp(s, "redis://", 8) == 0)
		start = s + 8;
	else if (strncmp(s, "redis+sentinel://", 17) == 0)
		start = s + 17;
	else if (strncmp(s, "redis+cluster://", 16) == 0)
		start = s + 16;
	else if (strncmp(s, "unix://", 7) == 0 && s[7] != '/')
		start = s + 7;
	else
		return NULL;
	if ((at = strchr(start, '@')) == NULL)
		return NULL;
	if ((colon = memchr(start, ':', (size_t)(at - start))) != NULL)
		start = colon + 1;
	*len = (size_t)(at - start);
	return start;
}

/* Does the n bytes at w occur in s more than once? */
static int
fuzz_repeated(const char *s, const char *w, size_t n)
{
	const char *p;
	int seen = 0;

	for (p = s; (p = memmem(p, strlen(p), w, n)) != NULL; p++)
		if (++seen > 1)
			return 1;
	return 0;
}

/* Is the PORT of an accepted redis://...HOST[:PORT] only digits? */
static int
fuzz_port_digits(const char *s)
{
	const char *hp, *colon, *q;
	size_t hl, pwlen;

	if ((hp = fuzz_password(s, &pwlen)) != NULL)
		hp += pwlen + 1;
	else
		hp = s + 8;
	hl = strcspn(hp, "/");
	if (hp[0] == '[' && (q = memchr(hp, ']', hl)) != NULL)
		colon = q[1] == ':' ? q + 1 : NULL;
	else
		colon = memchr(hp, ':', hl);
	if (colon == NULL)
		return 1;
	return strspn(colon + 1, "0123456789") == (size_t)(hp + hl - colon - 1);
}

/*
 * Does the password pw show in the URL that err quotes, after
 * 'invalid URL "' and up to the last '"' (the explanations that follow
 * hold none)? Only there: the words around it are the message's own
 * ("address" holds "ress", and the closing quote may follow a host that
 * ends as the password begins).
 */
static int
fuzz_shown(const char *err, const char *pw, size_t pwlen)
{
	size_t off = strlen("invalid URL \"");
	const char *q;

	if (strlen(err) <= off)
		return 0;
	if ((q = strrchr(err + off, '"')) == NULL)
		q = err + strlen(err);
	return memmem(err + off, (size_t)(q - err - off), pw, pwlen) != NULL;
}

/* A host name or IPv4 address, or the inside of an IPv6 literal. */
static int
fuzz_host_ok(const char *h)
{
	return strspn(h, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_.:%") == strlen(h);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct url u;
	char *s, *err;
	const char *pw;
	size_t errlen, pwlen, i;
	int rc;

	/* The first byte sizes the error buffer: a short one must do too. */
	if (size < 1)
		return 0;
	errlen = (size_t)data[0] % 200 + 1;
	s = fuzz_str(data + 1, size - 1);
	err = malloc(errlen);
	err[0] = '\0';
	rc = url_parse(s, &u, err, errlen);
	if (rc == 0 && (u.sentinel || u.cluster)) {
		/*
		 * Sentinels or cluster seeds: no address of its own until
		 * they are asked; every node a host and a port.
		 */
		if (u.nnodes < 1 || u.nnodes > URL_NODES_MAX)
			fuzz_fail("URL \"%s\": %zu nodes", s, u.nnodes);
		for (i = 0; i < u.nnodes; i++) {
			if (!FUZZ_TERMINATED(u.nodes[i].host) ||
			    !fuzz_host_ok(u.nodes[i].host) ||
			    u.nodes[i].host[0] == '\0' ||
			    u.nodes[i].port < 1 || u.nodes[i].port > 65535)
				fuzz_fail("URL \"%s\": node %zu \"%s\" port %d",
				    s, i, u.nodes[i].host, u.nodes[i].port);
		}
		if (u.host[0] != '\0' || u.path[0] != '\0' || u.port != 0)
			fuzz_fail("URL \"%s\": an address before asking", s);
		if (u.sentinel && (u.master[0] == '\0' ||
		    !FUZZ_TERMINATED(u.master) || !fuzz_host_ok(u.master)))
			fuzz_fail("URL \"%s\": master \"%s\"", s, u.master);
		if (u.cluster && u.db != 0)
			fuzz_fail("URL \"%s\": a cluster's database %d", s,
			    u.db);
		if (u.db < 0 || u.db > 1000000)
			fuzz_fail("URL \"%s\": database %d", s, u.db);
		if (!FUZZ_TERMINATED(u.user) || !FUZZ_TERMINATED(u.password) ||
		    !FUZZ_TERMINATED(u.sentinel_user) ||
		    !FUZZ_TERMINATED(u.sentinel_password))
			fuzz_fail("URL \"%s\": a field is not terminated", s);
	} else if (rc == 0) {
		if (!FUZZ_TERMINATED(u.host) || !FUZZ_TERMINATED(u.path) ||
		    !FUZZ_TERMINATED(u.user) || !FUZZ_TERMINATED(u.password))
			fuzz_fail("URL \"%s\": a field is not terminated", s);
		if (u.port < 1 || u.port > 65535)
			fuzz_fail("URL \"%s\": port %d", s, u.port);
		if (u.db < 0 || u.db > 1000000)
			fuzz_fail("URL \"%s\": database %d", s, u.db);
		if ((u.host[0] == '\0') == (u.path[0] == '\0'))
			fuzz_fail("URL \"%s\": host \"%s\" and path \"%s\"", s,
			    u.host, u.path);
		if (u.path[0] != '\0' && u.path[0] != '/')
			fuzz_fail("URL \"%s\": relative path \"%s\"", s, u.path);
		if (u.path[0] == '\0' && !fuzz_host_ok(u.host))
			fuzz_fail("URL \"%s\": host \"%s\"", s, u.host);
		if (u.path[0] == '\0' && !fuzz_port_digits(s))
			fuzz_fail("URL \"%s\": a port not all digits", s);
		/* A %00 would have cut the user or the password short. */
		if ((pw = fuzz_password(s, &pwlen)) != NULL &&
		    memmem(s, (size_t)(pw + pwlen - s), "%00", 3) != NULL)
			fuzz_fail("URL \"%s\": accepted with %%00", s);
	} else if (memchr(err, '\0', errlen) == NULL ||
	    (errlen > 1 && err[0] == '\0'))
		fuzz_fail("URL \"%s\": refused without a message", s);
	else if ((pw = fuzz_password(s, &pwlen)) != NULL && pwlen >= 4 &&
	    memchr(pw, '*', pwlen) == NULL && !fuzz_repeated(s, pw, pwlen) &&
	    fuzz_shown(err, pw, pwlen))
		fuzz_fail("URL \"%s\": the error shows the password: %s", s,
		    err);
	free(err);
	free(s);
	return 0;
}
