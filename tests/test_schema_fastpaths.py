"""Every ``struct`` fast path and offset constant of the schemas agrees with its construct schema.

For each fast path a record is built *with the construct schema* from known,
distinct field values; the fast path must decode the same values from it (at
its offset), and its size must be the schema's ``sizeof``. Offsets are checked
twice: against the kernel's / UEFI's documented values, and by building a record
with a marker in the field and reading it back at the constant.

Every ``*_FAST`` ``struct.Struct`` and ``*_STRUCT`` format declared in a schema
module must be listed in :data:`FASTPATHS`, so a new fast path cannot land
without this test.
"""

from __future__ import annotations

import importlib
import pkgutil
import struct
import uuid
from typing import Any

import construct as cs
import numpy as np
import pytest

import efitables.schemas
from efitables.efi import scan as scan_mod
from efitables.memory.raw import RawMemory
from efitables.schemas import boot_params as bp
from efitables.schemas import btf as btf_schema
from efitables.schemas import common, efi_info, efi_memmap, efi_tables, kallsyms, pvh, setup_data, snp
from efitables.schemas import kernel as kernel_schema
from efitables.schemas import printk as printk_schema
from efitables.schemas.payloads import smbios

# -- known values for any fixed construct ------------------------------------------------


def _unwrap(sc: cs.Construct) -> cs.Construct:
    while isinstance(sc, cs.Renamed):
        sc = sc.subcon
    return sc


class _Values:
    """Distinct, recognisable values: field ``k`` of a record gets a value derived from ``k``."""

    def __init__(self) -> None:
        self.k = 0

    def _next(self) -> int:
        self.k += 1
        return self.k

    def build_value(self, sc: cs.Construct) -> tuple[Any, list[Any]]:
        """(value to give construct's ``build``, the values ``struct`` returns for it, in order)."""
        sc = _unwrap(sc)
        if isinstance(sc, cs.FormatField):
            size = struct.calcsize(sc.fmtstr)
            k = self._next()
            # fill every byte so a wrong offset or width cannot decode the same number
            v = int.from_bytes(bytes((k * 37 + i * 11 + 1) & 0x7F for i in range(size)), "little")
            return v, [v]
        if isinstance(sc, cs.Padded):
            return None, []
        if isinstance(sc, cs.Bytes):
            k = self._next()
            raw = bytes((k * 13 + i) & 0xFF for i in range(sc.length))
            return raw, [raw]
        if isinstance(sc, common.GuidAdapter):
            k = self._next()
            raw = bytes((k * 7 + i) & 0xFF for i in range(16))
            return str(uuid.UUID(bytes_le=raw)), [raw]
        if isinstance(sc, cs.Array):
            built, flat = [], []
            for _ in range(sc.count):
                b, f = self.build_value(sc.subcon)
                built.append(b)
                flat += f
            return built, flat
        if isinstance(sc, cs.Struct):
            obj: dict[str, Any] = {}
            flat = []
            for sub in sc.subcons:
                b, f = self.build_value(sub)
                if sub.name is not None and b is not None:
                    obj[sub.name] = b
                flat += f
            return obj, flat
        if isinstance(sc, cs.Adapter | cs.Default):  # Enum / FlagsEnum build from the integer
            return self.build_value(sc.subcon)
        raise TypeError(sc)


def known_record(schema: cs.Construct) -> tuple[bytes, dict, list[Any]]:
    """(bytes built by construct, the object built, every value in field order)."""
    obj, flat = _Values().build_value(schema)
    return schema.build(obj), obj, flat


def member_values(schema: cs.Construct, first: str | None, last: str | None) -> tuple[int, bytes, list[Any]]:
    """Build ``schema`` with known values; (offset of ``first``, the record, values of first..last)."""
    raw, _obj, flat = known_record(schema)
    if first is None:
        return 0, raw, flat
    last = first if last is None else last
    parent, _, head = first.rpartition(".")
    tail = last.rpartition(".")[2]
    members = _unwrap(common._resolve(schema, parent)[1] if parent else schema).subcons
    names = [s.name for s in members]
    # the values of first..last, decoded by construct itself (independently of struct)
    sub = cs.Struct(*members[names.index(head) : names.index(tail) + 1])
    start = common.field_offset(schema, first)
    parsed = sub.parse(raw[start : start + sub.sizeof()])
    values: list[Any] = []
    for s in sub.subcons:
        values += _flatten(s, parsed[s.name] if s.name else None)
    return start, raw, values


