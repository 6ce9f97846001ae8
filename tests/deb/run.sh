#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# The Debian packages (debian/): build them (`make deb`, into build/deb),
# check them with lintian (no error, no warning: debian/*.lintian-overrides
# say why each overridden tag is accepted), then, as root, follow the
# README's "Install from Debian packages" walk: install them with apt,
# use them (Python, man, mcxfer-tool, pkg-config, the group, the udev rule,
# the DKMS-built module for every installed Debian kernel's headers) and
# purge them, checking that nothing of theirs is left.  Not root: the
# install part is skipped, with a line that says so.
# Ends with "N passed, N failed, N skipped".
set -u
# shellcheck source=tests/lib.sh disable=SC1091
. "$(dirname "$0")/../lib.sh"
cd "$MCX_TOP" || exit 2

ver=$(cat VERSION)
debdir=$MCX_TOP/build/deb
# The packages of the walk, in the README's order.
pkgs=(mcxfer-dkms libmcxfer0 libmcxfer-dev mcxfer-tools python3-mcxfer)
# A fresh Debian user's PATH: an interpreter earlier in this one (pyenv and
# the like) would not see the packaged module.
sys_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
log=$(mktemp)
trap 'rm -f "$log"' EXIT

need=
for cmd in dpkg-buildpackage dh dh_dkms dh_python3 lintian; do
	command -v "$cmd" >/dev/null || need="$need $cmd"
done
if [ -n "$need" ]; then
	echo "deb: missing$need (tests/deps.sh installs the packaging tools)"
	mcx_result "packaging tools installed" 1
	mcx_summary
	exit 1
fi

# --- the source: versions agree, the symbols file follows the version map

chver=$(dpkg-parsechangelog -S Version)
[ "${chver%-*}" = "$ver" ]
mcx_result "debian/changelog version $chver is VERSION $ver" $?

