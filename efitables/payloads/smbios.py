"""SMBIOS 2.x (``_SM_``) and 3.x (``_SM3_``) entry points, and a listing of the
structure table they name.

Layouts: :mod:`efitables.schemas.payloads.smbios`. Checks (SMBIOS DSP0134 3.x
§5.2.1-5.2.2 entry points, §6.1.2-6.1.3 structure header and strings; as Linux
``dmi_present``/``dmi_smbios3_present``, torvalds/linux
drivers/firmware/dmi_scan.c@v6.12.117): anchors, the entry-point
checksum over EntryPointLength bytes (Linux accepts 30-32 for 2.x, 24-32 for
3.x), the ``_DMI_`` intermediate checksum, version (with Linux's fixups), and a
bounded walk of the structure table (formatted area + string set per structure,
until type 127).
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass, field
from typing import TypeVar

from efitables.caps import cap_findings
from efitables.findings import Severity, make, register
from efitables.model import Parsed, Rows, TableView
from efitables.payloads import register_decoder
from efitables.payloads.base import (
    ACPI_TYPES,
    RESERVED,
    RT_DATA,
    DecodeContext,
    Extent,
    Payload,
    check_subregion,
)
from efitables.schemas.payloads.acpi import acpi_checksum
from efitables.schemas.payloads.smbios import (
    SMBIOS3_ANCHOR,
    SMBIOS3_ENTRY_POINT_SIZE,
    SMBIOS_ANCHOR,
    SMBIOS_DMI_ANCHOR,
    SMBIOS_ENTRY_POINT_SIZE,
    SMBIOS_STRUCTURE,
    SMBIOS_STRUCTURE_SIZE,
    SMBIOS_STRUCTURE_STRUCT,
    SMBIOS_TABLE_3_0_ENTRY_POINT,
    SMBIOS_TABLE_ENTRY_POINT,
    SMBIOS_TYPE_END_OF_TABLE,
    smbios_type_name,
)
from efitables.text import hexa, ok_text, printable

SMBIOS_TABLE_GUID = "eb9d2d31-2d88-11d3-9a16-0090273fc14d"
SMBIOS3_TABLE_GUID = "f2fd1544-9794-4a2c-992e-e5bbcf20e394"

#: Largest structure table read (real ones are a few KiB to tens of KiB; SMBIOS 2.x's TableLength is a
#: WORD, so at most 64 KiB).
MAX_TABLE_SIZE = 4 * 1024 * 1024
#: Most structures listed. A large server lists a few hundred (a type 17 memory device and a type 20
#: mapping per DIMM slot, caches and slots per socket); 2.x's NumberOfSmbiosStructures is a WORD.
MAX_STRUCTURES = 1024
#: Strings kept per structure, and characters per string (DSP0134 3.x §6.1.3 asks for at most 64
#: significant bytes a string).
MAX_STRINGS = 64
MAX_STRING_LEN = 256
#: Bytes of strings kept for one table, all structures together (a real table's strings are a few KiB;
#: all of a 2.x table, at most 64 KiB, holds less).
MAX_STRING_BYTES = 32 * 1024

#: Structure types whose strings name the machine (BIOS, system, baseboard, chassis, processor, memory device).
NAMED_TYPES = frozenset({0, 1, 2, 3, 4, 17})

#: Where EDK2 SmbiosDxe allocates the entry point and table.
SMBIOS_TYPES = frozenset({RESERVED, RT_DATA}) | ACPI_TYPES

ANCHOR = register("SMBIOS-ANCHOR", Severity.ERROR, "SMBIOS entry point anchor is wrong")
CHECKSUM = register("SMBIOS-CHECKSUM", Severity.ERROR, "SMBIOS entry point checksum does not sum to 0")
EP_LENGTH = register(
    "SMBIOS-EP-LENGTH",
    Severity.WARNING,
    "SMBIOS entry point length is outside what Linux accepts",
    "EntryPointLength 30-32 (2.x; the spec says 0x1F) or 24-32 (3.x; the spec says 0x18).",
)
DMI_ANCHOR = register("SMBIOS-DMI-ANCHOR", Severity.ERROR, "SMBIOS 2.x intermediate anchor is not '_DMI_'")
DMI_CHECKSUM = register("SMBIOS-DMI-CHECKSUM", Severity.ERROR, "SMBIOS 2.x intermediate checksum does not sum to 0")
VERSION_FIXUP = register(
    "SMBIOS-VERSION-FIXUP",
    Severity.INFO,
    "SMBIOS version is a known-bad value that Linux corrects",
    "2.31 and 2.33 become 2.3, 2.51 becomes 2.6 (dmi_scan.c).",
)
TABLE_EMPTY = register("SMBIOS-TABLE-EMPTY", Severity.WARNING, "SMBIOS structure table address or size is 0")
TABLE_BIG = register("SMBIOS-TABLE-SIZE", Severity.WARNING, "SMBIOS structure table is larger than efitables reads")
STRUCT_LENGTH = register("SMBIOS-STRUCT-LENGTH", Severity.ERROR, "SMBIOS structure length is below 4")
TRUNCATED = register(
    "SMBIOS-TRUNCATED",
    Severity.WARNING,
    "SMBIOS structure runs past the end of the table",
    "A structure's formatted area or its string set (ended by two NULs) does not fit the table length.",
)
TOO_MANY = register("SMBIOS-TOO-MANY", Severity.WARNING, "SMBIOS table holds more structures than efitables lists")
NO_END = register("SMBIOS-NO-END", Severity.INFO, "SMBIOS table has no End-of-Table (type 127) structure")
COUNT = register("SMBIOS-COUNT", Severity.INFO, "SMBIOS 2.x NumberOfSmbiosStructures differs from the structures found")
STRINGS_CAP = register(
    "SMBIOS-STRINGS-CAP",
    Severity.INFO,
    "SMBIOS strings past efitables' budget for one table are not kept",
    "The structures' string sets hold more than MAX_STRING_BYTES bytes in all; the structures past that "
    "point are listed without their strings.",
)
STRUCT_MAX = register(
    "SMBIOS-MAX-STRUCT-SIZE", Severity.INFO, "SMBIOS structure is larger than the entry point's MaxStructureSize"
)


@dataclass(kw_only=True)
class SmbiosStructure(Parsed):
    kind = "SMBIOS_STRUCTURE"

    index: int
    type: int
    type_name: str
    handle: int
    length: int
    strings: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"[{self.index}] type {self.type} {self.type_name} handle {self.handle:#06x}"


@dataclass(kw_only=True)
class SmbiosEntryPoint(Payload):
    kind = "SMBIOS_ENTRY_POINT"

    anchor: str
    checksum_ok: bool
    entry_point_length: int
    major_version: int
    minor_version: int
    doc_rev: int | None
    version: str
    table_address: int
    table_length: int
    max_structure_size: int | None = None
    number_of_structures: int | None = None
    intermediate_checksum_ok: bool | None = None
    table_read: bool = False
    table_used: int = 0
    structures: list[SmbiosStructure] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"SMBIOS {self.version} ({self.anchor}, {len(self.structures)} structures)"

    @property
    def type_counts(self) -> dict[int, int]:
        return dict(sorted(Counter(s.type for s in self.structures).items()))

    def children(self) -> list[Parsed]:
        return list(self.structures)

    def facts(self) -> Rows:
        said = "" if self.number_of_structures is None else f" (entry point says {self.number_of_structures})"
        out = [
            ("anchor", printable(self.anchor)),
            ("version", printable(self.version)),
            ("checksum", ok_text(self.checksum_ok)),
            ("table", f"{hexa(self.table_address)} length {self.table_length:#x} (used {self.table_used:#x})"),
            ("structures", f"{len(self.structures)}{said}"),
            ("types", " ".join(f"{t}x{n}" for t, n in self.type_counts.items())),
        ]
        if self.intermediate_checksum_ok is not None:
            out.insert(3, ("_DMI_ checksum", ok_text(self.intermediate_checksum_ok)))
        return out

    def table_views(self) -> list[TableView]:
        """The first strings of the structures that name the machine (types 0-4 and 17), when any has strings."""
        named: list[tuple[str, ...]] = [
            (str(s.type), printable(s.type_name), f"{s.handle:#06x}", printable(" | ".join(s.strings[:4])))
            for s in self.structures
            if s.type in NAMED_TYPES and s.strings
        ]
        if not named:
            return []
        return [TableView("SMBIOS strings (types 0-4, 17)", ("type", "name", "handle", "strings"), named)]

    def extents(self) -> list[Extent]:
        out = super().extents()
        if self.table_address and self.table_used:
            out.append(Extent("structure table", self.table_address, self.table_used))
        return out

    def to_dict(self, raw: bool = False) -> dict:
        d = super().to_dict(raw)
        d["type_counts"] = {str(k): v for k, v in self.type_counts.items()}
        return d


@dataclass(kw_only=True)
class Smbios3EntryPoint(SmbiosEntryPoint):
    kind = "SMBIOS3_ENTRY_POINT"


def _strings(data: bytes) -> list[str]:
    """The first :data:`MAX_STRINGS` strings of a string set (one split, bounded), each cut to MAX_STRING_LEN."""
    parts = data.split(b"\0", MAX_STRINGS)[:MAX_STRINGS]
    return [s[:MAX_STRING_LEN].decode("utf-8", "backslashreplace") for s in parts]


def walk_table(
    data: bytes, base: int, max_structure_size: int | None = None
) -> tuple[list[SmbiosStructure], int, list]:
    """List the structures in ``data`` (the table at physical ``base``); returns (structures, bytes used, findings)."""
    unpack = struct.Struct(SMBIOS_STRUCTURE_STRUCT).unpack_from
    out: list[SmbiosStructure] = []
    findings: list = []
    off, n, end_seen = 0, len(data), False
    string_bytes, dropped = 0, 0  # bytes of strings kept; structures whose strings were not kept
    while off + SMBIOS_STRUCTURE_SIZE <= n:
        if len(out) >= MAX_STRUCTURES:
            findings.append(make(TOO_MANY, "SMBIOS table", base + off, f"stopped after {MAX_STRUCTURES} structures"))
            break
        t, ln, handle = unpack(data, off)
        where = f"SMBIOS structure [{len(out)}] type {t}"
        if ln < SMBIOS_STRUCTURE_SIZE:
            findings.append(make(STRUCT_LENGTH, where, base + off, f"Length {ln}"))
            break
        if off + ln > n:
            findings.append(
                make(TRUNCATED, where, base + off, f"formatted area of {ln} bytes at +{off:#x} exceeds {n:#x}")
            )
            break
        if data[off + ln : off + ln + 2] == b"\0\0":
            strs, nxt = [], off + ln + 2
        else:
            z = data.find(b"\0\0", off + ln)
            if z < 0:
                findings.append(make(TRUNCATED, where, base + off, "string set has no double-NUL end"))
                break
            strs, nxt = _strings(data[off + ln : z]), z + 2
            kept = sum(len(x) for x in strs)
            if string_bytes + kept > MAX_STRING_BYTES:
                strs, dropped = [], dropped + 1
            else:
                string_bytes += kept
        s = SmbiosStructure(
            address=base + off,
            size=nxt - off,
            raw=data[off:nxt],
            fields={"Type": t, "Length": ln, "Handle": handle},  # struct-decoded: this loop is bulk
            schema=SMBIOS_STRUCTURE,
            index=len(out),
            type=t,
            type_name=smbios_type_name(t),
            handle=handle,
            length=ln,
            strings=strs,
        )
        if max_structure_size and s.size > max_structure_size:
            s.findings.append(
                make(STRUCT_MAX, where, s.address, f"{s.size} bytes > MaxStructureSize {max_structure_size}")
            )
        out.append(s)
        off = nxt
        if t == SMBIOS_TYPE_END_OF_TABLE:
            end_seen = True
            break
    if not end_seen and not any(f.code == TOO_MANY for f in findings):
        findings.append(make(NO_END, "SMBIOS table", base, f"{len(out)} structures, no type 127"))
    if dropped:
        findings.append(
            make(STRINGS_CAP, "SMBIOS table", base, f"strings of {dropped} structures past {MAX_STRING_BYTES} bytes")
        )
    findings.extend(cap_findings((s.findings for s in out), "SMBIOS table", base))
    return out, off, findings


def _read_table(ctx: DecodeContext, ep: SmbiosEntryPoint, exact: bool) -> None:
    addr, length = ep.table_address, ep.table_length
    if addr == 0 or length == 0:
        ep.findings.append(make(TABLE_EMPTY, "SMBIOS table", addr, f"address {addr:#x}, length {length:#x}"))
        return
    if length > MAX_TABLE_SIZE:
        ep.findings.append(make(TABLE_BIG, "SMBIOS table", addr, f"{length:#x} bytes; reading {MAX_TABLE_SIZE:#x}"))
        length = MAX_TABLE_SIZE
    data = ctx.read(addr, length, "SMBIOS structure table", ep.findings if exact else [])
    if data is None and not exact:
        # TableMaximumSize is an upper bound: read what the dump holds of it.
        gap = ctx.mem.first_gap(addr, length)
        if gap is not None and gap[0] > addr:
            data = ctx.read(addr, gap[0] - addr, "SMBIOS structure table", ep.findings)
        else:
            ctx.read(addr, length, "SMBIOS structure table", ep.findings)
    if data is None:
        return
    check_subregion(ctx, addr, length, SMBIOS_TYPES, "SMBIOS structure table", ep.findings)
    ep.table_read = True
    ep.structures, ep.table_used, f = walk_table(data, addr, ep.max_structure_size)
    ep.findings.extend(f)


def _linux_fixup(ver: int) -> int:
    return {0x021F: 0x0203, 0x0221: 0x0203, 0x0233: 0x0206}.get(ver, ver)


_EP = TypeVar("_EP", bound=SmbiosEntryPoint)


def _unreadable(cls: type[_EP], pa: int, findings: list) -> _EP:
    """An entry point whose bytes are not in the dump: an empty record carrying the read finding."""
    ep = cls(
        address=pa,
        size=0,
        anchor="",
        checksum_ok=False,
        entry_point_length=0,
        major_version=0,
        minor_version=0,
        doc_rev=None,
        version="?",
        table_address=0,
        table_length=0,
    )
    ep.findings.extend(findings)
    return ep


def decode_smbios2(ctx: DecodeContext) -> SmbiosEntryPoint:
    pa = ctx.address
    findings: list = []
    raw = ctx.read(pa, SMBIOS_ENTRY_POINT_SIZE, "SMBIOS entry point", findings)
    if raw is None:
        return _unreadable(SmbiosEntryPoint, pa, findings)
    f = SMBIOS_TABLE_ENTRY_POINT.parse(raw)
    ep_len = f["EntryPointLength"]
    ver = _linux_fixup((f["MajorVersion"] << 8) | f["MinorVersion"])
    ep = SmbiosEntryPoint(
        address=pa,
        size=SMBIOS_ENTRY_POINT_SIZE,
        raw=raw,
        fields=f,
        schema=SMBIOS_TABLE_ENTRY_POINT,
        anchor=bytes(f["AnchorString"]).decode("latin-1"),
        checksum_ok=False,
        entry_point_length=ep_len,
        major_version=f["MajorVersion"],
        minor_version=f["MinorVersion"],
        doc_rev=None,
        version=f"{ver >> 8}.{ver & 0xFF}",
        table_address=f["TableAddress"],
        table_length=f["TableLength"],
        max_structure_size=f["MaxStructureSize"],
        number_of_structures=f["NumberOfSmbiosStructures"],
    )
    name = "SMBIOS entry point"
    if bytes(f["AnchorString"]) != SMBIOS_ANCHOR:
        ep.findings.append(make(ANCHOR, name, pa, f"anchor {bytes(f['AnchorString'])!r}, expected '_SM_'"))
        return ep
    if not 30 <= ep_len <= 32:
        ep.findings.append(make(EP_LENGTH, name, pa, f"EntryPointLength {ep_len}"))
    n = min(max(ep_len, 0), 32)
    body = ctx.read(pa, n, name, ep.findings) if n > SMBIOS_ENTRY_POINT_SIZE else raw[:n]
    if body is not None:
        ep.checksum_ok = acpi_checksum(body) == 0
        if not ep.checksum_ok:
            ep.findings.append(make(CHECKSUM, name, pa, f"{n} bytes sum to {acpi_checksum(body):#04x}"))
    if ver != (f["MajorVersion"] << 8) | f["MinorVersion"]:
        ep.findings.append(
            make(VERSION_FIXUP, name, pa, f"{f['MajorVersion']}.{f['MinorVersion']} read as {ep.version}")
        )
    if bytes(f["IntermediateAnchorString"]) != SMBIOS_DMI_ANCHOR:
        ep.findings.append(make(DMI_ANCHOR, name, pa + 0x10, f"{bytes(f['IntermediateAnchorString'])!r}"))
    ep.intermediate_checksum_ok = acpi_checksum(raw[0x10:0x1F]) == 0
    if not ep.intermediate_checksum_ok:
        ep.findings.append(make(DMI_CHECKSUM, name, pa + 0x10, f"15 bytes sum to {acpi_checksum(raw[0x10:0x1F]):#04x}"))
    _read_table(ctx, ep, exact=True)
    if ep.table_read and ep.number_of_structures != len(ep.structures):
        ep.findings.append(
            make(COUNT, name, pa, f"entry point says {ep.number_of_structures}, found {len(ep.structures)}")
        )
    return ep


def decode_smbios3(ctx: DecodeContext) -> Smbios3EntryPoint:
    pa = ctx.address
    findings: list = []
    raw = ctx.read(pa, SMBIOS3_ENTRY_POINT_SIZE, "SMBIOS3 entry point", findings)
    if raw is None:
        return _unreadable(Smbios3EntryPoint, pa, findings)
    f = SMBIOS_TABLE_3_0_ENTRY_POINT.parse(raw)
    ep_len = f["EntryPointLength"]
    ep = Smbios3EntryPoint(
        address=pa,
        size=SMBIOS3_ENTRY_POINT_SIZE,
        raw=raw,
        fields=f,
        schema=SMBIOS_TABLE_3_0_ENTRY_POINT,
        anchor=bytes(f["AnchorString"]).decode("latin-1"),
        checksum_ok=False,
        entry_point_length=ep_len,
        major_version=f["MajorVersion"],
        minor_version=f["MinorVersion"],
        doc_rev=f["DocRev"],
        version=f"{f['MajorVersion']}.{f['MinorVersion']}.{f['DocRev']}",
        table_address=f["TableAddress"],
        table_length=f["TableMaximumSize"],
    )
    name = "SMBIOS3 entry point"
    if bytes(f["AnchorString"]) != SMBIOS3_ANCHOR:
        ep.findings.append(make(ANCHOR, name, pa, f"anchor {bytes(f['AnchorString'])!r}, expected '_SM3_'"))
        return ep
    if not 24 <= ep_len <= 32:
        ep.findings.append(make(EP_LENGTH, name, pa, f"EntryPointLength {ep_len}"))
    n = min(max(ep_len, 0), 32)
    body = ctx.read(pa, n, name, ep.findings) if n > SMBIOS3_ENTRY_POINT_SIZE else raw[:n]
    if body is not None:
        ep.checksum_ok = acpi_checksum(body) == 0
        if not ep.checksum_ok:
            ep.findings.append(make(CHECKSUM, name, pa, f"{n} bytes sum to {acpi_checksum(body):#04x}"))
    _read_table(ctx, ep, exact=False)
    return ep


register_decoder(SMBIOS_TABLE_GUID, decode_smbios2, expected_types=SMBIOS_TYPES)
register_decoder(SMBIOS3_TABLE_GUID, decode_smbios3, expected_types=SMBIOS_TYPES)
