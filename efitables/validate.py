"""Validating dumps: one dump in, one :class:`Verdict` out.

:func:`validate_path` opens a dump, takes its report (every area parsed, every
cross-structure check run: :func:`efitables.analysis.report`, the same findings
``show`` and the TUI print) and returns a Verdict: the
findings (minus ignored codes), counts by severity and the exit code for the
chosen threshold. Only plain, picklable data is in a Verdict, so worker
processes can return it (``efitables validate --jobs N``).

An :class:`~efitables.errors.EfitablesError` (a file that is not a dump, a file
that shrank while being read) makes a Verdict with ``opened=False`` or with
``error`` set, exit code 2. Any other exception is a bug in a parser: it is
re-raised as :class:`InternalError` naming the dump and the stage (the area
being parsed) so tests fail loudly; the CLI turns it into an exit code 2 as a
last resort.

A dump is never OK when there is nothing in it: a container without a physical
range has ``DUMP-NO-RANGES`` (from the container), and one in which none of what
efitables knows was found (no EFI system table, no boot_params, no VMCOREINFO,
no kallsyms) gets ``DUMP-NOTHING-FOUND`` (:func:`nothing_found`). Both are
errors, not warnings: a random file, or a compressed dump forced open as raw,
must fail the default ``--fail-on error`` run instead of passing it with two
warnings, and no real dump of a Linux machine lacks all four.

Directories are walked by content (:func:`expand`): every regular file is
judged by its first bytes (:func:`efitables.memory.wrappers.classify`); dumps,
compressed dumps (their verdict says what to run) and foreign formats (their
verdict names them) are validated, files that are not dumps are skipped and
counted, a ``.vmss``/``.vmsn`` whose ``.vmem`` is beside it is that dump's
companion, not a dump of its own, and ``X.xz`` (any wrapper's suffix) beside
``X`` is skipped as a compressed copy. A file named like a dump
(:data:`DUMP_SUFFIXES`, ``vmcore*``) is always validated, so an empty or cut
``x.raw`` fails loudly instead of being skipped.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from efitables.analysis import sort_key
from efitables.dump import Dump
from efitables.errors import EfitablesError
from efitables.findings import Finding, Severity, all_codes, make
from efitables.memory import FORMATS
from efitables.memory.vmware import STATE_SUFFIXES, VMEM_SUFFIX
from efitables.memory.wrappers import DUMP_NOTHING_FOUND, WRAPPER_SUFFIXES, classify
from efitables.text import printable

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2

#: File names a directory walk always validates, whatever their content (lower case).
DUMP_SUFFIXES = (
    ".raw", ".img", ".mem", ".bin", ".elf", ".core", ".vmcore", ".kdump", ".lime", ".dmp", ".dump", ".avml",
    ".vmem",
)

#: What :func:`validate_path` takes: one file, or the parts of one kdump ``--split`` set.
DumpPath = str | Sequence[str]


def path_text(path: DumpPath) -> str:
    """A dump path (or a split set's parts, joined with `` + ``) as one string."""
    return path if isinstance(path, str) else " + ".join(path)


class InternalError(Exception):
    """A parser or check raised something other than an EfitablesError: a bug."""

    def __init__(self, path: str, stage: str, cause: BaseException) -> None:
        super().__init__(f"{path}: internal error in {stage}: {type(cause).__name__}: {cause}")
        self.path = path
        self.stage = stage


@dataclass
class Verdict:
    """The result of validating one dump."""

    path: str
    opened: bool
    fail_on: Severity = Severity.ERROR
    findings: list[Finding] = field(default_factory=list)
    ignored: int = 0
    error: str | None = None
    stage: str | None = None  # where ``error`` happened: "open", an area, or a check
    format: str | None = None
    file_size: int | None = None
    seconds: float = 0.0

    @property
    def counts(self) -> dict[str, int]:
        c = {str(s): 0 for s in sorted(Severity, reverse=True)}
        for f in self.findings:
            c[str(f.severity)] += 1
        return c

    @property
    def failing(self) -> list[Finding]:
        return [f for f in self.findings if f.severity >= self.fail_on]

    @property
    def exit_code(self) -> int:
        if self.error is not None:
            return EXIT_ERROR
        return EXIT_FINDINGS if self.failing else EXIT_OK

    @property
    def status(self) -> str:
        return {EXIT_OK: "ok", EXIT_FINDINGS: "fail", EXIT_ERROR: "error"}[self.exit_code]

    def summary_line(self) -> str:
        """``PATH: FAIL (2 error, 1 warning, 0 info; 3 ignored) 0.12 s``, safe for a terminal.

        File names come from whoever named the files (``validate DIR`` walks directories of
        collected dumps), so the path and the error are passed through
        :func:`efitables.text.printable`: escape sequences and carriage returns are shown, not obeyed.
        """
        path = printable(self.path)
        if self.error is not None:
            return f"{path}: ERROR {printable(self.error)}"
        c = self.counts
        parts = ", ".join(f"{n} {s}" for s, n in c.items())
        if self.ignored:
            parts += f"; {self.ignored} ignored"
        return f"{path}: {self.status.upper()} ({parts}) {self.seconds:.2f} s"

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "opened": self.opened,
            "format": self.format,
            "file_size": self.file_size,
            "status": self.status,
            "exit_code": self.exit_code,
            "error": self.error,
            "stage": self.stage,
            "fail_on": str(self.fail_on),
            "counts": self.counts,
            "ignored": self.ignored,
            "seconds": round(self.seconds, 4),
            "findings": [f.to_dict() for f in self.findings],
        }


