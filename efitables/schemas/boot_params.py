"""``struct boot_params`` (the "zero page"), ``struct setup_header`` and their members.

Sources: torvalds/linux arch/x86/include/uapi/asm/bootparam.h@v6.12.117
(``boot_params``, ``setup_header``, ``boot_e820_entry``, ``sys_desc_table``,
``olpc_ofw_header``; ``cc_blob_address`` at 0x13C since v5.19),
include/uapi/linux/screen_info.h, include/uapi/linux/apm_bios.h,
arch/x86/include/uapi/asm/ist.h, include/uapi/video/edid.h,
include/uapi/linux/edd.h (``edd_info``), Documentation/arch/x86/boot.rst and
zero-page.rst (all @v6.12.117); arch/x86/include/asm/e820/types.h@v6.12.117
(E820 type names); arch/x86/include/uapi/asm/bootparam.h@cd0d9d92c8bb (mainline,
``XLF_MEM_ENCRYPTION``). Every struct here is packed; all little-endian.

The offsets the cheap (``struct``) checks use (``*_OFFSET``) and their ``*_FAST``
``struct.Struct`` objects are derived from :data:`BOOT_PARAMS` below; the table
:data:`OFFSETS` holds the kernel's documented values (zero-page.rst), which the
tests hold the schema to.

``efi_info`` is :data:`efitables.schemas.efi_info.EFI_INFO` (not redefined).
Padding is declared with the kernel's names (``_pad2`` ...) and parsed as bytes,
because loaders and older kernels leave data in it (``_pad4`` held
``cc_blob_address`` before v5.19).
"""

from __future__ import annotations

import construct as cs

from efitables.schemas.common import fast_struct, field_offset, field_size, struct_format
from efitables.schemas.efi_info import BOOT_PARAMS_EFI_INFO_OFFSET, EFI_INFO

BOOT_PARAMS_SIZE = 0x1000
SETUP_HEADER_SIZE = 0x7B
E820_MAX_ENTRIES_ZEROPAGE = 128
BOOT_E820_ENTRY_SIZE = 20
EDDMAXNR = 6
EDD_MBR_SIG_MAX = 16

BOOT_FLAG = 0xAA55
HDRS_MAGIC = 0x53726448  # "HdrS"
#: Its two u16 halves ("Hd" at +0, "rS" at +2), for vector compares at 2-byte granularity.
HDRS_MAGIC_LO16 = HDRS_MAGIC & 0xFFFF
HDRS_MAGIC_HI16 = HDRS_MAGIC >> 16
#: Boot protocol versions with a setup header: 2.00 (``HdrS`` appeared) .. 2.ff (boot.rst).
SETUP_HEADER_VERSION_MIN = 0x0200
SETUP_HEADER_VERSION_MAX = 0x02FF
#: COMMAND_LINE_SIZE on x86 (arch/x86/include/asm/setup.h); cmdline_size is 2047.
COMMAND_LINE_SIZE = 2048
OLPC_OFW_MAGIC = 0x2057464F  # "OFW "

LOADFLAGS = {"LOADED_HIGH": 0x01, "KASLR_FLAG": 0x02, "QUIET_FLAG": 0x20, "KEEP_SEGMENTS": 0x40, "CAN_USE_HEAP": 0x80}
XLOADFLAGS = {
    "XLF_KERNEL_64": 0x01,
    "XLF_CAN_BE_LOADED_ABOVE_4G": 0x02,
    "XLF_EFI_HANDOVER_32": 0x04,
    "XLF_EFI_HANDOVER_64": 0x08,
    "XLF_EFI_KEXEC": 0x10,
    "XLF_5LEVEL": 0x20,
    "XLF_5LEVEL_ENABLED": 0x40,
    "XLF_MEM_ENCRYPTION": 0x80,  # mainline only (bootparam.h@cd0d9d92c8bb), not v6.12
}

