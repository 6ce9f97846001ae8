#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# The manual pages in man/: every public function has a page in section 3
# (its own, or a ".so" link to the page of its group) whose NAME names it
# and whose SYNOPSIS has its prototype exactly as include/mcxfer.h declares
# it; every page formats without a warning from man(1)/groff; every mcxfer
# page a page refers to exists; mcxfer-env(7) names every MCX_* variable
# the sources read; `make install-man` / `uninstall-man` put every page in
# place and take it away again.  No build, no VM, no module.
# Ends with "N passed, N failed, N skipped".
#
# The public functions are those the version script lib/libmcxfer.map
# names and those include/mcxfer.h declares (MCXFER_0.1 exports mcx_* by
# pattern, so the header is what lists its functions).
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
cd "$MCX_TOP" || exit 2

MAP=lib/libmcxfer.map
HDR=include/mcxfer.h
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! command -v man >/dev/null || ! command -v groff >/dev/null; then
	echo "manpages: man (man-db) and groff (groff-base) are needed: run tests/deps.sh"
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
fi

# Plain text of a page, formatted as man(1) shows it, without hyphenation
# or justification so that names and prototypes come out whole.  Run in
# man/ so that ".so man3/x.3" resolves.
render() {		# path relative to man/
	(cd man && MANWIDTH=400 man -E ascii --nh --nj -l "$1" 2>/dev/null)
}

# The lines of one section of a rendered page, joined into one line with
# single blanks (and none just inside parentheses or before a comma).
section() {		# name < rendered page
	awk -v want="$1" '/^[A-Z][A-Z ]*$/ { f = ($0 == want); next } f' |
		normalize
}
normalize() {
	tr -s ' \t\n' '   ' | sed -e 's/( /(/g' -e 's/ )/)/g' -e 's/ ,/,/g' \
		-e 's/^ //' -e 's/ $//'
}

