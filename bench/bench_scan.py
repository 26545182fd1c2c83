#!/usr/bin/env python3
"""Benchmark: efitables' signature sweep against ``grep -c -F 'IBI SYST'`` on the same file.

Builds (once) a raw image of ``--size`` bytes of incompressible data with a few
planted system tables, decoys and zero pages, warms the page cache, then times, in
the same run and interleaved (each round in the opposite order to the previous one):
grep, and each sweep in a child process of its own (its peak RSS measured alone).

Headline (issue 16): the full sweep, as ``efitables scan`` and a no-hint
``efitables show`` run it (``Dump.scan_hits``: ``IBI SYST`` at 8-byte-aligned
offsets and zero pages at every 8-byte-aligned base, since the kernel's own copy
of boot_params is not page-aligned). Target: median sweep time <= 0.6x grep's
median wall time, peak RSS <= 256 MiB.

Secondary lines: the sweep with zero pages at page starts only (issue 2's figure),
and ``efitables scan --exhaustive`` (every byte offset).

The sweep time is measured in the child after its imports; the child's whole wall
time (interpreter start-up and the numpy import included) is reported too.

    python bench/bench_scan.py [--size 2G] [--file bench/out/scan.raw] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_RATIO = 0.6
TARGET_RSS_MIB = 256

CHILD = """
import json, sys, time
from efitables.dump import Dump
from efitables.efi.scan import PAGE, scan
from efitables.memory import open_memory
path, mode = sys.argv[1], sys.argv[2]
t = time.perf_counter()
if mode == "aligned":
    with open_memory(path, "raw") as mem:
        hits = scan(mem, zero_page_align=PAGE)
else:  # what `efitables scan [--exhaustive]` and a no-hint `show` run
    with Dump.open(path, "raw", exhaustive=mode == "exhaustive") as dump:
        hits = dump.scan_hits
