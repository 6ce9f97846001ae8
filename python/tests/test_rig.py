# SPDX-License-Identifier: GPL-2.0 OR MIT
"""Transfers between the two guests of the rig (tests/integration/py-guest.sh
runs this file in both, under tests/vm/run-pair.sh).  Guest B
(MCXFER_HOST_INDEX 1) serves an exported buffer and waits for guest A's
tagged write; guest A reads B's buffer, writes half of it back with a tag,
and checks per-request statuses, including a failing request.  Both guests
also check the registry against mcxfer-tool and a same-process peer opened
from a metadata blob.  Skips outside the rig."""
import errno
import json
import os
import select
import subprocess
import time

import pytest

import mcxfer

ROLE = os.environ.get("MCXFER_HOST_INDEX")
pytestmark = pytest.mark.skipif(ROLE is None, reason="not in a rig guest")

PORT = 7491
SIZE = 1 << 20
HALF = SIZE // 2
TAG = 42
DEVICES = "rxe0,rxe1"


def pattern(seed, n):
    return bytes((i * seed + 7) & 0xFF for i in range(n))


def addr(kind, rail=0):
    return os.environ["MCXFER_%s_ADDRS" % kind].split(",")[rail]


@pytest.mark.skipif(ROLE != "1", reason="guest B's part")
def test_b_serves_and_receives_the_tagged_write():
    with mcxfer.Engine(devices=DEVICES, listen="0.0.0.0:%d" % PORT, registry="off") as eng:
        buf = bytearray(pattern(13, SIZE))
        with eng.register(buf, export=True):
            fd = eng.notify_fd()
            got = []
            deadline = time.monotonic() + 300
            while not got and time.monotonic() < deadline:
                select.select([fd], [], [], 5)
                got = eng.notify_poll()
            assert [n.tag for n in got] == [TAG]
            assert addr("PEER") in got[0].sender
            assert bytes(buf[:HALF]) == pattern(13, SIZE)[:HALF]
            assert bytes(buf[HALF:]) == pattern(5, HALF)


@pytest.mark.skipif(ROLE != "0", reason="guest A's part")
def test_a_reads_writes_with_a_tag_and_sees_statuses():
    with mcxfer.Engine(devices=DEVICES, registry="off") as eng:
        assert eng.nics == 2
        local = bytearray(SIZE)
        mem = eng.register(local)
        # B's listener comes up with its engine, before its registration:
        # open again until the handshake describes the buffer.
        peer, remote = None, []
        deadline = time.monotonic() + 240
        while not remote:
            if peer is not None:
                peer.close()
                time.sleep(1)
            try:
                peer = eng.peer("%s:%d" % (addr("PEER"), PORT))
            except mcxfer.Error as e:
                if e.errno != errno.ECONNREFUSED or time.monotonic() > deadline:
                    raise
                peer = None
                time.sleep(1)
                continue
            remote = [m for m in peer.list_mem() if m.len == SIZE]
            assert remote or time.monotonic() < deadline, peer.list_mem()
        assert len(remote) == 1 and remote[0].kind == 0
        raddr = remote[0].addr

        with eng.batch(16) as b:
            # Read all of B's buffer in 16 requests with their own cookies.
            step = SIZE // 16
            b.add_many(mcxfer.OP_READ, peer, [mem.addr + i * step for i in range(16)],
                       [raddr + i * step for i in range(16)], step,
                       cookies=[100 + i for i in range(16)])
            b.submit()
            assert b.wait()
            st = b.status()
            assert [s.cookie for s in st] == [100 + i for i in range(16)]
            assert all(s.ok and s.op == mcxfer.OP_READ and s.len == step for s in st)
            assert bytes(local) == pattern(13, SIZE)

            # A request outside B's registration fails alone, with its status.
            b.read(peer, mem.addr, raddr, 4096, cookie=1)
            b.read(peer, mem.addr + 4096, raddr + SIZE, 4096, cookie=2)
            b.submit()
            with pytest.raises(mcxfer.BatchError) as ei:
                b.wait()
            assert ei.value.errno == errno.EFAULT
            assert [(s.cookie, s.status) for s in ei.value.statuses] == \
                [(1, 0), (2, -errno.EFAULT)]

            # The second half back to B, the tag after it.
            local[HALF:] = pattern(5, HALF)
            b.write(peer, mem.addr + HALF, raddr + HALF, HALF, cookie=7, tag=TAG)
            b.submit()
            assert b.wait(60000)
            assert [(s.cookie, s.status) for s in b.status()] == [(7, 0)]
        assert any(p.bytes > 0 for p in peer.stats())
        peer.close()
        mem.close()


def test_same_process_peer_from_a_metadata_blob():
    with mcxfer.Engine(devices=DEVICES, listen="127.0.0.1:0", registry="off") as eng:
        src = bytearray(pattern(3, 65536))
        dst = bytearray(65536)
        ms, md = eng.register(src), eng.register(dst, export=True)
        blob = eng.export_md()
        assert isinstance(blob, bytes) and blob
        peer = eng.peer_md(blob)
        with eng.batch(1) as b:
            b.write(peer, ms.addr, md.addr, len(src))
            b.submit()
            assert b.wait()
        assert dst == src
        with pytest.raises(mcxfer.Error) as ei:
            eng.peer_md(b"not a blob")
        assert ei.value.errno in (errno.EBADMSG, errno.EPROTO)


def _tool_list():
    out = subprocess.run(["build/tools/mcxfer-tool", "list", "--json"], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def _steady(entries):
    # Ages move between the two reads.
    return [{k: v for k, v in e.items() if k not in ("age_ms", "idle_ms")} for e in entries]


@pytest.mark.skipif(not os.path.exists("/dev/mcxfer"), reason="module not loaded")
def test_registry_matches_mcxfer_tool():
    with mcxfer.Registry() as reg:
        info = reg.info()
        assert info.abi_version >= 2
        named = None
        if os.path.exists("/dev/udmabuf"):
            eng = mcxfer.Engine(devices=DEVICES, registry="required")
            fd = os.memfd_create("py-rig", os.MFD_ALLOW_SEALING)
            os.ftruncate(fd, SIZE)
            import mmap
            m = mmap.mmap(fd, SIZE, mmap.MAP_SHARED)
            named = eng.register_named("py-rig-%s" % ROLE, src="memfd", fd=fd, length=SIZE,
                                       addr=m)
            assert named.info().named == 1
        try:
            mine = reg.list_json()
            assert _steady(mine) == _steady(_tool_list())
            if named is not None:
                e = [x for x in mine if x["name"] == "py-rig-%s" % ROLE]
                assert len(e) == 1 and e[0]["bytes"] == SIZE and e[0]["mr_list"]
                assert reg.lookup("py-rig-%s" % ROLE).length == SIZE
        finally:
            if named is not None:
                named.close()
                eng.close()
        with pytest.raises(mcxfer.Error) as ei:
            reg.lookup("no-such-entry")
        assert ei.value.errno == errno.ENOENT
