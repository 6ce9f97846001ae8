#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# The rig's debug kernel: Debian's linux-source 6.1 built with KASAN, UBSAN,
# lockdep (PROVE_LOCKING, PROVE_RCU), kmemleak, list and object debugging
# and KUnit, with soft-RoCE, uverbs, vgem, udmabuf, virtio and 9p built in
# (tests/vm/debug.config).  One build serves the rig's debug lane
# (run.sh --kernel debug) and the KUnit tests (tests/kunit/run.sh).
#
#   tests/vm/debug-kernel.sh [--jobs N] [--rebuild]
#         build the kernel, or do nothing when the cached build is current;
#         the last line is the kernel release
#   tests/vm/debug-kernel.sh --module [--kunit] [--jobs N]
#         build mcxfer.ko against it into build/kmod/<release>/ (with
#         --kunit: the KUnit tests linked in, into build/kmod/<release>-kunit/)
#   tests/vm/debug-kernel.sh --print release|kdir|tree|image
#         the release, the build dir (KDIR), the source tree, the bzImage
#
# The source tree, the build directory and the installed kernel live in
# ${MCXFER_DEBUG_CACHE:-$HOME/.cache/mcxfer-debug}; the build is redone
# (incrementally) when the source tarball, debug.config or the recipe
# below change, and from scratch with --rebuild.  The config is
# x86_64_defconfig + kernel/configs/kvm_guest.config + debug.config, and
# every line of debug.config is checked in the result.  Concurrent runs
# share the cache under the rig's lock.  A cold build is long (see
# tests/vm/README.md); it runs under nice.
#
# Environment: MCXFER_DEBUG_CACHE (above), MCXFER_DEBUG_SOURCE (the source
# tarball, default /usr/src/linux-source-6.1.tar.xz).  Debian packages:
# linux-source-6.1 gcc make flex bison bc libelf-dev libssl-dev xz-utils
# kmod cpio.

set -u
# shellcheck source=tests/vm/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Bump when the way the kernel is configured or installed changes, so that
# cached builds are redone.
RECIPE=1

usage() {
	sed -n '/^# The rig.s debug kernel/,/^# kmod cpio/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
	exit "${1:-0}"
}

mode=build
jobs=$(nproc 2>/dev/null || echo 2)
rebuild=0
kunit=0
what=
while [ $# -gt 0 ]; do
	case $1 in
	--jobs) jobs=${2:?--jobs needs a number}; shift 2 ;;
	--rebuild) rebuild=1; shift ;;
	--module) mode=module; shift ;;
	--kunit) kunit=1; shift ;;
	--print) mode=print; what=${2:?--print needs release, kdir, tree or image}; shift 2 ;;
	-h | --help) usage 0 ;;
	*) echo "debug-kernel.sh: unknown option '$1'" >&2; usage 2 >&2 ;;
	esac
done
case $jobs in '' | *[!0-9]* | 0) vm_die "--jobs takes a positive number, not '$jobs'" ;; esac

cache=$VM_DEBUG_CACHE
tarball=${MCXFER_DEBUG_SOURCE:-/usr/src/linux-source-6.1.tar.xz}
build=$cache/build

die() {
	echo "debug-kernel.sh: $*" >&2
	exit 1
}

say() {
	echo "debug-kernel.sh: $*" >&2
}

# What the cached build must have been made from (the fragment: by
# default the working copy's debug.config).
wanted_key() {
	{
		echo "recipe $RECIPE"
		stat -L -c 'source %n %s %Y' "$tarball"
		sha256sum <"${1:-$VM_DIR/debug.config}"
	} | sha256sum | cut -d' ' -f1
}

current() {
	[ -f "$cache/kernel.key" ] && [ -f "$cache/kernel.release" ] &&
		[ "$(cat "$cache/kernel.key")" = "$(wanted_key)" ] &&
		[ -f "$cache/$(cat "$cache/kernel.release")/root/boot/vmlinuz-$(cat "$cache/kernel.release")" ]
}

# Every line of debug.config, "=value" or "is not set", as the final
# .config has it.
check_config() {
	local frag=$1 cfg=$2 line sym want got bad=
	while IFS= read -r line; do
		case $line in
		CONFIG_*=*) sym=${line%%=*}; want=${line#*=} ;;
		'# CONFIG_'*' is not set') sym=${line#\# }; sym=${sym%% *}; want=n ;;
		*) continue ;;
		esac
		got=$(sed -n "s/^$sym=//p" "$cfg")
		[ -n "$got" ] || got=n
		[ "$got" = "$want" ] || bad="$bad $sym=$got(want $want)"
	done <"$frag"
	[ -z "$bad" ] || die "debug.config does not hold in $cfg (a dependency is missing):$bad"
}

# Extract the tarball once per tarball; a new one starts a fresh build dir.
extract() {
	local id tree_name
	id=$(stat -L -c '%n %s %Y' "$tarball")
	tree_name=$(basename "$tarball" .tar.xz)
	tree=$cache/$tree_name
	if [ "$(cat "$tree/.mcxfer-extracted" 2>/dev/null)" != "$id" ]; then
		say "extracting $tarball"
		rm -rf "$tree" "$cache/extract.tmp" "$build"
		mkdir -p "$cache/extract.tmp"
		tar -xf "$tarball" -C "$cache/extract.tmp" || die "extracting $tarball failed"
		mv "$cache/extract.tmp/$tree_name" "$tree" || die "$tarball has no $tree_name/"
		rmdir "$cache/extract.tmp"
		echo "$id" >"$tree/.mcxfer-extracted"
	fi
}

