"""EFI_TABLE_HEADER, EFI_SYSTEM_TABLE (64/32-bit), EFI_CONFIGURATION_TABLE (64/32),
EFI_RUNTIME_SERVICES headers and EFI_SYSTEM_TABLE_POINTER.

Sources: tianocore/edk2 MdePkg/Include/Uefi/UefiSpec.h and UefiMultiPhase.h
(``EFI_TABLE_HEADER``, ``EFI_SYSTEM_TABLE``, ``EFI_CONFIGURATION_TABLE``,
``EFI_RUNTIME_SERVICES``); torvalds/linux include/linux/efi.h
(``efi_table_hdr_t``, ``efi_system_table_64_t``/``_32_t``,
``efi_config_table_64_t``/``_32_t``); MdePkg/Include/Guid/DebugImageInfoTable.h
(``EFI_SYSTEM_TABLE_POINTER``) and MdeModulePkg/Core/Dxe/Misc/DebugImageInfo.c
(its 4 MiB alignment). EDK2 at c5aa7e7d94c0, Linux at v6.12.117. The CRC rule
is EDK2's ``CalculateEfiHdrCrc`` (MdeModulePkg/Core/Dxe/DxeMain/DxeMain.c).

Field names are EDK2's (``NumberOfTableEntries``, ``ConfigurationTable``) so a
reader can grep the UEFI sources; Linux's names are given in comments.

The ``*_FAST`` ``struct.Struct`` objects and ``*_OFF`` offsets are the fast paths
of the candidate checks, derived from the construct structs below.
"""

from __future__ import annotations

import zlib

import construct as cs

from efitables.schemas.common import EFI_GUID, fast_struct, field_offset, field_size

EFI_SYSTEM_TABLE_SIGNATURE = 0x5453595320494249  # "IBI SYST"
EFI_RUNTIME_SERVICES_SIGNATURE = 0x56524553544E5552  # "RUNTSERV" (Linux's constant is a nibble short)
EFI_BOOT_SERVICES_SIGNATURE = 0x56524553544F4F42  # "BOOTSERV"
EFI_DXE_SERVICES_SIGNATURE = 0x565245535F455844  # "DXE_SERV"

EFI_SYSTEM_TABLE_SIZE_64 = 0x78
EFI_SYSTEM_TABLE_SIZE_32 = 0x48
EFI_RUNTIME_SERVICES_SIZE_64 = 0x88
EFI_RUNTIME_SERVICES_SIZE_32 = 0x50

EFI_TABLE_HEADER = cs.Struct(
    "Signature" / cs.Int64ul,
    "Revision" / cs.Int32ul,
    "HeaderSize" / cs.Int32ul,  # size of the whole table, header included
    "CRC32" / cs.Int32ul,  # over HeaderSize bytes with this field zero
    "Reserved" / cs.Int32ul,
)
EFI_TABLE_HEADER_SIZE = EFI_TABLE_HEADER.sizeof()
assert EFI_TABLE_HEADER_SIZE == 24
#: The whole header: (Signature, Revision, HeaderSize, CRC32, Reserved).
EFI_TABLE_HEADER_FAST = fast_struct(EFI_TABLE_HEADER)
HDR_SIGNATURE_OFF = field_offset(EFI_TABLE_HEADER, "Signature")
HDR_SIGNATURE_SIZE = field_size(EFI_TABLE_HEADER, "Signature")
HDR_HEADER_SIZE_OFF = field_offset(EFI_TABLE_HEADER, "HeaderSize")
HDR_HEADER_SIZE_FAST = fast_struct(EFI_TABLE_HEADER, "HeaderSize")
HDR_CRC32_OFF = field_offset(EFI_TABLE_HEADER, "CRC32")
HDR_CRC32_SIZE = field_size(EFI_TABLE_HEADER, "CRC32")
#: ``IBI SYST`` as it lies in memory.
EFI_SYSTEM_TABLE_SIGNATURE_BYTES = EFI_SYSTEM_TABLE_SIGNATURE.to_bytes(HDR_SIGNATURE_SIZE, "little")

