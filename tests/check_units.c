/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests of the pure parts: durations, rates, sizes and Redis URLs;
 * the supervisor-worker channel over a real socket pair.
 */
#include "autoconf.h"

#include <sys/socket.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "channel.h"
#include "duration.h"
#include "cluster.h"
#include "url.h"
#include "client.h"
#include "schema.h"
#include "testlib.h"

static uint64_t
must_duration(const char *s)
{
	uint64_t ms;
	char *cause = NULL;

	ck_assert_msg(duration_parse(s, &ms, &cause) == 0, "%s: %s", s, cause);
	return ms;
}

static char *
duration_error(const char *s)
{
	uint64_t ms;
	char *cause = NULL;

	ck_assert_msg(duration_parse(s, &ms, &cause) == -1,
	    "\"%s\" was accepted", s);
	return cause;
}

START_TEST(test_durations_parse_every_unit)
{
	ck_assert_uint_eq(must_duration("250ms"), 250);
	ck_assert_uint_eq(must_duration("30s"), 30000);
	ck_assert_uint_eq(must_duration("5m"), 300000);
	ck_assert_uint_eq(must_duration("2h"), 7200000);
	ck_assert_uint_eq(must_duration("1d"), 86400000);
	ck_assert_uint_eq(must_duration("1h30m"), 5400000);
	ck_assert_uint_eq(must_duration("0"), 0);
}
END_TEST

START_TEST(test_bad_durations_say_why)
{
	char *e;

	e = duration_error("30");
	ck_assert_str_eq(e, "duration \"30\" needs a unit (ms, s, m, h or d)");
	free(e);
	e = duration_error("5w");
	ck_assert_str_eq(e, "unknown unit \"w\" in duration \"5w\" "
	    "(use ms, s, m, h or d)");
	free(e);
	e = duration_error("-1s");
	ck_assert_ptr_nonnull(strstr(e, "invalid duration"));
	free(e);
	e = duration_error("");
	ck_assert_str_eq(e, "empty duration");
	free(e);
	e = duration_error("99999999999d");
	ck_assert_ptr_nonnull(strstr(e, "too long"));
	free(e);
}
END_TEST

START_TEST(test_durations_format_back)
{
	char buf[64];

	ck_assert_str_eq(duration_format(5400000, buf, sizeof buf), "1h30m");
	ck_assert_str_eq(duration_format(250, buf, sizeof buf), "250ms");
	ck_assert_str_eq(duration_format(0, buf, sizeof buf), "0");
	ck_assert_str_eq(duration_format(90061001, buf, sizeof buf),
	    "1d1h1m1s1ms");
}
END_TEST

START_TEST(test_rates_parse)
{
	struct rate r;
	char *cause = NULL;

	ck_assert_int_eq(rate_parse("10/s", &r, &cause), 0);
	ck_assert_uint_eq(r.count, 10);
	ck_assert_uint_eq(r.period_ms, 1000);
	ck_assert_int_eq(rate_parse("100/m", &r, &cause), 0);
	ck_assert_uint_eq(r.period_ms, 60000);
	ck_assert_int_eq(rate_parse("5/10s", &r, &cause), 0);
	ck_assert_uint_eq(r.count, 5);
	ck_assert_uint_eq(r.period_ms, 10000);
	ck_assert_int_eq(rate_parse("0/s", &r, &cause), -1);
	ck_assert_str_eq(cause, "rate \"0/s\" must allow at least one event");
	free(cause);
	ck_assert_int_eq(rate_parse("10", &r, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "expected e.g. 10/s"));
	free(cause);
	ck_assert_int_eq(rate_parse("10/w", &r, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "unknown unit \"w\""));
	free(cause);
}
END_TEST

START_TEST(test_sizes_parse)
{
	uint64_t b;
	char *cause = NULL;

	ck_assert_int_eq(size_parse("512KiB", &b, &cause), 0);
	ck_assert_uint_eq(b, 524288);
	ck_assert_int_eq(size_parse("1M", &b, &cause), 0);
	ck_assert_uint_eq(b, 1048576);
	ck_assert_int_eq(size_parse("100", &b, &cause), 0);
	ck_assert_uint_eq(b, 100);
	ck_assert_int_eq(size_parse("1G", &b, &cause), -1);
	free(cause);
}
END_TEST

