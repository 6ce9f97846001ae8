#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Runs inside a rig guest (tests/vm/run.sh): every selftest program against
# the loaded mcxfer module, then the totals.
#
#   tests/selftests/run.sh [SUITE...]     suites: abi flows mr trust rmmod stress stress-caps fuzz events
#
# Environment: MCXFER_STRESS_SECONDS (default 30), MCXFER_FUZZ_CALLS (calls
# per command, default 100000), MCXFER_FUZZ_SEED, MCXFER_STRESS_SEED.
# Each suite's own closing line is "N passed, N failed[, N skipped]"; a
# suite that exits non-zero without a failure, prints no such line, or
# leaves a kernel warning behind counts one more failure.  The last line
# is the total; the exit status is non-zero when anything failed.
set -u
cd "$(dirname "$0")/../.." || exit 2
# shellcheck source=tests/vm/guest-lib.sh
. tests/vm/guest-lib.sh

BIN=build/tests/selftests
STRESS_S=${MCXFER_STRESS_SECONDS:-30}
FUZZ_N=${MCXFER_FUZZ_CALLS:-100000}
suites=${*:-"abi flows mr trust rmmod stress stress-caps fuzz events"}

total_p=0
total_f=0
total_s=0
failed=

# Kernel log lines seen so far, so that each suite is blamed only for its own.
dmesg_seen=$(dmesg | wc -l)

run_suite() {		# name command...
	local name=$1 log st line p f s new
	shift
	if ! mcx_module_loaded; then
		echo "# $name: mcxfer is not loaded; loading it"
		mcx_module_load || { total_f=$((total_f + 1)); failed="$failed $name"; return; }
	fi
	log=$(mktemp)
	echo "# === $name: $*"
	start=$SECONDS
	"$@" 2>&1 | tee "$log"
	st=${PIPESTATUS[0]}
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n1)
	rm -f "$log"
	p=0 f=0 s=0
	if [ -n "$line" ]; then
		p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
		f=$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
		case $line in *skipped*) s=$(echo "$line" | sed -E 's/.*, ([0-9]+) skipped.*/\1/') ;; esac
	else
		echo "# $name printed no result line"
		f=1
	fi
	[ "$st" -ne 0 ] && [ "$f" -eq 0 ] && f=1
	new=$(dmesg | tail -n +$((dmesg_seen + 1)))
	dmesg_seen=$(dmesg | wc -l)
	if echo "$new" | grep -qE "$MCX_DMESG_BAD"; then
		echo "# $name: kernel log problems:"
		echo "$new" | grep -E -A20 "$MCX_DMESG_BAD" | head -n 60 | sed 's/^/#   /'
		f=$((f + 1))
	fi
	echo "# === $name: exit $st, $p passed, $f failed, $s skipped, $((SECONDS - start)) s"
	total_p=$((total_p + p))
	total_f=$((total_f + f))
	total_s=$((total_s + s))
	[ "$f" -ne 0 ] && failed="$failed $name"
}

echo "# kernel $(uname -r); udmabuf: $([ -c /dev/udmabuf ] && echo yes || echo no); vgem: $([ -d /sys/module/vgem ] && echo yes || echo no)"
for s in $suites; do
	case $s in
	abi)	run_suite abi $BIN/mcxfer_abi ;;
	flows)	run_suite flows $BIN/mcxfer_flows ;;
	mr)	run_suite mr $BIN/mcxfer_mr ;;
	trust)	run_suite trust $BIN/mcxfer_trust ;;
	rmmod)	run_suite rmmod $BIN/mcxfer_rmmod ;;
	stress)	run_suite stress $BIN/mcxfer_stress -d "$STRESS_S" ${MCXFER_STRESS_SEED:+-s "$MCXFER_STRESS_SEED"} ;;
	events)	run_suite events $BIN/mcxfer_events ;;
	# The entry cap races pins with the evictions that make room for them.
	stress-caps) run_suite stress-caps $BIN/mcxfer_stress -d "$(( (STRESS_S + 1) / 2 ))" -e 12 ;;
	# Two processes of two threads each share the calls.
	fuzz)	run_suite fuzz $BIN/mcxfer_fuzz -n "$FUZZ_N" -j 2 -t 2 ${MCXFER_FUZZ_SEED:+-s "$MCXFER_FUZZ_SEED"} ;;
	*)	echo "# unknown suite $s"; total_f=$((total_f + 1)); failed="$failed $s" ;;
	esac
done

# Once every suite is done nothing may keep the module: it must unload
# (an fd, a module reference or a teardown problem left by any suite fails
# the run).  A process that has just exited may still be closing its files:
# give rmmod a few seconds.
unload_check() {
	local err i d new
	if ! mcx_module_loaded; then
		echo "# === unload: mcxfer is not loaded; nothing to unload"
		return
	fi
	echo "# === unload: rmmod mcxfer"
	for i in $(seq 10); do
		err=$(mcx_module_unload 2>&1) && break
		sleep 0.5
	done
	if mcx_module_loaded; then
		echo "# unload: mcxfer cannot be unloaded after the suites: ${err:-rmmod failed}"
		echo "# unload: refcnt $(cat /sys/module/mcxfer/refcnt 2>/dev/null)," \
			"holders: $(ls /sys/module/mcxfer/holders 2>/dev/null | paste -sd' ')"
		for d in /proc/[0-9]*; do
			for i in "$d"/fd/*; do
				[ "$(readlink "$i" 2>/dev/null)" = /dev/mcxfer ] || continue
				echo "# unload: /dev/mcxfer is open in pid ${d#/proc/} ($(cat "$d/comm" 2>/dev/null))"
				break
			done
		done
		total_f=$((total_f + 1))
		failed="$failed unload"
		return
	fi
	new=$(dmesg | tail -n +$((dmesg_seen + 1)))
	dmesg_seen=$(dmesg | wc -l)
	if echo "$new" | grep -qE "$MCX_DMESG_BAD"; then
		echo "# unload: kernel log problems:"
		echo "$new" | grep -E -A20 "$MCX_DMESG_BAD" | head -n 60 | sed 's/^/#   /'
		total_f=$((total_f + 1))
		failed="$failed unload"
		return
	fi
	echo "# === unload: ok"
	total_p=$((total_p + 1))
}
unload_check
echo "# selftests on $(uname -r)${failed:+; failed:$failed}"
echo "$total_p passed, $total_f failed, $total_s skipped"
[ "$total_f" -eq 0 ]
