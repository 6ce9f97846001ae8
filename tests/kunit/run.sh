#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Runs the mcxfer KUnit tests (kmod/tests/) through the kernel's own
# tools/testing/kunit/kunit.py on the Debian linux-source 6.1 tree, under
# QEMU (x86_64, TCG).  UML cannot build dma-buf or ib_core, hence QEMU.
#
#   tests/kunit/run.sh [--timeout SEC] [--jobs N] [--results DIR] [--rebuild]
#                      [FILTER_GLOB]
#
# The extracted tree and the build directory live in a cache
# (${MCXFER_KUNIT_CACHE:-$HOME/.cache/mcxfer-kunit}) and are reused, so
# only the first run builds a whole kernel; later runs rebuild what
# changed.  kmod/ and the uapi header are linked into the tree (as
# drivers/misc/mcxfer and include/uapi/linux/mcxfer.h), so the tree always
# builds the working copy that runs this script.
#
# The run fails on a build error, on any failed or crashed test, when no
# test ran, and on a lockdep report, WARNING, BUG, Oops or debug-objects
# complaint in the kernel log (the log is kept as test.log in the results
# directory).  The last line is "N passed, N failed, N skipped"; a run that
# fails without a failed test case (build error, splat, no test) counts as
# one failure there.
#
# Environment: MCXFER_KUNIT_CACHE (see above), MCXFER_KUNIT_SOURCE (the
# kernel source tarball, default /usr/src/linux-source-6.1.tar.xz).
#
# Debian packages it needs: linux-source-6.1 qemu-system-x86 python3 gcc
# make flex bison bc libelf-dev libssl-dev xz-utils util-linux.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cache=${MCXFER_KUNIT_CACHE:-$HOME/.cache/mcxfer-kunit}
tarball=${MCXFER_KUNIT_SOURCE:-/usr/src/linux-source-6.1.tar.xz}
timeout=600
jobs=2
results=
rebuild=0
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
	--rebuild) rebuild=1; shift ;;
	-h|--help) usage ;;
	-*) echo "run.sh: unknown option $1" >&2; usage ;;
	*) filter=$1; shift ;;
	esac
done

case $timeout in ''|*[!0-9]*) echo "run.sh: bad --timeout '$timeout'" >&2; exit 2 ;; esac
case $jobs in ''|*[!0-9]*|0) echo "run.sh: bad --jobs '$jobs'" >&2; exit 2 ;; esac

for tool in python3 qemu-system-x86_64 make gcc flex bison bc tar xz; do
	if ! command -v "$tool" >/dev/null; then
		echo "run.sh: $tool is missing (the packages are listed at the top of $0)" >&2
		exit 2
	fi
done
if [ ! -r "$tarball" ]; then
	echo "run.sh: no kernel source at $tarball (apt-get install linux-source-6.1)" >&2
	exit 2
fi

mkdir -p "$cache"
# One run at a time per cache: the tree and the build dir are shared.
exec 9>"$cache/lock"
if ! flock -n 9; then
	echo "run.sh: waiting for another run using $cache" >&2
	flock 9
fi

tree_name=$(basename "$tarball" .tar.xz)
tree=$cache/$tree_name
build=$cache/build-x86_64
[ -n "$results" ] || results=$cache/results
mkdir -p "$results"
results=$(cd "$results" && pwd)

if [ "$rebuild" = 1 ]; then
	rm -rf "$build"
fi

# Extract once.  The marker is written last, so an interrupted extraction
# is redone instead of building a half tree.
if [ ! -e "$tree/.mcxfer-extracted" ]; then
	echo "run.sh: extracting $tarball into $cache" >&2
	rm -rf "$tree" "$cache/extract.tmp"
	mkdir "$cache/extract.tmp"
	tar -xf "$tarball" -C "$cache/extract.tmp"
	mv "$cache/extract.tmp/$tree_name" "$tree"
	rmdir "$cache/extract.tmp"
	touch "$tree/.mcxfer-extracted"
fi

# Hook mcxfer into drivers/misc.  Links, not copies: the build sees this
# working copy, and make's timestamps keep the rebuild incremental.
link() {
	local target=$1 name=$2
	if [ -L "$name" ] || [ ! -e "$name" ]; then
		ln -sfn "$target" "$name"
	else
		echo "run.sh: $name exists and is not a link; remove it" >&2
		exit 2
	fi
}
link "$repo/kmod" "$tree/drivers/misc/mcxfer"
link "$repo/include/uapi/linux/mcxfer.h" "$tree/include/uapi/linux/mcxfer.h"
if ! grep -q 'drivers/misc/mcxfer/Kconfig' "$tree/drivers/misc/Kconfig"; then
	# Before the closing endmenu of "Misc devices" (the file's last line).
	python3 - "$tree/drivers/misc/Kconfig" <<'PY'
