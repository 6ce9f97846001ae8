#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# The Python package on the host, without a VM, an RDMA device or the
# module: install python/ into build/py/venv (tests/python/venv.sh) and run
# its host tests and the GPU test (which skips without CUDA and an RDMA
# device) with pytest.  Ends with "N passed, N failed, N skipped".
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
cd "$MCX_TOP" || exit 2

if ! py=$(tests/python/venv.sh); then
	echo "python: installing the package failed"
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# From outside python/, so that "import mcxfer" is the installed package.
(cd build/py && "$py" -m pytest -q -rs -p no:cacheprovider \
	"$MCX_TOP/python/tests/test_host.py" "$MCX_TOP/python/tests/test_batch_fabric.py" \
	"$MCX_TOP/python/tests/test_gpu.py") 2>&1 | tee "$log"
st=${PIPESTATUS[0]}

# pytest's closing line: "3 failed, 40 passed, 2 skipped, 1 error in 0.5s".
last=$(grep -E '^=*\s*[0-9]+ (passed|failed|skipped|error)' "$log" | tail -n1)
n() { echo "$last" | grep -oE "[0-9]+ $1" | grep -oE '^[0-9]+' || echo 0; }
p=$(n passed) f=$(( $(n failed) + $(n error) )) s=$(n skipped)
if [ -z "$last" ] || { [ "$st" -ne 0 ] && [ "$f" -eq 0 ]; }; then
	f=$((f + 1))
fi
echo "$p passed, $f failed, $s skipped"
[ "$f" -eq 0 ]
