"""The kexec coverage check on a Dump: its inputs taken from the parsed areas, page-table roots, verdicts.

The coverage models (:mod:`efitables.coverage`) work on plain values
(:class:`~efitables.coverage.objects.EarlyInputs`,
:class:`~efitables.coverage.models.MapInputs`); this module fills them from the
objects the area parsers already decoded, so coverage, ``show``, the JSON and
the TUI judge the same zero page, setup_data list, system table, configuration
table array and CC blob. Nothing here reads the dump's bytes.

An area parser that raises (a bug) must not stop coverage, nor be silent: it
becomes a ``COVERAGE-INPUT`` finding naming the area, and that area's objects
are left out (or taken from the next source, as the zero page's own E820 table
when the merged table fails).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from efitables.boot.setup_data import EfiSetupPayload, IndirectPayload, SetupDataList
from efitables.coverage import CoverageReport, evaluate
from efitables.coverage.intervals import normalize
from efitables.coverage.models import EFI_CONFIG_ENTRY_SIZE, EFI_SYSTAB_SIZE, PRESETS, MapInputs, Model
from efitables.coverage.objects import (
    COLLECT_PROBLEM,
    MAX_CONFIG_ENTRIES,
    EarlyInputs,
    EarlyObject,
    SetupNode,
    early_objects,
)
from efitables.coverage.pagewalk import walk
from efitables.coverage.ptscan import scan_identity_tables
from efitables.efi.hits import ScanCancelled
from efitables.findings import Finding, Severity, make, register
from efitables.memory.base import MAX_PHYS_ADDR
from efitables.memory.elf import ElfMemory
from efitables.memory.vmcoreinfo import symbol_to_phys, vmcoreinfo_int
from efitables.regions import E820, EFI, Region
from efitables.schemas.setup_data import SETUP_EFI
from efitables.schemas.snp import SNP_SECRETS_PAGE_SIZE
from efitables.snp.ccblob import ROUTE_BOOT_PARAMS, ROUTE_EFI, ROUTE_SETUP_DATA

if TYPE_CHECKING:
    from efitables.dump import Dump

T = TypeVar("T")

#: How each CC-blob route is named in the coverage inputs (the carrier's own name).
#: The most setup_data nodes taken into the object list.
MAX_SETUP_NODES = 256

ROUTE_NAMES = {
    ROUTE_EFI: "EFI_CC_BLOB_GUID",
    ROUTE_SETUP_DATA: "SETUP_CC_BLOB",
    ROUTE_BOOT_PARAMS: "boot_params.cc_blob_address",
}


@dataclass
class Collected:
    inputs: EarlyInputs
    map_inputs: MapInputs
    objects: list[EarlyObject]
    findings: list[Finding]
    sme_mask_bit: int | None = None  # C-bit from the SNP CPUID table, when seen


def _safe(fn: Callable[[], T], what: str, findings: list[Finding]) -> T | None:
    """Call a Dump area another module owns; a failure becomes a COVERAGE-INPUT finding naming ``what``."""
    try:
        return fn()
    except ScanCancelled:
        raise
    except Exception as e:  # noqa: BLE001 (an area parser's bug: reported here, coverage goes on)
        findings.append(make(COLLECT_PROBLEM, what, None, f"its parser failed ({type(e).__name__}: {e}); left out"))
        return None


def _setup_nodes(sd: SetupDataList) -> list[SetupNode]:
    out: list[SetupNode] = []
    for n in sd.nodes[:MAX_SETUP_NODES]:
        if n.address is None:
            continue
        ind = None
        p = n.payload
        if isinstance(p, IndirectPayload):
            ind = (p.indirect_type, p.target_addr, p.target_len)
        out.append(SetupNode(n.address, n.type, n.len, ind))
    return out


def _e820_regions(d: Dump, findings: list[Finding]) -> list[Region]:
    table = _safe(lambda: d.e820, "E820 table", findings)
    entries = table.entries if table is not None else None
    if entries is None:
        bp = _safe(lambda: d.boot_params, "boot_params", findings)
        entries = bp.e820_table if bp is not None else None
    return [Region(E820, e.type, e.addr, e.addr + e.length, index=e.index) for e in entries or [] if e.length]


def _efi_regions(d: Dump, findings: list[Finding]) -> list[Region]:
    mm = _safe(lambda: d.efi_memmap, "EFI memory map", findings)
    out = []
    for desc in mm.descriptors if mm is not None else []:
        if desc.number_of_pages:
            out.append(Region(EFI, desc.type, desc.physical_start, desc.physical_end, desc.attribute, desc.index))
    return out


def _cc_blob(d: Dump, inp: EarlyInputs, findings: list[Finding]) -> int | None:
    """The CC blob the decompressor uses (else the kernel's), its pages; returns the CPUID table's C-bit."""
    rep = _safe(lambda: d.cc_blob, "CC blob", findings)
    if rep is None or not rep.present:
        return None
    choice = next((c for c in (rep.decompressor, rep.kernel) if c is not None and c.blob_address), None)
    if choice is None or not choice.blob_address or choice.route is None:
        return None
    inp.cc_blob, inp.cc_blob_route = choice.blob_address, ROUTE_NAMES[choice.route]
    blob = rep.blob_at(choice.blob_address)
    if blob is None or not blob.magic_ok:
        return None
    cphys, clen, sphys = blob.cpuid_phys, blob.cpuid_len, blob.secrets_phys
    if cphys and clen and cphys + clen <= MAX_PHYS_ADDR:
        inp.cpuid = (cphys, cphys + clen)
    if sphys and sphys + SNP_SECRETS_PAGE_SIZE <= MAX_PHYS_ADDR:
        inp.secrets = sphys
        page = blob.secrets_page
        inp.svsm = None if page is None or page.svsm_size is None else page.svsm_size != 0
    table = blob.cpuid_table
    return table.c_bit or None if table is not None else None


def collect(d: Dump) -> Collected:
    """Gather the early objects and the map inputs from ``d``'s parsed areas; every failure becomes a finding."""
    findings: list[Finding] = []
    inp = EarlyInputs()
    bp = _safe(lambda: d.boot_params, "boot_params", findings)
    if bp is not None:
        inp.boot_params = bp.address
    else:
        info = _safe(lambda: d.systab_discovery.efi_info, "boot_params.efi_info", findings)
        inp.boot_params = info.boot_params if info is not None else d.user_boot_params
    st = _safe(lambda: d.systab, "EFI system table", findings)
    inp.efi_boot = st is not None
    if bp is not None and bp.cmd_line_ptr:
        inp.cmdline = bp.cmd_line_ptr
        cl = bp.command_line
        inp.cmdline_len = cl.size if cl is not None and cl.size else None
        if inp.cmdline_len is None:
            findings.append(make(COLLECT_PROBLEM, "command line", bp.cmd_line_ptr, "not in the dump"))
    sd = _safe(lambda: d.setup_data, "setup_data", findings) if bp is not None else None
    if sd is not None:
        inp.setup_nodes = _setup_nodes(sd)
    if st is not None:
        inp.systab = st.address
        inp.systab_bits = st.bits
        inp.nr_tables = st.nr_tables & 0xFFFFFFFF
        inp.config_array = st.config_table_address
    # A SETUP_EFI node's physical ``tables`` is what the (kexec'd) decompressor uses.
    for node in sd.of_type(SETUP_EFI)[:1] if sd is not None else []:
        p = node.effective_payload
        if isinstance(p, EfiSetupPayload) and p.tables:
            inp.config_array = p.tables
    cbit = _cc_blob(d, inp, findings)

    regions = _e820_regions(d, findings) or _efi_regions(d, findings)
    mi = MapInputs(regions=regions)
    if inp.systab is not None:
        mi.systab = (inp.systab, inp.systab + EFI_SYSTAB_SIZE.get(inp.systab_bits, 120))
    if inp.config_array is not None and inp.nr_tables:
        n = min(inp.nr_tables, MAX_CONFIG_ENTRIES) * EFI_CONFIG_ENTRY_SIZE.get(inp.systab_bits, 24)
        mi.config_array = (inp.config_array, inp.config_array + n)
    return Collected(inp, mi, early_objects(inp), findings, cbit)


NO_ROOT = register(
    "COVERAGE-NO-PGD",
    Severity.WARNING,
    "A page-table walk was asked for, but no root was given or found in the dump's notes",
)

SCANNED_ROOTS = register(
    "COVERAGE-PGD-SCANNED",
    Severity.INFO,
    "Identity-map page tables were found by scanning the dump (--pgd scan)",
    "Tables with kexec/decompressor flags (leaves 0x1E3 without NX, tables 0x063) that map VA == PA; "
    "the root with the most identity leaves is walked.",
)

#: QEMU's per-CPU "QEMU" ELF note (QEMUCPUState, qemu target/i386/arch_dump.c):
#: u32 version, u32 size, 18 u64 registers, 10 x 24-byte segments, then u64 cr[5].
QEMU_CR_OFFSET = 8 + 18 * 8 + 10 * 24
CR4_LA57 = 1 << 12


@dataclass(frozen=True)
class Root:
    address: int
    source: str
    levels: int | None = None


# -- page-table roots from the dump ---------------------------------------------------


def find_roots(dump: Dump) -> list[Root]:
    """Page-table roots the dump's notes name, best first: QEMU CPU notes (CR3), then VMCOREINFO."""
    out: list[Root] = []
    mem = dump.memory
    for note in mem.notes if isinstance(mem, ElfMemory) else []:
        if note.name != "QEMU" or len(note.desc) < QEMU_CR_OFFSET + 40:
            continue
        _cr0, _cr1, _cr2, cr3, cr4 = struct.unpack_from("<5Q", note.desc, QEMU_CR_OFFSET)
        if cr3:
            out.append(Root(cr3, f"QEMU CPU note {len(out)} CR3", 5 if cr4 & CR4_LA57 else 4))
    info = mem.vmcoreinfo or {}
    pgt = symbol_to_phys(info, "init_top_pgt")
    if pgt is not None:
        l5 = vmcoreinfo_int(info, "NUMBER(pgtable_l5_enabled)")
        out.append(Root(pgt, "VMCOREINFO SYMBOL(init_top_pgt) + NUMBER(phys_base)", 5 if l5 == 1 else 4))
    return out


def _cbit_from_vmcoreinfo(dump: Dump) -> int | None:
    mask = vmcoreinfo_int(dump.memory.vmcoreinfo or {}, "NUMBER(sme_mask)")
    if mask and mask > 0 and mask & (mask - 1) == 0:
        return mask.bit_length() - 1
    return None


def coverage(
    dump: Dump,
    model: Model | str | None = None,
    *,
    pgd: int | str | None = None,
    cbit: int | None = None,
    levels: int | None = None,
) -> CoverageReport:
    """Collect the early objects of ``dump`` and judge them.

    ``pgd``: a root (CR3 value), ``"auto"`` (from the dump's notes), ``"scan"`` (search
    the dump for identity-map tables) or None (model only).
    """
    col = collect(dump)
    findings: list[Finding] = list(col.findings)
    walk_result = None
    if pgd is not None:
        root: Root | None
        if pgd == "auto":
            roots = find_roots(dump)
            root = roots[0] if roots else None
            if root is None:
                findings.append(make(NO_ROOT, "page table", None, "no QEMU CPU note with CR3 and no init_top_pgt"))
        elif pgd == "scan":
            bit = cbit if cbit is not None else (_cbit_from_vmcoreinfo(dump) or col.sme_mask_bit)
            sc = scan_identity_tables(dump.memory, bit)
            findings.extend(sc.findings)
            root = Root(sc.roots[0].address, "identity-table scan", sc.roots[0].levels) if sc.roots else None
            if root is None:
                findings.append(make(NO_ROOT, "page table", None, f"the scan found no identity-map root ({sc.tables})"))
            else:
                listed = ", ".join(f"{r.address:#x} ({r.levels}-level, {r.leaves} leaves)" for r in sc.roots[:8])
                findings.append(make(SCANNED_ROOTS, "page table", root.address, f"{len(sc.roots)} root(s): {listed}"))
        else:
            root = Root(int(pgd), "--pgd")
        if root is not None:
            bit = cbit if cbit is not None else (_cbit_from_vmcoreinfo(dump) or col.sme_mask_bit)
            lv = levels or root.levels or 4
            windows = normalize((n.start, n.end) for o in col.objects for n in o.needs)
            walk_result = walk(dump.memory, root.address, levels=lv, cbit=bit, windows=windows, root_source=root.source)
    rep = evaluate(col.objects, col.map_inputs, model, inputs=col.inputs, walk_result=walk_result)
    rep.findings = findings + rep.findings
    return rep


def compare(dump: Dump, models: list[Model | str] | None = None) -> dict[str, CoverageReport]:
    """One report per model over one collection (default: every preset, without and with gbpages)."""
    col = collect(dump)
    specs: list[Model | str] = list(models) if models is not None else []
    if models is None:
        for name in PRESETS:
            specs += [name, f"{name},gbpages=on"]
    out: dict[str, CoverageReport] = {}
    for spec in specs:
        rep = evaluate(col.objects, col.map_inputs, spec, inputs=col.inputs)
        rep.findings = list(col.findings) + rep.findings
        out[rep.model.name] = rep
    return out


