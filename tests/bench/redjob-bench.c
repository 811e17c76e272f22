/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * redjob-bench: measure redjob against a real redis-server and the real
 * redjobd, and report jobs per second, dispatch latency, the Redis CPU
 * time and the Redis commands per job, the daemon's idle cost and its
 * memory, each with the command line that reproduces it. It starts its
 * own redis-server on a unix socket in a temporary directory (or uses
 * -u), writes the daemon's YAML there, and runs src/redjobd as a child
 * with a NOTIFY_SOCKET of its own, as systemd would. Built by make, run
 * by hand (make bench): figures go in docs/performance.md and the issue
 * note, never into a timed assertion (tests/check_bench.c runs it only
 * to check where its figures come from on a cluster).
 *
 * Each scenario is one entry in the scenarios[] table with its variants.
 * Throughput scenarios bracket their hot section with bench_begin() and
 * bench_end(), which take the clock, Redis's INFO and the daemon's CPU
 * time before and after, and record one result. Redis's own counters
 * (INFO cpu, INFO commandstats) measure the server side, so they include
 * every client's work: run it on a Redis nobody else uses.
 *
 * INFO commandstats counts the commands that functions run (redis.call)
 * as well as those clients send, and cannot tell them apart. The bench
 * splits them by name: a command that the function library calls is
 * counted as run inside a function, anything else (FCALL, FCALL_RO, SADD
 * of the queue registry, BZPOPMIN, ...) as a client call. That holds as
 * long as clients speak the protocol, which does everything through
 * FCALL. The bench's own calls while it measures (INFO, and the
 * FCALL_RO redjob_stats it polls to see when the jobs are done) are
 * taken out of the counts, and the polls' time out of the CPU.
 *
 * On a Redis Cluster (-u redis+cluster://..., or the cluster scenario's
 * own cluster) the bench learns the masters from CLUSTER SLOTS, reads
 * these counters from each of them, and reports their sums and each
 * master's share; its calls on a queue (pause, resume, the polls) go to
 * the master of the queue's hash tag. It does not follow a resharding:
 * the slot map is read once per target.
 */
#include "autoconf.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "redjob.h"
#include "client.h"
#include "cluster.h"
#include "rfunc.h"
#include "compat.h"
#include "proc.h"
#include "redis_server.h"
#include "url.h"
#include "xmalloc.h"

#define BENCH_NAMESPACE "redjob-bench"
#define BENCH_QUEUE "bench"
#define BENCH_LOAD_QUEUE "load"
#define BENCH_MAX_CMDS 256
#define BENCH_MAX_PROCS 512
#define BENCH_POLL_US 2000		/* how often a run polls its stats */
#define BENCH_STALL_MS 60000	/* no progress for this long: give up */
#define BENCH_READY_MS 30000		/* READY=1 deadline */
#define BENCH_STOP_MS 60000		/* exit deadline after SIGTERM */
#define BENCH_SETTLE_MS 2000	/* after READY, before idle readings */
#define BENCH_SPAWN_MS 3600000	/* the spawn scenario's spawners */
#define BENCH_MAX_MASTERS 16	/* masters of a cluster read by INFO */
#define BENCH_CLUSTER_MS 30000	/* a new cluster's cluster_state:ok */

/* Which options a result's command line must repeat. */
#define BENCH_CL_ENQUEUE	0x01	/* -b, --payload-size */
#define BENCH_CL_DAEMON		0x02	/* --workers, --batch... */
#define BENCH_CL_LATENCY	0x04	/* --samples, --gap, --delay, ... */
#define BENCH_CL_IDLE		0x08	/* --idle-seconds */
#define BENCH_CL_HANDLER	0x10	/* --handler */
#define BENCH_CL_PEERS		0x20	/* --peers */
#define BENCH_CL_DELAY		0x40	/* --delay */

/* Where the peers' scripts are: the source tree's tests/bench/peers. */
#ifndef BENCH_PEER_SCRIPTS
#define BENCH_PEER_SCRIPTS "tests/bench/peers"
#endif

struct bench_opts {
	const char	*scenario;	/* a name, or "all" */
	const char	*variant;	/* NULL: every variant */
	const char	*url;		/* NULL: start a redis-server */
	const char	*redis_server;
	const char	*redjobd;	/* NULL: next to this program */
	const char	*plugin;	/* NULL: next to this program */
	const char	*probe;		/* NULL: next to this one */
	const char	*log_level;	/* the daemon's log_level */
	const char	*handler;	/* guards: auto, exec or plugin */
	long		 jobs;		/* 0: the scenario's */
	long		 batch;		/* jobs per enqueue_many */
	long		 payload;
	long		 workers;	/* 0: the scenario's default */
	long		 concurrency;
	long		 claim_batch;	/* YAML batch:, 0: default */
	long		 samples;
	long		 gap_min_ms;
	long		 gap_max_ms;
	long		 delay_ms;
	long		 load_rate;	/* jobs/s, latency's load */
	long		 idle_secs;
	long		 repeat;
	int		 breakdown;	/* count FCALLs per function */
	int		 keep;		/* keep the temporary dir */
	const char	*perf;		/* perf record file */
	const char	*during;	/* run this during the hot section */
	const char	*json;		/* NULL, "-" or a file */
	const char	*peers;		/* BullMQ's node_modules is here */
	const char	*peer_scripts;	/* bullmq.mjs, sidekiq.rb */
};

/*
 * Redis's counters at one moment, summed over the masters, and the
 * figures that bench_end() gives each master's share of.
 */
struct bench_snap {
	double		 cpu;		/* used_cpu_user + _sys, s */
	long long	 total;		/* total_commands_processed */
	size_t		 n;
	char		*name[BENCH_MAX_CMDS];	/* "fcall", ... */
	long long	 calls[BENCH_MAX_CMDS];
	long long	 usec[BENCH_MAX_CMDS];
	size_t		 nm;		/* masters, as in b->t */
	double		 m_cpu[BENCH_MAX_MASTERS];
	long long	 m_client[BENCH_MAX_MASTERS];	/* client calls */
	long long	 m_ro_usec[BENCH_MAX_MASTERS];	/* FCALL_RO's */
};

/*
 * A master the bench reads Redis's figures from and sends its own calls
 * to: the one Redis, or each master of a cluster.
 */
struct bench_master {
	char		 addr[300];	/* host:port, or the socket */
	redisContext	*c;
	long long	 polls;		/* redjob_stats calls on it */
};

/*
 * The Redis the scenarios run against: its URL, as clients and the
 * daemon get it, and its masters. On a cluster, map says which master
 * serves a slot; master[i] is map->node[i].
 */
struct bench_target {
	char		*url;
	int		 cluster;
	struct cluster_map *map;
	struct bench_master master[BENCH_MAX_MASTERS];
	size_t		 nmasters;
};

/* The CPU time of the daemon's processes, in seconds. */
struct bench_cpu {
	double		 supervisor;
	double		 workers;	/* the workers themselves */
	double		 handlers;	/* their reaped children */
	int		 nworkers;
};

/* A redjobd started by the bench. */
struct bench_daemon {
	struct proc	*proc;
	int		 notify_fd;
	char		*config;
	char		*log;
	char		*notify_path;
};

/* The counters of one queue, from redjob_stats. */
struct bench_qstats {
	long long	 ready;
	long long	 scheduled;
	long long	 running;
	long long	 dead;
	long long	 enqueued;
	long long	 processed;
	long long	 failed;
	long long	 retried;
	long long	 throttled;
	long long	 conflicts;
	long long	 stalled;
};

/*
 * How bench_end() tells the commands clients send from those their
 * scripts run (INFO commandstats counts both): by the names redjob's
 * function library uses; for a peer that scripts its work (BullMQ), only
 * script calls, blocking pops and transactions are the client's; for one
 * that scripts nothing (Sidekiq), everything is.
 */
enum bench_split {
	BENCH_SPLIT_REDJOB,
	BENCH_SPLIT_SCRIPTS,
	BENCH_SPLIT_CLIENT,
};

/* Which peer's polls bench_end() takes out (0: redjob_stats's). */
#define BENCH_POLL_BULLMQ	1
#define BENCH_POLL_SIDEKIQ	2

/* Whether plugin handlers work in this build, found out once. */
enum bench_plugin_state {
	BENCH_PLUGIN_UNKNOWN,
	BENCH_PLUGIN_OK,
	BENCH_PLUGIN_UNAVAILABLE,
};

struct bench {
	struct bench_opts o;
	const char	*argv0;
	char		*exe_dir;	/* where this program is */
	char		*dir;		/* temporary: configs, logs */
	char		*sock;
	struct bench_target t;		/* what scenarios run against */
	struct proc	*redis;		/* our redis-server */
	/* The cluster scenario's redis-servers, while they run. */
	struct proc	*node[BENCH_MAX_MASTERS];
	size_t		 nnodes;
	struct proc	*feeder;	/* the latency load stream */
	struct proc	*perf;		/* perf, or --during */
	long long	 info_calls;	/* INFO sent, to all masters */
	long long	 polls;		/* redjob_stats calls, all */
	char		 redis_version[64];
	json_t		*results;
	FILE		*out;		/* the human-readable report */
	long		 run;		/* 1..repeat */
	/* The commands the function library runs, lower case. */
	char		*lua_cmds[64];
	size_t		 n_lua_cmds;
	/* The commands one poll runs inside redjob_stats. */
	char		*poll_cmds[16];
	long long	 poll_calls[16];
	size_t		 n_poll_cmds;

	/* Tools, resolved at start. */
	char		*redjobd;
	char		*plugin;
	char		*probe;
	enum bench_plugin_state plugin_state;
	int		 noop_result;	/* the no-op type keeps results */
	long		 fill_delay_ms;	/* bench_fill()'s jobs' delay */
	char		*plugin_reason;
	struct bench_daemon *d;		/* running, for bench_fatal() */

	/* The peers: where they are, and why one cannot run. */
	char		*peers;
	char		*peer_scripts;
	char		*bullmq_why;
	char		*sidekiq_why;
	char		*bullmq_version;
	char		*sidekiq_version;
	int		 bullmq_checked;
	int		 sidekiq_checked;
	enum bench_split split;
	int		 peer_polling;	/* whose polls: BENCH_POLL_* */
	int		 compare;	/* more than one scenario ran */

	/* Between bench_begin() and bench_end(). */
	struct bench_snap before;
	struct bench_cpu cpu_before;
	long long	 polls_before;
	long long	 m_polls_before[BENCH_MAX_MASTERS];
	struct timespec	 t0;
};

struct bench_scenario {
	const char		 *name;
	const char		 *help;
	const char *const	 *variants;
	/* Run one variant; returns 0, or -1 after saying why on stderr. */
	int			(*run)(struct bench *, const char *variant);
};

static int	bench_enqueue(struct bench *, const char *);
static int	bench_process(struct bench *, const char *);
static int	bench_latency(struct bench *, const char *);
static int	bench_idle(struct bench *, const char *);
static int	bench_memory(struct bench *, const char *);
static int	bench_guards(struct bench *, const char *);
static int	bench_spawn(struct bench *, const char *);
static int	bench_cluster(struct bench *, const char *);

/*
 * The cluster scenario's variants, one line each: the masters the bench
 * starts, and the queues the daemon serves, which their hash tags spread
 * over the masters, with the slots split in equal ranges as
 * bench_cluster_start() does: q0..q5 put two on each of three masters,
 * and so do the six shards of "bulk" (bulk, bulk~1 ... bulk~5; YAML
 * "bulk: { weight: 1, shards: 6 }"), one queue spread over them.
 */
static const struct bench_cluster_run {
	const char	*variant;
	int		 masters;
	const char	*queues;	/* names, separated by spaces */
	int		 shards;	/* each queue's shards:, 0 none */
} bench_cluster_runs[] = {
	{ "1-master", 1, "q0 q1 q2 q3 q4 q5", 0 },
	{ "3-masters", 3, "q0 q1 q2 q3 q4 q5", 0 },
	{ "3-masters-sharded", 3, "bulk", 6 },
};
#define BENCH_CLUSTER_QUEUES 16
static int	bench_floor(struct bench *, const char *);
static int	bench_bullmq(struct bench *, const char *);
static int	bench_sidekiq(struct bench *, const char *);

static const char *const bench_enqueue_variants[] = {
	"single", "pipelined", NULL
};
static const char *const bench_process_variants[] = {
	"exec", "plugin", "plugin-result", "plugin-serial", "plugin-delayed",
	NULL
};
static const char *const bench_latency_variants[] = {
	"idle-immediate", "idle-delayed", "load-immediate", "load-delayed",
	"backlog-immediate", NULL
};
static const char *const bench_idle_variants[] = { "idle", NULL };
static const char *const bench_memory_variants[] = {
	"fresh", "after-exec", "after-plugin", NULL
};
static const char *const bench_spawn_variants[] = {
	"fork", "posix_spawn", NULL
};
/* From bench_cluster_runs[], by main(). */
static const char *bench_cluster_variants[nitems(bench_cluster_runs) + 1];
static const char *const bench_floor_variants[] = {
	"enqueue-single", "enqueue-bulk", "process", "process-serial", NULL
};
static const char *const bench_bullmq_variants[] = {
	"add", "bulk-add", "process", "delayed", "manual", NULL
};
static const char *const bench_sidekiq_variants[] = {
	"add", "bulk-add", "process", NULL
};
static const char *const bench_guards_variants[] = {
	"none", "none-keyed", "lock-distinct", "lock-shared", "window",
	"funnel", "gcra", "concurrency", "gcra-throttled", "funnel-throttled",
	"window-throttled", "concurrency-throttled", NULL
};

/*
 * The scenarios, in the order "--scenario all" runs them. Add one by
 * writing its run function and a line here.
 */
static const struct bench_scenario scenarios[] = {
	{ "enqueue", "enqueue N jobs with libredjob: one redjob_enqueue() "
	    "call per job (single), then redjob_enqueue_many() in batches of "
	    "B (pipelined)", bench_enqueue_variants, bench_enqueue },
	{ "process", "redjobd runs N no-op jobs enqueued beforehand: exec "
	    "/bin/true (default N 20000) or the example plugin's noop "
	    "(default N 100000), plugin-result with result: on its type "
	    "(redjob_done, batched per queue), plugin-serial with one slot "
	    "a worker and claims of one, plugin-delayed with jobs enqueued "
	    "with --delay, "
	    "due when the queue is resumed", bench_process_variants,
	    bench_process },
	{ "latency", "from a job's due time to its handler's start (the "
	    "probe), p50/p99/max: idle, under a load stream on another queue, "
	    "or behind another queue's backlog; immediate or delayed "
	    "(--delay)", bench_latency_variants, bench_latency },
	{ "idle", "an idle redjobd (default 4 workers) for --idle-seconds: "
	    "Redis commands/s and the daemon's CPU", bench_idle_variants,
	    bench_idle },
	{ "memory", "resident size of the supervisor and each worker, idle: "
	    "fresh, and after running jobs", bench_memory_variants,
	    bench_memory },
	{ "guards", "the no-op job under a lock (a key per job, or one "
	    "shared) and under each limiter kind with generous limits; "
	    "none-keyed: no guard, a key per job as lock-distinct's",
	    bench_guards_variants, bench_guards },
	{ "spawn", "no redjob at all: --workers processes each keep "
	    "--concurrency /bin/true children running (fork+exec, or "
	    "posix_spawn), the ceiling for exec handlers on this host",
	    bench_spawn_variants, bench_spawn },
	{ "cluster", "the process run of the no-op job (plugin, else "
	    "/bin/true; --handler) spread over 6 queues, or one queue of 6 "
	    "shards, against a Redis Cluster of 1 or 3 masters the bench "
	    "starts (loopback ports, --redis-server); Redis CPU per job of "
	    "each master",
	    bench_cluster_variants, bench_cluster },
	{ "floor", "no redjob at all: the plainest Redis protocol (a hash "
	    "and a due zset per job, a claim that takes a batch, an ack that "
	    "deletes it), as functions: enqueue one by one and in bulk, with "
	    "memory per waiting job, and --workers consumers draining N jobs "
	    "claiming as many as redjobd's workers would (--batch, default "
	    "the concurrency but at least 32; process-serial: one at a "
	    "time); the "
	    "yardstick of redjob's per-job cost",
	    bench_floor_variants, bench_floor },
	{ "bullmq", "BullMQ through node on the same Redis (--peers DIR, "
	    "make bench-peers): add one by one, addBulk of -b (with memory "
	    "per waiting job), --workers processes of --concurrency draining "
	    "N jobs (process), the same for jobs due after --delay (delayed), "
	    "and one job at a time with nothing prefetched (manual)",
	    bench_bullmq_variants, bench_bullmq },
	{ "sidekiq", "Sidekiq through ruby on the same Redis: push one by "
	    "one, push_bulk of -b, with memory per waiting job, and "
	    "--workers Sidekiq servers of --concurrency threads draining N "
	    "jobs (process)",
	    bench_sidekiq_variants, bench_sidekiq },
};

static struct bench *bench_self;	/* for bench_fatal()'s cleanup */
static pid_t bench_pid;			/* ours, not a forked helper's */

static void	bench_kill_children(struct bench *);
static void	bench_perf_stop(struct bench *);

static void printflike(1, 2) __dead
bench_fatal(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "redjob-bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (bench_self != NULL) {
		bench_kill_children(bench_self);
		if (bench_self->dir != NULL)
			fprintf(stderr, "redjob-bench: logs and configs left "
			    "in %s\n", bench_self->dir);
	}
	exit(1);
}

/*
 * SIGINT, SIGTERM, SIGHUP: take our servers down now, not only through
 * their parent-death signal, say where the logs are, and die of the
 * signal. Only kill(2) and write(2) here: async-signal-safe.
 */
