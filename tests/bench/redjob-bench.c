/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * redjob-bench: measure redjob against a real redis-server and report
 * jobs per second, the Redis CPU time per job and the Redis commands per
 * job, with the command line that reproduces each figure. It starts its
 * own redis-server on a unix socket in a temporary directory, or uses -u.
 * Built by make, run by hand, never by make check (STYLE.md M): figures
 * go in the issue note, never into a timed assertion.
 *
 * Each scenario is one entry in the scenarios[] table with its variants;
 * a scenario brackets its hot section with bench_begin()/bench_end(),
 * which take the clock and Redis's INFO before and after, and record one
 * result. Redis's own counters (INFO cpu, INFO commandstats) measure the
 * server side, so they include every client's work: run it on a Redis
 * nobody else uses.
 *
 * INFO commandstats counts the commands that functions run (redis.call)
 * as well as those clients send, and cannot tell them apart. The bench
 * splits them by name: a command that src/lua/redjob.lua calls is counted
 * as run inside a function, anything else (FCALL, FCALL_RO, SADD of the
 * queue registry, BZPOPMIN, ...) as a client call. That holds as long as
 * clients speak the protocol, which does everything through FCALL.
 */
#include "autoconf.h"

#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
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
#include "compat.h"
#include "url.h"
#include "xmalloc.h"

#define BENCH_NAMESPACE "redjob-bench"
#define BENCH_MAX_CMDS 256

struct bench_opts {
	const char	*scenario;
	const char	*variant;	/* NULL: every variant */
	const char	*url;		/* NULL: start our own redis-server */
	const char	*redis_server;
	long		 jobs;
	long		 batch;
	long		 payload;
	const char	*json;		/* NULL, "-" (stdout) or a file */
};

/* Redis's counters at one moment. */
struct bench_snap {
	double		 cpu;		/* used_cpu_user + used_cpu_sys, s */
	size_t		 n;
	char		*name[BENCH_MAX_CMDS];	/* "fcall", "sadd", ... */
	long long	 calls[BENCH_MAX_CMDS];
};

struct bench {
	struct bench_opts o;
	const char	*argv0;
	char		*dir;		/* our redis-server's directory */
	char		*sock;
	char		*url;		/* what the clients connect to */
	pid_t		 pid;
	redisContext	*info;		/* INFO only; not counted */
	char		 redis_version[64];
	json_t		*results;
	FILE		*out;		/* the human-readable report */
	/* The commands the function library runs, lower case. */
	char		*lua_cmds[64];
	size_t		 n_lua_cmds;

