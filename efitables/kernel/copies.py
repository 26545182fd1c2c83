"""The running kernel's own copies of what the firmware and the boot loader handed it, read out of RAM.

Most dumps users have (a kdump vmcore, makedumpfile's output, LiME, AVML) hold
System RAM only: the EFI system table, the configuration table array, ACPI tables
and SNP pages sit in firmware-reserved memory and are not in them. The kernel keeps
its own copies in RAM, and this module reads them (x86-64; symbols through
:mod:`efitables.kernel.kallsyms`, layouts through :mod:`efitables.kernel.layouts`):

* ``efi`` (``struct efi``, include/linux/efi.h@v6.1.192 and @v6.18): the physical
  addresses of the tables Linux knows (``acpi``, ``acpi20``, ``smbios``, ``smbios3``,
  ``esrt``, ``tpm_log``, ``tpm_final_log``, ``mokvar_table``, ``coco_secret``, and
  ``unaccepted`` / ``ovmf_debug_log`` where the release has them; ``EFI_INVALID_TABLE_ADDR``
  means "none"), ``runtime`` and ``memmap`` (``struct efi_memory_map``: ``phys_map``,
  ``map``, ``map_end``, ``nr_map``, ``desc_version``, ``desc_size``, ``flags``) whose
  descriptors are decoded by :func:`efitables.efi.memmap.parse_memmap` (after boot
  Linux keeps the runtime subset there, in RAM: arch/x86/platform/efi/efi.c@v6.1.192
  ``efi_clean_memmap``, drivers/firmware/efi/memmap.c ``efi_memmap_install``);
  ``efi_mem_attr_table`` (drivers/firmware/efi/memattr.c@v6.1.192) for MEMATTR;
* ``efi_config_table``, ``efi_fw_vendor``, ``efi_runtime`` (arch/x86/platform/efi/efi.c@v6.1.192:
  the physical addresses saved before SetVirtualAddressMap);
* ``boot_params``: the kernel's own ``struct boot_params`` (arch/x86/kernel/setup.c),
  decoded by :func:`efitables.boot.bootparams.parse_boot_params`; on v6.1 x86 the EFI
  system table's address is its ``efi_info.efi_systab``/``efi_systab_hi`` (there is no
  ``efi.systab``);
* ``e820_table``, ``e820_table_kexec``, ``e820_table_firmware`` (arch/x86/kernel/e820.c@v6.1.192:
  pointers to ``struct e820_table``, reallocated by ``e820__reallocate_tables`` to hold just
  ``nr_entries``), decoded by :mod:`efitables.boot.e820` and capped at ``E820_MAX_ENTRIES``;
* ``saved_command_line`` (``char *``, init/main.c) and ``linux_banner`` (init/version.c);
* ``kexec_image`` and ``kexec_crash_image`` (``struct kimage *``, kernel/kexec_core.c): ``start``,
  ``nr_segments`` (capped at ``KEXEC_SEGMENT_MAX``), each ``segment`` (``buf``, ``bufsz``,
  ``mem``, ``memsz``), ``type``, and the root of the kexec identity map: ``arch.pgd`` from
  v6.14 (and stable 6.12.14: David Woodhouse, "x86/kexec: Allocate PGD for x86_64 transition
  page tables separately"), before that the first page of ``control_code_page``
  (arch/x86/kernel/machine_kexec_64.c@v6.1.192 ``machine_kexec_prepare``:
  ``page_to_pfn(image->control_code_page) << PAGE_SHIFT`` is the PGD ``init_pgtable``
  fills); which of the two applies is decided by whether the layout has ``kimage_arch.pgd``.
  A ``struct page *`` becomes a physical address as SPARSEMEM_VMEMMAP's ``page_to_pfn``
  does: ``(page - vmemmap_base) / sizeof(struct page)`` (include/asm-generic/memory_model.h;
  ``vmemmap_base``, arch/x86/kernel/head64.c, read through kallsyms);
* ``sev_status``, ``sme_me_mask`` (arch/x86/mm/mem_encrypt_identity.c), ``cc_mask``
  (arch/x86/coco/core.c), the SNP secrets page address (``secrets_pa``, later ``sev_secrets_pa``;
  on v6.1, which keeps neither, ``boot_params.cc_blob_address`` -> the CC blob's ``secrets_phys``
  as arch/x86/kernel/sev.c@v6.1.192 ``get_secrets_page`` does) and ``cpuid_table_copy``
  (``struct snp_cpuid_table``, arch/x86/kernel/sev-shared.c@v6.1.192).

Kernel-image symbols become physical through ``phys_base``; pointers into the direct
map (memblock and kmalloc memory: the E820 tables, a kimage, ``saved_command_line``,
``efi.memmap.map``) through ``page_offset_base`` or a walk of ``init_top_pgt``
(:mod:`efitables.kernel.addrspace`).

Everything read is untrusted: a pointer that does not translate or leads out of the
dump is a finding naming the object (``kernel efi.memmap``) and the physical address;
counts are capped with one finding; nothing here raises on dump data, loops, or
allocates what the dump says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from efitables.boot.bootparams import BootParams, parse_boot_params
from efitables.boot.e820 import E820Table, build_table, cap_entry_findings, decode_entries
from efitables.caps import count_cap
from efitables.efi.memmap import EfiMemoryMap, parse_memmap
from efitables.errors import MemoryReadError
from efitables.findings import Finding, Severity, make, register
from efitables.kernel import btf as btf_mod
from efitables.kernel import kallsyms
from efitables.kernel.addrspace import KernelAddressSpace, kernel_address_space
from efitables.kernel.layouts import Field, Layouts
from efitables.kernel.version import KernelVersion, kernel_version
from efitables.memory.base import MAX_PHYS_ADDR, PhysicalMemory
from efitables.memory.vmcoreinfo import KERNEL_MAP_BASE, vmcoreinfo_int
from efitables.model import Parsed, TableView
from efitables.schemas.boot_params import BOOT_PARAMS_SIZE
from efitables.schemas.kernel import (
    E820_MAX_ENTRIES,
    EFI_INVALID_TABLE_ADDR,
    EFI_TABLE_FIELDS,
    EFI_TABLE_GUIDS,
    KEXEC_SEGMENT_MAX,
    KEXEC_TYPE_CRASH,
    STRUCT_PAGE_SIZE_V6_1,
)
from efitables.schemas.paging import PAGE_4K
from efitables.schemas.snp import SNP_CPUID_TABLE_SIZE
from efitables.text import hexa, printable

# -- limits ----------------------------------------------------------------------------------
#: Longest string read through a kernel ``char *`` or array (``COMMAND_LINE_SIZE`` is 2048 on x86;
#: a ``cmdline=`` built-in or bootconfig can make ``saved_command_line`` longer).
MAX_STRING = 16 * 1024
#: Longest ``linux_banner`` read.
MAX_BANNER = 1024
#: Findings one view keeps (the rest are counted in one finding).
MAX_FINDINGS = 64

#: Every symbol a view reads, resolved in one kallsyms batch.
SYMBOLS = (
    "efi",
    "efi_config_table",
    "efi_fw_vendor",
    "efi_runtime",
    "efi_mem_attr_table",
    "boot_params",
    "e820_table",
    "e820_table_kexec",
    "e820_table_firmware",
    "saved_command_line",
    "linux_banner",
    "kexec_image",
    "kexec_crash_image",
    "sev_status",
    "sme_me_mask",
    "cc_mask",
    "secrets_pa",
    "sev_secrets_pa",
    "cpuid_table_copy",
    "vmemmap_base",
    *btf_mod.BTF_SYMBOLS,
)
E820_SYMBOLS = ("e820_table", "e820_table_kexec", "e820_table_firmware")
KIMAGE_SYMBOLS = ("kexec_image", "kexec_crash_image")

# -- findings --------------------------------------------------------------------------------
UNREADABLE = register(
    "KERNEL-COPY-UNREADABLE",
    Severity.WARNING,
    "A kernel copy's bytes are not in the dump",
    "A kernel variable or a pointer the kernel keeps names physical memory the dump does not hold "
    "(a hole, memory makedumpfile excluded, or a damaged pointer); that copy is not read.",
)
BAD_POINTER = register(
    "KERNEL-POINTER",
    Severity.WARNING,
    "A pointer the kernel keeps does not translate to a physical address",
    "It is neither in the kernel image, nor in the direct map, nor mapped by the kernel's page tables "
    "(or the tables are not in the dump); the object it points to is not read.",
)
NO_LAYOUT = register(
    "KERNEL-NO-LAYOUT",
    Severity.INFO,
    "A kernel structure's layout is unknown: neither BTF nor offsets for this release",
    "The kernel carries no usable BTF and efitables has no verified offsets for its release; the "
    "structure is not decoded (scalars and strings still are).",
)
TOO_MANY = register(
    "KERNEL-COUNT-CAP",
    Severity.WARNING,
    "A count in a kernel structure is beyond the kernel's own limit; only the limit is decoded",
    "kimage.nr_segments above KEXEC_SEGMENT_MAX (16), e820_table.nr_entries above E820_MAX_ENTRIES, or "
    "efi.memmap.nr_map above what the map's bytes hold.",
)
NO_ROOT = register(
    "KERNEL-KEXEC-ROOT",
    Severity.WARNING,
    "The loaded kexec image's identity-map root could not be computed",
    "kimage.arch.pgd does not translate, or control_code_page is not a struct page of the vmemmap "
    "(vmemmap_base unknown, misaligned, or outside physical memory).",
)
MEMMAP_MISMATCH = register(
    "KERNEL-EFI-MEMMAP-POINTERS",
    Severity.WARNING,
    "efi.memmap's virtual and physical pointers disagree",
    "efi.memmap.map should map efi.memmap.phys_map, and map_end - map should be nr_map * desc_size.",
)
FINDINGS_CAPPED = register(
    "KERNEL-FINDINGS-CAP", Severity.INFO, "More findings about the kernel's copies than are listed"
)

_MASK64 = (1 << 64) - 1


# -- results ---------------------------------------------------------------------------------
@dataclass(kw_only=True)
class KernelObject(Parsed):
    """One object of the running kernel: the symbol it is reached from, where it is (``address`` is
    physical, ``virtual`` the kernel's own address), how that pointer became physical (``via``) and
    what gave its layout (``layout_source``: ``"BTF"``, ``"offsets for v6.1"``, or ``""`` for a scalar)."""

    kind: ClassVar[str] = "kernel_object"

    name: str
    symbol: str
    virtual: int | None = None
    via: str = ""
    layout_source: str = ""

    @property
    def title(self) -> str:
        where = f" @ {self.address:#x}" if self.address is not None else ""
        return f"kernel {self.name}{where}"

    def value_text(self) -> str:
        """The decoded value in a few words (the table of copies shows it)."""
        return ""


@dataclass(kw_only=True)
class KernelScalar(KernelObject):
    """An integer variable (``sev_status``, ``efi_config_table``, a pointer)."""

    kind: ClassVar[str] = "kernel_scalar"
    value: int | None = None

    def value_text(self) -> str:
        return hexa(self.value)


@dataclass(kw_only=True)
class KernelString(KernelObject):
    """A NUL-terminated string (``saved_command_line``, ``linux_banner``); ``text`` is dump data."""

    kind: ClassVar[str] = "kernel_string"
    text: str | None = None
    terminated: bool = False

    def value_text(self) -> str:
        return printable(self.text) if self.text is not None else "-"


@dataclass(kw_only=True)
class KernelEfiMemmap(KernelObject):
    """``efi.memmap``: the kernel's EFI memory map (its descriptors decoded as the firmware's are)."""

    kind: ClassVar[str] = "kernel_efi_memmap"
    phys_map: int
    map: int
    map_end: int
    nr_map: int
    desc_version: int
    desc_size: int
    flags: int
    descriptors: EfiMemoryMap | None = None

    def children(self) -> list[Parsed]:
        return [self.descriptors] if self.descriptors is not None else []

    def value_text(self) -> str:
        return f"{self.nr_map} descriptors of {self.desc_size} bytes at {self.phys_map:#x}"


@dataclass(kw_only=True)
class KernelEfi(KernelObject):
    """``struct efi``: table addresses (None: ``EFI_INVALID_TABLE_ADDR``), ``runtime``, ``flags``, ``memmap``."""

    kind: ClassVar[str] = "kernel_efi"
    runtime: int | None = None
    tables: dict[str, int | None] = field(default_factory=dict)
    flags: int | None = None
    memmap: KernelEfiMemmap | None = None

    def children(self) -> list[Parsed]:
        return [self.memmap] if self.memmap is not None else []

    def present_tables(self) -> dict[str, int]:
        return {k: v for k, v in self.tables.items() if v is not None}

    def value_text(self) -> str:
        return " ".join(f"{k}={v:#x}" for k, v in self.present_tables().items()) or "no tables"


@dataclass(kw_only=True)
class KernelE820(KernelObject):
    """One of the kernel's ``struct e820_table`` copies."""

    kind: ClassVar[str] = "kernel_e820_table"
    nr_entries: int = 0
    table: E820Table | None = None

    def children(self) -> list[Parsed]:
        return [self.table] if self.table is not None else []

    def value_text(self) -> str:
        return f"{self.nr_entries} entries"


