"""The Xen PVH start-of-day structures: ``hvm_start_info``, ``hvm_modlist_entry``, ``hvm_memmap_table_entry``.

Source: torvalds/linux include/xen/interface/hvm/start_info.h@v6.1 (unchanged through
v6.12; Xen's xen/include/public/arch-x86/hvm/start_info.h is the canonical copy).
Everything is little-endian with natural alignment and no padding the header does
not name (``reserved``). A loader (Xen, QEMU's pvh.bin option ROM, Firecracker,
cloud-hypervisor) passes the structure's physical address in ``%ebx`` to the ELF
entry point named by the kernel's ``XEN_ELFNOTE_PHYS32_ENTRY`` note; "nothing will
be loaded at physical address 0, so a 0 value in any of the address fields should be
treated as not present".

Version 0 ends after ``rsdp_paddr`` (40 bytes); version 1 adds ``memmap_paddr``,
``memmap_entries`` and a ``reserved`` u32 ("must be zero") (56 bytes). "New versions
are guaranteed to be backwards-compatible."

The running kernel keeps a copy: ``struct hvm_start_info pvh_start_info`` and
``const unsigned int pvh_start_info_sz`` (torvalds/linux
arch/x86/platform/pvh/enlighten.c@v6.1, ``__initdata`` / ``__initconst``: freed, and
on x86 poisoned with 0xcc, after boot), filled by ``pvh_start_xen``
(arch/x86/platform/pvh/head.S@v6.1: ``rep movsl`` of ``pvh_start_info_sz`` bytes
from ``%ebx``).
"""

from __future__ import annotations

import construct as cs

from efitables.schemas.common import fast_struct, struct_format
from efitables.schemas.payloads.acpi import RSDP_SIGNATURE

#: XEN_HVM_START_MAGIC_VALUE: "xEn3" with the 0x80 bit of the "E" set.
XEN_HVM_START_MAGIC_VALUE = 0x336EC578
#: Its four bytes as they sit in memory (little-endian), for byte searches.
XEN_HVM_START_MAGIC_BYTES = XEN_HVM_START_MAGIC_VALUE.to_bytes(4, "little")
#: The newest version start_info.h describes (1: the memory map fields).
HVM_START_INFO_VERSION_MAX = 1
#: The first version with ``memmap_paddr`` / ``memmap_entries``.
HVM_START_INFO_MEMMAP_VERSION = 1

#: SIF_* flags (include/xen/interface/xen.h@v6.1, ``struct start_info``'s flags, shared with PVH).
SIF_FLAGS = {
    "SIF_PRIVILEGED": 1 << 0,
    "SIF_INITDOMAIN": 1 << 1,
    "SIF_MULTIBOOT_MOD": 1 << 2,
    "SIF_MOD_START_PFN": 1 << 3,
    "SIF_VIRT_P2M_4TOOLS": 1 << 4,
}

XEN_HVM_MEMMAP_TYPE_RAM = 1
XEN_HVM_MEMMAP_TYPE_RESERVED = 2
XEN_HVM_MEMMAP_TYPE_ACPI = 3
XEN_HVM_MEMMAP_TYPE_NVS = 4
XEN_HVM_MEMMAP_TYPE_UNUSABLE = 5
XEN_HVM_MEMMAP_TYPE_DISABLED = 6
XEN_HVM_MEMMAP_TYPE_PMEM = 7
#: The memory-map types start_info.h defines ("match the Address Range Types" of ACPI 6.2 section 15).
XEN_HVM_MEMMAP_TYPES = {
    XEN_HVM_MEMMAP_TYPE_RAM: "RAM",
    XEN_HVM_MEMMAP_TYPE_RESERVED: "RESERVED",
    XEN_HVM_MEMMAP_TYPE_ACPI: "ACPI",
    XEN_HVM_MEMMAP_TYPE_NVS: "NVS",
    XEN_HVM_MEMMAP_TYPE_UNUSABLE: "UNUSABLE",
    XEN_HVM_MEMMAP_TYPE_DISABLED: "DISABLED",
    XEN_HVM_MEMMAP_TYPE_PMEM: "PMEM",
}


def memmap_type_name(t: int) -> str:
    name = XEN_HVM_MEMMAP_TYPES.get(t)
    return f"XEN_HVM_MEMMAP_TYPE_{name}" if name else f"UNKNOWN({t:#x})"


