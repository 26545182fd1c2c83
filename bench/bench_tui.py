#!/usr/bin/env python3
"""Benchmark: how soon ``efitables tui`` shows its first frame, and the EFI system table, against a bare Textual app.

Issue 16 target 5: the TUI's first frame within 1.5x a bare Textual app's (Header, Static, Footer) first frame
measured in the same run; with a hint (``--boot-params``, or VMCOREINFO/kallsyms in the dump) the system table
on screen within 2x the first frame.

What is measured, and how
-------------------------
Every figure is "time until the terminal shows X", taken from what the app writes, not from a hook in the
app's own code, so the baseline (an older TUI) and the current one are timed the same way:

* **process** (the default and the figure that matters: users start a process). The parent opens a
  pseudo-terminal (140x45, ``TERM=xterm-256color``), starts ``python -c CODE`` on it with Textual's
  ordinary Linux driver and reads what the child writes. The clock starts just before the child is spawned,
  so interpreter start, every import, opening the dump and Textual's start-up are all included.
  ``first frame`` is the moment the stream (ANSI sequences removed) holds both the header's title
  ``efitables`` and the footer's ``Quit`` key: the first complete screen (a footer composes its keys once
  the screen's bindings are known, a frame or more after the rest of the screen: the marker waits for
  them, in the bare app as in the TUI). ``systab`` is the moment it holds ``EFI system table (``,
  the system table's node label in the tree (the progress line says ``parsing: EFI system table``, without
  the parenthesis), and ``loaded`` the moment the header's sub-title says `` objects, `` (set when the tree
  is complete). The child is then killed (its own process group).
* **inproc** (``--modes inproc``): the same in one warm interpreter with ``App.run_test()`` (headless, 140x45):
  ``App._display`` is wrapped so that each compositor update is rendered to its terminal bytes, exactly as
  the Linux driver would write them, and the same markers are looked for. The clock starts before the
  Dump is opened (or before the app is built, for an app that opens it itself); imports are excluded (a
  warm-up run does them), and so is collecting the previous run's garbage.

Entries (``--entries``; ``bare`` is always run):

* ``path``: ``EfitablesApp(DumpSource(path, options))``: the app opens the dump itself, after its first frame
  (what ``efitables tui`` does once its CLI hands the app a path instead of an opened Dump);
* ``dump``: ``EfitablesApp(Dump.open(path, ...))``: the dump opened first (what ``efitables tui`` does today);
* ``cli``: ``efitables.cli.main(["tui", DUMP, ...])``: the real command as it is;
* ``cli+``: the ``tui`` command's module imported (click, the CLI, its option types), then ``path``: what the
  command costs once it hands the app a :class:`~efitables_tui.app.DumpSource` instead of an opened Dump.

``--baseline REF`` also runs the TUI of git ``REF`` (``git archive REF tui/efitables_tui`` unpacked into
bench/out/, put first on ``PYTHONPATH``); its ``dump`` and ``cli`` entries are run, or those of
``--baseline-entries`` (``path`` too for a ref whose app takes a :class:`DumpSource`: the same entry on both
sides of a comparison).
Runs are interleaved: each round runs every (code, entry, dump, hint) once, in turn, so a change of machine
load hits all of them alike; the report gives medians, and each median's ratio to the bare app's median
first frame of the same run.

Dumps: dumps/samples/ovmf64-virt.elf (no hint in it: a signature scan without ``--boot-params``) and the
real QEMU dump dumps/real/corpus/ovmf64.elf.xz (VMCOREINFO and kallsyms in it), unpacked once into
bench/out/; each with and without ``--boot-params`` (the zero page's address from expected.json / the
corpus truth file). ``--dump PATH[:BOOT_PARAMS]`` adds others.

    python bench/bench_tui.py [--rounds 7] [--baseline HEAD] [--baseline-entries dump,cli] [--modes process,inproc]
                              [--entries path,cli+,cli]
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import gc
import json
import lzma
import os
import pty
import re
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tarfile
import termios
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
SIZE = (140, 45)
TIMEOUT = 60.0

FIRST_FRAME = ("efitables", "Quit")
SYSTAB = "EFI system table ("
LOADED = " objects, "

ANSI = re.compile(r"\x1b\[[0-9;?<>=$]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")

#: What a child runs: ``python -c CHILD KIND DUMP BOOT_PARAMS``.
CHILD = r"""
import sys
kind, path, bp = sys.argv[1], sys.argv[2], sys.argv[3]
opts = {"boot_params": int(bp, 0)} if bp else {}
if kind == "bare":
    from textual.app import App
    from textual.binding import Binding
    from textual.widgets import Footer, Header, Static

    class Bare(App):
        TITLE = "efitables"
        BINDINGS = [Binding("q", "quit", "Quit")]

        def compose(self):
            yield Header()
            yield Static("a bare Textual app")
            yield Footer()

    Bare().run()
