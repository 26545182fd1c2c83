"""Hostile dumps for the amplification caps (issue 19): the healthy ovmf64.raw sample, one claim inflated.

Each :class:`Case` takes a copy of dumps/samples/ovmf64.raw (:class:`tests.sample_mutations.SampleImage`,
the machine dumps/make_samples.py builds) and sets one count or length to what a hostile dump claims,
with the bytes behind it readable so that every parser reads as much as its cap lets it: a
SETUP_E820_EXT node whose ``len`` is 0xFFFFFFF0, an ``efi_memmap_size`` of 0xFFFFFFFF, 1,000 readable
configuration-table entries behind a ``NumberOfTableEntries`` of 0xFFFFFFFF, and one case per other
count the area parsers cap. Every structure is built with the schemas (``efitables.schemas``, the
builders of dumps/builder.py and tests/builders_*.py); every offset into a structure comes from its
schema (:func:`efitables.schemas.common.field_offset`). ``expect`` holds what the capped parse must
report: the entries decoded and the one summarising finding (its code, structure and address).

The sample's memory (dumps/make_samples.py): conventional RAM 0x0-0x9f000 (zero page at 0x13000,
memory map at 0x14000) and 0x200000-0x700000, loader data 0x100000-0x200000, ACPI reclaim
0x700000-0x710000 (RSDP, RSDT, XSDT, FACP), boot-services data 0x710000-0x7e0000 (DXE services, HOB
list, memory type information, an unknown table at 0x740000), runtime data 0x7e0000-0x7f0000 (system
table, configuration table array, vendor string, runtime services), runtime code 0x7f0000-0x800000.
"""

from __future__ import annotations

import os
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dumps import make_samples as ms
from dumps.builder import config_tables, memory_map
from efitables.boot.setup_payloads import MAX_E820_EXT_ENTRIES
from efitables.boot.setup_payloads_vendor import MAX_APPLE_PROPS
from efitables.efi.config_tables import MAX_DECODED_TABLES
from efitables.efi.memmap import MAX_DESCRIPTORS
from efitables.payloads import acpi as acpi_mod
from efitables.payloads import edk2 as edk2_mod
from efitables.payloads import esrt as esrt_mod
from efitables.payloads import linux_memory as lm_mod
from efitables.payloads import memattr as memattr_mod
from efitables.payloads import smbios as smbios_mod
from efitables.payloads import tcg as tcg_mod
from efitables.schemas.boot_params import (
    BOOT_E820_ENTRY,
    BOOT_E820_ENTRY_SIZE,
    BOOT_PARAMS,
    CC_BLOB_ADDRESS_OFFSET,
    E820_ENTRIES_OFFSET,
    E820_MAX_ENTRIES_ZEROPAGE,
    SETUP_DATA_PTR_OFFSET,
)
from efitables.schemas.common import fast_struct, field_offset
from efitables.schemas.efi_tables import EFI_SYSTEM_TABLE_64
from efitables.schemas.payloads import acpi as acpi_s
from efitables.schemas.payloads import edk2 as edk2_s
from efitables.schemas.payloads import linux_tables as lt_s
from efitables.schemas.payloads import tcg as tcg_s
from efitables.schemas.setup_data import SETUP_APPLE_PROPERTIES, SETUP_DATA_HEADER_SIZE, SETUP_E820_EXT, build_node
from efitables.schemas.snp import SNP_CPUID_COUNT_MAX
from tests import builders_boot as B
from tests import builders_payloads as P
from tests import builders_snp as S
from tests.sample_mutations import SampleImage

SAMPLE = "ovmf64.raw"
PAGE = 4096
SYSTAB, CFG_ARRAY, BOOT_PARAMS_PA, MEMMAP, RSDP = ms.SYSTAB, ms.CFG_ARRAY, ms.BOOT_PARAMS, ms.MEMMAP, ms.RSDP
#: Fields of the 64-bit system table and of efi_info, from their schemas.
ST_NR_TABLES = field_offset(EFI_SYSTEM_TABLE_64, "NumberOfTableEntries")
ST_CONFIG = field_offset(EFI_SYSTEM_TABLE_64, "ConfigurationTable")
EFI_MEMMAP_SIZE = field_offset(BOOT_PARAMS, "efi_info.efi_memmap_size")
#: Configuration-table entries the sample array has room for before the vendor string at 0x7e0300.
ARRAY_ROOM = (ms.VENDOR - CFG_ARRAY) // 24

