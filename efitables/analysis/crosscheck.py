"""Cross-checks between boot_params, setup_data, the memory maps and the EFI tables.

Two kinds of result:

* :class:`Comparison`: two sources that should name the same thing, compared - the
  system table in ``efi_info`` vs the one the signature scan accepted vs the one
  in use; SETUP_EFI's ``tables``/``fw_vendor``/``smbios``/``runtime`` vs the
  system table's fields and the SMBIOS configuration table; ``acpi_rsdp_addr``
  vs the ACPI configuration tables; ``cc_blob_address`` vs SETUP_CC_BLOB and the
  EFI CC blob table.
* :class:`RegionCheck`: for each object (system table, configuration table
  array, each configuration table, each setup_data node, the command line) the
  EFI memory type and E820 type of the memory holding it, with a verdict.
  Firmware objects belong in memory the kernel keeps (runtime services data,
  ACPI, reserved); in boot-services memory they are "stale or overwritten" once
  the kernel frees it (``efi_free_boot_services``; real QEMU/OVMF dumps have
  several of OVMF's configuration tables in such memory), and in memory the
  kernel treats as free RAM they are a warning. setup_data nodes are loader
  data the kernel reserves.

Sources: torvalds/linux v6.12 arch/x86/include/uapi/asm/bootparam.h and
setup_data.h (the fields compared), arch/x86/kernel/kexec-bzimage64.c
``setup_efi_state`` (SETUP_EFI), arch/x86/platform/efi/quirks.c
``efi_free_boot_services`` and arch/x86/kernel/e820.c (what memory is kept);
UEFI 2.10 section 7.2 (memory types). The memory-type policy is
:mod:`efitables.regions`.

Bounds: objects come from the parsers' capped lists (at most
:data:`MAX_REGION_TABLES` configuration tables are placed one by one), every
lookup is a binary search, and the findings carry at most
:data:`efitables.caps.MAX_FINDINGS_PER_KIND` of each code, then one that counts the
rest (:mod:`efitables.caps`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from efitables.boot.bootparams import BootParams
from efitables.boot.e820 import E820Table
from efitables.boot.setup_data import (
    CcBlobPayload,
    EfiSetupPayload,
    IndirectPayload,
    SetupDataList,
    SetupPayload,
)
from efitables.caps import cap_findings, omitted
from efitables.efi.discovery import SystabDiscovery
from efitables.efi.memmap import EfiMemoryMap
from efitables.efi.systab import SystemTable
from efitables.findings import Finding, Severity, make, register
from efitables.memory.base import MAX_PHYS_ADDR, PhysicalMemory
from efitables.model import Parsed
from efitables.payloads import decoder_for
from efitables.regions import E820_KEPT_TYPES, MemoryClass, RegionMap
from efitables.schemas.boot_params import E820_TYPE_RAM
from efitables.schemas.efi_memmap import EFI_MEMORY_TYPE

EFI_CONVENTIONAL_MEMORY = EFI_MEMORY_TYPE["EFI_CONVENTIONAL_MEMORY"]
P = TypeVar("P", bound=SetupPayload)

XC_MISMATCH = register(
    "BOOT-XC-MISMATCH",
    Severity.WARNING,
    "Two sources disagree about an EFI or boot address",
    "efi_info, the signature scan, SETUP_EFI, the system table and boot_params name different "
    "addresses for the same object.",
)
XC_FREE_RAM = register(
    "BOOT-XC-FREE-RAM",
    Severity.WARNING,
    "A firmware object lies in memory the kernel treats as free RAM",
    "The EFI memory type (loader, conventional) or the E820 type (RAM) of the region lets the kernel "
    "allocate over it; its contents cannot be trusted in a dump of a running system.",
)
XC_BOOT_SERVICES = register(
    "BOOT-XC-BOOT-SERVICES",
    Severity.INFO,
    "An object lies in EFI boot-services memory: stale or overwritten after boot",
    "Linux frees boot-services memory after SetVirtualAddressMap unless it keeps the region "
    "(EFI_MEMORY_RUNTIME set); what the dump holds there may be stale or overwritten, not corrupt.",
)
XC_RAM_NOT_IN_DUMP = register(
    "BOOT-XC-RAM-NOT-IN-DUMP",
    Severity.INFO,
    "E820 RAM that the dump holds no bytes of",
    "The E820 table says RAM, but the dump has no bytes there: SMRAM (absent from QEMU dumps "
    "when SMM is on), memory a kdump filter left out, or a dump of part of the machine. "
    "Structures placed there cannot be checked.",
)
XC_UNMAPPED = register("BOOT-XC-UNMAPPED", Severity.WARNING, "An object lies outside every EFI memory map descriptor")
XC_NOT_IN_DUMP = register("BOOT-XC-NOT-IN-DUMP", Severity.WARNING, "An object's memory is not in the dump")
XC_STALE_CMDLINE = register(
    "BOOT-XC-CMDLINE-STALE",
    Severity.INFO,
    "The command line buffer was freed after boot and now holds other data",
    "Loaders put the command line in loader memory the kernel frees after copying it to "
    "boot_command_line; an empty or garbled command line there is expected.",
)

XC_SPAN = register(
    "BOOT-XC-SETUP-SPAN",
    Severity.WARNING,
    "A setup_data node runs past the E820 range that holds it",
    "A node's len larger than its containing E820 range is corrupt or hostile: the kernel reserves "
    "[node, node + 16 + len) (arch/x86/kernel/setup.c memblock_x86_reserve_range_setup_data).",
)

#: Configuration tables checked one by one (a firmware installs 5-40).
MAX_REGION_TABLES = 256

@dataclass
class Comparison:
    """Two or more sources that should agree about one address."""

    name: str
    status: str  # "agrees", "disagrees", "unavailable", "unverifiable"
    values: dict[str, int | None]
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "values": self.values, "detail": self.detail}


@dataclass
class RegionCheck:
    """Where an object lives, by the EFI memory map and E820."""

    object: str
    address: int
    size: int
    role: str  # "firmware", "setup_data", "loader-temporary"
    efi_type: str | None
    efi_runtime: bool | None
    e820_type: str | None
    in_dump: bool
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "object": self.object,
            "address": self.address,
            "size": self.size,
            "role": self.role,
            "efi_type": self.efi_type,
            "efi_runtime": self.efi_runtime,
            "e820_type": self.e820_type,
            "in_dump": self.in_dump,
            "verdict": self.verdict,
        }


@dataclass(kw_only=True)
class CrossChecks(Parsed):
    kind = "boot_crosschecks"

    checks: list[Comparison] = field(default_factory=list)
    regions: list[RegionCheck] = field(default_factory=list)

    @property
    def title(self) -> str:
        bad = sum(c.status == "disagrees" for c in self.checks)
        return f"cross-checks ({len(self.checks)} comparisons, {bad} disagree; {len(self.regions)} regions)"

    def check(self, name: str) -> Comparison | None:
        return next((c for c in self.checks if c.name == name), None)

    def region(self, obj: str) -> RegionCheck | None:
        return next((r for r in self.regions if r.object == obj), None)


def _compare(xc: CrossChecks, name: str, values: dict[str, int | None], detail: str = "") -> Comparison:
    known = {k: v for k, v in values.items() if v is not None}
    if len(known) < 2:
        missing = ", ".join(k for k, v in values.items() if v is None)
        c = Comparison(name, "unavailable", values, detail or f"not available: {missing}")
    elif len(set(known.values())) == 1:
        c = Comparison(name, "agrees", values, detail or "all sources agree")
    else:
        text = ", ".join(f"{k} {v:#x}" for k, v in known.items())
        c = Comparison(name, "disagrees", values, detail or text)
        addr = next(iter(known.values()))
        xc.findings.append(make(XC_MISMATCH, name, addr, text))
    xc.checks.append(c)
    return c


def _physical(stored: int | None, bits: int, memmap: EfiMemoryMap | None) -> tuple[int | None, str]:
    """A system table pointer as a physical address, translated through the memory map only."""
    if stored is None or stored == 0:
        return None, "null"
    if bits != 64 or stored < MAX_PHYS_ADDR:
        return stored, "physical"
    if memmap is not None:
        hit = memmap.virt_to_phys(stored)
        if hit is not None:
            return hit[0], "efi-memmap"
    return None, "untranslated virtual address"


def _field(systab: SystemTable | None, name: str) -> int | None:
    f = systab.fields if systab is not None else None
    try:
        return int(f[name]) if f is not None else None
    except (KeyError, TypeError):
        return None


def crosscheck(
    mem: PhysicalMemory,
    *,
    boot_params: BootParams | None,
    setup_data: SetupDataList | None,
    efi_memmap: EfiMemoryMap | None,
    e820: E820Table | None,
    systab: SystemTable | None = None,
    systab_discovery: SystabDiscovery | None = None,
) -> CrossChecks:
    """Run every comparison and region check the available structures allow."""
    xc = CrossChecks(address=None, size=0)
    bp = boot_params
    efi_setup = _first_payload(setup_data, EfiSetupPayload)
    cc_setup = _first_payload(setup_data, CcBlobPayload)
    bits = (systab.bits if systab is not None else 64) or 64
    rmap = RegionMap.of(efi_memmap, e820)
    maps_given = efi_memmap is not None or e820 is not None
    full_map = rmap.full_efi_map  # once: a scan of every descriptor

    # 1. the system table: efi_info vs scan vs the one in use
    accepted: list[int] = []
    scanned = False
    if systab_discovery is not None:
        scanned = systab_discovery.scanned
        accepted = [
            c.address for c in systab_discovery.candidates if c.accepted and c.kind == "EFI_SYSTEM_TABLE"
        ]
    efi_info_st = bp.efi_systab if bp is not None and bp.efi_loader_signature else None
    scan_st: int | None = None
    if accepted:
        scan_st = efi_info_st if efi_info_st in accepted else accepted[0]
    detail = ""
    if not scanned:
        detail = "the signature scan was not run (use --scan always)"
    elif len(accepted) > 1:
        detail = f"{len(accepted)} valid system tables found by the scan: {', '.join(f'{a:#x}' for a in accepted)}"
    _compare(
        xc,
        "system table: efi_info vs signature scan",
        {"efi_info": efi_info_st, "scan": scan_st},
        detail if detail and (efi_info_st is None or scan_st is None or len(accepted) > 1) else "",
    )
    in_use = systab.address if systab is not None else None
    _compare(xc, "system table: efi_info vs in use", {"efi_info": efi_info_st, "in_use": in_use})

    # 2. SETUP_EFI vs the system table
    if efi_setup is not None:
        ct_stored = _field(systab, "ConfigurationTable")
        ct_phys, how = _physical(ct_stored, bits, efi_memmap)
        _compare(
            xc,
            "configuration tables: SETUP_EFI.tables vs system table",
            {"SETUP_EFI.tables": efi_setup.tables, "ConfigurationTable": ct_phys},
            "" if ct_phys is not None or ct_stored is None else f"ConfigurationTable {ct_stored:#x}: {how}",
        )
        fv_stored = _field(systab, "FirmwareVendor")
        fv_phys, how = _physical(fv_stored, bits, efi_memmap)
        _compare(
            xc,
            "firmware vendor: SETUP_EFI.fw_vendor vs system table",
            {"SETUP_EFI.fw_vendor": efi_setup.fw_vendor, "FirmwareVendor": fv_phys},
            "" if fv_phys is not None or fv_stored is None else f"FirmwareVendor {fv_stored:#x}: {how}",
        )
        if efi_setup.runtime:
            rt_stored = _field(systab, "RuntimeServices")
            rt_phys, _how = _physical(rt_stored, bits, efi_memmap)
            vals = {"SETUP_EFI.runtime": efi_setup.runtime, "RuntimeServices": rt_stored}
            if efi_setup.runtime < MAX_PHYS_ADDR and rt_phys is not None:
                vals["RuntimeServices"] = rt_phys
            _compare(xc, "runtime services: SETUP_EFI.runtime vs system table", vals)
        smbios = _config_table(systab, ("SMBIOS3_TABLE_GUID", "SMBIOS_TABLE_GUID"), efi_setup.smbios)
        _compare(
            xc,
            "SMBIOS: SETUP_EFI.smbios vs configuration table",
            {"SETUP_EFI.smbios": efi_setup.smbios or None, "config table": smbios},
        )
    else:
        xc.checks.append(
            Comparison(
                "configuration tables: SETUP_EFI.tables vs system table",
                "unavailable",
                {},
                "no SETUP_EFI node (only kexec'd kernels get one)",
            )
        )

    # 3. boot_params pointers vs EFI configuration tables
    if bp is not None and bp.acpi_rsdp_addr:
        rsdp = _config_table(systab, ("ACPI_20_TABLE_GUID", "ACPI_TABLE_GUID"), bp.acpi_rsdp_addr)
        _compare(
            xc,
            "ACPI RSDP: acpi_rsdp_addr vs configuration table",
            {"acpi_rsdp_addr": bp.acpi_rsdp_addr, "config table": rsdp},
        )
    cc_values = {
        "boot_params.cc_blob_address": (bp.cc_blob_address or None) if bp is not None else None,
        "SETUP_CC_BLOB": cc_setup.cc_blob_address if cc_setup is not None else None,
        "EFI_CC_BLOB_GUID": _config_table(systab, ("EFI_CC_BLOB_GUID",), None),
    }
    if sum(v is not None for v in cc_values.values()) >= 2:
        _compare(xc, "CC blob: boot_params vs SETUP_CC_BLOB vs EFI table", cc_values)

    # 4. regions
    def region(obj: str, pa: int | None, size: int, role: str, report: bool = True) -> RegionCheck | None:
        if pa is None or pa <= 0 or pa >= MAX_PHYS_ADDR:
            return None
        r = _region(xc.findings if report else [], mem, obj, pa, max(size, 1), role, rmap, maps_given, full_map)
        xc.regions.append(r)
        return r

    if systab is not None:
        region("EFI system table", systab.address, systab.size, "firmware")
        arr = systab.config_table_array
        if arr is not None:
            region("configuration table array", arr.address, arr.size, "firmware")
        for t in systab.config_tables[:MAX_REGION_TABLES]:
            # a decoded payload's region is judged by its decoder (payloads.check_region: stale,
            # unexpected type, kept by Linux or not); the row is still shown, without a second finding
            report = decoder_for(t.guid) is None
            region(f"configuration table [{t.index}] {t.name or t.guid}", t.table_address, 1, "firmware", report)
    elif efi_info_st:
        region("EFI system table", efi_info_st, 0x78, "firmware")
    if setup_data is not None:
        for n in setup_data:
            region(f"setup_data node [{n.index}] {n.type_name}", n.address, n.size, "setup_data")
            if n.address is not None:
                _check_span(xc, f"setup_data node [{n.index}] {n.type_name}", n.address, n.size, e820)
            p = n.payload
            tgt = p.target if isinstance(p, IndirectPayload) else None
            if tgt is not None:
                region(f"setup_data node [{n.index}] indirect payload", tgt.address, max(tgt.length, 1), "setup_data")
    ram = _ram_not_in_dump(mem, e820) if e820 is not None else []  # capped on its own terms
    if bp is not None and bp.acpi_rsdp_addr:
        region("ACPI RSDP (acpi_rsdp_addr)", bp.acpi_rsdp_addr, 20, "firmware")
    if bp is not None and bp.ramdisk_image and bp.ramdisk_size:
        region("initrd", bp.ramdisk_image, bp.ramdisk_size, "loader-temporary")
    if bp is not None and bp.command_line is not None and bp.cmd_line_ptr:
        reg = region("command line", bp.cmd_line_ptr, max(bp.command_line.size, 1), "loader-temporary")
        cl = bp.command_line
        if reg is not None and (not cl.text or not cl.terminated) and reg.verdict.startswith("freed"):
            xc.findings.append(
                make(
                    XC_STALE_CMDLINE,
                    "command line",
                    bp.cmd_line_ptr,
                    f"{'empty' if not cl.text else 'unterminated'} command line in "
                    f"{reg.efi_type or reg.e820_type or 'freed'} memory ({reg.verdict})",
                )
            )
    xc.findings.extend(cap_findings([xc.findings], "boot cross-checks", None))
    xc.findings.extend(ram)
    return xc


#: E820 RAM entries reported as absent from the dump (a filtered kdump can miss thousands).
MAX_RAM_GAP_FINDINGS = 16


def _ram_not_in_dump(mem: PhysicalMemory, e820: E820Table) -> list[Finding]:
    """The map says RAM, the dump has no bytes: say so, per entry (the first :data:`MAX_RAM_GAP_FINDINGS`).

    Real dumps show this for pages a filtered kdump left out. QEMU dumps of an SMM-enabled OVMF
    also lack SMRAM, but the kernel's E820 lists those holes as reserved, not RAM.
    """
    out: list[Finding] = []
    reported = more = 0
    for e in e820.entries:
        if e.type != 1 or e.length <= 0 or e.addr >= MAX_PHYS_ADDR:
            continue
        size = min(e.length, MAX_PHYS_ADDR - e.addr)
        if reported == MAX_RAM_GAP_FINDINGS:  # past the cap: only count (one gap search per entry)
            more += mem.first_gap(e.addr, size) is not None
            continue
        holes = mem.gaps(e.addr, size, limit=1024)
        if not holes:
            continue
        reported += 1
        missing = sum(b - a for a, b in holes)
        at_least = "" if len(holes) < 1024 else " (at least)"
        first = ", ".join(f"{a:#x}-{b:#x}" for a, b in holes[:3]) + (", ..." if len(holes) > 3 else "")
        out.append(
            make(
                XC_RAM_NOT_IN_DUMP,
                f"E820 entry [{e.index}] RAM {e.addr:#x}-{e.end:#x}",
                e.addr,
                f"{missing:#x} bytes{at_least} in {len(holes)} range(s) absent from the dump: {first}",
            )
        )
    if more:
        out.append(omitted(XC_RAM_NOT_IN_DUMP, more, "E820 table", None, MAX_RAM_GAP_FINDINGS))
    return out


def _check_span(xc: CrossChecks, obj: str, pa: int, size: int, e820: E820Table | None) -> None:
    """A node's len (``struct setup_data``) must not run past the E820 range that holds it (another type, a gap)."""
    if e820 is None or size <= 1:
        return
    first = e820.lookup(pa)
    if first is None or pa + size <= first.end:
        return
    cur = first
    while cur is not None and cur.end < pa + size:
        nxt = e820.lookup(cur.end)
        if nxt is None or nxt.type != first.type:
            where = "a gap" if nxt is None else f"{nxt.type_name} at {nxt.addr:#x}"
            xc.findings.append(
                make(
                    XC_SPAN,
                    obj,
                    pa,
                    f"{pa:#x}+{size:#x} runs past {first.type_name} {first.addr:#x}-{first.end:#x} into {where}",
                )
            )
            return
        cur = nxt


