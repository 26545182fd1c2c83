"""The system table's pointers after SetVirtualAddressMap: resolving them to physical addresses.

At ``SetVirtualAddressMap`` (UEFI 2.10 §8.4) firmware converts the system
table's ``FirmwareVendor``, ``RuntimeServices`` and ``ConfigurationTable`` to
the OS's virtual addresses (``RuntimeDriverSetVirtualAddressMap`` in
tianocore/edk2 MdeModulePkg/Core/RuntimeDxe/Runtime.c@c5aa7e7d94c0); Linux x86-64
puts them in ``[EFI_VA_END, EFI_VA_START)`` (torvalds/linux
arch/x86/include/asm/pgtable_64_types.h@v6.12.117). A stored pointer is
therefore physical, or virtual and translated here, in order:

1. a physical copy Linux kept (SETUP_EFI, or the globals ``efi_fw_vendor``,
   ``efi_config_table``, ``efi_runtime`` of arch/x86/platform/efi/efi.c@v6.12.117);
2. the EFI memory map's ``VirtualStart`` of the runtime descriptor holding it;
3. the 2 MiB congruence Linux keeps between EFI virtual and physical addresses
   (:func:`congruent_candidates`);
4. for structures with a strong check, the offset inside a 4 KiB page near the
   system table (:func:`page_offset_candidates`).

Routes 2-4 accept an address only if the memory there holds the structure the
pointer names (a :class:`PointerCheck` the caller supplies); what could not be
translated stays ``untranslated``: a virtual address is never presented as a
physical one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from efitables.efi.memmap import EfiMemoryMap
from efitables.findings import Finding, Severity, make, register
from efitables.memory.base import MAX_PHYS_ADDR
from efitables.reprs import ShortRepr

SYSTAB_VIRTUAL = register(
    "EFI-SYSTAB-VIRTUAL-POINTER",
    Severity.INFO,
    "A system table pointer holds an EFI virtual address (after SetVirtualAddressMap)",
)
SYSTAB_UNTRANSLATED = register(
    "EFI-SYSTAB-UNTRANSLATED",
    Severity.WARNING,
    "A virtual system table pointer could not be translated to a physical address",
)

EFI_VA_END = 0xFFFFFFEF00000000  # Linux x86-64 EFI runtime window [EFI_VA_END, EFI_VA_START)
EFI_VA_START = 0xFFFFFFFF00000000

TWO_MIB = 2 << 20
#: Candidates tried per virtual pointer (runtime regions are few).
MAX_CONGRUENT = 64
#: Pages tried by the page-offset search (4 MiB around the system table).
MAX_PAGE_OFFSET_CANDIDATES = 1024


@dataclass(frozen=True)
class ResolvedPointer(ShortRepr):
    """A pointer field as stored and, if known, the physical address it names.

    ``repr()``: ``ResolvedPointer(stored=0xfffffffeff7e0100, physical=0x7e0100, route='efi-memmap')``.
    """

    _repr_fields = ("stored", "physical", "route")

    #: The value in the structure (physical, or an EFI virtual address after SetVirtualAddressMap).
    stored: int
    #: The physical address it names (None when it could not be translated, or for a null pointer).
    physical: int | None
    #: How :attr:`physical` was obtained: "null", "physical", "SETUP_EFI", "kallsyms", "efi-memmap",
    #: "efi-va-congruence", "efi-va-page-offset" or "untranslated".
    route: str

    @property
    def is_virtual(self) -> bool:
        """Whether :attr:`stored` was not already the physical address (it had to be translated)."""
        return self.route not in ("null", "physical")

    def to_dict(self) -> dict:
        """``{"stored", "physical", "route"}`` for the JSON output."""
        return {"stored": self.stored, "physical": self.physical, "route": self.route}


@dataclass(frozen=True)
class PointerCheck:
    """Whether a candidate physical address holds the structure a pointer names.

    ``strong`` checks (a signature, a plausible table array) may reject the memory
    map's translation and pick a page by offset; a weak one (a UCS-2 string) may
    only choose among 2 MiB-congruent candidates.
    """

    holds: Callable[[int], bool]
    strong: bool = True


def is_virtual_address(value: int, bits: int) -> bool:
    """A value no physical address can have (>= 2**52 on x86-64)."""
    return bits == 64 and value >= MAX_PHYS_ADDR


def congruent_candidates(va: int, memmap: EfiMemoryMap) -> list[int]:
    """Physical addresses in runtime-mapped descriptors congruent to ``va`` modulo 2 MiB.

    Linux x86-64 maps each EFI runtime region at a virtual address with the same
    offset inside a 2 MiB page as its physical one (torvalds/linux
    arch/x86/platform/efi/efi_64.c@v6.12.117 ``efi_map_region``), so a virtual
    pointer's physical address is one of these.
    """
    low = va & (TWO_MIB - 1)
    out: list[int] = []
    for d in memmap.descriptors:
        if not d.is_runtime:
            continue
        pa = d.physical_start - d.physical_start % TWO_MIB + low
        while pa < d.physical_end and len(out) < MAX_CONGRUENT:
            if pa >= d.physical_start:
                out.append(pa)
            pa += TWO_MIB
    return out


def page_offset_candidates(va: int, systab_pa: int, memmap: EfiMemoryMap | None) -> list[int]:
    """Addresses within 2 MiB of the system table with ``va``'s offset inside a 4 KiB page.

    The last resort for a virtual pointer nothing else translates (no memory map, or
    a VA that is not 2 MiB-congruent): EFI maps whole 4 KiB pages (memory
    descriptors count pages, UEFI 2.10 §7.2), so the page offset survives, and
    firmware keeps its runtime tables close together (EDK2 allocates the system
    table and the configuration table array as EfiRuntimeServicesData; OVMF puts
    the array in the system table's own page). Bounded by the system table's
    descriptor when a memory map is known.
    """
    lo, hi = systab_pa - TWO_MIB, systab_pa + TWO_MIB
    d = memmap.lookup(systab_pa) if memmap is not None else None
    if d is not None:
        lo, hi = max(lo, d.physical_start), min(hi, d.physical_end)
    off = va & 0xFFF
    page = max(lo, 0) & ~0xFFF
    out: list[int] = []
    while page + off < hi and len(out) < MAX_PAGE_OFFSET_CANDIDATES:
        if page + off >= lo:
            out.append(page + off)
        page += 0x1000
    return out


def resolve_pointer(
    value: int,
    bits: int,
    memmap: EfiMemoryMap | None,
    physical_copy: tuple[int, str] | None = None,
) -> ResolvedPointer:
    """Routes 1-2 without checking the memory found: null, physical, a physical copy, the memory map."""
    if value == 0:
        return ResolvedPointer(0, None, "null")
    if not is_virtual_address(value, bits):
        return ResolvedPointer(value, value, "physical")
    if physical_copy is not None:
        return ResolvedPointer(value, physical_copy[0], physical_copy[1])
    if memmap is not None:
        hit = memmap.virt_to_phys(value)
        if hit is not None:
            return ResolvedPointer(value, hit[0], "efi-memmap")
    return ResolvedPointer(value, None, "untranslated")


def translate_pointers(
    stored: dict[str, int],
    bits: int,
    memmap: EfiMemoryMap | None,
    copies: dict[str, tuple[int, str]],
    checks: dict[str, PointerCheck],
    systab_pa: int,
) -> tuple[dict[str, ResolvedPointer], dict[str, str]]:
    """Resolve each named pointer through routes 1-4; returns the results and a note per pointer.

    ``copies`` holds physical copies by pointer name, ``checks`` what each
    pointer's memory must hold; a note explains a rejected translation or the
    choice among several pages.
    """
    resolved: dict[str, ResolvedPointer] = {}
    notes: dict[str, str] = {}
    for name, value in stored.items():
        check = checks[name]
        p = resolve_pointer(value, bits, memmap, copies.get(name))
        if p.route == "efi-memmap" and p.physical is not None and check.strong and not check.holds(p.physical):
            # VirtualStart names memory that holds no such structure (a stale or bogus map): try the others
            notes[name] = f"; the memory map's translation {p.physical:#x} holds none"
            p = ResolvedPointer(value, None, "untranslated")
        if p.route == "untranslated" and memmap is not None:
            hits = [c for c in congruent_candidates(value, memmap) if check.holds(c)]
            if len(hits) == 1:
                p = ResolvedPointer(value, hits[0], "efi-va-congruence")
        if p.route == "untranslated" and check.strong:  # a weak check would accept too many pages
            hits = [c for c in page_offset_candidates(value, systab_pa, memmap) if check.holds(c)]
            if hits:
                # nearest first: EDK2 leaves stale copies of the array farther away
                best = min(hits, key=lambda c: ((c - value) % TWO_MIB != 0, abs(c - systab_pa)))
                p = ResolvedPointer(value, best, "efi-va-page-offset")
                others = f", {len(hits) - 1} other page(s) hold one too (stale copies?)" if len(hits) > 1 else ""
                notes[name] = notes.get(name, "") + f"; nearest of the pages holding one at that offset{others}"
        resolved[name] = p
    return resolved, notes


def pointer_findings(
    resolved: dict[str, ResolvedPointer], notes: dict[str, str], structure: str, pa: int
) -> list[Finding]:
    """EFI-SYSTAB-UNTRANSLATED for each pointer left virtual, EFI-SYSTAB-VIRTUAL-POINTER for each translated."""
    out: list[Finding] = []
    for name, p in resolved.items():
        if p.route == "untranslated":
            out.append(
                make(
                    SYSTAB_UNTRANSLATED,
                    structure,
                    pa,
                    f"{name} {p.stored:#x} is an EFI virtual address and no memory map or physical copy "
                    f"translates it{notes.get(name, '')}",
                )
            )
        elif p.is_virtual:
            out.append(
                make(
                    SYSTAB_VIRTUAL,
                    structure,
                    pa,
                    f"{name} {p.stored:#x} is virtual; physical {p.physical:#x} via {p.route}{notes.get(name, '')}",
                )
            )
    return out
