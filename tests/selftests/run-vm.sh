#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Host side of the selftests: build them (and the module for each kernel),
# then boot each kernel in the rig and run tests/selftests/run.sh in it.
# Prints each kernel's result and the total; non-zero exit on any failure,
# including a rig failure or kernel warnings.
#
#   tests/selftests/run-vm.sh [--kernel 6.1|6.12|debug|all] [--timeout SEC]
#                             [-- SUITE...]
#
# "all" is the two Debian kernels.  "debug" is the kernel with KASAN,
# lockdep, kmemleak and UBSAN (tests/vm/debug-kernel.sh builds it, or
# finds it cached): there the stress and fuzz runs are shorter by default
# (MCXFER_STRESS_SECONDS=10, MCXFER_FUZZ_CALLS=15000), the timeout is 1500 s,
# and a kmemleak scan after the suites (tests/vm/kmemleak-scan.sh) counts
# as one more test.
#
# Environment passed into the guest: MCXFER_STRESS_SECONDS,
# MCXFER_FUZZ_CALLS, MCXFER_FUZZ_SEED, MCXFER_STRESS_SEED.
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
cd "$MCX_TOP" || exit 2

kernels=all
timeout=
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) kernels=${2:?--kernel needs 6.1, 6.12, debug or all}; shift 2 ;;
	--timeout) timeout=${2:?--timeout needs seconds}; shift 2 ;;
	--) shift; break ;;
	-h | --help) sed -n '3,21s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "run-vm.sh: unknown option '$1'" >&2; exit 2 ;;
	esac
done
case $kernels in
all) kernels="6.1 6.12" ;;
6.1 | 6.12 | debug) ;;
*) echo "run-vm.sh: --kernel takes 6.1, 6.12, debug or all, not '$kernels'" >&2; exit 2 ;;
esac
case $timeout in
*[!0-9]*) echo "run-vm.sh: --timeout takes whole seconds, not '$timeout'" >&2; exit 2 ;;
esac

total_p=0
total_f=0
total_s=0
summary=
if ! make -s -C tests/selftests -j2; then
	echo "run-vm.sh: building the selftests failed"
	echo "0 passed, 1 failed"
	exit 1
fi

# The rig passes only its own variables; hand ours in through the command.
env_args=()
for v in MCXFER_STRESS_SECONDS MCXFER_FUZZ_CALLS MCXFER_FUZZ_SEED MCXFER_STRESS_SEED; do
	[ -n "${!v:-}" ] && env_args+=("$v=${!v}")
done

# Under emulation with KASAN, lockdep and kmemleak a call costs some ten
# times what it costs on a stock kernel: shorter runs keep the lane within
# minutes.  Then the kmemleak scan, after the module has been unloaded.
debug_env=(MCXFER_STRESS_SECONDS="${MCXFER_STRESS_SECONDS:-10}"
	MCXFER_FUZZ_CALLS="${MCXFER_FUZZ_CALLS:-15000}")
# shellcheck disable=SC2016 # expanded in the guest
debug_cmd='tests/selftests/run.sh "$@"; st=$?; tests/vm/kmemleak-scan.sh || st=1; exit $st'

for k in $kernels; do
	p=0 f=0 s=0
	log=$(mktemp)
	start=$SECONDS
	if [ "$k" = debug ]; then
		kver=$(tests/vm/debug-kernel.sh | tail -n1) && [ -n "$kver" ] &&
			tests/vm/debug-kernel.sh --module >/dev/null || kver=
		mod_ok=$([ -n "$kver" ] && echo 1)
		cmd=(env "${env_args[@]}" "${debug_env[@]}" bash -c "$debug_cmd" guest "$@")
	else
		kver=$(mcx_kver_of "$k")
		mod_ok=
		[ -n "$kver" ] && make -s -C kmod KVER="$kver" -j2 && mod_ok=1
		cmd=(env "${env_args[@]}" tests/selftests/run.sh "$@")
	fi
	if [ -z "$kver" ] && [ "$k" = debug ]; then
		echo "run-vm.sh: building the debug kernel or the module for it failed"
		f=1
	elif [ -z "$kver" ]; then
		echo "run-vm.sh: no linux-headers for $k installed"
		f=1
	elif [ -z "$mod_ok" ]; then
		echo "run-vm.sh: building the module for $kver failed"
		f=1
	else
		t=$timeout
		[ -n "$t" ] || { [ "$k" = debug ] && t=1500 || t=900; }
		tests/vm/run.sh --kernel "$k" --timeout "$t" -- "${cmd[@]}" 2>&1 | tee "$log"
		st=${PIPESTATUS[0]}
		line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n1)
		if [ -n "$line" ]; then
			p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
			f=$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
			case $line in *skipped*) s=$(echo "$line" | sed -E 's/.*, ([0-9]+) skipped.*/\1/') ;; esac
		else
			echo "run-vm.sh: no result line from the guest on $k"
		fi
		if [ "$k" = debug ]; then
			case $(grep -E '^kmemleak: ' "$log" | tail -n1) in
			'kmemleak: 0 leaks from mcxfer'*) p=$((p + 1)) ;;
			*) echo "run-vm.sh: the kmemleak scan found leaks from mcxfer, or did not run"; f=$((f + 1)) ;;
			esac
		fi
		# A rig failure, timeout or kernel warning after a clean count is a failure too.
		if [ "$st" -ne 0 ] && [ "$f" -eq 0 ]; then
			echo "run-vm.sh: rig exit status $st on $k"
			f=1
		fi
	fi
	rm -f "$log"
	summary="$summary
kernel $k ($kver): $p passed, $f failed, $s skipped in $((SECONDS - start)) s"
	total_p=$((total_p + p))
	total_f=$((total_f + f))
	total_s=$((total_s + s))
done
echo "=== selftests:$summary"
echo "$total_p passed, $total_f failed, $total_s skipped"
[ "$total_f" -eq 0 ]
