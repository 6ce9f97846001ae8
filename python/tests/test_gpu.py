# SPDX-License-Identifier: GPL-2.0 OR MIT
"""CUDA device memory through the binding.  Skips without the CUDA driver, a
GPU, or an RDMA device (an engine needs one).

The CUDA driver API is reached with ctypes function calls only (no structs):
cuInit, cuDeviceGet, cuCtxCreate, cuMemAlloc, cuMemcpy*, cuMemFree.
"""
import ctypes
import ctypes.util
import errno

import pytest

import mcxfer


def _cuda():
    name = ctypes.util.find_library("cuda") or "libcuda.so.1"
    try:
        cu = ctypes.CDLL(name)
    except OSError:
        return None, "no CUDA driver (libcuda)"
    if cu.cuInit(0) != 0:
        return None, "cuInit failed (no GPU?)"
    n = ctypes.c_int()
    if cu.cuDeviceGetCount(ctypes.byref(n)) != 0 or n.value == 0:
        return None, "no CUDA device"
    return cu, ""


CU, WHY = _cuda()
pytestmark = [pytest.mark.skipif(CU is None, reason=WHY),
              pytest.mark.skipif(CU is not None and not mcxfer.devices(),
                                 reason="no RDMA device for an engine")]

SIZE = 1 << 20


@pytest.fixture
def ctx():
    dev = ctypes.c_int()
    assert CU.cuDeviceGet(ctypes.byref(dev), 0) == 0
    c = ctypes.c_void_p()
    assert CU.cuCtxCreate_v2(ctypes.byref(c), 0, dev) == 0
    yield c
    CU.cuCtxDestroy_v2(c)


@pytest.fixture
def gpu_buf(ctx):
    ptr = ctypes.c_uint64()
    assert CU.cuMemAlloc_v2(ctypes.byref(ptr), ctypes.c_size_t(SIZE)) == 0
    yield ptr.value
    CU.cuMemFree_v2(ctypes.c_uint64(ptr.value))


def test_register_cuda_pointer(gpu_buf):
    with mcxfer.Engine(registry="off") as eng:
        with eng.register_cuda(gpu_buf, SIZE, export=True) as mem:
            assert mem.addr == gpu_buf and mem.length == SIZE
            assert mem.info().len >= SIZE


def test_cuda_flag_refuses_host_memory():
    with mcxfer.Engine(registry="off") as eng:
        buf = bytearray(SIZE)
        with pytest.raises(mcxfer.Error) as ei:
            eng.register(buf, cuda=True)
        assert ei.value.errno == errno.EINVAL


def test_write_host_to_gpu_over_rdma_loopback(gpu_buf):
    # loopback_memcpy off: the same-process peer is reached over the NIC.
    with mcxfer.Engine(registry="off", listen="127.0.0.1:0", loopback_memcpy=False) as eng:
        src = bytearray((i * 7) & 0xFF for i in range(SIZE))
        with eng.register(src) as smem, eng.register_cuda(gpu_buf, SIZE, export=True):
            peer = eng.peer(eng.listen_addr)
            with eng.batch(4) as b:
                b.write(peer, smem.addr, gpu_buf, SIZE, cookie=1)
                b.submit()
                assert b.wait()
                assert [s.status for s in b.status()] == [0]
        back = ctypes.create_string_buffer(SIZE)
        assert CU.cuMemcpyDtoH_v2(back, ctypes.c_uint64(gpu_buf), ctypes.c_size_t(SIZE)) == 0
        assert back.raw == bytes(src)
