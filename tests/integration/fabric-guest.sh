#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Guest half of the fabric transport test, run by run-vm.sh in both guests
# of tests/vm/run-pair.sh --links 2: tests/integration/xfer_test (the same
# roles, control connection and cases as xfer-guest.sh) with every engine
# on libfabric's "verbs;ofi_rxm" provider over rxe0 and rxe1, i.e. RDM
# endpoints of ofi_rxm on verbs RC connections.  The output is kept in
# $MCXFER_RESULTS/fabric-test.log; the exit status is xfer_test's.
# MCXFER_FABRIC_NIC_DOWN=1 also runs the NIC-down case, which xfer_test
# skips on fabric (see its main(); run-vm.sh --fabric-nic-down).
#
# FI_UNIVERSE_SIZE: ofi_rxm (libfabric 1.17) sizes the verbs completion
# queue of its endpoint as (rx size + tx size) x FI_UNIVERSE_SIZE, by
# default (128 + 128) x 256 = 65536 entries; soft-RoCE allows 32767
# (max_cqe), so ibv_create_cq fails, and with it fi_enable ("Unable to
# create verbs CQ", EINVAL).  64 peers are plenty here: 16384 entries.

set -u
# shellcheck source=tests/vm/guest-lib.sh
. tests/vm/guest-lib.sh

provider=${MCXFER_FABRIC_TEST_PROVIDER:-verbs;ofi_rxm}
export FI_UNIVERSE_SIZE=${FI_UNIVERSE_SIZE:-64}
log=$MCXFER_RESULTS/fabric-test.log

if [ "${MCXFER_LINKS:-1}" -lt 2 ]; then
	echo "fabric-guest: needs two links (run-pair.sh --links 2), have ${MCXFER_LINKS:-1}" >&2
	echo "0 passed, 1 failed" | tee "$log"
	exit 1
fi
if ! fi_info -p "$provider" -t FI_EP_RDM >/dev/null 2>&1; then
	echo "fabric-guest: libfabric offers no RDM endpoint of '$provider' here:" >&2
	FI_LOG_LEVEL=warn fi_info -p "$provider" -t FI_EP_RDM 2>&1 | tail -n 20 >&2
	echo "0 passed, 1 failed" | tee "$log"
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
nic_down=()
[ "${MCXFER_FABRIC_NIC_DOWN:-0}" = 1 ] && nic_down=(--nic-down on)
build/tests/xfer_test --role "$role" --ctl "$ctl" --peer "$peer" \
	--listen 0.0.0.0:7481 --victim-listen 0.0.0.0:7482 --auth-listen 0.0.0.0:7483 \
	--devices rxe0,rxe1 --transport fabric --provider "$provider" "${nic_down[@]}" 2>&1 |
	tee "$log"
exit "${PIPESTATUS[0]}"