#: Version 0: up to and including ``rsdp_paddr``.
HVM_START_INFO_V0 = cs.Struct(
    "magic" / cs.Int32ul,
    "version" / cs.Int32ul,
    "flags" / cs.Int32ul,
    "nr_modules" / cs.Int32ul,
    "modlist_paddr" / cs.Int64ul,
    "cmdline_paddr" / cs.Int64ul,
    "rsdp_paddr" / cs.Int64ul,
)
#: ``struct hvm_start_info`` (version 1 and newer).
HVM_START_INFO = cs.Struct(
    *HVM_START_INFO_V0.subcons,
    "memmap_paddr" / cs.Int64ul,
    "memmap_entries" / cs.Int32ul,
    "reserved" / cs.Int32ul,
)
HVM_START_INFO_V0_SIZE = 40
HVM_START_INFO_SIZE = 56
assert HVM_START_INFO_V0.sizeof() == HVM_START_INFO_V0_SIZE
assert HVM_START_INFO.sizeof() == HVM_START_INFO_SIZE
#: Every field of version 1, in order: the fast path of a candidate check.
HVM_START_INFO_STRUCT = struct_format(HVM_START_INFO)
HVM_START_INFO_FAST = fast_struct(HVM_START_INFO)
#: Every field of version 0 (what a version 0 structure holds).
HVM_START_INFO_V0_FAST = fast_struct(HVM_START_INFO_V0)
#: (magic, version): the first eight bytes a sweep compares.
HVM_START_INFO_MAGIC_VERSION_FAST = fast_struct(HVM_START_INFO, "magic", "version")

#: ``struct hvm_modlist_entry``: one module (the first is the initrd for Linux).
HVM_MODLIST_ENTRY = cs.Struct(
    "paddr" / cs.Int64ul,
    "size" / cs.Int64ul,
    "cmdline_paddr" / cs.Int64ul,
    "reserved" / cs.Int64ul,
)
HVM_MODLIST_ENTRY_SIZE = 32
assert HVM_MODLIST_ENTRY.sizeof() == HVM_MODLIST_ENTRY_SIZE
HVM_MODLIST_ENTRY_STRUCT = struct_format(HVM_MODLIST_ENTRY)
HVM_MODLIST_ENTRY_FAST = fast_struct(HVM_MODLIST_ENTRY)

#: ``struct hvm_memmap_table_entry``: one range of the memory map.
HVM_MEMMAP_TABLE_ENTRY = cs.Struct(
    "addr" / cs.Int64ul,
    "size" / cs.Int64ul,
    "type" / cs.Int32ul,
    "reserved" / cs.Int32ul,
)
HVM_MEMMAP_TABLE_ENTRY_SIZE = 24
assert HVM_MEMMAP_TABLE_ENTRY.sizeof() == HVM_MEMMAP_TABLE_ENTRY_SIZE
HVM_MEMMAP_TABLE_ENTRY_STRUCT = struct_format(HVM_MEMMAP_TABLE_ENTRY)
HVM_MEMMAP_TABLE_ENTRY_FAST = fast_struct(HVM_MEMMAP_TABLE_ENTRY)

#: ``pvh_start_info_sz`` (a u32 in the kernel image).
PVH_START_INFO_SZ = cs.Int32ul
PVH_START_INFO_SZ_SIZE = 4
#: POISON_FREE_INITMEM (torvalds/linux include/linux/poison.h@v6.1): what x86's free_init_pages
#: fills released init memory with, ``pvh_start_info`` included.
POISON_FREE_INITMEM = 0xCC
#: What ``rsdp_paddr`` must point at (ACPI 6.5 section 5.2.5.3; the payload schema's constant).
RSDP_SIGNATURE_BYTES = RSDP_SIGNATURE

#: What Linux's ``init_pvh_bootparams`` (arch/x86/platform/pvh/enlighten.c@v6.1) writes into the
#: zero page it builds from the start info: boot protocol 2.12, and type_of_loader 0x90 on Xen
#: (loader ID 9) or 0xb0 elsewhere (0xB: QEMU); after the memory map it appends the ISA range
#: (ISA_START_ADDRESS 0xa0000 .. ISA_END_ADDRESS 0x100000, include/linux/ioport.h / asm/e820/types.h)
#: as E820_TYPE_RESERVED when fewer than E820_MAX_ENTRIES_ZEROPAGE - 1 entries were copied.
PVH_BOOT_PROTOCOL = 0x020C
PVH_LOADER_XEN = 0x90
PVH_LOADER_OTHER = 0xB0
PVH_ISA_START = 0xA0000
PVH_ISA_END = 0x100000
