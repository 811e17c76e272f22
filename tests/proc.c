/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Child processes for the tests and the benchmark: fork, then exec or
 * call a function; pipes for stdin and the captured outputs; one poll
 * loop that feeds stdin, collects output and notices the end of the
 * process (a pidfd where the kernel has them), bounded by a deadline.
 */
#include "autoconf.h"

#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mtime.h"
#include "proc.h"
#include "xmalloc.h"

/* Without a pidfd, how often a wait looks at the process. */
#define PROC_SLICE_MS 10

extern char **environ;

/* What a wait waits for. */
enum proc_until {
	PROC_UNTIL_TIME,	/* the deadline only */
	PROC_UNTIL_ENDED,	/* every process ended, output at EOF */
	PROC_UNTIL_OUTPUT,	/* needle on the first one's stdout */
	PROC_UNTIL_FD		/* fd readable, or the first one ended */
};

/* The wait status as a shell reports it: exit status or 128 + signal. */
static void
proc_set_status(struct proc *p, int st)
{
	p->reaped = 1;
	if (WIFEXITED(st))
		p->status = WEXITSTATUS(st);
	else if (WIFSIGNALED(st)) {
		p->status = 128 + WTERMSIG(st);
		p->signaled = 1;
	}
}

/*
 * Reap p if it has ended. Someone else may have reaped it (a test that is
 * a subreaper and collects every child): then it has ended with a status
 * nobody can know, and status stays -1.
 */
static void
proc_reap(struct proc *p)
{
	pid_t r;
	int st;

	if (p->reaped)
		return;
	while ((r = waitpid(p->pid, &st, WNOHANG)) == -1 && errno == EINTR)
		;
	if (r == p->pid)
		proc_set_status(p, st);
	else if (r == -1)
		p->reaped = 1;
	if (p->reaped) {
		if (p->pid_fd >= 0)
			close(p->pid_fd);
		p->pid_fd = -1;
		/* Nobody reads what is left for its stdin. */
		proc_close_stdin(p);
	}
}

static int
proc_ended(const struct proc *p)
{
	return p->reaped && p->out_fd < 0 && p->err_fd < 0;
}

/* Read what fd has; close it at EOF or on an error. */
static void
proc_read(int *fd, int *open, char **buf, size_t *len)
{
	char chunk[65536];
	ssize_t n;

	while ((n = read(*fd, chunk, sizeof chunk)) == -1 && errno == EINTR)
		;
	if (n > 0) {
		*buf = xreallocarray(*buf, *len + (size_t)n + 1, 1);
		memcpy(*buf + *len, chunk, (size_t)n);
		*len += (size_t)n;
		(*buf)[*len] = '\0';
		return;
	}
	if (n == -1 && errno == EAGAIN)
		return;
	close(*fd);
	*fd = -1;
	*open = 0;
}

/* Write more of stdin; close it when all is written, or when the
 * program stopped reading (EPIPE), as it may. */
static void
proc_write(struct proc *p)
{
	ssize_t n;

	n = write(p->in_fd, p->in + p->inoff, p->inlen - p->inoff);
	if (n > 0)
		p->inoff += (size_t)n;
	if ((n == -1 && errno != EAGAIN && errno != EINTR) ||
	    (p->inoff == p->inlen && !p->in_keep))
		proc_close_stdin(p);
}

/*
 * The one loop behind every wait. Returns 1 when the condition holds, 0
 * when it never can (PROC_UNTIL_OUTPUT: stdout ended; PROC_UNTIL_FD: the
 * process ended and fd is empty), -1 at the deadline.
 */
