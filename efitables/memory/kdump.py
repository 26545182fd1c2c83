"""kdump-compressed dumps (makedumpfile / QEMU ``dump-guest-memory -z``), plain and flattened.

Layout of the plain ("diskdump") file, in blocks of ``block_size`` bytes (the
page size)::

    block 0                  struct disk_dump_header   ("KDUMP   " or "DISKDUMP")
    block 1 .. sub_hdr_size  struct kdump_sub_header, then notes, VMCOREINFO, eraseinfo
    next bitmap_blocks       1st bitmap (pages that exist), 2nd bitmap (pages dumped),
                             each bitmap_blocks * block_size / 2 bytes, bit N = PFN N
                             (LSB first in each byte)
    then                     page_desc_t[one per set bit of the 2nd bitmap, in PFN order]
    then                     page data, each page zlib/lzo/snappy/zstd-compressed or raw

``struct disk_dump_header`` (x86-64 offsets): signature[8] @0, header_version
i32 @8, utsname (6 x 65 chars) @12, struct timeval @408, status u32 @424,
block_size i32 @428, sub_hdr_size i32 @432, bitmap_blocks u32 @436, max_mapnr
u32 @440, total_ram_blocks, device_blocks, written_blocks, current_cpu u32
@444..@456, nr_cpus i32 @460. ``struct kdump_sub_header`` (at block 1):
phys_base u64 @0, dump_level i32 @8, split i32 @12, start_pfn @16, end_pfn @24
(32-bit, obsolete), offset_vmcoreinfo @32, size_vmcoreinfo @40 (version >= 3),
offset_note @48, size_note @56 (>= 4), offset_eraseinfo @64, size_eraseinfo @72
(>= 5), start_pfn_64 @80, end_pfn_64 @88, max_mapnr_64 @96 (>= 6).
``page_desc_t``: offset i64 (file offset of the page data), size u32, flags u32
(``DUMP_DH_COMPRESSED_ZLIB`` 0x1, ``_LZO`` 0x2, ``_SNAPPY`` 0x4, ``_ZSTD`` 0x20;
none = the page is stored raw), page_flags u64. Both makedumpfile and QEMU
store every all-zero page once and point all zero pages' descriptors at it.

The **flattened** format (``makedumpfile -F``, and what QEMU 7.2 writes for every
``kdump-*`` format) is a stream made for pipes: a 4096-byte
``makedumpfile_header`` (signature "makedumpfile", i64 type = 1, i64 version = 1,
big-endian), then records ``{i64 offset; i64 buf_size}`` (big-endian) each
followed by ``buf_size`` bytes that belong at ``offset`` of the plain file,
ended by a record whose offset and size are -1. ``makedumpfile -R`` converts it
to the plain layout. Here the records are indexed once at open (one pass over
the 16-byte record headers, never over the data; three ``array('q')`` entries
per record, at most :data:`MAX_FLAT_RECORDS` records) and the plain file is
read through that index, so nothing is converted or copied up front. Records
that rewrite bytes written earlier (makedumpfile rewrites its headers at the
end) win over the older ones, as they do in ``makedumpfile -R``.

Pages are decompressed on demand into a small LRU cache (the shared zero page
stays in it). Codecs: zlib (stdlib), LZO1X through ``lzokay``, raw snappy and
zstd through ``cramjam``; each decompresses into a buffer of exactly one page,
so a corrupt page can never make an allocation larger than ``block_size``.
(lzokay was checked against liblzo2 2.10's ``lzo1x_1_compress``, the function
makedumpfile uses, on 300 pages; python-lzo itself ships no wheel.)

Sources: makedumpfile diskdump_mod.h (``disk_dump_header``,
``kdump_sub_header``, ``page_desc_t``, ``DUMP_DH_*``) and makedumpfile.h
(``makedumpfile_header``, ``makedumpfile_data_header``, ``MAX_SIZE_MDF_HEADER``,
``END_FLAG_FLAT_HEADER``) from makedumpfile/makedumpfile; QEMU dump/dump.c and
include/sysemu/dump.h (``create_header64``, ``write_dump_bitmap``,
``write_dump_pages``, flattened output in ``write_start_flat_header`` /
``write_buffer``); crash diskdump.c (how a reader treats the two bitmaps).
"""

from __future__ import annotations

import heapq
import os
import re
import struct
import zlib
from array import array
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from efitables.errors import DumpFormatError, MemoryReadError
from efitables.findings import Severity, make, register
from efitables.memory import ContainerFormat, register_format
from efitables.memory.base import MAX_PHYS_ADDR, FileMemory, PhysRange
from efitables.memory.raw import shrank_reason
from efitables.memory.vmcoreinfo import MAX_VMCOREINFO, parse_vmcoreinfo

