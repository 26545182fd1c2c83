"""SEV-SNP: CC blob routes and precedence, secrets page, CPUID table, redaction, hostile input."""

from __future__ import annotations

import json

import construct as cs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from efitables.findings import Severity
from efitables.memory.base import BytesMemory
from efitables.regions import E820, Region, RegionMap, efi_regions
from efitables.schemas import snp as S
from efitables.snp import (
    ROUTE_BOOT_PARAMS,
    ROUTE_EFI,
    ROUTE_SETUP_DATA,
    analyze_cc_blob,
    boot_params_cc_blob_address,
    cc_setup_data_blob_address,
    parse_cpuid_table,
    parse_secrets_page,
    summary_lines,
)
from efitables.snp.cpuid import decode_fms
from tests.builders_snp import (
    BLOB_PA,
    BLOB_PAGE,
    CPUID_PA,
    SECRETS_PA,
    SETUP_NODE_PA,
    VMPCKS,
    blob_bytes,
    cpuid_bytes,
    fn,
    page,
    secrets_bytes,
    snp_guest,
)


def codes(obj) -> list[str]:
    return sorted(f.code for f in obj.all_findings())


def region_map(g) -> RegionMap:
    """The guest's EFI memory map and E820 entries ``(addr, size, type)`` as one lookup."""
    e820 = [Region(E820, t, a, a + n) for a, n, t in g.e820 or []]
    return RegionMap(efi_regions(g.efi_memmap), e820)


def analyze(g, **routes):
    kw = {"regions": region_map(g)}
    kw.update(routes)
    return analyze_cc_blob(g.mem, **kw)


def all_routes(pa: int = BLOB_PA) -> dict:
    return {
        "boot_params_cc_blob_address": pa,
        "boot_params_address": 0x30000,
        "setup_cc_blob_addresses": [(SETUP_NODE_PA, pa)],
        "efi_cc_blob_address": pa,
        "efi_entry_address": 0x7F000000,
    }


# -- schemas: parse / build / sizeof ------------------------------------------


@pytest.mark.parametrize(
    "schema,data,size",
    [
        (S.CC_BLOB_SEV_INFO, blob_bytes(), 0x28),
        (S.CC_SETUP_DATA, S.CC_SETUP_DATA.build({"next": 0, "type": 7, "len": 8, "cc_blob_address": BLOB_PA}), 24),
        (S.SNP_SECRETS_PAGE_V3, secrets_bytes(3), 4096),
        (S.SNP_SECRETS_PAGE_V2, secrets_bytes(2), 4096),
        (S.SNP_SECRETS_PAGE_COMMON, secrets_bytes(3)[:0x100], 0x100),
        (S.SECRETS_OS_AREA, secrets_bytes(3)[0xA0:0x100], 96),
        (S.SECRETS_OS_AREA_EDK2, secrets_bytes(3)[0xA0:0x100], 96),
        (S.SNP_CPUID_TABLE, cpuid_bytes(), 0xC10),
        (S.SNP_CPUID_FN, cpuid_bytes()[0x10:0x40], 0x30),
    ],
)
def test_schema_round_trip(schema: cs.Construct, data: bytes, size: int) -> None:
    obj = schema.parse(data)
    assert schema.build(obj) == data
    assert schema.sizeof() == size == len(data)


def test_schema_offsets_match_spec() -> None:
    raw = blob_bytes(secrets_phys=0x1111000, cpuid_phys=0x2222000, secrets_len=0x1234, cpuid_len=0x5678)
    assert raw[:4] == b"AMDE"
    assert int.from_bytes(raw[0x08:0x10], "little") == 0x1111000
    assert int.from_bytes(raw[0x10:0x14], "little") == 0x1234
    assert int.from_bytes(raw[0x18:0x20], "little") == 0x2222000
    assert int.from_bytes(raw[0x20:0x24], "little") == 0x5678
    sp = secrets_bytes(3, svsm_base=0xA000, svsm_size=0xB000, svsm_caa=0xC000, svsm_max_version=1,
                       svsm_guest_vmpl=2, tsc_factor=77)  # fmt: skip
    assert sp[0x20:0x40] == VMPCKS[0] and sp[0x80:0xA0] == VMPCKS[3]
    assert int.from_bytes(sp[0xB0:0xB8], "little") == 0x7FFFE000  # ap_jump_table_pa
    assert int.from_bytes(sp[0x140:0x148], "little") == 0xA000
    assert int.from_bytes(sp[0x150:0x158], "little") == 0xC000
    assert sp[0x15C] == 2 and int.from_bytes(sp[0x160:0x164], "little") == 77
    node = S.CC_SETUP_DATA.build({"next": 0, "type": 7, "len": 8, "cc_blob_address": 0xDEADB000})
    assert int.from_bytes(node[0x10:0x14], "little") == 0xDEADB000


