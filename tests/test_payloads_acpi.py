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
    facp = r.xsdt.tables[0]
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
    apic = r.xsdt.tables[1]
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
    assert {"ACPI-TABLE-NULL", "DUMP-READ"} <= set(codes(r)) and r.rsdt.tables == []


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
    assert all(t.checksum_ok for t in r.xsdt.tables) and codes(r) == []
    monkeypatch.setattr(acpi_mod, "MAX_CHECKSUM_BYTES", 150)  # FACP (136 bytes) fits, APIC no longer does
    r = decode_payload(mem, Entry(ACPI_20_TABLE_GUID, RSDP_PA))
    assert "ACPI-TABLE-BUDGET" in codes(r) and r.xsdt.tables[-1].checksum_ok is None


# -- FADT -> DSDT / FACS (ACPI 6.5 §5.2.9, §5.2.10) -------------------------------------------------------
from efitables.payloads.acpi import MAX_TABLE_LENGTH, Fadt  # noqa: E402
from efitables.schemas.payloads import acpi_fadt as fs  # noqa: E402

F_RSDP, F_XSDT, F_FADT, F_DSDT, F_FACS, F_DSDT2 = 0x90000, 0x90100, 0x90200, 0x90800, 0x90400, 0x90C00
AML = b"\x08ABCD\x00"  # Name (ABCD, Zero): a valid AML body (efitables does not decode AML)


def fadt_raw(dsdt32: int = 0, x_dsdt: int = 0, facs32: int = 0, x_facs: int = 0, short: bool = False) -> bytes:
    """A FADT built with the ACPI 6.5 schema (ACPI 1.0's 116 bytes when ``short``), checksum fixed."""
    zero = fs.EFI_ACPI_6_5_FIXED_ACPI_DESCRIPTION_TABLE.parse(bytes(fs.FADT_SIZE))
    zero.FirmwareCtrl, zero.Dsdt, zero.XFirmwareCtrl, zero.XDsdt = facs32, dsdt32, x_facs, x_dsdt
    body = fs.EFI_ACPI_6_5_FIXED_ACPI_DESCRIPTION_TABLE.build(zero)[s.SDT_HEADER_SIZE :]
    if short:
        body = body[: 116 - s.SDT_HEADER_SIZE]
    return acpi_table(b"FACP", body)


def facs_raw(sig: bytes = b"FACS", length: int = 64, hw: int = 0x12345678, wake: int = 0x9A000) -> bytes:
    return fs.EFI_ACPI_6_5_FIRMWARE_ACPI_CONTROL_STRUCTURE.build(
        dict(Signature=sig, Length=length, HardwareSignature=hw, FirmwareWakingVector=wake, GlobalLock=0, Flags=0,
             XFirmwareWakingVector=0, Version=2, Reserved0=bytes(3), OspmFlags=0, Reserved1=bytes(24))
    )  # fmt: skip


def fadt_mem(fadt: bytes, dsdt: bytes | None = None, facs: bytes | None = None, dsdt2: bytes | None = None):
    page = bytearray(0x1000)
    r = rsdp(2, 0, F_XSDT)
    page[0 : len(r)] = r
    x = rsdt([F_FADT], xsdt=True)
    page[0x100 : 0x100 + len(x)] = x
    page[0x200 : 0x200 + len(fadt)] = fadt
    for off, b in ((0x800, dsdt), (0x400, facs), (0xC00, dsdt2)):
        if b is not None:
            page[off : off + len(b)] = b
    return BytesMemory({F_RSDP: bytes(page)})


def test_fadt_followed_to_dsdt_and_facs():
    dsdt = acpi_table(b"DSDT", AML)
    mem = fadt_mem(fadt_raw(dsdt32=F_DSDT, x_dsdt=F_DSDT, facs32=F_FACS), dsdt, facs_raw())
    r = decode_payload(mem, Entry(ACPI_20_TABLE_GUID, F_RSDP))
    f = r.fadt
    assert isinstance(f, Fadt) and r.xsdt.tables[0] is f and f.signature == "FACP"
    assert (f.dsdt32, f.x_dsdt, f.firmware_ctrl, f.x_firmware_ctrl) == (F_DSDT, F_DSDT, F_FACS, 0)
    assert (f.dsdt_address, f.facs_address) == (F_DSDT, F_FACS)
    d = r.dsdt
    assert (d.address, d.signature, d.length, d.checksum_ok) == (F_DSDT, "DSDT", len(dsdt), True)
    facs = r.facs
    assert (facs.address, facs.signature, facs.length, facs.hardware_signature) == (F_FACS, "FACS", 64, 0x12345678)
    assert (facs.firmware_waking_vector, facs.version) == (0x9A000, 2)
    assert codes(r) == []
    assert f.children() == [d, facs]
    assert {(e.label, e.start) for e in r.extents()} >= {("DSDT", F_DSDT), ("FACS", F_FACS)}