@dataclass(kw_only=True)
class KexecSegment(Parsed):
    """``struct kexec_segment``: ``buf``/``bufsz`` in the loading process or kernel, ``[mem, mem + memsz)`` physical."""

    kind: ClassVar[str] = "kexec_segment"
    index: int
    buf: int
    bufsz: int
    mem: int
    memsz: int

    @property
    def end(self) -> int:
        return self.mem + self.memsz

    @property
    def title(self) -> str:
        return f"segment [{self.index}] {self.mem:#x}-{self.end:#x}"


@dataclass(kw_only=True)
class KernelKimage(KernelObject):
    """A loaded ``struct kimage``: entry, segments, type, and the kexec identity map's root (physical)."""

    kind: ClassVar[str] = "kernel_kimage"
    #: ``head``: the first entry of the page list (:mod:`efitables.kernel.kimage_pages`) and
    #: where it is stored (physical).
    head: int = 0
    head_pa: int | None = None
    start: int = 0
    nr_segments: int = 0
    segments: list[KexecSegment] = field(default_factory=list)
    image_type: str = ""  # "default" or "crash"
    file_mode: bool | None = None
    control_code_page: int | None = None  # struct page * (a vmemmap address)
    control_page_pa: int | None = None
    pgd: int | None = None  # physical address of the identity map's top-level table
    pgd_source: str = ""
    levels: int = 4

    def children(self) -> list[Parsed]:
        return list(self.segments)

    def value_text(self) -> str:
        root = f", identity map {self.pgd:#x}" if self.pgd is not None else ""
        return f"{self.image_type} image, entry {self.start:#x}, {len(self.segments)} segments{root}"

    def table_views(self) -> list[TableView]:
        rows: list[tuple[str, ...]] = [
            (str(s.index), hexa(s.mem), hexa(s.end), f"{s.memsz:#x}", hexa(s.buf), f"{s.bufsz:#x}")
            for s in self.segments
        ]
        return [TableView("kexec segments", ("#", "mem", "end", "memsz", "buf", "bufsz"), rows)]


