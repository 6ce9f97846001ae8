# SPDX-License-Identifier: GPL-2.0 OR MIT
"""Python binding of libmcxfer (``mcxfer.h``).

Everything here is a thin layer over the C API: the objects own the C
handles (``Engine``, ``Memory``, ``Peer``, ``Batch``, ``Registry``) and free
them on ``close()``, at the end of a ``with`` block, or when collected.

Errors are :class:`Error` exceptions (an :class:`OSError`): ``errno`` is the
library's errno, ``strerror`` its message (``mcx_strerror()``), ``log`` the
last message the library logged on the calling thread during the call, if
any (it usually names the option, variable or range at fault).

The GIL: every C call is made through cffi's API mode, which releases the
GIL around each call, so ``Batch.wait()``, ``Engine()``, ``Peer`` opens and
registrations let other Python threads run.  The library's own threads
(poller, listener, registration pool) never call into Python: the log
handler this module installs is C code.

The engine reads the ``MCX_*`` environment variables as the C library does:
each one overrides the matching keyword argument of :class:`Engine`.
"""
from __future__ import annotations

import dataclasses
import errno as _errno_mod
import os
import weakref
from array import array as _array
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from ._mcxfer import ffi, lib

__all__ = [
    "Error", "BatchError", "wait_any", "Engine", "Memory", "Peer", "Batch", "Registry", "devices", "topology",
    "strerror", "set_log_level", "OP_READ", "OP_WRITE", "MEM_EXPORT", "MEM_NO_CACHE",
    "MEM_CUDA", "UID_SELF", "Status", "Notification", "RemoteMem", "MemInfo",
    "EngineStats", "PairStats", "DeviceInfo", "GidInfo", "RegInfo", "RegEntry", "RegMR",
    "RegHolder", "RegLookup", "RegEvent", "RegDevice", "Topology", "TopoNode",
]

OP_READ: int = lib.MCX_OP_READ
OP_WRITE: int = lib.MCX_OP_WRITE
MEM_EXPORT: int = lib.MCX_MEM_EXPORT
MEM_NO_CACHE: int = lib.MCX_MEM_NO_CACHE
MEM_CUDA: int = lib.MCX_MEM_CUDA
UID_SELF: int = lib.MCX_UID_SELF

# The library's messages go to stderr as before; the last one at warn or
# above is also kept per thread for the exception of a failing call.
lib.mcxpy_log_install()

Buffer = Any  # any object with the buffer protocol (bytearray, memoryview, numpy...)
# A sequence of ints, or a buffer of 8-byte integers (array('Q'), numpy uint64...).
U64s = Union[Sequence[int], Buffer]


# ------------------------------------------------------------------ errors


class Error(OSError):
    """A libmcxfer call failed.

    ``errno``: the (positive) errno; ``strerror``: ``mcx_strerror()``;
    ``func``: the C function; ``log``: what the library logged about it on
    this thread ("" when nothing).
    """

    def __init__(self, err: int, func: str = "", log: str = "") -> None:
        err = abs(err)
        super().__init__(err, ffi.string(lib.mcx_strerror(err)).decode(errors="replace"))
        self.func = func
        self.log = log

    def __str__(self) -> str:
        s = "[Errno %d] %s" % (self.errno, self.strerror)
        if self.func:
            s = "%s: %s" % (self.func, s)
        if self.log:
            s += " (%s)" % self.log
        return s


class BatchError(Error):
    """A batch finished with failed requests; ``statuses`` has every request's."""

    def __init__(self, err: int, statuses: List["Status"]) -> None:
        super().__init__(err, "mcx_batch_wait")
        self.statuses = statuses


def strerror(err: int) -> str:
    """The library's message for an errno value (either sign)."""
    return ffi.string(lib.mcx_strerror(err)).decode(errors="replace")


def _last_log() -> str:
    return ffi.string(lib.mcxpy_log_last()).decode(errors="replace")


def _call(func: str, ret: int) -> int:
    if ret < 0:
        raise Error(ret, func, _last_log())
    return ret


_LOG_LEVELS = {"off": 0, "error": 1, "warn": 2, "info": 3, "debug": 4}


def set_log_level(level: Union[int, str]) -> None:
    """Level used when ``MCX_LOG_LEVEL`` is not set: off, error, warn, info, debug."""
    if isinstance(level, str):
        if level not in _LOG_LEVELS:
            raise ValueError("log level %r: expected one of %s" % (level, ", ".join(_LOG_LEVELS)))
        level = _LOG_LEVELS[level]
    _call("mcx_log_set_level", lib.mcx_log_set_level(level))


# ------------------------------------------------------------------ records


def _from_c(cls: Any, c: Any, **extra: Any) -> Any:
    """A dataclass from the fields of a C struct of the same field names."""
    kw = {}
    for f in dataclasses.fields(cls):
        if f.name in extra:
            kw[f.name] = extra[f.name]
            continue
        v = getattr(c, f.name)
        if isinstance(v, ffi.CData) and ffi.typeof(v).kind == "array":
            v = ffi.string(v).decode(errors="replace")
        kw[f.name] = v
    return cls(**kw)


@dataclass(frozen=True)
class Status:
    """One request of a batch: ``status`` 0 done, -EINPROGRESS, or -errno."""
    cookie: int
    status: int
    op: int
    len: int

    @property
    def ok(self) -> bool:
        return self.status == 0

    @property
    def pending(self) -> bool:
        return self.status == -_errno("EINPROGRESS")


@dataclass(frozen=True)
class Notification:
    """A tag delivered by a peer's ``Batch.write(..., tag=)``."""
    tag: int
    reserved: int
    sender: str = ""


@dataclass(frozen=True)
class RemoteMem:
    """A registration a peer exported (``kind`` 0 host memory, 1 dma-buf)."""
    id: int
    addr: int
    len: int
    kind: int
    reserved: int


@dataclass(frozen=True)
class MemInfo:
    addr: int
    len: int
    chunk_size: int
    nr_chunks: int
    nr_nics: int
    refs: int
    dmabuf: int
    iova: int
    registry_id: int
    named: int
    warm: int
    dead: int


