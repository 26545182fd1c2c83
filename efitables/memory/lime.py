"""LiME memory dumps (Linux Memory Extractor, ``format=lime``).

The file is a sequence of ranges, each a 32-byte header followed by the range's
bytes::

    struct lime_mem_range_header {      // packed, little-endian
        u32 magic;      // 0x4C694D45 ("EMiL" on disk)
        u32 version;    // 1
        u64 s_addr;     // first physical address
        u64 e_addr;     // last physical address (inclusive)
        u8  reserved[8];
    };

LiME writes one range per "System RAM" resource of /proc/iomem, so ranges are
sorted and do not overlap in a well-formed file. The headers are indexed once
at open (one 32-byte read per range, at most :data:`MAX_RANGES`); the data is
read on demand with pread (a file that shrinks gives a read error, not SIGBUS).
LiME's optional ``compress=1`` output is a single zlib stream of this whole
layout: it has no header to sniff and must be inflated first (``zlib-flate -uncompress`` or Python's ``zlib``).

Sources: 504ensicsLabs/LiME src/lime.h@v1.12.0 (``lime_mem_range_header``,
``LIME_MAGIC``), src/main.c@v1.12.0 (``write_lime_header``: version 1, ``e_addr =
res->end``, inclusive) and docs/README.md@v1.12.0 ("LiME Memory Range Header
Version 1 Specification"; ``compress=1`` output "will be in the zlib format").
"""

from __future__ import annotations

import struct
from array import array
from dataclasses import dataclass

from efitables.errors import DumpFormatError, MemoryReadError
from efitables.findings import Severity, register
from efitables.memory import ContainerFormat, register_format
from efitables.memory.base import MAX_PHYS_ADDR, FileMemory, PhysRange
from efitables.memory.raw import shrank_reason

LIME_MAGIC = 0x4C694D45
LIME_VERSION = 1
_HDR = struct.Struct("<IIQQ8s")
HEADER_SIZE = _HDR.size  # 32
#: Ranges indexed at most (LiME writes one per System RAM resource: a few dozen; each costs 32 bytes
#: of index).
MAX_RANGES = 1 << 20
#: Distinct header versions remembered (each other than 1 is noted once).
MAX_VERSIONS = 16

LIME_TRUNCATED = register(
    "LIME-TRUNCATED",
    Severity.WARNING,
    "LiME file ends inside a range",
    "The range's bytes that are in the file stay readable; the rest is missing.",
)
LIME_BAD_HEADER = register(
    "LIME-BAD-HEADER",
    Severity.WARNING,
    "A LiME range header is invalid; the ranges after it are ignored",
)
LIME_OVERLAP = register(
    "LIME-OVERLAP",
    Severity.WARNING,
    "Two LiME ranges describe the same physical bytes; the first is used",
)
LIME_VERSION_UNKNOWN = register(
    "LIME-VERSION",
    Severity.INFO,
    "A LiME range header has a version other than 1",
)


@dataclass(frozen=True)
class LimeRange:
    """One range as the file describes it: physical ``[start, end)`` at ``file_offset``."""

    start: int
    end: int
    file_offset: int
    header_offset: int


