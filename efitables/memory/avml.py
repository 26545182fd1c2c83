"""AVML captures (Microsoft's Acquire Volatile Memory for Linux, ``format=avml``).

The layout (header schema, trailer and snappy framing: :mod:`efitables.schemas.avml`)
is a sequence of blocks: a 32-byte header (magic ``AVML``, version 2, first and
last physical address, zero padding), the block's bytes as one snappy *framed*
stream, then the stream's length as a little-endian u64. All-zero blocks are
left out (they read as missing). AVML's uncompressed output is plain LiME and is
read by :mod:`efitables.memory.lime`; a LiME (``EMiL``, version 1) block inside
an AVML file is read as it is.

Opening indexes the blocks without decompressing anything: the trailers are
followed from the end of the file back to its start (two small reads per
block); when that chain does not lead exactly to offset 0 (a truncated capture,
a corrupt trailer, LiME blocks in between), the file is walked forward chunk
header by chunk header instead, which also finds where a cut or corrupt stream
stops. A block's chunk index (file offset and uncompressed offset of each
snappy chunk, at most 64 KiB of data each) is built on its first read; reads
decompress only the chunks they touch (CRC-32C checked by the codec), into a
small LRU cache. So no allocation is sized by the file: a chunk is at most
:data:`~efitables.schemas.avml.SNAPPY_MAX_CHUNK_LENGTH` bytes in and 64 KiB out.

Every problem names the block's header offset in the file and its physical
range: a bad header stops the walk (``AVML-BAD-HEADER``), a stream cut by the
end of the file leaves the part before the cut readable (``AVML-TRUNCATED``), a
corrupt or inconsistent stream makes reads past the bad chunk fail
(``AVML-BAD-STREAM``), overlapping blocks keep the first (``AVML-OVERLAP``),
and the caps (:data:`MAX_BLOCKS`, :data:`MAX_BLOCK_SIZE`, :data:`MAX_CHUNKS`)
are reported once each (``AVML-LIMIT``).

No message quotes a field of a header, trailer or chunk header that failed its
check: a walk that has gone off the rails reads page data there (an SNP guest's
VMPCK page, say), so a finding names the structure, its file offset and what is
wrong with it ("magic is not AVML's", "version is not 2"), never the bytes.
Fields that passed (a good header's physical range) are printed.

Sources: microsoft/avml src/image.rs@v0.20.0 and src/io/snappy.rs@v0.20.0 (see
the schema module); google/snappy framing_format.txt@1.2.1 and format_description.txt@1.2.1
(the raw block starts with the uncompressed length as a little-endian varint).
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field

from efitables.errors import DumpFormatError, MemoryReadError
from efitables.findings import Severity, make, register
from efitables.memory import ContainerFormat, register_format
from efitables.memory.base import MAX_PHYS_ADDR, FileMemory, PhysRange
from efitables.memory.kdump_codecs import codec_error_text
from efitables.memory.raw import shrank_reason
from efitables.memory.source import ByteSource
from efitables.schemas.avml import (
    AVML_HEADER,
    AVML_HEADER_SIZE,
    AVML_MAGIC,
    AVML_TRAILER,
    AVML_TRAILER_SIZE,
    AVML_VERSION,
    LIME_MAGIC,
    LIME_VERSION,
    SNAPPY_CHUNK_COMPRESSED,
    SNAPPY_CHUNK_HEADER_SIZE,
    SNAPPY_CHUNK_STREAM_ID,
    SNAPPY_CHUNK_UNCOMPRESSED,
    SNAPPY_CRC_SIZE,
    SNAPPY_MAX_CHUNK_DATA,
    SNAPPY_MAX_CHUNK_LENGTH,
    SNAPPY_RESERVED_UNSKIPPABLE,
    SNAPPY_STREAM_ID,
    SNAPPY_STREAM_ID_BODY,
)
from efitables.schemas.common import fast_struct

#: The header's fast path, from the schema.
_HDR = fast_struct(AVML_HEADER)
_TRAILER = fast_struct(AVML_TRAILER)

#: Blocks indexed at most (AVML writes 16 MiB blocks: 2**18 of them is 4 TiB of non-zero memory).
MAX_BLOCKS = 1 << 18
#: Largest block accepted. AVML since 2022 writes at most 16 MiB per block; its first releases
#: wrote one block per iomem range, tens of GiB on a large machine. Reads decompress 64 KiB
#: chunks, so a large block costs only its chunk index (16 bytes per chunk).
MAX_BLOCK_SIZE = 1 << 36
#: Snappy chunks indexed per block at most (64 GiB of 64 KiB chunks is 2**20).
MAX_CHUNKS = 1 << 21
#: Most bytes a snappy stream can expand to per byte: a copy element (at least 3 bytes with a
#: 2-byte offset) makes at most 64 bytes, 21.3 per byte (format_description.txt); a block whose
#: header claims more than this times its stream's length cannot be whole, and is indexed at open.
MAX_EXPANSION = 22
#: Decompressed chunks kept (64 KiB each at most).
CHUNK_CACHE = 128
#: Bytes read at once while walking chunk headers.
WALK_WINDOW = 1 << 20
#: Bad streams reported as findings (later ones only fail their reads).
MAX_STREAM_FINDINGS = 32

AVML_BAD_HEADER = register(
    "AVML-BAD-HEADER",
    Severity.WARNING,
    "An AVML block header is invalid; the blocks after it are ignored",
)
AVML_TRUNCATED = register(
    "AVML-TRUNCATED",
    Severity.WARNING,
    "AVML file ends inside a block",
    "The part of the block whose snappy chunks are whole in the file stays readable; the rest is missing.",
)
AVML_BAD_STREAM = register(
    "AVML-BAD-STREAM",
    Severity.WARNING,
    "An AVML block's snappy stream is corrupt or does not match its header",
    "Reads of the block past the first bad chunk fail with a reason naming the block.",
)
AVML_OVERLAP = register(
    "AVML-OVERLAP",
    Severity.WARNING,
    "Two AVML blocks describe the same physical bytes; the first is used",
)
AVML_LIMIT = register(
    "AVML-LIMIT",
    Severity.WARNING,
    "An AVML file exceeds a reader limit (block count, block size or chunks per block)",
    "What lies beyond the limit is ignored and reads as missing.",
)
AVML_HEADER_VARIANT = register(
    "AVML-HEADER-VARIANT",
    Severity.INFO,
    "An AVML block has LiME's magic with version 2",
    "AVML writes its compressed blocks with the magic 'AVML'; a compressed block under LiME's magic "
    "('EMiL', version 2) is read the same way (avml-convert itself refuses it).",
)


@dataclass
class _Chunks:
    """A block's snappy chunk index: chunk ``i`` starts at file offset ``off[i]`` and holds the
    block's bytes ``[uoff[i], uoff[i+1])`` (the last ends at ``good``)."""

    off: array[int] = field(default_factory=lambda: array("q"))
    uoff: array[int] = field(default_factory=lambda: array("q"))
    good: int = 0  # uncompressed bytes the indexed chunks hold
    end: int = 0  # file offset after the last chunk walked
    problem: str | None = None  # why indexing stopped before the block's size, or the stream is wrong
    cut: bool = False  # the problem is the end of the file


