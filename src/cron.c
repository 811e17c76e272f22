/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The times of a schedule (redjob.yml(5), "schedule"): a cron line, with
 * 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds
 * first), in a zone of the system's tz database; or a period, whose ticks
 * are the multiples of it since the Unix epoch, so that every instance
 * computes the same ticks without talking to the others.
 *
 * The next tick after an instant is found by walking wall-clock times
 * field by field (a month that is not listed is skipped whole, then a
 * day, an hour, a minute), and mapping each wall time that matches to an
 * instant:
 *
 *   - a wall time that occurs once is that instant;
 *   - one that occurs twice (the hour repeated when clocks go back) is
 *     its first occurrence only;
 *   - one that does not occur (the hour skipped when clocks go forward)
 *     is the end of the gap, the instant the clocks jump, so every wall
 *     time of the gap fires there, once.
 *
 * The offset of an instant comes from localtime_r(3) under the zone; see
 * cron_zone_enter() for why that is done with the process's TZ.
 */
#include "autoconf.h"

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "compat.h"
#include "cron.h"

#define CRON_YEARS	60	/* how far cron_next() looks ahead */
#define CRON_STEPS	200000	/* wall times it looks at, at most */
#define CRON_ENUM_MAX	1000000	/* ticks cron_prev() walks, at most */

struct wall {
	int64_t	y;
	int	mon, d, h, mi, s;
};

/* ---------------------------------------------------------------------
 * Parsing.
 */

struct cron_field {
	const char		*name;
	int			 lo, hi;
	const char *const	*names;	/* of lo, lo+1, ... or NULL */
};

static const char *const cron_months[] = {
	"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
	"nov", "dec", NULL,
};
static const char *const cron_wdays[] = {
	"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL,
};

enum { F_SEC, F_MIN, F_HOUR, F_DOM, F_MON, F_DOW, F_N };

static const struct cron_field cron_fields[F_N] = {
	{ "second", 0, 59, NULL },
	{ "minute", 0, 59, NULL },
	{ "hour", 0, 23, NULL },
	{ "day of month", 1, 31, NULL },
	{ "month", 1, 12, cron_months },
	/* 7 is Sunday too, as in Vixie cron. */
	{ "day of week", 0, 7, cron_wdays },
};

static const struct {
	const char	*name;
	const char	*line;
} cron_macros[] = {
	{ "@yearly", "0 0 1 1 *" },
	{ "@annually", "0 0 1 1 *" },
	{ "@monthly", "0 0 1 * *" },
	{ "@weekly", "0 0 * * 0" },
	{ "@daily", "0 0 * * *" },
	{ "@midnight", "0 0 * * *" },
	{ "@hourly", "0 * * * *" },
};

/* The largest day of month m in any year: February has its 29th. */
static const int cron_mdays_max[13] = {
	0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31,
};

/* A number or a name of field f at s; its end in *end. -1: neither. */
static int
cron_value(const struct cron_field *f, const char *s, const char **end)
{
	const char *p = s;
	long v = 0;
	size_t i;

	if (isdigit((unsigned char)*p)) {
		while (isdigit((unsigned char)*p) && v < 1000)
			v = v * 10 + (*p++ - '0');
		if (isdigit((unsigned char)*p))
			return -1;
		*end = p;
		return (int)v;
	}
	if (f->names == NULL)
		return -1;
	for (i = 0; f->names[i] != NULL; i++) {
		if (strncasecmp(s, f->names[i], 3) == 0 &&
		    !isalpha((unsigned char)s[3])) {
			*end = s + 3;
			return f->lo + (int)i;
		}
	}
	return -1;
}

/*
 * Parse one field, from s to e, into the bits of *mask. Items are split
 * by commas: "*", N, N-M, with "/STEP" after "*", N-M or N (N/STEP: from N
 * to the end). On error, *bad is the offset of the bad item from s.
 */
