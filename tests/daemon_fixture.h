/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon_fixture.h: run the real redjobd against the test's redis-server,
 * with a notify socket the test owns (the systemd protocol, for real).
 */
#ifndef REDJOB_DAEMON_FIXTURE_H
#define REDJOB_DAEMON_FIXTURE_H

#include <sys/types.h>

#include <stdint.h>

struct daemon_fixture {
	char	*dir;		/* temp dir: config, logs, handler output */
	char	*config;	/* dir/redjob.yml */
	char	*log;		/* dir/redjobd.log: its stderr */
	char	*notify_path;	/* dir/notify.sock */
	int	 notify_fd;
	pid_t	 pid;
};

extern struct daemon_fixture df;

void	 daemon_fixture_init(void);		/* dir and notify socket */
void	 daemon_fixture_cleanup(void);
void	 daemon_write_config(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
void	 daemon_start(const char *const *env);	/* extra NAME=VALUE */
int	 daemon_wait_exit(unsigned timeout_ms);	/* exit status or -1 */
void	 daemon_signal(int sig);

/* Wait for a notify datagram containing needle; returns it (static). */
const char *notify_wait(const char *needle, unsigned timeout_ms);
/* Does the daemon's stderr contain needle? */
int	 daemon_log_has(const char *needle);
/* Lines in dir/NAME (handler output files). */
long	 daemon_count_lines(const char *name);
/* Stats of a queue from redjob_stats (field name -> value). */
long long queue_stat(const char *queue, const char *field);
/* Poll until queue_stat(queue, field) >= want, with a deadline. */
int	 wait_stat(const char *queue, const char *field, long long want,
	    unsigned timeout_ms);
/* Pids of the worker processes (children of the daemon). */
int	 daemon_workers(pid_t *pids, int max);

#endif