@dataclass(frozen=True)
class EngineStats:
    reg_hits: int
    reg_misses: int
    regs_live: int
    reg_threads: int
    registry: int
    shared_ctx: int
    reg_mr_calls: int
    mr_imports: int
    named_hits: int
    named_misses: int
    lazy_regs: int


@dataclass(frozen=True)
class PairStats:
    local_dev: str
    local_port: int
    remote_nic: int
    rail: int
    up: int
    err: int
    bytes: int
    slices: int
    retried: int


@dataclass(frozen=True)
class GidInfo:
    index: int
    type: str
    gid: str
    netdev: str


@dataclass(frozen=True)
class DeviceInfo:
    """One port of an RDMA device, as ``mcxfer-tool devices`` shows it."""
    name: str
    port: int
    state: str
    link_layer: str
    active_mtu: int
    gid_index: int
    max_mr_size: int
    max_mr: int
    max_qp_wr: int
    max_cqe: int
    relaxed: int
    relaxed_reason: str
    gids: List[GidInfo] = field(default_factory=list)


@dataclass(frozen=True)
class TopoNode:
    name: str
    pci: str
    numa: int


@dataclass(frozen=True)
class Topology:
    """GPUs and RDMA devices from sysfs; ``distance[g][n]`` is enum mcx_pci_distance."""
    gpus: List[TopoNode]
    nics: List[TopoNode]
    distance: List[List[int]]


@dataclass(frozen=True)
class RegInfo:
    """Module limits and statistics (``mcxfer-tool info``)."""
    abi_version: int
    linger_ms: int
    max_pinned_bytes: int
    max_entries: int
    user_max_pinned_bytes: int
    user_max_entries: int
    pins: int
    hits: int
    misses: int
    unpins: int
    lookups: int
    evictions: int
    invalidations: int
    bytes_pinned: int
    entries: int
    entries_active: int
    entries_linger: int
    entries_dead: int
    mrs: int
    clients: int
    contexts: int


@dataclass(frozen=True)
class RegMR:
    mr_id: int
    uverbs_fd: int
    pd_handle: int
    mr_handle: int
    lkey: int
    rkey: int
    access: int
    iova: int
    length: int
    ibdev: str
    offset: int


@dataclass(frozen=True)
class RegHolder:
    pid: int
    refs: int
    uid: int
    got_mr: int
    comm: str


_SHARE_NAMES = {0: "owner", 1: "group", 2: "all"}
_STATE_NAMES = {0: "active", 1: "linger", 2: "dead"}


@dataclass(frozen=True)
class RegEntry:
    """A registry entry; ``mrs`` and ``holders`` are filled for your own entries."""
    id: int
    offset: int
    length: int
    dmabuf_size: int
    owner_uid: int
    owner_gid: int
    share: int
    state: int
    refs: int
    holders: int
    nr_mrs: int
    flags: int
    hits: int
    age_ms: int
    idle_ms: int
    name: str
    exporter: str
    ibdev: str
    owner: str = ""
    mr_list: List[RegMR] = field(default_factory=list)
    holder_list: List[RegHolder] = field(default_factory=list)

    def to_json(self) -> dict:
        """The object ``mcxfer-tool list --json`` prints for this entry."""
        return {
            "id": self.id, "name": self.name, "owner": self.owner,
            "owner_uid": self.owner_uid, "owner_gid": self.owner_gid,
            "share": _SHARE_NAMES.get(self.share, "share%d" % self.share),
            "exporter": self.exporter, "ibdev": self.ibdev, "offset": self.offset,
            "bytes": self.length, "dmabuf_size": self.dmabuf_size,
            "state": _STATE_NAMES.get(self.state, "state%d" % self.state),
            "holders": self.holders, "refs": self.refs, "hits": self.hits,
            "age_ms": self.age_ms, "idle_ms": self.idle_ms, "mrs": self.nr_mrs,
            "no_linger": bool(self.flags & lib.MCX_PIN_NO_LINGER),
            "mr_list": [{"mr_id": m.mr_id, "ibdev": m.ibdev, "offset": m.offset,
                         "bytes": m.length, "iova": m.iova, "lkey": m.lkey, "rkey": m.rkey}
                        for m in self.mr_list],
            "holder_list": [{"pid": h.pid, "comm": h.comm, "uid": h.uid, "refs": h.refs,
                             "got_mr": bool(h.got_mr)} for h in self.holder_list],
        }


@dataclass(frozen=True)
class RegLookup:
    """Result of ``Registry.lookup()``; ``fd`` is a new dma-buf fd (yours to close) or -1."""
    id: int
    offset: int
    length: int
    dmabuf_size: int
    fd: int
    state: int
    owner_uid: int
    owner_gid: int
    share: int
    nr_mrs: int


@dataclass(frozen=True)
class RegEvent:
    type: int
    reserved: int
    id: int
    mr_id: int


@dataclass(frozen=True)
class RegDevice:
    relaxed_ordering: int
    numa_node: int
    pci_name: str


# Which dataclass mirrors which struct (the tests check that none lost a field).
_RECORDS = {
    "struct mcx_status": Status, "struct mcx_remote_mem": RemoteMem,
    "struct mcx_mem_info": MemInfo, "struct mcx_engine_stats": EngineStats,
    "struct mcx_pair_stats": PairStats, "struct mcx_gid_info": GidInfo,
    "struct mcx_device_info": DeviceInfo, "struct mcx_topo_node": TopoNode,
    "struct mcx_reg_info": RegInfo, "struct mcx_reg_mr": RegMR,
    "struct mcx_reg_holder": RegHolder, "struct mcx_reg_entry": RegEntry,
    "struct mcx_reg_lookup": RegLookup, "struct mcx_reg_event": RegEvent,
    "struct mcx_reg_device": RegDevice, "struct mcx_notify": Notification,
}


def _errno(name: str) -> int:
    return int(getattr(_errno_mod, name))


