# SPDX-License-Identifier: GPL-2.0 OR MIT
"""Host-only tests of the mcxfer package: what works without an RDMA device
or /dev/mcxfer (errors, option handling, buffers, object life cycles)."""
import array
import dataclasses
import errno
import os
import subprocess
import sys
import textwrap
import weakref

import pytest

import mcxfer
from mcxfer._mcxfer import ffi, lib

HAVE_DEVICES = bool(mcxfer.devices())
HAVE_REGISTRY = os.path.exists("/dev/mcxfer")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    # The engine and the registry read MCX_*: a caller's setting must not
    # change what these tests see.
    for k in list(os.environ):
        if k.startswith("MCX_"):
            monkeypatch.delenv(k)
    # The registry-less engine logs at error level on every attempt.
    monkeypatch.setenv("MCX_REGISTRY", "off")


def closed_engine():
    """An Engine whose C engine is gone (as after close())."""
    eng = mcxfer.Engine.__new__(mcxfer.Engine)
    eng._eng = ffi.NULL
    eng._children = weakref.WeakSet()
    return eng


# ---- errors


def test_error_is_oserror_with_errno_and_library_message():
    e = mcxfer.Error(-errno.ENOSPC, "mcx_mem_register", "the log line")
    assert isinstance(e, OSError)
    assert e.errno == errno.ENOSPC
    assert e.strerror == mcxfer.strerror(errno.ENOSPC)
    assert e.strerror == ffi.string(lib.mcx_strerror(-errno.ENOSPC)).decode()
    assert str(e).startswith("mcx_mem_register: [Errno %d] " % errno.ENOSPC)
    assert str(e).endswith("(the log line)")


def test_strerror_takes_either_sign():
    assert mcxfer.strerror(errno.ENODEV) == mcxfer.strerror(-errno.ENODEV)
    assert "module" in mcxfer.strerror(-errno.ENODEV)


@pytest.mark.skipif(HAVE_DEVICES, reason="this host has RDMA devices")
def test_engine_without_devices_raises_enodev_with_the_log_line():
    with pytest.raises(mcxfer.Error) as ei:
        mcxfer.Engine()
    assert ei.value.errno == errno.ENODEV
    assert ei.value.func == "mcx_engine_create"
    assert "RDMA" in ei.value.log


def test_bad_option_value_raises_einval_naming_the_field():
    with pytest.raises(mcxfer.Error) as ei:
        mcxfer.Engine(slice_size=5)
    assert ei.value.errno == errno.EINVAL
    assert "slice_size" in str(ei.value)


def test_mcx_variables_still_override_options(monkeypatch):
    monkeypatch.setenv("MCX_MAX_WR", "0")
    with pytest.raises(mcxfer.Error) as ei:
        mcxfer.Engine(max_wr=16)
    assert ei.value.errno in (errno.EINVAL, errno.ERANGE)
    assert "MCX_MAX_WR" in ei.value.log


def test_unknown_keyword_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="'slice_sise'"):
        mcxfer.Engine(slice_sise=1 << 20)


def test_keyword_of_wrong_type_names_it():
    with pytest.raises(TypeError, match="port"):
        mcxfer.Engine(port="1")
    with pytest.raises(TypeError, match="listen"):
        mcxfer.Engine(listen=7000)


def test_keyword_out_of_its_c_range_names_it():
    with pytest.raises(ValueError, match="max_wr"):
        mcxfer.Engine(max_wr=1 << 40)
    with pytest.raises(ValueError, match="max_wr"):
        mcxfer.Engine(max_wr=-1)


def test_named_values_are_checked():
    with pytest.raises(ValueError, match="relaxed_ordering='sideways'"):
        mcxfer.Engine(relaxed_ordering="sideways")
    with pytest.raises(ValueError, match="registry"):
        mcxfer.Engine(registry="maybe")


def test_string_with_nul_is_refused():
    with pytest.raises(ValueError, match="devices"):
        mcxfer.Engine(devices="rxe0\0rxe1")