static void
bench_on_signal(int sig)
{
	struct bench *b = bench_self;
	static const char msg[] = "redjob-bench: interrupted; logs and "
	    "configs left in ";
	ssize_t w;
	size_t i;

	if (b != NULL && getpid() == bench_pid) {
		for (i = 0; i < b->nnodes; i++) {
			if (b->node[i] != NULL)
				kill(b->node[i]->pid, SIGKILL);
		}
		if (b->redis != NULL)
			kill(b->redis->pid, SIGKILL);
		if (b->d != NULL && b->d->proc != NULL)
			kill(b->d->proc->pid, SIGTERM);
		/* Nothing to do if stderr is gone: w is not looked at. */
		if (b->dir != NULL) {
			w = write(STDERR_FILENO, msg, sizeof msg - 1);
			w = write(STDERR_FILENO, b->dir, strlen(b->dir));
			w = write(STDERR_FILENO, "\n", 1);
			(void)w;
		}
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Append to an allocated string (NULL at first). */
static void printflike(2, 3)
bench_cat(char **s, const char *fmt, ...)
{
	va_list ap;
	char *add, *n;

	va_start(ap, fmt);
	if (vasprintf(&add, fmt, ap) < 0)
		bench_fatal("out of memory");
	va_end(ap);
	xasprintf(&n, "%s%s", *s != NULL ? *s : "", add);
	free(add);
	free(*s);
	*s = n;
}

static double
bench_elapsed(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static uint64_t
bench_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int64_t
bench_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
bench_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/*
 * Wait us microseconds. While a daemon runs, read its notify socket
 * meanwhile, as systemd does: the supervisor's sd_notify() blocks once a
 * few datagrams wait unread (net.unix.max_dgram_qlen, 10 by default),
 * and a blocked supervisor stops reading its workers' channels.
 */
static void
bench_wait_us(struct bench *b, long us)
{
	struct timespec end, now, left;
	struct pollfd pfd;
	char buf[4096];

	if (b->d == NULL) {
		left.tv_sec = us / 1000000;
		left.tv_nsec = (us % 1000000) * 1000;
		while (nanosleep(&left, &left) == -1 && errno == EINTR)
			;
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += us / 1000000;
	end.tv_nsec += (us % 1000000) * 1000;
	if (end.tv_nsec >= 1000000000) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000;
	}
	pfd.fd = b->d->notify_fd;
	pfd.events = POLLIN;
	for (;;) {
		while (recv(pfd.fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
			;
		clock_gettime(CLOCK_MONOTONIC, &now);
		left.tv_sec = end.tv_sec - now.tv_sec;
		left.tv_nsec = end.tv_nsec - now.tv_nsec;
		if (left.tv_nsec < 0) {
			left.tv_sec--;
			left.tv_nsec += 1000000000;
		}
		if (left.tv_sec < 0)
			return;
		(void)ppoll(&pfd, 1, &left, NULL);
	}
}

static void
bench_wait_ms(struct bench *b, long ms)
{
	bench_wait_us(b, ms * 1000);
}

static redisReply *
bench_vcommand_at(struct bench *b, size_t m, const char *fmt, va_list ap)
{
	struct bench_master *bm = &b->t.master[m];
	redisReply *r;

	if (strncmp(fmt, "INFO", 4) == 0)
		b->info_calls++;
	r = redisvCommand(bm->c, fmt, ap);
	if (r == NULL)
		bench_fatal("redis %s: %s", bm->addr, bm->c->errstr);
	/* A MOVED here: the bench does not follow a cluster resharded
	 * under it, its figures would not be of one layout. */
	if (r->type == REDIS_REPLY_ERROR)
		bench_fatal("redis %s: %s: %s", bm->addr, fmt, r->str);
	return r;
}

/*
 * Run a command on master m's connection, which clients and the daemon
 * do not use; exits on failure. Caller frees.
 */
static redisReply *printflike(3, 4)
bench_command_at(struct bench *b, size_t m, const char *fmt, ...)
{
	redisReply *r;
	va_list ap;

	va_start(ap, fmt);
	r = bench_vcommand_at(b, m, fmt, ap);
	va_end(ap);
	return r;
}

/* The same on the first master, for commands that name no key. */
static redisReply *printflike(2, 3)
bench_command(struct bench *b, const char *fmt, ...)
{
	redisReply *r;
	va_list ap;

	va_start(ap, fmt);
	r = bench_vcommand_at(b, 0, fmt, ap);
	va_end(ap);
	return r;
}

/* The master that serves queue's keys (its hash tag, "{QUEUE}"). */
static size_t
bench_queue_master(const struct bench *b, const char *queue)
{
	char key[256];
	int k;

	if (!b->t.cluster)
		return 0;
	snprintf(key, sizeof key, "%s:{%s}", BENCH_NAMESPACE, queue);
	k = cluster_map_node(b->t.map, cluster_keyslot(key, strlen(key)));
	if (k < 0 || (size_t)k >= b->t.nmasters)
		bench_fatal("no master serves the slot of queue %s", queue);
	return (size_t)k;
}

/* Find "name:value" in an INFO reply; returns the value or NULL. */
static const char *
bench_info_field(const char *info, const char *name, char *buf, size_t len)
{
	const char *p = info, *end;
	size_t n = strlen(name);

	while ((p = strstr(p, name)) != NULL) {
		if ((p == info || p[-1] == '\n') && p[n] == ':') {
			p += n + 1;
			end = p + strcspn(p, "\r\n");
			snprintf(buf, len, "%.*s", (int)(end - p), p);
			return buf;
		}
		p += n;
	}
	return NULL;
}

/*
 * Redis's used_memory, bytes (INFO memory), summed over the masters;
 * each master's in per (may be NULL). Each is read once no value is
 * still being freed: bench_clean()'s UNLINK frees a large value (a
 * queue's B:jobs of 100,000 fields) in a background thread, which would
 * otherwise shrink the figure of the next measurement. Waits at most 30 s
 * a master.
 */
static long long
bench_used_memory(struct bench *b, long long *per)
{
	redisReply *r;
	char buf[64];
	long long v, sum = 0;
	size_t m;
	int tries;

	for (m = 0; m < b->t.nmasters; m++) {
		for (tries = 0;; tries++) {
			r = bench_command_at(b, m, "INFO memory");
			if (bench_info_field(r->str, "lazyfree_pending_objects",
			    buf, sizeof buf) == NULL || strcmp(buf, "0") == 0 ||
			    tries == 3000)
				break;
			freeReplyObject(r);
			usleep(10000);
		}
		if (bench_info_field(r->str, "used_memory", buf,
		    sizeof buf) == NULL)
			bench_fatal("INFO memory of %s has no used_memory",
			    b->t.master[m].addr);
		v = strtoll(buf, NULL, 10);
		freeReplyObject(r);
		if (per != NULL)
			per[m] = v;
		sum += v;
	}
	return sum;
}

static void
bench_snap_free(struct bench_snap *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->name[i]);
	s->n = 0;
}

static int	bench_is_lua_command(const struct bench *, const char *);

/*
 * Read Redis's CPU time, per-command call counts and time, and, last, the
 * total of commands processed (so the INFO calls of this snapshot are
 * before it: see bench_idle()), master after master, adding them up.
 */
static void
bench_snap_take(struct bench *b, struct bench_snap *s)
{
	redisReply *r;
	const char *p, *colon, *calls, *usec;
	char buf[64], *name;
	long long nc, nu;
	double cpu;
	size_t m, i;

	memset(s, 0, sizeof *s);
	s->nm = b->t.nmasters;
	for (m = 0; m < b->t.nmasters; m++) {
		r = bench_command_at(b, m, "INFO cpu");
		if (bench_info_field(r->str, "used_cpu_user", buf,
		    sizeof buf) == NULL)
			bench_fatal("INFO cpu has no used_cpu_user");
		cpu = strtod(buf, NULL);
		if (bench_info_field(r->str, "used_cpu_sys", buf,
		    sizeof buf) == NULL)
			bench_fatal("INFO cpu has no used_cpu_sys");
		cpu += strtod(buf, NULL);
		freeReplyObject(r);
		s->m_cpu[m] = cpu;
		s->cpu += cpu;

		/* cmdstat_fcall:calls=12,usec=34,usec_per_call=2.83,... */
		r = bench_command_at(b, m, "INFO commandstats");
		for (p = r->str; (p = strstr(p, "cmdstat_")) != NULL;
		    p = colon) {
			p += strlen("cmdstat_");
			if ((colon = strchr(p, ':')) == NULL ||
			    (calls = strstr(colon, "calls=")) == NULL)
				break;
			usec = strstr(colon, "usec=");
			name = xstrndup(p, (size_t)(colon - p));
			nc = strtoll(calls + strlen("calls="), NULL, 10);
			nu = usec != NULL ? strtoll(usec + strlen("usec="),
			    NULL, 10) : 0;
			if (strcmp(name, "fcall_ro") == 0)
				s->m_ro_usec[m] = nu;
			if (strcmp(name, "info") != 0 &&
			    !bench_is_lua_command(b, name))
				s->m_client[m] += nc;
			for (i = 0; i < s->n; i++) {
				if (strcmp(s->name[i], name) == 0)
					break;
			}
			if (i == s->n) {
				if (s->n == BENCH_MAX_CMDS) {
					free(name);
					break;
				}
				s->name[s->n++] = name;
			} else
				free(name);
			s->calls[i] += nc;
			s->usec[i] += nu;
		}
		freeReplyObject(r);

		r = bench_command_at(b, m, "INFO stats");
		if (bench_info_field(r->str, "total_commands_processed", buf,
		    sizeof buf) == NULL)
			bench_fatal("INFO stats has no "
			    "total_commands_processed");
		s->total += strtoll(buf, NULL, 10);
		freeReplyObject(r);
	}
}

static size_t
bench_snap_find(const struct bench_snap *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		if (strcmp(s->name[i], name) == 0)
			return i;
	}
	return SIZE_MAX;
}

static long long
bench_snap_calls(const struct bench_snap *s, const char *name)
{
	size_t i = bench_snap_find(s, name);

	return i == SIZE_MAX ? 0 : s->calls[i];
}

static long long
bench_snap_usec(const struct bench_snap *s, const char *name)
{
	size_t i = bench_snap_find(s, name);

	return i == SIZE_MAX ? 0 : s->usec[i];
}

/*
 * Collect the names of the commands that a function library runs, from
 * its text: "redis.call('ZADD'" and so on. Called for the library
 * embedded in this build and for the floor scenario's.
 */
static void
bench_lua_commands(struct bench *b, const char *p)
{
	const char *q;
	char name[32];
	size_t n, i;

	while ((p = strstr(p, "redis.call('")) != NULL) {
		p += strlen("redis.call('");
		q = strchr(p, '\'');
		if (q == NULL || (n = (size_t)(q - p)) == 0 || n >= sizeof name)
			continue;
		for (i = 0; i < n; i++)
			name[i] = (char)tolower((unsigned char)p[i]);
		name[n] = '\0';
		for (i = 0; i < b->n_lua_cmds; i++) {
			if (strcmp(b->lua_cmds[i], name) == 0)
				break;
		}
		if (i == b->n_lua_cmds && i < nitems(b->lua_cmds))
			b->lua_cmds[b->n_lua_cmds++] = xstrdup(name);
	}
}

static int
bench_is_lua_command(const struct bench *b, const char *name)
{
	size_t i;

	for (i = 0; i < b->n_lua_cmds; i++) {
		if (strcmp(b->lua_cmds[i], name) == 0)
			return 1;
	}
	return 0;
}

/* Whether a command counted in INFO commandstats ran inside a script. */
static int
bench_is_inside(const struct bench *b, const char *name)
{
	static const char *const entry[] = {
		"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall",
		"fcall_ro", "bzpopmin", "bzpopmax", "blpop", "brpop",
		"brpoplpush", "blmove", "blmpop", "bzmpop", "multi", "exec",
		"ping", "client", "hello", "select", "auth", "script",
		"xread", "xreadgroup", "quit",
	};
	size_t i;

	switch (b->split) {
	case BENCH_SPLIT_REDJOB:
		return bench_is_lua_command(b, name);
	case BENCH_SPLIT_SCRIPTS:
		for (i = 0; i < nitems(entry); i++) {
			if (strcmp(entry[i], name) == 0)
				return 0;
		}
		return 1;
	case BENCH_SPLIT_CLIENT:
		break;
	}
	return 0;
}

/* ---------------------------------------------------------------------
 * Queue helpers, on the bench's connection to the queue's master.
 */

/*
 * Read a queue's counters with FCALL_RO redjob_stats, as "redjob stats"
 * does. Every call is counted in b->polls, so that a measurement can take
 * it and what it runs inside the function out of its figures.
 */
static void
bench_qstats(struct bench *b, const char *queue, struct bench_qstats *s)
{
	static const struct {
		const char	*name;
		size_t		 off;
	} fields[] = {
		{ "ready", offsetof(struct bench_qstats, ready) },
		{ "scheduled", offsetof(struct bench_qstats, scheduled) },
		{ "running", offsetof(struct bench_qstats, running) },
		{ "dead", offsetof(struct bench_qstats, dead) },
		{ "enqueued", offsetof(struct bench_qstats, enqueued) },
		{ "processed", offsetof(struct bench_qstats, processed) },
		{ "failed", offsetof(struct bench_qstats, failed) },
		{ "retried", offsetof(struct bench_qstats, retried) },
		{ "throttled", offsetof(struct bench_qstats, throttled) },
		{ "conflicts", offsetof(struct bench_qstats, conflicts) },
		{ "stalled", offsetof(struct bench_qstats, stalled) },
	};
	redisReply *r;
	const char *f;
	size_t i, k, m = bench_queue_master(b, queue);

	memset(s, 0, sizeof *s);
	b->polls++;
	b->t.master[m].polls++;
	r = bench_command_at(b, m, "FCALL_RO redjob_stats 1 %s:{%s}",
	    BENCH_NAMESPACE, queue);
	for (i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements;
	    i += 2) {
		if ((f = r->element[i]->str) == NULL)
			continue;
		for (k = 0; k < nitems(fields); k++) {
			if (strcmp(f, fields[k].name) == 0)
				*(long long *)((char *)s + fields[k].off) =
				    r->element[i + 1]->integer;
		}
	}
	freeReplyObject(r);
}

/*
 * Learn which commands one poll runs inside redjob_stats, by running one
 * with nothing else going on. The library must be loaded.
 */
static void
bench_calibrate_polls(struct bench *b)
{
	struct bench_snap s0, s1;
	struct bench_qstats qs;
	long long d;
	size_t i;

	bench_snap_take(b, &s0);
	bench_qstats(b, BENCH_QUEUE, &qs);
	bench_snap_take(b, &s1);
	for (i = 0; i < s1.n; i++) {
		if (!bench_is_lua_command(b, s1.name[i]))
			continue;
		d = s1.calls[i] - bench_snap_calls(&s0, s1.name[i]);
		if (d > 0 && b->n_poll_cmds < nitems(b->poll_cmds)) {
			b->poll_cmds[b->n_poll_cmds] = xstrdup(s1.name[i]);
			b->poll_calls[b->n_poll_cmds++] = d;
		}
	}
	bench_snap_free(&s0);
	bench_snap_free(&s1);
}

/* How many calls of name n polls ran inside redjob_stats. */
static long long
bench_poll_share(const struct bench *b, const char *name, long long n)
{
	size_t i;

	/* bench_bullmq_left(): two LLENs and three ZCARDs a poll. */
	if (b->peer_polling == BENCH_POLL_BULLMQ)
		return strcmp(name, "llen") == 0 ? 2 * n :
		    strcmp(name, "zcard") == 0 ? 3 * n : 0;
	/* The sidekiq scenario's: one LLEN. */
	if (b->peer_polling == BENCH_POLL_SIDEKIQ)
		return strcmp(name, "llen") == 0 ? n : 0;
	if (strcmp(name, "fcall_ro") == 0)
		return n;
	for (i = 0; i < b->n_poll_cmds; i++) {
		if (strcmp(b->poll_cmds[i], name) == 0)
			return n * b->poll_calls[i];
	}
	return 0;
}

/* FCALL a queue function that takes no arguments (pause, resume). */
static void
bench_queue_call(struct bench *b, const char *fn, const char *queue)
{
	freeReplyObject(bench_command_at(b, bench_queue_master(b, queue),
	    "FCALL %s 1 %s:{%s}", fn, BENCH_NAMESPACE, queue));
}

/*
 * The last error of one dead job of queue, to say why jobs fail.
 * Returns an allocated string, or NULL.
 */
static char *
bench_last_error(struct bench *b, const char *queue)
{
	redisReply *r, *s;
	char *err = NULL;
	size_t i, m = bench_queue_master(b, queue);

	r = bench_command_at(b, m, "FCALL_RO redjob_list 1 %s:{%s} dead 0 1",
	    BENCH_NAMESPACE, queue);
	if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
	    r->element[0]->type == REDIS_REPLY_ARRAY &&
	    r->element[0]->elements > 0) {
		s = bench_command_at(b, m, "FCALL_RO redjob_show 1 %s:{%s} %s",
		    BENCH_NAMESPACE, queue, r->element[0]->element[0]->str);
		for (i = 0; s->type == REDIS_REPLY_ARRAY &&
		    i + 1 < s->elements; i += 2) {
			if (strcmp(s->element[i]->str, "last_error") == 0)
				err = xstrdup(s->element[i + 1]->str);
		}
		freeReplyObject(s);
	}
	freeReplyObject(r);
	return err;
}

/* ---------------------------------------------------------------------
 * The daemon's processes.
 */

/*
 * Read utime+stime (and, with children, cutime+cstime) of pid from
 * /proc/PID/stat, in seconds, with its parent and name. Returns 0 or -1.
 * These count every thread of the process, a plugin's pool included.
 */
static int
bench_proc_stat(pid_t pid, double *self, double *children, pid_t *ppid,
    char *comm, size_t commlen)
{
	char path[64], buf[1024], *open, *close;
	unsigned long ut, st;
	long cut, cst, hz = sysconf(_SC_CLK_TCK);
	int pp;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	if (fgets(buf, sizeof buf, f) == NULL) {
		fclose(f);
		return -1;
	}
	fclose(f);
	if ((open = strchr(buf, '(')) == NULL ||
	    (close = strrchr(buf, ')')) == NULL)
		return -1;
	if (comm != NULL)
		snprintf(comm, commlen, "%.*s", (int)(close - open - 1),
		    open + 1);
	if (sscanf(close + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
	    "%lu %lu %ld %ld", &pp, &ut, &st, &cut, &cst) != 5)
		return -1;
	if (ppid != NULL)
		*ppid = (pid_t)pp;
	if (self != NULL)
		*self = (double)(ut + st) / (double)hz;
	if (children != NULL)
		*children = (double)(cut + cst) / (double)hz;
	return 0;
}

/* The pids of the workers: children of the daemon named redjobd. */
static int
bench_workers(const struct bench_daemon *d, pid_t *pids, int max)
{
	return proc_children(d->proc->pid, "redjobd", pids, max);
}

static void
bench_cpu_take(const struct bench_daemon *d, struct bench_cpu *c)
{
	pid_t pids[BENCH_MAX_PROCS];
	double self, children;
	int i, n;

	memset(c, 0, sizeof *c);
	if (bench_proc_stat(d->proc->pid, &self, NULL, NULL, NULL, 0) == 0)
		c->supervisor = self;
	n = bench_workers(d, pids, (int)nitems(pids));
	for (i = 0; i < n; i++) {
		if (bench_proc_stat(pids[i], &self, &children, NULL, NULL,
		    0) != 0)
			continue;
		c->workers += self;
		c->handlers += children;
		c->nworkers++;
	}
}

/* Read a "Name:   123 kB" line of /proc/PID/FILE; -1 if absent. */
static long
bench_proc_kb(pid_t pid, const char *file, const char *name)
{
	char path[64], line[256];
	size_t n = strlen(name);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/%s", (long)pid, file);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, name, n) == 0 && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

/* ---------------------------------------------------------------------
 * Running redjobd.
 */

/* Write s as a double-quoted YAML scalar. */
static char *
bench_yq(const char *s)
{
	char *out = NULL;

	bench_cat(&out, "\"");
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			bench_cat(&out, "\\%c", *s);
		else
			bench_cat(&out, "%c", *s);
	}
	bench_cat(&out, "\"");
	return out;
}

static long
bench_workers_opt(const struct bench *b, long dflt)
{
	return b->o.workers > 0 ? b->o.workers : dflt;
}

/*
 * The start of a daemon config: Redis, namespace, workers, slots, and
 * the queues served, the lines of the queues: mapping given (indented
 * by two). Caller appends limiters: and jobs:, and frees.
 */
static char *
bench_yaml_start(struct bench *b, long workers, const char *queues)
{
	char *y = NULL, *url = bench_yq(b->t.url);

	bench_cat(&y, "# Written by redjob-bench.\nredis:\n  url: %s\n"
	    "  namespace: %s\nworkers: %ld\nconcurrency: %ld\n", url,
	    BENCH_NAMESPACE, workers, b->o.concurrency);
	if (b->o.claim_batch > 0)
		bench_cat(&y, "batch: %ld\n", b->o.claim_batch);
	bench_cat(&y, "log_level: %s\nshutdown_timeout: 10s\nqueues:\n%s",
	    b->o.log_level, queues);
	free(url);
	return y;
}

/* The same, serving the bench queue, and the load queue if asked. */
static char *
bench_yaml_head(struct bench *b, long workers, int load_queue)
{
	char *q = NULL, *y;

	bench_cat(&q, "  %s: 1\n", BENCH_QUEUE);
	if (load_queue)
		bench_cat(&q, "  %s: 1\n", BENCH_LOAD_QUEUE);
	y = bench_yaml_start(b, workers, q);
	free(q);
	return y;
}

/* The handler of a no-op job type: /bin/true, or the plugin's noop. */
static void
bench_yaml_noop(struct bench *b, char **y, const char *type,
    const char *queue, int plugin)
{
	char *p;

	bench_cat(y, "  %s:\n    queue: %s\n    retry: { max_attempts: 1 }\n",
	    type, queue);
	if (plugin) {
		p = bench_yq(b->plugin);
		bench_cat(y, "    plugin: { path: %s, symbol: noop }\n", p);
		free(p);
	} else
		bench_cat(y, "    exec: [/bin/true]\n");
	/* Each job then ends with its own redjob_done, kept a day. */
	if (b->noop_result)
		bench_cat(y, "    result: {}\n");
}

/*
 * Check a config with "redjobd -t". Returns 0, or -1 with *cause set to
 * its diagnostics (caller frees).
 */
static int
bench_daemon_check(struct bench *b, const char *config, char **cause)
{
	char *argv[] = { b->redjobd, (char *)"-t", (char *)"-c",
	    (char *)config, NULL };
	struct proc_spec spec;
	struct proc *p;
	char *why = NULL;
	size_t n;

	memset(&spec, 0, sizeof spec);
	spec.argv = argv;
	spec.out = PROC_IO_CAPTURE;
	spec.err = PROC_IO_STDOUT;
	if ((p = proc_spawn(&spec, &why)) == NULL)
		bench_fatal("%s", why);
	if (proc_wait(p, BENCH_STOP_MS) != 0)
		bench_fatal("redjobd -t -c %s did not finish in %d s", config,
		    BENCH_STOP_MS / 1000);
	if (p->status == 0) {
		proc_free(p);
		return 0;
	}
	for (n = p->outlen; n > 0 && p->out[n - 1] == '\n'; n--)
		;
	xasprintf(cause, "redjobd -t -c %s: %.*s", config, (int)n, n > 0 ?
	    p->out : "failed");
	proc_free(p);
	return -1;
}

/* Print the last lines of the daemon's log, to say why it failed. */
static void
bench_daemon_log_tail(const struct bench_daemon *d)
{
	char buf[4096];
	long size;
	size_t n;
	FILE *f;

	if ((f = fopen(d->log, "r")) == NULL)
		return;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 :
	    0, SEEK_SET);
	n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fclose(f);
	fprintf(stderr, "redjob-bench: the end of %s:\n%s\n", d->log, buf);
}

/*
 * Write yaml to DIR/NAME.yml, check it with redjobd -t, start redjobd
 * with our notify socket and wait for READY=1. Returns the daemon, or
 * NULL with *cause set (caller frees) when the config is refused. A
 * daemon that does not become ready is fatal.
 */
static struct bench_daemon *
bench_daemon_start(struct bench *b, const char *name, const char *yaml,
    char **cause)
{
	struct bench_daemon *d;
	struct sockaddr_un sun;
	struct proc_spec spec;
	char buf[4096], *why = NULL;
	char *env[] = { NULL, (char *)"JOURNAL_STREAM",
	    (char *)"WATCHDOG_USEC", (char *)"WATCHDOG_PID", NULL };
	/* Run as root (CI containers), it must be told that is wanted. */
	char *argv[] = { b->redjobd, (char *)"-c", NULL,
	    geteuid() == 0 ? (char *)"--allow-root" : NULL, NULL };
	uint64_t deadline, now;
	ssize_t n;
	FILE *f;
	int r;

	d = xcalloc(1, sizeof *d);
	xasprintf(&d->config, "%s/%s.yml", b->dir, name);
	xasprintf(&d->log, "%s/%s.log", b->dir, name);
	xasprintf(&d->notify_path, "%s/notify.sock", b->dir);
	if ((f = fopen(d->config, "w")) == NULL ||
	    fputs(yaml, f) == EOF || fclose(f) != 0)
		bench_fatal("%s: %s", d->config, strerror(errno));
	argv[2] = d->config;
	if (bench_daemon_check(b, d->config, cause) != 0) {
		free(d->config);
		free(d->log);
		free(d->notify_path);
		free(d);
		return NULL;
	}

	unlink(d->notify_path);
	d->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (d->notify_fd == -1)
		bench_fatal("socket: %s", strerror(errno));
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(d->notify_path) >= sizeof sun.sun_path)
		bench_fatal("%s: path too long for a socket", d->notify_path);
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", d->notify_path);
	if (bind(d->notify_fd, (struct sockaddr *)&sun, sizeof sun) == -1)
		bench_fatal("bind %s: %s", d->notify_path, strerror(errno));

	xasprintf(&env[0], "NOTIFY_SOCKET=%s", d->notify_path);
	memset(&spec, 0, sizeof spec);
	spec.argv = argv;
	spec.out = PROC_IO_FILE;
	spec.out_path = d->log;
	spec.err = PROC_IO_STDOUT;
	spec.env = env;
	/* Die with us: a bench that fails leaves nothing running. */
	spec.deathsig = SIGTERM;
	d->proc = proc_spawn(&spec, &why);
	free(env[0]);
	if (d->proc == NULL)
		bench_fatal("%s", why);
	b->d = d;

	/* READY=1 once every worker is connected (redjobd(8)). */
	deadline = bench_now_ms() + BENCH_READY_MS;
	for (;;) {
		now = bench_now_ms();
		r = now >= deadline ? -1 : proc_wait_fd(d->proc, d->notify_fd,
		    (unsigned)(deadline - now));
		if (r == -1) {
			bench_daemon_log_tail(d);
			bench_fatal("redjobd sent no READY=1 within %d s",
			    BENCH_READY_MS / 1000);
		}
		if (r == 0) {
			bench_daemon_log_tail(d);
			bench_fatal("redjobd exited at start (status %d)",
			    d->proc->status);
		}
		if ((n = recv(d->notify_fd, buf, sizeof buf - 1,
		    MSG_DONTWAIT)) <= 0)
			continue;
		buf[n] = '\0';
		if (strncmp(buf, "READY=1", 7) == 0 ||
		    strstr(buf, "\nREADY=1") != NULL)
			break;
	}
	return d;
}

/*
 * Stop the daemon as systemd would (SIGTERM), wait for it and free d.
 * Returns its exit status.
 */
static int
bench_daemon_stop(struct bench *b, struct bench_daemon *d)
{
	uint64_t deadline = bench_now_ms() + BENCH_STOP_MS, now;
	char buf[4096];
	int status = -1, r;

	if (d == NULL)
		return 0;
	if (d->proc != NULL) {
		proc_signal(d->proc, SIGTERM);
		/* Read its notify socket meanwhile (see bench_wait_us). */
		for (;;) {
			now = bench_now_ms();
			r = now >= deadline ? -1 : proc_wait_fd(d->proc,
			    d->notify_fd, (unsigned)(deadline - now));
			if (r == 1) {
				while (recv(d->notify_fd, buf, sizeof buf,
				    MSG_DONTWAIT) > 0)
					;
				continue;
			}
			if (r == 0)
				status = d->proc->status;
			else
				fprintf(stderr, "redjob-bench: redjobd did not "
				    "exit within %d s of SIGTERM; killing it\n",
				    BENCH_STOP_MS / 1000);
			break;
		}
		proc_free(d->proc);
		d->proc = NULL;
	}
	if (status != 0)
		fprintf(stderr, "redjob-bench: redjobd exited with status %d; "
		    "see %s\n", status, d->log);
	close(d->notify_fd);
	unlink(d->notify_path);
	if (b->d == d)
		b->d = NULL;
	free(d->config);
	free(d->log);
	free(d->notify_path);
	free(d);
	return status;
}

static void
bench_kill_children(struct bench *b)
{
	size_t i;

	bench_perf_stop(b);
	proc_free(b->feeder);
	b->feeder = NULL;
	if (b->d != NULL) {
		proc_free(b->d->proc);
		b->d->proc = NULL;
	}
	for (i = 0; i < b->nnodes; i++)
		proc_free(b->node[i]);
	b->nnodes = 0;
}

/* ---------------------------------------------------------------------
 * Measuring and reporting.
 */

/*
 * With --perf or --during: profile (perf record -g) or watch (any
 * command) our redis-server and the daemon's processes from here to
 * bench_end(). perf also follows the handlers they fork. Each
 * measurement gets its own perf file, FILE.1, FILE.2, ...
 */
static void
bench_perf_start(struct bench *b)
{
	static int seq;
	pid_t pids[BENCH_MAX_PROCS];
	char *list = NULL, *workers = NULL, *file = NULL, *why = NULL;
	char *perf_argv[] = { (char *)"perf", (char *)"record", (char *)"-q",
	    (char *)"-F", (char *)"2999", (char *)"-g", (char *)"-o", NULL,
	    (char *)"-p", NULL, NULL };
	char *sh_argv[] = { (char *)"/bin/sh", (char *)"-c", NULL, NULL };
	char *env[5] = { NULL, NULL, NULL, NULL, NULL };
	struct proc_spec spec;
	int i, n;

	if (b->o.perf == NULL && b->o.during == NULL)
		return;
	/* Scenarios with no daemon (enqueue, floor): Redis alone. */
	if (b->d == NULL && b->redis == NULL && b->nnodes == 0)
		return;
	if (b->redis != NULL)
		bench_cat(&list, "%ld,", (long)b->redis->pid);
	for (i = 0; i < (int)b->nnodes; i++)
		bench_cat(&list, "%ld,", (long)b->node[i]->pid);
	if (b->d != NULL)
		bench_cat(&list, "%ld", (long)b->d->proc->pid);
	else
		list[strlen(list) - 1] = '\0';	/* the last comma */
	n = b->d != NULL ? bench_workers(b->d, pids, (int)nitems(pids)) : 0;
	for (i = 0; i < n; i++) {
		bench_cat(&list, ",%ld", (long)pids[i]);
		bench_cat(&workers, "%s%ld", i > 0 ? " " : "", (long)pids[i]);
	}
	if (b->o.perf != NULL) {
		xasprintf(&file, "%s.%d", b->o.perf, ++seq);
		fprintf(b->out, "perf record -g -p %s -o %s\n", list, file);
	} else
		fprintf(b->out, "running: %s\n", b->o.during);
	memset(&spec, 0, sizeof spec);
	spec.pgroup = 1;
	spec.deathsig = SIGINT;
	if (file != NULL) {
		spec.argv = perf_argv;
		perf_argv[7] = file;
		perf_argv[9] = list;
	} else {
		spec.argv = sh_argv;
		sh_argv[2] = (char *)b->o.during;
		xasprintf(&env[0], "BENCH_PIDS=%s", list);
		xasprintf(&env[1], "BENCH_WORKER_PIDS=%s", workers != NULL ?
		    workers : "");
		/* The cluster scenario's first node while it runs. */
		xasprintf(&env[2], "BENCH_REDIS_PID=%ld", b->nnodes > 0 ?
		    (long)b->node[0]->pid : b->redis != NULL ?
		    (long)b->redis->pid : -1L);
		xasprintf(&env[3], "BENCH_SUPERVISOR_PID=%ld", b->d != NULL ?
		    (long)b->d->proc->pid : -1L);
		spec.env = env;
	}
	if ((b->perf = proc_spawn(&spec, &why)) == NULL)
		bench_fatal("%s", why);
	for (i = 0; i < 4; i++)
		free(env[i]);
	free(list);
	free(workers);
	free(file);
	/* Give it a moment to attach; the queue is still paused. */
	bench_wait_ms(b, 500);
}

