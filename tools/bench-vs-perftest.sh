#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# mcxfer-bench against perftest on the same soft-RoCE link, in one run of
# the VM rig (two guests, tests/vm/run-pair.sh --links 2):
#   - write and read bandwidth at 64 KiB and 1 MiB: mcxfer-bench xfer vs
#     ib_write_bw / ib_read_bw with the same queue depth (target >= 1.0x);
#   - 4 KiB write message rate vs ib_write_bw (target >= 0.9x);
#   - registering 1 GiB on two devices (mcxfer-bench reg): the pool vs one
#     thread (target >= 1.6x with two vCPUs), and cold vs a cache hit.
# Prints a table of figures and ratios and writes them as JSON.
#
#   tools/bench-vs-perftest.sh [--kernel 6.1|6.12] [--duration SEC]
#       [--depth N] [--msg-depth N] [--threads N] [--reg-size SIZE]
#       [--repeat N] [--mcx-env "MCX_X=v ..."] [--json FILE] [--results DIR]
#
#   --duration SEC   seconds per measurement (default 4)
#   --repeat N       runs of each tool per test, alternating; the median is
#                    reported (default 3)
#   --mcx-env "..."  MCX_* settings for mcxfer-bench in the guests
#   --depth N        requests in flight for the bandwidth tests: perftest
#                    -t N, mcxfer-bench --threads T --batch N/T (default 16)
#   --msg-depth N    the same for the 4 KiB message rate (default 64)
#   --threads T      mcxfer-bench threads sharing the depth (default 1, as
#                    perftest; 1 when T does not divide the depth).  Each
#                    thread keeps its share of the depth in flight, refilling
#                    a request as soon as it completes (--refill request).
#   --reg-size SIZE  registration benchmark size (default 1G)
#   --json FILE      where the JSON goes (default
#                    build/bench/bench-vs-perftest-<time>.json)
#   --from DIR       no new run: summarize the results dir of an earlier one
#
# Both tools run on rail 0 (rxe0 to rxe0); perftest -x is the RoCE v2
# IPv4 GID of rxe0.  Each ratio is given twice: from what the tools report,
# and from the bytes that crossed eth0 in the guest (netdev counters, one
# clock for both; see bench-vs-perftest-guest.sh); "met/met" in the last
# column is the verdict of each.
#
# Exit status: 0 when every measurement ran (whether or not a target was
# met: the figures say), 1 otherwise, 2 bad usage.
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../tests/lib.sh"
cd "$MCX_TOP" || exit 2

kernel=6.12
duration=4
repeat=3
mcxenv=
depth=16
mdepth=64
threads=1
regsize=1G
json=
results=
from=
die_usage() { echo "bench-vs-perftest.sh: $*" >&2; exit 2; }
whole() {
	case $2 in '' | *[!0-9]*) die_usage "$1 takes a whole number, not '$2'" ;; esac
	if [ "$2" -lt "$3" ] || [ "$2" -gt "$4" ]; then die_usage "$1 must be $3..$4, not $2"; fi
}
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) kernel=${2:?--kernel needs 6.1 or 6.12}; shift 2 ;;
	--duration) duration=${2:?}; whole --duration "$duration" 1 600; shift 2 ;;
	--depth) depth=${2:?}; whole --depth "$depth" 1 4096; shift 2 ;;
	--msg-depth) mdepth=${2:?}; whole --msg-depth "$mdepth" 1 4096; shift 2 ;;
	--threads) threads=${2:?}; whole --threads "$threads" 1 64; shift 2 ;;
	--repeat) repeat=${2:?}; whole --repeat "$repeat" 1 99; shift 2 ;;
	--mcx-env) mcxenv=${2?}; shift 2
		for kv in $mcxenv; do
			[[ $kv =~ ^MCX_[A-Z_]+=[A-Za-z0-9.,:_-]*$ ]] || die_usage "--mcx-env takes MCX_NAME=value words, not '$kv'"
		done ;;
	--reg-size) regsize=${2:?}; shift 2
		[[ $regsize =~ ^[0-9]+[KMG]?$ ]] || die_usage "--reg-size takes a size like 512M or 1G, not '$regsize'" ;;
	--json) json=${2:?--json needs a file}; shift 2 ;;
	--results) results=${2:?--results needs a directory}; shift 2 ;;
	--from) from=${2:?--from needs a results directory}; shift 2 ;;
	-h | --help) sed -n '3,38s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) die_usage "unknown option '$1' (--help lists them)" ;;
	esac
done
case $kernel in 6.1 | 6.12) ;; *) die_usage "--kernel takes 6.1 or 6.12, not '$kernel'" ;; esac
stamp=$(date +%Y%m%d-%H%M%S)
[ -n "$results" ] || results=$MCX_TOP/build/vm/results/bench-$kernel-$stamp-$$
[ -n "$json" ] || json=$MCX_TOP/build/bench/bench-vs-perftest-$stamp.json
mkdir -p "$(dirname "$json")" || exit 1
if [ -n "$from" ]; then
	results=$from
	st=0
