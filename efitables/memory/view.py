"""A view of a container: its ranges, metadata and identity, with bytes of the view's own.

Two views read through a container and change only what a read returns: the redacted
memory every area reads (:class:`~efitables.memory.redact.RedactedMemory`: secret ranges
as zeros) and the memory a loaded kexec image's next kernel will find
(:class:`~efitables.memory.kexec_view.KexecTargetMemory`: destination pages from their
source pages). :class:`MemoryView` is what they share: the container's ``info``, ranges
and findings cap, its public attributes (``ElfMemory.notes``, ``source_files()``), and
``isinstance(view, ElfMemory)`` for a view of an ELF core (as ``unittest.mock``'s spec
does), so code that asks what container it reads keeps its answer through any view.
"""

from __future__ import annotations

from typing import Any

from efitables.memory.base import FindingCap, PhysicalMemory, PhysRange
from efitables.memory.source import ByteSource


class MemoryView(PhysicalMemory):
    """``inner``'s ranges, metadata and identity; a subclass says what a read returns (``_read``)."""

    def __init__(self, inner: PhysicalMemory) -> None:
        super().__init__(inner.path)
        self.inner = inner
        self.info = inner.info
        self.format = inner.format
        self.read_granule = inner.read_granule

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # noqa: D105
        # the container's class (through any number of views): isinstance(view, ElfMemory) holds
        return self.inner.__class__

    def __getattr__(self, name: str) -> Any:
        # Container-specific public attributes are the container's. Private ones are not forwarded:
        # nothing reaches the container's own _read through the view.
        if name.startswith("_") or name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def close(self) -> None:
        self.inner.close()

    def sources(self) -> list[ByteSource]:
        return self.inner.sources()

    def source_files(self) -> list[tuple[str, int]]:
        return self.inner.source_files()

    @property
    def capped(self) -> FindingCap:
        return self.inner.capped

    def report_unreadable(self, pa: int, size: int, error: Any) -> None:
        self.inner.report_unreadable(pa, size, error)

    def _load_ranges(self) -> list[PhysRange]:
        return self.inner.ranges()


__all__ = ["MemoryView"]
