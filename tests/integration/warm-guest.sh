#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Guest half of the warm-start integration test, run by run-vm.sh in both
# guests of tests/vm/run-pair.sh --links 2 (rxe0 and rxe1 in each).
#
# Guest A (MCXFER_HOST_INDEX 0) leads: it runs processes A (warm_test make:
# named memory registered cold) and B (warm_test serve: the name opened
# warm and served), revokes and evicts, changes the module's parameters
# (linger_ms, user_max_pinned_bytes: writable at run time) and unloads it,
# and prints one TAP line per case.  Guest B is the peer: it listens on
# rail 0, port 7495 (busybox nc) for the leader's "write ARGS" lines, runs
# warm_test write ARGS for each (the peer writing and reading through
# process B) and answers "rc STATUS".
#
# Cases on 6.12 (udmabuf): warm open after process A exited, and after it
# was SIGKILLed, with a peer's random pattern written, read back and
# checked by B; owner revoke while B serves (the peer's next requests fail
# with an error, not a hang; B's registration reports dead); registry
# stats back to zero after each; linger expiry (B finds nothing and
# registers cold); registry=required without the module and with the
# module refusing (per-user cap); another uid (SHARE_ALL: it pins and maps
# the memory, gets no MR handles, and its own registration on soft-RoCE
# fails with a clear error).  On 6.1 (no udmabuf): the MEMFD source fails
# with -EOPNOTSUPP naming udmabuf, and the two registry=required cases
# (with a vgem dma-buf); the rest is skipped with the reason.
#
# A warm open needs the user's shared device context; where this build
# keeps contexts private, the warm cases report SKIP with that reason
# (counted as skipped, never as passed).
#
# The leader's output is kept in $MCXFER_RESULTS/warm-test.log and ends
# with "N passed, N failed, N skipped"; the peer's log ends the same way.

set -u
# shellcheck source=tests/vm/guest-lib.sh
. tests/vm/guest-lib.sh

WT=$MCXFER_REPO/build/tests/warm_test
TOOL=$MCXFER_REPO/build/tools/mcxfer-tool
DEVS=rxe0,rxe1
CTL_PORT=7495
LOG=$MCXFER_RESULTS/warm-test.log
PARAMS=/sys/module/mcxfer/parameters

# The guest has no /dev/fd for a process substitution: run again under tee.
if [ -z "${WARM_GUEST_LOGGED:-}" ]; then
	WARM_GUEST_LOGGED=1 "$0" "$@" 2>&1 | tee "$LOG"
	exit "${PIPESTATUS[0]}"
fi

passed=0 failed=0 skipped=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $1"; }
skip() { skipped=$((skipped + 1)); echo "ok - $1 # SKIP $2"; }
check() {		# name status
	if [ "$2" -eq 0 ]; then ok "$1"; else not_ok "$1"; fi
}
summary() {
	echo "$passed passed, $failed failed, $skipped skipped"
	[ "$failed" -eq 0 ]
}
finish() {
	summary
	exit $?
}

if [ "${MCXFER_LINKS:-1}" -lt 2 ]; then
	echo "warm-guest: needs two links (run-pair.sh --links 2), have ${MCXFER_LINKS:-1}"
	not_ok "rig has two links"
	finish
fi
for f in "$WT" "$TOOL"; do
	[ -x "$f" ] || { not_ok "$f is built"; finish; }
done

# ---- guest B: the peer ----

if [ "$MCXFER_HOST_INDEX" != 0 ]; then
	coproc NC { busybox nc -l -p "$CTL_PORT"; }
	served=0 done=0
	while read -r -t 1500 cmd args <&"${NC[0]}"; do
		case $cmd in
		write)
			# 256 MiB over soft-RoCE under emulation takes seconds, and
			# more on a loaded host: a request's deadline (MCX_TIMEOUT_MS,
			# 10 s by default) must not be what decides.  A revoked
			# registration fails at once (refused key), not by timing out.
			# shellcheck disable=SC2086
			MCX_TIMEOUT_MS=120000 "$WT" write $args --devices "$DEVS" 2>&1 |
				sed 's/^/  peer: /'
			rc=${PIPESTATUS[0]}
			echo "rc $rc" >&"${NC[1]}"
			served=$((served + 1))
			;;
		done) done=1; break ;;
		*) echo "peer: unknown command '$cmd'"; echo "rc 2" >&"${NC[1]}" ;;
		esac
	done
	[ $done = 1 ]
	check "peer: the leader's session ended normally ($served writer runs)" $?
	kill "$NC_PID" 2>/dev/null
	finish