secs = time.perf_counter() - t
print(json.dumps({"seconds": secs, "systab": len(hits.systab), "zero_pages": len(hits.zero_pages)}))
"""

MODES = {
    "full": "full sweep (scan / no-hint show)",
    "aligned": "zero pages at page starts only",
    "exhaustive": "scan --exhaustive",
}


def parse_size(text: str) -> int:
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(float(text[:-1]) * mult[text[-1].upper()]) if text[-1].upper() in mult else int(text)


def zero_pages_to_plant(size: int) -> list[tuple[int, int, bytes]]:
    """(base, offset in the zero page, signature): loaders' copies (page-aligned) and the kernel's
    own copy (8-byte-aligned, not page-aligned), found by the full sweep."""
    from efitables.schemas import boot_params as bp
    from efitables.schemas import efi_info

    el64 = efi_info.EFI64_LOADER_SIGNATURE.to_bytes(efi_info.EFI_LOADER_SIGNATURE_SIZE, "little")
    hdrs = bp.HDRS_MAGIC.to_bytes(efi_info.EFI_LOADER_SIGNATURE_SIZE, "little")
    out = []
    for i, at in enumerate(range(size // 3, size - (1 << 20), size // 3)):
        out.append((at - at % 4096, bp.EFI_LOADER_SIGNATURE_OFFSET, el64))  # a loader's copy
        kernel_copy = at - at % 8 + 0x12345 * 8 + 8 * i
        out.append((kernel_copy, bp.EFI_LOADER_SIGNATURE_OFFSET, el64))
        out.append((kernel_copy, bp.HEADER_MAGIC_OFFSET, hdrs))
    return out


def build(path: Path, size: int) -> None:
    if not (path.exists() and path.stat().st_size == size):
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
    # zero pages (added in place to an image built before they were planted)
    with open(path, "r+b") as fh:
        for base, rel, sig in zero_pages_to_plant(size):
            fh.seek(base + rel)
            if fh.read(len(sig)) != sig:
                fh.seek(base + rel)
                fh.write(sig)


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MiB, stdout) of one child; its own rusage (wait4), not the max over children."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stderr is not None
    out, err = p.stdout.read(), p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    p.stdout.close()
    p.stderr.close()
    if p.returncode:
        raise SystemExit(f"{cmd[0]} failed ({p.returncode}): {err.strip()}")
    return wall, usage.ru_maxrss / 1024, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="2G")
    ap.add_argument("--file", default=str(ROOT / "bench/out/scan.raw"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--modes", default=",".join(MODES), help="sweeps to time (full is the headline)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    size = parse_size(a.size)
    path = Path(a.file)
    build(path, size)
    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache

    modes = [m for m in MODES if m in a.modes.split(",")]
    grep = ["grep", "-c", "-F", "IBI SYST", str(path)]
    runs: dict[str, list[tuple[float, float, dict]]] = {"grep": [], **{m: [] for m in modes}}
    for r in range(a.repeat):
        order = ["grep", *modes]
        for kind in order if r % 2 == 0 else order[::-1]:  # interleaved, alternating order
            if kind == "grep":
                wall, rss, out = timed(grep)
                runs[kind].append((wall, rss, {"seconds": wall, "matching_lines": int(out)}))
            else:
                wall, rss, out = timed([sys.executable, "-c", CHILD, str(path), kind])
                runs[kind].append((wall, rss, json.loads(out.splitlines()[-1])))

    grep_t = statistics.median(w for w, _, _ in runs["grep"])
    res: dict[str, object] = {
        "file_bytes": size,
        "repeat": a.repeat,
        "grep_seconds": round(grep_t, 3),
        "grep_runs": [round(w, 3) for w, _, _ in runs["grep"]],
        "grep_matching_lines": runs["grep"][-1][2]["matching_lines"],
    }
    for m in modes:
        secs = statistics.median(d["seconds"] for _, _, d in runs[m])
        proc = statistics.median(w for w, _, _ in runs[m])
        res[m] = {
            "what": MODES[m],
            "sweep_seconds": round(secs, 3),
            "ratio_to_grep": round(secs / grep_t, 3),
            "runs": [round(d["seconds"], 3) for _, _, d in runs[m]],
            "process_seconds": round(proc, 3),
            "process_ratio_to_grep": round(proc / grep_t, 3),
            "peak_rss_mib": round(max(rss for _, rss, _ in runs[m]), 1),
            "throughput_gib_s": round(size / secs / (1 << 30), 2),
            "hits": {"systab": runs[m][-1][2]["systab"], "zero_pages": runs[m][-1][2]["zero_pages"]},
        }
    full = res.get("full")
    if isinstance(full, dict):
        res["target_met"] = full["ratio_to_grep"] <= TARGET_RATIO and full["peak_rss_mib"] <= TARGET_RSS_MIB
    if a.json:
        print(json.dumps(res, indent=2))
        return
    print(f"file {size} bytes; grep -c -F 'IBI SYST': median {grep_t:.3f} s over {a.repeat} (runs {res['grep_runs']})")
    if isinstance(full, dict):
        print(
            f"HEADLINE {full['what']}: median {full['sweep_seconds']:.3f} s = {full['ratio_to_grep']:.3f}x grep, "
            f"peak RSS {full['peak_rss_mib']} MiB, hits {full['hits']} (runs {full['runs']})"
        )
        print(
            f"target (<= {TARGET_RATIO}x grep, <= {TARGET_RSS_MIB} MiB RSS): "
            f"{'met' if res['target_met'] else 'NOT met'}"
        )
    for m in modes:
        d = res[m]
        assert isinstance(d, dict)
        print(
            f"  {m:10} {d['what']:34} sweep {d['sweep_seconds']:.3f} s ({d['ratio_to_grep']:.3f}x grep), "
            f"process {d['process_seconds']:.3f} s ({d['process_ratio_to_grep']:.3f}x), "
            f"peak RSS {d['peak_rss_mib']} MiB, {d['throughput_gib_s']} GiB/s"
        )
    print("(process times add interpreter start-up and the numpy import, which the sweep does not control)")


if __name__ == "__main__":
    main()