static int
proc_loop(struct proc **ps, size_t n, enum proc_until until,
    const char *needle, int fd, unsigned timeout_ms)
{
	uint64_t deadline = mtime_now() + timeout_ms, now;
	struct pollfd *pfd;
	struct {
		struct proc	*p;
		int		 what;	/* 0 stdin, 1 stdout, 2 stderr */
	} *at;
	size_t i, k, max = 4 * n + 1;
	int ms, done, slice, ret;

	pfd = xcalloc(max, sizeof *pfd);
	at = xcalloc(max, sizeof *at);
	for (;;) {
		done = 1;
		slice = 0;
		for (i = 0; i < n; i++) {
			proc_reap(ps[i]);
			if (!proc_ended(ps[i]))
				done = 0;
			if (!ps[i]->reaped && ps[i]->pid_fd < 0)
				slice = 1;
		}
		if (until == PROC_UNTIL_ENDED && done) {
			ret = 1;
			break;
		}
		if (until == PROC_UNTIL_OUTPUT) {
			if (strstr(ps[0]->out, needle) != NULL) {
				ret = 1;
				break;
			}
			if (ps[0]->out_fd < 0) {
				ret = 0;
				break;
			}
		}
		now = mtime_now();
		if (now >= deadline && !(until == PROC_UNTIL_FD &&
		    ps[0]->reaped)) {
			ret = -1;
			break;
		}
		ms = now >= deadline ? 0 : (int)(deadline - now);
		if (slice && ms > PROC_SLICE_MS)
			ms = PROC_SLICE_MS;
		k = 0;
		if (until == PROC_UNTIL_FD) {
			/* Ended: one last look at fd, without waiting. */
			if (ps[0]->reaped)
				ms = 0;
			pfd[k].fd = fd;
			pfd[k].events = POLLIN;
			at[k++].p = NULL;
		}
		for (i = 0; i < n; i++) {
			if (ps[i]->in_fd >= 0 && ps[i]->inoff < ps[i]->inlen) {
				pfd[k].fd = ps[i]->in_fd;
				pfd[k].events = POLLOUT;
				at[k].p = ps[i];
				at[k++].what = 0;
			}
			if (ps[i]->out_fd >= 0) {
				pfd[k].fd = ps[i]->out_fd;
				pfd[k].events = POLLIN;
				at[k].p = ps[i];
				at[k++].what = 1;
			}
			if (ps[i]->err_fd >= 0) {
				pfd[k].fd = ps[i]->err_fd;
				pfd[k].events = POLLIN;
				at[k].p = ps[i];
				at[k++].what = 2;
			}
			if (ps[i]->pid_fd >= 0) {
				pfd[k].fd = ps[i]->pid_fd;
				pfd[k].events = POLLIN;
				at[k].p = ps[i];
				at[k++].what = 3;
			}
		}
		if (poll(pfd, (nfds_t)k, ms) == -1 && errno != EINTR) {
			ret = -1;
			break;
		}
		if (until == PROC_UNTIL_FD) {
			if (pfd[0].revents != 0) {
				ret = 1;
				break;
			}
			if (ps[0]->reaped) {
				ret = 0;
				break;
			}
		}
		for (i = 0; i < k; i++) {
			if (pfd[i].revents == 0 || at[i].p == NULL)
				continue;
			if (at[i].what == 0 && at[i].p->in_fd >= 0)
				proc_write(at[i].p);
			else if (at[i].what == 1 && at[i].p->out_fd >= 0)
				proc_read(&at[i].p->out_fd,
				    &at[i].p->out_open, &at[i].p->out,
				    &at[i].p->outlen);
			else if (at[i].what == 2 && at[i].p->err_fd >= 0)
				proc_read(&at[i].p->err_fd,
				    &at[i].p->err_open, &at[i].p->err,
				    &at[i].p->errlen);
			/* 3, the pidfd: reaped at the top of the loop. */
		}
	}
	free(pfd);
	free(at);
	return ret;
}

int
proc_wait(struct proc *p, unsigned timeout_ms)
{
	return proc_loop(&p, 1, PROC_UNTIL_ENDED, NULL, -1, timeout_ms) == 1 ?
	    0 : -1;
}

