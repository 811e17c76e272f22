/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * /metrics and /healthz (docs/operations.md, metrics): a real redjobd
 * with http.listen on 127.0.0.1 (port 0) or a unix socket, a real
 * redis-server, jobs of every outcome, and the scrape checked value by
 * value and by promtool (Debian's prometheus package).
 */
#include "autoconf.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <hiredis/hiredis.h>

#include <event2/buffer.h>

#include "redjob.h"
#include "metrics.h"
#include "daemon_fixture.h"
#include "proc.h"
#include "redis_fixture.h"
#include "testlib.h"

#define HTTP_WAIT_MS 5000	/* a request's deadline */

/* Where the daemon listens: a TCP port on 127.0.0.1, or a unix socket. */
static unsigned	 http_port;
static char	 http_sock[100];

static void
write_config(const char *listen, unsigned workers)
{
	daemon_write_config(
	    "redis:\n"
	    "  url: %s\n"
	    "workers: %u\n"
	    "concurrency: 4\n"
	    "shutdown_timeout: 2s\n"
	    "unknown_type_grace: 0\n"	/* an unknown type is dead at once */
	    "http: { listen: \"%s\" }\n"
	    "queues: { default: 1, mail: 1 }\n"
	    "limiters:\n"
	    "  one: { kind: window, limit: 1, period: 1h }\n"
	    "jobs:\n"
	    "  ok: { exec: [/bin/true] }\n"
	    "  fail:\n"
	    "    exec: [/bin/false]\n"
	    "    retry: { max_attempts: 2, backoff: fixed, base: 10ms, "
	    "jitter: 0 }\n"
	    "  dead: { exec: [/bin/sh, -c, 'exit 65'] }\n"
	    "  lim: { queue: mail, exec: [/bin/true], limit: [one] }\n"
	    "  locked:\n"
	    "    exec: [/bin/sh, -c, 'sleep 0.3']\n"
	    "    lock: { key: L, ttl: 10s }\n",
	    rf.url, workers, listen);
}

static void
enqueue(const char *queue, const char *type)
{
	struct redjob_job j;
	char id[REDJOB_ID_MAX];

	memset(&j, 0, sizeof j);
	j.queue = queue;
	j.type = type;
	j.payload = "x";
	j.payload_len = 1;
	ck_assert_msg(redjob_enqueue(df.cl, &j, id) == REDJOB_OK, "%s",
	    redjob_errstr(df.cl));
}

/* Start the daemon and learn its port from the log (listen: port 0). */
static void
start(void)
{
	char *log, *p;

	daemon_start(NULL);
	ck_assert_ptr_nonnull(notify_wait("READY=1", 15000));
	if (http_sock[0] != '\0')
		return;
	ck_assert(daemon_wait_log("http: serving /metrics and /healthz on "
	    "127.0.0.1:", 5000));
	log = must_read_file(df.log, NULL);
	p = strstr(log, "/healthz on 127.0.0.1:");
	http_port = (unsigned)strtoul(p + strlen("/healthz on 127.0.0.1:"),
	    NULL, 10);
	free(log);
	ck_assert_uint_gt(http_port, 0);
}

static void
start_tcp(unsigned workers)
{
	http_sock[0] = '\0';
	write_config("127.0.0.1:0", workers);
	start();
}

static int
http_connect(void)
{
	struct sockaddr_un sun;
	struct sockaddr_in sin;
	int fd;

	if (http_sock[0] != '\0') {
		memset(&sun, 0, sizeof sun);
		sun.sun_family = AF_UNIX;
		snprintf(sun.sun_path, sizeof sun.sun_path, "%s", http_sock);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		ck_assert_int_ge(fd, 0);
		if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0)
			return fd;
	} else {
		memset(&sin, 0, sizeof sin);
		sin.sin_family = AF_INET;
		sin.sin_port = htons((uint16_t)http_port);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fd = socket(AF_INET, SOCK_STREAM, 0);
		ck_assert_int_ge(fd, 0);
		if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0)
			return fd;
	}
	ck_abort_msg("connect to the http listener: %s", strerror(errno));
	return -1;
}

