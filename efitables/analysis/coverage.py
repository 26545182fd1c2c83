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

from efitables.analysis.next_kernel import NextKernel
from efitables.boot.setup_data import EfiSetupPayload, IndirectPayload, SetupDataList
from efitables.coverage import CoverageReport, evaluate
from efitables.coverage.image import summarize
from efitables.coverage.intervals import normalize
from efitables.coverage.models import (
    AUTO_MODEL,
    DEFAULT_MODEL,
    EFI_CONFIG_ENTRY_SIZE,
    EFI_SYSTAB_SIZE,
    PRESETS,
    MapInputs,
    Model,
    model_for_version,
)
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
from efitables.kernel.copies import KernelKimage
from efitables.memory.base import MAX_PHYS_ADDR
from efitables.memory.elf import ElfMemory
from efitables.memory.vmcoreinfo import symbol_to_phys, vmcoreinfo_int
from efitables.regions import E820, EFI, Region
from efitables.schemas.paging import TABLE_SIZE
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
    image: KernelKimage | None = None  # the loaded kexec image whose segments the kexec map has
    next_kernel: NextKernel | None = None  # whose inputs the objects are, when an image is loaded


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


def collect(d: Dump, *, follow_image: bool = True) -> Collected:
    """Gather the early objects and the map inputs from ``d``'s parsed areas; every failure becomes a finding.

    With a kexec image loaded (and ``follow_image``), the zero page, command line, setup_data
    and CC blob judged are the next kernel's, read out of the image
    (:mod:`efitables.analysis.next_kernel`); the map inputs are the running kernel's, whose
    ``init_pgtable`` builds the map.
    """
    findings: list[Finding] = []
    image = _loaded_image(d, findings)
    nk: NextKernel | None = None
    src = d
    if follow_image:  # None without a loaded image (Dump.next_kernel)
        nk = _safe(lambda: d.next_kernel, "the loaded kexec image's zero page", findings)
        if nk is not None:
            findings.extend(nk.findings)
            if nk.dump is not None:
                src = nk.dump
    inp, cbit = _early_inputs(src, d, findings)
    regions = _e820_regions(d, findings) or _efi_regions(d, findings)
    mi = MapInputs(regions=regions)
    if image is not None and image.segments:
        # the real segments of the loaded image (machine_kexec_64.c init_pgtable maps each one)
        mi.segments = [(seg.mem, seg.end) for seg in image.segments if seg.memsz]
        mi.segments_source = image.symbol
    if inp.systab is not None:
        mi.systab = (inp.systab, inp.systab + EFI_SYSTAB_SIZE.get(inp.systab_bits, 120))
    if inp.config_array is not None and inp.nr_tables:
        n = min(inp.nr_tables, MAX_CONFIG_ENTRIES) * EFI_CONFIG_ENTRY_SIZE.get(inp.systab_bits, 24)
        mi.config_array = (inp.config_array, inp.config_array + n)
    return Collected(inp, mi, early_objects(inp), findings, cbit, image, nk)


def _early_inputs(d: Dump, running: Dump, findings: list[Finding]) -> tuple[EarlyInputs, int | None]:
    """The early objects' addresses as ``d`` (the running kernel's dump, or the next kernel's view) holds them.

    ``running`` is the dump of the running kernel: its own copies stand in for a system table
    the dump cannot hold.
    """
    inp = EarlyInputs()
    bp = _safe(lambda: d.boot_params, "boot_params", findings)
    if bp is not None:
        inp.boot_params = bp.address
    else:
        info = _safe(lambda: d.systab_discovery.efi_info, "boot_params.efi_info", findings)
        inp.boot_params = info.boot_params if info is not None else d.user_boot_params
    st = _safe(lambda: d.systab, "EFI system table", findings)
    inp.efi_boot = st is not None
    kv = _safe(lambda: running.kernel, "kernel's copies", findings)
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
    elif kv is not None and kv.available and kv.systab is not None:
        # the firmware's table is not in the dump (a System-RAM-only capture): the kernel's copies say where
        bp_k = kv.boot_params
        inp.systab, inp.efi_boot = kv.systab, True
        inp.systab_bits = bp_k.efi_bits or 64 if bp_k is not None else 64
        ct = kv.efi_config_table.value if kv.efi_config_table is not None else None
        if ct:
            why = "its length is in the system table, which the dump does not hold; left out"
            findings.append(make(COLLECT_PROBLEM, "EFI configuration table array (kernel efi_config_table)", ct, why))
    # A SETUP_EFI node's physical ``tables`` is what the (kexec'd) decompressor uses.
    for node in sd.of_type(SETUP_EFI)[:1] if sd is not None else []:
        p = node.effective_payload
        if isinstance(p, EfiSetupPayload) and p.tables:
            inp.config_array = p.tables
    return inp, _cc_blob(d, inp, findings)


def _loaded_image(d: Dump, findings: list[Finding]) -> KernelKimage | None:
    """The kexec image a kexec would start (``kexec_image``, else ``kexec_crash_image``), if the kernel has one."""
    kv = _safe(lambda: d.kernel, "kernel's copies", findings)
    return kv.kexec_loaded if kv is not None and kv.available else None


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


