"""The EFI memory map handed to the kernel (``boot_params.efi_info``).

Layout: :mod:`efitables.schemas.efi_memmap` (``EFI_MEMORY_DESCRIPTOR``: UEFI 2.10
§7.2 ``GetMemoryMap()``; tianocore/edk2 MdePkg/Include/Uefi/UefiSpec.h@c5aa7e7d94c0;
``efi_memory_desc_t`` in torvalds/linux include/linux/efi.h@v6.12.117). The
stride is ``DescriptorSize``, not 40: EDK2 reports 48 on purpose
(MdeModulePkg/Core/Dxe/Mem/Page.c@c5aa7e7d94c0). Checks: ``DescriptorSize >= 40``,
a multiple of 8 and at most 4096 (:func:`~efitables.schemas.efi_memmap.descriptor_size_plausible`),
the map size a multiple of it, version 1 (``EFI_MEMORY_DESCRIPTOR_VERSION``),
page-aligned starts, non-zero page counts without overflow, known types, no
overlapping descriptors (one sort, one sweep). The map is not required to be
sorted (``GetMemoryMap()`` promises no order).

Bounds: at most :data:`MAX_DESCRIPTORS` descriptors are read (one EFI-MEMMAP-TOO-MANY
finding says how many more the size claims), a map that runs into a hole is decoded
up to it, and the descriptors carry at most
:data:`efitables.caps.MAX_FINDINGS_PER_KIND` findings of each code between them.
"""

from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass, field
from typing import Any

from efitables.caps import cap_findings, count_cap
from efitables.findings import READ_ERROR, Finding, Severity, make, register
from efitables.memory.base import MAX_PHYS_ADDR, PhysicalMemory
from efitables.model import Parsed
from efitables.schemas.common import jsonable
from efitables.schemas.efi_memmap import (
    EFI_MEMORY_DESCRIPTOR,
    EFI_MEMORY_DESCRIPTOR_SIZE,
    EFI_MEMORY_DESCRIPTOR_STRUCT,
    EFI_MEMORY_DESCRIPTOR_VERSION,
    EFI_MEMORY_RUNTIME,
    EFI_PAGE_SIZE,
    attribute_names,
    descriptor_size_plausible,
    type_name,
)

MEMMAP_DESC_SIZE = register(
    "EFI-MEMMAP-DESC-SIZE",
    Severity.ERROR,
    "EFI memory map descriptor size is below 40, above 4096 or not a multiple of 8",
)
MEMMAP_SIZE = register(
    "EFI-MEMMAP-SIZE", Severity.WARNING, "EFI memory map size is not a multiple of the descriptor size"
)
MEMMAP_VERSION = register("EFI-MEMMAP-VERSION", Severity.WARNING, "EFI memory descriptor version is not 1")
MEMMAP_TOO_MANY = register(
    "EFI-MEMMAP-TOO-MANY", Severity.ERROR, "EFI memory map claims more descriptors than efitables reads"
)
MEMMAP_ALIGN = register("EFI-MEMMAP-ALIGN", Severity.WARNING, "EFI memory descriptor start is not page-aligned")
MEMMAP_EMPTY_DESC = register("EFI-MEMMAP-EMPTY", Severity.WARNING, "EFI memory descriptor has zero pages or overflows")
MEMMAP_TYPE = register("EFI-MEMMAP-TYPE", Severity.WARNING, "EFI memory descriptor has an invalid type")
MEMMAP_OVERLAP = register("EFI-MEMMAP-OVERLAP", Severity.ERROR, "EFI memory descriptors overlap")

#: Descriptors read. Real maps hold tens to a few hundred (QEMU/OVMF 30-120, laptops 50-150, large
#: servers a few hundred; the E820 table the EFI stub derives from the map must fit the kernel's
#: E820_MAX_ENTRIES, 320 with x86-64's default NODES_SHIFT, arch/x86/include/asm/e820/types.h@v6.12.117).
#: 1024 is several times any real map and keeps a hostile one's JSON (about 250 bytes a descriptor)
#: near 256 KiB, so a dump that is hostile in every area at once still prints under 1 MiB of compact JSON.
MAX_DESCRIPTORS = 1024
_DESC = struct.Struct(EFI_MEMORY_DESCRIPTOR_STRUCT)


