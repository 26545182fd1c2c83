"""Honest input: compressed and foreign files refused with what to do, AVML, kdump --split sets, VMware
.vmem with its region table, validate never OK on an empty or unrecognised dump, file names escaped.

Fixtures are built here with known values: the AVML and VMware layouts through their schemas
(efitables.schemas.avml, efitables.schemas.vmware), snappy framing through cramjam (the codec
efitables uses), the kdump --split parts by cutting a tests/test_kdump.py fixture the way
makedumpfile writes them, and the compressed files with the stdlib and cramjam.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import random
import struct
import zlib
from pathlib import Path
from typing import Any

import cramjam
import pytest
from click.testing import CliRunner
from test_kdump import PAGE, PAGES, build_kdump, page_of

from efitables.cli import cli
from efitables.dump import Dump
from efitables.errors import DumpFormatError, DumpOpenError, MemoryReadError
from efitables.memory import FORMATS, open_memory
from efitables.memory import avml as avml_mod
from efitables.memory import vmware as vmware_mod
from efitables.memory.avml import AvmlMemory
from efitables.memory.kdump_split import KdumpSplitMemory
from efitables.memory.vmware import VmwareMemory
from efitables.memory.wrappers import classify
from efitables.schemas.avml import (
    AVML_HEADER,
    AVML_HEADER_SIZE,
    AVML_MAGIC,
    AVML_TRAILER,
    LIME_MAGIC,
    SNAPPY_MAX_CHUNK_DATA,
    SNAPPY_STREAM_ID,
)
from efitables.schemas.common import struct_format
from efitables.schemas.vmware import (
    CPT_GROUP_DESC,
    CPT_GROUP_DESC_SIZE,
    CPTDUMP_HEADER,
    CPTDUMP_HEADER_SIZE,
    CPTDUMP_MAGIC_NUMBER,
    TAG_ISBLOCK,
    VMSS_BLOCK_HEADER,
    make_tag,
)
from efitables.validate import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, expand, validate_path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "dumps" / "samples"
SEABIOS = SAMPLES / "seabios.raw"
OVMF64 = SAMPLES / "ovmf64.raw"
SYSTAB = 0x7E0018  # dumps/make_samples.py SYSTAB
BOOT_PARAMS = 0x13000  # dumps/make_samples.py BOOT_PARAMS


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, list(args))
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r.exit_code, r.stdout, r.stderr


def codes(findings: list[Any]) -> list[str]:
    return sorted(f.code for f in findings)


# -- compressed wrappers ------------------------------------------------------------------

WRAPS = {
    "gz": (lambda b: gzip.compress(b, 1), "gzip-compressed", "gzip -dk {p}", "(or `gunzip -k {p}`)"),
    "xz": (lambda b: lzma.compress(b, preset=0), "xz-compressed", "xz -dk {p}", "(or `unxz -k {p}`)"),
    "zst": (lambda b: bytes(cramjam.zstd.compress(b)), "zstd-compressed", "zstd -d {p}", "(or `unzstd {p}`)"),
    "bz2": (lambda b: bz2.compress(b, 1), "bzip2-compressed", "bzip2 -dk {p}", "(or `bunzip2 -k {p}`)"),
    "lz4": (lambda b: bytes(cramjam.lz4.compress(b)), "lz4-compressed", "lz4 -d {p}", "(or `unlz4 {p}`)"),
}


@pytest.mark.parametrize("ext", sorted(WRAPS))
def test_compressed_sample_refused_with_the_command(tmp_path: Path, ext: str) -> None:
    pack, what, cmd, alt = WRAPS[ext]
    p = tmp_path / f"seabios.raw.{ext}"
    p.write_bytes(pack(SEABIOS.read_bytes()))
    with pytest.raises(DumpOpenError) as ei:
        open_memory(str(p))
    expect = f"{what}: run `{cmd.format(p=p)}` {alt.format(p=p)} and open {tmp_path / 'seabios.raw'}"
    # gzip, xz and bzip2 are peeked into (the sample is a raw image: no header inside to name)
    assert ei.value.reason == expect
    code, out, err = run("show", str(p))
    assert code == EXIT_ERROR and expect in err and out == ""
    v = validate_path(str(p))
    assert not v.opened and v.exit_code == EXIT_ERROR and expect in (v.error or "")


def test_compressed_without_suffix_names_the_container_inside(tmp_path: Path) -> None:
    vmcore = tmp_path / "vmcore"
    vmcore.write_bytes(gzip.compress((SAMPLES / "ovmf64-virt.elf").read_bytes(), 1))
    with pytest.raises(DumpOpenError) as ei:
        open_memory(str(vmcore))
    assert ei.value.reason == f"gzip-compressed ELF core: run `gzip -dc {vmcore} > {vmcore}.elf` and open {vmcore}.elf"
    # a name with a space is quoted for the shell
    odd = tmp_path / "my dump.xz"
    odd.write_bytes(lzma.compress(build_kdump(PAGES, max_mapnr=64), preset=0))
    with pytest.raises(DumpOpenError) as ei:
        open_memory(str(odd))
    q = f"'{odd}'"
    out = tmp_path / "my dump"
    assert ei.value.reason == f"xz-compressed kdump: run `xz -dk {q}` (or `unxz -k {q}`) and open {out}"


def test_zlib_lime_and_a_raw_image_that_only_looks_like_zlib(tmp_path: Path) -> None:
    data = bytes(range(256)) * 16
    lime = struct.pack("<IIQQ8s", LIME_MAGIC, 1, 0x1000, 0x1000 + len(data) - 1, b"") + data
    p = tmp_path / "capture.lime"
    p.write_bytes(zlib.compress(lime))
    with pytest.raises(DumpOpenError) as ei:
        open_memory(str(p))
    assert ei.value.reason == (f"zlib-compressed LiME (LiME's compress=1 output): run `zlib-flate -uncompress < {p} "
                               f"> {p}.lime` and open {p}.lime")
    # 0x78 0x9c is a valid zlib header, but what follows does not inflate: a raw image it stays
    raw = tmp_path / "odd.raw"
    raw.write_bytes(b"\x78\x9c" + bytes(PAGE * 4 - 2))
    with open_memory(str(raw)) as mem:
        assert mem.info.format == "raw" and mem.findings == []


CORPUS = ROOT / "dumps" / "real" / "corpus"


@pytest.mark.skipif(not list(CORPUS.glob("*.xz")), reason="no real-dump corpus")
def test_the_real_corpus_compressed_files(tmp_path: Path) -> None:
    """The project's own dumps/real/corpus/*.xz: each says what it holds and what to run (issue 15)."""
    inner = {".elf": "ELF core", ".kdump-zlib": "kdump", ".kdump-lzo-d31": "kdump", ".vmcore": "ELF core"}
    for p in sorted(CORPUS.glob("*.xz")):
        with pytest.raises(DumpOpenError) as ei:
            open_memory(str(p))
        stem = str(p)[: -len(".xz")]
        kind = inner.get(os.path.splitext(stem)[1])
        if kind is None:  # the serial logs
            assert ei.value.reason == "xz-compressed text, not a memory dump"
        else:
            assert ei.value.reason == f"xz-compressed {kind}: run `xz -dk {p}` (or `unxz -k {p}`) and open {stem}"
    e = expand([str(CORPUS)])
    assert [os.path.basename(x) for x in e.paths] == sorted(
        p.name for p in CORPUS.glob("*.xz") if ".serial.log" not in p.name)
    assert sorted(os.path.basename(x) for x, _w in e.skipped) == sorted(
        [p.name for p in CORPUS.glob("*.json")] + [p.name for p in CORPUS.glob("*.serial.log.xz")])


