#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Inside a guest of the debug kernel (tests/vm/run.sh --kernel debug): ask
# kmemleak for leaks and fail on any that mcxfer made.
#
#   tests/vm/kmemleak-scan.sh [--keep-module]
#
# Unloads mcxfer first (unless --keep-module), so that what its exit path
# forgets to free counts too, then scans twice with a pause (an object is
# reported once it has been unreferenced for a whole scan) and reads the
# report.  A leak is mcxfer's when its allocation backtrace has a frame in
# mcxfer ("[mcxfer]"), or one that no symbol resolves: everything else in
# the debug kernel is built in, so such a frame is code of an unloaded
# mcxfer.ko.  (The name alone is not enough: the selftest programs are
# called mcxfer_* and show as the allocating "comm" of whatever they make
# the kernel allocate.)
# Those reports are printed (and kept in $MCXFER_RESULTS/kmemleak.txt with
# the rest).  The last line is "kmemleak: N leaks from mcxfer (M
# unreferenced objects in all)"; the exit status is 1 when N > 0 or the
# scan could not be done.
#
# Environment: MCXFER_KMEMLEAK_PAUSE (seconds between the scans, default 5).

set -u
KL=/sys/kernel/debug/kmemleak
pause=${MCXFER_KMEMLEAK_PAUSE:-5}
keep=0
[ "${1:-}" = --keep-module ] && keep=1
out=${MCXFER_RESULTS:-/tmp}/kmemleak.txt

fail() {
	echo "kmemleak: $*"
	exit 1
}

[ -e "$KL" ] || fail "$KL does not exist (not the debug kernel, or debugfs not mounted)"
if [ $keep = 0 ] && grep -q '^mcxfer ' /proc/modules; then
	# Symbolized while the module is still there, for the printout.
	echo scan >"$KL" 2>/dev/null && cat "$KL" >"$out.loaded" 2>/dev/null
	rmmod mcxfer || fail "cannot unload mcxfer before the scan"
fi
start=$SECONDS
echo scan >"$KL" || fail "the first scan failed (kmemleak disabled? see dmesg)"
sleep "$pause"
echo scan >"$KL" || fail "the second scan failed (kmemleak disabled? see dmesg)"
cat "$KL" >"$out" || fail "cannot read $KL"

# One record per "unreferenced object" paragraph; mcxfer's are printed,
# with the symbolized twin from before the unload where there is one.
awk -v loaded="$out.loaded" '
function flush() {
	if (rec == "")
		return
	all++
	if (rec ~ /\[mcxfer\]\n/ || rec ~ /\] 0x[0-9a-f]+\n/) {
		ours++
		printf "%s", (addr in sym) ? sym[addr] : rec
	}
	rec = ""
}
BEGIN {
	while ((getline line < loaded) > 0) {
		if (line ~ /^unreferenced object/) {
			split(line, w, " ")
			cur = w[3]
			sym[cur] = ""
		}
		if (cur != "")
			sym[cur] = sym[cur] line "\n"
	}
}
/^unreferenced object/ { flush(); addr = $3 }
{ rec = rec $0 "\n" }
END {
	flush()
	printf "kmemleak: %d leaks from mcxfer (%d unreferenced objects in all; scans took %d s)\n", ours, all, '"$((SECONDS - start))"'
	exit ours > 0
}' "$out"