elif kind == "path":
    from efitables_tui.app import DumpSource, EfitablesApp

    EfitablesApp(DumpSource(path, options=opts)).run()
elif kind == "dump":
    from efitables.dump import Dump
    from efitables_tui.app import EfitablesApp

    EfitablesApp(Dump.open(path, **opts)).run()
elif kind == "cli+":
    import efitables.cli.tui  # noqa: F401  (the command's own imports: click, the CLI, its option types)
    from efitables_tui.app import DumpSource, EfitablesApp

    EfitablesApp(DumpSource(path, options=opts)).run()
elif kind == "cli":
    from efitables.cli import main

    main(["tui", path] + (["--boot-params", bp] if bp else []))
else:
    raise SystemExit(f"unknown kind {kind}")
"""


@dataclass(frozen=True)
class Case:
    code: str  # "new" or the baseline ref
    entry: str  # bare, path, dump, cli
    dump: str  # a label
    path: str
    boot_params: str  # "" or "0x..."

    @property
    def name(self) -> str:
        if self.entry == "bare":
            return "bare Textual app"
        hint = "--boot-params" if self.boot_params else "no hint"
        return f"{self.code:<8} {self.entry:<4} {self.dump} ({hint})"


# -- the dumps -----------------------------------------------------------------------------


def real_dump() -> Path | None:
    """dumps/real/corpus/ovmf64.elf.xz unpacked into bench/out/ (once)."""
    out = OUT / "ovmf64.elf"
    packed = ROOT / "dumps/real/corpus/ovmf64.elf.xz"
    if out.exists():
        return out
    if not packed.exists():
        return None
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part")
    with lzma.open(packed) as src, open(tmp, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    tmp.rename(out)
    return out


def default_dumps() -> list[tuple[str, Path, int | None]]:
    dumps: list[tuple[str, Path, int | None]] = []
    sample = ROOT / "dumps/samples/ovmf64-virt.elf"
    if sample.exists():
        bp = json.loads((ROOT / "dumps/samples/expected.json").read_text())["ovmf64-virt.elf"]["boot_params"]
        dumps.append(("ovmf64-virt.elf", sample, bp))
    real = real_dump()
    if real is not None:
        truth = json.loads((ROOT / "dumps/real/corpus/ovmf64.truth.json").read_text())
        dumps.append(("real ovmf64.elf", real, truth["boot_params"]["phys"]))
    return dumps


# -- the baseline's code ---------------------------------------------------------------------


def baseline_tree(ref: str) -> Path:
    """``tui/`` of git ``ref``, unpacked under bench/out/ (the working tree is left alone)."""
    sha = subprocess.run(["git", "rev-parse", ref], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    dest = OUT / f"baseline-{sha.strip()[:12]}"
    if not (dest / "efitables_tui" / "app.py").exists():
        dest.mkdir(parents=True, exist_ok=True)
        tar = subprocess.run(
            ["git", "archive", "--format=tar", ref, "tui/efitables_tui"], cwd=ROOT, check=True, capture_output=True
        ).stdout
        tmp = dest / "archive.tar"
        tmp.write_bytes(tar)
        with tarfile.open(tmp) as tf:
            tf.extractall(dest, filter="data")
        tmp.unlink()
        shutil.move(str(dest / "tui" / "efitables_tui"), str(dest / "efitables_tui"))
        shutil.rmtree(dest / "tui")
    return dest


def child_env(code_dir: Path | None) -> dict[str, str]:
    env = dict(os.environ, TERM="xterm-256color", TEXTUAL_ANIMATIONS="none", COLUMNS=str(SIZE[0]))
    env.pop("TEXTUAL", None)
    env.pop("NO_COLOR", None)
    path = [str(code_dir)] if code_dir is not None else []
    path.append(str(ROOT))
    env["PYTHONPATH"] = os.pathsep.join(path + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


# -- a whole process on a pseudo-terminal ----------------------------------------------------------


def run_process(case: Case, code_dir: Path | None) -> dict[str, float | None]:
    """Spawn the case on a pty; seconds from spawn to each marker (None: never seen)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[1], SIZE[0], 0, 0))
    want_systab = case.entry != "bare"
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, case.entry, case.path, case.boot_params],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=child_env(code_dir),
        cwd=ROOT,
        start_new_session=True,
    )
    os.close(slave)
    marks: dict[str, float | None] = {"first": None, "systab": None, "loaded": None}
    raw = b""
    try:
        while time.perf_counter() - t0 < TIMEOUT:
            ready, _, _ = select.select([master], [], [], 0.05)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 1 << 16)
            except OSError:
                break
            now = time.perf_counter() - t0
            raw += data
            text = ANSI.sub("", raw.decode("utf-8", "replace"))
            if marks["first"] is None and all(m in text for m in FIRST_FRAME):
                marks["first"] = now
            if marks["systab"] is None and SYSTAB in text:
                marks["systab"] = now
            if marks["loaded"] is None and LOADED in text:
                marks["loaded"] = now
            if marks["first"] is not None and (not want_systab or (marks["systab"] and marks["loaded"])):
                break
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        os.close(master)
    if marks["first"] is None:
        tail = ANSI.sub("", raw.decode("utf-8", "replace"))[-2000:]
        print(f"  ! {case.name}: no first frame; the child wrote:\n{tail}", file=sys.stderr)
    return marks


