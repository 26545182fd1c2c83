"""TPM event log / final events tables and the EDK2 header-level decoders."""

from __future__ import annotations

import struct

from efitables.memory import BytesMemory
from efitables.payloads import decode_payload
from efitables.payloads import edk2 as e
from efitables.payloads import tcg as t
from efitables.schemas.common import guid_to_bytes
from efitables.schemas.efi_tables import EFI_DXE_SERVICES_SIGNATURE, EFI_TABLE_HEADER, build_table
from efitables.schemas.payloads import edk2 as es
from efitables.schemas.payloads import tcg as ts
from tests.builders_payloads import Entry, phit, roundtrip, tpm_eventlog_table, tpm_log_v2

PA = 0x7000000


def codes(p):
    return sorted({f.code for f in p.all_findings()})


def _mem(raw: bytes, pa: int = PA) -> BytesMemory:
    return BytesMemory({pa: raw + bytes(-len(raw) % 0x1000)})


def test_tpm_log_v2_field_by_field():
    log = tpm_log_v2(3)
    raw = tpm_eventlog_table(log, preboot=0x40)
    h = roundtrip(ts.LINUX_EFI_TPM_EVENTLOG, raw[:9])
    assert (h.size, h.final_events_preboot_size, h.version) == (len(log), 0x40, 2)
    x = decode_payload(_mem(raw), Entry(t.LINUX_EFI_TPM_EVENT_LOG_GUID, PA))
    assert codes(x) == [] and x.format == "TCG_2" and x.log_address == PA + 9
    assert x.event_count == 4 and [a["name"] for a in x.algorithms] == ["sha1", "sha256"]
    assert x.spec_id["spec_version"].startswith("2.0") and x.extents()[0].size == 12 + len(log)


def test_tpm_log_v1_and_bad_version():
    rec = ts.TCG_PCR_EVENT.build(dict(pcr_idx=0, event_type=8, digest=bytes(20), event_size=4)) + b"abcd"
    x = decode_payload(_mem(tpm_eventlog_table(rec * 2, version=1)), Entry(t.LINUX_EFI_TPM_EVENT_LOG_GUID, PA))
    assert codes(x) == [] and x.event_count == 2
    x = decode_payload(_mem(tpm_eventlog_table(rec, version=7)), Entry(t.LINUX_EFI_TPM_EVENT_LOG_GUID, PA))
    assert codes(x) == ["TPM-LOG-VERSION"]


def test_tpm_log_hostile():
    log = bytearray(tpm_log_v2(2))
    struct.pack_into("<I", log, len(log) - 4 - 7, 0xFFFFFF)  # last record's EventSize runs past the log
    x = decode_payload(_mem(tpm_eventlog_table(bytes(log))), Entry(t.LINUX_EFI_TPM_EVENT_LOG_GUID, PA))
    assert codes(x) == ["TPM-LOG-EVENT"] and x.event_count == 2
    bad = bytearray(tpm_log_v2(1))
    bad[32:48] = b"Spec ID Event00\0"
    x = decode_payload(_mem(tpm_eventlog_table(bytes(bad))), Entry(t.LINUX_EFI_TPM_EVENT_LOG_GUID, PA))
    assert codes(x) == ["TPM-LOG-SPECID"]
    raw = bytearray(tpm_eventlog_table(tpm_log_v2(1)))
    raw[0:4] = struct.pack("<I", 0x7FFFFFFF)
    x = decode_payload(_mem(bytes(raw)), Entry(t.LINUX_EFI_TPM_EVENT_LOG_GUID, PA))
    assert {"TPM-LOG-SIZE", "DUMP-READ"} <= set(codes(x))


