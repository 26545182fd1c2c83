"""Tables installed by the Linux EFI stub, a previous kernel, or shim: one
import for every Linux configuration-table decoder.

The decoders live by job; this module re-exports every name they define so
``efitables.payloads.linux_tables.X`` keeps working:

* :mod:`efitables.payloads.linux_memory` - memory the tables describe:
  MEMRESERVE list, boot memory map, unaccepted-memory bitmap;
* :mod:`efitables.payloads.linux_secrets` - secrets and boot-trust material:
  RNG seed, MOK variables, CoCo secret area;
* :mod:`efitables.payloads.linux_handover` - boot-loader state handed to the
  kernel: initrd, ``screen_info``.

Each module registers its own GUIDs once, on import (``efitables.payloads``
imports them). The TPM event log the stub copies is in
:mod:`efitables.payloads.tcg`. Layouts: :mod:`efitables.schemas.payloads.linux_tables`
(torvalds/linux include/linux/efi.h@v6.12.117; the writers are in
drivers/firmware/efi/libstub/).
"""

from __future__ import annotations

from efitables.payloads.linux_handover import (
    INITRD_RANGE,
    LINUX_EFI_INITRD_MEDIA_GUID,
    LINUX_EFI_SCREEN_INFO_TABLE_GUID,
    InitrdMedia,
    ScreenInfo,
    decode_initrd,
    decode_screen_info,
)
from efitables.payloads.linux_memory import (
    BMM_BUFF,
    EFI_UNACCEPTED_MEMORY_TYPE,
    LINUX_EFI_BOOT_MEMMAP_GUID,
    LINUX_EFI_MEMRESERVE_TABLE_GUID,
    LINUX_EFI_UNACCEPTED_MEM_TABLE_GUID,
    MAX_BITMAP_SIZE,
    MAX_MEMRESERVE_ENTRIES,
    MAX_MEMRESERVE_NODES,
    MAX_UNACCEPTED_RUNS,
    MR_COUNT,
    MR_CYCLE,
    MR_PAGE,
    MR_RANGE,
    MR_TOO_MANY,
    UA_ALIGN,
    UA_COVER,
    UA_SIZE,
    UA_UNIT,
    UA_VERSION,
    BootMemmap,
    Memreserve,
    MemreserveNode,
    UnacceptedMemory,
    decode_boot_memmap,
    decode_memreserve,
    decode_unaccepted,
)
from efitables.payloads.linux_secrets import (
    COCO_HEADER,
    COCO_LEN,
    LINUX_EFI_COCO_SECRET_AREA_GUID,
    LINUX_EFI_MOK_VARIABLE_TABLE_GUID,
    LINUX_EFI_RANDOM_SEED_TABLE_GUID,
    MAX_MOKVAR_DATA,
    MAX_MOKVAR_ENTRIES,
    MAX_SECRET_AREA,
    MAX_SECRET_ENTRIES,
    MAX_SEED_SIZE,
    MOK_SIZE,
    MOK_TOO_MANY,
    SEED_LARGE,
    SEED_SIZE,
    SEED_ZERO,
    CocoSecretArea,
    MokVarTable,
    RandomSeed,
    decode_coco_secret,
    decode_mokvar,
    decode_random_seed,
)

__all__ = [
    "BMM_BUFF",
    "COCO_HEADER",
    "COCO_LEN",
    "EFI_UNACCEPTED_MEMORY_TYPE",
    "INITRD_RANGE",
    "LINUX_EFI_BOOT_MEMMAP_GUID",
    "LINUX_EFI_COCO_SECRET_AREA_GUID",
    "LINUX_EFI_INITRD_MEDIA_GUID",
    "LINUX_EFI_MEMRESERVE_TABLE_GUID",
    "LINUX_EFI_MOK_VARIABLE_TABLE_GUID",
    "LINUX_EFI_RANDOM_SEED_TABLE_GUID",
    "LINUX_EFI_SCREEN_INFO_TABLE_GUID",
    "LINUX_EFI_UNACCEPTED_MEM_TABLE_GUID",
    "MAX_BITMAP_SIZE",
    "MAX_MEMRESERVE_ENTRIES",
    "MAX_MEMRESERVE_NODES",
    "MAX_MOKVAR_DATA",
    "MAX_MOKVAR_ENTRIES",
    "MAX_SECRET_AREA",
    "MAX_SECRET_ENTRIES",
    "MAX_SEED_SIZE",
    "MAX_UNACCEPTED_RUNS",
    "MOK_SIZE",
    "MOK_TOO_MANY",
    "MR_COUNT",
    "MR_CYCLE",
    "MR_PAGE",
    "MR_RANGE",
    "MR_TOO_MANY",
    "SEED_LARGE",
    "SEED_SIZE",
    "SEED_ZERO",
    "UA_ALIGN",
    "UA_COVER",
    "UA_SIZE",
    "UA_UNIT",
    "UA_VERSION",
    "BootMemmap",
    "CocoSecretArea",
    "InitrdMedia",
    "Memreserve",
    "MemreserveNode",
    "MokVarTable",
    "RandomSeed",
    "ScreenInfo",
    "UnacceptedMemory",
    "decode_boot_memmap",
    "decode_coco_secret",
    "decode_initrd",
    "decode_memreserve",
    "decode_mokvar",
    "decode_random_seed",
    "decode_screen_info",
    "decode_unaccepted",
]
