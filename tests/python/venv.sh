#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Build libmcxfer and install the python/ package into the venv
# build/py/venv (made with --system-site-packages, so that Debian's cffi and
# pytest serve it), offline: --no-index and --no-build-isolation keep pip
# from fetching anything.  The extension is linked against build/lib with
# that directory as its run path, so the venv works as is, in the rig's
# guests too (they see the host root, build/ included).  Prints the venv's
# python on stdout; everything else goes to stderr.
#
#   PYTHON=/path/to/python3 tests/python/venv.sh
#
# PYTHON defaults to Debian's /usr/bin/python3: an interpreter earlier in
# PATH (pyenv and the like) does not see Debian's python3-cffi.
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
cd "$MCX_TOP" || exit 2

py=${PYTHON:-}
if [ -z "$py" ]; then
	if [ -x /usr/bin/python3 ]; then py=/usr/bin/python3; else py=python3; fi
fi
venv=$MCX_TOP/build/py/venv

make -s -C lib -j2 >&2 || { echo "venv.sh: building libmcxfer failed" >&2; exit 1; }
for mod in cffi pytest venv; do
	if ! "$py" -c "import $mod" 2>/dev/null; then
		echo "venv.sh: $py has no module $mod (Debian: python3-cffi python3-pytest python3-venv; tests/deps.sh)" >&2
		exit 1
	fi
done
# A venv of another interpreter is made again.
if [ ! -x "$venv/bin/python" ] ||
   [ "$("$venv/bin/python" -c 'import sys; print(sys._base_executable)' 2>/dev/null)" != \
     "$("$py" -c 'import sys; print(sys.executable)')" ]; then
	rm -rf "$venv"
	"$py" -m venv --system-site-packages "$venv" >&2 ||
		{ echo "venv.sh: python3 -m venv failed" >&2; exit 1; }
fi
# In-tree builds leave python/build: drop it so that a changed mcxfer.h
# always reaches the extension.
rm -rf python/build python/mcxfer.egg-info
if ! "$venv/bin/python" -m pip install -q --no-index --no-build-isolation \
	--force-reinstall --no-deps ./python >&2; then
	echo "venv.sh: pip install ./python failed" >&2
	exit 1
fi
rm -rf python/build python/mcxfer.egg-info
echo "$venv/bin/python"
