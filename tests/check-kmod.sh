#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Static checks of the kernel side: checkpatch --strict on the module and the
# uapi header, and for every installed Debian kernel series (6.1, 6.12) a W=1
# build that must be warning-free and a sparse (C=1) run that must be silent.
set -u
. "$(dirname "$0")/lib.sh"
cd "$MCX_TOP"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

cp=$(mcx_checkpatch)
files=$(ls kmod/*.c kmod/*.h kmod/tests/*.c include/uapi/linux/mcxfer.h 2>/dev/null)
if [ -n "$cp" ]; then
	perl "$cp" --strict --no-tree --terse --show-types -f $files >"$out/cp" 2>&1
	cat "$out/cp"
	! grep -qE 'ERROR:|WARNING:|CHECK:' "$out/cp"
	mcx_result "checkpatch --strict" $?
else
	mcx_result "checkpatch --strict (linux-source-6.1 missing)" 1
fi

for series in 6.1 6.12; do
	kver=$(mcx_kver_of "$series")
	if [ -z "$kver" ]; then
		echo "no linux-headers for $series installed"
		mcx_result "build on $series" 1
		continue
	fi
	make -s -C kmod KVER="$kver" clean >/dev/null 2>&1
	make -C kmod KVER="$kver" W=1 >"$out/w1" 2>&1
	st=$?
	if [ $st -ne 0 ] || grep -qiE 'warning:|error:' "$out/w1"; then
		cat "$out/w1"; st=1
	fi
	mcx_result "W=1 build, no warnings, $kver" $st

	make -s -C kmod KVER="$kver" clean >/dev/null 2>&1
	make -C kmod KVER="$kver" C=1 >"$out/sparse" 2>&1
	st=$?
	# sparse reports as "file:line:col: warning|error: ..."
	if [ $st -ne 0 ] || grep -qE '^[^ ]+:[0-9]+:[0-9]+: (warning|error):' "$out/sparse"; then
		cat "$out/sparse"; st=1
	fi
	mcx_result "sparse (C=1) clean, $kver" $st
done

mcx_summary