@dataclass
class AvmlBlock:
    """One block: physical ``[start, start + size)``; its header at ``header_offset``."""

    header_offset: int
    start: int
    size: int  # end - start + 1, from the header
    compressed: bool
    lime_magic: bool = False  # the header has LiME's magic ("EMiL")
    stream_length: int | None = None  # from the trailer (None: not known, walked forward)
    chunks: _Chunks | None = None
    avail: int | None = None  # bytes readable when a forward walk found the block cut or corrupt
    reported: bool = False

    @property
    def readable(self) -> int:
        return self.size if self.avail is None else self.avail

    @property
    def data_offset(self) -> int:
        return self.header_offset + AVML_HEADER_SIZE

    def where(self) -> str:
        return (f"block at file offset {self.header_offset:#x} (physical "
                f"{self.start:#x}-{self.start + self.size - 1:#x})")


def _varint(data: bytes) -> int | None:
    """The little-endian base-128 varint at the start of ``data`` (snappy's length preamble), max 32 bits."""
    value = shift = 0
    for i, b in enumerate(data[:5]):
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value if value < 1 << 32 else None
        shift += 7
        if i == 4:
            return None
    return None


class _Window:
    """Buffered preads for walking chunk headers."""

    def __init__(self, src: ByteSource, limit: int) -> None:
        self.src, self.limit = src, limit
        self.start, self.buf = 0, b""

    def get(self, off: int, n: int) -> bytes:
        if not (self.start <= off and off + n <= self.start + len(self.buf)):
            self.start = off
            self.buf = self.src.pread(max(n, min(WALK_WINDOW, self.limit - off)), off)
        return self.buf[off - self.start : off - self.start + n]


