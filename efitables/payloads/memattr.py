"""EFI_MEMORY_ATTRIBUTES_TABLE, EFI_PROPERTIES_TABLE and EFI_RT_PROPERTIES_TABLE.

Layouts: :mod:`efitables.schemas.payloads.memattr`. Memory attributes checks
(UEFI 2.10 §4.6 ``EFI_MEMORY_ATTRIBUTES_TABLE``; as Linux ``entry_is_valid``,
torvalds/linux drivers/firmware/efi/memattr.c@v6.12.117): version 1 or 2,
DescriptorSize >= 40 and a multiple of 8, each entry RuntimeServicesCode or
Data with EFI_MEMORY_RUNTIME, page-aligned and non-empty, inside one runtime
entry of the EFI memory map of the same type; no two entries overlapping.
"""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass, field

from efitables.caps import cap_findings, count_cap
from efitables.efi.memmap import MemoryDescriptor
from efitables.findings import Finding, Severity, make, register
from efitables.model import Parsed, Rows, TableView
from efitables.payloads import register_decoder
from efitables.payloads.base import ACPI_TYPES, BS_DATA, RT_CODE, RT_DATA, RUNTIME_TYPES, DecodeContext, Payload
from efitables.schemas.efi_memmap import (
    EFI_MEMORY_ATTRIBUTE,
    EFI_MEMORY_DESCRIPTOR,
    EFI_MEMORY_DESCRIPTOR_STRUCT,
    EFI_MEMORY_RUNTIME,
    EFI_PAGE_SIZE,
    attribute_names,
    descriptor_size_plausible,
    type_name,
)
from efitables.schemas.payloads.memattr import (
    EFI_MEMORY_ATTRIBUTES_FLAGS_RT_FORWARD_CONTROL_FLOW_GUARD,
    EFI_MEMORY_ATTRIBUTES_TABLE,
    EFI_MEMORY_ATTRIBUTES_TABLE_HEADER_SIZE,
    EFI_PROPERTIES_TABLE,
    EFI_PROPERTIES_TABLE_VERSION,
    EFI_RT_PROPERTIES_TABLE,
    EFI_RT_PROPERTIES_TABLE_VERSION,
    EFI_RT_SUPPORTED_ALL,
    rt_supported_names,
)

EFI_MEMORY_ATTRIBUTES_TABLE_GUID = "dcfa911d-26eb-469f-a220-38b7dc461220"
EFI_PROPERTIES_TABLE_GUID = "880aaca3-4adc-4a04-9079-b747340825e5"
EFI_RT_PROPERTIES_TABLE_GUID = "eb66918a-7eef-402a-842e-931d21c38ae9"

#: Entries read. Real tables hold tens (one per section of each runtime image: a few dozen runtime
#: drivers, two or three sections each).
MAX_ENTRIES = 1024
_RO = EFI_MEMORY_ATTRIBUTE["EFI_MEMORY_RO"]
_XP = EFI_MEMORY_ATTRIBUTE["EFI_MEMORY_XP"]