KDUMP_SIGNATURE = b"KDUMP   "
DISKDUMP_SIGNATURE = b"DISKDUMP"
MDF_SIGNATURE = b"makedumpfile"
MDF_HEADER_SIZE = 4096  # MAX_SIZE_MDF_HEADER
MDF_TYPE_FLAT = 1
MDF_END = -1

DUMP_DH_COMPRESSED_ZLIB = 0x1
DUMP_DH_COMPRESSED_LZO = 0x2
DUMP_DH_COMPRESSED_SNAPPY = 0x4
DUMP_DH_COMPRESSED_INCOMPLETE = 0x8
DUMP_DH_EXCLUDED_VMEMMAP = 0x10
DUMP_DH_COMPRESSED_ZSTD = 0x20
_COMPRESSION_MASK = (
    DUMP_DH_COMPRESSED_ZLIB | DUMP_DH_COMPRESSED_LZO | DUMP_DH_COMPRESSED_SNAPPY | DUMP_DH_COMPRESSED_ZSTD
)
COMPRESSION_NAMES = {
    DUMP_DH_COMPRESSED_ZLIB: "zlib",
    DUMP_DH_COMPRESSED_LZO: "lzo",
    DUMP_DH_COMPRESSED_SNAPPY: "snappy",
    DUMP_DH_COMPRESSED_ZSTD: "zstd",
}

_HDR = struct.Struct("<8si390s6xqqIiiIIIIIIi")  # disk_dump_header up to nr_cpus
HEADER_SIZE = 464  # sizeof(struct disk_dump_header) on x86-64, tasks[] included
_SUB = struct.Struct("<QiiQQqQqQqQQQQ")  # kdump_sub_header, version 6
_PAGE_DESC = struct.Struct("<qIIQ")
PAGE_DESC_SIZE = _PAGE_DESC.size  # 24
_FLAT_REC = struct.Struct(">qq")

#: At most this many present runs (a very fragmented filtered dump has more).
MAX_RUNS = 1 << 20
#: At most this many flattened records are indexed (24 bytes each).
MAX_FLAT_RECORDS = 1 << 22
#: Decompressed pages kept.
PAGE_CACHE_PAGES = 256
#: Page descriptors read per batch.
DESC_BATCH = 512
#: Bitmap bytes processed at a time.
BITMAP_CHUNK = 1 << 20
#: Largest page a kdump may declare.
MAX_BLOCK_SIZE = 1 << 16
#: Bad pages reported as findings (the rest only raise on read).
MAX_PAGE_FINDINGS = 32

KDUMP_TRUNCATED = register(
    "KDUMP-TRUNCATED",
    Severity.WARNING,
    "kdump file ends before its page descriptors or page data do",
    "Pages whose descriptor or data lies past the end of the file are missing; the pages "
    "before them stay readable. makedumpfile marks a dump it could not finish with "
    "DUMP_DH_COMPRESSED_INCOMPLETE.",
)
KDUMP_INCOMPLETE = register(
    "KDUMP-INCOMPLETE",
    Severity.WARNING,
    "kdump header says the dump is incomplete",
    "makedumpfile sets DUMP_DH_COMPRESSED_INCOMPLETE when it ran out of space; pages never "
    "written have empty descriptors and read as missing.",
)
KDUMP_FILTERED = register(
    "KDUMP-FILTERED",
    Severity.INFO,
    "Pages of RAM were left out of the kdump (makedumpfile dump level)",
    "The first bitmap lists pages that existed, the second those written; the difference "
    "(zero, cache, user or free pages, by dump level) reads as missing.",
)
KDUMP_BAD_HEADER = register(
    "KDUMP-BAD-HEADER",
    Severity.WARNING,
    "A kdump header field is inconsistent and was clamped",
)
KDUMP_BAD_PAGE = register(
    "KDUMP-BAD-PAGE",
    Severity.WARNING,
    "A kdump page descriptor or its compressed data is invalid",
    "The page cannot be read; reads that touch it fail with a reason naming the page.",
)
KDUMP_PHYS_BASE = register(
    "KDUMP-PHYS-BASE",
    Severity.INFO,
    "kdump sub-header phys_base differs from VMCOREINFO's NUMBER(phys_base)",
    "QEMU (7.2 at least) reads the guest's NUMBER(phys_base), a signed decimal, as hexadecimal "
    "and stores that in the sub-header; VMCOREINFO's value is the kernel's own.",
)
KDUMP_FLAT_TRUNCATED = register(
    "KDUMP-FLAT-TRUNCATED",
    Severity.WARNING,
    "Flattened kdump stream ends without its end record",
    "The records before the cut are used; the plain file they describe may lack its end.",
)
KDUMP_FLAT_OVERLAP = register(
    "KDUMP-FLAT-OVERLAP",
    Severity.INFO,
    "Flattened kdump records rewrite earlier bytes; the later records are used",
)