static void
bench_perf_stop(struct bench *b)
{
	/* perf writes its file on SIGINT, to its whole group. */
	(void)proc_stop(b->perf, SIGINT, BENCH_STOP_MS);
	b->perf = NULL;
}

/* Start measuring: Redis's counters, the daemon's CPU, then the clock. */
static void
bench_begin(struct bench *b)
{
	size_t m;

	bench_perf_start(b);
	bench_snap_take(b, &b->before);
	if (b->d != NULL)
		bench_cpu_take(b->d, &b->cpu_before);
	b->polls_before = b->polls;
	for (m = 0; m < b->t.nmasters; m++)
		b->m_polls_before[m] = b->t.master[m].polls;
	clock_gettime(CLOCK_MONOTONIC, &b->t0);
}

/*
 * The command line that reproduces one result: this program with the
 * scenario, the variant and the options that matter to it. Caller frees.
 */
static char *
bench_cmdline(struct bench *b, const char *scenario, const char *variant,
    long jobs, int flags)
{
	char *cmd = NULL;

	bench_cat(&cmd, "%s --scenario %s --variant %s", b->argv0, scenario,
	    variant);
	if (jobs > 0)
		bench_cat(&cmd, " -n %ld", jobs);
	if (flags & BENCH_CL_ENQUEUE)
		bench_cat(&cmd, " -b %ld --payload-size %ld", b->o.batch,
		    b->o.payload);
	if (flags & BENCH_CL_DAEMON) {
		if (b->o.workers > 0)
			bench_cat(&cmd, " --workers %ld", b->o.workers);
		bench_cat(&cmd, " --concurrency %ld", b->o.concurrency);
		if (b->o.claim_batch > 0)
			bench_cat(&cmd, " --batch %ld", b->o.claim_batch);
		if (strcmp(b->o.log_level, "info") != 0)
			bench_cat(&cmd, " --log-level %s", b->o.log_level);
	}
	if (flags & BENCH_CL_LATENCY)
		bench_cat(&cmd, " --samples %ld --gap %ld-%ld --delay %ld "
		    "--load-rate %ld", b->o.samples, b->o.gap_min_ms,
		    b->o.gap_max_ms, b->o.delay_ms, b->o.load_rate);
	if ((flags & BENCH_CL_DELAY) && !(flags & BENCH_CL_LATENCY))
		bench_cat(&cmd, " --delay %ld", b->o.delay_ms);
	if (flags & BENCH_CL_IDLE)
		bench_cat(&cmd, " --idle-seconds %ld", b->o.idle_secs);
	if (flags & BENCH_CL_HANDLER)
		bench_cat(&cmd, " --handler %s", b->o.handler);
	if ((flags & BENCH_CL_PEERS) && b->o.peers != NULL)
		bench_cat(&cmd, " --peers %s", b->o.peers);
	if (b->o.breakdown)
		bench_cat(&cmd, " --breakdown");
	if (b->o.redjobd != NULL)
		bench_cat(&cmd, " --redjobd %s", b->o.redjobd);
	if (b->o.plugin != NULL)
		bench_cat(&cmd, " --plugin %s", b->o.plugin);
	if (b->o.probe != NULL)
		bench_cat(&cmd, " --probe %s", b->o.probe);
	/* The cluster scenario starts its own, from --redis-server. */
	if (b->o.url != NULL && strcmp(scenario, "cluster") != 0)
		bench_cat(&cmd, " -u %s", b->o.url);
	else
		bench_cat(&cmd, " --redis-server %s", b->o.redis_server);
	return cmd;
}

/* Start a result object with the fields every result has. */
static json_t *
bench_result(struct bench *b, const char *scenario, const char *variant)
{
	json_t *res;

	res = json_pack("{s:s, s:s, s:I}", "scenario", scenario, "variant",
	    variant, "run", (json_int_t)b->run);
	if (res == NULL)
		bench_fatal("cannot build the JSON result");
	return res;
}

/*
 * Finish a result: print the command line, store it with the figure that
 * ranks runs of this variant against each other ("best of --repeat"),
 * and append the result to the JSON results. Takes res and cmd.
 */
static void
bench_record(struct bench *b, json_t *res, char *cmd, const char *primary,
    int higher_is_better)
{
	fprintf(b->out, "  reproduce: %s\n", cmd);
	fflush(b->out);
	json_object_set_new(res, "command", json_string(cmd));
	json_object_set_new(res, "primary", json_string(primary));
	json_object_set_new(res, "primary_higher_is_better",
	    json_boolean(higher_is_better));
	json_array_append_new(b->results, res);
	free(cmd);
}

/* Record a variant that could not run, and why. */
static void
bench_unavailable(struct bench *b, const char *scenario, const char *variant,
    const char *why, char *cmd)
{
	json_t *res = bench_result(b, scenario, variant);

	fprintf(b->out, "%s/%s: unavailable: %s\n", scenario, variant, why);
	json_object_set_new(res, "unavailable", json_string(why));
	fprintf(b->out, "  reproduce: %s\n", cmd);
	json_object_set_new(res, "command", json_string(cmd));
	json_array_append_new(b->results, res);
	free(cmd);
}

/*
 * On a cluster: each master's Redis CPU and client calls per job, and
 * its share of the CPU of all, less the bench's polls on it as in the
 * sums (bench_end()).
 */
static void
bench_end_masters(struct bench *b, json_t *res, const struct bench_snap *a,
    long jobs)
{
	const struct bench_snap *s0 = &b->before;
	double cpu[BENCH_MAX_MASTERS], ro, total = 0;
	long long calls, polls;
	json_t *mj;
	size_t m;

	if (s0->nm != a->nm)
		bench_fatal("the masters changed during a measurement");
	for (m = 0; m < a->nm; m++) {
		cpu[m] = a->m_cpu[m] - s0->m_cpu[m];
		polls = b->t.master[m].polls - b->m_polls_before[m];
		ro = (double)(a->m_ro_usec[m] - s0->m_ro_usec[m]) / 1e6;
		if (polls > 0 && ro > 0 && ro < cpu[m])
			cpu[m] -= ro;
		total += cpu[m];
	}
	mj = json_array();
	fprintf(b->out, "  per master (INFO cpu and commandstats of each):\n");
	for (m = 0; m < a->nm; m++) {
		polls = b->t.master[m].polls - b->m_polls_before[m];
		calls = a->m_client[m] - s0->m_client[m] - polls;
		json_array_append_new(mj, json_pack("{s:s, s:f, s:f, s:f}",
		    "master", b->t.master[m].addr,
		    "redis_cpu_us_per_job", cpu[m] * 1e6 / (double)jobs,
		    "redis_cpu_share", total > 0 ? cpu[m] / total : 0.0,
		    "client_calls_per_job", (double)calls / (double)jobs));
		fprintf(b->out, "  %12.2f us of Redis CPU per job (%4.1f %%), "
		    "%.4f client calls per job: %s\n", cpu[m] * 1e6 /
		    (double)jobs, total > 0 ? cpu[m] / total * 100 : 0.0,
		    (double)calls / (double)jobs, b->t.master[m].addr);
	}
	json_object_set_new(res, "masters", mj);
}

/*
 * Stop measuring and build the result of jobs jobs: jobs/s, Redis CPU,
 * client calls and commands run inside functions per job, and the
 * daemon's CPU if one runs. The bench's own calls (INFO, and the polls
 * of redjob_stats with what they run and their time) are left out.
 * Prints the figures; the caller adds its own, then bench_record()s.
 */
static json_t *
bench_end(struct bench *b, const char *scenario, const char *variant,
    long jobs)
{
	struct bench_snap after;
	struct bench_cpu cpu1;
	double secs, cpu, per_job, poll_cpu;
	long long client = 0, inside = 0, d, polls;
	json_t *res, *cj, *ij, *dj;
	char *cs, *is;
	size_t i;

	secs = bench_elapsed(&b->t0);
	bench_perf_stop(b);
	bench_snap_take(b, &after);
	if (b->d != NULL)
		bench_cpu_take(b->d, &cpu1);
	polls = b->polls - b->polls_before;
	cpu = after.cpu - b->before.cpu;
	/* The polls' time in Redis: all FCALL_RO's, as only we call it. */
	poll_cpu = (double)(bench_snap_usec(&after, "fcall_ro") -
	    bench_snap_usec(&b->before, "fcall_ro")) / 1e6;
	if (polls > 0 && poll_cpu > 0 && poll_cpu < cpu)
		cpu -= poll_cpu;

	cj = json_object();
	ij = json_object();
	for (i = 0; i < after.n; i++) {
		if (strcmp(after.name[i], "info") == 0)
			continue;
		d = after.calls[i] - bench_snap_calls(&b->before,
		    after.name[i]);
		d -= bench_poll_share(b, after.name[i], polls);
		if (d <= 0)
			continue;
		if (bench_is_inside(b, after.name[i])) {
			inside += d;
			json_object_set_new(ij, after.name[i], json_integer(d));
		} else {
			client += d;
			json_object_set_new(cj, after.name[i], json_integer(d));
		}
	}
	cs = json_dumps(cj, JSON_COMPACT | JSON_SORT_KEYS);
	is = json_dumps(ij, JSON_COMPACT | JSON_SORT_KEYS);

	per_job = cpu * 1e6 / (double)jobs;
	res = bench_result(b, scenario, variant);
	json_object_update_new(res, json_pack("{s:I, s:f, s:f, s:f, s:f, s:f, "
	    "s:o, s:o, s:I}",
	    "jobs", (json_int_t)jobs,
	    "seconds", secs,
	    "jobs_per_s", jobs / secs,
	    "redis_cpu_us_per_job", per_job,
	    "client_calls_per_job", (double)client / (double)jobs,
	    "function_commands_per_job", (double)inside / (double)jobs,
	    "client_calls", cj,
	    "function_commands", ij,
	    "stats_polls", (json_int_t)polls));

	fprintf(b->out, "%s/%s: %ld jobs in %.3f s\n", scenario, variant, jobs,
	    secs);
	fprintf(b->out, "  %12.0f jobs/s\n", jobs / secs);
	fprintf(b->out, "  %12.2f us of Redis CPU per job (INFO cpu: "
	    "used_cpu_user + used_cpu_sys)\n", per_job);
	fprintf(b->out, "  %12.4f client calls per job (INFO commandstats: "
	    "%s)\n", (double)client / (double)jobs, cs != NULL ? cs : "?");
	fprintf(b->out, "  %12.4f commands run inside functions per job "
	    "(%s)\n", (double)inside / (double)jobs, is != NULL ? is : "?");
	if (b->d != NULL) {
		double sup = cpu1.supervisor - b->cpu_before.supervisor;
		double wrk = cpu1.workers - b->cpu_before.workers;
		double hnd = cpu1.handlers - b->cpu_before.handlers;

		dj = json_pack("{s:f, s:f, s:f, s:f, s:i}",
		    "supervisor_us_per_job", sup * 1e6 / (double)jobs,
		    "workers_us_per_job", wrk * 1e6 / (double)jobs,
		    "handlers_us_per_job", hnd * 1e6 / (double)jobs,
		    "cpu_utilisation", (cpu + sup + wrk + hnd) / secs,
		    "workers", cpu1.nworkers);
		json_object_set_new(res, "daemon_cpu", dj);
		fprintf(b->out, "  %12.2f us of worker CPU per job, %.2f of "
		    "the supervisor's, %.2f in handler processes (/proc: "
		    "utime+stime, cutime+cstime)\n", wrk * 1e6 / (double)jobs,
		    sup * 1e6 / (double)jobs, hnd * 1e6 / (double)jobs);
		fprintf(b->out, "  %12.2f CPUs busy on average (Redis + "
		    "daemon + handlers)\n", (cpu + sup + wrk + hnd) / secs);
	}
	if (b->t.cluster)
		bench_end_masters(b, res, &after, jobs);
	free(cs);
	free(is);
	bench_snap_free(&after);
	bench_snap_free(&b->before);
	return res;
}

/*
 * With --breakdown: log every command in Redis's slowlog (threshold 0),
 * so that bench_breakdown_end() can count the FCALLs per function. This
 * costs Redis time and memory (Redis 7.0 logs the commands functions run
 * as well, about 40 entries a job at most): the CPU figures of such a
 * run are high, and a few thousand jobs (-n 5000) are enough.
 */
static void
bench_breakdown_begin(struct bench *b, long jobs)
{
	long max = jobs * 40 + 10000;

	size_t m;

	if (!b->o.breakdown)
		return;
	if (max > 10000000)
		max = 10000000;
	for (m = 0; m < b->t.nmasters; m++) {
		freeReplyObject(bench_command_at(b, m, "CONFIG SET "
		    "slowlog-max-len %ld", max));
		freeReplyObject(bench_command_at(b, m, "SLOWLOG RESET"));
		freeReplyObject(bench_command_at(b, m, "CONFIG SET "
		    "slowlog-log-slower-than 0"));
	}
}

static void
bench_breakdown_end(struct bench *b, json_t *res, long jobs)
{
	redisReply *r, *e, *av;
	json_t *fj;
	const char *k;
	json_t *v;
	char name[160];
	size_t i, m;

	if (!b->o.breakdown)
		return;
	fj = json_object();
	for (m = 0; m < b->t.nmasters; m++) {
		freeReplyObject(bench_command_at(b, m, "CONFIG SET "
		    "slowlog-log-slower-than 10000"));
		r = bench_command_at(b, m, "SLOWLOG GET -1");
		for (i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements;
		    i++) {
			e = r->element[i];
			if (e->type != REDIS_REPLY_ARRAY || e->elements < 4 ||
			    (av = e->element[3])->type != REDIS_REPLY_ARRAY ||
			    av->elements < 1)
				continue;
			/* Redis 7.0 logs what functions run, too: skip. */
			snprintf(name, sizeof name, "%s", av->element[0]->str);
			for (k = name; *k != '\0'; k++)
				name[k - name] =
				    (char)tolower((unsigned char)*k);
			if (strcmp(name, "slowlog") == 0 ||
			    strcmp(name, "config") == 0 ||
			    strcmp(name, "info") == 0 ||
			    bench_is_lua_command(b, name))
				continue;
			if (av->elements >= 2 &&
			    (strcasecmp(av->element[0]->str, "fcall") == 0 ||
			    strcasecmp(av->element[0]->str, "fcall_ro") == 0))
				snprintf(name, sizeof name, "%s %s",
				    av->element[0]->str, av->element[1]->str);
			else
				snprintf(name, sizeof name, "%s",
				    av->element[0]->str);
			for (k = name; *k != '\0'; k++)
				name[k - name] =
				    (char)tolower((unsigned char)*k);
			v = json_object_get(fj, name);
			json_object_set_new(fj, name, json_integer(v != NULL ?
			    json_integer_value(v) + 1 : 1));
		}
		freeReplyObject(r);
		freeReplyObject(bench_command_at(b, m, "SLOWLOG RESET"));
	}
	/* The polls are ours. */
	if ((v = json_object_get(fj, "fcall_ro redjob_stats")) != NULL)
		json_object_del(fj, "fcall_ro redjob_stats");
	fprintf(b->out, "  calls per job by function (SLOWLOG, threshold 0; "
	    "the CPU figures above include its cost):\n");
	json_object_foreach(fj, k, v)
		fprintf(b->out, "  %12.4f %s\n", (double)json_integer_value(v) /
		    (double)jobs, k);
	json_object_set_new(res, "calls_by_function", fj);
}

/*
 * Delete the keys SCAN found on master m: with one UNLINK, or on a
 * cluster, where one command may only name keys of one slot, with one
 * UNLINK per key, pipelined.
 */
static void
bench_unlink(struct bench *b, size_t m, const redisReply *keys)
{
	redisContext *c = b->t.master[m].c;
	const char **av;
	redisReply *d;
	size_t i, n = keys->elements, k;

	av = xcalloc(n + 1, sizeof *av);
	av[0] = "UNLINK";
	for (i = 0; i < n; i++)
		av[i + 1] = keys->element[i]->str;
	if (!b->t.cluster) {
		if (redisAppendCommandArgv(c, (int)n + 1, av, NULL) != 0)
			bench_fatal("UNLINK: %s", c->errstr);
		k = 1;
	} else {
		for (i = 0; i < n; i++) {
			av[1] = keys->element[i]->str;
			if (redisAppendCommandArgv(c, 2, av, NULL) != 0)
				bench_fatal("UNLINK: %s", c->errstr);
		}
		k = n;
	}
	for (i = 0; i < k; i++) {
		if (redisGetReply(c, (void **)&d) != REDIS_OK || d == NULL)
			bench_fatal("UNLINK on %s: %s", b->t.master[m].addr,
			    c->errstr);
		if (d->type == REDIS_REPLY_ERROR)
			bench_fatal("UNLINK on %s: %s", b->t.master[m].addr,
			    d->str);
		freeReplyObject(d);
	}
	free(av);
}

/*
 * Delete every key of the bench's namespace and its queue registry, on
 * every master.
 */
static void
bench_clean(struct bench *b)
{
	redisReply *r;
	char cursor[32];
	size_t m;

	for (m = 0; m < b->t.nmasters; m++) {
		snprintf(cursor, sizeof cursor, "0");
		do {
			r = bench_command_at(b, m, "SCAN %s MATCH %s:* "
			    "COUNT 1000", cursor, BENCH_NAMESPACE);
			snprintf(cursor, sizeof cursor, "%s",
			    r->element[0]->str);
			if (r->element[1]->elements > 0)
				bench_unlink(b, m, r->element[1]);
			freeReplyObject(r);
		} while (strcmp(cursor, "0") != 0);
	}
}

/*
 * Connect the bench's own connection to one more master of b->t: the
 * socket path, or host:port, with the URL's credentials and database.
 */
static void
bench_master_add(struct bench *b, const struct url *u, const char *host,
    int port, const char *path)
{
	struct bench_master *bm;
	redisReply *r;

	if (b->t.nmasters == BENCH_MAX_MASTERS)
		bench_fatal("%s: more than %d masters", b->t.url,
		    BENCH_MAX_MASTERS);
	bm = &b->t.master[b->t.nmasters];
	memset(bm, 0, sizeof *bm);
	if (path != NULL && *path != '\0') {
		snprintf(bm->addr, sizeof bm->addr, "%s", path);
		bm->c = redisConnectUnix(path);
	} else {
		snprintf(bm->addr, sizeof bm->addr, "%s:%d", host, port);
		bm->c = redisConnect(host, port);
	}
	if (bm->c == NULL || bm->c->err != 0)
		bench_fatal("cannot connect to %s: %s", bm->addr,
		    bm->c != NULL ? bm->c->errstr : "out of memory");
	b->t.nmasters++;
	if (u != NULL && u->password[0] != '\0') {
		if (u->user[0] != '\0')
			r = bench_command_at(b, b->t.nmasters - 1,
			    "AUTH %s %s", u->user, u->password);
		else
			r = bench_command_at(b, b->t.nmasters - 1, "AUTH %s",
			    u->password);
		freeReplyObject(r);
	}
	if (u != NULL && u->db != 0)
		freeReplyObject(bench_command_at(b, b->t.nmasters - 1,
		    "SELECT %d", u->db));
}

/*
 * Learn a cluster's masters from the first seed of u that answers
 * CLUSTER SLOTS, and connect to each of them.
 */
static void
bench_cluster_masters(struct bench *b, const struct url *u)
{
	redisContext *c;
	redisReply *r = NULL;
	char err[256], *why = NULL;
	size_t i, seed = 0;

	b->t.map = xcalloc(1, sizeof *b->t.map);
	for (i = 0; i < u->nnodes && r == NULL; i++) {
		c = redisConnect(u->nodes[i].host, u->nodes[i].port);
		if (c == NULL || c->err != 0) {
			bench_cat(&why, "; %s:%d: %s", u->nodes[i].host,
			    u->nodes[i].port, c != NULL ? c->errstr :
			    "out of memory");
			redisFree(c);
			continue;
		}
		if (u->password[0] != '\0')
			freeReplyObject(u->user[0] != '\0' ?
			    redisCommand(c, "AUTH %s %s", u->user,
			    u->password) : redisCommand(c, "AUTH %s",
			    u->password));
		r = redisCommand(c, "CLUSTER SLOTS");
		if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
			bench_cat(&why, "; %s:%d: CLUSTER SLOTS: %s",
			    u->nodes[i].host, u->nodes[i].port, r == NULL ?
			    c->errstr : r->type == REDIS_REPLY_ERROR ?
			    r->str : "not an array");
			freeReplyObject(r);
			r = NULL;
		} else
			seed = i;
		redisFree(c);
	}
	if (r == NULL)
		bench_fatal("no seed of %s gives the slot map%s", b->t.url,
		    why != NULL ? why : "");
	free(why);
	if (cluster_map_read(b->t.map, r, err, sizeof err) != 0)
		bench_fatal("%s: CLUSTER SLOTS: %s", b->t.url, err);
	freeReplyObject(r);
	if (b->t.map->covered != CLUSTER_SLOTS)
		bench_fatal("%s: %zu of %d slots have no master (CLUSTERDOWN)",
		    b->t.url, CLUSTER_SLOTS - b->t.map->covered,
		    CLUSTER_SLOTS);
	/* No host: the node does not know its own, it is the seed's. */
	for (i = 0; i < b->t.map->nnodes; i++)
		bench_master_add(b, u, b->t.map->node[i].host[0] != '\0' ?
		    b->t.map->node[i].host : u->nodes[seed].host,
		    b->t.map->node[i].port, NULL);
}

/*
 * Load the function library on master m unless it holds ours, as
 * libredjob does on the masters it talks to: a queue call of the bench
 * may come first (the pause before a fill).
 */
static void
bench_library(struct bench *b, size_t m)
{
	const char *argv[RFUNC_LOAD_ARGC];
	size_t lens[RFUNC_LOAD_ARGC];
	redisContext *c = b->t.master[m].c;
	redisReply *r;
	char msg[256];
	int n, load;

	n = rfunc_version_argv(argv, lens);
	if ((r = redisCommandArgv(c, n, argv, lens)) == NULL)
		bench_fatal("redis %s: %s", b->t.master[m].addr, c->errstr);
	if (r->type == REDIS_REPLY_ERROR) {
		if (rfunc_classify(r) != RFUNC_NOLIB)
			bench_fatal("redis %s: %s", b->t.master[m].addr,
			    r->str);
		load = 1;
	} else {
		switch (rfunc_version_check(r, msg, sizeof msg)) {
		case RFUNC_VERSION_OK:
			load = 0;
			break;
		case RFUNC_VERSION_OLDER:
			load = 1;
			break;
		default:
			bench_fatal("redis %s: %s", b->t.master[m].addr, msg);
		}
	}
	freeReplyObject(r);
	if (!load)
		return;
	n = rfunc_load_argv(argv, lens);
	if ((r = redisCommandArgv(c, n, argv, lens)) == NULL)
		bench_fatal("redis %s: %s", b->t.master[m].addr, c->errstr);
	if (r->type == REDIS_REPLY_ERROR)
		bench_fatal("redis %s: FUNCTION LOAD: %s", b->t.master[m].addr,
		    r->str);
	freeReplyObject(r);
}

/*
 * Make url what the scenarios run against: a Redis, or every master of
 * a redis+cluster:// (from its slot map), each with the library.
 */
