#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Guest half of the Python package's rig test, run in both guests of
# tests/vm/run-pair.sh --links 2 by tests/python/run-vm.sh: pytest on
# python/tests/test_rig.py with the venv the host made (build/py/venv, seen
# through the host root).  Guest B serves, guest A reads and writes (the
# file says what each checks).  The log is kept in
# $MCXFER_RESULTS/py-test.log; ends with "N passed, N failed, N skipped".
set -u
log=$MCXFER_RESULTS/py-test.log
py=build/py/venv/bin/python
# The root is read-only here: no byte code, no pytest cache.
export PYTHONDONTWRITEBYTECODE=1 MCX_LOG_LEVEL=warn
"$py" -m pytest -q -rs -p no:cacheprovider python/tests/test_rig.py 2>&1 | tee "$log"
st=${PIPESTATUS[0]}
last=$(grep -E '^=*\s*[0-9]+ (passed|failed|skipped|error)' "$log" | tail -n1)
n() { echo "$last" | grep -oE "[0-9]+ $1" | grep -oE '^[0-9]+' || echo 0; }
p=$(n passed) f=$(( $(n failed) + $(n error) )) s=$(n skipped)
if [ -z "$last" ] || { [ "$st" -ne 0 ] && [ "$f" -eq 0 ]; }; then
	f=$((f + 1))
fi
echo "$p passed, $f failed, $s skipped" | tee -a "$log"
[ "$f" -eq 0 ]
