#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Guest half of the rig's two-host check, run by run-pair.sh in both guests:
# ib_write_bw over every rail, guest B serving and guest A as the client.
#
#   tests/vm/selftest-bw.sh [SIZE_BYTES] [ITERATIONS]     (default 65536, 1000)
#
# A fixed number of iterations rather than -D: the duration mode reported
# 0.00 MB/s on a loaded host, where its timer fires late under TCG.
#
# For each rail r the client writes its average in MB/s to
# $MCXFER_RESULTS/bw-rail<r>; any failure is the exit status.

set -u
# shellcheck source=tests/vm/guest-lib.sh
. tests/vm/guest-lib.sh

size=${1:-65536}
iters=${2:-1000}
for ((r = 0; r < MCXFER_LINKS; r++)); do
	dev=rxe$r
	gid=$(mcx_gid_index "$dev") || exit 1
	port=$((18515 + r))
	args=(-d "$dev" -x "$gid" -s "$size" -n "$iters" -p "$port" -F)
	if [ "$MCXFER_HOST_INDEX" = 1 ]; then
		echo "selftest-bw: rail $r: serving on $dev (GID index $gid), port $port"
		timeout 180 ib_write_bw "${args[@]}" >/dev/null ||
			{ echo "selftest-bw: server on $dev failed" >&2; exit 1; }
		continue
	fi
	peer=$(mcx_peer_addr "$r")
	out="$MCXFER_RESULTS/ib_write_bw-rail$r.txt"
	echo "selftest-bw: rail $r: $dev (GID index $gid) -> $peer, $iters writes of $size bytes"
	# The server in the other guest may still be booting.
	if ! mcx_retry 120 timeout 120 ib_write_bw "${args[@]}" "$peer" >"$out" 2>&1; then
		cat "$out" >&2
		echo "selftest-bw: client on $dev failed" >&2
		exit 1
	fi
	bw=$(awk -v s="$size" '$1 == s && NF >= 5 { print $4 }' "$out")
	if [ -z "$bw" ]; then
		cat "$out" >&2
		echo "selftest-bw: no bandwidth line in the ib_write_bw output" >&2
		exit 1
	fi
	echo "$bw" >"$MCXFER_RESULTS/bw-rail$r"
	echo "selftest-bw: rail $r: ib_write_bw $size bytes: $bw MB/s"
done
