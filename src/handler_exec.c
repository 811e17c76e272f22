/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Exec handlers: one child process per job, started with clone (as vfork
 * does) and execve (no shell, no PATH search) in its own process group
 * with the environment the caller built. This module owns the child from
 * its start to its reaping: the
 * payload written to its stdin from the caller's buffer, stdout and stderr
 * logged line by line with the job id (at most HANDLER_EXEC_LINES_PER_S a
 * second, the rest counted), the stderr tail, the timeout and handler_exec_stop() (TERM,
 * then KILL, to the whole group), and the SIGCHLD event that reaps it. It
 * does not build argv or envp (the worker does) and does not decide what an
 * outcome means for the job (the worker does).
 *
 * redjob lock starts its COMMAND here too, with the options of a command
 * run from a shell (struct handler_exec_spec): the caller's stdio and the
 * descriptors it inherited, a PATH search, the caller's signal mask and
 * ignored signals, and the terminal's foreground group when the caller
 * holds it, with the job control that goes with it. Each option is off
 * by default, so a daemon's handler is as above. What the child does
 * between fork and execve is handler_child.c's; lending the terminal is
 * handler_tty.c's.
 *
 * Reaping: the SIGCHLD callback waits for each known handler pid with
 * waitid(P_PID, pid, WNOHANG), never waitpid(-1). A worker may have other
 * children (a plugin's system() or popen(), a library's helper) whose
 * owners expect to reap them; waitpid(-1) would steal their status and
 * leave them with ECHILD. The cost is one syscall per running handler per
 * SIGCHLD, and handlers are at most the worker's job slots.
 */
#include "autoconf.h"

#include <sys/mman.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "handler_exec.h"
#include "compat.h"
#include "handler_child.h"
#include "handler_tty.h"
#include "log.h"
#include "mtime.h"
#include "xmalloc.h"

/* One of the handler's output pipes, cut into lines for the log. */
struct handler_exec_stream {
	struct handler_exec *h;
	const char *name; /* "stdout" or "stderr" */
	int fd; /* -1 once closed */
	struct event *ev;
	char line[HANDLER_EXEC_LINE_MAX];
	size_t len;
	int skipping; /* inside a truncated line */
};

struct handler_exec {
	TAILQ_ENTRY(handler_exec) entry;
	struct event_base *base;
	char *log_id;
	pid_t pid; /* also the process group */
	handler_exec_done_cb *cb;
	void *arg;
	uint64_t start_ms;
	uint64_t end_ms;
	uint64_t grace_ms;

	int stdin_fd; /* -1 once closed */
	struct event *stdin_ev;
	const char *stdin_data; /* the caller's: spec.stdin_data */
	size_t stdin_len;
	size_t stdin_off; /* written so far */

	struct handler_exec_stream out;
	struct handler_exec_stream err;

	struct event *kill_ev; /* the timeout, then the grace */
	struct event *drain_ev; /* output deadline after reap */
	struct event *done_ev; /* runs cb from the loop */

	int reaped;
	int wstatus;
	int lost; /* reaped by someone else */
	int signal_sent; /* 0, SIGTERM or SIGKILL */
	enum handler_outcome kill_outcome; /* TIMEOUT or STOPPED */
	int exec_error; /* errno; 0: it ran */
	char *exec_msg;
	char *exec_path; /* the program or directory it could not use */
	int exec_chdir;
	int done_queued;
	int quiet; /* spec.quiet */
	int tty_fd; /* the terminal it holds (foreground); -1 */

	/* The output lines logged in the second from lines_since (stdout
	 * and stderr together), and those left out since the last report. */
	uint64_t lines_since;
	unsigned lines_logged;
	unsigned long long lines_dropped;

	/* spec.result_max: stdout kept as the job's result. */
	size_t result_max;
	char *result;
	size_t result_len;
	size_t result_cap;
	uint64_t result_size; /* all that stdout gave */

	char tail[HANDLER_EXEC_TAIL]; /* a ring */
	size_t tail_pos; /* where the next byte goes */
	size_t tail_len;
};

TAILQ_HEAD(handler_exec_list, handler_exec);

/* The SIGCHLD event and the handlers not yet completed (one per process). */
static struct {
	struct event_base *base;
	struct event *sigchld_ev;
	struct handler_exec_list list;
	size_t count;
} handler_exec_state = {
    .list = TAILQ_HEAD_INITIALIZER(handler_exec_state.list),
};

static void handler_exec_check_done(struct handler_exec *h);

/*
 * Create an event or abort: libevent fails only when out of memory, which
 * the daemon treats as xmalloc does.
 */
static struct event *
handler_exec_event_new(struct event_base *base, int fd, short what,
    event_callback_fn cb, void *arg)
{
	struct event *ev;

	if ((ev = event_new(base, fd, what, cb, arg)) == NULL) {
		log_warnx("out of memory creating an event");
		abort();
	}
	return ev;
}