int
proc_wait_all(struct proc **ps, size_t n, unsigned timeout_ms)
{
	return proc_loop(ps, n, PROC_UNTIL_ENDED, NULL, -1, timeout_ms) == 1 ?
	    0 : -1;
}

int
proc_wait_output(struct proc *p, const char *needle, unsigned timeout_ms)
{
	return proc_loop(&p, 1, PROC_UNTIL_OUTPUT, needle, -1, timeout_ms) ==
	    1 ? 0 : -1;
}

int
proc_wait_fd(struct proc *p, int fd, unsigned timeout_ms)
{
	return proc_loop(&p, 1, PROC_UNTIL_FD, NULL, fd, timeout_ms);
}

void
proc_pump(struct proc **ps, size_t n, unsigned ms)
{
	(void)proc_loop(ps, n, PROC_UNTIL_TIME, NULL, -1, ms);
}

int
proc_signal(struct proc *p, int sig)
{
	if (p->reaped) {
		errno = ESRCH;
		return -1;
	}
	return kill(p->pid, sig);
}

int
proc_signal_group(struct proc *p, int sig)
{
	if (!p->pgroup) {
		errno = EINVAL;
		return -1;
	}
	return kill(-p->pid, sig);
}

void
proc_close_stdin(struct proc *p)
{
	if (p->in_fd >= 0)
		close(p->in_fd);
	p->in_fd = -1;
}

void
proc_free(struct proc *p)
{
	pid_t r;
	int st;

	if (p == NULL)
		return;
	if (!p->reaped) {
		/* Whatever it does, SIGKILL ends it: the wait is short. */
		if (p->pgroup)
			kill(-p->pid, SIGKILL);
		kill(p->pid, SIGKILL);
		while ((r = waitpid(p->pid, &st, 0)) == -1 && errno == EINTR)
			;
		if (r == p->pid)
			proc_set_status(p, st);
		p->reaped = 1;
	}
	proc_close_stdin(p);
	if (p->out_fd >= 0)
		close(p->out_fd);
	if (p->err_fd >= 0)
		close(p->err_fd);
	if (p->pid_fd >= 0)
		close(p->pid_fd);
	free(p->name);
	free(p->in);
	free(p->out);
	free(p->err);
	free(p);
}

/*
 * The environment of an exec'd child: the caller's, less what env unsets
 * or sets again, plus what it sets. The strings are not copied.
 */
static char **
proc_envp(char *const *env)
{
	size_t n = 0, m = 0, i, j, len;
	const char *eq;
	char **envp;
	int drop;

	for (i = 0; environ[i] != NULL; i++)
		n++;
	for (j = 0; env != NULL && env[j] != NULL; j++)
		n++;
	envp = xcalloc(n + 1, sizeof *envp);
	for (i = 0; environ[i] != NULL; i++) {
		drop = 0;
		for (j = 0; env != NULL && env[j] != NULL && !drop; j++) {
			eq = strchr(env[j], '=');
			len = eq != NULL ? (size_t)(eq - env[j]) :
			    strlen(env[j]);
			drop = strncmp(environ[i], env[j], len) == 0 &&
			    environ[i][len] == '=';
		}
		if (!drop)
			envp[m++] = environ[i];
	}
	for (j = 0; env != NULL && env[j] != NULL; j++) {
		if (strchr(env[j], '=') != NULL)
			envp[m++] = env[j];
	}
	envp[m] = NULL;
	return envp;
}

/* The same for a function: it runs on this copy of the process. */
static void
proc_setenv(char *const *env)
{
	size_t i;

	for (i = 0; env != NULL && env[i] != NULL; i++) {
		if (strchr(env[i], '=') == NULL)
			unsetenv(env[i]);
		else
			putenv(env[i]);
	}
}