MA_VERSION = register(
    "MEMATTR-VERSION",
    Severity.WARNING,
    "Memory attributes table version is not 1 or 2",
    "Linux v6.12 ignores the table when Version > 2.",
)
MA_ZERO = register(
    "MEMATTR-ZERO",
    Severity.WARNING,
    "Memory attributes table header is all zeros",
    "The configuration table still names the table but its bytes are zero: wiped or reused memory "
    "(seen in the dump of a kexec'd kernel). There is nothing to apply.",
)
MA_DESC_SIZE = register(
    "MEMATTR-DESC-SIZE",
    Severity.ERROR,
    "Memory attributes descriptor size is below 40, above 4096 or not a multiple of 8",
)
MA_TOO_MANY = register(
    "MEMATTR-TOO-MANY", Severity.ERROR, "Memory attributes table claims more entries than efitables reads"
)
MA_FLAGS = register("MEMATTR-FLAGS", Severity.INFO, "Memory attributes table sets unknown flag bits")
MA_TYPE = register("MEMATTR-ENTRY-TYPE", Severity.WARNING, "Memory attributes entry is not RuntimeServicesCode/Data")
MA_RUNTIME = register("MEMATTR-ENTRY-RUNTIME", Severity.WARNING, "Memory attributes entry lacks EFI_MEMORY_RUNTIME")
MA_WX = register(
    "MEMATTR-ENTRY-WX",
    Severity.INFO,
    "Memory attributes entry is both writable and executable",
    "Neither EFI_MEMORY_RO nor EFI_MEMORY_XP is set: the region stays W+X after Linux applies the table.",
)
MA_ALIGN = register("MEMATTR-ENTRY-ALIGN", Severity.WARNING, "Memory attributes entry is empty or not page-aligned")
MA_OUTSIDE = register(
    "MEMATTR-ENTRY-OUTSIDE",
    Severity.WARNING,
    "Memory attributes entry is not inside one runtime EFI memory map entry of the same type",
    "Linux (memattr.c entry_is_valid) skips such entries.",
)
MA_OVERLAP = register("MEMATTR-OVERLAP", Severity.WARNING, "Memory attributes entries overlap")
PROP_VERSION = register(
    "EFI-PROPERTIES-VERSION", Severity.WARNING, "EFI_PROPERTIES_TABLE version or length is unexpected"
)
RTPROP_VERSION = register("RTPROP-VERSION", Severity.WARNING, "EFI_RT_PROPERTIES_TABLE version or length is unexpected")
RTPROP_BITS = register(
    "RTPROP-BITS", Severity.WARNING, "EFI_RT_PROPERTIES_TABLE sets bits above RuntimeServicesSupported bit 13"
)


@dataclass(kw_only=True)
class MemoryAttributesTable(Payload):
    kind = "EFI_MEMORY_ATTRIBUTES_TABLE"

    version: int
    number_of_entries: int
    descriptor_size: int
    flags: int
    forward_cfi: bool
    entries: list[MemoryDescriptor] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"Memory attributes table v{self.version} ({self.number_of_entries} entries)"

    def children(self) -> list[Parsed]:
        return list(self.entries)

    def facts(self) -> Rows:
        return [
            ("version", str(self.version)),
            ("entries", str(self.number_of_entries)),
            ("descriptor size", str(self.descriptor_size)),
            ("flags", f"{self.flags:#x}"),
            ("forward CFI (IBT/BTI)", str(self.forward_cfi)),
        ]

    def table_views(self) -> list[TableView]:
        """The entries read: type, physical range and attribute names (``EFI_``/``EFI_MEMORY_`` prefixes dropped)."""
        ents: list[tuple[str, ...]] = [
            (
                str(e.index),
                e.type_name.removeprefix("EFI_"),
                f"{e.physical_start:#x}-{e.physical_end:#x}",
                " ".join(n.removeprefix("EFI_MEMORY_") for n in e.attribute_names),
            )
            for e in self.entries
        ]
        return [TableView(f"Memory attributes entries ({len(ents)})", ("#", "type", "physical", "attributes"), ents)]


