#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# The Debian 12 packages that the build, `make test`, `make demo` and CI
# need: this is the one list.  Installs the missing ones when run as root;
# otherwise names them and prints the command to run, and fails.  With
# nothing missing it returns at once and prints nothing.
#
#   tests/deps.sh            check, and install what is missing (root)
#   tests/deps.sh --check    check only: name what is missing, exit 1 if any
#   tests/deps.sh --list     print the list, one package a line
#
# The image packages of the installed kernel headers, which the VM rig
# fetches, come from the bookworm-security archive: keep it in the apt
# sources.
set -u

PACKAGES=(
	# build: library, tools, module
	build-essential make gcc binutils perl python3 git ca-certificates
	pkg-config libibverbs-dev librdmacm-dev libfabric-dev libssl-dev
	linux-headers-amd64 linux-headers-6.12-amd64
	# kernel checks, KUnit (a 6.1 kernel build) and DKMS
	linux-source-6.1 bc flex bison libelf-dev libssl-dev dkms sparse
	# VM rig: QEMU guests with soft-RoCE
	qemu-system-x86 busybox-static cpio xz-utils zstd kmod iproute2
	rdma-core ibverbs-utils perftest
	# fi_info: the fabric transport's guest script checks its provider
	libfabric-bin
	# man pages: formatted and checked for warnings by tests/tools/manpages.sh
	man-db groff-base
	# the Python package (python/): built with cffi against mcxfer.h,
	# installed offline into a venv, tested with pytest
	python3-dev python3-cffi python3-setuptools python3-pip python3-venv python3-pytest
	# Debian packages (debian/, tests/deb/run.sh): the Build-Depends not
	# named above, and lintian
	dpkg-dev debhelper dh-dkms dh-python python3-all-dev lintian
	# the etcd metadata service (MCX_METADATA): libcurl and json-c, which
	# the library loads with dlopen, and an etcd the tests start on loopback
	etcd-server etcd-client libcurl4 libjson-c5
)

mode=install
case ${1:-} in
'') ;;
--check) mode=check ;;
--list) printf '%s\n' "${PACKAGES[@]}"; exit 0 ;;
-h | --help) sed -n '4,15s/^# \{0,1\}//p' "$0"; exit 0 ;;
*) echo "deps.sh: unknown argument '$1' (see $0 --help)" >&2; exit 2 ;;
esac

if ! command -v dpkg-query >/dev/null; then
	echo "deps.sh: no dpkg-query: not a Debian system; the tests need the equivalents of:" >&2
	echo "  ${PACKAGES[*]}" >&2
	exit 0
fi

# The packages of the list that are not installed.  One dpkg-query for all;
# it names unknown packages on stderr and leaves them out of its output.
missing_packages() {
	local -A have=()
	local p

	while read -r p; do
		have[$p]=1
	done < <(dpkg-query -W -f='${Package} ${Status}\n' "${PACKAGES[@]}" 2>/dev/null |
		awk '$4 == "installed" { print $1 }')
	for p in "${PACKAGES[@]}"; do
		[ -n "${have[$p]:-}" ] || echo "$p"
	done
}

mapfile -t missing < <(missing_packages)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps.sh: missing Debian packages: ${missing[*]}" >&2
if [ "$mode" = check ]; then
	exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: install them with:  sudo $0" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists; an old list may name versions the
# mirror no longer has.  Both are fixed by one update before installing.
# Wait for another apt or dpkg run (an unattended upgrade on a fresh
# machine) instead of failing on its lock.
APT_LOCK=(-o DPkg::Lock::Timeout=600)
apt-get "${APT_LOCK[@]}" update -q || {
	echo "deps.sh: apt-get update failed" >&2
	exit 1
}
apt-get "${APT_LOCK[@]}" install -y -q --no-install-recommends "${missing[@]}" || {
	echo "deps.sh: apt-get install failed" >&2
	exit 1
}
mapfile -t missing < <(missing_packages)
if [ ${#missing[@]} -ne 0 ]; then
	echo "deps.sh: still missing after apt-get install: ${missing[*]}" >&2
	exit 1
fi
