"""``struct efi_info``: the EFI hand-over inside boot_params (offset 0x1C0, 32 bytes).

Source: torvalds/linux arch/x86/include/uapi/asm/bootparam.h@v6.12.117
(``struct efi_info``); users arch/x86/boot/compressed/efi.c and
arch/x86/platform/efi/efi.c. See shared/spec/boot.md 2.2.
"""

from __future__ import annotations

import construct as cs

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
assert EFI_INFO.sizeof() == 0x20
