// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Which local device pairs with which remote device.  Multi-rail clusters
 * wire NIC i of every host to the same switch plane (rail i), usually as
 * one IP subnet per rail: pairing within a rail keeps traffic off the
 * spine, so a pair goes to the same index in the same subnet when there is
 * one, and only falls back to other devices when the rail has no partner.
 */
#define _GNU_SOURCE	/* pthread_rwlock_t (mem/mem.h) */
#include <arpa/inet.h>

#include "peer/peer.h"

bool mcx__same_subnet(uint32_t a, uint8_t alen, uint32_t b, uint8_t blen)
{
	uint8_t len = alen < blen ? alen : blen;
	uint32_t mask;

	if (!a || !b || len == 0 || len > 32)
		return false;
	mask = len == 32 ? UINT32_MAX : ~(UINT32_MAX >> len);
	return (ntohl(a) & mask) == (ntohl(b) & mask);
}

uint32_t mcx__rail_choose(const struct mcx_rail_dev *local, uint32_t nl,
			  const struct mcx_rail_dev *remote, uint32_t nr,
			  struct mcx_rail_choice *out)
{
	uint32_t used[MCX_WIRE_MAX_NICS] = { 0 };
	uint32_t n = 0;

	if (nr > MCX_WIRE_MAX_NICS)
		nr = MCX_WIRE_MAX_NICS;
	for (uint32_t i = 0; i < nl; i++) {
		const struct mcx_rail_dev *l = &local[i];
		int best = -1, best_rank = 0;

		for (uint32_t j = 0; j < nr; j++) {
			const struct mcx_rail_dev *r = &remote[j];
			bool subnet = mcx__same_subnet(l->ipv4, l->prefix, r->ipv4, r->prefix);
			bool no_ip = !l->ipv4 && !r->ipv4;
			int rank;

			if (l->fabric != r->fabric)
				continue;
			/*
			 * Lower is better: the rail (same index, same subnet),
			 * then the same subnet, then anything; inside a rank
			 * the least used remote device spreads the pairs.
			 */
			if (r->index == l->index && (subnet || no_ip))
				rank = 0;
			else if (subnet)
				rank = 1;
			else if (r->index == l->index)
				rank = 2;
			else
				rank = 3;
			rank = rank * 1024 + (int)used[j];
			if (best < 0 || rank < best_rank) {
				best = (int)j;
				best_rank = rank;
			}
		}
		if (best < 0)
			continue;
		used[best]++;
		out[n].lnic = i;
		out[n].rnic = remote[best].index;
		out[n].rail = best_rank < 2 * 1024;
		n++;
	}
	return n;
}
