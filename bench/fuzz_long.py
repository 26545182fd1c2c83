#!/usr/bin/env python3
"""The long fuzz run (issue 19): every entry point of fuzz/harness.py for N executions or T seconds.

Usage::

    .venv/bin/python bench/fuzz_long.py [-t 300] [-n EXECUTIONS] [-j 2] [--entries show,validate,...]
        [--engine atheris|random] [--nice 10] [--seed 1] [--no-replay] [--out bench/out/fuzz]

Each entry point runs in its own process (``python -m fuzz.harness ENTRY``), at most ``-j`` at a
time, niced (the machine is shared); with atheris (the default) libFuzzer's log goes to
``OUT/ENTRY.log`` and its corpus to ``OUT/corpus/ENTRY/`` (kept between runs, so a second run
starts where the first stopped). Reproducers of failures, and the slowest inputs, are saved under
fuzz/crashes/ENTRY/ (git-ignored).

Printed per entry point: executions, executions per second (wall) and CPU milliseconds per
execution, inputs that opened, crashes and hangs (each signature with its count, message and a
reproducer), the five slowest inputs (CPU seconds), the peak resident set of one execution, the
largest JSON document, secret echoes (key bytes printed from memory a mutation copied them to:
not failures), libFuzzer's last coverage figures. Then, unless ``--no-replay``, every reproducer
and slow input is run again in a fresh, uninstrumented process: its CPU time and peak RSS without
atheris, and whether it still fails. Everything is also written to ``OUT/summary.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fuzz.harness import ENTRIES  # noqa: E402

OUT = ROOT / "bench" / "out" / "fuzz"
_COV = re.compile(r"cov: (\d+) ft: (\d+) corp: (\d+)/")


def launch(entry: str, a: argparse.Namespace) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "fuzz.harness", entry, "--engine", a.engine, "--stats", str(a.out / f"{entry}.json")]
    if a.executions:
        cmd += ["--executions", str(a.executions)]
    if a.seconds:
        cmd += ["--seconds", str(a.seconds)]
    if a.engine == "atheris":
        corpus = a.out / "corpus" / entry
        corpus.mkdir(parents=True, exist_ok=True)
        cmd += ["--corpus", str(corpus), "--", f"-seed={a.seed}"]
    else:
        cmd += ["--seed", str(a.seed)]
    log = open(a.out / f"{entry}.log", "wb")  # noqa: SIM115  (closed when the process ends)
    stdout = log if a.engine == "atheris" else open(a.out / f"{entry}.stdout", "wb")  # noqa: SIM115
    return subprocess.Popen(["nice", "-n", str(a.nice), *cmd], cwd=ROOT, stdout=stdout, stderr=log)


def coverage_of(log: Path) -> str:
    if not log.exists():
        return ""
    last = None
    for m in _COV.finditer(log.read_text(errors="replace")):
        last = m
    return f"cov {last.group(1)}, features {last.group(2)}, corpus {last.group(3)}" if last else ""


def replay(entry: str, files: list[str]) -> list[dict]:
    if not files:
        return []
    r = subprocess.run([sys.executable, "-m", "fuzz.harness", "--replay", *files, "--entry", entry], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        return [{"file": f, "error": r.stderr[-500:]} for f in files]
    return json.loads(r.stdout)


def mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def report(st: dict, replays: dict[str, dict]) -> list[str]:
    ex = st["executions"] or 1
    out = [
        f"== {st['entry']} ({st['engine']}): {st['executions']} executions in {st['seconds']:.0f} s, "
        f"{st['exec_per_second']} exec/s, {1000 * st['cpu_seconds'] / ex:.1f} ms CPU/exec; "
        f"{st['opened']} opened ({100 * st['opened'] / ex:.0f}%)",
        f"   crashes {st['crashes']}, hangs {st['hangs']}; peak RSS {mib(st['peak_rss'])}; largest JSON "
        f"{st['largest_json']} bytes; secret echoes {st['echoes']}; {st.get('coverage') or 'no coverage figures'}",
    ]
    for f in st["failures"]:
        out.append(f"   {f['count']:>6}x {f['kind']}: {f['signature']}")
        out.append(f"           {f['message'][:220]}")
        for path in f["files"][:1]:
            rp = replays.get(path)
            now = ""
            if rp and "cpu_seconds" in rp:
                fail = rp["failure"]
                now = (f" [replayed uninstrumented: {rp['cpu_seconds']:.3f} s CPU, {mib(rp['peak_rss'])}, "
                       f"{'fails: ' + fail['kind'] if fail else 'passes now'}]")
            out.append(f"           {os.path.relpath(path, ROOT)}{now}")
    slow = []
    for s in st["slowest"]:
        rp = replays.get(s["file"])
        extra = f" (uninstrumented {rp['cpu_seconds']:.3f})" if rp and "cpu_seconds" in rp else ""
        slow.append(f"{s['cpu_seconds']:.3f}{extra}")
    out.append(f"   slowest (CPU s): {', '.join(slow)}")
    for what in ("rss", "json"):
        path = st.get(f"peak_{what}_file")
        if path:
            rp = replays.get(path)
            extra = ""
            if rp and "cpu_seconds" in rp:
                extra = f" (uninstrumented: peak RSS {mib(rp['peak_rss'])}, JSON {rp['json_bytes']} bytes)"
            out.append(f"   peak {what} input: {os.path.relpath(path, ROOT)}{extra}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-t", "--seconds", type=float, default=300.0, help="seconds per entry point (default 300)")
    ap.add_argument("-n", "--executions", type=int, help="executions per entry point")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--entries", default=",".join(ENTRIES), help="comma-separated (default: all)")
    ap.add_argument("--engine", choices=("atheris", "random"), default="atheris")
    ap.add_argument("--nice", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-replay", action="store_true")
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    entries = [e for e in a.entries.split(",") if e]
    unknown = [e for e in entries if e not in ENTRIES]
    if unknown:
        ap.error(f"unknown entry points: {unknown}; known: {', '.join(ENTRIES)}")
    t0 = time.monotonic()
    pending = list(entries)
    running: dict[str, subprocess.Popen[bytes]] = {}
    done: dict[str, int] = {}
    while pending or running:
        while pending and len(running) < a.jobs:
            e = pending.pop(0)
            running[e] = launch(e, a)
            print(f"[{time.monotonic() - t0:7.0f} s] started {e}", flush=True)
        time.sleep(2)
        for e, p in list(running.items()):
            if p.poll() is not None:
                done[e] = p.returncode
                del running[e]
                print(f"[{time.monotonic() - t0:7.0f} s] {e} finished (exit {p.returncode})", flush=True)
    stats = {}
    for e in entries:
        f = a.out / f"{e}.json"
        if not f.exists():
            print(f"{e}: no statistics (exit {done.get(e)}); see {a.out / (e + '.log')}")
            continue
        st = json.loads(f.read_text())
        st["coverage"] = coverage_of(a.out / f"{e}.log")
        stats[e] = st
    replays: dict[str, dict] = {}
    if not a.no_replay:
        for e, st in stats.items():
            files = [p for f in st["failures"] for p in f["files"][:1]]
            files += [s["file"] for s in st["slowest"] if s["file"]]
            files += [st[k] for k in ("peak_rss_file", "peak_json_file") if st.get(k)]
            for rp in replay(e, files):
                replays[rp["file"]] = rp
    lines = []
    for e in entries:
        if e in stats:
            lines += report(stats[e], replays)
    total = sum(st["executions"] for st in stats.values())
    crashes = sum(st["crashes"] for st in stats.values())
    hangs = sum(st["hangs"] for st in stats.values())
    lines.append(f"== all: {total} executions, {crashes} crashes, {hangs} hangs, "
                 f"{len({f['signature'] for st in stats.values() for f in st['failures']})} distinct signatures, "
                 f"{time.monotonic() - t0:.0f} s wall")
    print("\n".join(lines))
    (a.out / "summary.json").write_text(json.dumps({"stats": stats, "replays": replays}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
