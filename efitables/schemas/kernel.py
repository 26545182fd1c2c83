"""The running kernel's own structures, as laid out by one release, for dumps whose kernel carries no BTF.

A kernel built with CONFIG_DEBUG_INFO_BTF describes its own layouts
(:mod:`efitables.kernel.btf`); these tables are the fallback, one per release,
keyed by the kernel version (:mod:`efitables.kernel.version`). Each was checked
member by member against that release's BTF, not derived by hand:

* **v6.1**: Debian's 6.1.0-56-amd64 (upstream stable 6.1.192), whose BTF is in the
  real dumps of dumps/real/corpus (tests/test_kernel_copies.py compares every offset
  here with BTF's). Headers, torvalds/linux at v6.1.192:
  include/linux/efi.h (``struct efi``, ``struct efi_memory_map``),
  include/linux/kexec.h (``struct kimage``, ``struct kexec_segment``,
  ``KEXEC_SEGMENT_MAX``, ``KEXEC_TYPE_*``), arch/x86/include/asm/kexec.h
  (``struct kimage_arch``: ``p4d``, ``pud``, ``pmd``, ``pte``, no ``pgd``),
  arch/x86/include/asm/e820/types.h (``struct e820_table``, ``struct e820_entry``,
  ``E820_MAX_ENTRIES``).
* **v6.12**: Debian's 6.12.95+deb12-amd64 (bookworm-backports, upstream stable
  6.12.95), whose BTF is in the real ``kexecload612`` dump: ``struct efi`` of
  include/linux/efi.h@v6.12.95 (``unaccepted`` after ``coco_secret``, since v6.5),
  and, from stable 6.12.14, ``struct kimage_arch`` with ``pgd`` first
  (arch/x86/include/asm/kexec.h@v6.12.95; David Woodhouse, "x86/kexec: Allocate PGD for
  x86_64 transition page tables separately", v6.14, backported to 6.12.14), which moves
  ``p4d`` ... ``pte`` by 8; ``struct kimage`` up to ``arch`` is v6.1's
  (include/linux/kexec.h@v6.12.95: ``hotplug_support`` joins the bit-field unit).
* **v6.18**: ``struct efi`` of include/linux/efi.h at v6.18, which adds
  ``ovmf_debug_log`` after ``tpm_final_log`` and ``unaccepted`` after
  ``coco_secret`` (checked against the BTF of a 6.18.44 x86-64 kernel).

Only the members efitables reads are declared by name; a layout ends where the
last of them does (``struct kimage`` continues past ``arch``). Function pointers
are ``Int64ul`` under their C names. Bit-fields: ``struct kimage`` declares
``unsigned int type:1, preserve_context:1, file_mode:1`` in one 32-bit unit,
allocated from bit 0 up (the x86-64 psABI), declared here as the unit named
after its first member with :data:`KIMAGE_BITS` giving each bit.
"""

from __future__ import annotations

import construct as cs

from efitables.schemas.boot_params import BOOT_E820_ENTRY, BOOT_E820_ENTRY_SIZE, E820_MAX_ENTRIES_ZEROPAGE
from efitables.schemas.common import fast_struct

#: ``EFI_INVALID_TABLE_ADDR`` (include/linux/efi.h): what ``struct efi`` holds for a table the firmware lacks.
EFI_INVALID_TABLE_ADDR = (1 << 64) - 1

#: ``struct efi_memory_map`` (include/linux/efi.h@v6.1.192; unchanged at v6.18).
EFI_MEMORY_MAP = cs.Struct(
    "phys_map" / cs.Int64ul,  # phys_addr_t
    "map" / cs.Int64ul,  # void *
    "map_end" / cs.Int64ul,  # void *
    "nr_map" / cs.Int32sl,  # int
    cs.Padding(4),
    "desc_version" / cs.Int64ul,
    "desc_size" / cs.Int64ul,
    "flags" / cs.Int64ul,
)
EFI_MEMORY_MAP_SIZE = 56
assert EFI_MEMORY_MAP.sizeof() == EFI_MEMORY_MAP_SIZE

#: ``efi_runtime_services_t`` pointers of ``struct efi``, in declaration order (include/linux/efi.h@v6.1.192).
EFI_RUNTIME_POINTERS = (
    "get_time",
    "set_time",
    "get_wakeup_time",
    "set_wakeup_time",
    "get_variable",
    "get_next_variable",
    "set_variable",
    "set_variable_nonblocking",
    "query_variable_info",
    "query_variable_info_nonblocking",
    "update_capsule",
    "query_capsule_caps",
    "get_next_high_mono_count",
    "reset_system",
)


