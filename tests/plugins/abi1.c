/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * abi1.so: a test plugin as built against plugin ABI 1, before results
 * (redjob-plugin.h): the loader must still take it, and it must run.
 */
#include "redjob-plugin.h"

REDJOB_PLUGIN_API redjob_plugin_fn noop;

/* What REDJOB_PLUGIN_DECLARE() of an ABI 1 header defined. */
REDJOB_PLUGIN_VISIBLE const unsigned redjob_plugin_abi = 1;

/* Succeed, reading only the fields ABI 1 had. */
int
noop(const struct redjob_plugin_job *job, char *errbuf, size_t errlen)
{
	(void)errbuf;
	(void)errlen;
	return job->payload_len == 0 ? REDJOB_PLUGIN_OK : 3;
}