else
	for t in ib_write_bw ib_read_bw; do
		command -v $t >/dev/null || { echo "bench-vs-perftest.sh: $t not found (apt-get install perftest)" >&2; exit 1; }
	done
	if ! make -s -C lib -j2 || ! make -s -C tools -j2; then
		echo "bench-vs-perftest.sh: build failed" >&2
		exit 1
	fi

	# The guests see the host's root; settings travel in the command line.
	envs="BENCH_DURATION=$duration BENCH_DEPTH=$depth BENCH_MSG_DEPTH=$mdepth BENCH_THREADS=$threads BENCH_REG_SIZE=$regsize BENCH_REPEAT=$repeat $mcxenv"
	cmd="env $envs tools/bench-vs-perftest-guest.sh"
	# 2 GiB per guest: 1 GiB is registered (pinned) on top of the 64 MiB buffers.
	tests/vm/run-pair.sh --kernel "$kernel" --links 2 --no-module --mem 2048 --timeout 900 \
		--results "$results" --quiet --a "$cmd" --b "$cmd"
	st=$?
fi
fig=$results/a/figures.txt
if [ ! -s "$fig" ]; then
	echo "bench-vs-perftest.sh: no figures (status $st); see $results/{a,b}/console.log" >&2
	exit 1
fi

kver=$(mcx_kver_of "$kernel")
awk -v json="$json" -v kver="$kver" -v dur="$duration" -v rep="$repeat" -v mcxenv="$mcxenv" -v depth="$depth" -v mdepth="$mdepth" \
	-v threads="$threads" -v regsize="$regsize" '
$1 == "reg" { split($2, kv, "="); reg[kv[1]] = kv[2]; next }
$1 == "set" {
	split($2, kv, "=")
	if (kv[1] == "kernel") kver = kv[2]
	else if (kv[1] == "duration") dur = kv[2]
	else if (kv[1] == "depth") depth = kv[2]
	else if (kv[1] == "msg_depth") mdepth = kv[2]
	else if (kv[1] == "threads") threads = kv[2]
	else if (kv[1] == "repeat") rep = kv[2]
	else if (kv[1] == "mcx_env") mcxenv = substr($2, 9)
	next
}
NF >= 4 { k = ++cnt[$1, $2]; bv[$1, $2, k] = $3; ov[$1, $2, k] = $4; wv[$1, $2, k] = NF >= 5 ? $5 : 0 }
# Median of the runs of (test, tool), a: "b" for bytes/s, "o" for ops/s.
function med(t, tool, a,    n, i, j, x, v) {
	n = cnt[t, tool]
	if (!n)
		return ""
	for (i = 1; i <= n; i++)
		v[i] = a == "b" ? bv[t, tool, i] : a == "w" ? wv[t, tool, i] : ov[t, tool, i]
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && v[j - 1] > v[j]; j--) {
			x = v[j]; v[j] = v[j - 1]; v[j - 1] = x
		}
	return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
