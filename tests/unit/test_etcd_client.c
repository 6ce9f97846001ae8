// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The etcd client (lib/ctrl/etcd.c) against a stand-in HTTP server on
 * loopback that answers what the test tells it: every answer that is not
 * what etcd's gateway sends is refused with -EBADMSG, HTTP errors and
 * broken connections get their errno, and a server that never answers
 * costs the client's timeout.  A real etcd is tests/etcd's.  Skips where
 * libcurl or json-c is not installed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctrl/etcd.h"
#include "util.h"

enum fake_mode { FAKE_ANSWER, FAKE_CLOSE, FAKE_HANG, FAKE_HUGE };

static struct {
	int lfd;
	uint16_t port;
	enum fake_mode mode;
	int status;
	const char *body;
	char last_path[128];
	pthread_t thread;
} S;

/* Read a request's head and body; keep its path. */
static int read_request(int fd)
{
	char buf[65536];
	size_t got = 0;
	char *end, *cl;
	long body = 0;

	for (;;) {
		ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);

		if (n <= 0)
			return -1;
		got += (size_t)n;
		buf[got] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (!end)
			continue;
		cl = strcasestr(buf, "Content-Length:");
		body = cl ? strtol(cl + 15, NULL, 10) : 0;
		if (got >= (size_t)(end + 4 - buf) + (size_t)body)
			break;
	}
	sscanf(buf, "POST %127s", S.last_path);
	return 0;
}

static void *serve(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(S.lfd, NULL, NULL);
		char head[256];

		if (fd < 0)
			return NULL;
		while (read_request(fd) == 0) {
			if (S.mode == FAKE_CLOSE)
				break;
			if (S.mode == FAKE_HANG) {
				char b;

				/* Until the client gives up and closes. */
				while (recv(fd, &b, 1, 0) > 0)
					;
				break;
			}
			if (S.mode == FAKE_HUGE) {
				static char chunk[65536];
				size_t total = 9U << 20;

				memset(chunk, ' ', sizeof(chunk));
				snprintf(head, sizeof(head),
					 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
					 total);
				if (send(fd, head, strlen(head), MSG_NOSIGNAL) < 0)
					break;
				for (size_t sent = 0; sent < total; sent += sizeof(chunk))
					if (send(fd, chunk, sizeof(chunk), MSG_NOSIGNAL) < 0)
						break;
				break;
			}
			snprintf(head, sizeof(head),
				 "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
				 S.status, strlen(S.body));
			if (send(fd, head, strlen(head), MSG_NOSIGNAL) < 0 ||
			    send(fd, S.body, strlen(S.body), MSG_NOSIGNAL) < 0)
				break;
		}
		close(fd);
	}
}

/* A client of the running server with timeout_ms; skips without the libraries. */
static struct mcx_etcd *fake_client(uint32_t timeout_ms)
{
	struct mcx_etcd_url u;
	struct mcx_etcd *c = NULL;
	char url[64];
	int ret;

	snprintf(url, sizeof(url), "etcd://127.0.0.1:%u/p", S.port);
	ASSERT_ERR(mcx__etcd_parse_url(NULL, url, &u), 0);
	ret = mcx__etcd_open(&u, timeout_ms, &c);
	if (ret == -ELIBACC)
		SKIP("libcurl.so.4 or libjson-c.so.5 is not installed");
	ASSERT_ERR(ret, 0);
	return c;
}