START_TEST(test_urls_parse)
{
	struct url u;
	char err[256];

	ck_assert_int_eq(url_parse("redis://127.0.0.1:6380/2", &u, err,
	    sizeof err), 0);
	ck_assert_str_eq(u.host, "127.0.0.1");
	ck_assert_int_eq(u.port, 6380);
	ck_assert_int_eq(u.db, 2);
	ck_assert_str_eq(u.password, "");
	ck_assert_int_eq(url_parse("redis://:s%40cret@db.example:7000", &u,
	    err, sizeof err), 0);
	ck_assert_str_eq(u.password, "s@cret");
	ck_assert_str_eq(u.host, "db.example");
	ck_assert_int_eq(u.port, 7000);
	ck_assert_int_eq(u.db, 0);
	ck_assert_int_eq(url_parse("redis://worker:pw@[::1]:6379/1", &u, err,
	    sizeof err), 0);
	ck_assert_str_eq(u.user, "worker");
	ck_assert_str_eq(u.password, "pw");
	ck_assert_str_eq(u.host, "::1");
	ck_assert_int_eq(u.db, 1);
	ck_assert_int_eq(url_parse("unix:///run/redjob/redis.sock", &u, err,
	    sizeof err), 0);
	ck_assert_str_eq(u.path, "/run/redjob/redis.sock");
	ck_assert_int_eq(url_parse("unix://:pw@/tmp/r.sock?db=3", &u, err,
	    sizeof err), 0);
	ck_assert_str_eq(u.path, "/tmp/r.sock");
	ck_assert_str_eq(u.password, "pw");
	ck_assert_int_eq(u.db, 3);
	ck_assert_int_eq(url_parse("redis://", &u, err, sizeof err), 0);
	ck_assert_str_eq(u.host, "127.0.0.1");
	ck_assert_int_eq(u.port, 6379);

	/* Sentinels: the data nodes' user before "@", the sentinels' in
	 * the query; a sentinel's port defaults to 26379. */
	ck_assert_int_eq(url_parse("redis+sentinel://worker:pw@s1:26380,"
	    "[::1],s3/mymaster/2?sentinel_user=mon&sentinel_password=s%26p",
	    &u, err, sizeof err), 0);
	ck_assert_int_eq(u.sentinel, 1);
	ck_assert_str_eq(u.master, "mymaster");
	ck_assert_int_eq(u.db, 2);
	ck_assert_str_eq(u.user, "worker");
	ck_assert_str_eq(u.password, "pw");
	ck_assert_str_eq(u.sentinel_user, "mon");
	ck_assert_str_eq(u.sentinel_password, "s&p");
	ck_assert_uint_eq(u.nnodes, 3);
	ck_assert_str_eq(u.nodes[0].host, "s1");
	ck_assert_int_eq(u.nodes[0].port, 26380);
	ck_assert_str_eq(u.nodes[1].host, "::1");
	ck_assert_int_eq(u.nodes[1].port, 26379);
	ck_assert_str_eq(u.nodes[2].host, "s3");
	ck_assert_str_eq(u.host, "");
	ck_assert_int_eq(url_parse("redis+sentinel://h:1/m", &u, err,
	    sizeof err), 0);
	ck_assert_int_eq(u.db, 0);
	ck_assert_str_eq(u.sentinel_password, "");
}
END_TEST

/*
 * Cluster arithmetic: slots of the specification's own examples, hash
 * tags as Redis reads them, and MOVED / ASK as Redis writes them.
 */
