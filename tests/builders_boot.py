"""Fixture builders for boot_params, setup_data and E820 tests, built with efitables' schemas.

Everything is assembled in a :class:`Layout` (a sparse physical address space)
and handed to the parsers as a :class:`~efitables.memory.base.BytesMemory`.
"""

from __future__ import annotations

import struct
from typing import Any

import construct as cs

from efitables.memory.base import BytesMemory
from efitables.memory.vmcoreinfo import KERNEL_MAP_BASE
from efitables.schemas.boot_params import BOOT_E820_ENTRY, BOOT_PARAMS, BOOT_PARAMS_SIZE
from efitables.schemas.efi_memmap import EFI_MEMORY_DESCRIPTOR
from efitables.schemas.setup_data import (
    APPLE_DEV_HEADER,
    APPLE_PROPERTIES_HEADER,
    CC_SETUP_DATA,
    EFI_DEV_PATH_NODE,
    EFI_SETUP_DATA,
    FDT_HEADER,
    FDT_MAGIC,
    IMA_SETUP_DATA,
    JAILHOUSE_SETUP_DATA,
    KHO_DATA,
    PCI_SETUP_ROM_DATA,
    STRUCT_SETUP_INDIRECT,
    build_node,
)

PAGE = 4096


class Layout:
    """Non-overlapping ``{pa: bytes}`` segments; ``put`` writes inside or creates one."""

    def __init__(self, size: int = 0, base: int = 0) -> None:
        self.segments: dict[int, bytearray] = {}
        if size:
            self.segments[base] = bytearray(size)

    def add(self, pa: int, size: int) -> None:
        self.segments[pa] = bytearray(size)

    def put(self, pa: int, data: bytes) -> int:
        for s, b in self.segments.items():
            if s <= pa and pa + len(data) <= s + len(b):
                b[pa - s : pa - s + len(data)] = data
                return pa
        raise ValueError(f"{pa:#x}+{len(data):#x} is not inside one segment")

    def memory(self) -> BytesMemory:
        return BytesMemory({pa: bytes(b) for pa, b in self.segments.items()})


def _set(obj: Any, path: str, value: Any) -> None:
    parts = path.split(".")
    for p in parts[:-1]:
        obj = obj[int(p)] if p.isdigit() else obj[p]
    last = parts[-1]
    if last.isdigit():
        obj[int(last)] = value
    else:
        obj[last] = value


def boot_params(
    *,
    hdrs: bool = True,
    version: int = 0x020F,
    e820: list[tuple[int, int, int]] | None = None,
    efi: dict[str, int] | None = None,
    **fields: Any,
) -> bytes:
    """A zero page built with BOOT_PARAMS: start from zeros, set ``fields`` (dotted paths, ``__`` for ``.``)."""
    c = BOOT_PARAMS.parse(bytes(BOOT_PARAMS_SIZE))
    c.efi_info.efi_loader_signature = 0
    if hdrs:
        c.hdr.boot_flag = 0xAA55
        c.hdr.header = 0x53726448
        c.hdr.version = version
        c.hdr.type_of_loader = 0xB0
        c.hdr.cmdline_size = 2047
    for i, (addr, size, typ) in enumerate(e820 or []):
        c.e820_table[i] = dict(addr=addr, size=size, type=typ)
    if e820 is not None:
        c.e820_entries = len(e820)
    for k, v in (efi or {}).items():
        c.efi_info[k] = v
    for k, v in fields.items():
        _set(c, k.replace("__", "."), v)
    return BOOT_PARAMS.build(c)


def efi_info(systab: int, memmap: int, memmap_size: int, desc_size: int = 48, bits: int = 64) -> dict[str, int]:
    return dict(
        efi_loader_signature=0x34364C45 if bits == 64 else 0x32334C45,
        efi_systab=systab & 0xFFFFFFFF,
        efi_systab_hi=systab >> 32,
        efi_memdesc_size=desc_size,
        efi_memdesc_version=1,
        efi_memmap=memmap & 0xFFFFFFFF,
        efi_memmap_hi=memmap >> 32,
        efi_memmap_size=memmap_size,
    )


def e820_entries(entries: list[tuple[int, int, int]]) -> bytes:
    return b"".join(BOOT_E820_ENTRY.build(dict(addr=a, size=s, type=t)) for a, s, t in entries)


def memory_map(descs: list[tuple[int, int, int, int]], desc_size: int = 48) -> bytes:
    """``(type, start, pages, attribute)`` descriptors at a stride of ``desc_size``."""
    out = b""
    for t, start, pages, attr in descs:
        raw = EFI_MEMORY_DESCRIPTOR.build(
            dict(Type=t, pad=0, PhysicalStart=start, VirtualStart=0, NumberOfPages=pages, Attribute=attr)
        )
        out += raw + bytes(desc_size - len(raw))
    return out


# -- setup_data payloads -------------------------------------------------------------
def fdt(totalsize: int = 0x100, version: int = 17, magic: int = FDT_MAGIC) -> bytes:
    hdr = FDT_HEADER.build(
        dict(
            magic=magic,
            totalsize=totalsize,
            off_dt_struct=0x38,
            off_dt_strings=0xF0,
            off_mem_rsvmap=0x28,
            version=version,
            last_comp_version=16,
            boot_cpuid_phys=0,
            size_dt_strings=0x10,
            size_dt_struct=0xB8,
        )
    )
    return hdr + bytes(max(0, totalsize - len(hdr)))


def pci_rom(vendor: int, devid: int, rom: bytes, bus: int = 0, device: int = 2, function: int = 0) -> bytes:
    return (
        PCI_SETUP_ROM_DATA.build(
            dict(vendor=vendor, devid=devid, pcilen=len(rom), segment=0, bus=bus, device=device, function=function)
        )
        + rom
    )


