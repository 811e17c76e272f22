/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Rates "COUNT/PERIOD" (rate_parse in src/duration.c), as the limiters of
 * redjob.yml and redjob throttle take them: an accepted rate allows 1 to
 * 10^9 events in a period of 1 ms to ten years, and the same rate written
 * back as COUNT/DURATION parses to the same values; a refusal says why.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "fuzz.h"

#define FUZZ_DURATION_MAX (10ULL * 366 * 86400 * 1000)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rate r, again;
	char *s, *cause = NULL, period[64], text[96];

	s = fuzz_str(data, size);
	memset(&r, 0, sizeof r);
	if (rate_parse(s, &r, &cause) == 0) {
		if (cause != NULL)
			fuzz_fail("rate \"%s\": accepted with a cause", s);
		if (r.count < 1 || r.count > 1000000000ULL)
			fuzz_fail("rate \"%s\": count %llu out of range", s,
			    (unsigned long long)r.count);
		if (r.period_ms < 1 || r.period_ms > FUZZ_DURATION_MAX)
			fuzz_fail("rate \"%s\": period %llu ms out of range", s,
			    (unsigned long long)r.period_ms);
		duration_format(r.period_ms, period, sizeof period);
		snprintf(text, sizeof text, "%llu/%s",
		    (unsigned long long)r.count, period);
		memset(&again, 0, sizeof again);
		if (rate_parse(text, &again, &cause) != 0 ||
		    again.count != r.count || again.period_ms != r.period_ms)
			fuzz_fail("rate \"%s\": written back as \"%s\", it does "
			    "not parse to the same rate", s, text);
	} else if (cause == NULL || *cause == '\0')
		fuzz_fail("rate \"%s\": refused without a cause", s);
	free(cause);
	free(s);
	return 0;
}