# -- the good guest: every route, field by field --------------------------------


def test_all_routes_agree_field_by_field() -> None:
    g = snp_guest()
    r = analyze(g, **all_routes())
    assert r.present and r.routes_agree
    assert [x.route for x in r.routes] == [ROUTE_BOOT_PARAMS, ROUTE_SETUP_DATA, ROUTE_EFI]
    assert [x.carrier_address for x in r.routes] == [0x30000 + 0x13C, SETUP_NODE_PA, 0x7F000000]
    assert (r.decompressor.route, r.decompressor.blob_address) == (ROUTE_EFI, BLOB_PA)
    assert (r.kernel.route, r.kernel.blob_address) == (ROUTE_BOOT_PARAMS, BLOB_PA)
    assert len(r.blobs) == 1 and r.address == BLOB_PA
    b = r.blob
    assert b.readable and b.magic_ok and b.version == 1
    assert (b.secrets_phys, b.secrets_len, b.cpuid_phys, b.cpuid_len) == (SECRETS_PA, 4096, CPUID_PA, 4096)
    assert [x.type_name for x in b.secrets_regions] == ["EFI_RESERVED_TYPE", "E820_TYPE_RESERVED"]
    assert [x.type_name for x in b.cpuid_regions] == ["EFI_RESERVED_TYPE", "E820_TYPE_RESERVED"]
    assert [x.type_name for x in b.blob_regions] == ["EFI_ACPI_RECLAIM_MEMORY", "E820_TYPE_ACPI"]
    assert codes(r) == []

    s = r.secrets_page
    assert s.address == SECRETS_PA and s.version == 3 and s.layout_version == 3
    assert not s.imi_enabled and s.fms == 0x00A10F11
    assert s.family_model_stepping == {"family": 0x19, "model": 0x11, "stepping": 1}
    assert s.gosvw == bytes(range(16))
    assert s.msg_seqno == [4, 0, 2, 0] and s.ap_jump_table_pa == 0x7FFFE000
    assert s.os_area_edk2 == {"msg_seqno_hi": [0, 0, 0, 0], "version": 0}
    assert s.vmsa_tweaked_quadwords == [0, 2]
    assert (s.svsm_base, s.svsm_size, s.svsm_caa, s.svsm_max_version, s.svsm_guest_vmpl) == (0, 0, 0, 0, 0)
    assert not s.svsm_present and s.tsc_factor == 0

    t = r.cpuid_table
    assert t.address == CPUID_PA and t.count == 8 and len(t.entries) == 8
    assert (t.std_max, t.hyp_max, t.ext_max) == (0x10, None, 0x80000021)
    assert t.c_bit == 51
    assert t.sev == {
        "c_bit": 51,
        "sme_me_mask": 1 << 51,
        "phys_addr_reduction": 0,
        "num_vmpls": 4,
        "features": ["sme", "sev", "sev_es", "sev_snp"],
        "num_encrypted_guests": 0,
        "min_sev_no_es_asid": 0,
    }
    assert t.leaf_1["fms"] == {"family": 0x19, "model": 0x11, "stepping": 1}
    assert t.leaf_1["clflush_line_size"] == 64 and t.leaf_1["logical_processors"] == 2
    assert "hypervisor" in t.leaf_1["ecx"] and "avx" in t.leaf_1["ecx"] and "sse2" in t.leaf_1["edx"]
    assert t.leaf_7["ebx"] == ["fsgsbase", "avx2", "smep", "bmi2", "smap"]
    assert t.leaf_7["ecx"] == ["umip", "la57"]
    x = t.xsave
    assert x["supported_components"] == ["x87", "sse", "avx"]
    assert x["size_enabled"] == x["size_enabled_computed"] == 0x340
    assert x["size_compacted"] == x["size_compacted_computed"] == 0x340
    assert x["subleaf1_eax"] == ["xsaveopt", "xsavec", "xgetbv1", "xsaves"]
    assert x["components"] == [{"component": 2, "name": "avx", "size": 0x100, "offset": 0x240, "supervisor": False}]
    e = t.lookup(0x8000001F)
    assert e.address == CPUID_PA + 0x10 + 7 * 0x30 and e.fields.ebx == 51 | 4 << 12


