"""The VMSA pages of an SEV-SNP guest's vCPUs, found through the kernel's per-CPU ``sev_vmsa`` pointers.

An SNP guest kernel starts each AP with a VMSA page it allocates and fills itself
(torvalds/linux arch/x86/coco/sev/core.c, before v6.10 arch/x86/kernel/sev.c:
``static DEFINE_PER_CPU(struct sev_es_save_area *, sev_vmsa);``, set by
``wakeup_cpu_via_vmgexit`` with the page ``snp_alloc_vmsa_page`` returns). A VMSA page is in
use by the hardware while its vCPU runs: touching it faults, which is why a kdump must skip
those pages (torvalds/linux commit d2062cc1b1c3, "x86/sev: Do not touch VMSA pages during
SNP guest memory kdump": the crashing kernel makes the other APs leave guest mode and marks
the running AP's VMSA page offline so makedumpfile excludes it). A VMSA page present in a
dump is therefore flagged (``SNP-VMSA-IN-DUMP``).

Finding them: ``sev_vmsa`` (kallsyms, or VMCOREINFO ``SYMBOL(sev_vmsa)``) is a per-CPU
symbol (kallsyms type ``A`` when the per-CPU section is zero-based: taken relative to
``__per_cpu_start``); CPU ``n``'s copy is at ``&sev_vmsa + __per_cpu_offset[n]`` (include/asm-generic/percpu.h
``per_cpu_offset``, ``SHIFT_PERCPU_PTR``: the same sum whether the per-CPU section is
zero-based or not), for ``n < nr_cpu_ids`` (``unsigned int``, kernel/smp.c). Each value is
a direct-map pointer to the page, translated with :mod:`efitables.kernel.addrspace`. The
boot CPU has none (its VMSA is the firmware's / the VMM's), nor has a CPU never brought up.

There is no signature-free way: a VMSA page has no magic, and the guest sees its own VMSA
pages only as the pages it allocated; efitables finds VMSA pages only through the kernel's
pointers, never by scanning.

Untrusted input: ``nr_cpu_ids`` is capped at :data:`MAX_CPUS` (one finding), two CPUs with
the same per-CPU offset or the same VMSA page are findings (each pair once), a pointer that
is not page-aligned, does not translate or names memory outside the dump is a finding; at
most :data:`MAX_PAGE_FINDINGS` VMSA-in-dump findings are listed, the rest counted in one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from efitables.errors import MemoryReadError
from efitables.findings import Finding, Severity, make, register
from efitables.memory.base import PhysicalMemory
from efitables.memory.vmcoreinfo import vmcoreinfo_int
from efitables.model import Parsed, TableView
from efitables.schemas.vmsa import (
    EFER_SVME,
    SEV_ES_SAVE_AREA,
    SEV_ES_SAVE_AREA_SIZE,
    SVM_SEV_FEAT_SNP_ACTIVE,
    SVM_SEV_FEATURES,
    VMSA_PAGE_SIZE,
)
from efitables.text import hexa

#: The most CPUs looked at (x86 NR_CPUS is at most 8192: arch/x86/Kconfig ``NR_CPUS_RANGE_END``, MAXSMP).
MAX_CPUS = 8192
#: CPUs looked at when ``nr_cpu_ids`` cannot be read (the walk then also stops at the first repeated offset).
FALLBACK_CPUS = 64
#: VMSA-in-dump findings listed individually.
MAX_PAGE_FINDINGS = 16
#: Pointer and alias findings listed individually (the rest are counted in one).
MAX_FINDINGS = 32
_MASK64 = (1 << 64) - 1
_PTR = 8
_U32 = 4

VMSA_IN_DUMP = register(
    "SNP-VMSA-IN-DUMP",
    Severity.WARNING,
    "A vCPU's VMSA page is in the dump (a kdump must skip VMSA pages)",
    "The kernel's per-CPU sev_vmsa names this page as a vCPU's VM save area. A VMSA page is in use by "
    "the hardware while its vCPU runs and touching it faults; since torvalds/linux commit d2062cc1b1c3 "
    "('x86/sev: Do not touch VMSA pages during SNP guest memory kdump') a kdump excludes them. A dump "
    "that holds one was taken by a tool or kernel that read it.",
)
VMSA_POINTER = register(
    "SNP-VMSA-POINTER",
    Severity.WARNING,
    "A per-CPU sev_vmsa pointer (or its per-CPU slot) is not page-aligned, does not translate, or is not in the dump",
)
VMSA_ALIAS = register(
    "SNP-VMSA-ALIAS",
    Severity.WARNING,
    "Two CPUs share a per-CPU area or a VMSA page",
    "__per_cpu_offset gives two CPUs the same offset, or two CPUs' sev_vmsa name the same page: the kernel "
    "never does either; the second CPU is skipped.",
)
VMSA_CPUS = register(
    "SNP-VMSA-CPU-COUNT",
    Severity.WARNING,
    "nr_cpu_ids is zero or larger than efitables looks at; the CPUs looked at are capped",
)
VMSA_PERCPU = register(
    "SNP-VMSA-PERCPU",
    Severity.WARNING,
    "The kernel has sev_vmsa but __per_cpu_offset cannot be read; no VMSA page can be found",
)
VMSA_ODD = register(
    "SNP-VMSA-IMPLAUSIBLE",
    Severity.INFO,
    "A page named by sev_vmsa does not decode as an SNP VMSA (SNP_ACTIVE or EFER.SVME clear)",
    "Ciphertext (a host-side capture of a private page), a page reused since, or a hostile pointer.",
)


@dataclass(kw_only=True)
class VmsaPage(Parsed):
    """One vCPU's VMSA page (``struct sev_es_save_area`` decoded from its first 1648 bytes)."""

    kind: ClassVar[str] = "snp_vmsa"
    _repr_fields = ("cpu", "rip", "cr3")

    cpu: int
    virtual: int
    in_dump: bool
    vmpl: int | None = None
    cpl: int | None = None
    efer: int | None = None
    cr0: int | None = None
    cr3: int | None = None
    cr4: int | None = None
    rip: int | None = None
    rsp: int | None = None
    rflags: int | None = None
    sev_features: int | None = None
    sev_feature_names: list[str] = field(default_factory=list)
    xcr0: int | None = None

    @property
    def title(self) -> str:
        if not self.in_dump:
            return f"CPU {self.cpu} VMSA @ {hexa(self.address)} (not in the dump)"
        return f"CPU {self.cpu} VMSA @ {hexa(self.address)}: rip {hexa(self.rip)} cr3 {hexa(self.cr3)}"


