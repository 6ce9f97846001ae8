// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The etcd client (lib/ctrl/etcd.c) against a real etcd on loopback: keys,
 * values and leases as etcd keeps them, and an etcd that hangs or goes
 * away turning into named errors within the client's timeout, never a
 * hang (the harness kills a test that hangs, which fails it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "harness.h"
#include "util.h"

/* Values of every length around base64's groups, every byte value. */
TEST(etcd_put_get_round_trip)
{
	static const size_t lens[] = { 0, 1, 2, 3, 4, 255, 256, 257, 100000 };
	struct etcd_proc e;
	struct mcx_etcd *c;
	uint8_t *val = malloc(100000);

	ASSERT_TRUE(val != NULL);
	for (size_t i = 0; i < 100000; i++)
		val[i] = (uint8_t)(i * 7 + (i >> 8));
	etcd_start(&e);
	c = etcd_client(&e, 5000);
	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		struct mcx_etcd_kv kv, kv2;
		void *got = NULL;
		size_t len = 99;

		ASSERT_ERR(mcx__etcd_put(c, "a.b-c_1", val, lens[k], 0), 0);
		ASSERT_ERR(mcx__etcd_get(c, "a.b-c_1", &got, &len, &kv), 0);
		ASSERT_U64_EQ(len, lens[k]);
		ASSERT_TRUE(memcmp(got, val, len) == 0);
		ASSERT_TRUE(kv.create_revision > 0 && kv.mod_revision >= kv.create_revision);
		ASSERT_EQ(kv.lease, 0);
		free(got);
		/* Keys only: the same key, no value asked for. */
		ASSERT_ERR(mcx__etcd_get(c, "a.b-c_1", NULL, NULL, &kv2), 0);
		ASSERT_EQ(kv2.create_revision, kv.create_revision);
		ASSERT_EQ(kv2.mod_revision, kv.mod_revision);
	}
	mcx__etcd_close(c);
	etcd_stop(&e);
	free(val);
}

TEST(etcd_missing_key_and_bad_names)
{
	struct etcd_proc e;
	struct mcx_etcd *c;
	void *got = (void *)1;
	size_t len;

	etcd_start(&e);
	c = etcd_client(&e, 5000);
	ASSERT_ERR(mcx__etcd_get(c, "nobody", &got, &len, NULL), -ENOENT);
	ASSERT_TRUE(got == NULL);
	ASSERT_ERR(mcx__etcd_get(c, "nobody", NULL, NULL, NULL), -ENOENT);
	ASSERT_ERR(mcx__etcd_get(c, "a/b", NULL, NULL, NULL), -EINVAL);
	ASSERT_ERR(mcx__etcd_get(c, "", NULL, NULL, NULL), -EINVAL);
	ASSERT_ERR(mcx__etcd_put(c, "a b", "x", 1, 0), -EINVAL);
	mcx__etcd_close(c);
	etcd_stop(&e);
}

/* A key under a lease lives while the lease does; revoking takes it. */
TEST(etcd_lease_keepalive_and_revoke)
{
	struct etcd_proc e;
	struct mcx_etcd *c;
	struct mcx_etcd_kv kv;
	int64_t lease = 0, other = 0;

	etcd_start(&e);
	c = etcd_client(&e, 5000);
	ASSERT_ERR(mcx__etcd_grant(c, 30, &lease), 0);
	ASSERT_TRUE(lease != 0);
	ASSERT_ERR(mcx__etcd_put(c, "leased", "v", 1, lease), 0);
	ASSERT_ERR(mcx__etcd_get(c, "leased", NULL, NULL, &kv), 0);
	ASSERT_EQ(kv.lease, lease);
	ASSERT_ERR(mcx__etcd_keepalive(c, lease), 0);
	ASSERT_ERR(mcx__etcd_revoke(c, lease), 0);
	ASSERT_ERR(mcx__etcd_get(c, "leased", NULL, NULL, NULL), -ENOENT);
	/* A lease that is gone: every use of it says so. */
	ASSERT_ERR(mcx__etcd_keepalive(c, lease), -ENOENT);
	ASSERT_ERR(mcx__etcd_revoke(c, lease), -ENOENT);
	ASSERT_ERR(mcx__etcd_put(c, "leased", "v", 1, lease), -ENOENT);
	ASSERT_ERR(mcx__etcd_get(c, "leased", NULL, NULL, NULL), -ENOENT);
	/* Another lease is another one. */
	ASSERT_ERR(mcx__etcd_grant(c, 30, &other), 0);
	ASSERT_TRUE(other != lease);
	mcx__etcd_close(c);
	etcd_stop(&e);
}

