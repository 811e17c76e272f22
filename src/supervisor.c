/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The supervisor: redjobd's main process. It never runs jobs. It forks
 * the workers of a configuration (a "generation"), restarts a worker that
 * dies, with backoff, and has its jobs released at once (release.c); it
 * gives up only on a worker that cannot run with the configuration; it
 * reloads the
 * configuration on SIGHUP by starting a new generation and draining the
 * old one once the new one is ready (nginx's new cycle); it stops
 * gracefully on SIGTERM; it runs the embedded redis-server if asked; and
 * it speaks to systemd. Signals arrive through libevent, so every handler
 * here runs in the loop and may log, allocate and fork.
 */
#include "autoconf.h"

#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "supervisor.h"
#include "channel.h"
#include "compat.h"
#include "config.h"
#include "embedded.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "mtime.h"
#include "notify.h"
#include "release.h"
#include "redjob.h"
#include "token.h"
#include "claim.h"
#include "client.h"
#include "schema.h"
#include "worker.h"
#include "xmalloc.h"

#define SV_BACKOFF_MIN_MS 100
#define SV_BACKOFF_MAX_MS 30000
#define SV_STABLE_MS 60000		/* a worker this old resets backoff */
#define SV_CRASH_WINDOW_MS 60000	/* crashes counted for the status */
#define SV_HB_TIMEOUT_MS 15000		/* silent this long: killed */
#define SV_STATUS_MIN_MS 200		/* between two STATUS= */

/* One loaded configuration and the workers forked from it. */
struct generation {
	TAILQ_ENTRY(generation)	 entry;
	unsigned		 id;
	struct config		*cfg;
	unsigned		 nchildren;
	int			 ready_sent;	/* all its workers were ready */
};

struct child {
	TAILQ_ENTRY(child)	 entry;
	struct supervisor	*sv;
	struct generation	*gen;
	int			 index;
	pid_t			 pid;
	int			 fd;
	struct event		*ev;
	int			 ready;
	int			 draining;
	uint64_t		 started;
	uint64_t		 last_hb;
	unsigned		 running;
	unsigned long long	 done, failed, retried;
	pid_t			*pgids;		/* handler process groups */
	size_t			 npgids;	/* its size: the concurrency */
	char			 owner[CLAIM_OWNER_LEN + 1]; /* its claims' */
	char			 cond[CHANNEL_MAX];	/* what stops it, or "" */
	uint64_t		 cond_since;
};

/* A worker position of the current generation, which outlives crashes. */
struct slot {
	struct supervisor	*sv;
	int			 index;
	unsigned		 crashes;	/* within the window */
	uint64_t		 window;
	int			 restarting;	/* died; restart_ev is armed */
	uint64_t		 backoff_ms;
	int			 given_up;
	struct event		*restart_ev;
};

struct supervisor {
	struct event_base	*base;
	char			*path;
	struct generation	*current;
	TAILQ_HEAD(, generation) gens;
	TAILQ_HEAD(, child)	 children;
	struct slot		*slots;
	unsigned		 nslots;
	unsigned		 next_gen;
	int			 stopping;
	int			 no_worker;	/* every slot gave up */
	int			 exit_status;
	int			 debug;		/* -d: keep debug over reloads */
	pid_t			 embedded;
	pid_t			*releasers;	/* release.c's processes */
	size_t			 nreleasers;
	unsigned long long	 done_before;	/* by workers now gone */
	unsigned long long	 retried_before;
	struct event		*sig_ev[4];
	struct event		*tick_ev;
	struct event		*status_ev;	/* a deferred STATUS= */
	uint64_t		 status_sent;
	struct event		*kill_ev;
	char			 last_status[256];
	struct metrics		*metrics;	/* the workers' totals */
	struct http		*http;		/* http.listen, or NULL */
};

static void	supervisor_spawn(struct supervisor *, struct generation *, int);
static void	supervisor_check_done(struct supervisor *);
static void	supervisor_stop(struct supervisor *, const char *);

/*
 * Build the one-line status: what keeps a worker from working, if
 * anything, then "2/2 workers, 7 running, 15321 done ...".
 */
static void
supervisor_status_line(struct supervisor *sv, char *buf, size_t len)
{
	struct child *c;
	struct slot *s;
	unsigned up = 0, running = 0, given_up = 0, i;
	unsigned long long done = sv->done_before, retried = sv->retried_before;
	const struct child *cond = NULL;
	size_t n;

	TAILQ_FOREACH(c, &sv->children, entry) {
		if (c->gen == sv->current && c->ready && c->cond[0] == '\0')
			up++;
		if (c->cond[0] != '\0' && cond == NULL)
			cond = c;
		running += c->running;
		done += c->done;
		retried += c->retried;
	}
	for (i = 0; i < sv->nslots; i++)
		given_up += sv->slots[i].given_up;
	if (sv->no_worker) {
		snprintf(buf, len, "no worker can run: see the journal");
		return;
	}
	/*
	 * What stops a worker comes first, where `systemctl status` cannot
	 * cut it off: "redis: BUSY (a script runs too long) for 12s (worker
	 * 0); 1/2 workers, ...".
	 */
	n = 0;
	if (cond != NULL && !sv->stopping)
		n = (size_t)snprintf(buf, len, "%s for %llus (worker %d); ",
		    cond->cond, (unsigned long long)(mtime_now() -
		    cond->cond_since) / 1000, cond->index);
	if (n >= len)
		n = len - 1;
	snprintf(buf + n, len - n, "%u/%u workers, %u running, %llu done, "
	    "%llu retried%s%s", up, sv->nslots, running, done, retried,
	    given_up > 0 ? ", workers cannot run with this configuration: "
	    "see the journal" : "", sv->stopping ? ", stopping" : "");
	/* The first position that is waiting for its restart. */
	for (i = 0; i < sv->nslots && !sv->stopping; i++) {
		s = &sv->slots[i];
		if (!s->restarting)
			continue;
		n = strlen(buf);
		snprintf(buf + n, len - n, ", worker %u restarting (%u crash%s "
		    "in %d s)", i, s->crashes, s->crashes == 1 ? "" : "es",
		    SV_CRASH_WINDOW_MS / 1000);
		break;
	}
}

/*
 * Is every worker consuming? Every position of the current configuration
 * has a ready worker that reports nothing in its way. systemd's watchdog
 * is pinged only then (docs/operations.md, faults), so a daemon that is
 * up but cannot work is restarted, and its status line says why.
 */
static int
supervisor_healthy(void *arg)
{
	struct supervisor *sv = arg;
	struct child *c;
	unsigned ready = 0;

	if (sv->stopping)
		return 1;	/* stopping is not failing */
	TAILQ_FOREACH(c, &sv->children, entry) {
		if (c->gen != sv->current)
			continue;
		if (c->cond[0] != '\0' || !c->ready)
			return 0;
		ready++;
	}
	return ready == sv->nslots;
}

/* The status line and the slots, for /healthz and /metrics (http.c). */
static void
supervisor_status_text(void *arg, char *buf, size_t len)
{
	supervisor_status_line(arg, buf, len);
}

static void
supervisor_slots(void *arg, unsigned *busy, unsigned *idle)
{
	struct supervisor *sv = arg;
	struct child *c;
	unsigned n;

	*busy = *idle = 0;
	TAILQ_FOREACH(c, &sv->children, entry) {
		n = c->gen->cfg->concurrency;
		*busy += c->running < n ? c->running : n;
		if (c->ready && !c->draining && c->running < n)
			*idle += n - c->running;
	}
}

/*
 * Send STATUS= if it changed; called every second and on events (a
 * worker's counters, a condition), but sent at most every
 * SV_STATUS_MIN_MS: fresh enough to follow the jobs, and no flood of
 * datagrams for systemd (whose socket a sender can fill and block on).
 */
static void
supervisor_status(struct supervisor *sv)
{
	char buf[256];
	uint64_t now = mtime_now();

	supervisor_status_line(sv, buf, sizeof buf);
	if (strcmp(buf, sv->last_status) == 0)
		return;
	if (now - sv->status_sent < SV_STATUS_MIN_MS && !sv->stopping) {
		if (!evtimer_pending(sv->status_ev, NULL))
			mtime_arm(sv->status_ev, sv->status_sent +
			    SV_STATUS_MIN_MS - now);
		return;
	}
	sv->status_sent = now;
	snprintf(sv->last_status, sizeof sv->last_status, "%s", buf);
	notify_status("%s", buf);
}

static void
supervisor_status_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	supervisor_status(arg);
}

