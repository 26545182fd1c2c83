"""ACPI RSDP (ACPI 1.0 and 2.0+ GUIDs), the RSDT/XSDT it names, and the header
of every table those list.

Layouts: :mod:`efitables.schemas.payloads.acpi`. Checks (ACPI 6.5 §5.2.5.3 RSDP,
§5.2.6 header, §5.2.7-5.2.8 RSDT/XSDT; as ACPICA ``acpi_tb_validate_rsdp``,
torvalds/linux drivers/acpi/acpica/tbxfroot.c@v6.12.117): signature, the 20-byte checksum, for
revision >= 2 the 36-byte extended checksum and Length; RSDT/XSDT signature,
checksum and a length that is the header plus whole entries; each listed
table's header and checksum. The FADT (signature "FACP") is followed to the DSDT (header and checksum; AML
is not decoded) and the FACS (ACPI 6.5 §5.2.9, §5.2.10): X_DSDT / X_FIRMWARE_CTRL when non-zero, else
the 32-bit DSDT / FIRMWARE_CTRL, as ACPICA's ``acpi_tb_select_address`` chooses (torvalds/linux
drivers/acpi/acpica/tbfadt.c@v6.12.117), with a finding when both are set and differ.
"""

from __future__ import annotations

import dataclasses
import struct
import warnings
from dataclasses import dataclass, field

from efitables.caps import cap_findings, count_cap
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
from efitables.schemas.payloads.acpi_fadt import (
    DSDT_SIGNATURE,
    EFI_ACPI_6_5_FIRMWARE_ACPI_CONTROL_STRUCTURE,
    EFI_ACPI_6_5_FIXED_ACPI_DESCRIPTION_TABLE,
    FACS_SIGNATURE,
    FACS_SIZE,
    FADT_SIGNATURE,
    FADT_SIZE,
)
from efitables.text import hexa, ok_text, printable

ACPI_TABLE_GUID = "eb9d2d30-2d88-11d3-9a16-0090273fc14d"
ACPI_20_TABLE_GUID = "8868e871-e4f1-11d3-bc22-0080c73c8881"

#: RSDT/XSDT entries decoded (real ones hold 5-40). Linux installs the tables they list into an array
#: of ACPI_MAX_TABLES = 128 descriptors that may not grow at that stage (``acpi_table_init`` calls
#: ``acpi_initialize_tables(initial_tables, ACPI_MAX_TABLES, 0)``, torvalds/linux
#: drivers/acpi/tables.c@v6.12.117), so a table past the 128th is never used at boot.
MAX_SDT_ENTRIES = 128
#: Largest RSDT/XSDT read (header + MAX_SDT_ENTRIES 64-bit entries).
MAX_SDT_LENGTH = SDT_HEADER_SIZE + 8 * MAX_SDT_ENTRIES
#: Largest listed table whose checksum is computed (DSDTs reach a few hundred KiB).
MAX_TABLE_LENGTH = 16 * 1024 * 1024
#: Most bytes of listed tables read for checksums per RSDP (each table is summed once). All the tables
#: of a large server (DSDT and SSDTs included) come to a few MiB at most.
MAX_CHECKSUM_BYTES = 16 * 1024 * 1024

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
FADT_ADDRESS_MISMATCH = register(
    "ACPI-FADT-ADDRESS-MISMATCH",
    Severity.WARNING,
    "ACPI FADT's 32-bit and 64-bit DSDT or FACS addresses are both set and differ",
    "ACPI 6.5 §5.2.9: when X_DSDT (X_FIRMWARE_CTRL) is non-zero the OSPM ignores DSDT (FIRMWARE_CTRL); "
    "Linux warns '32/64X address mismatch in FADT' and uses the 64-bit one (acpi_tb_select_address, "
    "drivers/acpi/acpica/tbfadt.c). efitables follows the 64-bit address too.",
)
DSDT_SIG = register("ACPI-DSDT-SIGNATURE", Severity.ERROR, "The table the FADT names as DSDT is not signed 'DSDT'")
FACS_SIG = register("ACPI-FACS-SIGNATURE", Severity.ERROR, "The FACS the FADT names is not signed 'FACS'")
FACS_LENGTH = register(
    "ACPI-FACS-LENGTH",
    Severity.WARNING,
    "ACPI FACS length is implausible",
    "ACPI 6.5 §5.2.10: the FACS is at least 64 bytes; efitables believes at most MAX_FACS_LENGTH.",
)
#: Largest FACS length believed (the structure is 64 bytes; firmware reserves a page at most).
MAX_FACS_LENGTH = 4096
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


