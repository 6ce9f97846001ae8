#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# The transfer engine between two hosts: for each Debian kernel, boot two
# guests joined by two links (tests/vm/run-pair.sh --links 2, rxe0 and
# rxe1 in each) and run tests/integration/xfer-guest.sh in both; then boot
# a second pair for tests/integration/warm-guest.sh (warm start) and a
# third for tests/integration/fabric-guest.sh (the same transfer cases on
# the libfabric transport, provider "verbs;ofi_rxm").  Prints
# each guest's TAP lines, each kernel's result and the total as the last
# line, "N passed, N failed[, N skipped]"; exit status 0 only when nothing
# failed (a rig failure, a timeout or kernel warnings count as failures).
#
#   tests/integration/run-vm.sh [--kernel 6.1|6.12|all] [--timeout SEC]
#                               [--results DIR] [--no-module]
#                               [--only xfer|warm|fabric] [--fabric-nic-down]
#
# --timeout bounds each guest (default 420 s); --results keeps the guests'
# results under DIR/<series>/{a,b}, DIR/<series>-warm/{a,b} and
# DIR/<series>-fabric/{a,b} (default build/vm/results/xfer-...).
# The module is loaded in both guests (built first if need be) unless
# --no-module: the engine does not need it, but must work beside it (the
# warm-start pair, which needs it, is then not run).  --only runs one of
# the three pairs.  --fabric-nic-down adds the NIC-down case to the fabric
# pair (skipped there by default: the engine stalls until ofi_rxm reports
# the failed connection, past every deadline; see xfer_test.c).
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
cd "$MCX_TOP" || exit 2

kernels=all
timeout=420
results=
module=1
only=
fabric_env=
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) kernels=${2:?--kernel needs 6.1, 6.12 or all}; shift 2 ;;
	--timeout) timeout=${2:?--timeout needs seconds}; shift 2 ;;
	--results) results=${2:?--results needs a directory}; shift 2 ;;
	--no-module) module=0; shift ;;
	--only) only=${2:?--only needs xfer, warm or fabric}; shift 2 ;;
	--fabric-nic-down) fabric_env="MCXFER_FABRIC_NIC_DOWN=1 "; shift ;;
	-h | --help) sed -n '3,26s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "run-vm.sh: unknown option '$1'" >&2; exit 2 ;;
	esac
done
case $kernels in
all) kernels="6.1 6.12" ;;
6.1 | 6.12) ;;
*) echo "run-vm.sh: --kernel takes 6.1, 6.12 or all, not '$kernels'" >&2; exit 2 ;;
esac
case $only in
'' | xfer | warm | fabric) ;;
*) echo "run-vm.sh: --only takes xfer, warm or fabric, not '$only'" >&2; exit 2 ;;
esac
case $timeout in
'' | *[!0-9]*) echo "run-vm.sh: --timeout takes whole seconds, not '$timeout'" >&2; exit 2 ;;
esac
[ -n "$results" ] || results=$MCX_TOP/build/vm/results/xfer-$(date +%Y%m%d-%H%M%S)-$$

if ! make -s -C lib -j2 || ! make -s -C tools -j2 || ! make -s -C tests/integration -j2; then
	echo "run-vm.sh: building libmcxfer or the integration programs failed"
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
fi

# The "N passed, N failed[, N skipped]" line of a log into p, f, s.
count() {
	local line
	p=0 f=0 s=0
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$1" 2>/dev/null | tail -n1)
	[ -n "$line" ] || return 1
	p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
	f=$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
	case $line in *skipped*) s=$(echo "$line" | sed -E 's/.*, ([0-9]+) skipped.*/\1/') ;; esac
	return 0
}

# One pair boot of kernel $1 running guest script $3 in both guests; the
# guests' counts (from log file $4 under $5/{a,b}) are added to kp, kf, ks.
pair() {
	local k=$1 what=$2 script=$3 logname=$4 dir=$5 st side logf kf0=$kf
	shift 5
	echo "== $k ($kver): $what, two guests, two links each"
	tests/vm/run-pair.sh "$@" --a "$script" --b "$script"
	st=$?
	for side in a b; do
		logf=$dir/$side/$logname
		if [ -f "$logf" ]; then
			sed "s/^/[$k $side] /" "$logf"
		fi
		if count "$logf"; then
			kp=$((kp + p)) kf=$((kf + f)) ks=$((ks + s))
		else
			echo "run-vm.sh: guest $side on $k ($what) left no result line (see $dir/$side/console.log)"
			kf=$((kf + 1))
		fi
	done
	# A clean count but a rig failure (timeout, kernel warnings) still fails.
	if [ "$st" -ne 0 ] && [ "$kf" -eq "$kf0" ]; then
		echo "run-vm.sh: run-pair.sh exit status $st on $k, $what (see $dir)"
		kf=1
	fi
}

total_p=0 total_f=0 total_s=0 summary=
for k in $kernels; do
	kp=0 kf=0 ks=0
	start=$SECONDS
	kver=$(mcx_kver_of "$k")
	args=(--kernel "$k" --links 2 --timeout "$timeout" --quiet)
	if [ -z "$kver" ]; then
		echo "run-vm.sh: no linux-headers for $k installed"
		kf=1
	elif [ $module = 1 ] && ! make -s -C kmod KVER="$kver" -j2; then
		echo "run-vm.sh: building the module for $kver failed"
		kf=1
	else
		[ $module = 1 ] || args+=(--no-module)
		if [ -z "$only" ] || [ "$only" = xfer ]; then
			pair "$k" "transfers" tests/integration/xfer-guest.sh xfer-test.log \
				"$results/$k" "${args[@]}" --results "$results/$k"
		fi
		if [ -n "$only" ] && [ "$only" != warm ]; then
			:
		elif [ $module = 1 ]; then
			pair "$k" "warm start" tests/integration/warm-guest.sh warm-test.log \
				"$results/$k-warm" "${args[@]}" --results "$results/$k-warm"
		else
			echo "run-vm.sh: warm start needs the module: not run (--no-module)"
		fi
		if [ -z "$only" ] || [ "$only" = fabric ]; then
			pair "$k" "fabric transport (verbs;ofi_rxm)" "${fabric_env}tests/integration/fabric-guest.sh" \
				fabric-test.log "$results/$k-fabric" "${args[@]}" --results "$results/$k-fabric"
		fi
	fi
	if [ "$kp" -eq 0 ] && [ "$kf" -eq 0 ]; then
		echo "run-vm.sh: nothing passed on $k (every test skipped)"
		kf=1
	fi
	summary="$summary$k: $kp passed, $kf failed, $ks skipped ($((SECONDS - start)) s)"$'\n'
	total_p=$((total_p + kp)) total_f=$((total_f + kf)) total_s=$((total_s + ks))
done
printf '%s' "$summary"
echo "$total_p passed, $total_f failed, $total_s skipped"
[ "$total_f" -eq 0 ]
