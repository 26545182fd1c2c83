"""EFI system table and configuration tables: schemas, parsing, hostile values."""

from __future__ import annotations

import struct

import pytest

from dumps.builder import Image, config_tables, runtime_services, system_table, ucs2
from efitables.efi.memmap import parse_memmap
from efitables.efi.systab import parse_config_tables, parse_system_table
from efitables.memory import BytesMemory
from efitables.schemas.common import guid_from_bytes, guid_to_bytes, struct_layout
from efitables.schemas.efi_tables import (
    EFI_CONFIGURATION_TABLE_64,
    EFI_SYSTEM_TABLE_32,
    EFI_SYSTEM_TABLE_64,
    efi_crc32,
    revision_spec_text,
    revision_text,
)

ACPI20 = "8868e871-e4f1-11d3-bc22-0080c73c8881"
SMBIOS3 = "f2fd1544-9794-4a2c-992e-e5bbcf20e394"


def test_guid_mixed_endian_matches_spec_example():
    raw = bytes.fromhex("71e86888f1e4d311bc220080c73c8881")
    assert guid_from_bytes(raw) == ACPI20
    assert guid_to_bytes(ACPI20) == raw


@pytest.mark.parametrize("schema,size", [(EFI_SYSTEM_TABLE_64, 0x78), (EFI_SYSTEM_TABLE_32, 0x48)])
def test_system_table_schema_round_trip(schema, size):
    bits = 64 if size == 0x78 else 32
    raw = system_table(bits, vendor=0x1234, revision=0x2001F, fw_revision=7, runtime=0x5678, nr_tables=3, tables=0x9ABC)
    assert len(raw) == schema.sizeof() == size
    obj = schema.parse(raw)
    assert schema.build(obj) == raw
    assert obj.Hdr.Signature == 0x5453595320494249 and obj.Hdr.HeaderSize == size
    assert obj.Hdr.CRC32 == efi_crc32(raw)
    assert (obj.FirmwareVendor, obj.RuntimeServices, obj.NumberOfTableEntries, obj.ConfigurationTable) == (
        0x1234,
        0x5678,
        3,
        0x9ABC,
    )
    spans = {s.name: (s.offset, s.size) for s in struct_layout(schema, obj)}
    if bits == 64:
        assert spans["NumberOfTableEntries"] == (0x68, 8) and spans["ConfigurationTable"] == (0x70, 8)
        assert spans["Hdr.CRC32"] == (0x10, 4) and spans["FirmwareRevision"] == (0x20, 4)
    else:
        assert spans["NumberOfTableEntries"] == (0x40, 4) and spans["ConfigurationTable"] == (0x44, 4)


def test_config_table_schema_round_trip():
    raw = EFI_CONFIGURATION_TABLE_64.build({"VendorGuid": ACPI20, "VendorTable": 0x7F5E000})
    assert raw[:8] == bytes.fromhex("71e86888f1e4d311")
    assert EFI_CONFIGURATION_TABLE_64.parse(raw) == {"VendorGuid": ACPI20, "VendorTable": 0x7F5E000}


def test_revision_text():
    assert revision_text(0x00020046) == "2.70" and revision_spec_text(0x00020046) == "2.7"
    assert revision_spec_text(0x0002001F) == "2.3.1"
    assert revision_text(0x00020064) == "2.100" and revision_spec_text(0x00020064) == "2.10"


def machine(bits=64, **overrides):
    """A 64 KiB physical window with a system table at 0x1018 and friends."""
    img = Image()
    img.add_region(0, 0x10000)
    args = dict(vendor=0x2000, revision=0x20046, fw_revision=0x10000, runtime=0x3000, nr_tables=2, tables=0x1100)
    args.update(overrides)
    img.put(0x1018, system_table(bits, **args))
    img.put(0x1100, config_tables(bits, [(ACPI20, 0x4000), (SMBIOS3, 0x5000)]))
    img.put(0x2000, ucs2("EDK II"))
    img.put(0x3000, runtime_services(bits, 0x20046, 0x8000))
    return img


def mem_of(img: Image) -> BytesMemory:
    return BytesMemory({s: bytes(b) for s, b in img.regions.items()})


