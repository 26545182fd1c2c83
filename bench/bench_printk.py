#!/usr/bin/env python3
"""Benchmark: what reading the kernel's log (``Dump.kernel_log``) adds to a report, and a full ring.

(a) On each real dump (dumps/real/corpus ELF and kdump containers, decompressed once
into bench/out/real/ by bench_open.real_dumps, or taken from ``--real-dir``): best of
``--repeat``, each on a fresh Dump, the time of ``Dump.report()`` and then of one more
read of the log (``read_kernel_log``: the printk ring read and decoded, ~420 records
there; kallsyms already loaded by the report). Prints both and the ratio log/report:
the share reading the log takes of a report.

(b) A full synthetic ring in the same run, built with efitables.schemas.printk
(tests/builders_printk.py): ``log_buf_len=1M``'s shape, 2**15 descriptors and a 1 MiB
text ring, every descriptor a finalized 24-byte record. Prints the time to read it and
its ratio to (a)'s first dump's log: how the cost grows with the records a ring holds.

    python bench/bench_printk.py [--repeat 7] [--real-dir DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from bench_open import real_dumps  # noqa: E402

from efitables.dump import Dump  # noqa: E402
from efitables.kernel.printk import read_kernel_log  # noqa: E402


def best(fn: object, repeat: int) -> float:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append(time.perf_counter() - t)
    return min(out)


def bench_real(repeat: int, real_dir: Path | None) -> float | None:
    first = None
    print(f"report vs reading the log, fresh Dump each time, best of {repeat} (ms)")
    for name, path in real_dumps(real_dir):
        reports, logs, n = [], [], 0
        for _ in range(repeat):
            with Dump.open(str(path)) as d:
                t = time.perf_counter()
                d.report()
                t1 = time.perf_counter()
                n = len(read_kernel_log(d.memory).records)  # read again: the report may already hold it
                t2 = time.perf_counter()
                reports.append(t1 - t)
                logs.append(t2 - t1)
        r, lg = min(reports), min(logs)
        first = lg if first is None else first
        print(f"  {name:24s} report {r * 1e3:7.1f}  log {lg * 1e3:6.1f} ({n} records)  ratio {lg / r:.2f}")
    return first


def bench_full_ring(repeat: int, real_log: float | None) -> None:
    from builders_printk import Ring

    from efitables.schemas.printk import DESC_FINALIZED

    count_bits, size_bits = 15, 20
    r = Ring(count_bits=count_bits, size_bits=size_bits, arrays="kallsyms")
    count, block = 1 << count_bits, (1 << size_bits) >> count_bits  # 32-byte blocks: 24 bytes of text
    base_id, base_lpos = 3 << count_bits, 5 << size_bits
    r.tail_id, r.head_id = base_id, base_id + count - 1
    r.tail_lpos, r.head_lpos = base_lpos, base_lpos + (count - 1) * block
    for i in range(count - 1):
        desc_id, begin = base_id + i, base_lpos + i * block
        text = f"record {i:06d} of a full".encode()[: block - 8]
        r.desc(i, desc_id, DESC_FINALIZED, begin, begin + block)
        r.set_info(i, seq=desc_id, text_len=len(text), ts_nsec=i * 1000)
        r.block(begin, begin + block, desc_id, text)
    mem = r.memory()
    t = best(lambda: read_kernel_log(mem), repeat)
    n = len(read_kernel_log(mem).records)
    ratio = f", {t / real_log:.1f}x the first real dump's log" if real_log else ""
    print(f"full ring (2**{count_bits} descriptors, 1 MiB text): {t * 1e3:.1f} ms for {n} records{ratio}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--real-dir", type=Path, help="decompressed real dumps (<variant>.elf, ...), if at hand")
    args = ap.parse_args()
    real_log = bench_real(args.repeat, args.real_dir)
    bench_full_ring(max(3, args.repeat // 2), real_log)


if __name__ == "__main__":
    main()
