#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# `make demo`: boot a Debian kernel under QEMU with soft-RoCE and mcxfer.ko
# (tests/vm/run.sh), and show two processes sharing a buffer by name through
# the registry (tests/vm/demo-guest.sh).
#
#   tests/vm/demo.sh [--kernel 6.1|6.12] [--timeout SEC] [--name NAME] [--size SIZE]
#
# Defaults: kernel 6.12, timeout 300, name demo/kv0, size 16M.  Needs
# `make all` first (the top-level `make demo` does it); the module for a
# kernel other than the default build's is built here when missing.

set -u
VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$VM_DIR/../.." && pwd)

SERIES=6.12
TIMEOUT=300
NAME=demo/kv0
SIZE=16M
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) SERIES=${2:?--kernel needs 6.1 or 6.12}; shift 2 ;;
	--timeout) TIMEOUT=${2:?--timeout needs seconds}; shift 2 ;;
	--name) NAME=${2:?--name needs a name}; shift 2 ;;
	--size) SIZE=${2:?--size needs a size}; shift 2 ;;
	-h | --help) sed -n '4,12s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
	*) echo "demo.sh: unknown argument '$1'" >&2; exit 2 ;;
	esac
done

KVER=$(. "$VM_DIR/lib.sh" && vm_kver_for "$SERIES") || exit 125
for f in build/tools/mcxfer-tool build/tests/demo_share; do
	[ -x "$REPO/$f" ] || { echo "demo.sh: $f is missing: run 'make all' first" >&2; exit 1; }
done
if [ ! -f "$REPO/build/kmod/$KVER/mcxfer.ko" ]; then
	echo "demo.sh: building mcxfer.ko for $KVER"
	make -s -C "$REPO/kmod" KVER="$KVER" || exit 1
fi

echo "demo.sh: booting Debian $KVER under QEMU (TCG; about half a minute)"
exec "$VM_DIR/run.sh" --kernel "$SERIES" --timeout "$TIMEOUT" \
	--results "$REPO/build/vm/demo-$SERIES" -- tests/vm/demo-guest.sh "$NAME" "$SIZE"