START_TEST(test_cluster_slots_and_redirections)
{
	struct cluster_map *m;
	char host[256];
	unsigned slot;
	int ask, port;

#define SLOT(k) cluster_keyslot((k), strlen(k))
	ck_assert_uint_eq(SLOT("123456789"), 12739);
	ck_assert_uint_eq(SLOT("foo"), 12182);
	ck_assert_uint_eq(SLOT("bar"), 5061);
	ck_assert_uint_eq(SLOT("somekey"), 11058);
	ck_assert_uint_eq(SLOT("{user1000}.following"),
	    SLOT("{user1000}.followers"));
	ck_assert_uint_eq(SLOT("{user1000}.following"), SLOT("user1000"));
	/* The first '{', the first '}' after it, and not empty. */
	ck_assert_uint_eq(SLOT("foo{{bar}}zap"), SLOT("{bar"));
	ck_assert_uint_eq(SLOT("foo{bar}{zap}"), SLOT("bar"));
	ck_assert_uint_eq(SLOT("foo{}{bar}"), cluster_keyslot("foo{}{bar}",
	    10));
	ck_assert_uint_ne(SLOT("foo{}{bar}"), SLOT("bar"));
	/* Every key of a queue is in its queue's slot. */
	ck_assert_uint_eq(SLOT("redjob:{mail}:due"), SLOT("mail"));
	ck_assert_uint_eq(SLOT("redjob:{mail}:j:42"), SLOT("mail"));
#undef SLOT

	ck_assert_int_eq(cluster_redirect("MOVED 3999 127.0.0.1:6381", &ask,
	    &slot, host, sizeof host, &port), 1);
	ck_assert_int_eq(ask, 0);
	ck_assert_uint_eq(slot, 3999);
	ck_assert_str_eq(host, "127.0.0.1");
	ck_assert_int_eq(port, 6381);
	ck_assert_int_eq(cluster_redirect("ASK 7 ::1:7000", &ask, &slot, host,
	    sizeof host, &port), 1);
	ck_assert_int_eq(ask, 1);
	ck_assert_str_eq(host, "::1");
	ck_assert_int_eq(port, 7000);
	ck_assert_int_eq(cluster_redirect("MOVED 1 :7001", &ask, &slot, host,
	    sizeof host, &port), 1);
	ck_assert_str_eq(host, "");
	ck_assert_int_eq(cluster_redirect("MOVED 16384 h:1", &ask, &slot,
	    host, sizeof host, &port), 0);
	ck_assert_int_eq(cluster_redirect("MOVED x h:1", &ask, &slot, host,
	    sizeof host, &port), 0);
	ck_assert_int_eq(cluster_redirect("MOVED 1 h:0", &ask, &slot, host,
	    sizeof host, &port), 0);
	ck_assert_int_eq(cluster_redirect("MOVEDX 1 h:1", &ask, &slot, host,
	    sizeof host, &port), 0);
	ck_assert_int_eq(cluster_redirect("CLUSTERDOWN Hash slot not served",
	    &ask, &slot, host, sizeof host, &port), 0);

	ck_assert_ptr_nonnull(m = calloc(1, sizeof *m));
	memset(m->slot, 0xff, sizeof m->slot);
	ck_assert_int_eq(cluster_map_node(m, 5), -1);
	ck_assert_int_eq(cluster_map_move(m, 5, "a", 1), 0);
	ck_assert_int_eq(cluster_map_move(m, 6, "b", 1), 1);
	ck_assert_int_eq(cluster_map_move(m, 7, "a", 1), 0);
	ck_assert_int_eq(cluster_map_node(m, 6), 1);
	ck_assert_uint_eq(m->covered, 3);
	ck_assert_uint_eq(m->nnodes, 2);
	ck_assert_int_eq(cluster_map_node(m, 16384), -1);
	free(m);
}
END_TEST

START_TEST(test_bad_sentinel_urls_say_why)
{
	struct url u;
	char err[512], many[600];
	int i, n;

	ck_assert_int_eq(url_parse("redis+sentinel://h:1", &u, err,
	    sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "the master's name is missing"));
	ck_assert_int_eq(url_parse("redis+sentinel://h:1/", &u, err,
	    sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "the master's name is missing"));
	ck_assert_int_eq(url_parse("redis+sentinel:///m", &u, err,
	    sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "no sentinel given"));
	ck_assert_int_eq(url_parse("redis+sentinel://h:1,,h:2/m", &u, err,
	    sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "an empty sentinel address"));
	ck_assert_int_eq(url_parse("redis+sentinel://h:0/m", &u, err,
	    sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "bad port"));
	ck_assert_int_eq(url_parse("redis+sentinel://h/m!x", &u, err,
	    sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "bad master name"));
	ck_assert_int_eq(url_parse("redis+sentinel://h/m/x", &u, err,
	    sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "database must be a number"));
	ck_assert_int_eq(url_parse("redis+sentinel://h/m?db=1", &u, err,
	    sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "the only queries are"));
	n = snprintf(many, sizeof many, "redis+sentinel://");
	for (i = 0; i < 17; i++)
		n += snprintf(many + n, sizeof many - (size_t)n, "h%d,", i);
	snprintf(many + n - 1, sizeof many - (size_t)n + 1, "/m");
	ck_assert_int_eq(url_parse(many, &u, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "more than 16 sentinels"));

	/* Neither password is ever shown. */
	ck_assert_int_eq(url_parse("redis+sentinel://w:s3cret@h:0/m?"
	    "sentinel_password=t0ken&sentinel_user=mon", &u, err,
	    sizeof err), -1);
	ck_assert_str_eq(err, "invalid URL \"redis+sentinel://w:***@h:0/m?"
	    "sentinel_password=***&sentinel_user=mon\": bad port");
	ck_assert_int_eq(url_parse("redis+sentinel://h:0/m?"
	    "sentinel_password=t0ken", &u, err, sizeof err), -1);
	ck_assert_str_eq(err, "invalid URL \"redis+sentinel://h:0/m?"
	    "sentinel_password=***\": bad port");
}
END_TEST

