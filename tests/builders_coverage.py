"""Fixtures for the identity-map coverage tests, built with the project's builders and schemas.

:func:`kexec_machine` is the known failure (kernels before upstream commit
5760929f6545 "x86/kexec: Add EFI config table identity mapping for kexec
kernel", v6.12-rc1, whose ``init_pgtable`` does not map the array): the EFI
configuration table array sits in reserved memory (EfiRuntimeServicesData,
E820 type 2) more than 2 MiB away from the system table and from any RAM, so
only a kernel that maps the array on purpose (v6.12) or a 1 GiB page around a
neighbour (old gbpage rule) reaches it.
"""

from __future__ import annotations

import struct

from dumps.builder import Image, config_tables, memory_map, system_table, ucs2, zero_page
from efitables.analysis.coverage import collect
from efitables.coverage.models import Model, kexec_rules, parse_model
from efitables.coverage.ptbuilder import PageTableBuilder
from efitables.dump import Dump
from efitables.memory.base import BytesMemory
from efitables.schemas.efi_memmap import EFI_MEMORY_TYPE
from efitables.schemas.setup_data import (
    EFI_SETUP_DATA,
    SETUP_EFI,
    SETUP_INDIRECT,
    STRUCT_SETUP_INDIRECT,
    build_node,
)

BOOT_PARAMS = 0x13000
MEMMAP = 0x14000
CMDLINE = 0x15000
SETUP0 = 0x16000
SETUP1 = 0x16100
SYSTAB = 0x7E0018
VENDOR = 0x7E0300
CFG_FAR = 0xA00100  # > 2 MiB from SYSTAB, in its own reserved region
CFG_NEAR = 0x7E0100  # same page as the system table (what OVMF does)
INDIRECT_TARGET = 0x40000000  # 1 GiB: in no memory-map range
PT_BASE = 0x4000000  # page tables of the walk fixtures
PT_REGION = 0x100000
CMDLINE_TEXT = b"console=ttyS0 root=/dev/vda\0"

RT = 1 << 63
WB = 0x8
T = EFI_MEMORY_TYPE

E820 = [
    (0x0, 0x9F000, 1),
    (0x100000, 0x6E0000, 1),
    (0x7E0000, 0x20000, 2),
    (0xA00000, 0x10000, 2),
    (0x1000000, 0x3000000, 1),
]

CONFIG_GUIDS = [
    "8868e871-e4f1-11d3-bc22-0080c73c8881",  # ACPI 2.0
    "7739f24c-93d7-11d4-9a3a-0090273fc14d",  # HOB list
]


def _descs() -> list[dict]:
    return [
        dict(Type=T["EFI_CONVENTIONAL_MEMORY"], PhysicalStart=0x0, NumberOfPages=0x9F, Attribute=WB),
        dict(Type=T["EFI_LOADER_DATA"], PhysicalStart=0x100000, NumberOfPages=0x6E0, Attribute=WB),
        dict(
            Type=T["EFI_RUNTIME_SERVICES_DATA"],
            PhysicalStart=0x7E0000,
            NumberOfPages=0x20,
            Attribute=RT | WB,
        ),
        dict(
            Type=T["EFI_RUNTIME_SERVICES_DATA"],
            PhysicalStart=0xA00000,
            NumberOfPages=0x10,
            Attribute=RT | WB,
        ),
        dict(
            Type=T["EFI_CONVENTIONAL_MEMORY"],
            PhysicalStart=0x1000000,
            NumberOfPages=0x3000,
            Attribute=WB,
        ),
    ]


def kexec_machine(
    *,
    cfg: int = CFG_FAR,
    cfg_pointer: int | None = None,
    stale_cfg: int | None = None,
    setup: bool = False,
    page_table: PageTableBuilder | None = None,
) -> Image:
    """An EFI machine dump; ``setup`` adds a SETUP_EFI and a SETUP_INDIRECT node.

    ``cfg_pointer`` is what the System Table stores (a virtual address after
    SetVirtualAddressMap); ``stale_cfg`` places an old copy of the array there.
    """
    img = Image()
    img.add_region(0, 0x800000)
    img.add_region(0xA00000, 0x10000)
    mm = memory_map(_descs())
    img.put(
        SYSTAB,
        system_table(
            64,
            vendor=VENDOR,
            revision=0x20046,
            fw_revision=0x10000,
            runtime=0,
            nr_tables=len(CONFIG_GUIDS),
            tables=cfg if cfg_pointer is None else cfg_pointer,
        ),
    )
    img.put(VENDOR, ucs2("EDK II"))
    entries = [(g, 0x700000 + i * 0x1000) for i, g in enumerate(CONFIG_GUIDS)]
    img.put(cfg, config_tables(64, entries))
    if stale_cfg is not None:
        img.put(stale_cfg, config_tables(64, entries))
    img.put(MEMMAP, mm)
    bp = bytearray(
        zero_page(
            efi=dict(
                efi_loader_signature="EL64",
                efi_systab=SYSTAB,
                efi_memdesc_size=48,
                efi_memdesc_version=1,
                efi_memmap=MEMMAP,
                efi_memmap_size=len(mm),
                efi_systab_hi=0,
                efi_memmap_hi=0,
            ),
            e820=E820,
            hdrs=True,
        )
    )
    struct.pack_into("<I", bp, 0x228, CMDLINE)
    struct.pack_into("<I", bp, 0x238, 2047)
    img.put(CMDLINE, CMDLINE_TEXT)
    if setup:
        struct.pack_into("<Q", bp, 0x250, SETUP0)
        efi = EFI_SETUP_DATA.build(dict(fw_vendor=VENDOR, __unused=0, tables=cfg, smbios=0, reserved=[0] * 8))
        img.put(SETUP0, build_node(SETUP1, SETUP_EFI, efi))
        ind = STRUCT_SETUP_INDIRECT.build(dict(type=SETUP_INDIRECT | 8, reserved=0, len=0x1000, addr=INDIRECT_TARGET))
        img.put(SETUP1, build_node(0, SETUP_INDIRECT, ind))
    img.put(BOOT_PARAMS, bytes(bp))
    if page_table is not None:
        img.add_region(PT_BASE, PT_REGION)
        start, blob = page_table.blob()
        img.put(start, blob)
    return img


def memory(img: Image) -> BytesMemory:
    return BytesMemory({s: bytes(b) for s, b in img.regions.items()})


def open_dump(img: Image) -> Dump:
    return Dump(memory(img), boot_params=BOOT_PARAMS)


def kexec_table(model: Model | str, levels: int = 4, cbit: int | None = None, **machine: object) -> PageTableBuilder:
    """The identity map ``init_pgtable`` would build for the machine under ``model``."""
    m = parse_model(model)
    pt = PageTableBuilder(levels, PT_BASE, cbit=cbit)
    col = collect(open_dump(kexec_machine(**machine)))  # type: ignore[arg-type]
    for r in kexec_rules(m, col.map_inputs, [("segment", (o.start, o.end)) for o in col.objects[:2]]):
        pt.ident_map(r.start, r.end, gbpages=m.gbpages, gbrule=m.gbpage_rule)
    assert pt.next_free <= PT_BASE + PT_REGION
    return pt
