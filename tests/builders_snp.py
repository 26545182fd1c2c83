"""SEV-SNP fixtures built with the schemas (efitables.schemas.snp), with known values.

The default guest follows OVMF's layout (tianocore/edk2 OvmfPkg/Include/Fdf/MemFd.fdf.inc,
OvmfPkg/PlatformPei/AmdSev.c, OvmfPkg/AmdSevDxe/AmdSevDxe.c): secrets page at
0x80D000, CPUID page at 0x80E000 (both EfiReservedMemoryType / E820 reserved),
the CC blob in an EfiACPIReclaimMemory page at 0x7F5E2000 (+0x18), and three
routes that agree.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from efitables.efi.memmap import EfiMemoryMap, parse_memmap
from efitables.memory.base import BytesMemory
from efitables.schemas.efi_memmap import EFI_MEMORY_DESCRIPTOR, EFI_MEMORY_TYPE_NAMES
from efitables.schemas.snp import (
    CC_BLOB_SEV_HDR_MAGIC,
    CC_BLOB_SEV_INFO,
    CC_SETUP_DATA,
    EFI_CC_BLOB_GUID,
    SETUP_CC_BLOB,
    SNP_CPUID_COUNT_MAX,
    SNP_CPUID_TABLE,
    SNP_SECRETS_PAGE_V2,
    SNP_SECRETS_PAGE_V3,
)

SECRETS_PA = 0x80D000
CPUID_PA = 0x80E000
BLOB_PAGE = 0x7F5E2000
BLOB_PA = BLOB_PAGE + 0x18
MEMMAP_PA = 0x1000
SETUP_NODE_PA = 0x2000

VMPCKS = [hashlib.sha256(f"vmpck{i}".encode()).digest() for i in range(4)]

EFI_TYPE = {v: k for k, v in EFI_MEMORY_TYPE_NAMES.items()}


def blob_bytes(**over: int) -> bytes:
    obj = {
        "magic": CC_BLOB_SEV_HDR_MAGIC,
        "version": 1,
        "reserved": 0,
        "secrets_phys": SECRETS_PA,
        "secrets_len": 4096,
        "rsvd1": 0,
        "cpuid_phys": CPUID_PA,
        "cpuid_len": 4096,
        "rsvd2": 0,
    }
    obj.update(over)
    return CC_BLOB_SEV_INFO.build(obj)


def os_area(**over: object) -> dict:
    obj: dict = {
        "msg_seqno_0": 4,
        "msg_seqno_1": 0,
        "msg_seqno_2": 2,
        "msg_seqno_3": 0,
        "ap_jump_table_pa": 0x7FFFE000,
        "rsvd": bytes(40),
        "guest_usage": bytes(32),
    }
    obj.update(over)
    return obj


def secrets_bytes(version: int = 3, vmpcks: list[bytes] | None = None, **over: object) -> bytes:
    keys = VMPCKS if vmpcks is None else vmpcks
    obj: dict = {
        "version": version,
        "imien": 0,
        "fms": 0x00A10F11,  # family 0x19 model 0x11 stepping 1 (Genoa)
        "rsvd2": 0,
        "gosvw": bytes(range(16)),
        "vmpck0": keys[0],
        "vmpck1": keys[1],
        "vmpck2": keys[2],
        "vmpck3": keys[3],
        "os_area": os_area(),
    }
    if version == 2:
        obj["rsvd3"] = bytes(3840)
        obj.update(over)
        return SNP_SECRETS_PAGE_V2.build(obj)
    obj.update(
        {
            "vmsa_tweak_bitmap": bytes([0x05]) + bytes(63),  # quadwords 0 and 2
            "svsm_base": 0,
            "svsm_size": 0,
            "svsm_caa": 0,
            "svsm_max_version": 0,
            "svsm_guest_vmpl": 0,
            "rsvd3": bytes(3),
            "tsc_factor": 0,
            "rsvd4": bytes(3740),
        }
    )
    obj.update(over)
    raw = SNP_SECRETS_PAGE_V3.build(obj)
    if version != 3:  # an unknown version: same bytes, other number
        raw = version.to_bytes(4, "little") + raw[4:]
    return raw


def fn(eax_in: int, ecx_in: int = 0, eax: int = 0, ebx: int = 0, ecx: int = 0, edx: int = 0, **over: int) -> dict:
    obj = {
        "eax_in": eax_in,
        "ecx_in": ecx_in,
        "xcr0_in": 0,
        "xss_in": 0,
        "eax": eax,
        "ebx": ebx,
        "ecx": ecx,
        "edx": edx,
        "__reserved": 0,
    }
    obj.update(over)
    return obj


def _bits(*bits: int) -> int:
    return sum(1 << b for b in bits)


#: A plausible Genoa guest table.
DEFAULT_FNS = [
    fn(0x0, eax=0x10, ebx=0x68747541, ecx=0x444D4163, edx=0x69746E65),  # "AuthenticAMD"
    fn(0x1, eax=0x00A10F11, ebx=0x00020800, ecx=_bits(0, 9, 19, 20, 21, 23, 25, 26, 28, 30, 31),
       edx=_bits(0, 4, 5, 6, 8, 9, 25, 26)),
    fn(0x7, eax=0, ebx=_bits(0, 5, 7, 8, 20), ecx=_bits(2, 16), edx=0),
    fn(0xD, 0, eax=0x7, ebx=0x340, ecx=0x340, edx=0, xcr0_in=0x7),
    fn(0xD, 1, eax=0xF, ebx=0x340, xcr0_in=0x7),
    fn(0xD, 2, eax=0x100, ebx=0x240),
    fn(0x80000000, eax=0x80000021),
    fn(0x8000001F, eax=_bits(0, 1, 3, 4), ebx=51 | (4 << 12), ecx=0, edx=0),
]  # fmt: skip


def cpuid_bytes(fns: list[dict] | None = None, count: int | None = None, **over: int) -> bytes:
    fns = list(DEFAULT_FNS if fns is None else fns)
    table = fns[:SNP_CPUID_COUNT_MAX] + [fn(0)] * (SNP_CPUID_COUNT_MAX - len(fns))
    table = [{**e} for e in table]
    obj = {"count": len(fns) if count is None else count, "__reserved1": 0, "__reserved2": 0, "fn": table}
    obj.update(over)
    raw = SNP_CPUID_TABLE.build(obj)
    assert len(raw) == 0xC10
    return raw


def page(data: bytes, size: int = 4096) -> bytes:
    return data + bytes(size - len(data))


def setup_node(blob_pa: int, next_pa: int = 0) -> bytes:
    return CC_SETUP_DATA.build({"next": next_pa, "type": SETUP_CC_BLOB, "len": 8, "cc_blob_address": blob_pa})


def memmap_bytes(regions: list[tuple[str, int, int]]) -> bytes:
    """(EFI type name, start, pages) -> 48-byte-stride descriptors."""
    out = b""
    for name, start, pages in regions:
        d = EFI_MEMORY_DESCRIPTOR.build(
            {"Type": name, "pad": 0, "PhysicalStart": start, "VirtualStart": 0, "NumberOfPages": pages, "Attribute": {}}
        )
        out += d + bytes(8)
    return out


DEFAULT_EFI_REGIONS = [
    ("EFI_CONVENTIONAL_MEMORY", 0x100000, 0x70D),  # 0x100000-0x80D000
    ("EFI_RESERVED_TYPE", SECRETS_PA, 3),  # secrets, CPUID, SVSM CAA
    ("EFI_CONVENTIONAL_MEMORY", 0x810000, 0x100),
    ("EFI_ACPI_RECLAIM_MEMORY", BLOB_PAGE, 1),
]
DEFAULT_E820 = [(0x100000, 0x70D000, 1), (SECRETS_PA, 0x3000, 2), (0x810000, 0x100000, 1), (BLOB_PAGE, 0x1000, 3)]


@dataclass
class SnpGuest:
    """A BytesMemory and the route values a test passes to analyze_cc_blob."""

    mem: BytesMemory
    efi_memmap: EfiMemoryMap | None
    e820: list[tuple[int, int, int]] | None
    kwargs: dict = field(default_factory=dict)


def _acpi_rsdp_xsdt(rsdp_pa: int, xsdt_pa: int) -> bytes:
    """A valid ACPI 2.0 RSDP at ``rsdp_pa`` naming an empty XSDT at ``xsdt_pa`` (both checksums valid)."""
    from dumps.make_samples import rsdp_v2
    from efitables.schemas.payloads.acpi import XSDT, fix_checksum

    hdr = dict(Signature=b"XSDT", Length=36, Revision=1, Checksum=0, OemId=b"AMD   ", OemTableId=b"SNPGUEST",
               OemRevision=1, CreatorId=b"TEST", CreatorRevision=1)  # fmt: skip
    xsdt = fix_checksum(XSDT.build(dict(Header=hdr, Entry=[])), 9, 36)
    return rsdp_v2(0, xsdt_pa).ljust(xsdt_pa - rsdp_pa, b"\0") + xsdt


def snp_guest(
    *,
    blob: bytes | None = None,
    secrets: bytes | None = None,
    cpuid: bytes | None = None,
    blob_pa: int = BLOB_PA,
    extra: dict[int, bytes] | None = None,
    efi_regions: list[tuple[str, int, int]] | None = None,
    e820: list[tuple[int, int, int]] | None = None,
    with_maps: bool = True,
) -> SnpGuest:
    """Memory holding the blob, its pages and an EFI memory map."""
    segs: dict[int, bytes] = {}
    blob_raw = blob_bytes() if blob is None else blob
    page_start = blob_pa & ~0xFFF
    blob_page = bytearray(4096)
    off = blob_pa - page_start
    blob_page[off : off + len(blob_raw)] = blob_raw
    segs[page_start] = bytes(blob_page)
    pages = page(secrets_bytes() if secrets is None else secrets) + page(cpuid_bytes() if cpuid is None else cpuid)
    if SECRETS_PA != page_start:
        segs[SECRETS_PA] = pages
    mm_raw = memmap_bytes(DEFAULT_EFI_REGIONS if efi_regions is None else efi_regions)
    segs[MEMMAP_PA] = mm_raw
    for pa, data in (extra or {}).items():
        segs[pa] = data
    mem = BytesMemory(segs)
    mm = parse_memmap(mem, MEMMAP_PA, len(mm_raw), 48, 1) if with_maps else None
    return SnpGuest(mem, mm, (DEFAULT_E820 if e820 is None else e820) if with_maps else None)


# -- a whole raw dump: zero page, EFI system table and memory map, the SNP pages -----

RAW_BOOT_PARAMS = 0x13000
RAW_MEMMAP = 0x14000
RAW_SETUP_NODE = 0x101000  # in EFI_LOADER_DATA, as the loader would place it
RAW_SYSTAB = 0x7E0018
RAW_CFG_ARRAY = 0x7E0100
RAW_VENDOR = 0x7E0300
RAW_RUNTIME = 0x7E0400
RAW_BLOB = 0x900018
RAW_SIZE = 0x1000000


def write_snp_guest_raw(path: str, *, blob_pa: int = RAW_BLOB) -> None:
    """A 16 MiB raw image of an OVMF SNP guest whose three routes name the blob at ``blob_pa``."""
    from dumps.builder import Image, config_tables, runtime_services, system_table, ucs2, zero_page

    img = Image()
    img.add_region(0, RAW_SIZE)
    wb = 0x8
    rt = 1 << 63
    regions = [
        ("EFI_CONVENTIONAL_MEMORY", 0x0, 0x9F, wb),
        ("EFI_LOADER_DATA", 0x100000, 0x100, wb),
        ("EFI_CONVENTIONAL_MEMORY", 0x200000, 0x5E0, wb),
        ("EFI_RUNTIME_SERVICES_DATA", 0x7E0000, 0x10, rt | wb),
        ("EFI_RUNTIME_SERVICES_CODE", 0x7F0000, 0x10, rt | wb),
        ("EFI_CONVENTIONAL_MEMORY", 0x800000, 0xD, wb),
        ("EFI_RESERVED_TYPE", SECRETS_PA, 3, wb),
        ("EFI_CONVENTIONAL_MEMORY", 0x810000, 0xF0, wb),
        ("EFI_ACPI_RECLAIM_MEMORY", 0x900000, 1, wb),
        ("EFI_CONVENTIONAL_MEMORY", 0x901000, 0x6FF, wb),
    ]
    mm = b"".join(
        EFI_MEMORY_DESCRIPTOR.build(
            {"Type": t, "pad": 0, "PhysicalStart": s, "VirtualStart": 0, "NumberOfPages": n, "Attribute": a}
        )
        + bytes(8)
        for t, s, n, a in regions
    )
    tables = [("8868e871-e4f1-11d3-bc22-0080c73c8881", 0x900100), (EFI_CC_BLOB_GUID, blob_pa)]
    img.put(
        RAW_SYSTAB,
        system_table(
            64,
            vendor=RAW_VENDOR,
            revision=0x00020046,
            fw_revision=0x10000,
            runtime=RAW_RUNTIME,
            nr_tables=len(tables),
            tables=RAW_CFG_ARRAY,
        ),
    )
    img.put(RAW_CFG_ARRAY, config_tables(64, tables))
    img.put(RAW_VENDOR, ucs2("EDK II"))
    img.put(RAW_RUNTIME, runtime_services(64, 0x00020046, 0x7F0000))
    img.put(RAW_MEMMAP, mm)
    img.put(0x900100, _acpi_rsdp_xsdt(0x900100, 0x900200))
    img.put(blob_pa, blob_bytes())
    img.put(SECRETS_PA, secrets_bytes())
    img.put(CPUID_PA, cpuid_bytes())
    img.put(RAW_SETUP_NODE, setup_node(blob_pa))
    zp = bytearray(
        zero_page(
            efi={
                "efi_loader_signature": "EL64",
                "efi_systab": RAW_SYSTAB,
                "efi_memdesc_size": 48,
                "efi_memdesc_version": 1,
                "efi_memmap": RAW_MEMMAP,
                "efi_memmap_size": len(mm),
                "efi_systab_hi": 0,
                "efi_memmap_hi": 0,
            },
            e820=[
                (0, 0x9F000, 1),
                (0x100000, 0x6E0000, 1),
                (0x7E0000, 0x20000, 2),
                (0x800000, 0xD000, 1),
                (SECRETS_PA, 0x3000, 2),
                (0x810000, 0xF0000, 1),
                (0x900000, 0x1000, 3),
                (0x901000, 0x6FF000, 1),
            ],
            hdrs=True,
        )
    )
    zp[0x13C:0x140] = blob_pa.to_bytes(4, "little")  # boot_params.cc_blob_address
    zp[0x250:0x258] = RAW_SETUP_NODE.to_bytes(8, "little")  # hdr.setup_data
    img.put(RAW_BOOT_PARAMS, bytes(zp))
    img.write_raw(path)
