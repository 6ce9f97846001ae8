#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Guest half of tools/bench-vs-perftest.sh, run in both guests of
# tests/vm/run-pair.sh --links 2.  Guest B (MCXFER_HOST_INDEX 1) serves:
# an mcxfer-bench target on rxe0 for the whole run, and one perftest server
# per test.  Guest A runs each test on rail 0 (rxe0 to rxe0) with perftest
# and with mcxfer-bench at the same queue depth, alternating which goes
# first from one run to the next, then
# times registering 1 GiB on rxe0 and rxe1 (mcxfer-bench reg).
#
# Settings come from the environment (the host script sets them):
# BENCH_DURATION (s), BENCH_DEPTH (requests in flight for the bandwidth
# tests), BENCH_MSG_DEPTH (for the 4 KiB message rate), BENCH_THREADS
# (mcxfer-bench threads sharing that depth), BENCH_REG_SIZE, BENCH_REPEAT
# (runs of each tool per test, alternating perftest and mcxfer-bench so
# that a change of the host's load hits both alike).
# A writes $MCXFER_RESULTS/figures.txt: one "TEST TOOL BYTES_PER_S OPS_PER_S
# WIRE_BYTES_PER_S" line per run, plus "reg ..." and "set ..." key=value
# lines; raw outputs beside it.
#
# Two measures per run: what the tool reports, and the bytes that crossed
# eth0 (its netdev counters, sampled every 0.2 s with the same clock for
# both tools) over the intervals in which the link was busy throughout.
# The second does not depend on a tool's own timing: perftest derives time
# from the TSC and the CPU frequency, which an emulated, loaded guest may
# not keep to.

set -u
# shellcheck source=tests/vm/guest-lib.sh
. tests/vm/guest-lib.sh

dur=${BENCH_DURATION:-5}
depth=${BENCH_DEPTH:-16}
mdepth=${BENCH_MSG_DEPTH:-64}
threads=${BENCH_THREADS:-1}
regsize=${BENCH_REG_SIZE:-1G}
repeat=${BENCH_REPEAT:-3}
out=$MCXFER_RESULTS
bench=build/tools/mcxfer-bench
port=7490

# name op bytes depth
tests=(
	"write_64k write 65536 $depth"
	"write_1m write 1048576 $depth"
	"read_64k read 65536 $depth"
	"read_1m read 1048576 $depth"
	"msgrate_4k write 4096 $mdepth"
)

gid=$(mcx_gid_index rxe0) || exit 1
# perftest servers listen on every address; each serves one run and exits.
if [ "$MCXFER_HOST_INDEX" = 1 ]; then
	"$bench" xfer --mode target --listen 0.0.0.0:$port --devices rxe0 \
		--buffer-size 64M --max-wait 900 >"$out/target.txt" 2>&1 &
	target=$!
	i=0
	for t in "${tests[@]}"; do
		read -r name op size q <<<"$t"
		for ((r = 1; r <= repeat; r++)); do
			echo "bench-guest: serving ib_${op}_bw for $name, run $r"
			timeout 300 "ib_${op}_bw" -d rxe0 -x "$gid" -s "$size" -D "$dur" -t "$q" \
				-p $((18600 + i)) -F >"$out/perftest-server-$name-$r.txt" 2>&1 ||
				echo "bench-guest: ib_${op}_bw server for $name failed" >&2
			i=$((i + 1))
		done
	done
	wait "$target"
	st=$?
	cat "$out/target.txt"
	exit $st
fi

# "time tx_bytes rx_bytes" of eth0 every 0.2 s into $1 until killed.
sampler() {
	local tx rx
	while :; do
		read -r tx </sys/class/net/eth0/statistics/tx_bytes
		read -r rx </sys/class/net/eth0/statistics/rx_bytes
		echo "$EPOCHREALTIME $tx $rx"
		sleep 0.2
	done >"$1"
}

# Bytes/s of column $2 (2: sent, 3: received) of sample file $1 between the
# first and the last fully busy interval (> 100 KB/s); 0 if none.
wire_rate() {
	awk -v col="$2" '{ t[NR] = $1; c[NR] = $col }
	END {
		first = 0; last = 0
		for (i = 2; i <= NR; i++)
			if ((c[i] - c[i - 1]) / (t[i] - t[i - 1]) > 100000) {
				if (!first) first = i
				last = i
			}
		# Intervals first and last may be partly idle: leave them out.
		if (last - 1 > first)
			printf "%.1f", (c[last - 1] - c[first]) / (t[last - 1] - t[first])
		else
			printf "0"
	}' "$1"
}

