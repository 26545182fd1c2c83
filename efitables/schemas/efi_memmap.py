"""EFI_MEMORY_DESCRIPTOR, EFI_MEMORY_TYPE and the memory attribute bits.

Sources: tianocore/edk2 MdePkg/Include/Uefi/UefiSpec.h (``EFI_MEMORY_DESCRIPTOR``,
``EFI_MEMORY_*`` attributes) and MdePkg/Include/Uefi/UefiMultiPhase.h
(``EFI_MEMORY_TYPE``); torvalds/linux include/linux/efi.h (``efi_memory_desc_t``,
``EFI_*`` type names); EDK2 at c5aa7e7d94c0, Linux at v6.12.117. The array
stride is the firmware's ``DescriptorSize`` (48 from EDK2, which pads on purpose
in MdeModulePkg/Core/Dxe/Mem/Page.c; 40 from kexec-tools), never 40.
"""

from __future__ import annotations

import construct as cs

from efitables.schemas.common import fast_struct, struct_format

EFI_PAGE_SIZE = 4096
EFI_MEMORY_DESCRIPTOR_SIZE = 40
EFI_MEMORY_DESCRIPTOR_VERSION = 1
#: A ``DescriptorSize`` is at least the struct, a multiple of 8 (its natural alignment,
#: the u64 fields), and, as a sanity bound of this parser, at most one page.
EFI_MEMORY_DESCRIPTOR_ALIGN = 8
EFI_MEMORY_DESCRIPTOR_SIZE_MAX = 4096

# Linux names (include/linux/efi.h); EDK2's in comments.
EFI_MEMORY_TYPE = {
    "EFI_RESERVED_TYPE": 0,  # EfiReservedMemoryType
    "EFI_LOADER_CODE": 1,  # EfiLoaderCode
    "EFI_LOADER_DATA": 2,  # EfiLoaderData
    "EFI_BOOT_SERVICES_CODE": 3,  # EfiBootServicesCode
    "EFI_BOOT_SERVICES_DATA": 4,  # EfiBootServicesData
    "EFI_RUNTIME_SERVICES_CODE": 5,  # EfiRuntimeServicesCode
    "EFI_RUNTIME_SERVICES_DATA": 6,  # EfiRuntimeServicesData
    "EFI_CONVENTIONAL_MEMORY": 7,  # EfiConventionalMemory
    "EFI_UNUSABLE_MEMORY": 8,  # EfiUnusableMemory
    "EFI_ACPI_RECLAIM_MEMORY": 9,  # EfiACPIReclaimMemory
    "EFI_ACPI_MEMORY_NVS": 10,  # EfiACPIMemoryNVS
    "EFI_MEMORY_MAPPED_IO": 11,  # EfiMemoryMappedIO
    "EFI_MEMORY_MAPPED_IO_PORT_SPACE": 12,  # EfiMemoryMappedIOPortSpace
    "EFI_PAL_CODE": 13,  # EfiPalCode
    "EFI_PERSISTENT_MEMORY": 14,  # EfiPersistentMemory
    "EFI_UNACCEPTED_MEMORY": 15,  # EfiUnacceptedMemoryType
}
EFI_MEMORY_TYPE_NAMES = {v: k for k, v in EFI_MEMORY_TYPE.items()}
EFI_MAX_MEMORY_TYPE = 16

EFI_MEMORY_ATTRIBUTE = {
    "EFI_MEMORY_UC": 0x1,
    "EFI_MEMORY_WC": 0x2,
    "EFI_MEMORY_WT": 0x4,
    "EFI_MEMORY_WB": 0x8,
    "EFI_MEMORY_UCE": 0x10,
    "EFI_MEMORY_WP": 0x1000,
    "EFI_MEMORY_RP": 0x2000,
    "EFI_MEMORY_XP": 0x4000,
    "EFI_MEMORY_NV": 0x8000,
    "EFI_MEMORY_MORE_RELIABLE": 0x10000,
    "EFI_MEMORY_RO": 0x20000,
    "EFI_MEMORY_SP": 0x40000,
    "EFI_MEMORY_CPU_CRYPTO": 0x80000,
    "EFI_MEMORY_HOT_PLUGGABLE": 0x100000,
    "EFI_MEMORY_ISA_VALID": 0x4000000000000000,
    "EFI_MEMORY_RUNTIME": 0x8000000000000000,
}
EFI_MEMORY_ISA_MASK = 0x0FFFF00000000000
EFI_MEMORY_RUNTIME = EFI_MEMORY_ATTRIBUTE["EFI_MEMORY_RUNTIME"]

EFI_MEMORY_DESCRIPTOR = cs.Struct(
    "Type" / cs.Enum(cs.Int32ul, **EFI_MEMORY_TYPE),
    "pad" / cs.Int32ul,  # Linux's name for the compiler padding
    "PhysicalStart" / cs.Int64ul,
    "VirtualStart" / cs.Int64ul,
    "NumberOfPages" / cs.Int64ul,
    "Attribute" / cs.FlagsEnum(cs.Int64ul, **EFI_MEMORY_ATTRIBUTE),
)
assert EFI_MEMORY_DESCRIPTOR.sizeof() == EFI_MEMORY_DESCRIPTOR_SIZE

#: The fast path: the same 40 bytes for bulk decoding with ``struct``, from the schema.
EFI_MEMORY_DESCRIPTOR_STRUCT = struct_format(EFI_MEMORY_DESCRIPTOR)
EFI_MEMORY_DESCRIPTOR_FAST = fast_struct(EFI_MEMORY_DESCRIPTOR)


def descriptor_size_plausible(size: int) -> bool:
    """``DescriptorSize`` (``efi_memdesc_size``) could be a real stride: >= 40, a multiple of 8, <= 4096."""
    return (
        EFI_MEMORY_DESCRIPTOR_SIZE <= size <= EFI_MEMORY_DESCRIPTOR_SIZE_MAX and size % EFI_MEMORY_DESCRIPTOR_ALIGN == 0
    )


def attribute_names(attr: int) -> list[str]:
    names = [n for n, bit in EFI_MEMORY_ATTRIBUTE.items() if attr & bit]
    if attr & EFI_MEMORY_ISA_MASK:
        names.append(f"ISA({(attr & EFI_MEMORY_ISA_MASK) >> 44:#x})")
    known = sum(EFI_MEMORY_ATTRIBUTE.values()) | EFI_MEMORY_ISA_MASK
    if attr & ~known:
        names.append(f"unknown({attr & ~known:#x})")
    return names


def type_name(t: int) -> str:
    if t in EFI_MEMORY_TYPE_NAMES:
        return EFI_MEMORY_TYPE_NAMES[t]
    if 0x70000000 <= t <= 0x7FFFFFFF:
        return f"OEM_RESERVED({t:#x})"
    if t >= 0x80000000:
        return f"OS_RESERVED({t:#x})"
    return f"INVALID({t:#x})"
