"""SEV-SNP guest structures: the CC blob, the SNP secrets page and the SNP CPUID table.

Sources (the AMD "SEV Secure Nested Paging Firmware ABI Specification", pub. 56860,
is the normative document for the secrets page and the CPUID table; the layouts
below are as these implementations declare them):

* ``struct cc_blob_sev_info`` (40 bytes, packed): torvalds/linux
  arch/x86/include/asm/sev.h@v6.12.117 (identical in @v6.1.192); tianocore/edk2
  OvmfPkg/Include/Guid/ConfidentialComputingSevSnpBlob.h@c5aa7e7d94c0
  (``CONFIDENTIAL_COMPUTING_SNP_BLOB_LOCATION``, PACKED, the same fields).
* ``struct cc_setup_data`` (SETUP_CC_BLOB = 7): torvalds/linux
  arch/x86/coco/sev/shared.c@v6.12.117; arch/x86/include/uapi/asm/setup_data.h@v6.12.117
  (SETUP_CC_BLOB) and arch/x86/include/uapi/asm/bootparam.h@v6.12.117
  (``boot_params.cc_blob_address`` at 0x13C).
* ``struct snp_secrets_page`` / ``struct secrets_os_area``: torvalds/linux
  arch/x86/include/asm/sev.h@v6.12.117 (version 3 fields; mainline adds ``tsc_factor``),
  @v6.1.192 (version 2: ``rsvd3[3840]`` after the OS area); tianocore/edk2
  MdePkg/Include/Register/Amd/SnpSecretsPage.h@188f76ff65 (EDK2's OS-area variant);
  coconut-svsm/svsm src/sev/secrets_page.rs@968721253e3a.
* ``struct snp_cpuid_fn`` / ``struct snp_cpuid_table`` and ``SNP_CPUID_COUNT_MAX``:
  torvalds/linux arch/x86/coco/sev/shared.c@v6.12.117.

Field names are Linux's. Everything is little-endian and packed.
"""

from __future__ import annotations

import construct as cs

from efitables.schemas.boot_params import CC_BLOB_ADDRESS_OFFSET
from efitables.schemas.common import fast_struct, field_offset, struct_format

PAGE_SIZE = 4096

# -- CC blob -------------------------------------------------------------------
CC_BLOB_SEV_HDR_MAGIC = 0x45444D41  # bytes "AMDE"
CC_BLOB_SEV_INFO_VERSION = 1  # what OVMF writes; Linux does not check it
CC_BLOB_SEV_INFO_SIZE = 0x28

CC_BLOB_SEV_INFO = cs.Struct(
    "magic" / cs.Int32ul,  # EDK2: Header
    "version" / cs.Int16ul,
    "reserved" / cs.Int16ul,  # EDK2: Reserved
    "secrets_phys" / cs.Int64ul,  # EDK2: SecretsPhysicalAddress
    "secrets_len" / cs.Int32ul,  # EDK2: SecretsSize; must be 4096
    "rsvd1" / cs.Int32ul,  # EDK2: Reserved1
    "cpuid_phys" / cs.Int64ul,  # EDK2: CpuidPhysicalAddress
    "cpuid_len" / cs.Int32ul,  # EDK2: CpuidLSize; must be >= 4096
    "rsvd2" / cs.Int32ul,  # EDK2: Reserved2
)
assert CC_BLOB_SEV_INFO.sizeof() == CC_BLOB_SEV_INFO_SIZE

#: The fast path: the same 40 bytes for ``struct``, from the schema.
CC_BLOB_SEV_INFO_STRUCT = struct_format(CC_BLOB_SEV_INFO)
CC_BLOB_SEV_INFO_FAST = fast_struct(CC_BLOB_SEV_INFO)

#: ``EFI_CC_BLOB_GUID`` (Linux include/linux/efi.h; EDK2 gConfidentialComputingSevSnpBlobGuid).
EFI_CC_BLOB_GUID = "067b1f5f-cf26-44c5-8554-93d777912d42"

#: ``boot_params.cc_blob_address`` (u32): written by the decompressor for the kernel proper.
BOOT_PARAMS_CC_BLOB_ADDRESS_OFFSET = CC_BLOB_ADDRESS_OFFSET

