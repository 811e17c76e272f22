/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A worker's refused commands (NOPERM): logged at once, then once a
 * second with a count while they go on, and once when the command is
 * allowed again; and told to the supervisor, so that a worker whose user
 * lacks a rule is a named condition, never a silent idle.
 */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include "channel.h"
#include "cond.h"
#include "log.h"

static int			cond_fd = -1;
static char			cond_what[64];
static struct log_ratelimit	cond_rl;

/* The channel to the supervisor (-1: none, as in a test). */
void
cond_init(int chan_fd)
{
	cond_fd = chan_fd;
	cond_what[0] = '\0';
}

/* Redis refused command what on connection conn. */
void
cond_noperm(const char *conn, const char *what)
{
	log_ratelimit(&cond_rl, LOG_LEVEL_ERR, "redis %s: NOPERM on %s (see "
	    "redjob acl)", conn, what);
	if (strcmp(cond_what, what) == 0)
		return;
	snprintf(cond_what, sizeof cond_what, "%s", what);
	if (cond_fd >= 0)
		channel_send(cond_fd, "COND redis: NOPERM on %s (see redjob "
		    "acl)", what);
}

/* Redis ran command what again (for FUNCTION LOAD: the library is
 * back): the refusal of it is over. */
void
cond_noperm_end(const char *conn, const char *what)
{
	unsigned n;

	if (strcmp(cond_what, what) != 0)
		return;
	n = log_ratelimit_end(&cond_rl);
	log_info("redis %s: NOPERM on %s is over after %u refusal%s", conn,
	    what, n, n == 1 ? "" : "s");
	cond_what[0] = '\0';
	if (cond_fd >= 0)
		channel_send(cond_fd, "COND");
}