def test_forced_format_on_a_compressed_file_is_flagged_and_never_ok(tmp_path: Path) -> None:
    p = tmp_path / "vmcore.gz"
    p.write_bytes(gzip.compress(SEABIOS.read_bytes(), 1).ljust(256 * 1024, b"\0"))
    with open_memory(str(p), "raw") as mem:
        (f,) = mem.findings
        assert (f.code, f.severity.name, f.structure) == ("DUMP-FORCED-FORMAT", "WARNING", "container")
        assert f.message == "opened as raw as asked, but the file looks like this: gzip-compressed"
    v = validate_path(str(p), open_kwargs={"format": "raw"})
    assert v.exit_code == EXIT_FINDINGS
    assert {"DUMP-FORCED-FORMAT", "DUMP-NOTHING-FOUND"} <= {f.code for f in v.findings}
    code, out, _ = run("validate", "--format", "raw", str(p))
    assert code == EXIT_FINDINGS and "DUMP-NOTHING-FOUND" in out


# -- foreign formats ------------------------------------------------------------------------


def _page(head: bytes, at: int = 0, size: int = 2 * PAGE) -> bytes:
    b = bytearray(size)
    b[at : at + len(head)] = head
    return bytes(b)


FOREIGN = {
    "PAGEDUMP": (_page(b"PAGEDUMP"), "Windows crash dump (PAGEDUMP, 32-bit)"),
    "PAGEDU64": (_page(b"PAGEDU64"), "Windows crash dump (PAGEDU64, 64-bit)"),
    "hibr": (_page(b"hibr"), "Windows hibernation file (hiberfil.sys)"),
    "WAKE": (_page(b"WAKE"), "Windows hibernation file (hiberfil.sys)"),
    "swsusp": (_page(b"S1SUSPEND\0", PAGE - 10), "Linux hibernation image in a swap area"),
    "swap": (_page(b"SWAPSPACE2", PAGE - 10), "Linux swap area"),
    "qemu": (_page(b"QEVM\0\0\0\x03"), "QEMU migration / savevm stream"),
    "vbox": (_page(b"\x7fVirtualBox SavedState V2.0\n"), "VirtualBox saved state"),
    "ewf": (_page(b"EVF\x09\x0d\x0a\xff\x00"), "EWF (E01) evidence file"),
    "zip": (_page(b"PK\x03\x04"), "ZIP archive"),
    "7z": (_page(b"7z\xbc\xaf\x27\x1c"), "7-Zip archive"),
    "tar": (_page(b"ustar\x0000", 257), "tar archive"),
}


@pytest.mark.parametrize("name", sorted(FOREIGN))
def test_foreign_format_refused_naming_it(tmp_path: Path, name: str) -> None:
    data, what = FOREIGN[name]
    p = tmp_path / f"{name}.bin"
    p.write_bytes(data)  # two whole pages: without the sniff it would have been read as a raw image
    with pytest.raises(DumpOpenError) as ei:
        open_memory(str(p))
    assert ei.value.reason.startswith(what)
    assert ei.value.reason.endswith("; if it really is a raw physical image, use --format raw")
    code, out, _ = run("validate", str(p))
    assert code == EXIT_ERROR and f"{p}: ERROR {p}: {what}" in out
    with open_memory(str(p), "raw") as mem:  # forcing still works, and says what it looked like
        assert [f.code for f in mem.findings] == ["DUMP-FORCED-FORMAT"]
        assert mem.findings[0].message.startswith(f"opened as raw as asked, but the file looks like this: {what}")


# -- AVML -------------------------------------------------------------------------------------


def avml_block(start: int, data: bytes, *, magic: int = AVML_MAGIC, version: int = 2, end: int | None = None,
               padding: int = 0, trailer: int | None = None) -> bytes:
    """One block as microsoft/avml src/image.rs writes it: header, snappy-framed stream, length trailer."""
    hdr = AVML_HEADER.build({"magic": magic, "version": version, "start": start,
                             "end": start + len(data) - 1 if end is None else end, "padding": padding})
    if version == 1:
        return hdr + data
    stream = bytes(cramjam.snappy.compress(data))
    return hdr + stream + AVML_TRAILER.build({"compressed_length": len(stream) if trailer is None else trailer})


def to_avml(image: bytes, block: int = 0x10000) -> tuple[bytes, list[tuple[int, int]]]:
    """An image as AVML: ``block``-byte blocks, all-zero ones left out (``copy_if_nonzero``)."""
    out, kept = bytearray(), []
    for pa in range(0, len(image), block):
        data = image[pa : pa + block]
        if any(data):
            out += avml_block(pa, data)
            kept.append((pa, pa + len(data)))
    return bytes(out), kept


def chunk_types(stream: bytes) -> list[int]:
    pos, out = len(SNAPPY_STREAM_ID), []
    while pos < len(stream):
        out.append(stream[pos])
        pos += 4 + int.from_bytes(stream[pos + 1 : pos + 4], "little")
    return out


RND = random.Random(15)
A = RND.randbytes(0x10000) + page_of(1) * 0x10  # a random chunk (stored uncompressed), then a compressible one
B = page_of(2) * 0x20  # 128 KiB, compressible
C = RND.randbytes(PAGE)


def avml_fixture() -> tuple[bytes, list[int]]:
    """Blocks A at 0x1000, B right after it (a read crosses them), a zero block left out, C at 1 MiB."""
    blocks = [avml_block(0x1000, A), avml_block(0x1000 + len(A), B), avml_block(0x100000, C)]
    offsets = [0, len(blocks[0]), len(blocks[0]) + len(blocks[1])]
    return b"".join(blocks), offsets


