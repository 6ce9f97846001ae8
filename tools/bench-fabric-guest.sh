#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Guest half of tools/bench-fabric.sh, run in both guests of
# tests/vm/run-pair.sh --links 2.  Guest B (MCXFER_HOST_INDEX 1) serves two
# mcxfer-bench xfer targets on rxe0: one on the verbs transport (port
# 7490), one on the fabric transport with "verbs;ofi_rxm" (7491).  Guest A
# runs, on rail 0:
#   - writes and reads of 64 KiB and 1 MiB against each, alternating which
#     transport goes first from one run to the next;
#   - mcxfer-bench first against each (first-request latency, cold vs
#     after mcx_peer_warmup), which also stops the targets;
#   - alone in guest A: 1 MiB writes and reads over "tcp;ofi_rxm" on
#     loopback, and over the verbs transport from rxe0 to rxe0.
#
# Settings from the environment (the host script sets them): BENCH_DURATION
# (s), BENCH_DEPTH (requests in flight), BENCH_REPEAT (runs of each
# transport per test), BENCH_ROUNDS (rounds of each kind for first).
# A writes $MCXFER_RESULTS/figures.txt: "TEST TRANSPORT BYTES_PER_S
# OPS_PER_S" per bandwidth run, "first TRANSPORT COLD_FIRST_MS
# WARM_FIRST_MS COLD_TOTAL_MS WARM_TOTAL_MS WARMUP_MS" per first run, and
# "set key=value" lines; raw outputs beside it.
#
# FI_UNIVERSE_SIZE=64: see tests/integration/fabric-guest.sh (ofi_rxm's
# verbs CQ would exceed soft-RoCE's 32767 entries at the default 256).

set -u
# shellcheck source=tests/vm/guest-lib.sh
. tests/vm/guest-lib.sh

dur=${BENCH_DURATION:-4}
depth=${BENCH_DEPTH:-16}
repeat=${BENCH_REPEAT:-3}
rounds=${BENCH_ROUNDS:-5}
out=$MCXFER_RESULTS
bench=build/tools/mcxfer-bench
export FI_UNIVERSE_SIZE=${FI_UNIVERSE_SIZE:-64}
export MCX_REGISTRY=off
prov='verbs;ofi_rxm'
vport=7490
fport=7491

# transport name -> mcxfer-bench options
topts() {
	case $1 in
	verbs | verbs_lo) echo "--transport verbs" ;;
	fabric) echo "--transport fabric --provider $prov" ;;
	tcp_lo) echo "--transport fabric --provider tcp;ofi_rxm" ;;
	esac
}

if [ "$MCXFER_HOST_INDEX" = 1 ]; then
	"$bench" xfer --mode target --listen 0.0.0.0:$vport --devices rxe0 --transport verbs \
		--buffer-size 64M --max-wait 1200 >"$out/target-verbs.txt" 2>&1 &
	tv=$!
	"$bench" xfer --mode target --listen 0.0.0.0:$fport --devices rxe0 --transport fabric \
		--provider "$prov" --buffer-size 64M --max-wait 1200 >"$out/target-fabric.txt" 2>&1 &
	tf=$!
	wait "$tv"
	sv=$?
	wait "$tf"
	sf=$?
	cat "$out/target-verbs.txt" "$out/target-fabric.txt"
	[ $sv = 0 ] && [ $sf = 0 ]
	exit
fi

peer=$(mcx_peer_addr 0)
: >"$out/figures.txt"
for kv in "kernel=$MCXFER_KVER" "duration=$dur" "depth=$depth" "repeat=$repeat" "rounds=$rounds"; do
	echo "set $kv" >>"$out/figures.txt"
done
status=0

# One initiator run: xfer_run NAME TRANSPORT OP SIZE PEER DEVICES
xfer_run() {
	local name=$1 tr=$2 op=$3 size=$4 addr=$5 devs=$6 f
	f=$out/$name-$tr-$r
	# shellcheck disable=SC2046 # topts gives words
	if mcx_retry 60 "$bench" xfer --mode initiator --peer "$addr" --devices "$devs" \
		$(topts "$tr") --op "$op" --block-size "$size" --batch "$depth" \
		--duration "$dur" --op-latency off --json --keep-target >"$f.json" 2>"$f.err"; then
		sed -nE 's/.*"bytes_per_s": ([0-9.]+).*"ops_per_s": ([0-9.]+).*/\1 \2/p' "$f.json" |
			awk -v n="$name" -v t="$tr" '{ printf "%s %s %s %s\n", n, t, $1, $2 }' \
			>>"$out/figures.txt"
	else
		echo "bench-fabric-guest: $name on $tr failed:" >&2
		cat "$f.err" >&2
		status=1
	fi
}

tests=("write_64k write 65536" "write_1m write 1048576" "read_64k read 65536" "read_1m read 1048576")
for t in "${tests[@]}"; do
	read -r name op size <<<"$t"
	for ((r = 1; r <= repeat; r++)); do
		if [ $((r % 2)) = 1 ]; then order="verbs fabric"; else order="fabric verbs"; fi
		for tr in $order; do
			if [ "$tr" = verbs ]; then port=$vport; else port=$fport; fi
			xfer_run "$name" "$tr" "$op" "$size" "$peer:$port" rxe0
		done
	done
done

# First-request latency; the last run against each target stops it.
for tr in fabric verbs; do
	if [ "$tr" = verbs ]; then port=$vport; else port=$fport; fi
	f=$out/first-$tr
	# shellcheck disable=SC2046 # topts gives words
	if "$bench" first --peer "$peer:$port" --devices rxe0 $(topts "$tr") --rounds "$rounds" \
		--stop-target --json >"$f.json" 2>"$f.err"; then
		sed -nE 's/.*"cold_first": ([0-9.]+), "cold_open_first": ([0-9.]+).*"warm_warmup": ([0-9.]+), "warm_first": ([0-9.]+), "warm_open_warmup_first": ([0-9.]+).*/\1 \4 \2 \5 \3/p' \
			"$f.json" | awk -v t="$tr" '{ print "first", t, $0 }' >>"$out/figures.txt"
	else
		echo "bench-fabric-guest: first on $tr failed:" >&2
		cat "$f.err" >&2
		status=1
	fi
done

# In this guest alone: tcp;ofi_rxm on loopback vs verbs rxe0 -> rxe0.
self=$(mcx_local_addr 0)
# shellcheck disable=SC2046 # topts gives words
"$bench" xfer --mode target --listen 127.0.0.1:7495 --devices lo $(topts tcp_lo) \
	--buffer-size 64M --max-wait 600 >"$out/target-tcp_lo.txt" 2>&1 &
tl=$!
"$bench" xfer --mode target --listen "$self:7496" --devices rxe0 --transport verbs \
	--buffer-size 64M --max-wait 600 >"$out/target-verbs_lo.txt" 2>&1 &
tv=$!
for t in "write_1m write 1048576" "read_1m read 1048576"; do
	read -r name op size <<<"$t"
	for ((r = 1; r <= repeat; r++)); do
		xfer_run "loop_$name" tcp_lo "$op" "$size" 127.0.0.1:7495 lo
		xfer_run "loop_$name" verbs_lo "$op" "$size" "$self:7496" rxe0
	done
done
kill "$tl" "$tv" 2>/dev/null
wait "$tl" "$tv" 2>/dev/null
cat "$out/figures.txt"
exit $status
