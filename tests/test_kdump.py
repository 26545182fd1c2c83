"""kdump-compressed container: synthetic plain and flattened files built here.

The builder writes the layout of makedumpfile's diskdump_mod.h independently
of efitables.memory.kdump (its own struct formats), with QEMU's habit of one
shared zero page.
"""

from __future__ import annotations

import os
import random
import struct
import zlib
from pathlib import Path

import cramjam
import lzokay
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from efitables.errors import DumpFormatError, DumpOpenError, EfitablesError, MemoryReadError
from efitables.memory import open_memory
from efitables.memory.kdump import KdumpMemory

PAGE = 4096
ZLIB, LZO, SNAPPY, ZSTD = 0x1, 0x2, 0x4, 0x20
COMPRESS = {
    0: lambda b: b,
    ZLIB: lambda b: zlib.compress(b, 6),
    LZO: lambda b: bytes(lzokay.compress(b)),
    SNAPPY: lambda b: bytes(cramjam.snappy.compress_raw(b)),
    ZSTD: lambda b: bytes(cramjam.zstd.compress(b)),
}
VMCOREINFO = b"OSRELEASE=6.1.0-test\nPAGESIZE=4096\nSYMBOL(init_top_pgt)=ffffffff82a0c000\nNUMBER(phys_base)=16777216\n"


def page_of(seed: int) -> bytes:
    """A page that compresses (pattern + a little noise) and differs per seed."""
    rnd = random.Random(seed)
    head = bytes(rnd.randrange(256) for _ in range(64))
    return (head + struct.pack("<Q", seed) * 8 + bytes(range(256)) * 16)[:PAGE]


