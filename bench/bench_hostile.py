#!/usr/bin/env python3
"""Hostile containers: dumps with very many ranges, and a flattened kdump at the record cap.

Usage::

    .venv/bin/python bench/bench_hostile.py [--baseline REF [--baseline-only]] [--ranges 7000,70000]
        [--range-size 4096] [--formats elf,lime] [--records 4000000] [--repeat 3] [--skip-ranges] [--skip-flat]

Every task runs in a fresh child process (so that the peak resident set is that task's own),
for the working tree's efitables and, with ``--baseline REF``, for git ``REF``'s (``git archive
REF efitables`` unpacked under bench/out/; the working tree and git state are left alone).

* ``ranges``: an ELF core (``e_phnum`` = ``PN_XNUM`` past 65,534 program headers) and a LiME file
  with N ranges of ``--range-size`` bytes, each followed by a hole of the same size, against a dump
  of the same format holding the same bytes in one range: open, read the first byte of every
  range, and the signature sweep (:func:`efitables.efi.scan.scan`, 8-byte zero pages, as ``show``
  runs it). Printed: seconds (median), and the ratio N ranges / one range. Near-linear code keeps
  the ratio flat as N grows; a per-read copy of the range list makes it grow with N.
* ``flat``: a flattened kdump (``makedumpfile -F`` layout, as tests/test_kdump.py's ``flatten``
  writes it) of a 32 MiB guest cut into ``--records`` records in a shuffled order, half of them
  rewriting bytes of the other half: the open (record index and overlap resolution), with the
  child's peak RSS (``resource.getrusage``) above what the imports reached, and a check that
  every page reads back right.

Files are written once under bench/out/hostile/.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
WORK = OUT / "hostile"
sys.path.insert(0, str(ROOT))

PAGE = 4096


# -- the dumps --------------------------------------------------------------------------------
def _pattern(size: int) -> bytes:
    """Bytes without signatures (a fixed pseudo-random stream), the same for every file."""
    import random

    rnd = random.Random(19)
    block = rnd.randbytes(1 << 20)
    return (block * (size // len(block) + 1))[:size]


def build_ranges_pair(fmt: str, n: int, size: int) -> tuple[Path, Path]:
    from tests.builders_hostile import elf_of_ranges, lime_of_ranges

    WORK.mkdir(parents=True, exist_ok=True)
    data = _pattern(n * size)
    many = WORK / f"{fmt}-{n}x{size}"
    one = WORK / f"{fmt}-1x{n * size}"
    write = elf_of_ranges if fmt == "elf" else lime_of_ranges
    for path, ranges in (
        (many, [(2 * size * i, data[size * i : size * (i + 1)]) for i in range(n)]),
        (one, [(0, data)]),
    ):
        if not path.exists():
            tmp = path.with_suffix(".part")
            write(tmp, ranges)
            tmp.rename(path)
    return many, one


def build_flat(records: int) -> tuple[Path, Path]:
    """(flattened kdump with ``records`` records, the raw image it holds)."""
    import numpy as np

    from tests.builders_hostile import kdump_of_raw

    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"flat-{records}.kdump"
    raw_path = WORK / "flat-guest.raw"
    if path.exists() and raw_path.exists():
        return path, raw_path
    raw = _pattern(32 << 20)  # every page distinct and non-zero: the plain file is as large as the guest
    raw_path.write_bytes(raw)
    plain = np.frombuffer(kdump_of_raw(raw, 0), dtype=np.uint8)
    half = records // 2
    bounds = np.linspace(0, len(plain), half + 1).astype(np.int64)
    first_off, first_len = bounds[:-1], np.diff(bounds)
    second_off = np.minimum(first_off + 1, len(plain) - 1)  # each rewrites the end of one and the start of the next
    second_len = np.minimum(first_len, len(plain) - second_off)
    offs = np.concatenate([first_off, second_off])
    lens = np.concatenate([first_len, second_len])
    order = np.random.default_rng(19).permutation(len(offs))
    offs, lens = offs[order], lens[order]
    # the flattened layout: a 4096-byte header, then per record {i64 offset, i64 size} big-endian and the bytes
    rec_pos = 4096 + np.concatenate([[0], np.cumsum(16 + lens)[:-1]])
    total = int(rec_pos[-1] + 16 + lens[-1]) + 16
    buf = np.zeros(total, dtype=np.uint8)
    buf[:12] = np.frombuffer(b"makedumpfile", dtype=np.uint8)
    buf[16:32] = np.frombuffer((1).to_bytes(8, "big") + (1).to_bytes(8, "big"), dtype=np.uint8)
    heads = np.empty((len(offs), 2), dtype=">i8")
    heads[:, 0], heads[:, 1] = offs, lens
    buf[rec_pos[:, None] + np.arange(16)] = heads.view(np.uint8).reshape(-1, 16)
    within = np.arange(int(lens.sum())) - np.repeat(np.concatenate([[0], np.cumsum(lens)[:-1]]), lens)
    data_pos = np.repeat(rec_pos + 16, lens) + within
    src = np.repeat(offs, lens) + within
    buf[data_pos] = plain[src]
    buf[total - 16 :] = np.frombuffer((-1).to_bytes(8, "big", signed=True) * 2, dtype=np.uint8)
    tmp = path.with_suffix(".part")
    buf.tofile(tmp)
    tmp.rename(path)
    return path, raw_path


# -- one task in a child process --------------------------------------------------------------
CHILD = r"""
import json, os, resource, sys, time
sys.path.insert(0, sys.argv[1])
task, path = sys.argv[2], sys.argv[3]
import efitables.memory
from efitables.memory import open_memory
if task == "ranges":
    from efitables.efi.scan import scan
    import numpy  # noqa: F401  (imported before the clock starts, for both codes)