static int
cron_parse_field(const struct cron_field *f, const char *s, const char *e,
    uint64_t *mask, char *err, size_t len, size_t *bad)
{
	const char *p = s, *item, *q;
	int a, b, step, range;
	long v;

	*mask = 0;
	for (;;) {
		item = p;
		range = 0;
		if (p == e || *p == ',') {
			*bad = (size_t)(item - s);
			snprintf(err, len, "%s: an empty item", f->name);
			return -1;
		}
		if (*p == '*') {
			a = f->lo;
			b = f->hi;
			p++;
			range = 1;
		} else {
			if ((a = cron_value(f, p, &q)) < 0) {
				*bad = (size_t)(item - s);
				snprintf(err, len, "%s: \"%.*s\" is not a "
				    "number%s", f->name, (int)(e - item) > 32 ?
				    32 : (int)(e - item), item, f->names ==
				    NULL ? "" : " or a name");
				return -1;
			}
			p = q;
			b = a;
			if (p < e && *p == '-') {
				if ((b = cron_value(f, p + 1, &q)) < 0) {
					*bad = (size_t)(p + 1 - s);
					snprintf(err, len, "%s: a range needs an "
					    "end after \"-\"", f->name);
					return -1;
				}
				p = q;
				range = 1;
			}
			if (a < f->lo || a > f->hi || b < f->lo ||
			    b > f->hi) {
				*bad = (size_t)(item - s);
				snprintf(err, len, "%s: %d is out of range "
				    "%d-%d", f->name, a < f->lo || a > f->hi ?
				    a : b, f->lo, f->hi);
				return -1;
			}
			if (b < a) {
				*bad = (size_t)(item - s);
				snprintf(err, len, "%s: the range %d-%d goes "
				    "backwards", f->name, a, b);
				return -1;
			}
		}
		step = 1;
		if (p < e && *p == '/') {
			v = 0;
			q = ++p;
			while (p < e && isdigit((unsigned char)*p) && v < 1000)
				v = v * 10 + (*p++ - '0');
			if (p == q || v < 1 || v > f->hi - f->lo) {
				*bad = (size_t)(q - s);
				snprintf(err, len, "%s: the step must be a number "
				    "from 1 to %d", f->name, f->hi - f->lo);
				return -1;
			}
			step = (int)v;
			if (!range)
				b = f->hi;
		}
		if (p < e && *p != ',') {
			*bad = (size_t)(p - s);
			snprintf(err, len, "%s: unexpected \"%c\"", f->name, *p);
			return -1;
		}
		for (v = a; v <= b; v += step)
			*mask |= (uint64_t)1 << (v == 7 && f->hi == 7 ? 0 : v);
		if (p == e)
			return 0;
		p++;		/* the comma */
	}
}

/*
 * Would the day-of-month and month fields of c ever meet? Only asked when
 * the day of month alone decides (the day of week is "*"). February 29
 * counts: it comes every four years or so.
 */
static int
cron_can_fire(const struct cron *c)
{
	int m, d;

	if (c->dom_any || !c->dow_any)
		return 1;
	for (m = 1; m <= 12; m++) {
		if (!(c->mon & (1u << m)))
			continue;
		for (d = 1; d <= cron_mdays_max[m]; d++) {
			if (c->dom & (1u << d))
				return 1;
		}
	}
	return 0;
}

/*
 * Parse a cron line into c (whose zone is left as it is). Returns 0, or
 * -1 with a message in err and, in *col, the offset in line of what is
 * wrong.
 */