/* Add bytes to the stderr tail ring. */
static void
handler_exec_tail_add(struct handler_exec *h, const char *p, size_t n)
{
	size_t room;

	if (n >= sizeof h->tail) {
		memcpy(h->tail, p + n - sizeof h->tail, sizeof h->tail);
		h->tail_pos = 0;
		h->tail_len = sizeof h->tail;
		return;
	}
	room = sizeof h->tail - h->tail_pos;
	if (n <= room)
		memcpy(h->tail + h->tail_pos, p, n);
	else {
		memcpy(h->tail + h->tail_pos, p, room);
		memcpy(h->tail, p + room, n - room);
	}
	h->tail_pos = (h->tail_pos + n) % sizeof h->tail;
	h->tail_len += n;
	if (h->tail_len > sizeof h->tail)
		h->tail_len = sizeof h->tail;
}

/*
 * Copy the stderr tail, oldest byte first, into out (HANDLER_EXEC_TAIL + 1
 * bytes) and NUL-terminate it. Returns its length.
 */
static size_t
handler_exec_tail_copy(const struct handler_exec *h, char *out)
{
	size_t start, first;

	start = (h->tail_pos + sizeof h->tail - h->tail_len) % sizeof h->tail;
	first = sizeof h->tail - start;
	if (first >= h->tail_len)
		memcpy(out, h->tail + start, h->tail_len);
	else {
		memcpy(out, h->tail + start, first);
		memcpy(out + first, h->tail, h->tail_len - first);
	}
	out[h->tail_len] = '\0';
	return h->tail_len;
}

/* Say how many output lines were left out since the last report. */
static void
handler_exec_lines_report(struct handler_exec *h)
{
	if (h->lines_dropped == 0)
		return;
	log_debug("job %s: %llu output line%s not logged (more than %d a "
	    "second)", h->log_id, h->lines_dropped, h->lines_dropped == 1 ?
	    "" : "s", HANDLER_EXEC_LINES_PER_S);
	h->lines_dropped = 0;
}

/*
 * Whether the next output line may be logged: at most
 * HANDLER_EXEC_LINES_PER_S a second per handler, so that one printing
 * without pause (600,000 lines a second) cannot flood the log. The lines
 * over it are counted and reported once the next second begins and when
 * the output ends; the stderr tail keeps them all the same.
 */
static int
handler_exec_line_allowed(struct handler_exec *h)
{
	uint64_t now = mtime_now();

	if (now - h->lines_since >= 1000) {
		handler_exec_lines_report(h);
		h->lines_since = now;
		h->lines_logged = 0;
	}
	if (h->lines_logged >= HANDLER_EXEC_LINES_PER_S) {
		h->lines_dropped++;
		return 0;
	}
	h->lines_logged++;
	return 1;
}

/*
 * Log the line collected in s as "job ID stdout: LINE" at debug and empty
 * it, unless handler_exec_line_allowed() says no.
 * Control characters are shown as '?' so that a handler cannot forge log
 * lines or send escapes to a terminal; a CR before the LF is dropped.
 */
static void
handler_exec_stream_emit(struct handler_exec_stream *s, int truncated)
{
	char line[HANDLER_EXEC_LINE_MAX + 1];
	size_t i, len = s->len;
	unsigned char c;

	/* Handlers' output is debug: the info level has a line per job. */
	if (log_level < LOG_LEVEL_DEBUG || !handler_exec_line_allowed(s->h)) {
		s->len = 0;
		return;
	}
	if (!truncated && len > 0 && s->line[len - 1] == '\r')
		len--;
	for (i = 0; i < len; i++) {
		c = (unsigned char)s->line[i];
		line[i] =
		    ((c < 0x20 && c != '\t') || c == 0x7f) ? '?' : (char)c;
	}
	line[len] = '\0';
	log_debug("job %s %s: %s%s", s->h->log_id, s->name, line,
	    truncated ? " [truncated]" : "");
	s->len = 0;
}

/*
 * Cut output into lines. A line longer than HANDLER_EXEC_LINE_MAX is
 * logged up to the limit with a marker and the rest of it is dropped, so
 * a handler that writes a gigabyte without a newline uses no more memory
 * than one that writes short lines. A fixed buffer is used rather than an
 * evbuffer precisely to keep that bound obvious.
 */
static void
handler_exec_stream_add(struct handler_exec_stream *s, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] == '\n') {
			if (s->skipping)
				s->skipping = 0;
			else
				handler_exec_stream_emit(s, 0);
			continue;
		}
		if (s->skipping)
			continue;
		if (s->len == sizeof s->line) {
			handler_exec_stream_emit(s, 1);
			s->skipping = 1;
			continue;
		}
		s->line[s->len++] = p[i];
	}
}

