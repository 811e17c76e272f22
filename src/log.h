/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * log.h: one line per event on stderr. Under systemd (JOURNAL_STREAM set)
 * each line starts with the sd-daemon <N> priority; elsewhere with an
 * ISO-8601 timestamp. Every line carries the process tag.
 */
#ifndef REDJOB_LOG_H
#define REDJOB_LOG_H

#include <stdint.h>

#include "compat.h"

enum log_level {
	LOG_LEVEL_ERR = 3,
	LOG_LEVEL_WARNING = 4,
	LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7,
};

extern int log_level;

void	log_init(const char *tag);
void	log_set_level(int level);
int	log_level_parse(const char *s);
void	log_err(const char *fmt, ...) printflike(1, 2);
void	log_errx(const char *fmt, ...) printflike(1, 2);
void	log_warn(const char *fmt, ...) printflike(1, 2);
void	log_warnx(const char *fmt, ...) printflike(1, 2);
void	log_info(const char *fmt, ...) printflike(1, 2);
void	log_debug_(const char *fmt, ...) printflike(1, 2);
__dead void fatal(const char *fmt, ...) printflike(1, 2);
__dead void fatalx(const char *fmt, ...) printflike(1, 2);

/*
 * A condition that can repeat (Redis unreachable, a refused call): its
 * first occurrence is logged, then at most one line per interval saying
 * how many were not, then the caller says once that it is over
 * (OpenSSH's log_ratelimit). Zero-initialised means idle, with the
 * default interval.
 */
#define LOG_RATELIMIT_MS 1000
struct log_ratelimit {
	uint64_t	interval_ms;	/* 0: LOG_RATELIMIT_MS */
	uint64_t	last;		/* monotonic ms of the last line */
	unsigned	count;		/* occurrences in this streak */
	unsigned	suppressed;	/* not logged since the last line */
};

void	log_ratelimit(struct log_ratelimit *rl, int level, const char *fmt,
	    ...) printflike(3, 4);
unsigned log_ratelimit_end(struct log_ratelimit *rl);
void	log_ratelimit_flush(struct log_ratelimit *rl, int level,
	    const char *what);

/* One line per job, up to LOG_JOB_PER_SEC a second (log.c). */
#define LOG_JOB_PER_SEC 100
void	log_job(int level, const char *fmt, ...) printflike(2, 3);
int	log_job_would(int level);
void	log_job_write(int level, const char *fmt, ...) printflike(2, 3);
void	log_job_flush(void);

/* Check the level before evaluating the arguments (redis serverLog). */
#define log_debug(...)                                                 \
	do {                                                           \
		if (log_level >= LOG_LEVEL_DEBUG)                      \
			log_debug_(__VA_ARGS__);                       \
	} while (0)

#endif