int
cron_parse(const char *line, struct cron *c, char *err, size_t len,
    size_t *col)
{
	const char *start[F_N + 1], *end[F_N + 1], *p, *base = line;
	uint64_t masks[F_N];
	size_t i, n = 0, first, bad, off = 0;
	int macro = 0;

	*col = 0;
	p = line;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '@') {
		for (i = 0; i < nitems(cron_macros); i++) {
			size_t l = strlen(cron_macros[i].name);

			if (strncasecmp(p, cron_macros[i].name, l) == 0 &&
			    (p[l] == '\0' || p[l] == ' ' || p[l] == '\t'))
				break;
		}
		*col = (size_t)(p - line);
		if (i == nitems(cron_macros)) {
			snprintf(err, len, "unknown \"%.16s\" (@yearly, "
			    "@annually, @monthly, @weekly, @daily, @midnight "
			    "or @hourly%s)", p, strncasecmp(p, "@reboot", 7) ==
			    0 ? "; a schedule has no @reboot" : "");
			return -1;
		}
		p += strlen(cron_macros[i].name);
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '\0') {
			*col = (size_t)(p - line);
			snprintf(err, len, "nothing may follow %s",
			    cron_macros[i].name);
			return -1;
		}
		off = *col;
		base = cron_macros[i].line;
		macro = 1;
		p = base;
	}
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		if (n == F_N) {
			*col = (size_t)(p - line);
			snprintf(err, len, "more than 6 fields (5: minute hour "
			    "day-of-month month day-of-week, or 6 with seconds "
			    "first)");
			return -1;
		}
		start[n] = p;
		while (*p != '\0' && *p != ' ' && *p != '\t')
			p++;
		end[n++] = p;
	}
	if (n < 5) {
		*col = (size_t)(p - line);
		snprintf(err, len, "%zu field%s: a cron line has 5 (minute hour "
		    "day-of-month month day-of-week) or 6 (seconds first)", n,
		    n == 1 ? "" : "s");
		return -1;
	}
	first = n == 6 ? F_SEC : F_MIN;
	masks[F_SEC] = 1;	/* 5 fields: at second 0 */
	for (i = 0; i < n; i++) {
		if (cron_parse_field(&cron_fields[first + i], start[i], end[i],
		    &masks[first + i], err, len, &bad) != 0) {
			*col = macro ? off : (size_t)(start[i] - base) + bad;
			return -1;
		}
	}
	c->sec = masks[F_SEC];
	c->min = masks[F_MIN];
	c->hour = (uint32_t)masks[F_HOUR];
	c->dom = (uint32_t)masks[F_DOM];
	c->mon = (uint32_t)masks[F_MON];
	c->dow = (uint32_t)masks[F_DOW];
	c->dom_any = *start[F_DOM - first] == '*';
	c->dow_any = *start[F_DOW - first] == '*';
	c->every_ms = 0;
	if (!cron_can_fire(c)) {
		*col = macro ? off : (size_t)(start[F_DOM - first] - base);
		snprintf(err, len, "never fires: no month it lists has a day "
		    "%.*s", (int)(end[F_DOM - first] - start[F_DOM - first]),
		    start[F_DOM - first]);
		return -1;
	}
	return 0;
}

/* A period: ticks at every multiple of ms since the epoch. */
int
cron_every(uint64_t ms, struct cron *c, char *err, size_t len)
{
	if (ms == 0 || ms > (uint64_t)1 << 40) {
		snprintf(err, len, "must be from 1ms to 2^40 ms "
		    "(about 34 years)");
		return -1;
	}
	c->every_ms = ms;
	return 0;
}

/* ---------------------------------------------------------------------
 * Zones.
 */

static int
cron_is_utc(const char *tz)
{
	return tz[0] == '\0' || strcmp(tz, "UTC") == 0;
}

static const char *
cron_tzdir(void)
{
	const char *d = getenv("TZDIR");

	return d != NULL && d[0] == '/' ? d : "/usr/share/zoneinfo";
}

/*
 * Check a zone name and put it in c. glibc takes any TZ it cannot find
 * for UTC without a word, so the name must name a TZif file of the tz
 * database's directory (TZDIR, else /usr/share/zoneinfo); UTC is known
 * without one.
 */
int
cron_zone(const char *name, struct cron *c, char *err, size_t len)
{
	char path[PATH_MAX], magic[4];
	struct stat st;
	const char *p;
	int fd;

	if (strcmp(name, "UTC") == 0) {
		snprintf(c->tz, sizeof c->tz, "UTC");
		return 0;
	}
	if (name[0] == '\0' || strlen(name) >= CRON_TZ_MAX) {
		snprintf(err, len, "a time zone name is 1-%d bytes",
		    CRON_TZ_MAX - 1);
		return -1;
	}
	for (p = name; *p != '\0'; p++) {
		if (!isalnum((unsigned char)*p) && strchr("/_+-", *p) == NULL) {
			snprintf(err, len, "\"%.64s\" is not a time zone name "
			    "(A-Z a-z 0-9 / _ + -, such as Europe/Berlin)",
			    name);
			return -1;
		}
	}
	if (name[0] == '/' || strstr(name, "..") != NULL ||
	    strstr(name, "//") != NULL) {
		snprintf(err, len, "\"%.64s\" is not a time zone name (a name "
		    "of the tz database, such as Europe/Berlin)", name);
		return -1;
	}
	snprintf(path, sizeof path, "%s/%s", cron_tzdir(), name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1 ||
	    fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    read(fd, magic, sizeof magic) != (ssize_t)sizeof magic ||
	    memcmp(magic, "TZif", 4) != 0) {
		if (fd != -1)
			close(fd);
		snprintf(err, len, "unknown time zone \"%.64s\" (not a zone "
		    "of the tz database in %s; is tzdata installed?)", name,
		    cron_tzdir());
		return -1;
	}
	close(fd);
	snprintf(c->tz, sizeof c->tz, "%s", name);
	return 0;
}

