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

/* Close *fd unless it is closed already (-1), and mark it closed. */
static void
proc_close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

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
		proc_close_fd(&p->pid_fd);
		/* Nobody reads what is left for its stdin. */
		if (p->in_fd >= 0 && p->inoff < p->inlen)
			p->in_lost = 1;
		proc_close_fd(&p->in_fd);
	}
}

static int
proc_ended(const struct proc *p)
{
	return p->reaped && p->out_fd < 0 && p->err_fd < 0;
}

/* Read what fd has; close it at EOF or on an error. */
static void
proc_read(int *fd, int *isopen, char **buf, size_t *len)
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
	proc_close_fd(fd);
	*isopen = 0;
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
	if (n == -1 && errno != EAGAIN && errno != EINTR) {
		p->in_lost = 1;
		proc_close_fd(&p->in_fd);
	} else if (p->inoff == p->inlen && !p->in_keep)
		proc_close_fd(&p->in_fd);
}

/* What a descriptor of one poll is for. */
enum proc_fd {
	PROC_FD_IN,		/* stdin data to write */
	PROC_FD_OUT,		/* captured stdout */
	PROC_FD_ERR,		/* captured stderr */
	PROC_FD_PID,		/* the pidfd: readable at the end */
	PROC_FD_WATCHED		/* the caller's (PROC_UNTIL_FD) */
};

/* The descriptors of one poll and, for each, whose it is and what for. */
struct proc_pollset {
	struct pollfd	*pfd;
	struct proc	**who;
	enum proc_fd	*what;
	size_t		 n;
};

static void
proc_pollset_add(struct proc_pollset *set, int fd, short events,
    struct proc *p, enum proc_fd what)
{
	if (fd < 0)
		return;
	set->pfd[set->n].fd = fd;
	set->pfd[set->n].events = events;
	set->pfd[set->n].revents = 0;
	set->who[set->n] = p;
	set->what[set->n++] = what;
}

/* Move stdin and output of the processes whose descriptors are ready. */
static void
proc_pollset_serve(const struct proc_pollset *set)
{
	struct proc *p;
	size_t i;

	for (i = 0; i < set->n; i++) {
		if (set->pfd[i].revents == 0 || (p = set->who[i]) == NULL)
			continue;
		/* The pidfd needs nothing: proc_reap() looks at the end. */
		if (set->what[i] == PROC_FD_IN && p->in_fd >= 0)
			proc_write(p);
		else if (set->what[i] == PROC_FD_OUT && p->out_fd >= 0)
			proc_read(&p->out_fd, &p->out_open, &p->out,
			    &p->outlen);
		else if (set->what[i] == PROC_FD_ERR && p->err_fd >= 0)
			proc_read(&p->err_fd, &p->err_open, &p->err,
			    &p->errlen);
	}
}

/*
 * Whether the wait is over before the next poll: 1 the condition holds,
 * 0 it never can (PROC_UNTIL_OUTPUT: stdout ended), -1 not yet.
 */
static int
proc_until_met(struct proc **ps, size_t n, enum proc_until until,
    const char *needle)
{
	size_t i;

	switch (until) {
	case PROC_UNTIL_ENDED:
		for (i = 0; i < n; i++) {
			if (!proc_ended(ps[i]))
				return -1;
		}
		return 1;
	case PROC_UNTIL_OUTPUT:
		if (strstr(ps[0]->out, needle) != NULL)
			return 1;
		return ps[0]->out_fd < 0 ? 0 : -1;
	default:
		return -1;
	}
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
	struct proc_pollset set;
	size_t i, max = 4 * n + 1;
	int ms, slice, ret;

	set.pfd = xcalloc(max, sizeof *set.pfd);
	set.who = xcalloc(max, sizeof *set.who);
	set.what = xcalloc(max, sizeof *set.what);
	for (;;) {
		slice = 0;
		for (i = 0; i < n; i++) {
			proc_reap(ps[i]);
			slice |= !ps[i]->reaped && ps[i]->pid_fd < 0;
		}
		if ((ret = proc_until_met(ps, n, until, needle)) != -1)
			break;
		now = mtime_now();
		/* Ended (PROC_UNTIL_FD): one last look at fd, not waiting. */
		if (until == PROC_UNTIL_FD && ps[0]->reaped)
			ms = 0;
		else if (now >= deadline)
			break;
		else
			ms = (int)(deadline - now);
		/* No pidfd to wake us: look at the process now and then. */
		if (slice && ms > PROC_SLICE_MS)
			ms = PROC_SLICE_MS;
		set.n = 0;
		if (until == PROC_UNTIL_FD)
			proc_pollset_add(&set, fd, POLLIN, NULL,
			    PROC_FD_WATCHED);
		for (i = 0; i < n; i++) {
			if (ps[i]->inoff < ps[i]->inlen)
				proc_pollset_add(&set, ps[i]->in_fd, POLLOUT,
				    ps[i], PROC_FD_IN);
			proc_pollset_add(&set, ps[i]->out_fd, POLLIN, ps[i],
			    PROC_FD_OUT);
			proc_pollset_add(&set, ps[i]->err_fd, POLLIN, ps[i],
			    PROC_FD_ERR);
			proc_pollset_add(&set, ps[i]->pid_fd, POLLIN, ps[i],
			    PROC_FD_PID);
		}
		if (poll(set.pfd, (nfds_t)set.n, ms) == -1 && errno != EINTR)
			break;
		if (until == PROC_UNTIL_FD) {
			if (set.pfd[0].revents != 0) {
				ret = 1;
				break;
			}
			if (ps[0]->reaped) {
				ret = 0;
				break;
			}
		}
		proc_pollset_serve(&set);
	}
	free(set.pfd);
	free(set.who);
	free(set.what);
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

int
proc_stop(struct proc *p, int sig, unsigned timeout_ms)
{
	int status = -1;

	if (p == NULL)
		return -1;
	if (p->pgroup)
		proc_signal_group(p, sig);
	else
		proc_signal(p, sig);
	if (proc_wait(p, timeout_ms) == 0)
		status = p->status;
	proc_free(p);
	return status;
}

int
proc_feed(struct proc *p, const void *data, size_t len)
{
	if (p->in_fd < 0 || !p->in_keep)
		return -1;
	p->in = xreallocarray(p->in, p->inlen + len, 1);
	memcpy(p->in + p->inlen, data, len);
	p->inlen += len;
	return 0;
}

void
proc_close_stdin(struct proc *p)
{
	p->in_keep = 0;
	if (p->inoff == p->inlen)
		proc_close_fd(&p->in_fd);
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
	proc_close_fd(&p->in_fd);
	proc_close_fd(&p->out_fd);
	proc_close_fd(&p->err_fd);
	proc_close_fd(&p->pid_fd);
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
	int pin[2], pout[2], perr[2], serrno, i;
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
	proc_close_fd(&pout[1]);
	proc_close_fd(&perr[1]);
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
		proc_close_fd(&p->in_fd);
	return p;

fail:
	free(envp);
	for (i = 0; i < 2; i++) {
		proc_close_fd(&pin[i]);
		proc_close_fd(&pout[i]);
		proc_close_fd(&perr[i]);
	}
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
