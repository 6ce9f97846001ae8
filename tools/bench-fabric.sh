#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# The fabric transport against the verbs transport on the same soft-RoCE
# link, in one run of the VM rig (two guests, tests/vm/run-pair.sh --links
# 2; tools/bench-fabric-guest.sh inside):
#   - write and read bandwidth at 64 KiB and 1 MiB, fabric ("verbs;ofi_rxm")
#     vs verbs, rxe0 to rxe0, same queue depth (target: fabric >= 0.8x);
#   - first-request latency to a new peer (mcxfer-bench first): cold vs
#     after mcx_peer_warmup, on each transport;
#   - report only: "tcp;ofi_rxm" on loopback in one guest vs the verbs
#     transport from rxe0 to rxe0 in one guest, 1 MiB writes and reads.
# Prints figures and ratios and writes them as JSON.
#
#   tools/bench-fabric.sh [--kernel 6.1|6.12] [--duration SEC] [--depth N]
#       [--repeat N] [--rounds N] [--json FILE] [--results DIR] [--from DIR]
#
#   --duration SEC   seconds per bandwidth run (default 4)
#   --depth N        requests in flight (one thread, --batch N; default 16)
#   --repeat N       runs of each transport per test, alternating which
#                    goes first; the median is reported (default 3)
#   --rounds N       rounds of each kind of mcxfer-bench first (default 5)
#   --json FILE      where the JSON goes (default
#                    build/bench/bench-fabric-<time>.json)
#   --results DIR    the rig's results dir (default build/vm/results/...)
#   --from DIR       no new run: summarize the results dir of an earlier one
#
# Exit status: 0 when every measurement ran (whether or not the target was
# met: the figures say), 1 otherwise, 2 bad usage.
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../tests/lib.sh"
cd "$MCX_TOP" || exit 2

kernel=6.12
duration=4
depth=16
repeat=3
rounds=5
json=
results=
from=
die_usage() { echo "bench-fabric.sh: $*" >&2; exit 2; }
whole() {
	case $2 in '' | *[!0-9]*) die_usage "$1 takes a whole number, not '$2'" ;; esac
	if [ "$2" -lt "$3" ] || [ "$2" -gt "$4" ]; then die_usage "$1 must be $3..$4, not $2"; fi
}
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) kernel=${2:?--kernel needs 6.1 or 6.12}; shift 2 ;;
	--duration) duration=${2:?}; whole --duration "$duration" 1 600; shift 2 ;;
	--depth) depth=${2:?}; whole --depth "$depth" 1 4096; shift 2 ;;
	--repeat) repeat=${2:?}; whole --repeat "$repeat" 1 99; shift 2 ;;
	--rounds) rounds=${2:?}; whole --rounds "$rounds" 1 1000; shift 2 ;;
	--json) json=${2:?--json needs a file}; shift 2 ;;
	--results) results=${2:?--results needs a directory}; shift 2 ;;
	--from) from=${2:?--from needs a results directory}; shift 2 ;;
	-h | --help) sed -n '3,29s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) die_usage "unknown option '$1' (--help lists them)" ;;
	esac
done
case $kernel in 6.1 | 6.12) ;; *) die_usage "--kernel takes 6.1 or 6.12, not '$kernel'" ;; esac
stamp=$(date +%Y%m%d-%H%M%S)
[ -n "$results" ] || results=$MCX_TOP/build/vm/results/bench-fabric-$kernel-$stamp-$$
[ -n "$json" ] || json=$MCX_TOP/build/bench/bench-fabric-$stamp.json
mkdir -p "$(dirname "$json")" || exit 1
if [ -n "$from" ]; then
	results=$from
	st=0
else
	if ! make -s -C lib -j2 || ! make -s -C tools -j2; then
		echo "bench-fabric.sh: build failed" >&2
		exit 1
	fi
	cmd="env BENCH_DURATION=$duration BENCH_DEPTH=$depth BENCH_REPEAT=$repeat BENCH_ROUNDS=$rounds tools/bench-fabric-guest.sh"
	tests/vm/run-pair.sh --kernel "$kernel" --links 2 --no-module --timeout 1200 \
		--results "$results" --quiet --a "$cmd" --b "$cmd"
	st=$?
fi
fig=$results/a/figures.txt
if [ ! -s "$fig" ]; then
	echo "bench-fabric.sh: no figures (status $st); see $results/{a,b}/console.log" >&2
	exit 1
fi

awk -v json="$json" '
$1 == "set" { split($2, kv, "="); set[kv[1]] = kv[2]; next }
$1 == "first" { fc[$2]++; for (i = 3; i <= 7; i++) first[$2, i - 2] = $i; next }
NF == 4 { k = ++cnt[$1, $2]; bv[$1, $2, k] = $3 }
function med(t, tr,    n, i, j, x, v) {
	n = cnt[t, tr]
	if (!n)
		return -1
	for (i = 1; i <= n; i++)
		v[i] = bv[t, tr, i]
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && v[j - 1] > v[j]; j--) {
			x = v[j]; v[j] = v[j - 1]; v[j - 1] = x
		}
	return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
