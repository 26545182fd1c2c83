"""The Xen PVH boot entry: ``hvm_start_info``, its modules, command line and memory map.

Layouts: :mod:`efitables.schemas.pvh` (torvalds/linux
include/xen/interface/hvm/start_info.h@v6.1). A loader that starts a kernel at its
``XEN_ELFNOTE_PHYS32_ENTRY`` (Xen, QEMU's pvh.bin option ROM for ``-kernel vmlinux``,
Firecracker, cloud-hypervisor) passes ``%ebx`` = the start info's physical address.
Linux (arch/x86/platform/pvh/head.S and enlighten.c@v6.1) copies it into
``pvh_start_info`` and builds its zero page from it (``init_pvh_bootparams``): the
memory map becomes ``e820_table`` with the ISA range appended, ``cmdline_paddr``
becomes ``hdr.cmd_line_ptr``, the first module the initrd, ``hdr.version`` 2.12 and
``type_of_loader`` 0x90 (Xen) or 0xb0. No EFI system table is involved: a PVH boot
with no EFI tables is complete, not damaged.

Where the start info is found, in this order (every route is recorded):

1. ``kallsyms``: the kernel's copy ``pvh_start_info`` (its size in
   ``pvh_start_info_sz``) through the kallsyms tables VMCOREINFO locates. Both are
   ``__initdata``/``__initconst``: after boot the kernel frees init memory and
   poisons it with 0xcc (``POISON_FREE_INITMEM``; arch/x86/mm/init.c
   ``free_init_pages``@v6.1), so in a running system's dump the copy is gone and
   the route says so. A copy that survived (an early-boot dump) is parsed, and
   the pages its pointers name are searched for the loader's original.
2. ``hint``: the pages around what the kernel says the start info named (a page
   either side): the intact copy's ``modlist_paddr``, ``cmdline_paddr`` and
   ``memmap_paddr``, and the ``cmd_line_ptr`` of the kernel's zero page when
   ``init_pvh_bootparams`` built it (no ``HdrS``, protocol 2.12, loader 0x90/0xb0;
   the dump's own ``boot_params``, else the ``boot_params`` symbol). Loaders keep
   their buffers together (QEMU's pvh.bin: all within 0x5a8-0x2218).
3. ``scan``: the magic at 8-byte alignment in the first MiB, where QEMU's pvh.bin
   keeps its start info, module list, command line and memory map (qemu/qemu
   pc-bios/optionrom/pvh_main.c and pvh.S, as linked in QEMU 7.2's pvh.bin: start
   info at 0x21e0, module at 0x21c0, command line at 0x11c0, memory map at 0x5a8),
   and, with ``--scan always`` or when the kernel's zero page says PVH but nothing
   else found it, everything below 4 GiB ("Xen on x86 will always try to place all
   the data below the 4GiB boundary", start_info.h). No sweep at all when a hint
   found it or the kernel's copy is intact, with ``--scan never``, or when the
   kernel's zero page names another loader (then a start info found by ``--scan
   always`` is reported as stale, and not compared with that zero page).

A sweep hit is accepted only with version 0 or 1, ``reserved`` zero, module and
memory-map counts within :data:`MAX_MODULES` / :data:`MAX_MEMMAP_ENTRIES`, and every
non-zero pointer inside the dump (at least one of them); other hits are listed as
rejected with the reason. Counts and strings from the dump are capped (one finding
per cap), reads that fail are findings, and nothing read is sized by the dump.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from efitables.boot.bootparams import BootParams, parse_boot_params
from efitables.boot.e820 import E820Entry
from efitables.caps import MAX_FINDINGS_PER_KIND, cap_findings, count_cap, omitted
from efitables.errors import MemoryReadError
from efitables.findings import READ_ERROR, Finding, Severity, make, register
from efitables.kernel import kallsyms
from efitables.memory.base import MAX_PHYS_ADDR, PhysicalMemory
from efitables.model import Parsed, TableView
from efitables.schemas.boot_params import E820_MAX_ENTRIES_ZEROPAGE, E820_TYPE_RESERVED
from efitables.schemas.pvh import (
    HVM_MEMMAP_TABLE_ENTRY,
    HVM_MEMMAP_TABLE_ENTRY_FAST,
    HVM_MEMMAP_TABLE_ENTRY_SIZE,
    HVM_MODLIST_ENTRY,
    HVM_MODLIST_ENTRY_FAST,
    HVM_MODLIST_ENTRY_SIZE,
    HVM_START_INFO,
    HVM_START_INFO_FAST,
    HVM_START_INFO_MAGIC_VERSION_FAST,
    HVM_START_INFO_MEMMAP_VERSION,
    HVM_START_INFO_SIZE,
    HVM_START_INFO_V0,
    HVM_START_INFO_V0_FAST,
    HVM_START_INFO_V0_SIZE,
    HVM_START_INFO_VERSION_MAX,
    POISON_FREE_INITMEM,
    PVH_BOOT_PROTOCOL,
    PVH_ISA_END,
    PVH_ISA_START,
    PVH_LOADER_OTHER,
    PVH_LOADER_XEN,
    RSDP_SIGNATURE_BYTES,
    SIF_FLAGS,
    XEN_HVM_MEMMAP_TYPE_RAM,
    XEN_HVM_MEMMAP_TYPES,
    XEN_HVM_START_MAGIC_BYTES,
    XEN_HVM_START_MAGIC_VALUE,
    memmap_type_name,
)
from efitables.text import printable

S = "hvm_start_info"

PVH_BOOT = register(
    "PVH-BOOT",
    Severity.INFO,
    "PVH boot: no EFI expected",
    "The kernel was started at its Xen PVH entry with an hvm_start_info (Xen, or QEMU -kernel vmlinux); "
    "such a boot hands over no EFI system table, so its absence is not a defect.",
)
PVH_NOT_FOUND = register(
    "PVH-NOT-FOUND",
    Severity.WARNING,
    "The kernel's zero page was built from a PVH start info, but none was found",
    "boot_params has protocol 2.12 and a PVH loader type without 'HdrS' (init_pvh_bootparams), yet "
    "neither the kernel's copy nor a search of the dump found the hvm_start_info.",
)
PVH_STALE = register(
    "PVH-STALE",
    Severity.INFO,
    "A PVH start info is in memory, but the running kernel was not started through it",
    "The kernel's boot_params names another loader (a kexec'd kernel after a PVH boot keeps the first "
    "MiB, and the old start info with it).",
)
PVH_MAGIC = register(
    "PVH-MAGIC", Severity.ERROR, "No XEN_HVM_START_MAGIC_VALUE (0x336ec578) where a start info was expected"
)
PVH_VERSION = register(
    "PVH-VERSION",
    Severity.WARNING,
    "hvm_start_info version is newer than start_info.h describes",
    "Versions 0 and 1 are defined; newer ones are promised to be backwards-compatible, so the "
    "version 1 fields are read.",
)
PVH_RESERVED = register("PVH-RESERVED", Severity.INFO, "A reserved field of the PVH start info is not zero")
PVH_MODULES_COUNT = register(
    "PVH-MODULES-COUNT", Severity.ERROR, "hvm_start_info.nr_modules is past the module cap (or has no module list)"
)
PVH_MODULE = register(
    "PVH-MODULE", Severity.WARNING, "A PVH module has a NULL address, no size or a range that wraps past 2**64"
)
PVH_MEMMAP_COUNT = register(
    "PVH-MEMMAP-COUNT",
    Severity.ERROR,
    "hvm_start_info.memmap_entries exceeds the 128 entries Linux copies into its zero page",
    "init_pvh_bootparams copies every entry into boot_params.e820_table[128] without a bound.",
)
PVH_MEMMAP_NONE = register(
    "PVH-MEMMAP-NONE",
    Severity.INFO,
    "The PVH start info carries no memory map",
    "Version 0, or memmap_entries 0: Linux then asks Xen for the map (a hypercall); any other "
    "hypervisor's guest stops (init_pvh_bootparams BUG()s).",
)
PVH_MEMMAP_ENTRY = register("PVH-MEMMAP-ENTRY", Severity.WARNING, "A PVH memory map entry is empty or wraps past 2**64")
PVH_MEMMAP_TYPE = register(
    "PVH-MEMMAP-TYPE", Severity.INFO, "A PVH memory map entry has a type start_info.h does not define"
)
PVH_CMDLINE = register(
    "PVH-CMDLINE-UNTERMINATED", Severity.WARNING, "A PVH command line has no NUL within the bound (shown truncated)"
)
PVH_RSDP = register("PVH-RSDP", Severity.WARNING, "hvm_start_info.rsdp_paddr does not point at 'RSD PTR '")
PVH_OVERLAP = register(
    "PVH-OVERLAP",
    Severity.WARNING,
    "PVH start-of-day structures overlap each other",
    "The start info, its module list, memory map, command lines and modules should be disjoint; "
    "a pointer back into an earlier structure is how a hostile start info loops.",
)
PVH_XC_E820 = register(
    "PVH-XC-E820", Severity.WARNING, "The PVH memory map differs from the E820 table the kernel built from it"
)
PVH_XC_CMDLINE = register(
    "PVH-XC-CMDLINE", Severity.WARNING, "The PVH command line differs from boot_params' command line"
)
PVH_XC_RAMDISK = register(
    "PVH-XC-RAMDISK", Severity.WARNING, "The first PVH module differs from boot_params' initrd"
)
PVH_XC_COPY = register(
    "PVH-XC-COPY", Severity.WARNING, "The kernel's copy of the start info differs from the loader's original"
)
PVH_SCAN_CAP = register(
    "PVH-SCAN-CAP", Severity.WARNING, "More PVH magic hits than the sweep checks; later ones were not looked at"
)

#: Modules judged per start info: a loader passes a handful (QEMU: the initrd; Xen: the
#: dom0 kernel's multiboot modules); Linux itself uses only the first.
MAX_MODULES = 64
#: Memory-map entries decoded: what init_pvh_bootparams can copy into the zero page
#: (E820_MAX_ENTRIES_ZEROPAGE; QEMU's pvh.bin also collects at most 128).
MAX_MEMMAP_ENTRIES = E820_MAX_ENTRIES_ZEROPAGE
#: The longest command line read (QEMU's pvh.bin buffer, CMDLINE_BUFSIZE; Linux keeps 2047).
MAX_CMDLINE = 4096
#: Magic hits a sweep checks before it stops (a dump full of copies is hostile).
MAX_CANDIDATES = 64
#: The first sweep: QEMU's pvh.bin places everything below 640 KiB; the legacy first MiB.
LOW_SWEEP_END = 1 << 20
#: The wide sweep's end: start_info.h's "below the 4GiB boundary".
WIDE_SWEEP_END = 1 << 32
SWEEP_CHUNK = 16 << 20
SWEEP_ALIGN = 8
#: Each hint is searched over its page and one page either side.
HINT_PAGE = 0x1000
HINT_PAGES_AROUND = 1
#: Positions in :data:`HVM_START_INFO_FAST`'s tuple (the schema's field order).
MODLIST_INDEX, CMDLINE_INDEX, MEMMAP_INDEX = (
    [sub.name for sub in HVM_START_INFO.subcons].index(n) for n in ("modlist_paddr", "cmdline_paddr", "memmap_paddr")
)
#: The loaders ``init_pvh_bootparams`` names in ``type_of_loader``.
PVH_LOADERS = {PVH_LOADER_XEN: "Xen", PVH_LOADER_OTHER: "other (QEMU)"}


# -- results ----------------------------------------------------------------------------------------
@dataclass(kw_only=True)
class PvhString(Parsed):
    """A NUL-terminated string a PVH pointer names (``text`` is dump data: escape it to print)."""

    kind = "pvh_cmdline"

    text: str
    terminated: bool
    limit: int

    @property
    def title(self) -> str:
        return f"command line ({len(self.text)} chars)"


@dataclass(kw_only=True)
class PvhModule(Parsed):
    """One ``hvm_modlist_entry`` (the first is the initrd Linux loads)."""

    kind = "hvm_modlist_entry"

    index: int
    paddr: int
    mod_size: int  # the entry's ``size`` (``size`` is the record's, 32)
    cmdline_paddr: int
    reserved: int
    in_dump: bool  # every byte of [paddr, paddr + size) is in the dump
    cmdline: PvhString | None = None

    @property
    def title(self) -> str:
        return f"module [{self.index}] {self.paddr:#x} ({self.mod_size} bytes)"

    def children(self) -> list[Parsed]:
        return [self.cmdline] if self.cmdline is not None else []


@dataclass(kw_only=True)
class PvhMemmapEntry(Parsed):
    kind = "hvm_memmap_table_entry"

    index: int
    addr: int
    length: int  # the entry's ``size``
    type: int
    type_name: str
    reserved: int

    @property
    def end(self) -> int:
        return self.addr + self.length

    @property
    def title(self) -> str:
        return f"[{self.index}] {self.type_name} {self.addr:#x}-{self.end:#x}"


@dataclass(kw_only=True)
class PvhMemmap(Parsed):
    """The ``hvm_memmap_table_entry`` array: ``claimed`` entries, at most :data:`MAX_MEMMAP_ENTRIES` decoded."""

    kind = "hvm_memmap_table"

    claimed: int
    entries: list[PvhMemmapEntry] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"PVH memory map ({len(self.entries)} of {self.claimed} entries)"

    def children(self) -> list[Parsed]:
        return list(self.entries)

    def ram_bytes(self) -> int:
        return sum(e.length for e in self.entries if e.type == XEN_HVM_MEMMAP_TYPE_RAM)


@dataclass(kw_only=True)
class PvhStartInfo(Parsed):
    """``struct hvm_start_info``, with what its pointers name."""

    kind = "hvm_start_info"

    found_by: str
    magic: int
    version: int
    flags: int
    flag_names: list[str]
    nr_modules: int
    modlist_paddr: int
    cmdline_paddr: int
    rsdp_paddr: int
    memmap_paddr: int
    memmap_entries: int
    reserved: int
    rsdp_ok: bool | None  # 'RSD PTR ' at rsdp_paddr (None: no rsdp_paddr)
    cmdline: PvhString | None = None
    modules: list[PvhModule] = field(default_factory=list)
    memmap: PvhMemmap | None = None

    @property
    def title(self) -> str:
        return f"hvm_start_info v{self.version} @ {self.address:#x}" if self.address is not None else S

    def children(self) -> list[Parsed]:
        out: list[Parsed] = []
        if self.cmdline is not None:
            out.append(self.cmdline)
        out.extend(self.modules)
        if self.memmap is not None:
            out.append(self.memmap)
        return out

    def table_views(self) -> list[TableView]:
        views = []
        if self.modules:
            views.append(
                TableView(
                    "modules",
                    ("#", "paddr", "size", "cmdline_paddr", "in dump", "command line"),
                    [
                        (
                            str(m.index),
                            f"{m.paddr:#x}",
                            str(m.mod_size),
                            f"{m.cmdline_paddr:#x}",
                            "yes" if m.in_dump else "no",
                            _printable(m.cmdline.text) if m.cmdline else "",
                        )
                        for m in self.modules
                    ],
                )
            )
        if self.memmap is not None and self.memmap.entries:
            views.append(
                TableView(
                    "memory map",
                    ("#", "addr", "end", "size", "type"),
                    [
                        (str(e.index), f"{e.addr:#x}", f"{e.end:#x}", f"{e.length:#x}", e.type_name)
                        for e in self.memmap.entries
                    ],
                )
            )
        return views


@dataclass(kw_only=True)
class PvhKernelCopy(Parsed):
    """The kernel's ``pvh_start_info`` (and ``pvh_start_info_sz``) as the dump holds them."""

    kind = "pvh_start_info"

    state: str  # "valid", "freed (0xcc: ...)", "zero", "overwritten", "unreadable"
    size_address: int | None
    size_value: int | None  # pvh_start_info_sz as read (56 while the copy lives)

    @property
    def title(self) -> str:
        where = f" @ {self.address:#x}" if self.address is not None else ""
        return f"kernel's pvh_start_info{where}: {self.state}"


