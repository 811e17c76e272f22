/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The log: a process tag, a level, and stderr. There are no log files;
 * journald and the terminal cover both cases.
 */
#include "autoconf.h"

#include <sys/time.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mtime.h"

int log_level = LOG_LEVEL_INFO;
static char log_tag[64] = "redjob";
static int log_journal;

/* Set the process tag and choose the line prefix. */
void
log_init(const char *tag)
{
	snprintf(log_tag, sizeof log_tag, "%s", tag);
	log_journal = getenv("JOURNAL_STREAM") != NULL;
}

/* Set the level: one of enum log_level. */
void
log_set_level(int level)
{
	log_level = level;
}

/* Parse "error", "warning", "info" or "debug". Returns the level or -1. */
int
log_level_parse(const char *s)
{
	if (strcasecmp(s, "error") == 0)
		return LOG_LEVEL_ERR;
	if (strcasecmp(s, "warning") == 0 || strcasecmp(s, "warn") == 0)
		return LOG_LEVEL_WARNING;
	if (strcasecmp(s, "info") == 0)
		return LOG_LEVEL_INFO;
	if (strcasecmp(s, "debug") == 0)
		return LOG_LEVEL_DEBUG;
	return -1;
}

static void
log_vwrite(int level, const char *fmt, va_list ap, const char *suffix)
{
	char msg[4096], stamp[64];
	struct timeval tv;
	struct tm tm;
	int saved = errno;

	if (level > log_level)
		return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (log_journal) {
		fprintf(stderr, "<%d>%s: %s%s%s\n", level, log_tag, msg,
		    suffix ? ": " : "", suffix ? suffix : "");
	} else {
		gettimeofday(&tv, NULL);
		gmtime_r(&tv.tv_sec, &tm);
		strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03dZ %s: %s%s%s\n", stamp,
		    (int)(tv.tv_usec / 1000), log_tag, msg, suffix ? ": " : "",
		    suffix ? suffix : "");
	}
	fflush(stderr);
	errno = saved;
}

static void log_write(int, const char *, ...) printflike(2, 3);

static void
log_write(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(level, fmt, ap, NULL);
	va_end(ap);
}

#define LOG_BODY(level, suffix)                                        \
	do {                                                           \
		va_list ap;                                            \
		va_start(ap, fmt);                                     \
		log_vwrite((level), fmt, ap, (suffix));                \
		va_end(ap);                                            \
	} while (0)

/* Log an error with strerror(errno) appended. */
void
log_err(const char *fmt, ...)
{
	const char *e = strerror(errno);

	LOG_BODY(LOG_LEVEL_ERR, e);
}

/* Log an error. */
void
log_errx(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_ERR, NULL);
}

/* Log a warning with strerror(errno) appended. */
void
log_warn(const char *fmt, ...)
{
	const char *e = strerror(errno);

	LOG_BODY(LOG_LEVEL_WARNING, e);
}

/* Log a warning. */
void
log_warnx(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_WARNING, NULL);
}

/* Log an informational event. */
void
log_info(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_INFO, NULL);
}

/* Log a debug event; use the log_debug() macro. */
void
log_debug_(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_DEBUG, NULL);
}

/* Log with strerror(errno) and exit 1. */
void
fatal(const char *fmt, ...)
{
	const char *e = strerror(errno);

	LOG_BODY(LOG_LEVEL_ERR, e);
	exit(1);
}

/* Log and exit 1. */
void
fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_ERR, NULL);
	exit(1);
}

/*
 * Count one occurrence of a repeating condition and log it if it is the
 * first of its streak or the interval has passed since the last line;
 * such a line ends with the number of occurrences not logged since the
 * previous one.
 */
void
log_ratelimit(struct log_ratelimit *rl, int level, const char *fmt, ...)
{
	uint64_t now = mtime_now(), every;
	char msg[3800];
	va_list ap;

	every = rl->interval_ms != 0 ? rl->interval_ms : LOG_RATELIMIT_MS;
	rl->count++;
	if (rl->count > 1 && now - rl->last < every) {
		rl->suppressed++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (rl->suppressed > 0)
		log_write(level, "%s (%u more since the last report, %u in "
		    "all)", msg, rl->suppressed, rl->count);
	else
		log_write(level, "%s", msg);
	rl->suppressed = 0;
	rl->last = now;
}

/*
 * End a streak. Returns how many times the condition occurred in it (0:
 * there was none), so the caller can say "working again after N".
 */
/*
 * For a condition that may not come again to report its streak: once an
 * interval has passed since the last line, say how many occurrences were
 * left out (what names them), or, if none were, end the streak quietly,
 * so the next occurrence is logged at once. Call it about once an
 * interval.
 */
void
log_ratelimit_flush(struct log_ratelimit *rl, int level, const char *what)
{
	uint64_t now = mtime_now(), every;

	every = rl->interval_ms != 0 ? rl->interval_ms : LOG_RATELIMIT_MS;
	if (rl->count == 0 || now - rl->last < every)
		return;
	if (rl->suppressed == 0) {
		(void)log_ratelimit_end(rl);
		return;
	}
	log_write(level, "%s: %u more since the last report, %u in all", what,
	    rl->suppressed, rl->count);
	rl->suppressed = 0;
	rl->last = now;
}

unsigned
log_ratelimit_end(struct log_ratelimit *rl)
{
	unsigned n = rl->count;

	rl->count = 0;
	rl->suppressed = 0;
	return n;
}

/*
 * Lines about single jobs (done, retried, put back, failed): each job
 * gets its line while they come at most LOG_JOB_PER_SEC a second in this
 * process; past that they are counted, and the next line (or
 * log_job_flush(), about once a second) says how many were left out, so
 * a flood of jobs never floods the journal. The totals are in redjob
 * stats and /metrics.
 */
static uint64_t		log_job_window;	/* start of this second, mtime */
static unsigned		log_job_lines;	/* written in it */
static unsigned long long log_job_dropped; /* left out since the report */

static void
log_job_report(uint64_t now)
{
	if (log_job_dropped > 0)
		log_write(LOG_LEVEL_INFO, "%llu more job line%s not logged "
		    "(at most %d a second; redjob stats has the totals)",
		    log_job_dropped, log_job_dropped == 1 ? "" : "s",
		    LOG_JOB_PER_SEC);
	log_job_dropped = 0;
	log_job_window = now;
	log_job_lines = 0;
}

/*
 * Whether a job line at level is written now: counted as written if so,
 * as left out if the second's lines are used up. For a caller whose
 * arguments cost something to make (log_job_would() before them, then
 * log_job_write()): a busy worker leaves out nearly every line.
 */
int
log_job_would(int level)
{
	uint64_t now;

	if (level > log_level)
		return 0;
	now = mtime_now();
	if (now - log_job_window >= 1000)
		log_job_report(now);
	if (log_job_lines >= LOG_JOB_PER_SEC) {
		log_job_dropped++;
		return 0;
	}
	log_job_lines++;
	return 1;
}

/* Write a job line that log_job_would() let through. */
void
log_job_write(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(level, fmt, ap, NULL);
	va_end(ap);
}

void
log_job(int level, const char *fmt, ...)
{
	va_list ap;

	if (!log_job_would(level))
		return;
	va_start(ap, fmt);
	log_vwrite(level, fmt, ap, NULL);
	va_end(ap);
}

/* Say how many job lines were left out, once their second is over. */
void
log_job_flush(void)
{
	uint64_t now = mtime_now();

	if (log_job_dropped > 0 && now - log_job_window >= 1000)
		log_job_report(now);
}