@dataclass(kw_only=True)
class KernelSev(KernelObject):
    """The kernel's memory-encryption state: ``sev_status``, ``sme_me_mask``, ``cc_mask``, the SNP secrets page."""

    kind: ClassVar[str] = "kernel_sev"
    sev_status: int | None = None
    sme_me_mask: int | None = None
    cc_mask: int | None = None
    secrets_pa: int | None = None
    secrets_source: str = ""
    cc_blob_address: int | None = None
    cpuid_table: Parsed | None = None

    def children(self) -> list[Parsed]:
        return [self.cpuid_table] if self.cpuid_table is not None else []

    @property
    def snp(self) -> bool:
        return bool(self.sev_status and self.sev_status & (1 << 2))  # MSR_AMD64_SEV_SNP_ENABLED

    def value_text(self) -> str:
        parts = [f"sev_status={hexa(self.sev_status)}", f"sme_me_mask={hexa(self.sme_me_mask)}"]
        if self.secrets_pa:
            parts.append(f"secrets={self.secrets_pa:#x}")
        return " ".join(parts)


@dataclass(kw_only=True)
class KernelView(Parsed):
    """What the running kernel itself recorded, read out of the dump (see the module docstring).

    ``available`` is False (and ``error`` says why) when the dump gives no way to find the
    kernel's symbols. ``layout_source`` says where structure layouts came from overall (each object
    has its own ``layout_source``), ``translation`` how pointers became physical.
    """

    kind: ClassVar[str] = "kernel_view"

    available: bool
    error: str | None = None
    release: str | None = None
    version: KernelVersion | None = None
    vmcoreinfo_source: str = ""
    #: The VMCOREINFO the view was located with (the container's, or the page found in memory).
    vmcoreinfo: dict[str, str] = field(default_factory=dict, repr=False)
    layout_source: str = ""
    btf_types: int | None = None
    btf_address: int | None = None
    phys_base: int | None = None
    page_offset_base: int | None = None
    translation: str = ""
    levels: int = 4
    banner: KernelString | None = None
    command_line: KernelString | None = None
    efi: KernelEfi | None = None
    efi_config_table: KernelScalar | None = None
    efi_fw_vendor: KernelScalar | None = None
    efi_runtime: KernelScalar | None = None
    efi_mem_attr_table: KernelScalar | None = None
    boot_params: BootParams | None = None
    boot_params_virtual: int | None = None
    e820: dict[str, KernelE820] = field(default_factory=dict)
    kexec_image: KernelKimage | None = None
    kexec_crash_image: KernelKimage | None = None
    sev: KernelSev | None = None

    @property
    def title(self) -> str:
        if not self.available:
            return f"kernel's own copies: unavailable ({self.error})"
        rel = printable(self.release) if self.release else "unknown release"
        return f"kernel's own copies ({rel}, layouts: {self.layout_source or 'none'})"

    def summary(self) -> str:
        return self.title

    def objects(self) -> list[KernelObject]:
        """Every object read, in a stable order (the table of copies lists them)."""
        out: list[KernelObject] = []
        for o in (
            self.banner,
            self.command_line,
            self.efi,
            self.efi.memmap if self.efi is not None else None,
            self.efi_config_table,
            self.efi_fw_vendor,
            self.efi_runtime,
            self.efi_mem_attr_table,
            *self.e820.values(),
            self.kexec_image,
            self.kexec_crash_image,
            self.sev,
        ):
            if o is not None:
                out.append(o)
        return out

    def children(self) -> list[Parsed]:
        out: list[Parsed] = [o for o in self.objects() if not isinstance(o, KernelEfiMemmap)]
        if self.boot_params is not None:
            out.insert(2, self.boot_params)
        return out

    @property
    def kexec_loaded(self) -> KernelKimage | None:
        """The image a kexec would start: ``kexec_image`` (``kexec -e``), else the crash image."""
        return self.kexec_image or self.kexec_crash_image

    @property
    def systab(self) -> int | None:
        """The EFI system table's physical address as the kernel's ``boot_params.efi_info`` says it."""
        bp = self.boot_params
        if bp is None or not bp.efi_loader_signature or not bp.efi_systab:
            return None
        return bp.efi_systab

    def config_tables(self) -> dict[str, int]:
        """GUID -> physical address of every configuration table the kernel kept (``struct efi``, MEMATTR)."""
        out: dict[str, int] = {}
        if self.efi is not None:
            for name, pa in self.efi.present_tables().items():
                guid = EFI_TABLE_GUIDS.get(name)
                if guid is not None:
                    out[guid] = pa
        mat = self.efi_mem_attr_table
        if mat is not None and mat.value is not None and mat.value not in (0, EFI_INVALID_TABLE_ADDR):
            out[EFI_TABLE_GUIDS["efi_mem_attr_table"]] = mat.value
        return out

    def facts(self) -> list[tuple[str, str]]:
        if not self.available:
            return [("status", "unavailable"), ("why", printable(self.error or ""))]
        v = self.version
        rows = [
            ("release", printable(self.release or "-")),
            ("version", f"{v.short} ({printable(v.source)})" if v is not None else "-"),
            ("VMCOREINFO", printable(self.vmcoreinfo_source)),
            ("layouts", printable(self.layout_source or "none")),
            (
                "BTF",
                f"{self.btf_types} types @ {self.btf_address:#x}"
                if self.btf_types is not None and self.btf_address is not None
                else "-",
            ),
            ("phys_base", hexa(self.phys_base)),
            ("page_offset_base", hexa(self.page_offset_base)),
            ("translation", printable(self.translation or "-")),
        ]
        k = self.kexec_loaded
        rows.append(("kexec image", k.value_text() if k is not None else "none loaded"))
        return rows

    def table_views(self) -> list[TableView]:
        rows: list[tuple[str, ...]] = []
        for o in self.objects():
            rows.append(
                (
                    o.name,
                    o.symbol,
                    hexa(o.virtual),
                    hexa(o.address),
                    o.layout_source or "-",
                    o.value_text(),
                )
            )
        return [TableView("kernel copies", ("object", "symbol", "virtual", "physical", "layout", "value"), rows)]

    def to_dict(self, raw: bool = False) -> dict[str, Any]:
        d = super().to_dict(raw)
        d["objects"] = [
            {
                "name": o.name,
                "symbol": o.symbol,
                "virtual": o.virtual,
                "physical": o.address,
                "layout": o.layout_source,
                "via": o.via,
                "value": o.value_text(),
            }
            for o in self.objects()
        ]
        return d