START_TEST(test_bad_urls_say_why)
{
	struct url u;
	char err[256];

	ck_assert_int_eq(url_parse("http://x", &u, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "expected redis://"));
	ck_assert_int_eq(url_parse("redis://h:99999", &u, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "bad port"));
	ck_assert_int_eq(url_parse("redis://h:6379/x", &u, err, sizeof err),
	    -1);
	ck_assert_ptr_nonnull(strstr(err, "database must be a number"));
	ck_assert_int_eq(url_parse("unix://relative.sock", &u, err, sizeof err),
	    -1);
	ck_assert_ptr_nonnull(strstr(err, "must be absolute"));
	ck_assert_int_eq(url_parse("redis://:%zz@h", &u, err, sizeof err), -1);
	ck_assert_str_eq(err, "invalid URL \"redis://:***@h\": the user or "
	    "the password is too long, or holds a bad %XX escape or %00");

	/*
	 * Refused now, and checked by tests/fuzz/fuzz_url.c too: a port
	 * strtol() would read, a host no resolver would, a password cut
	 * short by %00.
	 */
	ck_assert_int_eq(url_parse("redis://h:+80", &u, err, sizeof err), -1);
	ck_assert_str_eq(err, "invalid URL \"redis://h:+80\": bad port");
	ck_assert_int_eq(url_parse("redis://h: 80", &u, err, sizeof err), -1);
	ck_assert_str_eq(err, "invalid URL \"redis://h: 80\": bad port");
	ck_assert_int_eq(url_parse("redis://a b:80", &u, err, sizeof err), -1);
	ck_assert_str_eq(err, "invalid URL \"redis://a b:80\": bad host (a "
	    "name, an IPv4 address or an IPv6 address in brackets)");
	ck_assert_int_eq(url_parse("redis://[::1 ]", &u, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "bad host"));
	ck_assert_int_eq(url_parse("redis://[fe80::1%eth0]:7000", &u, err,
	    sizeof err), 0);
	ck_assert_str_eq(u.host, "fe80::1%eth0");
	ck_assert_int_eq(url_parse("redis://my_host-1.example", &u, err,
	    sizeof err), 0);
	ck_assert_int_eq(url_parse("redis://:pw%00x@h", &u, err, sizeof err),
	    -1);
	ck_assert_int_eq(url_parse("unix://u%00:pw@/s", &u, err, sizeof err),
	    -1);
}
END_TEST

/*
 * An error never shows the password, however long the URL (a message
 * cut to the caller's buffer used to defeat the masking redjob.yml did,
 * and the CLI and libredjob did none); tests/fuzz/fuzz_url.c checks it
 * too.
 */
START_TEST(test_bad_urls_hide_the_password)
{
	struct url u;
	char err[256], url[600];

	ck_assert_int_eq(url_parse("redis://worker:s3cret@h:99999/0", &u, err,
	    sizeof err), -1);
	ck_assert_str_eq(err, "invalid URL \"redis://worker:***@h:99999/0\": "
	    "bad port");
	ck_assert_int_eq(url_parse("redis://s3cret@h/x", &u, err, sizeof err),
	    -1);
	ck_assert_str_eq(err, "invalid URL \"redis://***@h/x\": the database "
	    "must be a number");
	ck_assert_int_eq(url_parse("unix://:s3cret@run/r.sock", &u, err,
	    sizeof err), -1);
	ck_assert_str_eq(err, "invalid URL \"unix://:***@run/r.sock\": the "
	    "socket path must be absolute (unix:///path/to/socket)");
	/* No userinfo in unix:///PATH: an '@' there is the path's. */
	ck_assert_int_eq(url_parse("unix:///a@b?x", &u, err, sizeof err), -1);
	ck_assert_str_eq(err, "invalid URL \"unix:///a@b?x\": the only query "
	    "is ?db=N");
	snprintf(url, sizeof url, "redis://:%0300d@h:0", 7);
	ck_assert_int_eq(url_parse(url, &u, err, sizeof err), -1);
	ck_assert_str_eq(err, "invalid URL \"redis://:***@h:0\": bad port");
	snprintf(url, sizeof url, "redis://:s3cret@%0300d", 7);
	ck_assert_int_eq(url_parse(url, &u, err, sizeof err), -1);
	ck_assert_ptr_null(strstr(err, "s3cret"));
	ck_assert_ptr_nonnull(strstr(err, "redis://:***@000"));
	ck_assert_int_eq(url_parse("redis://:s3cret@h:0", &u, err, 20), -1);
	ck_assert_str_eq(err, "invalid URL \"redis:");
}
END_TEST

