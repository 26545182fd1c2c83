"""What every payload decoder shares: the context it is called with, a read
that turns absent bytes into a finding, secret redaction, and the
generic findings (memory type of the region, overlaps, decoder failures).
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from efitables.caps import omitted
from efitables.errors import MemoryReadError
from efitables.findings import READ_ERROR, Finding, Severity, make, register
from efitables.memory.base import PhysicalMemory
from efitables.model import Parsed
from efitables.regions import E820_KEPT_TYPES, EFI_REUSED_TYPES
from efitables.schemas.boot_params import E820_TYPE_RAM
from efitables.schemas.efi_memmap import EFI_MEMORY_TYPE

PAYLOAD_REGION_TYPE = register(
    "PAYLOAD-REGION-TYPE",
    Severity.WARNING,
    "Payload lies in memory of an unexpected EFI type",
    "The EFI memory map gives the payload's address a memory type in which the firmware or the "
    "Linux stub does not allocate this table (for example an ACPI table outside ACPI reclaim/NVS "
    "memory) or no descriptor at all.",
)
PAYLOAD_STALE = register(
    "PAYLOAD-STALE",
    Severity.INFO,
    "Payload lies in boot-time memory and may be stale",
    "The payload is in boot-services, loader or conventional memory, which the kernel reuses "
    "after boot: in a dump of a running system its bytes may be overwritten (stale, not corrupt).",
)
PAYLOAD_REGION_END = register(
    "PAYLOAD-REGION-END",
    Severity.WARNING,
    "Payload runs past the end of its memory-map region",
    "The payload starts inside one EFI memory descriptor but its size extends beyond it.",
)
PAYLOAD_NOT_IN_MAP = register(
    "PAYLOAD-NOT-IN-MAP",
    Severity.INFO,
    "Payload is outside a runtime-only EFI memory map; its memory type is unknown",
    "The EFI memory map holds only EFI_MEMORY_RUNTIME regions, as the map a kexec'd kernel gets does: it "
    "cannot say what memory the payload is in, and boot-time memory may have been reused since.",
)
PAYLOAD_OVERLAP = register(
    "PAYLOAD-OVERLAP",
    Severity.WARNING,
    "Two configuration-table payloads overlap",
    "The byte ranges of two decoded payloads (or of structures they point to) overlap.",
)
PAYLOAD_DECODE = register(
    "PAYLOAD-DECODE",
    Severity.ERROR,
    "A payload decoder failed",
    "The decoder met input it could not handle; the message names the error. This is a bug in "
    "efitables or a form of input it does not know yet.",
)

#: EFI memory types (efitables.schemas.efi_memmap) the decoders expect their payloads in.
_T = EFI_MEMORY_TYPE
RESERVED, BS_DATA = _T["EFI_RESERVED_TYPE"], _T["EFI_BOOT_SERVICES_DATA"]
RT_CODE, RT_DATA = _T["EFI_RUNTIME_SERVICES_CODE"], _T["EFI_RUNTIME_SERVICES_DATA"]
ACPI_RECLAIM, ACPI_NVS = _T["EFI_ACPI_RECLAIM_MEMORY"], _T["EFI_ACPI_MEMORY_NVS"]
#: Types whose contents the kernel may reuse after boot (efitables.regions: free and boot-time memory).
BOOT_TIME_TYPES = EFI_REUSED_TYPES
ACPI_TYPES = frozenset({ACPI_RECLAIM, ACPI_NVS, RESERVED, RT_DATA})
RUNTIME_TYPES = frozenset({RT_CODE, RT_DATA, RESERVED})

PAGE_SIZE = 4096
#: Overlapping pairs of payload extents listed; the rest are counted in one finding (:mod:`efitables.caps`).
MAX_OVERLAP_FINDINGS = 64


@dataclass
class DecodeContext:
    """Everything a decoder may use. ``memmap`` (an EfiMemoryMap) is optional."""

    mem: PhysicalMemory
    guid: str
    address: int
    name: str = ""
    show_secrets: bool = False
    region_type: int | None = None
    memmap: Any = None
    #: The E820 table (``lookup(pa)``), or a callable giving it when first needed: says what a
    #: runtime-only EFI map does not list.
    e820: Any = None
    #: Firmware word size (32 for a mixed-mode system): UINTN/pointer fields of firmware tables follow it.
    bits: int = 64
    #: Per-decode state a decoder may keep (caches, byte budgets).
    scratch: dict[str, Any] = field(default_factory=dict)

    def read(self, pa: int, size: int, structure: str, findings: list[Finding]) -> bytes | None:
        """Read or append a DUMP-READ finding and return None."""
        try:
            return self.mem.read(pa, size, structure=structure)
        except MemoryReadError as e:
            findings.append(make(READ_ERROR, structure, pa, e.reason))
            return None

    @property
    def runtime_only_map(self) -> bool:
        """True if the memory map describes only EFI_MEMORY_RUNTIME regions (a kexec'd kernel's map)."""
        if self.memmap is None:
            return False
        if "runtime_only" not in self.scratch:
            descs = getattr(self.memmap, "descriptors", [])
            self.scratch["runtime_only"] = bool(descs) and all(d.is_runtime for d in descs)
        return bool(self.scratch["runtime_only"])

    def region_of(self, pa: int) -> Any:
        """The EFI memory descriptor holding ``pa`` (None without a memory map)."""
        if self.memmap is None:
            return None
        return self.memmap.lookup(pa)


Decoder = Callable[[DecodeContext], Parsed | None]


@dataclass(frozen=True)
class DecoderInfo:
    """A registered decoder: the function, and the EFI memory types its payload should be in."""

    guid: str
    func: Decoder
    expected_types: frozenset[int] | None = None
    #: Linux keeps (memblock-reserves) the payload, so boot-time memory does not make it stale.
    kept: bool = False

    def __call__(self, ctx: DecodeContext) -> Parsed | None:
        return self.func(ctx)


@dataclass(frozen=True)
class Extent:
    """A byte range a payload occupies (for overlap checks)."""

    label: str
    start: int
    size: int

    @property
    def end(self) -> int:
        return self.start + self.size


@dataclass(kw_only=True)
class Payload(Parsed):
    """Base of decoded payloads: adds :meth:`extents` for overlap checks."""

    kind = "payload"

    def summary(self) -> str:
        """The title (printable), marked when the payload lies in memory freed after boot (it may be reused)."""
        from efitables.text import printable

        return printable(self.title) + (" [in possibly stale memory]" if in_stale_memory(self) else "")

    def extents(self) -> list[Extent]:
        if self.address is None or self.size <= 0:
            return []
        return [Extent(self.kind, self.address, self.size)]


@dataclass(kw_only=True)
class GuidCopy(Payload):
    """A guided-section extraction table: the pointer names a 16-byte copy of the GUID."""

    kind = "GUID_COPY"

    copied_guid: str
    matches: bool

    @property
    def title(self) -> str:
        return "copy of its GUID" if self.matches else f"not a copy of its GUID ({self.copied_guid or 'unreadable'})"


_PRINTABLE = set(string.printable.encode()) - set(b"\t\n\r\x0b\x0c")


def text_field(raw: bytes) -> str:
    """A fixed-size char[] from firmware as str: trailing NULs/spaces dropped, undecodable bytes as ``\\xNN``."""
    return bytes(raw).rstrip(b"\0 ").decode("utf-8", "backslashreplace")


def is_printable(raw: bytes) -> bool:
    return all(b in _PRINTABLE or b == 0 for b in raw)


def check_region(ctx: DecodeContext, payload: Parsed, expected: frozenset[int] | None, kept: bool = False) -> bool:
    """Findings about the memory-map region of ``payload`` (type and fit); True if the region makes it stale.

    A payload in boot-time memory that Linux does not keep is reported as possibly stale
    (PAYLOAD-STALE) whatever its expected types; otherwise an unexpected type is PAYLOAD-REGION-TYPE.
    """
    from efitables.schemas.efi_memmap import type_name

    if payload.address is None:
        return False
    desc = ctx.region_of(payload.address) if ctx.memmap is not None else None
    rtype = ctx.region_type
    if desc is not None:
        rtype = desc.type
        if payload.size > 0 and payload.address + payload.size > desc.physical_end:
            payload.findings.append(
                make(
                    PAYLOAD_REGION_END,
                    ctx.name or ctx.guid,
                    payload.address,
                    f"{payload.size:#x} bytes at {payload.address:#x} run past the end of "
                    f"[{desc.index}] {desc.type_name} {desc.physical_start:#x}-{desc.physical_end:#x}",
                )
            )
    elif ctx.memmap is not None and ctx.runtime_only_map:
        table = ctx.e820() if callable(ctx.e820) else ctx.e820
        e = table.lookup(payload.address) if table is not None else None
        if e is not None and e.type in E820_KEPT_TYPES:
            return False  # ACPI, NVS or reserved to E820: the kernel keeps it, whatever the EFI map omits
        where = " and in E820 RAM" if e is not None and e.type == E820_TYPE_RAM else ""
        payload.findings.append(
            make(
                PAYLOAD_NOT_IN_MAP,
                ctx.name or ctx.guid,
                payload.address,
                f"{payload.address:#x} is outside the runtime-only memory map{where}: the bytes may have been reused",
            )
        )
        return True
    elif ctx.memmap is not None:
        payload.findings.append(
            make(
                PAYLOAD_REGION_TYPE,
                ctx.name or ctx.guid,
                payload.address,
                f"{payload.address:#x} is in no EFI memory descriptor",
            )
        )
        return False
    if rtype is None:
        return False
    # boot-services memory with EFI_MEMORY_RUNTIME is kept by the kernel (efitables.regions.Region.kept)
    if rtype in BOOT_TIME_TYPES and not kept and not (desc is not None and desc.is_runtime):
        payload.findings.append(
            make(
                PAYLOAD_STALE,
                ctx.name or ctx.guid,
                payload.address,
                f"in {type_name(rtype)} memory: may be stale or overwritten after boot",
            )
        )
        return True
    if expected is not None and rtype not in expected:
        want = ", ".join(type_name(t) for t in sorted(expected))
        payload.findings.append(
            make(
                PAYLOAD_REGION_TYPE,
                ctx.name or ctx.guid,
                payload.address,
                f"in {type_name(rtype)} memory; expected one of {want}",
            )
        )
    return False


def check_overlaps(payloads: list[tuple[str, Parsed]]) -> list[Finding]:
    """Overlaps between the extents of decoded payloads (``(label, payload)`` pairs).

    Identical extents (two GUIDs naming the same object, as ACPI 1.0 and 2.0
    may) are not reported.
    """
    spans: list[tuple[int, int, str]] = []
    for label, p in payloads:
        if not isinstance(p, Payload):
            continue
        for e in p.extents():
            if e.size > 0:
                spans.append((e.start, e.end, f"{label}: {e.label}"))
    spans = sorted(set(spans))
    out: list[Finding] = []
    more = 0  # overlapping pairs past MAX_OVERLAP_FINDINGS, counted, not listed
    seen: set[tuple[int, int]] = set()
    active: list[tuple[int, int, str]] = []
    for s in spans:  # one sweep in address order; ``active`` holds the spans still open at s
        active = [a for a in active if a[1] > s[0]]
        for a in active:
            if (a[0], a[1]) == (s[0], s[1]) or (a[0], s[0]) in seen:
                continue
            seen.add((a[0], s[0]))
            if len(out) >= MAX_OVERLAP_FINDINGS:
                more += 1
                continue
            out.append(
                make(
                    PAYLOAD_OVERLAP,
                    "configuration tables",
                    s[0],
                    f"{a[2]} {a[0]:#x}-{a[1]:#x} overlaps {s[2]} {s[0]:#x}-{s[1]:#x}",
                )
            )
        active.append(s)
    if more:
        out.append(omitted(PAYLOAD_OVERLAP, more, "configuration tables", None, MAX_OVERLAP_FINDINGS))
    return out


def check_subregion(
    ctx: DecodeContext, pa: int, size: int, expected: frozenset[int], label: str, findings: list[Finding]
) -> None:
    """Memory-type check for a structure a payload points to (needs ``ctx.memmap``)."""
    from efitables.schemas.efi_memmap import type_name

    if ctx.memmap is None:
        return
    desc = ctx.region_of(pa)
    if desc is None:
        if not ctx.runtime_only_map:  # a runtime-only map cannot say (the payload carries PAYLOAD-NOT-IN-MAP)
            findings.append(make(PAYLOAD_REGION_TYPE, label, pa, f"{pa:#x} is in no EFI memory descriptor"))
        return
    if desc.type not in expected:
        want = ", ".join(type_name(t) for t in sorted(expected))
        findings.append(make(PAYLOAD_REGION_TYPE, label, pa, f"in {desc.type_name} memory; expected one of {want}"))
    elif size > 0 and pa + size > desc.physical_end:
        findings.append(
            make(
                PAYLOAD_REGION_END,
                label,
                pa,
                f"{size:#x} bytes run past {desc.type_name} region end {desc.physical_end:#x}",
            )
        )


def in_stale_memory(payload: Parsed) -> bool:
    """True when the payload's region check found its memory freed or unknown after boot."""
    return any(f.code in (PAYLOAD_STALE, PAYLOAD_NOT_IN_MAP) for f in payload.findings)


def downgrade_stale(payload: Parsed, note: str = "in possibly stale memory") -> None:  # noqa: D417
    """Make every finding of ``payload`` and its children INFO: its bytes may simply be reused memory."""
    import dataclasses

    seen: set[int] = set()
    stack = [payload]
    while stack:
        p = stack.pop()
        if id(p) in seen:
            continue
        seen.add(id(p))
        p.findings[:] = [
            f
            if f.code == PAYLOAD_STALE or f.severity == Severity.INFO
            else dataclasses.replace(f, severity=Severity.INFO, message=f"{f.message} ({note})")
            for f in p.findings
        ]
        stack.extend(c for c in p.children() if isinstance(c, Parsed))