# -- in one warm process: App.run_test() -------------------------------------------------------


def inproc_main(cases: list[dict[str, str]]) -> None:
    """Child: time each case with run_test() (after an unmeasured warm-up of each); JSON on stdout."""
    from textual.app import App
    from textual.binding import Binding
    from textual.widgets import Footer, Header, Static

    class Bare(App[None]):
        TITLE = "efitables"
        BINDINGS = [Binding("q", "quit", "Quit")]

        def compose(self):  # type: ignore[no-untyped-def]
            yield Header()
            yield Static("a bare Textual app")
            yield Footer()

    stream: dict[str, object] = {}
    original = App._display

    def display(self: App[object], screen: object, renderable: object) -> None:
        from textual._compositor import CompositorUpdate

        if isinstance(renderable, CompositorUpdate) and not self._batch_count and "marks" in stream:
            text = stream["text"] + ANSI.sub("", renderable.render_segments(self.console))  # type: ignore[operator]
            stream["text"] = text
            marks = stream["marks"]
            now = time.perf_counter() - stream["t0"]  # type: ignore[operator]
            assert isinstance(marks, dict)
            if marks["first"] is None and all(m in text for m in FIRST_FRAME):
                marks["first"] = now
            if marks["systab"] is None and SYSTAB in text:
                marks["systab"] = now
            if marks["loaded"] is None and LOADED in text:
                marks["loaded"] = now
        original(self, screen, renderable)  # type: ignore[arg-type]

    App._display = display  # type: ignore[method-assign]

    def make(case: dict[str, str]) -> App[None]:
        opts = {"boot_params": int(case["boot_params"], 0)} if case["boot_params"] else {}
        if case["entry"] == "bare":
            return Bare()
        if case["entry"] == "path":
            from efitables_tui.app import DumpSource, EfitablesApp

            return EfitablesApp(DumpSource(case["path"], options=opts))  # type: ignore[return-value]
        from efitables.dump import Dump
        from efitables_tui.app import EfitablesApp

        return EfitablesApp(Dump.open(case["path"], **opts))  # type: ignore[return-value,arg-type]

    async def one(case: dict[str, str]) -> dict[str, float | None]:
        gc.collect()  # the previous case's garbage is not this one's to collect
        marks: dict[str, float | None] = {"first": None, "systab": None, "loaded": None}
        stream.update(text="", marks=marks, t0=time.perf_counter())
        app = make(case)
        want = case["entry"] != "bare"
        async with app.run_test(size=SIZE) as pilot:
            end = time.perf_counter() + TIMEOUT
            while time.perf_counter() < end:
                if marks["first"] is not None and (not want or (marks["systab"] and marks["loaded"])):
                    break
                await pilot.pause(0.005)
        stream.pop("marks")
        return marks

    async def run_all() -> list[dict[str, float | None]]:
        for case in cases:  # warm-up: imports, CSS parsing caches, the page cache
            await one(case)
        return [await one(case) for case in cases]

    print(json.dumps(asyncio.run(run_all())))


def run_inproc(cases: list[Case], code_dir: Path | None) -> list[dict[str, float | None]]:
    spec = [{"entry": c.entry, "path": c.path, "boot_params": c.boot_params} for c in cases]
    r = subprocess.run(
        [sys.executable, __file__, "--inproc-child", json.dumps(spec)],
        env=child_env(code_dir),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT * (len(cases) + 1) * 2,
    )
    if r.returncode != 0:
        raise SystemExit(f"in-process child failed:\n{r.stderr[-4000:]}")
    out: list[dict[str, float | None]] = json.loads(r.stdout.strip().splitlines()[-1])
    return out


