"""Finding the EFI System Table: every route tried, every candidate explained.

Routes, in the order they are trusted:

1. ``user``: an address given with ``--systab``.
2. ``efi_info``: ``boot_params.efi_info.efi_systab | efi_systab_hi << 32`` from
   a zero page (given with ``--boot-params``, found by the boot_params
   discovery, or a page the scan found with ``EL64``/``EL32`` at +0x1C0).
3. ``EFI_SYSTEM_TABLE_POINTER``: EDK2's debug structure on a 4 MiB boundary
   (tianocore/edk2 MdePkg/Include/Guid/DebugImageInfoTable.h and
   MdeModulePkg/Core/Dxe/Misc/DebugImageInfo.c@c5aa7e7d94c0), when the scan
   meets one with a valid CRC.
4. ``scan``: ``IBI SYST`` anywhere, accepted only if header size, revision,
   ``Reserved`` and the CRC32 are right and the configuration table pointer is
   plausible. Decoys (right signature, wrong size or CRC) are listed as rejected.

VMCOREINFO carries no EFI key; it is reported, and the boot_params discovery
uses it (kallsyms) where the kernel exports the symbols.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from efitables.efi.efi_info import EfiInfo, read_efi_info
from efitables.efi.hits import ScanHits
from efitables.efi.systab import MAX_CONFIG_TABLES, quick_check
from efitables.errors import MemoryReadError
from efitables.memory.base import MAX_PHYS_ADDR, PhysicalMemory
from efitables.schemas.efi_tables import (
    EFI_SYSTEM_TABLE_32_TABLES_FAST,
    EFI_SYSTEM_TABLE_32_TABLES_OFF,
    EFI_SYSTEM_TABLE_64_TABLES_FAST,
    EFI_SYSTEM_TABLE_64_TABLES_OFF,
    EFI_SYSTEM_TABLE_POINTER_ALIGNMENT,
    EFI_SYSTEM_TABLE_POINTER_FAST,
    EFI_SYSTEM_TABLE_POINTER_SIZE,
    EFI_SYSTEM_TABLE_SIGNATURE,
    EFI_TABLE_HEADER_FAST,
    EFI_TABLE_HEADER_SIZE,
    efi_crc32,
    efi_system_table_pointer_crc32,
)


@dataclass
class Candidate:
    """A position where the scan saw ``IBI SYST``."""

    address: int
    accepted: bool
    reason: str
    bits: int | None = None
    kind: str = "EFI_SYSTEM_TABLE"  # or EFI_SYSTEM_TABLE_POINTER

    def to_dict(self) -> dict:
        return {
            "address": self.address,
            "kind": self.kind,
            "accepted": self.accepted,
            "reason": self.reason,
            "bits": self.bits,
        }


@dataclass
class Route:
    """One way of finding the system table and what it gave."""

    name: str
    address: int | None
    status: str  # "used", "agrees", "disagrees", "unavailable", "rejected"
    detail: str
    bits: int | None = None

    def to_dict(self) -> dict:
        return {"route": self.name, "address": self.address, "status": self.status, "detail": self.detail}


@dataclass
class SystabDiscovery:
    routes: list[Route] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    address: int | None = None
    bits: int | None = None
    route: str | None = None
    efi_info: EfiInfo | None = None
    scanned: bool = False

    def to_dict(self) -> dict:
        return {
            "address": self.address,
            "route": self.route,
            "bits": self.bits,
            "efi_info": self.efi_info.to_dict() if self.efi_info else None,
            "routes": [r.to_dict() for r in self.routes],
            "scanned": self.scanned,
            "candidates": [c.to_dict() for c in self.candidates],
        }


def check_candidate(mem: PhysicalMemory, pa: int) -> Candidate:
    """Cheap checks (struct + one CRC) of a signature hit; no construct parse."""
    try:
        head = mem.read(pa, EFI_TABLE_HEADER_SIZE)
    except MemoryReadError as e:
        return Candidate(pa, False, f"unreadable: {e.reason}")
    ok, reason, bits = quick_check(head)
    if not ok:
        ptr = check_systab_pointer(mem, pa)
        return ptr if ptr is not None else Candidate(pa, False, reason, bits)
    _sig, _rev, hsize, _crc, _res = EFI_TABLE_HEADER_FAST.unpack_from(head)
    try:
        raw = mem.read(pa, hsize)
    except MemoryReadError as e:
        return Candidate(pa, False, f"table truncated: {e.reason}", bits)
    crc = EFI_TABLE_HEADER_FAST.unpack_from(raw)[3]  # CRC32, as read with the whole table
    calc = efi_crc32(raw, hsize)
    if calc != crc:
        return Candidate(pa, False, f"CRC32 {crc:#010x} does not match computed {calc:#010x}", bits)
    if bits == 64:
        nr, ct = EFI_SYSTEM_TABLE_64_TABLES_FAST.unpack_from(raw, EFI_SYSTEM_TABLE_64_TABLES_OFF)
    else:
        nr, ct = EFI_SYSTEM_TABLE_32_TABLES_FAST.unpack_from(raw, EFI_SYSTEM_TABLE_32_TABLES_OFF)
    if nr > MAX_CONFIG_TABLES:
        return Candidate(pa, False, f"NumberOfTableEntries {nr} is absurd", bits)
    if nr and ct == 0:
        return Candidate(pa, False, "ConfigurationTable is NULL with tables listed", bits)
    return Candidate(pa, True, f"{bits}-bit header, revision and CRC32 valid; {nr} configuration tables", bits)


def check_systab_pointer(mem: PhysicalMemory, pa: int) -> Candidate | None:
    """EDK2's EFI_SYSTEM_TABLE_POINTER at a 4 MiB boundary with a valid CRC, or None."""
    if pa % EFI_SYSTEM_TABLE_POINTER_ALIGNMENT:
        return None
    try:
        raw = mem.read(pa, EFI_SYSTEM_TABLE_POINTER_SIZE)
    except MemoryReadError:
        return None
    sig, base, crc = EFI_SYSTEM_TABLE_POINTER_FAST.unpack_from(raw)
    if sig != EFI_SYSTEM_TABLE_SIGNATURE:
        return None
    if efi_system_table_pointer_crc32(raw) != crc or not 0 < base < MAX_PHYS_ADDR:
        return None
    return Candidate(
        pa,
        False,
        f"EFI_SYSTEM_TABLE_POINTER naming a system table at {base:#x}",
        None,
        "EFI_SYSTEM_TABLE_POINTER",
    )


