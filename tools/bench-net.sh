#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# The peer-connection benchmarks in one run of the VM rig (two guests,
# tests/vm/run-pair.sh --links 1; guest B serves, guest A measures):
#   - handshake: mcx_peer_open + warm-up + close against a listener with a
#     pre-shared key, idle and while N hostile unauthenticated connections
#     attack it (target: median under attack within 2x of idle, and no
#     failed round);
#   - peers: one engine with 16 peers (16 target processes on guest B):
#     threads and RSS per peer, and aggregate write bandwidth to all of them
#     against one (target >= 0.9x).
# Prints a table of figures and ratios and writes them as JSON.
#
#   tools/bench-net.sh [--kernel 6.1|6.12] [--hostile N] [--reconnect-ms MS] [--rounds R]
#       [--peers N] [--duration SEC] [--block-size SIZE] [--depth N]
#       [--target-buffer SIZE] [--mem MB] [--timeout SEC]
#       [--perf] [--mcx-env "MCX_X=v ..."] [--json FILE] [--results DIR]
#       [--from DIR]
#
#   --kernel         guest kernel series (default 6.12)
#   --hostile N      hostile connections for the handshake bench (default 100)
#   --reconnect-ms MS  a hostile connection the listener dropped comes back
#                    after MS (default 0: at once)
#   --rounds R       handshake rounds per phase (default 20)
#   --peers N        target processes for the peers bench (default 16), on
#                    ports 7500..7500+N-1
#   --duration SEC   seconds per bandwidth phase (default 5)
#   --block-size S   bytes per write (default 64K)
#   --depth N        writes in flight in all (default 16)
#   --target-buffer S  each target's buffer (default 1M: depth x block, so
#                    that the one-peer phase's writes never share a block)
#   --mem MB         guest memory (default 1024, run-pair's own default; 17
#                    small target processes fit in it)
#   --timeout SEC    bound on each guest (default 540)
#   --perf           profile the handshake target (guest B) with perf, into
#                    b/hs-perf.txt: where the listener's CPU goes
#   --mcx-env "..."  MCX_* settings for every mcxfer-bench in the guests
#   --json FILE      where the JSON goes (default build/bench/bench-net-<time>.json)
#   --results DIR    the rig's results dir (default build/vm/results/net-...)
#   --from DIR       no new run: summarize the results dir of an earlier one
#
# Soft-RoCE under TCG emulation moves tens of MB/s and a guest exec costs
# about half a second: the defaults take about two minutes (boots included).
#
# Exit status: 0 when every measurement ran (whether or not a target was
# met: the table says), 1 otherwise, 2 bad usage.
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../tests/lib.sh"
cd "$MCX_TOP" || exit 2

kernel=6.12
hostile=100
reconnect=0
rounds=20
npeers=16
duration=5
block=64K
depth=16
tbuf=1M
mem=1024
timeout=540
mcxenv=
perf=0
json=
results=
from=
die_usage() { echo "bench-net.sh: $*" >&2; exit 2; }
whole() {
	case $2 in '' | *[!0-9]*) die_usage "$1 takes a whole number, not '$2'" ;; esac
	if [ "$2" -lt "$3" ] || [ "$2" -gt "$4" ]; then die_usage "$1 must be $3..$4, not $2"; fi
}
size() {
	[[ $2 =~ ^[0-9]+[KMG]?$ ]] || die_usage "$1 takes a size like 64K or 1M, not '$2'"
}
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) kernel=${2:?--kernel needs 6.1 or 6.12}; shift 2 ;;
	--hostile) hostile=${2:?}; whole --hostile "$hostile" 0 20000; shift 2 ;;
	--reconnect-ms) reconnect=${2:?}; whole --reconnect-ms "$reconnect" 0 60000; shift 2 ;;
	--rounds) rounds=${2:?}; whole --rounds "$rounds" 1 10000; shift 2 ;;
	--peers) npeers=${2:?}; whole --peers "$npeers" 1 64; shift 2 ;;
	--duration) duration=${2:?}; whole --duration "$duration" 1 600; shift 2 ;;
	--block-size) block=${2:?}; size --block-size "$block"; shift 2 ;;
	--depth) depth=${2:?}; whole --depth "$depth" 1 4096; shift 2 ;;
	--target-buffer) tbuf=${2:?}; size --target-buffer "$tbuf"; shift 2 ;;
	--mem) mem=${2:?}; whole --mem "$mem" 512 16384; shift 2 ;;
	--timeout) timeout=${2:?}; whole --timeout "$timeout" 60 7200; shift 2 ;;
	--mcx-env) mcxenv=${2?}; shift 2
		for kv in $mcxenv; do
			[[ $kv =~ ^MCX_[A-Z_]+=[A-Za-z0-9.,:_-]*$ ]] || die_usage "--mcx-env takes MCX_NAME=value words, not '$kv'"
		done ;;
	--perf) perf=1; shift ;;
	--json) json=${2:?--json needs a file}; shift 2 ;;
	--results) results=${2:?--results needs a directory}; shift 2 ;;
	--from) from=${2:?--from needs a results directory}; shift 2 ;;
	-h | --help) sed -n '3,47s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) die_usage "unknown option '$1' (--help lists them)" ;;
	esac