def test_summary_and_json() -> None:
    r = analyze(snp_guest(), **all_routes())
    text = "\n".join(summary_lines(r))
    assert "decompressor would use: EFI configuration table EFI_CC_BLOB_GUID -> 0x7f5e2018" in text
    assert "kernel would use: boot_params.cc_blob_address -> 0x7f5e2018" in text
    assert "routes agree: yes" in text and "C-bit 51" in text and "<redacted: 32 bytes, sha256" in text
    d = json.loads(json.dumps(r.to_dict(raw=True)))
    assert d["present"] and d["routes_agree"] and d["blob_address"] == BLOB_PA and d["secrets_redacted"]
    blob = d["blobs"][0]
    assert blob["fields"]["magic"] == S.CC_BLOB_SEV_HDR_MAGIC and blob["magic_ok"]
    assert blob["cpuid_table"]["sev"]["c_bit"] == 51 and len(blob["cpuid_table"]["entries"]) == 8
    assert blob["secrets_page"]["vmpck"][0]["redacted"] is True


# -- each route alone, and precedence ------------------------------------------


def test_boot_params_route_only() -> None:
    r = analyze(snp_guest(), boot_params_cc_blob_address=BLOB_PA)
    assert r.present and r.routes_agree and codes(r) == []
    assert r.decompressor.route is None  # the decompressor clears boot_params.cc_blob_address
    assert (r.kernel.route, r.kernel.blob_address) == (ROUTE_BOOT_PARAMS, BLOB_PA)
    assert r.secrets_page.version == 3


def test_setup_data_route_only() -> None:
    node = S.CC_SETUP_DATA.build({"next": 0, "type": S.SETUP_CC_BLOB, "len": 8, "cc_blob_address": BLOB_PA})
    g = snp_guest(extra={SETUP_NODE_PA: node})
    assert cc_setup_data_blob_address(g.mem, SETUP_NODE_PA) == BLOB_PA
    r = analyze(g, setup_cc_blob_addresses=[(SETUP_NODE_PA, BLOB_PA)])
    assert (r.decompressor.route, r.kernel.route) == (ROUTE_SETUP_DATA, ROUTE_SETUP_DATA)
    assert r.kernel.blob_address == BLOB_PA and r.cpuid_table.c_bit == 51 and codes(r) == []


def test_efi_route_only() -> None:
    r = analyze(snp_guest(), efi_cc_blob_address=BLOB_PA)
    assert (r.decompressor.route, r.decompressor.blob_address) == (ROUTE_EFI, BLOB_PA)
    assert r.kernel.route is None and r.kernel.blob_address is None  # the kernel never looks at EFI
    assert r.blob.address == BLOB_PA and codes(r) == []


def test_boot_params_zero_while_efi_has_a_blob() -> None:
    r = analyze(snp_guest(), boot_params_cc_blob_address=0, boot_params_address=0x30000, efi_cc_blob_address=BLOB_PA)
    assert codes(r) == ["SNP-KERNEL-NO-BLOB"] and r.findings[0].address == 0x3013C
    assert r.kernel.blob_address is None and r.blob.address == BLOB_PA


def test_boot_params_reader() -> None:
    bp = bytearray(4096)
    bp[0x13C:0x140] = BLOB_PA.to_bytes(4, "little")
    mem = BytesMemory({0x30000: bytes(bp)})
    assert boot_params_cc_blob_address(mem, 0x30000) == BLOB_PA
    assert boot_params_cc_blob_address(mem, 0x90000) is None


def test_null_efi_entry_falls_back_to_setup_data() -> None:
    r = analyze(snp_guest(), efi_cc_blob_address=0, setup_cc_blob_addresses=[(SETUP_NODE_PA, BLOB_PA)])
    assert r.decompressor.route == ROUTE_SETUP_DATA
    assert codes(r) == ["SNP-ROUTE-NULL"]


