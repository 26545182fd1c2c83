#!/usr/bin/env python3
"""Benchmark: efitables' signature sweep against ``grep -c -F 'IBI SYST'`` on the same file.

Builds (once) a raw image of ``--size`` bytes of incompressible data with a few
planted system tables and decoys, warms the page cache, then times in the same
run: grep, efitables' aligned sweep (the default) and its exhaustive (every
byte offset) mode, each in a child process so its peak RSS is measured alone.
Prints the sweep time (in the child, after imports) and the whole child process time, each
as a ratio to grep, and peak RSS. Targets (issue 2): the aligned system-table sweep
(``IBI SYST`` at 8-byte-aligned offsets, zero pages at page starts) <= 0.6x grep's
wall time, peak RSS < 256 MiB. Also measured, with no target: the sweep the Dump
runs when no hint names boot_params, which looks for zero pages at every
8-byte-aligned base too (the kernel's own copy is not page-aligned).

    python bench/bench_scan.py [--size 2G] [--file bench/out/scan.raw] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHILD = """
import json, sys, time
from efitables.memory import open_memory
from efitables.efi.scan import scan
t = time.perf_counter()
with open_memory(sys.argv[1], "raw") as mem:
    hits = scan(mem, exhaustive=sys.argv[2] == "1", zero_page_align=int(sys.argv[3]))
print(json.dumps({"seconds": time.perf_counter() - t, "systab": len(hits.systab), "pages": len(hits.zero_pages)}))
"""


def parse_size(text: str) -> int:
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(float(text[:-1]) * mult[text[-1].upper()]) if text[-1].upper() in mult else int(text)


def build(path: Path, size: int) -> None:
    if path.exists() and path.stat().st_size == size:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    from dumps.builder import system_table

    block = bytearray(os.urandom(1 << 20))
    st = system_table(64, vendor=0, revision=0x20046, fw_revision=0, runtime=0, nr_tables=0, tables=0)
    with open(path, "wb") as fh:
        for i in range(size >> 20):
            b = block
            if i % 256 == 7:  # a table or a decoy every 256 MiB
                b = bytearray(block)
                b[0x1018 : 0x1018 + len(st)] = st
                if i % 512 == 7:
                    b[0x1018 + 16] ^= 1
            fh.write(b)


def timed(cmd: list[str]) -> tuple[float, int, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(after, before), p.stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="2G")
    ap.add_argument("--file", default=str(ROOT / "bench/out/scan.raw"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    size = parse_size(a.size)
    path = Path(a.file)
    build(path, size)
    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache

    def best(cmd: list[str]) -> tuple[float, int, str]:
        runs = [timed(cmd) for _ in range(a.repeat)]
        return min(r[0] for r in runs), runs[-1][1], runs[-1][2]

    grep_t, _, grep_out = best(["grep", "-c", "-F", "IBI SYST", str(path)])
    # ru_maxrss of RUSAGE_CHILDREN is the max over all children so far: measure ours in fresh interpreters
    # after grep (whose RSS is tiny), aligned first.
    al_t, al_rss, al_out = best([sys.executable, "-c", CHILD, str(path), "0", "4096"])
    ex_t, ex_rss, ex_out = best([sys.executable, "-c", CHILD, str(path), "1", "4096"])
    k_t, k_rss, k_out = best([sys.executable, "-c", CHILD, str(path), "0", "8"])
    al = json.loads(al_out.splitlines()[-1])
    ex = json.loads(ex_out.splitlines()[-1])
    k = json.loads(k_out.splitlines()[-1])
    res = {
        "file_bytes": size,
        "grep_seconds": round(grep_t, 3),
        "grep_matching_lines": grep_out,
        "aligned_sweep_seconds": round(al["seconds"], 3),
        "aligned_ratio_to_grep": round(al["seconds"] / grep_t, 3),
        "aligned_process_seconds": round(al_t, 3),
        "aligned_process_ratio_to_grep": round(al_t / grep_t, 3),
        "aligned_peak_rss_mib": round(al_rss / 1024, 1),
        "aligned_hits": {"systab": al["systab"], "zero_pages": al["pages"]},
        "exhaustive_sweep_seconds": round(ex["seconds"], 3),
        "exhaustive_ratio_to_grep": round(ex["seconds"] / grep_t, 3),
        "exhaustive_peak_rss_mib": round(ex_rss / 1024, 1),
        "throughput_aligned_gib_s": round(size / al["seconds"] / (1 << 30), 2),
        "kernel_copy_sweep_seconds": round(k["seconds"], 3),
        "kernel_copy_ratio_to_grep": round(k["seconds"] / grep_t, 3),
        "kernel_copy_peak_rss_mib": round(k_rss / 1024, 1),
    }
    if a.json:
        print(json.dumps(res, indent=2))
        return
    for k, v in res.items():
        print(f"{k:28} {v}")
    ok = res["aligned_ratio_to_grep"] <= 0.6 and res["aligned_peak_rss_mib"] < 256
    print(f"target (aligned sweep <= 0.6x grep, < 256 MiB RSS): {'met' if ok else 'NOT met'}")
    print("(process times add interpreter start-up and the numpy import, which the sweep does not control)")


if __name__ == "__main__":
    main()