EFI_SYSTEM_TABLE_64 = cs.Struct(
    "Hdr" / EFI_TABLE_HEADER,
    "FirmwareVendor" / cs.Int64ul,  # CHAR16 *; fw_vendor in Linux
    "FirmwareRevision" / cs.Int32ul,
    "__pad1" / cs.Int32ul,  # compiler padding (Linux __pad1)
    "ConsoleInHandle" / cs.Int64ul,
    "ConIn" / cs.Int64ul,
    "ConsoleOutHandle" / cs.Int64ul,
    "ConOut" / cs.Int64ul,
    "StandardErrorHandle" / cs.Int64ul,
    "StdErr" / cs.Int64ul,
    "RuntimeServices" / cs.Int64ul,
    "BootServices" / cs.Int64ul,
    "NumberOfTableEntries" / cs.Int64ul,  # UINTN; Linux reads nr_tables (u32) + __pad2
    "ConfigurationTable" / cs.Int64ul,  # Linux: tables
)
assert EFI_SYSTEM_TABLE_64.sizeof() == EFI_SYSTEM_TABLE_SIZE_64

EFI_SYSTEM_TABLE_32 = cs.Struct(
    "Hdr" / EFI_TABLE_HEADER,
    "FirmwareVendor" / cs.Int32ul,
    "FirmwareRevision" / cs.Int32ul,
    "ConsoleInHandle" / cs.Int32ul,
    "ConIn" / cs.Int32ul,
    "ConsoleOutHandle" / cs.Int32ul,
    "ConOut" / cs.Int32ul,
    "StandardErrorHandle" / cs.Int32ul,
    "StdErr" / cs.Int32ul,
    "RuntimeServices" / cs.Int32ul,
    "BootServices" / cs.Int32ul,
    "NumberOfTableEntries" / cs.Int32ul,
    "ConfigurationTable" / cs.Int32ul,
)
assert EFI_SYSTEM_TABLE_32.sizeof() == EFI_SYSTEM_TABLE_SIZE_32

#: (NumberOfTableEntries, ConfigurationTable) of the 64-bit table, at ``EFI_SYSTEM_TABLE_64_TABLES_OFF``.
EFI_SYSTEM_TABLE_64_TABLES_FAST = fast_struct(EFI_SYSTEM_TABLE_64, "NumberOfTableEntries", "ConfigurationTable")
EFI_SYSTEM_TABLE_64_TABLES_OFF = field_offset(EFI_SYSTEM_TABLE_64, "NumberOfTableEntries")
#: The same pair in the 32-bit table.
EFI_SYSTEM_TABLE_32_TABLES_FAST = fast_struct(EFI_SYSTEM_TABLE_32, "NumberOfTableEntries", "ConfigurationTable")
EFI_SYSTEM_TABLE_32_TABLES_OFF = field_offset(EFI_SYSTEM_TABLE_32, "NumberOfTableEntries")

EFI_CONFIGURATION_TABLE_64 = cs.Struct("VendorGuid" / EFI_GUID, "VendorTable" / cs.Int64ul)
EFI_CONFIGURATION_TABLE_32 = cs.Struct("VendorGuid" / EFI_GUID, "VendorTable" / cs.Int32ul)
assert EFI_CONFIGURATION_TABLE_64.sizeof() == 24 and EFI_CONFIGURATION_TABLE_32.sizeof() == 20
#: (VendorGuid as 16 raw bytes, VendorTable): one array entry.
EFI_CONFIGURATION_TABLE_64_FAST = fast_struct(EFI_CONFIGURATION_TABLE_64)
EFI_CONFIGURATION_TABLE_32_FAST = fast_struct(EFI_CONFIGURATION_TABLE_32)

_RT_FUNCS = (
    "GetTime SetTime GetWakeupTime SetWakeupTime SetVirtualAddressMap ConvertPointer "
    "GetVariable GetNextVariableName SetVariable GetNextHighMonotonicCount ResetSystem "
    "UpdateCapsule QueryCapsuleCapabilities QueryVariableInfo"
).split()
EFI_RUNTIME_SERVICES_64 = cs.Struct("Hdr" / EFI_TABLE_HEADER, *[n / cs.Int64ul for n in _RT_FUNCS])
EFI_RUNTIME_SERVICES_32 = cs.Struct("Hdr" / EFI_TABLE_HEADER, *[n / cs.Int32ul for n in _RT_FUNCS])
assert EFI_RUNTIME_SERVICES_64.sizeof() == EFI_RUNTIME_SERVICES_SIZE_64
assert EFI_RUNTIME_SERVICES_32.sizeof() == EFI_RUNTIME_SERVICES_SIZE_32