def efi_setup(fw_vendor: int, runtime: int, tables: int, smbios: int) -> bytes:
    return EFI_SETUP_DATA.build(
        {"fw_vendor": fw_vendor, "__unused": runtime, "tables": tables, "smbios": smbios, "reserved": [0] * 8}
    )


def apple_properties(devices: list[tuple[list[tuple[int, int, bytes]], list[tuple[str, bytes]]]]) -> bytes:
    """Devices as (device path nodes (type, sub_type, data), properties (name, value))."""
    body = b""
    for path, props in devices:
        dp = b"".join(EFI_DEV_PATH_NODE.build(dict(type=t, sub_type=s, length=4 + len(d))) + d for t, s, d in path)
        dp += EFI_DEV_PATH_NODE.build(dict(type=0x7F, sub_type=0xFF, length=4))
        kv = b""
        for name, value in props:
            key = name.encode("utf-16-le") + b"\0\0"
            kv += struct.pack("<I", 4 + len(key)) + key + struct.pack("<I", 4 + len(value)) + value
        dev = dp + kv
        body += APPLE_DEV_HEADER.build(dict(len=8 + len(dev), prop_count=len(props))) + dev
    total = 12 + len(body)
    return APPLE_PROPERTIES_HEADER.build(dict(len=total, version=1, dev_count=len(devices))) + body


def jailhouse(num_cpus: int = 2, flags: int | None = 1) -> bytes:
    cpu_ids = bytes(range(num_cpus)) + bytes(255 - num_cpus)
    obj = dict(
        hdr=dict(version=2 if flags is not None else 1, compatible_version=1),
        v1=dict(
            pm_timer_address=0x608,
            num_cpus=num_cpus,
            pci_mmconfig_base=0xB0000000,
            tsc_khz=2_000_000,
            apic_khz=1_000_000,
            standard_ioapic=1,
            cpu_ids=cpu_ids,
        ),
        v2=dict(flags=flags or 0),
    )
    raw = JAILHOUSE_SETUP_DATA.build(obj)
    return raw if flags is not None else raw[:280]


def cc_blob(addr: int) -> bytes:
    return CC_SETUP_DATA.build(dict(cc_blob_address=addr))


def ima(addr: int, size: int) -> bytes:
    return IMA_SETUP_DATA.build(dict(addr=addr, size=size))


def kho(fdt_addr: int, fdt_size: int, scratch_addr: int, scratch_size: int) -> bytes:
    return KHO_DATA.build(
        dict(fdt_addr=fdt_addr, fdt_size=fdt_size, scratch_addr=scratch_addr, scratch_size=scratch_size)
    )


def indirect(itype: int, length: int, addr: int, reserved: int = 0) -> bytes:
    return STRUCT_SETUP_INDIRECT.build(dict(type=itype, reserved=reserved, len=length, addr=addr))


def chain(layout: Layout, nodes: list[tuple[int, int, bytes]], lengths: dict[int, int] | None = None) -> int:
    """Write ``(pa, type, payload)`` nodes linked in list order; returns the head address."""
    lengths = lengths or {}
    for i, (pa, typ, payload) in enumerate(nodes):
        nxt = nodes[i + 1][0] if i + 1 < len(nodes) else 0
        layout.put(pa, build_node(nxt, typ, payload, lengths.get(i)))
    return nodes[0][0] if nodes else 0


# -- kallsyms ----------------------------------------------------------------------------
def kallsyms_image(
    layout: Layout,
    *,
    base_pa: int,
    phys_base: int,
    symbols: list[tuple[str, str, int]],
    absolute_percpu: bool = False,
) -> dict[str, str]:
    """Write kallsyms tables at ``base_pa`` (one token per byte) and return the VMCOREINFO keys.

    ``symbols`` are ``(type char, name, virtual address)``; offsets are encoded as
    kernel/kallsyms.c reads them: ``relative_base + (u32)off``, or with
    ``absolute_percpu`` ``relative_base - 1 - off`` (negative offsets).
    """

    def virt(pa: int) -> int:
        return pa - phys_base + KERNEL_MAP_BASE

    rel_base = min(v for _t, _n, v in symbols)
    token_table = b"".join(bytes([i]) + b"\0" for i in range(256))
    token_index = struct.pack("<256H", *[2 * i for i in range(256)])
    names = b""
    for t, n, _v in symbols:
        enc = (t + n).encode()
        assert len(enc) < 0x80
        names += bytes([len(enc)]) + enc
    offsets = b""
    for _t, _n, v in symbols:
        off = -(v - rel_base) - 1 if absolute_percpu else v - rel_base
        offsets += struct.pack("<i", off)
    parts = {
        "kallsyms_num_syms": struct.pack("<I", len(symbols)),
        "kallsyms_relative_base": struct.pack("<Q", rel_base),
        "kallsyms_token_table": token_table,
        "kallsyms_token_index": token_index,
        "kallsyms_names": names,
        "kallsyms_offsets": offsets,
    }
    info = {"NUMBER(phys_base)": str(phys_base)}
    pa = base_pa
    for key, data in parts.items():
        layout.put(pa, data)
        info[f"SYMBOL({key})"] = f"{virt(pa):x}"
        pa += (len(data) + 15) // 16 * 16
    return info


def layout_dict(c: cs.Container) -> dict[str, Any]:
    """A Container as a plain dict without construct's private keys (for equality checks)."""
    return {k: v for k, v in c.items() if not k.startswith("_")}