@dataclass
class PvhRoute:
    name: str  # "kallsyms", "hint", "scan"
    address: int | None
    status: str  # "used", "agrees", "other", "unavailable", "rejected"
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"route": self.name, "address": self.address, "status": self.status, "detail": self.detail}


@dataclass
class PvhCandidate:
    address: int
    found_by: str
    accepted: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "found_by": self.found_by, "accepted": self.accepted, "reason": self.reason}


@dataclass
class PvhCheck:
    """One comparison of the start info with what the kernel built from it."""

    name: str
    status: str  # "ok", "differs", "unavailable"
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.name, "status": self.status, "detail": self.detail}


@dataclass(kw_only=True)
class PvhReport(Parsed):
    """The PVH area of a dump: whether the kernel came in through the PVH entry, and with what.

    ``boot_path`` is ``"PVH"`` when a start info was found and the kernel's zero page (if any) was
    built from one, or when that zero page says so even though the start info was not found.
    """

    kind = "pvh"

    boot_path: str | None = None
    loader: str | None = None  # from the kernel's type_of_loader
    start_info: PvhStartInfo | None = None
    kernel_copy: PvhKernelCopy | None = None
    boot_params_address: int | None = None  # the zero page compared (physical)
    pvh_built_boot_params: bool = False
    routes: list[PvhRoute] = field(default_factory=list)
    candidates: list[PvhCandidate] = field(default_factory=list)
    checks: list[PvhCheck] = field(default_factory=list)
    swept: list[str] = field(default_factory=list)  # "low", "wide"

    @property
    def present(self) -> bool:
        return self.start_info is not None

    @property
    def title(self) -> str:
        if self.start_info is not None:
            return f"Xen PVH start info @ {_hex(self.start_info.address)} ({self.start_info.found_by})"
        return "PVH boot, start info not found" if self.boot_path else "no Xen PVH start info"

    def children(self) -> list[Parsed]:
        return [p for p in (self.start_info, self.kernel_copy) if p is not None]

    def facts(self) -> list[tuple[str, str]]:
        out = [("boot path", self.boot_path or "not PVH")]
        if self.loader:
            out.append(("loader", self.loader))
        si = self.start_info
        if si is not None:
            out += [
                ("start info", f"{_hex(si.address)}, version {si.version}, found by {si.found_by}"),
                ("flags", ", ".join(si.flag_names) or f"{si.flags:#x}"),
                ("modules", f"{si.nr_modules} at {si.modlist_paddr:#x}"),
                ("command line", _printable(si.cmdline.text) if si.cmdline else f"{si.cmdline_paddr:#x}"),
                ("rsdp_paddr", f"{si.rsdp_paddr:#x}" + ("" if si.rsdp_ok is None else f" ({_ok(si.rsdp_ok)})")),
                ("memory map", f"{si.memmap_entries} entries at {si.memmap_paddr:#x}"),
            ]
        if self.kernel_copy is not None:
            out.append(("kernel's copy", self.kernel_copy.title))
        return out

    def table_views(self) -> list[TableView]:
        views = [
            TableView("routes", ("route", "address", "status", "detail"),
                      [(r.name, _hex(r.address), r.status, r.detail) for r in self.routes]),
        ]
        if self.checks:
            views.append(TableView("cross-checks", ("check", "status", "detail"),
                                   [(c.name, c.status, c.detail) for c in self.checks]))
        if self.candidates:
            views.append(TableView("sweep candidates", ("address", "found by", "accepted", "reason"),
                                   [(f"{c.address:#x}", c.found_by, _ok(c.accepted), c.reason)
                                    for c in self.candidates]))
        if self.start_info is not None:
            views.extend(self.start_info.table_views())
        return views

    def to_dict(self, raw: bool = False) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "address": self.address,
            "size": self.size,
            "present": self.present,
            "boot_path": self.boot_path,
            "loader": self.loader,
            "start_info": self.start_info.to_dict(raw) if self.start_info is not None else None,
            "kernel_copy": self.kernel_copy.to_dict(raw) if self.kernel_copy is not None else None,
            "boot_params_address": self.boot_params_address,
            "pvh_built_boot_params": self.pvh_built_boot_params,
            "routes": [r.to_dict() for r in self.routes],
            "candidates": [c.to_dict() for c in self.candidates],
            "checks": [c.to_dict() for c in self.checks],
            "swept": list(self.swept),
            "findings": [f.to_dict() for f in self.findings],
        }


