/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * sd_notify for the supervisor: READY, RELOADING (with MONOTONIC_USEC, so
 * a later move to Type=notify-reload is one line), STOPPING, STATUS, and
 * the watchdog ping from the main loop. The only file with #ifdef
 * HAVE_SYSTEMD (redis's redisCommunicateSystemd).
 */
#include "autoconf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <event2/event.h>
#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "notify.h"
#include "log.h"
#include "mtime.h"

static struct event *notify_watchdog_ev;

#ifdef HAVE_SYSTEMD
static void
notify_send(const char *msg)
{
	/* unset_environment = 0: workers are forked later and unset it. */
	if (sd_notify(0, msg) < 0)
		log_warnx("sd_notify failed");
}
#else
static void
notify_send(const char *msg)
{
	(void)msg;
}
#endif

/* Tell systemd we are ready, with a status line. */
void
notify_ready(const char *status)
{
	char buf[512];

	snprintf(buf, sizeof buf, "READY=1\nSTATUS=%s", status);
	notify_send(buf);
}

/* Tell systemd a reload began. */
void
notify_reloading(const char *status)
{
	char buf[512];

	snprintf(buf, sizeof buf, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=%s",
	    (unsigned long long)mtime_now_us(), status);
	notify_send(buf);
}

/* Tell systemd we are stopping. */
void
notify_stopping(const char *status)
{
	char buf[512];

	snprintf(buf, sizeof buf, "STOPPING=1\nSTATUS=%s", status);
	notify_send(buf);
}

/* Update the one-line status shown by systemctl status. */
void
notify_status(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	n = snprintf(buf, sizeof buf, "STATUS=");
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
	va_end(ap);
	notify_send(buf);
}

/*
 * Set while a condition keeps the workers from consuming (a refused
 * command): the watchdog is then not fed, so systemd sees the stall.
 */
static int notify_watchdog_held;

void
notify_watchdog_hold(int hold)
{
	notify_watchdog_held = hold;
}

static void
notify_watchdog_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
	if (!notify_watchdog_held)
		notify_send("WATCHDOG=1");
}

/*
 * If systemd asked for a watchdog (WATCHDOG_USEC for our pid), ping it at
 * half the interval from the loop, so a wedged loop is noticed. The
 * variables are removed from the environment here, so forked workers
 * cannot believe they must ping too. Returns 1 if enabled.
 */
int
notify_watchdog_start(struct event_base *base)
{
#ifdef HAVE_SYSTEMD
	uint64_t usec = 0;
	struct timeval tv;

	if (sd_watchdog_enabled(1, &usec) <= 0 || usec == 0)
		return 0;
	tv = mtime_tv(usec / 2 / 1000);
	notify_watchdog_ev = event_new(base, -1, EV_PERSIST,
	    notify_watchdog_cb, NULL);
	event_add(notify_watchdog_ev, &tv);
	notify_send("WATCHDOG=1");
	log_info("systemd watchdog every %llu ms",
	    (unsigned long long)(usec / 2 / 1000));
	return 1;
#else
	(void)base;
	(void)notify_watchdog_cb;
	return 0;
#endif
}

void
notify_watchdog_stop(void)
{
	if (notify_watchdog_ev != NULL)
		event_free(notify_watchdog_ev);
	notify_watchdog_ev = NULL;
}