#: Boot loader IDs of ``type_of_loader`` (Documentation/arch/x86/boot.rst).
LOADER_IDS = {
    0x0: "LILO",
    0x1: "Loadlin",
    0x2: "bootsect-loader",
    0x3: "Syslinux",
    0x4: "Etherboot/gPXE/iPXE",
    0x5: "ELILO",
    0x7: "GRUB",
    0x8: "U-Boot",
    0x9: "Xen",
    0xA: "Gujin",
    0xB: "Qemu",
    0xC: "Arcturus Networks uCbootloader",
    0xD: "kexec-tools",
    0xE: "Extended",
    0xF: "Special",
    0x10: "Reserved",
    0x11: "Minimal Linux Bootloader",
    0x12: "OVMF UEFI virtualization stack",
    0x13: "barebox",
}

SECURE_BOOT = {0: "unset", 1: "unknown", 2: "disabled", 3: "enabled"}

#: E820 types (arch/x86/include/asm/e820/types.h@v6.12.117; 6 has no Linux name: it is the
#: ACPI specification's AddressRangeDisabled (System Address Map Interfaces), which Xen also uses).
E820_TYPES = {
    1: "E820_TYPE_RAM",
    2: "E820_TYPE_RESERVED",
    3: "E820_TYPE_ACPI",
    4: "E820_TYPE_NVS",
    5: "E820_TYPE_UNUSABLE",
    6: "E820_TYPE_DISABLED",  # Xen/ACPI "disabled"; no Linux name
    7: "E820_TYPE_PMEM",
    12: "E820_TYPE_PRAM",
    128: "E820_TYPE_RESERVED_KERN",
    0xEFFFFFFF: "E820_TYPE_SOFT_RESERVED",
}
E820_TYPE_RAM = 1
E820_TYPE_RESERVED = 2
E820_TYPE_ACPI = 3
E820_TYPE_NVS = 4
E820_TYPE_RESERVED_KERN = 128


def e820_type_name(t: int) -> str:
    return E820_TYPES.get(t, f"UNKNOWN({t:#x})")


def loader_name(type_of_loader: int, ext_loader_type: int = 0) -> str:
    """``0xTV`` -> loader name and version nibble; 0xE_ uses ext_loader_type + 0x10."""
    if type_of_loader == 0xFF:
        return "undefined (0xff)"
    tid = type_of_loader >> 4
    if tid == 0xE:
        tid = ext_loader_type + 0x10
    name = LOADER_IDS.get(tid, f"unknown loader {tid:#x}")
    return f"{name} (version {type_of_loader & 0xF})"


def flag_names(value: int, table: dict[str, int]) -> list[str]:
    names = [n for n, bit in table.items() if value & bit]
    rest = value & ~sum(table.values())
    if rest:
        names.append(f"unknown({rest:#x})")
    return names


def _pad(n: int) -> cs.Construct:
    return cs.Default(cs.Bytes(n), bytes(n))


SCREEN_INFO = cs.Struct(
    "orig_x" / cs.Int8ul,
    "orig_y" / cs.Int8ul,
    "ext_mem_k" / cs.Int16ul,
    "orig_video_page" / cs.Int16ul,
    "orig_video_mode" / cs.Int8ul,
    "orig_video_cols" / cs.Int8ul,
    "flags" / cs.Int8ul,
    "unused2" / cs.Int8ul,
    "orig_video_ega_bx" / cs.Int16ul,
    "unused3" / cs.Int16ul,
    "orig_video_lines" / cs.Int8ul,
    "orig_video_isVGA" / cs.Int8ul,
    "orig_video_points" / cs.Int16ul,
    "lfb_width" / cs.Int16ul,
    "lfb_height" / cs.Int16ul,
    "lfb_depth" / cs.Int16ul,
    "lfb_base" / cs.Int32ul,
    "lfb_size" / cs.Int32ul,
    "cl_magic" / cs.Int16ul,
    "cl_offset" / cs.Int16ul,
    "lfb_linelength" / cs.Int16ul,
    "red_size" / cs.Int8ul,
    "red_pos" / cs.Int8ul,
    "green_size" / cs.Int8ul,
    "green_pos" / cs.Int8ul,
    "blue_size" / cs.Int8ul,
    "blue_pos" / cs.Int8ul,
    "rsvd_size" / cs.Int8ul,
    "rsvd_pos" / cs.Int8ul,
    "vesapm_seg" / cs.Int16ul,
    "vesapm_off" / cs.Int16ul,
    "pages" / cs.Int16ul,
    "vesa_attributes" / cs.Int16ul,
    "capabilities" / cs.Int32ul,
    "ext_lfb_base" / cs.Int32ul,
    "_reserved" / _pad(2),
)
assert SCREEN_INFO.sizeof() == 0x40

