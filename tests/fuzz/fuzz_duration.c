/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Durations and sizes (src/duration.c), as redjob.yml and the CLI give
 * them: a parsed duration is at most ten years and formats back to text
 * that parses to the same value; a parsed size is at most 1 TiB; a
 * refusal always says why.
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "fuzz.h"

/* Ten years, the longest duration duration_parse() accepts. */
#define FUZZ_DURATION_MAX (10ULL * 366 * 86400 * 1000)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s, *cause = NULL, buf[64];
	uint64_t ms, again, bytes;

	s = fuzz_str(data, size);
	if (duration_parse(s, &ms, &cause) == 0) {
		if (cause != NULL)
			fuzz_fail("duration \"%s\": accepted with a cause", s);
		if (ms > FUZZ_DURATION_MAX)
			fuzz_fail("duration \"%s\": %llu ms is over ten years",
			    s, (unsigned long long)ms);
		duration_format(ms, buf, sizeof buf);
		if (duration_parse(buf, &again, &cause) != 0 || again != ms)
			fuzz_fail("duration \"%s\": %llu ms formats as \"%s\", "
			    "which does not parse back", s,
			    (unsigned long long)ms, buf);
	} else if (cause == NULL || *cause == '\0')
		fuzz_fail("duration \"%s\": refused without a cause", s);
	free(cause);
	cause = NULL;
	if (size_parse(s, &bytes, &cause) == 0) {
		if (bytes > (1ULL << 40))
			fuzz_fail("size \"%s\": %llu bytes is over 1 TiB", s,
			    (unsigned long long)bytes);
	} else if (cause == NULL || *cause == '\0')
		fuzz_fail("size \"%s\": refused without a cause", s);
	free(cause);
	free(s);
	return 0;
}
