# SPDX-License-Identifier: GPL-2.0 OR MIT
# shellcheck shell=bash
#
# Shell helpers for scripts that run inside a rig guest (tests/vm/run.sh).
# Source it from bash:  . tests/vm/guest-lib.sh
#
# The rig exports MCXFER_KVER (kernel release), MCXFER_KERNEL (6.1|6.12),
# MCXFER_MODROOT (the unpacked Debian kernel package), MCXFER_RESULTS (the
# read-write results dir), MCXFER_REPO, MCXFER_HOST_INDEX, MCXFER_LINKS,
# MCXFER_LOCAL_ADDRS and MCXFER_PEER_ADDRS (comma-separated, one per rail).

MCXFER_REPO=${MCXFER_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}

# Kernel log lines that fail a run: warnings, BUG()s and oopses, sanitizer
# and lockdep reports, list corruption (Debian builds CONFIG_DEBUG_LIST),
# hung tasks, any stack dump, and kmemleak's own errors.  Not kmemleak's
# start-up lines ("Kernel memory leak detector initialized"), and not its
# "N new suspected memory leaks": on the debug kernel that counts leaks of
# the whole kernel, and tests/vm/kmemleak-scan.sh picks out mcxfer's.
MCX_DMESG_BAD='WARNING:|BUG:|kernel BUG at|Oops|lockdep|KASAN|UBSAN:|general protection|possible circular|INFO: task .* blocked|Call Trace:|list_add corruption|list_del corruption|suspicious RCU usage|kmemleak: .*(Cannot|unknown object|overlaps|by alias|larger than object|disabled)'

# modprobe from the booted kernel's module tree (the host's own
# /lib/modules may hold another build, or none).
mcx_modprobe() {
	modprobe -d "$MCXFER_MODROOT" -S "$MCXFER_KVER" "$@"
}

# Where the mcxfer module of the running kernel is built.
mcx_module_path() {
	echo "$MCXFER_REPO/build/kmod/$MCXFER_KVER/mcxfer.ko"
}

mcx_module_loaded() {
	grep -q '^mcxfer ' /proc/modules
}

# insmod the module with optional parameters ("linger_s=5 max_entries=10")
# and wait for /dev/mcxfer.  Returns insmod's status, or 1 when the device
# node never appears.
mcx_module_load() {
	local ko i
	ko=$(mcx_module_path)
	if [ ! -f "$ko" ]; then
		echo "mcx_module_load: $ko does not exist (build it: make -C kmod KVER=$MCXFER_KVER)" >&2
		return 2
	fi
	# Parameters may come as one string or as words: split them either way.
	# shellcheck disable=SC2048,SC2086
	insmod "$ko" $* || return
	for i in $(seq 50); do
		[ -c /dev/mcxfer ] && return 0
		sleep 0.1
	done
	echo "mcx_module_load: /dev/mcxfer did not appear" >&2
	return 1
}

# rmmod the module; returns rmmod's status (non-zero while it is in use).
mcx_module_unload() {
	rmmod mcxfer
}

# Index of the IPv4 RoCE v2 GID of an RDMA device port (soft-RoCE lists an
# IPv6 link-local GID and a RoCE v1 twin of each address too).
mcx_gid_index() {
	local dev=$1 port=${2:-1} d="/sys/class/infiniband/$1/ports/${2:-1}"
	local f i gid
	for f in "$d"/gid_attrs/types/*; do
		i=${f##*/}
		[ "$(cat "$f" 2>/dev/null)" = "RoCE v2" ] || continue
		gid=$(cat "$d/gids/$i" 2>/dev/null) || continue
		case $gid in
		0000:0000:0000:0000:0000:ffff:*)
			echo "$i"
			return 0
			;;
		esac
	done
	echo "mcx_gid_index: no IPv4 RoCE v2 GID on $dev port $port" >&2
	return 1
}

# The peer's (or our own) address on a rail: mcx_peer_addr 0
mcx_peer_addr() {
	echo "$MCXFER_PEER_ADDRS" | cut -d, -f$(($1 + 1))
}

mcx_local_addr() {
	echo "$MCXFER_LOCAL_ADDRS" | cut -d, -f$(($1 + 1))
}

# Retry a command until it succeeds or SECONDS run out (for a client that
# starts before its server in the other guest): mcx_retry 60 cmd args...
mcx_retry() {
	local limit=$1 end
	shift
	end=$((SECONDS + limit))
	until "$@"; do
		[ $SECONDS -ge $end ] && return 1
		sleep 1
	done
}

# Print the kernel log lines that fail a run; true when there are none.
mcx_dmesg_clean() {
	! dmesg | grep -E "$MCX_DMESG_BAD"
}
