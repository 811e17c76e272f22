/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * notify.h: the systemd notification protocol (sd_notify). Without
 * libsystemd these are no-ops.
 */
#ifndef REDJOB_NOTIFY_H
#define REDJOB_NOTIFY_H

#include <stdint.h>

struct event_base;

void	notify_ready(const char *status);
void	notify_reloading(const char *status);
void	notify_stopping(const char *status);
void	notify_status(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
int	notify_watchdog_start(struct event_base *base);
void	notify_watchdog_stop(void);
void	notify_watchdog_hold(int hold);

#endif
