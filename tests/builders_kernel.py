"""A tiny running kernel, built into a fixture image with the schemas: symbols, BTF and the copies.

:func:`add_kernel` writes, into a :class:`dumps.builder.Image`, what
efitables.kernel.copies reads: kernel-image variables (``efi``, ``boot_params``,
``efi_config_table``, ``kexec_image``, ``linux_banner``, ...) in an image region
mapped at ``__START_KERNEL_map`` with ``phys_base``, and the objects they point
to (the E820 tables, ``saved_command_line``, the kernel's EFI memory map, a
``struct kimage``) in a heap region of the direct map. Symbols are VMCOREINFO
``SYMBOL()`` entries (kallsyms answers them without tables). Layouts are the
construct schemas of efitables.schemas.kernel (the v6.1 ones by default), and
the BTF blob (:func:`btf_blob`, built with tests/builders_btf.py) describes the
very layouts used, so a test can tell BTF's answer from the fallback's.
:class:`KernelSpec` holds every known value the tests assert.

:func:`system_ram_lime` cuts a real ELF dump of dumps/real/corpus down to the LiME file LiME
would have written of the same guest (tests/test_kernel_copies.py, bench/bench_kernel.py).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import construct as cs
from builders_btf import BtfBuilder, Member
from real_files import elf_to_lime, system_ram

from dumps.builder import Image, zero_page
from efitables.memory.base import BytesMemory
from efitables.memory.vmcoreinfo import KERNEL_MAP_BASE
from efitables.schemas.btf import BTF_INT_SIGNED
from efitables.schemas.efi_memmap import EFI_MEMORY_DESCRIPTOR
from efitables.schemas.kernel import (
    E820_ENTRY_SIZE,
    E820_MAX_ENTRIES,
    EFI_INVALID_TABLE_ADDR,
    EFI_MEMORY_MAP,
    KEXEC_SEGMENT,
    KEXEC_SEGMENT_MAX,
    KIMAGE_ARCH_V6_1,
    KIMAGE_V6_1,
    LIST_HEAD,
    STRUCT_EFI_V6_1,
)
from efitables.schemas.snp import SNP_CPUID_TABLE

IMAGE_PA = 0x1000000  # where the kernel image is loaded
IMAGE_SIZE = 0x200000
PHYS_BASE = IMAGE_PA - 0x1000000  # virt = KERNEL_MAP_BASE + 0x1000000 + (pa - IMAGE_PA)
HEAP_PA = 0x2000000  # direct-map allocations
HEAP_SIZE = 0x100000
PAGE_OFFSET_BASE = 0xFFFF888000000000
VMEMMAP_BASE = 0xFFFFEA0000000000
STRUCT_PAGE = 64
RT = 1 << 63
WB = 0xF

#: struct kimage_arch with ``pgd`` first (v6.14, 6.12.14).
KIMAGE_ARCH_PGD = cs.Struct(
    "pgd" / cs.Int64ul, "p4d" / cs.Int64ul, "pud" / cs.Int64ul, "pmd" / cs.Int64ul, "pte" / cs.Int64ul
)
KIMAGE_PGD = cs.Struct(*[s for s in KIMAGE_V6_1.subcons if s.name != "arch"], "arch" / KIMAGE_ARCH_PGD)


def virt_image(pa: int) -> int:
    return KERNEL_MAP_BASE + (pa - PHYS_BASE)


def virt_direct(pa: int) -> int:
    return PAGE_OFFSET_BASE + pa


def complete(schema: cs.Construct, values: dict[str, Any] | None) -> dict[str, Any]:
    """``values`` with every integer field the schema has and ``values`` lacks set to 0 (for ``build``)."""
    values = values or {}
    out: dict[str, Any] = {}
    sc = schema
    while isinstance(sc, cs.Renamed):
        sc = sc.subcon
    for sub in sc.subcons:
        if sub.name is None:
            continue
        inner = sub.subcon if isinstance(sub, cs.Renamed) else sub
        v = values.get(sub.name)
        if isinstance(inner, cs.Struct):
            out[sub.name] = complete(inner, v)
        elif isinstance(inner, cs.Array) and isinstance(inner.subcon, cs.Struct):
            items = list(v or [])
            out[sub.name] = [complete(inner.subcon, items[i] if i < len(items) else None) for i in range(inner.count)]
        else:
            out[sub.name] = 0 if v is None else v
    return out


# -- BTF of construct layouts ------------------------------------------------------------------
class _Types:
    def __init__(self, b: BtfBuilder) -> None:
        self.b = b
        self.ints = {
            1: b.int_("unsigned char", 1),
            2: b.int_("short unsigned int", 2),
            4: b.int_("unsigned int", 4),
            8: b.int_("long unsigned int", 8),
        }
        self.sint = b.int_("int", 4, encoding=BTF_INT_SIGNED)
        self.named: dict[int, int] = {}


_NAMES = {
    id(EFI_MEMORY_MAP): "efi_memory_map",
    id(KEXEC_SEGMENT): "kexec_segment",
    id(LIST_HEAD): "list_head",
    id(KIMAGE_ARCH_V6_1): "kimage_arch",
    id(KIMAGE_ARCH_PGD): "kimage_arch",
}
_BITS = {"type": [("type", 0), ("preserve_context", 1), ("file_mode", 2)]}


def btf_struct(t: _Types, name: str, schema: cs.Struct) -> int:
    """A BTF STRUCT with the members (and offsets) of a construct Struct; nested structs become named types."""
    if id(schema) in t.named:
        return t.named[id(schema)]
    members: list[Member] = []
    off = 0
    for sub in schema.subcons:
        size = sub.sizeof()
        inner = sub.subcon if isinstance(sub, cs.Renamed) else sub
        if sub.name is None:
            off += size
            continue
        if name == "kimage" and sub.name in _BITS:
            members += [Member(n, t.ints[4], off * 8 + bit, 1) for n, bit in _BITS[sub.name]]
        elif isinstance(inner, cs.Struct):
            members.append(Member(sub.name, btf_struct(t, _NAMES.get(id(inner), ""), inner), off * 8))
        elif isinstance(inner, cs.Array):
            elem = inner.subcon
            tid = (
                btf_struct(t, _NAMES.get(id(elem), ""), elem) if isinstance(elem, cs.Struct) else t.ints[elem.sizeof()]
            )
            members.append(Member(sub.name, t.b.array(tid, t.sint, inner.count), off * 8))
        elif sub.name == "nr_map":
            members.append(Member(sub.name, t.sint, off * 8))
        else:
            members.append(Member(sub.name, t.ints[size], off * 8))
        off += size
    tid = t.b.composite(name, schema.sizeof(), members)
    if name:
        t.named[id(schema)] = tid
    return tid


def btf_blob(
    *,
    efi: cs.Struct = STRUCT_EFI_V6_1,
    kimage: cs.Struct = KIMAGE_V6_1,
    e820_max: int = E820_MAX_ENTRIES,
    page_size: int = STRUCT_PAGE,
) -> bytes:
    """BTF describing ``struct efi``, ``struct kimage`` (``kexec_segment`` with its anonymous ``buf``/``kbuf``
    union, as the kernel declares it), ``struct e820_table``/``e820_entry`` and ``struct page``."""
    b = BtfBuilder()
    t = _Types(b)
    ptr = b.ptr(0)
    union = b.composite("", 8, [Member("buf", ptr, 0), Member("kbuf", ptr, 0)], union=True)
    seg = b.composite(
        "kexec_segment",
        KEXEC_SEGMENT.sizeof(),
        [
            Member("", union, 0),
            Member("bufsz", t.ints[8], 64),
            Member("mem", t.ints[8], 128),
            Member("memsz", t.ints[8], 192),
        ],
    )
    t.named[id(KEXEC_SEGMENT)] = seg
    btf_struct(t, "efi", efi)
    btf_struct(t, "kimage", kimage)
    entry = b.composite(
        "e820_entry",
        E820_ENTRY_SIZE,
        [Member("addr", t.ints[8], 0), Member("size", t.ints[8], 64), Member("type", t.ints[4], 128)],
    )
    b.composite(
        "e820_table",
        4 + e820_max * E820_ENTRY_SIZE,
        [Member("nr_entries", t.ints[4], 0), Member("entries", b.array(entry, t.sint, e820_max), 32)],
    )
    b.composite("page", page_size, [Member("flags", t.ints[8], 0)])
    return b.build()


# -- the kernel ----------------------------------------------------------------------------------
@dataclass
class KernelSpec:
    """Every value the fixture kernel holds (the tests assert these)."""

    release: str = "6.1.0-56-amd64"
    banner: str = (
        "Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1) "
        "12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-11-16)\n"
    )
    cmdline: str = "console=ttyS0 root=/dev/vda ro"
    efi_schema: cs.Struct = STRUCT_EFI_V6_1
    kimage_schema: cs.Struct = KIMAGE_V6_1
    efi_tables: dict[str, int] = field(default_factory=lambda: {"acpi": 0x7F000, "acpi20": 0x7F014, "smbios": 0x7E000})
    runtime: int = 0xFFFFFFFEFF1EB000
    efi_flags: int = 0x143D
    efi_config_table: int = 0x7E0C98
    efi_fw_vendor: int = 0x7E0300
    efi_runtime: int = 0x7E0B98
    efi_mem_attr_table: int = EFI_INVALID_TABLE_ADDR
    #: the kernel's EFI memory map: (type, physical start, pages, virtual start, attribute)
    memmap: list[tuple[int, int, int, int, int]] = field(
        default_factory=lambda: [
            (5, 0x7E0000, 0x10, 0xFFFFFFFEFF0E0000, RT | WB),
            (6, 0x7F0000, 0x10, 0xFFFFFFFEFF0F0000, RT | WB),
            (11, 0xFFC00000, 0x400, 0xFFFFFFFEFFC00000, RT),
        ]
    )
    memmap_desc_size: int = 48
    #: the kernel's three E820 tables: name -> [(addr, size, type)]
    e820: dict[str, list[tuple[int, int, int]]] = field(
        default_factory=lambda: {
            "e820_table": [
                (0x1000, 0x9E000, 1),
                (0x100000, 0x6E0000, 1),
                (0x7E0000, 0x20000, 2),
                (0x1000000, 0x3000000, 1),
            ],
            "e820_table_kexec": [
                (0x0, 0x9F000, 1),
                (0x100000, 0x6E0000, 1),
                (0x7E0000, 0x20000, 2),
                (0x1000000, 0x3000000, 1),
            ],
            "e820_table_firmware": [
                (0x0, 0x9F000, 1),
                (0x100000, 0x6E0000, 1),
                (0x7E0000, 0x20000, 2),
                (0x1000000, 0x3000000, 1),
            ],
        }
    )
    e820_nr_override: dict[str, int] = field(default_factory=dict)
    #: the kernel's boot_params copy (efi_info and E820 are the firmware's hand-over)
    systab: int = 0x7E0018
    boot_memmap: int = 0x14000
    boot_e820: list[tuple[int, int, int]] | None = None
    #: the kernel's boot_params as bytes (a copy of the loader's zero page); None: built from the fields here
    boot_params_bytes: bytes | None = None
    cc_blob_address: int = 0
    #: a loaded kexec image (None: kexec_image is NULL): segments (buf, bufsz, mem, memsz)
    kimage: bool = True
    kimage_symbol: str = "kexec_image"
    kimage_start: int = 0x3000200
    segments: list[tuple[int, int, int, int]] = field(
        default_factory=lambda: [
            (0x7F0000000000, 0x1000, 0x100000, 0x2000),
            (0x7F0000100000, 0x800000, 0x3000000, 0x1400000),
            (0x7F0000A00000, 0x90000, 0x3E00000, 0x100000),
        ]
    )
    nr_segments: int | None = None  # None: len(segments)
    kimage_type: int = 0
    control_page_pa: int = 0x2080000  # the control code page (its first page is the PGD before v6.14)
    control_code_page: int | None = None  # None: the vmemmap entry of control_page_pa
    pgd_va: int | None = None  # kimage.arch.pgd, for the v6.14 layout
    sev_status: int = 0
    sme_me_mask: int = 0
    with_btf: bool = True
    #: the kernel's own VMCOREINFO page and its ``vmcoreinfo_data`` pointer (kernel/crash_core.c)
    vmcoreinfo_page: bool = False
    #: SEV-SNP: cpuid_table_copy's entries as (eax_in, eax, ebx, ecx, edx); a later kernel's secrets
    #: variable (``sev_secrets_pa``) and its value
    cpuid: list[tuple[int, int, int, int, int]] = field(default_factory=list)
    secrets_symbol: str | None = None
    secrets_pa: int = 0


@dataclass
class Built:
    info: dict[str, str]
    symbols: dict[str, int]  # name -> physical address
    btf_pa: int | None = None
    pointers: dict[str, int] = field(default_factory=dict)  # what a pointer variable points to (physical)


class _Alloc:
    def __init__(self, img: Image, start: int, size: int) -> None:
        self.img = img
        self.next = start
        self.end = start + size

    def put(self, data: bytes, align: int = 64) -> int:
        pa = (self.next + align - 1) // align * align
        assert pa + len(data) <= self.end
        self.img.put(pa, data)
        self.next = pa + max(len(data), 1)
        return pa


def add_kernel(img: Image, spec: KernelSpec | None = None) -> Built:
    """Write the kernel of ``spec`` into ``img`` (adding its image and heap regions); returns its VMCOREINFO."""
    spec = spec or KernelSpec()
    img.add_region(IMAGE_PA, IMAGE_SIZE)
    img.add_region(HEAP_PA, HEAP_SIZE)
    image = _Alloc(img, IMAGE_PA, IMAGE_SIZE)
    heap = _Alloc(img, HEAP_PA, HEAP_SIZE)
    out = Built(info={}, symbols={})

    def var(name: str, data: bytes, align: int = 64) -> int:
        pa = image.put(data, align)
        out.symbols[name] = pa
        return pa

    def u64(name: str, value: int) -> int:
        return var(name, struct.pack("<Q", value & ((1 << 64) - 1)), 8)

    u64("page_offset_base", PAGE_OFFSET_BASE)
    u64("vmemmap_base", VMEMMAP_BASE)
    var("linux_banner", spec.banner.encode() + b"\0")
    cmd = heap.put(spec.cmdline.encode() + b"\0")
    out.pointers["saved_command_line"] = cmd
    u64("saved_command_line", virt_direct(cmd))
    # struct efi and its memory map
    mm_raw = b"".join(
        EFI_MEMORY_DESCRIPTOR.build(
            dict(Type=t, pad=0, PhysicalStart=s, VirtualStart=v, NumberOfPages=n, Attribute=a)
        ).ljust(spec.memmap_desc_size, b"\0")
        for t, s, n, v, a in spec.memmap
    )
    mm = heap.put(mm_raw, 4096)
    out.pointers["efi.memmap"] = mm
    tables = {k: EFI_INVALID_TABLE_ADDR for k in ("smbios3", "esrt", "tpm_log", "tpm_final_log", "mokvar_table")}
    tables.update(spec.efi_tables)
    efi_vals = {
        **tables,
        "runtime": spec.runtime,
        "flags": spec.efi_flags,
        "memmap": {
            "phys_map": mm,
            "map": virt_direct(mm),
            "map_end": virt_direct(mm) + len(mm_raw),
            "nr_map": len(spec.memmap),
            "desc_version": 1,
            "desc_size": spec.memmap_desc_size,
            "flags": 5,
        },
    }
    var("efi", spec.efi_schema.build(complete(spec.efi_schema, efi_vals)))
    u64("efi_config_table", spec.efi_config_table)
    u64("efi_fw_vendor", spec.efi_fw_vendor)
    u64("efi_runtime", spec.efi_runtime)
    u64("efi_mem_attr_table", spec.efi_mem_attr_table)
    # boot_params
    e820_fw = spec.boot_e820 if spec.boot_e820 is not None else spec.e820["e820_table_firmware"]
    bp = bytearray(
        zero_page(
            efi=dict(
                efi_loader_signature="EL64",
                efi_systab=spec.systab & 0xFFFFFFFF,
                efi_memdesc_size=48,
                efi_memdesc_version=1,
                efi_memmap=spec.boot_memmap,
                efi_memmap_size=48 * 4,
                efi_systab_hi=spec.systab >> 32,
                efi_memmap_hi=0,
            ),
            e820=e820_fw,
            hdrs=False,
        )
    )
    struct.pack_into("<I", bp, 0x13C, spec.cc_blob_address)
    var("boot_params", spec.boot_params_bytes or bytes(bp), 4096)
    # the E820 tables (kmemdup'ed to their count: e820__reallocate_tables)
    for name, entries in spec.e820.items():
        nr = spec.e820_nr_override.get(name, len(entries))
        body = struct.pack("<I", nr) + b"".join(struct.pack("<QQI", a, s, t) for a, s, t in entries)
        pa = heap.put(body, 64)
        out.pointers[name] = pa
        u64(name, virt_direct(pa))
    # kexec
    if spec.kimage:
        segs = [dict(buf=b, bufsz=bs, mem=m, memsz=ms) for b, bs, m, ms in spec.segments[:KEXEC_SEGMENT_MAX]]
        page = spec.control_code_page
        if page is None:
            page = VMEMMAP_BASE + (spec.control_page_pa >> 12) * STRUCT_PAGE
        vals: dict[str, Any] = {
            "start": spec.kimage_start,
            "control_code_page": page,
            "nr_segments": len(spec.segments) if spec.nr_segments is None else spec.nr_segments,
            "segment": segs,
            "type": spec.kimage_type,
        }
        if spec.pgd_va is not None:
            vals["arch"] = {"pgd": spec.pgd_va}
        kpa = heap.put(spec.kimage_schema.build(complete(spec.kimage_schema, vals)), 64)
        out.pointers[spec.kimage_symbol] = kpa
        u64(spec.kimage_symbol, virt_direct(kpa))
    for name in ("kexec_image", "kexec_crash_image"):
        if name not in out.symbols:
            u64(name, 0)
    u64("sev_status", spec.sev_status)
    u64("sme_me_mask", spec.sme_me_mask)
    u64("cc_mask", 0)
    fns = [dict(eax_in=i, eax=a, ebx=b, ecx=c, edx=d) for i, a, b, c, d in spec.cpuid]
    var("cpuid_table_copy", SNP_CPUID_TABLE.build(complete(SNP_CPUID_TABLE, {"count": len(fns), "fn": fns})))
    if spec.secrets_symbol is not None:
        u64(spec.secrets_symbol, spec.secrets_pa)
    if spec.with_btf:
        blob = btf_blob(efi=spec.efi_schema, kimage=spec.kimage_schema)
        out.btf_pa = var("__start_BTF", blob, 8)
        out.symbols["__stop_BTF"] = out.btf_pa + len(blob)
    page = heap.put(bytes(4096), 4096) if spec.vmcoreinfo_page else None
    if page is not None:
        out.pointers["vmcoreinfo_data"] = page
        u64("vmcoreinfo_data", virt_direct(page))
    out.info = {
        "OSRELEASE": spec.release,
        "PAGESIZE": "4096",
        "NUMBER(phys_base)": str(PHYS_BASE),
        "NUMBER(pgtable_l5_enabled)": "0",
        "SIZE(page)": str(STRUCT_PAGE),
        "SYMBOL(kallsyms_names)": f"{virt_image(IMAGE_PA + IMAGE_SIZE - 0x1000):x}",
        **{f"SYMBOL({n})": f"{virt_image(pa):x}" for n, pa in out.symbols.items()},
    }
    if page is not None:
        img.put(page, "".join(f"{k}={v}\n" for k, v in out.info.items()).encode())
    return out


def memory(img: Image, info: dict[str, str] | None) -> BytesMemory:
    mem = BytesMemory({s: bytes(b) for s, b in img.regions.items()})
    mem.info.vmcoreinfo = info
    return mem


def kernel_only(spec: KernelSpec | None = None) -> tuple[BytesMemory, Built]:
    """A dump holding only the fixture kernel (and low RAM)."""
    img = Image()
    img.add_region(0, 0x100000)
    built = add_kernel(img, spec)
    return memory(img, built.info), built


# -- a real dump as LiME would have captured it -------------------------------------------------------
def system_ram_lime(elf: Path, truth: dict[str, Any], dst: Path) -> Path:
    """Write at ``dst`` (sparse) a LiME of the guest's "System RAM", cut out of the ELF dump ``elf``.

    The ranges are the top-level (``depth`` 0) "System RAM" lines of the guest's /proc/iomem, as its
    ``truth.json`` records them: what LiME captures. Each one's intersection with a ``PT_LOAD``'s file
    bytes becomes one LiME range (tests/real_files.py, which the tests reach through ``real_files``).
    """
    return elf_to_lime(elf, dst, system_ram(truth))