@dataclass(kw_only=True)
class MemoryDescriptor(Parsed):
    kind = "EFI_MEMORY_DESCRIPTOR"

    index: int
    type: int
    type_name: str
    physical_start: int
    virtual_start: int
    number_of_pages: int
    attribute: int
    attribute_names: list[str]

    @property
    def physical_end(self) -> int:
        return self.physical_start + self.number_of_pages * EFI_PAGE_SIZE

    @property
    def is_runtime(self) -> bool:
        return bool(self.attribute & EFI_MEMORY_RUNTIME)

    @property
    def title(self) -> str:
        return f"[{self.index}] {self.type_name} {self.physical_start:#x}-{self.physical_end:#x}"

    def to_dict(self, raw: bool = False) -> dict[str, Any]:
        """:meth:`Parsed.to_dict`'s keys and values, written out: a map holds up to MAX_DESCRIPTORS of these."""
        d: dict[str, Any] = {
            "kind": self.kind,
            "address": self.address,
            "size": self.size,
            "index": self.index,
            "type": self.type,
            "type_name": self.type_name,
            "physical_start": self.physical_start,
            "virtual_start": self.virtual_start,
            "number_of_pages": self.number_of_pages,
            "attribute": self.attribute,
            "attribute_names": list(self.attribute_names),
        }
        if self.fields is not None:
            d["fields"] = jsonable(self.fields)
        d["findings"] = [f.to_dict() for f in self.findings]
        if raw:
            d["raw"] = self.raw.hex()
        return d


@dataclass(kw_only=True)
class EfiMemoryMap(Parsed):
    kind = "EFI_MEMORY_MAP"

    descriptor_size: int
    descriptor_version: int
    descriptors: list[MemoryDescriptor] = field(default_factory=list)
    _starts: list[int] = field(default_factory=list, repr=False)
    _sorted: list[MemoryDescriptor] = field(default_factory=list, repr=False)

    @property
    def entries(self) -> list[MemoryDescriptor]:
        """The descriptors: every list of entries is ``.entries`` (E820, XSDT, MEMATTR, ...); ``descriptors``
        is the UEFI spec's word and stays the JSON key."""
        return self.descriptors

    @property
    def title(self) -> str:
        return f"EFI memory map ({len(self.descriptors)} descriptors)"

    def children(self) -> list[Parsed]:
        return list(self.descriptors)

    def _index(self) -> None:
        if len(self._sorted) != len(self.descriptors):
            self._sorted = sorted(self.descriptors, key=lambda d: d.physical_start)
            self._starts = [d.physical_start for d in self._sorted]

    def lookup(self, pa: int) -> MemoryDescriptor | None:
        """The descriptor whose physical range holds ``pa``."""
        self._index()
        i = bisect.bisect_right(self._starts, pa) - 1
        if i >= 0 and pa < self._sorted[i].physical_end:
            return self._sorted[i]
        return None

    def virt_to_phys(self, va: int) -> tuple[int, MemoryDescriptor] | None:
        """Translate an EFI runtime virtual address through the descriptors' VirtualStart."""
        for d in self.descriptors:
            if not d.is_runtime or d.virtual_start == 0:
                continue
            size = d.number_of_pages * EFI_PAGE_SIZE
            if d.virtual_start <= va < d.virtual_start + size:
                return d.physical_start + (va - d.virtual_start), d
        return None

    def to_dict(self, raw: bool = False) -> dict:
        d = super().to_dict(raw)
        d["descriptors"] = [x.to_dict() for x in self.descriptors]
        return d