/*
 * glibc reads the tz database only through the process's TZ variable
 * (tzset(3), then localtime_r(3)), so the scheduler switches TZ to a
 * schedule's zone, asks for offsets, and puts it back, all in this file
 * and in one call of cron_next() or cron_prev(). What makes that safe:
 *
 *   - setenv(3) of a variable that exists replaces its value in place;
 *     adding one may reallocate environ under a thread reading it. So
 *     cron_prepare() makes TZ exist before any plugin thread runs
 *     (":/etc/localtime" is what glibc reads when TZ is unset), and TZ
 *     is never unset here. glibc keeps every value it was given, so a
 *     thread reading an older value reads valid memory.
 *   - exec handlers get an environment the worker builds (handler_exec.c),
 *     not ours, and the daemon's own times are UTC (gmtime_r in log.c).
 *   - a plugin's thread that calls localtime(3) at the very moment the
 *     scheduler computes a tick may get the schedule's zone for that
 *     call. Only worker 0 schedules (scheduler.c), and redjob.yml(5) says
 *     so under "schedule". A reader of TZif files of our own would
 *     avoid this, but then also needs the POSIX TZ rules at the end of
 *     each file (for the years past its table): more code to get wrong
 *     than the window it closes.
 */
static char	*cron_saved_tz;

void
cron_prepare(void)
{
	const char *tz;

	if (cron_saved_tz != NULL)
		return;
	tz = getenv("TZ");
	if (tz == NULL) {
		tz = ":/etc/localtime";
		(void)setenv("TZ", tz, 1);
	}
	if ((cron_saved_tz = strdup(tz)) == NULL)
		abort();
}

static void
cron_zone_enter(const char *tz)
{
	char buf[CRON_TZ_MAX + 2];

	if (cron_is_utc(tz))
		return;
	cron_prepare();
	snprintf(buf, sizeof buf, ":%s", tz);
	(void)setenv("TZ", buf, 1);
	tzset();
}

static void
cron_zone_leave(const char *tz)
{
	if (cron_is_utc(tz))
		return;
	(void)setenv("TZ", cron_saved_tz, 1);
	tzset();
}

/* The UTC offset at instant t (s), in seconds, under the entered zone. */
static int64_t
cron_offset(const char *tz, int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (cron_is_utc(tz) || localtime_r(&tt, &tm) == NULL)
		return 0;
	return (int64_t)tm.tm_gmtoff;
}

/* ---------------------------------------------------------------------
 * Calendar.
 */