# "name<TAB>prototype" for every function mcxfer.h declares.
awk '
	/^typedef/ { next }
	!in_decl && /^[a-z].*[ *]mcx_[a-z0-9_]+\(/ { in_decl = 1; decl = "" }
	in_decl {
		decl = decl " " $0
		if ($0 ~ /\);/) {
			in_decl = 0
			match(decl, /mcx_[a-z0-9_]+\(/)
			print substr(decl, RSTART, RLENGTH - 1) "\t" decl
		}
	}' "$HDR" > "$tmp/decls.raw"
while IFS=$'\t' read -r name decl; do
	printf '%s\t%s\n' "$name" "$(printf '%s' "$decl" | normalize)"
done < "$tmp/decls.raw" > "$tmp/decls"

{
	cut -f1 "$tmp/decls"
	sed -n 's/^[[:space:]]*\(mcx_[a-z0-9_]*\);.*/\1/p' "$MAP"
} | sort -u > "$tmp/symbols"
echo "# $(wc -l < "$tmp/symbols") public functions"

while read -r sym <&3; do
	page=man/man3/$sym.3
	if [ ! -f "$page" ]; then
		echo "# $sym: no man/man3/$sym.3 (write a page, or a '.so man3/OTHER.3' link to its group's page)"
		mcx_result "$sym has a page" 1
		continue
	fi
	target=$(sed -n '1s/^\.so \(man3\/[a-z0-9_]*\.3\)$/\1/p' "$page")
	if [ -n "$target" ] && [ ! -f "man/$target" ]; then
		echo "# $page links to $target, which does not exist"
		mcx_result "$sym has a page" 1
		continue
	fi
	mcx_result "$sym has a page${target:+ ($target)}" 0

	render "man3/$sym.3" > "$tmp/page"
	if section NAME < "$tmp/page" | grep -qE "(^|[ ,])$sym([ ,]|$)"; then
		mcx_result "$sym is named in its page's NAME" 0
	else
		echo "# NAME of $page: $(section NAME < "$tmp/page")"
		mcx_result "$sym is named in its page's NAME" 1
	fi

	proto=$(awk -F'\t' -v s="$sym" '$1 == s { print $2 }' "$tmp/decls")
	if [ -z "$proto" ]; then
		echo "# $sym is in $MAP but $HDR does not declare it"
		mcx_result "$sym's prototype is in its page's SYNOPSIS" 1
	elif section SYNOPSIS < "$tmp/page" | grep -qF -- "$proto"; then
		mcx_result "$sym's prototype is in its page's SYNOPSIS" 0
	else
		echo "# $HDR: $proto"
		echo "# SYNOPSIS of $page: $(section SYNOPSIS < "$tmp/page")"
		mcx_result "$sym's prototype is in its page's SYNOPSIS" 1
	fi
done 3< "$tmp/symbols"

# Every page: no warning from man/groff (-ww), and the sections a reader
# looks for.  Links (".so") are checked through the page they name.
for page in man/man[1-8]/*.[1-8]; do
	rel=${page#man/}
	if grep -q '^\.so ' "$page"; then
		continue
	fi
	warn=$( (cd man && MANWIDTH=80 man --warnings -E UTF-8 -l "$rel" 2>&1 >/dev/null) )
	if [ -z "$warn" ]; then
		mcx_result "$rel formats without warnings" 0
	else
		printf '%s\n' "$warn" | sed 's/^/#   /'
		mcx_result "$rel formats without warnings" 1
	fi
	case $rel in
	man3/libmcxfer.3) need="NAME SYNOPSIS DESCRIPTION" ;;
	man3/*) need="NAME SYNOPSIS DESCRIPTION RETURN.VALUE ERRORS SEE.ALSO" ;;
	*) need="NAME SYNOPSIS DESCRIPTION SEE.ALSO" ;;
	esac
	[ "$rel" = man7/mcxfer-env.7 ] && need="NAME DESCRIPTION SEE.ALSO"
	missing=
	for s in $need; do
		grep -qE "^\.SH \"?${s}\"?$" "$page" || missing="$missing ${s/./ }"
	done
	[ -n "$missing" ] && echo "# $rel lacks:$missing"
	mcx_result "$rel has its sections" "$([ -z "$missing" ]; echo $?)"
done

# References to mcxfer's own pages must lead somewhere.
bad=
while read -r ref; do
	name=${ref% *}
	sec=${ref#* }
	[ -f "man/man$sec/$name.$sec" ] || bad="$bad $name($sec)"
done < <(grep -ohE '^\.BR? (mcx_[a-z0-9_]+|mcxfer[a-z-]*|libmcxfer) \([1-8]\)' man/man[1-8]/* |
	sed -E 's/^\.BR? ([^ ]+) \(([1-8])\)/\1 \2/' | sort -u)
[ -n "$bad" ] && echo "# pages referred to but missing:$bad"
mcx_result "every mcxfer page referred to exists" "$([ -z "$bad" ]; echo $?)"

# Every MCX_* variable the library and tools read is in mcxfer-env(7).
bad=
for v in $(grep -rhoE '"MCX_[A-Z0-9_]+"' lib tools | tr -d '"' | sort -u); do
	grep -qE "^\.B(R)? $v( |$)" man/man7/mcxfer-env.7 || bad="$bad $v"
done
[ -n "$bad" ] && echo "# mcxfer-env(7) does not describe:$bad"
mcx_result "mcxfer-env(7) describes every MCX_* variable" "$([ -z "$bad" ]; echo $?)"

# make install-man puts every page under MANDIR/manN; uninstall-man takes
# every one away again.  MANDIR is given: under `make test` the top-level
# Makefile exports its own (PREFIX /usr/local) to this script.
dest=$tmp/dest
if make -s install-man DESTDIR="$dest" PREFIX=/usr MANDIR=/usr/share/man >"$tmp/log" 2>&1; then
	bad=
	for page in man/man[1-8]/*.[1-8]; do
		cmp -s "$page" "$dest/usr/share/man/${page#man/}" || bad="$bad ${page#man/}"
	done
	[ -n "$bad" ] && echo "# not installed:$bad"
	mcx_result "make install-man installs every page" "$([ -z "$bad" ]; echo $?)"
	if MANWIDTH=80 man -M "$dest/usr/share/man" 3 mcx_batch_add_notify 2>/dev/null |
		grep -q 'mcx_batch_add_notify'; then
		mcx_result "man finds an installed link page" 0
	else
		mcx_result "man finds an installed link page" 1
	fi
	make -s uninstall-man DESTDIR="$dest" PREFIX=/usr MANDIR=/usr/share/man >"$tmp/log" 2>&1
	left=$(find "$dest" -type f | sed "s|^$dest/||")
	[ -n "$left" ] && echo "# left after uninstall-man: $left"
	mcx_result "make uninstall-man removes every page" "$([ -z "$left" ]; echo $?)"
else
	sed 's/^/#   /' "$tmp/log"
	mcx_result "make install-man installs every page" 1
fi

mcx_summary