def _flatten(sc: cs.Construct, v: Any) -> list[Any]:
    sc = _unwrap(sc)
    if isinstance(sc, cs.Padded):
        return []
    if isinstance(sc, common.GuidAdapter):
        return [uuid.UUID(v).bytes_le]
    if isinstance(sc, cs.Array):
        return [x for item in v for x in _flatten(sc.subcon, item)]
    if isinstance(sc, cs.Struct):
        return [x for s in sc.subcons for x in _flatten(s, v[s.name] if s.name else None)]
    if isinstance(sc, cs.Adapter | cs.Default) and not isinstance(sc, cs.Bytes):
        return [int(v)] if not isinstance(v, bytes) else [v]
    return [v]


# -- the registry: fast path -> (schema, first field, last field) ---------------------------
FASTPATHS: dict[str, tuple[Any, cs.Construct, str | None, str | None]] = {
    # efi_tables
    "efi_tables.EFI_TABLE_HEADER_FAST": (efi_tables.EFI_TABLE_HEADER_FAST, efi_tables.EFI_TABLE_HEADER, None, None),
    "efi_tables.HDR_HEADER_SIZE_FAST": (
        efi_tables.HDR_HEADER_SIZE_FAST,
        efi_tables.EFI_TABLE_HEADER,
        "HeaderSize",
        None,
    ),
    "efi_tables.EFI_SYSTEM_TABLE_64_TABLES_FAST": (
        efi_tables.EFI_SYSTEM_TABLE_64_TABLES_FAST,
        efi_tables.EFI_SYSTEM_TABLE_64,
        "NumberOfTableEntries",
        "ConfigurationTable",
    ),
    "efi_tables.EFI_SYSTEM_TABLE_32_TABLES_FAST": (
        efi_tables.EFI_SYSTEM_TABLE_32_TABLES_FAST,
        efi_tables.EFI_SYSTEM_TABLE_32,
        "NumberOfTableEntries",
        "ConfigurationTable",
    ),
    "efi_tables.EFI_SYSTEM_TABLE_POINTER_FAST": (
        efi_tables.EFI_SYSTEM_TABLE_POINTER_FAST,
        efi_tables.EFI_SYSTEM_TABLE_POINTER,
        None,
        None,
    ),
    "efi_tables.EFI_CONFIGURATION_TABLE_64_FAST": (
        efi_tables.EFI_CONFIGURATION_TABLE_64_FAST,
        efi_tables.EFI_CONFIGURATION_TABLE_64,
        None,
        None,
    ),
    "efi_tables.EFI_CONFIGURATION_TABLE_32_FAST": (
        efi_tables.EFI_CONFIGURATION_TABLE_32_FAST,
        efi_tables.EFI_CONFIGURATION_TABLE_32,
        None,
        None,
    ),
    # efi_info / boot_params
    "efi_info.EFI_INFO_FAST": (efi_info.EFI_INFO_FAST, efi_info.EFI_INFO, None, None),
    "boot_params.BOOT_E820_ENTRY_STRUCT": (bp.BOOT_E820_ENTRY_STRUCT, bp.BOOT_E820_ENTRY, None, None),
    "boot_params.BOOT_E820_ENTRY_FAST": (bp.BOOT_E820_ENTRY_FAST, bp.BOOT_E820_ENTRY, None, None),
    "boot_params.BOOT_FLAG_FAST": (bp.BOOT_FLAG_FAST, bp.BOOT_PARAMS, "hdr.boot_flag", None),
    "boot_params.HEADER_VERSION_FAST": (bp.HEADER_VERSION_FAST, bp.BOOT_PARAMS, "hdr.header", "hdr.version"),
    # efi_memmap
    "efi_memmap.EFI_MEMORY_DESCRIPTOR_STRUCT": (
        efi_memmap.EFI_MEMORY_DESCRIPTOR_STRUCT,
        efi_memmap.EFI_MEMORY_DESCRIPTOR,
        None,
        None,
    ),
    "efi_memmap.EFI_MEMORY_DESCRIPTOR_FAST": (
        efi_memmap.EFI_MEMORY_DESCRIPTOR_FAST,
        efi_memmap.EFI_MEMORY_DESCRIPTOR,
        None,
        None,
    ),
    # setup_data
    "setup_data.SETUP_DATA_STRUCT": (setup_data.SETUP_DATA_STRUCT, setup_data.SETUP_DATA, None, None),
    "setup_data.SETUP_DATA_FAST": (setup_data.SETUP_DATA_FAST, setup_data.SETUP_DATA, None, None),
    "setup_data.SETUP_INDIRECT_STRUCT": (
        setup_data.SETUP_INDIRECT_STRUCT,
        setup_data.STRUCT_SETUP_INDIRECT,
        None,
        None,
    ),
    "setup_data.SETUP_INDIRECT_FAST": (setup_data.SETUP_INDIRECT_FAST, setup_data.STRUCT_SETUP_INDIRECT, None, None),
    "setup_data.APPLE_PROPERTIES_HEADER_FAST": (
        setup_data.APPLE_PROPERTIES_HEADER_FAST,
        setup_data.APPLE_PROPERTIES_HEADER,
        None,
        None,
    ),
    "setup_data.APPLE_DEV_HEADER_FAST": (setup_data.APPLE_DEV_HEADER_FAST, setup_data.APPLE_DEV_HEADER, None, None),
    "setup_data.EFI_DEV_PATH_NODE_FAST": (setup_data.EFI_DEV_PATH_NODE_FAST, setup_data.EFI_DEV_PATH_NODE, None, None),
    "setup_data.CC_SETUP_DATA_FAST": (setup_data.CC_SETUP_DATA_FAST, setup_data.CC_SETUP_DATA, None, None),
    # snp
    "snp.CC_BLOB_SEV_INFO_STRUCT": (snp.CC_BLOB_SEV_INFO_STRUCT, snp.CC_BLOB_SEV_INFO, None, None),
    "snp.CC_BLOB_SEV_INFO_FAST": (snp.CC_BLOB_SEV_INFO_FAST, snp.CC_BLOB_SEV_INFO, None, None),
    "snp.CC_SETUP_DATA_BLOB_FAST": (snp.CC_SETUP_DATA_BLOB_FAST, snp.CC_SETUP_DATA, "cc_blob_address", None),
    "snp.SNP_SECRETS_VERSION_FAST": (snp.SNP_SECRETS_VERSION_FAST, snp.SNP_SECRETS_PAGE_COMMON, "version", None),
    "snp.SNP_CPUID_FN_STRUCT": (snp.SNP_CPUID_FN_STRUCT, snp.SNP_CPUID_FN, None, None),
    "snp.SNP_CPUID_FN_FAST": (snp.SNP_CPUID_FN_FAST, snp.SNP_CPUID_FN, None, None),
    "snp.SNP_CPUID_TABLE_HEADER_STRUCT": (snp.SNP_CPUID_TABLE_HEADER_STRUCT, snp.SNP_CPUID_TABLE_HEADER, None, None),
    "snp.SNP_CPUID_TABLE_HEADER_FAST": (snp.SNP_CPUID_TABLE_HEADER_FAST, snp.SNP_CPUID_TABLE_HEADER, None, None),
    # kallsyms
    "kallsyms.KALLSYMS_TOKEN_INDEX_FAST": (
        kallsyms.KALLSYMS_TOKEN_INDEX_FAST,
        kallsyms.KALLSYMS_TOKEN_INDEX,
        None,
        None,
    ),
    # btf
    "btf.BTF_PREAMBLE_FAST": (btf_schema.BTF_PREAMBLE_FAST, btf_schema.BTF_HEADER, "magic", "hdr_len"),
    "btf.BTF_TYPE_FAST": (btf_schema.BTF_TYPE_FAST, btf_schema.BTF_TYPE, None, None),
    "btf.BTF_INT_FAST": (btf_schema.BTF_INT_FAST, btf_schema.BTF_INT_DATA, None, None),
    "btf.BTF_ARRAY_FAST": (btf_schema.BTF_ARRAY_FAST, btf_schema.BTF_ARRAY, None, None),
    "btf.BTF_MEMBER_FAST": (btf_schema.BTF_MEMBER_FAST, btf_schema.BTF_MEMBER, None, None),
    "btf.BTF_ENUM_FAST": (btf_schema.BTF_ENUM_FAST, btf_schema.BTF_ENUM, None, None),
    "btf.BTF_ENUM64_FAST": (btf_schema.BTF_ENUM64_FAST, btf_schema.BTF_ENUM64, None, None),
    "btf.BTF_PARAM_FAST": (btf_schema.BTF_PARAM_FAST, btf_schema.BTF_PARAM, None, None),
    "btf.BTF_VAR_FAST": (btf_schema.BTF_VAR_FAST, btf_schema.BTF_VAR, None, None),
    "btf.BTF_VAR_SECINFO_FAST": (btf_schema.BTF_VAR_SECINFO_FAST, btf_schema.BTF_VAR_SECINFO, None, None),
    "btf.BTF_DECL_TAG_FAST": (btf_schema.BTF_DECL_TAG_FAST, btf_schema.BTF_DECL_TAG, None, None),
    # payloads
    "payloads.smbios.SMBIOS_STRUCTURE_STRUCT": (
        smbios.SMBIOS_STRUCTURE_STRUCT,
        smbios.SMBIOS_STRUCTURE,
        None,
        None,
    ),
    # printk (the ring's scalars, read at the offsets VMCOREINFO gives)
    "printk.U64_FAST": (printk_schema.U64_FAST, printk_schema.U64, None, None),
    "printk.U32_FAST": (printk_schema.U32_FAST, printk_schema.U32, None, None),
    "printk.U16_FAST": (printk_schema.U16_FAST, printk_schema.U16, None, None),
    # kernel (the kimage page list, include/linux/kexec.h)
    "kernel.KIMAGE_ENTRY_FAST": (kernel_schema.KIMAGE_ENTRY_FAST, kernel_schema.KIMAGE_ENTRY, None, None),
    "kernel.KIMAGE_ENTRY_PAGE_FAST": (
        kernel_schema.KIMAGE_ENTRY_PAGE_FAST,
        kernel_schema.KIMAGE_ENTRY_PAGE,
        None,
        None,
    ),
    # pvh (start_info.h)
    "pvh.HVM_START_INFO_STRUCT": (pvh.HVM_START_INFO_STRUCT, pvh.HVM_START_INFO, None, None),
    "pvh.HVM_START_INFO_FAST": (pvh.HVM_START_INFO_FAST, pvh.HVM_START_INFO, None, None),
    "pvh.HVM_START_INFO_V0_FAST": (pvh.HVM_START_INFO_V0_FAST, pvh.HVM_START_INFO_V0, None, None),
    "pvh.HVM_START_INFO_MAGIC_VERSION_FAST": (
        pvh.HVM_START_INFO_MAGIC_VERSION_FAST,
        pvh.HVM_START_INFO,
        "magic",
        "version",
    ),
    "pvh.HVM_MODLIST_ENTRY_STRUCT": (pvh.HVM_MODLIST_ENTRY_STRUCT, pvh.HVM_MODLIST_ENTRY, None, None),
    "pvh.HVM_MODLIST_ENTRY_FAST": (pvh.HVM_MODLIST_ENTRY_FAST, pvh.HVM_MODLIST_ENTRY, None, None),
    "pvh.HVM_MEMMAP_TABLE_ENTRY_STRUCT": (pvh.HVM_MEMMAP_TABLE_ENTRY_STRUCT, pvh.HVM_MEMMAP_TABLE_ENTRY, None, None),
    "pvh.HVM_MEMMAP_TABLE_ENTRY_FAST": (pvh.HVM_MEMMAP_TABLE_ENTRY_FAST, pvh.HVM_MEMMAP_TABLE_ENTRY, None, None),
}


