"""Dump containers behind one physical-memory interface.

:func:`open_memory` sniffs the container format from the file's first bytes
(or takes the one forced by the caller) and returns a
:class:`~efitables.memory.base.PhysicalMemory`. Formats register themselves in
:data:`FORMATS`, in sniffing order (AVML before LiME: an AVML file may carry
LiME's magic); ``raw`` is the fallback.

Before the fallback, a compressed file (gzip, xz, zstd, bzip2, lz4, snappy,
zlib) is refused with the command that unpacks it and a foreign format (a
Windows crash dump, a hibernation file, a swap area, a QEMU or VirtualBox saved
state, an EWF file, an archive) is refused naming it
(:mod:`efitables.memory.wrappers`); a ``.vmem`` file is VMware guest memory
(:mod:`efitables.memory.vmware`, with its ``.vmss``/``.vmsn`` region table when
one is beside it). A list of paths is one makedumpfile ``--split`` dump
(:mod:`efitables.memory.kdump_split`). A container that describes no physical
range gets a ``DUMP-NO-RANGES`` finding.

A path may be a URL: every container reads through one
:class:`~efitables.memory.source.ByteSource` (:mod:`efitables.memory.source`), a
local file or an fsspec file read by range with a block cache, and the sniffing
here reads the first bytes through the same source.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from efitables.errors import DumpOpenError
from efitables.findings import make
from efitables.memory.base import MAX_READ, BytesMemory, PhysicalMemory, PhysRange
from efitables.memory.elf import ElfMemory
from efitables.memory.raw import RawMemory
from efitables.memory.source import ByteSource, is_remote, local_path, open_source
from efitables.memory.wrappers import DUMP_FORCED_FORMAT, DUMP_NO_RANGES, RAW_PAGE, sniff

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
    """A container: its name, how to recognise its first bytes, and how to open it.

    ``opener`` takes a path (or URL) or a :class:`~efitables.memory.source.ByteSource` already
    open (what :func:`open_memory` gives it, after sniffing); it owns the source from then on.
    """

    name: str
    description: str
    sniff: Callable[[bytes], bool]
    opener: Callable[[str | ByteSource], PhysicalMemory]


FORMATS: dict[str, ContainerFormat] = {}


def register_format(fmt: ContainerFormat) -> None:
    FORMATS[fmt.name] = fmt


register_format(
    ContainerFormat("elf", "ELF core (QEMU dump-guest-memory, vmcore)", lambda h: h[:4] == b"\x7fELF", ElfMemory)
)


def _sniff_raw(head: bytes) -> bool:
    return False  # raw is the fallback, never sniffed


register_format(ContainerFormat("raw", "raw physical image (offset = address)", _sniff_raw, RawMemory))

# Containers in their own modules register themselves on import, in this (sniffing) order:
# AVML before LiME, since an AVML file may start with LiME's magic. kdump_split registers no
# format (it takes a list of paths) but its finding codes, which must be known on import.
_MODULES = ("efitables.memory.kdump", "efitables.memory.avml", "efitables.memory.lime", "efitables.memory.vmware",
            "efitables.memory.kdump_split")
for _mod in _MODULES:
    try:
        __import__(_mod)
    except ModuleNotFoundError as _e:  # not written yet in this tree
        if _e.name != _mod:
            raise


#: File-name suffix of VMware guest memory (no header of its own).
VMEM_SUFFIX = ".vmem"


def open_memory(path: str | Sequence[str], format: str | None = None) -> PhysicalMemory:
    """Open ``path`` read-only as physical memory.

    ``path`` is a file, a ``file://`` URL, or any other URL fsspec reads
    (``s3://bucket/vmcore``, ``https://host/vmcore``: read by range through
    :class:`~efitables.memory.source.FsspecSource`; needs ``efitables[remote]``).
    ``format`` forces a container (a key of :data:`FORMATS`); otherwise it is
    sniffed from the first bytes, read through the same source the container
    then reads. A list or tuple of paths is the parts of one makedumpfile
    ``--split`` dump (``format`` must then be None or ``kdump``). Raises
    :class:`DumpOpenError` with a one-line reason.
    """
    if not isinstance(path, str):
        return _open_split(list(path), format)
    src = _source(path)
    try:
        return _sniffed(path, src, format)
    except BaseException:
        src.close()  # a container that took it closed it already; closing twice is harmless
        raise


def _sniffed(path: str, src: ByteSource, format: str | None) -> PhysicalMemory:
    head = _head(path, src)
    size = src.size
    name = src.name

    def read(n: int) -> bytes:
        return src.pread(n, 0)

    if format is not None:
        fmt = FORMATS.get(format)
        if fmt is None:
            raise DumpOpenError(path, f"unknown format {format!r} (known: {', '.join(FORMATS)})")
        looks = sniff(name, head, read)
        mem = _open(fmt, src)
        if looks is not None:
            mem.info.findings.append(make(
                DUMP_FORCED_FORMAT, "container", None,
                f"opened as {format} as asked, but the file looks like this: {looks.what}"))
        return _checked(mem)
    for fmt in FORMATS.values():
        if fmt.sniff(head):
            return _checked(_open(fmt, src))
    looks = sniff(name, head, read)
    if looks is not None:
        raise DumpOpenError(path, looks.reason)
    if path.lower().endswith(VMEM_SUFFIX) and "vmware" in FORMATS:
        return _checked(_open(FORMATS["vmware"], src))
    if size % RAW_PAGE:
        raise DumpOpenError(
            path,
            "not a recognised dump (no ELF/kdump/LiME/AVML/VMware header, and its size is not a whole "
            "number of 4 KiB pages as a raw image's is); use --format raw to force",
        )
    return _checked(_open(FORMATS["raw"], src))


def _source(path: str) -> ByteSource:
    """The source of a regular, non-empty file (or a URL's object); DumpOpenError with the reason otherwise."""
    if is_remote(path):
        src = open_source(path)  # DumpOpenError with the reason (fsspec missing, no such object, no ranges)
        if src.size == 0:
            src.close()
            raise DumpOpenError(path, "empty file")
        return src
    local = local_path(path)
    try:
        st = os.stat(local)
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
        return open_source(local)
    except OSError as e:
        raise DumpOpenError(path, e.strerror or str(e)) from None


def _head(path: str, src: ByteSource) -> bytes:
    """The first :data:`SNIFF_BYTES` of the source."""
    try:
        return src.pread(SNIFF_BYTES, 0)
    except OSError as e:
        raise DumpOpenError(path, e.strerror or str(e)) from None


def _open_split(paths: list[str], format: str | None) -> PhysicalMemory:
    from efitables.memory.kdump_split import KdumpSplitMemory

    if not paths:
        raise DumpOpenError("<no path>", "an empty list of dump parts")
    if format not in (None, "kdump"):
        raise DumpOpenError(paths[0], f"a list of paths is a kdump --split set; format {format!r} cannot be one")
    if len(paths) == 1:
        return open_memory(paths[0], format)
    for p in paths:
        _source(p).close()  # the same one-line reasons as a single file (missing, a directory, empty)
    return _checked(KdumpSplitMemory(paths))


def _checked(mem: PhysicalMemory) -> PhysicalMemory:
    """Flag a container that holds no physical memory at all."""
    if not mem.ranges():
        mem.info.findings.append(make(
            DUMP_NO_RANGES, "container", None,
            f"the {mem.info.format} container describes no readable physical range"))
    return mem


def _open(fmt: ContainerFormat, src: ByteSource) -> PhysicalMemory:
    """``fmt``'s container over ``src`` (which it owns from here on)."""
    try:
        mem = fmt.opener(src)
    except DumpOpenError:
        raise
    except OSError as e:
        raise DumpOpenError(src.name, e.strerror or str(e)) from None
    mem.info.format = fmt.name
    return mem