def build_kdump(
    pages: dict[int, bytes],
    *,
    max_mapnr: int,
    compression: int = ZLIB,
    extra_first_bitmap: set[int] = frozenset(),
    header_version: int = 6,
    vmcoreinfo: bytes = VMCOREINFO,
    status: int | None = None,
    block_size: int = PAGE,
    signature: bytes = b"KDUMP   ",
) -> bytes:
    """A plain diskdump file holding ``pages`` {pfn: bytes}."""
    bs = block_size
    sub_hdr_blocks = 1
    bitmap_len = -(-max_mapnr // 8)
    bitmap_len = -(-bitmap_len // bs) * bs or bs
    bitmap_blocks = 2 * bitmap_len // bs
    hdr = bytearray(bs)
    struct.pack_into("<8si", hdr, 0, signature, header_version)
    struct.pack_into("65s65s", hdr, 12 + 2 * 65, b"6.1.0-test", b"")  # utsname.release
    struct.pack_into("65s", hdr, 12 + 4 * 65, b"x86_64")  # utsname.machine
    assert len(hdr) == bs
    struct.pack_into("<qq", hdr, 408, 1_700_000_000, 5)
    struct.pack_into("<IiiIIIIIIi", hdr, 424, compression if status is None else status, bs, sub_hdr_blocks,
                     bitmap_blocks, min(max_mapnr, 0xFFFFFFFF), len(pages), 0, 0, 0, 1)
    sub = bytearray(bs * sub_hdr_blocks)
    vmci_off = bs + 128
    struct.pack_into("<QiiQQqQqQqQQQQ", sub, 0, 0x1000000, 1, 0, 0, 0, vmci_off if vmcoreinfo else 0,
                     len(vmcoreinfo), 0, 0, 0, 0, 0, 0, max_mapnr)
    sub[128 : 128 + len(vmcoreinfo)] = vmcoreinfo
    first = bytearray(bitmap_len)
    second = bytearray(bitmap_len)
    for pfn in set(pages) | set(extra_first_bitmap):
        first[pfn >> 3] |= 1 << (pfn & 7)
    for pfn in pages:
        second[pfn >> 3] |= 1 << (pfn & 7)
    desc_off = bs * (1 + sub_hdr_blocks + bitmap_blocks)
    data_off = desc_off + 24 * len(pages)
    descs = bytearray()
    data = bytearray()
    zero_desc: bytes | None = None
    for pfn in sorted(pages):
        page = pages[pfn]
        assert len(page) == bs
        if page == bytes(bs):
            if zero_desc is None:
                zero_desc = struct.pack("<qIIQ", data_off + len(data), bs, 0, 0)
                data += page
            descs += zero_desc
            continue
        comp = COMPRESS[compression](page) if compression else page
        flags = compression
        if len(comp) >= bs:  # as QEMU and makedumpfile do: store raw when it does not shrink
            comp, flags = page, 0
        descs += struct.pack("<qIIQ", data_off + len(data), len(comp), flags, 0)
        data += comp
    return bytes(hdr + sub + first + second + descs + data)


def flatten(plain: bytes, chunk: int = 3000, seed: int = 1, rewrite_header: bool = True) -> bytes:
    """The same file as makedumpfile's flattened stream, records in a shuffled order.

    With ``rewrite_header`` a first record writes garbage over the header and a
    later record writes the real header again (later records win).
    """
    out = bytearray(4096)
    out[:12] = b"makedumpfile"
    struct.pack_into(">qq", out, 16, 1, 1)
    recs = [(off, plain[off : off + chunk]) for off in range(0, len(plain), chunk)]
    rnd = random.Random(seed)
    rnd.shuffle(recs)
    if rewrite_header:
        recs.insert(0, (0, b"\xee" * 600))
        recs.append((0, plain[:600]))
    for off, data in recs:
        out += struct.pack(">qq", off, len(data)) + data
    out += struct.pack(">qq", -1, -1)
    return bytes(out)


def write(tmp_path: Path, name: str, data: bytes) -> str:
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


# pfn 0..3 data, 4 zero, 5..7 hole, 8..9 data, 10 zero, hole until 20, 20 data
PAGES = {0: page_of(0), 1: page_of(1), 2: page_of(2), 3: os.urandom(PAGE), 4: bytes(PAGE),
         8: page_of(8), 9: page_of(9), 10: bytes(PAGE), 20: page_of(20)}
EXPECTED_RANGES = [(0, 5 * PAGE), (8 * PAGE, 11 * PAGE), (20 * PAGE, 21 * PAGE)]


@pytest.mark.parametrize("compression", [0, ZLIB, LZO, SNAPPY, ZSTD], ids=["raw", "zlib", "lzo", "snappy", "zstd"])
@pytest.mark.parametrize("flat", [False, True], ids=["plain", "flattened"])
def test_pages_ranges_and_holes(tmp_path: Path, compression: int, flat: bool) -> None:
    plain = build_kdump(PAGES, max_mapnr=64, compression=compression)
    path = write(tmp_path, "d.kdump", flatten(plain) if flat else plain)
    with open_memory(path) as mem:
        assert mem.info.format == "kdump"
        assert isinstance(mem, KdumpMemory)
        assert [(r.start, r.end) for r in mem.ranges()] == EXPECTED_RANGES
        for pfn, page in PAGES.items():
            assert mem.read(pfn * PAGE, PAGE) == page
        # unaligned read across two pages and the zero page
        assert mem.read(3 * PAGE + 100, PAGE + 200) == PAGES[3][100:] + bytes(300)
        assert mem.read_u64(8 * PAGE + 64) == 8
        with pytest.raises(MemoryReadError) as ei:
            mem.read(4 * PAGE + 4000, 200)
        assert ei.value.missing == (5 * PAGE, 4 * PAGE + 4200)
        assert "0x5000-0x5068" in str(ei.value)
        d = mem.info.details
        assert d["flattened"] is flat
        assert d["pages_dumped"] == len(PAGES)
        assert d["header_version"] == 6
        assert d["block_size"] == PAGE
        assert d["max_mapnr"] == 64
        assert d["release"] == "6.1.0-test"
        assert d["machine"] == "x86_64"
        assert d["phys_base"] == 0x1000000
        assert d["compression"] == {0: "none", ZLIB: "zlib", LZO: "lzo", SNAPPY: "snappy", ZSTD: "zstd"}[compression]
        assert mem.vmcoreinfo == {"OSRELEASE": "6.1.0-test", "PAGESIZE": "4096",
                                  "SYMBOL(init_top_pgt)": "ffffffff82a0c000", "NUMBER(phys_base)": "16777216"}
        assert mem.findings == [] if not flat else [f.code for f in mem.findings] == ["KDUMP-FLAT-OVERLAP"]
        # the shared zero page: one descriptor target for pfn 4 and 10
        assert mem.page_desc(4).offset == mem.page_desc(10).offset
        assert mem.page_desc(6) is None
        if compression:
            assert mem.page_desc(0).compression == d["compression"]
        chunks = list(mem.chunks(chunk_size=3 * PAGE, overlap=16))
        assert [pa for pa, _ in chunks] == [0, 3 * PAGE - 16, 8 * PAGE, 20 * PAGE]
        assert bytes(chunks[0][1]) == PAGES[0] + PAGES[1] + PAGES[2]


def test_flattened_equals_plain_without_overlap(tmp_path: Path) -> None:
    plain = build_kdump(PAGES, max_mapnr=64)
    a = open_memory(write(tmp_path, "p", plain))
    b = open_memory(write(tmp_path, "f", flatten(plain, chunk=777, seed=5, rewrite_header=False)))
    assert b.info.details["flat_records"] == -(-len(plain) // 777)
    assert b.info.details["plain_size"] == len(plain)
    assert b.findings == []
    assert a.ranges() == b.ranges()
    for r in a.ranges():
        assert a.read(r.start, r.size) == b.read(r.start, r.size)


def test_flattened_gaps_read_as_zero(tmp_path: Path) -> None:
    plain = build_kdump(PAGES, max_mapnr=64)
    # drop the record holding the unused tail of the sub-header block: never written bytes are zeros
    flat = bytearray(4096)
    flat[:12] = b"makedumpfile"
    struct.pack_into(">qq", flat, 16, 1, 1)
    for off in range(0, len(plain), PAGE):
        piece = plain[off : off + PAGE]
        if off == PAGE:
            piece = piece[:128 + len(VMCOREINFO)]
        flat += struct.pack(">qq", off, len(piece)) + piece
    flat += struct.pack(">qq", -1, -1)
    mem = open_memory(write(tmp_path, "f", bytes(flat)))
    assert mem.read(20 * PAGE, PAGE) == PAGES[20]
    assert mem.vmcoreinfo["OSRELEASE"] == "6.1.0-test"


def test_sniffing_and_forced_format(tmp_path: Path) -> None:
    plain = build_kdump(PAGES, max_mapnr=64)
    for name, data in (("a", plain), ("b", flatten(plain)), ("c", plain.replace(b"KDUMP   ", b"DISKDUMP", 1))):
        mem = open_memory(write(tmp_path, name, data))
        assert mem.info.format == "kdump"
    raw = write(tmp_path, "raw", bytes(2 * PAGE))
    with pytest.raises(DumpFormatError, match="no kdump signature"):
        open_memory(raw, format="kdump")


def test_diskdump_signature_has_no_sub_header(tmp_path: Path) -> None:
    data = build_kdump(PAGES, max_mapnr=64, signature=b"DISKDUMP")
    mem = open_memory(write(tmp_path, "d", data))
    assert mem.info.details["signature"] == "DISKDUMP"
    assert "phys_base" not in mem.info.details
    assert mem.vmcoreinfo is None
    assert mem.read(9 * PAGE, PAGE) == PAGES[9]


def test_old_header_version_uses_32bit_max_mapnr(tmp_path: Path) -> None:
    data = build_kdump(PAGES, max_mapnr=64, header_version=1)
    mem = open_memory(write(tmp_path, "d", data))
    assert mem.info.details["max_mapnr"] == 64
    assert mem.vmcoreinfo is None  # offset_vmcoreinfo exists from version 3 on
    assert mem.read(20 * PAGE, 8) == PAGES[20][:8]


def test_filtered_pages_are_missing_with_a_finding(tmp_path: Path) -> None:
    data = build_kdump(PAGES, max_mapnr=64, extra_first_bitmap={5, 6, 7, 30})
    mem = open_memory(write(tmp_path, "d", data))
    (f,) = mem.findings
    assert f.code == "KDUMP-FILTERED"
    assert "4 of 13 pages were not written" in f.message
    assert not mem.is_readable(5 * PAGE)
    assert mem.info.details["pages_in_first_bitmap"] == 13


def test_truncated_descriptors_trim_ranges(tmp_path: Path) -> None:
    data = build_kdump(PAGES, max_mapnr=64)
    desc_off = PAGE * (1 + 1 + 2)
    cut = data[: desc_off + 24 * 6 + 10]  # six whole descriptors survive
    mem = open_memory(write(tmp_path, "d", cut))
    assert [f.code for f in mem.findings] == ["KDUMP-TRUNCATED"]
    assert [(r.start, r.end) for r in mem.ranges()] == [(0, 5 * PAGE), (8 * PAGE, 9 * PAGE)]
    # their data is gone too: a clear read error, reported once as a finding
    with pytest.raises(MemoryReadError, match="lies past the end of the file"):
        mem.read(0, 16)
    assert [f.code for f in mem.findings] == ["KDUMP-TRUNCATED", "KDUMP-TRUNCATED"]
    assert mem.findings[1].address == 0


def test_truncated_page_data(tmp_path: Path) -> None:
    data = build_kdump(PAGES, max_mapnr=64, compression=0)
    mem = open_memory(write(tmp_path, "d", data[: len(data) - 100]))
    assert mem.read(0, PAGE) == PAGES[0]
    with pytest.raises(MemoryReadError, match=r"kdump page 0x14: page data at file offset 0x[0-9a-f]+ \(\+0x1000\)"):
        mem.read(20 * PAGE, 1)


@pytest.mark.parametrize("flat", [False, True], ids=["plain", "flattened"])
def test_file_that_shrinks_after_open(tmp_path: Path, flat: bool) -> None:
    plain = build_kdump(PAGES, max_mapnr=64, compression=0)
    data = flatten(plain, rewrite_header=False, chunk=PAGE, seed=0) if flat else plain
    path = write(tmp_path, "s", data)
    mem = open_memory(path)
    os.truncate(path, len(data) // 2)
    with pytest.raises(MemoryReadError, match="shrank while being read") as ei:
        for pfn in sorted(PAGES, reverse=True):
            mem.read(pfn * PAGE, PAGE)
    assert ei.value.pa % PAGE == 0


def _patch_desc(data: bytes, index: int, **fields: int) -> bytes:
    desc_off = PAGE * (1 + 1 + 2) + 24 * index
    off, size, flags, pflags = struct.unpack_from("<qIIQ", data, desc_off)
    vals = {"offset": off, "size": size, "flags": flags, "page_flags": pflags} | fields
    b = bytearray(data)
    struct.pack_into("<qIIQ", b, desc_off, vals["offset"], vals["size"], vals["flags"], vals["page_flags"])
    return bytes(b)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"size": PAGE + 1}, "exceeds the 0x1000-byte page"),
        ({"size": 0}, "empty page descriptor"),
        ({"flags": ZLIB | SNAPPY}, "more than one compression"),
        ({"flags": 0}, "uncompressed page of"),
        ({"flags": LZO}, "lzo data at file offset"),
        ({"flags": SNAPPY}, "snappy data"),
        ({"flags": ZSTD}, "zstd data"),
        ({"offset": 1 << 40}, "lies past the end"),
    ],
)
def test_bad_page_descriptor_is_a_read_error(tmp_path: Path, patch: dict, message: str) -> None:
    data = _patch_desc(build_kdump(PAGES, max_mapnr=64, compression=ZLIB), 1, **patch)
    mem = open_memory(write(tmp_path, "d", data))
    assert mem.read(0, PAGE) == PAGES[0]
    with pytest.raises(MemoryReadError, match=message) as ei:
        mem.read(PAGE, 8)
    assert ei.value.pa == PAGE
    assert mem.findings[-1].address == PAGE
    assert mem.findings[-1].code in ("KDUMP-BAD-PAGE", "KDUMP-TRUNCATED")
    assert mem.read(2 * PAGE, PAGE) == PAGES[2]