class AvmlMemory(FileMemory):
    format = "avml"
    decode_can_fail = True  # a page's descriptor or compressed data can be bad

    def _init(self) -> None:
        size = self.info.file_size
        if size < AVML_HEADER_SIZE:
            raise DumpFormatError(self.path, f"file of {size} bytes is shorter than an AVML block header")
        self._limits: set[str] = set()
        self._stream_findings = 0
        blocks = self._walk_back(size)
        self.info.details["indexed"] = "trailers" if blocks is not None else "chunk walk"
        if blocks is None:
            blocks = self._walk_forward(size)
        self.blocks = blocks
        self._segs = self._dedupe(blocks)
        self._seg_start = [s for s, _e, _b in self._segs]
        self._cache: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._set_ranges([PhysRange(s, e) for s, e, _b in self._segs])
        self.info.details.update({
            "blocks": len(blocks),
            "compressed_blocks": sum(b.compressed for b in blocks),
            "bytes": sum(b.readable for b in blocks),
        })

    # -- indexing ----------------------------------------------------------------------
    def _header(self, pos: int) -> tuple[int, int, int, int, int]:
        return _HDR.unpack(self._src.pread(AVML_HEADER_SIZE, pos).ljust(AVML_HEADER_SIZE, b"\0"))

    def _header_problem(self, magic: int, version: int, start: int, end: int, padding: int) -> str | None:
        """What is wrong with a header, or None. Never a field's value: a header that fails may be page
        data (the walk went off the rails), and its bytes may be a secret."""
        if magic not in (AVML_MAGIC, LIME_MAGIC):
            return "magic is not AVML's (nor LiME's)"
        if magic == AVML_MAGIC and version != AVML_VERSION:
            return f"magic is AVML's but the version is not {AVML_VERSION}"
        if magic == LIME_MAGIC and version not in (LIME_VERSION, AVML_VERSION):
            return f"magic is LiME's but the version is not {LIME_VERSION} or {AVML_VERSION}"
        if padding:
            return "padding is not zero"
        if end < start:
            return "the range's end is below its start"
        if end >= MAX_PHYS_ADDR:
            return "the range's end is beyond the 52-bit physical address space"
        return None

    def _limit(self, what: str, message: str) -> None:
        if what not in self._limits:
            self._limits.add(what)
            self.info.findings.append(make(AVML_LIMIT, "AVML file", None, message))

    def _variant(self, blk: AvmlBlock) -> None:
        if "variant" not in self._limits:
            self._limits.add("variant")
            self.info.findings.append(make(AVML_HEADER_VARIANT, "AVML block", blk.start,
                                           f"{blk.where()}: magic 'EMiL' with version 2, read as AVML"))

    def _walk_back(self, size: int) -> list[AvmlBlock] | None:
        """Blocks found by following the trailers from the end of the file; None unless that chain
        is whole (every block compressed, the first at offset 0, nothing left over)."""
        src = self._src
        out: list[AvmlBlock] = []
        end = size
        while end > 0:
            if end < AVML_HEADER_SIZE + len(SNAPPY_STREAM_ID) + AVML_TRAILER_SIZE or len(out) >= MAX_BLOCKS:
                return None
            (length,) = _TRAILER.unpack(src.pread(AVML_TRAILER_SIZE, end - AVML_TRAILER_SIZE))
            hdr = end - AVML_TRAILER_SIZE - length - AVML_HEADER_SIZE
            if length < len(SNAPPY_STREAM_ID) or hdr < 0:
                return None
            magic, version, start, last, padding = self._header(hdr)
            if version != AVML_VERSION or self._header_problem(magic, version, start, last, padding):
                return None
            if src.pread(len(SNAPPY_STREAM_ID), hdr + AVML_HEADER_SIZE) != SNAPPY_STREAM_ID:
                return None
            out.append(AvmlBlock(hdr, start, last - start + 1, True, magic == LIME_MAGIC, length))
            end = hdr
        out.reverse()
        return self._capped(out)

    def _capped(self, blocks: list[AvmlBlock]) -> list[AvmlBlock]:
        kept = []
        for b in blocks:
            if b.size > MAX_BLOCK_SIZE:
                self._limit("size", f"{b.where()}: {b.size:#x} bytes exceed the {MAX_BLOCK_SIZE:#x}-byte block "
                                    "limit; this block (and any other that large) is ignored")
                continue
            if b.lime_magic:
                self._variant(b)
            if b.stream_length is not None and b.size > MAX_EXPANSION * b.stream_length:
                ch = self._index(b)  # a stream that short cannot hold the block: find what it does hold
                b.avail = ch.good
                if not ch.good:
                    continue
            kept.append(b)
        return kept

    def _walk_forward(self, size: int) -> list[AvmlBlock]:
        """Blocks found by reading header after header (compressed streams walked chunk by chunk)."""
        src = self._src
        out: list[AvmlBlock] = []
        pos = 0
        while pos < size:
            where = f"header at file offset {pos:#x}"
            if size - pos < AVML_HEADER_SIZE:
                self.info.findings.append(make(
                    AVML_BAD_HEADER, "AVML block header", None,
                    f"{where}: {size - pos} bytes after the last block are too few for a header"))
                break
            magic, version, start, last, padding = self._header(pos)
            problem = self._header_problem(magic, version, start, last, padding)
            if problem is None and len(out) >= MAX_BLOCKS:
                self._limit("count", f"{where}: more than {MAX_BLOCKS} blocks; the rest of the file is ignored")
                break
            if problem is not None:
                if not out:
                    raise DumpFormatError(self.path, f"AVML {where}: {problem}")
                self.info.findings.append(make(AVML_BAD_HEADER, "AVML block header", None,
                                               f"{where}: {problem}; {size - pos:#x} bytes from here are ignored"))
                break
            blk = AvmlBlock(pos, start, last - start + 1, version == AVML_VERSION, magic == LIME_MAGIC)
            if blk.size > MAX_BLOCK_SIZE:
                self._limit("size", f"{blk.where()}: {blk.size:#x} bytes exceed the {MAX_BLOCK_SIZE:#x}-byte "
                                    "block limit; the rest of the file is ignored")
                break
            if blk.compressed and blk.lime_magic:
                self._variant(blk)
            if not blk.compressed:
                avail = min(blk.size, size - blk.data_offset)
                if avail < blk.size:
                    self.info.findings.append(make(
                        AVML_TRUNCATED, "AVML block", blk.start + avail,
                        f"{blk.where()}: uncompressed, cut after {avail:#x} bytes; physical "
                        f"{blk.start + avail:#x}-{blk.start + blk.size - 1:#x} is missing"))
                    blk.avail = avail
                if avail > 0:
                    out.append(blk)
                pos = blk.data_offset + (last - start + 1)
                continue
            ch = self._walk_chunks(src, blk, size)
            blk.chunks = ch
            if ch.cut:
                self.info.findings.append(make(
                    AVML_TRUNCATED, "AVML block", blk.start + ch.good,
                    f"{blk.where()}: {ch.problem}; physical {blk.start + ch.good:#x}-"
                    f"{blk.start + blk.size - 1:#x} is missing"))
                blk.reported, blk.avail = True, ch.good
                if ch.good:
                    out.append(blk)
                break
            if ch.problem is not None:  # a corrupt stream: its end is not known, so neither is the next header
                self._stream_problem(blk, f"{ch.problem}; the rest of the file is ignored")
                blk.avail = ch.good
                if ch.good:
                    out.append(blk)
                break
            out.append(blk)
            stream_len = ch.end - blk.data_offset
            blk.stream_length = stream_len
            trailer = src.pread(AVML_TRAILER_SIZE, ch.end)
            if len(trailer) < AVML_TRAILER_SIZE:
                self.info.findings.append(make(
                    AVML_TRUNCATED, "AVML block", None,
                    f"{blk.where()}: the file ends in its length trailer (the block's data is whole)"))
                break
            (recorded,) = _TRAILER.unpack(trailer)
            if recorded != stream_len:  # the trailer's value is not quoted: it failed its check
                self._stream_problem(blk, f"the length trailer at file offset {ch.end:#x} disagrees with the "
                                          f"block's compressed size ({stream_len:#x} bytes, from its chunks); "
                                          "the chunks are followed", fail=False)
            pos = ch.end + AVML_TRAILER_SIZE
        return out

    def _walk_chunks(self, src: ByteSource, blk: AvmlBlock, limit: int) -> _Chunks:
        """Index ``blk``'s snappy chunks, reading at most up to file offset ``limit``."""
        ch = _Chunks()
        win = _Window(src, limit)
        pos = blk.data_offset
        sid = len(SNAPPY_STREAM_ID)
        if pos + sid > limit:
            ch.problem, ch.cut, ch.end = "the file ends before the block's snappy stream", True, pos
            return ch
        if win.get(pos, sid) != SNAPPY_STREAM_ID:
            ch.problem, ch.end = "the block's data does not start with a snappy stream identifier", pos
            return ch
        pos += sid
        total = 0
        while total < blk.size:
            if pos + SNAPPY_CHUNK_HEADER_SIZE > limit:
                ch.problem, ch.cut = f"the stream is cut at file offset {pos:#x} (after {total:#x} bytes)", True
                break
            hdr = win.get(pos, SNAPPY_CHUNK_HEADER_SIZE)
            typ, clen = hdr[0], int.from_bytes(hdr[1:], "little")
            if pos + SNAPPY_CHUNK_HEADER_SIZE + clen > limit:
                ch.problem, ch.cut = (f"the stream is cut in the chunk at file offset {pos:#x} "
                                      f"(after {total:#x} bytes)"), True
                break
            if typ in (SNAPPY_CHUNK_COMPRESSED, SNAPPY_CHUNK_UNCOMPRESSED):
                if clen <= SNAPPY_CRC_SIZE or clen > SNAPPY_MAX_CHUNK_LENGTH:
                    ch.problem = (f"chunk at file offset {pos:#x} has an impossible length (not more than its "
                                  f"checksum, or more than {SNAPPY_MAX_CHUNK_LENGTH:#x})")
                    break
                if typ == SNAPPY_CHUNK_COMPRESSED:
                    body = win.get(pos + SNAPPY_CHUNK_HEADER_SIZE + SNAPPY_CRC_SIZE,
                                   min(5, clen - SNAPPY_CRC_SIZE))
                    ulen = _varint(body)
                else:
                    ulen = clen - SNAPPY_CRC_SIZE
                if ulen is None or ulen == 0 or ulen > SNAPPY_MAX_CHUNK_DATA:
                    ch.problem = (f"chunk at file offset {pos:#x} declares an impossible data length (none, "
                                  f"or more than {SNAPPY_MAX_CHUNK_DATA:#x} bytes)")
                    break
                if total + ulen > blk.size:
                    ch.problem = (f"the chunks hold more than the header's {blk.size:#x} bytes "
                                  f"(chunk at file offset {pos:#x})")
                    break
                if len(ch.off) >= MAX_CHUNKS:
                    self._limit("chunks", f"{blk.where()}: more than {MAX_CHUNKS} snappy chunks; "
                                          "the rest of the block is ignored")
                    ch.problem = f"more than {MAX_CHUNKS} chunks"
                    break
                ch.off.append(pos)
                ch.uoff.append(total)
                total += ulen
            elif typ == SNAPPY_CHUNK_STREAM_ID:
                if clen != len(SNAPPY_STREAM_ID_BODY) or win.get(pos + SNAPPY_CHUNK_HEADER_SIZE, clen) != (
                        SNAPPY_STREAM_ID_BODY):
                    ch.problem = f"bad stream identifier chunk at file offset {pos:#x}"
                    break
            elif typ in SNAPPY_RESERVED_UNSKIPPABLE:
                ch.problem = f"chunk at file offset {pos:#x} has a reserved, unskippable chunk type"
                break
            # padding (0xfe) and skippable chunks (0x80-0xfd) are skipped
            pos += SNAPPY_CHUNK_HEADER_SIZE + clen
        ch.good, ch.end = total, pos
        return ch

    def _index(self, blk: AvmlBlock) -> _Chunks:
        """``blk``'s chunk index, built on first use from its stream (whose length the trailer gave)."""
        if blk.chunks is None:
            assert blk.stream_length is not None
            end = blk.data_offset + blk.stream_length
            ch = self._walk_chunks(self._src, blk, end)
            if ch.problem is None and ch.end != end:
                # only padding or skippable chunks may follow the data
                ch.problem = (f"the stream goes on after the header's {blk.size:#x} bytes of data (its chunks "
                              f"end at file offset {ch.end:#x}, its length trailer is at {end:#x})")
            if ch.problem is not None:
                self._stream_problem(blk, ch.problem)
            blk.chunks = ch
        return blk.chunks

    def _stream_problem(self, blk: AvmlBlock, problem: str, fail: bool = True) -> None:
        if blk.reported or self._stream_findings >= MAX_STREAM_FINDINGS:
            return
        blk.reported = fail
        self._stream_findings += 1
        self.info.findings.append(make(AVML_BAD_STREAM, "AVML block", blk.start, f"{blk.where()}: {problem}"))

    def _dedupe(self, blocks: list[AvmlBlock]) -> list[tuple[int, int, AvmlBlock]]:
        """Physical windows ``(start, end, block)``, sorted; an overlapping block keeps only what is new."""
        out: list[tuple[int, int, AvmlBlock]] = []
        for b in sorted(blocks, key=lambda b: (b.start, b.header_offset)):
            s, e = b.start, b.start + b.readable
            if out and s < out[-1][1]:
                ps, pe, pb = out[-1]
                self.info.findings.append(make(
                    AVML_OVERLAP, "AVML block", s,
                    f"{b.where()} overlaps the {pb.where()}"))
                if e <= pe:
                    continue
                s = pe
            out.append((s, e, b))
        return out

    # -- PhysicalMemory --------------------------------------------------------------
    def _load_ranges(self) -> list[PhysRange]:
        return [PhysRange(s, e) for s, e, _b in self._segs]

    def _range_chunks(
        self, lo: int, hi: int, chunk_size: int, overlap: int
    ) -> Iterator[tuple[int, bytes | memoryview]]:
        """Windows of ``[lo, hi)`` (one block): a block whose stream stops short is swept up to where
        it stops (AVML-BAD-STREAM names the rest), not re-read page by page to its claimed end."""
        blk = self._segs[bisect_right(self._seg_start, lo) - 1][2]
        if blk.compressed:
            good_end = blk.start + self._index(blk).good
            hi = min(hi, max(lo, good_end))
        yield from super()._range_chunks(lo, hi, chunk_size, overlap)

    def _already_reported(self, pa: int) -> bool:
        """A sweep skips a bad block's bytes without one finding per page: AVML-BAD-STREAM named the block."""
        i = bisect_right(self._seg_start, pa) - 1
        return i >= 0 and self._segs[i][2].reported

    def _read(self, pa: int, size: int) -> bytes:
        i = bisect_right(self._seg_start, pa) - 1
        blk = self._segs[i][2]
        off = pa - blk.start
        if not blk.compressed:
            data = self._src.pread(size, blk.data_offset + off)
            if len(data) < size:
                raise MemoryReadError(pa, size, reason=shrank_reason(self._src, self.info.file_size))
            return data
        ch = self._index(blk)
        if off + size > ch.good:
            bad = blk.start + ch.good
            raise MemoryReadError(pa, size, missing=(bad, blk.start + blk.size),
                                  reason=f"AVML {blk.where()}: {ch.problem or 'stream ends early'}; "
                                         f"physical {bad:#x}-{blk.start + blk.size - 1:#x} cannot be read")
        parts: list[bytes] = []
        end = off + size
        k = bisect_right(ch.uoff, off) - 1
        while off < end:
            data = self._chunk(blk, ch, k)
            lo = off - ch.uoff[k]
            n = min(len(data) - lo, end - off)
            parts.append(data[lo : lo + n] if (lo or n != len(data)) else data)
            off += n
            k += 1
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _chunk(self, blk: AvmlBlock, ch: _Chunks, k: int) -> bytes:
        key = (blk.header_offset, k)
        data = self._cache.get(key)
        if data is not None:
            self._cache.move_to_end(key)
            return data
        import cramjam  # the kdump snappy codec's package

        off = ch.off[k]
        want = (ch.uoff[k + 1] if k + 1 < len(ch.uoff) else ch.good) - ch.uoff[k]
        raw = self._src.pread(SNAPPY_MAX_CHUNK_LENGTH + SNAPPY_CHUNK_HEADER_SIZE, off)
        clen = int.from_bytes(raw[1:SNAPPY_CHUNK_HEADER_SIZE], "little")
        chunk = raw[: SNAPPY_CHUNK_HEADER_SIZE + clen]
        pa = blk.start + ch.uoff[k]
        if len(chunk) < SNAPPY_CHUNK_HEADER_SIZE + clen:
            raise MemoryReadError(pa, want, reason=shrank_reason(self._src, self.info.file_size))
        try:
            # one chunk behind a stream identifier: the codec checks its CRC-32C and never makes > 64 KiB
            data = bytes(cramjam.snappy.decompress(SNAPPY_STREAM_ID + chunk))
            if len(data) != want:
                raise ValueError(f"it decompresses to {len(data):#x} bytes, not {want:#x}")
        except Exception as e:  # cramjam.DecompressionError, ValueError
            problem = f"snappy chunk at file offset {off:#x} is corrupt: {codec_error_text(e)}"
            self._stream_problem(blk, problem)
            raise MemoryReadError(pa, want, reason=f"AVML {blk.where()}: {problem}") from None
        self._cache[key] = data
        if len(self._cache) > CHUNK_CACHE:
            self._cache.popitem(last=False)
        return data


def _sniff(head: bytes) -> bool:
    """``AVML`` version 2; or LiME's magic with version 2 followed by a snappy stream (what AVML would
    write under LiME's magic). Plain LiME (version 1) is left to the LiME reader."""
    if len(head) < AVML_HEADER_SIZE:
        return False
    magic, version, _s, _e, _p = _HDR.unpack_from(head)
    if magic == AVML_MAGIC:
        return True
    return magic == LIME_MAGIC and version == AVML_VERSION and (
        head[AVML_HEADER_SIZE : AVML_HEADER_SIZE + len(SNAPPY_STREAM_ID)] == SNAPPY_STREAM_ID)


register_format(ContainerFormat("avml", "AVML capture (snappy-compressed LiME-style blocks)", _sniff, AvmlMemory))
