#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Run a command inside a Debian kernel booted under QEMU (TCG), with
# soft-RoCE, a dma-buf exporter and the mcxfer module loaded.
#
#   tests/vm/run.sh [options] -- CMD [ARGS...]
#
#   --kernel 6.1|6.12|debug
#                         kernel to boot (default 6.12): a Debian series,
#                         the release of the newest installed
#                         /usr/src/linux-headers-<series>.*-amd64, or the
#                         debug kernel built from linux-source-6.1 with
#                         KASAN, lockdep, kmemleak and UBSAN
#                         (tests/vm/debug-kernel.sh, which also builds
#                         mcxfer.ko for it with --module)
#   --timeout SEC         bound on the whole boot (default 600); qemu is
#                         killed after it and run.sh returns 124
#   --results DIR         read-write results dir (default
#                         build/vm/results/<series>-<time>-<pid>)
#   --module-params "..." parameters for insmod mcxfer.ko
#   --no-module           do not load mcxfer.ko
#   --mem MB              guest memory (default 1024, or $MCXFER_VM_MEM;
#                         2048 for the debug kernel)
#   --smp N               guest CPUs (default 2, or $MCXFER_VM_SMP; on a
#                         host with few, busy cores 1 boots faster)
#   --quiet               do not stream the guest console
#
# The guest mounts the host root read-only over 9p and chroots into it, so
# every host path (this repo included) is the same inside; /tmp, /run,
# /var/tmp and /dev are fresh and writable (HOME=/tmp/home), so the host's
# /tmp is NOT visible: keep scripts and inputs under the repo (build/ is
# fine) or the results dir.  CMD's stdin is /dev/null.  Before CMD runs:
# eth0 (virtio-net, MTU 9000, 169.254.1.1/24), crc32_generic, rdma_rxe with
# rxe0 on eth0, ib_uverbs, rdma_ucm, vgem and/or udmabuf, and unless --no-module
# build/kmod/<KVER>/mcxfer.ko.  CMD runs as root in the repo root with
# MCXFER_KVER, MCXFER_KERNEL, MCXFER_RESULTS, MCXFER_MODROOT, MCXFER_REPO,
# MCXFER_HOST_INDEX=0, MCXFER_LINKS=1, MCXFER_LOCAL_ADDRS set; guest scripts
# may source tests/vm/guest-lib.sh.  Afterwards mcxfer is unloaded if
# possible and the kernel log is checked for WARNING/BUG/Oops/lockdep/KASAN/
# general protection/possible circular/blocked tasks.
#
# Exit status: CMD's status; 123 if CMD succeeded but the kernel log shows a
# problem; 124 on timeout; 125 if the rig failed (no boot, setup error,
# module missing, panic).  The results dir keeps console.log, dmesg.txt,
# cmd-status, rig-status and rig-error.
#
# The kernel packages and the initramfs are cached in
# ${MCXFER_VM_CACHE:-$HOME/.cache/mcxfer-vm}.  Needs qemu-system-x86,
# busybox-static, cpio, xz-utils, zstd, kmod, iproute2, rdma-core and the
# Debian headers packages of the kernels (linux-headers-amd64,
# linux-headers-6.12-amd64).

set -u
# shellcheck source=tests/vm/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
	sed -n '/^# Run a command/,/^# linux-headers-6.12/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
	exit "${1:-0}"
}

VM_SERIES=6.12
TIMEOUT=600
RESULTS=
VM_MODULE_PARAMS=
VM_NO_MODULE=0
MEM=${MCXFER_VM_MEM:-}
SMP=${MCXFER_VM_SMP:-2}
VM_QUIET=0
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) VM_SERIES=${2:?--kernel needs 6.1, 6.12 or debug}; shift 2 ;;
	--timeout) TIMEOUT=${2:?--timeout needs seconds}; shift 2 ;;
	--results) RESULTS=${2:?--results needs a dir}; shift 2 ;;
	--module-params) VM_MODULE_PARAMS=${2?--module-params needs a string}; shift 2 ;;
	--no-module) VM_NO_MODULE=1; shift ;;
	--mem) MEM=${2:?--mem needs MB}; shift 2 ;;
	--smp) SMP=${2:?--smp needs a count}; shift 2 ;;
	--quiet) VM_QUIET=1; shift ;;
	-h | --help) usage 0 ;;
	--) shift; break ;;
	*) echo "run.sh: unknown option '$1'" >&2; usage 2 >&2 ;;
	esac
done
[ $# -gt 0 ] || { echo "run.sh: no command given after --" >&2; usage 2 >&2; }
[ -n "$MEM" ] || MEM=$(vm_default_mem "$VM_SERIES")
for v in "$TIMEOUT" "$MEM" "$SMP"; do
	case $v in
	'' | *[!0-9]*) vm_die "--timeout, --mem and --smp take whole numbers, not '$v'" ;;
	esac
done
VM_CMD=("$@")

vm_prepare "$VM_SERIES"
[ -n "$RESULTS" ] ||
	RESULTS="$REPO_ROOT/build/vm/results/$VM_SERIES-$(date +%Y%m%d-%H%M%S)-$$"
RESULTS=$(vm_results_dir "$RESULTS") || exit 125
vm_check_module
vm_write_config "$RESULTS" 0 1 "$(vm_addr 0 0)" ""

trap 'kill -TERM "$VM_PID" 2>/dev/null' INT TERM
start=$SECONDS
vm_launch "$RESULTS" "$TIMEOUT" "$MEM" "$SMP" "" \
	-netdev user,id=net0,restrict=on \
	-device virtio-net-pci,netdev=net0,mac=52:54:00:4d:00:00,romfile=
vm_collect "$RESULTS" "$VM_PID" "$VM_TAIL_PID" "$TIMEOUT" "vm $VM_SERIES"
st=$?
vm_log "kernel $VM_KVER, status $st after $((SECONDS - start))s; results in $RESULTS"
exit "$st"