def _schema_modules() -> list[Any]:
    mods = []
    for info in pkgutil.walk_packages(efitables.schemas.__path__, "efitables.schemas."):
        mods.append(importlib.import_module(info.name))
    return mods


def test_every_fast_path_is_registered():
    """A ``*_FAST`` Struct or ``*_STRUCT`` format in any schema module is in FASTPATHS."""
    found = set()
    for mod in _schema_modules():
        short = mod.__name__.removeprefix("efitables.schemas.")
        for name, value in vars(mod).items():
            if name.endswith("_FAST") and isinstance(value, struct.Struct):
                found.add(f"{short}.{name}")
            elif name.endswith("_STRUCT") and isinstance(value, str):
                found.add(f"{short}.{name}")
    # a constant imported into another schema module is the same object: count it once, where declared
    registered = set(FASTPATHS)
    missing = {f for f in found if f not in registered and not _reexported(f)}
    assert not missing, f"fast paths without a schema test: {sorted(missing)}"


def _reexported(qualified: str) -> bool:
    mod, _, name = qualified.rpartition(".")
    value = getattr(importlib.import_module(f"efitables.schemas.{mod}"), name)
    return any(value is fp[0] for fp in FASTPATHS.values())


@pytest.mark.parametrize("name", sorted(FASTPATHS))
def test_fast_path_decodes_what_construct_built(name):
    fast, schema, first, last = FASTPATHS[name]
    st = fast if isinstance(fast, struct.Struct) else struct.Struct(fast)
    off, raw, values = member_values(schema, first, last)
    assert st.unpack_from(raw, off) == tuple(values), name
    if first is None:
        assert st.size == schema.sizeof(), name
        assert len(raw) == schema.sizeof()
    else:
        last_ = first if last is None else last
        end = common.field_offset(schema, last_) + common.field_size(schema, last_)
        assert st.size == end - off, name
    # derived, not written by hand: the same format the helper gives today
    assert st.format == common.struct_format(schema, first, last), name