function runs(t, tr,    s, i) {
	s = ""
	for (i = 1; i <= cnt[t, tr]; i++)
		s = s (i > 1 ? ", " : "") bv[t, tr, i]
	return "[" s "]"
}
function ratio(a, b) { return (a >= 0 && b > 0) ? a / b : -1 }
function fmt(r) { return r < 0 ? "n/a" : sprintf("%.2fx", r) }
function mb(v) { return v < 0 ? "n/a" : sprintf("%.2f", v / 1e6) }
function jn(v) { return v < 0 ? "null" : sprintf("%.4f", v) }
END {
	printf "fabric (verbs;ofi_rxm) vs verbs on one soft-RoCE link, rxe0 to rxe0 (kernel %s; medians of %s alternating runs of %s s; depth %s)\n", set["kernel"], set["repeat"], set["duration"], set["depth"]
	printf "  %-10s %12s %12s %8s %8s\n", "test", "verbs MB/s", "fabric MB/s", "ratio", "target"
	printf("{\"kernel\": \"%s\", \"duration_s\": %s, \"depth\": %s, \"repeat\": %s, \"rounds\": %s, \"bandwidth\": {", set["kernel"], set["duration"], set["depth"], set["repeat"], set["rounds"]) > json
	n = split("write_64k write_1m read_64k read_1m", names, " ")
	for (i = 1; i <= n; i++) {
		t = names[i]
		v = med(t, "verbs"); f = med(t, "fabric"); r = ratio(f, v)
		printf "  %-10s %12s %12s %8s %8s %s\n", t, mb(v), mb(f), fmt(r), "0.80x", r < 0 ? "" : (r >= 0.8 ? "met" : "MISSED")
		printf("%s\"%s\": {\"unit\": \"bytes/s\", \"verbs\": %s, \"fabric\": %s, \"ratio\": %s, \"target\": 0.8, \"verbs_runs\": %s, \"fabric_runs\": %s}", i > 1 ? ", " : "", t, jn(v), jn(f), jn(r), runs(t, "verbs"), runs(t, "fabric")) > json
	}
	printf("}, \"first_request_ms\": {") > json
	printf "first request to a new peer (medians of %s rounds of each kind, ms; mcxfer-bench first)\n", set["rounds"]
	printf "  %-7s %10s %10s %8s %12s %12s %8s %10s\n", "", "cold 1st", "warm 1st", "ratio", "open+1st", "open+wu+1st", "ratio", "warm-up"
	k = 0
	split("fabric verbs", trs, " ")
	for (i = 1; i <= 2; i++) {
		tr = trs[i]
		if (!fc[tr]) {
			printf "  %-7s no figures\n", tr
			continue
		}
		r1 = ratio(first[tr, 1], first[tr, 2]); r2 = ratio(first[tr, 3], first[tr, 4])
		printf "  %-7s %10.2f %10.2f %8s %12.2f %12.2f %8s %10.2f\n", tr, first[tr, 1], first[tr, 2], fmt(r1), first[tr, 3], first[tr, 4], fmt(r2), first[tr, 5]
		printf("%s\"%s\": {\"cold_first\": %s, \"warm_first\": %s, \"cold_over_warm_first\": %s, \"cold_open_first\": %s, \"warm_open_warmup_first\": %s, \"cold_over_warm_total\": %s, \"warmup\": %s}", k++ ? ", " : "", tr, first[tr, 1], first[tr, 2], jn(r1), first[tr, 3], first[tr, 4], jn(r2), first[tr, 5]) > json
	}
	printf("}, \"one_guest_report_only\": {") > json
	printf "one guest, report only: tcp;ofi_rxm on loopback vs verbs rxe0 -> rxe0 (MB/s)\n"
	printf "  %-10s %12s %12s %8s\n", "test", "verbs rxe", "tcp lo", "tcp/verbs"
	split("loop_write_1m loop_read_1m", ln, " ")
	for (i = 1; i <= 2; i++) {
		t = ln[i]
		v = med(t, "verbs_lo"); f = med(t, "tcp_lo"); r = ratio(f, v)
		printf "  %-10s %12s %12s %8s\n", substr(t, 6), mb(v), mb(f), fmt(r)
		printf("%s\"%s\": {\"verbs_rxe\": %s, \"tcp_loopback\": %s, \"ratio\": %s, \"verbs_runs\": %s, \"tcp_runs\": %s}", i > 1 ? ", " : "", substr(t, 6), jn(v), jn(f), jn(r), runs(t, "verbs_lo"), runs(t, "tcp_lo")) > json
	}
	printf("}}\n") > json
	close(json)
}' "$fig"
echo "JSON: $json"
echo "raw outputs: $results/a (*.json, *.err, figures.txt)"
[ "$st" = 0 ]