def _name_arg(what: str, s: Optional[Union[str, bytes, os.PathLike]]) -> Any:
    """A char * argument: NULL for None, else the encoded string (kept alive by the caller)."""
    if s is None:
        return ffi.NULL
    if isinstance(s, os.PathLike):
        s = os.fspath(s)
    if isinstance(s, str):
        s = s.encode()
    if not isinstance(s, bytes):
        raise TypeError("%s: expected a str, not %s" % (what, type(s).__name__))
    if b"\0" in s:
        raise ValueError("%s: embedded NUL character" % what)
    return s


# ------------------------------------------------------------------ devices


def devices(relaxed_ordering: Union[int, str] = "auto") -> List[DeviceInfo]:
    """Every port of every RDMA device (``mcx_devices_query()``); [] when there is none.

    ``relaxed_ordering`` is the policy the ``relaxed`` decision is made under:
    "off", "on" or "auto" (enum mcx_relaxed_ordering).
    """
    policy = _enum_value("relaxed_ordering", relaxed_ordering, _RO)
    out = ffi.new("struct mcx_device_info **")
    n = ffi.new("size_t *")
    lib.mcxpy_log_clear()
    _call("mcx_devices_query", lib.mcx_devices_query(policy, out, n))
    try:
        res = []
        for i in range(n[0]):
            d = out[0][i]
            gids = [_from_c(GidInfo, d.gids[j]) for j in range(d.nr_gids)]
            res.append(_from_c(DeviceInfo, d, gids=gids))
        return res
    finally:
        lib.mcx_devices_free(out[0], n[0])


def topology() -> Topology:
    """GPUs and RDMA devices of the PCI bus and their distances (``mcx_topology_query()``)."""
    out = ffi.new("struct mcx_topology **")
    lib.mcxpy_log_clear()
    _call("mcx_topology_query", lib.mcx_topology_query(out))
    t = out[0]
    try:
        gpus = [_from_c(TopoNode, t.gpus[i]) for i in range(t.nr_gpus)]
        nics = [_from_c(TopoNode, t.nics[i]) for i in range(t.nr_nics)]
        dist = [[t.distance[g * t.nr_nics + n] for n in range(t.nr_nics)]
                for g in range(t.nr_gpus)]
        return Topology(gpus, nics, dist)
    finally:
        lib.mcx_topology_free(t)


# ------------------------------------------------------------------ engine

_RO = {"off": 0, "on": 1, "auto": 2}
_REGISTRY = {"auto": 0, "off": 1, "required": 2}
_GPU_NICS = {"local": 0, "all": 1}
# Keyword arguments that take names as well as the numbers of the header.
_OPT_NAMES = {
    "relaxed_ordering": _RO, "registry": _REGISTRY, "gpu_nics": _GPU_NICS,
    "log_level": _LOG_LEVELS, "gid_index": {"auto": lib.MCX_GID_INDEX_AUTO},
    "mtu": {"auto": lib.MCX_MTU_AUTO},
}


def _enum_value(what: str, v: Any, names: Mapping[str, int]) -> int:
    if isinstance(v, str):
        if v not in names:
            raise ValueError("%s=%r: expected one of %s or a number"
                             % (what, v, ", ".join(names)))
        return names[v]
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError("%s: expected an int or a name, not %s" % (what, type(v).__name__))
    return v


def _opt_fields() -> List[Tuple[str, Any]]:
    return list(ffi.typeof("struct mcx_engine_opts").fields)