def test_kallsyms_offsets_fast():
    for n in (1, 7, 300):
        arr = cs.Array(n, kallsyms.KALLSYMS_OFFSET)
        values = [(-1) ** i * (i * 4099 + 17) for i in range(n)]
        st = kallsyms.kallsyms_offsets_fast(n)
        assert st.size == arr.sizeof() == n * kallsyms.KALLSYMS_OFFSET_SIZE
        assert list(st.unpack(arr.build(values))) == values


def test_kallsyms_name_length_encoding():
    """scripts/kallsyms.c: lengths >= 0x80 are two bytes, low 7 bits first with bit 7 set."""
    for length in (1, 0x7F, 0x80, 300, 0x3FFF):
        if length < kallsyms.KALLSYMS_NAME_LEN_BIG:
            enc = bytes([length])
        else:
            enc = bytes([length & 0x7F | 0x80, length >> 7])
        n = enc[0]
        if n & kallsyms.KALLSYMS_NAME_LEN_BIG:
            n = (n & kallsyms.KALLSYMS_NAME_LEN_LOW_MASK) | enc[1] << kallsyms.KALLSYMS_NAME_LEN_HIGH_SHIFT
        assert n == length


# -- offsets ------------------------------------------------------------------------------
#: (constant, schema, field path, documented value and where it is documented)
OFFSET_CONSTANTS = [
    # UEFI: EFI_TABLE_HEADER / EFI_SYSTEM_TABLE / EFI_SYSTEM_TABLE_POINTER (EDK2 UefiSpec.h, DebugImageInfoTable.h)
    (efi_tables.HDR_SIGNATURE_OFF, efi_tables.EFI_TABLE_HEADER, "Signature", 0x00),
    (efi_tables.HDR_HEADER_SIZE_OFF, efi_tables.EFI_TABLE_HEADER, "HeaderSize", 0x0C),
    (efi_tables.HDR_CRC32_OFF, efi_tables.EFI_TABLE_HEADER, "CRC32", 0x10),
    (efi_tables.EFI_SYSTEM_TABLE_64_TABLES_OFF, efi_tables.EFI_SYSTEM_TABLE_64, "NumberOfTableEntries", 0x68),
    (efi_tables.EFI_SYSTEM_TABLE_32_TABLES_OFF, efi_tables.EFI_SYSTEM_TABLE_32, "NumberOfTableEntries", 0x40),
    (efi_tables.EFI_SYSTEM_TABLE_POINTER_CRC32_OFF, efi_tables.EFI_SYSTEM_TABLE_POINTER, "Crc32", 0x10),
    # struct efi_info / boot_params / setup_header (bootparam.h@v6.12.117, zero-page.rst)
    (efi_info.EFI_LOADER_SIGNATURE_OFF, efi_info.EFI_INFO, "efi_loader_signature", 0x00),
    (efi_info.BOOT_PARAMS_EFI_INFO_OFFSET, bp.BOOT_PARAMS, "efi_info", 0x1C0),
    (bp.SETUP_HEADER_OFFSET, bp.BOOT_PARAMS, "hdr", 0x1F1),
    (bp.ACPI_RSDP_ADDR_OFFSET, bp.BOOT_PARAMS, "acpi_rsdp_addr", 0x070),
    (bp.EXT_CMD_LINE_PTR_OFFSET, bp.BOOT_PARAMS, "ext_cmd_line_ptr", 0x0C8),
    (bp.CC_BLOB_ADDRESS_OFFSET, bp.BOOT_PARAMS, "cc_blob_address", 0x13C),
    (bp.EFI_INFO_OFFSET, bp.BOOT_PARAMS, "efi_info", 0x1C0),
    (bp.EFI_LOADER_SIGNATURE_OFFSET, bp.BOOT_PARAMS, "efi_info.efi_loader_signature", 0x1C0),
    (bp.E820_ENTRIES_OFFSET, bp.BOOT_PARAMS, "e820_entries", 0x1E8),
    (bp.SENTINEL_OFFSET, bp.BOOT_PARAMS, "sentinel", 0x1EF),
    (bp.BOOT_FLAG_OFFSET, bp.BOOT_PARAMS, "hdr.boot_flag", 0x1FE),
    (bp.HEADER_MAGIC_OFFSET, bp.BOOT_PARAMS, "hdr.header", 0x202),
    (bp.VERSION_OFFSET, bp.BOOT_PARAMS, "hdr.version", 0x206),
    (bp.TYPE_OF_LOADER_OFFSET, bp.BOOT_PARAMS, "hdr.type_of_loader", 0x210),
    (bp.CMD_LINE_PTR_OFFSET, bp.BOOT_PARAMS, "hdr.cmd_line_ptr", 0x228),
    (bp.SETUP_DATA_PTR_OFFSET, bp.BOOT_PARAMS, "hdr.setup_data", 0x250),
    (bp.E820_TABLE_OFFSET, bp.BOOT_PARAMS, "e820_table", 0x2D0),
    # setup_data.h / asm/setup_data.h@v6.12.117, asm/sev.h
    (setup_data.SETUP_DATA_DATA_OFF, setup_data.SETUP_DATA, None, 0x10),
    (setup_data.EFI_SETUP_DATA_TABLES_OFF, setup_data.EFI_SETUP_DATA, "tables", 0x10),
    (snp.CC_SETUP_DATA_BLOB_OFFSET, snp.CC_SETUP_DATA, "cc_blob_address", 0x10),
    (snp.BOOT_PARAMS_CC_BLOB_ADDRESS_OFFSET, bp.BOOT_PARAMS, "cc_blob_address", 0x13C),
    (snp.SNP_SECRETS_VERSION_OFF, snp.SNP_SECRETS_PAGE_COMMON, "version", 0x00),
]


