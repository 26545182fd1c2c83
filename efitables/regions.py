"""Where an address lies: one memory-map region type, one lookup, one policy.

Every question of the form "what memory is this object in, and will the kernel
keep it?" goes through here: the boot cross-checks, the layout checks, the
payload region checks, the SEV-SNP page checks and the kexec coverage inputs.

The policy, per memory type, is what x86-64 Linux does with the memory after
boot (torvalds/linux v6.12):

* **kept**: never handed to the page allocator. EFI reserved, runtime services
  code/data, ACPI reclaim/NVS, MMIO, PAL code and persistent memory (UEFI 2.10
  section 7.2, ``EFI_MEMORY_TYPE``; arch/x86/platform/efi/efi.c
  ``do_add_efi_memmap`` reports them as E820 reserved/ACPI/NVS/PMEM), and the
  E820 types reserved, ACPI, NVS, PMEM, PRAM and reserved-kern (setup_data)
  (arch/x86/include/asm/e820/types.h; arch/x86/kernel/e820.c).
* **boot-time**: EFI boot-services code/data, freed by
  ``efi_free_boot_services`` (arch/x86/platform/efi/quirks.c) after
  ``SetVirtualAddressMap`` unless the descriptor has ``EFI_MEMORY_RUNTIME``.
* **free**: loader code/data, conventional and unaccepted memory, and E820 RAM:
  the kernel allocates over it.
* **unusable**: EFI unusable memory, E820 unusable/disabled: neither kept for
  firmware nor used.

A :class:`Region` is one EFI memory descriptor or E820 entry;
:class:`RegionMap` looks an address up in both maps at once.
"""

from __future__ import annotations

import bisect
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from efitables.schemas.boot_params import (
    E820_TYPE_ACPI,
    E820_TYPE_NVS,
    E820_TYPE_RAM,
    E820_TYPE_RESERVED,
    E820_TYPE_RESERVED_KERN,
    E820_TYPES,
    e820_type_name,
)
from efitables.schemas.efi_memmap import EFI_MEMORY_RUNTIME, EFI_MEMORY_TYPE
from efitables.schemas.efi_memmap import type_name as efi_type_name

if TYPE_CHECKING:
    from efitables.boot.e820 import E820Table
    from efitables.efi.memmap import EfiMemoryMap

EFI = "EFI"
E820 = "E820"


class MemoryClass(enum.StrEnum):
    """What the kernel does with a memory type after boot."""

    KEPT = "kept"
    BOOT_TIME = "boot-time"
    FREE = "free"
    UNUSABLE = "unusable"


_T = EFI_MEMORY_TYPE
#: EFI memory type -> class (UEFI 2.10 7.2; Linux arch/x86/platform/efi/efi.c, quirks.c).
EFI_CLASS: dict[int, MemoryClass] = {
    _T["EFI_RESERVED_TYPE"]: MemoryClass.KEPT,
    _T["EFI_LOADER_CODE"]: MemoryClass.FREE,
    _T["EFI_LOADER_DATA"]: MemoryClass.FREE,
    _T["EFI_BOOT_SERVICES_CODE"]: MemoryClass.BOOT_TIME,
    _T["EFI_BOOT_SERVICES_DATA"]: MemoryClass.BOOT_TIME,
    _T["EFI_RUNTIME_SERVICES_CODE"]: MemoryClass.KEPT,
    _T["EFI_RUNTIME_SERVICES_DATA"]: MemoryClass.KEPT,
    _T["EFI_CONVENTIONAL_MEMORY"]: MemoryClass.FREE,
    _T["EFI_UNUSABLE_MEMORY"]: MemoryClass.UNUSABLE,
    _T["EFI_ACPI_RECLAIM_MEMORY"]: MemoryClass.KEPT,
    _T["EFI_ACPI_MEMORY_NVS"]: MemoryClass.KEPT,
    _T["EFI_MEMORY_MAPPED_IO"]: MemoryClass.KEPT,
    _T["EFI_MEMORY_MAPPED_IO_PORT_SPACE"]: MemoryClass.KEPT,
    _T["EFI_PAL_CODE"]: MemoryClass.KEPT,
    _T["EFI_PERSISTENT_MEMORY"]: MemoryClass.KEPT,
    _T["EFI_UNACCEPTED_MEMORY"]: MemoryClass.FREE,
}
_E = {v: k for k, v in E820_TYPES.items()}
#: E820 type -> class (arch/x86/include/asm/e820/types.h, arch/x86/kernel/e820.c).
E820_CLASS: dict[int, MemoryClass] = {
    _E["E820_TYPE_RAM"]: MemoryClass.FREE,
    _E["E820_TYPE_RESERVED"]: MemoryClass.KEPT,
    _E["E820_TYPE_ACPI"]: MemoryClass.KEPT,
    _E["E820_TYPE_NVS"]: MemoryClass.KEPT,
    _E["E820_TYPE_UNUSABLE"]: MemoryClass.UNUSABLE,
    _E["E820_TYPE_DISABLED"]: MemoryClass.UNUSABLE,
    _E["E820_TYPE_PMEM"]: MemoryClass.KEPT,
    _E["E820_TYPE_PRAM"]: MemoryClass.KEPT,
    _E["E820_TYPE_RESERVED_KERN"]: MemoryClass.KEPT,
    _E["E820_TYPE_SOFT_RESERVED"]: MemoryClass.KEPT,
}