def test_first_setup_node_wins_and_duplicates_reported() -> None:
    other = BLOB_PAGE + 0x800
    g = snp_guest()
    r = analyze(g, setup_cc_blob_addresses=[(SETUP_NODE_PA, BLOB_PA), (SETUP_NODE_PA + 0x100, other)])
    assert r.kernel.blob_address == BLOB_PA and not r.routes[1].effective
    assert "SNP-SETUP-DUPLICATE" in codes(r) and "SNP-ROUTES-DISAGREE" in codes(r)
    assert r.blob.address == BLOB_PA


# -- non-SNP dumps --------------------------------------------------------------


def test_non_snp_is_quiet() -> None:
    mem = BytesMemory({0: bytes(4096)})
    r = analyze_cc_blob(mem, boot_params_cc_blob_address=0, setup_cc_blob_addresses=[], efi_cc_blob_address=None)
    assert not r.present and r.blobs == [] and r.findings == [] and r.all_findings() == []
    assert r.secrets_page is None and r.cpuid_table is None and r.blob is None
    assert summary_lines(r) == ["no CC blob"] and summary_lines(None) == ["no CC blob"]
    assert r.to_dict()["present"] is False


# -- bad input ------------------------------------------------------------------


def test_wrong_magic_is_not_followed() -> None:
    r = analyze(snp_guest(blob=blob_bytes(magic=0x12345678)), **all_routes())
    assert codes(r) == ["SNP-BLOB-MAGIC"]
    assert r.blob.magic == 0x12345678 and not r.blob.magic_ok
    assert r.secrets_page is None and r.cpuid_table is None
    assert "(WRONG)" in "\n".join(summary_lines(r))


def test_unknown_blob_version_still_followed() -> None:
    r = analyze(snp_guest(blob=blob_bytes(version=2, rsvd2=5)), **all_routes())
    assert codes(r) == ["SNP-BLOB-RESERVED", "SNP-BLOB-VERSION"]
    assert r.secrets_page is not None and r.cpuid_table is not None


def test_unknown_secrets_version_decodes_prefix_only() -> None:
    r = analyze(snp_guest(secrets=secrets_bytes(version=7, svsm_size=0x1000)), **all_routes())
    s = r.secrets_page
    assert s.version == 7 and s.layout_version is None
    assert s.svsm_size is None and not s.svsm_present and s.vmsa_tweak_bitmap is None
    assert s.msg_seqno == [4, 0, 2, 0] and s.vmpck[1].length == 32
    assert codes(r) == ["SNP-SECRETS-VERSION"]


def test_all_zero_secrets_page() -> None:
    r = analyze(snp_guest(secrets=bytes(4096)), **all_routes())
    assert codes(r) == ["SNP-SECRETS-VERSION"]
    assert "all zero" in r.secrets_page.findings[0].message


def test_secrets_version_2() -> None:
    raw = bytearray(secrets_bytes(version=2))
    raw[0x148] = 1  # would be svsm_size in version 3: reserved here
    s = parse_secrets_page(bytes(raw), SECRETS_PA)
    assert s.layout_version == 2 and s.svsm_size is None and not s.svsm_present
    assert [f.code for f in s.findings] == ["SNP-SECRETS-RESERVED"]


def test_edk2_os_area_reading() -> None:
    raw = bytearray(secrets_bytes())
    raw[0xB8:0xBC] = (9).to_bytes(4, "little")  # Vmpl0MsgSeqNumHi
    raw[0xDE:0xE0] = (1).to_bytes(2, "little")  # EDK2 OS-area Version
    s = parse_secrets_page(bytes(raw), SECRETS_PA)
    assert s.os_area_edk2 == {"msg_seqno_hi": [9, 0, 0, 0], "version": 1}
    assert s.findings == []  # Linux's rsvd: not flagged


def test_svsm_fields_and_checks() -> None:
    good = parse_secrets_page(
        secrets_bytes(svsm_base=0x100000000, svsm_size=0x400000, svsm_caa=0x80F000, svsm_max_version=1,
                      svsm_guest_vmpl=2, vmpcks=[bytes(32)] + VMPCKS[1:]),
        SECRETS_PA,
    )  # fmt: skip
    assert good.svsm_present and good.svsm_caa == 0x80F000 and good.svsm_guest_vmpl == 2
    assert [f.code for f in good.findings] == ["SNP-VMPCK-ZERO"]
    assert good.vmpck[0].all_zero and "vmpck0" in good.findings[0].message
    bad = parse_secrets_page(secrets_bytes(svsm_size=0x400000, svsm_caa=0x80F010, svsm_guest_vmpl=0), SECRETS_PA)
    assert sorted(f.code for f in bad.findings) == ["SNP-SVSM-CAA", "SNP-SVSM-VMPL"]


