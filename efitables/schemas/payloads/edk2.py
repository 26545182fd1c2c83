"""EDK2/PI tables a firmware leaves behind: the HOB list (its PHIT head and the
generic HOB header), the debug image info table header, the DXE services
table header, the memory type information array, and guided-section GUID copies.

Sources: tianocore/edk2 MdePkg/Include/Pi/PiHob.h@c5aa7e7d94c0
(``EFI_HOB_GENERIC_HEADER``, ``EFI_HOB_HANDOFF_INFO_TABLE``),
MdePkg/Include/Guid/DebugImageInfoTable.h@c5aa7e7d94c0
(``EFI_DEBUG_IMAGE_INFO_TABLE_HEADER``), MdePkg/Include/Pi/PiDxeCis.h
(``DXE_SERVICES_SIGNATURE``), MdeModulePkg/Include/Guid/MemoryTypeInformation.h@c5aa7e7d94c0
(``EFI_MEMORY_TYPE_INFORMATION``), MdePkg/Include/Guid/ImageAuthentication.h@c5aa7e7d94c0
(``EFI_IMAGE_EXECUTION_INFO_TABLE``); UEFI PI Specification vol. 2 (DXE Services Table)
and vol. 3 (HOB code definitions).
"""

from __future__ import annotations

import construct as cs

EFI_HOB_GENERIC_HEADER = cs.Struct("HobType" / cs.Int16ul, "HobLength" / cs.Int16ul, "Reserved" / cs.Int32ul)
EFI_HOB_GENERIC_HEADER_SIZE = 8
assert EFI_HOB_GENERIC_HEADER.sizeof() == EFI_HOB_GENERIC_HEADER_SIZE

EFI_HOB_TYPE_HANDOFF = 0x0001
EFI_HOB_TYPE_END_OF_HOB_LIST = 0xFFFF
EFI_HOB_HANDOFF_TABLE_VERSION = 9
EFI_HOB_TYPE_NAMES = {
    0x0001: "HANDOFF",
    0x0002: "MEMORY_ALLOCATION",
    0x0003: "RESOURCE_DESCRIPTOR",
    0x0004: "GUID_EXTENSION",
    0x0005: "FV",
    0x0006: "CPU",
    0x0007: "MEMORY_POOL",
    0x0009: "FV2",
    0x000A: "LOAD_PEIM_UNUSED",
    0x000B: "UEFI_CAPSULE",
    0x000C: "FV3",
    0xFFFE: "UNUSED",
    0xFFFF: "END_OF_HOB_LIST",
}

EFI_HOB_HANDOFF_INFO_TABLE = cs.Struct(
    "Header" / EFI_HOB_GENERIC_HEADER,
    "Version" / cs.Int32ul,
    "BootMode" / cs.Int32ul,
    "EfiMemoryTop" / cs.Int64ul,
    "EfiMemoryBottom" / cs.Int64ul,
    "EfiFreeMemoryTop" / cs.Int64ul,
    "EfiFreeMemoryBottom" / cs.Int64ul,
    "EfiEndOfHobList" / cs.Int64ul,
)
EFI_HOB_HANDOFF_INFO_TABLE_SIZE = 0x38
assert EFI_HOB_HANDOFF_INFO_TABLE.sizeof() == EFI_HOB_HANDOFF_INFO_TABLE_SIZE

EFI_DEBUG_IMAGE_INFO_TABLE_HEADER = cs.Struct(
    "UpdateStatus" / cs.Int32ul,  # bit 0 update in progress, bit 1 modified
    "TableSize" / cs.Int32ul,  # entries in the pointer array
    "EfiDebugImageInfoTable" / cs.Int64ul,  # EFI_DEBUG_IMAGE_INFO *
)
assert EFI_DEBUG_IMAGE_INFO_TABLE_HEADER.sizeof() == 16
#: The IA32 layout: the pointer is 4 bytes.
EFI_DEBUG_IMAGE_INFO_TABLE_HEADER_32 = cs.Struct(
    "UpdateStatus" / cs.Int32ul,
    "TableSize" / cs.Int32ul,
    "EfiDebugImageInfoTable" / cs.Int32ul,
)
assert EFI_DEBUG_IMAGE_INFO_TABLE_HEADER_32.sizeof() == 12

EFI_MEMORY_TYPE_INFORMATION = cs.Struct("Type" / cs.Int32ul, "NumberOfPages" / cs.Int32ul)
EFI_MEMORY_TYPE_INFORMATION_SIZE = 8
EFI_MAX_MEMORY_TYPE = 16

# -- EFI_IMAGE_EXECUTION_INFO_TABLE (MdePkg/Include/Guid/ImageAuthentication.h@c5aa7e7d94c0) --
#: Header: UINTN NumberOfImages (8 bytes on x64, 4 on IA32); then the records.
EFI_IMAGE_EXECUTION_INFO_TABLE_64 = cs.Struct("NumberOfImages" / cs.Int64ul)
EFI_IMAGE_EXECUTION_INFO_TABLE_32 = cs.Struct("NumberOfImages" / cs.Int32ul)
#: Record head; CHAR16 Name[] (NUL-terminated), an EFI device path and an EFI_SIGNATURE_LIST follow.
EFI_IMAGE_EXECUTION_INFO = cs.Struct("Action" / cs.Int32ul, "InfoSize" / cs.Int32ul)
EFI_IMAGE_EXECUTION_INFO_HEAD_SIZE = 8
EFI_IMAGE_EXECUTION_ACTION_NAMES = {
    0: "UNTESTED",
    1: "AUTH_SIG_FAILED",
    2: "AUTH_SIG_PASSED",
    3: "AUTH_SIG_NOT_FOUND",
    4: "AUTH_SIG_FOUND",
    5: "POLICY_FAILED",
}
EFI_IMAGE_EXECUTION_INITIALIZED = 0x8
