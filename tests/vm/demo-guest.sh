#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Guest half of `make demo` (tests/vm/demo.sh), run in both guests of
# tests/vm/run-pair.sh --links 2:
#
#   host A: process A registers NAME (SIZE bytes of a memfd, exported) with
#           both NICs through /dev/mcxfer and exits; process B opens NAME
#           warm and serves it; the registry is shown with mcxfer-tool at
#           each step.
#   host B: a peer writes a seeded pattern into the memory through process
#           B, reads it back, and stamps the end; process B then checks
#           every byte.
#
#   tests/vm/demo-guest.sh [NAME] [SIZE] [--kill]    (default demo/kv0, 64M)
#
# --kill: process A dies by SIGKILL instead of exiting.

set -u
# shellcheck source=tests/vm/guest-lib.sh
. tests/vm/guest-lib.sh

NAME=${1:-demo/kv0}
SIZE=${2:-64M}
KILL=${3:-}
TOOL=$MCXFER_REPO/build/tools/mcxfer-tool
DEMO=$MCXFER_REPO/build/tests/warm_demo
PORT=7490

for f in "$TOOL" "$DEMO"; do
	[ -x "$f" ] || { echo "demo: $f is missing: run 'make all' first" >&2; exit 1; }
done

if [ "$MCXFER_HOST_INDEX" != 0 ]; then
	# host B: wait for process B's listener, then write through it.
	peer="$(mcx_peer_addr 0):$PORT"
	echo "host B: waiting for process B on $peer"
	# The guest has no /dev/fd, so no process substitution: filter after.
	mcx_retry 240 "$DEMO" write "$peer" --devices rxe0,rxe1 --seed "$RANDOM$RANDOM" \
		2>/tmp/write.err
	rc=$?
	grep -v -e 'Connection refused' -e 'ECONNREFUSED' /tmp/write.err >&2
	exit $rc
fi

step=0
heading() {
	step=$((step + 1))
	printf '\n== %d. %s\n' "$step" "$*"
}

registry() {
	echo "   \$ mcxfer-tool list"
	"$TOOL" list 2>&1 | sed 's/^/   | /'
}

printf 'mcxfer demo: kernel %s, soft-RoCE devices %s\n' \
	"$(uname -r)" "$(ls /sys/class/infiniband | paste -sd' ')"
if [ ! -c /dev/udmabuf ]; then
	echo "demo: this kernel has no udmabuf, so host memory cannot be pinned as a dma-buf;" >&2
	echo "      run the demo on 6.12 (tests/vm/demo.sh --kernel 6.12)" >&2
	exit 1
fi

heading "the registry before anything is registered"
registry

heading "process A registers $SIZE as '$NAME' with rxe0 and rxe1 (cold)${KILL:+, then is killed}"
"$DEMO" make "$NAME" "$SIZE" --devices rxe0,rxe1 $KILL 2>&1 | sed 's/^/   /'
registry

heading "process B opens '$NAME' (warm) and serves it on port $PORT"
"$DEMO" serve "$NAME" "0.0.0.0:$PORT" --devices rxe0,rxe1 >/tmp/serve.out 2>&1 &
serve=$!
for _ in $(seq 600); do
	grep -q 'serving' /tmp/serve.out && break
	kill -0 $serve 2>/dev/null || break
	sleep 0.2
done
sed 's/^/   /' /tmp/serve.out
shown=$(wc -l </tmp/serve.out)
registry

heading "host B writes into it through process B; process B checks the bytes"
wait $serve
rc=$?
tail -n +$((shown + 1)) /tmp/serve.out | sed 's/^/   /'
[ $rc = 0 ] || { echo "demo: process B failed ($rc)"; exit 1; }

heading "process B is gone: the entry lingers warm for the next one"
registry

heading "evict it; the registry is empty again"
"$TOOL" evict --idle 2>&1 | sed 's/^/   /'
"$TOOL" info 2>&1 | grep -E 'entries|bytes pinned|mrs|contexts' | sed 's/^/   /'