ACPI20 = acpi_mod.ACPI_20_TABLE_GUID
HOB = edk2_mod.EFI_HOB_LIST_GUID


@dataclass
class Expect:
    """What the capped parse must show: the entries decoded and the one summarising finding."""

    count: Callable[[Any], int]  # Dump -> entries decoded
    decoded: int
    code: str
    address: int
    structure: str
    message: str  # what the finding's message contains


def capped(claimed: int, cap: int, unit: str = "entries") -> str:
    """The wording of :func:`efitables.caps.count_cap`, as a test expects it."""
    return f"{claimed} {unit} claimed; decoded the first {cap}, {claimed - cap} more omitted"


@dataclass
class Case:
    name: str
    doc: str
    build: Callable[[SampleImage], None]
    expect: Expect
    extra: dict[str, Any] = field(default_factory=dict)

    def image(self) -> SampleImage:
        img = SampleImage(SAMPLE)
        self.build(img)
        return img


# -- helpers ---------------------------------------------------------------------------------------
def add_tables(img: SampleImage, entries: list[tuple[str, int]]) -> None:
    """Append configuration-table entries to the sample's array (it has room for ARRAY_ROOM); CRC fixed."""
    n = struct.unpack("<Q", img.read(SYSTAB + ST_NR_TABLES, 8))[0]
    assert n + len(entries) <= ARRAY_ROOM
    img.write(CFG_ARRAY + 24 * n, config_tables(64, entries))
    img.u64(SYSTAB + ST_NR_TABLES, n + len(entries))
    img.fix_crc(SYSTAB)


def setup_chain(img: SampleImage, nodes: list[tuple[int, int, bytes, int | None]]) -> None:
    """``(pa, type, payload, len)`` nodes linked in order from the zero page's hdr.setup_data."""
    for i, (pa, typ, payload, ln) in enumerate(nodes):
        nxt = nodes[i + 1][0] if i + 1 < len(nodes) else 0
        img.write(pa, build_node(nxt, typ, payload, ln))
    img.u64(BOOT_PARAMS_PA + SETUP_DATA_PTR_OFFSET, nodes[0][0])


def e820_pattern(n: int, start: int = 0) -> bytes:
    """``n`` boot_e820_entry records: every third empty, types cycling through one Linux does not name,
    each non-empty entry overlapping the next."""
    types = (1, 2, 3, 4, 5, 99)
    return b"".join(
        BOOT_E820_ENTRY.build(
            dict(addr=0x10000000 + (start + i) * 0x1000, size=0 if i % 3 == 0 else 0x2000, type=types[i % 6])
        )
        for i in range(n)
    )


def guid(i: int) -> str:
    return str(uuid.UUID(int=(0x5EED << 112) | i))


# -- the cases ---------------------------------------------------------------------------------------
E820_NODE = 0x100000


def _e820_ext_len(img: SampleImage) -> None:
    setup_chain(img, [(E820_NODE, SETUP_E820_EXT, e820_pattern(MAX_E820_EXT_ENTRIES + 76), 0xFFFFFFF0)])


E820_NODES = 32
E820_PER_NODE = 100


def _e820_ext_nodes(img: SampleImage) -> None:
    nodes = []
    for i in range(E820_NODES):
        body = e820_pattern(E820_PER_NODE, i * E820_PER_NODE)
        nodes.append((E820_NODE + i * PAGE, SETUP_E820_EXT, body, None))
    setup_chain(img, nodes)


def _memmap_size(img: SampleImage) -> None:
    img.u32(BOOT_PARAMS_PA + EFI_MEMMAP_SIZE, 0xFFFFFFFF)
    # after the sample's 7 descriptors: overlapping conventional ones, some with an invalid type or unaligned
    descs = [
        dict(
            Type=0x20 if i % 5 == 0 else 7,
            PhysicalStart=0x10000000 + i * 0x1000 + (0x10 if i % 7 == 0 else 0),
            NumberOfPages=2,
            Attribute=0x8,
        )
        for i in range(MAX_DESCRIPTORS + 52)
    ]
    img.write(MEMMAP + 7 * 48, memory_map(descs))


CFG_HOSTILE = 0x7E8000
CFG_READABLE = 1000


