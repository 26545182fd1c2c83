"""kdump-compressed dumps (makedumpfile / QEMU ``dump-guest-memory -z``), plain and flattened.

This module is the container: :class:`KdumpMemory` opens the file, checks the
header, sub-header and bitmaps against each other and against the file's size,
reports what it finds, and serves physical reads page by page through the page
descriptors. Pages are decompressed on demand into a small LRU cache (the
shared zero page stays in it). The jobs it builds on live next to it:

* :mod:`efitables.memory.kdump_layout`: the header, sub-header, notes and
  ``page_desc_t`` of the plain ("diskdump") file, and the file's block layout;
* :mod:`efitables.memory.kdump_flat`: reading the plain file's bytes directly or
  through the records of a flattened (``makedumpfile -F``, QEMU 7.2) stream;
* :mod:`efitables.memory.kdump_bitmap`: the two page bitmaps as runs of PFNs;
* :mod:`efitables.memory.kdump_codecs`: zlib, LZO, snappy and zstd pages.

:class:`KdumpMemory`, :class:`PageDesc` and every ``KDUMP-*`` finding code stay
importable from here.

Sources: makedumpfile/makedumpfile diskdump_mod.h@1.7.9 (``disk_dump_header``,
``kdump_sub_header``, ``page_desc_t``, ``DUMP_DH_COMPRESSED_INCOMPLETE``) and
makedumpfile.c@1.7.9 (``write_kdump_header``); qemu/qemu dump/dump.c@v7.2.0
(``create_header64``, ``write_dump_header``; ``vmcoreinfo_update_phys_base``
parses the guest's ``NUMBER(phys_base)`` with base 16, the source of
KDUMP-PHYS-BASE) and include/sysemu/dump.h@v7.2.0; crash-utility/crash
diskdump.c@9.0.2 (how a reader treats the two bitmaps and a split dump's
``start_pfn``/``end_pfn``); torvalds/linux include/linux/vmcore_info.h@v6.12.117
and arch/x86/kernel/vmcore_info_64.c@v6.12.117 (``NUMBER(phys_base)`` is
written with ``%ld``).
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterator

from efitables.errors import DumpFormatError, MemoryReadError
from efitables.findings import Severity, make, register
from efitables.memory import ContainerFormat, register_format
from efitables.memory.base import MAX_FINDINGS_PER_CODE, MAX_PHYS_ADDR, FileMemory, PhysRange
from efitables.memory.kdump_bitmap import MAX_RUNS, bitmap_count, bitmap_runs, truncate_runs
from efitables.memory.kdump_codecs import CODEC_PACKAGES, CODECS, codec_error_text
from efitables.memory.kdump_flat import (
    KDUMP_FLAT_OVERLAP,
    KDUMP_FLAT_TRUNCATED,
    MDF_HEADER_SIZE,
    MDF_SIGNATURE,
    FlatFile,
    PlainFile,
)
from efitables.memory.kdump_layout import (
    COMPRESSION_MASK,
    COMPRESSION_NAMES,
    DISKDUMP_SIGNATURE,
    DUMP_DH_COMPRESSED_INCOMPLETE,
    HEADER_SIZE,
    KDUMP_SIGNATURE,
    PAGE_DESC,
    PAGE_DESC_SIZE,
    SUB_HEADER_SIZE,
    PageDesc,
    parse_header,
    parse_notes,
    parse_sub_header,
)
from efitables.memory.raw import shrank, shrank_reason
from efitables.memory.vmcoreinfo import MAX_VMCOREINFO, parse_vmcoreinfo

# What other modules import from here; MAX_RUNS is read from this module at open (tests lower it).
__all__ = [
    "KDUMP_BAD_HEADER", "KDUMP_BAD_PAGE", "KDUMP_FILTERED", "KDUMP_FLAT_OVERLAP", "KDUMP_FLAT_TRUNCATED",
    "KDUMP_INCOMPLETE", "KDUMP_PHYS_BASE", "KDUMP_TRUNCATED", "MAX_RUNS", "KdumpMemory", "PageDesc",
]

#: Decompressed pages kept.
PAGE_CACHE_PAGES = 256
#: Page descriptors read per batch.
DESC_BATCH = 512
#: Bad pages reported as findings, per code; past it one finding counts the rest (and every bad page
#: still raises on read).
MAX_PAGE_FINDINGS = MAX_FINDINGS_PER_CODE

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


class KdumpMemory(FileMemory):
    """A kdump-compressed dump, plain or flattened."""

    format = "kdump"
    decode_can_fail = True  # a page's descriptor or compressed data can be bad

    _file: PlainFile | FlatFile | None = None

    # -- opening ----------------------------------------------------------
    def _init(self) -> None:
        size = self.info.file_size
        if size < 8:
            raise DumpFormatError(self.path, f"file of {size} bytes is too short for a kdump header")
        head = self._src.pread(16, 0)
        if head.startswith(MDF_SIGNATURE):
            if size < MDF_HEADER_SIZE:
                raise DumpFormatError(self.path, "flattened kdump shorter than its 4096-byte header")
            self._file = FlatFile(self.path, self._src, size, self.info.findings)
            self.info.details.update(
                {"flattened": True, "flat_records": self._file.records, "plain_size": self._file.size}
            )
        else:
            self._file = PlainFile(self._src, size)
            self.info.details["flattened"] = False
        f = self._file
        h = parse_header(self.path, f.read(0, HEADER_SIZE))
        block_size, status, version = h.block_size, h.status, h.header_version
        self.block_size = block_size
        self.read_granule = block_size  # a sweep re-reads an unreadable window page by page
        self.page_shift = block_size.bit_length() - 1
        uts = h.utsname
        compression = status & COMPRESSION_MASK
        d = self.info.details
        d.update({
            "signature": h.signature.decode("ascii").strip(),
            "header_version": version,
            "block_size": block_size,
            "status": status,
            "compression": COMPRESSION_NAMES.get(compression, "none" if not compression else f"{compression:#x}"),
            "sysname": uts[0], "nodename": uts[1], "release": uts[2], "version": uts[3], "machine": uts[4],
            "timestamp": h.tv_sec + h.tv_usec / 1e6,
            "nr_cpus": h.nr_cpus,
            "sub_hdr_size": h.sub_hdr_size,
            "bitmap_blocks": h.bitmap_blocks,
        })
        if status & DUMP_DH_COMPRESSED_INCOMPLETE:
            self.info.findings.append(make(KDUMP_INCOMPLETE, "kdump header", None,
                                           f"status {status:#x} has DUMP_DH_COMPRESSED_INCOMPLETE"))

        max_mapnr = h.max_mapnr
        pfn_lo, pfn_hi = 0, None
        if h.signature == KDUMP_SIGNATURE:
            sub = parse_sub_header(f.read(block_size, SUB_HEADER_SIZE))
            d.update({"phys_base": sub.phys_base, "dump_level": sub.dump_level if version >= 1 else None})
            if version >= 6:
                max_mapnr = sub.max_mapnr_64
            if version >= 2 and sub.split:
                pfn_lo, pfn_hi = (sub.start_pfn_64, sub.end_pfn_64) if version >= 6 else (sub.start_pfn, sub.end_pfn)
                d.update({"split": True, "start_pfn": pfn_lo, "end_pfn": pfn_hi})
            if version >= 3 and sub.size_vmcoreinfo:
                self._load_vmcoreinfo(sub.offset_vmcoreinfo, sub.size_vmcoreinfo)
            if version >= 4 and sub.size_note:
                self._load_notes(sub.offset_note, sub.size_note)
            self._check_phys_base(sub.phys_base)
        d["max_mapnr"] = max_mapnr

        bitmap_off = block_size * (1 + h.sub_hdr_size)
        bitmap_bytes = h.bitmap_blocks * block_size
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

        runs, dumped = bitmap_runs(f.read, bitmap_off + half, half, pfn_lo, pfn_hi, MAX_RUNS)
        if len(runs) > MAX_RUNS:
            raise DumpFormatError(self.path, f"kdump bitmap has more than {MAX_RUNS} separate runs of pages")
        existing = bitmap_count(f.read, bitmap_off, half, pfn_lo, pfn_hi)
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
            runs = truncate_runs(runs, fit)
        # the runs as arrays: first PFN, end PFN, index of the first page's descriptor
        self._run_pfn = array("q", (r[0] for r in runs))
        self._run_end = array("q", (r[1] for r in runs))
        self._run_desc = array("q")
        acc = 0
        for s, e in runs:
            self._run_desc.append(acc)
            acc += e - s
        self._n_desc = acc
        del runs
        self._desc_cache: tuple[int, bytes] = (-1, b"")
        self._page_cache: OrderedDict[tuple[int, int, int], bytes] = OrderedDict()
        sh = self.page_shift
        self._set_range_arrays(array("q", (s << sh for s in self._run_pfn)),
                               array("q", (e << sh for e in self._run_end)))

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
        names, vmcoreinfo = parse_notes(data)
        if vmcoreinfo is not None and self.info.vmcoreinfo is None:
            self.info.vmcoreinfo = parse_vmcoreinfo(vmcoreinfo)
        self.info.details["notes"] = names

    # -- PhysicalMemory -----------------------------------------------------
    def _load_ranges(self) -> list[PhysRange]:
        return []  # never called: the ranges are set at open

    def page_desc(self, pfn: int) -> PageDesc | None:
        """The descriptor of page ``pfn``, or None if the page is not in the dump."""
        t = self._desc(pfn)
        return None if t is None else PageDesc(*t)

    def _desc(self, pfn: int) -> tuple[int, int, int, int] | None:
        i = bisect_right(self._run_pfn, pfn) - 1
        if i < 0 or pfn >= self._run_end[i]:
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
        return PAGE_DESC.unpack_from(raw, pos)

    def _page(self, pfn: int) -> bytes:
        pa = pfn << self.page_shift
        bs = self.block_size
        t = self._desc(pfn)
        if t is None:  # inside the ranges, so the descriptor table was cut short
            problem = "its page descriptor cannot be read"
            if shrank(self._src, self.info.file_size):
                problem += "; " + shrank_reason(self._src, self.info.file_size)
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
        comp = desc.flags & COMPRESSION_MASK
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
                if shrank(self._src, self.info.file_size):
                    problem += "; " + shrank_reason(self._src, self.info.file_size)
                self._report(pfn, KDUMP_TRUNCATED, problem)
                raise MemoryReadError(pa, bs, reason=f"kdump page {pfn:#x}: {problem}")
            if not comp:
                return data
            try:
                return CODECS[comp](data, bs)
            except ImportError as e:
                problem = (f"{COMPRESSION_NAMES[comp]} page, but the codec package "
                           f"{CODEC_PACKAGES.get(comp)!r} is not installed ({e})")
                raise MemoryReadError(pa, bs, reason=f"kdump page {pfn:#x}: {problem}") from None
            except Exception as e:  # codec errors: zlib.error, cramjam/lzokay errors, ValueError
                problem = (f"{COMPRESSION_NAMES[comp]} data at file offset {desc.offset:#x} "
                           f"(+{desc.size:#x}) is corrupt: {codec_error_text(e)}")
        self._report(pfn, KDUMP_BAD_PAGE, problem)
        raise MemoryReadError(pa, bs, reason=f"kdump page {pfn:#x}: {problem}")

    def _report(self, pfn: int, code: str, problem: str) -> None:
        """One finding per bad page (a page read again is not reported again), capped per code."""
        self.capped.add(code, "kdump page", pfn << self.page_shift, problem, key=pfn)

    def _already_reported(self, pa: int) -> bool:
        pfn = pa >> self.page_shift
        return self.capped.seen(KDUMP_BAD_PAGE, pfn) or self.capped.seen(KDUMP_TRUNCATED, pfn)

    def _range_chunks(
        self, lo: int, hi: int, chunk_size: int, overlap: int
    ) -> Iterator[tuple[int, bytes | memoryview]]:
        """Windows assembled page by page (each page is decoded on its own anyway): a bad page is
        reported and skipped, and the pages around it are read once."""
        return self._granules(lo, hi, chunk_size, overlap)

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
