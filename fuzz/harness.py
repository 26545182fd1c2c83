"""The fuzz harnesses: one per entry point, each run by atheris (coverage-guided) or by a plain loop.

Entry points (:data:`ENTRIES`):

=================  ===========================================================================
``open-<c>``       ``Dump.open`` of the input forced as container ``c`` (raw, elf, kdump,
                   kdump-flat, lime, avml, vmware), then the report (every area parsed, every
                   check run) and its findings as JSON
``show``           ``Dump.to_dict(raw=True)`` as JSON, and ``efitables show --full`` rendered by
                   the click command in-process
``validate``       :func:`efitables.validate.validate_path`, the verdict as JSON and SARIF
``coverage``       ``Dump.coverage()`` with a model picked by the input, with ``pgd="scan"`` and
                   ``pgd="auto"``, each as JSON
``diff``           the input against the pristine seed of its container: snapshots, diff, JSON,
                   folds
=================  ===========================================================================

Every execution writes the input to a file in a tmpfs directory, runs under the watchdogs of
:mod:`fuzz.oracle` (2 s of CPU time through ``SIGPROF``, 20 s of wall time through ``SIGALRM``),
and is judged there: an escaping exception, a hang, resident-set growth, oversized JSON, a secret
in an output. A failure's input is saved under ``fuzz/crashes/
<entry>/`` (git-ignored) with a ``.txt`` holding the signature, the message and the traceback; at
most :data:`SAVE_PER_SIGNATURE` inputs are kept per signature, every one is counted.

Run one entry point::

    python -m fuzz.harness show                         # atheris, until stopped
    python -m fuzz.harness show --executions 100000 --stats out.json
    python -m fuzz.harness show --engine random --seconds 60
    python -m fuzz.harness --replay fuzz/crashes/show/exception-*.raw --entry show

``--engine atheris`` (the default) instruments every efitables module and lets libFuzzer pick
the inputs, with :mod:`fuzz.mutators` as its custom mutator (and libFuzzer's own byte mutations
through ``atheris.Mutate``); extra libFuzzer options follow ``--``. ``--engine random`` is a
deterministic loop of the same mutator without coverage feedback (the CI smoke run,
tests/test_fuzz_smoke.py, uses it in-process through :func:`run`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fuzz import containers as C  # noqa: E402
from fuzz import machine as M  # noqa: E402
from fuzz.mutators import mutate  # noqa: E402
from fuzz.oracle import (  # noqa: E402
    HANG_SECONDS,
    JSON_LIMIT,
    LEAK_LIMIT,
    RSS_LIMIT,
    Failure,
    Outcome,
    SecretSearch,
    current_rss,
    exception_failure,
    peak_rss,
    reset_peak_rss,
    watchdog,
)

CRASH_DIR = ROOT / "fuzz" / "crashes"
#: Inputs saved per failure signature (all are counted).
SAVE_PER_SIGNATURE = 3
#: Largest input the mutator makes (the seeds are 5-64 KiB).
MAX_SIZE = 256 * 1024
#: Slowest inputs kept per entry point.
SLOWEST = 5
#: Mutants kept by the random engine to mutate further.
RANDOM_CORPUS = 256
#: Bytes of a mutant's memory read to tell a leak from an echo of ordinary memory, and the unit.
MAX_CLASSIFY = 4 << 20
CLASSIFY_STEP = 4096


# -- the entry points ----------------------------------------------------------------------------------
#: Resident set of a process that has imported efitables and opened one dump (uninstrumented ~70 MiB,
#: under atheris ~100 MiB): the part of a fuzzing process's warm-up charged against RSS_LIMIT.
OWN_RSS = 100 << 20


@dataclass(frozen=True)
class Entry:
    name: str
    containers: tuple[str, ...]  # its seeds; the first names the forced format of an open-* entry
    run: Callable[[Harness, str, C.Container, Outcome], list[tuple[str, str]]]
    forced: bool = False  # open with the container's format instead of sniffing


def _open(path: str, c: C.Container | None, out: Outcome) -> Any:
    """``Dump.open``; None (not a failure) when the input is not an openable dump."""
    from efitables.dump import Dump
    from efitables.errors import DumpOpenError

    try:
        return Dump.open(path, c.format if c is not None else None)
    except DumpOpenError:
        out.opened = False
        return None


def _json(out: Outcome, obj: Any) -> str:
    doc = json.dumps(obj)
    out.json_bytes = max(out.json_bytes, len(doc))
    return doc


def run_open(h: Harness, path: str, c: C.Container, out: Outcome) -> list[tuple[str, str]]:
    d = _open(path, c, out)
    if d is None:
        return []
    with d:
        findings = d.report().findings
        return [("findings", _json(out, [f.to_dict() for f in findings]))]


def run_show(h: Harness, path: str, c: C.Container, out: Outcome) -> list[tuple[str, str]]:
    d = _open(path, None, out)
    if d is None:
        return []
    with d:
        outputs = [("to_dict(raw=True)", _json(out, d.to_dict(raw=True)))]
    # the faces: JSON, and the text (every eighth input with --full: it costs ~10x the default)
    code, doc = h.cli("show", "--json", path)
    out.json_bytes = max(out.json_bytes, len(doc))
    outputs.append(("show --json", doc))
    full = ("--full",) if zlib.crc32(h.current) % 8 == 0 else ()
    code2, text = h.cli("show", *full, path)
    outputs.append((f"show {' '.join(full)}".strip(), text))
    for cmd, rc, o in (("show --json", code, doc), ("show", code2, text)):
        if rc not in (0, 1):
            raise CliFailure(f"{cmd} exited {rc} on a dump the API opened: {o.strip().splitlines()[-1:]}")
    return outputs


def run_validate(h: Harness, path: str, c: C.Container, out: Outcome) -> list[tuple[str, str]]:
    from efitables.sarif import sarif_log
    from efitables.validate import validate_path

    v = validate_path(path)  # a parser exception comes out as InternalError
    if v.error is not None and v.stage == "open":
        out.opened = False
    elif v.error is not None:  # an EfitablesError escaped a parser: raise it again, with its traceback
        d = _open(path, None, out)
        if d is not None:
            with d:
                d.report()
        raise ParseError(f"stage {v.stage}: {v.error}")
    return [("verdict", _json(out, v.to_dict())), ("sarif", _json(out, sarif_log([v]))), ("line", v.summary_line())]


def run_coverage(h: Harness, path: str, c: C.Container, out: Outcome) -> list[tuple[str, str]]:
    from efitables.coverage import PRESETS

    d = _open(path, None, out)
    if d is None:
        return []
    models = [None, *sorted(PRESETS)]
    model = models[zlib.crc32(h.current) % len(models)]
    outputs = []
    with d:
        for pgd in (None, "scan", "auto"):
            rep = d.coverage(model, pgd=pgd)
            outputs.append((f"coverage {model} pgd={pgd}", _json(out, rep.to_dict())))
    return outputs


def run_diff(h: Harness, path: str, c: C.Container, out: Outcome) -> list[tuple[str, str]]:
    from efitables.cli.diff import fold_line
    from efitables.diff import Fold, diff_snapshots, fold, fold_findings, snapshot

    d = _open(path, None, out)
    if d is None:
        return []
    with d:
        sb = snapshot(d)
    dd = diff_snapshots(h.seed_snapshot(c), sb)
    lines = [fold_line(x) if isinstance(x, Fold) else str(x) for x in fold(dd.changes)]
    lines += [str(x) for x in fold_findings(dd.findings_new) + fold_findings(dd.findings_gone)]
    return [("diff", _json(out, dd.to_dict())), ("folds", "\n".join(lines))]


class CliFailure(Exception):
    """The command line failed where the API did not."""


class ParseError(Exception):
    """validate turned an EfitablesError raised while parsing an opened dump into an error verdict."""


ALL = tuple(C.CONTAINERS)
ENTRIES: dict[str, Entry] = {
    e.name: e
    for e in (
        Entry("open-raw", ("raw",), run_open, forced=True),
        Entry("open-elf", ("elf64", "elf32"), run_open, forced=True),
        Entry("open-kdump", ("kdump-zlib", "kdump-lzo", "kdump-snappy", "kdump-zstd"), run_open, forced=True),
        Entry("open-kdump-flat", ("kdump-flat",), run_open, forced=True),
        Entry("open-lime", ("lime",), run_open, forced=True),
        Entry("open-avml", ("avml",), run_open, forced=True),
        Entry("open-vmware", ("vmware",), run_open, forced=True),
        Entry("show", ALL, run_show),
        Entry("validate", ALL, run_validate),
        Entry("coverage", ALL, run_coverage),
        Entry("diff", ALL, run_diff),
    )
}


# -- statistics ------------------------------------------------------------------------------------------
@dataclass
class Signature:
    kind: str
    signature: str
    count: int = 0
    message: str = ""
    files: list[str] = field(default_factory=list)


@dataclass
class Stats:
    entry: str
    engine: str = "random"
    executions: int = 0
    seconds: float = 0.0  # wall time of the loop
    exec_seconds: float = 0.0  # wall time inside executions
    cpu_seconds: float = 0.0  # CPU time inside executions
    opened: int = 0
    failures: dict[str, Signature] = field(default_factory=dict)
    slowest: list[tuple[float, str]] = field(default_factory=list)  # (CPU seconds, saved file)
    peak_rss: int = 0
    largest_json: int = 0
    peak_rss_added: int = 0  # most one execution added to the resident set it started with
    base_rss: int = 0  # the process's resident set after the warm-up
    peak_rss_file: str = ""  # the input that reached peak_rss (saved with the reproducers)
    peak_json_file: str = ""
    echoes: int = 0
    operations: dict[str, int] = field(default_factory=dict)
    coverage: str = ""

    @property
    def crashes(self) -> int:
        return sum(s.count for s in self.failures.values() if s.kind != "hang")

    @property
    def hangs(self) -> int:
        return sum(s.count for s in self.failures.values() if s.kind == "hang")

    def to_dict(self) -> dict[str, Any]:
        return {
            "entry": self.entry, "engine": self.engine, "executions": self.executions,
            "seconds": round(self.seconds, 3), "exec_seconds": round(self.exec_seconds, 3),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "exec_per_second": round(self.executions / self.seconds, 2) if self.seconds else None,
            "opened": self.opened, "crashes": self.crashes, "hangs": self.hangs,
            "failures": [vars(s) for s in sorted(self.failures.values(), key=lambda s: -s.count)],
            "slowest": [{"cpu_seconds": round(t, 4), "file": f} for t, f in self.slowest],
            "peak_rss": self.peak_rss, "peak_rss_added": self.peak_rss_added, "base_rss": self.base_rss,
            "largest_json": self.largest_json, "echoes": self.echoes,
            "peak_rss_file": self.peak_rss_file, "peak_json_file": self.peak_json_file,
            "operations": self.operations, "coverage": self.coverage,
        }


# -- the harness -----------------------------------------------------------------------------------------
class Harness:
    """Executes inputs for one entry point and keeps the statistics."""

    def __init__(self, entry: str, *, crash_dir: Path | None = CRASH_DIR, engine: str = "random") -> None:
        self.entry = ENTRIES[entry]
        self.crash_dir = crash_dir / entry if crash_dir is not None else None
        base = "/dev/shm" if os.path.isdir("/dev/shm") else None
        self.work = Path(tempfile.mkdtemp(prefix=f"efitables-fuzz-{entry}-", dir=base))
        self.search = SecretSearch(M.SECRETS_BYTES)
        self.stats = Stats(entry, engine)
        self.executions = 0
        self._snapshots: dict[str, Any] = {}
        self._runner: Any = None
        self._slow: list[tuple[float, bytes, str]] = []
        self.current = b""  # the input being executed
        self._peaks: dict[str, tuple[bytes, str]] = {}  # "rss"/"json" -> the input that reached the peak
        self.base_rss = 0  # resident set after the warm-up
        self._leak_reported = False

    # the seeds and helpers the entry points use
    def seeds(self) -> list[bytes]:
        return [C.CONTAINERS[n].seed() for n in self.entry.containers]

    def warm_up(self) -> None:
        """One execution of the first seed, not counted: the lazy imports of efitables happen here."""
        self.execute(self.seeds()[0], "warm-up")
        self.base_rss = current_rss()
        self.stats = Stats(self.entry.name, self.stats.engine, base_rss=self.base_rss)
        self._slow = []
        self._peaks = {}
        self.executions = 0

    def container_of(self, data: bytes) -> C.Container:
        if self.entry.forced:
            first = C.CONTAINERS[self.entry.containers[0]]
            if len(self.entry.containers) == 1:
                return first
            sniffed = C.sniff(data)
            return sniffed if sniffed.name in self.entry.containers else first
        return C.sniff(data)

    def cli(self, *args: str) -> tuple[int, str]:
        """Run ``efitables ARGS`` in-process: (exit code, standard output)."""
        from click.testing import CliRunner

        from efitables.cli import cli

        if self._runner is None:
            self._runner = CliRunner(env={"COLUMNS": "160"})
        r = self._runner.invoke(cli, list(args), catch_exceptions=False)
        return r.exit_code, r.stdout

    def seed_snapshot(self, c: C.Container) -> Any:
        if c.name not in self._snapshots:
            from efitables.diff import snapshot
            from efitables.dump import Dump

            d = self.work / f"seed-{c.name}"
            d.mkdir(exist_ok=True)
            p = d / c.filename
            p.write_bytes(c.seed())
            with Dump.open(str(p)) as dump:
                self._snapshots[c.name] = snapshot(dump)
        return self._snapshots[c.name]

    def close(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)

    # one execution
    def execute(self, data: bytes, op: str = "seed") -> Outcome:
        self.executions += 1
        self.current = data
        c = self.container_of(data)
        path = str(self.work / c.filename)
        with open(path, "wb") as fh:
            fh.write(data)
        out = Outcome()
        outputs: list[tuple[str, str]] = []
        before = current_rss()
        reset_peak_rss()
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            with watchdog():
                outputs = self.entry.run(self, path, c, out)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:  # noqa: BLE001  (every escape is a finding of the fuzzer)
            out.failure = exception_failure(e, self.entry.name)
            if isinstance(e, CliFailure | ParseError):
                out.failure.kind = "cli" if isinstance(e, CliFailure) else "exception"
                out.failure.signature = f"{type(e).__name__}: {_generic(str(e))}"
        out.seconds = time.perf_counter() - t0
        out.cpu = time.process_time() - c0
        out.rss = peak_rss()
        out.rss_added = max(0, out.rss - before)
        if out.failure is None:
            out.failure = self._judge(out, outputs, path, c)
        after = current_rss()
        if out.failure is None and not self._leak_reported and self.base_rss and after - self.base_rss > LEAK_LIMIT:
            self._leak_reported = True
            out.failure = Failure("leak", f"{self.entry.name} process keeps memory",
                                  f"resident set {after >> 20} MiB after {self.executions} executions, "
                                  f"{self.base_rss >> 20} MiB after the warm-up")
        self._count(data, op, out, c)
        return out

    def _judge(self, out: Outcome, outputs: list[tuple[str, str]], path: str, c: C.Container) -> Failure | None:
        if out.cpu > HANG_SECONDS:
            return Failure("hang", "hang (finished late)", f"{out.cpu:.2f} s of CPU time, {out.seconds:.2f} s wall")
        # What one execution may add: RSS_LIMIT less what a process needs to open a dump (its warm-up), but
        # never less than RSS_LIMIT - OWN_RSS when the process carries more than efitables (a pytest session
        # that ran other tests first: the smoke run in CI starts at 300+ MiB).
        if out.rss_added > RSS_LIMIT - min(self.base_rss, OWN_RSS):
            why = (f"peak RSS {out.rss >> 20} MiB, {out.rss_added >> 20} MiB more than before the execution "
                   f"(the process had {self.base_rss >> 20} MiB after its warm-up)")
            return Failure("rss", "peak RSS", why)
        if out.json_bytes > JSON_LIMIT:
            return Failure("json", "JSON over 1 MiB", f"{out.json_bytes} bytes of JSON")
        for label, text in outputs:
            hit = self.search.in_text(text)
            if hit is None:
                continue
            if self._is_echo(hit, path, c):
                out.echoes += 1
                out.notes.append(f"echo: {hit} in the {label} output")
                return None
            return Failure("secret", f"{hit.split('[')[0]} in {label}", f"{hit} in the {label} output")
        return None

    def _is_echo(self, hit: str, path: str, c: C.Container) -> bool:
        """Whether the printed secret bytes came from where a mutation copied them (not a leak).

        The window is looked for in the mutant's physical memory (page by page) and in the file. Found
        only outside the secret ranges efitables knows (or only copied in the file, a container header
        quoting them), it is an echo; found only inside them, a leak. Found in both, the copies are
        changed in the file (raw, ELF, LiME) and the entry point runs again: if the window is still
        printed, it came from the secret (a leak); if not, from a copy (an echo). A compressed container
        cannot be changed in place: there a copy in memory outside the ranges makes an echo."""
        from efitables.dump import Dump

        m = re.match(r"([\w-]+)\[(\d+):(\d+)\]", hit)
        if m is None or m.group(1) not in M.SECRETS_BYTES:
            return False
        window = M.SECRETS_BYTES[m.group(1)][int(m.group(2)) : int(m.group(3))]
        copied = self.current.count(window) > c.seed().count(window)
        inside = outside = False
        try:
            with Dump.open(path, c.format if self.entry.forced else None) as d:
                spans = d.secret_spans()
                mem = d.container
                budget = MAX_CLASSIFY // CLASSIFY_STEP
                for r in mem.ranges()[:4096]:
                    # page by page, each read alone (one unreadable page hides no other), with the tail
                    # of the page before it so that a window across two pages is found too
                    tail = b""
                    for start in range(r.start, r.end, CLASSIFY_STEP):
                        budget -= 1
                        if budget < 0:
                            break
                        try:
                            page = mem.read(start, min(CLASSIFY_STEP, r.end - start))
                        except Exception:  # noqa: BLE001
                            tail = b""
                            continue
                        buf, base = tail + page, start - len(tail)
                        tail = page[-(len(window) - 1) :]
                        at = buf.find(window)
                        while at >= 0:
                            if any(a <= base + at < b for a, b in spans):
                                inside = True
                            else:
                                outside = True
                            at = buf.find(window, at + 1)
        except Exception:  # noqa: BLE001  (the classification must not hide the leak)
            return False
        if not inside:
            return outside or copied
        if not (outside or copied):
            return False
        if c.segments is None:
            # a compressed container is rebuilt to change bytes, which undoes its container mutations
            # (two page descriptors naming one page, say): the copy outside the ranges decides
            return outside
        return not self._printed_from_secret(window, spans, path, c)

    def _printed_from_secret(self, window: bytes, spans: list[tuple[int, int]], path: str, c: C.Container) -> bool:
        """Change every copy of ``window`` in the input file (each occurrence that does not hold a secret
        range's bytes) and run the entry point again: is the window still printed? Changing the copies,
        not the secret, leaves the structures around the secret (and so the findings listed) alone."""
        assert c.segments is not None
        data = bytearray(self.current)
        secret_files = [(off + max(a, s) - s, off + min(b, e) - s)
                        for s, e, off in c.segments(bytes(data)) for a, b in spans if a < e and s < b]
        n = len(window)
        at = data.find(window)
        copies = []
        while at >= 0:
            if not any(fa <= at and at + n <= fb for fa, fb in secret_files):
                copies.append(at)
            at = data.find(window, at + 1)
        if not copies:
            return True
        for at in copies:
            data[at : at + n] = bytes(x ^ 0x5A for x in data[at : at + n])
        with open(path, "wb") as fh:
            fh.write(data)
        out = Outcome()
        try:
            with watchdog():
                outputs = self.entry.run(self, path, c, out)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # noqa: BLE001  (it failed another way: keep the first verdict, a leak)
            return True
        finally:
            with open(path, "wb") as fh:
                fh.write(self.current)
        only = SecretSearch({"window": window})
        return any(only.in_text(text) for _label, text in outputs)

    def _count(self, data: bytes, op: str, out: Outcome, c: C.Container) -> None:
        st = self.stats
        st.executions += 1
        st.exec_seconds += out.seconds
        st.opened += out.opened
        st.echoes += out.echoes
        st.peak_rss_added = max(st.peak_rss_added, out.rss_added)
        if out.rss > st.peak_rss:
            st.peak_rss = out.rss
            self._peaks["rss"] = (data, c.filename)
        if out.json_bytes > st.largest_json:
            st.largest_json = out.json_bytes
            self._peaks["json"] = (data, c.filename)
        st.operations[op] = st.operations.get(op, 0) + 1
        st.cpu_seconds += out.cpu
        if len(self._slow) < SLOWEST or out.cpu > self._slow[-1][0]:
            self._slow.append((out.cpu, data, c.filename))
            self._slow.sort(key=lambda x: -x[0])
            del self._slow[SLOWEST:]
        if out.echoes and self.crash_dir is not None and st.echoes <= SAVE_PER_SIGNATURE:
            self.save(data, c, Failure("echo", "echo", out.notes[-1]), "echo")  # examples to look at
        f = out.failure
        if f is None:
            return
        key = f"{f.kind}: {f.signature}"
        sig = st.failures.get(key)
        if sig is None:
            sig = st.failures[key] = Signature(f.kind, f.signature, message=f.message)
        sig.count += 1
        if len(sig.files) < SAVE_PER_SIGNATURE and self.crash_dir is not None:
            sig.files.append(self.save(data, c, f, key))

    def save(self, data: bytes, c: C.Container, f: Failure, key: str) -> str:
        assert self.crash_dir is not None
        self.crash_dir.mkdir(parents=True, exist_ok=True)
        sig = hashlib.sha1(key.encode()).hexdigest()[:8]
        name = f"{f.kind}-{sig}-{hashlib.sha1(data).hexdigest()[:12]}{Path(c.filename).suffix}"
        p = self.crash_dir / name
        p.write_bytes(data)
        p.with_name(p.name + ".txt").write_text(
            f"entry: {self.entry.name}\ncontainer: {c.name}\nkind: {f.kind}\nsignature: {f.signature}\n"
            f"message: {f.message}\n\n{f.trace}")
        return str(p)

    def finish(self, seconds: float) -> Stats:
        self.stats.seconds = seconds
        slow = []
        for i, (t, data, filename) in enumerate(self._slow):
            where = ""
            if self.crash_dir is not None:
                d = self.crash_dir / "slowest"
                d.mkdir(parents=True, exist_ok=True)
                p = d / f"{i}-{hashlib.sha1(data).hexdigest()[:12]}{Path(filename).suffix}"
                p.write_bytes(data)
                where = str(p)
            slow.append((t, where))
        self.stats.slowest = slow
        if self.crash_dir is not None:
            for what, (data, filename) in self._peaks.items():
                p = self.crash_dir / f"peak-{what}{Path(filename).suffix}"
                p.write_bytes(data)
                setattr(self.stats, f"peak_{what}_file", str(p))
        return self.stats


def _generic(text: str) -> str:
    """A message with its numbers and paths blanked, to group one mechanism's failures."""
    text = re.sub(r"/\S+", "PATH", text)
    return re.sub(r"0x[0-9a-f]+|\d+", "N", text)[:160]


# -- the engines -----------------------------------------------------------------------------------------
def run(
    entry: str,
    *,
    executions: int | None = None,
    seconds: float | None = None,
    seed: int = 0,
    crash_dir: Path | None = CRASH_DIR,
    progress: Callable[[Stats], None] | None = None,
) -> Stats:
    """The deterministic engine: the seeds, then mutants of the seeds and of kept mutants."""
    h = Harness(entry, crash_dir=crash_dir, engine="random")
    rnd = random.Random(seed)
    corpus = h.seeds()
    h.warm_up()
    t0 = time.perf_counter()
    try:
        for s in list(corpus):
            h.execute(s)
        while (executions is None or h.executions < executions) and (
            seconds is None or time.perf_counter() - t0 < seconds
        ):
            parent = rnd.choice(corpus)
            c = h.container_of(parent)
            op, child = mutate(parent, MAX_SIZE, rnd, container=c)
            if rnd.random() < 0.3:  # stack a second mutation
                op2, child = mutate(child, MAX_SIZE, rnd, container=h.container_of(child))
                op = f"{op}+{op2}"
            out = h.execute(child, op)
            if out.opened and out.failure is None and rnd.random() < 0.2:
                if len(corpus) < RANDOM_CORPUS:
                    corpus.append(child)
                else:
                    corpus[rnd.randrange(len(h.seeds()), RANDOM_CORPUS)] = child
            if progress is not None and h.executions % 100 == 0:
                progress(h.stats)
        return h.finish(time.perf_counter() - t0)
    finally:
        h.close()


def _import_all() -> None:
    """Import every efitables module (so atheris instruments them all, lazy ones included)."""
    import importlib
    import pkgutil

    import efitables

    for mod in pkgutil.walk_packages(efitables.__path__, "efitables."):
        if mod.name == "efitables.__main__":  # runs the command line when imported
            continue
        try:
            importlib.import_module(mod.name)
        except ImportError:  # an optional dependency: that module is not fuzzed
            continue


def _instrument(atheris: Any, prefix: str = "efitables") -> tuple[int, list[str]]:
    """Instrument every efitables function already imported, one by one: atheris 2.3.0 cannot rewrite
    some Python 3.11 bytecode (an AssertionError in its ``Instrumentor``), and ``instrument_imports``
    would then fail the whole import; here such a function is left as it is and named."""
    import gc
    import types

    done, failed = 0, []
    for obj in gc.get_objects():
        if not isinstance(obj, types.FunctionType) or not (obj.__module__ or "").startswith(prefix):
            continue
        try:
            atheris.instrument_func(obj)
            done += 1
        except Exception:  # noqa: BLE001  (atheris's own limitation; the function runs uninstrumented)
            failed.append(f"{obj.__module__}.{obj.__qualname__}")
    return done, failed


def run_atheris(entry: str, *, executions: int | None, seconds: float | None, stats_file: Path | None,
                crash_dir: Path | None, libfuzzer_args: list[str], corpus_dir: Path | None = None,
                instrument: str = "efitables") -> None:
    """Coverage-guided: libFuzzer drives, :func:`fuzz.mutators.mutate` is its custom mutator. Never returns."""
    import atheris

    _import_all()
    done, failed = _instrument(atheris, instrument)
    sys.stderr.write(f"INFO: instrumented {done} {instrument} functions ({len(failed)} atheris could not: "
                     f"{', '.join(failed[:8])}{' ...' if len(failed) > 8 else ''})\n")
    h = Harness(entry, crash_dir=crash_dir, engine="atheris")
    h.warm_up()
    corpus = corpus_dir or h.work / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for i, s in enumerate(h.seeds()):
        (corpus / f"seed-{i}-{h.entry.containers[i]}").write_bytes(s)
    t0 = time.perf_counter()
    last = [t0]
    pending_op = ["seed"]

    def dump_stats(final: bool) -> None:
        if stats_file is None:
            return
        st = h.finish(time.perf_counter() - t0) if final else h.stats
        if not final:
            st.seconds = time.perf_counter() - t0
        tmp = stats_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(st.to_dict(), indent=1))
        tmp.replace(stats_file)

    def test_one(data: bytes) -> None:
        h.execute(data, pending_op[0])
        pending_op[0] = "bytes"
        now = time.perf_counter()
        if now - last[0] > 5:
            last[0] = now
            dump_stats(False)
        if (executions is not None and h.executions >= executions) or (
            seconds is not None and now - t0 >= seconds
        ):
            dump_stats(True)
            h.close()
            C.cleanup()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)

    def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
        rnd = random.Random(seed)
        if not data:
            data = rnd.choice(h.seeds())
        c = h.container_of(data)
        op, child = mutate(data, min(max_size, MAX_SIZE), rnd, container=c, generic=atheris.Mutate)
        pending_op[0] = op
        return child

    args = [sys.argv[0], "-timeout=0", f"-max_len={MAX_SIZE}", "-use_value_profile=1", "-print_final_stats=1",
            *libfuzzer_args, str(corpus)]
    atheris.Setup(args, test_one, custom_mutator=custom_mutator)
    atheris.Fuzz()


