"""EFI_MEMORY_ATTRIBUTES_TABLE, EFI_PROPERTIES_TABLE and EFI_RT_PROPERTIES_TABLE.

Sources: tianocore/edk2 MdePkg/Include/Guid/MemoryAttributesTable.h@c5aa7e7d94c0
(``EFI_MEMORY_ATTRIBUTES_TABLE``), MdePkg/Include/Guid/RtPropertiesTable.h@c5aa7e7d94c0
(``EFI_RT_PROPERTIES_TABLE``, pack(1)); torvalds/linux include/linux/efi.h@v6.12.117
(``efi_memory_attributes_table_t``, ``efi_properties_table_t``,
``efi_rt_properties_table_t``); drivers/firmware/efi/memattr.c@v6.12.117.
UEFI 2.10 §4.6 (EFI Configuration Table & Properties Table). The descriptors that follow the
attributes header are ``EFI_MEMORY_DESCRIPTOR`` (efitables.schemas.efi_memmap)
at a stride of ``DescriptorSize``.
"""

from __future__ import annotations

import construct as cs

EFI_MEMORY_ATTRIBUTES_TABLE_HEADER_SIZE = 16
EFI_MEMORY_ATTRIBUTES_FLAGS_RT_FORWARD_CONTROL_FLOW_GUARD = 0x1

EFI_MEMORY_ATTRIBUTES_TABLE = cs.Struct(
    "Version" / cs.Int32ul,  # 1, or 2 (adds Flags)
    "NumberOfEntries" / cs.Int32ul,
    "DescriptorSize" / cs.Int32ul,
    "Flags" / cs.Int32ul,  # "Reserved" in version 1
)
assert EFI_MEMORY_ATTRIBUTES_TABLE.sizeof() == EFI_MEMORY_ATTRIBUTES_TABLE_HEADER_SIZE

EFI_PROPERTIES_TABLE_VERSION = 0x00010000
EFI_PROPERTIES_RUNTIME_MEMORY_PROTECTION_NON_EXECUTABLE_PE_DATA = 0x1
EFI_PROPERTIES_TABLE = cs.Struct(
    "version" / cs.Int32ul,
    "length" / cs.Int32ul,
    "memory_protection_attribute" / cs.Int64ul,
)
assert EFI_PROPERTIES_TABLE.sizeof() == 16

EFI_RT_PROPERTIES_TABLE_VERSION = 1
EFI_RT_SUPPORTED_ALL = 0x3FFF
EFI_RT_SUPPORTED_BITS = (
    "GetTime SetTime GetWakeupTime SetWakeupTime GetVariable GetNextVariableName SetVariable "
    "SetVirtualAddressMap ConvertPointer GetNextHighMonotonicCount ResetSystem UpdateCapsule "
    "QueryCapsuleCapabilities QueryVariableInfo"
).split()
EFI_RT_PROPERTIES_TABLE = cs.Struct(
    "Version" / cs.Int16ul,
    "Length" / cs.Int16ul,
    "RuntimeServicesSupported" / cs.Int32ul,
)
assert EFI_RT_PROPERTIES_TABLE.sizeof() == 8


def rt_supported_names(mask: int) -> list[str]:
    return [n for i, n in enumerate(EFI_RT_SUPPORTED_BITS) if mask & (1 << i)]
