#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# mcxfer-tool's and mcxfer-bench's argument handling, without a VM or the
# module.  mcxfer-tool: every command takes --help.  mcxfer-bench: --help
# exits 0 and prints the usage, bad arguments exit 2 (EXIT_USAGE) with a
# message naming the option, and a run without /dev/mcxfer exits 1 with a
# message naming the module.  Ends with "N passed, N failed, N skipped".
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
cd "$MCX_TOP" || exit 2

if ! make -s -C tools -j2 >/dev/null; then
	echo "bench-usage: building the tools failed"
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
fi
BENCH=build/tools/mcxfer-bench
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# expect NAME STATUS PATTERN ARGS...: exit status and a line of its output
# (of mcxfer-bench, or of the program in $PROG).
expect() {
	local name=$1 want=$2 pat=$3 st
	shift 3
	"${PROG:-$BENCH}" "$@" >"$out" 2>&1
	st=$?
	if [ "$st" -ne "$want" ]; then
		echo "# $name: exit status $st, want $want; output:"
		sed 's/^/#   /' "$out"
		mcx_result "$name" 1
	elif ! grep -qE -- "$pat" "$out"; then
		echo "# $name: no line matching '$pat' in:"
		sed 's/^/#   /' "$out"
		mcx_result "$name" 1
	else
		mcx_result "$name" 0
	fi
}

for c in info list evict devices; do
	PROG=build/tools/mcxfer-tool expect "mcxfer-tool $c --help" 0 '^usage: mcxfer-tool' "$c" --help
done
PROG=build/tools/mcxfer-tool expect "mcxfer-tool unknown command" 2 "unknown command 'nosuch'" nosuch

# mcxfer-tool devices: the libfabric part.  The provider named in
# MCX_FABRIC_PROVIDER (or --provider) is the one listed, with each domain's
# fields; the JSON and the text say the same; a bad name is a usage error
# naming where it came from.  The host's libfabric (Debian 12: 1.17) has
# the tcp provider, alone and under ofi_rxm.
TOOL=build/tools/mcxfer-tool
json=$(mktemp)
trap 'rm -f "$out" "$json" "$json.why"' EXIT

# fabric_json NAME PROVIDER_ENV CHECKS: run devices --json with
# MCX_FABRIC_PROVIDER=PROVIDER_ENV (unset when "-"), then the python
# statements CHECKS with f (the "fabric" object) and env (the value); an
# assertion that fails is reported with the output.
fabric_json() {
	local name=$1 prov=$2 checks=$3 st
	if [ "$prov" = - ]; then
		env -u MCX_FABRIC_PROVIDER "$TOOL" devices --json >"$json" 2>"$out"
	else
		MCX_FABRIC_PROVIDER=$prov "$TOOL" devices --json >"$json" 2>"$out"
	fi
	st=$?
	if [ "$st" -ne 0 ]; then
		echo "# $name: exit status $st, want 0; output:"
		sed 's/^/#   /' "$json" "$out"
		mcx_result "$name" 1
		return
	fi
	if ! python3 - "$json" "$prov" >"$out" 2>&1 <<PY
import json, re, sys
doc = json.load(open(sys.argv[1]))
env = sys.argv[2]
f = doc["fabric"]
assert re.fullmatch(r"\d+\.\d+", f["libfabric_version"]), f["libfabric_version"]
assert isinstance(f["dmabuf_build"], bool)
for d in f["domains"]:
    for k in ("domain", "fabric", "address"):
        assert isinstance(d[k], str), (k, d)
    assert d["domain"], d
    assert isinstance(d["mr_mode"], int) and d["mr_mode"] >= 0, d
    assert all(re.fullmatch(r"FI_MR_[A-Z_]+|0x[0-9a-f]+", x) for x in d["mr_mode_flags"]), d
    assert (d["mr_mode"] == 0) == (d["mr_mode_flags"] == []), d
    assert d["max_msg_size"] > 0 and d["tx_size"] > 0, d
    assert d["max_mr_size"] is None or d["max_mr_size"] > 0, d
    assert d["mr_key_size"] in range(1, 9), d
    assert isinstance(d["hmem"], bool), d
    # loopback domains are used only when named
    assert d["used"] == (not d["address"].startswith("127.") and d["address"] != "::1"), d
assert len({d["domain"] for d in f["domains"]}) == len(f["domains"]), "a domain twice"
$checks
PY
	then
		echo "# $name: the JSON does not hold:"
		sed 's/^/#   /' "$out" "$json"
		mcx_result "$name" 1
	else
		mcx_result "$name" 0
	fi
}

for p in 'tcp;ofi_rxm' tcp; do
	fabric_json "devices --json: MCX_FABRIC_PROVIDER=$p is listed with its domains" "$p" '