APM_BIOS_INFO = cs.Struct(
    "version" / cs.Int16ul,
    "cseg" / cs.Int16ul,
    "offset" / cs.Int32ul,
    "cseg_16" / cs.Int16ul,
    "dseg" / cs.Int16ul,
    "flags" / cs.Int16ul,
    "cseg_len" / cs.Int16ul,
    "cseg_16_len" / cs.Int16ul,
    "dseg_len" / cs.Int16ul,
)
assert APM_BIOS_INFO.sizeof() == 0x14

IST_INFO = cs.Struct(
    "signature" / cs.Int32ul,
    "command" / cs.Int32ul,
    "event" / cs.Int32ul,
    "perf_level" / cs.Int32ul,
)

SYS_DESC_TABLE = cs.Struct("length" / cs.Int16ul, "table" / _pad(14))

OLPC_OFW_HEADER = cs.Struct(
    "ofw_magic" / cs.Int32ul,
    "ofw_version" / cs.Int32ul,
    "cif_handler" / cs.Int32ul,
    "irq_desc_table" / cs.Int32ul,
)

SETUP_HEADER = cs.Struct(
    "setup_sects" / cs.Int8ul,
    "root_flags" / cs.Int16ul,
    "syssize" / cs.Int32ul,
    "ram_size" / cs.Int16ul,
    "vid_mode" / cs.Int16ul,
    "root_dev" / cs.Int16ul,
    "boot_flag" / cs.Int16ul,
    "jump" / cs.Int16ul,
    "header" / cs.Int32ul,
    "version" / cs.Int16ul,
    "realmode_swtch" / cs.Int32ul,
    "start_sys_seg" / cs.Int16ul,
    "kernel_version" / cs.Int16ul,
    "type_of_loader" / cs.Int8ul,
    "loadflags" / cs.Int8ul,
    "setup_move_size" / cs.Int16ul,
    "code32_start" / cs.Int32ul,
    "ramdisk_image" / cs.Int32ul,
    "ramdisk_size" / cs.Int32ul,
    "bootsect_kludge" / cs.Int32ul,
    "heap_end_ptr" / cs.Int16ul,
    "ext_loader_ver" / cs.Int8ul,
    "ext_loader_type" / cs.Int8ul,
    "cmd_line_ptr" / cs.Int32ul,
    "initrd_addr_max" / cs.Int32ul,
    "kernel_alignment" / cs.Int32ul,
    "relocatable_kernel" / cs.Int8ul,
    "min_alignment" / cs.Int8ul,
    "xloadflags" / cs.Int16ul,
    "cmdline_size" / cs.Int32ul,
    "hardware_subarch" / cs.Int32ul,
    "hardware_subarch_data" / cs.Int64ul,
    "payload_offset" / cs.Int32ul,
    "payload_length" / cs.Int32ul,
    "setup_data" / cs.Int64ul,
    "pref_address" / cs.Int64ul,
    "init_size" / cs.Int32ul,
    "handover_offset" / cs.Int32ul,
    "kernel_info_offset" / cs.Int32ul,
)
assert SETUP_HEADER.sizeof() == SETUP_HEADER_SIZE

