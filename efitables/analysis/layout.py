"""Where objects lie: overlaps, memory types, extents against the memory map.

Rules (UEFI 2.10 sections 4.3 and 7.2; the kept/freed policy is :mod:`efitables.regions`):

* the runtime services table and the firmware vendor string are allocated by
  the firmware in ``EfiRuntimeServicesData`` and must be described by the EFI
  memory map, in a type the kernel keeps (the system table, the configuration
  table array and the configuration tables get the same verdict from
  :mod:`efitables.analysis.crosscheck`, ``BOOT-XC-*``, and are not repeated here);
* without a descriptor, the same objects must not sit in E820 usable RAM;
* no two separately allocated objects overlap (configuration-table payloads
  among themselves are checked by the payload decoders, ``PAYLOAD-OVERLAP``);
* an object whose count times entry size (or header size) runs past the
  memory-map region holding its start is cut short by that region.

Every check is one sort and one sweep (or one memoised pass over the memory map), never
a comparison of every pair, and lists at most :data:`MAX_OVERLAP_FINDINGS` overlapping
pairs or :data:`efitables.caps.MAX_FINDINGS_PER_KIND` findings of a code, then one
finding that counts the rest (:mod:`efitables.caps`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from efitables.analysis.objects import PAYLOAD, Extent, all_regions, firmware_regions
from efitables.analysis.registry import check
from efitables.caps import cap_findings, omitted
from efitables.findings import Finding, Severity, make, register
from efitables.schemas.boot_params import E820_TYPE_RAM

if TYPE_CHECKING:
    from efitables.dump import Dump
    from efitables.efi.memmap import EfiMemoryMap, MemoryDescriptor

XS_OVERLAP = register(
    "XS-OVERLAP",
    Severity.ERROR,
    "Two separately allocated structures overlap",
    "Two objects reached by different pointers (system table, runtime services, configuration table array, "
    "firmware vendor string, EFI memory map, boot_params, command line, setup_data nodes, CC blob, "
    "configuration-table payloads) share bytes, so writing one corrupts the other. A pointer spliced to "
    "point into another structure shows up here.",
)
XS_MEMTYPE = register(
    "XS-MEMTYPE",
    Severity.WARNING,
    "A firmware runtime structure lies in memory of the wrong EFI type",
    "The runtime services table and the firmware vendor string (the system table and configuration tables are "
    "placed by BOOT-XC-*) must be in memory the kernel keeps: EfiRuntimeServicesData or code, reserved, ACPI, "
    "MMIO. In boot-services (without EFI_MEMORY_RUNTIME), loader or conventional memory the kernel reuses "
    "their bytes after boot.",
)
XS_NOT_IN_MEMMAP = register(
    "XS-NOT-IN-MEMMAP",
    Severity.WARNING,
    "A firmware runtime structure is not described by the EFI memory map",
    "The structure's address is in no descriptor of the EFI memory map, so the kernel neither reserves nor "
    "maps it for runtime services.",
)
XS_E820_RAM = register(
    "XS-E820-RAM",
    Severity.WARNING,
    "A firmware runtime structure lies in E820 usable RAM",
    "The E820 table the kernel received gives the structure's address type 1 (usable RAM); the EFI stub "
    "reports runtime memory as reserved, so the kernel may allocate over the structure.",
)
XS_EXTENT = register(
    "XS-EXTENT",
    Severity.WARNING,
    "A structure's size or count runs past the memory-map region holding it",
    "The object starts inside an EFI memory descriptor but its size (a header size, or an entry count times "
    "the entry size) runs past that descriptor and the adjacent ones of the same type.",
)

#: Payloads that wrap another object by design: the Linux EFI stub's LINUX_EFI_BOOT_MEMMAP table is
#: ``struct efi_boot_memmap``, a header followed by the very memory map efi_info names.
WRAPS = {"LINUX_EFI_BOOT_MEMMAP_GUID": frozenset({"EFI memory map"})}
#: A dump with thousands of overlapping objects gets this many findings and a summary.
MAX_OVERLAP_FINDINGS = 64


def _memmap(d: Dump) -> EfiMemoryMap | None:
    mm = d.efi_memmap
    return mm if mm is not None and mm.descriptors else None


@check("overlap")
def overlaps(d: Dump) -> list[Finding]:
    """XS-OVERLAP: separately allocated objects that share bytes."""
    regions = sorted(all_regions(d), key=lambda r: (r.address, -r.size))
    out: list[Finding] = []
    active: list[Extent] = []
    extra = 0
    for r in regions:
        active = [a for a in active if a.end > r.address]
        for a in active:
            if a.group == r.group or (a.role == PAYLOAD and r.role == PAYLOAD):
                continue  # one object, or payloads (checked by their decoders)
            if _wraps(a, r) or _wraps(r, a):
                continue
            if len(out) >= MAX_OVERLAP_FINDINGS:
                extra += 1
                continue
            out.append(make(XS_OVERLAP, r.name, r.address, f"{r.describe()} overlaps {a.describe()}"))
        active.append(r)
    if extra:
        out.append(omitted(XS_OVERLAP, extra, "dump", None, MAX_OVERLAP_FINDINGS))
    return out


def _wraps(outer: Extent, inner: Extent) -> bool:
    return inner.name in WRAPS.get(outer.tag, ()) and outer.address <= inner.address and inner.end <= outer.end


def _covered_end(mm: EfiMemoryMap, desc: MemoryDescriptor, memo: dict[int, int]) -> int:
    """End of ``desc`` extended across adjacent descriptors of the same type.

    ``memo`` (descriptor index -> covered end) is shared by the calls of one check: a run of n
    adjacent descriptors is walked once, not once per object that starts in it.
    """
    chain: list[MemoryDescriptor] = []
    d, end = desc, desc.physical_end
    for _ in range(len(mm.descriptors)):
        if d.index in memo:
            end = memo[d.index]
            break
        chain.append(d)
        end = d.physical_end
        nxt = mm.lookup(end)
        if nxt is None or nxt.type != d.type or nxt.physical_end <= end:
            break
        d = nxt
    for c in chain:  # every descriptor of the chain ends its run at the same place
        memo[c.index] = end
    return end


@check("memory types")
def memory_types(d: Dump) -> list[Finding]:
    """XS-MEMTYPE, XS-NOT-IN-MEMMAP, XS-E820-RAM: firmware runtime objects in the wrong memory.

    Objects the boot cross-checks already place (``BOOT-XC-*``: the system table, the configuration
    table array, each configuration table) are skipped, so each object gets one verdict.
    """
    out: list[Finding] = []
    mm = _memmap(d)
    rmap = d.regions
    placed = {r.address for r in d.boot_crosschecks.regions}
    for r in firmware_regions(d):
        if r.address in placed:
            continue
        desc = rmap.efi(r.address) if mm is not None else None
        if mm is not None and desc is None:
            out.append(make(XS_NOT_IN_MEMMAP, r.name, r.address, f"{r.describe()} is in no EFI memory descriptor"))
        elif desc is not None and not desc.kept:
            out.append(
                make(
                    XS_MEMTYPE,
                    r.name,
                    r.address,
                    f"{r.describe()} is in [{desc.index}] {desc.type_name} "
                    f"{desc.start:#x}-{desc.end:#x}, memory the kernel reuses",
                )
            )
        hit = rmap.e820(r.address) if desc is None else None
        if hit is not None and hit.type == E820_TYPE_RAM:
            where = f"{hit.start:#x}-{hit.end:#x}"
            out.append(make(XS_E820_RAM, r.name, r.address, f"{r.describe()} is in E820 usable RAM {where}"))
    return out


@check("extents")
def extents(d: Dump) -> list[Finding]:
    """XS-EXTENT: counts and sizes that run past the memory-map region holding the object."""
    mm = _memmap(d)
    if mm is None:
        return []
    out: list[Finding] = []
    memo: dict[int, int] = {}
    for r in all_regions(d):
        if r.role == PAYLOAD:
            continue  # PAYLOAD-REGION-END
        desc = mm.lookup(r.address)
        if desc is None:
            continue  # XS-NOT-IN-MEMMAP for firmware objects; the kernel's own objects need not be described
        end = _covered_end(mm, desc, memo)
        if r.end > end:
            what = r.describe()
            if r.name == "EFI_CONFIGURATION_TABLE array":
                arr = d.systab.config_table_array if d.systab is not None else None
                if arr is not None:
                    what = f"{arr.count} entries x {arr.entry_size} bytes ({r.address:#x}-{r.end:#x})"
            out.append(
                make(
                    XS_EXTENT,
                    r.name,
                    r.address,
                    f"{what} runs {r.end - end:#x} bytes past [{desc.index}] {desc.type_name} "
                    f"{desc.physical_start:#x}-{end:#x}",
                )
            )
    out.extend(cap_findings([out], "dump", None))
    return out