@pytest.mark.parametrize("const, schema, path, documented", OFFSET_CONSTANTS)
def test_offset_constant(const, schema, path, documented):
    assert const == documented
    if path is None:  # the end of a header: where the payload starts
        assert const == schema.sizeof()
        return
    assert const == common.field_offset(schema, path)
    # a record built by construct holds that field's bytes at the constant
    raw, obj, _flat = known_record(schema)
    parsed = schema.parse(raw)
    node: Any = parsed
    for part in path.split("."):
        node = node[part]
    size = common.field_size(schema, path)
    sub = common._resolve(schema, path)[1]
    assert raw[const : const + size] == sub.build(node)


def test_boot_params_offsets_table_matches_derived_constants():
    """OFFSETS (the documented zero-page.rst values) and the derived constants agree."""
    o = bp.OFFSETS
    assert o["efi_info"] == bp.EFI_INFO_OFFSET
    assert o["e820_entries"] == bp.E820_ENTRIES_OFFSET
    assert o["sentinel"] == bp.SENTINEL_OFFSET
    assert o["hdr"] == bp.SETUP_HEADER_OFFSET
    assert o["hdr.boot_flag"] == bp.BOOT_FLAG_OFFSET
    assert o["hdr.header"] == bp.HEADER_MAGIC_OFFSET
    assert o["hdr.version"] == bp.VERSION_OFFSET
    assert o["hdr.type_of_loader"] == bp.TYPE_OF_LOADER_OFFSET
    assert o["hdr.cmd_line_ptr"] == bp.CMD_LINE_PTR_OFFSET
    assert o["hdr.setup_data"] == bp.SETUP_DATA_PTR_OFFSET
    assert o["e820_table"] == bp.E820_TABLE_OFFSET
    assert o["cc_blob_address"] == bp.CC_BLOB_ADDRESS_OFFSET
    for name, off in o.items():
        assert common.field_offset(bp.BOOT_PARAMS, name) == off, name