def test_avml_blocks_field_by_field_and_reads_across_blocks(tmp_path: Path) -> None:
    data, offsets = avml_fixture()
    # the stream really has both kinds of data chunk, and chunks of at most 64 KiB of data
    s = bytes(cramjam.snappy.compress(A))
    assert {0x00, 0x01} <= set(chunk_types(s))
    p = tmp_path / "capture.avml"
    p.write_bytes(data)
    with open_memory(str(p)) as mem:
        assert isinstance(mem, AvmlMemory) and mem.info.format == "avml"
        assert mem.findings == []
        end_b = 0x1000 + len(A) + len(B)
        assert [(r.start, r.end) for r in mem.ranges()] == [(0x1000, 0x1000 + len(A)), (0x1000 + len(A), end_b),
                                                           (0x100000, 0x100000 + len(C))]
        for blk, off, payload, start in zip(mem.blocks, offsets, (A, B, C), (0x1000, 0x1000 + len(A), 0x100000),
                                            strict=True):
            hdr = AVML_HEADER.parse(data[off : off + AVML_HEADER_SIZE])
            assert (hdr.magic, hdr.version, hdr.start, hdr.end, hdr.padding) == (
                AVML_MAGIC, 2, start, start + len(payload) - 1, 0)
            (trailer,) = struct.unpack_from("<Q", data, off + AVML_HEADER_SIZE + blk.stream_length)
            assert (blk.header_offset, blk.start, blk.size, blk.compressed, blk.stream_length) == (
                off, start, len(payload), True, trailer)
        assert mem.info.details == {"indexed": "trailers", "blocks": 3, "compressed_blocks": 3,
                                    "bytes": len(A) + len(B) + len(C)}
        # exact bytes: whole blocks, a read across a chunk boundary, across the two adjacent blocks
        assert mem.read(0x1000, len(A)) == A
        k = SNAPPY_MAX_CHUNK_DATA
        assert mem.read(0x1000 + k - 8, 16) == A[k - 8 : k + 8]
        assert mem.read(0x1000 + len(A) - 100, 200) == A[-100:] + B[:100]
        assert mem.read(0x100000, len(C)) == C
        assert mem.read_u64(0x100008) == int.from_bytes(C[8:16], "little")
        with pytest.raises(MemoryReadError) as ei:  # the left-out zero block reads as missing
            mem.read(end_b - 8, 16)
        assert ei.value.missing == (end_b, end_b + 8)
        swept = b"".join(bytes(d) for _pa, d in mem.chunks(chunk_size=0x8000))
        assert swept == A + B + C


def test_avml_of_a_sample_finds_the_same_system_table(tmp_path: Path) -> None:
    image = OVMF64.read_bytes()
    data, kept = to_avml(image)
    assert len(kept) < len(image) // 0x10000  # zero blocks were left out
    p = tmp_path / "ovmf64.avml"
    p.write_bytes(data)
    with Dump.open(str(p)) as d:
        assert d.memory.info.format == "avml"
        assert [(r.start, r.end) for r in d.memory.ranges()] == kept
        assert d.systab is not None and d.systab.address == SYSTAB and d.systab.firmware_vendor == "EDK II"
        assert d.boot_params is not None and d.boot_params.address == BOOT_PARAMS
    v = validate_path(str(p))
    assert v.format == "avml" and "DUMP-NOTHING-FOUND" not in {f.code for f in v.findings}


def test_lime_sniff_does_not_claim_avml_and_lime_v2_variant(tmp_path: Path) -> None:
    assert list(FORMATS).index("avml") < list(FORMATS).index("lime")
    variant = avml_block(0x2000, B, magic=LIME_MAGIC)  # LiME's magic, version 2, snappy stream
    p = tmp_path / "variant.lime"
    p.write_bytes(variant)
    with open_memory(str(p)) as mem:
        assert mem.info.format == "avml"
        assert codes(mem.findings) == ["AVML-HEADER-VARIANT"]
        assert mem.read(0x2000, len(B)) == B
    # plain LiME (version 1) stays LiME's
    plain = tmp_path / "plain.lime"
    plain.write_bytes(avml_block(0x2000, C, magic=LIME_MAGIC, version=1))
    with open_memory(str(plain)) as mem:
        assert mem.info.format == "lime"


def test_avml_lime_block_inside_is_read_forward(tmp_path: Path) -> None:
    data = avml_block(0x1000, B) + avml_block(0x40000, C, magic=LIME_MAGIC, version=1) + avml_block(0x80000, A)
    p = tmp_path / "mixed.avml"
    p.write_bytes(data)
    with open_memory(str(p)) as mem:
        assert mem.info.details["indexed"] == "chunk walk" and mem.findings == []
        assert [b.compressed for b in mem.blocks] == [True, False, True]
        assert mem.read(0x40000, len(C)) == C and mem.read(0x80000, len(A)) == A and mem.read(0x1000, len(B)) == B


def test_avml_truncated_stream_keeps_the_whole_chunks(tmp_path: Path) -> None:
    data, offsets = avml_fixture()
    cut = offsets[1] - 8 - 1000  # inside block A's second (compressed) chunk
    p = tmp_path / "cut.avml"
    p.write_bytes(data[:cut])
    with open_memory(str(p)) as mem:
        (f,) = mem.findings
        assert f.code == "AVML-TRUNCATED"
        blk = mem.blocks[0]
        good = blk.avail
        assert good == SNAPPY_MAX_CHUNK_DATA  # the first chunk is whole, the second is cut
        assert f.address == 0x1000 + good
        assert f.message.startswith(f"block at file offset 0x0 (physical 0x1000-{0x1000 + len(A) - 1:#x}): the stream "
                                    "is cut in the chunk at file offset")
        assert [(r.start, r.end) for r in mem.ranges()] == [(0x1000, 0x1000 + good)]
        assert mem.read(0x1000, good) == A[:good]


def test_avml_wrong_trailer_falls_back_to_the_chunk_walk(tmp_path: Path) -> None:
    a = avml_block(0x1000, A)
    stream_len = len(a) - AVML_HEADER_SIZE - 8
    bad = avml_block(0x1000, A, trailer=stream_len + 5)
    p = tmp_path / "trailer.avml"
    p.write_bytes(bad + avml_block(0x100000, C))
    with open_memory(str(p)) as mem:
        assert mem.info.details["indexed"] == "chunk walk"
        (f,) = mem.findings
        assert (f.code, f.address) == ("AVML-BAD-STREAM", 0x1000)
        assert f.message == (f"block at file offset 0x0 (physical 0x1000-{0x1000 + len(A) - 1:#x}): the length "
                             f"trailer at file offset {AVML_HEADER_SIZE + stream_len:#x} disagrees with the block's "
                             f"compressed size ({stream_len:#x} bytes, from its chunks); the chunks are followed")
        assert mem.read(0x1000, len(A)) == A and mem.read(0x100000, len(C)) == C


