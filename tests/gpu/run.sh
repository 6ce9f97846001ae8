#!/bin/sh
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# GPU memory on a machine with an NVIDIA GPU: checks the library's own CUDA
# declarations against this machine's cuda.h when the toolkit is installed
# (lib/mem/cuda_abi.c, as the library's build does), then runs
# build/tests/gpu/gpu_test (built unless GPU_TEST names a binary).  Without
# a GPU it prints a skip and exits 0.  `run.sh bench` times dma-buf export.
set -e
top=$(cd "$(dirname "$0")/../.." && pwd)
cc=${CC:-cc}

cuda_inc=
for d in "${CUDA_HOME:-/nonexistent}/include" /usr/local/cuda/include /usr/include; do
	if [ -f "$d/cuda.h" ]; then cuda_inc=$d; break; fi
done
if [ -n "$cuda_inc" ] && [ "$1" != bench ]; then
	if $cc -std=c11 -fsyntax-only -I"$cuda_inc" -I"$top/lib" "$top/lib/mem/cuda_abi.c"; then
		echo "cuda-check: lib/mem/cuda.h agrees with $cuda_inc/cuda.h (lib/mem/cuda_abi.c)"
	else
		echo "cuda-check: lib/mem/cuda.h disagrees with $cuda_inc/cuda.h"
		echo "gpu: 0 passed, 1 failed, 0 skipped"
		exit 1
	fi
else
	[ "$1" = bench ] || echo "cuda-check: no cuda.h here, skipped"
fi

bin=${GPU_TEST:-$top/build/tests/gpu/gpu_test}
if [ -z "$GPU_TEST" ]; then
	make -s -C "$top/tests/gpu" >/dev/null
fi
exec "$bin" "$@"