def parse_memmap(
    mem: PhysicalMemory, address: int, size: int, desc_size: int, desc_version: int, source: str = "efi_info"
) -> EfiMemoryMap:
    """Read and check the map at ``address``; always returns a map (possibly empty) with findings.

    Reads at most :data:`MAX_DESCRIPTORS` descriptors, and only the whole descriptors the dump
    holds before its first hole.
    """
    name = f"EFI memory map ({source})"
    mm = EfiMemoryMap(address=address, size=size, descriptor_size=desc_size, descriptor_version=desc_version)
    if not descriptor_size_plausible(desc_size):
        mm.findings.append(
            make(MEMMAP_DESC_SIZE, name, address, f"descriptor size {desc_size} (must be 40-4096, a multiple of 8)")
        )
        return mm
    if desc_version != EFI_MEMORY_DESCRIPTOR_VERSION:
        mm.findings.append(make(MEMMAP_VERSION, name, address, f"descriptor version {desc_version}"))
    if size % desc_size:
        mm.findings.append(
            make(
                MEMMAP_SIZE,
                name,
                address,
                f"map size {size:#x} is not a multiple of descriptor size {desc_size}; the tail is ignored",
            )
        )
    count, too_many = count_cap(
        size // desc_size, MAX_DESCRIPTORS, MEMMAP_TOO_MANY, name, address, f"map size {size:#x}", "descriptors"
    )
    if too_many is not None:
        mm.findings.append(too_many)
    if count == 0:
        return mm
    want = count * desc_size
    gap = mem.first_gap(address, want) if address + want <= MAX_PHYS_ADDR else (address, address + want)
    if gap is not None:
        readable = max(0, (gap[0] - address) // desc_size)
        mm.findings.append(
            make(
                READ_ERROR,
                name,
                address,
                f"only {readable} of {count} descriptors are in the dump; {gap[0]:#x}-{gap[1]:#x} is missing",
            )
        )
        count = readable
    raw = mem.read(address, count * desc_size, structure=name) if count else b""
    mm.raw = raw
    for i in range(count):
        off = i * desc_size
        t, _pad, ps, vs, pages, attr = _DESC.unpack_from(raw, off)
        d = MemoryDescriptor(
            address=address + off,
            size=desc_size,
            raw=raw[off : off + desc_size],
            schema=EFI_MEMORY_DESCRIPTOR,
            index=i,
            type=t,
            type_name=type_name(t),
            physical_start=ps,
            virtual_start=vs,
            number_of_pages=pages,
            attribute=attr,
            attribute_names=attribute_names(attr),
        )
        dname = f"EFI memory descriptor [{i}]"
        if ps % EFI_PAGE_SIZE or vs % EFI_PAGE_SIZE:
            d.findings.append(make(MEMMAP_ALIGN, dname, d.address, f"PhysicalStart {ps:#x} VirtualStart {vs:#x}"))
        if pages == 0 or ps + pages * EFI_PAGE_SIZE > 1 << 64:
            d.findings.append(make(MEMMAP_EMPTY_DESC, dname, d.address, f"{pages:#x} pages at {ps:#x}"))
        if 16 <= t <= 0x6FFFFFFF:
            d.findings.append(make(MEMMAP_TYPE, dname, d.address, f"type {t:#x}"))
        mm.descriptors.append(d)
    overlaps: list[Finding] = []
    prev: MemoryDescriptor | None = None
    for d in sorted(mm.descriptors, key=lambda d: d.physical_start):
        if d.number_of_pages == 0:
            continue
        if prev is not None and d.physical_start < prev.physical_end:
            overlaps.append(
                make(
                    MEMMAP_OVERLAP,
                    name,
                    d.address,
                    f"descriptor [{d.index}] {d.physical_start:#x}-{d.physical_end:#x} overlaps "
                    f"[{prev.index}] {prev.physical_start:#x}-{prev.physical_end:#x}",
                )
            )
        if prev is None or d.physical_end > prev.physical_end:
            prev = d
    summaries = cap_findings([*(d.findings for d in mm.descriptors), overlaps], name, address)
    mm.findings.extend(overlaps)
    mm.findings.extend(summaries)
    return mm


def decode_descriptor(d: MemoryDescriptor) -> MemoryDescriptor:
    """Fill ``fields`` from the construct schema (for detail views); cheap to skip in bulk."""
    if d.fields is None and len(d.raw) >= EFI_MEMORY_DESCRIPTOR_SIZE:
        d.fields = EFI_MEMORY_DESCRIPTOR.parse(d.raw[:EFI_MEMORY_DESCRIPTOR_SIZE])
    return d