/*
 * Close an output pipe, logging a final line that had no newline; once
 * both are closed, report the lines left out (one count for the two).
 */
static void
handler_exec_stream_close(struct handler_exec_stream *s)
{
	if (s->fd == -1)
		return;
	if (s->len > 0 && !s->skipping)
		handler_exec_stream_emit(s, 0);
	s->len = 0;
	s->skipping = 0;
	if (s->ev != NULL) {
		event_free(s->ev);
		s->ev = NULL;
	}
	close(s->fd);
	s->fd = -1;
	if (s->h->out.fd == -1 && s->h->err.fd == -1)
		handler_exec_lines_report(s->h);
}

/*
 * Keep what the handler wrote on stdout as its job's result, up to
 * result_max bytes; the rest is counted, not kept. The buffer grows by
 * doubling, so a small result costs a small buffer whatever the max.
 */
static void
handler_exec_result_add(struct handler_exec *h, const char *p, size_t n)
{
	size_t keep, cap;

	h->result_size += n;
	keep = h->result_max - h->result_len;
	if (n < keep)
		keep = n;
	if (keep == 0)
		return;
	if (h->result_len + keep > h->result_cap) {
		cap = h->result_cap > 0 ? h->result_cap : 4096;
		while (cap < h->result_len + keep)
			cap *= 2;
		if (cap > h->result_max)
			cap = h->result_max;
		h->result = xreallocarray(h->result, cap, 1);
		h->result_cap = cap;
	}
	memcpy(h->result + h->result_len, p, keep);
	h->result_len += keep;
}

/*
 * Read what the handler wrote on stdout or stderr. One read per call, so
 * a chatty handler cannot starve the rest of the loop. Runs from the
 * event loop; never blocks.
 */
static void
handler_exec_stream_cb(int fd, short what, void *arg)
{
	struct handler_exec_stream *s = arg;
	struct handler_exec *h = s->h;
	char buf[16384];
	ssize_t n;

	(void)what;
	n = read(fd, buf, sizeof buf);
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		log_warn(
		    "job %s: reading the handler's %s", h->log_id, s->name);
		n = 0;
	}
	if (n == 0) {
		handler_exec_stream_close(s);
		handler_exec_check_done(h);
		return;
	}
	if (s == &h->err)
		handler_exec_tail_add(h, buf, (size_t)n);
	else if (h->result_max > 0) {
		/* A result, maybe binary: kept, not logged. */
		handler_exec_result_add(h, buf, (size_t)n);
		return;
	}
	handler_exec_stream_add(s, buf, (size_t)n);
}

/* Close the handler's stdin and drop what was not written. */
static void
handler_exec_stdin_close(struct handler_exec *h)
{
	if (h->stdin_ev != NULL) {
		event_free(h->stdin_ev);
		h->stdin_ev = NULL;
	}
	h->stdin_data = NULL;
	if (h->stdin_fd != -1) {
		close(h->stdin_fd);
		h->stdin_fd = -1;
	}
}

/*
 * Write more of the payload to the handler's stdin, and close it after
 * the last byte. A handler that exits or closes stdin without reading it
 * all gives EPIPE (SIGPIPE is ignored), which is its right, not an error.
 * Runs from the event loop; never blocks.
 */
static void
handler_exec_stdin_cb(int fd, short what, void *arg)
{
	struct handler_exec *h = arg;
	ssize_t n;

	(void)what;
	n = write(fd, h->stdin_data + h->stdin_off,
	    h->stdin_len - h->stdin_off);
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		if (errno == EPIPE)
			log_debug("job %s: handler closed stdin with %zu "
				  "payload bytes unread",
			    h->log_id, h->stdin_len - h->stdin_off);
		else
			log_warn("job %s: writing the payload", h->log_id);
		handler_exec_stdin_close(h);
		return;
	}
	h->stdin_off += (size_t)n;
	if (h->stdin_off == h->stdin_len)
		handler_exec_stdin_close(h);
}

/*
 * Queue the callback once the child is reaped and both output pipes are
 * closed. It runs from done_ev, never from the caller's stack, so that a
 * callback may start or stop handlers freely.
 */
static void
handler_exec_check_done(struct handler_exec *h)
{
	if (h->done_queued || !h->reaped || h->out.fd != -1 || h->err.fd != -1)
		return;
	h->done_queued = 1;
	event_active(h->done_ev, EV_TIMEOUT, 1);
}

/*
 * Give back the terminal that h's command holds, if it holds one. Called
 * before its leader is waited for (see handler_tty_release).
 */
static void
handler_exec_tty_release(struct handler_exec *h)
{
	if (h->tty_fd == -1)
		return;
	handler_tty_release(h->tty_fd, h->pid);
	h->tty_fd = -1;
}