class Engine:
    """An RDMA transfer engine (``mcx_engine_create()``).

    Keyword arguments are the fields of ``struct mcx_engine_opts`` (see
    ``mcxfer.h`` for their ranges); the rest keep the library's defaults
    and ``MCX_*`` variables still override them.  Strings are taken for
    ``devices`` (also a list), ``listen``, ``auth_key_file``, ``metadata``
    and ``metadata_name`` (peers then open as ``"etcd:NAME"``); names for
    ``relaxed_ordering`` (off/on/auto), ``registry`` (auto/off/required),
    ``gpu_nics`` (local/all), ``log_level``, ``gid_index`` and ``mtu``
    ("auto"); booleans for ``poller`` and ``loopback_memcpy``.

    An unknown keyword is a TypeError naming it; a value the library refuses
    is an :class:`Error` (EINVAL or ERANGE) whose ``log`` names the field.
    Without a usable RDMA device the engine cannot be made (ENODEV).
    """

    def __init__(self, **opts: Any) -> None:
        self._eng = ffi.NULL
        self._children: "weakref.WeakSet[Any]" = weakref.WeakSet()
        # The C handles of the children, held strongly: when an engine and
        # its children become garbage together (a reference cycle), the
        # collector clears the weak set before any __del__ runs, and the
        # engine must still free its batches, peers and registrations
        # before mcx_engine_destroy(), never after.
        self._handles: Dict[int, Tuple[int, Any]] = {}
        self._next_token = 0
        c = ffi.new("struct mcx_engine_opts *")
        lib.mcx_engine_opts_init(c)
        keep = []
        fields = dict(_opt_fields())
        for key, v in opts.items():
            if key not in fields:
                raise TypeError("Engine() got an unexpected keyword argument %r "
                                "(not a field of struct mcx_engine_opts)" % key)
            ftype = fields[key].type
            if ftype.kind == "pointer":
                if key == "devices" and isinstance(v, (list, tuple)):
                    v = ",".join(v)
                s = _name_arg(key, v)
                if s != ffi.NULL:
                    s = ffi.new("char[]", s)
                    keep.append(s)
                setattr(c, key, s)
                continue
            if key in _OPT_NAMES:
                v = _enum_value(key, v, _OPT_NAMES[key])
            elif isinstance(v, bool):
                v = int(v)
            elif not isinstance(v, int):
                raise TypeError("Engine(): %s expects an int, not %s" % (key, type(v).__name__))
            try:
                setattr(c, key, v)
            except OverflowError:
                raise ValueError("Engine(): %s=%r does not fit its C type %s"
                                 % (key, v, ftype.cname)) from None
        out = ffi.new("struct mcx_engine **")
        lib.mcxpy_log_clear()
        _call("mcx_engine_create", lib.mcx_engine_create(c, out))
        self._eng = out[0]

    # -- life cycle
    def _live(self) -> Any:
        if self._eng == ffi.NULL:
            raise ValueError("engine is closed")
        return self._eng

    @property
    def closed(self) -> bool:
        return self._eng == ffi.NULL

    def _adopt(self, child: Any, kind: int, handle: Any) -> int:
        """Track a child and its C handle; returns the token that releases it."""
        self._children.add(child)
        self._next_token += 1
        self._handles[self._next_token] = (kind, handle)
        return self._next_token

    def _release(self, token: int) -> bool:
        """True when the child's handle is still the engine's to free (then the child's)."""
        return self._handles.pop(token, None) is not None

    def close(self) -> None:
        """Free batches, close peers, drop registrations, destroy the engine."""
        if self._eng == ffi.NULL:
            return
        # Batches first: mcx_engine_destroy() wants them gone.
        kids = list(self._children)
        for k in kids:
            if isinstance(k, Batch):
                k.close()
        for k in kids:
            if not isinstance(k, Batch):
                k.close()
        # Children no longer reachable as objects (collected with us).
        for order in (_KIND_BATCH, _KIND_PEER, _KIND_MEM):
            for token, (kind, h) in list(self._handles.items()):
                if kind == order:
                    del self._handles[token]
                    _FREE[kind](h)
        eng, self._eng = self._eng, ffi.NULL
        lib.mcx_engine_destroy(eng)

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    # -- information
    @property
    def nics(self) -> int:
        """Number of NICs (device ports) the engine uses."""
        return lib.mcx_engine_nics(self._live())

    @property
    def listen_addr(self) -> str:
        """The listener's bound "ip:port" (Error ENOTCONN without a listener)."""
        buf = ffi.new("char[]", 128)
        _call("mcx_engine_listen_addr", lib.mcx_engine_listen_addr(self._live(), buf, 128))
        return ffi.string(buf).decode()

    def stats(self) -> EngineStats:
        st = ffi.new("struct mcx_engine_stats *")
        _call("mcx_engine_stats", lib.mcx_engine_stats(self._live(), st))
        return _from_c(EngineStats, st)

    def progress(self) -> int:
        """Reap completions without a poller thread (option poller=False)."""
        return _call("mcx_engine_progress", lib.mcx_engine_progress(self._live()))

    def export_md(self) -> bytes:
        """This engine's metadata blob, for ``Engine.peer_md()`` on the other side."""
        eng = self._live()
        need = ffi.new("size_t *")
        ret = lib.mcx_engine_export_md(eng, ffi.NULL, 0, need)
        if ret != -_errno("ENOBUFS") and ret < 0:
            _call("mcx_engine_export_md", ret)
        while True:
            cap = need[0] or 4096
            buf = ffi.new("char[]", cap)
            ret = lib.mcx_engine_export_md(eng, buf, cap, need)
            if ret == -_errno("ENOBUFS"):
                continue  # a registration came in between: ask again
            _call("mcx_engine_export_md", ret)
            return ffi.buffer(buf, ret)[:]

    # -- memory
    def register(self, mem: Union[Buffer, int], length: Optional[int] = None, *,
                 export: bool = False, no_cache: bool = False, cuda: bool = False,
                 flags: int = 0) -> "Memory":
        """Register host memory (or CUDA memory with ``cuda=True``) with every NIC.

        ``mem`` is an object with the buffer protocol (kept referenced, and
        its buffer held, until deregistered: a bytearray cannot be resized
        meanwhile), or an address given with ``length`` (e.g.
        ``tensor.data_ptr(), tensor.nbytes``).  ``export`` lets peers read
        and write it (MCX_MEM_EXPORT).
        """
        flags |= (MEM_EXPORT if export else 0) | (MEM_NO_CACHE if no_cache else 0) | \
            (MEM_CUDA if cuda else 0)
        addr, n, owner = _memory_arg(mem, length)
        out = ffi.new("struct mcx_mem **")
        lib.mcxpy_log_clear()
        _call("mcx_mem_register",
              lib.mcx_mem_register(self._live(), ffi.cast("void *", addr), n, flags, out))
        return Memory(self, out[0], owner, addr, n)

    def register_cuda(self, ptr: int, length: int, *, export: bool = False) -> "Memory":
        """Register CUDA device memory (MCX_MEM_CUDA: anything else is refused)."""
        return self.register(ptr, length, export=export, cuda=True)

    def register_dmabuf(self, fd: int, offset: int, length: int, iova: int, *,
                        export: bool = False, flags: int = 0) -> "Memory":
        """Register [offset, offset+length) of dma-buf ``fd``, addressed as iova in transfers."""
        flags |= MEM_EXPORT if export else 0
        out = ffi.new("struct mcx_mem **")
        lib.mcxpy_log_clear()
        _call("mcx_mem_register_dmabuf",
              lib.mcx_mem_register_dmabuf(self._live(), fd, offset, length, iova, flags, out))
        return Memory(self, out[0], None, iova, length)

    def register_named(self, name: str, *, fd: int, length: int, offset: int = 0,
                       src: Union[int, str] = "dmabuf", addr: Union[Buffer, int, None] = None,
                       iova: int = 0, export: bool = False,
                       share: Union[int, str] = "owner") -> "Memory":
        """A named registration kept by /dev/mcxfer (warm start).

        ``src`` "dmabuf" (``fd`` a dma-buf, ``addr`` its CPU mapping or None
        for device memory, then addressed by ``iova``) or "memfd" (a memfd
        mapped MAP_SHARED at ``addr``); ``share`` owner, group or all.
        """
        req = ffi.new("struct mcx_mem_named_req *")
        cname = ffi.new("char[]", _name_arg("name", name))
        req.name = cname
        req.src = _enum_value("src", src, {"dmabuf": lib.MCX_NAMED_DMABUF,
                                           "memfd": lib.MCX_NAMED_MEMFD})
        req.fd = fd
        req.offset = offset
        req.len = length
        owner = None
        if addr is not None:
            a, _, owner = _memory_arg(addr, length if isinstance(addr, int) else None)
            req.addr = ffi.cast("void *", a)
        req.iova = iova
        req.flags = MEM_EXPORT if export else 0
        req.share = _enum_value("share", share, {"owner": 0, "group": 1, "all": 2})
        out = ffi.new("struct mcx_mem **")
        lib.mcxpy_log_clear()
        _call("mcx_mem_register_named", lib.mcx_mem_register_named(self._live(), req, out))
        return Memory(self, out[0], owner)

    def open_named(self, name: str, owner_uid: int = UID_SELF, *,
                   export: bool = False) -> "Memory":
        """Open the named registration ``name`` of ``owner_uid`` (default: yours)."""
        cname = _name_arg("name", name)
        out = ffi.new("struct mcx_mem **")
        lib.mcxpy_log_clear()
        _call("mcx_mem_open_named", lib.mcx_mem_open_named(
            self._live(), cname, owner_uid, MEM_EXPORT if export else 0, out))
        return Memory(self, out[0], None)

    # -- peers, batches, notifications
    def peer(self, addr: str) -> "Peer":
        """Connect to the peer listening at "host:port" (HELLO exchange only)."""
        caddr = _name_arg("addr", addr)
        out = ffi.new("struct mcx_peer **")
        lib.mcxpy_log_clear()
        _call("mcx_peer_open", lib.mcx_peer_open(self._live(), caddr, out))
        return Peer(self, out[0], addr)

    def peer_md(self, md: Buffer) -> "Peer":
        """A peer from its metadata blob (``Engine.export_md()`` of the other side)."""
        b = ffi.from_buffer(md)
        out = ffi.new("struct mcx_peer **")
        lib.mcxpy_log_clear()
        _call("mcx_peer_open_md", lib.mcx_peer_open_md(self._live(), b, len(b), out))
        return Peer(self, out[0], "")

    def batch(self, capacity: int = 64) -> "Batch":
        """A batch of up to ``capacity`` requests (reusable after wait)."""
        return Batch(self, capacity)

    def notify_poll(self, max: int = 64) -> List[Notification]:
        """Take up to ``max`` notifications that arrived, oldest first."""
        out = ffi.new("struct mcx_notify[]", max)
        n = _call("mcx_notify_poll", lib.mcx_notify_poll(self._live(), out, max))
        return [Notification(out[i].tag, out[i].reserved,
                             ffi.string(getattr(out[i], "from")).decode(errors="replace"))
                for i in range(n)]

    def notify_fd(self) -> int:
        """An fd readable while notifications wait (owned by the engine: do not close)."""
        return _call("mcx_notify_fd", lib.mcx_notify_fd(self._live()))


