#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Python overhead per request vs the C API, measured in one rig guest (the
# host has no RDMA device, and an engine needs one): builds the venv and
# tests/python/overhead.c, then runs tests/python/overhead-guest.sh under
# tests/vm/run.sh.  Extra arguments go to run.sh (e.g. --kernel 6.1).
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
cd "$MCX_TOP" || exit 2
tests/python/venv.sh >/dev/null || exit 1
${CC:-cc} -std=c11 -O2 -Wall -Wextra -Werror -Iinclude -o build/py/overhead \
	tests/python/overhead.c -Lbuild/lib -lmcxfer -Wl,-rpath,"$MCX_TOP/build/lib" || exit 1
exec tests/vm/run.sh --no-module "$@" -- tests/python/overhead-guest.sh