# -- reading ---------------------------------------------------------------------------------
class _Reader:
    """Bounded reads and translations for one view; every failure becomes one finding."""

    def __init__(self, mem: PhysicalMemory, ks: kallsyms.Kallsyms, space: KernelAddressSpace, lay: Layouts) -> None:
        self.mem = mem
        self.ks = ks
        self.space = space
        self.lay = lay
        self.findings: list[Finding] = []
        self.dropped = 0

    def finding(self, code: str, structure: str, address: int | None, message: str) -> None:
        if len(self.findings) < MAX_FINDINGS:
            self.findings.append(make(code, structure, address, message))
        else:
            self.dropped += 1

    def read(self, pa: int, size: int, structure: str) -> bytes | None:
        try:
            return self.mem.read(pa, size, structure=structure)
        except MemoryReadError as e:
            self.finding(UNREADABLE, structure, pa, f"{size:#x} bytes at {pa:#x}: {e.reason}")
            return None

    def route(self, va: int) -> str:
        sp = self.space
        if va >= KERNEL_MAP_BASE and sp.phys_base is not None:
            return "image"
        pob = sp.page_offset_base
        if pob is not None and pob <= va < pob + sp.direct_map_span:
            return "direct map"
        return "page tables"

    def translate(self, va: int, structure: str, size: int = 1) -> tuple[int | None, str]:
        """Physical address of a kernel pointer ``va`` (and how); None with a finding if it does not translate."""
        va &= _MASK64
        pa = self.space.range_to_phys(va, size)
        if pa is None or pa + size > MAX_PHYS_ADDR:
            self.finding(BAD_POINTER, structure, None, f"{va:#x} ({size:#x} bytes) does not translate")
            return None, ""
        return pa, self.route(va)

    def symbol_pa(self, name: str) -> tuple[int | None, int | None]:
        va = self.ks.virtual(name)
        return (va, self.ks.physical(name)) if va is not None else (None, None)

    def u64_var(self, name: str) -> KernelScalar | None:
        va, pa = self.symbol_pa(name)
        if va is None:
            return None
        if pa is None:
            self.finding(BAD_POINTER, f"kernel {name}", None, f"symbol {va:#x} is not in the kernel image")
            return None
        raw = self.read(pa, 8, f"kernel {name}")
        value = int.from_bytes(raw, "little") if raw is not None else None
        return KernelScalar(
            address=pa, size=8, raw=raw or b"", name=name, symbol=name, virtual=va, via="image", value=value
        )

    def cstring(self, pa: int, limit: int, structure: str) -> tuple[str | None, bool, bytes]:
        """Bytes up to the first NUL (at most ``limit``), read a page at a time; the first page must read."""
        out = b""
        cur = pa
        while len(out) < limit:
            n = min(PAGE_4K - cur % PAGE_4K, limit - len(out))
            try:
                chunk = self.mem.read(cur, n, structure=structure)
            except MemoryReadError as e:
                if not out:
                    self.finding(UNREADABLE, structure, pa, e.reason)
                    return None, False, b""
                break
            nul = chunk.find(b"\0")
            if nul >= 0:
                out += chunk[:nul]
                return out.decode("utf-8", "backslashreplace"), True, out
            out += chunk
            cur += n
        return out.decode("utf-8", "backslashreplace"), False, out

    def get(self, raw: bytes, f: Field | None, index: int = 0) -> int | None:
        """An unsigned member (element ``index`` of an array member) out of ``raw``."""
        if f is None:
            return None
        off = f.offset + index * f.size
        if off + f.size > len(raw):
            return None
        v = int.from_bytes(raw[off : off + f.size], "little")
        if f.bits:
            v = (v >> f.bit) & ((1 << f.bits) - 1)
        return v


