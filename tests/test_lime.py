"""LiME container: synthetic range files built here (lime.h layout, own struct format)."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from efitables.errors import DumpFormatError, DumpOpenError, EfitablesError, MemoryReadError
from efitables.memory import open_memory
from efitables.memory.lime import LimeMemory

MAGIC = 0x4C694D45


def lime(ranges: list[tuple[int, bytes]], version: int = 1) -> bytes:
    out = bytearray()
    for start, data in ranges:
        out += struct.pack("<IIQQ8x", MAGIC, version, start, start + len(data) - 1) + data
    return bytes(out)


def write(tmp_path: Path, name: str, data: bytes) -> str:
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


LOW = bytes(range(256)) * 2560  # 0x0 - 0xa0000
HIGH = b"\x5a" * 0x1000 + b"HIGH" + bytes(0x2000 - 4)  # 0x100000 - 0x103000
TOP = b"top!" * 0x400  # 0x100000000 - 0x100001000


def test_ranges_and_reads(tmp_path: Path) -> None:
    path = write(tmp_path, "m.lime", lime([(0, LOW), (0x100000, HIGH), (0x100000000, TOP)]))
    with open_memory(path) as mem:
        assert mem.info.format == "lime"
        assert isinstance(mem, LimeMemory)
        assert [(r.start, r.end) for r in mem.ranges()] == [
            (0, 0xA0000), (0x100000, 0x103000), (0x100000000, 0x100001000)]
        assert mem.read(0x1FE, 4) == bytes([0xFE, 0xFF, 0x00, 0x01])
        assert mem.read(0x101000, 4) == b"HIGH"
        assert mem.read(0x100000FFC, 4) == b"top!"
        assert mem.info.details == {"ranges": 3, "versions": [1]}
        assert mem.findings == []
        with pytest.raises(MemoryReadError) as ei:
            mem.read(0x9FFF0, 0x20)
        assert ei.value.missing == (0xA0000, 0xA0010)
        assert [pa for pa, _ in mem.chunks(chunk_size=0x40000)] == [0, 0x40000, 0x80000, 0x100000, 0x100000000]


def test_truncated_last_range(tmp_path: Path) -> None:
    data = lime([(0, LOW), (0x100000, HIGH)])
    mem = open_memory(write(tmp_path, "t", data[:-0x1800]))
    (f,) = mem.findings
    assert f.code == "LIME-TRUNCATED"
    assert f.address == 0x101800
    assert "physical 0x101800-0x102fff is missing" in f.message
    assert mem.ranges()[-1].end == 0x101800
    assert mem.read(0x101000, 4) == b"HIGH"


def test_garbage_after_ranges(tmp_path: Path) -> None:
    data = lime([(0, LOW)]) + b"\0" * 100
    mem = open_memory(write(tmp_path, "g", data))
    (f,) = mem.findings
    assert f.code == "LIME-BAD-HEADER"
    assert f"file offset {32 + len(LOW):#x}" in f.message
    assert mem.total_size() == len(LOW)


def test_overlapping_ranges_first_wins(tmp_path: Path) -> None:
    data = lime([(0x1000, b"A" * 0x2000), (0x2000, b"B" * 0x2000)])
    mem = open_memory(write(tmp_path, "o", data))
    assert [f.code for f in mem.findings] == ["LIME-OVERLAP"]
    assert mem.read(0x2FFF, 2) == b"AB"
    assert [(r.start, r.end) for r in mem.ranges()] == [(0x1000, 0x3000), (0x3000, 0x4000)]


def test_other_version_is_noted(tmp_path: Path) -> None:
    mem = open_memory(write(tmp_path, "v", lime([(0, LOW)], version=2)))
    assert [f.code for f in mem.findings] == ["LIME-VERSION"]
    assert mem.read(0, 2) == b"\x00\x01"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"EMiL", "shorter than a LiME header"),
        (struct.pack("<IIQQ8x", 0x12345678, 1, 0, 10), r"offset 0x0: magic is not LiME's \(0x4c694d45\)"),
        (struct.pack("<IIQQ8x", MAGIC, 1, 10, 5), "offset 0x0: the range's end is below its start"),
        (struct.pack("<IIQQ8x", MAGIC, 1, 0, 1 << 60), "the range's end is beyond the 52-bit physical address"),
    ],
)
def test_bad_first_header(tmp_path: Path, data: bytes, message: str) -> None:
    """A header that fails its checks is named by its offset and what is wrong, never by its values (it may
    be memory contents: a secret must not reach a message)."""
    with pytest.raises(DumpFormatError, match=message) as e:
        LimeMemory(write(tmp_path, "b", data))
    assert "12345678" not in str(e.value) and "0xa-0x5" not in str(e.value) and "1000000000000000" not in str(e.value)


def test_file_that_shrinks_after_open(tmp_path: Path) -> None:
    path = write(tmp_path, "s", lime([(0, LOW), (0x100000, HIGH)]))
    mem = open_memory(path)
    os.truncate(path, 1000)
    assert mem.read(0, 16) == LOW[:16]
    with pytest.raises(MemoryReadError, match="the file shrank while being read"):
        mem.read(0x101000, 4)


def test_huge_declared_range_is_not_allocated(tmp_path: Path) -> None:
    data = struct.pack("<IIQQ8x", MAGIC, 1, 0, (1 << 50) - 1) + b"xyz"
    mem = open_memory(write(tmp_path, "h", data))
    assert [(r.start, r.end) for r in mem.ranges()] == [(0, 3)]
    assert mem.findings[0].code == "LIME-TRUNCATED"
    assert mem.read(0, 3) == b"xyz"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 95), st.integers(0, 255)), min_size=1, max_size=6))
def test_fuzzed_headers_never_crash(tmp_path: Path, flips: list[tuple[int, int]]) -> None:
    data = bytearray(lime([(0, b"a" * 32), (0x1000, b"b" * 32)]))
    for pos, val in flips:
        data[pos % len(data)] = val
    try:
        mem = LimeMemory(write(tmp_path, "f", bytes(data)))
    except DumpOpenError:
        return
    with mem:
        for r in mem.ranges():
            try:
                assert len(mem.read(r.start, min(r.size, 64))) == min(r.size, 64)
            except EfitablesError:
                pass