#: Packed, 20 bytes: entries in the zero page are not 8-byte aligned.
BOOT_E820_ENTRY = cs.Struct(
    "addr" / cs.Int64ul,
    "size" / cs.Int64ul,
    "type" / cs.Int32ul,
)
assert BOOT_E820_ENTRY.sizeof() == BOOT_E820_ENTRY_SIZE
#: The fast path for bulk decoding: (addr, size, type) from the schema's format.
BOOT_E820_ENTRY_STRUCT = struct_format(BOOT_E820_ENTRY)
BOOT_E820_ENTRY_FAST = fast_struct(BOOT_E820_ENTRY)

EDD_INFO = cs.Struct(
    "device" / cs.Int8ul,
    "version" / cs.Int8ul,
    "interface_support" / cs.Int16ul,
    "legacy_max_cylinder" / cs.Int16ul,
    "legacy_max_head" / cs.Int8ul,
    "legacy_sectors_per_track" / cs.Int8ul,
    "params" / _pad(74),  # struct edd_device_params (opaque here)
)
assert EDD_INFO.sizeof() == 82

BOOT_PARAMS = cs.Struct(
    "screen_info" / SCREEN_INFO,  # 0x000
    "apm_bios_info" / APM_BIOS_INFO,  # 0x040
    "_pad2" / _pad(4),  # 0x054
    "tboot_addr" / cs.Int64ul,  # 0x058
    "ist_info" / IST_INFO,  # 0x060
    "acpi_rsdp_addr" / cs.Int64ul,  # 0x070
    "_pad3" / _pad(8),  # 0x078
    "hd0_info" / _pad(16),  # 0x080 obsolete
    "hd1_info" / _pad(16),  # 0x090 obsolete
    "sys_desc_table" / SYS_DESC_TABLE,  # 0x0a0 obsolete
    "olpc_ofw_header" / OLPC_OFW_HEADER,  # 0x0b0
    "ext_ramdisk_image" / cs.Int32ul,  # 0x0c0
    "ext_ramdisk_size" / cs.Int32ul,  # 0x0c4
    "ext_cmd_line_ptr" / cs.Int32ul,  # 0x0c8
    "_pad4" / _pad(112),  # 0x0cc (116 bytes before v5.19)
    "cc_blob_address" / cs.Int32ul,  # 0x13c
    "edid_info" / _pad(128),  # 0x140 struct edid_info (opaque EDID block)
    "efi_info" / EFI_INFO,  # 0x1c0
    "alt_mem_k" / cs.Int32ul,  # 0x1e0
    "scratch" / cs.Int32ul,  # 0x1e4
    "e820_entries" / cs.Int8ul,  # 0x1e8
    "eddbuf_entries" / cs.Int8ul,  # 0x1e9
    "edd_mbr_sig_buf_entries" / cs.Int8ul,  # 0x1ea
    "kbd_status" / cs.Int8ul,  # 0x1eb
    "secure_boot" / cs.Int8ul,  # 0x1ec
    "_pad5" / _pad(2),  # 0x1ed
    "sentinel" / cs.Int8ul,  # 0x1ef
    "_pad6" / _pad(1),  # 0x1f0
    "hdr" / SETUP_HEADER,  # 0x1f1
    "_pad7" / _pad(0x290 - 0x1F1 - SETUP_HEADER_SIZE),  # 0x26c
    "edd_mbr_sig_buffer" / cs.Array(EDD_MBR_SIG_MAX, cs.Int32ul),  # 0x290
    "e820_table" / cs.Array(E820_MAX_ENTRIES_ZEROPAGE, BOOT_E820_ENTRY),  # 0x2d0
    "_pad8" / _pad(48),  # 0xcd0
    "eddbuf" / cs.Array(EDDMAXNR, EDD_INFO),  # 0xd00
    "_pad9" / _pad(276),  # 0xeec
)
assert BOOT_PARAMS.sizeof() == BOOT_PARAMS_SIZE

