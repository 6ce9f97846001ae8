# SPDX-License-Identifier: GPL-2.0 OR MIT
"""The Python side of the overhead measurement: what tests/python/overhead.c
does, through the mcxfer package, with the same arguments and output line
(prefixed "py-each" or "py-many").

    python overhead.py N SIZE ROUNDS MEMCPY [each|many]

each: one Batch.write() per request; many: one Batch.add_many() per round.
"""
import sys
import time
from array import array

import mcxfer


def main() -> int:
    n, size, rounds, memcpy = (int(a) for a in sys.argv[1:5])
    mode = sys.argv[5] if len(sys.argv) > 5 else "each"
    warm = 3
    with mcxfer.Engine(listen="127.0.0.1:0", registry="off", loopback_memcpy=memcpy) as eng:
        src = bytearray(i & 0xFF for i in range(n * size))
        dst = bytearray(n * size)
        ms = eng.register(src)
        md = eng.register(dst, export=True)
        peer = eng.peer(eng.listen_addr)
        b = eng.batch(n)
        write = b.write
        s0, d0 = ms.addr, md.addr
        # Built once, as an application keeps its block tables: zero-copy.
        locs = array("Q", (s0 + i * size for i in range(n)))
        rems = array("Q", (d0 + i * size for i in range(n)))
        t0 = 0
        for r in range(rounds + warm):
            if r == warm:
                t0 = time.perf_counter_ns()
            if mode == "many":
                b.add_many(mcxfer.OP_WRITE, peer, locs, rems, size)
            else:
                for i in range(n):
                    write(peer, s0 + i * size, d0 + i * size, size, i)
            b.submit()
            b.wait()
        per = (time.perf_counter_ns() - t0) / rounds
        if dst != src:
            print("py: data differs", file=sys.stderr)
            return 1
    print("py-%s requests=%d size=%d rounds=%d ns_per_round=%.0f ns_per_request=%.1f"
          % (mode, n, size, rounds, per, per / n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
