#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Inside one rig guest (tests/etcd/rig/run-vm.sh): an etcd on loopback, an
# engine published by name in one process, opened by name from another.
set -u
. tests/vm/guest-lib.sh

out=${MCXFER_RESULTS:-/tmp}
peer=build/tests/etcd/etcd-peer
addr=${MCXFER_LOCAL_ADDRS%%,*}
port=$((20000 + RANDOM % 20000))
mkdir -p /tmp/etcd
/usr/bin/etcd --name g --data-dir /tmp/etcd \
	--listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
	--listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
	--initial-cluster g=http://127.0.0.1:2380 --log-level warn >"$out/etcd.log" 2>&1 &
etcd_pid=$!
export MCX_METADATA=etcd://127.0.0.1:2379/mcxfer-rig
export MCX_REGISTRY=off
if ! mcx_retry 120 etcdctl --endpoints=http://127.0.0.1:2379 endpoint health >/dev/null 2>&1; then
	echo "not ok - etcd did not come up in the guest"
	echo "0 passed, 1 failed"
	exit 1
fi
"$peer" serve node-a "$addr:$port" >"$out/serve.log" 2>&1 &
serve_pid=$!
mcx_retry 60 grep -q ready "$out/serve.log"
"$peer" open node-a "$addr:$port" "$serve_pid" 2>&1 | tee "$out/open.log"
st=${PIPESTATUS[0]}
kill -9 "$serve_pid" "$etcd_pid" 2>/dev/null
wait 2>/dev/null
exit "$st"