def decode_memattr(ctx: DecodeContext) -> MemoryAttributesTable:
    pa, name = ctx.address, "EFI memory attributes table"
    findings: list = []
    raw = ctx.read(pa, EFI_MEMORY_ATTRIBUTES_TABLE_HEADER_SIZE, name, findings)
    if raw is None:
        t = MemoryAttributesTable(
            address=pa, size=0, version=0, number_of_entries=0, descriptor_size=0, flags=0, forward_cfi=False
        )
        t.findings.extend(findings)
        return t
    h = EFI_MEMORY_ATTRIBUTES_TABLE.parse(raw)
    t = MemoryAttributesTable(
        address=pa,
        size=EFI_MEMORY_ATTRIBUTES_TABLE_HEADER_SIZE,
        raw=raw,
        fields=h,
        schema=EFI_MEMORY_ATTRIBUTES_TABLE,
        version=h["Version"],
        number_of_entries=h["NumberOfEntries"],
        descriptor_size=h["DescriptorSize"],
        flags=h["Flags"],
        forward_cfi=h["Version"] > 1 and bool(h["Flags"] & EFI_MEMORY_ATTRIBUTES_FLAGS_RT_FORWARD_CONTROL_FLOW_GUARD),
    )
    if not any(raw):
        if ctx.memmap is not None and ctx.runtime_only_map:
            # A kexec'd kernel: the first kernel kept the table with memblock_reserve() only
            # (drivers/firmware/efi/memattr.c@v6.1 efi_memattr_init), which does not survive kexec, so its
            # bytes are RAM the next kernel or kexec's segments may reuse; Linux takes a zero table as empty
            # (Version 0, no entries: efi_memattr_apply_permissions changes nothing).
            t.findings.append(
                dataclasses.replace(
                    make(MA_ZERO, name, pa, "16 zero bytes (after kexec: the table's memory is not kept across kexec)"),
                    severity=Severity.INFO,
                )
            )
            return t
        t.findings.append(make(MA_ZERO, name, pa, "16 zero bytes"))
        return t
    if t.version not in (1, 2):
        t.findings.append(make(MA_VERSION, name, pa, f"Version {t.version}"))
    if t.version > 1 and t.flags & ~EFI_MEMORY_ATTRIBUTES_FLAGS_RT_FORWARD_CONTROL_FLOW_GUARD:
        t.findings.append(make(MA_FLAGS, name, pa, f"Flags {t.flags:#x}"))
    ds = t.descriptor_size
    if not descriptor_size_plausible(ds):
        t.findings.append(make(MA_DESC_SIZE, name, pa, f"DescriptorSize {ds}"))
        return t
    count, too_many = count_cap(t.number_of_entries, MAX_ENTRIES, MA_TOO_MANY, name, pa,
                                f"NumberOfEntries {t.number_of_entries:#x}")  # fmt: skip
    if too_many is not None:
        t.findings.append(too_many)
    body = ctx.read(pa + EFI_MEMORY_ATTRIBUTES_TABLE_HEADER_SIZE, count * ds, f"{name} entries", t.findings)
    if body is None:
        return t
    t.size = EFI_MEMORY_ATTRIBUTES_TABLE_HEADER_SIZE + count * ds
    t.raw = raw + body
    unpack = struct.Struct(EFI_MEMORY_DESCRIPTOR_STRUCT).unpack_from
    for i in range(count):
        off = i * ds
        typ, _pad, ps, vs, pages, attr = unpack(body, off)
        d = MemoryDescriptor(
            address=pa + EFI_MEMORY_ATTRIBUTES_TABLE_HEADER_SIZE + off,
            size=ds,
            raw=body[off : off + ds],
            schema=EFI_MEMORY_DESCRIPTOR,
            index=i,
            type=typ,
            type_name=type_name(typ),
            physical_start=ps,
            virtual_start=vs,
            number_of_pages=pages,
            attribute=attr,
            attribute_names=attribute_names(attr),
        )
        dn = f"memory attributes entry [{i}]"
        if typ not in (RT_CODE, RT_DATA):
            d.findings.append(make(MA_TYPE, dn, d.address, f"type {d.type_name}"))
        if not attr & EFI_MEMORY_RUNTIME:
            d.findings.append(make(MA_RUNTIME, dn, d.address, f"attributes {attr:#x}"))
        if not attr & (_RO | _XP):
            d.findings.append(make(MA_WX, dn, d.address, f"{ps:#x}-{d.physical_end:#x} has neither RO nor XP"))
        if pages == 0 or ps % EFI_PAGE_SIZE or ps + pages * EFI_PAGE_SIZE > 1 << 64:
            d.findings.append(make(MA_ALIGN, dn, d.address, f"{pages:#x} pages at {ps:#x}"))
        elif ctx.memmap is not None:
            m = ctx.memmap.lookup(ps)
            if m is None or m.type != typ or not m.is_runtime or d.physical_end > m.physical_end:
                where = (
                    "no memory map entry"
                    if m is None
                    else f"map entry [{m.index}] {m.type_name} {m.physical_start:#x}-{m.physical_end:#x}"
                )
                d.findings.append(make(MA_OUTSIDE, dn, d.address, f"{ps:#x}-{d.physical_end:#x}: {where}"))
        t.entries.append(d)
    overlaps: list[Finding] = []
    prev: MemoryDescriptor | None = None
    for d in sorted(t.entries, key=lambda d: d.physical_start):
        if d.number_of_pages == 0:
            continue
        if prev is not None and d.physical_start < prev.physical_end:
            overlaps.append(make(MA_OVERLAP, name, d.address, f"entry [{d.index}] overlaps [{prev.index}]"))
        if prev is None or d.physical_end > prev.physical_end:
            prev = d
    summaries = cap_findings([*(d.findings for d in t.entries), overlaps], name, pa)
    t.findings.extend(overlaps)
    t.findings.extend(summaries)
    return t