def _memory_arg(mem: Union[Buffer, int], length: Optional[int]) -> Tuple[int, int, Any]:
    """(address, length, object to keep alive) of a buffer or an address+length."""
    if isinstance(mem, int) and not isinstance(mem, bool):
        if length is None:
            raise TypeError("an address needs a length")
        if mem <= 0 or length <= 0:
            raise ValueError("address and length must be positive")
        return mem, length, None
    if length is not None:
        raise TypeError("length is only for an address: a buffer gives its own")
    try:
        cbuf = ffi.from_buffer(mem)
    except TypeError:
        raise TypeError("expected an object with the buffer protocol or an address, not %s"
                        % type(mem).__name__) from None
    n = len(cbuf)
    if n == 0:
        raise ValueError("empty buffer")
    return int(ffi.cast("uintptr_t", cbuf)), n, cbuf


class Memory:
    """A registration (``struct mcx_mem``); ``addr`` is where transfers name it."""

    def __init__(self, engine: Engine, mem: Any, owner: Any, addr: Optional[int] = None,
                 length: Optional[int] = None) -> None:
        self._engine = engine
        self._mem = mem
        self._owner = owner  # the from_buffer() object: holds the Python buffer
        if addr is None or length is None:
            info = self.info()
            addr, length = info.addr or info.iova, info.len
        # What was asked for: a cache hit returns a larger registration.
        self.addr: int = addr
        self.length: int = length
        self._token = engine._adopt(self, _KIND_MEM, mem)

    def info(self) -> MemInfo:
        out = ffi.new("struct mcx_mem_info *")
        _call("mcx_mem_query", lib.mcx_mem_query(self._live(), out))
        return _from_c(MemInfo, out)

    def _live(self) -> Any:
        if self._mem == ffi.NULL:
            raise ValueError("registration is closed")
        return self._mem

    @property
    def closed(self) -> bool:
        return self._mem == ffi.NULL

    def close(self) -> None:
        """Drop this reference (``mcx_mem_deregister()``); the last one deregisters."""
        if self._mem == ffi.NULL:
            return
        mem, self._mem = self._mem, ffi.NULL
        self._owner = None
        if self._engine._release(self._token):
            _call("mcx_mem_deregister", lib.mcx_mem_deregister(mem))

    deregister = close

    def __enter__(self) -> "Memory":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Peer:
    """A remote (or same-process) engine (``mcx_peer_open()``)."""

    def __init__(self, engine: Engine, peer: Any, addr: str) -> None:
        self._engine = engine
        self._peer = peer
        self.addr = addr
        self._token = engine._adopt(self, _KIND_PEER, peer)

    def _live(self) -> Any:
        if self._peer == ffi.NULL:
            raise ValueError("peer is closed")
        return self._peer

    def warmup(self) -> None:
        """Connect now: handshake, QPs, descriptors."""
        lib.mcxpy_log_clear()
        _call("mcx_peer_warmup", lib.mcx_peer_warmup(self._live()))

    def warm_pairs(self) -> int:
        """How many pairs are up and ready for a first request without setup
        (on libfabric: those a warm-up probe came back through)."""
        return _call("mcx_peer_warm_pairs", lib.mcx_peer_warm_pairs(self._live()))

    def list_mem(self) -> List[RemoteMem]:
        """The registrations the peer exported."""
        p = self._live()
        n = 16
        while True:
            out = ffi.new("struct mcx_remote_mem[]", n)
            got = _call("mcx_peer_list_mem", lib.mcx_peer_list_mem(p, out, n))
            if got <= n:
                return [_from_c(RemoteMem, out[i]) for i in range(got)]
            n = got

    def stats(self) -> List[PairStats]:
        p = self._live()
        n = 16
        while True:
            out = ffi.new("struct mcx_pair_stats[]", n)
            got = _call("mcx_peer_stats", lib.mcx_peer_stats(p, out, n))
            if got <= n:
                return [_from_c(PairStats, out[i]) for i in range(got)]
            n = got

    def close(self) -> None:
        """Fail what is in flight to it, disconnect."""
        if self._peer == ffi.NULL:
            return
        p, self._peer = self._peer, ffi.NULL
        if self._engine._release(self._token):
            lib.mcx_peer_close(p)

    def __enter__(self) -> "Peer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Batch:
    """Up to ``capacity`` requests submitted and waited for together.

    ``local`` arguments are addresses inside a registration of the engine
    (``Memory.addr + offset``); ``remote`` the peer's address inside one of
    its exported registrations.  After ``wait()`` the batch can be filled
    again.
    """

    def __init__(self, engine: Engine, capacity: int) -> None:
        self._b = ffi.NULL
        self._engine = engine
        self.capacity = capacity
        out = ffi.new("struct mcx_batch **")
        lib.mcxpy_log_clear()
        _call("mcx_batch_create", lib.mcx_batch_create(engine._live(), capacity, out))
        self._b = out[0]
        self._st = ffi.new("struct mcx_status[]", capacity)
        self._codes = ffi.new("int32_t[]", capacity)
        self._added = ffi.new("size_t *")
        self._token = engine._adopt(self, _KIND_BATCH, self._b)

    def _live(self) -> Any:
        if self._b == ffi.NULL:
            raise ValueError("batch is closed")
        return self._b

    @property
    def closed(self) -> bool:
        return self._b == ffi.NULL

    def _add_failed(self, func: str, ret: int, peer: Peer, added: Optional[int] = None) -> None:
        """Raise what a failed add means; off the hot path, so the checks cost nothing."""
        self._live()
        if not isinstance(peer, Peer):
            raise TypeError("peer: expected a Peer, not %s" % type(peer).__name__)
        peer._live()
        if peer._engine is not self._engine:
            e: Exception = ValueError("peer belongs to another engine than the batch")
        else:
            e = Error(ret, func, _last_log())
        if added is not None:
            e.added = added  # type: ignore[attr-defined]
        raise e

    def add(self, op: int, peer: Peer, local: int, remote: int, length: int,
            cookie: int = 0) -> None:
        """Queue a request (OP_READ: remote -> local, OP_WRITE: local -> remote)."""
        ret = _batch_add(self._b, op, peer._peer, local, remote, length, cookie)
        if ret < 0:
            self._add_failed("mcx_batch_add", ret, peer)

    def add_many(self, op: int, peer: Peer, local: U64s, remote: U64s,
                 length: Union[int, U64s], cookies: Optional[U64s] = None) -> int:
        """Queue ``len(local)`` requests in one C call; return how many.

        The fast way to fill a batch from Python: no Python code runs per
        request.  ``local`` and ``remote`` (addresses, as for :meth:`add`),
        ``length`` (one int for every request, or one per request) and
        ``cookies`` (default: 0, 1, 2...) are sequences of ints, or buffers
        of 8-byte integers (``array('Q')``, a numpy ``uint64``/``int64``
        array, a ``memoryview`` cast to ``'Q'``), taken without a copy.
        Keep such arrays from round to round as block tables: building them
        per round costs what this call saves.

        Errors: ``ValueError`` when the sequences differ in length or the
        peer is another engine's; ``TypeError`` for a buffer that is not of
        8-byte integers or items that are not ints; ``OverflowError`` for
        an int outside uint64.  A request the library refuses raises
        :class:`Error` (EINVAL for a zero length or a bad op, ENOSPC past
        the capacity, EBUSY while the batch is in flight); the requests
        before it stay queued and the exception's ``added`` says how many.
        """
        loc, n = _u64v(local, "local")
        rem, m = _u64v(remote, "remote")
        if m != n:
            raise ValueError("local and remote differ in length (%d, %d)" % (n, m))
        if isinstance(length, int) and not isinstance(length, bool):
            if length < 0:
                raise OverflowError("length %d is negative" % length)
            lens, one = ffi.NULL, length
        else:
            lens, m = _u64v(length, "length")
            if m != n:
                raise ValueError("length: expected %d values, got %d" % (n, m))
            one = 0
        cks = ffi.NULL
        if cookies is not None:
            cks, m = _u64v(cookies, "cookies")
            if m != n:
                raise ValueError("cookies: expected %d values, got %d" % (n, m))
        if n == 0:
            return 0
        try:
            cpeer = peer._peer
        except AttributeError:
            raise TypeError("peer: expected a Peer, not %s" % type(peer).__name__) from None
        added = self._added
        ret = _batch_add_v(self._b, op, cpeer, loc, rem, lens, one, cks, n, added)
        if ret < 0:
            self._add_failed("mcx_batch_add", ret, peer, added[0])
        return n

    def read(self, peer: Peer, local: int, remote: int, length: int, cookie: int = 0) -> None:
        """Queue a read of the peer's ``remote`` into ``local``."""
        self.add(OP_READ, peer, local, remote, length, cookie)

    def write(self, peer: Peer, local: int, remote: int, length: int, cookie: int = 0,
              tag: Optional[int] = None) -> None:
        """Queue a write of ``local`` to the peer's ``remote``; with ``tag``, the peer's
        ``notify_poll()`` gets the tag once every byte has landed."""
        if tag is None:
            ret = _batch_add(self._b, OP_WRITE, peer._peer, local, remote, length, cookie)
            if ret < 0:
                self._add_failed("mcx_batch_add", ret, peer)
            return
        ret = lib.mcx_batch_add_notify(self._b, peer._peer, ffi.cast("void *", local),
                                       remote, length, cookie, tag)
        if ret < 0:
            self._add_failed("mcx_batch_add_notify", ret, peer)

    def submit(self) -> None:
        """Start every request."""
        ret = _batch_submit(self._b)
        if ret < 0:
            self._live()
            _call("mcx_batch_submit", ret)

    def wait(self, timeout_ms: int = -1, *, check: bool = True) -> bool:
        """Wait (GIL released) up to ``timeout_ms`` (-1: until every status is final).

        True when every request has its final status, False when
        ``timeout_ms`` passed first.  With ``check`` a failed request raises
        :class:`BatchError` (its ``errno`` is the first failure in add order,
        ``statuses`` all of them).
        """
        ret = _batch_wait(self._b, timeout_ms)
        if ret == 0:
            return True
        self._live()
        if ret == -_errno("ETIMEDOUT"):
            st = self.status()
            if any(s.pending for s in st):
                return False
        if ret == -_errno("EINVAL"):
            _call("mcx_batch_wait", ret)
        if check:
            raise BatchError(ret, self.status())
        return True

    def status(self) -> List[Status]:
        """Status of every request added in this round."""
        n = _call("mcx_batch_status", lib.mcx_batch_status(self._live(), self._st,
                                                            self.capacity))
        st = self._st
        return [Status(st[i].cookie, st[i].status, st[i].op, st[i].len) for i in range(n)]

    def status_codes(self) -> memoryview:
        """The status of every request added in this round, as one compact array.

        A read-only ``memoryview`` of C ints (format ``'i'``), in add order:
        0 done, ``-errno.EINPROGRESS`` still running, another negative
        errno failed.  A snapshot taken now: one copy, no Python object per
        request (``status()`` makes one :class:`Status` each).  Hand it to
        ``numpy.frombuffer(v, numpy.intc)`` or use it as a sequence.
        """
        n = _batch_status_codes(self._b, self._st, self._codes, self.capacity)
        if n < 0:
            self._live()
            _call("mcx_batch_status", n)
        return memoryview(ffi.buffer(self._codes, n * 4)[:]).cast("i")

    def close(self) -> None:
        """Free the batch (waiting for the NICs to let go of buffers still in flight)."""
        if self._b == ffi.NULL:
            return
        b, self._b = self._b, ffi.NULL
        if self._engine._release(self._token):
            lib.mcx_batch_free(b)

    def __enter__(self) -> "Batch":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


