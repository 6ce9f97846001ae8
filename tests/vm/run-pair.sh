#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Two hosts: boot two guests (see run.sh) joined by N point-to-point links,
# one per rail, and run one command in each.
#
#   tests/vm/run-pair.sh [options] --a "CMD" --b "CMD"
#
#   --a "CMD", --b "CMD"  shell command lines (bash -c) for host A and B
#   --links N             rails (default 2): guest NICs eth0..ethN-1, each
#                         with a soft-RoCE device rxe0..rxeN-1, MTU 9000
#   --kernel 6.1|6.12|debug
#                         kernel (default 6.12; see run.sh)
#   --timeout SEC         bound on each guest (default 600; status 124)
#   --results DIR         results base dir; A's are in DIR/a, B's in DIR/b
#                         (default build/vm/results/pair-<series>-<time>-<pid>)
#   --module-params "..." parameters for insmod mcxfer.ko (both guests)
#   --no-module           do not load mcxfer.ko
#   --mem MB, --smp N     per guest (defaults 1024 and 2, or $MCXFER_VM_MEM
#                         and $MCXFER_VM_SMP; 2048 MB for the debug kernel)
#   --quiet               do not stream the consoles
#
# Rail r links A and B through a qemu -netdev socket link over 127.0.0.1
# (A listens, B connects).  Addresses are 169.254.<r+1>.1 (A) and
# 169.254.<r+1>.2 (B), /24 per rail; they only exist on those links.
# Each guest gets MCXFER_HOST_INDEX (0 for A, 1 for B), MCXFER_LINKS,
# MCXFER_LOCAL_ADDRS and MCXFER_PEER_ADDRS (comma-separated, per rail)
# besides what run.sh sets.  A client should retry until its server in the
# other guest is up (mcx_retry in guest-lib.sh).
#
# Exit status: 0 when both commands succeeded and both kernel logs are
# clean; else the first non-zero status of A, then B (same meanings as
# run.sh).  When one guest fails, the other gets 20 s to finish and is then
# stopped (it would often wait for its peer until the timeout); the failed
# guest's status is then the one returned.

set -u
# shellcheck source=tests/vm/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
	sed -n '/^# Two hosts/,/^# guest.s status/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
	exit "${1:-0}"
}

VM_SERIES=6.12
TIMEOUT=600
RESULTS=
VM_MODULE_PARAMS=
VM_NO_MODULE=0
MEM=${MCXFER_VM_MEM:-}
SMP=${MCXFER_VM_SMP:-2}
LINKS=2
VM_QUIET=0
CMD_A=
CMD_B=
while [ $# -gt 0 ]; do
	case $1 in
	--a) CMD_A=${2:?--a needs a command}; shift 2 ;;
	--b) CMD_B=${2:?--b needs a command}; shift 2 ;;
	--links) LINKS=${2:?--links needs a count}; shift 2 ;;
	--kernel) VM_SERIES=${2:?--kernel needs 6.1, 6.12 or debug}; shift 2 ;;
	--timeout) TIMEOUT=${2:?--timeout needs seconds}; shift 2 ;;
	--results) RESULTS=${2:?--results needs a dir}; shift 2 ;;
	--module-params) VM_MODULE_PARAMS=${2?--module-params needs a string}; shift 2 ;;
	--no-module) VM_NO_MODULE=1; shift ;;
	--mem) MEM=${2:?--mem needs MB}; shift 2 ;;
	--smp) SMP=${2:?--smp needs a count}; shift 2 ;;
	--quiet) VM_QUIET=1; shift ;;
	-h | --help) usage 0 ;;
	*) echo "run-pair.sh: unknown argument '$1'" >&2; usage 2 >&2 ;;
	esac
done
[ -n "$CMD_A" ] && [ -n "$CMD_B" ] ||
	{ echo "run-pair.sh: both --a and --b are needed" >&2; usage 2 >&2; }
[ -n "$MEM" ] || MEM=$(vm_default_mem "$VM_SERIES")
for v in "$TIMEOUT" "$MEM" "$SMP" "$LINKS"; do
	case $v in
	'' | *[!0-9]*) vm_die "--timeout, --mem, --smp and --links take whole numbers, not '$v'" ;;
	esac
done
[ "$LINKS" -ge 1 ] && [ "$LINKS" -le 8 ] || vm_die "--links must be 1..8"

vm_prepare "$VM_SERIES"
[ -n "$RESULTS" ] ||
	RESULTS="$REPO_ROOT/build/vm/results/pair-$VM_SERIES-$(date +%Y%m%d-%H%M%S)-$$"