def test_sizes():
    assert efi_tables.EFI_TABLE_HEADER_SIZE == efi_tables.EFI_TABLE_HEADER.sizeof() == 24
    assert efi_tables.HDR_SIGNATURE_SIZE == 8 and efi_tables.HDR_CRC32_SIZE == 4
    assert efi_tables.EFI_SYSTEM_TABLE_POINTER_SIZE == efi_tables.EFI_SYSTEM_TABLE_POINTER.sizeof() == 24
    assert efi_tables.EFI_SYSTEM_TABLE_POINTER_CRC32_SIZE == 4
    assert efi_info.EFI_INFO_SIZE == efi_info.EFI_INFO.sizeof() == 0x20
    assert efi_info.EFI_LOADER_SIGNATURE_SIZE == 4
    assert bp.BOOT_E820_ENTRY_SIZE == bp.BOOT_E820_ENTRY.sizeof()
    assert kallsyms.KALLSYMS_TOKEN_INDEX_SIZE == kallsyms.KALLSYMS_TOKEN_INDEX.sizeof() == 512
    assert kallsyms.KALLSYMS_OFFSET_SIZE == 4


# -- signatures and the CRC helpers --------------------------------------------------------
def test_signature_constants():
    assert efi_tables.EFI_SYSTEM_TABLE_SIGNATURE_BYTES == b"IBI SYST"
    assert (
        efi_tables.EFI_TABLE_HEADER.build(
            {
                "Signature": efi_tables.EFI_SYSTEM_TABLE_SIGNATURE,
                "Revision": 0,
                "HeaderSize": 0,
                "CRC32": 0,
                "Reserved": 0,
            }
        )[: efi_tables.HDR_SIGNATURE_SIZE]
        == efi_tables.EFI_SYSTEM_TABLE_SIGNATURE_BYTES
    )
    hdrs = bp.SETUP_HEADER.build({**_zero_setup_header(), "header": bp.HDRS_MAGIC})
    at = common.field_offset(bp.SETUP_HEADER, "header")
    assert hdrs[at : at + 4] == b"HdrS"
    assert struct.unpack_from("<HH", hdrs, at) == (bp.HDRS_MAGIC_LO16, bp.HDRS_MAGIC_HI16)
    assert efi_info.EFI_INFO.build({**_zero_efi_info(), "efi_loader_signature": "EL64"})[:4] == b"EL64"
    assert efi_info.EFI_INFO.build({**_zero_efi_info(), "efi_loader_signature": "EL32"})[:4] == b"EL32"