def _hex(v: int | None) -> str:
    return "-" if v is None else f"{v:#x}"


def _ok(v: bool) -> str:
    return "yes" if v else "no"


def _printable(text: str) -> str:
    return printable(text)


# -- parsing -----------------------------------------------------------------------------------------
def read_string(mem: PhysicalMemory, pa: int, limit: int, structure: str) -> PvhString:
    """The NUL-terminated string at ``pa``: at most ``limit`` characters, stopping at a hole."""
    findings: list[Finding] = []
    want = limit + 1  # the NUL
    gap = mem.first_gap(pa, want) if pa + want <= MAX_PHYS_ADDR else (pa, pa + want)
    n = want if gap is None else gap[0] - pa
    if n <= 0:
        findings.append(make(READ_ERROR, structure, pa, f"{pa:#x} is not in the dump"))
        return PvhString(address=pa, size=0, findings=findings, text="", terminated=False, limit=limit)
    try:
        data = mem.read(pa, n, structure=structure)
    except MemoryReadError as e:
        findings.append(make(READ_ERROR, structure, pa, e.reason))
        return PvhString(address=pa, size=0, findings=findings, text="", terminated=False, limit=limit)
    nul = data.find(b"\0")
    terminated = 0 <= nul <= limit
    body = data[:nul] if terminated else data[:limit]
    if not terminated:
        why = f"before a hole at {gap[0]:#x}" if gap is not None and n < want else f"within {limit} characters"
        findings.append(make(PVH_CMDLINE, structure, pa, f"no NUL {why}"))
    return PvhString(
        address=pa,
        size=len(body) + (1 if terminated else 0),
        raw=body,
        findings=findings,
        text=body.decode("utf-8", "backslashreplace"),
        terminated=terminated,
        limit=limit,
    )


