#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Guest half of the transfer integration test, run by run-vm.sh in both
# guests of tests/vm/run-pair.sh --links 2: guest A (MCXFER_HOST_INDEX 0)
# is xfer_test's role a and listens for the control connection on its
# rail-0 address; guest B connects to it.  Each engine listens on
# 0.0.0.0:7481 and uses rxe0 and rxe1; the victim process's engine listens
# on 7482 and the keyed engine of the authentication tests on 7483.  The
# output is kept in $MCXFER_RESULTS/xfer-test.log; the exit status is
# xfer_test's.

set -u
# shellcheck source=tests/vm/guest-lib.sh
. tests/vm/guest-lib.sh

if [ "${MCXFER_LINKS:-1}" -lt 2 ]; then
	echo "xfer-guest: needs two links (run-pair.sh --links 2), have ${MCXFER_LINKS:-1}" >&2
	echo "0 passed, 1 failed" | tee "$MCXFER_RESULTS/xfer-test.log"
	exit 1
fi
if [ "$MCXFER_HOST_INDEX" = 0 ]; then
	role=a
	ctl="$(mcx_local_addr 0):7480"
else
	role=b
	ctl="$(mcx_peer_addr 0):7480"
fi
peer="$(mcx_peer_addr 0):7481"
build/tests/xfer_test --role "$role" --ctl "$ctl" --peer "$peer" \
	--listen 0.0.0.0:7481 --victim-listen 0.0.0.0:7482 --auth-listen 0.0.0.0:7483 \
	--devices rxe0,rxe1 2>&1 |
	tee "$MCXFER_RESULTS/xfer-test.log"
exit "${PIPESTATUS[0]}"
