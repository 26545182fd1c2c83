"""The decoder registry, region-type checks, overlaps, and decoder failures."""

from __future__ import annotations

import construct as cs

from dumps.builder import memory_map
from efitables import guids
from efitables.efi.memmap import parse_memmap
from efitables.findings import Severity, code_info
from efitables.memory import BytesMemory
from efitables.payloads import DECODERS, Payload, check_overlaps, decode_payload, register_decoder
from efitables.payloads.acpi import ACPI_20_TABLE_GUID
from efitables.payloads.linux_tables import LINUX_EFI_INITRD_MEDIA_GUID, LINUX_EFI_RANDOM_SEED_TABLE_GUID
from efitables.schemas.payloads import linux_tables as s
from tests.builders_payloads import Entry, acpi_table, random_seed, rsdp, rsdt

PA = 0x7000000

#: Every decoder's GUID must be in the configuration-table registry (efitables/data/config_table_guids.csv,
#: each row with its defining Linux/EDK2 header) under the expected name.
EXPECTED_NAMES = {
    "ACPI_TABLE_GUID",
    "ACPI_20_TABLE_GUID",
    "SMBIOS_TABLE_GUID",
    "SMBIOS3_TABLE_GUID",
    "EFI_MEMORY_ATTRIBUTES_TABLE_GUID",
    "EFI_PROPERTIES_TABLE_GUID",
    "EFI_RT_PROPERTIES_TABLE_GUID",
    "EFI_SYSTEM_RESOURCE_TABLE_GUID",
    "EFI_TCG2_FINAL_EVENTS_TABLE_GUID",
    "EFI_CC_FINAL_EVENTS_TABLE_GUID",
    "LINUX_EFI_TPM_EVENT_LOG_GUID",
    "LINUX_EFI_RANDOM_SEED_TABLE_GUID",
    "LINUX_EFI_MEMRESERVE_TABLE_GUID",
    "LINUX_EFI_INITRD_MEDIA_GUID",
    "LINUX_EFI_SCREEN_INFO_TABLE_GUID",
    "LINUX_EFI_BOOT_MEMMAP_GUID",
    "LINUX_EFI_UNACCEPTED_MEM_TABLE_GUID",
    "LINUX_EFI_MOK_VARIABLE_TABLE_GUID",
    "LINUX_EFI_COCO_SECRET_AREA_GUID",
    "EFI_DXE_SERVICES_TABLE_GUID",
    "gEfiHobListGuid",
    "gEfiDebugImageInfoTableGuid",
    "gEfiMemoryTypeInformationGuid",
    "gLzmaCustomDecompressGuid",
    "gLzmaF86CustomDecompressGuid",
    "gTianoCustomDecompressGuid",
    "gEfiCrc32GuidedSectionExtractionGuid",
    "DEVICE_TREE_GUID",
    "gEfiImageSecurityDatabaseGuid",
}


def codes(p):
    return sorted({f.code for f in p.all_findings()})


def test_registered_guids_match_the_spec_table():
    names = set()
    for g in DECODERS:
        k = guids.lookup(g)
        assert k is not None and k.source, g
        names.add(k.linux_name or k.edk2_name)
    assert names == EXPECTED_NAMES


def test_unknown_and_null_give_none():
    mem = BytesMemory({PA: bytes(4096)})
    assert decode_payload(mem, Entry("01234567-89ab-cdef-0123-456789abcdef", PA)) is None
    assert decode_payload(mem, Entry(ACPI_20_TABLE_GUID, 0)) is None


def test_one_line_registration_and_decoder_failure_is_a_finding():
    guid = "0badc0de-0000-4000-8000-000000000001"
    schema = cs.Struct("Magic" / cs.Const(b"GOOD"))

    def decode(ctx):
        raw = ctx.read(ctx.address, 4, "test table", [])
        return Payload(address=ctx.address, size=4, raw=raw, fields=schema.parse(raw), schema=schema)

    register_decoder(guid, decode)
    try:
        good = decode_payload(BytesMemory({PA: b"GOOD" + bytes(12)}), Entry(guid.upper(), PA))
        assert good.fields.Magic == b"GOOD" and good.findings == []
        bad = decode_payload(BytesMemory({PA: b"EVIL" + bytes(12)}), Entry(guid, PA))
        assert codes(bad) == ["PAYLOAD-DECODE"] and "ConstError" in bad.findings[0].message
    finally:
        del DECODERS[guid]


