#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# `mcxfer-bench startup` on the VM rig: one 6.12 guest with two soft-RoCE
# devices (tests/vm/run-pair.sh --links 2; guest B only lends the links)
# registers SIZE bytes of named memory in a cold process and opens it in
# warm ones, for each SIZE, once with process 1 exiting and once with it
# SIGKILLed.  Prints mcxfer-bench's tables; its JSON goes to the results
# dir.
#
#   tools/bench-startup.sh [--sizes "1G 4G"] [--procs K] [--mem MB] [--timeout SEC]
#       [--results DIR]
#
# Defaults: sizes 1G and 4G, 4 processes, guest memory 6144 MB (the
# largest size has to fit in the guest), timeout 1500 s.
#
# Exit status: 0 when every run completed, 1 otherwise, 2 bad usage.
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../tests/lib.sh"
cd "$MCX_TOP" || exit 2

sizes="1G 4G"
procs=4
mem=6144
timeout=1500
results=
while [ $# -gt 0 ]; do
	case $1 in
	--sizes) sizes=${2:?--sizes needs a list}; shift 2 ;;
	--procs) procs=${2:?--procs needs a number}; shift 2 ;;
	--mem) mem=${2:?--mem needs MB}; shift 2 ;;
	--timeout) timeout=${2:?--timeout needs seconds}; shift 2 ;;
	--results) results=${2:?--results needs a directory}; shift 2 ;;
	-h | --help) sed -n '4,17s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "bench-startup.sh: unknown option '$1'" >&2; exit 2 ;;
	esac
done
[ -n "$results" ] || results=$MCX_TOP/build/vm/results/startup-$(date +%Y%m%d-%H%M%S)-$$

make -s -j2 all || exit 1
# Guest A: udmabuf refuses buffers over size_limit_mb (64 by default).
guest="echo 65536 > /sys/module/udmabuf/parameters/size_limit_mb && rc=0 &&
for s in $sizes; do for k in '' --kill; do
  echo \"== startup \$s \${k:-(process 1 exits)}\";
  build/tools/mcxfer-bench startup --size \$s --devices rxe0,rxe1 --procs $procs \$k \
    --json \$MCXFER_RESULTS/startup-\$s\${k:+-kill}.json || rc=1;
done; done; exit \$rc"
# The module's default per-user cap on pinned bytes is below 4 GiB in a
# guest of this size: lift the caps, the benchmark is about time.
tests/vm/run-pair.sh --kernel 6.12 --links 2 --mem "$mem" --timeout "$timeout" \
	--module-params "max_pinned_bytes=0 user_max_pinned_bytes=0" \
	--results "$results" --quiet --a "$guest" --b "true"
rc=$?
grep -h -v '^\[' "$results/a/console.log" 2>/dev/null |
	sed -n '/^== startup/,/^mcxfer-vm/p' | grep -v '^mcxfer-vm'
echo "bench-startup.sh: results and JSON in $results/a"
[ $rc = 0 ] || exit 1