def replay(entry: str, files: list[str]) -> list[dict[str, Any]]:
    """Run saved inputs once each (uninstrumented): what they do now."""
    h = Harness(entry, crash_dir=None)
    h.warm_up()
    out = []
    try:
        for f in files:
            data = Path(f).read_bytes()
            o = h.execute(data, "replay")
            out.append({"file": f, "seconds": round(o.seconds, 4), "cpu_seconds": round(o.cpu, 4), "peak_rss": o.rss,
                        "json_bytes": o.json_bytes, "opened": o.opened,
                        "failure": vars(o.failure) if o.failure else None})
    finally:
        h.close()
    return out


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1 :]
    ap = argparse.ArgumentParser(prog="python -m fuzz.harness", description=__doc__.split("\n\n")[0])
    ap.add_argument("entry", nargs="?", choices=sorted(ENTRIES))
    ap.add_argument("--engine", choices=("atheris", "random"), default="atheris")
    ap.add_argument("--executions", type=int)
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--stats", type=Path, help="write the statistics (JSON) here")
    ap.add_argument("--crashes", type=Path, default=CRASH_DIR, help="where reproducers go (default fuzz/crashes)")
    ap.add_argument("--instrument", default="efitables", metavar="PREFIX",
                    help="atheris: instrument the functions of modules named so (default: all of efitables)")
    ap.add_argument("--corpus", type=Path, help="atheris: the corpus directory (default: a temporary one)")
    ap.add_argument("--replay", nargs="+", metavar="FILE", help="run these inputs once (with --entry)")
    ap.add_argument("--entry", dest="replay_entry", choices=sorted(ENTRIES))
    a = ap.parse_args(argv)
    if a.replay:
        print(json.dumps(replay(a.replay_entry or a.entry or "validate", a.replay), indent=1))
        return 0
    if a.entry is None:
        ap.error("an entry point is needed: " + ", ".join(sorted(ENTRIES)))
    if a.engine == "atheris":
        run_atheris(a.entry, executions=a.executions, seconds=a.seconds, stats_file=a.stats, crash_dir=a.crashes,
                    libfuzzer_args=extra, corpus_dir=a.corpus, instrument=a.instrument)
        return 0
    st = run(a.entry, executions=a.executions, seconds=a.seconds, seed=a.seed, crash_dir=a.crashes)
    doc = json.dumps(st.to_dict(), indent=1)
    if a.stats:
        a.stats.write_text(doc)
    else:
        print(doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
