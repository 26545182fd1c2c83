"""The physical-memory layer: raw images, ELF cores, sniffing, bounded reads."""

from __future__ import annotations

import os

import pytest

from dumps.builder import Image, elf_note
from efitables.errors import DumpFormatError, DumpOpenError, MemoryReadError
from efitables.memory import BytesMemory, ElfMemory, RawMemory, open_memory
from efitables.memory.base import MAX_READ, PhysRange


def test_bytes_memory_reads_across_adjacent_ranges_and_names_the_gap():
    mem = BytesMemory({0x1000: b"a" * 0x1000, 0x2000: b"b" * 0x1000, 0x5000: b"c" * 16})
    assert mem.read(0x1FFE, 4) == b"aabb"
    assert mem.is_readable(0x1000, 0x2000)
    assert not mem.is_readable(0x2FFF, 2)
    with pytest.raises(MemoryReadError) as e:
        mem.read(0x2FF0, 0x20, structure="thing")
    assert e.value.missing == (0x3000, 0x3010)
    assert "thing at 0x2ff0" in str(e.value) and "0x3000-0x3010" in str(e.value)
    assert mem.first_gap(0x4000, 0x1010) == (0x4000, 0x5000)


def test_reads_are_bounded():
    mem = BytesMemory({0: b"x" * 16})
    with pytest.raises(MemoryReadError, match="read limit"):
        mem.read(0, MAX_READ + 1)
    with pytest.raises(MemoryReadError, match="52-bit"):
        mem.read((1 << 64) - 8, 8)
    with pytest.raises(MemoryReadError, match="negative"):
        mem.read(-1, 1)


def test_chunks_overlap_and_cover_every_range():
    mem = BytesMemory({0: bytes(range(256)) * 40, 0x10000: b"z" * 100})
    seen = list(mem.chunks(chunk_size=4096, overlap=16))
    assert seen[0][0] == 0 and len(seen[0][1]) == 4096
    assert seen[1][0] == 4096 - 16
    assert seen[-1] == (0x10000, b"z" * 100)


def test_raw_is_sparse_and_offset_is_address(tmp_path):
    img = Image()
    img.add_region(0, 0x1000)
    img.add_region(0x200000, 0x1000)
    img.put(0x200010, b"hello")
    p = tmp_path / "m.raw"
    img.write_raw(str(p))
    assert os.path.getsize(p) == 0x201000
    with RawMemory(str(p)) as mem:
        assert mem.ranges() == [PhysRange(0, 0x201000)]
        assert mem.read(0x200010, 5) == b"hello"
        extents = list(mem.data_extents(0, 0x201000))
        chunks = [(pa, bytes(v)) for pa, v in mem.chunks(chunk_size=0x1000)]  # views live one step
        # the hole is skipped where the filesystem reports it
        assert sum(e[1] - e[0] for e in extents) <= 0x201000
        assert any(c[0] == 0x200000 and c[1][16:21] == b"hello" for c in chunks)


def _elf(tmp_path, bits=64, **kw):
    img = Image()
    img.add_region(0, 0x2000)
    img.add_region(0x10000, 0x3000)
    if bits == 64:
        img.add_region(0x1_0000_0000, 0x1000)
        img.put(0x1_0000_0000, b"above4g")
    img.put(0x10000, b"seg2")
    img.put(0x12FF0, b"tail")
    p = tmp_path / f"core{bits}.elf"
    notes = [elf_note("CORE", 1, b"\0" * 336), elf_note("VMCOREINFO", 0, b"OSRELEASE=6.1.0\nPAGESIZE=4096\n")]
    img.write_elf(str(p), bits, notes=notes, **kw)
    return p


