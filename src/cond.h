/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cond.h: the log of a worker's refused commands (NOPERM), named by the
 * command, rate-limited, and closed when the command runs again.
 */
#ifndef REDJOB_COND_H
#define REDJOB_COND_H

void	cond_noperm(const char *conn, const char *what);
void	cond_noperm_end(const char *conn, const char *what);

#endif