def test_corrupt_zlib_and_oversized_zlib(tmp_path: Path) -> None:
    data = bytearray(build_kdump(PAGES, max_mapnr=64, compression=ZLIB))
    mem0 = open_memory(write(tmp_path, "ok", bytes(data)))
    off = mem0.page_desc(8).offset
    data[off + 2 : off + 10] = b"\xff" * 8
    mem = open_memory(write(tmp_path, "bad", bytes(data)))
    with pytest.raises(MemoryReadError, match="zlib data at file offset .* is corrupt"):
        mem.read(8 * PAGE, 1)
    # a stream that inflates to far more than a page is cut at one page, not allocated whole
    bomb = zlib.compress(bytes(2 * 1024 * 1024), 9)
    assert len(bomb) < PAGE
    plain = bytearray(build_kdump({0: page_of(0)}, max_mapnr=8, compression=ZLIB))
    desc_off = PAGE * 4
    data_off = struct.unpack_from("<q", plain, desc_off)[0]
    plain = plain[:data_off] + bomb
    struct.pack_into("<qIIQ", plain, desc_off, data_off, len(bomb), ZLIB, 0)
    mem = open_memory(write(tmp_path, "bomb", bytes(plain)))
    with pytest.raises(MemoryReadError, match=r"decompresses to 4096\+ bytes"):
        mem.read(0, 1)


