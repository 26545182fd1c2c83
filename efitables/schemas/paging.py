"""x86-64 page-table entries (4- and 5-level long-mode paging).

Sources (the hardware definition is Intel SDM Vol. 3A ch. 4 and AMD APM Vol. 2,
"Long-Mode Page Translation"; the values are as Linux encodes them): torvalds/linux
arch/x86/include/asm/pgtable_types.h@v6.12.117 (``_PAGE_*`` bits),
arch/x86/include/asm/page_64_types.h@v6.12.117 (``__PHYSICAL_MASK_SHIFT`` 52),
arch/x86/include/asm/processor-flags.h@v6.12.117 (CR3/CR4 bits); the Linux
kexec identity-map flags from arch/x86/kernel/machine_kexec_64.c@v6.12.117.

Every entry is a little-endian u64; every table is one 4 KiB page of 512
entries. The walker (``efitables.coverage.pagewalk``) uses the integer
constants with ``struct``/numpy; :data:`PTE` is the declarative form for detail
views and tests.
"""

from __future__ import annotations

import construct as cs

ENTRIES_PER_TABLE = 512
TABLE_SIZE = 4096
ENTRY_SIZE = 8

# Entry bits (pgtable_types.h): _PAGE_BIT_*.
PAGE_PRESENT = 1 << 0
PAGE_RW = 1 << 1
PAGE_USER = 1 << 2
PAGE_PWT = 1 << 3
PAGE_PCD = 1 << 4
PAGE_ACCESSED = 1 << 5
PAGE_DIRTY = 1 << 6
PAGE_PSE = 1 << 7  # PS in PDPTE/PDE (leaf); PAT in a 4 KiB PTE
PAGE_GLOBAL = 1 << 8
PAGE_PAT_LARGE = 1 << 12  # PAT bit of 2 MiB / 1 GiB leaves
PAGE_NOPTISHADOW = 1 << 58  # Linux software bit 58 on top-level ident-map entries (v6.12.5+)
PAGE_NX = 1 << 63

#: Physical address bits 51:12 (``PTE_PFN_MASK`` with ``__PHYSICAL_MASK_SHIFT`` = 52).
ADDR_MASK_4K = 0x000F_FFFF_FFFF_F000
#: 2 MiB leaf frame, bits 51:21 (``PHYSICAL_PMD_PAGE_MASK``).
ADDR_MASK_2M = 0x000F_FFFF_FFE0_0000
#: 1 GiB leaf frame, bits 51:30 (``PHYSICAL_PUD_PAGE_MASK``).
ADDR_MASK_1G = 0x000F_FFFF_C000_0000
#: Bits 20:13 of a 2 MiB leaf and 29:13 of a 1 GiB leaf are reserved (must be 0).
RESERVED_2M = 0x0000_0000_001F_E000
RESERVED_1G = 0x0000_0000_3FFF_E000

PAGE_4K = 1 << 12
PAGE_2M = 1 << 21
PAGE_1G = 1 << 30

#: Shift of the VA bits that index each level, top-down, by paging mode.
LEVEL_SHIFTS = {4: (39, 30, 21, 12), 5: (48, 39, 30, 21, 12)}
#: Hardware names of the levels, top-down.
LEVEL_NAMES = {4: ("PML4", "PDPT", "PD", "PT"), 5: ("PML5", "PML4", "PDPT", "PD", "PT")}

# CR3 / CR4 (processor-flags.h).
CR3_ADDR_MASK = 0x000F_FFFF_FFFF_F000  # the C-bit must still be cleared from it
CR3_PCID_MASK = 0xFFF
CR3_NOFLUSH = 1 << 63
PTI_USER_PGD_BIT = 1 << 12  # PTI: user CR3 = kernel CR3 | (1 << PAGE_SHIFT)
CR4_LA57 = 1 << 12

#: Linux kexec / decompressor identity-map flags (arch/x86/include/asm/pgtable_types.h@v6.12.117:
#: ``__PAGE_KERNEL_LARGE_EXEC``, ``_KERNPG_TABLE_NOENC``; used by arch/x86/kernel/machine_kexec_64.c).
KEXEC_LEAF_FLAGS = 0x1E3  # __PAGE_KERNEL_LARGE_EXEC = P|RW|A|D|PS|G
KEXEC_TABLE_FLAGS = 0x063  # _KERNPG_TABLE_NOENC = P|RW|A|D

#: One entry, least significant bit first (construct BitStruct is MSB-first, so the
#: u64 is byte-swapped into big-endian order first).
PTE = cs.ByteSwapped(
    cs.BitStruct(
        "nx" / cs.Flag,
        "pkey" / cs.BitsInteger(4),
        "software_high" / cs.BitsInteger(7),
        "address_bits" / cs.BitsInteger(40),  # bits 51:12 (bit 12 is PAT on large leaves)
        "software" / cs.BitsInteger(3),
        "global_" / cs.Flag,
        "ps_or_pat" / cs.Flag,
        "dirty" / cs.Flag,
        "accessed" / cs.Flag,
        "pcd" / cs.Flag,
        "pwt" / cs.Flag,
        "user" / cs.Flag,
        "rw" / cs.Flag,
        "present" / cs.Flag,
    )
)


def flag_names(entry: int) -> list[str]:
    """Short names of the low flag bits and NX set in ``entry``."""
    names = [
        (PAGE_PRESENT, "P"),
        (PAGE_RW, "RW"),
        (PAGE_USER, "US"),
        (PAGE_PWT, "PWT"),
        (PAGE_PCD, "PCD"),
        (PAGE_ACCESSED, "A"),
        (PAGE_DIRTY, "D"),
        (PAGE_PSE, "PS"),
        (PAGE_GLOBAL, "G"),
        (PAGE_NX, "NX"),
    ]
    return [n for bit, n in names if entry & bit]