/*
 * Reap h's child if it has exited. Returns 1 if it is reaped (now or
 * before), 0 if it still runs. When a child in the terminal's foreground
 * has stopped, we stop with it first (handler_tty_suspend); it still
 * runs.
 */
static int
handler_exec_reap(struct handler_exec *h)
{
	siginfo_t si;
	pid_t r;
	int st = 0;

	if (h->reaped)
		return 1;
	if (h->tty_fd != -1) {
		memset(&si, 0, sizeof si);
		while (waitid(P_PID, (id_t)h->pid, &si, WSTOPPED | WNOHANG) ==
		    -1 && errno == EINTR)
			;
		if (si.si_pid == h->pid && si.si_code == CLD_STOPPED)
			handler_tty_suspend(h->tty_fd, h->pid, si.si_status);
	}
	for (;;) {
		memset(&si, 0, sizeof si);
		if (waitid(P_PID, (id_t)h->pid, &si,
			WEXITED | WNOHANG | WNOWAIT) == 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno != ECHILD) {
			log_warn("job %s: waitid %ld", h->log_id, (long)h->pid);
			return 0;
		}
		log_warnx("job %s: handler pid %ld was reaped elsewhere; "
			  "its exit status is lost",
		    h->log_id, (long)h->pid);
		h->lost = 1;
		handler_exec_tty_release(h);
		goto reaped;
	}
	if (si.si_pid == 0)
		return 0;

	/*
	 * The handler was being stopped and its leader is gone: kill what is
	 * left of its group now (a grandchild that ignores SIGTERM) instead
	 * of leaving it behind. The leader is still a zombie here (WNOWAIT),
	 * so its pid, which is the group id, cannot have been reused.
	 */
	if (h->signal_sent != 0)
		(void)kill(-h->pid, SIGKILL);
	handler_exec_tty_release(h);
	do
		r = waitpid(h->pid, &st, WNOHANG);
	while (r == -1 && errno == EINTR);
	if (r != h->pid) {
		log_warn("job %s: waitpid %ld", h->log_id, (long)h->pid);
		h->lost = 1;
	}
	h->wstatus = st;
reaped:
	h->reaped = 1;
	h->end_ms = mtime_now();
	event_del(h->kill_ev);
	if (h->out.fd != -1 || h->err.fd != -1) {
		mtime_arm(h->drain_ev, HANDLER_EXEC_DRAIN_MS);
	}
	handler_exec_check_done(h);
	return 1;
}

/*
 * Reap every handler that has exited. Runs from the SIGCHLD event in the
 * loop, not in a signal handler; several exits may share one SIGCHLD.
 */
static void
handler_exec_sigchld_cb(int sig, short what, void *arg)
{
	struct handler_exec *h;

	(void)sig;
	(void)what;
	(void)arg;
	TAILQ_FOREACH(h, &handler_exec_state.list, entry)
	handler_exec_reap(h);
}

/*
 * Send sig to the handler's process group. Called only before the leader
 * is reaped, so the group id cannot belong to anyone else. A handler that
 * left its group (setsid) is signalled directly. Returns 0 or -1 (logged
 * unless the process is gone).
 */
static int
handler_exec_send(struct handler_exec *h, int sig)
{
	if (kill(-h->pid, sig) == 0 ||
	    (errno == ESRCH && kill(h->pid, sig) == 0))
		return 0;
	if (errno != ESRCH)
		log_warn("job %s: kill %ld", h->log_id, (long)h->pid);
	return -1;
}

/* Send sig to the group on our own account: it decides the outcome. */
static void
handler_exec_signal(struct handler_exec *h, int sig)
{
	(void)handler_exec_send(h, sig);
	h->signal_sent = sig;
}

/* Send SIGTERM to the group and arm the SIGKILL that follows the grace. */
static void
handler_exec_terminate(struct handler_exec *h)
{
	handler_exec_signal(h, SIGTERM);
	mtime_arm(h->kill_ev, h->grace_ms);
}

/*
 * The timeout, and later the end of the grace period. A handler that has
 * already exited (its SIGCHLD not yet handled) is reaped instead: it did
 * not time out.
 */
static void
handler_exec_kill_cb(int fd, short what, void *arg)
{
	struct handler_exec *h = arg;

	(void)fd;
	(void)what;
	if (handler_exec_reap(h))
		return;
	if (h->signal_sent == 0) {
		if (!h->quiet)
			log_warnx("job %s: timed out after %" PRIu64 " ms; "
				  "sending SIGTERM to process group %ld",
			    h->log_id, mtime_now() - h->start_ms,
			    (long)h->pid);
		h->kill_outcome = HANDLER_TIMEOUT;
		handler_exec_terminate(h);
	} else {
		if (!h->quiet)
			log_warnx("job %s: still running %" PRIu64 " ms "
				  "after SIGTERM; sending SIGKILL to process "
				  "group %ld",
			    h->log_id, h->grace_ms, (long)h->pid);
		handler_exec_signal(h, SIGKILL);
	}
}

