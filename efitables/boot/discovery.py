"""Finding ``struct boot_params`` in a dump: every route tried, every candidate ranked and explained.

Routes, in the order they are trusted:

1. ``argument``: an address given with ``--boot-params``.
2. ``kallsyms``: the kernel's own copy, the ``boot_params`` symbol resolved
   through the kallsyms tables when VMCOREINFO exports them
   (``SYMBOL(kallsyms_names)``, ``_token_table``, ``_token_index``,
   ``_offsets``, ``_relative_base``, ``_num_syms``; torvalds/linux
   kernel/kallsyms.c and kernel/vmcore_info.c). physical = virtual -
   0xffffffff80000000 + ``NUMBER(phys_base)``.
3. ``scan``: 8-byte-aligned positions with ``HdrS`` at +0x202 or
   ``EL64``/``EL32`` at +0x1C0 (the kernel's copy is a global in the kernel image,
   not page-aligned; loaders' copies are pages), checked with ``struct`` only.

A scan candidate needs either the setup-header identity (``HdrS``, boot_flag
0xAA55, version 2.00-2.ff) or the EFI-stub identity (``EL64``/``EL32`` with a
sane ``efi_info`` and sane E820 entries): on a native EFI-stub boot the zero page
is a zeroed page in which ``efi_pe_entry`` sets only root_flags, vid_mode,
type_of_loader (0x21) and the command line, so it has no ``HdrS``, version or
boot_flag (torvalds/linux drivers/firmware/efi/libstub/x86-stub.c@v6.12.117).
Candidates are scored; each point comes with its reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from efitables.efi.hits import CHUNK, KERNEL_COPY_ALIGN, PAGE
from efitables.errors import MemoryReadError
from efitables.findings import READ_ERROR, Finding, Severity, make, register
from efitables.kernel import kallsyms
from efitables.memory.base import MAX_PHYS_ADDR, PhysicalMemory
from efitables.memory.vmcoreinfo import KERNEL_MAP_BASE
from efitables.schemas.boot_params import (
    BOOT_E820_ENTRY_FAST,
    BOOT_E820_ENTRY_SIZE,
    BOOT_FLAG,
    BOOT_FLAG_FAST,
    BOOT_FLAG_OFFSET,
    BOOT_PARAMS_SIZE,
    E820_ENTRIES_OFFSET,
    E820_MAX_ENTRIES_ZEROPAGE,
    E820_TABLE_OFFSET,
    E820_TYPE_RAM,
    E820_TYPES,
    EFI_INFO_OFFSET,
    HDRS_MAGIC,
    HEADER_MAGIC_OFFSET,
    HEADER_VERSION_FAST,
    SENTINEL_OFFSET,
    SETUP_HEADER_VERSION_MAX,
    SETUP_HEADER_VERSION_MIN,
    TYPE_OF_LOADER_OFFSET,
)
from efitables.schemas.efi_info import EFI32_LOADER_SIGNATURE, EFI64_LOADER_SIGNATURE, EFI_INFO_FAST, EFI_INFO_HI_SHIFT
from efitables.schemas.efi_memmap import EFI_MEMORY_DESCRIPTOR_VERSION, descriptor_size_plausible
from efitables.schemas.efi_tables import EFI_SYSTEM_TABLE_SIGNATURE_BYTES
from efitables.schemas.pvh import PVH_BOOT_PROTOCOL, PVH_LOADER_OTHER, PVH_LOADER_XEN

NO_BOOT_PARAMS = register(
    "BOOT-PARAMS-NOT-FOUND",
    Severity.WARNING,
    "No boot_params (zero page) was found",
    "Neither --boot-params, the kernel's boot_params symbol (kallsyms via VMCOREINFO) nor the scan "
    "gave a plausible zero page.",
)

#: Candidates kept from a scan (a dump full of copies is hostile).
MAX_CANDIDATES = 256
#: How much of the EFI memory map is probed for presence in the dump.
MEMMAP_PROBE_BYTES = PAGE


@dataclass
class BootParamsCandidate:
    """A position that may hold a zero page, with the score and every reason for it."""

    address: int
    found_by: str  # "argument", "kallsyms", "scan"
    score: int
    reasons: list[str] = field(default_factory=list)
    identity: str = ""  # "setup_header", "efi_stub", "" (none)

    @property
    def plausible(self) -> bool:
        return bool(self.identity)

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "found_by": self.found_by,
            "score": self.score,
            "identity": self.identity,
            "reasons": self.reasons,
        }


@dataclass
class BootRoute:
    name: str
    address: int | None
    status: str  # "used", "agrees", "other", "unavailable", "rejected"
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"route": self.name, "address": self.address, "status": self.status, "detail": self.detail}


@dataclass
class BootParamsDiscovery:
    address: int | None = None
    route: str | None = None
    routes: list[BootRoute] = field(default_factory=list)
    candidates: list[BootParamsCandidate] = field(default_factory=list)
    scanned: bool = False

    def ranked(self) -> list[tuple[int, str]]:
        """(address, how found), best first: the shape the EFI discovery consumes."""
        out: list[tuple[int, str]] = []
        if self.address is not None:
            out.append((self.address, self.route or ""))
        for c in self.candidates:
            if c.plausible and c.address != self.address:
                out.append((c.address, c.found_by))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "route": self.route,
            "scanned": self.scanned,
            "routes": [r.to_dict() for r in self.routes],
            "candidates": [c.to_dict() for c in self.candidates],
        }


# -- cheap candidate checks ----------------------------------------------------------
def score_candidate(mem: PhysicalMemory, pa: int, found_by: str = "scan") -> BootParamsCandidate:
    """Score the 4 KiB at ``pa`` as a zero page using ``struct`` reads only."""
    c = BootParamsCandidate(pa, found_by, 0)
    try:
        page = mem.read(pa, BOOT_PARAMS_SIZE, structure="boot_params candidate")
    except MemoryReadError as e:
        c.score = -100
        c.reasons.append(f"-100 not in the dump: {e.reason}")
        return c

    def add(points: int, why: str) -> None:
        c.score += points
        c.reasons.append(f"{points:+d} {why}")

    header, version = HEADER_VERSION_FAST.unpack_from(page, HEADER_MAGIC_OFFSET)
    boot_flag = BOOT_FLAG_FAST.unpack_from(page, BOOT_FLAG_OFFSET)[0]
    version_ok = SETUP_HEADER_VERSION_MIN <= version <= SETUP_HEADER_VERSION_MAX
    hdr_ok = header == HDRS_MAGIC and boot_flag == BOOT_FLAG and version_ok
    if header == HDRS_MAGIC:
        add(30, f"'HdrS' at +{HEADER_MAGIC_OFFSET:#x}")
        if boot_flag == BOOT_FLAG:
            add(10, f"boot_flag 0x{BOOT_FLAG:04X}")
        else:
            add(-10, f"boot_flag {boot_flag:#06x}")
        if version_ok:
            add(10, f"protocol {version >> 8}.{version & 0xFF:02d}")
        else:
            add(-20, f"version {version:#06x} outside 2.00-2.ff")

    sig, st_lo, dsize, dver, mm_lo, mm_size, st_hi, mm_hi = EFI_INFO_FAST.unpack_from(page, EFI_INFO_OFFSET)
    efi_ok = False
    if sig in (EFI64_LOADER_SIGNATURE, EFI32_LOADER_SIGNATURE):
        add(20, f"{'EL64' if sig == EFI64_LOADER_SIGNATURE else 'EL32'} at +{EFI_INFO_OFFSET:#x}")
        systab, memmap = st_lo | st_hi << EFI_INFO_HI_SHIFT, mm_lo | mm_hi << EFI_INFO_HI_SHIFT
        problems = []
        if not 0 < systab < MAX_PHYS_ADDR:
            problems.append(f"efi_systab {systab:#x}")
        if not descriptor_size_plausible(dsize):
            problems.append(f"efi_memdesc_size {dsize}")
        elif mm_size % dsize or mm_size == 0:
            problems.append(f"efi_memmap_size {mm_size:#x}")
        if dver != EFI_MEMORY_DESCRIPTOR_VERSION:
            problems.append(f"efi_memdesc_version {dver}")
        if not 0 < memmap < MAX_PHYS_ADDR:
            problems.append(f"efi_memmap {memmap:#x}")
        if problems:
            add(-10, "efi_info not sane: " + ", ".join(problems))
        else:
            efi_ok = True
            add(15, "efi_info sane (system table, descriptor size, map size)")
            if mem.is_readable(memmap, min(mm_size, MEMMAP_PROBE_BYTES)):
                add(5, "EFI memory map is in the dump")
            sig_len = len(EFI_SYSTEM_TABLE_SIGNATURE_BYTES)
            try:  # inside the ranges is not readable yet: a kdump page there may be bad
                sig_ok = mem.read(systab, sig_len, structure="EFI system table") == EFI_SYSTEM_TABLE_SIGNATURE_BYTES
            except MemoryReadError:
                sig_ok = False
            if sig_ok:
                add(10, "efi_systab points at 'IBI SYST'")

    n = page[E820_ENTRIES_OFFSET]
    e820_ok = False
    if n == 0:
        add(-10, "e820_entries 0 (a cached kernel image or an unused copy)")
    elif n > E820_MAX_ENTRIES_ZEROPAGE:
        add(-30, f"e820_entries {n} > {E820_MAX_ENTRIES_ZEROPAGE}")
    else:
        bad = 0
        ram = 0
        for i in range(n):
            addr, size, typ = BOOT_E820_ENTRY_FAST.unpack_from(page, E820_TABLE_OFFSET + BOOT_E820_ENTRY_SIZE * i)
            if size == 0 or addr + size > 1 << 64 or typ not in E820_TYPES:
                bad += 1
            elif typ == E820_TYPE_RAM:
                ram += size
        if bad == 0 and ram > 0:
            e820_ok = True
            add(10, f"{n} sane E820 entries ({ram >> 20} MiB RAM)")
        else:
            add(-5 * min(bad, 6), f"{bad} of {n} E820 entries not sane" if bad else "no RAM in E820")
    if page[TYPE_OF_LOADER_OFFSET]:
        add(5, f"type_of_loader {page[TYPE_OF_LOADER_OFFSET]:#04x}")
    if page[SENTINEL_OFFSET] == 0:
        add(2, "sentinel 0")
    if pa % PAGE == 0:
        add(3, "page-aligned")

    pvh_ok = header != HDRS_MAGIC and version == PVH_BOOT_PROTOCOL and not efi_ok
    pvh_ok = pvh_ok and page[TYPE_OF_LOADER_OFFSET] in (PVH_LOADER_XEN, PVH_LOADER_OTHER)
    if pvh_ok and e820_ok:
        add(10, "no 'HdrS', protocol 2.12 and a PVH loader: the zero page Linux builds from a PVH start info")
    if hdr_ok:
        c.identity = "setup_header"
    elif efi_ok and e820_ok:
        c.identity = "efi_stub"
    elif pvh_ok and e820_ok:
        c.identity = "pvh"
    return c


def scan_candidates(
    mem: PhysicalMemory,
    *,
    chunk_size: int = CHUNK,
    limit: int = MAX_CANDIDATES,
    progress: Callable[[int, int], None] | None = None,
    positions: Callable[[], list[int]] | None = None,
) -> tuple[list[BootParamsCandidate], bool]:
    """Score the zero-page positions of the dump's signature sweep; returns (plausible candidates ranked, truncated).

    The sweep is :func:`efitables.efi.scan.scan` (one streaming pass shared with the
    system-table search); ``positions`` supplies its result when a caller already
    has it. ``progress(done, total)`` is called after each window.
    """
    if positions is not None:
        found_at, truncated = positions(), False
    else:
        from efitables.efi.scan import scan as signature_scan  # numpy: only when a sweep runs

        hits = signature_scan(mem, chunk_size=chunk_size, zero_page_align=KERNEL_COPY_ALIGN, progress=progress)
        found_at, truncated = hits.zero_pages, hits.truncated
    if len(found_at) > limit * 16:
        found_at, truncated = found_at[: limit * 16], True
    out = []
    for base in found_at:
        c = score_candidate(mem, base, "scan")
        if c.plausible:
            out.append(c)
    out.sort(key=lambda c: (-c.score, c.address))
    if len(out) > limit:
        out, truncated = out[:limit], True
    return out, truncated


# -- kallsyms --------------------------------------------------------------------------
@dataclass
class KallsymsResult:
    virtual: int | None
    physical: int | None
    detail: str


def kallsyms_lookup(mem: PhysicalMemory, info: dict[str, str] | None, name: str) -> KallsymsResult:
    """Resolve a kernel symbol through the kallsyms tables that VMCOREINFO locates.

    The tables are decoded once per dump by :func:`efitables.kernel.kallsyms.load`
    (torvalds/linux kernel/kallsyms.c); this only phrases the answer as a route.
    """
    ks = kallsyms.load(mem, info)
    virt = ks.virtual(name)
    from_vmcoreinfo = virt is not None and ks.source(name) == "VMCOREINFO"
    if ks.error is not None and not from_vmcoreinfo:
        return KallsymsResult(None, None, ks.error)
    if virt is None:
        return KallsymsResult(None, None, f"{name} is not among {ks.count} kallsyms symbols")
    pa = ks.physical(name)
    if pa is None:
        return KallsymsResult(virt, None, f"{name} = {virt:#x} is not a kernel-image address")
    where = (
        "VMCOREINFO SYMBOL()"
        if from_vmcoreinfo
        else f"kallsyms: {name} ({ks.kind(name)}), symbol {ks.index(name)} of {ks.count}"
    )
    return KallsymsResult(
        virt, pa, f"{where}: {name} = {virt:#x}, physical {pa:#x} (- {KERNEL_MAP_BASE:#x} + phys_base)"
    )


# -- the discovery -------------------------------------------------------------------
def discover_boot_params(
    mem: PhysicalMemory,
    *,
    given: int | None = None,
    vmcoreinfo: dict[str, str] | None = None,
    scan: bool | None = None,
    progress: Callable[[int, int], None] | None = None,
    positions: Callable[[], list[int]] | None = None,
    skip_reason: str | None = None,
) -> BootParamsDiscovery:
    """Run every route; the first trusted one that gives a plausible zero page is used.

    ``scan``: True always scans, False never, None (auto) scans only when neither
    ``given`` nor kallsyms gave a plausible zero page. ``positions`` returns the
    zero-page positions of a signature sweep the caller runs (or already ran), so
    the dump is swept once. ``skip_reason`` says why a scan that was not run was not
    (default: ``--scan never``).
    """
    d = BootParamsDiscovery()
    if given is not None:
        c = score_candidate(mem, given, "argument")
        d.candidates.append(c)
        how = "given with --boot-params" + ("" if c.plausible else " (does not look like a zero page)")
        _use(d, BootRoute("argument", given, "", how))

    ks = kallsyms_lookup(mem, vmcoreinfo, "boot_params")
    if ks.physical is None:
        d.routes.append(BootRoute("kallsyms", None, "unavailable", ks.detail))
    else:
        c = score_candidate(mem, ks.physical, "kallsyms")
        d.candidates.append(c)
        if c.plausible:
            _use(d, BootRoute("kallsyms", ks.physical, "", ks.detail))
        else:
            d.routes.append(BootRoute("kallsyms", ks.physical, "rejected", f"{ks.detail}; {'; '.join(c.reasons[-3:])}"))

    if scan or (scan is None and d.address is None):
        add_scan(mem, d, progress, positions)
    else:
        why = "not run (another route gave the zero page)"
        if scan is False:
            why = skip_reason or "not run (--scan never)"
        d.routes.append(BootRoute("scan", None, "unavailable", why))
    _sort(d)
    return d


def add_scan(
    mem: PhysicalMemory,
    d: BootParamsDiscovery,
    progress: Callable[[int, int], None] | None = None,
    positions: Callable[[], list[int]] | None = None,
) -> None:
    """Scan the dump and add its ranked candidates to ``d``."""
    d.scanned = True
    d.routes = [r for r in d.routes if r.name != "scan"]
    found, truncated = scan_candidates(mem, progress=progress, positions=positions)
    known = {c.address for c in d.candidates}
    new = [c for c in found if c.address not in known]
    new.sort(key=lambda c: (-c.score, c.address))
    d.candidates.extend(new)
    extra = " (truncated)" if truncated else ""
    if found:
        best = found[0]
        n = len(found)
        _use(d, BootRoute("scan", best.address, "", f"{n} plausible zero pages{extra}; best ranked"))
    else:
        d.routes.append(BootRoute("scan", None, "unavailable", f"no plausible zero page in the dump{extra}"))
    _sort(d)


def discovery_findings(d: BootParamsDiscovery, parsed: bool) -> list[Finding]:
    """Findings about the discovery itself: nothing found, or the chosen page not in the dump."""
    if d.address is None:
        routes = "; ".join(f"{r.name}: {r.detail}" for r in d.routes)
        return [make(NO_BOOT_PARAMS, "boot_params", None, routes)]
    if not parsed:
        return [make(READ_ERROR, "boot_params", d.address, f"the zero page ({d.route}) is not (fully) in the dump")]
    return []


def _use(d: BootParamsDiscovery, route: BootRoute) -> None:
    """Record a route: the first with an address is used; later ones agree or name another page."""
    if d.address is None and route.address is not None and route.status == "":
        route.status = "used"
        d.address, d.route = route.address, route.name
    elif route.status == "":
        route.status = "agrees" if route.address == d.address else "other"
    d.routes.append(route)


def _sort(d: BootParamsDiscovery) -> None:
    d.candidates.sort(key=lambda c: (c.address != d.address, -c.score, c.address))