def test_every_field_of_the_options_struct_is_a_keyword():
    # Each field given its default value explicitly must end exactly as no
    # option at all: no TypeError for any field, and the same outcome.
    opts = ffi.new("struct mcx_engine_opts *")
    lib.mcx_engine_opts_init(opts)
    kw = {}
    for name, f in ffi.typeof("struct mcx_engine_opts").fields:
        v = getattr(opts, name)
        if f.type.kind == "pointer":
            v = None if v == ffi.NULL else ffi.string(v).decode()
            if v is None:
                continue
        kw[name] = v
    assert "slice_size" in kw and "registry" in kw
    outcomes = []
    for args in ({}, kw):
        try:
            mcxfer.Engine(**args).close()
            outcomes.append(0)
        except mcxfer.Error as e:
            outcomes.append(e.errno)
    assert outcomes[0] == outcomes[1]


def test_named_option_values_map_to_the_header_constants(monkeypatch):
    # A valid name passes the binding and reaches the library; a slice_size
    # the library refuses shows that create ran with it.
    for kw in ({"relaxed_ordering": "auto"}, {"registry": "off"}, {"gpu_nics": "all"},
               {"gid_index": "auto"}, {"mtu": "auto"}, {"log_level": "warn"},
               {"devices": ["rxe0", "rxe1"]}, {"poller": False}):
        with pytest.raises(mcxfer.Error) as ei:
            mcxfer.Engine(slice_size=1, **kw)
        assert ei.value.errno == errno.EINVAL, kw


def test_set_log_level():
    with pytest.raises(ValueError, match="loud"):
        mcxfer.set_log_level("loud")
    with pytest.raises(mcxfer.Error) as ei:
        mcxfer.set_log_level(9)
    assert ei.value.errno == errno.EINVAL
    mcxfer.set_log_level("warn")


# ---- devices, topology, registry


def test_devices_is_a_list_of_device_info():
    devs = mcxfer.devices()
    assert isinstance(devs, list)
    for d in devs:
        assert isinstance(d, mcxfer.DeviceInfo) and d.name
        assert all(isinstance(g, mcxfer.GidInfo) for g in d.gids)


def test_devices_policy_is_checked():
    with pytest.raises(ValueError, match="relaxed_ordering"):
        mcxfer.devices("sometimes")


def test_topology_is_consistent():
    t = mcxfer.topology()
    assert len(t.distance) == len(t.gpus)
    assert all(len(row) == len(t.nics) for row in t.distance)


def test_registry_open_fails_cleanly_without_the_device(monkeypatch, tmp_path):
    monkeypatch.setenv("MCX_REGISTRY_DEV", str(tmp_path / "no-such-device"))
    with pytest.raises(mcxfer.Error) as ei:
        mcxfer.Registry()
    assert ei.value.errno == errno.ENODEV
    assert ei.value.func == "mcx_registry_open"


def test_registry_open_refuses_a_device_that_is_not_mcxfer(monkeypatch):
    monkeypatch.setenv("MCX_REGISTRY_DEV", "/dev/null")
    with pytest.raises(mcxfer.Error) as ei:
        mcxfer.Registry()
    assert ei.value.errno == errno.ENODEV
    assert "/dev/null" in ei.value.log


def test_registry_bad_variable_names_it(monkeypatch):
    monkeypatch.setenv("MCX_REGISTRY_DEV", "dev/mcxfer")
    with pytest.raises(mcxfer.Error) as ei:
        mcxfer.Registry()
    assert ei.value.errno == errno.EINVAL
    assert "MCX_REGISTRY_DEV" in ei.value.log


@pytest.mark.skipif(HAVE_REGISTRY, reason="/dev/mcxfer exists here")
def test_registry_default_device_missing():
    with pytest.raises(mcxfer.Error) as ei:
        mcxfer.Registry()
    assert ei.value.errno == errno.ENODEV
    assert "module" in str(ei.value)


def test_engine_with_required_registry_and_no_module(monkeypatch, tmp_path):
    monkeypatch.setenv("MCX_REGISTRY_DEV", str(tmp_path / "none"))
    monkeypatch.delenv("MCX_REGISTRY")
    with pytest.raises(mcxfer.Error) as ei:
        mcxfer.Engine(registry="required")
    assert ei.value.errno == errno.ENODEV


# ---- buffers


