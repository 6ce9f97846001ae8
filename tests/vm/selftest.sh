#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Self-test of the VM rig.
#
#   tests/vm/selftest.sh [--kernels "6.1 6.12"] [--pair-kernel 6.12|none]
#
# For each kernel: one guest checks what run.sh promises inside
# (selftest-guest.sh: kernel, env, mounts, rxe0 with a 4096-byte MTU,
# vgem/udmabuf, /dev/mcxfer and module reload when build/kmod/<KVER>/mcxfer.ko
# exists).  On the first kernel it also proves that run.sh can fail:
# a command's status comes back, a hung command times out (124), a WARNING
# in the kernel log fails the run (123), a missing module is refused (125).
# Then two guests joined by two links run ib_write_bw over rail 0 and rail 1
# (selftest-bw.sh), and a pair where one guest fails shows that the other is
# stopped and the failure comes back.  Boots are sequential: the machine
# may have few cores.
# Ends with "N passed, N failed, N skipped".

set -u
VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$VM_DIR/../.." && pwd)
cd "$REPO" || exit 1

KERNELS="6.1 6.12"
PAIR_KERNEL=6.12
while [ $# -gt 0 ]; do
	case $1 in
	--kernels) KERNELS=${2?--kernels needs a list}; shift 2 ;;
	--pair-kernel) PAIR_KERNEL=${2:?}; shift 2 ;;
	-h | --help) sed -n '4,18s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
	*) echo "selftest.sh: unknown argument '$1'" >&2; exit 2 ;;
	esac
done

BASE="$REPO/build/vm/selftest-$(date +%Y%m%d-%H%M%S)-$$"
mkdir -p "$BASE"
passed=0
failed=0
skipped=0

verdict() {
	local v=$1
	shift
	case $v in
	pass) passed=$((passed + 1)); echo "PASS $*" ;;
	fail) failed=$((failed + 1)); echo "FAIL $*" ;;
	skip) skipped=$((skipped + 1)); echo "SKIP $*" ;;
	esac
}

# run.sh with output kept in a log; echoes nothing, returns run.sh's status.
rig() {
	local log=$1
	shift
	"$VM_DIR/run.sh" "$@" >"$log" 2>&1
}

kver_of() {
	(. "$VM_DIR/lib.sh" && vm_kver_for "$1")
}

first=1
for k in $KERNELS; do
	kver=$(kver_of "$k") || { verdict fail "$k: no headers to pick the kernel"; continue; }
	modopt=(--no-module)
	modenv=0
	if [ -f "$REPO/build/kmod/$kver/mcxfer.ko" ]; then
		modopt=()
		modenv=1
	fi
	res="$BASE/$k-guest"
	start=$SECONDS
	rig "$BASE/$k-guest.log" --kernel "$k" --timeout 300 --results "$res" "${modopt[@]}" \
		-- env SELFTEST_MODULE=$modenv tests/vm/selftest-guest.sh
	st=$?
	secs=$((SECONDS - start))
	if [ -f "$res/checks" ]; then
		while read -r v rest; do
			verdict "$v" "$k: $rest"
		done <"$res/checks"
	fi
	if [ "$st" = 0 ]; then
		verdict pass "$k: guest checks ran, kernel log clean (boot and checks: ${secs}s)"
	else
		verdict fail "$k: run.sh returned $st (log: $BASE/$k-guest.log)"
		tail -n 20 "$BASE/$k-guest.log" | sed 's/^/    /'
	fi

	[ "$first" = 1 ] || continue
	first=0

	rig "$BASE/$k-status.log" --kernel "$k" --timeout 120 --no-module -- sh -c 'exit 7'
	st=$?
	[ "$st" = 7 ] && verdict pass "$k: command status 7 comes back" ||
		verdict fail "$k: command status 7 came back as $st"

	start=$SECONDS
	rig "$BASE/$k-timeout.log" --kernel "$k" --timeout 25 --no-module -- sleep 600
	st=$?
	secs=$((SECONDS - start))
	if [ "$st" = 124 ] && [ $secs -lt 60 ]; then
		verdict pass "$k: a hung command times out with 124 (${secs}s)"
	else
		verdict fail "$k: hung command gave $st after ${secs}s (want 124)"
	fi

	rig "$BASE/$k-warn.log" --kernel "$k" --timeout 120 --no-module \
		-- sh -c 'echo "WARNING: rig self-test" >/dev/kmsg'
	st=$?
	[ "$st" = 123 ] && verdict pass "$k: a WARNING in the kernel log fails the run (123)" ||
		verdict fail "$k: a WARNING in the kernel log gave $st (want 123)"

	# Without a built module run.sh must refuse before booting.
	if [ -f "$REPO/build/kmod/$kver/mcxfer.ko" ]; then
		verdict skip "$k: missing-module refusal (the module is built)"
	else
		rig "$BASE/$k-nomod.log" --kernel "$k" --timeout 60 -- true
		st=$?
		if [ "$st" = 125 ] && grep -q 'not built' "$BASE/$k-nomod.log"; then
			verdict pass "$k: a missing module is refused with 125 and a clear message"
		else
			verdict fail "$k: a missing module gave $st (want 125)"
		fi
	fi