# What an engine frees of a child it outlived, by kind (Engine.close()).
_KIND_BATCH, _KIND_PEER, _KIND_MEM = range(3)
_FREE = {_KIND_BATCH: lib.mcx_batch_free, _KIND_PEER: lib.mcx_peer_close,
         _KIND_MEM: lib.mcx_mem_deregister}

# The hot calls, looked up once (an attribute of the cffi lib per call is not free).
_batch_add = lib.mcxpy_batch_add
_batch_add_v = lib.mcxpy_batch_add_v
_batch_submit = lib.mcxpy_batch_submit
_batch_wait = lib.mcx_batch_wait
_batch_status_codes = lib.mcxpy_batch_status_codes

# Parsed once: a type given as a string is parsed again on every call.
_U64_ARRAY = ffi.typeof("uint64_t[]")
# Formats of 8-byte integers in the buffer protocol, native byte order.
_U64_FORMATS = frozenset(p + c for p in ("", "@", "=", "<") for c in "QqLl")


def _u64v(v: Any, what: str = "value") -> Tuple[Any, int]:
    """(uint64_t array, element count) from a sequence of ints or a buffer of 8-byte ints.

    A buffer is used in place; anything else is copied into a new C array.
    """
    if type(v) is _array and v.itemsize == 8 and v.typecode in "QqLl":
        return ffi.from_buffer(_U64_ARRAY, v), len(v)  # the common case, first
    if isinstance(v, (list, tuple)):
        try:
            return ffi.new(_U64_ARRAY, v), len(v)
        except TypeError:
            raise TypeError("%s: expected ints" % what) from None
        except OverflowError:
            raise OverflowError("%s: a value is outside 0 .. 2**64-1" % what) from None
    if isinstance(v, (str, int, float)):
        raise TypeError("%s: expected a sequence of ints or a buffer of 8-byte integers, not %s"
                        % (what, type(v).__name__))
    try:
        mv = memoryview(v)
    except TypeError:
        return _u64v(list(v), what)
    if mv.itemsize != 8 or mv.format not in _U64_FORMATS:
        raise TypeError("%s: expected a buffer of 8-byte integers, not format %r"
                        % (what, mv.format))
    if not mv.c_contiguous:
        raise TypeError("%s: the buffer must be contiguous" % what)
    return ffi.from_buffer(_U64_ARRAY, v), mv.nbytes // 8


