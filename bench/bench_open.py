#!/usr/bin/env python3
"""Benchmark: answering "where is the system table and what does it list" on a 2 GiB dump.

Builds (once) a raw image whose first 8 MiB are dumps/samples/ovmf64.raw and
whose rest is incompressible data, then times in this process, best of
``--repeat``: (a) ``efitables.open(path, boot_params=...)`` with the hint,
through the system table, configuration tables and memory map, rendered to a
dict; (b) the same with no hint (one signature sweep first). Prints both and
the ratio (a)/(b). Issue 2's goal is (a) well under a second on a multi-GiB dump.

Then the cold-process kallsyms figure (issue 16 target 4: <= 20 ms): on each real
dump (dumps/real/corpus, decompressed once into bench/out/real/ or taken from
``--real-dir``) and on a sample, the time to resolve the physical addresses of the
report's kernel symbols (``efitables.kernel.kallsyms.REPORT_SYMBOLS``) in a fresh
process each (imports and opening the dump not counted): ``new`` is
``kallsyms.load`` (VMCOREINFO, then ``kallsyms_seqs_of_names``), ``full`` the
previous one-pass decode of every name (``kallsyms.full_decode``), ``markers``
the way of kernels without ``kallsyms_seqs_of_names`` (v6.0/v6.1), forced on
the same tables. Runs interleave the three; medians, and the ratio new/full.
Every way must give the same addresses.

    python bench/bench_open.py [--size 2G] [--repeat 5] [--kallsyms-runs 7] [--real-dir DIR]
    python bench/bench_open.py --kallsyms-only      # only the kallsyms figure
    python bench/bench_open.py --full-decode DUMP   # one cold run of the old full decode (ms)
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import efitables  # noqa: E402


def build(path: Path, size: int) -> None:
    if path.exists() and path.stat().st_size == size:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    head = (ROOT / "dumps/samples/ovmf64.raw").read_bytes()
    block = os.urandom(1 << 20)
    with open(path, "wb") as fh:
        fh.write(head)
        for _ in range((size - len(head)) >> 20):
            fh.write(block)


def run(path: Path, **kw: object) -> float:
    t = time.perf_counter()
    with efitables.open(str(path), **kw) as d:
        d.to_dict()
        assert d.systab is not None and len(d.config_tables) == 6
    return time.perf_counter() - t


# -- kallsyms, cold process --------------------------------------------------------------
KALLSYMS_MODES = ("new", "full", "markers")


def kallsyms_child(mode: str, path: str) -> None:
    """One cold run (in a fresh process): resolve the report's symbols, print ms, method and addresses."""
    import efitables.dump  # noqa: F401  (what a report imports, numpy included: not timed)
    from efitables.kernel import kallsyms
    from efitables.memory import open_memory

    mem = open_memory(path)
    info = mem.vmcoreinfo
    t = time.perf_counter()
    if mode == "full":
        ks = kallsyms.full_decode(mem, info)
    elif mode == "markers":  # as on a kernel without kallsyms_seqs_of_names
        ks = kallsyms.load(mem, info, names=())
        finder = ks._finder
        if isinstance(finder, kallsyms._SeqsFinder):
            ks._finder, ks.method = kallsyms._MarkersFinder(finder.t, finder.layout), "markers"
        ks.lookup(kallsyms.REPORT_SYMBOLS)  # in one batch, as load() does
    else:
        ks = kallsyms.load(mem, info)
    pas = {n: ks.physical(n) for n in kallsyms.REPORT_SYMBOLS}
    ms = (time.perf_counter() - t) * 1000
    print(json.dumps({"ms": ms, "method": ks.method, "error": ks.error, "pas": pas}))


def run_child(mode: str, path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(path)], check=True, capture_output=True, text=True
    ).stdout
    return dict(json.loads(out))


