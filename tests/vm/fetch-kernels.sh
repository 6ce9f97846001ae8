#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Fetch and unpack the Debian kernels the rig boots and build their
# initramfs, ahead of time (run.sh does the same on demand).
#
#   tests/vm/fetch-kernels.sh [6.1] [6.12]     (default: both)
#
# Each kernel is the release of the newest installed
# /usr/src/linux-headers-<series>.*-amd64, so that it matches the headers
# mcxfer.ko is built against; its linux-image package is fetched with
# apt-get download into ${MCXFER_VM_CACHE:-$HOME/.cache/mcxfer-vm}.

set -u
# shellcheck source=tests/vm/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case ${1:-} in
-h | --help) sed -n '4,12s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
esac
[ $# -gt 0 ] || set -- 6.1 6.12
for series in "$@"; do
	vm_prepare "$series"
	echo "$series: $VM_KVER"
	echo "  kernel    $VM_KERNEL_IMG"
	echo "  modules   $VM_ROOT/lib/modules/$VM_KVER"
	echo "  initramfs $VM_INITRD"
done