def _first_payload(setup_data: SetupDataList | None, cls: type[P]) -> P | None:
    if setup_data is None:
        return None
    for n in setup_data:
        p = n.effective_payload
        if isinstance(p, cls):
            return p
    return None


def _config_table(systab: SystemTable | None, names: tuple[str, ...], prefer: int | None) -> int | None:
    """VendorTable of the first configuration table with one of ``names`` (``prefer`` if it is among them)."""
    found = [t.table_address for t in systab.config_tables if t.name in names] if systab is not None else []
    if not found:
        return None
    return prefer if prefer in found else found[0]


def _region(
    findings: list[Finding],
    mem: PhysicalMemory,
    obj: str,
    pa: int,
    size: int,
    role: str,
    rmap: RegionMap,
    maps_given: bool,
    full_map: bool,
) -> RegionCheck:
    d = rmap.efi(pa)
    e = rmap.e820(pa)
    in_dump = mem.is_readable(pa, min(size, 4096))
    efi_type = d.type_name if d is not None else None
    e820_name = e.type_name if e is not None else None
    e_ram = e is not None and e.type == E820_TYPE_RAM
    verdict = "ok"
    if role == "firmware":
        if d is not None:
            cls = d.memory_class
            if cls is MemoryClass.KEPT:
                verdict = "ok: memory the kernel keeps"
            elif cls is MemoryClass.BOOT_TIME:
                if d.runtime:
                    verdict = "ok: boot-services memory the kernel kept (EFI_MEMORY_RUNTIME set)"
                else:
                    verdict = "boot-services memory: stale or overwritten after boot"
                    findings.append(
                        make(XC_BOOT_SERVICES, obj, pa, f"in {efi_type}: the kernel frees it after boot")
                    )
            elif cls is MemoryClass.FREE:
                verdict = "free RAM to the kernel"
                findings.append(make(XC_FREE_RAM, obj, pa, f"in {efi_type}"))
        elif e_ram:
            verdict = "free RAM to the kernel (E820 RAM)"
            findings.append(make(XC_FREE_RAM, obj, pa, "in E820 RAM, no EFI descriptor"))
        elif full_map:
            verdict = "outside the EFI memory map"
            findings.append(make(XC_UNMAPPED, obj, pa, "no descriptor covers it"))
        elif e is not None and e.type in E820_KEPT_TYPES:
            # a runtime-only map (a kexec'd kernel's) does not list ACPI or reserved memory
            why = "; the runtime-only EFI map omits it" if rmap.has_efi else ""
            verdict = f"ok: memory the kernel keeps ({e820_name}{why})"
        elif maps_given:
            verdict = "in neither the (runtime-only) EFI map nor E820"
    elif role == "setup_data":
        if d is not None and d.type == EFI_CONVENTIONAL_MEMORY:
            verdict = "conventional memory: nothing reserved it before the kernel did"
            findings.append(make(XC_FREE_RAM, obj, pa, f"setup_data in {efi_type}"))
        elif d is None and full_map and (e is None or e.type not in E820_KEPT_TYPES | {E820_TYPE_RAM}):
            verdict = "outside the EFI memory map"
            findings.append(make(XC_UNMAPPED, obj, pa, "no descriptor covers it"))
        else:
            verdict = "ok: loader data the kernel reserves"
    else:  # loader-temporary: the command line, copied by the kernel to boot_command_line
        where = ", ".join(x for x in (efi_type, e820_name) if x)
        freed = (d is not None and d.reused) or e_ram
        verdict = f"freed after boot ({where}): may be stale or overwritten" if freed else "ok"
    if not in_dump:
        verdict += "; not in the dump"
        findings.append(make(XC_NOT_IN_DUMP, obj, pa, f"{size:#x} bytes at {pa:#x}"))
    return RegionCheck(obj, pa, size, role, efi_type, d.runtime if d is not None else None, e820_name, in_dump, verdict)
