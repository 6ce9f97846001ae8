#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# The Python package's cost per request against the C API on the same loop
# (tests/python/overhead.{c,py}: one batch of N 4 KiB writes to a
# same-process peer, add/submit/wait), for N 1 and 1024, through the
# library's memcpy short cut (the API's own cost) and through the transport
# the MCX_* variables select (tests/python/overhead.sh sets them: libfabric
# tcp on "lo" on the host, rxe0 in a rig guest).  Runs here; the caller has
# built build/py (tests/python/overhead.sh does).
#
# Each configuration runs OVH_TRIALS times (default 5), the C program and
# the two Python modes interleaved so that all three see the same load; a
# run reports the median of its rounds, and the summary takes the median of
# the runs.  Prints every run, then one summary line per configuration with
# the ratios Python/C, then the JSON document (also written to
# $MCXFER_RESULTS/overhead.json, or build/py/overhead.json on the host).
# Exit status 1 when a run failed; a ratio over the target is reported, not
# an error (this measures, it does not judge).
set -u
py=${OVH_PYTHON:-build/py/venv/bin/python}
bin=build/py/overhead
trials=${OVH_TRIALS:-5}
size=4096
json=${MCXFER_RESULTS:-build/py}/overhead.json
case $trials in '' | *[!0-9]* | 0) echo "OVH_TRIALS=\"$trials\": expected a positive count" >&2; exit 2 ;; esac
[ -n "${MCX_TRANSPORT:-}${MCX_IB_DEVICES:-}" ] || export MCX_IB_DEVICES=rxe0
export MCX_LOG_LEVEL=${MCX_LOG_LEVEL:-error}
runs=$(mktemp)
trap 'rm -f "$runs"' EXIT
st=0
for memcpy in 1 0; do
	for n in 1 1024; do
		if [ "$n" = 1 ]; then rounds=${OVH_ROUNDS_1:-2000}; else rounds=${OVH_ROUNDS_1024:-200}; fi
		[ "$memcpy" = 0 ] && rounds=$((rounds / 20 > 0 ? rounds / 20 : 1))
		for ((t = 1; t <= trials; t++)); do
			for run in c each many; do
				case $run in
				c) line=$("$bin" "$n" "$size" "$rounds" "$memcpy") ;;
				*) line=$("$py" tests/python/overhead.py "$n" "$size" "$rounds" "$memcpy" "$run") ;;
				esac || { st=1; echo "memcpy=$memcpy trial=$t $run: FAILED"; continue; }
				echo "memcpy=$memcpy trial=$t $line" | tee -a "$runs"
			done
		done
	done
done
"$py" - "$runs" "$json" "$trials" "$size" <<'PY' || st=1
import json, os, re, statistics, sys

runs, out, trials, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
per = {}
for line in open(runs):
    m = re.match(r"memcpy=(\d) trial=\d+ (\S+) requests=(\d+) .*ns_per_request=([\d.]+)", line)
    if m:
        key = (int(m.group(1)), int(m.group(3)))
        per.setdefault(key, {}).setdefault(m.group(2), []).append(float(m.group(4)))
transport = os.environ.get("MCX_TRANSPORT", "auto")
if transport == "fabric":
    transport += ":" + os.environ.get("MCX_FABRIC_PROVIDER", "default")
transport += "@" + os.environ.get("MCX_IB_DEVICES", "any")
doc = {"size": size, "trials": trials, "transport": transport,
       "statistic": "median of the runs' median round, per request", "results": []}
for (memcpy, n), sides in sorted(per.items(), key=lambda kv: (-kv[0][0], kv[0][1])):
    med = {s: statistics.median(v) for s, v in sides.items()}
    c = med.get("c")
    r = {"path": "memcpy" if memcpy else "transport", "requests": n,
         "c_ns_per_request": c,
         "py_each_ns_per_request": med.get("py-each"),
         "py_many_ns_per_request": med.get("py-many"),
         "ratio_each": round(med["py-each"] / c, 3) if c and "py-each" in med else None,
         "ratio_many": round(med["py-many"] / c, 3) if c and "py-many" in med else None,
         "runs": sides}
    doc["results"].append(r)
    print("summary path=%s requests=%d c=%.1f py-each=%.1f py-many=%.1f ns/request "
          "ratio_each=%s ratio_many=%s" % (r["path"], n, c or 0, med.get("py-each", 0),
                                           med.get("py-many", 0), r["ratio_each"],
                                           r["ratio_many"]))
at = [r["ratio_many"] for r in doc["results"] if r["requests"] == 1024]
doc["target"] = {"requests": 1024, "max_ratio": 1.2, "mode": "many",
                 "met": bool(at) and all(x is not None and x <= 1.2 for x in at)}
print("target: py-many <= 1.2x of C at 1024 requests on every path: %s"
      % ("met" if doc["target"]["met"] else "missed"))
text = json.dumps(doc, indent=1, sort_keys=True)
print(text)
with open(out, "w") as f:
    f.write(text + "\n")
PY
exit $st
