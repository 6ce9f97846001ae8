#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Guest half of `make demo` (tests/vm/demo.sh): two processes share one
# buffer by name through /dev/mcxfer, and the registry is shown with
# mcxfer-tool at each step.
#
#   tests/vm/demo-guest.sh [NAME] [SIZE]     (default demo/kv0, 16M)
#
# Process 1 makes a host dma-buf (udmabuf or vgem, standing in for GPU
# memory), fills it and pins it under NAME; process 2 finds it by name
# alone, gets its own dma-buf fd and checks the bytes.  Process 1 then
# exits: the entry lingers, still pinned, and a new process finds it warm.

set -u
# shellcheck source=tests/vm/guest-lib.sh
. tests/vm/guest-lib.sh

NAME=${1:-demo/kv0}
SIZE=${2:-16M}
TOOL=$MCXFER_REPO/build/tools/mcxfer-tool
DEMO=$MCXFER_REPO/build/tests/demo_share
WORK=$(mktemp -d /tmp/demo.XXXXXX)
OWNER_PID=

for f in "$TOOL" "$DEMO"; do
	[ -x "$f" ] || { echo "demo: $f is missing: run 'make all' first" >&2; exit 1; }
done

step=0
heading() {
	step=$((step + 1))
	printf '\n== %d. %s\n' "$step" "$*"
}

# Indent a program's output under the step that ran it.
show() {
	local label=$1
	sed -u "s/^/   $label /"
}

registry() {
	echo "   \$ mcxfer-tool list"
	"$TOOL" list 2>&1 | show "|"
	echo "   \$ mcxfer-tool info"
	"$TOOL" info 2>&1 | show "|"
}

# Lines process 1 printed since the last call.
owner_seen=0
owner_news() {
	local n
	n=$(wc -l <"$WORK/owner.out")
	if [ "$n" -gt "$owner_seen" ]; then
		tail -n +$((owner_seen + 1)) "$WORK/owner.out" | head -n $((n - owner_seen)) |
			show "[process 1]"
		owner_seen=$n
	fi
}

cleanup() {
	[ -n "$OWNER_PID" ] && kill "$OWNER_PID" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT

printf 'mcxfer demo: kernel %s, dma-buf exporter %s, soft-RoCE device(s) %s\n' \
	"$(uname -r)" "$([ -c /dev/udmabuf ] && echo udmabuf || echo vgem)" \
	"$(ls /sys/class/infiniband | paste -sd' ')"

heading "the registry before anything is pinned"
registry

heading "process 1 makes a $SIZE dma-buf, fills it and pins it as '$NAME'"
mkfifo "$WORK/owner.in"
"$DEMO" owner "$NAME" "$SIZE" <"$WORK/owner.in" >"$WORK/owner.out" 2>&1 &
OWNER_PID=$!
# Holding the fifo open keeps process 1 alive; closing it tells it to exit.
exec 3>"$WORK/owner.in"
for _ in $(seq 300); do
	grep -q 'holding it' "$WORK/owner.out" && break
	kill -0 "$OWNER_PID" 2>/dev/null || break
	sleep 0.1
done
owner_news
grep -q 'holding it' "$WORK/owner.out" || { echo "demo: process 1 failed" >&2; exit 1; }
echo "   (process 1 is pid $OWNER_PID and keeps running)"

heading "process 2 finds '$NAME' by name, maps its own fd of it and checks the bytes"
"$DEMO" peer "$NAME" 2>&1 | show "[process 2]"
[ "${PIPESTATUS[0]}" = 0 ] || { echo "demo: process 2 failed" >&2; exit 1; }

heading "the registry while process 1 holds the buffer"
registry

heading "process 1 exits"
exec 3>&-
wait "$OWNER_PID"
st=$?
OWNER_PID=
owner_news
[ "$st" = 0 ] || { echo "demo: process 1 exited with $st" >&2; exit 1; }

heading "the registry after process 1 exited: the entry lingers, still pinned"
registry
# The rest of the story depends on it: say so plainly if it is not true.
"$TOOL" list | grep -E " $NAME .* linger " >/dev/null ||
	{ echo "demo: '$NAME' should be lingering now, but is not listed so" >&2; exit 1; }

heading "a new process finds '$NAME' warm: same buffer, same bytes, no new pin"
"$DEMO" peer "$NAME" 2>&1 | show "[process 3]"
[ "${PIPESTATUS[0]}" = 0 ] || { echo "demo: process 3 failed" >&2; exit 1; }
registry

printf '\ndemo done: the buffer was shared by name and outlived its first owner\n'