@pytest.mark.parametrize(
    ("offset", "fmt", "value", "message"),
    [
        (428, "<i", 3, "block_size 3 is not a power of two"),
        (428, "<i", 1 << 20, "block_size 1048576"),
        (436, "<I", 0, "bitmap_blocks 0"),
        (436, "<I", 0xFFFFFFFF, "bitmaps .* run past the end"),
        (432, "<i", 1 << 30, "bitmaps .* run past the end"),
        (PAGE + 96, "<Q", 1 << 60, "max_mapnr 0x1000000000000000 is beyond 52-bit"),
        (0, "<8s", b"KDUMPXXX", "no kdump signature"),
    ],
)
def test_absurd_headers_are_format_errors(tmp_path: Path, offset: int, fmt: str, value: object, message: str) -> None:
    data = bytearray(build_kdump(PAGES, max_mapnr=64))
    struct.pack_into(fmt, data, offset, value)
    with pytest.raises(DumpFormatError, match=message):
        KdumpMemory(write(tmp_path, "d", bytes(data)))


def test_max_mapnr_larger_than_bitmap_is_clamped(tmp_path: Path) -> None:
    data = bytearray(build_kdump(PAGES, max_mapnr=64))
    struct.pack_into("<Q", data, PAGE + 96, 1 << 30)
    mem = open_memory(write(tmp_path, "d", bytes(data)))
    assert [f.code for f in mem.findings] == ["KDUMP-BAD-HEADER"]
    assert mem.info.details["max_mapnr"] == 1 << 30
    assert mem.read(20 * PAGE, PAGE) == PAGES[20]