# ---------------------------------------------------------------------------
# The plain file, read directly or through the flattened index
# ---------------------------------------------------------------------------
class _PlainFile:
    """The diskdump file itself (read with pread: a file that shrinks gives short reads, not SIGBUS)."""

    flattened = False

    def __init__(self, fh, size: int) -> None:  # noqa: ANN001 (binary file object)
        self.size = size
        self._fd = fh.fileno()

    def read(self, off: int, n: int) -> bytes:
        if off < 0 or n <= 0 or off >= self.size:
            return b""
        return os.pread(self._fd, min(n, self.size - off), off)

    def close(self) -> None:
        pass  # the container closes the file


class _FlatFile:
    """The plain file that a flattened stream describes, read through an index of its records.

    Pieces (sorted, non-overlapping) map plain-file ``[start, start+length)`` to
    stream offset ``src``. Bytes no record wrote read as zeros (as in the file
    ``makedumpfile -R`` writes); ``size`` is the end of the last byte written.
    Everything is read with pread (16 bytes per record header at open).
    """

    flattened = True

    def __init__(self, path: str, fh, size: int, findings: list) -> None:  # noqa: ANN001
        self._fd = fd = fh.fileno()
        head = os.pread(fd, MDF_HEADER_SIZE, 0)
        ftype, version = struct.unpack_from(">qq", head, 16)
        if ftype != MDF_TYPE_FLAT:
            raise DumpFormatError(path, f"flattened kdump header type {ftype} is not {MDF_TYPE_FLAT}")
        self.version = version
        starts, lengths, srcs = array("q"), array("q"), array("q")
        pos = MDF_HEADER_SIZE
        ended = False
        while pos + 16 <= size:
            rec = os.pread(fd, 16, pos)
            if len(rec) < 16:
                break
            off, buf_size = _FLAT_REC.unpack(rec)
            if off == MDF_END and buf_size == MDF_END:
                ended = True
                break
            if off < 0 or buf_size < 0 or off + buf_size > (1 << 62):
                raise DumpFormatError(
                    path, f"flattened kdump record at file offset {pos:#x} has offset {off:#x} size {buf_size:#x}"
                )
            if len(starts) >= MAX_FLAT_RECORDS:
                raise DumpFormatError(
                    path, f"flattened kdump has more than {MAX_FLAT_RECORDS} records; convert it with makedumpfile -R"
                )
            data = pos + 16
            avail = min(buf_size, size - data)
            if avail < buf_size:
                findings.append(
                    make(KDUMP_FLAT_TRUNCATED, "flattened kdump record", None,
                         f"record at file offset {pos:#x} (plain offset {off:#x}, {buf_size:#x} bytes) is cut "
                         f"after {max(avail, 0):#x} bytes by the end of the file")
                )
            if avail > 0:
                starts.append(off)
                lengths.append(avail)
                srcs.append(data)
            pos = data + buf_size
        if not ended and not any(f.code == KDUMP_FLAT_TRUNCATED for f in findings):
            findings.append(
                make(KDUMP_FLAT_TRUNCATED, "flattened kdump", None,
                     f"no end record; the stream stops at file offset {min(pos, size):#x}")
            )
        self.records = len(starts)
        self._starts, self._lengths, self._srcs = self._resolve(starts, lengths, srcs, findings)
        n = len(self._starts)
        self.size = self._starts[-1] + self._lengths[-1] if n else 0

    @staticmethod
    def _resolve(starts: array, lengths: array, srcs: array, findings: list) -> tuple[array, array, array]:
        n = len(starts)
        order = sorted(range(n), key=starts.__getitem__)
        overlap = any(
            starts[order[k]] + lengths[order[k]] > starts[order[k + 1]] for k in range(n - 1)
        )
        if not overlap:
            return (array("q", (starts[i] for i in order)), array("q", (lengths[i] for i in order)),
                    array("q", (srcs[i] for i in order)))
        # Later records win: sweep the boundaries, the active record with the
        # highest sequence number owns each stretch.
        findings.append(make(KDUMP_FLAT_OVERLAP, "flattened kdump", None,
                             "some records rewrite bytes of earlier ones; the later bytes are used"))
        bounds = sorted({starts[i] for i in range(n)} | {starts[i] + lengths[i] for i in range(n)})
        out_s, out_l, out_src = array("q"), array("q"), array("q")
        heap: list[tuple[int, int]] = []  # (-seq, end)
        k = 0
        for bi in range(len(bounds) - 1):
            x, nx = bounds[bi], bounds[bi + 1]
            while k < n and starts[order[k]] <= x:
                i = order[k]
                heapq.heappush(heap, (-i, starts[i] + lengths[i]))
                k += 1
            while heap and heap[0][1] <= x:
                heapq.heappop(heap)
            if not heap:
                continue
            i = -heap[0][0]
            src = srcs[i] + (x - starts[i])
            if out_s and out_s[-1] + out_l[-1] == x and out_src[-1] + out_l[-1] == src:
                out_l[-1] += nx - x
            else:
                out_s.append(x)
                out_l.append(nx - x)
                out_src.append(src)
        return out_s, out_l, out_src

    def read(self, off: int, n: int) -> bytes:
        if off < 0 or n <= 0 or off >= self.size:
            return b""
        end = min(off + n, self.size)
        starts, lengths, srcs = self._starts, self._lengths, self._srcs
        count = len(starts)
        parts: list[bytes] = []
        cur = off
        i = bisect_right(starts, cur) - 1  # invariant: the last piece starting at or before cur
        while cur < end:
            if i >= 0 and cur < starts[i] + lengths[i]:
                piece_end = min(end, starts[i] + lengths[i])
                src = srcs[i] + (cur - starts[i])
                data = os.pread(self._fd, piece_end - cur, src)
                parts.append(data)
                if len(data) < piece_end - cur:  # the file shrank: a short read, as past its end
                    break
                cur = piece_end
            else:  # a stretch no record wrote reads as zeros
                gap_end = min(end, starts[i + 1]) if i + 1 < count else end
                parts.append(bytes(gap_end - cur))
                cur = gap_end
            if i + 1 < count and starts[i + 1] <= cur:
                i += 1
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def close(self) -> None:
        pass  # the container closes the file


