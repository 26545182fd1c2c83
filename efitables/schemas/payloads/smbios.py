"""SMBIOS 2.x (``_SM_``) and 3.x (``_SM3_``) entry points and the structure header.

Sources: tianocore/edk2 MdePkg/Include/IndustryStandard/SmBios.h@c5aa7e7d94c0
(``SMBIOS_TABLE_ENTRY_POINT``, ``SMBIOS_TABLE_3_0_ENTRY_POINT``,
``SMBIOS_STRUCTURE``; packed); torvalds/linux drivers/firmware/dmi_scan.c@v6.12.117
(``dmi_present``, ``dmi_smbios3_present``). SMBIOS DSP0134 3.x §5.2.1 (2.1 32-bit entry
point), §5.2.2 (3.0 64-bit entry point), §6.1.2 (structure header), §6.1.3 (text strings).
"""

from __future__ import annotations

import construct as cs

SMBIOS_ANCHOR = b"_SM_"
SMBIOS_DMI_ANCHOR = b"_DMI_"
SMBIOS3_ANCHOR = b"_SM3_"
SMBIOS_ENTRY_POINT_SIZE = 0x1F
SMBIOS3_ENTRY_POINT_SIZE = 0x18
SMBIOS_STRUCTURE_SIZE = 4
SMBIOS_TYPE_END_OF_TABLE = 127

SMBIOS_TABLE_ENTRY_POINT = cs.Struct(
    "AnchorString" / cs.Bytes(4),
    "EntryPointStructureChecksum" / cs.Int8ul,
    "EntryPointLength" / cs.Int8ul,
    "MajorVersion" / cs.Int8ul,
    "MinorVersion" / cs.Int8ul,
    "MaxStructureSize" / cs.Int16ul,
    "EntryPointRevision" / cs.Int8ul,
    "FormattedArea" / cs.Bytes(5),
    "IntermediateAnchorString" / cs.Bytes(5),
    "IntermediateChecksum" / cs.Int8ul,  # bytes 0x10..0x1E sum to 0
    "TableLength" / cs.Int16ul,
    "TableAddress" / cs.Int32ul,
    "NumberOfSmbiosStructures" / cs.Int16ul,
    "SmbiosBcdRevision" / cs.Int8ul,
)
assert SMBIOS_TABLE_ENTRY_POINT.sizeof() == SMBIOS_ENTRY_POINT_SIZE

SMBIOS_TABLE_3_0_ENTRY_POINT = cs.Struct(
    "AnchorString" / cs.Bytes(5),
    "EntryPointStructureChecksum" / cs.Int8ul,
    "EntryPointLength" / cs.Int8ul,
    "MajorVersion" / cs.Int8ul,
    "MinorVersion" / cs.Int8ul,
    "DocRev" / cs.Int8ul,
    "EntryPointRevision" / cs.Int8ul,
    "Reserved" / cs.Int8ul,
    "TableMaximumSize" / cs.Int32ul,
    "TableAddress" / cs.Int64ul,
)
assert SMBIOS_TABLE_3_0_ENTRY_POINT.sizeof() == SMBIOS3_ENTRY_POINT_SIZE

SMBIOS_STRUCTURE = cs.Struct("Type" / cs.Int8ul, "Length" / cs.Int8ul, "Handle" / cs.Int16ul)
#: The fast path for walking the structure table.
SMBIOS_STRUCTURE_STRUCT = "<BBH"

#: Structure type names (SMBIOS.h ``SMBIOS_TYPE_*``), for listings.
SMBIOS_TYPE_NAMES = {
    0: "BIOS Information",
    1: "System Information",
    2: "Baseboard Information",
    3: "System Enclosure",
    4: "Processor Information",
    5: "Memory Controller Information",
    6: "Memory Module Information",
    7: "Cache Information",
    8: "Port Connector Information",
    9: "System Slots",
    10: "Onboard Devices Information",
    11: "OEM Strings",
    12: "System Configuration Options",
    13: "BIOS Language Information",
    14: "Group Associations",
    15: "System Event Log",
    16: "Physical Memory Array",
    17: "Memory Device",
    18: "32-bit Memory Error Information",
    19: "Memory Array Mapped Address",
    20: "Memory Device Mapped Address",
    21: "Built-in Pointing Device",
    22: "Portable Battery",
    23: "System Reset",
    24: "Hardware Security",
    25: "System Power Controls",
    26: "Voltage Probe",
    27: "Cooling Device",
    28: "Temperature Probe",
    29: "Electrical Current Probe",
    30: "Out-of-Band Remote Access",
    31: "Boot Integrity Services Entry Point",
    32: "System Boot Information",
    33: "64-bit Memory Error Information",
    34: "Management Device",
    35: "Management Device Component",
    36: "Management Device Threshold Data",
    37: "Memory Channel",
    38: "IPMI Device Information",
    39: "System Power Supply",
    40: "Additional Information",
    41: "Onboard Devices Extended Information",
    42: "Management Controller Host Interface",
    43: "TPM Device",
    44: "Processor Additional Information",
    45: "Firmware Inventory Information",
    46: "String Property",
    126: "Inactive",
    127: "End-of-Table",
}


def smbios_type_name(t: int) -> str:
    if t in SMBIOS_TYPE_NAMES:
        return SMBIOS_TYPE_NAMES[t]
    return f"OEM-specific ({t})" if t >= 128 else f"unknown ({t})"
