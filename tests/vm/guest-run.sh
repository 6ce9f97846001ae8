#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Guest side of the rig, run by the initramfs inside the chroot of the host
# root: network and soft-RoCE, dma-buf exporters, the mcxfer module, then
# the command; afterwards the module is unloaded and the kernel log is
# checked against MCX_DMESG_BAD (guest-lib.sh).  Results (all in
# $MCXFER_RESULTS): cmd-status, rig-status (what run.sh returns), dmesg.txt,
# rig-error (why the rig itself failed).

set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# The host's /root is read-only here (and may hold the kernel cache).
export HOME=/tmp/home LC_ALL=C.UTF-8
mkdir -p "$HOME"
R=${MCXFER_RESULTS:?}

# shellcheck source=/dev/null
. "$R/.rig/config"
export MCXFER_KVER MCXFER_KERNEL MCXFER_MODROOT MCXFER_REPO MCXFER_RESULTS \
	MCXFER_HOST_INDEX MCXFER_LINKS MCXFER_LOCAL_ADDRS MCXFER_PEER_ADDRS
# shellcheck source=tests/vm/guest-lib.sh
. "$MCXFER_REPO/tests/vm/guest-lib.sh"

say() {
	echo "mcxfer-vm[$MCXFER_HOST_INDEX]: $*"
}

rig_fail() {
	say "rig failure: $*"
	echo "$*" >"$R/rig-error"
	dmesg >"$R/dmesg.txt" 2>/dev/null
	echo 125 >"$R/rig-status"
	exit 125
}

hostname "mcxfer-vm$MCXFER_HOST_INDEX"
ip link set lo up

# Let the kernel's own module autoloading and plain `modprobe` in tests find
# the booted kernel's modules: /lib/modules/$KVER on the host is another
# build (or only a headers link).
mkdir -p /run/mcxfer
if [ -d "/lib/modules/$MCXFER_KVER" ]; then
	mount --bind "$MCXFER_MODROOT/lib/modules/$MCXFER_KVER" "/lib/modules/$MCXFER_KVER" ||
		rig_fail "cannot bind $MCXFER_MODROOT/lib/modules/$MCXFER_KVER over /lib/modules/$MCXFER_KVER"
fi
printf '#!/bin/sh\nexec /sbin/modprobe -d "%s" -S "%s" "$@"\n' \
	"$MCXFER_MODROOT" "$MCXFER_KVER" >/run/mcxfer/modprobe
chmod 0755 /run/mcxfer/modprobe
echo /run/mcxfer/modprobe >/proc/sys/kernel/modprobe

# One modprobe for all: every exec costs under TCG.  rdma_ucm gives
# /dev/infiniband/rdma_cm, without which librdmacm (and so libfabric's
# verbs provider) fails every rdma_create_id() with ENOMEM.
mcx_modprobe -a virtio_net crc32_generic rdma_rxe ib_uverbs rdma_ucm ||
	rig_fail "modprobe of virtio_net crc32_generic rdma_rxe ib_uverbs rdma_ucm failed"
IFS=, read -ra local_addrs <<<"$MCXFER_LOCAL_ADDRS"
for ((r = 0; r < MCXFER_LINKS; r++)); do
	for i in $(seq 100); do
		[ -e "/sys/class/net/eth$r" ] && break
		sleep 0.05
	done
	[ -e "/sys/class/net/eth$r" ] || rig_fail "eth$r did not appear"
	ip link set "eth$r" mtu 9000 up || rig_fail "cannot bring eth$r up with MTU 9000"
	ip addr add "${local_addrs[r]}/24" dev "eth$r" ||
		rig_fail "cannot give eth$r its address ${local_addrs[r]}"
	rdma link add "rxe$r" type rxe netdev "eth$r" ||
		rig_fail "rdma link add rxe$r on eth$r failed"
done

# Both host-memory dma-buf exporters where this kernel has them (Debian
# 6.12 builds udmabuf in and has vgem; 6.1 has only vgem); which ones came
# up is checked below.
mcx_modprobe -q vgem
mcx_modprobe -q udmabuf
exporters=
[ -c /dev/udmabuf ] && exporters="$exporters udmabuf"
[ -d /sys/module/vgem ] && exporters="$exporters vgem"
[ -n "$exporters" ] || rig_fail "neither udmabuf nor vgem is available in $MCXFER_KVER"

if [ "$RIG_NO_MODULE" = 0 ]; then
	ko=$(mcx_module_path)
	[ -f "$ko" ] || rig_fail "$ko is not built (make -C kmod KVER=$MCXFER_KVER), or run with --no-module"
	# shellcheck disable=SC2086
	mcx_module_load $RIG_MODULE_PARAMS || rig_fail "loading $ko failed"
fi

say "ready after $(cut -d' ' -f1 /proc/uptime)s: kernel $MCXFER_KVER; RDMA: $(ls /sys/class/infiniband | paste -sd' '); dma-buf:$exporters; mcxfer.ko $([ "$RIG_NO_MODULE" = 0 ] && echo loaded || echo 'not loaded')"

cd "$MCXFER_REPO" || rig_fail "cannot cd to $MCXFER_REPO"
"${RIG_CMD[@]}" </dev/null
st=$?
echo "$st" >"$R/cmd-status"
say "command exited with status $st"

# Unloading the module (whoever loaded it) catches leaked references and
# teardown warnings; a module that stays busy is reported, the command may
# have left it so on purpose.
if mcx_module_loaded; then
	rmmod mcxfer 2>/dev/null || say "note: mcxfer still in use after the command; not unloaded"
fi

dmesg >"$R/dmesg.txt"
if bad=$(grep -E "$MCX_DMESG_BAD" "$R/dmesg.txt"); then
	say "kernel log shows problems:"
	echo "$bad" | head -n 40
	echo "kernel log shows problems (see dmesg.txt)" >"$R/rig-error"
	[ "$st" = 0 ] && st=123
fi
echo "$st" >"$R/rig-status"
exit "$st"
