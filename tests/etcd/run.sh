#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# The etcd metadata service against a real etcd (Debian's etcd-server),
# without a VM or an RDMA device: builds build/tests/etcd/run-etcd and runs
# it; each test starts its own etcd on free loopback ports with a data
# directory under a temporary directory that this script removes.  Skips
# (one skipped, nothing failed) where etcd, libcurl or json-c is not
# installed.  Ends with "etcd: N passed, N failed, N skipped".
#
#   tests/etcd/run.sh [SUBSTRING...]     only the tests whose names match
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
cd "$MCX_TOP" || exit 2

etcd=${MCX_ETCD_BIN:-/usr/bin/etcd}
missing=
[ -x "$etcd" ] || missing="$missing etcd ($etcd: package etcd-server)"
for so in libcurl.so.4 libjson-c.so.5; do
	ldconfig -p 2>/dev/null | grep -q "$so " || missing="$missing $so"
done
if [ -n "$missing" ]; then
	echo "etcd: skipped, not installed:$missing (tests/deps.sh installs them)"
	echo "etcd: 0 passed, 0 failed, 1 skipped"
	exit 0
fi

if ! make -s -C tests/etcd all >/dev/null; then
	echo "etcd: building the tests failed"
	echo "etcd: 0 passed, 1 failed, 0 skipped"
	exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
MCX_ETCD_BIN=$etcd MCX_ETCD_TMP=$tmp build/tests/etcd/run-etcd "$@"
