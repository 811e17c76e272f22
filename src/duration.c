/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Durations, rates and sizes: parsing and formatting. Pure functions, no
 * allocation except the error message.
 */
#include "autoconf.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "xmalloc.h"

/* Longest duration accepted: ten years, far inside 2^53 ms. */
#define DURATION_MAX_MS (10ULL * 366 * 86400 * 1000)

static const struct {
	const char *name;
	uint64_t ms;
} duration_units[] = {
	{ "ms", 1 },
	{ "s", 1000 },
	{ "m", 60 * 1000 },
	{ "h", 3600 * 1000 },
	{ "d", 86400 * 1000 },
};

/*
 * Parse a duration such as "250ms", "30s", "5m", "2h", "1d", or a sum of
 * them ("1h30m"). "0" alone is accepted. Returns 0, or -1 with *cause set
 * to an allocated message the caller must free.
 */
int
duration_parse(const char *s, uint64_t *ms, char **cause)
{
	const char *p = s, *unit;
	uint64_t total = 0, n, mult;
	size_t i, ulen;
	char *end;

	if (*s == '\0') {
		xasprintf(cause, "empty duration");
		return -1;
	}
	if (strcmp(s, "0") == 0) {
		*ms = 0;
		return 0;
	}
	while (*p != '\0') {
		if (!isdigit((unsigned char)*p))
			goto bad;
		errno = 0;
		n = strtoull(p, &end, 10);
		if (errno != 0 || n > DURATION_MAX_MS)
			goto big;
		unit = end;
		for (ulen = 0; isalpha((unsigned char)unit[ulen]); ulen++)
			;
		if (ulen == 0) {
			xasprintf(cause, "duration \"%s\" needs a unit "
			    "(ms, s, m, h or d)", s);
			return -1;
		}
		mult = 0;
		for (i = 0; i < nitems(duration_units); i++) {
			if (strlen(duration_units[i].name) == ulen &&
			    strncmp(unit, duration_units[i].name, ulen) == 0)
				mult = duration_units[i].ms;
		}
		if (mult == 0) {
			xasprintf(cause, "unknown unit \"%.*s\" in duration "
			    "\"%s\" (use ms, s, m, h or d)", (int)ulen, unit, s);
			return -1;
		}
		if (n > DURATION_MAX_MS / mult ||
		    total + n * mult > DURATION_MAX_MS)
			goto big;
		total += n * mult;
		p = unit + ulen;
	}
	*ms = total;
	return 0;
bad:
	xasprintf(cause, "invalid duration \"%s\" (expected e.g. 250ms, 30s, "
	    "5m, 2h, 1d)", s);
	return -1;
big:
	xasprintf(cause, "duration \"%s\" is too long (at most 10 years)", s);
	return -1;
}

/*
 * Parse a rate "COUNT/PERIOD": the period is a unit alone ("10/s",
 * "100/m") or a duration ("5/10s"). Returns 0, or -1 with *cause set.
 */
int
rate_parse(const char *s, struct rate *r, char **cause)
{
	const char *slash;
	char *end, *c, period[80];
	uint64_t count, ms;

	if ((slash = strchr(s, '/')) == NULL || slash == s ||
	    !isdigit((unsigned char)*s))
		goto bad;
	errno = 0;
	count = strtoull(s, &end, 10);
	if (errno != 0 || end != slash)
		goto bad;
	if (count == 0) {
		xasprintf(cause, "rate \"%s\" must allow at least one event", s);
		return -1;
	}
	if (count > 1000000000ULL) {
		xasprintf(cause, "rate \"%s\" is too large", s);
		return -1;
	}
	if (strlen(slash + 1) >= 64 || slash[1] == '\0')
		goto bad;
	if (isdigit((unsigned char)slash[1]))
		snprintf(period, sizeof period, "%s", slash + 1);
	else
		snprintf(period, sizeof period, "1%s", slash + 1);
	if (duration_parse(period, &ms, &c) != 0) {
		xasprintf(cause, "invalid period in rate \"%s\": %s", s, c);
		free(c);
		return -1;
	}
	if (ms == 0) {
		xasprintf(cause, "rate \"%s\" has a zero period", s);
		return -1;
	}
	r->count = count;
	r->period_ms = ms;
	return 0;
bad:
	xasprintf(cause, "invalid rate \"%s\" (expected e.g. 10/s, 100/m, "
	    "5/10s)", s);
	return -1;
}

/*
 * Format ms as the shortest exact duration ("1h30m", "250ms", "0"). Returns
 * buf.
 */
char *
duration_format(uint64_t ms, char *buf, size_t len)
{
	size_t i, off = 0;
	uint64_t n;

	if (ms == 0) {
		snprintf(buf, len, "0");
		return buf;
	}
	buf[0] = '\0';
	for (i = nitems(duration_units); i-- > 0;) {
		n = ms / duration_units[i].ms;
		if (n == 0)
			continue;
		ms -= n * duration_units[i].ms;
		if (off < len)
			off += snprintf(buf + off, len - off, "%llu%s",
			    (unsigned long long)n, duration_units[i].name);
	}
	return buf;
}

/*
 * Parse a size: bytes, or with a suffix K, KB, KiB, M, MB, MiB (all
 * binary). Returns 0, or -1 with *cause set.
 */
int
size_parse(const char *s, uint64_t *bytes, char **cause)
{
	uint64_t n, mult = 1;
	char *end;

	if (!isdigit((unsigned char)*s))
		goto bad;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno != 0)
		goto bad;
	if (*end == '\0' || strcmp(end, "B") == 0)
		mult = 1;
	else if (strcmp(end, "K") == 0 || strcmp(end, "KB") == 0 ||
	    strcmp(end, "KiB") == 0 || strcmp(end, "k") == 0)
		mult = 1024;
	else if (strcmp(end, "M") == 0 || strcmp(end, "MB") == 0 ||
	    strcmp(end, "MiB") == 0)
		mult = 1024 * 1024;
	else
		goto bad;
	if (n > (1ULL << 40) / mult) {
		xasprintf(cause, "size \"%s\" is too large", s);
		return -1;
	}
	*bytes = n * mult;
	return 0;
bad:
	xasprintf(cause, "invalid size \"%s\" (expected e.g. 512KiB, 1MiB)", s);
	return -1;
}