def test_avml_corrupt_chunk_is_a_read_error_naming_the_block(tmp_path: Path) -> None:
    data = bytearray(avml_block(0x1000, B) + avml_block(0x100000, C))
    data[AVML_HEADER_SIZE + len(SNAPPY_STREAM_ID) + 4 + 4 + 40] ^= 0xFF  # a byte of B's first chunk's data
    p = tmp_path / "corrupt.avml"
    p.write_bytes(bytes(data))
    with open_memory(str(p)) as mem:
        assert mem.findings == []  # nothing is decompressed at open
        with pytest.raises(MemoryReadError) as ei:
            mem.read(0x1000, 16)
        assert ei.value.reason.startswith(f"AVML block at file offset 0x0 (physical 0x1000-{0x1000 + len(B) - 1:#x}): "
                                          f"snappy chunk at file offset {AVML_HEADER_SIZE + len(SNAPPY_STREAM_ID):#x} "
                                          "is corrupt")
        assert codes(mem.findings) == ["AVML-BAD-STREAM"]
        assert mem.read(0x1000 + SNAPPY_MAX_CHUNK_DATA, 64) == B[SNAPPY_MAX_CHUNK_DATA : SNAPPY_MAX_CHUNK_DATA + 64]
        assert mem.read(0x100000, len(C)) == C
        # a sweep skips the bad chunk and reads the rest, with no finding per page
        swept = {pa: bytes(d) for pa, d in mem.chunks(chunk_size=0x8000)}
        assert 0x1000 not in swept and swept[0x100000] == C
        assert codes(mem.findings) == ["AVML-BAD-STREAM"]


def test_avml_reserved_chunk_type_stops_the_block(tmp_path: Path) -> None:
    data = bytearray(avml_block(0x1000, A) + avml_block(0x100000, C))
    first = AVML_HEADER_SIZE + len(SNAPPY_STREAM_ID)
    second = first + 4 + int.from_bytes(data[first + 1 : first + 4], "little")
    data[second] = 0x05  # a reserved, unskippable chunk type where A's second chunk is
    p = tmp_path / "reserved.avml"
    p.write_bytes(bytes(data))
    with open_memory(str(p)) as mem:
        assert mem.read(0x1000, SNAPPY_MAX_CHUNK_DATA) == A[:SNAPPY_MAX_CHUNK_DATA]  # the chunk before it reads
        with pytest.raises(MemoryReadError) as ei:
            mem.read(0x1000 + SNAPPY_MAX_CHUNK_DATA, 8)
        assert f"chunk at file offset {second:#x} has a reserved, unskippable chunk type" in ei.value.reason
        (f,) = mem.findings
        assert (f.code, f.address) == ("AVML-BAD-STREAM", 0x1000)
        assert mem.read(0x100000, len(C)) == C


def test_avml_header_claiming_more_than_its_stream_holds(tmp_path: Path) -> None:
    huge = avml_block(0x1000, B, end=0x1000 + (1 << 30) - 1)  # 1 GiB claimed, 128 KiB in the stream
    p = tmp_path / "claim.avml"
    p.write_bytes(huge)
    with open_memory(str(p)) as mem:
        (f,) = mem.findings
        assert f.code == "AVML-BAD-STREAM" and "the stream is cut" in f.message
        assert [(r.start, r.end) for r in mem.ranges()] == [(0x1000, 0x1000 + len(B))]
        assert mem.read(0x1000, len(B)) == B


def test_avml_overlap_bad_header_and_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # B overlaps A's last page: the first block keeps its bytes
    data = avml_block(0x1000, A) + avml_block(0x1000 + len(A) - PAGE, B)
    p = tmp_path / "overlap.avml"
    p.write_bytes(data)
    with open_memory(str(p)) as mem:
        (f,) = mem.findings
        assert (f.code, f.address) == ("AVML-OVERLAP", 0x1000 + len(A) - PAGE)
        assert mem.read(0x1000 + len(A) - PAGE, 2 * PAGE) == A[-PAGE:] + B[PAGE : 2 * PAGE]
    # nonzero padding after a good block: the rest is ignored with a finding
    p.write_bytes(avml_block(0x1000, B) + avml_block(0x100000, C, padding=7))
    with open_memory(str(p)) as mem:
        (f,) = mem.findings
        assert f.code == "AVML-BAD-HEADER" and f.message.startswith(
            f"header at file offset {len(avml_block(0x1000, B)):#x}: padding is not zero")
        assert [(r.start, r.end) for r in mem.ranges()] == [(0x1000, 0x1000 + len(B))]
    # ... and as the first header: not an AVML file
    p.write_bytes(avml_block(0x100000, C, padding=7))
    with pytest.raises(DumpFormatError):
        open_memory(str(p))
    # caps: block size and block count, each reported once
    monkeypatch.setattr(avml_mod, "MAX_BLOCK_SIZE", 0x10000)
    p.write_bytes(avml_block(0x1000, B) + avml_block(0x100000, C))
    with open_memory(str(p)) as mem:
        assert codes(mem.findings) == ["AVML-LIMIT"] and "block limit" in mem.findings[0].message
        assert [(r.start, r.end) for r in mem.ranges()] == [(0x100000, 0x100000 + len(C))]
    monkeypatch.setattr(avml_mod, "MAX_BLOCK_SIZE", 1 << 36)
    monkeypatch.setattr(avml_mod, "MAX_BLOCKS", 2)
    p.write_bytes(b"".join(avml_block(0x100000 * i, C) for i in range(1, 5)))
    with open_memory(str(p)) as mem:
        assert codes(mem.findings) == ["AVML-LIMIT"] and "more than 2 blocks" in mem.findings[0].message
        assert len(mem.ranges()) == 2


@pytest.mark.parametrize("seed", range(12))
def test_avml_fuzzed_bytes_never_crash(tmp_path: Path, seed: int) -> None:
    data, _ = avml_fixture()
    rnd = random.Random(seed)
    buf = bytearray(data)
    for _ in range(rnd.randrange(1, 8)):
        buf[rnd.randrange(len(buf))] = rnd.randrange(256)
    if seed % 3 == 0:
        buf = buf[: rnd.randrange(AVML_HEADER_SIZE, len(buf))]
    p = tmp_path / "fuzz.avml"
    p.write_bytes(bytes(buf))
    try:
        mem = open_memory(str(p), "avml")
    except DumpOpenError:
        return
    with mem:
        for r in mem.ranges():
            try:
                mem.read(r.start, min(r.size, 0x20000))
            except MemoryReadError:
                pass
        for _pa, _d in mem.chunks(chunk_size=0x10000):
            pass


def test_avml_header_fast_path_is_the_schema() -> None:
    assert avml_mod._HDR.format == struct_format(AVML_HEADER) == "<IIQQQ"
    raw = AVML_HEADER.build({"magic": AVML_MAGIC, "version": 2, "start": 0x1234, "end": 0x5678, "padding": 0})
    assert raw[:4] == b"AVML" and avml_mod._HDR.unpack(raw) == (AVML_MAGIC, 2, 0x1234, 0x5678, 0)
    assert AVML_HEADER.build({"magic": LIME_MAGIC, "version": 1, "start": 0, "end": 0, "padding": 0})[:4] == b"EMiL"


# -- kdump --split ------------------------------------------------------------------------------

SUB_SPLIT, SUB_START, SUB_END, SUB_START64, SUB_END64 = 12, 16, 24, 80, 88  # kdump_sub_header (diskdump_mod.h)
BITMAP_BLOCKS = 436  # disk_dump_header.bitmap_blocks


