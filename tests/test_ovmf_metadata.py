"""OVMF SEV metadata (efitables.snp.ovmf_metadata) from a reset-vector page built with the schemas.

The last page below 4 GiB holds, as OVMF's ResetVectorVtf0.asm lays it out: GUIDed entries
(data, UINT16 size, GUID) ending with the footer GUID at 0xffffffd0, 32 bytes before 4 GiB; the
SEV metadata entry's offset names the "ASEV" header and its sections.
"""

from __future__ import annotations

import struct

from efitables.memory.base import BytesMemory
from efitables.schemas.common import guid_to_bytes
from efitables.schemas.ovmf import (
    FOUR_GB,
    OVMF_SEV_METADATA_DESC,
    OVMF_SEV_METADATA_GUID,
    OVMF_SEV_METADATA_HEADER,
    OVMF_TABLE_ENTRY_TAIL,
    OVMF_TABLE_FOOTER_GUID,
    SEV_ES_RESET_BLOCK_GUID,
)
from efitables.schemas.snp import CC_BLOB_SEV_HDR_MAGIC, CC_BLOB_SEV_INFO
from efitables.snp.blob import parse_cc_blob
from efitables.snp.ovmf_metadata import MAX_SECTIONS, find_ovmf_metadata

PAGE = FOUR_GB - 0x1000
META_OFFSET = 0xF00  # the "ASEV" header at 4 GiB - 0xf00
SECTIONS = [
    (0x800000, 0x9000, 1),  # SNP_SEC_MEM
    (0x809000, 0x1000, 2),  # SNP_SECRETS
    (0x80A000, 0x1000, 3),  # CPUID
    (0x80B000, 0x1000, 4),  # SVSM_CAA
    (0x80F000, 0x1000, 0x10),  # SNP_KERNEL_HASHES
]
RESET_BLOCK = struct.pack("<I", 0x80B004)


def entry(guid: str, data: bytes) -> bytes:
    return data + OVMF_TABLE_ENTRY_TAIL.build(dict(size=len(data) + 18, guid=guid_to_bytes(guid)))


def flash_page(sections: list[tuple[int, int, int]], num_desc: int | None = None, sig: bytes = b"ASEV") -> bytes:
    page = bytearray(0x1000)
    descs = b"".join(OVMF_SEV_METADATA_DESC.build(dict(base=b, len=n, type=t)) for b, n, t in sections)
    header = OVMF_SEV_METADATA_HEADER.build(
        dict(signature=sig, len=16 + len(descs), version=1, num_desc=len(sections) if num_desc is None else num_desc)
    )
    at = 0x1000 - META_OFFSET
    page[at : at + len(header) + len(descs)] = header + descs
    table = entry(SEV_ES_RESET_BLOCK_GUID, RESET_BLOCK) + entry(OVMF_SEV_METADATA_GUID, struct.pack("<I", META_OFFSET))
    table += OVMF_TABLE_ENTRY_TAIL.build(dict(size=len(table) + 18, guid=guid_to_bytes(OVMF_TABLE_FOOTER_GUID)))
    end = 0x1000 - 32
    page[end - len(table) : end] = table
    return bytes(page)


def blob_bytes(secrets: int, cpuid: int) -> bytes:
    return CC_BLOB_SEV_INFO.build(
        dict(
            magic=CC_BLOB_SEV_HDR_MAGIC,
            version=1,
            reserved=0,
            secrets_phys=secrets,
            secrets_len=4096,
            rsvd1=0,
            cpuid_phys=cpuid,
            cpuid_len=4096,
            rsvd2=0,
        )
    )


def test_metadata_sections_and_the_footer_table() -> None:
    mem = BytesMemory({PAGE: flash_page(SECTIONS)})
    m = find_ovmf_metadata(mem)
    assert m.present and not m.findings
    assert m.metadata_address == FOUR_GB - META_OFFSET and m.version == 1
    assert [(s.base, s.length, s.type) for s in m.sections] == SECTIONS
    assert [s.type_name for s in m.sections] == ["SNP_SEC_MEM", "SNP_SECRETS", "CPUID", "SVSM_CAA", "SNP_KERNEL_HASHES"]
    assert m.entries[SEV_ES_RESET_BLOCK_GUID] == RESET_BLOCK.hex()
    assert m.entries[OVMF_SEV_METADATA_GUID] == struct.pack("<I", META_OFFSET).hex()