@pytest.mark.parametrize("bits", [64, 32])
def test_parse_clean_table_field_by_field(bits):
    st = parse_system_table(mem_of(machine(bits)), 0x1018)
    assert st is not None and st.findings == []
    assert st.bits == bits and st.size == (0x78 if bits == 64 else 0x48)
    assert st.revision == 0x20046 and st.revision_text == "2.70" and st.spec_version == "2.7"
    assert st.crc_ok is True and st.crc32 == st.crc32_computed
    assert st.firmware_vendor == "EDK II" and st.firmware_revision == 0x10000
    assert st.runtime_services_ptr.physical == 0x3000 and st.runtime_services.signature_ok
    assert st.runtime_services.crc_ok is True
    assert st.config_table_address == 0x1100 and st.nr_tables == 2
    t = st.config_tables
    assert [(e.guid, e.name, e.table_address, e.readable) for e in t] == [
        (ACPI20, "ACPI_20_TABLE_GUID", 0x4000, True),
        (SMBIOS3, "SMBIOS3_TABLE_GUID", 0x5000, True),
    ]
    assert t[1].address == 0x1100 + (24 if bits == 64 else 20)
    d = st.to_dict()
    assert d["address"] == 0x1018 and d["firmware_vendor"] == "EDK II"
    assert d["config_table_array"]["entries"][0]["guid"] == ACPI20


def codes(st):
    return sorted({f.code for f in st.all_findings()})


def test_wrong_crc_is_a_warning_and_table_still_parsed():
    img = machine()
    img.regions[0][0x1018 + 16] ^= 0x55
    st = parse_system_table(mem_of(img), 0x1018)
    assert codes(st) == ["EFI-SYSTAB-CRC"]
    assert st.crc_ok is False and st.firmware_vendor == "EDK II" and len(st.config_tables) == 2


@pytest.mark.parametrize("hsize", [0x10, 0x100, 0xFFFFFFFF])
def test_header_size_wrong(hsize):
    img = machine()
    img.regions[0][0x1018 + 12 : 0x1018 + 16] = struct.pack("<I", hsize)
    st = parse_system_table(mem_of(img), 0x1018, bits=64)
    assert "EFI-SYSTAB-HEADER-SIZE" in codes(st)
    assert st.config_table_address == 0x1100  # the rest is still read


def test_absurd_table_count_is_capped():
    st = parse_system_table(mem_of(machine(nr_tables=0xFFFFFFFF)), 0x1018)
    assert "EFI-SYSTAB-TOO-MANY-TABLES" in codes(st)
    assert len(st.config_tables) == 256  # MAX_DECODED_TABLES (the first 256 decoded; one finding for the rest)
    assert st.config_table_array.count == 0xFFFFFFFF
    # near the end of the dump the cap itself runs past it: read what is there
    img = machine(nr_tables=0xFFFFFFFF, tables=0xF000)
    st = parse_system_table(mem_of(img), 0x1018)
    assert {"EFI-SYSTAB-TOO-MANY-TABLES", "EFI-CFGTAB-ARRAY-UNREADABLE"} <= set(codes(st))
    assert len(st.config_tables) == 0x1000 // 24


def test_config_table_array_in_a_hole():
    st = parse_system_table(mem_of(machine(tables=0x20000)), 0x1018)
    assert "EFI-CFGTAB-ARRAY-UNREADABLE" in codes(st) and st.config_tables == []


def test_config_table_pointer_into_hole_and_placeholders():
    img = machine(nr_tables=4)
    img.put(
        0x1100,
        config_tables(
            64,
            [
                (ACPI20, 0x4000),
                (SMBIOS3, 0x9_0000_0000),
                (ACPI20, 0),
                ("00000000-0000-0000-0000-000000000000", 0xFFFFFFFFFFFFFFFF),
            ],
        ),
    )
    st = parse_system_table(mem_of(img), 0x1018)
    by = {e.index: sorted(f.code for f in e.findings) for e in st.config_tables}
    assert by[0] == []
    assert by[1] == ["EFI-CFGTAB-NOT-IN-DUMP"] and st.config_tables[1].readable is False
    assert by[2] == ["EFI-CFGTAB-DUPLICATE-GUID", "EFI-CFGTAB-NULL"]
    assert by[3] == ["EFI-CFGTAB-NULL-GUID", "EFI-CFGTAB-PLACEHOLDER"]