assert f["requested"] == env and f["requested_by"] == "MCX_FABRIC_PROVIDER", f
assert f["provider"] == env, f
assert len(f["domains"]) >= 1, f'
	MCX_FABRIC_PROVIDER=$p PROG=$TOOL expect "devices: MCX_FABRIC_PROVIDER=$p is the provider" 0 \
		"provider ${p} from MCX_FABRIC_PROVIDER: ${p}, [1-9][0-9]* domains?\$" devices
done
fabric_json "devices --json: auto takes the first of efa, verbs;ofi_rxm, tcp;ofi_rxm" - '
assert f["requested"] == "auto" and f["requested_by"] == "default", f
assert f["provider"] in ("efa", "verbs;ofi_rxm", "tcp;ofi_rxm"), f'
fabric_json "devices --json: a provider that offers nothing lists nothing" nosuchprovider '
assert f["provider"] is None and f["domains"] == [], f'

# The text says what the JSON says, domain by domain.
name="devices: the text shows every domain of the JSON with its fields"
if MCX_FABRIC_PROVIDER='tcp;ofi_rxm' "$TOOL" devices --json >"$json" 2>&1 &&
   MCX_FABRIC_PROVIDER='tcp;ofi_rxm' "$TOOL" devices >"$out" 2>&1 &&
   python3 - "$json" "$out" 2>"$json.why" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))["fabric"]
text = open(sys.argv[2]).read()
assert f["domains"], "no domains"
blocks = text.split("\n")
for d in f["domains"]:
    head = [i for i, l in enumerate(blocks) if l.startswith(d["domain"] + " (fabric " + d["fabric"])]
    assert len(head) == 1, (d["domain"], text)
    block = "\n".join(blocks[head[0]:head[0] + 5])
    assert blocks[head[0]].endswith("): used") == d["used"], block
    assert "mr_mode %s (0x%x)" % ("|".join(d["mr_mode_flags"]) or "none", d["mr_mode"]) in block, block
    assert "(%d bytes), tx queue size %d " % (d["max_msg_size"], d["tx_size"]) in block, block
    assert "key size %d bytes" % d["mr_key_size"] in block, block
    assert ("HMEM: FI_HMEM offered" if d["hmem"] else "HMEM: no FI_HMEM") in block, block
    assert "FI_MR_DMABUF): " + ("built in" if f["dmabuf_build"] else "not in this build") in block, block
PY
then
	mcx_result "$name" 0
else
	echo "# $name: they differ:"
	sed 's/^/#   /' "$json.why" "$json" "$out"
	mcx_result "$name" 1
fi

MCX_FABRIC_PROVIDER='no such!' PROG=$TOOL expect "devices: a bad MCX_FABRIC_PROVIDER is a usage error naming it" \
	2 '^mcxfer-tool: MCX_FABRIC_PROVIDER="no such!": expected "auto" or a libfabric provider name' devices
MCX_FABRIC_PROVIDER='tcp;' PROG=$TOOL expect "devices --json: MCX_FABRIC_PROVIDER ending in ';' is refused" \
	2 'MCX_FABRIC_PROVIDER="tcp;": expected' devices --json
MCX_FABRIC_PROVIDER="$(printf 'p%.0s' $(seq 32))" PROG=$TOOL \
	expect "devices: MCX_FABRIC_PROVIDER of 32 characters is refused" 2 'MCX_FABRIC_PROVIDER="p+": expected' devices
MCX_FABRIC_PROVIDER=tcp PROG=$TOOL expect "devices: --provider wins over MCX_FABRIC_PROVIDER" 0 \
	'provider shm from --provider: shm, 1 domain$' devices --provider shm
PROG=$TOOL expect "devices: a bad --provider is a usage error naming it" 2 \
	"^mcxfer-tool: --provider 'a/b': expected" devices --provider a/b
PROG=$TOOL expect "devices: --provider without a value" 2 '--provider needs a libfabric provider name' \
	devices --provider
expect "mcxfer-bench --help lists startup" 0 '^  startup ' --help
expect "startup --help" 0 'usage: mcxfer-bench startup --size SIZE' startup --help
expect "startup without --size" 2 '--size is required' startup
expect "startup --size below a page" 2 "--size '3000': out of range" startup --size 3000
expect "startup --size not whole pages" 2 "--size '5000': not valid; expected whole pages" startup --size 5000
expect "startup --size not a size" 2 "--size '1Q': not valid" startup --size 1Q
expect "startup --procs 1" 2 "--procs '1': out of range; expected 2..16" startup --size 1M --procs 1
expect "startup --procs 17" 2 "--procs '17': out of range" startup --size 1M --procs 17
expect "startup --timeout 0" 2 "--timeout '0': out of range" startup --size 1M --timeout 0
expect "startup --name too long" 2 "--name '.*': not valid" startup --size 1M \
	--name "$(printf 'n%.0s' $(seq 70))"