def test_cc_blob_cross_checked() -> None:
    good = BytesMemory({PAGE: flash_page(SECTIONS), 0x80000: blob_bytes(0x809000, 0x80A000).ljust(0x1000, b"\0")})
    blob = parse_cc_blob(good, 0x80000, routes=["test"])
    assert find_ovmf_metadata(good, blob).findings == []
    bad = BytesMemory({PAGE: flash_page(SECTIONS), 0x80000: blob_bytes(0x90000, 0x80A000).ljust(0x1000, b"\0")})
    blob = parse_cc_blob(bad, 0x80000, routes=["test"])
    found = find_ovmf_metadata(bad, blob).findings
    assert [(f.code, f.address) for f in found] == [("OVMF-SEV-METADATA-CC-BLOB", 0x80000)]
    assert "secrets_phys 0x90000" in found[0].message


def test_no_flash_in_the_dump() -> None:
    m = find_ovmf_metadata(BytesMemory({0: bytes(0x1000)}))
    assert not m.present and not m.findings and m.sections == []


def test_hostile_counts_and_signatures() -> None:
    m = find_ovmf_metadata(BytesMemory({PAGE: flash_page(SECTIONS, num_desc=0xFFFFFFFF)}))
    assert [f.code for f in m.findings] == ["OVMF-SEV-METADATA"]
    assert len(m.sections) <= MAX_SECTIONS and [s.type for s in m.sections] == [1, 2, 3, 4, 0x10]
    m = find_ovmf_metadata(BytesMemory({PAGE: flash_page(SECTIONS, sig=b"XSEV")}))
    assert [f.code for f in m.findings] == ["OVMF-SEV-METADATA"] and m.sections == []
    past = find_ovmf_metadata(BytesMemory({PAGE: flash_page([(0xFFFFF000, 0x2000, 1)])}))
    assert [f.code for f in past.findings] == ["OVMF-SEV-METADATA"]
    # an entry whose size runs before the table's start
    page = bytearray(flash_page(SECTIONS))
    tail = 0x1000 - 32 - 18  # the footer's own tail
    struct.pack_into("<H", page, tail - 18, 0xFFF0)  # the metadata entry's size
    m = find_ovmf_metadata(BytesMemory({PAGE: bytes(page)}))
    assert [f.code for f in m.findings] == ["OVMF-SEV-METADATA"] and m.sections == []


# -- the secrets page an SVSM hands the guest: the keys of more privileged VMPLs zeroed --------------
def test_vmpck_of_more_privileged_vmpls_zeroed_by_an_svsm() -> None:
    from efitables.schemas.snp import SNP_SECRETS_PAGE_V3
    from efitables.snp.secrets import parse_secrets_page

    page = SNP_SECRETS_PAGE_V3.parse(bytes(SNP_SECRETS_PAGE_V3.sizeof()))
    page.update(
        dict(
            version=3,
            vmpck0=bytes(32),
            vmpck1=bytes(32),
            vmpck2=b"\x22" * 32,
            vmpck3=b"\x33" * 32,
            svsm_base=0x7000000,
            svsm_size=0x400000,
            svsm_caa=0x7400000,
            svsm_max_version=1,
            svsm_guest_vmpl=2,
        )
    )
    raw = SNP_SECRETS_PAGE_V3.build(page).ljust(4096, b"\0")
    p = parse_secrets_page(raw, 0x81000)
    (f,) = [f for f in p.findings if f.code == "SNP-VMPCK-ZERO"]
    assert f.message.startswith("vmpck0, vmpck1 all zero: the keys of the VMPLs more privileged than the guest's VMPL2")
    # never a key byte in a finding or the typed result
    assert "22" * 4 not in f.message and all(str(k) != (b"\x22" * 32).hex() for k in p.vmpck)
    # a key zeroed at or below the guest's own VMPL is the driver's doing, not the SVSM's
    page.update(dict(vmpck1=b"\x11" * 32, vmpck3=bytes(32)))
    p = parse_secrets_page(SNP_SECRETS_PAGE_V3.build(page).ljust(4096, b"\0"), 0x81000)
    (f,) = [f for f in p.findings if f.code == "SNP-VMPCK-ZERO"]
    assert f.message == "vmpck0, vmpck3 all zero"