def test_buffer_gives_its_address_and_length():
    buf = bytearray(8192)
    addr, n, keep = mcxfer._memory_arg(buf, None)
    assert n == 8192
    assert addr == int(ffi.cast("uintptr_t", ffi.from_buffer(buf)))
    # Held while registered: the bytearray cannot move.
    with pytest.raises(BufferError):
        buf.extend(b"x")
    del keep
    buf.extend(b"x")


def test_buffer_kinds():
    for obj, n in ((array.array("d", [0.0] * 16), 128), (memoryview(bytearray(64))[8:], 56),
                   (bytes(10), 10)):
        assert mcxfer._memory_arg(obj, None)[1] == n


def test_non_contiguous_buffer_is_refused():
    mv = memoryview(bytearray(64))[::2]
    with pytest.raises((BufferError, TypeError, ValueError)):
        mcxfer._memory_arg(mv, None)


def test_address_and_length_forms():
    assert mcxfer._memory_arg(0x1000, 4096)[:2] == (0x1000, 4096)
    with pytest.raises(TypeError, match="length"):
        mcxfer._memory_arg(0x1000, None)
    with pytest.raises(TypeError, match="length"):
        mcxfer._memory_arg(bytearray(8), 8)
    with pytest.raises(ValueError):
        mcxfer._memory_arg(0x1000, 0)
    with pytest.raises(ValueError, match="empty"):
        mcxfer._memory_arg(bytearray(), None)
    with pytest.raises(TypeError, match="buffer protocol"):
        mcxfer._memory_arg("text", None)
    with pytest.raises(TypeError):
        mcxfer._memory_arg(True, 8)


# ---- life cycles against a missing engine


def test_closed_engine_refuses_everything():
    eng = closed_engine()
    assert eng.closed
    for call in (lambda: eng.batch(4), lambda: eng.register(bytearray(4096)),
                 lambda: eng.peer("127.0.0.1:1"), lambda: eng.notify_poll(),
                 lambda: eng.stats(), lambda: eng.nics, lambda: eng.export_md(),
                 lambda: eng.open_named("x"), lambda: eng.register_dmabuf(3, 0, 4096, 0)):
        with pytest.raises(ValueError, match="engine is closed"):
            call()
    eng.close()
    eng.close()


def test_library_refuses_null_handles():
    out = ffi.new("struct mcx_batch **")
    assert lib.mcx_batch_create(ffi.NULL, 4, out) == -errno.EINVAL
    assert lib.mcx_batch_submit(ffi.NULL) == -errno.EINVAL
    assert lib.mcx_batch_wait(ffi.NULL, 0) == -errno.EINVAL
    assert lib.mcx_notify_poll(ffi.NULL, ffi.NULL, 0) == -errno.EINVAL
    assert lib.mcx_mem_deregister(ffi.NULL) == -errno.EINVAL
    lib.mcx_batch_free(ffi.NULL)


def test_closed_batch_and_peer_raise_value_error():
    b = mcxfer.Batch.__new__(mcxfer.Batch)
    b._b = ffi.NULL
    b.capacity = 4
    p = mcxfer.Peer.__new__(mcxfer.Peer)
    p._peer = ffi.NULL
    for call in (lambda: b.add(mcxfer.OP_READ, p, 0x1000, 0x2000, 4096),
                 lambda: b.write(p, 0x1000, 0x2000, 4096, tag=7),
                 b.submit, b.wait, b.status):
        with pytest.raises(ValueError, match="batch is closed"):
            call()
    for call in (p.warmup, p.list_mem, p.stats):
        with pytest.raises(ValueError, match="peer is closed"):
            call()
    b.close()
    p.close()
    with pytest.raises(ValueError, match="batch is closed"):
        mcxfer.wait_any([b])


def test_add_many_checks_its_arguments_before_the_batch():
    b = mcxfer.Batch.__new__(mcxfer.Batch)
    b._b = ffi.NULL
    b.capacity = 4
    b._added = ffi.new("size_t *")
    p = mcxfer.Peer.__new__(mcxfer.Peer)
    p._peer = ffi.NULL
    with pytest.raises(ValueError, match="local and remote"):
        b.add_many(mcxfer.OP_WRITE, p, [1, 2], [3], 4096)
    with pytest.raises(ValueError, match="length"):
        b.add_many(mcxfer.OP_WRITE, p, [1, 2], [3, 4], [4096])
    with pytest.raises(ValueError, match="cookies"):
        b.add_many(mcxfer.OP_WRITE, p, [1, 2], [3, 4], 4096, cookies=[1])
    with pytest.raises(ValueError, match="batch is closed"):
        b.add_many(mcxfer.OP_WRITE, p, array.array("Q", [1, 2]), range(3, 5), 4096)