def test_cpuid_count_above_64() -> None:
    t = parse_cpuid_table(cpuid_bytes(count=65), CPUID_PA)
    assert t.count == 65 and len(t.entries) == 64
    assert "SNP-CPUID-COUNT" in [f.code for f in t.findings]
    r = analyze(snp_guest(cpuid=cpuid_bytes(count=0xFFFFFFFF)), **all_routes())
    assert len(r.cpuid_table.entries) == 64 and "SNP-CPUID-COUNT" in codes(r)


def test_cpuid_count_zero() -> None:
    t = parse_cpuid_table(cpuid_bytes(count=0), CPUID_PA)
    assert t.entries == [] and t.sev is None and [f.code for f in t.findings] == ["SNP-CPUID-COUNT"]


def test_cpuid_duplicates_reserved_and_xsave() -> None:
    fns = [fn(0x8000001F, ebx=47), fn(0x8000001F, ebx=51, __reserved=1), fn(0xD, 0, eax=0x7, ebx=0x340, xcr0_in=0x7)]
    t = parse_cpuid_table(cpuid_bytes(fns), CPUID_PA)
    assert t.c_bit == 47  # Linux uses the first match
    assert codes(t) == ["SNP-CPUID-DUPLICATE", "SNP-CPUID-RESERVED", "SNP-CPUID-XSAVE"]
    assert t.xsave["size_enabled_computed"] is None  # avx enabled, no sub-leaf 2


def test_cpuid_implausible_cbit_and_missing_sev_leaf() -> None:
    t = parse_cpuid_table(cpuid_bytes([fn(0x8000001F, ebx=3)]), CPUID_PA)
    assert [f.code for f in t.findings] == ["SNP-CPUID-CBIT"]
    t = parse_cpuid_table(cpuid_bytes([fn(0)]), CPUID_PA)
    assert [f.code for f in t.findings] == ["SNP-CPUID-NO-SEV-LEAF"] and t.c_bit is None


def test_decode_fms() -> None:
    assert decode_fms(0x00A10F11) == {"family": 0x19, "model": 0x11, "stepping": 1}
    assert decode_fms(0x000806EC) == {"family": 6, "model": 0x8E, "stepping": 0xC}


@pytest.mark.parametrize(
    "over,expected",
    [
        ({"secrets_len": 0x2000}, ["SNP-SECRETS-LEN"]),
        ({"secrets_len": 0}, ["SNP-SECRETS-LEN"]),
        ({"cpuid_len": 0x800}, ["SNP-CPUID-LEN"]),
        ({"cpuid_len": 0x2000}, ["SNP-CPUID-LEN-LARGE"]),
    ],
)
def test_wrong_lengths(over: dict, expected: list[str]) -> None:
    r = analyze(snp_guest(blob=blob_bytes(**over)), **all_routes())
    assert codes(r) == expected
    assert r.secrets_page is not None and r.cpuid_table is not None


def test_null_pointers() -> None:
    r = analyze(snp_guest(blob=blob_bytes(secrets_phys=0, cpuid_phys=0)), **all_routes())
    assert codes(r) == ["SNP-CPUID-NULL", "SNP-SECRETS-NULL"]
    assert r.secrets_page is None and r.cpuid_table is None


def test_unaligned_pointers() -> None:
    r = analyze(snp_guest(blob=blob_bytes(secrets_phys=SECRETS_PA + 0x10, cpuid_phys=CPUID_PA + 0x8)), **all_routes())
    found = codes(r)
    assert "SNP-CPUID-ALIGN" in found and "SNP-SECRETS-ALIGN" in found
    # Still followed: the bytes at the odd address are decoded (and are garbage: a 4 KiB page at
    # 0x80d010 also runs into the CPUID page).
    assert r.secrets_page.address == SECRETS_PA + 0x10 and "SNP-BLOB-OVERLAP" in found


def test_dangling_blob() -> None:
    r = analyze(snp_guest(), **all_routes(0x40000000))
    assert codes(r) == ["DUMP-READ"]
    assert not r.blob.readable and not r.readable and r.secrets_page is None
    assert "not readable" in "\n".join(summary_lines(r))


