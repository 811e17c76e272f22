/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * log.h: one line per event on stderr. Under systemd (JOURNAL_STREAM set)
 * each line starts with the sd-daemon <N> priority; elsewhere with an
 * ISO-8601 timestamp. Every line carries the process tag.
 */
#ifndef REDJOB_LOG_H
#define REDJOB_LOG_H

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

/* Check the level before evaluating the arguments (redis serverLog). */
#define log_debug(...)                                                 \
	do {                                                           \
		if (log_level >= LOG_LEVEL_DEBUG)                      \
			log_debug_(__VA_ARGS__);                       \
	} while (0)

#endif