def _config_tables(img: SampleImage) -> None:
    real = [
        (ACPI20, RSDP),
        (acpi_mod.ACPI_TABLE_GUID, RSDP),
        (edk2_mod.EFI_DXE_SERVICES_TABLE_GUID, 0x710000),
        (HOB, 0x720000),
        (edk2_mod.EFI_MEMORY_TYPE_INFORMATION_GUID, 0x730000),
    ]
    more = []
    for i in range(CFG_READABLE - len(real)):
        kind = i % 4
        if kind == 0:
            more.append((ACPI20, RSDP))  # the same GUID again: decoded once
        elif kind == 1:
            more.append((guid(i), 0x750000 + 16 * i))  # unknown GUIDs
        elif kind == 2:
            more.append((HOB, 0x720000))
        else:
            more.append((guid(i), 0))  # NULL VendorTable
    img.write(CFG_HOSTILE, config_tables(64, real + more))
    img.u64(SYSTAB + ST_CONFIG, CFG_HOSTILE)
    img.u64(SYSTAB + ST_NR_TABLES, 0xFFFFFFFF)
    img.fix_crc(SYSTAB)


RSDT_HOSTILE, XSDT_HOSTILE, SSDTS = 0x703000, 0x702000, 0x704000
SDT_WRITTEN = acpi_mod.MAX_SDT_ENTRIES + 72


def _acpi_sdt(img: SampleImage) -> None:
    tables = [SSDTS + 0x40 * i for i in range(SDT_WRITTEN)]
    # each SSDT claims 0x80 bytes: it overlaps the next one, and its checksum does not hold
    for pa in reversed(tables):
        img.write(pa, acpi_s.EFI_ACPI_DESCRIPTION_HEADER.build(P.sdt_header(b"SSDT", 0x80)))
    xsdt = acpi_s.EFI_ACPI_DESCRIPTION_HEADER.build(P.sdt_header(b"XSDT", 0xFFFFFFFF))
    img.write(XSDT_HOSTILE, xsdt + struct.pack(f"<{len(tables)}Q", *tables))
    rsdt = acpi_s.EFI_ACPI_DESCRIPTION_HEADER.build(P.sdt_header(b"RSDT", 0xFFFFFFFF))
    img.write(RSDT_HOSTILE, rsdt + struct.pack(f"<{len(tables)}I", *tables))
    img.write(RSDP, ms.rsdp_v2(RSDT_HOSTILE, XSDT_HOSTILE))


SMBIOS_TABLE, SMBIOS2_EP, SMBIOS3_EP = 0x200000, 0x7E2000, 0x7E2100
SMBIOS_TABLE_SIZE = 0x400000


def _smbios(img: SampleImage) -> None:
    strings = [b"DIMM_%03d " % i + b"x" * 52 for i in range(4)]
    one = P.smbios_structure(17, 0x1100, bytes(2), strings)
    n = SMBIOS_TABLE_SIZE // len(one)
    img.write(SMBIOS_TABLE, one * n)
    img.write(SMBIOS2_EP, P.smbios2_ep(SMBIOS_TABLE, b"\0" * 0xFFFF, count=0xFFFF))
    img.write(SMBIOS3_EP, P.smbios3_ep(SMBIOS_TABLE, SMBIOS_TABLE_SIZE))
    add_tables(img, [(smbios_mod.SMBIOS_TABLE_GUID, SMBIOS2_EP), (smbios_mod.SMBIOS3_TABLE_GUID, SMBIOS3_EP)])


MEMATTR_PA = 0x7E4000


def _memattr(img: SampleImage) -> None:
    descs = [P.memdesc(6, 0x7E0000 + (i % 8) * 0x1000, 2, 1 << 63) for i in range(memattr_mod.MAX_ENTRIES + 76)]
    img.write(MEMATTR_PA, P.memattr_table(descs, count=0xFFFFFFFF))
    add_tables(img, [(memattr_mod.EFI_MEMORY_ATTRIBUTES_TABLE_GUID, MEMATTR_PA)])


ESRT_PA = 0x750000


