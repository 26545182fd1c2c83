"""EFI memory attributes table, EFI (RT) properties tables, ESRT."""

from __future__ import annotations

import struct

from dumps.builder import memory_map
from efitables.efi.memmap import parse_memmap
from efitables.memory import BytesMemory
from efitables.payloads import decode_payload
from efitables.payloads.esrt import EFI_SYSTEM_RESOURCE_TABLE_GUID
from efitables.payloads.memattr import (
    EFI_MEMORY_ATTRIBUTES_TABLE_GUID,
    EFI_PROPERTIES_TABLE_GUID,
    EFI_RT_PROPERTIES_TABLE_GUID,
    MAX_ENTRIES,
)
from efitables.schemas.payloads import esrt as es
from efitables.schemas.payloads import memattr as ms
from tests.builders_payloads import Entry, esrt_table, memattr_table, memdesc, roundtrip

PA = 0x7E00000
RT, RO, XP, WB = 1 << 63, 0x20000, 0x4000, 0x8


def codes(p):
    return sorted({f.code for f in p.all_findings()})


def _mem(raw: bytes) -> BytesMemory:
    return BytesMemory({PA: raw + bytes(0x1000 - len(raw) % 0x1000)})


def _descs():
    return [memdesc(5, 0x7F00000, 2, RT | RO | WB), memdesc(6, 0x7F02000, 3, RT | XP | WB)]


def test_memattr_roundtrip_and_fields():
    raw = memattr_table(_descs(), flags=1)
    h = roundtrip(ms.EFI_MEMORY_ATTRIBUTES_TABLE, raw[:16])
    assert (h.Version, h.NumberOfEntries, h.DescriptorSize, h.Flags) == (2, 2, 48, 1)
    t = decode_payload(_mem(raw), Entry(EFI_MEMORY_ATTRIBUTES_TABLE_GUID, PA))
    assert t.kind == "EFI_MEMORY_ATTRIBUTES_TABLE" and codes(t) == []
    assert (t.version, t.number_of_entries, t.descriptor_size, t.forward_cfi, t.size) == (2, 2, 48, True, 16 + 96)
    e0, e1 = t.entries
    assert (e0.type_name, e0.physical_start, e0.number_of_pages) == ("EFI_RUNTIME_SERVICES_CODE", 0x7F00000, 2)
    assert e0.attribute_names == ["EFI_MEMORY_WB", "EFI_MEMORY_RO", "EFI_MEMORY_RUNTIME"]
    assert e1.address == PA + 16 + 48 and "EFI_MEMORY_XP" in e1.attribute_names
    assert t.to_dict()["entries"][1]["physical_start"] == 0x7F02000


def test_memattr_v1_flags_ignored_and_40_byte_stride():
    raw = memattr_table([memdesc(5, 0x7F00000, 1, RT | RO, 40)], version=1, desc_size=40, flags=1)
    t = decode_payload(_mem(raw), Entry(EFI_MEMORY_ATTRIBUTES_TABLE_GUID, PA))
    assert codes(t) == [] and not t.forward_cfi and t.entries[0].size == 40


def test_memattr_bad_entries():
    raw = memattr_table([memdesc(7, 0x7F00001, 1, WB), memdesc(5, 0x7F00000, 4, RT | RO)], version=3)
    t = decode_payload(_mem(raw), Entry(EFI_MEMORY_ATTRIBUTES_TABLE_GUID, PA))
    assert set(codes(t)) == {
        "MEMATTR-VERSION",
        "MEMATTR-ENTRY-TYPE",
        "MEMATTR-ENTRY-RUNTIME",
        "MEMATTR-ENTRY-WX",
        "MEMATTR-ENTRY-ALIGN",
        "MEMATTR-OVERLAP",
    }


def test_memattr_against_memory_map():
    mm_raw = memory_map(
        [
            dict(Type=5, PhysicalStart=0x7F00000, NumberOfPages=2, Attribute=RT | WB),
            dict(Type=6, PhysicalStart=0x7F02000, NumberOfPages=2, Attribute=RT | WB),  # too short for entry [1]
            dict(Type=6, PhysicalStart=PA, NumberOfPages=1, Attribute=RT | WB),
        ]
    )
    mem = BytesMemory({PA: memattr_table(_descs()) + bytes(0x1000 - 16 - 96), 0x100000: mm_raw})
    mm = parse_memmap(mem, 0x100000, len(mm_raw), 48, 1)
    t = decode_payload(mem, Entry(EFI_MEMORY_ATTRIBUTES_TABLE_GUID, PA), memmap=mm)
    assert codes(t) == ["MEMATTR-ENTRY-OUTSIDE"]
    assert t.entries[1].findings[0].code == "MEMATTR-ENTRY-OUTSIDE"


