/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * ranges.h: the ranges of the guard functions' arguments, in one place.
 * The build turns every GUARD_* line below into a Lua constant G_* (see
 * src/lib.am) that src/lua/guards.lua checks its arguments against, and
 * config.c and guard.c check redjob.yml against the same numbers, so a
 * limiter or lock that "redjobd -t" accepts is one the library accepts.
 * Keep each value a plain decimal literal on its #define line: the build
 * reads them with sed. tests/check_ranges.c tries both ends of each.
 *
 * Every value the library computes stays below 2^53, where Lua's doubles
 * are exact; these bounds see to that.
 */
#ifndef REDJOB_RANGES_H
#define REDJOB_RANGES_H

/* Counts, capacities, bursts, costs, concurrency limits: 2^30. */
#define GUARD_COUNT_MAX		1073741824
/* Periods (of windows and rates) and concurrency leases, ms: 2^36 (2.2
 * years). */
#define GUARD_PERIOD_MAX	68719476736
/* A lock's TTL, ms: 2^40. */
#define GUARD_TTL_MAX		1099511627776
/* The test-only "now MS" override, ms: 2^42 (the year 2109). */
#define GUARD_NOW_MAX		4398046511104
/* A funnel's capacity x rate period (ms), and a GCRA's tolerance, the
 * emission interval (us) x (burst + 1): 2^50. */
#define GUARD_SCALED_MAX	1125899906842624
/* A lock's fencing token: 2^53 - 2, so that the next one is still exact. */
#define GUARD_FENCE_MAX		9007199254740990
/* A window's limit: it keeps one zset entry per unit admitted. */
#define GUARD_WINDOW_MAX	100000

#endif