def _efi(tables: tuple[str, ...]) -> cs.Struct:
    return cs.Struct(
        "runtime" / cs.Int64ul,  # efi_runtime_services_t * (an EFI virtual address after SetVirtualAddressMap)
        "runtime_version" / cs.Int32ul,
        "runtime_supported_mask" / cs.Int32ul,
        *(name / cs.Int64ul for name in tables),  # unsigned long: physical table addresses
        *(name / cs.Int64ul for name in EFI_RUNTIME_POINTERS),
        "memmap" / EFI_MEMORY_MAP,
        "flags" / cs.Int64ul,
    )


#: The configuration-table addresses ``struct efi`` keeps, per release.
EFI_TABLES_V6_1 = (
    "acpi",
    "acpi20",
    "smbios",
    "smbios3",
    "esrt",
    "tpm_log",
    "tpm_final_log",
    "mokvar_table",
    "coco_secret",
)
EFI_TABLES_V6_12 = (*EFI_TABLES_V6_1, "unaccepted")
EFI_TABLES_V6_18 = (
    "acpi",
    "acpi20",
    "smbios",
    "smbios3",
    "esrt",
    "tpm_log",
    "tpm_final_log",
    "ovmf_debug_log",
    "mokvar_table",
    "coco_secret",
    "unaccepted",
)
#: ``struct efi`` at v6.1 (264 bytes), v6.12 (272) and v6.18 (280).
STRUCT_EFI_V6_1 = _efi(EFI_TABLES_V6_1)
STRUCT_EFI_V6_12 = _efi(EFI_TABLES_V6_12)
STRUCT_EFI_V6_18 = _efi(EFI_TABLES_V6_18)
assert STRUCT_EFI_V6_1.sizeof() == 264 and STRUCT_EFI_V6_12.sizeof() == 272 and STRUCT_EFI_V6_18.sizeof() == 280

# -- kexec ---------------------------------------------------------------------------------
#: ``KEXEC_SEGMENT_MAX`` (include/linux/kexec.h): the length of ``kimage.segment``.
KEXEC_SEGMENT_MAX = 16
#: ``KEXEC_TYPE_DEFAULT`` / ``KEXEC_TYPE_CRASH``: the values of ``kimage.type``.
KEXEC_TYPE_DEFAULT = 0
KEXEC_TYPE_CRASH = 1

#: ``struct kexec_segment``: ``union { void __user *buf; void *kbuf; }``, then sizes and the destination.
KEXEC_SEGMENT = cs.Struct(
    "buf" / cs.Int64ul,
    "bufsz" / cs.Int64ul,
    "mem" / cs.Int64ul,  # physical destination
    "memsz" / cs.Int64ul,
)
KEXEC_SEGMENT_SIZE = 32
assert KEXEC_SEGMENT.sizeof() == KEXEC_SEGMENT_SIZE

LIST_HEAD = cs.Struct("next" / cs.Int64ul, "prev" / cs.Int64ul)

# -- the kimage page list: ``typedef unsigned long kimage_entry_t`` (include/linux/kexec.h@v6.1), a
# physical address with an IND_* flag in its low bits; kernel/kexec_core.c for_each_kimage_entry
IND_DESTINATION = 0x1
IND_INDIRECTION = 0x2
IND_DONE = 0x4
IND_SOURCE = 0x8
#: ``kimage->head``: the first entry of the list.
KIMAGE_ENTRY = cs.Struct("entry" / cs.Int64ul)
KIMAGE_ENTRY_FAST = fast_struct(KIMAGE_ENTRY)
#: One indirection page: ``PAGE_SIZE / sizeof(kimage_entry_t)`` entries.
KIMAGE_ENTRIES_PER_PAGE = 4096 // 8
KIMAGE_ENTRY_PAGE = cs.Struct("entries" / cs.Array(KIMAGE_ENTRIES_PER_PAGE, cs.Int64ul))
KIMAGE_ENTRY_PAGE_FAST = fast_struct(KIMAGE_ENTRY_PAGE)
assert KIMAGE_ENTRY_PAGE_FAST.size == 4096

#: x86-64 ``struct kimage_arch`` before v6.14 (the PGD is the first page of ``control_code_page``).
KIMAGE_ARCH_V6_1 = cs.Struct("p4d" / cs.Int64ul, "pud" / cs.Int64ul, "pmd" / cs.Int64ul, "pte" / cs.Int64ul)

#: x86-64 ``struct kimage_arch`` from v6.14 and stable 6.12.14: the identity map's root first.
KIMAGE_ARCH_V6_12_14 = cs.Struct("pgd" / cs.Int64ul, *KIMAGE_ARCH_V6_1.subcons)


def _kimage(arch: cs.Construct) -> cs.Struct:
    """``struct kimage`` up to ``arch`` (the rest is not read), with ``arch`` as given."""
    return cs.Struct(
        "head" / cs.Int64ul,
        "entry" / cs.Int64ul,
        "last_entry" / cs.Int64ul,
        "start" / cs.Int64ul,
        "control_code_page" / cs.Int64ul,  # struct page *
        "swap_page" / cs.Int64ul,  # struct page *
        "vmcoreinfo_data_copy" / cs.Int64ul,
        "nr_segments" / cs.Int64ul,
        "segment" / cs.Array(KEXEC_SEGMENT_MAX, KEXEC_SEGMENT),
        "control_pages" / LIST_HEAD,
        "dest_pages" / LIST_HEAD,
        "unusable_pages" / LIST_HEAD,
        "control_page" / cs.Int64ul,
        "type" / cs.Int32ul,  # the unit of the bit-fields type:1, preserve_context:1, file_mode:1
        cs.Padding(4),
        "arch" / arch,
    )