/*
 * A lease nobody keeps alive expires and takes its key; one kept alive
 * outlives its TTL several times.  etcd's shortest lease is 2 s.
 */
TEST(etcd_lease_expires_without_keepalive)
{
	struct etcd_proc e;
	struct mcx_etcd *c;
	int64_t kept = 0, left = 0;
	int ret;

	etcd_start(&e);
	c = etcd_client(&e, 5000);
	ASSERT_ERR(mcx__etcd_grant(c, 2, &kept), 0);
	ASSERT_ERR(mcx__etcd_grant(c, 2, &left), 0);
	ASSERT_ERR(mcx__etcd_put(c, "kept", "k", 1, kept), 0);
	ASSERT_ERR(mcx__etcd_put(c, "left", "l", 1, left), 0);
	/* Until "left" is gone (the harness's timeout bounds a lease that never ends). */
	do {
		sleep_ms(250);
		ASSERT_ERR(mcx__etcd_keepalive(c, kept), 0);
		ret = mcx__etcd_get(c, "left", NULL, NULL, NULL);
	} while (ret == 0);
	ASSERT_ERR(ret, -ENOENT);
	ASSERT_ERR(mcx__etcd_keepalive(c, left), -ENOENT);
	/* Well past the TTL of both: the kept one is there. */
	for (int i = 0; i < 12; i++) {
		sleep_ms(250);
		ASSERT_ERR(mcx__etcd_keepalive(c, kept), 0);
	}
	ASSERT_ERR(mcx__etcd_get(c, "kept", NULL, NULL, NULL), 0);
	mcx__etcd_close(c);
	etcd_stop(&e);
}

/*
 * An etcd that stops answering (SIGSTOP: the kernel still accepts
 * connections) costs each request its timeout: -ETIMEDOUT, with the URL
 * in the log; it works again once etcd does.  Killed, it is refused.
 */
TEST(etcd_stopped_then_gone_gives_named_errors)
{
	struct etcd_proc e;
	struct mcx_etcd *c;
	int64_t lease = 0;
	char url[64];

	etcd_start(&e);
	c = etcd_client(&e, 300);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v3/", e.port);
	ASSERT_ERR(mcx__etcd_put(c, "k", "v", 1, 0), 0);
	etcd_pause(&e);
	log_capture();
	ASSERT_ERR(mcx__etcd_get(c, "k", NULL, NULL, NULL), -ETIMEDOUT);
	ASSERT_CONTAINS(captured_log, url);
	ASSERT_ERR(mcx__etcd_grant(c, 10, &lease), -ETIMEDOUT);
	etcd_resume(&e);
	ASSERT_ERR(mcx__etcd_get(c, "k", NULL, NULL, NULL), 0);
	etcd_kill(&e);
	log_capture();
	ASSERT_ERR(mcx__etcd_get(c, "k", NULL, NULL, NULL), -ECONNREFUSED);
	ASSERT_CONTAINS(captured_log, url);
	ASSERT_ERR(mcx__etcd_keepalive(c, 1), -ECONNREFUSED);
	ASSERT_ERR(mcx__etcd_put(c, "k", "v", 1, 0), -ECONNREFUSED);
	mcx__etcd_close(c);
	etcd_stop(&e);
}

/* Nothing ever listened there: refused at once, the URL in the log. */
TEST(etcd_nothing_listening_is_refused)
{
	struct mcx_etcd_url u;
	struct mcx_etcd *c = NULL;
	char url[80];
	uint16_t port = free_port();

	snprintf(url, sizeof(url), "etcd://127.0.0.1:%u/p", port);
	ASSERT_ERR(mcx__etcd_parse_url(NULL, url, &u), 0);
	ASSERT_ERR(mcx__etcd_open(&u, 2000, &c), 0);
	log_capture();
	ASSERT_ERR(mcx__etcd_get(c, "x", NULL, NULL, NULL), -ECONNREFUSED);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v3/kv/range", port);
	ASSERT_CONTAINS(captured_log, url);
	mcx__etcd_close(c);
}