base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
mem = open_memory(path)
t_open = time.perf_counter() - t0
out = {"open": t_open, "module": efitables.memory.__file__, "findings": len(mem.findings)}
if task == "ranges":
    t1 = time.perf_counter()
    rs = mem.ranges()
    for r in rs:
        mem.read(r.start, 1)
    t_read = time.perf_counter() - t1
    t2 = time.perf_counter()
    hits = scan(mem, zero_page_align=8)
    t_scan = time.perf_counter() - t2
    out.update(read=t_read, scan=t_scan, total=time.perf_counter() - t0, ranges=len(rs),
               bytes_scanned=hits.bytes_scanned)
else:
    raw = open(sys.argv[4], "rb").read()
    out["rss_task_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_rss
    out["rss_peak_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with open("/proc/self/status") as fh:  # the mm's own high-water mark (not inherited across exec)
        hwm = [line.split()[1] for line in fh if line.startswith("VmHWM:")]
    out["hwm_kib"] = int(hwm[0]) if hwm else None
    ok = all(mem.read(pa, 4096) == raw[pa : pa + 4096] for pa in range(0, len(raw), 4096))
    out.update(records=mem.info.details.get("flat_records"), pages_ok=ok)
print(json.dumps(out))
"""


def run_child(code_root: Path, task: str, *args: str) -> dict:
    r = subprocess.run(
        [sys.executable, "-c", CHILD, str(code_root), task, *args],
        capture_output=True,
        text=True,
        cwd=str(WORK),
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    if r.returncode != 0:
        return {"error": r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"}
    return json.loads(r.stdout)


def baseline_tree(ref: str) -> Path:
    """``efitables/`` of git ``ref``, unpacked under bench/out/ (the working tree is left alone)."""
    sha = subprocess.run(["git", "rev-parse", ref], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    dest = OUT / f"baseline-pkg-{sha.strip()[:12]}"
    if not (dest / "efitables").exists():
        tar = subprocess.run(
            ["git", "archive", "--format=tar", ref, "efitables"], cwd=ROOT, check=True, capture_output=True
        ).stdout
        dest.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
            tf.extractall(dest, filter="data")
    return dest


def median_of(runs: list[dict], key: str) -> float | None:
    vals = [r[key] for r in runs if key in r]
    return statistics.median(vals) if vals else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", metavar="REF", help="also run git REF's efitables (e.g. HEAD)")
    ap.add_argument("--ranges", default="7000,70000", help="range counts (comma-separated)")
    ap.add_argument("--range-size", type=int, default=PAGE)
    ap.add_argument("--records", type=int, default=4_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--formats", default="elf,lime")
    ap.add_argument("--skip-flat", action="store_true")
    ap.add_argument("--skip-ranges", action="store_true")
    ap.add_argument("--baseline-only", action="store_true", help="run only --baseline's code")
    ap.add_argument("--build-flat", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--build-ranges", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.build_flat:
        build_flat(a.build_flat)
        return
    if a.build_ranges:
        fmt, n, size = a.build_ranges.split(",")
        build_ranges_pair(fmt, int(n), int(size))
        return
    codes: list[tuple[str, Path]] = [] if a.baseline_only else [("new", ROOT)]
    if a.baseline:
        codes.append((a.baseline, baseline_tree(a.baseline)))

    if not a.skip_ranges:
        print(f"ranges: open + read one byte per range + signature sweep; {a.range_size}-byte ranges; "
              f"median of {a.repeat}; ratio = N ranges / 1 range of the same bytes")
        print(f"{'code':<8} {'format':<6} {'N':>7} {'MiB':>6} {'open s':>8} {'read s':>8} {'sweep s':>8} "
              f"{'total s':>8} {'1-range s':>9} {'ratio':>7} {'us/range':>9}")
        for fmt in a.formats.split(","):
            for n in (int(x) for x in a.ranges.split(",")):
                # built in a child, as the flattened kdump below: this process stays small
                subprocess.run([sys.executable, __file__, "--build-ranges", f"{fmt},{n},{a.range_size}"], check=True)
                many, one = WORK / f"{fmt}-{n}x{a.range_size}", WORK / f"{fmt}-1x{n * a.range_size}"
                for name, root in codes:
                    rm = [run_child(root, "ranges", str(many)) for _ in range(a.repeat)]
                    r1 = [run_child(root, "ranges", str(one)) for _ in range(a.repeat)]
                    if any("error" in r for r in rm + r1):
                        print(f"{name:<8} {fmt:<6} {n:>7} error: {[r['error'] for r in rm + r1 if 'error' in r][0]}")
                        continue
                    tm, t1 = median_of(rm, "total"), median_of(r1, "total")
                    assert tm is not None and t1 is not None
                    print(
                        f"{name:<8} {fmt:<6} {rm[0]['ranges']:>7} {n * a.range_size / 2**20:>6.0f} "
                        f"{median_of(rm, 'open'):>8.3f} {median_of(rm, 'read'):>8.3f} {median_of(rm, 'scan'):>8.3f} "
                        f"{tm:>8.3f} {t1:>9.3f} {tm / t1:>7.1f} {(tm - t1) / n * 1e6:>9.1f}",
                        flush=True,
                    )

    if not a.skip_flat:
        # built in a child: this process stays small, so its children's ru_maxrss (which starts
        # from the parent's at fork) is their own
        subprocess.run([sys.executable, __file__, "--build-flat", str(a.records)], check=True)
        path, raw = WORK / f"flat-{a.records}.kdump", WORK / "flat-guest.raw"
        print(f"\nflattened kdump: {a.records} records (shuffled, half rewriting the other half), "
              f"{path.stat().st_size / 2**20:.0f} MiB; open, then every page read back")
        print(f"{'code':<8} {'records':>9} {'open s':>8} {'RSS task MiB':>13} {'RSS peak MiB':>13} {'VmHWM MiB':>10} "
              f"{'pages ok':>9}")
        for name, root in codes:
            runs = [run_child(root, "flat", str(path), str(raw)) for _ in range(max(1, min(a.repeat, 2)))]
            if any("error" in r for r in runs):
                print(f"{name:<8} error: {[r['error'] for r in runs if 'error' in r][0]}")
                continue
            print(
                f"{name:<8} {runs[0]['records']:>9} {median_of(runs, 'open'):>8.2f} "
                f"{median_of(runs, 'rss_task_kib') / 1024:>13.0f} {median_of(runs, 'rss_peak_kib') / 1024:>13.0f} "
                f"{median_of(runs, 'hwm_kib') / 1024:>10.0f} {str(all(r['pages_ok'] for r in runs)):>9}",
                flush=True,
            )


if __name__ == "__main__":
    main()