def test_max_mapnr_inside_a_full_bitmap_byte(tmp_path: Path) -> None:
    pages = {pfn: page_of(pfn) for pfn in range(16)}  # bitmap bytes 0xff 0xff
    data = bytearray(build_kdump(pages, max_mapnr=16))
    struct.pack_into("<Q", data, PAGE + 96, 13)  # max_mapnr_64: pages 13..15 are past the end
    mem = open_memory(write(tmp_path, "d", bytes(data)))
    assert [(r.start, r.end) for r in mem.ranges()] == [(0, 13 * PAGE)]
    assert mem.info.details["pages_dumped"] == 13
    assert mem.read(12 * PAGE, PAGE) == pages[12]
    assert not mem.is_readable(13 * PAGE)


def test_short_files(tmp_path: Path) -> None:
    with pytest.raises(DumpFormatError, match="too short"):
        KdumpMemory(write(tmp_path, "a", b"KDUMP"))
    with pytest.raises(DumpFormatError, match="cut short"):
        KdumpMemory(write(tmp_path, "b", b"KDUMP   " + bytes(100)))
    with pytest.raises(DumpFormatError, match="shorter than its 4096-byte header"):
        KdumpMemory(write(tmp_path, "c", b"makedumpfile\0\0\0\0" + bytes(100)))


def test_flattened_bad_records(tmp_path: Path) -> None:
    plain = build_kdump(PAGES, max_mapnr=64)
    flat = bytearray(flatten(plain, rewrite_header=False))
    struct.pack_into(">q", flat, 16, 7)
    with pytest.raises(DumpFormatError, match="header type 7"):
        KdumpMemory(write(tmp_path, "t", bytes(flat)))
    flat = bytearray(flatten(plain, rewrite_header=False))
    struct.pack_into(">qq", flat, 4096, 0, -5)
    with pytest.raises(DumpFormatError, match=r"record at file offset 0x1000 has offset 0x0 size -0x5"):
        KdumpMemory(write(tmp_path, "n", bytes(flat)))
    # no end record, stream cut inside a record: the rest is used, with a finding
    full = flatten(plain, rewrite_header=False, chunk=PAGE, seed=0)
    mem = open_memory(write(tmp_path, "cut", full[: len(full) - 16 - 100]))
    assert [f.code for f in mem.findings][0] == "KDUMP-FLAT-TRUNCATED"
    assert "is cut after" in mem.findings[0].message