static int64_t
cron_floordiv(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static int
cron_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
cron_mdays(int64_t y, int m)
{
	return m == 2 && !cron_leap(y) ? 28 : cron_mdays_max[m];
}

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static int64_t
cron_days(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = cron_floordiv(y, 400);
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int64_t
cron_wall_secs(const struct wall *w)
{
	return cron_days(w->y, w->mon, w->d) * 86400 + w->h * 3600 +
	    w->mi * 60 + w->s;
}

static void
cron_wall_of(int64_t secs, struct wall *w)
{
	int64_t days = cron_floordiv(secs, 86400), rem, era, doe, yoe, doy, mp;

	rem = secs - days * 86400;
	w->h = (int)(rem / 3600);
	w->mi = (int)(rem / 60 % 60);
	w->s = (int)(rem % 60);
	days += 719468;
	era = cron_floordiv(days, 146097);
	doe = days - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	w->d = (int)(doy - (153 * mp + 2) / 5 + 1);
	w->mon = (int)(mp < 10 ? mp + 3 : mp - 9);
	w->y = yoe + era * 400 + (w->mon <= 2);
}

/* The lowest bit set in mask at or above from (<= hi), or -1. */
static int
cron_bit(uint64_t mask, int from, int hi)
{
	for (; from <= hi; from++) {
		if (mask & ((uint64_t)1 << from))
			return from;
	}
	return -1;
}

/*
 * Does day w->d of the month match? As in Vixie cron: when neither day
 * field starts with "*", either may match; otherwise both must.
 */
static int
cron_day_ok(const struct cron *c, const struct wall *w)
{
	int64_t wd;
	int dom, dow;

	/* 1970-01-01 was a Thursday. */
	wd = cron_days(w->y, w->mon, w->d) + 4;
	wd -= cron_floordiv(wd, 7) * 7;
	dom = (c->dom >> w->d) & 1;
	dow = (c->dow >> wd) & 1;
	if (c->dom_any || c->dow_any)
		return dom && dow;
	return dom || dow;
}

/*
 * Move w to the first wall time at or after it that c matches. Returns
 * -1 past maxyear.
 */
static int
cron_match(const struct cron *c, struct wall *w, int64_t maxyear)
{
	int v, steps;

	for (steps = 0; steps < CRON_STEPS; steps++) {
		if (w->y > maxyear)
			return -1;
		if ((v = cron_bit(c->mon, w->mon, 12)) != w->mon) {
			if (v < 0) {
				w->y++;
				v = cron_bit(c->mon, 1, 12);
			}
			w->mon = v;
			w->d = 1;
			w->h = w->mi = w->s = 0;
			continue;
		}
		if (w->d > cron_mdays(w->y, w->mon) || !cron_day_ok(c, w)) {
			if (w->d >= cron_mdays(w->y, w->mon)) {
				w->d = 1;
				if (++w->mon > 12) {
					w->mon = 1;
					w->y++;
				}
			} else
				w->d++;
			w->h = w->mi = w->s = 0;
			continue;
		}
		if ((v = cron_bit(c->hour, w->h, 23)) != w->h) {
			if (v < 0) {
				w->h = 24;	/* to the next day */
				cron_wall_of(cron_wall_secs(w), w);
				w->h = w->mi = w->s = 0;
			} else {
				w->h = v;
				w->mi = w->s = 0;
			}
			continue;
		}
		if ((v = cron_bit(c->min, w->mi, 59)) != w->mi) {
			if (v < 0) {
				w->mi = 60;
				cron_wall_of(cron_wall_secs(w), w);
				w->s = 0;
			} else {
				w->mi = v;
				w->s = 0;
			}
			continue;
		}
		if ((v = cron_bit(c->sec, w->s, 59)) != w->s) {
			if (v < 0) {
				w->s = 60;
				cron_wall_of(cron_wall_secs(w), w);
			} else
				w->s = v;
			continue;
		}
		return 0;
	}
	return -1;
}

/*
 * The instant (s) of wall time ws (seconds, as if UTC) in the entered
 * zone: its first occurrence, or for a wall time in a gap, the end of
 * the gap. The zone's offset a day before and a day after are the two
 * it may have then (zones change offset at most once in a day).
 */
static int64_t
cron_instant(const char *tz, int64_t ws)
{
	int64_t oa, ob, ia, ib, lo, hi, mid;
	int va, vb;

	if (cron_is_utc(tz))
		return ws;
	oa = cron_offset(tz, ws - 86400);
	ob = cron_offset(tz, ws + 86400);
	ia = ws - oa;
	ib = ws - ob;
	va = ia + cron_offset(tz, ia) == ws;
	vb = ib + cron_offset(tz, ib) == ws;
	if (va && vb)
		return ia < ib ? ia : ib;
	if (va)
		return ia;
	if (vb)
		return ib;
	/* A gap: the first instant whose wall time is past ws. */
	lo = ia < ib ? ia : ib;
	hi = ia < ib ? ib : ia;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (mid + cron_offset(tz, mid) > ws)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* cron_next() inside the zone, in seconds: the first tick > after. */
static int
cron_next_in(const struct cron *c, int64_t after, int64_t *next)
{
	struct wall w;
	int64_t ws, t, maxyear;
	int n;

	/*
	 * From the wall time of after, by its own offset: the wall times of
	 * a gap that follows are walked too, and fire at its end.
	 */
	ws = after + cron_offset(c->tz, after) + 1;
	cron_wall_of(ws, &w);
	maxyear = w.y + CRON_YEARS;
	for (n = 0; n < CRON_STEPS; n++) {
		if (cron_match(c, &w, maxyear) != 0)
			return -1;
		ws = cron_wall_secs(&w);
		t = cron_instant(c->tz, ws);
		if (t > after) {
			*next = t;
			return 0;
		}
		/*
		 * The second occurrence of a repeated wall time, or a gap's
		 * end already passed: on to the next second.
		 */
		cron_wall_of(ws + 1, &w);
	}
	return -1;
}

/*
 * The first tick of c strictly after after_ms. Returns 0, or -1 if there
 * is none within CRON_YEARS years.
 */
int
cron_next(const struct cron *c, int64_t after_ms, int64_t *next_ms)
{
	int64_t p, t;
	int rc;

	if (c->every_ms > 0) {
		p = (int64_t)c->every_ms;
		*next_ms = (cron_floordiv(after_ms, p) + 1) * p;
		return 0;
	}
	cron_zone_enter(c->tz);
	rc = cron_next_in(c, cron_floordiv(after_ms, 1000), &t);
	cron_zone_leave(c->tz);
	if (rc == 0)
		*next_ms = t * 1000;
	return rc;
}

/*
 * The newest ticks t of c with floor_ms < t <= at_ms, at most max of
 * them, oldest first, into out; their number in *n. Cron ticks are found
 * forward from a window before at_ms that doubles until it holds max
 * ticks or reaches floor_ms, so the work is about that of the ticks
 * returned, however old floor_ms is. Returns 0, or -1 if it gave up
 * (then *n may still be > 0).
 */
int
cron_prev(const struct cron *c, int64_t at_ms, int64_t floor_ms,
    int64_t *out, size_t max, size_t *n)
{
	int64_t p, t, from, win, at, fl, x;
	size_t cnt, k, walked;
	int rc = 0;

	*n = 0;
	if (max == 0 || at_ms <= floor_ms)
		return 0;
	if (c->every_ms > 0) {
		p = (int64_t)c->every_ms;
		t = cron_floordiv(at_ms, p) * p;
		for (cnt = 0; cnt < max && t - (int64_t)cnt * p > floor_ms;
		    cnt++)
			;
		for (k = 0; k < cnt; k++)
			out[k] = t - (int64_t)(cnt - 1 - k) * p;
		*n = cnt;
		return 0;
	}
	at = cron_floordiv(at_ms, 1000);
	/* Ticks are whole seconds: t > floor_ms is t > floor(floor_ms/1000). */
	fl = cron_floordiv(floor_ms, 1000);
	cron_zone_enter(c->tz);
	for (win = 60;; win *= 2) {
		from = at - win < fl ? fl : at - win;
		cnt = walked = 0;
		t = from;
		while (cron_next_in(c, t, &x) == 0 && x <= at) {
			out[cnt % max] = x;
			cnt++;
			t = x;
			if (++walked > CRON_ENUM_MAX) {
				rc = -1;
				break;
			}
		}
		if (rc != 0 || cnt >= max || from == fl ||
		    win > (int64_t)CRON_YEARS * 366 * 86400)
			break;
	}
	cron_zone_leave(c->tz);
	/* out is a ring; put it oldest first, in ms. */
	if (cnt > max) {
		int64_t *tmp = calloc(max, sizeof *tmp);

		if (tmp == NULL)
			abort();
		for (k = 0; k < max; k++)
			tmp[k] = out[(cnt + k) % max];
		memcpy(out, tmp, max * sizeof *tmp);
		free(tmp);
		cnt = max;
	}
	for (k = 0; k < cnt; k++)
		out[k] *= 1000;
	*n = cnt;
	return rc;
}
