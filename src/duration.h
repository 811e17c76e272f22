/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * duration.h: the duration ("250ms", "30s", "5m", "2h", "1d", "1h30m") and
 * rate ("10/s", "100/m", "5/10s") syntax shared by the YAML and the CLI.
 */
#ifndef REDJOB_DURATION_H
#define REDJOB_DURATION_H

#include <stddef.h>
#include <stdint.h>

struct rate {
	uint64_t count;		/* events ... */
	uint64_t period_ms;	/* ... per this many milliseconds */
};

int	 duration_parse(const char *s, uint64_t *ms, char **cause);
int	 rate_parse(const char *s, struct rate *r, char **cause);
char	*duration_format(uint64_t ms, char *buf, size_t len);
int	 size_parse(const char *s, uint64_t *bytes, char **cause);

#endif