@dataclass(kw_only=True)
class VmsaReport(Parsed):
    """The guest's VMSA pages as its kernel's per-CPU ``sev_vmsa`` names them."""

    kind: ClassVar[str] = "snp_vmsa_pages"

    available: bool
    why: str = ""
    symbol_source: str = ""
    nr_cpu_ids: int | None = None
    cpus_checked: int = 0
    pages: list[VmsaPage] = field(default_factory=list)

    @property
    def present(self) -> bool:
        return bool(self.pages)

    @property
    def title(self) -> str:
        if not self.available:
            return f"SNP VMSA pages: none looked for ({self.why})"
        held = sum(1 for p in self.pages if p.in_dump)
        return f"SNP VMSA pages: {len(self.pages)} named by sev_vmsa over {self.cpus_checked} CPUs, {held} in the dump"

    def children(self) -> list[Parsed]:
        return list(self.pages)

    def table_views(self) -> list[TableView]:
        rows: list[tuple[str, ...]] = [
            (
                str(p.cpu),
                hexa(p.address),
                "yes" if p.in_dump else "no",
                hexa(p.rip),
                hexa(p.cr3),
                hexa(p.efer),
                " ".join(p.sev_feature_names),
            )
            for p in self.pages
        ]
        return [TableView("VMSA pages", ("cpu", "physical", "in dump", "rip", "cr3", "efer", "sev_features"), rows)]