/* Open where one output goes, in the caller: failures are its to say. */
static int
proc_open_io(enum proc_io io, const char *path, int pipefd[2],
    char **cause)
{
	int fd;

	pipefd[0] = pipefd[1] = -1;
	switch (io) {
	case PROC_IO_CAPTURE:
		if (pipe2(pipefd, O_CLOEXEC) == -1) {
			xasprintf(cause, "pipe: %s", strerror(errno));
			return -1;
		}
		fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
		return 0;
	case PROC_IO_NULL:
	case PROC_IO_FILE:
		if (io == PROC_IO_NULL)
			path = "/dev/null";
		if (path == NULL) {
			xasprintf(cause, "PROC_IO_FILE without a path");
			return -1;
		}
		fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
		    0644);
		if (fd == -1) {
			xasprintf(cause, "%s: %s", path, strerror(errno));
			return -1;
		}
		pipefd[1] = fd;
		return 0;
	default:
		return 0;
	}
}

/*
 * The child between fork and exec (or the function): its own group, death
 * with the caller, the descriptors it is given and no others, default
 * signal handling. It writes only to its own stderr.
 */
static void __dead
proc_child(const struct proc_spec *spec, pid_t parent, int in, int out,
    int err, char **envp)
{
	char msg[512];
	sigset_t none;
	int sig;

	if (spec->pgroup)
		setpgid(0, 0);
	sig = spec->deathsig == 0 ? SIGKILL : spec->deathsig;
	if (sig > 0) {
		prctl(PR_SET_PDEATHSIG, sig);
		/* The caller may have died before the line above. */
		if (getppid() != parent)
			_exit(127);
	}
	if (in >= 0)
		dup2(in, STDIN_FILENO);
	if (out >= 0)
		dup2(out, STDOUT_FILENO);
	if (spec->err == PROC_IO_STDOUT)
		dup2(STDOUT_FILENO, STDERR_FILENO);
	else if (err >= 0)
		dup2(err, STDERR_FILENO);
	if (spec->argv == NULL) {
		proc_setenv(spec->env);
		_exit(spec->fn(spec->arg));
	}
	/* Only what a shell would pass on: the test's own sockets (hiredis
	 * does not make them close-on-exec) stay with the test. */
	if (spec->keep_fd > 2) {
		if (spec->keep_fd > 3)
			close_range(3, (unsigned)spec->keep_fd - 1, 0);
		close_range((unsigned)spec->keep_fd + 1, ~0U, 0);
	} else
		close_range(3, ~0U, 0);
	/* The test ignores SIGPIPE; a program started by a shell does not. */
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execvpe(spec->argv[0], spec->argv, envp);
	snprintf(msg, sizeof msg, "cannot run %s: %s\n", spec->argv[0],
	    strerror(errno));
	if (write(STDERR_FILENO, msg, strlen(msg)) < 0)
		_exit(127);
	_exit(127);
}

