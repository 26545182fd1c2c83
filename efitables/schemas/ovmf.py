"""OVMF's reset-vector GUIDed table and its SEV metadata ("ASEV"): what an SEV/SNP VMM reads from the firmware.

Sources: tianocore/edk2 OvmfPkg/ResetVector/Ia16/ResetVectorVtf0.asm@edk2-stable202405 (the table
of GUIDed structures that ends 32 bytes below 4 GiB: each entry is its data, a UINT16 size of the
whole entry and its GUID, walked backwards from the footer; the footer GUID
``96b582de-1fb2-45f7-baea-a366c55a082d`` is at 0xffffffd0 with the whole table's UINT16 size just
below it), OvmfPkg/ResetVector/X64/OvmfSevMetadata.asm@edk2-stable202405 (the metadata's entry
``dc886566-984a-4798-a75e-5585a7bf67cc`` holds a UINT32 offset, from the end of the image, of the
``"ASEV"`` header: signature, length, version, number of sections; each section ``{base, length,
type}`` UINT32s), as QEMU hw/i386/pc_sysfw_ovmf.c ``pc_system_parse_ovmf_flash`` and
virtee/sev-snp-measure sevsnpmeasure/ovmf.py@1acdeef5f874 (``_parse_footer_table``,
``_parse_sev_metadata``) read them; section types as sev-snp-measure's ``SectionType``
(SNP_SEC_MEM 1, SNP_SECRETS 2, CPUID 3, SVSM_CAA 4, SNP_KERNEL_HASHES 0x10; QEMU include/hw/i386/pc.h
``ovmf_sev_metadata_desc_type``).
"""

from __future__ import annotations

import construct as cs

FOUR_GB = 1 << 32
OVMF_TABLE_FOOTER_GUID = "96b582de-1fb2-45f7-baea-a366c55a082d"
OVMF_SEV_METADATA_GUID = "dc886566-984a-4798-a75e-5585a7bf67cc"
SEV_HASH_TABLE_RV_GUID = "7255371f-3a3b-4b04-927b-1da6efa8d454"
SEV_ES_RESET_BLOCK_GUID = "00f771de-1a7e-4fcb-890e-68c77e2fb44e"

#: The footer GUID is 48 bytes below the end of the image (4 GiB); the table's UINT16 size 2 bytes before it.
OVMF_FOOTER_GUID_FROM_END = 48
#: Every entry ends in ``UINT16 size`` then its GUID; the footer is such a tail.
OVMF_TABLE_ENTRY_TAIL = cs.Struct("size" / cs.Int16ul, "guid" / cs.Bytes(16))
OVMF_TABLE_ENTRY_TAIL_SIZE = OVMF_TABLE_ENTRY_TAIL.sizeof()
assert OVMF_TABLE_ENTRY_TAIL_SIZE == 18
#: The metadata entry's data: the offset of the "ASEV" header from the end of the image.
OVMF_SEV_METADATA_OFFSET = cs.Struct("offset" / cs.Int32ul)

OVMF_SEV_METADATA_SIGNATURE = b"ASEV"
OVMF_SEV_METADATA_HEADER = cs.Struct(
    "signature" / cs.Bytes(4),
    "len" / cs.Int32ul,
    "version" / cs.Int32ul,
    "num_desc" / cs.Int32ul,
)
assert OVMF_SEV_METADATA_HEADER.sizeof() == 16
OVMF_SEV_METADATA_DESC = cs.Struct("base" / cs.Int32ul, "len" / cs.Int32ul, "type" / cs.Int32ul)
assert OVMF_SEV_METADATA_DESC.sizeof() == 12

SECTION_SNP_SEC_MEM = 1
SECTION_SNP_SECRETS = 2
SECTION_CPUID = 3
SECTION_SVSM_CAA = 4
SECTION_SNP_KERNEL_HASHES = 0x10
SECTION_TYPES = {
    SECTION_SNP_SEC_MEM: "SNP_SEC_MEM",
    SECTION_SNP_SECRETS: "SNP_SECRETS",
    SECTION_CPUID: "CPUID",
    SECTION_SVSM_CAA: "SVSM_CAA",
    SECTION_SNP_KERNEL_HASHES: "SNP_KERNEL_HASHES",
}
