"""ACPI RSDP / RSDT / XSDT decoding and its hostile cases."""

from __future__ import annotations

import struct

from efitables.memory import BytesMemory
from efitables.payloads import decode_payload
from efitables.payloads.acpi import ACPI_20_TABLE_GUID, ACPI_TABLE_GUID, MAX_SDT_ENTRIES
from efitables.schemas.payloads import acpi as s
from tests.builders_payloads import Entry, acpi_table, roundtrip, rsdp, rsdt

RSDP_PA, RSDT_PA, XSDT_PA, FACP_PA, APIC_PA = 0x7F000, 0x7F100, 0x7F200, 0x7F400, 0x7F800


def codes(p):
    return sorted({f.code for f in p.all_findings()})


def _mem(rsdp_raw: bytes, rsdt_raw: bytes | None = None, xsdt_raw: bytes | None = None) -> BytesMemory:
    page = bytearray(0x1000)
    page[0 : len(rsdp_raw)] = rsdp_raw
    if rsdt_raw is not None:
        page[0x100 : 0x100 + len(rsdt_raw)] = rsdt_raw
    if xsdt_raw is not None:
        page[0x200 : 0x200 + len(xsdt_raw)] = xsdt_raw
    facp = acpi_table(b"FACP", bytes(100))
    apic = acpi_table(b"APIC", bytes(40))
    page[0x400 : 0x400 + len(facp)] = facp
    page[0x800 : 0x800 + len(apic)] = apic
    return BytesMemory({0x7F000: bytes(page)})


def good_mem() -> BytesMemory:
    return _mem(rsdp(2, RSDT_PA, XSDT_PA), rsdt([FACP_PA, APIC_PA]), rsdt([FACP_PA, APIC_PA], xsdt=True))


def test_schemas_roundtrip():
    v2 = roundtrip(s.EFI_ACPI_2_0_ROOT_SYSTEM_DESCRIPTION_POINTER, rsdp(2, RSDT_PA, XSDT_PA))
    assert v2.Signature == b"RSD PTR " and v2.Revision == 2 and v2.Length == 36 and v2.XsdtAddress == XSDT_PA
    v1 = roundtrip(s.EFI_ACPI_1_0_ROOT_SYSTEM_DESCRIPTION_POINTER, rsdp(0, RSDT_PA))
    assert v1.RsdtAddress == RSDT_PA and v1.OemId == b"BOCHS "
    h = roundtrip(s.EFI_ACPI_DESCRIPTION_HEADER, acpi_table(b"APIC")[:36])
    assert h.Signature == b"APIC" and h.Length == 36
    x = s.XSDT.parse(rsdt([1, 2], xsdt=True))
    assert s.XSDT.build(x) == rsdt([1, 2], xsdt=True) and list(x.Entry) == [1, 2]


def test_rsdp_v2_field_by_field():
    r = decode_payload(good_mem(), Entry(ACPI_20_TABLE_GUID, RSDP_PA))
    assert r.kind == "ACPI_RSDP" and r.findings == [] and codes(r) == []
    assert (r.signature, r.revision, r.oem_id, r.length) == ("RSD PTR ", 2, "BOCHS", 36)
    assert (r.rsdt_address, r.xsdt_address) == (RSDT_PA, XSDT_PA)
    assert r.checksum_ok and r.extended_checksum_ok
    assert r.xsdt.signature == "XSDT" and r.xsdt.entry_count == 2 and r.xsdt.checksum_ok
    assert r.xsdt.entries == [FACP_PA, APIC_PA] and r.xsdt.signatures == ["FACP", "APIC"]
    assert r.rsdt.signatures == ["FACP", "APIC"] and r.rsdt.oem_table_id == "BXPC"
    facp = r.xsdt.listed[0]
    assert (facp.address, facp.length, facp.checksum_ok, facp.creator_id) == (FACP_PA, 136, True, "BXPC")
    d = r.to_dict()
    assert d["xsdt"]["tables"][1]["signature"] == "APIC" and d["oem_id"] == "BOCHS"
    assert [c.title for c in r.children()][0].startswith("XSDT (2 tables")


def test_rsdp_v1_behind_acpi10_guid():
    mem = _mem(rsdp(0, RSDT_PA), rsdt([FACP_PA]))
    r = decode_payload(mem, Entry(ACPI_TABLE_GUID, RSDP_PA))
    assert r.revision == 0 and r.size == 20 and r.xsdt is None and r.extended_checksum_ok is None
    assert codes(r) == [] and r.rsdt.signatures == ["FACP"]


def test_rev0_behind_acpi20_guid():
    r = decode_payload(_mem(rsdp(0, RSDT_PA), rsdt([FACP_PA])), Entry(ACPI_20_TABLE_GUID, RSDP_PA))
    assert "ACPI-RSDP-GUID" in codes(r)