kmake() {
	nice -n 10 make -C "$tree" O="$build" ARCH=x86_64 "$@"
}

build_kernel() {
	local start=$SECONDS release dest old key log=$cache/build.log
	local frag=$cache/debug.config

	[ -r "$tarball" ] || die "no kernel source at $tarball (apt-get install linux-source-6.1)"
	for tool in make gcc flex bison bc xz depmod; do
		command -v "$tool" >/dev/null ||
			die "$tool is missing (the packages are listed in $0 --help)"
	done
	extract
	[ "$rebuild" = 1 ] && rm -rf "$build"
	mkdir -p "$build"
	rm -f "$cache/kernel.key"
	# What this build is made from, taken now: the files may change while
	# it runs.
	cp "$VM_DIR/debug.config" "$frag" || die "cannot copy debug.config"
	key=$(wanted_key "$frag")

	say "configuring in $build"
	{
		kmake x86_64_defconfig &&
			"$tree/scripts/kconfig/merge_config.sh" -m -O "$build" "$build/.config" \
				"$tree/kernel/configs/kvm_guest.config" "$frag" &&
			kmake olddefconfig
	} >"$log" 2>&1 || { tail -n 30 "$log" >&2; die "configuring failed (log: $log)"; }
	check_config "$frag" "$build/.config"

	say "building with $jobs jobs (log: $log)"
	if ! kmake -j"$jobs" all >>"$log" 2>&1; then
		grep -E -B2 -A6 'error:|Error [0-9]+|ERROR:' "$log" | tail -n 60 >&2
		die "the kernel build failed (log: $log)"
	fi
	release=$(cat "$build/include/config/kernel.release") || die "no kernel.release in $build"
	vm_check_path "$cache/$release"

	# Installed as the stock kernels are: root/boot/vmlinuz-<release> and
	# root/lib/modules/<release> with modules.builtin, which lets modprobe
	# treat the built-in modules as present.
	dest=$cache/$release
	rm -rf "$dest.tmp"
	mkdir -p "$dest.tmp/root/boot"
	cp "$build/arch/x86/boot/bzImage" "$dest.tmp/root/boot/vmlinuz-$release" &&
		cp "$build/System.map" "$dest.tmp/root/boot/System.map-$release" &&
		cp "$build/.config" "$dest.tmp/root/boot/config-$release" ||
		die "cannot copy the kernel into $dest.tmp"
	kmake -s INSTALL_MOD_PATH="$dest.tmp/root" modules_install >>"$log" 2>&1 ||
		die "modules_install failed (log: $log)"
	[ -f "$dest.tmp/root/lib/modules/$release/modules.builtin.bin" ] ||
		die "modules_install left no modules.builtin.bin"
	rm -f "$dest.tmp/root/lib/modules/$release/build" "$dest.tmp/root/lib/modules/$release/source"
	touch "$dest.tmp/.debug-kernel"
	rm -rf "$dest"
	mv "$dest.tmp" "$dest"
	# Releases of older trees.
	for old in "$cache"/*/.debug-kernel; do
		[ -f "$old" ] || continue
		old=${old%/.debug-kernel}
		[ "$old" = "$dest" ] || rm -rf "$old"
	done
	echo "$release" >"$cache/kernel.release"
	echo "$key" >"$cache/kernel.key"
	say "built $release in $((SECONDS - start)) s"
}

# mcxfer.ko (or its KUnit twin) against the debug build.  A module built
# against an earlier build of the kernel is thrown away first.
build_module() {
	local release key dir args
	release=$(cat "$cache/kernel.release")
	key=$(cat "$cache/kernel.key")
	dir=$REPO_ROOT/build/kmod/$release
	args=()
	if [ "$kunit" = 1 ]; then
		dir=$dir-kunit
		args=(CONFIG_MCXFER_KUNIT_TEST=y)
	fi
	if [ "$(cat "$dir/.kernel-key" 2>/dev/null)" != "$key" ]; then
		rm -rf "$dir"
	fi
	nice -n 10 make -s -C "$REPO_ROOT/kmod" -j"$jobs" KVER="$release" KDIR="$build" \
		BUILD_DIR="$dir" "${args[@]}" || die "building mcxfer.ko against $release failed"
	echo "$key" >"$dir/.kernel-key"
	echo "$dir/mcxfer.ko"
}

mkdir -p "$cache" || die "cannot create $cache"
cache=$(cd "$cache" && pwd -P)
build=$cache/build
VM_CACHE=$cache
case $mode in
print)
	current || die "the debug kernel is not built, or out of date: run $0"
	release=$(cat "$cache/kernel.release")
	case $what in
	release) echo "$release" ;;
	kdir) echo "$build" ;;
	tree) echo "$cache/$(basename "$tarball" .tar.xz)" ;;
	image) echo "$cache/$release/root/boot/vmlinuz-$release" ;;
	*) die "--print takes release, kdir, tree or image, not '$what'" ;;
	esac
	;;
build)
	vm_lock
	if [ "$rebuild" = 1 ] || ! current; then
		build_kernel
	fi
	vm_unlock
	cat "$cache/kernel.release"
	;;
module)
	vm_lock
	current || die "the debug kernel is not built, or out of date: run $0"
	build_module
	vm_unlock
	;;
esac
