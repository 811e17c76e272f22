/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * badabi.so: a test plugin that claims a plugin ABI this redjob does not
 * speak. The loader must refuse it and name both versions.
 */
#include "redjob-plugin.h"

REDJOB_PLUGIN_API redjob_plugin_fn noop;

/* Not the REDJOB_PLUGIN_DECLARE() value on purpose. */
const unsigned redjob_plugin_abi = 999;

/* Succeed; never called, since the loader refuses this plugin. */
int
noop(const struct redjob_plugin_job *job, char *errbuf, size_t errlen)
{
	(void)job;
	(void)errbuf;
	(void)errlen;
	return REDJOB_PLUGIN_OK;
}