def test_vendor_dangling_and_unterminated():
    st = parse_system_table(mem_of(machine(vendor=0x7000_0000)), 0x1018)
    assert "EFI-FW-VENDOR-UNREADABLE" in codes(st) and st.firmware_vendor is None
    img = machine()
    img.put(0x2000, ("A" * 300).encode("utf-16-le"))
    st = parse_system_table(mem_of(img), 0x1018)
    assert "EFI-FW-VENDOR-UNTERMINATED" in codes(st)
    assert st.firmware_vendor == "A" * 256
    img = machine(vendor=0xFFF8)  # string runs into the end of the dump
    img.put(0xFFF8, "ABCD".encode("utf-16-le"))
    st = parse_system_table(mem_of(img), 0x1018)
    assert st.firmware_vendor == "ABCD" and "EFI-FW-VENDOR-UNTERMINATED" in codes(st)


def test_vendor_string_with_escape_sequences_is_kept_as_data():
    img = machine()
    img.put(0x2000, ucs2("\x1b[31mEVIL[/]"))
    st = parse_system_table(mem_of(img), 0x1018)
    assert st.firmware_vendor == "\x1b[31mEVIL[/]"  # escaped at presentation, see test_cli


VA = 0xFFFFFFFEFF000000


def test_virtual_pointers_translated_through_memmap_or_reported():
    img = machine(vendor=0x2000 + VA, runtime=0x3000 + VA, tables=0x1100 + VA)
    from dumps.builder import memory_map

    img.put(
        0x6000,
        memory_map(
            [
                dict(Type=6, PhysicalStart=0x0, NumberOfPages=0x10, Attribute=(1 << 63) | 8),
            ]
        ),
    )
    img.regions[0][0x6000 + 16 : 0x6000 + 24] = struct.pack("<Q", VA)  # VirtualStart
    mem = mem_of(img)
    st = parse_system_table(mem, 0x1018)
    # no map: the array and RuntimeServices are found by their page offset near the table (each checked);
    # the vendor string, too weak a check for a guess, stays untranslated
    assert [f.code for f in st.findings] == ["EFI-SYSTAB-UNTRANSLATED"] + ["EFI-SYSTAB-VIRTUAL-POINTER"] * 2
    assert st.firmware_vendor is None and st.firmware_vendor_ptr.physical is None
    assert st.firmware_vendor_ptr.stored == 0x2000 + VA  # never presented as physical
    assert (st.config_table_ptr.route, st.config_table_address) == ("efi-va-page-offset", 0x1100)
    assert (st.runtime_services_ptr.route, st.runtime_services_ptr.physical) == ("efi-va-page-offset", 0x3000)
    mm = parse_memmap(mem, 0x6000, 48, 48, 1)
    st = parse_system_table(mem, 0x1018, memmap=mm)
    assert codes(st) == ["EFI-SYSTAB-VIRTUAL-POINTER"]
    assert st.config_table_ptr.physical == 0x1100 and st.config_table_ptr.route == "efi-memmap"
    assert st.firmware_vendor == "EDK II" and len(st.config_tables) == 2
    st = parse_system_table(mem, 0x1018, physical_copies={"ConfigurationTable": (0x1100, "SETUP_EFI")})
    assert st.config_table_ptr.route == "SETUP_EFI" and len(st.config_tables) == 2


def test_a_memory_map_translation_that_names_no_table_is_rejected():
    """A VirtualStart off by a page sends the array pointer to zeroes: congruence finds the real one, and says so."""
    img = machine(vendor=0x2000 + VA, runtime=0x3000 + VA, tables=0x1100 + VA)
    from dumps.builder import memory_map

    img.put(0x6000, memory_map([dict(Type=6, PhysicalStart=0x0, NumberOfPages=0x10, Attribute=(1 << 63) | 8)]))
    img.regions[0][0x6000 + 16 : 0x6000 + 24] = struct.pack("<Q", VA - 0x1000)  # VirtualStart, one page off
    mem = mem_of(img)
    st = parse_system_table(mem, 0x1018, memmap=parse_memmap(mem, 0x6000, 48, 48, 1))
    assert (st.config_table_ptr.route, st.config_table_address) == ("efi-va-congruence", 0x1100)
    assert (st.runtime_services_ptr.route, st.runtime_services_ptr.physical) == ("efi-va-congruence", 0x3000)
    msg = next(f.message for f in st.findings if f.message.startswith("ConfigurationTable"))
    assert msg.endswith("via efi-va-congruence; the memory map's translation 0x2100 holds none")
    assert len(st.config_tables) == 2


def test_config_table_count_zero():
    arr = parse_config_tables(BytesMemory({0: bytes(64)}), 0, 0, 64)
    assert arr.entries == [] and arr.findings == []