#: ``struct kimage`` at v6.1, and from stable 6.12.14 (``kimage_arch.pgd``), up to ``arch``.
KIMAGE_V6_1 = _kimage(KIMAGE_ARCH_V6_1)
KIMAGE_V6_12_14 = _kimage(KIMAGE_ARCH_V6_12_14)
#: Bit of each ``struct kimage`` bit-field in the unit declared as ``type``.
KIMAGE_BITS = {"type": 0, "preserve_context": 1, "file_mode": 2}

# -- E820 ----------------------------------------------------------------------------------
#: ``struct e820_entry`` is the packed boot-protocol entry (20 bytes).
E820_ENTRY = BOOT_E820_ENTRY
E820_ENTRY_SIZE = BOOT_E820_ENTRY_SIZE
#: ``struct e820_table``: ``__u32 nr_entries`` then ``entries[E820_MAX_ENTRIES]``.
E820_TABLE_HEADER = cs.Struct("nr_entries" / cs.Int32ul)
#: ``E820_MAX_ENTRIES`` = ``E820_MAX_ENTRIES_ZEROPAGE + 3 * MAX_NUMNODES`` with the largest x86-64
#: ``NODES_SHIFT`` (10, CONFIG_MAXSMP; Debian's value): the most entries any kernel's table holds.
E820_NODES_SHIFT_MAX = 10
E820_MAX_ENTRIES = E820_MAX_ENTRIES_ZEROPAGE + 3 * (1 << E820_NODES_SHIFT_MAX)

# -- struct page ---------------------------------------------------------------------------
#: ``sizeof(struct page)`` on x86-64 v6.1 (VMCOREINFO ``SIZE(page)`` says it for every kernel).
STRUCT_PAGE_SIZE_V6_1 = 64

# -- what struct efi's table addresses stand for ----------------------------------------------
#: Every configuration-table member ``struct efi`` has had (v6.1 .. v6.18), in declaration order.
EFI_TABLE_FIELDS = (
    "acpi",
    "acpi20",
    "smbios",
    "smbios3",
    "esrt",
    "tpm_log",
    "tpm_final_log",
    "ovmf_debug_log",
    "mokvar_table",
    "coco_secret",
    "unaccepted",
)
#: The GUID of the configuration table each member (and ``efi_mem_attr_table``,
#: drivers/firmware/efi/memattr.c) records: ``common_tables`` / ``efi_config_parse_tables`` in
#: drivers/firmware/efi/efi.c@v6.1.192 with the GUIDs of include/linux/efi.h@v6.12.117
#: (efitables/data/config_table_guids.csv). ``ovmf_debug_log`` is left out: its GUID is not in
#: the tables efitables cites.
EFI_TABLE_GUIDS = {
    "acpi": "eb9d2d30-2d88-11d3-9a16-0090273fc14d",  # ACPI_TABLE_GUID
    "acpi20": "8868e871-e4f1-11d3-bc22-0080c73c8881",  # ACPI_20_TABLE_GUID
    "smbios": "eb9d2d31-2d88-11d3-9a16-0090273fc14d",  # SMBIOS_TABLE_GUID
    "smbios3": "f2fd1544-9794-4a2c-992e-e5bbcf20e394",  # SMBIOS3_TABLE_GUID
    "esrt": "b122a263-3661-4f68-9929-78f8b0d62180",  # EFI_SYSTEM_RESOURCE_TABLE_GUID
    "tpm_log": "b7799cb0-eca2-4943-9667-1fae07b747fa",  # LINUX_EFI_TPM_EVENT_LOG_GUID
    "tpm_final_log": "1e2ed096-30e2-4254-bd89-863bbef82325",  # EFI_TCG2_FINAL_EVENTS_TABLE_GUID
    "mokvar_table": "c451ed2b-9694-45d3-baba-ed9f8988a389",  # LINUX_EFI_MOK_VARIABLE_TABLE_GUID
    "coco_secret": "adf956ad-e98c-484c-ae11-b51c7d336447",  # LINUX_EFI_COCO_SECRET_AREA_GUID
    "unaccepted": "d5d1de3c-105c-44f9-9ea9-bcef98120031",  # LINUX_EFI_UNACCEPTED_MEM_TABLE_GUID
    "efi_mem_attr_table": "dcfa911d-26eb-469f-a220-38b7dc461220",  # EFI_MEMORY_ATTRIBUTES_TABLE_GUID
}