def test_final_events():
    raw = ts.EFI_TCG2_FINAL_EVENTS_TABLE.build(dict(Version=1, NumberOfEvents=3))
    roundtrip(ts.EFI_TCG2_FINAL_EVENTS_TABLE, raw)
    for g in (t.EFI_TCG2_FINAL_EVENTS_TABLE_GUID, t.EFI_CC_FINAL_EVENTS_TABLE_GUID):
        f = decode_payload(_mem(raw), Entry(g, PA))
        assert codes(f) == [] and (f.version, f.number_of_events) == (1, 3)
    raw = ts.EFI_TCG2_FINAL_EVENTS_TABLE.build(dict(Version=2, NumberOfEvents=1 << 40))
    assert codes(decode_payload(_mem(raw), Entry(t.EFI_TCG2_FINAL_EVENTS_TABLE_GUID, PA))) == [
        "TPM-FINAL-COUNT",
        "TPM-FINAL-VERSION",
    ]


def test_hob_list():
    gen = es.EFI_HOB_GENERIC_HEADER.build
    end = PA + 0x38 + 0x30
    raw = phit(end) + gen(dict(HobType=2, HobLength=0x30, Reserved=0)) + bytes(0x28)
    raw += gen(dict(HobType=0xFFFF, HobLength=8, Reserved=0))
    p = roundtrip(es.EFI_HOB_HANDOFF_INFO_TABLE, raw[:0x38])
    assert p.EfiEndOfHobList == end and p.Version == 9
    h = decode_payload(_mem(raw), Entry(e.EFI_HOB_LIST_GUID, PA))
    assert codes(h) == [] and h.phit_valid and h.hob_count == 3 and h.size == len(raw)
    assert h.type_counts == {"HANDOFF": 1, "MEMORY_ALLOCATION": 1, "END_OF_HOB_LIST": 1}
    h = decode_payload(_mem(bytes(0x100)), Entry(e.EFI_HOB_LIST_GUID, PA))
    assert codes(h) == ["EDK2-HOB-PHIT"] and not h.phit_valid
    loop = phit(PA + 0x1000) + gen(dict(HobType=3, HobLength=0, Reserved=0))
    h = decode_payload(_mem(loop), Entry(e.EFI_HOB_LIST_GUID, PA))
    assert codes(h) == ["EDK2-HOB-WALK"]


def test_dxe_services_and_debug_image_info():
    hdr = dict(Signature=EFI_DXE_SERVICES_SIGNATURE, Revision=0x10046, HeaderSize=24 + 18 * 8, CRC32=0, Reserved=0)
    import construct as cs

    schema = cs.Struct("Hdr" / EFI_TABLE_HEADER, "fns" / cs.Array(18, cs.Int64ul))
    raw = build_table(schema, dict(Hdr=hdr, fns=list(range(18))))
    d = decode_payload(_mem(raw), Entry(e.EFI_DXE_SERVICES_TABLE_GUID, PA))
    assert codes(d) == [] and d.signature_ok and d.crc32_ok and d.size == 168
    bad = bytearray(raw)
    bad[100] ^= 1
    assert codes(decode_payload(_mem(bytes(bad)), Entry(e.EFI_DXE_SERVICES_TABLE_GUID, PA))) == [
        "EDK2-DXE-SERVICES-CRC"
    ]
    arr = struct.pack("<4Q", PA + 0x800, 0, PA + 0x900, 0)
    raw = es.EFI_DEBUG_IMAGE_INFO_TABLE_HEADER.build(
        dict(UpdateStatus=2, TableSize=4, EfiDebugImageInfoTable=PA + 0x100)
    )
    roundtrip(es.EFI_DEBUG_IMAGE_INFO_TABLE_HEADER, raw)
    g = decode_payload(_mem(raw + bytes(0xF0) + arr), Entry(e.EFI_DEBUG_IMAGE_INFO_TABLE_GUID, PA))
    assert codes(g) == [] and (g.table_size, g.non_null_entries) == (4, 2)
    # 32-bit firmware (20-byte configuration table entries): a 4-byte pointer and a u32 array.
    raw32 = es.EFI_DEBUG_IMAGE_INFO_TABLE_HEADER_32.build(
        dict(UpdateStatus=0, TableSize=3, EfiDebugImageInfoTable=PA + 0x100)
    )
    roundtrip(es.EFI_DEBUG_IMAGE_INFO_TABLE_HEADER_32, raw32)
    arr32 = struct.pack("<3I", PA + 0x800, PA + 0x900, 0)
    g = decode_payload(_mem(raw32 + bytes(0x100 - 12) + arr32), Entry(e.EFI_DEBUG_IMAGE_INFO_TABLE_GUID, PA, size=20))
    assert codes(g) == [] and (g.size, g.table_address, g.non_null_entries) == (12, PA + 0x100, 2)