done
case $kernel in 6.1 | 6.12) ;; *) die_usage "--kernel takes 6.1 or 6.12, not '$kernel'" ;; esac
command -v python3 >/dev/null || { echo "bench-net.sh: python3 is needed for the summary (tests/deps.sh)" >&2; exit 1; }
stamp=$(date +%Y%m%d-%H%M%S)
[ -n "$results" ] || results=$MCX_TOP/build/vm/results/net-$kernel-$stamp-$$
[ -n "$json" ] || json=$MCX_TOP/build/bench/bench-net-$stamp.json
mkdir -p "$(dirname "$json")" || exit 1
if [ -n "$from" ]; then
	results=$from
	st=0
else
	if ! make -s -C lib -j2 || ! make -s -C tools -j2; then
		echo "bench-net.sh: build failed" >&2
		exit 1
	fi
	# A throwaway key for this run; it travels in the guests' command line.
	key=$(head -c 32 /dev/urandom | base64)
	envs="NET_KEY=$key NET_HOSTILE=$hostile NET_RECONNECT_MS=$reconnect NET_ROUNDS=$rounds NET_NPEERS=$npeers NET_DURATION=$duration NET_BLOCK=$block NET_DEPTH=$depth NET_TARGET_BUF=$tbuf NET_PERF=$perf $mcxenv"
	cmd="env $envs tools/bench-net-guest.sh"
	t0=$SECONDS
	tests/vm/run-pair.sh --kernel "$kernel" --links 1 --no-module --mem "$mem" \
		--timeout "$timeout" --results "$results" --quiet --a "$cmd" --b "$cmd"
	st=$?
	echo "bench-net.sh: the rig ran $((SECONDS - t0)) s (status $st)"
fi
if [ ! -s "$results/a/handshake.json" ] && [ ! -s "$results/a/peers.json" ]; then
	echo "bench-net.sh: no figures (status $st); see $results/{a,b}/console.log" >&2
	exit 1
fi

kver=$(mcx_kver_of "$kernel")
python3 - "$results" "$json" "$kver" "$mcxenv" <<'EOF'
import json, os, sys

res, out, kver, mcxenv = sys.argv[1:5]

def load(name):
    p = os.path.join(res, "a", name)
    try:
        with open(p) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        print(f"bench-net.sh: {p}: {e}", file=sys.stderr)
        return None

hs, pr = load("handshake.json"), load("peers.json")
summary = {}
print(f"mcxfer peer-connection benchmarks on the VM pair (kernel {kver}, soft-RoCE under TCG)")
if mcxenv:
    print(f"mcxfer-bench environment: {mcxenv}")