# ---------------------------------------------------------------------------
# Codecs (each fills exactly one page or fails)
# ---------------------------------------------------------------------------
def _zlib(data: bytes, size: int) -> bytes:
    d = zlib.decompressobj()
    out = d.decompress(data, size)
    if len(out) != size or d.unconsumed_tail or not d.eof:
        raise ValueError(f"zlib data decompresses to {len(out)}{'+' if d.unconsumed_tail else ''} bytes, not {size}")
    return out


def _lzo(data: bytes, size: int) -> bytes:
    import lzokay  # optional until an LZO page is read

    out = lzokay.decompress(data, size)
    if len(out) != size:
        raise ValueError(f"LZO data decompresses to {len(out)} bytes, not {size}")
    return bytes(out)


def _snappy(data: bytes, size: int) -> bytes:
    import cramjam

    n = cramjam.snappy.decompress_raw_len(data)
    if n != size:
        raise ValueError(f"snappy data declares {n} bytes, not {size}")
    buf = bytearray(size)
    got = cramjam.snappy.decompress_raw_into(data, buf)
    if got != size:
        raise ValueError(f"snappy data decompresses to {got} bytes, not {size}")
    return bytes(buf)


def _zstd(data: bytes, size: int) -> bytes:
    import cramjam

    buf = bytearray(size)
    got = cramjam.zstd.decompress_into(data, buf)
    if got != size:
        raise ValueError(f"zstd data decompresses to {got} bytes, not {size}")
    return bytes(buf)


_CODECS: dict[int, Callable[[bytes, int], bytes]] = {
    DUMP_DH_COMPRESSED_ZLIB: _zlib,
    DUMP_DH_COMPRESSED_LZO: _lzo,
    DUMP_DH_COMPRESSED_SNAPPY: _snappy,
    DUMP_DH_COMPRESSED_ZSTD: _zstd,
}
_CODEC_PACKAGES = {DUMP_DH_COMPRESSED_LZO: "lzokay", DUMP_DH_COMPRESSED_SNAPPY: "cramjam",
                   DUMP_DH_COMPRESSED_ZSTD: "cramjam"}


@dataclass(frozen=True)
class PageDesc:
    """One ``page_desc_t``."""

    offset: int
    size: int
    flags: int
    page_flags: int

    @property
    def compression(self) -> str:
        return COMPRESSION_NAMES.get(self.flags & _COMPRESSION_MASK, "none")


