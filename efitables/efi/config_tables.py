"""The EFI_CONFIGURATION_TABLE array the system table points to: decoded once, checked, named.

Layout: ``EFI_CONFIGURATION_TABLE`` (UEFI 2.10 §4.6; tianocore/edk2
MdePkg/Include/Uefi/UefiSpec.h@c5aa7e7d94c0; ``efi_config_table_64_t`` /
``efi_config_table_32_t`` in torvalds/linux include/linux/efi.h@v6.12.117): a
16-byte ``VendorGuid`` then a ``VendorTable`` pointer of the firmware's width,
24 bytes per entry on 64-bit firmware and 20 on 32-bit. :func:`iter_entries` is
the one decoder of that array; both the full parse (:func:`parse_config_tables`)
and the cheap "does this memory hold such an array" check the pointer
translation uses (:func:`looks_like_config_array`) read entries through it.

Checks: at most :data:`MAX_DECODED_TABLES` entries are decoded (one
EFI-SYSTAB-TOO-MANY-TABLES finding says how many more were claimed; the reads are
sized by the cap) and the array stops at the first byte the dump lacks; a GUID
appears once (EDK2's ``CoreInstallConfigurationTable`` in
MdeModulePkg/Core/Dxe/Misc/InstallConfigurationTable.c@c5aa7e7d94c0 replaces an
entry with the same GUID), and a repeated GUID's payload is decoded for its first
entry only (:attr:`ConfigTable.duplicate_of`); ``VendorTable`` is neither NULL nor
all ones (the placeholder EDK2 installs before the Memory Attributes Table is
built: MdeModulePkg/Core/Dxe/Misc/MemoryAttributesTable.c@c5aa7e7d94c0) and lies
in the dump. The entries carry at most :data:`efitables.caps.MAX_FINDINGS_PER_KIND`
findings of each code between them (:func:`efitables.caps.cap_findings`). Entries
stay physical after SetVirtualAddressMap (EDK2 converts only the system table's
own pointers).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from efitables import guids
from efitables.caps import cap_findings, count_cap
from efitables.errors import MemoryReadError
from efitables.findings import Severity, make, register
from efitables.memory.base import PhysicalMemory
from efitables.model import Parsed
from efitables.schemas.common import NULL_GUID, guid_from_bytes
from efitables.schemas.efi_tables import EFI_CONFIGURATION_TABLE_32, EFI_CONFIGURATION_TABLE_64

#: The largest ``NumberOfTableEntries`` believed at all: the signature scan rejects a system table
#: claiming more, and the kexec coverage models size the array the kernel maps with at most this many.
MAX_CONFIG_TABLES = 1024
#: Entries decoded. Real firmware installs 5-40 tables (OVMF about 10, laptops 15-30); EDK2 grows the
#: array 16 entries at a time (``CONFIG_TABLE_SIZE_INCREASED`` in
#: MdeModulePkg/Core/Dxe/Misc/InstallConfigurationTable.c@c5aa7e7d94c0), so 256 is 16 growths past any seen.
MAX_DECODED_TABLES = 256
#: Entries :func:`looks_like_config_array` reads.
MAX_CHECKED_ENTRIES = 64

SYSTAB_TOO_MANY = register("EFI-SYSTAB-TOO-MANY-TABLES", Severity.ERROR, "NumberOfTableEntries is absurdly large")
CFG_ARRAY_UNREADABLE = register(
    "EFI-CFGTAB-ARRAY-UNREADABLE", Severity.ERROR, "The configuration table array is not (fully) in the dump"
)
CFG_NULL = register("EFI-CFGTAB-NULL", Severity.WARNING, "A configuration table's VendorTable is NULL")
CFG_PLACEHOLDER = register(
    "EFI-CFGTAB-PLACEHOLDER",
    Severity.WARNING,
    "A configuration table's VendorTable is all ones (EDK2's not-yet-valid placeholder)",
)
CFG_NULL_GUID = register("EFI-CFGTAB-NULL-GUID", Severity.WARNING, "A configuration table has the all-zero GUID")
CFG_DUPLICATE = register(
    "EFI-CFGTAB-DUPLICATE-GUID", Severity.WARNING, "A GUID appears more than once in the configuration table array"
)
CFG_DANGLING = register(
    "EFI-CFGTAB-NOT-IN-DUMP", Severity.WARNING, "A configuration table's VendorTable points outside the dump"
)
CFG_UNKNOWN = register("EFI-CFGTAB-UNKNOWN-GUID", Severity.INFO, "A configuration table GUID has no known name")

#: ``(VendorGuid, VendorTable)`` per firmware width.
_ENTRY = {64: struct.Struct("<16sQ"), 32: struct.Struct("<16sI")}
_ALL_ONES_GUID = guid_from_bytes(b"\xff" * 16)


# -- the one decoder of the array ------------------------------------------------
class RawEntry(NamedTuple):
    """One decoded ``EFI_CONFIGURATION_TABLE`` entry."""

    slot: int  # index in the array
    offset: int  # inside the array
    guid: str
    table: int  # VendorTable


def _entry(bits: int) -> struct.Struct:
    return _ENTRY[64 if bits == 64 else 32]


def entry_size(bits: int) -> int:
    """Bytes per entry: 24 on 64-bit firmware, 20 on 32-bit."""
    return _entry(bits).size


def iter_entries(raw: bytes, count: int, bits: int) -> Iterator[RawEntry]:
    """The first ``count`` entries of the array in ``raw`` (whole entries only), in order."""
    entry = _entry(bits)
    for i in range(min(count, len(raw) // entry.size)):
        off = i * entry.size
        g, table = entry.unpack_from(raw, off)
        yield RawEntry(i, off, guid_from_bytes(g), table)


def looks_like_config_array(mem: PhysicalMemory, pa: int, count: int, bits: int) -> bool:
    """Whether ``pa`` holds a plausible array: non-blank GUIDs and tables, mostly known GUIDs.

    Reads at most :data:`MAX_CHECKED_ENTRIES` entries; used to accept or reject a
    candidate translation of the system table's ``ConfigurationTable`` pointer.
    """
    n = min(count, MAX_CHECKED_ENTRIES)
    if n == 0:
        return False
    try:
        raw = mem.read(pa, n * entry_size(bits))
    except MemoryReadError:
        return False
    known = 0
    for e in iter_entries(raw, n, bits):
        if e.guid in (NULL_GUID, _ALL_ONES_GUID) or e.table == 0:
            return False  # zero-filled or erased memory is no configuration table array
        known += guids.lookup(e.guid) is not None
    return known * 2 >= n  # most GUIDs are known ones


# -- results -------------------------------------------------------------------------
@dataclass(kw_only=True)
class ConfigTable(Parsed):
    kind = "EFI_CONFIGURATION_TABLE"

    index: int
    guid: str
    name: str | None
    source: str | None
    table_address: int
    readable: bool
    payload: Parsed | None = None
    #: Index of an earlier entry with the same GUID (its payload is decoded there, not again here).
    duplicate_of: int | None = field(default=None, repr=False)

    @property
    def title(self) -> str:
        return f"[{self.index}] {self.name or 'unknown GUID ' + self.guid}"

    def children(self) -> list[Parsed]:
        return [self.payload] if self.payload is not None else []


@dataclass(kw_only=True)
class ConfigTableArray(Parsed):
    kind = "EFI_CONFIGURATION_TABLE_ARRAY"

    entry_size: int
    count: int
    entries: list[ConfigTable] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"Configuration tables ({len(self.entries)})"

    def children(self) -> list[Parsed]:
        return list(self.entries)


# -- the full parse --------------------------------------------------------------------
def parse_config_tables(mem: PhysicalMemory, pa: int, count: int, bits: int) -> ConfigTableArray:
    """Read ``count`` entries at ``pa`` (at most :data:`MAX_DECODED_TABLES`; stops at the first unreadable entry)."""
    esize = entry_size(bits)
    schema = EFI_CONFIGURATION_TABLE_64 if bits == 64 else EFI_CONFIGURATION_TABLE_32
    name = "EFI_CONFIGURATION_TABLE array"
    arr = ConfigTableArray(address=pa, size=count * esize, entry_size=esize, count=count)
    n, too_many = count_cap(count, MAX_DECODED_TABLES, SYSTAB_TOO_MANY, name, pa, f"NumberOfTableEntries {count:#x}")
    if too_many is not None:
        arr.findings.append(too_many)
    readable = n
    gap = mem.first_gap(pa, n * esize)
    if gap is not None:
        readable = max(0, (gap[0] - pa) // esize)
        arr.findings.append(
            make(
                CFG_ARRAY_UNREADABLE,
                name,
                pa,
                f"only {readable} of {n} entries are in the dump; {gap[0]:#x}-{gap[1]:#x} is missing",
            )
        )
    raw = mem.read(pa, readable * esize, structure=name) if readable else b""
    arr.raw = raw
    seen: dict[str, int] = {}
    all_ones = (1 << bits) - 1
    for i, off, g, table in iter_entries(raw, readable, bits):
        known = guids.lookup(g)
        ent = ConfigTable(
            address=pa + off,
            size=esize,
            raw=raw[off : off + esize],
            schema=schema,
            fields={"VendorGuid": g, "VendorTable": table},
            index=i,
            guid=g,
            name=known.name if known else None,
            source=known.source if known else None,
            table_address=table,
            readable=mem.is_readable(table, 1) if table else False,
        )
        ename = f"configuration table [{i}] {ent.name or g}"
        if g == NULL_GUID:
            ent.findings.append(make(CFG_NULL_GUID, ename, ent.address, "VendorGuid is all zeros"))
        elif known is None:
            ent.findings.append(make(CFG_UNKNOWN, ename, ent.address, f"GUID {g} is not in the GUID registry"))
        if g in seen:
            ent.duplicate_of = seen[g]
            why = f"same GUID as entry [{seen[g]}] (its payload is decoded there)"
            ent.findings.append(make(CFG_DUPLICATE, ename, ent.address, why))
        else:
            seen[g] = i
        if table == 0:
            ent.findings.append(make(CFG_NULL, ename, ent.address, "VendorTable is NULL"))
        elif table == all_ones:
            ent.findings.append(make(CFG_PLACEHOLDER, ename, ent.address, "VendorTable is all ones"))
        elif not ent.readable:
            ent.findings.append(
                make(
                    CFG_DANGLING,
                    ename,
                    ent.address,
                    f"VendorTable {table:#x} is not in the dump (hole or beyond its end)",
                )
            )
        arr.entries.append(ent)
    arr.findings.extend(cap_findings((e.findings for e in arr.entries), name, pa))
    return arr
