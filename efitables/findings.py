"""Findings: what is wrong (or notable) inside a dump, as data.

Every check registers a stable code once, at import time, with its severity and
a one-line title; :func:`all_codes` is the documented registry (the reference
page in ``docs/findings.md`` is generated from it). A :class:`Finding` names the
structure and the physical address it is about, so a user can go there.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, ClassVar

from efitables.reprs import ShortRepr


class Severity(enum.IntEnum):
    """Ordered so that ``severity >= Severity.WARNING`` reads naturally."""

    INFO = 0
    WARNING = 1
    ERROR = 2

    def __str__(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        return cls[text.upper()]


@dataclass(frozen=True)
class CodeInfo:
    code: str
    severity: Severity
    title: str
    description: str = ""


_CODES: dict[str, CodeInfo] = {}


def register(code: str, severity: Severity, title: str, description: str = "") -> str:
    """Declare a finding code; returns the code so modules can keep it as a constant."""
    info = CodeInfo(code, severity, title, description)
    old = _CODES.get(code)
    if old is not None and old != info:
        raise ValueError(f"finding code {code} registered twice with different meanings")
    _CODES[code] = info
    return code


def code_info(code: str) -> CodeInfo:
    return _CODES[code]


def all_codes() -> list[CodeInfo]:
    """Every registered code, sorted.

    Codes register when their module is imported, and ``import efitables`` no longer imports
    the parsers (they load lazily), so this first imports the modules that import every
    parser and check (:mod:`efitables.dump`, which imports them all, plus
    :mod:`efitables.analysis.coverage` and :mod:`efitables.kernel.kallsyms`); the list is then
    complete whatever else was imported. tests/test_findings_registry.py checks it against an
    import of every module.
    """
    import importlib

    for name in ("efitables.dump", "efitables.analysis.coverage", "efitables.kernel.kallsyms", "efitables.kernel.btf"):
        importlib.import_module(name)  # each imports (and so registers) its share of the checks
    return sorted(_CODES.values(), key=lambda c: c.code)


@dataclass(frozen=True)
class Finding(ShortRepr):
    _repr_fields: ClassVar[tuple[str, ...] | None] = ("code", "severity", "structure")
    code: str
    severity: Severity
    structure: str
    address: int | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": str(self.severity),
            "structure": self.structure,
            "address": self.address,
            "message": self.message,
        }

    def __str__(self) -> str:
        where = f" @ {self.address:#x}" if self.address is not None else ""
        return f"{self.severity}: {self.code}: {self.structure}{where}: {self.message}"


def make(
    code: str,
    structure: str,
    address: int | None,
    message: str,
    severity: Severity | None = None,
) -> Finding:
    """Build a finding for a registered code (its registered severity unless overridden)."""
    info = _CODES[code]
    return Finding(code, info.severity if severity is None else severity, structure, address, message)


# Codes that belong to no single parser.
READ_ERROR = register(
    "DUMP-READ",
    Severity.ERROR,
    "A structure's bytes are not in the dump",
    "A pointer names physical memory that the dump does not hold (a hole, past its end, or a truncated file).",
)
