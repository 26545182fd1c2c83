"""The seed machine: one small physical address space holding every structure efitables reads.

A fuzzer executes a harness ~1,000 times a second only if each input is small, so this machine
is 64 KiB (the samples in dumps/samples/ are 1-8 MiB: each would cost tens of milliseconds per
execution, mostly in the signature sweep). It is built with the project's own builders
(dumps/builder.py, tests/builders_boot.py, tests/builders_payloads.py, tests/builders_snp.py, the
schemas in efitables/schemas/) with known values, and every structure sits at a constant address:

=========  =====================================================  ===================================
page       contents                                               EFI memory type / E820 type
=========  =====================================================  ===================================
0x0000     nothing                                                conventional / RAM
0x1000     boot_params (HdrS 2.15, efi_info EL64/EL32, E820,       loader data / RAM
           cc_blob_address, acpi_rsdp_addr, setup_data)
0x2000     command line                                           loader data / RAM
0x3000     EFI memory map (48-byte descriptors)                   loader data / RAM
0x4000     system table, configuration-table array, firmware     runtime data / reserved
           vendor, runtime services, DXE services
0x5000     ACPI RSDP/RSDT/XSDT/FACP, SMBIOS 3 entry point and     ACPI reclaim / ACPI
           table, memory attributes, ESRT, TPM event log
0x6000     CC blob, RNG seed, CoCo secret area, MEMRESERVE,        ACPI reclaim / ACPI
           boot memmap, unaccepted memory, device tree, unknown
0x7000     SNP secrets page (version 3, four known VMPCKs)        reserved / reserved
0x8000     SNP CPUID page                                          reserved / reserved
0x9000     EDK2 HOB list, memory type information                 boot-services data / RAM
0xA000     identity-map page tables (PML4, PDPT, PD: 0-2 MiB)     loader data / RAM
0xD000     nothing: the page containers other than raw leave out  conventional / RAM
0xE000     setup_data chain: every SETUP_* type, INDIRECT,         loader data / RAM
           an unknown type; 0xF000 their targets
=========  =====================================================  ===================================

:data:`FIELDS` lists every pointer, count, length, type and magic field of those structures
(physical address and width, offsets from the schemas through
:func:`efitables.schemas.common.field_offset`), each with the checksum it is covered by, so the
mutator can make a field hostile and, sometimes, recompute the checksum so that deeper code runs.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import construct as cs

from dumps.builder import config_tables, runtime_services, system_table, ucs2
from efitables.coverage.ptbuilder import PageTableBuilder
from efitables.memory.vmcoreinfo import KERNEL_MAP_BASE
from efitables.payloads import acpi as acpi_p
from efitables.payloads import edk2 as edk2_p
from efitables.payloads import esrt as esrt_p
from efitables.payloads import fdt as fdt_p
from efitables.payloads import linux_memory as lm_p
from efitables.payloads import linux_secrets as ls_p
from efitables.payloads import memattr as memattr_p
from efitables.payloads import smbios as smbios_p
from efitables.payloads import tcg as tcg_p
from efitables.schemas.boot_params import BOOT_PARAMS
from efitables.schemas.common import field_offset, field_size, guid_to_bytes
from efitables.schemas.efi_memmap import EFI_MEMORY_DESCRIPTOR, EFI_MEMORY_TYPE
from efitables.schemas.efi_tables import (
    EFI_CONFIGURATION_TABLE_32,
    EFI_CONFIGURATION_TABLE_64,
    EFI_DXE_SERVICES_SIGNATURE,
    EFI_RUNTIME_SERVICES_32,
    EFI_RUNTIME_SERVICES_64,
    EFI_SYSTEM_TABLE_32,
    EFI_SYSTEM_TABLE_64,
    EFI_TABLE_HEADER,
    build_table,
    efi_crc32,
)
from efitables.schemas.payloads import acpi as acpi_s
from efitables.schemas.payloads import edk2 as edk2_s
from efitables.schemas.payloads import esrt as esrt_s
from efitables.schemas.payloads import linux_tables as lt_s
from efitables.schemas.payloads import memattr as memattr_s
from efitables.schemas.payloads import smbios as smbios_s
from efitables.schemas.payloads.acpi import fix_checksum
from efitables.schemas.payloads.linux_tables import EFI_SECRET_TABLE_HEADER_GUID
from efitables.schemas.setup_data import (
    EFI_SETUP_DATA,
    IMA_SETUP_DATA,
    KHO_DATA,
    SETUP_APPLE_PROPERTIES,
    SETUP_CC_BLOB,
    SETUP_DATA,
    SETUP_DTB,
    SETUP_E820_EXT,
    SETUP_EFI,
    SETUP_IMA,
    SETUP_INDIRECT,
    SETUP_JAILHOUSE,
    SETUP_KEXEC_KHO,
    SETUP_PCI,
    SETUP_RNG_SEED,
    STRUCT_SETUP_INDIRECT,
    build_node,
)
from efitables.schemas.snp import (
    CC_BLOB_SEV_INFO,
    CC_SETUP_DATA,
    EFI_CC_BLOB_GUID,
    SNP_CPUID_TABLE_HEADER,
    SNP_SECRETS_PAGE_COMMON,
    VMPCK_KEY_LEN,
    VMPCK_OFFSET,
)
from tests import builders_boot as B
from tests import builders_payloads as P
from tests import builders_snp as S

PAGE = 0x1000
SIZE = 0x10000
#: A page of the machine that every container except raw leaves out (a hole inside the dump).
HOLE = 0xD000

BOOT_PARAMS_PA = 0x1000
CMDLINE = 0x2000
MEMMAP = 0x3000
SYSTAB = 0x4018
CFG_ARRAY = 0x4100
VENDOR = 0x4400
RUNTIME = 0x4480
RT_FUNCTIONS = 0x4800
DXE_SERVICES = 0x4C00
RSDP = 0x5000
RSDT_PA = 0x5040
XSDT_PA = 0x5080
FACP = 0x5100
SMBIOS3 = 0x5200
SMBIOS_TABLE = 0x5240
MEMATTR = 0x5400
ESRT = 0x5600
TPM_LOG = 0x5800
BLOB = 0x6018
RNG_TABLE = 0x6100
COCO_TABLE = 0x6180
COCO_AREA = 0x61C0
MEMRESERVE = 0x6280
BOOT_MEMMAP = 0x6300
UNACCEPTED = 0x6400
DTB_TABLE = 0x6480
UNKNOWN_TABLE = 0x6600
SECRETS = 0x7000
CPUID = 0x8000
HOB_LIST = 0x9000
MEMTYPE_INFO = 0x9100
PT_BASE = 0xA000
SETUP0 = 0xE000
TARGETS = 0xF000  # what SETUP_INDIRECT, IMA, KHO and MEMRESERVE name

UNKNOWN_GUID = "f1e2d3c4-b5a6-4798-8a9b-0c1d2e3f4a5b"
#: The VMPCKs of the secrets page (tests/builders_snp.py): the oracle looks for them in every output.
VMPCKS: list[bytes] = list(S.VMPCKS)
VMPCK_PA = SECRETS + VMPCK_OFFSET
RNG_SEED_BYTES = hashlib.sha256(b"fuzz rng seed").digest()
SETUP_RNG_BYTES = hashlib.sha256(b"fuzz setup_data seed").digest()
COCO_SECRET = hashlib.sha512(b"fuzz coco secret").digest()[:40]
#: Every secret of the machine, by name: what no output may hold without --show-secrets.
SECRETS_BYTES: dict[str, bytes] = {
    **{f"vmpck{i}": k for i, k in enumerate(VMPCKS)},
    "rng-table": RNG_SEED_BYTES,
    "rng-setup_data": SETUP_RNG_BYTES,
    "coco": COCO_SECRET,
}
VMCOREINFO = (
    b"OSRELEASE=6.1.0-fuzz\nPAGESIZE=4096\nNUMBER(phys_base)=0\nKERNELOFFSET=0\n"
    + f"SYMBOL(boot_params)={KERNEL_MAP_BASE + BOOT_PARAMS_PA:x}\n".encode()
)

RT_ATTR = (1 << 63) | 0x8  # EFI_MEMORY_RUNTIME | EFI_MEMORY_WB
WB = 0x8
T = EFI_MEMORY_TYPE

#: (EFI memory type, start, pages, attribute): the machine's EFI memory map.
EFI_REGIONS = [
    (T["EFI_CONVENTIONAL_MEMORY"], 0x0, 1, WB),
    (T["EFI_LOADER_DATA"], 0x1000, 3, WB),
    (T["EFI_RUNTIME_SERVICES_DATA"], 0x4000, 1, RT_ATTR),
    (T["EFI_ACPI_RECLAIM_MEMORY"], 0x5000, 2, WB),
    (T["EFI_RESERVED_TYPE"], SECRETS, 2, WB),
    (T["EFI_BOOT_SERVICES_DATA"], 0x9000, 1, WB),
    (T["EFI_LOADER_DATA"], PT_BASE, 3, WB),
    (T["EFI_CONVENTIONAL_MEMORY"], HOLE, 1, WB),
    (T["EFI_LOADER_DATA"], SETUP0, 2, WB),
]
E820 = [(0, 0x4000, 1), (0x4000, 0x1000, 2), (0x5000, 0x2000, 3), (0x7000, 0x2000, 2), (0x9000, 0x7000, 1)]


@dataclass(frozen=True)
class Field:
    """One field of a structure of the machine: where it is, how wide, what it holds."""

    name: str
    pa: int
    size: int
    kind: str  # "ptr", "count", "len", "type", "magic"
    group: str | None = None  # the checksum covering it (a key of Machine.fixers)
    #: The address of the structure the field is in (a self-reference points there).
    base: int = 0


@dataclass
class Machine:
    """The physical bytes [0, SIZE) of the seed machine and what is where in them."""

    bits: int
    image: bytearray
    fields: list[Field] = field(default_factory=list)
    #: Physical address of each structure, by name (self-references, copies, truncation points).
    structures: dict[str, int] = field(default_factory=dict)
    #: checksum name -> fixer(read, write): recompute it through a physical view.
    fixers: dict[str, Callable[[Reader, Writer], None]] = field(default_factory=dict)

    def put(self, pa: int, data: bytes) -> None:
        assert pa + len(data) <= SIZE, f"{pa:#x}+{len(data):#x} is outside the machine"
        self.image[pa : pa + len(data)] = data


Reader = Callable[[int, int], bytes | None]
Writer = Callable[[int, bytes], bool]


def _f(fields: list[Field], schema: cs.Construct, base: int, path: str, kind: str, group: str | None = None,
       name: str | None = None) -> None:
    fields.append(Field(name or path, base + field_offset(schema, path), field_size(schema, path), kind, group, base))


# -- checksum fixers (through a physical view, so they work on any container) ------------------------
def _fix_efi_table(pa: int) -> Callable[[Reader, Writer], None]:
    hdr_size_off = field_offset(EFI_TABLE_HEADER, "HeaderSize")
    crc_off = field_offset(EFI_TABLE_HEADER, "CRC32")

    def fix(read: Reader, write: Writer) -> None:
        head = read(pa, EFI_TABLE_HEADER.sizeof())
        if head is None:
            return
        n = int.from_bytes(head[hdr_size_off : hdr_size_off + 4], "little")
        if not EFI_TABLE_HEADER.sizeof() <= n <= 0x1000:
            return
        raw = read(pa, n)
        if raw is not None:
            write(pa + crc_off, efi_crc32(raw, n).to_bytes(4, "little"))

    return fix


def _fix_acpi_sdt(pa: int) -> Callable[[Reader, Writer], None]:
    length_off = field_offset(acpi_s.EFI_ACPI_DESCRIPTION_HEADER, "Length")
    sum_off = field_offset(acpi_s.EFI_ACPI_DESCRIPTION_HEADER, "Checksum")

    def fix(read: Reader, write: Writer) -> None:
        head = read(pa, acpi_s.SDT_HEADER_SIZE)
        if head is None:
            return
        n = int.from_bytes(head[length_off : length_off + 4], "little")
        if not acpi_s.SDT_HEADER_SIZE <= n <= 0x1000:
            return
        raw = read(pa, n)
        if raw is not None:
            write(pa, fix_checksum(raw, sum_off, n)[:n])

    return fix


def _fix_rsdp(read: Reader, write: Writer) -> None:
    raw = read(RSDP, 36)
    if raw is not None:
        write(RSDP, fix_checksum(fix_checksum(raw, 8, 20), 32, 36))


def _fix_smbios3(read: Reader, write: Writer) -> None:
    raw = read(SMBIOS3, 0x18)
    if raw is not None:
        write(SMBIOS3, fix_checksum(raw, 5, 0x18))


# -- the machine ---------------------------------------------------------------------------------------
def _setup_chain(m: Machine) -> None:
    """Every SETUP_* type, one node each, SETUP0 onwards; their targets at TARGETS."""
    e820_ext = B.e820_entries([(0x100000, 0x100000, 1), (0x200000, 0x1000, 2)])
    rom = b"\x55\xaa" + bytes(30)
    nodes: list[tuple[int, int, bytes]] = [
        (SETUP0, SETUP_E820_EXT, e820_ext),
        (SETUP0 + 0x80, SETUP_DTB, B.fdt(0x40)),
        (SETUP0 + 0x100, SETUP_PCI, B.pci_rom(0x1AF4, 0x1000, rom)),
        (SETUP0 + 0x200, SETUP_EFI, B.efi_setup(VENDOR, RUNTIME, CFG_ARRAY, SMBIOS3)),
        (SETUP0 + 0x300, SETUP_APPLE_PROPERTIES, B.apple_properties([([(1, 1, b"\x00\x02")], [("model", b"x\0")])])),
        (SETUP0 + 0x400, SETUP_JAILHOUSE, B.jailhouse(2)),
        (SETUP0 + 0x600, SETUP_CC_BLOB, S.setup_node(BLOB)[SETUP_DATA.sizeof() :]),
        (SETUP0 + 0x680, SETUP_IMA, B.ima(TARGETS, 0x100)),
        (SETUP0 + 0x700, SETUP_RNG_SEED, SETUP_RNG_BYTES),
        (SETUP0 + 0x780, SETUP_KEXEC_KHO, B.kho(TARGETS + 0x100, 0x40, TARGETS + 0x200, 0x100)),
        (SETUP0 + 0x800, SETUP_INDIRECT, B.indirect(SETUP_INDIRECT | SETUP_E820_EXT, 20, TARGETS + 0x300)),
        (SETUP0 + 0x880, 0x77, b"unknown setup_data type"),
    ]
    for i, (pa, typ, payload) in enumerate(nodes):
        nxt = nodes[i + 1][0] if i + 1 < len(nodes) else 0
        m.put(pa, build_node(nxt, typ, payload))
        _f(m.fields, SETUP_DATA, pa, "next", "ptr", name=f"setup_data[{i}].next")
        _f(m.fields, SETUP_DATA, pa, "type", "type", name=f"setup_data[{i}].type")
        _f(m.fields, SETUP_DATA, pa, "len", "len", name=f"setup_data[{i}].len")
        m.structures[f"setup_data[{i}]"] = pa
    data = SETUP_DATA.sizeof()
    m.put(TARGETS + 0x100, B.fdt(0x40))
    m.put(TARGETS + 0x300, B.e820_entries([(0x300000, 0x1000, 1)]))
    _f(m.fields, EFI_SETUP_DATA, SETUP0 + 0x200 + data, "fw_vendor", "ptr", name="SETUP_EFI.fw_vendor")
    _f(m.fields, EFI_SETUP_DATA, SETUP0 + 0x200 + data, "tables", "ptr", name="SETUP_EFI.tables")
    _f(m.fields, EFI_SETUP_DATA, SETUP0 + 0x200 + data, "smbios", "ptr", name="SETUP_EFI.smbios")
    _f(m.fields, IMA_SETUP_DATA, SETUP0 + 0x680 + data, "addr", "ptr", name="SETUP_IMA.addr")
    _f(m.fields, IMA_SETUP_DATA, SETUP0 + 0x680 + data, "size", "len", name="SETUP_IMA.size")
    _f(m.fields, KHO_DATA, SETUP0 + 0x780 + data, "fdt_addr", "ptr", name="SETUP_KEXEC_KHO.fdt_addr")
    _f(m.fields, KHO_DATA, SETUP0 + 0x780 + data, "fdt_size", "len", name="SETUP_KEXEC_KHO.fdt_size")
    _f(m.fields, KHO_DATA, SETUP0 + 0x780 + data, "scratch_size", "len", name="SETUP_KEXEC_KHO.scratch_size")
    _f(m.fields, STRUCT_SETUP_INDIRECT, SETUP0 + 0x800 + data, "addr", "ptr", name="SETUP_INDIRECT.addr")
    _f(m.fields, STRUCT_SETUP_INDIRECT, SETUP0 + 0x800 + data, "len", "len", name="SETUP_INDIRECT.len")
    _f(m.fields, STRUCT_SETUP_INDIRECT, SETUP0 + 0x800 + data, "type", "type", name="SETUP_INDIRECT.type")
    _f(m.fields, CC_SETUP_DATA, SETUP0 + 0x600, "cc_blob_address", "ptr", name="SETUP_CC_BLOB.cc_blob_address")


def _efi(m: Machine) -> None:
    bits = m.bits
    tables = [
        (acpi_p.ACPI_20_TABLE_GUID, RSDP),
        (acpi_p.ACPI_TABLE_GUID, RSDP),
        (smbios_p.SMBIOS3_TABLE_GUID, SMBIOS3),
        (memattr_p.EFI_MEMORY_ATTRIBUTES_TABLE_GUID, MEMATTR),
        (esrt_p.EFI_SYSTEM_RESOURCE_TABLE_GUID, ESRT),
        (tcg_p.LINUX_EFI_TPM_EVENT_LOG_GUID, TPM_LOG),
        (EFI_CC_BLOB_GUID, BLOB),
        (ls_p.LINUX_EFI_RANDOM_SEED_TABLE_GUID, RNG_TABLE),
        (ls_p.LINUX_EFI_COCO_SECRET_AREA_GUID, COCO_TABLE),
        (lm_p.LINUX_EFI_MEMRESERVE_TABLE_GUID, MEMRESERVE),
        (lm_p.LINUX_EFI_BOOT_MEMMAP_GUID, BOOT_MEMMAP),
        (lm_p.LINUX_EFI_UNACCEPTED_MEM_TABLE_GUID, UNACCEPTED),
        (fdt_p.DEVICE_TREE_GUID, DTB_TABLE),
        (edk2_p.EFI_DXE_SERVICES_TABLE_GUID, DXE_SERVICES),
        (edk2_p.EFI_HOB_LIST_GUID, HOB_LIST),
        (edk2_p.EFI_MEMORY_TYPE_INFORMATION_GUID, MEMTYPE_INFO),
        (UNKNOWN_GUID, UNKNOWN_TABLE),
    ]
    st_schema = EFI_SYSTEM_TABLE_64 if bits == 64 else EFI_SYSTEM_TABLE_32
    m.put(SYSTAB, system_table(bits, vendor=VENDOR, revision=0x00020046, fw_revision=0x10000, runtime=RUNTIME,
                               nr_tables=len(tables), tables=CFG_ARRAY))
    m.structures["EFI_SYSTEM_TABLE"] = SYSTAB
    m.fixers["systab"] = _fix_efi_table(SYSTAB)
    for path, kind in (("FirmwareVendor", "ptr"), ("RuntimeServices", "ptr"), ("NumberOfTableEntries", "count"),
                       ("ConfigurationTable", "ptr"), ("Hdr.HeaderSize", "len"), ("Hdr.Revision", "type"),
                       ("Hdr.Signature", "magic")):
        _f(m.fields, st_schema, SYSTAB, path, kind, "systab", name=f"systab.{path}")
    m.put(CFG_ARRAY, config_tables(bits, tables))
    m.structures["config tables"] = CFG_ARRAY
    cfg = EFI_CONFIGURATION_TABLE_64 if bits == 64 else EFI_CONFIGURATION_TABLE_32
    for i in range(len(tables)):
        base = CFG_ARRAY + i * cfg.sizeof()
        _f(m.fields, cfg, base, "VendorTable", "ptr", name=f"config_table[{i}].VendorTable")
        _f(m.fields, cfg, base, "VendorGuid", "guid", name=f"config_table[{i}].VendorGuid")
    m.put(VENDOR, ucs2("EDK II fuzz"))
    m.structures["FirmwareVendor"] = VENDOR
    rt_schema = EFI_RUNTIME_SERVICES_64 if bits == 64 else EFI_RUNTIME_SERVICES_32
    m.put(RUNTIME, runtime_services(bits, 0x00020046, RT_FUNCTIONS))
    m.structures["EFI_RUNTIME_SERVICES"] = RUNTIME
    m.fixers["runtime"] = _fix_efi_table(RUNTIME)
    _f(m.fields, rt_schema, RUNTIME, "Hdr.HeaderSize", "len", "runtime", name="runtime.Hdr.HeaderSize")
    _f(m.fields, rt_schema, RUNTIME, "GetTime", "ptr", "runtime", name="runtime.GetTime")
    dxe = cs.Struct("Hdr" / EFI_TABLE_HEADER, "Functions" / cs.Array(18, cs.Int64ul))
    hdr = dict(Signature=EFI_DXE_SERVICES_SIGNATURE, Revision=0x10046, HeaderSize=dxe.sizeof(), CRC32=0, Reserved=0)
    m.put(DXE_SERVICES, build_table(dxe, dict(Hdr=hdr, Functions=[RT_FUNCTIONS + 0x10 * i for i in range(18)])))
    m.fixers["dxe"] = _fix_efi_table(DXE_SERVICES)
    _f(m.fields, dxe, DXE_SERVICES, "Hdr.HeaderSize", "len", "dxe", name="dxe.Hdr.HeaderSize")
    # the memory map
    mm = B.memory_map([(t, s, n, a) for t, s, n, a in EFI_REGIONS])
    m.put(MEMMAP, mm)
    m.structures["EFI memory map"] = MEMMAP
    for i in range(len(EFI_REGIONS)):
        base = MEMMAP + 48 * i
        for path, kind in (("Type", "type"), ("PhysicalStart", "ptr"), ("VirtualStart", "ptr"),
                           ("NumberOfPages", "count"), ("Attribute", "type")):
            _f(m.fields, EFI_MEMORY_DESCRIPTOR, base, path, kind, name=f"memmap[{i}].{path}")
    _payloads(m)


def _payloads(m: Machine) -> None:
    # ACPI: RSDP 2.0 -> RSDT and XSDT -> FACP, every checksum valid
    m.put(RSDP, P.rsdp(2, RSDT_PA, XSDT_PA))
    m.put(RSDT_PA, P.rsdt([FACP]))
    m.put(XSDT_PA, P.rsdt([FACP], xsdt=True))
    m.put(FACP, P.acpi_table(b"FACP", bytes(80)))
    m.fixers["rsdp"] = _fix_rsdp
    m.fixers["rsdt"] = _fix_acpi_sdt(RSDT_PA)
    m.fixers["xsdt"] = _fix_acpi_sdt(XSDT_PA)
    m.fixers["facp"] = _fix_acpi_sdt(FACP)
    rsdp_s = acpi_s.EFI_ACPI_2_0_ROOT_SYSTEM_DESCRIPTION_POINTER
    for path, kind in (("RsdtAddress", "ptr"), ("XsdtAddress", "ptr"), ("Length", "len"), ("Revision", "type")):
        _f(m.fields, rsdp_s, RSDP, path, kind, "rsdp", name=f"RSDP.{path}")
    hdr = acpi_s.EFI_ACPI_DESCRIPTION_HEADER
    for pa, name in ((RSDT_PA, "RSDT"), (XSDT_PA, "XSDT"), (FACP, "FACP")):
        _f(m.fields, hdr, pa, "Length", "len", name.lower(), name=f"{name}.Length")
    m.fields.append(Field("RSDT.Entry[0]", RSDT_PA + acpi_s.SDT_HEADER_SIZE, 4, "ptr", "rsdt", RSDT_PA))
    m.fields.append(Field("XSDT.Entry[0]", XSDT_PA + acpi_s.SDT_HEADER_SIZE, 8, "ptr", "xsdt", XSDT_PA))
    # SMBIOS 3.0
    table = P.smbios_table()
    m.put(SMBIOS3, P.smbios3_ep(SMBIOS_TABLE, len(table)))
    m.put(SMBIOS_TABLE, table)
    m.fixers["smbios3"] = _fix_smbios3
    ep = smbios_s.SMBIOS_TABLE_3_0_ENTRY_POINT
    _f(m.fields, ep, SMBIOS3, "TableAddress", "ptr", "smbios3", name="SMBIOS3.TableAddress")
    _f(m.fields, ep, SMBIOS3, "TableMaximumSize", "len", "smbios3", name="SMBIOS3.TableMaximumSize")
    _f(m.fields, smbios_s.SMBIOS_STRUCTURE, SMBIOS_TABLE, "Length", "len", name="SMBIOS[0].Length")
    # memory attributes: the runtime page
    m.put(MEMATTR, P.memattr_table([P.memdesc(T["EFI_RUNTIME_SERVICES_DATA"], 0x4000, 1, RT_ATTR)]))
    _f(m.fields, memattr_s.EFI_MEMORY_ATTRIBUTES_TABLE, MEMATTR, "NumberOfEntries", "count", name="MEMATTR.count")
    _f(m.fields, memattr_s.EFI_MEMORY_ATTRIBUTES_TABLE, MEMATTR, "DescriptorSize", "len", name="MEMATTR.desc_size")
    # ESRT: one entry
    entry = dict(FwClass="11111111-2222-3333-4444-555555555555", FwType=1, FwVersion=2, LowestSupportedFwVersion=1,
                 CapsuleFlags=0, LastAttemptVersion=2, LastAttemptStatus=0)
    m.put(ESRT, P.esrt_table([entry], count_max=2))
    _f(m.fields, esrt_s.EFI_SYSTEM_RESOURCE_TABLE, ESRT, "FwResourceCount", "count", name="ESRT.count")
    _f(m.fields, esrt_s.EFI_SYSTEM_RESOURCE_TABLE, ESRT, "FwResourceCountMax", "count", name="ESRT.count_max")
    # TPM event log (crypto-agile, three events)
    tpm = P.tpm_eventlog_table(P.tpm_log_v2(3))
    m.put(TPM_LOG, tpm)
    m.fields.append(Field("TPM_LOG.size", TPM_LOG, 4, "len", None, TPM_LOG))
    # Linux tables
    m.put(RNG_TABLE, P.random_seed(RNG_SEED_BYTES))
    _f(m.fields, lt_s.LINUX_EFI_RANDOM_SEED, RNG_TABLE, "size", "len", name="RNG_SEED.size")
    m.put(COCO_TABLE, lt_s.LINUX_EFI_COCO_SECRET_AREA.build({"base_pa": COCO_AREA, "size": 0x80}))
    _f(m.fields, lt_s.LINUX_EFI_COCO_SECRET_AREA, COCO_TABLE, "base_pa", "ptr", name="COCO.base_pa")
    _f(m.fields, lt_s.LINUX_EFI_COCO_SECRET_AREA, COCO_TABLE, "size", "len", name="COCO.size")
    entry_guid = "736869e5-84f0-4973-92ec-06879ce3da0b"
    coco = guid_to_bytes(entry_guid) + (20 + len(COCO_SECRET)).to_bytes(4, "little") + COCO_SECRET
    m.put(COCO_AREA, guid_to_bytes(EFI_SECRET_TABLE_HEADER_GUID) + (20 + len(coco)).to_bytes(4, "little") + coco)
    m.fields.append(Field("COCO_AREA.len", COCO_AREA + 16, 4, "len", None, COCO_AREA))
    m.put(MEMRESERVE, P.memreserve_node([(TARGETS, 0x100), (TARGETS + 0x1000, 0x2000)], capacity=3))
    for path, kind in (("size", "count"), ("count", "count"), ("next", "ptr")):
        _f(m.fields, lt_s.LINUX_EFI_MEMRESERVE, MEMRESERVE, path, kind, name=f"MEMRESERVE.{path}")
    m.put(BOOT_MEMMAP, P.boot_memmap([P.memdesc(T["EFI_LOADER_DATA"], 0x1000, 3, WB)]))
    for path in ("map_size", "desc_size", "buff_size"):
        _f(m.fields, lt_s.EFI_BOOT_MEMMAP, BOOT_MEMMAP, path, "len", name=f"BOOT_MEMMAP.{path}")
    m.put(UNACCEPTED, P.unaccepted(b"\xff\x0f", phys_base=0x0, unit=0x1000))
    for path, kind in (("unit_size", "len"), ("phys_base", "ptr"), ("size", "len")):
        _f(m.fields, lt_s.EFI_UNACCEPTED_MEMORY, UNACCEPTED, path, kind, name=f"UNACCEPTED.{path}")
    m.put(DTB_TABLE, B.fdt(0x100))
    m.fields.append(Field("DTB.totalsize", DTB_TABLE + 4, 4, "len", None, DTB_TABLE))
    m.put(UNKNOWN_TABLE, b"unknown payload")
    # EDK2 HOB list (PHIT + end) and memory type information
    end = edk2_s.EFI_HOB_GENERIC_HEADER.build(dict(HobType=0xFFFF, HobLength=8, Reserved=0))
    m.put(HOB_LIST, P.phit(HOB_LIST + 0x38, EfiMemoryTop=0x10000, EfiMemoryBottom=0x9000,
                           EfiFreeMemoryTop=0xF000, EfiFreeMemoryBottom=0xA000) + end)
    _f(m.fields, edk2_s.EFI_HOB_HANDOFF_INFO_TABLE, HOB_LIST, "Header.HobLength", "len", name="HOB[0].HobLength")
    _f(m.fields, edk2_s.EFI_HOB_HANDOFF_INFO_TABLE, HOB_LIST, "EfiEndOfHobList", "ptr", name="HOB.EfiEndOfHobList")
    bins = [(10, 0x80), (9, 0x40), (0, 0x4), (5, 0x100), (6, 0x200), (16, 0)]
    m.put(MEMTYPE_INFO, b"".join(edk2_s.EFI_MEMORY_TYPE_INFORMATION.build(dict(Type=t, NumberOfPages=n))
                                 for t, n in bins))
    m.fields.append(Field("MEMTYPE[0].NumberOfPages", MEMTYPE_INFO + 4, 4, "count", None, MEMTYPE_INFO))


def _snp(m: Machine) -> None:
    m.put(BLOB, S.blob_bytes(secrets_phys=SECRETS, cpuid_phys=CPUID))
    m.structures["CC blob"] = BLOB
    for path, kind in (("magic", "magic"), ("secrets_phys", "ptr"), ("secrets_len", "len"), ("cpuid_phys", "ptr"),
                       ("cpuid_len", "len")):
        _f(m.fields, CC_BLOB_SEV_INFO, BLOB, path, kind, name=f"cc_blob.{path}")
    m.put(SECRETS, S.secrets_bytes())
    m.structures["SNP secrets page"] = SECRETS
    _f(m.fields, SNP_SECRETS_PAGE_COMMON, SECRETS, "version", "type", name="secrets.version")
    m.put(CPUID, S.cpuid_bytes())
    m.structures["SNP CPUID page"] = CPUID
    _f(m.fields, SNP_CPUID_TABLE_HEADER, CPUID, "count", "count", name="cpuid.count")


def _boot(m: Machine) -> None:
    bits = m.bits
    mm_size = 48 * len(EFI_REGIONS)
    cmdline = b"console=ttyS0 root=/dev/vda1 efi=debug crashkernel=64M\0"
    m.put(CMDLINE, cmdline)
    fields: dict[str, Any] = dict(
        hdr__cmd_line_ptr=CMDLINE,
        hdr__cmdline_size=len(cmdline) - 1,
        hdr__setup_data=SETUP0,
        cc_blob_address=BLOB,
        acpi_rsdp_addr=RSDP,
    )
    bp = B.boot_params(e820=E820, efi=B.efi_info(SYSTAB, MEMMAP, mm_size, bits=bits), **fields)
    m.put(BOOT_PARAMS_PA, bp)
    m.structures["boot_params"] = BOOT_PARAMS_PA
    for path, kind in (
        ("efi_info.efi_systab", "ptr"), ("efi_info.efi_systab_hi", "ptr"), ("efi_info.efi_memmap", "ptr"),
        ("efi_info.efi_memmap_hi", "ptr"), ("efi_info.efi_memmap_size", "len"), ("efi_info.efi_memdesc_size", "len"),
        ("efi_info.efi_memdesc_version", "type"), ("efi_info.efi_loader_signature", "magic"),
        ("e820_entries", "count"), ("hdr.cmd_line_ptr", "ptr"), ("hdr.cmdline_size", "len"),
        ("hdr.setup_data", "ptr"), ("cc_blob_address", "ptr"), ("acpi_rsdp_addr", "ptr"), ("ext_cmd_line_ptr", "ptr"),
        ("hdr.version", "type"), ("hdr.header", "magic"), ("hdr.ramdisk_image", "ptr"), ("hdr.ramdisk_size", "len"),
    ):
        _f(m.fields, BOOT_PARAMS, BOOT_PARAMS_PA, path, kind, name=f"boot_params.{path}")
    e820_at = BOOT_PARAMS_PA + field_offset(BOOT_PARAMS, "e820_table")
    for i in range(len(E820)):
        m.fields.append(Field(f"e820[{i}].addr", e820_at + 20 * i, 8, "ptr", None, e820_at))
        m.fields.append(Field(f"e820[{i}].size", e820_at + 20 * i + 8, 8, "len", None, e820_at))


def _page_tables(m: Machine) -> None:
    pt = PageTableBuilder(4, table_base=PT_BASE)
    pt.ident_map(0, 0x200000)
    for pa, entries in pt.tables.items():
        m.put(pa, struct.pack("<512Q", *entries))
        m.fields.append(Field(f"page table {pa:#x}[0]", pa, 8, "ptr", None, pa))
    m.structures["PML4"] = pt.root


@cache
def _build(bits: int) -> tuple[bytes, tuple[Field, ...], tuple[tuple[str, int], ...]]:
    m = Machine(bits, bytearray(SIZE))
    _boot(m)
    _efi(m)
    _snp(m)
    _setup_chain(m)
    _page_tables(m)
    assert m.image[VMPCK_PA : VMPCK_PA + VMPCK_KEY_LEN] == VMPCKS[0]
    return bytes(m.image), tuple(m.fields), tuple(m.structures.items())


def build(bits: int = 64) -> Machine:
    """A fresh copy of the seed machine (64-bit firmware, or 32-bit: EL32, 32-bit tables)."""
    image, fields, structures = _build(bits)
    m = Machine(bits, bytearray(image), list(fields), dict(structures))
    # the fixers are closures over constant addresses: rebuild them cheaply
    m.fixers = {
        "systab": _fix_efi_table(SYSTAB), "runtime": _fix_efi_table(RUNTIME), "dxe": _fix_efi_table(DXE_SERVICES),
        "rsdp": _fix_rsdp, "rsdt": _fix_acpi_sdt(RSDT_PA), "xsdt": _fix_acpi_sdt(XSDT_PA),
        "facp": _fix_acpi_sdt(FACP), "smbios3": _fix_smbios3,
    }
    return m


#: Every field of the 64-bit machine (the 32-bit machine's differ in the EFI tables): built on first use.
def fields(bits: int = 64) -> tuple[Field, ...]:
    return _build(bits)[1]


def structures(bits: int = 64) -> dict[str, int]:
    return dict(_build(bits)[2])