static void
generation_free(struct supervisor *sv, struct generation *g)
{
	TAILQ_REMOVE(&sv->gens, g, entry);
	config_free(g->cfg);
	free(g);
}

static void
child_free(struct child *c)
{
	struct supervisor *sv = c->sv;
	struct generation *g = c->gen;

	TAILQ_REMOVE(&sv->children, c, entry);
	sv->done_before += c->done;
	sv->retried_before += c->retried;
	if (c->ev != NULL)
		event_free(c->ev);
	if (c->fd >= 0)
		close(c->fd);
	free(c->pgids);
	g->nchildren--;
	if (g->nchildren == 0 && g != sv->current)
		generation_free(sv, g);
	free(c);
}

static void
child_pgid(struct child *c, pid_t pgid, int add)
{
	size_t i;

	for (i = 0; i < c->npgids; i++) {
		if (add && c->pgids[i] == 0) {
			c->pgids[i] = pgid;
			return;
		}
		if (!add && c->pgids[i] == pgid) {
			c->pgids[i] = 0;
			return;
		}
	}
}

/*
 * Tell a worker to finish its jobs and exit: for a reload (DRAIN) its
 * jobs run to their end; for a stop (STOP) they get shutdown_timeout and
 * are then put back in the queue.
 */
static void
child_drain(struct child *c, int stop)
{
	if (c->draining == (stop ? 2 : 1) || c->draining == 2)
		return;
	c->draining = stop ? 2 : 1;
	if (channel_send(c->fd, stop ? "STOP" : "DRAIN") != 0)
		kill(c->pid, SIGTERM);
}

