/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * noabi.so: a test plugin built without REDJOB_PLUGIN_DECLARE(). The
 * loader must refuse it as not a redjob plugin.
 */
#include "redjob-plugin.h"

REDJOB_PLUGIN_API redjob_plugin_fn noop;

/* Succeed; never called, since the loader refuses this plugin. */
int
noop(const struct redjob_plugin_job *job, char *errbuf, size_t errlen)
{
	(void)job;
	(void)errbuf;
	(void)errlen;
	return REDJOB_PLUGIN_OK;
}
