#!/usr/bin/env python3
"""Open the same guest as ELF and as kdump-compressed: time and peak memory, as ratios.

Usage::

    .venv/bin/python bench/bench_containers.py [--variant ovmf64] [--repeat 3]

Takes a guest from dumps/real/corpus (decompressing its ``.xz`` files once into
bench/out/), derives the plain diskdump layout from QEMU's flattened stream
(what ``makedumpfile -R`` does), and runs each task for each container in a
fresh child process, so that peak memory is that task's alone:

* ``open``: open the container (headers, bitmaps, flattened index);
* ``read-all``: read every present byte sequentially in 4 MiB reads;
* ``random``: 4,000 reads of 64 bytes at random present addresses (fixed seed);
* ``parse``: ``efitables.open`` and the system table, configuration tables,
  boot_params, E820, setup_data and EFI memory map.

Peak memory is the child's peak resident set (``ru_maxrss``, with the
interpreter and efitables' imports, ~50-60 MiB, included; "task" is the part
above what the imports reached) and tracemalloc's peak of Python allocations (from a second, traced run of the task;
the time is the untraced run's). The table ends with the ratios
kdump/ELF of the medians.
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import random
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "dumps" / "real" / "corpus"
OUT = ROOT / "bench" / "out"
TASKS = ["open", "read-all", "random", "parse"]


def unxz(src: Path, dst: Path) -> Path:
    if not dst.exists():
        with lzma.open(src) as fi, open(dst.with_suffix(".part"), "wb") as fo:
            shutil.copyfileobj(fi, fo, 1 << 20)
        dst.with_suffix(".part").rename(dst)
    return dst


def unflatten(src: Path, dst: Path) -> Path:
    if not dst.exists():
        with open(src, "rb") as fi, open(dst, "wb") as fo:
            fi.read(4096)
            while True:
                off, size = struct.unpack(">qq", fi.read(16))
                if off == -1:
                    break
                fo.seek(off)
                fo.write(fi.read(size))
    return dst


def prepare(variant: str) -> dict[str, Path]:
    OUT.mkdir(parents=True, exist_ok=True)
    files = {"elf": unxz(CORPUS / f"{variant}.elf.xz", OUT / f"{variant}.elf")}
    kd = CORPUS / f"{variant}.kdump-zlib.xz"
    if kd.exists():
        files["kdump-flat"] = unxz(kd, OUT / f"{variant}.kdump-zlib")
        files["kdump-plain"] = unflatten(files["kdump-flat"], OUT / f"{variant}.kdump-plain")
    return files


def child(task: str, path: str) -> dict:
    """Run one task in this (fresh) process; return timings and memory."""
    sys.path.insert(0, str(ROOT))
    import efitables
    from efitables.memory import open_memory

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    extra: dict = {}

    def work() -> None:
        if task == "open":
            mem = open_memory(path)
            mem.ranges()
            extra["ranges"] = len(mem.ranges())
        elif task == "read-all":
            mem = open_memory(path)
            n = 0
            for r in mem.ranges():
                for pa in range(r.start, r.end, 4 << 20):
                    n += len(mem.read(pa, min(4 << 20, r.end - pa)))
            extra["bytes"] = n
        elif task == "random":
            mem = open_memory(path)
            rs = mem.ranges()
            total = sum(r.size for r in rs)
            rnd = random.Random(1)
            for _ in range(4000):
                k = rnd.randrange(total - 64)
                for r in rs:
                    if k < r.size - 64:
                        mem.read(r.start + k, 64)
                        break
                    k -= r.size
        elif task == "parse":
            d = efitables.open(path)
            st = d.systab
            extra["systab"] = st.address if st is not None else None
            extra["config_tables"] = len(d.config_tables)
            bp = d.boot_params
            extra["boot_params"] = bp.address if bp is not None else None
            extra["e820"] = len(d.e820.entries) if d.e820 is not None else None
            extra["setup_data"] = len(d.setup_data) if d.setup_data is not None else None
            mm = d.efi_memmap
            extra["efi_memmap"] = len(mm.descriptors) if mm is not None else None

    # timed untraced (tracemalloc slows allocation-heavy parsing several-fold), then again under tracemalloc
    t0 = time.perf_counter()
    work()
    elapsed = time.perf_counter() - t0
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    work()
    _cur, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"seconds": elapsed, "rss_kib": rss1, "rss_task_kib": rss1 - rss0, "py_peak_kib": peak // 1024, **extra}


def run_child(task: str, path: Path) -> dict:
    r = subprocess.run([sys.executable, __file__, "--child", task, str(path)], capture_output=True, text=True,
                       check=True)
    return json.loads(r.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variant", default="ovmf64")
    ap.add_argument("--repeat", type=int, default=3, help="runs per task and container (median taken)")
    ap.add_argument("--parse-repeat", type=int, default=1, help="runs of the slow 'parse' task")
    ap.add_argument("--child", nargs=2, metavar=("TASK", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    files = prepare(args.variant)
    print(f"guest {args.variant}; files: " + ", ".join(f"{k} {os.path.getsize(p) / 2**20:.1f} MiB"
                                                     for k, p in files.items()))
    results: dict[tuple[str, str], dict] = {}
    for task in TASKS:
        for name, path in files.items():
            runs = [run_child(task, path) for _ in range(args.parse_repeat if task == "parse" else args.repeat)]
            med = {k: statistics.median(r[k] for r in runs)
                   for k in ("seconds", "rss_kib", "rss_task_kib", "py_peak_kib")}
            results[(task, name)] = {**runs[0], **med}
    print(f"\n{'task':9} {'container':12} {'seconds':>9} {'peak RSS MiB':>13} {'task RSS MiB':>13} {'py peak MiB':>12}")
    for (task, name), r in results.items():
        print(f"{task:9} {name:12} {r['seconds']:9.3f} {r['rss_kib'] / 1024:13.1f} "
              f"{r['rss_task_kib'] / 1024:13.1f} {r['py_peak_kib'] / 1024:12.1f}")
    print("\nratios against the ELF (median time, peak RSS, Python peak):")
    for task in TASKS:
        e = results[(task, "elf")]
        for name in files:
            if name == "elf":
                continue
            k = results[(task, name)]
            t = k["seconds"] / max(e["seconds"], 1e-9)
            rss = k["rss_kib"] / max(e["rss_kib"], 1)
            py = k["py_peak_kib"] / max(e["py_peak_kib"], 1)
            print(f"  {task:9} {name:12} time x{t:6.2f}   RSS x{rss:6.2f}   py x{py:6.2f}")
    meta = ("seconds", "rss_kib", "rss_task_kib", "py_peak_kib")
    parse = {name: {k: v for k, v in results[("parse", name)].items() if k not in meta} for name in files}
    same = len({json.dumps(v, sort_keys=True) for v in parse.values()}) == 1
    print(f"\nparse results identical across containers: {same} {parse['elf']}")


if __name__ == "__main__":
    main()