def test_congruence_route_validates_and_rejects_zero_memory():
    """Linux keeps EFI VA and PA congruent modulo 2 MiB; a candidate must hold the right structure."""
    img = Image()
    img.add_region(0, 0x400000)
    va = 0xFFFFFFFEFF000000
    # runtime region 0x200000-0x400000; the array is at 0x201100, the vendor at 0x202000
    img.put(0x201018, system_table(64, vendor=va + 0x2000, revision=0x20046, fw_revision=0,
                                   runtime=va + 0x3000, nr_tables=2, tables=va + 0x1100))
    img.put(0x201100, config_tables(64, [(ACPI20, 0x4000), (SMBIOS3, 0x5000)]))
    img.put(0x202000, ucs2("EDK II"))
    img.put(0x203000, runtime_services(64, 0x20046, 0x8000))
    from dumps.builder import memory_map

    img.put(0x6000, memory_map([
        dict(Type=6, PhysicalStart=0x0, NumberOfPages=0x100, Attribute=(1 << 63) | 8),  # zeros at 0x1100
        dict(Type=6, PhysicalStart=0x200000, NumberOfPages=0x200, Attribute=(1 << 63) | 8),
    ]))
    mem = mem_of(img)
    mm = parse_memmap(mem, 0x6000, 96, 48, 1)
    st = parse_system_table(mem, 0x201018, memmap=mm)
    assert st.config_table_ptr.physical == 0x201100 and st.config_table_ptr.route == "efi-va-congruence"
    assert st.firmware_vendor_ptr.physical == 0x202000 and st.firmware_vendor == "EDK II"
    assert st.runtime_services_ptr.physical == 0x203000 and st.runtime_services.signature_ok
    assert [e.guid for e in st.config_tables] == [ACPI20, SMBIOS3]
    # erase the real array: the zero-filled congruent candidate must not be taken
    img.put(0x201100, bytes(48))
    st = parse_system_table(mem_of(img), 0x201018, memmap=mm)
    assert st.config_table_ptr.physical is None and "EFI-SYSTAB-UNTRANSLATED" in codes(st)


# -- the configuration table array is decoded by one function -----------------------------------------
@pytest.mark.parametrize("bits", [64, 32])
def test_one_decoder_serves_the_parse_and_the_candidate_check(bits):
    from efitables.efi.config_tables import entry_size, iter_entries, looks_like_config_array

    raw = config_tables(bits, [(ACPI20, 0x4000), (SMBIOS3, 0x5000)])
    assert entry_size(bits) == len(raw) // 2 == (24 if bits == 64 else 20)
    assert [(e.slot, e.offset, e.guid, e.table) for e in iter_entries(raw + b"\x01" * 7, 5, bits)] == [
        (0, 0, ACPI20, 0x4000),
        (1, entry_size(bits), SMBIOS3, 0x5000),  # a partial trailing entry is never decoded
    ]
    mem = BytesMemory({0x1000: raw + bytes(0x100)})
    arr = parse_config_tables(mem, 0x1000, 2, bits)
    assert [(e.guid, e.table_address) for e in arr.entries] == [(e.guid, e.table) for e in iter_entries(raw, 2, bits)]
    assert looks_like_config_array(mem, 0x1000, 2, bits)
    assert not looks_like_config_array(mem, 0x1000 + len(raw), 2, bits)  # zeroes
    assert not looks_like_config_array(mem, 0x1000, 0, bits)
    ones = BytesMemory({0: b"\xff" * 16 + (0x4000).to_bytes(8, "little") + raw})
    assert not looks_like_config_array(ones, 0, 2, 64)  # erased flash-like memory
    nulls = BytesMemory({0: config_tables(bits, [(ACPI20, 0), (SMBIOS3, 0x5000)])})
    assert not looks_like_config_array(nulls, 0, 2, bits)


def test_split_modules_keep_the_old_import_path():
    from efitables.efi import config_tables as ct
    from efitables.efi import pointers, systab

    assert systab.ConfigTable is ct.ConfigTable and systab.parse_config_tables is ct.parse_config_tables
    assert systab.MAX_CONFIG_TABLES == ct.MAX_CONFIG_TABLES == 1024
    assert systab.ResolvedPointer is pointers.ResolvedPointer
    assert systab.page_offset_candidates is pointers.page_offset_candidates
    for name in systab.__all__:
        assert hasattr(systab, name), name