def test_fadt_prefers_x_fields_and_reports_mismatch():
    dsdt, other = acpi_table(b"DSDT", AML), acpi_table(b"DSDT", AML + b"\x01")
    mem = fadt_mem(fadt_raw(dsdt32=F_DSDT2, x_dsdt=F_DSDT, facs32=F_FACS), dsdt, facs_raw(), dsdt2=other)
    r = decode_payload(mem, Entry(ACPI_20_TABLE_GUID, F_RSDP))
    assert r.dsdt.address == F_DSDT and r.dsdt.length == len(dsdt)
    mism = [x for x in r.fadt.findings if x.code == "ACPI-FADT-ADDRESS-MISMATCH"]
    assert len(mism) == 1 and f"{F_DSDT2:#x}" in mism[0].message and f"{F_DSDT:#x}" in mism[0].message


def test_acpi_1_0_fadt_uses_32_bit_fields():
    mem = fadt_mem(fadt_raw(dsdt32=F_DSDT, facs32=F_FACS, short=True), acpi_table(b"DSDT", AML), facs_raw())
    r = decode_payload(mem, Entry(ACPI_20_TABLE_GUID, F_RSDP))
    assert r.fadt.length == 116 and (r.fadt.x_dsdt, r.fadt.x_firmware_ctrl) == (0, 0)
    assert r.dsdt.address == F_DSDT and r.facs.address == F_FACS and codes(r) == []


def test_fadt_hostile_targets():
    # DSDT pointing back at the FADT itself (a cycle), FACS dangling outside the dump
    mem = fadt_mem(fadt_raw(x_dsdt=F_FADT, x_facs=0x7FFF_0000))
    r = decode_payload(mem, Entry(ACPI_20_TABLE_GUID, F_RSDP))
    assert r.dsdt.signature == "FACP" and "ACPI-DSDT-SIGNATURE" in codes(r)
    assert r.facs is None and "DUMP-READ" in codes(r)
    # a DSDT with a huge Length, a FACS with the wrong signature and a bad length
    huge = acpi_table(b"DSDT", AML)
    huge = huge[:4] + struct.pack("<I", MAX_TABLE_LENGTH + 1) + huge[8:]
    mem = fadt_mem(fadt_raw(x_dsdt=F_DSDT, x_facs=F_FACS), huge, facs_raw(sig=b"XXXX"))
    r = decode_payload(mem, Entry(ACPI_20_TABLE_GUID, F_RSDP))
    assert r.dsdt.checksum_ok is None and "ACPI-TABLE-LENGTH" in codes(r)
    assert "ACPI-FACS-SIGNATURE" in codes(r)
    mem = fadt_mem(fadt_raw(x_dsdt=F_DSDT, x_facs=F_FACS), acpi_table(b"DSDT", AML), facs_raw(length=0xFFFFFFFF))
    r = decode_payload(mem, Entry(ACPI_20_TABLE_GUID, F_RSDP))
    assert "ACPI-FACS-LENGTH" in codes(r) and r.facs.length == 0xFFFFFFFF


def test_fadt_shared_by_rsdt_and_xsdt_is_followed_once():
    dsdt = acpi_table(b"DSDT", AML)
    page = bytearray(fadt_mem(fadt_raw(dsdt32=F_DSDT), dsdt).read(F_RSDP, 0x1000))
    r2 = rsdp(2, F_RSDP + 0x300, F_XSDT)
    page[0 : len(r2)] = r2
    rs = rsdt([F_FADT])
    page[0x300 : 0x300 + len(rs)] = rs
    r = decode_payload(BytesMemory({F_RSDP: bytes(page)}), Entry(ACPI_20_TABLE_GUID, F_RSDP))
    assert r.rsdt.tables[0] is r.xsdt.tables[0] and r.dsdt.address == F_DSDT


def test_listed_is_a_deprecated_alias():
    import pytest

    r = decode_payload(good_mem(), Entry(ACPI_20_TABLE_GUID, RSDP_PA))
    with pytest.warns(DeprecationWarning):
        assert r.xsdt.listed is r.xsdt.tables