# Every symbol the map names is in the symbols file under its node, every
# node has its version entry, and no entry names a node the map lacks.
map_syms=$(awk '/^MCXFER_[0-9.]+ *\{/ { node = $1 }
	/^\t\tmcx_[a-z_0-9]+;/ { s = $1; sub(/;/, "", s); print s "@" node }
	/^MCXFER_[0-9.]+ *\{/ { print node "@" node }' lib/libmcxfer.map | sort)
sym_syms=$(awk '/^ [^ ]+@MCXFER_/ { print $1 }' debian/libmcxfer0.symbols | sort)
missing=$(comm -23 <(echo "$map_syms") <(echo "$sym_syms"))
[ -z "$missing" ] || echo "in lib/libmcxfer.map, not in debian/libmcxfer0.symbols:" "${missing//$'\n'/ }"
mcx_result "symbols file has every symbol of the version map under its node" \
	"$([ -z "$missing" ]; echo $?)"
map_nodes=$(grep -oE '^MCXFER_[0-9.]+' lib/libmcxfer.map | sort)
bad=$(awk '/^ [^ ]+@MCXFER_/ { sub(/.*@/, "", $1); print $1 }' debian/libmcxfer0.symbols |
	sort -u | comm -23 - <(echo "$map_nodes"))
[ -z "$bad" ] || echo "nodes in the symbols file that lib/libmcxfer.map lacks:" "${bad//$'\n'/ }"
mcx_result "symbols file names only the map's nodes" "$([ -z "$bad" ]; echo $?)"

# --- build

if make -s deb >"$log" 2>&1; then
	mcx_result "make deb (dpkg-buildpackage -us -uc -b)" 0
else
	tail -n 40 "$log"
	mcx_result "make deb (dpkg-buildpackage -us -uc -b)" 1
	mcx_summary
	exit 1
fi
debs=()
for p in "${pkgs[@]}"; do
	f=$(compgen -G "$debdir/${p}_${ver}-*_*.deb" | head -n1)
	[ -n "$f" ]
	mcx_result "built $p" $?
	[ -n "$f" ] && debs+=("$f")
done
[ ${#debs[@]} -eq ${#pkgs[@]} ] || { mcx_summary; exit 1; }

# lintian as root says so on stderr; that line is not a finding.
lintian --fail-on error,warning "${debs[@]}" >"$log" 2>&1
st=$?
grep -v 'running with root privileges' "$log"
mcx_result "lintian: no errors, no warnings" $st

# --- contents (without installing)

has() {		# deb path...: every path is in the package
	local deb=$1 list p rc=0
	shift
	list=$(dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's,^\./,/,')
	for p; do
		grep -qxF "$p" <<<"$list" || { echo "$(basename "$deb"): no $p"; rc=1; }
	done
	return $rc
}
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
has "${debs[1]}" /usr/lib/"$ma"/libmcxfer.so.0 /usr/lib/"$ma"/libmcxfer.so."$ver" \
	/usr/share/man/man3/mcx_batch_submit.3.gz /usr/share/man/man3/libmcxfer.3.gz
mcx_result "libmcxfer0: the shared library, the C API's man pages" $?
has "${debs[2]}" /usr/include/mcxfer.h /usr/include/linux/mcxfer.h \
	/usr/lib/"$ma"/libmcxfer.so /usr/lib/"$ma"/libmcxfer.a \
	/usr/lib/"$ma"/pkgconfig/libmcxfer.pc
mcx_result "libmcxfer-dev: headers, .so link, static library, pkg-config" $?
has "${debs[3]}" /usr/bin/mcxfer-tool /usr/bin/mcxfer-bench \
	/usr/share/man/man8/mcxfer-tool.8.gz /usr/share/man/man1/mcxfer-bench.1.gz \
	/usr/share/man/man7/mcxfer-env.7.gz
mcx_result "mcxfer-tools: the tools and their pages, mcxfer-env(7)" $?
has "${debs[0]}" /usr/src/mcxfer-"$ver"/dkms.conf /usr/src/mcxfer-"$ver"/kmod/Makefile \
	/usr/src/mcxfer-"$ver"/kmod/Kbuild /usr/src/mcxfer-"$ver"/include/uapi/linux/mcxfer.h \
	/lib/udev/rules.d/60-mcxfer.rules /usr/share/man/man4/mcxfer.4.gz
mcx_result "mcxfer-dkms: module source, dkms.conf, udev rule, mcxfer(4)" $?
dpkg-deb --fsys-tarfile "${debs[0]}" | tar -xO ./usr/src/mcxfer-"$ver"/dkms.conf |
	grep -qx "PACKAGE_VERSION=\"$ver\""
mcx_result "mcxfer-dkms: dkms.conf says PACKAGE_VERSION=\"$ver\"" $?
dpkg-deb -c "${debs[4]}" | grep -qE '/usr/lib/python3/dist-packages/mcxfer/_mcxfer\..*so$'
mcx_result "python3-mcxfer: the cffi extension in dist-packages" $?
# Run paths of the build tree (tools: $ORIGIN/../lib; the extension:
# build/lib) must not reach a package.
x=$(mktemp -d)
for i in 3 4; do dpkg-deb -x "${debs[$i]}" "$x"; done
rp=$(find "$x" -type f \( -path '*/bin/*' -o -name '*.so' \) -exec readelf -d {} + 2>/dev/null |
	grep -E 'RPATH|RUNPATH')
rm -rf "$x"
[ -z "$rp" ] || echo "$rp"
mcx_result "no run path in the packaged tools and extension" "$([ -z "$rp" ]; echo $?)"

# --- the README walk (root)

if [ "$(id -u)" -ne 0 ]; then
	mcx_skip "install, use and purge the packages (README walk)" \
		"needs root: apt installs them system-wide"
	mcx_summary
	exit
fi
if ! mcx_dkms_lock; then
	mcx_result "dkms lock (another DKMS test holds it)" 1
	mcx_summary
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive

# Left over by an interrupted run of this suite: ours, purged first.
# DKMS state or sources that no package owns belong to `make dkms-install`:
# not ours to remove.
mapfile -t left < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${pkgs[@]}" 2>/dev/null |
	awk '$2 != "not-installed" { print $1 }')
[ ${#left[@]} -gt 0 ] && apt-get purge -y -q "${left[@]}" >/dev/null
if dkms status -m mcxfer 2>/dev/null | grep -q . || compgen -G "/usr/src/mcxfer-*" >/dev/null; then
	echo "deb: mcxfer is in DKMS or /usr/src outside the packages (make dkms-install?);"
	echo "deb: remove it first (make dkms-uninstall)"
	mcx_result "no mcxfer in DKMS before the install" 1
	mcx_summary
	exit 1
fi

getent group mcxfer >/dev/null && group_before=1 || group_before=
# depmod writes its index files for every kernel DKMS installs into; a
# kernel that had none (headers only, no image) gets them removed again.
bare_kernels=()
for d in /lib/modules/*/; do
	[ -e "$d/modules.dep" ] || bare_kernels+=("$d")
done

purge() {
	apt-get purge -y -q "${pkgs[@]}" >"$log" 2>&1
}
cleanup() {
	purge
	rm -f "$log"
}
trap cleanup EXIT

cd "$debdir" || exit 2
apt-get install -y ./mcxfer-dkms_*.deb ./libmcxfer0_*.deb \
	./mcxfer-tools_*.deb ./python3-mcxfer_*.deb >"$log" 2>&1
st=$?
grep -E '^(Building (for|initial)|Module build|It is likely|Setting up|E:)' "$log"
[ $st -ne 0 ] && tail -n 40 "$log"
mcx_result "apt-get install ./<the four packages of a host>.deb" $st
cd "$MCX_TOP" || exit 2

# dkms' postinst builds for every kernel in /lib/modules when the running
# kernel has none there (a container, a CI machine booted from elsewhere),
# else for the running and the newest one.  Each installed Debian kernel's
# headers get a module: the ones the postinst left out are built here.
for series in 6.1 6.12; do
	kver=$(mcx_kver_of "$series")
	if [ -z "$kver" ]; then
		mcx_skip "DKMS module for $series" "no linux-headers-$series installed"
		continue
	fi
	if ! dkms status -m mcxfer -v "$ver" -k "$kver" 2>/dev/null | grep -q ': installed'; then
		echo "deb: the postinst did not build for $kver (running kernel $(uname -r)); dkms install -k $kver"
		dkms install -m mcxfer -v "$ver" -k "$kver" >"$log" 2>&1 || tail -n 40 "$log"
	fi
	dkms status -m mcxfer -v "$ver" -k "$kver" 2>/dev/null | grep -q ': installed'
	mcx_result "dkms status: mcxfer/$ver installed for $kver" $?
	compgen -G "/lib/modules/$kver/updates/dkms/mcxfer.ko*" >/dev/null
	mcx_result "mcxfer.ko in /lib/modules/$kver/updates/dkms" $?
done

out=$(PATH=$sys_path python3 -c "import mcxfer; print(mcxfer.devices())" 2>&1)
st=$?
echo "python3 -c 'import mcxfer; print(mcxfer.devices())': $out"
if [ $st -eq 0 ] && ! compgen -G "/sys/class/infiniband/*" >/dev/null; then
	[ "$out" = "[]" ]; st=$?
fi
mcx_result "python3: import mcxfer; mcxfer.devices() (no RDMA device: [])" $st
page=$(PATH=$sys_path man -w mcx_batch_submit 2>&1)
[ "$page" = /usr/share/man/man3/mcx_batch_submit.3.gz ]
mcx_result "man -w mcx_batch_submit: $page" $?
PATH=$sys_path man -w 4 mcxfer >/dev/null && PATH=$sys_path man -w mcxfer-env >/dev/null
mcx_result "man mcxfer(4), mcxfer-env(7)" $?
PATH=$sys_path mcxfer-tool --help 2>&1 | grep -q '^usage: mcxfer-tool'
mcx_result "mcxfer-tool --help" $?
gid=$(getent group mcxfer | cut -d: -f3)
[ -n "$gid" ] && [ "$gid" -lt 1000 ]
mcx_result "getent group mcxfer: a system group (gid ${gid:-none})" $?
cmp -s /lib/udev/rules.d/60-mcxfer.rules udev/60-mcxfer.rules
mcx_result "udev rule /lib/udev/rules.d/60-mcxfer.rules" $?
# Then the development files, for building against the library.
(cd "$debdir" && apt-get install -y ./libmcxfer-dev_*.deb) >"$log" 2>&1
st=$?
[ $st -ne 0 ] && tail -n 40 "$log"
mcx_result "apt-get install ./libmcxfer-dev_*.deb" $st
[ "$(pkg-config --modversion libmcxfer 2>/dev/null)" = "$ver" ]
mcx_result "pkg-config libmcxfer: $ver" $?
x=$(mktemp -d)
printf '#include <mcxfer.h>\n#include <linux/mcxfer.h>\n#include <stdio.h>\nint main(void) { puts(mcx_strerror(-22)); return 0; }\n' >"$x/t.c"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror -o "$x/t" "$x/t.c" $(pkg-config --cflags --libs libmcxfer) && "$x/t" >/dev/null
mcx_result "a program built with pkg-config libmcxfer runs" $?
rm -rf "$x"

# --- purge: nothing of the packages is left

files=$(dpkg -L "${pkgs[@]}" 2>/dev/null | sort -u)
purge
st=$?
[ $st -ne 0 ] && tail -n 40 "$log"
mcx_result "apt-get purge -y ${pkgs[*]}" $st
trap 'rm -f "$log"' EXIT
mapfile -t gone < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${pkgs[@]}" 2>/dev/null |
	awk '$2 != "not-installed"')
[ ${#gone[@]} -eq 0 ] || echo "still known to dpkg: ${gone[*]}"
mcx_result "dpkg knows none of them" "${#gone[@]}"
stale=
while read -r f; do
	[ -n "$f" ] && [ -e "$f" ] && [ ! -d "$f" ] && stale="$stale $f"
done <<<"$files"
[ -z "$stale" ] || echo "left:$stale"
mcx_result "no file of the packages left" "$([ -z "$stale" ]; echo $?)"
remains=$( { ls -d /usr/src/mcxfer-* /var/lib/dkms/mcxfer /lib/modules/*/updates/dkms/mcxfer.ko*; \
	dkms status -m mcxfer; } 2>/dev/null)
[ -z "$remains" ] || echo "left: $remains"
mcx_result "no DKMS tree, source or built module left" "$([ -z "$remains" ]; echo $?)"
# Debian leaves system groups on purge: files may still carry the gid.  A
# group this run made is removed by the run, not by the package.
getent group mcxfer >/dev/null
mcx_result "group mcxfer kept on purge (Debian practice for system groups)" $?
[ -z "$group_before" ] && groupdel mcxfer
for d in "${bare_kernels[@]}"; do
	rm -f "$d"/modules.*
	rmdir "$d/updates/dkms" "$d/updates" 2>/dev/null
done

mcx_summary