def overall_exit(verdicts: list[Verdict]) -> int:
    """The exit code of a run: 2 if any dump could not be validated (or there were none), else the worst."""
    if not verdicts:
        return EXIT_ERROR
    codes = {v.exit_code for v in verdicts}
    return EXIT_ERROR if EXIT_ERROR in codes else max(codes)


def ignore_matcher(patterns: Iterable[str]) -> tuple[str, ...]:
    """Check ``--ignore`` values (codes or fnmatch patterns such as ``EFI-CFGTAB-*``); returns them upper-cased.

    Raises ValueError naming a pattern that matches no registered code (a typo).
    """
    known = [c.code for c in all_codes()]
    out = []
    for p in patterns:
        for part in p.split(","):
            part = part.strip().upper()
            if not part:
                continue
            if not fnmatch.filter(known, part):
                raise ValueError(f"{part!r} matches no finding code (see docs/findings.md)")
            out.append(part)
    return tuple(out)


def _is_ignored(code: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(code, p) for p in patterns)


def collect_findings(d: Dump, stage: list[str]) -> list[Finding]:
    """The dump's report (every area, every cross-structure check); ``stage[0]`` tracks progress."""

    def on_stage(name: str) -> None:
        stage[0] = name

    return d.report(on_stage).findings


def _size_changed(d: Dump) -> str | None:
    """Why a file of the dump is not the one that was opened (it shrank, grew or vanished), or None.

    A container that reads several files (a kdump split set, a ``.vmem`` with its ``.vmss``)
    lists them with their sizes in ``source_files()``; any other has one file, ``d.path``.
    """
    if d.memory.info.format == "bytes":
        return None
    source_files = getattr(d.memory, "source_files", None)
    files: list[tuple[str, int]] = source_files() if callable(source_files) else [(d.path, d.memory.info.file_size)]
    several = len(files) > 1
    for path, opened in files:
        which = f"the file {printable(os.path.basename(path))}" if several else "the file"
        try:
            now = os.stat(path).st_size
        except FileNotFoundError:
            return f"{which} vanished while being read"
        except OSError as e:
            return f"{which} could not be stat'ed after reading ({e.strerror})"
        if now != opened:
            return f"{which} changed size while being read ({opened:#x} bytes when opened, {now:#x} after)"
    return None


def nothing_found(d: Dump) -> list[Finding]:
    """``DUMP-NOTHING-FOUND`` when none of what efitables reads is in ``d`` (its areas parsed already).

    Nothing means: no EFI system table, no boot_params (zero page), no Xen PVH start info, no
    VMCOREINFO and no kallsyms. A dump with no physical range is left to ``DUMP-NO-RANGES``.
    """
    from efitables.kernel.kallsyms import load

    mem = d.memory
    ranges = mem.ranges()
    if not ranges or d.systab is not None or d.boot_params is not None or d.pvh.present or mem.vmcoreinfo:
        return []
    if load(mem, mem.vmcoreinfo).available:
        return []
    total = sum(r.size for r in ranges)
    return [make(
        DUMP_NOTHING_FOUND, "dump", None,
        f"no EFI system table, no boot_params, no VMCOREINFO and no kallsyms in {total:#x} bytes of "
        f"{mem.info.format} physical memory ({len(ranges)} range{'s' if len(ranges) != 1 else ''})")]


def validate_dump(
    d: Dump, *, fail_on: Severity = Severity.ERROR, ignore: tuple[str, ...] = (), path: str | None = None
) -> Verdict:
    """Validate an already opened Dump (the caller closes it)."""
    t0 = time.perf_counter()
    stage = ["parse"]
    info = d.memory.info
    v = Verdict(path=path or d.path, opened=True, fail_on=fail_on, format=info.format, file_size=info.file_size)
    try:
        found = collect_findings(d, stage)
        stage[0] = "nothing-found"
        have = {f.code for f in found}
        found += [f for f in nothing_found(d) if f.code not in have]
    except EfitablesError as e:
        v.error, v.stage = str(e), stage[0]
        found = []
    except Exception as e:
        raise InternalError(v.path, stage[0], e) from e
    if v.error is None:
        changed = _size_changed(d)
        if changed:
            v.error, v.stage = f"{v.path}: {changed}; the verdict would not be reliable", "read"
    kept = [f for f in found if not _is_ignored(f.code, ignore)]
    v.ignored = len(found) - len(kept)
    v.findings = sorted(kept, key=sort_key)
    v.seconds = time.perf_counter() - t0
    return v


