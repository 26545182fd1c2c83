"""``struct efi_info``: the EFI hand-over inside boot_params (offset 0x1C0, 32 bytes).

Source: torvalds/linux arch/x86/include/uapi/asm/bootparam.h@v6.12.117
(``struct efi_info``, and its place in ``struct boot_params``); users
arch/x86/boot/compressed/efi.c@v6.12.117 and arch/x86/platform/efi/efi.c@v6.12.117
(``EFI32_LOADER_SIGNATURE``/``EFI64_LOADER_SIGNATURE`` from arch/x86/include/asm/efi.h).
"""

from __future__ import annotations

import construct as cs

from efitables.schemas.common import fast_struct, field_offset, field_size

#: Where ``efi_info`` sits in ``struct boot_params`` (checked against BOOT_PARAMS in schemas/boot_params.py).
BOOT_PARAMS_EFI_INFO_OFFSET = 0x1C0

EFI64_LOADER_SIGNATURE = 0x34364C45  # "EL64"
EFI32_LOADER_SIGNATURE = 0x32334C45  # "EL32"

EFI_INFO = cs.Struct(
    "efi_loader_signature" / cs.Enum(cs.Int32ul, EL64=EFI64_LOADER_SIGNATURE, EL32=EFI32_LOADER_SIGNATURE),
    "efi_systab" / cs.Int32ul,
    "efi_memdesc_size" / cs.Int32ul,
    "efi_memdesc_version" / cs.Int32ul,
    "efi_memmap" / cs.Int32ul,
    "efi_memmap_size" / cs.Int32ul,
    "efi_systab_hi" / cs.Int32ul,
    "efi_memmap_hi" / cs.Int32ul,
)
EFI_INFO_SIZE = EFI_INFO.sizeof()
assert EFI_INFO_SIZE == 0x20
#: All eight u32 in order: (efi_loader_signature, efi_systab, efi_memdesc_size,
#: efi_memdesc_version, efi_memmap, efi_memmap_size, efi_systab_hi, efi_memmap_hi).
EFI_INFO_FAST = fast_struct(EFI_INFO)
#: ``efi_loader_signature`` relative to ``efi_info`` (so at BOOT_PARAMS_EFI_INFO_OFFSET + this in a zero page).
EFI_LOADER_SIGNATURE_OFF = field_offset(EFI_INFO, "efi_loader_signature")
EFI_LOADER_SIGNATURE_SIZE = field_size(EFI_INFO, "efi_loader_signature")
#: ``efi_systab_hi``/``efi_memmap_hi`` hold the bits above the 32-bit low halves.
EFI_INFO_HI_SHIFT = 8 * field_size(EFI_INFO, "efi_systab")
assert EFI_INFO_HI_SHIFT == 32
