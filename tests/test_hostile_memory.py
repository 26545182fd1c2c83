"""Hostile dumps at the memory layer: bad kdump pages, dump-sized finding counts, very many ranges.

* a kdump of the ovmf64 sample with one bad page (a descriptor size of 2**31, an offset past the end
  of the file, a negative offset, corrupt zlib/LZO/snappy/zstd data) among good ones: the system
  table and boot_params are found as in the clean kdump, the findings are the clean kdump's plus one
  for the bad page, and ``show``/``validate``/``scan`` exit as for the clean one (never 2);
* every zero page bad, a raw image cut short under the sweep: the findings are capped per code, with
  one finding counting the rest;
* ELF cores whose program headers repeat a problem 65,535 or 20,000 times: capped findings;
* an ELF core with PN_XNUM and 70,000 PT_LOADs, a LiME file with 70,000 ranges: every range indexed,
  read and swept, and the sweep reads each range once (no per-read copy of the range list: the
  timing is in bench/bench_hostile.py);
* flattened kdumps whose records overlap: both resolutions (pure Python, numpy) agree with applying
  the records in stream order, as ``makedumpfile -R`` does.
"""

from __future__ import annotations

import json
import random
import struct
import zlib
from array import array
from pathlib import Path

import pytest
from click.testing import CliRunner

import efitables
from dumps.builder import PT_LOAD
from efitables.cli import cli
from efitables.efi.scan import scan
from efitables.errors import MemoryReadError
from efitables.findings import Finding, Severity
from efitables.memory import BytesMemory, kdump_flat, open_memory
from efitables.memory.base import MAX_FINDINGS_PER_CODE, FindingCap, PhysRange
from efitables.memory.elf import ELF_BAD_PHDRS, ELF_BAD_SEGMENT, ELF_SEGMENT_OVERLAP, ElfMemory
from efitables.memory.lime import LIME_OVERLAP, LIME_VERSION_UNKNOWN, LimeMemory
from efitables.validate import validate_dump
from tests.builders_hostile import (
    desc_offset,
    elf_of_ranges,
    kdump_of_raw,
    lime_of_ranges,
    write_elf_core,
)
from tests.test_kdump import LZO, PAGE, SNAPPY, ZLIB, ZSTD, flatten, page_of

SAMPLES = Path(__file__).resolve().parent.parent / "dumps" / "samples"
SYSTAB, BOOT_PARAMS = 0x7E0018, 0x13000
#: a page of the ovmf64 sample no structure uses; it gets data of its own, so that it can be corrupted alone
SPARE_PFN = 0x200
SPARE = page_of(0x200)
N = MAX_FINDINGS_PER_CODE


def _raw() -> bytes:
    raw = bytearray((SAMPLES / "ovmf64.raw").read_bytes())
    raw[SPARE_PFN * PAGE : (SPARE_PFN + 1) * PAGE] = SPARE
    return bytes(raw)


RAW = _raw()
PAGES = len(RAW) // PAGE
_CLEAN: dict[int, bytes] = {}


def clean_kdump(compression: int) -> bytes:
    if compression not in _CLEAN:
        _CLEAN[compression] = kdump_of_raw(RAW, compression)
    return _CLEAN[compression]


def _desc(data: bytes | bytearray, pfn: int) -> tuple[int, int, int, int]:
    return struct.unpack_from("<qIIQ", data, desc_offset(pfn, PAGES))  # every page of the image is dumped


def _set_desc(data: bytearray, pfn: int, **fields: int) -> None:
    off, size, flags, pflags = _desc(data, pfn)
    vals = {"offset": off, "size": size, "flags": flags, "page_flags": pflags} | fields
    struct.pack_into("<qIIQ", data, desc_offset(pfn, PAGES), *vals.values())


def _corrupt_data(data: bytearray, pfn: int) -> None:
    off, size, flags, _ = _desc(data, pfn)
    assert flags and size < PAGE  # the spare page is stored compressed: its bytes are its own
    data[off : off + size] = bytes((0xFF - i) & 0xFF for i in range(size))