SETUP_CC_BLOB = 7
#: ``struct cc_setup_data``: the setup_data header, then a u32 blob address (24 bytes with padding).
CC_SETUP_DATA = cs.Struct(
    "next" / cs.Int64ul,  # struct setup_data header
    "type" / cs.Int32ul,
    "len" / cs.Int32ul,
    "cc_blob_address" / cs.Int32ul,
    "_pad" / cs.Padding(4),
)
CC_SETUP_DATA_BLOB_OFFSET = field_offset(CC_SETUP_DATA, "cc_blob_address")
assert CC_SETUP_DATA.sizeof() == 24
#: ``cc_blob_address`` (u32), at CC_SETUP_DATA_BLOB_OFFSET of the node.
CC_SETUP_DATA_BLOB_FAST = fast_struct(CC_SETUP_DATA, "cc_blob_address")

# -- secrets page --------------------------------------------------------------
SNP_SECRETS_PAGE_SIZE = PAGE_SIZE
VMPCK_KEY_LEN = 32
VMPCK_MAX_NUM = 4
VMPCK_OFFSET = 0x20
SECRETS_OS_AREA_OFFSET = 0xA0
SECRETS_OS_AREA_SIZE = 96
#: Versions whose layout is known: 2 (Linux v6.1.192 ``snp_secrets_page_layout``; EDK2
#: SnpSecretsPage.h@188f76ff65, citing ABI spec 56860 rev 1.51 section 8.17.2.5) and 3
#: (project-oak/oak oak_sev_guest/src/secrets.rs@e343ac5cb4b8, citing 56860 Table 68).
SNP_SECRETS_VERSIONS = (2, 3)
#: Bytes every version shares (header, keys, OS area).
SNP_SECRETS_COMMON_SIZE = 0x100

#: Linux's view of the guest-OS area (v6.12 ``struct secrets_os_area``).
SECRETS_OS_AREA = cs.Struct(
    "msg_seqno_0" / cs.Int32ul,
    "msg_seqno_1" / cs.Int32ul,
    "msg_seqno_2" / cs.Int32ul,
    "msg_seqno_3" / cs.Int32ul,
    "ap_jump_table_pa" / cs.Int64ul,
    "rsvd" / cs.Bytes(40),
    "guest_usage" / cs.Bytes(32),
)
assert SECRETS_OS_AREA.sizeof() == SECRETS_OS_AREA_SIZE

#: EDK2's 2022 view of the same 96 bytes (citing GHCB spec 2.01): the high halves of the
#: sequence numbers and a u16 version live where Linux has ``rsvd``.
SECRETS_OS_AREA_EDK2 = cs.Struct(
    "Vmpl0MsgSeqNumLo" / cs.Int32ul,
    "Vmpl1MsgSeqNumLo" / cs.Int32ul,
    "Vmpl2MsgSeqNumLo" / cs.Int32ul,
    "Vmpl3MsgSeqNumLo" / cs.Int32ul,
    "ApJumpTablePa" / cs.Int64ul,
    "Vmpl0MsgSeqNumHi" / cs.Int32ul,
    "Vmpl1MsgSeqNumHi" / cs.Int32ul,
    "Vmpl2MsgSeqNumHi" / cs.Int32ul,
    "Vmpl3MsgSeqNumHi" / cs.Int32ul,
    "Reserved2" / cs.Bytes(22),
    "Version" / cs.Int16ul,
    "GuestUsage" / cs.Bytes(32),
)
assert SECRETS_OS_AREA_EDK2.sizeof() == SECRETS_OS_AREA_SIZE

_SECRETS_COMMON = (
    "version" / cs.Int32ul,
    "imien" / cs.Int32ul,  # bit 0 IMI_EN; bits 31:1 reserved (Linux: u32 imien : 1, rsvd1 : 31)
    "fms" / cs.Int32ul,  # CPUID Fn0000_0001_EAX format
    "rsvd2" / cs.Int32ul,
    "gosvw" / cs.Bytes(16),
    "vmpck0" / cs.Bytes(VMPCK_KEY_LEN),  # secret
    "vmpck1" / cs.Bytes(VMPCK_KEY_LEN),  # secret
    "vmpck2" / cs.Bytes(VMPCK_KEY_LEN),  # secret
    "vmpck3" / cs.Bytes(VMPCK_KEY_LEN),  # secret
    "os_area" / SECRETS_OS_AREA,
)