START_TEST(test_names_are_checked)
{
	char err[256], q[160];

	ck_assert_int_eq(schema_check_queue("mail", err, sizeof err), 0);
	ck_assert_int_eq(schema_check_queue("a{b}", err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "invalid queue name \"a{b}\""));
	ck_assert_int_eq(schema_check_queue("", err, sizeof err), -1);
	ck_assert_int_eq(schema_check_namespace("app:jobs", err, sizeof err),
	    0);
	ck_assert_int_eq(schema_check_namespace("x{", err, sizeof err), -1);
	ck_assert_int_eq(schema_job_queue("mail:42", q, sizeof q), 0);
	ck_assert_str_eq(q, "mail");
	ck_assert_int_eq(schema_job_queue("mail", q, sizeof q), -1);
	ck_assert_int_eq(schema_job_queue("mail:4x", q, sizeof q), -1);
	ck_assert_int_eq(schema_job_queue(":4", q, sizeof q), -1);
}
END_TEST

/* A socket pair as the supervisor makes it for a worker. */
static void
channel_pair(int sp[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
	    sp), 0);
}

/* Receive one message, which must be there, into buf; return its length. */
static int
must_recv(int fd, char *buf)
{
	int n;

	memset(buf, 'x', CHANNEL_MAX);
	n = channel_recv(fd, buf, CHANNEL_MAX);
	ck_assert_msg(n >= 0, "channel_recv: %s", strerror(errno));
	return n;
}

START_TEST(test_channel_keeps_message_boundaries)
{
	char buf[CHANNEL_MAX];
	int sp[2];

	channel_pair(sp);
	ck_assert_int_eq(channel_send(sp[1], "READY"), 0);
	ck_assert_int_eq(channel_send(sp[1], "HB %u %llu %llu %llu", 3U, 15321ULL,
	    7ULL, 2ULL), 0);
	ck_assert_int_eq(channel_send(sp[1], "PG+ %ld", 4242L), 0);
	ck_assert_int_eq(channel_send(sp[0], "DRAIN"), 0);
	/* One message per receive, whole and NUL-terminated. */
	ck_assert_int_eq(must_recv(sp[0], buf), 5);
	ck_assert_str_eq(buf, "READY");
	ck_assert_int_eq(must_recv(sp[0], buf), 14);
	ck_assert_str_eq(buf, "HB 3 15321 7 2");
	ck_assert_int_eq(must_recv(sp[0], buf), 8);
	ck_assert_str_eq(buf, "PG+ 4242");
	ck_assert_int_eq(must_recv(sp[1], buf), 5);
	ck_assert_str_eq(buf, "DRAIN");
	/* Nothing more: no wait, EAGAIN. */
	errno = 0;
	ck_assert_int_eq(channel_recv(sp[0], buf, sizeof buf), -1);
	ck_assert_int_eq(errno, EAGAIN);
	close(sp[0]);
	close(sp[1]);
}
END_TEST