@dataclass(kw_only=True)
class PropertiesTable(Payload):
    kind = "EFI_PROPERTIES_TABLE"

    version: int
    length: int
    memory_protection_attribute: int
    non_executable_pe_data: bool

    @property
    def title(self) -> str:
        return f"EFI properties table (non-executable PE data: {self.non_executable_pe_data})"


def decode_properties(ctx: DecodeContext) -> PropertiesTable:
    pa, name = ctx.address, "EFI_PROPERTIES_TABLE"
    findings: list = []
    raw = ctx.read(pa, 16, name, findings)
    if raw is None:
        p = PropertiesTable(
            address=pa, size=0, version=0, length=0, memory_protection_attribute=0, non_executable_pe_data=False
        )
        p.findings.extend(findings)
        return p
    f = EFI_PROPERTIES_TABLE.parse(raw)
    p = PropertiesTable(
        address=pa,
        size=16,
        raw=raw,
        fields=f,
        schema=EFI_PROPERTIES_TABLE,
        version=f["version"],
        length=f["length"],
        memory_protection_attribute=f["memory_protection_attribute"],
        non_executable_pe_data=bool(f["memory_protection_attribute"] & 1),
    )
    if p.version != EFI_PROPERTIES_TABLE_VERSION or p.length != 16:
        p.findings.append(make(PROP_VERSION, name, pa, f"version {p.version:#x}, length {p.length}"))
    return p


@dataclass(kw_only=True)
class RtPropertiesTable(Payload):
    kind = "EFI_RT_PROPERTIES_TABLE"

    version: int
    length: int
    runtime_services_supported: int
    supported: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"runtime properties ({len(self.supported)} of 14 runtime services supported)"


def decode_rt_properties(ctx: DecodeContext) -> RtPropertiesTable:
    pa, name = ctx.address, "EFI_RT_PROPERTIES_TABLE"
    findings: list = []
    raw = ctx.read(pa, 8, name, findings)
    if raw is None:
        p = RtPropertiesTable(address=pa, size=0, version=0, length=0, runtime_services_supported=0)
        p.findings.extend(findings)
        return p
    f = EFI_RT_PROPERTIES_TABLE.parse(raw)
    mask = f["RuntimeServicesSupported"]
    p = RtPropertiesTable(
        address=pa,
        size=8,
        raw=raw,
        fields=f,
        schema=EFI_RT_PROPERTIES_TABLE,
        version=f["Version"],
        length=f["Length"],
        runtime_services_supported=mask,
        supported=rt_supported_names(mask),
        unsupported=rt_supported_names(~mask & EFI_RT_SUPPORTED_ALL),
    )
    if p.version != EFI_RT_PROPERTIES_TABLE_VERSION or p.length != 8:
        p.findings.append(make(RTPROP_VERSION, name, pa, f"Version {p.version}, Length {p.length}"))
    if mask & ~EFI_RT_SUPPORTED_ALL:
        p.findings.append(make(RTPROP_BITS, name, pa, f"RuntimeServicesSupported {mask:#x}"))
    return p


#: EDK2 allocates the table from pool (boot-services data); Linux memblock-reserves it.
MEMATTR_TYPES = RUNTIME_TYPES | ACPI_TYPES | {BS_DATA}
register_decoder(EFI_MEMORY_ATTRIBUTES_TABLE_GUID, decode_memattr, expected_types=MEMATTR_TYPES, kept=True)
register_decoder(EFI_PROPERTIES_TABLE_GUID, decode_properties, expected_types=RUNTIME_TYPES | ACPI_TYPES)
register_decoder(EFI_RT_PROPERTIES_TABLE_GUID, decode_rt_properties, expected_types=RUNTIME_TYPES | ACPI_TYPES)