def _types(table: dict[int, MemoryClass], *classes: MemoryClass) -> frozenset[int]:
    return frozenset(t for t, c in table.items() if c in classes)


#: EFI types the kernel keeps whatever the attributes say.
EFI_KEPT_TYPES = _types(EFI_CLASS, MemoryClass.KEPT)
#: EFI boot-services code/data: kept only with EFI_MEMORY_RUNTIME.
EFI_BOOT_TIME_TYPES = _types(EFI_CLASS, MemoryClass.BOOT_TIME)
#: EFI types the kernel treats as RAM from the start.
EFI_FREE_TYPES = _types(EFI_CLASS, MemoryClass.FREE)
#: EFI types whose bytes may be reused after boot (free, and boot-time without EFI_MEMORY_RUNTIME).
EFI_REUSED_TYPES = EFI_FREE_TYPES | EFI_BOOT_TIME_TYPES
#: E820 types whose memory Linux never hands to its page allocator (reserved, ACPI, NVS, PMEM, PRAM, setup_data).
E820_KEPT_TYPES = _types(E820_CLASS, MemoryClass.KEPT) - {_E["E820_TYPE_SOFT_RESERVED"]}

#: x86 EFI stub: EFI memory type -> the E820 type it reports (arch/x86/boot/compressed/... ``setup_e820``
#: in drivers/firmware/efi/libstub/x86-stub.c, v6.12). Unaccepted memory is RAM (CONFIG_UNACCEPTED_MEMORY).
EFI_TO_E820: dict[int, int] = {
    _T["EFI_RESERVED_TYPE"]: E820_TYPE_RESERVED,
    _T["EFI_LOADER_CODE"]: E820_TYPE_RAM,
    _T["EFI_LOADER_DATA"]: E820_TYPE_RAM,
    _T["EFI_BOOT_SERVICES_CODE"]: E820_TYPE_RAM,
    _T["EFI_BOOT_SERVICES_DATA"]: E820_TYPE_RAM,
    _T["EFI_RUNTIME_SERVICES_CODE"]: E820_TYPE_RESERVED,
    _T["EFI_RUNTIME_SERVICES_DATA"]: E820_TYPE_RESERVED,
    _T["EFI_CONVENTIONAL_MEMORY"]: E820_TYPE_RAM,
    _T["EFI_UNUSABLE_MEMORY"]: _E["E820_TYPE_UNUSABLE"],
    _T["EFI_ACPI_RECLAIM_MEMORY"]: E820_TYPE_ACPI,
    _T["EFI_ACPI_MEMORY_NVS"]: E820_TYPE_NVS,
    _T["EFI_MEMORY_MAPPED_IO"]: E820_TYPE_RESERVED,
    _T["EFI_MEMORY_MAPPED_IO_PORT_SPACE"]: E820_TYPE_RESERVED,
    _T["EFI_PAL_CODE"]: E820_TYPE_RESERVED,
    _T["EFI_PERSISTENT_MEMORY"]: _E["E820_TYPE_PMEM"],
    _T["EFI_UNACCEPTED_MEMORY"]: E820_TYPE_RAM,
}
#: EFI_MEMORY_SP (specific-purpose memory): the stub reports such RAM as E820_TYPE_SOFT_RESERVED.
EFI_MEMORY_SP = 1 << 18
#: E820 types the kernel's direct map (``pfn_mapped``) covers: RAM and reserved-kern.
E820_MAPPED_TYPES = frozenset({E820_TYPE_RAM, E820_TYPE_RESERVED_KERN})


def efi_type_to_e820(efi_type: int, attribute: int = 0) -> int | None:
    """The E820 type the EFI stub reports for an EFI memory type (None: dropped)."""
    t = EFI_TO_E820.get(efi_type)
    if t == E820_TYPE_RAM and attribute & EFI_MEMORY_SP:
        return _E["E820_TYPE_SOFT_RESERVED"]
    return t


