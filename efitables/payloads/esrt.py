"""EFI System Resource Table (ESRT): firmware resources that capsules can update.

Layout: :mod:`efitables.schemas.payloads.esrt`. Checks (UEFI 2.10 "EFI System
Resource Table"; tianocore/edk2 MdePkg/Include/Guid/SystemResourceTable.h; as Linux,
torvalds/linux drivers/firmware/efi/esrt.c@v6.12.117): FwResourceVersion 1,
FwResourceCount <= FwResourceCountMax,
Linux refuses more than 128 entries, header + entries inside one memory-map
entry of an accepted type.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from efitables.caps import count_cap
from efitables.findings import Severity, make, register
from efitables.model import Parsed
from efitables.payloads import register_decoder
from efitables.payloads.base import ACPI_TYPES, BS_DATA, RT_DATA, DecodeContext, Payload
from efitables.schemas.common import guid_from_bytes
from efitables.schemas.payloads.esrt import (
    EFI_SYSTEM_RESOURCE_ENTRY,
    EFI_SYSTEM_RESOURCE_TABLE,
    EFI_SYSTEM_RESOURCE_TABLE_FIRMWARE_RESOURCE_VERSION,
    ESRT_ENTRY_SIZE,
    ESRT_FW_TYPE,
    ESRT_HEADER_SIZE,
    last_attempt_status_name,
)

EFI_SYSTEM_RESOURCE_TABLE_GUID = "b122a263-3661-4f68-9929-78f8b0d62180"

#: The bulk path for entries (the construct schema declares the same 40 bytes).
_ENTRY = struct.Struct("<16s6I")
_ENTRY_FIELDS = [sc.name for sc in EFI_SYSTEM_RESOURCE_ENTRY.subcons]
assert _ENTRY.size == ESRT_ENTRY_SIZE

#: Linux esrt.c refuses tables with more entries than this.
LINUX_MAX_ENTRIES = 128
#: Most entries efitables reads: twice what Linux accepts (a machine lists one per updatable firmware
#: component: system firmware, EC, a few devices).
MAX_ENTRIES = 256

ESRT_VERSION = register("ESRT-VERSION", Severity.WARNING, "ESRT FwResourceVersion is not 1 (Linux rejects it)")
ESRT_COUNT = register("ESRT-COUNT", Severity.WARNING, "ESRT FwResourceCount exceeds FwResourceCountMax")
ESRT_TOO_MANY = register(
    "ESRT-TOO-MANY", Severity.WARNING, "ESRT has more entries than Linux accepts (128) or efitables reads"
)


@dataclass(kw_only=True)
class EsrtEntry(Parsed):
    kind = "EFI_SYSTEM_RESOURCE_ENTRY"

    index: int
    fw_class: str
    fw_type: int
    fw_type_name: str
    fw_version: int
    lowest_supported_fw_version: int
    capsule_flags: int
    last_attempt_version: int
    last_attempt_status: int
    last_attempt_status_name: str

    @property
    def title(self) -> str:
        return f"[{self.index}] {self.fw_class} {self.fw_type_name} v{self.fw_version:#x}"


@dataclass(kw_only=True)
class Esrt(Payload):
    kind = "ESRT"

    fw_resource_count: int
    fw_resource_count_max: int
    fw_resource_version: int
    entries: list[EsrtEntry] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"ESRT ({self.fw_resource_count} entries)"

    def children(self) -> list[Parsed]:
        return list(self.entries)


def decode_esrt(ctx: DecodeContext) -> Esrt:
    pa, name = ctx.address, "ESRT"
    findings: list = []
    raw = ctx.read(pa, ESRT_HEADER_SIZE, name, findings)
    if raw is None:
        e = Esrt(address=pa, size=0, fw_resource_count=0, fw_resource_count_max=0, fw_resource_version=0)
        e.findings.extend(findings)
        return e
    h = EFI_SYSTEM_RESOURCE_TABLE.parse(raw)
    e = Esrt(
        address=pa,
        size=ESRT_HEADER_SIZE,
        raw=raw,
        fields=h,
        schema=EFI_SYSTEM_RESOURCE_TABLE,
        fw_resource_count=h["FwResourceCount"],
        fw_resource_count_max=h["FwResourceCountMax"],
        fw_resource_version=h["FwResourceVersion"],
    )
    if e.fw_resource_version != EFI_SYSTEM_RESOURCE_TABLE_FIRMWARE_RESOURCE_VERSION:
        e.findings.append(make(ESRT_VERSION, name, pa, f"FwResourceVersion {e.fw_resource_version}"))
    if e.fw_resource_count > e.fw_resource_count_max:
        e.findings.append(make(ESRT_COUNT, name, pa, f"{e.fw_resource_count} > {e.fw_resource_count_max}"))
    count = e.fw_resource_count
    if count > LINUX_MAX_ENTRIES:
        refused = f"FwResourceCount {count} (Linux refuses more than {LINUX_MAX_ENTRIES})"
        count, capped = count_cap(count, MAX_ENTRIES, ESRT_TOO_MANY, name, pa, refused)
        e.findings.append(capped or make(ESRT_TOO_MANY, name, pa, refused))
    body = ctx.read(pa + ESRT_HEADER_SIZE, count * ESRT_ENTRY_SIZE, "ESRT entries", e.findings)
    if body is None:
        return e
    e.raw += body
    e.size += len(body)
    for i in range(count):
        chunk = body[i * ESRT_ENTRY_SIZE : (i + 1) * ESRT_ENTRY_SIZE]
        vals = _ENTRY.unpack_from(chunk)
        f = dict(zip(_ENTRY_FIELDS, (guid_from_bytes(vals[0]), *vals[1:]), strict=True))
        e.entries.append(
            EsrtEntry(
                address=pa + ESRT_HEADER_SIZE + i * ESRT_ENTRY_SIZE,
                size=ESRT_ENTRY_SIZE,
                raw=chunk,
                fields=f,
                schema=EFI_SYSTEM_RESOURCE_ENTRY,
                index=i,
                fw_class=f["FwClass"],
                fw_type=f["FwType"],
                fw_type_name=ESRT_FW_TYPE.get(f["FwType"], f"UNKNOWN({f['FwType']})"),
                fw_version=f["FwVersion"],
                lowest_supported_fw_version=f["LowestSupportedFwVersion"],
                capsule_flags=f["CapsuleFlags"],
                last_attempt_version=f["LastAttemptVersion"],
                last_attempt_status=f["LastAttemptStatus"],
                last_attempt_status_name=last_attempt_status_name(f["LastAttemptStatus"]),
            )
        )
    return e


#: Linux esrt.c accepts RUNTIME-attributed memory, boot-services data, runtime data, ACPI reclaim and NVS.
ESRT_TYPES = frozenset({BS_DATA, RT_DATA}) | ACPI_TYPES
register_decoder(EFI_SYSTEM_RESOURCE_TABLE_GUID, decode_esrt, expected_types=ESRT_TYPES, kept=True)
