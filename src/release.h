/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * release.h: when a worker dies, the jobs it held go back to due at once
 * (redjob_release) instead of waiting for their leases, done by a short
 * process the supervisor forks so that its own loop never waits on Redis.
 */
#ifndef REDJOB_RELEASE_H
#define REDJOB_RELEASE_H

struct config;

/* How long a releaser keeps trying before it leaves the jobs to leases. */
#define RELEASE_DEADLINE_MS 30000

int	release_run(const struct config *cfg, int index, const char *owner);

#endif
