"""EFI System Resource Table (ESRT).

Sources: tianocore/edk2 MdePkg/Include/Guid/SystemResourceTable.h@c5aa7e7d94c0
(``EFI_SYSTEM_RESOURCE_TABLE``, ``EFI_SYSTEM_RESOURCE_ENTRY``);
torvalds/linux drivers/firmware/efi/esrt.c@v6.12.117; UEFI 2.10 "EFI System Resource Table".
"""

from __future__ import annotations

import construct as cs

from efitables.schemas.common import EFI_GUID

EFI_SYSTEM_RESOURCE_TABLE_FIRMWARE_RESOURCE_VERSION = 1
ESRT_HEADER_SIZE = 16
ESRT_ENTRY_SIZE = 40

EFI_SYSTEM_RESOURCE_TABLE = cs.Struct(
    "FwResourceCount" / cs.Int32ul,
    "FwResourceCountMax" / cs.Int32ul,
    "FwResourceVersion" / cs.Int64ul,
)
assert EFI_SYSTEM_RESOURCE_TABLE.sizeof() == ESRT_HEADER_SIZE

ESRT_FW_TYPE = {0: "UNKNOWN", 1: "SYSTEM_FIRMWARE", 2: "DEVICE_FIRMWARE", 3: "UEFI_DRIVER"}
LAST_ATTEMPT_STATUS = {
    0: "SUCCESS",
    1: "ERROR_UNSUCCESSFUL",
    2: "ERROR_INSUFFICIENT_RESOURCES",
    3: "ERROR_INCORRECT_VERSION",
    4: "ERROR_INVALID_FORMAT",
    5: "ERROR_AUTH_ERROR",
    6: "ERROR_PWR_EVT_AC",
    7: "ERROR_PWR_EVT_BATT",
    8: "ERROR_UNSATISFIED_DEPENDENCIES",
}

EFI_SYSTEM_RESOURCE_ENTRY = cs.Struct(
    "FwClass" / EFI_GUID,
    "FwType" / cs.Int32ul,
    "FwVersion" / cs.Int32ul,
    "LowestSupportedFwVersion" / cs.Int32ul,
    "CapsuleFlags" / cs.Int32ul,
    "LastAttemptVersion" / cs.Int32ul,
    "LastAttemptStatus" / cs.Int32ul,
)
assert EFI_SYSTEM_RESOURCE_ENTRY.sizeof() == ESRT_ENTRY_SIZE


def last_attempt_status_name(v: int) -> str:
    if v in LAST_ATTEMPT_STATUS:
        return LAST_ATTEMPT_STATUS[v]
    if 0x1000 <= v <= 0x3FFF:
        return f"VENDOR({v:#x})"
    return f"UNKNOWN({v:#x})"
