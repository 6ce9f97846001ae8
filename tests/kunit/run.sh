#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Runs the mcxfer KUnit tests (kmod/tests/) in the rig's debug kernel:
# Debian's linux-source 6.1 with KUnit, KASAN, lockdep, kmemleak and UBSAN
# (tests/vm/debug-kernel.sh, which the selftests' debug lane boots too, so
# that one kernel build serves both).  mcxfer.ko is built against it with
# the tests linked in (CONFIG_MCXFER_KUNIT_TEST) and loaded in a guest
# (tests/vm/run.sh --kernel debug); KUnit runs the module's suites as it
# comes in and prints KTAP to the kernel log, which the tree's own kunit.py
# parses.  UML cannot build dma-buf or ib_core, hence QEMU.
#
#   tests/kunit/run.sh [--timeout SEC] [--jobs N] [--results DIR] [--rebuild]
#                      [FILTER_GLOB]
#
# --timeout bounds the guest (default 900 s); --jobs the kernel and module
# builds (default: the CPU count); --rebuild rebuilds the debug kernel from
# scratch.  The kernel is cached (see debug-kernel.sh); only the first run
# builds it.  KUnit on 6.1 always runs every suite of a module, so
# FILTER_GLOB ("suite" or "suite.test" globs, default "mcxfer*") selects
# which results are counted, not which tests run.
#
# The results dir (default build/kunit/) keeps kunit.ktap (the parsed
# part of the log), kunit.json, kunit.out, kmemleak.txt and the rig's files
# (console.log, dmesg.txt: the whole kernel log).  The run fails on a
# build error, on any failed or crashed test, when no test passed or failed
# (none ran, or all were skipped), on a WARNING, BUG, lockdep, KASAN or
# UBSAN report in the kernel log, and on a kmemleak report of memory that
# mcxfer leaked (tests/vm/kmemleak-scan.sh, after the module is unloaded).
# The last line is "N passed, N failed, N skipped"; a run that fails
# without a failed test case counts as one failure there.
#
# Environment: MCXFER_DEBUG_CACHE, MCXFER_DEBUG_SOURCE (debug-kernel.sh).
# Debian packages it needs: linux-source-6.1 qemu-system-x86 python3 gcc
# make flex bison bc libelf-dev libssl-dev xz-utils kmod cpio
# busybox-static binutils util-linux.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
timeout=900
jobs=$(nproc 2>/dev/null || echo 2)
results=
rebuild=
filter='mcxfer*'

usage() {
	sed -n '/^#   tests/,/^#  *\[FILTER_GLOB\]/s/^# \{0,3\}//p' "$0" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--timeout) timeout=${2:?--timeout needs seconds}; shift 2 ;;
	--jobs) jobs=${2:?--jobs needs a number}; shift 2 ;;
	--results) results=${2:?--results needs a directory}; shift 2 ;;
	--rebuild) rebuild=--rebuild; shift ;;
	-h|--help) usage ;;
	-*) echo "run.sh: unknown option $1" >&2; usage ;;
	*) filter=$1; shift ;;
	esac
done

case $timeout in ''|*[!0-9]*) echo "run.sh: bad --timeout '$timeout'" >&2; exit 2 ;; esac
case $jobs in ''|*[!0-9]*|0) echo "run.sh: bad --jobs '$jobs'" >&2; exit 2 ;; esac

for tool in python3 qemu-system-x86_64 make gcc readelf; do
	if ! command -v "$tool" >/dev/null; then
		echo "run.sh: $tool is missing (the packages are listed at the top of $0)" >&2
		exit 2
	fi
done

fail_run() {
	echo "run.sh: $*" >&2
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
}

[ -n "$results" ] || results=$repo/build/kunit
mkdir -p "$results" || fail_run "cannot create $results"
results=$(cd "$results" && pwd)
rm -f "$results"/kunit.ktap "$results"/kunit.json "$results"/kunit.out \
	"$results"/kunit-dmesg.txt "$results"/kmemleak.txt

start=$(date +%s)
release=$("$repo/tests/vm/debug-kernel.sh" --jobs "$jobs" $rebuild | tail -n1)
[ -n "$release" ] || fail_run "building the debug kernel failed"
ko=$("$repo/tests/vm/debug-kernel.sh" --module --kunit --jobs "$jobs" | tail -n1)
[ -f "$ko" ] || fail_run "building mcxfer.ko with its KUnit tests failed"
kunit_py=$("$repo/tests/vm/debug-kernel.sh" --print tree)/tools/testing/kunit/kunit.py
[ -f "$kunit_py" ] || fail_run "no $kunit_py"

