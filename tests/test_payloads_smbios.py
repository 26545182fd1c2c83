"""SMBIOS 2.x / 3.x entry points and the structure table walk."""

from __future__ import annotations

from efitables.memory import BytesMemory
from efitables.payloads import decode_payload
from efitables.payloads.smbios import MAX_STRUCTURES, SMBIOS3_TABLE_GUID, SMBIOS_TABLE_GUID, walk_table
from efitables.schemas.payloads import smbios as s
from tests.builders_payloads import Entry, roundtrip, smbios2_ep, smbios3_ep, smbios_structure, smbios_table

EP, TABLE = 0x9F000, 0x9F100


def codes(p):
    return sorted({f.code for f in p.all_findings()})


def _mem(ep: bytes, table: bytes) -> BytesMemory:
    page = bytearray(0x1000)
    page[0 : len(ep)] = ep
    page[0x100 : 0x100 + len(table)] = table
    return BytesMemory({EP: bytes(page)})


def test_schemas_roundtrip():
    t = smbios_table()
    e2 = roundtrip(s.SMBIOS_TABLE_ENTRY_POINT, smbios2_ep(TABLE, t))
    assert (e2.AnchorString, e2.IntermediateAnchorString, e2.TableLength, e2.TableAddress) == (
        b"_SM_",
        b"_DMI_",
        len(t),
        TABLE,
    )
    assert (e2.MajorVersion, e2.MinorVersion, e2.NumberOfSmbiosStructures) == (2, 8, 4)
    e3 = roundtrip(s.SMBIOS_TABLE_3_0_ENTRY_POINT, smbios3_ep(TABLE, 0x1000))
    assert (e3.AnchorString, e3.TableMaximumSize, e3.TableAddress, e3.EntryPointRevision) == (
        b"_SM3_",
        0x1000,
        TABLE,
        1,
    )
    h = roundtrip(s.SMBIOS_STRUCTURE, t[:4])
    assert (h.Type, h.Handle) == (0, 0)


def test_smbios2_field_by_field():
    t = smbios_table()
    ep = decode_payload(_mem(smbios2_ep(TABLE, t), t), Entry(SMBIOS_TABLE_GUID, EP))
    assert ep.kind == "SMBIOS_ENTRY_POINT" and codes(ep) == []
    assert (ep.anchor, ep.version, ep.checksum_ok, ep.intermediate_checksum_ok) == ("_SM_", "2.8", True, True)
    assert (ep.table_address, ep.table_length, ep.table_used, ep.number_of_structures) == (TABLE, len(t), len(t), 4)
    assert [x.type for x in ep.structures] == [0, 1, 3, 127]
    assert ep.structures[0].strings == ["EFI Development Kit II / OVMF", "0.0.0", "02/06/2015"]
    assert ep.structures[1].type_name == "System Information" and ep.structures[1].handle == 0x100
    assert ep.type_counts == {0: 1, 1: 1, 3: 1, 127: 1}
    d = ep.to_dict()
    assert d["type_counts"] == {"0": 1, "1": 1, "3": 1, "127": 1} and d["structures"][1]["strings"][0] == "QEMU"


def test_smbios3_field_by_field():
    t = smbios_table()
    ep = decode_payload(_mem(smbios3_ep(TABLE, 0x800), t), Entry(SMBIOS3_TABLE_GUID, EP))
    assert ep.kind == "SMBIOS3_ENTRY_POINT" and codes(ep) == []
    assert (ep.version, ep.checksum_ok, ep.table_length, ep.table_used) == ("3.0.0", True, 0x800, len(t))
    assert len(ep.structures) == 4


def test_smbios3_max_size_past_dump():
    t = smbios_table()
    ep = decode_payload(_mem(smbios3_ep(TABLE, 0x100000), t), Entry(SMBIOS3_TABLE_GUID, EP))
    assert ep.table_read and len(ep.structures) == 4 and codes(ep) == []


