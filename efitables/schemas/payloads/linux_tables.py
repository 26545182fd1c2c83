"""Tables the Linux EFI stub (or a previous kernel / shim) installs.

Sources: torvalds/linux include/linux/efi.h@v6.12.117 (``struct
linux_efi_random_seed``, ``struct linux_efi_memreserve``, ``struct
linux_efi_initrd``, ``struct efi_boot_memmap``, ``struct efi_unaccepted_memory``,
``struct efi_mokvar_table_entry``, ``struct linux_efi_coco_secret_area``);
include/uapi/linux/screen_info.h@v6.12.117 (``struct screen_info``, packed);
arch/x86/include/asm/efi.h@v6.12.117 (``EFI_UNACCEPTED_UNIT_SIZE``).
"""

from __future__ import annotations

import construct as cs

from efitables.schemas.boot_params import SCREEN_INFO
from efitables.schemas.common import EFI_GUID

# -- LINUX_EFI_RANDOM_SEED ---------------------------------------------------
EFI_RANDOM_SEED_SIZE = 32
#: Linux consumes at most SZ_1K bytes of seed (drivers/firmware/efi/efi.c).
EFI_RANDOM_SEED_CONSUMED_MAX = 1024
LINUX_EFI_RANDOM_SEED = cs.Struct("size" / cs.Int32ul)  # then ``bits[size]``
LINUX_EFI_RANDOM_SEED_HEADER_SIZE = 4

# -- LINUX_EFI_MEMRESERVE ----------------------------------------------------
LINUX_EFI_MEMRESERVE = cs.Struct(
    "size" / cs.Int32sl,  # capacity of entry[]
    "count" / cs.Int32sl,  # atomic_t: entries used
    "next" / cs.Int64ul,  # phys_addr_t of the next node, 0 terminates
)
LINUX_EFI_MEMRESERVE_HEADER_SIZE = 16
LINUX_EFI_MEMRESERVE_ENTRY = cs.Struct("base" / cs.Int64ul, "size" / cs.Int64ul)
LINUX_EFI_MEMRESERVE_ENTRY_SIZE = 16
#: EFI_MEMRESERVE_COUNT(PAGE_SIZE): entries in a one-page node.
EFI_MEMRESERVE_COUNT_PAGE = (4096 - LINUX_EFI_MEMRESERVE_HEADER_SIZE) // LINUX_EFI_MEMRESERVE_ENTRY_SIZE
assert LINUX_EFI_MEMRESERVE.sizeof() == 16 and EFI_MEMRESERVE_COUNT_PAGE == 255

# -- LINUX_EFI_INITRD_MEDIA --------------------------------------------------
LINUX_EFI_INITRD = cs.Struct("base" / cs.Int64ul, "size" / cs.Int64ul)
assert LINUX_EFI_INITRD.sizeof() == 16

# -- LINUX_EFI_BOOT_MEMMAP ---------------------------------------------------
EFI_BOOT_MEMMAP = cs.Struct(
    "map_size" / cs.Int64ul,
    "desc_size" / cs.Int64ul,
    "desc_ver" / cs.Int32ul,
    "_pad" / cs.Padding(4),
    "map_key" / cs.Int64ul,
    "buff_size" / cs.Int64ul,
)  # then ``efi_memory_desc_t map[]``
EFI_BOOT_MEMMAP_HEADER_SIZE = 40
assert EFI_BOOT_MEMMAP.sizeof() == EFI_BOOT_MEMMAP_HEADER_SIZE

# -- LINUX_EFI_UNACCEPTED_MEM_TABLE ------------------------------------------
EFI_UNACCEPTED_MEMORY = cs.Struct(
    "version" / cs.Int32ul,
    "unit_size" / cs.Int32ul,
    "phys_base" / cs.Int64ul,
    "size" / cs.Int64ul,  # bitmap bytes
)  # then ``unsigned long bitmap[]``
EFI_UNACCEPTED_MEMORY_HEADER_SIZE = 24
EFI_UNACCEPTED_MEMORY_VERSION = 1
EFI_UNACCEPTED_UNIT_SIZE_X86 = 0x200000  # PMD_SIZE
assert EFI_UNACCEPTED_MEMORY.sizeof() == EFI_UNACCEPTED_MEMORY_HEADER_SIZE

# -- LINUX_EFI_SCREEN_INFO_TABLE: struct screen_info (packed, 64 bytes) -------
# one layout, declared with boot_params (it is boot_params.screen_info too)
SCREEN_INFO_SIZE = 64
assert SCREEN_INFO.sizeof() == SCREEN_INFO_SIZE
VIDEO_CAPABILITY_64BIT_BASE = 0x2
VIDEO_TYPE_NAMES = {
    0x10: "MDA",
    0x11: "CGA",
    0x20: "EGAM",
    0x21: "EGAC",
    0x22: "VGAC",
    0x23: "VLFB",
    0x30: "PICA_S3",
    0x31: "MIPS_G364",
    0x33: "SGI",
    0x40: "TGAC",
    0x50: "SUN",
    0x51: "SUNPCI",
    0x60: "PMAC",
    0x70: "EFI",
}

# -- LINUX_EFI_MOK_VARIABLE_TABLE --------------------------------------------
EFI_MOKVAR_TABLE_ENTRY = cs.Struct("name" / cs.Bytes(256), "data_size" / cs.Int64ul)  # then data
EFI_MOKVAR_TABLE_ENTRY_HEADER_SIZE = 264
assert EFI_MOKVAR_TABLE_ENTRY.sizeof() == EFI_MOKVAR_TABLE_ENTRY_HEADER_SIZE

# -- LINUX_EFI_COCO_SECRET_AREA ----------------------------------------------
LINUX_EFI_COCO_SECRET_AREA = cs.Struct("base_pa" / cs.Int64ul, "size" / cs.Int64ul)
assert LINUX_EFI_COCO_SECRET_AREA.sizeof() == 16
EFI_SECRET_TABLE_HEADER_GUID = "1e74f542-71dd-4d66-963e-ef4287ff173b"
EFI_SECRET_TABLE_HEADER = cs.Struct("guid" / EFI_GUID, "len" / cs.Int32ul)
EFI_SECRET_TABLE_ENTRY = cs.Struct("guid" / EFI_GUID, "len" / cs.Int32ul)  # then data
assert EFI_SECRET_TABLE_HEADER.sizeof() == 20