fi

# ---- guest A: the leader ----

HOST_A=$(mcx_local_addr 0)
CASE_PORT=7500
NAME_SEQ=0
modparam() { echo "$2" >"$PARAMS/$1"; }
kernel_has_udmabuf() { [ -c /dev/udmabuf ]; }

# The peer's control connection, fd 9; retried until its listener is up.
connect_peer() {
	local peer
	peer=$(mcx_peer_addr 0)
	for _ in $(seq 240); do
		{ exec 9<>"/dev/tcp/$peer/$CTL_PORT"; } 2>/dev/null && return 0
		sleep 1
	done
	return 1
}

# A fresh name in NAME (not in a subshell: the count must move on).
next_name() {
	NAME_SEQ=$((NAME_SEQ + 1))
	NAME=warm/t$NAME_SEQ
}

# make NAME SIZE ARGS...: process A; sets ENTRY.
make_a() {
	local out rc
	out=$("$WT" make "$@" --devices "$DEVS" 2>&1)
	rc=$?
	echo "$out" | sed 's/^/  A: /'
	ENTRY=$(echo "$out" | sed -n 's/^make: entry \([0-9]*\) .*/\1/p')
	# SIGKILL leaves 137, the rest is make's own status.
	return $rc
}

# Evict entry $1 once nobody holds it, then the registry must be empty.
evict_and_zero() {
	local what=$1 id=$2 out
	if [ -n "$id" ]; then
		"$TOOL" evict "$id" 2>&1 | sed 's/^/  /'
	fi
	out=$("$WT" zero 2>&1)
	check "$what: registry stats back to zero (${out#zero: })" $?
}

# serve_case WHAT KILL SERVE_ARGS -- WRITER_ARGS: make (exit or SIGKILL),
# serve warm, peer writes; a revoke while serving when WHAT says so.
serve_case() {
	local what=$1 kill=$2 revoke=$3 name port log serve rc wrc make_rc
	next_name
	name=$NAME
	CASE_PORT=$((CASE_PORT + 1))
	port=$CASE_PORT
	log=/tmp/serve-$NAME_SEQ.log
	echo "# $what: process A registers 256 MiB as $name${kill:+, then is SIGKILLed}"
	make_a "$name" 256M ${kill:+"$kill"}
	make_rc=$?
	local want=0 ends=exited
	[ -n "$kill" ] && want=137 ends="was killed"
	if [ $make_rc != $want ] || [ -z "$ENTRY" ]; then
		not_ok "$what: process A registers 256 MiB cold and $ends (status $make_rc)"
		evict_and_zero "$what" "$ENTRY"
		return
	fi
	ok "$what: process A registered entry $ENTRY cold and $ends"
	local sargs=(--expect-warm)
	[ "$revoke" = revoke ] && sargs+=(--expect-revoke)
	"$WT" serve "$name" "0.0.0.0:$port" "${sargs[@]}" --devices "$DEVS" --timeout 600 >"$log" 2>&1 &
	serve=$!
	for _ in $(seq 1200); do
		grep -q '^serving' "$log" && break
		kill -0 $serve 2>/dev/null || break
		sleep 0.25
	done
	if ! grep -q '^serving' "$log"; then
		wait $serve
		rc=$?
		sed 's/^/  B: /' "$log"
		if [ $rc = 77 ]; then
			skip "$what: process B opens warm and serves" "$(sed -n 's/^SKIP: //p' "$log")"
		else
			not_ok "$what: process B opens warm and serves (status $rc)"
		fi
		evict_and_zero "$what" "$ENTRY"
		return
	fi
	local wargs=(--seed "$RANDOM$RANDOM")
	[ "$revoke" = revoke ] && wargs+=(--expect-fail-after)
	echo "write $HOST_A:$port ${wargs[*]}" >&9
	if [ "$revoke" = revoke ]; then
		for _ in $(seq 2400); do
			grep -q '^serve: verified' "$log" && break
			kill -0 $serve 2>/dev/null || break
			sleep 0.25
		done
		echo "  \$ mcxfer-tool evict --revoke $ENTRY"
		"$TOOL" evict --revoke "$ENTRY" 2>&1 | sed 's/^/  /'
	fi
	read -r -t 900 _ wrc <&9 || wrc=124
	wait $serve
	rc=$?
	sed 's/^/  B: /' "$log"
	if [ "$revoke" = revoke ]; then
		check "$what: the peer's requests fail cleanly after the revoke (writer status $wrc)" "$wrc"
		check "$what: process B verified the peer's bytes, then its registration reports dead (status $rc)" "$rc"
		evict_and_zero "$what" ""
	else
		check "$what: the peer wrote and read back a random pattern through process B (writer status $wrc)" "$wrc"
		check "$what: process B opened warm (no reg_mr) and verified the peer's bytes (status $rc)" "$rc"
		evict_and_zero "$what" "$ENTRY"
	fi
}