def test_wrong_checksums():
    bad = bytearray(rsdp(2, RSDT_PA, XSDT_PA))
    bad[8] ^= 0x55  # first checksum wrong; the extended one then too
    r = decode_payload(_mem(bytes(bad), rsdt([FACP_PA])), Entry(ACPI_20_TABLE_GUID, RSDP_PA))
    assert not r.checksum_ok and not r.extended_checksum_ok
    assert {"ACPI-RSDP-CHECKSUM", "ACPI-RSDP-XCHECKSUM"} <= set(codes(r))
    bad = bytearray(rsdp(2, RSDT_PA, XSDT_PA))
    bad[32] ^= 1  # only the extended checksum
    r = decode_payload(_mem(bytes(bad)), Entry(ACPI_20_TABLE_GUID, RSDP_PA))
    assert r.checksum_ok and not r.extended_checksum_ok and "ACPI-RSDP-CHECKSUM" not in codes(r)
    t = bytearray(rsdt([FACP_PA]))
    t[9] ^= 1
    r = decode_payload(_mem(rsdp(0, RSDT_PA), bytes(t)), Entry(ACPI_TABLE_GUID, RSDP_PA))
    assert r.rsdt.checksum_ok is False and "ACPI-SDT-CHECKSUM" in codes(r)


def test_listed_table_checksum():
    mem = good_mem()
    raw = bytearray(mem.read(0x7F000, 0x1000))
    raw[0x800 + 40] ^= 0xFF  # APIC body
    r = decode_payload(BytesMemory({0x7F000: bytes(raw)}), Entry(ACPI_20_TABLE_GUID, RSDP_PA))
    apic = r.xsdt.listed[1]
    assert apic.checksum_ok is False and "ACPI-TABLE-CHECKSUM" in codes(r)


def test_bad_signature_stops():
    bad = bytearray(rsdp(2, RSDT_PA, XSDT_PA))
    bad[0:8] = b"RSD PTX "
    r = decode_payload(_mem(bytes(bad)), Entry(ACPI_20_TABLE_GUID, RSDP_PA))
    assert codes(r) == ["ACPI-RSDP-SIGNATURE"] and r.rsdt is None


def test_rsdt_claiming_huge_length():
    huge = bytearray(rsdt([FACP_PA]))
    huge[4:8] = struct.pack("<I", 0xFFFFFFF0)
    r = decode_payload(_mem(rsdp(0, RSDT_PA), bytes(huge)), Entry(ACPI_TABLE_GUID, RSDP_PA))
    assert "ACPI-SDT-LENGTH" in codes(r)
    assert r.rsdt.entry_count <= MAX_SDT_ENTRIES


def test_rsdt_length_not_whole_entries_and_short():
    odd = bytearray(rsdt([FACP_PA]))
    odd[4:8] = struct.pack("<I", 38)
    r = decode_payload(_mem(rsdp(0, RSDT_PA), bytes(odd)), Entry(ACPI_TABLE_GUID, RSDP_PA))
    assert "ACPI-SDT-LENGTH" in codes(r)
    short = bytearray(rsdt([]))
    short[4:8] = struct.pack("<I", 10)
    r = decode_payload(_mem(rsdp(0, RSDT_PA), bytes(short)), Entry(ACPI_TABLE_GUID, RSDP_PA))
    assert "ACPI-SDT-LENGTH" in codes(r) and r.rsdt.entry_count == 0


def test_dangling_and_null_entries():
    r = decode_payload(_mem(rsdp(0, RSDT_PA), rsdt([0, 0x9999000])), Entry(ACPI_TABLE_GUID, RSDP_PA))
    assert {"ACPI-TABLE-NULL", "DUMP-READ"} <= set(codes(r)) and r.rsdt.listed == []


def test_rsdp_not_in_dump():
    r = decode_payload(good_mem(), Entry(ACPI_20_TABLE_GUID, 0x5000))
    assert codes(r) == ["DUMP-READ"] and r.size == 0


def test_rsdt_xsdt_mismatch_and_revision():
    mem = _mem(rsdp(3, RSDT_PA, XSDT_PA), rsdt([FACP_PA]), rsdt([FACP_PA, APIC_PA], xsdt=True))
    r = decode_payload(mem, Entry(ACPI_20_TABLE_GUID, RSDP_PA))
    assert {"ACPI-RSDT-XSDT-MISMATCH", "ACPI-RSDP-REVISION"} <= set(codes(r))


def test_oem_id_non_printable_kept_as_data():
    r = decode_payload(
        _mem(rsdp(2, 0, XSDT_PA, oem=b"\x1b[31m\xff"), None, rsdt([FACP_PA], xsdt=True)),
        Entry(ACPI_20_TABLE_GUID, RSDP_PA),
    )
    assert "ACPI-RSDP-OEMID" in codes(r) and r.oem_id == "\x1b[31m\\xff"


def test_listed_tables_are_read_within_a_budget(monkeypatch):
    from efitables.payloads import acpi as acpi_mod

    monkeypatch.setattr(acpi_mod, "MAX_CHECKSUM_BYTES", 300)
    # The same FACP listed 50 times is summed once: FACP (136 bytes) and APIC (76) fit in 300.
    mem = _mem(rsdp(2, 0, XSDT_PA), None, rsdt([FACP_PA] * 50 + [APIC_PA], xsdt=True))
    r = decode_payload(mem, Entry(ACPI_20_TABLE_GUID, RSDP_PA))
    assert all(t.checksum_ok for t in r.xsdt.listed) and codes(r) == []
    monkeypatch.setattr(acpi_mod, "MAX_CHECKSUM_BYTES", 150)  # FACP (136 bytes) fits, APIC no longer does
    r = decode_payload(mem, Entry(ACPI_20_TABLE_GUID, RSDP_PA))
    assert "ACPI-TABLE-BUDGET" in codes(r) and r.xsdt.listed[-1].checksum_ok is None