done

if [ "$PAIR_KERNEL" != none ]; then
	kver=$(kver_of "$PAIR_KERNEL")
	modopt=(--no-module)
	[ -f "$REPO/build/kmod/$kver/mcxfer.ko" ] && modopt=()
	res="$BASE/pair-$PAIR_KERNEL"
	start=$SECONDS
	"$VM_DIR/run-pair.sh" --kernel "$PAIR_KERNEL" --links 2 --timeout 600 \
		--results "$res" "${modopt[@]}" --quiet \
		--a "tests/vm/selftest-bw.sh 65536 1000" --b "tests/vm/selftest-bw.sh 65536 1000" \
		>"$BASE/pair.log" 2>&1
	st=$?
	secs=$((SECONDS - start))
	for r in 0 1; do
		bw=$(cat "$res/a/bw-rail$r" 2>/dev/null)
		if [ -n "$bw" ] && awk -v b="$bw" 'BEGIN { exit !(b > 0) }'; then
			note=
			[ -f "$res/a/bw-rail$r.retried" ] && note=" (after one failed attempt)"
			verdict pass "$PAIR_KERNEL pair: ib_write_bw rail $r (rxe$r): $bw MB/s at 64 KiB$note"
		else
			verdict fail "$PAIR_KERNEL pair: no bandwidth on rail $r"
		fi
	done
	if [ "$st" = 0 ]; then
		verdict pass "$PAIR_KERNEL pair: both guests succeeded, kernel logs clean (${secs}s)"
	else
		verdict fail "$PAIR_KERNEL pair: run-pair.sh returned $st (log: $BASE/pair.log)"
		tail -n 30 "$BASE/pair.log" | sed 's/^/    /'
	fi

	# A failing guest must not leave its peer waiting until the timeout.
	start=$SECONDS
	"$VM_DIR/run-pair.sh" --kernel "$PAIR_KERNEL" --links 1 --timeout 300 \
		--results "$BASE/pair-fail" --no-module --quiet \
		--a "sleep 600" --b "exit 3" >"$BASE/pair-fail.log" 2>&1
	st=$?
	secs=$((SECONDS - start))
	if [ "$st" = 3 ] && [ $secs -lt 200 ] && grep -q 'stopped' "$BASE/pair-fail/a/rig-error"; then
		verdict pass "$PAIR_KERNEL pair: B's failure (3) comes back and A is stopped (${secs}s)"
	else
		verdict fail "$PAIR_KERNEL pair: failing B gave $st after ${secs}s (want 3, A stopped)"
	fi
fi

echo "results: $BASE"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
