# SPDX-License-Identifier: GPL-2.0 OR MIT
# shellcheck shell=bash
#
# Host-side helpers of the VM rig, sourced by run.sh, run-pair.sh and
# fetch-kernels.sh: which Debian kernel to boot, fetching and unpacking its
# image package into a cache, and the busybox initramfs that mounts the host
# root over 9p.  Nothing here runs inside a guest (see guest-run.sh).

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd "$VM_DIR/../.." && pwd -P)
VM_CACHE=${MCXFER_VM_CACHE:-${HOME:-/root}/.cache/mcxfer-vm}
# The debug kernel built from source (debug-kernel.sh), series "debug".
VM_DEBUG_CACHE=${MCXFER_DEBUG_CACHE:-${HOME:-/root}/.cache/mcxfer-debug}

vm_die() {
	echo "mcxfer-vm: $*" >&2
	exit 125
}

vm_log() {
	echo "mcxfer-vm: $*" >&2
}

# The kernel release the module is built against for a series (6.1, 6.12):
# the newest installed Debian amd64 headers of that series.  Flavours such
# as -rt-amd64 and -cloud-amd64 are not what we boot, so they are skipped.
# For "debug", the release of the cached debug build.
vm_kver_for() {
	local series=$1 d best=
	case $series in
	6.1 | 6.12) ;;
	debug)
		"$VM_DIR/debug-kernel.sh" --print release ||
			vm_die "no current debug kernel: build it with tests/vm/debug-kernel.sh"
		return 0
		;;
	*) vm_die "unknown kernel series '$series' (want 6.1, 6.12 or debug)" ;;
	esac
	for d in /usr/src/linux-headers-"$series".*-amd64; do
		[ -d "$d" ] || continue
		case $d in
		*-rt-amd64 | *-cloud-amd64) continue ;;
		esac
		best=$(printf '%s\n%s\n' "$best" "${d#/usr/src/linux-headers-}" |
			sed '/^$/d' | sort -V | tail -n 1)
	done
	if [ -z "$best" ]; then
		local pkg=linux-headers-amd64
		[ "$series" = 6.12 ] && pkg=linux-headers-6.12-amd64
		vm_die "no Debian $series headers under /usr/src (linux-headers-$series.*-amd64); install them: apt-get install $pkg"
	fi
	echo "$best"
}

# Serialise cache updates between concurrent runs (several people and CI
# jobs may share one cache).
vm_lock() {
	mkdir -p "$VM_CACHE" || vm_die "cannot create cache dir $VM_CACHE"
	exec {VM_LOCK_FD}>"$VM_CACHE/.lock"
	flock "$VM_LOCK_FD"
}

vm_unlock() {
	[ -n "${VM_LOCK_FD:-}" ] && exec {VM_LOCK_FD}>&-
	VM_LOCK_FD=
}

# Download linux-image-$KVER (or its -unsigned twin, which carries the same
# kernel and modules) into the cache and unpack it into $VM_CACHE/$KVER/root,
# then generate modules.dep there.  Reused across runs.
vm_fetch_kernel() {
	local kver=$1 kdir="$VM_CACHE/$1" deb pkg
	local root="$kdir/root"

	if [ -f "$kdir/.extracted" ] && [ -f "$root/boot/vmlinuz-$kver" ] &&
		[ -f "$root/lib/modules/$kver/modules.dep" ]; then
		return 0
	fi
	mkdir -p "$VM_CACHE/debs" "$kdir" || vm_die "cannot write to $VM_CACHE"
	deb=$(ls -t "$VM_CACHE/debs/linux-image-${kver}_"*.deb \
		"$VM_CACHE/debs/linux-image-${kver}-unsigned_"*.deb 2>/dev/null | head -n 1)
	if [ -z "$deb" ]; then
		for pkg in "linux-image-$kver-unsigned" "linux-image-$kver"; do
			vm_log "downloading $pkg"
			# apt warns that it downloads as root; that is expected.
			if (cd "$VM_CACHE/debs" && apt-get -q download "$pkg" \
				>"$VM_CACHE/debs/.apt.log" 2>&1) ||
				{ grep -v 'unsandboxed' "$VM_CACHE/debs/.apt.log" >&2; false; }; then
				deb=$(ls -t "$VM_CACHE/debs/${pkg}_"*.deb 2>/dev/null | head -n 1)
				[ -n "$deb" ] && break
			fi
		done
		[ -n "$deb" ] || vm_die "could not download linux-image-$kver(-unsigned) with apt-get download (is the Debian security archive in sources.list and 'apt-get update' done?)"
	fi
	vm_log "unpacking $(basename "$deb")"
	rm -rf "$root" "$kdir/.extracted"
	mkdir -p "$root"
	dpkg-deb -x "$deb" "$root" || vm_die "dpkg-deb -x $deb failed"
	[ -f "$root/boot/vmlinuz-$kver" ] || vm_die "$deb has no boot/vmlinuz-$kver"
	depmod -b "$root" "$kver" || vm_die "depmod -b $root $kver failed"
	basename "$deb" >"$kdir/.extracted"
}

