#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# In a rig guest (tests/vm/run.sh -- tests/python/overhead-guest.sh): the
# Python package's cost per request against the C API on the same loop
# (tests/python/overhead.{c,py}: one batch of N 4 KiB writes to a
# same-process peer, add/submit/wait), for N 1 and 1024, through the
# library's memcpy short cut (the API's own cost) and through rxe0.  The
# host prepares build/py (tests/python/overhead.sh); lines go to stdout and
# $MCXFER_RESULTS/overhead.txt.
set -u
py=build/py/venv/bin/python
bin=build/py/overhead
out=${MCXFER_RESULTS:-/tmp}/overhead.txt
: >"$out"
export MCX_IB_DEVICES=rxe0 MCX_LOG_LEVEL=error
st=0
for memcpy in 1 0; do
	for n in 1 1024; do
		if [ "$n" = 1 ]; then rounds=${OVH_ROUNDS_1:-2000}; else rounds=${OVH_ROUNDS_1024:-40}; fi
		[ "$memcpy" = 0 ] && rounds=$((rounds / 4))
		for run in c each many; do
			case $run in
			c) line=$("$bin" "$n" 4096 "$rounds" "$memcpy") ;;
			*) line=$("$py" tests/python/overhead.py "$n" 4096 "$rounds" "$memcpy" "$run") ;;
			esac || st=1
			echo "memcpy=$memcpy $line" | tee -a "$out"
		done
	done
done
exit $st