def _zero_setup_header() -> dict:
    return {s.name: 0 for s in bp.SETUP_HEADER.subcons}


def _zero_efi_info() -> dict:
    return {s.name: 0 for s in efi_info.EFI_INFO.subcons}


def test_efi_crc32_helpers_match_a_plain_crc():
    import zlib

    st = efi_tables.build_table(
        efi_tables.EFI_SYSTEM_TABLE_64,
        {
            "Hdr": {
                "Signature": efi_tables.EFI_SYSTEM_TABLE_SIGNATURE,
                "Revision": 0x20046,
                "HeaderSize": efi_tables.EFI_SYSTEM_TABLE_SIZE_64,
                "CRC32": 0,
                "Reserved": 0,
            },
            **{s.name: 0 for s in efi_tables.EFI_SYSTEM_TABLE_64.subcons[1:]},
            "NumberOfTableEntries": 13,
            "ConfigurationTable": 0x1F5EBC98,
        },
    )
    parsed = efi_tables.EFI_SYSTEM_TABLE_64.parse(st)
    zeroed = st[:16] + bytes(4) + st[20:]
    assert parsed.Hdr.CRC32 == zlib.crc32(zeroed) & 0xFFFFFFFF == efi_tables.efi_crc32(st)
    assert efi_tables.EFI_TABLE_HEADER_FAST.unpack_from(st)[3] == parsed.Hdr.CRC32
    assert efi_tables.EFI_SYSTEM_TABLE_64_TABLES_FAST.unpack_from(st, efi_tables.EFI_SYSTEM_TABLE_64_TABLES_OFF) == (
        13,
        0x1F5EBC98,
    )

    ptr = efi_tables.EFI_SYSTEM_TABLE_POINTER.build(
        {"Signature": efi_tables.EFI_SYSTEM_TABLE_SIGNATURE, "EfiSystemTableBase": 0x1F5EB018, "Crc32": 0}
    )
    crc = zlib.crc32(ptr) & 0xFFFFFFFF  # EDK2: over sizeof (24 bytes) with Crc32 = 0
    assert efi_tables.efi_system_table_pointer_crc32(ptr) == crc
    ptr_with_crc = efi_tables.EFI_SYSTEM_TABLE_POINTER.build(
        {"Signature": efi_tables.EFI_SYSTEM_TABLE_SIGNATURE, "EfiSystemTableBase": 0x1F5EB018, "Crc32": crc}
    )
    assert efi_tables.efi_system_table_pointer_crc32(ptr_with_crc) == crc
    assert efi_tables.EFI_SYSTEM_TABLE_POINTER_FAST.unpack(ptr_with_crc) == (
        efi_tables.EFI_SYSTEM_TABLE_SIGNATURE,
        0x1F5EB018,
        crc,
    )