def _esrt(img: SampleImage) -> None:
    entry = dict(
        FwClass=guid(1),
        FwType=1,
        FwVersion=1,
        LowestSupportedFwVersion=1,
        CapsuleFlags=0,
        LastAttemptVersion=1,
        LastAttemptStatus=0,
    )
    raw = P.esrt_table([entry] * (esrt_mod.MAX_ENTRIES + 44), count_max=0xFFFFFFFF)
    head = esrt_mod.EFI_SYSTEM_RESOURCE_TABLE.build(
        dict(FwResourceCount=0xFFFFFFFF, FwResourceCountMax=0xFFFFFFFF, FwResourceVersion=1)
    )
    img.write(ESRT_PA, head + raw[len(head) :])
    add_tables(img, [(esrt_mod.EFI_SYSTEM_RESOURCE_TABLE_GUID, ESRT_PA)])


TPM_PA, TPM_LOG_SIZE = 0x200000, 0x400000


def _tpm_log(img: SampleImage) -> None:
    event = tcg_s.TCG_PCR_EVENT.build(dict(pcr_idx=0, event_type=0xD, digest=bytes(20), event_size=0))
    log = event * (TPM_LOG_SIZE // len(event))
    img.write(TPM_PA, P.tpm_eventlog_table(log, version=1))
    add_tables(img, [(tcg_mod.LINUX_EFI_TPM_EVENT_LOG_GUID, TPM_PA)])


MEMRESERVE_PA, MEMRESERVE_NODES = 0x300000, lm_mod.MAX_MEMRESERVE_NODES + 44


def _memreserve(img: SampleImage) -> None:
    ranges = [(0x10000000 + j * 0x1000, 0 if j % 3 == 0 else 0x1000) for j in range(lm_mod.MAX_MEMRESERVE_ENTRIES)]
    node = P.memreserve_node(ranges)  # one page, full (size == count == 255); every third range empty
    head = len(lt_s.LINUX_EFI_MEMRESERVE.build(dict(size=0, count=0, next=0)))
    for i in range(MEMRESERVE_NODES):
        pa = MEMRESERVE_PA + i * PAGE
        nxt = pa + PAGE if i + 1 < MEMRESERVE_NODES else 0
        n = len(ranges)
        img.write(pa, lt_s.LINUX_EFI_MEMRESERVE.build(dict(size=n, count=n, next=nxt)) + node[head:])
    add_tables(img, [(lm_mod.LINUX_EFI_MEMRESERVE_TABLE_GUID, MEMRESERVE_PA)])


EXEC_PA = 0x760000


def _image_exec(img: SampleImage) -> None:
    end_node = struct.pack("<BBH", 0x7F, 0xFF, 4)
    recs = b""
    for i in range(edk2_mod.MAX_EXEC_IMAGES + 44):
        name = f"\\EFI\\hostile\\image{i:04d}.efi".encode("utf-16-le") + b"\0\0"
        body = name + end_node
        recs += edk2_s.EFI_IMAGE_EXECUTION_INFO.build(dict(Action=2, InfoSize=8 + len(body))) + body
    head = edk2_s.EFI_IMAGE_EXECUTION_INFO_TABLE_64.build(dict(NumberOfImages=0xFFFFFFFF))
    img.write(EXEC_PA, head + recs)
    add_tables(img, [(edk2_mod.EFI_IMAGE_SECURITY_DATABASE_GUID, EXEC_PA)])


HOB_PA = 0x750000


def _hob_types(img: SampleImage) -> None:
    hob = fast_struct(edk2_s.EFI_HOB_GENERIC_HEADER)  # the schema's own layout, for 16,400 records
    assert hob.pack(0x100, 8, 0) == edk2_s.EFI_HOB_GENERIC_HEADER.build(dict(HobType=0x100, HobLength=8, Reserved=0))
    hobs = b"".join(hob.pack(0x100 + i, 8, 0) for i in range(edk2_mod.MAX_HOBS + 16))
    end = HOB_PA + edk2_s.EFI_HOB_HANDOFF_INFO_TABLE_SIZE + len(hobs)
    img.write(HOB_PA, P.phit(end) + hobs + hob.pack(edk2_s.EFI_HOB_TYPE_END_OF_HOB_LIST, 8, 0))
    # the sample's configuration table [3] is the HOB list: point it here
    img.u64(CFG_ARRAY + 3 * 24 + 16, HOB_PA)


SETUP_NODES = 300


def _setup_nodes(img: SampleImage) -> None:
    setup_chain(img, [(E820_NODE + i * 0x400, 0x77, bytes(range(256)) * 2, None) for i in range(SETUP_NODES)])


APPLE_DEVICES, APPLE_PROPS_EACH = 64, 20


def _apple(img: SampleImage) -> None:
    devices = [
        ([(1, 1, bytes([0, i]))], [(f"prop{j}", bytes([j]) * 4) for j in range(APPLE_PROPS_EACH)])
        for i in range(APPLE_DEVICES)
    ]
    setup_chain(img, [(E820_NODE, SETUP_APPLE_PROPERTIES, B.apple_properties(devices), None)])


def _zero_page_e820(img: SampleImage) -> None:
    img.write(BOOT_PARAMS_PA + E820_ENTRIES_OFFSET, bytes([255]))


BOOT_MEMMAP_PA = 0x708000


def _boot_memmap(img: SampleImage) -> None:
    head = lt_s.EFI_BOOT_MEMMAP.build(dict(map_size=0xFFFFFFFF, desc_size=48, desc_ver=1, map_key=1,
                                           buff_size=0xFFFFFFFF))  # fmt: skip
    descs = [P.memdesc(7, 0x10000000 + i * 0x1000, 2, 0x8) for i in range(MAX_DESCRIPTORS + 52)]
    img.write(BOOT_MEMMAP_PA, head + b"".join(descs))
    add_tables(img, [(lm_mod.LINUX_EFI_BOOT_MEMMAP_GUID, BOOT_MEMMAP_PA)])


CC_BLOB_PA, SECRETS_PA, CPUID_PA = 0x7E1000, 0x7E6000, 0x7E7000


def _cpuid(img: SampleImage) -> None:
    fns = [S.fn(0x8000001F, eax=0x1B, ebx=0x1F33)] + [S.fn(i % 4, __reserved=i + 1) for i in range(63)]
    img.write(CPUID_PA, S.cpuid_bytes(fns, count=0xFFFFFFFF))
    img.write(SECRETS_PA, S.secrets_bytes())
    img.write(CC_BLOB_PA, S.blob_bytes(secrets_phys=SECRETS_PA, cpuid_phys=CPUID_PA))
    img.u32(BOOT_PARAMS_PA + CC_BLOB_ADDRESS_OFFSET, CC_BLOB_PA)


def _e820_count(d: Any) -> int:
    return len(d.e820.entries)


def _payload(guid: str) -> Callable[[Any], Any]:
    return lambda d: d.config_table(guid).payload


SMBIOS_ONE = len(P.smbios_structure(17, 0x1100, bytes(2), [b"DIMM_000 " + b"x" * 52] * 4))
E820_LEN_CLAIMED = 0xFFFFFFF0 // BOOT_E820_ENTRY_SIZE

CASES: list[Case] = [
    Case(
        "e820-ext-len",
        "a SETUP_E820_EXT node whose len is 0xfffffff0 (1,100 readable entries)",
        _e820_ext_len,
        Expect(lambda d: len(d.setup_data[0].payload.entries), MAX_E820_EXT_ENTRIES, "SETUP-E820-EXT-LEN",
               E820_NODE + SETUP_DATA_HEADER_SIZE, "setup_data node [0] (SETUP_E820_EXT)",
               capped(E820_LEN_CLAIMED, MAX_E820_EXT_ENTRIES)),
    ),  # fmt: skip
    Case(
        "e820-ext-nodes",
        f"{E820_NODES} SETUP_E820_EXT nodes of {E820_PER_NODE} entries each (one cap for the whole list)",
        _e820_ext_nodes,
        Expect(_e820_count, 3 + MAX_E820_EXT_ENTRIES, "SETUP-E820-EXT-LEN",
               E820_NODE + 10 * PAGE + SETUP_DATA_HEADER_SIZE, "setup_data node [10] (SETUP_E820_EXT)",
               capped(E820_PER_NODE, MAX_E820_EXT_ENTRIES - 10 * E820_PER_NODE)),
    ),  # fmt: skip
    Case(
        "memmap-size",
        f"an efi_memmap_size of 0xffffffff ({MAX_DESCRIPTORS + 59} readable descriptors, overlapping)",
        _memmap_size,
        Expect(lambda d: len(d.efi_memmap.descriptors), MAX_DESCRIPTORS, "EFI-MEMMAP-TOO-MANY", MEMMAP,
               "EFI memory map (efi_info)", capped(0xFFFFFFFF // 48, MAX_DESCRIPTORS, "descriptors")),
    ),  # fmt: skip
    Case(
        "config-tables",
        f"NumberOfTableEntries 0xffffffff with {CFG_READABLE} readable entries",
        _config_tables,
        Expect(lambda d: len(d.config_tables), MAX_DECODED_TABLES, "EFI-SYSTAB-TOO-MANY-TABLES", CFG_HOSTILE,
               "EFI_CONFIGURATION_TABLE array", capped(0xFFFFFFFF, MAX_DECODED_TABLES)),
    ),  # fmt: skip
    Case(
        "acpi-sdt",
        f"an XSDT and an RSDT whose Length is 0xffffffff ({SDT_WRITTEN} readable entries, overlapping tables)",
        _acpi_sdt,
        Expect(lambda d: len(_payload(ACPI20)(d).xsdt.tables), acpi_mod.MAX_SDT_ENTRIES,
               "ACPI-SDT-LENGTH", XSDT_HOSTILE, "XSDT", capped((0xFFFFFFFF - 36) // 8, acpi_mod.MAX_SDT_ENTRIES)),
    ),  # fmt: skip
    Case(
        "smbios",
        "SMBIOS 2.x and 3.x entry points naming a 4 MiB table of small structures with long strings",
        _smbios,
        Expect(lambda d: len(_payload(smbios_mod.SMBIOS3_TABLE_GUID)(d).structures), smbios_mod.MAX_STRUCTURES,
               "SMBIOS-TOO-MANY", SMBIOS_TABLE + smbios_mod.MAX_STRUCTURES * SMBIOS_ONE, "SMBIOS table",
               f"stopped after {smbios_mod.MAX_STRUCTURES} structures"),
    ),  # fmt: skip
    Case(
        "memattr",
        "a memory attributes table with NumberOfEntries 0xffffffff",
        _memattr,
        Expect(lambda d: len(_payload(memattr_mod.EFI_MEMORY_ATTRIBUTES_TABLE_GUID)(d).entries),
               memattr_mod.MAX_ENTRIES, "MEMATTR-TOO-MANY", MEMATTR_PA, "EFI memory attributes table",
               capped(0xFFFFFFFF, memattr_mod.MAX_ENTRIES)),
    ),  # fmt: skip
    Case(
        "esrt",
        "an ESRT with FwResourceCount 0xffffffff",
        _esrt,
        Expect(lambda d: len(_payload(esrt_mod.EFI_SYSTEM_RESOURCE_TABLE_GUID)(d).entries), esrt_mod.MAX_ENTRIES,
               "ESRT-TOO-MANY", ESRT_PA, "ESRT", capped(0xFFFFFFFF, esrt_mod.MAX_ENTRIES)),
    ),  # fmt: skip
    Case(
        "tpm-log",
        "a 4 MiB TCG 1.2 TPM event log of empty events",
        _tpm_log,
        Expect(lambda d: _payload(tcg_mod.LINUX_EFI_TPM_EVENT_LOG_GUID)(d).event_count, tcg_mod.MAX_EVENTS,
               "TPM-LOG-TOO-MANY", TPM_PA + tcg_s.LINUX_EFI_TPM_EVENTLOG_HEADER_SIZE + tcg_mod.MAX_EVENTS * 32,
               "TPM event log", f"stopped after {tcg_mod.MAX_EVENTS} records"),
    ),  # fmt: skip
    Case(
        "memreserve",
        f"a MEMRESERVE list of {MEMRESERVE_NODES} full one-page nodes",
        _memreserve,
        Expect(lambda d: len(_payload(lm_mod.LINUX_EFI_MEMRESERVE_TABLE_GUID)(d).ranges), lm_mod.MAX_MEMRESERVE_RANGES,
               "LINUX-MEMRESERVE-TOO-MANY", MEMRESERVE_PA, "LINUX_EFI_MEMRESERVE",
               capped(lm_mod.MAX_MEMRESERVE_NODES * lm_mod.MAX_MEMRESERVE_ENTRIES, lm_mod.MAX_MEMRESERVE_RANGES,
                      "ranges")),
    ),  # fmt: skip
    Case(
        "image-exec",
        "an image execution info table with NumberOfImages 0xffffffff",
        _image_exec,
        Expect(lambda d: len(_payload(edk2_mod.EFI_IMAGE_SECURITY_DATABASE_GUID)(d).images), edk2_mod.MAX_EXEC_IMAGES,
               "EDK2-IMAGE-EXEC-RECORD", EXEC_PA, "image execution info table",
               capped(0xFFFFFFFF, edk2_mod.MAX_EXEC_IMAGES, "records")),
    ),  # fmt: skip
    Case(
        "hob-types",
        f"a HOB list of {edk2_mod.MAX_HOBS + 16} HOBs of distinct types",
        _hob_types,
        Expect(lambda d: len(_payload(HOB)(d).type_counts), edk2_mod.MAX_HOB_TYPE_NAMES + 1,
               "EDK2-HOB-WALK", HOB_PA + edk2_s.EFI_HOB_HANDOFF_INFO_TABLE_SIZE + (edk2_mod.MAX_HOBS - 1) * 8,
               "HOB list", f"after {edk2_mod.MAX_HOBS} HOBs"),
    ),  # fmt: skip
    Case(
        "setup-nodes",
        f"a setup_data list of {SETUP_NODES} nodes of an unknown type",
        _setup_nodes,
        Expect(lambda d: len(d.setup_data), 256, "SETUP-DATA-TOO-MANY", E820_NODE + 256 * 0x400, "setup_data list",
               "more than 256 nodes"),
    ),  # fmt: skip
    Case(
        "apple-properties",
        f"a SETUP_APPLE_PROPERTIES blob of {APPLE_DEVICES} devices with {APPLE_PROPS_EACH} properties each",
        _apple,
        Expect(lambda d: sum(len(x.properties) for x in d.setup_data[0].payload.devices), MAX_APPLE_PROPS,
               "SETUP-APPLE-PROPERTIES", E820_NODE + SETUP_DATA_HEADER_SIZE,
               "setup_data node [0] (SETUP_APPLE_PROPERTIES)",
               capped(APPLE_DEVICES * APPLE_PROPS_EACH, MAX_APPLE_PROPS, "properties")),
    ),  # fmt: skip
    Case(
        "zero-page-e820",
        "a zero page whose e820_entries is 255",
        _zero_page_e820,
        Expect(lambda d: d.e820.from_boot_params, E820_MAX_ENTRIES_ZEROPAGE, "BOOT-PARAMS-E820-COUNT",
               BOOT_PARAMS_PA + E820_ENTRIES_OFFSET, "boot_params", capped(255, E820_MAX_ENTRIES_ZEROPAGE)),
    ),  # fmt: skip
    Case(
        "boot-memmap",
        "a LINUX_EFI_BOOT_MEMMAP table whose map_size is 0xffffffff",
        _boot_memmap,
        Expect(lambda d: len(_payload(lm_mod.LINUX_EFI_BOOT_MEMMAP_GUID)(d).memmap.descriptors), MAX_DESCRIPTORS,
               "EFI-MEMMAP-TOO-MANY", BOOT_MEMMAP_PA + lt_s.EFI_BOOT_MEMMAP_HEADER_SIZE,
               "EFI memory map (LINUX_EFI_BOOT_MEMMAP)", capped(0xFFFFFFFF // 48, MAX_DESCRIPTORS, "descriptors")),
    ),  # fmt: skip
    Case(
        "snp-cpuid",
        "an SNP CPUID table with count 0xffffffff and 63 entries with reserved bits set",
        _cpuid,
        Expect(lambda d: len(d.snp_cpuid.entries), SNP_CPUID_COUNT_MAX, "SNP-CPUID-COUNT", CPUID_PA,
               "SNP CPUID table", capped(0xFFFFFFFF, SNP_CPUID_COUNT_MAX)),
    ),  # fmt: skip
]
CASE = {c.name: c for c in CASES}


# -- writing -----------------------------------------------------------------------------------------
def write_sparse(data: bytes | bytearray, path: Path, size: int) -> Path:
    """A raw dump of ``size`` bytes holding ``data`` at physical 0: only its non-zero pages are written."""
    zero = bytes(PAGE)
    with open(path, "wb") as fh:
        for off in range(0, len(data), PAGE):
            page = bytes(data[off : off + PAGE])
            if page != zero[: len(page)]:
                fh.seek(off)
                fh.write(page)
        fh.truncate(max(size, len(data)))
    return path


def healthy(path: Path, size: int) -> Path:
    """The healthy sample (the baseline), at ``size`` bytes."""
    return write_sparse(SampleImage(SAMPLE).data, path, size)


def allocated(path: Path) -> int:
    """Bytes the file holds on disk (a sparse 1 GiB dump holds a few MiB)."""
    return os.stat(path).st_blocks * 512
