#!/usr/bin/env python3
"""Benchmark: an AVML capture against the same image raw, in one run.

Builds (once, in bench/out/) a raw image whose first 8 MiB are
dumps/samples/ovmf64.raw and whose rest is pages of the sample mixed with
incompressible pages (about half each), then the same image as AVML writes it
(16 MiB blocks, all-zero ones left out, snappy framing, length trailers). Times,
best of ``--repeat``:

* opening: the AVML index by its trailers (the normal case) and by the forward
  chunk walk (what a truncated or mixed capture costs), against opening the raw image;
* a full sweep (``PhysicalMemory.chunks``, every byte touched by a crc32) of both;
* ``efitables.open(...).systab`` with the zero-page hint, on both.

Prints seconds and the ratios AVML/raw.

    python bench/bench_avml.py [--size 256M] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cramjam  # noqa: E402

import efitables  # noqa: E402
from efitables.memory import open_memory  # noqa: E402
from efitables.memory.avml import AvmlMemory  # noqa: E402
from efitables.schemas.avml import AVML_HEADER, AVML_TRAILER  # noqa: E402

BLOCK = 0x1000 * 0x1000  # AVML's MAX_BLOCK_SIZE
BOOT_PARAMS = 0x13000


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(text[:-1]) * units[text[-1].upper()] if text[-1].upper() in units else int(text)


def build(raw: Path, avml: Path, size: int) -> None:
    if raw.exists() and raw.stat().st_size == size and avml.exists():
        return
    raw.parent.mkdir(parents=True, exist_ok=True)
    head = (ROOT / "dumps/samples/ovmf64.raw").read_bytes()
    rnd = random.Random(7)
    pages = [head[i : i + 4096] for i in range(0, len(head), 4096) if any(head[i : i + 4096])]
    with open(raw, "wb") as fr, open(avml, "wb") as fa:
        pa = 0
        while pa < size:
            if pa < len(head):
                block = head[pa : pa + BLOCK]
            else:
                block = b"".join(rnd.choice(pages) if rnd.random() < 0.5 else rnd.randbytes(4096)
                                 for _ in range(BLOCK // 4096))
            fr.write(block)
            if any(block):
                stream = bytes(cramjam.snappy.compress(block))
                fa.write(AVML_HEADER.build({"magic": 0x4C4D5641, "version": 2, "start": pa,
                                            "end": pa + len(block) - 1, "padding": 0}))
                fa.write(stream)
                fa.write(AVML_TRAILER.build({"compressed_length": len(stream)}))
            pa += len(block)


def best(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def sweep(path: Path) -> None:
    """Every byte touched once (crc32, about a GB/s), as a signature scan touches them."""
    with open_memory(str(path)) as mem:
        for _pa, data in mem.chunks():
            zlib.crc32(data)


def forward_open(path: Path) -> None:
    mem = AvmlMemory.__new__(AvmlMemory)
    AvmlMemory.__init__(mem, str(path))  # the normal open (trailers) ...
    mem.close()
    mem = AvmlMemory.__new__(AvmlMemory)
    orig = AvmlMemory._walk_back
    AvmlMemory._walk_back = lambda self, size: None  # type: ignore[method-assign,assignment]
    try:
        AvmlMemory.__init__(mem, str(path))  # ... and the forward chunk walk
        assert mem.info.details["indexed"] == "chunk walk"
    finally:
        AvmlMemory._walk_back = orig  # type: ignore[method-assign]
        mem.close()


def systab(path: Path) -> None:
    with efitables.open(str(path), boot_params=BOOT_PARAMS) as d:
        assert d.systab is not None and d.systab.address == 0x7E0018


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="256M")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    size = parse_size(a.size)
    out = ROOT / "bench" / "out"
    raw, avml = out / f"avml-bench-{a.size}.raw", out / f"avml-bench-{a.size}.avml"
    build(raw, avml, size)
    print(f"image {size >> 20} MiB raw, {avml.stat().st_size >> 20} MiB AVML")
    o_raw = best(lambda: open_memory(str(raw)).close(), a.repeat)
    o_avml = best(lambda: open_memory(str(avml)).close(), a.repeat)
    o_both = best(lambda: forward_open(avml), a.repeat)
    print(f"open: raw {o_raw * 1e3:.2f} ms, AVML by trailers {o_avml * 1e3:.2f} ms, "
          f"by trailers + chunk walk {o_both * 1e3:.1f} ms")
    s_raw = best(lambda: sweep(raw), a.repeat)
    s_avml = best(lambda: sweep(avml), a.repeat)
    print(f"full sweep: raw {s_raw:.3f} s, AVML {s_avml:.3f} s, ratio AVML/raw {s_avml / s_raw:.1f}x "
          f"({size / s_avml / (1 << 20):.0f} MiB/s decompressed)")
    h_raw = best(lambda: systab(raw), a.repeat)
    h_avml = best(lambda: systab(avml), a.repeat)
    print(f"systab with hint: raw {h_raw * 1e3:.1f} ms, AVML {h_avml * 1e3:.1f} ms, "
          f"ratio {h_avml / h_raw:.2f}x")


if __name__ == "__main__":
    main()