def decode_vmsa(raw: bytes, address: int, cpu: int, virtual: int) -> VmsaPage:
    """Decode a VMSA page's save area from its bytes (at least 1648)."""
    f = SEV_ES_SAVE_AREA.parse(raw[:SEV_ES_SAVE_AREA_SIZE])
    feats = f.sev_features
    page = VmsaPage(
        address=address,
        size=len(raw),
        raw=raw,
        fields=f,
        schema=SEV_ES_SAVE_AREA,
        cpu=cpu,
        virtual=virtual,
        in_dump=True,
        vmpl=f.vmpl,
        cpl=f.cpl,
        efer=f.efer,
        cr0=f.cr0,
        cr3=f.cr3,
        cr4=f.cr4,
        rip=f.rip,
        rsp=f.rsp,
        rflags=f.rflags,
        sev_features=feats,
        sev_feature_names=[n for b, n in SVM_SEV_FEATURES.items() if feats >> b & 1],
        xcr0=f.xcr0,
    )
    if not feats & SVM_SEV_FEAT_SNP_ACTIVE or not f.efer & EFER_SVME:
        why = f"sev_features {feats:#x}, efer {f.efer:#x}"
        page.findings.append(make(VMSA_ODD, f"CPU {cpu} VMSA", address, why))
    return page


class _Ctx:
    def __init__(self, mem: PhysicalMemory, space: Any) -> None:
        self.mem = mem
        self.space = space
        self.findings: list[Finding] = []
        self.dropped = 0

    def add(self, f: Finding) -> None:
        if len(self.findings) < MAX_FINDINGS:
            self.findings.append(f)
        else:
            self.dropped += 1

    def u(self, pa: int, size: int, structure: str) -> int | None:
        try:
            return int.from_bytes(self.mem.read(pa, size, structure=structure), "little")
        except MemoryReadError as e:
            self.add(make(VMSA_POINTER, structure, pa, e.reason))
            return None


