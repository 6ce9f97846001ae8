#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# The Python package between two rig guests: install it into build/py/venv
# (tests/python/venv.sh), boot tests/vm/run-pair.sh --links 2 and run
# tests/integration/py-guest.sh in both.  Prints each guest's lines and the
# total as the last line, "N passed, N failed, N skipped".
#
#   tests/python/run-vm.sh [--kernel 6.1|6.12] [--timeout SEC]
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
cd "$MCX_TOP" || exit 2

kernel=6.12
timeout=480
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) kernel=${2:?--kernel needs 6.1 or 6.12}; shift 2 ;;
	--timeout) timeout=${2:?--timeout needs seconds}; shift 2 ;;
	-h | --help) sed -n '3,9s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "run-vm.sh: unknown option '$1'" >&2; exit 2 ;;
	esac
done
if ! tests/python/venv.sh >/dev/null || ! make -s -C tools -j2 >/dev/null; then
	echo "python run-vm: building the package or the tools failed"
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
fi
kver=$(mcx_kver_of "$kernel")
if [ -z "$kver" ] || ! make -s -C kmod KVER="$kver" -j2 >/dev/null; then
	echo "python run-vm: no headers for $kernel, or building mcxfer.ko failed"
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
fi
results=$MCX_TOP/build/vm/results/py-$kernel-$(date +%Y%m%d-%H%M%S)-$$
tests/vm/run-pair.sh --links 2 --kernel "$kernel" --timeout "$timeout" --quiet \
	--results "$results" --a tests/integration/py-guest.sh --b tests/integration/py-guest.sh
st=$?
p=0 f=0 s=0
for side in a b; do
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$results/$side/py-test.log" 2>/dev/null | tail -n1)
	echo "guest $side: ${line:-no result}"
	if [ -z "$line" ]; then
		f=$((f + 1))
		continue
	fi
	read -r a b c < <(echo "$line" | sed -E 's/^([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped.*/\1 \2 \3/')
	p=$((p + a)) f=$((f + b)) s=$((s + c))
done
[ "$st" -ne 0 ] && [ "$f" -eq 0 ] && { echo "rig status $st (results in $results)"; f=1; }
echo "$p passed, $f failed, $s skipped"
[ "$f" -eq 0 ]