def test_memory_type_information():
    recs = [(10, 0x80), (9, 0x40), (5, 0x100), (6, 0x200), (16, 0)]
    raw = b"".join(es.EFI_MEMORY_TYPE_INFORMATION.build(dict(Type=a, NumberOfPages=b)) for a, b in recs)
    m = decode_payload(_mem(raw), Entry(e.EFI_MEMORY_TYPE_INFORMATION_GUID, PA))
    assert codes(m) == [] and len(m.bins) == 4 and m.size == 40
    assert m.bins[0] == {"type": 10, "type_name": "EFI_ACPI_MEMORY_NVS", "number_of_pages": 0x80}
    m = decode_payload(_mem(bytes([1, 0, 0, 0, 1, 0, 0, 0]) * 100), Entry(e.EFI_MEMORY_TYPE_INFORMATION_GUID, PA))
    assert codes(m) == ["EDK2-MEMORY-TYPE-INFO"]
    tail = BytesMemory({PA: raw[:16]})  # the array ends right at a hole, terminator missing
    m = decode_payload(tail, Entry(e.EFI_MEMORY_TYPE_INFORMATION_GUID, PA))
    assert len(m.bins) == 2 and codes(m) == ["EDK2-MEMORY-TYPE-INFO"]


def test_guid_copy():
    g = e.GUIDED_SECTION_GUIDS[0]
    c = decode_payload(_mem(guid_to_bytes(g)), Entry(g, PA))
    assert codes(c) == [] and c.matches and c.copied_guid == g
    c = decode_payload(_mem(bytes(16)), Entry(g, PA))
    assert codes(c) == ["EDK2-GUID-COPY"] and not c.matches


def _exec_record(action: int, name: str, sig_list: bytes = b"") -> bytes:
    ucs2 = name.encode("utf-16-le") + b"\0\0"
    # A media file-path node (type 4, subtype 4) and the end node.
    path = struct.pack("<BBH", 4, 4, 4 + len(ucs2)) + ucs2 + struct.pack("<BBH", 0x7F, 0xFF, 4)
    body = ucs2 + path + sig_list
    return es.EFI_IMAGE_EXECUTION_INFO.build(dict(Action=action, InfoSize=8 + len(body))) + body