def test_region_type_from_argument():
    mem = BytesMemory({PA: random_seed(bytes(range(32))) + bytes(60)})
    r = decode_payload(mem, Entry(LINUX_EFI_RANDOM_SEED_TABLE_GUID, PA), region_type=9)
    assert codes(r) == []
    r = decode_payload(mem, Entry(LINUX_EFI_RANDOM_SEED_TABLE_GUID, PA), region_type=6)
    assert codes(r) == ["PAYLOAD-REGION-TYPE"]
    # Linux keeps the seed: boot-services memory is the wrong type for it, not a reason to call it stale.
    r = decode_payload(mem, Entry(LINUX_EFI_RANDOM_SEED_TABLE_GUID, PA), region_type=4)
    assert codes(r) == ["PAYLOAD-REGION-TYPE"]
    init = BytesMemory({PA: s.LINUX_EFI_INITRD.build(dict(base=0, size=0))})
    i = decode_payload(init, Entry(LINUX_EFI_INITRD_MEDIA_GUID, PA), region_type=2)
    assert codes(i) == ["LINUX-INITRD-RANGE", "PAYLOAD-STALE"] and code_info("PAYLOAD-STALE").severity == Severity.INFO
    # In memory Linux does not keep, the payload's own findings are information, not corruption.
    assert {f.severity for f in i.findings} == {Severity.INFO} and "stale" in i.findings[0].message
    i = decode_payload(init, Entry(LINUX_EFI_INITRD_MEDIA_GUID, PA), region_type=9)
    assert [(f.code, f.severity) for f in i.findings] == [("LINUX-INITRD-RANGE", Severity.WARNING)]


def _acpi_pages(size: int, facp_at: int) -> bytearray:
    """An RSDP at PA, its XSDT at PA + 0x100 listing one FACP at PA + ``facp_at``."""
    page = bytearray(size)
    page[0:36] = rsdp(2, 0, PA + 0x100)
    x = rsdt([PA + facp_at], xsdt=True)
    page[0x100 : 0x100 + len(x)] = x
    facp = acpi_table(b"FACP", bytes(10))
    page[facp_at : facp_at + len(facp)] = facp
    return page


def test_acpi_tables_in_the_wrong_memory_type():
    page = _acpi_pages(0x3000, 0x2000)
    mm_raw = memory_map(
        [
            dict(Type=9, PhysicalStart=PA, NumberOfPages=2, Attribute=8),
            dict(Type=7, PhysicalStart=PA + 0x2000, NumberOfPages=1, Attribute=8),
        ]
    )
    mem = BytesMemory({PA: bytes(page), 0x100000: mm_raw})
    mm = parse_memmap(mem, 0x100000, len(mm_raw), 48, 1)
    r = decode_payload(mem, Entry(ACPI_20_TABLE_GUID, PA), memmap=mm)
    assert r.findings == [] and r.xsdt.findings == []
    assert [f.code for f in r.xsdt.tables[0].findings] == ["PAYLOAD-REGION-TYPE"]
    assert "EFI_CONVENTIONAL_MEMORY" in r.xsdt.tables[0].findings[0].message


def test_payload_past_its_region_and_outside_the_map():
    raw = s.LINUX_EFI_INITRD.build(dict(base=0x200000, size=0x1000))
    mm_raw = memory_map([dict(Type=2, PhysicalStart=PA, NumberOfPages=1, Attribute=8)])
    mem = BytesMemory({PA + 0xFF8: raw + bytes(8), 0x100000: mm_raw})
    mm = parse_memmap(mem, 0x100000, len(mm_raw), 48, 1)
    i = decode_payload(mem, Entry(LINUX_EFI_INITRD_MEDIA_GUID, PA + 0xFF8), memmap=mm)
    assert set(codes(i)) == {"PAYLOAD-REGION-END", "PAYLOAD-STALE"}
    mem = BytesMemory({PA + 0x5000: raw, 0x100000: mm_raw})
    i = decode_payload(mem, Entry(LINUX_EFI_INITRD_MEDIA_GUID, PA + 0x5000), memmap=mm)
    assert codes(i) == ["PAYLOAD-REGION-TYPE"]


