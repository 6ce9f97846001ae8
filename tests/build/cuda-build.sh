#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# The library's CUDA build options (lib/Makefile: WITH_CUDA, CUDA_HOME):
# without cuda.h the CUDA path compiles out and the build says so, and the
# library built that way still registers host memory and refuses CUDA
# memory with a clear error; with a cuda.h it is built against it, and a
# header that disagrees with the library's own declarations stops the
# build.  Builds into a temporary directory; needs no GPU, no VM.  Ends
# with "N passed, N failed, N skipped".
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
cd "$MCX_TOP" || exit 2

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fake=$MCX_TOP/tests/unit/fake_cuda
cc=${CC:-cc}

# One check: name, then a command whose status decides it (its output is
# shown only when it fails).
expect() {		# name command...
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then
		mcx_result "$name" 0
	else
		mcx_result "$name" 1
		printf '%s\n' "$out" | tail -n 20 | sed 's/^/# /'
	fi
}
says() {		# file pattern: grep -q that prints the file when it fails
	grep -q -- "$2" "$1" || { cat "$1"; return 1; }
}
status() {		# make variables...: what the probe says
	make -s -C lib cuda-status BUILD="$tmp/status" "$@" 2>&1
}

# A cuda.h on the compiler's own path (a distribution's toolkit package)
# is found whatever CUDA_HOME says; the "not found" checks need none there.
system_cuda=$(printf '#include <cuda.h>\n' | $cc -x c -M - 2>/dev/null | tr ' \\' '\n\n' | grep '/cuda\.h$' | head -n1)

# ---- what the probe decides ----
status WITH_CUDA=no >"$tmp/s" 2>&1
expect "WITH_CUDA=no: compiled out, and said so" says "$tmp/s" "CUDA device memory: compiled out (WITH_CUDA=no)"
status CUDA_HOME="$fake" >"$tmp/s" 2>&1
expect "CUDA_HOME with a cuda.h: built against it, and said so" \
	says "$tmp/s" "CUDA device memory: built against $fake/include/cuda.h"
if [ -z "$system_cuda" ]; then
	status CUDA_HOME=/nonexistent >"$tmp/s" 2>&1
	expect "no cuda.h anywhere: compiled out, and the reason said" \
		says "$tmp/s" "compiled out (no cuda.h with dma-buf export under /nonexistent/include"
	status WITH_CUDA=yes CUDA_HOME=/nonexistent >"$tmp/s" 2>&1
	expect "WITH_CUDA=yes without cuda.h is an error" \
		says "$tmp/s" "WITH_CUDA=yes, but no cuda.h"
else
	mcx_skip "no cuda.h anywhere: compiled out" "$system_cuda is on the compiler's path"
	mcx_skip "WITH_CUDA=yes without cuda.h is an error" "$system_cuda is on the compiler's path"
fi
status WITH_CUDA=maybe >"$tmp/s" 2>&1
expect "WITH_CUDA=maybe is refused, naming the variable" \
	says "$tmp/s" "WITH_CUDA must be auto, yes or no, not 'maybe'"
cuda_home=${CUDA_HOME:-/usr/local/cuda}
if [ -f "$cuda_home/include/cuda.h" ]; then
	status CUDA_HOME="$cuda_home" >"$tmp/s" 2>&1
	expect "the installed toolkit ($cuda_home) is found" \
		says "$tmp/s" "built against $cuda_home/include/cuda.h"
else
	mcx_skip "the installed toolkit is found" "no CUDA toolkit under $cuda_home"
fi

# ---- a header that disagrees with the library's declarations ----
make -s -C lib BUILD="$tmp/skew" CUDA_HOME="$fake" WITH_CUDA=yes \
	CFLAGS="-O2 -DFAKE_CUDA_SKEW" "$tmp/skew/obj/mem/cuda_abi.o" >"$tmp/s" 2>&1
st=$?
expect "a cuda.h whose CUDA_ERROR_NOT_SUPPORTED differs stops the build" \
	test "$st" -ne 0
expect "and says which value differs" says "$tmp/s" "MCX_CU_ERROR_NOT_SUPPORTED differs from cuda.h"

# ---- the library built both ways ----
make -s -j2 -C lib BUILD="$tmp/with" WITH_CUDA=yes CUDA_HOME="$fake" >"$tmp/with.log" 2>&1
expect "built with CUDA (stand-in header)" test -f "$tmp/with/libmcxfer.so.0"
expect "and it holds the CUDA path (cuMemGetHandleForAddressRange)" \
	grep -q cuMemGetHandleForAddressRange "$tmp/with/libmcxfer.so.0"
make -s -j2 -C lib BUILD="$tmp/without" WITH_CUDA=no >"$tmp/without.log" 2>&1
expect "built without CUDA" test -f "$tmp/without/libmcxfer.so.0"
expect "and the build said so" says "$tmp/without.log" "libmcxfer: CUDA device memory: compiled out"
expect "and no CUDA entry point name is left in it" \
	bash -c "! grep -q -e cuMemGetHandleForAddressRange -e cuPointerGetAttributes '$tmp/without/libmcxfer.so.0'"

# At run time (a libfabric tcp engine on lo: no RDMA device needed).
$cc -std=c11 -Wall -Wextra -Werror -Iinclude -o "$tmp/cuda_out" tests/build/cuda_out.c \
	-L"$tmp/without" -Wl,-rpath,"$tmp/without" -lmcxfer -ldl >"$tmp/cc.log" 2>&1
expect "the run-time check builds against it" test -x "$tmp/cuda_out"
[ -x "$tmp/cuda_out" ] || sed 's/^/# /' "$tmp/cc.log"
mkdir -p "$tmp/driver"
$cc -std=c11 -Ilib -shared -fPIC -o "$tmp/driver/libcuda.so.1" tests/unit/fake_cuda/fake_cuda.c
if [ -x "$tmp/cuda_out" ]; then
	"$tmp/cuda_out" plain | sed 's/^/# plain: /'
	expect "run time, no CUDA driver loaded" test "${PIPESTATUS[0]}" -eq 0
	LD_LIBRARY_PATH="$tmp/driver" "$tmp/cuda_out" driver-loaded | sed 's/^/# driver-loaded: /'
	expect "run time, a CUDA driver loaded" test "${PIPESTATUS[0]}" -eq 0
fi

mcx_summary