/*
 * Send "METHOD PATH" and read the whole answer. Returns the status code,
 * with the body in *body (the caller frees); the test fails if no
 * answer comes within HTTP_WAIT_MS.
 */
static int
http_request(const char *method, const char *path, char **body)
{
	struct pollfd pfd;
	uint64_t end = testlib_now_ms() + HTTP_WAIT_MS, now;
	char req[512], chunk[4096], *buf = NULL, *p;
	size_t len = 0;
	ssize_t n;
	int fd, code;

	fd = http_connect();
	snprintf(req, sizeof req, "%s %s HTTP/1.0\r\nHost: test\r\n\r\n",
	    method, path);
	ck_assert_int_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	for (;;) {
		now = testlib_now_ms();
		ck_assert_msg(now < end, "no answer to %s %s in %d ms", method,
		    path, HTTP_WAIT_MS);
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, (int)(end - now)) <= 0)
			continue;
		if ((n = read(fd, chunk, sizeof chunk)) <= 0)
			break;
		testlib_append(&buf, &len, chunk, (size_t)n);
	}
	close(fd);
	testlib_append(&buf, &len, "", 1);
	ck_assert_msg(sscanf(buf, "HTTP/1.%*d %d", &code) == 1, "not an HTTP "
	    "answer: %s", buf);
	p = strstr(buf, "\r\n\r\n");
	ck_assert_ptr_nonnull(p);
	*body = strdup(p + 4);
	free(buf);
	return code;
}

static char *
scrape(void)
{
	char *body;

	ck_assert_int_eq(http_request("GET", "/metrics", &body), 200);
	return body;
}

