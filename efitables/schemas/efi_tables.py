"""EFI_TABLE_HEADER, EFI_SYSTEM_TABLE (64/32-bit), EFI_CONFIGURATION_TABLE (64/32),
EFI_RUNTIME_SERVICES headers and EFI_SYSTEM_TABLE_POINTER.

Sources: tianocore/edk2 MdePkg/Include/Uefi/UefiSpec.h and UefiMultiPhase.h
(``EFI_TABLE_HEADER``, ``EFI_SYSTEM_TABLE``, ``EFI_CONFIGURATION_TABLE``,
``EFI_RUNTIME_SERVICES``); torvalds/linux include/linux/efi.h
(``efi_table_hdr_t``, ``efi_system_table_64_t``/``_32_t``,
``efi_config_table_64_t``/``_32_t``); MdePkg/Include/Guid/DebugImageInfoTable.h
(``EFI_SYSTEM_TABLE_POINTER``). See shared/spec/efi.md 2-5.

Field names are EDK2's (``NumberOfTableEntries``, ``ConfigurationTable``) so a
reader can grep the UEFI sources; Linux's names are given in comments.
"""

from __future__ import annotations

import struct
import zlib

import construct as cs

from efitables.schemas.common import EFI_GUID

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
assert EFI_TABLE_HEADER.sizeof() == 24

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

EFI_CONFIGURATION_TABLE_64 = cs.Struct("VendorGuid" / EFI_GUID, "VendorTable" / cs.Int64ul)
EFI_CONFIGURATION_TABLE_32 = cs.Struct("VendorGuid" / EFI_GUID, "VendorTable" / cs.Int32ul)
assert EFI_CONFIGURATION_TABLE_64.sizeof() == 24 and EFI_CONFIGURATION_TABLE_32.sizeof() == 20

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


def efi_crc32(table: bytes, header_size: int | None = None) -> int:
    """CRC-32 of a table as EDK2 computes it: ``HeaderSize`` bytes, CRC32 field zeroed."""
    n = struct.unpack_from("<I", table, 12)[0] if header_size is None else header_size
    data = bytearray(table[:n])
    data[16:20] = b"\0\0\0\0"
    return zlib.crc32(data) & 0xFFFFFFFF


def build_table(schema: cs.Construct, obj: dict) -> bytes:
    """Build a table with its header CRC32 computed (fixtures use this)."""
    raw = bytearray(schema.build(obj))
    raw[16:20] = efi_crc32(bytes(raw)).to_bytes(4, "little")
    return bytes(raw)


def revision_text(revision: int) -> str:
    """``0x00020046`` -> ``"2.70"``; the minor field packs two decimal digits (efi.md 2)."""
    major, minor = revision >> 16, revision & 0xFFFF
    return f"{major}.{minor:02d}"


def revision_spec_text(revision: int) -> str:
    """As Linux prints it: ``2.7``, ``2.3.1``, ``2.10``."""
    major, minor = revision >> 16, revision & 0xFFFF
    text = f"{major}.{minor // 10}"
    if minor % 10:
        text += f".{minor % 10}"
    return text