# -- the report -----------------------------------------------------------------------------


def median(xs: list[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return statistics.median(vals) if vals else None


def ms(x: float | None) -> str:
    return "-" if x is None else f"{x * 1000:7.0f}"


def ratio(x: float | None, base: float | None) -> str:
    return "-" if x is None or not base else f"{x / base:5.2f}x"


def report(mode: str, cases: list[Case], results: dict[Case, list[dict[str, float | None]]]) -> None:
    bare = next(c for c in cases if c.entry == "bare")
    b = median([r["first"] for r in results[bare]])
    n = len(results[bare])
    print(f"\n== {mode}: medians of {n} interleaved rounds (ms; ratios to the bare app's first frame {ms(b)} ms)")
    print(f"{'case':<52} {'first':>7} {'ratio':>6} {'systab':>7} {'ratio':>6} {'/first':>6} {'loaded':>7}")
    for c in cases:
        rs = results[c]
        first = median([r["first"] for r in rs])
        syst = median([r["systab"] for r in rs])
        loaded = median([r["loaded"] for r in rs])
        own = "-" if syst is None or not first else f"{syst / first:5.2f}x"
        print(f"{c.name:<52} {ms(first)} {ratio(first, b):>6} {ms(syst)} {ratio(syst, b):>6} {own:>6} {ms(loaded)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--baseline", metavar="REF", help="also time the TUI of this git ref (e.g. HEAD)")
    ap.add_argument("--baseline-entries", default="dump,cli", help="of the baseline: path,dump,cli+,cli")
    ap.add_argument("--modes", default="process", help="process,inproc")
    ap.add_argument("--entries", default="path,cli+,cli", help="of the current code: path,dump,cli+,cli")
    ap.add_argument("--dump", action="append", default=[], metavar="PATH[:BOOT_PARAMS]", help="another dump")
    ap.add_argument("--no-default-dumps", action="store_true")
    ap.add_argument("--json", metavar="FILE", help="write every measurement here")
    ap.add_argument("--inproc-child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.inproc_child:
        inproc_main(json.loads(a.inproc_child))
        return

    dumps = [] if a.no_default_dumps else default_dumps()
    for spec in a.dump:
        path, _, bp = spec.partition(":")
        dumps.append((Path(path).name, Path(path), int(bp, 0) if bp else None))
    if not dumps:
        raise SystemExit("no dumps (dumps/samples not built and no --dump)")
    codes: list[tuple[str, Path | None, list[str]]] = [("new", None, [e for e in a.entries.split(",") if e])]
    if a.baseline:
        codes.append((a.baseline, baseline_tree(a.baseline), [e for e in a.baseline_entries.split(",") if e]))
    for _label, path, _bp in dumps:  # measure parsing, not the disk
        with open(path, "rb") as fh:
            while fh.read(1 << 24):
                pass

    cases = [Case("-", "bare", "-", "", "")]
    for code, _dir, entries in codes:
        for entry in entries:
            for label, path, bp in dumps:
                for hint in ("", f"{bp:#x}" if bp is not None else None):
                    if hint is not None:
                        cases.append(Case(code, entry, label, str(path), hint))
    code_dir = {code: d for code, d, _ in codes}
    all_results: dict[str, dict[Case, list[dict[str, float | None]]]] = {}
    for mode in a.modes.split(","):
        results: dict[Case, list[dict[str, float | None]]] = {c: [] for c in cases}
        for rnd in range(a.rounds):
            t = time.perf_counter()
            if mode == "process":
                for c in cases:
                    results[c].append(run_process(c, code_dir.get(c.code)))
            elif mode == "inproc":
                for code, d, _entries in codes:
                    mine = [cases[0]] + [c for c in cases if c.code == code and c.entry in ("path", "dump")]
                    for c, r in zip(mine, run_inproc(mine, d), strict=True):
                        if c.entry == "bare" and code != codes[0][0]:
                            continue  # one bare figure per round (the first child's)
                        results[c].append(r)
            else:
                raise SystemExit(f"unknown mode {mode}")
            print(f"{mode} round {rnd + 1}/{a.rounds}: {time.perf_counter() - t:.1f} s", file=sys.stderr)
        shown = [c for c in cases if results[c]]
        report(mode, shown, results)
        all_results[mode] = results
    if a.json:
        Path(a.json).write_text(
            json.dumps({m: {c.name: rs for c, rs in res.items() if rs} for m, res in all_results.items()}, indent=1)
        )


if __name__ == "__main__":
    main()