def test_efi_info_high_halves():
    """efi_systab | efi_systab_hi << 32 (arch/x86/boot/compressed/efi.c) from a construct-built efi_info."""
    raw = efi_info.EFI_INFO.build(
        {**_zero_efi_info(), "efi_loader_signature": "EL64", "efi_systab": 0x1F5EB018, "efi_systab_hi": 0x1}
    )
    f = efi_info.EFI_INFO_FAST.unpack(raw)
    assert f[1] | f[6] << efi_info.EFI_INFO_HI_SHIFT == 0x1_1F5E_B018


def test_descriptor_size_plausible():
    ok = efi_memmap.descriptor_size_plausible
    assert ok(40) and ok(48) and ok(4096)
    assert not ok(32) and not ok(44) and not ok(4104) and not ok(0)


# -- the sweep's numpy indices are the schema's offsets ----------------------------------------
def test_sweep_indices_follow_the_schema():
    assert scan_mod.EL_U32_INDEX * 4 == bp.EFI_LOADER_SIGNATURE_OFFSET
    assert scan_mod.HDRS_U16_INDEX * 2 == bp.HEADER_MAGIC_OFFSET
    assert scan_mod.HDRS_WORD_OFFSET + 2 == bp.HEADER_MAGIC_OFFSET
    assert scan_mod.SIG_BYTES == efi_tables.EFI_SYSTEM_TABLE_SIGNATURE_BYTES


def _zero_page(signature: str | None, hdrs: bool) -> bytes:
    """A zero page built by construct: efi_info signature and/or the setup header magic."""
    raw = bytearray(bp.BOOT_PARAMS_SIZE)
    if signature is not None:
        ei = efi_info.EFI_INFO.build({**_zero_efi_info(), "efi_loader_signature": signature})
        raw[bp.EFI_INFO_OFFSET : bp.EFI_INFO_OFFSET + len(ei)] = ei
    if hdrs:
        sh = bp.SETUP_HEADER.build({**_zero_setup_header(), "header": bp.HDRS_MAGIC})
        raw[bp.SETUP_HEADER_OFFSET : bp.SETUP_HEADER_OFFSET + len(sh)] = sh
    return bytes(raw)


@pytest.mark.parametrize("align", [scan_mod.PAGE, scan_mod.KERNEL_COPY_ALIGN])
def test_sweep_finds_construct_built_zero_pages(tmp_path, align):
    size = 64 * scan_mod.PAGE
    rng = np.random.default_rng(5)
    buf = bytearray(rng.integers(0, 256, size, dtype=np.uint8).tobytes())
    pages = {2 * scan_mod.PAGE: ("EL64", False), 5 * scan_mod.PAGE: ("EL32", False), 9 * scan_mod.PAGE: (None, True)}
    if align == scan_mod.KERNEL_COPY_ALIGN:
        pages[20 * scan_mod.PAGE + 0x58] = ("EL64", False)  # the kernel's copy: 8-aligned, not page-aligned
        pages[30 * scan_mod.PAGE + 0x1A8] = (None, True)
    for base, (sig, hdrs) in pages.items():
        buf[base : base + bp.BOOT_PARAMS_SIZE] = _zero_page(sig, hdrs)
    st_at = 40 * scan_mod.PAGE + 0x18
    buf[st_at : st_at + 8] = efi_tables.EFI_SYSTEM_TABLE_SIGNATURE_BYTES
    path = tmp_path / "mem.raw"
    path.write_bytes(bytes(buf))
    with RawMemory(str(path)) as mem:
        hits = scan_mod.scan(mem, zero_page_align=align, chunk_size=16 * scan_mod.PAGE)
    assert set(pages) <= set(hits.zero_pages)
    assert st_at in hits.systab