# A writer in this guest, next to the published contexts, joins them
# (soft-RoCE cannot import): its initiating paths live in the private
# context, whose CQ is made by the first of them, not at engine creation.
# It writes, reads back and stamps through process B, serving warm.
local_writer_case() {
	local what="local writer" name port log serve rc wrc out
	next_name
	name=$NAME
	CASE_PORT=$((CASE_PORT + 1))
	port=$CASE_PORT
	log=/tmp/serve-$NAME_SEQ.log
	echo "# $what: process A registers 16 MiB as $name; B serves it warm; a writer in this guest initiates"
	if ! make_a "$name" 16M || [ -z "$ENTRY" ]; then
		not_ok "$what: process A registers 16 MiB cold"
		evict_and_zero "$what" "$ENTRY"
		return
	fi
	"$WT" serve "$name" "0.0.0.0:$port" --expect-warm --devices "$DEVS" --timeout 600 >"$log" 2>&1 &
	serve=$!
	for _ in $(seq 1200); do
		grep -q '^serving' "$log" && break
		kill -0 $serve 2>/dev/null || break
		sleep 0.25
	done
	if ! grep -q '^serving' "$log"; then
		wait $serve
		rc=$?
		sed 's/^/  B: /' "$log"
		if [ $rc = 77 ]; then
			skip "$what: joined engine initiates through process B" "$(sed -n 's/^SKIP: //p' "$log")"
		else
			not_ok "$what: process B opens warm and serves (status $rc)"
		fi
		evict_and_zero "$what" "$ENTRY"
		return
	fi
	out=$(MCX_TIMEOUT_MS=120000 "$WT" write "$HOST_A:$port" --seed "$RANDOM$RANDOM" \
		--expect-joined --devices "$DEVS" 2>&1)
	wrc=$?
	echo "$out" | sed 's/^/  W: /'
	wait $serve
	rc=$?
	sed 's/^/  B: /' "$log"
	check "$what: an engine in the joined context makes its CQ on first use, writes and reads back through process B (status $wrc)" "$wrc"
	check "$what: process B verified the writer's bytes (status $rc)" "$rc"
	evict_and_zero "$what" "$ENTRY"
}

linger_case() {
	local name old out rc
	next_name
	name=$NAME
	old=$(cat $PARAMS/linger_ms)
	modparam linger_ms 1000
	echo "# linger: linger_ms=1000; process A registers 16 MiB as $name and exits"
	make_a "$name" 16M
	rc=$?
	if [ $rc != 0 ]; then
		not_ok "linger: process A registers (status $rc)"
		modparam linger_ms "$old"
		return
	fi
	sleep 3
	out=$("$WT" serve "$name" 0.0.0.0:0 --fallback 16M --devices "$DEVS" 2>&1)
	rc=$?
	echo "$out" | sed 's/^/  B: /'
	check "linger: after expiry process B finds no entry (ENOENT) and registers cold" $rc
	modparam linger_ms "$old"
	"$TOOL" evict --idle 2>&1 | sed 's/^/  /'
	out=$("$WT" zero 2>&1)
	check "linger: registry stats back to zero (${out#zero: })" $?
}