# Modules the initramfs needs to reach the 9p root, in load order: what
# modprobe would load for them in this kernel ("builtin" lines skipped).
vm_initramfs_modules() {
	local kver=$1 root=$2 m deps all=
	for m in virtio_pci 9pnet_virtio 9p; do
		deps=$(modprobe --show-depends -d "$root" -S "$kver" "$m") ||
			vm_die "modprobe --show-depends $m failed for $kver"
		all="$all$deps"$'\n'
	done
	echo "$all" | awk '$1 == "insmod" { if (!seen[$2]++) print $2 }'
}

# A static executable: no program interpreter (readelf from binutils, which
# module builds need anyway).
vm_is_static() {
	[ -n "$1" ] && [ -x "$1" ] || return 1
	readelf -lW "$1" 2>/dev/null | grep -q 'LOAD' &&
		! readelf -lW "$1" 2>/dev/null | grep -q 'INTERP'
}

# Build (or reuse) the busybox initramfs of a kernel; prints its path.
# Rebuilt whenever busybox, the init script, this file or the module set
# changes.
vm_initramfs() {
	local kver=$1 kdir="$VM_CACHE/$1" root="$VM_CACHE/$1/root"
	local img="$kdir/initramfs.cpio.gz" bb mods key m stage name
	bb=
	for m in "$(command -v busybox)" /bin/busybox /usr/bin/busybox; do
		vm_is_static "$m" && { bb=$m; break; }
	done
	[ -n "$bb" ] || vm_die "a static busybox is needed: apt-get install busybox-static"
	mods=$(vm_initramfs_modules "$kver" "$root") || exit 125
	key=$( {
		sha256sum "$bb" "$VM_DIR/init.sh" "$VM_DIR/lib.sh"
		for m in $mods; do sha256sum "$m"; done
	} | sha256sum | cut -d' ' -f1)
	if [ -f "$img" ] && [ "$(cat "$kdir/.initramfs-key" 2>/dev/null)" = "$key" ]; then
		echo "$img"
		return 0
	fi
	vm_log "building initramfs for $kver"
	stage=$(mktemp -d "$kdir/initramfs.XXXXXX")
	mkdir -p "$stage/bin" "$stage/sbin" "$stage/proc" "$stage/sys" \
		"$stage/dev" "$stage/newroot" "$stage/modules"
	cp "$bb" "$stage/bin/busybox"
	ln -s busybox "$stage/bin/sh"
	install -m 0755 "$VM_DIR/init.sh" "$stage/init"
	: >"$stage/modules/order"
	for m in $mods; do
		name=$(basename "$m")
		case $name in
		*.ko.xz) xz -dc "$m" >"$stage/modules/${name%.xz}" ;;
		*.ko.zst) zstd -qdc "$m" >"$stage/modules/${name%.zst}" ;;
		*.ko.gz) gzip -dc "$m" >"$stage/modules/${name%.gz}" ;;
		*.ko) cp "$m" "$stage/modules/$name" ;;
		*) vm_die "unexpected module file $m" ;;
		esac || vm_die "cannot decompress $m (xz-utils and zstd needed)"
		echo "${name%.ko*}.ko" >>"$stage/modules/order"
	done
	(cd "$stage" && find . -print0 | LC_ALL=C sort -z |
		cpio --null -o -H newc --quiet | gzip -1) >"$img.tmp" ||
		vm_die "cpio of the initramfs failed"
	mv "$img.tmp" "$img"
	echo "$key" >"$kdir/.initramfs-key"
	rm -rf "$stage"
	echo "$img"
}

