"""The ``setup_data`` list: node header, ``setup_indirect`` and every SETUP_* payload.

Sources: torvalds/linux arch/x86/include/uapi/asm/setup_data.h@v6.12.117 and
@512a93a93dbe (mainline, SETUP_KEXEC_KHO / ``kho_data``): ``setup_data``,
``setup_indirect``, ``jailhouse_setup_data``, ``ima_setup_data``;
arch/x86/include/asm/setup_data.h@v6.12.117 (``pci_setup_rom``,
``efi_setup_data``); arch/x86/include/asm/sev.h (``cc_setup_data``);
drivers/firmware/efi/apple-properties.c@v6.12.117 (``properties_header``,
``dev_header``); the devicetree specification / scripts/dtc/libfdt/fdt.h
(``fdt_header``, big-endian); horms/kexec-tools
kexec/arch/i386/x86-linux-setup.c@b071fc08 (its ``efi_setup_data``).

Payload schemas start at the node's ``data`` (offset 0x10 of the node), except
:data:`PCI_SETUP_ROM`, which the kernel declares with the node header as its
first member and which is therefore parsed from the node start.
"""

from __future__ import annotations

import construct as cs

from efitables.schemas.boot_params import BOOT_E820_ENTRY
from efitables.schemas.common import fast_struct, field_offset, struct_format
from efitables.schemas.payloads.fdt import FDT_HEADER, FDT_HEADER_SIZE, FDT_MAGIC  # noqa: F401 (re-exported)

SETUP_NONE = 0
SETUP_E820_EXT = 1
SETUP_DTB = 2
SETUP_PCI = 3
SETUP_EFI = 4
SETUP_APPLE_PROPERTIES = 5
SETUP_JAILHOUSE = 6
SETUP_CC_BLOB = 7
SETUP_IMA = 8
SETUP_RNG_SEED = 9
SETUP_KEXEC_KHO = 10
SETUP_ENUM_MAX = SETUP_KEXEC_KHO  # mainline @512a93a93dbe; 9 (SETUP_RNG_SEED) in v6.1/v6.12
SETUP_INDIRECT = 1 << 31
SETUP_TYPE_MAX = SETUP_ENUM_MAX | SETUP_INDIRECT

SETUP_TYPES = {
    SETUP_NONE: "SETUP_NONE",
    SETUP_E820_EXT: "SETUP_E820_EXT",
    SETUP_DTB: "SETUP_DTB",
    SETUP_PCI: "SETUP_PCI",
    SETUP_EFI: "SETUP_EFI",
    SETUP_APPLE_PROPERTIES: "SETUP_APPLE_PROPERTIES",
    SETUP_JAILHOUSE: "SETUP_JAILHOUSE",
    SETUP_CC_BLOB: "SETUP_CC_BLOB",
    SETUP_IMA: "SETUP_IMA",
    SETUP_RNG_SEED: "SETUP_RNG_SEED",
    SETUP_KEXEC_KHO: "SETUP_KEXEC_KHO",
    SETUP_INDIRECT: "SETUP_INDIRECT",
}


def setup_type_name(t: int) -> str:
    if t in SETUP_TYPES:
        return SETUP_TYPES[t]
    if t & SETUP_INDIRECT and (t & ~SETUP_INDIRECT) in SETUP_TYPES:
        return f"SETUP_INDIRECT|{SETUP_TYPES[t & ~SETUP_INDIRECT]}"
    return f"UNKNOWN({t:#x})"


SETUP_DATA_HEADER_SIZE = 16
SETUP_DATA = cs.Struct(
    "next" / cs.Int64ul,
    "type" / cs.Int32ul,
    "len" / cs.Int32ul,
)
assert SETUP_DATA.sizeof() == SETUP_DATA_HEADER_SIZE
#: (next, type, len): the node header fast path.
SETUP_DATA_STRUCT = struct_format(SETUP_DATA)
SETUP_DATA_FAST = fast_struct(SETUP_DATA)
#: Where ``data[]`` (the payload) starts in a node.
SETUP_DATA_DATA_OFF = SETUP_DATA_HEADER_SIZE

SETUP_INDIRECT_SIZE = 24
#: ``struct setup_indirect`` (SETUP_INDIRECT itself is the type value 1 << 31).
STRUCT_SETUP_INDIRECT = cs.Struct(
    "type" / cs.Int32ul,
    "reserved" / cs.Int32ul,
    "len" / cs.Int64ul,
    "addr" / cs.Int64ul,
)
assert STRUCT_SETUP_INDIRECT.sizeof() == SETUP_INDIRECT_SIZE
#: (type, reserved, len, addr): ``struct setup_indirect`` fast path.
SETUP_INDIRECT_STRUCT = struct_format(STRUCT_SETUP_INDIRECT)
SETUP_INDIRECT_FAST = fast_struct(STRUCT_SETUP_INDIRECT)

#: SETUP_E820_EXT: ``len / 20`` packed ``boot_e820_entry`` records.
E820_EXT_ENTRY = BOOT_E820_ENTRY

# SETUP_DTB: the flattened device tree header, declared once in schemas/payloads/fdt.py

