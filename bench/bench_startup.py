#!/usr/bin/env python3
"""Whole-process start-up cost of the ``efitables`` command line (issue 16, target 3).

Runs, interleaved in every round (the order reversed every other round, so that a
busy neighbour on a shared machine hurts every command alike), each a fresh process:

* ``python -c 'import click, rich'`` (the floor: the CLI's own dependencies),
* ``efitables --version``,
* ``efitables show --json --boot-params 0x13000 dumps/samples/ovmf64.raw``,

and prints the medians and the ratios against the targets: ``--version`` within
4x of ``import click, rich``, ``show`` within 1.5x of ``--version``. Then the EDK2
GUID names, timed inside fresh processes: loading the prebuilt index (the first
lookup of a GUID only the large list names) against parsing the CSV as the first
lookup used to.

``--baseline-tree DIR`` (a copy of an older ``efitables`` package, for example
``git archive <rev> efitables | tar -x -C DIR``) adds the two efitables commands run
with ``PYTHONPATH=DIR`` (and that tree's CSV load, when it has the old loader) to
the same rounds, for before/after figures from one run.

Usage: python bench/bench_startup.py [-n ROUNDS] [--baseline-tree DIR] [--dump PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DUMP = ROOT / "dumps" / "samples" / "ovmf64.raw"
#: Named only by efitables/data/edk2_guids.csv (not the built-in configuration-table list).
EDK2_ONLY_GUID = "00026aeb-f334-4c15-a7f0-e1e897e9fe91"

VERSION_TARGET = 4.0  # efitables --version / import click, rich
SHOW_TARGET = 1.5  # efitables show ... / efitables --version

_GUID_INDEX = f"""
import time
t0 = time.perf_counter()
from efitables import guids
t1 = time.perf_counter()
k = guids.lookup({EDK2_ONLY_GUID!r})
t2 = time.perf_counter()
assert k is not None
print(t2 - t1, t2 - t0)
"""
_GUID_CSV = """
import time
from efitables import guids
t0 = time.perf_counter()
n = len(guids._load_edk2_csv())
t1 = time.perf_counter()
assert n > 10000
print(t1 - t0, t1 - t0)
"""
#: The loader of a tree from before the index (efitables.guids._load_edk2 parsed the CSV).
_GUID_OLD = """
import time
from efitables import guids
t0 = time.perf_counter()
guids._load_edk2()
t1 = time.perf_counter()
print(t1 - t0, t1 - t0)
"""


@dataclass
class Case:
    label: str
    argv: list[str]
    env: dict[str, str] | None = None
    cwd: str | None = None
    #: None: time the whole process; else the child prints seconds and we keep field ``inner`` of them
    inner: int | None = None
    ok_codes: tuple[int, ...] = (0,)
    times: list[float] = field(default_factory=list)

    def run(self) -> None:
        t0 = time.perf_counter()
        r = subprocess.run(self.argv, env=self.env, cwd=self.cwd or ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if r.returncode not in self.ok_codes:
            raise SystemExit(f"{self.label}: exit {r.returncode}\n{r.stderr[-2000:]}")
        if self.inner is None:
            self.times.append(wall)
        else:
            self.times.append(float(r.stdout.split()[self.inner]))

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def efitables_argv() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m efitables``."""
    script = Path(sys.executable).with_name("efitables")
    return [str(script)] if script.exists() else [sys.executable, "-m", "efitables"]


def env_with_path(tree: str | None) -> dict[str, str] | None:
    if tree is None:
        return None
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(Path(tree).resolve()), env.get("PYTHONPATH", "")) if p)
    return env


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--rounds", type=int, default=15, help="interleaved rounds (default %(default)s)")
    ap.add_argument("--dump", type=Path, default=DUMP, help="dump for the show command (default: ovmf64.raw)")
    ap.add_argument("--boot-params", default="0x13000", help="its boot_params address (default %(default)s)")
    ap.add_argument("--baseline-tree", metavar="DIR", help="also run an older efitables package from DIR")
    a = ap.parse_args(argv)

    py = sys.executable
    efi = efitables_argv()
    show_args = ["show", "--json", "--boot-params", a.boot_params, str(a.dump.resolve())]
    floor = Case("python -c 'import click, rich'", [py, "-c", "import click, rich"])
    version = Case("efitables --version", [*efi, "--version"])
    show_label = f"efitables show --json --boot-params {a.boot_params} {a.dump.name}"
    show = Case(show_label, [*efi, *show_args], ok_codes=(0, 1))
    cases = [floor, version, show]
    base_version = base_show = None
    benv, bdir = None, None
    if a.baseline_tree:
        benv, bdir = env_with_path(a.baseline_tree), a.baseline_tree
        base_version = Case("baseline: efitables --version", [*efi, "--version"], env=benv, cwd=bdir)
        base_show = Case("baseline: efitables show ...", [*efi, *show_args], env=benv, cwd=bdir, ok_codes=(0, 1))
        cases += [base_version, base_show]
    index = Case("GUID index: first lookup (index load)", [py, "-c", _GUID_INDEX], inner=0)
    index_all = Case("GUID index: import guids + first lookup", [py, "-c", _GUID_INDEX], inner=1)
    csv_load = Case("GUID CSV parse (the old first-use load)", [py, "-c", _GUID_CSV], inner=0)
    guid_cases = [index, index_all, csv_load]
    if a.baseline_tree:
        old = Case("baseline: guids._load_edk2() (old code)", [py, "-c", _GUID_OLD], benv, bdir, inner=0)
        guid_cases.append(old)
    every = cases + guid_cases

    for c in every:  # warm the page cache and the .pyc files; not counted
        c.run()
        c.times.clear()
    for r in range(a.rounds):
        for c in every if r % 2 == 0 else every[::-1]:
            c.run()

    print(f"{a.rounds} interleaved rounds, {py} (Python {sys.version.split()[0]}), {os.cpu_count()} CPUs\n")
    print(f"{'whole process':58} {'median':>9} {'min':>9}")
    for c in cases:
        print(f"{c.label:58} {c.median * 1e3:7.1f}ms {min(c.times) * 1e3:7.1f}ms")
    print()

    def ratio(label: str, num: Case, den: Case, target: float) -> None:
        x = num.median / den.median
        verdict = "meets" if x <= target else "misses"
        print(f"{label:58} {x:6.2f}x  (target <= {target}x: {verdict})")

    ratio("--version / import click, rich", version, floor, VERSION_TARGET)
    ratio("show / --version", show, version, SHOW_TARGET)
    if base_version is not None and base_show is not None:
        ratio("baseline: --version / import click, rich", base_version, floor, VERSION_TARGET)
        ratio("baseline: show / --version", base_show, base_version, SHOW_TARGET)
        print(f"{'--version: baseline / now':58} {base_version.median / version.median:6.2f}x faster")
        print(f"{'show: baseline / now':58} {base_show.median / show.median:6.2f}x faster")
    print(f"\n{'EDK2 GUID names, in-process (fresh process each)':58} {'median':>9} {'min':>9}")
    for c in guid_cases:
        print(f"{c.label:58} {c.median * 1e3:7.2f}ms {min(c.times) * 1e3:7.2f}ms")
    print(f"{'CSV parse / index load':58} {csv_load.median / index.median:6.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
