"""The OVMF SEV metadata of the firmware volume below 4 GiB, when a dump holds it, checked against the CC blob.

An SEV-SNP VMM reads, from the OVMF image it maps to end at 4 GiB, the reset-vector table of
GUIDed structures and the SEV metadata it names ("ASEV": which ranges to pre-validate, where
the secrets and CPUID pages go, the SVSM calling area, the kernel-hashes page); layouts and
sources in :mod:`efitables.schemas.ovmf` (virtee/sev-snp-measure sevsnpmeasure/ovmf.py parses
it the same way). QEMU's ``dump-guest-memory`` can include the flash mapping of an OVMF guest;
a kdump or a RAM capture does not (then :attr:`OvmfSevMetadata.present` is False, no finding).

Checks: the footer GUID at 0xffffffd0 and the table size below it; each entry's size (at least
the 18-byte tail, inside the table); the metadata offset inside the image, the ``"ASEV"``
signature, the section count (capped at :data:`MAX_SECTIONS`, one finding) and each section
inside 4 GiB. With a CC blob: its ``secrets_phys`` must be the SNP_SECRETS section's base and its
``cpuid_phys`` the CPUID section's (OVMF fills the blob from those PCDs:
tianocore/edk2 OvmfPkg/AmdSevDxe/AmdSevDxe.c ``mSnpBootDxeTable``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from efitables.errors import MemoryReadError
from efitables.findings import READ_ERROR, Severity, make, register
from efitables.memory.base import PhysicalMemory
from efitables.model import Parsed, TableView
from efitables.schemas.common import guid_from_bytes
from efitables.schemas.ovmf import (
    FOUR_GB,
    OVMF_FOOTER_GUID_FROM_END,
    OVMF_SEV_METADATA_DESC,
    OVMF_SEV_METADATA_GUID,
    OVMF_SEV_METADATA_HEADER,
    OVMF_SEV_METADATA_OFFSET,
    OVMF_SEV_METADATA_SIGNATURE,
    OVMF_TABLE_ENTRY_TAIL,
    OVMF_TABLE_ENTRY_TAIL_SIZE,
    OVMF_TABLE_FOOTER_GUID,
    SECTION_CPUID,
    SECTION_SNP_SECRETS,
    SECTION_TYPES,
)
from efitables.text import hexa

#: Most sections read (real OVMF images have 5-8).
MAX_SECTIONS = 64
#: Most table entries walked.
MAX_ENTRIES = 64

META_BAD = register(
    "OVMF-SEV-METADATA",
    Severity.WARNING,
    "The OVMF reset-vector table or its SEV metadata is malformed",
    "An entry size that runs outside the table, a metadata offset outside the image, a header that is "
    "not 'ASEV', more sections than efitables reads, or a section past 4 GiB.",
)
META_BLOB = register(
    "OVMF-SEV-METADATA-CC-BLOB",
    Severity.WARNING,
    "The CC blob's secrets or CPUID page is not where the OVMF SEV metadata puts it",
    "OVMF fills the CC blob from the SNP_SECRETS and CPUID sections of its metadata; a blob naming "
    "other pages was written by something else.",
)


@dataclass(frozen=True)
class MetadataSection:
    base: int
    length: int
    type: int

    @property
    def type_name(self) -> str:
        return SECTION_TYPES.get(self.type, f"{self.type:#x}")

    def to_dict(self) -> dict[str, Any]:
        return {"base": self.base, "length": self.length, "type": self.type, "type_name": self.type_name}


@dataclass(kw_only=True)
class OvmfSevMetadata(Parsed):
    """The reset-vector table's entries and the SEV metadata's sections."""

    kind: ClassVar[str] = "ovmf_sev_metadata"

    present: bool = False
    #: GUID -> the entry's data bytes, as hex (the table entries found).
    entries: dict[str, str] = field(default_factory=dict)
    metadata_address: int | None = None
    version: int | None = None
    sections: list[MetadataSection] = field(default_factory=list)

    @property
    def title(self) -> str:
        if not self.present:
            return "OVMF SEV metadata: the firmware volume below 4 GiB is not in the dump"
        return f"OVMF SEV metadata: {len(self.entries)} table entries, {len(self.sections)} sections"

    def section(self, kind: int) -> MetadataSection | None:
        return next((s for s in self.sections if s.type == kind), None)

    def table_views(self) -> list[TableView]:
        rows: list[tuple[str, ...]] = [(s.type_name, hexa(s.base), hexa(s.length)) for s in self.sections]
        return [TableView("OVMF SEV metadata sections", ("type", "base", "length"), rows)]

    def to_dict(self, raw: bool = False) -> dict[str, Any]:
        d = super().to_dict(raw)
        d["sections"] = [s.to_dict() for s in self.sections]
        return d


def _walk_table(data: bytes, base: int, out: OvmfSevMetadata) -> None:
    """The GUIDed entries of ``data`` (the table without its footer), walked from the end."""
    end = len(data)
    n = 0
    while end >= OVMF_TABLE_ENTRY_TAIL_SIZE:
        if n >= MAX_ENTRIES:
            out.findings.append(make(META_BAD, "OVMF GUIDed table", base, f"more than {MAX_ENTRIES} entries"))
            return
        t = OVMF_TABLE_ENTRY_TAIL.parse(data[end - OVMF_TABLE_ENTRY_TAIL_SIZE : end])
        if t.size < OVMF_TABLE_ENTRY_TAIL_SIZE or t.size > end:
            why = f"entry {guid_from_bytes(t.guid)} size {t.size} (table has {end} bytes left)"
            out.findings.append(make(META_BAD, "OVMF GUIDed table", base + end, why))
            return
        out.entries[guid_from_bytes(t.guid)] = data[end - t.size : end - OVMF_TABLE_ENTRY_TAIL_SIZE].hex()
        end -= t.size
        n += 1


def find_ovmf_metadata(mem: PhysicalMemory, blob: Any = None) -> OvmfSevMetadata:
    """The OVMF SEV metadata in ``mem`` (none when the footer is not in the dump); ``blob``: the CC blob to check."""
    out = OvmfSevMetadata(address=None, size=0)
    footer_pa = FOUR_GB - OVMF_FOOTER_GUID_FROM_END
    tail_pa = footer_pa - OVMF_TABLE_ENTRY_TAIL.subcons[0].sizeof()
    if not mem.is_readable(tail_pa, OVMF_TABLE_ENTRY_TAIL_SIZE):
        return out
    tail = OVMF_TABLE_ENTRY_TAIL.parse(mem.read(tail_pa, OVMF_TABLE_ENTRY_TAIL_SIZE, structure="OVMF table footer"))
    if guid_from_bytes(tail.guid) != OVMF_TABLE_FOOTER_GUID:
        return out
    out.present = True
    out.address, out.size = tail_pa, OVMF_TABLE_ENTRY_TAIL_SIZE
    body = tail.size - OVMF_TABLE_ENTRY_TAIL_SIZE
    if body < 0:
        out.findings.append(make(META_BAD, "OVMF GUIDed table", tail_pa, f"table size {tail.size}"))
        return out
    try:
        data = mem.read(tail_pa - body, body, structure="OVMF GUIDed table")
    except MemoryReadError as e:
        out.findings.append(make(READ_ERROR, "OVMF GUIDed table", tail_pa - body, e.reason))
        return out
    out.address, out.size = tail_pa - body, tail.size
    _walk_table(data, tail_pa - body, out)
    meta = out.entries.get(OVMF_SEV_METADATA_GUID)
    if meta is None:
        return out
    raw = bytes.fromhex(meta)
    if len(raw) < OVMF_SEV_METADATA_OFFSET.sizeof():
        out.findings.append(make(META_BAD, "OVMF SEV metadata entry", None, f"{len(raw)} data bytes"))
        return out
    offset = OVMF_SEV_METADATA_OFFSET.parse(raw).offset
    if offset == 0 or offset > FOUR_GB:
        out.findings.append(make(META_BAD, "OVMF SEV metadata entry", None, f"offset {offset:#x}"))
        return out
    pa = FOUR_GB - offset
    out.metadata_address = pa
    hsize = OVMF_SEV_METADATA_HEADER.sizeof()
    try:
        h = OVMF_SEV_METADATA_HEADER.parse(mem.read(pa, hsize, structure="OVMF SEV metadata"))
    except MemoryReadError as e:
        out.findings.append(make(READ_ERROR, "OVMF SEV metadata", pa, e.reason))
        return out
    if bytes(h.signature) != OVMF_SEV_METADATA_SIGNATURE:
        out.findings.append(make(META_BAD, "OVMF SEV metadata", pa, f"signature {bytes(h.signature)!r}"))
        return out
    out.version = h.version
    dsize = OVMF_SEV_METADATA_DESC.sizeof()
    count = h.num_desc
    if count > MAX_SECTIONS or hsize + count * dsize > max(h.len, hsize):
        why = f"num_desc {count}, len {h.len}; reading {min(count, MAX_SECTIONS, max(0, (h.len - hsize) // dsize))}"
        out.findings.append(make(META_BAD, "OVMF SEV metadata", pa, why))
        count = min(count, MAX_SECTIONS, max(0, (h.len - hsize) // dsize))
    try:
        descs = mem.read(pa + hsize, count * dsize, structure="OVMF SEV metadata sections") if count else b""
    except MemoryReadError as e:
        out.findings.append(make(READ_ERROR, "OVMF SEV metadata sections", pa + hsize, e.reason))
        return out
    for i in range(count):
        at = i * dsize
        d = OVMF_SEV_METADATA_DESC.parse(descs[at : at + dsize])
        s = MetadataSection(d.base, d.len, d.type)
        if d.base + d.len > FOUR_GB:
            out.findings.append(
                make(META_BAD, "OVMF SEV metadata section", pa + hsize + at, f"{s.type_name} past 4 GiB")
            )
        out.sections.append(s)
    _check_blob(out, blob)
    return out


def _check_blob(out: OvmfSevMetadata, blob: Any) -> None:
    if blob is None or not getattr(blob, "readable", False):
        return
    for kind, attr in ((SECTION_SNP_SECRETS, "secrets_phys"), (SECTION_CPUID, "cpuid_phys")):
        sec = out.section(kind)
        value = getattr(blob, attr, None)
        if sec is None or not value:
            continue
        if value != sec.base:
            why = f"{attr} {value:#x}, {sec.type_name} section at {sec.base:#x}"
            out.findings.append(make(META_BLOB, "CC blob", blob.address, why))