@dataclass(kw_only=True)
class Facs(Parsed):
    """The Firmware ACPI Control Structure (ACPI 6.5 §5.2.10): no header, no checksum."""

    kind = "ACPI_FACS"
    _repr_fields = ("signature", "length", "hardware_signature")

    signature: str
    #: The structure's Length field (64 or more).
    length: int
    hardware_signature: int
    firmware_waking_vector: int
    x_firmware_waking_vector: int
    version: int

    @property
    def title(self) -> str:
        return f"FACS ({self.length} bytes, hardware signature {self.hardware_signature:#x})"


@dataclass(kw_only=True)
class Fadt(AcpiTableHeader):
    """The FADT (signature "FACP") with the DSDT and FACS it names, followed.

    ``dsdt_address`` / ``facs_address`` are what was followed: the 64-bit field when non-zero, else the
    32-bit one (0: none).
    """

    kind = "ACPI_FADT"

    firmware_ctrl: int = 0
    dsdt32: int = 0
    x_firmware_ctrl: int = 0
    x_dsdt: int = 0
    dsdt: AcpiTableHeader | None = None
    facs: Facs | None = None

    @property
    def dsdt_address(self) -> int:
        """The DSDT address followed: X_DSDT when non-zero, else DSDT."""
        return self.x_dsdt or self.dsdt32

    @property
    def facs_address(self) -> int:
        """The FACS address followed: X_FIRMWARE_CTRL when non-zero, else FIRMWARE_CTRL."""
        return self.x_firmware_ctrl or self.firmware_ctrl

    def children(self) -> list[Parsed]:
        return [t for t in (self.dsdt, self.facs) if t is not None]


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
    #: The entries themselves: the physical addresses the table lists, as stored (0 included).
    entries: list[int] = field(default_factory=list)
    #: The tables the entries name, followed: each one's header and checksum (a :class:`Fadt` for "FACP").
    tables: list[AcpiTableHeader] = field(default_factory=list)

    @property
    def listed(self) -> list[AcpiTableHeader]:
        """Deprecated name of :attr:`tables`."""
        warnings.warn("AcpiSdt.listed is deprecated: use .tables", DeprecationWarning, stacklevel=2)
        return self.tables

    @property
    def title(self) -> str:
        return f"{self.signature} ({self.entry_count} tables: {' '.join(self.signatures)})"

    @property
    def signatures(self) -> list[str]:
        return [t.signature for t in self.tables]

    def children(self) -> list[Parsed]:
        return list(self.tables)

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
                for t in self.tables
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

    @property
    def fadt(self) -> Fadt | None:
        """The FADT the XSDT (else the RSDT) lists, with its DSDT and FACS followed."""
        for sdt in (self.xsdt, self.rsdt):
            for t in sdt.tables if sdt is not None else []:
                if isinstance(t, Fadt):
                    return t
        return None

    @property
    def dsdt(self) -> AcpiTableHeader | None:
        """The DSDT the FADT names (header and checksum), or None."""
        return self.fadt.dsdt if self.fadt is not None else None

    @property
    def facs(self) -> Facs | None:
        """The FACS the FADT names, or None."""
        return self.fadt.facs if self.fadt is not None else None

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
                for t in sdt.tables
                if t.address is not None and 0 < t.length <= MAX_TABLE_LENGTH
            )
        dsdt, facs = self.dsdt, self.facs
        if dsdt is not None and dsdt.address is not None and 0 < dsdt.length <= MAX_TABLE_LENGTH:
            out.append(Extent(dsdt.signature or "DSDT", dsdt.address, dsdt.length))
        if facs is not None and facs.address is not None:
            out.append(Extent("FACS", facs.address, min(max(facs.length, FACS_SIZE), MAX_FACS_LENGTH)))
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
    count, too_many = count_cap((length - SDT_HEADER_SIZE) // entry_size, MAX_SDT_ENTRIES, SDT_LENGTH, want, pa,
                                f"Length {length:#x}")  # fmt: skip
    if too_many is not None:
        sdt.findings.append(too_many)
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
            sdt.tables.append(t)
    sdt.tables = [_follow_fadt(ctx, t) if t.signature == FADT_SIGNATURE.decode() else t for t in sdt.tables]
    sdt.findings.extend(cap_findings([sdt.findings, *(t.findings for t in sdt.tables)], want, pa))
    return sdt


