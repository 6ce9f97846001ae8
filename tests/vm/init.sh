#!/bin/sh
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# /init of the rig's initramfs (busybox sh).  Loads the 9p modules, mounts
# the host root read-only and the results dir read-write, gives the host
# root fresh /proc /sys /dev /tmp /run, chroots into it to run the guest side
# (tests/vm/guest-run.sh), then powers off.  Any failure powers off too, after
# leaving a rig status in the results dir when it can: the host must never
# wait for a guest that gave up.

/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

NR=/newroot
RESULTS_MOUNTED=
RESULTS=
RUNNER=
KEEP=
for arg in $(cat /proc/cmdline); do
	case $arg in
	mcx.results=*) RESULTS=${arg#mcx.results=} ;;
	mcx.runner=*) RUNNER=${arg#mcx.runner=} ;;
	mcx.keep=*) KEEP=${arg#mcx.keep=} ;;
	esac
done

halt_now() {
	sync
	umount "$NR$RESULTS" 2>/dev/null
	poweroff -f
	sleep 5
}

fail() {
	printf "\nmcxfer-vm(init): %s\n" "$*" >/dev/console
	if [ -n "$RESULTS_MOUNTED" ]; then
		echo "init: $*" >"$NR$RESULTS/rig-error"
		echo 125 >"$NR$RESULTS/rig-status"
	fi
	halt_now
}

while read -r m; do
	insmod "/modules/$m" || fail "insmod $m failed"
done </modules/order

# The devices show up asynchronously after virtio_pci probes them.
i=0
while ! grep -qs hostroot /sys/bus/virtio/drivers/9pnet_virtio/virtio*/mount_tag; do
	i=$((i + 1))
	[ $i -gt 200 ] && fail "no 9p device with tag hostroot appeared"
	usleep 50000
done

mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=loose,ro \
	hostroot $NR || fail "mounting the host root over 9p failed"
mount -t proc proc $NR/proc || fail "mount proc"
mount -t sysfs sysfs $NR/sys || fail "mount sysfs"
mount -t devtmpfs devtmpfs $NR/dev || fail "mount devtmpfs"
mkdir -p $NR/dev/pts $NR/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts $NR/dev/pts
mount -t tmpfs tmpfs $NR/dev/shm
mount -t debugfs debugfs $NR/sys/kernel/debug
# The repo and the kernel cache must stay visible even where they live
# under a dir that gets a fresh tmpfs (a CI checkout in /tmp): hold them
# aside on bind mounts, then move those to the same paths on the tmpfs.
mkdir -p /keep
i=0
for p in $(echo "$KEEP" | tr ':' ' '); do
	case $p in
	/tmp/* | /run/* | /var/tmp/*)
		i=$((i + 1))
		mkdir -p /keep/$i
		mount -o bind "$NR$p" /keep/$i || fail "cannot hold $p aside"
		echo "$p" >/keep/$i.path
		;;
	esac
done
for d in /tmp /run /var/tmp; do
	[ -d $NR$d ] && mount -t tmpfs -o mode=1777 tmpfs $NR$d
done
while [ $i -gt 0 ]; do
	p=$(cat /keep/$i.path)
	mkdir -p "$NR$p" && mount -o move /keep/$i "$NR$p" || fail "cannot put $p back"
	i=$((i - 1))
done

# The results dir sits at the same path as on the host, so that paths in
# logs mean the same thing on both sides.
[ -n "$RESULTS" ] || fail "no mcx.results= on the kernel command line"
mkdir -p "$NR$RESULTS" 2>/dev/null
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=none \
	results "$NR$RESULTS" || fail "mounting the results dir over 9p failed"
RESULTS_MOUNTED=1

[ -n "$RUNNER" ] && [ -f "$NR$RUNNER" ] || fail "guest runner '$RUNNER' not found in the host root"
printf "\nmcxfer-vm(init): host root mounted; running %s\n" "$RUNNER" >/dev/console
export MCXFER_RESULTS="$RESULTS"
chroot $NR /bin/bash "$RUNNER" </dev/console >/dev/console 2>&1
st=$?
[ -f "$NR$RESULTS/rig-status" ] || echo "$st" >"$NR$RESULTS/rig-status"
halt_now