# ---------------------------------------------------------------------------
# Bitmap runs
# ---------------------------------------------------------------------------
def _bitmap_runs(
    read: Callable[[int, int], bytes], off: int, nbytes: int, pfn_lo: int, pfn_hi: int
) -> tuple[list[tuple[int, int]], int]:
    """Runs ``[start_pfn, end_pfn)`` of set bits within ``[pfn_lo, pfn_hi)``.

    Returns (runs, number of set bits in the window). Reads the bitmap in
    :data:`BITMAP_CHUNK` pieces; whole 0x00 and 0xFF bytes are skipped by a
    regular-expression search, so the cost follows the number of runs.
    """
    runs: list[tuple[int, int]] = []
    run_start = -1
    nonzero = _NONZERO
    nonff = _NONFF
    first_byte = pfn_lo >> 3
    last_byte = min(nbytes, (pfn_hi + 7) >> 3)
    base = first_byte
    while base < last_byte:
        chunk = read(off + base, min(BITMAP_CHUNK, last_byte - base))
        if not chunk:
            break
        n = len(chunk)
        pos = 0
        while pos < n:
            m = (nonff if run_start >= 0 else nonzero).search(chunk, pos)
            if m is None:
                break
            pos = m.start()
            b = chunk[pos]
            pfn0 = (base + pos) << 3
            for bit in range(8):
                pfn = pfn0 + bit
                if (b >> bit) & 1 and pfn_lo <= pfn < pfn_hi:
                    if run_start < 0:
                        run_start = pfn
                elif run_start >= 0:
                    runs.append((run_start, pfn))
                    run_start = -1
                    if len(runs) > MAX_RUNS:
                        return runs, -1  # the caller refuses the dump; stop growing the list
            pos += 1
        base += n
    if run_start >= 0:
        runs.append((run_start, min(pfn_hi, base << 3)))
    return runs, sum(e - s for s, e in runs)


def _bitmap_count(read: Callable[[int, int], bytes], off: int, nbytes: int, pfn_lo: int, pfn_hi: int) -> int:
    """Number of set bits of the bitmap within ``[pfn_lo, pfn_hi)``."""
    total = 0
    first_byte = pfn_lo >> 3
    last_byte = min(nbytes, (pfn_hi + 7) >> 3)
    base = first_byte
    while base < last_byte:
        chunk = read(off + base, min(BITMAP_CHUNK, last_byte - base))
        if not chunk:
            break
        value = int.from_bytes(chunk, "little")
        lo = pfn_lo - (base << 3)
        hi = pfn_hi - (base << 3)
        if lo > 0:
            value &= ~((1 << lo) - 1)
        if hi < len(chunk) * 8:
            value &= (1 << max(hi, 0)) - 1
        total += value.bit_count()
        base += len(chunk)
    return total


_NONZERO = re.compile(rb"[^\x00]")
_NONFF = re.compile(rb"[^\xff]")


