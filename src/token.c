/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Random tokens. getrandom(2) without GRND_NONBLOCK blocks only until the
 * kernel's pool is first initialised at boot; failing after that is a
 * broken system, where the daemon stops rather than hand out a token
 * another holder could share.
 */
#include "autoconf.h"

#include <sys/random.h>

#include <errno.h>
#include <stdio.h>

#include "token.h"
#include "log.h"

/* Fill buf with 128 random bits as 32 hex digits. */
void
token_make(char buf[TOKEN_LEN])
{
	unsigned char r[16];
	size_t i, got = 0;
	ssize_t n;

	while (got < sizeof r) {
		if ((n = getrandom(r + got, sizeof r - got, 0)) < 0) {
			if (errno == EINTR)
				continue;
			fatal("getrandom");
		}
		got += (size_t)n;
	}
	for (i = 0; i < sizeof r; i++)
		snprintf(buf + 2 * i, 3, "%02x", r[i]);
}