def _u64s(v: Any) -> Any:
    """A uint64_t array argument from a sequence of ints or a uint64 buffer."""
    return _u64v(v)[0]


def wait_any(batches: Sequence[Batch], timeout_ms: int = -1) -> Optional[int]:
    """Index of a submitted batch (of one engine) that has every status, or None on timeout."""
    v = ffi.new("struct mcx_batch *[]", [b._live() for b in batches])
    ret = lib.mcx_batch_wait_any(v, len(batches), timeout_ms)
    if ret == -_errno("ETIMEDOUT"):
        return None
    return _call("mcx_batch_wait_any", ret)


# ------------------------------------------------------------------ registry


class Registry:
    """A handle on /dev/mcxfer (``mcx_registry_open()``; MCX_REGISTRY_DEV honoured).

    Error ENODEV when the module is not loaded, EACCES without permission,
    EPROTO on an ABI mismatch.
    """

    def __init__(self) -> None:
        self._reg = ffi.NULL
        out = ffi.new("struct mcx_registry **")
        lib.mcxpy_log_clear()
        _call("mcx_registry_open", lib.mcx_registry_open(out))
        self._reg = out[0]

    def _live(self) -> Any:
        if self._reg == ffi.NULL:
            raise ValueError("registry is closed")
        return self._reg

    def close(self) -> None:
        """Close the handle; its references go with it."""
        if self._reg == ffi.NULL:
            return
        r, self._reg = self._reg, ffi.NULL
        lib.mcx_registry_close(r)

    def __enter__(self) -> "Registry":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def info(self) -> RegInfo:
        out = ffi.new("struct mcx_reg_info *")
        _call("mcx_registry_info", lib.mcx_registry_info(self._live(), out))
        return _from_c(RegInfo, out)

    def entries(self) -> Iterator[RegEntry]:
        """Every entry visible to you, in id order (without MRs and holders)."""
        reg = self._live()
        cur = ffi.new("struct mcx_reg_cursor **")
        e = ffi.new("struct mcx_reg_entry *")
        try:
            while _call("mcx_registry_list", lib.mcx_registry_list(reg, cur, e)) > 0:
                yield _from_c(RegEntry, e, owner="", mr_list=[], holder_list=[])
        finally:
            if cur[0] != ffi.NULL:
                lib.mcx_reg_cursor_free(cur[0])

    def list(self) -> List[RegEntry]:
        """What ``mcxfer-tool list --json`` shows: entries with owner names, and the MRs
        and holders of your own entries (``RegEntry.to_json()`` gives its objects)."""
        import pwd
        res = []
        for e in self.entries():
            try:
                owner = pwd.getpwuid(e.owner_uid).pw_name
            except KeyError:
                owner = str(e.owner_uid)
            mrs: List[RegMR] = []
            holders: List[RegHolder] = []
            if e.owner_uid == os.geteuid():
                while len(mrs) < 64:
                    try:
                        mr = self.get_mr(e.id, index=len(mrs))
                    except Error:
                        break
                    os.close(mr.uverbs_fd)
                    mrs.append(dataclasses.replace(mr, uverbs_fd=-1))
                try:
                    holders = self.holders(e.id)
                except Error:
                    pass
            res.append(dataclasses.replace(e, owner=owner, mr_list=mrs, holder_list=holders))
        return res

    def list_json(self) -> List[dict]:
        """The parsed output of ``mcxfer-tool list --json``."""
        return [e.to_json() for e in self.list()]

    def lookup(self, name: Optional[str] = None, id: int = 0, *, ref: bool = False,
               export_fd: bool = False, owner_uid: Optional[int] = None) -> RegLookup:
        """Find an entry by name (yours, or ``owner_uid``'s) or by id."""
        flags = (lib.MCX_LOOKUP_REF if ref else 0) | (lib.MCX_LOOKUP_EXPORT_FD if export_fd else 0)
        out = ffi.new("struct mcx_reg_lookup *")
        cname = _name_arg("name", name)
        lib.mcxpy_log_clear()
        if owner_uid is not None:
            _call("mcx_registry_lookup_owner",
                  lib.mcx_registry_lookup_owner(self._live(), cname, owner_uid, flags, out))
        else:
            _call("mcx_registry_lookup",
                  lib.mcx_registry_lookup(self._live(), cname, id, flags, out))
        return _from_c(RegLookup, out)

    def pin(self, fd: int, offset: int, length: int, name: Optional[str] = None,
            ibdev: Optional[str] = None, share: Union[int, str] = "owner",
            no_linger: bool = False) -> Tuple[int, bool]:
        """Pin a dma-buf range; (entry id, whether it was pinned already)."""
        cid = ffi.new("uint64_t *")
        hit = ffi.new("int *")
        cname, cdev = _name_arg("name", name), _name_arg("ibdev", ibdev)
        lib.mcxpy_log_clear()
        _call("mcx_registry_pin", lib.mcx_registry_pin(
            self._live(), fd, offset, length, cname, cdev,
            _enum_value("share", share, {"owner": 0, "group": 1, "all": 2}),
            lib.MCX_PIN_NO_LINGER if no_linger else 0, cid, hit))
        return cid[0], bool(hit[0])

    def unpin(self, id: int) -> None:
        _call("mcx_registry_unpin", lib.mcx_registry_unpin(self._live(), id))

    def evict(self, id: int = 0, *, idle: bool = False, revoke: bool = False) -> int:
        """Evict entry ``id`` (or every idle one with ``idle``); how many went."""
        n = ffi.new("uint64_t *")
        flags = (lib.MCX_EVICT_IDLE if idle else 0) | (lib.MCX_EVICT_REVOKE if revoke else 0)
        _call("mcx_registry_evict", lib.mcx_registry_evict(self._live(), id, flags, n))
        return n[0]

    def get_mr(self, id: int, ibdev: Optional[str] = None, index: int = 0) -> RegMR:
        """An MR published on entry ``id``; its ``uverbs_fd`` is yours to close."""
        out = ffi.new("struct mcx_reg_mr *")
        cdev = _name_arg("ibdev", ibdev)
        _call("mcx_registry_get_mr", lib.mcx_registry_get_mr(self._live(), id, cdev, index, out))
        return _from_c(RegMR, out)

    def holders(self, id: int) -> List[RegHolder]:
        reg = self._live()
        n = 32
        while True:
            out = ffi.new("struct mcx_reg_holder[]", n)
            total = ffi.new("size_t *")
            got = _call("mcx_registry_holders", lib.mcx_registry_holders(reg, id, out, n, total))
            if total[0] <= n:
                return [_from_c(RegHolder, out[i]) for i in range(got)]
            n = total[0]

    def query_device(self, ibdev: str) -> RegDevice:
        out = ffi.new("struct mcx_reg_device *")
        _call("mcx_registry_query_device",
              lib.mcx_registry_query_device(self._live(), _name_arg("ibdev", ibdev), out))
        return _from_c(RegDevice, out)

    def event_fd(self) -> int:
        """The fd to poll() for events (owned by the handle)."""
        return _call("mcx_registry_event_fd", lib.mcx_registry_event_fd(self._live()))

    def read_event(self, timeout_ms: int = 0) -> Optional[RegEvent]:
        """One event, waiting up to ``timeout_ms`` (-1 forever, GIL released); None if none."""
        ev = ffi.new("struct mcx_reg_event *")
        if _call("mcx_registry_read_event",
                 lib.mcx_registry_read_event(self._live(), ev, timeout_ms)) == 0:
            return None
        return _from_c(RegEvent, ev)