/*
 * The handler has exited but something (usually a background grandchild)
 * still holds its stdout or stderr: stop waiting and close them.
 */
static void
handler_exec_drain_cb(int fd, short what, void *arg)
{
	struct handler_exec *h = arg;

	(void)fd;
	(void)what;
	event_del(h->drain_ev);
	if (h->out.fd == -1 && h->err.fd == -1)
		return;
	log_warnx("job %s: output still open after the handler exited "
		  "(a background process?); closing it",
	    h->log_id);
	handler_exec_stream_close(&h->out);
	handler_exec_stream_close(&h->err);
	handler_exec_check_done(h);
}

/* Close and free everything of h. It must already be off the list. */
static void
handler_exec_free(struct handler_exec *h)
{
	handler_exec_tty_release(h);
	handler_exec_stdin_close(h);
	handler_exec_stream_close(&h->out);
	handler_exec_stream_close(&h->err);
	if (h->kill_ev != NULL)
		event_free(h->kill_ev);
	if (h->drain_ev != NULL)
		event_free(h->drain_ev);
	if (h->done_ev != NULL)
		event_free(h->done_ev);
	free(h->exec_msg);
	free(h->exec_path);
	free(h->log_id);
	free(h->result);
	free(h);
}

/*
 * Report the outcome to the caller and free the handler. Runs from the
 * loop once the child is reaped and its output closed.
 */
static void
handler_exec_complete_cb(int fd, short what, void *arg)
{
	struct handler_exec *h = arg;
	struct handler_result res;
	char tail[HANDLER_EXEC_TAIL + 1];
	int st = h->wstatus;

	(void)fd;
	(void)what;
	TAILQ_REMOVE(&handler_exec_state.list, h, entry);
	handler_exec_state.count--;

	memset(&res, 0, sizeof res);
	res.duration_ms = h->end_ms - h->start_ms;
	res.wstatus = h->lost ? -1 : st;
	if (h->exec_error != 0) {
		res.outcome = HANDLER_EXEC_FAILED;
		res.status = h->exec_error;
		res.stderr_tail = h->exec_msg;
		res.stderr_len = strlen(h->exec_msg);
		res.exec_path = h->exec_path;
		res.exec_chdir = h->exec_chdir;
	} else {
		res.stderr_len = handler_exec_tail_copy(h, tail);
		res.stderr_tail = tail;
		res.result = h->result;
		res.result_len = h->result_len;
		res.result_size = h->result_size;
		if (h->signal_sent != 0) {
			res.outcome = h->kill_outcome;
			res.status = !h->lost && WIFSIGNALED(st)
			    ? WTERMSIG(st)
			    : h->signal_sent;
		} else if (h->lost) {
			res.outcome = HANDLER_EXITED;
			res.status = -1;
		} else if (WIFSIGNALED(st)) {
			res.outcome = HANDLER_SIGNALED;
			res.status = WTERMSIG(st);
		} else {
			res.outcome = HANDLER_EXITED;
			res.status = WEXITSTATUS(st);
		}
	}
	log_debug("job %s: handler pid %ld done: outcome %d status %d "
		  "after %" PRIu64 " ms",
	    h->log_id, (long)h->pid, (int)res.outcome, res.status,
	    res.duration_ms);
	h->cb(&res, h->arg);
	handler_exec_free(h);
}

/*
 * Install the SIGCHLD event on base and make sure SIGPIPE is ignored, so
 * that a handler closing its stdin gives EPIPE instead of killing the
 * worker. Call once per process before the first handler_exec_start.
 * Returns 0, or -1 (logged).
 */
int
handler_exec_init(struct event_base *base)
{
	struct sigaction sa;
	struct event *ev;

	assert(handler_exec_state.base == NULL);
	if (sigaction(SIGPIPE, NULL, &sa) == 0 &&
	    (sa.sa_flags & SA_SIGINFO) == 0 && sa.sa_handler == SIG_DFL) {
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = SIG_IGN;
		sigemptyset(&sa.sa_mask);
		(void)sigaction(SIGPIPE, &sa, NULL);
	}
	ev = evsignal_new(base, SIGCHLD, handler_exec_sigchld_cb, NULL);
	if (ev == NULL || event_add(ev, NULL) == -1) {
		log_warnx("handler_exec: cannot install the SIGCHLD event");
		if (ev != NULL)
			event_free(ev);
		return -1;
	}
	handler_exec_state.base = base;
	handler_exec_state.sigchld_ev = ev;
	return 0;
}

/*
 * Kill (SIGKILL to the group) and reap every handler still known, free
 * them without calling their callbacks, and remove the SIGCHLD event. The
 * worker stops its handlers and waits for their callbacks first; this is
 * the last resort, and what makes a test's teardown leak-free.
 */