BAD_PAGES = {
    # kind: (compression, how the spare page is broken, finding code, words of the message)
    "size-2^31": (ZLIB, lambda d: _set_desc(d, SPARE_PFN, size=1 << 31), "KDUMP-BAD-PAGE", "size 0x80000000 exceeds"),
    "offset-past-eof": (ZLIB, lambda d: _set_desc(d, SPARE_PFN, offset=1 << 40), "KDUMP-TRUNCATED", "past the end"),
    "negative-offset": (ZLIB, lambda d: _set_desc(d, SPARE_PFN, offset=-PAGE), "KDUMP-BAD-PAGE", "empty page desc"),
    "corrupt-zlib": (ZLIB, lambda d: _corrupt_data(d, SPARE_PFN), "KDUMP-BAD-PAGE", "zlib data at file offset"),
    "corrupt-lzo": (LZO, lambda d: _corrupt_data(d, SPARE_PFN), "KDUMP-BAD-PAGE", "lzo data at file offset"),
    "corrupt-snappy": (SNAPPY, lambda d: _corrupt_data(d, SPARE_PFN), "KDUMP-BAD-PAGE", "snappy data at file offset"),
    "corrupt-zstd": (ZSTD, lambda d: _corrupt_data(d, SPARE_PFN), "KDUMP-BAD-PAGE", "zstd data at file offset"),
}


def _report(path: str) -> tuple[int | None, int | None, list[Finding], int]:
    with efitables.open(path) as d:
        st, bp = d.systab, d.boot_params
        return (st.address if st else None, bp.address if bp else None, list(d.findings),
                validate_dump(d).exit_code)


@pytest.mark.parametrize("flat", [False, True], ids=["plain", "flattened"])
@pytest.mark.parametrize("kind", list(BAD_PAGES))
def test_one_bad_kdump_page_is_one_finding(tmp_path: Path, kind: str, flat: bool) -> None:
    compression, damage, code, words = BAD_PAGES[kind]
    clean = clean_kdump(compression)
    bad = bytearray(clean)
    damage(bad)
    paths = {}
    for name, data in (("clean", clean), ("bad", bytes(bad))):
        p = tmp_path / f"{name}.kdump"
        p.write_bytes(flatten(data, chunk=1 << 16) if flat else data)
        paths[name] = str(p)

    # the container: the spare page raises, its neighbours read
    with open_memory(paths["bad"]) as mem:
        assert mem.read((SPARE_PFN - 1) * PAGE, PAGE) == RAW[(SPARE_PFN - 1) * PAGE : SPARE_PFN * PAGE]
        with pytest.raises(MemoryReadError, match=words):
            mem.read(SPARE_PFN * PAGE, 16)
        assert mem.read((SPARE_PFN + 1) * PAGE, 8) == RAW[(SPARE_PFN + 1) * PAGE : (SPARE_PFN + 1) * PAGE + 8]

    # the sweep alone: it goes on past the page and reports it once
    with open_memory(paths["bad"]) as mem:
        hits = scan(mem, zero_page_align=8)
        assert SYSTAB in hits.systab and BOOT_PARAMS in hits.zero_pages
        assert hits.bytes_scanned == len(RAW) - PAGE
        assert [(f.code, f.address) for f in hits.findings] == [(code, SPARE_PFN * PAGE)]
        assert words in hits.findings[0].message

    # the report: the clean dump's, plus the bad page
    st0, bp0, found0, exit0 = _report(paths["clean"])
    st1, bp1, found1, exit1 = _report(paths["bad"])
    assert (st0, bp0) == (st1, bp1) == (SYSTAB, BOOT_PARAMS)
    extra = [f for f in found1 if f not in found0]
    assert [(f.code, f.address, f.structure) for f in extra] == [(code, SPARE_PFN * PAGE, "kdump page")]
    assert sorted(found0, key=str) == sorted((f for f in found1 if f not in extra), key=str)
    assert exit1 == exit0 == 0

    # the command line: the normal exit codes, the finding in the output
    runner = CliRunner()
    r = runner.invoke(cli, ["validate", "--json", paths["bad"]])
    assert r.exit_code == exit0, r.output
    v = json.loads(r.stdout)
    assert v["summary"]["exit_code"] == exit0
    assert (code, SPARE_PFN * PAGE) in [(f["code"], f["address"]) for f in v["dumps"][0]["findings"]]
    r = runner.invoke(cli, ["show", "--json", paths["bad"]])
    assert r.exit_code == runner.invoke(cli, ["show", "--json", paths["clean"]]).exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["efi"]["system_table"]["address"] == SYSTAB
    assert d["boot"]["boot_params"]["address"] == BOOT_PARAMS
    assert (code, SPARE_PFN * PAGE) in [(f["code"], f["address"]) for f in d["findings"]]
    r = runner.invoke(cli, ["scan", "--json", paths["bad"]])
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert [c["address"] for c in s["system_tables"] if c["accepted"]] == [SYSTAB]
    assert BOOT_PARAMS in [z["address"] for z in s["zero_pages"]]
    assert s["bytes_scanned"] == len(RAW) - PAGE


