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

import os
import struct
from dataclasses import dataclass

from efitables.errors import DumpFormatError, MemoryReadError
from efitables.findings import Severity, make, register
from efitables.memory import ContainerFormat, register_format
from efitables.memory.base import MAX_PHYS_ADDR, FileMemory, PhysRange
from efitables.memory.raw import shrank_reason

LIME_MAGIC = 0x4C694D45
LIME_VERSION = 1
_HDR = struct.Struct("<IIQQ8s")
HEADER_SIZE = _HDR.size  # 32
#: Ranges indexed at most (LiME writes one per System RAM resource: a few dozen).
MAX_RANGES = 1 << 16

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
        fd = self._fh.fileno()
        ranges: list[LimeRange] = []
        versions: set[int] = set()
        pos = 0
        while pos + HEADER_SIZE <= size:
            magic, version, s_addr, e_addr, _res = _HDR.unpack(os.pread(fd, HEADER_SIZE, pos))
            where = f"LiME header at file offset {pos:#x}"
            problem = None
            if magic != LIME_MAGIC:
                problem = f"{where}: magic {magic:#010x} is not {LIME_MAGIC:#010x}"
            elif e_addr < s_addr or e_addr >= MAX_PHYS_ADDR:
                problem = f"{where}: range {s_addr:#x}-{e_addr:#x} is impossible"
            elif len(ranges) >= MAX_RANGES:
                problem = f"{where}: more than {MAX_RANGES} ranges"
            if problem is not None:
                if not ranges:
                    raise DumpFormatError(self.path, problem)
                self.info.findings.append(make(LIME_BAD_HEADER, "LiME range header", None,
                                               f"{problem}; {size - pos:#x} bytes from here are ignored"))
                break
            if version != LIME_VERSION and version not in versions:
                self.info.findings.append(make(LIME_VERSION_UNKNOWN, "LiME range header", s_addr,
                                               f"{where}: version {version}, read as version 1"))
            versions.add(version)
            length = e_addr - s_addr + 1
            data = pos + HEADER_SIZE
            avail = min(length, size - data)
            if avail < length:
                self.info.findings.append(make(
                    LIME_TRUNCATED, "LiME range", s_addr + avail,
                    f"range {s_addr:#x}-{e_addr:#x} is cut after {avail:#x} bytes; physical "
                    f"{s_addr + avail:#x}-{e_addr:#x} is missing"))
            if avail > 0:
                ranges.append(LimeRange(s_addr, s_addr + avail, data, pos))
            pos = data + length
        self.lime_ranges = ranges
        self._segs = self._dedupe(ranges)
        self._seg_by_start = {r.start: r for r in self._segs}
        self._set_ranges([PhysRange(r.start, r.end) for r in self._segs])
        self.info.details.update({"ranges": len(ranges), "versions": sorted(versions)})

    def _dedupe(self, ranges: list[LimeRange]) -> list[LimeRange]:
        out: list[LimeRange] = []
        for r in sorted(ranges, key=lambda r: (r.start, r.header_offset)):
            if out and r.start < out[-1].end:
                prev = out[-1]
                self.info.findings.append(make(
                    LIME_OVERLAP, "LiME range", r.start,
                    f"range {r.start:#x}-{r.end - 1:#x} (header at {r.header_offset:#x}) overlaps "
                    f"{prev.start:#x}-{prev.end - 1:#x} (header at {prev.header_offset:#x})"))
                if r.end <= prev.end:
                    continue
                cut = prev.end - r.start
                r = LimeRange(prev.end, r.end, r.file_offset + cut, r.header_offset)
            out.append(r)
        return out

    def _load_ranges(self) -> list[PhysRange]:
        return [PhysRange(r.start, r.end) for r in self._segs]

    def _read(self, pa: int, size: int) -> bytes:
        i = self._range_index(pa)
        assert i is not None
        seg = self._seg_by_start[self._ranges[i].start]
        off = seg.file_offset + (pa - seg.start)
        data = os.pread(self._fh.fileno(), size, off)
        if len(data) < size:  # pread, not a mapping: a file that shrank must not be a SIGBUS
            raise MemoryReadError(pa, size, reason=shrank_reason(self._fh.fileno(), self.info.file_size))
        return data



def _sniff(head: bytes) -> bool:
    return len(head) >= 8 and struct.unpack_from("<I", head)[0] == LIME_MAGIC


register_format(ContainerFormat("lime", "LiME (Linux Memory Extractor) range file", _sniff, LimeMemory))