# Median over runs i of mcxfer_i / perftest_i: runs next to each other in
# time, so that a change of the host load between runs cancels out.
function paired(t, a,    n, i, j, x, v, k, pv, mv) {
	n = cnt[t, "perftest"] < cnt[t, "mcxfer"] ? cnt[t, "perftest"] : cnt[t, "mcxfer"]
	k = 0
	for (i = 1; i <= n; i++) {
		pv = a == "b" ? bv[t, "perftest", i] : a == "w" ? wv[t, "perftest", i] : ov[t, "perftest", i]
		mv = a == "b" ? bv[t, "mcxfer", i] : a == "w" ? wv[t, "mcxfer", i] : ov[t, "mcxfer", i]
		if (pv > 0)
			v[++k] = mv / pv
	}
	if (!k)
		return -1
	for (i = 2; i <= k; i++)
		for (j = i; j > 1 && v[j - 1] > v[j]; j--) {
			x = v[j]; v[j] = v[j - 1]; v[j - 1] = x
		}
	return k % 2 ? v[(k + 1) / 2] : (v[k / 2] + v[k / 2 + 1]) / 2
}
function runs(t, tool, a,    s, i) {
	s = ""
	for (i = 1; i <= cnt[t, tool]; i++)
		s = s (i > 1 ? ", " : "") (a == "b" ? bv[t, tool, i] : a == "w" ? wv[t, tool, i] : ov[t, tool, i])
	return "[" s "]"
}
function ratio(a, b) { return (b > 0 && a != "") ? a / b : -1 }
function jr(r) { return r < 0 ? "null" : sprintf("%.4f", r) }
function fmt(r) { return r < 0 ? "n/a" : sprintf("%.2fx", r) }
END {
	n = split("write_64k write_1m read_64k read_1m msgrate_4k", names, " ")
	printf "mcxfer-bench vs perftest on one soft-RoCE link (kernel %s; medians of %s alternating runs of %s s; depth %s, %s for 4 KiB)\n", kver, rep, dur, depth, mdepth
	if (mcxenv != "")
		printf "mcxfer-bench environment: %s\n", mcxenv
	printf "  %-11s %-36s %-30s %s\n", "", "as each tool reports it", "bytes on eth0 (same clock)", ""
	printf "  %-11s %13s %13s %8s %9s %9s %8s %8s\n", "test", "perftest", "mcxfer", "ratio", "perftest", "mcxfer", "ratio", "target"
	printf("{\"kernel\": \"%s\", \"duration_s\": %s, \"depth\": %s, \"msg_depth\": %s, \"mcxfer_threads\": %s, \"repeat\": %s, \"mcx_env\": \"%s\", \"tests\": {", kver, dur, depth, mdepth, threads, rep, mcxenv) > json
	for (i = 1; i <= n; i++) {
		t = names[i]
		msg = t ~ /^msgrate/
		a = msg ? "o" : "b"
		p = med(t, "perftest", a)
		m = med(t, "mcxfer", a)
		r = ratio(m, p)
		wp = med(t, "perftest", "w")
		wm = med(t, "mcxfer", "w")
		wr = ratio(wm, wp)
		tgt = msg ? 0.9 : 1.0
		verdict = (r < 0) ? "" : ((r >= tgt) ? "met" : "MISSED")
		if (wr >= 0)
			verdict = verdict "/" ((wr >= tgt) ? "met" : "MISSED")
		if (msg)
			printf("  %-11s %8.0f op/s %8.0f op/s %8s %4.1f MB/s %4.1f MB/s %8s %5.1fx %s\n", t, p, m, fmt(r), wp / 1e6, wm / 1e6, fmt(wr), tgt, verdict)
		else
			printf("  %-11s %8.2f MB/s %8.2f MB/s %8s %4.1f MB/s %4.1f MB/s %8s %5.1fx %s\n", t, p / 1e6, m / 1e6, fmt(r), wp / 1e6, wm / 1e6, fmt(wr), tgt, verdict)
		printf("%s\"%s\": {\"unit\": \"%s\", \"perftest\": %s, \"mcxfer\": %s, \"ratio\": %s, \"target\": %s, \"paired_ratio\": %s, \"perftest_runs\": %s, \"mcxfer_runs\": %s, \"wire_bytes_per_s\": {\"perftest\": %s, \"mcxfer\": %s, \"ratio\": %s, \"paired_ratio\": %s, \"perftest_runs\": %s, \"mcxfer_runs\": %s}}", (i > 1) ? ", " : "", t, msg ? "ops/s" : "bytes/s", (p == "") ? "null" : p, (m == "") ? "null" : m, (r < 0) ? "null" : sprintf("%.4f", r), tgt, jr(paired(t, a)), runs(t, "perftest", a), runs(t, "mcxfer", a), (wp == "") ? "null" : wp, (wm == "") ? "null" : wm, (wr < 0) ? "null" : sprintf("%.4f", wr), jr(paired(t, "w")), runs(t, "perftest", "w"), runs(t, "mcxfer", "w")) > json
	}
	printf "  paired (median of per-run ratios, reported/wire):"
	for (i = 1; i <= n; i++)
		printf " %s %s/%s", names[i], fmt(paired(names[i], names[i] ~ /^msgrate/ ? "o" : "b")), fmt(paired(names[i], "w"))
	printf "\n"
	printf("}, \"registration\": {") > json
	k = 0
	for (key in reg) {
		v = reg[key]
		if (v !~ /^-?[0-9.]+$/)
			v = "\"" v "\""
		printf("%s\"%s\": %s", (k++ > 0) ? ", " : "", key, v) > json
	}
	printf("}}\n") > json
	close(json)
	if ("pool_speedup" in reg) {
		printf "registering %s on %s NICs (chunks of %d MiB):\n", regsize, reg["nics"], reg["chunk"] / 1048576
		printf "  cold, 1 thread %8.1f ms; cold, pool of %s %8.1f ms; cache hit %.2f us\n", reg["cold_1thread_s"] * 1e3, reg["pool_threads"], reg["cold_pool_s"] * 1e3, reg["hit_us"]
		printf("  pool vs 1 thread %.2fx (target 1.6x: %s); cold vs cache hit %.0fx\n", reg["pool_speedup"], (reg["pool_speedup"] >= 1.6) ? "met" : "MISSED", reg["cold_over_hit"])
	} else {
		printf "registration: no figures\n"
	}
}' "$fig"
echo "JSON: $json"
echo "raw outputs: $results/a (perftest-*.txt, mcxfer-*.json, reg.json)"
[ "$st" = 0 ]