EFI_SYSTEM_TABLE_POINTER = cs.Struct(
    "Signature" / cs.Int64ul,
    "EfiSystemTableBase" / cs.Int64ul,
    "Crc32" / cs.Int32ul,
    "_pad" / cs.Padding(4),
)
EFI_SYSTEM_TABLE_POINTER_SIZE = EFI_SYSTEM_TABLE_POINTER.sizeof()
assert EFI_SYSTEM_TABLE_POINTER_SIZE == 24
#: (Signature, EfiSystemTableBase, Crc32); the padding is skipped.
EFI_SYSTEM_TABLE_POINTER_FAST = fast_struct(EFI_SYSTEM_TABLE_POINTER)
EFI_SYSTEM_TABLE_POINTER_CRC32_OFF = field_offset(EFI_SYSTEM_TABLE_POINTER, "Crc32")
EFI_SYSTEM_TABLE_POINTER_CRC32_SIZE = field_size(EFI_SYSTEM_TABLE_POINTER, "Crc32")
#: EDK2 places it on a 4 MiB boundary (``SIZE_4MB`` in ``CoreInitializeDebugImageInfoTable``).
EFI_SYSTEM_TABLE_POINTER_ALIGNMENT = 4 << 20

CRC32_MASK = 0xFFFFFFFF


def _crc32_zeroed(data: bytes, crc_off: int, crc_size: int) -> int:
    buf = bytearray(data)
    buf[crc_off : crc_off + crc_size] = bytes(crc_size)
    return zlib.crc32(buf) & CRC32_MASK


def efi_crc32(table: bytes, header_size: int | None = None) -> int:
    """CRC-32 of a table as EDK2 computes it: ``HeaderSize`` bytes, CRC32 field zeroed."""
    n = HDR_HEADER_SIZE_FAST.unpack_from(table, HDR_HEADER_SIZE_OFF)[0] if header_size is None else header_size
    return _crc32_zeroed(table[:n], HDR_CRC32_OFF, HDR_CRC32_SIZE)


def efi_system_table_pointer_crc32(raw: bytes) -> int:
    """CRC-32 of an ``EFI_SYSTEM_TABLE_POINTER`` as EDK2's ``CoreUpdateDebugTableCrc32``:
    over ``sizeof`` (24 bytes, trailing padding included) with ``Crc32`` zeroed."""
    return _crc32_zeroed(
        raw[:EFI_SYSTEM_TABLE_POINTER_SIZE], EFI_SYSTEM_TABLE_POINTER_CRC32_OFF, EFI_SYSTEM_TABLE_POINTER_CRC32_SIZE
    )


def build_table(schema: cs.Construct, obj: dict) -> bytes:
    """Build a table with its header CRC32 computed (fixtures use this)."""
    raw = bytearray(schema.build(obj))
    raw[HDR_CRC32_OFF : HDR_CRC32_OFF + HDR_CRC32_SIZE] = efi_crc32(bytes(raw)).to_bytes(HDR_CRC32_SIZE, "little")
    return bytes(raw)


def revision_text(revision: int) -> str:
    """``0x00020046`` -> ``"2.70"``; the minor field packs two decimal digits
    (``EFI_2_70_SYSTEM_TABLE_REVISION`` in EDK2 MdePkg/Include/Uefi/UefiSpec.h)."""
    major, minor = revision >> 16, revision & 0xFFFF
    return f"{major}.{minor:02d}"


def revision_spec_text(revision: int) -> str:
    """As Linux prints it: ``2.7``, ``2.3.1``, ``2.10`` (``efi_systab_report_header`` in
    torvalds/linux drivers/firmware/efi/efi.c@v6.12.117)."""
    major, minor = revision >> 16, revision & 0xFFFF
    text = f"{major}.{minor // 10}"
    if minor % 10:
        text += f".{minor % 10}"
    return text