# Suites the module holds (pointers in .kunit_test_suites): a suite that
# never reports, because the kernel died in it, is then a crash.
size=$(readelf -SW "$ko" |
	awk '{ for (i = 1; i < NF; i++) if ($i == ".kunit_test_suites") print $(i + 4) }')
suites=$(( 16#${size:-0} / 8 ))
[ "$suites" -gt 0 ] || fail_run "$ko has no KUnit suites"

# In the guest: load the module (KUnit runs the suites before its init),
# keep the log from a marker on, unload it and look for leaks.
# shellcheck disable=SC2016 # expanded in the guest
guest='
echo "mcxfer-kunit: loading $1" >/dev/kmsg
insmod "$1"; st=$?
dmesg -t | sed -n "/^mcxfer-kunit: loading/,\$p" >"$MCXFER_RESULTS/kunit-dmesg.txt"
[ $st = 0 ] || echo "mcxfer-kunit: insmod failed with status $st"
tests/vm/kmemleak-scan.sh || st=1
exit $st'

echo "run.sh: $suites suites in $ko; booting $release" >&2
"$repo/tests/vm/run.sh" --kernel debug --no-module --timeout "$timeout" \
	--results "$results" -- bash -c "$guest" guest "$ko" 2>&1 | tee "$results/kunit.out"
rig_rc=${PIPESTATUS[0]}
echo "run.sh: the guest exited $rig_rc after $(( $(date +%s) - start )) s" >&2

[ -s "$results/kunit-dmesg.txt" ] || fail_run "the guest left no kernel log of the tests (rig status $rig_rc)"

# A module's suites print no top-level KTAP header: add one.
{
	echo "KTAP version 1"
	echo "1..$suites"
	sed '1d' "$results/kunit-dmesg.txt"
} >"$results/kunit.ktap"
python3 "$kunit_py" parse --json="$results/kunit.json" "$results/kunit.ktap" \
	2>&1 | tee -a "$results/kunit.out"
[ -f "$results/kunit.json" ] || fail_run "kunit.py could not parse $results/kunit.ktap"

read -r passed failed skipped others < <(python3 - "$results/kunit.json" "$filter" <<'PY'
import fnmatch, json, sys
glob = sys.argv[2]
suite_glob, _, test_glob = glob.partition(".")
counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
others = 0
def walk(group, suite):
    global others
    name = group.get("name", "")
    # Top level is the run; its sub_groups are the suites.
    if suite is None and name and fnmatch.fnmatchcase(name, suite_glob):
        suite = name
    for case in group.get("test_cases", []):
        # kunit.py puts a nameless ERROR case where a result never came
        # (the kernel died in a suite, or a suite never started).
        lost = not case["name"] and case["status"] not in ("PASS", "SKIP")
        if not lost and (suite is None or
                         (test_glob and not fnmatch.fnmatchcase(case["name"], test_glob))):
            others += 1
            continue
        st = case["status"]
        counts["SKIP" if st == "SKIP" else "PASS" if st == "PASS" else "FAIL"] += 1
    for sub in group.get("sub_groups", []):
        walk(sub, suite)
walk(json.load(open(sys.argv[1])), None)
print(counts["PASS"], counts["FAIL"], counts["SKIP"], others)
PY
)

status=0
if [ "$rig_rc" -ne 0 ]; then
	# 123: the kernel log shows problems (run.sh printed them); else the
	# module did not load, a test crashed the guest or the rig failed.
	echo "run.sh: the rig returned $rig_rc (results: $results)" >&2
	status=1
fi
if [ "$others" -gt 0 ]; then
	echo "run.sh: $others test cases outside '$filter' ran and are not counted" >&2
fi
if [ $((passed + failed)) -eq 0 ]; then
	echo "run.sh: no test passed or failed (filter '$filter'; $skipped skipped)" >&2
	status=1
fi
if [ "$failed" -ne 0 ]; then
	status=1
fi
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
	# Count the run itself as a failure so the summary never reads clean.
	failed=1
fi
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
exit $status
