#!/usr/bin/env python3
"""Benchmark: the kernel's BTF (efitables.kernel.btf) on a real Debian 6.1 dump, as ratios to baselines.

Usage::

    .venv/bin/python bench/bench_btf.py [--variant ovmf64] [--rounds 7] [--real-dir DIR] [--all]

Takes a guest's ELF dump from dumps/real/corpus (decompressed once into
bench/out/real/, where bench_open.py puts them too, or found in ``--real-dir``) and times,
in this process, interleaved round by round (the machine's load falls on every
task alike), medians of ``--rounds``, as this process's CPU time (user and
system: the machine is shared, so the work is measured, not the neighbours;
on an idle machine wall time is the same):

* baselines: ``kallsyms``, resolving ``__start_BTF``/``__stop_BTF`` on a freshly
  opened dump (VMCOREINFO then ``kallsyms_seqs_of_names``); ``read``, reading the
  ~4.3 MB section through ``PhysicalMemory.read``;
* ``parse``: ``btf.parse`` of the section bytes (header, the one ``struct`` pass
  indexing ~100,750 types);
* ``load``: ``btf.load`` (the symbols, the read and the parse) on a freshly opened dump;
* ``first query``: on a fresh parse, ``member_offset("struct efi", "memmap.phys_map")``
  (the name index is built by it);
* ``report queries``: on a fresh parse, the dozen sizes and offsets a report
  would ask for (:data:`QUERIES`);
* ``cached query``: the first query again on a Btf that has answered it (per call).

Then ``construct/struct``: decoding each record's ``struct btf_type`` with the
construct schema against the ``struct`` fast path, over the same records (why
the index pass uses ``struct``). ``--all`` adds decoding every type
(``for t in btf``) against ``bpftool btf dump file X format raw`` when bpftool
is installed.
"""

from __future__ import annotations

import argparse
import lzma
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from efitables.kernel import btf, kallsyms  # noqa: E402
from efitables.memory import open_memory  # noqa: E402
from efitables.schemas.btf import BTF_TYPE, BTF_TYPE_FAST  # noqa: E402

T = TypeVar("T")
CACHED_CALLS = 1000

#: (type, member path or None for sizeof): what a report of the kernel's own structures asks for.
QUERIES: list[tuple[str, str | None]] = [
    ("struct efi", "memmap.phys_map"),
    ("struct efi", "acpi20"),
    ("struct efi", "smbios"),
    ("struct efi", None),
    ("struct efi_memory_map", "desc_size"),
    ("struct boot_params", "efi_info"),
    ("struct boot_params", "hdr.setup_data"),
    ("struct boot_params", None),
    ("struct kimage", "segment"),
    ("struct kimage", "nr_segments"),
    ("struct kexec_segment", "mem"),
    ("struct e820_table", "entries"),
]


def _timed(fn: Callable[[], T]) -> tuple[float, T]:
    """(milliseconds of this process's CPU time, user and system, result) of one call."""
    t = time.process_time()
    got = fn()
    return (time.process_time() - t) * 1000, got


def _ms(fn: Callable[[], object]) -> float:
    return _timed(fn)[0]


def real_dump(variant: str, real_dir: Path | None) -> Path:
    """``<variant>.elf`` from ``real_dir``, else decompressed once from dumps/real/corpus into bench/out/real/."""
    name = f"{variant}.elf"
    if real_dir is not None and (real_dir / name).exists():
        return real_dir / name
    have = ROOT / "bench/out/real" / name
    if not have.exists():
        have.parent.mkdir(parents=True, exist_ok=True)
        part = have.with_suffix(".part")
        with lzma.open(ROOT / "dumps/real/corpus" / f"{name}.xz") as fi, open(part, "wb") as fo:
            shutil.copyfileobj(fi, fo, 1 << 20)
        part.rename(have)
    return have