def test_image_execution_info():
    recs = _exec_record(0x8 | 1, "\\EFI\\evil\\bootkit.efi", bytes(28)) + _exec_record(0x8 | 3, "Shell.efi")
    raw = es.EFI_IMAGE_EXECUTION_INFO_TABLE_64.build(dict(NumberOfImages=2)) + recs
    roundtrip(es.EFI_IMAGE_EXECUTION_INFO, recs[:8])
    t = decode_payload(_mem(raw), Entry(e.EFI_IMAGE_SECURITY_DATABASE_GUID, PA))
    assert codes(t) == [] and t.number_of_images == 2 and t.size == len(raw)
    a, b = t.images
    assert (a.action_name, a.initialized, a.name, a.signature_list_size) == (
        "AUTH_SIG_FAILED",
        True,
        "\\EFI\\evil\\bootkit.efi",
        28,
    )
    assert (b.action_name, b.name, b.signature_list_size) == ("AUTH_SIG_NOT_FOUND", "Shell.efi", 0)
    assert a.device_path_size == 4 + 2 * len(a.name) + 2 + 4
    raw32 = es.EFI_IMAGE_EXECUTION_INFO_TABLE_32.build(dict(NumberOfImages=1)) + recs[: len(recs) // 2]
    t = decode_payload(_mem(raw32), Entry(e.EFI_IMAGE_SECURITY_DATABASE_GUID, PA, size=20))
    assert t.images[0].name.endswith("bootkit.efi")
    bad = bytearray(raw)
    struct.pack_into("<I", bad, 12, 3)  # InfoSize below the head
    assert codes(decode_payload(_mem(bytes(bad)), Entry(e.EFI_IMAGE_SECURITY_DATABASE_GUID, PA))) == [
        "EDK2-IMAGE-EXEC-RECORD"
    ]
    huge = es.EFI_IMAGE_EXECUTION_INFO_TABLE_64.build(dict(NumberOfImages=1 << 40))
    assert codes(decode_payload(_mem(huge), Entry(e.EFI_IMAGE_SECURITY_DATABASE_GUID, PA))) == [
        "EDK2-IMAGE-EXEC-RECORD"
    ]


def test_device_tree_header():
    from efitables.payloads import fdt
    from efitables.schemas.payloads import fdt as fs

    hdr = dict(
        magic=fs.FDT_MAGIC,
        totalsize=0x200,
        off_dt_struct=0x60,
        off_dt_strings=0x180,
        off_mem_rsvmap=0x28,
        version=17,
        last_comp_version=16,
        boot_cpuid_phys=0,
        size_dt_strings=0x40,
        size_dt_struct=0x100,
    )
    raw = fs.FDT_HEADER.build(hdr)
    h = roundtrip(fs.FDT_HEADER, raw)
    assert h.magic == 0xD00DFEED and raw[:4] == b"\xd0\x0d\xfe\xed"
    d = decode_payload(_mem(raw), Entry(fdt.DEVICE_TREE_GUID, PA))
    assert codes(d) == [] and (d.version, d.totalsize, d.size, d.in_dump) == (17, 0x200, 0x200, True)
    bad = fs.FDT_HEADER.build({**hdr, "off_dt_strings": 0x1F0})
    assert codes(decode_payload(_mem(bad), Entry(fdt.DEVICE_TREE_GUID, PA))) == ["PAYLOAD-FDT-HEADER"]
    assert codes(decode_payload(_mem(bytes(64)), Entry(fdt.DEVICE_TREE_GUID, PA))) == ["PAYLOAD-FDT-MAGIC"]


def test_final_events_sized_with_the_logs_digests():
    from efitables.payloads import link_payloads

    log = tpm_log_v2(2)
    spec_len = 32 + struct.unpack_from("<I", log, 28)[0]
    records = tpm_log_v2(3)[spec_len:]  # three TCG_PCR_EVENT2 records (sha1 + sha256)
    final = ts.EFI_TCG2_FINAL_EVENTS_TABLE.build(dict(Version=1, NumberOfEvents=3)) + records
    mem = BytesMemory({PA: tpm_eventlog_table(log) + bytes(0x1000 - 9 - len(log)), PA + 0x1000: final + bytes(64)})
    x = decode_payload(mem, Entry(t.LINUX_EFI_TPM_EVENT_LOG_GUID, PA))
    f = decode_payload(mem, Entry(t.EFI_TCG2_FINAL_EVENTS_TABLE_GUID, PA + 0x1000))
    assert f.events_size is None
    link_payloads(mem, [x, f])
    assert codes(f) == [] and f.events_size == len(records) and f.size == 16 + len(records)
    short = ts.EFI_TCG2_FINAL_EVENTS_TABLE.build(dict(Version=1, NumberOfEvents=9)) + records
    mem = BytesMemory({PA: tpm_eventlog_table(log) + bytes(0x1000 - 9 - len(log)), PA + 0x1000: short})
    f = decode_payload(mem, Entry(t.EFI_TCG2_FINAL_EVENTS_TABLE_GUID, PA + 0x1000))
    link_payloads(mem, [decode_payload(mem, Entry(t.LINUX_EFI_TPM_EVENT_LOG_GUID, PA)), f])
    assert codes(f) == ["TPM-FINAL-EVENTS"] and f.events_size is None