# The two registry=required errors; $1 is the source of the memory.
required_cases() {
	local src=$1 old out rc
	echo "# registry=required without the module"
	if mcx_module_unload; then
		next_name
		out=$(MCX_REGISTRY=required "$WT" make "$NAME" 4M --src "$src" \
			--expect-err ENODEV --devices "$DEVS" 2>&1)
		rc=$?
		echo "$out" | sed 's/^/  /'
		echo "$out" | grep -q 'registry=required (MCX_REGISTRY): /dev/mcxfer cannot be used' || rc=1
		check "registry=required without the module: engine creation fails with ENODEV, naming the option" $rc
		if ! mcx_module_load; then
			not_ok "the module loads again"
			finish
		fi
	else
		not_ok "registry=required without the module: the module unloads"
	fi
	echo "# registry=required with the module refusing: user_max_pinned_bytes=1M, 4 MiB asked"
	old=$(cat $PARAMS/user_max_pinned_bytes)
	modparam user_max_pinned_bytes 1048576
	next_name
	out=$(MCX_REGISTRY=required "$WT" make "$NAME" 4M --src "$src" \
		--expect-err EDQUOT --devices "$DEVS" 2>&1)
	rc=$?
	modparam user_max_pinned_bytes "$old"
	echo "$out" | sed 's/^/  /'
	echo "$out" | grep -q 'pinning through /dev/mcxfer failed' || rc=1
	check "registry=required, module over its per-user cap: register_named fails with EDQUOT, named" $rc
}

other_uid_case() {
	local name out rc
	next_name
	name=$NAME
	echo "# another uid: process A (root) registers 16 MiB as $name, shared with all"
	make_a "$name" 16M --share all || { not_ok "other uid: process A registers (status $?)"; return; }
	# devtmpfs makes nodes 0600; the udev rule's group and modes are not here.
	chmod 0666 /dev/mcxfer /dev/infiniband/uverbs* 2>/dev/null
	# Its own MRs must fail for what they are, not for RLIMIT_MEMLOCK.
	out=$(prlimit --memlock=unlimited:unlimited setpriv --reuid=65534 --regid=65534 \
		--clear-groups "$WT" other "$name" 0 --expect-own fail --devices "$DEVS" 2>&1)
	rc=$?
	echo "$out" | sed 's/^/  nobody: /'
	echo "$out" | grep -q "only its owner's shared device context can serve it" || rc=1
	check "other uid: pins and maps a SHARE_ALL entry, sees the bytes, gets EPERM for MR handles; its own registration on soft-RoCE fails with a clear error (a PFN mapping, no dma-buf MRs)" $rc
	chmod 0600 /dev/mcxfer /dev/infiniband/uverbs* 2>/dev/null
	evict_and_zero "other uid" "$ENTRY"
}

echo "warm start on $(uname -r): devices $DEVS, process B serves on $HOST_A"
# udmabuf refuses buffers over size_limit_mb (64 by default).
if [ -w /sys/module/udmabuf/parameters/size_limit_mb ]; then
	echo 1024 >/sys/module/udmabuf/parameters/size_limit_mb
fi
if ! connect_peer; then
	not_ok "the peer's control listener answers"
	finish
fi
if kernel_has_udmabuf; then
	serve_case "exit" "" ""
	serve_case "SIGKILL" --kill ""
	serve_case "revoke" "" revoke
	local_writer_case
	linger_case
	required_cases memfd
	other_uid_case
else
	why="no udmabuf on $(uname -r): host memory cannot become a dma-buf, and vgem's mapping is VM_PFNMAP (reg_mr refuses it) and soft-RoCE has no dma-buf MRs"
	next_name
	out=$("$WT" make "$NAME" 4M --expect-err EOPNOTSUPP --devices "$DEVS" 2>&1)
	rc=$?
	echo "$out" | sed 's/^/  /'
	echo "$out" | grep -q udmabuf || rc=1
	check "MCX_NAMED_MEMFD without udmabuf: EOPNOTSUPP, and the message names udmabuf" $rc
	required_cases vgem
	for c in "exit: warm open and a peer's pattern through process B" \
		"SIGKILL: warm open and a peer's pattern through process B" \
		"revoke while process B serves" "local writer: joined engine initiates" \
		"linger expiry: cold fallback" \
		"another uid: pin, map, no MR handles"; do
		skip "$c" "$why"
	done
fi
echo "done" >&9
finish