START_TEST(test_channel_refuses_what_does_not_fit)
{
	char big[CHANNEL_MAX + 1], buf[CHANNEL_MAX];
	int sp[2];

	channel_pair(sp);
	/* CHANNEL_MAX - 1 bytes fit, and arrive intact. */
	memset(big, 'a', sizeof big);
	big[CHANNEL_MAX - 1] = '\0';
	ck_assert_int_eq(channel_send(sp[1], "%s", big), 0);
	ck_assert_int_eq(must_recv(sp[0], buf), CHANNEL_MAX - 1);
	ck_assert_str_eq(buf, big);
	/* One more byte is refused, and nothing is sent. */
	big[CHANNEL_MAX - 1] = 'a';
	big[CHANNEL_MAX] = '\0';
	errno = 0;
	ck_assert_int_eq(channel_send(sp[1], "%s", big), -1);
	ck_assert_int_eq(errno, EMSGSIZE);
	errno = 0;
	ck_assert_int_eq(channel_send(sp[1], "HB %s", big + 3), -1);
	ck_assert_int_eq(errno, EMSGSIZE);
	errno = 0;
	ck_assert_int_eq(channel_recv(sp[0], buf, sizeof buf), -1);
	ck_assert_int_eq(errno, EAGAIN);
	/* The channel still works after a refusal. */
	ck_assert_int_eq(channel_send(sp[1], "STOP"), 0);
	ck_assert_int_eq(must_recv(sp[0], buf), 4);
	ck_assert_str_eq(buf, "STOP");
	close(sp[0]);
	close(sp[1]);
}
END_TEST

START_TEST(test_channel_reports_eof_after_the_last_message)
{
	char buf[CHANNEL_MAX];
	int sp[2];

	channel_pair(sp);
	ck_assert_int_eq(channel_send(sp[1], "PG- 77"), 0);
	close(sp[1]);
	/* What was sent before the peer left still arrives, then EOF. */
	ck_assert_int_eq(must_recv(sp[0], buf), 6);
	ck_assert_str_eq(buf, "PG- 77");
	ck_assert_int_eq(channel_recv(sp[0], buf, sizeof buf), 0);
	ck_assert_int_eq(channel_recv(sp[0], buf, sizeof buf), 0);
	close(sp[0]);
}
END_TEST

START_TEST(test_channel_send_never_blocks_and_reports_a_gone_peer)
{
	char buf[CHANNEL_MAX];
	int sp[2], i, r = 0;

	/* A SIGPIPE would kill this test (it runs in its own process). */
	signal(SIGPIPE, SIG_DFL);
	channel_pair(sp);
	/* Nobody reads: the socket fills and a send says EAGAIN at once. */
	for (i = 0; i < 1000000 && (r = channel_send(sp[1], "HB %d 0 0 0",
	    i)) == 0; i++)
		;
	ck_assert_int_eq(r, -1);
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_int_gt(i, 0);
	/* The messages queued so far arrive in order. */
	ck_assert_int_eq(must_recv(sp[0], buf), 10);
	ck_assert_str_eq(buf, "HB 0 0 0 0");
	ck_assert_int_eq(must_recv(sp[0], buf), 10);
	ck_assert_str_eq(buf, "HB 1 0 0 0");
	close(sp[0]);
	close(sp[1]);
	/* The peer is gone: an error, not a signal. */
	channel_pair(sp);
	close(sp[0]);
	errno = 0;
	ck_assert_int_eq(channel_send(sp[1], "READY"), -1);
	ck_assert_int_eq(errno, EPIPE);
	close(sp[1]);
	/* No channel at all: nothing to send, and no error. */
	ck_assert_int_eq(channel_send(-1, "READY"), 0);
}
END_TEST

Suite *
suite(void)
{
	Suite *s = suite_create("units");
	TCase *tc = tcase_create("units");

	tcase_add_test(tc, test_durations_parse_every_unit);
	tcase_add_test(tc, test_bad_durations_say_why);
	tcase_add_test(tc, test_durations_format_back);
	tcase_add_test(tc, test_rates_parse);
	tcase_add_test(tc, test_sizes_parse);
	tcase_add_test(tc, test_urls_parse);
	tcase_add_test(tc, test_bad_sentinel_urls_say_why);
	tcase_add_test(tc, test_cluster_slots_and_redirections);
	tcase_add_test(tc, test_bad_urls_say_why);
	tcase_add_test(tc, test_bad_urls_hide_the_password);
	tcase_add_test(tc, test_names_are_checked);
	suite_add_tcase(s, tc);

	tc = tcase_create("channel");
	tcase_add_test(tc, test_channel_keeps_message_boundaries);
	tcase_add_test(tc, test_channel_refuses_what_does_not_fit);
	tcase_add_test(tc, test_channel_reports_eof_after_the_last_message);
	tcase_add_test(tc, test_channel_send_never_blocks_and_reports_a_gone_peer);
	suite_add_tcase(s, tc);
	return s;
}
