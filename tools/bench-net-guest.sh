#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Guest half of tools/bench-net.sh, run in both guests of
# tests/vm/run-pair.sh.  Guest B (MCXFER_HOST_INDEX 1) serves, guest A
# measures, over rail 0:
#   1. B runs one `mcxfer-bench xfer --mode target` on port NET_HS_PORT with
#      the pre-shared key; A runs `mcxfer-bench handshake` against it (idle,
#      then under NET_HOSTILE hostile connections), which tells it to exit.
#   2. B then runs NET_NPEERS targets on ports NET_PEER_PORT.. (no key),
#      each with a NET_TARGET_BUF buffer; A runs `mcxfer-bench peers`
#      against all of them, which tells them to exit.
# B starts the second set only once the first target is gone, so that the
# handshake figures are taken on an otherwise idle guest.
#
# Settings come from the environment (the host script sets them):
# NET_KEY (the key's text: a throwaway random key made for this run),
# NET_HOSTILE, NET_RECONNECT_MS, NET_ROUNDS, NET_NPEERS, NET_DURATION, NET_BLOCK, NET_DEPTH,
# NET_TARGET_BUF, NET_HS_PORT, NET_PEER_PORT, NET_PERF (1: profile the
# handshake target with perf, into hs-perf.txt).  Results in $MCXFER_RESULTS:
# A writes handshake.json and peers.json (stderr beside them, .err), B the
# targets' outputs (hs-target.txt, target-N.txt).

set -u
# shellcheck source=tests/vm/guest-lib.sh
. tests/vm/guest-lib.sh

out=$MCXFER_RESULTS
bench=build/tools/mcxfer-bench
hostile=${NET_HOSTILE:-100}
reconnect=${NET_RECONNECT_MS:-0}
rounds=${NET_ROUNDS:-20}
npeers=${NET_NPEERS:-16}
dur=${NET_DURATION:-5}
block=${NET_BLOCK:-64K}
depth=${NET_DEPTH:-16}
tbuf=${NET_TARGET_BUF:-1M}
hs_port=${NET_HS_PORT:-7400}
port0=${NET_PEER_PORT:-7500}
# Each side exits on its own if the other never shows up.
max_wait=420

[ -n "${NET_KEY:-}" ] || { echo "bench-net-guest: NET_KEY is not set" >&2; exit 2; }
key=/tmp/bench-net.key
# The library wants the key file private to its owner: mode 0600.
(umask 077 && printf '%s\n' "$NET_KEY" >"$key") || exit 1

