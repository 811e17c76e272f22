/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * What ps(1) shows for each process of redjobd ("redjobd: worker 1
 * [mail,default]"), as nginx and PostgreSQL do: Linux shows the memory
 * of the process's argument strings, so the title is written over them,
 * and over the environment strings that follow them in the same block,
 * once the environment has been copied elsewhere.
 */
#include "autoconf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proctitle.h"
#include "xmalloc.h"

extern char **environ;

static char	*pt_start;	/* argv[0] */
static size_t	 pt_len;	/* bytes we may write, NUL included */
static char	**pt_env;	/* our copies of the environment's strings,
				   kept here too: unsetenv() drops them from
				   environ but they are ours to keep */

/*
 * Take over the argument and environment strings (call once, from main,
 * before anything keeps a pointer into them). argv itself stays valid:
 * only its strings may be overwritten later, so the caller must be done
 * with them (options parsed and copied) before proctitle_set().
 */
void
proctitle_init(int argc, char **argv)
{
	char **env, *end;
	size_t n, i;

	if (argc < 1 || argv[0] == NULL)
		return;
	end = argv[0] + strlen(argv[0]) + 1;
	for (i = 1; i < (size_t)argc && argv[i] == end; i++)
		end = argv[i] + strlen(argv[i]) + 1;
	for (n = 0; environ[n] != NULL; n++)
		;
	env = xcalloc(n + 1, sizeof *env);
	pt_env = xcalloc(n + 1, sizeof *pt_env);
	for (i = 0; i < n; i++) {
		if (environ[i] == end)
			end = environ[i] + strlen(environ[i]) + 1;
		env[i] = pt_env[i] = xstrdup(environ[i]);
	}
	environ = env;
	/* The arguments keep their strings: copies for later readers. */
	for (i = 1; i < (size_t)argc; i++)
		argv[i] = xstrdup(argv[i]);
	pt_start = argv[0];
	pt_len = (size_t)(end - argv[0]);
	argv[0] = xstrdup(argv[0]);
}

/* Set the title; longer ones are cut to the room there is. */
void
proctitle_set(const char *fmt, ...)
{
	va_list ap;
	int n;

	if (pt_start == NULL || pt_len < 2)
		return;
	va_start(ap, fmt);
	n = vsnprintf(pt_start, pt_len, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n < pt_len)
		memset(pt_start + n, '\0', pt_len - (size_t)n);
}