def _no_layout(r: _Reader, struct: str, symbol: str, where: int | None) -> None:
    v = r.lay.version
    rel = v.short if v is not None else "an unknown release"
    r.finding(NO_LAYOUT, f"kernel {symbol}", where, f"struct {struct}: no BTF and no offsets for {rel}; not decoded")


def _string(r: _Reader, symbol: str, limit: int, pointer: bool) -> KernelString | None:
    va, pa = r.symbol_pa(symbol)
    if va is None or pa is None:
        return None
    name = symbol
    via = "image"
    if pointer:
        raw = r.read(pa, 8, f"kernel {symbol}")
        if raw is None:
            return None
        ptr = int.from_bytes(raw, "little")
        if ptr == 0:
            return KernelString(address=None, size=0, name=name, symbol=symbol, virtual=None)
        tpa, via = r.translate(ptr, f"kernel {symbol}")
        if tpa is None:
            return KernelString(address=None, size=0, name=name, symbol=symbol, virtual=ptr)
        va, pa = ptr, tpa
        if via == "page tables":  # only the page the walk translated is known to be contiguous
            limit = min(limit, PAGE_4K - pa % PAGE_4K)
    text, term, raw_text = r.cstring(pa, limit, f"kernel {symbol}")
    return KernelString(
        address=pa,
        size=len(raw_text) + (1 if term else 0),
        raw=raw_text,
        name=name,
        symbol=symbol,
        virtual=va,
        via=via,
        text=text,
        terminated=term,
    )


