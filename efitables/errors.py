"""Exceptions raised by efitables.

Errors are for conditions that stop an operation (a file that is not a dump, a
read of bytes the dump does not hold). Anything wrong *inside* a dump that
parsing can continue past is a :class:`efitables.findings.Finding` instead.
"""

from __future__ import annotations


class EfitablesError(Exception):
    """Base class of every efitables error."""


class DumpOpenError(EfitablesError):
    """The file cannot be opened as a dump (missing, unreadable, empty, unknown format)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class DumpFormatError(DumpOpenError):
    """The container's own headers are invalid for the format chosen."""


class MemoryReadError(EfitablesError):
    """A physical read touches bytes that the dump does not hold.

    ``missing`` is the first absent sub-range ``(start, end)`` (end exclusive).
    """

    def __init__(
        self,
        pa: int,
        size: int,
        missing: tuple[int, int] | None = None,
        reason: str | None = None,
        structure: str | None = None,
    ) -> None:
        self.pa = pa
        self.size = size
        self.missing = missing
        self.structure = structure
        what = f"{structure} at " if structure else ""
        if reason is None:
            if missing is not None:
                reason = f"physical range {missing[0]:#x}-{missing[1]:#x} is not in the dump"
            else:
                reason = "not in the dump"
        self.reason = reason
        super().__init__(f"cannot read {what}{pa:#x} (+{size:#x}): {reason}")