import sys
path = sys.argv[1]
lines = open(path).read().rstrip("\n").split("\n")
if lines[-1] != "endmenu":
    sys.exit("drivers/misc/Kconfig does not end with endmenu")
lines.insert(len(lines) - 1, 'source "drivers/misc/mcxfer/Kconfig"')
open(path, "w").write("\n".join(lines) + "\n")
PY
	grep -q 'drivers/misc/mcxfer/Kconfig' "$tree/drivers/misc/Kconfig" || {
		echo "run.sh: could not hook mcxfer into drivers/misc/Kconfig" >&2
		exit 2
	}
fi
if ! grep -q 'CONFIG_MCXFER' "$tree/drivers/misc/Makefile"; then
	# shellcheck disable=SC2016 # a make variable, written as is
	echo 'obj-$(CONFIG_MCXFER)		+= mcxfer/' >>"$tree/drivers/misc/Makefile"
fi

# make trusts timestamps, which lie when the links above now point at
# another checkout (or files were copied with their times kept): rebuild
# mcxfer from scratch whenever its sources differ from the last build.
src_hash=$(
	cd "$repo"
	echo "$repo"
	find kmod include/uapi/linux/mcxfer.h -type f \
		\( -name '*.[ch]' -o -name Kbuild -o -name Kconfig \) -print0 |
		sort -z | xargs -0 sha256sum
)
src_hash=$(echo "$src_hash" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$cache/mcxfer-src.sha256" 2>/dev/null)" != "$src_hash" ]; then
	rm -rf "$build/drivers/misc/mcxfer"
	rm -f "$cache/mcxfer-src.sha256"
fi

json=$results/kunit.json
rm -f "$json" "$results/test.log" "$build/test.log"

kunit_args=(--arch=x86_64 --build_dir "$build"
	    --kunitconfig "$repo/kmod/.kunitconfig"
	    --jobs "$jobs" --timeout "$timeout" "--json=$json")

start=$(date +%s)
set +e
(cd "$tree" && python3 tools/testing/kunit/kunit.py run "$filter" "${kunit_args[@]}") \
	2>&1 | tee "$results/kunit.out"
kunit_rc=${PIPESTATUS[0]}
set -e
end=$(date +%s)
echo "run.sh: kunit.py exited $kunit_rc after $((end - start)) s" >&2

if [ -f "$build/test.log" ]; then
	cp "$build/test.log" "$results/test.log"
fi

if [ -f "$json" ]; then
	echo "$src_hash" >"$cache/mcxfer-src.sha256"
fi

if [ ! -f "$json" ]; then
	# No results: the configuration or the build failed (kunit.py has
	# printed the make command; show the end of the compiler output).
	echo "run.sh: kunit.py produced no results (build or config failure)" >&2
	if grep -q 'error' "$results/kunit.out"; then
		grep -B2 -A8 -m 20 -E 'error:|Error [0-9]+|ERROR:' "$results/kunit.out" |
			tail -n 60 >&2 || true
	fi
	echo "0 passed, 1 failed"
	exit 1
fi

# Kernel log checks: KUnit only sees its own assertions; lockdep, list
# debugging and the object trackers report through the log.
splats=$(grep -E -n \
	-e 'WARNING:|BUG:|Oops|general protection|Kernel panic|Call Trace:' \
	-e 'INFO: (lockdep|possible|task .* blocked)|possible (recursive|circular) locking' \
	-e 'inconsistent lock state|lock inversion|bad unlock balance|held lock freed' \
	-e 'suspicious RCU usage|DEBUG_LOCKS_WARN_ON|ODEBUG:|list_(add|del) corruption' \
	-e 'UBSAN:|KASAN:|refcount_t:|soft lockup|self-detected stall' \
	"$results/test.log" 2>/dev/null || true)

read -r passed failed skipped total < <(python3 - "$json" <<'PY'
import json, sys
counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
def walk(group):
    for case in group.get("test_cases", []):
        st = case["status"]
        counts["SKIP" if st == "SKIP" else "PASS" if st == "PASS" else "FAIL"] += 1
    for sub in group.get("sub_groups", []):
        walk(sub)
walk(json.load(open(sys.argv[1])))
print(counts["PASS"], counts["FAIL"], counts["SKIP"], sum(counts.values()))
PY
)

status=0
if [ -n "$splats" ]; then
	echo "run.sh: the kernel log has warnings or lock reports (full log: $results/test.log):" >&2
	echo "$splats" | head -n 40 >&2
	status=1
fi
if [ "$total" -eq 0 ]; then
	echo "run.sh: no test ran (filter '$filter')" >&2
	status=1
fi
if [ "$failed" -ne 0 ] || [ "$kunit_rc" -ne 0 ]; then
	status=1
fi
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
	# Count the run itself as a failure so the summary never reads clean.
	failed=1
fi
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
exit $status