expect "startup option without value" 2 "--devices '': not valid; expected a value after it" \
	startup --size 1M --devices
expect "startup unknown option" 2 "unknown option '--bogus'" startup --size 1M --bogus 1
expect "startup stray argument" 2 "unexpected argument 'extra'" startup --size 1M extra
expect "startup hidden --child takes cold or warm" 2 "--child 'hot': not valid" \
	startup --size 1M --child hot
expect "unknown subcommand" 2 "unknown subcommand 'nosuch'" nosuch

# --transport and --provider: the same checks in every subcommand that
# creates engines (the other options each needs come first).
declare -A base=(
	[xfer]="xfer --mode target --listen 127.0.0.1:0"
	[reg]="reg --size 1M"
	[startup]="startup --size 1M"
	[handshake]="handshake --peer 127.0.0.1:9 --hostile 0"
	[peers]="peers --peers 127.0.0.1:9"
	[first]="first --peer 127.0.0.1:9"
)
for c in xfer reg startup handshake peers first; do
	# shellcheck disable=SC2086 # the base arguments are words
	set -- ${base[$c]}
	expect "$c --help lists --transport" 0 '^  --transport KIND ' "$c" --help
	expect "$c --help lists --provider" 0 '^  --provider NAME ' "$c" --help
	expect "$c --transport bogus" 2 "--transport 'bogus': expected verbs, fabric or auto" \
		"$@" --transport bogus
	expect "$c --transport is case-sensitive" 2 "--transport 'Fabric': expected" \
		"$@" --transport Fabric
	expect "$c --provider with a blank" 2 "--provider 'tcp ofi_rxm': not valid" \
		"$@" --provider 'tcp ofi_rxm'
	expect "$c --provider empty" 2 "--provider '': not valid" "$@" --provider ''
	expect "$c --provider of 32 characters" 2 "--provider '.*': not valid; expected 1..31" \
		"$@" --provider "$(printf 'p%.0s' $(seq 32))"
	expect "$c --provider with --transport verbs" 2 \
		'--provider applies to --transport fabric \(or auto\), not verbs' \
		"$@" --transport verbs --provider 'tcp;ofi_rxm'
done
expect "mcxfer-bench --help lists first" 0 '^  first ' --help
expect "first without --peer" 2 '--peer HOST:PORT is required' first
expect "first --rounds 0" 2 "--rounds '0': out of range; expected 1..1000" first --peer 127.0.0.1:9 --rounds 0
expect "first --remote-addr not page-aligned" 2 "--remote-addr '0x100000001': not valid" \
	first --peer 127.0.0.1:9 --remote-addr 0x100000001
expect "first --peer without a port" 2 "--peer '127.0.0.1': expected HOST:PORT" first --peer 127.0.0.1
expect "first unknown option" 2 "unknown option '--bogus'" first --peer 127.0.0.1:9 --bogus 1
expect "xfer --transport without a value" 2 '--transport needs a value' \
	xfer --mode target --listen 127.0.0.1:0 --transport
# Accepted values reach the engine: an unknown provider is libfabric's
# error (exit 1), not a usage error; MCX_TRANSPORT still wins over the
# option (the verbs transport then finds no RDMA device here, or no
# module).
expect "xfer --transport fabric --provider nosuch reaches libfabric" 1 \
	'libfabric provider nosuch: no domain offers' \
	xfer --mode target --listen 127.0.0.1:0 --transport fabric --provider nosuch --max-wait 0.1
expect "reg --transport fabric --provider nosuch reaches libfabric" 1 \
	'libfabric provider nosuch: no domain offers' \
	reg --size 1M --repeat 1 --hits 1 --transport fabric --provider nosuch
MCX_TRANSPORT=verbs "$BENCH" reg --size 1M --repeat 1 --hits 1 --devices nosuch0 \
	--transport fabric --provider nosuch >"$out" 2>&1
st=$?
if [ "$st" -eq 1 ] && ! grep -q 'libfabric' "$out" && grep -q 'creating the engine' "$out"; then
	mcx_result "MCX_TRANSPORT=verbs wins over --transport fabric" 0
else
	echo "# MCX_TRANSPORT=verbs with --transport fabric: exit status $st (want 1, the verbs engine's error, no libfabric); output:"
	sed 's/^/#   /' "$out"
	mcx_result "MCX_TRANSPORT=verbs wins over --transport fabric" 1
fi
if [ -e /dev/mcxfer ]; then
	mcx_skip "startup without /dev/mcxfer" "/dev/mcxfer exists on this host"
else
	expect "startup without /dev/mcxfer" 1 'this benchmark needs the module' \
		startup --size 1M --devices nosuch0
fi
mcx_summary