# -- offsets and fast paths, derived from BOOT_PARAMS --------------------------------------
SETUP_HEADER_OFFSET = field_offset(BOOT_PARAMS, "hdr")
ACPI_RSDP_ADDR_OFFSET = field_offset(BOOT_PARAMS, "acpi_rsdp_addr")
EXT_CMD_LINE_PTR_OFFSET = field_offset(BOOT_PARAMS, "ext_cmd_line_ptr")
CC_BLOB_ADDRESS_OFFSET = field_offset(BOOT_PARAMS, "cc_blob_address")
EFI_INFO_OFFSET = field_offset(BOOT_PARAMS, "efi_info")
assert EFI_INFO_OFFSET == BOOT_PARAMS_EFI_INFO_OFFSET
EFI_LOADER_SIGNATURE_OFFSET = field_offset(BOOT_PARAMS, "efi_info.efi_loader_signature")
E820_ENTRIES_OFFSET = field_offset(BOOT_PARAMS, "e820_entries")
SENTINEL_OFFSET = field_offset(BOOT_PARAMS, "sentinel")
BOOT_FLAG_OFFSET = field_offset(BOOT_PARAMS, "hdr.boot_flag")
HEADER_MAGIC_OFFSET = field_offset(BOOT_PARAMS, "hdr.header")
VERSION_OFFSET = field_offset(BOOT_PARAMS, "hdr.version")
TYPE_OF_LOADER_OFFSET = field_offset(BOOT_PARAMS, "hdr.type_of_loader")
CMD_LINE_PTR_OFFSET = field_offset(BOOT_PARAMS, "hdr.cmd_line_ptr")
SETUP_DATA_PTR_OFFSET = field_offset(BOOT_PARAMS, "hdr.setup_data")
E820_TABLE_OFFSET = field_offset(BOOT_PARAMS, "e820_table")
assert field_size(BOOT_PARAMS, "hdr") == SETUP_HEADER_SIZE

#: ``hdr.boot_flag`` (u16), at BOOT_FLAG_OFFSET.
BOOT_FLAG_FAST = fast_struct(BOOT_PARAMS, "hdr.boot_flag")
#: ``hdr.header`` and ``hdr.version`` (adjacent), at HEADER_MAGIC_OFFSET.
HEADER_VERSION_FAST = fast_struct(BOOT_PARAMS, "hdr.header", "hdr.version")
#: ``e820_entries`` (u8), ``type_of_loader`` (u8) and ``sentinel`` (u8) are read as ``page[offset]``.
assert field_size(BOOT_PARAMS, "e820_entries") == field_size(BOOT_PARAMS, "hdr.type_of_loader") == 1
assert field_size(BOOT_PARAMS, "sentinel") == 1

#: The kernel's documented offsets (zero-page.rst, bootparam.h comments); the schema is tested against them.
OFFSETS = {
    "acpi_rsdp_addr": 0x070,
    "ext_ramdisk_image": 0x0C0,
    "ext_ramdisk_size": 0x0C4,
    "ext_cmd_line_ptr": 0x0C8,
    "cc_blob_address": 0x13C,
    "efi_info": 0x1C0,
    "e820_entries": 0x1E8,
    "sentinel": 0x1EF,
    "hdr": 0x1F1,
    "hdr.boot_flag": 0x1FE,
    "hdr.header": 0x202,
    "hdr.version": 0x206,
    "hdr.type_of_loader": 0x210,
    "hdr.cmd_line_ptr": 0x228,
    "hdr.cmdline_size": 0x238,
    "hdr.setup_data": 0x250,
    "e820_table": 0x2D0,
    "eddbuf": 0xD00,
}
