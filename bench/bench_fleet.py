#!/usr/bin/env python3
"""Benchmark (issue 17): validate throughput on one machine and on a 2-worker Dask LocalCluster, and what
a dump costs to read from a URL.

**Throughput.** ``--count`` sample dumps (the four of dumps/samples/ in turn, hard-linked into a temporary
directory) are validated by the code the CLI runs: :func:`efitables.cli.validate.run_validation` with
``--jobs 1`` and ``--jobs 2``, and :func:`efitables.fleet.run_dask` on a ``LocalCluster`` of two worker
processes (one thread each) started beforehand (its start-up is printed on its own). Each is run
``--repeat`` times; the best run's dumps per second is printed with its ratio to ``--jobs 1``. A CPU control
runs a pure-Python loop alone and then in two processes at once, in the same rounds: its ratio is what two
processes could give at that moment on this shared machine (2 cores, other jobs), so read the others
against it.

**Bytes.** The real ovmf64 guest (dumps/real/corpus, 272 MiB ELF; and its kdump, unflattened to the plain
diskdump layout as ``makedumpfile -R`` writes it) and the ovmf64.raw sample are parsed whole (``Dump.report``
and ``to_dict``: what ``show --json`` prints) from the local file and from an HTTP server on 127.0.0.1 that
honours Range (tests/range_server.py), with and without the ``--boot-params`` hint; printed: bytes read
(local: preads and mapped windows; HTTP: range responses, checked against what the server sent), requests,
cache hits, seconds.

A second round does the same with ``--real`` real dumps (each ELF of dumps/real/corpus in turn, about 0.1 to
0.5 s of parsing each, against 10 to 30 ms for a sample): per-task costs weigh less there.

    python bench/bench_fleet.py [--count 100] [--real 12] [--repeat 2] [--skip-bytes] [--skip-throughput]
                                [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import lzma
import multiprocessing
import os
import shutil
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

SAMPLES = ["ovmf64.raw", "ovmf64-virt.elf", "ovmf32.elf", "seabios.raw"]
CORPUS = ROOT / "dumps" / "real" / "corpus"
MIB = 1 << 20
#: Iterations of the CPU control loop (about 0.5 s of one core).
CONTROL_LOOP = 6_000_000


def make_corpus(directory: Path, count: int) -> list[str]:
    out = []
    for i in range(count):
        name = SAMPLES[i % len(SAMPLES)]
        src = ROOT / "dumps" / "samples" / name
        dst = directory / f"{i:04d}-{name}"
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)
        out.append(str(dst))
    for name in SAMPLES:
        (ROOT / "dumps" / "samples" / name).read_bytes()  # warm the page cache
    return out


def make_real_corpus(directory: Path, count: int) -> list[str]:
    """``count`` real dumps: every variant's ELF of dumps/real/corpus in turn, decompressed once, hard-linked."""
    srcs = []
    for xz in sorted(CORPUS.glob("*.elf.xz")):
        dst = directory / xz.name.removesuffix(".xz")
        with lzma.open(xz) as fi, open(dst, "wb") as fo:
            shutil.copyfileobj(fi, fo, MIB)
        srcs.append(dst)
    out = []
    for i in range(count if srcs else 0):
        src = srcs[i % len(srcs)]
        dst = directory / f"{i:04d}-{src.name}"
        os.link(src, dst)
        out.append(str(dst))
    return out


# -- the CPU control -------------------------------------------------------------------------------------
def _spin(n: int) -> int:
    acc = 0
    for i in range(n):
        acc += i * i & 0xFF
    return acc


def control(procs: int) -> float:
    """Seconds for ``procs`` processes to run the loop once each, all at once."""
    ctx = multiprocessing.get_context("fork")
    t = time.perf_counter()
    ps = [ctx.Process(target=_spin, args=(CONTROL_LOOP,)) for _ in range(procs)]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    return time.perf_counter() - t


# -- throughput ------------------------------------------------------------------------------------------
def throughput(paths: list[str], repeat: int) -> dict[str, Any]:
    from efitables.cli.validate import run_validation
    from efitables.fleet import ValidateOptions, local_cluster, run_dask

    t = time.perf_counter()
    cluster = local_cluster(2)  # LocalCluster(n_workers=2, processes=True, threads_per_worker=1), 127.0.0.1
    startup = time.perf_counter() - t
    runs: dict[str, list[float]] = {"control x1": [], "control x2": [], "jobs 1": [], "jobs 2": [], "dask 2": []}
    statuses: dict[str, dict[str, int]] = {}
    try:
        # one untimed pass so the workers have imported efitables and the page cache is warm
        list(run_dask(paths[:8], ValidateOptions(), scheduler=cluster.scheduler_address))
        for _ in range(repeat):
            runs["control x1"].append(control(1))
            runs["control x2"].append(control(2))
            for label, fn in (
                ("jobs 1", lambda: run_validation(list(paths), jobs=1)),
                ("jobs 2", lambda: run_validation(list(paths), jobs=2)),
                ("dask 2", lambda: list(run_dask(paths, ValidateOptions(), scheduler=cluster.scheduler_address))),
            ):
                t = time.perf_counter()
                verdicts = fn()
                runs[label].append(time.perf_counter() - t)
                counts: dict[str, int] = {}
                for v in verdicts:
                    counts[v.status] = counts.get(v.status, 0) + 1
                statuses[label] = counts
    finally:
        cluster.close()
    best = {k: min(v) for k, v in runs.items()}
    n = len(paths)
    out = {
        "dumps": n,
        "cluster_startup_s": round(startup, 2),
        "control_speedup": round(2 * best["control x1"] / best["control x2"], 2),
        "dumps_per_s": {k: round(n / best[k], 1) for k in ("jobs 1", "jobs 2", "dask 2")},
        "statuses": statuses,
        "runs_s": {k: [round(x, 3) for x in v] for k, v in runs.items()},
    }
    out["speedup"] = {k: round(out["dumps_per_s"][k] / out["dumps_per_s"]["jobs 1"], 2) for k in ("jobs 2", "dask 2")}
    return out