/* Every worker of the newest generation is ready: retire the others. */
static void
supervisor_generation_ready(struct supervisor *sv)
{
	struct generation *g = sv->current;
	struct child *c;
	unsigned ready = 0, given_up = 0, k;
	char buf[256];

	if (g->ready_sent)
		return;
	TAILQ_FOREACH(c, &sv->children, entry) {
		if (c->gen == g && c->ready && c->cond[0] == '\0')
			ready++;
	}
	/* A slot that gave up will not become ready: do not wait for it. */
	for (k = 0; k < sv->nslots; k++)
		given_up += sv->slots[k].given_up;
	if (ready == 0 || ready + given_up < sv->nslots)
		return;
	g->ready_sent = 1;
	TAILQ_FOREACH(c, &sv->children, entry) {
		if (c->gen != g)
			child_drain(c, 0);
	}
	supervisor_status_line(sv, buf, sizeof buf);
	snprintf(sv->last_status, sizeof sv->last_status, "%s", buf);
	notify_ready(buf);
	if (g->id == 1)
		log_info("ready: %s", buf);
	else
		log_info("reloaded: generation %u ready, older workers draining",
		    g->id);
}

static void
supervisor_chan_cb(evutil_socket_t fd, short events, void *arg)
{
	struct child *c = arg;
	char buf[CHANNEL_MAX];
	unsigned running;
	unsigned long long done, failed, retried;
	long pgid;
	int n;

	(void)events;
	while ((n = channel_recv(fd, buf, sizeof buf)) > 0) {
		c->last_hb = mtime_now();
		if (strcmp(buf, "READY") == 0) {
			c->ready = 1;
			if (c->gen == c->sv->current)
				supervisor_generation_ready(c->sv);
		} else if (sscanf(buf, "HB %u %llu %llu %llu", &running, &done,
		    &failed, &retried) == 4) {
			c->running = running;
			c->done = done;
			c->failed = failed;
			c->retried = retried;
			supervisor_status(c->sv);
		} else if (strncmp(buf, "COND", 4) == 0 &&
		    (buf[4] == '\0' || buf[4] == ' ')) {
			/* "COND TEXT": a condition stops it; "COND": over. */
			if (buf[4] == ' ' && c->cond[0] == '\0')
				c->cond_since = mtime_now();
			snprintf(c->cond, sizeof c->cond, "%s", buf[4] == ' ' ?
			    buf + 5 : "");
			if (c->cond[0] == '\0' && c->ready &&
			    c->gen == c->sv->current)
				supervisor_generation_ready(c->sv);
			supervisor_status(c->sv);
		} else if (sscanf(buf, "PG+ %ld", &pgid) == 1)
			child_pgid(c, (pid_t)pgid, 1);
		else if (sscanf(buf, "PG- %ld", &pgid) == 1)
			child_pgid(c, (pid_t)pgid, 0);
		else
			(void)metrics_recv(c->sv->metrics, buf);
	}
	if (n == 0) {
		event_del(c->ev);
		event_free(c->ev);
		c->ev = NULL;
	}
}