#: The prefix every version shares; unknown versions are decoded this far only.
SNP_SECRETS_PAGE_COMMON = cs.Struct(*_SECRETS_COMMON)
assert SNP_SECRETS_PAGE_COMMON.sizeof() == SNP_SECRETS_COMMON_SIZE
assert field_offset(SNP_SECRETS_PAGE_COMMON, "vmpck0") == VMPCK_OFFSET
assert field_offset(SNP_SECRETS_PAGE_COMMON, "os_area") == SECRETS_OS_AREA_OFFSET
#: ``version`` (u32), at offset SNP_SECRETS_VERSION_OFF.
SNP_SECRETS_VERSION_FAST = fast_struct(SNP_SECRETS_PAGE_COMMON, "version")
SNP_SECRETS_VERSION_OFF = field_offset(SNP_SECRETS_PAGE_COMMON, "version")

#: Version 2 (Linux v6.1 ``struct snp_secrets_page_layout``; EDK2 ``SNP_SECRETS_PAGE``).
SNP_SECRETS_PAGE_V2 = cs.Struct(*_SECRETS_COMMON, "rsvd3" / cs.Bytes(3840))
assert SNP_SECRETS_PAGE_V2.sizeof() == SNP_SECRETS_PAGE_SIZE

#: Version 3 (Linux mainline ``struct snp_secrets_page``; v6.12 lacks ``tsc_factor``).
SNP_SECRETS_PAGE_V3 = cs.Struct(
    *_SECRETS_COMMON,
    "vmsa_tweak_bitmap" / cs.Bytes(64),
    # SVSM fields ("guest area 1", defined by the SVSM specification)
    "svsm_base" / cs.Int64ul,
    "svsm_size" / cs.Int64ul,
    "svsm_caa" / cs.Int64ul,
    "svsm_max_version" / cs.Int32ul,
    "svsm_guest_vmpl" / cs.Int8ul,
    "rsvd3" / cs.Bytes(3),
    "tsc_factor" / cs.Int32ul,  # percentage decrease nominal -> mean TSC, in 0.001 %
    "rsvd4" / cs.Bytes(3740),
)
assert SNP_SECRETS_PAGE_V3.sizeof() == SNP_SECRETS_PAGE_SIZE

#: Field names the spec marks secret (redacted unless asked).
SNP_SECRETS_SECRET_FIELDS = ("vmpck0", "vmpck1", "vmpck2", "vmpck3")

# -- CPUID table ---------------------------------------------------------------
SNP_CPUID_COUNT_MAX = 64
SNP_CPUID_FN_SIZE = 0x30

SNP_CPUID_FN = cs.Struct(
    "eax_in" / cs.Int32ul,
    "ecx_in" / cs.Int32ul,
    "xcr0_in" / cs.Int64ul,
    "xss_in" / cs.Int64ul,
    "eax" / cs.Int32ul,
    "ebx" / cs.Int32ul,
    "ecx" / cs.Int32ul,
    "edx" / cs.Int32ul,
    "__reserved" / cs.Int64ul,
)
assert SNP_CPUID_FN.sizeof() == SNP_CPUID_FN_SIZE
SNP_CPUID_FN_STRUCT = struct_format(SNP_CPUID_FN)
SNP_CPUID_FN_FAST = fast_struct(SNP_CPUID_FN)

SNP_CPUID_TABLE_HEADER_SIZE = 0x10
SNP_CPUID_TABLE = cs.Struct(
    "count" / cs.Int32ul,
    "__reserved1" / cs.Int32ul,
    "__reserved2" / cs.Int64ul,
    "fn" / cs.Array(SNP_CPUID_COUNT_MAX, SNP_CPUID_FN),
)
SNP_CPUID_TABLE_SIZE = 0xC10
assert SNP_CPUID_TABLE.sizeof() == SNP_CPUID_TABLE_SIZE
#: The header alone (``layout()`` of the table object).
SNP_CPUID_TABLE_HEADER = cs.Struct("count" / cs.Int32ul, "__reserved1" / cs.Int32ul, "__reserved2" / cs.Int64ul)
assert SNP_CPUID_TABLE_HEADER.sizeof() == SNP_CPUID_TABLE_HEADER_SIZE
#: (count, __reserved1, __reserved2): the table header fast path.
SNP_CPUID_TABLE_HEADER_STRUCT = struct_format(SNP_CPUID_TABLE_HEADER)
SNP_CPUID_TABLE_HEADER_FAST = fast_struct(SNP_CPUID_TABLE_HEADER)
