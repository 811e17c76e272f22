/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A worker's refused commands (NOPERM), in its log: at once, then once a
 * second with a count while they go on, and once when the command is
 * allowed again, so that a worker whose user lacks a rule is a named
 * condition, never a silent idle. The supervisor learns of it as of any
 * other condition (rconn_condition, "COND" in channel.h).
 */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include "cond.h"
#include "log.h"

static char			cond_what[64];
static struct log_ratelimit	cond_rl;

/* Redis refused command what on connection conn. */
void
cond_noperm(const char *conn, const char *what)
{
	log_ratelimit(&cond_rl, LOG_LEVEL_ERR, "redis %s: NOPERM on %s (see "
	    "redjob acl)", conn, what);
	snprintf(cond_what, sizeof cond_what, "%s", what);
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
}
