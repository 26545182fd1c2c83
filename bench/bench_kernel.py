#!/usr/bin/env python3
"""Benchmark: the kernel's own copies (kallsyms + BTF + copies, witnesses) on the real dumps, as ratios.

Usage::

    .venv/bin/python bench/bench_kernel.py [--rounds 5] [--real-dir DIR] [--variants ovmf64,kexec,...]

Takes the real dumps of dumps/real/corpus (the QEMU ELF dumps, the kdump capture's
/proc/vmcore and makedumpfile outputs; decompressed once into bench/out/real/ as
bench_open.py and bench_btf.py do, or found in ``--real-dir``), and a System-RAM-only
LiME cut out of each EFI guest's ELF (its /proc/iomem "System RAM", what LiME captures),
and times in this process, interleaved round by round, medians of ``--rounds``, as this
process's CPU time (the machine is shared):

* ``report``: the baseline, ``Dump.report()`` of a freshly opened dump (every area and
  check, the kernel's copies and the witnesses included);
* ``kallsyms``: resolving every symbol :mod:`efitables.kernel.copies` reads (fresh dump);
* ``btf``: ``btf.load`` (fresh dump);
* ``view``: ``read_kernel_view`` (kallsyms, BTF, every copy) on a fresh dump, and
  ``view (offsets)`` the same without BTF (the v6.1 tables);
* ``witnesses``: the three-witness comparison on a dump whose areas are already parsed;
* for the LiME: ``find VMCOREINFO`` (the sweep that finds the kernel's page) against
  ``sweep``, reading every byte of the dump once.

Ratios: view / report, view (offsets) / view, witnesses / report, find / sweep.
"""

from __future__ import annotations

import argparse
import json
import lzma
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the test builders (tests/builders_kernel.py imports its siblings bare)

from builders_kernel import system_ram_lime  # noqa: E402

import efitables  # noqa: E402
from efitables.kernel import btf, kallsyms  # noqa: E402
from efitables.kernel.copies import SYMBOLS, read_kernel_view  # noqa: E402
from efitables.kernel.locate import find_vmcoreinfo  # noqa: E402
from efitables.memory import open_memory  # noqa: E402

T = TypeVar("T")
CORPUS = ROOT / "dumps/real/corpus"
OUT = ROOT / "bench/out/real"


def _timed(fn: Callable[[], T]) -> tuple[float, T]:
    t = time.process_time()
    got = fn()
    return (time.process_time() - t) * 1000, got


def _ms(fn: Callable[[], object]) -> float:
    return _timed(fn)[0]


def unpacked(name: str, real_dir: Path | None) -> Path:
    """``name`` (``ovmf64.elf``, ``kdump.vmcore``) from ``real_dir``, else decompressed once into bench/out/real/."""
    if real_dir is not None and (real_dir / name).exists():
        return real_dir / name
    have = OUT / name
    if not have.exists():
        have.parent.mkdir(parents=True, exist_ok=True)
        part = have.with_suffix(have.suffix + ".part")
        with lzma.open(CORPUS / f"{name}.xz") as fi, open(part, "wb") as fo:
            shutil.copyfileobj(fi, fo, 1 << 20)
        part.rename(have)
    return have


def _sweep(path: Path) -> int:
    mem = open_memory(str(path))
    n = 0
    for _pa, data in mem.chunks(16 << 20):
        n += len(data)
    return n


def bench_dump(path: Path, rounds: int) -> dict[str, float]:
    times: dict[str, list[float]] = {
        k: [] for k in ("report", "kallsyms", "btf", "view", "view (offsets)", "witnesses")
    }
    for _ in range(rounds):
        with efitables.open(str(path)) as d:
            times["report"].append(_ms(d.report))
        m = open_memory(str(path))
        times["kallsyms"].append(_ms(lambda m=m: kallsyms.load(m, m.vmcoreinfo, SYMBOLS)))
        m = open_memory(str(path))
        times["btf"].append(_ms(lambda m=m: btf.load(m)))
        m = open_memory(str(path))
        times["view"].append(_ms(lambda m=m: read_kernel_view(m)))
        m = open_memory(str(path))
        times["view (offsets)"].append(_ms(lambda m=m: read_kernel_view(m, use_btf=False)))
        with efitables.open(str(path)) as d:
            for name in ("systab", "efi_memmap", "boot_params", "e820", "cc_blob", "kernel", "kernel_log"):
                getattr(d, name)
            times["witnesses"].append(_ms(lambda d=d: d.witnesses))
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--real-dir", type=Path, help="decompressed real dumps, if at hand")
    ap.add_argument("--variants", help="comma-separated names (default: every dump in the corpus)")
    a = ap.parse_args()
    names = sorted(p.name.removesuffix(".xz") for p in CORPUS.glob("*.xz") if ".serial." not in p.name)
    if a.variants:
        want = set(a.variants.split(","))
        names = [n for n in names if n.split(".")[0] in want]
    print(f"median CPU ms of {a.rounds} rounds; ratios to the same dump's report (every area and check)")
    head = f"{'dump':28} {'report':>8} {'kallsyms':>9} {'btf':>7} {'view':>7} {'offsets':>8} {'witn.':>6}"
    print(head + f" {'view/report':>12} {'offsets/view':>13}")
    for name in names:
        path = unpacked(name, a.real_dir)
        med = bench_dump(path, a.rounds)
        print(
            f"{name:28} {med['report']:8.1f} {med['kallsyms']:9.1f} {med['btf']:7.1f} {med['view']:7.1f} "
            f"{med['view (offsets)']:8.1f} {med['witnesses']:6.1f} {med['view'] / med['report']:12.2f} "
            f"{med['view (offsets)'] / med['view']:13.2f}"
        )
    print()
    print("System-RAM-only LiME (the ELF's /proc/iomem System RAM): finding the kernel's VMCOREINFO page")
    print(f"{'dump':28} {'sweep':>8} {'find':>8} {'report':>8} {'find/sweep':>11}")
    for name in names:
        if not name.endswith(".elf"):
            continue
        variant = name.removesuffix(".elf")
        truth = json.loads((CORPUS / f"{variant}.truth.json").read_text())
        if not truth.get("efi"):
            continue
        lime = OUT / f"{variant}.system-ram.lime"
        if not lime.exists():  # cut once, kept in bench/out/real/ like the decompressed dumps
            lime.parent.mkdir(parents=True, exist_ok=True)
            system_ram_lime(unpacked(name, a.real_dir), truth, lime)
        sweeps, finds, reports = [], [], []
        for _ in range(a.rounds):
            sweeps.append(_ms(lambda lime=lime: _sweep(lime)))
            m = open_memory(str(lime))
            ms, found = _timed(lambda m=m: find_vmcoreinfo(m))
            assert found is not None
            finds.append(ms)
            with efitables.open(str(lime)) as d:
                reports.append(_ms(d.report))
        s, f, r = (statistics.median(x) for x in (sweeps, finds, reports))
        print(f"{lime.name:28} {s:8.1f} {f:8.1f} {r:8.1f} {f / s:11.2f}")


if __name__ == "__main__":
    main()
