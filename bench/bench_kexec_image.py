#!/usr/bin/env python3
"""Benchmark: what following a loaded kexec image costs coverage (the kexecload real dump).

On dumps/real/corpus/kexecload.elf (decompressed once into bench/out/real/ by
bench_open.real_dumps, or taken from ``--real-dir``), best of ``--repeat``, each on a fresh
Dump with its kernel view and areas already read (so only coverage's own work is timed),
against the baseline ``Dump.report()`` on a fresh Dump (what ``show`` computes):

* ``collect(d, follow_image=False)``: the objects of the running kernel (the baseline);
* ``collect(d)``: the same plus walking the kimage's page list (16,552 source pages there)
  and parsing the next kernel's zero page, command line and setup_data through the view;
* ``walk_page_list`` alone.

Prints each time and its ratio to the baseline, and the page list's size.

    python bench/bench_kexec_image.py [--repeat 7] [--real-dir DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from bench_open import real_dumps  # noqa: E402

from efitables.analysis.coverage import collect  # noqa: E402
from efitables.dump import Dump  # noqa: E402
from efitables.kernel.kimage_pages import needed_pages, walk_page_list  # noqa: E402


def best(setup: Callable[[], Dump], fn: Callable[[Dump], object], repeat: int) -> float:
    out = []
    for _ in range(repeat):
        d = setup()
        try:
            t = time.perf_counter()
            fn(d)
            out.append(time.perf_counter() - t)
        finally:
            d.close()
    return min(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--real-dir", type=Path)
    args = ap.parse_args()
    path = dict(real_dumps(args.real_dir)).get("kexecload.elf")
    if path is None:
        sys.exit("no kexecload.elf.xz in dumps/real/corpus")

    def setup() -> Dump:
        d = Dump.open(str(path))
        _ = d.kernel.kexec_loaded  # the kernel view (BTF, kallsyms) is not what is measured
        _ = d.boot_params, d.setup_data, d.systab, d.e820, d.efi_memmap, d.cc_blob
        return d

    def walk(d: Dump) -> object:
        im = d.kernel.kexec_loaded
        assert im is not None
        return walk_page_list(d.memory, im.head, im.head_pa, needed_pages=needed_pages(
            [(s.mem, s.memsz) for s in im.segments]))

    report = best(lambda: Dump.open(str(path)), lambda d: d.report(), args.repeat)
    base = best(setup, lambda d: collect(d, follow_image=False), args.repeat)
    full = best(setup, collect, args.repeat)
    only = best(setup, walk, args.repeat)
    with Dump.open(str(path)) as d:
        pages = walk(d)
    print(f"kexecload.elf: page list of {len(pages.sources)} source pages in "  # type: ignore[attr-defined]
          f"{len(pages.indirection_pages)} entry pages; best of {args.repeat} (ms)")  # type: ignore[attr-defined]
    print(f"{'Dump.report() on a fresh Dump (baseline)':<52} {report * 1e3:8.1f}  1.00x")
    print(f"{'collect, running kernel only (areas parsed)':<52} {base * 1e3:8.1f}  {base / report:.3f}x")
    print(f"{'collect, following the image (areas parsed)':<52} {full * 1e3:8.1f}  {full / report:.3f}x")
    print(f"{'  of which walk_page_list':<52} {only * 1e3:8.1f}  {only / report:.3f}x")

if __name__ == "__main__":
    main()