def test_memattr_zeroed():
    t = decode_payload(_mem(bytes(64)), Entry(EFI_MEMORY_ATTRIBUTES_TABLE_GUID, PA))
    assert codes(t) == ["MEMATTR-ZERO"] and t.entries == []


def test_memattr_counts_past_the_dump_and_caps():
    raw = memattr_table(_descs(), count=1000)
    t = decode_payload(BytesMemory({PA: raw}), Entry(EFI_MEMORY_ATTRIBUTES_TABLE_GUID, PA))
    assert codes(t) == ["DUMP-READ"] and t.entries == []
    raw = memattr_table(_descs(), count=0xFFFFFFFF)
    t = decode_payload(_mem(raw), Entry(EFI_MEMORY_ATTRIBUTES_TABLE_GUID, PA))
    assert "MEMATTR-TOO-MANY" in codes(t) and MAX_ENTRIES * 48 < 64 * 1024 * 1024
    t = decode_payload(_mem(memattr_table(_descs(), desc_size=44)), Entry(EFI_MEMORY_ATTRIBUTES_TABLE_GUID, PA))
    assert codes(t) == ["MEMATTR-DESC-SIZE"]


def test_rt_properties():
    raw = ms.EFI_RT_PROPERTIES_TABLE.build(dict(Version=1, Length=8, RuntimeServicesSupported=0x3FFF & ~0x10))
    roundtrip(ms.EFI_RT_PROPERTIES_TABLE, raw)
    p = decode_payload(_mem(raw), Entry(EFI_RT_PROPERTIES_TABLE_GUID, PA))
    assert codes(p) == [] and p.unsupported == ["GetVariable"] and "SetVariable" in p.supported
    raw = ms.EFI_RT_PROPERTIES_TABLE.build(dict(Version=2, Length=8, RuntimeServicesSupported=0x10000))
    assert codes(decode_payload(_mem(raw), Entry(EFI_RT_PROPERTIES_TABLE_GUID, PA))) == [
        "RTPROP-BITS",
        "RTPROP-VERSION",
    ]


def test_properties_table():
    raw = ms.EFI_PROPERTIES_TABLE.build(dict(version=0x10000, length=16, memory_protection_attribute=1))
    roundtrip(ms.EFI_PROPERTIES_TABLE, raw)
    p = decode_payload(_mem(raw), Entry(EFI_PROPERTIES_TABLE_GUID, PA))
    assert codes(p) == [] and p.non_executable_pe_data


def _esrt_entry(i: int) -> dict:
    return dict(
        FwClass=f"{i:08x}-1111-2222-3333-444455556666",
        FwType=1,
        FwVersion=0x10000 + i,
        LowestSupportedFwVersion=1,
        CapsuleFlags=0,
        LastAttemptVersion=0x10000,
        LastAttemptStatus=0,
    )


def test_esrt_field_by_field():
    raw = esrt_table([_esrt_entry(0), _esrt_entry(1)], count_max=4)
    roundtrip(es.EFI_SYSTEM_RESOURCE_TABLE, raw[:16])
    e0 = roundtrip(es.EFI_SYSTEM_RESOURCE_ENTRY, raw[16:56])
    assert e0.FwClass == "00000000-1111-2222-3333-444455556666"
    e = decode_payload(_mem(raw), Entry(EFI_SYSTEM_RESOURCE_TABLE_GUID, PA))
    assert codes(e) == [] and (e.fw_resource_count, e.fw_resource_count_max, e.fw_resource_version) == (2, 4, 1)
    assert e.entries[1].fw_version == 0x10001 and e.entries[1].fw_type_name == "SYSTEM_FIRMWARE"
    assert e.entries[0].last_attempt_status_name == "SUCCESS" and e.size == 16 + 80


def test_esrt_hostile():
    raw = bytearray(esrt_table([_esrt_entry(0)], version=2))
    raw[0:4] = struct.pack("<I", 5000)
    e = decode_payload(_mem(bytes(raw)), Entry(EFI_SYSTEM_RESOURCE_TABLE_GUID, PA))
    assert {"ESRT-VERSION", "ESRT-COUNT", "ESRT-TOO-MANY", "DUMP-READ"} <= set(codes(e))