# Run a command with the sampler around it: wire_run SAMPLES CMD...
wire_run() {
	local samples=$1 sp st
	shift
	sampler "$samples" &
	sp=$!
	"$@"
	st=$?
	kill "$sp"
	wait "$sp" 2>/dev/null
	return $st
}

peer=$(mcx_peer_addr 0)
: >"$out/figures.txt"
# What the run used, so that a later summary (--from) reports it.
for kv in "kernel=$MCXFER_KVER" "duration=$dur" "depth=$depth" "msg_depth=$mdepth" "threads=$threads" "repeat=$repeat" \
	"mcx_env=$(env | grep '^MCX_' | tr '\n' ' ' | sed 's/ $//; s/ /;/g')"; do
	echo "set $kv" >>"$out/figures.txt"
done
status=0
i=0
last=$((${#tests[@]} * repeat - 1))
# One perftest run of test $name (r: the run): figures line or status=1.
run_perftest() {
	local pf=$out/perftest-$name-$r.txt col=2 w extra=
	[ "$op" = read ] && col=3
	# At 4 KiB perftest moderates completions (one per 8 KiB by default);
	# -Q 1 asks for a completion per message, as mcxfer-bench gets.
	[ "$size" -le 4096 ] && extra="-Q 1"
	# The server in the other guest may not be up yet.
	# shellcheck disable=SC2086
	if wire_run "$out/wire-perftest-$name-$r.txt" \
		mcx_retry 120 timeout 120 "ib_${op}_bw" -d rxe0 -x "$gid" -s "$size" -D "$dur" \
		-t "$q" $extra -p $((18600 + i)) -F "$peer" >"$pf" 2>&1; then
		# #bytes #iterations BW-peak BW-average[MB/sec] MsgRate[Mpps]:
		# perftest's MB is 2^20 bytes (its 6-decimal Mpps is too coarse
		# at emulated rates, so the rate comes from the bandwidth).
		w=$(wire_rate "$out/wire-perftest-$name-$r.txt" $col)
		awk -v s="$size" -v n="$name" -v w="$w" \
			'$1 == s && NF >= 5 { b = $4 * 1048576; printf "%s perftest %.1f %.1f %s\n", n, b, b / s, w }' \
			"$pf" >>"$out/figures.txt"
	else
		echo "bench-guest: ib_${op}_bw $name failed:" >&2
		cat "$pf" >&2
		status=1
	fi
}

# One mcxfer-bench run of test $name at the same depth in flight.
run_mcxfer() {
	local th=$threads keep=--keep-target mf=$out/mcxfer-$name-$r.json col=2 w
	[ "$op" = read ] && col=3
	[ $((q % th)) = 0 ] || th=1
	[ "$i" = "$last" ] && keep=
	# shellcheck disable=SC2086
	if wire_run "$out/wire-mcxfer-$name-$r.txt" \
		mcx_retry 60 "$bench" xfer --mode initiator --peer "$peer:$port" --devices rxe0 \
		--op "$op" --block-size "$size" --batch $((q / th)) --threads "$th" \
		--duration "$dur" --op-latency off --json $keep >"$mf" \
		2>"$out/mcxfer-$name-$r.err"; then
		w=$(wire_rate "$out/wire-mcxfer-$name-$r.txt" $col)
		sed -nE 's/.*"bytes_per_s": ([0-9.]+).*"ops_per_s": ([0-9.]+).*/\1 \2/p' "$mf" |
			awk -v n="$name" -v w="$w" '{ printf "%s mcxfer %s %s %s\n", n, $1, $2, w }' \
			>>"$out/figures.txt"
	else
		echo "bench-guest: mcxfer-bench $name failed:" >&2
		cat "$out/mcxfer-$name-$r.err" >&2
		status=1
	fi
}

for t in "${tests[@]}"; do
	read -r name op size q <<<"$t"
	for ((r = 1; r <= repeat; r++)); do
		# Alternate which tool goes first, so that a drift of the
		# host's load does not favour one of them.
		if [ $((r % 2)) = 1 ]; then
			run_perftest
			run_mcxfer
		else
			run_mcxfer
			run_perftest
		fi
		i=$((i + 1))
	done
done

if "$bench" reg --size "$regsize" --devices rxe0,rxe1 --json >"$out/reg.json" 2>"$out/reg.err"; then
	sed -E 's/[{}"]//g; s/, /\n/g; s/: /=/g' "$out/reg.json" | sed 's/^/reg /' >>"$out/figures.txt"
else
	echo "bench-guest: mcxfer-bench reg failed:" >&2
	cat "$out/reg.err" >&2
	status=1
fi
cat "$out/figures.txt"
exit $status