def split_kdump(full: bytes, bounds: list[tuple[int, int]]) -> list[bytes]:
    """The parts makedumpfile --split writes for ``bounds`` [(start_pfn, end_pfn)]: the same header,
    a sub-header with split = 1 and the part's PFNs, the whole bitmaps, then the descriptors and data
    of only the part's pages (write_kdump_pages_cyclic limits its loop to [split_start_pfn, split_end_pfn))."""
    bs = PAGE
    (bitmap_blocks,) = struct.unpack_from("<I", full, BITMAP_BLOCKS)
    bitmap_off = 2 * bs
    half = bitmap_blocks * bs // 2
    second = full[bitmap_off + half : bitmap_off + 2 * half]
    desc_off = bitmap_off + bitmap_blocks * bs
    dumped = [pfn for pfn in range(half * 8) if second[pfn >> 3] >> (pfn & 7) & 1]
    descs = {pfn: struct.unpack_from("<qIIQ", full, desc_off + 24 * i) for i, pfn in enumerate(dumped)}
    parts = []
    for lo, hi in bounds:
        head = bytearray(full[:desc_off])
        struct.pack_into("<i", head, bs + SUB_SPLIT, 1)
        struct.pack_into("<QQ", head, bs + SUB_START, lo, hi)
        struct.pack_into("<QQ", head, bs + SUB_START64, lo, hi)
        mine = [pfn for pfn in dumped if lo <= pfn < hi]
        data_off = desc_off + 24 * len(mine)
        out_descs, data, moved = bytearray(), bytearray(), {}
        for pfn in mine:
            off, size, flags, pflags = descs[pfn]
            if off not in moved:  # the shared zero page is written once per part
                moved[off] = data_off + len(data)
                data += full[off : off + size]
            out_descs += struct.pack("<qIIQ", moved[off], size, flags, pflags)
        parts.append(bytes(head + out_descs + data))
    return parts


BOUNDS = [(0, 4), (4, 10), (10, 64)]


