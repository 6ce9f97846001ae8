#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# `make test`: every suite, in order of cost.  Each suite prints its own
# "N passed, N failed" line; this script adds them up and exits non-zero if
# any suite failed or could not run.
#
#   MCXFER_TEST_ONLY="unit kmod-checks ..."   run a subset (names below)
set -u
. "$(dirname "$0")/lib.sh"
cd "$MCX_TOP"

suites=${MCXFER_TEST_ONLY:-"unit cuda-build fabric-host tools manpages python etcd deb kmod-checks kunit vm-rig selftests-6.1 selftests-6.12 selftests-debug integration-6.1 integration-6.12 python-rig etcd-rig"}
total_pass=0
total_fail=0
total_skip=0
failed_suites=

run_suite() {		# name command...
	local name=$1 log st p f s t0
	shift
	log=$(mktemp)
	t0=$SECONDS
	echo "=== suite $name: $*"
	"$@" 2>&1 | tee "$log"
	st=${PIPESTATUS[0]}
	# The suite's own closing count line (the last one it printed).
	read -r p f s < <(grep -E '^([A-Za-z-]+: )?[0-9]+ passed, [0-9]+ failed' "$log" |
		tail -n1 | sed -E -e 's/^([A-Za-z-]+: )?([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?.*/\2 \3 \5/')
	s=${s:-0}
	rm -f "$log"
	if [ -z "${p:-}" ]; then
		p=0; f=1
		echo "suite $name printed no result line"
	fi
	[ "$st" -ne 0 ] && [ "$f" -eq 0 ] && f=1
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	total_skip=$((total_skip + s))
	if [ "$st" -ne 0 ] || [ "$f" -ne 0 ]; then
		failed_suites="$failed_suites $name"
	fi
	echo "=== suite $name: exit $st after $((SECONDS - t0)) s"
}

start=$(date +%s)
for s in $suites; do
	case $s in
	unit)		run_suite unit make -s -C tests unit ;;
	# lib/Makefile's CUDA probe: built against cuda.h, or compiled out.
	cuda-build)	run_suite cuda-build tests/build/cuda-build.sh ;;
	# libfabric RDM between engines on this host (tcp;ofi_rxm, shm): no VM.
	fabric-host)	run_suite fabric-host make -s -C tests fabric ;;
	tools)		run_suite tools tests/tools/bench-usage.sh ;;
	manpages)	run_suite manpages tests/tools/manpages.sh ;;
	python)		run_suite python tests/python/run.sh ;;
	etcd)		run_suite etcd tests/etcd/run.sh ;;
	# Debian packages: built, lintian, installed, used, purged (root).
	deb)		run_suite deb tests/deb/run.sh ;;
	kmod-checks)	run_suite kmod-checks tests/check-kmod.sh ;;
	kunit)		run_suite kunit tests/kunit/run.sh ;;
	vm-rig)		run_suite vm-rig tests/vm/selftest.sh ;;
	selftests-6.1)	run_suite selftests-6.1 tests/selftests/run-vm.sh --kernel 6.1 ;;
	selftests-6.12)	run_suite selftests-6.12 tests/selftests/run-vm.sh --kernel 6.12 ;;
	# KASAN, lockdep, kmemleak, UBSAN; the kernel kunit built (or builds).
	selftests-debug) run_suite selftests-debug tests/selftests/run-vm.sh --kernel debug ;;
	integration-6.1)  run_suite integration-6.1 tests/integration/run-vm.sh --kernel 6.1 ;;
	integration-6.12) run_suite integration-6.12 tests/integration/run-vm.sh --kernel 6.12 ;;
	python-rig)	run_suite python-rig tests/python/run-vm.sh --kernel 6.12 ;;
	etcd-rig)	run_suite etcd-rig tests/etcd/rig/run-vm.sh --kernel 6.12 ;;
	*)		echo "unknown suite $s"; total_fail=$((total_fail + 1)); failed_suites="$failed_suites $s" ;;
	esac
done

echo "=== all suites done in $(( $(date +%s) - start )) s${failed_suites:+; failed:$failed_suites}"
echo "total: $total_pass passed, $total_fail failed, $total_skip skipped"
[ -z "$failed_suites" ]
