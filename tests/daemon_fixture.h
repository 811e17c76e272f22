/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon_fixture.h: run the real redjobd against the test's redis-server,
 * with a notify socket the test owns (the systemd protocol, for real).
 */
#ifndef REDJOB_DAEMON_FIXTURE_H
#define REDJOB_DAEMON_FIXTURE_H

#include <sys/types.h>

#include <stdint.h>

struct proc;
struct redjob_client;

struct daemon_fixture {
	char	*dir;		/* temp dir: config, logs, handler output */
	char	*config;	/* dir/redjob.yml */
	char	*log;		/* dir/redjobd.log: its stdout and stderr */
	char	*notify_path;	/* dir/notify.sock */
	int	 notify_fd;
	struct proc *proc;	/* the daemon, once started */
	struct redjob_client *cl;	/* daemon_setup()'s client */
};

extern struct daemon_fixture df;

void	 daemon_fixture_init(void);		/* dir and notify socket */
void	 daemon_fixture_cleanup(void);
/* A checked fixture: a fresh database and connection, the fixture, and
 * a libredjob client for enqueueing (df.cl). */
void	 daemon_setup(void);
void	 daemon_teardown(void);
void	 daemon_write_config(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
void	 daemon_start(const char *const *env);	/* extra NAME=VALUE */
int	 daemon_wait_exit(unsigned timeout_ms);	/* exit status or -1 */
void	 daemon_signal(int sig);

/* Wait for a notify datagram containing needle; returns it (static), or
 * NULL at the deadline or once the daemon has exited without it. */
const char *notify_wait(const char *needle, unsigned timeout_ms);
/* Does the daemon's stderr contain needle? */
int	 daemon_log_has(const char *needle);
/* Poll until it does: 1, or 0 at the deadline. */
int	 daemon_wait_log(const char *needle, unsigned timeout_ms);
/* Lines in dir/NAME (handler output files). */
long	 daemon_count_lines(const char *name);
/* Poll until dir/NAME has at least n lines: 1, or 0 at the deadline. */
int	 daemon_wait_lines(const char *name, long n, unsigned timeout_ms);
/*
 * A handler that writes "$REDJOB_JOB_ID $PPID" to dir/NAME says which
 * worker ran the job: its parent. The pid of the worker that started job
 * id for the nth time (from 1), or 0 if it has not.
 */
pid_t	 daemon_job_worker(const char *name, const char *id, int nth);
/* Poll for it until the deadline; 0 if it did not come. */
pid_t	 daemon_wait_job_worker(const char *name, const char *id, int nth,
	    unsigned timeout_ms);
/* A field of redjob_show for a job of queue default; the test fails if
 * the job or the field is missing. Caller frees. */
char	*daemon_job_field(const char *id, const char *field);
/* Stats of a queue from redjob_stats (field name -> value). */
long long queue_stat(const char *queue, const char *field);
/* Poll until queue_stat(queue, field) >= want, with a deadline. */
int	 wait_stat(const char *queue, const char *field, long long want,
	    unsigned timeout_ms);
/* Pids of the worker processes (children of the daemon). */
int	 daemon_workers(pid_t *pids, int max);
/* Is pid one of them? */
int	 daemon_is_worker(pid_t pid);

#endif