static void
supervisor_restart_cb(evutil_socket_t fd, short events, void *arg)
{
	struct slot *s = arg;

	(void)fd;
	(void)events;
	s->restarting = 0;
	if (!s->sv->stopping)
		supervisor_spawn(s->sv, s->sv->current, s->index);
}

/*
 * A worker of the current generation died unasked: restart it with
 * exponential backoff, whatever the cause and however often (a job that
 * kills its workers ends dead by its stall count: redjobd(8)), unless it
 * said it cannot run with this configuration.
 */
static void
supervisor_crashed(struct supervisor *sv, struct child *c, int code)
{
	struct slot *s = &sv->slots[c->index];
	uint64_t now = mtime_now();
	unsigned i, alive = 0;

	if (code == EX_CONFIG) {
		s->given_up = 1;
		log_errx("worker %d cannot run with this configuration (see "
		    "above); not restarting it", c->index);
	} else {
		if (now - c->started >= SV_STABLE_MS)
			s->backoff_ms = 0;
		if (now - s->window > SV_CRASH_WINDOW_MS) {
			s->window = now;
			s->crashes = 0;
		}
		s->crashes++;
		metrics_count(sv->metrics, METRICS_RESTARTS, NULL, NULL);
		s->backoff_ms = s->backoff_ms == 0 ? SV_BACKOFF_MIN_MS :
		    s->backoff_ms * 2;
		if (s->backoff_ms > SV_BACKOFF_MAX_MS)
			s->backoff_ms = SV_BACKOFF_MAX_MS;
		log_info("restarting worker %d in %llu ms (%u crash%s in %d s)",
		    c->index, (unsigned long long)s->backoff_ms, s->crashes,
		    s->crashes == 1 ? "" : "es", SV_CRASH_WINDOW_MS / 1000);
		s->restarting = 1;
		mtime_arm(s->restart_ev, s->backoff_ms);
		return;
	}
	for (i = 0; i < sv->nslots; i++)
		alive += !sv->slots[i].given_up;
	/* The others may all be ready: then the generation is. */
	if (alive > 0 && c->gen == sv->current)
		supervisor_generation_ready(sv);
	if (alive == 0) {
		log_errx("no worker can run; exiting");
		sv->exit_status = 1;
		sv->no_worker = 1;
		supervisor_stop(sv, "no worker can run");
		supervisor_status(sv);
	}
}

/*
 * A worker died holding jobs, maybe: fork release.c's process to put
 * them back at once (its leases would bring them back later anyway).
 */
