/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * supervisor.h: redjobd's main process: forks, restarts, reloads and
 * stops the workers, runs the embedded Redis, speaks to systemd.
 */
#ifndef REDJOB_SUPERVISOR_H
#define REDJOB_SUPERVISOR_H

struct config;

/*
 * Run until stopped; takes ownership of cfg. debug keeps debug logging
 * over reloads. Returns the exit status.
 */
int	supervisor_main(const char *path, struct config *cfg, int debug);

#endif