PCI_ROM_SIGNATURE = 0xAA55  # bytes 55 AA at the start of an option ROM
PCI_SETUP_ROM_SIZE = 0x40
#: ``struct pci_setup_rom`` after its setup_data header (offsets relative to ``data``).
PCI_SETUP_ROM_DATA = cs.Struct(
    "vendor" / cs.Int16ul,
    "devid" / cs.Int16ul,
    "_pad" / cs.Default(cs.Bytes(4), bytes(4)),  # natural-alignment padding
    "pcilen" / cs.Int64ul,
    "segment" / cs.Int64ul,
    "bus" / cs.Int64ul,
    "device" / cs.Int64ul,
    "function" / cs.Int64ul,
)
#: ``struct pci_setup_rom`` as the kernel declares it: the node header is its first member.
PCI_SETUP_ROM = cs.Struct("data" / SETUP_DATA, *PCI_SETUP_ROM_DATA.subcons)
assert PCI_SETUP_ROM.sizeof() == PCI_SETUP_ROM_SIZE

EFI_SETUP_DATA_SIZE = 0x60
EFI_SETUP_DATA = cs.Struct(
    "fw_vendor" / cs.Int64ul,
    "__unused" / cs.Int64ul,  # kexec-tools (x86-linux-setup.c): "runtime"; the kernel writes 0
    "tables" / cs.Int64ul,
    "smbios" / cs.Int64ul,
    "reserved" / cs.Array(8, cs.Int64ul),
)
assert EFI_SETUP_DATA.sizeof() == EFI_SETUP_DATA_SIZE
#: ``tables`` (the configuration table array's physical address), relative to ``data``.
EFI_SETUP_DATA_TABLES_OFF = field_offset(EFI_SETUP_DATA, "tables")

APPLE_PROPERTIES_HEADER = cs.Struct(
    "len" / cs.Int32ul,  # must equal setup_data.len
    "version" / cs.Int32ul,  # must be 1
    "dev_count" / cs.Int32ul,
)
APPLE_DEV_HEADER = cs.Struct("len" / cs.Int32ul, "prop_count" / cs.Int32ul)
EFI_DEV_PATH_NODE = cs.Struct("type" / cs.Int8ul, "sub_type" / cs.Int8ul, "length" / cs.Int16ul)
#: Fast paths of the Apple properties walk: (len, version, dev_count), (len, prop_count), (type, sub_type, length).
APPLE_PROPERTIES_HEADER_FAST = fast_struct(APPLE_PROPERTIES_HEADER)
APPLE_DEV_HEADER_FAST = fast_struct(APPLE_DEV_HEADER)
EFI_DEV_PATH_NODE_FAST = fast_struct(EFI_DEV_PATH_NODE)

JAILHOUSE_SETUP_REQUIRED_VERSION = 1
_JAILHOUSE_HDR = cs.Struct("version" / cs.Int16ul, "compatible_version" / cs.Int16ul)
_JAILHOUSE_V1 = cs.Struct(
    "pm_timer_address" / cs.Int16ul,
    "num_cpus" / cs.Int16ul,
    "pci_mmconfig_base" / cs.Int64ul,
    "tsc_khz" / cs.Int32ul,
    "apic_khz" / cs.Int32ul,
    "standard_ioapic" / cs.Int8ul,
    "cpu_ids" / cs.Bytes(255),
)
JAILHOUSE_SETUP_DATA_V1 = cs.Struct("hdr" / _JAILHOUSE_HDR, "v1" / _JAILHOUSE_V1)
JAILHOUSE_SETUP_DATA = cs.Struct("hdr" / _JAILHOUSE_HDR, "v1" / _JAILHOUSE_V1, "v2" / cs.Struct("flags" / cs.Int32ul))
assert JAILHOUSE_SETUP_DATA_V1.sizeof() == 280 and JAILHOUSE_SETUP_DATA.sizeof() == 284

#: ``struct cc_setup_data`` minus its setup_data header.
CC_SETUP_DATA = cs.Struct("cc_blob_address" / cs.Int32ul)
CC_SETUP_DATA_FAST = fast_struct(CC_SETUP_DATA)

IMA_SETUP_DATA = cs.Struct("addr" / cs.Int64ul, "size" / cs.Int64ul)
assert IMA_SETUP_DATA.sizeof() == 16

KHO_DATA = cs.Struct(
    "fdt_addr" / cs.Int64ul,
    "fdt_size" / cs.Int64ul,
    "scratch_addr" / cs.Int64ul,
    "scratch_size" / cs.Int64ul,
)
assert KHO_DATA.sizeof() == 32

#: The fixed-layout payload schema of each plain type (parsed from ``data``).
PAYLOAD_SCHEMAS: dict[int, cs.Construct] = {
    SETUP_DTB: FDT_HEADER,
    SETUP_PCI: PCI_SETUP_ROM_DATA,
    SETUP_EFI: EFI_SETUP_DATA,
    SETUP_APPLE_PROPERTIES: APPLE_PROPERTIES_HEADER,
    SETUP_JAILHOUSE: JAILHOUSE_SETUP_DATA,
    SETUP_CC_BLOB: CC_SETUP_DATA,
    SETUP_IMA: IMA_SETUP_DATA,
    SETUP_KEXEC_KHO: KHO_DATA,
}


def build_node(next_: int, type_: int, payload: bytes, length: int | None = None) -> bytes:
    """Header + payload (fixtures); ``length`` overrides ``len`` for hostile cases."""
    n = len(payload) if length is None else length
    return SETUP_DATA.build({"next": next_, "type": type_, "len": n}) + payload