def test_absurd_flattened_size_does_not_allocate(tmp_path: Path) -> None:
    plain = build_kdump(PAGES, max_mapnr=64)
    flat = flatten(plain, rewrite_header=False)
    # a record claiming 2**61 bytes at the end: truncated, never read whole
    flat = flat[:-16] + struct.pack(">qq", 1 << 40, 1 << 61) + b"abc"
    mem = open_memory(write(tmp_path, "big", flat))
    assert mem.info.details["plain_size"] == (1 << 40) + 3
    assert mem.read(20 * PAGE, 4) == PAGES[20][:4]


@pytest.mark.parametrize(
    ("vmci_value", "header_value", "how"),
    [
        ("-734003200", 0xFFFFFFF8CBFFCE00, "read as hexadecimal"),  # what QEMU 7.2 writes (ovmf64 corpus)
        ("-734003200", 0x1234000, ""),
    ],
)
def test_phys_base_disagreeing_with_vmcoreinfo(tmp_path: Path, vmci_value: str, header_value: int, how: str) -> None:
    vmci = VMCOREINFO.replace(b"16777216", vmci_value.encode())
    data = bytearray(build_kdump(PAGES, max_mapnr=64, vmcoreinfo=vmci))
    struct.pack_into("<Q", data, PAGE, header_value)
    mem = open_memory(write(tmp_path, "d", bytes(data)))
    (f,) = mem.findings
    assert f.code == "KDUMP-PHYS-BASE"
    assert f"phys_base {header_value:#x}" in f.message
    assert ("read as hexadecimal" in f.message) is bool(how)
    assert mem.info.details["phys_base"] == header_value
    assert mem.info.details["phys_base_vmcoreinfo"] == 0xFFFFFFFFD4400000


def test_incomplete_flag(tmp_path: Path) -> None:
    data = build_kdump(PAGES, max_mapnr=64, status=ZLIB | 0x8)
    mem = open_memory(write(tmp_path, "d", data))
    assert [f.code for f in mem.findings] == ["KDUMP-INCOMPLETE"]


def test_many_runs_and_large_sparse_bitmap(tmp_path: Path) -> None:
    # every other page of the first 4096, then one page far away (bitmap of 2 MiB of zeros)
    pages = {pfn: page_of(pfn) for pfn in range(0, 4096, 2)}
    pages[(1 << 24) - 1] = page_of(7)
    data = build_kdump(pages, max_mapnr=1 << 24)
    mem = open_memory(write(tmp_path, "d", data))
    rs = mem.ranges()
    assert len(rs) == 2049
    assert rs[-1].start == ((1 << 24) - 1) * PAGE
    assert mem.read(4094 * PAGE, PAGE) == pages[4094]
    assert mem.read(rs[-1].start, PAGE) == page_of(7)


def test_too_many_runs_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import efitables.memory.kdump as kd

    monkeypatch.setattr(kd, "MAX_RUNS", 100)
    pages = {pfn: bytes(PAGE) for pfn in range(0, 1000, 2)}
    with pytest.raises(DumpFormatError, match="more than 100 separate runs"):
        KdumpMemory(write(tmp_path, "d", build_kdump(pages, max_mapnr=1024)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 4 * PAGE + 24 * 9 - 1), st.integers(0, 255)), min_size=1, max_size=8),
       st.booleans())
def test_fuzzed_headers_never_crash(tmp_path: Path, flips: list[tuple[int, int]], flat: bool) -> None:
    data = bytearray(build_kdump(PAGES, max_mapnr=64))
    for pos, val in flips:
        data[pos] = val
    blob = flatten(bytes(data)) if flat else bytes(data)
    path = write(tmp_path, "fuzz", blob)
    try:
        mem = KdumpMemory(path)
    except DumpOpenError:
        return
    with mem:
        for r in mem.ranges()[:8]:
            for pa in range(r.start, min(r.end, r.start + 4 * PAGE), PAGE):
                try:
                    assert len(mem.read(pa, PAGE)) == PAGE
                except EfitablesError:
                    pass