# ---------------------------------------------------------------------------
# The container
# ---------------------------------------------------------------------------
class KdumpMemory(FileMemory):
    """A kdump-compressed dump, plain or flattened."""

    format = "kdump"

    _file: _PlainFile | _FlatFile | None = None

    # -- opening ----------------------------------------------------------
    def _init(self) -> None:
        size = self.info.file_size
        if size < 8:
            raise DumpFormatError(self.path, f"file of {size} bytes is too short for a kdump header")
        head = self._fh.read(16)
        if head.startswith(MDF_SIGNATURE):
            if size < MDF_HEADER_SIZE:
                raise DumpFormatError(self.path, "flattened kdump shorter than its 4096-byte header")
            self._file = _FlatFile(self.path, self._fh, size, self.info.findings)
            self.info.details.update(
                {"flattened": True, "flat_records": self._file.records, "plain_size": self._file.size}
            )
        else:
            self._file = _PlainFile(self._fh, size)
            self.info.details["flattened"] = False
        f = self._file
        hdr = f.read(0, HEADER_SIZE)
        if len(hdr) < _HDR.size:
            raise DumpFormatError(self.path, f"kdump header is cut short ({len(hdr)} of {_HDR.size} bytes)")
        (sig, version, utsname, tv_sec, tv_usec, status, block_size, sub_hdr_size, bitmap_blocks,
         max_mapnr32, _total_ram, _device_blocks, _written, _cur_cpu, nr_cpus) = _HDR.unpack_from(hdr)
        if sig not in (KDUMP_SIGNATURE, DISKDUMP_SIGNATURE):
            raise DumpFormatError(self.path, f"no kdump signature (found {sig!r})")
        if block_size <= 0 or block_size > MAX_BLOCK_SIZE or block_size & (block_size - 1) or block_size < 512:
            raise DumpFormatError(
                self.path, f"kdump block_size {block_size} is not a power of two in 512..{MAX_BLOCK_SIZE}")
        if sub_hdr_size < 0 or bitmap_blocks == 0:
            raise DumpFormatError(
                self.path, f"kdump sub_hdr_size {sub_hdr_size} / bitmap_blocks {bitmap_blocks} is impossible")
        self.block_size = block_size
        self.page_shift = block_size.bit_length() - 1
        uts = [utsname[i * 65 : (i + 1) * 65].split(b"\0", 1)[0].decode("ascii", "backslashreplace")
               for i in range(6)]
        compression = status & _COMPRESSION_MASK
        d = self.info.details
        d.update({
            "signature": sig.decode("ascii").strip(),
            "header_version": version,
            "block_size": block_size,
            "status": status,
            "compression": COMPRESSION_NAMES.get(compression, "none" if not compression else f"{compression:#x}"),
            "sysname": uts[0], "nodename": uts[1], "release": uts[2], "version": uts[3], "machine": uts[4],
            "timestamp": tv_sec + tv_usec / 1e6,
            "nr_cpus": nr_cpus,
            "sub_hdr_size": sub_hdr_size,
            "bitmap_blocks": bitmap_blocks,
        })
        if status & DUMP_DH_COMPRESSED_INCOMPLETE:
            self.info.findings.append(make(KDUMP_INCOMPLETE, "kdump header", None,
                                           f"status {status:#x} has DUMP_DH_COMPRESSED_INCOMPLETE"))

        max_mapnr = max_mapnr32
        pfn_lo, pfn_hi = 0, None
        if sig == KDUMP_SIGNATURE:
            sub = f.read(block_size, _SUB.size)
            sub = sub + bytes(_SUB.size - len(sub))
            (phys_base, dump_level, split, start_pfn, end_pfn, off_vmci, size_vmci, off_note, size_note,
             _off_erase, _size_erase, start_pfn_64, end_pfn_64, max_mapnr_64) = _SUB.unpack(sub)
            d.update({"phys_base": phys_base, "dump_level": dump_level if version >= 1 else None})
            if version >= 6:
                max_mapnr = max_mapnr_64
            if version >= 2 and split:
                pfn_lo, pfn_hi = (start_pfn_64, end_pfn_64) if version >= 6 else (start_pfn, end_pfn)
                d.update({"split": True, "start_pfn": pfn_lo, "end_pfn": pfn_hi})
            if version >= 3 and size_vmci:
                self._load_vmcoreinfo(off_vmci, size_vmci)
            if version >= 4 and size_note:
                self._load_notes(off_note, size_note)
            self._check_phys_base(phys_base)
        d["max_mapnr"] = max_mapnr

        bitmap_off = block_size * (1 + sub_hdr_size)
        bitmap_bytes = bitmap_blocks * block_size
        half = bitmap_bytes // 2
        if max_mapnr > MAX_PHYS_ADDR >> self.page_shift:
            raise DumpFormatError(self.path, f"kdump max_mapnr {max_mapnr:#x} is beyond 52-bit physical memory")
        if max_mapnr > half * 8:
            self.info.findings.append(make(
                KDUMP_BAD_HEADER, "kdump header", None,
                f"max_mapnr {max_mapnr:#x} needs more than the {half:#x}-byte bitmaps hold; clamped to {half * 8:#x}"))
            max_mapnr = half * 8
        if bitmap_off + bitmap_bytes > f.size:
            raise DumpFormatError(
                self.path, f"kdump bitmaps (offset {bitmap_off:#x}, {bitmap_bytes:#x} bytes) run past the end of "
                f"the {'plain stream' if f.flattened else 'file'} ({f.size:#x} bytes)")
        if pfn_hi is None or pfn_hi > max_mapnr:
            pfn_hi = max_mapnr
        pfn_lo = min(pfn_lo, pfn_hi)

        runs, dumped = _bitmap_runs(f.read, bitmap_off + half, half, pfn_lo, pfn_hi)
        if len(runs) > MAX_RUNS:
            raise DumpFormatError(self.path, f"kdump bitmap has more than {MAX_RUNS} separate runs of pages")
        existing = _bitmap_count(f.read, bitmap_off, half, pfn_lo, pfn_hi)
        d["pages_dumped"] = dumped
        d["pages_in_first_bitmap"] = existing
        if existing > dumped:
            self.info.findings.append(make(
                KDUMP_FILTERED, "kdump bitmap", None,
                f"{existing - dumped} of {existing} pages were not written (dump_level {d.get('dump_level')})"))

        self._desc_off = bitmap_off + bitmap_bytes
        fit = max(0, (f.size - self._desc_off) // PAGE_DESC_SIZE)
        if fit < dumped:
            self.info.findings.append(make(
                KDUMP_TRUNCATED, "kdump page descriptors", None,
                f"{dumped} pages dumped but the file holds descriptors for only {fit}; the rest are missing"))
            runs = _truncate_runs(runs, fit)
        self._run_pfn = array("q", (r[0] for r in runs))
        self._run_desc = array("q")
        acc = 0
        for s, e in runs:
            self._run_desc.append(acc)
            acc += e - s
        self._n_desc = acc
        self._runs = runs
        self._desc_cache: tuple[int, bytes] = (-1, b"")
        self._page_cache: OrderedDict[tuple[int, int, int], bytes] = OrderedDict()
        self._bad_pages: set[int] = set()
        sh = self.page_shift
        self._set_ranges([PhysRange(s << sh, e << sh) for s, e in runs])

    def _check_phys_base(self, phys_base: int) -> None:
        text = (self.info.vmcoreinfo or {}).get("NUMBER(phys_base)")
        if text is None:
            return
        try:
            value = int(text, 10) & 0xFFFFFFFFFFFFFFFF
        except ValueError:
            return
        if value == phys_base:
            return
        how = ""
        try:
            if int(text, 16) & 0xFFFFFFFFFFFFFFFF == phys_base:
                how = f" (the decimal {text} read as hexadecimal, as QEMU's dump code does)"
        except ValueError:
            pass
        self.info.details["phys_base_vmcoreinfo"] = value
        self.info.findings.append(make(
            KDUMP_PHYS_BASE, "kdump sub-header", None,
            f"phys_base {phys_base:#x}{how}; VMCOREINFO says NUMBER(phys_base)={text} ({value:#x})"))

    def _load_vmcoreinfo(self, off: int, size: int) -> None:
        data = self._file.read(off, min(size, MAX_VMCOREINFO)) if self._file else b""
        self.info.details["vmcoreinfo_offset"] = off
        if data:
            self.info.vmcoreinfo = parse_vmcoreinfo(data)

    def _load_notes(self, off: int, size: int) -> None:
        data = self._file.read(off, min(size, 16 * 1024 * 1024)) if self._file else b""
        names = []
        pos = 0
        while pos + 12 <= len(data):
            namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
            if namesz == 0 and descsz == 0 and ntype == 0:
                break
            desc_off = pos + 12 + ((namesz + 3) & ~3)
            if desc_off + descsz > len(data):
                break
            name = data[pos + 12 : pos + 12 + namesz].split(b"\0", 1)[0].decode("ascii", "backslashreplace")
            names.append(f"{name}/{ntype}")
            if name == "VMCOREINFO" and self.info.vmcoreinfo is None:
                self.info.vmcoreinfo = parse_vmcoreinfo(data[desc_off : desc_off + descsz])
            pos = desc_off + ((descsz + 3) & ~3)
        self.info.details["notes"] = names

    # -- PhysicalMemory -----------------------------------------------------
    def _load_ranges(self) -> list[PhysRange]:
        sh = self.page_shift
        return [PhysRange(s << sh, e << sh) for s, e in self._runs]

    def page_desc(self, pfn: int) -> PageDesc | None:
        """The descriptor of page ``pfn``, or None if the page is not in the dump."""
        t = self._desc(pfn)
        return None if t is None else PageDesc(*t)

    def _desc(self, pfn: int) -> tuple[int, int, int, int] | None:
        i = bisect_right(self._run_pfn, pfn) - 1
        if i < 0 or pfn >= self._runs[i][1]:
            return None
        idx = self._run_desc[i] + (pfn - self._run_pfn[i])
        batch = idx // DESC_BATCH
        cached_batch, raw = self._desc_cache
        if cached_batch != batch:
            assert self._file is not None
            raw = self._file.read(self._desc_off + batch * DESC_BATCH * PAGE_DESC_SIZE, DESC_BATCH * PAGE_DESC_SIZE)
            self._desc_cache = (batch, raw)
        pos = (idx % DESC_BATCH) * PAGE_DESC_SIZE
        if pos + PAGE_DESC_SIZE > len(raw):
            return None
        return _PAGE_DESC.unpack_from(raw, pos)

    def _page(self, pfn: int) -> bytes:
        pa = pfn << self.page_shift
        bs = self.block_size
        t = self._desc(pfn)
        if t is None:  # inside the ranges, so the descriptor table was cut short
            problem = "its page descriptor cannot be read"
            if os.fstat(self._fh.fileno()).st_size < self.info.file_size:
                problem += "; " + shrank_reason(self._fh.fileno(), self.info.file_size)
            raise MemoryReadError(pa, bs, reason=f"kdump page {pfn:#x}: {problem}")
        key = t[:3]  # (offset, size, flags): the shared zero page is one entry
        page = self._page_cache.get(key)
        if page is not None:
            self._page_cache.move_to_end(key)
            return page
        page = self._decode(pfn, PageDesc(*t))
        self._page_cache[key] = page
        if len(self._page_cache) > PAGE_CACHE_PAGES:
            self._page_cache.popitem(last=False)
        return page

    def _decode(self, pfn: int, desc: PageDesc) -> bytes:
        bs = self.block_size
        pa = pfn << self.page_shift
        assert self._file is not None
        comp = desc.flags & _COMPRESSION_MASK
        problem: str | None = None
        if desc.size == 0 or desc.offset <= 0:
            problem = f"empty page descriptor (offset {desc.offset:#x}, size {desc.size:#x})"
        elif desc.size > bs:
            problem = f"page descriptor size {desc.size:#x} exceeds the {bs:#x}-byte page"
        elif comp & (comp - 1):
            problem = f"page descriptor flags {desc.flags:#x} name more than one compression"
        elif not comp and desc.size != bs:
            problem = f"uncompressed page of {desc.size:#x} bytes, not {bs:#x}"
        else:
            data = self._file.read(desc.offset, desc.size)
            if len(data) < desc.size:
                problem = (f"page data at file offset {desc.offset:#x} (+{desc.size:#x}) lies past the end "
                           f"of the {'plain stream' if self._file.flattened else 'file'}")
                if os.fstat(self._fh.fileno()).st_size < self.info.file_size:
                    problem += "; " + shrank_reason(self._fh.fileno(), self.info.file_size)
                self._report(pfn, KDUMP_TRUNCATED, problem)
                raise MemoryReadError(pa, bs, reason=f"kdump page {pfn:#x}: {problem}")
            if not comp:
                return data
            try:
                return _CODECS[comp](data, bs)
            except ImportError as e:
                problem = (f"{COMPRESSION_NAMES[comp]} page, but the codec package "
                           f"{_CODEC_PACKAGES.get(comp)!r} is not installed ({e})")
                raise MemoryReadError(pa, bs, reason=f"kdump page {pfn:#x}: {problem}") from None
            except Exception as e:  # codec errors: zlib.error, cramjam/lzokay errors, ValueError
                problem = (f"{COMPRESSION_NAMES[comp]} data at file offset {desc.offset:#x} "
                           f"(+{desc.size:#x}) is corrupt: {e}")
        self._report(pfn, KDUMP_BAD_PAGE, problem)
        raise MemoryReadError(pa, bs, reason=f"kdump page {pfn:#x}: {problem}")

    def _report(self, pfn: int, code: str, problem: str) -> None:
        if pfn in self._bad_pages or len(self._bad_pages) >= MAX_PAGE_FINDINGS:
            return
        self._bad_pages.add(pfn)
        self.info.findings.append(make(code, "kdump page", pfn << self.page_shift, problem))

    def _read(self, pa: int, size: int) -> bytes:
        sh, bs = self.page_shift, self.block_size
        parts: list[bytes] = []
        cur, end = pa, pa + size
        while cur < end:
            pfn = cur >> sh
            off = cur & (bs - 1)
            n = min(bs - off, end - cur)
            page = self._page(pfn)
            parts.append(page if n == bs else page[off : off + n])
            cur += n
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._fh.close()


def _truncate_runs(runs: list[tuple[int, int]], keep: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in runs:
        if keep <= 0:
            break
        n = min(e - s, keep)
        out.append((s, s + n))
        keep -= n
    return out


def _sniff(head: bytes) -> bool:
    return head[:8] in (KDUMP_SIGNATURE, DISKDUMP_SIGNATURE) or head.startswith(MDF_SIGNATURE + b"\0")


register_format(
    ContainerFormat(
        "kdump",
        "kdump-compressed (makedumpfile/QEMU diskdump, plain or flattened; zlib, lzo, snappy, zstd)",
        _sniff,
        KdumpMemory,
    )
)