def find_vmsa_pages(mem: PhysicalMemory, info: dict[str, str] | None) -> VmsaReport:
    """The VMSA pages the kernel of ``mem`` (located through VMCOREINFO ``info``) names; never raises on dump data."""
    from efitables.kernel import kallsyms
    from efitables.kernel.addrspace import kernel_address_space

    info = info or {}
    if not info:
        return VmsaReport(address=None, size=0, available=False, why="no VMCOREINFO")
    ks = kallsyms.load(mem, info, ("sev_vmsa", "__per_cpu_offset", "nr_cpu_ids", "__per_cpu_start"))
    sym = ks.virtual("sev_vmsa")
    source = ks.source("sev_vmsa") or ""
    start = ks.virtual("__per_cpu_start")
    if sym is not None and ks.kind("sev_vmsa") == "A" and start is not None and ks.kind("__per_cpu_start") == "A":
        # A zero-based per-CPU symbol (CONFIG_KALLSYMS_ABSOLUTE_PERCPU, x86-64 before v6.15): its kallsyms
        # offset is the absolute value (kernel/kallsyms.c kallsyms_sym_address: "positive offsets are
        # absolute values"). Taken relative to __per_cpu_start (offset 0, decoded the same way) it is
        # right whichever way the table decoder read a non-negative offset.
        sym = (sym - start) & _MASK64
        source += " (per-CPU offset from __per_cpu_start)"
    if sym is None:  # a zero-based per-CPU symbol is not a kernel-image address: VMCOREINFO's raw value
        sym = vmcoreinfo_int(info, "SYMBOL(sev_vmsa)")
        source = "VMCOREINFO" if sym is not None else ""
    if sym is None:
        why = "the kernel has no sev_vmsa symbol (not an SEV-ES/SNP-capable kernel, or kallsyms unavailable)"
        return VmsaReport(address=None, size=0, available=False, why=why)
    out = VmsaReport(address=None, size=0, available=True, symbol_source=source)
    space = kernel_address_space(mem, info)
    c = _Ctx(mem, space)
    pco = ks.physical("__per_cpu_offset")
    if pco is None:
        out.findings.append(make(VMSA_PERCPU, "__per_cpu_offset", None, "symbol not found"))
        return out
    nr_pa = ks.physical("nr_cpu_ids")
    nr = c.u(nr_pa, _U32, "nr_cpu_ids") if nr_pa is not None else None
    out.nr_cpu_ids = nr
    if nr is None:
        count = FALLBACK_CPUS
    elif nr == 0 or nr > MAX_CPUS:
        out.findings.append(make(VMSA_CPUS, "nr_cpu_ids", nr_pa, f"{nr}; looking at {min(nr, MAX_CPUS) or 1} CPU(s)"))
        count = min(nr, MAX_CPUS) or 1
    else:
        count = nr
    # one bounded read of the offsets (capped above), shortened to what the dump holds
    gap = mem.first_gap(pco, count * _PTR)
    if gap is not None:
        count = max(0, (gap[0] - pco) // _PTR)
        if count == 0:
            out.findings.append(make(VMSA_PERCPU, "__per_cpu_offset", pco, "not in the dump"))
            return out
        if nr is not None:
            c.add(make(VMSA_POINTER, "__per_cpu_offset", gap[0], f"only {count} of {nr} entries in the dump"))
    offsets = mem.read(pco, count * _PTR, structure="__per_cpu_offset")
    seen_off: dict[int, int] = {}
    seen_page: dict[int, int] = {}
    in_dump = 0
    for cpu in range(count):
        at = cpu * _PTR
        off = int.from_bytes(offsets[at : at + _PTR], "little")
        if off in seen_off:
            if nr is None:
                break  # past the possible CPUs: the rest repeat the boot offset
            why = f"CPU {cpu} has CPU {seen_off[off]}'s per-CPU offset {off:#x}"
            c.add(make(VMSA_ALIAS, "__per_cpu_offset", pco + cpu * _PTR, why))
            continue
        seen_off[off] = cpu
        out.cpus_checked += 1
        va = (sym + off) & _MASK64
        slot = space.range_to_phys(va, _PTR)
        if slot is None:
            c.add(make(VMSA_POINTER, f"CPU {cpu} sev_vmsa", None, f"per-CPU slot {va:#x} does not translate"))
            continue
        ptr = c.u(slot, _PTR, f"CPU {cpu} sev_vmsa")
        if not ptr:
            continue  # no VMSA: the boot CPU, or a CPU not brought up
        if ptr % VMSA_PAGE_SIZE:
            c.add(make(VMSA_POINTER, f"CPU {cpu} sev_vmsa", slot, f"{ptr:#x} is not page-aligned"))
            continue
        pa = space.range_to_phys(ptr, VMSA_PAGE_SIZE)
        if pa is None:
            c.add(make(VMSA_POINTER, f"CPU {cpu} sev_vmsa", slot, f"{ptr:#x} does not translate"))
            continue
        if pa in seen_page:
            why = f"CPU {cpu} names CPU {seen_page[pa]}'s VMSA page {pa:#x}"
            c.add(make(VMSA_ALIAS, f"CPU {cpu} sev_vmsa", slot, why))
            continue
        seen_page[pa] = cpu
        try:
            raw = mem.read(pa, VMSA_PAGE_SIZE, structure=f"CPU {cpu} VMSA")
        except MemoryReadError:
            out.pages.append(VmsaPage(address=pa, size=0, cpu=cpu, virtual=ptr, in_dump=False))
            continue
        page = decode_vmsa(raw, pa, cpu, ptr)
        in_dump += 1
        if in_dump <= MAX_PAGE_FINDINGS:
            why = f"sev_vmsa of CPU {cpu} ({ptr:#x}); rip {page.rip:#x}, cr3 {page.cr3:#x}"
            page.findings.append(make(VMSA_IN_DUMP, f"CPU {cpu} VMSA", pa, why))
        out.pages.append(page)
    if in_dump > MAX_PAGE_FINDINGS:
        more = in_dump - MAX_PAGE_FINDINGS
        out.findings.append(make(VMSA_IN_DUMP, "VMSA pages", None, f"{more} more VMSA pages in the dump"))
    out.findings.extend(c.findings)
    if c.dropped:
        out.findings.append(make(VMSA_POINTER, "sev_vmsa", None, f"{c.dropped} more pointer or alias findings"))
    return out