static void
bench_target_connect(struct bench *b, const char *url)
{
	struct url u;
	char err[256];
	size_t m;

	if (url_parse(url, &u, err, sizeof err) != 0)
		bench_fatal("%s", err);
	memset(&b->t, 0, sizeof b->t);
	b->t.url = xstrdup(url);
	if (u.sentinel)
		bench_fatal("%s: the bench reads Redis's figures from the "
		    "master itself: give its redis:// URL", url);
	if (u.cluster) {
		b->t.cluster = 1;
		bench_cluster_masters(b, &u);
	} else {
		bench_master_add(b, &u, u.host, u.port, u.path);
		/* The peers' scripts connect to a -u Redis by its path. */
		if (b->sock == NULL && u.path[0] != '\0')
			b->sock = xstrdup(u.path);
	}
	explicit_bzero(u.password, sizeof u.password);
	for (m = 0; m < b->t.nmasters; m++)
		bench_library(b, m);
}

static void
bench_target_free(struct bench_target *t)
{
	size_t m;

	for (m = 0; m < t->nmasters; m++)
		redisFree(t->master[m].c);
	free(t->map);
	free(t->url);
	memset(t, 0, sizeof *t);
}

/* Start a private redis-server in b->dir and wait until it answers PING. */
static void
bench_spawn_redis(struct bench *b)
{
	char *cause = NULL, *url;

	xasprintf(&b->sock, "%s/redis.sock", b->dir);
	xasprintf(&url, "unix://%s", b->sock);
	b->redis = redis_server_start(b->o.redis_server, b->dir, NULL, 10000,
	    &cause);
	if (b->redis == NULL)
		bench_fatal("%s", cause);
	bench_target_connect(b, url);
	free(url);
}

static void
bench_stop_redis(struct bench *b)
{
	(void)proc_stop(b->redis, SIGTERM, BENCH_STOP_MS);
	b->redis = NULL;
}

static int
bench_rm_cb(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) != 0)
		fprintf(stderr, "redjob-bench: remove %s: %s\n", path,
		    strerror(errno));
	return 0;
}

static struct redjob_client *
bench_client(struct bench *b)
{
	struct redjob_client *c;

	c = redjob_connect(b->t.url, BENCH_NAMESPACE);
	if (c == NULL)
		bench_fatal("out of memory");
	if (redjob_errcode(c) != REDJOB_OK)
		bench_fatal("%s", redjob_errstr(c));
	return c;
}

static long
bench_jobs(const struct bench *b, long dflt)
{
	return b->o.jobs > 0 ? b->o.jobs : dflt;
}

static char *
bench_payload(const struct bench *b)
{
	char *payload = xmalloc((size_t)b->o.payload + 1);

	memset(payload, 'x', (size_t)b->o.payload);
	payload[b->o.payload] = '\0';
	return payload;
}

/*
 * Enqueue n jobs of type into queue with redjob_enqueue_many() in batches
 * of -b. keymode: 0 no key, 1 a key per job ("k1", "k2", ...).
 */
static void
bench_fill(struct bench *b, struct redjob_client *c, const char *queue,
    const char *type, long n, int keymode)
{
	struct redjob_job *jobs;
	struct redjob_result *res;
	char *payload = bench_payload(b), (*keys)[24] = NULL;
	long i, k, done = 0, batch = b->o.batch;

	jobs = xcalloc((size_t)batch, sizeof *jobs);
	res = xcalloc((size_t)batch, sizeof *res);
	if (keymode)
		keys = xcalloc((size_t)batch, sizeof *keys);
	for (i = 0; i < batch; i++) {
		jobs[i].queue = queue;
		jobs[i].type = type;
		jobs[i].payload = payload;
		jobs[i].payload_len = (size_t)b->o.payload;
		jobs[i].delay_ms = b->fill_delay_ms;
	}
	while (done < n) {
		k = n - done < batch ? n - done : batch;
		for (i = 0; keymode && i < k; i++) {
			snprintf(keys[i], sizeof keys[i], "k%ld", done + i);
			jobs[i].key = keys[i];
		}
		if (redjob_enqueue_many(c, jobs, (size_t)k, res) != k)
			bench_fatal("enqueue_many: %s", redjob_errstr(c));
		done += k;
	}
	free(keys);
	free(jobs);
	free(res);
	free(payload);
}

/* ---------------------------------------------------------------------
 * enqueue
 */

/*
 * The enqueue scenario. "single": N calls of redjob_enqueue(), one round
 * trip each. "pipelined": redjob_enqueue_many() with B jobs a call, one
 * round trip per batch.
 */
static int
bench_enqueue(struct bench *b, const char *variant)
{
	struct redjob_client *c;
	struct redjob_job job;
	char *payload, id[REDJOB_ID_MAX];
	long i, n = bench_jobs(b, 100000);
	int pipelined = strcmp(variant, "pipelined") == 0;
	long long mem0, mem, m0[BENCH_MAX_MASTERS], m1[BENCH_MAX_MASTERS];
	json_t *res, *mj;
	size_t m;
	const char *queue = pipelined ? "bench-pipelined" : "bench-single";

	payload = bench_payload(b);
	memset(&job, 0, sizeof job);
	job.queue = queue;
	job.type = "bench";
	job.payload = payload;
	job.payload_len = (size_t)b->o.payload;
	bench_clean(b);
	c = bench_client(b);
	/* Register the queue outside the measurement: once per client. */
	if (redjob_enqueue(c, &job, id) != 0)
		bench_fatal("enqueue: %s", redjob_errstr(c));
	mem0 = bench_used_memory(b, m0);

	bench_begin(b);
	if (pipelined)
		bench_fill(b, c, queue, "bench", n, 0);
	else {
		for (i = 0; i < n; i++) {
			if (redjob_enqueue(c, &job, id) != 0)
				bench_fatal("enqueue: %s", redjob_errstr(c));
		}
	}
	res = bench_end(b, "enqueue", variant, n);
	/*
	 * What an operator sizes a Redis by: used_memory grown per waiting
	 * job (its entry in B:jobs, or its hash, its entry in due, its
	 * share of the queue's keys).
	 */
	mem = bench_used_memory(b, m1) - mem0;
	fprintf(b->out, "  %12.1f bytes of Redis memory per waiting job (INFO "
	    "memory: used_memory, %ld jobs of %ld-byte payloads)\n",
	    (double)mem / n, n, b->o.payload);
	json_object_set_new(res, "redis_bytes_per_job",
	    json_real((double)mem / n));
	/* One queue is on one master; the others hold its registry entry. */
	if (b->t.cluster) {
		mj = json_object_get(res, "masters");
		for (m = 0; m < b->t.nmasters; m++) {
			fprintf(b->out, "  %12.1f bytes per job on %s\n",
			    (double)(m1[m] - m0[m]) / n, b->t.master[m].addr);
			json_object_set_new(json_array_get(mj, m),
			    "redis_bytes_per_job",
			    json_real((double)(m1[m] - m0[m]) / n));
		}
	}
	json_object_set_new(res, "batch", json_integer(pipelined ?
	    b->o.batch : 1));
	json_object_set_new(res, "payload_bytes", json_integer(b->o.payload));
	bench_record(b, res, bench_cmdline(b, "enqueue", variant, n,
	    BENCH_CL_ENQUEUE), "jobs_per_s", 1);

	redjob_free(c);
	bench_clean(b);
	free(payload);
	return 0;
}

/* ---------------------------------------------------------------------
 * Runs of jobs through the daemon: process, guards, memory.
 */

/* The counters of queues q[0..nq), added up. */
static void
bench_qstats_sum(struct bench *b, const char *const *q, size_t nq,
    struct bench_qstats *s)
{
	struct bench_qstats one;
	size_t i;

	memset(s, 0, sizeof *s);
	for (i = 0; i < nq; i++) {
		bench_qstats(b, q[i], &one);
		s->ready += one.ready;
		s->scheduled += one.scheduled;
		s->running += one.running;
		s->dead += one.dead;
		s->enqueued += one.enqueued;
		s->processed += one.processed;
		s->failed += one.failed;
		s->retried += one.retried;
		s->throttled += one.throttled;
		s->conflicts += one.conflicts;
		s->stalled += one.stalled;
	}
}

/* The last error of a dead job in any of queues q[0..nq), or NULL. */
static char *
bench_last_error_any(struct bench *b, const char *const *q, size_t nq)
{
	char *err = NULL;
	size_t i;

	for (i = 0; i < nq && err == NULL; i++)
		err = bench_last_error(b, q[i]);
	return err;
}

/*
 * With a daemon serving queues q[0..nq): pause them, enqueue n jobs
 * spread evenly over them, types[i] into q[i], and measure (if res is
 * not NULL) from the moment the queues are resumed until the daemon has
 * processed all n, polling redjob_stats of each (every BENCH_POLL_US
 * times their number, so that more queues do not mean more polls a
 * second). The queues' parts, part[0..nparts), are what is paused,
 * resumed and polled: the queues themselves, or a sharded queue's shards
 * (NAME, NAME~1, ...), which the enqueue spreads the jobs over.
 * Returns 0, or -1 with *cause set (caller frees) if jobs failed (with
 * the last error of one) or the daemon stopped making progress. *res is
 * the result of bench_end(), printed, not yet recorded.
 */
static int
bench_drain_queues(struct bench *b, const char *scenario,
    const char *variant, const char *const *q, const char *const *types,
    size_t nq, const char *const *part, size_t nparts, long n, int keymode,
    json_t **res, char **cause)
{
	struct redjob_client *c;
	struct bench_qstats s0, s;
	long long last = -1;
	uint64_t progress;
	char *err;
	size_t i;

	c = bench_client(b);
	for (i = 0; i < nparts; i++)
		bench_queue_call(b, "redjob_pause", part[i]);
	for (i = 0; i < nq; i++)
		bench_fill(b, c, q[i], types[i], n / (long)nq +
		    ((long)i < n % (long)nq), keymode);
	redjob_free(c);
	/* Delayed jobs: all due, none claimed yet, when the clock starts. */
	if (b->fill_delay_ms > 0)
		bench_wait_ms(b, b->fill_delay_ms);
	bench_qstats_sum(b, part, nparts, &s0);

	if (res != NULL) {
		bench_breakdown_begin(b, n);
		bench_begin(b);
	}
	for (i = 0; i < nparts; i++)
		bench_queue_call(b, "redjob_resume", part[i]);
	progress = bench_now_ms();
	for (;;) {
		bench_wait_us(b, BENCH_POLL_US * (long)nparts);
		bench_qstats_sum(b, part, nparts, &s);
		if (s.processed - s0.processed >= n)
			break;
		if (s.failed > s0.failed || s.dead > s0.dead) {
			/* Let the first failures land, then say why. */
			err = bench_last_error_any(b, part, nparts);
			xasprintf(cause, "%lld of %ld jobs failed: %s",
			    s.failed - s0.failed, n, err != NULL ? err :
			    "(no error recorded)");
			free(err);
			if (res != NULL) {
				bench_perf_stop(b);
				bench_snap_free(&b->before);
			}
			return -1;
		}
		if (s.processed != last) {
			last = s.processed;
			progress = bench_now_ms();
		} else if (bench_now_ms() - progress > BENCH_STALL_MS) {
			xasprintf(cause, "no progress for %d s: %lld of %ld "
			    "jobs processed (ready %lld, scheduled %lld, "
			    "running %lld); see %s", BENCH_STALL_MS / 1000,
			    s.processed - s0.processed, n, s.ready,
			    s.scheduled, s.running, b->d->log);
			if (res != NULL) {
				bench_perf_stop(b);
				bench_snap_free(&b->before);
			}
			return -1;
		}
	}
	if (res != NULL) {
		*res = bench_end(b, scenario, variant, n);
		if (s.throttled > s0.throttled || s.conflicts > s0.conflicts) {
			fprintf(b->out, "  %12.4f throttled and %.4f lock "
			    "conflicts per job (each one more claim and "
			    "requeue)\n", (double)(s.throttled -
			    s0.throttled) / (double)n, (double)(s.conflicts -
			    s0.conflicts) / (double)n);
			json_object_set_new(*res, "throttled_per_job",
			    json_real((double)(s.throttled - s0.throttled) /
			    (double)n));
			json_object_set_new(*res, "conflicts_per_job",
			    json_real((double)(s.conflicts - s0.conflicts) /
			    (double)n));
		}
		bench_breakdown_end(b, *res, n);
	}
	return 0;
}

/* bench_drain_queues() of n jobs of type in BENCH_QUEUE. */
static int
bench_drain(struct bench *b, const char *scenario, const char *variant,
    const char *type, long n, int keymode, json_t **res, char **cause)
{
	const char *q = BENCH_QUEUE;

	return bench_drain_queues(b, scenario, variant, &q, &type, 1, &q, 1,
	    n, keymode, res, cause);
}

/*
 * The jobs a worker claims with one call: --batch, else redjobd's
 * default (docs/redjob.yml.5, batch): the concurrency, but at least 32
 * and at most 1000. The floor's consumers claim as many.
 */
static long
bench_claim_batch(const struct bench *b)
{
	if (b->o.claim_batch > 0)
		return b->o.claim_batch;
	return b->o.concurrency < 32 ? 32 : b->o.concurrency > 1000 ? 1000 :
	    b->o.concurrency;
}

/* Add the daemon's settings to a result. */
static void
bench_result_daemon(struct bench *b, json_t *res, long workers,
    const char *handler)
{
	json_object_set_new(res, "workers", json_integer(workers));
	json_object_set_new(res, "concurrency",
	    json_integer(b->o.concurrency));
	json_object_set_new(res, "claim_batch",
	    json_integer(bench_claim_batch(b)));
	json_object_set_new(res, "payload_bytes", json_integer(b->o.payload));
	json_object_set_new(res, "log_level", json_string(b->o.log_level));
	if (handler != NULL)
		json_object_set_new(res, "handler", json_string(handler));
}

/*
 * On a clean queue, start a daemon (config NAME.yml) whose one job type,
 * "noop", is the no-op plugin call or /bin/true. Returns it, or NULL with
 * *cause set (caller frees) when redjobd refuses the config.
 */
static struct bench_daemon *
bench_noop_daemon(struct bench *b, const char *name, long workers,
    int plugin, char **cause)
{
	struct bench_daemon *d;
	char *y;

	bench_clean(b);
	y = bench_yaml_head(b, workers, 0);
	bench_cat(&y, "jobs:\n");
	bench_yaml_noop(b, &y, "noop", BENCH_QUEUE, plugin);
	d = bench_daemon_start(b, name, y, cause);
	free(y);
	return d;
}

/*
 * Whether plugin handlers can run: the example plugin exists, redjobd
 * accepts the config, and a few jobs go through. Found out once; the
 * reason is kept for every scenario that wanted them.
 */
static int
bench_plugin_ok(struct bench *b)
{
	struct bench_daemon *d;
	char *cause = NULL;

	if (b->plugin_state != BENCH_PLUGIN_UNKNOWN)
		return b->plugin_state == BENCH_PLUGIN_OK;
	b->plugin_state = BENCH_PLUGIN_UNAVAILABLE;
	if (access(b->plugin, R_OK) != 0) {
		xasprintf(&b->plugin_reason, "%s: %s (build it with make "
		    "examples/plugins/example.la, or give --plugin)",
		    b->plugin, strerror(errno));
		return 0;
	}
	if ((d = bench_noop_daemon(b, "plugin-check", 1, 1, &cause)) == NULL) {
		b->plugin_reason = cause;
		return 0;
	}
	if (bench_drain(b, "process", "plugin", "noop", 10, 0, NULL,
	    &cause) != 0) {
		b->plugin_reason = cause;
		bench_daemon_stop(b, d);
		return 0;
	}
	bench_daemon_stop(b, d);
	b->plugin_state = BENCH_PLUGIN_OK;
	return 1;
}

/*
 * A variant that wants plugin handlers where they cannot run: record it
 * as unavailable, with why, and return 1 (cmd is then freed). 0 if it
 * can run.
 */
static int
bench_plugin_missing(struct bench *b, int plugin, const char *scenario,
    const char *variant, char *cmd)
{
	char *why;

	if (!plugin || bench_plugin_ok(b))
		return 0;
	xasprintf(&why, "plugin handlers unavailable: %s", b->plugin_reason);
	bench_unavailable(b, scenario, variant, why, cmd);
	free(why);
	return 1;
}

/*
 * The process scenario: N no-op jobs wait in the paused queue; the clock
 * runs from the resume to the last one processed. Redis CPU, calls per
 * job and the daemon's CPU come with it.
 */
static int
bench_process(struct bench *b, const char *variant)
{
	struct bench_daemon *d;
	int plugin = strncmp(variant, "plugin", 6) == 0;
	int serial = strcmp(variant, "plugin-serial") == 0;
	int delayed = strcmp(variant, "plugin-delayed") == 0;
	long n = bench_jobs(b, plugin && !serial ? 100000 : 20000);
	long workers = bench_workers_opt(b, 2);
	long conc = b->o.concurrency, batch = b->o.claim_batch;
	char *cause = NULL, *cmd;
	json_t *res;

	/* One job at a time per worker: BullMQ's manual variant's peer. */
	if (serial) {
		b->o.concurrency = 1;
		b->o.claim_batch = 1;
	}
	cmd = bench_cmdline(b, "process", variant, n, BENCH_CL_DAEMON |
	    BENCH_CL_ENQUEUE | (delayed ? BENCH_CL_DELAY : 0));
	if (bench_plugin_missing(b, plugin, "process", variant, cmd)) {
		b->o.concurrency = conc;
		b->o.claim_batch = batch;
		return 0;
	}
	b->noop_result = strcmp(variant, "plugin-result") == 0;
	d = bench_noop_daemon(b, "process", workers, plugin, &cause);
	b->noop_result = 0;
	if (d == NULL)
		bench_fatal("%s", cause);
	b->fill_delay_ms = delayed ? b->o.delay_ms : 0;
	if (bench_drain(b, "process", variant, "noop", n, 0, &res,
	    &cause) != 0) {
		bench_daemon_stop(b, d);
		bench_fatal("process/%s: %s", variant, cause);
	}
	b->fill_delay_ms = 0;
	bench_result_daemon(b, res, workers, plugin ? "plugin noop" :
	    "exec /bin/true");
	if (delayed)
		json_object_set_new(res, "delay_ms",
		    json_integer(b->o.delay_ms));
	bench_record(b, res, cmd, "jobs_per_s", 1);
	bench_daemon_stop(b, d);
	bench_clean(b);
	b->o.concurrency = conc;
	b->o.claim_batch = batch;
	return 0;
}

/*
 * The guards scenario: the process run of a no-op job (plugin when it
 * works, else /bin/true; --handler chooses) with a lock or a limiter.
 * none-keyed has no guard but a key per job, as lock-distinct's jobs: a
 * job with a key is kept in a hash of its own, so that is the run the
 * lock's cost is read against.
 * Limits are generous so that nothing is throttled: what is measured is
 * the cost of asking. The shared lock is the exception: one job at a
 * time, every other one requeued, so its N is at most 2000. So are the
 * "-throttled" limiters: 1000 jobs/s with no burst to speak of (a window
 * of 2 per 2 ms), or 4 jobs at a time for concurrency, so that nearly
 * every job of the backlog is
 * held back (N 2000 by default; -n sets the backlog).
 */
static int
bench_guards(struct bench *b, const char *variant)
{
	struct bench_daemon *d;
	const char *fn = NULL, *handler;
	char *y, *cause = NULL, *cmd, *why;
	long workers = bench_workers_opt(b, 2), n;
	int plugin, keymode = 0;
	json_t *res;

	if (strncmp(variant, "lock", 4) == 0)
		fn = "'redjob_lock_acquire'";
	else if (strncmp(variant, "window", 6) == 0)
		fn = "'redjob_limit_window'";
	else if (strcmp(variant, "funnel") == 0)
		fn = "'redjob_limit_funnel'";
	else if (strncmp(variant, "gcra", 4) == 0)
		fn = "'redjob_limit_gcra'";
	else if (strcmp(variant, "funnel-throttled") == 0)
		fn = "'redjob_limit_funnel'";
	else if (strncmp(variant, "concurrency", 11) == 0)
		fn = "'redjob_limit_conc_acquire'";

	if (strcmp(b->o.handler, "exec") == 0)
		plugin = 0;
	else if (strcmp(b->o.handler, "plugin") == 0)
		plugin = 1;
	else
		plugin = bench_plugin_ok(b);
	n = bench_jobs(b, plugin ? 50000 : 10000);
	if ((strcmp(variant, "lock-shared") == 0 ||
	    strstr(variant, "-throttled") != NULL) && b->o.jobs == 0)
		n = 2000;
	cmd = bench_cmdline(b, "guards", variant, n, BENCH_CL_DAEMON |
	    BENCH_CL_ENQUEUE | BENCH_CL_HANDLER);
	if (bench_plugin_missing(b, plugin, "guards", variant, cmd))
		return 0;
	if (fn != NULL && strstr(rfunc_lua, fn) == NULL) {
		xasprintf(&why, "the function library of this build has no "
		    "%s (src/lua/guards.lua)", fn);
		bench_unavailable(b, "guards", variant, why, cmd);
		free(why);
		return 0;
	}
	handler = plugin ? "plugin noop" : "exec /bin/true";
	if (strcmp(b->o.handler, "auto") == 0 && !plugin &&
	    strcmp(variant, "none") == 0)
		fprintf(b->out, "guards: plugin handlers unavailable (%s); "
		    "using exec /bin/true\n", b->plugin_reason);

	bench_clean(b);
	y = bench_yaml_head(b, workers, 0);
	if (strcmp(variant, "window") == 0)
		bench_cat(&y, "limiters:\n  l: { kind: window, limit: 100000, "
		    "period: 1s }\n");
	else if (strcmp(variant, "funnel") == 0)
		bench_cat(&y, "limiters:\n  l: { kind: funnel, capacity: "
		    "1000000, rate: 1000000/s }\n");
	else if (strcmp(variant, "gcra") == 0)
		bench_cat(&y, "limiters:\n  l: { kind: gcra, rate: 1000000/s, "
		    "burst: 1000000 }\n");
	else if (strcmp(variant, "gcra-throttled") == 0)
		bench_cat(&y, "limiters:\n  l: { kind: gcra, rate: 1000/s, "
		    "burst: 1 }\n");
	else if (strcmp(variant, "funnel-throttled") == 0)
		bench_cat(&y, "limiters:\n  l: { kind: funnel, capacity: 2, "
		    "rate: 1000/s }\n");
	else if (strcmp(variant, "window-throttled") == 0)
		bench_cat(&y, "limiters:\n  l: { kind: window, limit: 2, "
		    "period: 2ms }\n");
	else if (strcmp(variant, "concurrency") == 0)
		bench_cat(&y, "limiters:\n  l: { kind: concurrency, limit: "
		    "100000, lease: 60s }\n");
	else if (strcmp(variant, "concurrency-throttled") == 0)
		bench_cat(&y, "limiters:\n  l: { kind: concurrency, limit: "
		    "4, lease: 2s }\n");
	bench_cat(&y, "jobs:\n");
	bench_yaml_noop(b, &y, "g", BENCH_QUEUE, plugin);
	if (strcmp(variant, "lock-distinct") == 0) {
		bench_cat(&y, "    lock: { key: \"b:{key}\", ttl: 60s }\n");
		keymode = 1;
	} else if (strcmp(variant, "none-keyed") == 0)
		keymode = 1;	/* lock-distinct's jobs, without their lock */
	else if (strcmp(variant, "lock-shared") == 0)
		bench_cat(&y, "    lock: { key: shared, ttl: 60s }\n");
	else if (fn != NULL)
		bench_cat(&y, "    limit: [l]\n");

	d = bench_daemon_start(b, "guards", y, &cause);
	free(y);
	if (d == NULL) {
		bench_unavailable(b, "guards", variant, cause, cmd);
		free(cause);
		return 0;
	}
	if (bench_drain(b, "guards", variant, "g", n, keymode, &res,
	    &cause) != 0) {
		bench_unavailable(b, "guards", variant, cause, cmd);
		free(cause);
		bench_daemon_stop(b, d);
		return 0;
	}
	bench_result_daemon(b, res, workers, handler);
	bench_record(b, res, cmd, "jobs_per_s", 1);
	bench_daemon_stop(b, d);
	bench_clean(b);
	return 0;
}

/* ---------------------------------------------------------------------
 * cluster
 */

/* Can a listener bind 127.0.0.1:port now? */
static int
bench_port_free(int port)
{
	struct sockaddr_in sin;
	int fd, ok;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0;
	close(fd);
	return ok;
}

/*
 * A loopback port whose cluster bus port (port + 10000) is free too,
 * below the kernel's ephemeral ports, different at each call.
 */
static int
bench_cluster_port(void)
{
	static unsigned seed;
	int i, p;

	if (seed == 0)
		seed = (unsigned)getpid() * 2654435761U;
	for (i = 0; i < 1000; i++) {
		seed = seed * 1103515245U + 12345U;
		p = 20000 + (int)((seed >> 8) % 10000);
		if (bench_port_free(p) && bench_port_free(p + 10000))
			return p;
	}
	bench_fatal("no free pair of loopback ports for a cluster node");
}

