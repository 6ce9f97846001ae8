#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Guest half of the rig self-test (tests/vm/selftest.sh): checks what
# run.sh promises inside a guest.  One line per check goes to
# $MCXFER_RESULTS/checks ("pass|fail|skip NAME: detail"); the exit status
# is non-zero when any check failed.

set -u
# shellcheck source=tests/vm/guest-lib.sh
. tests/vm/guest-lib.sh

failed=0
record() {
	local verdict=$1
	shift
	echo "$verdict $*" >>"$MCXFER_RESULTS/checks"
	echo "selftest-guest: $verdict $*"
	[ "$verdict" = fail ] && failed=1
	return 0
}

not() {
	! "$@"
}

check() {
	local name=$1
	shift
	if out=$("$@" 2>&1); then
		record pass "$name"
	else
		record fail "$name: $(echo "$out" | tail -n 3 | tr '\n' ' ')"
	fi
}

check "booted kernel is MCXFER_KVER ($MCXFER_KVER)" test "$(uname -r)" = "$MCXFER_KVER"
case $MCXFER_KERNEL in
6.1 | 6.12) record pass "MCXFER_KERNEL=$MCXFER_KERNEL" ;;
*) record fail "MCXFER_KERNEL is '$MCXFER_KERNEL'" ;;
esac
check "MCXFER_MODROOT holds the kernel's modules" test -f "$MCXFER_MODROOT/lib/modules/$MCXFER_KVER/modules.dep"
check "cwd is the repo root" test "$(pwd -P)" = "$(cd "$MCXFER_REPO" && pwd -P)"
check "host root is read-only" not touch "$MCXFER_REPO/.rig-write-probe"
check "/tmp is writable" bash -c 'echo x >/tmp/probe && rm /tmp/probe'
check "results dir is writable" bash -c 'echo x >"$MCXFER_RESULTS/probe" && rm "$MCXFER_RESULTS/probe"'
check "eth0 has MTU 9000" test "$(cat /sys/class/net/eth0/mtu)" = 9000
check "ibv_devices lists rxe0" bash -c 'ibv_devices | grep -qw rxe0'
check "rxe0 runs a 4096-byte MTU" bash -c 'ibv_devinfo -d rxe0 | grep -q "active_mtu:.*4096"'
check "rxe0 has an IPv4 RoCE v2 GID" mcx_gid_index rxe0
check "/dev/infiniband/uverbs0 exists" test -c /dev/infiniband/uverbs0
check "crc32_generic is loaded" test -d /sys/module/crc32_generic
check "mcx_modprobe finds the booted kernel's modules" mcx_modprobe -n dummy

case $MCXFER_KERNEL in
6.1) check "vgem is loaded (6.1)" test -d /sys/module/vgem ;;
6.12) check "/dev/udmabuf exists (6.12)" test -c /dev/udmabuf ;;
esac
# The other exporter where this kernel has it: Debian 6.12 has both.
if modinfo -b "$MCXFER_MODROOT" -k "$MCXFER_KVER" vgem >/dev/null 2>&1; then
	check "vgem is loaded" test -d /sys/module/vgem
fi
check "a DRM device exists for vgem" bash -c 'ls /dev/dri/card* >/dev/null'

if [ "${SELFTEST_MODULE:-0}" = 1 ]; then
	check "/dev/mcxfer exists with the module loaded" test -c /dev/mcxfer
	check "mcx_module_unload unloads it" mcx_module_unload
	check "/dev/mcxfer is gone after unload" test ! -e /dev/mcxfer
	check "mcx_module_unload fails when not loaded" not mcx_module_unload
	check "mcx_module_load loads it again" mcx_module_load
	check "/dev/mcxfer is back" test -c /dev/mcxfer
else
	check "no module loaded with --no-module" test ! -e /dev/mcxfer
	record skip "/dev/mcxfer with the module: build/kmod/$MCXFER_KVER/mcxfer.ko not built"
fi
exit $failed