void
handler_exec_shutdown(void)
{
	struct handler_exec *h;
	int st;

	while ((h = TAILQ_FIRST(&handler_exec_state.list)) != NULL) {
		TAILQ_REMOVE(&handler_exec_state.list, h, entry);
		handler_exec_state.count--;
		if (!h->reaped) {
			log_warnx("job %s: killing handler pid %ld at "
				  "shutdown",
			    h->log_id, (long)h->pid);
			handler_exec_signal(h, SIGKILL);
			handler_exec_tty_release(h);
			while (waitpid(h->pid, &st, 0) == -1 && errno == EINTR)
				;
		}
		handler_exec_free(h);
	}
	if (handler_exec_state.sigchld_ev != NULL)
		event_free(handler_exec_state.sigchld_ev);
	handler_exec_state.sigchld_ev = NULL;
	handler_exec_state.base = NULL;
}

/* Close the descriptors of the pipes that are still open. */
static void
handler_exec_close_pipes(int p[][2], size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i][0] != -1)
			close(p[i][0]);
		if (p[i][1] != -1)
			close(p[i][1]);
		p[i][0] = p[i][1] = -1;
	}
}

/*
 * Starting the child: clone(CLONE_VM | CLONE_VFORK), as posix_spawn does,
 * rather than fork: the worker is not paused while the kernel copies its
 * page tables, and its pages are not copied on write in the child either.
 * That is half of what a job with an exec handler cost the worker. It is
 * safe because the child runs only handler_child_run(), which makes only
 * async-signal-safe calls, writes nothing of ours but the exec status on
 * its own stack, and execs or exits while we wait (CLONE_VFORK), with
 * every signal blocked until it has reset them. Its stack is ours, one
 * for every start: we are suspended while it runs on it.
 *
 * AddressSanitizer tracks one stack per thread and takes a child running
 * on another for a corruption, so a sanitized build forks.
 */
#if defined(__SANITIZE_ADDRESS__)
#define HANDLER_EXEC_CLONE 0
#else
#define HANDLER_EXEC_CLONE 1
#endif
#define HANDLER_EXEC_STACK (256 * 1024)

struct handler_exec_child {
	const struct handler_exec_spec	*spec;
	char *const			*envp;
	pid_t				 parent;
	const int			*fds;
	int				 fg;
	char				**sh_argv;
};

static int
handler_exec_child_main(void *arg)
{
	const struct handler_exec_child *c = arg;

	handler_child_run(c->spec, c->envp, c->parent, c->fds, c->fg,
	    c->sh_argv);
	return 127;
}