def test_overlaps_between_tables():
    a, b, c = Payload(address=0x1000, size=0x100), Payload(address=0x1080, size=0x10), Payload(address=0x2000, size=8)
    same = Payload(address=0x1000, size=0x100)
    f = check_overlaps([("A", a), ("B", b), ("C", c), ("A again", same)])
    assert [x.code for x in f] == ["PAYLOAD-OVERLAP"] and "0x1080" in f[0].message
    assert check_overlaps([("A", a), ("C", c)]) == []


def test_outside_a_runtime_only_map_is_unknown_not_wrong():
    """A kexec'd kernel's EFI map holds only RUNTIME regions: a payload outside it cannot be judged."""
    raw = s.LINUX_EFI_INITRD.build(dict(base=0, size=0))
    rt_map = memory_map([dict(Type=6, PhysicalStart=0x7E0000, NumberOfPages=0x10, Attribute=(1 << 63) | 8)])
    mem = BytesMemory({PA: raw, 0x100000: rt_map})
    mm = parse_memmap(mem, 0x100000, len(rt_map), 48, 1)
    i = decode_payload(mem, Entry(LINUX_EFI_INITRD_MEDIA_GUID, PA), memmap=mm)
    assert codes(i) == ["LINUX-INITRD-RANGE", "PAYLOAD-NOT-IN-MAP"]
    assert {f.severity for f in i.findings} == {Severity.INFO}
    # ACPI tables the RSDP lists are not flagged either.
    page = _acpi_pages(0x1000, 0x200)
    mem = BytesMemory({PA: bytes(page), 0x100000: rt_map})
    r = decode_payload(mem, Entry(ACPI_20_TABLE_GUID, PA), memmap=parse_memmap(mem, 0x100000, len(rt_map), 48, 1))
    assert codes(r) == ["PAYLOAD-NOT-IN-MAP"]


def test_e820_says_what_a_runtime_only_map_leaves_out():
    """E820 ACPI memory is kept whatever the runtime-only map omits; E820 RAM is where reuse happens."""
    import struct

    from efitables.boot.e820 import build_table, decode_entries

    rt_map = memory_map([dict(Type=6, PhysicalStart=0x7E0000, NumberOfPages=0x10, Attribute=(1 << 63) | 8)])
    raw = struct.pack("<QQI", PA, 0x1000, 3) + struct.pack("<QQI", PA + 0x1000, 0x1000, 1)  # ACPI, then RAM
    e820 = build_table(None, decode_entries(raw, 0, 2, "boot_params"), 2, 0)
    page = _acpi_pages(0x2000, 0x200)
    page[0x1000 : 0x1000 + 16] = s.LINUX_EFI_INITRD.build(dict(base=0x200000, size=0x1000))
    mem = BytesMemory({PA: bytes(page), 0x100000: rt_map})
    mm = parse_memmap(mem, 0x100000, len(rt_map), 48, 1)
    r = decode_payload(mem, Entry(ACPI_20_TABLE_GUID, PA), memmap=mm, e820=e820)
    assert codes(r) == []  # E820_TYPE_ACPI: kept, so judged like any table, and clean
    i = decode_payload(mem, Entry(LINUX_EFI_INITRD_MEDIA_GUID, PA + 0x1000), memmap=mm, e820=lambda: e820)
    assert codes(i) == ["PAYLOAD-NOT-IN-MAP"]
    assert i.findings[0].message == f"{PA + 0x1000:#x} is outside the runtime-only memory map and in E820 RAM: " \
        "the bytes may have been reused"