def _read_facs(ctx: DecodeContext, pa: int, findings: list) -> Facs | None:
    raw = ctx.read(pa, FACS_SIZE, "ACPI FACS", findings)
    if raw is None:
        return None
    h = EFI_ACPI_6_5_FIRMWARE_ACPI_CONTROL_STRUCTURE.parse(raw)
    f = Facs(
        address=pa,
        size=FACS_SIZE,
        raw=raw,
        fields=h,
        schema=EFI_ACPI_6_5_FIRMWARE_ACPI_CONTROL_STRUCTURE,
        signature=text_field(h["Signature"]),
        length=h["Length"],
        hardware_signature=h["HardwareSignature"],
        firmware_waking_vector=h["FirmwareWakingVector"],
        x_firmware_waking_vector=h["XFirmwareWakingVector"],
        version=h["Version"],
    )
    if bytes(h["Signature"]) != FACS_SIGNATURE:
        f.findings.append(make(FACS_SIG, "ACPI FACS", pa, f"signature {bytes(h['Signature'])!r}"))
    elif not FACS_SIZE <= f.length <= MAX_FACS_LENGTH:
        f.findings.append(make(FACS_LENGTH, "ACPI FACS", pa, f"Length {f.length:#x}"))
    return f


def _follow_fadt(ctx: DecodeContext, t: AcpiTableHeader) -> Fadt:
    """The FADT ``t`` with its DSDT and FACS read (once per FADT address: the RSDT and XSDT share it)."""
    done: dict[int, Fadt] = ctx.scratch.setdefault("acpi_fadt", {})
    if t.address is not None and t.address in done:
        return done[t.address]
    base = {f.name: getattr(t, f.name) for f in dataclasses.fields(AcpiTableHeader)}
    fadt = Fadt(**base)
    if t.address is None:
        return fadt
    done[t.address] = fadt
    # a FADT shorter than ACPI 6.5's reads as zeros past its Length (acpi_tb_create_local_fadt)
    n = max(SDT_HEADER_SIZE, min(t.length, FADT_SIZE))
    body = ctx.read(t.address, n, "ACPI FADT", fadt.findings)
    if body is None:
        return fadt
    v = EFI_ACPI_6_5_FIXED_ACPI_DESCRIPTION_TABLE.parse(body + bytes(FADT_SIZE - len(body)))
    fadt.firmware_ctrl, fadt.dsdt32 = v["FirmwareCtrl"], v["Dsdt"]
    fadt.x_firmware_ctrl, fadt.x_dsdt = v["XFirmwareCtrl"], v["XDsdt"]
    for what, a32, a64 in (("DSDT", fadt.dsdt32, fadt.x_dsdt), ("FACS", fadt.firmware_ctrl, fadt.x_firmware_ctrl)):
        if a32 and a64 and a32 != a64:
            fadt.findings.append(
                make(FADT_ADDRESS_MISMATCH, "ACPI FADT", t.address, f"{what} {a32:#x}, X_{what} {a64:#x}: using X_")
            )
    if fadt.dsdt_address:
        d = _read_table_header(ctx, fadt.dsdt_address, 0, "FADT", fadt.findings)
        if d is not None:
            if d.signature != DSDT_SIGNATURE.decode():
                d.findings.append(make(DSDT_SIG, "ACPI DSDT", d.address, f"signature {d.signature!r}"))
            fadt.dsdt = d
    if fadt.facs_address:
        fadt.facs = _read_facs(ctx, fadt.facs_address, fadt.findings)
    return fadt


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
    if r.rsdt is not None and r.xsdt is not None and r.rsdt.tables and r.xsdt.tables:
        a = sorted(t.signature for t in r.rsdt.tables)
        b = sorted(t.signature for t in r.xsdt.tables)
        if a != b:
            r.findings.append(make(RSDT_XSDT_MISMATCH, "ACPI RSDP", pa, f"RSDT {' '.join(a)}; XSDT {' '.join(b)}"))
    return r


register_decoder(ACPI_TABLE_GUID, decode_rsdp, expected_types=ACPI_TYPES)
register_decoder(ACPI_20_TABLE_GUID, decode_rsdp, expected_types=ACPI_TYPES)