def test_every_zero_page_bad_gives_capped_findings(tmp_path: Path) -> None:
    """The shared zero page's descriptors all broken: ~1,900 bad pages, N findings and one counting the rest."""
    data = bytearray(clean_kdump(ZLIB))
    zero_pfns = [pfn for pfn in range(PAGES) if RAW[pfn * PAGE : (pfn + 1) * PAGE] == bytes(PAGE)]
    zero_desc = _desc(data, zero_pfns[0])
    assert len(zero_pfns) > 1000 and all(_desc(data, pfn) == zero_desc for pfn in zero_pfns)
    for pfn in zero_pfns:
        _set_desc(data, pfn, size=1 << 31)
    p = tmp_path / "zeros.kdump"
    p.write_bytes(bytes(data))
    st, bp, found, exit_code = _report(str(p))
    assert (st, bp) == (SYSTAB, BOOT_PARAMS)
    bad = [f for f in found if f.code == "KDUMP-BAD-PAGE"]
    listed = [f for f in bad if f.address is not None]
    assert len(listed) == N and len(bad) == N + 1
    assert {f.address for f in listed} <= {pfn * PAGE for pfn in zero_pfns}
    (summary,) = [f for f in bad if f.address is None]
    assert summary.message == f"{len(zero_pfns) - N} more KDUMP-BAD-PAGE findings omitted (the first {N} are listed)"
    assert not [f for f in found if f.code == "DUMP-UNREADABLE"]  # the container's own finding, not a second one
    assert exit_code == 0
    r = CliRunner().invoke(cli, ["validate", str(p)])
    assert r.exit_code == 0, r.output


def test_file_cut_under_the_sweep(tmp_path: Path) -> None:
    """A LiME file that shrinks after opening: the sweep reads what is left and reports each page that is
    gone (capped per code, one finding counting the rest); it never stops at the first one."""
    img = bytearray(64 * PAGE)
    img[3 * PAGE : 3 * PAGE + 8] = b"IBI SYST"
    img[40 * PAGE : 40 * PAGE + 8] = b"IBI SYST"  # cut away
    p = tmp_path / "m.lime"
    lime_of_ranges(p, [(0, bytes(img))])
    with open_memory(str(p)) as mem:
        with open(p, "r+b") as fh:
            fh.truncate(32 + 8 * PAGE)
        hits = scan(mem, chunk_size=16 * PAGE)
        assert hits.systab == [3 * PAGE]
        assert hits.bytes_scanned == 8 * PAGE
        codes = [(f.code, f.address) for f in hits.findings]
        assert codes[:N] == [("DUMP-UNREADABLE", pfn * PAGE) for pfn in range(8, 8 + N)]
        assert codes[N:] == [("DUMP-UNREADABLE", None)]
        assert hits.findings[N].message.startswith(f"{56 - N} more DUMP-UNREADABLE findings omitted")
        assert "shrank while being read" in hits.findings[0].message
        assert hits.findings == [f for f in mem.findings if f.code == "DUMP-UNREADABLE"]


