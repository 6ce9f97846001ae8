#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# DKMS packaging check: add the source tree to DKMS and build mcxfer.ko for
# the installed 6.1 and 6.12 Debian kernels, then remove it again.  Needs root.
set -u
. "$(dirname "$0")/lib.sh"
cd "$MCX_TOP"

ver=$(cat VERSION)
if [ "$(id -u)" -ne 0 ] || ! command -v dkms >/dev/null; then
	echo "dkms check needs root and dkms"
	mcx_result "dkms available" 1
	mcx_summary
	exit 1
fi

if ! mcx_dkms_lock; then
	mcx_result "dkms lock (another DKMS test holds it)" 1
	mcx_summary
	exit 1
fi
src=/usr/src/mcxfer-$ver
# The mcxfer-dkms package owns the same module name, version and source
# directory: removing them would break it.
if dpkg-query -W -f='${db:Status-Status}' mcxfer-dkms 2>/dev/null | grep -qx installed; then
	echo "dkms check: the mcxfer-dkms package is installed (apt purge mcxfer-dkms first)"
	mcx_result "mcxfer-dkms package not installed" 1
	mcx_summary
	exit 1
fi
dkms remove -m mcxfer -v "$ver" --all >/dev/null 2>&1
rm -rf "$src"
install -d "$src/kmod" "$src/include/uapi/linux"
git ls-files -z kmod | xargs -0 -I{} cp --parents {} "$src/"
cp include/uapi/linux/mcxfer.h "$src/include/uapi/linux/"
sed "s/@VERSION@/$ver/" dkms.conf >"$src/dkms.conf"
dkms add -m mcxfer -v "$ver" >/dev/null
mcx_result "dkms add" $?

for series in 6.1 6.12; do
	kver=$(mcx_kver_of "$series")
	if [ -z "$kver" ]; then
		mcx_result "dkms build for $series (no headers)" 1
		continue
	fi
	dkms build -m mcxfer -v "$ver" -k "$kver"
	st=$?
	if [ $st -ne 0 ]; then
		cat /var/lib/dkms/mcxfer/"$ver"/build/make.log 2>/dev/null | tail -n 40
	fi
	mcx_result "dkms build for $kver" $st
	ls /var/lib/dkms/mcxfer/"$ver"/"$kver"/x86_64/module/mcxfer.ko* >/dev/null 2>&1
	mcx_result "dkms produced mcxfer.ko for $kver" $?
done

dkms remove -m mcxfer -v "$ver" --all >/dev/null 2>&1
rm -rf "$src"
mcx_summary