/* Start the child: a pid, or -1 with errno set. */
static pid_t
handler_exec_spawn(const struct handler_exec_child *c)
{
	static char *stack;
	pid_t pid;

	if (!HANDLER_EXEC_CLONE) {
		if ((pid = fork()) == 0)
			handler_exec_child_main((void *)(uintptr_t)c);
		return pid;
	}
	if (stack == NULL) {
		stack = mmap(NULL, HANDLER_EXEC_STACK, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
		if (stack == MAP_FAILED) {
			stack = NULL;
			return -1;
		}
	}
	/* The stack grows down: the child starts at its top. */
	return clone(handler_exec_child_main, stack + HANDLER_EXEC_STACK,
	    CLONE_VM | CLONE_VFORK | SIGCHLD, (void *)(uintptr_t)c);
}

/* Set up one output stream of h on fd and start reading it. */
static void
handler_exec_stream_init(struct handler_exec *h, struct handler_exec_stream *s,
    const char *name, int fd)
{
	s->h = h;
	s->name = name;
	s->fd = fd;
	s->ev = handler_exec_event_new(
	    h->base, fd, EV_READ | EV_PERSIST, handler_exec_stream_cb, s);
	event_add(s->ev, NULL);
}

/*
 * Start the handler described by spec (see handler_exec.h). Returns the
 * handler, owned by this module until cb has returned; or NULL with
 * *cause (if cause is not NULL) set to an allocated message when no
 * process could be started.
 * The exec-status read blocks only until the child has exec'd or failed,
 * which involves no waiting on anything but the kernel.
 */
struct handler_exec *
handler_exec_start(struct event_base *base,
    const struct handler_exec_spec *spec, handler_exec_done_cb *cb, void *arg,
    char **cause)
{
	static char *const empty_env[] = {NULL};
	static const char *const stages[] = {"child setup", "chdir", "exec"};
	struct handler_exec *h;
	struct handler_child_status st;
	char *const *envp;
	char **sh_argv = NULL;
	int p[4][2], child[4], saved, fg;
	const char *what;
	sigset_t all, old;
	struct handler_exec_child cc;
	pid_t parent, pid;
	ssize_t n;
	size_t i;

	assert(handler_exec_state.base != NULL);
	assert(base == handler_exec_state.base);
	assert(cb != NULL);
	/* There is no pipe to write a payload to, nor a terminal to lend. */
	assert(!spec->inherit_stdio || spec->stdin_len == 0);
	assert(spec->inherit_stdio || !spec->foreground);
	for (i = 0; i < spec->nkeep_fds; i++)
		assert(spec->keep_fds[i] > 2 &&
		    (i == 0 || spec->keep_fds[i] > spec->keep_fds[i - 1]));
	if (spec->argv == NULL || spec->argv[0] == NULL ||
	    spec->argv[0][0] == '\0') {
		if (cause != NULL)
			xasprintf(cause, "empty handler argv");
		return NULL;
	}
	envp = spec->envp != NULL ? spec->envp : empty_env;

	/*
	 * stdin, stdout, stderr (unless the caller's are inherited), exec
	 * status: all close-on-exec.
	 */
	for (i = 0; i < nitems(p); i++)
		p[i][0] = p[i][1] = -1;
	for (i = spec->inherit_stdio ? 3 : 0; i < nitems(p); i++) {
		if (pipe2(p[i], O_CLOEXEC) == -1) {
			saved = errno;
			handler_exec_close_pipes(p, nitems(p));
			if (cause != NULL)
				xasprintf(cause, "pipe: %s", strerror(saved));
			return NULL;
		}
	}
	child[0] = p[0][0];
	child[1] = p[1][1];
	child[2] = p[2][1];
	child[3] = p[3][1];

	/* The child cannot allocate: its argv for a script without "#!". */
	if (spec->search_path)
		sh_argv = handler_child_sh_argv(spec->argv);

	h = xcalloc(1, sizeof *h);
	h->base = base;
	h->log_id = xstrdup(spec->log_id != NULL ? spec->log_id : "-");
	h->cb = cb;
	h->arg = arg;
	h->grace_ms = spec->kill_grace_ms != 0 ? spec->kill_grace_ms
					       : HANDLER_EXEC_GRACE_MS;
	h->stdin_fd = -1;
	h->out.fd = h->err.fd = -1;
	h->tty_fd = -1;
	h->quiet = spec->quiet;
	h->result_max = spec->inherit_stdio ? 0 : spec->result_max;
	h->start_ms = mtime_now();
	if (spec->foreground)
		h->tty_fd = handler_tty_take();
	fg = h->tty_fd != -1;

	/*
	 * Block every signal across fork: the child must not run the
	 * worker's handlers (libevent's would write into the worker's
	 * signal socketpair) before it has reset them to SIG_DFL.
	 */
	parent = getpid();
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	cc.spec = spec;
	cc.envp = envp;
	cc.parent = parent;
	cc.fds = child;
	cc.fg = fg;
	cc.sh_argv = sh_argv;
	pid = handler_exec_spawn(&cc);
	saved = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	free(sh_argv);
	for (i = 0; i < nitems(child); i++) {
		if (child[i] != -1)
			close(child[i]);
	}
	p[0][0] = p[1][1] = p[2][1] = p[3][1] = -1;
	if (pid == -1) {
		handler_exec_tty_release(h);
		handler_exec_close_pipes(p, nitems(p));
		free(h->log_id);
		free(h);
		if (cause != NULL)
			xasprintf(cause, "%s: %s", HANDLER_EXEC_CLONE ? "clone" :
			    "fork", strerror(saved));
		return NULL;
	}
	h->pid = pid;

	/*
	 * Both sides set the group, so it exists whichever runs first and
	 * a kill(-pid) right after start reaches it. EACCES: the child has
	 * already exec'd (having set it itself); ESRCH: it already died.
	 */
	if (setpgid(pid, pid) == -1 && errno != EACCES && errno != ESRCH)
		log_warn("job %s: setpgid %ld", h->log_id, (long)pid);

	/* EOF: execve succeeded. A status: the child could not run it. */
	do
		n = read(p[3][0], &st, sizeof st);
	while (n == -1 && errno == EINTR);
	close(p[3][0]);
	p[3][0] = -1;
	if (n == (ssize_t)sizeof st) {
		h->exec_error = st.error != 0 ? st.error : EIO;
		if (st.stage == HANDLER_CHILD_CHDIR)
			what = spec->cwd;
		else if (st.stage == HANDLER_CHILD_EXEC)
			what = spec->argv[0];
		else
			what = NULL;
		if (st.stage < 0 || (size_t)st.stage >= nitems(stages))
			st.stage = HANDLER_CHILD_SETUP;
		if (what != NULL) {
			xasprintf(&h->exec_msg, "%s %s: %s", stages[st.stage],
			    what, strerror(h->exec_error));
			h->exec_path = xstrdup(what);
			h->exec_chdir = st.stage == HANDLER_CHILD_CHDIR;
		} else
			xasprintf(&h->exec_msg, "%s: %s", stages[st.stage],
			    strerror(h->exec_error));
		/* A missing program or directory is the caller's to report:
		 * it can be one line for many jobs (docs/operations.md). */
		if (!h->quiet && what == NULL)
			log_warnx("job %s: %s", h->log_id, h->exec_msg);
	} else if (n != 0)
		log_warnx("job %s: unreadable exec status from pid %ld",
		    h->log_id, (long)pid);

	/* Our ends: the write end of stdin, the read ends of the others. */
	if (!spec->inherit_stdio &&
	    (fcntl(p[0][1], F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(p[1][0], F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(p[2][0], F_SETFL, O_NONBLOCK) == -1))
		log_warn("job %s: O_NONBLOCK", h->log_id);
	h->kill_ev =
	    handler_exec_event_new(base, -1, 0, handler_exec_kill_cb, h);
	h->drain_ev =
	    handler_exec_event_new(base, -1, 0, handler_exec_drain_cb, h);
	h->done_ev =
	    handler_exec_event_new(base, -1, 0, handler_exec_complete_cb, h);

	h->stdin_fd = p[0][1];
	if (spec->stdin_len > 0 && h->exec_error == 0) {
		/* Written from the caller's buffer, never copied. */
		h->stdin_data = spec->stdin_data;
		h->stdin_len = spec->stdin_len;
		h->stdin_off = 0;
		h->stdin_ev = handler_exec_event_new(base, h->stdin_fd,
		    EV_WRITE | EV_PERSIST, handler_exec_stdin_cb, h);
		event_add(h->stdin_ev, NULL);
	} else
		handler_exec_stdin_close(h);
	if (!spec->inherit_stdio) {
		handler_exec_stream_init(h, &h->out, "stdout", p[1][0]);
		handler_exec_stream_init(h, &h->err, "stderr", p[2][0]);
	}

	if (spec->timeout_ms != 0 && h->exec_error == 0) {
		mtime_arm(h->kill_ev, spec->timeout_ms);
	}
	TAILQ_INSERT_TAIL(&handler_exec_state.list, h, entry);
	handler_exec_state.count++;
	log_debug("job %s: started %s as pid %ld", h->log_id, spec->argv[0],
	    (long)pid);
	return h;
}

/*
 * Stop a running handler: SIGTERM to its group, SIGKILL after the grace,
 * outcome HANDLER_STOPPED. A handler that has already exited keeps its
 * own outcome, and output a background process still holds is closed at
 * once. A second stop, or a stop during a timeout, changes nothing. The
 * callback is never called from here.
 */
void
handler_exec_stop(struct handler_exec *h)
{
	if (h == NULL || h->done_queued)
		return;
	if (handler_exec_reap(h)) {
		if (h->out.fd != -1 || h->err.fd != -1)
			event_active(h->drain_ev, EV_TIMEOUT, 1);
		return;
	}
	if (h->signal_sent != 0)
		return;
	if (!h->quiet)
		log_info("job %s: stopping handler; sending SIGTERM to "
			 "process group %ld",
		    h->log_id, (long)h->pid);
	h->kill_outcome = HANDLER_STOPPED;
	event_del(h->kill_ev);
	handler_exec_terminate(h);
}

/*
 * Stop the handler as handler_exec_stop() does, but with SIGKILL no later
 * than grace_ms from now (sooner than its spec's grace, never later):
 * for a handler whose lock is lost, which must be gone before another
 * holder can have the lock. A stop already under way is hurried.
 */
void
handler_exec_stop_within(struct handler_exec *h, uint64_t grace_ms)
{
	if (h == NULL || h->done_queued)
		return;
	if (grace_ms < h->grace_ms)
		h->grace_ms = grace_ms;
	if (h->reaped || h->signal_sent == 0) {
		handler_exec_stop(h);
		return;
	}
	if (h->signal_sent == SIGTERM)
		mtime_arm(h->kill_ev, h->grace_ms);
}

/*
 * Send sig to the handler's process group without making it a stop: no
 * SIGKILL follows, and the outcome is what the handler does about it
 * (redjob lock forwards SIGINT, SIGTERM and SIGHUP this way). Returns 0,
 * or -1 with errno: ESRCH once the handler is reaped, when its group id
 * may already belong to someone else.
 */
int
handler_exec_kill(struct handler_exec *h, int sig)
{
	if (h->reaped) {
		errno = ESRCH;
		return -1;
	}
	return handler_exec_send(h, sig);
}

/* Return the handler's pid, which is also its process group id. */
pid_t
handler_exec_pid(const struct handler_exec *h)
{
	return h->pid;
}

/* Return how many handlers have started and not yet had their callback. */
size_t
handler_exec_running(void)
{
	return handler_exec_state.count;
}
