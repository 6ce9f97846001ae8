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

# One client run: retried while the server is not listening yet (it may
# still be booting), not after a transfer error.
client_once() {
	local out=$1 end=$((SECONDS + 150))
	shift
	while :; do
		timeout 120 ib_write_bw "$@" >"$out" 2>&1 && return 0
		grep -q "Couldn't connect" "$out" || return 1
		[ $SECONDS -lt $end ] || return 1
		sleep 1
	done
}

# Soft-RoCE under TCG on an overloaded host occasionally fails a transfer
# (a NAK after long scheduling stalls), so each side gets a second attempt
# per rail; the retry is reported, and two failures fail the rail.
for ((r = 0; r < MCXFER_LINKS; r++)); do
	dev=rxe$r
	gid=$(mcx_gid_index "$dev") || exit 1
	port=$((18515 + r))
	args=(-d "$dev" -x "$gid" -s "$size" -n "$iters" -p "$port" -F)
	if [ "$MCXFER_HOST_INDEX" = 1 ]; then
		echo "selftest-bw: rail $r: serving on $dev (GID index $gid), port $port"
		ok=0
		for attempt in 1 2; do
			if timeout 300 ib_write_bw "${args[@]}" >"$MCXFER_RESULTS/server-rail$r.txt" 2>&1; then
				ok=1
				break
			fi
			echo "selftest-bw: rail $r: server attempt $attempt failed"
		done
		[ $ok = 1 ] || { echo "selftest-bw: server on $dev failed" >&2; exit 1; }
		continue
	fi
	peer=$(mcx_peer_addr "$r")
	out="$MCXFER_RESULTS/ib_write_bw-rail$r.txt"
	echo "selftest-bw: rail $r: $dev (GID index $gid) -> $peer, $iters writes of $size bytes"
	if ! client_once "$out" "${args[@]}" "$peer"; then
		echo "selftest-bw: rail $r: first attempt failed, retrying:"
		grep -vE '^ |^-|^\*' "$out" | head -n 5 | sed 's/^/    /'
		echo "retried" >"$MCXFER_RESULTS/bw-rail$r.retried"
		sleep 2
		if ! client_once "$out" "${args[@]}" "$peer"; then
			cat "$out" >&2
			echo "selftest-bw: client on $dev failed twice" >&2
			exit 1
		fi
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
