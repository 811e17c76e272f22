/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cron.h: the times of a schedule (redjob.yml(5), "schedule"): a cron
 * line in a named time zone of the system's tz database, or a fixed
 * period aligned to the Unix epoch.
 */
#ifndef REDJOB_CRON_H
#define REDJOB_CRON_H

#include <stddef.h>
#include <stdint.h>

#define CRON_TZ_MAX	128	/* a zone name's length, at most */

struct cron {
	uint64_t	sec;		/* bit n: second n (0-59) */
	uint64_t	min;		/* bit n: minute n (0-59) */
	uint32_t	hour;		/* bit n: hour n (0-23) */
	uint32_t	dom;		/* bit n: day n of the month (1-31) */
	uint32_t	mon;		/* bit n: month n (1-12) */
	uint32_t	dow;		/* bit n: weekday n (0-6, 0 Sunday) */
	int		dom_any;	/* day of month written as '*...' */
	int		dow_any;	/* day of week written as '*...' */
	uint64_t	every_ms;	/* > 0: every this many ms instead */
	char		tz[CRON_TZ_MAX];	/* "" or "UTC": UTC */
};

int	 cron_parse(const char *line, struct cron *c, char *err, size_t len,
	    size_t *col);
int	 cron_every(uint64_t ms, struct cron *c, char *err, size_t len);
int	 cron_zone(const char *name, struct cron *c, char *err, size_t len);
int	 cron_next(const struct cron *c, int64_t after_ms, int64_t *next_ms);
int	 cron_prev(const struct cron *c, int64_t at_ms, int64_t floor_ms,
	    int64_t *out, size_t max, size_t *n);
void	 cron_prepare(void);

#endif
