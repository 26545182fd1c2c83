#!/usr/bin/env python3
"""Benchmark: ``efitables validate`` over 200 sample dumps with --jobs 1 and --jobs 2.

Makes a directory of ``--count`` dumps (the four samples of dumps/samples/ in
turn, hard-linked, or copied with ``--copy``), warms the page cache, then runs
the same code path as the CLI (:func:`efitables.cli.validate.run_validation`
over :func:`efitables.validate.expand_paths` of the directory) once per job
count, ``--repeat`` times, and prints dumps per second for each and the
speed-up of the best --jobs 2 run over the best --jobs 1 run. With ``--cli``
it times the ``efitables validate`` command itself (a child process,
interpreter start-up included) instead. A control measures the speed-up a
pure-CPU loop gets from the same number of processes at that moment: on a
shared 2-core machine it shows whether a second core was free at all.

    python bench/bench_validate.py [--count 200] [--jobs 1 2] [--repeat 3] [--copy] [--cli] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SAMPLES = ["ovmf64.raw", "ovmf64-virt.elf", "ovmf32.elf", "seabios.raw"]


def make_corpus(directory: Path, count: int, copy: bool) -> list[Path]:
    out = []
    for i in range(count):
        name = SAMPLES[i % len(SAMPLES)]
        src = ROOT / "dumps" / "samples" / name
        dst = directory / f"{i:04d}-{name}"
        if copy:
            shutil.copyfile(src, dst)
        else:
            try:
                os.link(src, dst)
            except OSError:  # another filesystem: copy
                shutil.copyfile(src, dst)
        out.append(dst)
    for p in out[: len(SAMPLES)]:
        p.read_bytes()  # warm the page cache
    return out


def run_api(directory: Path, jobs: int) -> tuple[float, int, dict[str, int]]:
    from efitables.cli.validate import run_validation
    from efitables.validate import expand_paths

    t = time.perf_counter()
    paths, problems = expand_paths([str(directory)])
    verdicts = run_validation(paths, jobs=jobs)
    secs = time.perf_counter() - t
    status: dict[str, int] = {}
    for v in problems + verdicts:
        status[v.status] = status.get(v.status, 0) + 1
    return secs, len(verdicts), status


def run_cli(directory: Path, jobs: int) -> tuple[float, int, dict[str, int]]:
    t = time.perf_counter()
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "efitables",
            "validate",
            "--jsonl",
            "--no-progress",
            "--jobs",
            str(jobs),
            str(directory),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    secs = time.perf_counter() - t
    status: dict[str, int] = {}
    lines = r.stdout.splitlines()
    for line in lines:
        s = json.loads(line)["status"]
        status[s] = status.get(s, 0) + 1
    return secs, len(lines), status


def _spin(n: int) -> int:
    x = 0
    for i in range(n):
        x += i
    return x


def cpu_parallelism(jobs: int, n: int = 5_000_000) -> float:
    """Control: the speed-up ``jobs`` processes get on a pure-CPU loop right now (1.0 if another
    program holds the other cores: then no validate speed-up is possible either)."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(_spin, [1000] * jobs))  # start the workers
        t = time.perf_counter()
        list(pool.map(_spin, [n] * jobs))
        par = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(jobs):
        _spin(n)
    seq = time.perf_counter() - t
    return seq / par


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--copy", action="store_true", help="copy the samples instead of hard-linking them")
    ap.add_argument("--cli", action="store_true", help="time the efitables command (a child process) instead")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    args = ap.parse_args()

    runner = run_cli if args.cli else run_api
    results: dict[int, list[float]] = {j: [] for j in args.jobs}
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as tmp:
        d = Path(tmp)
        make_corpus(d, args.count, args.copy)
        runner(d, 1)  # warm-up: imports, page cache
        for _ in range(args.repeat):
            for j in args.jobs:
                secs, n, status = runner(d, j)
                assert n == args.count, f"validated {n} of {args.count} dumps"
                results[j].append(secs)
                print(f"  --jobs {j}: {n} dumps in {secs:.3f} s = {n / secs:.1f} dumps/s  {status}", flush=True)

    cpus = os.cpu_count()
    control = {j: cpu_parallelism(j) for j in args.jobs if j > 1}
    mode = "CLI" if args.cli else "API"
    print(f"\nefitables validate, {args.count} sample dumps, {mode}, {cpus} CPUs (best of {args.repeat})")
    best = {j: min(v) for j, v in results.items()}
    for j in args.jobs:
        print(f"  --jobs {j}: {best[j]:.3f} s  {args.count / best[j]:.1f} dumps/s")
    base = best.get(1)
    summary = {
        "count": args.count,
        "mode": "cli" if args.cli else "api",
        "cpus": cpus,
        "seconds": best,
        "dumps_per_second": {j: args.count / s for j, s in best.items()},
    }
    if base:
        summary["speedup"] = {j: base / s for j, s in best.items()}
        for j in args.jobs:
            if j != 1:
                print(
                    f"  speed-up --jobs {j} over --jobs 1: {base / best[j]:.2f}x "
                    f"(control: a pure-CPU loop gets {control[j]:.2f}x from {j} processes right now)"
                )
        summary["cpu_control_speedup"] = control
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