NOT_IDENTITY = register(
    "COVERAGE-PGD-NOT-IDENTITY",
    Severity.INFO,
    "The walked page table is the running kernel's own, not an identity map: objects are judged by the model",
    "A CPU's CR3 or init_top_pgt maps the kernel's virtual layout, nothing VA == PA; walking it says nothing "
    "about what kexec would map. The kexec map is the loaded image's (kimage), or the model's reconstruction.",
)
ROOT_ABSENT = register(
    "COVERAGE-PGD-NOT-IN-DUMP",
    Severity.INFO,
    "The loaded kexec image's identity map is not in the dump",
    "A crash kernel's identity map lies in the crashkernel= reservation, which /proc/vmcore and makedumpfile "
    "leave out; the next root (or the model) is used.",
)


@dataclass(frozen=True)
class Root:
    address: int
    source: str
    levels: int | None = None
    kexec: bool = False  # a kexec identity map (the loaded image's): expected to map VA == PA


# -- page-table roots from the dump ---------------------------------------------------


def find_roots(dump: Dump) -> list[Root]:
    """Page-table roots the dump names, best first: the loaded kexec image's identity map (the kernel's
    ``kexec_image``/``kexec_crash_image``), then QEMU CPU notes (CR3), then VMCOREINFO ``init_top_pgt``."""
    out: list[Root] = []
    image = _loaded_image(dump, [])
    if image is not None and image.pgd is not None:
        what = "the loaded kexec image's identity map" if image.image_type != "crash" else "the loaded crash image's"
        out.append(Root(image.pgd, f"{image.pgd_source} ({what})", image.levels, kexec=True))
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
    model, choice = _resolve_model(dump, model)
    walk_result = None
    table_rows = True
    if pgd is not None:
        root: Root | None
        if pgd == "auto":
            roots = find_roots(dump)
            for r in [r for r in roots if r.kexec and not dump.memory.is_readable(r.address, TABLE_SIZE)]:
                why = f"{r.source}: {r.address:#x} is not in the dump"
                findings.append(make(ROOT_ABSENT, "page table", r.address, why))
                roots.remove(r)
            root = roots[0] if roots else None
            if root is None:
                why = "no loaded kexec image, no QEMU CPU note with CR3, no init_top_pgt"
                findings.append(make(NO_ROOT, "page table", None, why))
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
            wanted = [(n.start, n.end) for o in col.objects for n in o.needs]
            if root.kexec and col.image is not None:  # the loaded image's map: its segments too
                wanted += [(s.mem, s.end) for s in col.image.segments if s.memsz]
            windows = normalize(wanted)
            shared = dump.encryption.shared_bit  # TDX: the shared bit is cleared like SME/SEV's C-bit
            walk_result = walk(
                dump.memory, root.address, levels=lv, cbit=bit, windows=windows, root_source=root.source,
                shared_bit=shared,
            )
            if pgd == "auto" and not root.kexec and walk_result.complete and not walk_result.identity:
                table_rows = False
                img = col.image
                kexec = (
                    f"the loaded image's map ({img.symbol}) is not walkable"
                    if img is not None
                    else "no kexec image is loaded"
                )
                findings.append(
                    make(
                        NOT_IDENTITY,
                        "page table",
                        root.address,
                        f"{root.source} maps nothing VA == PA ({walk_result.leaves_seen} leaves walked): it is the "
                        f"running kernel's table, not a kexec identity map; {kexec}, so the kexec map is the model's",
                    )
                )
    rep = evaluate(
        col.objects, col.map_inputs, model, inputs=col.inputs, walk_result=walk_result, table_rows=table_rows
    )
    rep.findings = findings + rep.findings
    rep.model_choice = choice
    rep.segments_source = col.map_inputs.segments_source
    if col.image is not None:
        nk = col.next_kernel
        inputs = nk.description if nk is not None else "the running kernel's"
        rep.image = summarize(col.image, walk_result, inputs)
        rep.findings = rep.findings + rep.image.findings()
    return rep


def _resolve_model(dump: Dump, model: Model | str | None) -> tuple[Model | str, str]:
    """``None`` or ``"auto[,key=value...]"``: the preset of the dump's kernel (and why); else ``model`` as given."""
    if isinstance(model, Model):
        return model, ""
    spec = (model or AUTO_MODEL).strip()
    head, sep, rest = spec.partition(",")
    if head.strip().lower() != AUTO_MODEL:
        return spec, ""
    kv = _safe(lambda: dump.kernel, "kernel's copies", [])
    v = kv.version if kv is not None and kv.available else None
    if v is None:
        name, why = DEFAULT_MODEL, f"auto: {DEFAULT_MODEL}, the default (the dump does not say its kernel's version)"
    else:
        name, reason = model_for_version(v.major, v.minor, v.sublevel)
        why = f"auto: {name} ({reason}; {v.short} from {v.source})"
    return name + sep + rest, why


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