/* A command to 127.0.0.1:port on a connection of its own, or NULL. */
static redisReply *printflike(2, 3)
bench_node_command(int port, const char *fmt, ...)
{
	struct timeval tv = { 1, 0 };
	redisContext *c;
	redisReply *r;
	va_list ap;

	c = redisConnectWithTimeout("127.0.0.1", port, tv);
	if (c == NULL || c->err != 0) {
		redisFree(c);
		return NULL;
	}
	redisSetTimeout(c, tv);
	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	redisFree(c);
	return r;
}

/* The same, which must succeed. */
static void printflike(2, 3)
bench_node_must(int port, const char *fmt, ...)
{
	struct timeval tv = { 5, 0 };
	redisContext *c;
	redisReply *r;
	va_list ap;

	c = redisConnectWithTimeout("127.0.0.1", port, tv);
	if (c == NULL || c->err != 0)
		bench_fatal("cluster node 127.0.0.1:%d: %s", port, c != NULL ?
		    c->errstr : "out of memory");
	redisSetTimeout(c, tv);
	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	if (r == NULL || r->type == REDIS_REPLY_ERROR)
		bench_fatal("cluster node 127.0.0.1:%d: %s: %s", port, fmt,
		    r != NULL ? r->str : c->errstr);
	freeReplyObject(r);
	redisFree(c);
}

/*
 * Start one cluster node, master of no slot yet, in dir, on a free
 * port; wait until it answers. Returns its port, or 0 if the port was
 * taken meanwhile (by another program: the caller tries another).
 */
static int
bench_cluster_node(struct bench *b, const char *dir, size_t i)
{
	char port[16], conf[PATH_MAX], log[PATH_MAX], name[32], *why = NULL;
	char *argv[] = { (char *)b->o.redis_server, (char *)"--port", port,
	    (char *)"--bind", (char *)"127.0.0.1",
	    /* A node that has met no other does not know its address:
	     * CLUSTER SLOTS would give "" (the 1-master cluster). */
	    (char *)"--cluster-announce-ip", (char *)"127.0.0.1",
	    (char *)"--cluster-enabled",
	    (char *)"yes", (char *)"--cluster-config-file", conf,
	    (char *)"--cluster-node-timeout", (char *)"5000", (char *)"--save",
	    (char *)"", (char *)"--appendonly", (char *)"no", (char *)"--dir",
	    (char *)dir, (char *)"--logfile", log, NULL };
	struct proc_spec spec;
	struct proc *p;
	redisReply *r;
	uint64_t deadline;
	int pn = bench_cluster_port();

	snprintf(port, sizeof port, "%d", pn);
	snprintf(conf, sizeof conf, "%s/nodes-%d.conf", dir, pn);
	snprintf(log, sizeof log, "%s/node-%zu.log", dir, i);
	snprintf(name, sizeof name, "cluster node %zu", i);
	memset(&spec, 0, sizeof spec);
	spec.argv = argv;
	spec.name = name;
	spec.out = PROC_IO_NULL;
	spec.err = PROC_IO_CAPTURE;
	/* With us, it goes: killed by the kernel if we die (deathsig). */
	if ((p = proc_spawn(&spec, &why)) == NULL)
		bench_fatal("%s", why);
	b->node[b->nnodes++] = p;
	deadline = bench_now_ms() + 10000;
	while ((r = bench_node_command(pn, "PING")) == NULL) {
		if (proc_wait(p, 5) == 0) {
			/* Its log says why; a port taken is worth a retry. */
			b->node[--b->nnodes] = NULL;
			proc_free(p);
			return 0;
		}
		if (bench_now_ms() >= deadline)
			bench_fatal("cluster node %zu (port %d) does not "
			    "answer in 10 s; see %s", i, pn, log);
	}
	freeReplyObject(r);
	return pn;
}

/*
 * Start a cluster of n masters and no replica: each node takes an equal
 * range of the slots (CLUSTER ADDSLOTSRANGE) and a config epoch of its
 * own, node 0 meets the others, and every node must then say
 * cluster_state:ok with all slots and n nodes known. Returns the
 * redis+cluster:// URL (two seeds when there are two). Caller frees.
 */
static char *
bench_cluster_start(struct bench *b, int n)
{
	int port[BENCH_MAX_MASTERS], i, k, ok;
	char *dir, *url = NULL, want[64];
	uint64_t deadline;
	redisReply *r;

	xasprintf(&dir, "%s/cluster-%d", b->dir, n);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		bench_fatal("mkdir %s: %s", dir, strerror(errno));
	for (i = 0; i < n; i++) {
		for (k = 0; (port[i] = bench_cluster_node(b, dir,
		    (size_t)i)) == 0; k++) {
			if (k == 2)
				bench_fatal("cluster node %d exited at start "
				    "three times; see %s/node-%d.log", i, dir,
				    i);
		}
	}
	for (i = 0; i < n; i++) {
		bench_node_must(port[i], "CLUSTER SET-CONFIG-EPOCH %d", i + 1);
		bench_node_must(port[i], "CLUSTER ADDSLOTSRANGE %d %d",
		    CLUSTER_SLOTS * i / n, CLUSTER_SLOTS * (i + 1) / n - 1);
	}
	for (i = 1; i < n; i++)
		bench_node_must(port[0], "CLUSTER MEET 127.0.0.1 %d", port[i]);
	snprintf(want, sizeof want, "cluster_known_nodes:%d\r", n);
	deadline = bench_now_ms() + BENCH_CLUSTER_MS;
	do {
		if (bench_now_ms() >= deadline)
			bench_fatal("the cluster of %d masters is not ok after "
			    "%d s; see %s", n, BENCH_CLUSTER_MS / 1000, dir);
		bench_sleep_ms(20);
		for (ok = 1, i = 0; i < n && ok; i++) {
			r = bench_node_command(port[i], "CLUSTER INFO");
			ok = r != NULL && r->type == REDIS_REPLY_STRING &&
			    strstr(r->str, "cluster_state:ok") != NULL &&
			    strstr(r->str, "cluster_slots_ok:16384") != NULL &&
			    strstr(r->str, want) != NULL;
			freeReplyObject(r);
		}
	} while (!ok);
	bench_cat(&url, "redis+cluster://127.0.0.1:%d", port[0]);
	if (n > 1)
		bench_cat(&url, ",127.0.0.1:%d", port[1]);
	free(dir);
	return url;
}

/* Stop the cluster's nodes (SIGTERM: nothing to save). */
static void
bench_cluster_stop(struct bench *b)
{
	size_t i;

	for (i = 0; i < b->nnodes; i++) {
		(void)proc_stop(b->node[i], SIGTERM, BENCH_STOP_MS);
		b->node[i] = NULL;
	}
	b->nnodes = 0;
}

/*
 * The cluster scenario: the bench starts a cluster of 1 or 3 masters,
 * points a target at it (its figures from every master), and runs the
 * process load of the no-op job over the variant's queues: jobs/s, and
 * Redis CPU and client calls per job in all and on each master.
 */
static int
bench_cluster(struct bench *b, const char *variant)
{
	const struct bench_cluster_run *cr = NULL;
	const char *q[BENCH_CLUSTER_QUEUES], *types[BENCH_CLUSTER_QUEUES];
	const char *part[BENCH_CLUSTER_QUEUES];
	struct bench_target saved;
	struct bench_daemon *d;
	char *names, *tok, *save, *y, *ql = NULL, *url, *cause = NULL, *cmd;
	char tnames[BENCH_CLUSTER_QUEUES][64];
	char pnames[BENCH_CLUSTER_QUEUES][64];
	long workers = bench_workers_opt(b, 2), n;
	size_t i, m, nq = 0, np = 0;
	int plugin, k;
	json_t *res, *qj;

	for (i = 0; i < nitems(bench_cluster_runs); i++) {
		if (strcmp(bench_cluster_runs[i].variant, variant) == 0)
			cr = &bench_cluster_runs[i];
	}
	if (cr == NULL || cr->masters < 1 || cr->masters > BENCH_MAX_MASTERS)
		bench_fatal("cluster/%s: no such variant", variant);
	if (strcmp(b->o.handler, "exec") == 0)
		plugin = 0;
	else if (strcmp(b->o.handler, "plugin") == 0)
		plugin = 1;
	else
		plugin = bench_plugin_ok(b);
	n = bench_jobs(b, plugin ? 100000 : 20000);
	cmd = bench_cmdline(b, "cluster", variant, n, BENCH_CL_DAEMON |
	    BENCH_CL_ENQUEUE | BENCH_CL_HANDLER);
	if (bench_plugin_missing(b, plugin, "cluster", variant, cmd))
		return 0;
	if (strcmp(b->o.handler, "auto") == 0 && !plugin)
		fprintf(b->out, "cluster: plugin handlers unavailable (%s); "
		    "using exec /bin/true\n", b->plugin_reason);

	names = xstrdup(cr->queues);
	for (tok = strtok_r(names, " ", &save); tok != NULL;
	    tok = strtok_r(NULL, " ", &save)) {
		if (nq == BENCH_CLUSTER_QUEUES)
			bench_fatal("cluster/%s: more than %d queues", variant,
			    BENCH_CLUSTER_QUEUES);
		snprintf(tnames[nq], sizeof tnames[nq], "noop-%s", tok);
		types[nq] = tnames[nq];
		q[nq++] = tok;
		if (cr->shards > 0)
			bench_cat(&ql, "  %s: { weight: 1, shards: %d }\n",
			    tok, cr->shards);
		else
			bench_cat(&ql, "  %s: 1\n", tok);
		/* Shard K of NAME is the queue NAME~K, the first NAME. */
		for (k = 0; k < (cr->shards > 0 ? cr->shards : 1); k++) {
			if (np == BENCH_CLUSTER_QUEUES)
				bench_fatal("cluster/%s: more than %d queues "
				    "and shards", variant,
				    BENCH_CLUSTER_QUEUES);
			if (k == 0)
				snprintf(pnames[np], sizeof pnames[np], "%s",
				    tok);
			else
				snprintf(pnames[np], sizeof pnames[np],
				    "%s~%d", tok, k);
			part[np] = pnames[np];
			np++;
		}
	}

	url = bench_cluster_start(b, cr->masters);
	saved = b->t;
	memset(&b->t, 0, sizeof b->t);
	bench_target_connect(b, url);
	free(url);
	if (b->t.nmasters != (size_t)cr->masters)
		bench_fatal("cluster/%s: %zu masters in the slot map, not %d",
		    variant, b->t.nmasters, cr->masters);
	fprintf(b->out, "cluster/%s: %s, queues by master:", variant,
	    b->t.url);
	qj = json_object();
	for (m = 0; m < b->t.nmasters; m++) {
		fprintf(b->out, "%s %s", m > 0 ? ";" : "",
		    b->t.master[m].addr);
		for (i = 0; i < np; i++) {
			if (bench_queue_master(b, part[i]) != m)
				continue;
			fprintf(b->out, " %s", part[i]);
			json_object_set_new(qj, part[i],
			    json_string(b->t.master[m].addr));
		}
	}
	fprintf(b->out, "\n");
	fflush(b->out);

	y = bench_yaml_start(b, workers, ql);
	bench_cat(&y, "jobs:\n");
	for (i = 0; i < nq; i++)
		bench_yaml_noop(b, &y, types[i], q[i], plugin);
	d = bench_daemon_start(b, "cluster", y, &cause);
	free(y);
	if (d == NULL) {
		bench_unavailable(b, "cluster", variant, cause, cmd);
		json_decref(qj);
	} else if (bench_drain_queues(b, "cluster", variant, q, types, nq,
	    part, np, n, 0, &res, &cause) != 0) {
		bench_daemon_stop(b, d);
		bench_fatal("cluster/%s: %s", variant, cause);
	} else {
		bench_result_daemon(b, res, workers, plugin ? "plugin noop" :
		    "exec /bin/true");
		json_object_set_new(res, "queues", qj);
		json_object_set_new(res, "masters_started",
		    json_integer(cr->masters));
		bench_record(b, res, cmd, "jobs_per_s", 1);
		bench_daemon_stop(b, d);
	}
	free(cause);
	free(ql);
	free(names);
	bench_target_free(&b->t);
	b->t = saved;
	bench_cluster_stop(b);
	return 0;
}

/* ---------------------------------------------------------------------
 * latency
 */

struct bench_sample {
	char		 id[REDJOB_ID_MAX];
	int64_t		 due_ns;	/* realtime at enqueue + delay */
	int64_t		 start_ns;	/* the probe's; 0: not seen */
};

static int
bench_sample_cmp(const void *a, const void *b)
{
	return strcmp(((const struct bench_sample *)a)->id,
	    ((const struct bench_sample *)b)->id);
}

static int
bench_double_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The q-quantile of n sorted values, nearest rank. */
static double
bench_quantile(const double *v, size_t n, double q)
{
	size_t r = (size_t)ceil(q * (double)n);

	if (r < 1)
		r = 1;
	return v[r > n ? n - 1 : r - 1];
}

/*
 * The load stream: a child that enqueues /bin/true jobs into the load
 * queue at rate jobs/s, in small batches every 10 ms, until killed.
 */
struct bench_feeder {
	struct bench	*b;
	long		 rate;
};

static int
bench_feeder_run(void *arg)
{
	struct bench_feeder *f = arg;
	struct bench *b = f->b;
	struct redjob_client *c;
	struct redjob_job jobs[100];
	struct redjob_result res[100];
	struct timespec t0;
	long sent = 0, want, k, i;

	signal(SIGTERM, SIG_DFL);
	/* Ours are the parent's to stop, not this copy's. */
	b->feeder = NULL;
	b->d = NULL;
	bench_self = NULL;
	c = bench_client(b);
	memset(jobs, 0, sizeof jobs);
	for (i = 0; i < (long)nitems(jobs); i++) {
		jobs[i].queue = BENCH_LOAD_QUEUE;
		jobs[i].type = "load";
		jobs[i].payload = "";
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		bench_sleep_ms(10);
		want = (long)(bench_elapsed(&t0) * (double)f->rate);
		while (sent < want) {
			k = want - sent < (long)nitems(jobs) ? want - sent :
			    (long)nitems(jobs);
			if (redjob_enqueue_many(c, jobs, (size_t)k, res) != k) {
				fprintf(stderr, "redjob-bench: load stream: "
				    "%s\n", redjob_errstr(c));
				return 1;
			}
			sent += k;
		}
	}
}

static void
bench_feeder_start(struct bench *b, long rate)
{
	static struct bench_feeder f;
	char *why = NULL;

	f.b = b;
	f.rate = rate;
	b->feeder = proc_spawn(&(struct proc_spec){ .fn = bench_feeder_run,
	    .arg = &f, .name = "load stream" }, &why);
	if (b->feeder == NULL)
		bench_fatal("%s", why);
}

static void
bench_feeder_stop(struct bench *b)
{
	(void)proc_stop(b->feeder, SIGTERM, BENCH_STOP_MS);
	b->feeder = NULL;
}

/* Read the probe's lines into the samples; returns how many matched. */
static size_t
bench_probe_read(const char *path, struct bench_sample *s, size_t n)
{
	struct bench_sample key, *hit;
	char line[512];
	long long ns;
	size_t got = 0;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof line, f) != NULL) {
		if (sscanf(line, "%159s %lld", key.id, &ns) != 2)
			continue;
		hit = bsearch(&key, s, n, sizeof *s, bench_sample_cmp);
		if (hit != NULL && hit->start_ns == 0) {
			hit->start_ns = ns;
			got++;
		}
	}
	fclose(f);
	return got;
}

/*
 * The latency scenario. Probe jobs go one at a time, with a random gap
 * of --gap ms between them, into a queue of their own; the probe handler
 * writes the realtime clock at its start. "idle": nothing else runs.
 * "load": a stream of /bin/true jobs at --load-rate goes to a second
 * queue served by the same workers. "backlog": that second queue holds
 * more /bin/true jobs than the workers can run while the probes go in,
 * so every slot stays busy. "delayed": each probe is enqueued --delay ms
 * ahead, and its due time is the enqueue time plus that.
 *
 * Probes that have not run by the deadline are reported as such, not
 * fatal: a queue starved by another one's backlog is a finding.
 */
static int
bench_latency(struct bench *b, const char *variant)
{
	struct redjob_client *c;
	struct redjob_job job;
	struct bench_daemon *d;
	struct bench_sample *s;
	struct bench_qstats l0, l1, q;
	struct timespec t0;
	double *lat, secs, mean = 0;
	long i, n = b->o.samples, workers = bench_workers_opt(b, 2);
	long backlog = 0;
	int load = strncmp(variant, "load", 4) == 0;
	int delayed = strstr(variant, "delayed") != NULL;
	char *y, *out, *probe, *cause = NULL, *cmd, *err;
	uint64_t deadline;
	size_t got = 0, m;
	json_t *res;
	int64_t t;

	cmd = bench_cmdline(b, "latency", variant, 0, BENCH_CL_DAEMON |
	    BENCH_CL_LATENCY);
	if (access(b->probe, X_OK) != 0) {
		xasprintf(&err, "%s: %s (build it with make "
		    "tests/bench/probe, or give --probe)", b->probe,
		    strerror(errno));
		bench_unavailable(b, "latency", variant, err, cmd);
		free(err);
		return 0;
	}
	bench_clean(b);
	xasprintf(&out, "%s/probe.out", b->dir);
	unlink(out);
	y = bench_yaml_head(b, workers, 1);
	probe = bench_yq(b->probe);
	bench_cat(&y, "jobs:\n  probe:\n    queue: %s\n    exec: [%s]\n"
	    "    retry: { max_attempts: 1 }\n    env:\n"
	    "      BENCH_PROBE_OUT: %s\n", BENCH_QUEUE, probe, out);
	free(probe);
	bench_yaml_noop(b, &y, "load", BENCH_LOAD_QUEUE, 0);
	d = bench_daemon_start(b, "latency", y, &cause);
	free(y);
	if (d == NULL)
		bench_fatal("%s", cause);
	/* Let every worker claim nothing and go to sleep. */
	bench_wait_ms(b, BENCH_SETTLE_MS / 2);
	if (load) {
		bench_feeder_start(b, b->o.load_rate);
		bench_wait_ms(b, 1000);
	}
	if (strncmp(variant, "backlog", 7) == 0) {
		/*
		 * About four times what the probes' phase lasts at 4,000
		 * jobs/s, more than exec handlers reach on a small host.
		 */
		backlog = n * b->o.gap_max_ms * 4;
		c = bench_client(b);
		bench_fill(b, c, BENCH_LOAD_QUEUE, "load", backlog, 0);
		redjob_free(c);
		bench_wait_ms(b, 200);
	}
	bench_qstats(b, BENCH_LOAD_QUEUE, &l0);
	clock_gettime(CLOCK_MONOTONIC, &t0);

	c = bench_client(b);
	memset(&job, 0, sizeof job);
	job.queue = BENCH_QUEUE;
	job.type = "probe";
	job.payload = "";
	job.delay_ms = delayed ? b->o.delay_ms : 0;
	s = xcalloc((size_t)n, sizeof *s);
	srandom((unsigned)getpid());
	for (i = 0; i < n; i++) {
		bench_wait_ms(b, b->o.gap_min_ms + (b->o.gap_max_ms >
		    b->o.gap_min_ms ? random() % (b->o.gap_max_ms -
		    b->o.gap_min_ms + 1) : 0));
		t = bench_realtime_ns();
		if (redjob_enqueue(c, &job, s[i].id) != 0)
			bench_fatal("enqueue: %s", redjob_errstr(c));
		s[i].due_ns = t + (int64_t)job.delay_ms * 1000000;
	}
	redjob_free(c);
	secs = bench_elapsed(&t0);
	bench_qstats(b, BENCH_LOAD_QUEUE, &l1);
	bench_feeder_stop(b);
	qsort(s, (size_t)n, sizeof *s, bench_sample_cmp);

	/* Wait for every probe, with a deadline: 30 s after they are due. */
	deadline = bench_now_ms() + (uint64_t)b->o.delay_ms + 30000;
	while (bench_now_ms() < deadline) {
		for (i = 0; i < n; i++)
			s[i].start_ns = 0;
		if ((got = bench_probe_read(out, s, (size_t)n)) == (size_t)n)
			break;
		bench_wait_ms(b, 20);
	}

	res = bench_result(b, "latency", variant);
	fprintf(b->out, "latency/%s: %ld probes, due time to handler start "
	    "(ms)\n", variant, n);
	if (got < (size_t)n) {
		bench_qstats(b, BENCH_QUEUE, &q);
		err = bench_last_error(b, BENCH_QUEUE);
		fprintf(b->out, "  %12zu probes NOT run within 30 s of their "
		    "due time (ready %lld, running %lld, dead %lld%s%s)\n",
		    (size_t)n - got, q.ready, q.running, q.dead,
		    err != NULL ? ": " : "", err != NULL ? err : "");
		json_object_set_new(res, "not_run", json_integer((json_int_t)n -
		    (json_int_t)got));
		free(err);
	}
	lat = xcalloc((size_t)n, sizeof *lat);
	for (m = 0, i = 0; i < n; i++) {
		if (s[i].start_ns == 0)
			continue;
		lat[m] = (double)(s[i].start_ns - s[i].due_ns) / 1e6;
		mean += lat[m++];
	}
	if (m > 0) {
		mean /= (double)m;
		qsort(lat, m, sizeof *lat, bench_double_cmp);
		json_object_update_new(res, json_pack("{s:f, s:f, s:f, s:f, "
		    "s:f, s:f}",
		    "min_ms", lat[0],
		    "p50_ms", bench_quantile(lat, m, 0.50),
		    "p90_ms", bench_quantile(lat, m, 0.90),
		    "p99_ms", bench_quantile(lat, m, 0.99),
		    "max_ms", lat[m - 1],
		    "mean_ms", mean));
		fprintf(b->out, "  %12.2f p50\n  %12.2f p90\n  %12.2f p99\n"
		    "  %12.2f max\n  %12.2f min\n  %12.2f mean\n",
		    bench_quantile(lat, m, 0.50), bench_quantile(lat, m, 0.90),
		    bench_quantile(lat, m, 0.99), lat[m - 1], lat[0], mean);
	} else
		/* Ranks worst in a best-of. */
		json_object_set_new(res, "p99_ms", json_real(INFINITY));
	json_object_update_new(res, json_pack("{s:I, s:I, s:I, s:I, s:I}",
	    "samples", (json_int_t)n,
	    "ran", (json_int_t)m,
	    "delay_ms", (json_int_t)job.delay_ms,
	    "gap_min_ms", (json_int_t)b->o.gap_min_ms,
	    "gap_max_ms", (json_int_t)b->o.gap_max_ms));
	if (load || backlog > 0) {
		double rate = (double)(l1.processed - l0.processed) / secs;

		if (load)
			json_object_set_new(res, "load_rate_asked",
			    json_integer(b->o.load_rate));
		json_object_set_new(res, "load_backlog_start",
		    json_integer(backlog));
		json_object_set_new(res, "load_jobs_per_s", json_real(rate));
		json_object_set_new(res, "load_ready_at_end",
		    json_integer(l1.ready));
		fprintf(b->out, "  load: %.0f jobs/s of /bin/true in the other "
		    "queue while the probes went in (", rate);
		if (load)
			fprintf(b->out, "a stream of %ld/s", b->o.load_rate);
		else
			fprintf(b->out, "a backlog of %ld", backlog);
		fprintf(b->out, "), %lld still ready then\n", l1.ready);
	}
	bench_result_daemon(b, res, workers, "exec probe");
	bench_record(b, res, cmd, "p99_ms", 0);
	free(lat);
	free(s);
	unlink(out);
	free(out);
	bench_daemon_stop(b, d);
	bench_clean(b);
	return 0;
}

/* ---------------------------------------------------------------------
 * idle and memory
 */

/*
 * The idle scenario: a daemon with nothing to do (default 4 workers).
 * After it settles, count the Redis commands over --idle-seconds
 * (total_commands_processed, less our INFO calls) and the CPU time of
 * the supervisor and of each worker.
 */