@pytest.mark.parametrize("bits", [64, 32])
def test_elf_segments_holes_and_vmcoreinfo(tmp_path, bits):
    p = _elf(tmp_path, bits)
    mem = open_memory(str(p))
    assert isinstance(mem, ElfMemory) and mem.info.format == "elf"
    expect = [PhysRange(0, 0x2000), PhysRange(0x10000, 0x13000)]
    if bits == 64:
        expect.append(PhysRange(0x1_0000_0000, 0x1_0000_1000))
        assert mem.read(0x1_0000_0000, 7) == b"above4g"
    assert mem.ranges() == expect
    assert mem.read(0x10000, 4) == b"seg2"
    assert mem.vmcoreinfo == {"OSRELEASE": "6.1.0", "PAGESIZE": "4096"}
    assert [n.name for n in mem.notes] == ["CORE", "VMCOREINFO"]
    with pytest.raises(MemoryReadError) as e:
        mem.read(0x1FF0, 0x20)
    assert e.value.missing == (0x2000, 0x2010)
    assert mem.findings == []
    mem.close()


def test_elf_memsz_beyond_filesz_reads_zeros(tmp_path):
    p = _elf(tmp_path, zero_tail={0x10000: 0x1000})
    mem = open_memory(str(p))
    assert mem.read(0x12FF0, 4) == b"\0\0\0\0"  # in p_memsz only
    assert mem.read(0x10000, 4) == b"seg2"
    assert mem.is_readable(0x10000, 0x3000)


def test_truncated_elf_keeps_what_is_there(tmp_path):
    full = _elf(tmp_path)
    size = os.path.getsize(full)
    cut = tmp_path / "cut.elf"
    cut.write_bytes(full.read_bytes()[: size - 0x1800])  # drops the >4G segment and half of the previous one
    mem = open_memory(str(cut))
    codes = [f.code for f in mem.findings]
    assert "ELF-TRUNCATED" in codes
    assert mem.read(0x10000, 4) == b"seg2"
    assert not mem.is_readable(0x1_0000_0000, 1)
    assert any(f.address is not None for f in mem.findings)


def test_elf_not_core_and_garbage(tmp_path):
    p = tmp_path / "bad.elf"
    p.write_bytes(b"\x7fELF" + b"\xff" * 100)
    with pytest.raises(DumpFormatError):
        open_memory(str(p))


@pytest.mark.parametrize(
    "content,reason",
    [(b"", "empty file"), (b"#!/bin/sh\necho not a dump\n", "not a recognised dump")],
)
def test_open_errors_are_one_line(tmp_path, content, reason):
    p = tmp_path / "f"
    p.write_bytes(content)
    with pytest.raises(DumpOpenError, match=reason):
        open_memory(str(p))


def test_open_missing_and_directory(tmp_path):
    with pytest.raises(DumpOpenError, match="no such file"):
        open_memory(str(tmp_path / "nope"))
    with pytest.raises(DumpOpenError, match="is a directory"):
        open_memory(str(tmp_path))


def test_format_can_be_forced(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(b"abc")
    mem = open_memory(str(p), "raw")
    assert mem.read(0, 3) == b"abc"
    with pytest.raises(DumpOpenError, match="unknown format"):
        open_memory(str(p), "qcow2")


@pytest.mark.parametrize("fmt", ["elf", "kdump", "lime"])
def test_a_refused_container_leaves_no_open_file(tmp_path, fmt):
    """Every file-backed container opens read-only and closes the file when its headers are refused."""
    from efitables.memory.base import FileMemory

    path = tmp_path / f"junk.{fmt}"
    path.write_bytes(b"\x7fELF" + bytes(4092) if fmt != "elf" else b"\x7fELF\x02\x01\x01" + bytes(57))
    with pytest.raises(DumpFormatError) as refused:
        open_memory(str(path), fmt)
    assert refused.value.path == str(path)
    made = [e.frame.f_locals["self"] for e in refused.traceback if isinstance(e.frame.f_locals.get("self"), FileMemory)]
    assert made and all(m._fh.closed and m._fh.mode == "rb" for m in made)