def test_wrong_checksums():
    t = smbios_table()
    raw = bytearray(smbios2_ep(TABLE, t))
    raw[4] ^= 1
    ep = decode_payload(_mem(bytes(raw), t), Entry(SMBIOS_TABLE_GUID, EP))
    assert not ep.checksum_ok and codes(ep) == ["SMBIOS-CHECKSUM"]
    raw = bytearray(smbios2_ep(TABLE, t))
    raw[0x15] ^= 1  # intermediate checksum; the whole-structure sum breaks too
    ep = decode_payload(_mem(bytes(raw), t), Entry(SMBIOS_TABLE_GUID, EP))
    assert {"SMBIOS-DMI-CHECKSUM", "SMBIOS-CHECKSUM"} <= set(codes(ep))
    raw3 = bytearray(smbios3_ep(TABLE, 0x800))
    raw3[5] ^= 0x80
    ep = decode_payload(_mem(bytes(raw3), t), Entry(SMBIOS3_TABLE_GUID, EP))
    assert not ep.checksum_ok and "SMBIOS-CHECKSUM" in codes(ep)


def test_anchor_and_length():
    t = smbios_table()
    ep = decode_payload(_mem(smbios3_ep(TABLE, 0x800), t), Entry(SMBIOS_TABLE_GUID, EP))
    assert codes(ep) == ["SMBIOS-ANCHOR"] and ep.structures == []
    ep = decode_payload(_mem(smbios2_ep(TABLE, t, EntryPointLength=0x40), t), Entry(SMBIOS_TABLE_GUID, EP))
    assert "SMBIOS-EP-LENGTH" in codes(ep)


def test_linux_version_fixup():
    t = smbios_table()
    ep = decode_payload(_mem(smbios2_ep(TABLE, t, major=2, minor=0x33), t), Entry(SMBIOS_TABLE_GUID, EP))
    assert ep.version == "2.6" and "SMBIOS-VERSION-FIXUP" in codes(ep)


def test_count_mismatch_and_no_end():
    t = smbios_table()[:-6]  # drop the type 127 structure
    ep = decode_payload(_mem(smbios2_ep(TABLE, t, count=4), t), Entry(SMBIOS_TABLE_GUID, EP))
    assert {"SMBIOS-COUNT", "SMBIOS-NO-END"} <= set(codes(ep)) and len(ep.structures) == 3


def test_truncated_and_bad_length():
    t = smbios_structure(1, 1, bytes(20), [b"abc"])[:-3] + smbios_structure(127, 2)
    ep = decode_payload(_mem(smbios2_ep(TABLE, t[:27], count=1), t[:27]), Entry(SMBIOS_TABLE_GUID, EP))
    assert "SMBIOS-TRUNCATED" in codes(ep)
    bad = bytes([1, 2, 0, 0]) + b"\0\0"
    structs, used, f = walk_table(bad, TABLE)
    assert structs == [] and [x.code for x in f] == ["SMBIOS-STRUCT-LENGTH", "SMBIOS-NO-END"]


def test_counts_past_the_table_are_bounded():
    one = smbios_structure(126, 1)
    structs, used, f = walk_table(one * (MAX_STRUCTURES + 10), TABLE)
    assert len(structs) == MAX_STRUCTURES and [x.code for x in f] == ["SMBIOS-TOO-MANY"]


def test_table_not_in_dump():
    t = smbios_table()
    ep = decode_payload(_mem(smbios2_ep(0x50000000, t), t), Entry(SMBIOS_TABLE_GUID, EP))
    assert codes(ep) == ["DUMP-READ"] and not ep.table_read


def test_entry_point_not_in_dump():
    """A VendorTable pointing into a hole: an empty entry point that names the read, for either anchor."""
    mem = BytesMemory({0x1000: bytes(0x1000)})
    for guid, kind in ((SMBIOS_TABLE_GUID, "SMBIOS_ENTRY_POINT"), (SMBIOS3_TABLE_GUID, "SMBIOS3_ENTRY_POINT")):
        ep = decode_payload(mem, Entry(guid, EP))
        assert ep.address == EP and ep.size == 0 and ep.version == "?" and not ep.checksum_ok
        assert codes(ep) == ["DUMP-READ"] and ep.findings[0].address == EP
        assert ep.kind == kind
