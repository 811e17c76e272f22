/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * redis_fixture.h: a private redis-server on a unix socket in a temporary
 * directory, for one TCase, and a synchronous connection per test.
 */
#ifndef REDJOB_REDIS_FIXTURE_H
#define REDJOB_REDIS_FIXTURE_H

#include <stddef.h>

#include <hiredis/hiredis.h>

struct proc;

/*
 * The tests' copy of the function library (tests/tests.am): the same code
 * as rfunc_lua, but its guards take a trailing "now MS" clock override,
 * which the library that ships refuses.
 */
extern const char rfunc_lua_test[];
extern const size_t rfunc_lua_test_len;

struct redis_fixture {
	char		*dir;
	char		*sock;
	char		*url;		/* unix:///dir/redis.sock */
	struct proc	*proc;		/* the server; NULL while down */
	redisContext	*c;		/* per test; FLUSHALLed */
};

extern struct redis_fixture rf;

void	 redis_start(void);		/* unchecked fixture */
void	 redis_stop(void);
void	 redis_conn_setup(void);	/* checked fixture */
void	 redis_conn_setup_lib(void);	/* the same, then FUNCTION LOAD of
					   the tests' library */
/* FUNCTION LOAD REPLACE of the tests' library, which a client of the
 * same version keeps (the daemon, libredjob). */
void	 redis_load_test_lib(void);
void	 redis_start_conn(void);	/* a server per test (checked) */
void	 redis_stop_conn(void);
void	 redis_conn_teardown(void);

/* Write DIR/redjob.yml: the server's "redis: url:", then text. Its path
 * goes to path (len bytes). */
void	 redis_fixture_config(char *path, size_t len, const char *text);

/* Start or stop the server by hand (restarts, crashes). */
void	 redis_fixture_spawn(const char *const *extra);
void	 redis_fixture_spawn_loading(const char *const *extra);
void	 redis_fixture_kill(int sig);
/*
 * Stop the server (SIGSTOP) as a hung Redis, and resume it. The resume
 * also happens, through a guard process, if the test dies in between:
 * a stopped server would hang every later test of its case.
 */
int	 redis_fixture_pause(void);
void	 redis_fixture_resume(int guard);
/*
 * Stop the server until the process group pgid is gone (at most
 * timeout_ms), then resume it. Returns how long the group outlived the
 * stop in ms, or -1 if it still runs.
 */
long long redis_fixture_paused_until_gone(pid_t pgid, unsigned timeout_ms);

/* Run a command; abort the test unless it succeeds. Caller frees. */
redisReply *must_command(redisContext *c, const char *fmt, ...);
redisContext *must_connect(void);
/* Run a command whose reply must be an integer; return it. */
long long must_int(redisContext *c, const char *fmt, ...);
/* One field of a redjob_show reply (copied), or NULL; frees show. */
char	*show_field(redisReply *show, const char *name, size_t *len);

#endif
