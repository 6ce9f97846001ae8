// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The verbs transport's blobs (lib/transport/verbs/path.c): the device
 * address and the connection blob round trip, every field out of its
 * domain is refused, and the RDMA read depth is negotiated from both
 * sides' limits, so that a peer can neither make us overrun it nor make us
 * promise more responder resources than our device has.
 */
#include <errno.h>
#include <string.h>

#include "transport/verbs/verbs.h"
#include "harness.h"

static struct mcx_verbs_addr good_addr(void)
{
	struct mcx_verbs_addr a = {
		.link_layer = IBV_LINK_LAYER_ETHERNET, .port = 1, .mtu = IBV_MTU_4096,
		.rd_atom = 16, .init_rd_atom = 8, .lid = 0x1234,
	};

	for (int i = 0; i < MCX_GID_LEN; i++)
		a.gid[i] = (uint8_t)(0xa0 + i);
	return a;
}

TEST(verbs_addr_round_trip_and_refusals)
{
	struct mcx_verbs_addr a = good_addr(), b;
	uint8_t buf[MCX_VERBS_ADDR_LEN];

	ASSERT_EQ(mcx__verbs_addr_pack(&a, buf), (uint32_t)MCX_VERBS_ADDR_LEN);
	ASSERT_EQ(mcx__verbs_addr_unpack(buf, sizeof(buf), &b), 0);
	ASSERT_TRUE(!memcmp(&a, &b, sizeof(a)));
	ASSERT_ERR(mcx__verbs_addr_unpack(buf, sizeof(buf) - 1, &b), -EINVAL);
	buf[0] = 2;	/* another blob version */
	ASSERT_ERR(mcx__verbs_addr_unpack(buf, sizeof(buf), &b), -EINVAL);
	{
		struct mcx_verbs_addr bad[] = { good_addr(), good_addr(), good_addr(),
						good_addr(), good_addr(), good_addr() };

		bad[0].link_layer = 7;
		bad[1].port = 0;
		bad[2].mtu = 0;
		bad[3].rd_atom = 0;
		bad[4].rd_atom = MCX_VERBS_RD_ATOM_MAX + 1;
		bad[5].init_rd_atom = 0;
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			mcx__verbs_addr_pack(&bad[i], buf);
			ASSERT_ERR(mcx__verbs_addr_unpack(buf, sizeof(buf), &b), -EINVAL);
		}
	}
}

TEST(verbs_conn_round_trip_and_refusals)
{
	struct mcx_verbs_conn c = { .nqp = 3, .init_depth = 4, .resp_res = 16,
				    .mtu = IBV_MTU_1024 }, d;
	uint8_t buf[8 + 8 * MCX_VERBS_MAX_QPS];
	uint32_t len;

	for (int i = 0; i < 3; i++) {
		c.qpn[i] = 0x100 + (uint32_t)i;
		c.psn[i] = 0xffffff - (uint32_t)i;
	}
	len = mcx__verbs_conn_pack(&c, buf);
	ASSERT_EQ(len, 8u + 8u * 3u);
	ASSERT_EQ(mcx__verbs_conn_unpack(buf, len, &d), 0);
	ASSERT_TRUE(!memcmp(&c, &d, sizeof(c)));
	/* Length must match nqp exactly, both ways. */
	ASSERT_ERR(mcx__verbs_conn_unpack(buf, len - 8, &d), -EINVAL);
	ASSERT_ERR(mcx__verbs_conn_unpack(buf, len + 8, &d), -EINVAL);
	buf[5] = 1;	/* padding */
	ASSERT_ERR(mcx__verbs_conn_unpack(buf, len, &d), -EINVAL);
	buf[5] = 0;
	{
		uint8_t save[12];

		memcpy(save, buf + 8, 8);
		buf[8] = buf[9] = buf[10] = buf[11] = 0;	/* QPN 0 */
		ASSERT_ERR(mcx__verbs_conn_unpack(buf, len, &d), -EINVAL);
		memcpy(buf + 8, save, 8);
		buf[11] = 1;	/* QPN above 2^24 */
		ASSERT_ERR(mcx__verbs_conn_unpack(buf, len, &d), -EINVAL);
		memcpy(buf + 8, save, 8);
		buf[15] = 1;	/* PSN above 2^24 */
		ASSERT_ERR(mcx__verbs_conn_unpack(buf, len, &d), -EINVAL);
		memcpy(buf + 8, save, 8);
	}
	c.nqp = 0;
	len = mcx__verbs_conn_pack(&c, buf);
	ASSERT_ERR(mcx__verbs_conn_unpack(buf, len, &d), -EINVAL);
	c.nqp = 1;
	c.resp_res = 0;
	len = mcx__verbs_conn_pack(&c, buf);
	ASSERT_ERR(mcx__verbs_conn_unpack(buf, len, &d), -EINVAL);
}

TEST(verbs_rd_atomic_negotiated_from_both_sides)
{
	struct mcx_verbs_addr peer = good_addr();
	uint8_t init, resp;

	/* Our device: 16 both ways; the peer accepts 2 reads, issues 3. */
	peer.rd_atom = 2;
	peer.init_rd_atom = 3;
	mcx__verbs_rd_negotiate(16, 16, &peer, &init, &resp);
	ASSERT_EQ(init, 2);
	ASSERT_EQ(resp, 3);
	/* Our device is the smaller side. */
	peer.rd_atom = 16;
	peer.init_rd_atom = 16;
	mcx__verbs_rd_negotiate(4, 1, &peer, &init, &resp);
	ASSERT_EQ(init, 4);
	ASSERT_EQ(resp, 1);
	/* A device that reports 0 still gets 1; huge limits are clamped. */
	mcx__verbs_rd_negotiate(0, 1000, &peer, &init, &resp);
	ASSERT_EQ(init, 1);
	ASSERT_EQ(resp, MCX_VERBS_RD_ATOM_MAX);
}