RES_A=$(vm_results_dir "$RESULTS/a") || exit 125
RES_B=$(vm_results_dir "$RESULTS/b") || exit 125
vm_check_module
ADDRS_A=$(vm_addrs 0 "$LINKS")
ADDRS_B=$(vm_addrs 1 "$LINKS")
VM_CMD=(bash -c "$CMD_A")
vm_write_config "$RES_A" 0 "$LINKS" "$ADDRS_A" "$ADDRS_B"
VM_CMD=(bash -c "$CMD_B")
vm_write_config "$RES_B" 1 "$LINKS" "$ADDRS_B" "$ADDRS_A"

PID_A=
PID_B=
stop_all() {
	local p
	for p in $PID_A $PID_B; do kill -TERM "$p" 2>/dev/null; done
}
trap stop_all INT TERM

# A listens on one port per rail; B connects once all of them listen.
start=$SECONDS
for attempt in 1 2 3; do
	net_a=()
	net_b=()
	ports=()
	for ((r = 0; r < LINKS; r++)); do
		p=$(vm_free_port) || exit 125
		ports+=("$p")
		net_a+=(-netdev "socket,id=rail$r,listen=127.0.0.1:$p"
			-device "virtio-net-pci,netdev=rail$r,mac=52:54:00:4d:00:0$r,romfile=")
		net_b+=(-netdev "socket,id=rail$r,connect=127.0.0.1:$p"
			-device "virtio-net-pci,netdev=rail$r,mac=52:54:00:4d:01:0$r,romfile=")
	done
	vm_launch "$RES_A" "$TIMEOUT" "$MEM" "$SMP" "[a] " "${net_a[@]}"
	PID_A=$VM_PID
	TAIL_A=$VM_TAIL_PID
	ok=0
	for _ in $(seq 100); do
		kill -0 "$PID_A" 2>/dev/null || break
		ok=1
		for p in "${ports[@]}"; do vm_port_listening "$p" || ok=0; done
		[ $ok = 1 ] && break
		sleep 0.1
	done
	[ $ok = 1 ] && break
	kill -TERM "$PID_A" 2>/dev/null
	wait "$PID_A" 2>/dev/null
	[ -n "$TAIL_A" ] && wait "$TAIL_A" 2>/dev/null
	vm_log "guest A did not listen on its links (try $attempt):"
	sed 's/^/    qemu: /' "$RES_A/qemu.log" >&2
	[ "$attempt" = 3 ] && exit 125
	: >"$RES_A/qemu.log"
done
vm_launch "$RES_B" "$TIMEOUT" "$MEM" "$SMP" "[b] " "${net_b[@]}"
PID_B=$VM_PID
TAIL_B=$VM_TAIL_PID

# Watch both: once one has ended badly, the other has a grace period.
grace_end=
while :; do
	alive_a=0
	alive_b=0
	kill -0 "$PID_A" 2>/dev/null && alive_a=1
	kill -0 "$PID_B" 2>/dev/null && alive_b=1
	[ $alive_a = 0 ] && [ $alive_b = 0 ] && break
	if [ -z "$grace_end" ]; then
		for side in a b; do
			if [ $side = a ]; then alive=$alive_a res=$RES_A; else alive=$alive_b res=$RES_B; fi
			[ "$alive" = 0 ] || continue
			vm_settle_status "$res" "guest ${side^^}"
			if [ "$(cat "$res/rig-status" 2>/dev/null)" != 0 ]; then
				grace_end=$((SECONDS + 20))
			fi
		done
	elif [ $SECONDS -ge "$grace_end" ]; then
		for side in a b; do
			if [ $side = a ]; then pid=$PID_A res=$RES_A; else pid=$PID_B res=$RES_B; fi
			if kill -0 "$pid" 2>/dev/null; then
				echo "stopped because the other guest failed" >"$res/.rig/stopped"
				kill -TERM "$pid" 2>/dev/null
			fi
		done
	fi
	sleep 1
done

vm_collect "$RES_A" "$PID_A" "$TAIL_A" "$TIMEOUT" "guest A"
st_a=$?
vm_collect "$RES_B" "$PID_B" "$TAIL_B" "$TIMEOUT" "guest B"
st_b=$?
vm_log "pair on $VM_KVER: A status $st_a, B status $st_b after $((SECONDS - start))s; results in $RESULTS"
# A guest stopped for its peer's sake did not fail by itself: report the
# peer's status first.
if [ -f "$RES_A/.rig/stopped" ] && [ "$st_b" != 0 ]; then
	exit "$st_b"
fi
[ "$st_a" != 0 ] && exit "$st_a"
exit "$st_b"