# -- bytes -----------------------------------------------------------------------------------------------
def unflatten(src: Path, dst: Path) -> Path:
    """makedumpfile -R: the flattened records applied to a plain file (as tests/real_files.py does)."""
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        fi.seek(4096)
        while True:
            off, size = struct.unpack(">qq", fi.read(16))
            if off == -1 and size == -1:
                break
            fo.seek(off)
            fo.write(fi.read(size))
    return dst


def real_files(work: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for name, xz in (("ovmf64.elf", CORPUS / "ovmf64.elf.xz"), ("ovmf64.kdump-zlib", CORPUS / "ovmf64.kdump-zlib.xz")):
        if xz.exists():
            dst = work / name
            with lzma.open(xz) as fi, open(dst, "wb") as fo:
                shutil.copyfileobj(fi, fo, MIB)
            out[name] = dst
    if "ovmf64.kdump-zlib" in out:
        out["ovmf64.kdump-plain"] = unflatten(out["ovmf64.kdump-zlib"], work / "ovmf64.kdump-plain")
    out["ovmf64.raw"] = ROOT / "dumps" / "samples" / "ovmf64.raw"
    return out


def parse_all(target: str, boot_params: int | None) -> tuple[dict[str, Any], float]:
    import efitables
    from efitables.memory.source import collect_stats

    t = time.perf_counter()
    with collect_stats() as got:
        with efitables.open(target, boot_params=boot_params) as d:
            d.to_dict()
            d.report()
    secs = time.perf_counter() - t
    (st,) = got
    return st.to_dict(), secs


def bytes_read(work: Path) -> list[dict[str, Any]]:
    from range_server import RangeServer

    truth = json.loads((CORPUS / "ovmf64.truth.json").read_text()) if (CORPUS / "ovmf64.truth.json").exists() else None
    bp_real = truth["boot_params"]["phys"] if truth else None
    files = real_files(work)
    rows = []
    with RangeServer(files) as srv:
        for name, path in files.items():
            bp = 0x13000 if name == "ovmf64.raw" else bp_real
            for hint in (bp, None):
                for where in ("local", "http"):
                    srv.reset()
                    target = str(path) if where == "local" else srv.url(name)
                    st, secs = parse_all(target, hint)
                    if where == "http":
                        assert st["bytes_read"] == srv.bytes_sent, (st, srv.bytes_sent)
                    rows.append({"dump": name, "size": path.stat().st_size, "hint": hint is not None, "where": where,
                                 "bytes_read": st["bytes_read"], "requests": st["requests"], "reads": st["reads"],
                                 "cache_hits": st["cache_hits"], "seconds": round(secs, 3)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--real", type=int, default=12, help="real dumps in the second round (0: none)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--skip-bytes", action="store_true")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        work = Path(tmp)
        if not args.skip_throughput:
            (work / "dumps").mkdir()
            rounds = {"sample": make_corpus(work / "dumps", args.count)}
            if args.real:
                (work / "real").mkdir()
                rounds["real"] = make_real_corpus(work / "real", args.real)
            for label, paths in rounds.items():
                tp = throughput(paths, args.repeat)
                result[f"throughput_{label}"] = tp
                print(f"validate {tp['dumps']} {label} dumps (best of {args.repeat}); LocalCluster start-up "
                      f"{tp['cluster_startup_s']} s (not counted)")
                print(f"  CPU control: 2 processes give x{tp['control_speedup']} of one")
                for k, v in tp["dumps_per_s"].items():
                    ratio = "" if k == "jobs 1" else f"  x{tp['speedup'][k]} of --jobs 1"
                    print(f"  {k:7} {v:7.1f} dumps/s{ratio}   {tp['statuses'].get(k)}")
        if not args.skip_bytes:
            rows = bytes_read(work)
            result["bytes"] = rows
            print("bytes read to parse the whole report (show --json):")
            print(f"  {'dump':20} {'size':>9} {'hint':6} {'where':5} {'read':>10} {'requests':>8} {'reads':>6} "
                  f"{'hits':>5} {'s':>6}")
            for r in rows:
                print(f"  {r['dump']:20} {r['size'] / MIB:7.1f}Mi {'yes' if r['hint'] else 'no':6} {r['where']:5} "
                      f"{r['bytes_read'] / MIB:8.2f}Mi {r['requests']:8} {r['reads']:6} {r['cache_hits']:5} "
                      f"{r['seconds']:6.2f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