	/* Between bench_begin() and bench_end(). */
	struct bench_snap before;
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

static const char *const bench_enqueue_variants[] = {
	"single", "pipelined", NULL
};

/*
 * The scenarios. Add one by writing its run function and a line here;
 * "process" (claim, run, ack through redjobd) and "latency" (enqueue to
 * handler start) are meant to come next.
 */
static const struct bench_scenario scenarios[] = {
	{ "enqueue", "enqueue N jobs with libredjob: one redjob_enqueue() "
	    "call per job (single), then redjob_enqueue_many() in batches of "
	    "B (pipelined)", bench_enqueue_variants, bench_enqueue },
};

static void printflike(1, 2) __dead
bench_fatal(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "redjob-bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static double
bench_elapsed(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Run a command on the INFO connection; exits on failure. Caller frees. */
static redisReply *
bench_command(struct bench *b, const char *fmt, ...)
{
	redisReply *r;
	va_list ap;

	va_start(ap, fmt);
	r = redisvCommand(b->info, fmt, ap);
	va_end(ap);
	if (r == NULL)
		bench_fatal("redis: %s", b->info->errstr);
	if (r->type == REDIS_REPLY_ERROR)
		bench_fatal("redis: %s: %s", fmt, r->str);
	return r;
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

static void
bench_snap_free(struct bench_snap *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->name[i]);
	s->n = 0;
}

/* Read Redis's CPU time and per-command call counts. */
static void
bench_snap_take(struct bench *b, struct bench_snap *s)
{
	redisReply *r;
	const char *p, *colon, *calls;
	char buf[64];

	memset(s, 0, sizeof *s);
	r = bench_command(b, "INFO cpu");
	if (bench_info_field(r->str, "used_cpu_user", buf, sizeof buf) == NULL)
		bench_fatal("INFO cpu has no used_cpu_user");
	s->cpu = strtod(buf, NULL);
	if (bench_info_field(r->str, "used_cpu_sys", buf, sizeof buf) == NULL)
		bench_fatal("INFO cpu has no used_cpu_sys");
	s->cpu += strtod(buf, NULL);
	freeReplyObject(r);

	/* cmdstat_fcall:calls=12,usec=34,usec_per_call=2.83,... */
	r = bench_command(b, "INFO commandstats");
	for (p = r->str; (p = strstr(p, "cmdstat_")) != NULL; p = colon) {
		p += strlen("cmdstat_");
		if ((colon = strchr(p, ':')) == NULL)
			break;
		if ((calls = strstr(colon, "calls=")) == NULL ||
		    s->n == BENCH_MAX_CMDS)
			break;
		s->name[s->n] = xstrndup(p, (size_t)(colon - p));
		s->calls[s->n] = strtoll(calls + strlen("calls="), NULL, 10);
		s->n++;
	}
	freeReplyObject(r);
}

static long long
bench_snap_calls(const struct bench_snap *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		if (strcmp(s->name[i], name) == 0)
			return s->calls[i];
	}
	return 0;
}

/*
 * Collect the names of the commands that the function library runs, from
 * the library text embedded in this build: "redis.call('ZADD'" and so on.
 */
static void
bench_lua_commands(struct bench *b)
{
	const char *p = client_lua, *q;
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

/* Start measuring: Redis's counters, then the clock. */
static void
bench_begin(struct bench *b)
{
	bench_snap_take(b, &b->before);
	clock_gettime(CLOCK_MONOTONIC, &b->t0);
}

/*
 * Stop measuring and record a result for jobs jobs. The INFO commands
 * that take the snapshots are left out of the counts.
 */
static void
bench_end(struct bench *b, const char *scenario, const char *variant,
    long jobs, long batch)
{
	struct bench_snap after;
	double secs, cpu, per_job;
	long long client = 0, inside = 0, d;
	json_t *res, *cj, *ij;
	char *cmd, *cs, *is, *tmp;
	size_t i;

	secs = bench_elapsed(&b->t0);
	bench_snap_take(b, &after);
	cpu = after.cpu - b->before.cpu;

	cj = json_object();
	ij = json_object();
	for (i = 0; i < after.n; i++) {
		if (strcmp(after.name[i], "info") == 0)
			continue;
		d = after.calls[i] - bench_snap_calls(&b->before,
		    after.name[i]);
		if (d <= 0)
			continue;
		if (bench_is_lua_command(b, after.name[i])) {
			inside += d;
			json_object_set_new(ij, after.name[i], json_integer(d));
		} else {
			client += d;
			json_object_set_new(cj, after.name[i], json_integer(d));
		}
	}

	/* The command line that reproduces this figure alone. */
	xasprintf(&cmd, "%s --scenario %s --variant %s -n %ld -b %ld "
	    "--payload-size %ld", b->argv0, scenario, variant, jobs, batch,
	    b->o.payload);
	if (b->o.url != NULL)
		xasprintf(&tmp, "%s -u %s", cmd, b->o.url);
	else
		xasprintf(&tmp, "%s --redis-server %s", cmd,
		    b->o.redis_server);
	free(cmd);
	cmd = tmp;
	cs = json_dumps(cj, JSON_COMPACT | JSON_SORT_KEYS);
	is = json_dumps(ij, JSON_COMPACT | JSON_SORT_KEYS);

	per_job = cpu * 1e6 / (double)jobs;
	res = json_pack("{s:s, s:s, s:I, s:I, s:I, s:f, s:f, s:f, s:f, s:f, "
	    "s:o, s:o, s:s}", "scenario", scenario, "variant", variant,
	    "jobs", (json_int_t)jobs, "batch", (json_int_t)batch,
	    "payload_bytes", (json_int_t)b->o.payload,
	    "seconds", secs,
	    "jobs_per_s", jobs / secs,
	    "redis_cpu_us_per_job", per_job,
	    "client_calls_per_job", (double)client / (double)jobs,
	    "function_commands_per_job", (double)inside / (double)jobs,
	    "client_calls", cj,
	    "function_commands", ij,
	    "command", cmd);
	if (res == NULL)
		bench_fatal("cannot build the JSON result");
	json_array_append_new(b->results, res);

	fprintf(b->out, "%s/%s: %ld jobs in %.3f s\n", scenario, variant, jobs,
	    secs);
	fprintf(b->out, "  %12.0f jobs/s\n", jobs / secs);
	fprintf(b->out, "  %12.2f us of Redis CPU per job (INFO cpu: "
	    "used_cpu_user + used_cpu_sys)\n", per_job);
	fprintf(b->out, "  %12.4f client calls per job (INFO commandstats: "
	    "%s)\n", (double)client / (double)jobs, cs != NULL ? cs : "?");
	fprintf(b->out, "  %12.4f commands run inside functions per job "
	    "(%s)\n", (double)inside / (double)jobs, is != NULL ? is : "?");
	fprintf(b->out, "  reproduce: %s\n", cmd);
	free(cs);
	free(is);
	free(cmd);
	bench_snap_free(&after);
	bench_snap_free(&b->before);
}

/* Delete every key of the bench's namespace and its queue registry. */
static void
bench_clean(struct bench *b)
{
	const char **av;
	redisReply *r, *d;
	char cursor[32] = "0";
	size_t i, n;

	do {
		r = bench_command(b, "SCAN %s MATCH %s:* COUNT 1000", cursor,
		    BENCH_NAMESPACE);
		snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
		n = r->element[1]->elements;
		if (n > 0) {
			av = xcalloc(n + 1, sizeof *av);
			av[0] = "UNLINK";
			for (i = 0; i < n; i++)
				av[i + 1] = r->element[1]->element[i]->str;
			d = redisCommandArgv(b->info, (int)n + 1, av, NULL);
			if (d == NULL || d->type == REDIS_REPLY_ERROR)
				bench_fatal("UNLINK: %s", d != NULL ? d->str :
				    b->info->errstr);
			freeReplyObject(d);
			free(av);
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
}

/* Start a private redis-server and wait until it answers PING. */
static void
bench_spawn_redis(struct bench *b)
{
	const char *tmp = getenv("TMPDIR");
	char *log;
	redisContext *c;
	redisReply *r;
	int i;

	xasprintf(&b->dir, "%s/redjob-bench-XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(b->dir) == NULL)
		bench_fatal("mkdtemp %s: %s", b->dir, strerror(errno));
	xasprintf(&b->sock, "%s/redis.sock", b->dir);
	xasprintf(&b->url, "unix://%s", b->sock);
	xasprintf(&log, "%s/redis.log", b->dir);

	if ((b->pid = fork()) < 0)
		bench_fatal("fork: %s", strerror(errno));
	if (b->pid == 0) {
		/* Die with us, even when we exit on an error or a signal. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		execlp(b->o.redis_server, b->o.redis_server, "--port", "0",
		    "--unixsocket", b->sock, "--dir", b->dir, "--save", "",
		    "--appendonly", "no", "--logfile", log, (char *)NULL);
		fprintf(stderr, "redjob-bench: cannot run %s: %s\n",
		    b->o.redis_server, strerror(errno));
		_exit(127);
	}
	free(log);
	/* Poll for readiness with a deadline (10 s), never a fixed sleep. */
	for (i = 0; i < 2000; i++) {
		c = redisConnectUnix(b->sock);
		if (c != NULL && c->err == 0) {
			r = redisCommand(c, "PING");
			if (r != NULL && r->type == REDIS_REPLY_STATUS) {
				freeReplyObject(r);
				b->info = c;
				return;
			}
			if (r != NULL)
				freeReplyObject(r);
		}
		if (c != NULL)
			redisFree(c);
		if (waitpid(b->pid, NULL, WNOHANG) == b->pid) {
			b->pid = -1;
			bench_fatal("%s exited at start; see %s/redis.log",
			    b->o.redis_server, b->dir);
		}
		usleep(5000);
	}
	bench_fatal("%s did not answer PING within 10 s", b->o.redis_server);
}

static void
bench_stop_redis(struct bench *b)
{
	char *path;

	if (b->pid <= 0)
		return;
	kill(b->pid, SIGTERM);
	while (waitpid(b->pid, NULL, 0) < 0 && errno == EINTR)
		;
	b->pid = -1;
	xasprintf(&path, "%s/redis.log", b->dir);
	unlink(path);
	free(path);
	unlink(b->sock);
	if (rmdir(b->dir) != 0)
		fprintf(stderr, "redjob-bench: rmdir %s: %s\n", b->dir,
		    strerror(errno));
}

/* Connect the INFO connection to -u URL, as libredjob would. */
static void
bench_connect_url(struct bench *b)
{
	struct url u;
	redisReply *r;
	char err[256];

	if (url_parse(b->o.url, &u, err, sizeof err) != 0)
		bench_fatal("%s", err);
	b->url = xstrdup(b->o.url);
	if (u.path[0] != '\0')
		b->info = redisConnectUnix(u.path);
	else
		b->info = redisConnect(u.host, u.port);
	if (b->info == NULL || b->info->err != 0)
		bench_fatal("cannot connect to %s: %s", b->o.url,
		    b->info != NULL ? b->info->errstr : "out of memory");
	if (u.password[0] != '\0') {
		if (u.user[0] != '\0')
			r = bench_command(b, "AUTH %s %s", u.user, u.password);
		else
			r = bench_command(b, "AUTH %s", u.password);
		freeReplyObject(r);
	}
	if (u.db != 0)
		freeReplyObject(bench_command(b, "SELECT %d", u.db));
	explicit_bzero(u.password, sizeof u.password);
}

static struct redjob_client *
bench_client(struct bench *b)
{
	struct redjob_client *c;

	c = redjob_connect(b->url, BENCH_NAMESPACE);
	if (c == NULL)
		bench_fatal("out of memory");
	if (redjob_errcode(c) != REDJOB_OK)
		bench_fatal("%s", redjob_errstr(c));
	return c;
}

/*
 * The enqueue scenario. "single": N calls of redjob_enqueue(), one round
 * trip each. "pipelined": redjob_enqueue_many() with B jobs a call, one
 * round trip per batch.
 */
static int
bench_enqueue(struct bench *b, const char *variant)
{
	struct redjob_client *c;
	struct redjob_job *jobs;
	struct redjob_result *res;
	char *payload, id[REDJOB_ID_MAX];
	long i, n, batch, done = 0;
	int pipelined = strcmp(variant, "pipelined") == 0;

	batch = pipelined ? b->o.batch : 1;
	payload = xmalloc((size_t)b->o.payload + 1);
	memset(payload, 'x', (size_t)b->o.payload);
	jobs = xcalloc((size_t)batch, sizeof *jobs);
	res = xcalloc((size_t)batch, sizeof *res);
	for (i = 0; i < batch; i++) {
		jobs[i].queue = pipelined ? "bench-pipelined" : "bench-single";
		jobs[i].type = "bench";
		jobs[i].payload = payload;
		jobs[i].payload_len = (size_t)b->o.payload;
	}
	bench_clean(b);
	c = bench_client(b);
	/* Register the queue outside the measurement: once per client. */
	if (redjob_enqueue(c, &jobs[0], id) != 0)
		bench_fatal("enqueue: %s", redjob_errstr(c));

	bench_begin(b);
	while (done < b->o.jobs) {
		if (!pipelined) {
			if (redjob_enqueue(c, &jobs[0], id) != 0)
				bench_fatal("enqueue: %s", redjob_errstr(c));
			done++;
			continue;
		}
		n = b->o.jobs - done < batch ? b->o.jobs - done : batch;
		if (redjob_enqueue_many(c, jobs, (size_t)n, res) != n)
			bench_fatal("enqueue_many: %s", redjob_errstr(c));
		done += n;
	}
	bench_end(b, "enqueue", variant, b->o.jobs, batch);

	redjob_free(c);
	bench_clean(b);
	free(jobs);
	free(res);
	free(payload);
	return 0;
}

static void __dead
bench_usage(int status)
{
	size_t i;
	FILE *f = status == 0 ? stdout : stderr;

	fprintf(f, "usage: redjob-bench [-n JOBS] [-b BATCH] [--payload-size "
	    "BYTES]\n"
	    "           [--scenario NAME] [--variant NAME] [--json[=FILE]]\n"
	    "           [-u URL | --redis-server PATH]\n\n"
	    "  -n JOBS            jobs per variant (default 100000)\n"
	    "  -b BATCH           jobs per pipelined call (default 1000)\n"
	    "  --payload-size N   bytes of payload per job (default 100)\n"
	    "  -u URL             use this Redis (keys under \"%s:\")\n"
	    "  --redis-server P   start this redis-server (default "
	    "$REDIS_SERVER, else redis-server)\n"
	    "  --json[=FILE]      write the results as JSON (to stdout, or "
	    "FILE)\n\nscenarios:\n", BENCH_NAMESPACE);
	for (i = 0; i < nitems(scenarios); i++)
		fprintf(f, "  %-10s %s\n", scenarios[i].name,
		    scenarios[i].help);
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

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "scenario", required_argument, NULL, 's' },
		{ "variant", required_argument, NULL, 'V' },
		{ "redis-server", required_argument, NULL, 'R' },
		{ "payload-size", required_argument, NULL, 'P' },
		{ "json", optional_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const struct bench_scenario *sc = NULL;
	struct bench b;
	const char *env;
	char buf[64], *text;
	redisReply *r;
	json_t *doc;
	size_t i;
	int ch, ran = 0;

	memset(&b, 0, sizeof b);
	b.argv0 = argv[0];
	b.pid = -1;
	b.o.scenario = "enqueue";
	b.o.jobs = 100000;
	b.o.batch = 1000;
	b.o.payload = 100;
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
		case 'J':
			b.o.json = optarg != NULL ? optarg : "-";
			break;
		case 'h':
			bench_usage(0);
		default:
			bench_usage(EX_USAGE);
		}
	}
	if (optind != argc)
		bench_usage(EX_USAGE);
	for (i = 0; i < nitems(scenarios); i++) {
		if (strcmp(scenarios[i].name, b.o.scenario) == 0)
			sc = &scenarios[i];
	}
	if (sc == NULL)
		bench_fatal("no scenario \"%s\" (see --help)", b.o.scenario);
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

	bench_lua_commands(&b);
	if (b.o.url != NULL)
		bench_connect_url(&b);
	else
		bench_spawn_redis(&b);
	r = bench_command(&b, "INFO server");
	if (bench_info_field(r->str, "redis_version", buf, sizeof buf) != NULL)
		snprintf(b.redis_version, sizeof b.redis_version, "%s", buf);
	freeReplyObject(r);
	fprintf(b.out, "redis %s at %s\n", b.redis_version, b.url);

	for (i = 0; sc->variants[i] != NULL; i++) {
		if (b.o.variant != NULL &&
		    strcmp(b.o.variant, sc->variants[i]) != 0)
			continue;
		if (sc->run(&b, sc->variants[i]) != 0)
			bench_fatal("%s/%s failed", sc->name, sc->variants[i]);
		ran++;
	}

	if (b.o.json != NULL) {
		doc = json_pack("{s:s, s:s, s:s, s:o}", "tool", "redjob-bench",
		    "version", PACKAGE_VERSION, "redis_version",
		    b.redis_version, "results", b.results);
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
	redisFree(b.info);
	bench_stop_redis(&b);
	free(b.dir);
	free(b.sock);
	free(b.url);
	for (i = 0; i < b.n_lua_cmds; i++)
		free(b.lua_cmds[i]);
	return ran > 0 ? 0 : 1;
}
