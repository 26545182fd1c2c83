#!/usr/bin/env python3
"""Benchmark: a hint means no sweep, so a hinted ``show`` costs the same on 64 MiB and on 8 GiB.

Builds (once, under bench/out/) two dense raw images whose first 8 MiB are
dumps/samples/ovmf64.raw and whose rest is incompressible data: 64 MiB and
``--big`` (default 8 GiB). Then times whole processes, interleaved (small, big,
small, big, ...), median of ``--repeat``:

* ``efitables show --json --systab 0x7e0018 IMAGE``
* ``efitables show --json --boot-params 0x13000 IMAGE``

and prints each median and the ratio big/small per hint (issue 16's target:
within 1.2x). The files are read once beforehand so both are in the page cache.

    python bench/bench_hints.py [--big 8G] [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_open import build  # noqa: E402  (the same dense image, 8 MiB sample + incompressible data)

OUT = ROOT / "bench" / "out"
HINTS = {"--systab": "0x7e0018", "--boot-params": "0x13000"}


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(text[:-1]) * units[text[-1].upper()] if text[-1].upper() in units else int(text)


def warm(path: Path) -> None:
    """Read the file once, so the page cache holds it for both sizes alike."""
    with open(path, "rb") as fh:
        while fh.read(16 << 20):
            pass


def one(hint: str, path: Path) -> float:
    cmd = [sys.executable, "-m", "efitables", "show", "--json", hint, HINTS[hint], str(path)]
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--big", default="8G")
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    small, big = OUT / "hints-64M.raw", OUT / f"hints-{args.big}.raw"
    build(small, 64 << 20)
    build(big, parse_size(args.big))
    for p in (small, big):
        warm(p)
    print(f"hinted show --json, whole process, median of {args.repeat} interleaved runs")
    for hint in HINTS:
        one(hint, small)  # warm-up (bytecode, imports)
        times: dict[Path, list[float]] = {small: [], big: []}
        for _ in range(args.repeat):
            for p in (small, big):
                times[p].append(one(hint, p))
        s, b = statistics.median(times[small]), statistics.median(times[big])
        line = f"  {hint:14s} 64 MiB {s * 1000:7.1f} ms   {args.big} {b * 1000:7.1f} ms   ratio {b / s:.2f}"
        print(line + " (target <= 1.2)")


if __name__ == "__main__":
    main()
