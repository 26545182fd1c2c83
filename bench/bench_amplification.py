#!/usr/bin/env python3
"""Benchmark: hostile counts (issue 19) against the healthy sample, at 8 MiB and 1 GiB.

Every case of tests/builders_amplification.py (the healthy dumps/samples/ovmf64.raw with one count
or length inflated: a SETUP_E820_EXT ``len`` of 0xfffffff0, an ``efi_memmap_size`` of 0xffffffff,
``NumberOfTableEntries`` 0xffffffff over 1,000 readable entries, ...) is written as a raw dump of
each ``--sizes`` (sparse: only the sample's non-zero pages are written, the rest is a hole) under a
temporary directory, beside the healthy sample at the same size (the baseline). Each command
(``show --json`` and ``validate``, both given ``--boot-params`` as kallsyms would give it, so that
every case's zero page is parsed) runs in a fresh child process per dump, ``--repeat`` times;
the child times the command from the CLI's entry (interpreter start-up excluded) and reads its own
peak resident set with ``resource.getrusage(RUSAGE_SELF)``. Printed per case, size and command:
median seconds, peak RSS and output bytes, each with its ratio to the baseline of the same size and
command measured in the same run (baseline and case alternate round by round, so that the load of
a shared machine moves both). ``--all`` adds a case that combines several hostile counts in one dump
(their caps add up). ``--before REF`` also runs git REF's efitables (``git archive`` unpacked under
bench/out/; the working tree and git state are left alone) on the same hostile dumps: the cost
before the caps.

    python bench/bench_amplification.py [--sizes 8M,1G] [--cases NAME,...] [--repeat 3] [--all]
                                        [--before REF] [--json FILE]

Targets (issue 19): every hostile dump up to 1 GiB under 2 s and 256 MiB peak RSS, with bounded
output (the compact JSON of one case is under 1 MiB: tests/test_amplification.py asserts it).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
#: A child imports efitables from here first when set (``--before``: git REF's package).
TREE_VAR = "EFITABLES_BENCH_TREE"
sys.path.insert(0, os.environ.get(TREE_VAR) or str(ROOT))

COMMANDS = {"show --json": ["show", "--json"], "validate": ["validate", "--no-progress"]}
SIZES = {"8M": 8 << 20, "1G": 1 << 30}


# -- the child: one command, timed from the CLI's entry ------------------------------------------------
class _Count(io.TextIOBase):
    """A stdout that counts what the command prints and keeps none of it."""

    def __init__(self) -> None:
        self.n = 0

    def write(self, s: str) -> int:
        self.n += len(s.encode("utf-8", "surrogateescape"))
        return len(s)

    def writable(self) -> bool:
        return True


def child(result: str, argv: list[str]) -> None:
    sink = _Count()
    real = sys.stdout
    t = time.perf_counter()
    code = 0
    sys.stdout = sink  # type: ignore[assignment]
    try:
        from efitables.cli import main

        main(argv)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    finally:
        sys.stdout = real
    secs = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    Path(result).write_text(json.dumps({"seconds": secs, "rss": rss, "output": sink.n, "exit": code}))


def run(cmd: list[str], path: Path, boot_params: int, out: Path, tree: Path | None = None) -> dict:
    argv = [*cmd, "--boot-params", hex(boot_params), str(path)]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", TREE_VAR)}
    if tree is not None:
        env[TREE_VAR] = str(tree)
    r = subprocess.run(
        [sys.executable, __file__, "--child", str(out), *argv], capture_output=True, text=True, timeout=600, env=env
    )
    if r.returncode:  # reported on its line; the other cases go on
        lines = r.stderr.strip().splitlines()
        return {"error": lines[-1] if lines else f"exit {r.returncode}"}
    return json.loads(out.read_text())


def before_tree(ref: str) -> Path:
    """``efitables/`` of git ``ref``, unpacked under bench/out/ (the working tree is left alone)."""
    sha = subprocess.run(["git", "rev-parse", ref], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    dest = OUT / f"amplification-before-{sha.strip()[:12]}"
    if not (dest / "efitables").exists():
        tar = subprocess.run(
            ["git", "archive", "--format=tar", ref, "efitables"], cwd=ROOT, check=True, capture_output=True
        ).stdout
        dest.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
            tf.extractall(dest, filter="data")
    return dest


# -- the parent ----------------------------------------------------------------------------------------
def combined():  # noqa: ANN201 (a Case; the builders import efitables)
    """Several hostile counts in one dump (addresses that do not collide): their caps add up."""
    from tests import builders_amplification as A

    parts = ("e820-ext-len", "memmap-size", "config-tables", "acpi-sdt", "snp-cpuid")

    def build(img: A.SampleImage) -> None:
        for name in parts:
            A.CASE[name].build(img)

    return A.Case("combined", " + ".join(parts), build, A.CASE["memmap-size"].expect)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="8M,1G")
    ap.add_argument("--cases", default="", help="comma-separated case names (default: every case)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--all", action="store_true", help="add a case combining several hostile counts")
    ap.add_argument("--before", metavar="REF", help="also run git REF's efitables on the hostile dumps")
    ap.add_argument("--json", help="write the measurements here")
    if sys.argv[1:2] == ["--child"]:  # before argparse: the command's own options follow
        child(sys.argv[2], sys.argv[3:])
        return
    args = ap.parse_args()

    from tests import builders_amplification as A

    cases = [c for c in A.CASES if not args.cases or c.name in args.cases.split(",")]
    if args.all:
        cases.append(combined())
    tree = before_tree(args.before) if args.before else None
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-amplification-") as tmp:
        d = Path(tmp)
        for size_name in args.sizes.split(","):
            size = SIZES[size_name]
            files = {"baseline": A.healthy(d / f"baseline-{size_name}.raw", size)}
            for c in cases:
                files[c.name] = A.write_sparse(c.image().data, d / f"{c.name}-{size_name}.raw", size)
            if size <= SIZES["8M"]:
                for p in files.values():
                    p.read_bytes()  # warm the page cache
            for cmd_name, cmd in COMMANDS.items():
                for name, path in files.items():
                    if name == "baseline":
                        continue
                    # baseline and case alternate, round by round, so that a change in the machine's load
                    # (2 shared cores) moves both; each ratio is of medians over the same rounds
                    base_runs, runs = [], []
                    for _ in range(args.repeat):
                        base_runs.append(run(cmd, files["baseline"], A.BOOT_PARAMS_PA, d / "result.json"))
                        runs.append(run(cmd, path, A.BOOT_PARAMS_PA, d / "result.json"))
                    failed = [r["error"] for r in base_runs + runs if "error" in r]
                    if failed:
                        print(f"{size_name:>3} {name:<17} {cmd_name:<12} FAILED: {failed[0]}", flush=True)
                        continue
                    b, m = (
                        {
                            "case": n,
                            "size": size_name,
                            "command": cmd_name,
                            "seconds": statistics.median(r["seconds"] for r in rs),
                            "rss": max(r["rss"] for r in rs),
                            "output": rs[0]["output"],
                            "exit": rs[0]["exit"],
                            "on_disk": A.allocated(pth),
                        }
                        for n, rs, pth in (("baseline", base_runs, files["baseline"]), (name, runs, path))
                    )
                    m["baseline_seconds"], m["baseline_rss"], m["baseline_output"] = b["seconds"], b["rss"], b["output"]
                    m["time_ratio"] = m["seconds"] / b["seconds"]
                    m["rss_ratio"] = m["rss"] / b["rss"]
                    m["output_ratio"] = m["output"] / max(b["output"], 1)
                    before = ""
                    if tree is not None:
                        old = [run(cmd, path, A.BOOT_PARAMS_PA, d / "result.json", tree) for _ in range(args.repeat)]
                        if any("error" in r for r in old):
                            before = f"  | {args.before}: failed ({next(r['error'] for r in old if 'error' in r)})"
                        else:
                            m["before_seconds"] = statistics.median(r["seconds"] for r in old)
                            m["before_rss"], m["before_output"] = max(r["rss"] for r in old), old[0]["output"]
                            before = (
                                f"  | {args.before}: {m['before_seconds']:5.2f} s, {m['before_rss'] / 2**20:5.1f} MiB, "
                                f"{m['before_output'] / 1024:7.1f} KiB"
                            )
                    rows.append(m)
                    print(
                        f"{size_name:>3} {name:<17} {cmd_name:<12} {m['seconds']:5.2f} s ({m['time_ratio']:4.2f}x of "
                        f"{b['seconds']:.2f})  RSS {m['rss'] / 2**20:5.1f} MiB ({m['rss_ratio']:4.2f}x of "
                        f"{b['rss'] / 2**20:.1f})  output {m['output'] / 1024:6.1f} KiB ({m['output_ratio']:5.2f}x of "
                        f"{b['output'] / 1024:.1f})  exit {m['exit']}{before}",
                        flush=True,
                    )
    for what, key, ratio, unit, scale in () if not rows else (
        ("slowest", "seconds", "time_ratio", "s", 1),
        ("largest RSS", "rss", "rss_ratio", "MiB", 2**20),
        ("largest output", "output", "output_ratio", "KiB", 1024),
    ):
        w = max(rows, key=lambda r: r[key])
        print(f"{what}: {w['case']} {w['size']} {w['command']}: {w[key] / scale:.2f} {unit} ({w[ratio]:.2f}x)")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    os.environ.setdefault("COLUMNS", "120")
    main()