def test_dangling_pages() -> None:
    r = analyze(snp_guest(blob=blob_bytes(secrets_phys=0x50000000, cpuid_phys=0x60000000)), **all_routes())
    assert codes(r) == ["DUMP-READ", "DUMP-READ", "SNP-UNMAPPED", "SNP-UNMAPPED"]
    assert r.secrets_page is None and r.cpuid_table is None
    reads = [f for f in r.all_findings() if f.code == "DUMP-READ"]
    assert {f.address for f in reads} == {0x50000000, 0x60000000}


def test_routes_disagree() -> None:
    other = BLOB_PAGE + 0x800
    g = snp_guest(extra={})
    blob_page = bytearray(g.mem.read(BLOB_PAGE, 4096))
    blob_page[0x800:0x828] = blob_bytes(version=1, secrets_phys=SECRETS_PA, cpuid_phys=CPUID_PA)
    mem = BytesMemory({**g.mem._segments, BLOB_PAGE: bytes(blob_page)})
    r = analyze_cc_blob(
        mem,
        boot_params_cc_blob_address=BLOB_PA,
        efi_cc_blob_address=other,
        regions=region_map(g),
    )
    assert not r.routes_agree
    assert codes(r) == ["SNP-ROUTES-DISAGREE", "SNP-STAGES-DIFFER"]
    assert [b.address for b in r.blobs] == [BLOB_PA, other]
    assert r.blob.address == BLOB_PA  # the kernel proper's choice
    assert (r.decompressor.blob_address, r.kernel.blob_address) == (other, BLOB_PA)
    assert "routes agree: NO" in "\n".join(summary_lines(r))


def test_blob_above_4g_is_truncated_in_boot_params() -> None:
    high = 0x1_7F5E2018
    g = snp_guest()
    segs = dict(g.mem._segments)
    segs[high & ~0xFFF] = segs[BLOB_PAGE]
    r = analyze_cc_blob(BytesMemory(segs), boot_params_cc_blob_address=high & 0xFFFFFFFF, efi_cc_blob_address=high)
    assert "SNP-BLOB-ABOVE-4G" in codes(r) and "SNP-STAGES-DIFFER" in codes(r)
    stages = next(f for f in r.findings if f.code == "SNP-STAGES-DIFFER")
    assert "truncated to 32 bits" in stages.message


def test_blob_points_to_itself() -> None:
    # The blob sits inside the page it names as its secrets page.
    blob_pa = SECRETS_PA + 0x800
    raw = bytearray(secrets_bytes() + page(cpuid_bytes()))
    raw[0x800:0x828] = blob_bytes()
    mem = BytesMemory({SECRETS_PA: bytes(raw)})
    r = analyze_cc_blob(mem, boot_params_cc_blob_address=blob_pa)
    # The blob's own bytes land in the secrets page's reserved area.
    assert codes(r) == ["SNP-BLOB-OVERLAP", "SNP-SECRETS-RESERVED"]
    assert "the secrets page" in r.blob.findings[0].message


def test_secrets_and_cpuid_same_page() -> None:
    r = analyze(snp_guest(blob=blob_bytes(cpuid_phys=SECRETS_PA)), **all_routes())
    assert "SNP-BLOB-OVERLAP" in codes(r)


def test_pages_in_free_ram() -> None:
    efi = [("EFI_CONVENTIONAL_MEMORY", 0x100000, 0x800), ("EFI_ACPI_RECLAIM_MEMORY", BLOB_PAGE, 1)]
    e820 = [(0x100000, 0x800000, 1), (BLOB_PAGE, 0x1000, 3)]
    r = analyze(snp_guest(efi_regions=efi, e820=e820), **all_routes())
    assert codes(r) == ["SNP-FREE-RAM", "SNP-FREE-RAM"]
    msg = r.blob.findings[0].message
    assert "EFI EFI_CONVENTIONAL_MEMORY" in msg and "E820 E820_TYPE_RAM" in msg


def test_no_memory_maps_no_region_noise() -> None:
    r = analyze(snp_guest(with_maps=False), **all_routes())
    assert codes(r) == [] and r.blob.secrets_regions == []