static int
bench_idle(struct bench *b, const char *variant)
{
	struct bench_daemon *d;
	struct bench_snap s0, s1;
	pid_t pids[BENCH_MAX_PROCS];
	double self0[BENCH_MAX_PROCS], self1, sup0, sup1, secs, cpu;
	double wsum = 0, wmax = 0;
	long workers = bench_workers_opt(b, 4);
	long long info0, cmds, dcalls;
	struct timespec t0;
	json_t *res, *wj, *cj;
	char *cause = NULL, *cmd;
	int i, n;
	size_t k;

	cmd = bench_cmdline(b, "idle", variant, 0, BENCH_CL_DAEMON |
	    BENCH_CL_IDLE);
	if ((d = bench_noop_daemon(b, "idle", workers, 0, &cause)) == NULL)
		bench_fatal("%s", cause);
	bench_wait_ms(b, BENCH_SETTLE_MS);

	n = bench_workers(d, pids, (int)nitems(pids));
	for (i = 0; i < n; i++)
		bench_proc_stat(pids[i], &self0[i], NULL, NULL, NULL, 0);
	bench_proc_stat(d->proc->pid, &sup0, NULL, NULL, NULL, 0);
	/* INFO stats is the last call of a snapshot: see bench_snap_take(). */
	bench_snap_take(b, &s0);
	info0 = b->info_calls;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	bench_wait_ms(b, b->o.idle_secs * 1000);
	bench_snap_take(b, &s1);
	secs = bench_elapsed(&t0);
	bench_proc_stat(d->proc->pid, &sup1, NULL, NULL, NULL, 0);

	/*
	 * Our INFO calls from s0's INFO stats (included in s1's total) up to
	 * s1's INFO stats (not included in its own total).
	 */
	cmds = s1.total - s0.total - (b->info_calls - info0);
	cpu = s1.cpu - s0.cpu;
	res = bench_result(b, "idle", variant);
	wj = json_array();
	fprintf(b->out, "idle/%s: %ld workers for %.1f s\n", variant, workers,
	    secs);
	fprintf(b->out, "  %12.3f Redis commands/s (%.3f per worker; "
	    "INFO stats total_commands_processed, less our %lld INFO calls)"
	    "\n", (double)cmds / secs, (double)cmds / secs / (double)workers,
	    b->info_calls - info0);
	cj = json_object();
	for (k = 0; k < s1.n; k++) {
		if (strcmp(s1.name[k], "info") == 0)
			continue;
		dcalls = s1.calls[k] - bench_snap_calls(&s0, s1.name[k]);
		if (dcalls > 0) {
			json_object_set_new(cj, s1.name[k],
			    json_integer(dcalls));
			fprintf(b->out, "  %12lld %s\n", dcalls, s1.name[k]);
		}
	}
	fprintf(b->out, "  %12.3f %% CPU of the supervisor (pid %ld)\n",
	    (sup1 - sup0) / secs * 100, (long)d->proc->pid);
	for (i = 0; i < n; i++) {
		if (bench_proc_stat(pids[i], &self1, NULL, NULL, NULL, 0) != 0)
			continue;
		json_array_append_new(wj, json_real((self1 - self0[i]) / secs *
		    100));
		wsum += self1 - self0[i];
		if (self1 - self0[i] > wmax)
			wmax = self1 - self0[i];
		fprintf(b->out, "  %12.3f %% CPU of worker pid %ld\n",
		    (self1 - self0[i]) / secs * 100, (long)pids[i]);
	}
	fprintf(b->out, "  %12.3f %% CPU of redis-server meanwhile (its own "
	    "timers included; INFO cpu%s)\n", cpu / secs * 100,
	    b->t.cluster ? ", every master's summed" : "");
	fprintf(b->out, "  (CPU from /proc/PID/stat utime+stime: %ld ticks "
	    "a second, so one tick over %.0f s is %.3f %%)\n",
	    sysconf(_SC_CLK_TCK), secs, 100.0 / (double)sysconf(_SC_CLK_TCK)
	    / secs);
	json_object_update_new(res, json_pack("{s:I, s:f, s:f, s:f, s:f, s:o, "
	    "s:f, s:f, s:o}",
	    "workers", (json_int_t)workers,
	    "seconds", secs,
	    "redis_commands_per_s", (double)cmds / secs,
	    "redis_commands_per_s_per_worker", (double)cmds / secs /
	    (double)workers,
	    "supervisor_cpu_percent", (sup1 - sup0) / secs * 100,
	    "worker_cpu_percent", wj,
	    "workers_cpu_percent_total", wsum / secs * 100,
	    "redis_cpu_percent", cpu / secs * 100,
	    "commands", cj));
	bench_snap_free(&s0);
	bench_snap_free(&s1);
	bench_record(b, res, cmd, "redis_commands_per_s", 0);
	bench_daemon_stop(b, d);
	bench_clean(b);
	return 0;
}

/* Print and return the memory of one process: VmRSS, RssAnon, Pss. */
static json_t *
bench_memory_proc(struct bench *b, pid_t pid, const char *role)
{
	long rss = bench_proc_kb(pid, "status", "VmRSS");
	long anon = bench_proc_kb(pid, "status", "RssAnon");
	long file = bench_proc_kb(pid, "status", "RssFile");
	long hwm = bench_proc_kb(pid, "status", "VmHWM");
	long pss = bench_proc_kb(pid, "smaps_rollup", "Pss");

	fprintf(b->out, "  %-10s pid %-7ld VmRSS %6.2f MiB (anon %.2f, file "
	    "%.2f), Pss %.2f MiB, VmHWM %.2f MiB\n", role, (long)pid,
	    rss / 1024.0, anon / 1024.0, file / 1024.0, pss / 1024.0,
	    hwm / 1024.0);
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "role", role,
	    "pid", (json_int_t)pid, "vmrss_kib", (json_int_t)rss,
	    "rss_anon_kib", (json_int_t)anon, "rss_file_kib",
	    (json_int_t)file, "pss_kib", (json_int_t)pss, "vmhwm_kib",
	    (json_int_t)hwm);
}

/*
 * The memory scenario: the resident size of the supervisor and of each
 * worker, idle: just started ("fresh"), and idle again after running N
 * jobs, /bin/true ("after-exec") or the plugin's noop ("after-plugin",
 * which has started the worker's plugin threads).
 */
static int
bench_memory(struct bench *b, const char *variant)
{
	struct bench_daemon *d;
	pid_t pids[BENCH_MAX_PROCS];
	long workers = bench_workers_opt(b, 2), wmax = 0, rss;
	int plugin = strcmp(variant, "after-plugin") == 0;
	int after = strcmp(variant, "fresh") != 0;
	long n = after ? bench_jobs(b, plugin ? 100000 : 10000) : 0;
	char *cause = NULL, *cmd;
	json_t *res, *pj;
	int i, np;

	cmd = bench_cmdline(b, "memory", variant, n, BENCH_CL_DAEMON |
	    (after ? BENCH_CL_ENQUEUE : 0));
	if (bench_plugin_missing(b, plugin, "memory", variant, cmd))
		return 0;
	if ((d = bench_noop_daemon(b, "memory", workers, plugin, &cause)) ==
	    NULL)
		bench_fatal("%s", cause);
	if (after && bench_drain(b, "memory", variant, "noop", n, 0, NULL,
	    &cause) != 0) {
		bench_daemon_stop(b, d);
		bench_fatal("memory/%s: %s", variant, cause);
	}
	bench_wait_ms(b, BENCH_SETTLE_MS);

	fprintf(b->out, "memory/%s: %ld workers, idle", variant, workers);
	if (after)
		fprintf(b->out, " after running %ld %s jobs", n, plugin ?
		    "plugin noop" : "/bin/true");
	fprintf(b->out, "\n");
	pj = json_array();
	json_array_append_new(pj, bench_memory_proc(b, d->proc->pid,
	    "supervisor"));
	np = bench_workers(d, pids, (int)nitems(pids));
	for (i = 0; i < np; i++) {
		json_array_append_new(pj, bench_memory_proc(b, pids[i],
		    "worker"));
		if ((rss = bench_proc_kb(pids[i], "status", "VmRSS")) > wmax)
			wmax = rss;
	}
	res = bench_result(b, "memory", variant);
	json_object_set_new(res, "processes", pj);
	json_object_set_new(res, "worker_vmrss_max_kib", json_integer(wmax));
	json_object_set_new(res, "jobs_before", json_integer(n));
	bench_result_daemon(b, res, workers, !after ? NULL : plugin ?
	    "plugin noop" : "exec /bin/true");
	bench_record(b, res, cmd, "worker_vmrss_max_kib", 0);
	bench_daemon_stop(b, d);
	bench_clean(b);
	return 0;
}

/* ---------------------------------------------------------------------
 * spawn
 */

static double
bench_tv(const struct timeval *tv)
{
	return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

/*
 * One spawner: run n /bin/true children, at most c at once, with fork and
 * execve or with posix_spawn (vfork-like on glibc), and write its own CPU
 * and its children's, in seconds, to fd.
 */
static void __dead
bench_spawner(long n, long c, int use_spawn, int fd)
{
	static char *const argv[] = { (char *)"true", NULL };
	static char *const envp[] = { (char *)"PATH=/usr/bin:/bin", NULL };
	struct rusage self, kids;
	double cpu[2];
	long started = 0, running = 0;
	pid_t pid;

	while (started < n || running > 0) {
		if (started < n && running < c) {
			if (use_spawn) {
				if (posix_spawn(&pid, "/bin/true", NULL, NULL,
				    argv, envp) != 0)
					_exit(1);
			} else {
				if ((pid = fork()) == -1)
					_exit(1);
				if (pid == 0) {
					execve("/bin/true", argv, envp);
					_exit(127);
				}
			}
			started++;
			running++;
			continue;
		}
		if (waitpid(-1, NULL, 0) > 0)
			running--;
	}
	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids);
	cpu[0] = bench_tv(&self.ru_utime) + bench_tv(&self.ru_stime);
	cpu[1] = bench_tv(&kids.ru_utime) + bench_tv(&kids.ru_stime);
	if (write(fd, cpu, sizeof cpu) != sizeof cpu)
		_exit(1);
	_exit(0);
}

/* One spawner's share, for bench_spawner_run() in its child. */
struct bench_spawner {
	long	n;
	long	c;
	int	use_spawn;
	int	fd;
};

static int
bench_spawner_run(void *arg)
{
	struct bench_spawner *sp = arg;

	bench_spawner(sp->n, sp->c, sp->use_spawn, sp->fd);
}

/*
 * The spawn scenario: no Redis, no daemon. The same number of processes
 * and children in flight as the daemon's workers and slots, doing nothing
 * but start /bin/true and reap it: the ceiling for exec handlers here,
 * and what posix_spawn would save over fork.
 */
static int
bench_spawn(struct bench *b, const char *variant)
{
	long n = bench_jobs(b, 20000), workers = bench_workers_opt(b, 2), i;
	int use_spawn = strcmp(variant, "posix_spawn") == 0, p[2];
	double cpu[2], self = 0, kids = 0, secs;
	struct bench_spawner *sp;
	struct proc **procs;
	struct timespec t0;
	char *why = NULL;
	json_t *res;

	if (pipe(p) == -1)
		bench_fatal("pipe: %s", strerror(errno));
	sp = xcalloc((size_t)workers, sizeof *sp);
	procs = xcalloc((size_t)workers, sizeof *procs);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < workers; i++) {
		sp[i].n = n / workers + (i < n % workers);
		sp[i].c = b->o.concurrency;
		sp[i].use_spawn = use_spawn;
		sp[i].fd = p[1];
		procs[i] = proc_spawn(&(struct proc_spec){
		    .fn = bench_spawner_run, .arg = &sp[i], .name = "spawner" },
		    &why);
		if (procs[i] == NULL)
			bench_fatal("%s", why);
	}
	close(p[1]);
	for (i = 0; i < workers; i++) {
		/* They end by themselves; the deadline only guards a hang. */
		if (proc_wait(procs[i], BENCH_SPAWN_MS) != 0 ||
		    procs[i]->status != 0)
			bench_fatal("spawn/%s: a spawner failed", variant);
		proc_free(procs[i]);
	}
	free(procs);
	free(sp);
	secs = bench_elapsed(&t0);
	while (read(p[0], cpu, sizeof cpu) == sizeof cpu) {
		self += cpu[0];
		kids += cpu[1];
	}
	close(p[0]);

	res = bench_result(b, "spawn", variant);
	json_object_update_new(res, json_pack("{s:I, s:f, s:f, s:f, s:f, "
	    "s:I, s:I}",
	    "jobs", (json_int_t)n,
	    "seconds", secs,
	    "jobs_per_s", (double)n / secs,
	    "parent_us_per_job", self * 1e6 / (double)n,
	    "child_us_per_job", kids * 1e6 / (double)n,
	    "workers", (json_int_t)workers,
	    "concurrency", (json_int_t)b->o.concurrency));
	fprintf(b->out, "spawn/%s: %ld /bin/true in %.3f s from %ld "
	    "processes, %ld at once each\n", variant, n, secs, workers,
	    b->o.concurrency);
	fprintf(b->out, "  %12.0f jobs/s\n", (double)n / secs);
	fprintf(b->out, "  %12.2f us of CPU per job in the spawning "
	    "processes, %.2f in the children (getrusage)\n",
	    self * 1e6 / (double)n, kids * 1e6 / (double)n);
	bench_record(b, res, bench_cmdline(b, "spawn", variant, n,
	    BENCH_CL_DAEMON), "jobs_per_s", 1);
	return 0;
}

/* ---------------------------------------------------------------------
 * floor
 */

/*
 * The plainest protocol a Redis job queue can have, as a function
 * library of its own: a job is a hash (type, payload) and its id in a due
 * zset; a claim takes a batch of due ids off that zset, puts them in a
 * running zset and returns their hashes' fields; an ack deletes the
 * batch. No attempts, no leases renewed, no stats, no schema: what redjob
 * does on top of this must earn its cost, so its per-job figures are
 * compared with these.
 */
static const char bench_floor_lua[] =
    "#!lua name=redjobfloor\n"
    "local function jkey(q, id) return q .. ':j:' .. id end\n"
    /* KEYS due; ARGV base, now, then id, type, payload per job. */
    "redis.register_function('floor_enqueue', function(keys, args)\n"
    "  local z = {}\n"
    "  for i = 3, #args, 3 do\n"
    "    redis.call('HSET', jkey(args[1], args[i]), 'type', args[i + 1],\n"
    "        'payload', args[i + 2])\n"
    "    z[#z + 1] = args[2]\n"
    "    z[#z + 1] = args[i]\n"
    "  end\n"
    "  redis.call('ZADD', keys[1], unpack(z))\n"
    "  return #z / 2\n"
    "end)\n"
    /* KEYS due, run; ARGV base, now, batch, lease deadline. */
    "redis.register_function('floor_claim', function(keys, args)\n"
    "  local ids = redis.call('ZRANGE', keys[1], '-inf', args[2],\n"
    "      'BYSCORE', 'LIMIT', 0, tonumber(args[3]))\n"
    "  if #ids == 0 then return ids end\n"
    "  redis.call('ZREM', keys[1], unpack(ids))\n"
    "  local z, out = {}, {}\n"
    "  for _, id in ipairs(ids) do\n"
    "    z[#z + 1] = args[4]\n"
    "    z[#z + 1] = id\n"
    "    local f = redis.call('HMGET', jkey(args[1], id), 'type',\n"
    "        'payload')\n"
    "    out[#out + 1] = id\n"
    "    out[#out + 1] = f[1]\n"
    "    out[#out + 1] = f[2]\n"
    "  end\n"
    "  redis.call('ZADD', keys[2], unpack(z))\n"
    "  return out\n"
    "end)\n"
    /* KEYS run; ARGV base, then the ids. */
    "redis.register_function('floor_ack', function(keys, args)\n"
    "  local k = {}\n"
    "  for i = 2, #args do k[#k + 1] = jkey(args[1], args[i]) end\n"
    "  redis.call('ZREM', keys[1], unpack(args, 2))\n"
    "  return redis.call('DEL', unpack(k))\n"
    "end)\n";

#define BENCH_FLOOR_BASE BENCH_NAMESPACE ":{floor}"
#define BENCH_FLOOR_BULK 256	/* jobs per floor_enqueue, as libredjob's
				   redjob_enqueue_bulk calls */

static void
bench_floor_load(struct bench *b)
{
	freeReplyObject(bench_command(b, "FUNCTION LOAD REPLACE %s",
	    bench_floor_lua));
}

/* A client connection of its own to the bench's Redis. */
static redisContext *
bench_floor_connect(struct bench *b)
{
	struct url u;
	redisContext *c;
	redisReply *r;
	char err[256];

	if (url_parse(b->t.url, &u, err, sizeof err) != 0)
		bench_fatal("%s", err);
	if (u.path[0] != '\0')
		c = redisConnectUnix(u.path);
	else
		c = redisConnect(u.host, u.port);
	if (c == NULL || c->err != 0)
		bench_fatal("connect to %s: %s", b->t.url, c != NULL ?
		    c->errstr : "out of memory");
	if (u.password[0] != '\0') {
		r = u.user[0] != '\0' ? redisCommand(c, "AUTH %s %s", u.user,
		    u.password) : redisCommand(c, "AUTH %s", u.password);
		if (r == NULL || r->type == REDIS_REPLY_ERROR)
			bench_fatal("AUTH: %s", r != NULL ? r->str :
			    c->errstr);
		freeReplyObject(r);
	}
	if (u.db != 0)
		freeReplyObject(redisCommand(c, "SELECT %d", u.db));
	explicit_bzero(u.password, sizeof u.password);
	return c;
}

static redisReply *
bench_floor_reply(redisContext *c, const char *what)
{
	redisReply *r;

	if (redisGetReply(c, (void **)&r) != REDIS_OK || r == NULL)
		bench_fatal("%s: %s", what, c->errstr);
	if (r->type == REDIS_REPLY_ERROR)
		bench_fatal("%s: %s", what, r->str);
	return r;
}

/*
 * Enqueue n floor jobs from id first on: one floor_enqueue per job, or
 * BENCH_FLOOR_BULK a call with -b jobs' worth of calls in flight.
 */
static void
bench_floor_fill(struct bench *b, redisContext *c, long first, long n,
    int bulk)
{
	long per = bulk ? BENCH_FLOOR_BULK : 1, sent = 0, added = 0, k, i;
	long window = bulk ? (b->o.batch + per - 1) / per : 1, inflight = 0;
	char *payload = bench_payload(b), (*ids)[24], now[24];
	const char **av;
	size_t *avlen, ac;
	redisReply *r;

	ids = xcalloc((size_t)per, sizeof *ids);
	av = xcalloc((size_t)(6 + 3 * per), sizeof *av);
	avlen = xcalloc((size_t)(6 + 3 * per), sizeof *avlen);
	snprintf(now, sizeof now, "%llu", (unsigned long long)
	    (bench_realtime_ns() / 1000000));
	while (sent < n || inflight > 0) {
		/* Up to window calls in flight, then read one reply. */
		if (sent < n && inflight < window) {
			k = n - sent < per ? n - sent : per;
			ac = 0;
			av[ac++] = "FCALL";
			av[ac++] = "floor_enqueue";
			av[ac++] = "1";
			av[ac++] = BENCH_FLOOR_BASE ":due";
			av[ac++] = BENCH_FLOOR_BASE;
			av[ac++] = now;
			for (i = 0; i < k; i++) {
				snprintf(ids[i], sizeof ids[i], "%ld",
				    first + sent + i);
				av[ac++] = ids[i];
				av[ac++] = "noop";
				av[ac++] = payload;
			}
			for (i = 0; i < (long)ac; i++)
				avlen[i] = av[i] == payload ?
				    (size_t)b->o.payload : strlen(av[i]);
			if (redisAppendCommandArgv(c, (int)ac, av, avlen) !=
			    REDIS_OK)
				bench_fatal("floor_enqueue: %s", c->errstr);
			sent += k;
			inflight++;
			continue;
		}
		r = bench_floor_reply(c, "floor_enqueue");
		added += r->integer;
		freeReplyObject(r);
		inflight--;
	}
	if (added != n)
		bench_fatal("floor_enqueue: %ld of %ld jobs added", added, n);
	free(avlen);
	free(av);
	free(ids);
	free(payload);
}

/* One floor consumer's share, for bench_floor_consumer() in its child. */
struct bench_floor_consumer {
	struct bench	*b;
	long		 batch;
	int		 go;	/* read end: EOF means start */
	int		 go_w;	/* the write end, closed in the child */
};

/*
 * One floor consumer: after the go signal, claim a batch, "run" each job
 * (nothing), ack the batch together with the next claim in one round
 * trip, until a claim comes back empty.
 */
static int
bench_floor_consumer(void *arg)
{
	struct bench_floor_consumer *fc = arg;
	redisContext *c;
	redisReply *r;
	const char **av;
	size_t ac, i, nids = 0;
	char batch[24], lease[24], now[24], c1;

	close(fc->go_w);
	c = bench_floor_connect(fc->b);
	/* floor_ack: FCALL, its name, numkeys, the key, the base, ids. */
	av = xcalloc((size_t)fc->batch + 5, sizeof *av);
	snprintf(batch, sizeof batch, "%ld", fc->batch);
	while (read(fc->go, &c1, 1) == -1 && errno == EINTR)
		;
	r = NULL;
	for (;;) {
		snprintf(now, sizeof now, "%llu", (unsigned long long)
		    (bench_realtime_ns() / 1000000));
		snprintf(lease, sizeof lease, "%llu", (unsigned long long)
		    (bench_realtime_ns() / 1000000 + 60000));
		if (nids > 0) {
			ac = 0;
			av[ac++] = "FCALL";
			av[ac++] = "floor_ack";
			av[ac++] = "1";
			av[ac++] = BENCH_FLOOR_BASE ":run";
			av[ac++] = BENCH_FLOOR_BASE;
			for (i = 0; i < nids; i++)
				av[ac++] = r->element[3 * i]->str;
			if (redisAppendCommandArgv(c, (int)ac, av, NULL) !=
			    REDIS_OK)
				_exit(1);
		}
		if (redisAppendCommand(c, "FCALL floor_claim 2 %s %s %s %s "
		    "%s %s", BENCH_FLOOR_BASE ":due", BENCH_FLOOR_BASE ":run",
		    BENCH_FLOOR_BASE, now, batch, lease) != REDIS_OK)
			_exit(1);
		if (nids > 0)
			freeReplyObject(bench_floor_reply(c, "floor_ack"));
		freeReplyObject(r);
		r = bench_floor_reply(c, "floor_claim");
		if (r->type != REDIS_REPLY_ARRAY || r->elements == 0)
			break;
		nids = r->elements / 3;
	}
	freeReplyObject(r);
	free(av);
	redisFree(c);
	return 0;
}

/*
 * The floor scenario. "enqueue-single" and "enqueue-bulk" are the
 * enqueue scenario's two variants on the floor protocol (bulk:
 * BENCH_FLOOR_BULK jobs a call, -b jobs in flight), with Redis memory per
 * waiting job; "process" drains N jobs with --workers consumer processes
 * claiming as many jobs a call as redjobd's workers would with the same
 * settings (bench_claim_batch()).
 */
