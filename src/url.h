/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * url.h: Redis connection URLs, "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]"
 * and "unix://[[USER]:PASSWORD@]/PATH[?db=N]". Used by libredjob, so it
 * never allocates with xmalloc and never prints.
 */
#ifndef REDJOB_URL_H
#define REDJOB_URL_H

#include <stddef.h>

#define URL_DEFAULT "redis://127.0.0.1:6379/0"

struct url {
	char	 host[256];	/* empty for unix */
	int	 port;
	char	 path[108];	/* unix socket path, empty for TCP */
	char	 user[128];
	char	 password[512];
	int	 db;
};

int	url_parse(const char *s, struct url *u, char *err, size_t errlen);

#endif
