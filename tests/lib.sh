# SPDX-License-Identifier: GPL-2.0 OR MIT
# Helpers shared by the host-side test scripts (sourced, not run).

MCX_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MCX_CACHE=${MCXFER_CACHE:-$HOME/.cache/mcxfer}

# Newest installed Debian headers of a series ("6.1" or "6.12"), e.g.
# 6.1.0-56-amd64; nothing when none is installed.
mcx_kver_of() {
	local series=$1 d best=
	for d in /usr/src/linux-headers-"$series".*-amd64; do
		[ -d "$d" ] || continue
		case "$d" in *-rt-amd64 | *-cloud-amd64) continue ;; esac
		best=$d
	done
	[ -n "$best" ] && basename "$best" | sed 's/^linux-headers-//'
	return 0
}

# Extract the Debian linux-source 6.1 tree's scripts/ (checkpatch and its
# data files) once into the cache; print the path of checkpatch.pl.
mcx_checkpatch() {
	local tarball dir
	tarball=$(ls /usr/src/linux-source-6.1.tar.xz 2>/dev/null | head -n1)
	[ -n "$tarball" ] || { echo "linux-source-6.1 is not installed" >&2; return 1; }
	dir=$MCX_CACHE/checkpatch
	if [ ! -f "$dir/.stamp" ] || [ "$tarball" -nt "$dir/.stamp" ]; then
		rm -rf "$dir" && mkdir -p "$dir"
		tar -xJf "$tarball" -C "$dir" --strip-components=1 \
			linux-source-6.1/scripts/checkpatch.pl \
			linux-source-6.1/scripts/spelling.txt \
			linux-source-6.1/scripts/const_structs.checkpatch >&2 || return 1
		touch "$dir/.stamp"
	fi
	echo "$dir/scripts/checkpatch.pl"
}

# DKMS state is machine-wide and the scripts that change it use the same
# module name and version (tests/dkms-check.sh, tests/deb/run.sh): each
# holds this lock (fd 9) while it does.  Waits up to half an hour.
mcx_dkms_lock() {
	local dir=/run/lock
	[ -d "$dir" ] && [ -w "$dir" ] || dir=/tmp
	exec 9>"$dir/mcxfer-dkms.lock" || return 1
	flock -w 1800 9
}

# Test-count bookkeeping: every suite ends with "N passed, N failed,
# N skipped"; one where nothing passed (all skipped, or none ran) fails.
MCX_PASSED=0
MCX_FAILED=0
MCX_SKIPPED=0
mcx_result() {		# name status
	if [ "$2" -eq 0 ]; then
		MCX_PASSED=$((MCX_PASSED + 1)); echo "ok - $1"
	else
		MCX_FAILED=$((MCX_FAILED + 1)); echo "not ok - $1"
	fi
}
mcx_skip() {		# name why
	MCX_SKIPPED=$((MCX_SKIPPED + 1)); echo "ok - $1 # SKIP $2"
}
mcx_summary() {
	if [ "$MCX_PASSED" -eq 0 ] && [ "$MCX_FAILED" -eq 0 ]; then
		echo "not ok - nothing passed ($MCX_SKIPPED skipped)"
		MCX_FAILED=1
	fi
	echo "$MCX_PASSED passed, $MCX_FAILED failed, $MCX_SKIPPED skipped"
	[ "$MCX_FAILED" -eq 0 ]
}
