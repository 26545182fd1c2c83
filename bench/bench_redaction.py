#!/usr/bin/env python3
"""Benchmark: what redaction by physical range (issue 19) costs a report.

A Dump opened without ``show_secrets`` reads through a
:class:`~efitables.memory.redact.RedactedMemory`, whose secret ranges come from a throwaway
parse of the container (zero page, setup_data, system table with only the secret-bearing
payloads, CC blob) on the first read. The baseline is the same Dump class without the view
(``Dump.redacts = False``: every area reads the container, as before issue 19), in the same
process and run, interleaved. Timed, median of ``--repeat``, per dump:

* ``report``: open, ``report()`` and ``to_dict(raw=True)`` (what ``show --json --raw`` builds);
* ``systab``: open and the system table alone (a hint's "handful of reads", plus the pre-pass).

Dumps: the real corpus decompressed by bench_open.py into bench/out/real/ (or ``--real-dir``),
the SNP sample of tests/builders_snp.py (written into bench/out/), and any PATH given.
Prints each figure and the ratio redacted/baseline.

    python bench/bench_redaction.py [--repeat 5] [--real-dir DIR] [PATH...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import efitables  # noqa: E402
from efitables.dump import Dump  # noqa: E402


def timed(path: Path, redacts: bool, what: str) -> float:
    Dump.redacts = redacts
    try:
        t = time.perf_counter()
        with efitables.open(str(path)) as d:
            if what == "report":
                d.report()
                d.to_dict(raw=True)
            else:
                d.systab  # noqa: B018
        return time.perf_counter() - t
    finally:
        Dump.redacts = True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="*", type=Path)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--real-dir", type=Path, default=ROOT / "bench/out/real")
    a = ap.parse_args()
    paths = list(a.paths)
    if a.real_dir.is_dir():
        paths += sorted(p for p in a.real_dir.iterdir() if p.is_file())
    snp = ROOT / "bench/out/snp-guest.raw"
    if not snp.exists():
        from tests.builders_snp import write_snp_guest_raw

        snp.parent.mkdir(parents=True, exist_ok=True)
        write_snp_guest_raw(str(snp))
    paths.append(snp)
    print(f"{'dump':34} {'what':7} {'baseline ms':>12} {'redacted ms':>12} {'ratio':>6}")
    for p in paths:
        for what in ("report", "systab"):
            timed(p, True, what)  # warm the page cache and imports once
            base, red = [], []
            for _ in range(a.repeat):  # interleaved: both see the same machine load
                base.append(timed(p, False, what))
                red.append(timed(p, True, what))
            b, r = statistics.median(base) * 1e3, statistics.median(red) * 1e3
            print(f"{p.name:34} {what:7} {b:12.1f} {r:12.1f} {r / b:6.2f}")


if __name__ == "__main__":
    main()