def real_dumps(real_dir: Path | None) -> list[tuple[str, Path]]:
    """The corpus' ELF and kdump containers, decompressed once (or found in ``real_dir``)."""
    corpus = ROOT / "dumps/real/corpus"
    out_dir = ROOT / "bench/out/real"
    found = []
    for src in sorted(corpus.glob("*.xz")):
        name = src.name.removesuffix(".xz")
        if not name.endswith((".elf", ".kdump-zlib")):
            continue
        have = real_dir / name if real_dir else None
        if have is None or not have.exists():
            have = out_dir / name
            if not have.exists():
                out_dir.mkdir(parents=True, exist_ok=True)
                part = have.with_suffix(have.suffix + ".part")
                with lzma.open(src) as fi, open(part, "wb") as fo:
                    shutil.copyfileobj(fi, fo, 1 << 20)
                part.rename(have)
        found.append((name, have))
    return found


def bench_kallsyms(runs: int, real_dir: Path | None) -> None:
    dumps = real_dumps(real_dir) + [("sample ovmf64-virt.elf", ROOT / "dumps/samples/ovmf64-virt.elf")]
    print(f"\nkallsyms, report symbols {', '.join(_report_symbols())}: cold process, median of {runs} (ms)")
    print(f"{'dump':<24} {'method':<14} {'new':>7} {'full':>8} {'markers':>8} {'new/full':>9}")
    for name, path in dumps:
        times: dict[str, list[float]] = {m: [] for m in KALLSYMS_MODES}
        answers: dict[str, str] = {}
        method = ""
        for _ in range(runs):  # interleaved: the machine's load falls on every mode alike
            for mode in KALLSYMS_MODES:
                r = run_child(mode, path)
                times[mode].append(r["ms"])
                answers[mode] = json.dumps(r["pas"] if r["error"] is None else r["error"])
                if mode == "new":
                    method = r["method"] if r["error"] is None else "no table"
        assert len(set(answers.values())) == 1, (name, answers)
        med = {m: statistics.median(v) for m, v in times.items()}
        ratio = f"{med['new'] / med['full']:9.4f}" if method in ("seqs_of_names", "markers") else f"{'n/a':>9}"
        print(f"{name:<24} {method:<14} {med['new']:7.2f} {med['full']:8.1f} {med['markers']:8.2f} {ratio}")
    print("new: kallsyms.load; full: the old one-pass decode; markers: the v6.0/v6.1 way, forced on these tables")


def _report_symbols() -> tuple[str, ...]:
    from efitables.kernel.kallsyms import REPORT_SYMBOLS

    return REPORT_SYMBOLS


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="2G")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--kallsyms-runs", type=int, default=7)
    ap.add_argument("--kallsyms-only", action="store_true")
    ap.add_argument("--real-dir", type=Path, help="decompressed real dumps (<variant>.elf, ...), if at hand")
    ap.add_argument("--full-decode", metavar="DUMP", help="one cold run of the old full decode of DUMP")
    ap.add_argument("--child", nargs=2, metavar=("MODE", "DUMP"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        kallsyms_child(*a.child)
        return
    if a.full_decode:
        print(json.dumps(run_child("full", Path(a.full_decode))))
        return
    if a.kallsyms_only:
        bench_kallsyms(a.kallsyms_runs, a.real_dir)
        return
    size = int(a.size[:-1]) << {"M": 20, "G": 30}[a.size[-1].upper()]
    path = ROOT / "bench/out/open.raw"
    build(path, size)
    os.system(f"cat {path} > /dev/null")  # warm the page cache: measure parsing, not the disk
    hinted = min(run(path, boot_params=0x13000) for _ in range(a.repeat))
    scanned = min(run(path) for _ in range(a.repeat))
    print(f"dump size                {size / (1 << 30):.1f} GiB")
    print(f"with --boot-params hint  {hinted * 1000:.1f} ms")
    print(f"without hint (sweep)     {scanned * 1000:.1f} ms")
    print(f"ratio hinted/sweep       {hinted / scanned:.4f}")
    bench_kallsyms(a.kallsyms_runs, a.real_dir)


if __name__ == "__main__":
    main()