/* The server, and a client of it with timeout_ms. */
static struct mcx_etcd *fake_start(uint32_t timeout_ms)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	S.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_TRUE(S.lfd >= 0);
	ASSERT_ERR(bind(S.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	ASSERT_ERR(listen(S.lfd, 8), 0);
	ASSERT_ERR(getsockname(S.lfd, (struct sockaddr *)&a, &len), 0);
	S.port = ntohs(a.sin_port);
	ASSERT_ERR(pthread_create(&S.thread, NULL, serve, NULL), 0);
	return fake_client(timeout_ms);
}

static void answer(int status, const char *body)
{
	S.mode = FAKE_ANSWER;
	S.status = status;
	S.body = body;
}

static int get_value(struct mcx_etcd *c, char *out, size_t cap)
{
	struct mcx_etcd_kv kv;
	void *val = NULL;
	size_t len = 0;
	int ret = mcx__etcd_get(c, "k", &val, &len, &kv);

	if (!ret) {
		snprintf(out, cap, "%.*s", (int)len, (char *)val);
		free(val);
	}
	return ret;
}

TEST(etcd_client_reads_what_the_gateway_writes)
{
	struct mcx_etcd *c = fake_start(2000);
	int64_t lease = 0;
	char v[64];

	/* Revisions as strings (protobuf's JSON) or as numbers. */
	answer(200, "{\"kvs\":[{\"key\":\"L3Av\",\"create_revision\":\"3\",\"mod_revision\":\"4\",\"value\":\"YWJj\"}],\"count\":\"1\"}\n");
	ASSERT_ERR(get_value(c, v, sizeof(v)), 0);
	ASSERT_STREQ(v, "abc");
	ASSERT_STREQ(S.last_path, "/v3/kv/range");
	answer(200, "{\"kvs\":[{\"create_revision\":3,\"value\":\"YQ==\"}],\"count\":1}");
	ASSERT_ERR(get_value(c, v, sizeof(v)), 0);
	ASSERT_STREQ(v, "a");
	/* An empty value is left out. */
	answer(200, "{\"kvs\":[{\"create_revision\":\"3\"}],\"count\":\"1\"}");
	ASSERT_ERR(get_value(c, v, sizeof(v)), 0);
	ASSERT_STREQ(v, "");
	/* No key: no kvs, no count. */
	answer(200, "{\"header\":{}}");
	ASSERT_ERR(get_value(c, v, sizeof(v)), -ENOENT);

	answer(200, "{\"ID\":\"7\",\"TTL\":\"10\"}");
	ASSERT_ERR(mcx__etcd_grant(c, 10, &lease), 0);
	ASSERT_EQ(lease, 7);
	ASSERT_STREQ(S.last_path, "/v3/lease/grant");
	answer(200, "{\"result\":{\"ID\":\"7\",\"TTL\":\"9\"}}");
	ASSERT_ERR(mcx__etcd_keepalive(c, 7), 0);
	/* Expired: the TTL is left out. */
	answer(200, "{\"result\":{\"ID\":\"7\"}}");
	ASSERT_ERR(mcx__etcd_keepalive(c, 7), -ENOENT);
	answer(404, "{\"error\":\"etcdserver: requested lease not found\",\"code\":5}");
	ASSERT_ERR(mcx__etcd_revoke(c, 7), -ENOENT);
	mcx__etcd_close(c);
}

TEST(etcd_client_refuses_malformed_answers)
{
	static const char *const bad_range[] = {
		"not json", "{\"kvs\":[]} x", "[1]", "{\"count\":\"1\"}",
		"{\"kvs\":\"x\",\"count\":\"1\"}", "{\"kvs\":[1],\"count\":\"1\"}",
		"{\"kvs\":[{\"value\":\"YQ==\"}],\"count\":\"1\"}",
		"{\"kvs\":[{\"create_revision\":\"x1\",\"value\":\"YQ==\"}],\"count\":\"1\"}",
		"{\"kvs\":[{\"create_revision\":\"1\",\"value\":\"Y\"}],\"count\":\"1\"}",
		"{\"kvs\":[{\"create_revision\":\"1\",\"value\":\"Y=Q=\"}],\"count\":\"1\"}",
		"{\"kvs\":[{\"create_revision\":\"1\",\"value\":\"!!!!\"}],\"count\":\"1\"}",
		"{\"kvs\":[{\"create_revision\":\"1\",\"value\":5}],\"count\":\"1\"}",
		"{\"kvs\":[{\"create_revision\":\"1\"},{\"create_revision\":\"2\"}],\"count\":\"2\"}",
		"{\"count\":[]}",
	};
	struct mcx_etcd *c = fake_start(2000);
	int64_t lease = 0;
	char v[64];

	for (size_t i = 0; i < sizeof(bad_range) / sizeof(bad_range[0]); i++) {
		answer(200, bad_range[i]);
		if (get_value(c, v, sizeof(v)) != -EBADMSG)
			harness_fail(__FILE__, __LINE__, "answer %zu (%s) was not refused", i,
				     bad_range[i]);
	}
	answer(200, "{\"TTL\":\"10\"}");
	ASSERT_ERR(mcx__etcd_grant(c, 10, &lease), -EBADMSG);
	answer(200, "{\"ID\":\"7\",\"TTL\":\"ten\"}");
	ASSERT_ERR(mcx__etcd_grant(c, 10, &lease), -EBADMSG);
	ASSERT_EQ(lease, 0);
	answer(200, "{\"result\":{\"TTL\":true}}");
	ASSERT_ERR(mcx__etcd_keepalive(c, 7), -EBADMSG);
	mcx__etcd_close(c);
}

TEST(etcd_client_http_errors_and_broken_servers)
{
	struct mcx_etcd *c = fake_start(300), *patient;
	char v[64];

	answer(500, "{\"error\":\"boom\",\"message\":\"the disk is on fire\"}");
	log_capture();
	ASSERT_ERR(get_value(c, v, sizeof(v)), -EPROTO);
	ASSERT_CONTAINS(captured_log, "HTTP 500");
	ASSERT_CONTAINS(captured_log, "the disk is on fire");
	answer(400, "{}");
	ASSERT_ERR(mcx__etcd_put(c, "k", "v", 1, 0), -EINVAL);
	answer(503, "{}");
	ASSERT_ERR(mcx__etcd_put(c, "k", "v", 1, 0), -EAGAIN);

	S.mode = FAKE_CLOSE;
	ASSERT_ERR(get_value(c, v, sizeof(v)), -ECONNRESET);
	S.mode = FAKE_HANG;
	log_capture();
	ASSERT_ERR(get_value(c, v, sizeof(v)), -ETIMEDOUT);
	ASSERT_CONTAINS(captured_log, "/v3/kv/range");
	/*
	 * 9 MiB at a client with a 300 ms timeout can time out first on a
	 * loaded machine under ASan: the size limit is checked by a client
	 * that waits long enough to reach it.
	 */
	S.mode = FAKE_HUGE;
	patient = fake_client(30000);
	ASSERT_ERR(get_value(patient, v, sizeof(v)), -EMSGSIZE);
	mcx__etcd_close(patient);
	/* And the client still works after all that. */
	answer(200, "{\"kvs\":[{\"create_revision\":\"3\",\"value\":\"YWJj\"}],\"count\":\"1\"}");
	ASSERT_ERR(get_value(c, v, sizeof(v)), 0);
	ASSERT_STREQ(v, "abc");
	mcx__etcd_close(c);
	mcx__log_init();
}