/* The value of the sample named exactly series, or -1 if there is none. */
static double
sample(const char *text, const char *series)
{
	const char *p = text;
	size_t n = strlen(series);

	while ((p = strstr(p, series)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p += n;
	}
	return -1;
}

/* Scrape until series has the value want; the test fails at the deadline. */
static void
wait_sample(const char *series, double want, unsigned timeout_ms)
{
	uint64_t end = testlib_now_ms() + timeout_ms;
	double v;
	char *text;

	for (;;) {
		text = scrape();
		v = sample(text, series);
		free(text);
		if (v == want)
			return;
		ck_assert_msg(testlib_now_ms() < end, "%s is %g, not %g", series,
		    v, want);
		poll(NULL, 0, 50);
	}
}

static void
assert_sample(const char *text, const char *series, double want)
{
	double v = sample(text, series);

	ck_assert_msg(v == want, "%s is %g, not %g", series, v, want);
}

/* promtool check metrics, on text: it must pass. */
static void
assert_promtool(const char *text)
{
	char *const argv[] = { (char *)"promtool", (char *)"check",
	    (char *)"metrics", NULL };
	struct proc_spec spec;
	struct proc *p;

	memset(&spec, 0, sizeof spec);
	spec.argv = argv;
	spec.in = text;
	spec.inlen = strlen(text);
	spec.out = PROC_IO_CAPTURE;
	spec.err = PROC_IO_CAPTURE;
	p = must_spawn(&spec);
	ck_assert_msg(must_wait(p, 10000) == 0, "promtool check metrics "
	    "failed (status %d):\n%s%s", p->status, p->out, p->err);
	proc_free(p);
}

#define Q(queue, type) "{queue=\"" queue "\",type=\"" type "\"}"

/*
 * Jobs of every outcome, then one scrape: each counter and histogram
 * count per label set is exact, the depths are Redis's, and promtool
 * accepts the whole text.
 */
START_TEST(test_a_scrape_counts_every_outcome_and_passes_promtool)
{
	char *text;
	int i;

	/* All claimed at once by one worker: one of the locked two waits. */
	for (i = 0; i < 3; i++)
		enqueue(NULL, "ok");
	enqueue(NULL, "fail");
	enqueue(NULL, "dead");
	enqueue(NULL, "nosuch");
	enqueue("mail", "lim");
	enqueue("mail", "lim");
	enqueue(NULL, "locked");
	enqueue(NULL, "locked");
	start_tcp(1);

	wait_sample("redjob_jobs_processed_total" Q("default", "locked"), 2,
	    15000);
	wait_sample("redjob_jobs_dead_total" Q("default", "fail"), 1, 15000);
	wait_sample("redjob_jobs_processed_total" Q("default", "ok"), 3, 15000);
	wait_sample("redjob_jobs_dead_total" Q("default", "other"), 1, 15000);
	wait_sample("redjob_jobs_dead_total" Q("default", "dead"), 1, 15000);
	wait_sample("redjob_throttled_total{limiter=\"one\"}", 1, 15000);
	wait_sample("redjob_jobs_processed_total" Q("mail", "lim"), 1, 15000);
	/* The depths are at most a second old. */
	wait_sample("redjob_queue_jobs{queue=\"default\",state=\"dead\"}", 3,
	    5000);

	text = scrape();
	assert_sample(text, "redjob_up", 1);
	assert_sample(text, "redjob_jobs_failed_total" Q("default", "fail"), 2);
	assert_sample(text, "redjob_jobs_retried_total" Q("default", "fail"), 1);
	assert_sample(text, "redjob_jobs_failed_total" Q("default", "dead"), 1);
	assert_sample(text, "redjob_jobs_failed_total" Q("default", "other"), 1);
	assert_sample(text, "redjob_jobs_retried_total" Q("default", "ok"), -1);
	assert_sample(text, "redjob_lock_conflicts_total{job_type=\"locked\"}",
	    1);
	assert_sample(text, "redjob_lock_lost_total", 0);
	assert_sample(text, "redjob_worker_restarts_total", 0);
	/* Histograms: one observation per handler run, per label set. */
	assert_sample(text, "redjob_job_duration_seconds_count"
	    Q("default", "ok"), 3);
	assert_sample(text, "redjob_job_duration_seconds_count"
	    Q("default", "fail"), 2);
	assert_sample(text, "redjob_job_duration_seconds_count"
	    Q("default", "locked"), 2);
	assert_sample(text, "redjob_job_duration_seconds_bucket{queue=\"default\","
	    "type=\"ok\",le=\"+Inf\"}", 3);
	/* A locked job runs 300 ms: above 0.25 s, within 1 s. */
	assert_sample(text, "redjob_job_duration_seconds_bucket{queue="
	    "\"default\",type=\"locked\",le=\"0.25\"}", 0);
	assert_sample(text, "redjob_job_duration_seconds_bucket{queue="
	    "\"default\",type=\"locked\",le=\"1\"}", 2);
	assert_sample(text, "redjob_job_wait_seconds_count" Q("default", "ok"),
	    3);
	assert_sample(text, "redjob_job_wait_seconds_count" Q("default", "fail"),
	    2);
	assert_sample(text, "redjob_job_wait_seconds_count" Q("mail", "lim"), 1);
	/* The type no configuration names never ran: no run time. */
	assert_sample(text, "redjob_job_duration_seconds_count"
	    Q("default", "other"), -1);
	assert_sample(text, "redjob_queue_jobs{queue=\"mail\","
	    "state=\"scheduled\"}", 1);
	assert_sample(text, "redjob_queue_jobs{queue=\"default\","
	    "state=\"ready\"}", 0);
	assert_sample(text, "redjob_queue_workers{queue=\"mail\"}", 1);
	assert_sample(text, "redjob_slots{state=\"busy\"}", 0);
	assert_sample(text, "redjob_slots{state=\"idle\"}", 4);
	ck_assert_ptr_nonnull(strstr(text, "\n# TYPE redjob_job_wait_seconds "
	    "histogram\n"));
	ck_assert_ptr_nonnull(strstr(text, "\n# HELP redjob_jobs_processed_total "));
	ck_assert_ptr_nonnull(strstr(text, "redjob_build_info{version=\""
	    PACKAGE_VERSION "\""));
	assert_promtool(text);
	free(text);
}
END_TEST

/* On a unix socket: /healthz, /metrics, a 404 and a refused method. */
START_TEST(test_a_unix_socket_serves_healthz_and_metrics)
{
	char addr[300], *body;

	snprintf(http_sock, sizeof http_sock, "%s/http.sock", df.dir);
	snprintf(addr, sizeof addr, "unix:%s", http_sock);
	write_config(addr, 2);
	start();
	ck_assert(daemon_log_has("http: serving /metrics and /healthz on "
	    "unix:"));
	ck_assert_int_eq(http_request("GET", "/healthz", &body), 200);
	ck_assert_msg(strncmp(body, "{\"healthy\": true, \"status\": \"2/2 "
	    "workers, ", 39) == 0, "%s", body);
	free(body);
	body = scrape();
	assert_sample(body, "redjob_slots{state=\"idle\"}", 8);
	assert_promtool(body);
	free(body);
	ck_assert_int_eq(http_request("GET", "/nope", &body), 404);
	free(body);
	ck_assert_int_ne(http_request("POST", "/metrics", &body), 200);
	free(body);
	/* The socket goes with the daemon. */
	daemon_signal(SIGTERM);
	ck_assert_int_eq(daemon_wait_exit(10000), 0);
	ck_assert_int_ne(access(http_sock, F_OK), 0);
	http_sock[0] = '\0';
}
END_TEST

/*
 * A worker Redis denies (NOPERM on its wait) makes /healthz 503 with the
 * status line's reason, as the watchdog stops; allowed again, 200.
 */
START_TEST(test_healthz_is_503_with_the_reason_while_a_worker_is_denied)
{
	uint64_t end;
	char *body;
	int code, i;

	start_tcp(1);
	ck_assert_int_eq(http_request("GET", "/healthz", &body), 200);
	free(body);
	freeReplyObject(must_command(rf.c, "ACL SETUSER default -bzpopmin"));
	/* Wakes the worker: its next wait is refused. */
	end = testlib_now_ms() + 15000;
	for (;;) {
		enqueue(NULL, "ok");
		code = http_request("GET", "/healthz", &body);
		if (code == 503)
			break;
		free(body);
		if (testlib_now_ms() >= end)
			break;
		poll(NULL, 0, 200);
	}
	freeReplyObject(must_command(rf.c, "ACL SETUSER default +bzpopmin"));
	ck_assert_int_eq(code, 503);
	ck_assert_msg(strstr(body, "\"healthy\": false") != NULL &&
	    strstr(body, "NOPERM on BZPOPMIN") != NULL, "%s", body);
	free(body);
	body = scrape();
	ck_assert_msg(sample(body, "redjob_redis_errors_total{class="
	    "\"NOPERM\"}") >= 1, "no NOPERM counted");
	free(body);
	for (i = 0; i < 75; i++) {
		enqueue(NULL, "ok");
		if ((code = http_request("GET", "/healthz", &body)) == 200)
			break;
		free(body);
		poll(NULL, 0, 200);
	}
	ck_assert_int_eq(code, 200);
	free(body);
}
END_TEST

/*
 * Redis hung (SIGSTOP): a scrape still answers, within the depth calls'
 * deadline, with redjob_up 0 and the connection errors counted; /healthz
 * turns 503 once the workers see it. Resumed: redjob_up 1 again.
 */
START_TEST(test_a_scrape_while_redis_is_hung_answers_with_up_0)
{
	uint64_t t0, end;
	char *body;
	int guard, code = 0;

	start_tcp(1);
	wait_sample("redjob_up", 1, 5000);
	guard = redis_fixture_pause();
	/* Past the cache: the next scrape asks Redis and gets no answer. */
	poll(NULL, 0, 1100);
	t0 = testlib_now_ms();
	body = scrape();
	ck_assert_msg(testlib_now_ms() - t0 < HTTP_WAIT_MS, "slow scrape");
	assert_sample(body, "redjob_up", 0);
	ck_assert_msg(sample(body, "redjob_queue_jobs{queue=\"default\","
	    "state=\"ready\"}") == -1, "a depth while Redis does not answer");
	assert_promtool(body);
	free(body);
	body = scrape();
	assert_sample(body, "redjob_up", 0);
	ck_assert_msg(sample(body, "redjob_redis_errors_total{class="
	    "\"connection\"}") >= 1, "the lost connection is not counted");
	free(body);
	end = testlib_now_ms() + 40000;
	while (testlib_now_ms() < end) {
		if ((code = http_request("GET", "/healthz", &body)) == 503)
			break;
		free(body);
		poll(NULL, 0, 250);
	}
	redis_fixture_resume(guard);
	ck_assert_int_eq(code, 503);
	ck_assert_msg(strstr(body, "\"healthy\": false, \"status\": \"redis: ")
	    != NULL, "%s", body);
	free(body);
	wait_sample("redjob_up", 1, 20000);
}
END_TEST

/*
 * A worker killed with SIGKILL: the supervisor keeps what it had sent,
 * counts the restart, and adds what its successor does.
 */
START_TEST(test_a_killed_worker_keeps_its_totals_and_counts_a_restart)
{
	pid_t pid;
	char *body;
	int i;

	start_tcp(1);
	for (i = 0; i < 3; i++)
		enqueue(NULL, "ok");
	wait_sample("redjob_jobs_processed_total" Q("default", "ok"), 3, 15000);
	ck_assert_int_eq(daemon_workers(&pid, 1), 1);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	wait_sample("redjob_worker_restarts_total", 1, 15000);
	ck_assert_ptr_nonnull(notify_wait("1/1 workers", 15000));
	enqueue(NULL, "ok");
	wait_sample("redjob_jobs_processed_total" Q("default", "ok"), 4, 15000);
	body = scrape();
	assert_sample(body, "redjob_job_duration_seconds_count"
	    Q("default", "ok"), 4);
	free(body);
}
END_TEST

/*
 * The depths cost one redjob_stats call per queue at most once a second,
 * however often it is scraped: INFO commandstats before and after.
 */
static long long
fcall_ro_calls(void)
{
	redisReply *r = must_command(rf.c, "INFO commandstats");
	const char *p = strstr(r->str, "cmdstat_fcall_ro:calls=");
	long long n = p != NULL ? atoll(p + 23) : 0;

	freeReplyObject(r);
	return n;
}

START_TEST(test_scrapes_cost_one_call_per_queue_a_second_at_most)
{
	long long before, calls;
	uint64_t t0, secs;
	char *body;
	int i;

	start_tcp(1);
	wait_sample("redjob_up", 1, 5000);
	/* Past the cache of that scrape: the next one makes a round. */
	poll(NULL, 0, 1100);
	before = fcall_ro_calls();
	t0 = testlib_now_ms();
	for (i = 0; i < 50; i++) {
		body = scrape();
		free(body);
	}
	secs = (testlib_now_ms() - t0) / 1000 + 1;
	calls = fcall_ro_calls() - before;
	/* Two queues; a round per started second, and the first. */
	ck_assert_msg(calls >= 2 && calls <= 2 * ((long long)secs + 1),
	    "%lld FCALL_RO for 50 scrapes in %llu s", calls,
	    (unsigned long long)secs);
}
END_TEST

/* Taken, the address is an error at start; bad ones fail redjobd -t. */
START_TEST(test_a_taken_or_bad_address_is_an_error)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;
	char addr[64], bin[4096], *body;
	int fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(listen(fd, 1), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	snprintf(addr, sizeof addr, "127.0.0.1:%u",
	    (unsigned)ntohs(sin.sin_port));
	write_config(addr, 1);
	daemon_start(NULL);
	ck_assert_int_eq(daemon_wait_exit(10000), 1);
	ck_assert(daemon_log_has("http.listen 127.0.0.1:"));
	ck_assert(daemon_log_has("Address already in use (another process "
	    "listens there)"));
	close(fd);

	write_config("localhost:9187", 1);
	snprintf(bin, sizeof bin, "%s/src/redjobd", testlib_builddir());
	{
		char *const argv[] = { bin, (char *)"-t", (char *)"-c",
		    df.config, NULL };
		struct proc_spec spec;
		struct proc *p;

		memset(&spec, 0, sizeof spec);
		spec.argv = argv;
		spec.err = PROC_IO_CAPTURE;
		spec.out = PROC_IO_NULL;
		p = must_spawn(&spec);
		ck_assert_int_eq(must_wait(p, 10000), 1);
		body = p->err;
		ck_assert_msg(strstr(body, ":7:17: http.listen: \"localhost\" "
		    "is not an IPv4 address") != NULL, "%s", body);
		proc_free(p);
	}
}
END_TEST

/*
 * A reload follows the new queues in the depths; a changed http.listen
 * waits for the next start, and the reload says so.
 */
START_TEST(test_a_reload_keeps_the_listener_and_follows_the_queues)
{
	redisContext *c;
	redisReply *r;
	char *body;
	int i;

	start_tcp(1);
	wait_sample("redjob_queue_jobs{queue=\"mail\",state=\"ready\"}", 0,
	    5000);
	daemon_write_config(
	    "redis:\n"
	    "  url: %s\n"
	    "workers: 1\n"
	    "http: { listen: \"127.0.0.1:1\" }\n"
	    "queues: { default: 1, other: { weight: 1, shards: 3 } }\n"
	    "jobs:\n"
	    "  ok: { exec: [/bin/true] }\n", rf.url);
	daemon_signal(SIGHUP);
	ck_assert(daemon_wait_log("http.listen changes take effect at the next "
	    "restart; still serving on 127.0.0.1:0", 10000));
	wait_sample("redjob_queue_jobs{queue=\"other\",state=\"ready\"}", 0,
	    10000);
	body = scrape();
	ck_assert_msg(sample(body, "redjob_queue_jobs{queue=\"mail\","
	    "state=\"ready\"}") == -1, "a queue no longer served");
	free(body);
	/* A sharded queue is one series, the sum of its shards. */
	c = must_connect();
	for (i = 1; i <= 2; i++) {
		r = redisCommand(c, "FCALL redjob_enqueue 1 redjob:{other~%d} "
		    "ok x delay 3600000", i);
		ck_assert_msg(r != NULL && r->type == REDIS_REPLY_ARRAY,
		    "enqueue into other~%d", i);
		freeReplyObject(r);
	}
	redisFree(c);
	wait_sample("redjob_queue_jobs{queue=\"other\",state=\"scheduled\"}",
	    2, 10000);
	body = scrape();
	ck_assert_msg(strstr(body, "other~") == NULL, "a shard has series of "
	    "its own: %s", body);
	free(body);
}
END_TEST

/* A lock deleted under its handler is counted lost, once. */
START_TEST(test_a_lock_lost_under_its_handler_is_counted)
{
	http_sock[0] = '\0';
	daemon_write_config(
	    "redis:\n"
	    "  url: %s\n"
	    "workers: 1\n"
	    "shutdown_timeout: 2s\n"
	    "http: { listen: \"127.0.0.1:0\" }\n"
	    "jobs:\n"
	    "  doomed:\n"
	    "    exec: [/bin/sh, -c, 'echo started >> \"$OUT/doomed\"; "
	    "sleep 30']\n"
	    "    env: { OUT: \"%s\" }\n"
	    "    lock: { key: \"doomed\", ttl: 1s }\n", rf.url, df.dir);
	start();
	enqueue(NULL, "doomed");
	ck_assert(daemon_wait_lines("doomed", 1, 5000));
	wait_sample("redjob_slots{state=\"busy\"}", 1, 5000);
	freeReplyObject(must_command(rf.c, "DEL redjob:lock:{doomed}"));
	wait_sample("redjob_lock_lost_total", 1, 10000);
}
END_TEST

/* A running job cancelled: counted by the worker that stopped it. */
START_TEST(test_a_cancelled_running_job_is_counted)
{
	redisReply *r;

	http_sock[0] = '\0';
	daemon_write_config(
	    "redis:\n"
	    "  url: %s\n"
	    "workers: 1\n"
	    "shutdown_timeout: 2s\n"
	    "http: { listen: \"127.0.0.1:0\" }\n"
	    "jobs:\n"
	    "  long:\n"
	    "    exec: [/bin/sh, -c, 'echo started >> \"$OUT/long\"; "
	    "sleep 30']\n"
	    "    env: { OUT: \"%s\" }\n", rf.url, df.dir);
	start();
	enqueue(NULL, "long");
	ck_assert(daemon_wait_lines("long", 1, 5000));
	r = must_command(rf.c, "FCALL redjob_cancel 1 redjob:{default} "
	    "default:1");
	ck_assert_str_eq(r->str, "running");
	freeReplyObject(r);
	wait_sample("redjob_jobs_cancelled_total" Q("default", "long"), 1,
	    10000);
	wait_sample("redjob_slots{state=\"busy\"}", 0, 5000);
}
END_TEST

/* The channel messages: what a worker sends, and what is refused. */
START_TEST(test_the_supervisor_takes_only_wellformed_messages)
{
	static const char *const bad[] = {
		"MC nosuch default ok 1",		/* no such family */
		"MC processed default ok",		/* no count */
		"MC processed default ok 1 2",		/* one too many */
		"MC processed def\"ault ok 1",		/* not a name */
		"MC processed * ok 1",			/* a label missing */
		"MC restarts x * 1",			/* a label too many */
		"MC processed default ok -1",		/* not a count */
		"MC processed default ok 1x",
		"MC duration default ok 1",		/* a histogram */
		"MH duration default ok 5 1 0 0",	/* too few buckets */
		"MH processed default ok 5 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0",
	};
	struct metrics *m = metrics_create(NULL);
	struct evbuffer *b = evbuffer_new();
	char *text;
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(metrics_recv(m, bad[i]) == -1, "took %s", bad[i]);
	ck_assert_int_eq(metrics_recv(m, "HB 1 2 3 4"), -1);
	ck_assert_int_eq(metrics_recv(m, "MC processed default ok 2"), 0);
	/* Several lines to a datagram; a malformed one is left out. */
	ck_assert_int_eq(metrics_recv(m, "MC processed default ok 3\n"
	    "MC restarts * * 1\nMC restarts * * x"), -1);
	ck_assert_int_eq(metrics_recv(m, "MH wait default ok 1500000 "
	    "1 0 0 0 0 0 0 0 1 0 0 0 0 0 0 1"), 0);
	metrics_render(m, b);
	evbuffer_add(b, "", 1);
	text = (char *)evbuffer_pullup(b, -1);
	assert_sample(text, "redjob_jobs_processed_total" Q("default", "ok"), 5);
	assert_sample(text, "redjob_worker_restarts_total", 1);
	assert_sample(text, "redjob_job_wait_seconds_count" Q("default", "ok"),
	    3);
	assert_sample(text, "redjob_job_wait_seconds_sum" Q("default", "ok"),
	    1.5);
	assert_sample(text, "redjob_job_wait_seconds_bucket{queue=\"default\","
	    "type=\"ok\",le=\"0.005\"}", 1);
	assert_sample(text, "redjob_job_wait_seconds_bucket{queue=\"default\","
	    "type=\"ok\",le=\"2.5\"}", 2);
	assert_sample(text, "redjob_job_wait_seconds_bucket{queue=\"default\","
	    "type=\"ok\",le=\"+Inf\"}", 3);
	assert_sample(text, "redjob_lock_lost_total", 0);
	ck_assert_ptr_null(strstr(text, "def\"ault"));
	assert_promtool(text);
	evbuffer_free(b);
	metrics_free(m);
}
END_TEST

Suite *
suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("http");

	tcase_set_timeout(tc, 90);
	tcase_add_unchecked_fixture(tc, redis_start, redis_stop);
	tcase_add_checked_fixture(tc, daemon_setup, daemon_teardown);
	tcase_add_test(tc, test_a_scrape_counts_every_outcome_and_passes_promtool);
	tcase_add_test(tc, test_a_unix_socket_serves_healthz_and_metrics);
	tcase_add_test(tc,
	    test_healthz_is_503_with_the_reason_while_a_worker_is_denied);
	tcase_add_test(tc, test_a_scrape_while_redis_is_hung_answers_with_up_0);
	tcase_add_test(tc,
	    test_a_killed_worker_keeps_its_totals_and_counts_a_restart);
	tcase_add_test(tc, test_scrapes_cost_one_call_per_queue_a_second_at_most);
	tcase_add_test(tc, test_a_taken_or_bad_address_is_an_error);
	tcase_add_test(tc, test_a_reload_keeps_the_listener_and_follows_the_queues);
	tcase_add_test(tc, test_a_lock_lost_under_its_handler_is_counted);
	tcase_add_test(tc, test_a_cancelled_running_job_is_counted);
	suite_add_tcase(s, tc);
	tc = tcase_create("channel");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_the_supervisor_takes_only_wellformed_messages);
	suite_add_tcase(s, tc);
	return s;
}
