"""EFI memory map parsing and its checks."""

from __future__ import annotations

from dumps.builder import memory_map
from efitables.efi.memmap import MAX_DESCRIPTORS, decode_descriptor, parse_memmap
from efitables.memory import BytesMemory

RT, WB = 1 << 63, 0x8


def _map(descs, desc_size=48):
    raw = memory_map(descs, desc_size)
    return BytesMemory({0x1000: raw + bytes(0x1000)}), len(raw)


def test_descriptors_field_by_field():
    mem, size = _map(
        [
            dict(Type=7, PhysicalStart=0x0, NumberOfPages=0x9F, Attribute=WB),
            dict(Type=6, PhysicalStart=0x7E00000, NumberOfPages=0x20, Attribute=RT | WB | 0x4000),
        ]
    )
    mm = parse_memmap(mem, 0x1000, size, 48, 1)
    assert mm.findings == [] and len(mm.descriptors) == 2
    d = mm.descriptors[1]
    assert (d.type, d.type_name, d.physical_start, d.number_of_pages) == (
        6,
        "EFI_RUNTIME_SERVICES_DATA",
        0x7E00000,
        0x20,
    )
    assert d.physical_end == 0x7E20000 and d.is_runtime and d.address == 0x1000 + 48
    assert d.attribute_names == ["EFI_MEMORY_WB", "EFI_MEMORY_XP", "EFI_MEMORY_RUNTIME"]
    assert mm.lookup(0x7E1FFFF) is d and mm.lookup(0x7E20000) is None
    decode_descriptor(d)
    assert d.fields.Type == "EFI_RUNTIME_SERVICES_DATA" and d.fields.Attribute.EFI_MEMORY_RUNTIME


def test_40_byte_stride_from_kexec_tools():
    mem, size = _map([dict(Type=5, PhysicalStart=0x1000_0000, NumberOfPages=1, Attribute=RT)] * 1, 40)
    mm = parse_memmap(mem, 0x1000, size, 40, 1)
    assert mm.findings == [] and mm.descriptors[0].type_name == "EFI_RUNTIME_SERVICES_CODE"


def codes(mm):
    return sorted({f.code for f in mm.findings} | {f.code for d in mm.descriptors for f in d.findings})


def test_bad_sizes():
    mem, size = _map([dict(Type=7, PhysicalStart=0, NumberOfPages=1, Attribute=WB)])
    assert codes(parse_memmap(mem, 0x1000, size, 32, 1)) == ["EFI-MEMMAP-DESC-SIZE"]
    assert codes(parse_memmap(mem, 0x1000, size + 7, 48, 1)) == ["EFI-MEMMAP-SIZE"]
    assert codes(parse_memmap(mem, 0x1000, size, 48, 2)) == ["EFI-MEMMAP-VERSION"]
    huge = parse_memmap(mem, 0x1000, 0xFFFFFFF0, 48, 1)
    assert "EFI-MEMMAP-TOO-MANY" in codes(huge) and "DUMP-READ" in codes(huge)
    assert MAX_DESCRIPTORS * 48 < 0xFFFFFFF0


def test_overlap_alignment_type_and_empty():
    mem, size = _map(
        [
            dict(Type=7, PhysicalStart=0x0, NumberOfPages=0x10, Attribute=WB),
            dict(Type=4, PhysicalStart=0x8000, NumberOfPages=0x10, Attribute=WB),
            dict(Type=99, PhysicalStart=0x100123, NumberOfPages=0, Attribute=WB),
        ]
    )
    mm = parse_memmap(mem, 0x1000, size, 48, 1)
    assert codes(mm) == ["EFI-MEMMAP-ALIGN", "EFI-MEMMAP-EMPTY", "EFI-MEMMAP-OVERLAP", "EFI-MEMMAP-TYPE"]
    assert mm.descriptors[2].type_name == "INVALID(0x63)"
