"""What counts as a crash, and the tools to see one: watchdog, peak RSS, secret search, reports.

A harness execution fails when (issue 19's targets):

* an exception escapes (other than :class:`~efitables.errors.DumpOpenError` where opening is
  the step: an unopenable input is a documented outcome);
* it runs longer than :data:`HANG_SECONDS` of CPU time or :data:`HANG_WALL_SECONDS` of wall time
  (``SIGPROF`` and ``SIGALRM`` watchdogs raise :class:`Hang`, a ``BaseException`` so that no
  ``except Exception`` in the code under test swallows it);
* its peak resident set (``VmHWM``, reset before each execution through ``/proc/self/clear_refs``)
  exceeds :data:`RSS_LIMIT`;
* a JSON document it produced exceeds :data:`JSON_LIMIT` bytes;
* an output holds bytes of a secret of the seed (the four VMPCKs of its secrets page, its two RNG
  seeds, its CoCo secret; nothing here asks for secrets): :class:`SecretSearch` looks for every
  8-byte window of every secret as raw bytes, as hex (also
  with spaces or colons between bytes, and as the hex of a little-endian u64), as a decimal u64,
  as UCS-2 or Latin-1 text (JSON-escaped or escaped by :func:`efitables.text.printable`), and
  every 4-byte window as a decimal u32 in a structured output.
"""

from __future__ import annotations

import json
import os
import re
import signal
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType, TracebackType
from typing import Any

#: CPU seconds one execution may take (issue 19: any hostile dump <= 1 GiB in < 2 s). CPU time, not
#: wall time: the machine the fuzzer shares runs other work, and a run of 0.6 s of CPU has been
#: measured at 1.9 s of wall time there.
HANG_SECONDS = 2.0
#: Wall-clock seconds after which an execution is stopped whatever its CPU time (a wait, not work).
HANG_WALL_SECONDS = 20.0
#: Peak resident set of one execution (issue 19: < 256 MiB). A fuzzing process carries more than
#: efitables does (atheris, libFuzzer's corpus), so an execution fails when what it adds to the
#: resident set it started with exceeds RSS_LIMIT less the resident set the process had after its
#: warm-up (one dump opened: ~70 MiB uninstrumented, ~100 MiB under atheris).
RSS_LIMIT = 256 << 20
#: Growth of the fuzzing process's resident set (after an execution, against the warm-up's) that is
#: reported, once, as a leak: memory a run keeps after it is over.
LEAK_LIMIT = 128 << 20
#: Largest JSON document an output may be (issue 19: < 1 MiB).
JSON_LIMIT = 1 << 20

_PKG = os.sep + "efitables" + os.sep


class Hang(BaseException):
    """Raised by the watchdog inside the code under test."""


def _on_cpu(_signum: int, _frame: FrameType | None) -> None:
    raise Hang(f"no result after {HANG_SECONDS} s of CPU time")


def _on_wall(_signum: int, _frame: FrameType | None) -> None:
    raise Hang(f"no result after {HANG_WALL_SECONDS} s of wall time")


@contextmanager
def watchdog(cpu: float = HANG_SECONDS, wall: float = HANG_WALL_SECONDS) -> Iterator[None]:
    """Raise :class:`Hang` in this (main) thread after ``cpu`` seconds of process CPU time
    (``ITIMER_PROF``, ``SIGPROF``) or ``wall`` seconds (``ITIMER_REAL``, ``SIGALRM``); disarmed on exit."""
    old_prof = signal.signal(signal.SIGPROF, _on_cpu)
    old_alrm = signal.signal(signal.SIGALRM, _on_wall)
    signal.setitimer(signal.ITIMER_PROF, cpu)
    signal.setitimer(signal.ITIMER_REAL, wall)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGPROF, old_prof if old_prof is not None else signal.SIG_DFL)
        signal.signal(signal.SIGALRM, old_alrm if old_alrm is not None else signal.SIG_DFL)


