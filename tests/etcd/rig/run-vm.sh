#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Two engines in two processes of one rig guest, through an etcd started
# on loopback inside the guest (the host's /usr/bin/etcd, seen through the
# shared root): tests/etcd/rig/guest.sh.  Skips (one skipped) without etcd,
# libcurl or json-c on the host.  Ends with "N passed, N failed, N skipped".
#
#   tests/etcd/rig/run-vm.sh [--kernel 6.1|6.12] [--timeout SEC]
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../../lib.sh"
cd "$MCX_TOP" || exit 2

kernel=6.12
timeout=600
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) kernel=${2:?--kernel needs 6.1 or 6.12}; shift 2 ;;
	--timeout) timeout=${2:?--timeout needs seconds}; shift 2 ;;
	-h | --help) sed -n '3,9s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "run-vm.sh: unknown option '$1'" >&2; exit 2 ;;
	esac
done
for f in /usr/bin/etcd /usr/bin/etcdctl; do
	if [ ! -x "$f" ]; then
		echo "etcd-rig: skipped, $f is not installed (package etcd-server, etcd-client)"
		echo "0 passed, 0 failed, 1 skipped"
		exit 0
	fi
done
for so in libcurl.so.4 libjson-c.so.5; do
	if ! ldconfig -p 2>/dev/null | grep -q "$so "; then
		echo "etcd-rig: skipped, $so is not installed"
		echo "0 passed, 0 failed, 1 skipped"
		exit 0
	fi
done
if ! make -s -C tests/etcd rig >/dev/null; then
	echo "etcd-rig: building the program failed"
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
fi
results=$MCX_TOP/build/vm/results/etcd-$kernel-$(date +%Y%m%d-%H%M%S)-$$
tests/vm/run.sh --kernel "$kernel" --no-module --timeout "$timeout" --quiet \
	--results "$results" -- tests/etcd/rig/guest.sh
st=$?
cat "$results/open.log" 2>/dev/null
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$results/open.log" 2>/dev/null | tail -n1)
p=0 f=0
if [ -n "$line" ]; then
	read -r p f < <(echo "$line" | sed -E 's/^([0-9]+) passed, ([0-9]+) failed.*/\1 \2/')
else
	echo "etcd-rig: no result (rig status $st; results in $results)"
	f=1
fi
[ "$st" -ne 0 ] && [ "$f" -eq 0 ] && { echo "rig status $st (results in $results)"; f=1; }
echo "$p passed, $f failed, 0 skipped"
[ "$f" -eq 0 ]
