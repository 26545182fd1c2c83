"""ACPI RSDP (1.0 and 2.0+) and the system description table header (RSDT/XSDT).

Sources: tianocore/edk2 MdePkg/Include/IndustryStandard/Acpi10.h@c5aa7e7d94c0
(``EFI_ACPI_1_0_ROOT_SYSTEM_DESCRIPTION_POINTER``) and Acpi20.h@c5aa7e7d94c0
(``EFI_ACPI_2_0_ROOT_SYSTEM_DESCRIPTION_POINTER``), MdePkg/Include/IndustryStandard/Acpi.h
(``EFI_ACPI_DESCRIPTION_HEADER``), all packed; torvalds/linux
drivers/acpi/acpica/tbxfroot.c@v6.12.117 (``acpi_tb_validate_rsdp``) and
include/acpi/acconfig.h@v6.12.117 (checksum lengths). ACPI 6.5 §5.2.5.3 (RSDP), §5.2.6
(system description table header), §5.2.7-5.2.8 (RSDT, XSDT).
"""

from __future__ import annotations

import construct as cs

RSDP_SIGNATURE = b"RSD PTR "
RSDP_V1_SIZE = 20  # ACPI_RSDP_CHECKSUM_LENGTH
RSDP_V2_SIZE = 36  # ACPI_RSDP_XCHECKSUM_LENGTH
SDT_HEADER_SIZE = 36

EFI_ACPI_1_0_ROOT_SYSTEM_DESCRIPTION_POINTER = cs.Struct(
    "Signature" / cs.Bytes(8),
    "Checksum" / cs.Int8ul,  # bytes 0..19 sum to 0
    "OemId" / cs.Bytes(6),
    "Revision" / cs.Int8ul,  # 0 = ACPI 1.0, 2 = ACPI 2.0+
    "RsdtAddress" / cs.Int32ul,
)
assert EFI_ACPI_1_0_ROOT_SYSTEM_DESCRIPTION_POINTER.sizeof() == RSDP_V1_SIZE

EFI_ACPI_2_0_ROOT_SYSTEM_DESCRIPTION_POINTER = cs.Struct(
    "Signature" / cs.Bytes(8),
    "Checksum" / cs.Int8ul,
    "OemId" / cs.Bytes(6),
    "Revision" / cs.Int8ul,
    "RsdtAddress" / cs.Int32ul,
    "Length" / cs.Int32ul,  # 36
    "XsdtAddress" / cs.Int64ul,
    "ExtendedChecksum" / cs.Int8ul,  # bytes 0..35 sum to 0
    "Reserved" / cs.Bytes(3),
)
assert EFI_ACPI_2_0_ROOT_SYSTEM_DESCRIPTION_POINTER.sizeof() == RSDP_V2_SIZE

EFI_ACPI_DESCRIPTION_HEADER = cs.Struct(
    "Signature" / cs.Bytes(4),
    "Length" / cs.Int32ul,  # whole table, header included
    "Revision" / cs.Int8ul,
    "Checksum" / cs.Int8ul,  # Length bytes sum to 0
    "OemId" / cs.Bytes(6),
    "OemTableId" / cs.Bytes(8),
    "OemRevision" / cs.Int32ul,
    "CreatorId" / cs.Bytes(4),
    "CreatorRevision" / cs.Int32ul,
)
assert EFI_ACPI_DESCRIPTION_HEADER.sizeof() == SDT_HEADER_SIZE

#: RSDT entries are 32-bit physical addresses, XSDT entries 64-bit.
RSDT = cs.Struct("Header" / EFI_ACPI_DESCRIPTION_HEADER, "Entry" / cs.GreedyRange(cs.Int32ul))
XSDT = cs.Struct("Header" / EFI_ACPI_DESCRIPTION_HEADER, "Entry" / cs.GreedyRange(cs.Int64ul))


def acpi_checksum(data: bytes) -> int:
    """Byte sum modulo 256; a valid ACPI structure sums to 0."""
    return sum(data) & 0xFF


def fix_checksum(raw: bytes, offset: int, length: int) -> bytes:
    """Set the byte at ``offset`` so that ``raw[:length]`` sums to 0 (fixtures use this)."""
    b = bytearray(raw)
    b[offset] = 0
    b[offset] = (-sum(b[:length])) & 0xFF
    return bytes(b)