# Every 0.5 s while process $1 lives: "uptime listener_ticks process_ticks
# guest_busy_ticks guest_total_ticks" (ticks of 1/100 s; the listener is
# its thread named mcx-listen), so that the host can tell whether the
# listener thread or the guest ran out of CPU under attack.  It forks
# nothing per sample (it waits in read -t on a FIFO it holds open itself;
# the guests have no /dev/fd for a <(...)): an exec of sleep goes over 9p
# and stalls for seconds in a busy guest.
cpu_sampler() {
	local pid=$1 t comm st f up lis proc cpu a tick fifo=/tmp/bench-net-tick.$BASHPID
	mkfifo "$fifo" && exec {tick}<>"$fifo" && rm -f "$fifo" || return
	while kill -0 "$pid" 2>/dev/null; do
		lis=0
		for t in /proc/"$pid"/task/*; do
			read -r comm <"$t/comm" 2>/dev/null || continue
			[ "$comm" = mcx-listen ] || continue
			read -r st <"$t/stat" 2>/dev/null || continue
			read -ra f <<<"${st##*) }"
			lis=$((f[11] + f[12]))
		done
		read -r st <"/proc/$pid/stat" 2>/dev/null || break
		read -ra f <<<"${st##*) }"
		proc=$((f[11] + f[12]))
		read -r up _ </proc/uptime
		read -ra a </proc/stat
		cpu=$((a[1] + a[2] + a[3] + a[6] + a[7] + a[8]))
		echo "$up $lis $proc $cpu $((cpu + a[4] + a[5]))"
		read -r -t 0.5 -u "$tick"
	done
	exec {tick}<&-
}

if [ "$MCXFER_HOST_INDEX" = 1 ]; then
	status=0
	echo "bench-net-guest: handshake target on port $hs_port"
	# Its log (a line per refused caller) goes to the guest's tmpfs and is
	# copied afterwards: written to the 9p results dir, each line would
	# hold up the listener thread for an emulated file-system round trip.
	# NET_PERF=1: perf starts the target (attaching to it fails with
	# ESRCH in the guests) and profiles its threads, into hs-perf.txt.
	# cpu-clock: TCG has no hardware counters.
	perf=()
	[ "${NET_PERF:-0}" = 1 ] && perf=(perf record -q -e cpu-clock -F 499 -g -o /tmp/hs.perf --)
	MCX_AUTH_KEY_FILE=$key "${perf[@]}" "$bench" xfer --mode target \
		--listen "0.0.0.0:$hs_port" --devices rxe0 --buffer-size 1M --max-wait $max_wait \
		>/tmp/hs-target.txt 2>&1 &
	hs=$!
	pid=$hs
	if [ ${#perf[@]} -gt 0 ]; then
		mcx_retry 30 grep -q 'listening on' /tmp/hs-target.txt
		read -r pid _ </proc/"$hs"/task/"$hs"/children
	fi
	cpu_sampler "$pid" >/tmp/hs-cpu.txt &
	sampler=$!
	wait "$hs" || { echo "bench-net-guest: the handshake target failed:" >&2; status=1; }
	wait "$sampler"
	cp /tmp/hs-target.txt /tmp/hs-cpu.txt "$out/"
	if [ ${#perf[@]} -gt 0 ]; then
		{
			perf report -i /tmp/hs.perf --stdio --no-children --sort comm,dso,sym \
				--percent-limit 0.5 -g none 2>&1
			perf report -i /tmp/hs.perf --stdio --no-children --comm mcx-listen \
				--sort dso,sym --percent-limit 0.5 -g none 2>&1
			perf report -i /tmp/hs.perf --stdio --children --comm mcx-listen \
				--sort sym --percent-limit 2 -g none 2>&1
		} >"$out/hs-perf.txt"
	fi
	grep -v 'failed authentication$' /tmp/hs-target.txt
	echo "bench-net-guest: the listener logged $(grep -c 'failed authentication$' /tmp/hs-target.txt) 'failed authentication' warnings"

	echo "bench-net-guest: $npeers targets on ports $port0..$((port0 + npeers - 1))"
	pids=()
	for ((i = 0; i < npeers; i++)); do
		"$bench" xfer --mode target --listen "0.0.0.0:$((port0 + i))" --devices rxe0 \
			--buffer-size "$tbuf" --max-wait $max_wait >"$out/target-$i.txt" 2>&1 &
		pids+=($!)
	done
	for ((i = 0; i < npeers; i++)); do
		if ! wait "${pids[$i]}"; then
			echo "bench-net-guest: target $i (port $((port0 + i))) failed:" >&2
			cat "$out/target-$i.txt" >&2
			status=1
		fi
	done
	exit $status
fi

peer=$(mcx_peer_addr 0)

# True once something accepts TCP connections on $1:$2 (called by mcx_retry).
# shellcheck disable=SC2317
port_open() {
	timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

# Wait up to $1 seconds for ports $3.. ($2 of them) of the peer.
wait_ports() {
	local limit=$1 n=$2 first=$3 i
	for ((i = 0; i < n; i++)); do
		mcx_retry "$limit" port_open "$peer" $((first + i)) || {
			echo "bench-net-guest: nothing listens on $peer:$((first + i))" >&2
			return 1
		}
	done
}

status=0
if wait_ports 180 1 "$hs_port"; then
	echo "bench-net-guest: handshake bench against $peer:$hs_port"
	if ! MCX_AUTH_KEY_FILE=$key "$bench" handshake --peer "$peer:$hs_port" --devices rxe0 \
		--hostile "$hostile" --reconnect-ms "$reconnect" --rounds "$rounds" --stop-target --json \
		>"$out/handshake.json" 2>"$out/handshake.err"; then
		echo "bench-net-guest: mcxfer-bench handshake failed:" >&2
		cat "$out/handshake.err" >&2
		status=1
		# Let guest B go on to its next targets all the same.
		MCX_AUTH_KEY_FILE=$key "$bench" handshake --peer "$peer:$hs_port" --devices rxe0 \
			--hostile 0 --rounds 1 --stop-target >/dev/null 2>&1
	fi
else
	status=1
fi

ports=
for ((i = 0; i < npeers; i++)); do
	ports="$ports${ports:+,}$peer:$((port0 + i))"
done
if wait_ports 180 "$npeers" "$port0"; then
	echo "bench-net-guest: peers bench against $npeers targets"
	if ! "$bench" peers --peers "$ports" --devices rxe0 --block-size "$block" \
		--depth "$depth" --duration "$dur" --json >"$out/peers.json" 2>"$out/peers.err"; then
		echo "bench-net-guest: mcxfer-bench peers failed:" >&2
		cat "$out/peers.err" >&2
		status=1
		# Stop what it could not, so that guest B does not wait for them.
		for ((i = 0; i < npeers; i++)); do
			timeout 30 "$bench" xfer --mode initiator --peer "$peer:$((port0 + i))" \
				--devices rxe0 --buffer-size 64K --block-size 4K --batch 1 \
				--duration 0.1 >/dev/null 2>&1
		done
	fi
else
	status=1
fi
cat "$out/handshake.err" "$out/peers.err" 2>/dev/null
exit $status