struct proc *
proc_spawn(const struct proc_spec *spec, char **cause)
{
	int pin[2], pout[2], perr[2], serrno;
	pid_t parent = getpid();
	char **envp = NULL;
	struct proc *p;

	pin[0] = pin[1] = pout[0] = pout[1] = perr[0] = perr[1] = -1;
	if ((spec->argv == NULL) == (spec->fn == NULL)) {
		xasprintf(cause, "give either argv or fn");
		return NULL;
	}
	if (pipe2(pin, O_CLOEXEC) == -1) {
		xasprintf(cause, "pipe: %s", strerror(errno));
		return NULL;
	}
	if (proc_open_io(spec->out, spec->out_path, pout, cause) == -1 ||
	    (spec->err != PROC_IO_STDOUT &&
	    proc_open_io(spec->err, spec->err_path, perr, cause) == -1))
		goto fail;
	if (spec->argv != NULL)
		envp = proc_envp(spec->env);

	p = xcalloc(1, sizeof *p);
	p->name = xstrdup(spec->name != NULL ? spec->name :
	    spec->argv != NULL ? spec->argv[0] : "function");
	p->status = -1;
	p->pgroup = spec->pgroup;
	p->out = xcalloc(1, 1);
	p->err = xcalloc(1, 1);
	p->in_keep = spec->in_keep;
	if (spec->inlen > 0) {
		p->in = xmalloc(spec->inlen);
		memcpy(p->in, spec->in, spec->inlen);
		p->inlen = spec->inlen;
	}
	/* Nothing buffered twice: the child has a copy of our stdio. */
	fflush(NULL);
	if ((p->pid = fork()) == -1) {
		serrno = errno;
		free(p->name);
		free(p->in);
		free(p->out);
		free(p->err);
		free(p);
		xasprintf(cause, "fork: %s", strerror(serrno));
		goto fail;
	}
	if (p->pid == 0)
		proc_child(spec, parent, pin[0], pout[1], perr[1], envp);
	free(envp);
	/* Both sides set the group, so that it exists when we signal it. */
	if (spec->pgroup)
		setpgid(p->pid, p->pid);
	close(pin[0]);
	p->in_fd = pin[1];
	fcntl(p->in_fd, F_SETFL, O_NONBLOCK);
	if (pout[1] >= 0)
		close(pout[1]);
	if (perr[1] >= 0)
		close(perr[1]);
	p->out_fd = pout[0];
	p->err_fd = perr[0];
	p->out_open = p->out_fd >= 0;
	p->err_open = p->err_fd >= 0;
#ifdef SYS_pidfd_open
	p->pid_fd = (int)syscall(SYS_pidfd_open, p->pid, 0);
	if (p->pid_fd >= 0)
		fcntl(p->pid_fd, F_SETFD, FD_CLOEXEC);
#else
	p->pid_fd = -1;
#endif
	if (p->inlen == 0 && !p->in_keep)
		proc_close_stdin(p);
	return p;

fail:
	free(envp);
	if (pin[0] >= 0)
		close(pin[0]);
	if (pin[1] >= 0)
		close(pin[1]);
	if (pout[0] >= 0)
		close(pout[0]);
	if (pout[1] >= 0)
		close(pout[1]);
	if (perr[0] >= 0)
		close(perr[0]);
	if (perr[1] >= 0)
		close(perr[1]);
	return NULL;
}

int
proc_wait_gone(pid_t pid, int *wstatus, unsigned timeout_ms)
{
	uint64_t deadline = mtime_now() + timeout_ms;
	int st;

	*wstatus = -1;
	for (;;) {
		if (pid > 0) {
			if (waitpid(pid, &st, WNOHANG) == pid)
				*wstatus = st;
		} else {
			while (waitpid(pid, NULL, WNOHANG) > 0)
				;
		}
		if (kill(pid, 0) == -1 && errno == ESRCH)
			return 0;
		if (mtime_now() >= deadline)
			return -1;
		/* Not ours to get a pidfd event for in general: look again. */
		poll(NULL, 0, PROC_SLICE_MS);
	}
}

int
proc_children(pid_t parent, const char *name, pid_t *pids, int max)
{
	char path[300], buf[1024], *lp, *rp;
	struct dirent *de;
	long ppid;
	DIR *d;
	FILE *f;
	int n = 0, ok;

	if ((d = opendir("/proc")) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL && n < max) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		ok = fgets(buf, sizeof buf, f) != NULL;
		fclose(f);
		/* pid (comm) state ppid ...; comm may hold spaces and ')'. */
		if (!ok || (lp = strchr(buf, '(')) == NULL ||
		    (rp = strrchr(buf, ')')) == NULL)
			continue;
		if ((size_t)(rp - lp - 1) == strlen(name) &&
		    strncmp(lp + 1, name, strlen(name)) == 0 &&
		    sscanf(rp + 2, "%*c %ld", &ppid) == 1 &&
		    (pid_t)ppid == parent)
			pids[n++] = (pid_t)atol(de->d_name);
	}
	closedir(d);
	return n;
}