def test_u64_arrays_from_sequences_and_buffers():
    for v in ([1, 2, 3], (1, 2, 3), range(1, 4), array.array("Q", [1, 2, 3])):
        a = mcxfer._u64s(v)
        assert [a[i] for i in range(3)] == [1, 2, 3]
    with pytest.raises(TypeError, match="8-byte"):
        mcxfer._u64s(array.array("I", [1, 2, 3]))


def test_u64_arrays_count_elements_and_refuse_other_eight_byte_formats():
    # Elements, not bytes, whatever the object's len() says.
    a, n = mcxfer._u64v(memoryview(array.array("Q", [5, 6])).cast("B").cast("Q"))
    assert n == 2 and a[1] == 6
    for code in "QqLl":
        a, n = mcxfer._u64v(array.array(code, [1, 2]))
        assert n == 2 and a[0] == 1
    a, n = mcxfer._u64v(array.array("q", [-1]))
    assert n == 1 and a[0] == 2 ** 64 - 1  # taken as it is: an address no registration has
    for bad in (array.array("d", [1.0]), memoryview(b"\0" * 16).cast("d"), bytearray(8)):
        with pytest.raises(TypeError, match="8-byte integers"):
            mcxfer._u64v(bad, "local")
    with pytest.raises(TypeError, match="contiguous"):
        mcxfer._u64v(memoryview(array.array("Q", [1, 2, 3, 4]))[::2], "local")
    with pytest.raises(OverflowError):
        mcxfer._u64s([-1])


def test_closed_registration_raises_value_error():
    m = mcxfer.Memory.__new__(mcxfer.Memory)
    m._mem = ffi.NULL
    m._owner = None
    with pytest.raises(ValueError, match="registration is closed"):
        m.info()
    m.close()
    m.deregister()


# ---- the binding itself


_RENAMED = {("struct mcx_notify", "from"): "sender"}
_FLATTENED = {("struct mcx_device_info", "nr_gids"), ("struct mcx_device_info", "gids")}


@pytest.mark.parametrize("cname", sorted(mcxfer._RECORDS))
def test_records_carry_every_field_of_their_struct(cname):
    cls = mcxfer._RECORDS[cname]
    have = {f.name for f in dataclasses.fields(cls)}
    for name, _ in ffi.typeof(cname).fields:
        if (cname, name) in _FLATTENED:
            continue
        assert _RENAMED.get((cname, name), name) in have, "%s.%s" % (cname, name)


def test_constants_come_from_the_header():
    assert mcxfer.MEM_EXPORT == 1 << 1 and mcxfer.MEM_CUDA == 1 << 2
    assert mcxfer.UID_SELF == 0xFFFFFFFF
    assert lib.MCX_GID_INDEX_AUTO == -1
    assert ffi.sizeof(ffi.new("struct mcx_reg_entry *").name) == lib.MCX_NAME_MAX


def test_calls_release_the_gil():
    # cffi's API mode wraps every call of the generated module, library
    # calls and this helper alike, in Py_BEGIN_ALLOW_THREADS.
    # A thread blocks in read(2) inside the extension; the main thread must
    # still run Python to write the byte that wakes it.  Run in a child so
    # that a held GIL shows as a timeout rather than a hung test run.
    code = textwrap.dedent("""
        import os, threading
        from mcxfer._mcxfer import lib
        r, w = os.pipe()
        res = []
        t = threading.Thread(target=lambda: res.append(lib.mcxpy_block_read(r)))
        t.start()
        # Wait until the thread sits in read(2) on r (syscall 0 on x86-64,
        # first argument r): only then does the write prove anything.
        want = "0 %s " % hex(r)
        path = "/proc/self/task/%d/syscall" % t.native_id
        while True:
            try:
                with open(path) as f:
                    if f.read().startswith(want):
                        break
            except OSError:
                pass
        os.write(w, b"x")
        t.join()
        print("woke", res[0])
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "woke 1"