static void
supervisor_release(struct supervisor *sv, struct child *c)
{
	struct child *o;
	sigset_t all, old;
	pid_t pid;
	int sig;

	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	if ((pid = fork()) < 0) {
		log_warn("fork (to release the jobs of worker %d)", c->index);
		sigprocmask(SIG_SETMASK, &old, NULL);
		return;
	}
	if (pid == 0) {
		/* Nothing of the supervisor's loop runs here. */
		for (sig = 1; sig < NSIG; sig++)
			signal(sig, SIG_DFL);
		signal(SIGPIPE, SIG_IGN);
		sigprocmask(SIG_SETMASK, &old, NULL);
		/* A worker must see EOF when the supervisor is gone. */
		TAILQ_FOREACH(o, &sv->children, entry) {
			if (o->fd >= 0)
				close(o->fd);
		}
		http_close_fds(sv->http);
		log_init("release");
		_exit(release_run(c->gen->cfg, c->index, c->owner));
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	sv->releasers = xreallocarray(sv->releasers, sv->nreleasers + 1,
	    sizeof *sv->releasers);
	sv->releasers[sv->nreleasers++] = pid;
}

/* Forget a releaser that exited; 0, or -1 if pid is not one. */
static int
supervisor_releaser_gone(struct supervisor *sv, pid_t pid)
{
	size_t i;

	for (i = 0; i < sv->nreleasers; i++) {
		if (sv->releasers[i] == pid) {
			sv->releasers[i] = sv->releasers[--sv->nreleasers];
			return 0;
		}
	}
	return -1;
}

/* Reap every exited child (SIGCHLD, from the loop). */
static void
supervisor_reap(struct supervisor *sv)
{
	struct child *c;
	pid_t pid;
	int st, code, i;

	for (;;) {
		pid = waitpid(-1, &st, WNOHANG);
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid <= 0) {
			if (pid < 0 && errno != ECHILD)
				log_warn("waitpid");
			break;
		}
		if (pid == sv->embedded) {
			log_errx("embedded redis-server (pid %ld) exited "
			    "(status %d); stopping", (long)pid,
			    WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
			sv->embedded = -1;
			sv->exit_status = 1;
			supervisor_stop(sv, "the embedded redis-server exited");
			continue;
		}
		TAILQ_FOREACH(c, &sv->children, entry) {
			if (c->pid == pid)
				break;
		}
		if (c == NULL) {
			supervisor_releaser_gone(sv, pid);
			continue;
		}
		if (WIFSIGNALED(st)) {
			code = 128 + WTERMSIG(st);
			log_warnx("worker %d (pid %ld) killed by signal %d%s",
			    c->index, (long)pid, WTERMSIG(st),
			    WCOREDUMP(st) ? " (core dumped)" : "");
		} else {
			code = WEXITSTATUS(st);
			if (code != 0 || !c->draining)
				log_warnx("worker %d (pid %ld) exited with "
				    "status %d", c->index, (long)pid, code);
			else
				log_info("worker %d (pid %ld) finished",
				    c->index, (long)pid);
		}
		/* Handlers outliving a killed worker die with it. */
		for (i = 0; i < (int)c->npgids; i++) {
			if (c->pgids[i] > 0 && kill(-c->pgids[i], SIGKILL) == 0)
				log_warnx("killed the orphaned handler group %ld "
				    "of worker %d", (long)c->pgids[i], c->index);
		}
		if (WIFSIGNALED(st) || code != 0)
			supervisor_release(sv, c);
		if (!sv->stopping && !c->draining && c->gen == sv->current)
			supervisor_crashed(sv, c, code);
		child_free(c);
	}
	supervisor_check_done(sv);
	supervisor_status(sv);
}

/*
 * Fork worker index of generation g: block signals, fork;
 * in the child reinitialise and drop the supervisor's event base, reset
 * the signals, forget systemd, close the other channels, run.
 */
static void
supervisor_spawn(struct supervisor *sv, struct generation *g, int index)
{
	struct child *c, *o;
	sigset_t all, old;
	char token[TOKEN_LEN], owner[CLAIM_OWNER_LEN + 1];
	int sp[2], status;
	pid_t pid;

	/* The head of its claim tokens, by which its jobs are released. */
	token_make(token);
	memcpy(owner, token, CLAIM_OWNER_LEN);
	owner[CLAIM_OWNER_LEN] = '\0';
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0) {
		log_warn("socketpair");
		mtime_arm(sv->slots[index].restart_ev, SV_BACKOFF_MAX_MS);
		return;
	}
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid < 0) {
		log_warn("fork");
		sigprocmask(SIG_SETMASK, &old, NULL);
		close(sp[0]);
		close(sp[1]);
		mtime_arm(sv->slots[index].restart_ev, SV_BACKOFF_MAX_MS);
		return;
	}
	if (pid == 0) {
		char tag[32];
		int sig;

		event_reinit(sv->base);
		event_base_free(sv->base);
		for (sig = 1; sig < NSIG; sig++)
			signal(sig, SIG_DFL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		unsetenv("NOTIFY_SOCKET");
		close(sp[0]);
		TAILQ_FOREACH(o, &sv->children, entry) {
			if (o->fd >= 0)
				close(o->fd);
		}
		http_close_fds(sv->http);
		snprintf(tag, sizeof tag, "worker %d", index);
		log_init(tag);
		status = worker_main(g->cfg, index, sp[1], owner);
		_exit(status);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(sp[1]);
	c = xcalloc(1, sizeof *c);
	c->sv = sv;
	memcpy(c->owner, owner, sizeof c->owner);
	c->gen = g;
	c->index = index;
	c->pid = pid;
	c->fd = sp[0];
	/* One group per slot; a plugin job has none. */
	c->npgids = g->cfg->concurrency;
	c->pgids = xcalloc(c->npgids, sizeof *c->pgids);
	c->started = c->last_hb = mtime_now();
	c->ev = event_new(sv->base, c->fd, EV_READ | EV_PERSIST,
	    supervisor_chan_cb, c);
	event_add(c->ev, NULL);
	TAILQ_INSERT_TAIL(&sv->children, c, entry);
	g->nchildren++;
	log_info("worker %d started (pid %ld, generation %u)", index,
	    (long)pid, g->id);
}

/* Exit the loop once stopping and every worker is gone. */
static void
supervisor_check_done(struct supervisor *sv)
{
	/*
	 * Releasers are not waited for: they end by themselves within
	 * RELEASE_DEADLINE_MS, and if they are killed with us, the leases
	 * bring the jobs back.
	 */
	if (sv->stopping && TAILQ_EMPTY(&sv->children))
		event_base_loopbreak(sv->base);
}

static void
supervisor_kill_cb(evutil_socket_t fd, short events, void *arg)
{
	struct supervisor *sv = arg;
	struct child *c;

	(void)fd;
	(void)events;
	TAILQ_FOREACH(c, &sv->children, entry) {
		log_warnx("worker %d (pid %ld) did not stop in time; killing it",
		    c->index, (long)c->pid);
		kill(c->pid, SIGKILL);
	}
}

/* SIGTERM/SIGINT: drain every worker, then exit 0. */
static void
supervisor_stop(struct supervisor *sv, const char *why)
{
	struct child *c;
	unsigned running = 0;
	char buf[128];

	if (sv->stopping)
		return;
	sv->stopping = 1;
	TAILQ_FOREACH(c, &sv->children, entry)
		running += c->running;
	snprintf(buf, sizeof buf, "stopping: %u job%s running", running,
	    running == 1 ? "" : "s");
	notify_stopping(buf);
	log_info("%s: %s", why, buf);
	TAILQ_FOREACH(c, &sv->children, entry)
		child_drain(c, 1);
	/* Workers stop handlers at shutdown_timeout and then flush. */
	mtime_arm(sv->kill_ev, sv->current->cfg->shutdown_timeout_ms + 20000);
	supervisor_check_done(sv);
}

/*
 * A queue's shards before the workers start: each in the queue registry
 * (so that the shards stay known if the queue's shards are lowered
 * later), its number in the shard table (so that producers spread it
 * from the moment redjobd is ready; a plain queue's field removed), and
 * the shards beyond it that the registry still names, left by a larger
 * number: the workers serve those too (q->serve), so that their jobs run
 * while producers no longer add to them. A user whose ACL rules predate
 * the shard table may not write it: the queue's jobs then all go to its
 * first shard, which the workers serve. Returns 0, or -1 (the client
 * says why).
 */
static int
supervisor_shards(struct redjob_client *cl, struct config *cfg,
    struct queue_conf *q, char *const *reg, size_t nreg)
{
	const char *argv[4];
	char key[SCHEMA_KEY_MAX], name[SCHEMA_QUEUE_MAX + 8], n[12];
	char base[SCHEMA_QUEUE_MAX + 1];
	redisReply *r;
	unsigned k;
	size_t i;
	int argc = 0;

	q->serve = q->shards;
	for (i = 0; i < nreg; i++) {
		if (schema_shard_split(reg[i], base, sizeof base, &k) == 0 &&
		    strcmp(base, q->name) == 0 && k >= q->serve)
			q->serve = k + 1;
	}
	for (k = 1; k < q->shards; k++) {
		if (schema_shard_name(name, sizeof name, q->name, k) != 0 ||
		    client_register_queue(cl, name) != 0)
			return -1;
	}
	if (schema_shards_key(key, sizeof key, cfg->namespace) != 0)
		return 0;
	snprintf(n, sizeof n, "%u", q->shards);
	argv[argc++] = q->shards > 1 ? "HSET" : "HDEL";
	argv[argc++] = key;
	argv[argc++] = q->name;
	if (q->shards > 1)
		argv[argc++] = n;
	if ((r = client_command(cl, argc, argv, NULL)) != NULL) {
		freeReplyObject(r);
		return 0;
	}
	if (!client_noperm(cl))
		return -1;
	if (q->shards > 1)
		log_warnx("queue %s: the shard table %s is not written: "
		    "producers put all its jobs in its first shard (%s)",
		    q->name, key, redjob_errstr(cl));
	return 0;
}

/*
 * Register the served queues so `redjob stats` lists them. At start
 * (fatal_errors), a Redis that refuses us for good (a wrong password, a
 * newer library) is an error: returns -1 with *cause set. Otherwise 0.
 */
static int
supervisor_register(struct config *cfg, int fatal_errors, char **cause)
{
	struct redjob_client *cl;
	char *url = config_redis_url_auth(cfg), **reg = NULL;
	size_t i, nreg = 0;
	int err;

	cl = redjob_connect(url, cfg->namespace);
	free(url);
	if (cl == NULL)
		fatalx("out of memory");
	err = redjob_errcode(cl);
	/* Rules from before sharded queues may not allow SMEMBERS. */
	if (err == REDJOB_OK && client_queues(cl, &reg, &nreg) != 0) {
		if (!client_noperm(cl))
			err = redjob_errcode(cl);
		nreg = 0;
	}
	/* A user that may not SADD is refused at start, not left idle. */
	for (i = 0; err == REDJOB_OK && i < cfg->nqueues; i++) {
		if (client_register_queue(cl, cfg->queues[i].name) != 0 ||
		    supervisor_shards(cl, cfg, &cfg->queues[i], reg,
		    nreg) != 0)
			err = redjob_errcode(cl);
	}
	client_queues_free(reg, nreg);
	if (err != REDJOB_OK && fatal_errors && (err == REDJOB_ERR_AUTH ||
	    err == REDJOB_ERR_VERSION || err == REDJOB_ERR_URL ||
	    err == REDJOB_ERR_INVALID)) {
		*cause = xstrdup(redjob_errstr(cl));
		redjob_free(cl);
		return -1;
	}
	if (err != REDJOB_OK)
		log_warnx("%s; the workers will keep trying",
		    redjob_errstr(cl));
	redjob_free(cl);
	return 0;
}

/*
 * Make cfg the current generation and fork its workers. The previous
 * generation keeps its workers until the new ones are ready
 * (supervisor_generation_ready), and is freed with its last worker.
 */
static void
supervisor_generation(struct supervisor *sv, struct config *cfg)
{
	struct generation *g, *old = sv->current;
	unsigned k;

	g = xcalloc(1, sizeof *g);
	g->id = ++sv->next_gen;
	g->cfg = cfg;
	TAILQ_INSERT_TAIL(&sv->gens, g, entry);
	sv->current = g;
	if (old != NULL && old->nchildren == 0)
		generation_free(sv, old);
	for (k = 0; k < sv->nslots; k++)
		event_free(sv->slots[k].restart_ev);
	free(sv->slots);
	sv->nslots = cfg->workers;
	sv->slots = xcalloc(sv->nslots, sizeof *sv->slots);
	for (k = 0; k < sv->nslots; k++) {
		sv->slots[k].sv = sv;
		sv->slots[k].index = (int)k;
		sv->slots[k].restart_ev = evtimer_new(sv->base,
		    supervisor_restart_cb, &sv->slots[k]);
		supervisor_spawn(sv, g, (int)k);
	}
}

/* SIGHUP: load the file again; start a new generation if it is valid. */
static void
supervisor_reload(struct supervisor *sv)
{
	struct diags d = { NULL, 0 };
	struct config *cfg;
	struct child *c;
	char buf[256];
	size_t i;

	if (sv->stopping)
		return;
	notify_reloading("reloading the configuration");
	log_info("reloading %s", sv->path);
	if ((cfg = config_load(sv->path, &d)) == NULL) {
		for (i = 0; i < d.n; i++) {
			if (d.v[i].line == 0)
				log_errx("%s: %s", d.v[i].file, d.v[i].msg);
			else
				log_errx("%s:%u:%u: %s", d.v[i].file,
				    d.v[i].line, d.v[i].col, d.v[i].msg);
		}
		snprintf(buf, sizeof buf, "reload failed (%zu error%s); "
		    "previous configuration in force", d.n, d.n == 1 ? "" : "s");
		log_errx("%s", buf);
		diags_free(&d);
		notify_ready(buf);
		return;
	}
	diags_free(&d);
	if ((cfg->embedded_dir != NULL) !=
	    (sv->current->cfg->embedded_dir != NULL))
		log_warnx("redis.embedded changes take effect at the next "
		    "restart");
	supervisor_register(cfg, 0, NULL);
	if (sv->http != NULL)
		http_configure(sv->http, cfg);
	else if (cfg->http_listen != NULL)
		log_warnx("http.listen takes effect at the next restart");
	if (!sv->debug)
		log_set_level(cfg->log_level);

	/* Workers still starting in the old generation drain too. */
	TAILQ_FOREACH(c, &sv->children, entry) {
		if (c->gen == sv->current && !c->ready)
			child_drain(c, 0);
	}
	supervisor_generation(sv, cfg);
}

static void
supervisor_signal_cb(evutil_socket_t sig, short events, void *arg)
{
	struct supervisor *sv = arg;

	(void)events;
	switch (sig) {
	case SIGCHLD:
		supervisor_reap(sv);
		break;
	case SIGHUP:
		supervisor_reload(sv);
		break;
	case SIGTERM:
		supervisor_stop(sv, "SIGTERM");
		break;
	case SIGINT:
		supervisor_stop(sv, "SIGINT");
		break;
	}
}

/* Every second: kill silent workers, refresh STATUS=. */
static void
supervisor_tick_cb(evutil_socket_t fd, short events, void *arg)
{
	struct supervisor *sv = arg;
	struct child *c;
	uint64_t now = mtime_now();

	(void)fd;
	(void)events;
	TAILQ_FOREACH(c, &sv->children, entry) {
		if (c->ev != NULL && now - c->last_hb > SV_HB_TIMEOUT_MS) {
			log_errx("worker %d (pid %ld) sent nothing for %d s; "
			    "killing it", c->index, (long)c->pid,
			    SV_HB_TIMEOUT_MS / 1000);
			kill(c->pid, SIGKILL);
			c->last_hb = now;
		}
	}
	supervisor_status(sv);
}

/*
 * Run the daemon with the loaded configuration cfg (now owned here).
 * Returns the exit status.
 */
int
supervisor_main(const char *path, struct config *cfg, int debug)
{
	static const int sigs[] = { SIGCHLD, SIGHUP, SIGTERM, SIGINT };
	struct supervisor *sv;
	struct timeval tick = { 1, 0 };
	struct generation *g;
	struct sigaction sa;
	struct http_hooks hooks;
	char *cause = NULL;
	int status;
	unsigned k;
	size_t i;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	sv = xcalloc(1, sizeof *sv);
	sv->path = xstrdup(path);
	sv->debug = debug;
	sv->embedded = -1;
	TAILQ_INIT(&sv->gens);
	TAILQ_INIT(&sv->children);
	if ((sv->base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	sv->status_ev = evtimer_new(sv->base, supervisor_status_cb, sv);
	for (i = 0; i < nitems(sigs); i++) {
		sv->sig_ev[i] = evsignal_new(sv->base, sigs[i],
		    supervisor_signal_cb, sv);
		evsignal_add(sv->sig_ev[i], NULL);
	}
	sv->tick_ev = event_new(sv->base, -1, EV_PERSIST, supervisor_tick_cb,
	    sv);
	event_add(sv->tick_ev, &tick);
	sv->kill_ev = evtimer_new(sv->base, supervisor_kill_cb, sv);
	notify_watchdog_start(sv->base, supervisor_healthy, sv);

	if (cfg->embedded_dir != NULL) {
		if ((sv->embedded = embedded_start(cfg, &cause)) < 0)
			fatalx("%s", cause);
		if (embedded_wait_ready(cfg, sv->embedded, 60000, &cause) != 0) {
			embedded_stop(sv->embedded);
			fatalx("%s", cause);
		}
	}
	if (supervisor_register(cfg, 1, &cause) != 0) {
		embedded_stop(sv->embedded);
		fatalx("%s", cause);
	}
	sv->metrics = metrics_create(NULL);
	if (cfg->http_listen != NULL) {
		hooks.healthy = supervisor_healthy;
		hooks.status = supervisor_status_text;
		hooks.slots = supervisor_slots;
		hooks.arg = sv;
		hooks.metrics = sv->metrics;
		if ((sv->http = http_create(sv->base, cfg, &hooks,
		    &cause)) == NULL) {
			embedded_stop(sv->embedded);
			fatalx("%s", cause);
		}
	}

	supervisor_generation(sv, cfg);
	notify_status("starting %u workers", sv->nslots);

	event_base_dispatch(sv->base);

	if (sv->embedded > 0)
		embedded_stop(sv->embedded);
	status = sv->exit_status;
	log_info("exiting with status %d", status);
	notify_watchdog_stop();
	http_free(sv->http);
	metrics_free(sv->metrics);
	for (k = 0; k < sv->nslots; k++)
		event_free(sv->slots[k].restart_ev);
	free(sv->slots);
	while (!TAILQ_EMPTY(&sv->children))
		child_free(TAILQ_FIRST(&sv->children));
	while ((g = TAILQ_FIRST(&sv->gens)) != NULL)
		generation_free(sv, g);
	for (i = 0; i < nitems(sigs); i++)
		event_free(sv->sig_ev[i]);
	event_free(sv->tick_ev);
	event_free(sv->status_ev);
	event_free(sv->kill_ev);
	event_base_free(sv->base);
	free(sv->path);
	free(sv->releasers);
	free(sv);
	return status;
}