# -- resident set -----------------------------------------------------------------------------------
def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux >= 4.0); False where that is impossible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _status(key: bytes) -> int:
    try:
        with open("/proc/self/status", "rb") as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def peak_rss() -> int:
    """``VmHWM`` of this process in bytes (0 if unknown)."""
    return _status(b"VmHWM:")


def current_rss() -> int:
    """``VmRSS`` of this process in bytes (0 if unknown)."""
    return _status(b"VmRSS:")


# -- secrets ------------------------------------------------------------------------------------------
_HEX_RUN = re.compile(r"[0-9a-f]{16,}")
_SEP_HEX_RUN = re.compile(r"(?:[0-9a-f]{2}[ :]){7,}[0-9a-f]{2}")
_DEC_RUN = re.compile(r"[0-9]{6,20}")


def _chunks(s: str | bytes, n: int) -> list:
    return [s[i : i + n] for i in range(0, len(s) - n + 1, n)]


class SecretSearch:
    """Finds the keys' bytes in outputs, in the encodings an efitables face could print them in.

    Every 8-byte window of a key holds a 4-byte-aligned chunk of it, so each encoding is first
    looked for by its aligned chunks (a few C-speed substring searches over the whole output);
    only a chunk found makes the exact, window-by-window search run.
    """

    def __init__(self, keys: dict[str, bytes]) -> None:
        self.keys = keys
        self.win8: dict[bytes, str] = {}
        self.hex: dict[str, str] = {}
        self.u64: dict[int, str] = {}
        self.u32: dict[int, str] = {}
        self.hex_chunks: list[str] = []
        self.text_chunks: list[str] = []
        for name, k in keys.items():
            for s in range(len(k) - 7):
                w = k[s : s + 8]
                what = f"{name}[{s}:{s + 8}]"
                self.win8[w] = what
                self.hex[w.hex()] = what
                self.hex[w[::-1].hex()] = what  # a little-endian u64 in hex
                self.u64[int.from_bytes(w, "little")] = what
                self.u64[int.from_bytes(w, "big")] = what
            for s in range(len(k) - 3):
                self.u32[int.from_bytes(k[s : s + 4], "little")] = f"{name}[{s}:{s + 4}]"
            self.hex_chunks += _chunks(k.hex(), 8) + _chunks(k[::-1].hex(), 8)
            self.text_chunks += [c.decode("latin-1") for c in _chunks(k, 4)]
            for start in (0, 1):  # UCS-2 at either byte parity: 2-character chunks
                even = k[start : start + (len(k) - start) // 2 * 2]
                self.text_chunks += _chunks(even.decode("utf-16-le", "surrogatepass"), 2)
        self._ascii_chunks = [c for c in self.text_chunks if c.isascii()]
        self._other_chunks = re.compile("|".join(map(re.escape, [c for c in self.text_chunks if not c.isascii()])))

    def in_bytes(self, b: bytes) -> str | None:
        """Any 8-byte window of a key in ``b`` (exact)."""
        w8 = self.win8
        for i in range(len(b) - 7):
            hit = w8.get(b[i : i + 8])
            if hit:
                return hit
        return None

    def _hex_run(self, run: str) -> str | None:
        hx = self.hex
        for i in range(len(run) - 15):
            hit = hx.get(run[i : i + 16])
            if hit:
                return hit
        return None

    def in_text(self, text: str) -> str | None:
        """Search one output (a JSON document, or what a terminal face printed)."""
        low = text.lower()
        runs = "|".join(_HEX_RUN.findall(low))
        seps = ""
        if text[:1] not in ("{", "["):  # a JSON document has no spaced hex; a terminal face may
            seps = "|".join(m.replace(" ", "").replace(":", "") for m in _SEP_HEX_RUN.findall(low))
        for joined, how in ((runs, "hex"), (seps, "hex with separators")):
            if joined and any(c in joined for c in self.hex_chunks):
                for run in joined.split("|"):
                    hit = self._hex_run(run)
                    if hit:
                        return f"{hit} as {how}"
        for m in _DEC_RUN.findall(low):
            v = int(m)
            hit = self.u64.get(v) or self.u32.get(v)
            if hit:
                return f"{hit} as a decimal integer"
        plain = text
        if "\\" in text:  # JSON's \uXXXX and printable()'s \xNN: undone for the search
            plain = text.encode("latin-1", "backslashreplace").decode("unicode_escape", "replace")
        found = any(c in plain for c in self._ascii_chunks)
        if not found and not plain.isascii():
            found = self._other_chunks.search(plain) is not None
        if found:
            hit = self.in_bytes(plain.encode("latin-1", "ignore"))
            if hit is None:
                for start in (0, 1):
                    hit = self.in_bytes(bytes(start) + plain.encode("utf-16-le", "surrogatepass"))
                    if hit:
                        break
            if hit:
                return f"{hit} as text"
        return None


# -- results -------------------------------------------------------------------------------------------
@dataclass
class Failure:
    """One failing execution."""

    kind: str  # "exception", "hang", "rss", "json", "secret", "cli"
    signature: str  # what groups failures of one mechanism
    message: str
    trace: str = ""


@dataclass
class Outcome:
    """What one execution did."""

    seconds: float = 0.0  # wall
    cpu: float = 0.0
    rss: int = 0  # peak resident set of the process during the execution
    rss_added: int = 0  # how much of it the execution added
    json_bytes: int = 0
    failure: Failure | None = None
    opened: bool = True
    echoes: int = 0  # key bytes printed from memory efitables did not know as secret (not a failure)
    notes: list[str] = field(default_factory=list)


def frames(tb: TracebackType | None) -> list[traceback.FrameSummary]:
    return list(traceback.extract_tb(tb)) if tb is not None else []


def where(tb: TracebackType | None, deep: int = 1) -> str:
    """The innermost ``deep`` efitables frames of a traceback, ``module:function:line``."""
    out = []
    for f in reversed(frames(tb)):
        if _PKG in f.filename:
            mod = f.filename.split(_PKG, 1)[1].removesuffix(".py").replace(os.sep, ".")
            out.append(f"{mod}:{f.name}:{f.lineno}")
            if len(out) >= deep:
                break
    return " < ".join(out) or "(outside efitables)"


def caller(tb: TracebackType | None) -> str:
    """The innermost efitables frame outside the memory layer: for an error the memory layer raised,
    the parser that let it through."""
    mem = _PKG + "memory" + os.sep
    for f in reversed(frames(tb)):
        if _PKG in f.filename and mem not in f.filename:
            mod = f.filename.split(_PKG, 1)[1].removesuffix(".py").replace(os.sep, ".")
            return f"{mod}:{f.name}:{f.lineno}"
    return ""


def root_cause(e: BaseException) -> BaseException:
    """The exception a wrapper (validate's InternalError) was raised from."""
    seen = 0
    while e.__cause__ is not None and seen < 8 and type(e).__name__ == "InternalError":
        e = e.__cause__
        seen += 1
    return e


def exception_failure(e: BaseException, stage: str) -> Failure:
    cause = root_cause(e)
    trace = "".join(traceback.format_exception(type(e), e, e.__traceback__))
    if isinstance(cause, Hang):
        return Failure("hang", f"hang in {where(cause.__traceback__, 3)}", f"{stage}: {cause}", trace)
    if isinstance(cause, MemoryError):
        return Failure("rss", f"MemoryError in {where(cause.__traceback__)}", f"{stage}: MemoryError", trace)
    sig = f"{type(cause).__name__} in {where(cause.__traceback__)}"
    via = caller(cause.__traceback__)
    if via and via not in sig:
        sig += f" via {via}"
    return Failure("exception", sig, f"{stage}: {type(cause).__name__}: {str(cause)[:300]}", trace)


def json_size(obj: Any) -> int:
    return len(json.dumps(obj, default=str))