# Everything a boot of one series needs, fetched and built under the lock.
# Sets VM_KVER, VM_ROOT, VM_KERNEL_IMG, VM_INITRD.  The debug kernel is
# not built here (that takes long): debug-kernel.sh does it.
vm_prepare() {
	local series=$1
	[ "$series" = debug ] && VM_CACHE=$VM_DEBUG_CACHE
	VM_KVER=$(vm_kver_for "$series") || exit 125
	vm_check_path "$REPO_ROOT"
	mkdir -p "$VM_CACHE" || vm_die "cannot create cache dir $VM_CACHE"
	VM_CACHE=$(cd "$VM_CACHE" && pwd -P)
	vm_check_path "$VM_CACHE"
	command -v qemu-system-x86_64 >/dev/null ||
		vm_die "qemu-system-x86_64 missing: apt-get install qemu-system-x86"
	vm_lock
	if [ "$series" != debug ]; then
		vm_fetch_kernel "$VM_KVER"
	elif [ ! -f "$VM_CACHE/$VM_KVER/root/boot/vmlinuz-$VM_KVER" ]; then
		vm_die "the debug kernel $VM_KVER is not installed in $VM_CACHE: run tests/vm/debug-kernel.sh"
	fi
	VM_INITRD=$(vm_initramfs "$VM_KVER") || exit 125
	vm_unlock
	VM_ROOT="$VM_CACHE/$VM_KVER/root"
	VM_KERNEL_IMG="$VM_ROOT/boot/vmlinuz-$VM_KVER"
}

# Guest memory when --mem and MCXFER_VM_MEM do not say: KASAN keeps an
# eighth of it as shadow and kmemleak tracks every object, so the debug
# kernel gets more.
vm_default_mem() {
	if [ "$1" = debug ]; then echo 2048; else echo 1024; fi
}

# Fail early when the module a run would load is not built.  Uses
# VM_NO_MODULE, VM_KVER and VM_SERIES.
vm_check_module() {
	local hint="make -C kmod KVER=$VM_KVER"
	[ "$VM_SERIES" = debug ] && hint="tests/vm/debug-kernel.sh --module"
	if [ "$VM_NO_MODULE" = 0 ] && [ ! -f "$REPO_ROOT/build/kmod/$VM_KVER/mcxfer.ko" ]; then
		vm_die "build/kmod/$VM_KVER/mcxfer.ko is not built ($hint), or pass --no-module"
	fi
}