def validate_path(
    path: DumpPath,
    *,
    fail_on: Severity = Severity.ERROR,
    ignore: tuple[str, ...] = (),
    open_kwargs: dict[str, Any] | None = None,
) -> Verdict:
    """Open and validate one dump (a path, or the list of a kdump ``--split`` set's parts).

    Never raises for a bad dump; raises InternalError for a parser bug.
    """
    t0 = time.perf_counter()
    kw = dict(open_kwargs or {})
    fmt = kw.pop("format", None)
    name = path_text(path)
    try:
        d = Dump.open(path if isinstance(path, str) else list(path), fmt, **kw)  # type: ignore[arg-type]
    except EfitablesError as e:
        return Verdict(path=name, opened=False, fail_on=fail_on, error=str(e), stage="open")
    except Exception as e:
        raise InternalError(name, "open", e) from e
    with d:
        v = validate_dump(d, fail_on=fail_on, ignore=ignore, path=name)
    v.seconds = time.perf_counter() - t0
    return v


def is_dump_name(name: str) -> bool:
    low = name.lower()
    return not low.startswith(".") and (low.endswith(DUMP_SUFFIXES) or low.startswith("vmcore"))


@dataclass
class Expansion:
    """What DUMP arguments came to: the dumps to validate, arguments that gave none, files skipped."""

    paths: list[str] = field(default_factory=list)
    problems: list[Verdict] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why it is not a dump)


def _sniffers() -> dict[str, Any]:
    return {name: fmt.sniff for name, fmt in FORMATS.items() if name != "raw"}


def _is_companion(path: str, names: set[str]) -> bool:
    """A ``.vmss``/``.vmsn`` with its ``.vmem`` in the same directory (that dump opens through the .vmem)."""
    stem, ext = os.path.splitext(os.path.basename(path))
    return ext.lower() in STATE_SUFFIXES and any(stem + e in names for e in (VMEM_SUFFIX, VMEM_SUFFIX.upper()))


def expand_paths(args: Iterable[str]) -> tuple[list[str], list[Verdict]]:
    """Turn DUMP arguments (files, directories, globs) into dump paths; see :func:`expand`."""
    e = expand(args)
    return e.paths, e.problems


def expand(args: Iterable[str]) -> Expansion:
    """Turn DUMP arguments (files, directories, globs) into dump paths.

    A directory contributes, recursively and sorted, every regular file whose content is a
    dump, a compressed dump or a foreign format (:func:`~efitables.memory.wrappers.classify`),
    and every file named like a dump (:data:`DUMP_SUFFIXES`, or ``vmcore*``); the other files
    are skipped and listed in ``skipped``. A glob (quoted, so the shell left it) is expanded,
    ``**`` included. Arguments that give no dump become Verdicts with an error (exit code 2).
    Paths are deduplicated, order kept.
    """
    out = Expansion()
    paths = out.paths
    problems = out.problems
    sniffers = _sniffers()

    def add_dir(top: str) -> int:
        n = 0
        for root, dirs, files in os.walk(top, onerror=None):
            dirs[:] = sorted(x for x in dirs if not x.startswith("."))
            names = set(files)
            for name in sorted(files):
                p = os.path.join(root, name)
                if name.startswith("."):
                    continue
                if _is_companion(p, names):
                    out.skipped.append((p, "the checkpoint of the .vmem beside it"))
                    continue
                if is_dump_name(name):
                    paths.append(p)
                    n += 1
                    continue
                c = classify(p, sniffers)
                if c.kind == "not-dump":
                    out.skipped.append((p, c.why))
                    continue
                stem, ext = os.path.splitext(name)
                if c.kind == "wrapper" and ext.lower() in WRAPPER_SUFFIXES and stem in names:
                    out.skipped.append((p, "a compressed copy of the file beside it"))
                    continue
                paths.append(p)
                n += 1
        return n

    for arg in args:
        if os.path.isdir(arg):
            if not add_dir(arg):
                skipped = sum(1 for p, _ in out.skipped if p.startswith(os.path.join(arg, "")))
                problems.append(
                    Verdict(
                        path=arg,
                        opened=False,
                        stage="open",
                        error=f"{arg}: directory holds no dump files"
                        + (f" ({skipped} other file{'s' if skipped != 1 else ''} skipped)" if skipped else ""),
                    )
                )
        elif not os.path.lexists(arg) and glob.has_magic(arg):
            hits = sorted(glob.glob(arg, recursive=True))
            if not hits:
                problems.append(Verdict(path=arg, opened=False, stage="open", error=f"{arg}: no file matches"))
            for h in hits:
                if os.path.isdir(h):
                    add_dir(h)
                else:
                    paths.append(h)
        else:
            paths.append(arg)  # missing or unreadable files fail in validate_path with the reason
    out.paths = list(dict.fromkeys(paths))
    return out