static int
bench_floor(struct bench *b, const char *variant)
{
	struct bench_floor_consumer *fc;
	redisContext *c;
	struct proc **procs;
	long n, workers = bench_workers_opt(b, 2), i, conc = 0, batch = 0;
	long long mem0, mem;
	int process = strncmp(variant, "process", 7) == 0, go[2];
	char *why = NULL, *cmd;
	redisReply *r;
	json_t *res;

	if (b->t.cluster) {
		bench_unavailable(b, "floor", variant, "the floor runs on one "
		    "Redis: its functions are loaded on the first master only",
		    bench_cmdline(b, "floor", variant, 0, 0));
		return 0;
	}
	bench_floor_load(b);
	freeReplyObject(bench_command(b, "UNLINK %s:due %s:run",
	    BENCH_FLOOR_BASE, BENCH_FLOOR_BASE));
	c = bench_floor_connect(b);
	if (!process) {
		n = bench_jobs(b, 100000);
		cmd = bench_cmdline(b, "floor", variant, n, BENCH_CL_ENQUEUE);
		/* The function library and the keys exist beforehand, as
		 * with redjob's enqueue scenario. */
		bench_floor_fill(b, c, 0, 1, 0);
		mem0 = bench_used_memory(b, NULL);
		bench_begin(b);
		bench_floor_fill(b, c, 1, n, strcmp(variant,
		    "enqueue-bulk") == 0);
		res = bench_end(b, "floor", variant, n);
		mem = bench_used_memory(b, NULL) - mem0;
		fprintf(b->out, "  %12.1f bytes of Redis memory per waiting "
		    "job (INFO memory: used_memory, %ld jobs of %ld-byte "
		    "payloads)\n", (double)mem / n, n, b->o.payload);
		json_object_set_new(res, "redis_bytes_per_job",
		    json_real((double)mem / n));
		json_object_set_new(res, "batch", json_integer(strcmp(variant,
		    "enqueue-bulk") == 0 ? BENCH_FLOOR_BULK : 1));
		json_object_set_new(res, "payload_bytes",
		    json_integer(b->o.payload));
		bench_record(b, res, cmd, "jobs_per_s", 1);
	} else {
		if (strcmp(variant, "process-serial") == 0) {
			conc = b->o.concurrency;
			batch = b->o.claim_batch;
			b->o.concurrency = 1;
			b->o.claim_batch = 1;
		}
		n = bench_jobs(b, conc > 0 ? 20000 : 100000);
		cmd = bench_cmdline(b, "floor", variant, n, BENCH_CL_DAEMON |
		    BENCH_CL_ENQUEUE);
		bench_floor_fill(b, c, 0, n, 1);
		if (pipe(go) == -1)
			bench_fatal("pipe: %s", strerror(errno));
		fc = xcalloc((size_t)workers, sizeof *fc);
		procs = xcalloc((size_t)workers, sizeof *procs);
		for (i = 0; i < workers; i++) {
			fc[i].b = b;
			fc[i].batch = bench_claim_batch(b);
			fc[i].go = go[0];
			fc[i].go_w = go[1];
			procs[i] = proc_spawn(&(struct proc_spec){
			    .fn = bench_floor_consumer, .arg = &fc[i],
			    .name = "floor consumer" }, &why);
			if (procs[i] == NULL)
				bench_fatal("%s", why);
		}
		close(go[0]);
		/* Their connections are up or on the way: start them. */
		bench_begin(b);
		close(go[1]);
		for (i = 0; i < workers; i++) {
			if (proc_wait(procs[i], BENCH_STALL_MS * 10) != 0 ||
			    procs[i]->status != 0)
				bench_fatal("floor/process: a consumer failed");
			proc_free(procs[i]);
		}
		res = bench_end(b, "floor", variant, n);
		r = bench_command(b, "ZCARD %s:run", BENCH_FLOOR_BASE);
		if (r->integer != 0)
			bench_fatal("floor/process: %lld jobs left running",
			    r->integer);
		freeReplyObject(r);
		free(procs);
		free(fc);
		json_object_set_new(res, "workers", json_integer(workers));
		json_object_set_new(res, "concurrency",
		    json_integer(b->o.concurrency));
		json_object_set_new(res, "claim_batch",
		    json_integer(bench_claim_batch(b)));
		json_object_set_new(res, "payload_bytes",
		    json_integer(b->o.payload));
		bench_record(b, res, cmd, "jobs_per_s", 1);
		if (conc > 0) {
			b->o.concurrency = conc;
			b->o.claim_batch = batch;
		}
	}
	redisFree(c);
	bench_clean(b);
	return 0;
}

/* ---------------------------------------------------------------------
 * Peers: BullMQ and Sidekiq on the same Redis
 */

/*
 * A program in PATH, or NULL. Returns an allocated path.
 */
static char *
bench_which(const char *prog)
{
	const char *path = getenv("PATH"), *p, *e;
	char *f;

	for (p = path != NULL ? path : "/usr/bin:/bin"; *p != '\0'; p = e) {
		e = p + strcspn(p, ":");
		xasprintf(&f, "%.*s/%s", (int)(e - p), p, prog);
		if (e > p && access(f, X_OK) == 0)
			return f;
		free(f);
		if (*e == ':')
			e++;
	}
	return NULL;
}

/*
 * Whether a peer can run: its interpreter is in PATH and loads the
 * peer's library. Returns NULL, or why not (allocated). Found out once
 * per peer.
 */
static char *
bench_peer_missing(struct bench *b, const char *peer)
{
	char *why = NULL, *interp, *mod = NULL;
	const char *out;
	struct proc *p;
	json_t *doc;
	int node = strcmp(peer, "bullmq") == 0;

	if (b->sock == NULL || b->t.cluster)
		return xstrdup("the peers' scripts need one Redis on a unix "
		    "socket: the bench's own redis-server, or -u unix://PATH");
	if ((interp = bench_which(node ? "node" : "ruby")) == NULL) {
		xasprintf(&why, "%s is not in PATH (Debian: apt-get install "
		    "%s)", node ? "node" : "ruby", node ? "nodejs npm" :
		    "ruby-sidekiq");
		return why;
	}
	if (node) {
		xasprintf(&mod, "%s/node_modules/bullmq/package.json",
		    b->peers);
		if (access(mod, R_OK) != 0) {
			xasprintf(&why, "%s: %s (make bench-peers installs "
			    "BullMQ there; --peers DIR elsewhere)", mod,
			    strerror(errno));
			free(mod);
			free(interp);
			return why;
		}
		if ((doc = json_load_file(mod, 0, NULL)) != NULL &&
		    json_is_string(json_object_get(doc, "version")))
			b->bullmq_version = xstrdup(json_string_value(
			    json_object_get(doc, "version")));
		json_decref(doc);
		fprintf(b->out, "bullmq %s (%s)\n", b->bullmq_version != NULL ?
		    b->bullmq_version : "?", interp);
		free(mod);
		free(interp);
		return NULL;
	}
	p = proc_spawn(&(struct proc_spec){ .argv = (char *const[]){ interp,
	    (char *)"-e", (char *)"require 'sidekiq'; print Sidekiq::VERSION",
	    NULL }, .out = PROC_IO_CAPTURE, .err = PROC_IO_STDOUT }, &why);
	if (p == NULL) {
		free(interp);
		return why;
	}
	if (proc_wait(p, BENCH_READY_MS) != 0 || p->status != 0) {
		out = p->out != NULL ? p->out : "";
		xasprintf(&why, "%s cannot load sidekiq (Debian: apt-get "
		    "install ruby-sidekiq): %.*s", interp,
		    (int)strcspn(out, "\n"), out);
	} else {
		b->sidekiq_version = xstrdup(p->out);
		fprintf(b->out, "sidekiq %s (%s)\n", p->out, interp);
	}
	proc_free(p);
	free(interp);
	return why;
}

/* Add the peer's version to a result of its. */
static void
bench_peer_version(struct bench *b, const char *peer, json_t *res)
{
	const char *v = strcmp(peer, "bullmq") == 0 ? b->bullmq_version :
	    b->sidekiq_version;

	json_object_set_new(res, "peer_version", json_string(v != NULL ? v :
	    "?"));
}

/*
 * Start a peer script: node or ruby with argv (NULL-terminated, after the
 * interpreter and the script), stdin kept open for "go", stdout and
 * stderr captured. Waits for its "ready".
 */
