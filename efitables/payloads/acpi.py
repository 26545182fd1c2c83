"""ACPI RSDP (ACPI 1.0 and 2.0+ GUIDs), the RSDT/XSDT it names, and the header
of every table those list.

Layouts: :mod:`efitables.schemas.payloads.acpi`. Checks (ACPI 6.5 §5.2.5.3 RSDP,
§5.2.6 header, §5.2.7-5.2.8 RSDT/XSDT; as ACPICA ``acpi_tb_validate_rsdp``,
torvalds/linux drivers/acpi/acpica/tbxfroot.c@v6.12.117): signature, the 20-byte checksum, for
revision >= 2 the 36-byte extended checksum and Length; RSDT/XSDT signature,
checksum and a length that is the header plus whole entries; each listed
table's header and checksum.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from efitables.findings import Severity, make, register
from efitables.model import Parsed, Rows, TableView
from efitables.payloads import register_decoder
from efitables.payloads.base import (
    ACPI_TYPES,
    DecodeContext,
    Extent,
    Payload,
    check_subregion,
    is_printable,
    text_field,
)
from efitables.schemas.payloads.acpi import (
    EFI_ACPI_1_0_ROOT_SYSTEM_DESCRIPTION_POINTER,
    EFI_ACPI_2_0_ROOT_SYSTEM_DESCRIPTION_POINTER,
    EFI_ACPI_DESCRIPTION_HEADER,
    RSDP_SIGNATURE,
    RSDP_V1_SIZE,
    RSDP_V2_SIZE,
    SDT_HEADER_SIZE,
    acpi_checksum,
)
from efitables.text import hexa, ok_text, printable

ACPI_TABLE_GUID = "eb9d2d30-2d88-11d3-9a16-0090273fc14d"
ACPI_20_TABLE_GUID = "8868e871-e4f1-11d3-bc22-0080c73c8881"

#: An RSDT/XSDT with more entries than this is not believed (real ones hold 5-40).
MAX_SDT_ENTRIES = 1024
#: Largest RSDT/XSDT read (header + MAX_SDT_ENTRIES 64-bit entries, rounded up).
MAX_SDT_LENGTH = SDT_HEADER_SIZE + 8 * MAX_SDT_ENTRIES
#: Largest listed table whose checksum is computed (DSDTs reach a few hundred KiB).
MAX_TABLE_LENGTH = 16 * 1024 * 1024
#: Most bytes of listed tables read for checksums per RSDP (each table is summed once).
MAX_CHECKSUM_BYTES = 64 * 1024 * 1024

RSDP_SIG = register("ACPI-RSDP-SIGNATURE", Severity.ERROR, "ACPI RSDP signature is not 'RSD PTR '")
RSDP_CHECKSUM = register("ACPI-RSDP-CHECKSUM", Severity.ERROR, "ACPI RSDP checksum (first 20 bytes) does not sum to 0")
RSDP_XCHECKSUM = register(
    "ACPI-RSDP-XCHECKSUM", Severity.ERROR, "ACPI RSDP extended checksum (36 bytes) does not sum to 0"
)
RSDP_REVISION = register(
    "ACPI-RSDP-REVISION",
    Severity.WARNING,
    "ACPI RSDP revision is neither 0 nor 2",
    "Revision 0 is ACPI 1.0 (20 bytes), 2 is ACPI 2.0 and later; ACPICA treats any value >= 2 as 2.0+.",
)
RSDP_LENGTH = register("ACPI-RSDP-LENGTH", Severity.WARNING, "ACPI 2.0 RSDP Length is not 36")
RSDP_OEMID = register("ACPI-RSDP-OEMID", Severity.INFO, "ACPI RSDP OEM ID has non-printable bytes")
RSDP_GUID = register("ACPI-RSDP-GUID", Severity.WARNING, "ACPI 2.0 configuration table names a revision-0 RSDP")
RSDP_NO_SDT = register("ACPI-RSDP-NO-SDT", Severity.WARNING, "ACPI RSDP names neither an RSDT nor an XSDT")
SDT_SIG = register("ACPI-SDT-SIGNATURE", Severity.ERROR, "ACPI RSDT/XSDT has the wrong signature")
SDT_CHECKSUM = register("ACPI-SDT-CHECKSUM", Severity.ERROR, "ACPI RSDT/XSDT checksum does not sum to 0")
SDT_LENGTH = register(
    "ACPI-SDT-LENGTH",
    Severity.ERROR,
    "ACPI RSDT/XSDT length is implausible",
    "Length is below the 36-byte header, not the header plus whole entries, or larger than "
    "efitables believes (MAX_SDT_ENTRIES); only what fits the cap is read.",
)
TABLE_NULL = register("ACPI-TABLE-NULL", Severity.WARNING, "ACPI RSDT/XSDT entry is 0")
TABLE_CHECKSUM = register("ACPI-TABLE-CHECKSUM", Severity.WARNING, "ACPI table checksum does not sum to 0")
TABLE_LENGTH = register("ACPI-TABLE-LENGTH", Severity.WARNING, "ACPI table length is implausible")
TABLE_SIG = register("ACPI-TABLE-SIGNATURE", Severity.WARNING, "ACPI table signature is not 4 printable characters")
TABLE_BUDGET = register(
    "ACPI-TABLE-BUDGET",
    Severity.INFO,
    "ACPI table checksums skipped: the listed tables exceed efitables' read budget",
    "The RSDT/XSDT list more table bytes than MAX_CHECKSUM_BYTES; the remaining headers are shown unchecked.",
)
RSDT_XSDT_MISMATCH = register(
    "ACPI-RSDT-XSDT-MISMATCH",
    Severity.INFO,
    "ACPI RSDT and XSDT list different tables",
    "ACPI 2.0+ operating systems use the XSDT; an RSDT listing other tables is a firmware inconsistency.",
)


@dataclass(kw_only=True)
class AcpiHeader(Parsed):
    """EFI_ACPI_DESCRIPTION_HEADER's fields, and whether the table's checksum holds."""

    signature: str
    length: int
    revision: int
    checksum_ok: bool | None
    oem_id: str
    oem_table_id: str
    oem_revision: int
    creator_id: str
    creator_revision: int


@dataclass(kw_only=True)
class AcpiTableHeader(AcpiHeader):
    """A table listed by the RSDT/XSDT: its header, and whether its checksum holds."""

    kind = "ACPI_TABLE"

    index: int

    @property
    def title(self) -> str:
        return f"[{self.index}] {self.signature} ({self.length} bytes)"


def _header_fields(h: dict) -> dict:
    return {
        "signature": text_field(h["Signature"]),
        "length": h["Length"],
        "revision": h["Revision"],
        "oem_id": text_field(h["OemId"]),
        "oem_table_id": text_field(h["OemTableId"]),
        "oem_revision": h["OemRevision"],
        "creator_id": text_field(h["CreatorId"]),
        "creator_revision": h["CreatorRevision"],
    }


@dataclass(kw_only=True)
class AcpiSdt(AcpiHeader):
    """The RSDT (32-bit entries) or XSDT (64-bit entries)."""

    kind = "ACPI_SDT"

    entry_count: int
    entries: list[int] = field(default_factory=list)
    #: The header of each table the entries name (``"tables"`` in :meth:`to_dict`).
    listed: list[AcpiTableHeader] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{self.signature} ({self.entry_count} tables: {' '.join(self.signatures)})"

    @property
    def signatures(self) -> list[str]:
        return [t.signature for t in self.listed]

    def children(self) -> list[Parsed]:
        return list(self.listed)

    def to_dict(self, raw: bool = False) -> dict:
        return {("tables" if k == "listed" else k): v for k, v in super().to_dict(raw).items()}

    def table_views(self) -> list[TableView]:
        """The listed tables' headers, titled with this table's address, entry count and checksum."""
        view = TableView(
            f"{printable(self.signature)} @ {hexa(self.address)}: {self.entry_count} entries, "
            f"checksum {ok_text(self.checksum_ok)}",
            ("#", "signature", "address", "length", "checksum", "OEM", "OEM table"),
            [
                (
                    str(t.index),
                    printable(t.signature),
                    hexa(t.address),
                    f"{t.length:#x}",
                    ok_text(t.checksum_ok),
                    printable(t.oem_id),
                    printable(t.oem_table_id),
                )
                for t in self.listed
            ],
        )
        return [view]


@dataclass(kw_only=True)
class Rsdp(Payload):
    kind = "ACPI_RSDP"

    signature: str
    checksum_ok: bool
    oem_id: str
    revision: int
    rsdt_address: int
    length: int | None = None
    xsdt_address: int | None = None
    extended_checksum_ok: bool | None = None
    rsdt: AcpiSdt | None = None
    xsdt: AcpiSdt | None = None

    @property
    def title(self) -> str:
        return f"ACPI RSDP rev {self.revision} OEM {self.oem_id!r}"

    def children(self) -> list[Parsed]:
        return [t for t in (self.xsdt, self.rsdt) if t is not None]

    def facts(self) -> Rows:
        return [
            ("signature", printable(self.signature)),
            ("OEM ID", printable(self.oem_id)),
            ("revision", str(self.revision)),
            ("checksum", ok_text(self.checksum_ok)),
            ("extended checksum", ok_text(self.extended_checksum_ok)),
            ("RsdtAddress", hexa(self.rsdt_address)),
            ("XsdtAddress", hexa(self.xsdt_address)),
        ]

    def table_views(self) -> list[TableView]:
        """The tables the XSDT, then the RSDT, list: one row per header."""
        return [v for sdt in (self.xsdt, self.rsdt) if sdt is not None for v in sdt.table_views()]

    def extents(self) -> list[Extent]:
        out = super().extents()
        for sdt in (self.rsdt, self.xsdt):
            if sdt is None or sdt.address is None:
                continue
            out.append(Extent(sdt.signature or "SDT", sdt.address, min(sdt.length, MAX_SDT_LENGTH)))
            out.extend(
                Extent(t.signature, t.address, t.length)
                for t in sdt.listed
                if t.address is not None and 0 < t.length <= MAX_TABLE_LENGTH
            )
        return out


def _read_table_header(ctx: DecodeContext, pa: int, index: int, where: str, findings: list) -> AcpiTableHeader | None:
    raw = ctx.read(pa, SDT_HEADER_SIZE, f"ACPI table [{index}] from {where}", findings)
    if raw is None:
        return None
    h = EFI_ACPI_DESCRIPTION_HEADER.parse(raw)
    t = AcpiTableHeader(
        address=pa,
        size=SDT_HEADER_SIZE,
        raw=raw,
        fields=h,
        schema=EFI_ACPI_DESCRIPTION_HEADER,
        index=index,
        checksum_ok=None,
        **_header_fields(h),
    )
    name = f"ACPI table {t.signature!r} [{index}]"
    if not is_printable(h["Signature"]) or b"\0" in h["Signature"]:
        t.findings.append(make(TABLE_SIG, name, pa, f"signature bytes {bytes(h['Signature']).hex()}"))
    if t.length < SDT_HEADER_SIZE or t.length > MAX_TABLE_LENGTH:
        t.findings.append(make(TABLE_LENGTH, name, pa, f"Length {t.length:#x}"))
        return t
    check_subregion(ctx, pa, t.length, ACPI_TYPES, name, t.findings)
    sums: dict[tuple[int, int], int | None] = ctx.scratch.setdefault("acpi_sums", {})
    if (pa, t.length) not in sums:
        spent = ctx.scratch.get("acpi_bytes", 0)
        if spent + t.length > MAX_CHECKSUM_BYTES:
            t.findings.append(make(TABLE_BUDGET, name, pa, f"{spent:#x} bytes already summed"))
            return t
        ctx.scratch["acpi_bytes"] = spent + t.length
        body = ctx.read(pa, t.length, name, t.findings)
        sums[(pa, t.length)] = None if body is None else acpi_checksum(body)
    total = sums[(pa, t.length)]
    if total is not None:
        t.checksum_ok = total == 0
        if not t.checksum_ok:
            t.findings.append(make(TABLE_CHECKSUM, name, pa, f"{t.length} bytes sum to {total:#04x}"))
    return t


def _parse_sdt(ctx: DecodeContext, pa: int, want: str, entry_size: int) -> AcpiSdt | None:
    findings: list = []
    raw = ctx.read(pa, SDT_HEADER_SIZE, want, findings)
    if raw is None:
        sdt = AcpiSdt(
            address=pa,
            size=0,
            signature=want,
            length=0,
            revision=0,
            checksum_ok=None,
            oem_id="",
            oem_table_id="",
            oem_revision=0,
            creator_id="",
            creator_revision=0,
            entry_count=0,
        )
        sdt.findings.extend(findings)
        return sdt
    h = EFI_ACPI_DESCRIPTION_HEADER.parse(raw)
    sdt = AcpiSdt(
        address=pa,
        size=SDT_HEADER_SIZE,
        raw=raw,
        fields=h,
        schema=EFI_ACPI_DESCRIPTION_HEADER,
        checksum_ok=None,
        entry_count=0,
        **_header_fields(h),
    )
    if bytes(h["Signature"]) != want.encode():
        sdt.findings.append(make(SDT_SIG, want, pa, f"signature {bytes(h['Signature'])!r}, expected {want!r}"))
        return sdt
    length = h["Length"]
    check_subregion(ctx, pa, min(length, MAX_SDT_LENGTH), ACPI_TYPES, want, sdt.findings)
    if length < SDT_HEADER_SIZE or (length - SDT_HEADER_SIZE) % entry_size:
        sdt.findings.append(make(SDT_LENGTH, want, pa, f"Length {length:#x} is not 36 + a multiple of {entry_size}"))
        if length < SDT_HEADER_SIZE:
            return sdt
    count = (length - SDT_HEADER_SIZE) // entry_size
    if count > MAX_SDT_ENTRIES:
        sdt.findings.append(
            make(
                SDT_LENGTH, want, pa, f"Length {length:#x} claims {count} entries; reading the first {MAX_SDT_ENTRIES}"
            )
        )
        count = MAX_SDT_ENTRIES
    else:
        body = ctx.read(pa, length, want, sdt.findings)
        if body is not None:
            sdt.raw = body
            sdt.size = length
            sdt.checksum_ok = acpi_checksum(body) == 0
            if not sdt.checksum_ok:
                sdt.findings.append(make(SDT_CHECKSUM, want, pa, f"{length} bytes sum to {acpi_checksum(body):#04x}"))
    ents = ctx.read(pa + SDT_HEADER_SIZE, count * entry_size, f"{want} entries", sdt.findings)
    if ents is None:
        return sdt
    fmt = f"<{count}{'I' if entry_size == 4 else 'Q'}"
    sdt.entries = list(struct.unpack_from(fmt, ents))
    sdt.entry_count = count
    for i, e in enumerate(sdt.entries):
        if e == 0:
            sdt.findings.append(make(TABLE_NULL, want, pa + SDT_HEADER_SIZE + i * entry_size, f"entry [{i}] is 0"))
            continue
        t = _read_table_header(ctx, e, i, want, sdt.findings)
        if t is not None:
            sdt.listed.append(t)
    return sdt


def decode_rsdp(ctx: DecodeContext) -> Rsdp:
    pa = ctx.address
    findings: list = []
    raw = ctx.read(pa, RSDP_V1_SIZE, "ACPI RSDP", findings)
    if raw is None:
        r = Rsdp(address=pa, size=0, signature="", checksum_ok=False, oem_id="", revision=0, rsdt_address=0)
        r.findings.extend(findings)
        return r
    v1 = EFI_ACPI_1_0_ROOT_SYSTEM_DESCRIPTION_POINTER.parse(raw)
    r = Rsdp(
        address=pa,
        size=RSDP_V1_SIZE,
        raw=raw,
        fields=v1,
        schema=EFI_ACPI_1_0_ROOT_SYSTEM_DESCRIPTION_POINTER,
        signature=bytes(v1["Signature"]).decode("latin-1"),
        checksum_ok=acpi_checksum(raw) == 0,
        oem_id=text_field(v1["OemId"]),
        revision=v1["Revision"],
        rsdt_address=v1["RsdtAddress"],
    )
    if bytes(v1["Signature"]) != RSDP_SIGNATURE:
        r.findings.append(make(RSDP_SIG, "ACPI RSDP", pa, f"signature {bytes(v1['Signature'])!r}"))
        return r
    if not r.checksum_ok:
        r.findings.append(make(RSDP_CHECKSUM, "ACPI RSDP", pa, f"20 bytes sum to {acpi_checksum(raw):#04x}"))
    if not is_printable(v1["OemId"]):
        r.findings.append(make(RSDP_OEMID, "ACPI RSDP", pa, f"OEM ID bytes {bytes(v1['OemId']).hex()}"))
    if r.revision not in (0, 2):
        r.findings.append(make(RSDP_REVISION, "ACPI RSDP", pa, f"revision {r.revision}"))
    if r.revision >= 2:
        raw2 = ctx.read(pa, RSDP_V2_SIZE, "ACPI 2.0 RSDP", r.findings)
        if raw2 is not None:
            v2 = EFI_ACPI_2_0_ROOT_SYSTEM_DESCRIPTION_POINTER.parse(raw2)
            r.raw, r.fields, r.schema, r.size = raw2, v2, EFI_ACPI_2_0_ROOT_SYSTEM_DESCRIPTION_POINTER, RSDP_V2_SIZE
            r.length, r.xsdt_address = v2["Length"], v2["XsdtAddress"]
            r.extended_checksum_ok = acpi_checksum(raw2) == 0
            if not r.extended_checksum_ok:
                r.findings.append(make(RSDP_XCHECKSUM, "ACPI RSDP", pa, f"36 bytes sum to {acpi_checksum(raw2):#04x}"))
            if r.length != RSDP_V2_SIZE:
                r.findings.append(make(RSDP_LENGTH, "ACPI RSDP", pa, f"Length {r.length}"))
    elif ctx.guid == ACPI_20_TABLE_GUID:
        r.findings.append(make(RSDP_GUID, "ACPI RSDP", pa, f"revision {r.revision} behind ACPI_20_TABLE_GUID"))
    if r.rsdt_address:
        r.rsdt = _parse_sdt(ctx, r.rsdt_address, "RSDT", 4)
    if r.xsdt_address:
        r.xsdt = _parse_sdt(ctx, r.xsdt_address, "XSDT", 8)
    if not r.rsdt_address and not r.xsdt_address:
        r.findings.append(make(RSDP_NO_SDT, "ACPI RSDP", pa, "RsdtAddress and XsdtAddress are 0"))
    if r.rsdt is not None and r.xsdt is not None and r.rsdt.listed and r.xsdt.listed:
        a = sorted(t.signature for t in r.rsdt.listed)
        b = sorted(t.signature for t in r.xsdt.listed)
        if a != b:
            r.findings.append(make(RSDT_XSDT_MISMATCH, "ACPI RSDP", pa, f"RSDT {' '.join(a)}; XSDT {' '.join(b)}"))
    return r


register_decoder(ACPI_TABLE_GUID, decode_rsdp, expected_types=ACPI_TYPES)
register_decoder(ACPI_20_TABLE_GUID, decode_rsdp, expected_types=ACPI_TYPES)
