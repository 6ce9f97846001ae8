#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Python overhead per request vs the C API on the same batch: builds the
# venv (tests/python/venv.sh) and tests/python/overhead.c, then runs
# tests/python/overhead-measure.sh (every run, a summary line with the
# ratios per configuration, the JSON document).
#
#   tests/python/overhead.sh [--trials N]    on this host (default 5 trials)
#   tests/python/overhead.sh --rig [ARGS]    in one rig guest (5 trials)
#
# On the host (no RDMA device needed) both sides run over the libfabric
# transport, tcp provider on "lo" (MCX_TRANSPORT=fabric,
# MCX_FABRIC_PROVIDER=tcp, MCX_IB_DEVICES=lo unless set already); the JSON
# goes to build/py/overhead.json.  --rig runs the same in a guest of
# tests/vm/run.sh over soft-RoCE (rxe0), ARGS going to run.sh (e.g.
# --kernel 6.1), the JSON to its results directory.
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
cd "$MCX_TOP" || exit 2

rig=0
while [ $# -gt 0 ]; do
	case $1 in
	--trials) export OVH_TRIALS=${2:?--trials needs a count}; shift 2 ;;
	--rig) rig=1; shift; break ;;
	-h | --help) sed -n '3,17s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "overhead.sh: unknown option '$1'" >&2; exit 2 ;;
	esac
done
[ $rig = 0 ] && [ $# -gt 0 ] && { echo "overhead.sh: '$1' without --rig" >&2; exit 2; }
tests/python/venv.sh >/dev/null || exit 1
${CC:-cc} -std=c11 -O2 -Wall -Wextra -Werror -Iinclude -o build/py/overhead \
	tests/python/overhead.c -Lbuild/lib -lmcxfer -Wl,-rpath,"$MCX_TOP/build/lib" || exit 1
if [ $rig = 1 ]; then
	exec tests/vm/run.sh --no-module "$@" -- tests/python/overhead-measure.sh
fi
export MCX_TRANSPORT=${MCX_TRANSPORT:-fabric}
export MCX_FABRIC_PROVIDER=${MCX_FABRIC_PROVIDER:-tcp}
export MCX_IB_DEVICES=${MCX_IB_DEVICES:-lo}
exec tests/python/overhead-measure.sh