static struct proc *
bench_peer_start(struct bench *b, const char *peer, char **args)
{
	int node = strcmp(peer, "bullmq") == 0;
	char *argv[32], *why = NULL, *interp, *script;
	struct proc *p;
	size_t n = 0, i;

	interp = bench_which(node ? "node" : "ruby");
	xasprintf(&script, "%s/%s", b->peer_scripts, node ? "bullmq.mjs" :
	    "sidekiq.rb");
	argv[n++] = interp;
	argv[n++] = script;
	for (i = 0; args[i] != NULL && n < nitems(argv) - 1; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	p = proc_spawn(&(struct proc_spec){ .argv = argv, .in_keep = 1,
	    .out = PROC_IO_CAPTURE, .err = PROC_IO_STDOUT, .pgroup = 1 },
	    &why);
	if (p == NULL)
		bench_fatal("%s", why);
	if (proc_wait_output(p, "ready\n", BENCH_READY_MS) != 0)
		bench_fatal("%s %s %s: not ready: %s", interp, script, args[0],
		    p->out != NULL ? p->out : "(no output)");
	free(interp);
	free(script);
	return p;
}

static void
bench_peer_go(struct proc **ps, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		(void)proc_feed(ps[i], "go\n", 3);
	proc_pump(ps, n, 0);
}

/* Wait for a peer script's "done"; exits with its output if it fails. */
static void
bench_peer_done(struct proc *p)
{
	if (proc_wait_output(p, "done\n", BENCH_SPAWN_MS) != 0)
		bench_fatal("%s failed: %s", p->name, p->out != NULL ? p->out :
		    "(no output)");
}

/* Delete a peer's keys: those matching pattern. */
static void
bench_clean_match(struct bench *b, const char *pattern)
{
	redisReply *r, *d;
	char cursor[32] = "0";
	size_t i;

	do {
		r = bench_command(b, "SCAN %s MATCH %s COUNT 1000", cursor,
		    pattern);
		snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
		for (i = 0; i < r->element[1]->elements; i++) {
			d = bench_command(b, "UNLINK %s",
			    r->element[1]->element[i]->str);
			freeReplyObject(d);
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
}

static void
bench_peer_clean(struct bench *b)
{
	bench_clean_match(b, "bull:" BENCH_NAMESPACE ":*");
	bench_clean_match(b, "queue:" BENCH_NAMESPACE "*");
	/* What Sidekiq servers leave: their registry and heartbeats. */
	freeReplyObject(bench_command(b, "UNLINK processes"));
	freeReplyObject(bench_command(b, "SREM queues %s %s-hold",
	    BENCH_NAMESPACE, BENCH_NAMESPACE));
}

/*
 * Add n jobs with a peer's script: bulk B jobs a call, or one at a time;
 * delayed by delay ms if > 0. With res NULL, outside any measurement;
 * else measured, with Redis memory per waiting job, and *res set.
 */
static void
bench_peer_add(struct bench *b, const char *peer, const char *variant,
    const char *queue, long n, long bulk, long delay, json_t **res)
{
	char nb[24], pb[24], bb[24], db[24], *args[16];
	struct proc *p;
	long long mem0 = 0, mem;
	size_t k = 0;

	snprintf(nb, sizeof nb, "%ld", n);
	snprintf(pb, sizeof pb, "%ld", b->o.payload);
	snprintf(bb, sizeof bb, "%ld", bulk);
	snprintf(db, sizeof db, "%ld", delay);
	args[k++] = (char *)"add";
	if (strcmp(peer, "bullmq") == 0) {
		args[k++] = (char *)"--modules";
		args[k++] = b->peers;
	}
	args[k++] = (char *)"--socket";
	args[k++] = b->sock;
	args[k++] = (char *)"--queue";
	args[k++] = (char *)queue;
	args[k++] = (char *)"-n";
	args[k++] = nb;
	args[k++] = (char *)"--payload-size";
	args[k++] = pb;
	if (bulk > 0) {
		args[k++] = (char *)"--bulk";
		args[k++] = bb;
	}
	if (delay > 0) {
		args[k++] = (char *)"--delay";
		args[k++] = db;
	}
	args[k] = NULL;
	p = bench_peer_start(b, peer, args);
	if (res != NULL) {
		mem0 = bench_used_memory(b, NULL);
		bench_begin(b);
	}
	bench_peer_go(&p, 1);
	bench_peer_done(p);
	if (res != NULL) {
		*res = bench_end(b, peer, variant, n);
		mem = bench_used_memory(b, NULL) - mem0;
		fprintf(b->out, "  %12.1f bytes of Redis memory per waiting "
		    "job (INFO memory: used_memory, %ld jobs of %ld-byte "
		    "payloads)\n", (double)mem / n, n, b->o.payload);
		json_object_set_new(*res, "redis_bytes_per_job",
		    json_real((double)mem / n));
		json_object_set_new(*res, "batch", json_integer(bulk > 0 ?
		    bulk : 1));
		bench_peer_version(b, peer, *res);
		json_object_set_new(*res, "payload_bytes",
		    json_integer(b->o.payload));
	}
	(void)proc_stop(p, SIGTERM, BENCH_STOP_MS);
}

/* Jobs BullMQ still has to run, or -1 if one failed. One poll. */
static long long
bench_bullmq_left(struct bench *b)
{
	static const char *const cmds[] = {
		"LLEN bull:" BENCH_NAMESPACE ":wait",
		"LLEN bull:" BENCH_NAMESPACE ":active",
		"ZCARD bull:" BENCH_NAMESPACE ":delayed",
		"ZCARD bull:" BENCH_NAMESPACE ":prioritized",
		"ZCARD bull:" BENCH_NAMESPACE ":failed",
	};
	redisReply *r;
	long long left = 0;
	size_t i;

	b->polls++;
	for (i = 0; i < nitems(cmds); i++)
		redisAppendCommand(b->t.master[0].c, cmds[i]);
	for (i = 0; i < nitems(cmds); i++) {
		if (redisGetReply(b->t.master[0].c, (void **)&r) != REDIS_OK ||
		    r == NULL || r->type != REDIS_REPLY_INTEGER)
			bench_fatal("redis: %s: %s", cmds[i], r != NULL &&
			    r->str != NULL ? r->str : b->t.master[0].c->errstr);
		if (i == nitems(cmds) - 1 && r->integer > 0)
			left = -1;
		else if (left >= 0)
			left += r->integer;
		freeReplyObject(r);
	}
	return left;
}

/*
 * The bullmq scenario. "add" and "bulk-add" are the enqueue scenario's
 * variants (Queue.add() awaited one by one; Queue.addBulk() of -b jobs),
 * with memory per waiting job; "process": --workers node processes, each
 * a Worker of --concurrency with a no-op processor, drain N jobs added
 * beforehand; "delayed" the same with jobs added with a --delay that has
 * passed when the workers start; "manual": --workers processes fetch and
 * complete one job at a time with nothing prefetched.
 */
static int
bench_bullmq(struct bench *b, const char *variant)
{
	int process = strcmp(variant, "process") == 0, delayed =
	    strcmp(variant, "delayed") == 0, manual = strcmp(variant,
	    "manual") == 0, bulk = strcmp(variant, "bulk-add") == 0;
	long n = bench_jobs(b, process || delayed || bulk ? 100000 : 20000);
	long workers = bench_workers_opt(b, 2), i;
	struct proc **ps;
	char cb[24], *args[16], *cmd, *why;
	long long left, last = -1;
	uint64_t progress;
	json_t *res;
	size_t k;

	cmd = bench_cmdline(b, "bullmq", variant, n, BENCH_CL_ENQUEUE |
	    (process || delayed || manual ? BENCH_CL_DAEMON : 0) |
	    (delayed ? BENCH_CL_DELAY : 0) | BENCH_CL_PEERS);
	if (b->bullmq_why == NULL && !b->bullmq_checked) {
		b->bullmq_why = bench_peer_missing(b, "bullmq");
		b->bullmq_checked = 1;
	}
	if (b->bullmq_why != NULL) {
		bench_unavailable(b, "bullmq", variant, b->bullmq_why, cmd);
		return 0;
	}
	bench_peer_clean(b);
	b->split = BENCH_SPLIT_SCRIPTS;
	if (!process && !delayed && !manual) {
		bench_peer_add(b, "bullmq", variant, BENCH_NAMESPACE, n,
		    bulk ? b->o.batch : 0, 0, &res);
		bench_record(b, res, cmd, "jobs_per_s", 1);
		b->split = BENCH_SPLIT_REDJOB;
		bench_peer_clean(b);
		return 0;
	}
	bench_peer_add(b, "bullmq", variant, BENCH_NAMESPACE, n, b->o.batch,
	    delayed ? b->o.delay_ms : 0, NULL);
	if (delayed)
		bench_wait_ms(b, b->o.delay_ms);
	snprintf(cb, sizeof cb, "%ld", b->o.concurrency);
	k = 0;
	args[k++] = (char *)"work";
	args[k++] = (char *)"--modules";
	args[k++] = b->peers;
	args[k++] = (char *)"--socket";
	args[k++] = b->sock;
	args[k++] = (char *)"--queue";
	args[k++] = (char *)BENCH_NAMESPACE;
	args[k++] = (char *)"--concurrency";
	args[k++] = cb;
	if (manual)
		args[k++] = (char *)"--manual";
	args[k] = NULL;
	ps = xcalloc((size_t)workers, sizeof *ps);
	for (i = 0; i < workers; i++)
		ps[i] = bench_peer_start(b, "bullmq", args);
	b->peer_polling = BENCH_POLL_BULLMQ;
	bench_begin(b);
	bench_peer_go(ps, (size_t)workers);
	progress = bench_now_ms();
	for (;;) {
		proc_pump(ps, (size_t)workers, BENCH_POLL_US / 1000);
		if ((left = bench_bullmq_left(b)) == 0)
			break;
		if (left < 0)
			bench_fatal("bullmq/%s: jobs failed", variant);
		for (i = 0; i < workers; i++) {
			if (ps[i]->status != -1)
				bench_fatal("bullmq/%s: a worker ended: %s",
				    variant, ps[i]->out);
		}
		if (left != last) {
			last = left;
			progress = bench_now_ms();
		} else if (bench_now_ms() - progress > BENCH_STALL_MS) {
			xasprintf(&why, "no progress for %d s, %lld jobs left",
			    BENCH_STALL_MS / 1000, left);
			bench_fatal("bullmq/%s: %s", variant, why);
		}
	}
	res = bench_end(b, "bullmq", variant, n);
	b->peer_polling = 0;
	b->split = BENCH_SPLIT_REDJOB;
	for (i = 0; i < workers; i++)
		(void)proc_stop(ps[i], SIGTERM, BENCH_STOP_MS);
	free(ps);
	json_object_set_new(res, "workers", json_integer(workers));
	json_object_set_new(res, "concurrency", json_integer(manual ? 1 :
	    b->o.concurrency));
	json_object_set_new(res, "payload_bytes", json_integer(b->o.payload));
	if (delayed)
		json_object_set_new(res, "delay_ms",
		    json_integer(b->o.delay_ms));
	bench_peer_version(b, "bullmq", res);
	bench_record(b, res, cmd, "jobs_per_s", 1);
	bench_peer_clean(b);
	return 0;
}

/*
 * The sidekiq scenario: "add" and "bulk-add" are the enqueue scenario's
 * variants with Sidekiq::Client (push one by one; push_bulk of -b), with
 * memory per waiting job. "process": N jobs pushed to a queue nobody
 * serves, --workers Sidekiq servers of --concurrency threads started on
 * another; the clock starts when the bench RENAMEs the first queue's list
 * to the second's (one O(1) command) and stops when that list is empty,
 * with at most workers x concurrency jobs still running: Sidekiq keeps no
 * count of finished jobs that is exact at every moment.
 */
static int
bench_sidekiq(struct bench *b, const char *variant)
{
	int bulk = strcmp(variant, "bulk-add") == 0, process =
	    strcmp(variant, "process") == 0;
	long n = bench_jobs(b, bulk || process ? 100000 : 20000), i;
	long workers = bench_workers_opt(b, 2);
	char *cmd, *why, *sk, *script, cb[24], *env[2], *url;
	long long left, last = -1;
	uint64_t progress;
	struct proc **ps;
	redisReply *r;
	json_t *res;

	cmd = bench_cmdline(b, "sidekiq", variant, n, BENCH_CL_ENQUEUE |
	    (process ? BENCH_CL_DAEMON : 0));
	if (b->sidekiq_why == NULL && !b->sidekiq_checked) {
		b->sidekiq_why = bench_peer_missing(b, "sidekiq");
		b->sidekiq_checked = 1;
	}
	if (b->sidekiq_why != NULL) {
		bench_unavailable(b, "sidekiq", variant, b->sidekiq_why, cmd);
		return 0;
	}
	sk = bench_which("sidekiq");
	if (process && sk == NULL) {
		bench_unavailable(b, "sidekiq", variant, "the sidekiq server "
		    "is not in PATH (Debian: ruby-sidekiq has it)", cmd);
		return 0;
	}
	bench_peer_clean(b);
	b->split = BENCH_SPLIT_CLIENT;
	if (!process) {
		bench_peer_add(b, "sidekiq", variant, BENCH_NAMESPACE, n,
		    bulk ? b->o.batch : 0, 0, &res);
		b->split = BENCH_SPLIT_REDJOB;
		bench_record(b, res, cmd, "jobs_per_s", 1);
		bench_peer_clean(b);
		free(sk);
		return 0;
	}
	bench_peer_add(b, "sidekiq", variant, BENCH_NAMESPACE "-hold", n,
	    b->o.batch, 0, NULL);
	xasprintf(&script, "%s/sidekiq.rb", b->peer_scripts);
	xasprintf(&url, "REDIS_URL=unix://%s", b->sock);
	env[0] = url;
	env[1] = NULL;
	snprintf(cb, sizeof cb, "%ld", b->o.concurrency);
	ps = xcalloc((size_t)workers, sizeof *ps);
	for (i = 0; i < workers; i++) {
		why = NULL;
		ps[i] = proc_spawn(&(struct proc_spec){ .argv = (char *const[]){
		    sk, (char *)"-r", script, (char *)"-q",
		    (char *)BENCH_NAMESPACE, (char *)"-c", cb, (char *)"-t",
		    (char *)"5", NULL }, .env = env, .out = PROC_IO_CAPTURE,
		    .err = PROC_IO_STDOUT, .pgroup = 1 }, &why);
		if (ps[i] == NULL)
			bench_fatal("%s", why);
	}
	/* A server is up once its heartbeat has registered it. */
	progress = bench_now_ms();
	for (;;) {
		proc_pump(ps, (size_t)workers, 10);
		r = bench_command(b, "SCARD processes");
		left = r->integer;
		freeReplyObject(r);
		if (left >= workers)
			break;
		for (i = 0; i < workers; i++) {
			if (ps[i]->status != -1 || bench_now_ms() - progress >
			    BENCH_READY_MS)
				bench_fatal("sidekiq/%s: a server did not "
				    "start: %s", variant, ps[i]->out != NULL ?
				    ps[i]->out : "(no output)");
		}
	}
	b->peer_polling = BENCH_POLL_SIDEKIQ;
	bench_begin(b);
	freeReplyObject(bench_command(b, "RENAME queue:%s-hold queue:%s",
	    BENCH_NAMESPACE, BENCH_NAMESPACE));
	progress = bench_now_ms();
	for (;;) {
		proc_pump(ps, (size_t)workers, BENCH_POLL_US / 1000);
		b->polls++;
		r = bench_command(b, "LLEN queue:%s", BENCH_NAMESPACE);
		left = r->integer;
		freeReplyObject(r);
		if (left == 0)
			break;
		for (i = 0; i < workers; i++) {
			if (ps[i]->status != -1)
				bench_fatal("sidekiq/%s: a server ended: %s",
				    variant, ps[i]->out);
		}
		if (left != last) {
			last = left;
			progress = bench_now_ms();
		} else if (bench_now_ms() - progress > BENCH_STALL_MS)
			bench_fatal("sidekiq/%s: no progress for %d s, %lld "
			    "jobs left", variant, BENCH_STALL_MS / 1000, left);
	}
	res = bench_end(b, "sidekiq", variant, n);
	b->peer_polling = 0;
	b->split = BENCH_SPLIT_REDJOB;
	for (i = 0; i < workers; i++)
		(void)proc_stop(ps[i], SIGTERM, BENCH_STOP_MS);
	free(ps);
	free(script);
	free(url);
	free(sk);
	json_object_set_new(res, "workers", json_integer(workers));
	json_object_set_new(res, "concurrency",
	    json_integer(b->o.concurrency));
	json_object_set_new(res, "payload_bytes", json_integer(b->o.payload));
	bench_peer_version(b, "sidekiq", res);
	bench_record(b, res, cmd, "jobs_per_s", 1);
	bench_peer_clean(b);
	return 0;
}

/* ---------------------------------------------------------------------
 * main
 */

/* A figure of the best run of scenario/variant, or NAN if there is none. */
static double
bench_best(json_t *best, const char *sv, const char *field)
{
	json_t *r = json_object_get(best, sv), *v;

	if (r == NULL || (v = json_object_get(r, field)) == NULL ||
	    !json_is_number(v))
		return NAN;
	return json_number_value(v);
}

/* A cell of the side-by-side table: the figure, or "-" without one. */
static void
bench_cell(FILE *f, int width, int prec, double v)
{
	if (isnan(v))
		fprintf(f, " %*s", width, "-");
	else
		fprintf(f, " %*.*f", width, prec, v);
}

/* One target: "met" or "NOT met" with both sides, or why not judged. */
static void
bench_target(FILE *f, const char *what, double have, double limit,
    int at_most, const char *unit)
{
	if (isnan(have) || isnan(limit)) {
		fprintf(f, "  %-52s not measured in this run\n", what);
		return;
	}
	fprintf(f, "  %-52s %s: %.2f %s (target %s %.2f)\n", what,
	    (at_most ? have <= limit : have >= limit) ? "met" : "NOT met",
	    have, unit, at_most ? "<=" : ">=", limit);
}

/*
 * The side-by-side table of docs/performance.md and its speed targets,
 * from the best run of each variant that ran: redjob, the floor, BullMQ
 * and Sidekiq on the same Redis, exec handlers against bare spawn.
 */
static void
bench_compare(struct bench *b, json_t *best)
{
	static const struct {
		const char *name, *add, *bulk, *proc, *serial, *delayed;
	} rows[] = {
		{ "redjob (plugin noop)", "enqueue/single", "enqueue/pipelined",
		    "process/plugin", "process/plugin-serial",
		    "process/plugin-delayed" },
		{ "floor", "floor/enqueue-single", "floor/enqueue-bulk",
		    "floor/process", "floor/process-serial", NULL },
		{ "BullMQ", "bullmq/add", "bullmq/bulk-add", "bullmq/process",
		    "bullmq/manual", "bullmq/delayed" },
		{ "Sidekiq", "sidekiq/add", "sidekiq/bulk-add",
		    "sidekiq/process", NULL, NULL },
	};
	static const char *const lat[] = {
		"latency/idle-immediate", "latency/idle-delayed",
		"latency/load-immediate", "latency/load-delayed",
	};
	static const char *const guards[] = {
		"lock-distinct", "window", "funnel", "gcra", "concurrency",
	};
	FILE *f = b->out;
	double v, floor_cpu, floor_bulk;
	char key[64];
	size_t i;

	fprintf(f, "\nside by side (Redis CPU in us per job; - not run or "
	    "unavailable):\n"
	    "  %-22s %8s %8s %6s %7s %8s %6s %6s %8s %6s %8s\n"
	    "  %-22s %8s %8s %6s %7s %8s %6s %6s %8s %6s %8s\n",
	    "", "add", "bulk", "bulk", "bytes/", "process", "proc", "calls/",
	    "serial", "serial", "delayed",
	    "", "jobs/s", "jobs/s", "us", "waiting", "jobs/s", "us", "job",
	    "jobs/s", "us", "jobs/s");
	for (i = 0; i < nitems(rows); i++) {
		fprintf(f, "  %-22s", rows[i].name);
		bench_cell(f, 8, 0, bench_best(best, rows[i].add,
		    "jobs_per_s"));
		bench_cell(f, 8, 0, bench_best(best, rows[i].bulk,
		    "jobs_per_s"));
		bench_cell(f, 6, 2, bench_best(best, rows[i].bulk,
		    "redis_cpu_us_per_job"));
		bench_cell(f, 7, 0, bench_best(best, rows[i].bulk,
		    "redis_bytes_per_job"));
		bench_cell(f, 8, 0, bench_best(best, rows[i].proc,
		    "jobs_per_s"));
		bench_cell(f, 6, 2, bench_best(best, rows[i].proc,
		    "redis_cpu_us_per_job"));
		bench_cell(f, 6, 3, bench_best(best, rows[i].proc,
		    "client_calls_per_job"));
		bench_cell(f, 8, 0, rows[i].serial == NULL ? NAN :
		    bench_best(best, rows[i].serial, "jobs_per_s"));
		bench_cell(f, 6, 2, rows[i].serial == NULL ? NAN :
		    bench_best(best, rows[i].serial, "redis_cpu_us_per_job"));
		bench_cell(f, 8, 0, rows[i].delayed == NULL ? NAN :
		    bench_best(best, rows[i].delayed, "jobs_per_s"));
		fputc('\n', f);
	}
	fprintf(f, "  %-22s", "redjob exec /bin/true");
	bench_cell(f, 8, 0, NAN);
	bench_cell(f, 8, 0, NAN);
	bench_cell(f, 6, 2, NAN);
	bench_cell(f, 7, 0, NAN);
	bench_cell(f, 8, 0, bench_best(best, "process/exec", "jobs_per_s"));
	bench_cell(f, 6, 2, bench_best(best, "process/exec",
	    "redis_cpu_us_per_job"));
	fprintf(f, "\n  %-22s", "bare posix_spawn");
	bench_cell(f, 8, 0, NAN);
	bench_cell(f, 8, 0, NAN);
	bench_cell(f, 6, 2, NAN);
	bench_cell(f, 7, 0, NAN);
	bench_cell(f, 8, 0, bench_best(best, "spawn/posix_spawn",
	    "jobs_per_s"));
	fprintf(f, "\n  redjob dispatch latency, ms (p50 / p99):");
	for (i = 0; i < nitems(lat); i++) {
		fprintf(f, " %s", lat[i] + strlen("latency/"));
		bench_cell(f, 0, 2, bench_best(best, lat[i], "p50_ms"));
		fprintf(f, " /");
		bench_cell(f, 0, 2, bench_best(best, lat[i], "p99_ms"));
		fputc(i + 1 < nitems(lat) ? ',' : '\n', f);
	}

	fprintf(f, "\nspeed targets (docs/performance.md), in this run:\n");
	floor_cpu = bench_best(best, "floor/process", "redis_cpu_us_per_job");
	floor_bulk = bench_best(best, "floor/enqueue-bulk",
	    "redis_cpu_us_per_job");
	bench_target(f, "Redis CPU per plugin job <= 1.5x the floor's",
	    bench_best(best, "process/plugin", "redis_cpu_us_per_job"),
	    1.5 * floor_cpu, 1, "us");
	bench_target(f, "Redis CPU per bulk-enqueued job <= 1.3x the floor's",
	    bench_best(best, "enqueue/pipelined", "redis_cpu_us_per_job"),
	    1.3 * floor_bulk, 1, "us");
	bench_target(f, "plugin jobs/s >= 80,000",
	    bench_best(best, "process/plugin", "jobs_per_s"), 80000, 0,
	    "jobs/s");
	bench_target(f, "plugin jobs/s >= 4x BullMQ's process",
	    bench_best(best, "process/plugin", "jobs_per_s"),
	    4 * bench_best(best, "bullmq/process", "jobs_per_s"), 0,
	    "jobs/s");
	bench_target(f, "exec jobs/s >= 0.8x bare posix_spawn",
	    bench_best(best, "process/exec", "jobs_per_s"),
	    0.8 * bench_best(best, "spawn/posix_spawn", "jobs_per_s"), 0,
	    "jobs/s");
	bench_target(f, "memory per waiting job <= Sidekiq's + 30 %",
	    bench_best(best, "enqueue/pipelined", "redis_bytes_per_job"),
	    1.3 * bench_best(best, "sidekiq/bulk-add", "redis_bytes_per_job"),
	    1, "bytes");
	for (i = 0; i < nitems(lat); i++) {
		snprintf(key, sizeof key, "dispatch p99 <= 3 ms, %s",
		    lat[i] + strlen("latency/"));
		bench_target(f, key, bench_best(best, lat[i], "p99_ms"), 3, 1,
		    "ms");
	}
	for (i = 0; i < nitems(guards); i++) {
		snprintf(key, sizeof key, "guards/%s", guards[i]);
		/*
		 * A lock's jobs have a key each, so a hash each: against the
		 * unguarded run of such jobs when it ran.
		 */
		v = bench_best(best, "guards/none-keyed",
		    "redis_cpu_us_per_job");
		if (strcmp(guards[i], "lock-distinct") != 0 || isnan(v))
			v = bench_best(best, "guards/none",
			    "redis_cpu_us_per_job");
		v = bench_best(best, key, "redis_cpu_us_per_job") - v;
		snprintf(key, sizeof key, "%s adds <= 3 us of Redis CPU a job",
		    guards[i]);
		bench_target(f, key, v, 3, 1, "us");
	}
}

/*
 * After every run: for each variant run more than once, the best run by
 * its primary figure, with its command line.
 */
static void
bench_summary(struct bench *b)
{
	json_t *best = json_object(), *r, *cur, *bv, *rv;
	const char *k;
	char key[128];
	size_t i;
	int higher;

	json_array_foreach(b->results, i, r) {
		if (json_object_get(r, "primary") == NULL)
			continue;
		snprintf(key, sizeof key, "%s/%s",
		    json_string_value(json_object_get(r, "scenario")),
		    json_string_value(json_object_get(r, "variant")));
		k = json_string_value(json_object_get(r, "primary"));
		higher = json_is_true(json_object_get(r,
		    "primary_higher_is_better"));
		cur = json_object_get(best, key);
		rv = json_object_get(r, k);
		if (cur != NULL) {
			bv = json_object_get(cur, k);
			if (higher ? json_number_value(rv) <=
			    json_number_value(bv) : json_number_value(rv) >=
			    json_number_value(bv))
				continue;
		}
		json_object_set(best, key, r);
	}
	fprintf(b->out, "\nbest of %ld run%s:\n", b->o.repeat,
	    b->o.repeat == 1 ? "" : "s");
	json_object_foreach(best, k, r) {
		const char *p = json_string_value(json_object_get(r,
		    "primary"));

		fprintf(b->out, "  %-28s %14.3f %s (run %lld)\n", k,
		    json_number_value(json_object_get(r, p)), p,
		    (long long)json_integer_value(json_object_get(r, "run")));
	}
	if (b->compare)
		bench_compare(b, best);
	json_decref(best);
}

static void __dead
bench_usage(int status)
{
	size_t i;
	FILE *f = status == 0 ? stdout : stderr;

	fprintf(f, "usage: redjob-bench [--scenario NAME[,NAME...]|all] "
	    "[--variant NAME] "
	    "[-n JOBS] [--repeat N]\n"
	    "           [--json FILE] [-u URL | --redis-server PATH] "
	    "[options]\n\n"
	    "  -n JOBS             jobs per run (default: the scenario's)\n"
	    "  -b, --enqueue-batch B  jobs per redjob_enqueue_many() "
	    "(default 1000)\n"
	    "  --payload-size N    bytes of payload per job (default 100)\n"
	    "  --workers N         redjobd workers (default 2; idle: 4)\n"
	    "  --concurrency N     job slots per worker (default 8)\n"
	    "  --batch N           jobs per claim (YAML batch:, default: "
	    "redjobd's,\n"
	    "                      the concurrency but at least 32)\n"
	    "  --log-level L       the daemon's log_level (default info)\n"
	    "  --handler H         guards, cluster: auto, exec or plugin "
	    "(default auto)\n"
	    "  --samples N         latency probes per variant (default 200)\n"
	    "  --gap MIN-MAX       ms between latency probes (default 20-50)\n"
	    "  --delay MS          delay of delayed probes (default 200)\n"
	    "  --load-rate N       jobs/s of the latency load stream (default "
	    "500)\n"
	    "  --idle-seconds N    length of the idle reading (default 10)\n"
	    "  --repeat N          run each variant N times, report the best "
	    "(default 1)\n"
	    "  --breakdown         also count FCALLs per function (SLOWLOG; "
	    "costs Redis CPU)\n"
	    "  --keep              keep the temporary directory (configs, "
	    "logs)\n"
	    "  --perf FILE         perf record -g redis-server and redjobd "
	    "during the measured\n"
	    "                      section (FILE.N for the Nth); "
	    "redis-server alone in enqueue\n"
	    "                      and floor, which start no daemon\n"
	    "  --during CMD        run sh -c CMD during that section, with "
	    "$BENCH_PIDS,\n"
	    "                      $BENCH_REDIS_PID, $BENCH_SUPERVISOR_PID, "
	    "$BENCH_WORKER_PIDS;\n"
	    "                      SIGINT to its process group at the end "
	    "(e.g. strace -c)\n"
	    "  --redjobd PATH      the daemon (default: ../../src/redjobd "
	    "from this program)\n"
	    "  --plugin PATH       the example plugin (default: "
	    "../../examples/plugins/.libs/example.so)\n"
	    "  --probe PATH        the latency probe (default: probe next to "
	    "this program)\n"
	    "  -u URL              use this Redis (keys under \"%s:\"); of "
	    "a\n"
	    "                      redis+cluster:// URL, every master "
	    "(CLUSTER SLOTS)\n"
	    "  --redis-server P    start this redis-server (default "
	    "$REDIS_SERVER, else\n"
	    "                      redis-server); the cluster scenario's "
	    "too, even with -u\n"
	    "  --json FILE         write the results as JSON (- for stdout)\n"
	    "  --peers DIR         BullMQ installed here by npm install "
	    "--prefix DIR\n"
	    "                      (default: peers next to this program; "
	    "make bench-peers)\n"
	    "  --peer-scripts DIR  bullmq.mjs and sidekiq.rb (default: "
	    "the source tree's)\n"
	    "\nscenarios (variants):\n", BENCH_NAMESPACE);
	for (i = 0; i < nitems(scenarios); i++) {
		const char *const *v;

		fprintf(f, "  %-8s %s\n          (", scenarios[i].name,
		    scenarios[i].help);
		for (v = scenarios[i].variants; *v != NULL; v++)
			fprintf(f, "%s%s", *v, v[1] != NULL ? ", " : ")\n");
	}
	exit(status);
}

static long
bench_number(const char *s, const char *what, long lo)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo) {
		fprintf(stderr, "redjob-bench: %s must be a number >= %ld, not "
		    "\"%s\"\n", what, lo, s);
		bench_usage(EX_USAGE);
	}
	return v;
}

/*
 * A tool: the path given, else rel from this program's directory.
 * Returns an allocated absolute path (it may not exist).
 */
static char *
bench_tool(struct bench *b, const char *given, const char *rel)
{
	char *p, *abs;

	if (given != NULL)
		p = xstrdup(given);
	else
		xasprintf(&p, "%s/%s", b->exe_dir, rel);
	if ((abs = realpath(p, NULL)) != NULL) {
		free(p);
		return abs;
	}
	return p;
}

static void
bench_run_scenario(struct bench *b, const struct bench_scenario *sc)
{
	size_t i;

	for (i = 0; sc->variants[i] != NULL; i++) {
		if (b->o.variant != NULL &&
		    strcmp(b->o.variant, sc->variants[i]) != 0)
			continue;
		for (b->run = 1; b->run <= b->o.repeat; b->run++) {
			if (sc->run(b, sc->variants[i]) != 0)
				bench_fatal("%s/%s failed", sc->name,
				    sc->variants[i]);
		}
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "scenario", required_argument, NULL, 's' },
		{ "variant", required_argument, NULL, 'V' },
		{ "redis-server", required_argument, NULL, 'R' },
		{ "payload-size", required_argument, NULL, 'P' },
		{ "enqueue-batch", required_argument, NULL, 'b' },
		{ "workers", required_argument, NULL, 'w' },
		{ "concurrency", required_argument, NULL, 'C' },
		{ "batch", required_argument, NULL, 'B' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "handler", required_argument, NULL, 'H' },
		{ "samples", required_argument, NULL, 'S' },
		{ "gap", required_argument, NULL, 'G' },
		{ "delay", required_argument, NULL, 'D' },
		{ "load-rate", required_argument, NULL, 'l' },
		{ "idle-seconds", required_argument, NULL, 'I' },
		{ "repeat", required_argument, NULL, 'r' },
		{ "breakdown", no_argument, NULL, 'k' },
		{ "keep", no_argument, NULL, 'K' },
		{ "perf", required_argument, NULL, 'F' },
		{ "during", required_argument, NULL, 'T' },
		{ "redjobd", required_argument, NULL, 'x' },
		{ "plugin", required_argument, NULL, 'p' },
		{ "probe", required_argument, NULL, 'q' },
		{ "json", required_argument, NULL, 'J' },
		{ "peers", required_argument, NULL, 'e' },
		{ "peer-scripts", required_argument, NULL, 'E' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const struct bench_scenario *sc = NULL, *sel[16];
	struct bench b;
	const char *p, *e;
	size_t nsel = 0;
	const char *env, *tmp;
	char buf[PATH_MAX], *text, *slash;
	redisReply *r;
	json_t *doc;
	ssize_t len;
	size_t i;
	int ch, all = 0;

	memset(&b, 0, sizeof b);
	b.argv0 = argv[0];
	for (i = 0; i < nitems(bench_cluster_runs); i++)
		bench_cluster_variants[i] = bench_cluster_runs[i].variant;
	b.o.scenario = "enqueue";
	b.o.batch = 1000;
	b.o.payload = 100;
	b.o.concurrency = 8;
	b.o.log_level = "info";
	b.o.handler = "auto";
	b.o.samples = 200;
	b.o.gap_min_ms = 20;
	b.o.gap_max_ms = 50;
	b.o.delay_ms = 200;
	b.o.load_rate = 500;
	b.o.idle_secs = 10;
	b.o.repeat = 1;
	env = getenv("REDIS_SERVER");
	b.o.redis_server = env != NULL && *env != '\0' ? env : "redis-server";
	while ((ch = getopt_long(argc, argv, "n:b:u:h", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'n':
			b.o.jobs = bench_number(optarg, "-n", 1);
			break;
		case 'b':
			b.o.batch = bench_number(optarg, "-b", 1);
			break;
		case 'u':
			b.o.url = optarg;
			break;
		case 's':
			b.o.scenario = optarg;
			break;
		case 'V':
			b.o.variant = optarg;
			break;
		case 'R':
			b.o.redis_server = optarg;
			break;
		case 'P':
			b.o.payload = bench_number(optarg, "--payload-size", 0);
			if (b.o.payload > REDJOB_MAX_PAYLOAD_DEFAULT)
				bench_fatal("--payload-size is over the "
				    "default limit of %d bytes",
				    REDJOB_MAX_PAYLOAD_DEFAULT);
			break;
		case 'w':
			b.o.workers = bench_number(optarg, "--workers", 1);
			break;
		case 'C':
			b.o.concurrency = bench_number(optarg, "--concurrency",
			    1);
			break;
		case 'B':
			b.o.claim_batch = bench_number(optarg, "--batch", 1);
			break;
		case 'L':
			b.o.log_level = optarg;
			break;
		case 'H':
			if (strcmp(optarg, "auto") != 0 &&
			    strcmp(optarg, "exec") != 0 &&
			    strcmp(optarg, "plugin") != 0)
				bench_fatal("--handler: auto, exec or "
				    "plugin");
			b.o.handler = optarg;
			break;
		case 'S':
			b.o.samples = bench_number(optarg, "--samples", 1);
			break;
		case 'G':
			if (sscanf(optarg, "%ld-%ld", &b.o.gap_min_ms,
			    &b.o.gap_max_ms) != 2 || b.o.gap_min_ms < 0 ||
			    b.o.gap_max_ms < b.o.gap_min_ms)
				bench_fatal("--gap is MIN-MAX in ms, e.g. "
				    "20-50");
			break;
		case 'D':
			b.o.delay_ms = bench_number(optarg, "--delay", 1);
			break;
		case 'l':
			b.o.load_rate = bench_number(optarg, "--load-rate", 1);
			break;
		case 'I':
			b.o.idle_secs = bench_number(optarg, "--idle-seconds",
			    1);
			break;
		case 'r':
			b.o.repeat = bench_number(optarg, "--repeat", 1);
			break;
		case 'k':
			b.o.breakdown = 1;
			break;
		case 'K':
			b.o.keep = 1;
			break;
		case 'F':
			b.o.perf = optarg;
			break;
		case 'T':
			b.o.during = optarg;
			break;
		case 'x':
			b.o.redjobd = optarg;
			break;
		case 'p':
			b.o.plugin = optarg;
			break;
		case 'q':
			b.o.probe = optarg;
			break;
		case 'J':
			b.o.json = optarg;
			break;
		case 'e':
			b.o.peers = optarg;
			break;
		case 'E':
			b.o.peer_scripts = optarg;
			break;
		case 'h':
			bench_usage(0);
		default:
			bench_usage(EX_USAGE);
		}
	}
	if (optind != argc)
		bench_usage(EX_USAGE);
	all = strcmp(b.o.scenario, "all") == 0;
	/* NAME, or NAME,NAME,...: run in the order given. */
	for (p = b.o.scenario; !all; p = e + 1) {
		e = p + strcspn(p, ",");
		if (e == p)
			bench_fatal("--scenario: an empty name in \"%s\"",
			    b.o.scenario);
		for (i = 0; i < nitems(scenarios); i++) {
			if (strlen(scenarios[i].name) == (size_t)(e - p) &&
			    strncmp(scenarios[i].name, p, (size_t)(e - p)) ==
			    0)
				break;
		}
		if (i == nitems(scenarios))
			bench_fatal("no scenario \"%.*s\" (see --help)",
			    (int)(e - p), p);
		if (nsel == nitems(sel))
			bench_fatal("--scenario: too many names");
		sel[nsel++] = &scenarios[i];
		if (*e == '\0')
			break;
	}
	sc = nsel == 1 ? sel[0] : NULL;
	b.compare = sc == NULL;
	if (b.o.variant != NULL && sc == NULL)
		bench_fatal("--variant needs one --scenario");
	if (b.o.variant != NULL) {
		for (i = 0; sc->variants[i] != NULL; i++) {
			if (strcmp(sc->variants[i], b.o.variant) == 0)
				break;
		}
		if (sc->variants[i] == NULL)
			bench_fatal("scenario %s has no variant \"%s\"",
			    sc->name, b.o.variant);
	}
	/* libredjob leaves SIGPIPE alone; a dead Redis must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	b.out = b.o.json != NULL && strcmp(b.o.json, "-") == 0 ? stderr :
	    stdout;
	b.results = json_array();
	bench_self = &b;
	bench_pid = getpid();
	signal(SIGINT, bench_on_signal);
	signal(SIGTERM, bench_on_signal);
	signal(SIGHUP, bench_on_signal);

	/* Tools live next to this program in the build tree. */
	if ((len = readlink("/proc/self/exe", buf, sizeof buf - 1)) < 0)
		bench_fatal("readlink /proc/self/exe: %s", strerror(errno));
	buf[len] = '\0';
	if ((slash = strrchr(buf, '/')) != NULL)
		*slash = '\0';
	b.exe_dir = xstrdup(buf);
	b.redjobd = bench_tool(&b, b.o.redjobd, "../../src/redjobd");
	b.plugin = bench_tool(&b, b.o.plugin,
	    "../../examples/plugins/.libs/example.so");
	b.probe = bench_tool(&b, b.o.probe, "probe");
	b.peers = bench_tool(&b, b.o.peers, "peers");
	b.peer_scripts = xstrdup(b.o.peer_scripts != NULL ?
	    b.o.peer_scripts : BENCH_PEER_SCRIPTS);

	tmp = getenv("TMPDIR");
	xasprintf(&b.dir, "%s/redjob-bench-XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(b.dir) == NULL)
		bench_fatal("mkdtemp %s: %s", b.dir, strerror(errno));

	bench_lua_commands(&b, rfunc_lua);
	bench_lua_commands(&b, bench_floor_lua);
	if (b.o.url != NULL)
		bench_target_connect(&b, b.o.url);
	else
		bench_spawn_redis(&b);
	r = bench_command(&b, "INFO server");
	if (bench_info_field(r->str, "redis_version", b.redis_version,
	    sizeof b.redis_version) == NULL)
		snprintf(b.redis_version, sizeof b.redis_version, "?");
	freeReplyObject(r);
	fprintf(b.out, "redis %s at %s", b.redis_version, b.t.url);
	if (b.t.cluster)
		fprintf(b.out, " (%zu masters)", b.t.nmasters);
	fprintf(b.out, "\n");
	fprintf(b.out, "redjobd %s, function library version %d\n",
	    b.redjobd, rfunc_lib_version);
	/* Load the library, then learn what one stats poll costs. */
	redjob_free(bench_client(&b));
	bench_calibrate_polls(&b);

	if (all) {
		for (i = 0; i < nitems(scenarios); i++)
			bench_run_scenario(&b, &scenarios[i]);
	} else {
		for (i = 0; i < nsel; i++)
			bench_run_scenario(&b, sel[i]);
	}
	bench_summary(&b);

	if (b.o.json != NULL) {
		doc = json_pack("{s:s, s:s, s:s, s:i, s:i, s:o}", "tool",
		    "redjob-bench", "version", PACKAGE_VERSION, "redis_version",
		    b.redis_version, "library_version", rfunc_lib_version,
		    "cpus", (int)sysconf(_SC_NPROCESSORS_ONLN),
		    "results", b.results);
		b.results = NULL;
		if (doc == NULL || (text = json_dumps(doc, JSON_INDENT(2) |
		    JSON_SORT_KEYS)) == NULL)
			bench_fatal("cannot build the JSON document");
		if (strcmp(b.o.json, "-") == 0)
			printf("%s\n", text);
		else {
			FILE *f = fopen(b.o.json, "w");

			if (f == NULL || fprintf(f, "%s\n", text) < 0 ||
			    fclose(f) != 0)
				bench_fatal("%s: %s", b.o.json,
				    strerror(errno));
		}
		free(text);
		json_decref(doc);
	}
	json_decref(b.results);
	bench_target_free(&b.t);
	bench_stop_redis(&b);
	bench_self = NULL;
	if (b.o.keep)
		fprintf(b.out, "configs and logs kept in %s\n", b.dir);
	else
		nftw(b.dir, bench_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(b.dir);
	free(b.sock);
	free(b.exe_dir);
	free(b.redjobd);
	free(b.plugin);
	free(b.probe);
	free(b.plugin_reason);
	free(b.peers);
	free(b.peer_scripts);
	free(b.bullmq_why);
	free(b.sidekiq_why);
	free(b.bullmq_version);
	free(b.sidekiq_version);
	for (i = 0; i < b.n_lua_cmds; i++)
		free(b.lua_cmds[i]);
	for (i = 0; i < b.n_poll_cmds; i++)
		free(b.poll_cmds[i]);
	return 0;
}