def _read_array(
    mem: PhysicalMemory, pa: int, count: int, stride: int, structure: str, findings: list[Finding]
) -> bytes:
    """``count`` records at ``pa`` (a bounded count), or the whole records before the first hole (with a finding)."""
    size = count * stride
    try:
        return mem.read(pa, size, structure=structure)
    except MemoryReadError as e:
        findings.append(make(READ_ERROR, structure, pa, e.reason))
    gap = mem.first_gap(pa, size) if pa + size <= MAX_PHYS_ADDR else (pa, pa + size)
    whole = ((gap[0] - pa) // stride) * stride if gap is not None else 0
    if whole <= 0:
        return b""
    try:
        return mem.read(pa, whole, structure=structure)
    except MemoryReadError:
        return b""


def parse_start_info(mem: PhysicalMemory, pa: int, *, found_by: str = "") -> PvhStartInfo | None:
    """Parse and check the start info at ``pa`` and what it names; None if its first 40 bytes are not in the dump."""
    try:
        head = mem.read(pa, HVM_START_INFO_V0_SIZE, structure=S)
    except MemoryReadError:
        return None
    version = HVM_START_INFO_MAGIC_VERSION_FAST.unpack_from(head)[1]
    findings: list[Finding] = []
    raw, schema = head, HVM_START_INFO_V0
    if version >= HVM_START_INFO_MEMMAP_VERSION:
        try:
            raw, schema = mem.read(pa, HVM_START_INFO_SIZE, structure=S), HVM_START_INFO
        except MemoryReadError as e:
            findings.append(make(READ_ERROR, S, pa, f"version {version}, but the version 1 fields: {e.reason}"))
    f = schema.parse(raw)
    memmap_paddr = f.get("memmap_paddr", 0)
    memmap_entries = f.get("memmap_entries", 0)
    reserved = f.get("reserved", 0)
    if f.magic != XEN_HVM_START_MAGIC_VALUE:
        findings.append(make(PVH_MAGIC, S, pa, f"magic {f.magic:#010x}, not {XEN_HVM_START_MAGIC_VALUE:#x}"))
    if version > HVM_START_INFO_VERSION_MAX:
        findings.append(make(PVH_VERSION, S, pa, f"version {version}; read as version {HVM_START_INFO_VERSION_MAX}"))
    if reserved:
        findings.append(make(PVH_RESERVED, S, pa, f"reserved {reserved:#x} (must be zero)"))
    si = PvhStartInfo(
        address=pa,
        size=len(raw),
        raw=raw,
        fields=f,
        schema=schema,
        findings=findings,
        found_by=found_by,
        magic=f.magic,
        version=version,
        flags=f.flags,
        flag_names=[name for name, bit in SIF_FLAGS.items() if f.flags & bit],
        nr_modules=f.nr_modules,
        modlist_paddr=f.modlist_paddr,
        cmdline_paddr=f.cmdline_paddr,
        rsdp_paddr=f.rsdp_paddr,
        memmap_paddr=memmap_paddr,
        memmap_entries=memmap_entries,
        reserved=reserved,
        rsdp_ok=None,
    )
    strings: dict[int, PvhString] = {}  # visited: one read per address, however many pointers name it
    if si.cmdline_paddr:
        si.cmdline = strings[si.cmdline_paddr] = read_string(mem, si.cmdline_paddr, MAX_CMDLINE, "PVH command line")
    si.modules = _modules(mem, si, strings)
    if si.memmap_entries and si.memmap_paddr and version >= HVM_START_INFO_MEMMAP_VERSION:
        si.memmap = _memmap(mem, si)
    else:
        why = f"version {version}" if version < HVM_START_INFO_MEMMAP_VERSION else "memmap_entries 0 or no address"
        findings.append(make(PVH_MEMMAP_NONE, S, pa, why))
    if si.rsdp_paddr:
        try:
            sig = mem.read(si.rsdp_paddr, len(RSDP_SIGNATURE_BYTES), structure="ACPI RSDP")
            si.rsdp_ok = sig == RSDP_SIGNATURE_BYTES
            if not si.rsdp_ok:
                findings.append(make(PVH_RSDP, S, pa, f"rsdp_paddr {si.rsdp_paddr:#x} holds {sig!r}"))
        except MemoryReadError as e:
            si.rsdp_ok = False
            findings.append(make(PVH_RSDP, S, pa, f"rsdp_paddr {si.rsdp_paddr:#x}: {e.reason}"))
    findings.extend(_overlaps(si))
    return si


def _modules(mem: PhysicalMemory, si: PvhStartInfo, strings: dict[int, PvhString]) -> list[PvhModule]:
    if not si.nr_modules:
        return []
    name = "hvm_modlist_entry array"
    count, capped = count_cap(si.nr_modules, MAX_MODULES, PVH_MODULES_COUNT, S, si.address,
                              f"nr_modules {si.nr_modules}", "modules")
    if capped is not None:
        si.findings.append(capped)
    if not si.modlist_paddr:
        si.findings.append(make(PVH_MODULES_COUNT, S, si.address, f"nr_modules {si.nr_modules} with modlist_paddr 0"))
        return []
    raw = _read_array(mem, si.modlist_paddr, count, HVM_MODLIST_ENTRY_SIZE, name, si.findings)
    out: list[PvhModule] = []
    for i in range(len(raw) // HVM_MODLIST_ENTRY_SIZE):
        off = i * HVM_MODLIST_ENTRY_SIZE
        paddr, size, cmdline_paddr, reserved = HVM_MODLIST_ENTRY_FAST.unpack_from(raw, off)
        end = paddr + size
        in_dump = 0 < size and end <= MAX_PHYS_ADDR and mem.first_gap(paddr, size) is None
        m = PvhModule(
            address=si.modlist_paddr + off,
            size=HVM_MODLIST_ENTRY_SIZE,
            raw=raw[off : off + HVM_MODLIST_ENTRY_SIZE],
            fields={"paddr": paddr, "size": size, "cmdline_paddr": cmdline_paddr, "reserved": reserved},
            schema=HVM_MODLIST_ENTRY,
            index=i,
            paddr=paddr,
            mod_size=size,
            cmdline_paddr=cmdline_paddr,
            reserved=reserved,
            in_dump=in_dump,
        )
        where = f"module [{i}]"
        if paddr == 0 or size == 0 or end > 1 << 64:
            m.findings.append(make(PVH_MODULE, where, m.address, f"paddr {paddr:#x} size {size:#x}"))
        if reserved:
            m.findings.append(make(PVH_RESERVED, where, m.address, f"reserved {reserved:#x}"))
        if cmdline_paddr:
            if cmdline_paddr not in strings:
                strings[cmdline_paddr] = read_string(mem, cmdline_paddr, MAX_CMDLINE, f"{where} command line")
            m.cmdline = strings[cmdline_paddr]
        out.append(m)
    si.findings.extend(cap_findings((m.findings for m in out), name, si.modlist_paddr))
    return out


def _memmap(mem: PhysicalMemory, si: PvhStartInfo) -> PvhMemmap:
    name = "hvm_memmap_table_entry array"
    mm = PvhMemmap(address=si.memmap_paddr, size=0, claimed=si.memmap_entries)
    count, capped = count_cap(si.memmap_entries, MAX_MEMMAP_ENTRIES, PVH_MEMMAP_COUNT, S, si.address,
                              f"memmap_entries {si.memmap_entries}")
    if capped is not None:
        mm.findings.append(capped)
    raw = _read_array(mem, si.memmap_paddr, count, HVM_MEMMAP_TABLE_ENTRY_SIZE, name, mm.findings)
    mm.raw, mm.size = raw, len(raw)
    for i in range(len(raw) // HVM_MEMMAP_TABLE_ENTRY_SIZE):
        off = i * HVM_MEMMAP_TABLE_ENTRY_SIZE
        addr, size, typ, reserved = HVM_MEMMAP_TABLE_ENTRY_FAST.unpack_from(raw, off)
        e = PvhMemmapEntry(
            address=si.memmap_paddr + off,
            size=HVM_MEMMAP_TABLE_ENTRY_SIZE,
            raw=raw[off : off + HVM_MEMMAP_TABLE_ENTRY_SIZE],
            fields={"addr": addr, "size": size, "type": typ, "reserved": reserved},
            schema=HVM_MEMMAP_TABLE_ENTRY,
            index=i,
            addr=addr,
            length=size,
            type=typ,
            type_name=memmap_type_name(typ),
            reserved=reserved,
        )
        where = f"PVH memory map [{i}]"
        if size == 0 or addr + size > 1 << 64:
            e.findings.append(make(PVH_MEMMAP_ENTRY, where, e.address, f"addr {addr:#x} size {size:#x}"))
        if typ not in XEN_HVM_MEMMAP_TYPES:
            e.findings.append(make(PVH_MEMMAP_TYPE, where, e.address, f"type {typ:#x}"))
        if reserved:
            e.findings.append(make(PVH_RESERVED, where, e.address, f"reserved {reserved:#x}"))
        mm.entries.append(e)
    mm.findings.extend(cap_findings((e.findings for e in mm.entries), name, si.memmap_paddr))
    return mm


def _overlaps(si: PvhStartInfo) -> list[Finding]:
    """Pairs of the start-of-day objects that share bytes: the first :data:`MAX_FINDINGS_PER_KIND`, then a count.

    At most ``MAX_MODULES * 2 + 4`` objects (the modules' data and the start info's own arrays).
    """
    spans: list[tuple[str, int, int]] = []
    if si.address is not None:
        spans.append((S, si.address, si.address + si.size))
    if si.nr_modules and si.modlist_paddr:
        n = min(si.nr_modules, MAX_MODULES)
        spans.append(("module list", si.modlist_paddr, si.modlist_paddr + n * HVM_MODLIST_ENTRY_SIZE))
    if si.memmap is not None:
        n = min(si.memmap_entries, MAX_MEMMAP_ENTRIES)
        spans.append(("memory map", si.memmap_paddr, si.memmap_paddr + n * HVM_MEMMAP_TABLE_ENTRY_SIZE))
    if si.cmdline is not None:
        spans.append(("command line", si.cmdline_paddr, si.cmdline_paddr + max(si.cmdline.size, 1)))
    for m in si.modules:
        if m.mod_size and m.paddr:
            spans.append((f"module [{m.index}]", m.paddr, min(m.paddr + m.mod_size, 1 << 64)))
    spans.sort(key=lambda sp: (sp[1], sp[2]))
    out: list[Finding] = []
    more = 0
    for i, (a, a0, a1) in enumerate(spans):
        for b, b0, b1 in spans[i + 1 :]:
            if b0 >= a1:
                break
            if len(out) < MAX_FINDINGS_PER_KIND:
                out.append(make(PVH_OVERLAP, S, si.address, f"{a} {a0:#x}-{a1:#x} overlaps {b} {b0:#x}-{b1:#x}"))
            else:
                more += 1
    if more:
        out.append(omitted(PVH_OVERLAP, more, S, si.address, MAX_FINDINGS_PER_KIND))
    return out


# -- the kernel's copies -----------------------------------------------------------------------------
def read_kernel_copy(mem: PhysicalMemory, pa: int, size_pa: int | None) -> tuple[PvhKernelCopy, bytes | None]:
    """The kernel's ``pvh_start_info`` at ``pa``: its state, and its bytes when it still holds a start info."""
    size_value = None
    if size_pa is not None:
        try:
            size_value = mem.read_u32(size_pa, structure="pvh_start_info_sz")
        except MemoryReadError:
            size_value = None
    try:
        raw = mem.read(pa, HVM_START_INFO_SIZE, structure="pvh_start_info")
    except MemoryReadError as e:
        copy = PvhKernelCopy(address=pa, size=0, state="unreadable", size_address=size_pa, size_value=size_value)
        copy.findings.append(make(READ_ERROR, "pvh_start_info", pa, e.reason))
        return copy, None
    if raw.startswith(XEN_HVM_START_MAGIC_BYTES):
        state = "valid"
    elif raw == bytes([POISON_FREE_INITMEM]) * len(raw):
        state = f"freed ({POISON_FREE_INITMEM:#x}: init memory released after boot)"
    elif not any(raw):
        state = "zero"
    else:
        state = "overwritten"
    copy = PvhKernelCopy(address=pa, size=len(raw), raw=raw, state=state, size_address=size_pa,
                         size_value=size_value)
    return copy, raw if state == "valid" else None


def pvh_built(bp: BootParams | None) -> bool:
    """Whether ``bp`` looks like the zero page ``init_pvh_bootparams`` builds (no HdrS, 2.12, a PVH loader)."""
    return (
        bp is not None
        and not bp.has_hdrs
        and bp.efi_loader_signature is None
        and bp.protocol_version == PVH_BOOT_PROTOCOL
        and bp.type_of_loader in PVH_LOADERS
    )


# -- the sweep ---------------------------------------------------------------------------------------
def check_candidate(mem: PhysicalMemory, pa: int, found_by: str) -> PvhCandidate:
    """Cheap checks (``struct`` only) of a magic hit."""
    try:
        head = mem.read(pa, HVM_START_INFO_V0_SIZE, structure="hvm_start_info candidate")
    except MemoryReadError as e:
        return PvhCandidate(pa, found_by, False, f"unreadable: {e.reason}")
    magic, version = HVM_START_INFO_MAGIC_VERSION_FAST.unpack_from(head)
    if magic != XEN_HVM_START_MAGIC_VALUE:
        return PvhCandidate(pa, found_by, False, f"magic {magic:#010x}")
    if version > HVM_START_INFO_VERSION_MAX:
        return PvhCandidate(pa, found_by, False, f"version {version} (start_info.h knows 0 and 1)")
    memmap_paddr = memmap_entries = reserved = 0
    if version >= HVM_START_INFO_MEMMAP_VERSION:
        try:
            full = mem.read(pa, HVM_START_INFO_SIZE, structure="hvm_start_info candidate")
        except MemoryReadError as e:
            return PvhCandidate(pa, found_by, False, f"version {version} fields unreadable: {e.reason}")
        values = HVM_START_INFO_FAST.unpack(full)
        _m, _v, _fl, nr, modlist, cmdline, rsdp, memmap_paddr, memmap_entries, reserved = values
    else:
        _m, _v, _fl, nr, modlist, cmdline, rsdp = HVM_START_INFO_V0_FAST.unpack(head)
    if reserved:
        return PvhCandidate(pa, found_by, False, f"reserved {reserved:#x} (must be zero)")
    if nr > MAX_MODULES:
        return PvhCandidate(pa, found_by, False, f"nr_modules {nr} > {MAX_MODULES}")
    if memmap_entries > MAX_MEMMAP_ENTRIES:
        return PvhCandidate(pa, found_by, False, f"memmap_entries {memmap_entries} > {MAX_MEMMAP_ENTRIES}")
    pointers = {"modlist_paddr": modlist if nr else 0, "cmdline_paddr": cmdline, "rsdp_paddr": rsdp,
                "memmap_paddr": memmap_paddr if memmap_entries else 0}
    named = {k: v for k, v in pointers.items() if v}
    if not named:
        return PvhCandidate(pa, found_by, False, "names nothing (every pointer is 0)")
    outside = [f"{k} {v:#x}" for k, v in named.items() if not mem.is_readable(v)]
    if outside:
        return PvhCandidate(pa, found_by, False, f"not in the dump: {', '.join(outside)}")
    return PvhCandidate(pa, found_by, True,
                        f"version {version}, {nr} modules, {memmap_entries} memory-map entries, pointers in the dump")


def sweep(mem: PhysicalMemory, start: int, end: int, found_by: str, budget: list[int]) -> tuple[list[int], bool]:
    """8-byte-aligned positions of the magic in ``[start, end)``; ``budget`` (one int) caps the hits, shared."""
    hits: list[int] = []
    for pa, data in mem.chunks(chunk_size=SWEEP_CHUNK, overlap=len(XEN_HVM_START_MAGIC_BYTES) - 1, start=start,
                               end=end):
        buf = bytes(data)
        pos = buf.find(XEN_HVM_START_MAGIC_BYTES)
        while pos >= 0:
            at = pa + pos
            if at % SWEEP_ALIGN == 0 and start <= at < end and at not in hits:
                if budget[0] <= 0:
                    return hits, True
                budget[0] -= 1
                hits.append(at)
            pos = buf.find(XEN_HVM_START_MAGIC_BYTES, pos + 1)
    return hits, False


def _windows(pointers: list[int]) -> list[tuple[int, int]]:
    """The pages around each hinted pointer, merged."""
    spans = []
    for p in pointers:
        if 0 < p < MAX_PHYS_ADDR:
            page = p - p % HINT_PAGE
            spans.append((max(0, page - HINT_PAGES_AROUND * HINT_PAGE), page + (HINT_PAGES_AROUND + 1) * HINT_PAGE))
    spans.sort()
    out: list[tuple[int, int]] = []
    for a, b in spans:
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


# -- cross-checks ------------------------------------------------------------------------------------
def expected_e820(si: PvhStartInfo) -> list[tuple[int, int, int]]:
    """(addr, size, type) of the E820 table ``init_pvh_bootparams`` builds from ``si``'s memory map."""
    entries = si.memmap.entries if si.memmap is not None else []
    out = [(e.addr, e.length, e.type) for e in entries]
    if len(out) < E820_MAX_ENTRIES_ZEROPAGE - 1:
        out.append((PVH_ISA_START, PVH_ISA_END - PVH_ISA_START, E820_TYPE_RESERVED))
    return out


def crosscheck(
    report: PvhReport, si: PvhStartInfo, bp: BootParams | None, original: bytes | None, copy: bytes | None
) -> None:
    """Compare the start info with the zero page the kernel built from it and with the kernel's copy.

    Only a zero page ``init_pvh_bootparams`` built (:func:`pvh_built`) is compared: another loader's
    has nothing of the start info in it.
    """
    checks, findings = report.checks, report.findings
    if bp is None:
        checks.append(PvhCheck("boot_params", "unavailable", "no kernel zero page to compare"))
    elif not pvh_built(bp):
        checks.append(PvhCheck("boot_params", "unavailable",
                               f"boot_params @ {_hex(bp.address)} was not built from a start info "
                               f"(loader {bp.type_of_loader:#04x}, protocol {bp.protocol_version:#06x})"))
    else:
        where = f"boot_params @ {_hex(bp.address)}"
        got = [(e.addr, e.length, e.type) for e in _entries(bp)]
        want = expected_e820(si)
        if si.memmap is None:
            checks.append(PvhCheck("memmap vs E820", "unavailable", "the start info has no memory map"))
        elif got == want:
            checks.append(PvhCheck("memmap vs E820", "ok",
                                   f"{len(si.memmap.entries)} entries + the ISA range = {where}.e820_table"))
        else:
            diff = _first_difference(want, got)
            checks.append(PvhCheck("memmap vs E820", "differs", diff))
            findings.append(make(PVH_XC_E820, S, si.address, f"{where}: {diff}"))
        text = si.cmdline.text if si.cmdline is not None else None
        bp_text = bp.command_line.text if bp.command_line is not None else None
        if bp.cmd_line_ptr == si.cmdline_paddr and text == bp_text:
            checks.append(PvhCheck("cmdline", "ok", f"cmd_line_ptr = cmdline_paddr = {si.cmdline_paddr:#x}, same text"))
        else:
            why = (f"cmd_line_ptr {bp.cmd_line_ptr:#x} vs cmdline_paddr {si.cmdline_paddr:#x}"
                   if bp.cmd_line_ptr != si.cmdline_paddr else "same address, different text")
            checks.append(PvhCheck("cmdline", "differs", why))
            findings.append(make(PVH_XC_CMDLINE, S, si.address, f"{where}: {why}"))
        first = si.modules[0] if si.modules else None
        want_rd = (first.paddr, first.mod_size) if first is not None else (0, 0)
        if (bp.ramdisk_image, bp.ramdisk_size) == want_rd:
            checks.append(PvhCheck("initrd", "ok", f"ramdisk {want_rd[0]:#x}+{want_rd[1]:#x} = module [0]"
                                   if first else "no module, no initrd"))
        else:
            why = f"ramdisk {bp.ramdisk_image:#x}+{bp.ramdisk_size:#x} vs module [0] {want_rd[0]:#x}+{want_rd[1]:#x}"
            checks.append(PvhCheck("initrd", "differs", why))
            findings.append(make(PVH_XC_RAMDISK, S, si.address, f"{where}: {why}"))
    if copy is None:
        state = report.kernel_copy.state if report.kernel_copy is not None else "not located (no kallsyms)"
        checks.append(PvhCheck("kernel copy", "unavailable", f"pvh_start_info: {state}"))
    elif original is None:
        checks.append(PvhCheck("kernel copy", "unavailable", "the loader's original was not found"))
    else:
        n = len(si.raw)
        if copy[:n] == original[:n]:
            checks.append(PvhCheck("kernel copy", "ok", f"pvh_start_info equals the original ({n} bytes)"))
        else:
            checks.append(PvhCheck("kernel copy", "differs", "pvh_start_info differs from the original"))
            findings.append(make(PVH_XC_COPY, S, si.address, "the kernel's pvh_start_info differs from the original"))


def _entries(bp: BootParams) -> list[E820Entry]:
    return list(bp.e820_table)


def _first_difference(want: list[tuple[int, int, int]], got: list[tuple[int, int, int]]) -> str:
    for i, (w, g) in enumerate(zip(want, got, strict=False)):
        if w != g:
            return (f"entry [{i}]: expected {w[0]:#x}+{w[1]:#x} type {w[2]}, "
                    f"boot_params has {g[0]:#x}+{g[1]:#x} type {g[2]}")
    return f"{len(want)} entries expected (the memory map and the ISA range), boot_params has {len(got)}"


# -- the discovery -----------------------------------------------------------------------------------
def discover_pvh(
    mem: PhysicalMemory,
    *,
    vmcoreinfo: dict[str, str] | None = None,
    boot_params: BootParams | None = None,
    scan: bool | None = None,
) -> PvhReport:
    """Find and parse the PVH start info; never raises.

    ``boot_params`` is the zero page the boot discovery chose (the kernel's copy is read
    through kallsyms when it is None). ``scan``: True sweeps the first MiB and everything
    below 4 GiB, False never sweeps, None (auto) sweeps the first MiB only when no hint
    found the start info and the kernel's zero page (if any) was built by a PVH entry,
    and below 4 GiB only when that zero page says PVH and nothing else found it.
    """
    r = PvhReport(address=None, size=0)
    ks = kallsyms.load(mem, vmcoreinfo, names=("pvh_start_info", "pvh_start_info_sz", "boot_params"))
    bp = boot_params
    if bp is None:
        bp_pa = ks.physical("boot_params")
        if bp_pa is not None:
            bp = parse_boot_params(mem, bp_pa, found_by="kallsyms (the kernel's boot_params)")
    r.pvh_built_boot_params = pvh_built(bp)
    r.boot_params_address = bp.address if bp is not None else None
    if bp is not None and r.pvh_built_boot_params:
        r.loader = f"{PVH_LOADERS[bp.type_of_loader]} ({bp.type_of_loader:#04x})"

    # route 1: the kernel's copy
    hints: list[int] = []
    copy_raw: bytes | None = None
    copy_pa = ks.physical("pvh_start_info")
    kallsyms_route = PvhRoute("kallsyms", copy_pa, "unavailable", "")
    if copy_pa is None:
        kallsyms_route.detail = ks.error or "pvh_start_info is not among the kernel's symbols (no CONFIG_PVH)"
    else:
        r.kernel_copy, copy_raw = read_kernel_copy(mem, copy_pa, ks.physical("pvh_start_info_sz"))
        kallsyms_route.detail = f"pvh_start_info: {r.kernel_copy.state}"
        if copy_raw is not None:
            values = HVM_START_INFO_FAST.unpack(copy_raw)
            hints += [values[MODLIST_INDEX], values[CMDLINE_INDEX], values[MEMMAP_INDEX]]  # the loader's pages
    # route 2: the pages the hints name (the copy's pointers; the PVH-built zero page's cmd_line_ptr)
    sources = ["the kernel copy's pointers"] if hints else []
    if bp is not None and r.pvh_built_boot_params:
        hints.append(bp.cmd_line_ptr)
        sources.append(f"cmd_line_ptr of boot_params @ {_hex(bp.address)}")
    windows = _windows(hints)
    hint_route = PvhRoute("hint", None, "unavailable", "")
    if not windows:
        hint_route.detail = "no hint (no intact kernel copy, no zero page built from a start info)"

    found: list[PvhCandidate] = []
    seen: set[int] = set()
    budget = [MAX_CANDIDATES]
    truncated = False

    def judge(start: int, end: int, how: str) -> int:
        nonlocal truncated
        hits, cut = sweep(mem, start, end, how, budget)
        truncated |= cut
        for pa in hits:
            if pa not in seen:
                seen.add(pa)
                c = check_candidate(mem, pa, how)
                r.candidates.append(c)
                if c.accepted:
                    found.append(c)
        return len(hits)

    for a, b in windows:
        judge(a, b, "hint")
    if windows:
        ok = sum(c.found_by == "hint" for c in found)
        hint_route.detail = f"{len(windows)} windows around {' and '.join(sources)}: {ok} accepted"
    # route 3: the sweep
    other_loader = bp is not None and not r.pvh_built_boot_params
    idle = not found and copy_raw is None
    low = scan is True or (scan is None and idle and not other_loader)
    wide = scan is True or (scan is None and idle and r.pvh_built_boot_params)
    scan_route = PvhRoute("scan", None, "unavailable", "")
    if low or wide:
        n = 0
        if low:
            r.swept.append("low")
            n += judge(0, LOW_SWEEP_END, "scan")
        if wide:
            r.swept.append("wide")
            n += judge(LOW_SWEEP_END, WIDE_SWEEP_END, "scan")
        what = " and ".join({"low": "the first MiB", "wide": "1 MiB-4 GiB"}[x] for x in r.swept)
        ok = sum(c.found_by == "scan" for c in found)
        scan_route.detail = f"{what}: {ok} accepted of {n} magic hits"
    else:
        scan_route.detail = ("not run (--scan never)" if scan is False else "not run (a hint found it)" if found
                             else "not run (the kernel's zero page names another loader)" if other_loader
                             else "not run (the kernel's copy is intact)")
    if truncated:
        r.findings.append(make(PVH_SCAN_CAP, S, None, f"stopped after {MAX_CANDIDATES} magic hits"))

    chosen = _choose(mem, found, copy_raw, bp)
    original: bytes | None = None
    if chosen is not None:
        r.start_info = parse_start_info(mem, chosen.address, found_by=chosen.found_by)
        original = r.start_info.raw if r.start_info is not None else None
    elif copy_raw is not None and copy_pa is not None:
        r.start_info = parse_start_info(mem, copy_pa, found_by="kallsyms")
    _settle_routes(r, kallsyms_route, hint_route, scan_route, chosen, found, copy_raw, original)

    si = r.start_info
    if si is not None:
        r.address, r.size = si.address, si.size
        crosscheck(r, si, bp, original, copy_raw)
        if bp is None or r.pvh_built_boot_params or bp.cmd_line_ptr == si.cmdline_paddr:
            r.boot_path = "PVH"
        else:
            r.findings.append(make(PVH_STALE, S, si.address,
                                   f"boot_params @ {_hex(bp.address)}: loader {bp.type_of_loader:#04x}, "
                                   f"protocol {bp.protocol_version:#06x}"))
    elif r.pvh_built_boot_params and bp is not None:
        r.boot_path = "PVH"
        routes = "; ".join(f"{x.name}: {x.detail}" for x in r.routes)
        r.findings.append(make(PVH_NOT_FOUND, S, None, f"boot_params @ {_hex(bp.address)}; {routes}"))
    return r


def _settle_routes(
    r: PvhReport,
    kallsyms_route: PvhRoute,
    hint_route: PvhRoute,
    scan_route: PvhRoute,
    chosen: PvhCandidate | None,
    found: list[PvhCandidate],
    copy: bytes | None,
    original: bytes | None,
) -> None:
    """Each route's address and status: the one that gave the start info is ``used``, the others
    ``agrees`` (the same start info) or ``other``."""
    used = r.start_info.address if r.start_info is not None else None
    if copy is not None:
        if chosen is None:
            kallsyms_route.status = "used"
        else:
            n = len(original or b"")
            kallsyms_route.status = "agrees" if original is not None and copy[:n] == original else "other"
    for route in (hint_route, scan_route):
        c = next((c for c in found if c.found_by == route.name), None)
        if c is not None:
            route.address = c.address
            route.status = "used" if c is chosen else "agrees" if c.address == used else "other"
    r.routes += [kallsyms_route, hint_route, scan_route]


def _choose(
    mem: PhysicalMemory, found: list[PvhCandidate], copy: bytes | None, bp: BootParams | None
) -> PvhCandidate | None:
    """The accepted candidate the kernel used: equal to its copy, else named by boot_params, else the first."""
    if not found:
        return None
    if copy is not None:
        for c in found:
            try:
                if mem.read(c.address, HVM_START_INFO_SIZE) == copy:
                    return c
            except MemoryReadError:
                continue
    if bp is not None:
        for c in found:
            try:
                head = mem.read(c.address, HVM_START_INFO_V0_SIZE)
            except MemoryReadError:
                continue
            if HVM_START_INFO_V0_FAST.unpack(head)[CMDLINE_INDEX] == bp.cmd_line_ptr:
                return c
    return found[0]