def _queries(b: btf.Btf) -> list[int]:
    return [b.sizeof(spec) if path is None else b.member_offset(spec, path) for spec, path in QUERIES]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", default="ovmf64")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--real-dir", type=Path, help="decompressed real dumps (<variant>.elf), if at hand")
    ap.add_argument("--all", action="store_true", help="also decode every type (and run bpftool if installed)")
    a = ap.parse_args()
    path = real_dump(a.variant, a.real_dir)
    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache

    mem = open_memory(str(path))
    ks = kallsyms.load(mem, mem.vmcoreinfo, names=btf.BTF_SYMBOLS)
    where = btf.locate(mem, ks)
    assert not isinstance(where, btf.Finding), where
    start, size = where
    data = mem.read(start, size)
    ref = btf.parse(data, start)
    assert isinstance(ref, btf.Btf) and not ref.findings
    answers = _queries(ref)

    times: dict[str, list[float]] = {
        k: [] for k in ("kallsyms", "read", "parse", "load", "first query", "report queries", "cached query")
    }
    for _ in range(a.rounds):
        fresh = open_memory(str(path))
        times["kallsyms"].append(
            _ms(lambda m=fresh: kallsyms.load(m, m.vmcoreinfo, names=btf.BTF_SYMBOLS).lookup_physical(btf.BTF_SYMBOLS))
        )
        times["read"].append(_ms(lambda: mem.read(start, size, btf.STRUCTURE)))
        times["parse"].append(_ms(lambda: btf.parse(data, start)))
        fresh2 = open_memory(str(path))
        ms, loaded = _timed(lambda m=fresh2: btf.load(m))
        times["load"].append(ms)
        assert isinstance(loaded, btf.Btf) and loaded.raw == data
        b1 = btf.parse(data, start)
        assert isinstance(b1, btf.Btf)
        times["first query"].append(_ms(lambda b=b1: b.member_offset("struct efi", "memmap.phys_map")))
        b2 = btf.parse(data, start)
        assert isinstance(b2, btf.Btf)
        ms, got = _timed(lambda b=b2: _queries(b))
        times["report queries"].append(ms)
        assert got == answers
        times["cached query"].append(
            _ms(lambda b=b1: [b.member_offset("struct efi", "memmap.phys_map") for _ in range(CACHED_CALLS)])
            / CACHED_CALLS
        )
        fresh.close()
        fresh2.close()
    med = {k: statistics.median(v) for k, v in times.items()}

    print(f"{a.variant}: kernel BTF {size / 1e6:.2f} MB at {start:#x}, {ref.count} types; median of {a.rounds} (ms)")
    for k, v in med.items():
        print(f"  {k:<16} {v:9.3f}")
    print("ratios")
    print(f"  parse / read                {med['parse'] / med['read']:7.1f}")
    print(f"  load / (kallsyms + read)    {med['load'] / (med['kallsyms'] + med['read']):7.1f}")
    print(f"  first query / parse         {med['first query'] / med['parse']:7.2f}")
    print(f"  report queries / parse      {med['report queries'] / med['parse']:7.2f}  ({len(QUERIES)} queries)")
    print(f"  cached query / read         {med['cached query'] / med['read']:7.4f}")

    # construct against struct on the record headers the index pass reads
    sample = list(ref._offs)[:5000]
    t_cs = _ms(lambda: [BTF_TYPE.parse(data[p : p + 12]) for p in sample])
    t_st = _ms(lambda: [BTF_TYPE_FAST.unpack_from(data, p) for p in sample])
    print(f"  construct / struct (btf_type of {len(sample)} records) {t_cs / t_st:7.1f}")

    if a.all:
        t_all = _ms(lambda: sum(1 for _ in ref))
        print(f"decode every type: {t_all:.0f} ms")
        tool = shutil.which("bpftool")
        if tool:
            with tempfile.NamedTemporaryFile(suffix=".btf") as fh:
                fh.write(data)
                fh.flush()
                before = os.times()
                subprocess.run(
                    [tool, "btf", "dump", "file", fh.name, "format", "raw"], stdout=subprocess.DEVNULL, check=True
                )
                after = os.times()
                t_tool = (
                    after.children_user + after.children_system - before.children_user - before.children_system
                ) * 1000
            print(
                f"bpftool format raw (child CPU time): {t_tool:.0f} ms; parse + decode every type / bpftool "
                f"{(med['parse'] + t_all) / t_tool:.1f}"
            )


if __name__ == "__main__":
    main()
