# SPDX-License-Identifier: GPL-2.0 OR MIT
"""Batches on this host through the library's libfabric transport (tcp
provider on "lo", no RDMA device): Batch.add_many() and
Batch.status_codes(), the fast path from Python, against real transfers,
and their error paths."""
import array
import errno
import mmap
import os
import subprocess
import sys

import pytest

import mcxfer
from mcxfer._mcxfer import lib

SIZE = 4096
SLOTS = 16


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for k in list(os.environ):
        if k.startswith("MCX_"):
            monkeypatch.delenv(k)


def fabric_engine(**kw):
    try:
        return mcxfer.Engine(transport=lib.MCX_TRANSPORT_FABRIC, fabric_provider="tcp",
                             devices="lo", registry="off", loopback_memcpy=0, **kw)
    except mcxfer.Error as e:
        if e.errno == errno.ENODEV:
            pytest.skip("libfabric's tcp provider offers no RDM endpoint here")
        raise


class Pair:
    """An engine, a source and an exported destination mapping, a peer to itself."""

    def __init__(self):
        self.eng = fabric_engine(listen="127.0.0.1:0")
        self.src = mmap.mmap(-1, SLOTS * SIZE)
        self.dst = mmap.mmap(-1, SLOTS * SIZE)
        self.ms = self.eng.register(self.src)
        self.md = self.eng.register(self.dst, export=True)
        self.peer = self.eng.peer(self.eng.listen_addr)
        self.peer.warmup()

    def fill(self, seed):
        self.src[:] = bytes((i * 7 + seed) & 0xFF for i in range(256)) * (SLOTS * SIZE // 256)
        self.dst[:] = bytes(SLOTS * SIZE)

    def locs(self, idx):
        return array.array("Q", (self.ms.addr + i * SIZE for i in idx))

    def rems(self, idx):
        return array.array("Q", (self.md.addr + i * SIZE for i in idx))

    def close(self):
        self.eng.close()
        self.src.close()
        self.dst.close()


@pytest.fixture(scope="module")
def pair():
    # Made before the per-test fixture runs: the caller's MCX_* go here too.
    with pytest.MonkeyPatch.context() as mp:
        for k in list(os.environ):
            if k.startswith("MCX_"):
                mp.delenv(k)
        p = Pair()
    yield p
    p.close()


def slot(buf, i):
    return buf[i * SIZE:(i + 1) * SIZE]


def test_warm_pairs_counts_every_pair_after_warmup(pair):
    pairs = pair.peer.stats()
    assert pairs and all(p.up for p in pairs)
    assert pair.peer.warm_pairs() == len(pairs)


def test_add_many_moves_every_request_from_arrays(pair):
    pair.fill(1)
    with pair.eng.batch(SLOTS) as b:
        idx = range(SLOTS)
        assert b.add_many(mcxfer.OP_WRITE, pair.peer, pair.locs(idx), pair.rems(idx), SIZE) \
            == SLOTS
        b.submit()
        assert b.wait(30000)
        assert [s.cookie for s in b.status()] == list(range(SLOTS))
        codes = b.status_codes()
    assert list(codes) == [0] * SLOTS
    assert pair.dst[:] == pair.src[:]


def test_add_many_from_lists_with_lengths_and_cookies_and_reads(pair):
    pair.fill(2)
    # Slots 3, 5, 8 written with their own lengths, then read back elsewhere.
    idx = [3, 5, 8]
    lens = [1, 100, SIZE]
    with pair.eng.batch(4) as b:
        b.add_many(mcxfer.OP_WRITE, pair.peer, list(pair.locs(idx)), list(pair.rems(idx)),
                   lens, cookies=[30, 50, 80])
        b.submit()
        assert b.wait(30000)
        assert [(s.cookie, s.len, s.status) for s in b.status()] == \
            [(30, 1, 0), (50, 100, 0), (80, SIZE, 0)]
        for i, n in zip(idx, lens):
            assert slot(pair.dst, i)[:n] == slot(pair.src, i)[:n]
            assert slot(pair.dst, i)[n:] == bytes(SIZE - n)
        # Reads: the peer's slots 3, 5, 8 into local slots 0, 1, 2.
        b.add_many(mcxfer.OP_READ, pair.peer, pair.locs([0, 1, 2]), pair.rems(idx),
                   array.array("Q", lens))
        b.submit()
        assert b.wait(30000)
        assert list(b.status_codes()) == [0, 0, 0]
    for j, (i, n) in enumerate(zip(idx, lens)):
        assert slot(pair.src, j)[:n] == slot(pair.dst, i)[:n]


def test_status_codes_carry_a_failed_request_and_are_a_snapshot(pair):
    pair.fill(3)
    with pair.eng.batch(3) as b:
        assert len(b.status_codes()) == 0
        rems = pair.rems([0, 1, 2])
        rems[1] = pair.md.addr + (SLOTS + 1024) * SIZE  # outside every export
        b.add_many(mcxfer.OP_WRITE, pair.peer, pair.locs([0, 1, 2]), rems, SIZE)
        assert list(b.status_codes()) == [-errno.EINPROGRESS] * 3
        b.submit()
        with pytest.raises(mcxfer.BatchError) as ei:
            b.wait(30000)
        codes = b.status_codes()
        assert codes.format == "i" and codes.readonly and codes.itemsize == 4
        assert codes[0] == 0 and codes[2] == 0 and codes[1] < 0
        assert codes[1] != -errno.EINPROGRESS
        assert [s.status for s in ei.value.statuses] == list(codes)
        # A new round does not change what was taken.
        b.add_many(mcxfer.OP_WRITE, pair.peer, pair.locs([0]), pair.rems([0]), SIZE)
        b.submit()
        assert b.wait(30000)
        assert list(b.status_codes()) == [0]
        assert codes[1] < 0 and len(codes) == 3


def test_add_many_of_nothing_queues_nothing(pair):
    with pair.eng.batch(2) as b:
        assert b.add_many(mcxfer.OP_WRITE, pair.peer, [], array.array("Q"), SIZE) == 0
        assert b.status() == []


@pytest.mark.parametrize("local, remote, length, cookies, exc, match", [
    ([1, 2], [3], SIZE, None, ValueError, "local and remote differ"),
    ([1, 2], [3, 4], [SIZE], None, ValueError, "length: expected 2"),
    ([1, 2], [3, 4], SIZE, [1], ValueError, "cookies: expected 2"),
    (array.array("d", [1.0]), [3], SIZE, None, TypeError, "local: .*8-byte integers"),
    ([1], array.array("I", [3]), SIZE, None, TypeError, "remote: .*8-byte integers"),
    ([1], [3], array.array("B", b"12345678"), None, TypeError, "length: .*8-byte"),
    (["a"], [3], SIZE, None, TypeError, "local: expected ints"),
    ([1.5], [3], SIZE, None, TypeError, "local: expected ints"),
    (b"\x00" * 8, [3], SIZE, None, TypeError, "local: .*8-byte integers"),
    ("12", [3, 4], SIZE, None, TypeError, "local: expected a sequence"),
    (5, [3], SIZE, None, TypeError, "local: expected a sequence"),
    ([-1], [3], SIZE, None, OverflowError, "local: a value is outside"),
    ([1], [2 ** 64], SIZE, None, OverflowError, "remote: a value is outside"),
    ([1], [3], -4, None, OverflowError, "negative"),
])
def test_add_many_refuses_bad_arguments_before_queuing(pair, local, remote, length, cookies,
                                                      exc, match):
    with pair.eng.batch(4) as b:
        with pytest.raises(exc, match=match):
            b.add_many(mcxfer.OP_WRITE, pair.peer, local, remote, length, cookies)
        assert b.status() == []


def test_add_many_failing_request_keeps_those_before_and_says_how_many(pair):
    pair.fill(4)
    with pair.eng.batch(4) as b:
        with pytest.raises(mcxfer.Error) as ei:
            b.add_many(mcxfer.OP_WRITE, pair.peer, pair.locs([0, 1, 2]), pair.rems([0, 1, 2]),
                       [SIZE, 0, SIZE])
        assert ei.value.errno == errno.EINVAL and ei.value.added == 1
        assert ei.value.func == "mcx_batch_add"
        with pytest.raises(mcxfer.Error) as ei:
            b.add_many(mcxfer.OP_WRITE, pair.peer, pair.locs(range(4)), pair.rems(range(4)),
                       SIZE)
        assert ei.value.errno == errno.ENOSPC and ei.value.added == 3
        b.submit()
        assert b.wait(30000)
        assert [s.cookie for s in b.status()] == [0, 0, 1, 2]
        assert list(b.status_codes()) == [0] * 4
    for i in range(3):
        assert slot(pair.dst, i) == slot(pair.src, i)


def test_add_many_bad_op_is_einval(pair):
    with pair.eng.batch(2) as b:
        with pytest.raises(mcxfer.Error) as ei:
            b.add_many(99, pair.peer, pair.locs([0]), pair.rems([0]), SIZE)
        assert ei.value.errno == errno.EINVAL and ei.value.added == 0


def test_peer_of_another_engine_is_refused(pair):
    other = fabric_engine()
    try:
        foreign = other.peer(pair.eng.listen_addr)
        with pair.eng.batch(2) as b:
            with pytest.raises(ValueError, match="another engine") as ei:
                b.add_many(mcxfer.OP_WRITE, foreign, pair.locs([0]), pair.rems([0]), SIZE)
            assert ei.value.added == 0
            with pytest.raises(ValueError, match="another engine"):
                b.write(foreign, pair.ms.addr, pair.md.addr, SIZE)
            with pytest.raises(ValueError, match="another engine"):
                b.add(mcxfer.OP_READ, foreign, pair.ms.addr, pair.md.addr, SIZE)
            assert b.status() == []
    finally:
        other.close()


def test_closed_batch_closed_peer_and_non_peer(pair):
    b = pair.eng.batch(2)
    b.close()
    with pytest.raises(ValueError, match="batch is closed"):
        b.add_many(mcxfer.OP_WRITE, pair.peer, [pair.ms.addr], [pair.md.addr], SIZE)
    with pytest.raises(ValueError, match="batch is closed"):
        b.status_codes()
    with pytest.raises(ValueError, match="batch is closed"):
        b.submit()
    p = pair.eng.peer(pair.eng.listen_addr)
    p.close()
    with pair.eng.batch(2) as b:
        with pytest.raises(ValueError, match="peer is closed"):
            b.add_many(mcxfer.OP_WRITE, p, [pair.ms.addr], [pair.md.addr], SIZE)
        with pytest.raises(TypeError, match="expected a Peer"):
            b.add_many(mcxfer.OP_WRITE, "peer", [pair.ms.addr], [pair.md.addr], SIZE)


def test_status_codes_before_any_request_is_empty(pair):
    with pair.eng.batch(1) as b:
        v = b.status_codes()
        assert isinstance(v, memoryview) and len(v) == 0


CYCLE = r"""
import gc, sys, weakref, mcxfer
from mcxfer._mcxfer import lib
eng = mcxfer.Engine(transport=lib.MCX_TRANSPORT_FABRIC, fabric_provider="tcp", devices="lo",
                    registry="off", listen="127.0.0.1:0")
buf = bytearray(8192)
mem = eng.register(buf, export=True)
peer = eng.peer(eng.listen_addr)
b = eng.batch(4)
b.add(mcxfer.OP_WRITE, peer, mem.addr, mem.addr + 4096, 4096)
b.submit()
b.wait()
gone = weakref.ref(eng)
holder = {"eng": eng, "mem": mem, "peer": peer, "b": b}
holder["self"] = holder  # engine and children become garbage together
del eng, mem, peer, b, holder
gc.collect()
print("engine collected" if gone() is None else "engine alive", flush=True)
"""


def test_engine_collected_with_its_children_in_a_cycle_frees_them_first(pair):
    # The collector clears weak references before any __del__ runs: the
    # engine used to be destroyed with its batch still allocated, whose
    # mcx_batch_free() then hung on the freed engine's lock.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCX_")}
    env["MCX_LOG_LEVEL"] = "error"
    try:
        out = subprocess.run([sys.executable, "-c", CYCLE], env=env, capture_output=True,
                             text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("collecting an engine with its batch in a cycle hangs")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "engine collected"
