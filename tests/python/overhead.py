# SPDX-License-Identifier: GPL-2.0 OR MIT
"""The Python side of the overhead measurement: what tests/python/overhead.c
does, through the mcxfer package, with the same arguments, buffers (two
page-aligned anonymous mappings), timing (median and minimum of the rounds)
and output line, prefixed "py-each" or "py-many".

    python overhead.py N SIZE ROUNDS MEMCPY [each|many]

each: one Batch.write() per request; many: one Batch.add_many() per round
from uint64 arrays built once, as an application keeps its block tables.
"""
import mmap
import sys
import time
from array import array

import mcxfer

WARM_ROUNDS = 3


def main() -> int:
    if len(sys.argv) not in (5, 6) or sys.argv[4] not in ("0", "1"):
        print("usage: overhead.py N SIZE ROUNDS MEMCPY(0|1) [each|many]", file=sys.stderr)
        return 2
    n, size, rounds = (int(a) for a in sys.argv[1:4])
    memcpy = int(sys.argv[4])
    mode = sys.argv[5] if len(sys.argv) > 5 else "each"
    if n <= 0 or size <= 0 or rounds <= 0 or mode not in ("each", "many"):
        print("overhead.py: N, SIZE, ROUNDS must be positive, the mode each or many",
              file=sys.stderr)
        return 2
    took = []
    with mcxfer.Engine(listen="127.0.0.1:0", registry="off", loopback_memcpy=memcpy) as eng:
        src = mmap.mmap(-1, n * size)
        dst = mmap.mmap(-1, n * size)
        src[:] = (bytes(range(256)) * (n * size // 256 + 1))[:n * size]  # as overhead.c
        ms = eng.register(src)
        md = eng.register(dst, export=True)
        peer = eng.peer(eng.listen_addr)
        peer.warmup()
        b = eng.batch(n)
        write = b.write
        s0, d0 = ms.addr, md.addr
        locs = array("Q", (s0 + i * size for i in range(n)))
        rems = array("Q", (d0 + i * size for i in range(n)))
        clock = time.perf_counter_ns
        for r in range(rounds + WARM_ROUNDS):
            t0 = clock()
            if mode == "many":
                b.add_many(mcxfer.OP_WRITE, peer, locs, rems, size)
            else:
                for i in range(n):
                    write(peer, s0 + i * size, d0 + i * size, size, i)
            b.submit()
            b.wait()
            if r >= WARM_ROUNDS:
                took.append(clock() - t0)
        same = src[:] == dst[:]
        b.close()
        ms.close()
        md.close()
        del ms, md
        src.close()
        dst.close()
    if not same:
        print("overhead.py: data differs", file=sys.stderr)
        return 1
    took.sort()
    median = took[(rounds - 1) // 2]  # the lower median, as overhead.c
    print("py-%s requests=%d size=%d rounds=%d ns_per_round=%d ns_per_round_min=%d "
          "ns_per_request=%.1f" % (mode, n, size, rounds, median, took[0], median / n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
