"""ACPI FADT (the table signed "FACP") and FACS.

Sources: tianocore/edk2 MdePkg/Include/IndustryStandard/Acpi65.h@c5aa7e7d94c0
(``EFI_ACPI_6_5_FIXED_ACPI_DESCRIPTION_TABLE``, ``EFI_ACPI_6_5_FIRMWARE_ACPI_CONTROL_STRUCTURE``, packed);
torvalds/linux include/acpi/actbl.h@v6.12.117 (``struct acpi_table_fadt``, ``struct acpi_table_facs``);
ACPI 6.5 §5.2.9 (FADT, Table 5.9) and §5.2.10 (FACS, Table 5.14). A FADT shorter than this layout (ACPI
1.0's is 116 bytes, without the X_ fields) is read as Linux reads it: the bytes it has, the rest zero
(``acpi_tb_create_local_fadt``, torvalds/linux drivers/acpi/acpica/tbfadt.c@v6.12.117).
"""

from __future__ import annotations

import construct as cs

from efitables.schemas.payloads.acpi import EFI_ACPI_DESCRIPTION_HEADER

FADT_SIGNATURE = b"FACP"
DSDT_SIGNATURE = b"DSDT"
FACS_SIGNATURE = b"FACS"

#: ACPI 6.5 Generic Address Structure (§5.2.3.2).
EFI_ACPI_6_5_GENERIC_ADDRESS_STRUCTURE = cs.Struct(
    "AddressSpaceId" / cs.Int8ul,
    "RegisterBitWidth" / cs.Int8ul,
    "RegisterBitOffset" / cs.Int8ul,
    "AccessSize" / cs.Int8ul,
    "Address" / cs.Int64ul,
)

_GAS = EFI_ACPI_6_5_GENERIC_ADDRESS_STRUCTURE

EFI_ACPI_6_5_FIXED_ACPI_DESCRIPTION_TABLE = cs.Struct(
    "Header" / EFI_ACPI_DESCRIPTION_HEADER,
    "FirmwareCtrl" / cs.Int32ul,  # FIRMWARE_CTRL: 32-bit FACS address
    "Dsdt" / cs.Int32ul,  # DSDT: 32-bit DSDT address
    "Reserved0" / cs.Int8ul,
    "PreferredPmProfile" / cs.Int8ul,
    "SciInt" / cs.Int16ul,
    "SmiCmd" / cs.Int32ul,
    "AcpiEnable" / cs.Int8ul,
    "AcpiDisable" / cs.Int8ul,
    "S4BiosReq" / cs.Int8ul,
    "PstateCnt" / cs.Int8ul,
    "Pm1aEvtBlk" / cs.Int32ul,
    "Pm1bEvtBlk" / cs.Int32ul,
    "Pm1aCntBlk" / cs.Int32ul,
    "Pm1bCntBlk" / cs.Int32ul,
    "Pm2CntBlk" / cs.Int32ul,
    "PmTmrBlk" / cs.Int32ul,
    "Gpe0Blk" / cs.Int32ul,
    "Gpe1Blk" / cs.Int32ul,
    "Pm1EvtLen" / cs.Int8ul,
    "Pm1CntLen" / cs.Int8ul,
    "Pm2CntLen" / cs.Int8ul,
    "PmTmrLen" / cs.Int8ul,
    "Gpe0BlkLen" / cs.Int8ul,
    "Gpe1BlkLen" / cs.Int8ul,
    "Gpe1Base" / cs.Int8ul,
    "CstCnt" / cs.Int8ul,
    "PLvl2Lat" / cs.Int16ul,
    "PLvl3Lat" / cs.Int16ul,
    "FlushSize" / cs.Int16ul,
    "FlushStride" / cs.Int16ul,
    "DutyOffset" / cs.Int8ul,
    "DutyWidth" / cs.Int8ul,
    "DayAlrm" / cs.Int8ul,
    "MonAlrm" / cs.Int8ul,
    "Century" / cs.Int8ul,
    "IaPcBootArch" / cs.Int16ul,
    "Reserved1" / cs.Int8ul,
    "Flags" / cs.Int32ul,
    "ResetReg" / _GAS,
    "ResetValue" / cs.Int8ul,
    "ArmBootArch" / cs.Int16ul,
    "MinorVersion" / cs.Int8ul,
    "XFirmwareCtrl" / cs.Int64ul,  # X_FIRMWARE_CTRL: 64-bit FACS address (preferred when non-zero)
    "XDsdt" / cs.Int64ul,  # X_DSDT: 64-bit DSDT address (preferred when non-zero)
    "XPm1aEvtBlk" / _GAS,
    "XPm1bEvtBlk" / _GAS,
    "XPm1aCntBlk" / _GAS,
    "XPm1bCntBlk" / _GAS,
    "XPm2CntBlk" / _GAS,
    "XPmTmrBlk" / _GAS,
    "XGpe0Blk" / _GAS,
    "XGpe1Blk" / _GAS,
    "SleepControlReg" / _GAS,
    "SleepStatusReg" / _GAS,
    "HypervisorVendorIdentity" / cs.Int64ul,
)
#: The ACPI 6.5 FADT's size (Table 5.9); older revisions are shorter.
FADT_SIZE = EFI_ACPI_6_5_FIXED_ACPI_DESCRIPTION_TABLE.sizeof()
assert FADT_SIZE == 276

EFI_ACPI_6_5_FIRMWARE_ACPI_CONTROL_STRUCTURE = cs.Struct(
    "Signature" / cs.Bytes(4),  # "FACS"
    "Length" / cs.Int32ul,  # 64 or more
    "HardwareSignature" / cs.Int32ul,
    "FirmwareWakingVector" / cs.Int32ul,
    "GlobalLock" / cs.Int32ul,
    "Flags" / cs.Int32ul,
    "XFirmwareWakingVector" / cs.Int64ul,
    "Version" / cs.Int8ul,
    "Reserved0" / cs.Bytes(3),
    "OspmFlags" / cs.Int32ul,
    "Reserved1" / cs.Bytes(24),
)
FACS_SIZE = EFI_ACPI_6_5_FIRMWARE_ACPI_CONTROL_STRUCTURE.sizeof()
assert FACS_SIZE == 64