def merged(ranges: list[Any]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for r in ranges:
        if out and out[-1][1] == r.start:
            out[-1] = (out[-1][0], r.end)
        else:
            out.append((r.start, r.end))
    return out


def _split_set(tmp_path: Path, bounds: list[tuple[int, int]] = BOUNDS) -> tuple[str, list[str]]:
    full = build_kdump(PAGES, max_mapnr=64)
    fp = tmp_path / "full.kdump"
    fp.write_bytes(full)
    paths = []
    for i, part in enumerate(split_kdump(full, bounds)):
        pp = tmp_path / f"dump.split{i + 1}"
        pp.write_bytes(part)
        paths.append(str(pp))
    return str(fp), paths


def test_split_set_reads_as_the_whole_dump(tmp_path: Path) -> None:
    full, parts = _split_set(tmp_path)
    with open_memory(full) as whole, open_memory(list(reversed(parts))) as mem:  # order does not matter
        assert isinstance(mem, KdumpSplitMemory) and mem.info.format == "kdump-split"
        assert mem.findings == []
        # the same bytes; a range that crosses a part boundary is two ranges, one per part
        assert merged(mem.ranges()) == merged(whole.ranges())
        assert [(r.start, r.end) for r in mem.ranges()] == [(0, 4 * PAGE), (4 * PAGE, 5 * PAGE), (8 * PAGE, 10 * PAGE),
                                                           (10 * PAGE, 11 * PAGE), (20 * PAGE, 21 * PAGE)]
        for r in whole.ranges():
            assert mem.read(r.start, r.size) == whole.read(r.start, r.size)
        assert mem.read(3 * PAGE + 100, PAGE + 200) == PAGES[3][100:] + bytes(300)  # across parts 1 and 2
        assert mem.vmcoreinfo == whole.vmcoreinfo and mem.vmcoreinfo is not None
        d = mem.info.details
        assert d["parts"] == list(reversed(parts))
        assert d["part_pfns"] == [[10, 64], [4, 10], [0, 4]]
        assert d["max_mapnr"] == 64 and d["release"] == "6.1.0-test"
        for i, p in enumerate(mem.parts):  # each part alone holds only its own pages
            lo, hi = d["part_pfns"][i]
            assert all(lo * PAGE <= r.start and r.end <= hi * PAGE for r in p.ranges())
        assert sorted(mem.source_files()) == sorted((p, os.path.getsize(p)) for p in parts)
    with Dump.open(parts) as dump:  # type: ignore[arg-type]  (Dump.open takes a list through open_memory)
        assert dump.memory.info.format == "kdump-split"


def test_split_set_gap_overlap_and_mismatch(tmp_path: Path) -> None:
    _full, parts = _split_set(tmp_path)
    with open_memory([parts[0], parts[2]]) as mem:  # the middle part is missing
        (f,) = mem.findings
        assert (f.code, f.address) == ("KDUMP-SPLIT-GAP", 4 * PAGE)
        assert f.message == "no part holds PFNs 0x4-0x9 (before part 2 (dump.split3))"
        with pytest.raises(MemoryReadError):
            mem.read(8 * PAGE, 8)
        assert mem.read(20 * PAGE, PAGE) == PAGES[20]
    with open_memory([parts[0], parts[1], parts[1], parts[2]]) as mem:
        (f,) = mem.findings
        assert (f.code, f.address) == ("KDUMP-SPLIT-OVERLAP", 4 * PAGE)
        assert mem.read(8 * PAGE, PAGE) == PAGES[8]
    with open_memory(parts[:2]) as mem:  # the last part is missing
        (f,) = mem.findings
        assert f.code == "KDUMP-SPLIT-GAP" and f.message == "no part holds PFNs 0xa-0x3f (up to max_mapnr 0x40)"
    # a part of another run (another timestamp) and a dump that is not split
    other = bytearray(Path(parts[1]).read_bytes())
    struct.pack_into("<q", other, 408, 1_700_000_999)
    op = tmp_path / "other.split2"
    op.write_bytes(bytes(other))
    whole = tmp_path / "whole.kdump"
    whole.write_bytes(build_kdump({pfn: PAGES[pfn] for pfn in (0, 1)}, max_mapnr=64))
    with open_memory([parts[0], str(op), parts[2]]) as mem:
        (f,) = mem.findings
        assert f.code == "KDUMP-SPLIT-MISMATCH" and f.severity.name == "ERROR"
        assert f.message.startswith("part 2 (other.split2) differs from part 1: timestamp ")
    with open_memory([str(whole), parts[2]]) as mem:
        assert codes(mem.findings) == ["KDUMP-SPLIT-MISMATCH", "KDUMP-SPLIT-OVERLAP"]
    with pytest.raises(DumpOpenError, match="no such file"):
        open_memory([parts[0], str(tmp_path / "missing.split2")])
    with pytest.raises(DumpOpenError, match="cannot be one"):
        open_memory(parts, "raw")


def test_split_set_on_the_command_line(tmp_path: Path) -> None:
    _full, parts = _split_set(tmp_path)
    args = [a for p in parts for a in ("--split", p)]
    code, out, err = run("validate", "--json", *args)
    doc = json.loads(out)
    (v,) = doc["dumps"]
    assert v["path"] == " + ".join(parts) and v["format"] == "kdump-split" and v["error"] is None
    assert "KDUMP-SPLIT-GAP" not in {f["code"] for f in v["findings"]}
    assert code in (EXIT_OK, EXIT_FINDINGS) and "ERROR" not in err
    code, out, _ = run("validate", "--split", parts[0], "--split", parts[2])  # a warning: exit 0, but said
    assert code == EXIT_OK and "KDUMP-SPLIT-GAP" in out and "no part holds PFNs 0x4-0x9" in out
    code, _, err = run("validate")
    assert code == 2 and "--split" in err


def _sample_split_set(tmp_path: Path) -> tuple[str, list[str]]:
    """dumps/samples/ovmf64.raw (an OVMF system table, configuration tables, a zero page) as a plain kdump
    and as the three parts makedumpfile --split would write of it."""
    raw = (Path(__file__).resolve().parent.parent / "dumps" / "samples" / "ovmf64.raw").read_bytes()
    pages = {i // PAGE: raw[i : i + PAGE] for i in range(0, len(raw), PAGE) if raw[i : i + PAGE].strip(b"\0")}
    full = build_kdump(pages, max_mapnr=len(raw) // PAGE)
    fp = tmp_path / "sample.kdump"
    fp.write_bytes(full)
    paths = []
    third = len(raw) // PAGE // 3
    bounds = [(0, third), (third, 2 * third), (2 * third, len(raw) // PAGE)]
    for i, part in enumerate(split_kdump(full, bounds)):
        pp = tmp_path / f"sample.split{i + 1}"
        pp.write_bytes(part)
        paths.append(str(pp))
    return str(fp), paths


def test_every_command_reads_a_split_set(tmp_path: Path, expected: dict) -> None:
    """show, coverage, export, scan and dmesg take --split PART (repeated) as one dump, and answer as they do
    for the same memory in one file; DUMP and --split together, or neither, are usage errors."""
    full, parts = _sample_split_set(tmp_path)
    split = [a for p in parts for a in ("--split", p)]
    name = " + ".join(parts)
    whole = json.loads(run("show", "--json", full)[1])
    code, out, _ = run("show", "--json", *split)
    got = json.loads(out)
    assert code == EXIT_OK
    assert got["dump"]["path"] == name and got["dump"]["format"] == "kdump-split"
    assert {k: v for k, v in got.items() if k != "dump"} == {k: v for k, v in whole.items() if k != "dump"}
    assert got["efi"]["system_table"]["address"] == expected["ovmf64.raw"]["systab"]
    # DUMPS and a split set in one run: one report each
    code, out, _ = run("show", "--json", full, *split)
    assert [r["dump"]["path"] for r in json.loads(out)["dumps"]] == [full, name]
    code, out, _ = run("show", *split)
    assert code == EXIT_OK and f"{expected['ovmf64.raw']['systab']:#x}" in out and "kdump-split" in out

    cov_whole = json.loads(run("coverage", "--json", full)[1])
    code, out, _ = run("coverage", "--json", *split)
    cov = json.loads(out)
    assert cov["rows"] == cov_whole["rows"] and cov["dump"]["path"] == name

    outdir = tmp_path / "export"
    code, out, _ = run("export", *split, "systab", "-o", str(outdir))  # every argument is a TABLE
    assert code == EXIT_OK
    (written,) = outdir.iterdir()
    with open_memory(full) as mem:
        st = expected["ovmf64.raw"]["systab"]
        assert written.read_bytes() == mem.read(st, len(written.read_bytes()))

    code, out, _ = run("scan", "--json", *split)
    assert code == EXIT_OK
    doc = json.loads(out)
    assert doc["dump"]["path"] == name
    scan_whole = json.loads(run("scan", "--json", full)[1])
    assert [c["address"] for c in doc["system_tables"]] == [c["address"] for c in scan_whole["system_tables"]]
    assert doc["system_tables"] and doc["zero_pages"] == scan_whole["zero_pages"]

    code, _, err = run("dmesg", *split)  # the fixture's VMCOREINFO names no printk ring
    assert code == 2 and f"{name}: no readable kernel log" in err

    code, _, err = run("export", full, *split, "-o", str(outdir))  # with --split every argument is a TABLE
    assert code == 1 and f"{full}: not in the dump (a file: with --split every argument is a TABLE" in err
    for cmd in (["coverage"], ["scan"], ["dmesg"], ["tui"]):  # one dump each
        code, _, err = run(*cmd, full, *split)
        assert code == 2 and "not both" in err, cmd
    for cmd in (["show"], ["coverage"], ["scan"], ["dmesg"], ["tui"]):
        code, _, err = run(*cmd)
        assert code == 2 and "--split" in err, cmd
    code, _, err = run("tui", "--split", parts[0], "--split", str(tmp_path / "missing.split2"))
    assert code == 2 and "missing.split2: no such file" in err


# -- VMware ---------------------------------------------------------------------------------------

HOLE_LO, HOLE_HI = 0x40000, 0x100000  # the "PCI hole" of the fixture: 256 KiB of RAM, then RAM from 1 MiB


def tag(name: str, value: int | None = None, idx: tuple[int, ...] = (), size: int = 4,
        block: bytes | None = None, pad: int = 0) -> bytes:
    """One checkpoint tag (crash vmware_vmss.h MAKE_TAG), a value or a block."""
    nb = name.encode()
    valsize = TAG_ISBLOCK if block is not None else size
    out = struct.pack("<H", make_tag(len(nb), len(idx), valsize)) + nb + b"".join(struct.pack("<I", i) for i in idx)
    if block is not None:
        return out + VMSS_BLOCK_HEADER.build({"nbytes": len(block), "nbytesinmem": len(block), "padsize": pad}) + (
            bytes(pad) + block)
    assert value is not None
    return out + value.to_bytes(size, "little")


def build_vmss(memory_tags: bytes, magic: int = CPTDUMP_MAGIC_NUMBER) -> bytes:
    """Header, two groups (``cpu`` with no tags, ``memory``), then each group's tags and a null tag."""
    groups_end = CPTDUMP_HEADER_SIZE + 2 * CPT_GROUP_DESC_SIZE
    cpu_tags = struct.pack("<H", 0)
    mem_pos = groups_end + len(cpu_tags)
    mem = memory_tags + struct.pack("<H", 0)
    return (CPTDUMP_HEADER.build({"id": magic, "version": 8, "numgroups": 2})
            + CPT_GROUP_DESC.build({"name": b"cpu".ljust(64, b"\0"), "position": groups_end, "size": len(cpu_tags)})
            + CPT_GROUP_DESC.build({"name": b"memory".ljust(64, b"\0"), "position": mem_pos, "size": len(mem)})
            + cpu_tags + mem)


def regions(*rs: tuple[int, int, int], count: int | None = None) -> bytes:
    """``regionsCount`` and per region (ppn, page number in the file, pages), after a block tag to skip."""
    out = tag("align_mask", 0xFFFF) + tag("somethingBig", block=b"\xaa" * 100, pad=6)
    out += tag("regionsCount", len(rs) if count is None else count)
    for i, (ppn, pagenum, size) in enumerate(rs):
        out += tag("regionPPN", ppn, (i,)) + tag("regionPageNum", pagenum, (i,)) + tag("regionSize", size, (i,))
    return out


RAM = RND.randbytes(HOLE_LO + 0x20000)  # the .vmem: 256 KiB below the hole, 128 KiB above it
PCI_HOLE_REGIONS = ((0, 0, HOLE_LO // PAGE), (HOLE_HI // PAGE, HOLE_LO // PAGE, 0x20000 // PAGE))


def _vm(tmp_path: Path, state: bytes | None, ext: str = ".vmss") -> Path:
    vmem = tmp_path / "guest.vmem"
    vmem.write_bytes(RAM)
    if state is not None:
        (tmp_path / f"guest{ext}").write_bytes(state)
    return vmem


@pytest.mark.parametrize("ext", [".vmss", ".vmsn"])
def test_vmem_with_region_table_has_the_pci_hole(tmp_path: Path, ext: str) -> None:
    vmem = _vm(tmp_path, build_vmss(regions(*PCI_HOLE_REGIONS)), ext)
    with open_memory(str(vmem)) as mem:
        assert isinstance(mem, VmwareMemory) and mem.info.format == "vmware"
        assert mem.findings == []
        assert [(r.start, r.end) for r in mem.ranges()] == [(0, HOLE_LO), (HOLE_HI, HOLE_HI + 0x20000)]
        assert mem.read(0, 64) == RAM[:64]
        assert mem.read(HOLE_HI, PAGE) == RAM[HOLE_LO : HOLE_LO + PAGE]  # above the hole: file offset 256 KiB
        assert mem.read(HOLE_HI + 0x1FFF8, 8) == RAM[-8:]
        with pytest.raises(MemoryReadError) as ei:
            mem.read(HOLE_LO - 8, 16)
        assert ei.value.missing == (HOLE_LO, HOLE_LO + 8)
        assert mem.info.details["regions"] == [
            {"start": 0, "end": HOLE_LO, "file_offset": 0},
            {"start": HOLE_HI, "end": HOLE_HI + 0x20000, "file_offset": HOLE_LO}]
        assert mem.info.details["state"] == str(tmp_path / f"guest{ext}")
        assert mem.info.file_size == len(RAM)
    # opening the checkpoint itself reads the .vmem beside it the same way
    with open_memory(str(tmp_path / f"guest{ext}")) as mem:
        assert mem.info.format == "vmware" and mem.read(HOLE_HI, 64) == RAM[HOLE_LO : HOLE_LO + 64]
        assert sorted(p for p, _s in mem.source_files()) == sorted([str(vmem), str(tmp_path / f"guest{ext}")])


def test_vmem_without_state_is_flat_with_a_finding(tmp_path: Path) -> None:
    vmem = _vm(tmp_path, None)
    with open_memory(str(vmem)) as mem:
        (f,) = mem.findings
        assert (f.code, f.severity.name) == ("VMWARE-NO-STATE", "INFO")
        assert f.message == "neither guest.vmss nor .vmsn is beside it"
        assert [(r.start, r.end) for r in mem.ranges()] == [(0, len(RAM))]
        assert mem.read(HOLE_LO, 16) == RAM[HOLE_LO : HOLE_LO + 16]


def test_vmss_with_memory_block_and_alone(tmp_path: Path) -> None:
    ram = RAM[:0x8000]
    st = tmp_path / "old.vmss"
    st.write_bytes(build_vmss(tag("regionsCount", 0) + tag("Memory", block=ram, pad=2)))
    with open_memory(str(st)) as mem:  # the RAM is in the checkpoint itself; no regions: flat
        assert codes(mem.findings) == ["VMWARE-NO-REGIONS"]
        assert [(r.start, r.end) for r in mem.ranges()] == [(0, len(ram))]
        assert mem.read(0x100, 64) == ram[0x100:0x140]
    alone = tmp_path / "alone.vmsn"
    alone.write_bytes(build_vmss(regions(*PCI_HOLE_REGIONS)))
    with pytest.raises(DumpOpenError) as ei:
        open_memory(str(alone))
    assert ei.value.reason.startswith("VMware checkpoint state (.vmsn) without guest memory")
    assert "alone.vmem is not beside it" in ei.value.reason
    header_only = tmp_path / "header.vmss"
    header_only.write_bytes(CPTDUMP_HEADER.build({"id": CPTDUMP_MAGIC_NUMBER, "version": 8, "numgroups": 0}))
    with pytest.raises(DumpOpenError, match=r"VMware checkpoint state \(\.vmss\) that cannot be read"):
        open_memory(str(header_only))


def test_vmware_hostile_region_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a region past the end of the .vmem, an overlapping region, one without its size
    state = regions((0, 0, HOLE_LO // PAGE), (HOLE_HI // PAGE, HOLE_LO // PAGE, 0x40000 // PAGE),
                    (0x10, 0, 4), (0x300, 0, 1))
    state = state.replace(tag("regionSize", 1, (3,)), b"")
    vmem = _vm(tmp_path, build_vmss(state))
    with open_memory(str(vmem)) as mem:
        assert codes(mem.findings) == ["VMWARE-BAD-REGION", "VMWARE-BAD-REGION", "VMWARE-TRUNCATED"]
        msgs = {f.code: f.message for f in mem.findings}
        assert msgs["VMWARE-TRUNCATED"] == (f"region 1 (physical {HOLE_HI:#x}-{HOLE_HI + 0x40000 - 1:#x} at file "
                                            f"offset {HOLE_LO:#x}): the memory file ({len(RAM):#x} bytes) holds only "
                                            "0x20000 bytes of it")
        assert [(r.start, r.end) for r in mem.ranges()] == [(0, HOLE_LO), (HOLE_HI, HOLE_HI + 0x20000)]
    # a tag that runs past its group: the checkpoint is not used, the .vmem is read flat
    broken = build_vmss(tag("regionsCount", 2) + struct.pack("<H", make_tag(40, 0, 4)) + b"short")
    vmem = _vm(tmp_path, broken)
    with open_memory(str(vmem)) as mem:
        (f,) = mem.findings
        assert f.code == "VMWARE-BAD-STATE" and f.message.startswith("guest.vmss: ") and f.message.endswith("read flat")
        assert [(r.start, r.end) for r in mem.ranges()] == [(0, len(RAM))]
    # the region count is capped
    monkeypatch.setattr(vmware_mod, "MAX_REGIONS", 1)
    vmem = _vm(tmp_path, build_vmss(regions(*PCI_HOLE_REGIONS)))
    with open_memory(str(vmem)) as mem:
        assert codes(mem.findings) == ["VMWARE-LIMIT"]
        assert [(r.start, r.end) for r in mem.ranges()] == [(0, HOLE_LO)]


def test_vmware_fast_paths_are_the_schema() -> None:
    assert vmware_mod._HEADER.format == struct_format(CPTDUMP_HEADER) == "<III"
    assert vmware_mod._GROUP.size == CPT_GROUP_DESC.sizeof() == 80
    assert vmware_mod._BLOCK64.size == VMSS_BLOCK_HEADER.sizeof() == 18
    t = make_tag(12, 1, 4)
    assert t == (12 << 8 | 1 << 6 | 4) and struct.pack("<H", t) == bytes([0x44, 12])


# -- validate: never OK on nothing, directories by content, names escaped --------------------------


def test_random_file_and_empty_elf_never_validate_ok(tmp_path: Path) -> None:
    rnd = tmp_path / "random.bin"
    rnd.write_bytes(random.Random(19).randbytes(1 << 20))
    v = validate_path(str(rnd))
    assert v.opened and v.exit_code == EXIT_FINDINGS
    (f,) = [f for f in v.findings if f.code == "DUMP-NOTHING-FOUND"]
    assert f.severity.name == "ERROR" and f.message == (
        "no EFI system table, no boot_params, no VMCOREINFO and no kallsyms in 0x100000 bytes of raw physical "
        "memory (1 range)")
    elf = bytearray(100)  # an ELF64 core header with no program headers
    elf[:7] = b"\x7fELF\x02\x01\x01"
    struct.pack_into("<HHIQQQIHHHHHH", elf, 16, 4, 62, 1, 0, 0, 0, 0, 64, 56, 0, 64, 0, 0)
    ep = tmp_path / "empty.elf"
    ep.write_bytes(bytes(elf))
    v = validate_path(str(ep))
    assert v.exit_code == EXIT_FINDINGS
    assert "DUMP-NO-RANGES" in {f.code for f in v.failing} and "DUMP-NOTHING-FOUND" not in {f.code for f in v.findings}
    code, out, _ = run("validate", str(rnd), str(ep))
    assert code == EXIT_FINDINGS and "random.bin: FAIL (" in out and "empty.elf: FAIL (" in out


@pytest.mark.parametrize("name", ["ovmf64.raw", "ovmf64-virt.elf", "ovmf32.elf", "seabios.raw"])
def test_samples_are_not_nothing(name: str) -> None:
    v = validate_path(str(SAMPLES / name))
    assert not {"DUMP-NOTHING-FOUND", "DUMP-NO-RANGES"} & {f.code for f in v.findings}


def test_directory_is_walked_by_content(tmp_path: Path) -> None:
    d = tmp_path / "collected"
    d.mkdir()
    kd = d / "host1.kdump-zlib"  # a suffix no list knew
    kd.write_bytes(build_kdump(PAGES, max_mapnr=64))
    (d / "host1.kdump-zlib.xz").write_bytes(lzma.compress(kd.read_bytes(), preset=0))  # beside it: a copy
    (d / "host2.gz").write_bytes(gzip.compress(kd.read_bytes()))
    (d / "notes.txt").write_text("collected on tuesday\n")
    (d / "notes.gz").write_bytes(gzip.compress(b"plain text notes\n" * 10))
    (d / "tool").write_bytes(b"\x7fELF\x02\x01\x01" + bytes(9) + struct.pack("<H", 2) + bytes(200))  # ET_EXEC
    (d / "blob").write_bytes(bytes(300))
    (d / "capture").write_bytes(to_avml(SEABIOS.read_bytes())[0])
    vmem = d / "guest.vmem"
    vmem.write_bytes(RAM)
    (d / "guest.vmss").write_bytes(build_vmss(regions(*PCI_HOLE_REGIONS)))
    (d / "win").write_bytes(_page(b"PAGEDU64"))
    (d / "nodump.raw").write_bytes(b"")  # named like a dump: validated (and fails), never skipped
    e = expand([str(d)])
    names = [os.path.basename(p) for p in e.paths]
    assert names == ["capture", "guest.vmem", "host1.kdump-zlib", "host2.gz", "nodump.raw", "win"]
    assert sorted((os.path.basename(p), w) for p, w in e.skipped) == [
        ("blob", "no known header and not sized like a raw image"),
        ("guest.vmss", "the checkpoint of the .vmem beside it"),
        ("host1.kdump-zlib.xz", "a compressed copy of the file beside it"),
        ("notes.gz", "gzip-compressed text"),
        ("notes.txt", "text"),
        ("tool", "an ELF file that is not a core file"),
    ]
    code, out, _ = run("validate", "-q", str(d))
    assert code == EXIT_ERROR  # the compressed dump, the Windows dump and the empty file
    assert f"{d / 'host2.gz'}: ERROR {d / 'host2.gz'}: gzip-compressed kdump: run `gzip -dk {d / 'host2.gz'}`" in out
    assert f"{d / 'win'}: ERROR" in out and "Windows crash dump (PAGEDU64, 64-bit)" in out
    assert f"{d / 'host1.kdump-zlib'}: OK" in out or f"{d / 'host1.kdump-zlib'}: FAIL" in out
    assert "6 files skipped (not dumps): " in out
    code, out, err = run("validate", "--json", str(d))
    doc = json.loads(out)
    assert doc["summary"]["skipped"] == 6 and len(doc["skipped"]) == 6
    assert "6 files skipped (not dumps)" in err
    assert classify(str(kd), {n: f.sniff for n, f in FORMATS.items() if n != "raw"}).kind == "dump"


def test_file_names_with_escapes_are_escaped(tmp_path: Path) -> None:
    d = tmp_path / "names"
    d.mkdir()
    evil = d / "host\x1b[31mRED\r.raw"
    evil.write_bytes(random.Random(4).randbytes(1 << 20))
    gone = d / "z\x1b]0;title\x07.raw"
    gone.write_bytes(b"")
    for args in (["validate", str(d)], ["validate", "-q", str(d)], ["validate", "--json", str(d)],
                 ["validate", "--jsonl", str(d)], ["validate", "--sarif", str(d)]):
        code, out, err = run(*args)
        assert code == EXIT_ERROR
        terminal = err if args[1].startswith("--") else out + err
        assert "\x1b" not in terminal and "\r" not in terminal and "\x07" not in terminal
        assert "host\\x1b[31mRED\\x0d.raw: FAIL (" in terminal
        assert "z\\x1b]0;title\\x07.raw: ERROR" in terminal
        if args[1] == "--json":  # the JSON keeps the real name (JSON escapes it itself)
            assert json.loads(out)["dumps"][0]["path"] == str(evil)
