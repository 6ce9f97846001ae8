/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The least transport an engine needs to exist without RDMA hardware: one
 * device, registrations with made-up keys, and no paths (peers in the same
 * process move data by copy, the engine's loopback_memcpy).  Enough for
 * engines that publish and open each other through etcd.
 */
#ifndef MCX_TEST_ETCD_MINI_TP_H
#define MCX_TEST_ETCD_MINI_TP_H

#include "transport/transport.h"

extern const struct mcx_transport_ops mini_tp_ops;

#endif