def discover_systab(
    mem: PhysicalMemory,
    *,
    user_systab: int | None = None,
    boot_params: list[tuple[int, str]] | None = None,
    hits: ScanHits | None = None,
) -> SystabDiscovery:
    """Run every route. ``boot_params`` are candidate zero pages, best first, with how each was found.

    ``hits`` is a finished signature scan, or None when none was run.
    """
    d = SystabDiscovery(scanned=hits is not None)
    if user_systab is not None:
        d.routes.append(Route("user", user_systab, "used", "given with --systab"))
        d.address, d.route = user_systab, "user"

    # efi_info from the best plausible zero page
    seen_bp: set[int] = set()
    for bp, how in boot_params or []:
        if bp in seen_bp:
            continue
        seen_bp.add(bp)
        info = read_efi_info(mem, bp)
        if info is None:
            d.routes.append(
                Route("efi_info", None, "unavailable", f"boot_params at {bp:#x} ({how}) is not in the dump")
            )
            continue
        problems = info.problems()
        if problems and how == "scan":
            continue  # a scan hit that is not an EFI zero page: not worth a line
        if problems:
            d.routes.append(
                Route(
                    "efi_info",
                    info.systab or None,
                    "rejected",
                    f"boot_params at {bp:#x} ({how}): {'; '.join(problems)}",
                )
            )
            continue
        if d.efi_info is None:
            d.efi_info = info
        _add(
            d,
            Route(
                "efi_info",
                info.systab,
                "",
                f"boot_params.efi_info at {bp:#x} ({how}), {info.signature_text}",
                info.bits,
            ),
        )
    if d.efi_info is None and not any(r.name == "efi_info" for r in d.routes):
        d.routes.append(Route("efi_info", None, "unavailable", "no zero page with an EFI hand-over was found"))

    if hits is not None:
        for pa in hits.systab:
            c = check_candidate(mem, pa)
            d.candidates.append(c)
        for c in d.candidates:
            if c.kind == "EFI_SYSTEM_TABLE_POINTER":
                base = int(c.reason.rsplit(" ", 1)[1], 16)
                _add(d, Route("EFI_SYSTEM_TABLE_POINTER", base, "", f"debug pointer at {c.address:#x}"))
        accepted = [c for c in d.candidates if c.accepted]
        if accepted:
            # Prefer a candidate other routes name; else the first.
            named = {r.address for r in d.routes if r.address is not None}
            best = next((c for c in accepted if c.address in named), accepted[0])
            capped = ", capped: later ones not looked at" if hits.systab_truncated else ""
            extra = f" ({len(accepted)} accepted of {len(d.candidates)} signature hits{capped})"
            _add(d, Route("scan", best.address, "", f"signature scan{extra}", best.bits))
        else:
            capped = " (capped: later ones not looked at)" if hits.systab_truncated else ""
            why = f"no valid system table among {len(d.candidates)} signature hits{capped}"
            d.routes.append(Route("scan", None, "unavailable", why))
    else:
        d.routes.append(Route("scan", None, "unavailable", "not run (a hint was available)"))

    if d.bits is None:
        d.bits = next((r.bits for r in d.routes if r.address == d.address and r.bits), None)
    return d


def _add(d: SystabDiscovery, r: Route) -> None:
    """Record a route: the first with an address is used; later ones agree or disagree."""
    if d.address is None:
        r.status = "used"
        d.address, d.route, d.bits = r.address, r.name, r.bits
    else:
        r.status = "agrees" if r.address == d.address else "disagrees"
    d.routes.append(r)