# Results dirs and the repo travel on the kernel command line and in qemu
# options, where blanks and commas would split them.
vm_check_path() {
	case $1 in
	/*) ;;
	*) vm_die "internal: $1 is not absolute" ;;
	esac
	case $1 in
	*[!A-Za-z0-9._/+-]*) vm_die "path '$1' may only hold letters, digits and ._/+- (it goes through qemu options and the kernel command line)" ;;
	esac
}

# Fresh results dir; DIR may exist but must not hold an earlier run's files.
vm_results_dir() {
	local dir=$1
	mkdir -p "$dir" || vm_die "cannot create results dir $dir"
	dir=$(cd "$dir" && pwd -P)
	vm_check_path "$dir"
	rm -rf "$dir/.rig" "$dir/console.log" "$dir/qemu.log" "$dir/dmesg.txt" \
		"$dir/cmd-status" "$dir/rig-status" "$dir/rig-error"
	mkdir -p "$dir/.rig"
	echo "$dir"
}

# Write what the guest side needs into RES/.rig/config (sourced by bash in
# the guest).  Uses VM_KVER, VM_SERIES, VM_ROOT, VM_NO_MODULE,
# VM_MODULE_PARAMS and the array VM_CMD.
vm_write_config() {
	local res=$1 idx=$2 links=$3 local_addrs=$4 peer_addrs=$5
	{
		echo "# written by tests/vm for one boot; sourced by guest-run.sh"
		printf 'MCXFER_KVER=%q\n' "$VM_KVER"
		printf 'MCXFER_KERNEL=%q\n' "$VM_SERIES"
		printf 'MCXFER_MODROOT=%q\n' "$VM_ROOT"
		printf 'MCXFER_REPO=%q\n' "$REPO_ROOT"
		printf 'MCXFER_HOST_INDEX=%q\n' "$idx"
		printf 'MCXFER_LINKS=%q\n' "$links"
		printf 'MCXFER_LOCAL_ADDRS=%q\n' "$local_addrs"
		printf 'MCXFER_PEER_ADDRS=%q\n' "$peer_addrs"
		printf 'RIG_NO_MODULE=%q\n' "$VM_NO_MODULE"
		printf 'RIG_MODULE_PARAMS=%q\n' "$VM_MODULE_PARAMS"
		printf 'RIG_CMD=('
		printf '%q ' "${VM_CMD[@]}"
		printf ')\n'
	} >"$res/.rig/config"
}

# Guest addresses: 169.254.<rail+1>.<host+1>/24, link-local, one subnet per
# rail; they only ever travel over the qemu links between the guests.
vm_addr() {
	echo "169.254.$(($1 + 1)).$(($2 + 1))"
}

vm_addrs() {
	local host=$1 links=$2 r out=
	for ((r = 0; r < links; r++)); do
		out="$out${out:+,}$(vm_addr "$r" "$host")"
	done
	echo "$out"
}

# Console text without CRs, firmware terminal escapes and the final
# power-off line (which the kernel never ends with a newline).
vm_console_filter() {
	sed -u -e 's/\r$//' -e 's/\x1b\[[0-9;?]*[a-zA-Z]//g' -e 's/\x1bc//g' \
		-e '/\] reboot: Power down/d'
}

# Start one guest in the background.  Sets VM_PID (timeout wrapping qemu)
# and VM_TAIL_PID (the console streamer).  Extra args are the network.
vm_launch() {
	local res=$1 timeout_s=$2 mem=$3 smp=$4 prefix=$5
	shift 5
	local append
	append="console=ttyS0,115200 panic=-1 quiet loglevel=4 rdinit=/init"
	append="$append mitigations=off random.trust_cpu=on"
	# Under emulation on a loaded host the IO-APIC timer check can time
	# out and panic the boot ("IO-APIC + timer doesn't work"); the timer
	# works, the check is only too impatient for TCG.
	append="$append no_timer_check"
	# The debug kernel: every KASAN report, not only the first.  Its
	# ACPI interpreter is so slow under emulation that each evaluation of
	# the PCI routing table (_PRT) runs into the AML loop timeout, 30 s
	# apiece; the virtio devices use MSI-X, so skip ACPI for PCI IRQs.
	[ "${VM_SERIES:-}" = debug ] && append="$append kasan_multi_shot pci=noacpi"
	# TCG's "max" CPU offers 5-level paging, and guests that take it
	# crash now and then in early boot with faults on addresses of the
	# 5-level direct map (the KASAN kernel reports wild accesses there and
	# sometimes hangs; a stock 6.12 once panicked the same way).  Four
	# levels are what the hosts we test for run.
	local cpu=max,la57=off
	append="$append mcx.results=$res mcx.runner=$VM_DIR/guest-run.sh"
	append="$append mcx.keep=$REPO_ROOT:$VM_ROOT"
	: >"$res/console.log"
	timeout -k 10 "$timeout_s" qemu-system-x86_64 \
		-accel tcg -cpu "$cpu" -smp "$smp" -m "$mem" \
		-nographic -nodefaults -no-reboot -monitor none \
		-serial "file:$res/console.log" \
		-kernel "$VM_KERNEL_IMG" -initrd "$VM_INITRD" -append "$append" \
		-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
		-virtfs "local,path=$res,mount_tag=results,security_model=none" \
		"$@" </dev/null >"$res/qemu.log" 2>&1 &
	VM_PID=$!
	echo "$VM_PID" >"$res/.rig/pid"
	if [ "${VM_QUIET:-0}" = 1 ]; then
		VM_TAIL_PID=
	else
		# Firmware chatter is skipped: the stream starts at init's first
		# line (a failure before it shows the log's tail instead).
		tail -n +1 -F --pid="$VM_PID" "$res/console.log" 2>/dev/null |
			vm_console_filter | sed -u -n "/^mcxfer-vm(init)/,\$s|^|$prefix|p" &
		# shellcheck disable=SC2034 # read by the callers
		VM_TAIL_PID=$!
	fi
}

# Kernel log lines that fail a run besides those the guest side checks
# (MCX_DMESG_BAD in guest-lib.sh): reports of the debug kernel's checkers
# that do not come as a WARNING or BUG.
VM_DMESG_MORE='UBSAN:|ODEBUG:|list_(add|del) corruption|DEBUG_LOCKS_WARN_ON|bad unlock balance|refcount_t:'
# Boot notices of the debug kernel that the guest side's pattern (its bare
# "lockdep") takes for problems: with PROVE_RCU every boot says "RCU
# lockdep checking is enabled".  A run whose only findings are these is
# clean.
VM_DMESG_NOTICES='rcu:[[:space:]]+RCU lockdep checking is enabled\.'

# The guest side's pattern of problems, as guest-lib.sh has it.
vm_dmesg_bad() {
	(
		# shellcheck source=tests/vm/guest-lib.sh
		. "$VM_DIR/guest-lib.sh" >/dev/null 2>&1
		echo "${MCX_DMESG_BAD:-}"
	)
}

# A guest that ended with 123 only for boot notices (VM_DMESG_NOTICES)
# ended well: rewrite its status to 0.  Used on every guest that has
# finished, before its status is read.
vm_settle_status() {
	local res=$1 label=$2 bad
	[ "$(cat "$res/rig-status" 2>/dev/null)" = 123 ] || return 0
	[ "$(cat "$res/cmd-status" 2>/dev/null)" = 0 ] || return 0
	bad=$(vm_dmesg_bad)
	[ -n "$bad" ] && [ -s "$res/dmesg.txt" ] || return 0
	grep -E "$bad" "$res/dmesg.txt" | grep -qvE "$VM_DMESG_NOTICES" && return 0
	vm_log "$label: the kernel log only has boot notices, no problem: $(grep -E "$VM_DMESG_NOTICES" "$res/dmesg.txt" | head -n 1)"
	echo 0 >"$res/rig-status"
	rm -f "$res/rig-error"
}

# Wait for a guest started by vm_launch and turn what it left into one
# status: the command's, 123 (kernel log problems), 124 (timeout) or 125
# (the rig failed: no boot, setup error, panic).
vm_collect() {
	local res=$1 pid=$2 tailpid=$3 timeout_s=$4 label=$5 rc st
	wait "$pid"
	rc=$?
	[ -n "$tailpid" ] && wait "$tailpid" 2>/dev/null
	if [ -f "$res/.rig/stopped" ] && [ ! -s "$res/rig-status" ]; then
		vm_log "$label: stopped: $(cat "$res/.rig/stopped")"
		echo 125 >"$res/rig-status"
		cat "$res/.rig/stopped" >"$res/rig-error"
		return 125
	fi
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		vm_log "$label: timed out after ${timeout_s}s; qemu killed. Console tail ($res/console.log):"
		vm_console_filter <"$res/console.log" | tail -n 30 | sed 's/^/    /' >&2
		echo 124 >"$res/rig-status"
		echo "timed out after ${timeout_s}s" >"$res/rig-error"
		return 124
	fi
	if [ ! -s "$res/rig-status" ]; then
		if grep -q 'Kernel panic' "$res/console.log"; then
			vm_log "$label: kernel panic"
			echo "kernel panic (see console.log)" >"$res/rig-error"
		else
			vm_log "$label: guest stopped without a result (qemu exit $rc)"
			echo "guest stopped without a result (qemu exit $rc)" >"$res/rig-error"
		fi
		[ -s "$res/qemu.log" ] && sed 's/^/    qemu: /' "$res/qemu.log" >&2
		vm_log "console tail ($res/console.log):"
		vm_console_filter <"$res/console.log" | tail -n 30 | sed 's/^/    /' >&2
		echo 125 >"$res/rig-status"
		return 125
	fi
	vm_settle_status "$res" "$label"
	st=$(cat "$res/rig-status")
	if [ "$st" = 0 ] && bad=$(grep -E "$VM_DMESG_MORE" "$res/dmesg.txt" 2>/dev/null); then
		vm_log "$label: the kernel log shows problems:"
		echo "$bad" | head -n 40 | sed 's/^/    /' >&2
		echo "kernel log shows problems (see dmesg.txt)" >"$res/rig-error"
		st=123
		echo "$st" >"$res/rig-status"
	fi
	if [ "$st" != 0 ]; then
		if [ -s "$res/rig-error" ]; then
			vm_log "$label: failed ($st): $(cat "$res/rig-error")"
		else
			vm_log "$label: command failed with status $st"
		fi
	fi
	return "$st"
}

# A TCP port on 127.0.0.1 that nothing listens on now.  Racy by nature;
# qemu fails to start on a clash and the caller retries.
vm_free_port() {
	local p
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 40000))
		[ -z "$(ss -Hltn "sport = :$p" 2>/dev/null)" ] && { echo "$p"; return 0; }
	done
	vm_die "no free TCP port found on 127.0.0.1"
}

vm_port_listening() {
	[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
}