def _efi(r: _Reader) -> KernelEfi | None:
    va, pa = r.symbol_pa("efi")
    if va is None or pa is None:
        return None
    layout = r.lay.source_of("efi")
    size = r.lay.sizeof("efi")
    if not layout or size is None:
        _no_layout(r, "efi", "efi", pa)
        return None
    raw = r.read(pa, size, "kernel efi")
    if raw is None:
        return None
    out = KernelEfi(
        address=pa, size=size, raw=raw, name="efi", symbol="efi", virtual=va, via="image", layout_source=layout
    )
    out.runtime = r.get(raw, r.lay.field("efi", "runtime"))
    out.flags = r.get(raw, r.lay.field("efi", "flags"))
    for name in EFI_TABLE_FIELDS:
        f = r.lay.field("efi", name)
        if f is not None:
            v = r.get(raw, f)
            out.tables[name] = None if v in (None, 0, EFI_INVALID_TABLE_ADDR) else v
    mm = r.lay.field("efi", "memmap")
    if mm is not None:
        out.memmap = _efi_memmap(r, raw, mm, pa, va, layout)
    return out


def _efi_memmap(r: _Reader, raw: bytes, mm: Field, efi_pa: int, efi_va: int, layout: str) -> KernelEfiMemmap | None:
    sub = raw[mm.offset : mm.offset + mm.size]
    if not r.lay.source_of("efi_memory_map"):
        return None

    def get(name: str) -> int:
        return r.get(sub, r.lay.field("efi_memory_map", name)) or 0

    nr = get("nr_map")
    if nr >= 1 << 31:
        nr -= 1 << 32  # int
    m = KernelEfiMemmap(
        address=efi_pa + mm.offset,
        size=mm.size,
        raw=sub,
        name="efi.memmap",
        symbol="efi",
        virtual=efi_va + mm.offset,
        via="image",
        layout_source=layout,
        phys_map=get("phys_map"),
        map=get("map"),
        map_end=get("map_end"),
        nr_map=nr,
        desc_version=get("desc_version"),
        desc_size=get("desc_size"),
        flags=get("flags"),
    )
    name = "kernel efi.memmap"
    if m.phys_map == 0 or m.nr_map <= 0:
        return m
    if m.map and m.map_end and m.map_end - m.map != m.nr_map * m.desc_size:
        span = (m.map_end - m.map) & _MASK64
        r.finding(
            MEMMAP_MISMATCH,
            name,
            m.phys_map,
            f"map_end - map = {span:#x}, nr_map * desc_size = {m.nr_map * m.desc_size:#x}",
        )
    if m.map:
        mapped = r.space.to_phys(m.map)
        if mapped is not None and mapped != m.phys_map:
            r.finding(MEMMAP_MISMATCH, name, m.phys_map, f"map {m.map:#x} maps {mapped:#x}, not phys_map")
    m.descriptors = parse_memmap(
        r.mem, m.phys_map, m.nr_map * m.desc_size, m.desc_size, m.desc_version, source="kernel efi.memmap"
    )
    return m


def _e820(r: _Reader, symbol: str) -> KernelE820 | None:
    va, pa = r.symbol_pa(symbol)
    if va is None or pa is None:
        return None
    raw = r.read(pa, 8, f"kernel {symbol}")
    if raw is None:
        return None
    ptr = int.from_bytes(raw, "little")
    out = KernelE820(address=None, size=0, name=symbol, symbol=symbol, virtual=ptr or None)
    if ptr == 0:
        return out
    layout = r.lay.source_of("e820_table")
    nf, ef = r.lay.field("e820_table", "nr_entries"), r.lay.field("e820_table", "entries")
    if not layout or nf is None or ef is None:
        _no_layout(r, "e820_table", symbol, None)
        return out
    tpa, via = r.translate(ptr, f"kernel {symbol}", ef.offset)
    if tpa is None:
        return out
    out.address, out.via, out.layout_source = tpa, via, layout
    head = r.read(tpa, ef.offset, f"kernel {symbol}")
    if head is None:
        return out
    nr = r.get(head, nf) or 0
    out.nr_entries = nr
    cap = min(ef.count or E820_MAX_ENTRIES, E820_MAX_ENTRIES)
    count, too_many = count_cap(nr, cap, TOO_MANY, f"kernel {symbol}", tpa, f"nr_entries {nr}")
    if too_many is not None:
        out.findings.append(too_many)
    size = ef.offset + count * ef.size
    body = r.read(tpa, size, f"kernel {symbol}") if count else head
    if body is None:
        return out
    out.raw, out.size = body, size
    entries = decode_entries(body[ef.offset :], tpa + ef.offset, count, f"kernel {symbol}")
    table = build_table(tpa, entries, count, 0)
    table.findings.extend(cap_entry_findings(entries, f"kernel {symbol}", tpa))
    out.table = table
    return out


