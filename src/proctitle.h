/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * proctitle.h: the process titles ps(1) shows for redjobd's processes.
 */
#ifndef REDJOB_PROCTITLE_H
#define REDJOB_PROCTITLE_H

#include "compat.h"

void	proctitle_init(int argc, char **argv);
void	proctitle_set(const char *fmt, ...) printflike(1, 2);

#endif