class _BadPages(BytesMemory):
    """Bytes memory whose pages in ``bad`` raise on read, as a kdump's bad pages do."""

    def __init__(self, segments: dict[int, bytes], bad: set[int]) -> None:
        super().__init__(segments)
        self.bad = bad

    def _read(self, pa: int, size: int) -> bytes:
        for pfn in range(pa // PAGE, (pa + size - 1) // PAGE + 1):
            if pfn in self.bad:
                raise MemoryReadError(pfn * PAGE, PAGE, reason=f"page {pfn:#x} is bad")
        return super()._read(pa, size)


def test_chunks_go_on_past_bad_pages_with_their_overlap() -> None:
    data = bytes(random.Random(3).randbytes(20 * PAGE))
    mem = _BadPages({0x100000: data}, bad={0x100 + 5, 0x100 + 6, 0x100 + 13})
    windows = [(pa, bytes(v)) for pa, v in mem.chunks(chunk_size=4 * PAGE, overlap=16)]
    good = {0x100000 + i for i in range(len(data)) if (0x100000 + i) // PAGE not in mem.bad}
    seen: set[int] = set()
    for pa, w in windows:
        assert len(w) <= 4 * PAGE
        assert w == data[pa - 0x100000 : pa - 0x100000 + len(w)]  # each window is the bytes at its address
        seen.update(range(pa, pa + len(w)))
    assert seen == good
    # consecutive windows of one run of good pages overlap by 16 bytes
    for (pa, w), (nxt, _) in zip(windows, windows[1:], strict=False):
        assert nxt in (pa + len(w) - 16, pa + len(w) + PAGE, pa + len(w) + 2 * PAGE)
    assert [(f.code, f.address) for f in mem.findings] == [
        ("DUMP-UNREADABLE", pfn * PAGE) for pfn in sorted(mem.bad)
    ]


def test_finding_cap_counts_and_replaces_its_summary() -> None:
    out: list[Finding] = []
    cap = FindingCap(out, limit=3)
    for i in range(10):
        cap.add("DUMP-UNREADABLE", "raw dump", i, f"block {i}", key=i)
        cap.add("DUMP-UNREADABLE", "raw dump", i, f"block {i} again", key=i)  # a repeat counts once
    cap.add("ELF-BAD-SEGMENT", "ELF PT_LOAD", 7, "one")
    assert [f.address for f in out] == [0, 1, 2, None, 7]
    assert out[3].message == "7 more DUMP-UNREADABLE findings omitted (the first 3 are listed)"
    assert out[3].severity == Severity.WARNING and cap.count("DUMP-UNREADABLE") == 10
    assert cap.seen("DUMP-UNREADABLE", 9) and not cap.seen("DUMP-UNREADABLE", 10)


# -- ELF program headers ------------------------------------------------------------------------
def test_elf_phentsize_zero_with_65535_program_headers(tmp_path: Path) -> None:
    p = tmp_path / "phentsize0.elf"
    bad = (PT_LOAD, 0, 0x1000, 0x2000, 0x1000)  # p_filesz > p_memsz: impossible, had it been read
    write_elf_core(p, [bad] * 0xFFFF, phentsize=0)  # e_phnum PN_XNUM, the count in section 0
    with open_memory(str(p)) as mem:
        assert isinstance(mem, ElfMemory)
        assert len([f for f in mem.findings if f.code == ELF_BAD_SEGMENT]) <= N + 1
        (f,) = [f for f in mem.findings if f.code.startswith("ELF-")]
        assert f.code == ELF_BAD_PHDRS and "e_phentsize 0 is smaller than a 56-byte program header" in f.message
        assert mem.ranges() == []


def test_65535_bad_program_headers_are_capped(tmp_path: Path) -> None:
    p = tmp_path / "bad.elf"
    good = (PT_LOAD, 0x400000, 0x100000, 0x1000, 0x1000)  # after the 65,535 headers
    phdrs = [(PT_LOAD, 0, 0x1000 * i, 0x2000, 0x1000) for i in range(0xFFFE)] + [good]  # 65,535 in all
    write_elf_core(p, phdrs, [(0x400000, b"kept" * 0x400)])
    with open_memory(str(p)) as mem:
        assert mem.info.details["phnum"] == 0xFFFF and mem.info.details["pt_load"] == 0xFFFF
        bad = [f for f in mem.findings if f.code == ELF_BAD_SEGMENT]
        assert len(bad) == N + 1
        assert [f.address for f in bad[:N]] == [0x1000 * i for i in range(N)]
        assert bad[N].message == f"{0xFFFE - N} more ELF-BAD-SEGMENT findings omitted (the first {N} are listed)"
        assert mem.ranges() == [PhysRange(0x100000, 0x101000)]
        assert mem.read(0x100FFC, 4) == b"kept"


def test_20000_overlapping_pt_loads_are_capped(tmp_path: Path) -> None:
    p = tmp_path / "overlap.elf"
    n = 20000
    # PT_LOAD i: physical 0x10*i .. +0x1000 from file offset 2 MiB + 0x10*i (after the headers): each
    # overlaps the next 255
    phdrs = [(PT_LOAD, 0x200000 + 0x10 * i, 0x10 * i, 0x1000, 0x1000) for i in range(n)]
    body = bytes(range(256)) * ((0x10 * n + 0x1000) // 256 + 1)
    write_elf_core(p, phdrs, [(0x200000, body)])
    with open_memory(str(p)) as mem:
        over = [f for f in mem.findings if f.code == ELF_SEGMENT_OVERLAP]
        assert len(over) == N + 1
        assert over[N].message == f"{n - 1 - N} more ELF-SEGMENT-OVERLAP findings omitted (the first {N} are listed)"
        assert mem.total_size() == 0x10 * (n - 1) + 0x1000
        assert mem.read(0, mem.total_size()) == body[: mem.total_size()]


def test_elf_pn_xnum_with_70000_pt_loads(tmp_path: Path) -> None:
    n = 70000
    ranges = [(0x80 * i, struct.pack("<Q", i) * 8) for i in range(n)]  # 64 bytes each, a hole of 64 after
    systab_at = 0x80 * 54321 + 16
    ranges[54321] = (0x80 * 54321, ranges[54321][1][:16] + b"IBI SYST" + ranges[54321][1][24:])
    p = tmp_path / "xnum.elf"
    elf_of_ranges(p, ranges, align=8)
    with open_memory(str(p)) as mem:
        assert isinstance(mem, ElfMemory)
        assert mem.info.details["phnum"] == n and mem.info.details["pt_load"] == n
        assert mem.findings == []
        assert mem.range_count() == n and mem.total_size() == 64 * n
        for i in (0, 1, 54321, n - 1):
            assert mem.read(0x80 * i, 64) == ranges[i][1]
        assert mem.first_gap(0x80 * 7, 0x100) == (0x80 * 7 + 64, 0x80 * 8)
        _assert_swept_once(mem, n, systab_at)


def test_lime_with_70000_ranges(tmp_path: Path) -> None:
    n = 70000
    ranges = [(0x80 * i, struct.pack("<Q", i) * 8) for i in range(n)]
    systab_at = 0x80 * 12345 + 40
    ranges[12345] = (0x80 * 12345, ranges[12345][1][:40] + b"IBI SYST" + ranges[12345][1][48:])
    p = tmp_path / "many.lime"
    lime_of_ranges(p, ranges)
    with open_memory(str(p)) as mem:
        assert isinstance(mem, LimeMemory)
        assert mem.info.details["ranges"] == n and mem.findings == []
        assert mem.range_count() == n and mem.total_size() == 64 * n
        assert mem.read(0x80 * (n - 1), 64) == ranges[-1][1]
        _assert_swept_once(mem, n, systab_at)


def _assert_swept_once(mem: ElfMemory | LimeMemory, n: int, systab_at: int) -> None:
    """The sweep reads every range in one window, once (container reads counted), finds the signature, and
    never builds the list of ranges (lookups bisect the arrays kept when the ranges were set)."""
    reads = 0
    inner = mem._read

    def counting(pa: int, size: int) -> bytes:
        nonlocal reads
        reads += 1
        return inner(pa, size)

    def no_list() -> list[PhysRange]:
        raise AssertionError("the range list was built during a read or the sweep")

    mem._read = counting  # type: ignore[method-assign]
    mem.ranges = no_list  # type: ignore[method-assign]
    hits = scan(mem, zero_page_align=8)
    assert hits.systab == [systab_at]
    assert hits.bytes_scanned == 64 * n
    assert reads == n and hits.findings == []


# -- LiME ranges --------------------------------------------------------------------------------
def test_lime_overlaps_and_versions_are_capped(tmp_path: Path) -> None:
    n = 1000
    p = tmp_path / "overlap.lime"
    # range i covers 0x100*i .. +0x200: each overlaps the next; headers carry versions 2, 3, ...
    with open(p, "wb") as fh:
        for i in range(n):
            head = struct.pack("<IIQQ8x", 0x4C694D45, 2 + i, 0x100 * i, 0x100 * i + 0x1FF)
            fh.write(head + bytes([i & 0xFF]) * 0x200)
    with open_memory(str(p)) as mem:
        over = [f for f in mem.findings if f.code == LIME_OVERLAP]
        assert len(over) == N + 1 and over[N].message.startswith(f"{n - 1 - N} more LIME-OVERLAP findings")
        vers = [f for f in mem.findings if f.code == LIME_VERSION_UNKNOWN]
        assert len(vers) == N + 1 and vers[0].message.endswith("version 2, read as version 1")
        assert mem.read(0x100 * 5, 0x100) == bytes([4]) * 0x100  # range 4 covers it first
        assert mem.total_size() == 0x100 * (n + 1)


# -- flattened kdump records --------------------------------------------------------------------
def _apply_in_order(records: list[tuple[int, bytes]]) -> bytearray:
    """What ``makedumpfile -R`` writes: each record's bytes at its offset, in stream order."""
    out = bytearray(max(o + len(b) for o, b in records))
    for off, data in records:
        out[off : off + len(data)] = data
    return out


@pytest.mark.parametrize("seed", range(40))
def test_flat_resolutions_agree_with_the_stream_order(seed: int) -> None:
    rnd = random.Random(seed)
    records = [(rnd.randrange(300), rnd.randbytes(rnd.randrange(1, 50))) for _ in range(rnd.randrange(2, 80))]
    starts, lengths, srcs, stream = array("q"), array("q"), array("q"), bytearray()
    for off, data in records:
        starts.append(off)
        lengths.append(len(data))
        srcs.append(len(stream))
        stream += data
    want = _apply_in_order(records)
    results = []
    for resolve in (kdump_flat._resolve_small, kdump_flat._resolve_numpy):
        findings: list[Finding] = []
        s, n, src = resolve(array("q", starts), array("q", lengths), array("q", srcs), findings)
        assert all(isinstance(a, array) and a.typecode == "q" for a in (s, n, src))
        got = bytearray(len(want))
        for a, b, c in zip(s, n, src, strict=True):
            got[a : a + b] = stream[c : c + b]
        assert got == want
        assert all(s[k] + n[k] <= s[k + 1] for k in range(len(s) - 1))
        results.append((list(s), list(n), list(src), [f.code for f in findings]))
    assert results[0] == results[1]


def test_flattened_kdump_with_many_overlapping_records(tmp_path: Path) -> None:
    """More records than the pure-Python resolution takes, shuffled, half rewriting the other half."""
    plain = clean_kdump(0)
    step = 8
    records = [(o, plain[o : o + step]) for o in range(0, len(plain), step)]
    records += [(o + 7, plain[o + 7 : o + 7 + step]) for o in range(0, len(plain) - 7, step)]
    random.Random(5).shuffle(records)
    assert len(records) > kdump_flat.SMALL_RESOLVE
    stream = bytearray(4096)
    stream[:12] = b"makedumpfile"
    struct.pack_into(">qq", stream, 16, 1, 1)
    for off, data in records:
        stream += struct.pack(">qq", off, len(data)) + data
    stream += struct.pack(">qq", -1, -1)
    p = tmp_path / "many.kdump"
    p.write_bytes(bytes(stream))
    with open_memory(str(p)) as mem:
        assert mem.info.details["flat_records"] == len(records)
        assert [f.code for f in mem.findings] == ["KDUMP-FLAT-OVERLAP"]
        flat = mem._file
        assert isinstance(flat, kdump_flat.FlatFile)
        assert all(isinstance(a, array) for a in (flat._starts, flat._lengths, flat._srcs))
        assert flat.read(0, len(plain)) == plain
        assert mem.read(0, len(RAW)) == RAW
    assert zlib.crc32(plain) == zlib.crc32(bytes(_apply_in_order(records)))


def test_kdump_cut_inside_its_descriptor_table(tmp_path: Path) -> None:
    """Cut after 0x7f0 descriptors: a container finding at open, then every page whose data is gone is a
    capped KDUMP-TRUNCATED finding as the sweep meets it; the commands exit by their findings, never 2."""
    data = clean_kdump(ZLIB)
    keep = 0x7F0
    p = tmp_path / "cut.kdump"
    p.write_bytes(data[: desc_offset(keep, PAGES) + 10])
    with open_memory(str(p)) as mem:
        (f,) = mem.findings
        assert f.code == "KDUMP-TRUNCATED" and f"descriptors for only {keep}" in f.message
        assert mem.total_size() == keep * PAGE
        hits = scan(mem, zero_page_align=8)
        assert hits.systab == [] and hits.bytes_scanned == 0
        cut = [g for g in hits.findings if g.code == "KDUMP-TRUNCATED"]
        assert [g.address for g in cut[:N]] == [pfn * PAGE for pfn in range(N)]
        assert cut[N].message.startswith(f"{keep - N} more KDUMP-TRUNCATED findings omitted")
        assert len(cut) == N + 1 and len(hits.findings) == N + 1
    runner = CliRunner()
    for args in (["validate"], ["show", "--json"], ["scan", "--json"]):
        r = runner.invoke(cli, [*args, str(p)])
        assert r.exit_code in (0, 1), (args, r.output)
    assert runner.invoke(cli, ["scan", str(p)]).exit_code == 0


def test_a_bad_page_under_any_structure_is_a_finding_not_an_exception(tmp_path: Path) -> None:
    """Every page of the sample that holds data, broken in turn (descriptor size 2^31): the report and validate
    never let MemoryReadError escape (the fuzzer found parsers that asked ``is_readable`` and then read, which
    a kdump page whose decode fails answered yes to: ``is_readable`` now means a read will succeed)."""
    clean = clean_kdump(ZLIB)
    used = [pfn for pfn in range(PAGES) if any(RAW[pfn * PAGE : (pfn + 1) * PAGE])]
    assert len(used) >= 8  # boot_params, the command line, setup_data, the system table and its tables, ...
    for pfn in used:
        bad = bytearray(clean)
        try:
            _set_desc(bad, pfn, size=1 << 31)
        except struct.error:  # a page makedumpfile did not write (the first bitmap says so): nothing to break
            continue
        p = tmp_path / f"bad-{pfn:#x}.kdump"
        p.write_bytes(bytes(bad))
        with efitables.open(str(p)) as d:
            findings = list(d.findings)  # raises if a parser lets a read error escape
            verdict = validate_dump(d)
        assert verdict.exit_code in (0, 1), (hex(pfn), verdict.exit_code)
        assert any(f.address == pfn * PAGE and f.code == "KDUMP-BAD-PAGE" for f in findings), hex(pfn)


def test_first_gap_finds_a_bad_page_before_a_range_gap() -> None:
    """Fuzzer case B: a page that does not decode, before a hole in the ranges, is the first gap (not the hole)."""

    class Flaky(BytesMemory):
        decode_can_fail = True

        def _read(self, pa: int, size: int) -> bytes:
            if pa < 0x2000 and pa + size > 0x1000:
                raise MemoryReadError(0x1000, 0x1000, reason="page 0x1 does not decode")
            return super()._read(pa, size)

    mem = Flaky({0: bytes(0x3000), 0x4000: bytes(0x1000)})
    assert mem.first_gap(0, 0x5000) == (0x1000, 0x2000)
    assert mem.first_gap(0x2000, 0x3000) == (0x3000, 0x4000)
    assert not mem.is_readable(0, 0x2000) and mem.is_readable(0x2000, 0x1000)