row = "  {:<38} {:>26} {:>10} {:>8} {}"
print(row.format("", "figure", "target", "ratio", "verdict"))
if hs:
    idle = hs["idle"]
    print(row.format("handshake idle: median / p90",
                     f"{idle['total_ms']['median']:.1f} / {idle['total_ms']['p90']:.1f} ms",
                     "", "", ""))
    print(row.format("  open / warm-up / close (medians)",
                     f"{idle['open_ms']['median']:.1f} / {idle['warmup_ms']['median']:.1f} / {idle['close_ms']['median']:.1f} ms",
                     "", "", ""))
    listener_peak = None
    if hs["hostile"] and "attack" in hs:
        atk = hs["attack"]
        r = hs["ratio_median"]
        failed = atk["failed"]
        met = r is not None and r <= hs["target_ratio"] and failed == 0
        verdict = "met" if met else "MISSED"
        if failed:
            verdict += f" ({failed} of {atk['ok'] + failed} rounds failed)"
        print(row.format(f"handshake, {hs['hostile']} hostile: median / p90",
                         f"{atk['total_ms']['median']:.1f} / {atk['total_ms']['p90']:.1f} ms",
                         f"<= {hs['target_ratio']:.1f}x", "n/a" if r is None else f"{r:.2f}x",
                         verdict))
        print(row.format("  open / warm-up / close (medians)",
                         f"{atk['open_ms']['median']:.1f} / {atk['warmup_ms']['median']:.1f} / {atk['close_ms']['median']:.1f} ms",
                         "", "", ""))
        live = atk.get("hostile_open_at_round_start", {})
        print(row.format("  hostile open as rounds began",
                         f"mean {live.get('mean', 0):.0f}, min {live.get('min', 0):.0f}",
                         "", "", ""))
        cpu = lambda p: 100 * p["process_cpu_s"] / p["seconds"] if p["seconds"] else 0
        print(row.format("  bench process CPU: idle / attack",
                         f"{cpu(idle):.0f}% / {cpu(atk):.0f}% "
                         f"(attacker {100 * hs['attacker_cpu_s'] / hs['attack_s']:.0f}%)",
                         "", "", ""))
        try:
            with open(os.path.join(res, "b", "hs-target.txt")) as f:
                warns = sum(1 for l in f if l.rstrip().endswith("failed authentication"))
            print(row.format("  listener 'failed authentication' logs", str(warns), "", "", ""))
        except OSError:
            warns = None
        # Guest B's samples: the listener thread's and the guest's CPU.
        try:
            with open(os.path.join(res, "b", "hs-cpu.txt")) as f:
                smp = [list(map(float, l.split())) for l in f if len(l.split()) == 5]
            best = None
            for a, b in zip(smp, smp[2:]):	# windows of about 1 s
                dt = b[0] - a[0]
                if dt <= 0 or b[4] <= a[4]:
                    continue
                lis = (b[1] - a[1]) / dt
                busy = 100 * (b[3] - a[3]) / (b[4] - a[4])
                if best is None or lis > best[0]:
                    best = (lis, busy, (b[2] - a[2]) / dt)
            if best:
                print(row.format("  guest B: listener thread peak CPU",
                                 f"{best[0]:.0f}% (process {best[2]:.0f}%, guest {best[1]:.0f}% busy)",
                                 "", "", ""))
                listener_peak = {"listener_thread_pct": best[0], "process_pct": best[2],
                                 "guest_busy_pct": best[1]}
        except (OSError, ValueError):
            listener_peak = None
        for e in atk["errors"]:
            print(f"    failed: {e['count']} x {e['stage']}: {e['error']}")
        if atk.get("failed_after_ms"):
            print("    the failed rounds failed after (ms): " +
                  ", ".join(f"{t:.0f}" for t in atk["failed_after_ms"]))
        for name, k in hs["hostile_kinds"].items():
            print(f"    {name:<17} {k['connections']:>4} conns: {k['connects']:>6} connects "
                  f"({k['connect_failed']} failed), {k['dropped']:>6} dropped by the listener "
                  f"after {k['life_mean_ms']:.0f} ms on average (max {k['life_max_ms']:.0f}); "
                  f"{k['auth_replies']} AUTH_REPLY, {k['error_replies']} ERROR")
        summary["handshake"] = {"ratio_median": r, "failed_rounds": failed, "met": met,
                                "listener_auth_failure_logs": warns,
                                "listener_peak_cpu": listener_peak}
else:
    print("  handshake: no figures")
    summary["handshake"] = None
if pr:
    s = pr["setup"]
    n = pr["npeers"]
    print(row.format(f"peers: threads before / after {n}",
                     f"{s['threads_before']} / {s['threads_after']} ({s['threads_per_peer']:+.2f}/peer)",
                     "", "", ""))
    print(row.format("  RSS before / after",
                     f"{s['rss_kb_before']} / {s['rss_kb_after']} KiB",
                     "", "", ""))
    print(row.format("  RSS per peer", f"{s['rss_kb_per_peer']:.0f} KiB", "", "", ""))
    print(row.format("  open + warm-up per peer: median / max",
                     f"{s['per_peer_setup_ms']['median']:.0f} / {s['per_peer_setup_ms']['max']:.0f} ms",
                     "", "", ""))
    one, al = pr["one"], pr["all"]
    runs = lambda p: " ".join(f"{v:.1f}" for v in p["runs_MBps"])
    print(row.format(f"  write {pr['block_size'] // 1024} KiB x {pr['depth']}, one peer",
                     f"{one['MBps']:.2f} MB/s", "", "", f"runs: {runs(one)}"))
    r = pr["all_over_one"]
    met = r is not None and r >= pr["target_ratio"]
    print(row.format(f"  write, spread over {n} peers", f"{al['MBps']:.2f} MB/s",
                     f">= {pr['target_ratio']:.1f}x", "n/a" if r is None else f"{r:.2f}x",
                     ("met" if met else "MISSED") + f" (median of {len(pr['all_over_one_runs'])} "
                     f"paired runs: {' '.join(f'{v:.2f}' for v in pr['all_over_one_runs'])})"))
    print(row.format("", "", "", "", f"runs: {runs(al)}"))
    per = [p["MBps"] for p in al["per_peer"]]
    print(row.format("  per peer with all: min..max",
                     f"{min(per):.2f}..{max(per):.2f} MB/s", "", "", ""))
    print(row.format("  latency p50: one / all",
                     f"{one['latency_us']['median']:.0f} / {al['latency_us']['median']:.0f} us",
                     "", "", ""))
    summary["peers"] = {"all_over_one": r, "met": met}
else:
    print("  peers: no figures")
    summary["peers"] = None
with open(out, "w") as f:
    json.dump({"kernel": kver, "mcx_env": mcxenv, "results": res, "summary": summary,
               "handshake": hs, "peers": pr}, f, indent=1)
    f.write("\n")
EOF
echo "JSON: $json"
echo "raw outputs: $results/a (handshake.json, peers.json, *.err), $results/b (targets)"
[ "$st" = 0 ] && [ -s "$results/a/handshake.json" ] && [ -s "$results/a/peers.json" ]