def test_e820_alone() -> None:
    """Without an EFI map, E820 alone places the blob and its pages (RAM is reused; outside it, unmapped)."""
    rmap = RegionMap((), [Region(E820, 1, 0x100000, 0x1100000)])
    r = analyze(snp_guest(), **all_routes(), regions=rmap)
    assert codes(r) == ["SNP-FREE-RAM", "SNP-FREE-RAM", "SNP-UNMAPPED"]  # the blob is above the one entry


# -- secrets redaction ----------------------------------------------------------


def test_secrets_redacted_by_default() -> None:
    r = analyze(snp_guest(), **all_routes())
    s = r.secrets_page
    assert s.redacted and all(k.redacted and k.value is None and k.length == 32 for k in s.vmpck)
    import hashlib

    assert s.vmpck[2].sha256_prefix == hashlib.sha256(VMPCKS[2]).hexdigest()[:16]
    assert s.raw[0x20:0xA0] == bytes(128) and len(s.raw) == 4096
    assert s.fields.vmpck0 is s.vmpck[0]
    assert s.secret_ranges() == [(SECRETS_PA + 0x20, SECRETS_PA + 0xA0)] and r.readable
    blob_json = json.dumps(r.to_dict(raw=True))
    text = "\n".join(summary_lines(r)) + repr(s) + str([x.value for x in s.layout()])
    for k in VMPCKS:
        assert k.hex() not in blob_json and k.hex() not in text and k not in s.raw


def test_show_secrets_reveals() -> None:
    r = analyze(snp_guest(), show_secrets=True, **all_routes())
    s = r.secrets_page
    assert not s.redacted and [k.value for k in s.vmpck] == VMPCKS
    assert s.secret_ranges() == []
    assert s.raw[0x20:0xA0] == b"".join(VMPCKS)
    d = r.to_dict(raw=True)
    assert d["secrets_redacted"] is False
    assert d["blobs"][0]["secrets_page"]["vmpck"][1]["hex"] == VMPCKS[1].hex()
    assert VMPCKS[3].hex() in "\n".join(summary_lines(r))


# -- fuzz: never a traceback ---------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(blob=st.binary(min_size=40, max_size=40), secrets=st.binary(max_size=4096), cpuid=st.binary(max_size=0xC10))
def test_fuzz_never_raises(blob: bytes, secrets: bytes, cpuid: bytes) -> None:
    blob = b"AMDE" + blob[4:]
    mem = BytesMemory({BLOB_PAGE: page(blob), SECRETS_PA: page(secrets) + page(cpuid)})
    r = analyze_cc_blob(mem, boot_params_cc_blob_address=BLOB_PAGE, efi_cc_blob_address=BLOB_PAGE)
    json.dumps(r.to_dict(raw=True))
    summary_lines(r)
    parse_secrets_page(page(secrets), SECRETS_PA)
    parse_cpuid_table(page(cpuid)[:0xC10], CPUID_PA)
    assert all(f.severity in Severity for f in r.all_findings())


# -- end to end: a raw dump through Dump and the CLI ----------------------------


@pytest.fixture(scope="module")
def snp_raw(tmp_path_factory) -> str:
    from tests.builders_snp import write_snp_guest_raw

    path = str(tmp_path_factory.mktemp("snp") / "snp-guest.raw")
    write_snp_guest_raw(path)
    return path


def test_dump_api(snp_raw: str) -> None:
    import efitables
    from tests.builders_snp import RAW_BLOB, RAW_BOOT_PARAMS, RAW_CFG_ARRAY, RAW_SETUP_NODE

    with efitables.open(snp_raw, boot_params=RAW_BOOT_PARAMS) as d:
        r = d.cc_blob
        assert r.present and r.routes_agree and r.blob.address == RAW_BLOB
        efi = next(x for x in r.routes if x.route == ROUTE_EFI)
        assert (efi.blob_address, efi.carrier_address) == (RAW_BLOB, RAW_CFG_ARRAY + 24)
        assert (r.decompressor.route, r.decompressor.blob_address) == (ROUTE_EFI, RAW_BLOB)
        if getattr(d, "boot_params", None) is not None:  # wired by the boot_params area
            assert (r.kernel.route, r.kernel.blob_address) == (ROUTE_BOOT_PARAMS, RAW_BLOB)
            assert [(x.route, x.carrier_address) for x in r.routes] == [
                (ROUTE_BOOT_PARAMS, RAW_BOOT_PARAMS + 0x13C),
                (ROUTE_SETUP_DATA, RAW_SETUP_NODE),
                (ROUTE_EFI, RAW_CFG_ARRAY + 24),
            ]
        assert d.snp_cpuid.c_bit == 51 and d.snp_cpuid is r.cpuid_table
        assert d.snp_secrets.version == 3 and d.snp_secrets.redacted
        assert [x.type_name for x in r.blob.secrets_regions][0] == "EFI_RESERVED_TYPE"
        assert not [f for f in d.findings if f.code.startswith("SNP-")]
        assert d.to_dict()["snp"]["blob_address"] == RAW_BLOB
    with efitables.open(snp_raw, boot_params=RAW_BOOT_PARAMS, show_secrets=True) as d:
        assert [k.value for k in d.snp_secrets.vmpck] == VMPCKS


