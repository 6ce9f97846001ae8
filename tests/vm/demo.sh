#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# `make demo`: the headline on the VM rig.  Two Debian guests under QEMU,
# joined by two soft-RoCE links (tests/vm/run-pair.sh): on host A, process
# A registers named memory with both NICs and exits; process B comes up
# warm, registering nothing, and serves it; host B writes into it through
# process B.  See tests/vm/demo-guest.sh.
#
#   tests/vm/demo.sh [--kernel 6.12] [--timeout SEC] [--name NAME] [--size SIZE] [--kill]
#
# Defaults: kernel 6.12 (6.1 has no udmabuf to pin host memory with),
# timeout 600, name demo/kv0, size 64M.  Needs `make all` and the
# integration programs first (the top-level `make demo` builds them).

set -u
VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$VM_DIR/../.." && pwd)

SERIES=6.12
TIMEOUT=600
NAME=demo/kv0
SIZE=64M
KILL=
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) SERIES=${2:?--kernel needs 6.1 or 6.12}; shift 2 ;;
	--timeout) TIMEOUT=${2:?--timeout needs seconds}; shift 2 ;;
	--name) NAME=${2:?--name needs a name}; shift 2 ;;
	--size) SIZE=${2:?--size needs a size}; shift 2 ;;
	--kill) KILL=--kill; shift ;;
	-h | --help) sed -n '4,14s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
	*) echo "demo.sh: unknown argument '$1'" >&2; exit 2 ;;
	esac
done

KVER=$(. "$VM_DIR/lib.sh" && vm_kver_for "$SERIES") || exit 125
for f in build/tools/mcxfer-tool build/tests/warm_demo; do
	[ -x "$REPO/$f" ] || { echo "demo.sh: $f is missing: run 'make all' first" >&2; exit 1; }
done
if [ ! -f "$REPO/build/kmod/$KVER/mcxfer.ko" ]; then
	echo "demo.sh: building mcxfer.ko for $KVER"
	make -s -C "$REPO/kmod" KVER="$KVER" || exit 1
fi

echo "demo.sh: booting two Debian $KVER guests under QEMU (TCG; about a minute)"
exec "$VM_DIR/run-pair.sh" --kernel "$SERIES" --links 2 --timeout "$TIMEOUT" \
	--results "$REPO/build/vm/demo-$SERIES" \
	--a "tests/vm/demo-guest.sh '$NAME' '$SIZE' $KILL" \
	--b "tests/vm/demo-guest.sh '$NAME' '$SIZE'"