def _vmemmap_pfn(r: _Reader, info: dict[str, str], page: int, structure: str) -> int | None:
    """``page_to_pfn`` for SPARSEMEM_VMEMMAP: ``(page - vmemmap_base) / sizeof(struct page)``."""
    base = vmcoreinfo_int(info, "SYMBOL(vmemmap)")
    if base is None:
        var = r.u64_var("vmemmap_base")
        base = var.value if var is not None else None
    psize = vmcoreinfo_int(info, "SIZE(page)") or r.lay.sizeof("page")
    if psize is None and r.lay.version is not None and r.lay.version.key == (6, 1):
        psize = STRUCT_PAGE_SIZE_V6_1
    if base is None or not psize or psize < 0:
        what = "vmemmap_base" if base is None else "sizeof(struct page)"
        r.finding(NO_ROOT, structure, None, f"{what} is not known (no kallsyms symbol, BTF or VMCOREINFO)")
        return None
    diff = (page - base) & _MASK64
    if page < base or diff % psize or (diff // psize) * PAGE_4K >= MAX_PHYS_ADDR:
        r.finding(
            NO_ROOT,
            structure,
            None,
            f"struct page {page:#x} is not an entry of the vmemmap at {base:#x} ({psize}-byte entries)",
        )
        return None
    return diff // psize


def _kimage(r: _Reader, info: dict[str, str], symbol: str, levels: int) -> KernelKimage | None:
    va, pa = r.symbol_pa(symbol)
    if va is None or pa is None:
        return None
    raw = r.read(pa, 8, f"kernel {symbol}")
    if raw is None:
        return None
    ptr = int.from_bytes(raw, "little")
    if ptr == 0:
        return None  # no image loaded
    structure = f"kernel {symbol}"
    layout = r.lay.source_of("kimage")
    size = r.lay.sizeof("kimage")
    out = KernelKimage(
        address=None, size=0, name=symbol, symbol=symbol, virtual=ptr, layout_source=layout, levels=levels
    )
    if not layout or size is None or r.lay.source_of("kexec_segment") == "":
        _no_layout(r, "kimage", symbol, None)
        return out
    kpa, via = r.translate(ptr, structure, size)
    if kpa is None:
        return out
    body = r.read(kpa, size, structure)
    if body is None:
        out.address, out.via = kpa, via
        return out
    out.address, out.size, out.raw, out.via = kpa, size, body, via
    g = r.lay.field
    head = g("kimage", "head")
    if head is not None:
        out.head, out.head_pa = r.get(body, head) or 0, kpa + head.offset
    out.start = r.get(body, g("kimage", "start")) or 0
    nr = r.get(body, g("kimage", "nr_segments")) or 0
    out.nr_segments = nr
    seg = g("kimage", "segment")
    cap = min(seg.count, KEXEC_SEGMENT_MAX) if seg is not None and seg.count else KEXEC_SEGMENT_MAX
    count, too_many = count_cap(nr, cap, TOO_MANY, structure, kpa, f"nr_segments {nr}", "segments")
    if too_many is not None:
        out.findings.append(too_many)
    if seg is not None:
        sf = {n: g("kexec_segment", n) for n in ("buf", "bufsz", "mem", "memsz")}
        for i in range(count):
            off = seg.offset + i * seg.size
            one = body[off : off + seg.size]
            buf, bufsz, mem, memsz = (r.get(one, sf[n]) or 0 for n in ("buf", "bufsz", "mem", "memsz"))
            s = KexecSegment(
                address=kpa + off, size=seg.size, raw=one, index=i, buf=buf, bufsz=bufsz, mem=mem, memsz=memsz
            )
            if s.mem + s.memsz > MAX_PHYS_ADDR or s.mem + s.memsz < s.mem:
                s.findings.append(
                    make(
                        TOO_MANY,
                        f"{structure}.segment[{i}]",
                        kpa + off,
                        f"mem {s.mem:#x} + memsz {s.memsz:#x} is beyond physical memory",
                    )
                )
            out.segments.append(s)
    t = r.get(body, g("kimage", "type"))
    out.image_type = "" if t is None else ("crash" if t == KEXEC_TYPE_CRASH else "default")
    fm = r.get(body, g("kimage", "file_mode"))
    out.file_mode = None if fm is None else bool(fm)
    page = r.get(body, g("kimage", "control_code_page"))
    out.control_code_page = page
    if page:
        pfn = _vmemmap_pfn(r, info, page, structure)
        if pfn is not None:
            out.control_page_pa = pfn * PAGE_4K
    pgd_field = g("kimage", "arch.pgd")
    if pgd_field is not None:
        pgd_va = r.get(body, pgd_field) or 0
        if pgd_va:
            ppa, _via = r.translate(pgd_va, f"{structure}->arch.pgd", PAGE_4K)
            if ppa is not None:
                out.pgd, out.pgd_source = ppa, f"{symbol}->arch.pgd"
        else:
            r.finding(NO_ROOT, structure, kpa, "arch.pgd is NULL")
    elif out.control_page_pa is not None:
        out.pgd, out.pgd_source = out.control_page_pa, f"first page of {symbol}->control_code_page"
    return out


def _sev(r: _Reader, bp: BootParams | None) -> KernelSev | None:
    vals = {n: r.u64_var(n) for n in ("sev_status", "sme_me_mask", "cc_mask")}
    if all(v is None for v in vals.values()):
        return None
    first = next(v for v in vals.values() if v is not None)
    out = KernelSev(
        address=first.address, size=8, name="memory encryption", symbol=first.symbol, virtual=first.virtual, via="image"
    )
    out.sev_status = vals["sev_status"].value if vals["sev_status"] is not None else None
    out.sme_me_mask = vals["sme_me_mask"].value if vals["sme_me_mask"] is not None else None
    out.cc_mask = vals["cc_mask"].value if vals["cc_mask"] is not None else None
    for name in ("sev_secrets_pa", "secrets_pa"):
        var = r.u64_var(name)
        if var is not None and var.value:
            out.secrets_pa, out.secrets_source = var.value, name
            break
    if bp is not None and bp.cc_blob_address:
        out.cc_blob_address = bp.cc_blob_address
        if out.secrets_pa is None:
            from efitables.snp.blob import parse_cc_blob

            blob = parse_cc_blob(r.mem, bp.cc_blob_address, routes=["kernel boot_params.cc_blob_address"])
            if blob.readable and blob.magic_ok and blob.secrets_phys:
                out.secrets_pa = blob.secrets_phys
                out.secrets_source = f"boot_params.cc_blob_address {bp.cc_blob_address:#x} -> secrets_phys"
    va, pa = r.symbol_pa("cpuid_table_copy")
    if va is not None and pa is not None:
        raw = r.read(pa, SNP_CPUID_TABLE_SIZE, "kernel cpuid_table_copy")
        if raw is not None and any(raw):
            from efitables.snp.cpuid import parse_cpuid_table

            out.cpuid_table = parse_cpuid_table(raw, pa, name="kernel cpuid_table_copy")
    return out


def _boot_params(r: _Reader) -> tuple[BootParams | None, int | None]:
    va, pa = r.symbol_pa("boot_params")
    if va is None or pa is None:
        return None, None
    if r.read(pa, BOOT_PARAMS_SIZE, "kernel boot_params") is None:
        return None, va
    return parse_boot_params(r.mem, pa, found_by="kernel boot_params (kallsyms)"), va


# -- the entry point ---------------------------------------------------------------------------
def _remote(mem: PhysicalMemory) -> bool:
    """The dump is read through a network byte source (efitables.memory.source)."""
    sources = getattr(mem, "sources", None)
    try:
        return any(getattr(src, "remote", False) for src in sources()) if callable(sources) else False
    except Exception:  # noqa: BLE001 - a container without sources is local
        return False


def read_kernel_view(
    mem: PhysicalMemory,
    info: dict[str, str] | None = None,
    *,
    vmcoreinfo_source: str = "",
    use_btf: bool = True,
) -> KernelView:
    """Read every kernel copy this module knows from ``mem`` (``info``: VMCOREINFO, default the container's).

    Never raises on dump data: what cannot be read is a finding on the view, and a dump
    without VMCOREINFO (or whose symbols cannot be found) is a view with ``available`` False.
    """
    if info is None:
        info = mem.vmcoreinfo
        vmcoreinfo_source = vmcoreinfo_source or ("the container's VMCOREINFO note" if info else "")
    if not info:
        return KernelView(
            address=None, size=0, available=False, error="no VMCOREINFO: the kernel's symbols cannot be located"
        )
    ks = kallsyms.load(mem, info, SYMBOLS)
    release = info.get("OSRELEASE")
    view = KernelView(
        address=None,
        size=0,
        available=True,
        release=printable(release) if release else None,
        vmcoreinfo_source=vmcoreinfo_source,
        vmcoreinfo=dict(info),
    )
    if ks.virtual("efi") is None and ks.virtual("boot_params") is None:
        view.available = False
        view.error = ks.error or "kallsyms knows none of the kernel's EFI and boot symbols"
        return view
    space = kernel_address_space(mem, info)
    view.phys_base, view.page_offset_base = space.phys_base, space.page_offset_base
    view.levels = space.levels
    lay = Layouts()
    r = _Reader(mem, ks, space, lay)
    view.banner = _string(r, "linux_banner", MAX_BANNER, pointer=False)
    banner_text = view.banner.text if view.banner is not None else None
    view.version = kernel_version(release, banner_text)
    lay.version = view.version
    if use_btf and lay.table is not None and _remote(mem):
        # Over a network every byte is a transfer: the BTF (4 MiB on Debian 6.1) would be most of a hinted
        # report's reads, and this release's offsets were verified member by member against its BTF.
        use_btf = False
        remote_note = " (a remote dump: the kernel's BTF is not fetched)"
    else:
        remote_note = ""
    if use_btf:
        b = btf_mod.load(mem, ks)
        if isinstance(b, Finding):
            if b.code != "BTF-NO-SECTION":
                r.findings.append(b)
        else:
            lay.btf = b
            view.btf_types, view.btf_address = b.count, b.address
    view.command_line = _string(r, "saved_command_line", MAX_STRING, pointer=True)
    view.efi = _efi(r)
    for name in ("efi_config_table", "efi_fw_vendor", "efi_runtime", "efi_mem_attr_table"):
        setattr(view, name, r.u64_var(name))
    view.boot_params, view.boot_params_virtual = _boot_params(r)
    for sym in E820_SYMBOLS:
        e = _e820(r, sym)
        if e is not None:
            view.e820[sym] = e
    for sym in KIMAGE_SYMBOLS:
        setattr(view, sym, _kimage(r, info, sym, space.levels))
    view.sev = _sev(r, view.boot_params)
    sources = sorted({o.layout_source for o in view.objects() if o.layout_source})
    view.layout_source = (", ".join(sources) if sources else (lay.fallback_name or "")) + remote_note
    view.translation = space.describe()
    view.findings = r.findings + lay.findings
    if r.dropped:
        view.findings.append(make(FINDINGS_CAPPED, "kernel copies", None, f"{r.dropped} more findings not listed"))
    return view
