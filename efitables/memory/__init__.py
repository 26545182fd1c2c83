"""Dump containers behind one physical-memory interface.

:func:`open_memory` sniffs the container format from the file's first bytes
(or takes the one forced by the caller) and returns a
:class:`~efitables.memory.base.PhysicalMemory`. Formats register themselves in
:data:`FORMATS`, in sniffing order; ``raw`` is the fallback.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass

from efitables.errors import DumpOpenError
from efitables.memory.base import MAX_READ, BytesMemory, PhysicalMemory, PhysRange
from efitables.memory.elf import ElfMemory
from efitables.memory.raw import RawMemory

__all__ = [
    "FORMATS",
    "MAX_READ",
    "BytesMemory",
    "ContainerFormat",
    "ElfMemory",
    "PhysRange",
    "PhysicalMemory",
    "RawMemory",
    "open_memory",
    "register_format",
]

SNIFF_BYTES = 4096


@dataclass(frozen=True)
class ContainerFormat:
    name: str
    description: str
    sniff: Callable[[bytes], bool]
    opener: Callable[[str], PhysicalMemory]


FORMATS: dict[str, ContainerFormat] = {}


def register_format(fmt: ContainerFormat) -> None:
    FORMATS[fmt.name] = fmt


register_format(
    ContainerFormat("elf", "ELF core (QEMU dump-guest-memory, vmcore)", lambda h: h[:4] == b"\x7fELF", ElfMemory)
)


def _sniff_raw(head: bytes) -> bool:
    return False  # raw is the fallback, never sniffed


register_format(ContainerFormat("raw", "raw physical image (offset = address)", _sniff_raw, RawMemory))

# Containers in their own modules register themselves on import.
for _mod in ("efitables.memory.kdump", "efitables.memory.lime"):
    try:
        __import__(_mod)
    except ModuleNotFoundError as _e:  # not written yet in this tree
        if _e.name != _mod:
            raise


def open_memory(path: str, format: str | None = None) -> PhysicalMemory:
    """Open ``path`` read-only as physical memory.

    ``format`` forces a container (a key of :data:`FORMATS`); otherwise it is
    sniffed. Raises :class:`DumpOpenError` with a one-line reason.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DumpOpenError(path, "no such file") from None
    except OSError as e:
        raise DumpOpenError(path, e.strerror or str(e)) from None
    if stat.S_ISDIR(st.st_mode):
        raise DumpOpenError(path, "is a directory")
    if not stat.S_ISREG(st.st_mode):
        raise DumpOpenError(path, "not a regular file")
    if st.st_size == 0:
        raise DumpOpenError(path, "empty file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError as e:
        raise DumpOpenError(path, e.strerror or str(e)) from None
    if format is not None:
        fmt = FORMATS.get(format)
        if fmt is None:
            raise DumpOpenError(path, f"unknown format {format!r} (known: {', '.join(FORMATS)})")
        return _open(fmt, path)
    for fmt in FORMATS.values():
        if fmt.sniff(head):
            return _open(fmt, path)
    if st.st_size % 4096:
        raise DumpOpenError(
            path,
            "not a recognised dump (no ELF/kdump/LiME header, and its size is not a whole "
            "number of 4 KiB pages as a raw image's is); use --format raw to force",
        )
    return _open(FORMATS["raw"], path)


def _open(fmt: ContainerFormat, path: str) -> PhysicalMemory:
    try:
        mem = fmt.opener(path)
    except DumpOpenError:
        raise
    except OSError as e:
        raise DumpOpenError(path, e.strerror or str(e)) from None
    mem.info.format = fmt.name
    return mem