@dataclass(frozen=True)
class Region:
    """One memory-map range: an EFI memory descriptor or an E820 entry."""

    source: str  # EFI or E820
    type: int
    start: int
    end: int
    attribute: int = 0
    index: int | None = None

    @property
    def type_name(self) -> str:
        return efi_type_name(self.type) if self.source == EFI else e820_type_name(self.type)

    @property
    def memory_class(self) -> MemoryClass:
        table = EFI_CLASS if self.source == EFI else E820_CLASS
        return table.get(self.type, MemoryClass.KEPT if self.source == E820 else MemoryClass.UNUSABLE)

    @property
    def runtime(self) -> bool:
        """EFI_MEMORY_RUNTIME: the kernel maps and keeps it for runtime services."""
        return self.source == EFI and bool(self.attribute & EFI_MEMORY_RUNTIME)

    @property
    def kept(self) -> bool:
        """The kernel keeps the bytes after boot."""
        c = self.memory_class
        return c is MemoryClass.KEPT or (c is MemoryClass.BOOT_TIME and self.runtime)

    @property
    def reused(self) -> bool:
        """The kernel may reuse the bytes after boot (free memory, or boot-time memory it frees)."""
        c = self.memory_class
        return c is MemoryClass.FREE or (c is MemoryClass.BOOT_TIME and not self.runtime)

    def contains(self, pa: int) -> bool:
        return self.start <= pa < self.end

    def as_e820(self) -> Region | None:
        """This range as the E820 type the kernel sees (an EFI descriptor through the stub's translation)."""
        if self.source == E820:
            return self
        t = efi_type_to_e820(self.type, self.attribute)
        return None if t is None else Region(E820, t, self.start, self.end, index=self.index)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "type": self.type,
            "type_name": self.type_name,
            "start": self.start,
            "end": self.end,
            "class": str(self.memory_class),
            "free": self.reused,
        }

    def __str__(self) -> str:
        return f"{self.source} {self.type_name} {self.start:#x}-{self.end:#x}"


class _Index:
    """Sorted, bisectable ranges (first match wins where ranges overlap, as a linear scan would)."""

    def __init__(self, regions: Sequence[Region]) -> None:
        self.regions = [r for r in regions if r.end > r.start]
        self._sorted = sorted(range(len(self.regions)), key=lambda i: self.regions[i].start)
        self._starts = [self.regions[i].start for i in self._sorted]
        # longest end so far, so a lookup can stop scanning left once no range can reach pa
        self._reach: list[int] = []
        m = 0
        for i in self._sorted:
            m = max(m, self.regions[i].end)
            self._reach.append(m)

    def lookup(self, pa: int) -> Region | None:
        j = bisect.bisect_right(self._starts, pa) - 1
        best: int | None = None
        while j >= 0 and self._reach[j] > pa:
            i = self._sorted[j]
            if self.regions[i].contains(pa) and (best is None or i < best):
                best = i
            j -= 1
        return None if best is None else self.regions[best]


class RegionMap:
    """The EFI memory map and the E820 table as regions, looked up together."""

    def __init__(self, efi: Sequence[Region] = (), e820: Sequence[Region] = ()) -> None:
        self._efi = _Index(efi)
        self._e820 = _Index(e820)

    @classmethod
    def of(cls, memmap: EfiMemoryMap | None, e820: E820Table | None) -> RegionMap:
        return cls(efi_regions(memmap), e820_regions(e820))

    @property
    def efi_regions(self) -> list[Region]:
        return self._efi.regions

    @property
    def e820_regions(self) -> list[Region]:
        return self._e820.regions

    @property
    def has_efi(self) -> bool:
        return bool(self._efi.regions)

    @property
    def has_e820(self) -> bool:
        return bool(self._e820.regions)

    @property
    def full_efi_map(self) -> bool:
        """The EFI map lists conventional memory: it is the firmware's whole map, not a runtime-only one."""
        return any(r.type == _T["EFI_CONVENTIONAL_MEMORY"] for r in self._efi.regions)

    @property
    def runtime_only_efi_map(self) -> bool:
        """Every descriptor has EFI_MEMORY_RUNTIME (a kexec'd kernel's map, which omits ACPI and RAM)."""
        return self.has_efi and all(r.runtime for r in self._efi.regions)

    def efi(self, pa: int) -> Region | None:
        return self._efi.lookup(pa)

    def e820(self, pa: int) -> Region | None:
        return self._e820.lookup(pa)

    def at(self, pa: int) -> list[Region]:
        """The regions holding ``pa``: the EFI descriptor first, then the E820 entry (each if any)."""
        return [r for r in (self.efi(pa), self.e820(pa)) if r is not None]


def efi_regions(memmap: EfiMemoryMap | None) -> list[Region]:
    if memmap is None:
        return []
    return [
        Region(EFI, d.type, d.physical_start, d.physical_end, d.attribute, d.index)
        for d in memmap.descriptors
    ]


def e820_regions(e820: E820Table | None) -> list[Region]:
    if e820 is None:
        return []
    return [Region(E820, e.type, e.addr, e.end, index=e.index) for e in e820.entries if e.length > 0]