class LimeMemory(FileMemory):
    format = "lime"

    def _init(self) -> None:
        size = self.info.file_size
        if size < HEADER_SIZE:
            raise DumpFormatError(self.path, f"file of {size} bytes is shorter than a LiME header")
        src = self._src
        # the ranges as the file gives them: physical start, end, file offset of the data, of the header
        r_start, r_end, r_data, r_head = array("q"), array("q"), array("q"), array("q")
        versions: set[int] = set()
        pos = 0
        while pos + HEADER_SIZE <= size:
            magic, version, s_addr, e_addr, _res = _HDR.unpack(src.pread(HEADER_SIZE, pos))
            where = f"LiME header at file offset {pos:#x}"
            problem = None
            # a header that fails its checks may be memory contents (a walk gone astray): its values
            # are not quoted, only what is wrong with them
            if magic != LIME_MAGIC:
                problem = f"{where}: magic is not LiME's ({LIME_MAGIC:#010x})"
            elif e_addr < s_addr:
                problem = f"{where}: the range's end is below its start"
            elif e_addr >= MAX_PHYS_ADDR:
                problem = f"{where}: the range's end is beyond the 52-bit physical address space"
            elif len(r_start) >= MAX_RANGES:
                problem = f"{where}: more than {MAX_RANGES} ranges"
            if problem is not None:
                if not r_start:
                    raise DumpFormatError(self.path, problem)
                self.capped.add(LIME_BAD_HEADER, "LiME range header", None,
                                f"{problem}; {size - pos:#x} bytes from here are ignored")
                break
            if version != LIME_VERSION and version not in versions:
                self.capped.add(LIME_VERSION_UNKNOWN, "LiME range header", s_addr,
                                f"{where}: version {version}, read as version 1")
                if len(versions) < MAX_VERSIONS:
                    versions.add(version)
            elif version == LIME_VERSION:
                versions.add(version)
            length = e_addr - s_addr + 1
            data = pos + HEADER_SIZE
            avail = min(length, size - data)
            if avail < length:
                self.capped.add(LIME_TRUNCATED, "LiME range", s_addr + avail,
                                f"range {s_addr:#x}-{e_addr:#x} is cut after {avail:#x} bytes; physical "
                                f"{s_addr + avail:#x}-{e_addr:#x} is missing")
            if avail > 0:
                r_start.append(s_addr)
                r_end.append(s_addr + avail)
                r_data.append(data)
                r_head.append(pos)
            pos = data + length
        self._r_start, self._r_end, self._r_data, self._r_head = r_start, r_end, r_data, r_head
        starts, ends, self._seg_data = self._dedupe()
        self._set_range_arrays(starts, ends)
        self.info.details.update({"ranges": len(r_start), "versions": sorted(versions)})

    @property
    def lime_ranges(self) -> list[LimeRange]:
        """The ranges as the file describes them, in file order."""
        return [LimeRange(s, e, d, h) for s, e, d, h in zip(self._r_start, self._r_end, self._r_data, self._r_head,
                                                                strict=True)]

    def _dedupe(self) -> tuple[array, array, array]:
        """The ranges sorted by address (file order at one address), each byte kept from the first range
        that covers it: one sort, then one pass."""
        rs, re_, rd, rh = self._r_start, self._r_end, self._r_data, self._r_head
        starts, ends, datas = array("q"), array("q"), array("q")
        heads = array("q")
        for i in sorted(range(len(rs)), key=lambda i: (rs[i], rh[i])):
            s, e, d, h = rs[i], re_[i], rd[i], rh[i]
            if ends and s < ends[-1]:
                self.capped.add(LIME_OVERLAP, "LiME range", s,
                                f"range {s:#x}-{e - 1:#x} (header at {h:#x}) overlaps "
                                f"{starts[-1]:#x}-{ends[-1] - 1:#x} (header at {heads[-1]:#x})")
                if e <= ends[-1]:
                    continue
                cut = ends[-1] - s
                s, d = ends[-1], d + cut
            starts.append(s)
            ends.append(e)
            datas.append(d)
            heads.append(h)
        return starts, ends, datas

    def _load_ranges(self) -> list[PhysRange]:
        return []  # never called: the ranges are set at open

    def _read(self, pa: int, size: int) -> bytes:
        i = self._range_index(pa)
        assert i is not None
        off = self._seg_data[i] + (pa - self._starts[i])
        data = self._src.pread(size, off)
        if len(data) < size:  # pread, not a mapping: a file that shrank must not be a SIGBUS
            raise MemoryReadError(pa, size, reason=shrank_reason(self._src, self.info.file_size))
        return data


def _sniff(head: bytes) -> bool:
    return len(head) >= 8 and struct.unpack_from("<I", head)[0] == LIME_MAGIC


register_format(ContainerFormat("lime", "LiME (Linux Memory Extractor) range file", _sniff, LimeMemory))