def _run(*args: str):
    from click.testing import CliRunner

    from efitables.cli import cli

    return CliRunner().invoke(cli, list(args))


def test_cli_text_redacted_and_revealed(snp_raw: str) -> None:
    r = _run("show", "--full", "--boot-params", "0x13000", snp_raw)
    assert r.exit_code == 0, r.output
    for text in ("SEV-SNP", "EFI configuration table EFI_CC_BLOB_GUID -> 0x900018", "routes agree: yes",
                 "C-bit 51", "vmpck0: <redacted: 32 bytes, sha256"):  # fmt: skip
        assert text in r.output
    assert not any(k.hex() in r.output for k in VMPCKS)
    r = _run("show", "--full", "--boot-params", "0x13000", "--show-secrets", snp_raw)
    assert r.exit_code == 0 and all(k.hex() in r.output for k in VMPCKS)


def test_cli_json_redacted_and_revealed(snp_raw: str) -> None:
    r = _run("show", "--json", "--raw", "--boot-params", "0x13000", snp_raw)
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)["snp"]
    assert d["present"] and d["secrets_redacted"] and d["blobs"][0]["cpuid_table"]["sev"]["c_bit"] == 51
    assert not any(k.hex() in r.output for k in VMPCKS)
    r = _run("show", "--json", "--show-secrets", "--boot-params", "0x13000", snp_raw)
    d = json.loads(r.output)["snp"]
    assert d["blobs"][0]["secrets_page"]["vmpck"][0]["hex"] == VMPCKS[0].hex()


def test_cli_non_snp_is_one_quiet_line(samples) -> None:
    r = _run("show", "--full", str(samples / "ovmf64.raw"))
    assert r.exit_code == 0 and "SEV-SNP: no CC blob" in r.output and "SNP-" not in r.output
    d = json.loads(_run("show", "--json", str(samples / "seabios.raw")).output)
    assert d["snp"]["present"] is False and d["snp"]["findings"] == []


@settings(max_examples=150, deadline=None)
@given(
    bp=st.integers(0, 2**32 - 1),
    efi=st.one_of(st.none(), st.integers(0, 2**64 - 1)),
    nodes=st.lists(st.integers(0, 2**32 - 1), max_size=20),
    sphys=st.integers(0, 2**64 - 1),
    cphys=st.integers(0, 2**64 - 1),
    slen=st.integers(0, 2**32 - 1),
    clen=st.integers(0, 2**32 - 1),
)
def test_fuzz_addresses_never_raise(bp, efi, nodes, sphys, cphys, slen, clen) -> None:
    g = snp_guest(blob=blob_bytes(secrets_phys=sphys, cpuid_phys=cphys, secrets_len=slen, cpuid_len=clen))
    r = analyze(
        g,
        boot_params_cc_blob_address=bp,
        efi_cc_blob_address=efi,
        setup_cc_blob_addresses=[(SETUP_NODE_PA + 0x40 * i, n) for i, n in enumerate(nodes)],
    )
    assert len(r.blobs) <= 1 + 1 + 16 + 1
    json.dumps(r.to_dict(raw=True))
    summary_lines(r)


def test_short_buffers_are_rejected() -> None:
    with pytest.raises(ValueError):
        parse_secrets_page(bytes(0x80), SECRETS_PA)
    with pytest.raises(ValueError):
        parse_cpuid_table(bytes(8), CPUID_PA)
    assert parse_secrets_page(secrets_bytes()[:0x100], SECRETS_PA).layout_version is None
